//! `activity ingest`: JSON Lines from a file or standard input, through the recorder,
//! streamed: one line at a time is held, whatever the input's size (finding A19).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::args::IngestArgs;
use crate::cli::context::Ctx;
use crate::cli::ingest::EventLines;
use crate::cli::progress::Progress;
use crate::cli::Failure;

/// Records every valid line; bad lines are reported and make the status 1 (with
/// `--strict`, nothing is stored then: the input is checked in a first pass, standard
/// input copied to a temporary file for it, and recorded in a second).
pub(crate) async fn run(a: IngestArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    if let Some(url) = &a.from {
        return from_nats(url, a.drain, ctx).await;
    }
    ctx.require_key().await?;
    let restore = a.restore;
    let stdin = match a.file.as_deref() {
        None => true,
        Some(p) => p.as_os_str() == "-",
    };
    if !a.strict {
        let input: Box<dyn BufRead> = match a.file.as_deref() {
            Some(p) if !stdin => Box::new(open(p)?),
            _ => Box::new(std::io::stdin().lock()),
        };
        return record(input, ctx, restore).await;
    }
    // --strict: check everything before storing anything.
    let copy = stdin.then(copy_stdin).transpose()?;
    let path: PathBuf = match (&copy, a.file.as_deref()) {
        (Some(c), _) => c.0.clone(),
        (None, Some(p)) => p.to_path_buf(),
        (None, None) => unreachable!("standard input is copied"),
    };
    let mut bad = 0u64;
    for line in EventLines::new(open(&path)?) {
        let (n, parsed) = line?;
        if let Err(reason) = parsed.and_then(|e| admit(e, restore).map(|_| ())) {
            bad += 1;
            report_bad(n, &reason);
        }
    }
    if bad > 0 {
        eprintln!("--strict: {bad} bad lines; nothing stored");
        return Ok(ExitCode::from(1));
    }
    record(Box::new(open(&path)?), ctx, restore).await
}

/// `--from nats://…`: the stream's events into the store, acknowledged once committed.
/// The events are the publishing instances' committed logs, sealed by their recorders,
/// and are stored as published (their chains verify with the instances' chain key):
/// only the instances may publish to the stream (NATS permissions).
async fn from_nats(url: &str, drain: bool, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let target: crate::NatsTarget = url.parse()?;
    let ingest = crate::NatsIngest::connect(&target, ctx.store.clone()).await?;
    let progress = Progress::stderr("ingest");
    let (mut stored, mut rejected, mut taken) = (0u64, 0usize, 0usize);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let batch = tokio::select! {
            b = ingest.ingest_once() => b?,
            _ = &mut stop => break,
        };
        stored += batch.stored;
        rejected += batch.rejected;
        taken += batch.messages;
        progress.add(batch.stored);
        if drain && batch.messages == 0 {
            break;
        }
    }
    progress.finish();
    eprintln!("took {taken} messages: stored {stored} events, {rejected} were not events");
    Ok(if rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// An ingested event as it may be stored: the SDK's own actions are evidence only the SDK
/// writes, refused unless restoring an archive, and then marked restored (which keeps
/// them from serving as evidence). `Ok((event, true))` for a restored reserved action.
fn admit(
    e: activity_core::ActivityEvent,
    restore: bool,
) -> Result<(activity_core::ActivityEvent, bool), String> {
    match activity_core::chain::check_ingestable(&e) {
        Ok(()) => Ok((e, false)),
        Err(_) if restore => Ok((activity_core::chain::mark_restored(e), true)),
        Err(err) => Err(format!("event {}: {err}", e.id)),
    }
}

/// Records the events of `input` as they are read.
async fn record(input: Box<dyn BufRead>, ctx: &Ctx, restore: bool) -> Result<ExitCode, Failure> {
    let progress = Progress::stderr("ingest");
    let (mut stored, mut bad) = (0u64, 0u64);
    let result = async {
        for line in EventLines::new(input) {
            let (n, parsed) = line?;
            match parsed.and_then(|e| admit(e, restore)) {
                Ok((e, false)) => {
                    ctx.recorder.record_async(e).await?;
                    stored += 1;
                    progress.add(1);
                }
                Ok((e, true)) => {
                    record_restored(ctx, e).await?;
                    stored += 1;
                    progress.add(1);
                }
                Err(reason) => {
                    bad += 1;
                    report_bad(n, &reason);
                }
            }
        }
        ctx.recorder.flush().await?;
        Ok::<(), Failure>(())
    }
    .await;
    progress.finish();
    result?;
    eprintln!("stored {stored} events, skipped {bad} bad lines");
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Records a restored reserved action (through the SDK's own door), waiting while the
/// queue is full.
async fn record_restored(ctx: &Ctx, e: activity_core::ActivityEvent) -> Result<(), Failure> {
    loop {
        match ctx.recorder.record_reserved(e.clone()) {
            Err(activity_core::Error::QueueFull { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            other => return Ok(other?),
        }
    }
}

fn report_bad(line: u64, reason: &str) {
    eprintln!(
        "line {line}: {}",
        activity_core::text::escape_control(reason)
    );
}

fn open(p: &Path) -> Result<std::io::BufReader<std::fs::File>, Failure> {
    Ok(std::io::BufReader::new(
        std::fs::File::open(p).map_err(|e| Failure::file(p, e))?,
    ))
}

/// Standard input copied to a temporary file (removed when dropped), for `--strict`'s
/// two passes.
struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn copy_stdin() -> Result<TempCopy, Failure> {
    let path = std::env::temp_dir().join(format!(
        "activity-ingest-{}.jsonl",
        uuid::Uuid::now_v7().simple()
    ));
    let copy = TempCopy(path);
    let mut out = std::fs::File::create(&copy.0).map_err(|e| Failure::file(&copy.0, e))?;
    std::io::copy(&mut std::io::stdin().lock(), &mut out).map_err(|e| Failure::file(&copy.0, e))?;
    Ok(copy)
}
