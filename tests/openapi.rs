//! The OpenAPI document (`recap_http::openapi`) against the route table and the running API:
//! every route is an operation with its method, path, parameters, body and problem+json
//! errors; every example body fits its schema; every answer the API gives fits what the
//! document says of it.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Stack, Who};
use recap_http::openapi::{self, DOCS_PATHS, errors_of, operation_id, path_params, tag_of};
use recap_http::routes::{RouteSpec, table};
use serde_json::{Value, json};
use tower::ServiceExt;

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";
const MEMBER: &str = "22222222-2222-4222-8222-222222222222";
const PLACEHOLDER_ID: &str = "5b0f2b4e-7d3a-4c1e-9f6a-2e8d4c6b1a37";

fn doc() -> Value {
    serde_json::from_str(openapi::json()).expect("the document is JSON")
}

fn route(spec: &RouteSpec) -> String {
    format!("{} {}", spec.method, spec.path)
}

fn operation<'a>(doc: &'a Value, method: &Method, path: &str) -> Option<&'a Value> {
    doc["paths"][path]
        .get(method.as_str().to_lowercase())
        .filter(|op| op.is_object())
}

/// A validator of `schema` (a schema of the document, usually a `$ref` into its components),
/// as JSON Schema 2020-12 (OpenAPI 3.1's dialect), formats checked.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = match schema {
        Value::Object(o) => o.clone(),
        other => panic!("not a schema object: {other}"),
    };
    root.insert("components".into(), doc["components"].clone());
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("{schema} is not a valid schema: {e}"))
}

fn errors_of_instance(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The example with its `<name>` placeholders filled with an id.
fn filled(example: &str) -> Value {
    let mut text = example.to_string();
    while let Some(open) = text.find("\"<") {
        let close = text[open..].find(">\"").expect("a closed placeholder") + open;
        text.replace_range(open..close + 2, &format!("\"{PLACEHOLDER_ID}\""));
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{example} is not JSON: {e}"))
}

#[test]
fn every_route_of_the_table_is_an_operation_of_the_document() {
    let doc = doc();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let routes = table();
    assert!(routes.len() > 40, "the route table was read");
    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    for spec in &routes {
        let r = route(spec);
        let Some(op) = operation(&doc, &spec.method, spec.path) else {
            problems.push(format!("{r}: no operation"));
            continue;
        };
        let id = op["operationId"].as_str().unwrap_or_default();
        assert_eq!(id, operation_id(&spec.method, spec.path), "{r}");
        assert!(ids.insert(id.to_string()), "{r}: operationId {id} twice");
        assert_eq!(op["tags"], json!([tag_of(spec.group)]), "{r}");
        assert_eq!(op["security"], json!([{"bearer": []}]), "{r}");
        let Some((status, body)) = spec.doc.answer else {
            problems.push(format!(
                "{r}: no documented answer: chain .ok::<T>(\"…\"), .created, .page, \
                 .no_content or .answers onto its entry in routes::table()"
            ));
            continue;
        };
        if spec.doc.summary.trim().is_empty() {
            problems.push(format!("{r}: no summary"));
        }
        assert_eq!(op["summary"], spec.doc.summary, "{r}");
        let ok = &op["responses"][status.as_str()];
        assert!(ok.is_object(), "{r}: no {status} response: {op}");
        match body {
            Some(_) => assert!(
                ok["content"]["application/json"]["schema"].is_object(),
                "{r}: its {status} has no JSON schema"
            ),
            None => assert!(ok.get("content").is_none(), "{r}: a {status} has no body"),
        }
        // Path parameters: exactly the path's, each required.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{r}: {p}");
                p["name"].as_str().unwrap()
            })
            .collect();
        let wanted: BTreeSet<&str> = path_params(spec.path).into_iter().collect();
        assert_eq!(declared, wanted, "{r}: path parameters");
        // A body is documented exactly when the table has an example of it.
        let request = &op["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(
            request.is_object(),
            spec.example.is_some(),
            "{r}: a route with an example body documents its schema (.body::<T>()), and one \
             that reads a body has an example"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // And nothing else: every operation is a route of the table or a public one.
    let mut known: BTreeSet<(String, String)> = routes
        .iter()
        .map(|s| (s.method.as_str().to_lowercase(), s.path.to_string()))
        .collect();
    for p in DOCS_PATHS.iter().chain(&["/health"]) {
        known.insert(("get".into(), p.to_string()));
    }
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(documented, known);
}

#[test]
fn every_example_body_fits_its_schema_and_the_schemas_refuse_what_the_api_refuses() {
    let doc = doc();
    let mut checked = 0;
    for spec in table() {
        let Some(example) = spec.example else {
            continue;
        };
        let r = route(&spec);
        let op = operation(&doc, &spec.method, spec.path).unwrap_or_else(|| panic!("{r}"));
        let media = &op["requestBody"]["content"]["application/json"];
        assert_eq!(op["requestBody"]["required"], true, "{r}");
        let v = validator(&doc, &media["schema"]);
        let body = filled(example);
        let errors = errors_of_instance(&v, &body);
        assert!(
            errors.is_empty(),
            "{r}: the example {body} does not fit: {errors:?}"
        );
        assert_eq!(
            media["example"],
            serde_json::from_str::<Value>(example).unwrap(),
            "{r}: the document shows the table's example"
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked} examples checked");

    // The schemas are not "anything goes": they refuse bodies the handlers refuse.
    let schema_of = |method: Method, path: &str| {
        let op = operation(&doc, &method, path).unwrap();
        validator(
            &doc,
            &op["requestBody"]["content"]["application/json"]["schema"],
        )
    };
    let teams = schema_of(Method::POST, "/teams");
    assert!(teams.is_valid(&json!({"name": "Sales"})));
    assert!(!teams.is_valid(&json!({"name": 5})), "a name is a string");
    assert!(
        !teams.is_valid(&json!({"name": "Sales", "colour": "red"})),
        "unknown fields are refused"
    );
    let purchase = schema_of(Method::POST, "/credits/purchases");
    assert!(
        !purchase
            .is_valid(&json!({"user_id": PLACEHOLDER_ID, "credits": -1, "amount_micro_usd": 1}))
    );
    assert!(
        !purchase.is_valid(&json!({"user_id": PLACEHOLDER_ID, "credits": 1})),
        "amount_micro_usd is required"
    );
    let subscribe = schema_of(Method::PATCH, "/subscriptions/{user_id}");
    assert!(!subscribe.is_valid(&json!({"tier": "pro", "when": "someday"})));
}

#[test]
fn every_operation_answers_its_errors_as_problem_json() {
    let doc = doc();
    let problem = &doc["components"]["schemas"]["Problem"];
    assert_eq!(problem["required"], json!(["type", "title", "status"]));
    for spec in table() {
        let r = route(&spec);
        let op = operation(&doc, &spec.method, spec.path).unwrap_or_else(|| panic!("{r}"));
        let responses = op["responses"].as_object().unwrap();
        let errors: BTreeSet<u16> = responses
            .keys()
            .map(|k| k.parse::<u16>().unwrap())
            .filter(|s| *s >= 400)
            .collect();
        let wanted: BTreeSet<u16> = errors_of(&spec).iter().map(StatusCode::as_u16).collect();
        assert_eq!(errors, wanted, "{r}");
        for must in [401, 500, 503] {
            assert!(errors.contains(&must), "{r}: no {must}");
        }
        if spec.doc.request.is_some() {
            assert!(errors.contains(&400), "{r}: a body can be malformed");
        }
        if spec.path.contains('{') {
            assert!(
                errors.contains(&404),
                "{r}: what the path names may not exist"
            );
        }
        for status in errors {
            let content = &responses[&status.to_string()]["content"];
            assert_eq!(
                content,
                &json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}),
                "{r}: {status}"
            );
        }
    }
    // The public ones need no token.
    for path in DOCS_PATHS.iter().chain(&["/health"]) {
        assert_eq!(doc["paths"][path]["get"]["security"], json!([]), "{path}");
    }
}

async fn get_public(s: &Stack, path: &str) -> (StatusCode, String, String) {
    let res = s
        .app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, ct, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn the_document_and_its_page_are_served_without_a_token() {
    let s = Stack::new();
    let (status, ct, text) = get_public(&s, "/openapi.json").await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/json"));
    let served: Value = serde_json::from_str(&text).unwrap();
    assert!(
        served["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        served["openapi"]
    );
    assert_eq!(served, doc());
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let (status, ct, page) = get_public(&s, "/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(
        page.contains("openapi.json") && page.contains("<script"),
        "{page}"
    );

    // A route of the table still needs its token.
    let (status, ct, _) = get_public(&s, "/me").await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::UNAUTHORIZED, "application/problem+json")
    );
}

/// A tenant with something behind every id the routes take.
struct Fixtures {
    admin: Who,
    ids: BTreeMap<&'static str, String>,
}

async fn fixtures(s: &Stack) -> Fixtures {
    let admin = s.who_admin(T, ADMIN, true);
    let member = s.who(T, MEMBER);
    for who in [&admin, &member] {
        assert_eq!(s.get(who, "/me").await.0, StatusCode::OK);
    }
    let post = |path: &'static str, body: Value| {
        let admin = admin.clone();
        async move {
            let (st, v) = s
                .call(&admin, Method::POST, path, Some(&body.to_string()))
                .await;
            assert_eq!(st, StatusCode::CREATED, "{path}: {v}");
            v
        }
    };
    post(
        "/roles",
        json!({"name": "fixture-role", "permissions": ["transcripts:read"]}),
    )
    .await;
    let team = post("/teams", json!({"name": "Fixture team"})).await;
    let team = team["id"].as_str().unwrap().to_string();
    let (st, v) = s
        .call(
            &admin,
            Method::PUT,
            &format!("/teams/{team}/members/{MEMBER}"),
            Some(r#"{"role":"fixture-role"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    post(
        "/transcript-types",
        json!({"type": "fixture_kind", "sub_type": "x", "instructions": "A fixture."}),
    )
    .await;
    let transcript = post(
        "/transcripts",
        json!({"title": "Weekly sync", "type": "meeting",
               "content": "Ada: Shall we ship on Friday?\nGrace: Yes, after the review."}),
    )
    .await;
    assert_eq!(s.drain_uploads().await, 1);
    let transcript = transcript["id"].as_str().unwrap().to_string();
    let (st, queued) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{transcript}/outputs"),
            Some(r#"{"output_types":["bytes"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{queued}");
    s.drain_jobs().await;
    let output = queued["items"][0]["id"].as_str().unwrap().to_string();
    // Pro: it includes playlists.
    for user in [ADMIN, MEMBER] {
        let (st, v) = s
            .call(
                &admin,
                Method::PUT,
                &format!("/subscriptions/{user}"),
                Some(r#"{"tier":"pro"}"#),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let (st, v) = s
        .call(
            &admin,
            Method::PUT,
            "/preferences/outputs/bytes",
            Some(r#"{"model":"offline/extractive"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    post(
        "/credits/purchases",
        json!({"user_id": MEMBER, "credits": 1000, "amount_micro_usd": 1_000_000}),
    )
    .await;
    let playlist = post("/playlists", json!({"name": "Fixture playlist"})).await;
    let playlist = playlist["id"].as_str().unwrap().to_string();
    let (st, item) = s
        .call(
            &admin,
            Method::POST,
            &format!("/playlists/{playlist}/items"),
            Some(&json!({"output_id": output, "metadata": {"note": "first"}}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{item}");
    let item = item["id"].as_str().unwrap().to_string();
    let ids = BTreeMap::from([
        ("playlist_id", playlist),
        ("item_id", item),
        ("team_id", team),
        ("user_id", MEMBER.to_string()),
        ("role", "fixture-role".to_string()),
        ("transcript_id", transcript),
        ("output_id", output),
        ("type", "fixture_kind".to_string()),
        ("sub_type", "x".to_string()),
        ("output_type", "bytes".to_string()),
        ("provider", "offline".to_string()),
        ("model", "extractive".to_string()),
        ("tier", "free".to_string()),
    ]);
    Fixtures { admin, ids }
}

/// The path with its parameters filled; `None` when one has no fixture (then a fresh id).
fn fill(spec: &RouteSpec, ids: &BTreeMap<&str, String>) -> (String, bool) {
    let mut path = spec.path.to_string();
    let mut known = true;
    for name in path_params(spec.path) {
        let value = ids.get(name).cloned().unwrap_or_else(|| {
            known = false;
            uuid::Uuid::new_v4().to_string()
        });
        path = path.replacen(&format!("{{{name}}}"), &value, 1);
    }
    (path, known)
}

#[tokio::test]
async fn every_answer_of_every_route_fits_the_document() {
    let doc = doc();
    let s = Stack::seeded().await;
    let f = fixtures(&s).await;
    let problem = validator(&doc, &json!({"$ref": "#/components/schemas/Problem"}));
    // Reads first, removals last, so that each route finds the fixtures.
    let order = |m: &Method| match *m {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        _ => 4,
    };
    // Deeper paths are removed first (members before their team), and the transcript last
    // of all (its delete takes its outputs with it).
    let mut routes = table();
    routes.sort_by_key(|r| {
        let depth = r.path.matches('/').count();
        (
            order(&r.method),
            r.method == Method::DELETE && r.path == "/transcripts/{transcript_id}",
            if r.method == Method::DELETE {
                usize::MAX - depth
            } else {
                0
            },
        )
    });
    // What fails for a reason of the fixtures: the member already has a subscription, and the
    // example order names one item while `POST …/items` (run before it) added a second.
    let expected = [
        (
            Method::PUT,
            "/subscriptions/{user_id}",
            StatusCode::CONFLICT,
        ),
        (
            Method::PUT,
            "/playlists/{playlist_id}/order",
            StatusCode::BAD_REQUEST,
        ),
    ];
    let mut failed = Vec::new();
    let mut validated = 0;
    for spec in &routes {
        let r = route(spec);
        let (path, known) = fill(spec, &f.ids);
        let body = spec.example.map(|e| {
            let mut b = e.to_string();
            for (name, value) in &f.ids {
                b = b.replace(&format!("<{name}>"), value);
            }
            b
        });
        let (status, answer) = s
            .call(&f.admin, spec.method.clone(), &path, body.as_deref())
            .await;
        let op = operation(&doc, &spec.method, spec.path).unwrap_or_else(|| panic!("{r}"));
        let Some(documented) = op["responses"].get(status.as_str()) else {
            failed.push(format!(
                "{r} ({path}): answered {status}, which is not documented: {answer}"
            ));
            continue;
        };
        assert!(!status.is_server_error(), "{r} ({path}): {status} {answer}");
        if status.is_success() {
            match &documented["content"]["application/json"]["schema"] {
                Value::Null => assert_eq!(answer, Value::Null, "{r}: {status} has no body"),
                schema => {
                    let errors = errors_of_instance(&validator(&doc, schema), &answer);
                    if !errors.is_empty() {
                        failed.push(format!(
                            "{r}: the answer does not fit: {errors:?}\n{answer}"
                        ));
                    }
                    validated += 1;
                }
            }
        } else {
            let errors = errors_of_instance(&problem, &answer);
            assert!(errors.is_empty(), "{r}: not a Problem: {errors:?} {answer}");
            // Every id known: each route does what it is for.
            let expected = expected
                .iter()
                .any(|(m, p, st)| *m == spec.method && *p == spec.path && *st == status);
            if known && !expected {
                failed.push(format!("{r} ({path}): {status} {answer}"));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(validated > 30, "{validated} answers validated");
}

#[tokio::test]
async fn problems_fit_the_problem_schema() {
    let doc = doc();
    let problem = validator(&doc, &json!({"$ref": "#/components/schemas/Problem"}));
    let s = Stack::seeded().await;
    let who = s.who(T, ADMIN);
    let cases = [
        (
            Method::POST,
            "/teams".to_string(),
            Some(r#"{"name": 5}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            format!("/teams/{PLACEHOLDER_ID}"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/models".to_string(),
            Some("{}"),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/usage?from=yesterday".to_string(),
            None,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, path, body, want) in cases {
        let (st, v) = s.call(&who, method.clone(), &path, body).await;
        assert_eq!(st, want, "{method} {path}: {v}");
        let errors = errors_of_instance(&problem, &v);
        assert!(errors.is_empty(), "{method} {path}: {errors:?} {v}");
    }
    // A field the schema requires, missing: the schema refuses it.
    assert!(
        !problem.is_valid(&json!({"type": "https://recap.dev/problems/not-found", "status": 404}))
    );
}

/// What `/openapi.json` serves is the file `shared/http/openapi.json`; it must be what the
/// route table generates now. `RECAP_UPDATE_OPENAPI=1 cargo test --test openapi` writes it.
#[test]
fn the_served_document_is_the_generated_one() {
    let generated = openapi::pretty();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/shared/http/openapi.json");
    if std::env::var_os("RECAP_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).expect("shared/http/openapi.json is writable");
        return;
    }
    assert!(
        openapi::SERVED == generated,
        "shared/http/openapi.json is not what the route table generates; \
         run `RECAP_UPDATE_OPENAPI=1 cargo test --test openapi` and commit the file"
    );
}

/// Errors raised before a handler runs are problem+json too, with the status that says what
/// happened: a method a path does not take (405), a body too large (413), a body not sent as
/// JSON (415).
#[tokio::test]
async fn transport_errors_are_problem_json_with_their_own_status() {
    let s = Stack::seeded().await;
    let who = s.who(T, ADMIN);
    let send = |method: Method, content_type: Option<&'static str>, body: Vec<u8>| {
        let mut req = Request::builder()
            .method(method)
            .uri("/transcripts")
            .header(header::AUTHORIZATION, format!("Bearer {}", who.token));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(Body::from(body)).unwrap();
        let app = s.app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let ct = res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_string();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            (status, ct, body)
        }
    };
    let cases = [
        (
            send(Method::PUT, None, Vec::new()).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
        (
            send(
                Method::POST,
                Some("application/json"),
                format!("{{\"content\": \"{}\"}}", "a".repeat(8 << 20)).into_bytes(),
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
        ),
        (
            send(Method::POST, Some("text/plain"), b"{}".to_vec()).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
    ];
    for ((status, ct, body), want, slug) in cases {
        assert_eq!(status, want, "{body}");
        assert_eq!(ct, "application/problem+json");
        assert_eq!(
            body["type"],
            format!("https://recap.dev/problems/{slug}"),
            "{body}"
        );
        assert_eq!(body["status"], want.as_u16());
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
}
