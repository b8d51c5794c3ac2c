//! Lambda `api-playlists`: playlists of outputs, their items and their order, behind API
//! Gateway's JWT authorizer. Needs `RECAP_TABLE`; links the DynamoDB client only.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_lambda::serve_routes(recap_http::routes::playlists()).await
}
