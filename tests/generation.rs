//! Generation: every output type from a real transcript with the offline provider, citations
//! checked against the transcript, a fake priced model that is charged once, lies, or answers
//! off-schema.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::{Stack, Who};
use recap_domain::clock::{Clock, ManualClock, SystemClock};
use recap_domain::generation::{self, ModelRegistry, Processed};
use recap_domain::models::{ModelAnswer, ModelError, ModelRequest, Models};
use recap_domain::money::Usage;
use recap_domain::queue::{Message, Queue, Received};
use recap_domain::transcripts;
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
    let (s, admin, id) = with_registry(Arc::new(Registry(fake.clone()))).await;
    (s, fake, admin, id)
}

/// A stack whose `openai` provider is `models`, a ready transcript, and 100 credits.
async fn with_registry(models: Arc<dyn ModelRegistry>) -> (Stack, Who, String) {
    let s = Stack::seeded().await.with_models(models);
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
    (s, admin, id)
}

/// A provider that never answers.
struct Hangs;

#[async_trait]
impl Models for Hangs {
    async fn call(&self, _: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        std::future::pending().await
    }
}

impl ModelRegistry for Hangs {
    fn models(&self, provider: &str) -> Option<Arc<dyn Models>> {
        (provider == "openai").then(|| Arc::new(Hangs) as Arc<dyn Models>)
    }
}

/// `recap serve` stopping: a job still running after the grace time goes back to the queue at
/// once (not after its five-minute visibility timeout), having charged nothing, and nothing
/// more is received.
#[tokio::test]
async fn a_job_cut_short_by_the_shutdown_goes_back_to_the_queue_at_once() {
    let (s, admin, id) = with_registry(Arc::new(Hangs)).await;
    let queued = request_bytes(&s, &admin, &id).await;
    let output = format!("/outputs/{}", queued["id"].as_str().unwrap());
    let (stop, shutdown) = recap::Shutdown::new(Duration::from_millis(200));
    let state = s.state.clone();
    let pass = tokio::spawn(async move {
        recap::process_generate_jobs(&state, Duration::ZERO, &shutdown).await
    });
    // The job is running (calling the model that never answers) when the stop comes.
    for _ in 0..200 {
        if s.get(&admin, &output).await.1["status"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.get(&admin, &output).await.1["status"], "running");
    stop.send(true).unwrap();
    let pass = tokio::time::timeout(Duration::from_secs(10), pass)
        .await
        .expect("the pass ends after the grace time")
        .unwrap()
        .unwrap();
    assert_eq!((pass.handled, pass.returned), (0, 1), "{pass:?}");
    // Visible again at once: the next receive takes it, for the second time.
    let again = s
        .state
        .generate
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    s.state
        .generate
        .change_visibility(&again[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        s.get(&admin, "/credits").await.1["used"],
        0,
        "nothing charged"
    );
    // A pass after the stop receives nothing.
    let (stop, stopped) = recap::Shutdown::new(Duration::ZERO);
    stop.send(true).unwrap();
    let pass = recap::process_generate_jobs(&s.state, Duration::ZERO, &stopped)
        .await
        .unwrap();
    assert_eq!(
        (pass.handled, pass.returned, pass.retrying.len()),
        (0, 0, 0)
    );
}

/// `GET /outputs/{id}` of an output a request answered.
async fn output(s: &Stack, who: &Who, o: &Value) -> Value {
    s.get(who, &format!("/outputs/{}", o["id"].as_str().unwrap()))
        .await
        .1
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
    let o = output(&s, &admin, &queued).await;
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
    let o = output(&s, &admin, &queued).await;
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
    let o = output(&s, &admin, &queued).await;
    assert_eq!(o["status"], "done", "repaired: {o}");
    assert_eq!(*fake.calls.lock().unwrap(), 2);

    let (s, _, admin, id) = with_fake(vec![json!({"wrong": true})]).await;
    let queued = request_bytes(&s, &admin, &id).await;
    s.drain_jobs().await;
    let o = output(&s, &admin, &queued).await;
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

/// A transcript created with its content and `output_types`, and the upload event the local
/// store announced for it (taken from the trigger's queue, to be delivered by hand).
async fn created_with_outputs(s: &Stack, who: &Who, output_types: &[&str]) -> (String, String) {
    let (st, t) = s
        .call(who, Method::POST, "/transcripts",
              Some(&json!({"title": "Call", "type": "meeting", "content": corpus("vendor-json/dg_speakers.json"), "file_name": "call.json", "output_types": output_types}).to_string()))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let got = s
        .uploads
        .receive(1, Duration::from_secs(600), Duration::ZERO)
        .await
        .unwrap();
    let event = got.into_iter().next().expect("an upload event").body;
    (t["id"].as_str().unwrap().to_string(), event)
}

/// One delivery of an upload event as on-upload handles it, over the stack's store, with this
/// queue and clock: the upload parsed ([`ingest`]), then the outputs named at creation.
async fn deliver(
    s: &Stack,
    event: &str,
    queue: &dyn Queue,
    clock: &dyn Clock,
) -> recap_domain::Result<Vec<generation::Output>> {
    ingest(s, event, clock).await?;
    after_upload(s, event, queue, clock).await
}

async fn ingest(s: &Stack, event: &str, clock: &dyn Clock) -> recap_domain::Result<()> {
    let st = &s.state;
    transcripts::on_upload_event(
        transcripts::Ports {
            records: st.records.as_ref(),
            files: st.files.as_ref(),
            clock,
            ids: st.ids.as_ref(),
        },
        event.as_bytes(),
    )
    .await
    .map(|_| ())
}

async fn after_upload(
    s: &Stack,
    event: &str,
    queue: &dyn Queue,
    clock: &dyn Clock,
) -> recap_domain::Result<Vec<generation::Output>> {
    generation::after_upload(
        generation::Ports {
            queue,
            clock,
            ..s.generation()
        },
        event.as_bytes(),
    )
    .await
}

/// A delivery that parses the upload, claims the request, reserves and writes the outputs,
/// then dies waiting on the queue (the function timed out): its claim stays.
async fn die_holding_the_claim(s: &Stack, event: &str, clock: &dyn Clock) {
    ingest(s, event, clock).await.unwrap();
    let hung = Faulty::new(s, 1, true);
    let died =
        tokio::time::timeout(Duration::from_secs(2), after_upload(s, event, &hung, clock)).await;
    assert!(died.is_err(), "the delivery was cut off");
}

/// The stack's queue, counting its sends, but its `refuse`-th send (from 1; 0: none) is
/// refused as SQS refuses a send when it throttles or cannot be reached; with `hang`, that
/// send and every later one never return (a function that dies waiting).
struct Faulty {
    inner: Arc<dyn Queue>,
    sends: AtomicUsize,
    refuse: usize,
    hang: bool,
}

impl Faulty {
    fn new(s: &Stack, refuse: usize, hang: bool) -> Faulty {
        Faulty {
            inner: s.state.generate.clone(),
            sends: AtomicUsize::new(0),
            refuse,
            hang,
        }
    }
}

#[async_trait]
impl Queue for Faulty {
    async fn send(&self, message: Message) -> recap_domain::Result<String> {
        let n = self.sends.fetch_add(1, Ordering::SeqCst) + 1;
        if self.hang && self.refuse > 0 && n >= self.refuse {
            std::future::pending::<()>().await;
        }
        if n == self.refuse {
            return Err(recap_domain::Error::unavailable(
                "the generate queue",
                "throttled (test)",
            ));
        }
        self.inner.send(message).await
    }
    async fn send_batch(&self, messages: Vec<Message>) -> recap_domain::Result<Vec<String>> {
        self.inner.send_batch(messages).await
    }
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> recap_domain::Result<Vec<Received>> {
        self.inner.receive(max, visibility, wait).await
    }
    async fn delete(&self, receipt: &str) -> recap_domain::Result<()> {
        self.inner.delete(receipt).await
    }
    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> recap_domain::Result<()> {
        self.inner.change_visibility(receipt, visibility).await
    }
    fn deduplicates(&self) -> bool {
        self.inner.deduplicates()
    }
}

/// `(output type, status)` of a transcript's outputs, sorted.
async fn outputs_of(s: &Stack, who: &Who, transcript: &str) -> Vec<(String, String)> {
    let (st, page) = s
        .get(who, &format!("/transcripts/{transcript}/outputs"))
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let mut all: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["output_type"].as_str().unwrap().to_string(),
                o["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    all.sort();
    all
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn outputs_named_at_upload_are_made_once_when_a_delivery_fails_midway() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let (id, event) = created_with_outputs(&s, &admin, &["one_pager", "anchors"]).await;
    let id = id.as_str();
    let clock = ManualClock::at(SystemClock.now());

    // The first delivery queues one_pager's job, then the queue refuses anchors'.
    let first = deliver(&s, &event, &Faulty::new(&s, 2, false), &clock).await;
    assert!(
        matches!(first, Err(recap_domain::Error::Unavailable { .. })),
        "a transient failure is answered, so that S3's event is delivered again: {first:?}"
    );
    let (_, tr) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert_eq!(tr["generation"], "requested", "{tr}");
    assert_eq!(
        outputs_of(&s, &admin, id).await,
        pairs(&[("anchors", "failed"), ("one_pager", "queued")])
    );

    // Delivered again: only anchors is requested anew; one_pager is neither made nor sent
    // twice.
    let counting = Faulty::new(&s, 0, false);
    let again = deliver(&s, &event, &counting, &clock).await.unwrap();
    assert_eq!(
        again.len(),
        2,
        "one_pager (made before) and the new anchors: {again:?}"
    );
    assert_eq!(
        counting.sends.load(Ordering::SeqCst),
        1,
        "anchors' job only"
    );
    let (_, tr) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert_eq!(tr["generation"], "queued", "{tr}");
    s.drain_jobs().await;
    assert_eq!(
        outputs_of(&s, &admin, id).await,
        pairs(&[
            ("anchors", "done"),
            ("anchors", "failed"),
            ("one_pager", "done")
        ])
    );
    // And a third delivery finds nothing to do.
    assert!(
        deliver(&s, &event, s.state.generate.as_ref(), &clock)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(outputs_of(&s, &admin, id).await.len(), 3);
}

#[tokio::test]
async fn a_delivery_that_died_holding_the_claim_is_taken_over_after_the_lease() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let (id, event) = created_with_outputs(&s, &admin, &["bytes"]).await;
    let id = id.as_str();
    let clock = ManualClock::at(SystemClock.now());

    die_holding_the_claim(&s, &event, &clock).await;
    let (_, tr) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert_eq!(tr["generation"], "requesting", "{tr}");
    assert_eq!(
        outputs_of(&s, &admin, id).await,
        pairs(&[("bytes", "queued")])
    );
    assert_eq!(s.drain_jobs().await, 0, "its job was never queued");

    // Delivered again within the lease: the claim may still be alive; try later.
    let early = deliver(&s, &event, s.state.generate.as_ref(), &clock).await;
    assert!(
        matches!(early, Err(recap_domain::Error::Unavailable { .. })),
        "{early:?}"
    );

    // A user renames the transcript meanwhile (its version and updated_at change, not the
    // claim).
    let (st, renamed) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/transcripts/{id}"),
            Some(r#"{"title":"Call (renamed)"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{renamed}");

    // After the lease (on-upload's timeout): taken over, the written output queued, not a
    // second one made.
    clock.advance(generation::UPLOAD_CLAIM_LEASE + Duration::from_secs(1));
    let counting = Faulty::new(&s, 0, false);
    let taken = deliver(&s, &event, &counting, &clock).await.unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(
        counting.sends.load(Ordering::SeqCst),
        1,
        "the dead delivery's job"
    );
    let (_, tr) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert_eq!(tr["generation"], "queued", "{tr}");
    assert!(s.drain_jobs().await >= 1);
    assert_eq!(
        outputs_of(&s, &admin, id).await,
        pairs(&[("bytes", "done")])
    );
}

#[tokio::test]
async fn a_request_whose_queue_fails_midway_answers_what_was_queued_and_what_failed() {
    let base = Stack::seeded().await;
    let admin = base.who(T, ADMIN);
    let id = ready_transcript(&base, &admin).await;
    let faulty = Faulty::new(&base, 2, false);
    let s = base.with_queue(Arc::new(faulty));
    let path = format!("/transcripts/{id}/outputs");
    let (st, page) = s
        .call(
            &admin,
            Method::POST,
            &path,
            Some(r#"{"output_types":["one_pager","anchors","bytes"]}"#),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::ACCEPTED,
        "one_pager's job was queued: {page}"
    );
    let items = page["items"].as_array().unwrap();
    let status: Vec<(&str, &str)> = items
        .iter()
        .map(|o| {
            (
                o["output_type"].as_str().unwrap(),
                o["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("one_pager", "queued"),
            ("anchors", "failed"),
            ("bytes", "failed")
        ]
    );
    assert_eq!(
        items[1]["failure"],
        "the job could not be queued; request it again"
    );
    // Asked again, only the failed types are made.
    let (st, again) = s
        .call(
            &admin,
            Method::POST,
            &path,
            Some(r#"{"output_types":["anchors","bytes"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{again}");
    s.drain_jobs().await;
    assert_eq!(
        outputs_of(&s, &admin, &id).await,
        pairs(&[
            ("anchors", "done"),
            ("anchors", "failed"),
            ("bytes", "done"),
            ("bytes", "failed"),
            ("one_pager", "done")
        ])
    );

    // When the queue refuses the first job nothing was queued: the request fails as a whole.
    let base = Stack::seeded().await;
    let id = ready_transcript(&base, &admin).await;
    let refuses_first = Faulty::new(&base, 1, false);
    let s = base.with_queue(Arc::new(refuses_first));
    let (st, problem) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["one_pager","anchors"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(
        outputs_of(&s, &admin, &id).await,
        pairs(&[("anchors", "failed"), ("one_pager", "failed")])
    );
}

#[tokio::test]
async fn a_second_upload_of_the_transcript_requests_nothing_again() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let (id, event) = created_with_outputs(&s, &admin, &["one_pager"]).await;
    let clock = SystemClock;
    deliver(&s, &event, s.state.generate.as_ref(), &clock)
        .await
        .unwrap();
    assert_eq!(
        outputs_of(&s, &admin, &id).await,
        pairs(&[("one_pager", "queued")])
    );
    // The same file PUT again: S3 announces it with a later sequencer, and it is parsed again.
    let mut again: Value = serde_json::from_str(&event).unwrap();
    let object = &mut again["Records"][0]["s3"]["object"];
    assert!(object["sequencer"].is_string(), "{again}");
    object["sequencer"] = json!("00000000000000FF");
    let counting = Faulty::new(&s, 0, false);
    deliver(&s, &again.to_string(), &counting, &clock)
        .await
        .unwrap();
    let (_, tr) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert_eq!(tr["sequencer"], "00000000000000FF", "parsed again: {tr}");
    assert_eq!(tr["generation"], "queued", "{tr}");
    assert_eq!(counting.sends.load(Ordering::SeqCst), 0);
    assert_eq!(
        outputs_of(&s, &admin, &id).await,
        pairs(&[("one_pager", "queued")])
    );
}

#[tokio::test]
async fn a_priced_output_named_at_upload_is_reserved_and_charged_once_across_a_takeover() {
    // s0002 of dg_speakers.json says "Jessica, Christina, we are so proud of you."
    let answer = json!({"bytes": [{"text": "Pride", "quote": "we are so proud of you", "segments": ["s0002"]}]});
    let (s, fake, admin, _) = with_fake(vec![answer]).await;
    let (st, pref) = s
        .call(
            &admin,
            Method::PUT,
            "/preferences/outputs/bytes",
            Some(r#"{"model":"openai/gpt-4o-mini"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{pref}");
    let (id, event) = created_with_outputs(&s, &admin, &["bytes"]).await;
    let clock = ManualClock::at(SystemClock.now());

    // The first delivery reserves and writes the output, then dies sending its job.
    die_holding_the_claim(&s, &event, &clock).await;
    let credits = s.get(&admin, "/credits").await.1;
    let reserved = credits["reserved"].as_u64().unwrap();
    assert!(reserved > 0, "{credits}");

    // Taken over after the lease: the same output's job is sent, nothing reserved again.
    clock.advance(generation::UPLOAD_CLAIM_LEASE + Duration::from_secs(1));
    deliver(&s, &event, s.state.generate.as_ref(), &clock)
        .await
        .unwrap();
    assert_eq!(
        s.get(&admin, "/credits").await.1["reserved"],
        reserved,
        "one reservation"
    );
    s.drain_jobs().await;
    // gpt-4o-mini's fake answer: 1 credit, charged once; the model called once.
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 99, "reserved": 0, "used": 1})
    );
    assert_eq!(*fake.calls.lock().unwrap(), 1);
    assert_eq!(
        outputs_of(&s, &admin, &id).await,
        pairs(&[("bytes", "done")])
    );
}

fn pride() -> Value {
    // s0002 of dg_speakers.json says "Jessica, Christina, we are so proud of you."
    json!({"bytes": [{"text": "Pride", "quote": "we are so proud of you", "segments": ["s0002"]}]})
}

/// Deleting a transcript takes its outputs with it: a queued output's reservation is released
/// at once, and its job, when it comes, ends quietly without calling the model.
#[tokio::test]
async fn deleting_a_transcript_releases_its_queued_outputs_and_their_jobs_end_quietly() {
    let (s, fake, admin, id) = with_fake(vec![pride()]).await;
    let queued = request_bytes(&s, &admin, &id).await;
    assert!(queued["reserved_credits"].as_u64().unwrap() > 0);
    let (st, _) = s
        .call(&admin, Method::DELETE, &format!("/transcripts/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 100, "reserved": 0, "used": 0})
    );
    let output = format!("/outputs/{}", queued["id"].as_str().unwrap());
    assert_eq!(s.get(&admin, &output).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.get(&admin, "/outputs").await.1["items"], json!([]));
    // The job is taken off the queue, not retried: one pass handles it.
    assert_eq!(s.drain_jobs().await, 1);
    assert_eq!(*fake.calls.lock().unwrap(), 0);
}

/// Deleting a queued output releases its reservation; its job then has nothing to do.
#[tokio::test]
async fn deleting_a_queued_output_releases_its_reservation() {
    let (s, fake, admin, id) = with_fake(vec![pride()]).await;
    let queued = request_bytes(&s, &admin, &id).await;
    let output = format!("/outputs/{}", queued["id"].as_str().unwrap());
    let (st, _) = s.call(&admin, Method::DELETE, &output, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 100, "reserved": 0, "used": 0})
    );
    assert_eq!(s.drain_jobs().await, 1);
    assert_eq!(*fake.calls.lock().unwrap(), 0);
    assert_eq!(s.get(&admin, &output).await.0, StatusCode::NOT_FOUND);
}

/// A provider that answers once the test lets it.
struct Gate {
    called: tokio::sync::Notify,
    go: tokio::sync::Notify,
}

#[async_trait]
impl Models for Gate {
    async fn call(&self, _: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        self.called.notify_one();
        self.go.notified().await;
        Ok(ModelAnswer {
            text: pride().to_string(),
            usage: Usage {
                uncached_input: 2_000,
                output: 500,
                ..Usage::default()
            },
            model: "gpt-4o-mini".into(),
        })
    }
}

struct GateRegistry(Arc<Gate>);

impl ModelRegistry for GateRegistry {
    fn models(&self, provider: &str) -> Option<Arc<dyn Models>> {
        (provider == "openai").then(|| self.0.clone() as Arc<dyn Models>)
    }
}

/// The transcript is deleted while the model writes one of its outputs: when the answer comes
/// nothing is kept (no record, no files) and nothing is charged.
#[tokio::test]
async fn a_transcript_deleted_while_its_output_is_written_charges_nothing_and_keeps_nothing() {
    let gate = Arc::new(Gate {
        called: tokio::sync::Notify::new(),
        go: tokio::sync::Notify::new(),
    });
    let (s, admin, id) = with_registry(Arc::new(GateRegistry(gate.clone()))).await;
    let queued = request_bytes(&s, &admin, &id).await;
    let state = s.state.clone();
    let pass = tokio::spawn(async move {
        recap::process_generate_jobs(&state, Duration::ZERO, &recap::Shutdown::default()).await
    });
    tokio::time::timeout(Duration::from_secs(10), gate.called.notified())
        .await
        .expect("the job calls the model");
    let (st, _) = s
        .call(&admin, Method::DELETE, &format!("/transcripts/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    gate.go.notify_one();
    let pass = pass.await.unwrap().unwrap();
    assert_eq!(pass.handled, 1, "{pass:?}");
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 100, "reserved": 0, "used": 0})
    );
    let output = format!("/outputs/{}", queued["id"].as_str().unwrap());
    assert_eq!(s.get(&admin, &output).await.0, StatusCode::NOT_FOUND);
    let left = s
        .state
        .files
        .list(&format!("{T}/outputs/{id}/"), None, 100)
        .await
        .unwrap();
    assert!(left.files.is_empty(), "{:?}", left.files);
}

/// The output is deleted while the model writes it: when the answer comes its job ends
/// quietly at once (not retried), nothing is charged, and no file of it is left behind.
#[tokio::test]
async fn an_output_deleted_while_it_is_written_charges_nothing_and_keeps_nothing() {
    let gate = Arc::new(Gate {
        called: tokio::sync::Notify::new(),
        go: tokio::sync::Notify::new(),
    });
    let (s, admin, id) = with_registry(Arc::new(GateRegistry(gate.clone()))).await;
    let queued = request_bytes(&s, &admin, &id).await;
    let out = queued["id"].as_str().unwrap().to_string();
    let state = s.state.clone();
    let pass = tokio::spawn(async move {
        recap::process_generate_jobs(&state, Duration::ZERO, &recap::Shutdown::default()).await
    });
    tokio::time::timeout(Duration::from_secs(10), gate.called.notified())
        .await
        .expect("the job calls the model");
    let output = format!("/outputs/{out}");
    let (st, _) = s.call(&admin, Method::DELETE, &output, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    gate.go.notify_one();
    let pass = pass.await.unwrap().unwrap();
    assert_eq!((pass.handled, pass.retrying.len()), (1, 0), "{pass:?}");
    assert_eq!(
        s.get(&admin, "/credits").await.1,
        json!({"available": 100, "reserved": 0, "used": 0})
    );
    assert_eq!(
        s.get(&admin, "/usage").await.1["calls"],
        0,
        "no ledger entry"
    );
    assert_eq!(s.get(&admin, &output).await.0, StatusCode::NOT_FOUND);
    let left = s
        .state
        .files
        .list(&format!("{T}/outputs/{id}/{out}/"), None, 100)
        .await
        .unwrap();
    assert!(left.files.is_empty(), "{:?}", left.files);
    // Nothing comes back to the queue.
    assert_eq!(s.drain_jobs().await, 0);
}

/// A request the balance cannot cover is refused as a whole: nothing is left behind (no
/// failed outputs, no reservation), and the 402 says what the whole request needs (every
/// output's reservation, those after the one that found the balance short too) against what
/// was available before it.
#[tokio::test]
async fn a_request_refused_for_credits_leaves_nothing_and_says_what_it_needed() {
    let (s, _fake, admin, id) = with_fake(vec![pride()]).await;
    let all_four =
        r#"{"output_types":["one_pager","slides","bytes","anchors"],"model":"openai/gpt-4o-mini"}"#;
    let path = format!("/transcripts/{id}/outputs");
    // What each of the four reserves.
    let (st, first) = s.call(&admin, Method::POST, &path, Some(all_four)).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{first}");
    let mut made: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let reserved: Vec<u64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["reserved_credits"].as_u64().unwrap())
        .collect();
    assert!(reserved.iter().all(|&r| r > 0), "{first}");
    let whole: u64 = reserved.iter().sum();
    // Enough for the first output only: the balance runs short at the second of four.
    let left = s.get(&admin, "/credits").await.1["available"]
        .as_u64()
        .unwrap();
    assert!(left > reserved[0], "{left} {reserved:?}");
    let (st, r) = s
        .call_with(
            &admin,
            Method::POST,
            "/credits/refunds",
            Some(
                &json!({"user_id": ADMIN, "credits": left - reserved[0], "amount_micro_usd": 0})
                    .to_string(),
            ),
            &[("idempotency-key", "down-to-one")],
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let before = s.get(&admin, "/credits").await.1;
    let available = before["available"].as_u64().unwrap();
    assert_eq!(available, reserved[0]);
    let (st, refused) = s.call(&admin, Method::POST, &path, Some(all_four)).await;
    assert_eq!(st, StatusCode::PAYMENT_REQUIRED, "{refused}");
    assert_eq!(refused["available"].as_u64(), Some(available), "{refused}");
    assert_eq!(
        refused["needed"].as_u64(),
        Some(whole),
        "all four outputs' reservations {reserved:?}: {refused}"
    );
    assert_eq!(refused["shortfall"].as_u64(), Some(whole - available));
    assert_eq!(s.get(&admin, "/credits").await.1, before, "nothing held");
    let (_, all) = s.get(&admin, "/outputs?limit=100").await;
    let mut listed: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    made.sort();
    assert_eq!(listed, made, "no output of the refused request");
}

/// `GET /outputs?type=`: pages are full until the last (reading on past outputs of other
/// types), and a type that does not exist is a 400.
#[tokio::test]
async fn outputs_of_one_type_come_in_full_pages() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let id = ready_transcript(&s, &admin).await;
    let path = format!("/transcripts/{id}/outputs");
    let all_four = r#"{"output_types":["one_pager","slides","bytes","anchors"]}"#;
    for _ in 0..3 {
        let (st, body) = s.call(&admin, Method::POST, &path, Some(all_four)).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    }
    // Newest first, the slides one in four: a page of 2 reads past the others.
    let (_, first) = s.get(&admin, "/outputs?type=slides&limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a third follows");
    let (_, last) = s
        .get(
            &admin,
            &format!("/outputs?type=slides&limit=2&cursor={cursor}"),
        )
        .await;
    let items = last["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{last}");
    assert!(items.iter().all(|o| o["output_type"] == "slides"));
    assert!(last.get("next_cursor").is_none(), "{last}");
    let (st, p) = s.get(&admin, "/outputs?type=bogus").await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("type")),
        "{p}"
    );
}

/// Revisions of one output are numbered in one line: regenerating the same output twice makes
/// revisions 2 and 3, regenerating a later revision goes on from there, and regenerations made
/// at once never share a number.
#[tokio::test]
async fn revisions_of_an_output_are_numbered_once_each() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let id = ready_transcript(&s, &admin).await;
    let (st, made) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["one_pager"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{made}");
    let first = made["items"][0]["id"].as_str().unwrap().to_string();
    let regenerate = |of: String| {
        let s = &s;
        let admin = &admin;
        async move {
            let (st, o) = s
                .call(
                    admin,
                    Method::POST,
                    &format!("/outputs/{of}/regenerate"),
                    None,
                )
                .await;
            assert_eq!(st, StatusCode::ACCEPTED, "{o}");
            o
        }
    };
    let second = regenerate(first.clone()).await;
    let third = regenerate(first.clone()).await;
    assert_eq!(
        (second["revision"].as_u64(), third["revision"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(third["regenerates"], first.as_str());
    assert_eq!(third["origin"], first.as_str());
    let fourth = regenerate(third["id"].as_str().unwrap().to_string()).await;
    assert_eq!(fourth["revision"], 4);
    assert_eq!(fourth["origin"], first.as_str(), "one line");
    let at_once = futures::future::join_all((0..8).map(|_| regenerate(first.clone()))).await;
    let mut numbers: Vec<u64> = at_once
        .iter()
        .map(|o| o["revision"].as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (5..=12).collect::<Vec<u64>>());
}

/// The AI calls the caller's tier allows this period.
async fn calls_left(s: &Stack, who: &Who) -> i64 {
    let (st, sub) = s.get(who, "/subscription").await;
    assert_eq!(st, StatusCode::OK, "{sub}");
    sub["calls_remaining"].as_i64().unwrap()
}

/// The AI-call allowance counts the model calls made for the caller: an output refused with
/// its request, or deleted while queued, gives back the call its reservation took (once); one
/// whose job called the model and then failed keeps it used, though its credits go back.
#[tokio::test]
async fn outputs_that_call_no_model_give_their_ai_call_back() {
    // Every answer is off the schema: a job that runs calls the model and fails.
    let (s, fake, admin, id) = with_fake(vec![json!({"wrong": true})]).await;
    let root = s.who_admin(T, ADMIN, true);
    let tier = json!({"id": "metered", "name": "Metered", "price_micro_usd": 0, "monthly_credits": 0,
        "ai_calls_per_period": 10, "allowed_models": [], "features": {},
        "credit_rate": {"micro_usd_per_credit": 1000}, "overage": {"policy": "block"}, "active": true});
    s.subscribe(&root, &admin, ADMIN, &tier).await;
    assert_eq!(calls_left(&s, &admin).await, 10);

    // Called the model, failed: the credits go back, the call stays used.
    let failed = request_bytes(&s, &admin, &id).await;
    s.drain_jobs().await;
    let o = output(&s, &admin, &failed).await;
    assert_eq!(o["status"], "failed", "{o}");
    assert!(*fake.calls.lock().unwrap() > 0);
    assert_eq!(s.get(&admin, "/credits").await.1["reserved"], 0);
    assert_eq!(calls_left(&s, &admin).await, 9);

    // Deleted while queued: its call comes back, once.
    let queued = request_bytes(&s, &admin, &id).await;
    assert_eq!(calls_left(&s, &admin).await, 8);
    let (st, _) = s
        .call(
            &admin,
            Method::DELETE,
            &format!("/outputs/{}", queued["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(calls_left(&s, &admin).await, 9);
    let job = recap_domain::ids::JobId::parse(queued["job"].as_str().unwrap()).unwrap();
    let again = recap_domain::credits::release(
        s.state.records.as_ref(),
        &admin.tenant,
        &job,
        recap_domain::credits::Call::Unused,
    )
    .await
    .unwrap();
    assert!(!again, "released once");
    assert_eq!(calls_left(&s, &admin).await, 9);

    // Refused for credits at its second output: the first one's call comes back with it.
    let (_, q) = s
        .get(
            &admin,
            &format!(
                "/transcripts/{id}/outputs/quote?output_types=one_pager,slides&model=openai/gpt-4o-mini"
            ),
        )
        .await;
    let first = q["items"][0]["credits"].as_u64().unwrap();
    let held = s.get(&admin, "/credits").await.1["available"]
        .as_u64()
        .unwrap();
    let (st, r) = s
        .call_with(
            &admin,
            Method::POST,
            "/credits/refunds",
            Some(
                &json!({"user_id": ADMIN, "credits": held - first, "amount_micro_usd": 0})
                    .to_string(),
            ),
            &[("idempotency-key", "down-to-one")],
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["one_pager","slides"],"model":"openai/gpt-4o-mini"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::PAYMENT_REQUIRED, "{p}");
    assert_eq!(calls_left(&s, &admin).await, 9);
}
