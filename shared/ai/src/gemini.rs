//! Google Gemini `generateContent` (`POST {base}/models/{model}:generateContent`, key in
//! `x-goog-api-key`, never in the URL).
//!
//! `generationConfig.responseMimeType = "application/json"` with `responseSchema`, the schema
//! rewritten into Gemini's OpenAPI subset ([`crate::schema::gemini_schema`]). The user turn
//! holds the cacheable prefix as its first part, so Gemini's implicit caching can match it.

use async_trait::async_trait;
use recap_domain::models::{ModelAnswer, ModelError, ModelRequest, Models};
use recap_domain::money::Usage;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{ApiKey, RetryPolicy};
use crate::schema::gemini_schema;
use crate::transport::{BuildError, Http, Transport};

#[derive(Debug, Clone)]
pub struct GeminiClient {
    transport: Transport,
    base_url: String,
}

impl GeminiClient {
    /// `base_url` with the version segment, e.g.
    /// `https://generativelanguage.googleapis.com/v1beta`.
    pub fn new(
        http: &Http,
        base_url: &str,
        key: ApiKey,
        retry: RetryPolicy,
    ) -> Result<Self, BuildError> {
        let auth = ("x-goog-api-key", key.expose().to_owned());
        Ok(Self {
            transport: Transport::new(http, "gemini", Some(key), Some(auth), &[], retry)?,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, model: &str) -> Result<String, ModelError> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        let path_safe = !model.is_empty()
            && model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !path_safe {
            return Err(ModelError::Rejected(format!(
                "not a Gemini model id: {model:?}"
            )));
        }
        Ok(format!("{}/models/{model}:generateContent", self.base_url))
    }

    fn body(request: &ModelRequest) -> Value {
        json!({
            "contents": [{
                "role": "user",
                "parts": [
                    { "text": request.cacheable_prefix },
                    { "text": request.instructions },
                ],
            }],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": gemini_schema(&request.json_schema),
                // An int32 on the wire.
                "maxOutputTokens": request.max_output_tokens.min(i32::MAX as u64),
            },
        })
    }
}

#[async_trait]
impl Models for GeminiClient {
    #[tracing::instrument(skip_all, fields(provider = "gemini", model = %request.model))]
    async fn call(&self, request: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        let url = self.url(&request.model)?;
        let body = serde_json::to_vec(&Self::body(request))
            .map_err(|e| ModelError::Rejected(format!("request not serializable: {e}")))?;
        let answer = self.transport.post(&url, body).await?;
        read_answer(&answer, &request.model)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Generated {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
    /// Thought summaries, when asked for, come as parts with `thought: true`.
    #[serde(default)]
    thought: bool,
}

/// `promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount` excludes
/// `thoughtsTokenCount`, which is billed as output and reported beside it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl From<UsageMetadata> for Usage {
    fn from(u: UsageMetadata) -> Self {
        Usage {
            uncached_input: u
                .prompt_token_count
                .saturating_sub(u.cached_content_token_count)
                .saturating_add(u.tool_use_prompt_token_count),
            cache_read: u.cached_content_token_count,
            cache_write: 0,
            output: u.candidates_token_count,
            reasoning: u.thoughts_token_count,
        }
    }
}

/// Finish reasons that mean the model declined, rather than ran out of tokens.
const BLOCKED: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "LANGUAGE",
];

fn read_answer(body: &[u8], requested: &str) -> Result<ModelAnswer, ModelError> {
    let generated: Generated = serde_json::from_slice(body)
        .map_err(|e| ModelError::Malformed(format!("not a generateContent response: {e}")))?;
    if let Some(reason) = generated
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_deref())
    {
        return Err(ModelError::Rejected(format!(
            "the prompt was blocked: {reason}"
        )));
    }
    let usage = generated
        .usage_metadata
        .ok_or_else(|| ModelError::Malformed("the response has no usageMetadata".into()))?;
    let candidate = generated
        .candidates
        .into_iter()
        .next()
        .ok_or_else(|| ModelError::Malformed("the response has no candidates".into()))?;
    let text: String = candidate
        .content
        .map(|c| c.parts)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !p.thought)
        .filter_map(|p| p.text)
        .collect();
    let finish = candidate.finish_reason.as_deref();
    if text.is_empty()
        && let Some(reason) = finish.filter(|r| BLOCKED.contains(r))
    {
        return Err(ModelError::Rejected(format!(
            "the answer was blocked: {reason}"
        )));
    }
    if finish != Some("STOP") {
        tracing::warn!(finish_reason = ?finish, "the answer did not end normally");
    }
    Ok(ModelAnswer {
        text,
        usage: usage.into(),
        model: generated
            .model_version
            .unwrap_or_else(|| requested.to_owned()),
    })
}
