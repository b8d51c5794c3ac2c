//! Reconciliation, run on a schedule (the `reconcile` function; `recap serve` on a timer;
//! `recap reconcile` once):
//!
//! 1. reservations whose lease ran out are released (each once: `credits::release`);
//! 2. subscription periods that ended roll over: the next period's credits, allowances reset,
//!    a renewal billing record, the period's overage billed; a cancelled one ends instead;
//! 3. each balance's `used` is checked against its ledger; drift is corrected by an adjustment
//!    (a billing record and a balance change in one transaction), never by editing history.
//!
//! Every change is conditional on what was read and every record has a deterministic id, so a
//! second run (or two at once) changes nothing more.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::billing::{self, Subscription, SubscriptionStatus};
use crate::clock::{Clock, Timestamp};
use crate::credits::{self, Balance, LedgerEntry};
use crate::error::Result;
use crate::ids::{JobId, TenantId, UserId};
use crate::keys;
use crate::records::{
    Condition, Index, Query, Records, SortKey, Update, Write, query_all, query_all_as, to_value,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub reservations_released: u64,
    pub periods_renewed: u64,
    pub subscriptions_ended: u64,
    pub overage_billed: u64,
    pub balances_checked: u64,
    pub balances_adjusted: u64,
}

/// Most periods one run rolls a subscription forward (a long outage catches up over runs).
const MAX_PERIODS_PER_RUN: usize = 24;

/// Every item of an index partition up to `upto` (sort keys start with a timestamp).
async fn due(
    records: &dyn Records,
    index: Index,
    pk: &str,
    upto: Timestamp,
) -> Result<Vec<String>> {
    let (_, sk_attr) = index.key_attrs();
    let query = Query::partition(pk)
        .on(index)
        .sk(SortKey::Between("0".into(), format!("{upto}~")))
        .limit(crate::records::MAX_PAGE);
    Ok(query_all(records, query)
        .await?
        .iter()
        .filter_map(|item| {
            item.get(sk_attr)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .collect())
}

/// `{time}#{tenant}#{id}` → tenant and id.
fn tenant_and_id(sk: &str) -> Option<(TenantId, &str)> {
    let mut parts = sk.splitn(3, '#');
    parts.next()?;
    let t = TenantId::parse(parts.next()?).ok()?;
    Some((t, parts.next()?))
}

#[tracing::instrument(skip_all)]
pub async fn run(records: &dyn Records, clock: &dyn Clock) -> Result<Report> {
    let mut report = Report::default();
    let now = clock.now();

    // The three work lists are independent reads: one round trip's time instead of three.
    let (reserved, subscriptions, balances) = futures::future::try_join3(
        due(records, Index::Gsi2, keys::RESERVED_JOBS, now),
        due(records, Index::Gsi1, keys::SUBSCRIPTIONS_DUE, now),
        balances_by_tenant(records),
    )
    .await?;

    for sk in reserved {
        let Some((t, job)) = tenant_and_id(&sk) else {
            continue;
        };
        let Ok(job) = JobId::parse(job) else { continue };
        // The job may have called a model before its lease ran out: its AI call stays used.
        if credits::release(records, &t, &job, credits::Call::Made).await? {
            report.reservations_released += 1;
        }
    }

    for sk in subscriptions {
        let Some((t, user)) = tenant_and_id(&sk) else {
            continue;
        };
        let Ok(u) = UserId::parse(user) else { continue };
        for _ in 0..MAX_PERIODS_PER_RUN {
            let Some(s) = billing::subscription(records, &t, &u).await? else {
                break;
            };
            if s.status != SubscriptionStatus::Active || s.period_end > now {
                break;
            }
            if !roll_over(records, &s, &mut report).await? {
                break;
            }
        }
    }

    adjust_drift(records, balances, now, &mut report).await?;
    tracing::info!(?report, "reconciled");
    Ok(report)
}

/// Ends a period: renews (or ends) the subscription and bills its overage, in one transaction
/// conditioned on the version read. `false` when another run got there first.
async fn roll_over(records: &dyn Records, s: &Subscription, report: &mut Report) -> Result<bool> {
    let (t, u) = (&s.tenant, &s.user);
    let period = s.periods;
    let mut writes = Vec::new();
    let overage = s.overage_used.max(0);
    if overage > 0 {
        let amount = overage
            .saturating_mul(i64::try_from(s.tier.overage.micro_usd_per_credit).unwrap_or(i64::MAX));
        writes.push(billing::billing_write(
            t,
            u,
            u,
            &format!("overage-{u}-{period}"),
            s.period_end,
            billing::Entry {
                kind: "overage",
                credits: overage,
                amount,
            },
        )?);
    }
    let mut next = s.clone();
    let ended = s.cancel_at_period_end;
    if ended {
        next.status = SubscriptionStatus::Ended;
    } else {
        if let Some(id) = &s.next_tier {
            next.tier = billing::tier(records, id).await?;
        } else if let Ok(current) = billing::tier(records, &s.tier.id).await {
            // The tier's current terms apply from the new period.
            next.tier = current;
        }
        next.next_tier = None;
        next.period_start = s.period_end;
        next.period_end = billing::add_month(s.period_end, s.anchor_day);
        next.calls_remaining = i64::try_from(next.tier.ai_calls_per_period).unwrap_or(i64::MAX);
        next.overage_remaining = match next.tier.overage.policy {
            billing::OveragePolicy::Allow => {
                i64::try_from(next.tier.overage.cap_credits).unwrap_or(i64::MAX)
            }
            billing::OveragePolicy::Block => 0,
        };
        next.periods += 1;
        let credits = i64::try_from(next.tier.monthly_credits).unwrap_or(i64::MAX);
        writes.push(Write::update(
            keys::credits(t, u),
            credits::balance_update(t, u).add("available", credits),
        ));
        let price = i64::try_from(next.tier.price_micro_usd).unwrap_or(i64::MAX);
        let id = format!("renewal-{u}-{}", next.periods);
        let entry = billing::Entry {
            kind: "renewal",
            credits,
            amount: price,
        };
        writes.push(billing::billing_write(
            t,
            u,
            u,
            &id,
            next.period_start,
            entry,
        )?);
    }
    next.overage_used = 0;
    next.version = s.version + 1;
    let mut item = billing::subscription_item(&next)?;
    if ended {
        // Out of the due index: nothing more to do for it.
        item.remove("gsi1pk");
        item.remove("gsi1sk");
    }
    writes.insert(
        0,
        Write::put(item).when(Condition::equals("version", s.version)),
    );
    match records.transact(writes).await {
        Ok(()) => {
            if ended {
                report.subscriptions_ended += 1;
            } else {
                report.periods_renewed += 1;
            }
            if overage > 0 {
                report.overage_billed += 1;
            }
            Ok(true)
        }
        Err(e) if e.failed_write().is_some() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every balance, by tenant (the balances index holds one item per user with credits).
async fn balances_by_tenant(records: &dyn Records) -> Result<BTreeMap<TenantId, Vec<UserId>>> {
    let mut by_tenant: BTreeMap<TenantId, Vec<UserId>> = BTreeMap::new();
    let balances = Query::partition(keys::BALANCES)
        .on(Index::Gsi1)
        .limit(crate::records::MAX_PAGE);
    for item in query_all(records, balances).await? {
        let sk = item
            .get("gsi1sk")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if let Some((t, u)) = sk.split_once('#')
            && let (Ok(t), Ok(u)) = (TenantId::parse(t), UserId::parse(u))
        {
            by_tenant.entry(t).or_default().push(u);
        }
    }
    Ok(by_tenant)
}

/// Compares each balance's `used` with its ledger and corrects drift by an adjustment.
async fn adjust_drift(
    records: &dyn Records,
    by_tenant: BTreeMap<TenantId, Vec<UserId>>,
    now: Timestamp,
    report: &mut Report,
) -> Result<()> {
    for (t, users) in by_tenant {
        // Balances first, then the ledger: a settlement in between shows as `used` having
        // moved, and the adjustment's condition on `used` then refuses to act on it.
        let mut balances = Vec::with_capacity(users.len());
        for u in users {
            balances.push((u, credits::balance(records, &t, &u).await?));
        }
        let ledger = ledger_totals(records, &t).await?;
        for (u, b) in balances {
            report.balances_checked += 1;
            let (calls, charged) = ledger.get(&u).copied().unwrap_or_default();
            if adjust(records, &t, &u, &b, calls, charged, now).await? {
                report.balances_adjusted += 1;
            }
        }
    }
    Ok(())
}

/// Credits charged per user, and the number of entries, over the tenant's whole ledger.
async fn ledger_totals(
    records: &dyn Records,
    t: &TenantId,
) -> Result<BTreeMap<UserId, (u64, u64)>> {
    let mut totals: BTreeMap<UserId, (u64, u64)> = BTreeMap::new();
    let ledger = Query::partition(keys::tenant_pk(t, "LEDGER")).limit(crate::records::MAX_PAGE);
    for e in query_all_as::<LedgerEntry>(records, ledger).await? {
        let slot = totals.entry(e.user).or_default();
        slot.0 += 1;
        slot.1 = slot.1.saturating_add(e.credits_charged);
    }
    Ok(totals)
}

async fn adjust(
    records: &dyn Records,
    t: &TenantId,
    u: &UserId,
    b: &Balance,
    ledger_calls: u64,
    ledger_credits: u64,
    now: Timestamp,
) -> Result<bool> {
    if b.used == ledger_credits {
        return Ok(false);
    }
    let (used, ledger) = (
        i64::try_from(b.used).unwrap_or(i64::MAX),
        i64::try_from(ledger_credits).unwrap_or(i64::MAX),
    );
    // Positive: `used` says more than the ledger, and the difference goes back to the user.
    let back = used - ledger;
    let available = i64::try_from(b.available).unwrap_or(i64::MAX);
    // Never below zero: what the user no longer holds is not taken.
    let back = back.max(-available);
    let id = format!("adjustment-{u}-{ledger_calls}-{}", b.used);
    let writes = vec![
        Write::update(
            keys::credits(t, u),
            Update::new()
                .add("used", -(used - ledger))
                .add("available", back),
        )
        .when(Condition::equals("used", to_value(&b.used)?)),
        billing::billing_write(
            t,
            u,
            u,
            &id,
            now,
            billing::Entry {
                kind: "adjustment",
                credits: back,
                amount: 0,
            },
        )?,
    ];
    match records.transact(writes).await {
        Ok(()) => Ok(true),
        Err(e) if e.failed_write().is_some() => Ok(false),
        Err(e) => Err(e),
    }
}
