//! Permissions and roles.
//!
//! A role is a named set of permissions. Three are built in (`admin`, `editor`, `viewer`);
//! a tenant defines its own as well. A user holds one role across the tenant, and one per team
//! they belong to (which counts for that team's resources). `catalog:manage` is never granted
//! by a role: it belongs to platform admins, whose flag comes from the token.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Timestamp};
use crate::error::{Conflict, Error, Result};
use crate::ids::TenantId;
use crate::keys;
use crate::records::{Condition, Query, Records, Update, Write, from_item, query_all_as, to_item};
use serde_json::Value;

macro_rules! permissions {
    ($($variant:ident = $text:literal),+ $(,)?) => {
        /// One thing a caller may do. Written as `resource:action`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission { $($variant),+ }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $text),+ }
            }
        }

        impl FromStr for Permission {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok(Permission::$variant),)+
                    _ => Err(Error::validation(
                        "permissions",
                        format!("{s:?} is not a permission; known: {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }
    };
}

permissions! {
    TranscriptsRead = "transcripts:read",
    TranscriptsWrite = "transcripts:write",
    OutputsRead = "outputs:read",
    OutputsGenerate = "outputs:generate",
    PlaylistsRead = "playlists:read",
    PlaylistsWrite = "playlists:write",
    BillingRead = "billing:read",
    BillingManage = "billing:manage",
    TeamsRead = "teams:read",
    TeamsManage = "teams:manage",
    CatalogManage = "catalog:manage",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Permission {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Permission::ALL.iter().map(|p| p.as_str())))
            .description(Some("`resource:action`"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Permission {}

/// A set of permissions, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions(u32);

impl Permissions {
    pub fn of(list: &[Permission]) -> Self {
        Permissions(list.iter().fold(0, |acc, p| acc | (1 << *p as u32)))
    }
    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u32) != 0
    }
    pub fn union(self, other: Permissions) -> Self {
        Permissions(self.0 | other.0)
    }
    pub fn list(self) -> Vec<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| self.contains(*p))
            .collect()
    }
}

pub const ADMIN: &str = "admin";
pub const EDITOR: &str = "editor";
pub const VIEWER: &str = "viewer";
/// The role later users of a tenant get, until an admin picks another.
pub const DEFAULT_ROLE: &str = EDITOR;

/// A role's name: lowercase letters, digits, `_` and `-`, starting with a letter, at most 40.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(s: &str) -> Result<Self> {
        let ok = (1..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if ok {
            Ok(RoleName(s.to_string()))
        } else {
            Err(Error::validation(
                "role",
                format!(
                    "{s:?} is not a role name: 1-40 lowercase letters, digits, '_' or '-', starting with a letter"
                ),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_builtin(&self) -> bool {
        builtin(&self.0).is_some()
    }
}

impl TryFrom<String> for RoleName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        RoleName::parse(&s)
    }
}

impl From<RoleName> for String {
    fn from(r: RoleName) -> String {
        r.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RoleName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[a-z][a-z0-9_-]{0,39}$"))
            .description(Some(
                "A role: built in (admin, editor, viewer) or the tenant's own.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RoleName {}

/// The permissions of a built-in role; `None` for any other name.
pub fn builtin(name: &str) -> Option<Permissions> {
    use Permission::*;
    match name {
        ADMIN => Some(Permissions::of(&[
            TranscriptsRead,
            TranscriptsWrite,
            OutputsRead,
            OutputsGenerate,
            PlaylistsRead,
            PlaylistsWrite,
            BillingRead,
            BillingManage,
            TeamsRead,
            TeamsManage,
        ])),
        EDITOR => Some(Permissions::of(&[
            TranscriptsRead,
            TranscriptsWrite,
            OutputsRead,
            OutputsGenerate,
            PlaylistsRead,
            PlaylistsWrite,
            BillingRead,
            TeamsRead,
        ])),
        VIEWER => Some(Permissions::of(&[
            TranscriptsRead,
            OutputsRead,
            PlaylistsRead,
            TeamsRead,
        ])),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Role {
    pub name: RoleName,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<Permission>,
    pub builtin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
}

fn builtin_role(name: &str) -> Option<Role> {
    let perms = builtin(name)?;
    let description = match name {
        ADMIN => "Everything in the tenant: members, roles, teams, billing and content.",
        EDITOR => "Creates and changes transcripts, outputs and playlists; reads billing.",
        _ => "Reads transcripts, outputs, playlists and teams.",
    };
    Some(Role {
        name: RoleName(name.to_string()),
        description: description.into(),
        permissions: perms.list(),
        builtin: true,
        created_at: None,
    })
}

/// What a new or changed custom role says.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

fn parse_permissions(list: &[String]) -> Result<Vec<Permission>> {
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let p: Permission = p.parse()?;
        if p == Permission::CatalogManage {
            return Err(Error::validation(
                "permissions",
                "catalog:manage belongs to platform admins and cannot be granted by a role",
            ));
        }
        out.push(p);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn check_description(d: &str) -> Result<()> {
    if d.chars().count() > 500 {
        return Err(Error::validation(
            "description",
            "must be at most 500 characters",
        ));
    }
    crate::text::check_display("description", d, true)
}

/// A role by name: built in, or one of the tenant's.
pub async fn get(records: &dyn Records, t: &TenantId, name: &str) -> Result<Role> {
    if let Some(r) = builtin_role(name) {
        return Ok(r);
    }
    let name = RoleName::parse(name).map_err(|_| Error::not_found("role"))?;
    match records.get(&keys::role(t, &name)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("role")),
    }
}

/// The permissions a role name grants in a tenant. A role that no longer exists grants nothing.
pub async fn permissions_of(
    records: &dyn Records,
    t: &TenantId,
    name: &str,
) -> Result<Permissions> {
    if let Some(p) = builtin(name) {
        return Ok(p);
    }
    match get(records, t, name).await {
        Ok(r) => Ok(Permissions::of(&r.permissions)),
        Err(Error::NotFound { .. }) => Ok(Permissions::default()),
        Err(e) => Err(e),
    }
}

/// The built-in roles, then the tenant's own, by name (one Query).
pub async fn list(records: &dyn Records, t: &TenantId) -> Result<Vec<Role>> {
    let mut out: Vec<Role> = [ADMIN, EDITOR, VIEWER]
        .iter()
        .filter_map(|n| builtin_role(n))
        .collect();
    out.extend(query_all_as::<Role>(records, Query::partition(keys::roles_pk(t))).await?);
    Ok(out)
}

#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn create(
    records: &dyn Records,
    clock: &dyn Clock,
    t: &TenantId,
    input: RoleInput,
) -> Result<Role> {
    let name = RoleName::parse(
        input
            .name
            .as_deref()
            .ok_or_else(|| Error::validation("name", "is required"))?,
    )
    .map_err(|e| match e {
        Error::Validation { message, .. } => Error::validation("name", message),
        e => e,
    })?;
    if name.is_builtin() {
        return Err(Conflict::State(format!("{name} is a built-in role")).into());
    }
    let description = input.description.unwrap_or_default();
    check_description(&description)?;
    let permissions = parse_permissions(
        input
            .permissions
            .as_deref()
            .ok_or_else(|| Error::validation("permissions", "is required"))?,
    )?;
    let role = Role {
        name: name.clone(),
        description,
        permissions,
        builtin: false,
        created_at: Some(clock.now()),
    };
    let mut item = to_item(&keys::role(t, &name), &role)?;
    item.insert("type".into(), "role".into());
    match records.put(item, vec![Condition::NotExists]).await {
        Err(e) if e.failed_write() == Some(0) => {
            Err(Conflict::State(format!("a role named {name} exists already")).into())
        }
        r => r.map(|()| role),
    }
}

#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn update(
    records: &dyn Records,
    t: &TenantId,
    name: &str,
    input: RoleInput,
) -> Result<Role> {
    if builtin(name).is_some() {
        return Err(Error::Forbidden("built-in roles cannot be changed".into()));
    }
    let name = RoleName::parse(name).map_err(|_| Error::not_found("role"))?;
    if input.name.as_deref().is_some_and(|n| n != name.as_str()) {
        return Err(Error::validation("name", "a role cannot be renamed"));
    }
    let mut update = Update::new();
    if let Some(d) = input.description {
        check_description(&d)?;
        update = update.set("description", d);
    }
    if let Some(p) = input.permissions {
        let p = parse_permissions(&p)?;
        update = update.set(
            "permissions",
            serde_json::to_value(p).map_err(|e| Error::unexpected("role permissions", e))?,
        );
    }
    if update.set.is_empty() {
        return get(records, t, name.as_str()).await;
    }
    match records
        .update(&keys::role(t, &name), update, vec![Condition::Exists])
        .await
    {
        Ok(item) => from_item(item),
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("role")),
        Err(e) => Err(e),
    }
}

/// The role item's count of assignments made (to a user, a team member, the tenant's
/// default). Every assignment of a custom role bumps it in its own transaction, and a delete
/// is conditioned on it: an assignment made while a delete looks for holders fails the delete
/// instead of surviving it.
const ASSIGNMENTS: &str = "assignments";

/// The write that goes with every assignment of custom role `name`: the role must still exist,
/// and its assignment count moves (see [`delete`]).
pub(crate) fn assigned(t: &TenantId, name: &RoleName) -> Write {
    Write::update(keys::role(t, name), Update::new().add(ASSIGNMENTS, 1)).when(Condition::Exists)
}

/// Deletes a custom role that nobody holds. A role still held (by a user across the tenant,
/// by a team member, or as the tenant's default) is a conflict that says who holds it: were it
/// deleted, its holders would keep the name, and a role created later under the same name
/// would grant them its permissions unasked.
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn delete(records: &dyn Records, t: &TenantId, name: &str) -> Result<()> {
    if builtin(name).is_some() {
        return Err(Error::Forbidden("built-in roles cannot be deleted".into()));
    }
    let name = RoleName::parse(name).map_err(|_| Error::not_found("role"))?;
    let settings = crate::tenants::get(records, t).await?;
    if settings.default_role == name {
        return Err(Conflict::State(format!(
            "{name} is the tenant's default role; choose another default first"
        ))
        .into());
    }
    // The count as it stands before looking for holders (written as 0 on a role that has none).
    let role = match records
        .update(
            &keys::role(t, &name),
            Update::new().add(ASSIGNMENTS, 0),
            vec![Condition::Exists],
        )
        .await
    {
        Ok(item) => item,
        Err(e) if e.failed_write() == Some(0) => return Err(Error::not_found("role")),
        Err(e) => return Err(e),
    };
    let count = role.get(ASSIGNMENTS).cloned().unwrap_or(Value::from(0));
    let (users, members) = holders(records, t, &name).await?;
    if users + members > 0 {
        return Err(Conflict::State(format!(
            "{name} is held by {users} user(s) across the tenant and {members} team member(s); give them another role first"
        ))
        .into());
    }
    match records
        .delete(
            &keys::role(t, &name),
            vec![
                Condition::Exists,
                Condition::Equals(ASSIGNMENTS.into(), count),
            ],
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.failed_write() == Some(0) => Err(Conflict::State(format!(
            "{name} was given to someone meanwhile, or deleted; read it again"
        ))
        .into()),
        Err(e) => Err(e),
    }
}

/// How many users hold `name` as their tenant role, and how many team members as their role
/// in a team: every user and every team's members, page by page.
async fn holders(records: &dyn Records, t: &TenantId, name: &RoleName) -> Result<(usize, usize)> {
    let page = crate::records::MAX_PAGE;
    let (mut users, mut members) = (0, 0);
    let mut cursor = None;
    loop {
        let (list, next) = crate::users::list(records, t, page, cursor).await?;
        users += list.iter().filter(|u| u.role == *name).count();
        let Some(next) = next else { break };
        cursor = Some(next);
    }
    let mut cursor = None;
    loop {
        let (teams, next) = crate::teams::list(records, t, page, cursor).await?;
        for team in &teams {
            let mut after = None;
            loop {
                let (list, more) = crate::teams::members(records, t, &team.id, page, after).await?;
                members += list.iter().filter(|m| m.role == *name).count();
                let Some(more) = more else { break };
                after = Some(more);
            }
        }
        let Some(next) = next else { break };
        cursor = Some(next);
    }
    Ok((users, members))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_and_unknown_ones_are_refused() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), *p);
        }
        assert!(matches!(
            "transcripts:delete".parse::<Permission>(),
            Err(Error::Validation { .. })
        ));
        assert!(parse_permissions(&["catalog:manage".into()]).is_err());
    }

    #[test]
    fn builtin_roles_nest_and_never_grant_the_catalog() {
        let (a, e, v) = (
            builtin(ADMIN).unwrap(),
            builtin(EDITOR).unwrap(),
            builtin(VIEWER).unwrap(),
        );
        for p in Permission::ALL {
            assert!(!v.contains(*p) || e.contains(*p), "{p}");
            assert!(!e.contains(*p) || a.contains(*p), "{p}");
            assert!(*p != Permission::CatalogManage || !a.contains(*p));
        }
        assert!(!e.contains(Permission::BillingManage) && !e.contains(Permission::TeamsManage));
        assert!(!v.contains(Permission::TranscriptsWrite));
    }

    #[test]
    fn role_names_are_slugs() {
        assert!(RoleName::parse("reviewer").is_ok());
        assert!(RoleName::parse("sales-lead_2").is_ok());
        for bad in ["", "Reviewer", "2nd", "a b", "x".repeat(41).as_str(), "é"] {
            assert!(RoleName::parse(bad).is_err(), "{bad}");
        }
    }
}
