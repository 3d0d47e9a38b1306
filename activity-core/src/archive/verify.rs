//! [`verify_archive`] and [`check_heads`]: an archive checked against its manifest, and the store's chain heads against the archive's.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::io;
use crate::chain::{Break, ChainHead, ChainKey};
use crate::error::{Error, Result, Rule};
use crate::store::ActivityStore;

use super::{read_manifest, Manifest};

/// The problem [`verify_archive`] found, if any.
///
/// ```
/// use activity_core::{archive::archive, archive::verify_archive, ActivityEvent, ActivityStore, Actor, archive::ArchiveProblem, export::ExportFormat, MemoryStore};
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
    /// A file's row count differs from the manifest's (its rows are counted: JSON Lines
    /// line by line, each a JSON object; CSV record by record).
    RowsMismatch(String),
    /// The manifest has no signature, and one was required
    /// ([`verify_archive_signed`]).
    Unsigned,
    /// The manifest's signature is not the given key's over its content: the manifest
    /// was edited (checksums recomputed, rows changed) or signed by another key.
    BadSignature,
}

/// Checks every file of the archive in `dir` against its manifest. Returns the manifest
/// and the problems found (none: intact).
///
/// # Errors
/// [`Error::Invalid`] when the manifest is missing or malformed.
pub fn verify_archive(dir: &Path) -> Result<(Manifest, Vec<ArchiveProblem>)> {
    let manifest = read_manifest(dir)?;
    let problems = check_files(dir, &manifest)?;
    Ok((manifest, problems))
}

/// [`verify_archive`], and the manifest must be signed by `key`
/// ([`sign_manifest`](super::sign_manifest)): an attacker who can write the archive can
/// edit an event and recompute its checksum and row count in the manifest, which
/// [`verify_archive`] alone cannot tell from an honest archive.
///
/// # Errors
/// As [`verify_archive`].
pub fn verify_archive_signed(
    dir: &Path,
    key: &crate::signed::PublicKey,
) -> Result<(Manifest, Vec<ArchiveProblem>)> {
    let manifest = read_manifest(dir)?;
    let mut problems = match &manifest.signature {
        None => vec![ArchiveProblem::Unsigned],
        Some(_) if !manifest.is_signed_by(key) => vec![ArchiveProblem::BadSignature],
        Some(_) => Vec::new(),
    };
    problems.extend(check_files(dir, &manifest)?);
    Ok((manifest, problems))
}

/// Each file of `manifest` in `dir` against its checksum and its counted rows.
fn check_files(dir: &Path, manifest: &Manifest) -> Result<Vec<ArchiveProblem>> {
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
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(|e| io(&p, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        if hex::encode(h.finalize()) != f.sha256 {
            problems.push(ArchiveProblem::ChecksumMismatch(f.name.clone()));
            continue;
        }
        if count_rows(&p, &manifest.format)? != Some(f.rows) {
            problems.push(ArchiveProblem::RowsMismatch(f.name.clone()));
        }
    }
    Ok(problems)
}

/// The rows of the archive file at `path` in `format`, counted: JSON Lines (`jsonl`,
/// `ocsf`) one JSON object per line; CSV one record after the header. `None` when a
/// row does not parse (or the format is unknown): the file is not what the manifest says.
fn count_rows(path: &Path, format: &str) -> Result<Option<u64>> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let reader = std::io::BufReader::new(file);
    let mut rows = 0u64;
    match format {
        "jsonl" | "ocsf" => {
            for line in std::io::BufRead::lines(reader) {
                let line = line.map_err(|e| io(path, e))?;
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(serde_json::Value::Object(_)) => rows += 1,
                    _ => return Ok(None),
                }
            }
        }
        "csv" => {
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(reader);
            for record in csv.byte_records() {
                if record.is_err() {
                    return Ok(None);
                }
                rows += 1;
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(rows))
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
/// use activity_core::{archive::check_heads, chain::ChainKey, chain::ChainSealer, MemoryStore, Recorder, ActivityEvent, Actor, export::ExportFormat};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let (rec, guard) = Recorder::builder(store.clone()).sealer(ChainSealer::new("w", key.clone())).start();
/// rec.record(ActivityEvent::logout(Actor::user("u"))).unwrap();
/// guard.shutdown().await;
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let now = chrono::Utc::now();
/// let m = activity_core::archive::archive(&*store, &dir, None, now - chrono::Duration::days(1),
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
            purged = Some(crate::chain::coverage(store, key).await?);
        }
        let from = current.map_or(1, |c| c.seq + 1);
        let chain = (h.tenant.clone(), h.writer.clone());
        if purged
            .as_ref()
            .and_then(|p| crate::chain::covered(p.get(&chain), from, h.seq))
            .is_some()
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
