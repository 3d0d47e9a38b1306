//! Issue 18's attacks on the lockout, each over a real socket against a server with the
//! layer and the policy on SQLite (and, for the concurrency case, two instances sharing
//! PostgreSQL). Every test performs the attack and asserts that it now fails.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use activity_core::enrich::{GeoPrecision, IpPrivacy, IpStorage};
use activity_core::{
    lockout::LockScope, lockout::LockoutConfig, lockout::LockoutLedger, lockout::LockoutPolicy,
    ActivityQuery, ActivityStore, Actor, Recorder, RecorderGuard,
};
use activity_sqlx::SqliteStore;
use activity_tower::{ActivityLayer, AuthenticatedActor, OutcomeHint, RouteKind, RouteRule};
use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer: the status and the headers, lower-cased names.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the `Set-Cookie` named `name`, if the answer sets it.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .find_map(|(_, v)| {
                let pair = v.split(';').next()?;
                let (k, v) = pair.split_once('=')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
    }
}

/// A request written by hand, as an attacker would, from the loopback address `from`.
struct Raw<'a> {
    path: &'a str,
    body: String,
    content_type: &'a str,
    headers: Vec<(&'a str, String)>,
    from: IpAddr,
}

impl<'a> Raw<'a> {
    fn form(path: &'a str, body: impl Into<String>) -> Self {
        Self {
            path,
            body: body.into(),
            content_type: "application/x-www-form-urlencoded",
            headers: Vec::new(),
            from: "127.0.0.1".parse().unwrap(),
        }
    }

    fn json(path: &'a str, body: impl Into<String>) -> Self {
        Self {
            content_type: "application/json",
            ..Self::form(path, body)
        }
    }

    fn from(mut self, ip: &str) -> Self {
        self.from = ip.parse().unwrap();
        self
    }

    fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    async fn send(&self, addr: SocketAddr) -> Answer {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.path,
            self.content_type,
            self.body.len()
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(self.from, 0)).unwrap();
        let mut s = socket.connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(self.body.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        let (head, _) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer { status, headers }
    }
}

/// The test application: a sign-in that knows one password per account, an MFA step, a
/// password reset, and counters of how many attempts reached each handler.
#[derive(Default)]
struct Reached {
    login: AtomicUsize,
    mfa: AtomicUsize,
}

/// Accounts: name → (internal id, password). Look-up is case-insensitive, as most apps do.
fn account(name: &str) -> Option<(&'static str, &'static str)> {
    match name.trim().to_lowercase().as_str() {
        "alice@example.com" => Some(("u_1", "alice-pw")),
        "bob@example.com" => Some(("u_2", "bob-pw")),
        "victim" => Some(("u_3", "victim-pw")),
        _ => None,
    }
}

/// The sign-in handler: reads the `email` field the way axum's `Form` does (the last value
/// of a repeated field), answers 200 for the right password and 401 otherwise, with a hint
/// naming the internal account id when the account exists.
async fn login(reached: Arc<Reached>, slow: bool, form: HashMap<String, String>) -> Response {
    reached.login.fetch_add(1, Ordering::SeqCst);
    if slow {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let typed = form.get("email").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    match account(&typed) {
        Some((id, pw)) if pw == password => {
            let mut res = StatusCode::OK.into_response();
            res.extensions_mut()
                .insert(OutcomeHint::success().with_actor(Actor::user(id).with_name(typed)));
            res
        }
        Some((id, _)) => {
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.extensions_mut().insert(
                OutcomeHint::failure("bad_password").with_actor(Actor::user(id).with_name(typed)),
            );
            res
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

struct Server {
    addr: SocketAddr,
    store: Arc<dyn ActivityStore>,
    recorder: Recorder,
    guard: RecorderGuard,
    reached: Arc<Reached>,
}

impl Server {
    async fn start(config: LockoutConfig, privacy: bool, slow: bool) -> Server {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let store: Arc<dyn ActivityStore> = Arc::new(store);
        Self::start_on(store, config, privacy, slow).await
    }

    async fn start_on(
        store: Arc<dyn ActivityStore>,
        config: LockoutConfig,
        privacy: bool,
        slow: bool,
    ) -> Server {
        Self::start_with(store, config, privacy, slow, None).await
    }

    async fn start_with(
        store: Arc<dyn ActivityStore>,
        config: LockoutConfig,
        privacy: bool,
        slow: bool,
        ledger: Option<Arc<dyn LockoutLedger>>,
    ) -> Server {
        let mut policy = LockoutPolicy::new(store.clone(), config);
        if let Some(l) = ledger {
            policy = policy.ledger(l);
        }
        let policy = Arc::new(policy);
        let mut builder = Recorder::builder(store.clone()).lockout(policy);
        if privacy {
            builder = builder.enricher(
                IpPrivacy::new(IpStorage::Truncate, GeoPrecision::Full, b"0123456789abcdef")
                    .unwrap(),
            );
        }
        let (recorder, guard) = builder.start();
        let reached = Arc::new(Reached::default());
        let (r1, r2) = (reached.clone(), reached.clone());
        let app = Router::new()
            .route(
                "/login",
                post(move |Form(f): Form<HashMap<String, String>>| login(r1.clone(), slow, f)),
            )
            .route(
                "/mfa",
                post(move |Form(f): Form<HashMap<String, String>>| {
                    let r2 = r2.clone();
                    async move {
                        r2.mfa.fetch_add(1, Ordering::SeqCst);
                        if f.get("code").map(String::as_str) == Some("424242") {
                            StatusCode::OK
                        } else {
                            StatusCode::UNAUTHORIZED
                        }
                    }
                }),
            )
            .route(
                // The reset handler checks the token, which belongs to the attacker's own
                // account, and says so; the body's `email` is the victim's.
                "/reset/complete",
                post(|Form(f): Form<HashMap<String, String>>| async move {
                    if f.get("token").map(String::as_str) != Some("bobs-token") {
                        return StatusCode::FORBIDDEN.into_response();
                    }
                    let mut res = StatusCode::OK.into_response();
                    res.extensions_mut().insert(
                        OutcomeHint::success()
                            .with_actor(Actor::user("u_2").with_name("bob@example.com")),
                    );
                    res
                }),
            )
            .layer(
                ActivityLayer::new(recorder.clone())
                    .identifier_field("email")
                    .rule(RouteRule::post("/login", RouteKind::Login))
                    .rule(RouteRule::post("/mfa", RouteKind::MfaVerify))
                    .rule(RouteRule::post(
                        "/reset/complete",
                        RouteKind::PasswordResetComplete,
                    )),
            )
            // An app that signs its users in with a session: bob's session is known.
            .layer(axum::middleware::from_fn(
                |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                    let bob = req
                        .headers()
                        .get("cookie")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|c| c.contains("sid=bobs-session"));
                    if bob {
                        req.extensions_mut().insert(AuthenticatedActor(
                            Actor::user("u_2").with_name("bob@example.com"),
                        ));
                    }
                    next.run(req).await
                },
            ));
        let addr = activity_tests::serve(app).await;
        Server {
            addr,
            store,
            recorder,
            guard,
            reached,
        }
    }

    async fn send(&self, req: Raw<'_>) -> Answer {
        let a = req.send(self.addr).await;
        self.recorder.flush().await.unwrap();
        a
    }

    async fn count(&self, q: ActivityQuery) -> u64 {
        self.recorder.flush().await.unwrap();
        self.store.count(&q).await.unwrap()
    }
}

fn wrong(email: &str) -> String {
    format!("email={email}&password=wrong")
}

fn threshold(n: u64) -> LockoutConfig {
    LockoutConfig {
        threshold: n,
        ..LockoutConfig::default()
    }
}

#[tokio::test]
async fn a_padded_body_is_refused_or_counted_never_a_free_guess() {
    let s = Server::start(LockoutConfig::default(), false, false).await;
    let pad = "a".repeat(17_000);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let a = s
            .send(Raw::form(
                "/login",
                format!("pad={pad}&email=victim&password=guess"),
            ))
            .await;
        statuses.push(a.status);
    }
    // Over the read limit, the layer cannot know the account: refused, and recorded.
    assert!(
        statuses.iter().all(|&st| st == 413),
        "padded logins: {statuses:?}"
    );
    assert_eq!(
        s.reached.login.load(Ordering::SeqCst),
        0,
        "none reached the password check"
    );
    let recorded = s
        .count(ActivityQuery::new().action("auth.login.failed"))
        .await;
    assert_eq!(recorded, 11, "every refused attempt is recorded");
    let page = s
        .store
        .query(&ActivityQuery::new().action("auth.login.failed").limit(1))
        .await
        .unwrap();
    assert_eq!(page.events[0].reason.as_deref(), Some("body_too_large"));
    // JSON padded with 17 KB of leading spaces: the same.
    let a = s
        .send(Raw::json(
            "/login",
            format!(
                "{}{{\"email\":\"victim\",\"password\":\"x\"}}",
                " ".repeat(17_000)
            ),
        ))
        .await;
    assert_eq!(a.status, 413);
    s.guard.shutdown().await;
}

#[tokio::test]
async fn the_counted_account_is_the_one_the_handler_reads() {
    let s = Server::start(LockoutConfig::default(), false, false).await;
    // The app's field is `email`; a decoy `username` before or after changes nothing.
    for i in 0..10 {
        let body = if i % 2 == 0 {
            "email=victim&username=decoy&password=wrong"
        } else {
            "username=decoy&email=victim&password=wrong"
        };
        assert_eq!(s.send(Raw::form("/login", body)).await.status, 401);
    }
    assert_eq!(
        s.send(Raw::form("/login", wrong("victim"))).await.status,
        423
    );
    // A repeated field is refused: the handler would read the last, the layer cannot guess.
    let before = s.reached.login.load(Ordering::SeqCst);
    let a = s
        .send(Raw::form(
            "/login",
            "email=decoy&email=bob%40example.com&password=x",
        ))
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(s.reached.login.load(Ordering::SeqCst), before);
    let a = s
        .send(Raw::json(
            "/login",
            r#"{"email":"decoy","email":"victim","password":"x"}"#,
        ))
        .await;
    assert_eq!(a.status, 400);
    s.guard.shutdown().await;
}

#[tokio::test]
async fn case_and_unicode_variants_are_one_account() {
    let s = Server::start(LockoutConfig::default(), false, false).await;
    let variants = [
        "Alice%40Example.com",
        "ALICE%40EXAMPLE.COM",
        "%20alice%40example.com%20",
        // Fullwidth "ａｌｉｃｅ", which NFKC folds to "alice".
        "%EF%BD%81%EF%BD%8C%EF%BD%89%EF%BD%83%EF%BD%85%40example.com",
        "alice%40example.com",
    ];
    for i in 0..10 {
        let a = s
            .send(Raw::form("/login", wrong(variants[i % variants.len()])))
            .await;
        assert_eq!(a.status, 401, "attempt {i}");
    }
    let a = s
        .send(Raw::form("/login", wrong("aLiCe%40example.com")))
        .await;
    assert_eq!(a.status, 423, "the eleventh, in another case, is locked");
    // The typed form is kept as the name; the id is the normalised one.
    let page = s
        .store
        .query(&ActivityQuery::new().action("auth.login.failed").limit(20))
        .await
        .unwrap();
    assert!(page
        .events
        .iter()
        .any(|e| e.actor.as_ref().and_then(|a| a.name.as_deref()) == Some("ALICE@EXAMPLE.COM")));
    s.guard.shutdown().await;
}

#[tokio::test]
async fn a_hint_actor_and_the_typed_identifier_find_the_same_lock() {
    // The handler names the account `u_1` in its hint; the pre-check only knows the e-mail.
    let s = Server::start(LockoutConfig::default(), false, false).await;
    for _ in 0..10 {
        assert_eq!(
            s.send(Raw::form("/login", wrong("alice%40example.com")))
                .await
                .status,
            401
        );
    }
    let a = s
        .send(Raw::form("/login", wrong("alice%40example.com")))
        .await;
    assert_eq!(a.status, 423);
    let a = s
        .send(Raw::form(
            "/login",
            "email=alice%40example.com&password=alice-pw",
        ))
        .await;
    assert_eq!(a.status, 423, "even the right password, while locked");
    let locks = s
        .count(ActivityQuery::new().action("lockout.triggered"))
        .await;
    assert_eq!(locks, 1);
    s.guard.shutdown().await;
}

#[tokio::test]
async fn a_signed_in_user_is_never_the_subject_of_a_login() {
    let s = Server::start(LockoutConfig::default(), false, false).await;
    // Signed in as bob, sign in as alice with her password.
    let a = s
        .send(
            Raw::form("/login", "email=alice%40example.com&password=alice-pw")
                .header("Cookie", "sid=bobs-session"),
        )
        .await;
    assert_eq!(a.status, 200);
    let ok = s
        .store
        .query(&ActivityQuery::new().action("auth.login.succeeded"))
        .await
        .unwrap();
    let actor = ok.events[0].actor.as_ref().unwrap();
    assert_eq!(actor.id, "u_1", "alice's sign-in, not bob's: {actor:?}");
    // And failures while signed in as bob count against alice, not bob.
    for _ in 0..10 {
        s.send(
            Raw::form("/login", wrong("alice%40example.com")).header("Cookie", "sid=bobs-session"),
        )
        .await;
    }
    assert_eq!(
        s.send(Raw::form("/login", wrong("alice%40example.com")))
            .await
            .status,
        423
    );
    assert_eq!(
        s.send(Raw::form("/login", wrong("bob%40example.com")))
            .await
            .status,
        401
    );
    s.guard.shutdown().await;
}

#[tokio::test]
async fn mfa_guessing_locks() {
    let s = Server::start(LockoutConfig::default(), false, false).await;
    let mut statuses = Vec::new();
    for code in 0..12 {
        let a = s
            .send(Raw::form("/mfa", format!("code={code:06}")).header("Cookie", "sid=bobs-session"))
            .await;
        statuses.push(a.status);
    }
    assert!(statuses.contains(&423), "MFA guesses: {statuses:?}");
    let reached = s.reached.mfa.load(Ordering::SeqCst);
    assert!(reached <= 5, "{reached} codes reached the check");
    // Even the right code is refused while locked.
    let a = s
        .send(Raw::form("/mfa", "code=424242").header("Cookie", "sid=bobs-session"))
        .await;
    assert_eq!(a.status, 423);
    assert!(
        s.count(ActivityQuery::new().action("lockout.triggered"))
            .await
            >= 1,
        "the MFA lock is recorded"
    );
    s.guard.shutdown().await;
}

#[tokio::test]
async fn a_reset_of_ones_own_account_does_not_unlock_another() {
    let s = Server::start(LockoutConfig::default(), false, false).await;
    for _ in 0..10 {
        s.send(Raw::form("/login", wrong("victim"))).await;
    }
    assert_eq!(
        s.send(Raw::form("/login", wrong("victim"))).await.status,
        423
    );
    // Bob completes his own reset, naming the victim in the body.
    let a = s
        .send(Raw::form(
            "/reset/complete",
            "token=bobs-token&password=new&email=victim",
        ))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        s.send(Raw::form("/login", wrong("victim"))).await.status,
        423,
        "still locked"
    );
    assert_eq!(
        s.count(ActivityQuery::new().action("lockout.released"))
            .await,
        0
    );
    s.guard.shutdown().await;
}

#[tokio::test]
async fn parallel_wrong_passwords_let_at_most_the_threshold_through() {
    let s = Arc::new(Server::start(LockoutConfig::default(), false, true).await);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            Raw::form("/login", wrong("victim")).send(addr).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let reached = s.reached.login.load(Ordering::SeqCst);
    assert!(
        reached <= 10,
        "{reached} of 200 parallel attempts reached the handler"
    );
    assert_eq!(statuses.iter().filter(|&&st| st == 401).count(), reached);
    assert_eq!(
        statuses.iter().filter(|&&st| st == 423).count(),
        200 - reached
    );
    // Sequential on one server: the eleventh is refused without waiting for the recorder.
    let s2 = Server::start(LockoutConfig::default(), false, false).await;
    for _ in 0..30 {
        Raw::form("/login", wrong("victim")).send(s2.addr).await;
    }
    assert_eq!(s2.reached.login.load(Ordering::SeqCst), 10);
    s2.guard.shutdown().await;
}

#[tokio::test]
async fn account_and_ip_locks_hold_when_the_attacker_alternates_addresses() {
    let config = LockoutConfig {
        scope: LockScope::AccountAndIp,
        ..LockoutConfig::default()
    };
    let s = Server::start(config, false, false).await;
    for _ in 0..10 {
        s.send(Raw::form("/login", wrong("victim")).from("127.0.0.2"))
            .await;
    }
    for _ in 0..10 {
        s.send(Raw::form("/login", wrong("victim")).from("127.0.0.3"))
            .await;
    }
    let a = s
        .send(Raw::form("/login", wrong("victim")).from("127.0.0.2"))
        .await;
    assert_eq!(a.status, 423, "the first address is still locked");
    let a = s
        .send(Raw::form("/login", wrong("victim")).from("127.0.0.3"))
        .await;
    assert_eq!(a.status, 423);
    let a = s
        .send(Raw::form("/login", wrong("victim")).from("127.0.0.4"))
        .await;
    assert_eq!(a.status, 401, "another address is not");
    s.guard.shutdown().await;
}

#[tokio::test]
async fn account_and_ip_locks_are_enforced_under_ip_privacy() {
    let config = LockoutConfig {
        scope: LockScope::AccountAndIp,
        ..LockoutConfig::default()
    };
    let s = Server::start(config, true, false).await;
    for _ in 0..10 {
        s.send(Raw::form("/login", wrong("victim")).from("127.0.0.2"))
            .await;
    }
    let a = s
        .send(Raw::form("/login", wrong("victim")).from("127.0.0.2"))
        .await;
    assert_eq!(a.status, 423);
    s.guard.shutdown().await;
}

#[tokio::test]
async fn an_attacker_on_a_new_network_cannot_lock_out_the_owners_known_device() {
    let s = Server::start(threshold(10), false, false).await;
    // The owner signs in from their laptop, which gets its device cookie.
    let a = s
        .send(Raw::form("/login", "email=victim&password=victim-pw").from("127.0.0.5"))
        .await;
    assert_eq!(a.status, 200);
    let device = a.set_cookie("activity_device").expect("a device cookie");
    // The attacker, elsewhere, with no cookie or a made-up one: 20 wrong passwords.
    for i in 0..20 {
        let mut r = Raw::form("/login", wrong("victim")).from("127.0.0.6");
        if i % 2 == 1 {
            r = r.header(
                "Cookie",
                "activity_device=d_0000000000000000000000000000000a",
            );
        }
        s.send(r).await;
    }
    assert_eq!(
        s.send(Raw::form("/login", wrong("victim")).from("127.0.0.6"))
            .await
            .status,
        423,
        "the attacker is locked out"
    );
    // The owner's known device still signs in, from a network it never used before.
    let a = s
        .send(
            Raw::form("/login", "email=victim&password=victim-pw")
                .from("127.0.0.9")
                .header("Cookie", format!("activity_device={device}")),
        )
        .await;
    assert_eq!(a.status, 200, "the owner's device is not locked out");
    // And from the owner's known network without the cookie.
    let a = s
        .send(Raw::form("/login", "email=victim&password=victim-pw").from("127.0.0.5"))
        .await;
    assert_eq!(a.status, 200, "the owner's network is not locked out");
    // Without either it is unfamiliar, and locked like the attacker.
    let a = s
        .send(Raw::form("/login", "email=victim&password=victim-pw").from("127.0.0.10"))
        .await;
    assert_eq!(a.status, 423);
    s.guard.shutdown().await;
}

#[tokio::test]
async fn one_address_failing_across_many_accounts_is_throttled() {
    let s = Server::start(LockoutConfig::default(), false, false).await;
    let mut first_429 = None;
    for i in 0..120 {
        let a = s
            .send(Raw::form("/login", wrong(&format!("user{i}"))).from("127.0.0.7"))
            .await;
        if a.status == 429 && first_429.is_none() {
            first_429 = Some((i, a.header("retry-after").map(str::to_owned)));
        }
    }
    let (at, retry) = first_429.expect("throttled");
    assert_eq!(
        at, 100,
        "the 101st failed attempt from one address is throttled"
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(retry >= 1);
    // Another address is not.
    let a = s
        .send(Raw::form("/login", wrong("user1")).from("127.0.0.8"))
        .await;
    assert_eq!(a.status, 401);
    let throttled = s
        .store
        .query(&ActivityQuery::new().action("auth.login.failed").limit(1))
        .await
        .unwrap();
    let _ = throttled;
    assert!(
        s.count(ActivityQuery::new().action("auth.login.failed"))
            .await
            >= 120,
        "throttled attempts are recorded"
    );
    s.guard.shutdown().await;
}

#[tokio::test]
async fn two_instances_sharing_postgres_let_at_most_the_threshold_through() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let mut servers = Vec::new();
    for _ in 0..2 {
        let store = activity_sqlx::PgStore::from_pool(schema.pool.clone());
        store.migrate().await.unwrap();
        let ledger = activity_sqlx::PgLedger::for_store(&store);
        ledger.migrate().await.unwrap();
        let store: Arc<dyn ActivityStore> = Arc::new(store);
        servers.push(
            Server::start_with(
                store,
                LockoutConfig::default(),
                false,
                true,
                Some(Arc::new(ledger)),
            )
            .await,
        );
    }
    let mut tasks = Vec::new();
    for i in 0..200 {
        let addr = servers[i % 2].addr;
        tasks.push(tokio::spawn(async move {
            Raw::form("/login", wrong("victim")).send(addr).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let reached: usize = servers
        .iter()
        .map(|s| s.reached.login.load(Ordering::SeqCst))
        .sum();
    assert!(
        reached <= 10,
        "{reached} of 200 parallel attempts on two instances reached a handler"
    );
    assert!(reached >= 1);
    assert_eq!(statuses.iter().filter(|&&st| st == 401).count(), reached);
    // The lock is seen by both.
    for s in &servers {
        assert_eq!(
            s.send(Raw::form("/login", wrong("victim"))).await.status,
            423
        );
    }
    for s in servers {
        s.guard.shutdown().await;
    }
    schema.drop().await;
}

#[tokio::test]
async fn a_lockout_that_cannot_be_read_refuses_the_attempt() {
    // The shared ledger's table is gone (an operator's mistake, a failover to a replica
    // without it): an attacker must not get unlimited guesses while it is.
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = activity_sqlx::PgStore::from_pool(schema.pool.clone());
    store.migrate().await.unwrap();
    let ledger = activity_sqlx::PgLedger::for_store(&store);
    ledger.migrate().await.unwrap();
    let table = ledger.table().to_owned();
    let store: Arc<dyn ActivityStore> = Arc::new(store);
    let s = Server::start_with(
        store,
        LockoutConfig::default(),
        false,
        false,
        Some(Arc::new(ledger)),
    )
    .await;
    assert_eq!(
        s.send(Raw::form("/login", wrong("victim"))).await.status,
        401
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&schema.pool)
        .await
        .unwrap();
    for _ in 0..20 {
        let a = s.send(Raw::form("/login", wrong("victim"))).await;
        assert_eq!(
            a.status, 503,
            "an attempt the lockout could not judge was let through"
        );
        assert!(a.header("retry-after").is_some());
    }
    assert_eq!(s.reached.login.load(Ordering::SeqCst), 1);
    s.recorder.flush().await.unwrap();
    let refused = ActivityQuery::new().action("auth.login.failed").limit(100);
    let events = s.store.query(&refused).await.unwrap().events;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.reason.as_deref() == Some("lockout_unavailable"))
            .count(),
        20,
        "each refused attempt is recorded with its reason"
    );
    s.guard.shutdown().await;
    schema.drop().await;
}

#[tokio::test]
async fn names_an_attacker_tries_do_not_grow_the_shared_ledger_forever() {
    use activity_core::lockout::{Admission, LockKey, LockoutCheck, Settlement};
    use activity_core::{ManualClock, Outcome};
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = activity_sqlx::PgStore::from_pool(schema.pool.clone());
    store.migrate().await.unwrap();
    let ledger = activity_sqlx::PgLedger::for_store(&store);
    ledger.migrate().await.unwrap();
    let table = ledger.table().to_owned();
    let clock = ManualClock::new(chrono::Utc::now());
    let store: Arc<dyn ActivityStore> = Arc::new(store);
    let policy = Arc::new(
        LockoutPolicy::new(store.clone(), threshold(3))
            .ledger(Arc::new(ledger))
            .clock(clock.clone()),
    );
    let (recorder, guard) = Recorder::builder(store.clone())
        .lockout(policy.clone())
        .clock(clock.clone())
        .start();
    let attempt = |account: String, ip: String, outcome: Outcome| {
        let policy = policy.clone();
        async move {
            let key = LockKey {
                ip: Some(ip.parse().unwrap()),
                ..LockKey::account(None, &account)
            };
            let Admission::Admitted(ticket) = policy.admit(&key).await.unwrap() else {
                panic!("refused");
            };
            let s = Settlement {
                event: uuid::Uuid::now_v7(),
                outcome,
                verified: None,
                device: None,
            };
            policy.settle(ticket, s).await.unwrap();
        }
    };
    // Random names from many addresses, a locked victim, an owner who signs in.
    for i in 0..200 {
        attempt(
            format!("guess-{i}"),
            format!("198.51.{}.7", i % 50),
            Outcome::Failure,
        )
        .await;
    }
    for _ in 0..3 {
        attempt("victim".into(), "192.0.2.8".into(), Outcome::Failure).await;
    }
    attempt("owner".into(), "203.0.113.5".into(), Outcome::Success).await;
    let rows = || {
        let (pool, table) = (schema.pool.clone(), table.clone());
        async move {
            let sql = format!("SELECT count(*) FROM {table}");
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    let before = rows().await;
    assert!(before >= 250, "{before} rows");
    // Only what protects nobody goes at once: the owner's counter and budget after a
    // success. Every failure still counts.
    assert_eq!(policy.prune().await.unwrap(), 2);
    let before = before - 2;
    clock.advance(chrono::Duration::days(2));
    let removed = policy.prune().await.unwrap();
    // Left: the owner's familiar network. The victim's ended lock is released as it goes.
    assert_eq!(rows().await, 1, "{removed} removed of {before}");
    assert_eq!(removed as i64, before - 1);
    recorder.flush().await.unwrap();
    let released = store
        .query(&ActivityQuery::new().action("lockout.released"))
        .await
        .unwrap()
        .events;
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].actor_id(), Some("victim"));
    assert_eq!(released[0].reason.as_deref(), Some("expired"));
    clock.advance(chrono::Duration::days(90));
    policy.prune().await.unwrap();
    assert_eq!(
        rows().await,
        0,
        "a network is forgotten 90 days after its last sign-in"
    );
    guard.shutdown().await;
    schema.drop().await;
}

/// `n` servers sharing one PostgreSQL schema, each with a [`PgLedger`] admitting from
/// memory among `slots` instances (`None`: no memory admission), and their ledgers.
async fn pg_servers(
    schema: &activity_tests::pg::Schema,
    n: usize,
    slots: Option<u64>,
    slow: bool,
) -> (Vec<Server>, Vec<Arc<activity_sqlx::PgLedger>>) {
    let (mut servers, mut ledgers) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let store = activity_sqlx::PgStore::from_pool(schema.pool.clone());
        store.migrate().await.unwrap();
        let ledger = activity_sqlx::PgLedger::for_store(&store);
        ledger.migrate().await.unwrap();
        let ledger = match slots {
            Some(k) => ledger.memory_admission(k).await.unwrap(),
            None => ledger,
        };
        let ledger = Arc::new(ledger);
        let store: Arc<dyn ActivityStore> = Arc::new(store);
        let shared: Arc<dyn LockoutLedger> = ledger.clone();
        servers.push(
            Server::start_with(store, LockoutConfig::default(), false, slow, Some(shared)).await,
        );
        ledgers.push(ledger);
    }
    (servers, ledgers)
}

/// Sends `n` wrong passwords for `email` at once, spread over `servers`; how many reached
/// a handler.
async fn parallel_wrong(servers: &[Server], email: &str, n: usize) -> usize {
    let before: usize = servers
        .iter()
        .map(|s| s.reached.login.load(Ordering::SeqCst))
        .sum();
    let mut tasks = Vec::new();
    for i in 0..n {
        let addr = servers[i % servers.len()].addr;
        let body = wrong(email);
        tasks.push(tokio::spawn(async move {
            Raw::form("/login", body).send(addr).await.status
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        // Refused as locked, busy or throttled (one address sends them all).
        assert!(matches!(status, 401 | 423 | 429), "status {status}");
    }
    let after: usize = servers
        .iter()
        .map(|s| s.reached.login.load(Ordering::SeqCst))
        .sum();
    after - before
}

/// The locks recorded in the store the servers share.
async fn locks_recorded(servers: &[Server]) -> u64 {
    for s in servers {
        s.recorder.flush().await.unwrap();
    }
    servers[0]
        .count(ActivityQuery::new().action("lockout.triggered"))
        .await
}

#[tokio::test]
async fn two_instances_admitting_from_memory_let_at_most_the_threshold_through() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let (servers, ledgers) = pg_servers(&schema, 2, Some(2), true).await;
    assert!(ledgers.iter().all(|l| l.memory_ready()));
    // A cold account (no failures anywhere): each instance admits its share from memory.
    let reached = parallel_wrong(&servers, "victim", 200).await;
    assert!(
        (1..=10).contains(&reached),
        "{reached} of 200 parallel attempts on a cold account reached a handler"
    );
    // A hot account: one failure first, then 200 at once.
    let first = servers[0]
        .send(Raw::form("/login", wrong("alice@example.com")))
        .await;
    assert_eq!(first.status, 401);
    let reached = 1 + parallel_wrong(&servers, "alice@example.com", 200).await;
    assert!(
        reached <= 10,
        "{reached} attempts on a hot account reached a handler"
    );
    // Both accounts end locked (the shares were released, so the failures reach the
    // threshold), and both instances refuse them.
    for _ in 0..40 {
        if locks_recorded(&servers).await >= 2 {
            break;
        }
        for s in &servers {
            for who in ["victim", "alice@example.com"] {
                s.send(Raw::form("/login", wrong(who))).await;
            }
        }
    }
    assert_eq!(locks_recorded(&servers).await, 2);
    let total: usize = servers
        .iter()
        .map(|s| s.reached.login.load(Ordering::SeqCst))
        .sum();
    assert!(total <= 20, "{total} attempts in all reached a handler");
    for s in &servers {
        for who in ["victim", "alice@example.com"] {
            assert_eq!(s.send(Raw::form("/login", wrong(who))).await.status, 423);
        }
    }
    for s in servers {
        s.guard.shutdown().await;
    }
    schema.drop().await;
}

#[tokio::test]
async fn a_sign_in_with_no_recent_failures_does_not_wait_on_the_database() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let (servers, ledgers) = pg_servers(&schema, 2, Some(2), false).await;
    let table = ledgers[0].table().to_owned();
    // The first attempt after a start reads the lockout events; alice fails once (hot).
    for s in &servers {
        assert_eq!(
            s.send(Raw::form("/login", wrong("alice@example.com")))
                .await
                .status,
            401
        );
    }
    // Every ledger table locked by another transaction: a round trip to them would wait.
    let mut locker = schema.pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table}, {table}_hot, {table}_slots IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *locker)
    .await
    .unwrap();
    for s in &servers {
        let ok = tokio::time::timeout(
            Duration::from_secs(5),
            // From an address with no recent failures either (its budget is cold too).
            Raw::form("/login", "email=bob%40example.com&password=bob-pw")
                .from("127.0.9.1")
                .send(s.addr),
        )
        .await
        .expect("a sign-in on a cold account waited on the locked ledger");
        assert_eq!(ok.status, 200);
    }
    // The check can tell: an attempt on the hot account does wait.
    let hot = tokio::spawn({
        let addr = servers[1].addr;
        async move {
            Raw::form("/login", wrong("alice@example.com"))
                .send(addr)
                .await
                .status
        }
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), async {
            while !hot.is_finished() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .is_err(),
        "an attempt on a hot account was decided without the ledger"
    );
    locker.rollback().await.unwrap();
    assert_eq!(hot.await.unwrap(), 401);
    // The sign-ins were recorded, and their devices remembered once the tables were free.
    servers[1].recorder.flush().await.unwrap();
    assert_eq!(
        servers[0]
            .count(ActivityQuery::new().action("auth.login.succeeded"))
            .await,
        2
    );
    for s in servers {
        s.guard.shutdown().await;
    }
    schema.drop().await;
}

#[tokio::test]
async fn an_instance_beyond_the_slots_decides_in_the_database() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let (servers, ledgers) = pg_servers(&schema, 3, Some(2), true).await;
    let ready: Vec<bool> = ledgers.iter().map(|l| l.memory_ready()).collect();
    assert_eq!(ready, [true, true, false], "two slots for three instances");
    let reached = parallel_wrong(&servers, "victim", 300).await;
    assert!(
        (1..=10).contains(&reached),
        "{reached} of 300 parallel attempts on three instances reached a handler"
    );
    // A different count of instances is refused, not mixed with these.
    let store = activity_sqlx::PgStore::from_pool(schema.pool.clone());
    let err = activity_sqlx::PgLedger::for_store(&store)
        .memory_admission(3)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            activity_sqlx::Error::Instances {
                configured: 3,
                found: Some(2)
            }
        ),
        "{err}"
    );
    for s in servers {
        s.guard.shutdown().await;
    }
    schema.drop().await;
}

#[tokio::test]
async fn an_account_is_admitted_from_memory_again_once_its_failures_are_spent() {
    use activity_core::lockout::{Admission, LockKey, LockoutCheck, Settlement};
    use activity_core::{ManualClock, Outcome};
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = activity_sqlx::PgStore::from_pool(schema.pool.clone());
    store.migrate().await.unwrap();
    let ledger = activity_sqlx::PgLedger::for_store(&store);
    ledger.migrate().await.unwrap();
    let hot_table = format!("{}_hot", ledger.table());
    let ledger = Arc::new(ledger.memory_admission(1).await.unwrap());
    let clock = ManualClock::new(chrono::Utc::now());
    let store: Arc<dyn ActivityStore> = Arc::new(store);
    let policy = Arc::new(
        LockoutPolicy::new(store.clone(), threshold(3))
            .ledger(ledger.clone())
            .clock(clock.clone()),
    );
    let (_recorder, guard) = Recorder::builder(store.clone())
        .lockout(policy.clone())
        .clock(clock.clone())
        .start();
    let attempt = |outcome: Outcome| {
        let policy = policy.clone();
        async move {
            let key = LockKey {
                ip: Some("192.0.2.8".parse().unwrap()),
                ..LockKey::account(None, "victim")
            };
            let Admission::Admitted(ticket) = policy.admit(&key).await.unwrap() else {
                panic!("refused");
            };
            let s = Settlement {
                event: uuid::Uuid::now_v7(),
                outcome,
                verified: None,
                device: None,
            };
            policy.settle(ticket, s).await.unwrap();
        }
    };
    let hot_rows = || {
        let (pool, table) = (schema.pool.clone(), hot_table.clone());
        async move {
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            n
        }
    };
    // A success on a cold account leaves nothing in the database.
    attempt(Outcome::Success).await;
    assert_eq!(hot_rows().await, 0);
    // A failure turns the account and the address hot.
    attempt(Outcome::Failure).await;
    assert_eq!(hot_rows().await, 2);
    // Still within the window: the prune keeps them hot.
    policy.prune().await.unwrap();
    assert_eq!(hot_rows().await, 2);
    // Once the failure and the budget are spent, the prune turns them cold; after the
    // notice reaches this instance, a success again leaves nothing in the database.
    clock.advance(chrono::Duration::days(2));
    let mut cold = false;
    for _ in 0..100 {
        policy.prune().await.unwrap();
        assert_eq!(hot_rows().await, 0);
        attempt(Outcome::Success).await;
        if hot_rows().await == 0 {
            cold = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cold, "the account never became cold again");
    guard.shutdown().await;
    schema.drop().await;
}
