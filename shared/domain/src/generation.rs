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
use crate::catalog;
use crate::clock::{Clock, IdGen, Timestamp};
use crate::credits::{self, ReserveRequest};
use crate::error::{Conflict, Error, Result};
use crate::files::{FileKey, Files};
use crate::ids::{JobId, OutputId, TeamId, TenantId, TranscriptId, UserId};
use crate::keys;
use crate::model_choice;
use crate::models::{ModelRequest, Models};
use crate::money::{Credits, DEFAULT_RATE, MicroUsd, Usage};
use crate::outputs::{self, Verification};
use crate::queue::{Message, Queue};
use crate::records::{
    Condition, Index, Item, Query, Records, Update, Write, from_item, query_all_as, query_page,
    to_item, to_value,
};
use crate::roles::Permission;
use crate::transcripts::{self, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutputStatus {
    Queued,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputFile {
    pub name: String,
    pub key: FileKey,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The models to try, in order; `provider`/`model` name the one at work or that wrote it.
    #[serde(default)]
    pub chain: Vec<model_choice::Step>,
    /// The chain step at work (an index into `chain`).
    #[serde(default)]
    pub step: u32,
    /// How much of the transcript the model read (all of it, or it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// Map-reduce progress while a step reads the transcript in chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<MapState>,
    /// 1 for the first output; each regeneration of it, or of any of its revisions, is the
    /// next number (two made at once get two numbers).
    #[serde(default = "first_revision")]
    pub revision: u32,
    /// The output this one regenerates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regenerates: Option<OutputId>,
    /// The first revision of the line this one belongs to (absent on that first revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<OutputId>,
    /// The first output of the same request with the same model: this one calls the model once
    /// that one's prompt is cached (see [`ModelRegistry::cache_warmup`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<OutputId>,
    /// Optimistic concurrency: every write checks and bumps it.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The offline provider: the last step of every chain it is allowed in (no key, no cost).
pub const DEFAULT_MODEL: (&str, &str) = model_choice::OFFLINE;

fn first_revision() -> u32 {
    1
}

/// The providers' clients that are configured (the offline provider needs none).
pub trait ModelRegistry: Send + Sync {
    fn models(&self, provider: &str) -> Option<Arc<dyn Models>>;

    /// Whether the provider has a key here: a model choice leaves out those without. The API
    /// functions know this without holding clients (see `recap-lambda`).
    fn configured(&self, provider: &str) -> bool {
        self.models(provider).is_some()
    }

    /// Loads what [`ModelRegistry::configured`] and [`ModelRegistry::models`] read, if it is
    /// not loaded yet; called before every model choice and every generation job that has
    /// work to do. The Lambda functions read the catalog's providers here, when first needed,
    /// instead of at start-up (where many of their events would not need them).
    fn ready(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// How long after a request starts its prompt is in the provider's cache (about the time
    /// to its first token). The other outputs of one request wait that long after the first
    /// one's call starts, so that they read the transcript from the cache instead of each
    /// writing it; zero: they do not wait.
    fn cache_warmup(&self, _provider: &str) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Waits `d` (the runtime's timer; the domain has none). Only called when
    /// [`ModelRegistry::cache_warmup`] is not zero.
    fn sleep(
        &self,
        _d: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
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

/// The queued job's message. `phase` is absent on the first message of an output.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobMessage {
    tenant: TenantId,
    output: OutputId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phase: Option<Phase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Phase {
    /// Read chunk `chunk` of the transcript for chain step `step`.
    Map { step: u32, chunk: u32 },
    /// Every chunk of `step` is read: write the output from the notes.
    Reduce { step: u32 },
    /// Start (again) at chain step `step`, after an earlier step failed.
    Resume { step: u32 },
}

/// How much of the transcript the model read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    /// 1 when the transcript was read whole; more when it was read in chunks.
    pub chunks: u32,
    pub segments_read: u64,
    pub segments_total: u64,
}

/// Map-reduce progress of the chain step at work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MapState {
    pub step: u32,
    pub chunks: u32,
    /// Each chunk's first and last segment (indices into the transcript's segments), fixed
    /// when the reading began: the map jobs read these, whatever happens to the model's
    /// window or to how segments are measured meanwhile. Empty in a state written before them
    /// (its jobs cut the transcript again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<[u32; 2]>,
    /// The chunks whose notes are stored.
    pub done: Vec<u32>,
    /// The usage of the chunks read so far (settled with the reduce call's).
    pub usage: Usage,
}

/// Output tokens a map step may write (its notes).
pub const MAP_ANSWER_TOKENS: u64 = 2_000;
/// Tokens of the previous chunk repeated at the start of the next, so that nothing said across
/// a cut is lost.
pub const MAP_OVERLAP_TOKENS: u64 = 200;

/// Transcript tokens per chunk for `window`.
fn chunk_window(window: u64) -> u64 {
    window
        .saturating_sub(credits::PROMPT_OVERHEAD_TOKENS + MAP_ANSWER_TOKENS)
        .max(model_choice::MIN_CHUNK_TOKENS)
}

/// The usage a step is reserved for: the whole prompt once, or every chunk and the reduce.
fn step_estimate(m: &catalog::Model, transcript_tokens: u64, max_output: u64) -> (u64, u64, bool) {
    let out = max_output.min(m.max_output_tokens);
    let whole = transcript_tokens + credits::PROMPT_OVERHEAD_TOKENS;
    if m.provider == model_choice::OFFLINE.0 || whole + out <= m.context_window {
        return (whole, out, false);
    }
    let per = chunk_window(m.context_window)
        .saturating_sub(MAP_OVERLAP_TOKENS)
        .max(1);
    let chunks = transcript_tokens.div_ceil(per) + 1;
    let input = transcript_tokens
        + chunks * (credits::PROMPT_OVERHEAD_TOKENS + MAP_OVERLAP_TOKENS)
        + chunks * MAP_ANSWER_TOKENS
        + credits::PROMPT_OVERHEAD_TOKENS;
    (input, chunks * MAP_ANSWER_TOKENS + out, true)
}

/// `POST /transcripts/{id}/outputs`: picks each output type's model chain, reserves its
/// estimate and queues its job. The reservations are all or nothing: when one fails, the ones
/// made are released. So is queueing when the queue refuses the first job (the error is
/// answered); when it refuses a later one, the outputs queued before it stand and are answered
/// with the others failed (released, "request it again"): the queue has no transaction, and
/// answering an error would hide outputs that will be made.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn request(
    p: Ports<'_>,
    a: &Access,
    transcript: &TranscriptId,
    output_types: &[String],
    model: Option<&str>,
) -> Result<Vec<Output>> {
    // Every chain first: a request that cannot be served reserves nothing.
    let (tr, kinds, plan) = plan_request(p, a, transcript, output_types, model).await?;
    // Every output reserved and written before any job is queued: a refusal undoes outputs
    // that no consumer has seen.
    let mut made: Vec<Output> = Vec::new();
    for (kind, chain) in kinds.iter().zip(plan.chains.iter().cloned()) {
        // Outputs read whole by the same model share their prompt's cached transcript.
        let lead = made
            .iter()
            .find(|o| o.chain.first() == chain.first() && cacheable(&chain[0]))
            .map(|o| o.id);
        match prepare_one(p, a, &tr, kind, &plan.catalog, chain, None, lead).await {
            Ok(o) => made.push(o),
            Err(e) => {
                forget(p, &made).await;
                // Said of the request, not of the output that found the balance short: every
                // output's estimate, against what was available before the first was reserved.
                let held: Credits = made.iter().map(|o| o.reserved_credits).sum();
                return Err(match e {
                    Error::InsufficientCredits { available, .. } => Error::InsufficientCredits {
                        needed: plan.lines(&tr, &kinds)?.iter().map(|l| l.credits).sum(),
                        available: available + held,
                    },
                    e => e,
                });
            }
        }
    }
    for k in 0..made.len() {
        if let Err(e) = enqueue(p, &made[k], None).await {
            undo(p, &made[k..], NOT_QUEUED).await;
            if k == 0 {
                // Nothing was queued: the request failed as a whole and may be sent again.
                return Err(e);
            }
            // The first k were queued and will be made: answered as they are, the rest
            // failed, so that a retry asks for those only (an error would hide the first k,
            // and a retry of everything would make them twice).
            tracing::warn!(error = %e, queued = k, failed = made.len() - k, "a job could not be queued");
            for o in &mut made[k..] {
                if let Ok(fresh) = get(p.records, &o.tenant, &o.id).await {
                    *o = fresh;
                }
                // What happened to its job, whether or not failing the record went through.
                o.status = OutputStatus::Failed;
                o.failure = Some(NOT_QUEUED.into());
            }
            break;
        }
    }
    Ok(made)
}

/// The output types a request names, each once, in its order.
fn output_kinds(output_types: &[String]) -> Result<Vec<outputs::OutputType>> {
    if output_types.is_empty() {
        return Err(Error::validation("output_types", "name at least one"));
    }
    let mut kinds: Vec<outputs::OutputType> = Vec::new();
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
        if !kinds.iter().any(|k| k.key == kind.key) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// What [`request`] and [`quote`] check before anything is reserved, the same for both: the
/// transcript (ready, and the caller may generate its outputs), the output types, and the
/// model chain of each under the tier's, team's and tenant's rules, keys and windows.
async fn plan_request(
    p: Ports<'_>,
    a: &Access,
    transcript: &TranscriptId,
    output_types: &[String],
    model: Option<&str>,
) -> Result<(transcripts::Transcript, Vec<outputs::OutputType>, Plan)> {
    let tr = transcripts::get(p.records, &a.caller.tenant, transcript).await?;
    access::authorize(
        a,
        Need::Permission(Permission::OutputsGenerate, Scope::Team),
        tr.team.as_ref(),
    )?;
    ensure_ready(&tr)?;
    let kinds = output_kinds(output_types)?;
    let plan = plan_chains(p, a, &tr, &kinds, model).await?;
    Ok((tr, kinds, plan))
}

/// `GET /transcripts/{id}/outputs/quote`: what `POST /transcripts/{id}/outputs` with the same
/// output types and model would reserve now, reserving nothing. The same checks
/// ([`plan_request`]) refuse it the same way, each line is the estimate its output would
/// reserve (its chain's dearest step, at the tier's credit rate), and `available` is what the
/// reservations may draw on: the balance and the tier's overage left. A request the AI-call
/// allowance cannot serve is refused as the request would be; one the credits cannot cover
/// answers its shortfall. Credits already held by other requests are not counted in
/// `available`, as a reservation does not count them.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn quote(
    p: Ports<'_>,
    a: &Access,
    transcript: &TranscriptId,
    output_types: &[String],
    model: Option<&str>,
) -> Result<credits::Quote> {
    let (tr, kinds, plan) = plan_request(p, a, transcript, output_types, model).await?;
    let items = plan.lines(&tr, &kinds)?;
    let total_credits: Credits = items.iter().map(|i| i.credits).sum();
    let balance = credits::balance(p.records, &a.caller.tenant, &a.caller.user).await?;
    let available = balance.available.saturating_add(plan.terms.overage());
    // The request reserves its outputs in order, each taking one AI call: it is refused for
    // the allowance (403) at the first output without a call left, unless its credits ran
    // short before that output (402, which a quote answers as its shortfall).
    let mut spent: Credits = 0;
    let covered = items
        .iter()
        .take_while(|i| {
            spent = spent.saturating_add(i.credits);
            spent <= available
        })
        .count();
    plan.terms.has_calls(covered)?;
    let first = &items[0];
    Ok(credits::Quote {
        provider: first.provider.clone(),
        model: first.model.clone(),
        price_version: first.price_version,
        total_credits,
        available,
        shortfall: total_credits.saturating_sub(available),
        items,
    })
}

/// What an output's reservation is: the estimate of its chain's dearest step (in credits at
/// the rate of the caller's terms, as [`credits::reserve`] converts it).
struct Estimate<'a> {
    step: &'a model_choice::Step,
    price_version: u32,
    input_tokens: u64,
    max_output_tokens: u64,
    split: bool,
    cost: MicroUsd,
}

fn reservation_estimate<'a>(
    catalog: &[catalog::Model],
    chain: &'a [model_choice::Step],
    tr: &transcripts::Transcript,
    kind: &outputs::OutputType,
) -> Result<Estimate<'a>> {
    let tokens = tr.prompt_tokens();
    let mut dearest: Option<Estimate<'a>> = None;
    for s in chain {
        // The chain was chosen from this catalog: every step is in it.
        let Some(m) = catalog
            .iter()
            .find(|m| m.provider == s.provider && m.model == s.model)
        else {
            return Err(Error::unexpected(
                "a chain step outside the catalog",
                s.name(),
            ));
        };
        let (input, out, split) = step_estimate(m, tokens, kind.default_max_output_tokens);
        let price = m.price.unwrap_or_default();
        // The cost alone: which step is dearest does not depend on the rate.
        let (_, cost, _) = credits::estimate(&price, input, out, DEFAULT_RATE);
        if dearest.as_ref().is_none_or(|d| cost > d.cost) {
            dearest = Some(Estimate {
                step: s,
                price_version: m.price_version,
                input_tokens: input,
                max_output_tokens: out,
                split,
                cost,
            });
        }
    }
    dearest.ok_or_else(|| Error::unexpected("an empty model chain", kind.key.clone()))
}

/// The failure of an output whose job the queue did not take.
const NOT_QUEUED: &str = "the job could not be queued; request it again";

fn not_queued(o: &Output) -> bool {
    o.status == OutputStatus::Failed && o.failure.as_deref() == Some(NOT_QUEUED)
}

/// An error that asking again will not change: the request after upload is refused for good
/// (`failed`). Any other (unavailable, a transaction collision, the unexpected) is answered,
/// so that the event is delivered again.
fn refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::NotFound { .. }
            | Error::Validation { .. }
            | Error::Unauthenticated(_)
            | Error::Forbidden(_)
            | Error::InsufficientCredits { .. }
            | Error::Conflict(Conflict::State(_))
    )
}

/// Takes back the outputs of a request refused before any of its jobs was queued: nobody has
/// seen them (no consumer, not the caller), so each is released and deleted, leaving nothing
/// behind. One whose release fails is failed instead, and kept (reconciliation releases it).
async fn forget(p: Ports<'_>, outputs: &[Output]) {
    for o in outputs {
        match credits::release(p.records, &o.tenant, &o.job, credits::Call::Unused).await {
            Ok(_) => {
                let _ = p
                    .records
                    .delete(&keys::output(&o.tenant, &o.id), vec![])
                    .await;
            }
            Err(e) => {
                tracing::warn!(error = %e, output = %o.id, "a refused request's output could not be released; failed instead");
                let _ = fail(p, o, "the request was refused as a whole").await;
            }
        }
    }
}

/// Releases the reservations of outputs whose jobs were never queued, and fails them.
async fn undo(p: Ports<'_>, outputs: &[Output], why: &str) {
    for o in outputs {
        // Failed first: an output that stays queued keeps its reservation (reconciliation
        // releases it when its lease runs out), so that a job sent for it later is paid for.
        if fail(p, o, why).await.is_ok() {
            let _ = credits::release(p.records, &o.tenant, &o.job, credits::Call::Unused).await;
        }
    }
}

fn ensure_ready(tr: &transcripts::Transcript) -> Result<()> {
    if tr.status != Status::Ready {
        return Err(Conflict::State(format!(
            "the transcript is {}; outputs need a ready transcript",
            tr.status.as_str()
        ))
        .into());
    }
    Ok(())
}

/// `POST /outputs/{id}/regenerate`: a new revision of an output (same transcript and type),
/// by the same model chain rules; `model` may name another model.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn regenerate(
    p: Ports<'_>,
    a: &Access,
    id: &OutputId,
    model: Option<&str>,
) -> Result<Output> {
    let t = a.caller.tenant;
    let old = get(p.records, &t, id).await?;
    access::authorize(
        a,
        Need::Permission(Permission::OutputsGenerate, Scope::Team),
        old.team.as_ref(),
    )?;
    let tr = transcripts::get(p.records, &t, &old.transcript).await?;
    ensure_ready(&tr)?;
    let kind = outputs::builtin(&old.output_type)
        .ok_or_else(|| Error::unexpected("an unknown output type", old.output_type.clone()))?;
    let Plan {
        mut chains,
        catalog,
        ..
    } = plan_chains(p, a, &tr, std::slice::from_ref(&kind), model).await?;
    let o = prepare_one(
        p,
        a,
        &tr,
        &kind,
        &catalog,
        chains.remove(0),
        Some(&old),
        None,
    )
    .await?;
    if let Err(e) = enqueue(p, &o, None).await {
        undo(p, std::slice::from_ref(&o), NOT_QUEUED).await;
        return Err(e);
    }
    Ok(o)
}

/// What a request is decided on before it reserves anything: the model chain of each output
/// type, for this caller and transcript, and the caller's terms (the tier's rate, overage and
/// allowance, which its reservations follow).
struct Plan {
    chains: Vec<Vec<model_choice::Step>>,
    catalog: Vec<catalog::Model>,
    terms: credits::Terms,
}

impl Plan {
    /// What each output would reserve, in the order of `kinds`.
    fn lines(
        &self,
        tr: &transcripts::Transcript,
        kinds: &[outputs::OutputType],
    ) -> Result<Vec<credits::QuoteLine>> {
        let rate = self.terms.rate(DEFAULT_RATE);
        kinds
            .iter()
            .zip(&self.chains)
            .map(|(kind, chain)| {
                let e = reservation_estimate(&self.catalog, chain, tr, kind)?;
                Ok(credits::QuoteLine {
                    output_type: kind.key.clone(),
                    provider: e.step.provider.clone(),
                    model: e.step.model.clone(),
                    price_version: e.price_version,
                    input_tokens: e.input_tokens,
                    max_output_tokens: e.max_output_tokens,
                    cost_micro_usd: e.cost,
                    credits: rate.credits(e.cost),
                })
            })
            .collect()
    }
}

async fn plan_chains(
    p: Ports<'_>,
    a: &Access,
    tr: &transcripts::Transcript,
    kinds: &[outputs::OutputType],
    model: Option<&str>,
) -> Result<Plan> {
    let t = a.caller.tenant;
    let catalog = catalog::models(p.records).await?;
    p.models.ready().await?;
    let terms = credits::Terms::of(p.records, &t, &a.caller.user).await?;
    let team_allowed = match &tr.team {
        Some(team) => crate::teams::get(p.records, &t, team).await?.allowed_models,
        None => Vec::new(),
    };
    let configured =
        |provider: &str| provider == model_choice::OFFLINE.0 || p.models.configured(provider);
    let mut out = Vec::new();
    for kind in kinds {
        let preference = model_choice::preference(p.records, &t, &a.caller.user, &kind.key).await?;
        let constraints = model_choice::constraints(p.records, &t, &kind.key).await?;
        let chain = model_choice::chain(&model_choice::Inputs {
            output_type: &kind.key,
            requested: model,
            preference: preference.as_ref().map(|p| p.model.as_str()),
            constraints: constraints.as_ref(),
            tier: terms.tier(),
            team_allowed: &team_allowed,
            catalog: &catalog,
            configured: &configured,
            transcript_tokens: tr.prompt_tokens(),
            overhead_tokens: credits::PROMPT_OVERHEAD_TOKENS,
            max_output_tokens: kind.default_max_output_tokens,
        })?;
        out.push(chain);
    }
    Ok(Plan {
        chains: out,
        catalog,
        terms,
    })
}

/// Reserves one output's estimate (the dearest step of its chain, so that any step it falls
/// back to is covered) and writes the output; its job is queued by the caller.
#[allow(clippy::too_many_arguments)]
async fn prepare_one(
    p: Ports<'_>,
    a: &Access,
    tr: &transcripts::Transcript,
    kind: &outputs::OutputType,
    catalog: &[catalog::Model],
    chain: Vec<model_choice::Step>,
    previous: Option<&Output>,
    lead: Option<OutputId>,
) -> Result<Output> {
    let t = a.caller.tenant;
    let Estimate {
        step: first,
        input_tokens,
        max_output_tokens,
        split,
        ..
    } = reservation_estimate(catalog, &chain, tr, kind)?;
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
            provider: first.provider.clone(),
            model: first.model.clone(),
            input_tokens,
            max_output_tokens,
            rate: DEFAULT_RATE,
            split,
        },
    )
    .await?;
    let (origin, revision) = match previous {
        None => (None, 1),
        Some(old) => match next_revision(p.records, old).await {
            Ok(next) => next,
            Err(e) => {
                let _ = credits::release(p.records, &t, &job, credits::Call::Unused).await;
                return Err(e);
            }
        },
    };
    let now = p.clock.now();
    let first = &chain[0];
    let output = Output {
        id: OutputId::from_uuid(p.ids.new_id()),
        tenant: t,
        transcript: tr.id,
        owner: a.caller.user,
        team: tr.team,
        output_type: kind.key.clone(),
        job,
        provider: first.provider.clone(),
        model: first.model.clone(),
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
        chain,
        step: 0,
        coverage: None,
        map: None,
        revision,
        regenerates: previous.map(|o| o.id),
        origin,
        lead,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    let written = p
        .records
        .put(output_item(&output)?, vec![Condition::NotExists])
        .await;
    if let Err(e) = written {
        let _ = credits::release(p.records, &t, &job, credits::Call::Unused).await;
        return Err(e);
    }
    Ok(output)
}

/// The line a regeneration of `old` belongs to, and its number there: one more than the
/// regenerations counted so far (one atomic add: two at once get two numbers).
async fn next_revision(records: &dyn Records, old: &Output) -> Result<(Option<OutputId>, u32)> {
    let origin = old.origin.unwrap_or(old.id);
    let item = records
        .update(
            &keys::output_revisions(&old.tenant, &origin),
            Update::new().add("regenerations", 1),
            vec![],
        )
        .await?;
    let n = item
        .get("regenerations")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::unexpected("a revision count", "not a number"))?;
    let revision =
        u32::try_from(n + 1).map_err(|_| Error::unexpected("a revision count", n.to_string()))?;
    Ok((Some(origin), revision))
}

/// A step whose prompt a provider may cache: a real model reading the whole transcript.
fn cacheable(s: &model_choice::Step) -> bool {
    s.provider != model_choice::OFFLINE.0 && !s.map_reduce
}

/// Waits until the lead output's call has had time to put the shared prompt in the provider's
/// cache (bounded: a lead that has not started within a few warm-ups is not waited for).
async fn follow(p: Ports<'_>, o: &Output, step: &model_choice::Step) {
    let warmup = p.models.cache_warmup(&step.provider);
    let Some(lead) = o.lead.filter(|_| !warmup.is_zero()) else {
        return;
    };
    let poll = (warmup / 10).max(std::time::Duration::from_millis(5));
    let give_up = std::time::Instant::now() + warmup * 5;
    loop {
        match get(p.records, &o.tenant, &lead).await {
            Ok(l) if matches!(l.status, OutputStatus::Done | OutputStatus::Failed) => return,
            Ok(l) if l.status == OutputStatus::Running => {
                let started = l.updated_at.0;
                let ready = started + i64::try_from(warmup.as_millis()).unwrap_or(i64::MAX);
                let now = p.clock.now().0;
                if now < ready {
                    p.models
                        .sleep(std::time::Duration::from_millis((ready - now) as u64))
                        .await;
                }
                return;
            }
            Ok(_) if std::time::Instant::now() < give_up => p.models.sleep(poll).await,
            _ => return,
        }
    }
}

async fn enqueue(p: Ports<'_>, o: &Output, phase: Option<Phase>) -> Result<()> {
    let dedup = match phase {
        None => o.id.to_string(),
        Some(Phase::Map { step, chunk }) => format!("{}-m{step}-{chunk}", o.id),
        Some(Phase::Reduce { step }) => format!("{}-r{step}", o.id),
        Some(Phase::Resume { step }) => format!("{}-s{step}", o.id),
    };
    let body = serde_json::to_string(&JobMessage {
        tenant: o.tenant,
        output: o.id,
        phase,
    })
    .map_err(|e| Error::unexpected("encoding a job", e))?;
    p.queue
        .send(Message {
            body,
            attributes: Default::default(),
            dedup_id: Some(dedup),
        })
        .await
        .map(|_| ())
}

/// After an upload: the outputs named when the transcript was created (`output_types`) are
/// requested as its owner, once. The transcript's `generation` moves from `requested` to
/// `queued` (or to `failed`, with `generation_error`, when the request is refused: no credits,
/// no model allowed). A transient failure is returned, so the event is delivered again.
///
/// A delivery claims the request first: `requesting`, with the claim's time in
/// `generation_claim`. A delivery that finds a claim younger than [`UPLOAD_CLAIM_LEASE`]
/// answers unavailable, so that it is delivered again later; one that finds an older claim
/// (its holder died: on-upload's timeout has passed) takes it over, and queues again the
/// outputs the dead one wrote that no consumer has touched (it may have died before sending
/// them; a job sent twice is charged once; if the queue fails it, it keeps the claim for the
/// next takeover). Any other delivery that fails (the queue refused a job) gives the claim
/// back (`requested`) with the ids of the outputs it made in `generation_outputs`, so that
/// the next one, which reads them with the transcript, requests only the types that have
/// none. The outputs named at creation are made once each.
pub async fn after_upload(p: Ports<'_>, event_json: &[u8]) -> Result<Vec<Output>> {
    let mut made = Vec::new();
    for created in crate::uploads::parse_s3_event(event_json)? {
        if let Some((t, id)) = keys::parse_transcript_upload(&created.key) {
            made.extend(request_after_upload(p, &t, &id).await?);
        }
    }
    Ok(made)
}

/// How long a delivery's claim on the outputs named at an upload holds: on-upload's timeout
/// (infra/template.yaml), after which a delivery that died holding it is gone. Lambda
/// delivers a failed S3 event again after about one minute, then after two more.
pub const UPLOAD_CLAIM_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// The transcript's attributes of the request after upload (beyond `generation`).
const CLAIM: &str = "generation_claim";
const MADE: &str = "generation_outputs";

/// Whether the update was made (`false`: a condition did not hold).
async fn conditional_update(
    p: Ports<'_>,
    t: &TenantId,
    id: &TranscriptId,
    update: Update,
    conditions: Vec<Condition>,
) -> Result<bool> {
    match p
        .records
        .update(&keys::transcript(t, id), update, conditions)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.failed_write() == Some(0) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Ends this delivery's claim (`claim`, its time): `to` is `queued`, `requested` or `failed`.
async fn end_claim(
    p: Ports<'_>,
    tr: &transcripts::Transcript,
    claim: i64,
    to: &str,
    error: Option<String>,
    made: &[OutputId],
) -> Result<bool> {
    let mut update = Update::new()
        .set("generation", to)
        .remove(CLAIM)
        .add("version", 1);
    if let Some(e) = error {
        update = update.set("generation_error", e);
    }
    if !made.is_empty() {
        let ids: Vec<String> = made.iter().map(ToString::to_string).collect();
        update = update.set(MADE, to_value(&ids)?);
    }
    let conditions = vec![
        Condition::equals("generation", "requesting"),
        Condition::equals(CLAIM, claim),
    ];
    conditional_update(p, &tr.tenant, &tr.id, update, conditions).await
}

async fn request_after_upload(
    p: Ports<'_>,
    t: &TenantId,
    id: &TranscriptId,
) -> Result<Vec<Output>> {
    let Some(item) = p.records.get(&keys::transcript(t, id)).await? else {
        return Ok(Vec::new());
    };
    let held = item.get(CLAIM).and_then(Value::as_i64);
    let made_before: Vec<OutputId> = item
        .get(MADE)
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().and_then(|s| OutputId::parse(s).ok()))
                .collect()
        })
        .unwrap_or_default();
    let tr: transcripts::Transcript = from_item(item)?;
    if tr.status != Status::Ready {
        return Ok(Vec::new());
    }
    let now = p.clock.now();
    // The state read, checked by the claim: `generation_outputs` must be what this delivery
    // read, so a `requested` claim also checks the version.
    let (from, takeover) = match (tr.generation.as_deref(), held) {
        (Some("requested"), _) => (
            vec![
                Condition::equals("generation", "requested"),
                Condition::equals("version", tr.version),
            ],
            false,
        ),
        (Some("requesting"), Some(at)) if Timestamp(at).plus(UPLOAD_CLAIM_LEASE) <= now => {
            tracing::warn!(transcript = %id, "taking over the request of a delivery that did not finish");
            (vec![Condition::equals(CLAIM, at)], true)
        }
        // Claimed before claims carried their time: its holder is long gone.
        (Some("requesting"), None) => (
            vec![
                Condition::equals("generation", "requesting"),
                Condition::equals("version", tr.version),
            ],
            true,
        ),
        (Some("requesting"), Some(_)) => {
            return Err(Error::unavailable(
                "the outputs named at upload",
                "another delivery of the upload is requesting them",
            ));
        }
        _ => return Ok(Vec::new()),
    };
    // Claimed first: a delivery of the same event at the same time requests nothing.
    let claim = now.millis();
    let claimed = Update::new()
        .set("generation", "requesting")
        .set(CLAIM, claim)
        .add("version", 1);
    if !conditional_update(p, t, id, claimed, from).await? {
        return Err(Error::unavailable(
            "the outputs named at upload",
            "another delivery of the upload claimed them first",
        ));
    }
    match request_missing(p, &tr, &made_before, takeover).await {
        Ok(made) => {
            if !end_claim(p, &tr, claim, "queued", None, &[]).await? {
                tracing::warn!(transcript = %id, "the claim was taken over before this delivery ended");
            }
            Ok(made)
        }
        Err((e, _)) if refusal(&e) => {
            tracing::warn!(error = %e, transcript = %id, "the outputs asked for at upload were refused");
            end_claim(p, &tr, claim, "failed", Some(e.to_string()), &[]).await?;
            Ok(Vec::new())
        }
        // A takeover keeps its claim: the outputs it found may still be unsent, which only
        // the next takeover (after the lease) sends again.
        Err((e, _)) if takeover => Err(e),
        Err((e, made)) => {
            // The outputs whose jobs went out (those recorded before, whether or not this
            // delivery read them back); the next delivery requests the other types.
            let mut ids = made_before;
            for o in made.iter().filter(|o| !not_queued(o)) {
                if !ids.contains(&o.id) {
                    ids.push(o.id);
                }
            }
            end_claim(p, &tr, claim, "requested", None, &ids).await?;
            Err(e)
        }
    }
}

/// Requests the output types named at `tr`'s creation that have no output yet, other than one
/// whose job was not queued. The outputs made before are those an earlier delivery recorded
/// (`made_before`, read with the transcript) and, when taking over from a delivery that died,
/// the transcript's outputs (through its index, which DynamoDB updates eventually: the dead
/// delivery wrote a lease or more ago), whose untouched ones are queued again. A failure comes
/// with every output made so far (this delivery's and the earlier ones).
async fn request_missing(
    p: Ports<'_>,
    tr: &transcripts::Transcript,
    made_before: &[OutputId],
    takeover: bool,
) -> std::result::Result<Vec<Output>, (Error, Vec<Output>)> {
    let mut made = Vec::new();
    match add_missing(p, tr, made_before, takeover, &mut made).await {
        Ok(()) => Ok(made),
        Err(e) => Err((e, made)),
    }
}

/// [`request_missing`]'s work: every output made, before or now, goes into `made`.
async fn add_missing(
    p: Ports<'_>,
    tr: &transcripts::Transcript,
    made_before: &[OutputId],
    takeover: bool,
    made: &mut Vec<Output>,
) -> Result<()> {
    for id in made_before {
        match get(p.records, &tr.tenant, id).await {
            Ok(o) => made.push(o),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if takeover {
        let all: Vec<Output> =
            query_all_as(p.records, outputs_query(&tr.tenant, Some(&tr.id))).await?;
        for o in all {
            if tr.output_types.contains(&o.output_type) && !made.iter().any(|m| m.id == o.id) {
                if o.status == OutputStatus::Queued && o.version == 0 {
                    enqueue(p, &o, None).await?;
                }
                made.push(o);
            }
        }
    }
    let missing: Vec<String> = tr
        .output_types
        .iter()
        .filter(|k| !made.iter().any(|o| &o.output_type == *k && !not_queued(o)))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let owner = access::Caller {
        tenant: tr.tenant,
        user: tr.owner,
        email: None,
        platform_admin: false,
    };
    let a = access::load(p.records, p.clock, &owner).await?;
    let now = request(p, &a, &tr.id, &missing, None).await?;
    let unqueued = now.iter().any(not_queued);
    made.extend(now);
    if unqueued {
        // Delivered again, the event requests those types anew.
        return Err(Error::unavailable(
            "the generate queue",
            "some of the outputs named at upload could not be queued",
        ));
    }
    Ok(())
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
    let query = outputs_query(t, transcript);
    query_page(records, query.descending().limit(limit).after(cursor)).await
}

/// A page of the tenant's outputs, newest first, that `keep` accepts: index pages are read on
/// until the page is full ([`crate::records::query_filtered_page`]), so that a filter does
/// not answer empty pages with cursors.
pub async fn list_where(
    records: &dyn Records,
    t: &TenantId,
    limit: u32,
    cursor: Option<String>,
    keep: impl Fn(&Output) -> bool,
) -> Result<(Vec<Output>, Option<String>)> {
    let base = outputs_query(t, None).descending().limit(limit);
    crate::records::query_filtered_page(records, base, cursor, limit, keep).await
}

/// A transcript's outputs (gsi1), or all of a tenant's (gsi2).
fn outputs_query(t: &TenantId, transcript: Option<&TranscriptId>) -> Query {
    let any = OutputId::from_uuid(uuid::Uuid::nil());
    match transcript {
        Some(tr) => Query::partition(keys::outputs_of_transcript(t, tr, &any).pk).on(Index::Gsi1),
        None => Query::partition(keys::outputs_index(t, &any).pk).on(Index::Gsi2),
    }
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
    /// Done or failed before, or a message of a phase that is over: nothing to do.
    AlreadyFinished(OutputId),
    /// The transcript is read in chunks: this many map jobs were queued.
    Mapping(OutputId, u32),
    /// One chunk was read (and, after the last, the reduce job queued).
    Mapped(OutputId),
    /// A step failed; the next step of the chain was queued.
    FellBack(OutputId, String),
    /// The output, or its transcript, was deleted: nothing to make, nothing charged.
    Gone(OutputId),
}

/// The transcript as the model reads it: one line per segment, its id first.
fn prefix(t: &Normalized, segments: std::ops::RangeInclusive<usize>) -> String {
    let mut out = String::new();
    for s in &t.segments[segments] {
        out.push_str(&line_head(t, s));
        out.push_str(&s.text);
        out.push('\n');
    }
    out
}

/// What [`prefix`] writes before a segment's text: `[id time] speaker: `.
fn line_head(t: &Normalized, s: &recap_transcript::Segment) -> String {
    let who = s
        .speaker
        .as_deref()
        .and_then(|id| t.speakers.iter().find(|sp| sp.id == id))
        .map(|sp| sp.name.as_str())
        .unwrap_or("");
    format!("[{} {}] {}: ", s.id, outputs::clock(s.start_ms), who)
}

/// Each segment's line framing in [`prefix`] (its head and newline), in tokens at most: its
/// bytes, since a token holds at least one. The ids, times and punctuation are short runs of
/// digits and symbols that an estimate per character would undercount.
fn framing(t: &Normalized) -> Vec<u64> {
    t.segments
        .iter()
        .map(|s| line_head(t, s).len() as u64 + 1)
        .collect()
}

/// The tokens of every segment's line framing together (see [`framing`]): kept with the
/// transcript's record when its upload is parsed, so that a request's model choice and
/// reservation count the prompt the model reads, not only the text.
pub(crate) fn framing_tokens(t: &Normalized) -> u64 {
    framing(t).iter().sum()
}

/// The output a generation job's message is for (`None` for a message that is not a job).
pub fn job_output(body: &str) -> Option<OutputId> {
    serde_json::from_str::<JobMessage>(body)
        .ok()
        .map(|m| m.output)
}

/// The generate consumer's work for one message. `last_attempt`: the queue will not deliver it
/// again, so a transient failure fails the output (and releases its reservation) now.
#[tracing::instrument(skip_all)]
pub async fn process(p: Ports<'_>, body: &str, last_attempt: bool) -> Result<Processed> {
    let msg: JobMessage =
        serde_json::from_str(body).map_err(|e| Error::validation("message", e.to_string()))?;
    let o = match get(p.records, &msg.tenant, &msg.output).await {
        Ok(o) => o,
        // Deleted by its user (its reservation released with it): nothing to do, for good.
        Err(Error::NotFound { .. }) => return Ok(Processed::Gone(msg.output)),
        Err(e) => return Err(e),
    };
    if matches!(o.status, OutputStatus::Done | OutputStatus::Failed) {
        return Ok(Processed::AlreadyFinished(o.id));
    }
    if transcript_gone(p.records, &o).await? {
        discard(p.records, p.files, &o).await?;
        return Ok(Processed::Gone(o.id));
    }
    // The generate function reads the catalog's providers here, on its first job that has
    // work to do, rather than at start-up.
    p.models.ready().await?;
    match msg.phase {
        None => start(p, o, 0, last_attempt).await,
        Some(Phase::Resume { step }) => start(p, o, step, last_attempt).await,
        Some(Phase::Map { step, chunk }) => map(p, o, step, chunk, last_attempt).await,
        Some(Phase::Reduce { step }) => reduce(p, o, step, last_attempt).await,
    }
}

/// The output as it stands now, or `None` when its user deleted it since its job read it.
async fn live(p: Ports<'_>, o: &Output) -> Result<Option<Output>> {
    match get(p.records, &o.tenant, &o.id).await {
        Ok(now) => Ok(Some(now)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether the output was deleted, by its user or with its transcript, since its job read it.
async fn deleted(p: Ports<'_>, o: &Output) -> Result<bool> {
    match live(p, o).await? {
        Some(_) => transcript_gone(p.records, o).await,
        None => Ok(true),
    }
}

/// The end of a job whose output was deleted while it worked: the output is discarded again,
/// so that the files the job wrote after the delete's own discard go too.
async fn gone(p: Ports<'_>, o: &Output) -> Result<Processed> {
    discard(p.records, p.files, o).await?;
    Ok(Processed::Gone(o.id))
}

/// Whether the output's transcript was deleted (or is being deleted).
async fn transcript_gone(records: &dyn Records, o: &Output) -> Result<bool> {
    match transcripts::get(records, &o.tenant, &o.transcript).await {
        Ok(tr) => Ok(tr.status == transcripts::Status::Deleting),
        Err(Error::NotFound { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Removes an output whose transcript or whose user deleted it: its reservation released
/// first (each job once; a settled one stays settled), then its files, then its record.
/// Safe to repeat, and to race with the generate consumer: a job that finds the output gone
/// does nothing, and one that wrote files or settles after the release finds the output (or
/// its job) gone, charges nothing, and discards it again.
pub(crate) async fn discard(records: &dyn Records, files: &dyn Files, o: &Output) -> Result<()> {
    // Queued, its job has called no model yet: its AI call goes back, if the output is still
    // queued when the reservation is released (`o` may be older than that). Running, it may
    // have called one.
    let (call, unused) = match o.status {
        OutputStatus::Queued => (
            credits::Call::Unused,
            Some(Write::check(
                keys::output(&o.tenant, &o.id),
                vec![Condition::equals("status", "queued")],
            )),
        ),
        _ => (credits::Call::Made, None),
    };
    match credits::release_unless(records, &o.tenant, &o.job, call, unused).await {
        Ok(_) | Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let prefix = keys::output_file(&o.tenant, &o.transcript, &o.id, "x")?
        .as_str()
        .trim_end_matches('x')
        .to_string();
    loop {
        let page = files.list(&prefix, None, 1000).await?;
        if page.files.is_empty() {
            break;
        }
        for f in page.files {
            files.delete(&f.key).await?;
        }
    }
    records
        .delete(&keys::output(&o.tenant, &o.id), vec![])
        .await?;
    Ok(())
}

/// Every output of a transcript, discarded (the transcript is being deleted).
pub(crate) async fn discard_outputs_of(
    records: &dyn Records,
    files: &dyn Files,
    t: &TenantId,
    tr: &TranscriptId,
) -> Result<usize> {
    let outputs: Vec<Output> = query_all_as(records, outputs_query(t, Some(tr))).await?;
    for o in &outputs {
        discard(records, files, o).await?;
        // The revision count of a line goes with the transcript (absent unless regenerated).
        records
            .delete(
                &keys::output_revisions(t, &o.origin.unwrap_or(o.id)),
                vec![],
            )
            .await?;
    }
    Ok(outputs.len())
}

async fn load_normalized(p: Ports<'_>, o: &Output) -> Result<(String, Normalized)> {
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
    let mut normalized = normalized;
    // Stored before each segment's count was kept: its record holds the exact total.
    if let Some(total) = tr.token_estimate {
        normalized.spread_openai_tokens(total);
    }
    Ok((tr.title, normalized))
}

fn step_of(o: &Output, step: u32) -> Result<model_choice::Step> {
    o.chain
        .get(step as usize)
        .cloned()
        .ok_or_else(|| Error::unexpected("a chain step that is not there", step.to_string()))
}

fn kind_of(o: &Output) -> Result<outputs::OutputType> {
    outputs::builtin(&o.output_type)
        .ok_or_else(|| Error::unexpected("an unknown output type", o.output_type.clone()))
}

/// Runs the chain from step `from`: the first step that answers writes the output.
async fn start(p: Ports<'_>, o: Output, from: u32, last_attempt: bool) -> Result<Processed> {
    if o.step != from || o.map.is_some() {
        // A stale message: the output moved on (or is being read in chunks).
        return Ok(Processed::AlreadyFinished(o.id));
    }
    if let Err(e) = update_output(p, &o, Update::new().set("status", "running")).await {
        if e.failed_write() != Some(0) {
            return Err(e);
        }
        // Another delivery moved it at the same moment: done already, or at work on it now
        // (then this one comes back after its visibility timeout).
        let now = get(p.records, &o.tenant, &o.id).await?;
        if matches!(now.status, OutputStatus::Done | OutputStatus::Failed) {
            return Ok(Processed::AlreadyFinished(now.id));
        }
        return Err(Conflict::TransactionConflict.into());
    }
    let o = get(p.records, &o.tenant, &o.id).await?;
    let (title, normalized) = load_normalized(p, &o).await?;
    let kind = kind_of(&o)?;
    let chain = if o.chain.is_empty() {
        // Outputs written before chains: their one model.
        vec![model_choice::Step {
            provider: o.provider.clone(),
            model: o.model.clone(),
            map_reduce: false,
        }]
    } else {
        o.chain.clone()
    };
    let mut why = Vec::new();
    let mut transient = false;
    for (k, step) in chain.iter().enumerate().skip(from as usize) {
        let k = k as u32;
        if step.map_reduce {
            return begin_map(p, &o, k, step, &normalized).await;
        }
        let outcome = if step.provider == model_choice::OFFLINE.0 {
            offline(&kind, &title, &normalized)
        } else {
            if k == 0 {
                follow(p, &o, step).await;
            }
            let request = whole_request(step, &kind, &normalized);
            call_with_repair(p, step, request, &kind).await
        };
        match outcome {
            Ok((result, usage)) => {
                let all = normalized.segments.len() as u64;
                let coverage = Coverage {
                    chunks: 1,
                    segments_read: all,
                    segments_total: all,
                };
                return finish(p, &o, &kind, step, result, usage, coverage, &normalized).await;
            }
            Err(e) => {
                transient |= matches!(e, GenError::Transient(_));
                why.push(format!("{}: {}", step.name(), e.text()));
            }
        }
    }
    give_up(p, &o, why, transient, last_attempt).await
}

/// Every step failed: back to the queue when one failure may pass, else failed and released.
async fn give_up(
    p: Ports<'_>,
    o: &Output,
    why: Vec<String>,
    transient: bool,
    last_attempt: bool,
) -> Result<Processed> {
    let why = why.join("; ");
    if transient && !last_attempt {
        return Err(Error::unavailable("the model", why));
    }
    // Its steps ran: the AI call stays used (see `credits::Call`).
    credits::release(p.records, &o.tenant, &o.job, credits::Call::Made).await?;
    let Some(now) = live(p, o).await? else {
        return gone(p, o).await;
    };
    if matches!(now.status, OutputStatus::Done | OutputStatus::Failed) {
        return Ok(Processed::AlreadyFinished(o.id));
    }
    fail(p, &now, &why).await?;
    Ok(Processed::Failed(o.id, why))
}

/// A step failed for good: the next one is queued (or, at the end of the chain, the output
/// fails).
async fn fall_back(
    p: Ports<'_>,
    o: &Output,
    step: u32,
    why: String,
    transient: bool,
    last_attempt: bool,
) -> Result<Processed> {
    if transient && !last_attempt {
        return Err(Error::unavailable("the model", why));
    }
    let next = step + 1;
    if next as usize >= o.chain.len() {
        return give_up(p, o, vec![why], false, true).await;
    }
    // Chunks of the step may be recorded meanwhile: move on from the latest version.
    for _ in 0..20 {
        let Some(now) = live(p, o).await? else {
            return gone(p, o).await;
        };
        if now.step != step || matches!(now.status, OutputStatus::Done | OutputStatus::Failed) {
            return Ok(Processed::AlreadyFinished(o.id));
        }
        let update = Update::new().set("step", next).remove("map");
        match update_output(p, &now, update).await {
            Ok(()) => {
                let moved = get(p.records, &o.tenant, &o.id).await?;
                enqueue(p, &moved, Some(Phase::Resume { step: next })).await?;
                return Ok(Processed::FellBack(o.id, why));
            }
            Err(e) if e.failed_write() == Some(0) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Conflict::TransactionConflict.into())
}

fn chunks_for(
    p: Ports<'_>,
    step: &model_choice::Step,
    normalized: &Normalized,
) -> impl std::future::Future<Output = Result<Vec<recap_transcript::Chunk>>> {
    let records = p.records;
    let (provider, model) = (step.provider.clone(), step.model.clone());
    async move {
        let m = catalog::model(records, &provider, &model).await?;
        // Each segment as the model reads it: its text and its line's framing.
        let tokens: Vec<u64> = normalized
            .segment_tokens(family(&provider))
            .iter()
            .zip(framing(normalized))
            .map(|(text, frame)| text + frame)
            .collect();
        Ok(recap_transcript::chunk_by(
            normalized,
            &tokens,
            chunk_window(m.context_window),
            MAP_OVERLAP_TOKENS,
        ))
    }
}

/// Each chunk's first and last segment: as fixed when the reading began, or (a state written
/// before spans were kept) cut again. Spans that do not fit the transcript are an error.
async fn spans_of(
    p: Ports<'_>,
    step: &model_choice::Step,
    normalized: &Normalized,
    state: &MapState,
) -> Result<Vec<(usize, usize)>> {
    if state.spans.is_empty() {
        let chunks = chunks_for(p, step, normalized).await?;
        return Ok(chunks
            .iter()
            .map(|c| (c.first_segment, c.last_segment))
            .collect());
    }
    let n = normalized.segments.len();
    state
        .spans
        .iter()
        .map(|&[a, b]| {
            let (a, b) = (a as usize, b as usize);
            if a <= b && b < n {
                Ok((a, b))
            } else {
                Err(Error::unexpected(
                    "a chunk outside the transcript",
                    format!("{a}..={b} of {n}"),
                ))
            }
        })
        .collect()
}

fn family(provider: &str) -> recap_transcript::TokenizerFamily {
    use recap_transcript::TokenizerFamily as F;
    match provider {
        "openai" => F::OpenAi,
        "anthropic" => F::Anthropic,
        "google" => F::Gemini,
        _ => F::Other,
    }
}

/// The step reads in chunks: one map job per chunk, through the queue.
async fn begin_map(
    p: Ports<'_>,
    o: &Output,
    k: u32,
    step: &model_choice::Step,
    normalized: &Normalized,
) -> Result<Processed> {
    let chunks = chunks_for(p, step, normalized).await?;
    let n = chunks.len() as u32;
    let state = MapState {
        step: k,
        chunks: n,
        spans: chunks
            .iter()
            .map(|c| [c.first_segment as u32, c.last_segment as u32])
            .collect(),
        done: Vec::new(),
        usage: Usage::default(),
    };
    let now = get(p.records, &o.tenant, &o.id).await?;
    match update_output(
        p,
        &now,
        Update::new().set("step", k).set("map", to_value(&state)?),
    )
    .await
    {
        Ok(()) => {}
        Err(e) if e.failed_write() == Some(0) => return Ok(Processed::AlreadyFinished(o.id)),
        Err(e) => return Err(e),
    }
    let now = get(p.records, &o.tenant, &o.id).await?;
    for chunk in 0..n {
        enqueue(p, &now, Some(Phase::Map { step: k, chunk })).await?;
    }
    Ok(Processed::Mapping(o.id, n))
}

fn map_file(o: &Output, step: u32, chunk: u32) -> Result<FileKey> {
    keys::output_file(
        &o.tenant,
        &o.transcript,
        &o.id,
        &format!("map-{step}-{chunk}.json"),
    )
}

/// The schema of a map step's notes.
fn notes_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "required": ["notes"],
        "properties": {"notes": {"type": "array", "items": {
            "type": "object",
            "required": ["text", "quote", "segments"],
            "properties": {
                "text": {"type": "string"},
                "quote": {"type": "string"},
                "segments": {"type": "array", "items": {"type": "string"}, "minItems": 1}
            }
        }}}
    })
}

async fn map(
    p: Ports<'_>,
    o: Output,
    step: u32,
    chunk: u32,
    last_attempt: bool,
) -> Result<Processed> {
    let Some(state) = o.map.clone().filter(|m| m.step == step && o.step == step) else {
        return Ok(Processed::AlreadyFinished(o.id));
    };
    if state.done.contains(&chunk) {
        return Ok(Processed::AlreadyFinished(o.id));
    }
    let s = step_of(&o, step)?;
    let kind = kind_of(&o)?;
    let (_, normalized) = load_normalized(p, &o).await?;
    let spans = spans_of(p, &s, &normalized, &state).await?;
    let Some(&(first, last)) = spans.get(chunk as usize) else {
        return Err(Error::unexpected(
            "a chunk that is not there",
            chunk.to_string(),
        ));
    };
    let request = ModelRequest {
        model: s.model.clone(),
        cacheable_prefix: prefix(&normalized, first..=last),
        instructions: format!(
            "This is part {} of {} of a transcript. Note everything in it that a {} of the whole would need. {}",
            chunk + 1,
            state.chunks,
            kind.name,
            outputs::CITATION_RULES
        ),
        schema_name: "notes".into(),
        json_schema: notes_schema(),
        max_output_tokens: MAP_ANSWER_TOKENS,
    };
    let (notes, usage) = match call_checked(p, &s, request, &notes_schema(), None).await {
        Ok(r) => r,
        Err(e) => {
            let transient = matches!(e, GenError::Transient(_));
            let why = format!("{} (part {}): {}", s.name(), chunk + 1, e.text());
            return fall_back(p, &o, step, why, transient, last_attempt).await;
        }
    };
    let key = map_file(&o, step, chunk)?;
    p.files
        .put(&key, notes.to_string().into_bytes(), "application/json")
        .await?;
    // Its transcript deleted while the model read the chunk: its notes go too (see `finish`;
    // the output deleted by its user is found below, where the chunk is recorded).
    if transcript_gone(p.records, &o).await? {
        return gone(p, &o).await;
    }
    // Record the chunk (optimistically: another chunk may be recorded at the same time).
    for _ in 0..20 {
        let Some(now) = live(p, &o).await? else {
            return gone(p, &o).await;
        };
        let Some(mut m) = now
            .map
            .clone()
            .filter(|m| m.step == step && now.step == step)
        else {
            return Ok(Processed::AlreadyFinished(o.id));
        };
        if m.done.contains(&chunk) {
            return Ok(Processed::AlreadyFinished(o.id));
        }
        m.done.push(chunk);
        add(&mut m.usage, &usage);
        let complete = m.done.len() as u32 == m.chunks;
        match update_output(p, &now, Update::new().set("map", to_value(&m)?)).await {
            Ok(()) => {
                if complete {
                    let after = get(p.records, &o.tenant, &o.id).await?;
                    enqueue(p, &after, Some(Phase::Reduce { step })).await?;
                }
                return Ok(Processed::Mapped(o.id));
            }
            Err(e) if e.failed_write() == Some(0) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Conflict::TransactionConflict.into())
}

async fn reduce(p: Ports<'_>, o: Output, step: u32, last_attempt: bool) -> Result<Processed> {
    let Some(state) = o
        .map
        .clone()
        .filter(|m| m.step == step && o.step == step && m.done.len() as u32 == m.chunks)
    else {
        return Ok(Processed::AlreadyFinished(o.id));
    };
    let s = step_of(&o, step)?;
    let kind = kind_of(&o)?;
    let (_, normalized) = load_normalized(p, &o).await?;
    let spans = spans_of(p, &s, &normalized, &state).await?;
    let mut notes = String::new();
    for chunk in 0..state.chunks {
        let Some((bytes, _)) = p.files.get(&map_file(&o, step, chunk)?).await? else {
            return Err(Error::unexpected(
                "a chunk's notes are missing",
                chunk.to_string(),
            ));
        };
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::unexpected("reading a chunk's notes", e))?;
        for n in v["notes"].as_array().into_iter().flatten() {
            let ids: Vec<&str> = n["segments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            notes.push_str(&format!(
                "[{}] {} — \"{}\"\n",
                ids.join(" "),
                n["text"].as_str().unwrap_or(""),
                n["quote"].as_str().unwrap_or("")
            ));
        }
    }
    let request = ModelRequest {
        model: s.model.clone(),
        cacheable_prefix: notes,
        instructions: format!(
            "These are notes on every part of one transcript, each with the segment ids it cites. {}",
            envelope_instructions(&kind)
        ),
        schema_name: "output".into(),
        json_schema: outputs::envelope_schema(),
        max_output_tokens: kind.default_max_output_tokens,
    };
    let (result, usage) = match call_with_repair(p, &s, request, &kind).await {
        Ok(r) => r,
        Err(e) => {
            let transient = matches!(e, GenError::Transient(_));
            return fall_back(
                p,
                &o,
                step,
                format!("{}: {}", s.name(), e.text()),
                transient,
                last_attempt,
            )
            .await;
        }
    };
    let mut total = state.usage;
    add(&mut total, &usage);
    let mut read = std::collections::BTreeSet::new();
    for &(first, last) in &spans {
        read.extend(first..=last);
    }
    let coverage = Coverage {
        chunks: state.chunks,
        segments_read: read.len() as u64,
        segments_total: normalized.segments.len() as u64,
    };
    finish(p, &o, &kind, &s, result, total, coverage, &normalized).await
}

/// Verifies, renders and stores the result, settles the credits at the answering model's
/// price, and marks the output done.
#[allow(clippy::too_many_arguments)]
async fn finish(
    p: Ports<'_>,
    o: &Output,
    kind: &outputs::OutputType,
    step: &model_choice::Step,
    mut result: Value,
    usage: Usage,
    coverage: Coverage,
    normalized: &Normalized,
) -> Result<Processed> {
    let Verification {
        verified_quotes,
        dropped_quotes,
    } = outputs::verify(&mut result, normalized);
    let cited = outputs::cited_segments(&result).len() as u64;
    let mut files = Vec::new();
    let mut rendered = outputs::render(&kind.key, &result, normalized);
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
    // Its transcript deleted while the model was writing: nothing is kept, nothing charged.
    // The delete's own discard may have listed the files before these were written, so they
    // are removed here. (An output its user deleted had its job released first: the
    // settlement below fails, and that path ends the same way.)
    if transcript_gone(p.records, o).await? {
        return gone(p, o).await;
    }
    let (m, price) = catalog::usable(p.records, &step.provider, &step.model).await?;
    let settled = credits::settle_priced(
        p.records,
        p.clock,
        &o.tenant,
        &o.job,
        usage,
        1,
        Some(credits::Priced {
            provider: m.provider,
            model: m.model,
            price_version: m.price_version,
            price,
        }),
    )
    .await;
    let entry = match settled {
        Ok(entry) => entry,
        // A delete since the check released the job first: it ends as if deleted before.
        // (A job released otherwise, its lease run out, is answered as before.)
        Err(e) => {
            if deleted(p, o).await? {
                return gone(p, o).await;
            }
            return Err(e);
        }
    };
    let youtube = (kind.key == outputs::ANCHORS)
        .then(|| outputs::youtube_chapters(&result))
        .flatten();
    let mut update = Update::new()
        .set("status", "done")
        .set("provider", step.provider.clone())
        .set("model", step.model.clone())
        .set("cost_credits", entry.credits_charged)
        .set("cost_micro_usd", entry.cost_micro_usd)
        .set("verified_quotes", verified_quotes)
        .set("dropped_quotes", dropped_quotes)
        .set("segments_cited", cited)
        .set("segments_total", normalized.segments.len() as u64)
        .set("coverage", to_value(&coverage)?)
        .set("files", to_value(&files)?);
    if let Some(y) = youtube {
        update = update.set("youtube_chapters", y);
    }
    // The version read when this step began: another delivery that finished first makes the
    // write fail (and settlement charged once either way). Map steps record chunks after
    // that, so they start from the latest version, still running.
    let now = if o.map.is_some() {
        // Deleted after settlement (its delete released nothing, and took these files).
        let Some(now) = live(p, o).await? else {
            return Ok(Processed::AlreadyFinished(o.id));
        };
        if now.status != OutputStatus::Running {
            return Ok(Processed::AlreadyFinished(o.id));
        }
        now
    } else {
        o.clone()
    };
    match update_output(p, &now, update).await {
        Ok(()) => Ok(Processed::Done(o.id)),
        // Another delivery finished it first (settlement charged once either way).
        Err(e) if e.failed_write() == Some(0) => Ok(Processed::AlreadyFinished(o.id)),
        Err(e) => Err(e),
    }
}

enum GenError {
    /// Another attempt may succeed (rate limits, outages).
    Transient(String),
    /// It will not: the step fails.
    Final(String),
}

impl GenError {
    fn text(&self) -> &str {
        match self {
            GenError::Transient(s) | GenError::Final(s) => s,
        }
    }
}

fn offline(
    kind: &outputs::OutputType,
    title: &str,
    t: &Normalized,
) -> std::result::Result<(Value, Usage), GenError> {
    let result = outputs::offline(&kind.key, title, t)
        .ok_or_else(|| GenError::Final("no offline generator for this output type".into()))?;
    // Billed at the offline price (zero); the usage records what it would weigh.
    let output = recap_transcript::heuristic_tokens(&result.to_string());
    let usage = Usage {
        uncached_input: t.token_estimate(recap_transcript::TokenizerFamily::Other),
        output,
        ..Usage::default()
    };
    Ok((result, usage))
}

fn envelope_instructions(kind: &outputs::OutputType) -> String {
    format!(
        "{} Answer with a JSON object whose `{}` property holds it; leave the other properties out.",
        kind.instructions, kind.key
    )
}

/// The request for a transcript read whole. The prompt opens with what every output type of
/// this transcript shares, in the order providers cache it (the schema, which is the same
/// envelope for every type, then the transcript); only the instructions differ.
fn whole_request(
    step: &model_choice::Step,
    kind: &outputs::OutputType,
    t: &Normalized,
) -> ModelRequest {
    let all = t.segments.len().saturating_sub(1);
    ModelRequest {
        model: step.model.clone(),
        cacheable_prefix: if t.segments.is_empty() {
            String::new()
        } else {
            prefix(t, 0..=all)
        },
        instructions: envelope_instructions(kind),
        schema_name: "output".into(),
        json_schema: outputs::envelope_schema(),
        max_output_tokens: kind.default_max_output_tokens,
    }
}

/// Calls the step's model for an output: the answer is the envelope's property for the kind
/// (or, from a model that ignored the envelope, the bare object), valid against its schema.
async fn call_with_repair(
    p: Ports<'_>,
    step: &model_choice::Step,
    request: ModelRequest,
    kind: &outputs::OutputType,
) -> std::result::Result<(Value, Usage), GenError> {
    let key = kind.key.clone();
    let pick = move |v: Value| match v.get(&key) {
        Some(inner) if inner.is_object() => inner.clone(),
        _ => v,
    };
    call_checked(p, step, request, &kind.json_schema, Some(&pick)).await
}

/// One call, and one repair attempt when the answer is not valid against `schema`.
async fn call_checked(
    p: Ports<'_>,
    step: &model_choice::Step,
    mut request: ModelRequest,
    schema: &Value,
    pick: Option<&(dyn Fn(Value) -> Value + Send + Sync)>,
) -> std::result::Result<(Value, Usage), GenError> {
    let Some(models) = p.models.models(&step.provider) else {
        return Err(GenError::Final(format!(
            "no key is configured for the provider {}",
            step.provider
        )));
    };
    let instructions = request.instructions.clone();
    // Compiled once for the answer and its repair. A schema that does not compile checks
    // nothing (transcript types' extra schemas are refused when written if they do not).
    let compiled = crate::json_schema::compile(schema).ok();
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
            Ok(v) => {
                let v = match pick {
                    Some(f) => f(v),
                    None => v,
                };
                match compiled.as_ref().and_then(|c| c.problems(&v)) {
                    None => return Ok((v, usage)),
                    Some(errors) => errors,
                }
            }
            Err(e) => format!("not JSON: {e}"),
        };
        if attempt == 0 {
            // One repair attempt, told what was wrong.
            request.instructions = format!(
                "{instructions}\n\nYour previous answer was invalid ({problem}). Answer again with JSON valid against the schema."
            );
        } else {
            return Err(GenError::Final(format!(
                "the model's answer did not match the output type's schema after one repair: {problem}"
            )));
        }
    }
    Err(GenError::Final("no answer".into()))
}

fn add(total: &mut Usage, u: &Usage) {
    total.uncached_input += u.uncached_input;
    total.cache_read += u.cache_read;
    total.cache_write += u.cache_write;
    total.output += u.output;
    total.reasoning += u.reasoning;
}

/// Deletes an output: its files and its record.
/// `DELETE /outputs/{id}`: an output with its files; one still queued or running has its
/// reservation released, and its job then finds nothing to do.
pub async fn delete(p: Ports<'_>, a: &Access, id: &OutputId) -> Result<()> {
    let o = get(p.records, &a.caller.tenant, id).await?;
    access::authorize(
        a,
        Need::Permission(Permission::OutputsGenerate, Scope::Team),
        o.team.as_ref(),
    )?;
    discard(p.records, p.files, &o).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_fail_the_request_after_upload_for_good() {
        assert!(refusal(&Error::InsufficientCredits {
            needed: 5,
            available: 1
        }));
        assert!(refusal(&Error::Forbidden("no model allowed".into())));
        assert!(refusal(&Conflict::State("not ready".into()).into()));
        assert!(!refusal(&Conflict::TransactionConflict.into()));
        assert!(!refusal(&Error::unavailable("the queue", "throttled")));
        assert!(!refusal(&Error::unexpected("a response", "unreadable")));
    }
}
