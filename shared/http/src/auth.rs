//! The caller of a request.
//!
//! In Lambda, the function's adapter puts the [`Caller`] read from the API Gateway JWT
//! authorizer's claims into the request extensions: the authorizer has checked the token, and
//! no JWT library is linked into the functions. Locally, `recap serve` gives the router a
//! [`BearerTokens`] that checks the bearer token itself.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use recap_domain::Error;
use recap_domain::access::Caller;

use crate::{ApiError, AppState};

/// Checks a bearer token and says whose it is; `Error::Unauthenticated` when it is not good.
pub trait BearerTokens: Send + Sync {
    fn verify(&self, token: &str) -> Result<Caller, Error>;
}

/// The authenticated caller, as a handler argument. The tenant it names is recorded on the
/// request's span.
#[derive(Debug, Clone)]
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = match parts.extensions.get::<Caller>() {
            Some(c) => c.clone(),
            None => {
                let header = parts
                    .headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Error::Unauthenticated("no bearer token".into()))?;
                let token = header
                    .strip_prefix("Bearer ")
                    .or_else(|| header.strip_prefix("bearer "))
                    .ok_or_else(|| {
                        Error::Unauthenticated(
                            "the Authorization header is not a bearer token".into(),
                        )
                    })?;
                let tokens = state.tokens.as_ref().ok_or_else(|| {
                    Error::Unauthenticated("this deployment takes no bearer tokens".into())
                })?;
                tokens.verify(token.trim())?
            }
        };
        tracing::Span::current().record("tenant", tracing::field::display(&caller.tenant));
        Ok(Authed(caller))
    }
}
