//! Every key Recap writes, built in one place.
//!
//! Tenant data: the partition key starts with the tenant id (36 characters, so no tenant's
//! prefix is another's), then `#` and the entity. File keys start with the tenant id and `/`.
//! Global catalog items live under partitions that start with `CATALOG#`, which no tenant id
//! can start with. Tests below pin each key as an exact string.
//!
//! | access pattern                       | key                                         | round trips |
//! |--------------------------------------|---------------------------------------------|-------------|
//! | a user of a tenant                   | `{t}#USER#{u}` / `PROFILE`                  | 1 GetItem   |
//! | a transcript                         | `{t}#TRANSCRIPT#{id}` / `META`              | 1 GetItem   |
//! | a tenant's transcripts, newest first | gsi1 `{t}#TRANSCRIPTS` / `{id}` (v7, sorts by time), descending | 1 Query a page |
//! | a user and all their team roles      | `{t}#USER#{u}`: `PROFILE` + `TEAM#{team}`   | 1 Query     |
//! | a tenant's users                     | gsi1 `{t}#USERS` / `{u}`                    | 1 Query a page |
//! | the tenant's settings (default role, admin count) | `{t}#TENANT` / `SETTINGS`      | 1 GetItem   |
//! | a team                               | `{t}#TEAM#{team}` / `META`                  | 1 GetItem   |
//! | a tenant's teams, oldest first       | gsi1 `{t}#TEAMS` / `{team}` (v7)            | 1 Query a page |
//! | a team's members                     | gsi1 `{t}#TEAM#{team}#MEMBERS` / `{u}`      | 1 Query a page |
//! | a tenant's custom roles              | `{t}#ROLES` / `{name}`                      | 1 Query     |
//! | a tenant's transcripts by status     | gsi2 `{t}#TRANSCRIPTS#{status}` / `{id}`, descending | 1 Query a page |
//! | a catalog kind                       | `CATALOG#{KIND}` / `{name}`                 | 1 Query     |
//! | a user's credits                     | `{t}#USER#{u}` / `CREDITS`                  | 1 GetItem   |
//! | a generation job (its reservation)   | `{t}#JOB#{job}` / `META`                    | 1 GetItem   |
//! | a ledger entry, by its charge id     | `{t}#LEDGER` / `{charge}`                   | 1 GetItem   |
//! | a tenant's ledger in a period        | gsi1 `{t}#LEDGER#TIME` / `{time}#{charge}`, between | 1 Query a page |
//! | a user's ledger in a period          | gsi2 `{t}#USER#{u}#LEDGER` / `{time}#{charge}`, between | 1 Query a page |
//! | a tenant's billing records, newest first | `{t}#BILLING` / `{id}` (v7), descending | 1 Query a page |
//! | an idempotency key                   | `{t}#IDEMPOTENCY` / `{key}`                 | 1 GetItem   |
//! | an output                            | `{t}#OUTPUT#{id}` / `META`                  | 1 GetItem   |
//! | the revision count of an output line | `{t}#OUTPUT#{origin}` / `REVISIONS` (an atomic add) | 1 UpdateItem |
//! | a transcript's outputs, newest first | gsi1 `{t}#TRANSCRIPT#{tr}#OUTPUTS` / `{id}`, descending | 1 Query a page |
//! | a tenant's outputs, newest first     | gsi2 `{t}#OUTPUTS` / `{id}`, descending     | 1 Query a page |
//! | a playlist with its items, in order  | `{t}#PLAYLIST#{id}`: `A#META` (holds the order) + `ITEM#{item}` | 1 Query |
//! | a playlist's header, or one item     | `{t}#PLAYLIST#{id}` / `A#META`, `ITEM#{item}` | 1 GetItem |
//! | a tenant's playlists, newest first   | gsi1 `{t}#PLAYLISTS` / `{id}` (v7), descending (headers only) | 1 Query a page |
//! | a user's subscription                | `{t}#USER#{u}` / `SUBSCRIPTION`             | 1 GetItem   |
//! | a user's model preferences           | `{t}#USER#{u}#PREFERENCES` / `{output type}` | 1 Query (one: GetItem) |
//! | a tenant's output constraints        | `{t}#OUTPUT_CONSTRAINTS` / `{output type}`  | 1 Query (one: GetItem) |
//! | a tier                               | `CATALOG#TIERS` / `{id}`                    | 1 GetItem   |
//! | reconciliation: periods that ended   | gsi1 `SYSTEM#SUBSCRIPTIONS_DUE` / `{period end}#{t}#{u}`, up to now | 1 Query a page |
//! | reconciliation: leases that ran out  | gsi2 `SYSTEM#RESERVED_JOBS` / `{lease end}#{t}#{job}`, up to now | 1 Query a page |
//! | reconciliation: every balance        | gsi1 `SYSTEM#BALANCES` / `{t}#{u}`          | 1 Query a page |
//!
//! The `SYSTEM#` index partitions are the only keys that do not start with a tenant: they
//! exist for the scheduled reconciliation, which works across tenants, and no request reads
//! them. Each names the tenant right after its sort prefix.
//! | built-in transcript types            | `CATALOG#TRANSCRIPT_TYPES` / `{type}/{sub_type}` | 1 Query |
//! | a tenant's transcript types          | `{t}#TRANSCRIPT_TYPES` / `{type}/{sub_type}` | 1 Query    |
//!
//! Files: a transcript's upload is `{t}/uploads/{transcript}/{file name}` (the upload trigger
//! reads tenant and transcript from it); its normalized form `{t}/transcripts/{id}/normalized.json`;
//! its outputs live under `{t}/outputs/{transcript}/`.

use crate::files::FileKey;
use crate::ids::{TeamId, TenantId, TranscriptId, UserId};
use crate::records::Key;
use crate::roles::RoleName;

pub const CATALOG_PREFIX: &str = "CATALOG#";

/// A partition of one tenant: `{tenant}#{kind}`.
pub fn tenant_pk(t: &TenantId, kind: &str) -> String {
    format!("{t}#{kind}")
}

pub fn user(t: &TenantId, u: &UserId) -> Key {
    Key::new(user_pk(t, u), "PROFILE")
}

/// A user's model preferences, one item per output type.
pub fn preferences_pk(t: &TenantId, u: &UserId) -> String {
    format!("{t}#USER#{u}#PREFERENCES")
}

pub fn preference(t: &TenantId, u: &UserId, output_type: &str) -> Key {
    Key::new(preferences_pk(t, u), output_type)
}

/// The tenant's model constraints, one item per output type.
pub fn output_constraints_pk(t: &TenantId) -> String {
    tenant_pk(t, "OUTPUT_CONSTRAINTS")
}

pub fn output_constraints(t: &TenantId, output_type: &str) -> Key {
    Key::new(output_constraints_pk(t), output_type)
}

/// The partition of a user: their profile and their team memberships.
pub fn user_pk(t: &TenantId, u: &UserId) -> String {
    format!("{t}#USER#{u}")
}

pub const TEAM_MEMBERSHIP_PREFIX: &str = "TEAM#";

/// The gsi1 key that lists a tenant's users.
pub fn users_index(t: &TenantId, u: &UserId) -> Key {
    Key::new(tenant_pk(t, "USERS"), u.to_string())
}

pub fn tenant_settings(t: &TenantId) -> Key {
    Key::new(tenant_pk(t, "TENANT"), "SETTINGS")
}

pub fn team(t: &TenantId, team: &TeamId) -> Key {
    Key::new(format!("{t}#TEAM#{team}"), "META")
}

/// The gsi1 key that lists a tenant's teams (ids are v7: oldest first).
pub fn teams_index(t: &TenantId, team: &TeamId) -> Key {
    Key::new(tenant_pk(t, "TEAMS"), team.to_string())
}

/// A membership lives in the user's partition, so one Query reads a user's roles.
pub fn membership(t: &TenantId, u: &UserId, team: &TeamId) -> Key {
    Key::new(user_pk(t, u), format!("{TEAM_MEMBERSHIP_PREFIX}{team}"))
}

/// The gsi1 partition of a team's members.
pub fn members_pk(t: &TenantId, team: &TeamId) -> String {
    format!("{t}#TEAM#{team}#MEMBERS")
}

/// The gsi1 key that lists a team's members.
pub fn members_index(t: &TenantId, team: &TeamId, u: &UserId) -> Key {
    Key::new(members_pk(t, team), u.to_string())
}

pub fn roles_pk(t: &TenantId) -> String {
    tenant_pk(t, "ROLES")
}

pub fn role(t: &TenantId, name: &RoleName) -> Key {
    Key::new(roles_pk(t), name.as_str())
}

pub fn transcript(t: &TenantId, id: &TranscriptId) -> Key {
    Key::new(format!("{t}#TRANSCRIPT#{id}"), "META")
}

/// The gsi1 key that lists a tenant's transcripts by creation (ids are v7).
pub fn transcripts_index(t: &TenantId, id: &TranscriptId) -> Key {
    Key::new(tenant_pk(t, "TRANSCRIPTS"), id.to_string())
}

/// The gsi2 key that lists a tenant's transcripts of one status, newest first.
pub fn transcripts_by_status(t: &TenantId, status: &str, id: &TranscriptId) -> Key {
    Key::new(format!("{t}#TRANSCRIPTS#{status}"), id.to_string())
}

pub const TRANSCRIPT_TYPES: &str = "TRANSCRIPT_TYPES";

/// The sort key of a transcript type: `{type}/{sub_type}`.
pub fn transcript_type_sk(kind: &str, sub_type: &str) -> String {
    format!("{kind}/{sub_type}")
}

pub const UPLOADS: &str = "uploads";

/// Where a transcript's upload goes: `{t}/uploads/{id}/{file name}`.
pub fn transcript_upload(
    t: &TenantId,
    id: &TranscriptId,
    file_name: &str,
) -> crate::Result<FileKey> {
    tenant_file(t, &format!("{UPLOADS}/{id}/{file_name}"))
}

/// The tenant and transcript an upload key names, if it is one.
pub fn parse_transcript_upload(key: &FileKey) -> Option<(TenantId, TranscriptId)> {
    let mut parts = key.as_str().splitn(4, '/');
    let t = TenantId::parse(parts.next()?).ok()?;
    (parts.next()? == UPLOADS).then_some(())?;
    let id = TranscriptId::parse(parts.next()?).ok()?;
    parts.next().filter(|n| !n.is_empty())?;
    Some((t, id))
}

/// Every file of a transcript lives under one of these prefixes.
pub fn transcript_file_prefixes(t: &TenantId, id: &TranscriptId) -> [String; 3] {
    [
        format!("{t}/{UPLOADS}/{id}/"),
        format!("{t}/transcripts/{id}/"),
        format!("{t}/outputs/{id}/"),
    ]
}

pub fn normalized_transcript(t: &TenantId, id: &TranscriptId) -> crate::Result<FileKey> {
    tenant_file(t, &format!("transcripts/{id}/normalized.json"))
}

pub fn credits(t: &TenantId, u: &UserId) -> Key {
    Key::new(user_pk(t, u), "CREDITS")
}

pub fn job(t: &TenantId, job: &crate::ids::JobId) -> Key {
    Key::new(format!("{t}#JOB#{job}"), "META")
}

pub fn ledger_entry(t: &TenantId, charge: &str) -> Key {
    Key::new(tenant_pk(t, "LEDGER"), charge)
}

pub fn ledger_by_time_pk(t: &TenantId) -> String {
    tenant_pk(t, "LEDGER#TIME")
}

pub fn ledger_by_user_pk(t: &TenantId, u: &UserId) -> String {
    format!("{}#LEDGER", user_pk(t, u))
}

pub fn billing_record(t: &TenantId, id: &str) -> Key {
    Key::new(tenant_pk(t, "BILLING"), id)
}

pub fn idempotency(t: &TenantId, key: &str) -> Key {
    Key::new(tenant_pk(t, "IDEMPOTENCY"), key)
}

pub fn subscription(t: &TenantId, u: &UserId) -> Key {
    Key::new(user_pk(t, u), "SUBSCRIPTION")
}

pub const SUBSCRIPTIONS_DUE: &str = "SYSTEM#SUBSCRIPTIONS_DUE";
pub const RESERVED_JOBS: &str = "SYSTEM#RESERVED_JOBS";
pub const BALANCES: &str = "SYSTEM#BALANCES";

pub fn subscriptions_due(period_end: crate::clock::Timestamp, t: &TenantId, u: &UserId) -> Key {
    Key::new(SUBSCRIPTIONS_DUE, format!("{period_end}#{t}#{u}"))
}

pub fn reserved_job(
    lease_until: crate::clock::Timestamp,
    t: &TenantId,
    job: &crate::ids::JobId,
) -> Key {
    Key::new(RESERVED_JOBS, format!("{lease_until}#{t}#{job}"))
}

pub fn balance_index(t: &TenantId, u: &UserId) -> Key {
    Key::new(BALANCES, format!("{t}#{u}"))
}

pub fn output(t: &TenantId, id: &crate::ids::OutputId) -> Key {
    Key::new(format!("{t}#OUTPUT#{id}"), "META")
}

/// The count of an output's regenerations, beside its first revision (`origin`): each new
/// revision takes the next number from it, so that two made at once never share one.
pub fn output_revisions(t: &TenantId, origin: &crate::ids::OutputId) -> Key {
    Key::new(format!("{t}#OUTPUT#{origin}"), "REVISIONS")
}

/// The gsi1 key that lists a transcript's outputs (ids are v7: by creation).
pub fn outputs_of_transcript(t: &TenantId, tr: &TranscriptId, id: &crate::ids::OutputId) -> Key {
    Key::new(format!("{t}#TRANSCRIPT#{tr}#OUTPUTS"), id.to_string())
}

/// The gsi2 key that lists a tenant's outputs.
pub fn outputs_index(t: &TenantId, id: &crate::ids::OutputId) -> Key {
    Key::new(tenant_pk(t, "OUTPUTS"), id.to_string())
}

/// The partition of a playlist: its header and its items, so one Query reads them all.
pub fn playlist_pk(t: &TenantId, id: &crate::ids::PlaylistId) -> String {
    format!("{t}#PLAYLIST#{id}")
}

/// The sort key of a playlist's header; it sorts before every item's.
pub const PLAYLIST_HEADER: &str = "A#META";
pub const PLAYLIST_ITEM_PREFIX: &str = "ITEM#";

pub fn playlist(t: &TenantId, id: &crate::ids::PlaylistId) -> Key {
    Key::new(playlist_pk(t, id), PLAYLIST_HEADER)
}

pub fn playlist_item(
    t: &TenantId,
    id: &crate::ids::PlaylistId,
    item: &impl std::fmt::Display,
) -> Key {
    Key::new(playlist_pk(t, id), format!("{PLAYLIST_ITEM_PREFIX}{item}"))
}

/// The gsi1 partition of a tenant's playlists.
pub fn playlists_pk(t: &TenantId) -> String {
    tenant_pk(t, "PLAYLISTS")
}

/// The gsi1 key that lists a tenant's playlists (ids are v7: by creation).
pub fn playlists_index(t: &TenantId, id: &crate::ids::PlaylistId) -> Key {
    Key::new(playlists_pk(t), id.to_string())
}

/// A rendered file of an output: `{t}/outputs/{transcript}/{output}/{name}`.
pub fn output_file(
    t: &TenantId,
    tr: &TranscriptId,
    id: &crate::ids::OutputId,
    name: &str,
) -> crate::Result<FileKey> {
    tenant_file(t, &format!("outputs/{tr}/{id}/{name}"))
}

pub fn catalog_pk(kind: &str) -> String {
    format!("{CATALOG_PREFIX}{kind}")
}

/// The prefix of every file of a tenant.
pub fn tenant_file_prefix(t: &TenantId) -> String {
    format!("{t}/")
}

/// A tenant's file: `{tenant}/{rest}`.
pub fn tenant_file(t: &TenantId, rest: &str) -> crate::Result<FileKey> {
    FileKey::parse(format!("{t}/{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const U: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    const X: &str = "01936b2e-1e4a-7cc0-8d3b-2f0a5e1c9b11";

    #[test]
    fn keys_are_exact_strings_that_start_with_the_tenant() {
        let t = TenantId::parse(T).unwrap();
        let u = UserId::parse(U).unwrap();
        let x = TranscriptId::parse(X).unwrap();
        assert_eq!(user(&t, &u), Key::new(format!("{T}#USER#{U}"), "PROFILE"));
        assert_eq!(
            transcript(&t, &x),
            Key::new(format!("{T}#TRANSCRIPT#{X}"), "META")
        );
        assert_eq!(
            transcripts_index(&t, &x),
            Key::new(format!("{T}#TRANSCRIPTS"), X)
        );
        let team_id = TeamId::parse(X).unwrap();
        let reviewer = RoleName::parse("reviewer").unwrap();
        assert_eq!(user_pk(&t, &u), format!("{T}#USER#{U}"));
        assert_eq!(users_index(&t, &u), Key::new(format!("{T}#USERS"), U));
        assert_eq!(
            tenant_settings(&t),
            Key::new(format!("{T}#TENANT"), "SETTINGS")
        );
        assert_eq!(
            team(&t, &team_id),
            Key::new(format!("{T}#TEAM#{X}"), "META")
        );
        assert_eq!(teams_index(&t, &team_id), Key::new(format!("{T}#TEAMS"), X));
        assert_eq!(
            membership(&t, &u, &team_id),
            Key::new(format!("{T}#USER#{U}"), format!("TEAM#{X}"))
        );
        assert_eq!(
            members_index(&t, &team_id, &u),
            Key::new(format!("{T}#TEAM#{X}#MEMBERS"), U)
        );
        assert_eq!(
            role(&t, &reviewer),
            Key::new(format!("{T}#ROLES"), "reviewer")
        );
        assert_eq!(catalog_pk("MODELS"), "CATALOG#MODELS");
        assert_eq!(
            tenant_file(&t, "transcripts/a.vtt").unwrap().as_str(),
            format!("{T}/transcripts/a.vtt")
        );
        assert!(tenant_file(&t, "../other").is_err());
        let up = transcript_upload(&t, &x, "Réunion du 3 mars.vtt").unwrap();
        assert_eq!(
            up.as_str(),
            format!("{T}/uploads/{X}/Réunion du 3 mars.vtt")
        );
        assert_eq!(parse_transcript_upload(&up), Some((t, x)));
        assert_eq!(
            normalized_transcript(&t, &x).unwrap().as_str(),
            format!("{T}/transcripts/{X}/normalized.json")
        );
        assert_eq!(
            parse_transcript_upload(&normalized_transcript(&t, &x).unwrap()),
            None
        );
        assert_eq!(
            transcripts_by_status(&t, "ready", &x),
            Key::new(format!("{T}#TRANSCRIPTS#ready"), X)
        );
        let o = crate::ids::OutputId::parse(X).unwrap();
        assert_eq!(output(&t, &o), Key::new(format!("{T}#OUTPUT#{X}"), "META"));
        assert_eq!(
            output_revisions(&t, &o),
            Key::new(format!("{T}#OUTPUT#{X}"), "REVISIONS")
        );
        for k in [
            output(&t, &o),
            output_revisions(&t, &o),
            user(&t, &u),
            transcript(&t, &x),
            transcripts_index(&t, &x),
            users_index(&t, &u),
            tenant_settings(&t),
            team(&t, &team_id),
            teams_index(&t, &team_id),
            membership(&t, &u, &team_id),
            members_index(&t, &team_id, &u),
            role(&t, &reviewer),
        ] {
            assert!(k.pk.starts_with(&format!("{T}#")), "{k}");
        }
    }

    #[test]
    fn playlist_keys_are_exact_strings_that_start_with_the_tenant() {
        let t = TenantId::parse(T).unwrap();
        let p = crate::ids::PlaylistId::parse(X).unwrap();
        assert_eq!(playlist_pk(&t, &p), format!("{T}#PLAYLIST#{X}"));
        assert_eq!(
            playlist(&t, &p),
            Key::new(format!("{T}#PLAYLIST#{X}"), "A#META")
        );
        assert_eq!(
            playlist_item(&t, &p, &U),
            Key::new(format!("{T}#PLAYLIST#{X}"), format!("ITEM#{U}"))
        );
        assert_eq!(
            playlists_index(&t, &p),
            Key::new(format!("{T}#PLAYLISTS"), X)
        );
        // The header comes first in the partition's Query.
        assert!(PLAYLIST_HEADER < playlist_item(&t, &p, &U).sk.as_str());
        for k in [
            playlist(&t, &p),
            playlist_item(&t, &p, &U),
            playlists_index(&t, &p),
        ] {
            assert!(k.pk.starts_with(&format!("{T}#")), "{k}");
        }
    }

    #[test]
    fn no_tenant_prefix_is_another_tenants_prefix() {
        // Tenant ids have one length, so `{a}#` can never be a prefix of `{b}#…` for a ≠ b,
        // even when the ids share 35 characters; nor can a tenant key start with `CATALOG#`.
        let a = TenantId::parse("00000000-0000-4000-8000-000000000001").unwrap();
        let b = TenantId::parse("00000000-0000-4000-8000-000000000010").unwrap();
        let pa = tenant_pk(&a, "X");
        let pb = tenant_pk(&b, "X");
        assert!(!pb.starts_with(&format!("{a}#")));
        assert!(!pa.starts_with(&format!("{b}#")));
        assert!(!pa.starts_with(CATALOG_PREFIX));
        assert!(
            !tenant_file(&b, "f")
                .unwrap()
                .as_str()
                .starts_with(&tenant_file_prefix(&a))
        );
    }
}
