//! `GET /me`: the caller, their user record (made on first sight), tenant role, permissions
//! and team roles.

use axum::Json;
use recap_domain::ids::TeamId;
use recap_domain::roles::{Permission, RoleName};
use recap_domain::users::User;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiError;
use crate::api::Allowed;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Me {
    #[serde(flatten)]
    user: User,
    platform_admin: bool,
    /// What the tenant role allows, anywhere in the tenant.
    permissions: Vec<Permission>,
    teams: Vec<TeamRole>,
}

/// The caller's role in one team, and what it allows for that team's resources.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TeamRole {
    team: TeamId,
    role: RoleName,
    permissions: Vec<Permission>,
}

pub(crate) async fn me(Allowed(a): Allowed) -> Result<Json<Me>, ApiError> {
    Ok(Json(Me {
        permissions: a.tenant_permissions.list(),
        teams: a
            .teams
            .iter()
            .map(|(team, role, perms)| TeamRole {
                team: *team,
                role: role.clone(),
                permissions: perms.list(),
            })
            .collect(),
        platform_admin: a.caller.platform_admin,
        user: a.user,
    }))
}
