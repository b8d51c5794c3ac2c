//! Schema and name adjustments the providers' wire formats need.

use serde_json::{Map, Value, json};

/// OpenAI's `json_schema.name` and Anthropic's tool name must match `^[a-zA-Z0-9_-]{1,64}$`.
pub(crate) fn wire_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "answer".to_owned()
    } else {
        cleaned
    }
}

/// A schema fitted to OpenAI's strict Structured Outputs, and whether strict mode can take it.
///
/// Strict mode refuses (400) any object that does not say `additionalProperties: false` or that
/// leaves a property out of `required`. Objects that leave `additionalProperties` unsaid are
/// closed here: an answer to the closed schema is still valid against the original. Optional
/// properties or open objects cannot be fitted without changing what is valid (strict would make
/// them required and nullable), so such a schema goes with `strict: false`.
pub(crate) fn openai_schema(schema: &Value) -> (Value, bool) {
    let mut fitted = schema.clone();
    let mut strict = true;
    close_objects(&mut fitted, &mut strict);
    (fitted, strict)
}

fn close_objects(node: &mut Value, strict: &mut bool) {
    let Some(map) = node.as_object_mut() else {
        return;
    };
    let is_object = map.contains_key("properties")
        || match map.get("type") {
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
            _ => false,
        };
    if is_object {
        match map.get("additionalProperties") {
            None => {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            Some(Value::Bool(false)) => {}
            Some(_) => *strict = false,
        }
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = map.get("properties").and_then(Value::as_object)
            && props.keys().any(|name| !required.contains(&name.as_str()))
        {
            *strict = false;
        }
    }
    for (keyword, child) in map.iter_mut() {
        match keyword.as_str() {
            "properties" | "$defs" | "definitions" | "patternProperties" => {
                if let Some(schemas) = child.as_object_mut() {
                    schemas.values_mut().for_each(|s| close_objects(s, strict));
                }
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Some(schemas) = child.as_array_mut() {
                    schemas.iter_mut().for_each(|s| close_objects(s, strict));
                }
            }
            "items" => match child {
                Value::Array(schemas) => schemas.iter_mut().for_each(|s| close_objects(s, strict)),
                other => close_objects(other, strict),
            },
            "additionalProperties" | "not" | "contains" | "if" | "then" | "else" => {
                close_objects(child, strict)
            }
            _ => {}
        }
    }
}

/// The keywords of Gemini's `responseSchema` (a subset of the OpenAPI 3.0 Schema object).
/// Anything else (`additionalProperties`, `$schema`, `$defs`, `const`, `oneOf`, …) is refused
/// with a 400, so it is translated where it has a meaning Gemini can express, dropped otherwise.
const GEMINI_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// How deep local `$ref`s are inlined; a recursive schema is cut there.
const MAX_REF_DEPTH: usize = 8;

/// A JSON Schema rewritten into Gemini's `responseSchema` subset:
/// - local `$ref`s (`#/$defs/…`, `#/definitions/…`) are inlined;
/// - `type: [T, "null"]` becomes `type: T, nullable: true`;
/// - `oneOf` becomes `anyOf`; a `{type: "null"}` branch becomes `nullable`;
/// - `const: "x"` becomes `enum: ["x"]`; enums of non-strings are dropped (Gemini's are
///   strings only);
/// - unknown keywords are dropped; `required` keeps only declared properties.
pub(crate) fn gemini_schema(schema: &Value) -> Value {
    convert(schema, schema, 0)
}

fn convert(node: &Value, root: &Value, depth: usize) -> Value {
    let Some(object) = node.as_object() else {
        // `true`/`false` schemas and junk: the loosest thing Gemini accepts.
        return json!({ "type": "string" });
    };
    if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
        return match resolve(reference, root) {
            Some(target) if depth < MAX_REF_DEPTH => {
                let mut merged = convert(target, root, depth + 1);
                // Siblings of `$ref` (a description, say) describe this use of it.
                let mut siblings = object.clone();
                siblings.remove("$ref");
                if let (Some(merged), Value::Object(extra)) = (
                    merged.as_object_mut(),
                    convert(&Value::Object(siblings), root, depth),
                ) {
                    for (k, v) in extra {
                        if k != "type" || !merged.contains_key("type") {
                            merged.insert(k, v);
                        }
                    }
                }
                merged
            }
            _ => json!({ "type": "object" }),
        };
    }

    let mut out = Map::new();
    let mut nullable = false;

    for (key, value) in object {
        match key.as_str() {
            "type" => match value {
                Value::Array(types) => {
                    nullable |= types.iter().any(|t| t == "null");
                    if let Some(first) = types.iter().find(|t| *t != "null") {
                        out.insert("type".into(), first.clone());
                    }
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "properties" => {
                if let Some(props) = value.as_object() {
                    let converted: Map<String, Value> = props
                        .iter()
                        .map(|(name, sub)| (name.clone(), convert(sub, root, depth)))
                        .collect();
                    out.insert("properties".into(), Value::Object(converted));
                }
            }
            "items" => {
                let item = match value {
                    // Tuple form: Gemini has no tuples; the first item's schema is the best fit.
                    Value::Array(items) => items.first().cloned().unwrap_or(json!({})),
                    other => other.clone(),
                };
                out.insert("items".into(), convert(&item, root, depth));
            }
            "anyOf" | "oneOf" => {
                if let Some(branches) = value.as_array() {
                    let mut kept = Vec::new();
                    for branch in branches {
                        if branch.get("type").and_then(Value::as_str) == Some("null") {
                            nullable = true;
                        } else {
                            kept.push(convert(branch, root, depth));
                        }
                    }
                    if kept.len() == 1 {
                        if let Some(Value::Object(only)) = kept.pop() {
                            for (k, v) in only {
                                out.entry(k).or_insert(v);
                            }
                        }
                    } else if !kept.is_empty() {
                        out.insert("anyOf".into(), Value::Array(kept));
                    }
                }
            }
            "const" if value.is_string() => {
                out.insert("enum".into(), json!([value]));
            }
            "enum" => {
                if let Some(values) = value.as_array() {
                    nullable |= values.iter().any(Value::is_null);
                    let strings: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
                    if strings.iter().all(|v| v.is_string()) && !strings.is_empty() {
                        out.insert("enum".into(), json!(strings));
                    }
                }
            }
            "nullable" => nullable |= value.as_bool() == Some(true),
            other if GEMINI_KEYWORDS.contains(&other) => {
                out.insert(other.into(), value.clone());
            }
            _ => {}
        }
    }

    if let (Some(Value::Array(required)), Some(Value::Object(props))) =
        (out.get("required"), out.get("properties"))
    {
        let kept: Vec<Value> = required
            .iter()
            .filter(|name| name.as_str().is_some_and(|n| props.contains_key(n)))
            .cloned()
            .collect();
        out.insert("required".into(), Value::Array(kept));
    } else if out.get("properties").is_none() {
        out.remove("required");
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    Value::Object(out)
}

fn resolve<'a>(reference: &str, root: &'a Value) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_anywhere(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    found.push(k.clone());
                    keys_anywhere(v, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| keys_anywhere(v, found)),
            _ => {}
        }
    }

    #[test]
    fn wire_names_fit_the_providers_pattern() {
        assert_eq!(wire_name("one_pager"), "one_pager");
        assert_eq!(wire_name("sales/discovery call"), "sales_discovery_call");
        assert_eq!(wire_name(""), "answer");
        assert_eq!(wire_name(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn gemini_schema_drops_what_gemini_refuses_and_keeps_the_meaning() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:recap:one_pager",
            "type": "object",
            "additionalProperties": false,
            "required": ["title", "points", "ghost"],
            "properties": {
                "title": { "type": "string", "maxLength": 120 },
                "subtitle": { "type": ["string", "null"] },
                "kind": { "const": "one_pager" },
                "tone": { "oneOf": [ { "type": "string", "enum": ["formal", "casual"] }, { "type": "null" } ] },
                "points": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": true,
                    "items": { "$ref": "#/$defs/point" }
                }
            },
            "$defs": {
                "point": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["text", "segment_ids"],
                    "properties": {
                        "text": { "type": "string" },
                        "segment_ids": { "type": "array", "items": { "type": "integer" } },
                        "weight": { "type": "number", "enum": [1, 2] }
                    }
                }
            }
        });
        let out = gemini_schema(&schema);

        let mut keys = Vec::new();
        keys_anywhere(&out, &mut keys);
        for banned in [
            "$schema",
            "$id",
            "$defs",
            "$ref",
            "additionalProperties",
            "uniqueItems",
            "const",
            "oneOf",
        ] {
            assert!(
                !keys.iter().any(|k| k == banned),
                "{banned} left in {out:#}"
            );
        }
        assert_eq!(out["required"], json!(["title", "points"]));
        assert_eq!(
            out["properties"]["title"],
            json!({"type": "string", "maxLength": 120})
        );
        assert_eq!(
            out["properties"]["subtitle"],
            json!({"type": "string", "nullable": true})
        );
        assert_eq!(out["properties"]["kind"], json!({"enum": ["one_pager"]}));
        assert_eq!(
            out["properties"]["tone"],
            json!({"type": "string", "enum": ["formal", "casual"], "nullable": true})
        );
        let point = &out["properties"]["points"]["items"];
        assert_eq!(point["type"], "object");
        assert_eq!(point["required"], json!(["text", "segment_ids"]));
        assert_eq!(
            point["properties"]["segment_ids"],
            json!({"type": "array", "items": {"type": "integer"}})
        );
        assert_eq!(point["properties"]["weight"], json!({"type": "number"}));
    }

    #[test]
    fn openai_schema_closes_objects_and_says_when_strict_cannot_take_it() {
        let schema = json!({
            "type": "object",
            "required": ["title", "items"],
            "properties": {
                "title": { "type": "string" },
                "items": { "type": "array", "items": { "$ref": "#/$defs/item" } },
                "meta": { "anyOf": [ { "type": "null" }, { "type": "object", "required": [], "properties": {} } ] }
            },
            "$defs": { "item": { "type": "object", "required": ["text"], "properties": { "text": { "type": "string", "enum": ["{\"type\":\"object\"}"] } } } }
        });
        let (fitted, strict) = openai_schema(&schema);
        assert!(!strict, "`meta` is optional");
        assert_eq!(fitted["additionalProperties"], false);
        assert_eq!(fitted["$defs"]["item"]["additionalProperties"], false);
        assert_eq!(
            fitted["properties"]["meta"]["anyOf"][1]["additionalProperties"],
            false
        );
        assert!(
            fitted["properties"]["title"]
                .get("additionalProperties")
                .is_none()
        );
        assert!(
            fitted["properties"]["items"]
                .get("additionalProperties")
                .is_none()
        );

        let mut all_required = schema.clone();
        all_required["required"] = json!(["title", "items", "meta"]);
        assert!(openai_schema(&all_required).1);

        let mut open = all_required.clone();
        open["$defs"]["item"]["additionalProperties"] = json!({ "type": "string" });
        assert!(!openai_schema(&open).1, "an open object");
    }

    #[test]
    fn recursive_refs_are_cut_not_followed_forever() {
        let schema = json!({
            "$ref": "#/$defs/node",
            "$defs": { "node": {
                "type": "object",
                "properties": { "children": { "type": "array", "items": { "$ref": "#/$defs/node" } } }
            } }
        });
        let out = gemini_schema(&schema);
        let mut depth = 0;
        let mut node = &out;
        while let Some(next) = node.pointer("/properties/children/items") {
            node = next;
            depth += 1;
        }
        assert!(depth <= MAX_REF_DEPTH, "depth {depth}");
        assert_eq!(node["type"], "object");
    }
}
