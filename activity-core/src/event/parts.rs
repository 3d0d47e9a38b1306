//! The parts of an event: outcome, actor, target, source, geo, chain link.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Whether the action succeeded.
///
/// ```
/// use activity_core::{ActivityEvent, ActivityQuery, Actor, Outcome};
/// let failed = ActivityEvent::login_failed(Actor::user("u_1"));
/// assert_eq!(failed.outcome, Outcome::Failure);
/// assert_eq!(failed.outcome.to_string(), "failure");
/// assert!(ActivityQuery::new().outcome(Outcome::Failure).matches(&failed));
/// assert_eq!(Outcome::default(), Outcome::Unknown);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action succeeded.
    Success,
    /// The action failed (wrong password, refused, locked…).
    Failure,
    /// Not known (the server failed before deciding, or the producer did not say).
    #[default]
    Unknown,
}

impl Outcome {
    /// `success`, `failure` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }

    /// Parses `success`, `failure` or `unknown`.
    ///
    /// ```
    /// use activity_core::Outcome;
    /// assert_eq!(Outcome::parse("failure"), Some(Outcome::Failure));
    /// assert_eq!(Outcome::parse("FAILURE"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "unknown" => Some(Outcome::Unknown),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who performed the action.
///
/// `id` is the stable account identifier the log is filtered on (for a failed login by
/// an unknown account, the name that was tried). `name` is for people; `kind` is serialised
/// as `type` (`user`, `admin`, `service`, `system`, or app-defined).
///
/// ```
/// use activity_core::Actor;
/// let a = Actor::user("u_123").with_name("alice@example.com");
/// assert_eq!(a.kind.as_deref(), Some("user"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Stable identifier.
    pub id: String,
    /// Display name, e.g. an e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kind of actor, serialised as `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Actor {
    /// An actor with this id and no name or kind.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            kind: None,
        }
    }

    /// A human user.
    pub fn user(id: impl Into<String>) -> Self {
        Self::new(id).with_kind("user")
    }

    /// The SDK or the host system itself.
    pub fn system() -> Self {
        Self::new("system").with_kind("system")
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the kind (serialised as `type`).
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }
}

/// What the action was done to.
///
/// ```
/// use activity_core::Target;
/// let t = Target::new("user").with_id("u_123");
/// assert_eq!(t.kind, "user");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Kind of target, serialised as `type` (e.g. `user`, `document`, `config`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Target {
    /// A target of this kind.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            id: None,
            name: None,
        }
    }

    /// A user account as target.
    pub fn user(id: impl Into<String>) -> Self {
        Self::new("user").with_id(id)
    }

    /// Sets the identifier.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Where the request came from.
///
/// ```
/// use activity_core::Source;
/// let s = Source::ip("81.2.69.142".parse().unwrap()).with_user_agent("curl/8.0");
/// assert!(s.geo.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Source {
    /// Client address (after trusted-proxy resolution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// User agent, length-capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Device identifier (from the device cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Location, filled in by geo enrichment in the recorder's worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
}

impl Source {
    /// A source with just an address.
    pub fn ip(ip: IpAddr) -> Self {
        Self {
            ip: Some(ip),
            ..Self::default()
        }
    }

    /// Sets the user agent.
    pub fn with_user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Sets the device id.
    pub fn with_device_id(mut self, id: impl Into<String>) -> Self {
        self.device_id = Some(id.into());
        self
    }

    /// Sets the location.
    pub fn with_geo(mut self, geo: Geo) -> Self {
        self.geo = Some(geo);
        self
    }

    /// Whether every field is empty.
    pub fn is_empty(&self) -> bool {
        self.ip.is_none()
            && self.user_agent.is_none()
            && self.device_id.is_none()
            && self.geo.is_none()
    }
}

/// A resolved location.
///
/// ```
/// use activity_core::Geo;
/// let london = Geo { country: Some("GB".into()), city: Some("London".into()),
///                    lat: Some(51.5142), lon: Some(-0.0931), accuracy_km: Some(10) };
/// assert_eq!(london.country.as_deref(), Some("GB"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// City name (English).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Latitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Accuracy radius in kilometres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u32>,
}

/// An event's place in its integrity chain (one chain per tenant and writer).
///
/// Filled in by the recorder's sealing stage, never by producers.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, chain::ChainKey, chain::ChainSealer};
/// let key = ChainKey::unkeyed();
/// let mut sealer = ChainSealer::new("web-1", key.clone());
/// let mut batch = vec![ActivityEvent::logout(Actor::user("u_1")), ActivityEvent::logout(Actor::user("u_2"))];
/// sealer.seal_all(&mut batch);
/// let (first, second) = (batch[0].chain.clone().unwrap(), batch[1].chain.clone().unwrap());
/// assert_eq!((first.seq, first.prev), (1, "0".repeat(64)));
/// assert_eq!((second.seq, &second.prev), (2, &first.hash));
/// assert_eq!(second.writer, sealer.writer());
/// assert_eq!(key.link_hash(&batch[1], 2, &second.prev), second.hash);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The writer (recorder instance) whose chain this is.
    pub writer: String,
    /// Position in the chain, from 1.
    pub seq: u64,
    /// The predecessor's hash (hex), or 64 zeros for the first link.
    pub prev: String,
    /// This event's hash (hex).
    pub hash: String,
}
