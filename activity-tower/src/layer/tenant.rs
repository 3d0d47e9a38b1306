//! Finding the tenant of a request: a header a trusted proxy sets, or a closure over the
//! request head, configured with
//! [`ActivityLayer::tenant_header`](crate::ActivityLayer::tenant_header) and
//! [`ActivityLayer::tenant_fn`](crate::ActivityLayer::tenant_fn).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use activity_core::limits;
use activity_core::text::truncate;
use http::request::Parts;

/// A closure naming the tenant from the request head.
pub(crate) type TenantFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Where the tenant of a request comes from.
#[derive(Clone, Default)]
pub(crate) enum TenantSource {
    /// No tenants (the default).
    #[default]
    None,
    /// A request header (e.g. `x-tenant`), read only from a trusted proxy.
    Header(http::HeaderName),
    /// A closure over the request head (an extension set by the app, the host name…).
    Fn(TenantFn),
}

impl fmt::Debug for TenantSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TenantSource::None => f.write_str("None"),
            TenantSource::Header(h) => write!(f, "Header({h})"),
            TenantSource::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}

impl TenantSource {
    /// The tenant of the request: trimmed (from a header), capped at [`limits::TENANT`]
    /// bytes, never empty. The header counts only when `from_trusted_proxy` (the peer is
    /// a [trusted proxy](crate::TrustedProxies::trusts_peer)): a client's own header is
    /// ignored (and logged once), so that it cannot write into another tenant's log or
    /// pick a new lockout counter per attempt.
    pub(crate) fn tenant_in_parts(
        &self,
        parts: &Parts,
        from_trusted_proxy: bool,
    ) -> Option<String> {
        match self {
            TenantSource::None => None,
            TenantSource::Header(h) => {
                let v = parts.headers.get(h)?;
                if !from_trusted_proxy {
                    ignored_once(h);
                    return None;
                }
                v.to_str()
                    .ok()
                    .map(|t| truncate(t.trim(), limits::TENANT).to_owned())
                    .filter(|t| !t.is_empty())
            }
            TenantSource::Fn(f) => f(parts).map(|t| truncate(&t, limits::TENANT).to_owned()),
        }
    }
}

/// Warns, the first time only, that a tenant header came from a peer that is not a
/// trusted proxy.
fn ignored_once(h: &http::HeaderName) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            header = %h,
            "tenant header ignored: the request did not come through a trusted proxy \
             (ActivityLayer::trusted_proxies); this is logged once"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(tenant: &str) -> Parts {
        let req = http::Request::get("http://acme.example.com/")
            .header("x-tenant", tenant)
            .body(())
            .unwrap();
        req.into_parts().0
    }

    #[test]
    fn header_and_closure() {
        let header = TenantSource::Header(http::HeaderName::from_static("x-tenant"));
        assert_eq!(
            header.tenant_in_parts(&parts(" acme "), true).as_deref(),
            Some("acme")
        );
        assert_eq!(header.tenant_in_parts(&parts("  "), true), None);
        let long = "t".repeat(limits::TENANT + 10);
        assert_eq!(
            header.tenant_in_parts(&parts(&long), true).map(|t| t.len()),
            Some(limits::TENANT)
        );
        let host = TenantSource::Fn(Arc::new(|p: &Parts| p.uri.host().map(str::to_owned)));
        assert_eq!(
            host.tenant_in_parts(&parts("x"), false).as_deref(),
            Some("acme.example.com")
        );
        assert_eq!(
            TenantSource::default().tenant_in_parts(&parts("acme"), true),
            None
        );
    }

    /// Review B1: a client's own tenant header wrote into any tenant's log.
    #[test]
    fn a_header_from_an_untrusted_peer_is_ignored() {
        let header = TenantSource::Header(http::HeaderName::from_static("x-tenant"));
        assert_eq!(header.tenant_in_parts(&parts("victimcorp"), false), None);
    }
}
