//! The built-in rules, one file each: failed logins (per account and per address), new
//! device, geographic anomaly, concurrent sessions. Each reads the account's recent
//! history from the store, judged at the triggering event's own time.

mod concurrent_sessions;
mod failed_logins;
mod geo_anomaly;
mod new_device;

#[cfg(test)]
mod fixtures;

pub use concurrent_sessions::ConcurrentSessions;
pub use failed_logins::FailedLogins;
pub use geo_anomaly::{AnonymousIpAction, GeoAnomaly};
pub use new_device::NewDevice;

use super::{Alert, Severity};
use crate::ActivityEvent;

/// The alert a rule raises about `account` for `e` (its trigger, its time and tenant).
fn alert(
    rule: &str,
    severity: Severity,
    e: &ActivityEvent,
    account: &str,
    evidence: Vec<uuid::Uuid>,
    message: String,
) -> Alert {
    Alert {
        rule: rule.to_owned(),
        severity,
        account: Some(account.to_owned()),
        tenant: e.tenant.clone(),
        evidence,
        message,
        time: e.time,
        trigger: e.id,
    }
}
