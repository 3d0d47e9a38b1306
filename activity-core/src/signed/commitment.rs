//! The public commitment of a chain: an unkeyed SHA-256 chain over the stored links and
//! event contents, which a signed checkpoint carries so that anyone can check the events
//! without the chain key.
//!
//! For a chain whose first stored position is `first`:
//!
//! ```text
//! P(first - 1) = 64 zeros
//! P(k)         = SHA-256("activity-public-v1\n" || k || "\n" || P(k-1) || "\n" || hash(k)
//!                        || "\n" || SHA-256(canonical_v2(event k)))
//! ```
//!
//! with every hash in lowercase hex and `k` in decimal. `hash(k)` is the stored link hash
//! (an HMAC under the chain key, which the public verifier does not recompute but does
//! commit to), `canonical_v2` the RFC 8785 encoding of `docs/integrity.md`.

use sha2::{Digest, Sha256};

use crate::event::ActivityEvent;

/// The value before a chain's first stored position.
pub(crate) const START: [u8; 32] = [0u8; 32];

/// SHA-256 of the event's version 2 canonical form; `buf` is reused between calls.
pub(crate) fn event_digest(event: &ActivityEvent, buf: &mut Vec<u8>) -> [u8; 32] {
    buf.clear();
    crate::chain::write_canonical_v2(event, buf);
    Sha256::digest(buf.as_slice()).into()
}

/// One step of the commitment: `P(seq)` from `P(seq - 1)`.
pub(crate) fn fold(prev: &[u8; 32], seq: u64, hash: &[u8; 32], digest: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"activity-public-v1\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(hex::encode(prev).as_bytes());
    h.update(b"\n");
    h.update(hex::encode(hash).as_bytes());
    h.update(b"\n");
    h.update(hex::encode(digest).as_bytes());
    h.finalize().into()
}

/// `P(seq)` of `event` stored at `seq` with link hash `hash`, after `prev` (`P(seq - 1)`,
/// 64 zeros before the first stored position), all hex: the computation an auditor
/// repeats for every stored event.
///
/// ```
/// use activity_core::{signed::public_link, ActivityEvent, Actor};
/// let e = ActivityEvent::logout(Actor::user("u"));
/// let p1 = public_link(&"0".repeat(64), 1, &"ab".repeat(32), &e).unwrap();
/// assert_eq!(p1.len(), 64);
/// assert_ne!(p1, public_link(&"0".repeat(64), 1, &"cd".repeat(32), &e).unwrap(), "binds the link");
/// assert!(public_link("zz", 1, &"ab".repeat(32), &e).is_none());
/// ```
pub fn public_link(prev: &str, seq: u64, hash: &str, event: &ActivityEvent) -> Option<String> {
    let mut p = [0u8; 32];
    let mut h = [0u8; 32];
    hex::decode_to_slice(prev, &mut p).ok()?;
    hex::decode_to_slice(hash, &mut h).ok()?;
    let d = event_digest(event, &mut Vec::new());
    Some(hex::encode(fold(&p, seq, &h, &d)))
}
