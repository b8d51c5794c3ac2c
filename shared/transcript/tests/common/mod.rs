//! Shared by the test binaries: the corpus and a pass/fail table.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::PathBuf;

pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = corpus().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

pub struct Row {
    pub suite: &'static str,
    pub case: String,
    pub status: Status,
    pub detail: String,
}

#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
}

impl Table {
    pub fn add(
        &mut self,
        suite: &'static str,
        case: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) {
        self.rows.push(Row {
            suite,
            case: case.into(),
            status,
            detail: detail.into(),
        });
    }

    pub fn result(
        &mut self,
        suite: &'static str,
        case: impl Into<String>,
        r: Result<String, String>,
    ) {
        match r {
            Ok(d) => self.add(suite, case, Status::Pass, d),
            Err(d) => self.add(suite, case, Status::Fail, d),
        }
    }

    pub fn failures(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.status == Status::Fail)
            .count()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = self
            .rows
            .iter()
            .map(|r| r.case.len())
            .max()
            .unwrap_or(4)
            .min(60);
        let mut suites: Vec<&str> = Vec::new();
        for r in &self.rows {
            if !suites.contains(&r.suite) {
                suites.push(r.suite);
            }
        }
        for suite in &suites {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.suite == *suite).collect();
            let count = |s| rows.iter().filter(|r| r.status == s).count();
            let _ = writeln!(
                out,
                "\n== {suite}: {} passed, {} failed, {} skipped",
                count(Status::Pass),
                count(Status::Fail),
                count(Status::Skip)
            );
            for r in rows {
                let s = match r.status {
                    Status::Pass => "pass",
                    Status::Fail => "FAIL",
                    Status::Skip => "skip",
                };
                let _ = writeln!(out, "  {s}  {:<w$}  {}", r.case, r.detail);
            }
        }
        out
    }
}

pub mod wpt;
