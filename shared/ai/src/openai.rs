//! OpenAI Chat Completions, and servers that speak it (vLLM, Ollama, OpenRouter).
//!
//! `POST {base}/chat/completions` with `response_format: {type: "json_schema", json_schema:
//! {name, schema, strict: true}}`, the schema's objects closed as strict mode demands
//! ([`crate::schema::openai_schema`]; `strict: false` when it cannot take the schema). The
//! transcript opens the only user message and the instructions follow it, so that the prompt's
//! prefix is the same for every output type of a transcript (OpenAI and vLLM cache by prefix;
//! but see the README on the schema's place in OpenAI's cache key). One string rather than
//! content parts or two user messages: some servers' chat templates refuse both.

use async_trait::async_trait;
use recap_domain::models::{ModelAnswer, ModelError, ModelRequest, Models};
use recap_domain::money::Usage;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{ApiKey, CompatibleFormat, RetryPolicy};
use crate::schema::{openai_schema, wire_name};
use crate::transport::{BuildError, Http, Transport};

/// Which flavour of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// api.openai.com: `max_completion_tokens` (`max_tokens` is refused by reasoning models).
    OpenAi,
    /// Other servers: `max_tokens`, which they all accept.
    Compatible(CompatibleFormat),
}

#[derive(Debug, Clone)]
pub struct OpenAiClient {
    transport: Transport,
    url: String,
    dialect: Dialect,
}

impl OpenAiClient {
    /// api.openai.com (or a stand-in at `base_url`, e.g. `https://api.openai.com/v1`).
    pub fn openai(
        http: &Http,
        base_url: &str,
        key: ApiKey,
        retry: RetryPolicy,
    ) -> Result<Self, BuildError> {
        let auth = ("authorization", format!("Bearer {}", key.expose()));
        Ok(Self {
            transport: Transport::new(http, "openai", Some(key), Some(auth), &[], retry)?,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            dialect: Dialect::OpenAi,
        })
    }

    /// An OpenAI-compatible server at `base_url` (e.g. `http://localhost:11434/v1`); `key`,
    /// when given, is sent as a bearer token.
    pub fn compatible(
        http: &Http,
        base_url: &str,
        key: Option<ApiKey>,
        format: CompatibleFormat,
        retry: RetryPolicy,
    ) -> Result<Self, BuildError> {
        let auth = key
            .as_ref()
            .map(|k| ("authorization", format!("Bearer {}", k.expose())));
        Ok(Self {
            transport: Transport::new(http, "openai_compatible", key, auth, &[], retry)?,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            dialect: Dialect::Compatible(format),
        })
    }

    fn body(&self, request: &ModelRequest) -> Value {
        let schema_name = wire_name(&request.schema_name);
        let (schema, strict) = openai_schema(&request.json_schema);
        if !strict {
            tracing::debug!(schema = %schema_name, "optional properties or open objects: not strict");
        }
        let json_schema = json!({
            "type": "json_schema",
            "json_schema": { "name": schema_name, "schema": schema, "strict": strict }
        });
        let (response_format, prompt) = match self.dialect {
            Dialect::OpenAi | Dialect::Compatible(CompatibleFormat::JsonSchema) => (
                json_schema,
                format!("{}\n\n{}", request.cacheable_prefix, request.instructions),
            ),
            Dialect::Compatible(CompatibleFormat::JsonObject) => (
                json!({ "type": "json_object" }),
                format!(
                    "{}\n\n{}\n\nAnswer with one JSON object, and nothing else, valid against \
                     this JSON Schema:\n{}",
                    request.cacheable_prefix, request.instructions, request.json_schema
                ),
            ),
        };
        let max_tokens_field = match self.dialect {
            Dialect::OpenAi => "max_completion_tokens",
            Dialect::Compatible(_) => "max_tokens",
        };
        json!({
            "model": request.model,
            "messages": [ { "role": "user", "content": prompt } ],
            "response_format": response_format,
            max_tokens_field: request.max_output_tokens,
        })
    }
}

#[async_trait]
impl Models for OpenAiClient {
    #[tracing::instrument(skip_all, fields(provider = self.transport.provider, model = %request.model))]
    async fn call(&self, request: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        let body = serde_json::to_vec(&self.body(request))
            .map_err(|e| ModelError::Rejected(format!("request not serializable: {e}")))?;
        let answer = self.transport.post(&self.url, body).await?;
        read_answer(&answer, &request.model)
    }
}

#[derive(Deserialize)]
struct Completion {
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    refusal: Option<String>,
}

/// `prompt_tokens` includes `prompt_tokens_details.cached_tokens`; `completion_tokens`
/// includes `completion_tokens_details.reasoning_tokens`.
#[derive(Deserialize)]
struct CompletionUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl From<CompletionUsage> for Usage {
    fn from(u: CompletionUsage) -> Self {
        let cached = u
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0);
        let reasoning = u
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0);
        Usage {
            uncached_input: u.prompt_tokens.saturating_sub(cached),
            cache_read: cached,
            cache_write: 0,
            output: u.completion_tokens.saturating_sub(reasoning),
            reasoning,
        }
    }
}

fn read_answer(body: &[u8], requested: &str) -> Result<ModelAnswer, ModelError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| ModelError::Malformed(format!("not a chat completion: {e}")))?;
    // An answer without usage cannot be metered; it is not the documented shape either.
    let usage = completion
        .usage
        .ok_or_else(|| ModelError::Malformed("the completion has no usage".into()))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ModelError::Malformed("the completion has no choices".into()))?;
    let text = choice.message.content.unwrap_or_default();
    if text.is_empty()
        && let Some(refusal) = choice.message.refusal
    {
        return Err(ModelError::Rejected(format!(
            "the model refused: {refusal}"
        )));
    }
    if choice.finish_reason.as_deref() != Some("stop") {
        // "length" cuts the JSON short; the caller's validation sees it. The usage still counts.
        tracing::warn!(finish_reason = ?choice.finish_reason, "the answer did not end normally");
    }
    Ok(ModelAnswer {
        text,
        usage: usage.into(),
        model: completion.model.unwrap_or_else(|| requested.to_owned()),
    })
}
