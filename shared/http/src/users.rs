//! Users of the tenant and the tenant's settings.

use axum::Json;
use axum::extract::{Path, State};
use recap_domain::ids::UserId;
use recap_domain::tenants::{self, SettingsInput, TenantSettings};
use recap_domain::users::{self, User};
use serde::Deserialize;

use crate::api::{Allowed, JsonBody, ListPage, ListParams, QueryParams, path_id};
use crate::{ApiError, AppState};

pub(crate) async fn list(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<ListPage<User>>, ApiError> {
    let page = users::list(s.records.as_ref(), &a.caller.tenant, p.limit()?, p.cursor).await?;
    Ok(Json(page.into()))
}

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let id = path_id(UserId::parse, &id, "user")?;
    Ok(Json(
        users::get(s.records.as_ref(), &a.caller.tenant, &id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    role: String,
}

pub(crate) async fn set_role(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RoleChange>,
) -> Result<Json<User>, ApiError> {
    let id = path_id(UserId::parse, &id, "user")?;
    let user = users::set_role(s.records.as_ref(), &a.caller.tenant, &id, &body.role).await?;
    Ok(Json(user))
}

pub(crate) async fn tenant(
    State(s): State<AppState>,
    Allowed(a): Allowed,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(
        tenants::get(s.records.as_ref(), &a.caller.tenant).await?,
    ))
}

pub(crate) async fn update_tenant(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    JsonBody(body): JsonBody<SettingsInput>,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(
        tenants::update(s.records.as_ref(), &a.caller.tenant, body).await?,
    ))
}
