//! [`SignedCheckpoint`]: the signed file listing every chain's state, each naming the
//! previous one's digest, and how it is signed ([`signed_message`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::{PublicKey, SigningKey};
use crate::error::{Error, Result, Rule};

/// The `format` of version 1 checkpoints, also the domain of their signature.
pub const CHECKPOINT_FORMAT: &str = "activity-checkpoint-v1";

/// One chain as a checkpoint saw it: its stored positions `first..=seq`, the link hash
/// at `seq`, and the public commitment `P(seq)` over those positions (see
/// [`public_link`](super::public_link)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainState {
    /// The chain's tenant.
    pub tenant: Option<String>,
    /// The chain's writer.
    pub writer: String,
    /// Its first stored position (above 1 after retention removed the start).
    pub first: u64,
    /// Its last position.
    pub seq: u64,
    /// The link hash at `seq`.
    pub hash: String,
    /// `P(seq)`, the public commitment from `first`.
    pub public: String,
}

/// A signed checkpoint (`checkpoint-NNNNNNNNNN.json`): every chain's state when it was
/// made, the digest of the previous checkpoint, and the Ed25519 signature over
/// [`signed_message`] of the rest.
///
/// ```
/// use activity_core::signed::{SignedCheckpoint, SigningKey};
/// let key = SigningKey::from_seed(&[1u8; 32]);
/// let first = SignedCheckpoint::new(&key, 1, "2026-11-24T06:00:00.000Z", None, Vec::new());
/// assert!(first.is_signed_by(&key.public_key()));
/// let second = SignedCheckpoint::new(&key, 2, "2026-11-24T07:00:00.000Z", Some(&first), Vec::new());
/// assert_eq!(second.prev, first.digest());
/// let mut forged = second.clone();
/// forged.number = 3;
/// assert!(!forged.is_signed_by(&key.public_key()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// 1 for the first checkpoint, then one more each.
    pub number: u64,
    /// When it was made: RFC 3339, UTC.
    pub created: String,
    /// The previous checkpoint's [`digest`](Self::digest) (64 zeros for the first).
    pub prev: String,
    /// The signer's public key (hex), to tell keys apart; verification uses the auditor's
    /// own copy of the public key, never this one.
    pub public_key: String,
    /// Every chain, sorted by tenant (none first) and writer.
    pub chains: Vec<ChainState>,
    /// The Ed25519 signature (hex) of [`signed_message`].
    pub signature: String,
}

impl SignedCheckpoint {
    /// Checkpoint `number`, made at `created`, after `previous`, signed with `key`.
    pub fn new(
        key: &SigningKey,
        number: u64,
        created: &str,
        previous: Option<&SignedCheckpoint>,
        mut chains: Vec<ChainState>,
    ) -> Self {
        chains.sort_by(|a, b| (&a.tenant, &a.writer).cmp(&(&b.tenant, &b.writer)));
        let mut cp = Self {
            format: CHECKPOINT_FORMAT.into(),
            number,
            created: created.into(),
            prev: previous.map_or_else(|| "0".repeat(64), Self::digest),
            public_key: key.public_key().to_hex(),
            chains,
            signature: String::new(),
        };
        cp.signature = key.sign(&cp.message());
        cp
    }

    /// The bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        signed_message(
            CHECKPOINT_FORMAT,
            &serde_json::to_value(self).unwrap_or_default(),
        )
    }

    /// SHA-256 (hex) of [`message`](Self::message): what the next checkpoint names as `prev`.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.message()))
    }

    /// Whether the signature is `key`'s.
    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        self.format == CHECKPOINT_FORMAT && key.verify(&self.message(), &self.signature)
    }

    /// The file name of checkpoint `number`.
    pub fn file_name(number: u64) -> String {
        format!("checkpoint-{number:010}.json")
    }

    /// Writes it into `dir` (created if needed) as [`file_name`](Self::file_name), through
    /// a temporary file renamed into place, synced. Refuses to replace a checkpoint.
    ///
    /// # Errors
    /// I/O errors; [`Error::Invalid`] when the file exists.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        use std::io::Write;
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let path = dir.join(Self::file_name(self.number));
        if path.exists() {
            return Err(Error::invalid(
                "checkpoint",
                Rule::Malformed("a number not written yet"),
            ));
        }
        let tmp = dir.join(format!(".{}.tmp", Self::file_name(self.number)));
        let text = serde_json::to_string_pretty(self).map_err(Error::Json)?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        Ok(path)
    }

    /// Parses a checkpoint file's text.
    ///
    /// # Errors
    /// [`Error::Invalid`] when it is not one.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|_| Error::invalid("checkpoint", Rule::Malformed("an activity checkpoint")))
    }
}

/// The message a signature of `domain` covers: `domain`, a newline, and the RFC 8785
/// canonical JSON of `value` without its `signature` member.
///
/// ```
/// let v = serde_json::json!({"b": 1e16, "a": "x", "signature": "ignored"});
/// let m = activity_core::signed::signed_message("demo-v1", &v);
/// assert_eq!(m, b"demo-v1\n{\"a\":\"x\",\"b\":10000000000000000}");
/// ```
pub fn signed_message(domain: &str, value: &serde_json::Value) -> Vec<u8> {
    let mut v = value.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("signature");
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(domain.as_bytes());
    out.push(b'\n');
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, canon_json::CanonicalFormatter::new());
    // A Value always serialises (its numbers are finite).
    let _ = serde::Serialize::serialize(&v, &mut ser);
    out
}

/// The checkpoint files in `dir` (`checkpoint-*.json`), in name (so number) order.
///
/// # Errors
/// I/O errors reading `dir`.
pub fn checkpoint_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint-") && n.ends_with(".json"))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The newest checkpoint in `dir` signed by `key`, if any.
///
/// # Errors
/// I/O errors; [`Error::Invalid`] when the newest file does not parse or is not signed
/// by `key` (a checkpoint chain is never continued from a file that is not ours).
pub fn newest_checkpoint(dir: &Path, key: &PublicKey) -> Result<Option<SignedCheckpoint>> {
    if !dir.exists() {
        return Ok(None);
    }
    let Some(path) = checkpoint_files(dir)?.pop() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    let cp = SignedCheckpoint::from_json(&text)?;
    if !cp.is_signed_by(key) {
        return Err(Error::invalid(
            "checkpoint",
            Rule::Malformed("signed by this signing key (the newest checkpoint file is not)"),
        ));
    }
    Ok(Some(cp))
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> Error {
    Error::backend(format!("{}: {e}", path.display()), Some(Box::new(e)))
}
