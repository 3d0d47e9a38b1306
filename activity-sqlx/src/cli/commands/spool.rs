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

/// Opens the spool at `path`; a missing file is an error (a typo would otherwise read as
/// an empty spool).
pub(crate) async fn open_spool(path: &Path) -> Result<Arc<dyn Spool>, Failure> {
    if !path.exists() {
        return Err(Failure::usage(format!(
            "--spool {}: no such file",
            path.display()
        )));
    }
    let spool = SqliteSpool::open(path, DEFAULT_SPOOL_CAPACITY).await?;
    Ok(Arc::new(spool))
}

/// Prints what the spool at `path` holds.
pub(crate) async fn status(path: &Path) -> Result<ExitCode, Failure> {
    let spool = open_spool(path).await?;
    print_status(&spool.status().await?)?;
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
            let spool = open_spool(&a.spool).await?;
            let left = spool.status().await?;
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
