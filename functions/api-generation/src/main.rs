//! Lambda `api-generation`: generation requests (reserve credits, queue one job per output)
//! and the model choice they follow (the caller's preferences, the tenant's constraints),
//! behind API Gateway's JWT authorizer. Needs `RECAP_TABLE` and `RECAP_GENERATE_QUEUE_URL`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_lambda::serve_routes(recap_http::routes::generation()).await
}
