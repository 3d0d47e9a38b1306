//! [`LockoutPolicy`]: counts failed attempts per account and place, reserves attempts in
//! flight, locks at the threshold, throttles an address across accounts, and records
//! `lockout.triggered` / `lockout.released`.
//!
//! Its state lives in a [`LockoutLedger`]: in memory by default (one app instance), or one
//! that several instances share (`activity-sqlx`'s PostgreSQL ledger), so that they agree.
//! The HTTP layer [admits](LockoutCheck::admit) each authentication attempt before the
//! handler and [settles](LockoutCheck::settle) it with the answer; events an application
//! records itself (`Recorder::record`) are counted when they are committed.
//!
//! The defaults meet PCI DSS 8.3.4 (lock after at most 10 failures, for at least 30
//! minutes) with smart lockout (failures lock out only the place they come from) and a
//! budget of 100 failed attempts a day per address. Failures for accounts that do not
//! exist count the same (no enumeration).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::payload::{derived_id, LockoutReleased, LockoutTriggered, Payload};
use crate::event::{Action, ActivityEvent, Actor, DefaultNormalizer, Normalize, Outcome, Target};
use crate::lockout::config::{LockScope, LockoutConfig};
use crate::lockout::counter::{Budget, Lock, Refusal};
use crate::lockout::keys;
use crate::lockout::ledger::{LedgerEntry, LockoutLedger, MemoryLedger};
use crate::lockout::shares::{Group, HeldChange, Hold};
use crate::lockout::{
    Admission, AttemptKind, LockKey, LockStatus, LockoutCheck, Settlement, Ticket,
};
use crate::query::{ActivityQuery, Pages};
use crate::recorder::{AfterCommit, Recorder, WeakRecorder};
use crate::store::ActivityStore;

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
/// let (recorder, guard) = Recorder::builder(store).lockout(policy.clone()).clock(clock.clone()).start();
/// // Failures the application records itself count once they are committed.
/// for _ in 0..10 {
///     recorder.record(ActivityEvent::login_failed(Actor::user("bob")).with_time(clock.now()))?;
/// }
/// recorder.flush().await?;
/// let bob = LockKey::account(None, "bob");
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
    ledger: Arc<dyn LockoutLedger>,
    /// When the ledger last read the lockout events others recorded (see `sync`).
    synced: tokio::sync::Mutex<Option<DateTime<Utc>>>,
    /// Whether the locks of the look-back were read from the store (after a restart).
    restored: std::sync::atomic::AtomicBool,
    config: LockoutConfig,
    clock: Arc<dyn Clock>,
    normalizer: Arc<dyn Normalize>,
    /// Weak: the recorder holds this policy (as its lockout check and a stage).
    recorder: OnceLock<WeakRecorder>,
    settled: Mutex<Settled>,
}

impl std::fmt::Debug for LockoutPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockoutPolicy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The ids of events the layer already settled, so that the after-commit count skips
/// them; bounded (the oldest are forgotten first).
#[derive(Default)]
struct Settled {
    ids: HashSet<uuid::Uuid>,
    order: VecDeque<uuid::Uuid>,
}

impl Settled {
    const MAX: usize = 65_536;

    fn insert(&mut self, id: uuid::Uuid) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            while self.order.len() > Self::MAX {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }

    fn take(&mut self, id: &uuid::Uuid) -> bool {
        self.ids.remove(id)
    }
}

/// What an admitted attempt reserved: the ticket's contents.
#[derive(Debug, Clone)]
pub(crate) struct Reserved {
    kind: AttemptKind,
    tenant: Option<String>,
    account: Option<String>,
    /// The counter key reserved in, if an account was known.
    subject: Option<String>,
    /// The budget key an attempt was taken from, if the address was known.
    budget: Option<String>,
    /// The verified device and the network, to remember on success.
    device: Option<String>,
    net: Option<String>,
    /// The client address, for the lock event.
    ip: Option<std::net::IpAddr>,
    /// Held from memory instead ([`MemoryAdmission`](crate::lockout::MemoryAdmission)).
    hold: Option<Hold>,
}

/// What [`LockoutPolicy::status`] found.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{lockout::LockKey, lockout::LockoutCheck, lockout::LockoutConfig, lockout::LockoutPolicy,
///     lockout::Settlement, lockout::Admission, MemoryStore, Outcome};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let policy = LockoutPolicy::new(Arc::new(MemoryStore::new()), LockoutConfig::default());
/// for _ in 0..3 {
///     let Admission::Admitted(ticket) = policy.admit(&LockKey::account(None, "bob")).await? else { panic!() };
///     let failed = Settlement { event: uuid::Uuid::now_v7(), outcome: Outcome::Failure, verified: None, device: None };
///     policy.settle(ticket, failed).await?;
/// }
/// let status = policy.status(None, "bob").await?;
/// assert_eq!((status.locked, status.failures, status.attempts_left), (None, 3, 7));
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStatus {
    /// Locked until (`Some(None)`: permanently), or not locked, in any place.
    pub locked: Option<Option<DateTime<Utc>>>,
    /// The most failures counted toward a sign-in lock in any one place.
    pub failures: u64,
    /// Attempts left before a lock in that place.
    pub attempts_left: u64,
}

impl LockoutPolicy {
    /// A policy keeping its state in memory ([`MemoryLedger`]). `store` is the log the
    /// policy's events go to (through the recorder it is a stage of).
    pub fn new(store: Arc<dyn ActivityStore>, config: LockoutConfig) -> Self {
        Self {
            store,
            synced: tokio::sync::Mutex::new(None),
            restored: std::sync::atomic::AtomicBool::new(false),
            ledger: Arc::new(MemoryLedger::new()),
            config,
            clock: Arc::new(SystemClock),
            normalizer: Arc::new(DefaultNormalizer),
            recorder: OnceLock::new(),
            settled: Mutex::new(Settled::default()),
        }
    }

    /// Keeps the state in `ledger` (one shared by every app instance, such as
    /// `activity_sqlx::PgLedger`).
    pub fn ledger(mut self, ledger: Arc<dyn LockoutLedger>) -> Self {
        self.ledger = ledger;
        self
    }

    /// Uses `clock` for "now" (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Normalises identifiers with `normalizer` (default [`DefaultNormalizer`]: trim, NFKC,
    /// lower case). The HTTP layer uses the same one for the events it records.
    pub fn normalizer(mut self, normalizer: impl Normalize) -> Self {
        self.normalizer = Arc::new(normalizer);
        self
    }

    /// The settings.
    pub fn config(&self) -> &LockoutConfig {
        &self.config
    }

    fn account(&self, typed: &str) -> Option<String> {
        self.normalizer.normalize(typed)
    }

    /// The group the counters of `account` under `kind` count in: their prefix and the
    /// threshold.
    fn group_of(&self, kind: AttemptKind, tenant: Option<&str>, account: &str) -> (String, u64) {
        (
            keys::subjects_of(kind, tenant, account),
            self.config.limits(kind).threshold,
        )
    }

    /// The capacity of an address's budget, if there is one.
    fn budget_limit(&self) -> Option<u64> {
        self.config
            .ip_budget
            .as_ref()
            .map(|b| u64::from(b.capacity))
    }

    /// Applies `change` to `key` of `group`: in a ledger with memory admission, after
    /// the group turns hot here and given what it holds outside `key`; else as is.
    /// `unhold`: also ends one hold moved into the ledger.
    async fn update_in(
        &self,
        group: Group<'_>,
        key: &str,
        unhold: bool,
        change: HeldChange<'_>,
    ) -> Result<LedgerEntry> {
        match self.ledger.memory() {
            Some(m) => Ok(m
                .update_held(group, Some(key), unhold, change)
                .await?
                .unwrap_or_default()),
            None => {
                self.ledger
                    .update(key, &mut |e: &mut LedgerEntry| change(e, 0))
                    .await
            }
        }
    }

    /// Ends one hold of `group` moved into the ledger, changing nothing else.
    async fn unhold(&self, group: Group<'_>) -> Result<()> {
        if let Some(m) = self.ledger.memory() {
            m.update_held(group, None, true, &mut |_: &mut LedgerEntry, _| {})
                .await?;
        }
        Ok(())
    }

    /// The place a sign-in attempt on `account` is counted for.
    async fn scope(
        &self,
        kind: AttemptKind,
        tenant: Option<&str>,
        account: &str,
        net: Option<&str>,
        device: Option<&str>,
    ) -> Result<String> {
        if kind == AttemptKind::Mfa {
            return Ok("any".into());
        }
        Ok(match self.config.scope {
            LockScope::Account => "any".into(),
            LockScope::AccountAndIp => match net {
                Some(n) => format!("ip:{n}"),
                None => "any".into(),
            },
            _ => {
                // A verified device the account signed in from, else a known network.
                let places = [
                    device.map(|d| format!("device:{d}")),
                    net.map(|n| format!("net:{n}")),
                ];
                for place in places.into_iter().flatten() {
                    let seen = keys::seen(tenant, account, &place);
                    if self.ledger.get(&seen).await?.is_some() {
                        return Ok(place);
                    }
                }
                "new".into()
            }
        })
    }

    /// Takes one attempt from the budget of `net`; the wait when it is spent.
    async fn take_budget(
        &self,
        net: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, Option<chrono::Duration>)>> {
        let Some(b) = &self.config.ip_budget else {
            return Ok(None);
        };
        let (cap, period) = (f64::from(b.capacity), b.period);
        let key = keys::budget(net);
        let mut wait = None;
        let group = Group {
            key: &key,
            limit: u64::from(b.capacity),
        };
        self.update_in(group, &key, false, &mut |e: &mut LedgerEntry, held| {
            let budget = e.budget.get_or_insert_with(|| Budget::full(cap, now));
            wait = budget.take_held(now, cap, period, held).err();
        })
        .await?;
        Ok(Some((key, wait)))
    }

    async fn give_back(&self, budget: &str) -> Result<()> {
        if let Some(b) = &self.config.ip_budget {
            let cap = f64::from(b.capacity);
            self.ledger
                .update(budget, &mut |e: &mut LedgerEntry| {
                    if let Some(bud) = &mut e.budget {
                        bud.give_back(cap);
                    }
                })
                .await?;
        }
        Ok(())
    }

    /// Removes what the ledger no longer needs: counters whose window, reservations and
    /// lock history have passed (an ended lock's release is recorded as it goes, as
    /// `lockout.released` with reason `expired`), budgets refilled completely, and devices, networks and account
    /// links not seen for [`familiar_for`](LockoutConfig::familiar_for). How many entries
    /// were removed. The in-memory ledger also prunes itself when full; a shared ledger
    /// (PostgreSQL's) grows with every name an attacker tries until this runs: run it
    /// periodically, for example as a [`Job`](crate::jobs::Job) (the policy is one).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::{lockout::*, ManualClock, MemoryStore, Outcome};
    /// use chrono::{Duration, TimeZone, Utc};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap());
    /// let ledger = Arc::new(MemoryLedger::new());
    /// let policy = LockoutPolicy::new(Arc::new(MemoryStore::new()), LockoutConfig::default())
    ///     .ledger(ledger.clone())
    ///     .clock(clock.clone());
    /// let Admission::Admitted(t) = policy.admit(&LockKey::account(None, "random-name")).await? else { panic!() };
    /// let failed = Settlement { event: uuid::Uuid::now_v7(), outcome: Outcome::Failure, verified: None, device: None };
    /// policy.settle(t, failed).await?;
    /// assert_eq!(policy.prune().await?, 0); // the failure still counts
    /// clock.advance(Duration::days(2));
    /// assert_eq!(policy.prune().await?, 1); // its window has passed
    /// assert!(ledger.is_empty());
    /// # Ok::<(), activity_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The ledger's errors.
    pub async fn prune(&self) -> Result<u64> {
        let now = self.clock.now();
        let limits = self.config.limits(AttemptKind::Login);
        let budget = self
            .config
            .ip_budget
            .as_ref()
            .map(|b| (f64::from(b.capacity), b.period));
        let familiar_since = now - self.config.familiar_for;
        let released = Mutex::new(Vec::new());
        let keep = |key: &str, e: &LedgerEntry| {
            let mut c = e.counter.clone();
            let ended = c.expire(now, &limits);
            // Again: the lock history is cleared only once no lock is left.
            c.expire(now, &limits);
            if c.lock.is_some() || !c.is_idle() {
                return true;
            }
            if let Some(lock) = ended {
                // An ended lock nobody asked about since: its release is recorded now
                // (under the same id as when an attempt finds it ended).
                let Some((_, tenant, account)) = keys::parse_subject(key) else {
                    return true;
                };
                match self.expired_event(tenant.as_deref(), &account, key, &lock) {
                    Some(ev) => released.lock().unwrap_or_else(|p| p.into_inner()).push(ev),
                    None => return true,
                }
            }
            if let (Some(b), Some((cap, period))) = (&e.budget, budget) {
                if !b.is_full(now, cap, period) {
                    return true;
                }
            }
            match e.seen {
                Some(at) => at > familiar_since,
                // A link made before links carried their time: kept.
                None => e.link.is_some(),
            }
        };
        let removed = self.ledger.retain(&keep).await?;
        for ev in released.into_inner().unwrap_or_else(|p| p.into_inner()) {
            self.record(ev);
        }
        if let Some(m) = self.ledger.memory() {
            // Groups whose counters and budget hold nothing any more are cold again.
            let spent = |_: &str, e: &LedgerEntry| {
                let mut c = e.counter.clone();
                c.expire(now, &limits);
                c.expire(now, &limits);
                c.lock.is_none()
                    && c.is_idle()
                    && match (&e.budget, budget) {
                        (Some(b), Some((cap, period))) => b.is_full(now, cap, period),
                        _ => true,
                    }
            };
            let cooled = m.cool(&spent).await?;
            tracing::debug!(cooled, "lockout groups cold again");
        }
        Ok(removed)
    }

    /// The sign-in state of `account` across its places: the strictest lock, the most
    /// failures.
    ///
    /// # Errors
    /// The ledger's errors.
    pub async fn status(&self, tenant: Option<&str>, typed: &str) -> Result<AccountStatus> {
        let account = self.account(typed).unwrap_or_else(|| typed.to_owned());
        let account = self.resolve(tenant, account).await?;
        let now = self.clock.now();
        let limits = self.config.limits(AttemptKind::Login);
        let mut locked: Option<Option<DateTime<Utc>>> = None;
        let mut failures = 0;
        let mut in_flight = 0;
        let prefix = keys::subjects_of(AttemptKind::Login, tenant, &account);
        // Read-only: the change leaves every entry as it was.
        let mut seen = Vec::new();
        self.ledger
            .update_prefix(&prefix, &mut |e: &mut LedgerEntry| {
                seen.push(e.counter.clone())
            })
            .await?;
        for mut c in seen {
            c.expire(now, &limits);
            if let Some(lock) = &c.lock {
                locked = Some(match (locked, lock.until) {
                    (Some(None), _) | (_, None) => None,
                    (Some(Some(a)), Some(b)) => Some(a.max(b)),
                    (None, Some(b)) => Some(b),
                });
            }
            if c.failures >= failures {
                failures = c.failures;
                in_flight = c.in_flight;
            }
        }
        Ok(AccountStatus {
            locked,
            failures,
            attempts_left: limits.threshold.saturating_sub(failures + in_flight),
        })
    }

    fn recorder(&self) -> Result<Recorder> {
        self.recorder
            .get()
            .ok_or(Error::NotStarted {
                stage: "LockoutPolicy",
                register: "lockout",
            })?
            .upgrade()
            .ok_or(Error::Closed)
    }

    fn record(&self, event: ActivityEvent) {
        match self.recorder() {
            Ok(rec) => {
                if let Err(e) = rec.record_reserved(event) {
                    tracing::error!(error = %e, "lockout event not recorded");
                }
            }
            Err(e) => tracing::warn!(error = %e, "lockout event not recorded"),
        }
    }

    /// The event of the lock `lock` of `account` (named `who` by the handler, if it did).
    fn lock_event(
        &self,
        r: &Reserved,
        account: &str,
        who: Option<&Actor>,
        lock: &Lock,
        trigger: uuid::Uuid,
        ip: Option<std::net::IpAddr>,
    ) -> ActivityEvent {
        let actor = who
            .cloned()
            .unwrap_or_else(|| Actor::user(account.to_owned()));
        let reason = match r.kind {
            AttemptKind::Mfa => "too_many_mfa_failures",
            _ => "too_many_failures",
        };
        let triggered = LockoutTriggered {
            failures: lock.failures,
            trigger: trigger.to_string(),
            until: lock.until,
            minutes: lock.until.map(|u| (u - lock.since).num_minutes()),
            permanent: lock.until.is_none(),
        };
        let mut e = triggered
            .write(ActivityEvent::lockout_triggered(actor, reason).with_time(lock.since))
            .with_detail("identifier", account.to_owned());
        if let Some(subject) = &r.subject {
            e = e.with_detail("subject", subject.clone());
        }
        if let Some(ip) = ip {
            e = e.with_ip(ip);
        }
        if let Some(t) = &r.tenant {
            e = e.with_tenant(t.clone());
        }
        e
    }

    /// The event that the lock `lock` under `subject` ran out (once: the ledger hands an
    /// expired lock back to one caller, and the id is derived from the lock).
    fn expired_event(
        &self,
        tenant: Option<&str>,
        account: &str,
        subject: &str,
        lock: &Lock,
    ) -> Option<ActivityEvent> {
        let end = lock.until?;
        let since = lock.since.to_rfc3339();
        let mut rel = ActivityEvent::lockout_released(Actor::user(account.to_owned()), "expired")
            .with_id(derived_id(&[
                b"expired",
                subject.as_bytes(),
                since.as_bytes(),
            ]))
            .with_time(end);
        if let Some(t) = tenant {
            rel = rel.with_tenant(t.to_owned());
        }
        Some(rel)
    }

    /// The identifier `account` is linked to (a handler's id for it), or itself.
    async fn resolve(&self, tenant: Option<&str>, account: String) -> Result<String> {
        Ok(self
            .ledger
            .get(&keys::alias(tenant, &account))
            .await?
            .and_then(|e| e.link)
            .unwrap_or(account))
    }

    /// Brings the ledger up to the lockout events in the store: on the first call the
    /// locks of the look-back (`history`), after that what others recorded since (an
    /// `activity unlock` from the command line, a lock or release by another instance with
    /// an in-memory ledger). At most once a second; off the request path except when an
    /// attempt meets a lock.
    async fn sync(&self) -> Result<()> {
        let now = self.clock.now();
        let mut synced = self.synced.lock().await;
        let since = match *synced {
            Some(at) if now - at < chrono::Duration::seconds(1) => return Ok(()),
            Some(at) => at - chrono::Duration::seconds(5),
            None => now - self.config.history,
        };
        let mut events = Vec::new();
        let mut pages = Pages::new(
            self.store.as_ref(),
            ActivityQuery::new().action("lockout").since(since),
        );
        while let Some(page) = pages.next().await? {
            events.extend(page);
        }
        drop(pages);
        // Oldest first: a release undoes only the locks that began before it.
        events.reverse();
        for e in &events {
            self.apply(e, now).await?;
        }
        *synced = Some(now);
        self.restored
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Applies one stored lockout event to the ledger (idempotent).
    async fn apply(&self, e: &ActivityEvent, now: DateTime<Utc>) -> Result<()> {
        let tenant = e.tenant.as_deref();
        if e.action == Action::LOCKOUT_RELEASED {
            let Some(actor) = &e.actor else { return Ok(()) };
            let at = e.time;
            for account in self.accounts_of(tenant, actor).await? {
                for kind in [AttemptKind::Login, AttemptKind::Mfa] {
                    let prefix = keys::subjects_of(kind, tenant, &account);
                    self.ledger
                        .update_prefix(&prefix, &mut |entry: &mut LedgerEntry| {
                            if entry.counter.lock.as_ref().is_some_and(|l| l.since <= at) {
                                entry.counter.unlock();
                            }
                        })
                        .await?;
                }
            }
        } else if e.action == Action::LOCKOUT_TRIGGERED {
            let Some(lock) = LockoutTriggered::read(e) else {
                return Ok(());
            };
            let Some(subject) = e
                .details
                .as_ref()
                .and_then(|d| d.get("subject"))
                .and_then(|v| v.as_str())
            else {
                return Ok(());
            };
            if lock.until.is_some_and(|u| u <= now) {
                return Ok(());
            }
            let restored = Lock {
                since: e.time,
                until: lock.until,
                failures: lock.failures,
            };
            let Some((kind, tenant, account)) = keys::parse_subject(subject) else {
                return Ok(());
            };
            let (group, limit) = self.group_of(kind, tenant.as_deref(), &account);
            let group = Group { key: &group, limit };
            self.update_in(group, subject, false, &mut |entry: &mut LedgerEntry, _| {
                let c = &mut entry.counter;
                if c.lock.as_ref().is_none_or(|l| l.since < restored.since)
                    && c.last_lock_at.is_none_or(|t| t < restored.since)
                {
                    c.lock = Some(restored.clone());
                    c.locks += 1;
                    c.last_lock_at = Some(restored.since);
                }
            })
            .await?;
        }
        Ok(())
    }

    /// The accounts `actor` stands for: its id, its name and the identifier its id is
    /// linked to, normalised.
    async fn accounts_of(&self, tenant: Option<&str>, actor: &Actor) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |s: Option<String>| {
            if let Some(s) = s {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        };
        push(self.account(&actor.id));
        push(actor.name.as_deref().and_then(|n| self.account(n)));
        let link = self
            .ledger
            .get(&keys::alias(tenant, &actor.id))
            .await?
            .and_then(|e| e.link);
        push(link);
        Ok(out)
    }

    /// Lifts every lock of the accounts `actor` stands for; the accounts that were locked.
    async fn release(&self, tenant: Option<&str>, actor: &Actor) -> Result<Vec<String>> {
        let mut released = Vec::new();
        for account in self.accounts_of(tenant, actor).await? {
            let mut any = false;
            for kind in [AttemptKind::Login, AttemptKind::Mfa] {
                let prefix = keys::subjects_of(kind, tenant, &account);
                self.ledger
                    .update_prefix(&prefix, &mut |e: &mut LedgerEntry| {
                        any |= e.counter.unlock();
                    })
                    .await?;
            }
            if any {
                released.push(account);
            }
        }
        Ok(released)
    }

    /// An administrator unlocks `account` (every place, sign-in and second factor):
    /// records `admin.user.unlocked` and `lockout.released` (reason `admin_unlock`) through
    /// the recorder this policy is a stage of
    /// ([`RecorderBuilder::lockout`](crate::RecorderBuilder::lockout)).
    ///
    /// # Errors
    /// [`Error::NotStarted`] when the policy is not a stage of a started recorder; the
    /// ledger's errors; as [`Recorder::record`].
    pub async fn unlock(&self, admin: Actor, tenant: Option<&str>, account: &str) -> Result<()> {
        let recorder = self.recorder()?;
        let now = self.clock.now();
        let target = Actor::user(account.to_owned());
        self.release(tenant, &target).await?;
        let mut by =
            ActivityEvent::admin_user_unlocked(admin.clone(), Target::user(account)).with_time(now);
        let mut released = LockoutReleased { by: Some(admin.id) }
            .write(ActivityEvent::lockout_released(target, "admin_unlock").with_time(now));
        if let Some(t) = tenant {
            by = by.with_tenant(t);
            released = released.with_tenant(t);
        }
        recorder.record(by)?;
        recorder.record_reserved(released)
    }

    /// Counts a committed event the layer did not settle (one the application recorded).
    async fn count_committed(&self, e: &ActivityEvent, out: &mut Vec<ActivityEvent>) -> Result<()> {
        let success = e.action == Action::LOGIN_SUCCEEDED || e.action == Action::MFA_VERIFIED;
        let kind = if e.action == Action::LOGIN_FAILED || e.action == Action::LOGIN_SUCCEEDED {
            AttemptKind::Login
        } else if e.action == Action::MFA_FAILED || e.action == Action::MFA_VERIFIED {
            AttemptKind::Mfa
        } else if e.action == Action::PASSWORD_RESET_COMPLETED && e.outcome == Outcome::Success {
            // The application itself says whose reset it verified.
            if let Some(actor) = &e.actor {
                let tenant = e.tenant.as_deref();
                for account in self.release(tenant, actor).await? {
                    let mut rel =
                        ActivityEvent::lockout_released(Actor::user(account), "password_reset")
                            .with_time(e.time);
                    if let Some(t) = tenant {
                        rel = rel.with_tenant(t);
                    }
                    out.push(rel);
                }
            }
            return Ok(());
        } else {
            return Ok(());
        };
        if matches!(
            e.reason.as_deref(),
            Some("locked" | "throttled" | "body_too_large")
        ) {
            return Ok(());
        }
        let Some(account) = e.actor_id().and_then(|a| self.account(a)) else {
            return Ok(());
        };
        let tenant = e.tenant.as_deref();
        let (group, threshold) = self.group_of(kind, tenant, &account);
        if success && self.ledger.memory().is_some_and(|m| m.is_cold(&group)) {
            // No failures to reset anywhere.
            return Ok(());
        }
        let net = e.ip().map(keys::network);
        let scope = self
            .scope(kind, tenant, &account, net.as_deref(), e.device_id())
            .await?;
        let subject = keys::subject(kind, tenant, &account, &scope);
        let limits = self.config.limits(kind);
        let mut lock = None;
        let mut expired = None;
        let reset = self.config.reset_on_success;
        let group = Group {
            key: &group,
            limit: threshold,
        };
        self.update_in(group, &subject, false, &mut |entry: &mut LedgerEntry, _| {
            expired = entry.counter.expire(e.time, &limits);
            if !success {
                // Not reserved: counted without ending anyone's reservation.
                entry.counter.in_flight += 1;
                lock = entry.counter.fail(e.time, &limits);
            } else if reset && entry.counter.lock.is_none() {
                entry.counter.failures = 0;
                entry.counter.window_start = None;
            }
        })
        .await?;
        let r = Reserved {
            kind,
            tenant: e.tenant.clone(),
            account: Some(account.clone()),
            subject: Some(subject.clone()),
            budget: None,
            device: None,
            net,
            ip: e.ip(),
            hold: None,
        };
        if let Some(old) = expired {
            out.extend(self.expired_event(tenant, &account, &subject, &old));
        }
        if let Some(lock) = lock {
            out.push(self.lock_event(&r, &account, None, &lock, e.id, e.ip()));
        }
        Ok(())
    }
}

impl LockoutPolicy {
    /// Settles an attempt the ledger reserved.
    async fn settle_reserved(
        &self,
        r: &Reserved,
        s: &Settlement<'_>,
        account: Option<&str>,
    ) -> Result<()> {
        match s.outcome {
            Outcome::Failure => {
                if let Some(acct) = account {
                    let subject = match &r.subject {
                        Some(sub) => sub.clone(),
                        None => self.subject_at(r, acct).await?,
                    };
                    self.fail_in(r, s, acct, &subject, false, false).await?;
                }
            }
            outcome => {
                if let Some(b) = &r.budget {
                    self.give_back(b).await?;
                }
                let reset = outcome == Outcome::Success && self.config.reset_on_success;
                if let Some(subject) = &r.subject {
                    self.ledger
                        .update(subject, &mut |e: &mut LedgerEntry| {
                            if outcome == Outcome::Success {
                                e.counter.succeed(reset);
                            } else {
                                e.counter.release();
                            }
                        })
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Settles an attempt held from memory: nothing to write while its groups stayed cold;
    /// a failure turns them hot and is counted in the ledger.
    async fn settle_held(
        &self,
        r: &Reserved,
        hold: Hold,
        s: &Settlement<'_>,
        account: Option<&str>,
    ) -> Result<()> {
        let Some(m) = self.ledger.memory() else {
            return Err(Error::backend(
                "a hold from memory settled with a ledger that has no memory admission",
                None,
            ));
        };
        let failed = s.outcome == Outcome::Failure;
        let moved = m.end(hold.clone(), failed).await?;
        let moved = |key: &str| {
            hold.groups
                .iter()
                .zip(&moved)
                .any(|((k, _), moved)| k == key && *moved)
        };
        let now = self.clock.now();
        let tenant = r.tenant.as_deref();
        if let (Some(net), Some(b)) = (&r.net, &self.config.ip_budget) {
            let key = keys::budget(net);
            let group = Group {
                key: &key,
                limit: u64::from(b.capacity),
            };
            if moved(&key) {
                if failed {
                    let (cap, period) = (f64::from(b.capacity), b.period);
                    self.update_in(group, &key, true, &mut |e: &mut LedgerEntry, _| {
                        e.budget
                            .get_or_insert_with(|| Budget::full(cap, now))
                            .spend(now, cap, period);
                    })
                    .await?;
                } else {
                    self.unhold(group).await?;
                }
            }
        }
        let typed = r
            .account
            .as_deref()
            .map(|a| self.group_of(r.kind, tenant, a));
        let held_in_ledger = typed.as_ref().is_some_and(|(g, _)| moved(g));
        if failed {
            if let Some(acct) = account {
                let subject = self.subject_at(r, acct).await?;
                self.fail_in(r, s, acct, &subject, true, held_in_ledger)
                    .await?;
            }
        } else if let (true, Some((group, limit))) = (held_in_ledger, &typed) {
            let group = Group {
                key: group,
                limit: *limit,
            };
            match (s.outcome, account) {
                (Outcome::Success, Some(acct)) if self.config.reset_on_success => {
                    let subject = self.subject_at(r, acct).await?;
                    self.update_in(group, &subject, true, &mut |e: &mut LedgerEntry, _| {
                        if e.counter.lock.is_none() {
                            e.counter.failures = 0;
                            e.counter.window_start = None;
                        }
                    })
                    .await?;
                }
                _ => self.unhold(group).await?,
            }
        }
        Ok(())
    }

    /// The counter an attempt on `account` is counted in, decided now.
    async fn subject_at(&self, r: &Reserved, account: &str) -> Result<String> {
        let tenant = r.tenant.as_deref();
        let scope = self
            .scope(
                r.kind,
                tenant,
                account,
                r.net.as_deref(),
                r.device.as_deref(),
            )
            .await?;
        Ok(keys::subject(r.kind, tenant, account, &scope))
    }

    /// Counts a failed attempt on `account` in `subject`, recording the lock it causes.
    /// `unreserved`: the attempt holds no reservation in the counter (held from memory);
    /// `unhold`: it was moved into the ledger as a hold of the group.
    async fn fail_in(
        &self,
        r: &Reserved,
        s: &Settlement<'_>,
        account: &str,
        subject: &str,
        unreserved: bool,
        unhold: bool,
    ) -> Result<()> {
        let now = self.clock.now();
        let tenant = r.tenant.as_deref();
        let limits = self.config.limits(r.kind);
        let (group, threshold) = self.group_of(r.kind, tenant, account);
        let group = Group {
            key: &group,
            limit: threshold,
        };
        let (mut lock, mut expired) = (None, None);
        self.update_in(group, subject, unhold, &mut |e: &mut LedgerEntry, _| {
            if unreserved {
                expired = e.counter.expire(now, &limits);
                e.counter.in_flight += 1;
            }
            lock = e.counter.fail(now, &limits);
        })
        .await?;
        if let Some(old) = expired {
            if let Some(ev) = self.expired_event(tenant, account, subject, &old) {
                self.record(ev);
            }
        }
        if let Some(lock) = lock {
            self.record(self.lock_event(r, account, s.verified, &lock, s.event, r.ip));
        }
        Ok(())
    }
}

fn status_of(refusal: Refusal, kind: AttemptKind, now: DateTime<Utc>) -> LockStatus {
    match refusal {
        Refusal::Locked(lock) => LockStatus::Locked {
            until: lock.until,
            reason: match kind {
                AttemptKind::Mfa => "too_many_mfa_failures",
                _ => "too_many_failures",
            }
            .into(),
        },
        // As many attempts are in flight as may still fail: wait for them.
        Refusal::Busy => LockStatus::Locked {
            until: Some(now + chrono::Duration::seconds(1)),
            reason: "attempts_in_flight".into(),
        },
    }
}

#[async_trait]
impl LockoutCheck for LockoutPolicy {
    async fn check(&self, key: &LockKey<'_>) -> Result<LockStatus> {
        let Some(account) = key.account.and_then(|a| self.account(a)) else {
            return Ok(LockStatus::Open {
                attempts_left: None,
            });
        };
        // A handler's id for the account finds the identifier's lock.
        let account = self.resolve(key.tenant, account).await?;
        let (group, threshold) = self.group_of(key.kind, key.tenant, &account);
        if self.ledger.memory().is_some_and(|m| m.is_cold(&group)) {
            // No failures anywhere: nothing to read.
            return Ok(LockStatus::Open {
                attempts_left: Some(u32::try_from(threshold).unwrap_or(u32::MAX)),
            });
        }
        let now = self.clock.now();
        let net = key.ip.map(keys::network);
        let scope = self
            .scope(key.kind, key.tenant, &account, net.as_deref(), key.device)
            .await?;
        let subject = keys::subject(key.kind, key.tenant, &account, &scope);
        let limits = self.config.limits(key.kind);
        let mut expired = None;
        let entry = self
            .ledger
            .update(&subject, &mut |e: &mut LedgerEntry| {
                expired = e.counter.expire(now, &limits);
            })
            .await?;
        if let Some(old) = expired {
            if let Some(ev) = self.expired_event(key.tenant, &account, &subject, &old) {
                self.record(ev);
            }
        }
        Ok(match &entry.counter.lock {
            Some(lock) => status_of(Refusal::Locked(lock.clone()), key.kind, now),
            None => LockStatus::Open {
                attempts_left: Some(
                    u32::try_from(entry.counter.attempts_left(&limits)).unwrap_or(u32::MAX),
                ),
            },
        })
    }

    async fn admit(&self, key: &LockKey<'_>) -> Result<Admission> {
        if !self.restored.load(std::sync::atomic::Ordering::Acquire) {
            // The first attempt after a start waits for the locks still running.
            self.sync().await?;
        }
        let now = self.clock.now();
        let account = key.account.and_then(|a| self.account(a));
        let net = key.ip.map(keys::network);
        let mut r = Reserved {
            kind: key.kind,
            tenant: key.tenant.map(str::to_owned),
            account: account.clone(),
            subject: None,
            budget: None,
            device: key.device.map(str::to_owned),
            net: net.clone(),
            ip: key.ip,
            hold: None,
        };
        if key.kind == AttemptKind::Reset {
            return Ok(Admission::Admitted(Ticket(Some(Box::new(r)))));
        }
        if let Some(m) = self.ledger.memory() {
            // No recent failures for the account or from the address: held from this
            // instance's share, without asking the ledger.
            let budget = net.as_deref().zip(self.budget_limit());
            let budget = budget.map(|(n, cap)| (keys::budget(n), cap));
            let account_group = account
                .as_deref()
                .map(|a| self.group_of(key.kind, key.tenant, a));
            let groups: Vec<Group<'_>> = budget
                .iter()
                .chain(account_group.iter())
                .map(|(key, limit)| Group { key, limit: *limit })
                .collect();
            if !groups.is_empty() {
                if let Some(hold) = m.hold(&groups) {
                    r.hold = Some(hold);
                    return Ok(Admission::Admitted(Ticket(Some(Box::new(r)))));
                }
            }
        }
        if let Some(n) = &net {
            if let Some((budget, wait)) = self.take_budget(n, now).await? {
                if let Some(wait) = wait {
                    return Ok(Admission::Refused(LockStatus::Throttled {
                        until: now + wait,
                    }));
                }
                r.budget = Some(budget);
            }
        }
        let Some(account) = account else {
            return Ok(Admission::Admitted(Ticket(Some(Box::new(r)))));
        };
        let scope = self
            .scope(key.kind, key.tenant, &account, net.as_deref(), key.device)
            .await?;
        let subject = keys::subject(key.kind, key.tenant, &account, &scope);
        let limits = self.config.limits(key.kind);
        let (group, threshold) = self.group_of(key.kind, key.tenant, &account);
        let group = Group {
            key: &group,
            limit: threshold,
        };
        let (mut refusal, mut expired) = (None, None);
        self.update_in(group, &subject, false, &mut |e: &mut LedgerEntry, held| {
            expired = e.counter.expire(now, &limits);
            refusal = e.counter.reserve_held(now, &limits, held).err();
        })
        .await?;
        if let Some(old) = expired {
            if let Some(ev) = self.expired_event(key.tenant, &account, &subject, &old) {
                self.record(ev);
            }
        }
        if let Some(Refusal::Locked(_)) = &refusal {
            // An unlock recorded elsewhere (the command line, another instance) may have
            // lifted it: read what is new, then decide again.
            let ran = self.synced.try_lock().is_ok();
            if ran {
                if let Err(e) = self.sync().await {
                    tracing::warn!(error = %e, "lockout could not read recent unlocks");
                }
                self.update_in(group, &subject, false, &mut |e: &mut LedgerEntry, held| {
                    refusal = e.counter.reserve_held(now, &limits, held).err();
                })
                .await?;
            }
        }
        if let Some(refusal) = refusal {
            if let Some(b) = &r.budget {
                self.give_back(b).await?;
            }
            return Ok(Admission::Refused(status_of(refusal, key.kind, now)));
        }
        r.subject = Some(subject);
        Ok(Admission::Admitted(Ticket(Some(Box::new(r)))))
    }

    async fn settle(&self, ticket: Ticket, s: Settlement<'_>) -> Result<()> {
        let Some(mut r) = ticket.0 else {
            return Ok(());
        };
        self.settled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(s.event);
        let now = self.clock.now();
        let tenant = r.tenant.clone();
        let tenant = tenant.as_deref();
        if r.kind == AttemptKind::Reset {
            if let (Outcome::Success, Some(actor)) = (s.outcome, s.verified) {
                for account in self.release(tenant, actor).await? {
                    let mut rel = ActivityEvent::lockout_released(actor.clone(), "password_reset")
                        .with_time(now)
                        .with_detail("identifier", account);
                    if let Some(t) = tenant {
                        rel = rel.with_tenant(t);
                    }
                    self.record(rel);
                }
            }
            return Ok(());
        }
        // The account is the typed identifier, or the handler's when none was typed.
        let account = r
            .account
            .clone()
            .or_else(|| s.verified.and_then(|a| self.account(&a.id)));
        // What to remember of a sign-in: links and places (key, link).
        let mut remember: Vec<(String, Option<String>)> = Vec::new();
        if let (Some(account), Some(v)) = (&account, s.verified) {
            // Tie the handler's id for the account to the identifier, so that the lock is
            // found by either.
            if let Some(id) = self.account(&v.id).filter(|id| id != account) {
                remember.push((keys::alias(tenant, &id), Some(account.clone())));
            }
        }
        let held = r.hold.take();
        let from_memory = held.is_some();
        match held {
            Some(hold) => self.settle_held(&r, hold, &s, account.as_deref()).await?,
            None => self.settle_reserved(&r, &s, account.as_deref()).await?,
        }
        if let (Outcome::Success, AttemptKind::Login, Some(acct)) = (s.outcome, r.kind, &account) {
            // Remember the device and network the account signed in from.
            let device = s.device.map(str::to_owned).or_else(|| r.device.clone());
            let places = [
                device.map(|d| format!("device:{d}")),
                r.net.as_ref().map(|n| format!("net:{n}")),
            ];
            for place in places.into_iter().flatten() {
                remember.push((keys::seen(tenant, acct, &place), None));
            }
        }
        let ledger = self.ledger.clone();
        let writes = async move {
            for (key, link) in remember {
                ledger
                    .update(&key, &mut |e: &mut LedgerEntry| {
                        if link.is_some() {
                            e.link.clone_from(&link);
                        }
                        e.seen = Some(now);
                    })
                    .await?;
            }
            Ok::<(), Error>(())
        };
        if from_memory {
            // Held from memory: the answer does not wait on the ledger for what only a
            // later sign-in reads.
            tokio::spawn(async move {
                if let Err(e) = writes.await {
                    tracing::warn!(error = %e, "lockout could not remember a sign-in");
                }
            });
            Ok(())
        } else {
            writes.await
        }
    }

    fn normalizer(&self) -> Arc<dyn Normalize> {
        self.normalizer.clone()
    }
}

/// Pruning the ledger ([`LockoutPolicy::prune`]) as a periodic job.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use activity_core::{jobs, lockout::{LockoutConfig, LockoutPolicy}, MemoryStore};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let policy = Arc::new(LockoutPolicy::new(Arc::new(MemoryStore::new()), LockoutConfig::default()));
/// let pruning = jobs::every(Duration::from_secs(3600)).spawn(policy.clone());
/// pruning.run_now().await;
/// assert!(pruning.last_run().unwrap().succeeded());
/// pruning.stop().await;
/// # });
/// ```
#[async_trait]
impl crate::jobs::Job for LockoutPolicy {
    fn name(&self) -> &str {
        "lockout-prune"
    }

    async fn run(&self) -> Result<()> {
        let removed = self.prune().await?;
        tracing::debug!(removed, "lockout ledger pruned");
        Ok(())
    }
}

#[async_trait]
impl AfterCommit for LockoutPolicy {
    fn on_start(&self, recorder: &Recorder) {
        let _ = self.recorder.set(recorder.downgrade());
    }

    async fn after_commit(
        &self,
        store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent> {
        let _ = store;
        if let Err(err) = self.sync().await {
            tracing::warn!(error = %err, "lockout could not read recent lockout events");
        }
        let mut out = Vec::new();
        for e in committed {
            let layer_settled = self
                .settled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(&e.id);
            if layer_settled {
                continue;
            }
            if let Err(err) = self.count_committed(e, &mut out).await {
                tracing::error!(error = %err, "lockout policy could not count an event");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
