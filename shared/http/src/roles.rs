//! Roles: the built-in ones and the tenant's own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recap_domain::roles::{self, Role, RoleInput};

use crate::api::{Allowed, JsonBody, ListPage};
use crate::{ApiError, AppState};

pub(crate) async fn list(
    State(s): State<AppState>,
    Allowed(a): Allowed,
) -> Result<Json<ListPage<Role>>, ApiError> {
    let items = roles::list(s.records.as_ref(), &a.caller.tenant).await?;
    Ok(Json(ListPage {
        items,
        next_cursor: None,
    }))
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    JsonBody(body): JsonBody<RoleInput>,
) -> Result<(StatusCode, Json<Role>), ApiError> {
    let role = roles::create(s.records.as_ref(), s.clock.as_ref(), &a.caller.tenant, body).await?;
    Ok((StatusCode::CREATED, Json(role)))
}

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(name): Path<String>,
) -> Result<Json<Role>, ApiError> {
    Ok(Json(
        roles::get(s.records.as_ref(), &a.caller.tenant, &name).await?,
    ))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RoleInput>,
) -> Result<Json<Role>, ApiError> {
    Ok(Json(
        roles::update(s.records.as_ref(), &a.caller.tenant, &name, body).await?,
    ))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    roles::delete(s.records.as_ref(), &a.caller.tenant, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
