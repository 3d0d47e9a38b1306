use super::*;
use proptest::prelude::*;

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(v).unwrap(),
        );
    }
    h
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn lb() -> TrustedProxies {
    TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap()
}

const PEER: &str = "10.0.0.5";

#[test]
fn cidr_walks_from_the_right() {
    let t = lb();
    let h = headers(&[
        ("x-forwarded-for", b"1.1.1.1, 2.2.2.2"),
        ("x-forwarded-for", b"10.0.0.9"),
    ]);
    assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("2.2.2.2"));
    // Untrusted peer: the header is ignored.
    assert_eq!(client_ip(ip("3.3.3.3"), &h, &t), ip("3.3.3.3"));
    // Everything trusted: the leftmost.
    let h = headers(&[("x-forwarded-for", b"10.1.1.1")]);
    assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("10.1.1.1"));
}

#[test]
fn forged_and_malformed_entries() {
    let t = lb();
    let h = headers(&[("x-forwarded-for", b"127.0.0.1, 81.2.69.142")]);
    assert_eq!(client_ip(ip(PEER), &h, &t), ip("81.2.69.142"));
    let h = headers(&[("x-forwarded-for", b"garbage")]);
    assert_eq!(client_ip(ip(PEER), &h, &t), ip(PEER));
    let h = headers(&[("x-forwarded-for", b"81.2.69.142:5555")]);
    assert_eq!(client_ip(ip(PEER), &h, &t), ip("81.2.69.142"));
    let h = headers(&[("x-forwarded-for", b"::ffff:81.2.69.142")]);
    assert_eq!(client_ip(ip(PEER), &h, &t), ip("81.2.69.142"));
}

/// Review A2: the client's `Forwarded` beat the proxy's `X-Forwarded-For`.
#[test]
fn only_the_configured_header_counts() {
    let h = headers(&[
        ("forwarded", b"for=6.6.6.6"),
        ("x-forwarded-for", b"81.2.69.142"),
    ]);
    assert_eq!(client_ip(ip(PEER), &h, &lb()), ip("81.2.69.142"));
    assert_eq!(
        client_ip(ip(PEER), &h, &TrustedProxies::hops(1)),
        ip("81.2.69.142")
    );
    let rfc = lb().header(ForwardedHeader::Forwarded);
    let h = headers(&[
        ("forwarded", b"for=81.2.69.142"),
        ("x-forwarded-for", b"6.6.6.6"),
    ]);
    assert_eq!(client_ip(ip(PEER), &h, &rfc), ip("81.2.69.142"));
    let real = lb().header(ForwardedHeader::Single(HeaderName::from_static(
        "x-real-ip",
    )));
    let h = headers(&[
        ("x-real-ip", b"81.2.69.142"),
        ("x-forwarded-for", b"6.6.6.6"),
    ]);
    assert_eq!(client_ip(ip(PEER), &h, &real), ip("81.2.69.142"));
    // A single-value header with two values was not (only) written by the proxy.
    let h = headers(&[("x-real-ip", b"6.6.6.6"), ("x-real-ip", b"81.2.69.142")]);
    assert_eq!(client_ip(ip(PEER), &h, &real), ip(PEER));
    let h = headers(&[("x-real-ip", b"6.6.6.6, 81.2.69.142")]);
    assert_eq!(client_ip(ip(PEER), &h, &real), ip(PEER));
}

/// Review A14: one non-ASCII byte made the whole header opaque.
#[test]
fn a_non_ascii_element_is_opaque_alone() {
    let h = headers(&[("x-forwarded-for", b"\xff, 81.2.69.142")]);
    assert_eq!(client_ip(ip(PEER), &h, &lb()), ip("81.2.69.142"));
    let h = headers(&[
        ("x-forwarded-for", b"\xff"),
        ("x-forwarded-for", b"81.2.69.142"),
    ]);
    assert_eq!(client_ip(ip(PEER), &h, &lb()), ip("81.2.69.142"));
    let rfc = lb().header(ForwardedHeader::Forwarded);
    let h = headers(&[("forwarded", b"for=\"\xc3\xa9\", for=81.2.69.142")]);
    assert_eq!(client_ip(ip(PEER), &h, &rfc), ip("81.2.69.142"));
}

#[test]
fn unspecified_and_private_addresses_are_never_the_client() {
    for bad in ["0.0.0.0", "::", "[::]:80", "255.255.255.255", "224.0.0.1"] {
        let h = headers(&[("x-forwarded-for", format!("81.2.69.142, {bad}").as_bytes())]);
        assert_eq!(client_ip(ip(PEER), &h, &lb()), ip(PEER), "{bad}");
        assert_eq!(
            client_ip(ip(PEER), &h, &TrustedProxies::hops(1)),
            ip(PEER),
            "{bad}"
        );
    }
    let h = headers(&[("x-forwarded-for", b"81.2.69.142, 192.168.1.7")]);
    assert_eq!(client_ip(ip(PEER), &h, &lb()), ip("192.168.1.7"));
    let strict = lb().reject_private_clients();
    assert_eq!(client_ip(ip(PEER), &h, &strict), ip(PEER));
    let strict_hops = TrustedProxies::hops(1).reject_private_clients();
    assert_eq!(client_ip(ip(PEER), &h, &strict_hops), ip(PEER));
    let h = headers(&[("x-forwarded-for", b"81.2.69.142, 10.9.9.9")]);
    assert_eq!(client_ip(ip(PEER), &h, &strict), ip("81.2.69.142"));
}

#[test]
fn mapped_ranges_match_both_ways() {
    let h = headers(&[("x-forwarded-for", b"81.2.69.142")]);
    let mapped = TrustedProxies::cidrs(["::ffff:10.0.0.0/104"]).unwrap();
    assert_eq!(client_ip(ip(PEER), &h, &mapped), ip("81.2.69.142"));
    assert_eq!(
        client_ip(ip("::ffff:10.0.0.5"), &h, &lb()),
        ip("81.2.69.142")
    );
    let h = headers(&[("x-forwarded-for", b"81.2.69.142, ::ffff:10.0.0.7")]);
    assert_eq!(client_ip(ip(PEER), &h, &mapped), ip("81.2.69.142"));
}

#[test]
fn oversized_headers_keep_the_rightmost_entries() {
    let junk = "9.9.9.9, ".repeat(5000);
    let h = headers(&[("x-forwarded-for", format!("{junk}81.2.69.142").as_bytes())]);
    assert_eq!(client_ip(ip(PEER), &h, &lb()), ip("81.2.69.142"));
}

#[test]
fn forwarded_header() {
    let t = lb().header(ForwardedHeader::Forwarded);
    let h = headers(&[(
        "forwarded",
        b"for=192.0.2.60;proto=http, For=\"[2001:db8:cafe::17]:4711\"",
    )]);
    assert_eq!(client_ip(ip(PEER), &h, &t), ip("2001:db8:cafe::17"));
    for opaque in ["for=unknown", "for=_hidden", "proto=https", "for=\"_x:_y\""] {
        let h = headers(&[("forwarded", format!("for=6.6.6.6, {opaque}").as_bytes())]);
        assert_eq!(client_ip(ip(PEER), &h, &t), ip(PEER), "{opaque}");
    }
}

#[test]
fn hop_count() {
    let h = headers(&[("x-forwarded-for", b"6.6.6.6, 81.2.69.142")]);
    let at = |n| client_ip(ip(PEER), &h, &TrustedProxies::hops(n));
    assert_eq!(at(0), ip(PEER));
    assert_eq!(at(1), ip("81.2.69.142"));
    assert_eq!(at(2), ip("6.6.6.6"));
    assert_eq!(at(5), ip("6.6.6.6"));
    // Lines count in order, as one list.
    let h = headers(&[
        ("x-forwarded-for", b"6.6.6.6"),
        ("x-forwarded-for", b"81.2.69.142"),
    ]);
    assert_eq!(
        client_ip(ip(PEER), &h, &TrustedProxies::hops(1)),
        ip("81.2.69.142")
    );
    assert_eq!(
        client_ip(ip(PEER), &HeaderMap::new(), &TrustedProxies::hops(1)),
        ip(PEER)
    );
    let old = TrustedProxies::Hops(1);
    assert_eq!(old, TrustedProxies::hops(1));
    assert_eq!(TrustedProxies::None, TrustedProxies::none());
}

// Properties: any header, any configuration.

/// Bytes a header value may hold (what hyper accepts): HTAB, visible ASCII, space, obs-text.
fn value_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        8 => proptest::sample::select(b" ,;=\"[]:._\\0123456789abcdefforFORunknown".to_vec()),
        1 => 0x20u8..=0x7e,
        1 => 0x80u8..=0xff,
        1 => Just(b'\t'),
    ];
    proptest::collection::vec(byte, 0..max)
}

fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(value_bytes(80), 0..4)
}

/// An address a client may connect from, outside `10.0.0.0/8`.
fn public_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(|s| IpAddr::from(s).to_canonical()),
    ]
    .prop_filter("a client address", |ip| {
        !trusted::never_a_client(*ip) && !trusted::contains(&["10.0.0.0/8".parse().unwrap()], *ip)
    })
}

fn configs() -> impl Strategy<Value = TrustedProxies> {
    let header = prop_oneof![
        Just(ForwardedHeader::XForwardedFor),
        Just(ForwardedHeader::Forwarded),
        Just(ForwardedHeader::Single(HeaderName::from_static(
            "x-real-ip"
        ))),
    ];
    let trust = prop_oneof![
        Just(TrustedProxies::none()),
        Just(lb()),
        (0usize..40).prop_map(TrustedProxies::hops),
    ];
    (trust, header, any::<bool>()).prop_map(|(t, h, strict)| {
        let t = t.header(h);
        if strict {
            t.reject_private_clients()
        } else {
            t
        }
    })
}

fn map_of(xff: &[Vec<u8>], fwd: &[Vec<u8>], real: &[Vec<u8>]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, lines) in [
        ("x-forwarded-for", xff),
        ("forwarded", fwd),
        ("x-real-ip", real),
    ] {
        for l in lines {
            h.append(name, http::HeaderValue::from_bytes(l).unwrap());
        }
    }
    h
}

/// How a proxy writes the address it saw connect.
fn node_text(ip: IpAddr, port: Option<u16>, syntax: Syntax) -> String {
    match (ip, port, syntax) {
        (IpAddr::V4(v4), None, _) => v4.to_string(),
        (IpAddr::V4(v4), Some(p), _) => format!("{v4}:{p}"),
        (IpAddr::V6(v6), None, Syntax::List) => v6.to_string(),
        (IpAddr::V6(v6), None, Syntax::Forwarded) => format!("\"[{v6}]\""),
        (IpAddr::V6(v6), Some(p), Syntax::List) => format!("[{v6}]:{p}"),
        (IpAddr::V6(v6), Some(p), Syntax::Forwarded) => format!("\"[{v6}]:{p}\""),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// No panic, and at most the limits are walked, whatever the headers.
    #[test]
    fn any_header_any_config(
        xff in lines(), fwd in lines(), real in lines(),
        peer in prop_oneof![Just(ip(PEER)), Just(ip("81.2.69.142")), Just(ip("::ffff:10.0.0.5"))],
        config in configs(),
    ) {
        let h = map_of(&xff, &fwd, &real);
        let got = client_ip(peer, &h, &config);
        prop_assert!(got == peer.to_canonical() || config.trusts_peer(Some(peer)));
        prop_assert!(!trusted::never_a_client(got));
        for syntax in [Syntax::List, Syntax::Forwarded] {
            for lines in [&xff, &fwd] {
                let n = hops_from_right(lines.iter().map(Vec::as_slice), syntax).count();
                prop_assert!(n <= MAX_FORWARDED_ENTRIES + 1);
            }
        }
    }

    /// Behind a trusted proxy that appends what it saw, the address it appended is the
    /// client, whatever the client wrote in the header before (or in another one).
    #[test]
    fn what_the_client_wrote_never_becomes_the_client(
        client_lines in lines(),
        other in lines(),
        real in public_ip(),
        port in proptest::option::of(any::<u16>()),
        same_line in any::<bool>(),
        rfc in any::<bool>(),
        by_hops in any::<bool>(),
    ) {
        let syntax = if rfc { Syntax::Forwarded } else { Syntax::List };
        let mut node = node_text(real, port, syntax);
        if rfc {
            node = format!("for={node};proto=https");
        }
        let mut mine = client_lines.clone();
        match mine.last_mut() {
            // nginx's `$proxy_add_x_forwarded_for`: `<what came>, <peer>` in one line.
            Some(last) if same_line => last.extend_from_slice(format!(", {node}").as_bytes()),
            _ => mine.push(node.into_bytes()),
        }
        let (xff, fwd) = if rfc { (other, mine) } else { (mine, other) };
        let h = map_of(&xff, &fwd, &[]);
        let base = if by_hops { TrustedProxies::hops(1) } else { lb() };
        let header = if rfc { ForwardedHeader::Forwarded } else { ForwardedHeader::XForwardedFor };
        prop_assert_eq!(client_ip(ip(PEER), &h, &base.header(header)), real);
    }
}
