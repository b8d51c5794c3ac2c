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

/// The stop signal of the local consumers (the upload trigger, the generate consumer), and how
/// long the work they are doing gets to finish once it is given: `recap serve` gives it on
/// Ctrl-C or SIGTERM; the default never comes (the demo, the tests' drains).
///
/// Once it is given a consumer receives nothing more; what it is working on finishes within
/// the grace time, or is cut short and its message goes back to the queue at once (visible
/// again, not after its visibility timeout), to be received on the next start. Every job and
/// event is safe to run again: a cut-short job has charged nothing, or its charge has its id.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    signal: Option<tokio::sync::watch::Receiver<bool>>,
    grace: Duration,
}

/// How long work in flight gets to finish after `recap serve` is asked to stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl Shutdown {
    /// A signal and its sender (`send(true)` gives it).
    pub fn new(grace: Duration) -> (tokio::sync::watch::Sender<bool>, Self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (
            tx,
            Shutdown {
                signal: Some(rx),
                grace,
            },
        )
    }

    pub fn is_given(&self) -> bool {
        self.signal.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Completes once the signal is given (or its sender is gone); never for the default.
    pub async fn given(&self) {
        match &self.signal {
            Some(rx) => {
                let _ = rx.clone().wait_for(|given| *given).await;
            }
            None => std::future::pending().await,
        }
    }

    /// Runs `work` to its end, or until the grace time after the signal: `None` when cut.
    async fn or_cut<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let cut = async {
            self.given().await;
            tokio::time::sleep(self.grace).await;
        };
        tokio::select! {
            out = work => Some(out),
            () = cut => None,
        }
    }
}

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
    /// Jobs cut short by the shutdown and put back in the queue at once.
    pub returned: usize,
}

/// What became of one job of a pass.
enum JobEnd {
    Handled,
    Retrying(Option<OutputId>, String),
    Returned,
}

/// One pass of the local generate consumer: the same work as the `generate` function, on the
/// embedded queue. A job that fails transiently goes back to the queue; on its last receive it
/// fails for good and its reservation is released. Once `shutdown` is given it receives
/// nothing, and a job still running after the grace time goes back to the queue at once.
pub async fn process_generate_jobs(
    state: &AppState,
    wait: Duration,
    shutdown: &Shutdown,
) -> recap_domain::Result<GeneratePass> {
    let mut pass = GeneratePass::default();
    // A receive is not cut short: messages it took would stay hidden for their visibility.
    if shutdown.is_given() {
        return Ok(pass);
    }
    let ports = generation_ports(state);
    // The jobs of a batch run at once: the outputs of one request call their models side by
    // side (the later ones after the first has cached the shared prompt).
    let batch = state
        .generate
        .receive(10, GENERATE_VISIBILITY, wait)
        .await?;
    let runs = batch.iter().map(|m| async move {
        let last = m.receive_count >= GENERATE_MAX_RECEIVES;
        let job = recap_domain::generation::process(ports, &m.body, last);
        match shutdown.or_cut(job).await {
            Some(Ok(done)) => {
                tracing::info!(?done, "generation job");
                state.generate.delete(&m.receipt).await.map(|_| JobEnd::Handled)
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, receive_count = m.receive_count, "a generation job failed; it will be retried");
                Ok(JobEnd::Retrying(
                    recap_domain::generation::job_output(&m.body),
                    e.to_string(),
                ))
            }
            None => {
                tracing::warn!(
                    output = ?recap_domain::generation::job_output(&m.body),
                    "a generation job was cut short by the shutdown; it is back in the queue"
                );
                state
                    .generate
                    .change_visibility(&m.receipt, Duration::ZERO)
                    .await
                    .map(|()| JobEnd::Returned)
            }
        }
    });
    for r in futures::future::join_all(runs).await {
        match r? {
            JobEnd::Handled => pass.handled += 1,
            JobEnd::Retrying(output, why) => pass.retrying.push((output, why)),
            JobEnd::Returned => pass.returned += 1,
        }
    }
    Ok(pass)
}

/// One pass of the local upload trigger: receives waiting upload events (waiting up to `wait`
/// for one), runs the same handler as the `on-upload` function on each, and deletes those
/// handled. A failed one comes back after its visibility timeout. Answers how many were
/// handled. Once `shutdown` is given it starts no other event, and one still running after
/// the grace time goes back to the queue at once.
pub async fn process_upload_events(
    queue: &dyn Queue,
    state: &AppState,
    wait: Duration,
    shutdown: &Shutdown,
) -> recap_domain::Result<usize> {
    let ports = Ports {
        records: state.records.as_ref(),
        files: state.files.as_ref(),
        clock: state.clock.as_ref(),
        ids: state.ids.as_ref(),
    };
    let mut handled = 0;
    if shutdown.is_given() {
        return Ok(handled);
    }
    for m in queue.receive(10, UPLOAD_VISIBILITY, wait).await? {
        if shutdown.is_given() {
            queue.change_visibility(&m.receipt, Duration::ZERO).await?;
            continue;
        }
        let event = async {
            transcripts::on_upload_event(ports, m.body.as_bytes()).await?;
            // Then the outputs named when the transcript was created.
            recap_domain::generation::after_upload(generation_ports(state), m.body.as_bytes())
                .await
                .map(|_| ())
        };
        let Some(done) = shutdown.or_cut(event).await else {
            tracing::warn!(
                "an upload event was cut short by the shutdown; it is back in the queue"
            );
            queue.change_visibility(&m.receipt, Duration::ZERO).await?;
            continue;
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

    /// Serves until `shutdown` completes, then lets requests in flight finish, and the jobs
    /// and upload events in flight finish within [`SHUTDOWN_GRACE`] (or go back to their
    /// queues at once).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.run_with_grace(shutdown, SHUTDOWN_GRACE).await
    }

    /// [`Server::run`] with another grace time.
    pub async fn run_with_grace(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> anyhow::Result<()> {
        let (stop, stopping) = Shutdown::new(grace);
        // The consumers hear it when the server does, not once its connections have closed.
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        let (state, uploads, until) = (self.state.clone(), self.uploads.clone(), stopping.clone());
        let trigger = tokio::spawn(async move {
            while !until.is_given() {
                if let Err(e) =
                    process_upload_events(&uploads, &state, Duration::from_secs(1), &until).await
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
        let (state, until) = (self.state.clone(), stopping.clone());
        let generator = tokio::spawn(async move {
            while !until.is_given() {
                if let Err(e) = process_generate_jobs(&state, Duration::from_secs(1), &until).await
                {
                    tracing::error!(error = %e, "the generate consumer could not read its queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        let served = axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP");
        // Reconciliation is conditional throughout: a run cut anywhere is finished by the next.
        reconciler.abort();
        // The consumers end once their work has (a receive in progress ends within a second;
        // work in flight within the grace time). The bound is a backstop, not expected to bite.
        let consumers = async {
            let _ = tokio::join!(trigger, generator);
        };
        if tokio::time::timeout(grace + Duration::from_secs(5), consumers)
            .await
            .is_err()
        {
            tracing::warn!(
                "the consumers did not stop in time; their messages return to the queues after their visibility timeouts"
            );
        }
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
