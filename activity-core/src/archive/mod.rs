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
//! `heads` copies the store's [`ChainHead`](crate::chain::ChainHead)s of the archived tenant (all tenants when the
//! archive is of all) as they were when the archive was made: kept away from the
//! database, they show whether the database's heads were later rolled back or deleted
//! along with the newest events ([`check_heads`]). Manifests of version 1 have no heads.
//!
//! | file | holds |
//! |---|---|
//! | `manifest` | [`Manifest`], [`ArchiveFile`], [`ChainSpan`], [`read_manifest`] |
//! | `writer` | [`archive`]: a window written into a directory |
//! | `verify` | [`verify_archive`], [`check_heads`], [`ArchiveProblem`] |
//! | `coverage` | whether expired events lie in verified archives (for the purge) |
//! | `scheduler` | [`ArchiveScheduler`], [`ArchiveWindow`]: closed days or months, each once |

use std::path::Path;

use crate::error::Error;

pub(crate) mod coverage;
mod manifest;
mod scheduler;
#[cfg(test)]
mod tests;
mod verify;
mod writer;

pub use manifest::{
    read_manifest, sign_manifest, ArchiveFile, ChainSpan, Manifest, MANIFEST_DOMAIN,
};
pub use scheduler::{ArchiveScheduler, ArchiveWindow, MAX_WINDOWS_PER_RUN};
pub use verify::{check_heads, verify_archive, verify_archive_signed, ArchiveProblem};
pub use writer::archive;

/// An I/O error on `path`.
pub(crate) fn io(path: &Path, e: std::io::Error) -> Error {
    Error::backend(format!("{}: {e}", path.display()), Some(Box::new(e)))
}
