//! Tiers, subscriptions, allowances at reservation, and reconciliation.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::Stack;
use recap_domain::Error;
use recap_domain::clock::{Clock, ManualClock, SystemClock};
use recap_domain::credits::{self, ReserveRequest};
use recap_domain::ids::{JobId, TenantId, UserId};
use recap_domain::money::{DEFAULT_RATE, Usage};
use recap_domain::reconcile;
use recap_domain::records::Update;
use serde_json::json;

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";
const U: &str = "22222222-2222-4222-8222-222222222222";

fn job(model: &str) -> ReserveRequest {
    let (provider, model) = model.split_once('/').unwrap();
    ReserveRequest {
        job: JobId::from_uuid(uuid::Uuid::now_v7()),
        tenant: TenantId::parse(T).unwrap(),
        user: UserId::parse(U).unwrap(),
        team: None,
        transcript: None,
        output_type: Some("one_pager".into()),
        provider: provider.into(),
        model: model.into(),
        // gpt-4o-mini: 2,100 micro-USD, 3 credits.
        input_tokens: 10_000,
        max_output_tokens: 1_000,
        rate: DEFAULT_RATE,
        split: false,
    }
}

/// A tenant whose user U holds a subscription to a small tier that allows overage.
async fn subscribed(s: &Stack) {
    let admin = s.who(T, ADMIN);
    s.get(&admin, "/me").await;
    s.get(&s.who(T, U), "/me").await;
    let root = s.who_admin(T, ADMIN, true);
    let tiny = json!({"id": "tiny", "name": "Tiny", "price_micro_usd": 1_000_000, "monthly_credits": 10,
        "ai_calls_per_period": 5, "allowed_models": ["openai/gpt-4o-mini", "offline/extractive"], "features": {},
        "credit_rate": {"micro_usd_per_credit": 1000},
        "overage": {"policy": "allow", "micro_usd_per_credit": 2000, "cap_credits": 100}, "active": true});
    let sub = s.subscribe(&root, &admin, U, &tiny).await;
    assert_eq!(
        (
            sub["calls_remaining"].as_i64(),
            sub["overage_remaining"].as_i64()
        ),
        (Some(5), Some(100))
    );
    assert_eq!(s.get(&s.who(T, U), "/credits").await.1["available"], 10);
}

#[tokio::test]
async fn tiers_limit_models_and_calls() {
    let s = Stack::seeded().await;
    subscribed(&s).await;
    let r = s.state.records.as_ref();
    let refused = credits::reserve(r, &SystemClock, job("openai/gpt-4o"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Forbidden(m) if m.contains("Tiny tier does not include openai/gpt-4o")),
        "{refused:?}"
    );
    for _ in 0..5 {
        credits::reserve(r, &SystemClock, job("offline/extractive"))
            .await
            .unwrap();
    }
    let refused = credits::reserve(r, &SystemClock, job("offline/extractive"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Forbidden(m) if m.contains("5 AI calls")),
        "{refused:?}"
    );
    // Only one active subscription per user.
    let (st, _) = s
        .call(
            &s.who(T, ADMIN),
            Method::PUT,
            &format!("/subscriptions/{U}"),
            Some(r#"{"tier":"pro"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    // The user reads their own; another user's needs billing:read.
    assert_eq!(
        s.get(&s.who(T, U), "/subscription").await.1["tier"]["id"],
        "tiny"
    );
    s.call(
        &s.who(T, ADMIN),
        Method::PATCH,
        &format!("/users/{U}"),
        Some(r#"{"role":"viewer"}"#),
    )
    .await;
    assert_eq!(
        s.get(&s.who(T, U), &format!("/subscriptions/{ADMIN}"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn changing_tier_now_is_prorated_and_next_period_waits() {
    let s = Stack::seeded().await;
    subscribed(&s).await;
    let admin = s.who(T, ADMIN);
    let (st, sub) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/subscriptions/{U}"),
            Some(r#"{"tier":"pro","when":"next_period"}"#),
        )
        .await;
    assert_eq!(
        (st, sub["next_tier"].as_str(), sub["tier"]["id"].as_str()),
        (StatusCode::OK, Some("pro"), Some("tiny"))
    );
    let (st, sub) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/subscriptions/{U}"),
            Some(r#"{"tier":"pro"}"#),
        )
        .await;
    assert_eq!(
        (st, sub["tier"]["id"].as_str()),
        (StatusCode::OK, Some("pro"))
    );
    // Nearly the whole period is left: nearly the whole difference (20,000 - 10 credits).
    let available = s.get(&s.who(T, U), "/credits").await.1["available"]
        .as_u64()
        .unwrap();
    assert!((19_900..=20_000).contains(&available), "{available}");
    let (_, records) = s.get(&admin, "/billing-records").await;
    let kinds: Vec<&str> = records["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["proration", "subscription"]);
    let (st, sub) = s
        .call(&admin, Method::DELETE, &format!("/subscriptions/{U}"), None)
        .await;
    assert_eq!(
        (st, sub["cancel_at_period_end"].as_bool()),
        (StatusCode::OK, Some(true))
    );
}

#[tokio::test]
async fn reconcile_idempotent() {
    let s = Stack::seeded().await;
    subscribed(&s).await;
    let r = s.state.records.as_ref();
    let (t, u) = (TenantId::parse(T).unwrap(), UserId::parse(U).unwrap());
    let full = Usage {
        uncached_input: 10_000,
        output: 1_000,
        ..Usage::default()
    };
    // One reservation left to expire, two settled, and one that went beyond the balance.
    let forgotten = credits::reserve(r, &SystemClock, job("openai/gpt-4o-mini"))
        .await
        .unwrap();
    for _ in 0..2 {
        let j = credits::reserve(r, &SystemClock, job("openai/gpt-4o-mini"))
            .await
            .unwrap();
        credits::settle(r, &SystemClock, &t, &j.id, full, 1)
            .await
            .unwrap();
    }
    let beyond = credits::reserve(r, &SystemClock, job("openai/gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(
        beyond.overage_credits, 2,
        "1 credit from the balance, 2 from overage"
    );
    credits::settle(r, &SystemClock, &t, &beyond.id, full, 1)
        .await
        .unwrap();
    let b = credits::balance(r, &t, &u).await.unwrap();
    assert_eq!((b.available, b.reserved, b.used), (0, 3, 9));
    // Drift: `used` moved without a ledger entry.
    r.update(
        &recap_domain::keys::credits(&t, &u),
        Update::new().add("used", 5),
        vec![],
    )
    .await
    .unwrap();

    let later = ManualClock::at(SystemClock.now().plus(Duration::from_secs(40 * 24 * 3600)));
    let first = reconcile::run(r, &later).await.unwrap();
    assert_eq!(
        (
            first.reservations_released,
            first.periods_renewed,
            first.overage_billed,
            first.balances_adjusted
        ),
        (1, 1, 1, 1),
        "{first:?}"
    );
    let b = credits::balance(r, &t, &u).await.unwrap();
    // 0 + 3 released + 10 renewed + 5 given back by the adjustment; used is the ledger's 9.
    assert_eq!((b.available, b.reserved, b.used), (18, 0, 9));
    let (_, sub) = s.get(&s.who(T, U), "/subscription").await;
    assert_eq!(
        (
            sub["calls_remaining"].as_i64(),
            sub["overage_remaining"].as_i64(),
            sub["overage_used"].as_i64(),
            sub["periods"].as_u64()
        ),
        (Some(5), Some(100), Some(0), Some(2))
    );
    let (_, records) = s.get(&s.who(T, ADMIN), "/billing-records").await;
    let mut kinds: Vec<(String, i64, i64)> = records["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["credits"].as_i64().unwrap(),
                r["amount_micro_usd"].as_i64().unwrap(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("adjustment".into(), 5, 0),
            ("overage".into(), 2, 4_000),
            ("renewal".into(), 10, 1_000_000),
            ("subscription".into(), 10, 1_000_000),
        ]
    );
    assert!(
        credits::settle(r, &SystemClock, &t, &forgotten.id, full, 1)
            .await
            .is_err(),
        "a released job is not charged"
    );

    // The second run changes nothing.
    let second = reconcile::run(r, &later).await.unwrap();
    assert_eq!(
        (
            second.reservations_released,
            second.periods_renewed,
            second.subscriptions_ended,
            second.overage_billed,
            second.balances_adjusted
        ),
        (0, 0, 0, 0, 0),
        "{second:?}"
    );
    assert_eq!(credits::balance(r, &t, &u).await.unwrap(), b);
    assert_eq!(
        s.get(&s.who(T, ADMIN), "/billing-records").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // Cancelled: the next period end ends it instead of renewing.
    s.call(
        &s.who(T, ADMIN),
        Method::DELETE,
        &format!("/subscriptions/{U}"),
        None,
    )
    .await;
    let much_later = ManualClock::at(later.now().plus(Duration::from_secs(40 * 24 * 3600)));
    let third = reconcile::run(r, &much_later).await.unwrap();
    assert_eq!(
        (third.subscriptions_ended, third.periods_renewed),
        (1, 0),
        "{third:?}"
    );
    assert_eq!(
        s.get(&s.who(T, U), "/subscription").await.1["status"],
        "ended"
    );
    assert_eq!(
        reconcile::run(r, &much_later)
            .await
            .unwrap()
            .subscriptions_ended,
        0
    );
}

/// Prices, allowances and windows far beyond any real one are refused with the field named,
/// before they can overflow a bill (a tier priced at 2^63 micro-USD once wrote a proration
/// record of 9.2e18).
#[tokio::test]
async fn absurd_amounts_in_tiers_and_models_are_refused() {
    let s = Stack::seeded().await;
    s.get(&s.who(T, ADMIN), "/me").await;
    let root = s.who_admin(T, ADMIN, true);
    let tier = |field: &str, value: u64| {
        let mut t = json!({"id": "huge", "name": "Huge", "price_micro_usd": 1_000_000, "monthly_credits": 10,
            "ai_calls_per_period": 5, "features": {}, "credit_rate": {"micro_usd_per_credit": 1000},
            "overage": {"policy": "allow", "micro_usd_per_credit": 2000, "cap_credits": 100}, "active": true});
        match field.split_once('.') {
            Some((outer, inner)) => t[outer][inner] = json!(value),
            None => t[field] = json!(value),
        }
        t.to_string()
    };
    for field in [
        "price_micro_usd",
        "monthly_credits",
        "ai_calls_per_period",
        "overage.micro_usd_per_credit",
        "overage.cap_credits",
    ] {
        let (st, p) = s
            .call(&root, Method::POST, "/tiers", Some(&tier(field, 1 << 63)))
            .await;
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{field}: {p}"
        );
    }
    let (st, _) = s
        .call(
            &root,
            Method::POST,
            "/tiers",
            Some(&tier("price_micro_usd", 1_000_000_000_000)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "a trillion is still allowed");

    let (st, p) = s
        .call(
            &root,
            Method::PATCH,
            "/models/openai/gpt-4o-mini",
            Some(r#"{"context_window": 9223372036854775808}"#),
        )
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("context_window")),
        "{p}"
    );
    let (st, p) = s
        .call(
            &root,
            Method::PATCH,
            "/models/openai/gpt-4o-mini",
            Some(r#"{"price": {"uncached_input": 9223372036854775808, "cache_read": 0, "cache_write": 0, "output": 1, "reasoning": 0}}"#),
        )
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("price.uncached_input")),
        "{p}"
    );
}

/// A release gives back the AI call its reservation took when no model was called for the
/// job, once, and only to the period it was taken from; a job that called a model keeps it.
#[tokio::test]
async fn a_release_gives_back_an_unused_call_to_its_own_period() {
    let s = Stack::seeded().await;
    subscribed(&s).await;
    let r = s.state.records.as_ref();
    let t = TenantId::parse(T).unwrap();
    let user = s.who(T, U);
    let calls = || async {
        let (_, sub) = s.get(&user, "/subscription").await;
        sub["calls_remaining"].as_i64().unwrap()
    };
    let unused = credits::reserve(r, &SystemClock, job("openai/gpt-4o-mini"))
        .await
        .unwrap();
    let made = credits::reserve(r, &SystemClock, job("openai/gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(calls().await, 3);
    assert!(
        credits::release(r, &t, &unused.id, credits::Call::Unused)
            .await
            .unwrap()
    );
    assert!(
        credits::release(r, &t, &made.id, credits::Call::Made)
            .await
            .unwrap()
    );
    assert_eq!(calls().await, 4, "the unused call back, the one made kept");
    assert!(
        !credits::release(r, &t, &unused.id, credits::Call::Unused)
            .await
            .unwrap()
    );
    assert_eq!(calls().await, 4, "once");

    // Unused only while a condition holds (the output still queued): when it no longer does
    // (its job started meanwhile), the reservation is released without the call.
    use recap_domain::records::{Condition, Item, Key, Write};
    let marker = Key::new(format!("{T}#OUTPUT#marker"), "META");
    let mut item = Item::new();
    item.insert("pk".into(), marker.pk.clone().into());
    item.insert("sk".into(), marker.sk.clone().into());
    item.insert("status".into(), "running".into());
    r.put(item, vec![]).await.unwrap();
    let queued = || {
        Some(Write::check(
            marker.clone(),
            vec![Condition::equals("status", "queued")],
        ))
    };
    let started = credits::reserve(r, &SystemClock, job("openai/gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(calls().await, 3);
    assert!(
        credits::release_unless(r, &t, &started.id, credits::Call::Unused, queued())
            .await
            .unwrap()
    );
    assert_eq!(calls().await, 3, "the job started: its call stays used");
    let b = credits::balance(r, &t, &UserId::parse(U).unwrap())
        .await
        .unwrap();
    assert_eq!(b.reserved, 0, "released all the same");
    r.update(
        &marker,
        recap_domain::records::Update::new().set("status", "queued"),
        vec![],
    )
    .await
    .unwrap();
    let waiting = credits::reserve(r, &SystemClock, job("openai/gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(calls().await, 2);
    assert!(
        credits::release_unless(r, &t, &waiting.id, credits::Call::Unused, queued())
            .await
            .unwrap()
    );
    assert_eq!(calls().await, 3, "still queued: the call back");

    // Reserved in this period, released in the next: the fresh allowance gets nothing more.
    let later = ManualClock::at(SystemClock.now().plus(Duration::from_secs(40 * 24 * 3600)));
    let held = credits::reserve(r, &later, job("openai/gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(calls().await, 2);
    let report = reconcile::run(r, &later).await.unwrap();
    assert_eq!(
        (report.periods_renewed, report.reservations_released),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(calls().await, 5);
    assert!(
        credits::release(r, &t, &held.id, credits::Call::Unused)
            .await
            .unwrap()
    );
    assert_eq!(calls().await, 5);
    let b = credits::balance(r, &t, &UserId::parse(U).unwrap())
        .await
        .unwrap();
    assert_eq!(b.reserved, 0, "released all the same");
}
