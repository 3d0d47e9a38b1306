//! An optional anonymous-IP database marks logins that come through a VPN, Tor, a
//! hosting provider or a proxy: [`AnonymousIpEnricher`] writes the kinds found into
//! `details.ip_anonymous` (before any privacy stage removes the address), where the
//! `geo_anomaly` rule reads them to mark or suppress its alert, as configured
//! ([`AnonymousIpAction`](crate::alerts::AnonymousIpAction)). [`MaxMindAnonymousIp`] (feature
//! `geoip`) reads GeoIP2 Anonymous-IP databases.

use std::net::IpAddr;
use std::sync::Arc;

use super::is_global;

use crate::event::ActivityEvent;
use crate::recorder::Enricher;

/// A kind of anonymizing network, as MaxMind's GeoIP2 Anonymous-IP database classifies
/// addresses.
///
/// ```
/// use activity_core::enrich::AnonymousKind;
/// for kind in AnonymousKind::ALL {
///     assert_eq!(AnonymousKind::parse(kind.as_str()), Some(kind));
/// }
/// assert_eq!(AnonymousKind::parse("satellite"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnonymousKind {
    /// An anonymous VPN provider (`vpn`).
    Vpn,
    /// A Tor exit node (`tor`).
    Tor,
    /// A hosting or VPN provider's network (`hosting`).
    Hosting,
    /// A public proxy (`public_proxy`).
    PublicProxy,
    /// A suspected anonymizing network on a residential ISP (`residential_proxy`).
    ResidentialProxy,
    /// Anonymous, with no more specific kind given (`anonymous`).
    Anonymous,
}

impl AnonymousKind {
    /// Every kind.
    pub const ALL: [AnonymousKind; 6] = [
        AnonymousKind::Vpn,
        AnonymousKind::Tor,
        AnonymousKind::Hosting,
        AnonymousKind::PublicProxy,
        AnonymousKind::ResidentialProxy,
        AnonymousKind::Anonymous,
    ];

    /// The name stored in `details.ip_anonymous`.
    ///
    /// ```
    /// use activity_core::enrich::AnonymousKind;
    /// assert_eq!(AnonymousKind::Tor.as_str(), "tor");
    /// assert_eq!(AnonymousKind::parse("public_proxy"), Some(AnonymousKind::PublicProxy));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AnonymousKind::Vpn => "vpn",
            AnonymousKind::Tor => "tor",
            AnonymousKind::Hosting => "hosting",
            AnonymousKind::PublicProxy => "public_proxy",
            AnonymousKind::ResidentialProxy => "residential_proxy",
            AnonymousKind::Anonymous => "anonymous",
        }
    }

    /// The kind of a name written by [`as_str`](Self::as_str).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The `details` key where [`AnonymousIpEnricher`] lists the kinds of anonymizing network
/// a source address belongs to.
pub const ANONYMOUS_IP_DETAIL: &str = "ip_anonymous";

/// Tells whether an address belongs to an anonymizing network.
///
/// `MaxMindAnonymousIp` (feature `geoip`) is the usual one; an application can bring
/// its own and hand it to an [`AnonymousIpEnricher`].
///
/// ```
/// use std::collections::HashSet;
/// use std::net::IpAddr;
/// use activity_core::{enrich::anonymous_kinds, ActivityEvent, Actor, enrich::AnonymousIpEnricher,
///     enrich::AnonymousIpResolver, enrich::AnonymousKind, recorder::Enricher};
///
/// /// A list of Tor exit nodes the application keeps itself.
/// struct TorExits(HashSet<IpAddr>);
///
/// impl AnonymousIpResolver for TorExits {
///     fn anonymous(&self, ip: IpAddr) -> Vec<AnonymousKind> {
///         if self.0.contains(&ip) { vec![AnonymousKind::Tor] } else { Vec::new() }
///     }
/// }
///
/// let exits = TorExits(HashSet::from(["175.16.199.1".parse().unwrap()]));
/// assert!(exits.anonymous("81.2.69.142".parse().unwrap()).is_empty());
/// let mut login = ActivityEvent::login_succeeded(Actor::user("ann"))
///     .with_ip("175.16.199.1".parse().unwrap());
/// AnonymousIpEnricher::new(exits).enrich(&mut login);
/// assert_eq!(anonymous_kinds(&login), vec![AnonymousKind::Tor]);
/// ```
pub trait AnonymousIpResolver: Send + Sync + 'static {
    /// The kinds of anonymizing network `ip` belongs to; empty when none or unknown (and
    /// always for private, loopback and other non-global addresses).
    fn anonymous(&self, ip: IpAddr) -> Vec<AnonymousKind>;
}

/// The kinds listed in an event's `details.ip_anonymous` (names it does not know are
/// skipped), in order, without repeats.
///
/// ```
/// use activity_core::{enrich::anonymous_kinds, ActivityEvent, Actor, enrich::AnonymousKind};
/// let e = ActivityEvent::logout(Actor::user("u"))
///     .with_detail("ip_anonymous", serde_json::json!(["tor", "vpn", "tor", "martian"]));
/// assert_eq!(anonymous_kinds(&e), vec![AnonymousKind::Vpn, AnonymousKind::Tor]);
/// ```
pub fn anonymous_kinds(event: &ActivityEvent) -> Vec<AnonymousKind> {
    let Some(list) = event
        .details
        .as_ref()
        .and_then(|d| d.get(ANONYMOUS_IP_DETAIL))
        .and_then(|v| v.as_array())
    else {
        return Vec::new();
    };
    let mut kinds: Vec<AnonymousKind> = list
        .iter()
        .filter_map(|v| v.as_str().and_then(AnonymousKind::parse))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// The recorder stage that writes `details.ip_anonymous` (a list such as `["vpn",
/// "hosting"]`) for source addresses an [`AnonymousIpResolver`] knows; events from other
/// addresses are left as they are, and so is a list the application set itself. Add it
/// before an [`IpPrivacy`](crate::enrich::IpPrivacy) stage, which may remove the address.
///
/// ```
/// use std::net::IpAddr;
/// use activity_core::{enrich::anonymous_kinds, ActivityEvent, Actor, enrich::AnonymousIpEnricher,
///     enrich::AnonymousIpResolver, enrich::AnonymousKind, recorder::Enricher};
/// struct AllTor;
/// impl AnonymousIpResolver for AllTor {
///     fn anonymous(&self, _ip: IpAddr) -> Vec<AnonymousKind> { vec![AnonymousKind::Tor] }
/// }
/// let mut e = ActivityEvent::logout(Actor::user("u")).with_ip("81.2.69.142".parse().unwrap());
/// AnonymousIpEnricher::new(AllTor).enrich(&mut e);
/// assert_eq!(anonymous_kinds(&e), vec![AnonymousKind::Tor]);
/// let mut private = ActivityEvent::logout(Actor::user("u")).with_ip("10.0.0.1".parse().unwrap());
/// AnonymousIpEnricher::new(AllTor).enrich(&mut private);
/// assert!(private.details.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct AnonymousIpEnricher<R> {
    resolver: Arc<R>,
}

impl<R: AnonymousIpResolver> AnonymousIpEnricher<R> {
    /// An enricher over `resolver`.
    pub fn new(resolver: R) -> Self {
        Self {
            resolver: Arc::new(resolver),
        }
    }

    /// An enricher over a shared resolver (so the app can `reload` it).
    pub fn shared(resolver: Arc<R>) -> Self {
        Self { resolver }
    }
}

impl<R: AnonymousIpResolver> Enricher for AnonymousIpEnricher<R> {
    fn enrich(&self, event: &mut ActivityEvent) {
        let Some(ip) = event.ip().filter(is_global) else {
            return;
        };
        if event
            .details
            .as_ref()
            .is_some_and(|d| d.contains_key(ANONYMOUS_IP_DETAIL))
        {
            return;
        }
        let mut kinds = self.resolver.anonymous(ip);
        if kinds.is_empty() {
            return;
        }
        kinds.sort();
        kinds.dedup();
        let list: Vec<serde_json::Value> = kinds.iter().map(|k| k.as_str().into()).collect();
        event
            .details
            .get_or_insert_with(serde_json::Map::new)
            .insert(ANONYMOUS_IP_DETAIL.into(), list.into());
    }
}
