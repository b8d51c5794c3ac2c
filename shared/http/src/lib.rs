//! Recap's HTTP side: axum routers per resource over the domain's ports (as `Arc<dyn …>`),
//! problem+json errors, request ids and tracing. The same routers serve Lambda (through
//! `lambda_http`) and the local stack.

pub mod auth;
pub mod health;
pub mod me;
pub mod problem;
pub mod telemetry;

use std::sync::Arc;

use axum::Router;
use recap_domain::clock::Clock;
use recap_domain::records::Records;

pub use auth::{Authed, BearerTokens};
pub use problem::ApiError;

/// What the handlers share: ports only, never a concrete adapter.
#[derive(Clone)]
pub struct AppState {
    pub records: Arc<dyn Records>,
    pub clock: Arc<dyn Clock>,
    /// Checks bearer tokens locally; `None` in Lambda, where the authorizer has checked them.
    pub tokens: Option<Arc<dyn BearerTokens>>,
}

/// Every route of every resource, merged in one place, with request tracing and a
/// problem+json answer for unknown routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(me::router())
        .fallback(problem::not_found_route)
        .with_state(state)
        .layer(axum::middleware::from_fn(telemetry::request_span))
}
