//! The progress line of long operations (ingest, export, archive, verify, purge): one
//! line on standard error, redrawn in place at most ten times a second, and only when
//! standard error is a terminal, so that it never mixes into redirected or piped output
//! (machine-readable results go to standard output or a file in any case).
//!
//! It counts through the library's own code paths: [`ProgressStore`] wraps the store and
//! counts the events that pass through `query` (export, archive, verify read a page at a
//! time) and `delete` (purge), so no operation is implemented twice.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use activity_core::{
    chain::ChainHead, query::DeleteRequest, store::DroppedPartitions, ActivityEvent, ActivityQuery,
    ActivityStore, Page,
};
use chrono::{DateTime, Utc};

/// How often the line is redrawn at most.
const EVERY: Duration = Duration::from_millis(100);

/// A progress line: `label: N events` (with `/ total` when known).
///
/// ```
/// use activity_sqlx::cli::progress::Progress;
/// # use std::io::Write;
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Screen(Arc<Mutex<Vec<u8>>>);
/// # impl Write for Screen {
/// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
/// #         self.0.lock().unwrap().write(b)
/// #     }
/// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// # }
/// let screen = Screen::default(); // a terminal stand-in whose bytes can be read back
/// let p = Progress::with_sink("export", Some(Box::new(screen.clone())));
/// p.set_total(10);
/// p.add(3);
/// p.finish();
/// let drawn = String::from_utf8(screen.0.lock().unwrap().clone()).unwrap();
/// assert_eq!(drawn, "\rexport: 3 / 10 events\x1b[K\r\x1b[K"); // drawn in place, then cleared
/// assert_eq!(p.count(), 3);
/// // Without a sink (standard error is not a terminal) it only counts.
/// let quiet = Progress::with_sink("export", None);
/// quiet.add(3);
/// assert!(!quiet.is_drawn());
/// assert_eq!(quiet.count(), 3);
/// ```
pub struct Progress {
    label: String,
    /// The expected total; 0 when unknown.
    total: AtomicU64,
    count: AtomicU64,
    out: Mutex<Option<Out>>,
}

struct Out {
    sink: Box<dyn Write + Send>,
    last: Option<Instant>,
    drawn: bool,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("label", &self.label)
            .field("count", &self.count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// A line on standard error when it is a terminal; otherwise a counter that draws
    /// nothing.
    ///
    /// ```
    /// // Drawn only when standard error is a terminal; counted either way.
    /// let p = activity_sqlx::cli::progress::Progress::stderr("export");
    /// p.add(10);
    /// assert_eq!(p.count(), 10);
    /// ```
    pub fn stderr(label: &str) -> Arc<Self> {
        let sink: Option<Box<dyn Write + Send>> = if std::io::stderr().is_terminal() {
            Some(Box::new(std::io::stderr()))
        } else {
            None
        };
        Arc::new(Self::with_sink(label, sink))
    }

    /// A line drawn into `sink` (`None`: nothing drawn).
    ///
    /// ```
    /// use activity_sqlx::cli::progress::Progress;
    /// let p = Progress::with_sink("verify", None); // counts, draws nothing
    /// assert!(!p.is_drawn());
    /// ```
    pub fn with_sink(label: &str, sink: Option<Box<dyn Write + Send>>) -> Self {
        Self {
            label: activity_core::text::escape_control(label),
            total: AtomicU64::new(0),
            count: AtomicU64::new(0),
            out: Mutex::new(sink.map(|sink| Out {
                sink,
                last: None,
                drawn: false,
            })),
        }
    }

    /// Sets the expected total (shown as `N / total`).
    ///
    /// ```
    /// let p = activity_sqlx::cli::progress::Progress::with_sink("ingest", None);
    /// p.set_total(100);
    /// p.add(40);
    /// assert_eq!(p.count(), 40);
    /// ```
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Whether anything is drawn.
    ///
    /// ```
    /// let p = activity_sqlx::cli::progress::Progress::with_sink("x", Some(Box::new(std::io::sink())));
    /// assert!(p.is_drawn());
    /// ```
    pub fn is_drawn(&self) -> bool {
        self.out.lock().map(|o| o.is_some()).unwrap_or(false)
    }

    /// Counts `n` more and redraws if due.
    ///
    /// ```
    /// let p = activity_sqlx::cli::progress::Progress::with_sink("purge", None);
    /// p.add(2);
    /// p.add(3);
    /// assert_eq!(p.count(), 5);
    /// ```
    pub fn add(&self, n: u64) {
        let count = self.count.fetch_add(n, Ordering::Relaxed) + n;
        let Ok(mut guard) = self.out.lock() else {
            return;
        };
        let Some(out) = guard.as_mut() else { return };
        let now = Instant::now();
        if out.last.is_some_and(|l| now.duration_since(l) < EVERY) {
            return;
        }
        out.last = Some(now);
        out.drawn = true;
        let line = match self.total.load(Ordering::Relaxed) {
            0 => format!("{}: {count} events", self.label),
            t => format!("{}: {count} / {t} events", self.label),
        };
        // Carriage return, the line, clear to its end.
        let _ = write!(out.sink, "\r{line}\x1b[K");
        let _ = out.sink.flush();
    }

    /// Clears the line (call before printing the result).
    ///
    /// ```
    /// let p = activity_sqlx::cli::progress::Progress::with_sink("x", Some(Box::new(std::io::sink())));
    /// p.add(1);
    /// p.finish(); // the line is cleared; the count stays
    /// assert_eq!(p.count(), 1);
    /// ```
    pub fn finish(&self) {
        let Ok(mut guard) = self.out.lock() else {
            return;
        };
        if let Some(out) = guard.as_mut() {
            if out.drawn {
                let _ = write!(out.sink, "\r\x1b[K");
                let _ = out.sink.flush();
                out.drawn = false;
            }
        }
    }

    /// How many were counted.
    ///
    /// ```
    /// let p = activity_sqlx::cli::progress::Progress::with_sink("x", None);
    /// assert_eq!(p.count(), 0);
    /// ```
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// A store that counts the events read (`query`) and deleted (`delete`, dropped
/// partitions) into a [`Progress`], forwarding every call unchanged.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, query::DeleteRequest};
/// use activity_sqlx::cli::progress::{Progress, ProgressStore};
/// use activity_sqlx::SqliteStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sqlite = SqliteStore::connect("sqlite::memory:").await.unwrap();
/// sqlite.migrate().await.unwrap();
/// let progress = Arc::new(Progress::with_sink("export", None));
/// let store = ProgressStore::new(Arc::new(sqlite), progress.clone());
/// let events: Vec<_> = (0..3).map(|_| ActivityEvent::logout(Actor::user("alice"))).collect();
/// store.append(&events).await.unwrap(); // forwarded, not counted
/// assert_eq!(store.query(&ActivityQuery::new()).await.unwrap().events.len(), 3);
/// assert_eq!(progress.count(), 3); // the events read
/// let later = chrono::Utc::now() + chrono::Duration::minutes(1);
/// assert_eq!(store.delete(&DeleteRequest::new(None, later, 2)).await.unwrap(), 2);
/// assert_eq!(progress.count(), 5); // and the events deleted
/// # });
/// ```
pub struct ProgressStore {
    inner: Arc<dyn ActivityStore>,
    progress: Arc<Progress>,
}

impl ProgressStore {
    /// Wraps `inner`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_sqlx::cli::progress::{Progress, ProgressStore};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sqlite = activity_sqlx::SqliteStore::connect("sqlite::memory:").await.unwrap();
    /// let store = ProgressStore::new(Arc::new(sqlite), Arc::new(Progress::with_sink("export", None)));
    /// # let _ = store;
    /// # });
    /// ```
    pub fn new(inner: Arc<dyn ActivityStore>, progress: Arc<Progress>) -> Self {
        Self { inner, progress }
    }
}

#[async_trait::async_trait]
impl ActivityStore for ProgressStore {
    async fn append(&self, events: &[ActivityEvent]) -> activity_core::Result<u64> {
        self.inner.append(events).await
    }
    async fn query(&self, query: &ActivityQuery) -> activity_core::Result<Page> {
        let page = self.inner.query(query).await?;
        self.progress.add(page.events.len() as u64);
        Ok(page)
    }
    async fn count(&self, query: &ActivityQuery) -> activity_core::Result<u64> {
        self.inner.count(query).await
    }
    async fn delete(&self, request: &DeleteRequest) -> activity_core::Result<u64> {
        let n = self.inner.delete(request).await?;
        self.progress.add(n);
        Ok(n)
    }
    async fn tenants(&self) -> activity_core::Result<Vec<Option<String>>> {
        self.inner.tenants().await
    }
    async fn append_sealed(
        &self,
        events: &[ActivityEvent],
        heads: &[ChainHead],
    ) -> activity_core::Result<u64> {
        self.inner.append_sealed(events, heads).await
    }
    async fn append_sealed_strict(
        &self,
        events: &[ActivityEvent],
        heads: &[ChainHead],
    ) -> activity_core::Result<u64> {
        self.inner.append_sealed_strict(events, heads).await
    }
    async fn chain_heads(&self, tenant: Option<&str>) -> activity_core::Result<Vec<ChainHead>> {
        self.inner.chain_heads(tenant).await
    }
    async fn drop_expired_partitions(
        &self,
        before: DateTime<Utc>,
    ) -> activity_core::Result<DroppedPartitions> {
        let d = self.inner.drop_expired_partitions(before).await?;
        self.progress.add(d.total());
        Ok(d)
    }
    // The purge's guard and `activity sinks` read these: a wrapper that kept the
    // trait's defaults would hide every sink.
    async fn read_log(
        &self,
        after: activity_core::sinks::LogPosition,
        limit: usize,
    ) -> activity_core::Result<Vec<activity_core::sinks::LoggedEvent>> {
        self.inner.read_log(after, limit).await
    }
    async fn log_lag(
        &self,
        after: activity_core::sinks::LogPosition,
    ) -> activity_core::Result<u64> {
        self.inner.log_lag(after).await
    }
    async fn sink_states(&self) -> activity_core::Result<Vec<activity_core::sinks::SinkState>> {
        self.inner.sink_states().await
    }
    async fn save_sink_state(
        &self,
        state: &activity_core::sinks::SinkState,
    ) -> activity_core::Result<()> {
        self.inner.save_sink_state(state).await
    }
    async fn remove_sink_state(&self, name: &str) -> activity_core::Result<bool> {
        self.inner.remove_sink_state(name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn draws_in_place_then_clears_and_draws_nothing_without_a_terminal() {
        let buf = Buf::default();
        let p = Progress::with_sink("export", Some(Box::new(buf.clone())));
        p.add(500);
        p.add(500); // within 100 ms: not redrawn
        p.finish();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "\rexport: 500 events\x1b[K\r\x1b[K");
        assert_eq!(p.count(), 1000);
        let silent = Progress::with_sink("export", None);
        silent.add(10);
        silent.finish();
        assert!(!silent.is_drawn());
        assert_eq!(silent.count(), 10);
    }
}
