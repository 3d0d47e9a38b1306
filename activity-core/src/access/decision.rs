//! [`PolicySet::decide`]: the decision on one request, with the rule that made it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::AccessPolicy;
use crate::event::Normalize;

/// Why a rule denies, as the stable code the HTTP answer and the event carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The address is outside the allowed networks or inside a denied one.
    IpDenied,
    /// The country is not allowed (or unknown, where unknown is denied).
    CountryDenied,
    /// Outside the sign-in hours.
    OutsideHours,
}

impl Reason {
    /// The code: `ip_denied`, `country_denied` or `outside_hours`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::IpDenied => "ip_denied",
            Reason::CountryDenied => "country_denied",
            Reason::OutsideHours => "outside_hours",
        }
    }
}

/// What a decision is taken on.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// The tenant, if the app has several.
    pub tenant: Option<&'a str>,
    /// The account (typed identifier or account id), if known.
    pub account: Option<&'a str>,
    /// The account's roles, if known (rules limited to roles apply only when one matches).
    pub roles: &'a [String],
    /// The client address.
    pub ip: Option<IpAddr>,
    /// The address's country (ISO code), if known.
    pub country: Option<&'a str>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A rule that denied (or, report-only, would have denied) a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// The tenant whose policy it is; `None`: the global policy.
    pub policy: Option<String>,
    /// The rule's id.
    pub rule: String,
    /// Why.
    pub reason: Reason,
    /// For an hours rule: the request's local time in the rule's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_time: Option<String>,
}

/// The decision on one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// The enforced rule that denies it, if any (the first, in order: the global
    /// policy's rules, then the tenant's).
    pub denied: Option<Denial>,
    /// Report-only rules that would have denied it.
    pub reported: Vec<Denial>,
}

impl Decision {
    /// Whether the request may go on.
    pub fn allowed(&self) -> bool {
        self.denied.is_none()
    }
}

/// Every policy in force, as one version of what the store holds.
///
/// ```
/// use activity_core::access::{AccessPolicy, AccessRequest, AccessRule, NetworkRule, PolicySet, Reason};
/// use activity_core::event::DefaultNormalizer;
/// let office = NetworkRule { allow: vec!["10.0.0.0/8".parse().unwrap()], deny: vec![] };
/// let mut set = PolicySet::default();
/// set.tenants.insert("acme".into(), AccessPolicy::new(vec![
///     AccessRule::network("office", office).exempting(&["Root@Acme.example"]),
/// ])?);
/// let req = |account| AccessRequest {
///     tenant: Some("acme"), account: Some(account), roles: &[],
///     ip: Some("192.0.2.7".parse().unwrap()), country: None, at: chrono::Utc::now(),
/// };
/// let d = set.decide(&req("alice"), &DefaultNormalizer);
/// assert_eq!(d.denied.unwrap().reason, Reason::IpDenied);
/// assert!(set.decide(&req("root@acme.example"), &DefaultNormalizer).allowed()); // break-glass
/// assert!(set.decide(&AccessRequest { tenant: Some("other"), ..req("alice") }, &DefaultNormalizer).allowed());
/// # Ok::<(), activity_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySet {
    /// The store's version of this set (grows with every change).
    pub version: u64,
    /// The policy every tenant is under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<AccessPolicy>,
    /// Each tenant's own policy (for an app without tenants, use the global one).
    #[serde(default)]
    pub tenants: BTreeMap<String, AccessPolicy>,
}

impl PolicySet {
    /// Whether no policy has any rule (every request is allowed without looking).
    pub fn is_empty(&self) -> bool {
        self.global.as_ref().is_none_or(|p| p.rules.is_empty())
            && self.tenants.values().all(|p| p.rules.is_empty())
    }

    /// The policy of `tenant` (`None`: the global one).
    pub fn policy(&self, tenant: Option<&str>) -> Option<&AccessPolicy> {
        match tenant {
            None => self.global.as_ref(),
            Some(t) => self.tenants.get(t),
        }
    }

    /// The decision on `req`; exemptions are compared after `normalizer`.
    pub fn decide(&self, req: &AccessRequest<'_>, normalizer: &dyn Normalize) -> Decision {
        let mut decision = Decision::default();
        let account = req.account.and_then(|a| normalizer.normalize(a));
        let scopes = [
            (None, self.global.as_ref()),
            (req.tenant, req.tenant.and_then(|t| self.tenants.get(t))),
        ];
        for (scope, policy) in scopes {
            let Some(policy) = policy else { continue };
            for rule in &policy.rules {
                let exempt = account.as_deref().is_some_and(|a| {
                    rule.exempt
                        .iter()
                        .any(|x| normalizer.normalize(x).as_deref() == Some(a))
                });
                let in_role =
                    rule.roles.is_empty() || rule.roles.iter().any(|r| req.roles.contains(r));
                if exempt || !in_role {
                    continue;
                }
                let reason = match (&rule.network, &rule.country, &rule.hours) {
                    (Some(n), _, _) => n.judge(req.ip),
                    (_, Some(c), _) => c.judge(req.country),
                    (_, _, Some(h)) => h.judge(req.at),
                    _ => None,
                };
                let Some(reason) = reason else { continue };
                let denial = Denial {
                    policy: scope.map(str::to_owned),
                    rule: rule.id.clone(),
                    reason,
                    local_time: rule.hours.as_ref().map(|h| h.local_time(req.at)),
                };
                if rule.report_only {
                    decision.reported.push(denial);
                } else if decision.denied.is_none() {
                    decision.denied = Some(denial);
                }
            }
        }
        decision
    }
}
