//! Transcripts: inline content and uploads, the upload trigger fed real S3 events, limits, and
//! every route of the transcripts API.

mod common;

use std::sync::Arc;
use std::sync::Mutex;

use axum::http::{Method, StatusCode};
use common::Stack;
use recap_domain::clock::IdGen;
use recap_domain::files::{FileKey, Files};
use recap_domain::transcripts::{self, Ingested};
use serde_json::{Value, json};

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const OTHER: &str = "9b2d6c1e-3f4a-4b5c-8d7e-0a1b2c3d4e5f";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";
const VIEWER: &str = "22222222-2222-4222-8222-222222222222";
const X: &str = "01936b2e-1e4a-7cc0-8d3b-2f0a5e1c9b11";
const Y: &str = "01936b2e-1e4a-7cc0-8d3b-2f0a5e1c9b12";

fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/shared/transcript/tests/corpus/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn event(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The ids the fixtures in `events/` name, then fresh ones.
struct FixtureIds(Mutex<Vec<uuid::Uuid>>);

impl IdGen for FixtureIds {
    fn new_id(&self) -> uuid::Uuid {
        let mut q = self.0.lock().unwrap();
        if q.is_empty() {
            uuid::Uuid::now_v7()
        } else {
            q.remove(0)
        }
    }
}

fn post(body: Value) -> Option<String> {
    Some(body.to_string())
}

#[tokio::test]
async fn inline_content_becomes_a_ready_transcript_with_segments() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let content = String::from_utf8(corpus("webvtt-py/sample.vtt")).unwrap();
    let (st, created) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            post(json!({"title": "Sample", "type": "media", "sub_type": "podcast", "content": content, "output_types": ["one_pager", "anchors"]}))
                .as_deref(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "processing");
    assert!(created.get("upload").is_none());
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        s.drain_uploads().await,
        1,
        "the inline content fired the upload trigger"
    );
    let (st, t) = s
        .get(&admin, &format!("/transcripts/{id}?segments=inline"))
        .await;
    assert_eq!(st, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "ready");
    assert_eq!(t["format"], "webvtt");
    assert_eq!(t["segment_count"], 16);
    assert_eq!(t["segments"].as_array().unwrap().len(), 16);
    assert_eq!(t["segments"][0]["id"], "s0001");
    assert!(t["duration_ms"].as_u64().unwrap() > 0);
    // o200k_base counted once at upload: the record's estimate is the exact count, and the
    // normalized file carries each segment's count for generation's chunking.
    let exact: Vec<u64> = t["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seg| {
            recap_transcript::estimate_tokens(
                seg["text"].as_str().unwrap(),
                recap_transcript::TokenizerFamily::OpenAi,
            )
        })
        .collect();
    assert_eq!(t["token_estimate"], exact.iter().sum::<u64>());
    let file = FileKey::parse(format!("{T}/transcripts/{id}/normalized.json")).unwrap();
    let stored: Value =
        serde_json::from_slice(&s.state.files.get(&file).await.unwrap().unwrap().0).unwrap();
    assert_eq!(stored["openai_tokens"], json!(exact));
    assert_eq!(
        t["generation"], "queued",
        "the output types named at creation were requested after the upload"
    );
    // Without ?segments=inline: a download URL for the normalized transcript.
    let (_, t) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert!(t.get("segments").is_none());
    assert!(
        t["segments_url"]["url"]
            .as_str()
            .unwrap()
            .contains("/files/")
    );
    // The event was consumed: nothing is processed twice.
    assert_eq!(s.drain_uploads().await, 0);
}

#[tokio::test]
async fn the_upload_trigger_reads_real_s3_events_once_and_in_order() {
    let ids = FixtureIds(Mutex::new(vec![X.parse().unwrap(), Y.parse().unwrap()]));
    let s = Stack::seeded().await.with_ids(Arc::new(ids));
    let admin = s.who(T, ADMIN);
    let (st, created) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            post(json!({"title": "Réunion", "type": "meeting", "size_bytes": 765, "file_name": "Réunion du 3 mars (final).vtt"})).as_deref(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], X);
    assert_eq!(created["status"], "awaiting_upload");
    assert_eq!(created["upload"]["method"], "PUT");
    let headers = created["upload"]["headers"].to_string();
    assert!(
        headers.contains("765") && headers.contains("text/vtt"),
        "{headers}"
    );
    // The file arrives (as S3 would store it), then S3's event for it.
    let key = FileKey::parse(format!("{T}/uploads/{X}/Réunion du 3 mars (final).vtt")).unwrap();
    // A store without event notifications: the test delivers S3's event itself.
    s.store
        .files("http://127.0.0.1:9")
        .put(&key, corpus("webvtt-py/sample.vtt"), "text/vtt")
        .await
        .unwrap();
    let fixture = event("s3-object-created-unicode-key.json");
    let first = transcripts::on_upload_event(s.ports(), &fixture)
        .await
        .unwrap();
    assert_eq!(first, vec![Ingested::Ready(X.parse().unwrap())]);
    let (_, t) = s.get(&admin, &format!("/transcripts/{X}")).await;
    assert_eq!(
        (t["status"].as_str(), t["segment_count"].as_u64()),
        (Some("ready"), Some(16))
    );
    assert_eq!(t["sequencer"], "0055AED6DCD90281E5");
    let version = t["version"].clone();
    // The same event again, and an older one: nothing happens.
    for name in [
        "s3-object-created-unicode-key.json",
        "s3-object-created-unicode-key-older.json",
    ] {
        let again = transcripts::on_upload_event(s.ports(), &event(name))
            .await
            .unwrap();
        assert!(
            matches!(again[..], [Ingested::Skipped(_)]),
            "{name}: {again:?}"
        );
    }
    let (_, t) = s.get(&admin, &format!("/transcripts/{X}")).await;
    assert_eq!(
        t["version"], version,
        "duplicate and older events wrote nothing"
    );

    // An event for an object over the size limit fails the transcript before parsing.
    let (st, _) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            post(json!({"title": "All hands", "type": "meeting", "size_bytes": 1000, "file_name": "all hands.srt"})).as_deref(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let out = transcripts::on_upload_event(s.ports(), &event("s3-object-created-oversize.json"))
        .await
        .unwrap();
    assert!(
        matches!(&out[..], [Ingested::Failed(_, why)] if why.contains("over the limit")),
        "{out:?}"
    );
    let (_, t) = s.get(&admin, &format!("/transcripts/{Y}")).await;
    assert_eq!(t["status"], "failed");
    assert!(
        t["failure"].as_str().unwrap().contains("30000000 bytes"),
        "{t}"
    );
}

#[tokio::test]
async fn a_file_that_is_no_transcript_fails_with_a_reason_and_is_kept() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let (_, created) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            post(json!({"title": "Oops", "type": "meeting", "content": "{\"not\": \"a transcript\"}", "file_name": "notes.json"})).as_deref(),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    s.drain_uploads().await;
    let (_, t) = s.get(&admin, &format!("/transcripts/{id}")).await;
    assert_eq!(t["status"], "failed", "{t}");
    let why = t["failure"].as_str().unwrap();
    assert!(why.starts_with("not a transcript"), "{why}");
    let raw = FileKey::parse(format!("{T}/uploads/{id}/notes.json")).unwrap();
    assert!(
        s.state.files.head(&raw).await.unwrap().is_some(),
        "the raw upload is kept"
    );
    assert!(t.get("segments_url").is_none());
    let (st, _) = s
        .get(&admin, &format!("/transcripts/{id}?segments=inline"))
        .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn bad_requests_are_clear_400s() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let big = "A: x\n".repeat(210_000);
    for (body, field) in [
        (json!({"type": "meeting", "content": "A: hi"}), "title"),
        (json!({"title": "x", "content": "A: hi"}), "type"),
        (
            json!({"title": "x", "type": "spaceship", "content": "A: hi"}),
            "type",
        ),
        (
            json!({"title": "x", "type": "meeting", "sub_type": "picnic", "content": "A: hi"}),
            "type",
        ),
        (json!({"title": "x", "type": "meeting"}), "content"),
        (
            json!({"title": "x", "type": "meeting", "content": "  "}),
            "content",
        ),
        (
            json!({"title": "x", "type": "meeting", "content": big}),
            "content",
        ),
        (
            json!({"title": "x", "type": "meeting", "content": "A: hi", "size_bytes": 5}),
            "content",
        ),
        (
            json!({"title": "x", "type": "meeting", "size_bytes": 0}),
            "size_bytes",
        ),
        (
            json!({"title": "x", "type": "meeting", "size_bytes": 26_214_401}),
            "size_bytes",
        ),
        (
            json!({"title": "x", "type": "meeting", "content": "A: hi", "output_types": ["poem"]}),
            "output_types",
        ),
        (
            json!({"title": "x", "type": "meeting", "content": "A: hi", "language": "english!"}),
            "language",
        ),
        (
            json!({"title": "x", "type": "meeting", "content": "A: hi", "team": "nope"}),
            "team",
        ),
        (
            json!({"title": "x", "type": "meeting", "content": "A: hi", "colour": "red"}),
            "body",
        ),
    ] {
        let (st, p) = s
            .call(
                &admin,
                Method::POST,
                "/transcripts",
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body:.80}: {p}");
        assert_eq!(p["field"], field, "{p}");
    }
    for q in ["status=done", "limit=1000", "limit=x"] {
        let (st, _) = s.get(&admin, &format!("/transcripts?{q}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn list_filter_patch_and_delete() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let mut ids = Vec::new();
    for (title, kind, content) in [
        ("one", "meeting", "Ada: one\nGrace: two"),
        (
            "two",
            "media",
            "[00:00:01] Ada: hello\n[00:00:05] Grace: hi there",
        ),
        ("three", "meeting", "this is { not a transcript"),
    ] {
        let (_, c) = s
            .call(&admin, Method::POST, "/transcripts", post(json!({"title": title, "type": kind, "content": content, "file_name": if title == "three" {"x.json"} else {"t.txt"}})).as_deref())
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    s.drain_uploads().await;
    let titles = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_string())
            .collect()
    };
    let (st, all) = s.get(&admin, "/transcripts").await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(titles(&all), ["three", "two", "one"], "newest first");
    let (_, meetings) = s.get(&admin, "/transcripts?type=meeting").await;
    assert_eq!(titles(&meetings), ["three", "one"]);
    let (_, ready) = s.get(&admin, "/transcripts?status=ready").await;
    assert_eq!(titles(&ready), ["two", "one"]);
    let (_, failed) = s
        .get(&admin, "/transcripts?status=failed&type=meeting")
        .await;
    assert_eq!(titles(&failed), ["three"]);
    let (_, p1) = s.get(&admin, "/transcripts?type=meeting&limit=1").await;
    assert_eq!(titles(&p1), ["three"]);
    let c = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = s
        .get(
            &admin,
            &format!("/transcripts?type=meeting&limit=1&cursor={c}"),
        )
        .await;
    assert_eq!(titles(&p2), ["one"]);
    assert!(p2.get("next_cursor").is_none(), "{p2}");

    // PATCH: title, type, and a speaker's display name (stored segments stay as they were).
    let two = &ids[1];
    let normalized = FileKey::parse(format!("{T}/transcripts/{two}/normalized.json")).unwrap();
    let before = s.state.files.get(&normalized).await.unwrap().unwrap().0;
    let (st, t) = s
        .call(&admin, Method::PATCH, &format!("/transcripts/{two}"),
              post(json!({"title": "Two, renamed", "type": "sales", "sub_type": "discovery_call", "speakers": {"spk_1": "Ada Lovelace"}})).as_deref())
        .await;
    assert_eq!(st, StatusCode::OK, "{t}");
    assert_eq!(
        (
            t["title"].as_str(),
            t["type"].as_str(),
            t["sub_type"].as_str()
        ),
        (Some("Two, renamed"), Some("sales"), Some("discovery_call"))
    );
    assert_eq!(
        t["speakers"][0],
        json!({"id": "spk_1", "name": "Ada Lovelace"})
    );
    let (_, inline) = s
        .get(&admin, &format!("/transcripts/{two}?segments=inline"))
        .await;
    assert_eq!(inline["speakers"][0]["name"], "Ada Lovelace");
    assert_eq!(inline["segments"][0]["speaker"], "spk_1");
    assert_eq!(
        s.state.files.get(&normalized).await.unwrap().unwrap().0,
        before,
        "segments never rewritten"
    );
    for (body, field) in [
        (json!({"speakers": {"spk_9": "Nobody"}}), "speakers"),
        (json!({"speakers": {"spk_1": ""}}), "speakers"),
        (json!({"type": "nope"}), "type"),
        (json!({"title": ""}), "title"),
    ] {
        let (st, p) = s
            .call(
                &admin,
                Method::PATCH,
                &format!("/transcripts/{two}"),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }

    // Another tenant sees none of it.
    let stranger = s.who(OTHER, ADMIN);
    for m in [Method::GET, Method::PATCH, Method::DELETE] {
        let (st, _) = s
            .call(
                &stranger,
                m.clone(),
                &format!("/transcripts/{two}"),
                Some("{}"),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{m}");
    }
    assert_eq!(s.get(&stranger, "/transcripts").await.1["items"], json!([]));

    // DELETE takes the record and every file.
    let (st, _) = s
        .call(&admin, Method::DELETE, &format!("/transcripts/{two}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&admin, &format!("/transcripts/{two}")).await.0,
        StatusCode::NOT_FOUND
    );
    for prefix in [
        format!("{T}/uploads/{two}/"),
        format!("{T}/transcripts/{two}/"),
    ] {
        let left = s.state.files.list(&prefix, None, 10).await.unwrap();
        assert!(left.files.is_empty(), "{prefix}: {:?}", left.files);
    }
    let (_, all) = s.get(&admin, "/transcripts").await;
    assert_eq!(titles(&all), ["three", "one"]);
    let (st, _) = s
        .call(&admin, Method::DELETE, &format!("/transcripts/{two}"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn team_transcripts_are_read_through_the_team_role() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let viewer = s.who(T, VIEWER);
    s.get(&admin, "/me").await;
    s.get(&viewer, "/me").await;
    // The second user holds no tenant-wide permission on transcripts, only a team role.
    s.call(
        &admin,
        Method::POST,
        "/roles",
        Some(r#"{"name":"nobody","permissions":[]}"#),
    )
    .await;
    s.call(
        &admin,
        Method::PATCH,
        &format!("/users/{VIEWER}"),
        Some(r#"{"role":"nobody"}"#),
    )
    .await;
    let (_, team) = s
        .call(&admin, Method::POST, "/teams", Some(r#"{"name":"Sales"}"#))
        .await;
    let team = team["id"].as_str().unwrap();
    s.call(
        &admin,
        Method::PUT,
        &format!("/teams/{team}/members/{VIEWER}"),
        Some(r#"{"role":"viewer"}"#),
    )
    .await;
    let (_, in_team) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            post(json!({"title": "team", "type": "meeting", "team": team, "content": "A: hi"}))
                .as_deref(),
        )
        .await;
    let (_, outside) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            post(json!({"title": "tenant", "type": "meeting", "content": "A: hi"})).as_deref(),
        )
        .await;
    assert_eq!(in_team["team"], team);
    let (st, list) = s.get(&viewer, "/transcripts").await;
    assert_eq!(st, StatusCode::OK);
    let seen: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["team"]);
    assert_eq!(
        s.get(
            &viewer,
            &format!("/transcripts/{}", in_team["id"].as_str().unwrap())
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        s.get(
            &viewer,
            &format!("/transcripts/{}", outside["id"].as_str().unwrap())
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // A team viewer cannot write in the team.
    let (st, _) = s
        .call(
            &viewer,
            Method::POST,
            "/transcripts",
            post(json!({"title": "x", "type": "meeting", "team": team, "content": "A: hi"}))
                .as_deref(),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn tenants_define_their_own_types_with_a_valid_schema() {
    let s = Stack::seeded().await;
    let admin = s.who(T, ADMIN);
    let (_, all) = s.get(&admin, "/transcript-types").await;
    let names: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["type"].as_str().unwrap(),
                t["sub_type"].as_str().unwrap()
            )
        })
        .collect();
    for b in [
        "meeting/standup",
        "meeting/one_on_one",
        "sales/discovery_call",
        "education/lecture",
        "media/podcast",
        "media/interview",
    ] {
        assert!(names.iter().any(|n| n == b), "{b} in {names:?}");
    }
    let bad_schema = json!({"type": "support", "sub_type": "call", "extra_schema": {"type": "object", "properties": {"n": {"type": "nmber"}}}});
    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            "/transcript-types",
            Some(&bad_schema.to_string()),
        )
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("extra_schema")),
        "{p}"
    );
    let good = json!({"type": "support", "sub_type": "call", "instructions": "A support call.", "extra_schema": {"type": "object", "properties": {"ticket": {"type": "string"}}}});
    let (st, t) = s
        .call(
            &admin,
            Method::POST,
            "/transcript-types",
            Some(&good.to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    assert_eq!(
        s.call(
            &admin,
            Method::POST,
            "/transcript-types",
            Some(&good.to_string())
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (st, _) = s
        .call(
            &admin,
            Method::PATCH,
            "/transcript-types/meeting/standup",
            Some(r#"{"instructions":"mine now"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "built-ins are the platform's");
    let (st, t) = s
        .call(
            &admin,
            Method::PATCH,
            "/transcript-types/support/call",
            Some(r#"{"instructions":"Escalations too."}"#),
        )
        .await;
    assert_eq!(
        (st, t["instructions"].as_str()),
        (StatusCode::OK, Some("Escalations too."))
    );
    // A transcript of the new type; another tenant cannot use it.
    let body = json!({"title": "x", "type": "support", "content": "A: hi"}).to_string();
    assert_eq!(
        s.call(&admin, Method::POST, "/transcripts", Some(&body))
            .await
            .0,
        StatusCode::CREATED
    );
    let stranger = s.who(OTHER, ADMIN);
    let (st, p) = s
        .call(&stranger, Method::POST, "/transcripts", Some(&body))
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("type"))
    );
    assert_eq!(
        s.call(
            &admin,
            Method::DELETE,
            "/transcript-types/support/call",
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&admin, "/transcript-types/support/call").await.0,
        StatusCode::NOT_FOUND
    );
}
