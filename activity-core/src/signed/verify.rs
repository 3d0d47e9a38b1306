//! [`verify_checkpoints`]: the store checked against signed checkpoints with the public
//! key alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Serialize;
use uuid::Uuid;

use super::checkpoint::{checkpoint_files, io, SignedCheckpoint};
use super::commitment::{fold, START};
use super::keys::PublicKey;
use super::rows::{scan, ChainId, Row};
use crate::error::{Error, Result, Rule};
use crate::store::ActivityStore;

/// At most this many breaks are listed (all are counted).
pub const MAX_LISTED: usize = 1000;

/// A problem [`verify_checkpoints`] found: the store against the newest signed
/// checkpoint, or the checkpoint files themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum SignedBreak {
    /// A chain the checkpoint lists has no event left (deleted with its head row).
    ChainDeleted {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// Its position in the checkpoint.
        checkpoint_seq: u64,
    },
    /// The chain's start is gone: its first stored position is after the checkpoint's.
    PrefixDeleted {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// The first position the checkpoint saw.
        expected_first: u64,
        /// The first position stored now.
        first_seq: u64,
    },
    /// Events stored before the first position the checkpoint saw (inserted).
    Inserted {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// The first position stored.
        seq: u64,
    },
    /// Positions missing between two stored events.
    Missing {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// The last position before the gap.
        after_seq: u64,
        /// The next position stored.
        next_seq: u64,
    },
    /// Two events claim one position (a copy inserted).
    Duplicate {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// The position.
        seq: u64,
        /// The second event.
        id: Uuid,
    },
    /// The event does not name its predecessor's hash (inserted, replaced or reordered).
    Unlinked {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// Its position.
        seq: u64,
        /// The event.
        id: Uuid,
    },
    /// The chain ends before the checkpoint's position: its newest events were deleted
    /// (with the head row, or the head rolled back).
    Truncated {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// The last position stored.
        last_seq: u64,
        /// The position the checkpoint saw.
        checkpoint_seq: u64,
    },
    /// An event (its content, or its link) in positions `after_seq + 1 ..= up_to_seq`
    /// changed since the checkpoints that saw them (the narrowest range the checkpoints
    /// allow).
    Modified {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// The last position that still matches a checkpoint (`first - 1`: none).
        after_seq: u64,
        /// The first checkpointed position that no longer matches.
        up_to_seq: u64,
    },
    /// An event without a chain link among chained events of its tenant (inserted).
    Unchained {
        /// The event.
        id: Uuid,
    },
    /// Stored rows could not be read back; rows after it were not examined.
    Unreadable {
        /// The last event read before it.
        after: Option<Uuid>,
        /// What the store said.
        error: String,
    },
    /// A checkpoint file that does not parse.
    CheckpointUnreadable {
        /// The file.
        file: String,
    },
    /// A checkpoint file whose signature is not the public key's (forged or altered).
    CheckpointForged {
        /// The file.
        file: String,
    },
    /// Checkpoints missing between two present ones.
    CheckpointMissing {
        /// The last number before the gap.
        after_number: u64,
        /// The next number present.
        next_number: u64,
    },
    /// A checkpoint that does not name its predecessor's digest (replaced).
    CheckpointUnlinked {
        /// Its number.
        number: u64,
    },
}

/// What [`verify_checkpoints`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    /// The newest valid checkpoint's number.
    pub checkpoint: u64,
    /// When it was made.
    pub created: String,
    /// Checkpoint files examined.
    pub files: u64,
    /// Chains of the newest checkpoint checked.
    pub chains: u64,
    /// Events read.
    pub events: u64,
    /// Events at or before their chain's position in the newest checkpoint (checked
    /// against its commitment).
    pub covered: u64,
    /// Events after it (newer than the checkpoint: linkage checked, content not).
    pub newer: u64,
    /// How many breaks in all.
    pub breaks: u64,
    /// The breaks (the first [`MAX_LISTED`]).
    pub found: Vec<SignedBreak>,
}

impl CheckpointReport {
    /// Whether no break was found.
    pub fn is_intact(&self) -> bool {
        self.breaks == 0
    }

    fn note(&mut self, b: SignedBreak) {
        self.breaks += 1;
        if self.found.len() < MAX_LISTED {
            self.found.push(b);
        }
    }
}

/// Checks `store` (events of `tenant`, `None`: all) against the checkpoints in `dir`,
/// with the signer's public key `key` alone (no chain key):
///
/// - every checkpoint file is signed by `key`, numbers run without gaps and each names
///   its predecessor's digest;
/// - every chain of the newest checkpoint is still stored from its `first` position to
///   at least its `seq`, without gaps, repeats or unlinked events, and its commitment
///   `P(seq)` (recomputed from the stored events) matches; an older checkpoint of the
///   same chain and start narrows a mismatch down to the positions between them;
/// - events after the checkpoint are checked for linkage only (they are newer than
///   the signature).
///
/// Retention purges after the newest checkpoint read as [`SignedBreak::PrefixDeleted`]
/// or [`SignedBreak::ChainDeleted`] until the next checkpoint is written (write one after
/// each purge).
///
/// # Errors
/// [`Error::Invalid`] when `dir` holds no checkpoint signed by `key`; I/O and store
/// errors.
pub async fn verify_checkpoints(
    store: &dyn ActivityStore,
    dir: &Path,
    key: &PublicKey,
    tenant: Option<&str>,
) -> Result<CheckpointReport> {
    let mut report = CheckpointReport {
        checkpoint: 0,
        created: String::new(),
        files: 0,
        chains: 0,
        events: 0,
        covered: 0,
        newer: 0,
        breaks: 0,
        found: Vec::new(),
    };
    let mut valid: Vec<SignedCheckpoint> = Vec::new();
    for path in checkpoint_files(dir)? {
        report.files += 1;
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let Ok(cp) = SignedCheckpoint::from_json(&text) else {
            report.note(SignedBreak::CheckpointUnreadable { file });
            continue;
        };
        let named = path.file_name().and_then(|n| n.to_str())
            == Some(&SignedCheckpoint::file_name(cp.number));
        if !cp.is_signed_by(key) || !named {
            report.note(SignedBreak::CheckpointForged { file });
            continue;
        }
        valid.push(cp);
    }
    valid.sort_by_key(|c| c.number);
    for w in valid.windows(2) {
        if w[1].number != w[0].number + 1 {
            report.note(SignedBreak::CheckpointMissing {
                after_number: w[0].number,
                next_number: w[1].number,
            });
        } else if w[1].prev != w[0].digest() {
            report.note(SignedBreak::CheckpointUnlinked {
                number: w[1].number,
            });
        }
    }
    let Some(newest) = valid.last() else {
        return Err(Error::invalid(
            "checkpoints",
            Rule::Malformed("a directory holding a checkpoint signed by the public key"),
        ));
    };
    report.checkpoint = newest.number;
    report.created = newest.created.clone();
    // Each chain's commitments at the positions of every checkpoint (same start).
    let mut points: HashMap<ChainId, BTreeMap<u64, (u64, String)>> = HashMap::new();
    for cp in &valid {
        for s in &cp.chains {
            points
                .entry((s.tenant.clone(), s.writer.clone()))
                .or_default()
                .insert(s.seq, (s.first, s.public.clone()));
        }
    }
    let mut scanned = scan(store, tenant).await?;
    report.events = scanned.events;
    for s in &newest.chains {
        if tenant.is_some() && s.tenant.as_deref() != tenant {
            continue;
        }
        report.chains += 1;
        let chain = (s.tenant.clone(), s.writer.clone());
        let rows = scanned.chains.remove(&chain).unwrap_or_default();
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            report.note(SignedBreak::ChainDeleted {
                tenant: s.tenant.clone(),
                writer: s.writer.clone(),
                checkpoint_seq: s.seq,
            });
            continue;
        };
        let (first, last) = (first.seq, last.seq);
        let before = report.breaks;
        if first < s.first {
            report.note(SignedBreak::Inserted {
                tenant: s.tenant.clone(),
                writer: s.writer.clone(),
                seq: first,
            });
        } else if first > s.first {
            report.note(SignedBreak::PrefixDeleted {
                tenant: s.tenant.clone(),
                writer: s.writer.clone(),
                expected_first: s.first,
                first_seq: first,
            });
        }
        links(&mut report, &chain, &rows);
        if last < s.seq {
            report.note(SignedBreak::Truncated {
                tenant: s.tenant.clone(),
                writer: s.writer.clone(),
                last_seq: last,
                checkpoint_seq: s.seq,
            });
        }
        let covered = rows.iter().filter(|r| r.seq <= s.seq).count() as u64;
        report.covered += covered;
        report.newer += rows.len() as u64 - covered;
        // The commitment, where the positions are all there (else the gap is the break).
        if report.breaks == before {
            let checks = points.get(&chain);
            let mut p = START;
            let mut matched = s.first.saturating_sub(1);
            for r in rows.iter().take_while(|r| r.seq <= s.seq) {
                p = fold(&p, r.seq, &r.hash, &r.digest);
                let Some((f, expected)) = checks.and_then(|c| c.get(&r.seq)) else {
                    continue;
                };
                if *f != s.first {
                    continue;
                }
                if hex::encode(p) != *expected {
                    report.note(SignedBreak::Modified {
                        tenant: s.tenant.clone(),
                        writer: s.writer.clone(),
                        after_seq: matched,
                        up_to_seq: r.seq,
                    });
                    break;
                }
                matched = r.seq;
            }
        }
    }
    // Chains newer than the newest checkpoint: linkage only.
    let chained: HashSet<Option<String>> = newest
        .chains
        .iter()
        .map(|s| s.tenant.clone())
        .chain(scanned.chains.keys().map(|c| c.0.clone()))
        .collect();
    let rest = std::mem::take(&mut scanned.chains);
    for (chain, rows) in rest {
        report.newer += rows.len() as u64;
        links(&mut report, &chain, &rows);
    }
    for (t, id) in &scanned.unchained {
        if chained.contains(t) {
            report.note(SignedBreak::Unchained { id: *id });
        }
    }
    if let Some((after, error)) = scanned.unreadable.take() {
        report.note(SignedBreak::Unreadable { after, error });
    }
    Ok(report)
}

/// Gaps, repeats and links of one chain's rows (sorted by position).
fn links(report: &mut CheckpointReport, chain: &ChainId, rows: &[Row]) {
    let (tenant, writer) = (chain.0.clone(), chain.1.clone());
    if let Some(r) = rows.first().filter(|r| r.seq == 1 && r.prev != START) {
        report.note(SignedBreak::Unlinked {
            tenant: tenant.clone(),
            writer: writer.clone(),
            seq: 1,
            id: r.id,
        });
    }
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if b.seq == a.seq {
            report.note(SignedBreak::Duplicate {
                tenant: tenant.clone(),
                writer: writer.clone(),
                seq: b.seq,
                id: b.id,
            });
        } else if b.seq != a.seq + 1 {
            report.note(SignedBreak::Missing {
                tenant: tenant.clone(),
                writer: writer.clone(),
                after_seq: a.seq,
                next_seq: b.seq,
            });
        } else if b.prev != a.hash {
            report.note(SignedBreak::Unlinked {
                tenant: tenant.clone(),
                writer: writer.clone(),
                seq: b.seq,
                id: b.id,
            });
        }
    }
}
