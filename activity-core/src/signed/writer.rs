//! [`CheckpointWriter`]: the job that writes a signed checkpoint of every chain, after
//! checking the log under the chain key and against the previous checkpoint.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::checkpoint::{newest_checkpoint, ChainState, SignedCheckpoint};
use super::commitment::{fold, START};
use super::keys::SigningKey;
use super::rows::{scan, ChainId};
use crate::chain::ChainKey;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::store::ActivityStore;

/// A chain's stored hash at the previous checkpoint's position and the fold up to it.
type HashAndFold = ([u8; 32], [u8; 32]);

/// Where a checkpoint goes besides its directory (a webhook, object storage kept by
/// someone else): the more places hold it, the less an attacker who deletes the newest
/// files can roll the reference back.
///
/// ```
/// use activity_core::signed::{CheckpointSink, SignedCheckpoint};
/// use activity_core::reexports::async_trait;
/// struct Log;
/// #[async_trait]
/// impl CheckpointSink for Log {
///     async fn deliver(&self, cp: &SignedCheckpoint) -> activity_core::Result<()> {
///         println!("checkpoint {} of {} chains", cp.number, cp.chains.len());
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait CheckpointSink: Send + Sync + 'static {
    /// Delivers a checkpoint just written (its JSON is `serde_json::to_string(cp)`).
    ///
    /// # Errors
    /// Whatever failed; the checkpoint file is written regardless, and the job's run
    /// reports the error.
    async fn deliver(&self, checkpoint: &SignedCheckpoint) -> Result<()>;
}

/// Writes signed checkpoints into a directory: on demand ([`run_once`](Self::run_once))
/// or as a [`Job`](crate::jobs::Job) on an interval (`jobs::every(interval).spawn(...)`).
///
/// Each run verifies the log under the chain key ([`verify`](crate::chain::verify)),
/// compares it with the previous checkpoint (every chain still there, at or past its
/// position with the same hash and commitment, unless an authenticated retention purge
/// removed it), and only then signs the new state: a checkpoint never vouches for a log
/// that was tampered with since the last one ([`Error::NotCheckpointed`] instead, and
/// the last good checkpoint stays the reference).
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{chain::{ChainKey, ChainSealer}, signed::{CheckpointWriter, SigningKey, verify_checkpoints}, ActivityEvent, Actor, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let (rec, guard) = Recorder::builder(store.clone()).sealer(ChainSealer::new("web-1", key.clone())).start();
/// rec.record(ActivityEvent::logout(Actor::user("u"))).unwrap();
/// guard.shutdown().await;
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let signer = SigningKey::generate().unwrap();
/// let writer = CheckpointWriter::new(store.clone(), key, signer.clone(), &dir);
/// let cp = writer.run_once().await.unwrap();
/// assert_eq!((cp.number, cp.chains.len()), (1, 1));
/// // An auditor needs only the public key.
/// let report = verify_checkpoints(&*store, &dir, &signer.public_key(), None).await.unwrap();
/// assert!(report.is_intact(), "{report:?}");
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
pub struct CheckpointWriter {
    store: Arc<dyn ActivityStore>,
    key: ChainKey,
    signer: SigningKey,
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    sinks: Vec<Arc<dyn CheckpointSink>>,
    /// One run at a time (two would both claim the same number).
    running: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CheckpointWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointWriter")
            .field("dir", &self.dir)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl CheckpointWriter {
    /// Checkpoints of `store`, whose chains are sealed with `key`, signed with `signer`,
    /// written into `dir`.
    pub fn new(
        store: Arc<dyn ActivityStore>,
        key: ChainKey,
        signer: SigningKey,
        dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            store,
            key,
            signer,
            dir: dir.into(),
            clock: Arc::new(SystemClock),
            sinks: Vec::new(),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Takes each checkpoint's time from `clock` (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Also delivers each checkpoint to `sink`.
    pub fn sink(mut self, sink: Arc<dyn CheckpointSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Writes the next checkpoint and returns it.
    ///
    /// # Errors
    /// [`Error::NotCheckpointed`] when the log does not verify or lost events since the
    /// previous checkpoint; [`Error::Invalid`] when the newest file in the directory is
    /// not a checkpoint signed by this key; store and I/O errors; a sink's error (after
    /// the file was written).
    pub async fn run_once(&self) -> Result<SignedCheckpoint> {
        let _one = self.running.lock().await;
        let previous = newest_checkpoint(&self.dir, &self.signer.public_key())?;
        let report = crate::chain::verify(&*self.store, None, &self.key).await?;
        if let Some(b) = &report.first_break {
            return Err(Error::NotCheckpointed {
                reason: format!(
                    "the log does not verify under the chain key ({} breaks, the first: {})",
                    report.breaks,
                    serde_json::to_string(b).unwrap_or_default()
                ),
            });
        }
        let scan = scan(&*self.store, None).await?;
        if let Some((_, e)) = &scan.unreadable {
            return Err(Error::NotCheckpointed {
                reason: format!("a stored row cannot be read: {e}"),
            });
        }
        // P at the previous checkpoint's position of each chain, to compare.
        let earlier: HashMap<ChainId, u64> = previous
            .iter()
            .flat_map(|p| &p.chains)
            .map(|s| ((s.tenant.clone(), s.writer.clone()), s.seq))
            .collect();
        let mut states: HashMap<ChainId, (ChainState, Option<HashAndFold>)> = HashMap::new();
        for (chain, rows) in &scan.chains {
            let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                continue;
            };
            let mut p = START;
            let mut at_earlier = None;
            for r in rows {
                p = fold(&p, r.seq, &r.hash, &r.digest);
                if earlier.get(chain) == Some(&r.seq) {
                    at_earlier = Some((r.hash, p));
                }
            }
            states.insert(
                chain.clone(),
                (
                    ChainState {
                        tenant: chain.0.clone(),
                        writer: chain.1.clone(),
                        first: first.seq,
                        seq: last.seq,
                        hash: hex::encode(last.hash),
                        public: hex::encode(p),
                    },
                    at_earlier,
                ),
            );
        }
        if let Some(prev) = &previous {
            let cover = crate::chain::coverage(&*self.store, &self.key).await?;
            let purged = |chain: &ChainId, from: u64, to: u64| {
                cover
                    .get(chain)
                    .is_some_and(|rs| rs.iter().any(|r| r.0 <= from && r.1 >= to))
            };
            for e in &prev.chains {
                let chain = (e.tenant.clone(), e.writer.clone());
                let lost = |what: String| {
                    Error::NotCheckpointed {
                    reason: format!(
                        "chain {} of tenant {}: {what} since checkpoint {}, and no retention purge accounts for it",
                        e.writer,
                        e.tenant.as_deref().unwrap_or("(none)"),
                        prev.number
                    ),
                }
                };
                match states.get(&chain) {
                    None if !purged(&chain, e.first, e.seq) => {
                        return Err(lost("every event was deleted".into()));
                    }
                    None => {}
                    Some((s, _)) if s.seq < e.seq && !purged(&chain, s.seq + 1, e.seq) => {
                        return Err(lost(format!(
                            "it ends at {}, no longer at {}",
                            s.seq, e.seq
                        )));
                    }
                    Some((s, at)) if s.first <= e.seq && s.seq >= e.seq => {
                        let same_hash = at.is_some_and(|(h, _)| hex::encode(h) == e.hash);
                        let same_public = s.first != e.first
                            || at.is_some_and(|(_, p)| hex::encode(p) == e.public);
                        if !same_hash || !same_public {
                            return Err(lost(format!("its events up to {} changed", e.seq)));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        let created = crate::event::format_time(&self.clock.now());
        let number = previous.as_ref().map_or(1, |p| p.number + 1);
        let cp = SignedCheckpoint::new(
            &self.signer,
            number,
            &created,
            previous.as_ref(),
            states.into_values().map(|(s, _)| s).collect(),
        );
        let path = cp.write(&self.dir)?;
        tracing::info!(number, chains = cp.chains.len(), file = %path.display(), "signed checkpoint written");
        for sink in &self.sinks {
            sink.deliver(&cp).await?;
        }
        Ok(cp)
    }
}

#[async_trait]
impl crate::jobs::Job for CheckpointWriter {
    fn name(&self) -> &str {
        "signed checkpoint"
    }

    async fn run(&self) -> Result<()> {
        self.run_once().await.map(drop)
    }
}
