//! Every function's handler on the real events in `events/`, over an embedded store: the API
//! functions through `with_caller` and their group's router (as `serve_routes` runs them), the
//! event functions through `recap_lambda::handlers` (as their `main.rs` runs them).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use recap_domain::access::{self, Access};
use recap_domain::clock::{Clock, IdGen, ManualClock, SystemClock, SystemIds};
use recap_domain::credits::{self, Purchase, ReserveRequest};
use recap_domain::files::FileKey;
use recap_domain::ids::{JobId, TenantId, UserId};
use recap_domain::money::DEFAULT_RATE;
use recap_domain::transcripts::{self, Ingested, NewTranscript};
use recap_domain::{generation, reconcile};
use recap_http::routes::Group;
use recap_http::{AppState, router_for};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The tenant and user of the authorizer claims in the API Gateway fixtures.
const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADA: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
/// The transcripts the S3 fixtures' keys name, the job and the output the SQS fixture names.
const X: &str = "01936b2e-1e4a-7cc0-8d3b-2f0a5e1c9b11";
const Y: &str = "01936b2e-1e4a-7cc0-8d3b-2f0a5e1c9b12";
const JOB: &str = "01a2109b-3428-7520-9db9-7a77690fc938";
const OUTPUT: &str = "01a2109b-3428-7520-9db9-7a77690fc939";
const POISON: &str = "2e1424d4-f796-459a-8184-9c92662be6da";

fn fixture(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn event(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// The ids the fixtures name, in the order the use cases ask for them; then fresh ones.
struct FixtureIds(Mutex<Vec<uuid::Uuid>>);

impl FixtureIds {
    fn new(ids: &[&str]) -> Self {
        FixtureIds(Mutex::new(ids.iter().map(|i| i.parse().unwrap()).collect()))
    }
}

impl IdGen for FixtureIds {
    fn new_id(&self) -> uuid::Uuid {
        let mut q = self.0.lock().unwrap();
        if q.is_empty() {
            SystemIds.new_id()
        } else {
            q.remove(0)
        }
    }
}

struct Env {
    state: AppState,
    _dir: tempfile::TempDir,
}

impl Env {
    /// A seeded store (catalog, transcript types, tiers), as the deployment's is.
    async fn new(ids: &[&str]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = recap_embedded::EmbeddedStore::open(dir.path()).unwrap();
        // Like S3 here: writing a file announces nothing; the test delivers S3's event.
        let state = common::seeded(&store, Arc::new(FixtureIds::new(ids))).await;
        Env { state, _dir: dir }
    }

    fn transcripts(&self) -> transcripts::Ports<'_> {
        transcripts::Ports {
            records: self.state.records.as_ref(),
            files: self.state.files.as_ref(),
            clock: self.state.clock.as_ref(),
            ids: self.state.ids.as_ref(),
        }
    }

    fn generation(&self) -> generation::Ports<'_> {
        generation::Ports {
            records: self.state.records.as_ref(),
            files: self.state.files.as_ref(),
            queue: self.state.generate.as_ref(),
            clock: self.state.clock.as_ref(),
            ids: self.state.ids.as_ref(),
            models: self.state.models.as_ref(),
        }
    }

    /// The access of the caller the API Gateway fixtures name (read from their claims).
    async fn ada(&self) -> Access {
        let req =
            lambda_http::request::from_str(&fixture("apigw-v2-jwt-get-transcripts.json")).unwrap();
        let caller = recap_lambda::caller_of(&req).expect("the fixture's claims name a caller");
        assert_eq!(caller.user.to_string(), ADA);
        access::load(self.state.records.as_ref(), &SystemClock, &caller)
            .await
            .unwrap()
    }

    /// Sends an API Gateway v2 event to the router of `group`, as the function does.
    async fn call(&self, group: Group, name: &str) -> (StatusCode, Value) {
        let req = lambda_http::request::from_str(&fixture(name)).expect("an API Gateway event");
        let req = recap_lambda::with_caller(req);
        let (parts, body) = req.into_parts();
        let req = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
        let res = router_for(&[group], self.state.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }

    /// Transcript X awaiting its upload, its file in the store as S3 would hold it, and the
    /// S3 event for it run through the `on-upload` handler.
    async fn uploaded_transcript(&self, a: &Access) -> Vec<Ingested> {
        let created = transcripts::create(
            self.transcripts(),
            a,
            NewTranscript {
                title: Some("Réunion du 3 mars".into()),
                kind: Some("meeting".into()),
                size_bytes: Some(765),
                file_name: Some("Réunion du 3 mars (final).vtt".into()),
                ..NewTranscript::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(created.transcript.id.to_string(), X);
        let vtt = std::fs::read(format!(
            "{}/../transcript/tests/corpus/webvtt-py/sample.vtt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let key = FileKey::parse(format!("{T}/uploads/{X}/Réunion du 3 mars (final).vtt")).unwrap();
        self.state.files.put(&key, vtt, "text/vtt").await.unwrap();
        recap_lambda::handlers::on_upload(
            self.generation(),
            event("s3-object-created-unicode-key.json"),
        )
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn on_upload_parses_s3_uploads_and_get_transcripts_lists_the_ready_one() {
    let env = Env::new(&[X, Y]).await;
    let ada = env.ada().await;
    assert_eq!(
        env.uploaded_transcript(&ada).await,
        vec![Ingested::Ready(X.parse().unwrap())],
        "the URL-encoded key (é, spaces as +, parentheses) named the transcript"
    );
    // The same event again, and S3's older one for the same key: nothing is done.
    for name in [
        "s3-object-created-unicode-key.json",
        "s3-object-created-unicode-key-older.json",
    ] {
        let again = recap_lambda::handlers::on_upload(env.generation(), event(name))
            .await
            .unwrap();
        assert!(
            matches!(again[..], [Ingested::Skipped(_)]),
            "{name}: {again:?}"
        );
    }
    // An upload over the limit fails its transcript (Y) without being read.
    transcripts::create(
        env.transcripts(),
        &ada,
        NewTranscript {
            title: Some("All hands".into()),
            kind: Some("meeting".into()),
            size_bytes: Some(1000),
            file_name: Some("all hands.srt".into()),
            ..NewTranscript::default()
        },
    )
    .await
    .unwrap();
    let oversize = recap_lambda::handlers::on_upload(
        env.generation(),
        event("s3-object-created-oversize.json"),
    )
    .await
    .unwrap();
    assert!(
        matches!(&oversize[..], [Ingested::Failed(id, why)] if id.to_string() == Y && why.contains("30000000 bytes")),
        "{oversize:?}"
    );

    // GET /transcripts?status=ready&limit=10, through the api-transcripts router.
    let (status, page) = env
        .call(Group::Transcripts, "apigw-v2-jwt-get-transcripts.json")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the failed upload is filtered out: {page}");
    assert_eq!(items[0]["id"], X);
    assert_eq!(items[0]["title"], "Réunion du 3 mars");
    assert_eq!(items[0]["status"], "ready");
    assert_eq!(items[0]["segment_count"], 16);
    assert_eq!(items[0]["owner"], ADA);
}

#[tokio::test]
async fn generate_makes_the_queued_output_and_reports_only_the_poison_message() {
    let env = Env::new(&[X, JOB, OUTPUT]).await;
    let ada = env.ada().await;
    env.uploaded_transcript(&ada).await;
    // POST /transcripts/X/outputs, through the api-generation router: reserved and queued.
    let (status, queued) = env
        .call(
            Group::Generation,
            "apigw-v2-jwt-post-transcript-outputs.json",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["items"].as_array().unwrap().len(), 1, "{queued}");
    assert_eq!(queued["items"][0]["id"], OUTPUT, "the SQS fixture's job");
    assert_eq!(queued["items"][0]["status"], "queued", "{queued}");

    let batch = event("sqs-generate-batch.json");
    let answer = recap_lambda::handlers::generate(env.generation(), batch.clone(), 5)
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": POISON}]}),
        "the job succeeded; only the message that is not a job goes back to SQS"
    );

    // GET /outputs?type=one_pager, through the api-outputs router.
    let (status, page) = env
        .call(Group::Outputs, "apigw-v2-jwt-get-outputs.json")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let o = &page["items"][0];
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(o["id"], OUTPUT);
    assert_eq!(
        (o["status"].as_str(), o["output_type"].as_str()),
        (Some("done"), Some("one_pager"))
    );
    assert_eq!(o["cost_credits"], 0, "the offline provider is free");
    assert!(o["verified_quotes"].as_u64().unwrap() > 0, "{o}");
    let files: Vec<&str> = o["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["output.md", "output.html", "result.json"]);

    // SQS delivers the batch again: the finished job is not made or charged twice.
    let again = recap_lambda::handlers::generate(env.generation(), batch, 5)
        .await
        .unwrap();
    assert_eq!(again, answer);
    let (_, after) = env
        .call(Group::Outputs, "apigw-v2-jwt-get-outputs.json")
        .await;
    assert_eq!(after["items"][0]["version"], o["version"], "{after}");
    let job = credits::job(
        env.state.records.as_ref(),
        &TenantId::parse(T).unwrap(),
        &JobId::parse(JOB).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(job.status, credits::JobStatus::Settled);
}

#[tokio::test]
async fn the_scheduled_event_releases_an_expired_reservation_that_get_credits_shows() {
    let env = Env::new(&[]).await;
    let ada = env.ada().await;
    let records = env.state.records.as_ref();
    let (t, u) = (ada.caller.tenant, ada.caller.user);
    credits::purchase(
        records,
        &SystemClock,
        &SystemIds,
        &t,
        &u,
        Some("fixture-purchase"),
        Purchase {
            user_id: ADA.into(),
            credits: 100,
            amount_micro_usd: 1_000_000,
        },
    )
    .await
    .unwrap();
    // A generate function that died after reserving: its job is never settled.
    let job = credits::reserve(
        records,
        &SystemClock,
        ReserveRequest {
            job: JobId::parse(JOB).unwrap(),
            tenant: t,
            user: UserId::parse(ADA).unwrap(),
            team: None,
            transcript: None,
            output_type: Some("one_pager".into()),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            input_tokens: 10_000,
            max_output_tokens: 1_000,
            rate: DEFAULT_RATE,
            split: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(job.reserved_credits, 3);
    let (status, balance) = env
        .call(Group::Billing, "apigw-v2-jwt-get-credits.json")
        .await;
    assert_eq!(status, StatusCode::OK, "{balance}");
    assert_eq!(
        (balance["available"].as_u64(), balance["reserved"].as_u64()),
        (Some(97), Some(3))
    );

    // The schedule fires after the lease ran out.
    let later = ManualClock::at(
        SystemClock
            .now()
            .plus(credits::LEASE + Duration::from_secs(60)),
    );
    let scheduled = event("eventbridge-scheduled.json");
    let report = recap_lambda::handlers::reconcile(records, &later, scheduled.clone())
        .await
        .unwrap();
    assert_eq!(report.reservations_released, 1, "{report:?}");
    let (_, balance) = env
        .call(Group::Billing, "apigw-v2-jwt-get-credits.json")
        .await;
    assert_eq!(
        (
            balance["available"].as_u64(),
            balance["reserved"].as_u64(),
            balance["used"].as_u64()
        ),
        (Some(100), Some(0), Some(0)),
        "{balance}"
    );
    // The next run finds nothing to do.
    let again = recap_lambda::handlers::reconcile(records, &later, scheduled)
        .await
        .unwrap();
    assert_eq!(
        again,
        reconcile::Report {
            balances_checked: again.balances_checked,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn get_models_lists_the_seeded_catalog_with_prices() {
    let env = Env::new(&[]).await;
    let (status, page) = env
        .call(Group::Catalog, "apigw-v2-jwt-get-models.json")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let models = page["items"].as_array().unwrap();
    let find = |provider: &str, model: &str| {
        models
            .iter()
            .find(|m| m["provider"] == provider && m["model"] == model)
            .unwrap_or_else(|| panic!("{provider}/{model} in {page}"))
    };
    assert_eq!(
        find("openai", "gpt-4o-mini")["price"]["uncached_input"],
        150_000
    );
    assert_eq!(find("offline", "extractive")["price"]["output"], 0);
    // Another group's function does not serve the route.
    let (status, _) = env
        .call(Group::Billing, "apigw-v2-jwt-get-models.json")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
