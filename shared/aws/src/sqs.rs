//! The queue port on SQS. FIFO queues (`.fifo`) get the deduplication id as
//! `MessageDeduplicationId` and one message group per id (so that messages do not wait on
//! each other); on every queue the id also travels as a message attribute.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use recap_domain::queue::{DEDUP_ATTRIBUTE, MAX_BATCH, Message, Queue, Received, validate_receive};
use recap_domain::{Conflict, Error, Result};

use crate::sdk_err;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    fifo: bool,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        let fifo = url.ends_with(".fifo");
        SqsQueue { client, url, fifo }
    }
}

fn attrs(m: &Message) -> Result<HashMap<String, MessageAttributeValue>> {
    let mut out = HashMap::new();
    let all = m
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(m.dedup_id.as_deref().map(|d| (DEDUP_ATTRIBUTE, d)));
    for (k, v) in all {
        let v = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .map_err(|e| Error::unexpected("building a message attribute", e))?;
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[async_trait]
impl Queue for SqsQueue {
    #[tracing::instrument(skip_all)]
    async fn send(&self, message: Message) -> Result<String> {
        message.validate()?;
        let fifo_id = if self.fifo {
            message.dedup_id.clone()
        } else {
            None
        };
        if self.fifo && fifo_id.is_none() {
            return Err(Error::validation(
                "dedup_id",
                "a FIFO queue needs a deduplication id",
            ));
        }
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(&message.body)
            .set_message_attributes(Some(attrs(&message)?))
            .set_message_deduplication_id(fifo_id.clone())
            .set_message_group_id(fifo_id)
            .send()
            .await
            .map_err(|e| sdk_err("SQS SendMessage", e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    #[tracing::instrument(skip_all, fields(n = messages.len()))]
    async fn send_batch(&self, messages: Vec<Message>) -> Result<Vec<String>> {
        for m in &messages {
            m.validate()?;
            if self.fifo && m.dedup_id.is_none() {
                return Err(Error::validation(
                    "dedup_id",
                    "a FIFO queue needs a deduplication id",
                ));
            }
        }
        let mut ids = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(MAX_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                let fifo_id = if self.fifo { m.dedup_id.clone() } else { None };
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .set_message_attributes(Some(attrs(m)?))
                        .set_message_deduplication_id(fifo_id.clone())
                        .set_message_group_id(fifo_id)
                        .build()
                        .map_err(|e| Error::unexpected("building a batch entry", e))?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_err("SQS SendMessageBatch", e))?;
            if !out.failed.is_empty() {
                let sent = ids.len() + out.successful.len();
                return Err(Error::Unavailable {
                    what: "SQS".into(),
                    source: Some(
                        format!(
                            "{} of {} messages were not sent ({sent} were): {:?}",
                            messages.len() - sent,
                            messages.len(),
                            out.failed.first().map(|f| f.code.clone())
                        )
                        .into(),
                    ),
                });
            }
            let mut ok = out.successful;
            ok.sort_by_key(|s| s.id.parse::<usize>().unwrap_or(usize::MAX));
            ids.extend(ok.into_iter().map(|s| s.message_id));
        }
        Ok(ids)
    }

    #[tracing::instrument(skip_all)]
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Received>> {
        validate_receive(max, visibility)?;
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max as i32)
            .visibility_timeout(secs(visibility))
            .wait_time_seconds(secs(wait.min(Duration::from_secs(20))))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_err("SQS ReceiveMessage", e))?;
        let mut got = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let receive_count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let mut attributes: BTreeMap<String, String> = m
                .message_attributes
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
                .collect();
            let dedup_id = attributes.remove(DEDUP_ATTRIBUTE);
            got.push(Received {
                message_id: m.message_id.unwrap_or_default(),
                receipt: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                attributes,
                dedup_id,
                receive_count,
            });
        }
        Ok(got)
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_receipt_handle_is_invalid() => {
                    Conflict::State("the receipt is not valid".into()).into()
                }
                _ => sdk_err("SQS DeleteMessage", e),
            })?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<()> {
        validate_receive(1, visibility)?;
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs(visibility))
            .send()
            .await
            .map_err(|e| sdk_err("SQS ChangeMessageVisibility", e))?;
        Ok(())
    }

    fn deduplicates(&self) -> bool {
        self.fifo
    }
}
