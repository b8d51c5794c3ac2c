//! The global catalog: providers and models with their prices. Everyone reads it; platform
//! admins change it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recap_domain::catalog::{self, Model, ModelInput, PriceVersion, Provider};
use serde::Serialize;

use crate::api::{Allowed, JsonBody, ListPage};
use crate::{ApiError, AppState};

pub(crate) async fn providers(
    State(s): State<AppState>,
    Allowed(_): Allowed,
) -> Result<Json<ListPage<Provider>>, ApiError> {
    Ok(Json(
        (catalog::providers(s.records.as_ref()).await?, None).into(),
    ))
}

pub(crate) async fn models(
    State(s): State<AppState>,
    Allowed(_): Allowed,
) -> Result<Json<ListPage<Model>>, ApiError> {
    Ok(Json(
        (catalog::models(s.records.as_ref()).await?, None).into(),
    ))
}

/// A model with every version of its price.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ModelWithPrices {
    #[serde(flatten)]
    model: Model,
    prices: Vec<PriceVersion>,
}

pub(crate) async fn model(
    State(s): State<AppState>,
    Allowed(_): Allowed,
    Path((provider, model)): Path<(String, String)>,
) -> Result<Json<ModelWithPrices>, ApiError> {
    let m = catalog::model(s.records.as_ref(), &provider, &model).await?;
    let prices = catalog::prices(s.records.as_ref(), &provider, &model).await?;
    Ok(Json(ModelWithPrices { model: m, prices }))
}

pub(crate) async fn create_model(
    State(s): State<AppState>,
    Allowed(_): Allowed,
    JsonBody(body): JsonBody<ModelInput>,
) -> Result<(StatusCode, Json<Model>), ApiError> {
    let m = catalog::create_model(s.records.as_ref(), s.clock.as_ref(), body).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

pub(crate) async fn update_model(
    State(s): State<AppState>,
    Allowed(_): Allowed,
    Path((provider, model)): Path<(String, String)>,
    JsonBody(body): JsonBody<ModelInput>,
) -> Result<Json<Model>, ApiError> {
    Ok(Json(
        catalog::update_model(
            s.records.as_ref(),
            s.clock.as_ref(),
            &provider,
            &model,
            body,
        )
        .await?,
    ))
}
