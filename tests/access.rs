//! Access: first user admin, teams and members, roles, and the two OWASP API risks (object-
//! and function-level authorization), generated from the route table.

mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use common::{Stack, Who};
use recap_domain::access::Need;
use recap_domain::roles::{self, Permission, Permissions};
use recap_http::routes::{Data, RouteSpec, table};
use serde_json::{Value, json};

const A: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const B: &str = "9b2d6c1e-3f4a-4b5c-8d7e-0a1b2c3d4e5f";
const A1: &str = "11111111-1111-4111-8111-111111111111";
const A2: &str = "22222222-2222-4222-8222-222222222222";
const B1: &str = "33333333-3333-4333-8333-333333333333";
const B2: &str = "44444444-4444-4444-8444-444444444444";

/// A tenant with an admin, a second user, a custom role and a team with the second user in it.
struct Tenant {
    admin: Who,
    member: Who,
    team: String,
    role: String,
    team_name: String,
    transcript: String,
    kind: String,
    output: String,
    playlist: String,
    item: String,
}

async fn tenant(s: &Stack, t: &str, admin: &str, member: &str, tag: &str) -> Tenant {
    let admin = s.who(t, admin);
    let member = s.who(t, member);
    let (st, me) = s.get(&admin, "/me").await;
    assert_eq!((st, me["role"].as_str()), (StatusCode::OK, Some("admin")));
    let (st, me) = s.get(&member, "/me").await;
    assert_eq!((st, me["role"].as_str()), (StatusCode::OK, Some("editor")));
    let role = format!("{tag}-private-role");
    let (st, r) = s
        .call(
            &admin,
            Method::POST,
            "/roles",
            Some(&json!({"name": role, "permissions": ["transcripts:read"]}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let team_name = format!("Team of {tag}");
    let (st, team) = s
        .call(
            &admin,
            Method::POST,
            "/teams",
            Some(&json!({"name": team_name}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{team}");
    let team = team["id"].as_str().unwrap().to_string();
    let (st, m) = s
        .call(
            &admin,
            Method::PUT,
            &format!("/teams/{team}/members/{}", member.user),
            Some(&json!({"role": role}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    let kind = format!("{tag}_private_kind");
    let (st, ty) = s
        .call(
            &admin,
            Method::POST,
            "/transcript-types",
            Some(
                &json!({"type": kind, "sub_type": "x", "instructions": "Tenant-only."}).to_string(),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{ty}");
    let (st, tr) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            Some(
                &json!({"title": format!("Secret plans of {tag}"), "type": kind, "sub_type": "x",
                        "content": format!("Ada: The {tag} launch is on Friday.\nGrace: Keep it quiet.")})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{tr}");
    assert_eq!(s.drain_uploads().await, 1);
    let transcript = tr["id"].as_str().unwrap().to_string();
    let (_, tr) = s.get(&admin, &format!("/transcripts/{transcript}")).await;
    assert_eq!(tr["status"], "ready", "{tr}");
    let (st, queued) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{transcript}/outputs"),
            Some(r#"{"output_types":["bytes"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{queued}");
    s.drain_jobs().await;
    let output = queued["items"][0]["id"].as_str().unwrap().to_string();
    // Pro, not free: the free tier has no playlists, and the matrix needs every route to
    // reach its access decision.
    for who in [&admin, &member] {
        let (st, sub) = s
            .call(
                &admin,
                Method::PUT,
                &format!("/subscriptions/{}", who.user),
                Some(r#"{"tier":"pro"}"#),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{sub}");
    }
    let (st, playlist) = s
        .call(
            &admin,
            Method::POST,
            "/playlists",
            Some(&json!({"name": format!("Secret playlist of {tag}")}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{playlist}");
    let playlist = playlist["id"].as_str().unwrap().to_string();
    let (st, item) = s
        .call(
            &admin,
            Method::POST,
            &format!("/playlists/{playlist}/items"),
            Some(&json!({"output_id": output, "metadata": {"note": format!("Secret note of {tag}")}}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{item}");
    let item = item["id"].as_str().unwrap().to_string();
    // A model preference and constraints, so that their routes have something to show.
    let (st, pref) = s
        .call(
            &admin,
            Method::PUT,
            "/preferences/outputs/one_pager",
            Some(r#"{"model":"offline/extractive"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{pref}");
    let (st, c) = s
        .call(
            &admin,
            Method::PUT,
            "/output-constraints/one_pager",
            Some(r#"{"min_context_window":1000}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    Tenant {
        admin,
        member,
        team,
        role,
        team_name,
        transcript,
        kind,
        output,
        playlist,
        item,
    }
}

/// The route's path with its parameters filled in. A parameter no test knows fails loudly,
/// so a new route cannot slip past the generated tests.
fn fill(spec: &RouteSpec, ids: &BTreeMap<&str, String>) -> String {
    let mut path = spec.path.to_string();
    while let Some(open) = path.find('{') {
        let close = path[open..].find('}').unwrap() + open;
        let name = path[open + 1..close].to_string();
        let value = ids.get(name.as_str()).unwrap_or_else(|| {
            panic!(
                "{} {}: the access tests know no id for {{{name}}}; add one",
                spec.method, spec.path
            )
        });
        path.replace_range(open..=close, value);
    }
    path
}

/// The route's example body with its `<id>` placeholders filled in.
fn body(spec: &RouteSpec, ids: &BTreeMap<&str, String>) -> Option<String> {
    let mut b = spec.example?.to_string();
    for (name, value) in ids {
        b = b.replace(&format!("<{name}>"), value);
    }
    assert!(
        !b.contains("\"<"),
        "{} {}: the access tests know no id for a placeholder in {b}",
        spec.method,
        spec.path
    );
    Some(b)
}

/// Path parameters that name global things (the same for every tenant), not objects of one.
const GLOBAL_NAMES: &[&str] = &["{output_type}"];

/// Whether a route names objects of a tenant (in its path or its body).
fn names_tenant_objects(spec: &RouteSpec) -> bool {
    let mut path = spec.path.to_string();
    for g in GLOBAL_NAMES {
        path = path.replace(g, "");
    }
    spec.data == Data::Tenant
        && (path.contains('{') || spec.example.is_some_and(|e| e.contains("\"<")))
}

/// A tenant route that names only global things: the caller acts on its own data (a
/// preference of its own may not exist: 404).
fn names_only_global_things(spec: &RouteSpec) -> bool {
    spec.data == Data::Tenant
        && !names_tenant_objects(spec)
        && GLOBAL_NAMES.iter().any(|g| spec.path.contains(g))
}

fn ids_of(t: &Tenant) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("team_id", t.team.clone()),
        ("user_id", t.member.user.to_string()),
        ("role", t.role.clone()),
        ("transcript_id", t.transcript.clone()),
        ("output_id", t.output.clone()),
        ("playlist_id", t.playlist.clone()),
        ("item_id", t.item.clone()),
        ("type", t.kind.clone()),
        ("sub_type", "x".to_string()),
        // The global catalog's, the same for every tenant.
        ("provider", "openai".to_string()),
        ("model", "gpt-4o-mini".to_string()),
        ("tier", "free".to_string()),
        // A built-in output type: a global name, not an object of the tenant.
        ("output_type", "one_pager".to_string()),
    ])
}

/// A body without what changes on every read (presigned URLs carry their expiry).
fn stable(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("segments_url");
                o.remove("download");
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Every GET route of the table, read by the tenant's admin with the tenant's own ids.
async fn snapshot(s: &Stack, t: &Tenant) -> Vec<(String, StatusCode, Value)> {
    let ids = ids_of(t);
    let mut out = Vec::new();
    for spec in table()
        .iter()
        .filter(|r| r.method == Method::GET && r.data == Data::Tenant)
    {
        let path = fill(spec, &ids);
        let (st, body) = s.get(&t.admin, &path).await;
        assert!(st.is_success(), "{path}: {st} {body}");
        out.push((path, st, stable(body)));
    }
    out
}

#[tokio::test]
async fn tenant_matrix_all_routes() {
    let s = Stack::seeded().await;
    let a = tenant(&s, A, A1, A2, "a").await;
    let b = tenant(&s, B, B1, B2, "b").await;
    let before = snapshot(&s, &a).await;
    let secrets = [
        A.to_string(),
        a.admin.user.to_string(),
        a.member.user.to_string(),
        a.team.clone(),
        a.role.clone(),
        a.team_name.clone(),
        a.transcript.clone(),
        a.kind.clone(),
        a.output.clone(),
        a.playlist.clone(),
        a.item.clone(),
        "Secret plans of a".to_string(),
        "Secret playlist of a".to_string(),
        "Secret note of a".to_string(),
        "a launch is on Friday".to_string(),
    ];
    let a_ids = ids_of(&a);
    // B's admin, also a platform admin: nothing but tenancy stands in the way.
    let b_root = s.who_admin(B, &b.admin.user.to_string(), true);
    let mut covered = 0;
    for spec in table() {
        let path = fill(&spec, &a_ids);
        let sent = body(&spec, &a_ids);
        let (st, body) = s
            .call(&b_root, spec.method.clone(), &path, sent.as_deref())
            .await;
        if names_tenant_objects(&spec) && spec.path.contains('{') {
            assert_eq!(
                st,
                StatusCode::NOT_FOUND,
                "{} {path}: tenant B reached tenant A's object: {body}",
                spec.method
            );
        } else if names_tenant_objects(&spec) {
            assert!(
                st == StatusCode::NOT_FOUND || st == StatusCode::BAD_REQUEST,
                "{} {path} {sent:?}: tenant B used tenant A's ids: {st} {body}",
                spec.method
            );
        } else if names_only_global_things(&spec) {
            // B's own preference or constraints: what matters is that nothing of A's shows
            // (the secrets below) or changes (the snapshot at the end).
            assert!(
                st.is_success() || st == StatusCode::NOT_FOUND,
                "{} {path}: {st} {body}",
                spec.method
            );
        } else {
            assert!(st.is_success(), "{} {path}: {st} {body}", spec.method);
        }
        let text = body.to_string();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{} {path} showed tenant B {secret}: {text}",
                spec.method
            );
        }
        covered += 1;
    }
    assert_eq!(covered, table().len());
    assert_eq!(
        snapshot(&s, &a).await,
        before,
        "tenant A's data changed under tenant B's requests"
    );
}

#[tokio::test]
async fn tenant_prefix_collision() {
    use recap_domain::records::{Query, Records, to_item};
    // Two tenants whose ids share 34 characters.
    let p1 = "00000000-0000-4000-8000-000000000001";
    let p10 = "00000000-0000-4000-8000-000000000010";
    let s = Stack::seeded().await;
    let t1 = tenant(&s, p1, A1, A2, "one").await;
    let t10 = tenant(&s, p10, B1, B2, "ten").await;
    for (mine, theirs) in [(&t1, &t10), (&t10, &t1)] {
        for list in ["/teams", "/users", "/roles"] {
            let (st, body) = s.get(&mine.admin, list).await;
            assert_eq!(st, StatusCode::OK);
            let text = body.to_string();
            assert!(!text.contains(&theirs.team), "{list}: {text}");
            assert!(!text.contains(&theirs.role), "{list}: {text}");
            assert!(!text.contains(&theirs.member.user.to_string()), "{list}");
            assert!(!text.contains(&theirs.admin.admin_tenant()), "{list}");
        }
    }
    // At the key level: a partition is matched whole, never as a prefix of another.
    let records = s.store.records();
    for pk in [
        format!("{p1}#X"),
        format!("{p10}#X"),
        format!("{p1}#XY"),
        format!("{p1}#X#Y"),
    ] {
        let key = recap_domain::records::Key::new(pk.clone(), "k");
        records
            .put(to_item(&key, &json!({"owner": pk})).unwrap(), vec![])
            .await
            .unwrap();
    }
    let page = records
        .query(Query::partition(format!("{p1}#X")))
        .await
        .unwrap();
    let owners: Vec<&str> = page
        .items
        .iter()
        .map(|i| i["owner"].as_str().unwrap())
        .collect();
    assert_eq!(owners, vec![format!("{p1}#X")]);
}

trait TenantOf {
    fn admin_tenant(&self) -> String;
}

impl TenantOf for Who {
    fn admin_tenant(&self) -> String {
        self.tenant.to_string()
    }
}

fn perms(list: &[&str]) -> Permissions {
    Permissions::of(
        &list
            .iter()
            .map(|p| p.parse::<Permission>().unwrap())
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn bfla_roles() {
    let s = Stack::seeded().await;
    let t = tenant(&s, A, A1, A2, "a").await;
    // Users with each role: built-in and custom.
    let custom = [
        ("reader", vec!["teams:read"]),
        ("organizer", vec!["teams:manage"]),
    ];
    for (name, list) in &custom {
        let (st, r) = s
            .call(
                &t.admin,
                Method::POST,
                "/roles",
                Some(&json!({"name": name, "permissions": list}).to_string()),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{r}");
        assert_eq!(r["permissions"], json!(list));
    }
    let mut users: Vec<(String, Who, Permissions)> = Vec::new();
    let roles_to_try = [
        ("viewer", roles::builtin("viewer").unwrap()),
        ("editor", roles::builtin("editor").unwrap()),
        ("reader", perms(&custom[0].1)),
        ("organizer", perms(&custom[1].1)),
    ];
    for (i, (role, p)) in roles_to_try.iter().enumerate() {
        let who = s.who(A, &format!("55555555-5555-4555-8555-55555555555{i}"));
        s.get(&who, "/me").await;
        let (st, u) = s
            .call(
                &t.admin,
                Method::PATCH,
                &format!("/users/{}", who.user),
                Some(&json!({"role": role}).to_string()),
            )
            .await;
        assert_eq!((st, u["role"].as_str()), (StatusCode::OK, Some(*role)));
        // A tier with every feature, so that only the role decides.
        let (st, sub) = s
            .call(
                &t.admin,
                Method::PUT,
                &format!("/subscriptions/{}", who.user),
                Some(r#"{"tier":"pro"}"#),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{sub}");
        users.push((role.to_string(), who, *p));
    }
    // Targets that do not exist: an allowed call answers 404 (or succeeds on a collection),
    // a denied one 403, decided before anything is looked up.
    let ghosts = BTreeMap::from([
        (
            "team_id",
            "66666666-6666-4666-8666-666666666666".to_string(),
        ),
        (
            "user_id",
            "77777777-7777-4777-8777-777777777777".to_string(),
        ),
        ("role", "ghost-role".to_string()),
        (
            "transcript_id",
            "99999999-9999-4999-8999-999999999999".to_string(),
        ),
        (
            "output_id",
            "99999999-9999-4999-8999-999999999998".to_string(),
        ),
        (
            "playlist_id",
            "99999999-9999-4999-8999-999999999997".to_string(),
        ),
        (
            "item_id",
            "99999999-9999-4999-8999-999999999996".to_string(),
        ),
        ("type", "ghost".to_string()),
        ("sub_type", "ghost".to_string()),
        ("provider", "ghost".to_string()),
        ("model", "ghost".to_string()),
        ("tier", "ghost".to_string()),
        ("output_type", "podcast".to_string()),
    ]);
    for spec in table() {
        let path = fill(&spec, &ghosts);
        for (role, who, p) in &users {
            let allowed = match spec.need {
                Need::Caller => true,
                Need::PlatformAdmin => false,
                Need::Permission(perm, _) => p.contains(perm),
            };
            let sent = body(&spec, &ghosts);
            let (st, body) = s
                .call(who, spec.method.clone(), &path, sent.as_deref())
                .await;
            if allowed {
                assert_ne!(
                    st,
                    StatusCode::FORBIDDEN,
                    "{role}: {} {path}: {body}",
                    spec.method
                );
            } else {
                assert_eq!(
                    st,
                    StatusCode::FORBIDDEN,
                    "{role}: {} {path}: {body}",
                    spec.method
                );
                if let Need::Permission(perm, _) = spec.need {
                    let detail = body["detail"].as_str().unwrap();
                    assert!(
                        detail.contains(role.as_str()) && detail.contains(perm.as_str()),
                        "{body}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn a_team_role_counts_for_that_team_only() {
    let s = Stack::seeded().await;
    let t = tenant(&s, A, A1, A2, "a").await;
    let (_, other) = s
        .call(
            &t.admin,
            Method::POST,
            "/teams",
            Some(r#"{"name":"Other"}"#),
        )
        .await;
    let other = other["id"].as_str().unwrap();
    let lead = s.who(A, B1);
    s.get(&lead, "/me").await;
    s.call(
        &t.admin,
        Method::PATCH,
        &format!("/users/{}", lead.user),
        Some(r#"{"role":"viewer"}"#),
    )
    .await;
    let (st, _) = s
        .call(
            &t.admin,
            Method::PUT,
            &format!("/teams/{}/members/{}", t.team, lead.user),
            Some(r#"{"role":"admin"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let rename = Some(r#"{"name":"Renamed by its lead"}"#);
    let (st, body) = s
        .call(&lead, Method::PATCH, &format!("/teams/{}", t.team), rename)
        .await;
    assert_eq!(
        (st, body["name"].as_str()),
        (StatusCode::OK, Some("Renamed by its lead"))
    );
    let (st, _) = s
        .call(&lead, Method::PATCH, &format!("/teams/{other}"), rename)
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a team admin elsewhere is a viewer"
    );
    let (st, _) = s
        .call(&lead, Method::DELETE, &format!("/teams/{}", t.team), None)
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "deleting teams is a tenant admin's"
    );
    let (st, _) = s
        .call(
            &lead,
            Method::POST,
            "/roles",
            Some(r#"{"name":"x","permissions":[]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (_, me) = s.get(&lead, "/me").await;
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["teams"][0]["role"], "admin");
    assert_eq!(me["teams"][0]["team"], t.team.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_user_is_admin_later_users_get_the_default_role() {
    let s = std::sync::Arc::new(Stack::seeded().await);
    // Eight first sightings at once: exactly one admin.
    let firsts = (0..8).map(|i| {
        let s = s.clone();
        async move {
            let who = s.who(A, &format!("88888888-8888-4888-8888-88888888888{i}"));
            s.get(&who, "/me").await.1["role"]
                .as_str()
                .unwrap()
                .to_string()
        }
    });
    let roles: Vec<String> = futures::future::join_all(firsts).await;
    assert_eq!(
        roles.iter().filter(|r| *r == "admin").count(),
        1,
        "{roles:?}"
    );
    assert_eq!(
        roles.iter().filter(|r| *r == "editor").count(),
        7,
        "{roles:?}"
    );
    let admin_id = (0..8)
        .map(|i| format!("88888888-8888-4888-8888-88888888888{i}"))
        .zip(&roles)
        .find(|(_, r)| *r == "admin")
        .unwrap()
        .0;
    let admin = s.who(A, &admin_id);
    let (st, settings) = s.get(&admin, "/tenant").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(settings["admin_count"], 1);
    assert_eq!(settings["default_role"], "editor");
    assert_eq!(settings["first_user"], admin_id.as_str());

    // The admin changes the default: the next new user is a viewer.
    let (st, _) = s
        .call(
            &admin,
            Method::PATCH,
            "/tenant",
            Some(r#"{"default_role":"viewer"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let late = s.who(A, A2);
    assert_eq!(s.get(&late, "/me").await.1["role"], "viewer");
    // A default role must exist.
    let (st, p) = s
        .call(
            &admin,
            Method::PATCH,
            "/tenant",
            Some(r#"{"default_role":"nobody"}"#),
        )
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("default_role"))
    );

    // The last admin cannot step down; after promoting another, they can.
    let me = format!("/users/{admin_id}");
    let (st, p) = s
        .call(&admin, Method::PATCH, &me, Some(r#"{"role":"editor"}"#))
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    let (st, _) = s
        .call(
            &admin,
            Method::PATCH,
            &format!("/users/{A2}"),
            Some(r#"{"role":"admin"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(s.get(&admin, "/tenant").await.1["admin_count"], 2);
    let (st, u) = s
        .call(&admin, Method::PATCH, &me, Some(r#"{"role":"editor"}"#))
        .await;
    assert_eq!((st, u["role"].as_str()), (StatusCode::OK, Some("editor")));
    assert_eq!(s.get(&late, "/tenant").await.1["admin_count"], 1);
    // And the former admin has lost the admin routes.
    let (st, _) = s
        .call(&admin, Method::POST, "/teams", Some(r#"{"name":"x"}"#))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn teams_members_and_roles_round_trip() {
    let s = Stack::seeded().await;
    let t = tenant(&s, A, A1, A2, "a").await;
    // A user in several teams.
    let (st, second) = s
        .call(
            &t.admin,
            Method::POST,
            "/teams",
            Some(r#"{"name":"  Support  "}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(second["name"], "Support", "names are trimmed");
    let second = second["id"].as_str().unwrap().to_string();
    let (st, _) = s
        .call(
            &t.admin,
            Method::PUT,
            &format!("/teams/{second}/members/{}", t.member.user),
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, me) = s.get(&t.member, "/me").await;
    let mut mine: Vec<(String, String)> = me["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["team"].as_str().unwrap().into(),
                m["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    mine.sort();
    let mut want = vec![
        (t.team.clone(), t.role.clone()),
        (second.clone(), "viewer".into()),
    ];
    want.sort();
    assert_eq!(mine, want);

    // Lists page the same way as every list.
    let (_, page) = s.get(&t.admin, "/teams?limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = s
        .get(&t.admin, &format!("/teams?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["items"][0]["id"], second.as_str());
    assert!(next.get("next_cursor").is_none());
    let (st, p) = s.get(&t.admin, "/teams?limit=0").await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );

    let (_, members) = s.get(&t.admin, &format!("/teams/{}/members", t.team)).await;
    assert_eq!(members["items"][0]["user"], t.member.user.to_string());
    assert_eq!(members["items"][0]["role"], t.role.as_str());

    // Bad input is a clear 400; unknown users, roles and teams are 404 or 400.
    for (path, body, want) in [
        ("/teams".to_string(), r#"{"name":""}"#, "name"),
        (
            "/teams".to_string(),
            r#"{"name":"x","colour":"red"}"#,
            "body",
        ),
        ("/teams".to_string(), r#"{"name":"#, "body"),
        (
            "/roles".to_string(),
            r#"{"name":"Bad Name","permissions":[]}"#,
            "name",
        ),
        (
            "/roles".to_string(),
            r#"{"name":"ok","permissions":["rockets:launch"]}"#,
            "permissions",
        ),
        (
            "/roles".to_string(),
            r#"{"name":"ok","permissions":["catalog:manage"]}"#,
            "permissions",
        ),
    ] {
        let (st, p) = s.call(&t.admin, Method::POST, &path, Some(body)).await;
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(want)),
            "{body}: {p}"
        );
    }
    let (st, _) = s
        .call(
            &t.admin,
            Method::POST,
            "/roles",
            Some(r#"{"name":"editor","permissions":[]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "built-in names are taken");
    let (st, _) = s
        .call(
            &t.admin,
            Method::PUT,
            &format!("/teams/{second}/members/{B1}"),
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "not a user of this tenant");
    let (st, p) = s
        .call(
            &t.admin,
            Method::PUT,
            &format!("/teams/{second}/members/{}", t.member.user),
            Some(r#"{"role":"ghost"}"#),
        )
        .await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("role"))
    );
    let (st, _) = s.get(&t.admin, "/teams/not-an-id").await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // A custom role changes; built-in ones do not.
    let (st, r) = s
        .call(
            &t.admin,
            Method::PATCH,
            &format!("/roles/{}", t.role),
            Some(r#"{"permissions":["outputs:read","transcripts:read","outputs:read"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        r["permissions"],
        json!(["transcripts:read", "outputs:read"])
    );
    let (st, _) = s
        .call(
            &t.admin,
            Method::PATCH,
            "/roles/admin",
            Some(r#"{"permissions":[]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (_, all) = s.get(&t.admin, "/roles").await;
    let names: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["admin", "editor", "viewer", t.role.as_str()]);

    // The default role cannot be deleted; another custom role can, and then grants nothing.
    s.call(
        &t.admin,
        Method::PATCH,
        "/tenant",
        Some(&json!({"default_role": t.role}).to_string()),
    )
    .await;
    let (st, _) = s
        .call(
            &t.admin,
            Method::DELETE,
            &format!("/roles/{}", t.role),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    s.call(
        &t.admin,
        Method::PATCH,
        "/tenant",
        Some(r#"{"default_role":"editor"}"#),
    )
    .await;
    // A role someone holds is not deleted: were it, a role created later under its name would
    // grant them its permissions unasked.
    let role_path = format!("/roles/{}", t.role);
    let delete_role = || s.call(&t.admin, Method::DELETE, &role_path, None);
    let (st, p) = delete_role().await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("0 user(s) across the tenant and 1 team member(s)"),
        "{p}"
    );
    // Held as a tenant role too: given to the member, then taken back.
    let user_path = format!("/users/{}", t.member.user);
    let give = |role: &str| {
        let body = json!({ "role": role }).to_string();
        let (s, admin, path) = (&s, &t.admin, &user_path);
        async move { s.call(admin, Method::PATCH, path, Some(&body)).await }
    };
    assert_eq!(give(&t.role).await.0, StatusCode::OK);
    let (st, p) = delete_role().await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("1 user(s) across the tenant and 1 team member(s)"),
        "{p}"
    );
    assert_eq!(give("editor").await.0, StatusCode::OK);
    let (st, _) = s
        .call(
            &t.admin,
            Method::PUT,
            &format!("/teams/{}/members/{}", t.team, t.member.user),
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(delete_role().await.0, StatusCode::NO_CONTENT);
    assert_eq!(delete_role().await.0, StatusCode::NOT_FOUND);
    // The same name again, with more permissions: its former holder gains none of them.
    let (st, _) = s
        .call(
            &t.admin,
            Method::POST,
            "/roles",
            Some(
                &json!({"name": t.role, "permissions": ["teams:manage", "billing:manage"]})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, me) = s.get(&t.member, "/me").await;
    assert_eq!(me["role"], "editor");
    for m in me["teams"].as_array().unwrap() {
        assert_ne!(m["role"], t.role.as_str(), "{me}");
    }
    assert!(!me.to_string().contains("teams:manage"), "{me}");
    // A role given to nobody is deleted; giving a deleted role is a clear 400.
    assert_eq!(delete_role().await.0, StatusCode::NO_CONTENT);
    let (st, p) = give(&t.role).await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("role")),
        "{p}"
    );

    // Removing a member, then deleting a team with its memberships.
    let (st, _) = s
        .call(
            &t.admin,
            Method::DELETE,
            &format!("/teams/{second}/members/{}", t.member.user),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s
        .call(
            &t.admin,
            Method::DELETE,
            &format!("/teams/{second}/members/{}", t.member.user),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // A team that holds a transcript is not deleted: the transcript would keep a dead team.
    let (st, tr) = s
        .call(
            &t.admin,
            Method::POST,
            "/transcripts",
            Some(
                &json!({"title": "Team notes", "type": "meeting", "team": t.team,
                "content": "Ada: Shall we start?\nGrace: Yes."})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{tr}");
    let team_path = format!("/teams/{}", t.team);
    let (st, p) = s.call(&t.admin, Method::DELETE, &team_path, None).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("1 transcript(s) and 0 playlist(s)"),
        "{p}"
    );
    let (st, _) = s
        .call(
            &t.admin,
            Method::DELETE,
            &format!("/transcripts/{}", tr["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call(&t.admin, Method::DELETE, &team_path, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&t.admin, &format!("/teams/{}", t.team)).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, me) = s.get(&t.member, "/me").await;
    assert_eq!(me["teams"], json!([]), "memberships go with their team");
}

/// Names others will see hold no control characters nor bidirectional overrides (a NUL and a
/// right-to-left override were accepted in a playlist's name).
#[tokio::test]
async fn names_with_control_characters_are_refused() {
    let s = Stack::seeded().await;
    let admin = s.who(A, A1);
    s.get(&admin, "/me").await;
    for (path, body, field) in [
        ("/teams", json!({"name": "ok\u{0}"}), "name"),
        ("/teams", json!({"name": "evil\u{202E}txt"}), "name"),
        (
            "/transcripts",
            json!({"title": "a\u{1b}[31mred", "type": "meeting", "content": "Ada: a\nGrace: b"}),
            "title",
        ),
        (
            "/roles",
            json!({"name": "auditor", "description": "bell\u{7}", "permissions": ["transcripts:read"]}),
            "description",
        ),
    ] {
        let (st, p) = s
            .call(&admin, Method::POST, path, Some(&body.to_string()))
            .await;
        assert_eq!(
            (st, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{path}: {p}"
        );
    }
    let (st, _) = s
        .call(
            &admin,
            Method::POST,
            "/teams",
            Some(&json!({"name": "Réunion 😀", "description": "two\nlines"}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
}

/// A user first seen while a custom role is the tenant's default is counted as given that role,
/// in the same write as the user: a delete of the role that read the count before (and so
/// found no holder yet) then fails instead of leaving the user holding a deleted role, which a
/// later role of the same name would stand in for.
#[tokio::test]
async fn a_new_user_given_a_custom_default_role_counts_as_holding_it() {
    let s = Stack::new();
    let admin = s.who(A, A1);
    s.get(&admin, "/me").await;
    let (st, p) = s
        .call(
            &admin,
            Method::POST,
            "/roles",
            Some(r#"{"name":"reviewer","permissions":["transcripts:read"]}"#),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let (st, p) = s
        .call(
            &admin,
            Method::PATCH,
            "/tenant",
            Some(r#"{"default_role":"reviewer"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let tenant = recap_domain::ids::TenantId::parse(A).unwrap();
    let key = recap_domain::keys::role(&tenant, &roles::RoleName::parse("reviewer").unwrap());
    let records = s.state.records.as_ref();
    let count = async || {
        records.get(&key).await.unwrap().expect("the role")["assignments"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = count().await;
    let (st, me) = s.get(&s.who(A, A2), "/me").await;
    assert_eq!(
        (st, me["role"].as_str()),
        (StatusCode::OK, Some("reviewer"))
    );
    assert_eq!(count().await, before + 1, "the new user is counted");
    // Seen again: not counted twice.
    s.get(&s.who(A, A2), "/me").await;
    assert_eq!(count().await, before + 1);
}
