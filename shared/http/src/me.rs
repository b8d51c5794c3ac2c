//! `GET /me`: the caller and their user record (made on first sight).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use recap_domain::users::{self, User};
use serde::Serialize;

use crate::auth::Authed;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/me", get(me))
}

#[derive(Debug, Serialize)]
struct Me {
    #[serde(flatten)]
    user: User,
    platform_admin: bool,
}

async fn me(State(s): State<AppState>, Authed(caller): Authed) -> Result<Json<Me>, ApiError> {
    let user = users::ensure(s.records.as_ref(), s.clock.as_ref(), &caller).await?;
    Ok(Json(Me {
        user,
        platform_admin: caller.platform_admin,
    }))
}
