//! Runs Recap's routers in AWS Lambda behind an API Gateway HTTP API with a JWT authorizer.
//!
//! The authorizer has checked the token; its claims arrive in the request context as strings
//! (arrays flattened, such as `"[platform-admins ops]"`). [`with_caller`] turns them into the
//! domain's [`Caller`] and puts it in the request's extensions, where `recap_http::Authed`
//! finds it. A request without usable claims gets no caller, and so a 401.
//!
//! The event functions (S3 uploads, SQS generation jobs, the schedule) run the handlers in
//! [`handlers`] through [`serve_events`] and [`serve_json`].
//!
//! A function links the SDK clients it uses and no other: DynamoDB always, S3 and SQS with this
//! crate's features `s3` and `sqs`, named in the function's Cargo.toml. [`serve_routes`] builds
//! only the clients its route groups need ([`Needs`]); the other ports are [`Unavailable`].

pub mod handlers;
#[cfg(feature = "ssm")]
mod keys;
mod ports;

use lambda_http::{Request, RequestExt};
use recap_domain::access::Caller;
use serde_json::{Map, Value};

#[cfg(feature = "ssm")]
pub use keys::ParameterKeys;
pub use lambda_http::Error;
pub use ports::{Needs, OnFirstUse, Unavailable};

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

/// The whole of an API function: the state over DynamoDB (`RECAP_TABLE`) and, when `routes`
/// use them ([`Needs`]), S3 (`RECAP_BUCKET`) and the generate queue on SQS
/// (`RECAP_GENERATE_QUEUE_URL`); `routes` (its group's table, such as
/// `recap_http::routes::teams()`, so that no other group's handlers are linked in), served
/// until the runtime stops.
///
/// A port the groups do not use is [`Unavailable`], and its client is not built. The S3 and
/// SQS clients of the ports they use are built on the first call that needs them
/// ([`OnFirstUse`]); DynamoDB's at start-up (nearly every request reads a record). A port they
/// use whose client this build lacks (features `s3`, `sqs`) fails the start-up, with a message
/// that says which feature the function's crate must enable.
pub async fn serve_routes(routes: Vec<recap_http::routes::RouteSpec>) -> Result<(), Error> {
    use std::sync::Arc;
    recap_http::telemetry::init();
    let groups: Vec<_> = routes.iter().map(|r| r.group).collect();
    let needs = Needs::of(&groups);
    let aws = recap_aws::AwsConfig::from_env().await;
    let records = Arc::new(recap_aws::DynamoRecords::new(aws.dynamodb(), &aws.table));
    let state = recap_http::AppState {
        files: files(&aws, needs.files)?,
        generate: queue(&aws, needs.queue)?,
        clock: Arc::new(recap_domain::clock::SystemClock),
        ids: Arc::new(recap_domain::clock::SystemIds),
        models: models(records.clone(), needs.queue),
        records,
        tokens: None,
    };
    serve(recap_http::router_of(routes, state)).await
}

fn files(
    aws: &recap_aws::AwsConfig,
    needed: bool,
) -> Result<std::sync::Arc<dyn recap_domain::files::Files>, Error> {
    if !needed {
        return Ok(std::sync::Arc::new(Unavailable::FILES));
    }
    #[cfg(feature = "s3")]
    {
        let aws = aws.clone();
        Ok(std::sync::Arc::new(OnFirstUse::new(move || {
            recap_aws::S3Files::new(aws.s3(), &aws.bucket)
        })))
    }
    #[cfg(not(feature = "s3"))]
    {
        let _ = aws;
        Err("these routes use files, but this function is built without recap-lambda's `s3` feature".into())
    }
}

fn queue(
    aws: &recap_aws::AwsConfig,
    needed: bool,
) -> Result<std::sync::Arc<dyn recap_domain::queue::Queue>, Error> {
    if !needed {
        return Ok(std::sync::Arc::new(Unavailable::QUEUE));
    }
    #[cfg(feature = "sqs")]
    {
        let aws = aws.clone();
        Ok(std::sync::Arc::new(OnFirstUse::new(move || {
            recap_aws::SqsQueue::new(aws.sqs(), &aws.generate_queue_url)
        })))
    }
    #[cfg(not(feature = "sqs"))]
    {
        let _ = aws;
        Err("these routes use the generate queue, but this function is built without recap-lambda's `sqs` feature".into())
    }
}

/// What a function that never calls a model knows of the providers: which have a key, read
/// from the same variables as the generate function's: a key (`OPENAI_API_KEY`, …) or the name
/// of the SSM parameter that holds it (`RECAP_OPENAI_API_KEY_PARAMETER`, …; never read here).
/// A model choice made here then matches what the generate function can call.
///
/// The keys are read at start-up; the catalog's providers (which provider id is which kind of
/// client) on the first model choice ([`ModelRegistry::ready`]), so that a cold start that
/// serves anything else makes no catalog read. Until then no provider but the offline one is
/// configured.
///
/// [`ModelRegistry::ready`]: recap_domain::generation::ModelRegistry::ready
pub struct KeysConfigured {
    records: std::sync::Arc<dyn recap_domain::records::Records>,
    kinds: Vec<recap_ai::ProviderKind>,
    providers: std::sync::OnceLock<std::collections::HashSet<String>>,
}

impl KeysConfigured {
    /// The keys (or their parameters' names) in the environment; the catalog is read from
    /// `records` when first needed.
    pub fn from_env(records: std::sync::Arc<dyn recap_domain::records::Records>) -> Self {
        let kinds = recap_ai::ProviderConfig::configured_kinds(&|k| std::env::var(k).ok())
            .inspect_err(|e| {
                tracing::error!(error = %e, "provider settings are invalid; only the offline provider is used");
            })
            .unwrap_or_default();
        Self::new(records, kinds)
    }

    /// The provider kinds that have keys (none: no provider but the offline one).
    pub fn new(
        records: std::sync::Arc<dyn recap_domain::records::Records>,
        kinds: Vec<recap_ai::ProviderKind>,
    ) -> Self {
        KeysConfigured {
            records,
            kinds,
            providers: std::sync::OnceLock::new(),
        }
    }
}

impl recap_domain::generation::ModelRegistry for KeysConfigured {
    fn models(&self, _: &str) -> Option<std::sync::Arc<dyn recap_domain::models::Models>> {
        None
    }

    fn configured(&self, provider: &str) -> bool {
        self.providers
            .get()
            .is_some_and(|ids| ids.contains(provider))
    }

    fn ready(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = recap_domain::Result<()>> + Send + '_>>
    {
        let kinds = &self.kinds;
        Box::pin(from_catalog_once(
            &self.providers,
            self.records.as_ref(),
            !kinds.is_empty(),
            move |catalog| {
                catalog
                    .iter()
                    .filter(|p| {
                        recap_ai::ProviderKind::parse(&p.kind).is_some_and(|k| kinds.contains(&k))
                    })
                    .map(|p| p.id.clone())
                    .collect()
            },
        ))
    }
}

/// Fills `cell` from the catalog's providers once, for the registries that read them on first
/// use ([`KeysConfigured`], [`CatalogOnFirstUse`]): read only when `read` (some provider has a
/// key; otherwise `build` gets none). Two first callers at once both read; the first to finish
/// is kept (the same value). A read that fails keeps nothing: the next call reads again.
async fn from_catalog_once<T>(
    cell: &std::sync::OnceLock<T>,
    records: &dyn recap_domain::records::Records,
    read: bool,
    build: impl FnOnce(&[recap_domain::catalog::Provider]) -> T,
) -> recap_domain::Result<()> {
    if cell.get().is_some() {
        return Ok(());
    }
    let catalog = if read {
        recap_domain::catalog::providers(records).await?
    } else {
        Vec::new()
    };
    let _ = cell.set(build(&catalog));
    Ok(())
}

/// The generate function's model registry: the configured providers' clients, built at
/// start-up, by catalog provider id. The catalog's providers (which id is which kind of client)
/// are read on the first job that has work to do ([`ModelRegistry::ready`]), not at start-up:
/// a cold start then makes no catalog read before its first answer, and a job for a deleted
/// output or a malformed message makes none at all. With no provider configured (the offline
/// provider only) the catalog is never read. A provider added to the catalog later is known
/// from the next start, as before.
///
/// [`ModelRegistry::ready`]: recap_domain::generation::ModelRegistry::ready
pub struct CatalogOnFirstUse {
    records: std::sync::Arc<dyn recap_domain::records::Records>,
    providers: recap_ai::Providers,
    built: std::sync::OnceLock<recap_ai::CatalogModels>,
}

impl CatalogOnFirstUse {
    pub fn new(
        records: std::sync::Arc<dyn recap_domain::records::Records>,
        providers: recap_ai::Providers,
    ) -> Self {
        CatalogOnFirstUse {
            records,
            providers,
            built: std::sync::OnceLock::new(),
        }
    }
}

impl recap_domain::generation::ModelRegistry for CatalogOnFirstUse {
    fn models(&self, provider: &str) -> Option<std::sync::Arc<dyn recap_domain::models::Models>> {
        self.built.get()?.models(provider)
    }

    fn ready(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = recap_domain::Result<()>> + Send + '_>>
    {
        Box::pin(from_catalog_once(
            &self.built,
            self.records.as_ref(),
            !self.providers.kinds().is_empty(),
            |catalog| self.providers.for_catalog(catalog),
        ))
    }

    fn cache_warmup(&self, provider: &str) -> std::time::Duration {
        self.built
            .get()
            .map_or(std::time::Duration::ZERO, |c| c.cache_warmup(provider))
    }

    fn sleep(
        &self,
        d: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        // Only called for a non-zero warm-up, which only a built registry answers.
        match self.built.get() {
            Some(c) => c.sleep(d),
            None => Box::pin(std::future::ready(())),
        }
    }
}

/// The AWS adapters of a function that runs the generation use cases (generate, on-upload):
/// DynamoDB (`RECAP_TABLE`), S3 (`RECAP_BUCKET`) and the generate queue
/// (`RECAP_GENERATE_QUEUE_URL`), built once in `main`. Every event reads records and files, so
/// those clients are built at start-up; the queue's on its first send ([`OnFirstUse`]): on-upload
/// sends only for uploads that ask for outputs, generate only to chain map-reduce steps and
/// fallbacks.
#[cfg(all(feature = "s3", feature = "sqs"))]
pub struct AwsPorts {
    /// What the clients were built from (for one more client: generate's SSM).
    pub config: recap_aws::AwsConfig,
    pub records: recap_aws::DynamoRecords,
    pub files: recap_aws::S3Files,
    pub queue: OnFirstUse<recap_aws::SqsQueue>,
}

#[cfg(all(feature = "s3", feature = "sqs"))]
impl AwsPorts {
    pub async fn from_env() -> Self {
        let aws = recap_aws::AwsConfig::from_env().await;
        let sqs = aws.clone();
        AwsPorts {
            records: recap_aws::DynamoRecords::new(aws.dynamodb(), &aws.table),
            files: recap_aws::S3Files::new(aws.s3(), &aws.bucket),
            queue: OnFirstUse::new(move || {
                recap_aws::SqsQueue::new(sqs.sqs(), &sqs.generate_queue_url)
            }),
            config: aws,
        }
    }

    /// The generation use cases' ports over these adapters, the system clock and ids.
    pub fn generation<'a>(
        &'a self,
        models: &'a dyn recap_domain::generation::ModelRegistry,
    ) -> recap_domain::generation::Ports<'a> {
        recap_domain::generation::Ports {
            records: &self.records,
            files: &self.files,
            queue: &self.queue,
            clock: &recap_domain::clock::SystemClock,
            ids: &recap_domain::clock::SystemIds,
            models,
        }
    }
}

/// Which providers have a key, for the groups that choose models: those that request
/// generation, i.e. use the generate queue.
fn models(
    records: std::sync::Arc<dyn recap_domain::records::Records>,
    chooses_models: bool,
) -> std::sync::Arc<dyn recap_domain::generation::ModelRegistry> {
    if chooses_models {
        std::sync::Arc::new(KeysConfigured::from_env(records))
    } else {
        std::sync::Arc::new(recap_domain::generation::NoProviders)
    }
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
    // The messages of a batch run at once (the outputs of one request call their models side
    // by side); each failure is reported on its own.
    let runs = batch.records.into_iter().map(|record| {
        let id = record.message_id.clone();
        let run = handler(record);
        async move { (id, run.await) }
    });
    let mut failures = Vec::new();
    for (id, result) in futures::future::join_all(runs).await {
        if let Err(e) = result {
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

#[cfg(test)]
mod tests {
    use super::*;
    use recap_domain::generation::ModelRegistry;
    use recap_domain::records::{Condition, Item, Key, Page, Query, Update, Write};
    use std::sync::Arc;

    /// An embedded store with the catalog seeded (and the directory that holds it).
    async fn seeded() -> (tempfile::TempDir, Arc<dyn recap_domain::records::Records>) {
        let dir = tempfile::tempdir().unwrap();
        let store = recap_embedded::EmbeddedStore::open(dir.path()).unwrap();
        let records: Arc<dyn recap_domain::records::Records> = Arc::new(store.records());
        recap_domain::catalog::seed(records.as_ref(), &recap_domain::clock::SystemClock)
            .await
            .unwrap();
        (dir, records)
    }

    #[tokio::test]
    async fn keys_configured_reads_the_catalog_on_the_first_model_choice_only() {
        let (_dir, records) = seeded().await;
        let keys = KeysConfigured::new(records.clone(), vec![recap_ai::ProviderKind::OpenAi]);
        assert!(
            !keys.configured("openai"),
            "nothing is known before the catalog is read"
        );
        keys.ready().await.unwrap();
        assert!(keys.configured("openai"));
        assert!(!keys.configured("anthropic"), "no key for it");

        let none = KeysConfigured::new(records, Vec::new());
        none.ready().await.unwrap();
        assert!(!none.configured("openai"), "no settings, no provider");
    }

    /// Records that refuse every call: a registry given these must not read.
    struct NoRecords;

    #[async_trait::async_trait]
    impl recap_domain::records::Records for NoRecords {
        async fn get(&self, _: &Key) -> recap_domain::Result<Option<Item>> {
            Err(recap_domain::Error::unexpected("records", "read"))
        }
        async fn put(&self, _: Item, _: Vec<Condition>) -> recap_domain::Result<()> {
            Err(recap_domain::Error::unexpected("records", "written"))
        }
        async fn update(
            &self,
            _: &Key,
            _: Update,
            _: Vec<Condition>,
        ) -> recap_domain::Result<Item> {
            Err(recap_domain::Error::unexpected("records", "written"))
        }
        async fn delete(&self, _: &Key, _: Vec<Condition>) -> recap_domain::Result<Option<Item>> {
            Err(recap_domain::Error::unexpected("records", "written"))
        }
        async fn query(&self, _: Query) -> recap_domain::Result<Page> {
            Err(recap_domain::Error::unexpected("records", "read"))
        }
        async fn transact(&self, _: Vec<Write>) -> recap_domain::Result<()> {
            Err(recap_domain::Error::unexpected("records", "written"))
        }
    }

    #[tokio::test]
    async fn generate_reads_the_catalog_on_its_first_job_only() {
        let (_dir, records) = seeded().await;
        let vars = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-test".to_string());
        let config = recap_ai::ProviderConfig::from_vars(&vars).unwrap();
        let providers = recap_ai::Providers::from_config(&config).unwrap();
        let registry = CatalogOnFirstUse::new(records.clone(), providers);
        assert!(
            registry.models("openai").is_none(),
            "nothing is known before the catalog is read"
        );
        registry.ready().await.unwrap();
        assert!(registry.models("openai").is_some());
        assert!(registry.models("anthropic").is_none(), "no key for it");

        // No provider configured: the catalog is never read (these records refuse it).
        let offline_only = CatalogOnFirstUse::new(
            Arc::new(NoRecords),
            recap_ai::Providers::from_config(
                &recap_ai::ProviderConfig::from_vars(&|_| None).unwrap(),
            )
            .unwrap(),
        );
        offline_only.ready().await.unwrap();
        assert!(offline_only.models("openai").is_none());

        // A read that fails is an error (the job is retried), and nothing is kept.
        let keyed = CatalogOnFirstUse::new(
            Arc::new(NoRecords),
            recap_ai::Providers::from_config(&config).unwrap(),
        );
        assert!(keyed.ready().await.is_err());
        assert!(keyed.models("openai").is_none());
    }
}
