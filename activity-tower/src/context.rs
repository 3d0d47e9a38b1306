//! The request context every event carries, and the handle handlers record through.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use activity_core::{limits, Action, ActivityEvent, Actor, Recorder, SessionKey, Source};
use http::request::Parts;
use http::HeaderMap;

/// A closure naming the tenant from the request head.
pub type TenantFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Where the tenant of a request comes from.
///
/// The tenant found (trimmed, capped at [`limits::TENANT`] bytes) is in every event of
/// the request and in its [`RequestContext`].
///
/// ```
/// # use std::{convert::Infallible, sync::Arc};
/// use activity_tower::{ActivityHandle, ActivityLayer, PrefixedBody, TenantSource};
/// use http::{HeaderName, Request, Response};
/// use tower::{Layer, ServiceExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
/// let layer = ActivityLayer::new(recorder)
///     .tenant(TenantSource::Header(HeaderName::from_static("x-tenant")));
/// // Or from the host name: TenantSource::Fn(Arc::new(|parts| parts.uri.host().map(str::to_owned)))
/// let app = layer.layer(tower::service_fn(|req: Request<PrefixedBody<String>>| async move {
///     let ctx = req.extensions().get::<ActivityHandle>().unwrap().context();
///     Ok::<_, Infallible>(Response::new(ctx.tenant.clone().unwrap_or_default()))
/// }));
/// let req = Request::get("/").header("x-tenant", " acme ").body(String::new()).unwrap();
/// assert_eq!(app.oneshot(req).await.unwrap().into_body(), "acme");
/// assert!(matches!(TenantSource::default(), TenantSource::None));
/// # guard.shutdown().await;
/// # });
/// ```
#[derive(Clone, Default)]
pub enum TenantSource {
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

/// The actor as the app's own authentication layer knows it: insert it as a request
/// extension and the layer (and the handle) use it.
///
/// ```
/// use activity_core::Actor;
/// use activity_tower::AuthenticatedActor;
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(AuthenticatedActor(Actor::user("u_1")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedActor(pub Actor);

/// The peer address, for servers that do not use axum's `ConnectInfo`: insert it as a
/// request extension.
///
/// ```
/// # use std::{convert::Infallible, sync::Arc};
/// use activity_tower::{ActivityHandle, ActivityLayer, PeerAddr, PrefixedBody};
/// use http::{Request, Response};
/// use tower::{Layer, ServiceExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
/// let app = ActivityLayer::new(recorder).layer(tower::service_fn(
///     |req: Request<PrefixedBody<String>>| async move {
///         let ctx = req.extensions().get::<ActivityHandle>().unwrap().context();
///         Ok::<_, Infallible>(Response::new(ctx.ip.map(|ip| ip.to_string()).unwrap_or_default()))
///     },
/// ));
/// // What the server's accept loop knows about the connection:
/// let mut req = Request::get("/").header("x-forwarded-for", "198.51.100.1").body(String::new()).unwrap();
/// req.extensions_mut().insert(PeerAddr("203.0.113.7:51000".parse().unwrap()));
/// // No trusted proxies are configured, so the forwarding header is not believed.
/// assert_eq!(app.oneshot(req).await.unwrap().into_body(), "203.0.113.7");
/// # guard.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// What a handler can tell the layer about the outcome of its route, as a response
/// extension: it overrides the status-based judgement.
///
/// ```
/// use activity_core::{Actor, Outcome};
/// use activity_tower::OutcomeHint;
/// let mut res = http::Response::new(());
/// res.extensions_mut().insert(OutcomeHint::failure("bad_password").with_actor(Actor::user("u_1")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeHint {
    /// The outcome, if the handler knows it.
    pub outcome: Option<activity_core::Outcome>,
    /// A reason such as `bad_password`, `unknown_user`, `bad_code`.
    pub reason: Option<String>,
    /// The actor, when the handler learned who it was.
    pub actor: Option<Actor>,
}

impl OutcomeHint {
    /// A failure with a reason.
    pub fn failure(reason: impl Into<String>) -> Self {
        Self {
            outcome: Some(activity_core::Outcome::Failure),
            reason: Some(reason.into()),
            actor: None,
        }
    }

    /// A success.
    pub fn success() -> Self {
        Self {
            outcome: Some(activity_core::Outcome::Success),
            ..Self::default()
        }
    }

    /// With the actor.
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }
}

/// The context of one request.
///
/// Handlers read it from [`ActivityHandle::context`]; [`fill`](Self::fill) puts it into
/// an event without overwriting what the event already says.
///
/// ```
/// use activity_core::{ActivityEvent, Actor};
/// use activity_tower::RequestContext;
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
    /// Device id from the device cookie.
    pub device_id: Option<String>,
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
            src.device_id = self.device_id.clone();
        }
        if src.is_empty() {
            e.source = None;
        }
        e
    }
}

/// Records events from a handler with the request's context filled in. The layer puts
/// one in every request's extensions; with the `axum` feature it is also an extractor.
///
/// ```no_run
/// # #[cfg(feature = "axum")] {
/// use activity_core::{ActivityEvent, Actor};
/// use activity_tower::ActivityHandle;
///
/// async fn enrol_totp(activity: ActivityHandle) -> &'static str {
///     activity.record(ActivityEvent::mfa_enrolled(Actor::user("u_1")).with_detail("method", "totp"));
///     "ok"
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct ActivityHandle {
    recorder: Recorder,
    context: Arc<RequestContext>,
    session_key: Option<SessionKey>,
}

impl fmt::Debug for ActivityHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivityHandle")
            .field("context", &self.context)
            .finish()
    }
}

impl ActivityHandle {
    pub(crate) fn new(
        recorder: Recorder,
        context: Arc<RequestContext>,
        session_key: Option<SessionKey>,
    ) -> Self {
        Self {
            recorder,
            context,
            session_key,
        }
    }

    /// The request's context.
    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    /// Records `event` with every empty context field filled in. Never waits; a refused
    /// event (queue full, recorder closed) is logged and returned as the error.
    ///
    /// # Errors
    /// As [`Recorder::record`].
    pub fn record(&self, event: ActivityEvent) -> activity_core::Result<()> {
        let result = self.recorder.record(self.context.fill(event));
        if let Err(e) = &result {
            tracing::error!(error = %e, "activity event not recorded");
        }
        result
    }

    /// An event of `action` with the context filled in, to complete and record.
    pub fn event(&self, action: Action) -> ActivityEvent {
        self.context.event(action)
    }

    /// The keyed hash of a raw session id, under the layer's session key (`None` when
    /// the layer has no key).
    pub fn hash_session(&self, raw_session_id: &str) -> Option<String> {
        self.session_key.as_ref().map(|k| k.hash(raw_session_id))
    }

    /// Records `session.expired` for `actor`'s session `raw_session_id` (hashed).
    ///
    /// # Errors
    /// As [`Recorder::record`].
    pub fn session_expired(&self, actor: Actor, raw_session_id: &str) -> activity_core::Result<()> {
        let mut e = ActivityEvent::session_expired(actor);
        e.session = self.hash_session(raw_session_id);
        self.record(e)
    }

    /// The recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ActivityHandle {
    type Rejection = (http::StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<ActivityHandle>().cloned().ok_or((
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "ActivityHandle missing: add ActivityLayer to the router",
        ))
    }
}

/// Caps `s` at `max` bytes on a character boundary.
pub(crate) fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A request id from the client is kept if it is 1–128 visible ASCII characters.
pub(crate) fn valid_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= limits::REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
}

/// A device id from the cookie is kept if it is 1–64 of `[A-Za-z0-9_-]`.
pub(crate) fn valid_device_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"'))
        })
}

/// The value of cookie `name` set by a response's `Set-Cookie` headers.
pub(crate) fn set_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.trim().split_once('=')?;
            (k == name && !val.is_empty()).then_some(val)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.append("cookie", "a=1; activity_device=d_x".parse().unwrap());
        assert_eq!(cookie(&h, "activity_device"), Some("d_x"));
        assert_eq!(cookie(&h, "b"), None);
        let mut h = HeaderMap::new();
        h.append("set-cookie", "sid=abc; Path=/; HttpOnly".parse().unwrap());
        assert_eq!(set_cookie(&h, "sid"), Some("abc"));
    }

    #[test]
    fn caps_and_ids() {
        assert_eq!(cap("héllo", 2), "h");
        assert!(valid_request_id("req-1"));
        assert!(!valid_request_id("req 1"));
        assert!(!valid_device_id("d;x"));
    }
}
