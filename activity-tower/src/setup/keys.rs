//! [`Key`]: where a secret key comes from, read as the `activity` command reads its
//! chain key; and the keys the setup derives from one secret.

use std::fmt;
use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Error;

/// The shortest key accepted (bytes), as [`ChainKey::keyed`](activity_core::chain::ChainKey::keyed).
pub(crate) const MIN_KEY: usize = 16;

/// Where a secret key comes from. Read exactly as the `activity` command reads its chain
/// key, so that the app and the command given the same variable or file use the same key:
/// an environment variable's value byte for byte (nothing trimmed), a file's contents
/// with the whitespace around them trimmed (a trailing newline is no part of the key).
///
/// ```
/// use activity_tower::setup::Key;
/// let from_vault = Key::value(b"32 secret bytes from the vault!!".to_vec());
/// let shared_with_cli = Key::env("ACTIVITY_CHAIN_KEY");
/// let mounted = Key::file("/run/secrets/activity-chain-key");
/// assert_eq!(format!("{from_vault:?}"), "Key::value(..)"); // never printed
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Key {
    /// The bytes themselves.
    Value(Vec<u8>),
    /// An environment variable holding the key.
    Env(String),
    /// A file holding the key.
    File(PathBuf),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Value(_) => f.write_str("Key::value(..)"),
            Key::Env(v) => write!(f, "Key::env({v:?})"),
            Key::File(p) => write!(f, "Key::file({p:?})"),
        }
    }
}

impl Key {
    /// The key's bytes.
    pub fn value(bytes: impl Into<Vec<u8>>) -> Self {
        Key::Value(bytes.into())
    }

    /// The environment variable `name`.
    pub fn env(name: impl Into<String>) -> Self {
        Key::Env(name.into())
    }

    /// The file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Key::File(path.into())
    }

    /// The key's bytes; `Ok(None)` when it is an environment variable that is not set.
    /// `setting` names it in the error.
    pub(crate) fn read(&self, setting: &'static str) -> Result<Option<Vec<u8>>, Error> {
        let bytes = match self {
            Key::Value(b) => b.clone(),
            Key::Env(name) => match std::env::var(name) {
                Ok(v) => v.into_bytes(),
                Err(std::env::VarError::NotPresent) => return Ok(None),
                Err(e) => {
                    return Err(
                        Error::config(setting, format!("{name} is not usable")).with_source(e)
                    )
                }
            },
            Key::File(path) => std::fs::read(path)
                .map_err(|e| {
                    Error::config(setting, format!("cannot read {}", path.display())).with_source(e)
                })?
                .trim_ascii()
                .to_vec(),
        };
        if bytes.len() < MIN_KEY {
            return Err(Error::config(
                setting,
                format!(
                    "{self:?} has {} bytes; at least {MIN_KEY} are needed (use 32 random ones)",
                    bytes.len()
                ),
            ));
        }
        Ok(Some(bytes))
    }
}

/// What a key derived from the setup's secret is for: each purpose its own key, so that
/// none can stand in for another.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    /// The device cookie's signature.
    DeviceCookie,
    /// The keyed hash of session ids.
    SessionHash,
    /// The viewer's CSRF tokens.
    ViewerCsrf,
}

/// The 32-byte key for `purpose` under `secret`: HMAC-SHA256 over a label.
pub(crate) fn derive(secret: &[u8], purpose: Purpose) -> [u8; 32] {
    let label: &[u8] = match purpose {
        Purpose::DeviceCookie => b"activity.setup.device-cookie.v1",
        Purpose::SessionHash => b"activity.setup.session-hash.v1",
        Purpose::ViewerCsrf => b"activity.setup.viewer-csrf.v1",
    };
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    m.update(label);
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_the_command_reads_them() {
        let dir = std::env::temp_dir().join(format!("activity-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("k");
        std::fs::write(&f, "  0123456789abcdef\n").unwrap();
        assert_eq!(
            Key::file(&f).read("chain_key").unwrap().unwrap(),
            b"0123456789abcdef"
        );
        std::fs::write(&f, "short\n").unwrap();
        let e = Key::file(&f).read("chain_key").unwrap_err();
        assert!(e.to_string().contains("chain_key"), "{e}");
        let missing = Key::file(dir.join("none")).read("chain_key").unwrap_err();
        assert!(std::error::Error::source(&missing).is_some());
        let unset = format!("ACTIVITY_TEST_UNSET_{}", uuid::Uuid::new_v4().simple());
        assert_eq!(Key::env(unset).read("chain_key").unwrap(), None);
        assert!(Key::value(b"x".to_vec()).read("cookie_key").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let a = derive(b"0123456789abcdef", Purpose::DeviceCookie);
        assert_ne!(a, derive(b"0123456789abcdef", Purpose::SessionHash));
        assert_ne!(a, derive(b"0123456789abcdeg", Purpose::DeviceCookie));
        assert_eq!(a, derive(b"0123456789abcdef", Purpose::DeviceCookie));
        assert_ne!(
            derive(b"0123456789abcdef", Purpose::ViewerCsrf),
            derive(b"0123456789abcdef", Purpose::SessionHash)
        );
    }
}
