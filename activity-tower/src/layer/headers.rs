//! What the layer reads from and writes to headers: the request id and the device and
//! session cookies. The [`cookie`](::cookie) crate parses every cookie a client or handler sends;
//! the device cookie is signed, checked and written in `device_cookie.rs`.

use std::sync::atomic::{AtomicU64, Ordering};

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
    request_id(prefix, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `req_`, `prefix`, then `n` in lower-case hexadecimal of at least 8 digits: what
/// `format!("req_{prefix}{n:08x}")` writes, without the formatter, which cost half of the
/// layer's time on a request no rule matches (BENCHMARKS.md, (c)).
fn request_id(prefix: &str, n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = ((64 - n.leading_zeros() as usize).div_ceil(4)).max(8);
    let mut id = String::with_capacity(4 + prefix.len() + digits);
    id.push_str("req_");
    id.push_str(prefix);
    for i in (0..digits).rev() {
        id.push(char::from(HEX[((n >> (i * 4)) & 0xf) as usize]));
    }
    id
}

/// Puts the request id on a response, unless the handler set one of its own.
pub(crate) fn echo_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.entry(X_REQUEST_ID).or_insert(v);
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (surrounding quotes
/// trimmed).
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies(headers, name).next().map(str::to_owned)
}

/// Every value of cookie `name` in the request's `Cookie` headers, in order
/// (surrounding quotes trimmed).
pub(crate) fn cookies<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |c| c.name() == name)
        .filter_map(|c| c.value_raw().map(trim_quotes))
}

/// `v` without one pair of surrounding double quotes.
fn trim_quotes(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(v)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_what_format_writes() {
        for n in [
            0,
            1,
            0xf,
            0xabc,
            0xffff_ffff,
            0x1_0000_0000,
            0x0123_4567_89ab_cdef,
            u64::MAX,
        ] {
            assert_eq!(
                request_id("0a1b2c3d4e5f", n),
                format!("req_0a1b2c3d4e5f{n:08x}")
            );
        }
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        assert!(valid_request_id(&a) && a.len() == 24, "{a}");
    }

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
    fn caps_and_ids() {
        assert!(valid_request_id("req-1"));
        assert!(!valid_request_id("req 1"));
    }
}
