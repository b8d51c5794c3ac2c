//! Tiers and subscriptions.
//!
//! A tier (global catalog, platform admins) sets a price per period, the credits granted each
//! period, an AI-call allowance, the models allowed, feature flags, the credit rate and an
//! overage policy. A user has at most one subscription (one item, `{t}#USER#{u}` /
//! `SUBSCRIPTION`), which copies the limits of its tier, so a reservation reads one item:
//! `calls_remaining` and `overage_remaining` are counters the reservation decrements under a
//! condition, and reconciliation resets at each period.
//!
//! Periods are calendar months from the anchor day (clamped to the month's length: an anchor
//! of the 31st renews on the 30th in April). Changing tier "now" prorates by the time left in
//! the period: credits granted and the amount charged are `ceil(difference × left / period)`
//! for an upgrade; a downgrade refunds nothing and lowers the limits at once. "next_period"
//! changes the tier at renewal. Cancelling ends the subscription at the period's end.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, IdGen, Timestamp};
use crate::error::{Conflict, Error, Result};
use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::money::{CreditRate, Credits, MicroUsd};
use crate::records::{
    Condition, Item, Key, Query, Records, Update, Write, from_item, to_item, to_value,
};

pub const TIERS: &str = "TIERS";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OveragePolicy {
    Block,
    Allow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overage {
    pub policy: OveragePolicy,
    /// What a credit beyond the balance costs, billed once per period.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub micro_usd_per_credit: MicroUsd,
    /// The most credits a period may go beyond the balance.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub cap_credits: Credits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tier {
    pub id: String,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub price_micro_usd: MicroUsd,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub monthly_credits: Credits,
    pub ai_calls_per_period: u64,
    /// `provider/model`; empty allows every model.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// `provider/model` used when the user has no preference (and it has a key).
    #[serde(default)]
    pub default_model: Option<String>,
    #[serde(default)]
    pub features: BTreeMap<String, bool>,
    pub credit_rate: CreditRate,
    pub overage: Overage,
    pub active: bool,
}

impl Tier {
    pub fn allows(&self, provider: &str, model: &str) -> bool {
        self.allowed_models.is_empty()
            || self
                .allowed_models
                .iter()
                .any(|m| m.split_once('/') == Some((provider, model)))
    }

    fn validate(&self) -> Result<()> {
        let slug = (1..=40).contains(&self.id.len())
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !slug {
            return Err(Error::validation(
                "id",
                "must be 1-40 of a-z, 0-9, '_' or '-'",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(Error::validation("name", "is required"));
        }
        crate::text::check_display("name", &self.name, false)?;
        self.credit_rate.validate()?;
        for (field, v) in [
            ("price_micro_usd", self.price_micro_usd),
            ("monthly_credits", self.monthly_credits),
            ("ai_calls_per_period", self.ai_calls_per_period),
            (
                "overage.micro_usd_per_credit",
                self.overage.micro_usd_per_credit,
            ),
            ("overage.cap_credits", self.overage.cap_credits),
        ] {
            crate::money::check_setting(field, v)?;
        }
        if let Some(m) = &self.default_model
            && m.split_once('/').is_none()
        {
            return Err(Error::validation(
                "default_model",
                format!("{m:?} is not provider/model"),
            ));
        }
        for m in &self.allowed_models {
            if m.split_once('/').is_none() {
                return Err(Error::validation(
                    "allowed_models",
                    format!("{m:?} is not provider/model"),
                ));
            }
        }
        Ok(())
    }
}

fn tier_key(id: &str) -> Key {
    Key::new(keys::catalog_pk(TIERS), id)
}

/// The seeded tiers.
pub fn seed_tiers() -> Vec<Tier> {
    let rate = CreditRate {
        micro_usd_per_credit: 1_000,
    };
    vec![
        Tier {
            id: "free".into(),
            name: "Free".into(),
            price_micro_usd: 0,
            monthly_credits: 200,
            ai_calls_per_period: 50,
            allowed_models: vec![
                "offline/extractive".into(),
                "openai/gpt-4o-mini".into(),
                "google/gemini-2.5-flash".into(),
            ],
            default_model: Some("openai/gpt-4o-mini".into()),
            features: BTreeMap::from([("playlists".into(), false)]),
            credit_rate: rate,
            overage: Overage {
                policy: OveragePolicy::Block,
                micro_usd_per_credit: 0,
                cap_credits: 0,
            },
            active: true,
        },
        Tier {
            id: "pro".into(),
            name: "Pro".into(),
            price_micro_usd: 20_000_000,
            monthly_credits: 20_000,
            ai_calls_per_period: 2_000,
            allowed_models: vec![],
            default_model: Some("openai/gpt-4o-mini".into()),
            features: BTreeMap::from([("playlists".into(), true)]),
            credit_rate: rate,
            overage: Overage {
                policy: OveragePolicy::Allow,
                micro_usd_per_credit: 1_200,
                cap_credits: 10_000,
            },
            active: true,
        },
        Tier {
            id: "team".into(),
            name: "Team".into(),
            price_micro_usd: 60_000_000,
            monthly_credits: 75_000,
            ai_calls_per_period: 10_000,
            allowed_models: vec![],
            default_model: Some("anthropic/claude-3-5-haiku".into()),
            features: BTreeMap::from([("playlists".into(), true), ("teams".into(), true)]),
            credit_rate: rate,
            overage: Overage {
                policy: OveragePolicy::Allow,
                micro_usd_per_credit: 1_100,
                cap_credits: 50_000,
            },
            active: true,
        },
    ]
}

pub async fn seed(records: &dyn Records) -> Result<usize> {
    let mut n = 0;
    for t in seed_tiers() {
        match records
            .put(tier_item(&t)?, vec![Condition::NotExists])
            .await
        {
            Ok(()) => n += 1,
            Err(e) if e.failed_write() == Some(0) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn tier_item(t: &Tier) -> Result<Item> {
    let mut item = to_item(&tier_key(&t.id), t)?;
    item.insert("entity".into(), "tier".into());
    Ok(item)
}

pub async fn tiers(records: &dyn Records) -> Result<Vec<Tier>> {
    let page = records
        .query(Query::partition(keys::catalog_pk(TIERS)).limit(1000))
        .await?;
    page.items.into_iter().map(from_item).collect()
}

pub async fn tier(records: &dyn Records, id: &str) -> Result<Tier> {
    match records.get(&tier_key(id)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("tier")),
    }
}

/// Its models must be in the catalog.
async fn check_tier_models(records: &dyn Records, t: &Tier) -> Result<()> {
    crate::catalog::check_known_models(records, "allowed_models", &t.allowed_models).await?;
    if let Some(m) = &t.default_model {
        crate::catalog::check_known_models(records, "default_model", std::slice::from_ref(m))
            .await?;
    }
    Ok(())
}

/// Adds a tier (platform admins).
pub async fn create_tier(records: &dyn Records, t: Tier) -> Result<Tier> {
    t.validate()?;
    check_tier_models(records, &t).await?;
    match records
        .put(tier_item(&t)?, vec![Condition::NotExists])
        .await
    {
        Ok(()) => Ok(t),
        Err(e) if e.failed_write() == Some(0) => {
            Err(Conflict::State(format!("a tier {} exists already", t.id)).into())
        }
        Err(e) => Err(e),
    }
}

/// Replaces a tier's terms (platform admins). Subscriptions take them at their next period.
pub async fn update_tier(records: &dyn Records, id: &str, t: Tier) -> Result<Tier> {
    if t.id != id {
        return Err(Error::validation("id", "a tier cannot be renamed"));
    }
    t.validate()?;
    check_tier_models(records, &t).await?;
    match records.put(tier_item(&t)?, vec![Condition::Exists]).await {
        Ok(()) => Ok(t),
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("tier")),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub tenant: TenantId,
    pub user: UserId,
    pub tier: Tier,
    pub status: SubscriptionStatus,
    pub started_at: Timestamp,
    pub anchor_day: u8,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub cancel_at_period_end: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_tier: Option<String>,
    /// AI calls left this period.
    pub calls_remaining: i64,
    /// Credits this period may still go beyond the balance (0 when overage is blocked).
    pub overage_remaining: i64,
    /// Credits gone beyond the balance this period, billed at renewal.
    #[serde(default)]
    pub overage_used: i64,
    pub periods: u64,
    pub version: i64,
}

/// The instant one calendar month after `t`, on the anchor day (clamped to the month).
pub fn add_month(t: Timestamp, anchor_day: u8) -> Timestamp {
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
    else {
        return t;
    };
    let (mut y, mut m) = (dt.year(), dt.month());
    m = m.next();
    if m == time::Month::January {
        y += 1;
    }
    let day = anchor_day.clamp(1, 31).min(m.length(y));
    match time::Date::from_calendar_date(y, m, day) {
        Ok(d) => {
            let next = dt.replace_date(d);
            Timestamp(i64::try_from(next.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        }
        Err(_) => t,
    }
}

fn anchor_of(t: Timestamp) -> u8 {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .map(|d| d.day())
        .unwrap_or(1)
}

pub async fn subscription(
    records: &dyn Records,
    t: &TenantId,
    u: &UserId,
) -> Result<Option<Subscription>> {
    records
        .get(&keys::subscription(t, u))
        .await?
        .map(from_item)
        .transpose()
}

fn as_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::validation("credits", "is too large"))
}

fn overage_allowance(t: &Tier) -> i64 {
    match t.overage.policy {
        OveragePolicy::Allow => i64::try_from(t.overage.cap_credits).unwrap_or(i64::MAX),
        OveragePolicy::Block => 0,
    }
}

pub(crate) fn subscription_item(s: &Subscription) -> Result<Item> {
    let mut item = to_item(&keys::subscription(&s.tenant, &s.user), s)?;
    item.insert("entity".into(), "subscription".into());
    // Reconciliation finds the periods that ended through this index.
    let due = keys::subscriptions_due(s.period_end, &s.tenant, &s.user);
    item.insert("gsi1pk".into(), due.pk.into());
    item.insert("gsi1sk".into(), due.sk.into());
    Ok(item)
}

/// A billing record, put in a transaction.
/// What a billing record says.
pub(crate) struct Entry<'a> {
    pub kind: &'a str,
    pub credits: i64,
    pub amount: i64,
}

pub(crate) fn billing_write(
    t: &TenantId,
    user: &UserId,
    by: &UserId,
    id: &str,
    at: Timestamp,
    entry: Entry<'_>,
) -> Result<Write> {
    let record = crate::credits::BillingRecord {
        id: id.to_string(),
        tenant: *t,
        user: *user,
        kind: entry.kind.into(),
        credits: entry.credits,
        amount_micro_usd: entry.amount,
        by: *by,
        at,
    };
    let mut item = to_item(&keys::billing_record(t, id), &record)?;
    item.insert("entity".into(), "billing_record".into());
    Ok(Write::put(item).when(Condition::NotExists))
}

/// Subscribes a user to a tier: the first period's credits, a billing record, one transaction.
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn subscribe(
    records: &dyn Records,
    clock: &dyn Clock,
    ids: &dyn IdGen,
    t: &TenantId,
    u: &UserId,
    by: &UserId,
    tier_id: &str,
) -> Result<Subscription> {
    let tier = self::tier(records, tier_id).await.map_err(|e| match e {
        Error::NotFound { .. } => Error::validation("tier", format!("no tier {tier_id}")),
        e => e,
    })?;
    if !tier.active {
        return Err(Error::validation(
            "tier",
            format!("{tier_id} is not offered"),
        ));
    }
    let existing = subscription(records, t, u).await?;
    if existing
        .as_ref()
        .is_some_and(|s| s.status == SubscriptionStatus::Active)
    {
        return Err(Conflict::State(
            "the user has an active subscription; change its tier instead".into(),
        )
        .into());
    }
    let now = clock.now();
    let anchor = anchor_of(now);
    let s = Subscription {
        tenant: *t,
        user: *u,
        status: SubscriptionStatus::Active,
        started_at: now,
        anchor_day: anchor,
        period_start: now,
        period_end: add_month(now, anchor),
        cancel_at_period_end: false,
        next_tier: None,
        calls_remaining: as_i64(tier.ai_calls_per_period)?,
        overage_remaining: overage_allowance(&tier),
        overage_used: 0,
        periods: 1,
        version: existing.as_ref().map_or(0, |e| e.version + 1),
        tier,
    };
    let guard = match &existing {
        None => Condition::NotExists,
        Some(e) => Condition::equals("version", e.version),
    };
    let writes = vec![
        Write::put(subscription_item(&s)?).when(guard),
        Write::update(
            keys::credits(t, u),
            crate::credits::balance_update(t, u).add("available", as_i64(s.tier.monthly_credits)?),
        ),
        billing_write(
            t,
            u,
            by,
            &ids.new_id().to_string(),
            now,
            Entry {
                kind: "subscription",
                credits: as_i64(s.tier.monthly_credits)?,
                amount: as_i64(s.tier.price_micro_usd)?,
            },
        )?,
    ];
    match records.transact(writes).await {
        Ok(()) => Ok(s),
        Err(e) if e.failed_write() == Some(0) => {
            Err(Conflict::State("the subscription changed meanwhile; read it again".into()).into())
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum When {
    Now,
    NextPeriod,
}

fn prorate(difference: u64, left_ms: i64, period_ms: i64) -> u64 {
    if period_ms <= 0 || left_ms <= 0 {
        return 0;
    }
    let v = u128::from(difference) * u128::try_from(left_ms).unwrap_or(0);
    u64::try_from(v.div_ceil(u128::try_from(period_ms).unwrap_or(1))).unwrap_or(u64::MAX)
}

/// Changes the tier, now (prorated) or at the next period.
#[tracing::instrument(skip_all, fields(tenant = %t))]
#[allow(clippy::too_many_arguments)]
pub async fn change_tier(
    records: &dyn Records,
    clock: &dyn Clock,
    ids: &dyn IdGen,
    t: &TenantId,
    u: &UserId,
    by: &UserId,
    tier_id: &str,
    when: When,
) -> Result<Subscription> {
    let s = subscription(records, t, u)
        .await?
        .filter(|s| s.status == SubscriptionStatus::Active)
        .ok_or_else(|| Error::not_found("subscription"))?;
    let new = self::tier(records, tier_id).await.map_err(|e| match e {
        Error::NotFound { .. } => Error::validation("tier", format!("no tier {tier_id}")),
        e => e,
    })?;
    let key = keys::subscription(t, u);
    let guard = Condition::equals("version", s.version);
    if when == When::NextPeriod {
        records
            .update(
                &key,
                Update::new()
                    .set("next_tier", new.id.clone())
                    .add("version", 1),
                vec![guard],
            )
            .await
            .map_err(conflict)?;
        return subscription(records, t, u)
            .await?
            .ok_or_else(|| Error::not_found("subscription"));
    }
    let now = clock.now();
    let (left, period) = (s.period_end.0 - now.0, s.period_end.0 - s.period_start.0);
    let credits = prorate(
        new.monthly_credits.saturating_sub(s.tier.monthly_credits),
        left,
        period,
    );
    let amount = prorate(
        new.price_micro_usd.saturating_sub(s.tier.price_micro_usd),
        left,
        period,
    );
    let calls = prorate(
        new.ai_calls_per_period
            .saturating_sub(s.tier.ai_calls_per_period),
        left,
        period,
    );
    let fewer_calls = as_i64(
        s.tier
            .ai_calls_per_period
            .saturating_sub(new.ai_calls_per_period),
    )?;
    let overage = overage_allowance(&new) - overage_allowance(&s.tier);
    let update = Update::new()
        .set("tier", to_value(&new)?)
        .remove("next_tier")
        .add("calls_remaining", as_i64(calls)? - fewer_calls)
        .add("overage_remaining", overage)
        .add("version", 1);
    let mut writes = vec![Write::update(key, update).when(guard)];
    if credits > 0 || amount > 0 {
        writes.push(Write::update(
            keys::credits(t, u),
            crate::credits::balance_update(t, u).add("available", as_i64(credits)?),
        ));
        writes.push(billing_write(
            t,
            u,
            by,
            &ids.new_id().to_string(),
            now,
            Entry {
                kind: "proration",
                credits: as_i64(credits)?,
                amount: as_i64(amount)?,
            },
        )?);
    }
    records.transact(writes).await.map_err(conflict)?;
    subscription(records, t, u)
        .await?
        .ok_or_else(|| Error::not_found("subscription"))
}

fn conflict(e: Error) -> Error {
    if e.failed_write() == Some(0) {
        Conflict::State("the subscription changed meanwhile; read it again".into()).into()
    } else {
        e
    }
}

/// Cancels at the end of the current period.
pub async fn cancel(records: &dyn Records, t: &TenantId, u: &UserId) -> Result<Subscription> {
    let s = subscription(records, t, u)
        .await?
        .filter(|s| s.status == SubscriptionStatus::Active)
        .ok_or_else(|| Error::not_found("subscription"))?;
    records
        .update(
            &keys::subscription(t, u),
            Update::new()
                .set("cancel_at_period_end", true)
                .add("version", 1),
            vec![Condition::equals("version", s.version)],
        )
        .await
        .map_err(conflict)?;
    subscription(records, t, u)
        .await?
        .ok_or_else(|| Error::not_found("subscription"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn months_follow_the_anchor_and_clamp_to_short_months() {
        assert_eq!(
            add_month(at("2026-01-31T10:00:00Z"), 31),
            at("2026-02-28T10:00:00Z")
        );
        assert_eq!(
            add_month(at("2026-02-28T10:00:00Z"), 31),
            at("2026-03-31T10:00:00Z")
        );
        assert_eq!(
            add_month(at("2026-12-15T00:00:00Z"), 15),
            at("2027-01-15T00:00:00Z")
        );
        assert_eq!(
            add_month(at("2028-01-30T00:00:00Z"), 30),
            at("2028-02-29T00:00:00Z")
        );
    }

    #[test]
    fn proration_rounds_up_and_is_zero_without_time_left() {
        assert_eq!(prorate(1_000, 15, 30), 500);
        assert_eq!(prorate(1_000, 1, 30), 34);
        assert_eq!(prorate(1_000, 0, 30), 0);
        assert_eq!(prorate(0, 10, 30), 0);
    }

    #[test]
    fn seeded_tiers_are_valid() {
        for t in seed_tiers() {
            t.validate().unwrap();
        }
        let free = &seed_tiers()[0];
        assert!(free.allows("offline", "extractive") && !free.allows("openai", "gpt-4o"));
        assert!(seed_tiers()[1].allows("anthropic", "claude-sonnet-4"));
    }
}
