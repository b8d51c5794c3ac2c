//! Who is calling: the caller as the identity provider vouches for it.
//!
//! In Lambda the API Gateway JWT authorizer has checked the token and hands its claims to
//! the function; locally `recap serve` checks the token itself. Both end in
//! [`Caller::from_claims`], so the handlers see one `Caller` either way. The tenant comes
//! from here only, never from a path or a body.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::ids::{TenantId, UserId};

pub const CLAIM_SUB: &str = "sub";
pub const CLAIM_TENANT: &str = "custom:tenant_id";
pub const CLAIM_EMAIL: &str = "email";
pub const CLAIM_GROUPS: &str = "cognito:groups";
/// Members of this identity-provider group manage the global catalog.
pub const PLATFORM_ADMIN_GROUP: &str = "platform-admins";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub user: UserId,
    pub tenant: TenantId,
    pub email: Option<String>,
    pub platform_admin: bool,
}

impl Caller {
    /// Reads a caller from token claims. API Gateway hands claims over as strings, flattening
    /// arrays into text such as `"[admins ops]"`; a verified token has real arrays. Both are
    /// read. A missing or malformed `sub` or tenant is unauthenticated, not a validation error.
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Caller> {
        let id = |name: &str| -> Result<&str> {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    Error::Unauthenticated(format!("the token has no {name} claim").into())
                })
        };
        let user = UserId::parse(id(CLAIM_SUB)?)
            .map_err(|_| Error::Unauthenticated("the token's sub is not a user id".into()))?;
        let tenant = TenantId::parse(id(CLAIM_TENANT)?)
            .map_err(|_| Error::Unauthenticated("the token's tenant is not a tenant id".into()))?;
        let email = claims
            .get(CLAIM_EMAIL)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let platform_admin = groups(claims.get(CLAIM_GROUPS))
            .iter()
            .any(|g| g == PLATFORM_ADMIN_GROUP);
        Ok(Caller {
            user,
            tenant,
            email,
            platform_admin,
        })
    }
}

/// The groups claim as a list, from a JSON array or API Gateway's flattened `"[a b]"`.
pub fn groups(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split([' ', ','])
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const U: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn flattened_and_real_group_arrays_are_read() {
        assert_eq!(
            groups(Some(&json!("[platform-admins ops]"))),
            vec!["platform-admins", "ops"]
        );
        assert_eq!(groups(Some(&json!(["a", "b"]))), vec!["a", "b"]);
        assert_eq!(groups(Some(&json!("[]"))), Vec::<String>::new());
        assert_eq!(groups(None), Vec::<String>::new());
        let c = Caller::from_claims(&claims(
            json!({"sub": U, "custom:tenant_id": T, "cognito:groups": "[ops platform-admins]"}),
        ))
        .unwrap();
        assert!(c.platform_admin);
        let c = Caller::from_claims(&claims(json!({"sub": U, "custom:tenant_id": T, "cognito:groups": "[platform-admins-not]", "email": "a@b.c"}))).unwrap();
        assert!(!c.platform_admin);
        assert_eq!(c.email.as_deref(), Some("a@b.c"));
    }

    #[test]
    fn missing_or_bad_identity_is_unauthenticated() {
        for bad in [
            json!({"sub": U}),
            json!({"custom:tenant_id": T}),
            json!({"sub": U, "custom:tenant_id": ""}),
            json!({"sub": U, "custom:tenant_id": "acme"}),
            json!({"sub": "not-a-uuid", "custom:tenant_id": T}),
            json!({"sub": U, "custom:tenant_id": 5}),
        ] {
            assert!(
                matches!(
                    Caller::from_claims(&claims(bad.clone())),
                    Err(Error::Unauthenticated(_))
                ),
                "{bad}"
            );
        }
    }
}
