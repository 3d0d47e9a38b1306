//! Investigation timelines: every event linked to a starting point, in time order, each
//! marked with why it is there.
//!
//! From an anchor (an alert, an event, an account, an address or a device) the timeline
//! collects the linking keys — accounts, source addresses, devices, sessions — and gathers
//! every event sharing one of them within a window around the anchor (±24 h by default).
//! For an account anchor, the addresses, devices and sessions of that account's own events
//! in the window are linking keys too. It does not follow links any further on its own: the other accounts seen from the same
//! address or device are listed as [`Timeline::pivots`], and [`Timeline::pivot`] adds one
//! of them explicitly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result, Rule};
use crate::event::payload::{AlertRaised, Payload};
use crate::event::{Action, ActivityEvent};
use crate::query::ActivityQuery;
use crate::store::ActivityStore;

/// Where a timeline starts.
///
/// ```
/// use activity_core::{timeline::timeline, ActivityEvent, ActivityStore, Actor, timeline::Anchor, MemoryStore, timeline::TimelineOptions};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
/// let failed = ActivityEvent::login_failed(Actor::user("alice")).with_time(t0);
/// store.append(&[
///     failed.clone(),
///     ActivityEvent::logout(Actor::user("alice")).with_time(t0 - Duration::days(3)), // too early
///     ActivityEvent::logout(Actor::user("bob")).with_time(t0), // someone else
/// ]).await.unwrap();
/// let anchor = Anchor::Account { id: "alice".into(), at: t0 };
/// let t = timeline(&store, None, anchor, TimelineOptions::default()).await.unwrap();
/// assert_eq!(t.entries.len(), 1);
/// assert_eq!(t.entries[0].event.id, failed.id);
/// // An alert anchor must be an `alert.raised` event.
/// assert!(timeline(&store, None, Anchor::Alert(failed.id), TimelineOptions::default()).await.is_err());
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// An `alert.raised` event: its evidence events seed the links.
    Alert(Uuid),
    /// Any event: its account, address, device and session seed the links.
    Event(Uuid),
    /// An account (actor id), around a time.
    Account {
        /// The actor id.
        id: String,
        /// The centre of the window.
        at: DateTime<Utc>,
    },
    /// A source address, around a time.
    Ip {
        /// The address.
        ip: IpAddr,
        /// The centre of the window.
        at: DateTime<Utc>,
    },
    /// A device id, around a time.
    Device {
        /// The device id.
        id: String,
        /// The centre of the window.
        at: DateTime<Utc>,
    },
}

/// Why an event is on the timeline.
///
/// ```
/// use std::net::IpAddr;
/// use activity_core::{timeline::timeline, ActivityEvent, ActivityStore, Actor, timeline::Anchor, timeline::Link, MemoryStore, timeline::TimelineOptions};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
/// let ip: IpAddr = "175.16.199.1".parse().unwrap();
/// let alice = ActivityEvent::login_failed(Actor::user("alice")).with_ip(ip).with_time(t0);
/// let bob = ActivityEvent::login_failed(Actor::user("bob")).with_ip(ip).with_time(t0 + Duration::minutes(1));
/// store.append(&[alice.clone(), bob]).await.unwrap();
/// let t = timeline(&store, None, Anchor::Event(alice.id), TimelineOptions::default()).await.unwrap();
/// assert_eq!(t.entries[0].links, vec![Link::Anchor, Link::Account("alice".into()), Link::Ip(ip)]);
/// assert_eq!(t.entries[1].links, vec![Link::Ip(ip)]);
/// assert_eq!(t.entries[1].links[0].to_string(), "same IP 175.16.199.1");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "link", content = "value", rename_all = "snake_case")]
pub enum Link {
    /// It is the anchor itself.
    Anchor,
    /// It is evidence of the anchoring alert.
    Evidence,
    /// Same account (actor id).
    Account(String),
    /// Same source address.
    Ip(IpAddr),
    /// Same device id.
    Device(String),
    /// Same session (hash).
    Session(String),
    /// Added by an explicit pivot to this account.
    Pivot(String),
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Anchor => f.write_str("anchor"),
            Link::Evidence => f.write_str("alert evidence"),
            Link::Account(a) => write!(f, "same account {a}"),
            Link::Ip(ip) => write!(f, "same IP {ip}"),
            Link::Device(d) => write!(f, "same device {d}"),
            Link::Session(s) => write!(f, "same session {}", short(s)),
            Link::Pivot(a) => write!(f, "pivot to account {a}"),
        }
    }
}

fn short(s: &str) -> &str {
    let end = s.char_indices().nth(24).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

/// Settings of a timeline.
///
/// ```
/// use activity_core::{timeline::timeline, ActivityEvent, ActivityStore, Actor, timeline::Anchor, MemoryStore, timeline::TimelineOptions};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
/// let login = ActivityEvent::login_succeeded(Actor::user("alice")).with_time(t0);
/// let later = ActivityEvent::logout(Actor::user("alice")).with_time(t0 + Duration::hours(2));
/// store.append(&[login.clone(), later]).await.unwrap();
/// let narrow = TimelineOptions { before: Duration::hours(1), after: Duration::hours(1), ..TimelineOptions::default() };
/// let t = timeline(&store, None, Anchor::Event(login.id), narrow).await.unwrap();
/// assert_eq!((t.since, t.until, t.entries.len()), (t0 - Duration::hours(1), t0 + Duration::hours(1), 1));
/// let t = timeline(&store, None, Anchor::Event(login.id), TimelineOptions::default()).await.unwrap();
/// assert_eq!(t.entries.len(), 2, "within the default 24 hours");
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineOptions {
    /// How far before the anchor to look (default 24 h).
    pub before: Duration,
    /// How far after the anchor to look (default 24 h).
    pub after: Duration,
    /// The most events gathered for one linking key (default 10,000); a key that hits it
    /// marks the timeline [`truncated`](Timeline::truncated).
    pub max_per_key: usize,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        Self {
            before: Duration::hours(24),
            after: Duration::hours(24),
            max_per_key: 10_000,
        }
    }
}

/// One row of a timeline.
///
/// ```
/// use activity_core::{timeline::timeline, ActivityEvent, ActivityStore, Actor, timeline::Anchor, timeline::Link, MemoryStore, timeline::TimelineOptions};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
/// let failed = ActivityEvent::login_failed(Actor::user("bob")).with_time(t0);
/// let alert = ActivityEvent::alert_raised("failed_logins", "high", &[failed.id]).with_time(t0 + Duration::minutes(1));
/// store.append(&[failed.clone(), alert.clone()]).await.unwrap();
/// let t = timeline(&store, None, Anchor::Alert(alert.id), TimelineOptions::default()).await.unwrap();
/// let (first, second) = (&t.entries[0], &t.entries[1]); // oldest first
/// assert_eq!(first.event.id, failed.id);
/// assert_eq!(first.links, vec![Link::Evidence, Link::Account("bob".into())]);
/// assert_eq!((second.event.id, &second.links), (alert.id, &vec![Link::Anchor]));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// The event.
    pub event: ActivityEvent,
    /// Every reason it is included, sorted.
    pub links: Vec<Link>,
}

/// Another account seen from one of the timeline's addresses or devices, not followed.
///
/// ```
/// use activity_core::{timeline::timeline, ActivityEvent, ActivityStore, Actor, timeline::Anchor, timeline::Link, MemoryStore, timeline::Pivot, Source, timeline::TimelineOptions};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
/// let laptop = Source::ip("2.125.160.216".parse().unwrap()).with_device_id("d_1");
/// store.append(&[
///     ActivityEvent::login_succeeded(Actor::user("alice")).with_source(laptop.clone()).with_time(t0),
///     ActivityEvent::login_succeeded(Actor::user("bob")).with_source(laptop).with_time(t0 + Duration::minutes(5)),
/// ]).await.unwrap();
/// let anchor = Anchor::Account { id: "alice".into(), at: t0 };
/// let t = timeline(&store, None, anchor, TimelineOptions::default()).await.unwrap();
/// let via_device = Pivot { account: "bob".into(), via: Link::Device("d_1".into()) };
/// assert_eq!(t.pivots.len(), 2, "seen from the same address and the same device");
/// assert!(t.pivots.contains(&via_device));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Pivot {
    /// The account (actor id).
    pub account: String,
    /// How it was seen.
    pub via: Link,
}

/// The result: events in time order (oldest first) with their links.
///
/// ```
/// use std::net::IpAddr;
/// use activity_core::{timeline::timeline, ActivityEvent, ActivityStore, Actor, timeline::Anchor, timeline::Link, MemoryStore, timeline::TimelineOptions};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
/// let ip: IpAddr = "2.125.160.216".parse().unwrap();
/// let elsewhere: IpAddr = "81.2.69.142".parse().unwrap();
/// store.append(&[
///     ActivityEvent::login_failed(Actor::user("alice")).with_ip(ip).with_time(t0),
///     ActivityEvent::login_failed(Actor::user("bob")).with_ip(ip).with_time(t0 + Duration::minutes(1)),
///     ActivityEvent::password_changed(Actor::user("bob")).with_ip(elsewhere).with_time(t0 + Duration::minutes(2)),
/// ]).await.unwrap();
/// let anchor = Anchor::Account { id: "alice".into(), at: t0 };
/// let mut t = timeline(&store, None, anchor, TimelineOptions::default()).await.unwrap();
/// assert_eq!((t.entries.len(), t.pivots[0].account.as_str(), t.truncated), (2, "bob", false));
/// t.pivot(&store, "bob").await.unwrap(); // follow bob explicitly
/// assert_eq!(t.entries.len(), 3);
/// assert_eq!(t.entries[2].links, vec![Link::Pivot("bob".into())]);
/// assert!(t.pivots.is_empty());
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// Tenant searched (`None`: all).
    pub tenant: Option<String>,
    /// Window start (inclusive).
    pub since: DateTime<Utc>,
    /// Window end (exclusive).
    pub until: DateTime<Utc>,
    /// The rows, oldest first.
    pub entries: Vec<TimelineEntry>,
    /// Accounts that share an address or device with the timeline but are not followed.
    pub pivots: Vec<Pivot>,
    /// Whether some key had more events than [`TimelineOptions::max_per_key`].
    pub truncated: bool,
    #[serde(skip)]
    options: TimelineOptions,
}

#[derive(Default)]
struct Keys {
    accounts: BTreeSet<String>,
    ips: BTreeSet<IpAddr>,
    devices: BTreeSet<String>,
    sessions: BTreeSet<String>,
}

impl Keys {
    fn add_event(&mut self, e: &ActivityEvent) {
        if let Some(a) = e.actor_id() {
            if e.actor.as_ref().and_then(|a| a.kind.as_deref()) != Some("system") {
                self.accounts.insert(a.to_owned());
            }
        }
        if let Some(ip) = e.ip() {
            self.ips.insert(ip);
        }
        if let Some(d) = e.device_id() {
            self.devices.insert(d.to_owned());
        }
        if let Some(s) = &e.session {
            self.sessions.insert(s.clone());
        }
    }
}

/// Builds the timeline around `anchor` in `tenant` (`None`: every tenant).
///
/// # Errors
/// [`Error::Invalid`] naming `anchor` when the anchoring event or alert is not stored (or
/// is not an alert); the store's errors otherwise.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{timeline::timeline, ActivityEvent, ActivityStore, Actor, timeline::Anchor, MemoryStore, timeline::TimelineOptions};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let login = ActivityEvent::login_failed(Actor::user("bob")).with_ip("175.16.199.1".parse().unwrap());
/// store.append(&[login.clone()]).await.unwrap();
/// let t = timeline(&store, None, Anchor::Event(login.id), TimelineOptions::default()).await.unwrap();
/// assert_eq!(t.entries.len(), 1);
/// # });
/// ```
pub async fn timeline(
    store: &dyn ActivityStore,
    tenant: Option<&str>,
    anchor: Anchor,
    options: TimelineOptions,
) -> Result<Timeline> {
    let mut keys = Keys::default();
    let mut seeds: Vec<(ActivityEvent, Link)> = Vec::new();
    let at = match &anchor {
        Anchor::Alert(id) | Anchor::Event(id) => {
            let event = fetch(store, tenant, *id).await?;
            let at = event.time;
            if matches!(anchor, Anchor::Alert(_)) {
                if event.action != Action::ALERT_RAISED {
                    return Err(Error::invalid(
                        "anchor",
                        Rule::Malformed("an alert.raised event"),
                    ));
                }
                let evidence = evidence_ids(&event);
                if !evidence.is_empty() {
                    let q = ActivityQuery::scoped(tenant)
                        .ids(evidence)
                        .limit(crate::query::MAX_PAGE_SIZE);
                    for e in store.query(&q).await?.events {
                        keys.add_event(&e);
                        seeds.push((e, Link::Evidence));
                    }
                }
            } else {
                keys.add_event(&event);
            }
            seeds.push((event, Link::Anchor));
            at
        }
        Anchor::Account { id, at } => {
            keys.accounts.insert(id.clone());
            *at
        }
        Anchor::Ip { ip, at } => {
            keys.ips.insert(ip.to_canonical());
            *at
        }
        Anchor::Device { id, at } => {
            keys.devices.insert(id.clone());
            *at
        }
    };
    let mut t = Timeline {
        tenant: tenant.map(str::to_owned),
        since: at - options.before,
        until: at + options.after,
        entries: Vec::new(),
        pivots: Vec::new(),
        truncated: false,
        options,
    };
    let mut rows: BTreeMap<Uuid, TimelineEntry> = BTreeMap::new();
    for (event, link) in seeds {
        add(&mut rows, event, link);
    }
    for a in &keys.accounts {
        t.gather(
            store,
            ActivityQuery::scoped(tenant).actor(a.clone()),
            Link::Account(a.clone()),
            &mut rows,
        )
        .await?;
    }
    if matches!(anchor, Anchor::Account { .. }) {
        // An account's own events in the window tell where it was: their addresses,
        // devices and sessions link further events (other accounts stay pivots).
        for r in rows.values() {
            let mut own = Keys::default();
            own.add_event(&r.event);
            keys.ips.extend(own.ips);
            keys.devices.extend(own.devices);
            keys.sessions.extend(own.sessions);
        }
    }
    for ip in &keys.ips {
        t.gather(
            store,
            ActivityQuery::scoped(tenant).ip(*ip),
            Link::Ip(*ip),
            &mut rows,
        )
        .await?;
    }
    for d in &keys.devices {
        t.gather(
            store,
            ActivityQuery::scoped(tenant).device_id(d.clone()),
            Link::Device(d.clone()),
            &mut rows,
        )
        .await?;
    }
    for s in &keys.sessions {
        t.gather(
            store,
            ActivityQuery::scoped(tenant).session(s.clone()),
            Link::Session(s.clone()),
            &mut rows,
        )
        .await?;
    }
    t.finish(rows, &keys);
    Ok(t)
}

async fn fetch(store: &dyn ActivityStore, tenant: Option<&str>, id: Uuid) -> Result<ActivityEvent> {
    store
        .query(&ActivityQuery::scoped(tenant).ids([id]).limit(1))
        .await?
        .events
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid("anchor", Rule::Malformed("the id of a stored event")))
}

/// The evidence ids an `alert.raised` event carries in `details.evidence`.
pub fn evidence_ids(alert: &ActivityEvent) -> Vec<Uuid> {
    AlertRaised::read(alert)
        .map(|raised| {
            let mut ids = raised.evidence;
            ids.truncate(crate::query::MAX_FILTER_VALUES);
            ids
        })
        .unwrap_or_default()
}

fn add(rows: &mut BTreeMap<Uuid, TimelineEntry>, event: ActivityEvent, link: Link) {
    let entry = rows.entry(event.id).or_insert_with(|| TimelineEntry {
        event,
        links: Vec::new(),
    });
    if !entry.links.contains(&link) {
        entry.links.push(link);
        entry.links.sort();
    }
}

impl Timeline {
    async fn gather(
        &mut self,
        store: &dyn ActivityStore,
        query: ActivityQuery,
        link: Link,
        rows: &mut BTreeMap<Uuid, TimelineEntry>,
    ) -> Result<()> {
        let mut pages = crate::query::Pages::new(store, query.since(self.since).until(self.until));
        let mut n = 0;
        while let Some(events) = pages.next().await? {
            for e in events {
                if n == self.options.max_per_key {
                    self.truncated = true;
                    return Ok(());
                }
                n += 1;
                add(rows, e, link.clone());
            }
        }
        Ok(())
    }

    fn finish(&mut self, rows: BTreeMap<Uuid, TimelineEntry>, keys: &Keys) {
        let mut entries: Vec<TimelineEntry> = rows.into_values().collect();
        entries.sort_by_key(|r| (r.event.time, r.event.id));
        let mut pivots = BTreeSet::new();
        for r in &entries {
            let Some(account) = r.event.actor_id() else {
                continue;
            };
            if keys.accounts.contains(account)
                || r.event.actor.as_ref().and_then(|a| a.kind.as_deref()) == Some("system")
            {
                continue;
            }
            for l in &r.links {
                if matches!(l, Link::Ip(_) | Link::Device(_)) {
                    pivots.insert(Pivot {
                        account: account.to_owned(),
                        via: l.clone(),
                    });
                }
            }
        }
        self.pivots = pivots.into_iter().collect();
        self.entries = entries;
    }

    /// Follows one more hop explicitly: adds `account`'s events in the same window,
    /// marked [`Link::Pivot`].
    ///
    /// # Errors
    /// The store's errors.
    pub async fn pivot(&mut self, store: &dyn ActivityStore, account: &str) -> Result<()> {
        let mut rows: BTreeMap<Uuid, TimelineEntry> =
            self.entries.drain(..).map(|r| (r.event.id, r)).collect();
        let tenant = self.tenant.clone();
        self.gather(
            store,
            ActivityQuery::scoped(tenant.as_deref()).actor(account),
            Link::Pivot(account.to_owned()),
            &mut rows,
        )
        .await?;
        let mut keys = Keys::default();
        for r in rows.values() {
            if r.links.iter().any(|l| {
                matches!(
                    l,
                    Link::Anchor | Link::Evidence | Link::Account(_) | Link::Pivot(_)
                )
            }) {
                if let Some(a) = r.event.actor_id() {
                    keys.accounts.insert(a.to_owned());
                }
            }
        }
        self.finish(rows, &keys);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, MemoryStore, Source};
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn alert_timeline_holds_exactly_the_linked_events() {
        let store = MemoryStore::new();
        let spray_ip: IpAddr = "175.16.199.1".parse().unwrap();
        let mut spray = Vec::new();
        for (i, account) in ["alice", "bob", "carol", "dave", "erin"].iter().enumerate() {
            spray.push(
                ActivityEvent::login_failed(Actor::user(*account))
                    .with_reason("bad_password")
                    .with_time(t0() + Duration::seconds(i as i64))
                    .with_source(Source::ip(spray_ip)),
            );
        }
        // The attacker gets into carol from a new device, then changes her MFA.
        let breach = ActivityEvent::login_succeeded(Actor::user("carol"))
            .with_time(t0() + Duration::minutes(5))
            .with_source(Source::ip(spray_ip).with_device_id("d_evil"))
            .with_session("hmac-sha256:evil");
        let mfa = ActivityEvent::mfa_updated(Actor::user("carol"))
            .with_time(t0() + Duration::minutes(6))
            .with_source(Source::ip("89.160.20.112".parse().unwrap()).with_device_id("d_evil"))
            .with_session("hmac-sha256:evil");
        // Background that must stay out: other people, other places, or too long ago.
        let noise = vec![
            ActivityEvent::login_succeeded(Actor::user("frank"))
                .with_time(t0() + Duration::minutes(1))
                .with_source(Source::ip("81.2.69.142".parse().unwrap()).with_device_id("d_frank")),
            ActivityEvent::login_succeeded(Actor::user("carol"))
                .with_time(t0() - Duration::days(3))
                .with_source(Source::ip("81.2.69.142".parse().unwrap())),
            ActivityEvent::login_failed(Actor::user("grace"))
                .with_time(t0() + Duration::hours(30))
                .with_source(Source::ip(spray_ip)),
        ];
        let alert = ActivityEvent::alert_raised(
            "failed_logins_ip",
            "high",
            &spray.iter().map(|e| e.id).collect::<Vec<_>>(),
        )
        .with_time(t0() + Duration::seconds(10));
        let mut all = spray.clone();
        all.extend([breach.clone(), mfa.clone(), alert.clone()]);
        all.extend(noise.clone());
        store.append(&all).await.unwrap();

        let t = timeline(
            &store,
            None,
            Anchor::Alert(alert.id),
            TimelineOptions::default(),
        )
        .await
        .unwrap();
        let got: BTreeSet<Uuid> = t.entries.iter().map(|r| r.event.id).collect();
        let mut want: BTreeSet<Uuid> = spray.iter().map(|e| e.id).collect();
        want.extend([breach.id, mfa.id, alert.id]);
        assert_eq!(got, want);
        assert!(t
            .entries
            .windows(2)
            .all(|w| w[0].event.time <= w[1].event.time));
        let row = |id| t.entries.iter().find(|r| r.event.id == id).unwrap();
        assert_eq!(row(alert.id).links, vec![Link::Anchor]);
        assert!(row(spray[0].id).links.contains(&Link::Evidence));
        assert!(row(breach.id).links.contains(&Link::Ip(spray_ip)));
        assert!(row(mfa.id).links.contains(&Link::Account("carol".into())));
        assert!(
            t.pivots.is_empty(),
            "every account here is evidence: {:?}",
            t.pivots
        );
        assert!(!t.truncated);
    }

    #[tokio::test]
    async fn pivots_are_listed_and_followed_only_on_request() {
        let store = MemoryStore::new();
        let ip: IpAddr = "2.125.160.216".parse().unwrap();
        let mine = ActivityEvent::login_failed(Actor::user("alice"))
            .with_time(t0())
            .with_source(Source::ip(ip));
        let other_here = ActivityEvent::login_failed(Actor::user("bob"))
            .with_time(t0() + Duration::minutes(1))
            .with_source(Source::ip(ip));
        let other_elsewhere = ActivityEvent::password_changed(Actor::user("bob"))
            .with_time(t0() + Duration::minutes(2))
            .with_source(Source::ip("81.2.69.142".parse().unwrap()));
        store
            .append(&[mine.clone(), other_here.clone(), other_elsewhere.clone()])
            .await
            .unwrap();
        let mut t = timeline(
            &store,
            None,
            Anchor::Account {
                id: "alice".into(),
                at: t0(),
            },
            TimelineOptions::default(),
        )
        .await
        .unwrap();
        let ids: Vec<Uuid> = t.entries.iter().map(|r| r.event.id).collect();
        assert_eq!(ids, vec![mine.id, other_here.id]);
        assert_eq!(
            t.pivots,
            vec![Pivot {
                account: "bob".into(),
                via: Link::Ip(ip)
            }]
        );
        t.pivot(&store, "bob").await.unwrap();
        let ids: Vec<Uuid> = t.entries.iter().map(|r| r.event.id).collect();
        assert_eq!(ids, vec![mine.id, other_here.id, other_elsewhere.id]);
        assert!(t.entries[2].links.contains(&Link::Pivot("bob".into())));
        assert!(t.pivots.is_empty());
    }

    #[tokio::test]
    async fn windows_bound_the_search_and_tenants_do_not_mix() {
        let store = MemoryStore::new();
        let a = ActivityEvent::logout(Actor::user("u"))
            .with_tenant("a")
            .with_time(t0());
        let b = ActivityEvent::logout(Actor::user("u"))
            .with_tenant("b")
            .with_time(t0());
        let late = ActivityEvent::logout(Actor::user("u"))
            .with_tenant("a")
            .with_time(t0() + Duration::hours(2));
        store
            .append(&[a.clone(), b.clone(), late.clone()])
            .await
            .unwrap();
        let opts = TimelineOptions {
            before: Duration::hours(1),
            after: Duration::hours(1),
            ..TimelineOptions::default()
        };
        let t = timeline(&store, Some("a"), Anchor::Event(a.id), opts)
            .await
            .unwrap();
        assert_eq!(t.entries.len(), 1);
        assert!(timeline(&store, Some("a"), Anchor::Event(b.id), opts)
            .await
            .is_err());
        assert!(timeline(&store, Some("a"), Anchor::Alert(a.id), opts)
            .await
            .is_err());
    }
}
