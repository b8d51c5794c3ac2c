//! Generation: every output type from a real transcript with the offline provider, citations
//! checked against the transcript, a fake priced model that is charged once, lies, or answers
//! off-schema.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::{Stack, Who};
use recap_domain::generation::{self, ModelRegistry, Processed};
use recap_domain::models::{ModelAnswer, ModelError, ModelRequest, Models};
use recap_domain::money::Usage;
use serde_json::{Value, json};

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";

fn corpus(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/shared/transcript/tests/corpus/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A ready transcript of a real Deepgram call (3 speakers, 22 utterances).
async fn ready_transcript(s: &Stack, who: &Who) -> String {
    let (st, t) = s
        .call(who, Method::POST, "/transcripts",
              Some(&json!({"title": "Deepgram call", "type": "meeting", "content": corpus("vendor-json/dg_speakers.json"), "file_name": "call.json"}).to_string()))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    s.drain_uploads().await;
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(who, &format!("/transcripts/{id}")).await.1["status"],
        "ready"
    );
    id
}

#[tokio::test]
async fn a_transcript_yields_all_four_outputs_offline_with_verified_quotes() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let id = ready_transcript(&s, &admin).await;
    let (st, queued) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["one_pager","slides","bytes","anchors"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["items"].as_array().unwrap().len(), 4);
    assert!(
        queued["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "queued" && o["provider"] == "offline")
    );
    assert_eq!(s.drain_jobs().await, 4);
    let (_, list) = s.get(&admin, &format!("/transcripts/{id}/outputs")).await;
    let outputs = list["items"].as_array().unwrap();
    assert_eq!(outputs.len(), 4);
    for o in outputs {
        assert_eq!(o["status"], "done", "{o}");
        assert_eq!(o["cost_credits"], 0, "the offline provider is free");
        assert!(o["verified_quotes"].as_u64().unwrap() > 0, "{o}");
        assert_eq!(
            o["dropped_quotes"], 0,
            "offline quotes are copied from the transcript: {o}"
        );
        let (st, full) = s
            .get(&admin, &format!("/outputs/{}", o["id"].as_str().unwrap()))
            .await;
        assert_eq!(st, StatusCode::OK);
        let names: Vec<&str> = full["rendered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        let want: &[&str] = match o["output_type"].as_str().unwrap() {
            "one_pager" => &["output.md", "output.html", "result.json"],
            "slides" => &["slides.marp.md", "output.html", "result.json"],
            "bytes" => &["bytes.json", "output.md", "result.json"],
            _ => &["chapters.txt", "chapters.vtt", "result.json"],
        };
        assert_eq!(names, want);
        let result: Value = serde_json::from_str(
            full["rendered"].as_array().unwrap().last().unwrap()["content"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        // Every cited item carries the time the code found for it, never the model.
        let text = result.to_string();
        assert!(text.contains("\"start_ms\""), "{text}");
    }
    let anchors = outputs
        .iter()
        .find(|o| o["output_type"] == "anchors")
        .unwrap();
    let chapters = anchors["youtube_chapters"].as_str().unwrap();
    let times: Vec<&str> = chapters
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(times[0], "0:00");
    assert!(times.len() >= 3, "{chapters}");
    let secs: Vec<u64> = times
        .iter()
        .map(|t| {
            t.split(':')
                .fold(0, |a, p| a * 60 + p.parse::<u64>().unwrap())
        })
        .collect();
    assert!(secs.windows(2).all(|w| w[1] >= w[0] + 10), "{chapters}");
    let one = outputs
        .iter()
        .find(|o| o["output_type"] == "one_pager")
        .unwrap();
    let (_, full) = s
        .get(&admin, &format!("/outputs/{}", one["id"].as_str().unwrap()))
        .await;
    let md = full["rendered"][0]["content"].as_str().unwrap();
    assert!(
        md.starts_with("# Deepgram call") && md.contains("## Key points"),
        "{md}"
    );
    // Another tenant sees none of it.
    let other = s.who("9b2d6c1e-3f4a-4b5c-8d7e-0a1b2c3d4e5f", ADMIN);
    assert_eq!(
        s.get(&other, &format!("/outputs/{}", one["id"].as_str().unwrap()))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.get(&other, "/outputs").await.1["items"], json!([]));
}

/// A fake provider: answers from a script, counts its calls, bills like a real one.
struct Fake {
    answers: Mutex<Vec<String>>,
    calls: Mutex<u32>,
}

#[async_trait]
impl Models for Fake {
    async fn call(&self, _: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        *self.calls.lock().unwrap() += 1;
        let mut a = self.answers.lock().unwrap();
        let text = if a.len() > 1 {
            a.remove(0)
        } else {
            a[0].clone()
        };
        Ok(ModelAnswer {
            text,
            usage: Usage {
                uncached_input: 2_000,
                output: 500,
                ..Usage::default()
            },
            model: "gpt-4o-mini".into(),
        })
    }
}

struct Registry(Arc<Fake>);

impl ModelRegistry for Registry {
    fn models(&self, provider: &str) -> Option<Arc<dyn Models>> {
        (provider == "openai").then(|| self.0.clone() as Arc<dyn Models>)
    }
}

async fn with_fake(answers: Vec<Value>) -> (Stack, Arc<Fake>, Who, String) {
    let fake = Arc::new(Fake {
        answers: Mutex::new(answers.iter().map(Value::to_string).collect()),
        calls: Mutex::new(0),
    });
    let s = Stack::seeded()
        .await
        .with_models(Arc::new(Registry(fake.clone())));
    let admin = s.who(T, ADMIN);
    let id = ready_transcript(&s, &admin).await;
    s.call_with(
        &admin,
        Method::POST,
        "/credits/purchases",
        Some(&json!({"user_id": ADMIN, "credits": 100, "amount_micro_usd": 100_000}).to_string()),
        &[("idempotency-key", "k")],
    )
    .await;
    (s, fake, admin, id)
}

async fn request_bytes(s: &Stack, admin: &Who, id: &str) -> Value {
    let (st, q) = s
        .call(
            admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["bytes"],"model":"openai/gpt-4o-mini"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{q}");
    q["items"][0].clone()
}

#[tokio::test]
async fn duplicate_delivery_once() {
    // s0002 of dg_speakers.json says "Jessica, Christina, we are so proud of you."
    let answer = json!({"bytes": [{"text": "Pride", "quote": "we are so proud of you", "segments": ["s0002"]}]});
    let (s, fake, admin, id) = with_fake(vec![answer]).await;
    let queued = request_bytes(&s, &admin, &id).await;
    let reserved = queued["reserved_credits"].as_u64().unwrap();
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 100 - reserved, "reserved": reserved, "used": 0})
    );
    let body = json!({"tenant": T, "output": queued["id"]}).to_string();
    // The same message twice at once, then once more.
    let (a, b) = tokio::join!(
        generation::process(s.generation(), &body, false),
        generation::process(s.generation(), &body, false)
    );
    let outcomes = [a, b];
    // One does the work; the other finds it finished, or busy (and would come back later).
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Processed::Done(_))))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(matches!(
        generation::process(s.generation(), &body, false)
            .await
            .unwrap(),
        Processed::AlreadyFinished(_)
    ));
    // gpt-4o-mini: 2,000 × $0.15/M + 500 × $0.60/M = 600 micro-USD: 1 credit, once.
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 99, "reserved": 0, "used": 1})
    );
    assert_eq!(s.get(&admin, "/usage").await.1["calls"], 1);
    let (_, o) = s
        .get(
            &admin,
            &format!("/outputs/{}", queued["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        (
            o["status"].as_str(),
            o["verified_quotes"].as_u64(),
            o["cost_credits"].as_u64()
        ),
        (Some("done"), Some(1), Some(1))
    );
    assert!(*fake.calls.lock().unwrap() <= 2);
}

#[tokio::test]
async fn invented_quotes_are_all_dropped() {
    let lies = json!({"bytes": [
        {"text": "A", "quote": "we will triple revenue by Friday", "segments": ["s0002"]},
        {"text": "B", "quote": "so proud of you", "segments": ["s9999"]},
        {"text": "C", "quote": "the budget is approved", "segments": ["s0003"]},
    ]});
    let (s, _, admin, id) = with_fake(vec![lies]).await;
    let queued = request_bytes(&s, &admin, &id).await;
    s.drain_jobs().await;
    let (_, o) = s
        .get(
            &admin,
            &format!("/outputs/{}", queued["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        (
            o["status"].as_str(),
            o["verified_quotes"].as_u64(),
            o["dropped_quotes"].as_u64()
        ),
        (Some("done"), Some(0), Some(3)),
        "{o}"
    );
    let result = o["rendered"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "result.json")
        .unwrap();
    assert!(
        result["content"]
            .as_str()
            .unwrap()
            .contains("\"bytes\": []")
    );
}

#[tokio::test]
async fn an_answer_off_the_schema_is_repaired_once_then_fails_and_releases() {
    let good =
        json!({"bytes": [{"text": "Pride", "quote": "so proud of you", "segments": ["s0002"]}]});
    let (s, fake, admin, id) = with_fake(vec![json!({"wrong": true}), good]).await;
    let queued = request_bytes(&s, &admin, &id).await;
    s.drain_jobs().await;
    let (_, o) = s
        .get(
            &admin,
            &format!("/outputs/{}", queued["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(o["status"], "done", "repaired: {o}");
    assert_eq!(*fake.calls.lock().unwrap(), 2);

    let (s, _, admin, id) = with_fake(vec![json!({"wrong": true})]).await;
    let queued = request_bytes(&s, &admin, &id).await;
    s.drain_jobs().await;
    let (_, o) = s
        .get(
            &admin,
            &format!("/outputs/{}", queued["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(o["status"], "failed");
    assert!(
        o["failure"].as_str().unwrap().contains("after one repair"),
        "{o}"
    );
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 100, "reserved": 0, "used": 0}),
        "released"
    );
}

#[tokio::test]
async fn outputs_need_credits_and_a_ready_transcript() {
    // Without an OpenAI key, an OpenAI model is refused before anything is reserved.
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let id = ready_transcript(&s, &admin).await;
    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["one_pager"],"model":"openai/gpt-4o"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("no key is configured for openai"),
        "{p}"
    );
    // With one, the credits must cover every output of the request.
    let (s, _, admin, id) = with_fake(vec![json!({})]).await;
    let (_, balance) = s.get(&admin, "/credits").await;
    let spend = balance["available"].as_u64().unwrap();
    s.call_with(
        &admin,
        Method::POST,
        "/credits/refunds",
        Some(&json!({"user_id": ADMIN, "credits": spend, "amount_micro_usd": 0}).to_string()),
        &[("idempotency-key", "all")],
    )
    .await;
    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["one_pager","slides"],"model":"openai/gpt-4o"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::PAYMENT_REQUIRED, "{p}");
    assert!(p["shortfall"].as_u64().unwrap() > 0);
    assert_eq!(
        s.get(&admin, "/credits").await.1["reserved"],
        0,
        "nothing half-reserved"
    );
    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["poem"]}"#),
        )
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("output_types"))
    );
    let (_, pending) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            Some(r#"{"title":"x","type":"meeting","size_bytes":10}"#),
        )
        .await;
    let (st, _) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{}/outputs", pending["id"].as_str().unwrap()),
            Some(r#"{"output_types":["bytes"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
}
