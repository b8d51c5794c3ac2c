//! `GET /health`: the service answers and its store does too.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use recap_domain::keys::catalog_pk;
use recap_domain::records::Key;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    // One consistent read of a key that need not exist: proves the store answers.
    s.records
        .get(&Key::new(catalog_pk("HEALTH"), "PING"))
        .await?;
    Ok(Json(
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}
