//! [`LockoutConfig`]: thresholds, lengths, the lock scope and the per-address budget.

use chrono::Duration;

use crate::lockout::counter::Limits;
use crate::lockout::AttemptKind;

/// What a sign-in lock applies to.
///
/// ```
/// use activity_core::lockout::LockScope;
/// assert_eq!(LockScope::default(), LockScope::Smart);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LockScope {
    /// Smart lockout, as Entra ID does it (default): failures count against the place
    /// they come from. A device whose signed device cookie has signed in to the account
    /// before, and a network (address) it has signed in from before, each have their own
    /// count; everything unfamiliar shares one. An attacker elsewhere locks out only the
    /// unfamiliar, never the owner's known device or network.
    #[default]
    Smart,
    /// The account, from anywhere: ten failures from anyone lock everyone out.
    Account,
    /// The account from each address separately (Keycloak's and Auth0's per-IP mode).
    AccountAndIp,
}

/// The per-address budget of failed attempts across accounts (suspicious-IP throttling,
/// as Auth0 does it): `capacity` failures, refilled steadily over `period`; an address
/// that has used it is answered 429 with `Retry-After`.
///
/// ```
/// use activity_core::lockout::IpBudget;
/// let b = IpBudget::default();
/// assert_eq!((b.capacity, b.period.num_hours()), (100, 24));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpBudget {
    /// Failed attempts an address may make (default 100).
    pub capacity: u32,
    /// The time in which a spent budget refills completely (default a day).
    pub period: Duration,
}

impl Default for IpBudget {
    fn default() -> Self {
        Self {
            capacity: 100,
            period: Duration::days(1),
        }
    }
}

/// Lockout settings.
///
/// ```
/// use activity_core::lockout::LockoutConfig;
/// use chrono::Duration;
/// let pci = LockoutConfig::default();
/// assert_eq!((pci.threshold, pci.cool_off), (10, Duration::minutes(30)));
/// assert_eq!(pci.mfa_threshold, 5);
/// // Stricter: five failures, and a permanent lock at the third lock within a day.
/// let strict = LockoutConfig { threshold: 5, permanent_after: Some(3), ..LockoutConfig::default() };
/// assert_eq!(strict.window, Duration::minutes(15));
/// ```
#[derive(Debug, Clone)]
pub struct LockoutConfig {
    /// Failed sign-ins in the window that lock (default 10, PCI DSS 8.3.4's maximum).
    pub threshold: u64,
    /// Failed second-factor codes in the window that lock the second factor (default 5;
    /// NIST SP 800-63B 5.2.2 requires a limit).
    pub mfa_threshold: u64,
    /// The window failures are counted in, from the first failure (default 15 minutes).
    pub window: Duration,
    /// The first lock's length (default 30 minutes, PCI DSS 8.3.4's minimum).
    pub cool_off: Duration,
    /// The longest timed lock (default 24 hours); each earlier lock in `history` doubles it.
    pub max_cool_off: Duration,
    /// How far back earlier locks count (default 24 hours).
    pub history: Duration,
    /// Lock permanently (until an administrator unlocks) after this many locks in `history`.
    pub permanent_after: Option<u64>,
    /// Whether a successful attempt resets the count (default true).
    pub reset_on_success: bool,
    /// What a sign-in lock applies to (default [`LockScope::Smart`]).
    pub scope: LockScope,
    /// The per-address budget of failures across accounts (default 100 a day); `None`
    /// turns throttling off.
    pub ip_budget: Option<IpBudget>,
    /// How long an admitted attempt may stay unsettled before its reservation is
    /// forgotten (an instance that died mid-attempt); default 2 minutes.
    pub reservation_timeout: Duration,
    /// How long a device or network an account signed in from stays familiar to smart
    /// lockout after its last sign-in, and a handler's account id stays tied to the
    /// typed identifier (default 90 days); older ones are pruned.
    pub familiar_for: Duration,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            threshold: 10,
            mfa_threshold: 5,
            window: Duration::minutes(15),
            cool_off: Duration::minutes(30),
            max_cool_off: Duration::hours(24),
            history: Duration::hours(24),
            permanent_after: None,
            reset_on_success: true,
            scope: LockScope::Smart,
            ip_budget: Some(IpBudget::default()),
            reservation_timeout: Duration::minutes(2),
            familiar_for: Duration::days(90),
        }
    }
}

impl LockoutConfig {
    /// The limits attempts of `kind` are counted under.
    ///
    /// ```
    /// use activity_core::lockout::{AttemptKind, LockoutConfig};
    /// let c = LockoutConfig::default();
    /// assert_eq!(c.limits(AttemptKind::Mfa).threshold, 5);
    /// assert_eq!(c.limits(AttemptKind::Login).threshold, 10);
    /// ```
    pub fn limits(&self, kind: AttemptKind) -> Limits {
        Limits {
            threshold: match kind {
                AttemptKind::Mfa => self.mfa_threshold,
                _ => self.threshold,
            }
            .max(1),
            window: self.window,
            cool_off: self.cool_off,
            max_cool_off: self.max_cool_off,
            history: self.history,
            permanent_after: self.permanent_after,
            reservation_timeout: self.reservation_timeout,
        }
    }
}
