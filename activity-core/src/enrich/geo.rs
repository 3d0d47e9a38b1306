//! Geo enrichment: a [`GeoResolver`] turns a source address into a location, and
//! [`GeoEnricher`] runs it in the recorder's worker — never on the request path.
//!
//! [`MaxMindResolver`] (feature `geoip`) reads GeoIP2 / GeoLite2 City databases with the
//! `maxminddb` crate. A corrupt or wrong-type file is refused when opened, with a clear
//! error, and never causes a panic later; [`MaxMindResolver::reload`] swaps in a new file
//! without interrupting lookups. Memory-mapping is not offered: `maxminddb`'s mmap
//! constructor is `unsafe` and this crate forbids unsafe code, so the file is read into
//! memory (a GeoLite2 City database is about 70 MB).
//!

use std::net::IpAddr;
use std::sync::Arc;

use super::is_global;

use crate::event::{ActivityEvent, Geo};
use crate::recorder::Enricher;

/// Resolves addresses to locations.
///
/// `MaxMindResolver` (feature `geoip`) is the usual one; an application can bring its
/// own and hand it to a [`GeoEnricher`].
///
/// ```
/// use std::net::IpAddr;
/// use activity_core::{Geo, enrich::GeoResolver};
///
/// /// Knows the company's London office network, 81.2.69.0/24.
/// struct Offices;
///
/// impl GeoResolver for Offices {
///     fn resolve(&self, ip: IpAddr) -> Option<Geo> {
///         let IpAddr::V4(v4) = ip.to_canonical() else { return None };
///         (v4.octets()[..3] == [81, 2, 69]).then(|| Geo {
///             country: Some("GB".into()),
///             city: Some("London".into()),
///             ..Geo::default()
///         })
///     }
/// }
///
/// let london = Offices.resolve("81.2.69.142".parse().unwrap()).unwrap();
/// assert_eq!(london.city.as_deref(), Some("London"));
/// assert!(Offices.resolve("175.16.199.1".parse().unwrap()).is_none());
/// ```
pub trait GeoResolver: Send + Sync + 'static {
    /// The location of `ip`, or `None` when unknown (and always for private, loopback
    /// and other non-global addresses).
    fn resolve(&self, ip: IpAddr) -> Option<Geo>;
}

/// One resolver shared by several users (the enricher and the access policies' country
/// rules read the same database).
impl<R: GeoResolver + ?Sized> GeoResolver for std::sync::Arc<R> {
    fn resolve(&self, ip: IpAddr) -> Option<Geo> {
        (**self).resolve(ip)
    }
}

/// The recorder stage that fills `source.geo` from a resolver.
///
/// ```
/// use std::net::IpAddr;
/// use activity_core::{ActivityEvent, Actor, recorder::Enricher, Geo, enrich::GeoEnricher, enrich::GeoResolver};
/// struct Fixed;
/// impl GeoResolver for Fixed {
///     fn resolve(&self, _ip: IpAddr) -> Option<Geo> { Some(Geo { country: Some("GB".into()), ..Geo::default() }) }
/// }
/// let mut e = ActivityEvent::logout(Actor::user("u")).with_ip("81.2.69.142".parse().unwrap());
/// GeoEnricher::new(Fixed).enrich(&mut e);
/// assert_eq!(e.source.unwrap().geo.unwrap().country.as_deref(), Some("GB"));
/// ```
#[derive(Debug, Clone)]
pub struct GeoEnricher<R> {
    resolver: Arc<R>,
}

impl<R: GeoResolver> GeoEnricher<R> {
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

impl<R: GeoResolver> Enricher for GeoEnricher<R> {
    fn enrich(&self, event: &mut ActivityEvent) {
        let Some(source) = event.source.as_mut() else {
            return;
        };
        if source.geo.is_some() {
            return;
        }
        if let Some(ip) = source.ip.filter(is_global) {
            source.geo = self.resolver.resolve(ip);
        }
    }
}

/// Great-circle distance in km between two points given in degrees (a sphere of radius
/// 6,371 km).
///
/// ```
/// let london_to_paris = activity_core::enrich::haversine_km(51.5074, -0.1278, 48.8566, 2.3522);
/// assert!((london_to_paris - 343.5).abs() < 1.0);
/// ```
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().asin()
}
