//! Lambda `api-transcripts`: transcripts, behind API Gateway's
//! JWT authorizer. Needs `RECAP_TABLE` and `RECAP_BUCKET`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_lambda::serve_routes(recap_http::routes::transcripts()).await
}
