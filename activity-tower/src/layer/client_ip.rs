//! The client's address: the peer, or what trusted proxies say in `X-Forwarded-For` /
//! `Forwarded`.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

use crate::Error;

/// The most forwarded-for entries examined (from the right); the rest are ignored.
pub const MAX_FORWARDED_ENTRIES: usize = 32;
/// The most bytes of forwarding headers examined (from the right).
pub const MAX_FORWARDED_BYTES: usize = 8 * 1024;

/// Which proxies in front of the app may say who the client is.
///
/// With [`None`](TrustedProxies::None) (the default) the peer address is the client and
/// forwarding headers are ignored, so a client cannot forge its recorded address.
///
/// ```
/// use activity_tower::TrustedProxies;
/// let lb = TrustedProxies::cidrs(["10.0.0.0/8", "fd00::/8"]).unwrap();
/// let one_hop = TrustedProxies::Hops(1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TrustedProxies {
    /// Trust nobody: the peer address is the client.
    #[default]
    None,
    /// Trust proxies whose addresses are in these networks. The forwarding chain
    /// (headers, then the peer) is walked from the right; the first address outside
    /// them is the client.
    Cidrs(Vec<IpNet>),
    /// Trust exactly this many proxies in front of the app: the client is that many
    /// entries left of the peer in the chain. Use only when every request passes
    /// through them (a direct connection could otherwise forge the header).
    Hops(usize),
}

impl TrustedProxies {
    /// Trusted networks from text such as `10.0.0.0/8` or a single address.
    ///
    /// # Errors
    /// [`Error::Config`] naming `trusted_proxies` for the first entry that is neither a
    /// network nor an address (the network parser's error is its source).
    pub fn cidrs<'a>(nets: impl IntoIterator<Item = &'a str>) -> Result<Self, Error> {
        let mut out = Vec::new();
        for n in nets {
            let net = match n.parse::<IpNet>() {
                Ok(net) => net,
                Err(e) => n.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    Error::config(
                        "trusted_proxies",
                        format!("not a network or address: {n:?}"),
                    )
                    .with_source(e)
                })?,
            };
            out.push(net);
        }
        Ok(TrustedProxies::Cidrs(out))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            TrustedProxies::Cidrs(nets) => nets.iter().any(|n| n.contains(&ip.to_canonical())),
            _ => false,
        }
    }
}

/// One entry of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Addr(IpAddr),
    /// Malformed, `unknown` or an obfuscated identifier.
    Opaque,
}

fn parse_hop(raw: &str) -> Hop {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Hop::Addr(ip.to_canonical());
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Hop::Addr(sa.ip().to_canonical());
    }
    // `[v6]` without a port.
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if let Ok(ip) = inner.parse::<IpAddr>() {
            return Hop::Addr(ip.to_canonical());
        }
    }
    // IPv4 with a port.
    if let Some((host, port)) = s.rsplit_once(':') {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
                return Hop::Addr(IpAddr::V4(ip));
            }
        }
    }
    Hop::Opaque
}

/// The tail of all values of `name`, joined in order, at most [`MAX_FORWARDED_BYTES`].
fn joined_tail(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut all = String::new();
    for v in headers.get_all(name) {
        // Non-UTF-8 bytes make the header opaque rather than being skipped silently.
        let text = v.to_str().unwrap_or("\u{fffd}");
        if !all.is_empty() {
            all.push(',');
        }
        all.push_str(text);
    }
    if all.is_empty() {
        return None;
    }
    if all.len() > MAX_FORWARDED_BYTES {
        let mut start = all.len() - MAX_FORWARDED_BYTES;
        while !all.is_char_boundary(start) {
            start += 1;
        }
        // Drop the partial entry at the cut.
        let tail = &all[start..];
        let tail = tail.split_once(',').map_or("", |(_, rest)| rest);
        return Some(tail.to_owned());
    }
    Some(all)
}

/// The chain from the headers, left to right, at most [`MAX_FORWARDED_ENTRIES`] from the
/// right. `Forwarded` wins when present (its `for=` parameters); else `X-Forwarded-For`.
fn chain(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops: Vec<Hop> = Vec::new();
    if let Some(fwd) = joined_tail(headers, "forwarded") {
        for element in fwd.split(',').rev().take(MAX_FORWARDED_ENTRIES) {
            let value = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then_some(v)
            });
            hops.push(value.map_or(Hop::Opaque, parse_hop));
        }
    } else if let Some(xff) = joined_tail(headers, "x-forwarded-for") {
        for entry in xff.split(',').rev().take(MAX_FORWARDED_ENTRIES) {
            hops.push(parse_hop(entry));
        }
    }
    hops.reverse();
    hops
}

/// Resolves the client address from the peer and the headers under `trusted`.
///
/// ```
/// use activity_tower::layer::client_ip;
/// use activity_tower::TrustedProxies;
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("x-forwarded-for", "6.6.6.6, 81.2.69.142".parse().unwrap());
/// let peer = "10.0.0.5".parse().unwrap();
/// let lb = TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap();
/// assert_eq!(client_ip(peer, &h, &lb).to_string(), "81.2.69.142");
/// // Nobody trusted: the header is ignored.
/// assert_eq!(client_ip(peer, &h, &TrustedProxies::None), peer);
/// ```
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    match trusted {
        TrustedProxies::None => peer,
        TrustedProxies::Cidrs(_) => {
            if !trusted.trusts(peer) {
                return peer;
            }
            let mut last_trusted = peer;
            for hop in chain(headers).into_iter().rev() {
                match hop {
                    Hop::Addr(ip) if trusted.trusts(ip) => last_trusted = ip,
                    Hop::Addr(ip) => return ip,
                    // Something a trusted proxy would never write: the entry came from
                    // the other side of it, so the proxy's own address is all we know.
                    Hop::Opaque => return last_trusted,
                }
            }
            last_trusted
        }
        TrustedProxies::Hops(n) => {
            let hops = chain(headers);
            if *n == 0 || hops.is_empty() {
                return peer;
            }
            // The chain with the peer at its end; the client is n entries left of it.
            let idx = hops.len().saturating_sub(*n);
            let mut last_good = peer;
            for hop in hops[idx..].iter().rev() {
                match hop {
                    Hop::Addr(ip) => last_good = *ip,
                    Hop::Opaque => return last_good,
                }
            }
            last_good
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_walks_from_the_right() {
        let t = TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap();
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-forwarded-for", "10.0.0.9"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("2.2.2.2"));
        // Untrusted peer: the header is ignored.
        assert_eq!(client_ip(ip("3.3.3.3"), &h, &t), ip("3.3.3.3"));
        // Everything trusted: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.1.1.1")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("10.1.1.1"));
    }

    #[test]
    fn forged_and_malformed_entries() {
        let t = TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap();
        // A client forges "127.0.0.1" on the left; the proxy appends the real address.
        let h = headers(&[("x-forwarded-for", "127.0.0.1, 81.2.69.142")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("81.2.69.142"));
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("10.0.0.1"));
        let h = headers(&[("x-forwarded-for", "81.2.69.142:5555")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("81.2.69.142"));
        let h = headers(&[("x-forwarded-for", "::ffff:81.2.69.142")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("81.2.69.142"));
    }

    #[test]
    fn oversized_headers_keep_the_rightmost_entries() {
        let t = TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap();
        let junk = "9.9.9.9, ".repeat(5000);
        let h = headers(&[("x-forwarded-for", &format!("{junk}81.2.69.142"))]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("81.2.69.142"));
    }

    #[test]
    fn forwarded_header() {
        let t = TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap();
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http, For=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("10.0.0.1"));
    }

    #[test]
    fn hop_count() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 81.2.69.142")]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &TrustedProxies::Hops(1)),
            ip("81.2.69.142")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &TrustedProxies::Hops(2)),
            ip("6.6.6.6")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &TrustedProxies::Hops(5)),
            ip("6.6.6.6")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &TrustedProxies::Hops(1)),
            ip("10.0.0.1")
        );
    }
}
