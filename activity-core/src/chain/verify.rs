//! [`verify`]: reading a store back and finding the first modified, missing, inserted or truncated link.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use uuid::Uuid;

use super::checkpoint::covered;
use super::ChainKey;
use crate::error::Result;
use crate::event::payload::{Payload, Verified};
use crate::event::ActivityEvent;
use crate::query::ActivityQuery;
use crate::store::ActivityStore;

/// One stored link: position, predecessor hash, hash, event id.
type Link = (u64, [u8; 32], [u8; 32], Uuid);
/// A chain: its tenant and writer.
type ChainId = (Option<String>, String);

/// The first problem [`verify`] found.
///
/// ```
/// use activity_core::{chain::verify, ActivityEvent, ActivityStore, Actor, chain::Break, chain::ChainKey, chain::ChainSealer, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let mut sealer = ChainSealer::new("web-1", key.clone());
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap();
/// let mut events: Vec<_> = (0..3)
///     .map(|i| ActivityEvent::logout(Actor::user("u_1")).with_time(t0 + Duration::seconds(i)))
///     .collect();
/// sealer.seal_all(&mut events);
/// events[1].reason = Some("edited".into()); // changed after sealing
/// let store = MemoryStore::new();
/// store.append(&events).await.unwrap();
/// let report = verify(&store, None, &key).await.unwrap();
/// let writer = sealer.writer().to_owned();
/// assert_eq!(report.first_break, Some(Break::Modified { id: events[1].id, writer, seq: 2 }));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Break {
    /// The event's content no longer matches its hash (modified, or moved).
    Modified {
        /// The event.
        id: Uuid,
        /// Its chain and position.
        writer: String,
        /// Its position.
        seq: u64,
    },
    /// Links are missing between two events (deleted events).
    Missing {
        /// The chain.
        writer: String,
        /// The last position before the gap.
        after_seq: u64,
        /// The next position found.
        next_seq: u64,
        /// The event after the gap.
        id: Uuid,
    },
    /// The event does not link to its predecessor (inserted, replaced or reordered).
    Unlinked {
        /// The event.
        id: Uuid,
        /// Its chain.
        writer: String,
        /// Its position.
        seq: u64,
    },
    /// Two events claim the same position.
    Duplicate {
        /// The second event.
        id: Uuid,
        /// Its chain.
        writer: String,
        /// The position.
        seq: u64,
    },
    /// An event without a chain link among chained events of its tenant (inserted).
    Unchained {
        /// The event.
        id: Uuid,
    },
    /// The chain's stored events end before its head: its newest events were deleted
    /// (and no recorded retention purge accounts for them).
    Truncated {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// The last position stored (0: none left).
        last_seq: u64,
        /// The last position written, by the head.
        head_seq: u64,
    },
    /// Stored rows could not be read back as events (a value no event can hold, written
    /// into the database directly), or the store refused the read for good. Rows after it in the log's order (newest
    /// first) were not examined.
    Unreadable {
        /// The last event read before it (`None`: it is the newest row).
        after: Option<Uuid>,
        /// What the store said.
        error: String,
    },
    /// The chain's head does not hold: its MAC is wrong (edited or forged without the
    /// key), or the stored event at its position has another hash, or events follow it.
    HeadMismatch {
        /// The chain's tenant.
        tenant: Option<String>,
        /// The chain.
        writer: String,
        /// The head's position.
        seq: u64,
    },
}

/// What [`verify`] found.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{chain::verify, ActivityEvent, Actor, chain::ChainKey, chain::ChainSealer, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let (recorder, guard) = Recorder::builder(store.clone())
///     .sealer(ChainSealer::new("web-1", key.clone()))
///     .lifecycle_events(false)
///     .start();
/// recorder.record(ActivityEvent::login_succeeded(Actor::user("u_1"))).unwrap();
/// recorder.record(ActivityEvent::logout(Actor::user("u_1"))).unwrap();
/// guard.shutdown().await;
/// let report = verify(&*store, None, &key).await.unwrap();
/// assert!(report.is_intact());
/// assert_eq!((report.events, report.chains, report.anchored, report.breaks), (2, 1, 1, 0));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Events examined.
    pub events: u64,
    /// Chains examined.
    pub chains: u64,
    /// Chains that start after position 1 (their start was purged by retention).
    pub purged_starts: u64,
    /// Chains checked against their stored head (tail deletion detectable).
    pub anchored: u64,
    /// Chains with events but no stored head (written before heads were kept, or by a
    /// store that keeps none): the deletion of their newest events cannot be seen.
    pub unanchored: u64,
    /// Chains whose newest events (or all of them) a recorded retention purge removed.
    pub purged_tails: u64,
    /// The first break, if any.
    pub first_break: Option<Break>,
    /// How many breaks in all.
    pub breaks: u64,
}

impl VerifyReport {
    /// Whether no break was found.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Verifies every chain of `tenant` (`None`: every tenant): each event's hash, and that
/// positions are contiguous and linked. Reads the log a page at a time; holds 80 bytes
/// per chained event for the ordering check.
///
/// Positions may be missing (a chain's start, a gap, its tail up to its head, or all of
/// it) only where an authentic purge checkpoint ([`PurgeCheckpoint`](super::PurgeCheckpoint),
/// written by the [`Purger`](crate::retention::Purger) under the chain key) names
/// exactly those positions, and the next stored link names the checkpoint's hash for the
/// last removed one as its predecessor; a start accepted so is counted in
/// [`VerifyReport::purged_starts`], any other missing start is [`Break::Missing`] with
/// `after_seq: 0`.
///
/// Then each stored [`ChainHead`](super::ChainHead) of `tenant` is checked: its MAC, and that the chain's
/// stored events end exactly at it with the same hash. A chain that ends before its head
/// (or has no events left) is [`Break::Truncated`], unless a checkpoint names exactly the
/// positions after the last stored one up to the head: then retention removed the tail
/// and it is counted in [`VerifyReport::purged_tails`].
///
/// # Errors
/// The store's errors.
pub async fn verify(
    store: &dyn ActivityStore,
    tenant: Option<&str>,
    key: &ChainKey,
) -> Result<VerifyReport> {
    let q = ActivityQuery::scoped(tenant);
    let mut links: BTreeMap<ChainId, Vec<Link>> = BTreeMap::new();
    let mut report = VerifyReport {
        events: 0,
        chains: 0,
        purged_starts: 0,
        anchored: 0,
        unanchored: 0,
        purged_tails: 0,
        first_break: None,
        breaks: 0,
    };
    let note = |r: &mut VerifyReport, b: Break| {
        r.breaks += 1;
        if r.first_break.is_none() {
            r.first_break = Some(b);
        }
    };
    let mut unchained: Vec<(Option<String>, Uuid)> = Vec::new();
    let mut current: Option<(ChainId, Vec<Link>)> = None;
    let mut input = Vec::with_capacity(640);
    let mut version = 2u8;
    let mut pages = crate::query::Pages::new(store, q);
    let mut last_read: Option<Uuid> = None;
    loop {
        let events = match pages.next().await {
            Ok(Some(events)) => events,
            Ok(None) => break,
            // A row that does not decode is a named break, never an abort; an outage (a
            // retryable error) is an error.
            Err(e) if !e.is_retryable() => {
                note(
                    &mut report,
                    Break::Unreadable {
                        after: last_read,
                        error: e.to_string(),
                    },
                );
                break;
            }
            Err(e) => return Err(e),
        };
        last_read = events.last().map(|e| e.id).or(last_read);
        for e in &events {
            report.events += 1;
            let Some(link) = &e.chain else {
                unchained.push((e.tenant.clone(), e.id));
                continue;
            };
            let mut prev = [0u8; 32];
            let mut hash = [0u8; 32];
            let _ = hex::decode_to_slice(&link.prev, &mut prev);
            let stored = hex::decode_to_slice(&link.hash, &mut hash).is_ok();
            // The canonical form leaves `chain` out, so the stored event hashes as it is.
            // Version 2 links, or version 1 for chains sealed before it: the version that
            // held for the previous event is tried first (chains come in runs).
            let holds = stored && {
                if key.link_digest(version, e, link.seq, &link.prev, &mut input) == hash {
                    true
                } else {
                    let other = 3 - version;
                    let ok = key.link_digest(other, e, link.seq, &link.prev, &mut input) == hash;
                    if ok {
                        version = other;
                    }
                    ok
                }
            };
            if !holds {
                note(
                    &mut report,
                    Break::Modified {
                        id: e.id,
                        writer: link.writer.clone(),
                        seq: link.seq,
                    },
                );
            }
            // Events come chain by chain in runs: the run's chain is kept out of the map,
            // so that most events cost no key (two strings) to file.
            let same = matches!(&current, Some(((t, w), _)) if *t == e.tenant && *w == link.writer);
            if !same {
                if let Some((k, v)) = current.take() {
                    links.insert(k, v);
                }
                let k = (e.tenant.clone(), link.writer.clone());
                let v = links.remove(&k).unwrap_or_default();
                current = Some((k, v));
            }
            if let Some((_, run)) = &mut current {
                run.push((link.seq, prev, hash, e.id));
            }
        }
    }
    if let Some((k, v)) = current.take() {
        links.insert(k, v);
    }
    // What authenticated retention purges removed, per chain: the only positions that
    // may be missing.
    let cover = super::checkpoint::coverage(store, key).await?;
    let chained_tenants: std::collections::HashSet<&Option<String>> =
        links.keys().map(|(t, _)| t).collect();
    for (t, id) in &unchained {
        if chained_tenants.contains(t) {
            note(&mut report, Break::Unchained { id: *id });
        }
    }
    // Where each chain's stored events end: position and hash.
    let mut ends: HashMap<(Option<String>, String), (u64, [u8; 32])> = HashMap::new();
    for ((t, writer), mut chain) in links {
        report.chains += 1;
        chain.sort_by_key(|l| l.0);
        let ranges = cover.get(&(t.clone(), writer.clone()));
        if chain[0].0 != 1 {
            // A missing start: only where a checkpoint removed exactly 1..first-1, and the
            // first stored link follows the last removed one.
            let first = &chain[0];
            if covered(ranges, 1, first.0 - 1) == Some(first.1) {
                report.purged_starts += 1;
            } else {
                note(
                    &mut report,
                    Break::Missing {
                        writer: writer.clone(),
                        after_seq: 0,
                        next_seq: first.0,
                        id: first.3,
                    },
                );
            }
        } else if chain[0].1 != [0u8; 32] {
            note(
                &mut report,
                Break::Unlinked {
                    id: chain[0].3,
                    writer: writer.clone(),
                    seq: 1,
                },
            );
        }
        for w in chain.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if b.0 == a.0 {
                note(
                    &mut report,
                    Break::Duplicate {
                        id: b.3,
                        writer: writer.clone(),
                        seq: b.0,
                    },
                );
            } else if b.0 != a.0 + 1 {
                if covered(ranges, a.0 + 1, b.0 - 1) == Some(b.1) {
                    continue;
                }
                note(
                    &mut report,
                    Break::Missing {
                        writer: writer.clone(),
                        after_seq: a.0,
                        next_seq: b.0,
                        id: b.3,
                    },
                );
            } else if b.1 != a.2 {
                note(
                    &mut report,
                    Break::Unlinked {
                        id: b.3,
                        writer: writer.clone(),
                        seq: b.0,
                    },
                );
            }
        }
        if let Some(last) = chain.last() {
            ends.insert((t, writer), (last.0, last.2));
        }
    }
    let heads = store.chain_heads(tenant).await?;
    let mut seen: std::collections::HashSet<(Option<String>, String)> = Default::default();
    for head in heads {
        if tenant.is_some() && head.tenant.as_deref() != tenant {
            continue;
        }
        let chain = (head.tenant.clone(), head.writer.clone());
        if !seen.insert(chain.clone()) {
            continue;
        }
        let mismatch = || Break::HeadMismatch {
            tenant: head.tenant.clone(),
            writer: head.writer.clone(),
            seq: head.seq,
        };
        if !key.head_is_authentic(&head) {
            note(&mut report, mismatch());
            continue;
        }
        let mut head_hash = [0u8; 32];
        let _ = hex::decode_to_slice(&head.last_hash, &mut head_hash);
        let end = ends.get(&chain).copied();
        match end {
            Some((seq, hash)) if seq == head.seq => {
                report.anchored += 1;
                if hash != head_hash {
                    note(&mut report, mismatch());
                }
            }
            Some((seq, _)) if seq > head.seq => {
                report.anchored += 1;
                note(&mut report, mismatch());
            }
            _ => {
                // Only a checkpoint that removed exactly the positions after the last one
                // stored, up to the head, with the head's hash.
                let from = end.map_or(1, |e| e.0 + 1);
                let cut = covered(cover.get(&chain), from, head.seq) == Some(head_hash);
                if cut {
                    report.purged_tails += 1;
                    if end.is_some() {
                        report.anchored += 1;
                    }
                } else {
                    report.anchored += u64::from(end.is_some());
                    note(
                        &mut report,
                        Break::Truncated {
                            tenant: head.tenant.clone(),
                            writer: head.writer.clone(),
                            last_seq: end.map_or(0, |e| e.0),
                            head_seq: head.seq,
                        },
                    );
                }
            }
        }
    }
    report.unanchored = ends.keys().filter(|c| !seen.contains(*c)).count() as u64;
    Ok(report)
}

/// The `audit.verified` event for a verification run.
pub fn verified_event(tenant: Option<&str>, report: &VerifyReport) -> ActivityEvent {
    let outcome = if report.is_intact() {
        crate::Outcome::Success
    } else {
        crate::Outcome::Failure
    };
    let verified = Verified {
        events: report.events,
        chains: report.chains,
        anchored: report.anchored,
        unanchored: report.unanchored,
        breaks: report.breaks,
        first_break: report
            .first_break
            .as_ref()
            .and_then(|b| serde_json::to_value(b).ok()),
    };
    let mut e = verified.write(ActivityEvent::audit(crate::Action::AUDIT_VERIFIED, outcome));
    if let Some(t) = tenant {
        e = e.with_tenant(t);
    }
    e
}
