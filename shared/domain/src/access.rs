//! Who is calling: the caller as the identity provider vouches for it.
//!
//! In Lambda the API Gateway JWT authorizer has checked the token and hands its claims to
//! the function; locally `recap serve` checks the token itself. Both end in
//! [`Caller::from_claims`], so the handlers see one `Caller` either way. The tenant comes
//! from here only, never from a path or a body.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::{TeamId, TenantId, UserId};
use crate::keys;
use crate::records::{Query, Records, from_item, query_all};
use crate::roles::{self, Permission, Permissions, RoleName};
use crate::teams::Member;
use crate::users::{self, User};

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

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any authenticated caller of the tenant.
    Caller,
    /// A permission, held where the route's scope says.
    Permission(Permission, Scope),
    /// A platform admin (the flag in the token): the global catalog.
    PlatformAdmin,
}

/// Where a permission must be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// By the caller's tenant role.
    Tenant,
    /// By the tenant role, or the caller's role in the team the request is about (the
    /// route's `{team_id}`, or the team of the resource it names).
    Team,
    /// By the tenant role or any team role: a route's gate, for resources that may belong to a
    /// team. The handler checks again with `Scope::Team` once it knows the resource's team.
    Anywhere,
}

/// A caller with everything needed to decide what they may do: their tenant role's
/// permissions and their role in each team.
#[derive(Debug, Clone)]
pub struct Access {
    pub caller: Caller,
    pub user: User,
    pub tenant_permissions: Permissions,
    pub teams: Vec<(TeamId, RoleName, Permissions)>,
}

impl Access {
    /// The permissions the caller holds for a team's resources: the tenant role's and the
    /// team role's together.
    pub fn permissions_in(&self, team: Option<&TeamId>) -> Permissions {
        let in_team = team
            .and_then(|t| self.teams.iter().find(|(id, _, _)| id == t))
            .map(|(_, _, p)| *p)
            .unwrap_or_default();
        self.tenant_permissions.union(in_team)
    }
}

/// The one permission check. `team` is the team the request is about, for a `Scope::Team`
/// need; a team role never counts anywhere else.
pub fn authorize(access: &Access, need: Need, team: Option<&TeamId>) -> Result<()> {
    let granted = match need {
        Need::Caller => true,
        Need::PlatformAdmin => access.caller.platform_admin,
        Need::Permission(p, Scope::Tenant) => access.tenant_permissions.contains(p),
        Need::Permission(p, Scope::Team) => access.permissions_in(team).contains(p),
        Need::Permission(p, Scope::Anywhere) => {
            access.tenant_permissions.contains(p)
                || access.teams.iter().any(|(_, _, perms)| perms.contains(p))
        }
    };
    if granted {
        return Ok(());
    }
    Err(Error::Forbidden(match need {
        Need::PlatformAdmin => "only platform admins may change the global catalog".into(),
        Need::Permission(p, _) => {
            format!("your role ({}) does not grant {p}", access.user.role).into()
        }
        Need::Caller => "not allowed".into(),
    }))
}

/// Reads the caller's user record (made on first sight) and team roles: one Query of the
/// user's partition, plus one GetItem per custom role they hold.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn load(records: &dyn Records, clock: &dyn Clock, caller: &Caller) -> Result<Access> {
    let t = &caller.tenant;
    let mut user = None;
    let mut memberships = Vec::new();
    for item in query_all(records, Query::partition(keys::user_pk(t, &caller.user))).await? {
        match item.get("sk").and_then(serde_json::Value::as_str) {
            Some("PROFILE") => user = Some(from_item::<User>(item)?),
            Some(sk) if sk.starts_with(keys::TEAM_MEMBERSHIP_PREFIX) => {
                memberships.push(from_item::<Member>(item)?)
            }
            _ => {}
        }
    }
    let user = match user {
        Some(u) => u,
        None => users::ensure(records, clock, caller).await?,
    };
    let mut resolved: Vec<(RoleName, Permissions)> = Vec::new();
    let mut perms_of = async |name: &RoleName| -> Result<Permissions> {
        if let Some((_, p)) = resolved.iter().find(|(n, _)| n == name) {
            return Ok(*p);
        }
        let p = roles::permissions_of(records, t, name.as_str()).await?;
        resolved.push((name.clone(), p));
        Ok(p)
    };
    let tenant_permissions = perms_of(&user.role).await?;
    let mut teams = Vec::with_capacity(memberships.len());
    for m in memberships {
        let p = perms_of(&m.role).await?;
        teams.push((m.team, m.role, p));
    }
    Ok(Access {
        caller: caller.clone(),
        user,
        tenant_permissions,
        teams,
    })
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
