//! `geo_anomaly`: a login from a new country, or impossible travel since the previous
//! one; and what it does with logins through anonymizing networks.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::Duration;

use super::alert;
use crate::alerts::{Alert, AlertRule, Evaluation, Severity};
use crate::enrich::haversine_km;
use crate::{
    enrich::anonymous_kinds, enrich::AnonymousKind, Action, ActivityEvent, ActivityStore, Result,
};

/// What `geo_anomaly` does with a login through an anonymizing network (VPN, Tor, a
/// hosting provider, a proxy) — one whose `details.ip_anonymous` (written by
/// [`AnonymousIpEnricher`](crate::enrich::AnonymousIpEnricher)) lists a kind the rule counts.
///
/// ```
/// use activity_core::alerts::{AlertEngine, AnonymousIpAction, GeoAnomaly};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, Geo, MemoryStore, Source};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
/// # let login = |ip: &str, country: &str, lat, lon, minutes| {
/// #     let geo = Geo { country: Some(country.into()), lat: Some(lat), lon: Some(lon), ..Geo::default() };
/// #     ActivityEvent::login_succeeded(Actor::user("ann"))
/// #         .with_time(t0 + Duration::minutes(minutes))
/// #         .with_source(Source::ip(ip.parse().unwrap()).with_geo(geo))
/// # };
/// // London, then Changchun ten minutes later through a Tor exit node.
/// let london = login("81.2.69.142", "GB", 51.51, -0.09, 0);
/// let tor = login("175.16.199.1", "CN", 43.88, 125.32, 10)
///     .with_detail("ip_anonymous", serde_json::json!(["tor"]));
/// let batch = [london, tor];
/// let store = MemoryStore::new();
/// store.append(&batch).await?;
/// let engine = |anonymous_ip| {
///     AlertEngine::new().rule(GeoAnomaly { anonymous_ip, ..GeoAnomaly::default() })
/// };
/// let marked = engine(AnonymousIpAction::Mark).evaluate(&store, &batch).await?;
/// assert!(marked[0].message.contains("through an anonymous network (tor)"));
/// let suppressed = engine(AnonymousIpAction::Suppress).evaluate(&store, &batch).await?;
/// assert!(suppressed.is_empty());
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnonymousIpAction {
    /// Judge it like any other login.
    Ignore,
    /// Raise the alert as usual, and say in its message that the login — or the
    /// previous one, for impossible travel — came through an anonymous network (default).
    #[default]
    Mark,
    /// Raise nothing for it, and never take an earlier anonymous login as the reference
    /// for new countries or travel: the exit node's location says nothing of the user's.
    Suppress,
}

impl AnonymousIpAction {
    /// `ignore`, `mark` or `suppress`.
    ///
    /// ```
    /// use activity_core::alerts::AnonymousIpAction;
    /// assert_eq!(AnonymousIpAction::parse("suppress"), Some(AnonymousIpAction::Suppress));
    /// assert_eq!(AnonymousIpAction::parse("drop"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ignore" => Some(Self::Ignore),
            "mark" => Some(Self::Mark),
            "suppress" => Some(Self::Suppress),
            _ => None,
        }
    }
}

/// `geo_anomaly`: a successful login from a country never seen among the account's
/// recent successful logins, or impossible travel since the previous one: the
/// great-circle distance less both accuracy radii, over the time between them, above
/// `max_speed_kmh`, for hops longer than `min_distance_km`. Logins without a location
/// (private, loopback, unresolvable addresses) never alert. Logins through an anonymizing
/// network are marked, suppressed or ignored as `anonymous_ip` says.
///
/// ```
/// use activity_core::alerts::{AlertEngine, AnonymousIpAction, GeoAnomaly};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, enrich::AnonymousKind, Geo, MemoryStore, Source};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let login = |minutes: i64, ip: &str, country: &str, lat: f64, lon: f64| {
///     let geo = Geo { country: Some(country.into()), city: None, lat: Some(lat), lon: Some(lon), accuracy_km: Some(20) };
///     ActivityEvent::login_succeeded(Actor::user("alice"))
///         .with_time(Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap() + Duration::minutes(minutes))
///         .with_source(Source::ip(ip.parse().unwrap()).with_device_id("laptop").with_geo(geo))
/// };
/// // London, then Changchun ten minutes later: impossible travel (and a new country).
/// let logins = [login(0, "81.2.69.142", "GB", 51.51, -0.09), login(10, "175.16.199.1", "CN", 43.88, 125.32)];
/// let store = MemoryStore::new();
/// store.append(&logins).await?;
/// let alerts = AlertEngine::new().rule(GeoAnomaly::default()).evaluate(&store, &logins).await?;
/// assert_eq!(alerts.len(), 1);
/// assert!(alerts[0].message.contains("impossible travel"), "{}", alerts[0].message);
/// assert_eq!(alerts[0].evidence, vec![logins[0].id, logins[1].id]);
///
/// // Say nothing about logins through VPNs or Tor; hosting networks are judged as usual.
/// let rule = GeoAnomaly {
///     anonymous_ip: AnonymousIpAction::Suppress,
///     anonymous_kinds: vec![AnonymousKind::Vpn, AnonymousKind::Tor],
///     ..GeoAnomaly::default()
/// };
/// # drop(rule);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct GeoAnomaly {
    /// How many earlier logins are compared (default 20).
    pub look_back_count: usize,
    /// How far back (default 90 days).
    pub look_back: Duration,
    /// Travel speed above which a hop is impossible (default 900 km/h).
    pub max_speed_kmh: f64,
    /// Hops shorter than this never count (default 50 km).
    pub min_distance_km: f64,
    /// Severity (default high).
    pub severity: Severity,
    /// What a login through an anonymizing network does (default
    /// [`AnonymousIpAction::Mark`]).
    pub anonymous_ip: AnonymousIpAction,
    /// The kinds of network that count as anonymizing for `anonymous_ip` (default all).
    pub anonymous_kinds: Vec<AnonymousKind>,
}

impl Default for GeoAnomaly {
    fn default() -> Self {
        Self {
            look_back_count: 20,
            look_back: Duration::days(90),
            max_speed_kmh: 900.0,
            min_distance_km: 50.0,
            severity: Severity::High,
            anonymous_ip: AnonymousIpAction::Mark,
            anonymous_kinds: AnonymousKind::ALL.to_vec(),
        }
    }
}

impl GeoAnomaly {
    /// The kinds of anonymizing network of `e` that this rule counts (empty when it
    /// ignores them).
    fn anonymous(&self, e: &ActivityEvent) -> Vec<AnonymousKind> {
        if self.anonymous_ip == AnonymousIpAction::Ignore {
            return Vec::new();
        }
        let mut k = anonymous_kinds(e);
        k.retain(|k| self.anonymous_kinds.contains(k));
        k
    }
}

fn kinds_text(kinds: &[AnonymousKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl AlertRule for GeoAnomaly {
    fn id(&self) -> &str {
        "geo_anomaly"
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
        let Some(account) = e.actor_id() else {
            return Ok(Vec::new());
        };
        let Some(geo) = e.source.as_ref().and_then(|s| s.geo.as_ref()) else {
            return Ok(Vec::new());
        };
        let anonymous_now = self.anonymous(e);
        if !anonymous_now.is_empty() && self.anonymous_ip == AnonymousIpAction::Suppress {
            return Ok(Vec::new());
        }
        let logins = ev
            .recent_logins(e, self.look_back_count, self.look_back)
            .await?;
        let mut prev: Vec<&ActivityEvent> = logins.iter().collect();
        if self.anonymous_ip == AnonymousIpAction::Suppress {
            prev.retain(|p| self.anonymous(p).is_empty());
        }
        let mut reasons = Vec::new();
        let mut evidence = vec![e.id];
        let seen: BTreeSet<&str> = prev
            .iter()
            .filter_map(|p| p.source.as_ref()?.geo.as_ref()?.country.as_deref())
            .collect();
        if let Some(c) = geo.country.as_deref() {
            if !seen.is_empty() && !seen.contains(c) {
                reasons.push(format!("first sign-in from country {c}"));
            }
        }
        let mut hop_from = None;
        // The newest earlier login with a location, and that location.
        let last_located = prev.iter().find_map(|p| {
            let g = p.source.as_ref()?.geo.as_ref()?;
            Some((p, g, g.lat?, g.lon?))
        });
        if let (Some((p, pg, plat, plon)), Some(lat), Some(lon)) = (last_located, geo.lat, geo.lon)
        {
            let dist = haversine_km(plat, plon, lat, lon);
            let slack =
                f64::from(pg.accuracy_km.unwrap_or(0)) + f64::from(geo.accuracy_km.unwrap_or(0));
            let hours = (e.time - p.time).num_milliseconds() as f64 / 3_600_000.0;
            let effective = (dist - slack).max(0.0);
            if dist >= self.min_distance_km && effective > 0.0 {
                let speed = if hours <= 0.0 {
                    f64::INFINITY
                } else {
                    effective / hours
                };
                if speed > self.max_speed_kmh {
                    reasons.push(format!(
                        "impossible travel: {dist:.0} km in {:.0} minutes ({speed:.0} km/h)",
                        hours * 60.0
                    ));
                    evidence.insert(0, p.id);
                    hop_from = Some(p);
                }
            }
        }
        if reasons.is_empty() {
            return Ok(Vec::new());
        }
        // Mark: say which logins came through anonymizing networks.
        if !anonymous_now.is_empty() {
            reasons.push(format!(
                "through an anonymous network ({})",
                kinds_text(&anonymous_now)
            ));
        }
        if let Some(p) = hop_from {
            let before = self.anonymous(p);
            if !before.is_empty() {
                reasons.push(format!(
                    "the previous sign-in came through an anonymous network ({})",
                    kinds_text(&before)
                ));
            }
        }
        Ok(vec![alert(
            "geo_anomaly",
            self.severity,
            e,
            account,
            evidence,
            format!("sign-in to {account}: {}", reasons.join("; ")),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::fixtures::{login, run, t0};
    use crate::Geo;

    fn london() -> Geo {
        Geo {
            country: Some("GB".into()),
            city: Some("London".into()),
            lat: Some(51.5142),
            lon: Some(-0.0931),
            accuracy_km: Some(10),
        }
    }
    fn changchun() -> Geo {
        Geo {
            country: Some("CN".into()),
            city: Some("Changchun".into()),
            lat: Some(43.88),
            lon: Some(125.3228),
            accuracy_km: Some(50),
        }
    }
    fn boxford() -> Geo {
        Geo {
            country: Some("GB".into()),
            city: Some("Boxford".into()),
            lat: Some(51.75),
            lon: Some(-1.25),
            accuracy_km: Some(100),
        }
    }

    #[tokio::test]
    async fn impossible_travel_and_a_new_country() {
        let rule = GeoAnomaly::default();
        // London, then Changchun ten minutes later: impossible.
        let v = vec![
            login(t0(), Some("d"), "81.2.69.142", Some(london())),
            login(
                t0() + Duration::minutes(10),
                Some("d"),
                "175.16.199.1",
                Some(changchun()),
            ),
        ];
        let a = run(&rule, &v).await;
        assert_eq!(a.len(), 1);
        assert!(
            a[0].message.contains("impossible travel") && a[0].message.contains("CN"),
            "{}",
            a[0].message
        );
        assert_eq!(a[0].evidence, vec![v[0].id, v[1].id]);
        // London, then Boxford three hours later: fine.
        let v = vec![
            login(t0(), Some("d"), "81.2.69.142", Some(london())),
            login(
                t0() + Duration::hours(3),
                Some("d"),
                "2.125.160.216",
                Some(boxford()),
            ),
        ];
        assert!(run(&rule, &v).await.is_empty());
        // No location (a private address): never.
        let v = vec![
            login(t0(), Some("d"), "81.2.69.142", Some(london())),
            login(t0() + Duration::minutes(1), Some("d"), "10.0.0.1", None),
        ];
        assert!(run(&rule, &v).await.is_empty());
    }

    fn via(e: ActivityEvent, kinds: &[&str]) -> ActivityEvent {
        e.with_detail("ip_anonymous", serde_json::json!(kinds))
    }

    #[tokio::test]
    async fn anonymous_networks_mark_suppress_or_are_ignored() {
        let mark = GeoAnomaly::default();
        let suppress = GeoAnomaly {
            anonymous_ip: AnonymousIpAction::Suppress,
            ..GeoAnomaly::default()
        };
        let ignore = GeoAnomaly {
            anonymous_ip: AnonymousIpAction::Ignore,
            ..GeoAnomaly::default()
        };
        // A new country, reached through a VPN.
        let v = vec![
            login(t0(), Some("d"), "81.2.69.142", Some(london())),
            via(
                login(
                    t0() + Duration::days(1),
                    Some("d"),
                    "175.16.199.1",
                    Some(changchun()),
                ),
                &["vpn", "hosting"],
            ),
        ];
        let a = run(&mark, &v).await;
        assert_eq!(a.len(), 1);
        assert!(
            a[0].message.contains("country CN")
                && a[0]
                    .message
                    .contains("through an anonymous network (vpn, hosting)"),
            "{}",
            a[0].message
        );
        assert!(run(&suppress, &v).await.is_empty());
        let a = run(&ignore, &v).await;
        assert_eq!(a.len(), 1);
        assert!(!a[0].message.contains("anonymous"), "{}", a[0].message);
        // Only the configured kinds count: with Tor only, a VPN login is judged as usual.
        let tor_only = GeoAnomaly {
            anonymous_ip: AnonymousIpAction::Suppress,
            anonymous_kinds: vec![AnonymousKind::Tor],
            ..GeoAnomaly::default()
        };
        assert_eq!(run(&tor_only, &v).await.len(), 1);
        // Through Tor, then from home ten minutes later: the hop starts at the Tor exit.
        let v = vec![
            login(t0(), Some("d"), "81.2.69.142", Some(london())),
            via(
                login(
                    t0() + Duration::hours(5),
                    Some("d"),
                    "175.16.199.1",
                    Some(changchun()),
                ),
                &["tor"],
            ),
            login(
                t0() + Duration::hours(5) + Duration::minutes(10),
                Some("d"),
                "81.2.69.142",
                Some(london()),
            ),
        ];
        let a = run(&mark, &v).await;
        // The Tor login (new country) and the hop back from it are both raised, marked.
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(
            a[1].message.contains("impossible travel")
                && a[1]
                    .message
                    .contains("the previous sign-in came through an anonymous network (tor)"),
            "{}",
            a[1].message
        );
        // Suppressed: the Tor login raises nothing and is not the reference for the next.
        assert!(run(&suppress, &v).await.is_empty());
        // Anything else in details.ip_anonymous is not a kind and does not count.
        let v = vec![
            login(t0(), Some("d"), "81.2.69.142", Some(london())),
            via(
                login(
                    t0() + Duration::days(1),
                    Some("d"),
                    "175.16.199.1",
                    Some(changchun()),
                ),
                &["martian"],
            ),
        ];
        assert_eq!(run(&suppress, &v).await.len(), 1);
    }

    #[test]
    fn distances() {
        let d = haversine_km(51.5142, -0.0931, 43.88, 125.3228);
        assert!((8000.0..8500.0).contains(&d), "{d}");
    }
}
