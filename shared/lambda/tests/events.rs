//! API Gateway v2 events, as the Lambda runtime hands them over, through the same routers.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use recap_domain::clock::{SystemClock, SystemIds};
use recap_http::routes::Group;
use recap_http::{AppState, router_for};
use serde_json::Value;
use tower::ServiceExt;

fn app(dir: &tempfile::TempDir) -> axum::Router {
    let store = recap_embedded::EmbeddedStore::open(dir.path()).unwrap();
    router_for(&[Group::Teams], state(&store))
}

fn state(store: &recap_embedded::EmbeddedStore) -> AppState {
    common::state(store, Arc::new(SystemIds))
}

async fn call(app: &axum::Router, event: &str) -> (StatusCode, Value) {
    let req = lambda_http::request::from_str(event).expect("an API Gateway v2 event");
    let req = recap_lambda::with_caller(req);
    let (parts, body) = req.into_parts();
    let req = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn authorizer_claims_become_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let (s, me) = call(&app, include_str!("../../../events/apigw-v2-jwt-me.json")).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["id"], "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    assert_eq!(me["tenant"], "0f8fad5b-d9cb-469f-a165-70867728950e");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(
        me["platform_admin"], true,
        "flattened \"[platform-admins ops]\""
    );
    assert_eq!(me["role"], "admin", "the tenant's first user");

    let (s, team) = call(
        &app,
        include_str!("../../../events/apigw-v2-jwt-post-teams.json"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    assert_eq!(team["name"], "Field sales");
    assert_eq!(team["created_by"], "7c9e6679-7425-40de-944b-e07fc1f90ae7");
}

#[tokio::test]
async fn a_playlists_event_is_served_to_its_caller_by_tier() {
    use recap_domain::{access, billing, playlists};
    let dir = tempfile::tempdir().unwrap();
    let store = recap_embedded::EmbeddedStore::open(dir.path()).unwrap();
    let state = state(&store);
    let app = router_for(&[Group::Playlists], state.clone());
    let event = include_str!("../../../events/apigw-v2-jwt-playlists.json");
    let records = state.records.as_ref();
    billing::seed(records).await.unwrap();

    // No subscription: the free tier, which has no playlists.
    let (s, problem) = call(&app, event).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["type"], "https://recap.dev/problems/forbidden");
    assert_eq!(
        problem["detail"],
        "forbidden: the Free tier does not include playlists; they come with the Pro or Team tier"
    );

    // On Pro, the caller named by the claims lists the playlists of the claims' tenant.
    let req = lambda_http::request::from_str(event).unwrap();
    let caller = recap_lambda::caller_of(&req).expect("the claims name a caller");
    billing::subscribe(
        records,
        &SystemClock,
        &SystemIds,
        &caller.tenant,
        &caller.user,
        &caller.user,
        "pro",
    )
    .await
    .unwrap();
    let a = access::load(records, &SystemClock, &caller).await.unwrap();
    let ports = playlists::Ports {
        records,
        clock: &SystemClock,
        ids: &SystemIds,
    };
    for name in ["Onboarding", "Best of Q3"] {
        let input = playlists::NewPlaylist {
            name: Some(name.into()),
            ..Default::default()
        };
        playlists::create(ports, &a, input).await.unwrap();
    }
    let (s, page) = call(&app, event).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Best of Q3", "Onboarding"], "newest first");
    assert_eq!(
        page["items"][0]["owner"],
        "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    );
    assert_eq!(page["items"][0]["item_count"], 0);
}

#[tokio::test]
async fn an_event_without_authorizer_claims_is_401() {
    let dir = tempfile::tempdir().unwrap();
    let (s, problem) = call(
        &app(&dir),
        include_str!("../../../events/apigw-v2-no-authorizer-me.json"),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem["type"],
        "https://recap.dev/problems/unauthenticated"
    );
}

#[tokio::test]
async fn an_sqs_batch_reports_only_the_messages_that_failed() {
    let event: Value =
        serde_json::from_str(include_str!("../../../events/sqs-generate-batch.json")).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let answer = recap_lambda::sqs_batch(event, |m| {
        seen.lock()
            .unwrap()
            .push((m.body.clone(), m.receive_count()));
        async move {
            if m.body == "poison" {
                Err(recap_domain::Error::validation("message", "not a job"))
            } else {
                Ok(())
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]})
    );
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 2, "every record handled");
    assert_eq!(seen[1].1, 5, "ApproximateReceiveCount read");
}
