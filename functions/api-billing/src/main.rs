//! Lambda `api-billing`: credits, purchases, billing records and usage, behind API Gateway's
//! JWT authorizer. Needs `RECAP_TABLE`; links the DynamoDB client only.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_lambda::serve_routes(recap_http::routes::billing()).await
}
