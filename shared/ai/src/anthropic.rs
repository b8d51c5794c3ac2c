//! Anthropic Messages (`POST {base}/messages`, `anthropic-version: 2023-06-01`).
//!
//! Structured output through one forced tool: the tool's `input_schema` is the answer's schema
//! and `tool_choice: {type: "tool", name}` makes the model call it; the answer is the tool
//! call's `input`. The user message holds two text blocks: the cacheable prefix first, marked
//! `cache_control: {type: "ephemeral"}`, then the instructions.
//!
//! Anthropic's cache prefix runs tools → system → messages, so the tool (the schema) is part of
//! what the transcript's cache entry is keyed on: requests with the same schema share it
//! (repairs, retries, regenerations), different output types do not. See the README.

use async_trait::async_trait;
use recap_domain::models::{ModelAnswer, ModelError, ModelRequest, Models};
use recap_domain::money::Usage;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{ApiKey, RetryPolicy};
use crate::schema::wire_name;
use crate::transport::{BuildError, Http, Transport};

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub struct AnthropicClient {
    transport: Transport,
    url: String,
}

impl AnthropicClient {
    /// `base_url` with the version segment, e.g. `https://api.anthropic.com/v1`.
    pub fn new(
        http: &Http,
        base_url: &str,
        key: ApiKey,
        retry: RetryPolicy,
    ) -> Result<Self, BuildError> {
        let auth = ("x-api-key", key.expose().to_owned());
        Ok(Self {
            transport: Transport::new(
                http,
                "anthropic",
                Some(key),
                Some(auth),
                &[("anthropic-version", ANTHROPIC_VERSION)],
                retry,
            )?,
            url: format!("{}/messages", base_url.trim_end_matches('/')),
        })
    }

    fn body(request: &ModelRequest) -> Value {
        let tool = wire_name(&request.schema_name);
        json!({
            "model": request.model,
            "max_tokens": request.max_output_tokens,
            "tools": [{
                "name": tool,
                "description": "Record the answer. The input is the whole answer, as one JSON \
                                object valid against the input schema.",
                "input_schema": request.json_schema,
            }],
            "tool_choice": { "type": "tool", "name": tool },
            "messages": [{
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": request.cacheable_prefix,
                        "cache_control": { "type": "ephemeral" },
                    },
                    { "type": "text", "text": request.instructions },
                ],
            }],
        })
    }
}

#[async_trait]
impl Models for AnthropicClient {
    #[tracing::instrument(skip_all, fields(provider = "anthropic", model = %request.model))]
    async fn call(&self, request: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        let body = serde_json::to_vec(&Self::body(request))
            .map_err(|e| ModelError::Rejected(format!("request not serializable: {e}")))?;
        let answer = self.transport.post(&self.url, body).await?;
        read_answer(&answer, &request.model)
    }
}

#[derive(Deserialize)]
struct Message {
    model: Option<String>,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: MessageUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    ToolUse {
        input: Value,
    },
    Text {
        text: String,
    },
    #[serde(other)]
    Other,
}

/// `input_tokens` excludes the cache's reads and writes, which are reported beside it.
#[derive(Deserialize)]
struct MessageUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl From<MessageUsage> for Usage {
    fn from(u: MessageUsage) -> Self {
        Usage {
            uncached_input: u.input_tokens,
            cache_read: u.cache_read_input_tokens.unwrap_or(0),
            cache_write: u.cache_creation_input_tokens.unwrap_or(0),
            // Claude's thinking, when on, is billed and reported as output.
            output: u.output_tokens,
            reasoning: 0,
        }
    }
}

fn read_answer(body: &[u8], requested: &str) -> Result<ModelAnswer, ModelError> {
    let message: Message = serde_json::from_slice(body)
        .map_err(|e| ModelError::Malformed(format!("not a message: {e}")))?;
    let mut tool_input = None;
    let mut texts = Vec::new();
    for block in message.content {
        match block {
            Block::ToolUse { input } if tool_input.is_none() => tool_input = Some(input),
            Block::Text { text } => texts.push(text),
            _ => {}
        }
    }
    let text = match tool_input {
        Some(input) => serde_json::to_string(&input)
            .map_err(|e| ModelError::Malformed(format!("tool input: {e}")))?,
        None if message.stop_reason.as_deref() == Some("refusal") => {
            return Err(ModelError::Rejected(format!(
                "the model refused: {}",
                texts.join("\n")
            )));
        }
        None => {
            // E.g. cut by max_tokens before the tool call: the caller's validation sees it,
            // and the usage still counts.
            tracing::warn!(stop_reason = ?message.stop_reason, "no tool call in the answer");
            texts.join("\n")
        }
    };
    Ok(ModelAnswer {
        text,
        usage: message.usage.into(),
        model: message.model.unwrap_or_else(|| requested.to_owned()),
    })
}
