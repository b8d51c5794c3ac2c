//! How every provider client behaves when the provider misbehaves: rate limits, server errors,
//! slow answers, unreadable answers, refused requests and credentials, and the time budget.

mod common;

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use common::{Fake, Reply, Wire, answer_json, fast_retry, request};
use recap_ai::RetryPolicy;
use recap_domain::models::ModelError;
use serde_json::{Value, json};

/// Runs `scenario` for the four wire formats at once, each on its own thread and runtime so
/// that one's set-up (building a client loads the system's root certificates) does not eat
/// into another's timeouts.
fn each_wire<F, Fut>(scenario: F)
where
    F: Fn(Wire) -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    std::thread::scope(|threads| {
        for wire in Wire::ALL {
            let scenario = &scenario;
            threads.spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(scenario(wire));
            });
        }
    });
}

fn policy(budget_ms: u64, attempt_ms: u64) -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_millis(budget_ms),
        attempt_timeout: Duration::from_millis(attempt_ms),
        ..fast_retry()
    }
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn rate_limit_waits_the_retry_after_seconds_then_answers() {
    each_wire(|wire| async move {
        let fake = Fake::start(vec![
            wire.fail(429, "Rate limit reached")
                .header("retry-after", "1"),
            wire.ok(),
        ])
        .await;
        let client = wire.client_with(&fake, fast_retry());

        let answer = client
            .call(&request(wire.model()))
            .await
            .unwrap_or_else(|e| panic!("{wire:?}: {e}"));

        assert_eq!(parsed(&answer.text), answer_json(), "{wire:?}");
        let seen = fake.seen();
        assert_eq!(seen.len(), 2, "{wire:?}: one retry");
        let gap = seen[1].at - seen[0].at;
        // Its own backoff is at most 20 ms here: a second means Retry-After was read.
        assert!(
            gap >= Duration::from_secs(1),
            "{wire:?}: retried after {gap:?}"
        );
        assert!(
            gap < Duration::from_millis(1_500),
            "{wire:?}: waited {gap:?}"
        );
    });
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let wire = Wire::Anthropic;
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let fake = Fake::start(vec![
        wire.fail(
            429,
            "Number of request tokens has exceeded your per-minute rate limit",
        )
        .header("retry-after", &at),
        wire.ok(),
    ])
    .await;
    let client = wire.client_with(&fake, fast_retry());

    client.call(&request(wire.model())).await.unwrap();

    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    let date = httpdate::parse_http_date(&at).unwrap();
    assert!(
        seen[0].wall < date,
        "the first request came before the date"
    );
    assert!(
        seen[1].wall + Duration::from_millis(5) >= date,
        "retried {:?} before {at}",
        date.duration_since(seen[1].wall).unwrap_or_default()
    );
    assert!(
        seen[1].wall <= date + Duration::from_millis(500),
        "retried {:?} after {at}",
        seen[1].wall.duration_since(date).unwrap_or_default()
    );
}

#[test]
fn server_errors_are_retried_then_answered() {
    each_wire(|wire| async move {
        let status = match wire {
            Wire::OpenAi => 500,
            Wire::Anthropic => 529, // overloaded_error
            Wire::Gemini => 503,
            Wire::Compatible => 502,
        };
        let fake = Fake::start(vec![
            wire.fail(status, "The server had an error"),
            wire.ok(),
        ])
        .await;
        let client = wire.client_with(&fake, fast_retry());

        let answer = client
            .call(&request(wire.model()))
            .await
            .unwrap_or_else(|e| panic!("{wire:?} after {status}: {e}"));

        assert_eq!(parsed(&answer.text), answer_json());
        assert_eq!(fake.count(), 2, "{wire:?}");
    });
}

#[test]
fn a_slow_attempt_times_out_and_the_retry_answers() {
    each_wire(|wire| async move {
        let fake = Fake::start(vec![wire.ok().after(Duration::from_secs(3)), wire.ok()]).await;
        let client = wire.client_with(&fake, policy(5_000, 500));
        let started = Instant::now();

        let answer = client
            .call(&request(wire.model()))
            .await
            .unwrap_or_else(|e| panic!("{wire:?}: {e}"));

        assert_eq!(parsed(&answer.text), answer_json());
        assert_eq!(fake.count(), 2, "{wire:?}");
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(1_500),
            "{wire:?}: waited out the slow answer ({took:?})"
        );
    });
}

#[test]
fn a_malformed_success_is_malformed_and_not_retried() {
    each_wire(|wire| async move {
        for body in [
            "{\"choices\": [", // cut short
            "<html>502 Bad Gateway</html>",
            r#"{"hello": "world"}"#, // JSON, not the provider's shape
        ] {
            let fake = Fake::start(vec![Reply::raw(200, body), wire.ok()]).await;
            let client = wire.client_with(&fake, fast_retry());

            let err = client.call(&request(wire.model())).await.unwrap_err();

            assert!(
                matches!(err, ModelError::Malformed(_)),
                "{wire:?} {body}: {err:?}"
            );
            assert_eq!(fake.count(), 1, "{wire:?} {body}: retried");
        }
    });
}

#[test]
fn a_bad_request_is_rejected_with_the_providers_message_once() {
    each_wire(|wire| async move {
        let message = "Invalid schema for response_format 'one_pager': 'points' is not allowed";
        let fake = Fake::start(vec![wire.fail(400, message), wire.ok()]).await;
        let client = wire.client_with(&fake, fast_retry());

        let err = client.call(&request(wire.model())).await.unwrap_err();

        match &err {
            ModelError::Rejected(text) => {
                assert!(text.contains(message), "{wire:?}: {text}");
                assert!(text.contains("400"), "{wire:?}: {text}");
            }
            other => panic!("{wire:?}: {other:?}"),
        }
        assert!(!err.is_transient());
        assert_eq!(fake.count(), 1, "{wire:?}: a 400 was retried");
    });
}

#[test]
fn refused_credentials_are_unauthorized_and_not_retried() {
    each_wire(|wire| async move {
        for status in [401, 403] {
            let fake = Fake::start(vec![wire.fail(status, "invalid x-api-key"), wire.ok()]).await;
            let client = wire.client_with(&fake, fast_retry());

            let err = client.call(&request(wire.model())).await.unwrap_err();

            assert_eq!(err, ModelError::Unauthorized, "{wire:?} {status}");
            assert_eq!(fake.count(), 1, "{wire:?} {status}: retried");
        }
    });
}

#[tokio::test]
async fn gemini_answers_a_bad_key_with_400_and_that_is_unauthorized() {
    let wire = Wire::Gemini;
    let body = json!({ "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com"
        }]
    }});
    let fake = Fake::start(vec![Reply::json(400, body)]).await;
    let client = wire.client_with(&fake, fast_retry());

    let err = client.call(&request(wire.model())).await.unwrap_err();

    assert_eq!(err, ModelError::Unauthorized);
    assert_eq!(fake.count(), 1);
}

#[test]
fn rate_limits_past_the_budget_end_as_rate_limited() {
    each_wire(|wire| async move {
        // Told to wait longer than the budget allows: give up at once, and say how long.
        let fake = Fake::start(vec![
            wire.fail(429, "slow down").header("retry-after", "30"),
        ])
        .await;
        let client = wire.client_with(&fake, policy(1_000, 500));
        let started = Instant::now();

        let err = client.call(&request(wire.model())).await.unwrap_err();

        assert_eq!(
            err,
            ModelError::RateLimited {
                retry_after: Some(Duration::from_secs(30))
            },
            "{wire:?}"
        );
        assert!(err.is_transient());
        assert_eq!(fake.count(), 1, "{wire:?}");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{wire:?}: slept in vain"
        );

        // No Retry-After: back off until the budget is spent.
        let fake = Fake::start(vec![wire.fail(429, "slow down")]).await;
        let client = wire.client_with(&fake, policy(600, 250));
        let started = Instant::now();

        let err = client.call(&request(wire.model())).await.unwrap_err();

        assert_eq!(
            err,
            ModelError::RateLimited { retry_after: None },
            "{wire:?}"
        );
        assert!(fake.count() >= 2, "{wire:?}: never retried");
        assert!(
            started.elapsed() < Duration::from_millis(1_100),
            "{wire:?}: overran the budget"
        );
    });
}

#[test]
fn server_errors_and_timeouts_past_the_budget_end_as_unavailable() {
    each_wire(|wire| async move {
        let fake = Fake::start(vec![wire.fail(500, "internal error")]).await;
        let client = wire.client_with(&fake, policy(600, 250));
        let started = Instant::now();

        let err = client.call(&request(wire.model())).await.unwrap_err();

        match &err {
            ModelError::Unavailable(why) => assert!(why.contains("internal error"), "{why}"),
            other => panic!("{wire:?}: {other:?}"),
        }
        assert!(fake.count() >= 2, "{wire:?}: never retried");
        assert!(
            started.elapsed() < Duration::from_millis(1_100),
            "{wire:?}: overran the budget"
        );

        // Every attempt too slow: the budget bounds the call, not the server.
        let fake = Fake::start(vec![wire.ok().after(Duration::from_secs(10))]).await;
        let client = wire.client_with(&fake, policy(700, 250));
        let started = Instant::now();

        let err = client.call(&request(wire.model())).await.unwrap_err();

        assert!(
            matches!(err, ModelError::Unavailable(_)),
            "{wire:?}: {err:?}"
        );
        assert!(fake.count() >= 2, "{wire:?}: never retried");
        assert!(
            started.elapsed() < Duration::from_millis(1_200),
            "{wire:?}: overran the budget"
        );
    });
}

#[tokio::test]
async fn no_server_at_all_is_unavailable_within_the_budget() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let wire = Wire::OpenAi;
    let mut config = wire.config(&url, &[]);
    config.retry = policy(600, 250);
    let client = wire.client(&config);
    let started = Instant::now();

    let err = client.call(&request(wire.model())).await.unwrap_err();

    assert!(matches!(err, ModelError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1_100));
}

#[tokio::test]
async fn an_exhausted_quota_is_rejected_not_retried() {
    let wire = Wire::OpenAi;
    let body = json!({ "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": null,
        "code": "insufficient_quota"
    }});
    let fake = Fake::start(vec![Reply::json(429, body), wire.ok()]).await;
    let client = wire.client_with(&fake, fast_retry());

    let err = client.call(&request(wire.model())).await.unwrap_err();

    assert!(
        matches!(&err, ModelError::Rejected(m) if m.contains("exceeded your current quota")),
        "{err:?}"
    );
    assert_eq!(fake.count(), 1);
}
