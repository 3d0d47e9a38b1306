//! The web example (`examples/axum_app.rs`, built as this package's `axum_app` binary)
//! run as a person trying it would, with no settings at all: ten wrong passwords and the
//! eleventh attempt gets 423, the alerts appear in its log, and after Ctrl-C
//! `activity verify` with the demo key it prints finds the chain intact.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use activity_sqlx::cli::{args::Cli, run};
use activity_tests::http_client::post;
use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_app_shows_the_lockout_the_alerts_and_the_chain() {
    let dir = std::env::temp_dir().join(activity_tests::unique("activity_example_"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("activity.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_axum_app"))
        .env("ACTIVITY_DATABASE_URL", &db)
        .env_remove("ACTIVITY_CHAIN_KEY")
        .env_remove("ACTIVITY_COOKIE_KEY")
        .env_remove("ACTIVITY_GEOIP_CITY")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("ADDR", "127.0.0.1:0")
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Everything it prints, read as it comes (so that the pipe never fills).
    let out = Arc::new(Mutex::new(Vec::<String>::new()));
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let sink = out.clone();
    tokio::spawn(async move {
        let mut addr_tx = Some(addr_tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("listening on http://") {
                let addr = rest.split(' ').next().unwrap().to_owned();
                if let Some(tx) = addr_tx.take() {
                    let _ = tx.send(addr);
                }
            }
            sink.lock().unwrap().push(line);
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(60), addr_rx)
        .await
        .expect("the example starts")
        .unwrap()
        .parse()
        .unwrap();

    for i in 0..10 {
        let r = post(
            addr,
            "/login",
            "username=bob%40example.com&password=nope",
            "",
        )
        .await;
        assert_eq!(r.status, 401, "attempt {}", i + 1);
    }
    let locked = post(
        addr,
        "/login",
        "username=bob%40example.com&password=hunter2",
        "",
    )
    .await;
    assert_eq!(locked.status, 423);

    // The alert in the log.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !out
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("failed_logins"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no alert in the log: {:#?}",
            out.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("it stops on Ctrl-C")
        .unwrap();
    assert!(status.success(), "{status:?}");

    // The key it told the user to verify with.
    let printed = out.lock().unwrap().join("\n");
    let key = printed
        .split("ACTIVITY_CHAIN_KEY='")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("the demo key is printed")
        .to_owned();
    // The only test of this binary: nothing else reads the environment meanwhile.
    std::env::set_var("ACTIVITY_CHAIN_KEY", &key);
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
