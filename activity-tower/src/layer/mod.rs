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
//! | `client_ip.rs` | [`TrustedProxies`], [`client_ip`]: who is connected |
//! | `headers.rs` | [`X_REQUEST_ID`], the device and session cookies |
//! | `context.rs` | [`RequestContext`]: what every event of a request carries |
//! | `handle.rs` | [`ActivityHandle`]: handlers recording with that context |
//! | `extensions.rs` | [`AuthenticatedActor`], [`PeerAddr`], [`OutcomeHint`]: what the app tells the layer |

mod ack;
mod actor;
mod body;
mod client_ip;
mod config;
mod context;
mod extensions;
mod future;
mod handle;
mod headers;
mod rules;
mod service;
mod tenant;

pub use ack::Ack;
pub use actor::{ActorFn, ActorSource};
pub use body::PrefixedBody;
pub use client_ip::{client_ip, TrustedProxies, MAX_FORWARDED_BYTES, MAX_FORWARDED_ENTRIES};
pub use context::RequestContext;
pub use extensions::{AuthenticatedActor, OutcomeHint, PeerAddr};
pub use future::ResponseFuture;
pub use handle::ActivityHandle;
pub use headers::X_REQUEST_ID;
pub use rules::{default_outcome, OutcomeJudge, PathPattern, RouteKind, RouteRule};
pub use service::ActivityService;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use activity_core::{event::SessionKey, lockout::LockoutCheck, Actor, Recorder};
use http::request::Parts;
use http::StatusCode;
use tower_layer::Layer;

use crate::Error;
use config::{Config, SessionCookie};
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

    /// Which proxies may say who the client is (default: none).
    pub fn trusted_proxies(mut self, trusted: TrustedProxies) -> Self {
        self.config_mut().trusted = trusted;
        self
    }

    /// The form or JSON body fields that name the actor (default `username`, `email`;
    /// empty to never read bodies).
    pub fn actor_fields(mut self, fields: &[&str]) -> Self {
        self.config_mut().actor.body_fields = fields.iter().map(|s| s.to_string()).collect();
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

    /// The most body bytes read to find the actor (default 16 KiB). The handler gets
    /// the whole body either way.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config_mut().body_limit = bytes;
        self
    }

    /// A request header that names the tenant (e.g. `x-tenant`). The tenant found
    /// (trimmed, capped at [`limits::TENANT`](activity_core::limits::TENANT) bytes) is in
    /// every event of the request and in its [`RequestContext`]. Default: no tenants.
    ///
    /// ```
    /// # use std::{convert::Infallible, sync::Arc};
    /// use activity_tower::layer::PrefixedBody;
    /// use activity_tower::{ActivityHandle, ActivityLayer};
    /// use http::{HeaderName, Request, Response};
    /// use tower::{Layer, ServiceExt};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
    /// let layer = ActivityLayer::new(recorder).tenant_header(HeaderName::from_static("x-tenant"));
    /// let app = layer.layer(tower::service_fn(|req: Request<PrefixedBody<String>>| async move {
    ///     let ctx = req.extensions().get::<ActivityHandle>().unwrap().context();
    ///     Ok::<_, Infallible>(Response::new(ctx.tenant.clone().unwrap_or_default()))
    /// }));
    /// let req = Request::get("/").header("x-tenant", " acme ").body(String::new()).unwrap();
    /// assert_eq!(app.oneshot(req).await.unwrap().into_body(), "acme");
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
    /// set `HttpOnly; Secure; SameSite=Lax` on the first successful login.
    pub fn device_cookie(mut self, name: &str, max_age: Duration) -> Self {
        let c = self.config_mut();
        c.device_cookie = name.to_owned();
        c.device_max_age = max_age;
        self
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
