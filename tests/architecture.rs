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

#[test]
fn functions_link_the_aws_adapters_and_no_local_stack() {
    for function in [
        "api-teams",
        "api-transcripts",
        "api-billing",
        "api-catalog",
        "on-upload",
    ] {
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
