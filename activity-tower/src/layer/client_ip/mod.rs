//! The client's address: the peer, or what trusted proxies write in the one forwarding
//! header they are configured to write (see `docs/client-ip.md`).
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`TrustedProxies`], [`ForwardedHeader`], [`client_ip`]: the walk |
//! | `forwarded.rs` | the header parsers: elements from the right, each on its own |
//! | `trusted.rs` | trusted networks (IPv4 and mapped IPv6 alike), addresses that are never a client |

mod forwarded;
mod trusted;

use std::net::IpAddr;

use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::Error;
use forwarded::{hops_from_right, Hop, Syntax};

/// The most forwarding-header elements examined (from the right); the rest are unknown.
pub const MAX_FORWARDED_ENTRIES: usize = 32;
/// The most bytes of the forwarding header examined (from the right, over all its lines).
pub const MAX_FORWARDED_BYTES: usize = 8 * 1024;

/// The one header the trusted proxies write the client's address into. Only that header
/// is read; any other forwarding header a client sends is ignored.
///
/// ```
/// use activity_tower::layer::ForwardedHeader;
/// use http::HeaderName;
/// // nginx `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`, AWS ALB,
/// // HAProxy `option forwardfor`, Envoy, Traefik (the default):
/// let xff = ForwardedHeader::XForwardedFor;
/// // RFC 7239, written by the proxy (`for=…` of each element):
/// let rfc = ForwardedHeader::Forwarded;
/// // nginx `proxy_set_header X-Real-IP $remote_addr;`, Cloudflare's CF-Connecting-IP:
/// let real = ForwardedHeader::Single(HeaderName::from_static("x-real-ip"));
/// assert_eq!(ForwardedHeader::default(), xff);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`: a comma list the proxies append to (the default).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded`: the `for=` node of each element.
    Forwarded,
    /// A header the proxy sets (replacing what the client sent) to one address. Any
    /// other content (two lines, a list) is not believed.
    Single(HeaderName),
}

/// Which proxies in front of the app may say who the client is, and in which header.
///
/// With [`none`](TrustedProxies::none) (the default) the peer address is the client and
/// forwarding headers are ignored, so a client cannot forge its recorded address. Behind
/// proxies, the client is found in the one [`ForwardedHeader`] they write (default
/// `X-Forwarded-For`), over all its lines in order, from the right:
///
/// - [`cidrs`](TrustedProxies::cidrs): when the peer is in these networks, the rightmost
///   entry outside them is the client;
/// - [`hops`](TrustedProxies::hops): the client is that many entries left of the peer.
///
/// An entry that is malformed, `unknown`, obfuscated (`_hidden`), or an address no
/// client has (`0.0.0.0`, `::`, broadcast, multicast, and with
/// [`reject_private_clients`](TrustedProxies::reject_private_clients) private ones)
/// stops the walk: the last trusted address (a proxy's) is recorded, never anything
/// further left, which the client may have written.
///
/// ```
/// use activity_tower::layer::ForwardedHeader;
/// use activity_tower::TrustedProxies;
/// let lb = TrustedProxies::cidrs(["10.0.0.0/8", "fd00::/8"]).unwrap();
/// let one_hop = TrustedProxies::hops(1).header(ForwardedHeader::Forwarded);
/// assert!(lb.trusts_peer(Some("::ffff:10.1.2.3".parse().unwrap())));
/// assert!(!TrustedProxies::none().trusts_peer(Some("10.1.2.3".parse().unwrap())));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    trust: Trust,
    header: ForwardedHeader,
    reject_private: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Trust {
    #[default]
    Nobody,
    Cidrs(Vec<IpNet>),
    Hops(usize),
}

impl TrustedProxies {
    /// Trust nobody: the peer address is the client (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// Trust proxies whose addresses are in these networks (text such as `10.0.0.0/8`,
    /// `::ffff:10.0.0.0/104` or a single address). IPv4 and IPv4-mapped IPv6 match each
    /// other both ways.
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
        Ok(Self {
            trust: Trust::Cidrs(out),
            ..Self::default()
        })
    }

    /// Trust networks already parsed.
    pub fn nets(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            trust: Trust::Cidrs(nets.into_iter().collect()),
            ..Self::default()
        }
    }

    /// Trust exactly `n` proxies in front of the app: the client is `n` entries left of
    /// the peer. Use only when every request passes through them (a direct connection
    /// could otherwise forge the header). With fewer entries, the leftmost is taken;
    /// `hops(0)` trusts nobody.
    pub fn hops(n: usize) -> Self {
        Self {
            trust: Trust::Hops(n),
            ..Self::default()
        }
    }

    /// The header the trusted proxies write (default [`ForwardedHeader::XForwardedFor`]).
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Never take a private address (loopback, RFC 1918, `100.64.0.0/10`, link-local,
    /// `fc00::/7`) from the header as the client: for apps whose users all come from
    /// the internet, so that an internal address in the header is a proxy's, not the
    /// user's. Default: private clients are accepted (intranet users).
    pub fn reject_private_clients(mut self) -> Self {
        self.reject_private = true;
        self
    }

    /// The header read.
    pub fn forwarded_header(&self) -> &ForwardedHeader {
        &self.header
    }

    /// Whether a request from `peer` came through a trusted proxy: the peer is in the
    /// trusted networks, or a hop count of at least one is configured (every request
    /// passes through the proxies then). `None` (no peer address known) is trusted only
    /// under a hop count. Headers only a proxy may set (the tenant header) are read
    /// only then.
    pub fn trusts_peer(&self, peer: Option<IpAddr>) -> bool {
        match &self.trust {
            Trust::Nobody => false,
            Trust::Cidrs(nets) => peer.is_some_and(|p| trusted::contains(nets, p)),
            Trust::Hops(n) => *n > 0,
        }
    }

    /// Whether `ip`, found in the header, may be recorded as the client.
    fn may_be_client(&self, ip: IpAddr) -> bool {
        let refused =
            trusted::never_a_client(ip) || (self.reject_private && trusted::is_private(ip));
        !refused
    }

    /// The header's elements, from the right.
    fn elements<'h>(&self, headers: &'h HeaderMap) -> impl Iterator<Item = Hop> + 'h {
        let (name, syntax) = match &self.header {
            ForwardedHeader::XForwardedFor => (X_FORWARDED_FOR, Syntax::List),
            ForwardedHeader::Forwarded => (http::header::FORWARDED, Syntax::Forwarded),
            ForwardedHeader::Single(name) => (name.clone(), Syntax::List),
        };
        let lines = headers.get_all(name).into_iter().map(|v| v.as_bytes());
        hops_from_right(lines, syntax)
    }

    /// The one address of a [`ForwardedHeader::Single`] header: exactly one element.
    fn single(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let mut hops = self.elements(headers);
        match (hops.next(), hops.next()) {
            (Some(Hop::Addr(ip)), None) if self.may_be_client(ip) => Some(ip),
            _ => None,
        }
    }

    /// Kept so that code written for the earlier enum compiles: [`TrustedProxies::none`].
    #[doc(hidden)]
    #[allow(non_upper_case_globals)]
    pub const None: TrustedProxies = TrustedProxies {
        trust: Trust::Nobody,
        header: ForwardedHeader::XForwardedFor,
        reject_private: false,
    };

    /// Kept so that code written for the earlier enum compiles: [`TrustedProxies::hops`].
    #[doc(hidden)]
    #[allow(non_snake_case)]
    pub fn Hops(n: usize) -> Self {
        Self::hops(n)
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Resolves the client address from the peer and the headers under `trusted`.
///
/// ```
/// use activity_tower::layer::{client_ip, ForwardedHeader};
/// use activity_tower::TrustedProxies;
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("x-forwarded-for", "6.6.6.6, 81.2.69.142".parse().unwrap());
/// // A client's own `Forwarded` header is not what the proxy writes: ignored.
/// h.insert("forwarded", "for=7.7.7.7".parse().unwrap());
/// let peer = "10.0.0.5".parse().unwrap();
/// let lb = TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap();
/// assert_eq!(client_ip(peer, &h, &lb).to_string(), "81.2.69.142");
/// // Nobody trusted: the headers are ignored.
/// assert_eq!(client_ip(peer, &h, &TrustedProxies::none()), peer);
/// // A proxy that writes RFC 7239 `Forwarded` instead:
/// let rfc = lb.header(ForwardedHeader::Forwarded);
/// assert_eq!(client_ip(peer, &h, &rfc).to_string(), "7.7.7.7");
/// ```
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.trusts_peer(Some(peer)) {
        return peer;
    }
    if let ForwardedHeader::Single(_) = trusted.header {
        return trusted.single(headers).unwrap_or(peer);
    }
    match &trusted.trust {
        Trust::Nobody => peer,
        Trust::Cidrs(nets) => {
            let mut last_trusted = peer;
            for hop in trusted.elements(headers) {
                match hop {
                    Hop::Addr(ip) if trusted::contains(nets, ip) => last_trusted = ip,
                    Hop::Addr(ip) if trusted.may_be_client(ip) => return ip,
                    // Something a trusted proxy would not write as its peer: all that
                    // is known is the last trusted proxy.
                    _ => return last_trusted,
                }
            }
            last_trusted
        }
        Trust::Hops(n) => {
            // The peer is the rightmost proxy; the n-th entry from the right is what
            // the leftmost proxy saw connect. `before` is the entry right of `last`.
            let (mut before, mut last, mut taken) = (peer, peer, 0);
            for hop in trusted.elements(headers).take(*n) {
                match hop {
                    Hop::Addr(ip) if !trusted::never_a_client(ip) => {
                        (before, last) = (last, ip);
                        taken += 1;
                    }
                    _ => return last,
                }
            }
            if taken == 0 || trusted.may_be_client(last) {
                last
            } else {
                before
            }
        }
    }
}

#[cfg(test)]
mod tests;
