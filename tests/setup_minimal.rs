//! The README's ten-line program (`examples/minimal.rs`, built as this package's
//! `minimal` binary) run as a process on SQLite and driven over a real socket, as a new
//! user would: events stored with the client's IP, an alert raised, the eleventh wrong
//! password answered 423, the device cookie usable over plain HTTP, the logout under the
//! right account, and after Ctrl-C `activity verify` — given the same
//! `ACTIVITY_CHAIN_KEY` — finds the chain intact. Also: the README shows `main` exactly.

use std::process::ExitCode;
use std::time::Duration;

use activity_core::{chain, Action, ActivityQuery, ActivityStore};
use activity_sqlx::cli::{args::Cli, run};
use activity_tests::http_client::{get, post};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const KEY: &str = "the-ten-line-program's chain key, shared with the CLI";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ten_line_program_records_alerts_locks_and_verifies() {
    let dir = std::env::temp_dir().join(activity_tests::unique("activity_minimal_"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("activity.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_minimal"))
        .env("ACTIVITY_DATABASE_URL", &db)
        .env("ACTIVITY_CHAIN_KEY", KEY)
        .env_remove("ACTIVITY_COOKIE_KEY")
        .env("ADDR", "127.0.0.1:0")
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the program starts")
        .unwrap()
        .expect("it prints its address");
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();

    // Alice signs in; the host is not localhost and the server speaks plain HTTP, so the
    // device cookie must not be Secure (the browser would drop it).
    let ok = post(
        addr,
        "/login",
        "username=alice%40example.com&password=correct+horse",
        "",
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let sid = ok.cookie("sid").expect("a session");
    let device = ok.set_cookie("activity_device").expect("a device cookie");
    assert!(!device.contains("Secure"), "{device}");
    // Her Audit Log, through the views the setup handed out.
    let cookie = format!("sid={sid}");
    let log = get(addr, "/audit-log/api/events?scope=tenant", &cookie).await;
    assert_eq!(log.status, 200, "{log:?}");

    // Ten wrong passwords for bob, then the eleventh attempt is refused.
    for i in 0..10 {
        let r = post(
            addr,
            "/login",
            "username=bob%40example.com&password=nope",
            "",
        )
        .await;
        assert_eq!(r.status, 401, "attempt {}: {r:?}", i + 1);
    }
    let locked = post(
        addr,
        "/login",
        "username=bob%40example.com&password=hunter2",
        "",
    )
    .await;
    assert_eq!(locked.status, 423, "{locked:?}");

    let out = post(addr, "/logout", "", &cookie).await;
    assert_eq!(out.status, 200, "{out:?}");

    // Ctrl-C: the program stops serving and writes everything.
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the program stops on Ctrl-C")
        .unwrap();
    assert!(status.success(), "{status:?}");

    let store = activity_sqlx::open(&db).await.unwrap();
    let all = store
        .query(&ActivityQuery::new().limit(500))
        .await
        .unwrap()
        .events;
    let of = |a: &Action| {
        let a = a.clone();
        all.iter()
            .filter(move |e| e.action == a)
            .collect::<Vec<_>>()
            .into_iter()
    };
    let failed: Vec<_> = of(&Action::LOGIN_FAILED).collect();
    assert_eq!(
        failed.len(),
        11,
        "ten wrong passwords and the locked attempt"
    );
    assert!(failed
        .iter()
        .all(|e| e.ip() == Some("127.0.0.1".parse().unwrap())));
    let reasons: Vec<_> = failed.iter().filter_map(|e| e.reason.as_deref()).collect();
    assert_eq!(reasons.iter().filter(|r| **r == "bad_password").count(), 10);
    assert_eq!(reasons.iter().filter(|r| **r == "locked").count(), 1);
    assert_eq!(of(&Action::LOCKOUT_TRIGGERED).count(), 1, "bob was locked");
    let alerts: Vec<_> = of(&Action::ALERT_RAISED).collect();
    assert!(
        alerts
            .iter()
            .any(|a| a.details.as_ref().unwrap()["rule"] == "failed_logins"),
        "{alerts:?}"
    );
    let created = of(&Action::SESSION_CREATED)
        .next()
        .expect("session.created");
    let ended = of(&Action::SESSION_TERMINATED)
        .next()
        .expect("session.terminated");
    assert!(created.session.is_some());
    assert_eq!(created.session, ended.session, "the same session, hashed");
    assert_eq!(ended.actor_id(), Some("alice@example.com"));
    let logout = of(&Action::LOGOUT).next().expect("the logout");
    assert_eq!(logout.actor_id(), Some("alice@example.com"));
    assert!(
        of(&Action::AUDIT_VIEWED).count() >= 1,
        "the read was audited"
    );
    assert!(all.iter().all(|e| e.chain.is_some()), "every event chained");

    // The operator's check, with the same variable.
    let report = chain::verify(
        &*store,
        None,
        &chain::ChainKey::keyed(KEY.as_bytes()).unwrap(),
    )
    .await
    .unwrap();
    assert!(report.is_intact(), "{report:?}");
    drop(store);
    // The other test of this binary reads no environment, so nothing races this.
    std::env::set_var("ACTIVITY_CHAIN_KEY", KEY);
    let cli = Cli::try_parse_from(["activity", "--db", &db, "verify"]).unwrap();
    let code = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(cli))
    })
    .join()
    .unwrap();
    std::env::remove_var("ACTIVITY_CHAIN_KEY");
    assert!(
        matches!(code, Ok(c) if c == ExitCode::SUCCESS),
        "activity verify: {code:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The README's minimal program is `main` of `examples/minimal.rs`, character for
/// character.
#[test]
fn the_readme_shows_the_program_that_is_tested() {
    let example = include_str!("../examples/minimal.rs");
    let start = example.find("// README: minimal-main\n").unwrap() + 24;
    let end = example.find("// README: end").unwrap();
    let main = &example[start..end];
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(main),
        "README.md must show examples/minimal.rs's main as it is:\n{main}"
    );
    let wiring = main.lines().filter(|l| l.starts_with("    ")).count();
    assert!(
        wiring <= 11,
        "the setup takes {wiring} lines (ten, and Ok(()))"
    );
}
