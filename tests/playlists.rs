//! Playlists: CRUD, items of every output type with their metadata, the order (`playlist_order`),
//! limits, the tier that turns them on, teams, tenants, and changes at the same time.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{Stack, Who};
use recap_domain::records::{Query, Records};
use serde_json::{Value, json};

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const OTHER: &str = "9b2d6c1e-3f4a-4b5c-8d7e-0a1b2c3d4e5f";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";
const EDITOR: &str = "22222222-2222-4222-8222-222222222222";
const VIEWER: &str = "33333333-3333-4333-8333-333333333333";
const NEWCOMER: &str = "44444444-4444-4444-8444-444444444444";
const ROOT: &str = "55555555-5555-4555-8555-555555555555";
const GHOST: &str = "99999999-9999-4999-8999-999999999999";
const FREE_REFUSAL: &str =
    "forbidden: the Free tier does not include playlists; they come with the Pro or Team tier";

fn corpus(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/shared/transcript/tests/corpus/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Subscribes `who` (seen once first, so that it is a user of the tenant) to Pro.
async fn on_pro(s: &Stack, admin: &Who, who: &Who) {
    s.get(who, "/me").await;
    let (st, sub) = s
        .call(
            admin,
            Method::PUT,
            &format!("/subscriptions/{}", who.user),
            Some(r#"{"tier":"pro"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sub}");
}

/// The first user of `tenant` (its admin), on Pro.
async fn pro_admin(s: &Stack, tenant: &str, user: &str) -> Who {
    let who = s.who(tenant, user);
    assert_eq!(s.get(&who, "/me").await.1["role"], "admin");
    on_pro(s, &who, &who).await;
    who
}

/// Outputs of a real transcript (a Deepgram call), made offline: `(id, output type)` each.
async fn outputs(s: &Stack, who: &Who, types: &[&str]) -> Vec<(String, String)> {
    let (st, t) = s
        .call(who, Method::POST, "/transcripts",
              Some(&json!({"title": "Deepgram call", "type": "meeting", "content": corpus("vendor-json/dg_speakers.json"), "file_name": "call.json"}).to_string()))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    s.drain_uploads().await;
    let tr = t["id"].as_str().unwrap();
    let (st, queued) = s
        .call(
            who,
            Method::POST,
            &format!("/transcripts/{tr}/outputs"),
            Some(&json!({ "output_types": types }).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(s.drain_jobs().await, types.len());
    queued["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_string(),
                o["output_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn new_playlist(s: &Stack, who: &Who, name: &str) -> String {
    let (st, p) = s
        .call(
            who,
            Method::POST,
            "/playlists",
            Some(&json!({ "name": name }).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    p["id"].as_str().unwrap().to_string()
}

async fn add(s: &Stack, who: &Who, playlist: &str, body: Value) -> (StatusCode, Value) {
    s.call(
        who,
        Method::POST,
        &format!("/playlists/{playlist}/items"),
        Some(&body.to_string()),
    )
    .await
}

/// Adds an output and answers the new item's id.
async fn add_ok(s: &Stack, who: &Who, playlist: &str, output: &str) -> String {
    let (st, item) = add(s, who, playlist, json!({ "output_id": output })).await;
    assert_eq!(st, StatusCode::CREATED, "{item}");
    item["id"].as_str().unwrap().to_string()
}

fn item_ids(view: &Value) -> Vec<String> {
    view["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {view}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn read(s: &Stack, who: &Who, playlist: &str) -> Value {
    let (st, view) = s.get(who, &format!("/playlists/{playlist}")).await;
    assert_eq!(st, StatusCode::OK, "{view}");
    view
}

/// Every record left in a playlist's partition.
async fn stored(s: &Stack, tenant: &str, playlist: &str) -> usize {
    s.store
        .records()
        .query(Query::partition(format!("{tenant}#PLAYLIST#{playlist}")).limit(1000))
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test]
async fn playlists_hold_items_of_every_output_type_with_their_metadata() {
    let s = Stack::seeded().await;
    let admin = pro_admin(&s, T, ADMIN).await;
    let outs = outputs(&s, &admin, &["one_pager", "slides", "bytes", "anchors"]).await;

    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            "/playlists",
            Some(r#"{"name":"  Best of Q3  ","description":"For the all-hands"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["name"], "Best of Q3", "names are trimmed");
    assert_eq!(p["description"], "For the all-hands");
    assert_eq!(p["owner"], ADMIN);
    assert_eq!(
        (p["item_count"].as_u64(), &p["items"]),
        (Some(0), &json!([]))
    );
    let id = p["id"].as_str().unwrap().to_string();

    let mut added = Vec::new();
    for (i, (out, kind)) in outs.iter().enumerate() {
        let (st, item) = add(
            &s,
            &admin,
            &id,
            json!({"output_id": out, "metadata": {"note": format!("part {i}"), "start_ms": i * 1000}}),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{item}");
        assert_eq!(item["output"], out.as_str());
        assert_eq!(item["output_type"], kind.as_str());
        assert_eq!(item["playlist"], id.as_str());
        assert_eq!(item["added_by"], ADMIN);
        assert_eq!(
            item["metadata"],
            json!({"note": format!("part {i}"), "start_ms": i * 1000})
        );
        added.push(item["id"].as_str().unwrap().to_string());
    }
    let full = read(&s, &admin, &id).await;
    assert_eq!(item_ids(&full), added, "items in the order they were added");
    assert_eq!(full["item_count"], 4);
    let kinds: Vec<&str> = full["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["output_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["one_pager", "slides", "bytes", "anchors"]);
    assert_eq!(full["items"][3]["metadata"]["start_ms"], 3000);

    // The same output again, first, without metadata: another item, with `{}`.
    let (st, bare) = add(
        &s,
        &admin,
        &id,
        json!({"output_id": outs[0].0, "position": 0}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{bare}");
    assert_eq!(bare["metadata"], json!({}));
    let bare = bare["id"].as_str().unwrap().to_string();
    let full = read(&s, &admin, &id).await;
    assert_eq!(item_ids(&full)[0], bare);
    assert_eq!(full["item_count"], 5);

    // Lists count items, they do not carry them.
    let (st, list) = s.get(&admin, "/playlists").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["item_count"], 5);
    assert!(list["items"][0].get("items").is_none(), "{list}");

    // An item's metadata is replaced whole.
    let (st, item) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/playlists/{id}/items/{}", added[1]),
            Some(r#"{"metadata":{"note":"the best bit","tags":["q3","demo"]}}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{item}");
    assert_eq!(
        item["metadata"],
        json!({"note": "the best bit", "tags": ["q3", "demo"]})
    );
    let full = read(&s, &admin, &id).await;
    assert_eq!(full["items"][2]["id"], added[1].as_str());
    assert_eq!(full["items"][2]["metadata"]["tags"], json!(["q3", "demo"]));
    assert!(full["items"][2]["metadata"].get("start_ms").is_none());

    let (st, renamed) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/playlists/{id}"),
            Some(r#"{"name":"Best of Q3 (final)"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Best of Q3 (final)");
    assert_eq!(renamed["description"], "For the all-hands");
    assert_eq!(
        item_ids(&renamed),
        item_ids(&full),
        "renaming keeps the items"
    );

    // Removing an item, then the playlist.
    let item = format!("/playlists/{id}/items/{}", added[0]);
    assert_eq!(
        s.call(&admin, Method::DELETE, &item, None).await.0,
        StatusCode::NO_CONTENT
    );
    let full = read(&s, &admin, &id).await;
    assert!(!item_ids(&full).contains(&added[0]));
    assert_eq!(full["item_count"], 4);
    let (st, p) = s.call(&admin, Method::DELETE, &item, None).await;
    assert_eq!(
        (st, p["detail"].as_str()),
        (StatusCode::NOT_FOUND, Some("playlist item not found"))
    );
    assert_eq!(stored(&s, T, &id).await, 5, "the header and four items");
    let path = format!("/playlists/{id}");
    assert_eq!(
        s.call(&admin, Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.get(&admin, &path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        s.call(&admin, Method::DELETE, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.get(&admin, "/playlists").await.1["items"], json!([]));
    assert_eq!(stored(&s, T, &id).await, 0, "nothing of it is left");
    // The outputs are not the playlist's to delete.
    for (out, _) in &outs {
        assert_eq!(
            s.get(&admin, &format!("/outputs/{out}")).await.0,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn playlist_order() {
    let s = Stack::seeded().await;
    let admin = pro_admin(&s, T, ADMIN).await;
    let outs = outputs(&s, &admin, &["one_pager", "slides", "bytes", "anchors"]).await;
    let id = new_playlist(&s, &admin, "Order").await;
    for (out, _) in &outs {
        add_ok(&s, &admin, &id, out).await;
    }
    let ids = item_ids(&read(&s, &admin, &id).await);
    let order = format!("/playlists/{id}/order");

    // Reversed: the answer and every later read have the new order, items with their outputs.
    let reversed: Vec<String> = ids.iter().rev().cloned().collect();
    let (st, view) = s
        .call(
            &admin,
            Method::PUT,
            &order,
            Some(&json!({ "item_ids": reversed }).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{view}");
    assert_eq!(item_ids(&view), reversed);
    for _ in 0..2 {
        let full = read(&s, &admin, &id).await;
        assert_eq!(item_ids(&full), reversed, "stable across reads");
        assert_eq!(full["items"][0]["output_type"], "anchors");
        assert_eq!(full["items"][3]["output_type"], "one_pager");
    }
    // A moved middle, then a new item: it goes at the end of the order as it now is.
    let moved = vec![
        reversed[2].clone(),
        reversed[0].clone(),
        reversed[3].clone(),
        reversed[1].clone(),
    ];
    let (st, _) = s
        .call(
            &admin,
            Method::PUT,
            &order,
            Some(&json!({ "item_ids": moved }).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let new = add_ok(&s, &admin, &id, &outs[1].0).await;
    let current = item_ids(&read(&s, &admin, &id).await);
    assert_eq!(current[..4], moved[..]);
    assert_eq!(current[4], new);

    // Anything but a permutation of the items is refused, and changes nothing.
    let other = new_playlist(&s, &admin, "Other").await;
    let foreign = add_ok(&s, &admin, &other, &outs[0].0).await;
    let before = read(&s, &admin, &id).await;
    let mut twice = current.clone();
    twice[4] = current[0].clone();
    let mut with_foreign = current.clone();
    with_foreign[4] = foreign.clone();
    let mut extra = current.clone();
    extra.push(GHOST.to_string());
    for (body, says) in [
        (json!({"item_ids": current[..4]}), "missing: "),
        (json!({"item_ids": extra}), "not in the playlist: "),
        (json!({"item_ids": with_foreign}), "not in the playlist: "),
        (json!({"item_ids": twice}), "named twice: "),
        (json!({"item_ids": []}), "missing: "),
        (
            json!({"item_ids": ["first", "second"]}),
            "is not an item id",
        ),
        (json!({}), "is required"),
        (json!({"item_ids": null}), "is required"),
    ] {
        let (st, p) = s
            .call(&admin, Method::PUT, &order, Some(&body.to_string()))
            .await;
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("item_ids")),
            "{body}: {p}"
        );
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{body}: {detail}");
        assert_eq!(read(&s, &admin, &id).await, before, "{body} changed it");
    }
    let (st, p) = s
        .call(&admin, Method::PUT, &order, Some(r#"{"item_ids":"all"}"#))
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body"))
    );
    assert_eq!(
        item_ids(&read(&s, &admin, &other).await),
        [foreign],
        "the other playlist is untouched"
    );
    // A removed item leaves the order; the rest keep theirs.
    let (st, _) = s
        .call(
            &admin,
            Method::DELETE,
            &format!("/playlists/{id}/items/{}", current[1]),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let left: Vec<String> = current
        .iter()
        .filter(|i| **i != current[1])
        .cloned()
        .collect();
    assert_eq!(item_ids(&read(&s, &admin, &id).await), left);
}

#[tokio::test]
async fn another_tenants_playlists_items_and_outputs_are_not_found() {
    let s = Stack::seeded().await;
    let a = pro_admin(&s, T, ADMIN).await;
    let b = pro_admin(&s, OTHER, ADMIN).await;
    let a_out = outputs(&s, &a, &["bytes"]).await.remove(0).0;
    let b_out = outputs(&s, &b, &["bytes"]).await.remove(0).0;
    let a_list = new_playlist(&s, &a, "A's secret picks").await;
    let a_item = add_ok(&s, &a, &a_list, &a_out).await;
    let b_list = new_playlist(&s, &b, "B's picks").await;
    let b_item = add_ok(&s, &b, &b_list, &b_out).await;
    let a_before = read(&s, &a, &a_list).await;
    let b_before = read(&s, &b, &b_list).await;

    let item_body = json!({ "output_id": b_out }).to_string();
    let order_body = json!({ "item_ids": [a_item] }).to_string();
    for (method, path, body) in [
        (Method::GET, format!("/playlists/{a_list}"), None),
        (
            Method::PATCH,
            format!("/playlists/{a_list}"),
            Some(r#"{"name":"Mine now"}"#),
        ),
        (Method::DELETE, format!("/playlists/{a_list}"), None),
        (
            Method::POST,
            format!("/playlists/{a_list}/items"),
            Some(item_body.as_str()),
        ),
        (
            Method::PATCH,
            format!("/playlists/{a_list}/items/{a_item}"),
            Some(r#"{"metadata":{}}"#),
        ),
        (
            Method::DELETE,
            format!("/playlists/{a_list}/items/{a_item}"),
            None,
        ),
        (
            Method::PUT,
            format!("/playlists/{a_list}/order"),
            Some(order_body.as_str()),
        ),
        // A's item under B's own playlist.
        (
            Method::PATCH,
            format!("/playlists/{b_list}/items/{a_item}"),
            Some(r#"{"metadata":{}}"#),
        ),
        (
            Method::DELETE,
            format!("/playlists/{b_list}/items/{a_item}"),
            None,
        ),
    ] {
        let (st, p) = s.call(&b, method.clone(), &path, body).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {p}");
        assert_eq!(p["type"], "https://recap.dev/problems/not-found");
        assert!(!p.to_string().contains("secret"), "{p}");
    }
    // A's output in B's playlist: not found, and B's playlist is as it was.
    let (st, p) = add(&s, &b, &b_list, json!({ "output_id": a_out })).await;
    assert_eq!(
        (st, p["detail"].as_str()),
        (StatusCode::NOT_FOUND, Some("output not found"))
    );
    let (st, p) = s
        .call(
            &b,
            Method::PUT,
            &format!("/playlists/{b_list}/order"),
            Some(&json!({ "item_ids": [b_item, a_item] }).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(read(&s, &b, &b_list).await, b_before);
    assert_eq!(read(&s, &a, &a_list).await, a_before);
    let (_, list) = s.get(&b, "/playlists").await;
    assert_eq!(item_ids(&list), [b_list.as_str()]);
    assert!(!list.to_string().contains(&a_list));
}

#[tokio::test]
async fn the_free_tier_has_no_playlists() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    s.get(&admin, "/me").await;
    let out = outputs(&s, &admin, &["bytes"]).await.remove(0).0;
    // No subscription: the free tier.
    for (method, path, body) in [
        (Method::GET, "/playlists".to_string(), None),
        (
            Method::POST,
            "/playlists".into(),
            Some(r#"{"name":"Mine"}"#),
        ),
        (Method::GET, format!("/playlists/{GHOST}"), None),
        (
            Method::PUT,
            format!("/playlists/{GHOST}/order"),
            Some(r#"{"item_ids":[]}"#),
        ),
    ] {
        let (st, p) = s.call(&admin, method.clone(), &path, body).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}: {p}");
        assert_eq!(p["type"], "https://recap.dev/problems/forbidden");
        assert_eq!(p["detail"], FREE_REFUSAL);
    }
    // Subscribed to Free: the same.
    let editor = s.who(T, EDITOR);
    s.get(&editor, "/me").await;
    let (st, _) = s
        .call(
            &admin,
            Method::PUT,
            &format!("/subscriptions/{EDITOR}"),
            Some(r#"{"tier":"free"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, p) = s
        .call(&editor, Method::POST, "/playlists", Some(r#"{"name":"x"}"#))
        .await;
    assert_eq!(
        (st, p["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some(FREE_REFUSAL))
    );

    // On Pro, the same caller makes one; moving down to Free closes it again.
    on_pro(&s, &admin, &admin).await;
    let id = new_playlist(&s, &admin, "Mine").await;
    add_ok(&s, &admin, &id, &out).await;
    let (st, sub) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/subscriptions/{ADMIN}"),
            Some(r#"{"tier":"free","when":"now"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{sub}");
    let (st, p) = s.get(&admin, &format!("/playlists/{id}")).await;
    assert_eq!(
        (st, p["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some(FREE_REFUSAL))
    );

    // A platform admin turns playlists on for the free tier: callers without a subscription
    // have them at once (a subscription keeps its tier's terms until its next period).
    let root = s.who_admin(T, ROOT, true);
    let mut free: Value = serde_json::from_str(
        r#"{"id":"free","name":"Free","price_micro_usd":0,"monthly_credits":200,"ai_calls_per_period":50,"allowed_models":["offline/extractive","openai/gpt-4o-mini","google/gemini-2.5-flash"],"features":{"playlists":true},"credit_rate":{"micro_usd_per_credit":1000},"overage":{"policy":"block"},"active":true}"#,
    )
    .unwrap();
    let (st, t) = s
        .call(&root, Method::PUT, "/tiers/free", Some(&free.to_string()))
        .await;
    assert_eq!(st, StatusCode::OK, "{t}");
    let newcomer = s.who(T, NEWCOMER);
    s.get(&newcomer, "/me").await;
    let (st, p) = s
        .call(
            &newcomer,
            Method::POST,
            "/playlists",
            Some(r#"{"name":"Free picks"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let (st, _) = s
        .call(&editor, Method::POST, "/playlists", Some(r#"{"name":"x"}"#))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    free["features"]["playlists"] = json!(false);
    s.call(&root, Method::PUT, "/tiers/free", Some(&free.to_string()))
        .await;
    let (st, p) = s.get(&newcomer, "/playlists").await;
    assert_eq!(
        (st, p["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some(FREE_REFUSAL))
    );
}

#[tokio::test]
async fn limits_and_bad_input_are_clear_400s_that_change_nothing() {
    let s = Stack::seeded().await;
    let admin = pro_admin(&s, T, ADMIN).await;
    let outs = outputs(&s, &admin, &["bytes", "anchors"]).await;
    let out = outs[0].0.clone();

    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (
            json!({"name": "x", "description": "d".repeat(2001)}),
            "description",
        ),
        (json!({"name": "x", "colour": "red"}), "body"),
        (json!({"name": "x", "team": "sales"}), "team"),
        (json!({"name": "x", "team": GHOST}), "team"),
    ] {
        let (st, p) = s
            .call(&admin, Method::POST, "/playlists", Some(&body.to_string()))
            .await;
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}: {p}"
        );
    }
    let (st, p) = s
        .call(&admin, Method::POST, "/playlists", Some(r#"{"name":"#))
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body"))
    );
    assert_eq!(
        s.get(&admin, "/playlists").await.1["items"],
        json!([]),
        "no playlist was made"
    );
    let longest = "é".repeat(200);
    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            "/playlists",
            Some(&json!({ "name": longest }).to_string()),
        )
        .await;
    assert_eq!(
        (st, p["name"].as_str()),
        (StatusCode::CREATED, Some(longest.as_str()))
    );
    let id = p["id"].as_str().unwrap().to_string();
    let (st, p) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/playlists/{id}"),
            Some(r#"{"name":""}"#),
        )
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("name"))
    );

    // Metadata: a JSON object of at most 4 KiB.
    let pad = 4096 - r#"{"n":""}"#.len();
    let (st, fits) = add(
        &s,
        &admin,
        &id,
        json!({"output_id": out, "metadata": {"n": "x".repeat(pad)}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{fits}");
    let fits = fits["id"].as_str().unwrap().to_string();
    for (body, field, says) in [
        (
            json!({"output_id": out, "metadata": {"n": "x".repeat(pad + 1)}}),
            "metadata",
            "4097 bytes",
        ),
        (
            json!({"output_id": out, "metadata": [1, 2]}),
            "metadata",
            "JSON object",
        ),
        (
            json!({"output_id": out, "metadata": "note"}),
            "metadata",
            "JSON object",
        ),
        (json!({"metadata": {}}), "output_id", "required"),
        (json!({"output_id": "nope"}), "output_id", "UUID"),
        (
            json!({"output_id": out, "position": 2}),
            "position",
            "between 0 and 1",
        ),
        (json!({"output_id": out, "position": -1}), "body", ""),
        (json!({"output_id": out, "note": "x"}), "body", "note"),
    ] {
        let (st, p) = add(&s, &admin, &id, body.clone()).await;
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}: {p}"
        );
        assert!(p["detail"].as_str().unwrap().contains(says), "{p}");
    }
    let item = format!("/playlists/{id}/items/{fits}");
    for body in [r#"{}"#, r#"{"metadata":null}"#, r#"{"metadata":[]}"#] {
        let (st, p) = s.call(&admin, Method::PATCH, &item, Some(body)).await;
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("metadata")),
            "{body}: {p}"
        );
    }
    // An output that is not there (never was, or was deleted) is not found.
    let (st, p) = add(&s, &admin, &id, json!({ "output_id": GHOST })).await;
    assert_eq!(
        (st, p["detail"].as_str()),
        (StatusCode::NOT_FOUND, Some("output not found"))
    );
    let gone = &outs[1].0;
    let (st, _) = s
        .call(&admin, Method::DELETE, &format!("/outputs/{gone}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = add(&s, &admin, &id, json!({ "output_id": gone })).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Ids that are not ids are not found, as another tenant's would be.
    assert_eq!(
        s.get(&admin, "/playlists/not-an-id").await.0,
        StatusCode::NOT_FOUND
    );
    let (st, _) = s
        .call(
            &admin,
            Method::DELETE,
            &format!("/playlists/{id}/items/nope"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let full = read(&s, &admin, &id).await;
    assert_eq!(
        item_ids(&full),
        [fits.as_str()],
        "only the item that fit was added"
    );
    assert_eq!(
        full["items"][0]["metadata"]["n"].as_str().unwrap().len(),
        pad
    );
}

#[tokio::test]
async fn a_playlist_holds_at_most_500_items_reorders_them_all_and_deletes_whole() {
    let s = Stack::seeded().await;
    let admin = pro_admin(&s, T, ADMIN).await;
    let out = outputs(&s, &admin, &["bytes"]).await.remove(0).0;
    let id = new_playlist(&s, &admin, "Everything").await;
    for i in 0..500 {
        let (st, item) = add(
            &s,
            &admin,
            &id,
            json!({"output_id": out, "metadata": {"n": i}}),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "item {i}: {item}");
    }
    let (st, p) = add(&s, &admin, &id, json!({ "output_id": out })).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("500 items"), "{p}");
    let full = read(&s, &admin, &id).await;
    assert_eq!(full["item_count"], 500);
    let ids = item_ids(&full);
    assert_eq!(ids.len(), 500);
    assert_eq!(full["items"][499]["metadata"]["n"], 499);

    let reversed: Vec<String> = ids.iter().rev().cloned().collect();
    let (st, view) = s
        .call(
            &admin,
            Method::PUT,
            &format!("/playlists/{id}/order"),
            Some(&json!({ "item_ids": reversed }).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{}", view["detail"]);
    let full = read(&s, &admin, &id).await;
    assert_eq!(item_ids(&full), reversed);
    assert_eq!(full["items"][0]["metadata"]["n"], 499);

    // More items than one transaction holds: still all gone, the header last.
    assert_eq!(stored(&s, T, &id).await, 501);
    let (st, _) = s
        .call(&admin, Method::DELETE, &format!("/playlists/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&admin, &format!("/playlists/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(stored(&s, T, &id).await, 0);
    assert_eq!(s.get(&admin, "/playlists").await.1["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_added_at_the_same_time_are_all_kept() {
    let s = Arc::new(Stack::seeded().await);
    let admin = pro_admin(&s, T, ADMIN).await;
    let out = outputs(&s, &admin, &["bytes"]).await.remove(0).0;
    let id = new_playlist(&s, &admin, "Busy").await;
    let adds = (0..8).map(|i| {
        let (s, admin, id, out) = (s.clone(), admin.clone(), id.clone(), out.clone());
        tokio::spawn(async move {
            add(
                &s,
                &admin,
                &id,
                json!({"output_id": out, "metadata": {"n": i}}),
            )
            .await
        })
    });
    let mut made = Vec::new();
    for done in futures::future::join_all(adds).await {
        let (st, item) = done.unwrap();
        assert_eq!(st, StatusCode::CREATED, "{item}");
        made.push(item["id"].as_str().unwrap().to_string());
    }
    let mut kept = item_ids(&read(&s, &admin, &id).await);
    kept.sort();
    made.sort();
    assert_eq!(kept, made, "no add lost another");
}

#[tokio::test]
async fn a_team_playlist_counts_team_roles() {
    let s = Stack::seeded().await;
    let admin = pro_admin(&s, T, ADMIN).await;
    let out = outputs(&s, &admin, &["bytes"]).await.remove(0).0;
    let viewer = s.who(T, VIEWER);
    on_pro(&s, &admin, &viewer).await;
    let (st, _) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/users/{VIEWER}"),
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, team) = s
        .call(&admin, Method::POST, "/teams", Some(r#"{"name":"Sales"}"#))
        .await;
    let team = team["id"].as_str().unwrap().to_string();
    let (st, _) = s
        .call(
            &admin,
            Method::PUT,
            &format!("/teams/{team}/members/{VIEWER}"),
            Some(r#"{"role":"editor"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // A viewer of the tenant who edits in Sales: Sales playlists yes, the tenant's no.
    let (st, p) = s
        .call(
            &viewer,
            Method::POST,
            "/playlists",
            Some(&json!({"name": "Sales picks", "team": team}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["team"], team.as_str());
    let sales = p["id"].as_str().unwrap().to_string();
    add_ok(&s, &viewer, &sales, &out).await;
    let (st, p) = s
        .call(
            &viewer,
            Method::POST,
            "/playlists",
            Some(r#"{"name":"Tenant picks"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{p}");
    let tenant_wide = new_playlist(&s, &admin, "Tenant picks").await;
    let (st, p) = add(&s, &viewer, &tenant_wide, json!({ "output_id": out })).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("playlists:write"),
        "{p}"
    );
    // Reading is the viewer's everywhere.
    let (_, list) = s.get(&viewer, "/playlists").await;
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Sales picks", "Tenant picks"]);
    assert_eq!(read(&s, &viewer, &sales).await["item_count"], 1);
}
