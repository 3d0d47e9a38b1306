//! Keyed hashing of session identifiers, so that the log never holds a usable token.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key that turns raw session identifiers into the `session` field of events.
///
/// The stored value is `hmac-sha256:` followed by the hex HMAC-SHA256 of the raw id under
/// this key: the same session always maps to the same value (so its events correlate),
/// while someone who reads the log cannot recover or replay the token, nor confirm a guess
/// without the key. Keep the key out of the database, e.g. in the app's secret store.
///
/// ```
/// use activity_core::event::SessionKey;
/// let key = SessionKey::new(b"a secret of at least 32 bytes, please!!").unwrap();
/// let h = key.hash("raw-session-token");
/// assert!(h.starts_with("hmac-sha256:"));
/// assert!(!h.contains("raw-session-token"));
/// assert_eq!(h, key.hash("raw-session-token"));
/// ```
#[derive(Clone)]
pub struct SessionKey {
    mac: Hmac<Sha256>,
}

/// The shortest key [`SessionKey::new`] accepts, in bytes.
pub const MIN_SESSION_KEY_LEN: usize = 16;

impl SessionKey {
    /// A key from secret bytes (at least [`MIN_SESSION_KEY_LEN`]).
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for a key that is too short.
    pub fn new(key: &[u8]) -> crate::Result<Self> {
        if key.len() < MIN_SESSION_KEY_LEN {
            return Err(crate::Error::invalid(
                "session_key",
                crate::Rule::Malformed("at least 16 bytes of secret"),
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| {
            crate::Error::invalid("session_key", crate::Rule::Malformed("a usable HMAC key"))
        })?;
        Ok(Self { mac })
    }

    /// The value to store in `session` for this raw session id.
    pub fn hash(&self, raw_session_id: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(raw_session_id.as_bytes());
        format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(..)")
    }
}
