//! Lambda `api-outputs`: generation requests and outputs, behind API Gateway's JWT
//! authorizer. Needs `RECAP_TABLE`, `RECAP_BUCKET` and `RECAP_GENERATE_QUEUE_URL`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_lambda::serve_routes(recap_http::routes::outputs()).await
}
