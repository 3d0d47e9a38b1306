//! `new_device`: a successful login from a device the account's recent logins never
//! came from.

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::Duration;

use super::alert;
use crate::alerts::{Alert, AlertRule, Evaluation, Severity};
use crate::{Action, ActivityEvent, ActivityStore, Result};

/// A browser family from a user agent, for the device fallback key.
fn ua_family(ua: &str) -> &'static str {
    for (needle, family) in [
        ("Edg/", "edge"),
        ("OPR/", "opera"),
        ("Firefox/", "firefox"),
        ("Chrome/", "chrome"),
        ("Safari/", "safari"),
        ("curl/", "curl"),
    ] {
        if ua.contains(needle) {
            return family;
        }
    }
    "other"
}

/// The /24 (IPv4) or /48 (IPv6) network of `ip`.
fn network(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The device key of a login: its device id, else user-agent family plus /24 or /48.
fn device_key(e: &ActivityEvent) -> Option<String> {
    if let Some(d) = e.device_id() {
        return Some(format!("id:{d}"));
    }
    let ua = e
        .source
        .as_ref()
        .and_then(|s| s.user_agent.as_deref())
        .unwrap_or("");
    e.ip()
        .map(|ip| format!("ua:{}|{}", ua_family(ua), network(ip)))
}

/// `new_device`: a successful login from a device never seen among the account's recent
/// successful logins (the last `look_back_count`, within `look_back`). Without a device id
/// the key is the user-agent family plus the /24 (IPv4) or /48 (IPv6) network. An
/// account's very first login alerts only with `alert_on_first_login`.
///
/// ```
/// use activity_core::alerts::{AlertEngine, NewDevice};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore, Source};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
/// let login = |device: &str, hours| {
///     ActivityEvent::login_succeeded(Actor::user("ann"))
///         .with_time(t0 + Duration::hours(hours))
///         .with_source(Source::ip("81.2.69.142".parse().unwrap()).with_device_id(device))
/// };
/// let logins = [login("laptop", 0), login("laptop", 1), login("phone", 2)];
/// let store = MemoryStore::new();
/// store.append(&logins).await?;
/// let alerts = AlertEngine::new().rule(NewDevice::default()).evaluate(&store, &logins).await?;
/// // Neither the first login nor the known laptop alerts; the new phone does.
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].trigger, logins[2].id);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// How many earlier logins are compared (default 20).
    pub look_back_count: usize,
    /// How far back (default 90 days).
    pub look_back: Duration,
    /// Whether the first login ever alerts (default false).
    pub alert_on_first_login: bool,
    /// Severity (default medium).
    pub severity: Severity,
}

impl Default for NewDevice {
    fn default() -> Self {
        Self {
            look_back_count: 20,
            look_back: Duration::days(90),
            alert_on_first_login: false,
            severity: Severity::Medium,
        }
    }
}

#[async_trait]
impl AlertRule for NewDevice {
    fn id(&self) -> &str {
        "new_device"
    }

    fn login_look_back(&self) -> Option<(usize, Duration)> {
        Some((self.look_back_count, self.look_back))
    }

    async fn evaluate(&self, store: &dyn ActivityStore, e: &ActivityEvent) -> Result<Vec<Alert>> {
        self.evaluate_in(&Evaluation::new(store, std::slice::from_ref(e)), e)
            .await
    }

    async fn evaluate_in(&self, ev: &Evaluation<'_>, e: &ActivityEvent) -> Result<Vec<Alert>> {
        if e.action != Action::LOGIN_SUCCEEDED {
            return Ok(Vec::new());
        }
        let (Some(account), Some(key)) = (e.actor_id(), device_key(e)) else {
            return Ok(Vec::new());
        };
        let prev = ev
            .recent_logins(e, self.look_back_count, self.look_back)
            .await?;
        if prev.is_empty() && !self.alert_on_first_login {
            return Ok(Vec::new());
        }
        if prev.iter().filter_map(device_key).any(|k| k == key) {
            return Ok(Vec::new());
        }
        Ok(vec![alert(
            "new_device",
            self.severity,
            e,
            account,
            vec![e.id],
            format!("sign-in to {account} from a new device"),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::fixtures::{login, run, t0};

    #[tokio::test]
    async fn new_device_alerts_on_a_new_device_only() {
        let rule = NewDevice::default();
        let v = vec![
            login(t0(), Some("d1"), "81.2.69.142", None),
            login(t0() + Duration::hours(1), Some("d1"), "81.2.69.142", None),
            login(t0() + Duration::hours(2), Some("d2"), "81.2.69.142", None),
        ];
        let a = run(&rule, &v).await;
        assert_eq!(
            a.len(),
            1,
            "the first login does not alert; d1 again does not; d2 does"
        );
        assert_eq!(a[0].trigger, v[2].id);
        let first = NewDevice {
            alert_on_first_login: true,
            ..NewDevice::default()
        };
        assert_eq!(run(&first, &v[..1]).await.len(), 1);
        // Without device ids: same browser family and /24 is the same device.
        let v = vec![
            login(t0(), None, "81.2.69.142", None),
            login(t0() + Duration::hours(1), None, "81.2.69.150", None),
            login(t0() + Duration::hours(2), None, "89.160.20.112", None),
        ];
        assert_eq!(run(&rule, &v).await.len(), 1);
    }
}
