//! Model choice: preferences, constraints, the fallback chain, map-reduce over a transcript
//! longer than the model's window, and regeneration.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::{Stack, Who};
use recap_domain::generation::ModelRegistry;
use recap_domain::models::{ModelAnswer, ModelError, ModelRequest, Models};
use recap_domain::money::Usage;
use serde_json::{Value, json};

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";
const EDITOR: &str = "22222222-2222-4222-8222-222222222222";
const PLATFORM: &str = "99999999-9999-4999-8999-999999999999";

/// A model that answers from what it is shown: notes on a chunk (its first line's words), and
/// an output from the notes or the transcript (the first line's id and words). Or it fails.
struct Echo {
    fail: Option<ModelError>,
    requests: Mutex<Vec<ModelRequest>>,
}

/// `[s0001 00:00] Name: text` or `[s0001 s0002] note — "quote"`: the first id and the words.
fn first_line(prefix: &str) -> (String, String) {
    let line = prefix.lines().next().unwrap_or_default();
    let id = line
        .trim_start_matches('[')
        .split([' ', ']'])
        .next()
        .unwrap_or_default()
        .to_string();
    let text = match line.split_once('"') {
        Some((_, q)) => q.trim_end_matches('"').to_string(),
        None => line.split_once(": ").map(|x| x.1).unwrap_or("").to_string(),
    };
    let words: Vec<&str> = text.split_whitespace().take(4).collect();
    (id, words.join(" "))
}

#[async_trait]
impl Models for Echo {
    async fn call(&self, r: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        self.requests.lock().unwrap().push(r.clone());
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        let (id, quote) = first_line(&r.cacheable_prefix);
        let item = json!({"text": "point", "quote": quote, "segments": [id]});
        let text = if r.schema_name == "notes" {
            json!({"notes": [item]})
        } else {
            // The envelope: the output under its type's key.
            json!({"bytes": {"bytes": [item]}})
        };
        Ok(ModelAnswer {
            text: text.to_string(),
            usage: Usage {
                uncached_input: 1_000,
                output: 100,
                ..Usage::default()
            },
            model: r.model.clone(),
        })
    }
}

struct OpenAi(Arc<dyn Models>);

impl ModelRegistry for OpenAi {
    fn models(&self, provider: &str) -> Option<Arc<dyn Models>> {
        (provider == "openai").then(|| self.0.clone() as Arc<dyn Models>)
    }
}

fn echo(fail: Option<ModelError>) -> Arc<Echo> {
    Arc::new(Echo {
        fail,
        requests: Mutex::new(Vec::new()),
    })
}

/// An SRT of `cues` cues of about 40 words each.
fn long_srt(cues: usize) -> String {
    let mut s = String::new();
    for i in 0..cues {
        let (a, b) = (i * 3, i * 3 + 2);
        s.push_str(&format!(
            "{}\n00:{:02}:{:02},000 --> 00:{:02}:{:02},000\nPart {i} of the review, where the team walked through milestone {i} and agreed that budget line {i} needs a second look before Friday, and that the vendor contract for region {i} waits until the numbers are final.\n\n",
            i + 1,
            a / 60,
            a % 60,
            b / 60,
            b % 60
        ));
    }
    s
}

async fn stack(models: Arc<Echo>) -> (Stack, Who) {
    stack_of(models).await
}

/// A stack whose `openai` provider is `models`, and 1,000 credits.
async fn stack_of(models: Arc<dyn Models>) -> (Stack, Who) {
    let s = Stack::seeded().await.with_models(Arc::new(OpenAi(models)));
    let admin = s.who(T, ADMIN);
    let (st, _) = s.get(&admin, "/me").await;
    assert_eq!(st, StatusCode::OK);
    s.call_with(
        &admin,
        Method::POST,
        "/credits/purchases",
        Some(
            &json!({"user_id": ADMIN, "credits": 1000, "amount_micro_usd": 1_000_000}).to_string(),
        ),
        &[("idempotency-key", "k")],
    )
    .await;
    (s, admin)
}

async fn transcript(s: &Stack, who: &Who, content: &str) -> String {
    let (st, t) = s
        .call(
            who,
            Method::POST,
            "/transcripts",
            Some(&json!({"title": "Review", "type": "meeting", "content": content, "file_name": "review.srt"}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    s.drain_uploads().await;
    t["id"].as_str().unwrap().to_string()
}

async fn request(s: &Stack, who: &Who, id: &str, body: Value) -> (StatusCode, Value) {
    s.call(
        who,
        Method::POST,
        &format!("/transcripts/{id}/outputs"),
        Some(&body.to_string()),
    )
    .await
}

#[tokio::test]
async fn preferences_are_per_user_and_checked() {
    let (s, admin) = stack(echo(None)).await;
    let editor = s.who(T, EDITOR);
    let (st, p) = s
        .call(
            &admin,
            Method::PUT,
            "/preferences/outputs/one_pager",
            Some(r#"{"model":"openai/gpt-4o-mini"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(
        p,
        json!({"output_type": "one_pager", "model": "openai/gpt-4o-mini"})
    );
    assert_eq!(
        s.get(&admin, "/preferences/outputs/one_pager").await,
        (StatusCode::OK, p.clone())
    );
    assert_eq!(
        s.get(&admin, "/preferences/outputs").await.1["items"],
        json!([p])
    );
    // Another user's are their own.
    assert_eq!(
        s.get(&editor, "/preferences/outputs/one_pager").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&editor, "/preferences/outputs").await.1["items"],
        json!([])
    );
    // A model the catalog does not have, a malformed name, an unknown output type.
    for (path, body, status) in [
        (
            "one_pager",
            r#"{"model":"openai/gpt-9"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "one_pager",
            r#"{"model":"gpt-4o-mini"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "podcast",
            r#"{"model":"offline/extractive"}"#,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (st, e) = s
            .call(
                &admin,
                Method::PUT,
                &format!("/preferences/outputs/{path}"),
                Some(body),
            )
            .await;
        assert_eq!(st, status, "{body}: {e}");
    }
    let (st, _) = s
        .call(
            &admin,
            Method::DELETE,
            "/preferences/outputs/one_pager",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&admin, "/preferences/outputs/one_pager").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_preferred_model_writes_the_output_and_a_failing_one_falls_back_to_offline() {
    let model = echo(Some(ModelError::Rejected("model overloaded".into())));
    let (s, admin) = stack(model.clone()).await;
    let id = transcript(&s, &admin, &long_srt(20)).await;
    let (st, _) = s
        .call(
            &admin,
            Method::PUT,
            "/preferences/outputs/bytes",
            Some(r#"{"model":"openai/gpt-4o-mini"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, q) = request(&s, &admin, &id, json!({"output_types": ["bytes"]})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{q}");
    let o = &q["items"][0];
    assert_eq!(
        o["chain"],
        json!([
            {"provider": "openai", "model": "gpt-4o-mini", "map_reduce": false},
            {"provider": "offline", "model": "extractive", "map_reduce": false}
        ])
    );
    s.drain_jobs().await;
    let (_, done) = s
        .get(&admin, &format!("/outputs/{}", o["id"].as_str().unwrap()))
        .await;
    // gpt-4o-mini refused (after the repair-free first call); the offline step wrote it.
    assert_eq!(model.requests.lock().unwrap().len(), 1);
    assert_eq!(
        (
            done["status"].as_str(),
            done["provider"].as_str(),
            done["cost_credits"].as_u64()
        ),
        (Some("done"), Some("offline"), Some(0)),
        "{done}"
    );
    assert!(done["verified_quotes"].as_u64().unwrap() > 0, "{done}");
    // The ledger names the model that answered, and nothing stays reserved.
    assert_eq!(s.get(&admin, "/credits").await.1["reserved"], 0);
}

#[tokio::test]
async fn constraints_are_for_admins_and_bind_every_chain() {
    let (s, admin) = stack(echo(None)).await;
    let editor = s.who(T, EDITOR);
    s.get(&editor, "/me").await;
    let id = transcript(&s, &admin, &long_srt(5)).await;
    let body = r#"{"allowed_providers":["anthropic"]}"#;
    let (st, _) = s
        .call(
            &editor,
            Method::PUT,
            "/output-constraints/slides",
            Some(body),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, c) = s
        .call(
            &admin,
            Method::PUT,
            "/output-constraints/slides",
            Some(body),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(
        s.get(&editor, "/output-constraints/slides").await.1["allowed_providers"],
        json!(["anthropic"])
    );
    // No Anthropic key here: no model may write slides, and nothing is reserved.
    let (st, e) = request(
        &s,
        &admin,
        &id,
        json!({"output_types": ["one_pager", "slides"]}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("no model may write slides"),
        "{e}"
    );
    assert_eq!(s.get(&admin, "/credits").await.1["reserved"], 0);
    assert_eq!(s.get(&admin, "/outputs").await.1["items"], json!([]));
    // Named explicitly, a model outside the constraints is refused with the reason.
    let (st, e) = request(
        &s,
        &admin,
        &id,
        json!({"output_types": ["slides"], "model": "openai/gpt-4o-mini"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(
        e["detail"].as_str().unwrap().contains("may not use openai"),
        "{e}"
    );
    let bad = [
        r#"{"allowed_models":["gpt-4o"]}"#,
        r#"{"required_capabilities":["telepathy"]}"#,
        r#"{"min_context_window":-1}"#,
    ];
    for b in bad {
        let (st, _) = s
            .call(&admin, Method::PUT, "/output-constraints/slides", Some(b))
            .await;
        assert!(st.is_client_error(), "{b}: {st}");
    }
    let (st, _) = s
        .call(&admin, Method::DELETE, "/output-constraints/slides", None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, q) = request(&s, &admin, &id, json!({"output_types": ["slides"]})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{q}");
}

#[tokio::test]
async fn a_team_narrows_the_models_of_its_transcripts() {
    let (s, admin) = stack(echo(None)).await;
    let (st, team) = s
        .call(
            &admin,
            Method::POST,
            "/teams",
            Some(r#"{"name":"Sales","allowed_models":["openai/gpt-4o-mini"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{team}");
    let (st, t) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            Some(&json!({"title": "Call", "type": "meeting", "content": long_srt(5), "file_name": "c.srt", "team": team["id"]}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    s.drain_uploads().await;
    let id = t["id"].as_str().unwrap();
    let (st, e) = request(
        &s,
        &admin,
        id,
        json!({"output_types": ["bytes"], "model": "offline/extractive"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("the team does not allow"),
        "{e}"
    );
    let (st, q) = request(&s, &admin, id, json!({"output_types": ["bytes"]})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{q}");
    assert_eq!(
        q["items"][0]["chain"],
        json!([{"provider": "openai", "model": "gpt-4o-mini", "map_reduce": false}])
    );
}

/// Adds `openai/tiny` (a 4,000-token window) to the catalog, creates a transcript of 300 cues
/// and requests its bytes from tiny, which reads it in chunks: the transcript's id and the
/// request's answer (202).
async fn tiny_request(s: &Stack, admin: &Who) -> (String, Value) {
    let platform = s.who_admin(T, PLATFORM, true);
    let (st, m) = s
        .call(
            &platform,
            Method::POST,
            "/models",
            Some(r#"{"provider":"openai","model":"tiny","context_window":4000,"max_output_tokens":500,"price":{"uncached_input":150000,"cache_read":75000,"cache_write":0,"output":600000,"reasoning":600000}}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    let id = transcript(s, admin, &long_srt(300)).await;
    let (st, q) = request(
        s,
        admin,
        &id,
        json!({"output_types": ["bytes"], "model": "openai/tiny"}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{q}");
    (id, q)
}

#[tokio::test]
async fn a_transcript_longer_than_the_window_is_read_in_chunks_through_the_queue() {
    let model = echo(None);
    let (s, admin) = stack(model.clone()).await;
    let (id, q) = tiny_request(&s, &admin).await;
    let (_, t) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert!(t["token_estimate"].as_u64().unwrap() > 10_000, "{t}");
    assert_eq!(q["items"][0]["chain"][0]["map_reduce"], true);
    let out = q["items"][0]["id"].as_str().unwrap().to_string();
    s.drain_jobs().await;
    let (_, o) = s.get(&admin, &format!("/outputs/{out}")).await;
    assert_eq!(o["status"], "done", "{o}");
    let coverage = &o["coverage"];
    let chunks = coverage["chunks"].as_u64().unwrap();
    assert!(chunks >= 4, "{coverage}");
    // Every segment was read; none was cut.
    assert_eq!(coverage["segments_read"], 300);
    assert_eq!(coverage["segments_total"], 300);
    let requests = model.requests.lock().unwrap().clone();
    let maps: Vec<&ModelRequest> = requests
        .iter()
        .filter(|r| r.schema_name == "notes")
        .collect();
    assert_eq!(maps.len() as u64, chunks);
    assert_eq!(requests.len() as u64, chunks + 1, "one reduce");
    // Each map call's transcript, as the model reads it (ids, times and speakers framing each
    // line), fits the part of the window left for it (4,000 less the prompt's overhead and
    // the notes: the 2,000-token floor here); together they hold every segment id.
    let mut seen = std::collections::BTreeSet::new();
    for r in &maps {
        let tokens = recap_transcript::estimate_tokens(
            &r.cacheable_prefix,
            recap_transcript::TokenizerFamily::OpenAi,
        );
        assert!(tokens <= 2_000, "{tokens}");
        for line in r.cacheable_prefix.lines() {
            seen.insert(line[1..6].to_string());
        }
    }
    assert_eq!(seen.len(), 300);
    // The reduce cites what the notes cited: verified against the whole transcript.
    assert_eq!(o["verified_quotes"], 1, "{o}");
    // One charge for all the calls.
    let (_, usage) = s.get(&admin, "/usage").await;
    assert_eq!(usage["calls"], 1, "{usage}");
    assert_eq!(s.get(&admin, "/credits").await.1["reserved"], 0);
    // A map job delivered again changes nothing.
    assert_eq!(s.drain_jobs().await, 0);
}

/// Whether a transcript fits a model's window is judged on what the model reads: the text and
/// the `[id time] speaker: ` framing of each line, which for short cues is a large share.
#[tokio::test]
async fn the_window_holds_the_framing_of_each_line_too() {
    let model = echo(None);
    let (s, admin) = stack(model.clone()).await;
    let id = transcript(&s, &admin, &long_srt(60)).await;
    let (_, t) = s.get(&admin, &format!("/transcripts/{id}")).await;
    let text = t["token_estimate"].as_u64().unwrap();
    let framing = t["framing_tokens"].as_u64().unwrap();
    assert!(framing >= 60 * 10, "{t}");
    // The text, the prompt's overhead and the answer fit; with half the framing added, no more.
    let window = text + 1_500 + 500 + framing / 2;
    let platform = s.who_admin(T, PLATFORM, true);
    let body = json!({"provider": "openai", "model": "snug", "context_window": window,
        "max_output_tokens": 500, "price": {"uncached_input": 150000, "cache_read": 75000,
        "cache_write": 0, "output": 600000, "reasoning": 600000}});
    let (st, m) = s
        .call(&platform, Method::POST, "/models", Some(&body.to_string()))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    let (st, q) = request(
        &s,
        &admin,
        &id,
        json!({"output_types": ["bytes"], "model": "openai/snug"}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{q}");
    assert_eq!(q["items"][0]["chain"][0]["map_reduce"], true, "{q}");
    s.drain_jobs().await;
    let out = q["items"][0]["id"].as_str().unwrap();
    let (_, o) = s.get(&admin, &format!("/outputs/{out}")).await;
    assert_eq!(o["status"], "done", "{o}");
    assert!(o["coverage"]["chunks"].as_u64().unwrap() >= 2, "{o}");
    assert_eq!(o["coverage"]["segments_read"], 60);
}

/// [`Echo`], answering once the test lets it; it tells when it is first called.
struct Gated {
    echo: Arc<Echo>,
    called: tokio::sync::Notify,
    open: tokio::sync::Semaphore,
}

#[async_trait]
impl Models for Gated {
    async fn call(&self, r: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        self.called.notify_one();
        drop(self.open.acquire().await.unwrap());
        self.echo.call(r).await
    }
}

/// An output read in chunks is deleted while its chunks are read: the map jobs end quietly at
/// once (not retried), their notes are not left in the files store, and nothing is charged.
#[tokio::test]
async fn an_output_deleted_while_its_chunks_are_read_keeps_no_notes() {
    let gated = Arc::new(Gated {
        echo: echo(None),
        called: tokio::sync::Notify::new(),
        open: tokio::sync::Semaphore::new(0),
    });
    let (s, admin) = stack_of(gated.clone()).await;
    let (id, q) = tiny_request(&s, &admin).await;
    let out = q["items"][0]["id"].as_str().unwrap().to_string();
    let pass = |s: &Stack| {
        let state = s.state.clone();
        tokio::spawn(async move {
            recap::process_generate_jobs(
                &state,
                std::time::Duration::ZERO,
                &recap::Shutdown::default(),
            )
            .await
            .unwrap()
        })
    };
    // The first job queues one map job per chunk.
    assert_eq!(pass(&s).await.unwrap().handled, 1);
    let (_, o) = s.get(&admin, &format!("/outputs/{out}")).await;
    assert!(o["map"]["chunks"].as_u64().unwrap() >= 4, "{o}");
    // The next pass reads chunks side by side; the output is deleted while they are read.
    let maps = pass(&s);
    tokio::time::timeout(std::time::Duration::from_secs(10), gated.called.notified())
        .await
        .expect("a map job calls the model");
    let output = format!("/outputs/{out}");
    let (st, _) = s.call(&admin, Method::DELETE, &output, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    gated.open.add_permits(1);
    let maps = maps.await.unwrap();
    assert!(maps.handled > 0, "{maps:?}");
    assert!(maps.retrying.is_empty(), "{maps:?}");
    // The chunks not received yet find nothing to do.
    s.drain_jobs().await;
    let left = s
        .state
        .files
        .list(&format!("{T}/outputs/{id}/{out}/"), None, 100)
        .await
        .unwrap();
    assert!(left.files.is_empty(), "{:?}", left.files);
    assert_eq!(s.get(&admin, &output).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 1000, "reserved": 0, "used": 0})
    );
    assert_eq!(
        s.get(&admin, "/usage").await.1["calls"],
        0,
        "no ledger entry"
    );
}

/// The chunks of a transcript read in chunks are fixed when the reading begins: a platform
/// admin who widens the model's window while its map jobs wait moves no chunk, so every map
/// job finds its part and every segment is read once.
#[tokio::test]
async fn chunks_stay_as_cut_when_the_model_changes_while_they_are_read() {
    let model = echo(None);
    let (s, admin) = stack(model.clone()).await;
    let (_, q) = tiny_request(&s, &admin).await;
    let out = q["items"][0]["id"].as_str().unwrap().to_string();
    // The first job cuts the transcript and queues one map job per chunk.
    let first = recap::process_generate_jobs(
        &s.state,
        std::time::Duration::ZERO,
        &recap::Shutdown::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.handled, 1);
    let (_, o) = s.get(&admin, &format!("/outputs/{out}")).await;
    let chunks = o["map"]["chunks"].as_u64().unwrap();
    assert!(chunks >= 4, "{o}");
    // The window grows fourfold before the map jobs run: cut again, it would make fewer chunks.
    let (st, m) = s
        .call(
            &s.who_admin(T, PLATFORM, true),
            Method::PATCH,
            "/models/openai/tiny",
            Some(r#"{"context_window":16000}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    s.drain_jobs().await;
    let (_, o) = s.get(&admin, &format!("/outputs/{out}")).await;
    assert_eq!(o["status"], "done", "{o}");
    assert_eq!(o["coverage"]["chunks"], chunks);
    assert_eq!(o["coverage"]["segments_read"], 300);
    let requests = model.requests.lock().unwrap().clone();
    let maps: Vec<&ModelRequest> = requests
        .iter()
        .filter(|r| r.schema_name == "notes")
        .collect();
    assert_eq!(maps.len() as u64, chunks, "one call per chunk as cut");
    let mut seen = std::collections::BTreeSet::new();
    for r in &maps {
        for line in r.cacheable_prefix.lines() {
            seen.insert(line[1..6].to_string());
        }
    }
    assert_eq!(seen.len(), 300);
}

#[tokio::test]
async fn regenerate_makes_a_new_revision_with_another_model() {
    let (s, admin) = stack(echo(None)).await;
    let id = transcript(&s, &admin, &long_srt(10)).await;
    let (_, q) = request(&s, &admin, &id, json!({"output_types": ["bytes"]})).await;
    let first = q["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(q["items"][0]["revision"], 1);
    s.drain_jobs().await;
    let (st, again) = s
        .call(
            &admin,
            Method::POST,
            &format!("/outputs/{first}/regenerate"),
            Some(r#"{"model":"openai/gpt-4o-mini"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{again}");
    assert_eq!(
        (
            again["revision"].as_u64(),
            again["regenerates"].as_str(),
            again["output_type"].as_str()
        ),
        (Some(2), Some(first.as_str()), Some("bytes"))
    );
    s.drain_jobs().await;
    let (_, o) = s
        .get(
            &admin,
            &format!("/outputs/{}", again["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        (o["status"].as_str(), o["model"].as_str()),
        (Some("done"), Some("gpt-4o-mini"))
    );
    // Both revisions are listed; the first is untouched.
    let (_, list) = s.get(&admin, &format!("/transcripts/{id}/outputs")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.get(&admin, &format!("/outputs/{first}")).await.1["status"],
        "done"
    );
    // No body: the chain is chosen again (offline here).
    let (st, third) = s
        .call(
            &admin,
            Method::POST,
            &format!("/outputs/{first}/regenerate"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{third}");
    // The line's next number, though it regenerates the first again.
    assert_eq!(
        (third["revision"].as_u64(), third["regenerates"].as_str()),
        (Some(3), Some(first.as_str()))
    );
}

#[tokio::test]
async fn outputs_named_at_creation_are_generated_after_the_upload() {
    let (s, admin) = stack(echo(None)).await;
    let (st, t) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            Some(&json!({"title": "Standup", "type": "meeting", "content": long_srt(12), "file_name": "s.srt", "output_types": ["bytes", "anchors"]}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().unwrap();
    s.drain_uploads().await;
    let (_, tr) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert_eq!(tr["generation"], "queued", "{tr}");
    // The same event again requests nothing more.
    s.drain_uploads().await;
    let (_, list) = s.get(&admin, &format!("/transcripts/{id}/outputs")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    s.drain_jobs().await;
    let (_, list) = s.get(&admin, &format!("/transcripts/{id}/outputs")).await;
    let mut kinds: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["output_type"].as_str().unwrap(),
                o["status"].as_str().unwrap(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, [("anchors", "done"), ("bytes", "done")]);

    // Refused at upload (no model may write slides): the transcript says why.
    s.call(
        &admin,
        Method::PUT,
        "/output-constraints/slides",
        Some(r#"{"allowed_providers":["anthropic"]}"#),
    )
    .await;
    let (_, t) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            Some(&json!({"title": "Later", "type": "meeting", "content": long_srt(3), "file_name": "l.srt", "output_types": ["slides"]}).to_string()),
        )
        .await;
    s.drain_uploads().await;
    let (_, tr) = s
        .get(
            &admin,
            &format!("/transcripts/{}", t["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(tr["status"], "ready", "{tr}");
    assert_eq!(tr["generation"], "failed", "{tr}");
    assert!(
        tr["generation_error"]
            .as_str()
            .unwrap()
            .contains("no model may write slides"),
        "{tr}"
    );
}

/// Rules name models and providers of the catalog: a name it does not have is a 400 naming
/// the field (such a rule would only ever refuse, and a tier's default model that does not
/// exist left its subscribers unable to generate).
#[tokio::test]
async fn rules_that_name_models_outside_the_catalog_are_refused() {
    let (s, admin) = stack(echo(None)).await;
    let root = s.who_admin(T, ADMIN, true);
    let bad = |st: StatusCode, p: &Value, field: &str| {
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{p}"
        );
        assert!(p["detail"].as_str().unwrap().contains("nosuch"), "{p}");
    };
    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            "/teams",
            Some(r#"{"name":"x","allowed_models":["nosuch/x"]}"#),
        )
        .await;
    bad(st, &p, "allowed_models");
    let (st, p) = s
        .call(
            &admin,
            Method::PUT,
            "/output-constraints/bytes",
            Some(r#"{"allowed_providers":["nosuch"]}"#),
        )
        .await;
    bad(st, &p, "allowed_providers");
    let (st, p) = s
        .call(
            &admin,
            Method::PUT,
            "/output-constraints/bytes",
            Some(r#"{"allowed_models":["nosuch/x"]}"#),
        )
        .await;
    bad(st, &p, "allowed_models");
    let tier = json!({"id": "t1", "name": "T1", "price_micro_usd": 0, "monthly_credits": 10,
        "ai_calls_per_period": 5, "default_model": "nosuch/x", "features": {},
        "credit_rate": {"micro_usd_per_credit": 1000},
        "overage": {"policy": "block", "micro_usd_per_credit": 0, "cap_credits": 0}, "active": true});
    let (st, p) = s
        .call(&root, Method::POST, "/tiers", Some(&tier.to_string()))
        .await;
    bad(st, &p, "default_model");
    // Known ones are taken.
    let (st, p) = s
        .call(
            &admin,
            Method::PUT,
            "/output-constraints/bytes",
            Some(r#"{"allowed_providers":["openai","offline"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
}
