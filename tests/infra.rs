//! The deployment template (infra/template.yaml) against the code: every crate under
//! functions/ is one function resource wired to its trigger, and every route of the route
//! table is an HttpApi event of its group's function, and nothing else is (but the API's public
//! description, `recap_http::openapi::DOCS_PATHS`).
//!
//! The template is read through `scripts/check-infra --dump-json` (YAML with CloudFormation's
//! tags, parsed by the pinned tools, which the script installs once into a cache).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use recap_domain::access::{CLAIM_TENANT, PLATFORM_ADMIN_GROUP};
use recap_http::openapi::{DOCS_GROUP, DOCS_PATHS};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("scripts/check-infra"))
            .arg("--dump-json")
            .current_dir(root())
            .output()
            .expect("bash runs scripts/check-infra");
        assert!(
            out.status.success(),
            "scripts/check-infra --dump-json failed (it installs its tools with pip on first use):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the dump is JSON")
    })
}

fn resources() -> &'static serde_json::Map<String, Value> {
    template()["Resources"]
        .as_object()
        .expect("the template has Resources")
}

/// The crates under functions/ (directories with a Cargo.toml).
fn function_crates() -> BTreeSet<String> {
    let dir = root().join("functions");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p: PathBuf| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

struct Function<'a> {
    id: &'a str,
    binary: &'a str,
    resource: &'a Value,
}

impl Function<'_> {
    /// A property of the function, or of `Globals.Function` when the function has none.
    fn property(&self, name: &str) -> &Value {
        match &self.resource["Properties"][name] {
            Value::Null => &template()["Globals"]["Function"][name],
            v => v,
        }
    }

    fn events(&self) -> Vec<(&str, &Value)> {
        self.resource["Properties"]["Events"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default()
    }

    fn env(&self, name: &str) -> Option<&Value> {
        let own = &self.resource["Properties"]["Environment"]["Variables"][name];
        let global = &template()["Globals"]["Function"]["Environment"]["Variables"][name];
        [own, global].into_iter().find(|v| !v.is_null())
    }
}

fn functions() -> Vec<Function<'static>> {
    resources()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| Function {
            id,
            binary: r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id} has no Metadata.BuildProperties.Binary")),
            resource: r,
        })
        .collect()
}

/// The logical id that `{"Ref": id}` or `{"Fn::GetAtt": [id, attr]}` names.
fn referenced(v: &Value) -> Option<&str> {
    v["Ref"].as_str().or_else(|| v["Fn::GetAtt"][0].as_str())
}

fn resource_type(id: &str) -> &str {
    resources()
        .get(id)
        .and_then(|r| r["Type"].as_str())
        .unwrap_or("(no such resource)")
}

#[test]
fn every_function_crate_is_one_function_resource_and_every_function_a_crate() {
    let crates = function_crates();
    assert!(
        crates.contains("api-teams") && crates.contains("on-upload"),
        "functions/ was read: {crates:?}"
    );
    let mut by_binary: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in functions() {
        by_binary.entry(f.binary).or_default().push(f.id);
    }
    for c in &crates {
        match by_binary.get(c.as_str()).map(Vec::as_slice) {
            Some([_]) => {}
            None => panic!("functions/{c} has no AWS::Serverless::Function in infra/template.yaml"),
            Some(ids) => panic!("functions/{c} is built by several resources: {ids:?}"),
        }
    }
    for (binary, ids) in &by_binary {
        assert!(
            crates.contains(*binary),
            "{ids:?} build binary {binary}, but there is no functions/{binary}"
        );
    }
}

#[test]
fn every_function_is_built_by_cargo_lambda_from_the_workspace() {
    for f in functions() {
        let id = f.id;
        assert_eq!(
            f.resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id}"
        );
        assert_eq!(f.property("CodeUri"), "..", "{id}: the workspace root");
        assert_eq!(f.property("Handler"), "bootstrap", "{id}");
        assert_eq!(f.property("Runtime"), "provided.al2023", "{id}");
        assert_eq!(
            f.property("Architectures"),
            &serde_json::json!(["arm64"]),
            "{id}"
        );
        for var in ["RECAP_TABLE", "RECAP_BUCKET"] {
            assert!(f.env(var).is_some(), "{id} has no {var} in its environment");
        }
        let role = referenced(f.property("Role"))
            .unwrap_or_else(|| panic!("{id} has no role of its own in the template"));
        assert_eq!(resource_type(role), "AWS::IAM::Role", "{id}'s role");
    }
}

#[test]
fn every_function_is_wired_to_its_trigger() {
    for f in functions() {
        let (id, name) = (f.id, f.binary);
        let events = f.events();
        let types: BTreeSet<&str> = events
            .iter()
            .map(|(_, e)| e["Type"].as_str().unwrap_or("(none)"))
            .collect();
        let only = |t: &str| {
            assert_eq!(
                types,
                BTreeSet::from([t]),
                "{id} (functions/{name}) must have {t} events and only those"
            )
        };
        match name {
            n if n.starts_with("api-") => {
                only("HttpApi");
                for (event, e) in &events {
                    let api = referenced(&e["Properties"]["ApiId"])
                        .unwrap_or_else(|| panic!("{id}.{event} names no ApiId"));
                    assert_eq!(
                        resource_type(api),
                        "AWS::Serverless::HttpApi",
                        "{id}.{event}"
                    );
                    // Every deployed route is behind the JWT authorizer, but for the API's
                    // description and its page, which are public.
                    let path = e["Properties"]["Path"].as_str().unwrap_or_default();
                    if name == group_crate(DOCS_GROUP) && DOCS_PATHS.contains(&path) {
                        assert_eq!(
                            e["Properties"]["Auth"],
                            serde_json::json!({"Authorizer": "NONE"}),
                            "{id}.{event}: the API's description is served without a token"
                        );
                    } else {
                        assert!(
                            e["Properties"]["Auth"].is_null(),
                            "{id}.{event} overrides the default authorizer"
                        );
                    }
                }
            }
            "on-upload" => {
                only("S3");
                for (event, e) in &events {
                    let bucket = referenced(&e["Properties"]["Bucket"])
                        .unwrap_or_else(|| panic!("{id}.{event} names no bucket"));
                    assert_eq!(resource_type(bucket), "AWS::S3::Bucket", "{id}.{event}");
                    let kinds = &e["Properties"]["Events"];
                    let kinds: Vec<&str> = match kinds {
                        Value::String(s) => vec![s.as_str()],
                        v => v
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default(),
                    };
                    assert!(
                        kinds.iter().any(|k| k.starts_with("s3:ObjectCreated:")),
                        "{id}.{event} is not an ObjectCreated notification: {kinds:?}"
                    );
                }
            }
            "generate" => {
                only("SQS");
                for (event, e) in &events {
                    let queue = referenced(&e["Properties"]["Queue"])
                        .unwrap_or_else(|| panic!("{id}.{event} names no queue"));
                    assert_eq!(resource_type(queue), "AWS::SQS::Queue", "{id}.{event}");
                    let responses = e["Properties"]["FunctionResponseTypes"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    assert!(
                        responses.iter().any(|r| r == "ReportBatchItemFailures"),
                        "{id}.{event}: the generate consumer reports partial batch failures"
                    );
                }
            }
            "reconcile" => {
                assert!(
                    !types.is_empty()
                        && types.iter().all(|t| *t == "Schedule" || *t == "ScheduleV2"),
                    "{id} (functions/reconcile) must run on a schedule: {types:?}"
                );
            }
            other => panic!(
                "functions/{other} has no wiring rule: add what triggers it to tests/infra.rs"
            ),
        }
    }
}

/// The crate of a route group: `Group::Teams` is `functions/api-teams`.
fn group_crate(group: recap_http::routes::Group) -> String {
    let name = format!("{group:?}").to_lowercase();
    format!("api-{name}")
}

/// axum's `{*rest}` is API Gateway's `{rest+}`; `{param}` is the same in both.
fn api_gateway_path(axum_path: &str) -> String {
    axum_path
        .split('/')
        .map(|seg| match seg.strip_prefix("{*") {
            Some(rest) => format!("{{{}+}}", rest.trim_end_matches('}')),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_is_deployed_on_its_groups_function_and_only_the_routes() {
    let crates = function_crates();
    let mut wanted = BTreeSet::new();
    for spec in recap_http::routes::table() {
        let c = group_crate(spec.group);
        assert!(
            crates.contains(&c),
            "route {} {} belongs to {:?}, but there is no functions/{c}",
            spec.method,
            spec.path,
            spec.group
        );
        wanted.insert((
            c,
            spec.method.as_str().to_string(),
            api_gateway_path(spec.path),
        ));
    }
    assert!(wanted.len() > 20, "the route table was read: {wanted:?}");
    for path in DOCS_PATHS {
        wanted.insert((group_crate(DOCS_GROUP), "GET".into(), path.to_string()));
    }

    let mut deployed = BTreeSet::new();
    let mut route_keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in functions() {
        for (event, e) in f.events() {
            if e["Type"] != "HttpApi" {
                continue;
            }
            let p = &e["Properties"];
            let (Some(method), Some(path)) = (p["Method"].as_str(), p["Path"].as_str()) else {
                panic!("{}.{event} has no Method or Path", f.id);
            };
            let method = method.to_uppercase();
            route_keys
                .entry(format!("{method} {path}"))
                .or_default()
                .push(format!("{}.{event}", f.id));
            deployed.insert((f.binary.to_string(), method, path.to_string()));
        }
    }

    let missing: Vec<_> = wanted.difference(&deployed).collect();
    let extra: Vec<_> = deployed.difference(&wanted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "infra/template.yaml's HttpApi events differ from shared/http/src/routes.rs:\n  \
         routes with no event on their group's function: {missing:?}\n  \
         events with no such route in the group: {extra:?}"
    );
    let twice: Vec<_> = route_keys.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "route keys declared more than once: {twice:?}"
    );
}

#[test]
fn the_api_is_behind_the_cognito_jwt_authorizer() {
    let (id, api) = resources()
        .iter()
        .find(|(_, r)| r["Type"] == "AWS::Serverless::HttpApi")
        .expect("an HttpApi");
    let auth = &api["Properties"]["Auth"];
    let default = auth["DefaultAuthorizer"]
        .as_str()
        .unwrap_or_else(|| panic!("{id} has no default authorizer"));
    let jwt = &auth["Authorizers"][default]["JwtConfiguration"];
    let client = jwt["audience"][0]["Ref"].as_str().unwrap_or("(none)");
    assert_eq!(
        resource_type(client),
        "AWS::Cognito::UserPoolClient",
        "{id}'s audience"
    );
    let issuer = jwt["issuer"]["Fn::Sub"].as_str().unwrap_or("(none)");
    assert!(
        issuer.starts_with("https://cognito-idp.") && issuer.contains("${UserPool}"),
        "{id}'s issuer is the user pool: {issuer}"
    );
    // The claims that recap_domain::access reads.
    let pool = &resources()
        .values()
        .find(|r| r["Type"] == "AWS::Cognito::UserPool")
        .expect("a user pool")["Properties"];
    let tenant = pool["Schema"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["Name"] == "tenant_id")
        .expect("the user pool has the custom attribute tenant_id");
    assert_eq!(tenant["Mutable"], false, "a user's tenant never changes");
    assert_eq!(
        format!("custom:{}", tenant["Name"].as_str().unwrap()),
        CLAIM_TENANT
    );
    for client in resources()
        .values()
        .filter(|r| r["Type"] == "AWS::Cognito::UserPoolClient")
    {
        let writable = &client["Properties"]["WriteAttributes"];
        assert!(
            writable
                .as_array()
                .is_some_and(|a| !a.contains(&Value::from(CLAIM_TENANT))),
            "an app client must not let users write their tenant: {writable}"
        );
    }
    let group = resources()
        .values()
        .find(|r| r["Type"] == "AWS::Cognito::UserPoolGroup")
        .expect("a user pool group");
    assert_eq!(group["Properties"]["GroupName"], PLATFORM_ADMIN_GROUP);
}

/// A Lambda function names its group's table (`recap_http::routes::teams()`, …), so that only
/// its own handlers are linked in: each group's table holds only that group's routes, and each
/// API function serves the table of the group its name says.
#[test]
fn each_api_function_serves_its_own_groups_table() {
    use recap_http::routes::Group;
    for group in Group::ALL {
        let routes = group.routes();
        assert!(!routes.is_empty(), "{group:?} has no routes");
        for r in &routes {
            assert_eq!(
                r.group, group,
                "{} {} is in {group:?}'s table",
                r.method, r.path
            );
        }
        let c = group_crate(group);
        let main = std::fs::read_to_string(root().join("functions").join(&c).join("src/main.rs"))
            .unwrap_or_else(|e| panic!("functions/{c}/src/main.rs: {e}"));
        let call = format!(
            "serve_routes(recap_http::routes::{}())",
            format!("{group:?}").to_lowercase()
        );
        assert!(
            main.contains(&call),
            "functions/{c}/src/main.rs does not call {call}"
        );
    }
}

/// Provider keys: every function's environment names the SSM parameters that hold them (the
/// template's parameters, empty for none), never a key itself; only generate's role may read
/// parameters, and only those.
#[test]
fn provider_keys_are_ssm_parameters_only_generate_may_read() {
    let params = template()["Parameters"].as_object().expect("Parameters");
    let mut key_params = BTreeSet::new();
    for f in functions() {
        for kind in recap_ai::ProviderKind::ALL {
            assert!(
                f.env(kind.key_var()).is_none(),
                "{} holds a key itself in {}",
                f.id,
                kind.key_var()
            );
            let var = kind.key_parameter_var();
            let param = f
                .env(var)
                .and_then(referenced)
                .unwrap_or_else(|| panic!("{} does not set {var} from a parameter", f.id));
            assert_eq!(
                params[param]["Default"], "",
                "{param}: no key unless one is named"
            );
            key_params.insert(param.to_string());
        }
    }
    assert_eq!(key_params.len(), recap_ai::ProviderKind::ALL.len());

    let generate_role = functions()
        .into_iter()
        .find(|f| f.binary == "generate")
        .and_then(|f| referenced(f.property("Role")).map(str::to_string))
        .expect("generate has a role of its own");
    for (id, r) in resources() {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        let policies = r["Properties"]["Policies"].to_string();
        if *id != generate_role {
            assert!(!policies.contains("ssm:"), "{id} may use SSM: {policies}");
            continue;
        }
        // [{"Fn::If": [HasProviderKey, {PolicyName, PolicyDocument}, NoValue]}]
        let keys = r["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|p| {
                p["Fn::If"]
                    .get(1)
                    .filter(|p| p["PolicyName"] == "provider-keys")
            })
            .expect("generate's role has a provider-keys policy, when a key is named");
        let statements = keys["PolicyDocument"]["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{statements:?}");
        assert_eq!(statements[0]["Action"], "ssm:GetParameters");
        let mut granted = BTreeSet::new();
        for resource in statements[0]["Resource"].as_array().unwrap() {
            // Each: {"Fn::If": [HasXKey, {"Fn::Sub": "arn:…:parameter${XParameter}"}, NoValue]}
            let arn = resource["Fn::If"][1]["Fn::Sub"]
                .as_str()
                .unwrap_or_else(|| panic!("not one named parameter: {resource}"));
            let param = arn
                .strip_prefix(
                    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${",
                )
                .and_then(|p| p.strip_suffix('}'))
                .unwrap_or_else(|| panic!("not one named parameter's ARN: {arn}"));
            granted.insert(param.to_string());
        }
        assert_eq!(granted, key_params, "the key parameters, and no other");
    }
}
