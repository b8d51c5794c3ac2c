//! The records port on DynamoDB.
//!
//! Items go through serde_dynamo; conditions become expressions with name and value
//! placeholders (never user text inside an expression); a cancelled transaction names the
//! write whose condition failed from its cancellation reasons.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem,
    Update as DdbUpdate,
};
use recap_domain::records::{
    Condition, Item, Key, PK, Page, Query, Records, SK, SortKey, Update, Write,
    validate_conditions, validate_item, validate_transaction,
};
use recap_domain::{Conflict, Error, Result};
use serde_json::Value;

use crate::sdk_err;

type Attrs = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoRecords {
    client: Client,
    table: String,
}

impl DynamoRecords {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRecords {
            client,
            table: table.into(),
        }
    }
}

fn to_attrs(item: &Item) -> Result<Attrs> {
    serde_dynamo::to_item(item).map_err(|e| Error::unexpected("converting an item for DynamoDB", e))
}

fn from_attrs(attrs: Attrs) -> Result<Item> {
    serde_dynamo::from_item(attrs)
        .map_err(|e| Error::unexpected("reading an item from DynamoDB", e))
}

fn to_av(v: &Value) -> Result<AttributeValue> {
    serde_dynamo::to_attribute_value(v)
        .map_err(|e| Error::unexpected("converting a value for DynamoDB", e))
}

fn key_attrs(k: &Key) -> Attrs {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(k.pk.clone())),
        (SK.to_string(), AttributeValue::S(k.sk.clone())),
    ])
}

/// Placeholders of one expression (or one request's several expressions).
#[derive(Default)]
struct Placeholders {
    names: HashMap<String, String>,
    values: Attrs,
}

impl Placeholders {
    fn name(&mut self, attr: &str) -> String {
        if let Some((k, _)) = self.names.iter().find(|(_, v)| v.as_str() == attr) {
            return k.clone();
        }
        let k = format!("#n{}", self.names.len());
        self.names.insert(k.clone(), attr.to_string());
        k
    }
    fn value(&mut self, v: AttributeValue) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), v);
        k
    }
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
    fn values(&self) -> Option<Attrs> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn condition_expr(conds: &[Condition], p: &mut Placeholders) -> Result<Option<String>> {
    let mut parts = Vec::with_capacity(conds.len());
    for c in conds {
        parts.push(match c {
            Condition::Exists => format!("attribute_exists({})", p.name(PK)),
            Condition::NotExists => format!("attribute_not_exists({})", p.name(PK)),
            Condition::Equals(a, v) => {
                let n = p.name(a);
                let v = p.value(to_av(v)?);
                format!("{n} = {v}")
            }
            Condition::AtLeast(a, x) => {
                // The type guard states what DynamoDB does anyway (a string is never ≥ a
                // number) and keeps moto, which fails with a 500 on that comparison, honest.
                let n = p.name(a);
                let t = p.value(AttributeValue::S("N".into()));
                let v = p.value(AttributeValue::N(x.to_string()));
                format!("(attribute_type({n}, {t}) AND {n} >= {v})")
            }
        });
    }
    Ok((!parts.is_empty()).then(|| parts.join(" AND ")))
}

fn update_expr(u: &Update, p: &mut Placeholders) -> Result<String> {
    let mut clauses = Vec::new();
    if !u.set.is_empty() {
        let mut sets = Vec::new();
        for (a, v) in &u.set {
            let n = p.name(a);
            let v = p.value(to_av(v)?);
            sets.push(format!("{n} = {v}"));
        }
        clauses.push(format!("SET {}", sets.join(", ")));
    }
    if !u.add.is_empty() {
        let adds: Vec<_> = u
            .add
            .iter()
            .map(|(a, x)| {
                let n = p.name(a);
                let v = p.value(AttributeValue::N(x.to_string()));
                format!("{n} {v}")
            })
            .collect();
        clauses.push(format!("ADD {}", adds.join(", ")));
    }
    if !u.remove.is_empty() {
        let rms: Vec<_> = u.remove.iter().map(|a| p.name(a)).collect();
        clauses.push(format!("REMOVE {}", rms.join(", ")));
    }
    Ok(clauses.join(" "))
}

/// Maps the failure of a write: a failed condition is a conflict on write 0 (a transaction's
/// is read from its cancellation reasons instead); a ValidationException about size or types
/// becomes a validation error the caller can act on; the rest as any SDK failure.
fn write_err<E, R>(what: &'static str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException") {
        return Conflict::ConditionFailed { write: 0 }.into();
    }
    if let Some(s) = e.as_service_error()
        && s.code() == Some("ValidationException")
    {
        let m = s.message().unwrap_or_default();
        if m.contains("size") {
            return Error::validation("item", m.to_string());
        }
        if m.contains("incorrect data type") {
            return Error::validation("update", m.to_string());
        }
    }
    sdk_err(what, e)
}

fn transact_item(table: &str, w: &Write) -> Result<TransactWriteItem> {
    let build =
        |e: aws_sdk_dynamodb::error::BuildError| Error::unexpected("building a transaction", e);
    let mut p = Placeholders::default();
    let cond = condition_expr(w.conditions(), &mut p)?;
    let item = match w {
        Write::Put { item, .. } => TransactWriteItem::builder().put(
            Put::builder()
                .table_name(table)
                .set_item(Some(to_attrs(item)?))
                .set_condition_expression(cond)
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values())
                .build()
                .map_err(build)?,
        ),
        Write::Update { key, update, .. } => {
            let expr = update_expr(update, &mut p)?;
            TransactWriteItem::builder().update(
                DdbUpdate::builder()
                    .table_name(table)
                    .set_key(Some(key_attrs(key)))
                    .update_expression(expr)
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(p.names())
                    .set_expression_attribute_values(p.values())
                    .build()
                    .map_err(build)?,
            )
        }
        Write::Delete { key, .. } => TransactWriteItem::builder().delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key_attrs(key)))
                .set_condition_expression(cond)
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values())
                .build()
                .map_err(build)?,
        ),
        Write::Check { key, .. } => TransactWriteItem::builder().condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key_attrs(key)))
                .condition_expression(
                    cond.unwrap_or_else(|| format!("attribute_exists({})", p.name(PK))),
                )
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values())
                .build()
                .map_err(build)?,
        ),
    };
    Ok(item.build())
}

/// Maps a cancelled transaction to the write that caused it, from its cancellation reasons
/// (one per write, in order; `None` for the writes that were fine).
fn cancellation(codes: &[Option<&str>]) -> Option<Error> {
    if let Some(i) = codes
        .iter()
        .position(|c| *c == Some("ConditionalCheckFailed"))
    {
        return Some(Conflict::ConditionFailed { write: i }.into());
    }
    if codes.contains(&Some("TransactionConflict")) {
        return Some(Conflict::TransactionConflict.into());
    }
    if let Some(c) = codes.iter().flatten().find(|c| **c != "None") {
        let what = match *c {
            "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded" => {
                return Some(Error::Unavailable {
                    what: "DynamoDB".into(),
                    source: Some(format!("transaction cancelled: {c}").into()),
                });
            }
            "ItemCollectionSizeLimitExceeded" | "ValidationError" => "transaction",
            _ => return None,
        };
        return Some(Error::validation(what, format!("refused by DynamoDB: {c}")));
    }
    None
}

#[async_trait]
impl Records for DynamoRecords {
    #[tracing::instrument(skip_all, fields(pk = %key.pk))]
    async fn get(&self, key: &Key) -> Result<Option<Item>> {
        key.validate()?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("DynamoDB GetItem", e))?;
        out.item.map(from_attrs).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn put(&self, item: Item, conditions: Vec<Condition>) -> Result<()> {
        validate_item(&item)?;
        validate_conditions(&conditions)?;
        let mut p = Placeholders::default();
        let cond = condition_expr(&conditions, &mut p)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(&item)?))
            .set_condition_expression(cond)
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .send()
            .await
            .map_err(|e| write_err("DynamoDB PutItem", e))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(pk = %key.pk))]
    async fn update(&self, key: &Key, update: Update, conditions: Vec<Condition>) -> Result<Item> {
        key.validate()?;
        update.validate()?;
        validate_conditions(&conditions)?;
        let mut p = Placeholders::default();
        let cond = condition_expr(&conditions, &mut p)?;
        let expr = update_expr(&update, &mut p)?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression(expr)
            .set_condition_expression(cond)
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| write_err("DynamoDB UpdateItem", e))?;
        from_attrs(out.attributes.unwrap_or_default())
    }

    #[tracing::instrument(skip_all, fields(pk = %key.pk))]
    async fn delete(&self, key: &Key, conditions: Vec<Condition>) -> Result<Option<Item>> {
        key.validate()?;
        validate_conditions(&conditions)?;
        let mut p = Placeholders::default();
        let cond = condition_expr(&conditions, &mut p)?;
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(cond)
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| write_err("DynamoDB DeleteItem", e))?;
        out.attributes
            .filter(|a| !a.is_empty())
            .map(from_attrs)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(pk = %query.pk))]
    async fn query(&self, query: Query) -> Result<Page> {
        let cursor = query.validate()?;
        let (pk_attr, sk_attr) = match query.index {
            None => (PK, SK),
            Some(i) => i.key_attrs(),
        };
        let mut p = Placeholders::default();
        let pk_name = p.name(pk_attr);
        let pk_val = p.value(AttributeValue::S(query.pk.clone()));
        let mut expr = format!("{pk_name} = {pk_val}");
        let s = |p: &mut Placeholders, v: &str| p.value(AttributeValue::S(v.to_string()));
        match &query.sk {
            SortKey::All => {}
            SortKey::BeginsWith(x) => {
                let n = p.name(sk_attr);
                let v = s(&mut p, x);
                expr.push_str(&format!(" AND begins_with({n}, {v})"));
            }
            SortKey::Between(a, b) => {
                let n = p.name(sk_attr);
                let (a, b) = (s(&mut p, a), s(&mut p, b));
                expr.push_str(&format!(" AND {n} BETWEEN {a} AND {b}"));
            }
            SortKey::AtLeast(a) => {
                let n = p.name(sk_attr);
                let a = s(&mut p, a);
                expr.push_str(&format!(" AND {n} >= {a}"));
            }
            SortKey::AtMost(b) => {
                let n = p.name(sk_attr);
                let b = s(&mut p, b);
                expr.push_str(&format!(" AND {n} <= {b}"));
            }
        }
        let mut start: Option<Attrs> = cursor.map(|c| {
            let mut k = key_attrs(&c.key);
            if let (Some(i), Some(ik)) = (c.index, &c.index_key) {
                let (ip, is) = i.key_attrs();
                k.insert(ip.to_string(), AttributeValue::S(ik.pk.clone()));
                k.insert(is.to_string(), AttributeValue::S(ik.sk.clone()));
            }
            k
        });
        // One more than asked, so that the cursor is given exactly when more follow; DynamoDB
        // may stop early at 1 MB, so go on until that many are read or none are left.
        let want = query.limit as usize + 1;
        let mut items = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(|i| i.name().to_string()))
                .key_condition_expression(&expr)
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values())
                .scan_index_forward(!query.descending)
                .set_consistent_read(query.index.is_none().then_some(true))
                .limit(i32::try_from(want - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err("DynamoDB Query", e))?;
            for a in out.items.unwrap_or_default() {
                items.push(from_attrs(a)?);
            }
            match out.last_evaluated_key {
                Some(k) if items.len() < want && !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Page::from_overfetch(&query, items)
    }

    #[tracing::instrument(skip_all, fields(writes = writes.len()))]
    async fn transact(&self, writes: Vec<Write>) -> Result<()> {
        validate_transaction(&writes)?;
        let items = writes
            .iter()
            .map(|w| transact_item(&self.table, w))
            .collect::<Result<Vec<_>>>()?;
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                    e.as_service_error()
                {
                    let codes: Vec<Option<&str>> =
                        c.cancellation_reasons().iter().map(|r| r.code()).collect();
                    if let Some(mapped) = cancellation(&codes) {
                        return Err(mapped);
                    }
                }
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_in_progress_exception())
                {
                    return Err(Conflict::TransactionConflict.into());
                }
                Err(write_err("DynamoDB TransactWriteItems", e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_become_placeholder_expressions() {
        let mut p = Placeholders::default();
        let e = condition_expr(
            &[
                Condition::Exists,
                Condition::equals("status", "x; DROP"),
                Condition::at_least("available", 5),
            ],
            &mut p,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            e,
            "attribute_exists(#n0) AND #n1 = :v0 AND (attribute_type(#n2, :v1) AND #n2 >= :v2)"
        );
        assert_eq!(p.names["#n1"], "status");
        assert_eq!(p.values[":v0"], AttributeValue::S("x; DROP".into()));
        assert_eq!(p.values[":v2"], AttributeValue::N("5".into()));
    }

    #[test]
    fn updates_become_set_add_remove() {
        let mut p = Placeholders::default();
        let u = Update::new()
            .set("a", 1)
            .set("b", "x")
            .add("n", -2)
            .remove("gone");
        assert_eq!(
            update_expr(&u, &mut p).unwrap(),
            "SET #n0 = :v0, #n1 = :v1 ADD #n2 :v2 REMOVE #n3"
        );
    }

    #[test]
    fn cancellation_reasons_name_the_failed_write() {
        let e = cancellation(&[Some("None"), None, Some("ConditionalCheckFailed")]).unwrap();
        assert_eq!(e.failed_write(), Some(2));
        assert!(matches!(
            cancellation(&[Some("TransactionConflict")]),
            Some(Error::Conflict(Conflict::TransactionConflict))
        ));
        assert!(matches!(
            cancellation(&[Some("ThrottlingError")]),
            Some(Error::Unavailable { .. })
        ));
        assert!(cancellation(&[Some("None")]).is_none());
    }
}
