//! DynamoDB, S3 and SQS adapters of Recap's ports.
//!
//! Clients are built once from the environment ([`AwsConfig::from_env`]); `AWS_ENDPOINT_URL`
//! (and the per-service variants) point them at an emulator. Every SDK call, key format and
//! error mapping of the cloud side lives here.
//!
//! Each client is behind a feature of its own (`dynamodb`, `s3`, `sqs`; all three by default),
//! so that a function links the clients it uses and no other.

mod config;
#[cfg(feature = "dynamodb")]
mod dynamo;
pub mod provision;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "sqs")]
mod sqs;
#[cfg(feature = "ssm")]
mod ssm;

pub use config::{AwsConfig, S3Options};
#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoRecords;
#[cfg(feature = "s3")]
pub use s3::S3Files;
#[cfg(feature = "sqs")]
pub use sqs::SqsQueue;
#[cfg(feature = "ssm")]
pub use ssm::SsmParameters;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use recap_domain::Error;

/// Maps an SDK failure that has no domain meaning: throttling, timeouts and 5xx are
/// "unavailable" (a retry may work), the rest unexpected. The source is kept for the logs.
#[cfg_attr(
    not(any(feature = "dynamodb", feature = "s3", feature = "sqs", feature = "ssm")),
    allow(dead_code)
)]
pub(crate) fn sdk_err<E, R>(what: &'static str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Error::unavailable(what, e),
        SdkError::ServiceError(s) => {
            let code = ProvideErrorMetadata::code(s.err());
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
