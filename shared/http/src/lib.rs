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
    router_of(routes::table(), state)
}

/// The routes of some groups (one Lambda function serves one group): see [`router_of`].
pub fn router_for(groups: &[routes::Group], state: AppState) -> Router {
    router_of(groups.iter().flat_map(|g| g.routes()).collect(), state)
}

/// These routes, each behind its gate, with `/health`, request tracing and a problem+json
/// answer for unknown routes. When they include routes of [`openapi::DOCS_GROUP`], the API's
/// description too, without a token.
///
/// A Lambda function passes its group's table (`routes::teams()`, …), so that only its own
/// handlers are linked into its binary.
pub fn router_of(specs: Vec<routes::RouteSpec>, state: AppState) -> Router {
    let mut app = Router::new().merge(health::router());
    if specs.iter().any(|s| s.group == openapi::DOCS_GROUP) {
        app = app.merge(openapi::router());
    }
    for spec in specs {
        let gate = axum::middleware::from_fn_with_state((state.clone(), spec.need), routes::gate);
        app = app.route(spec.path, (spec.handler)().route_layer(gate));
    }
    app.fallback(problem::not_found_route)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn(telemetry::request_span))
}
