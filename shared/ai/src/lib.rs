//! Recap's model providers behind the domain's [`Models`] port: OpenAI, Anthropic, Google
//! Gemini, and OpenAI-compatible servers (vLLM, Ollama, OpenRouter).
//!
//! Every client asks for a JSON answer constrained by the request's schema, sends the
//! cacheable prefix first, maps the provider's usage into the ledger's buckets, and retries
//! 429s (honouring `Retry-After`), 5xx and timeouts within a time budget ([`RetryPolicy`]).
//! Keys come from a [`KeySource`] and are never logged.
//!
//! Build the clients once (at start-up) and share them: [`Providers`] builds every configured
//! one over one shared [`Http`] (one `reqwest::Client`, its pool, one load of the root
//! certificates), and [`Providers::for_catalog`] is the domain's `ModelRegistry`.

use std::collections::HashMap;
use std::sync::Arc;

use recap_domain::catalog::Provider;
use recap_domain::generation::ModelRegistry;
use recap_domain::models::Models;

mod anthropic;
mod config;
mod gemini;
mod openai;
mod schema;
mod transport;

pub use anthropic::{ANTHROPIC_VERSION, AnthropicClient};
pub use config::{
    ATTEMPT_TIMEOUT_VAR, ApiKey, BUDGET_VAR, CACHE_WARMUP_VAR, COMPATIBLE_FORMAT_VAR,
    CompatibleEndpoint, CompatibleFormat, ConfigError, Endpoint, EnvKeys, KeySource,
    KeySourceError, ProviderConfig, ProviderKind, RetryPolicy,
};
pub use gemini::GeminiClient;
pub use openai::OpenAiClient;
pub use transport::{BuildError, Http};

/// Why [`for_provider`] could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Not one of `openai`, `anthropic`, `gemini`, `openai_compatible`: a catalog or
    /// configuration mistake, not "not configured".
    #[error("unknown provider kind {0:?}")]
    UnknownKind(String),
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The client for a provider kind (`openai`, `anthropic`, `gemini`, `openai_compatible`), or
/// `None` when it is not configured: no key (no base URL, for `openai_compatible`), in which
/// case the offline provider is the default. Each call builds a new client, with its own
/// [`Http`]: call it once per provider at start-up, or use [`Providers`], which shares one.
pub fn for_provider(
    kind: &str,
    config: &ProviderConfig,
) -> Result<Option<Arc<dyn Models>>, ProviderError> {
    let kind = ProviderKind::parse(kind).ok_or_else(|| ProviderError::UnknownKind(kind.into()))?;
    if !config.is_configured(kind) {
        return Ok(None);
    }
    let http = Http::for_policy(&config.retry)?;
    Ok(build(&http, kind, config)?)
}

fn build(
    http: &Http,
    kind: ProviderKind,
    config: &ProviderConfig,
) -> Result<Option<Arc<dyn Models>>, BuildError> {
    let retry = config.retry;
    let client: Arc<dyn Models> = match kind {
        ProviderKind::OpenAi => {
            let Some(key) = config.openai.key.clone() else {
                return Ok(None);
            };
            Arc::new(OpenAiClient::openai(
                http,
                &config.openai.base_url,
                key,
                retry,
            )?)
        }
        ProviderKind::Anthropic => {
            let Some(key) = config.anthropic.key.clone() else {
                return Ok(None);
            };
            Arc::new(AnthropicClient::new(
                http,
                &config.anthropic.base_url,
                key,
                retry,
            )?)
        }
        ProviderKind::Gemini => {
            let Some(key) = config.gemini.key.clone() else {
                return Ok(None);
            };
            Arc::new(GeminiClient::new(
                http,
                &config.gemini.base_url,
                key,
                retry,
            )?)
        }
        ProviderKind::OpenAiCompatible => {
            let compatible = &config.openai_compatible;
            let Some(base_url) = compatible.base_url.as_deref() else {
                return Ok(None);
            };
            Arc::new(OpenAiClient::compatible(
                http,
                base_url,
                compatible.key.clone(),
                compatible.format,
                retry,
            )?)
        }
    };
    Ok(Some(client))
}

/// Every configured provider's client, built once, sharing one [`Http`] (one load of the
/// system's root certificates, whatever the number of providers).
#[derive(Clone, Default)]
pub struct Providers {
    clients: HashMap<ProviderKind, Arc<dyn Models>>,
    cache_warmup: std::time::Duration,
}

impl Providers {
    pub fn from_config(config: &ProviderConfig) -> Result<Self, BuildError> {
        let mut clients = HashMap::new();
        let cache_warmup = config.cache_warmup;
        if !ProviderKind::ALL.iter().any(|k| config.is_configured(*k)) {
            return Ok(Self {
                clients,
                cache_warmup,
            });
        }
        let http = Http::for_policy(&config.retry)?;
        for kind in ProviderKind::ALL {
            if let Some(client) = build(&http, kind, config)? {
                clients.insert(kind, client);
            }
        }
        Ok(Self {
            clients,
            cache_warmup,
        })
    }

    /// The client for a catalog provider name; `None` when unknown or not configured.
    pub fn get(&self, kind: &str) -> Option<Arc<dyn Models>> {
        self.clients.get(&ProviderKind::parse(kind)?).cloned()
    }

    /// The registry the generate use case asks by catalog provider *id* (`google`,
    /// `self_hosted`, …): each catalog provider gets the client of its `kind`. Build it from the
    /// catalog as read once (at start-up, or on the first job: `recap_lambda::CatalogOnFirstUse`);
    /// a provider added later is unknown until the next start.
    pub fn for_catalog(&self, catalog: &[Provider]) -> CatalogModels {
        let clients = catalog
            .iter()
            .filter_map(|p| Some((p.id.clone(), self.get(&p.kind)?)))
            .collect();
        CatalogModels {
            clients,
            cache_warmup: self.cache_warmup,
        }
    }

    /// The configured kinds, in [`ProviderKind::ALL`] order.
    pub fn kinds(&self) -> Vec<ProviderKind> {
        ProviderKind::ALL
            .into_iter()
            .filter(|k| self.clients.contains_key(k))
            .collect()
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("configured", &self.kinds())
            .finish()
    }
}

/// Configured clients by catalog provider id: see [`Providers::for_catalog`].
#[derive(Clone, Default)]
pub struct CatalogModels {
    clients: HashMap<String, Arc<dyn Models>>,
    cache_warmup: std::time::Duration,
}

impl CatalogModels {
    /// The wait of [`ModelRegistry::cache_warmup`] for every configured provider.
    pub fn with_cache_warmup(mut self, warmup: std::time::Duration) -> Self {
        self.cache_warmup = warmup;
        self
    }
}

impl ModelRegistry for CatalogModels {
    fn models(&self, provider: &str) -> Option<Arc<dyn Models>> {
        self.clients.get(provider).cloned()
    }

    fn cache_warmup(&self, provider: &str) -> std::time::Duration {
        if self.clients.contains_key(provider) {
            self.cache_warmup
        } else {
            std::time::Duration::ZERO
        }
    }

    fn sleep(
        &self,
        d: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

impl std::fmt::Debug for CatalogModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.clients.keys().collect();
        ids.sort();
        f.debug_struct("CatalogModels")
            .field("configured", &ids)
            .finish()
    }
}
