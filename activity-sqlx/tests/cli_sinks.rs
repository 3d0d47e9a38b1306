//! `activity sinks`, the purge's guard for a lagging sink, and `activity ingest --from
//! nats://…`, through the binary.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use activity_core::sinks::{FileSink, SinkRunner};
use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
use activity_sqlx::{NatsSink, SqliteStore};

fn bin(dir: &PathBuf, url: &str, args: &[&str], input: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_activity"))
        .env_remove("ACTIVITY_DATABASE_URL")
        .env_remove("ACTIVITY_CHAIN_KEY")
        .env_remove("ACTIVITY_SIGNING_KEY")
        .current_dir(dir)
        .arg("--db")
        .arg(url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = input {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp(name: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("activity-{name}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/cli.db", dir.display());
    (dir, url)
}

#[tokio::test]
async fn sinks_lists_receipts_the_purge_keeps_what_a_lagging_sink_has_not_delivered() {
    let (dir, url) = temp("cli-sinks");
    assert!(bin(&dir, &url, &["migrate"], None).status.success());
    let lines: String = (0..5)
        .map(|i| format!("{{\"action\":\"auth.logout\",\"actor\":{{\"id\":\"u{i}\"}},\"time\":\"2026-01-0{}T00:00:00Z\"}}\n", i + 1))
        .collect();
    let out = bin(&dir, &url, &["ingest"], Some(lines.as_bytes()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A sink of the application's that delivered the first two events.
    {
        let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
        let sink = Arc::new(FileSink::new(dir.join("files")).unwrap());
        let runner = SinkRunner::new("archive-files", store.clone(), sink)
            .unwrap()
            .batch_size(2);
        runner.deliver_once().await.unwrap();
        store.pool().close().await;
    }
    let out = bin(&dir, &url, &["sinks"], None);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        table.contains("archive-files") && table.contains("delivering"),
        "{table}"
    );
    let out = bin(&dir, &url, &["sinks", "--json"], None);
    let receipt: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(receipt["name"], "archive-files");
    assert_eq!(receipt["lag"], 3, "three events not delivered");
    assert_eq!(receipt["delivered"], 2);
    // The purge (everything expired by 2027) keeps the three.
    let out = bin(
        &dir,
        &url,
        &["purge", "--now", "2027-06-01T00:00:00Z"],
        None,
    );
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(printed.contains("deleted 2 events in all"), "{printed}");
    assert!(
        printed.contains("kept 3 expired events a sink has not delivered"),
        "{printed}"
    );
    let out = bin(
        &dir,
        &url,
        &["query", "--format", "json", "--action", "auth"],
        None,
    );
    assert_eq!(text(&out.stdout).lines().count(), 3);
    // Told to, it deletes them, and says so on audit.purged.
    let out = bin(
        &dir,
        &url,
        &[
            "purge",
            "--now",
            "2027-06-01T00:00:00Z",
            "--purge-undelivered",
        ],
        None,
    );
    let printed = text(&out.stdout);
    assert!(
        printed.contains("deleted 3 events a sink had not delivered"),
        "{printed}"
    );
    let out = bin(
        &dir,
        &url,
        &["query", "--format", "json", "--action", "audit.purged"],
        None,
    );
    let purges: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        purges.iter().any(|p| p["details"]["undelivered_kept"] == 3),
        "{purges:?}"
    );
    assert!(
        purges
            .iter()
            .any(|p| p["details"]["undelivered_purged"] == 3),
        "{purges:?}"
    );
    // Removed, the sink no longer holds anything back; removing it again is an error.
    assert!(bin(&dir, &url, &["sinks", "remove", "archive-files"], None)
        .status
        .success());
    let again = bin(&dir, &url, &["sinks", "remove", "archive-files"], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&bin(&dir, &url, &["sinks", "--json"], None).stdout)
        .trim()
        .is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn ingest_from_nats_stores_a_stream_once() {
    let server = match std::env::var("ACTIVITY_TEST_NATS_URL") {
        Ok(s) if !s.is_empty() => s,
        _ => {
            assert_ne!(
                std::env::var("ACTIVITY_TEST_REQUIRE_SERVERS").as_deref(),
                Ok("1"),
                "ACTIVITY_TEST_NATS_URL is not set but ACTIVITY_TEST_REQUIRE_SERVERS=1"
            );
            return;
        }
    };
    let stream = format!("CLI_{}", uuid::Uuid::now_v7().simple());
    let from = format!(
        "{server}/{stream}?subject={}.events&consumer=cli",
        stream.to_lowercase()
    );
    // What an app instance's sink published.
    let app = Arc::new(MemoryStore::new());
    let events: Vec<_> = (0..3)
        .map(|i| ActivityEvent::login_failed(Actor::user(format!("u{i}"))))
        .collect();
    app.append(&events).await.unwrap();
    let sink = Arc::new(NatsSink::connect(&from.parse().unwrap()).await.unwrap());
    SinkRunner::new("bus", app, sink)
        .unwrap()
        .deliver_available()
        .await
        .unwrap();
    let (dir, url) = temp("cli-nats");
    assert!(bin(&dir, &url, &["migrate"], None).status.success());
    let out = bin(&dir, &url, &["ingest", "--from", &from, "--drain"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("stored 3 events"),
        "{}",
        text(&out.stderr)
    );
    let again = bin(&dir, &url, &["ingest", "--from", &from, "--drain"], None);
    assert!(
        text(&again.stderr).contains("took 0 messages"),
        "{}",
        text(&again.stderr)
    );
    let out = bin(
        &dir,
        &url,
        &["query", "--format", "json", "--action", "auth"],
        None,
    );
    let ids: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 3);
    for e in &events {
        assert!(ids.contains(&e.id.to_string()));
    }
    let bad = bin(
        &dir,
        &url,
        &["ingest", "--from", "nats://host/bad stream"],
        None,
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("stream name"),
        "{}",
        text(&bad.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
