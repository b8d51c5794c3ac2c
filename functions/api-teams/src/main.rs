//! Lambda `api-teams`: teams, members, roles, users, tenant settings and `/me`, behind API
//! Gateway's JWT authorizer. Needs `RECAP_TABLE`.

use std::sync::Arc;

use recap_domain::clock::{SystemClock, SystemIds};
use recap_http::routes::Group;
use recap_http::{AppState, router_for};

#[tokio::main]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_http::telemetry::init();
    let aws = recap_aws::AwsConfig::from_env().await;
    let state = AppState {
        records: Arc::new(recap_aws::DynamoRecords::new(aws.dynamodb(), aws.table)),
        clock: Arc::new(SystemClock),
        ids: Arc::new(SystemIds),
        tokens: None,
    };
    recap_lambda::serve(router_for(&[Group::Teams], state)).await
}
