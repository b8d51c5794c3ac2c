//! Recap's HTTP side: axum routers per resource over the domain's ports (as `Arc<dyn …>`),
//! problem+json errors, request ids and tracing. The same routers serve Lambda (through
//! `lambda_http`) and the local stack.

pub mod api;
pub mod auth;
mod billing;
mod catalog;
mod choice;
pub mod health;
mod me;
pub mod openapi;
mod outputs;
mod playlists;
pub mod problem;
mod roles;
pub mod routes;
mod teams;
pub mod telemetry;
mod transcripts;
mod users;

use std::sync::Arc;

use axum::Router;
use recap_domain::clock::{Clock, IdGen};
use recap_domain::files::Files;
use recap_domain::generation::ModelRegistry;
use recap_domain::queue::Queue;
use recap_domain::records::Records;

pub use auth::{Authed, BearerTokens};
pub use problem::ApiError;

/// What the handlers share: ports only, never a concrete adapter.
#[derive(Clone)]
pub struct AppState {
    pub records: Arc<dyn Records>,
    pub files: Arc<dyn Files>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
    /// Where generation jobs go (the generate queue).
    pub generate: Arc<dyn Queue>,
    /// The model providers configured (none: only the offline provider).
    pub models: Arc<dyn ModelRegistry>,
    /// Checks bearer tokens locally; `None` in Lambda, where the authorizer has checked them.
    pub tokens: Option<Arc<dyn BearerTokens>>,
}

/// Every route of every group: what the local stack serves.
pub fn router(state: AppState) -> Router {
    use routes::Group::*;
    router_for(
        &[Teams, Transcripts, Billing, Catalog, Outputs, Playlists],
        state,
    )
}

/// The routes of some groups (one Lambda function serves one group), each behind its gate,
/// with `/health`, request tracing and a problem+json answer for unknown routes. The group of
/// [`openapi::DOCS_GROUP`] also serves the API's description, without a token.
pub fn router_for(groups: &[routes::Group], state: AppState) -> Router {
    let mut app = Router::new().merge(health::router());
    if groups.contains(&openapi::DOCS_GROUP) {
        app = app.merge(openapi::router());
    }
    for spec in routes::table() {
        if !groups.contains(&spec.group) {
            continue;
        }
        let gate = axum::middleware::from_fn_with_state((state.clone(), spec.need), routes::gate);
        app = app.route(spec.path, (spec.handler)().route_layer(gate));
    }
    app.fallback(problem::not_found_route)
        .with_state(state)
        .layer(axum::middleware::from_fn(telemetry::request_span))
}
