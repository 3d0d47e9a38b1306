//! The event: schema v1 of DESIGN.md.

mod action;
mod identifier;
mod parse;
mod parts;
pub mod payload;
mod session_key;
mod validate;

use std::net::IpAddr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

pub(crate) use action::check_code_segments;
pub use action::{Action, MAX_ACTION_LEN};
pub use identifier::{DefaultNormalizer, Normalize};
pub use parse::parse_time;
pub use parts::{Actor, ChainLink, Geo, Outcome, Source, Target};
pub use session_key::{SessionKey, MIN_SESSION_KEY_LEN};
pub use validate::limits;
pub(crate) use validate::text as check_text;

use crate::error::Result;

/// One entry of the activity log (schema v1).
///
/// Build one with a typed constructor and builder methods; the id (UUID v7) and time are
/// set at construction and can be overridden:
///
/// ```
/// use activity_core::{ActivityEvent, Actor, Outcome, Source};
/// let e = ActivityEvent::login_failed(Actor::user("u_123").with_name("alice@example.com"))
///     .with_reason("bad_password")
///     .with_tenant("acme")
///     .with_source(Source::ip("81.2.69.142".parse().unwrap()))
///     .with_detail("method", "password");
/// assert_eq!(e.outcome, Outcome::Failure);
/// assert_eq!(e.action.as_str(), "auth.login.failed");
/// e.validate().unwrap();
///
/// let json = serde_json::to_string(&e).unwrap();
/// let back: ActivityEvent = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, e);
/// ```
///
/// Deserialising validates (see [`ActivityEvent::from_json`] for a typed error), so a value
/// read from JSON always satisfies [`ActivityEvent::validate`]. Times are kept to the
/// microsecond, the precision every backend stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct ActivityEvent {
    /// Unique id, UUID v7 when generated here.
    pub id: Uuid,
    /// When it happened, UTC, microsecond precision.
    #[serde(serialize_with = "serialize_time")]
    pub time: DateTime<Utc>,
    /// Tenant (organisation) the event belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// What happened.
    pub action: Action,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// Machine-readable reason, e.g. `bad_password`, `locked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who did it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// What it was done to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Keyed hash of the session identifier (never the raw token); see [`SessionKey`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Request id, for correlation with application logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// App-defined fields (a JSON object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Map<String, Value>>,
    /// Integrity chain position, set by the recorder's sealing stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainLink>,
}

/// Serialises a time as RFC 3339 UTC with milliseconds, or microseconds when they are not zero.
pub(crate) fn serialize_time<S: Serializer>(
    t: &DateTime<Utc>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

/// Formats a time the way events carry it: `2026-11-24T06:30:00.123Z`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let t = Utc.with_ymd_and_hms(2026, 11, 24, 6, 30, 0).unwrap();
/// assert_eq!(activity_core::event::format_time(&t), "2026-11-24T06:30:00.000Z");
/// ```
pub fn format_time(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, SecondsFormat, Timelike};
    let micros = t.timestamp_subsec_micros();
    let millis_only = micros.is_multiple_of(1000);
    let (year, time) = (t.year(), t.time());
    if !(0..=9999).contains(&year) || micros >= 1_000_000 {
        // Years chrono writes with a sign, and leap seconds: its own formatter.
        let format = if millis_only {
            SecondsFormat::Millis
        } else {
            SecondsFormat::Micros
        };
        return t.to_rfc3339_opts(format, true);
    }
    // The common case by hand: this runs for every exported and verified row.
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, time.hour());
    put(14, 2, time.minute());
    put(17, 2, time.second());
    let len = if millis_only {
        put(20, 3, micros / 1000);
        b[23] = b'Z';
        24
    } else {
        put(20, 6, micros);
        27
    };
    String::from_utf8_lossy(&b[..len]).into_owned()
}

/// The current time truncated to the microsecond.
pub(crate) fn now_micros() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $fn:ident => $action:ident, $outcome:ident;)*) => {
        impl ActivityEvent {
            $(
                $(#[$doc])*
                pub fn $fn(actor: Actor) -> Self {
                    Self::new(Action::$action).with_outcome(Outcome::$outcome).with_actor(actor)
                }
            )*
        }
    };
}

constructors! {
    /// `auth.login.succeeded`, outcome success.
    login_succeeded => LOGIN_SUCCEEDED, Success;
    /// `auth.login.failed`, outcome failure; add the reason with [`with_reason`](Self::with_reason).
    login_failed => LOGIN_FAILED, Failure;
    /// `auth.logout`, outcome success.
    logout => LOGOUT, Success;
    /// `mfa.enrolled`: a second factor was set up.
    mfa_enrolled => MFA_ENROLLED, Success;
    /// `mfa.updated`: a second factor was modified.
    mfa_updated => MFA_UPDATED, Success;
    /// `mfa.removed`: a second factor was removed.
    mfa_removed => MFA_REMOVED, Success;
    /// `mfa.verified`: a second-factor challenge passed.
    mfa_verified => MFA_VERIFIED, Success;
    /// `mfa.failed`: a second-factor challenge failed.
    mfa_failed => MFA_FAILED, Failure;
    /// `password.reset.requested`.
    password_reset_requested => PASSWORD_RESET_REQUESTED, Success;
    /// `password.reset.completed`.
    password_reset_completed => PASSWORD_RESET_COMPLETED, Success;
    /// `password.changed`.
    password_changed => PASSWORD_CHANGED, Success;
    /// `session.created`.
    session_created => SESSION_CREATED, Success;
    /// `session.terminated` (logout or revocation).
    session_terminated => SESSION_TERMINATED, Success;
    /// `session.expired`.
    session_expired => SESSION_EXPIRED, Success;
    /// `audit.viewed`: someone read the log (PCI DSS 10.2.1.3).
    audit_viewed => AUDIT_VIEWED, Success;
    /// `audit.exported`: someone exported the log.
    audit_exported => AUDIT_EXPORTED, Success;
    /// `audit.reviewed`: a reviewer signed off a digest.
    audit_reviewed => AUDIT_REVIEWED, Success;
    /// `admin.config.changed`: an administrator changed configuration.
    admin_config_changed => ADMIN_CONFIG_CHANGED, Success;
}

impl ActivityEvent {
    /// A new event with a fresh UUID v7 id, the current time, outcome `unknown`, nothing else.
    pub fn new(action: Action) -> Self {
        Self {
            id: Uuid::now_v7(),
            time: now_micros(),
            tenant: None,
            action,
            outcome: Outcome::Unknown,
            reason: None,
            actor: None,
            target: None,
            source: None,
            session: None,
            request_id: None,
            details: None,
            chain: None,
        }
    }

    /// An app-defined action such as `document.viewed`, outcome success.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) when the code is malformed.
    ///
    /// ```
    /// use activity_core::{ActivityEvent, Actor};
    /// let e = ActivityEvent::custom("document.viewed").unwrap().with_actor(Actor::user("u_1"));
    /// assert_eq!(e.action.category(), "document");
    /// ```
    pub fn custom(code: &str) -> Result<Self> {
        Ok(Self::new(Action::new(code)?).with_outcome(Outcome::Success))
    }

    /// Parses one JSON event with a typed error naming the field and rule.
    ///
    /// # Errors
    /// [`Error::Json`](crate::Error::Json) for text that is not JSON, [`Error::Invalid`](crate::Error::Invalid)
    /// for a field that breaks a rule.
    ///
    /// ```
    /// use activity_core::ActivityEvent;
    /// let e = ActivityEvent::from_json(r#"{"action":"auth.logout","outcome":"success"}"#).unwrap();
    /// assert_eq!(e.action.as_str(), "auth.logout");
    /// let err = ActivityEvent::from_json(r#"{"action":"auth.logout","outcome":"maybe"}"#).unwrap_err();
    /// assert_eq!(err.field(), Some("outcome"));
    /// ```
    pub fn from_json(text: &str) -> Result<Self> {
        let map: Map<String, Value> = serde_json::from_str(text).map_err(crate::Error::Json)?;
        parse::from_map(map)
    }

    /// Parses a JSON value (an object) into an event, with the same checks as [`from_json`](Self::from_json).
    ///
    /// # Errors
    /// As [`from_json`](Self::from_json).
    pub fn from_value(value: Value) -> Result<Self> {
        match value {
            Value::Object(map) => parse::from_map(map),
            _ => Err(crate::Error::invalid("event", crate::Rule::NotAnObject)),
        }
    }

    /// `lockout.triggered` for `account`, with the reason (e.g. `too_many_failures`).
    pub fn lockout_triggered(account: Actor, reason: impl Into<String>) -> Self {
        Self::new(Action::LOCKOUT_TRIGGERED)
            .with_outcome(Outcome::Success)
            .with_actor(account)
            .with_reason(reason)
    }

    /// `lockout.released` for `account`, with why (`expired`, `admin_unlock`, `password_reset`).
    pub fn lockout_released(account: Actor, reason: impl Into<String>) -> Self {
        Self::new(Action::LOCKOUT_RELEASED)
            .with_outcome(Outcome::Success)
            .with_actor(account)
            .with_reason(reason)
    }

    /// `alert.raised`: `rule` at `severity`, with the ids of the events that caused it.
    ///
    /// The rule id is the reason; `details` holds `rule`, `severity` and `evidence`.
    pub fn alert_raised(rule: &str, severity: &str, evidence: &[Uuid]) -> Self {
        Self::alert(&payload::AlertRaised {
            rule: rule.to_owned(),
            severity: severity.to_owned(),
            evidence: evidence.to_vec(),
            message: None,
        })
    }

    /// `alert.raised` carrying `raised` (its rule is the reason), by the system actor.
    ///
    /// ```
    /// use activity_core::event::payload::{AlertRaised, Payload};
    /// use activity_core::ActivityEvent;
    /// let raised = AlertRaised { rule: "new_device".into(), severity: "medium".into(), evidence: vec![], message: Some("new device".into()) };
    /// let e = ActivityEvent::alert(&raised);
    /// assert_eq!(e.reason.as_deref(), Some("new_device"));
    /// assert_eq!(AlertRaised::read(&e), Some(raised));
    /// ```
    pub fn alert(raised: &payload::AlertRaised) -> Self {
        payload::Payload::write(
            raised,
            Self::new(Action::ALERT_RAISED)
                .with_outcome(Outcome::Success)
                .with_actor(Actor::system())
                .with_reason(raised.rule.clone()),
        )
    }

    /// An `audit.*` event about the log itself (`started`, `stopped`, `failed`, `recovered`,
    /// `purged`, `verified`), by the system actor.
    pub fn audit(action: Action, outcome: Outcome) -> Self {
        Self::new(action)
            .with_outcome(outcome)
            .with_actor(Actor::system())
    }

    /// `admin.role.changed`: `admin` changed the role of `target`.
    pub fn admin_role_changed(admin: Actor, target: Target) -> Self {
        Self::new(Action::ADMIN_ROLE_CHANGED)
            .with_outcome(Outcome::Success)
            .with_actor(admin)
            .with_target(target)
    }

    /// `admin.user.unlocked`: `admin` unlocked the account `target`.
    pub fn admin_user_unlocked(admin: Actor, target: Target) -> Self {
        Self::new(Action::ADMIN_USER_UNLOCKED)
            .with_outcome(Outcome::Success)
            .with_actor(admin)
            .with_target(target)
    }

    /// Sets the id.
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Sets the time (truncated to the microsecond).
    pub fn with_time(mut self, time: DateTime<Utc>) -> Self {
        self.time = time.trunc_subsecs(6);
        self
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the outcome.
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Sets the reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the actor.
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets the target.
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Sets the source.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the source address, keeping the rest of the source.
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.source.get_or_insert_with(Source::default).ip = Some(ip);
        self
    }

    /// Sets the session hash; compute it with [`SessionKey::hash`](crate::event::SessionKey::hash).
    pub fn with_session(mut self, session_hash: impl Into<String>) -> Self {
        self.session = Some(session_hash.into());
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Replaces `details` with this object.
    pub fn with_details(mut self, details: Map<String, Value>) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds one field to `details`.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details
            .get_or_insert_with(Map::new)
            .insert(key.into(), value.into());
        self
    }

    /// The actor's id, if there is an actor.
    pub fn actor_id(&self) -> Option<&str> {
        self.actor.as_ref().map(|a| a.id.as_str())
    }

    /// The source address, if known.
    pub fn ip(&self) -> Option<IpAddr> {
        self.source.as_ref().and_then(|s| s.ip)
    }

    /// The device id, if known.
    pub fn device_id(&self) -> Option<&str> {
        self.source.as_ref().and_then(|s| s.device_id.as_deref())
    }

    /// Checks every rule of schema v1 (see [`limits`] for the caps).
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<()> {
        validate::event(self)
    }

    /// Normalises values that have several spellings (IPv4-mapped IPv6 addresses become
    /// IPv4, times are truncated to microseconds, a coordinate of negative zero becomes
    /// zero: SQLite keeps no sign on a zero, and the chain's hash must match what is read
    /// back). Done by parsing and by the recorder.
    ///
    /// ```
    /// use activity_core::{ActivityEvent, Actor, Geo, Source};
    /// let mut e = ActivityEvent::login_succeeded(Actor::user("u_1")).with_source(
    ///     Source::ip("81.2.69.142".parse().unwrap()).with_geo(Geo {
    ///         lon: Some(-0.0),
    ///         ..Geo::default()
    ///     }),
    /// );
    /// e.normalize();
    /// let lon = e.source.unwrap().geo.unwrap().lon.unwrap();
    /// assert!(lon == 0.0 && lon.is_sign_positive());
    /// ```
    pub fn normalize(&mut self) {
        self.time = self.time.trunc_subsecs(6);
        if let Some(source) = self.source.as_mut() {
            if let Some(ip) = source.ip.as_mut() {
                *ip = ip.to_canonical();
            }
            if let Some(geo) = source.geo.as_mut() {
                for c in [&mut geo.lat, &mut geo.lon].into_iter().flatten() {
                    if *c == 0.0 {
                        *c = 0.0;
                    }
                }
            }
        }
    }
}

impl TryFrom<Map<String, Value>> for ActivityEvent {
    type Error = crate::Error;
    fn try_from(map: Map<String, Value>) -> Result<Self> {
        parse::from_map(map)
    }
}
