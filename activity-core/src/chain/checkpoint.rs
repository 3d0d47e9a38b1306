//! Purge checkpoints: what a retention purge removed, per chain the positions, MACed by
//! the [`Purger`](crate::retention::Purger) under the chain key.
//!
//! [`verify`](super::verify) accepts a chain's missing prefix, gap or tail (or the whole
//! chain) only where an authentic checkpoint names exactly those positions, and the
//! first stored link after the gap names, as its predecessor, the hash the checkpoint
//! gives for the last removed position. The checkpoint rides in the `audit.purged`
//! event's `details.checkpoint`; each purge carries forward the ranges of earlier ones,
//! so the newest checkpoint alone accounts for everything retention ever removed (the
//! older `audit.purged` events may themselves expire).
//!
//! Its MAC is the chain key's hash over
//! `"activity-purge-checkpoint-v1\n" || event id || "\n" || event time in microseconds
//! || "\n" || ranges` where `ranges` is the compact JSON array of
//! `[tenant, writer, from, to, to_hash]` arrays, sorted by tenant (null first), writer
//! and `from`. It binds the event's id and time, so a checkpoint copied into another
//! event does not hold, and an event restored from an archive is marked
//! ([`mark_restored`](super::mark_restored)) and never counts.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ChainKey;
use crate::error::Result;
use crate::event::ActivityEvent;
use crate::query::ActivityQuery;
use crate::store::ActivityStore;

/// The `details` key of an `audit.purged` event that holds its [`PurgeCheckpoint`].
pub const CHECKPOINT_KEY: &str = "checkpoint";

/// Positions `from..=to` of one chain, removed by retention; `to_hash` is the hash of
/// the link at `to`, which the next stored link names as its predecessor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgedRange {
    /// The chain's tenant.
    pub tenant: Option<String>,
    /// The chain's writer.
    pub writer: String,
    /// The first position removed.
    pub from: u64,
    /// The last position removed.
    pub to: u64,
    /// The hash of the link at `to`.
    pub to_hash: String,
}

/// What a purge removed (with what earlier purges removed), and the purger's MAC.
///
/// ```
/// use activity_core::chain::{ChainKey, PurgeCheckpoint, PurgedRange};
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let id = uuid::Uuid::now_v7();
/// let time = chrono::Utc::now();
/// let ranges = vec![PurgedRange { tenant: None, writer: "w.1".into(), from: 1, to: 49, to_hash: "ab".repeat(32) }];
/// let cp = PurgeCheckpoint::new(&key, id, time, ranges);
/// assert!(cp.is_authentic(&key, id, time));
/// let mut forged = cp.clone();
/// forged.ranges[0].to = 70; // claim more was purged
/// assert!(!forged.is_authentic(&key, id, time));
/// assert!(!cp.is_authentic(&key, uuid::Uuid::now_v7(), time), "bound to its event");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeCheckpoint {
    /// The removed positions, sorted, adjacent ranges merged.
    pub ranges: Vec<PurgedRange>,
    /// The MAC (hex) over the event id, time and ranges.
    pub mac: String,
}

impl PurgeCheckpoint {
    /// A checkpoint of `ranges` for the `audit.purged` event `id` at `time`, MACed.
    pub fn new(
        key: &ChainKey,
        id: Uuid,
        time: chrono::DateTime<chrono::Utc>,
        ranges: Vec<PurgedRange>,
    ) -> Self {
        let ranges = merge(ranges);
        let mac = mac(key, id, time, &ranges);
        Self { ranges, mac }
    }

    /// Whether the MAC holds for the event `id` at `time`.
    pub fn is_authentic(
        &self,
        key: &ChainKey,
        id: Uuid,
        time: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        key.equal_hex(&mac(key, id, time, &self.ranges), &self.mac)
    }

    /// The checkpoint `event` carries, when it is an `audit.purged` success that is not
    /// a dry run, not restored, with an authentic checkpoint.
    pub fn of_event(event: &ActivityEvent, key: &ChainKey) -> Option<Self> {
        if event.action != crate::Action::AUDIT_PURGED
            || event.outcome != crate::Outcome::Success
            || super::reserved::is_restored(event)
        {
            return None;
        }
        let details = event.details.as_ref()?;
        if details.get("dry_run") != Some(&serde_json::Value::Bool(false)) {
            return None;
        }
        let cp: Self = serde_json::from_value(details.get(CHECKPOINT_KEY)?.clone()).ok()?;
        cp.is_authentic(key, event.id, event.time).then_some(cp)
    }
}

fn mac(
    key: &ChainKey,
    id: Uuid,
    time: chrono::DateTime<chrono::Utc>,
    ranges: &[PurgedRange],
) -> String {
    let rows: Vec<serde_json::Value> = ranges
        .iter()
        .map(|r| serde_json::json!([r.tenant, r.writer, r.from, r.to, r.to_hash]))
        .collect();
    let text = format!(
        "activity-purge-checkpoint-v1\n{}\n{}\n{}",
        id.hyphenated(),
        time.timestamp_micros(),
        serde_json::Value::Array(rows)
    );
    key.mac_hex(text.as_bytes())
}

/// Sorts `ranges` and merges overlapping or adjacent ones of a chain (the later one's
/// `to_hash` wins).
pub(crate) fn merge(mut ranges: Vec<PurgedRange>) -> Vec<PurgedRange> {
    ranges.sort_by(|a, b| {
        (&a.tenant, &a.writer, a.from, a.to).cmp(&(&b.tenant, &b.writer, b.from, b.to))
    });
    let mut out: Vec<PurgedRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        if let Some(last) = out.last_mut() {
            if last.tenant == r.tenant && last.writer == r.writer && r.from <= last.to + 1 {
                if r.to >= last.to {
                    last.to = r.to;
                    last.to_hash = r.to_hash;
                }
                continue;
            }
        }
        out.push(r);
    }
    out
}

/// The links a purge removes: per chain (tenant, writer), positions with their hashes.
pub(crate) type RemovedLinks = BTreeMap<(Option<String>, String), Vec<(u64, String)>>;

/// Builds ranges from removed links: per chain, positions with their hashes.
pub(crate) fn ranges_of(removed: RemovedLinks) -> Vec<PurgedRange> {
    let mut out = Vec::new();
    for ((tenant, writer), mut links) in removed {
        links.sort_by_key(|l| l.0);
        links.dedup_by_key(|l| l.0);
        let mut i = 0;
        while i < links.len() {
            let from = links[i].0;
            let mut j = i;
            while j + 1 < links.len() && links[j + 1].0 == links[j].0 + 1 {
                j += 1;
            }
            out.push(PurgedRange {
                tenant: tenant.clone(),
                writer: writer.clone(),
                from,
                to: links[j].0,
                to_hash: links[j].1.clone(),
            });
            i = j + 1;
        }
    }
    merge(out)
}

/// The removed ranges of every chain, from every authentic checkpoint in `store`.
pub(crate) type Coverage = HashMap<(Option<String>, String), Vec<(u64, u64, [u8; 32])>>;

/// Reads every authentic purge checkpoint in `store` and merges their ranges per chain.
pub(crate) async fn coverage(store: &dyn ActivityStore, key: &ChainKey) -> Result<Coverage> {
    let ranges = checkpoint_ranges(store, key).await?;
    let mut out: Coverage = HashMap::new();
    for r in ranges {
        let mut h = [0u8; 32];
        if hex::decode_to_slice(&r.to_hash, &mut h).is_err() {
            continue;
        }
        out.entry((r.tenant, r.writer))
            .or_default()
            .push((r.from, r.to, h));
    }
    Ok(out)
}

/// Every range of every authentic checkpoint in `store`, merged.
pub(crate) async fn checkpoint_ranges(
    store: &dyn ActivityStore,
    key: &ChainKey,
) -> Result<Vec<PurgedRange>> {
    let mut all = Vec::new();
    let q = ActivityQuery::new().action(crate::Action::AUDIT_PURGED.as_str());
    let mut pages = crate::query::Pages::new(store, q);
    while let Some(events) = pages.next().await? {
        for e in &events {
            if let Some(cp) = PurgeCheckpoint::of_event(e, key) {
                all.extend(cp.ranges);
            }
        }
    }
    Ok(merge(all))
}

/// Whether positions `from..=to` of a chain are all in one removed range that ends at
/// `to`; its hash for `to`, if so.
pub(crate) fn covered(
    ranges: Option<&Vec<(u64, u64, [u8; 32])>>,
    from: u64,
    to: u64,
) -> Option<[u8; 32]> {
    ranges?
        .iter()
        .find(|r| r.0 <= from && r.1 == to)
        .map(|r| r.2)
}
