//! Whether the device cookie is set `Secure`: [`SecureCookie`], the setting, and
//! [`Scheme`], what the server knows about how the client reached it.
//!
//! A `Secure` cookie is never sent over plain HTTP, so a browser talking plain HTTP to a
//! host other than `localhost` (a phone on the LAN, a VM) drops it, and every sign-in
//! then looks like a new device. [`SecureCookie::Auto`], the default, sets `Secure`
//! unless the request is known to have come over plain HTTP.

use std::net::IpAddr;

use http::request::Parts;
use http::HeaderName;

use super::client_ip::{ForwardedHeader, TrustedProxies};

/// `X-Forwarded-Proto`, which proxies set to the scheme the client used.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Whether the device cookie carries `Secure`
/// ([`ActivityLayer::device_cookie_secure`](crate::ActivityLayer::device_cookie_secure)).
///
/// ```
/// use activity_tower::layer::SecureCookie;
/// assert_eq!(SecureCookie::default(), SecureCookie::Auto);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecureCookie {
    /// `Secure` unless the request is known to be plain HTTP: its URI says `http`, a
    /// [trusted proxy](TrustedProxies) says so (`X-Forwarded-Proto: http`, or
    /// `proto=http` in `Forwarded` when that is the configured header), or, from any
    /// other peer, the server says so with a [`Scheme::Http`] request extension (the
    /// setup's `serve` does, since it serves plain HTTP). With no such information it is
    /// `Secure`.
    #[default]
    Auto,
    /// Always `Secure` (an app only ever reached over HTTPS).
    Always,
    /// Never `Secure` (plain-HTTP development only).
    Never,
}

/// How the client reached the server, when the server knows: insert it as a request
/// extension (for [`SecureCookie::Auto`]). A server that terminates TLS itself inserts
/// [`Scheme::Https`]; one that serves plain HTTP with no proxy in front,
/// [`Scheme::Http`].
///
/// ```
/// use activity_tower::layer::Scheme;
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(Scheme::Http);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl SecureCookie {
    /// Whether the device cookie set on the answer to `parts` is `Secure`; `peer` is the
    /// connection's peer address.
    pub(crate) fn secure(
        self,
        parts: &Parts,
        peer: Option<IpAddr>,
        trusted: &TrustedProxies,
    ) -> bool {
        match self {
            SecureCookie::Always => true,
            SecureCookie::Never => false,
            SecureCookie::Auto => scheme(parts, peer, trusted) != Some(Scheme::Http),
        }
    }
}

/// The scheme the client used, when something trustworthy says.
fn scheme(parts: &Parts, peer: Option<IpAddr>, trusted: &TrustedProxies) -> Option<Scheme> {
    if let Some(s) = parts.uri.scheme_str() {
        return parse(s);
    }
    if trusted.trusts_peer(peer) {
        // A trusted proxy that says nothing is taken to be a TLS terminator.
        return Some(forwarded_proto(parts, trusted).unwrap_or(Scheme::Https));
    }
    parts.extensions.get::<Scheme>().copied()
}

/// What the trusted proxy wrote: the rightmost value (the last proxy's), of
/// `X-Forwarded-Proto`, or of `proto=` in `Forwarded` when that is the header they write.
fn forwarded_proto(parts: &Parts, trusted: &TrustedProxies) -> Option<Scheme> {
    let (name, rfc7239) = match trusted.forwarded_header() {
        ForwardedHeader::Forwarded => (http::header::FORWARDED, true),
        _ => (X_FORWARDED_PROTO, false),
    };
    let last = parts.headers.get_all(name).iter().next_back()?;
    let last = last.to_str().ok()?.rsplit(',').next()?.trim();
    if !rfc7239 {
        return parse(last);
    }
    last.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("proto")
            .then(|| parse(v.trim().trim_matches('"')))
            .flatten()
    })
}

fn parse(s: &str) -> Option<Scheme> {
    if s.eq_ignore_ascii_case("https") {
        Some(Scheme::Https)
    } else if s.eq_ignore_ascii_case("http") {
        Some(Scheme::Http)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)], ext: Option<Scheme>) -> Parts {
        let mut b = http::Request::get(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (mut p, ()) = b.body(()).unwrap().into_parts();
        if let Some(s) = ext {
            p.extensions.insert(s);
        }
        p
    }

    #[test]
    fn auto_follows_what_is_known_and_is_secure_otherwise() {
        let none = TrustedProxies::none();
        let lb = TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap();
        let client = Some("203.0.113.7".parse().unwrap());
        let proxy = Some("10.0.0.5".parse().unwrap());
        let auto = |p: &Parts, peer, t: &TrustedProxies| SecureCookie::Auto.secure(p, peer, t);
        // Nothing known: Secure.
        assert!(auto(&parts("/login", &[], None), client, &none));
        // The server says plain HTTP; a client's own header is not believed.
        assert!(!auto(
            &parts("/login", &[], Some(Scheme::Http)),
            client,
            &none
        ));
        let forged = parts("/login", &[("x-forwarded-proto", "http")], None);
        assert!(auto(&forged, client, &none));
        // The URI's scheme (HTTP/2, absolute-form).
        assert!(!auto(&parts("http://h/login", &[], None), client, &none));
        assert!(auto(
            &parts("https://h/login", &[], Some(Scheme::Http)),
            client,
            &none
        ));
        // A trusted proxy: its header, the last value; silent means TLS.
        let plain = parts(
            "/login",
            &[("x-forwarded-proto", "https, http")],
            Some(Scheme::Http),
        );
        assert!(!auto(&plain, proxy, &lb));
        let tls = parts(
            "/login",
            &[("x-forwarded-proto", "HTTPS")],
            Some(Scheme::Http),
        );
        assert!(auto(&tls, proxy, &lb));
        assert!(auto(&parts("/login", &[], Some(Scheme::Http)), proxy, &lb));
        let rfc = TrustedProxies::cidrs(["10.0.0.0/8"])
            .unwrap()
            .header(ForwardedHeader::Forwarded);
        let fwd = parts("/login", &[("forwarded", "for=1.2.3.4;proto=http")], None);
        assert!(!auto(&fwd, proxy, &rfc));
        let fwd = parts(
            "/login",
            &[("forwarded", "for=1.2.3.4;proto=\"https\"")],
            None,
        );
        assert!(auto(&fwd, proxy, &rfc));
        // The fixed settings.
        let p = parts("/login", &[], Some(Scheme::Http));
        assert!(SecureCookie::Always.secure(&p, client, &none));
        assert!(!SecureCookie::Never.secure(&parts("/", &[], None), client, &none));
    }
}
