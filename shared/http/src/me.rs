//! `GET /me`: the caller, their user record (made on first sight), tenant role, permissions
//! and team roles.

use axum::Json;
use recap_domain::roles::Permission;
use recap_domain::users::User;
use serde::Serialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::api::Allowed;

#[derive(Debug, Serialize)]
pub(crate) struct Me {
    #[serde(flatten)]
    user: User,
    platform_admin: bool,
    permissions: Vec<Permission>,
    teams: Vec<Value>,
}

pub(crate) async fn me(Allowed(a): Allowed) -> Result<Json<Me>, ApiError> {
    Ok(Json(Me {
        permissions: a.tenant_permissions.list(),
        teams: a
            .teams
            .iter()
            .map(|(team, role, perms)| json!({"team": team, "role": role, "permissions": perms.list()}))
            .collect(),
        platform_admin: a.caller.platform_admin,
        user: a.user,
    }))
}
