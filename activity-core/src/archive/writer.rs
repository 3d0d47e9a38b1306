//! [`archive`]: one window of the log written into a directory with its manifest.

use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::io;
use crate::error::{Error, Result, Rule};
use crate::event::ActivityEvent;
use crate::export::{ExportFormat, ExportWriter};
use crate::query::ActivityQuery;
use crate::store::ActivityStore;

use super::{ArchiveFile, ChainSpan, Manifest};

struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Archives the events of `[since, until)` (of `tenant`, or all) into `dir` (created if
/// needed; it must not already hold a manifest). Memory stays flat: a page at a time,
/// written (and synced to disk) on a blocking thread while the next page is read. Needs a
/// tokio runtime.
///
/// # Errors
/// [`Error::Invalid`] for an empty window or a directory that already holds an archive;
/// I/O and store errors.
pub async fn archive(
    store: &dyn ActivityStore,
    dir: &Path,
    tenant: Option<&str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    format: ExportFormat,
    now: DateTime<Utc>,
) -> Result<Manifest> {
    if since >= until {
        return Err(Error::invalid("since", Rule::OutOfRange("before `until`")));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let manifest_path = dir.join("manifest.json");
    if manifest_path.exists() {
        return Err(Error::invalid(
            "output",
            Rule::Malformed("a directory without an archive in it"),
        ));
    }
    let (name, fmt) = match format {
        ExportFormat::Csv => ("events.csv", "csv"),
        ExportFormat::JsonLines => ("events.jsonl", "jsonl"),
        ExportFormat::Ocsf => ("events.ocsf.jsonl", "ocsf"),
    };
    let path = dir.join(name);
    // The file is written, hashed and flushed on a blocking thread, a page at a time,
    // while the next page is read here: no file I/O on the async workers.
    let (pages_tx, mut pages_rx) = tokio::sync::mpsc::channel::<Vec<ActivityEvent>>(1);
    let file_path = path.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<(u64, String, Chains)> {
        let file = std::fs::File::create(&file_path).map_err(|e| io(&file_path, e))?;
        let mut w = ExportWriter::new(
            HashingWriter {
                inner: BufWriter::new(file),
                hash: Sha256::new(),
            },
            format,
        )?;
        let mut chains = Chains::default();
        while let Some(events) = pages_rx.blocking_recv() {
            w.write(&events)?;
            for e in &events {
                note_chain(&mut chains, e);
            }
        }
        let rows = w.rows();
        let mut hw = w.finish()?;
        hw.flush().map_err(|e| io(&file_path, e))?;
        hw.inner
            .get_ref()
            .sync_all()
            .map_err(|e| io(&file_path, e))?;
        Ok((rows, hex::encode(hw.hash.finalize()), chains))
    });
    let q = ActivityQuery::scoped(tenant).since(since).until(until);
    let mut pages = crate::query::Pages::new(store, q);
    let read = async {
        while let Some(events) = pages.next().await? {
            if pages_tx.send(events).await.is_err() {
                break; // the writer stopped: its error says why
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    drop(pages_tx);
    let written = writer
        .await
        .map_err(|e| Error::backend("the archive writer failed", Some(Box::new(e))))?;
    read?;
    let (rows, sha256, chains) = written?;
    // Read after the events: every head is at or past what the archive holds.
    let mut heads = store.chain_heads(tenant).await?;
    heads.sort_by(|a, b| (&a.tenant, &a.writer).cmp(&(&b.tenant, &b.writer)));
    let manifest = Manifest {
        version: 2,
        created: now,
        tenant: tenant.map(str::to_owned),
        since,
        until,
        format: fmt.into(),
        files: vec![ArchiveFile {
            name: name.into(),
            rows,
            sha256,
        }],
        chains: chains.into_values().collect(),
        heads,
        signature: None,
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(Error::Json)?;
    std::fs::write(&manifest_path, text).map_err(|e| io(&manifest_path, e))?;
    Ok(manifest)
}

/// The chain spans an archive covers, by tenant and writer.
type Chains = std::collections::BTreeMap<(Option<String>, String), ChainSpan>;

fn note_chain(chains: &mut Chains, e: &ActivityEvent) {
    let Some(link) = &e.chain else { return };
    let span = chains
        .entry((e.tenant.clone(), link.writer.clone()))
        .or_insert_with(|| ChainSpan {
            tenant: e.tenant.clone(),
            writer: link.writer.clone(),
            first_seq: link.seq,
            last_seq: link.seq,
            last_hash: link.hash.clone(),
        });
    span.first_seq = span.first_seq.min(link.seq);
    if link.seq >= span.last_seq {
        span.last_seq = link.seq;
        span.last_hash = link.hash.clone();
    }
}
