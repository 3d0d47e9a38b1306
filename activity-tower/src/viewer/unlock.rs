//! The administrator's Unlock: the one place the viewer releases a lock.

use std::sync::Arc;

use activity_core::lockout::LockoutPolicy;
use activity_core::Actor;

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
