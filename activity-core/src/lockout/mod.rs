//! The lockout: the check the HTTP layer asks before an authentication attempt, and the
//! policy that counts, reserves, locks and throttles.
//!
//! The layer asks [`LockoutCheck::admit`] before the handler runs and reports the answer
//! with [`LockoutCheck::settle`]; between the two the attempt holds a reservation, so that
//! parallel attempts cannot all pass before the first failure is counted. The real policy
//! is [`LockoutPolicy`]; until one is configured, [`NeverLock`] lets every attempt through.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::event::{Actor, DefaultNormalizer, Normalize, Outcome};

mod config;
mod counter;
mod keys;
mod ledger;
mod policy;
mod shares;

pub use config::{IpBudget, LockScope, LockoutConfig};
pub use counter::{Budget, Counter, Limits, Lock, Refusal};
pub use ledger::{Change, Keep, LedgerEntry, LockoutLedger, MemoryLedger};
pub use policy::{AccountStatus, LockoutPolicy};
pub use shares::{Group, HeldChange, Hold, MemoryAdmission};

/// What kind of authentication attempt a [`LockKey`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AttemptKind {
    /// A password sign-in: counted per account under the lock scope.
    #[default]
    Login,
    /// A second-factor code: counted per account on its own counter and lock.
    Mfa,
    /// A password reset completion: not counted; a success the handler verified releases
    /// that account's locks.
    Reset,
}
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
/// let key = LockKey { ip: Some("175.16.199.1".parse().unwrap()), ..LockKey::account(None, "alice") };
/// assert!(check.check(&key).await?.is_locked());
/// assert!(!check.check(&LockKey { ip: None, ..key }).await?.is_locked());
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockKey<'a> {
    /// The tenant, if the app has several.
    pub tenant: Option<&'a str>,
    /// The account tried, normalised (see [`LockoutCheck::normalizer`]), if known before
    /// the handler runs.
    pub account: Option<&'a str>,
    /// The client address.
    pub ip: Option<IpAddr>,
    /// The device id, only when its cookie's signature verified.
    pub device: Option<&'a str>,
    /// What is being attempted.
    pub kind: AttemptKind,
}

impl<'a> LockKey<'a> {
    /// A sign-in attempt on `account`, with no address or device known.
    ///
    /// ```
    /// use activity_core::lockout::{AttemptKind, LockKey};
    /// let key = LockKey::account(Some("acme"), "bob");
    /// assert_eq!((key.kind, key.ip, key.device), (AttemptKind::Login, None, None));
    /// ```
    pub fn account(tenant: Option<&'a str>, account: &'a str) -> Self {
        Self {
            tenant,
            account: Some(account),
            ip: None,
            device: None,
            kind: AttemptKind::Login,
        }
    }
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
    /// The address has used its budget of failed attempts (across accounts): try again
    /// at `until` (HTTP 429 with `Retry-After`).
    Throttled {
        /// When the next attempt is allowed.
        until: DateTime<Utc>,
    },
}

impl LockStatus {
    /// Whether this is [`LockStatus::Locked`].
    pub fn is_locked(&self) -> bool {
        matches!(self, LockStatus::Locked { .. })
    }

    /// Whether the attempt may go ahead.
    pub fn is_open(&self) -> bool {
        matches!(self, LockStatus::Open { .. })
    }
}

/// The reservation an admitted attempt holds until it is settled; opaque outside the
/// policy that issued it. [`Ticket::default`] holds nothing (what a check without
/// reservations, such as [`NeverLock`], issues).
#[derive(Debug, Clone, Default)]
pub struct Ticket(pub(crate) Option<Box<policy::Reserved>>);

/// The answer of [`LockoutCheck::admit`].
#[derive(Debug)]
pub enum Admission {
    /// The attempt may go ahead, holding this ticket until [`LockoutCheck::settle`].
    Admitted(Ticket),
    /// It may not: locked or throttled.
    Refused(LockStatus),
}

/// How an admitted attempt ended, for [`LockoutCheck::settle`].
#[derive(Debug, Clone, Copy)]
pub struct Settlement<'a> {
    /// The id of the attempt's event (so that the policy does not count it twice when the
    /// event reaches it after commit).
    pub event: uuid::Uuid,
    /// The attempt's outcome: a failure counts, a success resets (and, for a reset,
    /// releases), unknown only ends the reservation.
    pub outcome: Outcome,
    /// The account the handler says it authenticated or verified (its `OutcomeHint`
    /// actor), if it said so.
    pub verified: Option<&'a Actor>,
    /// The device a successful sign-in is remembered for: the verified one, or the one
    /// whose signed cookie the answer sets. `None` keeps the one admitted.
    pub device: Option<&'a str>,
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
/// let key = LockKey::account(None, "alice");
/// assert!(!NeverLock.check(&key).await.unwrap().is_locked());
/// # });
/// ```
#[async_trait]
pub trait LockoutCheck: Send + Sync + 'static {
    /// Whether `key` may attempt to sign in now (no reservation is taken).
    async fn check(&self, key: &LockKey<'_>) -> Result<LockStatus>;

    /// Admits the attempt `key` and reserves its place, or refuses it. The default asks
    /// [`check`](Self::check) and reserves nothing.
    ///
    /// # Errors
    /// The storage's errors (the layer then lets the attempt through and logs it).
    async fn admit(&self, key: &LockKey<'_>) -> Result<Admission> {
        let status = self.check(key).await?;
        Ok(if status.is_open() {
            Admission::Admitted(Ticket::default())
        } else {
            Admission::Refused(status)
        })
    }

    /// Reports how an admitted attempt ended; ends its reservation. The default does
    /// nothing.
    ///
    /// # Errors
    /// The storage's errors.
    async fn settle(&self, ticket: Ticket, settlement: Settlement<'_>) -> Result<()> {
        let _ = (ticket, settlement);
        Ok(())
    }

    /// How typed identifiers become account keys; the HTTP layer applies it to the
    /// identifier it reads. Default: [`DefaultNormalizer`].
    fn normalizer(&self) -> Arc<dyn Normalize> {
        Arc::new(DefaultNormalizer)
    }
}

/// A [`LockoutCheck`] that never locks anything.
///
/// ```
/// use activity_core::{lockout::LockKey, lockout::LockStatus, lockout::LockoutCheck, lockout::NeverLock};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let key = LockKey::account(Some("acme"), "bob");
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
