//! Finding the tenant of a request: a header or a closure over the request head,
//! configured with [`ActivityLayer::tenant_header`](crate::ActivityLayer::tenant_header)
//! and [`ActivityLayer::tenant_fn`](crate::ActivityLayer::tenant_fn).

use std::fmt;
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
    /// A request header (e.g. `x-tenant`).
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
    /// bytes, never empty.
    pub(crate) fn tenant_in_parts(&self, parts: &Parts) -> Option<String> {
        match self {
            TenantSource::None => None,
            TenantSource::Header(h) => parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(|t| truncate(t.trim(), limits::TENANT).to_owned())
                .filter(|t| !t.is_empty()),
            TenantSource::Fn(f) => f(parts).map(|t| truncate(&t, limits::TENANT).to_owned()),
        }
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
            header.tenant_in_parts(&parts(" acme ")).as_deref(),
            Some("acme")
        );
        assert_eq!(header.tenant_in_parts(&parts("  ")), None);
        let long = "t".repeat(limits::TENANT + 10);
        assert_eq!(
            header.tenant_in_parts(&parts(&long)).map(|t| t.len()),
            Some(limits::TENANT)
        );
        let host = TenantSource::Fn(Arc::new(|p: &Parts| p.uri.host().map(str::to_owned)));
        assert_eq!(
            host.tenant_in_parts(&parts("x")).as_deref(),
            Some("acme.example.com")
        );
        assert_eq!(
            TenantSource::default().tenant_in_parts(&parts("acme")),
            None
        );
    }
}
