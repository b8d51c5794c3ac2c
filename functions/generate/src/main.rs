//! Lambda `generate`: the generate queue's consumer. Each message is one job: call the model,
//! check the answer and its quotes, render, store, settle. Failed messages are reported one by
//! one (partial batch response); on the last receive a job fails for good and its reservation
//! is released. Needs `RECAP_TABLE`, `RECAP_BUCKET` and `RECAP_GENERATE_QUEUE_URL`.

use recap_domain::clock::{SystemClock, SystemIds};
use recap_domain::generation::Ports;

/// The queue's `maxReceiveCount` (infra/template.yaml).
const MAX_RECEIVES: u32 = 5;

#[tokio::main]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_http::telemetry::init();
    let aws = recap_aws::AwsConfig::from_env().await;
    let records = recap_aws::DynamoRecords::new(aws.dynamodb(), &aws.table);
    let files = recap_aws::S3Files::new(aws.s3(), &aws.bucket);
    let queue = recap_aws::SqsQueue::new(aws.sqs(), &aws.generate_queue_url);
    // Keys from the environment (SSM/Secrets Manager parameter names: see shared/ai/README.md).
    let config = recap_ai::ProviderConfig::from_env()?;
    let catalog = recap_domain::catalog::providers(&records).await?;
    let models = recap_ai::Providers::from_config(&config)?.for_catalog(&catalog);
    let ports = Ports {
        records: &records,
        files: &files,
        queue: &queue,
        clock: &SystemClock,
        ids: &SystemIds,
        models: &models,
    };
    recap_lambda::serve_json(|event| recap_lambda::handlers::generate(ports, event, MAX_RECEIVES))
        .await
}
