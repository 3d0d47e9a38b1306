//! How source addresses are stored once geo enrichment has used them.
//!
//! Some privacy regimes push operators to keep less than the full address. [`IpPrivacy`]
//! is a recorder [`Enricher`] added *after* geo enrichment: it keeps the address in full
//! (the default, when the stage is not added), truncates it to its /24 (IPv4) or /48
//! (IPv6) network, replaces it with a keyed hash (written in `details.ip_hash`, so equal
//! addresses still correlate), or drops it; and it can coarsen the location to the city
//! or the country.
//!
//! Rules that compare addresses (`failed_logins_ip`) then compare the truncated form, and
//! see no address under `Hash` or `Drop`; choose `Truncate` to keep spraying detection.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::event::ActivityEvent;
use crate::recorder::Enricher;

/// What is kept of the address.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, recorder::Enricher, enrich::GeoPrecision, enrich::IpPrivacy, enrich::IpStorage};
/// let stage = IpPrivacy::new(IpStorage::Hash, GeoPrecision::Full, b"a secret of 16+ bytes").unwrap();
/// let mut e = ActivityEvent::logout(Actor::user("u")).with_ip("81.2.69.142".parse().unwrap());
/// stage.enrich(&mut e);
/// assert!(e.ip().is_none());
/// assert!(e.details.unwrap()["ip_hash"].as_str().unwrap().starts_with("hmac-sha256:"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpStorage {
    /// The full address (default).
    #[default]
    Full,
    /// Its /24 (IPv4) or /48 (IPv6) network address.
    Truncate,
    /// A keyed hash in `details.ip_hash`; the address itself is removed.
    Hash,
    /// Nothing.
    Drop,
}

/// How precise the stored location is.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, recorder::Enricher, Geo, enrich::GeoPrecision, enrich::IpPrivacy, enrich::IpStorage,
///     Source};
/// let london = Geo {
///     country: Some("GB".into()),
///     city: Some("London".into()),
///     lat: Some(51.51),
///     lon: Some(-0.09),
///     accuracy_km: Some(10),
/// };
/// let source = Source::ip("81.2.69.142".parse().unwrap()).with_geo(london);
/// let mut e = ActivityEvent::logout(Actor::user("u")).with_source(source);
/// IpPrivacy::new(IpStorage::Full, GeoPrecision::City, b"0123456789abcdef").unwrap().enrich(&mut e);
/// let geo = e.source.unwrap().geo.unwrap();
/// assert_eq!((geo.city.as_deref(), geo.lat), (Some("London"), None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeoPrecision {
    /// Everything the resolver gave (default).
    #[default]
    Full,
    /// Country and city, no coordinates.
    City,
    /// Country only.
    Country,
}

/// The privacy stage. Add it after the geo enricher.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, recorder::Enricher, enrich::GeoPrecision, enrich::IpPrivacy, enrich::IpStorage};
/// let stage = IpPrivacy::new(IpStorage::Truncate, GeoPrecision::Country, b"0123456789abcdef").unwrap();
/// let mut e = ActivityEvent::logout(Actor::user("u")).with_ip("81.2.69.142".parse().unwrap());
/// stage.enrich(&mut e);
/// assert_eq!(e.ip().unwrap().to_string(), "81.2.69.0");
/// ```
#[derive(Clone)]
pub struct IpPrivacy {
    ip: IpStorage,
    geo: GeoPrecision,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for IpPrivacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpPrivacy")
            .field("ip", &self.ip)
            .field("geo", &self.geo)
            .finish()
    }
}

impl IpPrivacy {
    /// A stage; `key` (16 bytes or more) keys the hash under [`IpStorage::Hash`].
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for a short key.
    pub fn new(ip: IpStorage, geo: GeoPrecision, key: &[u8]) -> crate::Result<Self> {
        if key.len() < 16 {
            return Err(crate::Error::invalid(
                "ip_key",
                crate::Rule::Malformed("at least 16 bytes of secret"),
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| {
            crate::Error::invalid("ip_key", crate::Rule::Malformed("a usable HMAC key"))
        })?;
        Ok(Self { ip, geo, mac })
    }
}

impl Enricher for IpPrivacy {
    fn enrich(&self, event: &mut ActivityEvent) {
        let mut hash = None;
        if let Some(src) = event.source.as_mut() {
            if let Some(ip) = src.ip {
                match self.ip {
                    IpStorage::Full => {}
                    IpStorage::Truncate => {
                        src.ip = Some(match ip.to_canonical() {
                            std::net::IpAddr::V4(v4) => {
                                let o = v4.octets();
                                std::net::Ipv4Addr::new(o[0], o[1], o[2], 0).into()
                            }
                            std::net::IpAddr::V6(v6) => {
                                let s = v6.segments();
                                std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).into()
                            }
                        })
                    }
                    IpStorage::Hash => {
                        let mut m = self.mac.clone();
                        m.update(ip.to_canonical().to_string().as_bytes());
                        hash = Some(format!(
                            "hmac-sha256:{}",
                            hex::encode(m.finalize().into_bytes())
                        ));
                        src.ip = None;
                    }
                    IpStorage::Drop => src.ip = None,
                }
            }
            if let Some(g) = src.geo.as_mut() {
                match self.geo {
                    GeoPrecision::Full => {}
                    GeoPrecision::City => {
                        g.lat = None;
                        g.lon = None;
                        g.accuracy_km = None;
                    }
                    GeoPrecision::Country => {
                        g.city = None;
                        g.lat = None;
                        g.lon = None;
                        g.accuracy_km = None;
                    }
                }
            }
            if src.is_empty() {
                event.source = None;
            }
        }
        if let Some(h) = hash {
            event
                .details
                .get_or_insert_with(Default::default)
                .insert("ip_hash".into(), h.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Geo, Source};

    fn ev() -> ActivityEvent {
        ActivityEvent::logout(Actor::user("u")).with_source(
            Source::ip("2001:db8:1:2:3::9".parse().unwrap()).with_geo(Geo {
                country: Some("GB".into()),
                city: Some("London".into()),
                lat: Some(51.5),
                lon: Some(-0.1),
                accuracy_km: Some(10),
            }),
        )
    }

    #[test]
    fn each_setting() {
        let key = b"0123456789abcdef";
        let mut e = ev();
        IpPrivacy::new(IpStorage::Truncate, GeoPrecision::City, key)
            .unwrap()
            .enrich(&mut e);
        assert_eq!(e.ip().unwrap().to_string(), "2001:db8:1::");
        let g = e.source.as_ref().unwrap().geo.clone().unwrap();
        assert_eq!((g.city.as_deref(), g.lat), (Some("London"), None));

        let (mut a, mut b) = (ev(), ev());
        let s = IpPrivacy::new(IpStorage::Hash, GeoPrecision::Country, key).unwrap();
        s.enrich(&mut a);
        s.enrich(&mut b);
        assert!(a.ip().is_none());
        assert_eq!(
            a.details.as_ref().unwrap()["ip_hash"],
            b.details.as_ref().unwrap()["ip_hash"],
            "correlates"
        );
        assert!(!format!("{a:?}").contains("2001:db8:1:2"));
        assert_eq!(a.source.as_ref().unwrap().geo.as_ref().unwrap().city, None);
        a.validate().unwrap();

        let mut d = ev();
        IpPrivacy::new(IpStorage::Drop, GeoPrecision::Full, key)
            .unwrap()
            .enrich(&mut d);
        assert!(d.ip().is_none());
        assert!(IpPrivacy::new(IpStorage::Drop, GeoPrecision::Full, b"short").is_err());
    }
}
