//! The route table: every route Recap serves, the permission it needs, and the Lambda
//! function (route group) that serves it. The router is built from this table, and the
//! gate in front of each handler checks the route's need with `access::authorize`, so a route
//! cannot exist without a stated permission. The tenant-isolation and role tests are generated
//! from it too.

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use recap_domain::access::{self, Access, Need, Scope};
use recap_domain::ids::TeamId;
use recap_domain::roles::Permission;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authed;
use crate::{
    ApiError, AppState, billing, catalog, choice, me, openapi, outputs, playlists, roles, teams,
    transcripts, users,
};

use crate::api::ListParams;
use recap_domain::billing::{Subscription, Tier};
use recap_domain::catalog::{Model, ModelInput, Provider};
use recap_domain::credits::{Balance, BillingRecord, Purchase, Quote, UsageReport};
use recap_domain::generation::Output;
use recap_domain::model_choice::{Constraints, OutputConstraints, Preference};
use recap_domain::playlists::{
    ItemPatch, NewItem, NewOrder, NewPlaylist, PlaylistItem, PlaylistPatch, PlaylistSummary,
    PlaylistView,
};
use recap_domain::roles::{Role, RoleInput};
use recap_domain::teams::{Member, Team, TeamInput};
use recap_domain::tenants::{SettingsInput, TenantSettings};
use recap_domain::transcript_types::{TranscriptType, TypeInput};
use recap_domain::transcripts::{Created, NewTranscript, Transcript, TranscriptPatch};
use recap_domain::users::User;

/// The Lambda function that serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `functions/api-teams`: teams, members, roles, users, tenant settings, `/me`.
    Teams,
    /// `functions/api-transcripts`: transcripts.
    Transcripts,
    /// `functions/api-billing`: credits, purchases, billing records, usage.
    Billing,
    /// `functions/api-catalog`: providers, models with their prices, transcript types.
    Catalog,
    /// `functions/api-outputs`: outputs and their rendered files.
    Outputs,
    /// `functions/api-generation`: generation requests and their quotes, model preferences and constraints.
    Generation,
    /// `functions/api-playlists`: playlists and their items.
    Playlists,
}

impl Group {
    /// Every group, in the order of the API description.
    pub const ALL: [Group; 7] = [
        Group::Teams,
        Group::Transcripts,
        Group::Billing,
        Group::Catalog,
        Group::Outputs,
        Group::Generation,
        Group::Playlists,
    ];

    /// The routes of this group. A Lambda function names its group's function ([`teams`], …)
    /// instead, so that it links its own handlers and no other group's.
    pub fn routes(self) -> Vec<RouteSpec> {
        match self {
            Group::Teams => teams(),
            Group::Transcripts => transcripts(),
            Group::Billing => billing(),
            Group::Catalog => catalog(),
            Group::Outputs => outputs(),
            Group::Generation => generation(),
            Group::Playlists => playlists(),
        }
    }
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
    pub handler: Handler,
    /// What the API description (`openapi`) says of the route beyond the above; set with
    /// [`RouteSpec::ok`] and the other builders below.
    pub doc: Doc,
}

/// What builds a route's axum handler.
pub type Handler = fn() -> MethodRouter<AppState>;

/// Adds the schemas a body needs to the document's components, and answers the schema to use
/// (a reference to one of them): [`openapi::named`] or [`openapi::page`] of a type.
pub type SchemaFn = fn(&mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema>;

/// A route's documentation: its summary, request body, query parameters, success answer, and
/// the errors it can answer beyond those every route of its kind can (see `openapi`).
#[derive(Clone, Copy, Default)]
pub struct Doc {
    pub summary: &'static str,
    pub request: Option<SchemaFn>,
    pub query: Option<fn() -> Vec<Parameter>>,
    /// `None` until documented: the OpenAPI tests fail for such a route.
    pub answer: Option<(StatusCode, Option<SchemaFn>)>,
    pub errors: &'static [StatusCode],
}

/// Whether route tables carry their [`Doc`]s: with recap-http's `document` feature (the tests,
/// and anything else that builds the API description). Without it (the Lambda functions and
/// `recap serve`, which serve the generated file) the builders below leave `doc` empty, so that
/// no schema code is linked into a binary that never describes the API.
pub const DOCUMENTED: bool = cfg!(feature = "document");

/// Builders of a route's [`Doc`], chained onto its table entry (a no-op without
/// [`DOCUMENTED`]).
impl RouteSpec {
    /// Answers 200 with a `T`.
    pub fn ok<T: ToSchema>(self, summary: &'static str) -> Self {
        self.answers(StatusCode::OK, Some(openapi::named::<T>), summary)
    }
    /// Answers 201 with the `T` created.
    pub fn created<T: ToSchema>(self, summary: &'static str) -> Self {
        self.answers(StatusCode::CREATED, Some(openapi::named::<T>), summary)
    }
    /// Answers 200 with a page of `T` ([`ListPage`](crate::api::ListPage)).
    pub fn page<T: ToSchema>(self, summary: &'static str) -> Self {
        self.answers(StatusCode::OK, Some(openapi::page::<T>), summary)
    }
    /// Answers 204 without a body.
    pub fn no_content(self, summary: &'static str) -> Self {
        self.answers(StatusCode::NO_CONTENT, None, summary)
    }
    /// Answers `status` with `body`.
    pub fn answers(
        mut self,
        status: StatusCode,
        body: Option<SchemaFn>,
        summary: &'static str,
    ) -> Self {
        if DOCUMENTED {
            self.doc.summary = summary;
            self.doc.answer = Some((status, body));
        }
        self
    }
    /// Reads a JSON `T`.
    pub fn body<T: ToSchema>(mut self) -> Self {
        if DOCUMENTED {
            self.doc.request = Some(openapi::named::<T>);
        }
        self
    }
    /// Reads the query parameters of `T`.
    pub fn query<T: IntoParams>(mut self) -> Self {
        if DOCUMENTED {
            self.doc.query = Some(|| T::into_params(|| Some(ParameterIn::Query)));
        }
        self
    }
    /// Can also answer these errors.
    pub fn errors(mut self, errors: &'static [StatusCode]) -> Self {
        if DOCUMENTED {
            self.doc.errors = errors;
        }
        self
    }
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

/// Every route of every group: what the local stack serves, the API description and the
/// generated tests read. Add a route to its group's function below (and nowhere else) to serve it.
pub fn table() -> Vec<RouteSpec> {
    Group::ALL.into_iter().flat_map(Group::routes).collect()
}

/// The route builder of a group's function below: each call is one route of `group` over
/// `data` (method, path, need, example body, handler), documented with the builders above.
fn route_in(
    group: Group,
    data: Data,
) -> impl Fn(Method, &'static str, Need, Option<&'static str>, Handler) -> RouteSpec {
    move |method, path, need, example, handler| RouteSpec {
        method,
        path,
        need,
        group,
        data,
        example,
        handler,
        doc: Doc::default(),
    }
}

/// The routes of teams, members, roles, users, tenant settings, `/me` (`functions/api-teams`).
pub fn teams() -> Vec<RouteSpec> {
    use Permission::*;
    let r = route_in(Group::Teams, Data::Tenant);
    vec![
        r(Method::GET, "/me", Need::Caller, None, || get(me::me))
            .ok::<me::Me>("The caller: user record, tenant role, permissions and team roles"),
        r(Method::GET, "/users", perm(TeamsRead), None, || {
            get(users::list)
        })
        .page::<User>("The tenant's users")
        .query::<ListParams>(),
        r(
            Method::GET,
            "/users/{user_id}",
            perm(TeamsRead),
            None,
            || get(users::get_one),
        )
        .ok::<User>("A user of the tenant"),
        r(
            Method::PATCH,
            "/users/{user_id}",
            perm(TeamsManage),
            Some(r#"{"role":"viewer"}"#),
            || patch(users::set_role),
        )
        .body::<users::RoleChange>()
        .ok::<User>("Changes a user's tenant role"),
        r(Method::GET, "/tenant", perm(TeamsRead), None, || {
            get(users::tenant)
        })
        .ok::<TenantSettings>("The tenant's settings"),
        r(
            Method::PATCH,
            "/tenant",
            perm(TeamsManage),
            Some(r#"{"default_role":"viewer"}"#),
            || patch(users::update_tenant),
        )
        .body::<SettingsInput>()
        .ok::<TenantSettings>("Changes the tenant's default role"),
        r(Method::GET, "/roles", perm(TeamsRead), None, || {
            get(roles::list)
        })
        .page::<Role>("The built-in roles and the tenant's own"),
        r(
            Method::POST,
            "/roles",
            perm(TeamsManage),
            Some(r#"{"name":"reviewer","permissions":["transcripts:read"]}"#),
            || post(roles::create),
        )
        .body::<RoleInput>()
        .created::<Role>("Creates a custom role"),
        r(Method::GET, "/roles/{role}", perm(TeamsRead), None, || {
            get(roles::get_one)
        })
        .ok::<Role>("A role"),
        r(
            Method::PATCH,
            "/roles/{role}",
            perm(TeamsManage),
            Some(r#"{"permissions":["transcripts:read","outputs:read"]}"#),
            || patch(roles::update),
        )
        .body::<RoleInput>()
        .ok::<Role>("Changes a custom role"),
        r(
            Method::DELETE,
            "/roles/{role}",
            perm(TeamsManage),
            None,
            || delete(roles::delete),
        )
        .no_content("Deletes a custom role that nobody holds (409 while a user, a team member or the tenant's default has it)"),
        r(Method::GET, "/teams", perm(TeamsRead), None, || {
            get(teams::list)
        })
        .page::<Team>("The tenant's teams")
        .query::<ListParams>(),
        r(
            Method::POST,
            "/teams",
            perm(TeamsManage),
            Some(r#"{"name":"Sales","description":"Field sales"}"#),
            || post(teams::create),
        )
        .body::<TeamInput>()
        .created::<Team>("Creates a team"),
        r(
            Method::GET,
            "/teams/{team_id}",
            in_team(TeamsRead),
            None,
            || get(teams::get_one),
        )
        .ok::<Team>("A team"),
        r(
            Method::PATCH,
            "/teams/{team_id}",
            in_team(TeamsManage),
            Some(r#"{"name":"Renamed"}"#),
            || patch(teams::update),
        )
        .body::<TeamInput>()
        .ok::<Team>("Changes a team"),
        r(
            Method::DELETE,
            "/teams/{team_id}",
            perm(TeamsManage),
            None,
            || delete(teams::delete),
        )
        .no_content("Deletes a team with its memberships (409 while it holds transcripts or playlists)"),
        r(
            Method::GET,
            "/teams/{team_id}/members",
            in_team(TeamsRead),
            None,
            || get(teams::members),
        )
        .page::<Member>("A team's members")
        .query::<ListParams>(),
        r(
            Method::PUT,
            "/teams/{team_id}/members/{user_id}",
            in_team(TeamsManage),
            Some(r#"{"role":"editor"}"#),
            || put(teams::put_member),
        )
        .body::<teams::MemberRole>()
        .ok::<Member>("Adds a member to a team, or changes their role in it"),
        r(
            Method::DELETE,
            "/teams/{team_id}/members/{user_id}",
            in_team(TeamsManage),
            None,
            || delete(teams::remove_member),
        )
        .no_content("Removes a member from a team"),
    ]
}

/// The routes of transcripts (`functions/api-transcripts`).
pub fn transcripts() -> Vec<RouteSpec> {
    use Permission::*;
    let tr = route_in(Group::Transcripts, Data::Tenant);
    vec![
        tr(
            Method::GET,
            "/transcripts",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::list),
        ).page::<Transcript>("The transcripts the caller may read").query::<transcripts::TranscriptListParams>(),
        tr(
            Method::POST,
            "/transcripts",
            anywhere(TranscriptsWrite),
            Some(
                r#"{"title":"Weekly sync","type":"meeting","content":"Ada: Shall we start?\nGrace: Yes."}"#,
            ),
            || post(transcripts::create),
        ).body::<NewTranscript>().created::<Created>("Creates a transcript from inline text, or answers an upload URL for its file"),
        tr(
            Method::GET,
            "/transcripts/{transcript_id}",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::get_one),
        ).ok::<transcripts::TranscriptView>("A transcript, with its segments inline or a download URL").query::<transcripts::GetParams>(),
        tr(
            Method::PATCH,
            "/transcripts/{transcript_id}",
            anywhere(TranscriptsWrite),
            Some(r#"{"title":"Renamed"}"#),
            || patch(transcripts::update),
        ).body::<TranscriptPatch>().ok::<Transcript>("Renames a transcript, changes its type or names its speakers"),
        tr(
            Method::DELETE,
            "/transcripts/{transcript_id}",
            anywhere(TranscriptsWrite),
            None,
            || delete(transcripts::delete),
        ).no_content("Deletes a transcript and its files"),
    ]
}

/// The routes of credits, purchases, billing records, usage, tiers and subscriptions (`functions/api-billing`).
pub fn billing() -> Vec<RouteSpec> {
    use Permission::*;
    let bill = route_in(Group::Billing, Data::Tenant);
    vec![
        bill(Method::GET, "/credits", Need::Caller, None, || {
            get(billing::my_credits)
        }).ok::<Balance>("The caller's credits"),
        bill(
            Method::POST,
            "/credits/purchases",
            perm(BillingManage),
            Some(r#"{"user_id":"<user_id>","credits":100,"amount_micro_usd":1000000}"#),
            || post(billing::purchase),
        ).body::<Purchase>().created::<BillingRecord>("Adds the credits a user bought; an Idempotency-Key header makes a retry safe"),
        bill(
            Method::POST,
            "/credits/refunds",
            perm(BillingManage),
            Some(r#"{"user_id":"<user_id>","credits":1,"amount_micro_usd":1000}"#),
            || post(billing::refund),
        ).body::<Purchase>().created::<BillingRecord>("Takes back refunded credits; an Idempotency-Key header makes a retry safe"),
        bill(
            Method::GET,
            "/billing-records",
            perm(BillingRead),
            None,
            || get(billing::billing_records),
        ).page::<BillingRecord>("The tenant's billing records").query::<ListParams>(),
        // Everyone sees their own usage; billing:read sees the tenant's (checked inside).
        bill(Method::GET, "/usage", Need::Caller, None, || {
            get(billing::usage)
        }).ok::<UsageReport>("Usage totalled by day, user, model and output type").query::<billing::UsageParams>().errors(&[StatusCode::FORBIDDEN]),
        RouteSpec {
            data: Data::Catalog,
            ..bill(Method::GET, "/tiers", Need::Caller, None, || {
                get(billing::tiers)
            }).page::<Tier>("The tiers")
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
            ).body::<Tier>().created::<Tier>("Creates a tier")
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
            ).body::<Tier>().ok::<Tier>("Replaces a tier")
        },
        bill(Method::GET, "/subscription", Need::Caller, None, || {
            get(billing::my_subscription)
        }).ok::<Subscription>("The caller's subscription").errors(&[StatusCode::NOT_FOUND]),
        bill(
            Method::GET,
            "/subscriptions/{user_id}",
            perm(BillingRead),
            None,
            || get(billing::subscription),
        ).ok::<Subscription>("A user's subscription"),
        bill(
            Method::PUT,
            "/subscriptions/{user_id}",
            perm(BillingManage),
            Some(r#"{"tier":"pro"}"#),
            || put(billing::subscribe),
        ).body::<billing::SubscriptionInput>().created::<Subscription>("Subscribes a user to a tier"),
        bill(
            Method::PATCH,
            "/subscriptions/{user_id}",
            perm(BillingManage),
            Some(r#"{"tier":"team","when":"next_period"}"#),
            || patch(billing::change_tier),
        ).body::<billing::SubscriptionInput>().ok::<Subscription>("Changes a user's tier, now (prorated) or at the next period"),
        bill(
            Method::DELETE,
            "/subscriptions/{user_id}",
            perm(BillingManage),
            None,
            || delete(billing::cancel),
        ).ok::<Subscription>("Cancels a subscription at the end of its period"),
    ]
}

/// The routes of providers, models with their prices, and transcript types (built-in and the tenant's own, tenant data) (`functions/api-catalog`).
pub fn catalog() -> Vec<RouteSpec> {
    use Permission::*;
    let typ = route_in(Group::Catalog, Data::Tenant);
    let cat = route_in(Group::Catalog, Data::Catalog);
    vec![
        typ(
            Method::GET,
            "/transcript-types",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::list_types),
        ).page::<TranscriptType>("The built-in transcript types and the tenant's own"),
        typ(
            Method::POST,
            "/transcript-types",
            perm(TranscriptsWrite),
            Some(
                r#"{"type":"support","sub_type":"escalation","instructions":"A support escalation.","extra_schema":{"type":"object","properties":{"ticket":{"type":"string"}}}}"#,
            ),
            || post(transcripts::create_type),
        ).body::<TypeInput>().created::<TranscriptType>("Creates a transcript type of the tenant"),
        typ(
            Method::GET,
            "/transcript-types/{type}/{sub_type}",
            anywhere(TranscriptsRead),
            None,
            || get(transcripts::get_type),
        ).ok::<TranscriptType>("A transcript type"),
        typ(
            Method::PATCH,
            "/transcript-types/{type}/{sub_type}",
            perm(TranscriptsWrite),
            Some(r#"{"instructions":"Changed."}"#),
            || patch(transcripts::update_type),
        ).body::<TypeInput>().ok::<TranscriptType>("Changes a transcript type of the tenant"),
        typ(
            Method::DELETE,
            "/transcript-types/{type}/{sub_type}",
            perm(TranscriptsWrite),
            None,
            || delete(transcripts::delete_type),
        ).no_content("Deletes a transcript type of the tenant"),
        cat(Method::GET, "/providers", Need::Caller, None, || {
            get(catalog::providers)
        }).page::<Provider>("The model providers"),
        cat(Method::GET, "/models", Need::Caller, None, || {
            get(catalog::models)
        }).page::<Model>("The models, with their current prices"),
        cat(
            Method::GET,
            "/models/{provider}/{model}",
            Need::Caller,
            None,
            || get(catalog::model),
        ).ok::<catalog::ModelWithPrices>("A model, with every version of its price"),
        cat(
            Method::POST,
            "/models",
            Need::PlatformAdmin,
            Some(
                r#"{"provider":"self_hosted","model":"qwen-2.5-7b","context_window":32768,"max_output_tokens":4096,"price":{"uncached_input":100000,"cache_read":0,"cache_write":0,"output":200000,"reasoning":200000}}"#,
            ),
            || post(catalog::create_model),
        ).body::<ModelInput>().created::<Model>("Adds a model"),
        cat(
            Method::PATCH,
            "/models/{provider}/{model}",
            Need::PlatformAdmin,
            Some(r#"{"display_name":"Renamed"}"#),
            || patch(catalog::update_model),
        ).body::<ModelInput>().ok::<Model>("Changes a model; a new price becomes a new price version"),
    ]
}

/// The routes of outputs: listing, reading with their rendered files, deleting
/// (`functions/api-outputs`).
pub fn outputs() -> Vec<RouteSpec> {
    use Permission::*;
    let out = route_in(Group::Outputs, Data::Tenant);
    vec![
        out(
            Method::GET,
            "/transcripts/{transcript_id}/outputs",
            anywhere(OutputsRead),
            None,
            || get(outputs::of_transcript),
        )
        .page::<Output>("A transcript's outputs")
        .query::<ListParams>(),
        out(Method::GET, "/outputs", anywhere(OutputsRead), None, || {
            get(outputs::list)
        })
        .page::<Output>("The outputs the caller may read")
        .query::<outputs::OutputListParams>(),
        out(
            Method::GET,
            "/outputs/{output_id}",
            anywhere(OutputsRead),
            None,
            || get(outputs::get_one),
        )
        .ok::<outputs::OutputView>("An output, with its rendered files"),
        out(
            Method::DELETE,
            "/outputs/{output_id}",
            anywhere(OutputsGenerate),
            None,
            || delete(outputs::delete),
        )
        .no_content("Deletes an output and its files"),
    ]
}

/// The routes of generation requests and of the model choice they follow: requests and
/// regenerations (reserve credits, queue jobs), the caller's model preferences and the
/// tenant's output constraints (`functions/api-generation`).
pub fn generation() -> Vec<RouteSpec> {
    use Permission::*;
    let req = route_in(Group::Generation, Data::Tenant);
    vec![
        req(
            Method::POST,
            "/transcripts/{transcript_id}/outputs",
            anywhere(OutputsGenerate),
            Some(r#"{"output_types":["one_pager","anchors"]}"#),
            || post(outputs::request),
        ).body::<outputs::OutputsRequest>().answers(StatusCode::ACCEPTED, Some(openapi::page::<Output>), "Reserves credits and queues one generation job per output type; when the queue refuses a job after taking the first ones, those stand and the rest are answered failed (request them again)").errors(&[StatusCode::PAYMENT_REQUIRED]),
        req(
            Method::GET,
            "/transcripts/{transcript_id}/outputs/quote",
            anywhere(OutputsGenerate),
            None,
            || get(outputs::quote),
        ).ok::<Quote>("What requesting these outputs would reserve now, reserving nothing: the same permission, model choice, checks and estimates as the request, at the tier's credit rate, against the balance and the tier's overage left; refused (403) when the AI-call allowance could not serve the request").query::<outputs::QuoteParams>().errors(&[StatusCode::CONFLICT]),
        req(
            Method::POST,
            "/outputs/{output_id}/regenerate",
            anywhere(OutputsGenerate),
            Some(r#"{"model":"offline/extractive"}"#),
            || post(choice::regenerate),
        ).body::<choice::RegenerateInput>().answers(StatusCode::ACCEPTED, Some(openapi::named::<Output>), "Queues a new revision of an output (same transcript and type); another model may be named").errors(&[StatusCode::PAYMENT_REQUIRED]),
        req(Method::GET, "/preferences/outputs", Need::Caller, None, || {
            get(choice::preferences)
        }).page::<Preference>("The caller's model for each output type they chose one for"),
        req(
            Method::GET,
            "/preferences/outputs/{output_type}",
            Need::Caller,
            None,
            || get(choice::preference),
        ).ok::<Preference>("The caller's model for an output type (404 when they chose none)"),
        req(
            Method::PUT,
            "/preferences/outputs/{output_type}",
            Need::Caller,
            Some(r#"{"model":"offline/extractive"}"#),
            || put(choice::set_preference),
        ).body::<choice::PreferenceInput>().ok::<Preference>("Sets the caller's model for an output type: first in its model chain when allowed"),
        req(
            Method::DELETE,
            "/preferences/outputs/{output_type}",
            Need::Caller,
            None,
            || delete(choice::delete_preference),
        ).no_content("Forgets the caller's model for an output type"),
        req(Method::GET, "/output-constraints", perm(OutputsRead), None, || {
            get(choice::all_constraints)
        }).page::<OutputConstraints>("The tenant's model constraints per output type"),
        req(
            Method::GET,
            "/output-constraints/{output_type}",
            perm(OutputsRead),
            None,
            || get(choice::constraints),
        ).ok::<OutputConstraints>("The tenant's model constraints for an output type (empty when none are set)"),
        req(
            Method::PUT,
            "/output-constraints/{output_type}",
            perm(TeamsManage),
            Some(r#"{"allowed_providers":["offline","openai"],"required_capabilities":["structured_output"],"min_context_window":8000}"#),
            || put(choice::set_constraints),
        ).body::<Constraints>().ok::<OutputConstraints>("Sets which models may write an output type: allowed models or providers, required capabilities, minimum context"),
        req(
            Method::DELETE,
            "/output-constraints/{output_type}",
            perm(TeamsManage),
            None,
            || delete(choice::delete_constraints),
        ).no_content("Removes the constraints of an output type"),
    ]
}

/// The routes of playlists and their items (`functions/api-playlists`).
pub fn playlists() -> Vec<RouteSpec> {
    use Permission::*;
    let pl = route_in(Group::Playlists, Data::Tenant);
    vec![
        pl(
            Method::GET,
            "/playlists",
            anywhere(PlaylistsRead),
            None,
            || get(playlists::list),
        )
        .page::<PlaylistSummary>("The playlists the caller may read, newest first")
        .query::<ListParams>(),
        pl(
            Method::POST,
            "/playlists",
            anywhere(PlaylistsWrite),
            Some(r#"{"name":"Best of Q3","description":"Clips for the all-hands"}"#),
            || post(playlists::create),
        )
        .body::<NewPlaylist>()
        .created::<PlaylistView>("Creates an empty playlist, the tenant's or a team's"),
        pl(
            Method::GET,
            "/playlists/{playlist_id}",
            anywhere(PlaylistsRead),
            None,
            || get(playlists::get_one),
        )
        .ok::<PlaylistView>("A playlist with its items, in order"),
        pl(
            Method::PATCH,
            "/playlists/{playlist_id}",
            anywhere(PlaylistsWrite),
            Some(r#"{"name":"Renamed"}"#),
            || patch(playlists::update),
        )
        .body::<PlaylistPatch>()
        .ok::<PlaylistView>("Renames a playlist or changes its description"),
        pl(
            Method::DELETE,
            "/playlists/{playlist_id}",
            anywhere(PlaylistsWrite),
            None,
            || delete(playlists::delete),
        )
        .no_content("Deletes a playlist and its items (not the outputs)"),
        pl(
            Method::POST,
            "/playlists/{playlist_id}/items",
            anywhere(PlaylistsWrite),
            Some(r#"{"output_id":"<output_id>","metadata":{"note":"Start here"}}"#),
            || post(playlists::add_item),
        )
        .body::<NewItem>()
        .created::<PlaylistItem>("Adds an output, at the end or at `position`"),
        pl(
            Method::PATCH,
            "/playlists/{playlist_id}/items/{item_id}",
            anywhere(PlaylistsWrite),
            Some(r#"{"metadata":{"note":"Changed"}}"#),
            || patch(playlists::update_item),
        )
        .body::<ItemPatch>()
        .ok::<PlaylistItem>("Replaces an item's metadata"),
        pl(
            Method::DELETE,
            "/playlists/{playlist_id}/items/{item_id}",
            anywhere(PlaylistsWrite),
            None,
            || delete(playlists::remove_item),
        )
        .no_content("Removes an item (not its output)"),
        pl(
            Method::PUT,
            "/playlists/{playlist_id}/order",
            anywhere(PlaylistsWrite),
            Some(r#"{"item_ids":["<item_id>"]}"#),
            || put(playlists::reorder),
        )
        .body::<NewOrder>()
        .ok::<PlaylistView>("Reorders the items: every item id, once, in the new order"),
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
