//! Which providers are configured, where they live, and their keys.
//!
//! Locally everything comes from the process environment ([`ProviderConfig::from_env`]). In
//! Lambda the settings still come from the environment, but the keys come from a
//! [`KeySource`] that reads Secrets Manager or SSM Parameter Store, given the parameter *names*
//! in the environment ([`ProviderKind::key_parameter_var`]); see [`ProviderConfig::load`].

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// A provider's secret. Its `Debug` never shows it, it has no `Display`, and it is sent only in
/// headers marked sensitive.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for a blank value: an empty variable means "not configured", not "empty key".
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(Self(trimmed.to_owned()))
        }
    }

    /// The secret itself, for building the request's header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The provider families this crate speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Gemini,
    /// Any server speaking OpenAI's Chat Completions: vLLM, Ollama, OpenRouter, …
    OpenAiCompatible,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::OpenAiCompatible,
    ];

    /// The name the catalog and [`crate::for_provider`] use.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::OpenAiCompatible => "openai_compatible",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The variable that holds the key itself (local runs).
    pub fn key_var(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OPENAI_API_KEY",
            ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
            ProviderKind::Gemini => "GEMINI_API_KEY",
            ProviderKind::OpenAiCompatible => "RECAP_OPENAI_COMPATIBLE_API_KEY",
        }
    }

    /// The variable that holds the *name* of the SSM parameter that holds the key (Lambda).
    /// Read by the generate function's [`KeySource`], never by this crate.
    pub fn key_parameter_var(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "RECAP_OPENAI_API_KEY_PARAMETER",
            ProviderKind::Anthropic => "RECAP_ANTHROPIC_API_KEY_PARAMETER",
            ProviderKind::Gemini => "RECAP_GEMINI_API_KEY_PARAMETER",
            ProviderKind::OpenAiCompatible => "RECAP_OPENAI_COMPATIBLE_API_KEY_PARAMETER",
        }
    }

    /// The variable that overrides the base URL (tests, proxies, self-hosted servers).
    pub fn base_url_var(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "RECAP_OPENAI_BASE_URL",
            ProviderKind::Anthropic => "RECAP_ANTHROPIC_BASE_URL",
            ProviderKind::Gemini => "RECAP_GEMINI_BASE_URL",
            ProviderKind::OpenAiCompatible => "RECAP_OPENAI_COMPATIBLE_BASE_URL",
        }
    }

    /// The public API's base URL, version segment included. None for OpenAI-compatible
    /// servers: there is no default one.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com/v1"),
            ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com/v1beta"),
            ProviderKind::OpenAiCompatible => None,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an OpenAI-compatible server is asked for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompatibleFormat {
    /// `response_format: {type: "json_schema", …, strict: true}` (vLLM, recent Ollama,
    /// OpenRouter for models that support it).
    #[default]
    JsonSchema,
    /// `response_format: {type: "json_object"}` with the schema written into the prompt, for
    /// servers that only know JSON mode. The answer is then not enforced by the server; the
    /// caller's schema validation (and its repair attempt) does the rest.
    JsonObject,
}

/// Retries within a time budget.
///
/// Each call makes attempts of at most `attempt_timeout` (cut to what is left of `budget`);
/// 5xx, timeouts and connection failures wait a full-jitter exponential backoff
/// (`random(0, min(max_delay, base_delay × 2^n))`), 429s the longer of that and `Retry-After`. When the next wait
/// would end past the budget, the call fails with the last error instead of sleeping in vain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub budget: Duration,
    pub attempt_timeout: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// A structured answer of a few thousand tokens routinely takes 30–90 s, so one attempt
    /// may take 90 s and the whole call 120 s; the generate function's timeout (and its queue's
    /// visibility timeout) must be longer than `budget`.
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(90),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Where one provider lives and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// With the API version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub key: Option<ApiKey>,
}

/// An OpenAI-compatible server: configured by its base URL; the key is optional (a local
/// Ollama or vLLM needs none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompatibleEndpoint {
    /// E.g. `http://localhost:11434/v1` (Ollama), `http://vllm:8000/v1`,
    /// `https://openrouter.ai/api/v1`.
    pub base_url: Option<String>,
    pub key: Option<ApiKey>,
    pub format: CompatibleFormat,
}

/// Everything the provider clients need. `Debug` shows no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub openai: Endpoint,
    pub anthropic: Endpoint,
    pub gemini: Endpoint,
    pub openai_compatible: CompatibleEndpoint,
    pub retry: RetryPolicy,
    /// How long the other outputs of one request wait after the first one's call starts, so
    /// that the provider has cached the shared transcript (about the time to a first token).
    pub cache_warmup: Duration,
}

/// Variables read besides the keys and base URLs.
pub const COMPATIBLE_FORMAT_VAR: &str = "RECAP_OPENAI_COMPATIBLE_RESPONSE_FORMAT";
pub const BUDGET_VAR: &str = "RECAP_AI_RETRY_BUDGET_SECS";
pub const ATTEMPT_TIMEOUT_VAR: &str = "RECAP_AI_ATTEMPT_TIMEOUT_SECS";
/// Milliseconds, 0 (no wait) to [`MAX_CACHE_WARMUP`]; [`DEFAULT_CACHE_WARMUP`] when unset.
pub const CACHE_WARMUP_VAR: &str = "RECAP_CACHE_WARMUP_MS";
pub const DEFAULT_CACHE_WARMUP: Duration = Duration::from_millis(1_500);
pub const MAX_CACHE_WARMUP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} must be {expected}, not {value:?}")]
    Invalid {
        var: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error(transparent)]
    Key(#[from] KeySourceError),
}

impl ProviderConfig {
    /// Locally: settings and keys from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&|name| std::env::var(name).ok())
    }

    /// Settings and keys from `vars` (a lookup of environment variables; tests pass a map).
    pub fn from_vars(vars: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::settings(vars)?;
        for kind in ProviderKind::ALL {
            config.set_key(kind, vars(kind.key_var()).and_then(ApiKey::new));
        }
        Ok(config)
    }

    /// In Lambda: settings from `vars`, keys from `keys` (e.g. an SSM-backed [`KeySource`]).
    pub async fn load(
        vars: &(dyn Fn(&str) -> Option<String> + Sync),
        keys: &dyn KeySource,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::settings(vars)?;
        for kind in ProviderKind::ALL {
            config.set_key(kind, keys.key(kind).await?);
        }
        Ok(config)
    }

    /// The kinds `vars` configures, without reading any key: a key in the environment, or the
    /// name of the parameter that holds it ([`ProviderKind::key_parameter_var`]); for
    /// OpenAI-compatible servers, the base URL. What a function that never calls a model needs
    /// to know (which providers a request may name); the settings are checked as `from_vars`
    /// checks them.
    pub fn configured_kinds(
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<ProviderKind>, ConfigError> {
        let config = Self::from_vars(vars)?;
        let named = |kind: ProviderKind| {
            vars(kind.key_parameter_var()).is_some_and(|v| !v.trim().is_empty())
        };
        Ok(ProviderKind::ALL
            .into_iter()
            .filter(|&kind| {
                config.is_configured(kind)
                    || (kind != ProviderKind::OpenAiCompatible && named(kind))
            })
            .collect())
    }

    /// Whether [`crate::for_provider`] would build a client for `kind`.
    pub fn is_configured(&self, kind: ProviderKind) -> bool {
        match kind {
            ProviderKind::OpenAi => self.openai.key.is_some(),
            ProviderKind::Anthropic => self.anthropic.key.is_some(),
            ProviderKind::Gemini => self.gemini.key.is_some(),
            ProviderKind::OpenAiCompatible => self.openai_compatible.base_url.is_some(),
        }
    }

    fn set_key(&mut self, kind: ProviderKind, key: Option<ApiKey>) {
        match kind {
            ProviderKind::OpenAi => self.openai.key = key,
            ProviderKind::Anthropic => self.anthropic.key = key,
            ProviderKind::Gemini => self.gemini.key = key,
            ProviderKind::OpenAiCompatible => self.openai_compatible.key = key,
        }
    }

    fn settings(vars: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let endpoint = |kind: ProviderKind| Endpoint {
            base_url: set(kind.base_url_var())
                .or_else(|| kind.default_base_url().map(str::to_owned))
                .map(|url| url.trim().trim_end_matches('/').to_owned())
                .unwrap_or_default(),
            key: None,
        };
        let format = match set(COMPATIBLE_FORMAT_VAR).as_deref().map(str::trim) {
            None | Some("json_schema") => CompatibleFormat::JsonSchema,
            Some("json_object") => CompatibleFormat::JsonObject,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: COMPATIBLE_FORMAT_VAR,
                    expected: "json_schema or json_object",
                    value: other.to_owned(),
                });
            }
        };
        let mut retry = RetryPolicy::default();
        if let Some(secs) = seconds(&set, BUDGET_VAR)? {
            retry.budget = secs;
        }
        if let Some(secs) = seconds(&set, ATTEMPT_TIMEOUT_VAR)? {
            retry.attempt_timeout = secs;
        }
        let cache_warmup = match set(CACHE_WARMUP_VAR) {
            None => DEFAULT_CACHE_WARMUP,
            Some(value) => match value.trim().parse::<u64>().map(Duration::from_millis) {
                Ok(ms) if ms <= MAX_CACHE_WARMUP => ms,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: CACHE_WARMUP_VAR,
                        expected: "a whole number of milliseconds from 0 to 60000",
                        value,
                    });
                }
            },
        };
        Ok(Self {
            openai: endpoint(ProviderKind::OpenAi),
            anthropic: endpoint(ProviderKind::Anthropic),
            gemini: endpoint(ProviderKind::Gemini),
            openai_compatible: CompatibleEndpoint {
                base_url: set(ProviderKind::OpenAiCompatible.base_url_var())
                    .map(|url| url.trim().trim_end_matches('/').to_owned()),
                key: None,
                format,
            },
            retry,
            cache_warmup,
        })
    }
}

fn seconds(
    set: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Option<Duration>, ConfigError> {
    let Some(value) = set(var) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Some(Duration::from_secs(secs))),
        _ => Err(ConfigError::Invalid {
            var,
            expected: "a whole number of seconds above 0",
            value,
        }),
    }
}

/// Where keys come from. [`EnvKeys`] reads the variables named by
/// [`ProviderKind::key_var`]. The generate function's (`recap_lambda::ParameterKeys`) reads SSM
/// parameters whose names are in [`ProviderKind::key_parameter_var`], once at cold start; the
/// SDK stays out of this crate.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// `Ok(None)`: the provider is not configured (no parameter name, or a blank value).
    async fn key(&self, provider: ProviderKind) -> Result<Option<ApiKey>, KeySourceError>;
}

/// A key source failed (the parameter exists but could not be read, access denied, …).
#[derive(Debug, thiserror::Error)]
#[error("could not read the {provider} key from {source_name}")]
pub struct KeySourceError {
    pub provider: ProviderKind,
    /// Where it looked, e.g. the parameter's name; never the value.
    pub source_name: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A lookup of environment variables.
type Vars = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Keys from environment variables.
pub struct EnvKeys {
    vars: Box<Vars>,
}

impl EnvKeys {
    /// The process environment.
    pub fn process() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(vars: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            vars: Box::new(vars),
        }
    }
}

impl fmt::Debug for EnvKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnvKeys")
    }
}

#[async_trait]
impl KeySource for EnvKeys {
    async fn key(&self, provider: ProviderKind) -> Result<Option<ApiKey>, KeySourceError> {
        Ok((self.vars)(provider.key_var()).and_then(ApiKey::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn debug_never_shows_a_key() {
        let lookup = vars(&[
            ("OPENAI_API_KEY", "sk-openai-secret"),
            ("ANTHROPIC_API_KEY", "sk-ant-secret"),
            ("GEMINI_API_KEY", "AIza-gemini-secret"),
            (
                "RECAP_OPENAI_COMPATIBLE_BASE_URL",
                "http://localhost:11434/v1/",
            ),
            ("RECAP_OPENAI_COMPATIBLE_API_KEY", "compat-secret"),
        ]);
        let config = ProviderConfig::from_vars(&lookup).unwrap();
        let shown = format!("{config:?} {config:#?}");
        for secret in ["sk-openai-secret", "sk-ant-secret", "AIza", "compat-secret"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("ApiKey(<redacted>)"));
        assert_eq!(
            config.openai.key.as_ref().unwrap().expose(),
            "sk-openai-secret"
        );
        assert_eq!(
            config.openai_compatible.base_url.as_deref(),
            Some("http://localhost:11434/v1"),
            "trailing slash trimmed"
        );
    }

    #[test]
    fn defaults_without_any_variable() {
        let config = ProviderConfig::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.openai.base_url, "https://api.openai.com/v1");
        assert_eq!(config.anthropic.base_url, "https://api.anthropic.com/v1");
        assert_eq!(
            config.gemini.base_url,
            "https://generativelanguage.googleapis.com/v1beta"
        );
        for kind in ProviderKind::ALL {
            assert!(
                !config.is_configured(kind),
                "{kind} configured from nothing"
            );
        }
        assert_eq!(config.retry, RetryPolicy::default());
    }

    #[test]
    fn blank_keys_are_not_keys() {
        let config =
            ProviderConfig::from_vars(&vars(&[("OPENAI_API_KEY", "  "), ("GEMINI_API_KEY", "")]))
                .unwrap();
        assert!(config.openai.key.is_none());
        assert!(config.gemini.key.is_none());
    }

    #[test]
    fn retry_and_format_settings_are_read_and_checked() {
        let config = ProviderConfig::from_vars(&vars(&[
            (BUDGET_VAR, "300"),
            (ATTEMPT_TIMEOUT_VAR, "240"),
            (COMPATIBLE_FORMAT_VAR, "json_object"),
            (CACHE_WARMUP_VAR, "0"),
        ]))
        .unwrap();
        assert_eq!(config.cache_warmup, Duration::ZERO);
        assert_eq!(
            ProviderConfig::from_vars(&vars(&[])).unwrap().cache_warmup,
            DEFAULT_CACHE_WARMUP
        );
        assert_eq!(config.retry.budget, Duration::from_secs(300));
        assert_eq!(config.retry.attempt_timeout, Duration::from_secs(240));
        assert_eq!(
            config.openai_compatible.format,
            CompatibleFormat::JsonObject
        );

        for (var, value) in [
            (BUDGET_VAR, "0"),
            (BUDGET_VAR, "1.5"),
            (ATTEMPT_TIMEOUT_VAR, "soon"),
            (COMPATIBLE_FORMAT_VAR, "xml"),
            (CACHE_WARMUP_VAR, "1.5s"),
            (CACHE_WARMUP_VAR, "60001"),
            (CACHE_WARMUP_VAR, "-1"),
        ] {
            let err = ProviderConfig::from_vars(&vars(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn a_key_parameter_name_configures_its_provider_without_being_read() {
        let kinds = ProviderConfig::configured_kinds(&vars(&[
            ("OPENAI_API_KEY", "sk-env"),
            ("RECAP_ANTHROPIC_API_KEY_PARAMETER", "/recap/dev/anthropic"),
            ("RECAP_GEMINI_API_KEY_PARAMETER", "  "),
            // A key without the server's URL configures nothing.
            (
                "RECAP_OPENAI_COMPATIBLE_API_KEY_PARAMETER",
                "/recap/dev/compatible",
            ),
        ]))
        .unwrap();
        assert_eq!(kinds, [ProviderKind::OpenAi, ProviderKind::Anthropic]);
        let kinds = ProviderConfig::configured_kinds(&vars(&[(
            "RECAP_OPENAI_COMPATIBLE_BASE_URL",
            "http://127.0.0.1:8000/v1",
        )]))
        .unwrap();
        assert_eq!(kinds, [ProviderKind::OpenAiCompatible]);
        assert!(ProviderConfig::configured_kinds(&vars(&[(BUDGET_VAR, "soon")])).is_err());
    }

    #[tokio::test]
    async fn load_takes_keys_from_the_key_source_only() {
        // The environment has a key, the key source has another: the source wins, because in
        // Lambda the environment must not carry keys at all.
        let env = vars(&[("OPENAI_API_KEY", "from-env")]);
        let source = EnvKeys::from_vars(vars(&[("ANTHROPIC_API_KEY", "from-source")]));
        let config = ProviderConfig::load(&env, &source).await.unwrap();
        assert!(config.openai.key.is_none());
        assert_eq!(
            config.anthropic.key.as_ref().map(ApiKey::expose),
            Some("from-source")
        );
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ProviderKind::parse("offline"), None);
    }
}
