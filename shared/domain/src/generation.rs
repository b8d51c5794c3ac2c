//! Generation: a request reserves credits and queues one job per output type; the generate
//! consumer calls the model, checks the answer (schema, then every quote against the
//! transcript), renders and stores the files, settles the credits, and marks the output done.
//!
//! A job's message names its output; a delivery of an output that is done or failed does
//! nothing, and settlement is idempotent, so a duplicate delivery makes one output and one
//! charge.

use std::sync::Arc;

use recap_transcript::Transcript as Normalized;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::{self, Access, Need, Scope};
use crate::clock::{Clock, IdGen, Timestamp};
use crate::credits::{self, ReserveRequest};
use crate::error::{Conflict, Error, Result};
use crate::files::{FileKey, Files};
use crate::ids::{JobId, OutputId, TeamId, TenantId, TranscriptId, UserId};
use crate::keys;
use crate::models::{ModelRequest, Models};
use crate::money::{DEFAULT_RATE, Usage};
use crate::outputs::{self, Verification};
use crate::queue::{Message, Queue};
use crate::records::{
    Condition, Index, Item, Query, Records, Update, from_item, query_page, to_item, to_value,
};
use crate::roles::Permission;
use crate::transcripts::{self, Status};

/// The model used when a request names none: the offline provider (no key, no cost).
pub const DEFAULT_MODEL: (&str, &str) = ("offline", "extractive");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStatus {
    Queued,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub name: String,
    pub key: FileKey,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub id: OutputId,
    pub tenant: TenantId,
    pub transcript: TranscriptId,
    pub owner: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    pub output_type: String,
    pub job: JobId,
    pub provider: String,
    pub model: String,
    pub status: OutputStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default)]
    pub reserved_credits: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_credits: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_micro_usd: Option<u64>,
    #[serde(default)]
    pub verified_quotes: u64,
    #[serde(default)]
    pub dropped_quotes: u64,
    /// Segments cited, out of the transcript's.
    #[serde(default)]
    pub segments_cited: u64,
    #[serde(default)]
    pub segments_total: u64,
    #[serde(default)]
    pub files: Vec<OutputFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub youtube_chapters: Option<String>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The providers' clients that are configured (the offline provider needs none).
pub trait ModelRegistry: Send + Sync {
    fn models(&self, provider: &str) -> Option<Arc<dyn Models>>;
}

/// No provider configured: only the offline one works.
pub struct NoProviders;

impl ModelRegistry for NoProviders {
    fn models(&self, _: &str) -> Option<Arc<dyn Models>> {
        None
    }
}

#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub records: &'a dyn Records,
    pub files: &'a dyn Files,
    pub queue: &'a dyn Queue,
    pub clock: &'a dyn Clock,
    pub ids: &'a dyn IdGen,
    pub models: &'a dyn ModelRegistry,
}

fn output_item(o: &Output) -> Result<Item> {
    let mut item = to_item(&keys::output(&o.tenant, &o.id), o)?;
    let by_transcript = keys::outputs_of_transcript(&o.tenant, &o.transcript, &o.id);
    let all = keys::outputs_index(&o.tenant, &o.id);
    item.insert("entity".into(), "output".into());
    item.insert("gsi1pk".into(), by_transcript.pk.into());
    item.insert("gsi1sk".into(), by_transcript.sk.into());
    item.insert("gsi2pk".into(), all.pk.into());
    item.insert("gsi2sk".into(), all.sk.into());
    Ok(item)
}

/// The queued job's message.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobMessage {
    tenant: TenantId,
    output: OutputId,
}

/// `POST /transcripts/{id}/outputs`: reserves each output type's estimate and queues its job.
/// All or nothing: when one reservation fails, the ones made are released.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn request(
    p: Ports<'_>,
    a: &Access,
    transcript: &TranscriptId,
    output_types: &[String],
    model: Option<&str>,
) -> Result<Vec<Output>> {
    let t = a.caller.tenant;
    let tr = transcripts::get(p.records, &t, transcript).await?;
    access::authorize(
        a,
        Need::Permission(Permission::OutputsGenerate, Scope::Team),
        tr.team.as_ref(),
    )?;
    if tr.status != Status::Ready {
        return Err(Conflict::State(format!(
            "the transcript is {}; outputs need a ready transcript",
            tr.status.as_str()
        ))
        .into());
    }
    if output_types.is_empty() {
        return Err(Error::validation("output_types", "name at least one"));
    }
    let (provider, model) = match model {
        None => (DEFAULT_MODEL.0.to_string(), DEFAULT_MODEL.1.to_string()),
        Some(m) => m
            .split_once('/')
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .ok_or_else(|| Error::validation("model", "must be provider/model"))?,
    };
    let mut kinds = Vec::new();
    for o in output_types {
        let kind = outputs::builtin(o).ok_or_else(|| {
            Error::validation(
                "output_types",
                format!(
                    "{o:?} is not an output type; known: {}",
                    outputs::ALL.join(", ")
                ),
            )
        })?;
        if !kinds
            .iter()
            .any(|k: &outputs::OutputType| k.key == kind.key)
        {
            kinds.push(kind);
        }
    }
    let now = p.clock.now();
    let mut made: Vec<Output> = Vec::new();
    for kind in kinds {
        let job = JobId::from_uuid(p.ids.new_id());
        let reserved = credits::reserve(
            p.records,
            p.clock,
            ReserveRequest {
                job,
                tenant: t,
                user: a.caller.user,
                team: tr.team,
                transcript: Some(tr.id),
                output_type: Some(kind.key.clone()),
                provider: provider.clone(),
                model: model.clone(),
                input_tokens: tr.token_estimate.unwrap_or_default()
                    + credits::PROMPT_OVERHEAD_TOKENS,
                max_output_tokens: kind.default_max_output_tokens,
                rate: DEFAULT_RATE,
            },
        )
        .await;
        let reserved = match reserved {
            Ok(j) => j,
            Err(e) => {
                for o in &made {
                    let _ = credits::release(p.records, &t, &o.job).await;
                    let _ = fail(p, o, "the request was refused as a whole").await;
                }
                return Err(e);
            }
        };
        let output = Output {
            id: OutputId::from_uuid(p.ids.new_id()),
            tenant: t,
            transcript: tr.id,
            owner: a.caller.user,
            team: tr.team,
            output_type: kind.key.clone(),
            job,
            provider: provider.clone(),
            model: model.clone(),
            status: OutputStatus::Queued,
            failure: None,
            reserved_credits: reserved.reserved_credits,
            cost_credits: None,
            cost_micro_usd: None,
            verified_quotes: 0,
            dropped_quotes: 0,
            segments_cited: 0,
            segments_total: 0,
            files: Vec::new(),
            youtube_chapters: None,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        p.records
            .put(output_item(&output)?, vec![Condition::NotExists])
            .await?;
        let body = serde_json::to_string(&JobMessage {
            tenant: t,
            output: output.id,
        })
        .map_err(|e| Error::unexpected("encoding a job", e))?;
        let message = Message {
            body,
            attributes: Default::default(),
            dedup_id: Some(output.id.to_string()),
        };
        if let Err(e) = p.queue.send(message).await {
            let _ = credits::release(p.records, &t, &job).await;
            let _ = fail(p, &output, "the job could not be queued; request it again").await;
            return Err(e);
        }
        made.push(output);
    }
    Ok(made)
}

pub async fn get(records: &dyn Records, t: &TenantId, id: &OutputId) -> Result<Output> {
    match records.get(&keys::output(t, id)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("output")),
    }
}

/// A transcript's outputs, or all of a tenant's (newest first), optionally of one type.
pub async fn list(
    records: &dyn Records,
    t: &TenantId,
    transcript: Option<&TranscriptId>,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<Output>, Option<String>)> {
    let query = match transcript {
        Some(tr) => Query::partition(
            keys::outputs_of_transcript(t, tr, &OutputId::from_uuid(uuid::Uuid::nil())).pk,
        )
        .on(Index::Gsi1),
        None => {
            Query::partition(keys::outputs_index(t, &OutputId::from_uuid(uuid::Uuid::nil())).pk)
                .on(Index::Gsi2)
        }
    };
    query_page(records, query.descending().limit(limit).after(cursor)).await
}

async fn update_output(p: Ports<'_>, o: &Output, update: Update) -> Result<()> {
    let update = update
        .set("updated_at", to_value(&p.clock.now())?)
        .add("version", 1);
    p.records
        .update(
            &keys::output(&o.tenant, &o.id),
            update,
            vec![Condition::equals("version", o.version)],
        )
        .await
        .map(|_| ())
}

async fn fail(p: Ports<'_>, o: &Output, reason: &str) -> Result<()> {
    update_output(
        p,
        o,
        Update::new().set("status", "failed").set("failure", reason),
    )
    .await
}

/// What happened to one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    Done(OutputId),
    Failed(OutputId, String),
    /// Done or failed before: nothing to do.
    AlreadyFinished(OutputId),
}

/// The transcript as the model reads it: one line per segment, its id first.
fn prefix(t: &Normalized) -> String {
    let mut out = String::new();
    for s in &t.segments {
        let who = s
            .speaker
            .as_deref()
            .and_then(|id| t.speakers.iter().find(|sp| sp.id == id))
            .map(|sp| sp.name.as_str())
            .unwrap_or("");
        out.push_str(&format!(
            "[{} {}] {}: {}\n",
            s.id,
            outputs::clock(s.start_ms),
            who,
            s.text
        ));
    }
    out
}

fn schema_errors(schema: &Value, value: &Value) -> Option<String> {
    let validator = jsonschema::validator_for(schema).ok()?;
    let errors: Vec<String> = validator
        .iter_errors(value)
        .take(5)
        .map(|e| e.to_string())
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

/// The generate consumer's work for one message. `last_attempt`: the queue will not deliver it
/// again, so a transient failure fails the output (and releases its reservation) now.
#[tracing::instrument(skip_all)]
pub async fn process(p: Ports<'_>, body: &str, last_attempt: bool) -> Result<Processed> {
    let msg: JobMessage =
        serde_json::from_str(body).map_err(|e| Error::validation("message", e.to_string()))?;
    let o = get(p.records, &msg.tenant, &msg.output).await?;
    if matches!(o.status, OutputStatus::Done | OutputStatus::Failed) {
        return Ok(Processed::AlreadyFinished(o.id));
    }
    if let Err(e) = update_output(p, &o, Update::new().set("status", "running")).await {
        if e.failed_write() != Some(0) {
            return Err(e);
        }
        // Another delivery moved it at the same moment: done already, or at work on it now
        // (then this one comes back after its visibility timeout).
        let now = get(p.records, &msg.tenant, &msg.output).await?;
        if matches!(now.status, OutputStatus::Done | OutputStatus::Failed) {
            return Ok(Processed::AlreadyFinished(now.id));
        }
        return Err(Conflict::TransactionConflict.into());
    }
    let o = get(p.records, &msg.tenant, &msg.output).await?;
    let tr = transcripts::get(p.records, &o.tenant, &o.transcript).await?;
    let normalized = transcripts::segments(
        transcripts::Ports {
            records: p.records,
            files: p.files,
            clock: p.clock,
            ids: p.ids,
        },
        &tr,
    )
    .await?;
    let kind = outputs::builtin(&o.output_type)
        .ok_or_else(|| Error::unexpected("an unknown output type", o.output_type.clone()))?;

    let (mut result, usage) = match generate(p, &o, &kind, &tr.title, &normalized).await {
        Ok(r) => r,
        Err(GenError::Transient(why)) if !last_attempt => {
            // Back to the queue: another delivery tries again.
            return Err(Error::unavailable("the model", why));
        }
        Err(GenError::Transient(why) | GenError::Final(why)) => {
            credits::release(p.records, &o.tenant, &o.job).await?;
            fail(p, &o, &why).await?;
            return Ok(Processed::Failed(o.id, why));
        }
    };
    let Verification {
        verified_quotes,
        dropped_quotes,
    } = outputs::verify(&mut result, &normalized);
    let cited = outputs::cited_segments(&result).len() as u64;
    let mut files = Vec::new();
    let mut rendered = outputs::render(&o.output_type, &result, &normalized);
    rendered.push((
        "result.json".into(),
        "application/json".into(),
        serde_json::to_string_pretty(&result).unwrap_or_default(),
    ));
    for (name, content_type, text) in rendered {
        let key = keys::output_file(&o.tenant, &o.transcript, &o.id, &name)?;
        p.files.put(&key, text.into_bytes(), &content_type).await?;
        files.push(OutputFile {
            name,
            key,
            content_type,
        });
    }
    let entry = credits::settle(p.records, p.clock, &o.tenant, &o.job, usage, 1).await?;
    let youtube = (o.output_type == outputs::ANCHORS)
        .then(|| outputs::youtube_chapters(&result))
        .flatten();
    let mut update = Update::new()
        .set("status", "done")
        .set("cost_credits", entry.credits_charged)
        .set("cost_micro_usd", entry.cost_micro_usd)
        .set("verified_quotes", verified_quotes)
        .set("dropped_quotes", dropped_quotes)
        .set("segments_cited", cited)
        .set("segments_total", normalized.segments.len() as u64)
        .set("files", to_value(&files)?);
    if let Some(y) = youtube {
        update = update.set("youtube_chapters", y);
    }
    match update_output(p, &o, update).await {
        Ok(()) => Ok(Processed::Done(o.id)),
        // Another delivery finished it first (settlement charged once either way).
        Err(e) if e.failed_write() == Some(0) => Ok(Processed::AlreadyFinished(o.id)),
        Err(e) => Err(e),
    }
}

enum GenError {
    /// Another attempt may succeed (rate limits, outages).
    Transient(String),
    /// It will not: the output fails.
    Final(String),
}

async fn generate(
    p: Ports<'_>,
    o: &Output,
    kind: &outputs::OutputType,
    title: &str,
    t: &Normalized,
) -> std::result::Result<(Value, Usage), GenError> {
    if o.provider == DEFAULT_MODEL.0 {
        let result = outputs::offline(&kind.key, title, t)
            .ok_or_else(|| GenError::Final("no offline generator for this output type".into()))?;
        // Billed at the offline price (zero); the usage records what it would weigh.
        let output = recap_transcript::heuristic_tokens(&result.to_string());
        let usage = Usage {
            uncached_input: t.token_estimate(recap_transcript::TokenizerFamily::Other),
            output,
            ..Usage::default()
        };
        return Ok((result, usage));
    }
    let Some(models) = p.models.models(&o.provider) else {
        return Err(GenError::Final(format!(
            "no key is configured for the provider {}",
            o.provider
        )));
    };
    let mut request = ModelRequest {
        model: o.model.clone(),
        cacheable_prefix: prefix(t),
        instructions: kind.instructions.clone(),
        schema_name: kind.key.clone(),
        json_schema: kind.json_schema.clone(),
        max_output_tokens: kind.default_max_output_tokens,
    };
    let mut usage = Usage::default();
    for attempt in 0..2 {
        let answer = models.call(&request).await.map_err(|e| {
            if e.is_transient() {
                GenError::Transient(e.to_string())
            } else {
                GenError::Final(e.to_string())
            }
        })?;
        add(&mut usage, &answer.usage);
        let problem = match serde_json::from_str::<Value>(&answer.text) {
            Ok(v) => match schema_errors(&kind.json_schema, &v) {
                None => return Ok((v, usage)),
                Some(errors) => errors,
            },
            Err(e) => format!("not JSON: {e}"),
        };
        if attempt == 0 {
            // One repair attempt, told what was wrong.
            request.instructions = format!(
                "{}\n\nYour previous answer was invalid ({problem}). Answer again with JSON valid against the schema.",
                kind.instructions
            );
        } else {
            return Err(GenError::Final(format!(
                "the model's answer did not match the output type's schema after one repair: {problem}"
            )));
        }
    }
    Err(GenError::Final("unreachable".into()))
}

fn add(total: &mut Usage, u: &Usage) {
    total.uncached_input += u.uncached_input;
    total.cache_read += u.cache_read;
    total.cache_write += u.cache_write;
    total.output += u.output;
    total.reasoning += u.reasoning;
}

/// Deletes an output: its files and its record.
pub async fn delete(p: Ports<'_>, a: &Access, id: &OutputId) -> Result<()> {
    let o = get(p.records, &a.caller.tenant, id).await?;
    access::authorize(
        a,
        Need::Permission(Permission::OutputsGenerate, Scope::Team),
        o.team.as_ref(),
    )?;
    for f in &o.files {
        p.files.delete(&f.key).await?;
    }
    p.records
        .delete(&keys::output(&o.tenant, &o.id), vec![])
        .await?;
    Ok(())
}
