//! [`AccessPolicy`] and its [`AccessRule`]s: what an administrator writes.

use serde::{Deserialize, Serialize};

use crate::access::{CountryRule, HoursRule, NetworkRule};
use crate::error::{Error, Result, Rule};

/// One tenant's (or the global) access policy: rules checked in order; a request passes
/// only when every rule that applies to it passes.
///
/// Written as JSON (the CLI's `policy set`, the administrators' view):
///
/// ```
/// use activity_core::access::AccessPolicy;
/// let policy = AccessPolicy::from_json(r#"{"rules": [
///   {"id": "office", "network": {"allow": ["10.0.0.0/8", "2001:db8::/32"]}, "exempt": ["breakglass"]},
///   {"id": "no-kp", "country": {"deny": ["KP"]}},
///   {"id": "contractor-hours", "roles": ["contractor"], "report_only": true,
///    "hours": {"zone": "Europe/Berlin", "windows": [{"days": ["mon","tue","wed","thu","fri"], "from": "08:00", "to": "18:00"}]}}
/// ]}"#)?;
/// assert_eq!(policy.rules.len(), 3);
/// assert!(AccessPolicy::from_json(r#"{"rules": [{"id": "x", "netwrk": {}}]}"#).is_err());
/// # Ok::<(), activity_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicy {
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<AccessRule>,
}

/// One restriction: exactly one of `network`, `country` or `hours`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// The rule's name, unique in its policy; denials and reports name it.
    pub id: String,
    /// Where sign-ins may come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkRule>,
    /// Which countries sign-ins may come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryRule>,
    /// When sign-ins may happen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<HoursRule>,
    /// Only accounts with one of these roles are restricted (empty: every account).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Accounts the rule never applies to (break-glass), as typed identifiers or
    /// account ids; compared in normal form (trimmed, NFKC, lower case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt: Vec<String>,
    /// Record what the rule would deny, without denying it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub report_only: bool,
}

impl AccessRule {
    /// A rule `id` restricting networks.
    pub fn network(id: impl Into<String>, rule: NetworkRule) -> Self {
        Self::new(id, Some(rule), None, None)
    }

    /// A rule `id` restricting countries.
    pub fn country(id: impl Into<String>, rule: CountryRule) -> Self {
        Self::new(id, None, Some(rule), None)
    }

    /// A rule `id` restricting sign-in hours.
    pub fn hours(id: impl Into<String>, rule: HoursRule) -> Self {
        Self::new(id, None, None, Some(rule))
    }

    fn new(
        id: impl Into<String>,
        network: Option<NetworkRule>,
        country: Option<CountryRule>,
        hours: Option<HoursRule>,
    ) -> Self {
        Self {
            id: id.into(),
            network,
            country,
            hours,
            roles: Vec::new(),
            exempt: Vec::new(),
            report_only: false,
        }
    }

    /// Only for accounts with one of `roles`.
    pub fn for_roles(mut self, roles: &[&str]) -> Self {
        self.roles = roles.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    /// Never for `accounts` (break-glass).
    pub fn exempting(mut self, accounts: &[&str]) -> Self {
        self.exempt = accounts.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// Records what it would deny instead of denying.
    pub fn report_only(mut self) -> Self {
        self.report_only = true;
        self
    }
}

impl AccessPolicy {
    /// A policy of `rules`, checked.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn new(rules: Vec<AccessRule>) -> Result<Self> {
        let p = Self { rules };
        p.validate()?;
        Ok(p)
    }

    /// Parses and checks a policy written as JSON.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the problem: not JSON of this shape (unknown fields
    /// included), or a rule that [`validate`](Self::validate) refuses.
    pub fn from_json(text: &str) -> Result<Self> {
        let p: Self = serde_json::from_str(text).map_err(|e| Error::Invalid {
            field: format!("access policy: {e}"),
            rule: Rule::Malformed("an access policy is {\"rules\": [...]}"),
        })?;
        p.validate()?;
        Ok(p)
    }

    /// The policy as JSON (pretty-printed).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks that every rule has a unique, non-empty id and exactly one condition, and
    /// that each condition is well formed.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the rule.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for r in &self.rules {
            let field = format!("access rule {:?}", r.id);
            let bad = |what: &'static str| Error::invalid(field.clone(), Rule::Malformed(what));
            if r.id.trim().is_empty() || r.id.len() > 64 || r.id.chars().any(char::is_control) {
                return Err(bad("a rule id is 1 to 64 printable characters"));
            }
            if !seen.insert(r.id.as_str()) {
                return Err(bad("rule ids are unique in a policy"));
            }
            let conditions = [r.network.is_some(), r.country.is_some(), r.hours.is_some()];
            if conditions.iter().filter(|c| **c).count() != 1 {
                return Err(bad("a rule has exactly one of network, country or hours"));
            }
            if let Some(c) = &r.country {
                c.check().map_err(bad)?;
            }
            if let Some(h) = &r.hours {
                h.check().map_err(bad)?;
            }
        }
        Ok(())
    }
}
