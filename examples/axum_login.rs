//! Recipe: the activity layer with [axum-login](https://docs.rs/axum-login) (on
//! tower-sessions).
//!
//! ```sh
//! ACTIVITY_CHAIN_KEY=... cargo run --example axum_login   # http://127.0.0.1:3000
//! ```
//!
//! As with tower-sessions alone (`examples/tower_sessions.rs`), and checked the same way
//! by `tests/session_recipes.rs`:
//!
//! 1. **The order**: `ActivityLayer` outside axum-login's `AuthManagerLayer` (which
//!    holds the session layer), so that it sees the session cookie a login sets.
//! 2. **Who is signed in**: a middleware inside `AuthManagerLayer` passes
//!    `AuthSession::user` to [`ActivityHandle::identify`]: a logout is recorded under the
//!    account that signed out.
//! 3. **The session id**: the session cookie is tower-sessions' `id`
//!    ([`Setup::session_cookie`]). `AuthSession::login` gives the session a new id, which
//!    is the one `session.created` carries.

use activity_core::Actor;
use activity_tower::setup::{Activity, Setup};
use activity_tower::{ActivityHandle, AuthenticatedActor, OutcomeHint};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{routing::post, Form, Router};
use axum_login::tower_sessions::{MemoryStore, SessionManagerLayer};
use axum_login::{AuthManagerLayerBuilder, AuthUser, AuthnBackend, UserId};

/// The demo's accounts: e-mail, password.
const USERS: &[(&str, &str)] = &[
    ("alice@example.com", "correct horse"),
    ("bob@example.com", "hunter2"),
];

/// A user of the demo backend.
#[derive(Debug, Clone)]
pub struct User {
    email: String,
    /// What axum-login checks a session against (a real app: the password hash).
    auth_hash: Vec<u8>,
}

impl AuthUser for User {
    type Id = String;

    fn id(&self) -> String {
        self.email.clone()
    }

    fn session_auth_hash(&self) -> &[u8] {
        &self.auth_hash
    }
}

/// The demo backend: the fixed accounts above.
#[derive(Debug, Clone)]
pub struct Backend;

/// A sign-in form.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

fn user(email: &str) -> Option<User> {
    let (email, password) = USERS.iter().find(|(u, _)| *u == email)?;
    Some(User {
        email: (*email).to_owned(),
        auth_hash: password.as_bytes().to_vec(),
    })
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = std::convert::Infallible;

    async fn authenticate(&self, c: Credentials) -> Result<Option<User>, Self::Error> {
        Ok(user(&c.username).filter(|u| u.auth_hash == c.password.as_bytes()))
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Self::Error> {
        Ok(user(id))
    }
}

type AuthSession = axum_login::AuthSession<Backend>;

/// The setup: the routes, and the session cookie (`id`).
pub fn setup() -> Setup {
    Setup::new()
        .login("/login")
        .logout("/logout")
        .session_cookie("id")
}

/// The app: handlers, the identifying middleware, axum-login, and outermost the
/// activity layer.
pub fn app(activity: &Activity) -> Router {
    // `with_secure(false)` for plain-HTTP development only.
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let auth = AuthManagerLayerBuilder::new(Backend, sessions).build();
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(middleware::from_fn(identify)) // reads AuthSession::user
        .layer(auth) // the session and the user
        .layer(activity.layer()) // outermost: sees the session cookie a login sets
}

/// Tells the activity layer (and the app's own handlers) who is signed in.
async fn identify(auth: AuthSession, mut req: Request, next: Next) -> Response {
    if let Some(user) = &auth.user {
        let actor = Actor::user(user.email.clone()).with_name(user.email.clone());
        if let Some(activity) = req.extensions().get::<ActivityHandle>() {
            activity.identify(actor.clone());
        }
        req.extensions_mut().insert(AuthenticatedActor(actor));
    }
    next.run(req).await
}

async fn login(mut auth: AuthSession, Form(c): Form<Credentials>) -> Response {
    let user = match auth.authenticate(c).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            let mut res = (StatusCode::UNAUTHORIZED, "wrong e-mail or password").into_response();
            res.extensions_mut()
                .insert(OutcomeHint::failure("bad_password"));
            return res;
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    match auth.login(&user).await {
        Ok(()) => "signed in".into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn logout(mut auth: AuthSession) -> Response {
    match auth.logout().await {
        Ok(_) => "signed out".into_response(),
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
