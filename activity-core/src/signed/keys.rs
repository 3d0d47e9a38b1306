//! [`SigningKey`] and [`PublicKey`]: the Ed25519 key pair that signs checkpoints and
//! archive manifests, and the public half an auditor verifies them with.
//!
//! Both are written to files as 64 lowercase hex digits and a newline (the secret: the
//! 32-byte Ed25519 seed of RFC 8032; the public key: its 32-byte encoding).

use std::path::Path;

use ed25519_dalek::{Signer, Verifier};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, Rule};

/// The secret key that signs checkpoints and manifests. Keep it out of the database and
/// away from whoever administers it (the application or a signing host holds it).
///
/// ```
/// use activity_core::signed::{PublicKey, SigningKey};
/// let key = SigningKey::generate().unwrap();
/// let public: PublicKey = key.public_key();
/// let sig = key.sign(b"checkpoint body");
/// assert!(public.verify(b"checkpoint body", &sig));
/// assert!(!public.verify(b"checkpoint b0dy", &sig));
/// // Round trip through the file form (64 hex digits).
/// let again = SigningKey::from_hex(&key.to_hex()).unwrap();
/// assert_eq!(again.public_key(), public);
/// assert!(SigningKey::from_hex("not hex").is_err());
/// ```
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key().fingerprint())
    }
}

impl SigningKey {
    /// A new key from the operating system's random source.
    ///
    /// # Errors
    /// [`Error::Backend`] when no random bytes can be had.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::backend(format!("no random bytes for a signing key: {e}"), None))?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The key of a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Reads 64 hex digits (whitespace around them ignored).
    ///
    /// # Errors
    /// [`Error::Invalid`] on `signing_key` when it is not 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        let seed = hex32(text.trim())
            .ok_or_else(|| Error::invalid("signing_key", Rule::Malformed("64 hex digits")))?;
        Ok(Self::from_seed(&seed))
    }

    /// Reads the key file at `path`.
    ///
    /// # Errors
    /// I/O errors, and [`from_hex`](Self::from_hex)'s.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        Self::from_hex(&text)
    }

    /// The file form: 64 hex digits (the secret: keep it secret).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The Ed25519 signature of `message`, 128 hex digits.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message).to_bytes())
    }
}

/// The public key checkpoints and manifests are verified with: all an auditor needs.
///
/// ```
/// use activity_core::signed::{PublicKey, SigningKey};
/// let key = SigningKey::from_seed(&[7u8; 32]);
/// let public = PublicKey::from_hex(&key.public_key().to_hex()).unwrap();
/// assert_eq!(public.fingerprint().len(), 16);
/// assert!(!public.verify(b"x", "00"), "a malformed signature is no signature");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Reads 64 hex digits (whitespace around them ignored).
    ///
    /// # Errors
    /// [`Error::Invalid`] on `public_key` when it is not 64 hex digits of an Ed25519 key.
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = hex32(text.trim())
            .ok_or_else(|| Error::invalid("public_key", Rule::Malformed("64 hex digits")))?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| Error::invalid("public_key", Rule::Malformed("an Ed25519 public key")))
    }

    /// Reads the public key file at `path`.
    ///
    /// # Errors
    /// I/O errors, and [`from_hex`](Self::from_hex)'s.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        Self::from_hex(&text)
    }

    /// The file form: 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// A short name for the key, safe to print: the first 16 hex digits of the SHA-256
    /// of its 32 bytes.
    pub fn fingerprint(&self) -> String {
        let mut h = hex::encode(Sha256::digest(self.0.to_bytes()));
        h.truncate(16);
        h
    }

    /// Whether `signature` (128 hex digits) is this key's Ed25519 signature of `message`
    /// (strict verification: no malleable or small-order encodings).
    pub fn verify(&self, message: &[u8], signature: &str) -> bool {
        let mut bytes = [0u8; 64];
        if signature.len() != 128 || hex::decode_to_slice(signature, &mut bytes).is_err() {
            return false;
        }
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0.verify_strict(message, &sig).is_ok() && self.0.verify(message, &sig).is_ok()
    }
}

/// Writes a new key pair: the secret to `secret` (created, not overwritten, readable by
/// its owner only on Unix) and the public key to `public`.
///
/// ```
/// use activity_core::signed::{write_key_pair, PublicKey, SigningKey};
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let public = write_key_pair(&dir.join("signing.key"), &dir.join("signing.pub")).unwrap();
/// assert_eq!(PublicKey::read(&dir.join("signing.pub")).unwrap(), public);
/// assert_eq!(SigningKey::read(&dir.join("signing.key")).unwrap().public_key(), public);
/// assert!(write_key_pair(&dir.join("signing.key"), &dir.join("other.pub")).is_err(), "never overwrites");
/// # std::fs::remove_dir_all(dir).unwrap();
/// ```
///
/// # Errors
/// I/O errors (among them: `secret` exists already).
pub fn write_key_pair(secret: &Path, public: &Path) -> Result<PublicKey> {
    use std::io::Write;
    let key = SigningKey::generate()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(secret).map_err(|e| io(secret, e))?;
    f.write_all(format!("{}\n", key.to_hex()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io(secret, e))?;
    let pk = key.public_key();
    std::fs::write(public, format!("{}\n", pk.to_hex())).map_err(|e| io(public, e))?;
    Ok(pk)
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    (text.len() == 64 && hex::decode_to_slice(text, &mut out).is_ok()).then_some(out)
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::backend(format!("{}: {e}", path.display()), Some(Box::new(e)))
}
