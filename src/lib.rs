//! The local stack: every route, over the embedded adapters, in one process.
//!
//! `recap serve` is this crate's [`Server`]; the end-to-end tests start the same thing on
//! port 0 with a data directory of their own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use anyhow::Context as _;
use recap_domain::clock::{SystemClock, SystemIds};
use recap_domain::ids::OutputId;
use recap_domain::queue::Queue;
use recap_domain::transcripts::{self, Ports};
use recap_embedded::{EmbeddedFiles, EmbeddedQueue, EmbeddedStore, QueueConfig, files_router};
use recap_http::{AppState, BearerTokens};
use tokio::net::TcpListener;

pub mod demo;
mod tokens;

pub use tokens::{LOCAL_AUDIENCE, LOCAL_ISSUER, LocalTokens};

/// The local demo tenant and user that `recap serve` prints a token for.
pub const DEMO_TENANT: &str = "00000000-0000-4000-8000-00000000de01";
pub const DEMO_USER: &str = "00000000-0000-4000-8000-00000000de02";

/// The demo tenant's first user, whom `recap serve` mints a token for and `recap demo` acts as.
pub fn demo_caller() -> anyhow::Result<recap_domain::access::Caller> {
    Ok(recap_domain::access::Caller {
        user: recap_domain::ids::UserId::parse(DEMO_USER)?,
        tenant: recap_domain::ids::TenantId::parse(DEMO_TENANT)?,
        email: Some("demo@recap.local".into()),
        platform_admin: false,
    })
}

/// The local tokens: signed with `RECAP_JWT_SECRET` when it is set, else with the data
/// directory's own secret (read only when needed).
pub fn local_tokens(
    jwt_secret: Option<&str>,
    data_secret: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<LocalTokens> {
    match jwt_secret {
        Some(s) if s.len() < 16 => anyhow::bail!("RECAP_JWT_SECRET must be at least 16 bytes"),
        Some(s) => Ok(LocalTokens::new(s.as_bytes())),
        None => Ok(LocalTokens::new(&data_secret()?)),
    }
}

/// The embedded queue that carries the file store's upload events (S3 event JSON), and its
/// dead-letter queue: an event that fails five times goes there.
pub const UPLOAD_EVENTS_QUEUE: &str = "upload-events";
pub const UPLOAD_EVENTS_DLQ: &str = "upload-events-dlq";
/// The bucket name the local upload events carry.
pub const LOCAL_BUCKET: &str = "recap-local";
/// How long an upload event stays hidden from other receivers while it is processed.
const UPLOAD_VISIBILITY: Duration = Duration::from_secs(120);

/// The handlers' state over an embedded store, with uploads under `{tenant}/uploads/`
/// announced on [`UPLOAD_EVENTS_QUEUE`] (S3 does the same for the `on-upload` function), and
/// the queue the local upload trigger reads.
pub fn local_state(
    store: &EmbeddedStore,
    base_url: impl Into<String>,
    tokens: Arc<dyn BearerTokens>,
) -> (AppState, EmbeddedQueue) {
    let files = announcing_files(store, base_url);
    let queue =
        store.queue(QueueConfig::new(UPLOAD_EVENTS_QUEUE).dead_letter(UPLOAD_EVENTS_DLQ, 5));
    let state = AppState {
        records: Arc::new(store.records()),
        files: Arc::new(files),
        clock: Arc::new(SystemClock),
        ids: Arc::new(SystemIds),
        generate: Arc::new(generate_queue(store)),
        models: Arc::new(recap_domain::generation::NoProviders),
        tokens: Some(tokens),
    };
    (state, queue)
}

/// The file store, announcing files put under `{tenant}/uploads/{transcript}/`.
pub fn announcing_files(store: &EmbeddedStore, base_url: impl Into<String>) -> EmbeddedFiles {
    store
        .files(base_url)
        .with_events(UPLOAD_EVENTS_QUEUE, LOCAL_BUCKET, |key| {
            recap_domain::files::FileKey::parse(key)
                .ok()
                .and_then(|k| recap_domain::keys::parse_transcript_upload(&k))
                .is_some()
        })
}

/// Seeds the global catalog (transcript types, providers and models, tiers); what exists is
/// left alone.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let records = state.records.as_ref();
    recap_domain::transcript_types::seed(records)
        .await
        .context("seeding transcript types")?;
    recap_domain::catalog::seed(records, state.clock.as_ref())
        .await
        .context("seeding providers and models")?;
    recap_domain::billing::seed(records)
        .await
        .context("seeding tiers")?;
    Ok(())
}

/// The model providers whose keys the environment holds (`OPENAI_API_KEY`,
/// `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, `RECAP_OPENAI_COMPATIBLE_BASE_URL`…), by catalog
/// provider id. With none, only the offline provider answers.
pub async fn model_registry(
    records: &dyn recap_domain::records::Records,
) -> anyhow::Result<recap_ai::CatalogModels> {
    let config = recap_ai::ProviderConfig::from_env().context("reading the provider settings")?;
    let providers =
        recap_ai::Providers::from_config(&config).context("building the provider clients")?;
    let catalog = recap_domain::catalog::providers(records).await?;
    tracing::info!(?providers, "model providers");
    Ok(providers.for_catalog(&catalog))
}

/// How often `recap serve` reconciles.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// The generate queue, and its dead-letter queue after five receives (as the template's).
pub const GENERATE_QUEUE: &str = "generate";
pub const GENERATE_DLQ: &str = "generate-dlq";
pub const GENERATE_MAX_RECEIVES: u32 = 5;
/// A job is hidden from other consumers this long while it runs.
pub(crate) const GENERATE_VISIBILITY: Duration = Duration::from_secs(300);

pub fn generate_queue(store: &EmbeddedStore) -> EmbeddedQueue {
    store.queue(QueueConfig::new(GENERATE_QUEUE).dead_letter(GENERATE_DLQ, GENERATE_MAX_RECEIVES))
}

pub(crate) fn generation_ports(state: &AppState) -> recap_domain::generation::Ports<'_> {
    recap_domain::generation::Ports {
        records: state.records.as_ref(),
        files: state.files.as_ref(),
        queue: state.generate.as_ref(),
        clock: state.clock.as_ref(),
        ids: state.ids.as_ref(),
        models: state.models.as_ref(),
    }
}

/// What one pass of the local generate consumer did.
#[derive(Debug, Default)]
pub struct GeneratePass {
    /// Jobs that ended (made, failed for good, or found finished) and left the queue.
    pub handled: usize,
    /// Jobs that failed and stay in the queue, to be received again once its visibility
    /// timeout has passed: the output each was for (`None` for a message that names none)
    /// and why it failed.
    pub retrying: Vec<(Option<OutputId>, String)>,
}

/// One pass of the local generate consumer: the same work as the `generate` function, on the
/// embedded queue. A job that fails transiently goes back to the queue; on its last receive it
/// fails for good and its reservation is released.
pub async fn process_generate_jobs(
    state: &AppState,
    wait: Duration,
) -> recap_domain::Result<GeneratePass> {
    let ports = generation_ports(state);
    // The jobs of a batch run at once: the outputs of one request call their models side by
    // side (the later ones after the first has cached the shared prompt).
    let batch = state
        .generate
        .receive(10, GENERATE_VISIBILITY, wait)
        .await?;
    let runs = batch.iter().map(|m| async move {
        let last = m.receive_count >= GENERATE_MAX_RECEIVES;
        match recap_domain::generation::process(ports, &m.body, last).await {
            Ok(done) => {
                tracing::info!(?done, "generation job");
                state.generate.delete(&m.receipt).await.map(|_| None)
            }
            Err(e) => {
                tracing::error!(error = %e, receive_count = m.receive_count, "a generation job failed; it will be retried");
                Ok(Some((recap_domain::generation::job_output(&m.body), e.to_string())))
            }
        }
    });
    let mut pass = GeneratePass::default();
    for r in futures::future::join_all(runs).await {
        match r? {
            None => pass.handled += 1,
            Some(failed) => pass.retrying.push(failed),
        }
    }
    Ok(pass)
}

/// One pass of the local upload trigger: receives waiting upload events (waiting up to `wait`
/// for one), runs the same handler as the `on-upload` function on each, and deletes those
/// handled. A failed one comes back after its visibility timeout. Answers how many were
/// handled.
pub async fn process_upload_events(
    queue: &dyn Queue,
    state: &AppState,
    wait: Duration,
) -> recap_domain::Result<usize> {
    let ports = Ports {
        records: state.records.as_ref(),
        files: state.files.as_ref(),
        clock: state.clock.as_ref(),
        ids: state.ids.as_ref(),
    };
    let mut handled = 0;
    for m in queue.receive(10, UPLOAD_VISIBILITY, wait).await? {
        let done = match transcripts::on_upload_event(ports, m.body.as_bytes()).await {
            // Then the outputs named when the transcript was created.
            Ok(_) => {
                recap_domain::generation::after_upload(generation_ports(state), m.body.as_bytes())
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        };
        match done {
            Ok(()) => {
                queue.delete(&m.receipt).await?;
                handled += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, receive_count = m.receive_count, "an upload event failed; it will be retried")
            }
        }
    }
    Ok(handled)
}

/// How to run the local stack.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub data: PathBuf,
    /// `RECAP_JWT_SECRET`; without it, the store's generated secret signs local tokens.
    pub jwt_secret: Option<String>,
}

/// A bound, not yet running, local stack.
pub struct Server {
    listener: TcpListener,
    app: axum::Router,
    url: String,
    store: EmbeddedStore,
    tokens: Arc<LocalTokens>,
    state: AppState,
    uploads: EmbeddedQueue,
}

impl Server {
    /// Opens the store, binds the address and builds every route.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let store = EmbeddedStore::open(&config.data)
            .with_context(|| format!("opening the data directory {}", config.data.display()))?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let tokens = Arc::new(local_tokens(config.jwt_secret.as_deref(), || {
            Ok(store.secret().to_vec())
        })?);
        let (mut state, uploads) = local_state(&store, url.clone(), tokens.clone());
        seed(&state).await?;
        state.models = Arc::new(model_registry(state.records.as_ref()).await?);
        // The presigned URLs' server: its puts announce uploads like the handlers' own.
        let app = recap_http::router(state.clone())
            .merge(files_router(announcing_files(&store, url.clone())));
        Ok(Server {
            listener,
            app,
            url,
            store,
            tokens,
            state,
            uploads,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store(&self) -> &EmbeddedStore {
        &self.store
    }

    /// A token for the demo tenant's first user, valid for a day.
    pub fn demo_token(&self) -> anyhow::Result<String> {
        Ok(self
            .tokens
            .mint(&demo_caller()?, std::time::Duration::from_secs(24 * 3600))?)
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (state, uploads) = (self.state.clone(), self.uploads.clone());
        let trigger = tokio::spawn(async move {
            loop {
                if let Err(e) =
                    process_upload_events(&uploads, &state, Duration::from_secs(1)).await
                {
                    tracing::error!(error = %e, "the upload trigger could not read its queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        let records = self.state.records.clone();
        let clock = self.state.clock.clone();
        let reconciler = tokio::spawn(async move {
            let mut tick = tokio::time::interval(RECONCILE_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = recap_domain::reconcile::run(records.as_ref(), clock.as_ref()).await
                {
                    tracing::error!(error = %e, "reconciliation failed; it runs again at the next tick");
                }
            }
        });
        let state = self.state.clone();
        let generator = tokio::spawn(async move {
            loop {
                if let Err(e) = process_generate_jobs(&state, Duration::from_secs(1)).await {
                    tracing::error!(error = %e, "the generate consumer could not read its queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        let served = axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP");
        // An event cut short is received again on the next start (it was not deleted).
        trigger.abort();
        reconciler.abort();
        generator.abort();
        served
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
