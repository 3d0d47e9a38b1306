//! Archive coverage: whether every expired event lies in a verified archive, which the
//! [`Purger`](crate::retention::Purger) asks before deleting when it requires archives.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::query::ActivityQuery;
use crate::retention::TenantPurge;
use crate::signed::PublicKey;
use crate::store::ActivityStore;

/// How many events of `tenant` (`None`: those without a tenant) lie in `[since, until)`.
pub(crate) async fn count_of(
    store: &dyn ActivityStore,
    tenant: Option<&str>,
    since: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
    tenants: &[Option<String>],
) -> Result<u64> {
    let window = |mut q: ActivityQuery| {
        if let Some(s) = since {
            q = q.since(s);
        }
        q.until(until)
    };
    match tenant {
        Some(t) => store.count(&window(ActivityQuery::tenant_log(t))).await,
        // Events without a tenant: all in the window, less the named tenants' ones.
        None => {
            let all = store.count(&window(ActivityQuery::new())).await?;
            let mut named = 0;
            for t in tenants.iter().flatten() {
                named += store.count(&window(ActivityQuery::tenant_log(t))).await?;
            }
            Ok(all.saturating_sub(named))
        }
    }
}

/// The archives in `dir` (itself and its immediate subdirectories) that can cover events
/// expiring before `before`: their window starts before it, the store still has events
/// in it (an archive of events already purged covers nothing), no more than the archive
/// holds (else events were added after it was made), and their files verify against the
/// manifest. Only those are read and hashed: a directory of years of archives costs one
/// manifest read and one indexed count each, not a full read of every file on every
/// purge.
async fn usable_archives(
    store: &dyn ActivityStore,
    dir: &Path,
    before: DateTime<Utc>,
    key: Option<&PublicKey>,
) -> Result<Vec<crate::archive::Manifest>> {
    match key.cloned() {
        None => usable_archives_checked(store, dir, before, verifies).await,
        Some(key) => {
            usable_archives_checked(store, dir, before, move |d| verifies_signed(d, &key)).await
        }
    }
}

/// [`usable_archives`], with `check` saying whether an archive's files verify.
pub(crate) async fn usable_archives_checked(
    store: &dyn ActivityStore,
    dir: &Path,
    before: DateTime<Utc>,
    check: impl Fn(&Path) -> bool + Send + 'static,
) -> Result<Vec<crate::archive::Manifest>> {
    let dir = dir.to_path_buf();
    let found = off_thread(move || manifests(&dir)).await?;
    let mut candidates = Vec::new();
    for (d, m) in found {
        if m.since >= before {
            continue;
        }
        let rows: u64 = m.files.iter().map(|f| f.rows).sum();
        let mut q = ActivityQuery::scoped(m.tenant.as_deref());
        q = q.since(m.since).until(m.until);
        let stored = store.count(&q).await?;
        if stored == 0 {
            continue;
        }
        if stored > rows {
            tracing::warn!(dir = %d.display(), stored, rows, "events were added to an archived window after it was archived; not counted as an archive");
            continue;
        }
        candidates.push((d, m));
    }
    off_thread(move || {
        candidates
            .into_iter()
            .filter(|(d, _)| check(d))
            .map(|(_, m)| m)
            .collect()
    })
    .await
}

/// Runs `f` (reading files: blocking work) off the async workers.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::backend("archive check did not finish", Some(Box::new(e))))
}

/// The manifests in `dir` and its immediate subdirectories (those that do not parse are
/// skipped with a warning).
fn manifests(dir: &Path) -> Vec<(PathBuf, crate::archive::Manifest)> {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        dirs.extend(subs);
    }
    let mut out = Vec::new();
    for d in dirs {
        if !d.join("manifest.json").is_file() {
            continue;
        }
        match crate::archive::read_manifest(&d) {
            Ok(m) => out.push((d, m)),
            Err(e) => {
                tracing::warn!(dir = %d.display(), error = %e, "unreadable archive; not counted as an archive");
            }
        }
    }
    out
}

/// Whether the archive in `dir` verifies against its manifest (a warning when not).
pub(crate) fn verifies(dir: &Path) -> bool {
    judged(dir, crate::archive::verify_archive(dir))
}

/// [`verifies`], with a manifest signed by `key`.
fn verifies_signed(dir: &Path, key: &PublicKey) -> bool {
    judged(dir, crate::archive::verify_archive_signed(dir, key))
}

fn judged(
    dir: &Path,
    result: Result<(
        crate::archive::Manifest,
        Vec<crate::archive::ArchiveProblem>,
    )>,
) -> bool {
    match result {
        Ok((_, problems)) if problems.is_empty() => true,
        Ok((_, problems)) => {
            tracing::warn!(dir = %dir.display(), ?problems, "archive does not verify; not counted as an archive");
            false
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "unreadable archive; not counted as an archive");
            false
        }
    }
}

/// The tenants of `plan` whose expired events are not all inside a usable archive.
pub(crate) async fn not_archived(
    store: &dyn ActivityStore,
    dir: &Path,
    plan: &[(Option<String>, DateTime<Utc>)],
    tenants: &[Option<String>],
    key: Option<&PublicKey>,
) -> Result<Vec<TenantPurge>> {
    let Some(before) = plan.iter().map(|(_, cutoff)| *cutoff).max() else {
        return Ok(Vec::new());
    };
    let archives = usable_archives(store, dir, before, key).await?;
    let mut out = Vec::new();
    for (tenant, cutoff) in plan {
        let total = count_of(store, tenant.as_deref(), None, *cutoff, tenants).await?;
        if total == 0 {
            continue;
        }
        let mut windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = archives
            .iter()
            .filter(|m| m.tenant.is_none() || m.tenant == *tenant)
            .map(|m| (m.since, m.until.min(*cutoff)))
            .filter(|(a, b)| a < b)
            .collect();
        windows.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (a, b) in windows {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut covered = 0;
        for (a, b) in merged {
            covered += count_of(store, tenant.as_deref(), Some(a), b, tenants).await?;
        }
        if covered < total {
            out.push(TenantPurge {
                tenant: tenant.clone(),
                cutoff: *cutoff,
                events: total - covered,
            });
        }
    }
    Ok(out)
}
