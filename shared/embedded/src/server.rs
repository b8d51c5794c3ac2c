//! The local HTTP side of presigned file URLs: `PUT` and `GET /files/{key}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use recap_domain::files::{FileKey, Files, MAX_FILE_BYTES};

use crate::files::{EmbeddedFiles, Grant};

/// Serves presigned URLs of `files`. Mount it at the root of the server whose address the
/// files were given as `base_url`.
pub fn files_router(files: EmbeddedFiles) -> Router {
    Router::new()
        .route("/files/{*key}", get(download).put(upload))
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES as usize))
        .with_state(files)
}

fn refuse(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "https://recap.dev/problems/presigned-url",
        "title": "The presigned URL does not allow this request",
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn failed(e: recap_domain::Error) -> Response {
    tracing::error!(error = %e, "file store");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "the file store failed")
}

async fn download(
    State(files): State<EmbeddedFiles>,
    Path(key): Path<String>,
    q: Result<Query<Grant>, QueryRejection>,
) -> Response {
    let Ok(key) = FileKey::parse(key) else {
        return refuse(StatusCode::BAD_REQUEST, "not a file key");
    };
    let Ok(Query(grant)) = q else {
        return refuse(StatusCode::FORBIDDEN, "the URL is not signed");
    };
    if let Err(e) = files.verify(&key, "GET", &grant, None, None) {
        return refuse(StatusCode::FORBIDDEN, &e.to_string());
    }
    match files.get(&key).await {
        Ok(Some((body, meta))) => {
            let ct = meta
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into());
            ([(header::CONTENT_TYPE, ct)], body).into_response()
        }
        Ok(None) => refuse(StatusCode::NOT_FOUND, "no such file"),
        Err(e) => failed(e),
    }
}

async fn upload(
    State(files): State<EmbeddedFiles>,
    Path(key): Path<String>,
    q: Result<Query<Grant>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(key) = FileKey::parse(key) else {
        return refuse(StatusCode::BAD_REQUEST, "not a file key");
    };
    let Ok(Query(grant)) = q else {
        return refuse(StatusCode::FORBIDDEN, "the URL is not signed");
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Err(e) = files.verify(&key, "PUT", &grant, Some(body.len() as u64), ct) {
        return refuse(StatusCode::FORBIDDEN, &e.to_string());
    }
    match files.put(&key, body.to_vec(), ct.unwrap_or_default()).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => failed(e),
    }
}
