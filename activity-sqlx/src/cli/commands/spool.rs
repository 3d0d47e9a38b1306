//! `activity spool status|replay`: the recorder's local spool.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use activity_core::spool::{Spool, SpoolStatus};

use crate::cli::args::{SpoolAction, SpoolArgs};
use crate::cli::context::Ctx;
use crate::cli::Failure;
use crate::{SqliteSpool, DEFAULT_SPOOL_CAPACITY};

/// How long `replay` waits for the store to take the spool.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(300);

/// A missing spool file is an error (a typo would otherwise read as an empty spool).
fn existing(path: &Path) -> Result<(), Failure> {
    if path.exists() {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "--spool {}: no such file",
            path.display()
        )))
    }
}

/// Opens the spool at `path` as its one writer (refused, status 2, while another process
/// has it open: the application it belongs to is running).
pub(crate) async fn open_spool(path: &Path) -> Result<Arc<dyn Spool>, Failure> {
    existing(path)?;
    match SqliteSpool::open(path, DEFAULT_SPOOL_CAPACITY).await {
        Ok(spool) => Ok(Arc::new(spool)),
        Err(e @ crate::Error::SpoolInUse { .. }) => Err(Failure::usage(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Prints what the spool at `path` holds (readable while the application runs).
pub(crate) async fn status(path: &Path) -> Result<ExitCode, Failure> {
    existing(path)?;
    print_status(&SqliteSpool::status_of(path).await?)?;
    Ok(ExitCode::SUCCESS)
}

fn print_status(s: &SpoolStatus) -> Result<(), Failure> {
    let json = serde_json::json!({
        "batches": s.batches,
        "events": s.events,
        "bytes": s.bytes,
        "capacity_bytes": s.capacity_bytes,
        "oldest": s.oldest.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        "unreadable": s.unreadable,
    });
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// `replay`: the recorder replayed the spool as it started; waits for it to reach the
/// store and reports what is left.
pub(crate) async fn run(a: SpoolArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    match a.action {
        SpoolAction::Status => status(&a.spool).await,
        SpoolAction::Replay => {
            let flushed = tokio::time::timeout(REPLAY_TIMEOUT, ctx.recorder.flush()).await;
            // The recorder holds the spool (and its lock); this only reads.
            let left = SqliteSpool::status_of(&a.spool).await?;
            print_status(&left)?;
            if flushed.is_err() || !left.is_empty() {
                return Err(Failure::failed(format!(
                    "{} spooled events were not replayed (is the store reachable?)",
                    left.events
                )));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
