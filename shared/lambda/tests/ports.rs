//! An API function links only the SDK clients its route group needs (`recap_lambda::Needs`);
//! the other ports are `Unavailable`. Here every route of every group runs, with an admin who
//! is also a platform admin and ids of real objects, over a state whose ports are those its
//! function has: the routes of a group that needs no files (or no queue) must never reach the
//! unavailable one, which would answer a 500.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use recap_domain::access::Caller;
use recap_domain::clock::SystemIds;
use recap_domain::files::Files;
use recap_domain::generation;
use recap_domain::ids::{TenantId, UserId};
use recap_domain::queue::Queue;
use recap_http::routes::{Group, RouteSpec, table};
use recap_http::{AppState, router_for};
use recap_lambda::{Needs, Unavailable};
use serde_json::{Value, json};
use tower::ServiceExt;

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADA: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const GRACE: &str = "9b2d6c1e-3f4a-4b5c-8d7e-0a1b2c3d4e5f";

const GROUPS: [Group; Group::ALL.len()] = Group::ALL;

fn caller(user: &str) -> Caller {
    Caller {
        user: UserId::parse(user).unwrap(),
        tenant: TenantId::parse(T).unwrap(),
        email: None,
        platform_admin: true,
    }
}

struct Env {
    /// Every port, as the local stack has them: used to make the objects the routes name.
    full: AppState,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = recap_embedded::EmbeddedStore::open(dir.path()).unwrap();
        let full = common::seeded(&store, Arc::new(SystemIds)).await;
        Env { full, _dir: dir }
    }

    /// The state of the function that serves `group`: what `serve_routes` builds.
    fn function_state(&self, group: Group) -> AppState {
        let needs = Needs::of_group(group);
        let files: Arc<dyn Files> = if needs.files {
            self.full.files.clone()
        } else {
            Arc::new(Unavailable::FILES)
        };
        let generate: Arc<dyn Queue> = if needs.queue {
            self.full.generate.clone()
        } else {
            Arc::new(Unavailable::QUEUE)
        };
        AppState {
            files,
            generate,
            ..self.full.clone()
        }
    }

    async fn call(
        &self,
        state: &AppState,
        groups: &[Group],
        user: &str,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.unwrap_or_default().to_string()))
            .unwrap();
        req.extensions_mut().insert(caller(user));
        let res = router_for(groups, state.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    /// A call with every port, for making the objects.
    async fn make(&self, method: Method, path: &str, body: Value) -> Value {
        let (st, v) = self
            .call(
                &self.full,
                &GROUPS,
                ADA,
                method.clone(),
                path,
                Some(&body.to_string()),
            )
            .await;
        assert!(st.is_success(), "{method} {path}: {st} {v}");
        v
    }

    /// The uploads waiting in the store, run through the `on-upload` handler as S3's events.
    async fn deliver_uploads(&self, transcript: &str) {
        let prefix = format!("{T}/uploads/{transcript}/");
        let page = self.full.files.list(&prefix, None, 10).await.unwrap();
        assert!(!page.files.is_empty(), "no upload under {prefix}");
        for f in page.files {
            let mut event: Value = serde_json::from_str(
                &std::fs::read_to_string(format!(
                    "{}/../../events/s3-object-created-unicode-key.json",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap(),
            )
            .unwrap();
            let key: String = f
                .key
                .to_string()
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    b' ' => "+".to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            event["Records"][0]["s3"]["object"]["key"] = json!(key);
            event["Records"][0]["s3"]["object"]["size"] = json!(f.size);
            recap_lambda::handlers::on_upload(self.generation(), event)
                .await
                .unwrap();
        }
    }

    fn generation(&self) -> generation::Ports<'_> {
        generation::Ports {
            records: self.full.records.as_ref(),
            files: self.full.files.as_ref(),
            queue: self.full.generate.as_ref(),
            clock: self.full.clock.as_ref(),
            ids: self.full.ids.as_ref(),
            models: self.full.models.as_ref(),
        }
    }

    /// Runs the queued generation jobs, as the `generate` function does.
    async fn run_jobs(&self) {
        let queue = self.full.generate.as_ref();
        loop {
            let got = queue
                .receive(10, Duration::from_secs(60), Duration::ZERO)
                .await
                .unwrap();
            if got.is_empty() {
                return;
            }
            for m in got {
                generation::process(self.generation(), &m.body, false)
                    .await
                    .unwrap();
                queue.delete(&m.receipt).await.unwrap();
            }
        }
    }

    /// A tenant with two users, a team, a custom role, a transcript type, a ready transcript,
    /// a finished output, a playlist with an item, a preference and constraints: the ids the
    /// routes' paths and bodies name.
    async fn objects(&self) -> BTreeMap<&'static str, String> {
        let get = |v: &Value, k: &str| v[k].as_str().unwrap().to_string();
        // The first user of the tenant is its admin; Grace gets the default role.
        self.make(Method::GET, "/me", Value::Null).await;
        let (st, _) = self
            .call(&self.full, &GROUPS, GRACE, Method::GET, "/me", None)
            .await;
        assert_eq!(st, StatusCode::OK);
        for user in [ADA, GRACE] {
            self.make(
                Method::PUT,
                &format!("/subscriptions/{user}"),
                json!({"tier": "pro"}),
            )
            .await;
        }
        let team = self
            .make(Method::POST, "/teams", json!({"name": "Sales"}))
            .await;
        let team = get(&team, "id");
        self.make(
            Method::PUT,
            &format!("/teams/{team}/members/{GRACE}"),
            json!({"role": "editor"}),
        )
        .await;
        let role = self
            .make(
                Method::POST,
                "/roles",
                json!({"name": "reviewer", "permissions": ["transcripts:read"]}),
            )
            .await;
        self.make(
            Method::POST,
            "/transcript-types",
            json!({"type": "support", "sub_type": "x", "instructions": "Support calls."}),
        )
        .await;
        let transcript = self
            .make(
                Method::POST,
                "/transcripts",
                json!({"title": "Weekly sync", "type": "meeting",
                       "content": "Ada: Shall we start?\nGrace: Yes, the launch is on Friday."}),
            )
            .await;
        let transcript = get(&transcript, "id");
        self.deliver_uploads(&transcript).await;
        let queued = self
            .make(
                Method::POST,
                &format!("/transcripts/{transcript}/outputs"),
                json!({"output_types": ["bytes"]}),
            )
            .await;
        self.run_jobs().await;
        let output = queued["items"][0]["id"].as_str().unwrap().to_string();
        let playlist = self
            .make(Method::POST, "/playlists", json!({"name": "Best of Q3"}))
            .await;
        let playlist = get(&playlist, "id");
        let item = self
            .make(
                Method::POST,
                &format!("/playlists/{playlist}/items"),
                json!({"output_id": output}),
            )
            .await;
        self.make(
            Method::PUT,
            "/preferences/outputs/one_pager",
            json!({"model": "offline/extractive"}),
        )
        .await;
        self.make(
            Method::PUT,
            "/output-constraints/one_pager",
            json!({"min_context_window": 1000}),
        )
        .await;
        BTreeMap::from([
            ("team_id", team),
            ("user_id", GRACE.to_string()),
            ("role", get(&role, "name")),
            ("transcript_id", transcript),
            ("output_id", output),
            ("playlist_id", playlist),
            ("item_id", get(&item, "id")),
            ("type", "support".to_string()),
            ("sub_type", "x".to_string()),
            ("provider", "openai".to_string()),
            ("model", "gpt-4o-mini".to_string()),
            ("tier", "free".to_string()),
            ("output_type", "one_pager".to_string()),
        ])
    }
}

/// The route's path with its parameters filled in; a parameter no one here knows fails.
fn fill(spec: &RouteSpec, ids: &BTreeMap<&str, String>) -> String {
    let mut path = spec.path.to_string();
    while let Some(open) = path.find('{') {
        let close = path[open..].find('}').unwrap() + open;
        let name = &path[open + 1..close];
        let value = ids.get(name).unwrap_or_else(|| {
            panic!(
                "{} {}: no id known for {{{name}}}; add one to objects()",
                spec.method, spec.path
            )
        });
        path.replace_range(open..=close, value);
    }
    path
}

fn example(spec: &RouteSpec, ids: &BTreeMap<&str, String>) -> Option<String> {
    let mut b = spec.example?.to_string();
    for (name, value) in ids {
        b = b.replace(&format!("<{name}>"), value);
    }
    Some(b)
}

#[tokio::test]
async fn no_route_reaches_a_port_its_function_does_not_link() {
    let env = Env::new().await;
    let ids = env.objects().await;
    // Deletions last, so that the other routes find what they name.
    let mut routes = table();
    routes.sort_by_key(|r| r.method == Method::DELETE);
    let mut answers = BTreeMap::new();
    for spec in &routes {
        let state = env.function_state(spec.group);
        let path = fill(spec, &ids);
        let (status, body) = env
            .call(
                &state,
                &[spec.group],
                ADA,
                spec.method.clone(),
                &path,
                example(spec, &ids).as_deref(),
            )
            .await;
        assert!(
            !status.is_server_error(),
            "{} {path} ({:?}, needs {:?}): {status} {body}",
            spec.method,
            spec.group,
            Needs::of_group(spec.group)
        );
        *answers.entry(status.as_u16()).or_insert(0) += 1;
    }
    // Most routes did their work on the real objects (not only 404s and 409s).
    let ok: usize = answers
        .iter()
        .filter(|(s, _)| **s < 300)
        .map(|(_, n)| n)
        .sum();
    assert!(ok * 4 >= routes.len() * 3, "{answers:?}");
}

#[tokio::test]
async fn a_transcript_created_with_output_types_needs_no_queue() {
    let env = Env::new().await;
    env.make(Method::GET, "/me", Value::Null).await;
    let state = env.function_state(Group::Transcripts);
    assert!(!Needs::of_group(Group::Transcripts).queue);
    let (status, body) = env
        .call(
            &state,
            &[Group::Transcripts],
            ADA,
            Method::POST,
            "/transcripts",
            Some(
                &json!({"title": "All hands", "type": "meeting", "output_types": ["one_pager"],
                        "content": "Ada: Hello.\nGrace: Hi."})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
