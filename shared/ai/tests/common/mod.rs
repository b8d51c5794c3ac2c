//! A scripted fake provider on 127.0.0.1 (axum on port 0), and each provider's documented
//! response and error shapes.
#![allow(dead_code)] // each test binary uses part of it

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use recap_ai::{ProviderConfig, RetryPolicy, for_provider};
use recap_domain::models::{ModelRequest, Models};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the fake saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub wall: SystemTime,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
struct FakeState {
    script: Arc<Vec<Reply>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub struct Fake {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Answers the n-th request with `script[n]`, and every request past the end with the
    /// last reply.
    pub async fn start(script: Vec<Reply>) -> Self {
        assert!(!script.is_empty());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState {
            script: Arc::new(script),
            seen: seen.clone(),
        };
        let app = axum::Router::new().fallback(answer).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn answer(
    State(state): State<FakeState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = {
        let mut seen = state.seen.lock().unwrap();
        seen.push(Seen {
            at: Instant::now(),
            wall: SystemTime::now(),
            path: uri.path().to_owned(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        seen.len() - 1
    };
    let reply = state.script[n.min(state.script.len() - 1)].clone();
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}

/// Quick retries for tests: what the production defaults do in seconds, in milliseconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(5),
        attempt_timeout: Duration::from_millis(500),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

pub const KEY: &str = "sk-test-0123456789";

pub fn request(model: &str) -> ModelRequest {
    ModelRequest {
        model: model.into(),
        cacheable_prefix: "[s1] Alice: We ship on Friday.\n[s2] Bob: Agreed.".into(),
        instructions: "Write a one-pager. Cite segment ids.".into(),
        schema_name: "one_pager".into(),
        json_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "required": ["title", "points"],
            "properties": {
                "title": { "type": "string" },
                "points": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["text", "segment_ids"],
                        "properties": {
                            "text": { "type": "string" },
                            "segment_ids": { "type": "array", "items": { "type": "string" } }
                        }
                    }
                }
            }
        }),
        max_output_tokens: 1_500,
    }
}

/// The JSON every fake model answers.
pub fn answer_json() -> Value {
    json!({ "title": "Ship Friday", "points": [ { "text": "Ship on Friday", "segment_ids": ["s1", "s2"] } ] })
}

/// The four wire formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
    Compatible,
}

impl Wire {
    pub const ALL: [Wire; 4] = [
        Wire::OpenAi,
        Wire::Anthropic,
        Wire::Gemini,
        Wire::Compatible,
    ];

    pub fn kind(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
            Wire::Gemini => "gemini",
            Wire::Compatible => "openai_compatible",
        }
    }

    pub fn model(self) -> &'static str {
        match self {
            Wire::OpenAi => "gpt-4o-mini",
            Wire::Anthropic => "claude-sonnet-4-5",
            Wire::Gemini => "gemini-2.5-flash",
            Wire::Compatible => "llama3.1:8b",
        }
    }

    /// The path the client must POST to, under the fake's root.
    pub fn path(self) -> String {
        match self {
            Wire::OpenAi | Wire::Compatible => "/v1/chat/completions".into(),
            Wire::Anthropic => "/v1/messages".into(),
            Wire::Gemini => format!("/v1beta/models/{}:generateContent", self.model()),
        }
    }

    /// A configuration from variables, as a deployment would set them, pointing at `fake`.
    pub fn config(self, fake_url: &str, extra: &[(&str, &str)]) -> ProviderConfig {
        let mut vars: Vec<(String, String)> = match self {
            Wire::OpenAi => vec![
                ("OPENAI_API_KEY".into(), KEY.into()),
                ("RECAP_OPENAI_BASE_URL".into(), format!("{fake_url}/v1")),
            ],
            Wire::Anthropic => vec![
                ("ANTHROPIC_API_KEY".into(), KEY.into()),
                ("RECAP_ANTHROPIC_BASE_URL".into(), format!("{fake_url}/v1")),
            ],
            Wire::Gemini => vec![
                ("GEMINI_API_KEY".into(), KEY.into()),
                ("RECAP_GEMINI_BASE_URL".into(), format!("{fake_url}/v1beta")),
            ],
            Wire::Compatible => vec![
                ("RECAP_OPENAI_COMPATIBLE_API_KEY".into(), KEY.into()),
                (
                    "RECAP_OPENAI_COMPATIBLE_BASE_URL".into(),
                    format!("{fake_url}/v1/"),
                ),
            ],
        };
        vars.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        let mut config = ProviderConfig::from_vars(&|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        config.retry = fast_retry();
        config
    }

    pub fn client(self, config: &ProviderConfig) -> Arc<dyn Models> {
        for_provider(self.kind(), config)
            .unwrap()
            .unwrap_or_else(|| panic!("{self:?} not configured"))
    }

    pub fn client_with(self, fake: &Fake, retry: RetryPolicy) -> Arc<dyn Models> {
        let mut config = self.config(&fake.url, &[]);
        config.retry = retry;
        self.client(&config)
    }

    /// A documented success body whose answer is `answer` and with a plain usage report.
    pub fn success(self, answer: &Value) -> Value {
        match self {
            Wire::OpenAi | Wire::Compatible => json!({
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1_727_000_000,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{
                    "index": 0,
                    "message": { "role": "assistant", "content": answer.to_string(), "refusal": null },
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": { "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120 }
            }),
            Wire::Anthropic => json!({
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [{ "type": "tool_use", "id": "toolu_01", "name": "one_pager", "input": answer }],
                "stop_reason": "tool_use",
                "stop_sequence": null,
                "usage": { "input_tokens": 100, "output_tokens": 20,
                           "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0 }
            }),
            Wire::Gemini => json!({
                "candidates": [{
                    "content": { "role": "model", "parts": [ { "text": answer.to_string() } ] },
                    "finishReason": "STOP",
                    "index": 0
                }],
                "usageMetadata": { "promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120 },
                "modelVersion": "gemini-2.5-flash"
            }),
        }
    }

    /// The provider's documented error body for `status`.
    pub fn error(self, status: u16, message: &str) -> Value {
        match self {
            Wire::OpenAi | Wire::Compatible => {
                let kind = match status {
                    401 => "invalid_request_error",
                    429 => "rate_limit_exceeded",
                    s if s >= 500 => "server_error",
                    _ => "invalid_request_error",
                };
                json!({ "error": { "message": message, "type": kind, "param": null, "code": null } })
            }
            Wire::Anthropic => {
                let kind = match status {
                    401 => "authentication_error",
                    403 => "permission_error",
                    429 => "rate_limit_error",
                    529 => "overloaded_error",
                    s if s >= 500 => "api_error",
                    _ => "invalid_request_error",
                };
                json!({ "type": "error", "error": { "type": kind, "message": message }, "request_id": "req_011" })
            }
            Wire::Gemini => {
                let kind = match status {
                    401 => "UNAUTHENTICATED",
                    403 => "PERMISSION_DENIED",
                    429 => "RESOURCE_EXHAUSTED",
                    503 => "UNAVAILABLE",
                    s if s >= 500 => "INTERNAL",
                    _ => "INVALID_ARGUMENT",
                };
                json!({ "error": { "code": status, "message": message, "status": kind } })
            }
        }
    }

    pub fn ok(self) -> Reply {
        Reply::json(200, self.success(&answer_json()))
    }

    pub fn fail(self, status: u16, message: &str) -> Reply {
        Reply::json(status, self.error(status, message))
    }
}
