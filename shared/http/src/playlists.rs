//! Playlists: create, list, read with their items in order, rename, delete; add, annotate and
//! remove items; reorder.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recap_domain::ids::PlaylistId;
use recap_domain::playlists::{
    self, ItemId, ItemPatch, NewItem, NewOrder, NewPlaylist, PlaylistItem, PlaylistPatch,
    PlaylistSummary, PlaylistView, Ports,
};

use crate::api::{Allowed, JsonBody, ListPage, ListParams, QueryParams, path_id};
use crate::{ApiError, AppState};

fn ports(s: &AppState) -> Ports<'_> {
    Ports {
        records: s.records.as_ref(),
        clock: s.clock.as_ref(),
        ids: s.ids.as_ref(),
    }
}

fn playlist_id(s: &str) -> Result<PlaylistId, ApiError> {
    path_id(PlaylistId::parse, s, "playlist")
}

fn item_id(s: &str) -> Result<ItemId, ApiError> {
    path_id(ItemId::parse, s, "playlist item")
}

pub(crate) async fn list(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<ListPage<PlaylistSummary>>, ApiError> {
    let page = playlists::list(s.records.as_ref(), &a, p.limit()?, p.cursor).await?;
    Ok(Json(page.into()))
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    JsonBody(body): JsonBody<NewPlaylist>,
) -> Result<(StatusCode, Json<PlaylistView>), ApiError> {
    let created = playlists::create(ports(&s), &a, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
) -> Result<Json<PlaylistView>, ApiError> {
    let id = playlist_id(&id)?;
    Ok(Json(playlists::get(s.records.as_ref(), &a, &id).await?))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PlaylistPatch>,
) -> Result<Json<PlaylistView>, ApiError> {
    let id = playlist_id(&id)?;
    Ok(Json(playlists::update(ports(&s), &a, &id, body).await?))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = playlist_id(&id)?;
    playlists::delete(ports(&s), &a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn add_item(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewItem>,
) -> Result<(StatusCode, Json<PlaylistItem>), ApiError> {
    let id = playlist_id(&id)?;
    let item = playlists::add_item(ports(&s), &a, &id, body).await?;
    Ok((StatusCode::CREATED, Json(item)))
}

pub(crate) async fn update_item(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path((id, item)): Path<(String, String)>,
    JsonBody(body): JsonBody<ItemPatch>,
) -> Result<Json<PlaylistItem>, ApiError> {
    let id = playlist_id(&id)?;
    let item = item_id(&item)?;
    Ok(Json(
        playlists::update_item(ports(&s), &a, &id, &item, body).await?,
    ))
}

pub(crate) async fn remove_item(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path((id, item)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = playlist_id(&id)?;
    let item = item_id(&item)?;
    playlists::remove_item(ports(&s), &a, &id, &item).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn reorder(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewOrder>,
) -> Result<Json<PlaylistView>, ApiError> {
    let id = playlist_id(&id)?;
    Ok(Json(playlists::reorder(ports(&s), &a, &id, body).await?))
}
