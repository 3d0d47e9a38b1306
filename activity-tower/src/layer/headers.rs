//! What the layer reads from and writes to headers: the request id and the device and
//! session cookies. The [`cookie`](::cookie) crate parses every cookie a client or handler sends;
//! the device cookie's `Set-Cookie` is written here (see [`device_cookie`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use activity_core::limits;
use cookie::Cookie;
use http::header::{HeaderName, HeaderValue, COOKIE, SET_COOKIE};
use http::HeaderMap;

/// The request-id header read and set by the layer: a client's id (1–128 visible ASCII
/// characters) is kept, any other request gets a new one, and the response echoes it.
///
/// ```
/// assert_eq!(activity_tower::X_REQUEST_ID.as_str(), "x-request-id");
/// ```
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id from the client is kept if it is 1–128 visible ASCII characters.
pub(crate) fn valid_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= limits::REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
}

/// A request id unique across processes: a random per-process prefix and a counter
/// (no random number per request: that costs a system call).
pub(crate) fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!(
        "req_{prefix}{:08x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Puts the request id on a response, unless the handler set one of its own.
pub(crate) fn echo_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.entry(X_REQUEST_ID).or_insert(v);
    }
}

/// A device id from the cookie is kept if it is 1–64 of `[A-Za-z0-9_-]`.
pub(crate) fn valid_device_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The value of cookie `name` in the request's `Cookie` headers (surrounding quotes
/// trimmed).
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_owned())
}

/// The value of cookie `name` set by a response's `Set-Cookie` headers (an empty value,
/// which removes the cookie, is not one).
pub(crate) fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| Cookie::parse(v).ok())
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

/// The `Set-Cookie` value that gives the browser its device id: `HttpOnly`,
/// `SameSite=Lax`, `Secure`, `Path=/`, `Max-Age`. `None` unless `name` is an RFC 6265
/// token (so it can carry no attribute of its own) and `id` a valid device id.
///
/// Written directly rather than through `cookie::Cookie`'s builder and `Display`: the
/// layer sets this on every first login, and the builder's formatting cost about 0.7 µs
/// per request in the HTTP bench's in-process login case (3.4 µs against 4.1 µs); the
/// crate still parses every cookie a client sends.
pub(crate) fn device_cookie(name: &str, id: &str, max_age: Duration) -> Option<HeaderValue> {
    let token = |b: u8| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b);
    if name.is_empty() || !name.bytes().all(token) || !valid_device_id(id) {
        return None;
    }
    let value = format!(
        "{name}={id}; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age={}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.append("cookie", "a=1; activity_device=d_x".parse().unwrap());
        assert_eq!(cookie(&h, "activity_device").as_deref(), Some("d_x"));
        assert_eq!(cookie(&h, "b"), None);
        let mut h = HeaderMap::new();
        h.append("cookie", "junk; sid=\"quoted\"".parse().unwrap());
        assert_eq!(cookie(&h, "sid").as_deref(), Some("quoted"));
        let mut h = HeaderMap::new();
        h.append("set-cookie", "sid=abc; Path=/; HttpOnly".parse().unwrap());
        assert_eq!(set_cookie(&h, "sid").as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.append("set-cookie", "sid=; Path=/; Max-Age=0".parse().unwrap());
        assert_eq!(set_cookie(&h, "sid"), None);
    }

    #[test]
    fn the_device_cookie_has_every_attribute() {
        let v = device_cookie("activity_device", "d_1", Duration::from_secs(60)).unwrap();
        let v = v.to_str().unwrap();
        assert!(v.starts_with("activity_device=d_1;"), "{v}");
        for flag in ["Path=/", "Max-Age=60", "HttpOnly", "Secure", "SameSite=Lax"] {
            assert!(v.contains(flag), "{v}");
        }
        assert!(device_cookie("bad\nname", "d_1", Duration::from_secs(60)).is_none());
        assert!(device_cookie("a;Domain=evil", "d_1", Duration::from_secs(60)).is_none());
        assert!(device_cookie("activity_device", "d;x", Duration::from_secs(60)).is_none());
        // What the cookie crate reads back is what was written.
        let c = Cookie::parse(v.to_owned()).unwrap();
        assert_eq!((c.name(), c.value()), ("activity_device", "d_1"));
        assert_eq!(c.max_age(), Some(cookie::time::Duration::seconds(60)));
        assert_eq!(c.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(
            (c.http_only(), c.secure(), c.path()),
            (Some(true), Some(true), Some("/"))
        );
    }

    #[test]
    fn caps_and_ids() {
        assert!(valid_request_id("req-1"));
        assert!(!valid_request_id("req 1"));
        assert!(!valid_device_id("d;x"));
    }
}
