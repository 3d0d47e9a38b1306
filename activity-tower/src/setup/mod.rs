//! (feature `setup`) One setup from nothing to a recording app: [`Setup`] connects and
//! migrates the store, reads the chain key, starts the recorder with the chain, the
//! default alert rules and the lockout, and hands out an [`Activity`]: the layer, the
//! views, and a server that records peer addresses and shuts the recorder down.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`Setup`], the builder; [`Activity`], what it starts |
//! | `keys.rs` | [`Key`]: where a secret comes from; the keys derived from it |
//! | `serve.rs` | [`Activity::serve`]: axum with peer addresses and a clean shutdown |
//!
//! Access policies (where and when sign-ins are allowed) are off until
//! [`Setup::access_policies`] turns them on: then the layer enforces them, the views'
//! Policies section manages them, and they are reloaded every few seconds, so a change
//! made through another instance or `activity policy set` is in force here too.
//!
//! Each part stays replaceable by the lower-level API: [`Setup::store`],
//! [`Setup::lockout_with`], [`Setup::alerts`], [`Setup::recorder_with`],
//! [`Setup::layer_with`], and [`Activity`]'s accessors for the store, recorder and
//! lockout.
//!
//! ```no_run
//! use activity_tower::setup::Setup;
//! use axum::{routing::post, Router};
//! # async fn login() {}
//! # async fn logout() {}
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // ACTIVITY_DATABASE_URL (default sqlite://activity.db) and ACTIVITY_CHAIN_KEY, as
//! // the `activity` command reads them.
//! let activity = Setup::new().login("/login").logout("/logout").start().await?;
//! let app = Router::new()
//!     .route("/login", post(login))
//!     .route("/logout", post(logout))
//!     .layer(activity.layer());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! activity.serve(listener, app).await?; // until Ctrl-C or SIGTERM; then every event written
//! # Ok(()) }
//! ```

mod keys;
mod serve;

pub use keys::Key;

use std::fmt;
use std::sync::Arc;

use activity_core::access::{AccessControl, AccessPolicyStore};
use activity_core::alerts::{AlertEngine, AlertSink, TracingSink};
use activity_core::chain::{ChainKey, ChainSealer};
use activity_core::lockout::{LockoutConfig, LockoutPolicy};
use activity_core::recorder::{Enricher, ShutdownReport};
use activity_core::sinks::{Sink, SinkGuard, SinkRunner};
use activity_core::{ActivityStore, Recorder, RecorderBuilder, RecorderGuard};

use crate::layer::{Ack, RouteKind, RouteRule};
use crate::{ActivityLayer, ActivityViews, Error};
use keys::{derive, Purpose};

/// The variable the store's URL is read from when [`Setup::database`] names none (as
/// the `activity` command's `--db`).
pub const DATABASE_URL_ENV: &str = "ACTIVITY_DATABASE_URL";
/// The database when neither [`Setup::database`] nor [`DATABASE_URL_ENV`] names one.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://activity.db";
/// The variable naming the spool's file beside a PostgreSQL or MySQL store.
pub const SPOOL_PATH_ENV: &str = "ACTIVITY_SPOOL_PATH";
/// The spool's file beside a PostgreSQL or MySQL store when [`SPOOL_PATH_ENV`] is not set.
pub const DEFAULT_SPOOL_PATH: &str = "activity-spool.db";
/// The variable the chain key is read from by default: the one `activity verify` reads.
pub const CHAIN_KEY_ENV: &str = "ACTIVITY_CHAIN_KEY";
/// How often the access policies are reloaded from their store when they are on
/// ([`Setup::access_policies`]): the longest a change made elsewhere takes to be in force.
pub const ACCESS_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// The variable the cookie key is read from by default (see [`Setup::cookie_key`]).
pub const COOKIE_KEY_ENV: &str = "ACTIVITY_COOKIE_KEY";

type RecorderFn = Box<dyn FnOnce(RecorderBuilder) -> RecorderBuilder + Send>;
type LayerFn = Box<dyn FnOnce(ActivityLayer) -> Result<ActivityLayer, Error> + Send>;
type SinkFn = Box<dyn FnOnce(SinkRunner) -> SinkRunner + Send>;
type LockoutFn = Box<dyn FnOnce(Arc<dyn ActivityStore>) -> LockoutPolicy + Send>;

/// The builder of an [`Activity`]: sensible defaults throughout, and a setting that
/// cannot work is an error from [`start`](Self::start), never a silent drop.
///
/// | part | default | replace with |
/// |---|---|---|
/// | store | [`activity_sqlx::open`] of `ACTIVITY_DATABASE_URL`, else `sqlite://activity.db`, migrated | [`database`](Self::database), [`store`](Self::store) |
/// | chain | HMAC under `ACTIVITY_CHAIN_KEY` (required: the key `activity verify` reads) | [`chain_key`](Self::chain_key), [`without_chain`](Self::without_chain) |
/// | alerts | [`AlertEngine::with_defaults`] with a [`TracingSink`] | [`alert_sink`](Self::alert_sink), [`alerts`](Self::alerts) |
/// | lockout | [`LockoutPolicy`] with [`LockoutConfig::default`] (10 failures in 15 minutes), in memory | [`lockout_config`](Self::lockout_config), [`lockout_with`](Self::lockout_with) |
/// | cookies | device cookie and session hashes keyed from `ACTIVITY_COOKIE_KEY`, else from the chain key | [`cookie_key`](Self::cookie_key) |
/// | spool | beside PostgreSQL or MySQL: a [`SqliteSpool`](activity_sqlx::SqliteSpool) at `ACTIVITY_SPOOL_PATH`, else `activity-spool.db`; none for SQLite | [`spool`](Self::spool), [`without_spool`](Self::without_spool) |
/// | access policies | off | [`access_policies`](Self::access_policies), [`access_store`](Self::access_store) |
/// | routes | none: at least a sign-in route is required | [`login`](Self::login), [`logout`](Self::logout), [`mfa`](Self::mfa), [`rule`](Self::rule) |
/// | the rest | the layer's and the recorder's defaults | [`layer_with`](Self::layer_with), [`recorder_with`](Self::recorder_with) |
pub struct Setup {
    database: Option<String>,
    store: Option<Arc<dyn ActivityStore>>,
    chain_key: Option<Key>,
    writer: Option<String>,
    cookie_key: Option<Key>,
    rules: Vec<(RouteRule, Option<Ack>)>,
    identifier_field: Option<String>,
    session_cookie: Option<String>,
    lockout_config: LockoutConfig,
    lockout_with: Option<LockoutFn>,
    alerts: Option<AlertEngine>,
    sinks: Vec<Box<dyn FnOnce(AlertEngine) -> AlertEngine + Send>>,
    enrichers: Vec<RecorderFn>,
    recorder_with: Vec<RecorderFn>,
    layer_with: Vec<LayerFn>,
    #[cfg(feature = "geoip")]
    geoip: Option<std::path::PathBuf>,
    access: Access,
    spool: SpoolAt,
    log_sinks: Vec<(String, Arc<dyn Sink>, SinkFn)>,
}

/// Where the recorder spools while the store is down.
enum SpoolAt {
    /// Beside a store that is not local (PostgreSQL, MySQL): `ACTIVITY_SPOOL_PATH`, else
    /// [`DEFAULT_SPOOL_PATH`]; none for SQLite or a given store.
    Auto,
    Path(std::path::PathBuf),
    Off,
}

/// Where the access policies come from, if they are on.
enum Access {
    Off,
    /// Beside the log, in the database the setup opens.
    Beside,
    Store(Arc<dyn AccessPolicyStore>),
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup")
            .field("database", &self.database)
            .field("chain_key", &self.chain_key)
            .field("cookie_key", &self.cookie_key)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

impl Setup {
    /// The defaults (see the table above); name at least the sign-in route.
    pub fn new() -> Self {
        Self {
            database: None,
            store: None,
            chain_key: Some(Key::env(CHAIN_KEY_ENV)),
            writer: None,
            cookie_key: None,
            rules: Vec::new(),
            identifier_field: None,
            session_cookie: None,
            lockout_config: LockoutConfig::default(),
            lockout_with: None,
            alerts: None,
            sinks: Vec::new(),
            enrichers: Vec::new(),
            recorder_with: Vec::new(),
            layer_with: Vec::new(),
            #[cfg(feature = "geoip")]
            geoip: None,
            access: Access::Off,
            spool: SpoolAt::Auto,
            log_sinks: Vec::new(),
        }
    }

    /// Spools to the SQLite file at `path` while the store is down (see
    /// [`activity_core::spool`]), whatever the store. Default: beside a PostgreSQL or
    /// MySQL store only, at `ACTIVITY_SPOOL_PATH`, else `activity-spool.db`.
    pub fn spool(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.spool = SpoolAt::Path(path.into());
        self
    }

    /// No spool, even beside a remote store: during an outage events are held in memory
    /// and authentication routes fail closed (503) once a durable write cannot be made.
    pub fn without_spool(mut self) -> Self {
        self.spool = SpoolAt::Off;
        self
    }

    /// The store's URL (`sqlite://…`, `postgres://…`, `mysql://…`; see
    /// [`activity_sqlx::open`] for the features each needs). Default:
    /// `ACTIVITY_DATABASE_URL`, else `sqlite://activity.db`.
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    /// A store of the app's own instead of a URL (e.g. [`activity_sqlx::PgStore`] built
    /// with options, or sharing the app's pool), already migrated.
    pub fn store(mut self, store: Arc<dyn ActivityStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where the chain key comes from (default [`Key::env`]`("ACTIVITY_CHAIN_KEY")`, the
    /// variable `activity verify` reads). At least 16 bytes; keep it out of the database.
    pub fn chain_key(mut self, key: Key) -> Self {
        self.chain_key = Some(key);
        self
    }

    /// Records without the integrity chain: deleted or edited events go unnoticed. Then
    /// a [`cookie_key`](Self::cookie_key) must be given.
    pub fn without_chain(mut self) -> Self {
        self.chain_key = None;
        self
    }

    /// The chain writer's name (default the `HOSTNAME`, else `app`); each run adds a
    /// unique suffix.
    pub fn writer(mut self, name: impl Into<String>) -> Self {
        self.writer = Some(name.into());
        self
    }

    /// The secret (at least 16 bytes) the device cookie's signature, the session hashes
    /// and the viewer's CSRF tokens are derived from, each under its own label; the
    /// same on every instance. Default: `ACTIVITY_COOKIE_KEY` when set, else derived
    /// from the chain key (then whoever holds the chain key, e.g. an operator running
    /// `activity verify`, could sign device cookies too: give a separate key where that
    /// matters).
    pub fn cookie_key(mut self, key: Key) -> Self {
        self.cookie_key = Some(key);
        self
    }

    /// `POST path` is the sign-in: recorded, admitted by the lockout, answered once its
    /// events are durable.
    pub fn login(self, path: &str) -> Self {
        self.rule(RouteRule::post(path, RouteKind::Login))
    }

    /// `POST path` is the sign-out.
    pub fn logout(self, path: &str) -> Self {
        self.rule(RouteRule::post(path, RouteKind::Logout))
    }

    /// `POST path` checks the second factor.
    pub fn mfa(self, path: &str) -> Self {
        self.rule(RouteRule::post(path, RouteKind::MfaVerify))
    }

    /// Any other route rule (password resets and changes, MFA enrolment…).
    pub fn rule(mut self, rule: RouteRule) -> Self {
        self.rules.push((rule, None));
        self
    }

    /// A route rule with its own [`Ack`].
    pub fn rule_with_ack(mut self, rule: RouteRule, ack: Ack) -> Self {
        self.rules.push((rule, Some(ack)));
        self
    }

    /// The body field the sign-in form names the account in (default `username`), as
    /// [`ActivityLayer::identifier_field`].
    pub fn identifier_field(mut self, field: &str) -> Self {
        self.identifier_field = Some(field.to_owned());
        self
    }

    /// The app's (or its session library's) session cookie, e.g. `id` for
    /// tower-sessions: its values are stored only as keyed hashes (key derived from the
    /// [`cookie_key`](Self::cookie_key)). See [`ActivityLayer::session_cookie`].
    pub fn session_cookie(mut self, name: &str) -> Self {
        self.session_cookie = Some(name.to_owned());
        self
    }

    /// The lockout's thresholds (default [`LockoutConfig::default`]).
    pub fn lockout_config(mut self, config: LockoutConfig) -> Self {
        self.lockout_config = config;
        self
    }

    /// The lockout policy, built from the store (e.g. with a shared
    /// `activity_sqlx::PgLedger` for several instances); replaces
    /// [`lockout_config`](Self::lockout_config).
    pub fn lockout_with(
        mut self,
        f: impl FnOnce(Arc<dyn ActivityStore>) -> LockoutPolicy + Send + 'static,
    ) -> Self {
        self.lockout_with = Some(Box::new(f));
        self
    }

    /// The alert engine, replacing the default one (its rules and sinks are all yours).
    pub fn alerts(mut self, engine: AlertEngine) -> Self {
        self.alerts = Some(engine);
        self
    }

    /// A sink for the alert engine's alerts, instead of the default [`TracingSink`].
    pub fn alert_sink(mut self, sink: impl AlertSink) -> Self {
        self.sinks
            .push(Box::new(move |e: AlertEngine| e.sink(sink)));
        self
    }

    /// Delivers the committed log to `sink` (NATS JetStream, an HTTP collector or Splunk,
    /// files: see [`activity_core::sinks`]) under the cursor `name`, on a task the setup
    /// starts and [`Activity::shutdown`] stops. Delivery goes on from the stored cursor
    /// at the next start, so nothing recorded before a shutdown is lost to the sink.
    ///
    /// ```no_run
    /// use activity_core::sinks::FileSink;
    /// use activity_tower::setup::Setup;
    /// # fn f() -> activity_core::Result<()> {
    /// let setup = Setup::new().login("/login").sink("siem-files", FileSink::new("/var/log/activity")?);
    /// # Ok(()) }
    /// ```
    pub fn sink(self, name: &str, sink: impl Sink) -> Self {
        self.sink_with(name, sink, |runner| runner)
    }

    /// [`sink`](Self::sink), with its runner configured (filter, batch size, backoff).
    ///
    /// ```no_run
    /// use activity_core::sinks::{FileSink, SinkFilter};
    /// use activity_tower::setup::Setup;
    /// # fn f() -> activity_core::Result<()> {
    /// let setup = Setup::new().login("/login").sink_with(
    ///     "signins",
    ///     FileSink::new("/var/log/activity")?,
    ///     |runner| runner.filter(SinkFilter::all().action("auth.")).batch_size(200),
    /// );
    /// # Ok(()) }
    /// ```
    pub fn sink_with(
        mut self,
        name: &str,
        sink: impl Sink,
        configure: impl FnOnce(SinkRunner) -> SinkRunner + Send + 'static,
    ) -> Self {
        self.log_sinks
            .push((name.to_owned(), Arc::new(sink), Box::new(configure)));
        self
    }

    /// An enricher run on every batch before it is sealed (e.g. GeoIP).
    pub fn enricher(mut self, enricher: impl Enricher) -> Self {
        self.enrichers
            .push(Box::new(move |b: RecorderBuilder| b.enricher(enricher)));
        self
    }

    /// (feature `geoip`) Fills `source.geo` from a MaxMind GeoIP2/GeoLite2 City database
    /// at `path`; a file that is missing or not a City database is an error at start.
    #[cfg(feature = "geoip")]
    pub fn geoip(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.geoip = Some(path.into());
        self
    }

    /// Turns access policies on, kept in the log's own database (the tables
    /// `activity policy` manages, created if missing): the layer judges every sign-in by
    /// them (and the GeoIP database, when [`geoip`](Self::geoip) names one, gives the
    /// country rules their countries), [`Activity::views`] gets the Policies section, and
    /// they are reloaded every [`ACCESS_REFRESH`]. With [`store`](Self::store), name the
    /// policies' store with [`access_store`](Self::access_store) instead.
    pub fn access_policies(mut self) -> Self {
        self.access = Access::Beside;
        self
    }

    /// Turns access policies on (as [`access_policies`](Self::access_policies)), kept in
    /// `store`.
    pub fn access_store(mut self, store: Arc<dyn AccessPolicyStore>) -> Self {
        self.access = Access::Store(store);
        self
    }

    /// Changes the recorder's builder before it starts (capacity, outage policy,
    /// `max_in_flight`, more stages…), after the setup's own stages.
    pub fn recorder_with(
        mut self,
        f: impl FnOnce(RecorderBuilder) -> RecorderBuilder + Send + 'static,
    ) -> Self {
        self.recorder_with.push(Box::new(f));
        self
    }

    /// Changes the layer after the setup's settings (trusted proxies, tenants, actor
    /// sources, the device cookie's name or `Secure`…).
    ///
    /// ```
    /// use activity_tower::{setup::Setup, TrustedProxies};
    /// let setup = Setup::new()
    ///     .login("/login")
    ///     .layer_with(|l| Ok(l.trusted_proxies(TrustedProxies::cidrs(["10.0.0.0/8"])?)));
    /// ```
    pub fn layer_with(
        mut self,
        f: impl FnOnce(ActivityLayer) -> Result<ActivityLayer, Error> + Send + 'static,
    ) -> Self {
        self.layer_with.push(Box::new(f));
        self
    }

    /// Checks every setting, then connects and migrates the store and starts the
    /// recorder; on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting: `routes` (no sign-in route), `chain_key`
    /// (not set, or shorter than 16 bytes), `cookie_key`, `store` (both a store and a
    /// URL), `geoip`, or the layer's own; [`Error::Store`] when the store cannot be
    /// opened or migrated. Nothing is left running after an error.
    pub async fn start(self) -> Result<Activity, Error> {
        if !self.rules.iter().any(|(r, _)| r.kind == RouteKind::Login) {
            return Err(Error::config(
                "routes",
                "no sign-in route: the lockout and the alerts judge sign-ins; name it with \
                 .login(\"/login\")",
            ));
        }
        let chain_secret = match &self.chain_key {
            None => None,
            Some(key) => Some(key.read("chain_key")?.ok_or_else(|| {
                Error::config(
                    "chain_key",
                    format!(
                        "{key:?} is not set: set it to the key `activity verify` reads (at \
                         least 16 bytes; the command reads {CHAIN_KEY_ENV}), give one with \
                         .chain_key(Key::value(..)), or record unchained with \
                         .without_chain()"
                    ),
                )
            })?),
        };
        let chain = match &chain_secret {
            Some(s) => Some(ChainKey::keyed(s).map_err(|e| {
                Error::config("chain_key", "not a usable chain key").with_source(e)
            })?),
            None => None,
        };
        let cookie_source = self
            .cookie_key
            .clone()
            .unwrap_or_else(|| Key::env(COOKIE_KEY_ENV));
        let secret = match (cookie_source.read("cookie_key")?, &chain_secret) {
            (Some(k), _) => k,
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(Error::config(
                    "cookie_key",
                    format!(
                        "{cookie_source:?} is not set, and without a chain there is nothing to \
                         derive it from: give one with .cookie_key(..)"
                    ),
                ))
            }
        };
        #[cfg(feature = "geoip")]
        let geo = match &self.geoip {
            Some(path) => Some(activity_core::enrich::MaxMindResolver::open(path).map_err(
                |e| Error::config("geoip", format!("cannot use {}", path.display())).with_source(e),
            )?),
            None => None,
        };
        if matches!(self.access, Access::Beside) && self.store.is_some() {
            return Err(Error::config(
                "access",
                "access_policies() keeps the policies in the database the setup opens, and a \
                 store was given: name the policies' store with .access_store(..)",
            ));
        }
        let mut database_url = None;
        let store = match (self.store, self.database) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "store",
                    "both a store and a database URL were given; keep one",
                ))
            }
            (Some(store), None) => store,
            (None, url) => {
                let url = url
                    .or_else(|| std::env::var(DATABASE_URL_ENV).ok())
                    .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
                let store = activity_sqlx::open(&url).await.map_err(Error::Store)?;
                database_url = Some(url);
                store
            }
        };
        let lockout = Arc::new(match self.lockout_with {
            Some(f) => f(store.clone()),
            None => LockoutPolicy::new(store.clone(), self.lockout_config),
        });
        let policies = match (self.access, &database_url) {
            (Access::Off, _) => None,
            (Access::Store(s), _) => Some(s),
            (Access::Beside, Some(url)) => Some(
                activity_sqlx::open_access_policies(url)
                    .await
                    .map_err(Error::Store)?,
            ),
            (Access::Beside, None) => unreachable!("refused above: a store without a URL"),
        };
        let spool_path = match self.spool {
            SpoolAt::Off => None,
            SpoolAt::Path(p) => Some(p),
            SpoolAt::Auto => database_url
                .as_deref()
                .filter(|url| !url.trim_start().starts_with("sqlite:"))
                .map(|_| {
                    std::env::var_os(SPOOL_PATH_ENV)
                        .map(std::path::PathBuf::from)
                        .unwrap_or_else(|| DEFAULT_SPOOL_PATH.into())
                }),
        };
        let mut builder = Recorder::builder(store.clone());
        if let Some(path) = spool_path {
            let spool =
                activity_sqlx::SqliteSpool::open(&path, activity_sqlx::DEFAULT_SPOOL_CAPACITY)
                    .await
                    .map_err(|e| {
                        Error::config("spool", format!("cannot open the spool {}", path.display()))
                            .with_source(e)
                    })?;
            builder = builder.spool(Arc::new(spool));
        }
        #[cfg(feature = "geoip")]
        let geo = geo.map(Arc::new);
        #[cfg(feature = "geoip")]
        if let Some(geo) = &geo {
            builder = builder.enricher(activity_core::enrich::GeoEnricher::new(geo.clone()));
        }
        for f in self.enrichers {
            builder = f(builder);
        }
        if let Some(key) = &chain {
            let writer = self
                .writer
                .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
                .unwrap_or_else(|| "app".to_owned());
            builder = builder.sealer(ChainSealer::new(&writer, key.clone()));
        }
        let mut engine = self.alerts.unwrap_or_else(|| {
            let engine = AlertEngine::with_defaults();
            if self.sinks.is_empty() {
                engine.sink(TracingSink)
            } else {
                engine
            }
        });
        for add in self.sinks {
            engine = add(engine);
        }
        builder = builder.after_commit(engine).lockout(lockout.clone());
        for f in self.recorder_with {
            builder = f(builder);
        }
        let (recorder, guard) = builder.start();
        let access = match policies {
            None => None,
            Some(p) => match AccessControl::load(p).await {
                Ok(c) => Some(Arc::new(c.recorder(recorder.clone()))),
                Err(e) => {
                    guard.shutdown().await;
                    return Err(Error::config(
                        "access",
                        "the access policies could not be read (never \"allow all\")",
                    )
                    .with_source(e));
                }
            },
        };
        let layer = (|| {
            let mut layer = ActivityLayer::new(recorder.clone())
                .device_cookie_key(&derive(&secret, Purpose::DeviceCookie))?;
            if let Some(field) = &self.identifier_field {
                layer = layer.identifier_field(field);
            }
            for (rule, ack) in self.rules {
                layer = match ack {
                    Some(ack) => layer.rule_with_ack(rule, ack),
                    None => layer.rule(rule),
                };
            }
            if let Some(name) = &self.session_cookie {
                layer = layer.session_cookie(name, &derive(&secret, Purpose::SessionHash))?;
            }
            if let Some(control) = &access {
                layer = layer.access(control.clone());
                #[cfg(feature = "geoip")]
                if let Some(geo) = &geo {
                    layer = layer.access_geo(geo.clone())?;
                }
            }
            for f in self.layer_with {
                layer = f(layer)?;
            }
            Ok::<_, Error>(layer)
        })();
        let layer = match layer {
            Ok(layer) => layer,
            Err(e) => {
                guard.shutdown().await;
                return Err(e);
            }
        };
        let mut sinks = Vec::new();
        for (name, sink, configure) in self.log_sinks {
            match SinkRunner::new(name, store.clone(), sink) {
                Ok(runner) => sinks.push(configure(runner).spawn()),
                Err(e) => {
                    for running in sinks {
                        running.stop().await;
                    }
                    guard.shutdown().await;
                    return Err(Error::config("sink", e.to_string()));
                }
            }
        }
        // Refreshed in the background: a change made through another instance or the
        // command is in force here within ACCESS_REFRESH, without a read per request.
        let access_job = access.as_ref().map(|c| {
            activity_core::jobs::every(ACCESS_REFRESH)
                .spawn(c.clone() as Arc<dyn activity_core::jobs::Job>)
        });
        Ok(Activity {
            store,
            recorder,
            guard,
            lockout,
            layer,
            chain,
            csrf: derive(&secret, Purpose::ViewerCsrf),
            access,
            access_job,
            sinks,
        })
    }
}

/// What [`Setup::start`] started: the store, the recorder (with its chain, alert engine
/// and lockout), the layer to put on the router, and the views to mount.
pub struct Activity {
    store: Arc<dyn ActivityStore>,
    recorder: Recorder,
    guard: RecorderGuard,
    lockout: Arc<LockoutPolicy>,
    layer: ActivityLayer,
    chain: Option<ChainKey>,
    csrf: [u8; 32],
    access: Option<Arc<AccessControl>>,
    access_job: Option<activity_core::jobs::JobGuard>,
    sinks: Vec<SinkGuard>,
}

impl fmt::Debug for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Activity")
            .field("layer", &self.layer)
            .field("chained", &self.chain.is_some())
            .finish_non_exhaustive()
    }
}

impl Activity {
    /// [`Setup::new`].
    pub fn setup() -> Setup {
        Setup::new()
    }

    /// The layer: put it on the router **outside** any session library's layer (in axum,
    /// the later `.layer(..)` call), so that it sees the session cookie a login sets.
    pub fn layer(&self) -> ActivityLayer {
        self.layer.clone()
    }

    /// The Activity Log / Audit Log views under `base_path`, reading this store, auditing
    /// into this recorder, unlocking through this lockout (and managing the access
    /// policies, when they are on); name who is asking with
    /// [`ActivityViews::viewer_fn`] and mount with [`ActivityViews::router`].
    ///
    /// # Errors
    /// As [`ActivityViews::base_path`].
    pub fn views(&self, base_path: &str) -> Result<ActivityViews, Error> {
        let views = ActivityViews::new(self.store.clone(), self.recorder.clone())
            .base_path(base_path)?
            .lockout(self.lockout.clone())
            .csrf_key(&self.csrf)?;
        Ok(match &self.access {
            Some(control) => views.access(control.clone()),
            None => views,
        })
    }

    /// The access policies in force, when [`Setup::access_policies`] turned them on
    /// (change them with [`AccessControl::set`], or in the views' Policies section).
    pub fn access(&self) -> Option<&Arc<AccessControl>> {
        self.access.as_ref()
    }

    /// The running sinks ([`Setup::sink`]), in the order they were given: each one's
    /// [`receipt`](SinkGuard::receipt).
    pub fn sinks(&self) -> &[SinkGuard] {
        &self.sinks
    }

    /// The store, opened and migrated.
    pub fn store(&self) -> &Arc<dyn ActivityStore> {
        &self.store
    }

    /// The recorder, for events of the app's own.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The lockout policy (status, unlock).
    pub fn lockout(&self) -> &Arc<LockoutPolicy> {
        &self.lockout
    }

    /// The chain key events are sealed with (`None` without a chain), e.g. for
    /// [`chain::verify`](activity_core::chain::verify).
    pub fn chain_key(&self) -> Option<&ChainKey> {
        self.chain.as_ref()
    }

    /// Writes everything queued, records `audit.stopped` and stops the recorder, then
    /// the sinks (after their batch in flight; they go on from their cursors at the next
    /// start); call it once the server has stopped (the [`serve`](Self::serve) methods
    /// do).
    pub async fn shutdown(self) -> ShutdownReport {
        if let Some(job) = self.access_job {
            job.stop().await;
        }
        let report = self.guard.shutdown().await;
        for running in self.sinks {
            running.stop().await;
        }
        report
    }
}
