//! The configuration file (`activity.toml`); see `activity.example.toml`.

use std::path::{Path, PathBuf};

use activity_core::{
    alerts::AnonymousIpAction, alerts::FailedLogins, alerts::GeoAnomaly, enrich::AnonymousKind,
    lockout::LockoutConfig,
};
use serde::Deserialize;

use super::time::parse_duration;

/// The whole file. Every section is optional; unknown keys are errors.
///
/// ```
/// use activity_sqlx::cli::config::Config;
/// let path = std::env::temp_dir().join(format!("activity-{}.toml", uuid::Uuid::now_v7()));
/// std::fs::write(&path, "[lockout]\nthreshold = 6\n\n[chain]\nwriter = \"nightly\"\n").unwrap();
/// let config = Config::load(Some(&path)).unwrap();
/// assert_eq!(config.lockout.threshold, Some(6));
/// assert_eq!(config.chain.writer.as_deref(), Some("nightly"));
/// assert!(config.retention.tenants.is_empty()); // absent sections take their defaults
/// // A misspelt key is an error naming it, not silently ignored.
/// std::fs::write(&path, "[lockout]\nthreshhold = 6\n").unwrap();
/// let typo = Config::load(Some(&path));
/// std::fs::remove_file(&path).unwrap();
/// assert!(typo.unwrap_err().contains("threshhold"));
/// // A file named explicitly must exist.
/// assert!(Config::load(Some(&path)).is_err());
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// GeoIP databases.
    #[serde(default)]
    pub geoip: GeoipSection,
    /// Retention tiers, custom durations and legal holds.
    #[serde(default)]
    pub retention: RetentionSection,
    /// Alert thresholds.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Lockout policy.
    #[serde(default)]
    pub lockout: LockoutSection,
    /// Integrity chain.
    #[serde(default)]
    pub chain: ChainConfig,
}

/// A failed-logins threshold.
///
/// ```
/// use activity_sqlx::cli::config::Config;
/// let text = "[alerts.failed_logins]\nthreshold = 3\nwindow = \"10m\"\n";
/// let config: Config = toml::from_str(text).unwrap();
/// assert_eq!(config.alerts.failed_logins.threshold, Some(3));
/// let (per_account, _) = config.failed_logins().unwrap();
/// assert_eq!((per_account.threshold, per_account.window.num_minutes()), (3, 10));
/// // A window that is not a duration is refused when the rule is built.
/// let bad: Config = toml::from_str("[alerts.failed_logins]\nwindow = \"soon\"\n").unwrap();
/// assert!(bad.failed_logins().is_err());
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Failures that raise the alert.
    pub threshold: Option<u64>,
    /// The window, e.g. `15m`.
    pub window: Option<String>,
}

/// `[alerts]`.
///
/// ```
/// use activity_sqlx::cli::config::Config;
/// let config: Config = toml::from_str("[alerts.failed_logins_ip]\nthreshold = 50\n").unwrap();
/// let (per_account, per_ip) = config.failed_logins().unwrap();
/// assert_eq!(per_account.threshold, 5); // not configured: the default
/// assert_eq!((per_ip.threshold, per_ip.window.num_minutes()), (50, 15));
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// `[alerts.failed_logins]`.
    #[serde(default)]
    pub failed_logins: Threshold,
    /// `[alerts.failed_logins_ip]`.
    #[serde(default)]
    pub failed_logins_ip: Threshold,
}

/// `[lockout]`.
///
/// ```
/// use activity_sqlx::cli::config::Config;
/// let text = "[lockout]\nthreshold = 5\nmax_cool_off = \"12h\"\npermanent_after = 3\n";
/// let lockout = toml::from_str::<Config>(text).unwrap().lockout().unwrap();
/// assert_eq!((lockout.threshold, lockout.permanent_after), (5, Some(3)));
/// assert_eq!(lockout.max_cool_off.num_hours(), 12);
/// assert_eq!(lockout.cool_off.num_minutes(), 30); // not configured: the default
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSection {
    /// Failures that lock.
    pub threshold: Option<u64>,
    /// Window, e.g. `15m`.
    pub window: Option<String>,
    /// First lock's length, e.g. `30m`.
    pub cool_off: Option<String>,
    /// Longest lock, e.g. `24h`.
    pub max_cool_off: Option<String>,
    /// Permanent after this many locks in a day.
    pub permanent_after: Option<u64>,
}

/// `[geoip]`.
///
/// ```
/// use activity_core::{alerts::AnonymousIpAction, enrich::AnonymousKind};
/// use activity_sqlx::cli::config::Config;
/// let text = "[geoip]\nanonymous_ip_action = \"suppress\"\nanonymous_kinds = [\"tor\"]\n";
/// let config: Config = toml::from_str(text).unwrap();
/// assert!(config.geoip.city.is_none());
/// let rule = config.geo_anomaly().unwrap();
/// assert_eq!(rule.anonymous_ip, AnonymousIpAction::Suppress);
/// assert_eq!(rule.anonymous_kinds, vec![AnonymousKind::Tor]);
/// let bad: Config = toml::from_str("[geoip]\nanonymous_ip_action = \"drop\"\n").unwrap();
/// assert!(bad.geo_anomaly().is_err());
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipSection {
    /// A GeoIP2 / GeoLite2 City database: events are enriched with its locations.
    pub city: Option<PathBuf>,
    /// A GeoIP2 Anonymous-IP database: logins through VPNs, Tor, hosting networks or
    /// proxies are marked in `details.ip_anonymous`.
    pub anonymous_ip: Option<PathBuf>,
    /// What `geo_anomaly` does with such a login: `mark` (default), `suppress` or
    /// `ignore`.
    pub anonymous_ip_action: Option<String>,
    /// The kinds that count for that (default all): `vpn`, `tor`, `hosting`,
    /// `public_proxy`, `residential_proxy`, `anonymous`.
    pub anonymous_kinds: Option<Vec<String>>,
}

/// A tenant's retention: a tier name or `{ days = N }`.
///
/// ```
/// use activity_sqlx::cli::config::{Config, TenantRetention};
/// let text = "[retention]\ntenants = { acme = \"enterprise\", beta = { days = 30 } }\n";
/// let config: Config = toml::from_str(text).unwrap();
/// let tenants = &config.retention.tenants;
/// assert_eq!(tenants["acme"], TenantRetention::Tier("enterprise".into()));
/// assert_eq!(tenants["beta"], TenantRetention::Days { days: 30 });
/// // Zero days is refused when the policy is built.
/// let zero: Config = toml::from_str("[retention]\ntenants = { gamma = { days = 0 } }\n").unwrap();
/// assert!(zero.retention().is_err());
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum TenantRetention {
    /// `small_business`, `medium_business` or `enterprise`.
    Tier(String),
    /// A custom number of days.
    Days {
        /// Days to keep.
        days: u32,
    },
}

/// `[retention]`.
///
/// ```
/// use activity_sqlx::cli::config::Config;
/// let text = "[retention]\ndefault_tier = \"medium_business\"\n\
///             tenants = { beta = { days = 30 } }\nlegal_holds = [\"held-corp\"]\n";
/// let policy = toml::from_str::<Config>(text).unwrap().retention().unwrap();
/// assert_eq!(policy.retention_for(Some("beta")).unwrap().num_days(), 30);
/// assert_eq!(policy.retention_for(None).unwrap().num_days(), 365); // the default tier
/// assert!(policy.retention_for(Some("held-corp")).is_none()); // legal hold: never purged
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// The tier of tenants not listed (default `small_business`).
    pub default_tier: Option<String>,
    /// Per-tenant tiers or custom durations.
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, TenantRetention>,
    /// Tenants under legal hold: never purged.
    #[serde(default)]
    pub legal_holds: Vec<String>,
    /// A directory of archives: `purge` deletes nothing while some expired event is in
    /// no verified archive there.
    pub require_archive: Option<PathBuf>,
}

/// `[chain]`.
///
/// ```
/// use activity_sqlx::cli::config::Config;
/// let key = std::env::temp_dir().join(format!("activity-{}.key", uuid::Uuid::now_v7()));
/// std::fs::write(&key, "s3cret-chain-key\n").unwrap();
/// let text = format!("[chain]\nkey_file = '{}'\nwriter = \"nightly\"\n", key.display());
/// let config: Config = toml::from_str(&text).unwrap();
/// std::env::remove_var("ACTIVITY_CHAIN_KEY"); // when set, it wins over key_file
/// let read = config.chain_key();
/// std::fs::remove_file(&key).unwrap();
/// assert_eq!(read.unwrap(), Some(b"s3cret-chain-key".to_vec())); // trimmed
/// assert_eq!(config.chain.writer.as_deref(), Some("nightly"));
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// A file holding the chain's HMAC key (or set `ACTIVITY_CHAIN_KEY`).
    pub key_file: Option<PathBuf>,
    /// The writer name for events this command seals (default `activity-cli`).
    pub writer: Option<String>,
    /// A file holding the Ed25519 signing key of checkpoints and archive manifests, 64
    /// hex digits (or set `ACTIVITY_SIGNING_KEY`); `activity checkpoint keygen` makes one.
    pub signing_key_file: Option<PathBuf>,
}

impl Config {
    /// Reads `path`; or `activity.toml` when no path is given and that file exists; or
    /// the defaults.
    ///
    /// ```
    /// use activity_sqlx::cli::config::Config;
    /// let path = std::env::temp_dir().join(format!("activity-{}.toml", uuid::Uuid::now_v7()));
    /// std::fs::write(&path, "[chain]\nwriter = \"nightly\"\n").unwrap();
    /// let config = Config::load(Some(&path)).unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// assert_eq!(config.chain.writer.as_deref(), Some("nightly"));
    /// ```
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("activity.toml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default())
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let c: Config =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        c.geo_anomaly()?;
        Ok(c)
    }

    /// The chain key from `ACTIVITY_CHAIN_KEY` or `key_file`.
    ///
    /// ```
    /// use activity_sqlx::cli::config::Config;
    /// let key = std::env::temp_dir().join(format!("activity-{}.key", uuid::Uuid::now_v7()));
    /// std::fs::write(&key, "s3cret\n").unwrap();
    /// let config: Config = toml::from_str(&format!("[chain]\nkey_file = {:?}\n", key)).unwrap();
    /// if std::env::var("ACTIVITY_CHAIN_KEY").is_err() {
    ///     assert_eq!(config.chain_key().unwrap(), Some(b"s3cret".to_vec())); // trimmed
    /// }
    /// std::fs::remove_file(&key).unwrap();
    /// ```
    pub fn chain_key(&self) -> Result<Option<Vec<u8>>, String> {
        if let Ok(k) = std::env::var("ACTIVITY_CHAIN_KEY") {
            return Ok(Some(k.into_bytes()));
        }
        if let Some(f) = &self.chain.key_file {
            let k = std::fs::read(f).map_err(|e| format!("chain key file {}: {e}", f.display()))?;
            return Ok(Some(k.trim_ascii().to_vec()));
        }
        Ok(None)
    }

    /// The signing key of checkpoints and manifests, from `ACTIVITY_SIGNING_KEY` or
    /// `signing_key_file`.
    ///
    /// ```
    /// use activity_sqlx::cli::config::Config;
    /// let key = std::env::temp_dir().join(format!("activity-{}.key", uuid::Uuid::now_v7()));
    /// std::fs::write(&key, format!("{}\n", "07".repeat(32))).unwrap();
    /// let config: Config = toml::from_str(&format!("[chain]\nsigning_key_file = {:?}\n", key)).unwrap();
    /// if std::env::var("ACTIVITY_SIGNING_KEY").is_err() {
    ///     assert!(config.signing_key().unwrap().is_some());
    /// }
    /// std::fs::write(&key, "not a key").unwrap();
    /// if std::env::var("ACTIVITY_SIGNING_KEY").is_err() {
    ///     assert!(config.signing_key().is_err());
    /// }
    /// std::fs::remove_file(&key).unwrap();
    /// ```
    pub fn signing_key(&self) -> Result<Option<activity_core::signed::SigningKey>, String> {
        use activity_core::signed::SigningKey;
        if let Ok(k) = std::env::var("ACTIVITY_SIGNING_KEY") {
            return SigningKey::from_hex(&k)
                .map(Some)
                .map_err(|e| format!("ACTIVITY_SIGNING_KEY: {e}"));
        }
        if let Some(f) = &self.chain.signing_key_file {
            return SigningKey::read(f)
                .map(Some)
                .map_err(|e| format!("signing key file {}: {e}", f.display()));
        }
        Ok(None)
    }

    fn apply(t: &Threshold, mut rule: FailedLogins) -> Result<FailedLogins, String> {
        if let Some(n) = t.threshold {
            rule.threshold = n;
        }
        if let Some(w) = &t.window {
            rule.window = parse_duration(w)?;
        }
        Ok(rule)
    }

    /// The failed-logins rules with the file's thresholds.
    ///
    /// ```
    /// use activity_sqlx::cli::config::Config;
    /// let config: Config = toml::from_str("[alerts.failed_logins_ip]\nthreshold = 50\n").unwrap();
    /// let (per_account, per_ip) = config.failed_logins().unwrap();
    /// assert_eq!(per_ip.threshold, 50);
    /// assert_eq!(per_account.threshold, activity_core::alerts::FailedLogins::default().threshold);
    /// ```
    pub fn failed_logins(&self) -> Result<(FailedLogins, FailedLogins), String> {
        Ok((
            Self::apply(&self.alerts.failed_logins, FailedLogins::default())?,
            Self::apply(&self.alerts.failed_logins_ip, FailedLogins::per_ip())?,
        ))
    }

    /// The `geo_anomaly` rule with `[geoip]`'s anonymous-IP settings.
    ///
    /// ```
    /// use activity_sqlx::cli::config::Config;
    /// let config: Config = toml::from_str("[geoip]\nanonymous_ip_action = \"suppress\"\n").unwrap();
    /// assert_eq!(config.geo_anomaly().unwrap().anonymous_ip, activity_core::alerts::AnonymousIpAction::Suppress);
    /// let bad: Config = toml::from_str("[geoip]\nanonymous_ip_action = \"shrug\"\n").unwrap();
    /// assert!(bad.geo_anomaly().is_err());
    /// ```
    pub fn geo_anomaly(&self) -> Result<GeoAnomaly, String> {
        let g = &self.geoip;
        let mut rule = GeoAnomaly::default();
        if let Some(a) = &g.anonymous_ip_action {
            rule.anonymous_ip = AnonymousIpAction::parse(a).ok_or_else(|| {
                format!("[geoip] anonymous_ip_action: {a:?} is not one of mark, suppress, ignore")
            })?;
        }
        if let Some(kinds) = &g.anonymous_kinds {
            rule.anonymous_kinds = kinds
                .iter()
                .map(|k| {
                    AnonymousKind::parse(k).ok_or_else(|| {
                        format!("[geoip] anonymous_kinds: {k:?} is not one of vpn, tor, hosting, public_proxy, residential_proxy, anonymous")
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(rule)
    }

    /// The retention policy.
    ///
    /// ```
    /// use activity_sqlx::cli::config::Config;
    /// let config: Config = toml::from_str("[retention]\nlegal_holds = [\"acme\"]\n").unwrap();
    /// assert!(config.retention().is_ok());
    /// let bad: Config = toml::from_str("[retention]\ndefault_tier = \"forever\"\n").unwrap();
    /// assert!(bad.retention().is_err());
    /// ```
    pub fn retention(&self) -> Result<activity_core::retention::RetentionPolicy, String> {
        use activity_core::{retention::Retention, retention::RetentionPolicy, retention::Tier};
        let r = &self.retention;
        let tier = |s: &str| Tier::parse(s).map_err(|e| format!("[retention]: {e}"));
        let default = Retention::Tier(tier(r.default_tier.as_deref().unwrap_or("small_business"))?);
        let mut p = RetentionPolicy::new(default);
        for (t, v) in &r.tenants {
            p = p.tenant(
                t.clone(),
                match v {
                    TenantRetention::Tier(s) => Retention::Tier(tier(s)?),
                    TenantRetention::Days { days } if *days > 0 => Retention::Days(*days),
                    TenantRetention::Days { .. } => {
                        return Err(format!("[retention] {t}: days must be at least 1"))
                    }
                },
            );
        }
        for h in &r.legal_holds {
            p = p.hold(h.clone());
        }
        Ok(p)
    }

    /// The lockout settings.
    ///
    /// ```
    /// use activity_sqlx::cli::config::Config;
    /// let config: Config = toml::from_str("[lockout]\nthreshold = 6\ncool_off = \"30m\"\n").unwrap();
    /// let l = config.lockout().unwrap();
    /// assert_eq!((l.threshold, l.cool_off.num_minutes()), (6, 30));
    /// ```
    pub fn lockout(&self) -> Result<LockoutConfig, String> {
        let mut c = LockoutConfig::default();
        let l = &self.lockout;
        if let Some(n) = l.threshold {
            c.threshold = n;
        }
        if let Some(w) = &l.window {
            c.window = parse_duration(w)?;
        }
        if let Some(w) = &l.cool_off {
            c.cool_off = parse_duration(w)?;
        }
        if let Some(w) = &l.max_cool_off {
            c.max_cool_off = parse_duration(w)?;
        }
        c.permanent_after = l.permanent_after;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_applies() {
        let c: Config = toml::from_str(include_str!("../../../activity.example.toml")).unwrap();
        let (user, ip) = c.failed_logins().unwrap();
        assert_eq!((user.threshold, user.window.num_minutes()), (5, 15));
        assert_eq!(ip.threshold, 20);
        assert_eq!(c.lockout().unwrap().threshold, 10);
        let geo = c.geo_anomaly().unwrap();
        assert_eq!(geo.anonymous_ip, AnonymousIpAction::Mark);
        assert_eq!(geo.anonymous_kinds.len(), 6);
        let r = c.retention().unwrap();
        assert_eq!(r.retention_for(Some("beta")).unwrap().num_days(), 30);
        assert!(r.retention_for(Some("held-corp")).is_none());
    }

    #[test]
    fn anonymous_ip_settings() {
        let c: Config = toml::from_str(
            "[geoip]\nanonymous_ip = \"anon.mmdb\"\nanonymous_ip_action = \"suppress\"\nanonymous_kinds = [\"vpn\", \"tor\"]\n",
        )
        .unwrap();
        let rule = c.geo_anomaly().unwrap();
        assert_eq!(rule.anonymous_ip, AnonymousIpAction::Suppress);
        assert_eq!(
            rule.anonymous_kinds,
            vec![AnonymousKind::Vpn, AnonymousKind::Tor]
        );
        let default = Config::default().geo_anomaly().unwrap();
        assert_eq!(default.anonymous_ip, AnonymousIpAction::Mark);
        assert_eq!(default.anonymous_kinds.len(), AnonymousKind::ALL.len());
        for bad in [
            "[geoip]\nanonymous_ip_action = \"drop\"\n",
            "[geoip]\nanonymous_kinds = [\"vpn\", \"martian\"]\n",
        ] {
            let c: Config = toml::from_str(bad).unwrap();
            assert!(c.geo_anomaly().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[lockout]\nthreshhold = 3\n").is_err());
    }
}
