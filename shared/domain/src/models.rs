//! The models port: one call shape for every provider.
//!
//! A request carries a cacheable prefix (the transcript, first, shared by every output type of
//! one transcript so that providers' prompt caches serve the repeats), the instructions, a JSON
//! Schema the answer must follow, and the most output tokens allowed. The answer carries the
//! text, the provider's usage mapped into the ledger's buckets, and the model that answered.
//! Adapters (`recap-ai`) own the HTTP, the retries within a time budget and the error mapping.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::money::Usage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    /// The provider's model id, e.g. `gpt-4o-mini`.
    pub model: String,
    /// Sent first and marked cacheable where the provider supports it (the transcript).
    pub cacheable_prefix: String,
    /// What to do with it (the output type's instructions and the citation rules).
    pub instructions: String,
    /// The answer must be a JSON object valid against this schema.
    pub schema_name: String,
    pub json_schema: Value,
    pub max_output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAnswer {
    /// The answer's text (JSON, when the request asked for a schema).
    pub text: String,
    pub usage: Usage,
    /// The model that answered, as the provider names it.
    pub model: String,
}

/// Why a call failed, after the adapter's own retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// 429s outlasted the time budget; `retry_after` is the provider's last word.
    #[error("the provider is rate limiting (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx or timeouts outlasted the time budget.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The key is missing or refused.
    #[error("the provider refused the credentials")]
    Unauthorized,
    /// Another 4xx: the request itself is wrong; retrying cannot help.
    #[error("the provider refused the request: {0}")]
    Rejected(String),
    /// A 2xx whose body is not the provider's documented shape.
    #[error("the provider's answer could not be read: {0}")]
    Malformed(String),
}

impl ModelError {
    /// Whether a later attempt (another delivery, another model of the chain) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ModelError::RateLimited { .. } | ModelError::Unavailable(_)
        )
    }
}

/// One provider's models.
#[async_trait]
pub trait Models: Send + Sync {
    async fn call(&self, request: &ModelRequest) -> Result<ModelAnswer, ModelError>;
}
