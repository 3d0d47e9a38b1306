//! The administrator's Unlock: the one place the viewer asks the lockout policy
//! anything (whether an account is locked, and to release it).

use std::sync::Arc;

use activity_core::lockout::LockoutPolicy;
use activity_core::Actor;
use chrono::{DateTime, Utc};

use super::access::Viewer;
use crate::Error;

/// Releases `account`'s lock in `viewer`'s tenant through the lockout policy, which
/// records `admin.user.unlocked` and `lockout.released` (reason `admin_unlock`, `by`
/// the administrator).
pub(crate) fn release(
    policy: &Arc<LockoutPolicy>,
    viewer: &Viewer,
    account: &str,
) -> Result<(), Error> {
    let admin: Actor = viewer.actor();
    policy.unlock(admin, viewer.tenant.as_deref(), account)?;
    Ok(())
}

/// Whether `account` of `viewer`'s tenant is locked at `now`, as the policy judges it.
pub(crate) async fn locked_now(
    policy: &Arc<LockoutPolicy>,
    viewer: &Viewer,
    account: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let status = policy
        .status(viewer.tenant.as_deref(), account, None, now)
        .await?;
    Ok(status.locked.is_some())
}
