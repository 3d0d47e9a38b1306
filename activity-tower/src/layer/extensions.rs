//! What the app tells the layer through extensions: who is signed in and who is connected
//! (on the request), and how the route's attempt ended (on the response).

use std::net::SocketAddr;

use activity_core::{Actor, Outcome};

/// The actor as the app's own authentication layer knows it: insert it as a request
/// extension and the layer (and the handle) use it.
///
/// ```
/// use activity_core::Actor;
/// use activity_tower::AuthenticatedActor;
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(AuthenticatedActor(Actor::user("u_1")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedActor(pub Actor);

/// The peer address, for servers that do not use axum's `ConnectInfo`: insert it as a
/// request extension.
///
/// ```
/// # use std::{convert::Infallible, sync::Arc};
/// use activity_tower::layer::{PeerAddr, PrefixedBody};
/// use activity_tower::{ActivityHandle, ActivityLayer};
/// use http::{Request, Response};
/// use tower::{Layer, ServiceExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let (recorder, guard) = activity_core::Recorder::builder(Arc::new(activity_core::MemoryStore::new())).start();
/// let app = ActivityLayer::new(recorder).layer(tower::service_fn(
///     |req: Request<PrefixedBody<String>>| async move {
///         let ctx = req.extensions().get::<ActivityHandle>().unwrap().context();
///         Ok::<_, Infallible>(Response::new(ctx.ip.map(|ip| ip.to_string()).unwrap_or_default()))
///     },
/// ));
/// // What the server's accept loop knows about the connection:
/// let mut req = Request::get("/").header("x-forwarded-for", "198.51.100.1").body(String::new()).unwrap();
/// req.extensions_mut().insert(PeerAddr("203.0.113.7:51000".parse().unwrap()));
/// // No trusted proxies are configured, so the forwarding header is not believed.
/// assert_eq!(app.oneshot(req).await.unwrap().into_body(), "203.0.113.7");
/// # guard.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// What a handler can tell the layer about the outcome of its route, as a response
/// extension: it overrides the status-based judgement.
///
/// ```
/// use activity_core::{Actor, Outcome};
/// use activity_tower::OutcomeHint;
/// let mut res = http::Response::new(());
/// res.extensions_mut().insert(OutcomeHint::failure("bad_password").with_actor(Actor::user("u_1")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeHint {
    /// The outcome, if the handler knows it.
    pub outcome: Option<Outcome>,
    /// A reason such as `bad_password`, `unknown_user`, `bad_code`.
    pub reason: Option<String>,
    /// The actor, when the handler learned who it was.
    pub actor: Option<Actor>,
}

impl OutcomeHint {
    /// A failure with a reason.
    pub fn failure(reason: impl Into<String>) -> Self {
        Self {
            outcome: Some(Outcome::Failure),
            reason: Some(reason.into()),
            actor: None,
        }
    }

    /// A success.
    pub fn success() -> Self {
        Self {
            outcome: Some(Outcome::Success),
            ..Self::default()
        }
    }

    /// With the actor.
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }
}
