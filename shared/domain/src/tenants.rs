//! A tenant's own settings: the role later users get, and how many admins it has (so that
//! the last admin cannot be demoted).

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Conflict, Error, Result};
use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::records::{Condition, Records, Update, Write, from_item};
use crate::roles::{self, RoleName};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantSettings {
    /// The role a user gets on first sight (all but the tenant's first user, who is admin).
    pub default_role: RoleName,
    /// Users whose tenant role is `admin`; kept in the same transactions as role changes.
    pub admin_count: i64,
    pub created_at: Timestamp,
    pub first_user: UserId,
}

/// The settings, or `NotFound` for a tenant nobody has used yet.
pub async fn get(records: &dyn Records, t: &TenantId) -> Result<TenantSettings> {
    match records.get(&keys::tenant_settings(t)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("tenant")),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub default_role: Option<String>,
}

/// Changes the default role, which must exist (built in or the tenant's).
#[tracing::instrument(skip_all, fields(tenant = %t))]
pub async fn update(
    records: &dyn Records,
    t: &TenantId,
    input: SettingsInput,
) -> Result<TenantSettings> {
    let Some(role) = input.default_role else {
        return get(records, t).await;
    };
    let role = RoleName::parse(&role)?;
    if !role.is_builtin() {
        roles::get(records, t, role.as_str())
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => {
                    Error::validation("default_role", format!("no role named {role}"))
                }
                e => e,
            })?;
    }
    let mut writes = vec![
        Write::update(
            keys::tenant_settings(t),
            Update::new().set("default_role", role.as_str()),
        )
        .when(Condition::Exists),
    ];
    // A custom role must still exist when it becomes the default (roles::delete).
    if !role.is_builtin() {
        writes.push(roles::assigned(t, &role));
    }
    match records.transact(writes).await {
        Ok(()) => get(records, t).await,
        Err(e) if e.failed_write() == Some(0) => Err(Error::not_found("tenant")),
        Err(e) if e.failed_write() == Some(1) => Err(Error::validation(
            "default_role",
            format!("no role named {role}"),
        )),
        Err(e) => Err(e),
    }
}

/// The conflict answered when a change would leave a tenant without an admin.
pub fn last_admin() -> Error {
    Conflict::State("a tenant keeps at least one admin; make someone else admin first".into())
        .into()
}
