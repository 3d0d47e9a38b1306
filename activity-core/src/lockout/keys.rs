//! The ledger keys of the lockout's subjects: one JSON array per key, so that no tenant,
//! account or device id can be read as another's (`["lock","login","acme","bob","new"]`).

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::lockout::AttemptKind;

/// The form an address takes in the ledger: IPv4 whole (IPv4-mapped IPv6 as IPv4), IPv6
/// by its /64 (what one subscriber holds), hashed so that the ledger keeps no address.
pub(crate) fn network(ip: IpAddr) -> String {
    let canonical = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        IpAddr::V4(v4) => v4.to_string(),
    };
    let digest = Sha256::digest(canonical.as_bytes());
    hex::encode(&digest[..16])
}

fn kind_name(kind: AttemptKind) -> &'static str {
    match kind {
        AttemptKind::Mfa => "mfa",
        _ => "login",
    }
}

fn array(parts: &[Option<&str>]) -> String {
    serde_json::to_string(parts).unwrap_or_default()
}

/// The counter of `account` under `kind` for the place `scope` (`any`, `ip:…`, `device:…`,
/// `net:…`, `new`).
pub(crate) fn subject(
    kind: AttemptKind,
    tenant: Option<&str>,
    account: &str,
    scope: &str,
) -> String {
    array(&[
        Some("lock"),
        Some(kind_name(kind)),
        tenant,
        Some(account),
        Some(scope),
    ])
}

/// The kind, tenant and account of a counter's key, if `key` is one.
pub(crate) fn parse_subject(key: &str) -> Option<(AttemptKind, Option<String>, String)> {
    let parts: Vec<Option<String>> = serde_json::from_str(key).ok()?;
    match parts.as_slice() {
        [Some(lock), Some(kind), tenant, Some(account), Some(_)] if lock == "lock" => {
            let kind = match kind.as_str() {
                "mfa" => AttemptKind::Mfa,
                "login" => AttemptKind::Login,
                _ => return None,
            };
            Some((kind, tenant.clone(), account.clone()))
        }
        _ => None,
    }
}

/// The prefix of every counter of `account` under `kind`, whatever the place.
pub(crate) fn subjects_of(kind: AttemptKind, tenant: Option<&str>, account: &str) -> String {
    let mut s = array(&[Some("lock"), Some(kind_name(kind)), tenant, Some(account)]);
    s.pop();
    s.push(',');
    s
}

/// The budget of failed attempts of the network `net` (across tenants and accounts).
pub(crate) fn budget(net: &str) -> String {
    array(&[Some("budget"), Some(net)])
}

/// A device or network `place` (`device:…`, `net:…`) that `account` signed in from.
pub(crate) fn seen(tenant: Option<&str>, account: &str, place: &str) -> String {
    array(&[Some("seen"), tenant, Some(account), Some(place)])
}

/// The link from a handler's account id to the identifier it signs in with.
pub(crate) fn alias(tenant: Option<&str>, id: &str) -> String {
    array(&[Some("alias"), tenant, Some(id)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_be_confused_and_prefixes_cover_only_their_account() {
        let a = subject(AttemptKind::Login, Some("a\",\"b"), "c", "new");
        let b = subject(AttemptKind::Login, Some("a"), "b\",\"c", "new");
        assert_ne!(a, b);
        let bob = subjects_of(AttemptKind::Login, None, "bob");
        assert!(subject(AttemptKind::Login, None, "bob", "new").starts_with(&bob));
        assert!(!subject(AttemptKind::Login, None, "bobby", "new").starts_with(&bob));
        assert!(!subject(AttemptKind::Mfa, None, "bob", "new").starts_with(&bob));
        let parsed = parse_subject(&a).unwrap();
        assert_eq!(parsed.1.as_deref(), Some("a\",\"b"));
        assert_eq!(parsed.2, "c");
        assert!(parse_subject(&budget("10.0.0.0/24")).is_none());
        assert!(parse_subject("not json").is_none());
    }

    #[test]
    fn mapped_and_plain_ipv4_are_one_network_and_an_ipv6_64_is_one() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(network(v4), network(mapped));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(c));
    }
}
