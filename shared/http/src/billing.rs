//! Credits, purchases, billing records and usage.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use recap_domain::Error;
use recap_domain::access::{Need, Scope, authorize};
use recap_domain::billing::{self, Subscription, Tier, When};
use recap_domain::clock::Timestamp;
use recap_domain::credits::{self, Balance, BillingRecord, CreditChange, Purchase, UsageReport};
use recap_domain::ids::UserId;
use recap_domain::roles::Permission;
use serde::Deserialize;

use crate::api::{Allowed, JsonBody, ListPage, ListParams, QueryParams, path_id};
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
    state: State<AppState>,
    allowed: Allowed,
    headers: HeaderMap,
    body: JsonBody<Purchase>,
) -> Result<(StatusCode, Json<BillingRecord>), ApiError> {
    change(state, allowed, headers, body, CreditChange::Purchase).await
}

pub(crate) async fn refund(
    state: State<AppState>,
    allowed: Allowed,
    headers: HeaderMap,
    body: JsonBody<Purchase>,
) -> Result<(StatusCode, Json<BillingRecord>), ApiError> {
    change(state, allowed, headers, body, CreditChange::Refund).await
}

async fn change(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Purchase>,
    kind: CreditChange,
) -> Result<(StatusCode, Json<BillingRecord>), ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Error::validation("Idempotency-Key", "must be visible ASCII"))?,
        ),
    };
    let ports = (s.records.as_ref(), s.clock.as_ref(), s.ids.as_ref());
    let record =
        credits::change_credits(ports, &a.caller.tenant, &a.caller.user, key, kind, body).await?;
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageParams {
    /// A day (`2026-11-01`, from its start) or an RFC 3339 instant.
    from: Option<String>,
    /// A day (`2026-11-30`, to its end) or an RFC 3339 instant.
    to: Option<String>,
    /// One user's usage: the caller's own, or anyone's with `billing:read`.
    #[param(value_type = Option<UserId>)]
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

pub(crate) async fn tiers(
    State(s): State<AppState>,
    Allowed(_): Allowed,
) -> Result<Json<ListPage<Tier>>, ApiError> {
    Ok(Json(
        (billing::tiers(s.records.as_ref()).await?, None).into(),
    ))
}

pub(crate) async fn create_tier(
    State(s): State<AppState>,
    Allowed(_): Allowed,
    JsonBody(body): JsonBody<Tier>,
) -> Result<(StatusCode, Json<Tier>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(billing::create_tier(s.records.as_ref(), body).await?),
    ))
}

pub(crate) async fn replace_tier(
    State(s): State<AppState>,
    Allowed(_): Allowed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Tier>,
) -> Result<Json<Tier>, ApiError> {
    Ok(Json(
        billing::update_tier(s.records.as_ref(), &id, body).await?,
    ))
}

/// The caller's own subscription.
pub(crate) async fn my_subscription(
    State(s): State<AppState>,
    Allowed(a): Allowed,
) -> Result<Json<Subscription>, ApiError> {
    billing::subscription(s.records.as_ref(), &a.caller.tenant, &a.caller.user)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(Error::not_found("subscription")))
}

/// Anyone's subscription (billing:read).
pub(crate) async fn subscription(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(user): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    let user = path_id(UserId::parse, &user, "subscription")?;
    billing::subscription(s.records.as_ref(), &a.caller.tenant, &user)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(Error::not_found("subscription")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionInput {
    tier: String,
    /// On a change of tier (PATCH): `now` (prorated, the default) or at the `next_period`.
    when: Option<When>,
}

/// Subscribes a user of the tenant (one active subscription each).
pub(crate) async fn subscribe(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<SubscriptionInput>,
) -> Result<(StatusCode, Json<Subscription>), ApiError> {
    let user = path_id(UserId::parse, &user, "user")?;
    let t = &a.caller.tenant;
    recap_domain::users::get(s.records.as_ref(), t, &user).await?;
    if body.when.is_some() {
        return Err(Error::validation("when", "applies to a change of tier (PATCH)").into());
    }
    let sub = billing::subscribe(
        s.records.as_ref(),
        s.clock.as_ref(),
        s.ids.as_ref(),
        t,
        &user,
        &a.caller.user,
        &body.tier,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(sub)))
}

/// Changes the tier, `now` (prorated, the default) or at the `next_period`.
pub(crate) async fn change_tier(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<SubscriptionInput>,
) -> Result<Json<Subscription>, ApiError> {
    let user = path_id(UserId::parse, &user, "subscription")?;
    let sub = billing::change_tier(
        s.records.as_ref(),
        s.clock.as_ref(),
        s.ids.as_ref(),
        &a.caller.tenant,
        &user,
        &a.caller.user,
        &body.tier,
        body.when.unwrap_or(When::Now),
    )
    .await?;
    Ok(Json(sub))
}

/// Cancels at the end of the period.
pub(crate) async fn cancel(
    State(s): State<AppState>,
    Allowed(a): Allowed,
    Path(user): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    let user = path_id(UserId::parse, &user, "subscription")?;
    Ok(Json(
        billing::cancel(s.records.as_ref(), &a.caller.tenant, &user).await?,
    ))
}
