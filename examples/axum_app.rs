//! A small axum site with real sign-in, MFA, logout and password reset, audited through
//! the one setup ([`Setup`]) into SQLite: every event chained, the default alert rules
//! writing to the log, the lockout, GeoIP when a database is configured, and both views.
//!
//! ```sh
//! cargo run --example axum_app            # http://127.0.0.1:3000, writes activity.db
//! ```
//!
//! Demo accounts (in memory): `alice@example.com` / `correct horse` (MFA code `123456`),
//! an administrator, and `bob@example.com` / `hunter2` (no MFA). What to look for:
//!
//! - ten wrong passwords for bob: the eleventh attempt gets `423 Locked`, and alice
//!   unlocks him from the Audit Log's overview;
//! - the alerts (`failed_logins` after five failures, `new_device`, …) in this program's
//!   log (`RUST_LOG`, default `info`);
//! - `activity verify` with the same `ACTIVITY_CHAIN_KEY` (the program prints the demo
//!   key when none is set): the chain intact;
//! - `ACTIVITY_GEOIP_CITY=/path/GeoLite2-City.mmdb`: places in the Activity Log.
//!
//! The two views are mounted in one line each ([`Activity::views`]), behind the app's own
//! login: the app tells them who is asking. The Activity Log's "Not you?" links go to
//! `/account/security` (reset the password, sign out everywhere).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use activity_core::Actor;
use activity_tower::setup::{Activity, Key, Setup, CHAIN_KEY_ENV};
use activity_tower::{AuthenticatedActor, OutcomeHint, RouteKind, RouteRule, Viewer};
use axum::extract::{Form, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

struct User {
    password: &'static str,
    mfa_code: Option<&'static str>,
    admin: bool,
}

#[derive(Clone)]
struct AppState {
    users: Arc<HashMap<&'static str, User>>,
    /// session id -> (email, mfa passed)
    sessions: Arc<Mutex<HashMap<String, (String, bool)>>>,
}

/// Who is fully signed in (password and, where enrolled, MFA), as the app's auth
/// middleware tells the rest of the app.
#[derive(Clone)]
struct SignedIn {
    email: String,
    admin: bool,
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

fn esc(s: &str) -> String {
    activity_core::text::escape_html(s)
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{t}</title>\
         <style>body{{font:15px system-ui,sans-serif;max-width:60em;margin:2em auto}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    ))
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|p| p.trim().strip_prefix("sid=").map(str::to_owned))
}

fn current_user(state: &AppState, headers: &HeaderMap) -> Option<(String, bool)> {
    let sid = session_id(headers)?;
    state.sessions.lock().unwrap().get(&sid).cloned()
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Html<String> {
    match current_user(&state, &headers) {
        Some((email, true)) => {
            let admin = state.users.get(email.as_str()).is_some_and(|u| u.admin);
            let audit = if admin {
                "<li><a href=/settings/security/audit-log/>Settings → Security → Audit Log</a></li>"
            } else {
                ""
            };
            page(
                "Welcome",
                &format!(
                    "<p>Signed in as {}.</p><ul><li><a href=/profile/activity-log/>Profile → Activity Log</a></li>{audit}</ul>\
                     <form method=post action=/logout><button>Sign out</button></form>",
                    esc(&email)
                ),
            )
        }
        Some((_, false)) => page("Two-step verification", MFA_FORM),
        None => page(
            "Sign in",
            "<form method=post action=/login><p><label>E-mail <input name=username autocomplete=username></label></p>\
             <p><label>Password <input name=password type=password autocomplete=current-password></label></p>\
             <button>Sign in</button></form><p><a href=/reset>Forgot your password?</a></p>",
        ),
    }
}

const MFA_FORM: &str = "<form method=post action=/mfa><p><label>Code from your app <input name=code inputmode=numeric></label></p><button>Verify</button></form>";

async fn login(State(state): State<AppState>, Form(f): Form<LoginForm>) -> Response {
    let user = state.users.get(f.username.as_str());
    match user {
        Some(u) if u.password == f.password => {
            let sid = uuid::Uuid::new_v4().simple().to_string();
            state
                .sessions
                .lock()
                .unwrap()
                .insert(sid.clone(), (f.username.clone(), u.mfa_code.is_none()));
            let cookie = format!("sid={sid}; Path=/; HttpOnly; SameSite=Lax");
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Some(_) => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                page(
                    "Sign in",
                    "<p>Wrong e-mail or password. <a href=/>Try again</a></p>",
                ),
            )
                .into_response();
            r.extensions_mut()
                .insert(OutcomeHint::failure("bad_password"));
            r
        }
        None => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                page(
                    "Sign in",
                    "<p>Wrong e-mail or password. <a href=/>Try again</a></p>",
                ),
            )
                .into_response();
            r.extensions_mut()
                .insert(OutcomeHint::failure("unknown_user"));
            r
        }
    }
}

async fn mfa(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let Some(sid) = session_id(&headers) else {
        return Redirect::to("/").into_response();
    };
    let mut sessions = state.sessions.lock().unwrap();
    let Some((email, passed)) = sessions.get_mut(&sid) else {
        return Redirect::to("/").into_response();
    };
    let expected = state.users.get(email.as_str()).and_then(|u| u.mfa_code);
    let actor = Actor::user(email.clone()).with_name(email.clone());
    if expected == Some(f.code.as_str()) {
        *passed = true;
        let mut r = Redirect::to("/").into_response();
        r.extensions_mut()
            .insert(OutcomeHint::success().with_actor(actor));
        r
    } else {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            page("Two-step verification", MFA_FORM),
        )
            .into_response();
        r.extensions_mut()
            .insert(OutcomeHint::failure("bad_code").with_actor(actor));
        r
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(sid) = session_id(&headers) {
        state.sessions.lock().unwrap().remove(&sid);
    }
    (
        [(header::SET_COOKIE, "sid=; Path=/; Max-Age=0")],
        Redirect::to("/"),
    )
        .into_response()
}

/// Where "Not you?" leads: reset the password, sign out of every session.
async fn security(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if current_user(&state, &headers).is_none() {
        return Redirect::to("/").into_response();
    }
    page(
        "Secure your account",
        "<p>If you see activity you don't recognise, change your password and sign out everywhere.</p>\
         <p><a href=/reset>Change your password</a></p>\
         <form method=post action=/account/sign-out-everywhere><button>Sign out everywhere</button></form>",
    )
    .into_response()
}

/// Ends every session of the signed-in user.
async fn sign_out_everywhere(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some((email, _)) = current_user(&state, &headers) {
        state
            .sessions
            .lock()
            .unwrap()
            .retain(|_, (who, _)| *who != email);
    }
    (
        [(header::SET_COOKIE, "sid=; Path=/; Max-Age=0")],
        Redirect::to("/"),
    )
        .into_response()
}

async fn reset_form() -> Html<String> {
    page(
        "Reset your password",
        "<form method=post action=/reset><p><label>E-mail <input name=username autocomplete=username></label></p><button>Send reset link</button></form>",
    )
}

/// The activity layer reads the `username` field for the event; the handler would send the
/// link.
async fn reset() -> Html<String> {
    // Same answer whether or not the account exists: no user enumeration.
    page("Check your e-mail", "<p>If the address has an account, a reset link is on its way. (Demo: <a href=/reset/complete>complete the reset</a>.)</p>")
}

async fn reset_complete_form() -> Html<String> {
    page(
        "Choose a new password",
        "<form method=post action=/reset/complete><p><label>E-mail <input name=username autocomplete=username></label></p><button>Save</button></form>",
    )
}

async fn reset_complete() -> Html<String> {
    page("Password changed", "<p>Done. <a href=/>Sign in</a></p>")
}

/// The app's own authentication, telling the activity layer who is signed in.
async fn who(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some((email, mfa_passed)) = current_user(&state, req.headers()) {
        if mfa_passed {
            let admin = state.users.get(email.as_str()).is_some_and(|u| u.admin);
            req.extensions_mut().insert(SignedIn {
                email: email.clone(),
                admin,
            });
        }
        req.extensions_mut().insert(AuthenticatedActor(
            Actor::user(email.clone()).with_name(email),
        ));
    }
    next.run(req).await
}

/// The demo's chain key, used when `ACTIVITY_CHAIN_KEY` is not set (never in
/// production: keep a real key out of the code and the database).
pub const DEMO_CHAIN_KEY: &str = "demo chain key: set ACTIVITY_CHAIN_KEY to a real one";

/// The setup: the site's authentication routes, the body field they name the account
/// in, and its session cookie. The store is `ACTIVITY_DATABASE_URL` (default
/// `sqlite://activity.db`), the chain key `ACTIVITY_CHAIN_KEY`.
pub fn setup() -> Setup {
    Setup::new()
        // The one body field every authentication form names the account in.
        .identifier_field("username")
        .login("/login")
        .logout("/logout")
        .mfa("/mfa")
        .rule(RouteRule::post("/reset", RouteKind::PasswordResetRequest))
        .rule(RouteRule::post(
            "/reset/complete",
            RouteKind::PasswordResetComplete,
        ))
        .session_cookie("sid")
}

/// The whole site: its own pages, the activity layer, and the two log views.
pub fn app(activity: &Activity) -> Result<Router, Box<dyn std::error::Error>> {
    let users = HashMap::from([
        (
            "alice@example.com",
            User {
                password: "correct horse",
                mfa_code: Some("123456"),
                admin: true,
            },
        ),
        (
            "bob@example.com",
            User {
                password: "hunter2",
                mfa_code: None,
                admin: false,
            },
        ),
    ]);
    let state = AppState {
        users: Arc::new(users),
        sessions: Arc::default(),
    };
    // Profile → Activity Log: every signed-in user, their own events.
    let activity_log = activity
        .views("/profile/activity-log")?
        .not_you_url("/account/security")?
        .viewer_fn(|parts| {
            let s = parts.extensions.get::<SignedIn>()?;
            Some(Viewer::user(s.email.clone()).name(s.email.clone()))
        });
    // Settings → Security → Audit Log: administrators, everyone's events (and Unlock);
    // other users get a clear 403.
    let audit_log = activity
        .views("/settings/security/audit-log")?
        .admins_only()
        .viewer_fn(|parts| {
            let s = parts.extensions.get::<SignedIn>()?;
            let v = if s.admin {
                Viewer::admin(s.email.clone())
            } else {
                Viewer::user(s.email.clone())
            };
            Some(v.name(s.email.clone()))
        });
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/mfa", post(mfa))
        .route("/logout", post(logout))
        .route("/account/security", get(security))
        .route("/account/sign-out-everywhere", post(sign_out_everywhere))
        .route("/reset", get(reset_form).post(reset))
        .route(
            "/reset/complete",
            get(reset_complete_form).post(reset_complete),
        )
        .merge(activity_log.router())
        .merge(audit_log.router())
        .layer(activity.layer())
        // The app's own sign-in state, outside the activity layer: it is known to the
        // layer before it runs.
        .layer(middleware::from_fn_with_state(state.clone(), who))
        .with_state(state))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The log the alerts go to (the setup's default sink is `tracing`).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let mut setup = setup();
    if std::env::var_os(CHAIN_KEY_ENV).is_none() {
        println!(
            "{CHAIN_KEY_ENV} is not set: using the demo key; check the chain with\n  \
             {CHAIN_KEY_ENV}='{DEMO_CHAIN_KEY}' activity verify"
        );
        setup = setup.chain_key(Key::value(DEMO_CHAIN_KEY.as_bytes().to_vec()));
    }
    if let Some(city) = std::env::var_os("ACTIVITY_GEOIP_CITY") {
        setup = setup.geoip(city);
    }
    let activity = setup.start().await?;
    let app = app(&activity)?;
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr} — alice@example.com / correct horse (MFA 123456, administrator), bob@example.com / hunter2");
    let report = activity.serve(listener, app).await?;
    println!("stopped: {} events written", report.metrics.written);
    Ok(())
}
