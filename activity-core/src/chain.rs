//! The integrity chain: each stored event carries its position in a hash chain, so that
//! a modified, deleted or inserted event is found by [`verify`].
//!
//! One chain per tenant and writer. A writer is one recorder run: the [`ChainSealer`]
//! names its chains `<recorder writer id>.<UUID v7>`, so several app instances (and
//! restarts) write at once without sharing a counter.
//!
//! Each link is `hash = H("activity-chain-v1\n" || seq || "\n" || prev || "\n" || canonical)`
//! where `canonical` is the event's JSON (schema v1) without its `chain` field, with object
//! keys sorted and no whitespace (serde_json's exact number and string formatting), `seq`
//! counts from 1 in decimal, `prev` is the predecessor's hash (64 zeros for the first)
//! and `H` is HMAC-SHA256 under the chain key when one is set (so database access alone
//! cannot recompute the chain), else SHA-256.
//!
//! Known limit: deleting the newest events of a chain leaves a shorter chain that still
//! links; detecting it needs the chain heads kept outside the events table (an archive
//! manifest, a separate store), which this version does not write yet.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result, Rule};
use crate::event::{ActivityEvent, ChainLink};
use crate::pipeline::Sealer;
use crate::query::{ActivityQuery, MAX_PAGE_SIZE};
use crate::store::ActivityStore;

/// One stored link: position, predecessor hash, hash, event id.
type Link = (u64, [u8; 32], [u8; 32], Uuid);

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key (or none) chain hashes are computed with.
#[derive(Clone)]
pub struct ChainKey {
    mac: Option<Hmac<Sha256>>,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.mac.is_some() {
            "ChainKey(keyed)"
        } else {
            "ChainKey(unkeyed)"
        })
    }
}

impl ChainKey {
    /// Plain SHA-256: finds accidental and naive tampering; someone with write access to
    /// the database could recompute it.
    pub fn unkeyed() -> Self {
        Self { mac: None }
    }

    /// HMAC-SHA256 under `key` (at least 16 bytes); keep the key out of the database.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a short key.
    pub fn keyed(key: &[u8]) -> Result<Self> {
        if key.len() < 16 {
            return Err(Error::invalid(
                "chain_key",
                Rule::Malformed("at least 16 bytes of secret"),
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|_| Error::invalid("chain_key", Rule::Malformed("a usable HMAC key")))?;
        Ok(Self { mac: Some(mac) })
    }

    /// The hash of `event` at `seq` after `prev`.
    pub fn link_hash(&self, event: &ActivityEvent, seq: u64, prev: &str) -> String {
        let canonical = canonical_json(event);
        let header = format!("activity-chain-v1\n{seq}\n{prev}\n");
        match &self.mac {
            Some(m) => {
                let mut m = m.clone();
                m.update(header.as_bytes());
                m.update(canonical.as_bytes());
                hex::encode(m.finalize().into_bytes())
            }
            None => {
                let mut h = Sha256::new();
                h.update(header.as_bytes());
                h.update(canonical.as_bytes());
                hex::encode(h.finalize())
            }
        }
    }
}

/// The event's canonical JSON: schema v1 without `chain`, keys sorted, no whitespace.
pub fn canonical_json(event: &ActivityEvent) -> String {
    let mut v = serde_json::to_value(event).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.remove("chain");
    }
    // serde_json's Map is ordered by key, so this is sorted at every level.
    v.to_string()
}

/// The recorder stage that chains events as they are written.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, Actor, ChainKey, ChainSealer, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let (rec, guard) = Recorder::builder(store.clone()).sealer(ChainSealer::new("web-1", key.clone())).start();
/// rec.record(ActivityEvent::logout(Actor::user("u"))).unwrap();
/// guard.shutdown().await;
/// let report = activity_core::verify(&*store, None, &key).await.unwrap();
/// assert!(report.is_intact());
/// # });
/// ```
#[derive(Debug)]
pub struct ChainSealer {
    writer: String,
    key: ChainKey,
    heads: HashMap<Option<String>, (u64, String)>,
}

impl ChainSealer {
    /// A sealer for one recorder run; `writer` names it (e.g. the host name).
    pub fn new(writer: &str, key: ChainKey) -> Self {
        let mut w: String = writer
            .chars()
            .filter(|c| !c.is_control())
            .take(80)
            .collect();
        w.push('.');
        w.push_str(&Uuid::now_v7().simple().to_string());
        Self {
            writer: w,
            key,
            heads: HashMap::new(),
        }
    }

    /// This run's chain writer name.
    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// Seals `batch` in order.
    pub fn seal_all(&mut self, batch: &mut [ActivityEvent]) {
        for e in batch {
            let head = self
                .heads
                .entry(e.tenant.clone())
                .or_insert_with(|| (0, GENESIS.to_owned()));
            let seq = head.0 + 1;
            e.chain = None;
            let hash = self.key.link_hash(e, seq, &head.1);
            e.chain = Some(ChainLink {
                writer: self.writer.clone(),
                seq,
                prev: head.1.clone(),
                hash: hash.clone(),
            });
            *head = (seq, hash);
        }
    }
}

#[async_trait]
impl Sealer for ChainSealer {
    async fn seal(
        &mut self,
        _store: &dyn ActivityStore,
        batch: &mut [ActivityEvent],
    ) -> Result<()> {
        self.seal_all(batch);
        Ok(())
    }
}

/// The first problem [`verify`] found.
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
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Events examined.
    pub events: u64,
    /// Chains examined.
    pub chains: u64,
    /// Chains that start after position 1 (their start was purged by retention).
    pub purged_starts: u64,
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
/// A chain may start after position 1 only where retention purged its beginning; a
/// first link whose predecessor is missing is accepted then, and counted in
/// [`VerifyReport::purged_starts`].
///
/// # Errors
/// The store's errors.
pub async fn verify(
    store: &dyn ActivityStore,
    tenant: Option<&str>,
    key: &ChainKey,
) -> Result<VerifyReport> {
    let mut q = match tenant {
        Some(t) => ActivityQuery::tenant_log(t),
        None => ActivityQuery::new(),
    };
    q.limit = MAX_PAGE_SIZE;
    let mut links: BTreeMap<(Option<String>, String), Vec<Link>> = BTreeMap::new();
    let mut report = VerifyReport {
        events: 0,
        chains: 0,
        purged_starts: 0,
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
    loop {
        let page = store.query(&q).await?;
        for e in &page.events {
            report.events += 1;
            let Some(link) = &e.chain else {
                unchained.push((e.tenant.clone(), e.id));
                continue;
            };
            // The canonical form leaves `chain` out, so the stored event hashes as it is.
            if key.link_hash(e, link.seq, &link.prev) != link.hash {
                note(
                    &mut report,
                    Break::Modified {
                        id: e.id,
                        writer: link.writer.clone(),
                        seq: link.seq,
                    },
                );
            }
            let mut prev = [0u8; 32];
            let mut hash = [0u8; 32];
            let _ = hex::decode_to_slice(&link.prev, &mut prev);
            let _ = hex::decode_to_slice(&link.hash, &mut hash);
            links
                .entry((e.tenant.clone(), link.writer.clone()))
                .or_default()
                .push((link.seq, prev, hash, e.id));
        }
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    let chained_tenants: std::collections::HashSet<&Option<String>> =
        links.keys().map(|(t, _)| t).collect();
    for (t, id) in &unchained {
        if chained_tenants.contains(t) {
            note(&mut report, Break::Unchained { id: *id });
        }
    }
    for ((_, writer), mut chain) in links {
        report.chains += 1;
        chain.sort_by_key(|l| l.0);
        if chain[0].0 != 1 {
            report.purged_starts += 1;
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
    }
    Ok(report)
}

/// The `audit.verified` event for a verification run.
pub fn verified_event(tenant: Option<&str>, report: &VerifyReport) -> ActivityEvent {
    let outcome = if report.is_intact() {
        crate::Outcome::Success
    } else {
        crate::Outcome::Failure
    };
    let mut e = ActivityEvent::audit(crate::Action::AUDIT_VERIFIED, outcome)
        .with_detail("events", report.events)
        .with_detail("chains", report.chains)
        .with_detail("breaks", report.breaks);
    if let Some(b) = &report.first_break {
        e = e.with_detail("first_break", serde_json::to_value(b).unwrap_or_default());
    }
    if let Some(t) = tenant {
        e = e.with_tenant(t);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, MemoryStore};
    use chrono::{Duration, TimeZone, Utc};

    fn key() -> ChainKey {
        ChainKey::keyed(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn sealed(n: usize) -> (Vec<ActivityEvent>, String) {
        let mut s = ChainSealer::new("w", key());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        let mut v: Vec<ActivityEvent> = (0..n)
            .map(|i| {
                ActivityEvent::logout(Actor::user(format!("u{i}")))
                    .with_time(t0 + Duration::seconds(i as i64))
            })
            .collect();
        s.seal_all(&mut v);
        (v, s.writer().to_owned())
    }

    async fn check(events: &[ActivityEvent]) -> VerifyReport {
        let store = MemoryStore::new();
        store.append(events).await.unwrap();
        verify(&store, None, &key()).await.unwrap()
    }

    #[tokio::test]
    async fn an_intact_chain_verifies() {
        let (v, _) = sealed(50);
        let r = check(&v).await;
        assert!(r.is_intact(), "{r:?}");
        assert_eq!((r.events, r.chains), (50, 1));
    }

    #[tokio::test]
    async fn the_four_tamperings_are_found_at_the_right_event() {
        let (v, writer) = sealed(10);
        // Modified.
        let mut m = v.clone();
        m[4].reason = Some("edited".into());
        let r = check(&m).await;
        assert_eq!(
            r.first_break,
            Some(Break::Modified {
                id: v[4].id,
                writer: writer.clone(),
                seq: 5
            })
        );
        // Deleted.
        let mut d = v.clone();
        d.remove(6);
        let r = check(&d).await;
        assert_eq!(
            r.first_break,
            Some(Break::Missing {
                writer: writer.clone(),
                after_seq: 6,
                next_seq: 8,
                id: v[7].id
            })
        );
        // Inserted, unchained.
        let mut i = v.clone();
        i.push(ActivityEvent::logout(Actor::user("intruder")));
        let r = check(&i).await;
        assert!(matches!(r.first_break, Some(Break::Unchained { .. })));
        // Inserted with a forged link copied from a neighbour.
        let mut f = v.clone();
        let mut forged = ActivityEvent::logout(Actor::user("forger"));
        forged.chain = v[3].chain.clone();
        f.push(forged);
        let r = check(&f).await;
        assert!(r.breaks >= 1);
        // Reordered: two events swap their content, keeping their links.
        let mut o = v.clone();
        let (a, b) = (o[2].chain.clone(), o[3].chain.clone());
        o[2].chain = b;
        o[3].chain = a;
        let r = check(&o).await;
        assert!(
            matches!(r.first_break, Some(Break::Modified { .. })),
            "{r:?}"
        );
        // Without the key, the chain cannot be recomputed to hide an edit.
        let mut rehashed = v.clone();
        rehashed[4].reason = Some("edited".into());
        let mut s2 = ChainSealer::new("w", ChainKey::unkeyed());
        s2.seal_all(&mut rehashed);
        assert!(!check(&rehashed).await.is_intact());
    }

    #[tokio::test]
    async fn a_purged_start_still_verifies() {
        let (v, _) = sealed(10);
        let r = check(&v[4..]).await;
        assert!(r.is_intact(), "{r:?}");
        assert_eq!(r.purged_starts, 1);
    }

    #[tokio::test]
    async fn tenants_get_their_own_chains() {
        let mut s = ChainSealer::new("w", key());
        let mut v = vec![
            ActivityEvent::logout(Actor::user("a")).with_tenant("x"),
            ActivityEvent::logout(Actor::user("b")).with_tenant("y"),
            ActivityEvent::logout(Actor::user("c")).with_tenant("x"),
        ];
        s.seal_all(&mut v);
        assert_eq!(v[2].chain.as_ref().unwrap().seq, 2);
        assert_eq!(v[1].chain.as_ref().unwrap().seq, 1);
        let store = MemoryStore::new();
        store.append(&v).await.unwrap();
        let r = verify(&store, Some("x"), &key()).await.unwrap();
        assert!(r.is_intact());
        assert_eq!(r.events, 2);
    }
}
