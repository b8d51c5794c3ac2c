//! The API's OpenAPI 3.1 description, built from the route table: every route of
//! [`routes::table`] is an operation, with its path parameters, query parameters, request body,
//! success answer (from its [`Doc`](routes::Doc)) and the problem+json errors it can answer.
//! Served, without a token, at `GET /openapi.json` and, as a page that renders it, `GET /docs`.
//!
//! [`document`] and what builds it exist with the crate's `document` feature only (see
//! [`routes::DOCUMENTED`]); the Lambda functions serve the generated file and leave it off.

// Without `document` the generator's helpers and imports are unused: allowed there only, so
// that the documented build (clippy's, the tests') still reports dead code.
#![cfg_attr(not(feature = "document"), allow(dead_code, unused_imports))]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use recap_domain::access::Need;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Content, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required, Response as Answer,
    ResponseBuilder, ResponsesBuilder, Schema,
};
use utoipa::{PartialSchema, ToSchema};

use crate::AppState;
use crate::api::ListPage;
use crate::problem::{PROBLEM_JSON, TYPE_BASE};
use crate::routes::{self, Group, RouteSpec};

/// The function that serves the description (and the page) in AWS: its routes are public, the
/// only ones the deployed API has without the JWT authorizer.
pub const DOCS_GROUP: Group = Group::Catalog;
/// The public routes of the description: both `GET`, neither needs a token.
pub const DOCS_PATHS: [&str; 2] = ["/openapi.json", "/docs"];

const BEARER: &str = "bearer";
const JSON: &str = "application/json";

/// `GET /openapi.json` and `GET /docs`, without the gate.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(DOCS_PATHS[0], get(openapi_json))
        .route(DOCS_PATHS[1], get(docs_page))
}

async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, JSON)], SERVED).into_response()
}

/// The document as served: what [`pretty`] generates from the route table, kept in
/// `shared/http/openapi.json`. Serving the file, not the table, keeps every other group's
/// handlers out of the function that serves it (`DOCS_GROUP`'s). `tests/openapi.rs` fails when
/// the file is not what the code generates; `RECAP_UPDATE_OPENAPI=1 cargo test --test openapi`
/// writes it anew.
pub const SERVED: &str = include_str!("../openapi.json");

#[cfg(feature = "document")]
/// The generated document as indented JSON: the contents of `shared/http/openapi.json`.
pub fn pretty() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

/// A page that loads the document next to it (relative, so that it works under any prefix)
/// into Scalar's viewer, from a CDN.
async fn docs_page() -> Html<&'static str> {
    Html(
        r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Recap API</title>
  </head>
  <body>
    <noscript>The API reference needs JavaScript; the OpenAPI document is at <a href="openapi.json">openapi.json</a>.</noscript>
    <div id="app"></div>
    <script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference@1"></script>
    <script>
      Scalar.createApiReference('#app', { url: new URL('openapi.json', window.location.href).href })
    </script>
  </body>
</html>
"#,
    )
}

#[cfg(feature = "document")]
/// The generated document as JSON, built once.
pub fn json() -> &'static str {
    static JSON_DOC: OnceLock<String> = OnceLock::new();
    JSON_DOC.get_or_init(|| {
        document()
            .to_json()
            .expect("the OpenAPI document serializes")
    })
}

/// A [`SchemaFn`](routes::SchemaFn) for `T`: registers `T` (and what it refers to) and refers
/// to it by name.
pub fn named<T: ToSchema>(components: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    let name = T::name().into_owned();
    components.push((name.clone(), T::schema()));
    T::schemas(components);
    Ref::from_schema_name(name).into()
}

/// A [`SchemaFn`](routes::SchemaFn) for a [`ListPage`] of `T`, registered as `{T}Page`.
pub fn page<T: ToSchema>(components: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    let name = format!("{}Page", T::name());
    components.push((name.clone(), <ListPage<T> as PartialSchema>::schema()));
    named::<T>(components);
    <ListPage<T> as ToSchema>::schemas(components);
    Ref::from_schema_name(name).into()
}

/// The body of every error: RFC 9457 problem details, with the fields some kinds add.
fn problem_schema() -> Schema {
    let text = |d: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(d))
    };
    let count = |d: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .description(Some(d))
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("An error, as RFC 9457 problem details."))
        .property(
            "type",
            text("The kind of error, stable: not-found, conflict, retry (a concurrent change: try again), validation, unauthenticated, forbidden, insufficient-credits, unavailable, internal.")
                .pattern(Some(format!("^{}[a-z-]+$", TYPE_BASE.replace('.', "\\.")))),
        )
        .property("title", text("The status's reason phrase."))
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(400))
                .maximum(Some(599)),
        )
        .property(
            "detail",
            text("What went wrong, for people; says nothing internal on a 5xx."),
        )
        .property("field", text("validation: the field, parameter or header at fault."))
        .property("needed", count("insufficient-credits: the credits the request needs."))
        .property("available", count("insufficient-credits: the credits the caller has."))
        .property("shortfall", count("insufficient-credits: needed - available."))
        .required("type")
        .required("title")
        .required("status")
        .into()
}

/// What each error status means on this API.
fn error_description(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "A malformed body or parameter, or a value out of its rules (`field` names it).",
        401 => "No bearer token, or one that is not valid.",
        402 => "Not enough credits (`needed`, `available`, `shortfall`).",
        403 => "The caller lacks the permission this needs.",
        404 => "No such object in the caller's tenant.",
        409 => {
            "The object's state does not allow it, or a concurrent change won (type `retry`: try again)."
        }
        500 => "Something went wrong on Recap's side; it has been logged.",
        503 => "A service Recap depends on is unavailable; try again shortly.",
        _ => "An error.",
    }
}

/// The errors a route can answer: those of its kind, and the ones its [`Doc`](routes::Doc)
/// adds.
pub fn errors_of(spec: &RouteSpec) -> BTreeSet<StatusCode> {
    let mut e = BTreeSet::from([
        StatusCode::UNAUTHORIZED,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ]);
    if spec.need != Need::Caller {
        e.insert(StatusCode::FORBIDDEN);
    }
    if !path_params(spec.path).is_empty() {
        e.insert(StatusCode::NOT_FOUND);
    }
    if spec.doc.request.is_some() || spec.doc.query.is_some() {
        e.insert(StatusCode::BAD_REQUEST);
    }
    if spec.method != Method::GET {
        e.insert(StatusCode::CONFLICT);
    }
    e.extend(spec.doc.errors.iter().copied());
    e
}

/// The `{name}` segments of an axum path.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*'))
        .collect()
}

/// `GET /teams/{team_id}/members` is `get_teams_by_team_id_members`.
pub fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_lowercase();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                id.push_str("by_");
                id.push_str(param.trim_start_matches('*'));
            }
            None => id.push_str(&seg.replace(['-', '.'], "_")),
        }
    }
    id
}

pub fn tag_of(group: Group) -> String {
    format!("{group:?}").to_lowercase()
}

fn http_method(m: &Method) -> HttpMethod {
    match *m {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        Method::TRACE => HttpMethod::Trace,
        ref other => panic!("no OpenAPI operation for method {other}"),
    }
}

fn path_parameter(name: &str) -> Parameter {
    let schema = if name.ends_with("_id") {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::Custom("uuid".into())))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(schema))
        .build()
}

fn problem_answer(status: StatusCode) -> Answer {
    ResponseBuilder::new()
        .description(error_description(status))
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

fn operation(spec: &RouteSpec, components: &mut Vec<(String, RefOr<Schema>)>) -> Operation {
    let doc = &spec.doc;
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id(&spec.method, spec.path)))
        .tag(tag_of(spec.group))
        .security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
    if !doc.summary.is_empty() {
        op = op.summary(Some(doc.summary));
    }
    op = op.description(Some(match spec.need {
        Need::Caller => "Any caller of the tenant.".to_string(),
        Need::PlatformAdmin => "Platform admins only.".to_string(),
        Need::Permission(p, scope) => format!("Needs `{p}` ({scope:?} scope)."),
    }));
    for name in path_params(spec.path) {
        op = op.parameter(path_parameter(name));
    }
    if let Some(query) = doc.query {
        op = op.parameters(Some(query()));
    }
    if let Some(request) = doc.request {
        let example = spec
            .example
            .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok());
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    JSON,
                    Content::builder()
                        .schema(Some(request(components)))
                        .example(example)
                        .build(),
                )
                .build(),
        ));
    }
    let mut responses = ResponsesBuilder::new();
    if let Some((status, body)) = doc.answer {
        let mut ok =
            ResponseBuilder::new().description(status.canonical_reason().unwrap_or("Success"));
        if let Some(body) = body {
            ok = ok.content(JSON, Content::new(Some(body(components))));
        }
        responses = responses.response(status.as_str(), ok.build());
    }
    for e in errors_of(spec) {
        responses = responses.response(e.as_str(), problem_answer(e));
    }
    op.responses(responses.build()).build()
}

/// An operation of the routes served without a token.
fn public(
    id: &str,
    summary: &str,
    content_type: &str,
    body: Schema,
    errors: &[StatusCode],
) -> Operation {
    let mut responses = ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new()
            .description("OK")
            .content(content_type, Content::new(Some(body)))
            .build(),
    );
    for e in errors {
        responses = responses.response(e.as_str(), problem_answer(*e));
    }
    let mut op = OperationBuilder::new()
        .operation_id(Some(id))
        .tag("service")
        .summary(Some(summary))
        .description(Some("No token needed."))
        .responses(responses.build())
        .build();
    // An empty list, not none: this operation needs no credentials whatever the default.
    op.security = Some(Vec::new());
    op
}

/// serde lets a type that refuses unknown fields be flattened into another (the outer type's
/// fields are taken first); utoipa describes the flattening as an `allOf` of the inner type's
/// schema, whose `additionalProperties: false` would then refuse the outer type's fields. Such
/// members are inlined without it.
fn open_flattened(schemas: &mut BTreeMap<String, RefOr<Schema>>) {
    let closed: BTreeMap<String, Schema> = schemas
        .iter()
        .filter_map(|(name, s)| match s {
            RefOr::T(Schema::Object(o))
                if matches!(
                    o.additional_properties.as_deref(),
                    Some(AdditionalProperties::FreeForm(false))
                ) =>
            {
                let mut open = o.clone();
                open.additional_properties = None;
                Some((format!("#/components/schemas/{name}"), Schema::Object(open)))
            }
            _ => None,
        })
        .collect();
    for schema in schemas.values_mut() {
        if let RefOr::T(Schema::AllOf(all)) = schema {
            for item in &mut all.items {
                if let RefOr::Ref(r) = item
                    && let Some(open) = closed.get(&r.ref_location)
                {
                    *item = RefOr::T(open.clone());
                }
            }
        }
    }
}

#[cfg(feature = "document")]
/// The description of every route.
pub fn document() -> OpenApi {
    let mut components = Vec::new();
    let mut paths = Paths::new();
    let mut tags = Vec::new();
    for spec in routes::table() {
        let tag = tag_of(spec.group);
        if !tags.contains(&tag) {
            tags.push(tag);
        }
        paths.add_path_operation(
            spec.path,
            vec![http_method(&spec.method)],
            operation(&spec, &mut components),
        );
    }
    let object = || ObjectBuilder::new().schema_type(Type::Object);
    let string = || ObjectBuilder::new().schema_type(Type::String);
    paths.add_path_operation(
        "/health",
        vec![HttpMethod::Get],
        public(
            "get_health",
            "The service and its store answer",
            JSON,
            object()
                .property("status", string().enum_values(Some(["ok"])))
                .property("version", string())
                .required("status")
                .required("version")
                .into(),
            &[
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::SERVICE_UNAVAILABLE,
            ],
        ),
    );
    paths.add_path_operation(
        DOCS_PATHS[0],
        vec![HttpMethod::Get],
        public(
            "get_openapi_json",
            "This document",
            JSON,
            object().into(),
            &[],
        ),
    );
    paths.add_path_operation(
        DOCS_PATHS[1],
        vec![HttpMethod::Get],
        public(
            "get_docs",
            "A page that renders this document",
            "text/html",
            string().into(),
            &[],
        ),
    );
    components.push(("Problem".into(), problem_schema().into()));
    let mut schemas: BTreeMap<String, RefOr<Schema>> = components.into_iter().collect();
    open_flattened(&mut schemas);
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The identity provider's ID token (Cognito in AWS; `recap token` locally): \
                         it names the user, the tenant and the platform-admin group.",
                    ))
                    .build(),
            ),
        )
        .build();
    let tags = tags
        .into_iter()
        .chain(["service".to_string()])
        .map(|t| TagBuilder::new().name(t).build());
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Recap API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Transcripts in, structured outputs out: one-pagers, slides, bytes and \
                     anchors, metered in credits. Every route but the service ones needs a \
                     bearer token; the tenant always comes from the token. Errors are \
                     problem+json (RFC 9457).",
                )),
        )
        .paths(paths)
        .components(Some(components))
        .tags(Some(tags))
        .build()
}
