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
//! Deleting the newest events of a chain leaves a shorter chain that still links, so the
//! sealer also keeps a [`ChainHead`] per chain — its count (the last position), last hash
//! and last event time, keyed with the same key — which the recorder hands to the store
//! with every batch ([`ActivityStore::append_sealed`], the same transaction as the
//! events) and which every archive manifest copies. [`verify`] reads the heads and reports
//! [`Break::Truncated`] when a chain's stored events end before its head and
//! [`Break::HeadMismatch`] when a head was altered. A tail that a retention purge deleted
//! is told apart by the `audit.purged` events the [`Purger`](crate::Purger) records (their
//! cut-off per tenant is the checkpoint of what was legitimately removed).
//!
//! Residual limits, with database access alone: deleting a chain's head row together with
//! its newest events, or putting back an older head row, cannot be told from the
//! database; compare with the heads in the archive manifests kept elsewhere
//! ([`check_heads`](crate::check_heads)). Chains written before the heads existed (or by a
//! store that keeps none) are counted in [`VerifyReport::unanchored`].

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result, Rule};
use crate::event::{ActivityEvent, ChainLink};
use crate::pipeline::Sealer;
use crate::query::ActivityQuery;
use crate::store::ActivityStore;

/// One stored link: position, predecessor hash, hash, event id.
type Link = (u64, [u8; 32], [u8; 32], Uuid);
/// A chain: its tenant and writer.
type ChainId = (Option<String>, String);

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key (or none) chain hashes are computed with.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, ChainKey};
/// assert!(ChainKey::keyed(b"too short").is_err(), "at least 16 bytes");
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let event = ActivityEvent::logout(Actor::user("u_1"));
/// let genesis = "0".repeat(64);
/// let hash = key.link_hash(&event, 1, &genesis);
/// assert_eq!(hash, key.link_hash(&event, 1, &genesis), "deterministic");
/// // Without the key, the same link cannot be recomputed.
/// assert_ne!(hash, ChainKey::unkeyed().link_hash(&event, 1, &genesis));
/// ```
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

    /// The MAC of a chain head: the key's hash over `["activity-chain-head-v1", tenant,
    /// writer, seq, last_hash, last_time in microseconds]` as compact JSON.
    pub fn head_mac(
        &self,
        tenant: Option<&str>,
        writer: &str,
        seq: u64,
        last_hash: &str,
        last_time: DateTime<Utc>,
    ) -> String {
        let text = serde_json::json!([
            "activity-chain-head-v1",
            tenant,
            writer,
            seq,
            last_hash,
            last_time.timestamp_micros()
        ])
        .to_string();
        self.digest(text.as_bytes(), b"")
    }

    fn digest(&self, a: &[u8], b: &[u8]) -> String {
        hex::encode(self.digest_bytes(a, b))
    }

    fn digest_bytes(&self, a: &[u8], b: &[u8]) -> [u8; 32] {
        match &self.mac {
            Some(m) => {
                let mut m = m.clone();
                m.update(a);
                m.update(b);
                m.finalize().into_bytes().into()
            }
            None => {
                let mut h = Sha256::new();
                h.update(a);
                h.update(b);
                h.finalize().into()
            }
        }
    }

    /// The hash of `event` at `seq` after `prev`.
    pub fn link_hash(&self, event: &ActivityEvent, seq: u64, prev: &str) -> String {
        hex::encode(self.link_digest(event, seq, prev, &mut Vec::with_capacity(640)))
    }

    /// [`link_hash`](Self::link_hash) as bytes; `input` is a buffer to reuse (a
    /// verification hashes every stored event).
    fn link_digest(
        &self,
        event: &ActivityEvent,
        seq: u64,
        prev: &str,
        input: &mut Vec<u8>,
    ) -> [u8; 32] {
        use std::io::Write;
        input.clear();
        let _ = write!(input, "activity-chain-v1\n{seq}\n{prev}\n");
        crate::canonical::write_canonical(event, input);
        self.digest_bytes(input, &[])
    }

    /// A head for the chain of `tenant` and `writer` ending at `seq` with `last_hash`,
    /// at an event of `last_time`, with its MAC.
    pub fn head(
        &self,
        tenant: Option<&str>,
        writer: &str,
        seq: u64,
        last_hash: &str,
        last_time: DateTime<Utc>,
    ) -> ChainHead {
        ChainHead {
            tenant: tenant.map(str::to_owned),
            writer: writer.to_owned(),
            seq,
            last_hash: last_hash.to_owned(),
            last_time,
            mac: self.head_mac(tenant, writer, seq, last_hash, last_time),
        }
    }

    /// Whether `head`'s MAC is the one this key gives.
    pub fn head_is_authentic(&self, head: &ChainHead) -> bool {
        self.head_mac(
            head.tenant.as_deref(),
            &head.writer,
            head.seq,
            &head.last_hash,
            head.last_time,
        ) == head.mac
    }
}

/// The head of one chain (tenant and writer): how many links it has (its last position,
/// chains count from 1), the last link's hash and event time, and a MAC over all of them
/// under the chain key, so that it cannot be edited without the key.
///
/// Stores keep one per chain beside the events, replaced in the same transaction as each
/// sealed batch ([`ActivityStore::append_sealed`]); a head only ever moves forward.
///
/// ```
/// use activity_core::ChainKey;
/// use chrono::Utc;
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let mut head = key.head(Some("acme"), "web-1.0193", 12, &"ab".repeat(32), Utc::now());
/// assert!(key.head_is_authentic(&head));
/// head.seq = 10; // rolled back to hide the deletion of the two newest events
/// assert!(!key.head_is_authentic(&head));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The chain's tenant.
    pub tenant: Option<String>,
    /// The chain's writer.
    pub writer: String,
    /// The last position (the number of links written).
    pub seq: u64,
    /// The hash of the link at `seq`.
    pub last_hash: String,
    /// The time of the event at `seq`.
    pub last_time: DateTime<Utc>,
    /// [`ChainKey::head_mac`] of the above.
    pub mac: String,
}

impl ChainHead {
    /// Checks the shape a store can hold: a writer of 1 to 128 characters, a tenant of
    /// at most 128, hex hashes of 64 digits.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if self.writer.is_empty() || self.writer.chars().count() > 128 {
            return Err(Error::invalid(
                "head.writer",
                Rule::Malformed("1 to 128 characters"),
            ));
        }
        if self
            .tenant
            .as_ref()
            .is_some_and(|t| t.chars().count() > 128)
        {
            return Err(Error::invalid(
                "head.tenant",
                Rule::Malformed("at most 128 characters"),
            ));
        }
        if !hex64(&self.last_hash) {
            return Err(Error::invalid(
                "head.last_hash",
                Rule::Malformed("64 hex digits"),
            ));
        }
        if !hex64(&self.mac) {
            return Err(Error::invalid("head.mac", Rule::Malformed("64 hex digits")));
        }
        Ok(())
    }
}

/// The event's canonical JSON: schema v1 without `chain`, keys sorted, no whitespace.
///
/// ```
/// use activity_core::{canonical_json, ActivityEvent, Actor};
/// let e = ActivityEvent::logout(Actor::user("u1"));
/// let text = canonical_json(&e);
/// assert!(text.starts_with(r#"{"action":"auth.logout","actor":{"id":"u1"#));
/// ```
pub fn canonical_json(event: &ActivityEvent) -> String {
    let mut out = Vec::with_capacity(512);
    crate::canonical::write_canonical(event, &mut out);
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
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

    /// The heads of the chains `batch` extends: for each tenant's chain of this writer,
    /// its last link in `batch`, keyed.
    pub fn heads_of(&self, batch: &[ActivityEvent]) -> Vec<ChainHead> {
        heads_of(&self.key, batch)
    }
}

/// The head each chain reaches in `batch` (its highest position there), keyed with `key`.
pub(crate) fn heads_of(key: &ChainKey, batch: &[ActivityEvent]) -> Vec<ChainHead> {
    let mut last: BTreeMap<(Option<&str>, &str), &ActivityEvent> = BTreeMap::new();
    for e in batch {
        let Some(link) = &e.chain else { continue };
        let slot = last
            .entry((e.tenant.as_deref(), link.writer.as_str()))
            .or_insert(e);
        if slot.chain.as_ref().is_some_and(|l| l.seq <= link.seq) {
            *slot = e;
        }
    }
    last.into_iter()
        .filter_map(|((tenant, writer), e)| {
            let link = e.chain.as_ref()?;
            Some(key.head(tenant, writer, link.seq, &link.hash, e.time))
        })
        .collect()
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

    fn heads(&self, batch: &[ActivityEvent]) -> Vec<ChainHead> {
        self.heads_of(batch)
    }
}

/// The first problem [`verify`] found.
///
/// ```
/// use activity_core::{verify, ActivityEvent, ActivityStore, Actor, Break, ChainKey, ChainSealer, MemoryStore};
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
/// use activity_core::{verify, ActivityEvent, Actor, ChainKey, ChainSealer, MemoryStore, Recorder};
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
/// A chain may start after position 1 only where retention purged its beginning; a
/// first link whose predecessor is missing is accepted then, and counted in
/// [`VerifyReport::purged_starts`].
///
/// Then each stored [`ChainHead`] of `tenant` is checked: its MAC, and that the chain's
/// stored events end exactly at it with the same hash. A chain that ends before its head
/// (or has no events left) is [`Break::Truncated`], unless a chained, intact
/// `audit.purged` event (recorded by the [`Purger`](crate::Purger)) has a cut-off for the
/// chain's tenant later than the head's last event: then retention removed the tail and
/// it is counted in [`VerifyReport::purged_tails`].
///
/// # Errors
/// The store's errors.
pub async fn verify(
    store: &dyn ActivityStore,
    tenant: Option<&str>,
    key: &ChainKey,
) -> Result<VerifyReport> {
    let q = match tenant {
        Some(t) => ActivityQuery::tenant_log(t),
        None => ActivityQuery::new(),
    };
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
    let mut pages = crate::Pages::new(store, q);
    while let Some(events) = pages.next().await? {
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
            if !stored || key.link_digest(e, link.seq, &link.prev, &mut input) != hash {
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
        if let Some(last) = chain.last() {
            ends.insert((t, writer), (last.0, last.2));
        }
    }
    let heads = store.chain_heads(tenant).await?;
    // Read only when a chain ends before its head (after purges): a scan of its own.
    let mut purged: Option<HashMap<Option<String>, DateTime<Utc>>> = None;
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
                if purged.is_none() {
                    purged = Some(purge_checkpoints(store, key).await?);
                }
                let cut = purged
                    .as_ref()
                    .and_then(|p| p.get(&head.tenant))
                    .is_some_and(|c| head.last_time < *c);
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

/// The latest retention cut-off per tenant, from the intact, chained, non-dry-run
/// `audit.purged` events: events older than it may be gone.
pub(crate) async fn purge_checkpoints(
    store: &dyn ActivityStore,
    key: &ChainKey,
) -> Result<HashMap<Option<String>, DateTime<Utc>>> {
    #[derive(Deserialize)]
    struct Entry {
        tenant: Option<String>,
        cutoff: DateTime<Utc>,
    }
    let mut out: HashMap<Option<String>, DateTime<Utc>> = HashMap::new();
    let q = ActivityQuery::new().action(crate::Action::AUDIT_PURGED.as_str());
    let mut pages = crate::Pages::new(store, q);
    while let Some(events) = pages.next().await? {
        for e in &events {
            let Some(link) = &e.chain else { continue };
            if e.outcome != crate::Outcome::Success
                || key.link_hash(e, link.seq, &link.prev) != link.hash
            {
                continue;
            }
            let Some(d) = &e.details else { continue };
            if d.get("dry_run").and_then(|v| v.as_bool()) != Some(false) {
                continue;
            }
            let Some(list) = d.get("tenants") else {
                continue;
            };
            let Ok(entries) = serde_json::from_value::<Vec<Entry>>(list.clone()) else {
                continue;
            };
            for en in entries {
                let slot = out.entry(en.tenant).or_insert(en.cutoff);
                if en.cutoff > *slot {
                    *slot = en.cutoff;
                }
            }
        }
    }
    Ok(out)
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
        .with_detail("anchored", report.anchored)
        .with_detail("unanchored", report.unanchored)
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

    async fn sealed_store(n: usize) -> (MemoryStore, Vec<ActivityEvent>, ChainSealer) {
        let mut s = ChainSealer::new("w", key());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        let mut v: Vec<ActivityEvent> = (0..n)
            .map(|i| {
                ActivityEvent::logout(Actor::user(format!("u{i}")))
                    .with_time(t0 + Duration::seconds(i as i64))
            })
            .collect();
        s.seal_all(&mut v);
        let store = MemoryStore::new();
        // In two batches, as the recorder would write them.
        let (a, b) = v.split_at(n / 2);
        store.append_sealed(a, &s.heads_of(a)).await.unwrap();
        store.append_sealed(b, &s.heads_of(b)).await.unwrap();
        (store, v, s)
    }

    #[tokio::test]
    async fn deleting_the_newest_events_is_found_by_the_head() {
        let (store, v, s) = sealed_store(10).await;
        let r = verify(&store, None, &key()).await.unwrap();
        assert!(r.is_intact(), "{r:?}");
        assert_eq!((r.anchored, r.unanchored), (1, 0));
        // The same events without the two newest: they still link, but end before the head.
        let cut = MemoryStore::new();
        cut.append_sealed(&v[..8], &s.heads_of(&v)).await.unwrap();
        let r = verify(&cut, None, &key()).await.unwrap();
        assert_eq!(
            r.first_break,
            Some(Break::Truncated {
                tenant: None,
                writer: s.writer().to_owned(),
                last_seq: 8,
                head_seq: 10
            }),
            "{r:?}"
        );
        // Every event gone, the head left.
        let empty = MemoryStore::new();
        empty.append_sealed(&[], &s.heads_of(&v)).await.unwrap();
        let r = verify(&empty, None, &key()).await.unwrap();
        assert!(
            matches!(r.first_break, Some(Break::Truncated { last_seq: 0, .. })),
            "{r:?}"
        );
        // Without heads (a store that keeps none), the chain is unanchored.
        let plain = MemoryStore::new();
        plain.append(&v[..8]).await.unwrap();
        let r = verify(&plain, None, &key()).await.unwrap();
        assert!(r.is_intact());
        assert_eq!(r.unanchored, 1);
    }

    #[tokio::test]
    async fn a_rolled_back_or_forged_head_is_found() {
        let (_, v, s) = sealed_store(10).await;
        // A head moved back to hide the newest events: its MAC no longer holds.
        let mut head = s.heads_of(&v).pop().unwrap();
        head.seq = 8;
        head.last_hash = v[7].chain.as_ref().unwrap().hash.clone();
        let store = MemoryStore::new();
        store.append_sealed(&v[..8], &[head]).await.unwrap();
        let r = verify(&store, None, &key()).await.unwrap();
        assert!(
            matches!(r.first_break, Some(Break::HeadMismatch { seq: 8, .. })),
            "{r:?}"
        );
        // A head recomputed without the key (unkeyed) fails the keyed check.
        let forged = ChainKey::unkeyed().head(None, s.writer(), 8, &head_hash(&v[7]), v[7].time);
        let store = MemoryStore::new();
        store.append_sealed(&v[..8], &[forged]).await.unwrap();
        let r = verify(&store, None, &key()).await.unwrap();
        assert!(
            matches!(r.first_break, Some(Break::HeadMismatch { .. })),
            "{r:?}"
        );
        // Events beyond the head.
        let store = MemoryStore::new();
        store.append_sealed(&v, &s.heads_of(&v[..5])).await.unwrap();
        let r = verify(&store, None, &key()).await.unwrap();
        assert!(
            matches!(r.first_break, Some(Break::HeadMismatch { seq: 5, .. })),
            "{r:?}"
        );
    }

    fn head_hash(e: &ActivityEvent) -> String {
        e.chain.as_ref().unwrap().hash.clone()
    }

    #[tokio::test]
    async fn the_recorder_keeps_the_heads() {
        use crate::Recorder;
        use std::sync::Arc;
        let store = Arc::new(MemoryStore::new());
        let (rec, guard) = Recorder::builder(store.clone())
            .sealer(ChainSealer::new("rec", key()))
            .batch_size(3)
            .start();
        for i in 0..10 {
            rec.record(ActivityEvent::logout(Actor::user(format!("u{i}"))).with_tenant("t"))
                .unwrap();
        }
        guard.shutdown().await;
        let heads = store.chain_heads(Some("t")).await.unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!(heads[0].seq, 10);
        let r = verify(&*store, None, &key()).await.unwrap();
        assert!(r.is_intact(), "{r:?}");
        assert_eq!(
            r.anchored, 2,
            "the tenant's chain and the lifecycle events' chain"
        );
    }
}
