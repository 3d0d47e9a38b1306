//! `activity verify`: the integrity chain, and the heads archives recorded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use activity_core::signed::{verify_checkpoints, PublicKey};
use activity_core::{chain::verified_event, chain::verify};

use crate::cli::args::VerifyArgs;
use crate::cli::context::Ctx;
use crate::cli::Failure;

/// Verifies every chain (status 3 on a break) and records the verification; with
/// `--checkpoints`, first against the signed checkpoints with the public key alone.
pub(crate) async fn run(a: VerifyArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let mut signed_broken = false;
    if let (Some(dir), Some(pk)) = (&a.checkpoints, &a.public_key) {
        signed_broken = !against_checkpoints(dir, pk, a.tenant.as_deref(), ctx).await?;
        // The chain key adds the links' own check, and only it may record anything.
        if activity_core::chain::key_holds(&*ctx.store, &ctx.key).await? == Some(false) {
            println!(
                "chain links not checked under a chain key (none configured holds; the \
                 checkpoints need none); nothing recorded"
            );
            return Ok(if signed_broken {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            });
        }
    } else {
        ctx.require_key().await?;
    }
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
    if signed_broken && report.is_intact() && archived.is_empty() {
        println!(
            "chain links intact under the chain key: {} events in {} chains (the breaks above are against the signed checkpoints)",
            report.events, report.chains
        );
        return Ok(ExitCode::from(3));
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

/// Checks the store against the checkpoints in `dir` with the public key in `pk`,
/// printing each break; whether it is intact.
async fn against_checkpoints(
    dir: &Path,
    pk: &Path,
    tenant: Option<&str>,
    ctx: &Ctx,
) -> Result<bool, Failure> {
    let key = PublicKey::read(pk)
        .map_err(|e| Failure::usage(format!("--public-key {}: {e}", pk.display())))?;
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "--checkpoints {}: no such directory",
            dir.display()
        )));
    }
    let (store, progress) = ctx.counted("verify");
    let report = verify_checkpoints(&*store, dir, &key, tenant).await;
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(e @ activity_core::Error::Invalid { .. }) => {
            return Err(Failure::usage(format!(
                "--checkpoints {}: {e}",
                dir.display()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    for b in &report.found {
        println!("BROKEN: {}", serde_json::to_string(b)?);
    }
    if report.is_intact() {
        println!(
            "intact against signed checkpoint {} ({}): {} events in {} chains checked against it, {} newer ones linked; public key {}",
            report.checkpoint,
            report.created,
            report.covered,
            report.chains,
            report.newer,
            key.fingerprint()
        );
    } else {
        println!(
            "{} breaks against signed checkpoint {} ({}), public key {}",
            report.breaks,
            report.checkpoint,
            report.created,
            key.fingerprint()
        );
    }
    Ok(report.is_intact())
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
