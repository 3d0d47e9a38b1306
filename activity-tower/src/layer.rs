//! [`ActivityLayer`]: configuration and builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use activity_core::{Actor, LockoutCheck, NeverLock, Recorder, SessionKey};
use http::request::Parts;
use http::StatusCode;
use tower_layer::Layer;

use crate::actor::ActorSource;
use crate::client_ip::TrustedProxies;
use crate::context::TenantSource;
use crate::rules::RouteRule;
use crate::service::ActivityService;

pub(crate) struct Config {
    pub recorder: Recorder,
    pub rules: Vec<RouteRule>,
    pub trusted: TrustedProxies,
    pub actor: ActorSource,
    pub body_limit: usize,
    pub tenant: TenantSource,
    pub device_cookie: String,
    pub device_max_age: Duration,
    pub session_cookie: Option<String>,
    pub session_key: Option<SessionKey>,
    pub lockout: Arc<dyn LockoutCheck>,
    pub locked_status: StatusCode,
    pub locked_retry_after: Duration,
    pub unavailable_retry_after: Duration,
}

/// The tower layer that records authentication events.
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
            config: Arc::new(Config {
                recorder,
                rules: Vec::new(),
                trusted: TrustedProxies::None,
                actor: ActorSource::default(),
                body_limit: 16 * 1024,
                tenant: TenantSource::None,
                device_cookie: "activity_device".into(),
                device_max_age: Duration::from_secs(400 * 24 * 3600),
                session_cookie: None,
                session_key: None,
                lockout: Arc::new(NeverLock),
                locked_status: StatusCode::LOCKED,
                locked_retry_after: Duration::from_secs(900),
                unavailable_retry_after: Duration::from_secs(30),
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::get_mut(&mut self.config).expect("configure the layer before cloning it")
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

    /// Where the tenant comes from.
    pub fn tenant(mut self, source: TenantSource) -> Self {
        self.config_mut().tenant = source;
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
    /// A key shorter than 16 bytes.
    pub fn session_cookie(mut self, name: &str, key: &[u8]) -> activity_core::Result<Self> {
        let key = SessionKey::new(key)?;
        let c = self.config_mut();
        c.session_cookie = Some(name.to_owned());
        c.session_key = Some(key);
        Ok(self)
    }

    /// The lockout policy asked before login routes (default: never locks).
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
