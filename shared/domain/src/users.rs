//! Users: a record made the first time a caller is seen.

use serde::{Deserialize, Serialize};

use crate::access::Caller;
use crate::clock::{Clock, Timestamp};
use crate::error::Result;
use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::records::{Condition, Records, from_item, to_item};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub tenant: TenantId,
    pub email: Option<String>,
    pub display_name: String,
    pub created_at: Timestamp,
}

/// The caller's user record, created on first sight: one GetItem when it exists, plus one
/// conditional PutItem the first time (two first sightings at once write it once).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn ensure(records: &dyn Records, clock: &dyn Clock, caller: &Caller) -> Result<User> {
    let key = keys::user(&caller.tenant, &caller.user);
    if let Some(item) = records.get(&key).await? {
        return from_item(item);
    }
    let user = User {
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
        created_at: clock.now(),
    };
    let mut item = to_item(&key, &user)?;
    item.insert("type".into(), "user".into());
    match records.put(item, vec![Condition::NotExists]).await {
        Ok(()) => Ok(user),
        // Someone else made it first: theirs stands.
        Err(e) if e.failed_write() == Some(0) => match records.get(&key).await? {
            Some(item) => from_item(item),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}
