//! The administrator's Unlock: the one place the viewer asks the lockout policy
//! anything (whether an account is locked, and to release it).

use std::sync::Arc;

use activity_core::lockout::LockoutPolicy;
use activity_core::Actor;

use super::access::Viewer;
use crate::Error;

/// Releases `account`'s lock in `viewer`'s tenant through the lockout policy, which
/// records `admin.user.unlocked` and `lockout.released` (reason `admin_unlock`, `by`
/// the administrator).
pub(crate) async fn release(
    policy: &Arc<LockoutPolicy>,
    viewer: &Viewer,
    account: &str,
) -> Result<(), Error> {
    let admin: Actor = viewer.actor();
    policy
        .unlock(admin, viewer.tenant.as_deref(), account)
        .await?;
    Ok(())
}

/// Whether `account` of `viewer`'s tenant is locked now (in any place), as the policy
/// judges it with its own clock.
pub(crate) async fn locked_now(
    policy: &Arc<LockoutPolicy>,
    viewer: &Viewer,
    account: &str,
) -> Result<bool, Error> {
    let status = policy.status(viewer.tenant.as_deref(), account).await?;
    Ok(status.locked.is_some())
}
