//! The whole HTTP stack over a fresh embedded store, driven with `Router::oneshot`, and
//! callers minted as local tokens.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use recap::LocalTokens;
use recap_domain::access::Caller;
use recap_domain::ids::{TenantId, UserId};
use recap_embedded::EmbeddedStore;
use recap_http::{AppState, router};

use serde_json::Value;
use tower::ServiceExt;

const SECRET: &[u8] = b"tests-tests-tests-tests-tests-32";

pub struct Stack {
    pub app: axum::Router,
    pub store: EmbeddedStore,
    pub state: AppState,
    pub uploads: recap_embedded::EmbeddedQueue,
    tokens: LocalTokens,
    _dir: tempfile::TempDir,
}

/// A caller: tenant, user and the bearer token that names them.
#[derive(Clone)]
pub struct Who {
    pub tenant: TenantId,
    pub user: UserId,
    pub token: String,
}

impl Stack {
    pub fn new() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let tokens = LocalTokens::new(SECRET);
        let (state, uploads) = recap::local_state(
            &store,
            "http://127.0.0.1:9",
            Arc::new(LocalTokens::new(SECRET)),
        );
        let app = router(state.clone());
        Stack {
            app,
            store,
            state,
            uploads,
            tokens,
            _dir: dir,
        }
    }

    /// Ids from `ids` instead of fresh ones (for fixtures that name an id).
    pub fn with_ids(mut self, ids: Arc<dyn recap_domain::clock::IdGen>) -> Stack {
        self.state.ids = ids;
        self.app = router(self.state.clone());
        self
    }

    /// A generate queue of its own (e.g. one that fails).
    pub fn with_queue(mut self, queue: Arc<dyn recap_domain::queue::Queue>) -> Stack {
        self.state.generate = queue;
        self.app = router(self.state.clone());
        self
    }

    /// Model providers of its own (fakes).
    pub fn with_models(
        mut self,
        models: Arc<dyn recap_domain::generation::ModelRegistry>,
    ) -> Stack {
        self.state.models = models;
        self.app = router(self.state.clone());
        self
    }

    pub fn generation(&self) -> recap_domain::generation::Ports<'_> {
        recap_domain::generation::Ports {
            records: self.state.records.as_ref(),
            files: self.state.files.as_ref(),
            queue: self.state.generate.as_ref(),
            clock: self.state.clock.as_ref(),
            ids: self.state.ids.as_ref(),
            models: self.state.models.as_ref(),
        }
    }

    pub fn ports(&self) -> recap_domain::transcripts::Ports<'_> {
        recap_domain::transcripts::Ports {
            records: self.state.records.as_ref(),
            files: self.state.files.as_ref(),
            clock: self.state.clock.as_ref(),
            ids: self.state.ids.as_ref(),
        }
    }

    /// With the built-in catalog seeded, as `recap serve` starts.
    pub async fn seeded() -> Stack {
        let s = Stack::new();
        recap::seed(&s.state).await.unwrap();
        s
    }

    /// Runs the generate consumer until no job is waiting; answers how many it handled.
    pub async fn drain_jobs(&self) -> usize {
        let mut total = 0;
        loop {
            let n = recap::process_generate_jobs(
                &self.state,
                Duration::ZERO,
                &recap::Shutdown::default(),
            )
            .await
            .unwrap()
            .handled;
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    /// Runs the upload trigger until no upload event is waiting; answers how many it handled.
    pub async fn drain_uploads(&self) -> usize {
        let mut total = 0;
        loop {
            let n = recap::process_upload_events(
                &self.uploads,
                &self.state,
                Duration::ZERO,
                &recap::Shutdown::default(),
            )
            .await
            .unwrap();
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    pub fn who(&self, tenant: &str, user: &str) -> Who {
        self.who_admin(tenant, user, false)
    }

    pub fn who_admin(&self, tenant: &str, user: &str, platform_admin: bool) -> Who {
        let caller = Caller {
            tenant: TenantId::parse(tenant).unwrap(),
            user: UserId::parse(user).unwrap(),
            email: Some(format!("{}@example.com", &user[user.len() - 4..])),
            platform_admin,
        };
        Who {
            tenant: caller.tenant,
            user: caller.user,
            token: self.tokens.mint(&caller, Duration::from_secs(600)).unwrap(),
        }
    }

    /// Sends a request as `who`; answers the status and the JSON body (`Null` when empty).
    /// A POST carries a fresh `Idempotency-Key`.
    pub async fn call(
        &self,
        who: &Who,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let key = uuid::Uuid::new_v4().to_string();
        let headers: &[(&str, &str)] = if method == Method::POST {
            &[("idempotency-key", &key)]
        } else {
            &[]
        };
        self.call_with(who, method, path, body, headers).await
    }

    pub async fn call_with(
        &self,
        who: &Who,
        method: Method,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", who.token));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
            .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(res.into_body(), 16 << 20)
            .await
            .unwrap();
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                ct.as_deref(),
                Some("application/problem+json"),
                "{method_path}: errors are problem+json",
                method_path = path
            );
        }
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, v)
    }

    pub async fn get(&self, who: &Who, path: &str) -> (StatusCode, Value) {
        self.call(who, Method::GET, path, None).await
    }

    /// Creates `tier` (`root`: a platform admin) and subscribes `user` to it (`admin`: an
    /// admin of the user's tenant); answers the subscription.
    pub async fn subscribe(&self, root: &Who, admin: &Who, user: &str, tier: &Value) -> Value {
        let (st, t) = self
            .call(root, Method::POST, "/tiers", Some(&tier.to_string()))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{t}");
        let body = serde_json::json!({"tier": tier["id"]}).to_string();
        let (st, sub) = self
            .call(
                admin,
                Method::PUT,
                &format!("/subscriptions/{user}"),
                Some(&body),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{sub}");
        sub
    }
}
