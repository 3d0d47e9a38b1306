//! Account lockout, derived from the stored events so that every app instance sharing a
//! database agrees (django-axes and Keycloak's brute-force detection are the models).
//!
//! [`LockoutPolicy`] is both the tower layer's pre-check ([`LockoutCheck`]) and a
//! recorder [`AfterCommit`] stage: after a failed login is committed it counts the
//! failures in the window (since the last success, lock or release) and, at the
//! threshold, records `lockout.triggered` with the reason, the failures and the lock's
//! end. The lock lasts the cool-off, doubled for each earlier lock in the look-back (up to
//! the cap), and becomes permanent after `permanent_after` locks if configured. A
//! completed password reset or an administrator's [`unlock`](LockoutPolicy::unlock)
//! records `lockout.released`; an expired lock is released when next checked.
//!
//! The defaults meet PCI DSS 8.3.4: lock after at most 10 failures, for at least 30
//! minutes. Failures for accounts that do not exist count the same (no enumeration).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::payload::{derived_id, LockoutReleased, LockoutTriggered, Payload};
use crate::event::{Action, ActivityEvent, Actor, Outcome, Target};
use crate::lockout::{LockKey, LockStatus, LockoutCheck};
use crate::query::ActivityQuery;
use crate::recorder::AfterCommit;
use crate::recorder::Recorder;
use crate::store::ActivityStore;

/// What a lock applies to.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, lockout::LockScope, lockout::LockoutConfig,
///     lockout::LockoutPolicy, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
/// let (attacker, user) = ("175.16.199.1".parse().unwrap(), "81.2.69.142".parse().unwrap());
/// let store = Arc::new(MemoryStore::new());
/// store.append(&[ActivityEvent::login_failed(Actor::user("bob")).with_time(t0).with_ip(attacker)]).await?;
/// // Failures from one address do not count against the account elsewhere.
/// let config = LockoutConfig { scope: LockScope::AccountAndIp, ..LockoutConfig::default() };
/// let policy = LockoutPolicy::new(store, config);
/// let at = t0 + Duration::minutes(1);
/// assert_eq!(policy.status(None, "bob", Some(attacker), at).await?.failures, 1);
/// assert_eq!(policy.status(None, "bob", Some(user), at).await?.failures, 0);
/// assert_eq!(LockScope::default(), LockScope::Account);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockScope {
    /// The account, from anywhere (default).
    #[default]
    Account,
    /// The account from the failing address only.
    AccountAndIp,
}

/// Lockout settings.
///
/// ```
/// use activity_core::lockout::LockoutConfig;
/// use chrono::Duration;
/// let pci = LockoutConfig::default();
/// assert_eq!((pci.threshold, pci.cool_off), (10, Duration::minutes(30)));
/// // Stricter: five failures, and a permanent lock at the third lock within a day.
/// let strict = LockoutConfig { threshold: 5, permanent_after: Some(3), ..LockoutConfig::default() };
/// assert_eq!(strict.window, Duration::minutes(15));
/// ```
#[derive(Debug, Clone)]
pub struct LockoutConfig {
    /// Failures in the window that lock (default 10, PCI DSS 8.3.4's maximum).
    pub threshold: u64,
    /// The window failures are counted in (default 15 minutes).
    pub window: Duration,
    /// The first lock's length (default 30 minutes, PCI DSS 8.3.4's minimum).
    pub cool_off: Duration,
    /// The longest lock (default 24 hours); each earlier lock in `history` doubles it.
    pub max_cool_off: Duration,
    /// How far back earlier locks count (default 24 hours).
    pub history: Duration,
    /// Lock permanently (until an administrator unlocks) after this many locks in `history`.
    pub permanent_after: Option<u64>,
    /// Whether a successful login resets the count (default true).
    pub reset_on_success: bool,
    /// What a lock applies to.
    pub scope: LockScope,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            threshold: 10,
            window: Duration::minutes(15),
            cool_off: Duration::minutes(30),
            max_cool_off: Duration::hours(24),
            history: Duration::hours(24),
            permanent_after: None,
            reset_on_success: true,
            scope: LockScope::Account,
        }
    }
}

/// The lockout policy.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, Actor, Clock, lockout::LockKey, lockout::LockStatus, lockout::LockoutCheck,
///     lockout::LockoutConfig, lockout::LockoutPolicy, ManualClock, MemoryStore, Recorder};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
/// let clock = ManualClock::new(t0);
/// let policy = Arc::new(
///     LockoutPolicy::new(store.clone(), LockoutConfig::default()).clock(clock.clone()),
/// );
/// let (recorder, guard) = Recorder::builder(store).lockout(policy.clone()).start();
/// for _ in 0..10 {
///     recorder.record(ActivityEvent::login_failed(Actor::user("bob")).with_time(clock.now()))?;
/// }
/// recorder.flush().await?;
/// let bob = LockKey { tenant: None, account: Some("bob"), ip: None };
/// let locked = LockStatus::Locked {
///     until: Some(t0 + Duration::minutes(30)),
///     reason: "too_many_failures".into(),
/// };
/// assert_eq!(policy.check(&bob).await?, locked);
/// clock.advance(Duration::minutes(30));
/// assert!(!policy.check(&bob).await?.is_locked());
/// guard.shutdown().await;
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
pub struct LockoutPolicy {
    store: Arc<dyn ActivityStore>,
    config: LockoutConfig,
    clock: Arc<dyn Clock>,
    recorder: OnceLock<Recorder>,
}

impl std::fmt::Debug for LockoutPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockoutPolicy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What [`LockoutPolicy::status`] found.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, lockout::LockoutConfig, lockout::LockoutPolicy,
///     MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
/// let failures: Vec<_> = (0..3)
///     .map(|i| ActivityEvent::login_failed(Actor::user("bob")).with_time(t0 + Duration::seconds(i)))
///     .collect();
/// let store = Arc::new(MemoryStore::new());
/// store.append(&failures).await?;
/// let policy = LockoutPolicy::new(store, LockoutConfig::default());
/// let status = policy.status(None, "bob", None, t0 + Duration::minutes(1)).await?;
/// assert_eq!((status.locked, status.failures, status.attempts_left), (None, 3, 7));
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStatus {
    /// Locked until (`Some(None)`: permanently), or not locked.
    pub locked: Option<Option<DateTime<Utc>>>,
    /// Failures counted toward the next lock.
    pub failures: u64,
    /// Attempts left before a lock.
    pub attempts_left: u64,
    /// The last lock, when it has run out but no release is recorded yet: its event id
    /// and end.
    pub expired_lock: Option<(uuid::Uuid, DateTime<Utc>)>,
}

/// When the lock `e` (a `lockout.triggered` event) ends: `Some(None)` when permanent,
/// `None` when its details are not a lock's.
fn details_until(e: &ActivityEvent) -> Option<Option<DateTime<Utc>>> {
    LockoutTriggered::read(e).map(|lock| lock.until)
}

impl LockoutPolicy {
    /// A policy reading history from `store`.
    pub fn new(store: Arc<dyn ActivityStore>, config: LockoutConfig) -> Self {
        Self {
            store,
            config,
            clock: Arc::new(SystemClock),
            recorder: OnceLock::new(),
        }
    }

    /// Uses `clock` for "now" (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn scoped(&self, tenant: Option<&str>, account: &str) -> ActivityQuery {
        let q = ActivityQuery::new().actor(account);
        match tenant {
            Some(t) => q.tenant(t),
            None => q,
        }
    }

    /// The account's lock state and failure count at `at`.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn status(
        &self,
        tenant: Option<&str>,
        account: &str,
        ip: Option<std::net::IpAddr>,
        at: DateTime<Utc>,
    ) -> Result<AccountStatus> {
        let until = at + Duration::microseconds(1);
        // The latest lock event decides whether it is locked.
        let last_lock = self
            .store
            .query(
                &self
                    .scoped(tenant, account)
                    .action("lockout")
                    .until(until)
                    .limit(1),
            )
            .await?
            .events
            .into_iter()
            .next();
        let mut locked = None;
        let mut expired = None;
        if let Some(l) = &last_lock {
            if l.action == Action::LOCKOUT_TRIGGERED
                && (self.config.scope == LockScope::Account || ip.is_none() || l.ip() == ip)
            {
                if let Some(u) = details_until(l) {
                    match u {
                        Some(end) if end <= at => expired = Some((l.id, end)),
                        _ => locked = Some(u),
                    }
                }
            }
        }
        // Failures since the window start, the last lock event, and the last success.
        let mut since = at - self.config.window + Duration::microseconds(1);
        if let Some(l) = &last_lock {
            since = since.max(l.time + Duration::microseconds(1));
        }
        if self.config.reset_on_success {
            let last_ok = self
                .store
                .query(
                    &self
                        .scoped(tenant, account)
                        .action(Action::LOGIN_SUCCEEDED.as_str())
                        .since(since)
                        .until(until)
                        .limit(1),
                )
                .await?
                .events
                .into_iter()
                .next();
            if let Some(ok) = last_ok {
                since = since.max(ok.time + Duration::microseconds(1));
            }
        }
        let mut q = self
            .scoped(tenant, account)
            .action(Action::LOGIN_FAILED.as_str())
            .since(since)
            .until(until);
        if self.config.scope == LockScope::AccountAndIp {
            if let Some(ip) = ip {
                q = q.ip(ip);
            }
        }
        let failures = self.store.count(&q).await?;
        Ok(AccountStatus {
            locked,
            failures,
            attempts_left: self.config.threshold.saturating_sub(failures),
            expired_lock: expired,
        })
    }

    /// How long the next lock lasts, given the locks in the look-back (`None`: permanent).
    async fn next_lock_length(
        &self,
        tenant: Option<&str>,
        account: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Duration>> {
        let earlier = self
            .store
            .count(
                &self
                    .scoped(tenant, account)
                    .action(Action::LOCKOUT_TRIGGERED.as_str())
                    .since(at - self.config.history)
                    .until(at + Duration::microseconds(1)),
            )
            .await?;
        if self
            .config
            .permanent_after
            .is_some_and(|m| earlier + 1 >= m)
        {
            return Ok(None);
        }
        let factor = 1i32.checked_shl(earlier.min(20) as u32).unwrap_or(i32::MAX);
        Ok(Some(
            (self.config.cool_off * factor).min(self.config.max_cool_off),
        ))
    }

    /// An administrator unlocks `account`: records `admin.user.unlocked` and
    /// `lockout.released` (reason `admin_unlock`) through the recorder this policy is a
    /// stage of ([`RecorderBuilder::lockout`](crate::RecorderBuilder::lockout)).
    ///
    /// # Errors
    /// [`Error::NotStarted`] when the policy is not a stage of a started recorder; as
    /// [`Recorder::record`].
    pub fn unlock(&self, admin: Actor, tenant: Option<&str>, account: &str) -> Result<()> {
        let now = self.clock.now();
        let mut by =
            ActivityEvent::admin_user_unlocked(admin.clone(), Target::user(account)).with_time(now);
        let mut released = LockoutReleased { by: Some(admin.id) }.write(
            ActivityEvent::lockout_released(Actor::user(account), "admin_unlock").with_time(now),
        );
        if let Some(t) = tenant {
            by = by.with_tenant(t);
            released = released.with_tenant(t);
        }
        let recorder = self.recorder.get().ok_or(Error::NotStarted {
            stage: "LockoutPolicy",
            register: "lockout",
        })?;
        recorder.record(by)?;
        recorder.record(released)
    }
}

#[async_trait]
impl LockoutCheck for LockoutPolicy {
    async fn check(&self, key: &LockKey<'_>) -> Result<LockStatus> {
        let Some(account) = key.account else {
            return Ok(LockStatus::Open {
                attempts_left: None,
            });
        };
        let now = self.clock.now();
        let s = self.status(key.tenant, account, key.ip, now).await?;
        if let (Some((lock_id, end)), Some(rec)) = (s.expired_lock, self.recorder.get()) {
            // Record the release at the lock's end, once: the id is derived from the lock,
            // so checks on several instances store one event.
            let mut rel = ActivityEvent::lockout_released(Actor::user(account), "expired")
                .with_id(derived_id(&[b"expired", lock_id.as_bytes()]))
                .with_time(end);
            if let Some(t) = key.tenant {
                rel = rel.with_tenant(t);
            }
            if let Err(e) = rec.record(rel) {
                tracing::warn!(error = %e, "lockout.released (expired) not recorded");
            }
        }
        match s.locked {
            Some(until) => Ok(LockStatus::Locked {
                until,
                reason: "too_many_failures".into(),
            }),
            None => Ok(LockStatus::Open {
                attempts_left: Some(u32::try_from(s.attempts_left).unwrap_or(u32::MAX)),
            }),
        }
    }
}

#[async_trait]
impl AfterCommit for LockoutPolicy {
    fn on_start(&self, recorder: &Recorder) {
        let _ = self.recorder.set(recorder.clone());
    }

    async fn after_commit(
        &self,
        store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent> {
        let _ = store;
        let mut out: Vec<ActivityEvent> = Vec::new();
        for e in committed {
            let Some(account) = e.actor_id() else {
                continue;
            };
            let tenant = e.tenant.as_deref();
            // Locks and releases raised earlier in this batch are not stored yet.
            let pending = out
                .iter()
                .rev()
                .find(|o| o.actor_id() == Some(account) && o.tenant.as_deref() == tenant)
                .map(|o| o.action == Action::LOCKOUT_TRIGGERED);
            let result: Result<Option<ActivityEvent>> = async {
                if e.action == Action::LOGIN_FAILED && e.reason.as_deref() != Some("locked") {
                    let s = self.status(tenant, account, e.ip(), e.time).await?;
                    let locked = pending.unwrap_or(s.locked.is_some());
                    if !locked && s.failures >= self.config.threshold {
                        let length = self.next_lock_length(tenant, account, e.time).await?;
                        let triggered = LockoutTriggered {
                            failures: s.failures,
                            trigger: e.id.to_string(),
                            until: length.map(|len| e.time + len),
                            minutes: length.map(|len| len.num_minutes()),
                            permanent: length.is_none(),
                        };
                        let mut lock = triggered.write(
                            ActivityEvent::lockout_triggered(
                                Actor::user(account),
                                "too_many_failures",
                            )
                            .with_time(e.time),
                        );
                        if let Some(ip) = e.ip() {
                            lock = lock.with_ip(ip);
                        }
                        if let Some(t) = tenant {
                            lock = lock.with_tenant(t);
                        }
                        return Ok(Some(lock));
                    }
                } else if e.action == Action::PASSWORD_RESET_COMPLETED
                    && e.outcome == Outcome::Success
                {
                    let s = self.status(tenant, account, None, e.time).await?;
                    if pending.unwrap_or(s.locked.is_some()) {
                        let mut rel =
                            ActivityEvent::lockout_released(Actor::user(account), "password_reset")
                                .with_time(e.time);
                        if let Some(t) = tenant {
                            rel = rel.with_tenant(t);
                        }
                        return Ok(Some(rel));
                    }
                }
                Ok(None)
            }
            .await;
            match result {
                Ok(Some(ev)) => out.push(ev),
                Ok(None) => {}
                Err(err) => tracing::error!(error = %err, "lockout policy could not read history"),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, MemoryStore};
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
    }

    struct Setup {
        store: Arc<MemoryStore>,
        policy: Arc<LockoutPolicy>,
        clock: ManualClock,
        rec: Recorder,
        guard: crate::RecorderGuard,
    }

    fn setup(config: LockoutConfig) -> Setup {
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::new(t0());
        let policy = Arc::new(LockoutPolicy::new(store.clone(), config).clock(clock.clone()));
        let (rec, guard) = Recorder::builder(store.clone())
            .after_commit(policy.clone())
            .lifecycle_events(false)
            .clock(clock.clone())
            .start();

        Setup {
            store,
            policy,
            clock,
            rec,
            guard,
        }
    }

    fn key(account: &str) -> LockKey<'_> {
        LockKey {
            tenant: None,
            account: Some(account),
            ip: None,
        }
    }

    async fn fail(s: &Setup, account: &str, n: usize) {
        for _ in 0..n {
            s.rec
                .record(ActivityEvent::login_failed(Actor::user(account)).with_time(s.clock.now()))
                .unwrap();
            s.clock.advance(Duration::seconds(10));
        }
        s.rec.flush().await.unwrap();
    }

    #[tokio::test]
    async fn nine_failures_leave_one_attempt_ten_lock_for_thirty_minutes() {
        let s = setup(LockoutConfig::default());
        fail(&s, "ghost-account", 9).await;
        assert_eq!(
            s.policy.check(&key("ghost-account")).await.unwrap(),
            LockStatus::Open {
                attempts_left: Some(1)
            }
        );
        fail(&s, "ghost-account", 1).await;
        let LockStatus::Locked { until, .. } = s.policy.check(&key("ghost-account")).await.unwrap()
        else {
            panic!("locked after 10")
        };
        let until = until.unwrap();
        assert_eq!(
            until - (s.clock.now() - Duration::seconds(10)),
            Duration::minutes(30)
        );
        let locks = s
            .store
            .query(&ActivityQuery::new().action("lockout.triggered"))
            .await
            .unwrap()
            .events;
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].reason.as_deref(), Some("too_many_failures"));
        // Expiry.
        s.clock.set(until);
        assert!(!s
            .policy
            .check(&key("ghost-account"))
            .await
            .unwrap()
            .is_locked());
        s.guard.shutdown().await;
    }

    #[tokio::test]
    async fn a_success_resets_and_the_window_slides() {
        let s = setup(LockoutConfig::default());
        fail(&s, "a", 9).await;
        s.rec
            .record(ActivityEvent::login_succeeded(Actor::user("a")).with_time(s.clock.now()))
            .unwrap();
        s.clock.advance(Duration::seconds(1));
        fail(&s, "a", 9).await;
        assert!(!s.policy.check(&key("a")).await.unwrap().is_locked());
        // Failures older than the window do not count.
        s.clock.advance(Duration::minutes(15));
        fail(&s, "a", 1).await;
        assert_eq!(
            s.policy.check(&key("a")).await.unwrap(),
            LockStatus::Open {
                attempts_left: Some(9)
            }
        );
        s.guard.shutdown().await;
    }

    #[tokio::test]
    async fn repeated_locks_grow_then_become_permanent_and_unlocks_release() {
        let s = setup(LockoutConfig {
            threshold: 3,
            permanent_after: Some(3),
            ..LockoutConfig::default()
        });
        fail(&s, "a", 3).await;
        let LockStatus::Locked {
            until: Some(u1), ..
        } = s.policy.check(&key("a")).await.unwrap()
        else {
            panic!()
        };
        s.clock.set(u1);
        fail(&s, "a", 3).await;
        let LockStatus::Locked {
            until: Some(u2), ..
        } = s.policy.check(&key("a")).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(
            u2 - (s.clock.now() - Duration::seconds(10)),
            Duration::minutes(60),
            "doubled"
        );
        s.clock.set(u2);
        fail(&s, "a", 3).await;
        assert_eq!(
            s.policy.check(&key("a")).await.unwrap(),
            LockStatus::Locked {
                until: None,
                reason: "too_many_failures".into()
            },
            "permanent after three"
        );
        s.policy.unlock(Actor::user("admin"), None, "a").unwrap();
        s.rec.flush().await.unwrap();
        s.clock.advance(Duration::seconds(1));
        assert!(!s.policy.check(&key("a")).await.unwrap().is_locked());
        let rel = s
            .store
            .query(&ActivityQuery::new().action("lockout.released"))
            .await
            .unwrap()
            .events;
        assert_eq!(rel[0].reason.as_deref(), Some("admin_unlock"));
        assert_eq!(
            s.store
                .count(&ActivityQuery::new().action("admin.user.unlocked"))
                .await
                .unwrap(),
            1
        );
        s.guard.shutdown().await;
    }

    #[tokio::test]
    async fn a_completed_password_reset_releases_the_lock() {
        let s = setup(LockoutConfig::default());
        fail(&s, "a", 10).await;
        assert!(s.policy.check(&key("a")).await.unwrap().is_locked());
        s.rec
            .record(
                ActivityEvent::password_reset_completed(Actor::user("a")).with_time(s.clock.now()),
            )
            .unwrap();
        s.rec.flush().await.unwrap();
        s.clock.advance(Duration::seconds(1));
        assert!(!s.policy.check(&key("a")).await.unwrap().is_locked());
        let rel = s
            .store
            .query(&ActivityQuery::new().action("lockout.released"))
            .await
            .unwrap()
            .events;
        assert_eq!(rel[0].reason.as_deref(), Some("password_reset"));
        s.guard.shutdown().await;
    }

    #[tokio::test]
    async fn one_batch_with_the_lock_and_the_reset_gives_one_lock_and_one_release() {
        let s = setup(LockoutConfig::default());
        for i in 0..12 {
            s.rec
                .record(
                    ActivityEvent::login_failed(Actor::user("a"))
                        .with_time(t0() + Duration::seconds(i)),
                )
                .unwrap();
        }
        s.rec
            .record(
                ActivityEvent::password_reset_completed(Actor::user("a"))
                    .with_time(t0() + Duration::seconds(20)),
            )
            .unwrap();
        s.rec.flush().await.unwrap();
        assert_eq!(
            s.store
                .count(&ActivityQuery::new().action("lockout.triggered"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            s.store
                .count(&ActivityQuery::new().action("lockout.released"))
                .await
                .unwrap(),
            1
        );
        s.guard.shutdown().await;
    }

    #[test]
    fn unlock_without_a_started_recorder_is_refused_not_dropped() {
        let policy = LockoutPolicy::new(Arc::new(MemoryStore::new()), LockoutConfig::default());
        let err = policy
            .unlock(Actor::user("admin"), None, "a")
            .expect_err("no recorder to record the unlock with");
        assert!(
            matches!(
                err,
                Error::NotStarted {
                    stage: "LockoutPolicy",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_recorder_builder_registers_the_lockout_once_for_stage_and_check() {
        let store = Arc::new(MemoryStore::new());
        let policy = Arc::new(LockoutPolicy::new(store.clone(), LockoutConfig::default()));
        let (rec, guard) = Recorder::builder(store.clone())
            .lockout(policy.clone())
            .start();
        assert!(rec.lockout_check().is_some());
        for _ in 0..10 {
            rec.record(ActivityEvent::login_failed(Actor::user("a")))
                .unwrap();
        }
        rec.flush().await.unwrap();
        let key = LockKey {
            tenant: None,
            account: Some("a"),
            ip: None,
        };
        assert!(rec
            .lockout_check()
            .unwrap()
            .check(&key)
            .await
            .unwrap()
            .is_locked());
        // The stage was told its recorder: the unlock is recorded through it.
        policy.unlock(Actor::user("admin"), None, "a").unwrap();
        rec.flush().await.unwrap();
        let q = ActivityQuery::new().action("lockout.released");
        assert_eq!(store.count(&q).await.unwrap(), 1);
        guard.shutdown().await;
    }

    #[tokio::test]
    async fn an_expired_lock_is_recorded_as_released_with_the_one_call_wiring() {
        // Only `RecorderBuilder::lockout`: no other call tells the policy its recorder.
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::new(t0());
        let policy = Arc::new(
            LockoutPolicy::new(store.clone(), LockoutConfig::default()).clock(clock.clone()),
        );
        let (rec, guard) = Recorder::builder(store.clone())
            .lockout(policy.clone())
            .lifecycle_events(false)
            .clock(clock.clone())
            .start();
        for _ in 0..10 {
            rec.record(ActivityEvent::login_failed(Actor::user("a")).with_time(clock.now()))
                .unwrap();
        }
        rec.flush().await.unwrap();
        assert!(policy.check(&key("a")).await.unwrap().is_locked());
        clock.advance(Duration::minutes(31));
        assert!(!policy.check(&key("a")).await.unwrap().is_locked());
        rec.flush().await.unwrap();
        let released = store
            .query(&ActivityQuery::new().action("lockout.released"))
            .await
            .unwrap()
            .events;
        assert_eq!(released.len(), 1, "the expiry is recorded, once");
        assert_eq!(released[0].reason.as_deref(), Some("expired"));
        guard.shutdown().await;
    }
}
