//! The route table: every route Recap serves, the permission it needs, and the Lambda
//! function (route group) that serves it. The router is built from this table, and the
//! gate in front of each handler checks the route's need with `access::authorize`, so a route
//! cannot exist without a stated permission. The tenant-isolation and role tests are generated
//! from it too.

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use recap_domain::access::{self, Access, Need, Scope};
use recap_domain::ids::TeamId;
use recap_domain::roles::Permission;

use crate::auth::Authed;
use crate::{ApiError, AppState, billing, catalog, me, outputs, roles, teams, transcripts, users};

/// The Lambda function that serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `functions/api-teams`: teams, members, roles, users, tenant settings, `/me`.
    Teams,
    /// `functions/api-transcripts`: transcripts and quotes.
    Transcripts,
    /// `functions/api-billing`: credits, purchases, billing records, usage.
    Billing,
    /// `functions/api-catalog`: providers, models with their prices, transcript types.
    Catalog,
    /// `functions/api-outputs`: generation requests and outputs.
    Outputs,
}

/// Whose data a route touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// The caller's tenant's: another tenant's ids are not found.
    Tenant,
    /// The global catalog, the same for every tenant.
    Catalog,
}

pub struct RouteSpec {
    pub method: Method,
    /// axum's path syntax; ids are `{team_id}`, `{user_id}`, `{role}`, …
    pub path: &'static str,
    pub need: Need,
    pub group: Group,
    pub data: Data,
    /// A valid request body, for the docs and the generated tests. `<user_id>` and the like
    /// stand for ids of the caller's tenant, which the tests fill in.
    pub example: Option<&'static str>,
    pub handler: fn() -> MethodRouter<AppState>,
}

const fn perm(p: Permission) -> Need {
    Need::Permission(p, Scope::Tenant)
}

const fn in_team(p: Permission) -> Need {
    Need::Permission(p, Scope::Team)
}

/// For resources that may belong to a team: the handler checks the resource's team.
const fn anywhere(p: Permission) -> Need {
    Need::Permission(p, Scope::Anywhere)
}

/// Every route. Add a route here (and nowhere else) to serve it.
pub fn table() -> Vec<RouteSpec> {
    use Permission::*;
    use axum::routing::{delete, get, patch, post, put};
    let r = |method, path, need, example, handler| RouteSpec {
        method,
        path,
        need,
        group: Group::Teams,
        data: Data::Tenant,
        example,
        handler,
    };
    let tr = |method, path, need, example, handler| RouteSpec {
        group: Group::Transcripts,
        ..r(method, path, need, example, handler)
    };
    // Built-in and tenants' own transcript types: served with the catalog, tenant data.
    let typ = |method, path, need, example, handler| RouteSpec {
        group: Group::Catalog,
        ..r(method, path, need, example, handler)
    };
    let out = |method, path, need, example, handler| RouteSpec {
        group: Group::Outputs,
        ..r(method, path, need, example, handler)
    };
    let bill = |method, path, need, example, handler| RouteSpec {
        group: Group::Billing,
        ..r(method, path, need, example, handler)
    };
    let cat = |method, path, need, example, handler| RouteSpec {
        group: Group::Catalog,
        data: Data::Catalog,
        ..r(method, path, need, example, handler)
    };
    vec![
        r(Method::GET, "/me", Need::Caller, None, || get(me::me)),
        r(Method::GET, "/users", perm(TeamsRead), None, || {
            get(users::list)
        }),
        r(
            Method::GET,
            "/users/{user_id}",
            perm(TeamsRead),
            None,
            || get(users::get_one),
        ),
        r(
            Method::PATCH,
            "/users/{user_id}",
            perm(TeamsManage),
            Some(r#"{"role":"viewer"}"#),
            || patch(users::set_role),
        ),
        r(Method::GET, "/tenant", perm(TeamsRead), None, || {
            get(users::tenant)
        }),
        r(
            Method::PATCH,
            "/tenant",
            perm(TeamsManage),
            Some(r#"{"default_role":"viewer"}"#),
            || patch(users::update_tenant),
        ),
        r(Method::GET, "/roles", perm(TeamsRead), None, || {
            get(roles::list)
        }),
        r(
            Method::POST,
            "/roles",
            perm(TeamsManage),
            Some(r#"{"name":"reviewer","permissions":["transcripts:read"]}"#),
            || post(roles::create),
        ),
        r(Method::GET, "/roles/{role}", perm(TeamsRead), None, || {
            get(roles::get_one)
        }),
        r(
            Method::PATCH,
            "/roles/{role}",
            perm(TeamsManage),
            Some(r#"{"permissions":["transcripts:read","outputs:read"]}"#),
            || patch(roles::update),
        ),
        r(
            Method::DELETE,
            "/roles/{role}",
            perm(TeamsManage),
            None,
            || delete(roles::delete),
        ),
        r(Method::GET, "/teams", perm(TeamsRead), None, || {
            get(teams::list)
        }),
        r(
            Method::POST,
            "/teams",
            perm(TeamsManage),
            Some(r#"{"name":"Sales","description":"Field sales"}"#),
            || post(teams::create),
        ),
        r(
            Method::GET,
            "/teams/{team_id}",
            in_team(TeamsRead),
            None,
            || get(teams::get_one),
        ),
        r(
            Method::PATCH,
            "/teams/{team_id}",
            in_team(TeamsManage),
            Some(r#"{"name":"Renamed"}"#),
            || patch(teams::update),
        ),
        r(
            Method::DELETE,
            "/teams/{team_id}",
            perm(TeamsManage),
            None,
            || delete(teams::delete),
        ),
        r(
            Method::GET,
            "/teams/{team_id}/members",
            in_team(TeamsRead),
            None,
            || get(teams::members),
        ),
        r(
            Method::PUT,
            "/teams/{team_id}/members/{user_id}",
            in_team(TeamsManage),
            Some(r#"{"role":"editor"}"#),
            || put(teams::put_member),
        ),
        r(
            Method::DELETE,
            "/teams/{team_id}/members/{user_id}",
            in_team(TeamsManage),
            None,
            || delete(teams::remove_member),
        ),
        tr(
            Method::GET,
            "/transcripts",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::list),
        ),
        tr(
            Method::POST,
            "/transcripts",
            anywhere(TranscriptsWrite),
            Some(
                r#"{"title":"Weekly sync","type":"meeting","content":"Ada: Shall we start?\nGrace: Yes."}"#,
            ),
            || post(transcripts::create),
        ),
        tr(
            Method::GET,
            "/transcripts/{transcript_id}",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::get_one),
        ),
        tr(
            Method::PATCH,
            "/transcripts/{transcript_id}",
            anywhere(TranscriptsWrite),
            Some(r#"{"title":"Renamed"}"#),
            || patch(transcripts::update),
        ),
        tr(
            Method::DELETE,
            "/transcripts/{transcript_id}",
            anywhere(TranscriptsWrite),
            None,
            || delete(transcripts::delete),
        ),
        typ(
            Method::GET,
            "/transcript-types",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::list_types),
        ),
        typ(
            Method::POST,
            "/transcript-types",
            perm(TranscriptsWrite),
            Some(
                r#"{"type":"support","sub_type":"escalation","instructions":"A support escalation.","extra_schema":{"type":"object","properties":{"ticket":{"type":"string"}}}}"#,
            ),
            || post(transcripts::create_type),
        ),
        typ(
            Method::GET,
            "/transcript-types/{type}/{sub_type}",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::get_type),
        ),
        typ(
            Method::PATCH,
            "/transcript-types/{type}/{sub_type}",
            perm(TranscriptsWrite),
            Some(r#"{"instructions":"Changed."}"#),
            || patch(transcripts::update_type),
        ),
        typ(
            Method::DELETE,
            "/transcript-types/{type}/{sub_type}",
            perm(TranscriptsWrite),
            None,
            || delete(transcripts::delete_type),
        ),
        tr(
            Method::GET,
            "/transcripts/{transcript_id}/outputs/quote",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::quote),
        ),
        out(
            Method::POST,
            "/transcripts/{transcript_id}/outputs",
            anywhere(OutputsGenerate),
            Some(r#"{"output_types":["one_pager","anchors"]}"#),
            || post(outputs::request),
        ),
        out(
            Method::GET,
            "/transcripts/{transcript_id}/outputs",
            anywhere(OutputsRead),
            None,
            || get(outputs::of_transcript),
        ),
        out(Method::GET, "/outputs", anywhere(OutputsRead), None, || {
            get(outputs::list)
        }),
        out(
            Method::GET,
            "/outputs/{output_id}",
            anywhere(OutputsRead),
            None,
            || get(outputs::get_one),
        ),
        out(
            Method::DELETE,
            "/outputs/{output_id}",
            anywhere(OutputsGenerate),
            None,
            || delete(outputs::delete),
        ),
        bill(Method::GET, "/credits", Need::Caller, None, || {
            get(billing::my_credits)
        }),
        bill(
            Method::POST,
            "/credits/purchases",
            perm(BillingManage),
            Some(r#"{"user_id":"<user_id>","credits":100,"amount_micro_usd":1000000}"#),
            || post(billing::purchase),
        ),
        bill(
            Method::POST,
            "/credits/refunds",
            perm(BillingManage),
            Some(r#"{"user_id":"<user_id>","credits":1,"amount_micro_usd":1000}"#),
            || post(billing::refund),
        ),
        bill(
            Method::GET,
            "/billing-records",
            perm(BillingRead),
            None,
            || get(billing::billing_records),
        ),
        // Everyone sees their own usage; billing:read sees the tenant's (checked inside).
        bill(Method::GET, "/usage", Need::Caller, None, || {
            get(billing::usage)
        }),
        RouteSpec {
            data: Data::Catalog,
            ..bill(Method::GET, "/tiers", Need::Caller, None, || {
                get(billing::tiers)
            })
        },
        RouteSpec {
            data: Data::Catalog,
            ..bill(
                Method::POST,
                "/tiers",
                Need::PlatformAdmin,
                Some(
                    r#"{"id":"startup","name":"Startup","price_micro_usd":5000000,"monthly_credits":5000,"ai_calls_per_period":500,"allowed_models":[],"features":{},"credit_rate":{"micro_usd_per_credit":1000},"overage":{"policy":"block"},"active":true}"#,
                ),
                || post(billing::create_tier),
            )
        },
        RouteSpec {
            data: Data::Catalog,
            ..bill(
                Method::PUT,
                "/tiers/{tier}",
                Need::PlatformAdmin,
                Some(
                    r#"{"id":"free","name":"Free","price_micro_usd":0,"monthly_credits":200,"ai_calls_per_period":50,"allowed_models":["offline/extractive","openai/gpt-4o-mini","google/gemini-2.5-flash"],"features":{"playlists":false},"credit_rate":{"micro_usd_per_credit":1000},"overage":{"policy":"block"},"active":true}"#,
                ),
                || put(billing::replace_tier),
            )
        },
        bill(Method::GET, "/subscription", Need::Caller, None, || {
            get(billing::my_subscription)
        }),
        bill(
            Method::GET,
            "/subscriptions/{user_id}",
            perm(BillingRead),
            None,
            || get(billing::subscription),
        ),
        bill(
            Method::PUT,
            "/subscriptions/{user_id}",
            perm(BillingManage),
            Some(r#"{"tier":"pro"}"#),
            || put(billing::subscribe),
        ),
        bill(
            Method::PATCH,
            "/subscriptions/{user_id}",
            perm(BillingManage),
            Some(r#"{"tier":"team","when":"next_period"}"#),
            || patch(billing::change_tier),
        ),
        bill(
            Method::DELETE,
            "/subscriptions/{user_id}",
            perm(BillingManage),
            None,
            || delete(billing::cancel),
        ),
        cat(Method::GET, "/providers", Need::Caller, None, || {
            get(catalog::providers)
        }),
        cat(Method::GET, "/models", Need::Caller, None, || {
            get(catalog::models)
        }),
        cat(
            Method::GET,
            "/models/{provider}/{model}",
            Need::Caller,
            None,
            || get(catalog::model),
        ),
        cat(
            Method::POST,
            "/models",
            Need::PlatformAdmin,
            Some(
                r#"{"provider":"self_hosted","model":"qwen-2.5-7b","context_window":32768,"max_output_tokens":4096,"price":{"uncached_input":100000,"cache_read":0,"cache_write":0,"output":200000,"reasoning":200000}}"#,
            ),
            || post(catalog::create_model),
        ),
        cat(
            Method::PATCH,
            "/models/{provider}/{model}",
            Need::PlatformAdmin,
            Some(r#"{"display_name":"Renamed"}"#),
            || patch(catalog::update_model),
        ),
    ]
}

/// Checks the caller against a route's need before its handler runs, and hands the handler the
/// caller's [`Access`]. 401 without a caller; 403 without the permission (before anything is
/// looked up, so a 403 says nothing of whether the object exists).
pub(crate) async fn gate(
    State((state, need)): State<(AppState, Need)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let caller = match Authed::from_request_parts(&mut parts, &state).await {
        Ok(Authed(c)) => c,
        Err(e) => return e.into_response(),
    };
    let team = match RawPathParams::from_request_parts(&mut parts, &state).await {
        Ok(params) => params
            .iter()
            .find(|(k, _)| *k == "team_id")
            .and_then(|(_, v)| TeamId::parse(v).ok()),
        Err(_) => None,
    };
    let checked = async {
        let a = access::load(state.records.as_ref(), state.clock.as_ref(), &caller).await?;
        access::authorize(&a, need, team.as_ref())?;
        Ok::<Access, recap_domain::Error>(a)
    }
    .await;
    match checked {
        Ok(a) => {
            parts.extensions.insert(a);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => ApiError(e).into_response(),
    }
}
