//! Transcripts and transcript types.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recap_domain::Error;
use recap_domain::files::Presigned;
use recap_domain::ids::TranscriptId;
use recap_domain::roles::Permission;
use recap_domain::transcript_types::{self, TranscriptType, TypeInput};
use recap_domain::transcripts::{
    self, Created, ListFilter, NewTranscript, Ports, Status, Transcript, TranscriptPatch,
};
use serde::{Deserialize, Serialize};

use crate::api::{Allowed, JsonBody, ListPage, ListParams, QueryParams, path_id};
use crate::{ApiError, AppState};

fn ports(s: &AppState) -> Ports<'_> {
    Ports {
        records: s.records.as_ref(),
        files: s.files.as_ref(),
        clock: s.clock.as_ref(),
        ids: s.ids.as_ref(),
    }
}

/// A transcript as the API shows it: speakers under their display names, and its segments
/// inline or as a download URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TranscriptView {
    #[serde(flatten)]
    transcript: Transcript,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<Vec<recap_transcript::Segment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments_url: Option<Presigned>,
}

fn view(mut t: Transcript) -> Transcript {
    t.speakers = t.speakers_named();
    t
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TranscriptListParams {
    /// Only transcripts of this type (`meeting`, `sales`, …).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Only transcripts in this state.
    #[param(value_type = Option<Status>)]
    status: Option<String>,
    // Not a flattened `ListParams`: serde_urlencoded cannot read numbers through `flatten`.
    /// Items per page, 1-100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

pub(crate) async fn list(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    QueryParams(p): QueryParams<TranscriptListParams>,
) -> Result<Json<ListPage<Transcript>>, ApiError> {
    let filter = ListFilter {
        kind: p.kind,
        status: p.status.as_deref().map(Status::parse).transpose()?,
    };
    let page = ListParams {
        limit: p.limit,
        cursor: p.cursor,
    };
    let (items, next) =
        transcripts::list(s.records.as_ref(), &a, &filter, page.limit()?, page.cursor).await?;
    Ok(Json(ListPage {
        items: items.into_iter().map(view).collect(),
        next_cursor: next,
    }))
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    JsonBody(body): JsonBody<NewTranscript>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let created = transcripts::create(ports(&s), &a, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetParams {
    /// `inline` puts the segments in the answer; otherwise a download URL is given.
    #[param(pattern = "^inline$")]
    segments: Option<String>,
}

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<GetParams>,
) -> Result<Json<TranscriptView>, ApiError> {
    let id = path_id(TranscriptId::parse, &id, "transcript")?;
    let t = transcripts::get_for(s.records.as_ref(), &a, &id, Permission::TranscriptsRead).await?;
    let (segments, segments_url) = match q.segments.as_deref() {
        Some("inline") if t.status == Status::Ready => (
            Some(transcripts::segments(ports(&s), &t).await?.segments),
            None,
        ),
        Some("inline") | None => (None, transcripts::download_url(ports(&s), &t).await?),
        Some(_) => {
            return Err(Error::validation("segments", "must be inline, or left out").into());
        }
    };
    Ok(Json(TranscriptView {
        transcript: view(t),
        segments,
        segments_url,
    }))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TranscriptPatch>,
) -> Result<Json<Transcript>, ApiError> {
    let id = path_id(TranscriptId::parse, &id, "transcript")?;
    let t = transcripts::update(s.records.as_ref(), s.clock.as_ref(), &a, &id, body).await?;
    Ok(Json(view(t)))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(TranscriptId::parse, &id, "transcript")?;
    transcripts::delete(ports(&s), &a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_types(
    State(s): State<AppState>,
    Allowed(a): Allowed,
) -> Result<Json<ListPage<TranscriptType>>, ApiError> {
    let items = transcript_types::list(s.records.as_ref(), &a.caller.tenant).await?;
    Ok(Json(ListPage {
        items,
        next_cursor: None,
    }))
}

pub(crate) async fn create_type(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    JsonBody(body): JsonBody<TypeInput>,
) -> Result<(StatusCode, Json<TranscriptType>), ApiError> {
    let t = transcript_types::create(s.records.as_ref(), s.clock.as_ref(), &a.caller.tenant, body)
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

pub(crate) async fn get_type(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path((kind, sub)): Path<(String, String)>,
) -> Result<Json<TranscriptType>, ApiError> {
    Ok(Json(
        transcript_types::get(s.records.as_ref(), &a.caller.tenant, &kind, &sub).await?,
    ))
}

pub(crate) async fn update_type(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path((kind, sub)): Path<(String, String)>,
    JsonBody(body): JsonBody<TypeInput>,
) -> Result<Json<TranscriptType>, ApiError> {
    Ok(Json(
        transcript_types::update(s.records.as_ref(), &a.caller.tenant, &kind, &sub, body).await?,
    ))
}

pub(crate) async fn delete_type(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path((kind, sub)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    transcript_types::delete(s.records.as_ref(), &a.caller.tenant, &kind, &sub).await?;
    Ok(StatusCode::NO_CONTENT)
}
