//! Lambda `on-upload`: S3 `ObjectCreated` events for `{tenant}/uploads/{transcript}/…`.
//! Parses the upload, stores the normalized transcript and marks the record; duplicate and
//! older events do nothing. Needs `RECAP_TABLE` and `RECAP_BUCKET`.

use recap_domain::clock::{SystemClock, SystemIds};
use recap_domain::transcripts::{self, Ports};

#[tokio::main]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_http::telemetry::init();
    let aws = recap_aws::AwsConfig::from_env().await;
    let records = recap_aws::DynamoRecords::new(aws.dynamodb(), &aws.table);
    let files = recap_aws::S3Files::new(aws.s3(), &aws.bucket);
    let ports = Ports {
        records: &records,
        files: &files,
        clock: &SystemClock,
        ids: &SystemIds,
    };
    recap_lambda::serve_events(|event: serde_json::Value| async move {
        let bytes = serde_json::to_vec(&event)
            .map_err(|e| recap_domain::Error::unexpected("re-encoding the event", e))?;
        let outcomes = transcripts::on_upload_event(ports, &bytes).await?;
        tracing::info!(?outcomes, "event handled");
        Ok(())
    })
    .await
}
