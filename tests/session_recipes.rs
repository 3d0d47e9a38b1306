//! The session-library recipes (`examples/tower_sessions.rs`, `examples/axum_login.rs`),
//! each served as written over a real socket on SQLite: a sign-in's `session.created`
//! carries the session the library set, the logout is recorded under the account that
//! signed out with that same session, failures say `bad_password` and the chain holds.
//! And the order the recipes warn against is shown to lose the session.

use std::net::SocketAddr;
use std::sync::Arc;

use activity_core::{chain, Action, ActivityEvent, ActivityQuery, ActivityStore};
use activity_tests::http_client::post;
use activity_tower::setup::{Activity, Key, Setup};

#[allow(dead_code)]
#[path = "../examples/tower_sessions.rs"]
mod tower_sessions_recipe;

#[allow(dead_code)]
#[path = "../examples/axum_login.rs"]
mod axum_login_recipe;

const KEY: &[u8] = b"the recipes' chain key, 32 bytes";

/// `setup` on a fresh SQLite file, with the test's key.
async fn start(setup: Setup) -> Activity {
    let dir = std::env::temp_dir().join(activity_tests::unique("activity_recipe_"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("activity.db").display());
    setup
        .database(db)
        .chain_key(Key::value(KEY.to_vec()))
        .start()
        .await
        .unwrap()
}

/// Serves `app` with the setup's server until the returned sender is dropped or sent.
fn serve(
    activity: Activity,
    app: axum::Router,
    listener: tokio::net::TcpListener,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<activity_core::recorder::ShutdownReport>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stop = async {
            let _ = rx.await;
        };
        activity
            .serve_with_shutdown(listener, app, stop)
            .await
            .unwrap()
    });
    (tx, server)
}

/// A wrong password, a sign-in, a sign-out; then the events.
async fn drive(addr: SocketAddr) -> Vec<(u16, &'static str)> {
    let mut seen = Vec::new();
    let bad = post(
        addr,
        "/login",
        "username=alice%40example.com&password=no",
        "",
    )
    .await;
    seen.push((bad.status, "bad"));
    let ok = post(
        addr,
        "/login",
        "username=alice%40example.com&password=correct+horse",
        "",
    )
    .await;
    seen.push((ok.status, "login"));
    let id = ok.cookie("id").expect("the session library's cookie");
    let out = post(addr, "/logout", "", &format!("id={id}")).await;
    seen.push((out.status, "logout"));
    seen
}

async fn events(store: &Arc<dyn ActivityStore>) -> Vec<ActivityEvent> {
    store
        .query(&ActivityQuery::new().limit(100))
        .await
        .unwrap()
        .events
}

/// What every recipe must give.
async fn check_recipe(store: Arc<dyn ActivityStore>) {
    let all = events(&store).await;
    let one = |a: Action| {
        let found: Vec<_> = all.iter().filter(|e| e.action == a).collect();
        assert_eq!(found.len(), 1, "{a}: {all:#?}");
        found[0].clone()
    };
    let failed = one(Action::LOGIN_FAILED);
    assert_eq!(failed.reason.as_deref(), Some("bad_password"));
    assert_eq!(failed.actor_id(), Some("alice@example.com"));
    let created = one(Action::SESSION_CREATED);
    let terminated = one(Action::SESSION_TERMINATED);
    let logout = one(Action::LOGOUT);
    assert!(created.session.is_some(), "session.created has the session");
    assert_eq!(created.session, terminated.session, "the same session");
    assert_eq!(logout.session, created.session);
    assert_eq!(logout.actor_id(), Some("alice@example.com"), "{logout:?}");
    assert_eq!(terminated.actor_id(), Some("alice@example.com"));
    assert!(all
        .iter()
        .all(|e| e.ip() == Some("127.0.0.1".parse().unwrap())
            || e.action.as_str().starts_with("audit.")));
    let key = chain::ChainKey::keyed(KEY).unwrap();
    let report = chain::verify(&*store, None, &key).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_sessions_recipe() {
    let activity = start(tower_sessions_recipe::setup()).await;
    let store = activity.store().clone();
    let app = tower_sessions_recipe::app(&activity);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = serve(activity, app, listener);
    let seen = drive(addr).await;
    assert_eq!(seen, [(401, "bad"), (200, "login"), (200, "logout")]);
    stop.send(()).unwrap();
    assert!(server.await.unwrap().unwritten.is_empty());
    check_recipe(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_login_recipe() {
    let activity = start(axum_login_recipe::setup()).await;
    let store = activity.store().clone();
    let app = axum_login_recipe::app(&activity);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = serve(activity, app, listener);
    let seen = drive(addr).await;
    assert_eq!(seen, [(401, "bad"), (200, "login"), (200, "logout")]);
    stop.send(()).unwrap();
    assert!(server.await.unwrap().unwritten.is_empty());
    check_recipe(store).await;
}

/// The natural order (the activity layer inside the session layer) is the one the
/// recipes warn against: the sign-in's answer has no session cookie yet when the layer
/// sees it, so `session.created` has no session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_inside_the_session_layer_loses_the_session() {
    use tower_sessions::{MemoryStore, SessionManagerLayer};
    let activity = start(tower_sessions_recipe::setup()).await;
    let store = activity.store().clone();
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    // The recipe's handlers, layered the other way round.
    let app = tower_sessions_recipe::routes()
        .layer(activity.layer())
        .layer(sessions);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = serve(activity, app, listener);
    let ok = post(
        addr,
        "/login",
        "username=alice%40example.com&password=correct+horse",
        "",
    )
    .await;
    assert_eq!(ok.status, 200);
    stop.send(()).unwrap();
    server.await.unwrap();
    let all = events(&store).await;
    let created = all
        .iter()
        .find(|e| e.action == Action::SESSION_CREATED)
        .unwrap();
    assert_eq!(created.session, None, "as the recipes warn");
}
