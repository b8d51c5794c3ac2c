//! Outputs: request generation, list, read (with the rendered files), delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recap_domain::access::{Need, Scope, authorize};
use recap_domain::files::Presigned;
use recap_domain::generation::{self, Output, Ports};
use recap_domain::ids::{OutputId, TranscriptId};
use recap_domain::roles::Permission;
use recap_domain::transcripts;
use serde::{Deserialize, Serialize};

use crate::api::{Allowed, JsonBody, ListPage, ListParams, QueryParams, path_id};
use crate::{ApiError, AppState};

pub(crate) fn ports(s: &AppState) -> Ports<'_> {
    Ports {
        records: s.records.as_ref(),
        files: s.files.as_ref(),
        queue: s.generate.as_ref(),
        clock: s.clock.as_ref(),
        ids: s.ids.as_ref(),
        models: s.models.as_ref(),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutputsRequest {
    output_types: Vec<String>,
    /// `provider/model`: only that model. Left out: the caller's preference for each output
    /// type, the tier's default model, the offline provider, then the models the team or the
    /// tenant's constraints name.
    model: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuoteParams {
    /// Comma-separated: `one_pager,slides`; all four when left out.
    output_types: Option<String>,
    /// `provider/model`, as in `POST /transcripts/{id}/outputs`; left out, each output type's
    /// model is chosen as there.
    model: Option<String>,
}

/// What `POST /transcripts/{id}/outputs` with these output types and model would reserve,
/// reserving nothing; refused as that request would be.
pub(crate) async fn quote(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<QuoteParams>,
) -> Result<Json<recap_domain::credits::Quote>, ApiError> {
    let id = path_id(TranscriptId::parse, &id, "transcript")?;
    let output_types: Vec<String> = q
        .output_types
        .as_deref()
        .unwrap_or("one_pager,slides,bytes,anchors")
        .split(',')
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
        .collect();
    let quote = generation::quote(ports(&s), &a, &id, &output_types, q.model.as_deref()).await?;
    Ok(Json(quote))
}

/// Reserves credits and queues one job per output type: 202 with the outputs.
pub(crate) async fn request(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OutputsRequest>,
) -> Result<(StatusCode, Json<ListPage<Output>>), ApiError> {
    let id = path_id(TranscriptId::parse, &id, "transcript")?;
    let items = generation::request(
        ports(&s),
        &a,
        &id,
        &body.output_types,
        body.model.as_deref(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json((items, None).into())))
}

pub(crate) async fn of_transcript(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<ListPage<Output>>, ApiError> {
    let id = path_id(TranscriptId::parse, &id, "transcript")?;
    transcripts::get_for(s.records.as_ref(), &a, &id, Permission::OutputsRead).await?;
    let page = generation::list(
        s.records.as_ref(),
        &a.caller.tenant,
        Some(&id),
        p.limit()?,
        p.cursor,
    )
    .await?;
    Ok(Json(page.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutputListParams {
    /// Only outputs of this output type (`one_pager`, `slides`, `bytes`, `anchors`).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Items per page, 1-100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// The tenant's outputs the caller may read, newest first; `?type=` keeps one output type.
pub(crate) async fn list(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    QueryParams(q): QueryParams<OutputListParams>,
) -> Result<Json<ListPage<Output>>, ApiError> {
    if let Some(k) = q.kind.as_deref()
        && recap_domain::outputs::builtin(k).is_none()
    {
        return Err(recap_domain::Error::validation(
            "type",
            format!(
                "{k:?} is not an output type; known: {}",
                recap_domain::outputs::ALL.join(", ")
            ),
        )
        .into());
    }
    let page = ListParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let keep = |o: &Output| {
        q.kind.as_deref().is_none_or(|k| o.output_type == k)
            && a.permissions_in(o.team.as_ref())
                .contains(Permission::OutputsRead)
    };
    let (items, next) = generation::list_where(
        s.records.as_ref(),
        &a.caller.tenant,
        page.limit()?,
        page.cursor,
        keep,
    )
    .await?;
    Ok(Json(ListPage {
        items,
        next_cursor: next,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RenderedFile {
    name: String,
    content_type: String,
    /// The file itself, for text files up to 256 KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    download: Presigned,
}

/// An output with its rendered files.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OutputView {
    #[serde(flatten)]
    output: Output,
    rendered: Vec<RenderedFile>,
}

const INLINE_LIMIT: u64 = 256 * 1024;

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
) -> Result<Json<OutputView>, ApiError> {
    let id = path_id(OutputId::parse, &id, "output")?;
    let o = generation::get(s.records.as_ref(), &a.caller.tenant, &id).await?;
    authorize(
        &a,
        Need::Permission(Permission::OutputsRead, Scope::Team),
        o.team.as_ref(),
    )?;
    let mut rendered = Vec::new();
    for f in &o.files {
        let content = match s.files.head(&f.key).await? {
            Some(m) if m.size <= INLINE_LIMIT => s
                .files
                .get(&f.key)
                .await?
                .and_then(|(b, _)| String::from_utf8(b).ok()),
            _ => None,
        };
        rendered.push(RenderedFile {
            name: f.name.clone(),
            content_type: f.content_type.clone(),
            content,
            download: s
                .files
                .presign_get(&f.key, std::time::Duration::from_secs(15 * 60))
                .await?,
        });
    }
    Ok(Json(OutputView {
        output: o,
        rendered,
    }))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(OutputId::parse, &id, "output")?;
    generation::delete(ports(&s), &a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
