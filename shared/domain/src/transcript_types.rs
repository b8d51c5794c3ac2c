//! Transcript types: `(type, sub_type)` with instructions for the model and a JSON Schema of
//! extra fields to extract. Built-in types live in the global catalog (seeded); tenants add
//! their own. A transcript's type must exist, as a built-in or one of its tenant's.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::{Clock, Timestamp};
use crate::error::{Conflict, Error, Result};
use crate::ids::TenantId;
use crate::keys;
use crate::records::{
    Condition, Item, Key, Query, Records, Update, from_item, query_all_as, to_item,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranscriptType {
    #[serde(rename = "type")]
    pub kind: String,
    pub sub_type: String,
    pub instructions: String,
    /// A JSON Schema (an object schema) of the extra fields to extract.
    pub extra_schema: Value,
    pub builtin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
}

/// A type or sub-type name: lowercase letters, digits and `_`, starting with a letter, 1-40.
pub fn check_slug(field: &'static str, s: &str) -> Result<()> {
    let ok = (1..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            format!(
                "{s:?} is not a type name: 1-40 lowercase letters, digits or '_', starting with a letter"
            ),
        ))
    }
}

/// Checks that a schema is a JSON Schema that compiles, describing an object.
pub fn check_schema(schema: &Value) -> Result<()> {
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(Error::validation(
            "extra_schema",
            "must be a JSON Schema with \"type\": \"object\"",
        ));
    }
    crate::json_schema::compile(schema)
        .map(|_| ())
        .map_err(|e| Error::validation("extra_schema", format!("is not a valid JSON Schema: {e}")))
}

fn check_instructions(s: &str) -> Result<()> {
    if s.chars().count() > 4000 {
        return Err(Error::validation(
            "instructions",
            "must be at most 4000 characters",
        ));
    }
    Ok(())
}

/// The built-in types, as seeded into the catalog.
pub fn builtins() -> Vec<TranscriptType> {
    let t = |kind: &str, sub: &str, instructions: &str, extra: Value| TranscriptType {
        kind: kind.into(),
        sub_type: sub.into(),
        instructions: instructions.into(),
        extra_schema: extra,
        builtin: true,
        created_at: None,
    };
    let strings = json!({"type": "array", "items": {"type": "string"}});
    vec![
        t(
            "meeting",
            "general",
            "A meeting. Capture decisions, action items with owners, and open questions.",
            json!({"type": "object", "properties": {"decisions": strings, "action_items": {"type": "array", "items": {"type": "object", "properties": {"owner": {"type": "string"}, "task": {"type": "string"}, "due": {"type": "string"}}, "required": ["task"]}}}}),
        ),
        t(
            "meeting",
            "standup",
            "A stand-up. For each person: done, next, blockers.",
            json!({"type": "object", "properties": {"blockers": strings, "updates": {"type": "array", "items": {"type": "object", "properties": {"person": {"type": "string"}, "done": {"type": "string"}, "next": {"type": "string"}}}}}}),
        ),
        t(
            "meeting",
            "one_on_one",
            "A one-on-one. Capture feedback given, goals and follow-ups; keep a respectful tone.",
            json!({"type": "object", "properties": {"follow_ups": strings, "goals": strings}}),
        ),
        t(
            "sales",
            "discovery_call",
            "A sales discovery call. Capture the prospect's pains, budget, authority, need and timeline, objections and next steps.",
            json!({"type": "object", "properties": {"pains": strings, "budget": {"type": "string"}, "decision_makers": strings, "timeline": {"type": "string"}, "objections": strings, "next_steps": strings}}),
        ),
        t(
            "education",
            "lecture",
            "A lecture. Capture the key concepts, definitions and examples in teaching order.",
            json!({"type": "object", "properties": {"concepts": strings, "definitions": {"type": "array", "items": {"type": "object", "properties": {"term": {"type": "string"}, "definition": {"type": "string"}}}}}}),
        ),
        t(
            "media",
            "podcast",
            "A podcast episode. Capture the topics, guests, memorable quotes and references.",
            json!({"type": "object", "properties": {"guests": strings, "topics": strings, "references": strings}}),
        ),
        t(
            "media",
            "interview",
            "An interview. Capture the questions asked and the substance of each answer.",
            json!({"type": "object", "properties": {"questions": strings}}),
        ),
    ]
}

fn item(pk: String, ty: &TranscriptType) -> Result<Item> {
    let mut item = to_item(
        &Key::new(pk, keys::transcript_type_sk(&ty.kind, &ty.sub_type)),
        ty,
    )?;
    item.insert("entity".into(), "transcript_type".into());
    Ok(item)
}

/// Writes the built-in types into the catalog; those already there are left as they are.
pub async fn seed(records: &dyn Records) -> Result<usize> {
    let mut written = 0;
    for ty in builtins() {
        match records
            .put(
                item(keys::catalog_pk(keys::TRANSCRIPT_TYPES), &ty)?,
                vec![Condition::NotExists],
            )
            .await
        {
            Ok(()) => written += 1,
            Err(e) if e.failed_write() == Some(0) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

async fn all_in(records: &dyn Records, pk: String) -> Result<Vec<TranscriptType>> {
    query_all_as(records, Query::partition(pk)).await
}

/// The built-in types, then the tenant's, each sorted by type and sub-type.
pub async fn list(records: &dyn Records, t: &TenantId) -> Result<Vec<TranscriptType>> {
    let mut out = all_in(records, keys::catalog_pk(keys::TRANSCRIPT_TYPES)).await?;
    out.extend(all_in(records, keys::tenant_pk(t, keys::TRANSCRIPT_TYPES)).await?);
    Ok(out)
}

/// One type, the tenant's own first.
pub async fn get(
    records: &dyn Records,
    t: &TenantId,
    kind: &str,
    sub_type: &str,
) -> Result<TranscriptType> {
    let sk = keys::transcript_type_sk(kind, sub_type);
    for pk in [
        keys::tenant_pk(t, keys::TRANSCRIPT_TYPES),
        keys::catalog_pk(keys::TRANSCRIPT_TYPES),
    ] {
        if let Some(item) = records.get(&Key::new(pk, sk.clone())).await? {
            return from_item(item);
        }
    }
    Err(Error::not_found("transcript type"))
}

/// Checks that a transcript's type exists: the pair when a sub-type is named, otherwise any
/// type of that name.
pub async fn check_exists(
    records: &dyn Records,
    t: &TenantId,
    kind: &str,
    sub_type: Option<&str>,
) -> Result<()> {
    check_slug("type", kind)?;
    let missing = |what: String| {
        Error::validation(
            "type",
            format!("no transcript type {what}; GET /transcript-types lists them"),
        )
    };
    match sub_type {
        Some(sub) => {
            check_slug("sub_type", sub)?;
            match get(records, t, kind, sub).await {
                Ok(_) => Ok(()),
                Err(Error::NotFound { .. }) => Err(missing(format!("{kind}/{sub}"))),
                Err(e) => Err(e),
            }
        }
        None => {
            for pk in [
                keys::tenant_pk(t, keys::TRANSCRIPT_TYPES),
                keys::catalog_pk(keys::TRANSCRIPT_TYPES),
            ] {
                let page = records
                    .query(
                        Query::partition(pk)
                            .begins_with(format!("{kind}/"))
                            .limit(1),
                    )
                    .await?;
                if !page.items.is_empty() {
                    return Ok(());
                }
            }
            Err(missing(kind.to_string()))
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TypeInput {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub sub_type: Option<String>,
    pub instructions: Option<String>,
    pub extra_schema: Option<Value>,
}

#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn create(
    records: &dyn Records,
    clock: &dyn Clock,
    t: &TenantId,
    input: TypeInput,
) -> Result<TranscriptType> {
    let kind = input
        .kind
        .ok_or_else(|| Error::validation("type", "is required"))?;
    let sub_type = input
        .sub_type
        .ok_or_else(|| Error::validation("sub_type", "is required"))?;
    check_slug("type", &kind)?;
    check_slug("sub_type", &sub_type)?;
    let instructions = input.instructions.unwrap_or_default();
    check_instructions(&instructions)?;
    let extra_schema = input
        .extra_schema
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    check_schema(&extra_schema)?;
    if builtins()
        .iter()
        .any(|b| b.kind == kind && b.sub_type == sub_type)
    {
        return Err(Conflict::State(format!("{kind}/{sub_type} is a built-in type")).into());
    }
    let ty = TranscriptType {
        kind,
        sub_type,
        instructions,
        extra_schema,
        builtin: false,
        created_at: Some(clock.now()),
    };
    match records
        .put(
            item(keys::tenant_pk(t, keys::TRANSCRIPT_TYPES), &ty)?,
            vec![Condition::NotExists],
        )
        .await
    {
        Ok(()) => Ok(ty),
        Err(e) if e.failed_write() == Some(0) => Err(Conflict::State(format!(
            "the type {}/{} exists already",
            ty.kind, ty.sub_type
        ))
        .into()),
        Err(e) => Err(e),
    }
}

fn own_key(t: &TenantId, kind: &str, sub_type: &str) -> Key {
    Key::new(
        keys::tenant_pk(t, keys::TRANSCRIPT_TYPES),
        keys::transcript_type_sk(kind, sub_type),
    )
}

async fn check_own(records: &dyn Records, t: &TenantId, kind: &str, sub_type: &str) -> Result<()> {
    let ty = get(records, t, kind, sub_type).await?;
    if ty.builtin {
        return Err(Error::Forbidden(
            "built-in transcript types cannot be changed".into(),
        ));
    }
    Ok(())
}

#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn update(
    records: &dyn Records,
    t: &TenantId,
    kind: &str,
    sub_type: &str,
    input: TypeInput,
) -> Result<TranscriptType> {
    check_own(records, t, kind, sub_type).await?;
    if input.kind.as_deref().is_some_and(|k| k != kind)
        || input.sub_type.as_deref().is_some_and(|s| s != sub_type)
    {
        return Err(Error::validation("type", "a type cannot be renamed"));
    }
    let mut update = Update::new();
    if let Some(i) = input.instructions {
        check_instructions(&i)?;
        update = update.set("instructions", i);
    }
    if let Some(s) = input.extra_schema {
        check_schema(&s)?;
        update = update.set("extra_schema", s);
    }
    if update.set.is_empty() {
        return get(records, t, kind, sub_type).await;
    }
    match records
        .update(&own_key(t, kind, sub_type), update, vec![Condition::Exists])
        .await
    {
        Ok(item) => from_item(item),
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("transcript type")),
        Err(e) => Err(e),
    }
}

#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn delete(records: &dyn Records, t: &TenantId, kind: &str, sub_type: &str) -> Result<()> {
    check_own(records, t, kind, sub_type).await?;
    match records
        .delete(&own_key(t, kind, sub_type), vec![Condition::Exists])
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("transcript type")),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_compile_and_bad_ones_are_refused() {
        for b in builtins() {
            check_schema(&b.extra_schema).unwrap();
            check_slug("type", &b.kind).unwrap();
            check_slug("sub_type", &b.sub_type).unwrap();
        }
        assert!(check_schema(&json!({"type": "string"})).is_err());
        assert!(
            check_schema(&json!({"type": "object", "properties": {"a": {"type": "strnig"}}}))
                .is_err()
        );
        assert!(
            check_schema(&json!({"type": "object", "properties": {"a": {"pattern": "("}}}))
                .is_err()
        );
        assert!(check_slug("type", "Sales").is_err());
        assert!(check_slug("type", "sales/x").is_err());
    }
}
