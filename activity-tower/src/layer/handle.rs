//! [`ActivityHandle`]: how a handler records events with its request's context.

use std::fmt;
use std::sync::Arc;

use activity_core::{event::SessionKey, Action, ActivityEvent, Actor, Recorder};
#[cfg(feature = "axum")]
use http::request::Parts;

use super::context::RequestContext;

/// Records events from a handler with the request's context filled in. The layer puts
/// one in every request's extensions; with the `axum` feature it is also an extractor.
///
/// ```no_run
/// # #[cfg(feature = "axum")] {
/// use activity_core::{ActivityEvent, Actor};
/// use activity_tower::ActivityHandle;
///
/// async fn enrol_totp(activity: ActivityHandle) -> &'static str {
///     activity.record(ActivityEvent::mfa_enrolled(Actor::user("u_1")).with_detail("method", "totp"));
///     "ok"
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct ActivityHandle {
    recorder: Recorder,
    context: Arc<RequestContext>,
    session_key: Option<SessionKey>,
}

impl fmt::Debug for ActivityHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivityHandle")
            .field("context", &self.context)
            .finish()
    }
}

impl ActivityHandle {
    pub(crate) fn new(
        recorder: Recorder,
        context: Arc<RequestContext>,
        session_key: Option<SessionKey>,
    ) -> Self {
        Self {
            recorder,
            context,
            session_key,
        }
    }

    /// The request's context.
    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    /// Records `event` with every empty context field filled in. Never waits; a refused
    /// event (queue full, recorder closed) is logged and returned as the error.
    ///
    /// # Errors
    /// As [`Recorder::record`].
    pub fn record(&self, event: ActivityEvent) -> activity_core::Result<()> {
        let result = self.recorder.record(self.context.fill(event));
        if let Err(e) = &result {
            tracing::error!(error = %e, "activity event not recorded");
        }
        result
    }

    /// An event of `action` with the context filled in, to complete and record.
    pub fn event(&self, action: Action) -> ActivityEvent {
        self.context.event(action)
    }

    /// The keyed hash of a raw session id, under the layer's session key (`None` when
    /// the layer has no key).
    pub fn hash_session(&self, raw_session_id: &str) -> Option<String> {
        self.session_key.as_ref().map(|k| k.hash(raw_session_id))
    }

    /// Records `session.expired` for `actor`'s session `raw_session_id` (hashed).
    ///
    /// # Errors
    /// As [`Recorder::record`].
    pub fn session_expired(&self, actor: Actor, raw_session_id: &str) -> activity_core::Result<()> {
        let mut e = ActivityEvent::session_expired(actor);
        e.session = self.hash_session(raw_session_id);
        self.record(e)
    }

    /// The recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ActivityHandle {
    type Rejection = (http::StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<ActivityHandle>().cloned().ok_or((
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "ActivityHandle missing: add ActivityLayer to the router",
        ))
    }
}
