//! The contract suite on DynamoDB, S3 and SQS, against the AWS-protocol emulator that
//! `scripts/test` starts (moto's server on 127.0.0.1). Without `AWS_ENDPOINT_URL` these tests
//! fail, loudly: they never skip.

use std::sync::Arc;

use async_trait::async_trait;
use recap_aws::{AwsConfig, DynamoRecords, S3Files, SqsQueue, provision};
use recap_contract::{Backend, contract_tests};
use recap_domain::files::Files;
use recap_domain::queue::Queue;
use recap_domain::records::Records;

struct Emulator {
    config: AwsConfig,
}

async fn backend() -> Emulator {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "the AWS contract tests need the emulator on 127.0.0.1 (AWS_ENDPOINT_URL={endpoint:?}): run ./scripts/test"
    );
    // Built as the functions build it: from the environment that scripts/emulator exports.
    let config = AwsConfig::from_env().await;
    assert!(
        config.s3.path_style && config.s3.checksums_when_required,
        "scripts/emulator sets the S3 options emulators need"
    );
    Emulator { config }
}

fn name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

#[async_trait]
impl Backend for Emulator {
    /// moto serves DynamoDB one request at a time (scripts/moto-serve.py), about 18 ms each
    /// here; with a thousand, or sixty, requests waiting, new connections time out (the SDK
    /// gives up connecting after 3.1 s). Eight in flight still race every condition, and the
    /// thousand reservations take about a minute.
    fn max_in_flight(&self) -> usize {
        8
    }

    async fn records(&self) -> Arc<dyn Records> {
        // Requests wait their turn in moto (one DynamoDB request at a time): a connection may
        // wait longer than the SDK's 3.1 s to be accepted, which DynamoDB never makes it do.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(60))
            .build();
        // moto also drops a connection now and then under load ("connection reset by peer"):
        // the SDK retries those, and every use case here is safe to repeat.
        let retries = aws_config::retry::RetryConfig::standard().with_max_attempts(10);
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.config.sdk)
                .timeout_config(timeouts)
                .retry_config(retries)
                // A request waiting its turn in moto reads nothing for seconds: not a stall.
                .stalled_stream_protection(
                    aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
                )
                .build(),
        );
        let table = name("recap");
        provision::create_table(&client, &table).await.unwrap();
        Arc::new(DynamoRecords::new(client, table))
    }
    async fn files(&self) -> Arc<dyn Files> {
        let client = self.config.s3();
        let bucket = name("recap");
        provision::create_bucket(&client, &bucket).await.unwrap();
        Arc::new(S3Files::new(client, bucket))
    }
    async fn queue(&self, max_receive: u32, fifo: bool) -> (Arc<dyn Queue>, Arc<dyn Queue>) {
        let client = self.config.sqs();
        let mut q = name("recap");
        if fifo {
            q.push_str(".fifo");
        }
        let (url, dlq) = provision::create_queue_with_dlq(&client, &q, max_receive)
            .await
            .unwrap();
        (
            Arc::new(SqsQueue::new(client.clone(), url)),
            Arc::new(SqsQueue::new(client, dlq)),
        )
    }
}

contract_tests!(backend);
