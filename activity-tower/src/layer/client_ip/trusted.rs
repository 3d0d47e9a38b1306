//! Address tests: whether a trusted network holds an address (IPv4 and IPv4-mapped IPv6
//! alike), and which addresses can never be a client's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Whether one of `nets` holds `ip`, comparing IPv4 and IPv4-mapped IPv6 as the same
/// address: `10.0.0.0/8` holds `::ffff:10.0.0.5`, and `::ffff:10.0.0.0/104` holds
/// `10.0.0.5`.
pub(crate) fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let mapped = match ip {
        IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
        IpAddr::V6(_) => None,
    };
    nets.iter()
        .any(|n| n.contains(&ip) || mapped.is_some_and(|m| n.contains(&m)))
}

/// Addresses no client connects from: unspecified (`0.0.0.0`, `::`), broadcast and
/// multicast.
pub(crate) fn never_a_client(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    }
}

/// Addresses that are not on the public internet: loopback, RFC 1918, shared address
/// space (`100.64.0.0/10`), link-local (v4 and v6), unique local (`fc00::/7`).
pub(crate) fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || shared_v4(v4)
        }
        IpAddr::V6(v6) => v6.is_loopback() || unique_local(v6) || link_local_v6(v6),
    }
}

fn shared_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 100 && (b & 0xc0) == 64
}

fn unique_local(ip: Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xfe00) == 0xfc00
}

fn link_local_v6(ip: Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn mapped_and_plain_ipv4_match_each_other() {
        let mapped = nets(&["::ffff:10.0.0.0/104"]);
        assert!(contains(&mapped, ip("10.0.0.5")));
        assert!(contains(&mapped, ip("::ffff:10.0.0.5")));
        assert!(!contains(&mapped, ip("11.0.0.5")));
        let plain = nets(&["10.0.0.0/8"]);
        assert!(contains(&plain, ip("::ffff:10.0.0.5")));
        assert!(!contains(&plain, ip("::ffff:11.0.0.5")));
        assert!(contains(&nets(&["::/0"]), ip("10.0.0.5")));
        assert!(!contains(&nets(&["2001:db8::/32"]), ip("10.0.0.5")));
    }

    #[test]
    fn classes() {
        for s in [
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "ff02::1",
            "::ffff:0.0.0.0",
        ] {
            assert!(never_a_client(ip(s)), "{s}");
        }
        assert!(!never_a_client(ip("81.2.69.142")));
        for s in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "127.0.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip(s)), "{s}");
        }
        for s in ["81.2.69.142", "100.128.0.1", "2001:db8::1", "192.0.2.1"] {
            assert!(!is_private(ip(s)), "{s}");
        }
    }
}
