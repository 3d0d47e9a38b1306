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
//! with every batch ([`ActivityStore::append_sealed`](crate::ActivityStore::append_sealed), the same transaction as the
//! events) and which every archive manifest copies. [`verify`] reads the heads and reports
//! [`Break::Truncated`] when a chain's stored events end before its head and
//! [`Break::HeadMismatch`] when a head was altered. Positions a retention purge deleted
//! (a chain's start, or its tail, or all of it) are told apart by the [`PurgeCheckpoint`]
//! the [`Purger`](crate::retention::Purger) writes into its `audit.purged` event: per
//! chain the exact positions removed, MACed under the chain key. Nothing else excuses a
//! missing position. The SDK's own actions (`audit.*`, `lockout.*`, `alert.raised`) are
//! reserved ([`is_reserved`]): `activity ingest` and an application's
//! [`Recorder::record`](crate::Recorder::record) refuse them.
//!
//! Residual limits, with database access alone: deleting a chain's head row together with
//! its newest events, or putting back an older head row, cannot be told from the
//! database; compare with the heads in the archive manifests kept elsewhere
//! ([`check_heads`](crate::archive::check_heads)). Chains written before the heads existed (or by a
//! store that keeps none) are counted in [`VerifyReport::unanchored`].

mod canonical;
mod checkpoint;
mod head;
mod key;
mod key_check;
mod reserved;
mod sealer;
#[cfg(test)]
mod tests;
mod verify;

pub(crate) use canonical::write_canonical_v2;
pub use canonical::{canonical_json, canonical_json_v2};
pub(crate) use checkpoint::{checkpoint_ranges, coverage, covered, ranges_of, RemovedLinks};
pub use checkpoint::{PurgeCheckpoint, PurgedRange, CHECKPOINT_KEY};
pub use head::ChainHead;
pub use key::ChainKey;
pub use key_check::key_holds;
pub use reserved::{
    check_ingestable, check_recordable, is_reserved, is_restored, mark_restored, RESERVED_RULE,
    RESTORED,
};
pub use sealer::ChainSealer;
pub use verify::{verified_event, verify, Break, VerifyReport};

/// The predecessor hash of a chain's first link.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
