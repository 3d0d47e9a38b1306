//! `activity ingest`: JSON Lines from a file or standard input, through the recorder.

use std::process::ExitCode;

use crate::cli::args::IngestArgs;
use crate::cli::context::Ctx;
use crate::cli::ingest::{read_events, record_all, restore_all};
use crate::cli::progress::Progress;
use crate::cli::Failure;

/// Records every valid line; bad lines are reported and make the status 1 (with
/// `--strict`, nothing is stored then).
pub(crate) async fn run(a: IngestArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    ctx.require_key().await?;
    let input: Box<dyn std::io::BufRead> = match a.file.as_deref() {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).map_err(|e| Failure::file(p, e))?,
        )),
    };
    let (events, mut report) = read_events(input)?;
    // The SDK's own actions are evidence only the SDK writes: refused, unless restoring
    // an archive (then marked restored, which keeps them from serving as evidence).
    let mut kept = Vec::with_capacity(events.len());
    for e in events {
        match activity_core::chain::check_ingestable(&e) {
            Ok(()) => kept.push(e),
            Err(_) if a.restore => kept.push(activity_core::chain::mark_restored(e)),
            Err(err) => {
                report.valid -= 1;
                report.bad.push((0, format!("event {}: {err}", e.id)));
            }
        }
    }
    let events = kept;
    for (line, reason) in &report.bad {
        let reason = activity_core::text::escape_control(reason);
        if *line == 0 {
            eprintln!("refused: {reason}");
        } else {
            eprintln!("line {line}: {reason}");
        }
    }
    if a.strict && !report.bad.is_empty() {
        eprintln!("--strict: {} bad lines; nothing stored", report.bad.len());
        return Ok(ExitCode::from(1));
    }
    let n = events.len();
    let progress = Progress::stderr("ingest");
    progress.set_total(n as u64);
    let stored = if a.restore {
        restore_all(&ctx.recorder, events, &progress).await
    } else {
        record_all(&ctx.recorder, events, &progress).await
    };
    progress.finish();
    stored?;
    eprintln!("stored {n} events, skipped {} bad lines", report.bad.len());
    Ok(if report.bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
