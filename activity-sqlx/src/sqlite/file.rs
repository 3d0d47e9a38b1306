//! The database file a store opened, and whether its path still names it.
//!
//! A SQLite connection holds its file open: when the file is deleted (or another file is
//! moved into its place) the store's open connections go on writing into the old,
//! unlinked file, their commits succeed, and the events are gone with it. Before each
//! append the store checks that its path still names the file it opened (one `stat`),
//! and reports an outage when it does not.

use std::path::{Path, PathBuf};

use activity_core::Error as CoreError;

/// The file's identity when the store opened it.
#[derive(Debug)]
pub(super) struct OpenedFile {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl OpenedFile {
    /// The identity of the file at `path` now (it was just opened).
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            id: identity(path).ok().flatten(),
        }
    }

    /// An outage error unless `path` still names the file opened.
    pub(super) fn check(&self) -> activity_core::Result<()> {
        let Some(opened) = self.id else {
            return Ok(());
        };
        match identity(&self.path) {
            Ok(Some(now)) if now == opened => Ok(()),
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(CoreError::unavailable(
                format!(
                    "the database file {} was replaced by another file while in use; \
                     nothing is written until the store is reopened",
                    self.path.display()
                ),
                None,
            )),
            Err(e) => Err(CoreError::unavailable(
                format!(
                    "the database file {} is gone ({e}); nothing is written into the \
                     deleted file",
                    self.path.display()
                ),
                Some(Box::new(e)),
            )),
        }
    }
}

/// The (device, inode) of `path`; `None` where the platform has no such identity.
#[cfg(unix)]
fn identity(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(Some((m.dev(), m.ino())))
}

#[cfg(not(unix))]
fn identity(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    std::fs::metadata(path).map(|_| None)
}
