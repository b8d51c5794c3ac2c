//! Logs: JSON in Lambda (CloudWatch reads them as fields), readable text locally. Every
//! request runs in a span with its request id; handlers that know the caller record `tenant`.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const REQUEST_ID: &str = "x-request-id";

/// Installs the global subscriber once: JSON when `AWS_LAMBDA_FUNCTION_NAME` is set (or
/// `RECAP_LOG_FORMAT=json`), readable text otherwise. `RUST_LOG` filters (default `info`).
pub fn init() {
    init_with(filter_from_env("info"));
}

/// The filter `RUST_LOG` names, or `default`: a level (`debug`) and per-target levels
/// (`info,recap_domain=debug,aws_smithy_runtime=warn`). Span and field filters (the rest of
/// `EnvFilter`'s syntax) are not taken: they need a regex engine in every function's binary.
/// A value that does not parse is reported on stderr and `default` is used.
pub fn filter_from_env(default: &str) -> Targets {
    let fallback = || default.parse().unwrap_or_default();
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v.parse().unwrap_or_else(|e| {
            eprintln!("RUST_LOG={v:?} is not a list of target=level ({e}); using {default:?}");
            fallback()
        }),
        _ => fallback(),
    }
}

/// Installs the global subscriber with `filter` (see [`init`]).
pub fn init_with(filter: Targets) {
    let json = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        || std::env::var("RECAP_LOG_FORMAT").is_ok_and(|v| v == "json");
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = if json {
        tracing_subscriber::registry()
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .without_time(),
            )
            .with(filter)
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(fmt.compact())
            .with(filter)
            .try_init()
    };
}

/// Gives each request an id (the caller's `x-request-id` when it is sane, else a new one),
/// runs it in a span, and echoes the id in the response.
pub async fn request_span(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        tenant = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let mut res = next.run(req).instrument(span.clone()).await;
    span.record("status", res.status().as_u16());
    span.in_scope(|| tracing::info!("done"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn request_ids_are_echoed_or_made() {
        let app = Router::new()
            .route("/", get(|| async { "x" }))
            .layer(axum::middleware::from_fn(request_span));
        let res = app
            .clone()
            .oneshot(
                Request::get("/")
                    .header(REQUEST_ID, "abc-1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.headers()[REQUEST_ID], "abc-1");
        let res = app
            .oneshot(
                Request::get("/")
                    .header(REQUEST_ID, "bad id")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let made = res.headers()[REQUEST_ID].to_str().unwrap();
        assert_eq!(made.len(), 36);
    }
}
