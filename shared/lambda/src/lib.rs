//! Runs Recap's routers in AWS Lambda behind an API Gateway HTTP API with a JWT authorizer.
//!
//! The authorizer has checked the token; its claims arrive in the request context as strings
//! (arrays flattened, such as `"[platform-admins ops]"`). [`with_caller`] turns them into the
//! domain's [`Caller`] and puts it in the request's extensions, where `recap_http::Authed`
//! finds it. A request without usable claims gets no caller, and so a 401.

use lambda_http::{Request, RequestExt};
use recap_domain::access::Caller;
use serde_json::{Map, Value};

pub use lambda_http::Error;

/// The caller named by the authorizer's claims, if any.
pub fn caller_of(req: &Request) -> Option<Caller> {
    let jwt = req.request_context_ref()?.authorizer()?.jwt.as_ref()?;
    let claims: Map<String, Value> = jwt
        .claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    match Caller::from_claims(&claims) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "authorizer claims name no caller");
            None
        }
    }
}

/// Puts the caller (if the claims name one) into the request's extensions.
pub fn with_caller(mut req: Request) -> Request {
    if let Some(c) = caller_of(&req) {
        req.extensions_mut().insert(c);
    }
    req
}

/// Serves a router as this function's handler, until the runtime stops.
pub async fn serve(router: axum::Router) -> Result<(), Error> {
    let app = tower::ServiceBuilder::new()
        .map_request(with_caller)
        .service(router);
    lambda_http::run(app).await
}
