//! The enricher stages: what the recorder's worker adds to an event before it is sealed,
//! never on the request path.
//!
//! | file | holds |
//! |---|---|
//! | `geo` | [`GeoResolver`], [`GeoEnricher`]: a location for the source address |
//! | `anonymous` | [`AnonymousIpResolver`], [`AnonymousIpEnricher`], [`AnonymousKind`]: VPN, Tor, hosting and proxy addresses |
//! | `maxmind` | `MaxMindResolver`, `MaxMindAnonymousIp` (feature `geoip`): both read from MaxMind databases |
//! | `privacy` | [`IpPrivacy`]: what of the address and location is kept |
//!
//! Stages run in the order they are given to
//! [`RecorderBuilder::enricher`](crate::RecorderBuilder::enricher); put [`IpPrivacy`] last,
//! so that the others see the full address.

use std::net::IpAddr;

mod anonymous;
mod geo;
#[cfg(feature = "geoip")]
mod maxmind;
mod privacy;

pub use anonymous::{
    anonymous_kinds, AnonymousIpEnricher, AnonymousIpResolver, AnonymousKind, ANONYMOUS_IP_DETAIL,
};
pub use geo::{haversine_km, GeoEnricher, GeoResolver};
#[cfg(feature = "geoip")]
pub use maxmind::{MaxMindAnonymousIp, MaxMindResolver};
pub use privacy::{GeoPrecision, IpPrivacy, IpStorage};

/// Whether `ip` is an address that can have a location (not private, loopback,
/// link-local, unspecified, documentation or multicast).
///
/// ```
/// assert!(!activity_core::enrich::is_global(&"10.1.2.3".parse().unwrap()));
/// assert!(!activity_core::enrich::is_global(&"::1".parse().unwrap()));
/// assert!(activity_core::enrich::is_global(&"81.2.69.142".parse().unwrap()));
/// ```
pub fn is_global(ip: &IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}
