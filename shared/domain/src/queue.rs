//! The queue port: generation jobs, chained through a queue with a dead-letter queue.
//!
//! Semantics are SQS's: a received message is hidden for its visibility timeout and comes
//! back if it is not deleted; each receive counts; past the queue's receive limit the message
//! moves to the dead-letter queue. A deduplication id drops a second send of the same id
//! within five minutes where the queue supports it (an SQS FIFO queue, the embedded queue);
//! consumers stay idempotent regardless, since any queue may deliver twice.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// SQS's limits.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub const MAX_ATTRIBUTES: usize = 10;
pub const MAX_BATCH: usize = 10;
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
/// The attribute that carries the deduplication id to the consumer on every queue.
pub const DEDUP_ATTRIBUTE: &str = "recap_dedup_id";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Message {
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub dedup_id: Option<String>,
}

impl Message {
    pub fn new(body: impl Into<String>) -> Self {
        Message {
            body: body.into(),
            ..Default::default()
        }
    }
    pub fn dedup(mut self, id: impl Into<String>) -> Self {
        self.dedup_id = Some(id.into());
        self
    }
    pub fn attr(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.attributes.insert(k.into(), v.into());
        self
    }

    pub fn validate(&self) -> Result<()> {
        if self.body.is_empty() {
            return Err(Error::validation("body", "a message must not be empty"));
        }
        let size = self.body.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len() + "String".len())
                .sum::<usize>();
        if size > MAX_BODY_BYTES {
            return Err(Error::validation(
                "body",
                format!("{size} bytes is over the message limit of {MAX_BODY_BYTES}"),
            ));
        }
        if self.attributes.len() > MAX_ATTRIBUTES - 1 {
            return Err(Error::validation(
                "attributes",
                format!("at most {} attributes", MAX_ATTRIBUTES - 1),
            ));
        }
        for (k, v) in &self.attributes {
            let name_ok = !k.is_empty()
                && k.len() <= 256
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && !k.starts_with("AWS.")
                && !k.starts_with("Amazon.")
                && k != DEDUP_ATTRIBUTE;
            if !name_ok {
                return Err(Error::validation("attributes", format!("bad name {k:?}")));
            }
            if v.is_empty() {
                return Err(Error::validation("attributes", format!("{k} is empty")));
            }
        }
        if let Some(d) = &self.dedup_id {
            let ok = !d.is_empty() && d.len() <= 128 && d.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(Error::validation(
                    "dedup_id",
                    "1 to 128 printable ASCII characters",
                ));
            }
        }
        Ok(())
    }
}

/// A message as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    /// Valid for this receive only: deleting with an older receipt fails.
    pub receipt: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub dedup_id: Option<String>,
    /// 1 on the first delivery.
    pub receive_count: u32,
}

pub fn validate_receive(max: u32, visibility: Duration) -> Result<()> {
    if max == 0 || max as usize > MAX_BATCH {
        return Err(Error::validation("max_messages", "must be 1 to 10"));
    }
    if visibility > MAX_VISIBILITY {
        return Err(Error::validation("visibility", "at most 12 hours"));
    }
    Ok(())
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends one message; returns its id.
    async fn send(&self, message: Message) -> Result<String>;
    /// Sends many (in batches of ten where the queue needs it); all are sent or an error says
    /// how many were not.
    async fn send_batch(&self, messages: Vec<Message>) -> Result<Vec<String>>;
    /// Up to `max` (1 to 10) visible messages, hidden from others for `visibility`; waits up
    /// to `wait` for one to arrive.
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Received>>;
    /// Done with the message. A stale receipt (the message was received again) is a conflict.
    async fn delete(&self, receipt: &str) -> Result<()>;
    /// Hides the message for `visibility` from now; zero returns it to the queue at once.
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<()>;
    /// Whether a second send of a deduplication id within the window is dropped.
    fn deduplicates(&self) -> bool;
    /// Returns the message to the queue at once.
    async fn release(&self, receipt: &str) -> Result<()> {
        self.change_visibility(receipt, Duration::ZERO).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_checked_before_sending() {
        assert!(Message::new("x").validate().is_ok());
        assert!(Message::new("").validate().is_err());
        assert!(
            Message::new("x".repeat(MAX_BODY_BYTES + 1))
                .validate()
                .is_err()
        );
        assert!(Message::new("x").attr("bad name", "v").validate().is_err());
        assert!(
            Message::new("x")
                .attr(DEDUP_ATTRIBUTE, "v")
                .validate()
                .is_err()
        );
        assert!(Message::new("x").attr("k", "").validate().is_err());
        assert!(Message::new("x").dedup("a b").validate().is_err());
        assert!(Message::new("x").dedup("x".repeat(129)).validate().is_err());
        assert!(validate_receive(11, Duration::ZERO).is_err());
        assert!(validate_receive(0, Duration::ZERO).is_err());
    }
}
