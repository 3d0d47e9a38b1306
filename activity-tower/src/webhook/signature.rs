//! The signature scheme, as a receiver reads it: the headers of a delivery, [`sign`] and
//! [`verify_signature`]. See the [module](super) docs for the whole delivery.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `X-Activity-Signature`: `sha256=<lowercase hex HMAC-SHA256 of "{timestamp}.{body}">`.
pub const SIGNATURE_HEADER: &str = "x-activity-signature";
/// `X-Activity-Timestamp`: the sending time in Unix seconds, covered by the signature.
pub const TIMESTAMP_HEADER: &str = "x-activity-timestamp";
/// `X-Activity-Delivery`: the alert's id, the same on every retry.
pub const DELIVERY_HEADER: &str = "x-activity-delivery";
/// `X-Activity-Attempt`: 1 for the first try, then 2, 3, … on retries.
pub const ATTEMPT_HEADER: &str = "x-activity-attempt";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The `X-Activity-Signature` value for `body` sent at `timestamp` (Unix seconds).
///
/// ```
/// let sig = activity_tower::webhook::sign(b"a shared secret of 16+ bytes", 1_790_000_000, b"{}");
/// assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
/// ```
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Checks a delivery as a receiver would: the signature must be `sha256=<hex>` over
/// `"{timestamp}.{body}"` with `secret` (compared in constant time), and the timestamp
/// within `tolerance` of `now` either way (so an old request cannot be replayed).
///
/// ```
/// use activity_tower::webhook::{sign, verify_signature};
/// use chrono::{TimeZone, Utc};
/// let secret = b"a shared secret of 16+ bytes";
/// let now = Utc.timestamp_opt(1_790_000_000, 0).unwrap();
/// let sig = sign(secret, now.timestamp(), b"{}");
/// let five_min = std::time::Duration::from_secs(300);
/// assert!(verify_signature(secret, "1790000000", &sig, b"{}", now, five_min));
/// assert!(!verify_signature(secret, "1790000000", &sig, b"{ }", now, five_min));
/// let later = now + chrono::Duration::minutes(10);
/// assert!(!verify_signature(secret, "1790000000", &sig, b"{}", later, five_min));
/// ```
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> bool {
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.timestamp().abs_diff(ts) > tolerance.unsigned_abs() {
        return false;
    }
    let Some(hex_mac) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_mac) else {
        return false;
    };
    mac(secret, ts, body).verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &[u8] = b"a shared secret of 16+ bytes";

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        let ts = now.timestamp();
        let sig = sign(SECRET, ts, b"{\"a\":1}");
        let five = Duration::from_secs(300);
        let t = ts.to_string();
        assert!(verify_signature(SECRET, &t, &sig, b"{\"a\":1}", now, five));
        // Another body, timestamp, secret or prefix: refused.
        assert!(!verify_signature(SECRET, &t, &sig, b"{\"a\":2}", now, five));
        assert!(!verify_signature(
            SECRET,
            &(ts + 1).to_string(),
            &sig,
            b"{\"a\":1}",
            now,
            five
        ));
        assert!(!verify_signature(
            b"another secret, 16+ bytes",
            &t,
            &sig,
            b"{\"a\":1}",
            now,
            five
        ));
        let bare = sig.trim_start_matches("sha256=");
        assert!(!verify_signature(SECRET, &t, bare, b"{\"a\":1}", now, five));
        assert!(!verify_signature(
            SECRET,
            "yesterday",
            &sig,
            b"{\"a\":1}",
            now,
            five
        ));
        // The replay window, at its exact edges.
        let edge = now + chrono::Duration::seconds(300);
        assert!(verify_signature(SECRET, &t, &sig, b"{\"a\":1}", edge, five));
        let past = edge + chrono::Duration::seconds(1);
        assert!(!verify_signature(
            SECRET,
            &t,
            &sig,
            b"{\"a\":1}",
            past,
            five
        ));
        let before = now - chrono::Duration::seconds(301);
        assert!(!verify_signature(
            SECRET,
            &t,
            &sig,
            b"{\"a\":1}",
            before,
            five
        ));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256(key = "a shared secret of 16+ bytes", "1790000000.{}"), computed
        // independently with `openssl dgst -sha256 -hmac`.
        assert_eq!(sign(SECRET, 1_790_000_000, b"{}"), KNOWN);
    }

    const KNOWN: &str = "sha256=fc8cd070d66086855ff0e469f286d90b72d9a537629f5b11d5501f029edcbb19";
}
