//! [`RequestContext`]: what the layer learns about a request before any handler runs,
//! and puts in every event of the request.

use std::net::{IpAddr, SocketAddr};

use activity_core::text::truncate;
use activity_core::{limits, ActivityEvent, Actor, Source};
use http::header::USER_AGENT;
use http::request::Parts;

use super::client_ip::client_ip;
use super::config::Config;
use super::device_cookie::DeviceId;
use super::extensions::PeerAddr;
use super::headers::{cookie, cookies, new_request_id, valid_request_id, X_REQUEST_ID};

/// The context of one request.
///
/// Handlers read it from [`ActivityHandle::context`](crate::ActivityHandle::context); [`fill`](Self::fill) puts it into
/// an event without overwriting what the event already says.
///
/// ```
/// use activity_core::{ActivityEvent, Actor};
/// use activity_tower::layer::RequestContext;
/// let ctx = RequestContext {
///     ip: Some("203.0.113.7".parse().unwrap()),
///     user_agent: None,
///     device_id: None,
///     request_id: "req_1".into(),
///     tenant: Some("acme".into()),
///     actor: Some(Actor::user("u_1")),
///     session: None,
/// };
/// let e = ctx.fill(ActivityEvent::custom("document.viewed").unwrap().with_tenant("other"));
/// assert_eq!(e.tenant.as_deref(), Some("other")); // kept
/// assert_eq!(e.actor_id(), Some("u_1"));
/// assert_eq!(e.request_id.as_deref(), Some("req_1"));
/// assert_eq!(e.ip(), ctx.ip);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// Client address (after trusted-proxy resolution).
    pub ip: Option<IpAddr>,
    /// User agent, capped at [`limits::USER_AGENT`] bytes.
    pub user_agent: Option<String>,
    /// The device id of the request's device cookie, only when its signature verifies
    /// under the layer's key ([`ActivityLayer::device_cookie_key`](crate::ActivityLayer::device_cookie_key)).
    pub device_id: Option<DeviceId>,
    /// Request id (from `x-request-id` or generated).
    pub request_id: String,
    /// Tenant.
    pub tenant: Option<String>,
    /// The actor known before the handler runs (extension, header or closure).
    pub actor: Option<Actor>,
    /// The keyed hash of the session cookie, when configured and present.
    pub session: Option<String>,
}

impl RequestContext {
    /// The context of the request `parts`, under `config`.
    pub(crate) fn read(config: &Config, parts: &Parts) -> Self {
        let peer = peer(parts);
        let ip = peer.map(|p| client_ip(p, &parts.headers, &config.trusted));
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| truncate(ua, limits::USER_AGENT).to_owned())
            .filter(|ua| !ua.is_empty() && !ua.contains('\0'));
        let request_id = parts
            .headers
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| valid_request_id(v))
            .map(str::to_owned)
            .unwrap_or_else(new_request_id);
        // The first value that verifies: a cookie tossed in by a sibling domain does not
        // hide the browser's own.
        let device_id = cookies(&parts.headers, &config.device_cookie)
            .find_map(|v| config.device_key().verify(&config.device_cookie, v));
        let session = config.session.as_ref().and_then(|s| {
            cookie(&parts.headers, &s.name)
                .filter(|v| !v.is_empty())
                .map(|v| s.key.hash(&v))
        });
        Self {
            ip,
            user_agent,
            device_id,
            request_id,
            tenant: config
                .tenant
                .tenant_in_parts(parts, config.trusted.trusts_peer(peer)),
            actor: config.actor.actor_in_parts(parts),
            session,
        }
    }

    /// An event of `action` with this context filled in.
    pub fn event(&self, action: activity_core::Action) -> ActivityEvent {
        self.fill(ActivityEvent::new(action))
    }

    /// Fills every context field that `event` leaves empty.
    pub fn fill(&self, mut e: ActivityEvent) -> ActivityEvent {
        if e.tenant.is_none() {
            e.tenant = self.tenant.clone();
        }
        if e.actor.is_none() {
            e.actor = self.actor.clone();
        }
        if e.request_id.is_none() {
            e.request_id = Some(self.request_id.clone());
        }
        if e.session.is_none() {
            e.session = self.session.clone();
        }
        let src = e.source.get_or_insert_with(Source::default);
        if src.ip.is_none() {
            src.ip = self.ip;
        }
        if src.user_agent.is_none() {
            src.user_agent = self.user_agent.clone();
        }
        if src.device_id.is_none() {
            src.device_id = self.device_id.as_ref().map(|d| d.as_str().to_owned());
        }
        if src.is_empty() {
            e.source = None;
        }
        e
    }
}

/// The peer address: [`PeerAddr`], axum's `ConnectInfo`, or a bare `SocketAddr`
/// extension, in that order.
pub(crate) fn peer(parts: &Parts) -> Option<IpAddr> {
    if let Some(PeerAddr(a)) = parts.extensions.get::<PeerAddr>() {
        return Some(a.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(a)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(a.ip());
    }
    parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)
}
