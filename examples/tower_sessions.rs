//! Recipe: the activity layer with [tower-sessions](https://docs.rs/tower-sessions).
//!
//! ```sh
//! ACTIVITY_CHAIN_KEY=... cargo run --example tower_sessions   # http://127.0.0.1:3000
//! ```
//!
//! Three things make it right (and `tests/session_recipes.rs` checks each over a real
//! socket):
//!
//! 1. **The order**: `ActivityLayer` goes *outside* the session layer (in axum, the later
//!    `.layer(..)`), so that it sees the `Set-Cookie` the session layer adds to a login's
//!    answer: `session.created` then carries the session (as a keyed hash). Inside it,
//!    it would see no cookie (and say so in the log, once).
//! 2. **Who is signed in**: since the layer runs before the session is loaded, a small
//!    middleware inside the session layer tells it, with
//!    [`ActivityHandle::identify`]: a logout is then recorded under the account that
//!    signed out, with no help from the handler.
//! 3. **The session id**: tower-sessions' cookie is `id`; name it with
//!    [`Setup::session_cookie`] so that `session.created` and `session.terminated` carry
//!    the same session hash.
//!
//! The login handler calls `cycle_id` (a new session id at sign-in, against session
//! fixation) and says why a sign-in failed ([`OutcomeHint`]).

use activity_core::Actor;
use activity_tower::setup::{Activity, Setup};
use activity_tower::{ActivityHandle, AuthenticatedActor, OutcomeHint};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{routing::post, Form, Router};
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

/// The session key holding the signed-in user's e-mail.
const USER: &str = "user";

/// The demo's accounts: e-mail, password.
const USERS: &[(&str, &str)] = &[
    ("alice@example.com", "correct horse"),
    ("bob@example.com", "hunter2"),
];

/// The setup: the routes, and tower-sessions' cookie (`id`).
pub fn setup() -> Setup {
    Setup::new()
        .login("/login")
        .logout("/logout")
        .session_cookie("id")
}

/// The app: handlers, then the identifying middleware, the session layer, and outermost
/// the activity layer.
pub fn app(activity: &Activity) -> Router {
    // `with_secure(false)` for plain-HTTP development only.
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    routes()
        .layer(middleware::from_fn(identify)) // 3rd: reads the loaded session
        .layer(sessions) // 2nd: loads the session, sets its cookie on the answer
        .layer(activity.layer()) // 1st and last: sees the request and the final answer
}

/// The app's own routes.
pub fn routes() -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
}

/// Tells the activity layer (and the app's own handlers) who is signed in.
async fn identify(session: Session, mut req: Request, next: Next) -> Response {
    if let Ok(Some(email)) = session.get::<String>(USER).await {
        let actor = Actor::user(email.clone()).with_name(email);
        if let Some(activity) = req.extensions().get::<ActivityHandle>() {
            activity.identify(actor.clone());
        }
        req.extensions_mut().insert(AuthenticatedActor(actor));
    }
    next.run(req).await
}

#[derive(serde::Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(session: Session, Form(c): Form<Credentials>) -> Response {
    if !USERS.contains(&(c.username.as_str(), c.password.as_str())) {
        let mut res = (StatusCode::UNAUTHORIZED, "wrong e-mail or password").into_response();
        res.extensions_mut()
            .insert(OutcomeHint::failure("bad_password"));
        return res;
    }
    // A new session id at sign-in (against session fixation), then the user.
    let stored = async {
        session.cycle_id().await?;
        session.insert(USER, &c.username).await
    };
    match stored.await {
        Ok(()) => "signed in".into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn logout(session: Session) -> Response {
    match session.flush().await {
        Ok(()) => "signed out".into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let activity = setup().start().await?; // ACTIVITY_DATABASE_URL, ACTIVITY_CHAIN_KEY
    let app = app(&activity);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    activity.serve(listener, app).await?;
    Ok(())
}
