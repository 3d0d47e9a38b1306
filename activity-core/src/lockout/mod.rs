//! The lockout pre-check hook that the HTTP layer asks before a login is attempted.
//!
//! The real policy (failures in a window, growing cool-off, permanent lock) implements
//! [`LockoutCheck`]; until one is configured, [`NeverLock`] lets every attempt through.

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;

mod policy;

pub use policy::{AccountStatus, LockScope, LockoutConfig, LockoutPolicy};

/// Who is trying to sign in, as far as the request tells.
///
/// ```
/// use std::net::IpAddr;
/// use activity_core::reexports::async_trait;
/// use activity_core::{lockout::LockKey, lockout::LockStatus, lockout::LockoutCheck};
///
/// /// Refuses one abusive address, whatever the account.
/// struct BlockIp(IpAddr);
///
/// #[async_trait]
/// impl LockoutCheck for BlockIp {
///     async fn check(&self, key: &LockKey<'_>) -> activity_core::Result<LockStatus> {
///         Ok(if key.ip == Some(self.0) {
///             LockStatus::Locked { until: None, reason: "blocked_ip".into() }
///         } else {
///             LockStatus::Open { attempts_left: None }
///         })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let check = BlockIp("175.16.199.1".parse().unwrap());
/// let key = LockKey { tenant: None, account: Some("alice"), ip: Some("175.16.199.1".parse().unwrap()) };
/// assert!(check.check(&key).await?.is_locked());
/// assert!(!check.check(&LockKey { ip: None, ..key }).await?.is_locked());
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockKey<'a> {
    /// The tenant, if the app has several.
    pub tenant: Option<&'a str>,
    /// The account name or id tried, if known before the handler runs.
    pub account: Option<&'a str>,
    /// The client address.
    pub ip: Option<IpAddr>,
}

/// The answer of a [`LockoutCheck`].
///
/// ```
/// use activity_core::lockout::LockStatus;
/// use chrono::{Duration, Utc};
/// let now = Utc::now();
/// let status = LockStatus::Locked {
///     until: Some(now + Duration::minutes(30)),
///     reason: "too_many_failures".into(),
/// };
/// assert!(status.is_locked());
/// // What an HTTP layer would put in `Retry-After`.
/// let retry_after = match status {
///     LockStatus::Locked { until: Some(until), .. } => Some((until - now).num_seconds()),
///     _ => None,
/// };
/// assert_eq!(retry_after, Some(1800));
/// assert!(!LockStatus::Open { attempts_left: Some(3) }.is_locked());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockStatus {
    /// The attempt may go ahead.
    Open {
        /// Failures left before a lock, when the policy counts them.
        attempts_left: Option<u32>,
    },
    /// The account (or address) is locked.
    Locked {
        /// When the lock ends; `None` for a permanent lock.
        until: Option<DateTime<Utc>>,
        /// Why, e.g. `too_many_failures`.
        reason: String,
    },
}

impl LockStatus {
    /// Whether this is [`LockStatus::Locked`].
    pub fn is_locked(&self) -> bool {
        matches!(self, LockStatus::Locked { .. })
    }
}

/// Decides before a login whether the account may try at all.
///
/// Called on the request path of login routes only, so it must answer fast (from memory
/// where it can). An error lets the request through (the login itself still fails or
/// succeeds on its own), and is logged.
///
/// ```
/// use activity_core::{lockout::LockKey, lockout::LockoutCheck, lockout::NeverLock};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let key = LockKey { tenant: None, account: Some("alice"), ip: None };
/// assert!(!NeverLock.check(&key).await.unwrap().is_locked());
/// # });
/// ```
#[async_trait]
pub trait LockoutCheck: Send + Sync + 'static {
    /// Whether `key` may attempt to sign in now.
    async fn check(&self, key: &LockKey<'_>) -> Result<LockStatus>;
}

/// A [`LockoutCheck`] that never locks anything.
///
/// ```
/// use activity_core::{lockout::LockKey, lockout::LockStatus, lockout::LockoutCheck, lockout::NeverLock};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let key = LockKey { tenant: Some("acme"), account: Some("bob"), ip: None };
/// assert_eq!(NeverLock.check(&key).await?, LockStatus::Open { attempts_left: None });
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NeverLock;

#[async_trait]
impl LockoutCheck for NeverLock {
    async fn check(&self, _key: &LockKey<'_>) -> Result<LockStatus> {
        Ok(LockStatus::Open {
            attempts_left: None,
        })
    }
}
