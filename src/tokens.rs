//! The local stack's bearer tokens: HS256 with one shared secret (`RECAP_JWT_SECRET`, or the
//! data directory's own). Only HS256 is accepted (`alg: none` and every other algorithm are
//! refused); issuer and audience are checked; `exp` and `nbf` are honoured. In Lambda, API
//! Gateway's JWT authorizer does this job, so this lives in the local stack only.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use recap_domain::Error;
use recap_domain::access::{
    CLAIM_EMAIL, CLAIM_GROUPS, CLAIM_SUB, CLAIM_TENANT, Caller, PLATFORM_ADMIN_GROUP,
};
use recap_domain::clock::{Clock, SystemClock};
use recap_http::auth::BearerTokens;
use serde_json::{Map, Value, json};

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
}

impl BearerTokens for LocalTokens {
    /// The caller a token vouches for, or why it does not.
    fn verify(&self, token: &str) -> Result<Caller, Error> {
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
