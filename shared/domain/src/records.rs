//! The records port: a narrow, DynamoDB-shaped table.
//!
//! One table. Every item has a partition key `pk` and a sort key `sk` (both strings) and may
//! carry the keys of two global secondary indexes, `gsi1pk`/`gsi1sk` and `gsi2pk`/`gsi2sk`.
//! Sort keys compare as UTF-8 bytes, as DynamoDB compares strings.
//!
//! Items are JSON objects of top-level attributes. Conditions are a small enum, never
//! expression strings: the DynamoDB adapter turns them into expressions with placeholders, the
//! embedded adapter evaluates them with [`Condition::holds`]. Both follow DynamoDB: an update
//! of a missing item creates it, a comparison with a missing attribute is false, a transaction
//! is all or nothing and may touch an item once.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// An item: top-level attribute names to JSON values. It includes its key attributes.
pub type Item = Map<String, Value>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";

/// DynamoDB's item size limit, which the embedded store enforces too.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's limit on the writes of one transaction.
pub const MAX_TRANSACTION_WRITES: usize = 100;
/// DynamoDB's limits on key attribute sizes.
pub const MAX_PK_BYTES: usize = 2048;
pub const MAX_SK_BYTES: usize = 1024;
/// The most items one query page returns.
pub const MAX_PAGE: u32 = 1000;

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of an item, which must carry `pk` and `sk` as non-empty strings.
    pub fn of(item: &Item) -> Result<Key> {
        let part = |name: &'static str| -> Result<String> {
            match item.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(_) => Err(Error::validation(name, "must be a non-empty string")),
                None => Err(Error::validation(name, "is missing from the item")),
            }
        };
        let key = Key {
            pk: part(PK)?,
            sk: part(SK)?,
        };
        key.validate()?;
        Ok(key)
    }

    pub fn validate(&self) -> Result<()> {
        check_key_part(PK, &self.pk, MAX_PK_BYTES)?;
        check_key_part(SK, &self.sk, MAX_SK_BYTES)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.pk, self.sk)
    }
}

fn check_key_part(name: &'static str, v: &str, max: usize) -> Result<()> {
    if v.is_empty() {
        return Err(Error::validation(name, "must not be empty"));
    }
    if v.len() > max {
        return Err(Error::validation(
            name,
            format!("is {} bytes, over the limit of {max}", v.len()),
        ));
    }
    Ok(())
}

/// A global secondary index of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Index {
    Gsi1,
    Gsi2,
}

impl Index {
    pub const ALL: [Index; 2] = [Index::Gsi1, Index::Gsi2];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
        }
    }
    /// The attributes holding this index's partition and sort key.
    pub fn key_attrs(self) -> (&'static str, &'static str) {
        match self {
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        }
    }
    /// The index key of an item, if it carries both attributes as strings (a sparse index).
    pub fn key_of(self, item: &Item) -> Option<Key> {
        let (p, s) = self.key_attrs();
        match (item.get(p), item.get(s)) {
            (Some(Value::String(p)), Some(Value::String(s))) => Some(Key::new(p, s)),
            _ => None,
        }
    }
}

/// A condition on the item a write finds. Several conditions on one write must all hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    /// The attribute exists and equals the value (numbers compare by value).
    Equals(String, Value),
    /// The attribute exists, is a number, and is at least `n`.
    AtLeast(String, i64),
}

impl Condition {
    pub fn equals(attr: impl Into<String>, v: impl Into<Value>) -> Self {
        Condition::Equals(attr.into(), v.into())
    }
    pub fn at_least(attr: impl Into<String>, n: i64) -> Self {
        Condition::AtLeast(attr.into(), n)
    }

    /// Whether the condition holds on the item found (None: no item), as DynamoDB decides.
    pub fn holds(&self, found: Option<&Item>) -> bool {
        match self {
            Condition::Exists => found.is_some(),
            Condition::NotExists => found.is_none(),
            Condition::Equals(a, v) => found
                .and_then(|i| i.get(a))
                .is_some_and(|x| values_equal(x, v)),
            Condition::AtLeast(a, n) => found
                .and_then(|i| i.get(a))
                .and_then(number_as_i128)
                .is_some_and(|x| x >= i128::from(*n)),
        }
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            Condition::Equals(a, v) => {
                check_attr_name(a)?;
                if v.is_null() {
                    return Err(Error::validation(
                        "condition",
                        "equality with null is not a condition; use Exists or NotExists",
                    ));
                }
                Ok(())
            }
            Condition::AtLeast(a, _) => check_attr_name(a),
            Condition::Exists | Condition::NotExists => Ok(()),
        }
    }
}

fn number_as_i128(v: &Value) -> Option<i128> {
    let n = v.as_number()?;
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Equality as DynamoDB sees it: numbers by value, everything else structurally.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (number_as_i128(a), number_as_i128(b)) {
            (Some(p), Some(q)) => p == q,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

pub fn check_attr_name(a: &str) -> Result<()> {
    if a.is_empty() || a.len() > 255 {
        return Err(Error::validation(
            "attribute",
            "names are 1 to 255 bytes long",
        ));
    }
    Ok(())
}

/// Changes to one item. Numbers added with `add` are integers; adding to a missing attribute
/// starts from zero, as DynamoDB's ADD does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(String, Value)>,
    pub add: Vec<(String, i64)>,
    pub remove: Vec<String>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(mut self, attr: impl Into<String>, v: impl Into<Value>) -> Self {
        self.set.push((attr.into(), v.into()));
        self
    }
    pub fn add(mut self, attr: impl Into<String>, n: i64) -> Self {
        self.add.push((attr.into(), n));
        self
    }
    pub fn remove(mut self, attr: impl Into<String>) -> Self {
        self.remove.push(attr.into());
        self
    }

    pub fn validate(&self) -> Result<()> {
        if self.set.is_empty() && self.add.is_empty() && self.remove.is_empty() {
            return Err(Error::validation("update", "changes nothing"));
        }
        let mut seen = std::collections::HashSet::new();
        let names = self
            .set
            .iter()
            .map(|(a, _)| a)
            .chain(self.add.iter().map(|(a, _)| a))
            .chain(self.remove.iter());
        for a in names {
            check_attr_name(a)?;
            if a == PK || a == SK {
                return Err(Error::validation("update", "cannot change the item's key"));
            }
            if !seen.insert(a.as_str()) {
                return Err(Error::validation(
                    "update",
                    format!("changes attribute {a} twice"),
                ));
            }
        }
        for (a, v) in &self.set {
            for idx in Index::ALL {
                let (p, s) = idx.key_attrs();
                if (a == p || a == s) && !matches!(v, Value::String(s) if !s.is_empty()) {
                    return Err(Error::validation(
                        a.clone(),
                        "index keys must be non-empty strings",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Applies the update to an item (a missing one starts as just its key), as DynamoDB would.
    pub fn apply(&self, key: &Key, found: Option<&Item>) -> Result<Item> {
        let mut item = match found {
            Some(i) => i.clone(),
            None => key_item(key),
        };
        for (a, v) in &self.set {
            item.insert(a.clone(), v.clone());
        }
        for (a, n) in &self.add {
            let current = match item.get(a) {
                None => 0i128,
                Some(v) => number_as_i128(v).ok_or_else(|| {
                    Error::validation(
                        a.clone(),
                        "cannot add to an attribute that is not an integer",
                    )
                })?,
            };
            let next = i64::try_from(current + i128::from(*n))
                .map_err(|_| Error::validation(a.clone(), "the sum overflows 64 bits"))?;
            item.insert(a.clone(), Value::from(next));
        }
        for a in &self.remove {
            item.remove(a);
        }
        Ok(item)
    }
}

pub fn key_item(key: &Key) -> Item {
    let mut m = Map::new();
    m.insert(PK.into(), Value::String(key.pk.clone()));
    m.insert(SK.into(), Value::String(key.sk.clone()));
    m
}

/// DynamoDB's size of an item: attribute names plus values, by its published rules
/// (strings by UTF-8 length, numbers about one byte per two digits plus one, 3 bytes of
/// overhead per list or map and 1 per element). Checked before any write, by every adapter.
pub fn item_size(item: &Item) -> usize {
    fn value_size(v: &Value) -> usize {
        match v {
            Value::Null | Value::Bool(_) => 1,
            Value::String(s) => s.len(),
            Value::Number(n) => {
                let digits = n.to_string().chars().filter(char::is_ascii_digit).count();
                digits.div_ceil(2) + 1
            }
            Value::Array(a) => 3 + a.iter().map(|v| value_size(v) + 1).sum::<usize>(),
            Value::Object(m) => {
                3 + m
                    .iter()
                    .map(|(k, v)| k.len() + value_size(v) + 1)
                    .sum::<usize>()
            }
        }
    }
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Checks an item before it is written: key present and well formed, index keys are
/// non-empty strings where present, names valid, size within DynamoDB's limit.
pub fn validate_item(item: &Item) -> Result<Key> {
    let key = Key::of(item)?;
    for idx in Index::ALL {
        let (p, s) = idx.key_attrs();
        for a in [p, s] {
            if let Some(v) = item.get(a)
                && !matches!(v, Value::String(s) if !s.is_empty())
            {
                return Err(Error::validation(a, "index keys must be non-empty strings"));
            }
        }
    }
    for a in item.keys() {
        check_attr_name(a)?;
    }
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(Error::validation(
            "item",
            format!("is {size} bytes, over the limit of {MAX_ITEM_BYTES}"),
        ));
    }
    Ok(key)
}

/// How a query narrows the sort key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    All,
    BeginsWith(String),
    /// Inclusive at both ends.
    Between(String, String),
    AtLeast(String),
    AtMost(String),
}

impl SortKey {
    pub fn matches(&self, sk: &str) -> bool {
        match self {
            SortKey::All => true,
            SortKey::BeginsWith(p) => sk.starts_with(p.as_str()),
            SortKey::Between(a, b) => a.as_str() <= sk && sk <= b.as_str(),
            SortKey::AtLeast(a) => a.as_str() <= sk,
            SortKey::AtMost(b) => sk <= b.as_str(),
        }
    }
}

/// A query of one partition of the table or of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Option<Index>,
    pub pk: String,
    pub sk: SortKey,
    /// At most this many items (1 to [`MAX_PAGE`]).
    pub limit: u32,
    pub descending: bool,
    /// From [`Page::next_cursor`] of the same query.
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Query {
            index: None,
            pk: pk.into(),
            sk: SortKey::All,
            limit: 100,
            descending: false,
            cursor: None,
        }
    }
    pub fn on(mut self, index: Index) -> Self {
        self.index = Some(index);
        self
    }
    pub fn sk(mut self, sk: SortKey) -> Self {
        self.sk = sk;
        self
    }
    pub fn begins_with(self, prefix: impl Into<String>) -> Self {
        self.sk(SortKey::BeginsWith(prefix.into()))
    }
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = n;
        self
    }
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }

    /// Checks the query and decodes its cursor, which must come from this very query: same
    /// index, same partition (so never another tenant's) and a position inside the sort-key
    /// range. Anything else is a validation error; nothing is read.
    pub fn validate(&self) -> Result<Option<Cursor>> {
        if self.pk.is_empty() {
            return Err(Error::validation("pk", "must not be empty"));
        }
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(Error::validation(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let Some(text) = &self.cursor else {
            return Ok(None);
        };
        let c = Cursor::decode(text)?;
        let position = match self.index {
            None => Some(&c.key),
            Some(_) => c.index_key.as_ref(),
        };
        let belongs = c.index == self.index
            && c.descending == self.descending
            && position.is_some_and(|k| k.pk == self.pk && self.sk.matches(&k.sk));
        if !belongs {
            return Err(Error::validation("cursor", "does not belong to this query"));
        }
        Ok(Some(c))
    }
}

/// One page of a query's results, in sort-key order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present exactly when more items follow.
    pub next_cursor: Option<String>,
}

impl Page {
    /// A page from up to `limit + 1` items read in query order: the extra item, if read,
    /// only tells that more follow. Both adapters read one more than asked for this, so that
    /// `next_cursor` is present exactly when more items follow.
    pub fn from_overfetch(query: &Query, mut items: Vec<Item>) -> Result<Page> {
        let limit = query.limit as usize;
        if items.len() <= limit {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
        items.truncate(limit);
        let next_cursor = match items.last() {
            Some(last) => Some(Cursor::after(query, last)?.encode()),
            None => None,
        };
        Ok(Page { items, next_cursor })
    }
}

/// Where a query stopped: the last item returned. Opaque to callers (URL-safe base64 JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Index>,
    #[serde(rename = "d", default)]
    pub descending: bool,
    /// The table key of the last item.
    #[serde(rename = "k")]
    pub key: Key,
    /// Its index key, for an index query.
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub index_key: Option<Key>,
}

impl Cursor {
    /// The cursor after `item` in a query on `index`.
    pub fn after(query: &Query, item: &Item) -> Result<Cursor> {
        let key = Key::of(item)?;
        let index_key = match query.index {
            None => None,
            Some(i) => Some(i.key_of(item).ok_or_else(|| {
                Error::unexpected(
                    "query page",
                    "an index query returned an item without the index key",
                )
            })?),
        };
        Ok(Cursor {
            index: query.index,
            descending: query.descending,
            key,
            index_key,
        })
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(s: &str) -> Result<Cursor> {
        let bad = || Error::validation("cursor", "is not a cursor this service issued");
        if s.len() > 8192 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        conditions: Vec<Condition>,
    },
    Update {
        key: Key,
        update: Update,
        conditions: Vec<Condition>,
    },
    Delete {
        key: Key,
        conditions: Vec<Condition>,
    },
    /// Writes nothing; the transaction fails unless the conditions hold.
    Check {
        key: Key,
        conditions: Vec<Condition>,
    },
}

impl Write {
    pub fn put(item: Item) -> Self {
        Write::Put {
            item,
            conditions: vec![],
        }
    }
    pub fn update(key: Key, update: Update) -> Self {
        Write::Update {
            key,
            update,
            conditions: vec![],
        }
    }
    pub fn delete(key: Key) -> Self {
        Write::Delete {
            key,
            conditions: vec![],
        }
    }
    pub fn check(key: Key, conditions: Vec<Condition>) -> Self {
        Write::Check { key, conditions }
    }
    /// Adds a condition to the write.
    pub fn when(mut self, c: Condition) -> Self {
        match &mut self {
            Write::Put { conditions, .. }
            | Write::Update { conditions, .. }
            | Write::Delete { conditions, .. }
            | Write::Check { conditions, .. } => conditions.push(c),
        }
        self
    }

    pub fn conditions(&self) -> &[Condition] {
        match self {
            Write::Put { conditions, .. }
            | Write::Update { conditions, .. }
            | Write::Delete { conditions, .. }
            | Write::Check { conditions, .. } => conditions,
        }
    }

    /// The key the write touches, after checking the write itself.
    pub fn validate(&self) -> Result<Key> {
        validate_conditions(self.conditions())?;
        match self {
            Write::Put { item, .. } => validate_item(item),
            Write::Update { key, update, .. } => {
                key.validate()?;
                update.validate()?;
                Ok(key.clone())
            }
            Write::Delete { key, .. } | Write::Check { key, .. } => {
                key.validate()?;
                Ok(key.clone())
            }
        }
    }
}

pub fn validate_conditions(conditions: &[Condition]) -> Result<()> {
    conditions.iter().try_for_each(Condition::validate)
}

/// Checks a whole transaction: 1 to 100 writes, each valid, no item touched twice.
pub fn validate_transaction(writes: &[Write]) -> Result<Vec<Key>> {
    if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
        return Err(Error::validation(
            "transaction",
            format!("must have 1 to {MAX_TRANSACTION_WRITES} writes"),
        ));
    }
    if writes.iter().all(|w| matches!(w, Write::Check { .. })) {
        return Err(Error::validation("transaction", "writes nothing"));
    }
    let mut keys = Vec::with_capacity(writes.len());
    let mut seen = std::collections::HashSet::new();
    for w in writes {
        let k = w.validate()?;
        if !seen.insert(k.clone()) {
            return Err(Error::validation(
                "transaction",
                format!("touches item {k} twice"),
            ));
        }
        keys.push(k);
    }
    Ok(keys)
}

/// The records port. Every method checks its input first and writes nothing on error.
#[async_trait]
pub trait Records: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>>;

    /// Writes the whole item, replacing any item with its key, if the conditions hold.
    async fn put(&self, item: Item, conditions: Vec<Condition>) -> Result<()>;

    /// Changes (or creates) one item if the conditions hold; returns the item as written.
    async fn update(&self, key: &Key, update: Update, conditions: Vec<Condition>) -> Result<Item>;

    /// Deletes one item if the conditions hold; returns what was deleted, if anything was.
    async fn delete(&self, key: &Key, conditions: Vec<Condition>) -> Result<Option<Item>>;

    async fn query(&self, query: Query) -> Result<Page>;

    /// All writes or none. A failed condition is `Conflict::ConditionFailed` naming the write.
    async fn transact(&self, writes: Vec<Write>) -> Result<()>;
}

/// Every item a query matches, page after page (for partitions known to be small, and for
/// reconciliation; request paths page with the caller's cursor instead).
pub async fn query_all(records: &dyn Records, query: Query) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = records.query(query.clone().after(cursor)).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(items),
        }
    }
}

/// Every entity a query matches.
pub async fn query_all_as<T: for<'de> Deserialize<'de>>(
    records: &dyn Records,
    query: Query,
) -> Result<Vec<T>> {
    query_all(records, query)
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}

/// One page of entities, and the cursor of the next.
pub async fn query_page<T: for<'de> Deserialize<'de>>(
    records: &dyn Records,
    query: Query,
) -> Result<(Vec<T>, Option<String>)> {
    let page = records.query(query).await?;
    let items = page
        .items
        .into_iter()
        .map(from_item)
        .collect::<Result<_>>()?;
    Ok((items, page.next_cursor))
}

/// Index pages read at most per filtered list call before answering a short page.
pub const MAX_FILTER_PAGES: usize = 10;

/// One page of the entities of `base` (a query with its limit) that `keep` accepts, starting
/// after `cursor`, and the cursor of the next. Reads index pages until the page is full or the
/// index ends, at most [`MAX_FILTER_PAGES`]; then it answers a short page whose cursor goes on
/// from where the reading stopped. The cursor of a full page points just after its last item,
/// and is absent when nothing follows.
pub async fn query_filtered_page<T: for<'de> Deserialize<'de>>(
    records: &dyn Records,
    base: Query,
    cursor: Option<String>,
    limit: u32,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, Option<String>)> {
    let mut out = Vec::new();
    let mut cursor = cursor;
    for _ in 0..MAX_FILTER_PAGES {
        let query = base.clone().after(cursor.take());
        let page = records.query(query.clone()).await?;
        let n = page.items.len();
        for (i, item) in page.items.into_iter().enumerate() {
            let entity: T = from_item(item.clone())?;
            if keep(&entity) {
                out.push(entity);
            }
            if out.len() == limit as usize {
                let more = i + 1 < n || page.next_cursor.is_some();
                let next = more
                    .then(|| Cursor::after(&query, &item).map(|c| c.encode()))
                    .transpose()?;
                return Ok((out, next));
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok((out, None)),
        }
    }
    Ok((out, cursor))
}

/// One attribute's value, for an [`Update`].
pub fn to_value<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::unexpected("encoding an attribute", e))
}

pub fn to_item<T: Serialize>(key: &Key, entity: &T) -> Result<Item> {
    let v =
        serde_json::to_value(entity).map_err(|e| Error::unexpected("serializing an item", e))?;
    let Value::Object(mut m) = v else {
        return Err(Error::unexpected(
            "serializing an item",
            "the entity is not a JSON object",
        ));
    };
    m.insert(PK.into(), Value::String(key.pk.clone()));
    m.insert(SK.into(), Value::String(key.sk.clone()));
    Ok(m)
}

/// Reads an entity back from an item (extra attributes, such as keys, are ignored).
pub fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T> {
    serde_json::from_value(Value::Object(item))
        .map_err(|e| Error::unexpected("reading a stored item", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn conditions_follow_dynamodb_on_missing_items_and_attributes() {
        let it = item(json!({"pk":"a","sk":"b","n":5,"s":"x","f":1.0}));
        assert!(Condition::Exists.holds(Some(&it)));
        assert!(!Condition::Exists.holds(None));
        assert!(Condition::NotExists.holds(None));
        assert!(Condition::at_least("n", 5).holds(Some(&it)));
        assert!(!Condition::at_least("n", 6).holds(Some(&it)));
        assert!(!Condition::at_least("missing", -100).holds(Some(&it)));
        assert!(!Condition::at_least("s", 0).holds(Some(&it)));
        assert!(!Condition::at_least("n", 0).holds(None));
        assert!(Condition::equals("s", "x").holds(Some(&it)));
        assert!(Condition::equals("f", 1).holds(Some(&it)));
        assert!(!Condition::equals("s", "y").holds(Some(&it)));
        assert!(!Condition::equals("missing", "x").holds(Some(&it)));
    }

    #[test]
    fn update_creates_adds_and_removes() {
        let k = Key::new("p", "s");
        let u = Update::new().set("a", "x").add("n", 3).remove("gone");
        let out = u.apply(&k, None).unwrap();
        assert_eq!(
            Value::Object(out.clone()),
            json!({"pk":"p","sk":"s","a":"x","n":3})
        );
        let out = Update::new().add("n", -5).apply(&k, Some(&out)).unwrap();
        assert_eq!(out["n"], json!(-2));
        let err = Update::new().add("a", 1).apply(&k, Some(&out)).unwrap_err();
        assert!(matches!(err, Error::Validation { .. }));
        assert!(Update::new().set("pk", "x").validate().is_err());
        assert!(Update::new().set("a", 1).add("a", 1).validate().is_err());
        assert!(Update::new().validate().is_err());
        assert!(Update::new().set("gsi1pk", 3).validate().is_err());
    }

    #[test]
    fn item_validation_names_what_is_wrong() {
        assert!(validate_item(&item(json!({"pk":"a"}))).is_err());
        assert!(validate_item(&item(json!({"pk":"a","sk":""}))).is_err());
        assert!(validate_item(&item(json!({"pk":"a","sk":1}))).is_err());
        assert!(validate_item(&item(json!({"pk":"a","sk":"b","gsi1pk":""}))).is_err());
        let big = "x".repeat(MAX_ITEM_BYTES);
        match validate_item(&item(json!({"pk":"a","sk":"b","body":big}))) {
            Err(Error::Validation { field, .. }) => assert_eq!(field, "item"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            validate_item(&item(json!({"pk":"a","sk":"b","n":12345}))).unwrap(),
            Key::new("a", "b")
        );
        // names + values: pk(2)+a(1) + sk(2)+b(1) + n(1)+ 3 + 1
        assert_eq!(item_size(&item(json!({"pk":"a","sk":"b","n":12345}))), 11);
    }

    #[test]
    fn transactions_refuse_empty_oversize_and_repeated_items() {
        let w = || Write::put(item(json!({"pk":"a","sk":"b"})));
        assert!(validate_transaction(&[]).is_err());
        assert!(validate_transaction(&[w(), w()]).is_err());
        let many: Vec<_> = (0..101)
            .map(|i| Write::put(item(json!({"pk":"a","sk":format!("{i}")}))))
            .collect();
        assert!(validate_transaction(&many).is_err());
        assert_eq!(validate_transaction(&many[..100]).unwrap().len(), 100);
        assert!(validate_transaction(&[Write::check(Key::new("a", "b"), vec![])]).is_err());
    }

    #[test]
    fn cursors_belong_to_their_query_only() {
        let q = Query::partition("t1#X").begins_with("A#").limit(2);
        let it = item(json!({"pk":"t1#X","sk":"A#2"}));
        let c = Cursor::after(&q, &it).unwrap().encode();
        assert!(
            q.clone()
                .after(Some(c.clone()))
                .validate()
                .unwrap()
                .is_some()
        );
        // another partition (another tenant), another range, another direction, another index
        let other = Query::partition("t2#X")
            .begins_with("A#")
            .after(Some(c.clone()));
        assert!(
            matches!(other.validate(), Err(Error::Validation { field, .. }) if field == "cursor")
        );
        assert!(
            Query::partition("t1#X")
                .begins_with("B#")
                .after(Some(c.clone()))
                .validate()
                .is_err()
        );
        assert!(
            q.clone()
                .descending()
                .after(Some(c.clone()))
                .validate()
                .is_err()
        );
        assert!(
            q.clone()
                .on(Index::Gsi1)
                .after(Some(c.clone()))
                .validate()
                .is_err()
        );
        assert!(q.clone().after(Some("garbage!".into())).validate().is_err());
        assert!(q.clone().after(Some("e30".into())).validate().is_err());
        assert!(Query::partition("x").limit(0).validate().is_err());
        assert!(Query::partition("x").limit(1001).validate().is_err());
    }
}
