//! [`Manifest`]: what an archive holds (files, row counts, checksums, chain spans and heads).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::io;
use crate::chain::ChainHead;
use crate::error::{Error, Result, Rule};
use crate::signed::{PublicKey, SigningKey};

/// One file of an archive.
///
/// ```
/// use activity_core::{archive::archive, ActivityEvent, ActivityStore, Actor, export::ExportFormat, MemoryStore};
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
/// use activity_core::{archive::archive, ActivityEvent, ActivityStore, Actor, chain::ChainKey, chain::ChainSealer, export::ExportFormat, MemoryStore};
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
/// [`archive`](super::archive()) returns it and writes it beside the events; [`read_manifest`] reads it back.
///
/// ```
/// use activity_core::{archive::archive, archive::read_manifest, ActivityEvent, ActivityStore, Actor, export::ExportFormat, MemoryStore};
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
    /// The Ed25519 signature of the rest of the manifest ([`Manifest::message`]), hex;
    /// absent in an unsigned manifest. Without it, whoever can write the archive can
    /// edit an event and recompute the checksums; with it, only the holder of the signing
    /// key can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The domain of a manifest's signed message (see [`Manifest::message`]).
pub const MANIFEST_DOMAIN: &str = "activity-archive-manifest-v1";

impl Manifest {
    /// What the signature covers: [`MANIFEST_DOMAIN`], a newline, and the manifest
    /// without `signature` in RFC 8785 canonical JSON
    /// ([`signed_message`](crate::signed::signed_message)).
    pub fn message(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).unwrap_or_default();
        crate::signed::signed_message(MANIFEST_DOMAIN, &value)
    }

    /// Signs the manifest with `key` (replacing any signature).
    pub fn sign(&mut self, key: &SigningKey) {
        self.signature = Some(key.sign(&self.message()));
    }

    /// Whether the manifest carries a signature by `key` over exactly its content.
    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        self.signature
            .as_deref()
            .is_some_and(|s| key.verify(&self.message(), s))
    }
}

/// Signs the manifest of the archive in `dir` with `key` and writes it back; returns it.
///
/// ```
/// use activity_core::{archive::{archive, sign_manifest, verify_archive_signed}, signed::SigningKey};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, export::ExportFormat, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// store.append(&[ActivityEvent::logout(Actor::user("u_1")).with_time(day)]).await.unwrap();
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let next = day + Duration::days(1);
/// archive(&store, &dir, None, day, next, ExportFormat::JsonLines, next).await.unwrap();
/// let key = SigningKey::from_seed(&[7; 32]);
/// sign_manifest(&dir, &key).unwrap();
/// assert!(verify_archive_signed(&dir, &key.public_key()).unwrap().1.is_empty());
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
///
/// # Errors
/// As [`read_manifest`]; I/O errors writing it.
pub fn sign_manifest(dir: &Path, key: &SigningKey) -> Result<Manifest> {
    let mut manifest = read_manifest(dir)?;
    manifest.sign(key);
    let path = dir.join("manifest.json");
    let tmp = dir.join(".manifest.json.tmp");
    let text = serde_json::to_string_pretty(&manifest).map_err(Error::Json)?;
    std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    Ok(manifest)
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
