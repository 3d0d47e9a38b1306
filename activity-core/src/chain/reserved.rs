//! The SDK's reserved actions: the events the chain, the retention purge, the lockout and
//! the alert engine write themselves, which an application's [`Recorder::record`] and
//! `activity ingest` refuse (so that nobody plants a forged checkpoint, lock release,
//! alert or verification in the log through them).
//!
//! [`Recorder::record`]: crate::Recorder::record

use crate::error::{Error, Result, Rule};
use crate::event::{Action, ActivityEvent};

/// The rule [`check_recordable`] and [`check_ingestable`] name when they refuse.
pub const RESERVED_RULE: Rule = Rule::Reserved;

/// Whether `action` is one of the SDK's own: `audit.*`, `lockout.*` or `alert.raised`.
///
/// ```
/// use activity_core::{chain::is_reserved, Action};
/// assert!(is_reserved(&Action::AUDIT_PURGED));
/// assert!(is_reserved(&Action::LOCKOUT_RELEASED));
/// assert!(is_reserved(&Action::ALERT_RAISED));
/// assert!(!is_reserved(&Action::LOGIN_FAILED));
/// ```
pub fn is_reserved(action: &Action) -> bool {
    let a = action.as_str();
    a.starts_with("audit.") || a.starts_with("lockout.") || a.starts_with("alert.")
}

/// Refuses an event an application may not record (any reserved action: the SDK's
/// components write theirs through
/// [`Recorder::record_reserved`](crate::Recorder::record_reserved)): [`Error::Invalid`] on
/// `action` with [`RESERVED_RULE`].
///
/// ```
/// use activity_core::{chain::check_recordable, ActivityEvent, Action, Outcome, Error};
/// let forged = ActivityEvent::audit(Action::AUDIT_PURGED, Outcome::Success);
/// assert!(matches!(check_recordable(&forged), Err(Error::Invalid { .. })));
/// assert!(check_recordable(&ActivityEvent::new(Action::LOGOUT)).is_ok());
/// ```
///
/// # Errors
/// [`Error::Invalid`] for a reserved action.
pub fn check_recordable(event: &ActivityEvent) -> Result<()> {
    if is_reserved(&event.action) {
        return Err(Error::invalid("action", RESERVED_RULE));
    }
    Ok(())
}

/// Refuses an ingested event with any reserved action: [`Error::Invalid`] on `action`
/// with [`RESERVED_RULE`]. (An archive restore takes them, marked with
/// [`mark_restored`], which keeps them from serving as retention evidence.)
///
/// # Errors
/// [`Error::Invalid`] for a reserved action.
pub fn check_ingestable(event: &ActivityEvent) -> Result<()> {
    if is_reserved(&event.action) {
        return Err(Error::invalid("action", RESERVED_RULE));
    }
    Ok(())
}

/// The `details` key marking an event restored from an archive by `activity ingest
/// --restore`: such an event is never retention evidence.
pub const RESTORED: &str = "restored";

/// Marks `event` as restored (`details.restored = true`).
pub fn mark_restored(event: ActivityEvent) -> ActivityEvent {
    event.with_detail(RESTORED, true)
}

/// Whether `event` carries the restore mark.
pub fn is_restored(event: &ActivityEvent) -> bool {
    event
        .details
        .as_ref()
        .and_then(|d| d.get(RESTORED))
        .is_some_and(|v| v != &serde_json::Value::Bool(false))
}
