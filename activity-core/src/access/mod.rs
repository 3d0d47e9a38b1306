//! Access control policies: where and when the users of a tenant may sign in.
//!
//! An administrator restricts sign-ins by network ([`NetworkRule`]: CIDR allow and deny
//! lists, IPv4 and IPv6), by country ([`CountryRule`], from the GeoIP database, with its
//! own setting for an unknown country) and by time ([`HoursRule`]: days and times in an
//! IANA time zone), optionally only for some roles, with break-glass accounts exempt and
//! rules that only report what they would deny ([`AccessRule::report_only`]). One
//! [`AccessPolicy`] per tenant and one global, kept in an [`AccessPolicyStore`] and
//! decided from memory by [`AccessControl`], which notices changes made through any
//! instance.
//!
//! A denial names its policy, its rule and a stable [`Reason`] code (`ip_denied`,
//! `country_denied`, `outside_hours`).

mod control;
mod country;
mod decision;
mod hours;
mod network;
mod policy;
mod store;
#[cfg(test)]
mod tests;

pub use control::AccessControl;
pub use country::{CountryRule, Unknown};
pub use decision::{AccessRequest, Decision, Denial, PolicySet, Reason};
pub use hours::{Day, HoursRule, TimeOfDay, Window};
pub use network::NetworkRule;
pub use policy::{AccessPolicy, AccessRule};
pub use store::{conflict, AccessPolicyStore, MemoryPolicyStore};
