//! Lambda `api-teams`: teams, members, roles, users, tenant settings and `/me`, behind API Gateway's
//! JWT authorizer. Needs `RECAP_TABLE`; links the DynamoDB client only.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_lambda::serve_routes(recap_http::routes::teams()).await
}
