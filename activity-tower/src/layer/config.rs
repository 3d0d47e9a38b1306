//! [`Config`]: everything [`ActivityLayer`](crate::ActivityLayer)'s builder sets and
//! [`ActivityService`](super::ActivityService) reads. Shared behind an `Arc` by the layer
//! and every service it makes; `Clone` so that configuring a clone of a layer copies it
//! instead of failing.

use std::sync::Arc;
use std::time::Duration;

use activity_core::{event::SessionKey, lockout::LockoutCheck, lockout::NeverLock, Recorder};
use http::StatusCode;

use super::actor::ActorSource;
use super::client_ip::TrustedProxies;
use super::device_cookie::DeviceKey;
use super::rules::RouteRule;
use super::scheme::SecureCookie;
use super::tenant::TenantSource;
use super::warn_once::Warnings;

#[derive(Clone)]
pub(crate) struct Config {
    pub recorder: Recorder,
    pub rules: Vec<RouteRule>,
    pub trusted: TrustedProxies,
    pub actor: ActorSource,
    pub body_limit: usize,
    pub tenant: TenantSource,
    pub device_cookie: String,
    pub device_max_age: Duration,
    /// The device cookie's signing key; `None`: the process's random one.
    pub device_key: Option<DeviceKey>,
    pub device_secure: SecureCookie,
    pub session: Option<SessionCookie>,
    pub lockout: Arc<dyn LockoutCheck>,
    pub locked_status: StatusCode,
    pub locked_retry_after: Duration,
    pub unavailable_retry_after: Duration,
    /// Let an attempt through when the lockout cannot be asked (default: 503).
    pub lockout_fail_open: bool,
    /// The access policies enforced before handlers, if any.
    pub access: Option<super::access::AccessGate>,
    pub ack: super::ack::AckConfig,
    /// The setup mistakes already reported (shared by clones: once per layer).
    pub warned: Arc<Warnings>,
}

impl Config {
    /// The defaults, recording into `recorder`.
    pub fn new(recorder: Recorder) -> Self {
        Self {
            // The lockout registered with the recorder (`RecorderBuilder::lockout`), if any.
            lockout: recorder
                .lockout_check()
                .unwrap_or_else(|| Arc::new(NeverLock)),
            recorder,
            rules: Vec::new(),
            trusted: TrustedProxies::none(),
            actor: ActorSource::default(),
            body_limit: 16 * 1024,
            tenant: TenantSource::None,
            device_cookie: "activity_device".into(),
            device_max_age: Duration::from_secs(400 * 24 * 3600),
            device_key: None,
            device_secure: SecureCookie::Auto,
            session: None,
            locked_status: StatusCode::LOCKED,
            locked_retry_after: Duration::from_secs(900),
            unavailable_retry_after: Duration::from_secs(30),
            lockout_fail_open: false,
            access: None,
            ack: super::ack::AckConfig::default(),
            warned: Arc::default(),
        }
    }
}

impl Config {
    /// The key device cookies are signed and checked with.
    pub fn device_key(&self) -> &DeviceKey {
        self.device_key
            .as_ref()
            .unwrap_or_else(|| DeviceKey::per_process())
    }
}

/// The app's session cookie and the key its values are hashed with.
#[derive(Clone)]
pub(crate) struct SessionCookie {
    pub name: String,
    pub key: SessionKey,
}
