//! Credits, purchases, billing records and usage.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use recap_domain::Error;
use recap_domain::access::{Need, Scope, authorize};
use recap_domain::clock::Timestamp;
use recap_domain::credits::{self, Balance, BillingRecord, Purchase, UsageReport};
use recap_domain::ids::UserId;
use recap_domain::roles::Permission;
use serde::Deserialize;

use crate::api::{Allowed, JsonBody, ListPage, ListParams, QueryParams};
use crate::{ApiError, AppState};

pub(crate) async fn my_credits(
    State(s): State<AppState>,
    Allowed(a): Allowed,
) -> Result<Json<Balance>, ApiError> {
    Ok(Json(
        credits::balance(s.records.as_ref(), &a.caller.tenant, &a.caller.user).await?,
    ))
}

pub(crate) async fn purchase(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Purchase>,
) -> Result<(StatusCode, Json<BillingRecord>), ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Error::validation("Idempotency-Key", "must be visible ASCII"))?,
        ),
    };
    let record = credits::purchase(
        s.records.as_ref(),
        s.clock.as_ref(),
        s.ids.as_ref(),
        &a.caller.tenant,
        &a.caller.user,
        key,
        body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

pub(crate) async fn billing_records(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<ListPage<BillingRecord>>, ApiError> {
    let page = credits::billing_records(s.records.as_ref(), &a.caller.tenant, p.limit()?, p.cursor)
        .await?;
    Ok(Json(page.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageParams {
    from: Option<String>,
    to: Option<String>,
    user_id: Option<String>,
}

/// A day (`2026-11-01`, from its start or to its end) or an RFC 3339 instant.
fn instant(field: &'static str, s: &str, end_of_day: bool) -> Result<Timestamp, Error> {
    let text = if s.len() == 10 {
        if end_of_day {
            format!("{s}T23:59:59.999Z")
        } else {
            format!("{s}T00:00:00Z")
        }
    } else {
        s.to_string()
    };
    Timestamp::parse_rfc3339(&text)
        .ok_or_else(|| Error::validation(field, "must be a date (2026-11-01) or an RFC 3339 time"))
}

/// A user sees their own usage; `billing:read` sees everyone's, or one user's.
pub(crate) async fn usage(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    QueryParams(q): QueryParams<UsageParams>,
) -> Result<Json<UsageReport>, ApiError> {
    let from = q
        .from
        .as_deref()
        .map(|f| instant("from", f, false))
        .transpose()?;
    let to =
        q.to.as_deref()
            .map(|t| instant("to", t, true))
            .transpose()?;
    let everyone = authorize(
        &a,
        Need::Permission(Permission::BillingRead, Scope::Tenant),
        None,
    );
    let user = match (q.user_id.as_deref(), everyone) {
        (None, Ok(())) => None,
        (None, Err(_)) => Some(a.caller.user),
        (Some(u), allowed) => {
            let u = UserId::parse(u)?;
            if u != a.caller.user {
                allowed?;
            }
            Some(u)
        }
    };
    Ok(Json(
        credits::usage(
            s.records.as_ref(),
            &a.caller.tenant,
            user.as_ref(),
            from,
            to,
        )
        .await?,
    ))
}
