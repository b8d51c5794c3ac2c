//! Teams and their members.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recap_domain::ids::{TeamId, UserId};
use recap_domain::teams::{self, Member, Team, TeamInput};
use serde::Deserialize;

use crate::api::{Allowed, JsonBody, ListPage, ListParams, QueryParams, path_id};
use crate::{ApiError, AppState};

pub(crate) async fn list(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<ListPage<Team>>, ApiError> {
    let page = teams::list(s.records.as_ref(), &a.caller.tenant, p.limit()?, p.cursor).await?;
    Ok(Json(page.into()))
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    JsonBody(body): JsonBody<TeamInput>,
) -> Result<(StatusCode, Json<Team>), ApiError> {
    let team = teams::create(
        s.records.as_ref(),
        s.clock.as_ref(),
        s.ids.as_ref(),
        &a.caller.tenant,
        &a.caller.user,
        body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(team)))
}

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
) -> Result<Json<Team>, ApiError> {
    let id = path_id(TeamId::parse, &id, "team")?;
    Ok(Json(
        teams::get(s.records.as_ref(), &a.caller.tenant, &id).await?,
    ))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TeamInput>,
) -> Result<Json<Team>, ApiError> {
    let id = path_id(TeamId::parse, &id, "team")?;
    Ok(Json(
        teams::update(s.records.as_ref(), &a.caller.tenant, &id, body).await?,
    ))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(TeamId::parse, &id, "team")?;
    teams::delete(s.records.as_ref(), &a.caller.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn members(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<ListPage<Member>>, ApiError> {
    let id = path_id(TeamId::parse, &id, "team")?;
    let t = &a.caller.tenant;
    teams::get(s.records.as_ref(), t, &id).await?;
    let page = teams::members(s.records.as_ref(), t, &id, p.limit()?, p.cursor).await?;
    Ok(Json(page.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberRole {
    role: String,
}

pub(crate) async fn put_member(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path((team, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<MemberRole>,
) -> Result<Json<Member>, ApiError> {
    let team = path_id(TeamId::parse, &team, "team")?;
    let user = path_id(UserId::parse, &user, "user")?;
    let m = teams::put_member(
        s.records.as_ref(),
        s.clock.as_ref(),
        &a.caller.tenant,
        &team,
        &user,
        &body.role,
    )
    .await?;
    Ok(Json(m))
}

pub(crate) async fn remove_member(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path((team, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let team = path_id(TeamId::parse, &team, "team")?;
    let user = path_id(UserId::parse, &user, "user")?;
    teams::get(s.records.as_ref(), &a.caller.tenant, &team).await?;
    teams::remove_member(s.records.as_ref(), &a.caller.tenant, &team, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
