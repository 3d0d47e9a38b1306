//! Tokens against cross-site request forgery for the viewer's one changing request (an
//! administrator's Unlock).
//!
//! The page carries a token bound to the viewer (tenant and user id) and an expiry,
//! keyed with HMAC-SHA256; the script sends it in the `x-csrf-token` header, which a
//! form on another site cannot set. A request whose `Origin` or `Sec-Fetch-Site` says
//! it came from elsewhere is refused as well.

use activity_core::event::SessionKey;
use chrono::{DateTime, Duration, Utc};
use http::request::Parts;

use super::access::Viewer;
use crate::Error;

/// The header the token travels in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a page's token is accepted.
const LIFETIME_HOURS: i64 = 12;

/// The key tokens are made with.
#[derive(Clone)]
pub(crate) struct CsrfKey(SessionKey);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

impl CsrfKey {
    /// A key from secret bytes (at least 16).
    pub fn new(secret: &[u8]) -> Result<Self, Error> {
        SessionKey::new(secret)
            .map(Self)
            .map_err(|e| Error::config("csrf_key", "at least 16 bytes of secret").with_source(e))
    }

    /// A random key for this process (pages served by another instance are refused:
    /// several instances share one with [`ActivityViews::csrf_key`](super::ActivityViews::csrf_key)).
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(SessionKey::new(&secret).expect("32 bytes are a key"))
    }

    fn mac(&self, viewer: &Viewer, expires: i64) -> String {
        let message = format!(
            "activity-viewer-csrf\0{}\0{}\0{expires}",
            viewer.tenant.as_deref().unwrap_or(""),
            viewer.user_id
        );
        let h = self.0.hash(&message);
        h.strip_prefix("hmac-sha256:").unwrap_or(&h).to_owned()
    }

    /// The token for `viewer`'s page served at `now`.
    pub fn token(&self, viewer: &Viewer, now: DateTime<Utc>) -> String {
        let expires = (now + Duration::hours(LIFETIME_HOURS)).timestamp();
        format!("v1.{expires}.{}", self.mac(viewer, expires))
    }

    /// Whether `token` is one this key made for `viewer` and it has not expired at `now`.
    pub fn verify(&self, viewer: &Viewer, token: &str, now: DateTime<Utc>) -> bool {
        let mut parts = token.splitn(3, '.');
        let (Some("v1"), Some(exp), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(expires) = exp.parse::<i64>() else {
            return false;
        };
        if expires <= now.timestamp()
            || expires > (now + Duration::hours(LIFETIME_HOURS)).timestamp()
        {
            return false;
        }
        let want = self.mac(viewer, expires);
        // Constant time over the expected length.
        want.len() == mac.len()
            && want
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Refuses a changing request that is not provably from the viewer's own page.
pub(crate) fn check(
    key: &CsrfKey,
    parts: &Parts,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        if site != "same-origin" {
            return Err(Error::Forbidden("cross-site request refused"));
        }
    }
    if let (Some(origin), Some(host)) = (header("origin"), header("host")) {
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
        if origin_host != host {
            return Err(Error::Forbidden("cross-site request refused"));
        }
    }
    match header(CSRF_HEADER) {
        Some(t) if key.verify(viewer, t, now) => Ok(()),
        Some(_) => Err(Error::Forbidden(
            "the page's CSRF token is invalid or expired: reload the page",
        )),
        None => Err(Error::Forbidden("missing CSRF token")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_token_is_the_viewers_own_and_runs_out() {
        let key = CsrfKey::random();
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
        let alice = Viewer::admin("alice").tenant("acme");
        let t = key.token(&alice, now);
        assert!(key.verify(&alice, &t, now));
        assert!(key.verify(&alice, &t, now + Duration::hours(11)));
        assert!(!key.verify(&alice, &t, now + Duration::hours(12)));
        // Another user, another tenant, another key: refused.
        assert!(!key.verify(&Viewer::admin("mallory").tenant("acme"), &t, now));
        assert!(!key.verify(&Viewer::admin("alice").tenant("globex"), &t, now));
        assert!(!CsrfKey::random().verify(&alice, &t, now));
        // Tampered or garbage tokens.
        let far = t.replacen(&t.split('.').nth(1).unwrap().to_string(), "99999999999", 1);
        assert!(!key.verify(&alice, &far, now));
        for bad in [
            "",
            "v1",
            "v1..",
            "v1.x.y",
            "v2.1.2",
            &t[..t.len() - 1],
            "v1.-1.00",
        ] {
            assert!(!key.verify(&alice, bad, now), "{bad}");
        }
        assert!(CsrfKey::new(b"short").is_err());
    }

    #[test]
    fn cross_site_headers_are_refused_even_with_a_token() {
        let key = CsrfKey::random();
        let now = Utc::now();
        let v = Viewer::admin("alice");
        let token = key.token(&v, now);
        let parts = |headers: &[(&str, &str)]| {
            let mut b = http::Request::post("/x");
            for (k, val) in headers {
                b = b.header(*k, *val);
            }
            b.body(()).unwrap().into_parts().0
        };
        let ok = parts(&[
            ("host", "app.test"),
            ("origin", "http://app.test"),
            (CSRF_HEADER, &token),
        ]);
        assert!(check(&key, &ok, &v, now).is_ok());
        let evil = parts(&[
            ("host", "app.test"),
            ("origin", "http://evil.test"),
            (CSRF_HEADER, &token),
        ]);
        assert!(check(&key, &evil, &v, now).is_err());
        let site = parts(&[("sec-fetch-site", "cross-site"), (CSRF_HEADER, &token)]);
        assert!(check(&key, &site, &v, now).is_err());
        assert!(check(&key, &parts(&[]), &v, now).is_err());
    }
}
