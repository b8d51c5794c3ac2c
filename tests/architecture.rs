//! Boundaries that ARCHITECTURE.md draws, checked against the real dependency graph.

use std::process::Command;

fn normal_deps(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_domain_depends_on_no_io_crates() {
    let deps = normal_deps("recap-domain");
    assert!(
        deps.iter().any(|d| d == "serde"),
        "the tree was read: {deps:?}"
    );
    let forbidden = ["aws", "reqwest", "axum", "hyper", "lambda", "redb", "tokio"];
    let bad: Vec<_> = deps
        .iter()
        .filter(|d| forbidden.iter().any(|f| d.starts_with(f)))
        .collect();
    assert!(bad.is_empty(), "recap-domain depends on {bad:?}");
}

#[test]
fn the_http_layer_knows_ports_not_adapters() {
    let deps = normal_deps("recap-http");
    let bad: Vec<_> = deps
        .iter()
        .filter(|d| {
            d.starts_with("aws-sdk")
                || *d == "recap-embedded"
                || *d == "recap-aws"
                || *d == "redb"
                // Lambda's authorizer checks tokens: no function should link a JWT library.
                || *d == "jsonwebtoken"
        })
        .collect();
    assert!(bad.is_empty(), "recap-http depends on {bad:?}");
}

/// The crates under functions/ (directories with a Cargo.toml).
fn function_crates() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn functions_link_the_aws_adapters_and_no_local_stack() {
    for function in function_crates() {
        let function = function.as_str();
        let deps = normal_deps(function);
        assert!(
            deps.iter().any(|d| d == "lambda_http") && deps.iter().any(|d| d == "recap-aws"),
            "{function}: {deps:?}"
        );
        let bad: Vec<_> = deps
            .iter()
            .filter(|d| {
                *d == "recap-embedded" || *d == "redb" || *d == "jsonwebtoken" || *d == "recap"
            })
            .collect();
        assert!(bad.is_empty(), "{function} depends on {bad:?}");
    }
}

/// The SDK clients each function uses: its records are on DynamoDB; files (transcripts,
/// outputs) on S3; generation requests on SQS. Which API group needs which is
/// `recap_lambda::Needs`, checked route by route in shared/lambda/tests/ports.rs.
const SDK_CLIENTS: &[(&str, &[&str])] = &[
    ("api-billing", &["aws-sdk-dynamodb"]),
    ("api-catalog", &["aws-sdk-dynamodb"]),
    // Requests queue jobs; no files.
    ("api-generation", &["aws-sdk-dynamodb", "aws-sdk-sqs"]),
    // Rendered files; generation requests are api-generation's.
    ("api-outputs", &["aws-sdk-dynamodb", "aws-sdk-s3"]),
    ("api-playlists", &["aws-sdk-dynamodb"]),
    ("api-teams", &["aws-sdk-dynamodb"]),
    // Presigned uploads and downloads; no queue: on-upload requests the outputs named at
    // creation, after the upload.
    ("api-transcripts", &["aws-sdk-dynamodb", "aws-sdk-s3"]),
    // SSM: the providers' keys, read once at start-up.
    (
        "generate",
        &[
            "aws-sdk-dynamodb",
            "aws-sdk-s3",
            "aws-sdk-sqs",
            "aws-sdk-ssm",
        ],
    ),
    (
        "on-upload",
        &["aws-sdk-dynamodb", "aws-sdk-s3", "aws-sdk-sqs"],
    ),
    ("reconcile", &["aws-sdk-dynamodb"]),
];

/// aws-config's own: its web-identity and assume-role credential providers call STS, and
/// aws-config depends on it whatever its features. The SSO clients are behind its `sso`
/// feature, which stays off.
const CONFIG_CLIENTS: &[&str] = &["aws-sdk-sts"];

#[test]
fn each_function_links_the_sdk_clients_it_uses_and_no_other() {
    let listed: Vec<&str> = SDK_CLIENTS.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        function_crates(),
        listed,
        "every function, and only those, has its SDK clients listed here"
    );
    let mut wrong = Vec::new();
    for (function, expected) in SDK_CLIENTS {
        // `cargo tree -p` resolves features for this package alone, as its own build (and
        // cargo-lambda's per-binary build) does.
        let deps = normal_deps(function);
        let mut clients: Vec<&str> = deps
            .iter()
            .map(String::as_str)
            .filter(|d| d.starts_with("aws-sdk-") && !CONFIG_CLIENTS.contains(d))
            .collect();
        clients.sort_unstable();
        clients.dedup();
        if clients != *expected {
            wrong.push(format!("{function} links {clients:?}, uses {expected:?}"));
        }
        let others: Vec<&String> = deps
            .iter()
            .filter(|d| d.starts_with("aws-sdk-sso"))
            .collect();
        if !others.is_empty() {
            wrong.push(format!(
                "{function} links {others:?} (aws-config's `sso` feature)"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
