//! Alerts: rules that read recent history through the store after each committed batch,
//! and sinks that deliver what they raise.
//!
//! The [`AlertEngine`] is a recorder [`AfterCommit`] stage. Each rule judges an event by
//! the event's own time (so ingesting a day of history raises what it would have raised
//! live) and reads the history from the [`ActivityStore`] (so a rule holds across app
//! instances sharing one database). An alert is stored as an `alert.raised` event whose
//! id is derived from the rule and the event that triggered it, so evaluating the same
//! event twice — a retry, or two instances — never stores two alerts. Sinks get alerts
//! through a bounded queue on a task of their own: a slow or failing sink never stalls
//! recording.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use uuid::Uuid;

mod rules;

pub use rules::{haversine_km, AnonymousIpAction, ConcurrentSessions, GeoAnomaly, NewDevice};

use crate::error::Result;
use crate::event::{Action, ActivityEvent, Target};
use crate::query::{ActivityQuery, Cursor, Page};
use crate::recorder::AfterCommit;
use crate::store::ActivityStore;

/// How serious an alert is.
///
/// ```
/// use activity_core::Severity;
/// assert_eq!(Severity::High.as_str(), "high");
/// assert!(Severity::Medium > Severity::Low, "ordered, so sinks can filter on a minimum");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Investigate soon.
    Medium,
    /// Investigate now.
    High,
}

impl Severity {
    /// `low`, `medium`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Something a rule found.
///
/// The engine stores each alert as the event [`to_event`](Alert::to_event) gives, whose id
/// depends only on the rule and the trigger, so the same alert is never stored twice.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, Alert, Severity};
/// let failure = ActivityEvent::login_failed(Actor::user("bob"));
/// let alert = Alert {
///     rule: "failed_logins".into(),
///     severity: Severity::High,
///     account: Some("bob".into()),
///     tenant: None,
///     evidence: vec![failure.id],
///     message: "5 failed logins for account bob within 15 minutes".into(),
///     time: failure.time,
///     trigger: failure.id,
/// };
/// let event = alert.to_event();
/// assert_eq!(event.action.as_str(), "alert.raised");
/// assert_eq!(event.target.as_ref().and_then(|t| t.id.as_deref()), Some("bob"));
/// assert_eq!(alert.clone().to_event().id, event.id);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The rule's stable id, e.g. `failed_logins`.
    pub rule: String,
    /// Severity.
    pub severity: Severity,
    /// The account concerned, if any.
    pub account: Option<String>,
    /// The tenant.
    pub tenant: Option<String>,
    /// The events that caused it (ids).
    pub evidence: Vec<Uuid>,
    /// For people.
    pub message: String,
    /// When (the triggering event's time).
    pub time: DateTime<Utc>,
    /// The event that triggered it.
    pub trigger: Uuid,
}

impl Alert {
    /// The `alert.raised` event storing this alert (id derived from rule and trigger).
    pub fn to_event(&self) -> ActivityEvent {
        let mut h = Sha256::new();
        h.update(self.rule.as_bytes());
        h.update(self.trigger.as_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let mut e = ActivityEvent::alert_raised(&self.rule, self.severity.as_str(), &self.evidence)
            .with_id(Uuid::new_v8(bytes))
            .with_time(self.time)
            .with_detail("message", self.message.clone());
        if let Some(a) = &self.account {
            e = e.with_target(Target::user(a.clone()));
        }
        if let Some(t) = &self.tenant {
            e = e.with_tenant(t.clone());
        }
        e
    }
}

/// A rule. Custom rules implement this and are added with [`AlertEngine::rule`].
///
/// ```
/// use activity_core::reexports::async_trait;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, Alert, AlertEngine, AlertRule,
///     MemoryStore, Severity};
///
/// /// Any sign-in to the `root` account.
/// struct RootLogin;
///
/// #[async_trait]
/// impl AlertRule for RootLogin {
///     fn id(&self) -> &str {
///         "root_login"
///     }
///     async fn evaluate(
///         &self,
///         _store: &dyn ActivityStore,
///         e: &ActivityEvent,
///     ) -> activity_core::Result<Vec<Alert>> {
///         if e.action.as_str() != "auth.login.succeeded" || e.actor_id() != Some("root") {
///             return Ok(Vec::new());
///         }
///         Ok(vec![Alert {
///             rule: self.id().into(),
///             severity: Severity::High,
///             account: Some("root".into()),
///             tenant: e.tenant.clone(),
///             evidence: vec![e.id],
///             message: "root signed in".into(),
///             time: e.time,
///             trigger: e.id,
///         }])
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let batch = [
///     ActivityEvent::login_succeeded(Actor::user("root")),
///     ActivityEvent::login_succeeded(Actor::user("ann")),
/// ];
/// store.append(&batch).await?;
/// let alerts = AlertEngine::new().rule(RootLogin).evaluate(&store, &batch).await?;
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].trigger, batch[0].id);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait AlertRule: Send + Sync + 'static {
    /// The stable id.
    fn id(&self) -> &str;
    /// Judges one committed event, reading history from `store`.
    async fn evaluate(
        &self,
        store: &dyn ActivityStore,
        event: &ActivityEvent,
    ) -> Result<Vec<Alert>>;

    /// Judges one committed event within an [`Evaluation`] of its batch, which shares
    /// the history the rules read (the engine calls this one). The default calls
    /// [`evaluate`](Self::evaluate) with the evaluation's store; rules that read an
    /// account's login history override it to use [`Evaluation::previous_logins`].
    async fn evaluate_in(
        &self,
        evaluation: &Evaluation<'_>,
        event: &ActivityEvent,
    ) -> Result<Vec<Alert>> {
        self.evaluate(evaluation.store(), event).await
    }

    /// The recent successful logins this rule reads through
    /// [`Evaluation::previous_logins`], as (how many, how far back), so that the engine
    /// reads them for the whole batch in the same store call as the rest of its history.
    /// Default: none.
    fn login_look_back(&self) -> Option<(usize, Duration)> {
        None
    }

    /// The queries [`evaluate_in`](Self::evaluate_in) will make for `event` through
    /// [`Evaluation::query`], so that the engine runs those of the whole batch in one
    /// store call ([`ActivityStore::query_many`]) before judging any event. Default: none
    /// (the rule reads as it goes).
    fn prefetch(&self, event: &ActivityEvent) -> Vec<ActivityQuery> {
        let _ = event;
        Vec::new()
    }
}

/// Whether the engine judges `e`: not the alerts and audit records it writes itself.
fn evaluable(e: &ActivityEvent) -> bool {
    let category = e.action.category();
    category != "alert" && category != "audit"
}

/// The successful logins of one account read for a batch: every login of the account
/// before `upto` (by time, then id) and no older than `since`, newest first — or only
/// the newest of them when `complete` is false.
#[derive(Debug)]
struct LoginWindow {
    since: DateTime<Utc>,
    upto: (DateTime<Utc>, Uuid),
    complete: bool,
    logins: Vec<ActivityEvent>,
}

impl LoginWindow {
    /// Where the newest `count` logins before `e` within `since` are in this window
    /// (newest first), if it holds them.
    fn serve(
        &self,
        e: &ActivityEvent,
        count: usize,
        since: DateTime<Utc>,
    ) -> Option<std::ops::Range<usize>> {
        if (e.time, e.id) > self.upto || since < self.since {
            return None;
        }
        // Newest first (`keep_window` sorts): those before `e` start at `start`, and
        // run on while they are within `since`.
        let start = self
            .logins
            .partition_point(|x| (x.time, x.id) >= (e.time, e.id));
        let within = self.logins[start..].partition_point(|x| x.time >= since);
        let before = within.min(count);
        // Enough of them; or all there are (the window is complete, or reaches back
        // past `since` so that nothing in the look-back is missing).
        let reaches_back = self.logins.last().is_some_and(|o| o.time < since);
        if before == count || self.complete || reaches_back {
            Some(start..start + before)
        } else {
            None
        }
    }
}

/// Successful logins of an account, newest first, as
/// [`Evaluation::recent_logins`] returns them: a view of the evaluation's shared read
/// (no copies), or read for one event alone.
///
/// ```
/// use activity_core::{ActivityEvent, ActivityStore, Actor, Evaluation, MemoryStore};
/// use chrono::Duration;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let first = ActivityEvent::login_succeeded(Actor::user("ann"));
/// let second = ActivityEvent::login_succeeded(Actor::user("ann"))
///     .with_time(first.time + Duration::minutes(1));
/// store.append(&[first.clone(), second.clone()]).await?;
/// let batch = [second.clone()];
/// let evaluation = Evaluation::new(&store, &batch);
/// let logins = evaluation.recent_logins(&second, 20, Duration::days(90)).await?;
/// assert_eq!(logins.iter().map(|e| e.id).collect::<Vec<_>>(), vec![first.id]);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Logins(LoginsInner);

#[derive(Debug, Clone)]
enum LoginsInner {
    Shared(Arc<LoginWindow>, std::ops::Range<usize>),
    Own(Vec<ActivityEvent>),
}

impl std::ops::Deref for Logins {
    type Target = [ActivityEvent];
    fn deref(&self) -> &[ActivityEvent] {
        match &self.0 {
            LoginsInner::Shared(w, range) => &w.logins[range.clone()],
            LoginsInner::Own(v) => v,
        }
    }
}

/// Tenant and account.
type AccountKey = (Option<String>, String);

/// One evaluation of a committed batch: the store, the batch, and the history the rules
/// have read so far, so that rules asking the same question (`new_device` and
/// `geo_anomaly` both want the account's recent successful logins) read it once, and
/// several logins of one account in a batch share one read.
///
/// ```
/// use activity_core::{ActivityEvent, ActivityStore, Actor, Evaluation, MemoryStore};
/// use chrono::Duration;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let first = ActivityEvent::login_succeeded(Actor::user("ann"));
/// let second = ActivityEvent::login_succeeded(Actor::user("ann"))
///     .with_time(first.time + Duration::minutes(1));
/// store.append(&[first.clone(), second.clone()]).await?;
/// let batch = [second.clone()];
/// let evaluation = Evaluation::new(&store, &batch);
/// let before = evaluation.previous_logins(&second, 20, Duration::days(90)).await?;
/// assert_eq!(before.iter().map(|e| e.id).collect::<Vec<_>>(), vec![first.id]);
/// assert_eq!(evaluation.history_reads(), 1);
/// // Asked again (by another rule): served from the evaluation, no second read.
/// evaluation.previous_logins(&second, 20, Duration::days(90)).await?;
/// assert_eq!(evaluation.history_reads(), 1);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
pub struct Evaluation<'a> {
    store: &'a dyn ActivityStore,
    batch: &'a [ActivityEvent],
    logins: Mutex<HashMap<AccountKey, Arc<LoginWindow>>>,
    pages: Mutex<HashMap<ActivityQuery, Arc<Page>>>,
    reads: AtomicU64,
}

/// The read that serves an account's logins for `e` and every later login of the
/// account in the batch.
struct WindowRead {
    key: AccountKey,
    query: ActivityQuery,
    since: DateTime<Utc>,
    upto: (DateTime<Utc>, Uuid),
    limit: usize,
}

impl std::fmt::Debug for Evaluation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluation")
            .field("batch", &self.batch.len())
            .field("history_reads", &self.history_reads())
            .finish_non_exhaustive()
    }
}

impl<'a> Evaluation<'a> {
    /// An evaluation of `batch` (committed to `store`).
    pub fn new(store: &'a dyn ActivityStore, batch: &'a [ActivityEvent]) -> Self {
        Self {
            store,
            batch,
            logins: Mutex::new(HashMap::new()),
            pages: Mutex::new(HashMap::new()),
            reads: AtomicU64::new(0),
        }
    }

    /// The store.
    pub fn store(&self) -> &'a dyn ActivityStore {
        self.store
    }

    /// How many store calls this evaluation has made for history: one for
    /// [`prefetch`](Self::prefetch), one for each read [`previous_logins`](Self::previous_logins)
    /// and [`query`](Self::query) could not serve from what it already had.
    pub fn history_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The successful logins of `e`'s account (and tenant) before `e` — by time, then id —
    /// newest first: at most `count`, none older than `look_back` before `e`. Read from
    /// the store once per account and batch, as long as the rules' look-backs allow.
    /// [`recent_logins`](Self::recent_logins) is the same without copying the events.
    ///
    /// # Errors
    /// The store's.
    pub async fn previous_logins(
        &self,
        e: &ActivityEvent,
        count: usize,
        look_back: Duration,
    ) -> Result<Vec<ActivityEvent>> {
        Ok(self.recent_logins(e, count, look_back).await?.to_vec())
    }

    /// What [`previous_logins`](Self::previous_logins) returns, as a view of the shared
    /// read: the built-in rules use this.
    ///
    /// # Errors
    /// The store's.
    pub async fn recent_logins(
        &self,
        e: &ActivityEvent,
        count: usize,
        look_back: Duration,
    ) -> Result<Logins> {
        let Some(account) = e.actor_id() else {
            return Ok(Logins(LoginsInner::Own(Vec::new())));
        };
        let since = e.time - look_back;
        let key = (e.tenant.clone(), account.to_owned());
        let cached = self
            .logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(w) = cached {
            if let Some(range) = w.serve(e, count, since) {
                return Ok(Logins(LoginsInner::Shared(w, range)));
            }
        }
        let read = self.window_read(e, account, count, look_back);
        self.reads.fetch_add(1, Ordering::Relaxed);
        let page = self.store.query(&read.query).await?;
        let w = self.keep_window(read, page);
        match w.serve(e, count, since) {
            Some(range) => Ok(Logins(LoginsInner::Shared(w, range))),
            // Only when other writers' logins crowd the window: read for `e` alone.
            None => Ok(Logins(LoginsInner::Own(
                self.previous_logins_direct(e, account, count, since)
                    .await?,
            ))),
        }
    }

    /// The read of `account`'s logins for `e` and every later login of the account in
    /// the batch: up to the newest of them, reaching back for the oldest, with room for
    /// the logins of the batch itself on top of `count`.
    fn window_read(
        &self,
        e: &ActivityEvent,
        account: &str,
        count: usize,
        look_back: Duration,
    ) -> WindowRead {
        let mut upto = (e.time, e.id);
        let mut oldest = e.time;
        let mut in_batch = 0usize;
        for x in self.batch {
            if x.action == Action::LOGIN_SUCCEEDED
                && x.actor_id() == Some(account)
                && x.tenant == e.tenant
                && (x.time, x.id) >= (e.time, e.id)
            {
                upto = upto.max((x.time, x.id));
                oldest = oldest.min(x.time);
                in_batch += 1;
            }
        }
        let limit = (count + in_batch + 1).min(crate::MAX_PAGE_SIZE);
        let since = (e.time - look_back).min(oldest - look_back);
        let mut query = ActivityQuery::new()
            .actor(account)
            .action(Action::LOGIN_SUCCEEDED.as_str())
            .since(since)
            .after(Cursor::new(upto.0, upto.1))
            .limit(limit);
        if let Some(t) = &e.tenant {
            query = query.tenant(t.clone());
        }
        WindowRead {
            key: (e.tenant.clone(), account.to_owned()),
            query,
            since,
            upto,
            limit,
        }
    }

    /// Keeps what a window read returned for the account's later logins.
    fn keep_window(&self, read: WindowRead, page: Page) -> Arc<LoginWindow> {
        let mut logins = page.events;
        // Newest first, as `serve` expects (stores return them so: this only makes sure).
        logins.sort_by_key(|x| std::cmp::Reverse((x.time, x.id)));
        let w = Arc::new(LoginWindow {
            since: read.since,
            upto: read.upto,
            complete: logins.len() < read.limit,
            logins,
        });
        self.logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(read.key, Arc::clone(&w));
        w
    }

    /// The page `query` returns: the one [`prefetch`](Self::prefetch) read for it, else
    /// read now (and kept for the next rule asking the same).
    ///
    /// # Errors
    /// The store's.
    pub async fn query(&self, query: &ActivityQuery) -> Result<Arc<Page>> {
        let kept = self
            .pages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(query)
            .cloned();
        if let Some(page) = kept {
            return Ok(page);
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let page = Arc::new(self.store.query(query).await?);
        self.pages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(query.clone(), Arc::clone(&page));
        Ok(page)
    }

    /// Reads, in one store call ([`ActivityStore::query_many`]), everything `rules` said
    /// they will read for the batch: the recent logins of every account that signs in
    /// (the longest look-back any rule asked for) and each rule's
    /// [`prefetch`](AlertRule::prefetch) queries (the same query once). The
    /// [`AlertEngine`] calls it before judging a batch; the rules then find their
    /// history here.
    ///
    /// # Errors
    /// The store's.
    pub async fn prefetch(&self, rules: &[&dyn AlertRule]) -> Result<()> {
        let mut queries = Vec::new();
        let mut windows = Vec::new();
        let look_back = rules
            .iter()
            .filter_map(|r| r.login_look_back())
            .reduce(|a, b| (a.0.max(b.0), a.1.max(b.1)));
        if let Some((count, look_back)) = look_back {
            // Each account's earliest login in the batch: its read covers the later ones.
            let mut first: HashMap<AccountKey, &ActivityEvent> = HashMap::new();
            for e in self.batch.iter().filter(|e| evaluable(e)) {
                if e.action != Action::LOGIN_SUCCEEDED {
                    continue;
                }
                let Some(account) = e.actor_id() else {
                    continue;
                };
                first
                    .entry((e.tenant.clone(), account.to_owned()))
                    .and_modify(|f| {
                        if (e.time, e.id) < (f.time, f.id) {
                            *f = e;
                        }
                    })
                    .or_insert(e);
            }
            for ((_, account), e) in &first {
                let read = self.window_read(e, account, count, look_back);
                queries.push(read.query.clone());
                windows.push(read);
            }
        }
        let windows_end = queries.len();
        let mut seen = std::collections::HashSet::new();
        for e in self.batch.iter().filter(|e| evaluable(e)) {
            for r in rules {
                for q in r.prefetch(e) {
                    if seen.insert(q.clone()) {
                        queries.push(q);
                    }
                }
            }
        }
        if queries.is_empty() {
            return Ok(());
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let mut pages = self.store.query_many(&queries).await?.into_iter();
        for read in windows {
            let page = pages.next().unwrap_or_default();
            self.keep_window(read, page);
        }
        let mut kept = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        for q in queries.drain(windows_end..) {
            kept.insert(q, Arc::new(pages.next().unwrap_or_default()));
        }
        Ok(())
    }

    async fn previous_logins_direct(
        &self,
        e: &ActivityEvent,
        account: &str,
        count: usize,
        since: DateTime<Utc>,
    ) -> Result<Vec<ActivityEvent>> {
        let mut q = ActivityQuery::new()
            .actor(account)
            .action(Action::LOGIN_SUCCEEDED.as_str())
            .since(since)
            .after(Cursor::after_event(e))
            .limit(count);
        if let Some(t) = &e.tenant {
            q = q.tenant(t.clone());
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        Ok(self.store.query(&q).await?.events)
    }
}

/// Receives alerts (on the engine's delivery task). Closures `Fn(&Alert)` are sinks too.
///
/// ```
/// use std::sync::Mutex;
/// use activity_core::reexports::async_trait;
/// use activity_core::{Alert, AlertEngine, AlertSink, Severity};
///
/// /// Pages the on-call engineer, for high-severity alerts only.
/// #[derive(Default)]
/// struct Pager(Mutex<Vec<String>>);
///
/// #[async_trait]
/// impl AlertSink for Pager {
///     async fn deliver(&self, alert: &Alert) {
///         if alert.severity >= Severity::High {
///             self.0.lock().unwrap().push(alert.message.clone());
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let alert = |severity, message: &str| Alert { rule: "failed_logins".into(), severity,
/// #     account: None, tenant: None, evidence: Vec::new(), message: message.into(),
/// #     time: chrono::Utc::now(), trigger: activity_core::reexports::uuid::Uuid::now_v7() };
/// let pager = Pager::default();
/// pager.deliver(&alert(Severity::Low, "a new device")).await;
/// pager.deliver(&alert(Severity::High, "5 failed logins")).await;
/// assert_eq!(*pager.0.lock().unwrap(), vec!["5 failed logins".to_string()]);
/// // In an application the engine calls it for every alert raised:
/// let _engine = AlertEngine::with_defaults().sink(pager).start(1024);
/// # });
/// ```
#[async_trait]
pub trait AlertSink: Send + Sync + 'static {
    /// Delivers one alert.
    async fn deliver(&self, alert: &Alert);
}

#[async_trait]
impl<F> AlertSink for F
where
    F: Fn(&Alert) + Send + Sync + 'static,
{
    async fn deliver(&self, alert: &Alert) {
        self(alert)
    }
}

/// A sink that logs each alert with `tracing` at WARN.
///
/// ```
/// use activity_core::{Alert, AlertEngine, AlertSink, Severity, TracingSink};
/// # use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
/// # use tracing::{span, Event, Level, Metadata, Subscriber};
/// # struct Warnings(Arc<AtomicUsize>);
/// # impl Subscriber for Warnings {
/// #     fn enabled(&self, _: &Metadata<'_>) -> bool { true }
/// #     fn new_span(&self, _: &span::Attributes<'_>) -> span::Id { span::Id::from_u64(1) }
/// #     fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
/// #     fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
/// #     fn event(&self, e: &Event<'_>) {
/// #         if *e.metadata().level() == Level::WARN { self.0.fetch_add(1, Ordering::SeqCst); }
/// #     }
/// #     fn enter(&self, _: &span::Id) {}
/// #     fn exit(&self, _: &span::Id) {}
/// # }
/// # let warnings = Arc::new(AtomicUsize::new(0));
/// # let _subscriber = tracing::subscriber::set_default(Warnings(warnings.clone()));
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let alert = Alert { rule: "new_device".into(), severity: Severity::Medium,
/// #     account: Some("ann".into()), tenant: None, evidence: Vec::new(),
/// #     message: "sign-in to ann from a new device".into(), time: chrono::Utc::now(),
/// #     trigger: activity_core::reexports::uuid::Uuid::now_v7() };
/// let _engine = AlertEngine::with_defaults().sink(TracingSink).start(1024);
/// // What the engine does with each alert: one WARN event.
/// TracingSink.deliver(&alert).await;
/// assert_eq!(warnings.load(Ordering::SeqCst), 1);
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

#[async_trait]
impl AlertSink for TracingSink {
    async fn deliver(&self, a: &Alert) {
        tracing::warn!(rule = %a.rule, severity = a.severity.as_str(), account = ?a.account, tenant = ?a.tenant, "{}", a.message);
    }
}

/// A sink for the user-facing side: it calls `notify(account, alert)` for alerts about an
/// account raised by the rules in `rules` (by default `new_device`, `geo_anomaly` and
/// `concurrent_sessions`), so the host app can e-mail the affected user.
///
/// ```
/// use activity_core::{AccountNotifier, AlertEngine};
/// let engine = AlertEngine::with_defaults()
///     .sink(AccountNotifier::new(|account: &str, alert: &activity_core::Alert| {
///         println!("mail {account}: {}", alert.message);
///     }));
/// ```
pub struct AccountNotifier<F> {
    notify: F,
    rules: Vec<String>,
}

impl<F> std::fmt::Debug for AccountNotifier<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountNotifier")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl<F: Fn(&str, &Alert) + Send + Sync + 'static> AccountNotifier<F> {
    /// Notifies through `notify` for the default rules.
    pub fn new(notify: F) -> Self {
        Self {
            notify,
            rules: vec![
                "new_device".into(),
                "geo_anomaly".into(),
                "concurrent_sessions".into(),
            ],
        }
    }

    /// Only for these rule ids.
    pub fn rules(mut self, rules: &[&str]) -> Self {
        self.rules = rules.iter().map(|r| r.to_string()).collect();
        self
    }
}

#[async_trait]
impl<F: Fn(&str, &Alert) + Send + Sync + 'static> AlertSink for AccountNotifier<F> {
    async fn deliver(&self, a: &Alert) {
        if let Some(account) = &a.account {
            if self.rules.contains(&a.rule) {
                (self.notify)(account, a);
            }
        }
    }
}

/// A sink that sends each alert into a tokio channel (dropping it, counted, if full).
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, Actor, AlertEngine, ChannelSink, FailedLogins,
///     MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (tx, mut alerts) = tokio::sync::mpsc::channel(16);
/// let engine = AlertEngine::new()
///     .rule(FailedLogins::default())
///     .sink(ChannelSink(tx))
///     .start(64);
/// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new()))
///     .after_commit(engine)
///     .start();
/// for _ in 0..5 {
///     recorder.record(ActivityEvent::login_failed(Actor::user("bob"))).unwrap();
/// }
/// recorder.flush().await.unwrap();
/// let alert = alerts.recv().await.unwrap();
/// assert_eq!((alert.rule.as_str(), alert.account.as_deref()), ("failed_logins", Some("bob")));
/// guard.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ChannelSink(pub mpsc::Sender<Alert>);

#[async_trait]
impl AlertSink for ChannelSink {
    async fn deliver(&self, a: &Alert) {
        if self.0.try_send(a.clone()).is_err() {
            tracing::warn!(rule = %a.rule, "alert channel full or closed; alert stored but not delivered");
        }
    }
}

/// Runs rules after each committed batch and delivers what they raise.
///
/// Added to a recorder with [`after_commit`](crate::RecorderBuilder::after_commit) (after
/// [`start`](Self::start), to deliver to its sinks); [`evaluate`](Self::evaluate) judges a
/// batch directly.
///
/// ```
/// use activity_core::{ActivityEvent, ActivityStore, Actor, AlertEngine, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
/// let failures: Vec<_> = (0..5)
///     .map(|i| ActivityEvent::login_failed(Actor::user("bob")).with_time(t0 + Duration::minutes(i)))
///     .collect();
/// let store = MemoryStore::new();
/// store.append(&failures).await?;
/// let engine = AlertEngine::with_defaults();
/// let alerts = engine.evaluate(&store, &failures).await?;
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].rule, "failed_logins");
/// assert_eq!(alerts[0].trigger, failures[4].id);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
pub struct AlertEngine {
    rules: Vec<Arc<dyn AlertRule>>,
    sinks: Vec<Arc<dyn AlertSink>>,
    queue: Option<mpsc::Sender<Alert>>,
    undelivered: Arc<AtomicU64>,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine")
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|r| r.id().to_owned())
                    .collect::<Vec<_>>(),
            )
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl Default for AlertEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl AlertEngine {
    /// An engine with no rules.
    pub fn new() -> Self {
        Self {
            rules: Vec::new(),
            sinks: Vec::new(),
            queue: None,
            undelivered: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The built-in rules with the product's defaults: `failed_logins`,
    /// `failed_logins_ip`, `new_device`, `geo_anomaly`, `concurrent_sessions`.
    pub fn with_defaults() -> Self {
        Self::new()
            .rule(FailedLogins::default())
            .rule(FailedLogins::per_ip())
            .rule(NewDevice::default())
            .rule(GeoAnomaly::default())
            .rule(ConcurrentSessions::default())
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: impl AlertRule) -> Self {
        self.rules.push(Arc::new(rule));
        self
    }

    /// Adds a sink.
    pub fn sink(mut self, sink: impl AlertSink) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Starts the delivery task (on the current tokio runtime) with a queue of `capacity`
    /// alerts; alerts that find it full are counted in [`undelivered`](Self::undelivered)
    /// (they are stored all the same).
    pub fn start(mut self, capacity: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<Alert>(capacity.max(1));
        let sinks = self.sinks.clone();
        tokio::spawn(async move {
            while let Some(a) = rx.recv().await {
                for s in &sinks {
                    s.deliver(&a).await;
                }
            }
        });
        self.queue = Some(tx);
        self
    }

    /// Alerts not handed to the sinks because their queue was full.
    pub fn undelivered(&self) -> u64 {
        self.undelivered.load(Ordering::Relaxed)
    }

    /// Evaluates every rule on `events` and returns the alerts (without delivering).
    ///
    /// # Errors
    /// The first rule error.
    pub async fn evaluate(
        &self,
        store: &dyn ActivityStore,
        events: &[ActivityEvent],
    ) -> Result<Vec<Alert>> {
        let evaluation = Evaluation::new(store, events);
        let rules: Vec<&dyn AlertRule> = self.rules.iter().map(|r| &**r).collect();
        evaluation.prefetch(&rules).await?;
        let mut out = Vec::new();
        for e in events.iter().filter(|e| evaluable(e)) {
            for r in &self.rules {
                out.extend(r.evaluate_in(&evaluation, e).await?);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl AfterCommit for AlertEngine {
    async fn after_commit(
        &self,
        store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent> {
        let alerts = match self.evaluate(store, committed).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "alert rules could not read history; batch not evaluated");
                return Vec::new();
            }
        };
        let mut events = Vec::with_capacity(alerts.len());
        for a in alerts {
            events.push(a.to_event());
            if let Some(q) = &self.queue {
                if q.try_send(a).is_err() {
                    self.undelivered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        events
    }
}

/// `failed_logins`: `threshold` failed logins for one account within `window` raise one
/// alert per burst (when the threshold-th failure arrives, ordered by time then id), and
/// `failed_logins_ip` the same per source address across accounts (password spraying).
///
/// ```
/// use activity_core::{ActivityEvent, ActivityStore, Actor, AlertEngine, FailedLogins,
///     MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // Stricter than the default: three failures within five minutes.
/// let mut rule = FailedLogins::default();
/// rule.threshold = 3;
/// rule.window = Duration::minutes(5);
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
/// let failures: Vec<_> = (0..3)
///     .map(|i| ActivityEvent::login_failed(Actor::user("bob")).with_time(t0 + Duration::minutes(i)))
///     .collect();
/// let store = MemoryStore::new();
/// store.append(&failures).await?;
/// let alerts = AlertEngine::new().rule(rule).evaluate(&store, &failures).await?;
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].evidence.len(), 3);
/// assert_eq!(FailedLogins::per_ip().threshold, 20);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FailedLogins {
    /// Failures that raise the alert (default 5; 20 per IP).
    pub threshold: u64,
    /// The window (default 15 minutes); events exactly `window` apart are not within it.
    pub window: Duration,
    /// Severity (default high).
    pub severity: Severity,
    per_ip: bool,
}

impl Default for FailedLogins {
    fn default() -> Self {
        Self {
            threshold: 5,
            window: Duration::minutes(15),
            severity: Severity::High,
            per_ip: false,
        }
    }
}

impl FailedLogins {
    /// The per-address variant (`failed_logins_ip`, 20 failures in 15 minutes).
    pub fn per_ip() -> Self {
        Self {
            threshold: 20,
            per_ip: true,
            ..Self::default()
        }
    }
}

impl FailedLogins {
    /// The failures in the window ending at `e` (a failed login), of its account or
    /// address, and that account or address.
    fn window(&self, e: &ActivityEvent) -> Option<(ActivityQuery, String)> {
        if e.action != Action::LOGIN_FAILED || e.reason.as_deref() == Some("locked") {
            return None;
        }
        let mut q = ActivityQuery::new()
            .action(Action::LOGIN_FAILED.as_str())
            .since(e.time - self.window + Duration::microseconds(1))
            .until(e.time + Duration::microseconds(1))
            .limit(crate::MAX_PAGE_SIZE);
        if let Some(t) = &e.tenant {
            q = q.tenant(t.clone());
        }
        let subject = if self.per_ip {
            let ip = e.ip()?;
            q = q.ip(ip);
            ip.to_string()
        } else {
            let a = e.actor_id()?;
            q = q.actor(a);
            a.to_owned()
        };
        Some((q, subject))
    }
}

#[async_trait]
impl AlertRule for FailedLogins {
    fn id(&self) -> &str {
        if self.per_ip {
            "failed_logins_ip"
        } else {
            "failed_logins"
        }
    }

    async fn evaluate(&self, store: &dyn ActivityStore, e: &ActivityEvent) -> Result<Vec<Alert>> {
        self.evaluate_in(&Evaluation::new(store, std::slice::from_ref(e)), e)
            .await
    }

    fn prefetch(&self, e: &ActivityEvent) -> Vec<ActivityQuery> {
        self.window(e).map(|(q, _)| q).into_iter().collect()
    }

    async fn evaluate_in(&self, ev: &Evaluation<'_>, e: &ActivityEvent) -> Result<Vec<Alert>> {
        let Some((q, subject)) = self.window(e) else {
            return Ok(Vec::new());
        };
        let page = ev.query(&q).await?;
        let mut window: Vec<&ActivityEvent> = page
            .events
            .iter()
            .filter(|x| x.reason.as_deref() != Some("locked") && (x.time, x.id) <= (e.time, e.id))
            .collect();
        window.sort_by_key(|x| (x.time, x.id));
        if window.len() as u64 != self.threshold || window.last().map(|x| x.id) != Some(e.id) {
            return Ok(Vec::new());
        }
        let what = if self.per_ip {
            "from address"
        } else {
            "for account"
        };
        Ok(vec![Alert {
            rule: self.id().to_owned(),
            severity: self.severity,
            account: if self.per_ip {
                None
            } else {
                Some(subject.clone())
            },
            tenant: e.tenant.clone(),
            evidence: window.iter().map(|x| x.id).collect(),
            message: format!(
                "{} failed logins {what} {subject} within {} minutes",
                self.threshold,
                self.window.num_minutes()
            ),
            time: e.time,
            trigger: e.id,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, MemoryStore, Source};
    use chrono::TimeZone;
    use rules::{GeoAnomaly, NewDevice};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
    }

    fn fail(account: &str, at: DateTime<Utc>, ip: &str) -> ActivityEvent {
        ActivityEvent::login_failed(Actor::user(account))
            .with_time(at)
            .with_source(Source::ip(ip.parse().unwrap()))
    }

    async fn alerts_for(events: &[ActivityEvent], engine: &AlertEngine) -> Vec<Alert> {
        let store = MemoryStore::new();
        store.append(events).await.unwrap();
        engine.evaluate(&store, events).await.unwrap()
    }

    #[tokio::test]
    async fn four_failures_do_not_alert_five_do_once() {
        let engine = AlertEngine::new().rule(FailedLogins::default());
        let four: Vec<_> = (0..4)
            .map(|i| fail("bob", t0() + Duration::minutes(i), "1.1.1.1"))
            .collect();
        assert!(alerts_for(&four, &engine).await.is_empty());
        let seven: Vec<_> = (0..7)
            .map(|i| fail("bob", t0() + Duration::minutes(i), "1.1.1.1"))
            .collect();
        let alerts = alerts_for(&seven, &engine).await;
        assert_eq!(alerts.len(), 1, "one alert per burst");
        assert_eq!(alerts[0].evidence.len(), 5);
        assert_eq!(alerts[0].trigger, seven[4].id);
        assert_eq!(alerts[0].account.as_deref(), Some("bob"));
    }

    #[tokio::test]
    async fn the_window_boundary_is_exact() {
        let engine = AlertEngine::new().rule(FailedLogins::default());
        // First and fifth 14:59 apart: within.
        let mut inside: Vec<_> = (0..4)
            .map(|i| fail("bob", t0() + Duration::seconds(i), "1.1.1.1"))
            .collect();
        inside.push(fail(
            "bob",
            t0() + Duration::seconds(14 * 60 + 59),
            "1.1.1.1",
        ));
        assert_eq!(alerts_for(&inside, &engine).await.len(), 1);
        // First and fifth exactly 15:00 apart: not within.
        let mut outside: Vec<_> = (0..4)
            .map(|i| fail("bob", t0() + Duration::seconds(i), "1.1.1.1"))
            .collect();
        outside[0] = fail("bob", t0(), "1.1.1.1");
        outside.push(fail("bob", t0() + Duration::minutes(15), "1.1.1.1"));
        assert!(alerts_for(&outside, &engine).await.is_empty());
    }

    #[tokio::test]
    async fn identical_timestamps_alert_once_and_accounts_are_separate() {
        let engine = AlertEngine::new().rule(FailedLogins::default());
        let mut v: Vec<_> = (0..6).map(|_| fail("bob", t0(), "1.1.1.1")).collect();
        v.extend((0..4).map(|_| fail("carol", t0(), "1.1.1.1")));
        assert_eq!(alerts_for(&v, &engine).await.len(), 1);
    }

    #[tokio::test]
    async fn spraying_from_one_address_across_accounts() {
        let engine = AlertEngine::new().rule(FailedLogins::per_ip());
        let v: Vec<_> = (0..25)
            .map(|i| {
                fail(
                    &format!("user{i}"),
                    t0() + Duration::seconds(i),
                    "175.16.199.1",
                )
            })
            .collect();
        let alerts = alerts_for(&v, &engine).await;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule, "failed_logins_ip");
        assert_eq!(alerts[0].evidence.len(), 20);
    }

    fn login_at(account: &str, at: DateTime<Utc>) -> ActivityEvent {
        ActivityEvent::login_succeeded(Actor::user(account))
            .with_time(at)
            .with_source(Source::ip("81.2.69.142".parse().unwrap()).with_device_id("d1"))
    }

    #[tokio::test]
    async fn new_device_and_geo_anomaly_share_one_history_read() {
        let store = MemoryStore::new();
        let mut v: Vec<_> = (0..5)
            .map(|i| login_at("ann", t0() + Duration::hours(i)))
            .collect();
        // Three more logins in one batch, and someone else's.
        let batch: Vec<_> = (5..8)
            .map(|i| login_at("ann", t0() + Duration::hours(i)))
            .chain([login_at("bob", t0())])
            .collect();
        v.extend(batch.iter().cloned());
        store.append(&v).await.unwrap();
        let ev = Evaluation::new(&store, &batch);
        for e in &batch {
            for r in [
                &NewDevice::default() as &dyn AlertRule,
                &GeoAnomaly::default(),
            ] {
                r.evaluate_in(&ev, e).await.unwrap();
            }
        }
        assert_eq!(ev.history_reads(), 2, "one read for ann, one for bob");
    }

    /// A repeatable pseudo-random source (xorshift): each call, a number below `n`.
    fn below(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    /// The shared reads give exactly what a read per event gives, whatever the batch,
    /// the look-backs, and the other writers' logins interleaved with the batch's.
    #[tokio::test]
    async fn shared_reads_equal_reads_per_event() {
        let mut next = below(0x2545_f491_4f6c_dd1du64);
        for round in 0..200 {
            let store = MemoryStore::new();
            let accounts = ["ann", "bob"];
            let mut batch = Vec::new();
            let mut all = Vec::new();
            for _ in 0..(5 + next(25)) {
                let a = accounts[next(2) as usize];
                // Coarse times, so that equal timestamps (ordered by id) occur.
                let at = t0() + Duration::minutes(10 * next(40) as i64);
                let mut e = if next(5) == 0 {
                    ActivityEvent::login_failed(Actor::user(a)).with_time(at)
                } else {
                    login_at(a, at)
                };
                if next(7) == 0 {
                    e = e.with_tenant("acme");
                }
                if next(3) == 0 {
                    batch.push(e.clone());
                }
                all.push(e);
            }
            store.append(&all).await.unwrap();
            let ev = Evaluation::new(&store, &batch);
            for e in &batch {
                let count = 1 + next(4) as usize;
                let look_back = Duration::minutes(10 * (1 + next(30)) as i64);
                let shared = ev.previous_logins(e, count, look_back).await.unwrap();
                let direct = ev
                    .previous_logins_direct(e, e.actor_id().unwrap(), count, e.time - look_back)
                    .await
                    .unwrap();
                let ids = |v: &[ActivityEvent]| v.iter().map(|x| x.id).collect::<Vec<_>>();
                assert_eq!(ids(&shared), ids(&direct), "round {round}");
            }
        }
    }

    /// Read ahead for the whole batch in one store call, the built-in rules raise exactly
    /// what each raises judging one event at a time with its own reads.
    #[tokio::test]
    async fn one_prefetch_per_batch_raises_what_reads_per_event_raise() {
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let engine = AlertEngine::with_defaults();
        let rules: Vec<&dyn AlertRule> = engine.rules.iter().map(|r| &**r).collect();
        let mut raised = 0;
        for round in 0..60 {
            let store = MemoryStore::new();
            let mut all = Vec::new();
            let mut batch = Vec::new();
            for _ in 0..(10 + next(50)) {
                let account = ["ann", "bob", "cy"][next(3) as usize];
                let at = t0() + Duration::minutes(next(90) as i64);
                let ip = ["81.2.69.142", "175.16.199.1", "2.125.160.216"][next(3) as usize];
                let source = Source::ip(ip.parse().unwrap())
                    .with_device_id(["d1", "d2", "d3"][next(3) as usize]);
                let mut e = match next(6) {
                    0..=2 => ActivityEvent::login_failed(Actor::user(account))
                        .with_reason("bad_password"),
                    3 => ActivityEvent::session_created(Actor::user(account))
                        .with_session(format!("s{}", next(4))),
                    4 => ActivityEvent::session_terminated(Actor::user(account))
                        .with_session(format!("s{}", next(4))),
                    _ => ActivityEvent::login_succeeded(Actor::user(account)),
                }
                .with_time(at)
                .with_source(source);
                if next(8) == 0 {
                    e = e.with_tenant("acme");
                }
                if next(2) == 0 {
                    batch.push(e.clone());
                }
                all.push(e);
            }
            store.append(&all).await.unwrap();
            let ev = Evaluation::new(&store, &batch);
            ev.prefetch(&rules).await.unwrap();
            let mut shared = Vec::new();
            for e in &batch {
                for r in &rules {
                    shared.extend(r.evaluate_in(&ev, e).await.unwrap());
                }
            }
            assert!(
                ev.history_reads() <= 1,
                "round {round}: {} reads",
                ev.history_reads()
            );
            let mut alone = Vec::new();
            for e in &batch {
                for r in &rules {
                    alone.extend(r.evaluate(&store, e).await.unwrap());
                }
            }
            let key = |a: &Alert| {
                (
                    a.rule.clone(),
                    a.trigger,
                    a.evidence.clone(),
                    a.message.clone(),
                )
            };
            let (mut shared, mut alone): (Vec<_>, Vec<_>) = (
                shared.iter().map(key).collect(),
                alone.iter().map(key).collect(),
            );
            shared.sort();
            alone.sort();
            assert_eq!(shared, alone, "round {round}");
            raised += alone.len();
        }
        assert!(
            raised > 20,
            "the batches raise alerts of their own: {raised}"
        );
    }

    #[tokio::test]
    async fn the_engine_stores_alerts_once_and_delivers_them() {
        let store = Arc::new(MemoryStore::new());
        let (tx, mut rx) = mpsc::channel(16);
        let notified = Arc::new(std::sync::Mutex::new(Vec::new()));
        let n2 = notified.clone();
        let engine = AlertEngine::with_defaults()
            .sink(ChannelSink(tx))
            .sink(TracingSink)
            .sink(
                AccountNotifier::new(move |acc: &str, _a: &Alert| {
                    n2.lock().unwrap().push(acc.to_owned())
                })
                .rules(&["failed_logins"]),
            )
            .start(64);
        let (rec, guard) = crate::Recorder::builder(store.clone())
            .after_commit(engine)
            .lifecycle_events(false)
            .start();
        for i in 0..5 {
            rec.record(fail("bob", t0() + Duration::minutes(i), "1.1.1.1"))
                .unwrap();
        }
        rec.flush().await.unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.rule, "failed_logins");
        // The sinks run in order on their task: after the channel, the notifier.
        for _ in 0..100 {
            if !notified.lock().unwrap().is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(*notified.lock().unwrap(), vec!["bob".to_string()]);
        let stored = store
            .query(&ActivityQuery::new().action("alert.raised"))
            .await
            .unwrap()
            .events;
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].target.as_ref().unwrap().id.as_deref(),
            Some("bob")
        );
        // The same alert evaluated again (a retry, another instance) is not stored twice.
        let again = got.to_event();
        assert_eq!(store.append(&[again]).await.unwrap(), 0);
        guard.shutdown().await;
    }
}
