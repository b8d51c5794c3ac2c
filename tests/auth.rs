//! Who may call: tokens checked by the local stack, and claims handed over by API Gateway.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use recap::LocalTokens;
use recap_domain::access::Caller;
use recap_domain::clock::{Clock, SystemClock};
use recap_domain::ids::{TenantId, UserId};
use recap_http::{AppState, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const U: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

fn app(dir: &tempfile::TempDir) -> axum::Router {
    let store = recap_embedded::EmbeddedStore::open(dir.path()).unwrap();
    router(AppState {
        records: Arc::new(store.records()),
        files: Arc::new(store.files("http://127.0.0.1:9")),
        clock: Arc::new(SystemClock),
        ids: Arc::new(recap_domain::clock::SystemIds),
        generate: Arc::new(store.queue(recap_embedded::QueueConfig::new("generate"))),
        models: Arc::new(recap_domain::generation::NoProviders),
        tokens: Some(Arc::new(LocalTokens::new(SECRET))),
    })
}

async fn get_me(app: &axum::Router, auth: Option<String>) -> (StatusCode, Value) {
    let mut req = Request::get("/me");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn signed(claims: Value, key: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

fn claims() -> Value {
    let now = SystemClock.now().seconds();
    json!({"sub": U, "custom:tenant_id": T, "email": "ada@example.com", "iss": "recap-local", "aud": "recap",
           "iat": now, "nbf": now, "exp": now + 600})
}

#[tokio::test]
async fn a_valid_token_gives_the_caller_and_makes_the_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let caller = Caller {
        user: UserId::parse(U).unwrap(),
        tenant: TenantId::parse(T).unwrap(),
        email: Some("ada@example.com".into()),
        platform_admin: false,
    };
    let token = LocalTokens::new(SECRET)
        .mint(&caller, Duration::from_secs(60))
        .unwrap();
    let (s, first) = get_me(&app, Some(format!("Bearer {token}"))).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["id"], U);
    assert_eq!(first["tenant"], T);
    assert_eq!(first["display_name"], "ada");
    assert_eq!(first["platform_admin"], false);
    let (_, again) = get_me(&app, Some(format!("Bearer {token}"))).await;
    assert_eq!(
        again["created_at"], first["created_at"],
        "created once, on first sight"
    );
}

#[tokio::test]
async fn jwt_negative() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let now = SystemClock.now().seconds();
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims(),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        (
            "not bearer",
            Some(format!("Basic {}", signed(claims(), SECRET))),
        ),
        ("garbage", Some("Bearer not.a.token".into())),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                signed(with("exp", json!(now - 60)), SECRET)
            )),
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                signed(with("nbf", json!(now + 600)), SECRET)
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                signed(with("iss", json!("someone-else")), SECRET)
            )),
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                signed(with("aud", json!("other-app")), SECRET)
            )),
        ),
        (
            "bad signature",
            Some(format!(
                "Bearer {}",
                signed(claims(), b"another secret, not ours at all")
            )),
        ),
        ("alg none", Some(format!("Bearer {header}.{body}."))),
        ("another algorithm", Some(format!("Bearer {hs512}"))),
        (
            "missing tenant",
            Some(format!(
                "Bearer {}",
                signed(without("custom:tenant_id"), SECRET)
            )),
        ),
        (
            "missing exp",
            Some(format!("Bearer {}", signed(without("exp"), SECRET))),
        ),
        (
            "tenant not an id",
            Some(format!(
                "Bearer {}",
                signed(with("custom:tenant_id", json!("acme")), SECRET)
            )),
        ),
    ];
    for (name, auth) in cases {
        let (s, body) = get_me(&app, auth).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(
            body["type"], "https://recap.dev/problems/unauthenticated",
            "{name}"
        );
    }
    let (s, _) = get_me(&app, Some(format!("Bearer {}", signed(claims(), SECRET)))).await;
    assert_eq!(s, StatusCode::OK, "the same claims, rightly signed, pass");
}

#[tokio::test]
async fn api_gateway_claims_from_a_real_event_give_the_same_caller() {
    let event: Value =
        serde_json::from_str(include_str!("../events/apigw-v2-jwt-me.json")).unwrap();
    let event_claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object()
        .unwrap();
    let caller = Caller::from_claims(event_claims).unwrap();
    assert_eq!(caller.tenant.to_string(), T);
    assert_eq!(caller.user.to_string(), U);
    assert!(
        caller.platform_admin,
        "API Gateway's flattened \"[platform-admins ops]\""
    );
    // Handed to the router as the Lambda adapter does: no token needed, same answer.
    let dir = tempfile::tempdir().unwrap();
    let store = recap_embedded::EmbeddedStore::open(dir.path()).unwrap();
    let app = router(AppState {
        records: Arc::new(store.records()),
        files: Arc::new(store.files("http://127.0.0.1:9")),
        clock: Arc::new(SystemClock),
        ids: Arc::new(recap_domain::clock::SystemIds),
        generate: Arc::new(store.queue(recap_embedded::QueueConfig::new("generate"))),
        models: Arc::new(recap_domain::generation::NoProviders),
        tokens: None,
    });
    let mut req = Request::get("/me").body(Body::empty()).unwrap();
    req.extensions_mut().insert(caller);
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (s, _) = get_me(&app, Some(format!("Bearer {}", signed(claims(), SECRET)))).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "without local tokens, a bearer token alone is not enough"
    );
}
