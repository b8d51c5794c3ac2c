//! Runs Recap's routers in AWS Lambda behind an API Gateway HTTP API with a JWT authorizer.
//!
//! The authorizer has checked the token; its claims arrive in the request context as strings
//! (arrays flattened, such as `"[platform-admins ops]"`). [`with_caller`] turns them into the
//! domain's [`Caller`] and puts it in the request's extensions, where `recap_http::Authed`
//! finds it. A request without usable claims gets no caller, and so a 401.

use lambda_http::{Request, RequestExt};
use recap_domain::access::Caller;
use serde_json::{Map, Value};

pub use lambda_http::Error;

/// The caller named by the authorizer's claims, if any.
pub fn caller_of(req: &Request) -> Option<Caller> {
    let jwt = req.request_context_ref()?.authorizer()?.jwt.as_ref()?;
    let claims: Map<String, Value> = jwt
        .claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    match Caller::from_claims(&claims) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "authorizer claims name no caller");
            None
        }
    }
}

/// Puts the caller (if the claims name one) into the request's extensions.
pub fn with_caller(mut req: Request) -> Request {
    if let Some(c) = caller_of(&req) {
        req.extensions_mut().insert(c);
    }
    req
}

/// Serves a router as this function's handler, until the runtime stops.
pub async fn serve(router: axum::Router) -> Result<(), Error> {
    let app = tower::ServiceBuilder::new()
        .map_request(with_caller)
        .service(router);
    lambda_http::run(app).await
}

/// Serves an event function (S3 notifications, schedules): each invocation's JSON payload goes
/// to `handler`. An error fails the invocation, so Lambda retries it (and, after its retries,
/// sends it to the function's failure destination); never `Ok` for an event that failed.
pub async fn serve_events<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = Result<(), recap_domain::Error>>,
{
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        |event: lambda_http::LambdaEvent<serde_json::Value>| {
            let done = handler(event.payload);
            async move { done.await.map_err(Error::from) }
        },
    ))
    .await
}

/// The whole of an API function: the state over DynamoDB, S3 and SQS (from `RECAP_TABLE`,
/// `RECAP_BUCKET` and `RECAP_GENERATE_QUEUE_URL`), the routes of `groups`, served until the
/// runtime stops.
pub async fn serve_routes(groups: &[recap_http::routes::Group]) -> Result<(), Error> {
    use std::sync::Arc;
    recap_http::telemetry::init();
    let aws = recap_aws::AwsConfig::from_env().await;
    let state = recap_http::AppState {
        records: Arc::new(recap_aws::DynamoRecords::new(aws.dynamodb(), &aws.table)),
        files: Arc::new(recap_aws::S3Files::new(aws.s3(), &aws.bucket)),
        clock: Arc::new(recap_domain::clock::SystemClock),
        ids: Arc::new(recap_domain::clock::SystemIds),
        generate: Arc::new(recap_aws::SqsQueue::new(aws.sqs(), &aws.generate_queue_url)),
        // Provider clients (recap-ai) are wired with the generate function; until then only
        // the offline provider answers.
        models: Arc::new(recap_domain::generation::NoProviders),
        tokens: None,
    };
    serve(recap_http::router_for(groups, state)).await
}

/// An SQS batch as the Lambda runtime hands it over: the fields the consumers read.
#[derive(Debug, serde::Deserialize)]
pub struct SqsBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<SqsRecord>,
}

#[derive(Debug, serde::Deserialize)]
pub struct SqsRecord {
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub body: String,
    #[serde(default)]
    pub attributes: std::collections::HashMap<String, String>,
}

impl SqsRecord {
    /// How many times SQS has delivered this message (`ApproximateReceiveCount`).
    pub fn receive_count(&self) -> u32 {
        self.attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    }
}

/// Runs `handler` on each record of an SQS batch and answers the partial batch response:
/// only the records that failed are named, so SQS redelivers those and no others (the event
/// source mapping has `ReportBatchItemFailures`). A batch that cannot be read fails whole.
pub async fn sqs_batch<F, Fut>(
    event: serde_json::Value,
    handler: F,
) -> Result<serde_json::Value, Error>
where
    F: Fn(SqsRecord) -> Fut,
    Fut: std::future::Future<Output = Result<(), recap_domain::Error>>,
{
    let batch: SqsBatch = serde_json::from_value(event)?;
    let mut failures = Vec::new();
    for record in batch.records {
        let id = record.message_id.clone();
        if let Err(e) = handler(record).await {
            tracing::error!(error = %e, message = %id, "a message failed; SQS delivers it again");
            failures.push(serde_json::json!({ "itemIdentifier": id }));
        }
    }
    Ok(serde_json::json!({ "batchItemFailures": failures }))
}

/// Serves a function whose answer is JSON (an SQS partial batch response).
pub async fn serve_json<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, Error>>,
{
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        |event: lambda_http::LambdaEvent<serde_json::Value>| handler(event.payload),
    ))
    .await
}
