//! [`CountryRule`]: the countries a sign-in may come from (from the GeoIP database).

use serde::{Deserialize, Serialize};

use crate::access::decision::Reason;

/// What a request whose country is unknown gets (no GeoIP database, an address the
/// database does not know, no address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unknown {
    /// Let it through.
    Allow,
    /// Deny it (`country_denied`).
    Deny,
}

/// Allowed and denied countries, as ISO 3166-1 alpha-2 codes (`GB`, `US`; compared
/// without regard to case). A denied country wins; with an allow list, any other
/// country is denied. An unknown country gets [`unknown`](Self::unknown), by default
/// denied when there is an allow list and allowed when there is only a deny list.
///
/// ```
/// use activity_core::access::{CountryRule, Unknown};
/// let eu = CountryRule { allow: vec!["DE".into(), "FR".into()], ..CountryRule::default() };
/// assert!(eu.permits(Some("de")));
/// assert!(!eu.permits(Some("US")));
/// assert!(!eu.permits(None)); // unknown, with an allow list: denied
/// let no_kp = CountryRule { deny: vec!["KP".into()], ..CountryRule::default() };
/// assert!(no_kp.permits(None));
/// let strict = CountryRule { unknown: Some(Unknown::Deny), ..no_kp };
/// assert!(!strict.permits(None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryRule {
    /// Only these countries (empty: any country not denied).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Never these countries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// What an unknown country gets; see the type's documentation for the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<Unknown>,
}

impl CountryRule {
    /// Whether a request from `country` (`None`: unknown) passes.
    pub fn permits(&self, country: Option<&str>) -> bool {
        let Some(c) = country.filter(|c| !c.is_empty()) else {
            let default = if self.allow.is_empty() {
                Unknown::Allow
            } else {
                Unknown::Deny
            };
            return self.unknown.unwrap_or(default) == Unknown::Allow;
        };
        let listed = |list: &[String]| list.iter().any(|x| x.eq_ignore_ascii_case(c));
        !listed(&self.deny) && (self.allow.is_empty() || listed(&self.allow))
    }

    pub(crate) fn judge(&self, country: Option<&str>) -> Option<Reason> {
        (!self.permits(country)).then_some(Reason::CountryDenied)
    }

    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let valid = |c: &String| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic());
        if self.allow.iter().chain(&self.deny).all(valid) {
            Ok(())
        } else {
            Err("countries are ISO 3166-1 alpha-2 codes such as GB")
        }
    }
}
