//! One evaluation of a committed batch: the store, the batch, and the history the rules
//! have read so far, so that rules asking the same question read it once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::AlertRule;
use crate::{Action, ActivityEvent, ActivityQuery, ActivityStore, Cursor, Page, Result};

/// Whether the engine judges `e`: not the alerts and audit records it writes itself.
pub(super) fn evaluable(e: &ActivityEvent) -> bool {
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
/// use activity_core::alerts::Evaluation;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
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
/// use activity_core::alerts::Evaluation;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
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

    /// The store the batch was committed to, where the rules read history.
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
        let limit = (count + in_batch + 1).min(crate::query::MAX_PAGE_SIZE);
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
    /// [`AlertEngine`](super::AlertEngine) calls it before judging a batch; the rules then find their
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::fixtures::{below, login_at, t0};
    use crate::alerts::{GeoAnomaly, NewDevice};
    use crate::{Actor, MemoryStore};

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
}
