//! A sink into local files: one JSON line per event, rotated by size and by day.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{Sink, SinkFormat};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::ActivityEvent;

/// Delivers events into `DIR/activity.jsonl`, one JSON line per event (schema v1 or
/// OCSF), synced to disk before the delivery counts. The file is rotated when it would
/// pass [`max_bytes`](Self::max_bytes) or when the UTC day changes: renamed to
/// `activity-YYYYMMDDTHHMMSSZ.jsonl` (the time of the rotation), keeping the newest
/// [`keep`](Self::keep) rotated files.
///
/// Delivery is at least once: after a crash between the sync and the cursor's save the
/// batch is written again, so readers deduplicate by the events' `id`.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, sinks::{FileSink, Sink}};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let sink = FileSink::new(&dir).unwrap().max_bytes(1 << 20).keep(7);
/// sink.deliver(&[ActivityEvent::logout(Actor::user("u_1"))]).await.unwrap();
/// let text = std::fs::read_to_string(dir.join("activity.jsonl")).unwrap();
/// assert_eq!(text.lines().count(), 1);
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
pub struct FileSink {
    format: SinkFormat,
    files: Files,
}

/// The directory and its rotation: what a write needs, cloned onto the blocking thread
/// that writes and syncs (never a runtime worker).
#[derive(Clone)]
struct Files {
    dir: PathBuf,
    max_bytes: u64,
    keep: usize,
    clock: Arc<dyn Clock>,
    open: Arc<Mutex<Option<Current>>>,
}

struct Current {
    file: File,
    bytes: u64,
    day: NaiveDate,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("dir", &self.files.dir)
            .field("format", &self.format)
            .field("max_bytes", &self.files.max_bytes)
            .field("keep", &self.files.keep)
            .finish_non_exhaustive()
    }
}

/// The file being written.
const CURRENT: &str = "activity.jsonl";

impl FileSink {
    /// Files in `dir` (created if missing).
    ///
    /// # Errors
    /// [`Error::Delivery`] when the directory cannot be created.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(Self {
            format: SinkFormat::Json,
            files: Files {
                dir,
                max_bytes: 64 << 20,
                keep: 30,
                clock: Arc::new(SystemClock),
                open: Arc::new(Mutex::new(None)),
            },
        })
    }

    /// Schema v1 JSON (default) or OCSF.
    pub fn format(mut self, format: SinkFormat) -> Self {
        self.format = format;
        self
    }

    /// Rotates before a file passes this size (default 64 MiB; a batch larger than it
    /// gets a file of its own).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.files.max_bytes = bytes.max(1);
        self
    }

    /// Rotated files kept, the oldest deleted first (default 30; at least 1).
    pub fn keep(mut self, files: usize) -> Self {
        self.files.keep = files.max(1);
        self
    }

    /// The clock deciding the day (default: the system's).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.files.clock = Arc::new(clock);
        self
    }

    /// The rotated files, oldest first.
    ///
    /// # Errors
    /// [`Error::Delivery`] when the directory cannot be read.
    pub fn rotated(&self) -> Result<Vec<PathBuf>> {
        self.files.rotated()
    }
}

impl Files {
    fn rotated(&self) -> Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(|e| io_err(&self.dir, e))?
            .filter_map(|d| d.ok().map(|d| d.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("activity-") && n.ends_with(".jsonl"))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    fn write(&self, body: &[u8]) -> Result<()> {
        let now = self.clock.now();
        let mut slot = self
            .open
            .lock()
            .map_err(|_| Error::delivery("file", "file sink lock poisoned", None))?;
        if slot.is_none() {
            *slot = Some(self.open_current()?);
        }
        let cur = slot.as_mut().expect("opened above");
        let new_day = cur.day != now.date_naive();
        if cur.bytes > 0 && (new_day || cur.bytes + body.len() as u64 > self.max_bytes) {
            *slot = None;
            self.rotate(now)?;
            *slot = Some(self.open_current()?);
        }
        let cur = slot.as_mut().expect("opened above");
        let path = self.dir.join(CURRENT);
        let written = cur.file.write_all(body).and_then(|()| cur.file.sync_data());
        if let Err(e) = written {
            // Reopened next time, from what is on disk.
            *slot = None;
            return Err(io_err(&path, e));
        }
        cur.bytes += body.len() as u64;
        Ok(())
    }

    fn open_current(&self) -> Result<Current> {
        let path = self.dir.join(CURRENT);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let meta = file.metadata().map_err(|e| io_err(&path, e))?;
        let day = meta
            .modified()
            .ok()
            .map(DateTime::<Utc>::from)
            .unwrap_or_else(|| self.clock.now())
            .date_naive();
        // A new file is today's, whatever its creation time says.
        let day = if meta.len() == 0 {
            self.clock.now().date_naive()
        } else {
            day
        };
        Ok(Current {
            file,
            bytes: meta.len(),
            day,
        })
    }

    fn rotate(&self, now: DateTime<Utc>) -> Result<()> {
        let from = self.dir.join(CURRENT);
        let stamp = now.format("%Y%m%dT%H%M%S%.6fZ").to_string();
        let mut to = self.dir.join(format!("activity-{stamp}.jsonl"));
        let mut n = 1;
        while to.exists() {
            to = self.dir.join(format!("activity-{stamp}-{n}.jsonl"));
            n += 1;
        }
        fs::rename(&from, &to).map_err(|e| io_err(&from, e))?;
        let rotated = self.rotated()?;
        if rotated.len() > self.keep {
            for old in &rotated[..rotated.len() - self.keep] {
                fs::remove_file(old).map_err(|e| io_err(old, e))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for FileSink {
    fn kind(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, events: &[ActivityEvent]) -> Result<()> {
        let mut body = Vec::with_capacity(events.len() * 512);
        for e in events {
            body.extend_from_slice(&self.format.encode(e)?);
            body.push(b'\n');
        }
        let files = self.files.clone();
        tokio::task::spawn_blocking(move || files.write(&body))
            .await
            .map_err(|e| Error::delivery("file", format!("file sink task failed: {e}"), None))?
    }
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::delivery(
        "file",
        format!("{}: {e}", path.display()),
        Some(Box::new(e)),
    )
}
