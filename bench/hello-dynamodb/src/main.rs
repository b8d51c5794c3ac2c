//! An event function that does nothing but one DynamoDB GetItem per event, over the same
//! AWS set-up (recap-aws: bundled roots, environment credentials) and event loop as the real
//! ones: what an event function's first answer costs before any work of its own.
//! `scripts/bench-coldstart` runs it beside hello-lambda.

use recap_domain::records::{Key, Records};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_http::telemetry::init();
    let aws = recap_aws::AwsConfig::from_env().await;
    let records = recap_aws::DynamoRecords::new(aws.dynamodb(), &aws.table);
    let key = Key::new("CATALOG#PROVIDERS", "openai");
    recap_lambda::serve_events(|_| async { records.get(&key).await.map(|_| ()) }).await
}
