//! Finding the actor of a request: an extension, a header, a closure, or the one
//! identifier field of a form or JSON body. No other body field is ever kept.

use std::fmt;
use std::sync::Arc;

use activity_core::text::truncate;
use activity_core::{limits, Actor};
use http::request::Parts;

use super::extensions::AuthenticatedActor;

/// A closure naming the actor from the request head.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::Actor;
/// use activity_tower::layer::ActorFn;
/// let from_header: ActorFn = Arc::new(|parts| {
///     let id = parts.headers.get("x-user-id")?.to_str().ok()?;
///     Some(Actor::user(id))
/// });
/// let (parts, ()) = http::Request::get("/").header("x-user-id", "u_7").body(()).unwrap().into_parts();
/// assert_eq!(from_header(&parts).unwrap().id, "u_7");
/// ```
pub type ActorFn = Arc<dyn Fn(&Parts) -> Option<Actor> + Send + Sync>;

/// How the layer learns who is acting, tried in order: the [`AuthenticatedActor`]
/// extension, the header, the closure, then the identifier field of the body.
///
/// On a sign-in route ([`RouteKind::Login`](crate::RouteKind::Login)) only the body's
/// identifier field (or the handler's [`OutcomeHint`](crate::OutcomeHint)) names the
/// subject: whoever is signed in already is not the one signing in. The identifier is
/// normalised by the lockout's normaliser; the typed value is kept as the actor's name.
///
/// It is configured through [`ActivityLayer`](crate::ActivityLayer)'s
/// [`actor_header`](crate::ActivityLayer::actor_header),
/// [`actor_fn`](crate::ActivityLayer::actor_fn),
/// [`identifier_field`](crate::ActivityLayer::identifier_field) and
/// [`identifier_from_handler`](crate::ActivityLayer::identifier_from_handler); handlers
/// see the actor it found in their [`ActivityHandle`](crate::ActivityHandle)'s context.
///
/// ```
/// # use std::{convert::Infallible, sync::Arc};
/// use activity_core::Actor;
/// use activity_tower::layer::PrefixedBody;
/// use activity_tower::{ActivityHandle, ActivityLayer, AuthenticatedActor};
/// use http::{HeaderName, Request, Response};
/// use tower::{Layer, ServiceExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
/// let layer = ActivityLayer::new(recorder)
///     .actor_header(HeaderName::from_static("x-user-id"))
///     .actor_fn(|_parts| Some(Actor::user("from_closure")));
/// // A handler answering with the actor's id.
/// let app = layer.layer(tower::service_fn(|req: Request<PrefixedBody<String>>| async move {
///     let actor = req.extensions().get::<ActivityHandle>().unwrap().context().actor.clone();
///     Ok::<_, Infallible>(Response::new(actor.map(|a| a.id).unwrap_or_default()))
/// }));
/// let request = || Request::get("/").header("x-user-id", "u_7").body(String::new()).unwrap();
///
/// let res = app.clone().oneshot(Request::new(String::new())).await.unwrap();
/// assert_eq!(res.into_body(), "from_closure");
/// let res = app.clone().oneshot(request()).await.unwrap();
/// assert_eq!(res.into_body(), "u_7"); // the header comes before the closure
/// let mut req = request();
/// req.extensions_mut().insert(AuthenticatedActor(Actor::user("u_1")));
/// let res = app.oneshot(req).await.unwrap();
/// assert_eq!(res.into_body(), "u_1"); // and the app's own authentication first
/// # guard.shutdown().await;
/// # });
/// ```
#[derive(Clone)]
pub struct ActorSource {
    pub(crate) header: Option<http::HeaderName>,
    pub(crate) func: Option<ActorFn>,
    /// The one body field that holds the sign-in identifier; `None`: only the handler
    /// names the account.
    pub(crate) field: Option<String>,
}

impl Default for ActorSource {
    fn default() -> Self {
        Self {
            header: None,
            func: None,
            field: Some("username".into()),
        }
    }
}

impl fmt::Debug for ActorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorSource")
            .field("header", &self.header)
            .field("func", &self.func.is_some())
            .field("field", &self.field)
            .finish()
    }
}

impl ActorSource {
    pub(crate) fn actor_in_parts(&self, parts: &Parts) -> Option<Actor> {
        if let Some(AuthenticatedActor(a)) = parts.extensions.get::<AuthenticatedActor>() {
            return Some(a.clone());
        }
        if let Some(h) = &self.header {
            if let Some(v) = parts.headers.get(h).and_then(|v| v.to_str().ok()) {
                let v = v.trim();
                if !v.is_empty() {
                    return Some(Actor::user(truncate(v, limits::ID).to_owned()));
                }
            }
        }
        self.func.as_ref().and_then(|f| f(parts))
    }

    /// Whether the body can be read for this request (a form or JSON).
    pub(crate) fn body_kind(&self, parts: &Parts) -> Option<BodyKind> {
        let ct = parts
            .headers
            .get(http::header::CONTENT_TYPE)?
            .to_str()
            .ok()?;
        let mime = ct.split(';').next()?.trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/x-www-form-urlencoded" => Some(BodyKind::Form),
            "application/json" => Some(BodyKind::Json),
            m if m.ends_with("+json") => Some(BodyKind::Json),
            _ => None,
        }
    }
}

/// A body the layer can read the actor from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Form,
    Json,
}
