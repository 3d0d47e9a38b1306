//! What every command runs with ([`Ctx`]): the store, opened and migrated, and the
//! library's recorder pipeline as the application runs it (chain, alerts, lockout).

use std::path::PathBuf;
use std::sync::Arc;

use activity_core::{
    alerts::AlertEngine, chain::ChainKey, chain::ChainSealer, lockout::LockoutPolicy,
    retention::RetentionPolicy, ActivityStore, Actor, Recorder, RecorderGuard,
};

use super::config::Config;
use super::progress::{Progress, ProgressStore};
use super::Failure;

/// The store and the pipeline a command runs with.
pub(crate) struct Ctx {
    /// The store, migrated.
    pub(crate) store: Arc<dyn ActivityStore>,
    /// The recorder over `store`, sealing with `key`.
    pub(crate) recorder: Recorder,
    /// The chain key of the configuration (or none: unkeyed).
    pub(crate) key: ChainKey,
    /// The lockout policy, after the recorder's commits.
    pub(crate) lockout: Arc<LockoutPolicy>,
    /// The retention of the configuration.
    pub(crate) retention: RetentionPolicy,
    /// The configuration's `[retention] require_archive`.
    pub(crate) require_archive: Option<PathBuf>,
    /// The signing key of checkpoints and manifests, if configured.
    pub(crate) signing_key: Option<activity_core::signed::SigningKey>,
    /// The database URL (the access policies' tables are opened when a command needs them).
    pub(crate) url: String,
    /// The configuration's `[geoip] city`.
    pub(crate) geoip_city: Option<PathBuf>,
}

impl Ctx {
    /// Opens the store of `url` and starts the pipeline `config` describes; the guard
    /// shuts the recorder down.
    pub(crate) async fn start(
        url: &str,
        config: &Config,
        spool: Option<Arc<dyn activity_core::spool::Spool>>,
    ) -> Result<(Self, RecorderGuard), Failure> {
        let store = crate::open(url).await?;
        let key = match config.chain_key().map_err(Failure::usage)? {
            Some(k) => ChainKey::keyed(&k).map_err(|e| Failure::usage(e.to_string()))?,
            None => ChainKey::unkeyed(),
        };
        let (user_rule, ip_rule) = config.failed_logins().map_err(Failure::usage)?;
        let lockout = Arc::new(LockoutPolicy::new(
            store.clone(),
            config.lockout().map_err(Failure::usage)?,
        ));
        let writer = config
            .chain
            .writer
            .clone()
            .unwrap_or_else(|| "activity-cli".into());
        let mut builder = Recorder::builder(store.clone());
        if let Some(spool) = spool {
            // Replayed as the recorder starts (before anything the command records), and
            // sealed as it is: never under a key the log was not sealed with.
            if activity_core::chain::key_holds(&*store, &key).await? == Some(false) {
                return Err(Failure::usage(
                    "the configured chain key is not the one the log was sealed with; the \
                     spool was not replayed",
                ));
            }
            builder = builder.spool(spool);
        }
        if let Some(city) = &config.geoip.city {
            let resolver = activity_core::enrich::MaxMindResolver::open(city)
                .map_err(|e| Failure::usage(format!("[geoip] city: {e}")))?;
            builder = builder.enricher(activity_core::enrich::GeoEnricher::new(resolver));
        }
        if let Some(anon) = &config.geoip.anonymous_ip {
            let resolver = activity_core::enrich::MaxMindAnonymousIp::open(anon)
                .map_err(|e| Failure::usage(format!("[geoip] anonymous_ip: {e}")))?;
            builder = builder.enricher(activity_core::enrich::AnonymousIpEnricher::new(resolver));
        }
        let geo_rule = config.geo_anomaly().map_err(Failure::usage)?;
        let (recorder, guard) = builder
            .sealer(ChainSealer::new(&writer, key.clone()))
            .after_commit(
                AlertEngine::new()
                    .rule(user_rule)
                    .rule(ip_rule)
                    .rule(activity_core::alerts::NewDevice::default())
                    .rule(geo_rule)
                    .rule(activity_core::alerts::ConcurrentSessions::default()),
            )
            .lockout(lockout.clone())
            .overflow(activity_core::recorder::Overflow::Wait(
                std::time::Duration::from_secs(60),
            ))
            .lifecycle_events(false)
            .start();
        let ctx = Ctx {
            store,
            recorder,
            key,
            lockout,
            retention: config.retention().map_err(Failure::usage)?,
            require_archive: config.retention.require_archive.clone(),
            signing_key: config.signing_key().map_err(Failure::usage)?,
            url: url.to_owned(),
            geoip_city: config.geoip.city.clone(),
        };
        Ok((ctx, guard))
    }

    /// Refuses to go on when the store holds sealed events and neither a head nor one of
    /// the newest events holds under this command's key: the key is missing or not the one the log was sealed with, and
    /// whatever the command recorded would be sealed under a key other than the
    /// application's (and would read as tampering for good).
    pub(crate) async fn require_key(&self) -> Result<(), Failure> {
        if activity_core::chain::key_holds(&*self.store, &self.key).await? != Some(false) {
            return Ok(());
        }
        let what = if self.key.is_keyed() {
            format!(
                "the configured chain key (fingerprint {})",
                self.key.fingerprint()
            )
        } else {
            "no chain key (none is configured: [chain] key_file or ACTIVITY_CHAIN_KEY)".to_string()
        };
        Err(Failure::usage(format!(
            "no chain head and none of the newest sealed events holds under {what}: this is \
             the wrong key (or every one of them was rewritten); run with the key the log was \
             sealed with. Nothing was verified or recorded"
        )))
    }

    /// The store counting what passes through it into a new progress line labelled
    /// `label`.
    pub(crate) fn counted(&self, label: &str) -> (Arc<dyn ActivityStore>, Arc<Progress>) {
        let p = Progress::stderr(label);
        (
            Arc::new(ProgressStore::new(self.store.clone(), p.clone())),
            p,
        )
    }
}

/// A SQLite `--db` naming a file that does not exist: an error (a typo would otherwise
/// create an empty log that verifies "intact"); only `migrate` creates the file.
pub(crate) fn require_existing_sqlite(url: &str) -> Result<(), Failure> {
    if ["postgres:", "postgresql:", "mysql:", "mariadb:"]
        .iter()
        .any(|p| url.starts_with(p))
    {
        return Ok(());
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(":memory:") || url.contains("mode=memory") {
        return Ok(());
    }
    if std::path::Path::new(path).exists() {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "--db {}: no such database file (run `activity migrate --db ...` to create one)",
        activity_core::text::escape_control(path)
    )))
}

/// The access policies kept beside the store of `url` (their tables created if missing).
pub(crate) async fn access_policies(
    url: &str,
) -> Result<Arc<dyn activity_core::access::AccessPolicyStore>, Failure> {
    Ok(crate::open_access_policies(url).await?)
}

/// The operator running the command: `$USER`, control characters dropped.
pub(crate) fn operator() -> Actor {
    let name = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    Actor::new(if name.is_empty() {
        "operator".to_string()
    } else {
        name
    })
    .with_kind("operator")
}
