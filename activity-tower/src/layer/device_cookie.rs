//! The signed device cookie: [`DeviceId`], the verified id of a browser, and the key
//! its cookie is signed with.
//!
//! The cookie's value is `d_<32 hex>.<32 hex>`: the device id, then the first 16 bytes
//! of HMAC-SHA256 under the key over a version label, the cookie's name and the id. A
//! value that is not exactly that (an unsigned id from an earlier release, a guess, a
//! value signed under another key or for another cookie name, any changed byte) is no
//! device: the request has none, and its next successful login gets a new cookie.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use hmac::{Hmac, Mac};
use http::HeaderValue;
use sha2::Sha256;

use crate::Error;

/// The shortest key accepted (bytes).
const MIN_KEY: usize = 16;
/// The bytes of the MAC kept in the cookie.
const TAG: usize = 16;
/// `d_` and 32 lowercase hex digits.
const ID_LEN: usize = 2 + 32;
/// What the MAC covers first, so that it is never valid for anything else.
const LABEL: &[u8] = b"activity.device-cookie.v1\0";

/// A device id whose cookie verified under the layer's key (or that the layer has just
/// issued): `d_` and 32 lowercase hex digits. Nothing a client sends becomes one
/// without a valid signature, so it can be trusted to mean "a browser this server gave
/// a cookie to" (not "the same person": a stolen cookie jar carries it too).
///
/// It is [`RequestContext::device_id`](crate::layer::RequestContext::device_id), and the
/// `source.device_id` of the request's events.
///
/// ```
/// use activity_tower::layer::RequestContext;
/// fn known_device(ctx: &RequestContext) -> Option<&str> {
///     ctx.device_id.as_ref().map(|d| d.as_str())
/// }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    /// A new random id (122 random bits).
    pub(crate) fn random() -> Self {
        Self(format!("d_{}", uuid::Uuid::new_v4().simple()))
    }

    /// The id, e.g. `d_5f1c…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` has the form of an id.
    fn well_formed(s: &[u8]) -> bool {
        s.len() == ID_LEN && s.starts_with(b"d_") && s[2..].iter().all(|b| lower_hex(*b))
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.0)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DeviceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<DeviceId> for String {
    fn from(d: DeviceId) -> String {
        d.0
    }
}

fn lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// The key device cookies are signed with: the HMAC state keyed once, cloned per use.
#[derive(Clone)]
pub(crate) struct DeviceKey(Hmac<Sha256>);

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

impl DeviceKey {
    /// A key from secret bytes (at least 16).
    ///
    /// # Errors
    /// [`Error::Config`] naming `device_cookie_key` for a shorter key.
    pub(crate) fn new(key: &[u8]) -> Result<Self, Error> {
        if key.len() < MIN_KEY {
            return Err(Error::config(
                "device_cookie_key",
                format!(
                    "the key has {} bytes; at least {MIN_KEY} are needed",
                    key.len()
                ),
            ));
        }
        // HMAC takes a key of any length.
        Hmac::new_from_slice(key)
            .map(Self)
            .map_err(|e| Error::config("device_cookie_key", "not a usable key").with_source(e))
    }

    /// The process's own random key, for layers given none: made (with a warning) the
    /// first time a device cookie is signed or checked.
    pub(crate) fn per_process() -> &'static DeviceKey {
        static KEY: OnceLock<DeviceKey> = OnceLock::new();
        KEY.get_or_init(|| {
            tracing::warn!(
                "no device cookie key configured (ActivityLayer::device_cookie_key): device \
                 cookies are signed with a random key of this process, so they stop being \
                 recognised after a restart and on other instances"
            );
            let mut bytes = [0u8; 32];
            bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            DeviceKey::new(&bytes).expect("32 bytes is a valid key")
        })
    }

    fn mac(&self, cookie_name: &str, id: &[u8]) -> Hmac<Sha256> {
        let mut m = self.0.clone();
        m.update(LABEL);
        m.update(cookie_name.as_bytes());
        m.update(b"\0");
        m.update(id);
        m
    }

    /// The cookie value for `id`: `id.tag`.
    pub(crate) fn sign(&self, cookie_name: &str, id: &DeviceId) -> String {
        let tag = self
            .mac(cookie_name, id.0.as_bytes())
            .finalize()
            .into_bytes();
        format!("{}.{}", id.0, hex::encode(&tag[..TAG]))
    }

    /// The device id of a cookie value, when it is exactly a value [`sign`](Self::sign)
    /// made for `cookie_name` under this key (the MAC compared in constant time).
    pub(crate) fn verify(&self, cookie_name: &str, value: &str) -> Option<DeviceId> {
        let v = value.as_bytes();
        if v.len() != ID_LEN + 1 + 2 * TAG || v[ID_LEN] != b'.' {
            return None;
        }
        let (id, hex_tag) = (&v[..ID_LEN], &v[ID_LEN + 1..]);
        // Lowercase only, so that one id has one cookie value.
        if !DeviceId::well_formed(id) || !hex_tag.iter().all(|b| lower_hex(*b)) {
            return None;
        }
        let mut tag = [0u8; TAG];
        hex::decode_to_slice(hex_tag, &mut tag).ok()?;
        self.mac(cookie_name, id).verify_truncated_left(&tag).ok()?;
        Some(DeviceId(value[..ID_LEN].to_owned()))
    }
}

/// Whether `name` can be a cookie name: an RFC 6265 token (so it carries no attribute).
fn token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// The `Set-Cookie` value that gives the browser its signed device cookie: `HttpOnly`,
/// `SameSite=Lax`, `Secure` when `secure`, `Path=/`, `Max-Age`. `None` unless `name` is
/// an RFC 6265 token.
///
/// Written directly rather than through `cookie::Cookie`'s builder and `Display`: the
/// layer sets this on every first login, and the builder's formatting cost about 0.7 µs
/// per request in the HTTP bench's in-process login case (3.4 µs against 4.1 µs); the
/// crate still parses every cookie a client sends.
pub(crate) fn set_device_cookie(
    key: &DeviceKey,
    name: &str,
    id: &DeviceId,
    max_age: Duration,
    secure: bool,
) -> Option<HeaderValue> {
    if !token(name) {
        return None;
    }
    let value = format!(
        "{name}={}; HttpOnly; SameSite=Lax;{} Path=/; Max-Age={}",
        key.sign(name, id),
        if secure { " Secure;" } else { "" },
        max_age.as_secs()
    );
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::headers::cookie;
    use cookie::Cookie;
    use proptest::prelude::*;

    const NAME: &str = "activity_device";

    fn key(b: &[u8]) -> DeviceKey {
        DeviceKey::new(b).unwrap()
    }

    #[test]
    fn signed_values_verify_and_nothing_else_does() {
        let k = key(b"0123456789abcdef");
        let id = DeviceId::random();
        let v = k.sign(NAME, &id);
        assert_eq!(k.verify(NAME, &v), Some(id.clone()));
        // An unsigned id of an earlier release, a guess, another key, another cookie.
        assert_eq!(k.verify(NAME, id.as_str()), None);
        assert_eq!(k.verify(NAME, &format!("{}.{}", id, "0".repeat(32))), None);
        assert_eq!(key(b"another key, 16+").verify(NAME, &v), None);
        assert_eq!(k.verify("other_cookie", &v), None);
        assert_eq!(k.verify(NAME, &v.to_uppercase()), None);
        assert_eq!(k.verify(NAME, ""), None);
        assert!(matches!(
            DeviceKey::new(b"short"),
            Err(Error::Config {
                setting: "device_cookie_key",
                ..
            })
        ));
        assert_eq!(format!("{k:?}"), "DeviceKey(..)");
    }

    #[test]
    fn the_device_cookie_has_every_attribute() {
        let k = key(b"0123456789abcdef");
        let id = DeviceId::random();
        let v = set_device_cookie(&k, NAME, &id, Duration::from_secs(60), true).unwrap();
        let v = v.to_str().unwrap();
        assert!(v.starts_with(&format!("{NAME}={id}.")), "{v}");
        for flag in ["Path=/", "Max-Age=60", "HttpOnly", "Secure", "SameSite=Lax"] {
            assert!(v.contains(flag), "{v}");
        }
        assert!(set_device_cookie(&k, "bad\nname", &id, Duration::from_secs(60), true).is_none());
        assert!(
            set_device_cookie(&k, "a;Domain=evil", &id, Duration::from_secs(60), true).is_none()
        );
        let plain = set_device_cookie(&k, NAME, &id, Duration::from_secs(60), false).unwrap();
        let plain = Cookie::parse(plain.to_str().unwrap().to_owned()).unwrap();
        assert_eq!((plain.secure(), plain.http_only()), (None, Some(true)));
        // What the cookie crate reads back is what was written, and it verifies.
        let c = Cookie::parse(v.to_owned()).unwrap();
        assert_eq!(c.name(), NAME);
        assert_eq!(k.verify(NAME, c.value()), Some(id));
        assert_eq!(c.max_age(), Some(cookie::time::Duration::seconds(60)));
        assert_eq!(c.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(
            (c.http_only(), c.secure(), c.path()),
            (Some(true), Some(true), Some("/"))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// A signed cookie never verifies once any byte is changed, dropped or added.
        #[test]
        fn a_changed_byte_never_verifies(
            secret in proptest::collection::vec(any::<u8>(), 16..64),
            at in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
            extra in any::<u8>(),
        ) {
            let k = key(&secret);
            let id = DeviceId::random();
            let good = k.sign(NAME, &id);
            prop_assert_eq!(k.verify(NAME, &good), Some(id));
            let i = at.index(good.len());
            let mut bytes = good.clone().into_bytes();
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let changed = String::from_utf8_lossy(&bytes);
            prop_assert_eq!(k.verify(NAME, &changed), None);
            prop_assert_eq!(k.verify(NAME, &good[..i]), None);
            prop_assert_eq!(k.verify(NAME, &format!("{good}{}", extra as char)), None);
        }

        /// Any `Cookie` header: no panic, and a value is a device only if it is a
        /// signature made under the key.
        #[test]
        fn any_cookie_header(
            lines in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        6 => proptest::sample::select(b" ;=\"._d0123456789abcdef".to_vec()),
                        2 => 0x20u8..=0x7e,
                        1 => 0x80u8..=0xff,
                    ],
                    0..120,
                ),
                0..4,
            ),
            secret in proptest::collection::vec(any::<u8>(), 16..32),
        ) {
            let mut h = http::HeaderMap::new();
            for l in &lines {
                h.append(http::header::COOKIE, http::HeaderValue::from_bytes(l).unwrap());
            }
            let k = key(&secret);
            if let Some(v) = cookie(&h, NAME) {
                if let Some(id) = k.verify(NAME, &v) {
                    prop_assert_eq!(k.sign(NAME, &id), v);
                }
            }
        }
    }
}
