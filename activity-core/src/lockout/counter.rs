//! [`Counter`]: the state of one lockout subject (an account under one factor and scope,
//! or one address's budget), and the pure transitions every ledger applies to it under its
//! own lock or transaction, so that the in-memory and the SQL ledgers decide alike.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What one subject's counter holds.
///
/// A ledger stores it per key (as JSON in the SQL ledgers) and changes it only through the
/// methods below, read-modify-write under one lock or one transaction.
///
/// ```
/// use activity_core::lockout::{Counter, Limits};
/// use chrono::{Duration, TimeZone, Utc};
/// let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
/// let limits = Limits { threshold: 2, ..Limits::default() };
/// let mut c = Counter::default();
/// assert!(c.reserve(t0, &limits).is_ok());
/// assert!(c.reserve(t0, &limits).is_ok());
/// // Two attempts in flight and a threshold of two: a third must wait for them.
/// assert!(c.reserve(t0, &limits).is_err());
/// assert!(c.fail(t0, &limits).is_none());
/// let lock = c.fail(t0, &limits).expect("the second failure locks");
/// assert_eq!(lock.until, Some(t0 + Duration::minutes(30)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Failures counted since `window_start`.
    #[serde(default)]
    pub failures: u64,
    /// When the current counting window began (the first failure in it).
    #[serde(default)]
    pub window_start: Option<DateTime<Utc>>,
    /// Attempts admitted and not yet settled.
    #[serde(default)]
    pub in_flight: u64,
    /// When the in-flight reservations were last changed; reservations older than the
    /// reservation timeout are forgotten (a crashed instance's attempts).
    #[serde(default)]
    pub in_flight_at: Option<DateTime<Utc>>,
    /// The current lock, if any.
    #[serde(default)]
    pub lock: Option<Lock>,
    /// Locks started within the history, for the growing cool-off.
    #[serde(default)]
    pub locks: u64,
    /// When the last lock started.
    #[serde(default)]
    pub last_lock_at: Option<DateTime<Utc>>,
}

/// A lock on a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// When it started.
    pub since: DateTime<Utc>,
    /// When it ends; `None` is permanent (until an administrator unlocks).
    pub until: Option<DateTime<Utc>>,
    /// Failures that led to it.
    pub failures: u64,
}

/// The limits one factor is counted under.
///
/// ```
/// use activity_core::lockout::Limits;
/// let l = Limits::default();
/// assert_eq!((l.threshold, l.cool_off.num_minutes()), (10, 30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Failures in the window that lock.
    pub threshold: u64,
    /// The window failures are counted in, from the first failure.
    pub window: Duration,
    /// The first lock's length.
    pub cool_off: Duration,
    /// The longest timed lock; each earlier lock in `history` doubles the length.
    pub max_cool_off: Duration,
    /// How far back earlier locks count.
    pub history: Duration,
    /// Lock permanently at this many locks within `history`.
    pub permanent_after: Option<u64>,
    /// How long a reservation may stay unsettled before it is forgotten.
    pub reservation_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            threshold: 10,
            window: Duration::minutes(15),
            cool_off: Duration::minutes(30),
            max_cool_off: Duration::hours(24),
            history: Duration::hours(24),
            permanent_after: None,
            reservation_timeout: Duration::minutes(2),
        }
    }
}

impl Counter {
    /// Forgets what time has made irrelevant at `now`: an ended window, stale reservations,
    /// an expired lock (returned, so that its release can be recorded), old lock history.
    pub fn expire(&mut self, now: DateTime<Utc>, limits: &Limits) -> Option<Lock> {
        if self
            .window_start
            .is_some_and(|start| now >= start + limits.window)
        {
            self.failures = 0;
            self.window_start = None;
        }
        if self
            .in_flight_at
            .is_some_and(|at| now >= at + limits.reservation_timeout)
        {
            self.in_flight = 0;
            self.in_flight_at = None;
        }
        if self
            .last_lock_at
            .is_some_and(|at| now >= at + limits.history)
            && self.lock.is_none()
        {
            self.locks = 0;
            self.last_lock_at = None;
        }
        match &self.lock {
            Some(lock) if lock.until.is_some_and(|u| u <= now) => {
                let ended = self.lock.take();
                // The failures that caused it are spent.
                self.failures = 0;
                self.window_start = None;
                ended
            }
            _ => None,
        }
    }

    /// Reserves one attempt: `Err` with the lock (or the full reservation) that refuses it.
    ///
    /// # Errors
    /// [`Refusal`] when locked, or when the failures counted plus the attempts in flight
    /// reach the threshold.
    pub fn reserve(&mut self, now: DateTime<Utc>, limits: &Limits) -> Result<(), Refusal> {
        self.reserve_held(now, limits, 0)
    }

    /// As [`reserve`](Self::reserve), with `held` more attempts of the account held
    /// elsewhere (other instances' shares kept in memory, holds moved into the ledger).
    ///
    /// ```
    /// use activity_core::lockout::{Counter, Limits, Refusal};
    /// use chrono::{TimeZone, Utc};
    /// let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
    /// let limits = Limits { threshold: 10, ..Limits::default() };
    /// let mut c = Counter { failures: 4, ..Counter::default() };
    /// assert!(c.reserve_held(t0, &limits, 5).is_ok());
    /// assert_eq!(c.reserve_held(t0, &limits, 5), Err(Refusal::Busy));
    /// ```
    ///
    /// # Errors
    /// As [`reserve`](Self::reserve).
    pub fn reserve_held(
        &mut self,
        now: DateTime<Utc>,
        limits: &Limits,
        held: u64,
    ) -> Result<(), Refusal> {
        if let Some(lock) = &self.lock {
            return Err(Refusal::Locked(lock.clone()));
        }
        if self.failures + self.in_flight + held >= limits.threshold {
            return Err(Refusal::Busy);
        }
        self.in_flight += 1;
        self.in_flight_at = Some(now);
        Ok(())
    }

    /// Settles one reservation without counting it.
    pub fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.in_flight_at = None;
        }
    }

    /// Settles one reservation as a failure; the new lock when this failure locks.
    pub fn fail(&mut self, now: DateTime<Utc>, limits: &Limits) -> Option<Lock> {
        self.release();
        if self.lock.is_some() {
            return None;
        }
        self.failures += 1;
        self.window_start.get_or_insert(now);
        if self.failures < limits.threshold {
            return None;
        }
        let earlier = self.locks;
        let permanent = limits.permanent_after.is_some_and(|p| earlier + 1 >= p);
        let until = (!permanent).then(|| {
            let factor = 1i32.checked_shl(earlier.min(30) as u32).unwrap_or(i32::MAX);
            let length = limits
                .cool_off
                .checked_mul(factor)
                .unwrap_or(limits.max_cool_off)
                .min(limits.max_cool_off);
            now + length
        });
        let lock = Lock {
            since: now,
            until,
            failures: self.failures,
        };
        self.lock = Some(lock.clone());
        self.locks += 1;
        self.last_lock_at = Some(now);
        Some(lock)
    }

    /// Settles one reservation as a success: the count starts again when `reset`.
    pub fn succeed(&mut self, reset: bool) {
        self.release();
        if reset && self.lock.is_none() {
            self.failures = 0;
            self.window_start = None;
        }
    }

    /// Lifts the lock and the count (an administrator's unlock, a verified reset); whether
    /// there was a lock.
    pub fn unlock(&mut self) -> bool {
        self.failures = 0;
        self.window_start = None;
        self.lock.take().is_some()
    }

    /// Whether nothing is left worth keeping (the ledger may drop the key).
    pub fn is_idle(&self) -> bool {
        self.failures == 0 && self.in_flight == 0 && self.lock.is_none() && self.locks == 0
    }

    /// Failures left before a lock, counting attempts in flight.
    pub fn attempts_left(&self, limits: &Limits) -> u64 {
        limits
            .threshold
            .saturating_sub(self.failures + self.in_flight)
    }
}

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The subject is locked.
    Locked(Lock),
    /// The failures counted and the attempts in flight already reach the threshold.
    Busy,
}

/// A steadily refilled budget of failed attempts (one address's, across accounts).
///
/// ```
/// use activity_core::lockout::Budget;
/// use chrono::{Duration, TimeZone, Utc};
/// let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
/// let mut b = Budget::full(2.0, t0);
/// assert!(b.take(t0, 2.0, Duration::days(1)).is_ok());
/// assert!(b.take(t0, 2.0, Duration::days(1)).is_ok());
/// let wait = b.take(t0, 2.0, Duration::days(1)).unwrap_err();
/// assert_eq!(wait, Duration::hours(12)); // one of two a day comes back in half a day
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Attempts left (fractional while refilling).
    pub tokens: f64,
    /// When `tokens` was computed.
    pub at: DateTime<Utc>,
}

impl Budget {
    /// A full budget of `capacity` at `now`.
    pub fn full(capacity: f64, now: DateTime<Utc>) -> Self {
        Self {
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: DateTime<Utc>, capacity: f64, period: Duration) {
        let elapsed = (now - self.at).num_milliseconds().max(0) as f64;
        let period_ms = period.num_milliseconds().max(1) as f64;
        self.tokens = (self.tokens + elapsed * capacity / period_ms).min(capacity);
        self.at = now.max(self.at);
    }

    /// Takes one attempt, or says how long until one is back.
    ///
    /// # Errors
    /// The wait until the next attempt.
    pub fn take(
        &mut self,
        now: DateTime<Utc>,
        capacity: f64,
        period: Duration,
    ) -> Result<(), Duration> {
        self.take_held(now, capacity, period, 0)
    }

    /// As [`take`](Self::take), with `held` attempts of the budget held elsewhere (other
    /// instances' shares kept in memory, holds moved into the ledger).
    ///
    /// ```
    /// use activity_core::lockout::Budget;
    /// use chrono::{Duration, TimeZone, Utc};
    /// let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
    /// let mut b = Budget::full(4.0, t0);
    /// // Two of four are held elsewhere: two are left here.
    /// assert!(b.take_held(t0, 4.0, Duration::days(1), 2).is_ok());
    /// assert!(b.take_held(t0, 4.0, Duration::days(1), 2).is_ok());
    /// assert!(b.take_held(t0, 4.0, Duration::days(1), 2).is_err());
    /// ```
    ///
    /// # Errors
    /// The wait until the next attempt.
    pub fn take_held(
        &mut self,
        now: DateTime<Utc>,
        capacity: f64,
        period: Duration,
        held: u64,
    ) -> Result<(), Duration> {
        self.refill(now, capacity, period);
        let held = held as f64;
        if self.tokens >= 1.0 + held {
            self.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 + held - self.tokens;
        let ms = (missing * period.num_milliseconds() as f64 / capacity.max(f64::MIN_POSITIVE))
            .ceil() as i64;
        Err(Duration::milliseconds(ms.max(1000)))
    }

    /// Whether the budget has refilled completely by `now` (nothing left to remember).
    pub fn is_full(&self, now: DateTime<Utc>, capacity: f64, period: Duration) -> bool {
        let mut b = self.clone();
        b.refill(now, capacity, period);
        b.tokens >= capacity
    }

    /// Spends one attempt that was held elsewhere and failed (never below empty).
    pub fn spend(&mut self, now: DateTime<Utc>, capacity: f64, period: Duration) {
        self.refill(now, capacity, period);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// Gives one attempt back (a reservation that did not fail).
    pub fn give_back(&mut self, capacity: f64) {
        self.tokens = (self.tokens + 1.0).min(capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap()
    }

    #[test]
    fn locks_double_then_become_permanent() {
        let limits = Limits {
            threshold: 1,
            permanent_after: Some(3),
            ..Limits::default()
        };
        let mut c = Counter::default();
        c.reserve(t0(), &limits).unwrap();
        let l1 = c.fail(t0(), &limits).unwrap();
        assert_eq!(l1.until, Some(t0() + Duration::minutes(30)));
        let t1 = l1.until.unwrap();
        assert!(c.expire(t1, &limits).is_some());
        c.reserve(t1, &limits).unwrap();
        let l2 = c.fail(t1, &limits).unwrap();
        assert_eq!(l2.until, Some(t1 + Duration::minutes(60)));
        let t2 = l2.until.unwrap();
        c.expire(t2, &limits);
        c.reserve(t2, &limits).unwrap();
        assert_eq!(c.fail(t2, &limits).unwrap().until, None, "third: permanent");
        assert!(c.unlock());
        assert!(c.reserve(t2, &limits).is_ok());
    }

    #[test]
    fn stale_reservations_and_old_windows_are_forgotten() {
        let limits = Limits {
            threshold: 2,
            ..Limits::default()
        };
        let mut c = Counter::default();
        c.reserve(t0(), &limits).unwrap();
        c.reserve(t0(), &limits).unwrap();
        assert_eq!(c.reserve(t0(), &limits), Err(Refusal::Busy));
        c.expire(t0() + Duration::minutes(3), &limits);
        assert!(c.reserve(t0() + Duration::minutes(3), &limits).is_ok());
        c.fail(t0() + Duration::minutes(3), &limits);
        c.expire(t0() + Duration::minutes(20), &limits);
        assert_eq!(c.failures, 0);
    }
}
