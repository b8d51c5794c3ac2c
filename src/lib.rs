//! The local stack: every route, over the embedded adapters, in one process.
//!
//! `recap serve` is this crate's [`Server`]; the end-to-end tests start the same thing on
//! port 0 with a data directory of their own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use recap_domain::clock::SystemClock;
use recap_embedded::{EmbeddedStore, files_router};
use recap_http::AppState;
use tokio::net::TcpListener;

mod tokens;

pub use tokens::{LOCAL_AUDIENCE, LOCAL_ISSUER, LocalTokens};

/// The local demo tenant and user that `recap serve` prints a token for.
pub const DEMO_TENANT: &str = "00000000-0000-4000-8000-00000000de01";
pub const DEMO_USER: &str = "00000000-0000-4000-8000-00000000de02";

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
        let files = store.files(url.clone());
        let tokens = Arc::new(local_tokens(config.jwt_secret.as_deref(), || {
            Ok(store.secret().to_vec())
        })?);
        let state = AppState {
            records: Arc::new(store.records()),
            clock: Arc::new(SystemClock),
            ids: Arc::new(recap_domain::clock::SystemIds),
            tokens: Some(tokens.clone()),
        };
        let app = recap_http::router(state).merge(files_router(files));
        Ok(Server {
            listener,
            app,
            url,
            store,
            tokens,
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
        let caller = recap_domain::access::Caller {
            user: recap_domain::ids::UserId::parse(DEMO_USER)?,
            tenant: recap_domain::ids::TenantId::parse(DEMO_TENANT)?,
            email: Some("demo@recap.local".into()),
            platform_admin: false,
        };
        Ok(self
            .tokens
            .mint(&caller, std::time::Duration::from_secs(24 * 3600))?)
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")
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
