//! DynamoDB, S3 and SQS adapters of Recap's ports.
//!
//! Clients are built once from the environment ([`AwsConfig::from_env`]); `AWS_ENDPOINT_URL`
//! (and the per-service variants) point them at an emulator. Every SDK call, key format and
//! error mapping of the cloud side lives here.

mod config;
mod dynamo;
pub mod provision;
mod s3;
mod sqs;

pub use config::{AwsConfig, S3Options};
pub use dynamo::DynamoRecords;
pub use s3::S3Files;
pub use sqs::SqsQueue;

use recap_domain::Error;

/// Maps an SDK failure that has no domain meaning: throttling, timeouts and 5xx are
/// "unavailable" (a retry may work), the rest unexpected. The source is kept for the logs.
pub(crate) fn sdk_err<E, R>(what: &'static str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_dynamodb::error::SdkError;
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Error::unavailable(what, e),
        SdkError::ServiceError(s) => {
            let code = aws_sdk_dynamodb::error::ProvideErrorMetadata::code(s.err());
            let throttled = matches!(
                code,
                Some(
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "SlowDown"
                        | "ServiceUnavailable"
                        | "InternalServerError"
                        | "InternalFailure"
                )
            );
            if throttled {
                Error::unavailable(what, e)
            } else {
                Error::unexpected(what, e)
            }
        }
        _ => Error::unexpected(what, e),
    }
}
