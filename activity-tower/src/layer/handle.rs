//! [`ActivityHandle`]: how a handler records events with its request's context.

use std::fmt;
use std::sync::{Arc, Mutex};

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
    /// Who a layer inside this one (a session library's) said is signed in.
    identified: Arc<Mutex<Option<Actor>>>,
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
        identified: Arc<Mutex<Option<Actor>>>,
    ) -> Self {
        Self {
            recorder,
            context,
            session_key,
            identified,
        }
    }

    /// Names who is signed in, from inside the layer: for a session library's layer that
    /// sits inside [`ActivityLayer`](crate::ActivityLayer) (as it must, for the layer to
    /// see the session cookie it sets on a login), so that the signed-in user was not
    /// yet known when the layer read the request. The route's event (a logout, an MFA
    /// step, a password change) and the events recorded with this handle carry the
    /// actor, unless they name one already; a sign-in's subject stays the identifier
    /// typed in its body.
    ///
    /// ```
    /// # use std::{convert::Infallible, sync::Arc};
    /// use activity_core::{Action, ActivityQuery, ActivityStore, Actor, MemoryStore, Recorder};
    /// use activity_tower::layer::PrefixedBody;
    /// use activity_tower::{ActivityHandle, ActivityLayer, RouteKind, RouteRule};
    /// use http::{Request, Response};
    /// use tower::{Layer, ServiceExt};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let (recorder, guard) = Recorder::builder(store.clone()).start();
    /// let layer = ActivityLayer::new(recorder.clone()).rule(RouteRule::post("/logout", RouteKind::Logout));
    /// // What a session library's middleware does once it has loaded the session:
    /// let app = layer.layer(tower::service_fn(|req: Request<PrefixedBody<String>>| async move {
    ///     req.extensions().get::<ActivityHandle>().unwrap().identify(Actor::user("u_1"));
    ///     Ok::<_, Infallible>(Response::new(String::new()))
    /// }));
    /// app.oneshot(Request::post("/logout").body(String::new()).unwrap()).await.unwrap();
    /// recorder.flush().await.unwrap();
    /// let page = store.query(&ActivityQuery::own(None, "u_1").action("auth")).await.unwrap();
    /// assert_eq!(page.events[0].action, Action::LOGOUT);
    /// # guard.shutdown().await;
    /// # });
    /// ```
    pub fn identify(&self, actor: Actor) {
        *self.identified.lock().unwrap_or_else(|p| p.into_inner()) = Some(actor);
    }

    /// The actor [`identify`](Self::identify) named, if any.
    pub fn identified(&self) -> Option<Actor> {
        self.identified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
        let event = self.filled(event);
        Self::logged(self.recorder.record(event))
    }

    /// [`record`](Self::record) for the SDK's own components (the views' `audit.*`):
    /// through [`Recorder::record_reserved`].
    pub(crate) fn record_reserved(&self, event: ActivityEvent) -> activity_core::Result<()> {
        let event = self.filled(event);
        Self::logged(self.recorder.record_reserved(event))
    }

    fn filled(&self, mut event: ActivityEvent) -> ActivityEvent {
        if event.actor.is_none() && self.context.actor.is_none() {
            event.actor = self.identified();
        }
        self.context.fill(event)
    }

    fn logged(result: activity_core::Result<()>) -> activity_core::Result<()> {
        if let Err(e) = &result {
            tracing::error!(error = %e, "activity event not recorded");
        }
        result
    }

    /// An event of `action` with the context filled in, to complete and record.
    pub fn event(&self, action: Action) -> ActivityEvent {
        let mut e = self.context.event(action);
        if e.actor.is_none() {
            e.actor = self.identified();
        }
        e
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
