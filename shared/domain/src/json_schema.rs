//! JSON Schema, through `boon`: a transcript type's `extra_schema` is compiled when it is
//! written (checked against its draft's meta-schema, 2020-12 unless it names another), and a
//! model's answer is validated against the output type's schema.
//!
//! boon passes the JSON-Schema-Test-Suite for drafts 4 to 2020-12 and is about half the code
//! of the `jsonschema` crate (0.67 MB zipped against 1.35 MB in a bare binary), which counts
//! in the Lambda functions that carry it (api-catalog, generate). No resource is fetched: a
//! `$ref` outside the schema fails to compile.

use boon::{CompileError, Compiler, SchemaIndex, Schemas, UrlLoader, ValidationError};
use serde_json::Value;

/// The name the schema is compiled under (it shows in no message this module gives).
const LOCATION: &str = "https://recap.invalid/schema.json";

/// At most this many problems are reported for one value.
const MAX_PROBLEMS: usize = 5;

/// A compiled schema.
pub struct Compiled {
    schemas: Schemas,
    index: SchemaIndex,
}

/// Compiles `schema`; the error says what is wrong with it, on one line.
pub fn compile(schema: &Value) -> Result<Compiled, String> {
    let mut schemas = Schemas::new();
    let mut compiler = Compiler::new();
    // boon's default loader reads `file:` URLs; this one loads nothing (its meta-schemas are
    // built in and found before any loader is asked).
    compiler.use_loader(Box::new(NoFetch));
    compiler
        .add_resource(LOCATION, schema.clone())
        .map_err(|e| describe_compile_error(&e))?;
    compiler
        .compile(LOCATION, &mut schemas)
        .map(|index| Compiled { schemas, index })
        .map_err(|e| describe_compile_error(&e))
}

impl Compiled {
    /// What is wrong with `value` (at most five problems, `; `-separated), or `None` if it is
    /// valid.
    pub fn problems(&self, value: &Value) -> Option<String> {
        let error = self.schemas.validate(value, self.index).err()?;
        Some(problems(&error))
    }
}

struct NoFetch;

impl UrlLoader for NoFetch {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("{url} is outside the schema; references are not fetched").into())
    }
}

fn describe_compile_error(e: &CompileError) -> String {
    match e {
        CompileError::ValidationError { src, .. } => {
            format!("not valid against its meta-schema: {}", problems(src))
        }
        other => format!("{other:#}").replace(LOCATION, "the schema"),
    }
}

/// The innermost errors, each with where it is: `at '/a/0': want string, but got number`.
fn problems(error: &ValidationError) -> String {
    let mut out = Vec::new();
    leaves(error, &mut out);
    out.join("; ")
}

fn leaves(error: &ValidationError, out: &mut Vec<String>) {
    if out.len() >= MAX_PROBLEMS {
        return;
    }
    if error.causes.is_empty() {
        let at = error.instance_location.to_string();
        let at = if at.is_empty() { "/".to_string() } else { at };
        // One line: some kinds (a bad `pattern`) quote a multi-line regex error.
        let kind = error.kind.to_string();
        let kind = kind.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push(format!("at '{at}': {kind}"));
    } else {
        for cause in &error.causes {
            leaves(cause, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_valid_schema_compiles_and_validates() {
        let s = compile(
            &json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
        )
        .unwrap();
        assert_eq!(s.problems(&json!({"n": 3})), None);
        let p = s.problems(&json!({"n": "three"})).unwrap();
        assert!(p.contains("/n"), "{p}");
        assert!(p.contains("integer"), "{p}");
        let p = s.problems(&json!({})).unwrap();
        assert!(p.contains("missing") && p.contains('n'), "{p}");
    }

    #[test]
    fn a_schema_against_its_meta_schema() {
        let e = compile(&json!({"type": "object", "properties": {"n": {"type": "nmber"}}}))
            .err()
            .unwrap();
        assert!(e.starts_with("not valid against its meta-schema"), "{e}");
        assert!(e.contains("/properties/n/type"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        // An older draft, named by $schema, is checked against its own meta-schema.
        let e = compile(&json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": "n"}))
            .err()
            .unwrap();
        assert!(e.contains("/required"), "{e}");
        let e = compile(&json!({"type": "object", "properties": {"n": {"type": "string", "pattern": "[unclosed"}}}))
            .err()
            .unwrap();
        assert!(
            e.contains("/properties/n/pattern") && !e.contains('\n'),
            "{e}"
        );
    }

    #[test]
    fn nothing_is_fetched() {
        let e = compile(
            &json!({"type": "object", "properties": {"n": {"$ref": "https://example.com/n.json"}}}),
        )
        .err()
        .unwrap();
        assert!(e.contains("example.com"), "{e}");
        let e = compile(&json!({"type": "object", "$ref": "file:///etc/hostname"}))
            .err()
            .unwrap();
        assert!(e.contains("not fetched"), "{e}");
    }

    #[test]
    fn at_most_five_problems() {
        let s = compile(&json!({"type": "object", "additionalProperties": {"type": "string"}}))
            .unwrap();
        let value: Value = (0..9)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        assert_eq!(s.problems(&value).unwrap().split("; ").count(), 5);
    }
}
