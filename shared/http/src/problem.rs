//! Domain errors as RFC 9457 problem details, with a stable `type` per kind. Server errors
//! say nothing of their cause; it goes to the log.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use recap_domain::{Conflict, Error};
use serde_json::{Value, json};

pub const PROBLEM_JSON: &str = "application/problem+json";
pub(crate) const TYPE_BASE: &str = "https://recap.dev/problems/";

/// A domain error on its way out of a handler.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// The status and the stable problem `type` slug of each error kind.
pub fn classify(e: &Error) -> (StatusCode, &'static str) {
    match e {
        Error::NotFound { .. } => (StatusCode::NOT_FOUND, "not-found"),
        Error::Conflict(Conflict::ConditionFailed { .. }) | Error::Conflict(Conflict::State(_)) => {
            (StatusCode::CONFLICT, "conflict")
        }
        Error::Conflict(Conflict::TransactionConflict) => (StatusCode::CONFLICT, "retry"),
        Error::Validation { .. } => (StatusCode::BAD_REQUEST, "validation"),
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        Error::InsufficientCredits { .. } => (StatusCode::PAYMENT_REQUIRED, "insufficient-credits"),
        Error::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        Error::Unexpected { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// Builds a problem response.
pub fn problem(
    status: StatusCode,
    slug: &str,
    title: &str,
    detail: Option<String>,
    extra: Value,
) -> Response {
    let mut body = json!({
        "type": format!("{TYPE_BASE}{slug}"),
        "title": title,
        "status": status.as_u16(),
    });
    if let Some(d) = detail {
        body["detail"] = Value::String(d);
    }
    if let (Value::Object(b), Value::Object(x)) = (&mut body, extra) {
        b.extend(x);
    }
    (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, slug) = classify(&e);
        let title = status.canonical_reason().unwrap_or("Error");
        if status.is_server_error() {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "request failed");
            let detail = match &e {
                Error::Unavailable { .. } => {
                    "A service Recap depends on is unavailable; try again shortly."
                }
                _ => "Something went wrong on our side; it has been logged.",
            };
            return problem(status, slug, title, Some(detail.into()), json!({}));
        }
        let extra = match &e {
            Error::Validation { field, .. } => json!({ "field": field }),
            Error::InsufficientCredits { needed, available } => json!({
                "needed": needed, "available": available, "shortfall": needed.saturating_sub(*available),
            }),
            _ => json!({}),
        };
        problem(status, slug, title, Some(e.to_string()), extra)
    }
}

/// The answer for a path served, but not with this method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method Not Allowed",
        Some(format!("{} does not take {method}", uri.path())),
        json!({}),
    )
}

/// A body refused before it was read as JSON: too large (413), or not sent as JSON (415).
/// Anything else about it is a 400 that says what is wrong (`field: "body"`).
pub fn body_rejection(status: StatusCode, text: String) -> Response {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => problem(
            status,
            "payload-too-large",
            "Payload Too Large",
            Some(text),
            json!({}),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => problem(
            status,
            "unsupported-media-type",
            "Unsupported Media Type",
            Some(text),
            json!({}),
        ),
        _ => ApiError(Error::validation("body", without_type_names(&text))).into_response(),
    }
}

/// serde's messages name the Rust type a body was read into (`expected struct NewTranscript
/// with 10 elements`): said as the JSON it expects instead.
fn without_type_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("struct ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "struct ".len()..];
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_len == 0 {
            out.push_str("struct ");
            rest = after;
            continue;
        }
        out.push_str("a JSON object");
        rest = &after[name_len..];
        // "with 10 elements" (an array offered for a struct) says nothing to a client.
        if let Some(tail) = rest.strip_prefix(" with ")
            && let Some(end) = tail.find(" elements")
            && tail[..end].chars().all(|c| c.is_ascii_digit())
        {
            rest = &tail[end + " elements".len()..];
        }
    }
    out.push_str(rest);
    out
}

/// The answer for a path no route serves.
pub async fn not_found_route(uri: axum::http::Uri) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not Found",
        Some(format!("no route serves {}", uri.path())),
        json!({}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_errors_say_json_not_rust_types() {
        assert_eq!(
            without_type_names(
                "invalid type: sequence, expected struct NewTranscript with 10 elements at line 1 column 2"
            ),
            "invalid type: sequence, expected a JSON object at line 1 column 2"
        );
        assert_eq!(
            without_type_names("expected struct Purchase"),
            "expected a JSON object"
        );
        assert_eq!(
            without_type_names("missing field `title`"),
            "missing field `title`"
        );
    }

    async fn body(r: Response) -> (StatusCode, String, Value) {
        let status = r.status();
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, ct, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn client_errors_say_what_is_wrong() {
        let (s, ct, b) =
            body(ApiError(Error::validation("title", "must not be empty")).into_response()).await;
        assert_eq!((s, ct.as_str()), (StatusCode::BAD_REQUEST, PROBLEM_JSON));
        assert_eq!(b["type"], "https://recap.dev/problems/validation");
        assert_eq!(b["field"], "title");
        assert_eq!(b["detail"], "invalid title: must not be empty");
        let (s, _, b) = body(
            ApiError(Error::InsufficientCredits {
                needed: 120,
                available: 45,
            })
            .into_response(),
        )
        .await;
        assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(
            (
                b["needed"].as_u64(),
                b["available"].as_u64(),
                b["shortfall"].as_u64()
            ),
            (Some(120), Some(45), Some(75))
        );
        let (s, _, _) =
            body(ApiError(Conflict::ConditionFailed { write: 1 }.into()).into_response()).await;
        assert_eq!(s, StatusCode::CONFLICT);
    }

    #[tokio::test]
    async fn server_errors_say_nothing_internal() {
        let e = Error::unexpected("DynamoDB PutItem", "secret table name arn:aws:dynamodb:xyz");
        let (s, _, b) = body(ApiError(e).into_response()).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        let text = b.to_string();
        assert!(
            !text.contains("arn:aws") && !text.contains("DynamoDB"),
            "{text}"
        );
        assert_eq!(b["type"], "https://recap.dev/problems/internal");
    }
}
