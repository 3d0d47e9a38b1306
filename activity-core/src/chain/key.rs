use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::head::ChainHead;
use crate::error::{Error, Result, Rule};
use crate::event::ActivityEvent;

/// The key (or none) chain hashes are computed with.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, chain::ChainKey};
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

    /// The key's hash (HMAC-SHA256, or SHA-256 unkeyed) of `text`, in hex.
    pub(crate) fn mac_hex(&self, text: &[u8]) -> String {
        self.digest(text, b"")
    }

    /// Compares two hex MACs in constant time (for equal lengths).
    pub(crate) fn equal_hex(&self, a: &str, b: &str) -> bool {
        a.len() == b.len()
            && a.bytes()
                .zip(b.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    }

    /// Whether this key computes HMACs (rather than plain SHA-256).
    pub fn is_keyed(&self) -> bool {
        self.mac.is_some()
    }

    /// A short fingerprint of the key, safe to print: the first 16 hex digits of the
    /// key's hash of `"activity-key-fingerprint-v1"` (`"unkeyed"` without a key). Two
    /// runs with the same key print the same fingerprint.
    ///
    /// ```
    /// use activity_core::chain::ChainKey;
    /// let a = ChainKey::keyed(b"keep this key out of the database").unwrap();
    /// let b = ChainKey::keyed(b"another key, also kept elsewhere").unwrap();
    /// assert_eq!(a.fingerprint().len(), 16);
    /// assert_ne!(a.fingerprint(), b.fingerprint());
    /// assert_eq!(ChainKey::unkeyed().fingerprint(), "unkeyed");
    /// ```
    pub fn fingerprint(&self) -> String {
        if self.mac.is_none() {
            return "unkeyed".into();
        }
        let mut h = self.digest(b"activity-key-fingerprint-v1", b"");
        h.truncate(16);
        h
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

    /// The hash of `event` at `seq` after `prev`, as the sealer computes it today
    /// (link version 2: the event in RFC 8785 canonical JSON, see `docs/integrity.md`).
    pub fn link_hash(&self, event: &ActivityEvent, seq: u64, prev: &str) -> String {
        hex::encode(self.link_digest(2, event, seq, prev, &mut Vec::with_capacity(640)))
    }

    /// The version 1 hash of `event` at `seq` after `prev` (serde_json's formatting of the
    /// canonical form), which chains sealed before version 2 carry.
    pub fn link_hash_v1(&self, event: &ActivityEvent, seq: u64, prev: &str) -> String {
        hex::encode(self.link_digest(1, event, seq, prev, &mut Vec::with_capacity(640)))
    }

    /// The link hash of `version` (1 or 2) as bytes; `input` is a buffer to reuse (a
    /// verification hashes every stored event).
    pub(super) fn link_digest(
        &self,
        version: u8,
        event: &ActivityEvent,
        seq: u64,
        prev: &str,
        input: &mut Vec<u8>,
    ) -> [u8; 32] {
        use std::io::Write;
        input.clear();
        if version == 1 {
            let _ = write!(input, "activity-chain-v1\n{seq}\n{prev}\n");
            super::canonical::write_canonical(event, input);
        } else {
            let _ = write!(input, "activity-chain-v2\n{seq}\n{prev}\n");
            super::canonical::write_canonical_v2(event, input);
        }
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
        let mac = self.head_mac(
            head.tenant.as_deref(),
            &head.writer,
            head.seq,
            &head.last_hash,
            head.last_time,
        );
        self.equal_hex(&mac, &head.mac)
    }
}
