//! Time, injectable so that tests never sleep to wait for a window.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
///
/// Everything in the SDK that judges time windows (event timestamps, alert rules, lockout,
/// retention) asks a `Clock`, so tests inject a [`ManualClock`].
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{Clock, ManualClock, SystemClock};
/// use chrono::{DateTime, Duration, TimeZone, Utc};
///
/// /// The system clock, corrected by an offset measured elsewhere.
/// struct Corrected(Duration);
///
/// impl Clock for Corrected {
///     fn now(&self) -> DateTime<Utc> {
///         SystemClock.now() + self.0
///     }
/// }
///
/// assert!(Corrected(Duration::hours(1)).now() > SystemClock.now() + Duration::minutes(59));
/// // Shared clocks are clocks too.
/// let start = Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap();
/// let shared: Arc<dyn Clock> = Arc::new(ManualClock::new(start));
/// assert_eq!(shared.now(), start);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
///
/// ```
/// use activity_core::{Clock, SystemClock};
/// let t = SystemClock.now();
/// assert!(t.timestamp() > 0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move; for tests.
///
/// ```
/// use activity_core::{Clock, ManualClock};
/// use chrono::{Duration, TimeZone, Utc};
/// let start = Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap();
/// let clock = ManualClock::new(start);
/// clock.advance(Duration::minutes(15));
/// assert_eq!(clock.now(), start + Duration::minutes(15));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}
