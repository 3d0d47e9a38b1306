//! The middleware: [`ActivityLayer`] and what it reads, judges and records.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`ActivityLayer`], the builder |
//! | `config.rs` | the configuration the builder sets and the service reads |
//! | `service.rs` | [`ActivityService`]: admit → call → judge → record |
//! | `ack.rs` | [`Ack`]: durable acknowledgement of authentication answers |
//! | `future.rs` | [`ResponseFuture`] |
//! | `body.rs` | [`PrefixedBody`]: the body read for the actor, given whole to the handler |
//! | `rules.rs` | [`RouteRule`], [`RouteKind`], [`PathPattern`], [`OutcomeJudge`], [`default_outcome`] |
//! | `actor.rs` | [`ActorSource`], [`ActorFn`]: who is acting |
//! | `tenant.rs` | where the tenant comes from ([`ActivityLayer::tenant_header`], [`ActivityLayer::tenant_fn`]) |
//! | `client_ip/` | [`TrustedProxies`], [`ForwardedHeader`], [`client_ip`]: who is connected |
//! | `headers.rs` | [`X_REQUEST_ID`], reading cookies |
//! | `device_cookie.rs` | [`DeviceId`]: the signed device cookie |
//! | `scheme.rs` | [`SecureCookie`], [`Scheme`]: whether that cookie is `Secure` |
//! | `warn_once.rs` | the setup mistakes the layer reports once (no peer address, no session cookie) |
//! | `context.rs` | [`RequestContext`]: what every event of a request carries |
//! | `handle.rs` | [`ActivityHandle`]: handlers recording with that context |
//! | `extensions.rs` | [`AuthenticatedActor`], [`PeerAddr`], [`OutcomeHint`]: what the app tells the layer |
//! | `access.rs` | the access policies enforced before handlers ([`ActivityLayer::access`]), [`X_ACTIVITY_REASON`] |

mod access;
mod ack;
mod actor;
mod body;
mod client_ip;
mod config;
mod context;
mod device_cookie;
mod extensions;
mod future;
mod handle;
mod headers;
mod identifier;
mod rules;
mod scheme;
mod service;
mod tenant;
mod warn_once;

pub use access::{RolesFn, X_ACTIVITY_REASON};
pub use ack::Ack;
pub use actor::{ActorFn, ActorSource};
pub use body::PrefixedBody;
pub use client_ip::{
    client_ip, ForwardedHeader, TrustedProxies, MAX_FORWARDED_BYTES, MAX_FORWARDED_ENTRIES,
};
pub use context::RequestContext;
pub use device_cookie::DeviceId;
pub use extensions::{AuthenticatedActor, OutcomeHint, PeerAddr};
pub use future::ResponseFuture;
pub use handle::ActivityHandle;
pub use headers::X_REQUEST_ID;
pub use rules::{default_outcome, OutcomeJudge, PathPattern, RouteKind, RouteRule};
pub use scheme::{Scheme, SecureCookie};
pub use service::ActivityService;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use activity_core::access::AccessControl;
use activity_core::enrich::GeoResolver;
use activity_core::{event::SessionKey, lockout::LockoutCheck, Actor, Recorder};
use http::request::Parts;
use http::StatusCode;
use tower_layer::Layer;

use crate::Error;
use config::{Config, SessionCookie};
use device_cookie::DeviceKey;
use tenant::TenantSource;

/// The tower layer that records authentication events.
///
/// Every builder call takes and returns the layer, and none can panic. Cloning is cheap
/// (the configuration is shared); configuring a clone gives it a configuration of its own
/// and leaves the original as it was.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{MemoryStore, Recorder};
/// use activity_tower::{ActivityLayer, RouteKind, RouteRule, TrustedProxies};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (recorder, _guard) = Recorder::builder(Arc::new(MemoryStore::new())).start();
/// let layer = ActivityLayer::new(recorder)
///     .rule(RouteRule::post("/login", RouteKind::Login))
///     .rule(RouteRule::post("/logout", RouteKind::Logout))
///     .rule(RouteRule::post("/users/{id}/mfa", RouteKind::MfaEnroll))
///     .trusted_proxies(TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap())
///     .session_cookie("sid", b"a secret key of at least 16 bytes")
///     .unwrap();
/// // axum: Router::new().route(...).layer(layer)
/// // The same layer with one more rule, e.g. for another router:
/// let admin = layer.clone().rule(RouteRule::post("/admin/login", RouteKind::Login));
/// # });
/// ```
#[derive(Clone)]
pub struct ActivityLayer {
    config: Arc<Config>,
}

impl fmt::Debug for ActivityLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivityLayer")
            .field("rules", &self.config.rules)
            .field("trusted", &self.config.trusted)
            .finish_non_exhaustive()
    }
}

impl ActivityLayer {
    /// A layer recording into `recorder`, with no rules yet.
    pub fn new(recorder: Recorder) -> Self {
        Self {
            config: Arc::new(Config::new(recorder)),
        }
    }

    /// The configuration to change: this layer's own, copied first if a clone (or a
    /// service it made) shares it, so configuring a clone never changes the original.
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Adds a route rule (the first matching rule wins).
    pub fn rule(mut self, rule: RouteRule) -> Self {
        self.config_mut().rules.push(rule);
        self
    }

    /// Which proxies may say who the client is, and in which header (default: none; see
    /// [`TrustedProxies`]).
    pub fn trusted_proxies(mut self, trusted: TrustedProxies) -> Self {
        self.config_mut().trusted = trusted;
        self
    }

    /// The one form or JSON body field that holds the sign-in identifier (default
    /// `username`): the field the handler reads. On authentication routes a body that
    /// holds it twice is refused (400), as is a body over the [read
    /// limit](Self::body_limit) (413); both are recorded.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use activity_tower::{ActivityLayer, RouteKind, RouteRule};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
    /// let layer = ActivityLayer::new(recorder)
    ///     .identifier_field("email")
    ///     .rule(RouteRule::post("/login", RouteKind::Login));
    /// # guard.shutdown().await;
    /// # });
    /// ```
    pub fn identifier_field(mut self, field: &str) -> Self {
        self.config_mut().actor.field = Some(field.to_owned());
        self
    }

    /// Never read bodies: only the handler's [`OutcomeHint`] names
    /// the account. The lockout then counts failures against the handler's account but
    /// cannot refuse before the handler runs (only the per-address budget applies).
    pub fn identifier_from_handler(mut self) -> Self {
        self.config_mut().actor.field = None;
        self
    }

    /// A request header that names the actor.
    pub fn actor_header(mut self, name: http::HeaderName) -> Self {
        self.config_mut().actor.header = Some(name);
        self
    }

    /// A closure that names the actor from the request head.
    pub fn actor_fn(mut self, f: impl Fn(&Parts) -> Option<Actor> + Send + Sync + 'static) -> Self {
        self.config_mut().actor.func = Some(Arc::new(f));
        self
    }

    /// The most body bytes read to find the identifier (default 16 KiB). The handler gets
    /// the whole body either way; on authentication routes a longer form or JSON body is
    /// refused with 413 and recorded (`body_too_large`), since its account cannot be known.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config_mut().body_limit = bytes;
        self
    }

    /// A request header that names the tenant (e.g. `x-tenant`), set by a trusted proxy.
    /// The tenant found (trimmed, capped at
    /// [`limits::TENANT`](activity_core::limits::TENANT) bytes) is in every event of the
    /// request and in its [`RequestContext`]. Default: no tenants.
    ///
    /// The header is read only when the request came through a
    /// [trusted proxy](TrustedProxies::trusts_peer) (configure
    /// [`trusted_proxies`](Self::trusted_proxies), and have the proxy set or strip the
    /// header); from any other peer it is ignored, so that a client cannot write its
    /// events into another tenant's log. An app that knows the tenant itself (the host
    /// name, its own session) uses [`tenant_fn`](Self::tenant_fn).
    ///
    /// ```
    /// # use std::{convert::Infallible, sync::Arc};
    /// use activity_tower::layer::PrefixedBody;
    /// use activity_tower::{ActivityHandle, ActivityLayer};
    /// use http::{HeaderName, Request, Response};
    /// use tower::{Layer, ServiceExt};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
    /// use activity_tower::layer::PeerAddr;
    /// use activity_tower::TrustedProxies;
    /// let layer = ActivityLayer::new(recorder)
    ///     .trusted_proxies(TrustedProxies::cidrs(["10.0.0.0/8"]).unwrap())
    ///     .tenant_header(HeaderName::from_static("x-tenant"));
    /// let app = layer.layer(tower::service_fn(|req: Request<PrefixedBody<String>>| async move {
    ///     let ctx = req.extensions().get::<ActivityHandle>().unwrap().context();
    ///     Ok::<_, Infallible>(Response::new(ctx.tenant.clone().unwrap_or_default()))
    /// }));
    /// let req = |peer: &str| {
    ///     let mut r = Request::get("/").header("x-tenant", " acme ").body(String::new()).unwrap();
    ///     r.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
    ///     r
    /// };
    /// // Through the load balancer:
    /// assert_eq!(app.clone().oneshot(req("10.0.0.5:4000")).await.unwrap().into_body(), "acme");
    /// // From anywhere else the header is not believed:
    /// assert_eq!(app.oneshot(req("203.0.113.7:4000")).await.unwrap().into_body(), "");
    /// # guard.shutdown().await;
    /// # });
    /// ```
    pub fn tenant_header(mut self, name: http::HeaderName) -> Self {
        self.config_mut().tenant = TenantSource::Header(name);
        self
    }

    /// A closure that names the tenant from the request head (an extension the app set,
    /// the host name…); what it returns is capped at
    /// [`limits::TENANT`](activity_core::limits::TENANT) bytes. Replaces a
    /// [`tenant_header`](Self::tenant_header).
    ///
    /// ```
    /// # use std::{convert::Infallible, sync::Arc};
    /// use activity_tower::layer::PrefixedBody;
    /// use activity_tower::{ActivityHandle, ActivityLayer};
    /// use http::{Request, Response};
    /// use tower::{Layer, ServiceExt};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
    /// let layer = ActivityLayer::new(recorder).tenant_fn(|parts| parts.uri.host().map(str::to_owned));
    /// let app = layer.layer(tower::service_fn(|req: Request<PrefixedBody<String>>| async move {
    ///     let ctx = req.extensions().get::<ActivityHandle>().unwrap().context();
    ///     Ok::<_, Infallible>(Response::new(ctx.tenant.clone().unwrap_or_default()))
    /// }));
    /// let req = Request::get("http://acme.example.com/").body(String::new()).unwrap();
    /// assert_eq!(app.oneshot(req).await.unwrap().into_body(), "acme.example.com");
    /// # guard.shutdown().await;
    /// # });
    /// ```
    pub fn tenant_fn(
        mut self,
        f: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().tenant = TenantSource::Fn(Arc::new(f));
        self
    }

    /// The device cookie's name and lifetime (default `activity_device`, 400 days). It is
    /// set `HttpOnly; SameSite=Lax` on the first successful login, `Secure` as
    /// [`device_cookie_secure`](Self::device_cookie_secure) says, signed with the
    /// [`device_cookie_key`](Self::device_cookie_key).
    pub fn device_cookie(mut self, name: &str, max_age: Duration) -> Self {
        let c = self.config_mut();
        c.device_cookie = name.to_owned();
        c.device_max_age = max_age;
        self
    }

    /// Whether the device cookie is `Secure` (default [`SecureCookie::Auto`]: unless the
    /// request is known to be plain HTTP, so that plain-HTTP development on a host other
    /// than `localhost` keeps its device cookie).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use activity_tower::{layer::SecureCookie, ActivityLayer};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (recorder, _guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
    /// let layer = ActivityLayer::new(recorder).device_cookie_secure(SecureCookie::Always);
    /// # });
    /// ```
    pub fn device_cookie_secure(mut self, secure: SecureCookie) -> Self {
        self.config_mut().device_secure = secure;
        self
    }

    /// The secret key (at least 16 bytes; use 32 random ones) the device cookie is signed
    /// with (HMAC-SHA256). A cookie whose signature does not verify is no device: the
    /// request's [`RequestContext::device_id`] is `None` and the next successful login
    /// gets a new cookie. Give every instance of the app the same key, and keep it across
    /// restarts.
    ///
    /// Without it, a random key is made per process (with a warning in the log): device
    /// cookies then stop being recognised after each restart and on other instances, so
    /// every user looks like a new device again (`new_device` alerts, no known-device
    /// exemption), which is safe but noisy.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use activity_tower::ActivityLayer;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (recorder, _guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
    /// let key = b"32 secret bytes from the vault!!";
    /// let layer = ActivityLayer::new(recorder).device_cookie_key(key).unwrap();
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming `device_cookie_key` for a key shorter than 16 bytes.
    pub fn device_cookie_key(mut self, key: &[u8]) -> Result<Self, Error> {
        self.config_mut().device_key = Some(DeviceKey::new(key)?);
        Ok(self)
    }

    /// The app's session cookie, and the key its values are hashed with before they are
    /// stored (never raw). Login responses that set it and logout requests that carry it
    /// give `session.created` / `session.terminated` their session.
    ///
    /// # Errors
    /// [`Error::Config`] naming `session_cookie` for a key shorter than 16 bytes (the
    /// key's own error is its source).
    pub fn session_cookie(mut self, name: &str, key: &[u8]) -> Result<Self, Error> {
        let key = SessionKey::new(key).map_err(|e| {
            Error::config("session_cookie", "not a usable session key").with_source(e)
        })?;
        self.config_mut().session = Some(SessionCookie {
            name: name.to_owned(),
            key,
        });
        Ok(self)
    }

    /// The lockout policy asked before login routes. Default: the one registered with the
    /// recorder ([`RecorderBuilder::lockout`](activity_core::RecorderBuilder::lockout)),
    /// else none (never locks); this replaces it.
    pub fn lockout(mut self, check: Arc<dyn LockoutCheck>) -> Self {
        self.config_mut().lockout = check;
        self
    }

    /// The status a locked account gets (default 423) and the `Retry-After` used when the
    /// policy does not say until when (default 15 minutes).
    pub fn locked_response(mut self, status: StatusCode, retry_after: Duration) -> Self {
        let c = self.config_mut();
        c.locked_status = status;
        c.locked_retry_after = retry_after;
        self
    }

    /// Enforces `control`'s access policies ([`activity_core::access`]) on sign-in
    /// routes ([`RouteKind::Login`] and [`RouteKind::MfaVerify`]): a request a rule denies
    /// gets 403 with its reason code in [`X_ACTIVITY_REASON`] (`ip_denied`,
    /// `country_denied`, `outside_hours`), the handler is not called, and `access.denied`
    /// is recorded with the policy, the rule and the inputs (address, country, local
    /// time). Report-only rules record `access.reported` and let the request through. The
    /// decision is taken from memory; keep `control` fresh with its refresh job.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::access::{AccessControl, MemoryPolicyStore};
    /// use activity_tower::{ActivityLayer, RouteKind, RouteRule};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
    /// let control = Arc::new(AccessControl::load(Arc::new(MemoryPolicyStore::new())).await?);
    /// let layer = ActivityLayer::new(recorder)
    ///     .rule(RouteRule::post("/login", RouteKind::Login))
    ///     .access(control);
    /// # drop(layer);
    /// # guard.shutdown().await;
    /// # Ok::<(), activity_core::Error>(()) }).unwrap();
    /// ```
    pub fn access(mut self, control: Arc<AccessControl>) -> Self {
        let c = self.config_mut();
        match &mut c.access {
            Some(gate) => gate.control = control,
            None => {
                c.access = Some(access::AccessGate {
                    control,
                    geo: None,
                    roles: None,
                    everywhere: false,
                })
            }
        }
        self
    }

    /// Judges every request through this layer by the access policies, not only sign-ins
    /// (a network restriction for an admin area: put a layer with this on its router);
    /// the account judged is the signed-in user. Needs [`access`](Self::access).
    ///
    /// # Errors
    /// [`Error::Config`] when no access policies were given.
    pub fn access_everywhere(mut self) -> Result<Self, Error> {
        match &mut self.config_mut().access {
            Some(gate) => gate.everywhere = true,
            None => {
                return Err(Error::config(
                    "access_everywhere",
                    "needs access(control) first",
                ))
            }
        }
        Ok(self)
    }

    /// Finds a request's country for country rules with `resolver` (the GeoIP database
    /// the recorder enriches with, say). Without one, every country is unknown. Needs
    /// [`access`](Self::access).
    ///
    /// # Errors
    /// [`Error::Config`] when no access policies were given.
    pub fn access_geo(mut self, resolver: Arc<dyn GeoResolver>) -> Result<Self, Error> {
        match &mut self.config_mut().access {
            Some(gate) => gate.geo = Some(resolver),
            None => return Err(Error::config("access_geo", "needs access(control) first")),
        }
        Ok(self)
    }

    /// Finds an account's roles for rules limited to roles: `f(tenant, account)` with the
    /// account in normal form, answered from memory (it runs before the handler). Needs
    /// [`access`](Self::access).
    ///
    /// # Errors
    /// [`Error::Config`] when no access policies were given.
    pub fn access_roles(
        mut self,
        f: impl Fn(Option<&str>, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        match &mut self.config_mut().access {
            Some(gate) => gate.roles = Some(Arc::new(f)),
            None => return Err(Error::config("access_roles", "needs access(control) first")),
        }
        Ok(self)
    }

    /// What an authentication attempt gets when the lockout cannot be asked (its ledger's
    /// database is down, its table is missing): by default 503 with the
    /// [`unavailable_retry_after`](Self::unavailable_retry_after) `Retry-After`, recorded
    /// as a failure with reason `lockout_unavailable`, and the handler is not called, so
    /// an outage never hands out unlimited guesses. `true` lets such attempts through
    /// unchecked (logged as a warning) — availability over brute-force protection.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
    /// // The default, written out: refuse what the lockout cannot judge.
    /// let layer = activity_tower::ActivityLayer::new(recorder).lockout_fail_open(false);
    /// # drop(layer);
    /// # guard.shutdown().await;
    /// # });
    /// ```
    pub fn lockout_fail_open(mut self, open: bool) -> Self {
        self.config_mut().lockout_fail_open = open;
        self
    }

    /// The `Retry-After` of the 503 sent while the log cannot record under the
    /// fail-closed policy (default 30 s).
    pub fn unavailable_retry_after(mut self, d: Duration) -> Self {
        self.config_mut().unavailable_retry_after = d;
        self
    }
}

impl<S> Layer<S> for ActivityLayer {
    type Service = ActivityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ActivityService::new(inner, self.config.clone())
    }
}
