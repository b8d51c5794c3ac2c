//! What every resource router shares: the checked caller, JSON bodies and list pages, each
//! failing as problem+json.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use recap_domain::Error;
use recap_domain::access::Access;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

/// The caller, after the route's gate let them through.
pub struct Allowed(pub Access);

impl<S: Send + Sync> FromRequestParts<S> for Allowed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Access>()
            .cloned()
            .map(Allowed)
            .ok_or_else(|| {
                ApiError(Error::Unexpected {
                    context: "a handler ran without its route's gate".into(),
                    source: None,
                })
            })
    }
}

/// A JSON request body; a malformed one is a 400 that says what is wrong.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => Err(crate::problem::body_rejection(
                rejection.status(),
                rejection.body_text(),
            )),
        }
    }
}

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 100;

/// `?limit=&cursor=` of every list route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1-100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

impl ListParams {
    pub fn limit(&self) -> Result<u32, Error> {
        match self.limit {
            None => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(_) => Err(Error::validation(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            )),
        }
    }
}

/// Query parameters; malformed ones are a 400.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryParams(v)),
            Err(rejection) => Err(ApiError(Error::validation("query", rejection.body_text()))),
        }
    }
}

/// One page of a list: `{"items": […], "next_cursor": …}` (the cursor is absent on the last).
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// Where the next page starts (`?cursor=`); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> From<(Vec<T>, Option<String>)> for ListPage<T> {
    fn from((items, next_cursor): (Vec<T>, Option<String>)) -> Self {
        ListPage { items, next_cursor }
    }
}

/// An id in a path: one that is not an id is not found, as another tenant's would be.
pub fn path_id<T>(
    parse: impl FnOnce(&str) -> Result<T, Error>,
    s: &str,
    what: &'static str,
) -> Result<T, ApiError> {
    parse(s).map_err(|_| ApiError(Error::not_found(what)))
}
