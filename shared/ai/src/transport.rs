//! One POST with retries within a time budget, and the mapping of HTTP outcomes to
//! [`ModelError`]. Shared by every provider: their error bodies all carry `error.message`.

use std::time::{Duration, Instant, SystemTime};

use recap_domain::models::ModelError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use crate::config::{ApiKey, RetryPolicy};

/// One provider's HTTP client and the fixed parts of its requests. Built once, reused.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub provider: &'static str,
    http: reqwest::Client,
    headers: HeaderMap,
    key: Option<ApiKey>,
    retry: RetryPolicy,
}

/// Why the client could not be built (the TLS stack failed to start).
#[derive(Debug, thiserror::Error)]
#[error("could not build the {provider} client")]
pub struct BuildError {
    pub provider: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl BuildError {
    pub(crate) fn new(
        provider: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            provider,
            source: source.into(),
        }
    }
}

/// The HTTP client the provider clients share (a cheap handle: clones share one pool).
///
/// Building one loads the system's root certificates (rustls over ring, the provider the AWS
/// SDK's client already links): milliseconds each time, so build it once per process and hand
/// it to every provider client.
#[derive(Debug, Clone)]
pub struct Http(reqwest::Client);

impl Http {
    /// `connect_timeout` bounds the TCP and TLS handshakes; each attempt as a whole is bounded
    /// by [`RetryPolicy::attempt_timeout`].
    pub fn new(connect_timeout: Duration) -> Result<Self, BuildError> {
        // reqwest is built with `rustls-no-provider`: it uses the process's default provider,
        // which is ring unless the embedding program installed another one first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .user_agent(concat!("recap/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(connect_timeout)
            .build()
            .map(Self)
            .map_err(|e| BuildError::new("http", e))
    }

    /// With a connect timeout fitted to `retry`.
    pub fn for_policy(retry: &RetryPolicy) -> Result<Self, BuildError> {
        Self::new(retry.attempt_timeout.min(Duration::from_secs(10)))
    }
}

/// How one attempt ended, when it did not succeed.
#[derive(Debug)]
enum Failure {
    /// 429: wait what the provider asked, or back off.
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, a timeout, a dropped connection: back off and try again.
    Unavailable(String),
    /// Retrying cannot help.
    Final(ModelError),
}

impl Transport {
    /// `auth` is the header carrying the key, e.g. `("authorization", "Bearer …")`; it is marked
    /// sensitive so that no HTTP-level debug output shows it.
    pub(crate) fn new(
        http: &Http,
        provider: &'static str,
        key: Option<ApiKey>,
        auth: Option<(&'static str, String)>,
        extra: &[(&'static str, &'static str)],
        retry: RetryPolicy,
    ) -> Result<Self, BuildError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in extra {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        if let Some((name, value)) = auth {
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| BuildError::new(provider, "the key is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(Self {
            provider,
            http: http.0.clone(),
            headers,
            key,
            retry,
        })
    }

    /// POSTs `body` to `url` until a 2xx, a final error, or the end of the budget; returns the
    /// 2xx body.
    pub(crate) async fn post(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, ModelError> {
        let policy = &self.retry;
        let started = Instant::now();
        let mut retries: u32 = 0;
        let mut last: Option<ModelError> = None;
        loop {
            let left = policy.budget.saturating_sub(started.elapsed());
            let limit = policy.attempt_timeout.min(left);
            let failure = match tokio::time::timeout(limit, self.attempt(url, body.clone())).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(failure)) => failure,
                // An attempt cut short by the budget says nothing about the provider; the
                // failure that made us retry is the one to report.
                Err(_) => match last.take() {
                    Some(previous) if limit < policy.attempt_timeout => {
                        tracing::warn!(
                            provider = self.provider,
                            attempts = retries + 1,
                            error = %previous,
                            "giving up: the time budget is spent"
                        );
                        return Err(previous);
                    }
                    _ => Failure::Unavailable(format!("no answer within {limit:?}")),
                },
            };
            let (wait, error) = match failure {
                Failure::Final(error) => return Err(error),
                // At least what the provider asked; the backoff keeps a `Retry-After: 0`
                // from becoming a busy loop.
                Failure::RateLimited { retry_after } => (
                    retry_after
                        .unwrap_or_default()
                        .max(backoff(policy, retries)),
                    ModelError::RateLimited { retry_after },
                ),
                Failure::Unavailable(why) => (
                    backoff(policy, retries),
                    ModelError::Unavailable(format!("{}: {why}", self.provider)),
                ),
            };
            let left = policy.budget.saturating_sub(started.elapsed());
            if wait >= left {
                tracing::warn!(
                    provider = self.provider,
                    attempts = retries + 1,
                    %error,
                    "giving up: the wait would outlast the time budget"
                );
                return Err(error);
            }
            retries += 1;
            last = Some(error.clone());
            tracing::info!(
                provider = self.provider,
                retry = retries,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                %error,
                "retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, Failure> {
        let response = self
            .http
            .post(url)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Unavailable(transport_error(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Unavailable(transport_error(&e)))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(self.classify(status, &headers, &body))
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Failure {
        let error = ErrorBody::parse(body, self.key.as_ref());
        let message = || format!("HTTP {}: {}", status.as_u16(), error.message(status));
        match status {
            StatusCode::TOO_MANY_REQUESTS if error.quota_exhausted() => {
                // Out of money, not out of rate: waiting a minute does not help.
                Failure::Final(ModelError::Rejected(message()))
            }
            StatusCode::TOO_MANY_REQUESTS => Failure::RateLimited {
                retry_after: retry_after(headers, SystemTime::now()),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                tracing::warn!(provider = self.provider, detail = %message(), "credentials refused");
                Failure::Final(ModelError::Unauthorized)
            }
            _ if error.api_key_invalid() => {
                // Gemini answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
                tracing::warn!(provider = self.provider, detail = %message(), "credentials refused");
                Failure::Final(ModelError::Unauthorized)
            }
            StatusCode::REQUEST_TIMEOUT => Failure::Unavailable(message()),
            _ if status.is_server_error() => Failure::Unavailable(message()),
            _ => Failure::Final(ModelError::Rejected(message())),
        }
    }
}

/// reqwest's error, with its source chain: "error sending request" alone says little.
fn transport_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Full jitter: uniform in `[0, min(max_delay, base_delay × 2^retries)]`.
pub(crate) fn backoff(policy: &RetryPolicy, retries: u32) -> Duration {
    let cap = policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(retries.min(31)))
        .min(policy.max_delay);
    let cap_micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(fastrand::u64(0..=cap_micros))
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past means
/// now. `retry-after-ms`, which OpenAI-style servers send, takes precedence when present.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms));
    }
    let value = text(RETRY_AFTER.as_str())?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What the providers put in an error body: OpenAI `{error: {message, type, code}}`,
/// Anthropic `{type: "error", error: {type, message}}`, Gemini
/// `{error: {code, message, status, details}}`, vLLM `{message, type, code}`, others plain text.
struct ErrorBody {
    json: Option<Value>,
    text: String,
}

impl ErrorBody {
    fn parse(body: &[u8], key: Option<&ApiKey>) -> Self {
        let mut text = String::from_utf8_lossy(body).trim().to_owned();
        // Providers echo keys back in 401 messages (OpenAI masks them; not every server does).
        if let Some(key) = key {
            text = text.replace(key.expose(), "<redacted>");
        }
        Self {
            json: serde_json::from_str(&text).ok(),
            text,
        }
    }

    fn message(&self, status: StatusCode) -> String {
        let from_json = self.json.as_ref().and_then(|json| {
            let error = json.get("error");
            error
                .and_then(|e| e.get("message"))
                .or(error.filter(|e| e.is_string()))
                .or_else(|| json.get("message"))
                .or_else(|| json.get("detail"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let message = from_json.unwrap_or_else(|| self.text.clone());
        let message = message.trim();
        if message.is_empty() {
            return status.canonical_reason().unwrap_or("no message").to_owned();
        }
        truncate(message, 500)
    }

    fn strings_at(&self, pointers: &[&str]) -> Vec<&str> {
        let Some(json) = &self.json else {
            return Vec::new();
        };
        pointers
            .iter()
            .filter_map(|p| json.pointer(p).and_then(Value::as_str))
            .collect()
    }

    /// OpenAI's `insufficient_quota`; Anthropic's monthly spend cap.
    fn quota_exhausted(&self) -> bool {
        self.strings_at(&["/error/code", "/error/type", "/error/details/error_code"])
            .iter()
            .any(|s| matches!(*s, "insufficient_quota" | "enforced_spend_limit_reached"))
    }

    fn api_key_invalid(&self) -> bool {
        let Some(details) = self
            .json
            .as_ref()
            .and_then(|j| j.pointer("/error/details"))
            .and_then(Value::as_array)
        else {
            return false;
        };
        details
            .iter()
            .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_seconds_dates_and_garbage() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let at = |pairs| retry_after(&headers(pairs), now);
        assert_eq!(at(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(at(&[("retry-after", " 0 ")]), Some(Duration::ZERO));
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(
            at(&[("retry-after", "7"), ("retry-after-ms", "250")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(at(&[("retry-after", "soon")]), None);
        assert_eq!(at(&[("retry-after", "-3")]), None);
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn backoff_is_full_jitter_under_a_growing_cap() {
        let policy = RetryPolicy {
            budget: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(10),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for (retries, cap) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            let waits: Vec<Duration> = (0..200).map(|_| backoff(&policy, retries)).collect();
            let cap = Duration::from_millis(cap);
            assert!(
                waits.iter().all(|w| *w <= cap),
                "retry {retries}: over {cap:?}"
            );
            // Jitter spreads the waits: not all at the cap, some in its lower half.
            assert!(
                waits.iter().any(|w| *w < cap / 2),
                "retry {retries}: no jitter"
            );
        }
    }

    #[test]
    fn error_messages_from_each_provider_shape() {
        let message =
            |body: &str| ErrorBody::parse(body.as_bytes(), None).message(StatusCode::BAD_REQUEST);
        assert_eq!(
            message(
                r#"{"error":{"message":"Invalid schema","type":"invalid_request_error","param":null,"code":null}}"#
            ),
            "Invalid schema"
        );
        assert_eq!(
            message(
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"},"request_id":"req_1"}"#
            ),
            "max_tokens: too big"
        );
        assert_eq!(
            message(
                r#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#
            ),
            "Invalid JSON payload"
        );
        assert_eq!(
            message(
                r#"{"object":"error","message":"model not found","type":"NotFoundError","code":404}"#
            ),
            "model not found"
        );
        assert_eq!(
            message(r#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(message("upstream connect error"), "upstream connect error");
        assert_eq!(message(""), "Bad Request");
        assert_eq!(message(&"x".repeat(600)).chars().count(), 501);
    }

    #[test]
    fn echoed_keys_are_scrubbed_from_messages() {
        let key = ApiKey::new("sk-live-123").unwrap();
        let body = ErrorBody::parse(
            br#"{"error":{"message":"Incorrect API key provided: sk-live-123"}}"#,
            Some(&key),
        );
        assert_eq!(
            body.message(StatusCode::UNAUTHORIZED),
            "Incorrect API key provided: <redacted>"
        );
    }
}
