//! [`ChainHead`]: the last position, hash and time of one chain, MACed under the chain key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Rule};

/// The head of one chain (tenant and writer): how many links it has (its last position,
/// chains count from 1), the last link's hash and event time, and a MAC over all of them
/// under the chain key, so that it cannot be edited without the key.
///
/// Stores keep one per chain beside the events, replaced in the same transaction as each
/// sealed batch ([`ActivityStore::append_sealed`](crate::ActivityStore::append_sealed)); a head only ever moves forward.
///
/// ```
/// use activity_core::chain::ChainKey;
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
    /// [`ChainKey::head_mac`](super::ChainKey::head_mac) of the above.
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
