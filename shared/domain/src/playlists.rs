//! Playlists: a tenant's outputs (of any type) in an order people choose, each item with
//! metadata of its own (a JSON object of up to 4 KiB: a note, a label, a start time).
//!
//! One partition per playlist, `{t}#PLAYLIST#{id}`: the header at `A#META` and each item at
//! `ITEM#{item}`, so one Query reads a playlist with all its items. The order lives in the
//! header, as the list of its item ids (`order`), not in sort keys: a reorder is one write of
//! one item however many items move (a playlist holds up to 500 items; a transaction, 100
//! writes), and adding or removing an item is one transaction of the item and the header.
//! Every header write is conditional on the `version` it read, so two changes at once never
//! lose an item or apply half an order: the one that lost reads again and retries.
//!
//! An item names an output of the caller's tenant that the caller may read, and keeps the
//! output's type and transcript as they were when it was added. gsi1 (`{t}#PLAYLISTS` /
//! `{id}`) lists a tenant's playlists, newest first; only headers carry it.
//!
//! Playlists are a tier feature (`playlists`): every use case first checks the caller's tier
//! (their active subscription's; the free tier's without one) and refuses with a 403 that says
//! so. A playlist may belong to a team, as a transcript may: a team role then counts for it.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::access::{self, Access, Need, Scope};
use crate::billing::{self, SubscriptionStatus};
use crate::clock::{Clock, IdGen, Timestamp};
use crate::error::{Conflict, Error, Result};
use crate::generation::{self, OutputStatus};
use crate::ids::{OutputId, PlaylistId, TeamId, TenantId, TranscriptId, UserId, parse_canonical};
use crate::keys;
use crate::records::{
    Condition, Index, Item, Key, MAX_PAGE, MAX_TRANSACTION_WRITES, Query, Records, SK, Update,
    Write, from_item, query_all, to_item, to_value,
};
use crate::roles::Permission;

/// The tier feature flag that turns playlists on.
pub const FEATURE: &str = "playlists";
/// The tier of a caller without an active subscription.
pub const FREE_TIER: &str = "free";
pub const MAX_ITEMS: usize = 500;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// An item's metadata, as compact JSON.
pub const MAX_METADATA_BYTES: usize = 4 * 1024;
/// How deep metadata may nest (DynamoDB refuses documents deeper than 32 levels).
pub const MAX_METADATA_DEPTH: usize = 16;
/// Header writes are tried this many times in all. A write fails only when another change
/// to the same playlist landed since its read, so up to this many changes at once all land;
/// beyond, the caller gets a 409 `retry`.
const ATTEMPTS: usize = 10;

/// A playlist item's id (v7, minted when the item is added).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(Uuid);

impl ItemId {
    pub const FIELD: &'static str = "item_id";

    pub fn from_uuid(u: Uuid) -> Self {
        ItemId(u)
    }
    pub fn parse(s: &str) -> Result<Self> {
        parse_canonical(Self::FIELD, s).map(ItemId)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemId({})", self.0.hyphenated())
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ItemId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uuid".into())))
            .description(Some("A playlist item's id: a UUID in canonical form."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ItemId {}

impl Serialize for ItemId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0.hyphenated())
    }
}

impl<'de> Deserialize<'de> for ItemId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A playlist's header, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playlist {
    pub id: PlaylistId,
    pub tenant: TenantId,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    pub owner: UserId,
    /// The items' ids in play order: the one place the order lives.
    #[serde(default)]
    pub order: Vec<ItemId>,
    /// Set while the items of a playlist too large for one transaction are deleted: the
    /// playlist is gone for every reader from that write on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A playlist as lists show it: its items counted, not listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlaylistSummary {
    pub id: PlaylistId,
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    pub owner: UserId,
    pub item_count: usize,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A playlist with its items, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlaylistView {
    #[serde(flatten)]
    pub playlist: PlaylistSummary,
    pub items: Vec<PlaylistItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlaylistItem {
    pub id: ItemId,
    pub playlist: PlaylistId,
    pub output: OutputId,
    /// The output's type and transcript, as they were when the item was added.
    pub output_type: String,
    pub transcript: TranscriptId,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
    pub added_by: UserId,
    pub added_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What `POST /playlists` takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPlaylist {
    pub name: Option<String>,
    pub description: Option<String>,
    /// The team it belongs to; without one, the tenant's.
    pub team: Option<String>,
}

/// What `PATCH /playlists/{id}` takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlaylistPatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// What `POST /playlists/{id}/items` takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub output_id: Option<String>,
    /// A JSON object; `{}` when left out.
    pub metadata: Option<Value>,
    /// Where the item goes, 0 being first; the end when left out.
    pub position: Option<usize>,
}

/// What `PATCH /playlists/{id}/items/{item}` takes: the item's new metadata, whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    pub metadata: Option<Value>,
}

/// What `PUT /playlists/{id}/order` takes: every item id of the playlist, in the new order.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub item_ids: Option<Vec<String>>,
}

#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub records: &'a dyn Records,
    pub clock: &'a dyn Clock,
    pub ids: &'a dyn IdGen,
}

fn check_name(n: &str) -> Result<String> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS {
        return Err(Error::validation(
            "name",
            format!("must be 1-{MAX_NAME_CHARS} characters"),
        ));
    }
    crate::text::check_display("name", n, false)?;
    Ok(n.to_string())
}

fn check_description(d: String) -> Result<String> {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::validation(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    crate::text::check_display("description", &d, true)?;
    Ok(d)
}

/// Metadata is a JSON object of at most 4 KiB (compact), nested at most 16 deep, with numbers
/// DynamoDB can store (magnitudes from 1e-130 to below 1e126).
fn check_metadata(v: Value) -> Result<Map<String, Value>> {
    let Value::Object(m) = v else {
        return Err(Error::validation("metadata", "must be a JSON object"));
    };
    let size = serde_json::to_vec(&m)
        .map_err(|e| Error::unexpected("measuring metadata", e))?
        .len();
    if size > MAX_METADATA_BYTES {
        return Err(Error::validation(
            "metadata",
            format!("is {size} bytes of JSON, over the limit of {MAX_METADATA_BYTES}"),
        ));
    }
    fn walk(v: &Value, depth: usize) -> Result<()> {
        if depth > MAX_METADATA_DEPTH {
            return Err(Error::validation(
                "metadata",
                format!("nests deeper than {MAX_METADATA_DEPTH} levels"),
            ));
        }
        match v {
            Value::Object(m) => m.values().try_for_each(|x| walk(x, depth + 1)),
            Value::Array(a) => a.iter().try_for_each(|x| walk(x, depth + 1)),
            Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f != 0.0 && !(1e-130..1e126).contains(&f.abs()) => {
                    Err(Error::validation(
                        "metadata",
                        format!("holds the number {n}, outside 1e-130 to 1e126 in magnitude"),
                    ))
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
    m.values().try_for_each(|x| walk(x, 1))?;
    Ok(m)
}

/// Checks that `wanted` names each of `current` exactly once, and says what is off if not.
fn check_permutation(current: &[ItemId], wanted: &[ItemId]) -> Result<()> {
    let mut seen = HashSet::with_capacity(wanted.len());
    let repeated: Vec<&ItemId> = wanted.iter().filter(|x| !seen.insert(**x)).collect();
    let have: HashSet<&ItemId> = current.iter().collect();
    let unknown: Vec<&ItemId> = wanted.iter().filter(|x| !have.contains(x)).collect();
    let missing: Vec<&ItemId> = current.iter().filter(|x| !seen.contains(*x)).collect();
    let mut why = Vec::new();
    for (what, ids) in [
        ("missing", missing),
        ("not in the playlist", unknown),
        ("named twice", repeated),
    ] {
        if ids.is_empty() {
            continue;
        }
        let shown: Vec<String> = ids.iter().take(5).map(ToString::to_string).collect();
        let more = match ids.len() {
            n if n > 5 => format!(" and {} more", n - 5),
            _ => String::new(),
        };
        why.push(format!("{what}: {}{more}", shown.join(", ")));
    }
    if why.is_empty() {
        return Ok(());
    }
    Err(Error::validation(
        "item_ids",
        format!(
            "must name each of the playlist's {} items exactly once ({})",
            current.len(),
            why.join("; ")
        ),
    ))
}

/// Refuses a caller whose tier lacks playlists: the tier of their active subscription, or the
/// free tier's terms for a caller without one. The refusal names the tiers that have them.
pub async fn check_feature(records: &dyn Records, a: &Access) -> Result<()> {
    let subscribed = billing::subscription(records, &a.caller.tenant, &a.caller.user)
        .await?
        .filter(|s| s.status == SubscriptionStatus::Active)
        .map(|s| s.tier);
    let tier = match subscribed {
        Some(t) => Some(t),
        None => match billing::tier(records, FREE_TIER).await {
            Ok(t) => Some(t),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
    };
    let has = |t: &billing::Tier| t.features.get(FEATURE).copied().unwrap_or(false);
    if tier.as_ref().is_some_and(has) {
        return Ok(());
    }
    let name = tier.map_or_else(|| "Free".to_string(), |t| t.name);
    let with: Vec<String> = billing::tiers(records)
        .await?
        .into_iter()
        .filter(|t| t.active && has(t))
        .map(|t| t.name)
        .collect();
    let hint = match with.as_slice() {
        [] => String::new(),
        names => format!("; they come with the {} tier", names.join(" or ")),
    };
    Err(Error::Forbidden(
        format!("the {name} tier does not include playlists{hint}").into(),
    ))
}

fn header_item(pl: &Playlist) -> Result<Item> {
    let mut item = to_item(&keys::playlist(&pl.tenant, &pl.id), pl)?;
    let ix = keys::playlists_index(&pl.tenant, &pl.id);
    item.insert("entity".into(), "playlist".into());
    item.insert("gsi1pk".into(), ix.pk.into());
    item.insert("gsi1sk".into(), ix.sk.into());
    Ok(item)
}

fn item_record(t: &TenantId, it: &PlaylistItem) -> Result<Item> {
    let mut item = to_item(&keys::playlist_item(t, &it.playlist, &it.id), it)?;
    item.insert("entity".into(), "playlist_item".into());
    Ok(item)
}

fn summary(h: &Playlist) -> PlaylistSummary {
    PlaylistSummary {
        id: h.id,
        name: h.name.clone(),
        description: h.description.clone(),
        team: h.team,
        owner: h.owner,
        item_count: h.order.len(),
        version: h.version,
        created_at: h.created_at,
        updated_at: h.updated_at,
    }
}

fn view(h: &Playlist, items: Vec<PlaylistItem>) -> PlaylistView {
    PlaylistView {
        playlist: summary(h),
        items,
    }
}

/// The header as stored, even one being deleted.
async fn header(records: &dyn Records, t: &TenantId, id: &PlaylistId) -> Result<Option<Playlist>> {
    records
        .get(&keys::playlist(t, id))
        .await?
        .map(from_item)
        .transpose()
}

/// The playlist's header, if the caller may act on it with `perm`.
async fn header_for(
    records: &dyn Records,
    a: &Access,
    id: &PlaylistId,
    perm: Permission,
) -> Result<Playlist> {
    let h = header(records, &a.caller.tenant, id)
        .await?
        .filter(|h| !h.deleting)
        .ok_or_else(|| Error::not_found("playlist"))?;
    access::authorize(a, Need::Permission(perm, Scope::Team), h.team.as_ref())?;
    Ok(h)
}

/// One Query of the playlist's partition: the header, and its items in the header's order.
async fn read(
    records: &dyn Records,
    t: &TenantId,
    id: &PlaylistId,
) -> Result<(Playlist, Vec<PlaylistItem>)> {
    let found = query_all(
        records,
        Query::partition(keys::playlist_pk(t, id)).limit(MAX_PAGE),
    )
    .await?;
    let mut header = None;
    let mut items = HashMap::with_capacity(found.len());
    for item in found {
        match item.get(SK).and_then(Value::as_str) {
            Some(keys::PLAYLIST_HEADER) => header = Some(from_item::<Playlist>(item)?),
            Some(sk) if sk.starts_with(keys::PLAYLIST_ITEM_PREFIX) => {
                let it: PlaylistItem = from_item(item)?;
                items.insert(it.id, it);
            }
            _ => {}
        }
    }
    let h = header
        .filter(|h| !h.deleting)
        .ok_or_else(|| Error::not_found("playlist"))?;
    let ordered: Vec<PlaylistItem> = h.order.iter().filter_map(|i| items.remove(i)).collect();
    if ordered.len() != h.order.len() || !items.is_empty() {
        // Writes keep the two together; this would be a bug, so it is said, not hidden.
        tracing::error!(
            playlist = %h.id,
            ordered = h.order.len(),
            found = ordered.len(),
            strays = items.len(),
            "a playlist's order and its items disagree"
        );
    }
    Ok((h, ordered))
}

/// Changes a playlist under its header's version. `plan` sees the header as read and answers
/// the header's update and the writes that go with it; all are one transaction, the header's
/// update first (write 0), the others after it in their order. When another change got there
/// first, the header is read again and `plan` runs again.
async fn change<T>(
    p: Ports<'_>,
    a: &Access,
    id: &PlaylistId,
    mut plan: impl FnMut(&Playlist) -> Result<(Update, Vec<Write>, T)>,
) -> Result<T> {
    for _ in 0..ATTEMPTS {
        let h = header_for(p.records, a, id, Permission::PlaylistsWrite).await?;
        let (update, rest, out) = plan(&h)?;
        let update = update
            .set("updated_at", to_value(&p.clock.now())?)
            .add("version", 1);
        let mut writes = vec![
            Write::update(keys::playlist(&h.tenant, &h.id), update)
                .when(Condition::equals("version", h.version)),
        ];
        writes.extend(rest);
        match p.records.transact(writes).await {
            Ok(()) => return Ok(out),
            Err(e)
                if e.failed_write() == Some(0)
                    || matches!(e, Error::Conflict(Conflict::TransactionConflict)) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Conflict::TransactionConflict.into())
}

/// `POST /playlists`: an empty playlist, the caller's tenant's or a team's.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn create(p: Ports<'_>, a: &Access, input: NewPlaylist) -> Result<PlaylistView> {
    check_feature(p.records, a).await?;
    let t = a.caller.tenant;
    let name = check_name(
        input
            .name
            .as_deref()
            .ok_or_else(|| Error::validation("name", "is required"))?,
    )?;
    let description = input
        .description
        .map(check_description)
        .transpose()?
        .unwrap_or_default();
    let team = input
        .team
        .as_deref()
        .map(|s| TeamId::parse(s).map_err(|_| Error::validation("team", "is not a team id")))
        .transpose()?;
    access::authorize(
        a,
        Need::Permission(Permission::PlaylistsWrite, Scope::Team),
        team.as_ref(),
    )?;
    let now = p.clock.now();
    let pl = Playlist {
        id: PlaylistId::from_uuid(p.ids.new_id()),
        tenant: t,
        name,
        description,
        team,
        owner: a.caller.user,
        order: Vec::new(),
        deleting: false,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    let mut writes = vec![Write::put(header_item(&pl)?).when(Condition::NotExists)];
    if let Some(team) = &team {
        // The team must exist when the playlist is written.
        writes.push(Write::check(keys::team(&t, team), vec![Condition::Exists]));
    }
    match p.records.transact(writes).await {
        Ok(()) => Ok(view(&pl, Vec::new())),
        Err(e) if e.failed_write() == Some(1) => Err(Error::validation("team", "no such team")),
        Err(e) => Err(e),
    }
}

/// `GET /playlists`: the playlists the caller may read, newest first.
pub async fn list(
    records: &dyn Records,
    a: &Access,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<PlaylistSummary>, Option<String>)> {
    check_feature(records, a).await?;
    let base = Query::partition(keys::playlists_pk(&a.caller.tenant))
        .on(Index::Gsi1)
        .descending()
        .limit(limit);
    let keep = |h: &Playlist| {
        !h.deleting
            && a.permissions_in(h.team.as_ref())
                .contains(Permission::PlaylistsRead)
    };
    let (headers, next) =
        crate::records::query_filtered_page(records, base, cursor, limit, keep).await?;
    Ok((headers.iter().map(summary).collect(), next))
}

/// `GET /playlists/{id}`: the playlist and its items in order, from one Query.
pub async fn get(records: &dyn Records, a: &Access, id: &PlaylistId) -> Result<PlaylistView> {
    check_feature(records, a).await?;
    let (h, items) = read(records, &a.caller.tenant, id).await?;
    access::authorize(
        a,
        Need::Permission(Permission::PlaylistsRead, Scope::Team),
        h.team.as_ref(),
    )?;
    Ok(view(&h, items))
}

/// `PATCH /playlists/{id}`: name and description.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn update(
    p: Ports<'_>,
    a: &Access,
    id: &PlaylistId,
    patch: PlaylistPatch,
) -> Result<PlaylistView> {
    check_feature(p.records, a).await?;
    let mut update = Update::new();
    if let Some(n) = patch.name {
        update = update.set("name", check_name(&n)?);
    }
    if let Some(d) = patch.description {
        update = update.set("description", check_description(d)?);
    }
    if update.set.is_empty() {
        header_for(p.records, a, id, Permission::PlaylistsWrite).await?;
    } else {
        change(p, a, id, |_| Ok((update.clone(), Vec::new(), ()))).await?;
    }
    let (h, items) = read(p.records, &a.caller.tenant, id).await?;
    Ok(view(&h, items))
}

/// `DELETE /playlists/{id}`: the header and every item. Up to 99 items, one transaction;
/// beyond, one write hides the playlist first, then the items go in transactions of 100 and
/// the header last, so a DELETE cut short is finished by the next one.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn delete(p: Ports<'_>, a: &Access, id: &PlaylistId) -> Result<()> {
    check_feature(p.records, a).await?;
    let t = a.caller.tenant;
    let key = keys::playlist(&t, id);
    for _ in 0..ATTEMPTS {
        let h = header(p.records, &t, id)
            .await?
            .ok_or_else(|| Error::not_found("playlist"))?;
        access::authorize(
            a,
            Need::Permission(Permission::PlaylistsWrite, Scope::Team),
            h.team.as_ref(),
        )?;
        let items: Vec<Key> = query_all(
            p.records,
            Query::partition(keys::playlist_pk(&t, id))
                .begins_with(keys::PLAYLIST_ITEM_PREFIX)
                .limit(MAX_PAGE),
        )
        .await?
        .iter()
        .map(Key::of)
        .collect::<Result<_>>()?;
        if !h.deleting && items.len() < MAX_TRANSACTION_WRITES {
            let mut writes =
                vec![Write::delete(key.clone()).when(Condition::equals("version", h.version))];
            writes.extend(items.into_iter().map(Write::delete));
            match p.records.transact(writes).await {
                Ok(()) => return Ok(()),
                Err(e)
                    if e.failed_write() == Some(0)
                        || matches!(e, Error::Conflict(Conflict::TransactionConflict)) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        if !h.deleting {
            let hide = Update::new()
                .set("deleting", true)
                .remove("gsi1pk")
                .remove("gsi1sk")
                .add("version", 1);
            match p
                .records
                .update(&key, hide, vec![Condition::equals("version", h.version)])
                .await
            {
                Ok(_) => {}
                Err(e) if e.failed_write() == Some(0) => continue,
                Err(e) => return Err(e),
            }
        }
        for chunk in items.chunks(MAX_TRANSACTION_WRITES) {
            p.records
                .transact(chunk.iter().cloned().map(Write::delete).collect())
                .await?;
        }
        p.records.delete(&key, vec![]).await?;
        return Ok(());
    }
    Err(Conflict::TransactionConflict.into())
}

/// `POST /playlists/{id}/items`: an output of the caller's tenant, at the end or at
/// `position`. The item, the header's order and a check that the output still exists are one
/// transaction.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn add_item(
    p: Ports<'_>,
    a: &Access,
    id: &PlaylistId,
    input: NewItem,
) -> Result<PlaylistItem> {
    check_feature(p.records, a).await?;
    let t = a.caller.tenant;
    let output = input
        .output_id
        .as_deref()
        .ok_or_else(|| Error::validation("output_id", "is required"))?;
    let output = OutputId::parse(output)?;
    let metadata = input
        .metadata
        .map(check_metadata)
        .transpose()?
        .unwrap_or_default();
    // The playlist first: one the caller cannot reach says nothing of the output.
    header_for(p.records, a, id, Permission::PlaylistsWrite).await?;
    let o = generation::get(p.records, &t, &output).await?;
    access::authorize(
        a,
        Need::Permission(Permission::OutputsRead, Scope::Team),
        o.team.as_ref(),
    )?;
    if o.status == OutputStatus::Failed {
        return Err(Conflict::State(format!(
            "output {} failed to generate; request it again and add the new one",
            o.id
        ))
        .into());
    }
    let now = p.clock.now();
    let item = PlaylistItem {
        id: ItemId::from_uuid(p.ids.new_id()),
        playlist: *id,
        output: o.id,
        output_type: o.output_type.clone(),
        transcript: o.transcript,
        metadata,
        added_by: a.caller.user,
        added_at: now,
        updated_at: now,
    };
    let record = item_record(&t, &item)?;
    let added = change(p, a, id, |h| {
        if h.order.len() >= MAX_ITEMS {
            return Err(Conflict::State(format!(
                "the playlist holds {MAX_ITEMS} items, the most a playlist may; remove one first"
            ))
            .into());
        }
        let at = match input.position {
            None => h.order.len(),
            Some(n) if n <= h.order.len() => n,
            Some(_) => {
                return Err(Error::validation(
                    "position",
                    format!("must be between 0 and {}", h.order.len()),
                ));
            }
        };
        let mut order = h.order.clone();
        order.insert(at, item.id);
        Ok((
            Update::new().set("order", to_value(&order)?),
            vec![
                Write::put(record.clone()).when(Condition::NotExists),
                Write::check(keys::output(&t, &o.id), vec![Condition::Exists]),
            ],
            (),
        ))
    })
    .await;
    match added {
        Ok(()) => Ok(item),
        Err(e) if e.failed_write() == Some(2) => Err(Error::not_found("output")),
        Err(e) => Err(e),
    }
}

/// `PATCH /playlists/{id}/items/{item}`: replaces the item's metadata.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn update_item(
    p: Ports<'_>,
    a: &Access,
    id: &PlaylistId,
    item: &ItemId,
    patch: ItemPatch,
) -> Result<PlaylistItem> {
    check_feature(p.records, a).await?;
    let metadata = check_metadata(patch.metadata.ok_or_else(|| {
        Error::validation("metadata", "is required: a JSON object ({} clears it)")
    })?)?;
    let h = header_for(p.records, a, id, Permission::PlaylistsWrite).await?;
    if !h.order.contains(item) {
        return Err(Error::not_found("playlist item"));
    }
    let update = Update::new()
        .set("metadata", Value::Object(metadata))
        .set("updated_at", to_value(&p.clock.now())?);
    match p
        .records
        .update(
            &keys::playlist_item(&a.caller.tenant, id, item),
            update,
            vec![Condition::Exists],
        )
        .await
    {
        Ok(written) => from_item(written),
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("playlist item")),
        Err(e) => Err(e),
    }
}

/// `DELETE /playlists/{id}/items/{item}`: the item and its place in the order, together.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn remove_item(p: Ports<'_>, a: &Access, id: &PlaylistId, item: &ItemId) -> Result<()> {
    check_feature(p.records, a).await?;
    let key = keys::playlist_item(&a.caller.tenant, id, item);
    let removed = change(p, a, id, |h| {
        let order: Vec<ItemId> = h.order.iter().copied().filter(|i| i != item).collect();
        if order.len() == h.order.len() {
            return Err(Error::not_found("playlist item"));
        }
        Ok((
            Update::new().set("order", to_value(&order)?),
            vec![Write::delete(key.clone()).when(Condition::Exists)],
            (),
        ))
    })
    .await;
    match removed {
        Err(e) if e.failed_write() == Some(1) => Err(Error::not_found("playlist item")),
        r => r,
    }
}

/// `PUT /playlists/{id}/order`: a new order, which must name every item exactly once; one
/// conditional write of the header. Answers the playlist in its new order.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn reorder(
    p: Ports<'_>,
    a: &Access,
    id: &PlaylistId,
    input: NewOrder,
) -> Result<PlaylistView> {
    check_feature(p.records, a).await?;
    let wanted = input.item_ids.ok_or_else(|| {
        Error::validation(
            "item_ids",
            "is required: every item id of the playlist, in the new order",
        )
    })?;
    if wanted.len() > MAX_ITEMS {
        return Err(Error::validation(
            "item_ids",
            format!(
                "names {} items; a playlist holds at most {MAX_ITEMS}",
                wanted.len()
            ),
        ));
    }
    let wanted = wanted
        .iter()
        .map(|s| {
            ItemId::parse(s)
                .map_err(|_| Error::validation("item_ids", format!("{s:?} is not an item id")))
        })
        .collect::<Result<Vec<_>>>()?;
    change(p, a, id, |h| {
        check_permutation(&h.order, &wanted)?;
        Ok((
            Update::new().set("order", to_value(&wanted)?),
            Vec::new(),
            (),
        ))
    })
    .await?;
    let (h, items) = read(p.records, &a.caller.tenant, id).await?;
    Ok(view(&h, items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(n: u128) -> ItemId {
        ItemId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn an_order_must_name_every_item_exactly_once() {
        let current = [id(1), id(2), id(3)];
        assert!(check_permutation(&current, &[id(3), id(1), id(2)]).is_ok());
        assert!(check_permutation(&[], &[]).is_ok());
        for (wanted, says) in [
            (
                vec![id(1), id(2)],
                "missing: 00000000-0000-0000-0000-000000000003",
            ),
            (
                vec![id(1), id(2), id(3), id(4)],
                "not in the playlist: 00000000-0000-0000-0000-000000000004",
            ),
            (
                vec![id(1), id(1), id(2)],
                "named twice: 00000000-0000-0000-0000-000000000001",
            ),
        ] {
            match check_permutation(&current, &wanted) {
                Err(Error::Validation { field, message }) => {
                    assert_eq!(field, "item_ids");
                    assert!(message.contains(says), "{message}");
                    assert!(message.contains("3 items"), "{message}");
                }
                other => panic!("{wanted:?}: {other:?}"),
            }
        }
        // Long lists are cut short in the message.
        let many: Vec<ItemId> = (10..30).map(id).collect();
        let Err(Error::Validation { message, .. }) = check_permutation(&current, &many) else {
            panic!("not a permutation");
        };
        assert!(message.contains("and 15 more"), "{message}");
    }

    #[test]
    fn metadata_is_a_small_shallow_json_object() {
        assert_eq!(
            check_metadata(json!({"note": "start here", "at_ms": 1200, "tags": ["a"]})).unwrap()["note"],
            "start here"
        );
        for bad in [json!([1]), json!("x"), json!(3), json!(null)] {
            assert!(
                matches!(check_metadata(bad.clone()), Err(Error::Validation { ref field, .. }) if field == "metadata"),
                "{bad}"
            );
        }
        // 4 KiB exactly passes; a byte more does not.
        let pad = MAX_METADATA_BYTES - r#"{"n":""}"#.len();
        assert!(check_metadata(json!({"n": "x".repeat(pad)})).is_ok());
        let Err(Error::Validation { message, .. }) =
            check_metadata(json!({"n": "x".repeat(pad + 1)}))
        else {
            panic!("over the limit");
        };
        assert!(message.contains("4097 bytes"), "{message}");
        let mut deep = json!(1);
        for _ in 0..MAX_METADATA_DEPTH {
            deep = json!([deep]);
        }
        assert!(check_metadata(json!({ "d": deep.clone() })).is_err());
        assert!(check_metadata(json!({ "d": deep[0].clone() })).is_ok());
        assert!(check_metadata(json!({"f": 1e200})).is_err());
        assert!(check_metadata(json!({"f": 1.5, "z": 0.0, "i": u64::MAX})).is_ok());
    }

    #[test]
    fn names_are_trimmed_and_1_to_200_characters() {
        assert_eq!(check_name("  Best of Q3 ").unwrap(), "Best of Q3");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"é".repeat(200)).is_ok());
        assert!(check_name(&"é".repeat(201)).is_err());
        assert!(check_description("d".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
    }

    #[test]
    fn headers_keep_the_order_and_hide_the_deleting_flag_until_set() {
        let t = TenantId::from_uuid(Uuid::from_u128(7));
        let pl = Playlist {
            id: PlaylistId::from_uuid(Uuid::from_u128(9)),
            tenant: t,
            name: "x".into(),
            description: String::new(),
            team: None,
            owner: UserId::from_uuid(Uuid::from_u128(8)),
            order: vec![id(2), id(1)],
            deleting: false,
            version: 0,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        };
        let item = header_item(&pl).unwrap();
        assert!(!item.contains_key("deleting"));
        assert_eq!(item["gsi1pk"], format!("{t}#PLAYLISTS"));
        assert_eq!(item["sk"], "A#META");
        let back: Playlist = from_item(item).unwrap();
        assert_eq!(back, pl);
        assert_eq!(summary(&back).item_count, 2);
    }
}
