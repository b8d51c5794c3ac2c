//! Model choice: each user's model per output type, the tenant's constraints per output type,
//! and regeneration (a new revision of an output, another model allowed).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recap_domain::billing::{self, SubscriptionStatus};
use recap_domain::generation::{self, Output};
use recap_domain::ids::OutputId;
use recap_domain::model_choice::{self, Constraints, OutputConstraints, Preference};
use serde::Deserialize;

use crate::api::{Allowed, JsonBody, ListPage, path_id};
use crate::outputs::ports;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreferenceInput {
    /// `provider/model`, from the catalog, allowed by the tier and the tenant's constraints.
    model: String,
}

pub(crate) async fn preferences(
    State(s): State<AppState>,
    Allowed(a): Allowed,
) -> Result<Json<ListPage<Preference>>, ApiError> {
    let items =
        model_choice::preferences(s.records.as_ref(), &a.caller.tenant, &a.caller.user).await?;
    Ok(Json((items, None).into()))
}

pub(crate) async fn preference(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(output_type): Path<String>,
) -> Result<Json<Preference>, ApiError> {
    let p = model_choice::preference(
        s.records.as_ref(),
        &a.caller.tenant,
        &a.caller.user,
        &output_type,
    )
    .await?
    .ok_or_else(|| recap_domain::Error::not_found("preference"))?;
    Ok(Json(p))
}

pub(crate) async fn set_preference(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(output_type): Path<String>,
    JsonBody(body): JsonBody<PreferenceInput>,
) -> Result<Json<Preference>, ApiError> {
    let tier = billing::subscription(s.records.as_ref(), &a.caller.tenant, &a.caller.user)
        .await?
        .filter(|s| s.status == SubscriptionStatus::Active)
        .map(|s| s.tier);
    let p = model_choice::set_preference(
        s.records.as_ref(),
        &a.caller.tenant,
        &a.caller.user,
        &output_type,
        &body.model,
        tier.as_ref(),
    )
    .await?;
    Ok(Json(p))
}

pub(crate) async fn delete_preference(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(output_type): Path<String>,
) -> Result<StatusCode, ApiError> {
    model_choice::delete_preference(
        s.records.as_ref(),
        &a.caller.tenant,
        &a.caller.user,
        &output_type,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn all_constraints(
    State(s): State<AppState>,
    Allowed(a): Allowed,
) -> Result<Json<ListPage<OutputConstraints>>, ApiError> {
    let items = model_choice::all_constraints(s.records.as_ref(), &a.caller.tenant).await?;
    Ok(Json((items, None).into()))
}

/// The constraints of one output type (none set: no constraint, every field empty).
pub(crate) async fn constraints(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(output_type): Path<String>,
) -> Result<Json<OutputConstraints>, ApiError> {
    let c = model_choice::constraints(s.records.as_ref(), &a.caller.tenant, &output_type)
        .await?
        .unwrap_or_default();
    Ok(Json(OutputConstraints {
        output_type,
        constraints: c,
    }))
}

pub(crate) async fn set_constraints(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(output_type): Path<String>,
    JsonBody(body): JsonBody<Constraints>,
) -> Result<Json<OutputConstraints>, ApiError> {
    let c = model_choice::set_constraints(s.records.as_ref(), &a.caller.tenant, &output_type, body)
        .await?;
    Ok(Json(c))
}

pub(crate) async fn delete_constraints(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(output_type): Path<String>,
) -> Result<StatusCode, ApiError> {
    model_choice::delete_constraints(s.records.as_ref(), &a.caller.tenant, &output_type).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegenerateInput {
    /// `provider/model`; left out, the model chain is chosen again (preference, tier default,
    /// offline).
    model: Option<String>,
}

/// A new revision of an output: reserved and queued like a request; 202.
pub(crate) async fn regenerate(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Output>), ApiError> {
    let id = path_id(OutputId::parse, &id, "output")?;
    // The body is optional: no body, the chain is chosen again.
    let body: RegenerateInput = if body.iter().all(u8::is_ascii_whitespace) {
        RegenerateInput::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| recap_domain::Error::validation("body", e.to_string()))?
    };
    let o = generation::regenerate(ports(&s), &a, &id, body.model.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(o)))
}
