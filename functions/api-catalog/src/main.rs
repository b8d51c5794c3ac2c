//! Lambda `api-catalog`: providers, models with their prices (platform admins change them), transcript types, behind API Gateway's
//! JWT authorizer. Needs `RECAP_TABLE`; links the DynamoDB client only.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_lambda::serve_routes(recap_http::routes::catalog()).await
}
