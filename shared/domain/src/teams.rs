//! Teams within a tenant, and their members with a role each. A user may be in several teams.
//!
//! A membership lives in the member's own partition (`{t}#USER#{u}` / `TEAM#{team}`) so one
//! Query reads a user's profile and every team role; gsi1 lists a team's members.

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, IdGen, Timestamp};
use crate::error::{Conflict, Error, Result};
use crate::ids::{TeamId, TenantId, UserId};
use crate::keys;
use crate::records::{
    Condition, Index, Item, MAX_TRANSACTION_WRITES, Query, Records, Update, Write, from_item,
    query_all_as, query_page, to_item, to_value,
};
use crate::roles::{self, RoleName};
use crate::users;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    /// `provider/model` the team's outputs may use, within the tier's; empty: no narrowing.
    #[serde(default)]
    pub allowed_models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub team: TeamId,
    pub user: UserId,
    pub role: RoleName,
    pub added_at: Timestamp,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub allowed_models: Option<Vec<String>>,
}

fn check_models(models: &[String]) -> Result<()> {
    if models.len() > 100 {
        return Err(Error::validation("allowed_models", "at most 100 models"));
    }
    for m in models {
        if m.split_once('/')
            .is_none_or(|(p, m)| p.is_empty() || m.is_empty())
        {
            return Err(Error::validation(
                "allowed_models",
                format!("{m:?} is not provider/model"),
            ));
        }
    }
    Ok(())
}

fn check_name(n: &str) -> Result<String> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(Error::validation("name", "must be 1-100 characters"));
    }
    crate::text::check_display("name", n, false)?;
    Ok(n.to_string())
}

fn check_description(d: &str) -> Result<()> {
    if d.chars().count() > 1000 {
        return Err(Error::validation(
            "description",
            "must be at most 1000 characters",
        ));
    }
    crate::text::check_display("description", d, true)
}

fn team_item(t: &TenantId, team: &Team) -> Result<Item> {
    let mut item = to_item(&keys::team(t, &team.id), team)?;
    let ix = keys::teams_index(t, &team.id);
    item.insert("type".into(), "team".into());
    item.insert("gsi1pk".into(), ix.pk.into());
    item.insert("gsi1sk".into(), ix.sk.into());
    Ok(item)
}

#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn create(
    records: &dyn Records,
    clock: &dyn Clock,
    ids: &dyn IdGen,
    t: &TenantId,
    by: &UserId,
    input: TeamInput,
) -> Result<Team> {
    let name = check_name(
        input
            .name
            .as_deref()
            .ok_or_else(|| Error::validation("name", "is required"))?,
    )?;
    let description = input.description.unwrap_or_default();
    check_description(&description)?;
    let allowed_models = input.allowed_models.unwrap_or_default();
    check_models(&allowed_models)?;
    crate::catalog::check_known_models(records, "allowed_models", &allowed_models).await?;
    let team = Team {
        id: TeamId::from_uuid(ids.new_id()),
        name,
        description,
        created_by: *by,
        created_at: clock.now(),
        allowed_models,
    };
    records
        .put(team_item(t, &team)?, vec![Condition::NotExists])
        .await?;
    Ok(team)
}

pub async fn get(records: &dyn Records, t: &TenantId, team: &TeamId) -> Result<Team> {
    match records.get(&keys::team(t, team)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("team")),
    }
}

pub async fn list(
    records: &dyn Records,
    t: &TenantId,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<Team>, Option<String>)> {
    query_page(
        records,
        Query::partition(keys::tenant_pk(t, "TEAMS"))
            .on(Index::Gsi1)
            .limit(limit)
            .after(cursor),
    )
    .await
}

#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn update(
    records: &dyn Records,
    t: &TenantId,
    team: &TeamId,
    input: TeamInput,
) -> Result<Team> {
    let mut update = Update::new();
    if let Some(n) = input.name {
        update = update.set("name", check_name(&n)?);
    }
    if let Some(d) = input.description {
        check_description(&d)?;
        update = update.set("description", d);
    }
    if let Some(m) = input.allowed_models {
        check_models(&m)?;
        crate::catalog::check_known_models(records, "allowed_models", &m).await?;
        update = update.set("allowed_models", to_value(&m)?);
    }
    if update.set.is_empty() {
        return get(records, t, team).await;
    }
    match records
        .update(&keys::team(t, team), update, vec![Condition::Exists])
        .await
    {
        Ok(item) => from_item(item),
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("team")),
        Err(e) => Err(e),
    }
}

/// Deletes a team with its memberships, in one transaction. A team that still holds
/// transcripts or playlists is not deleted (409, with how many): they would keep its id, and
/// nothing could be requested from them again ("team not found").
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn delete(records: &dyn Records, t: &TenantId, team: &TeamId) -> Result<()> {
    get(records, t, team).await?;
    let (transcripts, playlists) = holdings(records, t, team).await?;
    if transcripts + playlists > 0 {
        return Err(Conflict::State(format!(
            "the team holds {transcripts} transcript(s) and {playlists} playlist(s); delete them first"
        ))
        .into());
    }
    let (members, more) =
        members(records, t, team, MAX_TRANSACTION_WRITES as u32 - 1, None).await?;
    if more.is_some() {
        return Err(Conflict::State(format!(
            "a team with more than {} members is deleted after removing members",
            MAX_TRANSACTION_WRITES - 1
        ))
        .into());
    }
    let mut writes: Vec<Write> = members
        .iter()
        .map(|m| Write::delete(keys::membership(t, &m.user, team)))
        .collect();
    writes.push(Write::delete(keys::team(t, team)).when(Condition::Exists));
    let last = writes.len() - 1;
    match records.transact(writes).await {
        Err(e) if e.failed_write() == Some(last) => Err(Error::not_found("team")),
        r => r,
    }
}

/// How many of the tenant's transcripts and playlists belong to `team` (every one read).
async fn holdings(records: &dyn Records, t: &TenantId, team: &TeamId) -> Result<(usize, usize)> {
    #[derive(Deserialize)]
    struct Owned {
        #[serde(default)]
        team: Option<TeamId>,
    }
    let count = |pk: String| async move {
        let owned: Vec<Owned> = query_all_as(records, Query::partition(pk).on(Index::Gsi1)).await?;
        Ok::<_, Error>(
            owned
                .iter()
                .filter(|o| o.team.as_ref() == Some(team))
                .count(),
        )
    };
    Ok((
        count(keys::tenant_pk(t, "TRANSCRIPTS")).await?,
        count(keys::playlists_pk(t)).await?,
    ))
}

pub async fn members(
    records: &dyn Records,
    t: &TenantId,
    team: &TeamId,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<Member>, Option<String>)> {
    query_page(
        records,
        Query::partition(keys::members_pk(t, team))
            .on(Index::Gsi1)
            .limit(limit)
            .after(cursor),
    )
    .await
}

/// Adds a user of the tenant to a team with a role, or changes their role there.
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn put_member(
    records: &dyn Records,
    clock: &dyn Clock,
    t: &TenantId,
    team: &TeamId,
    user: &UserId,
    role: &str,
) -> Result<Member> {
    let role = RoleName::parse(role)?;
    get(records, t, team).await?;
    users::get(records, t, user).await?;
    if !role.is_builtin() {
        roles::get(records, t, role.as_str())
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => {
                    Error::validation("role", format!("no role named {role}"))
                }
                e => e,
            })?;
    }
    let member = Member {
        team: *team,
        user: *user,
        role,
        added_at: clock.now(),
    };
    let mut item = to_item(&keys::membership(t, user, team), &member)?;
    let ix = keys::members_index(t, team, user);
    item.insert("type".into(), "membership".into());
    item.insert("gsi1pk".into(), ix.pk.into());
    item.insert("gsi1sk".into(), ix.sk.into());
    // The team, and a custom role, must still exist when the membership is written.
    let mut writes = vec![
        Write::check(keys::team(t, team), vec![Condition::Exists]),
        Write::put(item),
    ];
    if !member.role.is_builtin() {
        writes.push(roles::assigned(t, &member.role));
    }
    match records.transact(writes).await {
        Ok(()) => Ok(member),
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("team")),
        Err(e) if e.failed_write() == Some(2) => Err(Error::validation(
            "role",
            format!("no role named {}", member.role),
        )),
        Err(e) => Err(e),
    }
}

#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn remove_member(
    records: &dyn Records,
    t: &TenantId,
    team: &TeamId,
    user: &UserId,
) -> Result<()> {
    match records
        .delete(&keys::membership(t, user, team), vec![Condition::Exists])
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("member")),
        Err(e) => Err(e),
    }
}
