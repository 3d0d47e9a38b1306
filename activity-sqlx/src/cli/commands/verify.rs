//! `activity verify`: the integrity chain, and the heads archives recorded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use activity_core::{chain::verified_event, chain::verify};

use crate::cli::args::VerifyArgs;
use crate::cli::context::Ctx;
use crate::cli::Failure;

/// Verifies every chain (status 3 on a break) and records the verification.
pub(crate) async fn run(a: VerifyArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    ctx.require_key().await?;
    let (counted_store, progress) = ctx.counted("verify");
    let report = verify(&*counted_store, a.tenant.as_deref(), &ctx.key).await;
    progress.finish();
    let report = report?;
    ctx.recorder
        .record_reserved(verified_event(a.tenant.as_deref(), &report))?;
    // The heads the archives recorded, against the store's.
    let mut archived = Vec::new();
    let mut manifests = 0;
    if let Some(dir) = &a.archives {
        for d in archive_dirs(dir) {
            let m = activity_core::archive::read_manifest(&d)?;
            if a.tenant.is_some() && m.tenant.is_some() && m.tenant != a.tenant {
                continue;
            }
            manifests += 1;
            archived.extend(activity_core::archive::check_heads(&*ctx.store, &m, &ctx.key).await?);
        }
    }
    if let Some(b) = report.first_break.as_ref().or(archived.first()) {
        println!("BROKEN: {}", serde_json::to_string(b)?);
        println!(
            "{} breaks in {} events, {} chains",
            report.breaks + archived.len() as u64,
            report.events,
            report.chains
        );
        Ok(ExitCode::from(3))
    } else {
        println!(
            "intact: {} events in {} chains ({} checked against their head, {} without one, {} started and {} ended by retention; key {})",
            report.events,
            report.chains,
            report.anchored,
            report.unanchored,
            report.purged_starts,
            report.purged_tails,
            ctx.key.fingerprint()
        );
        if a.archives.is_some() {
            println!("chain heads match {manifests} archive manifests");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The archive directories in `dir`: itself and its immediate subdirectories that hold
/// a `manifest.json`, in name order.
fn archive_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if dir.join("manifest.json").is_file() {
        out.push(dir.to_path_buf());
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subs: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("manifest.json").is_file())
            .collect();
        subs.sort();
        out.extend(subs);
    }
    out
}
