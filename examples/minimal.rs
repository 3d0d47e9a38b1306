//! The whole setup in ten lines (`main`): sign-ins and sign-outs recorded into SQLite,
//! chained under the key `activity verify` reads, alerts raised (stored, and logged
//! through `tracing` once a subscriber is installed), ten wrong passwords lock the
//! account (the eleventh attempt gets 423), and the Audit Log for alice.
//!
//! ```sh
//! export ACTIVITY_CHAIN_KEY="$(head -c 32 /dev/urandom | base64)"   # the app's and the CLI's
//! cargo run --example minimal                                        # http://127.0.0.1:3000
//! curl -d 'username=bob@example.com&password=nope' http://127.0.0.1:3000/login
//! activity verify                                                    # the same key: intact
//! ```
//!
//! `ACTIVITY_DATABASE_URL` changes the database (default `sqlite://activity.db`),
//! `ADDR` the address. The README shows `main` as it is here (a test checks it), and
//! `tests/setup_minimal.rs` runs this program over a real socket.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use activity_core::Actor;
use activity_tower::{setup::Setup, OutcomeHint, Viewer};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{routing::post, Form, Router};

// README: minimal-main
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = Setup::new().login("/login").logout("/logout"); // + .mfa(..), .rule(..)
    let activity = setup.session_cookie("sid").start().await?; // reads ACTIVITY_CHAIN_KEY
    let app = Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .merge(activity.views("/audit-log")?.viewer_fn(viewer).router())
        .layer(activity.layer());
    let listener = tokio::net::TcpListener::bind(address()).await?;
    println!("listening on http://{}", listener.local_addr()?);
    activity.serve(listener, app).await?; // until Ctrl-C; then every event is written
    Ok(())
}
// README: end

/// The demo's accounts: e-mail, password.
const USERS: &[(&str, &str)] = &[
    ("alice@example.com", "correct horse"),
    ("bob@example.com", "hunter2"),
];

/// Session id -> e-mail (a real app uses a session library: see the recipes).
static SESSIONS: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Mutex::default);

#[derive(serde::Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(Form(c): Form<Credentials>) -> Response {
    if !USERS.contains(&(c.username.as_str(), c.password.as_str())) {
        let mut res = (StatusCode::UNAUTHORIZED, "wrong e-mail or password").into_response();
        // What went wrong, for the log: the layer alone would say `unauthorized`.
        let unknown = !USERS.iter().any(|(u, _)| *u == c.username);
        let reason = if unknown {
            "unknown_user"
        } else {
            "bad_password"
        };
        res.extensions_mut().insert(OutcomeHint::failure(reason));
        return res;
    }
    let sid = uuid::Uuid::new_v4().simple().to_string();
    SESSIONS.lock().unwrap().insert(sid.clone(), c.username);
    let cookie = format!("sid={sid}; Path=/; HttpOnly; SameSite=Lax");
    ([(header::SET_COOKIE, cookie)], "signed in").into_response()
}

async fn logout(headers: HeaderMap) -> Response {
    let who = session(&headers).and_then(|sid| SESSIONS.lock().unwrap().remove(&sid));
    let mut res = (
        [(header::SET_COOKIE, "sid=; Path=/; Max-Age=0")],
        "signed out",
    )
        .into_response();
    if let Some(email) = who {
        // Who signed out: the layer ran before this handler knew.
        let actor = Actor::user(email.clone()).with_name(email);
        res.extensions_mut()
            .insert(OutcomeHint::success().with_actor(actor));
    }
    res
}

/// Who asks for the Audit Log: alice administers, everyone else sees their own events.
fn viewer(parts: &Parts) -> Option<Viewer> {
    let email = SESSIONS
        .lock()
        .unwrap()
        .get(&session(&parts.headers)?)?
        .clone();
    Some(match email.as_str() {
        "alice@example.com" => Viewer::admin(email),
        _ => Viewer::user(email),
    })
}

fn session(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let sid = cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix("sid="));
    sid.map(str::to_owned)
}

fn address() -> String {
    std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into())
}
