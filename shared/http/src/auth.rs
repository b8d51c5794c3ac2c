//! The caller of a request.
//!
//! In Lambda, the function's adapter puts the [`Caller`] read from the API Gateway JWT
//! authorizer's claims into the request extensions. Locally, `recap serve` checks the bearer
//! token itself with [`LocalTokens`]: HS256 only (`alg: none` and every other algorithm are
//! refused), issuer and audience checked, `exp` and `nbf` honoured.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use recap_domain::Error;
use recap_domain::access::{
    CLAIM_EMAIL, CLAIM_GROUPS, CLAIM_SUB, CLAIM_TENANT, Caller, PLATFORM_ADMIN_GROUP,
};
use recap_domain::clock::{Clock, SystemClock};
use serde_json::{Map, Value, json};

use crate::{ApiError, AppState};

pub const LOCAL_ISSUER: &str = "recap-local";
pub const LOCAL_AUDIENCE: &str = "recap";

/// Signs and checks the local stack's tokens with one shared secret.
#[derive(Clone)]
pub struct LocalTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for LocalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalTokens(..)")
    }
}

impl LocalTokens {
    pub fn new(secret: &[u8]) -> Self {
        LocalTokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `caller`, valid for `ttl` from now.
    pub fn mint(&self, caller: &Caller, ttl: Duration) -> Result<String, Error> {
        let now = SystemClock.now().seconds();
        let mut groups = Vec::new();
        if caller.platform_admin {
            groups.push(PLATFORM_ADMIN_GROUP);
        }
        let mut claims = json!({
            CLAIM_SUB: caller.user.to_string(),
            CLAIM_TENANT: caller.tenant.to_string(),
            CLAIM_GROUPS: groups,
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        });
        if let Some(e) = &caller.email {
            claims[CLAIM_EMAIL] = Value::String(e.clone());
        }
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::unexpected("signing a token", e))
    }

    /// The caller a token vouches for, or why it does not.
    pub fn verify(&self, token: &str) -> Result<Caller, Error> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[LOCAL_ISSUER]);
        v.set_audience(&[LOCAL_AUDIENCE]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 5;
        let data = decode::<Map<String, Value>>(token, &self.decoding, &v)
            .map_err(|e| Error::Unauthenticated(format!("the token is not valid: {e}").into()))?;
        Caller::from_claims(&data.claims)
    }
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
