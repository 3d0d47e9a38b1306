//! The administrators' Policies section: the access policies in force for the viewer's
//! tenant (and the global one every tenant is under), a change to the tenant's policy,
//! and a test of a request against them.
//!
//! A change is the views' one state-changing request with a body: it is CSRF-checked
//! like Unlock, its body is read up to [`MAX_BODY`] bytes, the policy is validated by
//! [`AccessPolicy::from_json`], and [`AccessControl::set`] records it as
//! `admin.config.changed` (old and new policy, by the administrator) before it is in
//! force — no change without its record.

use std::net::IpAddr;

use activity_core::access::{AccessControl, AccessPolicy, AccessRequest, Decision};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::access::Viewer;
use super::params::Params;
use crate::Error;

/// The longest policy body a change reads, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// The query parameters of a test.
pub(crate) const TEST_KEYS: &[&str] = &["ip", "at", "account", "role", "country"];

/// What the section shows: the version in force, the viewer's tenant's policy (for an
/// app without tenants, the global one), and, for a tenant, the global policy above it.
pub(crate) fn listing(control: &AccessControl, viewer: &Viewer) -> Value {
    let set = control.policies();
    let tenant = viewer.tenant.as_deref();
    let mut out = json!({
        "tenant": tenant,
        "version": set.version,
        "policy": set.policy(tenant),
    });
    if tenant.is_some() {
        out["global"] = json!(set.global);
    }
    out
}

/// The policy a change's body holds: a policy's JSON, or an empty body or `null` to
/// remove the tenant's policy.
pub(crate) fn parse_change(body: &[u8]) -> Result<Option<AccessPolicy>, Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::param("body", "not UTF-8"))?;
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return Ok(None);
    }
    Ok(Some(AccessPolicy::from_json(text)?))
}

/// The decision on the request a test describes, in the viewer's tenant: `ip`, `at`
/// (RFC 3339; default now), `account`, `role` (repeated or comma-separated) and
/// `country` (ISO code), each optional.
pub(crate) fn test(
    control: &AccessControl,
    viewer: &Viewer,
    params: &Params,
) -> Result<Value, Error> {
    let ip = match params.one("ip")? {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<IpAddr>()
                .map_err(|_| Error::param("ip", "not an IP address"))?,
        ),
    };
    let at = match params.one("at")? {
        None | Some("") => control.now(),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|_| Error::param("at", "expected an RFC 3339 time"))?
            .with_timezone(&Utc),
    };
    let account = params.one("account")?.filter(|a| !a.is_empty());
    if account.is_some_and(|a| a.len() > activity_core::limits::ID) {
        return Err(Error::param("account", "too long"));
    }
    let country = params.one("country")?.filter(|c| !c.is_empty());
    if country.is_some_and(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic())) {
        return Err(Error::param("country", "expected a two-letter ISO code"));
    }
    let country = country.map(str::to_ascii_uppercase);
    let roles: Vec<String> = params
        .all("role")
        .into_iter()
        .flat_map(|r| r.split(','))
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let decision = control.decide(&AccessRequest {
        tenant: viewer.tenant.as_deref(),
        account,
        roles: &roles,
        ip,
        country: country.as_deref(),
        at,
    });
    Ok(shown(&decision, at))
}

fn shown(d: &Decision, at: DateTime<Utc>) -> Value {
    json!({
        "allowed": d.allowed(),
        "at": at,
        "denied": d.denied,
        "reported": d.reported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_body_is_a_policy_or_a_removal_and_nothing_else() {
        assert_eq!(parse_change(b"").unwrap(), None);
        assert_eq!(parse_change(b" null \n").unwrap(), None);
        assert!(matches!(
            parse_change(&[0xff, 0xfe]),
            Err(Error::BadParam { .. })
        ));
        let e = parse_change(br#"{"rules":[{"id":"x"}]}"#).unwrap_err();
        assert_eq!(e.code(), "invalid", "{e}");
        let ok = parse_change(br#"{"rules":[{"id":"office","network":{"allow":["10.0.0.0/8"]}}]}"#)
            .unwrap()
            .unwrap();
        assert_eq!(ok.rules.len(), 1);
    }
}
