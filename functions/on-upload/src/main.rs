//! Lambda `on-upload`: S3 `ObjectCreated` events for `{tenant}/uploads/{transcript}/…`.
//! Parses the upload, stores the normalized transcript and marks the record, then requests the
//! outputs named at the transcript's creation; duplicate and older events do nothing. Needs
//! `RECAP_TABLE`, `RECAP_BUCKET` and `RECAP_GENERATE_QUEUE_URL`.

use recap_domain::clock::{SystemClock, SystemIds};
use recap_domain::generation::Ports;

#[tokio::main]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_http::telemetry::init();
    let aws = recap_aws::AwsConfig::from_env().await;
    let records = recap_aws::DynamoRecords::new(aws.dynamodb(), &aws.table);
    let files = recap_aws::S3Files::new(aws.s3(), &aws.bucket);
    let queue = recap_aws::SqsQueue::new(aws.sqs(), &aws.generate_queue_url);
    let models = recap_lambda::KeysConfigured::from_env(&records).await;
    let ports = Ports {
        records: &records,
        files: &files,
        queue: &queue,
        clock: &SystemClock,
        ids: &SystemIds,
        models: &models,
    };
    recap_lambda::serve_events(|event| async move {
        recap_lambda::handlers::on_upload(ports, event)
            .await
            .map(|_| ())
    })
    .await
}
