//! `activity purge`: delete events past their tenant's retention (`--dry-run` counts).

use std::process::ExitCode;
use std::sync::Arc;

use activity_core::{retention::TenantPurge, text::escape_control};
use chrono::Utc;

use crate::cli::args::PurgeArgs;
use crate::cli::context::Ctx;
use crate::cli::time::parse_when;
use crate::cli::Failure;

/// Purges (or counts) and reports per tenant; a purge refused for want of an archive
/// lists the tenants first.
pub(crate) async fn run(a: PurgeArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    ctx.require_key().await?;
    if a.checkpoints.is_some() && !a.dry_run {
        // Refused before anything is deleted.
        super::checkpoint::signer(None, ctx)?;
    }
    let now = match &a.now {
        Some(t) => parse_when("now", t, Utc::now()).map_err(Failure::usage)?,
        None => Utc::now(),
    };
    let (store, progress) = ctx.counted("purge");
    let mut purger = activity_core::retention::Purger::new(
        store,
        ctx.retention.clone(),
        Arc::new(activity_core::ManualClock::new(now)),
    )
    .recorder(ctx.recorder.clone())
    .key(ctx.key.clone())
    .purge_undelivered(a.purge_undelivered);
    if let Some(dir) = a.require_archive.or_else(|| ctx.require_archive.clone()) {
        purger = purger.require_archive(dir);
        // With a signing key configured the archives are signed (`activity archive`):
        // only those whose manifest holds under it count.
        if let Some(key) = &ctx.signing_key {
            purger = purger.require_signed_archives(key.public_key());
        }
    }
    let result = purger.run_once(a.dry_run).await;
    progress.finish();
    let report = match result {
        Ok(r) => r,
        Err(e @ activity_core::Error::NotArchived { .. }) => {
            if let Some(last) = purger.last_run() {
                not_archived(&last.not_archived);
            }
            return Err(Failure::from(e));
        }
        Err(e) => return Err(Failure::from(e)),
    };
    let verb = if a.dry_run { "would delete" } else { "deleted" };
    for t in &report.tenants {
        println!(
            "{:20} {verb} {:>8} events older than {}",
            escape_control(t.tenant.as_deref().unwrap_or("(no tenant)")),
            t.events,
            activity_core::event::format_time(&t.cutoff)
        );
    }
    for h in &report.held {
        println!("{:20} legal hold: kept", escape_control(h));
    }
    for p in &report.partitions {
        println!("dropped partition {p}");
    }
    if !report.partitions.is_empty() {
        println!(
            "{} of the events went with whole partitions",
            report.partition_events
        );
    }
    not_archived(&report.not_archived);
    if report.undelivered_kept > 0 {
        println!(
            "kept {} expired events a sink has not delivered yet (see `activity sinks`; --purge-undelivered deletes them)",
            report.undelivered_kept
        );
    }
    if report.undelivered_purged > 0 {
        println!(
            "{verb} {} events a sink had not delivered",
            report.undelivered_purged
        );
    }
    println!("{verb} {} events in all", report.total);
    if let (Some(dir), false) = (&a.checkpoints, a.dry_run) {
        // The audit.purged event (the authenticated checkpoint) stored first.
        ctx.recorder.flush().await?;
        let signer = super::checkpoint::signer(None, ctx)?;
        return super::checkpoint::write(ctx, signer, dir).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The tenants whose expired events are in no verified archive.
fn not_archived(list: &[TenantPurge]) {
    for t in list {
        println!(
            "{:20} {:>8} expired events are in no verified archive",
            escape_control(t.tenant.as_deref().unwrap_or("(no tenant)")),
            t.events
        );
    }
}
