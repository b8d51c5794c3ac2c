//! The records port on redb, with DynamoDB's semantics.
//!
//! Tables: `items` maps (pk, sk) to the item's JSON; `idx_gsi1` and `idx_gsi2` map
//! (index pk, index sk, pk, sk) to nothing, kept in the same write transaction as the item.
//! Tuple keys order element by element, strings by bytes, as DynamoDB orders string keys.

use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use recap_domain::records::{
    Condition, Cursor, Index, Item, Key, Page, Query, Records, SortKey, Update, Write,
    validate_item, validate_transaction,
};
use recap_domain::{Conflict, Error, Result};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use crate::{blocking, db_err};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
const GSI1: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("idx_gsi1");
const GSI2: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("idx_gsi2");

fn index_table(
    i: Index,
) -> TableDefinition<'static, (&'static str, &'static str, &'static str, &'static str), ()> {
    match i {
        Index::Gsi1 => GSI1,
        Index::Gsi2 => GSI2,
    }
}

#[derive(Clone)]
pub struct EmbeddedRecords {
    db: Arc<redb::Database>,
}

impl std::fmt::Debug for EmbeddedRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedRecords")
    }
}

impl EmbeddedRecords {
    pub(crate) fn new(db: Arc<redb::Database>) -> Self {
        EmbeddedRecords { db }
    }
}

fn decode(bytes: &[u8]) -> Result<Item> {
    serde_json::from_slice(bytes).map_err(|e| Error::unexpected("decoding a stored item", e))
}

fn encode(item: &Item) -> Result<Vec<u8>> {
    serde_json::to_vec(item).map_err(|e| Error::unexpected("encoding an item", e))
}

fn read_item(txn: &WriteTransaction, key: &Key) -> Result<Option<Item>> {
    let t = txn.open_table(ITEMS).map_err(db_err)?;
    let found = t.get((key.pk.as_str(), key.sk.as_str())).map_err(db_err)?;
    found.map(|g| decode(g.value())).transpose()
}

fn check(conditions: &[Condition], found: Option<&Item>, write: usize) -> Result<()> {
    if conditions.iter().all(|c| c.holds(found)) {
        Ok(())
    } else {
        Err(Conflict::ConditionFailed { write }.into())
    }
}

/// Replaces (or removes, with `new: None`) one item and its index entries.
fn store(txn: &WriteTransaction, key: &Key, old: Option<&Item>, new: Option<&Item>) -> Result<()> {
    for idx in Index::ALL {
        let before = old.and_then(|i| idx.key_of(i));
        let after = new.and_then(|i| idx.key_of(i));
        if before == after {
            continue;
        }
        let mut t = txn.open_table(index_table(idx)).map_err(db_err)?;
        if let Some(b) = before {
            t.remove((
                b.pk.as_str(),
                b.sk.as_str(),
                key.pk.as_str(),
                key.sk.as_str(),
            ))
            .map_err(db_err)?;
        }
        if let Some(a) = after {
            t.insert(
                (
                    a.pk.as_str(),
                    a.sk.as_str(),
                    key.pk.as_str(),
                    key.sk.as_str(),
                ),
                (),
            )
            .map_err(db_err)?;
        }
    }
    let mut t = txn.open_table(ITEMS).map_err(db_err)?;
    match new {
        Some(item) => {
            let bytes = encode(item)?;
            t.insert((key.pk.as_str(), key.sk.as_str()), bytes.as_slice())
                .map_err(db_err)?;
        }
        None => {
            t.remove((key.pk.as_str(), key.sk.as_str()))
                .map_err(db_err)?;
        }
    }
    Ok(())
}

/// Applies one write inside a transaction; returns (what was there, what is there now).
fn apply(txn: &WriteTransaction, w: &Write, n: usize) -> Result<(Option<Item>, Option<Item>)> {
    let key = w.validate()?;
    let old = read_item(txn, &key)?;
    check(w.conditions(), old.as_ref(), n)?;
    let new = match w {
        Write::Put { item, .. } => Some(item.clone()),
        Write::Update { update, .. } => {
            let item = update.apply(&key, old.as_ref())?;
            validate_item(&item)?;
            Some(item)
        }
        Write::Delete { .. } => None,
        Write::Check { .. } => return Ok((old.clone(), old)),
    };
    store(txn, &key, old.as_ref(), new.as_ref())?;
    Ok((old, new))
}

impl EmbeddedRecords {
    /// Runs writes in one redb transaction, committed only if every write succeeds.
    async fn write(&self, writes: Vec<Write>) -> Result<Vec<(Option<Item>, Option<Item>)>> {
        let db = self.db.clone();
        blocking(move || {
            let txn = db.begin_write().map_err(db_err)?;
            let mut out = Vec::with_capacity(writes.len());
            for (n, w) in writes.iter().enumerate() {
                // An error drops `txn` uncommitted: nothing of the transaction is written.
                out.push(apply(&txn, w, n)?);
            }
            txn.commit().map_err(db_err)?;
            Ok(out)
        })
        .await
    }

    fn one(mut r: Vec<(Option<Item>, Option<Item>)>) -> Result<(Option<Item>, Option<Item>)> {
        r.pop()
            .ok_or_else(|| Error::unexpected("embedded store", "a write returned nothing"))
    }
}

/// The smallest string greater than every string that starts with `p`, if there is one.
fn prefix_successor(p: &str) -> Option<String> {
    let mut chars: Vec<char> = p.chars().collect();
    while let Some(c) = chars.pop() {
        let mut next = c as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(n) = char::from_u32(next) {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Bounds on the sort key of a query, narrowed by its cursor.
fn sk_bounds(q: &Query, after: Option<&str>) -> (Bound<String>, Bound<String>) {
    let (mut lo, mut hi) = match &q.sk {
        SortKey::All => (Bound::Unbounded, Bound::Unbounded),
        SortKey::BeginsWith(p) => (
            Bound::Included(p.clone()),
            prefix_successor(p).map_or(Bound::Unbounded, Bound::Excluded),
        ),
        SortKey::Between(a, b) => (Bound::Included(a.clone()), Bound::Included(b.clone())),
        SortKey::AtLeast(a) => (Bound::Included(a.clone()), Bound::Unbounded),
        SortKey::AtMost(b) => (Bound::Unbounded, Bound::Included(b.clone())),
    };
    if let Some(c) = after {
        if q.descending {
            hi = Bound::Excluded(c.to_string());
        } else {
            lo = Bound::Excluded(c.to_string());
        }
    }
    (lo, hi)
}

fn query_table(db: &redb::Database, q: &Query, cursor: Option<&Cursor>) -> Result<Vec<Item>> {
    let txn = db.begin_read().map_err(db_err)?;
    let t = match txn.open_table(ITEMS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
        Err(e) => return Err(db_err(e)),
    };
    let pk = q.pk.as_str();
    let end_pk = format!("{pk}\0");
    let (lo, hi) = sk_bounds(q, cursor.map(|c| c.key.sk.as_str()));
    let lower = match &lo {
        Bound::Included(s) => Bound::Included((pk, s.as_str())),
        Bound::Excluded(s) => Bound::Excluded((pk, s.as_str())),
        Bound::Unbounded => Bound::Included((pk, "")),
    };
    let upper = match &hi {
        Bound::Included(s) => Bound::Included((pk, s.as_str())),
        Bound::Excluded(s) => Bound::Excluded((pk, s.as_str())),
        Bound::Unbounded => Bound::Excluded((end_pk.as_str(), "")),
    };
    let range = t.range::<(&str, &str)>((lower, upper)).map_err(db_err)?;
    take(range, q, |(_, v)| decode(v.value()))
}

fn query_index(
    db: &redb::Database,
    idx: Index,
    q: &Query,
    cursor: Option<&Cursor>,
) -> Result<Vec<Item>> {
    let txn = db.begin_read().map_err(db_err)?;
    let t = match txn.open_table(index_table(idx)) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
        Err(e) => return Err(db_err(e)),
    };
    let items = match txn.open_table(ITEMS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
        Err(e) => return Err(db_err(e)),
    };
    let gpk = q.pk.as_str();
    let end_pk = format!("{gpk}\0");
    let (lo, hi) = sk_bounds(q, None);
    let lo_next = match &lo {
        Bound::Excluded(s) => format!("{s}\0"),
        _ => String::new(),
    };
    let hi_next = match &hi {
        Bound::Included(s) => format!("{s}\0"),
        _ => String::new(),
    };
    // Every entry of one index sort key s lies in [(p, s, "", ""), (p, s\0, "", "")).
    let mut lower = match &lo {
        Bound::Included(s) => Bound::Included((gpk, s.as_str(), "", "")),
        Bound::Excluded(_) => Bound::Included((gpk, lo_next.as_str(), "", "")),
        Bound::Unbounded => Bound::Included((gpk, "", "", "")),
    };
    let mut upper = match &hi {
        Bound::Included(_) => Bound::Excluded((gpk, hi_next.as_str(), "", "")),
        Bound::Excluded(s) => Bound::Excluded((gpk, s.as_str(), "", "")),
        Bound::Unbounded => Bound::Excluded((end_pk.as_str(), "", "", "")),
    };
    if let Some(c) = cursor {
        let ik = c
            .index_key
            .as_ref()
            .ok_or_else(|| Error::validation("cursor", "does not belong to this query"))?;
        let pos = (
            ik.pk.as_str(),
            ik.sk.as_str(),
            c.key.pk.as_str(),
            c.key.sk.as_str(),
        );
        if q.descending {
            upper = Bound::Excluded(pos);
        } else {
            lower = Bound::Excluded(pos);
        }
    }
    let range = t
        .range::<(&str, &str, &str, &str)>((lower, upper))
        .map_err(db_err)?;
    take(range, q, |(k, _)| {
        let (_, _, pk, sk) = k.value();
        let found = items.get((pk, sk)).map_err(db_err)?.ok_or_else(|| {
            Error::unexpected("embedded store", "an index entry points at no item")
        })?;
        decode(found.value())
    })
}

/// Reads up to `limit + 1` entries of a range in the query's direction (see
/// `Page::from_overfetch`).
fn take<T>(
    range: impl DoubleEndedIterator<Item = std::result::Result<T, redb::StorageError>>,
    q: &Query,
    mut read: impl FnMut(T) -> Result<Item>,
) -> Result<Vec<Item>> {
    let want = q.limit as usize + 1;
    let entries: Box<dyn Iterator<Item = _>> = if q.descending {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    let mut out = Vec::new();
    for r in entries.take(want) {
        out.push(read(r.map_err(db_err)?)?);
    }
    Ok(out)
}

#[async_trait]
impl Records for EmbeddedRecords {
    #[tracing::instrument(skip_all, fields(pk = %key.pk))]
    async fn get(&self, key: &Key) -> Result<Option<Item>> {
        key.validate()?;
        let db = self.db.clone();
        let key = key.clone();
        blocking(move || {
            let txn = db.begin_read().map_err(db_err)?;
            let t = match txn.open_table(ITEMS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(db_err(e)),
            };
            let found = t.get((key.pk.as_str(), key.sk.as_str())).map_err(db_err)?;
            found.map(|g| decode(g.value())).transpose()
        })
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn put(&self, item: Item, conditions: Vec<Condition>) -> Result<()> {
        self.write(vec![Write::Put { item, conditions }])
            .await
            .map(|_| ())
    }

    #[tracing::instrument(skip_all, fields(pk = %key.pk))]
    async fn update(&self, key: &Key, update: Update, conditions: Vec<Condition>) -> Result<Item> {
        let w = Write::Update {
            key: key.clone(),
            update,
            conditions,
        };
        let (_, new) = Self::one(self.write(vec![w]).await?)?;
        new.ok_or_else(|| Error::unexpected("embedded store", "an update wrote nothing"))
    }

    #[tracing::instrument(skip_all, fields(pk = %key.pk))]
    async fn delete(&self, key: &Key, conditions: Vec<Condition>) -> Result<Option<Item>> {
        let w = Write::Delete {
            key: key.clone(),
            conditions,
        };
        let (old, _) = Self::one(self.write(vec![w]).await?)?;
        Ok(old)
    }

    #[tracing::instrument(skip_all, fields(pk = %query.pk))]
    async fn query(&self, query: Query) -> Result<Page> {
        let cursor = query.validate()?;
        let db = self.db.clone();
        blocking(move || {
            let items = match query.index {
                None => query_table(&db, &query, cursor.as_ref())?,
                Some(i) => query_index(&db, i, &query, cursor.as_ref())?,
            };
            Page::from_overfetch(&query, items)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(writes = writes.len()))]
    async fn transact(&self, writes: Vec<Write>) -> Result<()> {
        validate_transaction(&writes)?;
        self.write(writes).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_bounds_every_extension() {
        assert_eq!(prefix_successor("A#").as_deref(), Some("A$"));
        assert_eq!(prefix_successor("").as_deref(), None);
        let max = char::MAX.to_string();
        assert_eq!(prefix_successor(&format!("a{max}")).as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        for ext in ["", "\0", "zzz", &max] {
            assert!(format!("A#{ext}").as_str() < "A$");
        }
    }
}
