//! Money over HTTP, and the round trips of reserve and settle counted at the records port.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::Stack;
use recap_domain::clock::SystemClock;
use recap_domain::credits::{self, ReserveRequest};
use recap_domain::ids::JobId;
use recap_domain::money::{DEFAULT_RATE, Usage};
use recap_domain::records::{Condition, Item, Key, Page, Query, Records, Update, Write};
use serde_json::{Value, json};

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";
const EDITOR: &str = "22222222-2222-4222-8222-222222222222";
const VIEWER: &str = "33333333-3333-4333-8333-333333333333";

async fn buy(s: &Stack, who: &common::Who, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    s.call_with(
        who,
        Method::POST,
        "/credits/purchases",
        Some(&body.to_string()),
        &headers,
    )
    .await
}

#[tokio::test]
async fn idempotency_key_semantics() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let editor = s.who(T, EDITOR);
    s.get(&admin, "/me").await;
    s.get(&editor, "/me").await;
    let body = json!({"user_id": EDITOR, "credits": 500, "amount_micro_usd": 5_000_000});
    let (st, first) = buy(&s, &admin, Some("order-7"), &body).await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    assert_eq!(
        (first["credits"].as_i64(), first["kind"].as_str()),
        (Some(500), Some("purchase"))
    );
    let (st, again) = buy(&s, &admin, Some("order-7"), &body).await;
    assert_eq!(
        (st, &again),
        (StatusCode::CREATED, &first),
        "the first answer, replayed"
    );
    let (st, p) = buy(
        &s,
        &admin,
        Some("order-7"),
        &json!({"user_id": EDITOR, "credits": 900, "amount_micro_usd": 5_000_000}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("used for a purchase with another body"),
        "{p}"
    );
    // The same key and body on the refund route: said to be another kind of request.
    let (st, p) = s
        .call_with(
            &admin,
            Method::POST,
            "/credits/refunds",
            Some(&body.to_string()),
            &[("idempotency-key", "order-7")],
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("used for a purchase, not a refund"),
        "{p}"
    );
    let (st, p) = buy(&s, &admin, None, &body).await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Idempotency-Key"))
    );
    assert_eq!(
        s.get(&editor, "/credits").await.1,
        json!({"available": 500, "reserved": 0, "used": 0})
    );
    // Only billing:manage buys; the editor may not.
    let (st, _) = buy(&s, &editor, Some("order-8"), &body).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Refunds take credits back, never more than the user holds, and a key names one request.
    let refund = |credits: u64| json!({"user_id": EDITOR, "credits": credits, "amount_micro_usd": credits * 10_000});
    let post_refund = |key: &'static str, body: Value| {
        let admin = admin.clone();
        let s = &s;
        async move {
            s.call_with(
                &admin,
                Method::POST,
                "/credits/refunds",
                Some(&body.to_string()),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let (st, r) = post_refund("refund-1", refund(200)).await;
    assert_eq!(
        (st, r["credits"].as_i64(), r["kind"].as_str()),
        (StatusCode::CREATED, Some(-200), Some("refund")),
        "{r}"
    );
    let (st, p) = post_refund("refund-2", refund(301)).await;
    assert_eq!(st, StatusCode::CONFLICT, "only 300 are held: {p}");
    let (st, _) = post_refund("order-7", body.clone()).await;
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "a purchase's key cannot replay as a refund"
    );
    assert_eq!(s.get(&editor, "/credits").await.1["available"], 300);
    let (_, records) = s.get(&admin, "/billing-records").await;
    assert_eq!(records["items"].as_array().unwrap().len(), 2);
    // Another tenant's user cannot be credited.
    let (st, p) = buy(&s, &admin, Some("order-9"), &json!({"user_id": "33333333-3333-4333-8333-333333333333", "credits": 1, "amount_micro_usd": 1})).await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("user_id"))
    );
}

#[tokio::test]
async fn the_catalog_is_read_by_all_and_priced_in_versions() {
    let s = Stack::seeded().await;
    let user = s.who(T, ADMIN);
    let root = s.who_admin(T, EDITOR, true);
    let (_, models) = s.get(&user, "/models").await;
    let names: Vec<String> = models["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["provider"].as_str().unwrap(),
                m["model"].as_str().unwrap()
            )
        })
        .collect();
    for m in [
        "openai/gpt-4o",
        "anthropic/claude-sonnet-4",
        "google/gemini-2.5-flash",
        "offline/extractive",
        "self_hosted/llama-3.1-8b-instruct",
    ] {
        assert!(names.iter().any(|n| n == m), "{m} in {names:?}");
    }
    let (_, p) = s.get(&user, "/providers").await;
    assert_eq!(p["items"].as_array().unwrap().len(), 5);
    let (_, gpt) = s.get(&user, "/models/openai/gpt-4o-mini").await;
    assert_eq!(gpt["price"]["uncached_input"], 150_000);
    assert_eq!(gpt["price_version"], 1);
    // A platform admin changes the price: a new version; the old one stays.
    let new_price = json!({"price": {"uncached_input": 200000, "cache_read": 100000, "cache_write": 200000, "output": 800000, "reasoning": 800000}});
    let (st, _) = s
        .call(
            &user,
            Method::PATCH,
            "/models/openai/gpt-4o-mini",
            Some(&new_price.to_string()),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "tenant admins do not price models"
    );
    let (st, m) = s
        .call(
            &root,
            Method::PATCH,
            "/models/openai/gpt-4o-mini",
            Some(&new_price.to_string()),
        )
        .await;
    assert_eq!(
        (st, m["price_version"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{m}"
    );
    let (_, gpt) = s.get(&user, "/models/openai/gpt-4o-mini").await;
    let versions: Vec<(u64, u64)> = gpt["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["price"]["uncached_input"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, vec![(1, 150_000), (2, 200_000)]);
    // A model without a price cannot be used.
    let (st, p) = s.get(&user, "/transcripts/00000000-0000-4000-8000-000000000000/outputs/quote?model=self_hosted/llama-3.1-8b-instruct").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{p}");
    let (st, added) = s.call(&root, Method::POST, "/models", Some(r#"{"provider":"self_hosted","model":"tiny","context_window":1000,"max_output_tokens":2000}"#)).await;
    assert_eq!(
        (st, added["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("max_output_tokens")),
        "{added}"
    );
}

/// Providers that have keys here (the registry a model choice asks); no model is called.
struct KeysFor(&'static [&'static str]);

impl recap_domain::generation::ModelRegistry for KeysFor {
    fn models(&self, _: &str) -> Option<Arc<dyn recap_domain::models::Models>> {
        None
    }
    fn configured(&self, provider: &str) -> bool {
        self.0.contains(&provider)
    }
}

#[tokio::test]
async fn quotes_usage_and_the_402_that_names_the_shortfall() {
    let s = Stack::seeded()
        .await
        .with_models(Arc::new(KeysFor(&["openai"])));
    let admin = s.who(T, ADMIN);
    let editor = s.who(T, EDITOR);
    s.get(&admin, "/me").await;
    s.get(&editor, "/me").await;
    let (_, t) = s.call(&editor, Method::POST, "/transcripts",
        Some(&json!({"title": "t", "type": "meeting", "content": "Ada: one two three four\nGrace: five six"}).to_string())).await;
    s.drain_uploads().await;
    let id = t["id"].as_str().unwrap();
    let (st, q) = s
        .get(
            &editor,
            &format!(
                "/transcripts/{id}/outputs/quote?output_types=one_pager,slides&model=openai/gpt-4o"
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    // gpt-4o: input $2.50/M, output $10/M.
    assert_eq!(
        (
            q["items"][1]["provider"].as_str(),
            q["items"][1]["model"].as_str()
        ),
        (Some("openai"), Some("gpt-4o"))
    );
    let tokens = q["items"][1]["input_tokens"].as_u64().unwrap();
    let out = q["items"][1]["max_output_tokens"].as_u64().unwrap();
    let cost = (tokens * 2_500_000 + out * 10_000_000).div_ceil(1_000_000);
    assert_eq!(q["items"][1]["cost_micro_usd"].as_u64(), Some(cost));
    assert_eq!(
        q["items"][1]["credits"].as_u64(),
        Some(cost.div_ceil(1_000))
    );
    assert_eq!(q["shortfall"], q["total_credits"], "no credits yet");
    let (_, free) = s
        .get(&editor, &format!("/transcripts/{id}/outputs/quote"))
        .await;
    assert_eq!(
        (free["provider"].as_str(), free["total_credits"].as_u64()),
        (Some("offline"), Some(0))
    );
    let (st, _) = s
        .get(
            &editor,
            &format!("/transcripts/{id}/outputs/quote?output_types=poem"),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Reserving without the credits: a 402 naming the shortfall.
    let records = s.state.records.clone();
    let req = |job: JobId| ReserveRequest {
        job,
        tenant: editor.tenant,
        user: editor.user,
        team: None,
        transcript: None,
        output_type: Some("slides".into()),
        provider: "openai".into(),
        model: "gpt-4o".into(),
        input_tokens: 10_000,
        max_output_tokens: 4_000,
        rate: DEFAULT_RATE,
        split: false,
    };
    let refused = credits::reserve(
        records.as_ref(),
        &SystemClock,
        req(JobId::from_uuid(uuid::Uuid::now_v7())),
    )
    .await
    .unwrap_err();
    let problem = axum::response::IntoResponse::into_response(recap_http::ApiError(refused));
    assert_eq!(problem.status(), StatusCode::PAYMENT_REQUIRED);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(problem.into_body(), 1 << 16)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            body["needed"].as_u64(),
            body["available"].as_u64(),
            body["shortfall"].as_u64()
        ),
        (Some(65), Some(0), Some(65))
    );

    // With credits: reserve and settle, then usage as each caller may see it.
    buy(
        &s,
        &admin,
        Some("k"),
        &json!({"user_id": EDITOR, "credits": 100, "amount_micro_usd": 100_000}),
    )
    .await;
    let job = credits::reserve(
        records.as_ref(),
        &SystemClock,
        req(JobId::from_uuid(uuid::Uuid::now_v7())),
    )
    .await
    .unwrap();
    assert_eq!(
        s.get(&editor, "/credits").await.1,
        json!({"available": 35, "reserved": 65, "used": 0})
    );
    let usage = Usage {
        uncached_input: 10_000,
        output: 1_000,
        ..Usage::default()
    };
    credits::settle(
        records.as_ref(),
        &SystemClock,
        &editor.tenant,
        &job.id,
        usage,
        1,
    )
    .await
    .unwrap();
    assert_eq!(
        s.get(&editor, "/credits").await.1,
        json!({"available": 65, "reserved": 0, "used": 35})
    );
    // As a viewer (no billing:read), the user sees their own usage only.
    s.call(
        &admin,
        Method::PATCH,
        &format!("/users/{EDITOR}"),
        Some(r#"{"role":"viewer"}"#),
    )
    .await;
    let (_, mine) = s.get(&editor, "/usage").await;
    assert_eq!(
        (
            mine["calls"].as_u64(),
            mine["credits"].as_u64(),
            mine["cost_micro_usd"].as_u64()
        ),
        (Some(1), Some(35), Some(35_000))
    );
    assert_eq!(mine["by_model"]["openai/gpt-4o"]["calls"], 1);
    assert_eq!(mine["by_output_type"]["slides"]["credits"], 35);
    let (st, _) = s.get(&editor, &format!("/usage?user_id={ADMIN}")).await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a viewer sees their own usage only"
    );
    let (_, all) = s.get(&admin, "/usage?from=2020-01-01").await;
    assert_eq!(all["calls"], 1);
    let (_, none) = s.get(&admin, "/usage?to=2020-01-01").await;
    assert_eq!(none["calls"], 0);
    let (st, _) = s.get(&admin, "/usage?from=yesterday").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

/// The records port, counting round trips.
struct Counting {
    inner: Arc<dyn Records>,
    calls: AtomicUsize,
}

#[async_trait]
impl Records for Counting {
    async fn get(&self, key: &Key) -> recap_domain::Result<Option<Item>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, c: Vec<Condition>) -> recap_domain::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.put(item, c).await
    }
    async fn update(&self, key: &Key, u: Update, c: Vec<Condition>) -> recap_domain::Result<Item> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.update(key, u, c).await
    }
    async fn delete(&self, key: &Key, c: Vec<Condition>) -> recap_domain::Result<Option<Item>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key, c).await
    }
    async fn query(&self, q: Query) -> recap_domain::Result<Page> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.query(q).await
    }
    async fn transact(&self, w: Vec<Write>) -> recap_domain::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.transact(w).await
    }
}

#[tokio::test]
async fn reserve_takes_three_round_trips_and_settle_two() {
    let s = Stack::seeded().await;
    let editor = s.who(T, EDITOR);
    s.get(&s.who(T, ADMIN), "/me").await;
    s.get(&editor, "/me").await;
    buy(
        &s,
        &s.who(T, ADMIN),
        Some("k"),
        &json!({"user_id": EDITOR, "credits": 100, "amount_micro_usd": 1}),
    )
    .await;
    let counting = Counting {
        inner: s.state.records.clone(),
        calls: AtomicUsize::new(0),
    };
    let req = ReserveRequest {
        job: JobId::from_uuid(uuid::Uuid::now_v7()),
        tenant: editor.tenant,
        user: editor.user,
        team: None,
        transcript: None,
        output_type: None,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        input_tokens: 1_000,
        max_output_tokens: 100,
        rate: DEFAULT_RATE,
        split: false,
    };
    let job = credits::reserve(&counting, &SystemClock, req)
        .await
        .unwrap();
    assert_eq!(
        counting.calls.swap(0, Ordering::SeqCst),
        3,
        "reserve: GetItem (model) + GetItem (subscription) + TransactWriteItems"
    );
    credits::settle(
        &counting,
        &SystemClock,
        &editor.tenant,
        &job.id,
        Usage {
            uncached_input: 1_000,
            ..Usage::default()
        },
        1,
    )
    .await
    .unwrap();
    assert_eq!(
        counting.calls.swap(0, Ordering::SeqCst),
        2,
        "settle: GetItem (job) + TransactWriteItems"
    );
    credits::settle(
        &counting,
        &SystemClock,
        &editor.tenant,
        &job.id,
        Usage::default(),
        2,
    )
    .await
    .unwrap();
    assert_eq!(
        counting.calls.swap(0, Ordering::SeqCst),
        2,
        "a replayed settle: GetItem (job) + GetItem (entry), no write"
    );
}

/// A quote is what the request would reserve, and is refused where the request is: the same
/// model choice (constraints, keys), the same estimates, each output type once.
#[tokio::test]
async fn a_quote_is_what_the_request_reserves_and_is_refused_where_it_is() {
    let s = Stack::seeded()
        .await
        .with_models(Arc::new(KeysFor(&["openai"])));
    let admin = s.who(T, ADMIN);
    s.get(&admin, "/me").await;
    s.call_with(
        &admin,
        Method::POST,
        "/credits/purchases",
        Some(
            &json!({"user_id": ADMIN, "credits": 1000, "amount_micro_usd": 1_000_000}).to_string(),
        ),
        &[("idempotency-key", "q")],
    )
    .await;
    let (_, t) = s.call(&admin, Method::POST, "/transcripts",
        Some(&json!({"title": "t", "type": "meeting", "content": "Ada: one two three four\nGrace: five six"}).to_string())).await;
    s.drain_uploads().await;
    let id = t["id"].as_str().unwrap();
    let quote_path = |types: &str, model: &str| {
        format!("/transcripts/{id}/outputs/quote?output_types={types}&model={model}")
    };

    let (st, q) = s
        .get(
            &admin,
            &quote_path("one_pager,slides,slides", "openai/gpt-4o-mini"),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    let lines = q["items"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "each output type once: {q}");
    let (st, made) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(
                r#"{"output_types":["one_pager","slides","slides"],"model":"openai/gpt-4o-mini"}"#,
            ),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{made}");
    for (line, output) in lines.iter().zip(made["items"].as_array().unwrap()) {
        assert_eq!(line["output_type"], output["output_type"]);
        assert_eq!(
            line["credits"], output["reserved_credits"],
            "{line} {output}"
        );
    }
    let reserved: u64 = made["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["reserved_credits"].as_u64().unwrap())
        .sum();
    assert_eq!(q["total_credits"].as_u64(), Some(reserved));

    // Refused where the request is refused, with the same status.
    s.call(
        &admin,
        Method::PUT,
        "/output-constraints/anchors",
        Some(r#"{"allowed_providers":["anthropic"]}"#),
    )
    .await;
    for (types, model) in [
        ("anchors", "openai/gpt-4o-mini"),
        ("bytes", "anthropic/claude-3-5-haiku"),
    ] {
        let (quoted, qp) = s.get(&admin, &quote_path(types, model)).await;
        let (requested, rp) = s
            .call(
                &admin,
                Method::POST,
                &format!("/transcripts/{id}/outputs"),
                Some(&json!({"output_types": [types], "model": model}).to_string()),
            )
            .await;
        assert_eq!(quoted, requested, "{types} on {model}: {qp} / {rp}");
        assert!(quoted.is_client_error(), "{types} on {model}: {qp}");
    }
}

/// A tier's terms, as a quote and the request it prices both read them: the credit rate (not
/// the default 1,000 micro-USD a credit), `available` counting the overage the tier still
/// allows, and the AI-call allowance, which refuses the quote (403) where it refuses the
/// request. A viewer, who may not request outputs, may not quote them either.
#[tokio::test]
async fn a_quote_follows_the_tier_and_the_permission_of_the_request() {
    let s = Stack::seeded()
        .await
        .with_models(Arc::new(KeysFor(&["openai"])));
    let admin = s.who(T, ADMIN);
    let editor = s.who(T, EDITOR);
    let viewer = s.who(T, VIEWER);
    for who in [&admin, &editor, &viewer] {
        s.get(who, "/me").await;
    }
    let (st, v) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/users/{VIEWER}"),
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let root = s.who_admin(T, ADMIN, true);
    // 100 micro-USD a credit; 20 credits a period and 30 more as overage; 3 AI calls.
    let tier = json!({"id": "dear", "name": "Dear", "price_micro_usd": 1_000_000, "monthly_credits": 20,
        "ai_calls_per_period": 3, "allowed_models": ["openai/gpt-4o-mini", "offline/extractive"], "features": {},
        "credit_rate": {"micro_usd_per_credit": 100},
        "overage": {"policy": "allow", "micro_usd_per_credit": 2000, "cap_credits": 30}, "active": true});
    s.subscribe(&root, &admin, EDITOR, &tier).await;
    let (_, t) = s.call(&editor, Method::POST, "/transcripts",
        Some(&json!({"title": "t", "type": "meeting", "content": "Ada: one two three four\nGrace: five six"}).to_string())).await;
    s.drain_uploads().await;
    let id = t["id"].as_str().unwrap();
    let quote = |types: &str, model: &str| {
        format!("/transcripts/{id}/outputs/quote?output_types={types}&model={model}")
    };
    let outputs = format!("/transcripts/{id}/outputs");
    let request = |types: &str, model: &str| {
        let types: Vec<&str> = types.split(',').collect();
        json!({"output_types": types, "model": model}).to_string()
    };
    let mini = "openai/gpt-4o-mini";

    // Priced at the tier's rate, against the balance and the overage.
    let (st, q) = s.get(&editor, &quote("one_pager,slides", mini)).await;
    assert_eq!(st, StatusCode::OK, "{q}");
    for line in q["items"].as_array().unwrap() {
        let cost = line["cost_micro_usd"].as_u64().unwrap();
        assert_eq!(line["credits"].as_u64(), Some(cost.div_ceil(100)), "{line}");
    }
    let total = q["total_credits"].as_u64().unwrap();
    assert!(
        (21..=50).contains(&total),
        "beyond the balance, within the overage: {q}"
    );
    assert_eq!(
        (q["available"].as_u64(), q["shortfall"].as_u64()),
        (Some(20 + 30), Some(0)),
        "{q}"
    );

    // A viewer may read the transcript but not request its outputs, nor quote them.
    let (st, p) = s.get(&viewer, &quote("one_pager,slides", mini)).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{p}");
    let (st, p) = s
        .call(
            &viewer,
            Method::POST,
            &outputs,
            Some(&request("one_pager,slides", mini)),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{p}");

    // The request reserves what the quote said, drawing on the overage.
    let (st, made) = s
        .call(
            &editor,
            Method::POST,
            &outputs,
            Some(&request("one_pager,slides", mini)),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{made}");
    for (line, output) in q["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(made["items"].as_array().unwrap())
    {
        assert_eq!(line["credits"], output["reserved_credits"], "{output}");
    }
    let (_, sub) = s.get(&editor, "/subscription").await;
    assert_eq!(
        (
            sub["calls_remaining"].as_i64(),
            sub["overage_remaining"].as_u64()
        ),
        (Some(1), Some(50 - total)),
        "{sub}"
    );
    // One AI call left, and too few credits for the first of two outputs: the request is
    // refused for its credits (402) before it finds the allowance short, so the quote answers
    // its shortfall.
    let (st, q) = s.get(&editor, &quote("bytes,anchors", mini)).await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert_eq!(q["available"].as_u64(), Some(50 - total), "{q}");
    assert!(
        q["items"][0]["credits"].as_u64() > q["available"].as_u64(),
        "{q}"
    );
    let (st, p) = s
        .call(
            &editor,
            Method::POST,
            &outputs,
            Some(&request("bytes,anchors", mini)),
        )
        .await;
    assert_eq!(st, StatusCode::PAYMENT_REQUIRED, "{p}");
    assert_eq!(
        (p["needed"].as_u64(), p["available"].as_u64()),
        (q["total_credits"].as_u64(), q["available"].as_u64()),
        "{p} / {q}"
    );

    // One AI call left: a quote of one output stands, a quote of two is refused as the
    // request is.
    let offline = "offline/extractive";
    let (st, q) = s.get(&editor, &quote("bytes", offline)).await;
    assert_eq!(
        (st, q["total_credits"].as_u64()),
        (StatusCode::OK, Some(0)),
        "{q}"
    );
    let (quoted, qp) = s.get(&editor, &quote("bytes,anchors", offline)).await;
    let (requested, rp) = s
        .call(
            &editor,
            Method::POST,
            &outputs,
            Some(&request("bytes,anchors", offline)),
        )
        .await;
    assert_eq!(
        (quoted, requested),
        (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
        "{qp} / {rp}"
    );
    assert_eq!(qp["detail"], rp["detail"]);
}
