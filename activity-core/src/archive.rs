//! Archives: a closed window of the log exported into a directory with a manifest of
//! row counts and SHA-256 checksums, verifiable later.
//!
//! `archive(store, dir, window, format)` writes `events.csv` or `events.jsonl` and
//! `manifest.json`:
//!
//! ```json
//! { "version": 1, "created": "…", "tenant": null, "since": "…", "until": "…",
//!   "format": "jsonl",
//!   "files": [ { "name": "events.jsonl", "rows": 1234, "sha256": "…" } ],
//!   "chains": [ { "tenant": null, "writer": "web-1.0193…", "first_seq": 1, "last_seq": 1234, "last_hash": "…" } ],
//!   "heads": [ { "tenant": null, "writer": "web-1.0193…", "seq": 1300, "last_hash": "…",
//!                "last_time": "…", "mac": "…" } ] }
//! ```
//!
//! `chains` records the chain positions the archive covers, so the archive also anchors
//! the chain: an event later deleted from the database is still accounted for here.
//! `heads` copies the store's [`ChainHead`]s of the archived tenant (all tenants when the
//! archive is of all) as they were when the archive was made: kept away from the
//! database, they show whether the database's heads were later rolled back or deleted
//! along with the newest events ([`check_heads`]). Manifests of version 1 have no heads.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chain::{Break, ChainHead, ChainKey};
use crate::error::{Error, Result, Rule};
use crate::event::ActivityEvent;
use crate::export::{ExportFormat, ExportWriter};
use crate::query::ActivityQuery;
use crate::store::ActivityStore;

/// One file of an archive.
///
/// ```
/// use activity_core::{archive, ActivityEvent, ActivityStore, Actor, ExportFormat, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// store.append(&[ActivityEvent::logout(Actor::user("u_1")).with_time(day)]).await.unwrap();
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let next = day + Duration::days(1);
/// let manifest = archive(&store, &dir, None, day, next, ExportFormat::JsonLines, next).await.unwrap();
/// let file = &manifest.files[0];
/// assert_eq!((file.name.as_str(), file.rows), ("events.jsonl", 1));
/// assert_eq!(file.sha256.len(), 64, "hex SHA-256 of the file's bytes");
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFile {
    /// File name inside the archive directory.
    pub name: String,
    /// Events in it.
    pub rows: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// The chain positions an archive covers, per chain.
///
/// ```
/// use activity_core::{archive, ActivityEvent, ActivityStore, Actor, ChainKey, ChainSealer, ExportFormat, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// let mut events: Vec<_> = (0..3)
///     .map(|h| ActivityEvent::logout(Actor::user("u_1")).with_time(day + Duration::hours(h)))
///     .collect();
/// let mut sealer = ChainSealer::new("web-1", ChainKey::unkeyed());
/// sealer.seal_all(&mut events);
/// let store = MemoryStore::new();
/// store.append(&events).await.unwrap();
/// # let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let next = day + Duration::days(1);
/// let manifest = archive(&store, &dir, None, day, next, ExportFormat::JsonLines, next).await.unwrap();
/// let span = &manifest.chains[0];
/// assert_eq!((span.writer.as_str(), span.first_seq, span.last_seq), (sealer.writer(), 1, 3));
/// assert_eq!(span.last_hash, events[2].chain.as_ref().unwrap().hash);
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpan {
    /// Tenant of the chain.
    pub tenant: Option<String>,
    /// Writer of the chain.
    pub writer: String,
    /// Lowest position in the archive.
    pub first_seq: u64,
    /// Highest position in the archive.
    pub last_seq: u64,
    /// Hash at the highest position.
    pub last_hash: String,
}

/// An archive's manifest (`manifest.json`).
///
/// [`archive`] returns it and writes it beside the events; [`read_manifest`] reads it back.
///
/// ```
/// use activity_core::{archive, read_manifest, ActivityEvent, ActivityStore, Actor, ExportFormat, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// store.append(&[ActivityEvent::logout(Actor::user("u_1")).with_time(day)]).await.unwrap();
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let next = day + Duration::days(1);
/// let manifest = archive(&store, &dir, None, day, next, ExportFormat::Csv, next).await.unwrap();
/// assert_eq!((manifest.format.as_str(), manifest.since, manifest.until), ("csv", day, next));
/// assert_eq!(read_manifest(&dir).unwrap(), manifest);
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version (1).
    pub version: u32,
    /// When the archive was made.
    pub created: DateTime<Utc>,
    /// Tenant archived (`None`: all).
    pub tenant: Option<String>,
    /// Window start (inclusive).
    pub since: DateTime<Utc>,
    /// Window end (exclusive).
    pub until: DateTime<Utc>,
    /// `csv` or `jsonl`.
    pub format: String,
    /// The files.
    pub files: Vec<ArchiveFile>,
    /// The chain positions covered.
    pub chains: Vec<ChainSpan>,
    /// The store's chain heads of the archived tenant when the archive was made
    /// (version 2; empty in version 1 manifests).
    #[serde(default)]
    pub heads: Vec<ChainHead>,
}

/// The problem [`verify_archive`] found, if any.
///
/// ```
/// use activity_core::{archive, verify_archive, ActivityEvent, ActivityStore, Actor, ArchiveProblem, ExportFormat, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let store = MemoryStore::new();
/// # let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// # store.append(&[ActivityEvent::logout(Actor::user("u_1")).with_time(day)]).await.unwrap();
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let next = day + Duration::days(1);
/// archive(&store, &dir, None, day, next, ExportFormat::JsonLines, next).await.unwrap();
/// assert!(verify_archive(&dir).unwrap().1.is_empty(), "intact");
///
/// std::fs::write(dir.join("events.jsonl"), "{}\n").unwrap(); // altered after archiving
/// let (_, problems) = verify_archive(&dir).unwrap();
/// assert_eq!(problems, vec![ArchiveProblem::ChecksumMismatch("events.jsonl".into())]);
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ArchiveProblem {
    /// A file listed in the manifest is missing.
    Missing(String),
    /// A file's checksum differs from the manifest's.
    ChecksumMismatch(String),
    /// A file's row count differs from the manifest's.
    RowsMismatch(String),
}

struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::backend(format!("{}: {e}", path.display()), Some(Box::new(e)))
}

/// Archives the events of `[since, until)` (of `tenant`, or all) into `dir` (created if
/// needed; it must not already hold a manifest). Memory stays flat: a page at a time,
/// written (and synced to disk) on a blocking thread while the next page is read. Needs a
/// tokio runtime.
///
/// # Errors
/// [`Error::Invalid`] for an empty window or a directory that already holds an archive;
/// I/O and store errors.
pub async fn archive(
    store: &dyn ActivityStore,
    dir: &Path,
    tenant: Option<&str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    format: ExportFormat,
    now: DateTime<Utc>,
) -> Result<Manifest> {
    if since >= until {
        return Err(Error::invalid("since", Rule::OutOfRange("before `until`")));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let manifest_path = dir.join("manifest.json");
    if manifest_path.exists() {
        return Err(Error::invalid(
            "output",
            Rule::Malformed("a directory without an archive in it"),
        ));
    }
    let (name, fmt) = match format {
        ExportFormat::Csv => ("events.csv", "csv"),
        ExportFormat::JsonLines => ("events.jsonl", "jsonl"),
        ExportFormat::Ocsf => ("events.ocsf.jsonl", "ocsf"),
    };
    let path = dir.join(name);
    // The file is written, hashed and flushed on a blocking thread, a page at a time,
    // while the next page is read here: no file I/O on the async workers.
    let (pages_tx, mut pages_rx) = tokio::sync::mpsc::channel::<Vec<ActivityEvent>>(1);
    let file_path = path.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<(u64, String, Chains)> {
        let file = std::fs::File::create(&file_path).map_err(|e| io(&file_path, e))?;
        let mut w = ExportWriter::new(
            HashingWriter {
                inner: BufWriter::new(file),
                hash: Sha256::new(),
            },
            format,
        )?;
        let mut chains = Chains::default();
        while let Some(events) = pages_rx.blocking_recv() {
            w.write(&events)?;
            for e in &events {
                note_chain(&mut chains, e);
            }
        }
        let rows = w.rows();
        let mut hw = w.finish()?;
        hw.flush().map_err(|e| io(&file_path, e))?;
        hw.inner
            .get_ref()
            .sync_all()
            .map_err(|e| io(&file_path, e))?;
        Ok((rows, hex::encode(hw.hash.finalize()), chains))
    });
    let q = match tenant {
        Some(t) => ActivityQuery::tenant_log(t),
        None => ActivityQuery::new(),
    }
    .since(since)
    .until(until);
    let mut pages = crate::Pages::new(store, q);
    let read = async {
        while let Some(events) = pages.next().await? {
            if pages_tx.send(events).await.is_err() {
                break; // the writer stopped: its error says why
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    drop(pages_tx);
    let written = writer
        .await
        .map_err(|e| Error::backend("the archive writer failed", Some(Box::new(e))))?;
    read?;
    let (rows, sha256, chains) = written?;
    // Read after the events: every head is at or past what the archive holds.
    let mut heads = store.chain_heads(tenant).await?;
    heads.sort_by(|a, b| (&a.tenant, &a.writer).cmp(&(&b.tenant, &b.writer)));
    let manifest = Manifest {
        version: 2,
        created: now,
        tenant: tenant.map(str::to_owned),
        since,
        until,
        format: fmt.into(),
        files: vec![ArchiveFile {
            name: name.into(),
            rows,
            sha256,
        }],
        chains: chains.into_values().collect(),
        heads,
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(Error::Json)?;
    std::fs::write(&manifest_path, text).map_err(|e| io(&manifest_path, e))?;
    Ok(manifest)
}

/// The chain spans an archive covers, by tenant and writer.
type Chains = std::collections::BTreeMap<(Option<String>, String), ChainSpan>;

fn note_chain(chains: &mut Chains, e: &ActivityEvent) {
    let Some(link) = &e.chain else { return };
    let span = chains
        .entry((e.tenant.clone(), link.writer.clone()))
        .or_insert_with(|| ChainSpan {
            tenant: e.tenant.clone(),
            writer: link.writer.clone(),
            first_seq: link.seq,
            last_seq: link.seq,
            last_hash: link.hash.clone(),
        });
    span.first_seq = span.first_seq.min(link.seq);
    if link.seq >= span.last_seq {
        span.last_seq = link.seq;
        span.last_hash = link.hash.clone();
    }
}

/// Reads the manifest of the archive in `dir`, without checking its files.
///
/// # Errors
/// [`Error::Invalid`] when the manifest is malformed; I/O errors.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let mpath: PathBuf = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).map_err(|e| io(&mpath, e))?;
    serde_json::from_str(&text).map_err(|_| {
        Error::invalid(
            "manifest.json",
            Rule::Malformed("an activity archive manifest"),
        )
    })
}

/// Checks every file of the archive in `dir` against its manifest. Returns the manifest
/// and the problems found (none: intact).
///
/// # Errors
/// [`Error::Invalid`] when the manifest is missing or malformed.
pub fn verify_archive(dir: &Path) -> Result<(Manifest, Vec<ArchiveProblem>)> {
    let manifest = read_manifest(dir)?;
    let mut problems = Vec::new();
    for f in &manifest.files {
        if f.name.contains('/') || f.name.contains('\\') || f.name.starts_with('.') {
            return Err(Error::invalid(
                "manifest.json",
                Rule::Malformed("file names without paths"),
            ));
        }
        let p = dir.join(&f.name);
        let Ok(mut file) = std::fs::File::open(&p) else {
            problems.push(ArchiveProblem::Missing(f.name.clone()));
            continue;
        };
        let mut h = Sha256::new();
        let mut newlines = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(|e| io(&p, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            newlines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
        if hex::encode(h.finalize()) != f.sha256 {
            problems.push(ArchiveProblem::ChecksumMismatch(f.name.clone()));
            continue;
        }
        // JSON Lines: one line per row. CSV: rows may span lines, so the checksum is the check.
        if (manifest.format == "jsonl" || manifest.format == "ocsf") && newlines != f.rows {
            problems.push(ArchiveProblem::RowsMismatch(f.name.clone()));
        }
    }
    Ok((manifest, problems))
}

/// Compares the chain heads an archive's manifest recorded with the store's now: each
/// authentic head of the manifest must still be there with the same or a later position,
/// unless a recorded retention purge (an intact `audit.purged` event) accounts for its
/// chain's end. Finds what the database alone cannot show: a head row deleted, or put
/// back to an older value, together with the newest events of its chain.
///
/// Returns the problems found ([`Break::HeadMismatch`] for a manifest head that fails its
/// MAC, [`Break::Truncated`] for a store head behind the manifest's or missing).
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{check_heads, ChainKey, ChainSealer, MemoryStore, Recorder, ActivityEvent, Actor, ExportFormat};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let (rec, guard) = Recorder::builder(store.clone()).sealer(ChainSealer::new("w", key.clone())).start();
/// rec.record(ActivityEvent::logout(Actor::user("u"))).unwrap();
/// guard.shutdown().await;
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let now = chrono::Utc::now();
/// let m = activity_core::archive(&*store, &dir, None, now - chrono::Duration::days(1),
///     now + chrono::Duration::minutes(1), ExportFormat::JsonLines, now).await.unwrap();
/// assert!(check_heads(&*store, &m, &key).await.unwrap().is_empty());
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
///
/// # Errors
/// The store's errors.
pub async fn check_heads(
    store: &dyn ActivityStore,
    manifest: &Manifest,
    key: &ChainKey,
) -> Result<Vec<Break>> {
    let mut problems = Vec::new();
    if manifest.heads.is_empty() {
        return Ok(problems);
    }
    let now: std::collections::HashMap<(Option<String>, String), ChainHead> = store
        .chain_heads(manifest.tenant.as_deref())
        .await?
        .into_iter()
        .map(|h| ((h.tenant.clone(), h.writer.clone()), h))
        .collect();
    // Read only when a head is behind (after purges): a scan of its own.
    let mut purged = None;
    for h in &manifest.heads {
        if !key.head_is_authentic(h) {
            problems.push(Break::HeadMismatch {
                tenant: h.tenant.clone(),
                writer: h.writer.clone(),
                seq: h.seq,
            });
            continue;
        }
        let current = now.get(&(h.tenant.clone(), h.writer.clone()));
        if current.is_some_and(|c| c.seq >= h.seq) {
            continue;
        }
        if purged.is_none() {
            purged = Some(crate::chain::purge_checkpoints(store, key).await?);
        }
        if purged
            .as_ref()
            .and_then(|p: &std::collections::HashMap<_, _>| p.get(&h.tenant))
            .is_some_and(|c| h.last_time < *c)
        {
            continue;
        }
        problems.push(Break::Truncated {
            tenant: h.tenant.clone(),
            writer: h.writer.clone(),
            last_seq: current.map_or(0, |c| c.seq),
            head_seq: h.seq,
        });
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, ChainKey, ChainSealer, MemoryStore};
    use chrono::{Duration, TimeZone};

    #[tokio::test]
    async fn archive_then_verify_then_tamper() {
        let store = MemoryStore::new();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let mut events: Vec<_> = (0..30)
            .map(|i| {
                ActivityEvent::login_failed(Actor::user(format!("u{i}")))
                    .with_time(t0 + Duration::hours(i))
            })
            .collect();
        ChainSealer::new("w", ChainKey::unkeyed()).seal_all(&mut events);
        store.append(&events).await.unwrap();
        for format in [ExportFormat::JsonLines, ExportFormat::Csv] {
            let dir =
                std::env::temp_dir().join(format!("activity-archive-{}", uuid::Uuid::now_v7()));
            let m = archive(
                &store,
                &dir,
                None,
                t0,
                t0 + Duration::days(1),
                format,
                t0 + Duration::days(2),
            )
            .await
            .unwrap();
            assert_eq!(m.files[0].rows, 24, "a closed day");
            assert_eq!((m.chains[0].first_seq, m.chains[0].last_seq), (1, 24));
            let (_, problems) = verify_archive(&dir).unwrap();
            assert!(problems.is_empty(), "{problems:?}");
            // A second archive into the same directory is refused.
            assert!(
                archive(&store, &dir, None, t0, t0 + Duration::days(1), format, t0)
                    .await
                    .is_err()
            );
            // Alter the file.
            let f = dir.join(&m.files[0].name);
            let mut text = std::fs::read_to_string(&f).unwrap();
            text = text.replacen("u3", "u9", 1);
            std::fs::write(&f, text).unwrap();
            let (_, problems) = verify_archive(&dir).unwrap();
            assert_eq!(
                problems,
                vec![ArchiveProblem::ChecksumMismatch(m.files[0].name.clone())]
            );
            std::fs::remove_file(&f).unwrap();
            let (_, problems) = verify_archive(&dir).unwrap();
            assert_eq!(
                problems,
                vec![ArchiveProblem::Missing(m.files[0].name.clone())]
            );
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
