//! `activity archive`: a closed window into a directory, every closed window not yet
//! archived (`--every`), or `archive verify DIR`.

use std::process::ExitCode;
use std::sync::Arc;

use activity_core::{
    archive::ArchiveScheduler, archive::ArchiveWindow, export::exported, export::exported_event,
    ActivityQuery,
};
use chrono::Utc;

use crate::cli::args::{ArchiveArgs, ArchiveVerify, EveryArg, WindowArg};
use crate::cli::context::{operator, Ctx};
use crate::cli::output::export_format;
use crate::cli::time::parse_when;
use crate::cli::Failure;

/// What `archive` needs, said when it is missing.
const EXPLAIN: &str = "archive needs --output DIR and --since TIME --until TIME, \
                       --window yesterday|last-month or --every day|month \
                       (or: archive verify DIR)";

/// Archives, or verifies an archive (status 3 when it is broken).
pub(crate) async fn run(a: ArchiveArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    if let Some(ArchiveVerify::Verify { dir, public_key }) = &a.verify {
        return verify(dir, public_key.as_deref());
    }
    let now = Utc::now();
    let Some(out) = &a.output else {
        return Err(Failure::usage(EXPLAIN));
    };
    let format = export_format(a.format);
    if let Some(every) = a.every {
        let window = match every {
            EveryArg::Day => ArchiveWindow::Day,
            EveryArg::Month => ArchiveWindow::Month,
        };
        let (store, progress) = ctx.counted("archive");
        let mut s = ArchiveScheduler::new(
            store,
            out.clone(),
            window,
            Arc::new(activity_core::SystemClock),
        )
        .format(format)
        .recorder(ctx.recorder.clone());
        if let Some(key) = &ctx.signing_key {
            s = s.signing_key(key.clone());
        }
        if let Some(t) = &a.tenant {
            s = s.tenant(t.clone());
        }
        if let Some(f) = &a.from {
            s = s.starting(parse_when("from", f, now).map_err(Failure::usage)?);
        }
        let done = s.run_once().await;
        progress.finish();
        let done = done?;
        for (dir, m) in &done {
            println!(
                "archived {} events into {}",
                m.files.iter().map(|f| f.rows).sum::<u64>(),
                dir.display()
            );
        }
        if done.is_empty() {
            println!(
                "nothing to archive: every closed window is in {}",
                out.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (since, until) = match (a.window, &a.since, &a.until) {
        (Some(WindowArg::Yesterday), ..) => ArchiveWindow::Day.last_closed(now),
        (Some(WindowArg::LastMonth), ..) => ArchiveWindow::Month.last_closed(now),
        (None, Some(since), Some(until)) => (
            parse_when("since", since, now).map_err(Failure::usage)?,
            parse_when("until", until, now).map_err(Failure::usage)?,
        ),
        _ => return Err(Failure::usage(EXPLAIN)),
    };
    let (store, progress) = ctx.counted("archive");
    let m = activity_core::archive::archive(
        &*store,
        out,
        a.tenant.as_deref(),
        since,
        until,
        format,
        now,
    )
    .await;
    progress.finish();
    let mut m = m?;
    if let Some(key) = &ctx.signing_key {
        m = activity_core::archive::sign_manifest(out, key)?;
    }
    let mut q = ActivityQuery::new().since(since).until(until);
    q.tenant = a.tenant.clone();
    let payload = activity_core::event::payload::Exported {
        archive: Some(out.display().to_string()),
        ..exported(&q, format, m.files[0].rows)
    };
    ctx.recorder
        .record_reserved(exported_event(operator(), &q, payload))?;
    println!("archived {} events into {}", m.files[0].rows, out.display());
    Ok(ExitCode::SUCCESS)
}

/// `archive verify DIR [--public-key FILE]`: every file against the manifest (its rows
/// counted), and the manifest against its signature when a public key is given.
fn verify(
    dir: &std::path::Path,
    public_key: Option<&std::path::Path>,
) -> Result<ExitCode, Failure> {
    let (m, problems) = match public_key {
        None => activity_core::archive::verify_archive(dir)?,
        Some(f) => {
            let key = activity_core::signed::PublicKey::read(f)
                .map_err(|e| Failure::usage(format!("--public-key {}: {e}", f.display())))?;
            activity_core::archive::verify_archive_signed(dir, &key)?
        }
    };
    if problems.is_empty() {
        println!(
            "archive intact: {} files, {} rows{}",
            m.files.len(),
            m.files.iter().map(|f| f.rows).sum::<u64>(),
            if public_key.is_some() {
                ", manifest signed by the given key"
            } else {
                " (manifest signature not checked: pass --public-key)"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("BROKEN: {}", serde_json::to_string(p)?);
    }
    Ok(ExitCode::from(3))
}
