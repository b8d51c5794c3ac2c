//! Users: a record made the first time a caller is seen. The first user of a tenant is its
//! admin; later users get the tenant's default role.

use serde::{Deserialize, Serialize};

use crate::access::Caller;
use crate::clock::{Clock, Timestamp};
use crate::error::{Error, Result};
use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::records::{
    Condition, Item, Query, Records, Update, Write, from_item, query_page, to_item,
};
use crate::roles::{self, ADMIN, RoleName};
use crate::tenants::{self, TenantSettings};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub tenant: TenantId,
    pub email: Option<String>,
    pub display_name: String,
    /// The user's role across the tenant.
    #[serde(default = "default_role")]
    pub role: RoleName,
    pub created_at: Timestamp,
}

fn default_role() -> RoleName {
    RoleName::parse(roles::DEFAULT_ROLE).expect("the default role is a valid name")
}

fn user_item(user: &User) -> Result<Item> {
    let mut item = to_item(&keys::user(&user.tenant, &user.id), user)?;
    let ix = keys::users_index(&user.tenant, &user.id);
    item.insert("type".into(), "user".into());
    item.insert("gsi1pk".into(), ix.pk.into());
    item.insert("gsi1sk".into(), ix.sk.into());
    Ok(item)
}

/// The caller's user record, created on first sight: one GetItem when it exists. The first
/// sighting writes the user and, for a tenant's first user, the tenant's settings in one
/// transaction, so exactly one user becomes the first admin however many arrive at once.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn ensure(records: &dyn Records, clock: &dyn Clock, caller: &Caller) -> Result<User> {
    let key = keys::user(&caller.tenant, &caller.user);
    if let Some(item) = records.get(&key).await? {
        return from_item(item);
    }
    let now = clock.now();
    let mut user = User {
        id: caller.user,
        tenant: caller.tenant,
        email: caller.email.clone(),
        display_name: caller
            .email
            .as_deref()
            .and_then(|e| e.split('@').next())
            .filter(|n| !n.is_empty())
            .unwrap_or("user")
            .to_string(),
        role: RoleName::parse(ADMIN)?,
        created_at: now,
    };
    let settings = TenantSettings {
        default_role: default_role(),
        admin_count: 1,
        created_at: now,
        first_user: caller.user,
    };
    let first = records
        .transact(vec![
            Write::put(user_item(&user)?).when(Condition::NotExists),
            Write::put(to_item(&keys::tenant_settings(&caller.tenant), &settings)?)
                .when(Condition::NotExists),
        ])
        .await;
    let outcome = match first {
        Ok(()) => return Ok(user),
        Err(e) if e.failed_write() == Some(1) => {
            // The tenant has users already: this one gets its default role.
            let mut attempts = 0;
            loop {
                user.role = tenants::get(records, &caller.tenant).await?.default_role;
                let r = if user.role.as_str() == ADMIN {
                    records
                        .transact(vec![
                            Write::put(user_item(&user)?).when(Condition::NotExists),
                            Write::update(
                                keys::tenant_settings(&caller.tenant),
                                Update::new().add("admin_count", 1),
                            )
                            .when(Condition::Exists),
                        ])
                        .await
                } else if !user.role.is_builtin() {
                    // A custom role is counted as given, in the same transaction (see
                    // roles::delete): a delete of it in progress fails instead of leaving this
                    // user holding a role that a later one of the same name would stand in for.
                    records
                        .transact(vec![
                            Write::put(user_item(&user)?).when(Condition::NotExists),
                            roles::assigned(&caller.tenant, &user.role),
                        ])
                        .await
                } else {
                    records
                        .put(user_item(&user)?, vec![Condition::NotExists])
                        .await
                };
                attempts += 1;
                match r {
                    // The default changed and its old role was deleted since it was read:
                    // read the default again.
                    Err(e) if e.failed_write() == Some(1) && !user.role.is_builtin() => {
                        if attempts >= 3 {
                            break Err(e);
                        }
                    }
                    r => break r,
                }
            }
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(user),
        // Someone else made it first: theirs stands.
        Err(e) if e.failed_write() == Some(0) => match records.get(&key).await? {
            Some(item) => from_item(item),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

pub async fn get(records: &dyn Records, t: &TenantId, u: &UserId) -> Result<User> {
    match records.get(&keys::user(t, u)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("user")),
    }
}

/// A page of the tenant's users.
pub async fn list(
    records: &dyn Records,
    t: &TenantId,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<User>, Option<String>)> {
    query_page(
        records,
        Query::partition(keys::tenant_pk(t, "USERS"))
            .on(crate::records::Index::Gsi1)
            .limit(limit)
            .after(cursor),
    )
    .await
}

/// Gives a user another tenant role. Admin counts move in the same transaction, and the last
/// admin cannot be demoted.
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn set_role(records: &dyn Records, t: &TenantId, u: &UserId, role: &str) -> Result<User> {
    let role = RoleName::parse(role)?;
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
    let current = get(records, t, u).await?;
    if current.role == role {
        return Ok(current);
    }
    let key = keys::user(t, u);
    let change = Write::update(key.clone(), Update::new().set("role", role.as_str()))
        .when(Condition::equals("role", current.role.as_str()));
    let was_admin = current.role.as_str() == ADMIN;
    let becomes_admin = role.as_str() == ADMIN;
    let mut writes = vec![change];
    if was_admin {
        writes.push(
            Write::update(
                keys::tenant_settings(t),
                Update::new().add("admin_count", -1),
            )
            .when(Condition::at_least("admin_count", 2)),
        );
    } else if becomes_admin {
        writes.push(
            Write::update(
                keys::tenant_settings(t),
                Update::new().add("admin_count", 1),
            )
            .when(Condition::Exists),
        );
    }
    // A custom role must still exist when it is given (roles::delete); its write goes last.
    let role_write = (!role.is_builtin()).then(|| {
        writes.push(roles::assigned(t, &role));
        writes.len() - 1
    });
    match records.transact(writes).await {
        Ok(()) => get(records, t, u).await,
        Err(e) if role_write.is_some() && e.failed_write() == role_write => {
            Err(Error::validation("role", format!("no role named {role}")))
        }
        Err(e) if e.failed_write() == Some(1) && was_admin => Err(tenants::last_admin()),
        Err(e) if e.failed_write() == Some(0) => Err(crate::Conflict::State(
            "the user's role changed meanwhile; read it again".into(),
        )
        .into()),
        Err(e) => Err(e),
    }
}
