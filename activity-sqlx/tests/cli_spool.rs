//! `activity spool status|replay` end to end on SQLite: what an application left in its
//! spool (batches spooled before and after sealing) reaches the store in order, with an
//! intact chain; a wrong key or a missing file replays nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use activity_core::chain::{ChainKey, ChainSealer};
use activity_core::spool::Spool;
use activity_core::{ActivityEvent, Actor};
use activity_sqlx::SqliteSpool;

const KEY: &str = "the application's chain key, 32 bytes+";

struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!("activity-cli-spool-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn url(&self) -> String {
        format!("sqlite://{}/log.db", self.0.display())
    }
    fn spool(&self) -> PathBuf {
        self.0.join("spool.db")
    }
    fn run(&self, key: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_activity"))
            .current_dir(&self.0)
            .env_remove("ACTIVITY_SPOOL_PATH")
            .env("ACTIVITY_CHAIN_KEY", key)
            .arg("--db")
            .arg(self.url())
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn logins(n: usize) -> Vec<ActivityEvent> {
    (0..n)
        .map(|i| ActivityEvent::login_succeeded(Actor::user(format!("u_{i}"))))
        .collect()
}

async fn fill(path: &Path, batches: Vec<(bool, Vec<ActivityEvent>)>) {
    let spool = SqliteSpool::open(path, 1 << 20).await.unwrap();
    for (sealed, events) in batches {
        spool.push(sealed, &events).await.unwrap();
    }
    spool.close().await;
}

fn status(dir: &Dir) -> serde_json::Value {
    let spool = dir.spool();
    let out = dir.run(
        KEY,
        &["spool", "status", "--spool", spool.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn replay_stores_what_the_application_spooled_with_an_intact_chain() {
    let dir = Dir::new();
    assert!(dir.run(KEY, &["migrate"]).status.success());
    let spool = dir.spool();
    let spool_arg = spool.to_str().unwrap();

    let out = dir.run(KEY, &["spool", "status", "--spool", spool_arg]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing spool file is a usage error"
    );

    // What an application left: a batch sealed before its store went down, then one
    // spooled before it could be sealed.
    let mut sealer = ChainSealer::new("web-1", ChainKey::keyed(KEY.as_bytes()).unwrap());
    let mut sealed = logins(2);
    sealer.seal_all(&mut sealed);
    let unsealed = logins(3);
    fill(
        &spool,
        vec![(true, sealed.clone()), (false, unsealed.clone())],
    )
    .await;
    let s = status(&dir);
    assert_eq!(
        (s["batches"].as_u64(), s["events"].as_u64()),
        (Some(2), Some(5)),
        "{s}"
    );

    let out = dir.run(KEY, &["spool", "replay", "--spool", spool_arg]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(status(&dir)["events"].as_u64(), Some(0));
    let out = dir.run(
        KEY,
        &[
            "query",
            "--action",
            "auth.login.succeeded",
            "--format",
            "json",
        ],
    );
    let stored = text(&out.stdout);
    for e in sealed.iter().chain(&unsealed) {
        assert!(stored.contains(&e.id.to_string()), "{} stored", e.id);
    }
    assert_eq!(stored.lines().count(), 5);
    let out = dir.run(KEY, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // Replaying again finds nothing and changes nothing.
    let out = dir.run(KEY, &["spool", "replay", "--spool", spool_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test]
async fn a_wrong_key_replays_nothing() {
    let dir = Dir::new();
    assert!(dir.run(KEY, &["migrate"]).status.success());
    let spool = dir.spool();
    // A sealed log under the right key.
    let mut sealer = ChainSealer::new("web-1", ChainKey::keyed(KEY.as_bytes()).unwrap());
    let mut sealed = logins(2);
    sealer.seal_all(&mut sealed);
    fill(&spool, vec![(true, sealed)]).await;
    let spool_arg = spool.to_str().unwrap();
    assert!(dir
        .run(KEY, &["spool", "replay", "--spool", spool_arg])
        .status
        .success());

    fill(&spool, vec![(false, logins(4))]).await;
    let out = dir.run(
        "not the key the log was sealed with, no",
        &["spool", "replay", "--spool", spool_arg],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(status(&dir)["events"].as_u64(), Some(4), "still spooled");
    let out = dir.run(KEY, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

/// Issue 19 (review): nothing kept `activity spool replay` from running beside the
/// application that owns the spool, both replaying and removing the same batches. The
/// spool's writer holds a lock: while this test (the "application") has the spool open,
/// `replay` from another process is refused with a usage error and replays nothing;
/// `status` still reads it; once the application closes it, `replay` goes ahead.
#[tokio::test]
async fn replay_beside_the_running_application_is_refused() {
    let dir = Dir::new();
    assert!(dir.run(KEY, &["migrate"]).status.success());
    let spool = dir.spool();
    let spool_arg = spool.to_str().unwrap();
    let app = SqliteSpool::open(&spool, 1 << 20).await.unwrap();
    app.push(false, &logins(2)).await.unwrap();

    let out = dir.run(KEY, &["spool", "replay", "--spool", spool_arg]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("in use by another process"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        status(&dir)["events"].as_u64(),
        Some(2),
        "status reads beside it"
    );
    let out = dir.run(
        KEY,
        &[
            "query",
            "--action",
            "auth.login.succeeded",
            "--format",
            "json",
        ],
    );
    assert_eq!(text(&out.stdout).lines().count(), 0, "nothing replayed");

    app.close().await;
    drop(app);
    let out = dir.run(KEY, &["spool", "replay", "--spool", spool_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(status(&dir)["events"].as_u64(), Some(0));
}
