//! Credits: reserve, settle, release; purchases; the ledger and usage.
//!
//! A user's balance is one item (`available`, `reserved`, `used`, whole credits). Every change
//! is one conditional transaction with the record that explains it, so a balance can never go
//! negative and a charge can never happen twice:
//!
//! - **reserve** puts the job (condition: new) and moves the estimate from `available` to
//!   `reserved` (condition: `available ≥ estimate`). 2 writes, 1 round trip.
//! - **settle** puts the ledger entry under the charge's deterministic id (condition: new), marks
//!   the job settled (condition: still `reserved`) and moves the reservation to `used`, giving
//!   back what was not spent (condition: `reserved ≥ reservation`). 1 GetItem + 3 writes in
//!   1 transaction; a replay finds the entry and charges nothing.
//! - **release** (failure, or an expired lease) gives the reservation back, once, with the
//!   AI call the reservation took when no model was called for the job (see [`Call`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{Clock, IdGen, Timestamp};
use crate::error::{Conflict, Error, Result};
use crate::ids::{JobId, TeamId, TenantId, TranscriptId, UserId};
use crate::keys;
use crate::money::{self, CreditRate, Credits, MicroUsd, PriceSheet, Usage};
use crate::records::{
    Condition, Index, Query, Records, SortKey, Update, Write, from_item, to_item, to_value,
};

/// How long a reservation holds before reconciliation may release it.
pub const LEASE: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balance {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub available: Credits,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub reserved: Credits,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub used: Credits,
}

pub async fn balance(records: &dyn Records, t: &TenantId, u: &UserId) -> Result<Balance> {
    match records.get(&keys::credits(t, u)).await? {
        Some(item) => from_item(item),
        None => Ok(Balance::default()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Reserved,
    Settled,
    Released,
}

/// A generation job as money sees it: what was reserved, at which price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub tenant: TenantId,
    pub user: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<TranscriptId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_type: Option<String>,
    pub provider: String,
    pub model: String,
    pub price_version: u32,
    pub price: PriceSheet,
    pub estimate: Usage,
    pub reserved_credits: Credits,
    /// The part of the reservation beyond the balance, under the tier's overage policy.
    #[serde(default)]
    pub overage_credits: Credits,
    pub rate: CreditRate,
    pub status: JobStatus,
    pub lease_until: Timestamp,
    pub created_at: Timestamp,
    /// The start of the subscription period whose AI-call allowance the reservation took a
    /// call from (absent without a subscription): a release gives it back to that period only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_period: Option<Timestamp>,
}

/// What a reservation is for.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    /// Deterministic: a retried request names the same job and reserves once.
    pub job: JobId,
    pub tenant: TenantId,
    pub user: UserId,
    pub team: Option<TeamId>,
    pub transcript: Option<TranscriptId>,
    pub output_type: Option<String>,
    pub provider: String,
    pub model: String,
    /// Input tokens, counted.
    pub input_tokens: u64,
    /// Output tokens allowed; capped at the model's maximum.
    pub max_output_tokens: u64,
    pub rate: CreditRate,
    /// The caller reads the input in chunks that each fit the window (map-reduce): the whole
    /// need not fit.
    pub split: bool,
}

/// The model that answered, when it is not the one reserved for (a fallback of the chain).
#[derive(Debug, Clone)]
pub struct Priced {
    pub provider: String,
    pub model: String,
    pub price_version: u32,
    pub price: PriceSheet,
}

/// The estimate of a call: counted input plus the output it may write, at the model's price.
pub fn estimate(
    price: &PriceSheet,
    input_tokens: u64,
    max_output_tokens: u64,
    rate: CreditRate,
) -> (Usage, MicroUsd, Credits) {
    let usage = Usage {
        uncached_input: input_tokens,
        output: max_output_tokens,
        ..Usage::default()
    };
    let cost = money::cost(&usage, price);
    (usage, cost, rate.credits(cost))
}

fn job_item(job: &Job) -> Result<crate::records::Item> {
    let mut item = to_item(&keys::job(&job.tenant, &job.id), job)?;
    item.insert("entity".into(), "job".into());
    // While reserved, reconciliation finds it by its lease.
    let lease = keys::reserved_job(job.lease_until, &job.tenant, &job.id);
    item.insert("gsi2pk".into(), lease.pk.into());
    item.insert("gsi2sk".into(), lease.sk.into());
    Ok(item)
}

/// A reserved job leaves the lease index when it is settled or released.
fn close_job(status: &str) -> Update {
    Update::new()
        .set("status", status)
        .remove("gsi2pk")
        .remove("gsi2sk")
}

pub async fn job(records: &dyn Records, t: &TenantId, id: &JobId) -> Result<Job> {
    match records.get(&keys::job(t, id)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("job")),
    }
}

/// What a user's active subscription sets for their reservations: the credit rate, the
/// overage they may still draw on, the AI calls left and the models allowed. Without one: the
/// rate a reservation names, no overage, no allowance, every model. A reservation and a quote
/// read the same terms, so that a quote prices and refuses as the reservation would.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    sub: Option<crate::billing::Subscription>,
}

impl Terms {
    pub async fn of(records: &dyn Records, t: &TenantId, u: &UserId) -> Result<Terms> {
        let sub = crate::billing::subscription(records, t, u)
            .await?
            .filter(|s| s.status == crate::billing::SubscriptionStatus::Active);
        Ok(Terms { sub })
    }

    pub fn tier(&self) -> Option<&crate::billing::Tier> {
        self.sub.as_ref().map(|s| &s.tier)
    }

    /// The tier's credit rate, else `default`.
    pub fn rate(&self, default: CreditRate) -> CreditRate {
        self.tier().map_or(default, |t| t.credit_rate)
    }

    /// Credits a reservation may still take beyond the balance this period.
    pub fn overage(&self) -> Credits {
        self.sub
            .as_ref()
            .map_or(0, |s| u64::try_from(s.overage_remaining).unwrap_or(0))
    }

    /// Refused when the tier does not include the model.
    pub fn allows(&self, provider: &str, model: &str) -> Result<()> {
        match self.tier() {
            Some(tier) if !tier.allows(provider, model) => Err(Error::Forbidden(
                format!("the {} tier does not include {provider}/{model}", tier.name).into(),
            )),
            _ => Ok(()),
        }
    }

    /// Refused when the allowance has fewer than `calls` AI calls left this period (each
    /// reservation takes one).
    pub fn has_calls(&self, calls: usize) -> Result<()> {
        match &self.sub {
            Some(s) if s.calls_remaining < i64::try_from(calls).unwrap_or(i64::MAX) => {
                Err(calls_used(s))
            }
            _ => Ok(()),
        }
    }
}

fn calls_used(s: &crate::billing::Subscription) -> Error {
    Error::Forbidden(
        format!(
            "the {} tier's {} AI calls for this period are used; they renew at {}",
            s.tier.name, s.tier.ai_calls_per_period, s.period_end
        )
        .into(),
    )
}

/// Reserves a call's estimate. Not enough credits: `InsufficientCredits` with the shortfall.
/// Reserving the same job twice reserves once and answers the job.
#[tracing::instrument(skip_all, fields(tenant = %r.tenant))]
pub async fn reserve(records: &dyn Records, clock: &dyn Clock, r: ReserveRequest) -> Result<Job> {
    let (model, price) = crate::catalog::usable(records, &r.provider, &r.model).await?;
    let terms = Terms::of(records, &r.tenant, &r.user).await?;
    terms.allows(&r.provider, &r.model)?;
    let rate = terms.rate(r.rate);
    let max_out = r.max_output_tokens.min(model.max_output_tokens);
    if !r.split && r.input_tokens.saturating_add(max_out) > model.context_window {
        return Err(Error::validation(
            "model",
            format!(
                "{} input tokens and {max_out} output tokens do not fit {}/{}'s window of {}",
                r.input_tokens, r.provider, r.model, model.context_window
            ),
        ));
    }
    let (usage, _, credits) = estimate(&price, r.input_tokens, max_out, rate);
    let now = clock.now();
    let mut job = Job {
        id: r.job,
        tenant: r.tenant,
        user: r.user,
        team: r.team,
        transcript: r.transcript,
        output_type: r.output_type,
        provider: r.provider,
        model: r.model,
        price_version: model.price_version,
        price,
        estimate: usage,
        reserved_credits: credits,
        overage_credits: 0,
        rate,
        status: JobStatus::Reserved,
        lease_until: now.plus(LEASE),
        created_at: now,
        call_period: terms.sub.as_ref().map(|s| s.period_start),
    };
    let mut overage_tried = false;
    loop {
        match records
            .transact(reserve_writes(&job, terms.sub.as_ref())?)
            .await
        {
            Ok(()) => return Ok(job),
            Err(e) if e.failed_write() == Some(0) => {
                return self::job(records, &job.tenant, &job.id).await;
            }
            Err(e) if e.failed_write() == Some(1) && credits > 0 => {
                let b = balance(records, &job.tenant, &job.user).await?;
                let overage = terms.overage();
                let beyond = credits.saturating_sub(b.available);
                // Once, with what the balance holds and the rest from the tier's overage.
                if !overage_tried && beyond > 0 && beyond <= overage {
                    overage_tried = true;
                    job.overage_credits = beyond;
                    continue;
                }
                return Err(Error::InsufficientCredits {
                    needed: credits,
                    available: b.available + overage,
                });
            }
            Err(e) if e.failed_write().is_some() => {
                // The allowance's write failed: no call left.
                let Some(s) = &terms.sub else { return Err(e) };
                return Err(calls_used(s));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The writes of a reservation: the job (new), the balance (`available` covers the part not
/// taken from overage), and the subscription's call allowance and overage (when it has one).
fn reserve_writes(job: &Job, sub: Option<&crate::billing::Subscription>) -> Result<Vec<Write>> {
    let credits = job.reserved_credits;
    let from_balance = as_i64(credits - job.overage_credits)?;
    let mut writes = vec![Write::put(job_item(job)?).when(Condition::NotExists)];
    if credits > 0 {
        writes.push(
            Write::update(
                keys::credits(&job.tenant, &job.user),
                Update::new()
                    .add("available", -from_balance)
                    .add("reserved", as_i64(credits)?),
            )
            .when(Condition::at_least("available", from_balance)),
        );
    }
    if let Some(s) = sub {
        let mut u = Update::new().add("calls_remaining", -1);
        let mut w = Write::update(keys::subscription(&s.tenant, &s.user), u.clone())
            .when(Condition::at_least("calls_remaining", 1));
        if job.overage_credits > 0 {
            let o = as_i64(job.overage_credits)?;
            u = u.add("overage_remaining", -o);
            w = Write::update(keys::subscription(&s.tenant, &s.user), u)
                .when(Condition::at_least("calls_remaining", 1))
                .when(Condition::at_least("overage_remaining", o));
        }
        writes.push(w);
    }
    Ok(writes)
}

fn as_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::validation("credits", "is too large"))
}

/// The start of every update that may create a balance: it joins the balance index, where
/// reconciliation finds it.
pub(crate) fn balance_update(t: &TenantId, u: &UserId) -> Update {
    let ix = keys::balance_index(t, u);
    Update::new().set("gsi1pk", ix.pk).set("gsi1sk", ix.sk)
}

/// One model call's charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Deterministic: `{job}` for a job's (one) call.
    pub id: String,
    pub tenant: TenantId,
    pub user: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<TranscriptId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_type: Option<String>,
    pub job: JobId,
    pub attempt: u32,
    pub provider: String,
    pub model: String,
    pub price_version: u32,
    pub usage: Usage,
    pub cost_micro_usd: MicroUsd,
    pub credits_charged: Credits,
    /// Credits the actual usage cost beyond the reservation, which is all that is charged.
    #[serde(default)]
    pub credits_uncovered: Credits,
    pub at: Timestamp,
}

/// Settles a reserved job to its actual usage: one ledger entry, the unused part returned.
/// A replay (duplicate delivery, retry after a crash) answers the first entry and charges
/// nothing.
pub async fn settle(
    records: &dyn Records,
    clock: &dyn Clock,
    t: &TenantId,
    id: &JobId,
    usage: Usage,
    attempt: u32,
) -> Result<LedgerEntry> {
    settle_priced(records, clock, t, id, usage, attempt, None).await
}

/// [`settle`], priced at `answered`'s price when another model than the reserved one did the
/// work (the charge is still capped at the reservation; the rest is recorded as uncovered).
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn settle_priced(
    records: &dyn Records,
    clock: &dyn Clock,
    t: &TenantId,
    id: &JobId,
    usage: Usage,
    attempt: u32,
    answered: Option<Priced>,
) -> Result<LedgerEntry> {
    let job = self::job(records, t, id).await?;
    let charge = job.id.to_string();
    if job.status != JobStatus::Reserved {
        return settled_entry(records, &job, &charge).await;
    }
    let (provider, model, price_version, price) = match answered {
        Some(a) => (a.provider, a.model, a.price_version, a.price),
        None => (
            job.provider.clone(),
            job.model.clone(),
            job.price_version,
            job.price,
        ),
    };
    let cost = money::cost(&usage, &price);
    let due = job.rate.credits(cost);
    let charged = due.min(job.reserved_credits);
    let now = clock.now();
    let entry = LedgerEntry {
        id: charge.clone(),
        tenant: job.tenant,
        user: job.user,
        team: job.team,
        transcript: job.transcript,
        output_type: job.output_type.clone(),
        job: job.id,
        attempt,
        provider,
        model,
        price_version,
        usage,
        cost_micro_usd: cost,
        credits_charged: charged,
        credits_uncovered: due - charged,
        at: now,
    };
    let mut item = to_item(&keys::ledger_entry(t, &charge), &entry)?;
    let sk = format!("{}#{charge}", now);
    item.insert("entity".into(), "ledger".into());
    item.insert("gsi1pk".into(), keys::ledger_by_time_pk(t).into());
    item.insert("gsi1sk".into(), sk.clone().into());
    item.insert(
        "gsi2pk".into(),
        keys::ledger_by_user_pk(t, &job.user).into(),
    );
    item.insert("gsi2sk".into(), sk.into());
    let mut writes = vec![
        Write::put(item).when(Condition::NotExists),
        Write::update(keys::job(t, &job.id), close_job("settled"))
            .when(Condition::equals("status", "reserved")),
    ];
    // What was not spent goes back: first to the overage it came from, then to the balance.
    let returned = job.reserved_credits - charged;
    let to_overage = returned.min(job.overage_credits);
    if job.reserved_credits > 0 {
        let r = as_i64(job.reserved_credits)?;
        writes.push(
            Write::update(
                keys::credits(t, &job.user),
                Update::new()
                    .add("reserved", -r)
                    .add("used", as_i64(charged)?)
                    .add("available", as_i64(returned - to_overage)?),
            )
            .when(Condition::at_least("reserved", r)),
        );
    }
    if job.overage_credits > 0 {
        writes.push(Write::update(
            keys::subscription(t, &job.user),
            Update::new()
                .add("overage_remaining", as_i64(to_overage)?)
                .add("overage_used", as_i64(job.overage_credits - to_overage)?),
        ));
    }
    match records.transact(writes).await {
        Ok(()) => Ok(entry),
        Err(e) if matches!(e.failed_write(), Some(0 | 1)) => {
            let job = self::job(records, t, id).await?;
            settled_entry(records, &job, &charge).await
        }
        Err(e) => Err(e),
    }
}

async fn settled_entry(records: &dyn Records, job: &Job, charge: &str) -> Result<LedgerEntry> {
    match job.status {
        JobStatus::Released => Err(Conflict::State(
            "the job's reservation was released; it cannot be charged".into(),
        )
        .into()),
        _ => match records
            .get(&keys::ledger_entry(&job.tenant, charge))
            .await?
        {
            Some(item) => from_item(item),
            None => Err(Conflict::TransactionConflict.into()),
        },
    }
}

/// What a release does with the AI call its reservation took from the tier's allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// No model was called for the job (its request was refused, its job never queued, its
    /// output deleted before it ran): the call goes back to the allowance.
    Unused,
    /// A model was called for the job, or may have been (it ran and failed; its lease ran out
    /// while it ran): the call stays used. The credits go back all the same, as the user got
    /// nothing for them; but the allowance is what bounds the model calls a user's failing
    /// jobs cause, so a call that was made counts.
    Made,
}

/// Gives a reservation back (the job failed, or its lease ran out), with its AI call when
/// `call` is [`Call::Unused`] and the subscription is still in the period the call was taken
/// from (the next period has a fresh allowance). Once, in one transaction: a second release,
/// or a release after settlement, does nothing and answers `false`.
pub async fn release(records: &dyn Records, t: &TenantId, id: &JobId, call: Call) -> Result<bool> {
    release_unless(records, t, id, call, None).await
}

/// [`release`], where [`Call::Unused`] holds only while `unused` (a condition check, in the same
/// transaction) does: e.g. the output is still queued, so that no job started meanwhile and
/// called a model. When it does not hold, the reservation is released without the call.
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn release_unless(
    records: &dyn Records,
    t: &TenantId,
    id: &JobId,
    call: Call,
    mut unused: Option<Write>,
) -> Result<bool> {
    let job = self::job(records, t, id).await?;
    if job.status != JobStatus::Reserved {
        return Ok(false);
    }
    let mut call_back = match (call, job.call_period) {
        (Call::Unused, Some(period)) => Some(period),
        _ => None,
    };
    loop {
        let mut writes = vec![
            Write::update(keys::job(t, id), close_job("released"))
                .when(Condition::equals("status", "reserved")),
        ];
        if job.reserved_credits > 0 {
            let r = as_i64(job.reserved_credits)?;
            writes.push(
                Write::update(
                    keys::credits(t, &job.user),
                    Update::new().add("reserved", -r).add(
                        "available",
                        as_i64(job.reserved_credits - job.overage_credits)?,
                    ),
                )
                .when(Condition::at_least("reserved", r)),
            );
        }
        let overage = Update::new().add("overage_remaining", as_i64(job.overage_credits)?);
        let subscription = keys::subscription(t, &job.user);
        // The writes that only the call's return needs: failing, they are dropped and the
        // release tried again without the call.
        let mut for_the_call = Vec::new();
        if let Some(period) = call_back {
            for_the_call.push(writes.len());
            writes.push(
                Write::update(subscription, overage.add("calls_remaining", 1))
                    .when(Condition::equals("period_start", to_value(&period)?)),
            );
            if let Some(check) = &unused {
                for_the_call.push(writes.len());
                writes.push(check.clone());
            }
        } else if job.overage_credits > 0 {
            writes.push(Write::update(subscription, overage));
        }
        match records.transact(writes).await {
            Ok(()) => return Ok(true),
            Err(e) if e.failed_write() == Some(0) => return Ok(false),
            // Another period (or no subscription) now, or the job started: no call back.
            Err(e) if e.failed_write().is_some_and(|i| for_the_call.contains(&i)) => {
                call_back = None;
                unused = None;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A billing record: a purchase, renewal, overage charge, refund or adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingRecord {
    pub id: String,
    pub tenant: TenantId,
    pub user: UserId,
    pub kind: String,
    /// Signed: a refund or a negative adjustment takes credits away.
    pub credits: i64,
    pub amount_micro_usd: i64,
    pub by: UserId,
    pub at: Timestamp,
}

/// `POST /credits/purchases`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Purchase {
    pub user_id: String,
    pub credits: u64,
    pub amount_micro_usd: u64,
}

/// The answer to an idempotent request, kept with its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
    request: String,
    response: Value,
    expires_at_s: i64,
}

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

fn check_idempotency_key(key: &str) -> Result<()> {
    let ok = (1..=255).contains(&key.len()) && key.chars().all(|c| c.is_ascii_graphic());
    if !ok {
        return Err(Error::validation(
            "Idempotency-Key",
            "must be 1-255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// A change of credits that a billing manager makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditChange {
    /// Credits bought: added.
    Purchase,
    /// Credits refunded: taken back (never more than the user holds).
    Refund,
}

/// Adds purchased credits to a user, once per idempotency key: the same key with the same
/// body answers the first record again; with another body it is a conflict.
pub async fn purchase(
    records: &dyn Records,
    clock: &dyn Clock,
    ids: &dyn IdGen,
    t: &TenantId,
    by: &UserId,
    idempotency_key: Option<&str>,
    p: Purchase,
) -> Result<BillingRecord> {
    let ports = (records, clock, ids);
    change_credits(ports, t, by, idempotency_key, CreditChange::Purchase, p).await
}

/// Purchases and refunds, once per idempotency key (a key names one request: the same key
/// with the same kind and body answers the first record again; anything else is a conflict).
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn change_credits(
    (records, clock, ids): (&dyn Records, &dyn Clock, &dyn IdGen),
    t: &TenantId,
    by: &UserId,
    idempotency_key: Option<&str>,
    change: CreditChange,
    p: Purchase,
) -> Result<BillingRecord> {
    let key = idempotency_key.ok_or_else(|| {
        Error::validation(
            "Idempotency-Key",
            "is required: send a unique key per request, and the same key to retry it",
        )
    })?;
    check_idempotency_key(key)?;
    let (kind, sign) = match change {
        CreditChange::Purchase => ("purchase", 1),
        CreditChange::Refund => ("refund", -1),
    };
    let body = serde_json::to_string(&p).map_err(|e| Error::unexpected("encoding", e))?;
    let request = format!("{kind} {body}");
    if let Some(seen) = remembered(records, t, key).await? {
        return replay(seen, &request);
    }
    let user =
        UserId::parse(&p.user_id).map_err(|_| Error::validation("user_id", "is not a user id"))?;
    crate::users::get(records, t, &user)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => Error::validation("user_id", "no such user in this tenant"),
            e => e,
        })?;
    if p.credits == 0 {
        return Err(Error::validation("credits", "must be at least 1"));
    }
    let now = clock.now();
    let record = BillingRecord {
        id: ids.new_id().to_string(),
        tenant: *t,
        user,
        kind: kind.into(),
        credits: sign * as_i64(p.credits)?,
        amount_micro_usd: sign * as_i64(p.amount_micro_usd)?,
        by: *by,
        at: now,
    };
    let remember = Remembered {
        request: request.clone(),
        response: to_value(&record)?,
        expires_at_s: now.plus(IDEMPOTENCY_WINDOW).seconds(),
    };
    let mut billing = to_item(&keys::billing_record(t, &record.id), &record)?;
    billing.insert("entity".into(), "billing_record".into());
    let mut balance = Write::update(
        keys::credits(t, &user),
        balance_update(t, &user).add("available", record.credits),
    );
    if change == CreditChange::Refund {
        balance = balance.when(Condition::at_least("available", -record.credits));
    }
    let writes = vec![
        Write::put(to_item(&keys::idempotency(t, key), &remember)?).when(Condition::NotExists),
        Write::put(billing).when(Condition::NotExists),
        balance,
    ];
    match records.transact(writes).await {
        Ok(()) => Ok(record),
        Err(e) if e.failed_write() == Some(2) => {
            let held = self::balance(records, t, &user).await?.available;
            Err(Conflict::State(format!(
                "the user holds {held} available credits; a refund cannot take back more"
            ))
            .into())
        }
        // The same key at the same moment: the first one's answer.
        Err(e) if e.failed_write() == Some(0) => match remembered(records, t, key).await? {
            Some(seen) => replay(seen, &request),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

async fn remembered(records: &dyn Records, t: &TenantId, key: &str) -> Result<Option<Remembered>> {
    records
        .get(&keys::idempotency(t, key))
        .await?
        .map(from_item)
        .transpose()
}

fn replay(seen: Remembered, request: &str) -> Result<BillingRecord> {
    if seen.request != request {
        // Requests are remembered as "{kind} {body}".
        let kind_of = |r: &str| r.split_once(' ').map_or("", |(k, _)| k).to_string();
        let (was, is) = (kind_of(&seen.request), kind_of(request));
        let message = if was == is {
            format!(
                "this Idempotency-Key was used for a {was} with another body; a new request needs a new key"
            )
        } else {
            format!(
                "this Idempotency-Key was used for a {was}, not a {is}; a new request needs a new key"
            )
        };
        return Err(Conflict::State(message).into());
    }
    serde_json::from_value(seen.response).map_err(|e| Error::unexpected("a remembered answer", e))
}

pub async fn billing_records(
    records: &dyn Records,
    t: &TenantId,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<BillingRecord>, Option<String>)> {
    let page = records
        .query(
            Query::partition(keys::tenant_pk(t, "BILLING"))
                .descending()
                .limit(limit)
                .after(cursor),
        )
        .await?;
    Ok((
        page.items
            .into_iter()
            .map(from_item)
            .collect::<Result<_>>()?,
        page.next_cursor,
    ))
}

/// Totals of the ledger over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub calls: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub cost_micro_usd: MicroUsd,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub credits: Credits,
    pub by_day: BTreeMap<String, Totals>,
    pub by_user: BTreeMap<String, Totals>,
    pub by_model: BTreeMap<String, Totals>,
    pub by_output_type: BTreeMap<String, Totals>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    pub calls: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub cost_micro_usd: MicroUsd,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub credits: Credits,
}

impl Totals {
    fn add(&mut self, e: &LedgerEntry) {
        self.calls += 1;
        self.cost_micro_usd = self.cost_micro_usd.saturating_add(e.cost_micro_usd);
        self.credits = self.credits.saturating_add(e.credits_charged);
    }
}

/// The ledger of a tenant (or of one user) between two instants, totalled by day (UTC), user,
/// model and output type.
pub async fn usage(
    records: &dyn Records,
    t: &TenantId,
    user: Option<&UserId>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<UsageReport> {
    let (pk, index) = match user {
        Some(u) => (keys::ledger_by_user_pk(t, u), Index::Gsi2),
        None => (keys::ledger_by_time_pk(t), Index::Gsi1),
    };
    // Every timestamp starts with a digit: "0" is below them all.
    let lo = from.map(|f| f.to_string()).unwrap_or_else(|| "0".into());
    // `~` sorts after every digit: the whole last millisecond is in.
    let hi = to.map(|t| format!("{t}~")).unwrap_or_else(|| "~".into());
    let mut report = UsageReport {
        from,
        to,
        ..UsageReport::default()
    };
    let mut cursor = None;
    loop {
        let page = records
            .query(
                Query::partition(pk.clone())
                    .on(index)
                    .sk(SortKey::Between(lo.clone(), hi.clone()))
                    .limit(crate::records::MAX_PAGE)
                    .after(cursor),
            )
            .await?;
        for item in page.items {
            let e: LedgerEntry = from_item(item)?;
            report.calls += 1;
            report.cost_micro_usd = report.cost_micro_usd.saturating_add(e.cost_micro_usd);
            report.credits = report.credits.saturating_add(e.credits_charged);
            let day = e.at.to_string().get(..10).unwrap_or_default().to_string();
            report.by_day.entry(day).or_default().add(&e);
            report
                .by_user
                .entry(e.user.to_string())
                .or_default()
                .add(&e);
            report
                .by_model
                .entry(format!("{}/{}", e.provider, e.model))
                .or_default()
                .add(&e);
            report
                .by_output_type
                .entry(e.output_type.clone().unwrap_or_else(|| "none".into()))
                .or_default()
                .add(&e);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(report),
        }
    }
}

/// Prompt tokens an output type adds to the transcript (instructions, schema, framing).
pub const PROMPT_OVERHEAD_TOKENS: u64 = 1_500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuoteLine {
    pub output_type: String,
    /// The model whose estimate the output would reserve (its chain's dearest step).
    pub provider: String,
    pub model: String,
    pub price_version: u32,
    pub input_tokens: u64,
    pub max_output_tokens: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub cost_micro_usd: MicroUsd,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub credits: Credits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quote {
    /// The first line's model (the one asked for, when the request names one).
    pub provider: String,
    pub model: String,
    pub price_version: u32,
    pub items: Vec<QuoteLine>,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub total_credits: Credits,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub available: Credits,
    /// What the caller lacks for all of it; 0 when they can afford it.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub shortfall: Credits,
}
