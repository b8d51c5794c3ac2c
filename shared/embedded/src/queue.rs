//! The queue port on redb, with SQS's semantics: visibility timeouts, receive counts, a
//! dead-letter queue after the receive limit, and deduplication ids (five minutes, as FIFO).
//!
//! Tables: `q_msgs` (queue, seq) → message; `q_ready` (queue, visible_at, seq) → () orders
//! messages by when they may next be received; `q_dedup` (queue, dedup id) → expiry;
//! `q_seq` queue → next sequence number.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use recap_domain::clock::{Clock, SystemClock};
use recap_domain::queue::{DEDUP_WINDOW, Message, Queue, Received, validate_receive};
use recap_domain::{Conflict, Error, Result};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::{blocking, db_err};

const MSGS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("q_msgs");
const READY: TableDefinition<(&str, i64, u64), ()> = TableDefinition::new("q_ready");
const DEDUP: TableDefinition<(&str, &str), i64> = TableDefinition::new("q_dedup");
const SEQ: TableDefinition<&str, u64> = TableDefinition::new("q_seq");

/// A queue and where its failures go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    /// After this many receives, the next receive moves the message to `dead_letter`.
    pub max_receive: u32,
    pub dead_letter: Option<String>,
}

impl QueueConfig {
    pub fn new(name: impl Into<String>) -> Self {
        QueueConfig {
            name: name.into(),
            max_receive: 5,
            dead_letter: None,
        }
    }
    pub fn dead_letter(mut self, dlq: impl Into<String>, max_receive: u32) -> Self {
        self.dead_letter = Some(dlq.into());
        self.max_receive = max_receive;
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    dedup_id: Option<String>,
    receive_count: u32,
    visible_at: i64,
    receipt: Option<String>,
}

#[derive(Clone)]
pub struct EmbeddedQueue {
    db: Arc<redb::Database>,
    config: Arc<QueueConfig>,
    clock: Arc<dyn Clock>,
    arrived: Arc<Notify>,
}

impl std::fmt::Debug for EmbeddedQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedQueue")
            .field("config", &self.config)
            .finish()
    }
}

fn enc(s: &Stored) -> Result<Vec<u8>> {
    serde_json::to_vec(s).map_err(|e| Error::unexpected("encoding a message", e))
}
fn dec(b: &[u8]) -> Result<Stored> {
    serde_json::from_slice(b).map_err(|e| Error::unexpected("decoding a message", e))
}

fn next_seq(txn: &WriteTransaction, queue: &str) -> Result<u64> {
    let mut t = txn.open_table(SEQ).map_err(db_err)?;
    let n = t.get(queue).map_err(db_err)?.map_or(0, |g| g.value());
    t.insert(queue, n + 1).map_err(db_err)?;
    Ok(n)
}

fn enqueue(txn: &WriteTransaction, queue: &str, m: &Stored) -> Result<()> {
    let seq = next_seq(txn, queue)?;
    txn.open_table(MSGS)
        .map_err(db_err)?
        .insert((queue, seq), enc(m)?.as_slice())
        .map_err(db_err)?;
    txn.open_table(READY)
        .map_err(db_err)?
        .insert((queue, m.visible_at, seq), ())
        .map_err(db_err)?;
    Ok(())
}

/// Enqueues a message inside a write transaction of the same database: the file store's
/// event notifications commit together with the file they announce.
pub(crate) fn enqueue_in(
    txn: &WriteTransaction,
    queue: &str,
    body: String,
    now: i64,
) -> Result<()> {
    let stored = Stored {
        id: uuid::Uuid::new_v4().to_string(),
        body,
        attributes: BTreeMap::new(),
        dedup_id: None,
        receive_count: 0,
        visible_at: now,
        receipt: None,
    };
    enqueue(txn, queue, &stored)
}

/// A receipt names the message and the receive it came from: `{seq}.{nonce}`.
fn parse_receipt(r: &str) -> Result<u64> {
    r.split_once('.')
        .and_then(|(s, _)| s.parse().ok())
        .ok_or_else(|| Error::validation("receipt", "is not a receipt this queue issued"))
}

impl EmbeddedQueue {
    pub(crate) fn new(db: Arc<redb::Database>, config: QueueConfig) -> Self {
        EmbeddedQueue {
            db,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            arrived: Arc::new(Notify::new()),
        }
    }

    /// The same queue seen with another clock (tests move time by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    async fn send_all(&self, messages: Vec<Message>) -> Result<Vec<String>> {
        for m in &messages {
            m.validate()?;
        }
        let db = self.db.clone();
        let queue = self.config.name.clone();
        let now = self.clock.now().millis();
        let ids = blocking(move || {
            let txn = db.begin_write().map_err(db_err)?;
            let mut ids = Vec::with_capacity(messages.len());
            for m in messages {
                let id = uuid::Uuid::new_v4().to_string();
                if let Some(d) = &m.dedup_id {
                    let mut t = txn.open_table(DEDUP).map_err(db_err)?;
                    let live = t
                        .get((queue.as_str(), d.as_str()))
                        .map_err(db_err)?
                        .is_some_and(|g| g.value() > now);
                    if live {
                        // Accepted but not delivered again, as an SQS FIFO queue does.
                        ids.push(id);
                        continue;
                    }
                    let until = now + DEDUP_WINDOW.as_millis() as i64;
                    t.insert((queue.as_str(), d.as_str()), until)
                        .map_err(db_err)?;
                }
                let stored = Stored {
                    id: id.clone(),
                    body: m.body,
                    attributes: m.attributes,
                    dedup_id: m.dedup_id,
                    receive_count: 0,
                    visible_at: now,
                    receipt: None,
                };
                enqueue(&txn, &queue, &stored)?;
                ids.push(id);
            }
            txn.commit().map_err(db_err)?;
            Ok(ids)
        })
        .await?;
        self.arrived.notify_waiters();
        Ok(ids)
    }

    fn receive_now(
        &self,
        max: u32,
        visibility: Duration,
    ) -> impl FnOnce() -> Result<Vec<Received>> + Send + 'static {
        let db = self.db.clone();
        let config = self.config.clone();
        let now = self.clock.now().millis();
        move || {
            let queue = config.name.as_str();
            let txn = db.begin_write().map_err(db_err)?;
            // Read only as many due entries as can be delivered; a round that moves messages to
            // the dead-letter queue reads another. Entries handled once (a zero visibility puts
            // them back in range) are not read again.
            let mut out = Vec::new();
            let mut handled = std::collections::HashSet::new();
            let mut changed = false;
            loop {
                let want = max as usize - out.len();
                let due: Vec<(i64, u64)> = {
                    let t = txn.open_table(READY).map_err(db_err)?;
                    let mut due = Vec::with_capacity(want);
                    for r in t
                        .range((queue, i64::MIN, 0)..=(queue, now, u64::MAX))
                        .map_err(db_err)?
                    {
                        let (k, _) = r.map_err(db_err)?;
                        let (_, at, seq) = k.value();
                        if !handled.contains(&seq) {
                            due.push((at, seq));
                            if due.len() == want {
                                break;
                            }
                        }
                    }
                    due
                };
                let round = due.len();
                for (at, seq) in due {
                    handled.insert(seq);
                    changed = true;
                    txn.open_table(READY)
                        .map_err(db_err)?
                        .remove((queue, at, seq))
                        .map_err(db_err)?;
                    let mut msgs = txn.open_table(MSGS).map_err(db_err)?;
                    let Some(mut m) = msgs
                        .get((queue, seq))
                        .map_err(db_err)?
                        .map(|g| dec(g.value()))
                        .transpose()?
                    else {
                        continue;
                    };
                    if let Some(dlq) = &config.dead_letter
                        && m.receive_count >= config.max_receive
                    {
                        msgs.remove((queue, seq)).map_err(db_err)?;
                        drop(msgs);
                        m.visible_at = now;
                        m.receipt = None;
                        tracing::warn!(queue, message = %m.id, dlq, "moved to the dead-letter queue");
                        enqueue(&txn, dlq, &m)?;
                        continue;
                    }
                    m.receive_count += 1;
                    m.visible_at = now + visibility.as_millis() as i64;
                    let receipt = format!("{seq}.{}", uuid::Uuid::new_v4().simple());
                    m.receipt = Some(receipt.clone());
                    msgs.insert((queue, seq), enc(&m)?.as_slice())
                        .map_err(db_err)?;
                    drop(msgs);
                    txn.open_table(READY)
                        .map_err(db_err)?
                        .insert((queue, m.visible_at, seq), ())
                        .map_err(db_err)?;
                    out.push(Received {
                        message_id: m.id,
                        receipt,
                        body: m.body,
                        attributes: m.attributes,
                        dedup_id: m.dedup_id,
                        receive_count: m.receive_count,
                    });
                }
                if round < want || out.len() == max as usize {
                    break;
                }
            }
            if changed {
                txn.commit().map_err(db_err)?;
            } else {
                // Nothing was due: no commit, so an idle poll costs no disk sync.
                txn.abort().map_err(db_err)?;
            }
            Ok(out)
        }
    }

    /// Finds the message a receipt names, if the receipt is still its latest; then `f`
    /// changes or removes it, within one transaction.
    async fn with_receipt(
        &self,
        receipt: &str,
        f: impl FnOnce(&WriteTransaction, &str, u64, Stored) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let seq = parse_receipt(receipt)?;
        let receipt = receipt.to_string();
        let db = self.db.clone();
        let queue = self.config.name.clone();
        blocking(move || {
            let txn = db.begin_write().map_err(db_err)?;
            let found = txn
                .open_table(MSGS)
                .map_err(db_err)?
                .get((queue.as_str(), seq))
                .map_err(db_err)?
                .map(|g| dec(g.value()))
                .transpose()?;
            match found {
                Some(m) if m.receipt.as_deref() == Some(receipt.as_str()) => {
                    f(&txn, &queue, seq, m)?;
                    txn.commit().map_err(db_err)?;
                    Ok(())
                }
                Some(_) => Err(Conflict::State(
                    "the receipt is stale: the message was received again".into(),
                )
                .into()),
                None => Err(Error::not_found("message")),
            }
        })
        .await
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    #[tracing::instrument(skip_all, fields(queue = %self.config.name))]
    async fn send(&self, message: Message) -> Result<String> {
        let mut ids = self.send_all(vec![message]).await?;
        ids.pop()
            .ok_or_else(|| Error::unexpected("embedded queue", "no id"))
    }

    #[tracing::instrument(skip_all, fields(queue = %self.config.name, n = messages.len()))]
    async fn send_batch(&self, messages: Vec<Message>) -> Result<Vec<String>> {
        if messages.is_empty() {
            return Ok(vec![]);
        }
        self.send_all(messages).await
    }

    #[tracing::instrument(skip_all, fields(queue = %self.config.name))]
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Received>> {
        validate_receive(max, visibility)?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            let got = blocking(self.receive_now(max, visibility)).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            // Woken by a send, or polled for messages whose visibility ran out.
            let nap = (deadline - now).min(Duration::from_millis(100));
            let _ = tokio::time::timeout(nap, arrived).await;
        }
    }

    #[tracing::instrument(skip_all, fields(queue = %self.config.name))]
    async fn delete(&self, receipt: &str) -> Result<()> {
        self.with_receipt(receipt, |txn, queue, seq, m| {
            txn.open_table(MSGS)
                .map_err(db_err)?
                .remove((queue, seq))
                .map_err(db_err)?;
            txn.open_table(READY)
                .map_err(db_err)?
                .remove((queue, m.visible_at, seq))
                .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(queue = %self.config.name))]
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<()> {
        validate_receive(1, visibility)?;
        let now = self.clock.now().millis();
        self.with_receipt(receipt, move |txn, queue, seq, mut m| {
            let mut ready = txn.open_table(READY).map_err(db_err)?;
            ready.remove((queue, m.visible_at, seq)).map_err(db_err)?;
            m.visible_at = now + visibility.as_millis() as i64;
            ready
                .insert((queue, m.visible_at, seq), ())
                .map_err(db_err)?;
            txn.open_table(MSGS)
                .map_err(db_err)?
                .insert((queue, seq), enc(&m)?.as_slice())
                .map_err(db_err)?;
            Ok(())
        })
        .await?;
        self.arrived.notify_waiters();
        Ok(())
    }

    fn deduplicates(&self) -> bool {
        true
    }
}
