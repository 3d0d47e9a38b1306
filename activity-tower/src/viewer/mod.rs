//! The Activity Log and Audit Log over HTTP: JSON listing, CSV export, known devices,
//! investigation timelines and a self-contained viewer page.
//!
//! Mount [`ActivityViews`] under a path of the host app, behind its login, and tell it who
//! is asking (a [`Viewer`] request extension or a closure). Everything under the path:
//!
//! | path | what |
//! |---|---|
//! | `/` | the viewer page (HTML; its CSS and JS are `viewer.css` and `viewer.js` beside it) |
//! | `/api/events` | JSON listing: `{"scope","events":[…],"next":cursor\|null}` |
//! | `/api/events.csv` | CSV export of the same filter, streamed ([`CSV_COLUMNS`](activity_core::export::CSV_COLUMNS)) |
//! | `/api/devices` | the viewer's known devices and locations ([`KnownDevices`]) |
//! | `/api/timeline` | administrators: the timeline around `event=` or `alert=` (an id) |
//! | `/api/overview` | administrators: the [`Overview`](overview::Overview) — sign-ins, failures, lockouts and alerts over 24 hours and 7 days, open alerts, accounts locked now, most failures |
//! | `POST /api/unlock?account=` | administrators: releases a lock ([`ActivityViews::lockout`]), with the page's CSRF token in `x-csrf-token` |
//! | `GET /api/policies` | administrators: the access policies in force for their tenant and the global one ([`ActivityViews::access`]) |
//! | `POST /api/policies` | administrators: replaces their tenant's policy with the body's JSON (empty or `null`: removes it; at most [`MAX_POLICY_BODY`] bytes), CSRF token in `x-csrf-token`; recorded as `admin.config.changed` |
//! | `GET /api/policies/test?ip=&at=&account=&role=&country=` | administrators: the decision the policies give such a sign-in, and the rule that made it |
//! | `/sinks` | administrators, with [`ActivityViews::sinks`]: the page "Delivery to sinks", each sink's receipt ([`sinks`]) |
//! | `/api/sinks` | administrators, with [`ActivityViews::sinks`]: the same receipts as JSON ([`Sinks`](sinks::Sinks)) |
//!
//! The page reads as sentences ("You signed in", "Wrong password entered") from one
//! table an application can replace ([`Sentences`], [`ActivityViews::sentences`]); the
//! listing sends, beside each event, how it reads ([`Display`]: the sentence, the browser
//! and operating system parsed from the user agent, the place, and whether it is the
//! viewer's current session or device). The raw record stays one click away. A user's
//! page links each sign-in-related row that is not their current session to the
//! application's "Not you?" page ([`ActivityViews::not_you_url`]).
//!
//! Filters (query parameters): `scope` (`own`, or `tenant` for administrators), `since`
//! and `until` (RFC 3339), `action` (codes or categories, repeated or comma-separated),
//! `outcome`, `user` (administrators), `ip`, `cursor`, `limit` (1–1000). Unknown or repeated
//! parameters, and `tenant`, are refused with `400` and a JSON error
//! `{"error": code, "message": text}`.
//!
//! Scoping is decided on the server from the [`Viewer`]: a user reads only events whose
//! actor is themselves, in their tenant; an administrator reads their tenant's; every
//! event is checked again before it leaves, so no filter, cursor or forged parameter
//! reaches another tenant. Each read is recorded as `audit.viewed` (listing, devices,
//! timeline; who, scope, filter, rows) before the data is sent — a read that cannot be
//! audited is refused with `503` — and each export as `audit.exported` (rows, filter, and
//! whether it completed).
//!
//! Tiers: the product gives HTTP/API access to the log on Enterprise and export on every
//! tier. A viewer marked [`Access::Api`] (a token, a service account) of a tenant whose
//! tier is not in [`ActivityViews::api_tiers`] gets `403` from the listing, devices and
//! timeline endpoints, and can still export. Browser viewers (the page) are never gated.
//!
//! Every response carries `Content-Security-Policy: default-src 'self'` (plus
//! `frame-ancestors 'none'`), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//! no-referrer` and `Cache-Control: no-store`; the page uses no inline script or style,
//! no CDN and no external font, and writes every value as text (never as HTML).
//!
//! ```
//! use std::sync::Arc;
//! use activity_core::{MemoryStore, Recorder, retention::Tier};
//! use activity_tower::{ActivityViews, Viewer};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let (recorder, guard) = Recorder::builder(store.clone()).start();
//! let views = ActivityViews::new(store, recorder)
//!     .base_path("/account/activity").unwrap()
//!     // Name the viewer from the host app's own session (here: an extension it sets).
//!     .viewer_fn(|parts| parts.extensions.get::<Viewer>().cloned())
//!     .tier_fn(|_tenant| Tier::Enterprise);
//! # #[cfg(feature = "axum")]
//! let app: axum::Router = axum::Router::new().merge(views.router());
//! guard.shutdown().await;
//! # });
//! ```

mod access;
mod agent;
mod audit;
mod body;
mod csrf;
mod devices;
mod display;
mod export;
pub mod overview;
mod page;
mod params;
mod policies;
mod sentences;
mod service;
pub mod sinks;
mod unlock;

pub use access::{Access, Role, TierFn, Viewer, ViewerFn};
pub use agent::Agent;
pub use body::ViewerBody;
pub use csrf::CSRF_HEADER;
pub use devices::{known_devices, KnownDevice, KnownDevices, KnownLocation};
pub use display::{Current, Display};
pub use policies::MAX_BODY as MAX_POLICY_BODY;
pub use sentences::{Reader, Sentence, Sentences, ENGLISH};
pub use service::{ViewerFuture, ViewerService};

use std::sync::Arc;

use activity_core::access::AccessControl;
use activity_core::lockout::LockoutPolicy;
use activity_core::{retention::Tier, ActivityStore, Clock, Recorder, SystemClock};
use http::request::Parts;

use crate::Error;

/// The default mount path.
pub const DEFAULT_BASE_PATH: &str = "/activity-log";

/// How many of a user's newest successful sign-ins the devices view summarises.
pub const DEVICES_LOOKBACK: usize = 1000;

/// Builder of the activity-log endpoints; [`service`](Self::service) gives the tower
/// service, [`router`](Self::router) an axum `Router` (feature `axum`).
///
/// ```
/// # use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore, Recorder};
/// use activity_tower::{ActivityViews, Viewer};
/// use http_body_util::BodyExt;
/// use tower::ServiceExt;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// # store.append(&[ActivityEvent::login_succeeded(Actor::user("u_1"))]).await.unwrap();
/// # store.append(&[ActivityEvent::login_succeeded(Actor::user("u_2"))]).await.unwrap();
/// let (recorder, guard) = Recorder::builder(store.clone()).start();
/// let views = ActivityViews::new(store, recorder).base_path("/account/activity").unwrap();
/// // The host app's login names the viewer, here as a request extension.
/// let mut req = http::Request::get("/account/activity/api/events").body(String::new()).unwrap();
/// req.extensions_mut().insert(Viewer::user("u_1"));
/// let res = views.service().oneshot(req).await.unwrap();
/// assert_eq!(res.status(), 200);
/// let body = res.into_body().collect().await.unwrap().to_bytes();
/// let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// // Their own sign-in, not u_2's.
/// assert_eq!(json["scope"], "own");
/// assert_eq!(json["events"].as_array().unwrap().len(), 1);
/// assert_eq!(json["events"][0]["actor"]["id"], "u_1");
/// guard.shutdown().await;
/// # });
/// ```
#[derive(Clone)]
pub struct ActivityViews {
    store: Arc<dyn ActivityStore>,
    recorder: Recorder,
    base: String,
    access: access::AccessConfig,
    sentences: Arc<Sentences>,
    not_you: Option<String>,
    lockout: Option<Arc<LockoutPolicy>>,
    access_control: Option<Arc<AccessControl>>,
    clock: Arc<dyn Clock>,
    csrf: csrf::CsrfKey,
    sinks: bool,
}

impl std::fmt::Debug for ActivityViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityViews")
            .field("base", &self.base)
            .field("access", &self.access)
            .field("lang", &self.sentences.language())
            .field("not_you", &self.not_you)
            .field("lockout", &self.lockout.is_some())
            .field("access", &self.access_control.is_some())
            .field("sinks", &self.sinks)
            .finish_non_exhaustive()
    }
}

impl ActivityViews {
    /// Endpoints reading `store` and recording `audit.*` events through `recorder`,
    /// mounted at [`DEFAULT_BASE_PATH`], with the viewer taken from the [`Viewer`]
    /// request extension and no tier gate.
    pub fn new(store: Arc<dyn ActivityStore>, recorder: Recorder) -> Self {
        Self {
            store,
            recorder,
            base: DEFAULT_BASE_PATH.to_owned(),
            access: access::AccessConfig {
                api_tiers: vec![Tier::Enterprise],
                ..Default::default()
            },
            sentences: Arc::new(Sentences::english()),
            not_you: None,
            lockout: None,
            access_control: None,
            clock: Arc::new(SystemClock),
            csrf: csrf::CsrfKey::random(),
            sinks: false,
        }
    }

    /// The sentences the page shows (default: [`Sentences::english`]).
    pub fn sentences(mut self, sentences: Sentences) -> Self {
        self.sentences = Arc::new(sentences);
        self
    }

    /// Where a user's "Not you?" links go: the application's page to change the password
    /// and sign out everywhere. A path (`/account/security`) or an `https://` (or
    /// `http://`) address, without spaces or control characters, up to 2,000 bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use activity_core::{MemoryStore, Recorder};
    /// use activity_tower::ActivityViews;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let store = Arc::new(MemoryStore::new());
    /// # let (recorder, guard) = Recorder::builder(store.clone()).start();
    /// let views = ActivityViews::new(store, recorder);
    /// let views = views.not_you_url("/account/security").unwrap();
    /// assert!(views.clone().not_you_url("javascript:alert(1)").is_err());
    /// assert!(views.not_you_url("//elsewhere.example").is_err());
    /// # guard.shutdown().await;
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming `not_you_url`.
    pub fn not_you_url(mut self, url: &str) -> Result<Self, Error> {
        let scheme_ok = (url.starts_with('/') && !url.starts_with("//"))
            || url.starts_with("https://")
            || url.starts_with("http://");
        let ok = scheme_ok
            && url.len() <= 2000
            && !url
                .bytes()
                .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\');
        if !ok {
            return Err(Error::config(
                "not_you_url",
                "expected a /path or an https:// address without spaces",
            ));
        }
        self.not_you = Some(url.to_owned());
        Ok(self)
    }

    /// The lockout policy administrators unlock accounts through (the overview's
    /// Unlock). The policy must be a stage of the recorder
    /// ([`RecorderBuilder::lockout`](activity_core::RecorderBuilder::lockout)) so that
    /// the release is recorded. Without one, `/api/unlock` answers `404`.
    pub fn lockout(mut self, policy: Arc<LockoutPolicy>) -> Self {
        self.lockout = Some(policy);
        self
    }

    /// The access policies administrators manage in the page's Policies section: list,
    /// change (their tenant's policy, or the global one in an app without tenants) and
    /// test. Give the same [`AccessControl`] the layer enforces
    /// ([`ActivityLayer::access`](crate::ActivityLayer::access)), built with a
    /// [`recorder`](AccessControl::recorder): every change is recorded as
    /// `admin.config.changed` before it is in force. Without one, `/api/policies`
    /// answers `404` and the page has no Policies section.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use activity_core::access::{AccessControl, MemoryPolicyStore};
    /// use activity_core::{MemoryStore, Recorder};
    /// use activity_tower::ActivityViews;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let store = Arc::new(MemoryStore::new());
    /// let (recorder, guard) = Recorder::builder(store.clone()).start();
    /// let control = AccessControl::load(Arc::new(MemoryPolicyStore::new()))
    ///     .await
    ///     .unwrap()
    ///     .recorder(recorder.clone());
    /// let views = ActivityViews::new(store, recorder).access(Arc::new(control));
    /// # guard.shutdown().await;
    /// # });
    /// ```
    pub fn access(mut self, control: Arc<AccessControl>) -> Self {
        self.access_control = Some(control);
        self
    }

    /// Shows administrators the delivery to sinks: the page `/sinks` ("Delivery to
    /// sinks", linked from the overview) and `/api/sinks`, each sink's receipt — name,
    /// kind, state, lag, delivered, failures, last delivered event, last delivery and
    /// last error — with the ones retrying or more than
    /// [`LAG_WARNING`](sinks::LAG_WARNING) events behind flagged. Each read is recorded as
    /// `audit.viewed` (scope `sinks`).
    ///
    /// The receipts are the whole store's, not a tenant's (a sink reads every tenant's
    /// events, and its lag counts them all): in a multi-tenant app, turn this on only for
    /// a mount whose administrators are the operators. Without it, both paths answer `404`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use activity_core::sinks::{SinkState, SinkStatus};
    /// use activity_core::{ActivityStore, MemoryStore, Recorder};
    /// use activity_tower::{ActivityViews, Viewer};
    /// use http_body_util::BodyExt;
    /// use tower::ServiceExt;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let mut siem = SinkState::new("siem", "http");
    /// siem.status = SinkStatus::Retrying;
    /// store.save_sink_state(&siem).await.unwrap();
    /// let (recorder, guard) = Recorder::builder(store.clone()).start();
    /// let views = ActivityViews::new(store, recorder).sinks();
    /// let mut req = http::Request::get("/activity-log/api/sinks").body(String::new()).unwrap();
    /// req.extensions_mut().insert(Viewer::admin("alice"));
    /// let res = views.service().oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), 200);
    /// let body = res.into_body().collect().await.unwrap().to_bytes();
    /// let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(json["sinks"][0]["name"], "siem");
    /// assert_eq!(json["sinks"][0]["attention"][0], "retrying");
    /// guard.shutdown().await;
    /// # });
    /// ```
    pub fn sinks(mut self) -> Self {
        self.sinks = true;
        self
    }

    /// The clock the overview's windows and the CSRF tokens' expiry are judged by
    /// (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The secret the pages' CSRF tokens are made with. By default each `ActivityViews`
    /// makes a random one; instances of the app behind one load balancer share one.
    ///
    /// # Errors
    /// [`Error::Config`] naming `csrf_key` for a secret shorter than 16 bytes.
    pub fn csrf_key(mut self, secret: &[u8]) -> Result<Self, Error> {
        self.csrf = csrf::CsrfKey::new(secret)?;
        Ok(self)
    }

    /// Mounts the endpoints at `path` (e.g. `/settings/security/audit-log`): it starts with
    /// `/`, does not end with one, and holds only letters, digits, `-`, `_`, `.` and `/`.
    ///
    /// # Errors
    /// [`Error::Config`] naming `base_path`.
    pub fn base_path(mut self, path: &str) -> Result<Self, Error> {
        let ok = path.len() > 1
            && path.len() <= 200
            && path.starts_with('/')
            && !path.ends_with('/')
            && !path.contains("//")
            && !path.split('/').any(|s| s == "." || s == "..")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
        if !ok {
            return Err(Error::config(
                "base_path",
                "expected /segment[/segment…] of letters, digits, - _ .",
            ));
        }
        self.base = path.to_owned();
        Ok(self)
    }

    /// Names the viewer with a closure over the request head (instead of the [`Viewer`]
    /// extension). `None` answers `401`.
    pub fn viewer_fn(
        mut self,
        f: impl Fn(&Parts) -> Option<Viewer> + Send + Sync + 'static,
    ) -> Self {
        self.access.viewer = Some(Arc::new(f));
        self
    }

    /// Names each tenant's tier, which gates [`Access::Api`] viewers.
    pub fn tier_fn(mut self, f: impl Fn(Option<&str>) -> Tier + Send + Sync + 'static) -> Self {
        self.access.tier = Some(Arc::new(f));
        self
    }

    /// The tiers whose API viewers may list (default: Enterprise only).
    pub fn api_tiers(mut self, tiers: impl IntoIterator<Item = Tier>) -> Self {
        self.access.api_tiers = tiers.into_iter().collect();
        self
    }

    /// Reserves this mount for administrators (Settings → Security → Audit Log): a
    /// signed-in user who is not one gets `403` and a clear message, not the sign-in
    /// answer (`401`) of an unknown visitor.
    pub fn admins_only(mut self) -> Self {
        self.access.admins_only = true;
        self
    }

    /// The mount path.
    pub fn path(&self) -> &str {
        &self.base
    }

    /// The tower service. Route every request under [`path`](Self::path) to it (it
    /// answers `404` for anything else).
    pub fn service(&self) -> ViewerService {
        ViewerService::new(service::Shared {
            store: self.store.clone(),
            recorder: self.recorder.clone(),
            base: self.base.clone(),
            access: self.access.clone(),
            sentences: self.sentences.clone(),
            not_you: self.not_you.clone(),
            lockout: self.lockout.clone(),
            access_control: self.access_control.clone(),
            clock: self.clock.clone(),
            csrf: self.csrf.clone(),
            sinks: self.sinks,
        })
    }

    /// An axum `Router` holding the endpoints at their full paths, to
    /// [`merge`](axum::Router::merge) into the app's router.
    #[cfg(feature = "axum")]
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        let svc = self.service();
        axum::Router::new()
            .route_service(&self.base, svc.clone())
            .route_service(&format!("{}/", self.base), svc.clone())
            .route_service(&format!("{}/{{*rest}}", self.base), svc)
    }
}
