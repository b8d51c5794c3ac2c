//! Lambda `reconcile`, on an EventBridge schedule: releases reservations whose lease ran
//! out, rolls subscription periods over (credits, allowances, renewal and overage records),
//! and corrects balances that drifted from the ledger. Running it twice changes nothing the
//! second time. Needs `RECAP_TABLE`.

use recap_domain::clock::SystemClock;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_http::telemetry::init();
    let aws = recap_aws::AwsConfig::from_env().await;
    let records = recap_aws::DynamoRecords::new(aws.dynamodb(), &aws.table);
    recap_lambda::serve_events(|scheduled| async {
        recap_lambda::handlers::reconcile(&records, &SystemClock, scheduled)
            .await
            .map(|_| ())
    })
    .await
}
