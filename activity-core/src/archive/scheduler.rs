//! Archiving closed windows on a schedule: each UTC day or calendar month that has ended
//! is exported into its own subdirectory of an archive directory (`2026-11-23/` or
//! `2026-11/`), with its manifest, exactly once.
//!
//! The directory is the record of what is done: a window whose subdirectory holds a
//! `manifest.json` is archived and never written again, so a scheduler that restarts,
//! runs on several hosts against one shared directory one after another, or is called
//! by hand between its ticks, never archives a window twice; a run that stopped half way
//! (a file without a manifest) is redone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use super::{archive, Manifest};
use crate::clock::Clock;
use crate::error::{Error, Result, Rule};
use crate::event::payload::Exported;
use crate::export::{exported, exported_event, ExportFormat};
use crate::query::ActivityQuery;
use crate::recorder::Recorder;
use crate::store::ActivityStore;

/// The length of the windows an [`ArchiveScheduler`] archives.
///
/// ```
/// use activity_core::archive::ArchiveWindow;
/// use chrono::{TimeZone, Utc};
/// let window = ArchiveWindow::parse("daily").unwrap();
/// assert_eq!(window, ArchiveWindow::Day);
/// let (start, _) = window.last_closed(Utc.with_ymd_and_hms(2026, 11, 24, 6, 30, 0).unwrap());
/// assert_eq!(window.label(start), "2026-11-23");
/// assert_eq!(ArchiveWindow::Month.label(start), "2026-11");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveWindow {
    /// UTC days: `[00:00, 24:00)`.
    Day,
    /// Calendar months in UTC.
    Month,
}

impl ArchiveWindow {
    /// Parses `day` (or `daily`) and `month` (or `monthly`).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `window`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "day" | "daily" => Ok(Self::Day),
            "month" | "monthly" => Ok(Self::Month),
            _ => Err(Error::invalid("window", Rule::Unknown("day, month"))),
        }
    }

    /// The window that holds `t`, as `[start, end)`.
    ///
    /// ```
    /// use activity_core::archive::ArchiveWindow;
    /// use chrono::{TimeZone, Utc};
    /// let t = Utc.with_ymd_and_hms(2026, 11, 24, 6, 30, 0).unwrap();
    /// let (start, end) = ArchiveWindow::Month.containing(t);
    /// assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
    /// assert_eq!(end, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    /// ```
    pub fn containing(self, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let d = t.date_naive();
        let first = match self {
            Self::Day => d,
            Self::Month => d.with_day(1).unwrap_or(d),
        };
        let start = midnight(first);
        (start, self.next(start))
    }

    /// The last window that has ended at `now`: yesterday, or last month.
    ///
    /// ```
    /// use activity_core::archive::ArchiveWindow;
    /// use chrono::{TimeZone, Utc};
    /// let now = Utc.with_ymd_and_hms(2026, 11, 24, 6, 30, 0).unwrap();
    /// let (start, end) = ArchiveWindow::Day.last_closed(now);
    /// assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap());
    /// assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap());
    /// ```
    pub fn last_closed(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let (start, _) = self.containing(now);
        let (prev, _) = self.containing(start - Duration::microseconds(1));
        (prev, start)
    }

    /// The start of the window after the one starting at `start`.
    pub fn next(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Day => start + Duration::days(1),
            Self::Month => {
                let d = start.date_naive();
                let (y, m) = if d.month() == 12 {
                    (d.year() + 1, 1)
                } else {
                    (d.year(), d.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).map_or(start + Duration::days(31), midnight)
            }
        }
    }

    /// The subdirectory name of the window starting at `start`: `2026-11-23` or `2026-11`.
    pub fn label(self, start: DateTime<Utc>) -> String {
        match self {
            Self::Day => start.format("%Y-%m-%d").to_string(),
            Self::Month => start.format("%Y-%m").to_string(),
        }
    }

    /// The start of the window a subdirectory name stands for.
    fn parse_label(self, name: &str) -> Option<DateTime<Utc>> {
        let d = match self {
            Self::Day if name.len() == 10 => NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()?,
            Self::Month if name.len() == 7 => {
                NaiveDate::parse_from_str(&format!("{name}-01"), "%Y-%m-%d").ok()?
            }
            _ => return None,
        };
        Some(midnight(d))
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The most windows one run archives (a catch-up after a long pause continues at the
/// next run).
pub const MAX_WINDOWS_PER_RUN: usize = 400;

/// Archives each closed window (day or month) not yet archived into `dir/<label>/`, on
/// demand ([`run_once`](Self::run_once)) or every so often with the job runner
/// ([`jobs::every`](crate::jobs::every)).
/// Time comes from the injected [`Clock`].
///
/// Which windows: from the one holding [`starting`](Self::starting) when set, else from
/// the window after the newest one already in the directory, else only the last closed
/// one; up to the last window that ended at least [`grace`](Self::grace) ago.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, archive::ArchiveScheduler, archive::ArchiveWindow, ManualClock, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let now = Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap();
/// store.append(&[ActivityEvent::logout(Actor::user("u")).with_time(now - Duration::days(1))]).await.unwrap();
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let clock = Arc::new(ManualClock::new(now));
/// let s = ArchiveScheduler::new(store, &dir, ArchiveWindow::Day, clock.clone());
/// let done = s.run_once().await.unwrap();
/// assert_eq!(done.len(), 1);
/// assert!(dir.join("2026-11-23/manifest.json").exists());
/// assert!(s.run_once().await.unwrap().is_empty(), "never twice");
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
pub struct ArchiveScheduler {
    store: Arc<dyn ActivityStore>,
    dir: PathBuf,
    window: ArchiveWindow,
    clock: Arc<dyn Clock>,
    format: ExportFormat,
    tenant: Option<String>,
    grace: Duration,
    first: Option<DateTime<Utc>>,
    recorder: Option<Recorder>,
    signer: Option<crate::signed::SigningKey>,
    run: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ArchiveScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveScheduler")
            .field("dir", &self.dir)
            .field("window", &self.window)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl ArchiveScheduler {
    /// A scheduler archiving `store`'s `window`s into `dir`, all tenants, as JSON Lines.
    pub fn new(
        store: Arc<dyn ActivityStore>,
        dir: impl Into<PathBuf>,
        window: ArchiveWindow,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            dir: dir.into(),
            window,
            clock,
            format: ExportFormat::JsonLines,
            tenant: None,
            grace: Duration::zero(),
            first: None,
            recorder: None,
            signer: None,
            run: tokio::sync::Mutex::new(()),
        }
    }

    /// Signs every manifest with `key` ([`sign_manifest`](super::sign_manifest)), so that
    /// [`verify_archive_signed`](super::verify_archive_signed) and a purge that requires
    /// signed archives accept it.
    pub fn signing_key(mut self, key: crate::signed::SigningKey) -> Self {
        self.signer = Some(key);
        self
    }

    /// The files' format (default JSON Lines).
    pub fn format(mut self, format: ExportFormat) -> Self {
        self.format = format;
        self
    }

    /// Only this tenant's events (give each tenant its own directory).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// How long after a window ends to wait before archiving it, for events that arrive
    /// late (default none).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Archive every window from the one holding `t` (default: from the window after the
    /// newest archived one, or only the last closed one in an empty directory).
    pub fn starting(mut self, t: DateTime<Utc>) -> Self {
        self.first = Some(t);
        self
    }

    /// Records each archive as `audit.exported` through `recorder`.
    pub fn recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The directory of the window starting at `start`.
    pub fn window_dir(&self, start: DateTime<Utc>) -> PathBuf {
        self.dir.join(self.window.label(start))
    }

    /// The start of the newest window archived in the directory, if any.
    fn newest_archived(&self) -> Option<DateTime<Utc>> {
        let entries = std::fs::read_dir(&self.dir).ok()?;
        entries
            .flatten()
            .filter(|e| e.path().join("manifest.json").is_file())
            .filter_map(|e| self.window.parse_label(e.file_name().to_str()?))
            .max()
    }

    /// Archives every closed window not yet archived; returns each one written (its
    /// directory and manifest), oldest first. Calls do not overlap.
    ///
    /// # Errors
    /// The store's and the file system's errors; the windows archived before the error
    /// stay archived, the failed one is redone at the next run.
    pub async fn run_once(&self) -> Result<Vec<(PathBuf, Manifest)>> {
        let _one_at_a_time = self.run.lock().await;
        let now = self.clock.now();
        let (last_start, last_end) = self.window.last_closed(now - self.grace);
        let mut start = match (self.first, self.newest_archived()) {
            (Some(t), _) => self.window.containing(t).0,
            (None, Some(newest)) => self.window.next(newest),
            (None, None) => last_start,
        };
        let mut done = Vec::new();
        let mut visited = 0;
        while start < last_end && visited < MAX_WINDOWS_PER_RUN {
            visited += 1;
            let end = self.window.next(start);
            let dir = self.window_dir(start);
            if !dir.join("manifest.json").exists() {
                let m = self.archive_window(&dir, start, end, now).await?;
                done.push((dir, m));
            }
            start = end;
        }
        Ok(done)
    }

    async fn archive_window(
        &self,
        dir: &Path,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Manifest> {
        let mut m = archive(
            &*self.store,
            dir,
            self.tenant.as_deref(),
            since,
            until,
            self.format,
            now,
        )
        .await?;
        if let Some(key) = &self.signer {
            m = super::sign_manifest(dir, key)?;
        }
        let rows: u64 = m.files.iter().map(|f| f.rows).sum();
        tracing::info!(dir = %dir.display(), rows, "archived a closed window");
        if let Some(r) = &self.recorder {
            let mut q = ActivityQuery::new().since(since).until(until);
            q.tenant = self.tenant.clone();
            let by = crate::Actor::new("archive-scheduler").with_kind("service");
            let payload = Exported {
                archive: Some(dir.display().to_string()),
                ..exported(&q, self.format, rows)
            };
            let e = exported_event(by, &q, payload).with_time(now);
            if let Err(err) = r.record_reserved(e) {
                tracing::error!(error = %err, "audit.exported not recorded for an archive");
            }
        }
        Ok(m)
    }
}

/// The closed windows archived per run: `jobs::every(interval).spawn(scheduler)`.
#[async_trait::async_trait]
impl crate::jobs::Job for ArchiveScheduler {
    fn name(&self) -> &str {
        "archive scheduler"
    }

    async fn run(&self) -> Result<()> {
        self.run_once().await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActivityEvent, Actor, ManualClock, MemoryStore};

    fn t(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("activity-sched-{}", uuid::Uuid::now_v7()))
    }

    #[test]
    fn windows() {
        let now = t(2026, 1, 1, 3);
        assert_eq!(
            ArchiveWindow::Month.last_closed(now),
            (t(2025, 12, 1, 0), t(2026, 1, 1, 0))
        );
        assert_eq!(
            ArchiveWindow::Day.last_closed(now),
            (t(2025, 12, 31, 0), t(2026, 1, 1, 0))
        );
        assert_eq!(ArchiveWindow::Month.label(t(2026, 2, 1, 0)), "2026-02");
        assert_eq!(
            ArchiveWindow::Month.parse_label("2026-02"),
            Some(t(2026, 2, 1, 0))
        );
        assert_eq!(ArchiveWindow::Day.parse_label("2026-02"), None);
        assert_eq!(ArchiveWindow::Day.parse_label("notes.txt"), None);
        assert!(ArchiveWindow::parse("weekly").is_err());
    }

    #[tokio::test]
    async fn each_closed_window_is_archived_once_as_the_clock_moves() {
        let store = Arc::new(MemoryStore::new());
        let events: Vec<_> = (0..72)
            .map(|h| {
                ActivityEvent::logout(Actor::user(format!("u{h}")))
                    .with_time(t(2026, 11, 20, 0) + Duration::hours(h))
            })
            .collect();
        store.append(&events).await.unwrap();
        let dir = temp_dir();
        let clock = Arc::new(ManualClock::new(t(2026, 11, 21, 12)));
        let (rec, guard) = Recorder::builder(store.clone())
            .lifecycle_events(false)
            .start();
        let s = ArchiveScheduler::new(store.clone(), &dir, ArchiveWindow::Day, clock.clone())
            .grace(Duration::hours(1))
            .recorder(rec.clone());
        // An empty directory: only the last closed day.
        let done = s.run_once().await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, dir.join("2026-11-20"));
        assert_eq!(done[0].1.files[0].rows, 24);
        // Same day: nothing more.
        assert!(s.run_once().await.unwrap().is_empty());
        // Within the grace period after midnight: the 21st is not archived yet.
        clock.advance(Duration::hours(12) + Duration::minutes(30));
        assert!(s.run_once().await.unwrap().is_empty());
        // Three days later: the three days missed, in order, once each.
        clock.advance(Duration::days(3));
        let done = s.run_once().await.unwrap();
        let labels: Vec<_> = done
            .iter()
            .map(|(d, _)| d.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(labels, ["2026-11-21", "2026-11-22", "2026-11-23"]);
        assert_eq!(done[0].1.files[0].rows, 24);
        assert_eq!(done[1].1.files[0].rows, 24);
        assert_eq!(done[2].1.files[0].rows, 0, "an empty day is archived too");
        assert!(s.run_once().await.unwrap().is_empty(), "never twice");
        // A half-written window (no manifest) is redone; the archived ones are not.
        std::fs::remove_file(dir.join("2026-11-22/manifest.json")).unwrap();
        let again = ArchiveScheduler::new(store.clone(), &dir, ArchiveWindow::Day, clock.clone())
            .starting(t(2026, 11, 20, 0))
            .grace(Duration::hours(1));
        let done = again.run_once().await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, dir.join("2026-11-22"));
        for day in ["2026-11-20", "2026-11-21", "2026-11-22"] {
            let (_, problems) = crate::archive::verify_archive(&dir.join(day)).unwrap();
            assert!(problems.is_empty(), "{day}: {problems:?}");
        }
        rec.flush().await.unwrap();
        let recorded = store
            .count(&ActivityQuery::new().action("audit.exported"))
            .await
            .unwrap();
        assert_eq!(recorded, 4, "each scheduled archive is recorded");
        guard.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn months_from_a_given_start() {
        let store = Arc::new(MemoryStore::new());
        store
            .append(&[
                ActivityEvent::logout(Actor::user("a")).with_time(t(2026, 9, 30, 23)),
                ActivityEvent::logout(Actor::user("b")).with_time(t(2026, 10, 1, 0)),
                ActivityEvent::logout(Actor::user("c")).with_time(t(2026, 10, 31, 23)),
                ActivityEvent::logout(Actor::user("d")).with_time(t(2026, 11, 1, 0)),
            ])
            .await
            .unwrap();
        let dir = temp_dir();
        let clock = Arc::new(ManualClock::new(t(2026, 11, 15, 0)));
        let s = ArchiveScheduler::new(store, &dir, ArchiveWindow::Month, clock.clone())
            .starting(t(2026, 9, 10, 0))
            .format(ExportFormat::Csv);
        let done = s.run_once().await.unwrap();
        assert_eq!(done.len(), 2);
        let (m9, p9) = crate::archive::verify_archive(&dir.join("2026-09")).unwrap();
        let (m10, p10) = crate::archive::verify_archive(&dir.join("2026-10")).unwrap();
        assert!(p9.is_empty() && p10.is_empty());
        assert_eq!((m9.files[0].rows, m10.files[0].rows), (1, 2));
        assert_eq!(m10.files[0].name, "events.csv");
        assert!(!dir.join("2026-11").exists(), "November is not over");
        clock.advance(Duration::days(16));
        let done = s.run_once().await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].1.files[0].rows, 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
