//! Retention: how long each tenant's events are kept, legal holds, and the purge job.
//!
//! The product's tiers are presets — Small Business 90 days, Medium Business 1 year,
//! Enterprise 7 years — and any tenant may have a custom number of days instead. A tenant
//! under legal hold is never purged. The [`Purger`] deletes expired events in bounded
//! batches (so concurrent writers wait at most one small batch), can run once or on an
//! interval, supports a dry run, records each run as an `audit.purged` event, and keeps
//! its last report for operators to see.
//!
//! On a store that partitions by time (PostgreSQL), the purger first drops the whole
//! partitions that every tenant's retention has passed (when no stored tenant is under
//! legal hold), then deletes the remaining expired rows.
//!
//! With [`Purger::require_archive`], it refuses to delete anything while some expired
//! event lies in no verified archive of the configured directory
//! ([`Error::NotArchived`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Rule};

mod purger;
#[cfg(test)]
mod tests;

pub use purger::{PurgeReport, Purger, TenantPurge};

/// The product's retention tiers.
///
/// ```
/// use activity_core::retention::Tier;
/// assert_eq!(Tier::parse("small_business").unwrap().days(), 90);
/// assert_eq!(Tier::MediumBusiness.days(), 365);
/// assert_eq!(Tier::Enterprise.days(), 7 * 365 + 2, "seven years, leap days included");
/// assert!(Tier::parse("gold").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 90 days.
    SmallBusiness,
    /// 1 year.
    MediumBusiness,
    /// 7 years.
    Enterprise,
}

impl Tier {
    /// Parses `small_business`, `medium_business` or `enterprise`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `tier`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "small_business" => Ok(Tier::SmallBusiness),
            "medium_business" => Ok(Tier::MediumBusiness),
            "enterprise" => Ok(Tier::Enterprise),
            _ => Err(Error::invalid(
                "tier",
                Rule::Unknown("small_business, medium_business, enterprise"),
            )),
        }
    }

    /// The tier's retention.
    pub fn days(self) -> u32 {
        match self {
            Tier::SmallBusiness => 90,
            Tier::MediumBusiness => 365,
            Tier::Enterprise => 7 * 365 + 2,
        }
    }
}

/// How long a tenant's events are kept.
///
/// ```
/// use activity_core::{retention::Retention, retention::Tier};
/// use chrono::Duration;
/// assert_eq!(Retention::Tier(Tier::SmallBusiness).duration(), Duration::days(90));
/// assert_eq!(Retention::Days(30).duration(), Duration::days(30));
/// assert_eq!(Retention::Days(0).duration(), Duration::days(1), "at least a day");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// A tier's preset.
    Tier(Tier),
    /// A custom number of days (at least 1).
    Days(u32),
}

impl Retention {
    /// The retention as a duration.
    pub fn duration(self) -> Duration {
        match self {
            Retention::Tier(t) => Duration::days(i64::from(t.days())),
            Retention::Days(d) => Duration::days(i64::from(d.max(1))),
        }
    }
}

/// Retention per tenant, with a default and legal holds.
///
/// ```
/// use activity_core::{retention::Retention, retention::RetentionPolicy, retention::Tier};
/// let p = RetentionPolicy::new(Retention::Tier(Tier::SmallBusiness))
///     .tenant("acme", Retention::Tier(Tier::Enterprise))
///     .tenant("beta", Retention::Days(30))
///     .hold("gamma");
/// assert_eq!(p.retention_for(Some("beta")).unwrap().num_days(), 30);
/// assert!(p.retention_for(Some("gamma")).is_none(), "held: never purged");
/// assert_eq!(p.retention_for(None).unwrap().num_days(), 90);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    default: Retention,
    tenants: BTreeMap<String, Retention>,
    holds: BTreeSet<String>,
}

impl RetentionPolicy {
    /// Every tenant keeps `default` unless set otherwise.
    pub fn new(default: Retention) -> Self {
        Self {
            default,
            tenants: BTreeMap::new(),
            holds: BTreeSet::new(),
        }
    }

    /// Sets a tenant's retention.
    pub fn tenant(mut self, tenant: impl Into<String>, r: Retention) -> Self {
        self.tenants.insert(tenant.into(), r);
        self
    }

    /// Puts a tenant under legal hold: nothing of it is purged.
    pub fn hold(mut self, tenant: impl Into<String>) -> Self {
        self.holds.insert(tenant.into());
        self
    }

    /// The retention of `tenant` (`None`: the events without a tenant), or `None` when
    /// it is under legal hold.
    pub fn retention_for(&self, tenant: Option<&str>) -> Option<Duration> {
        if let Some(t) = tenant {
            if self.holds.contains(t) {
                return None;
            }
            if let Some(r) = self.tenants.get(t) {
                return Some(r.duration());
            }
        }
        Some(self.default.duration())
    }
}
