//! [`NetworkRule`]: the addresses a sign-in may come from.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::access::decision::Reason;

/// Allowed and denied networks (CIDRs, IPv4 and IPv6). A denied network wins over an
/// allowed one; with an allow list, an address outside it is denied, and so is a request
/// whose address is unknown (it cannot be shown to be inside).
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are judged as the IPv4 address.
///
/// ```
/// use activity_core::access::NetworkRule;
/// let office = NetworkRule {
///     allow: vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()],
///     deny: vec!["10.6.6.0/24".parse().unwrap()],
/// };
/// assert!(office.permits(Some("10.1.2.3".parse().unwrap())));
/// assert!(office.permits(Some("::ffff:10.1.2.3".parse().unwrap())));
/// assert!(office.permits(Some("2001:db8::1".parse().unwrap())));
/// assert!(!office.permits(Some("10.6.6.6".parse().unwrap()))); // deny wins
/// assert!(!office.permits(Some("192.0.2.1".parse().unwrap())));
/// assert!(!office.permits(None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRule {
    /// Only these networks (empty: any address not denied).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<IpNet>,
    /// Never these networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<IpNet>,
}

impl NetworkRule {
    /// Whether a request from `ip` passes.
    pub fn permits(&self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip.map(canonical) else {
            return self.allow.is_empty();
        };
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip))
    }

    pub(crate) fn judge(&self, ip: Option<IpAddr>) -> Option<Reason> {
        (!self.permits(ip)).then_some(Reason::IpDenied)
    }
}

/// `ip`, with an IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
