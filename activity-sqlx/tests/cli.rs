//! The `activity` binary end to end, on SQLite (and PostgreSQL when configured).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_activity"));
    c.env_remove("ACTIVITY_DATABASE_URL")
        .env_remove("ACTIVITY_CHAIN_KEY")
        .env_remove("ACTIVITY_SIGNING_KEY");
    c
}

struct Db {
    dir: PathBuf,
    url: String,
}

impl Db {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("activity-cli-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/cli.db", dir.display());
        let db = Self { dir, url };
        // Only `migrate` creates a database file; every other command wants one.
        assert!(db.run(&["migrate"]).status.success());
        db
    }

    fn run(&self, args: &[&str]) -> Output {
        bin()
            .current_dir(&self.dir)
            .arg("--db")
            .arg(&self.url)
            .args(args)
            .output()
            .unwrap()
    }

    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = bin()
            .current_dir(&self.dir)
            .arg("--db")
            .arg(&self.url)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn failures(account: &str, n: usize, start_minute: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"action":"auth.login.failed","outcome":"failure","time":"2026-11-24T06:{:02}:00Z","actor":{{"id":"{account}"}},"source":{{"ip":"175.16.199.1"}}}}"#,
                start_minute + i
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn migrate_query_and_usage_errors() {
    let db = Db::new();
    let out = db.run(&["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = db.run(&["query", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--since"));
    assert_eq!(text(&out.stderr).lines().count(), 1, "one clear line");
    let out = db.run(&["query", "--outcome", "maybe"]);
    assert_eq!(out.status.code(), Some(2));
    let out = db.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["--db", "oracle://x", "query"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(!text(&out.stderr).contains("panicked"));
}

#[test]
fn ingest_reports_hostile_lines_and_stores_the_rest() {
    let db = Db::new();
    let mut input = Vec::new();
    input.extend_from_slice(br#"{"action":"auth.logout","actor":{"id":"alice"}}"#);
    input.extend_from_slice(b"\nnot json\n");
    input.extend_from_slice(b"\xff\xfe\xfd\n");
    input.extend_from_slice(
        format!(
            r#"{{"action":"a.b","reason":"{}"}}"#,
            "x".repeat(10 * 1024 * 1024)
        )
        .as_bytes(),
    );
    input.extend_from_slice(b"\n{\"action\":\"auth.logout\",\"password\":\"hunter2\"}\n");
    input.extend_from_slice(b"{\"outcome\":\"success\"}\n");
    input.extend_from_slice(br#"{"action":"auth.logout","actor":{"id":"bob"}}"#);
    let out = db.run_stdin(&["ingest", "-"], &input);
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad lines make the exit status 1"
    );
    let err = text(&out.stderr);
    for n in [2, 3, 4, 5, 6] {
        assert!(
            err.contains(&format!("line {n}:")),
            "line {n} reported: {err}"
        );
    }
    assert!(
        err.contains("password"),
        "the unknown field is named: {err}"
    );
    assert!(err.contains("action"), "the missing action is named");
    assert!(!err.contains("hunter2"), "values are not echoed");
    let out = db.run(&["query", "--format", "json"]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "the valid lines are stored"
    );

    // --strict stores nothing unless every line is valid.
    let db = Db::new();
    let out = db.run_stdin(
        &["ingest", "--strict"],
        b"{\"action\":\"auth.logout\"}\nbroken\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let out = db.run(&["query", "--format", "json"]);
    assert_eq!(text(&out.stdout).lines().count(), 0);
}

#[test]
fn table_output_escapes_control_characters() {
    let db = Db::new();
    let out = db.run_stdin(
        &["ingest"],
        br#"{"action":"auth.login.failed","actor":{"id":"x","name":"evil\r\nFORGED LINE\u001b[31m"}}"#,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = db.run(&["query"]);
    let table = text(&out.stdout);
    assert!(
        table.contains("evil\\r\\nFORGED LINE\\u{1b}[31m"),
        "{table}"
    );
    assert!(!table.contains('\u{1b}'));
    assert_eq!(table.lines().count(), 3);
}

#[test]
fn history_raises_alerts_and_locks_and_unlock_releases() {
    let db = Db::new();
    let out = db.run_stdin(&["ingest"], failures("victim", 10, 0).as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = db.run(&["alerts", "--format", "json"]);
    let alerts = text(&out.stdout);
    assert_eq!(alerts.lines().count(), 1, "{alerts}");
    assert!(alerts.contains("failed_logins"));
    let out = db.run(&["query", "--action", "lockout", "--format", "json"]);
    assert!(text(&out.stdout).contains("lockout.triggered"));
    let out = db.run(&["unlock", "victim"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = db.run(&["query", "--action", "lockout.released", "--format", "json"]);
    assert!(text(&out.stdout).contains("admin_unlock"));
    let out = db.run(&["query", "--action", "admin", "--format", "csv"]);
    assert!(text(&out.stdout).contains("admin.user.unlocked"));
}

#[test]
fn export_verify_and_tampering() {
    let db = Db::new();
    assert!(db
        .run_stdin(&["ingest"], failures("a", 3, 0).as_bytes())
        .status
        .success());
    let out = db.run(&["export", "--format", "csv", "--output", "out.csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(db.dir.join("out.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    let out = db.run(&["export", "--format", "jsonl"]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        4,
        "the three events and the first export's record"
    );
    let out = db.run(&["query", "--action", "audit.exported", "--format", "json"]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "each export is recorded"
    );
    let out = db.run(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // Tamper with a row directly.
    let db_path = db.dir.join("cli.db");
    tamper(&db_path);
    let out = db.run(&["verify"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("modified"));
}

fn tamper(path: &std::path::Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE activity_events SET actor_id = 'someone-else' WHERE chain_seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
}

#[test]
fn timeline_and_digest() {
    let db = Db::new();
    assert!(db
        .run_stdin(&["ingest"], failures("carol", 5, 0).as_bytes())
        .status
        .success());
    let out = db.run(&[
        "timeline",
        "--ip",
        "175.16.199.1",
        "--at",
        "2026-11-24T06:10:00Z",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("same IP 175.16.199.1"), "{t}");
    let out = db.run(&[
        "timeline",
        "--account",
        "carol",
        "--at",
        "2026-11-24T06:10:00Z",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["entries"].as_array().unwrap().len() >= 5);
    let out = db.run(&[
        "digest",
        "--role",
        "security",
        "--since",
        "2026-11-24T00:00:00Z",
        "--until",
        "2026-11-25T00:00:00Z",
        "--format",
        "html",
        "--output",
        "d.html",
        "--sign-off",
        "analyst",
        "--comment",
        "seen",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(db.dir.join("d.html")).unwrap();
    assert!(html.contains("Top failing accounts") && html.contains("carol"));
    let out = db.run(&["query", "--action", "audit.reviewed", "--format", "json"]);
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let out = db.run(&["timeline"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn postgres_end_to_end_when_configured() {
    let Ok(url) = std::env::var("ACTIVITY_TEST_POSTGRES_URL") else {
        eprintln!("notice: ACTIVITY_TEST_POSTGRES_URL not set; skipping");
        return;
    };
    // Its own schema, through the search_path option of the URL.
    let schema = format!("activity_cli_{}", uuid::Uuid::now_v7().simple());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&pool)
            .await
            .unwrap();
    });
    let sep = if url.contains('?') { '&' } else { '?' };
    let db_url = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let run = |args: &[&str], input: Option<&[u8]>| {
        let mut child = bin()
            .arg("--db")
            .arg(&db_url)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.unwrap_or(b""))
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(run(&["migrate"], None).status.success());
    let out = run(&["ingest"], Some(failures("pg-user", 6, 0).as_bytes()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&run(&["alerts", "--format", "json"], None).stdout)
            .lines()
            .count(),
        1
    );
    assert_eq!(run(&["verify"], None).status.code(), Some(0));
    assert_eq!(
        text(&run(&["export", "--format", "jsonl"], None).stdout)
            .lines()
            .count(),
        8
    );
    // Every other subcommand, on PostgreSQL too.
    let q = run(&["query", "--user", "pg-user", "--format", "json"], None);
    assert_eq!(text(&q.stdout).lines().count(), 6, "{}", text(&q.stderr));
    let dir = std::env::temp_dir().join(format!("activity-cli-pg-{}", uuid::Uuid::now_v7()));
    let dir_s = dir.display().to_string();
    assert!(run(
        &[
            "archive",
            "--output",
            &dir_s,
            "--since",
            "2026-11-24T00:00:00Z",
            "--until",
            "2026-11-25T00:00:00Z"
        ],
        None
    )
    .status
    .success());
    assert_eq!(
        run(&["archive", "verify", &dir_s], None).status.code(),
        Some(0)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(run(&["purge", "--dry-run"], None).status.success());
    let r = run(
        &[
            "report",
            "--since",
            "2026-11-24T00:00:00Z",
            "--until",
            "2026-11-25T00:00:00Z",
            "--format",
            "json",
        ],
        None,
    );
    assert!(
        text(&r.stdout).contains("\"pg-user\": 6"),
        "{}",
        text(&r.stdout)
    );
    assert!(run(&["unlock", "pg-user"], None).status.success());
    assert!(run(
        &[
            "timeline",
            "--account",
            "pg-user",
            "--at",
            "2026-11-24T06:03:00Z"
        ],
        None
    )
    .status
    .success());
    assert!(run(&["digest", "--role", "compliance"], None)
        .status
        .success());
    assert_eq!(
        run(&["verify"], None).status.code(),
        Some(0),
        "still intact after all that"
    );
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&pool)
            .await
            .unwrap();
    });
}

#[test]
fn purge_follows_the_config_and_dry_run_deletes_nothing() {
    let db = Db::new();
    std::fs::write(
        db.dir.join("activity.toml"),
        "[retention]\ndefault_tier = \"small_business\"\ntenants = { beta = { days = 30 } }\nlegal_holds = [\"held\"]\n",
    )
    .unwrap();
    let lines = [
        r#"{"action":"auth.logout","tenant":"beta","time":"2026-01-01T00:00:00Z"}"#,
        r#"{"action":"auth.logout","tenant":"beta","time":"2026-11-20T00:00:00Z"}"#,
        r#"{"action":"auth.logout","tenant":"held","time":"2020-01-01T00:00:00Z"}"#,
        r#"{"action":"auth.logout","time":"2026-01-01T00:00:00Z"}"#,
    ]
    .join("\n");
    assert!(db.run_stdin(&["ingest"], lines.as_bytes()).status.success());
    let out = db.run(&["purge", "--dry-run", "--now", "2026-11-24T00:00:00Z"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("would delete 2 events in all"),
        "{}",
        text(&out.stdout)
    );
    let out = db.run(&["query", "--format", "json", "--action", "auth"]);
    assert_eq!(text(&out.stdout).lines().count(), 4);
    let out = db.run(&["purge", "--now", "2026-11-24T00:00:00Z"]);
    assert!(text(&out.stdout).contains("deleted 2 events in all"));
    assert!(text(&out.stdout).contains("legal hold"));
    let out = db.run(&["query", "--format", "json", "--action", "auth"]);
    assert_eq!(text(&out.stdout).lines().count(), 2);
    let out = db.run(&["query", "--format", "json", "--action", "audit.purged"]);
    assert_eq!(text(&out.stdout).lines().count(), 2, "both runs recorded");
}

/// `activity archive` of 2026-11-24 into `out`.
fn archive_day(db: &Db, out: &str) -> Output {
    db.run(&[
        "archive",
        "--output",
        out,
        "--since",
        "2026-11-24T00:00:00Z",
        "--until",
        "2026-11-25T00:00:00Z",
    ])
}

/// Issue 23 (review A16): an archive whose event was edited and whose manifest's SHA-256
/// was recomputed verified as intact. With a signing key configured, `activity archive`
/// signs the manifest and `archive verify --public-key` finds the forgery (exit 3,
/// `BadSignature`); without the key the same check cannot tell, and says so.
#[test]
fn a_signed_archive_finds_a_rewritten_manifest() {
    use sha2::Digest;
    let db = Db::new();
    assert!(db
        .run_stdin(&["ingest"], failures("sig", 6, 0).as_bytes())
        .status
        .success());
    let out = db.run(&[
        "checkpoint",
        "keygen",
        "--secret",
        "s.key",
        "--public",
        "s.pub",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(
        db.dir.join("activity.toml"),
        "[chain]\nsigning_key_file = \"s.key\"\n",
    )
    .unwrap();
    let out = archive_day(&db, "arch");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = db.run(&["archive", "verify", "arch", "--public-key", "s.pub"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("signed by the given key"));
    // The attacker edits an event and recomputes the checksum in the manifest.
    let f = db.dir.join("arch/events.jsonl");
    let edited = std::fs::read_to_string(&f)
        .unwrap()
        .replacen("sig", "sag", 1);
    std::fs::write(&f, &edited).unwrap();
    let m = db.dir.join("arch/manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    manifest["files"][0]["sha256"] = hex::encode(sha2::Sha256::digest(edited.as_bytes())).into();
    std::fs::write(&m, manifest.to_string()).unwrap();
    let out = db.run(&["archive", "verify", "arch"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "without the key the forgery passes"
    );
    assert!(text(&out.stdout).contains("not checked"));
    let out = db.run(&["archive", "verify", "arch", "--public-key", "s.pub"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("BadSignature"));
}

#[test]
fn archive_verify_and_report() {
    let db = Db::new();
    assert!(db
        .run_stdin(&["ingest"], failures("rep", 6, 0).as_bytes())
        .status
        .success());
    let out = archive_day(&db, "arch");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("archived"));
    let out = db.run(&["archive", "verify", "arch"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let f = db.dir.join("arch/events.jsonl");
    let t = std::fs::read_to_string(&f)
        .unwrap()
        .replacen("rep", "rip", 1);
    std::fs::write(&f, t).unwrap();
    let out = db.run(&["archive", "verify", "arch"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stdout).contains("ChecksumMismatch"));
    let out = db.run(&["archive", "--output", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = db.run(&[
        "report",
        "--since",
        "2026-11-24T00:00:00Z",
        "--until",
        "2026-11-25T00:00:00Z",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed_logins_by_account"]["rep"], 6);
    assert_eq!(v["alerts_by_rule"]["failed_logins"], 1);
    let out = db.run(&[
        "report",
        "--since",
        "2026-11-24T00:00:00Z",
        "--output",
        "r.html",
    ]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(db.dir.join("r.html"))
        .unwrap()
        .contains("<svg"));
}

#[test]
fn ingest_enriches_with_a_geoip_database_and_refuses_a_broken_one() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/geoip");
    let db = Db::new();
    // A broken file is one clear error at start (usage, exit 2), never a panic.
    std::fs::write(db.dir.join("bad.mmdb"), b"garbage").unwrap();
    std::fs::write(
        db.dir.join("activity.toml"),
        "[geoip]\ncity = \"bad.mmdb\"\n",
    )
    .unwrap();
    let out = db.run_stdin(&["ingest"], b"{\"action\":\"auth.logout\"}");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("geoip"));
    if !shared.exists() {
        eprintln!(
            "notice: {} not present; skipping the enrichment part",
            shared.display()
        );
        return;
    }
    let city = shared.join("GeoIP2-City-Test.mmdb");
    std::fs::write(
        db.dir.join("activity.toml"),
        format!("[geoip]\ncity = {:?}\n", city.display().to_string()),
    )
    .unwrap();
    let out = db.run_stdin(
        &["ingest"],
        br#"{"action":"auth.login.succeeded","actor":{"id":"a"},"source":{"ip":"81.2.69.142"}}"#,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = db.run(&["query", "--format", "json"]);
    assert!(
        text(&out.stdout).contains("\"city\":\"London\""),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn anonymous_ip_database_marks_or_suppresses_geo_alerts() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/geoip");
    let db = Db::new();
    std::fs::write(db.dir.join("bad.mmdb"), b"garbage").unwrap();
    for config in [
        "[geoip]\nanonymous_ip = \"bad.mmdb\"\n",
        "[geoip]\nanonymous_ip_action = \"drop\"\n",
    ] {
        std::fs::write(db.dir.join("activity.toml"), config).unwrap();
        let out = db.run_stdin(&["ingest"], b"{\"action\":\"auth.logout\"}");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{config}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("anonymous_ip"),
            "{}",
            text(&out.stderr)
        );
    }
    if !shared.exists() {
        eprintln!(
            "notice: {} not present; skipping the enrichment part",
            shared.display()
        );
        return;
    }
    // In MaxMind's test data 81.2.69.0/24 is every kind of anonymous network; London
    // through it, then Changchun ten minutes later.
    let anon = shared.join("GeoIP2-Anonymous-IP-Test.mmdb");
    let lines = [
        r#"{"action":"auth.login.succeeded","time":"2026-11-24T06:00:00Z","actor":{"id":"ann"},"source":{"ip":"81.2.69.142","device_id":"d1","geo":{"country":"GB","lat":51.5142,"lon":-0.0931,"accuracy_km":10}}}"#,
        r#"{"action":"auth.login.succeeded","time":"2026-11-24T06:10:00Z","actor":{"id":"ann"},"source":{"ip":"175.16.199.1","device_id":"d1","geo":{"country":"CN","lat":43.88,"lon":125.3228,"accuracy_km":50}}}"#,
    ]
    .join("\n");
    for (action, alerted) in [("mark", true), ("suppress", false)] {
        let db = Db::new();
        std::fs::write(
            db.dir.join("activity.toml"),
            format!(
                "[geoip]\nanonymous_ip = {:?}\nanonymous_ip_action = \"{action}\"\n",
                anon.display().to_string()
            ),
        )
        .unwrap();
        let out = db.run_stdin(&["ingest"], lines.as_bytes());
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = db.run(&["query", "--format", "json", "--action", "auth"]);
        assert!(
            text(&out.stdout).contains(
                r#""ip_anonymous":["vpn","tor","hosting","public_proxy","residential_proxy"]"#
            ),
            "{}",
            text(&out.stdout)
        );
        let out = db.run(&["alerts", "--format", "json"]);
        let t = text(&out.stdout);
        assert_eq!(t.contains("geo_anomaly"), alerted, "{action}: {t}");
        if alerted {
            assert!(
                t.contains("the previous sign-in came through an anonymous network"),
                "{t}"
            );
        }
    }
}

#[test]
fn ingesting_history_raises_impossible_travel() {
    let db = Db::new();
    let lines = [
        r#"{"action":"auth.login.succeeded","time":"2026-11-24T06:00:00Z","actor":{"id":"ann"},"source":{"ip":"81.2.69.142","device_id":"d1","geo":{"country":"GB","lat":51.5142,"lon":-0.0931,"accuracy_km":10}}}"#,
        r#"{"action":"auth.login.succeeded","time":"2026-11-24T06:10:00Z","actor":{"id":"ann"},"source":{"ip":"175.16.199.1","device_id":"d1","geo":{"country":"CN","lat":43.88,"lon":125.3228,"accuracy_km":50}}}"#,
    ]
    .join("\n");
    assert!(db.run_stdin(&["ingest"], lines.as_bytes()).status.success());
    let out = db.run(&["alerts", "--format", "json"]);
    let t = text(&out.stdout);
    assert!(
        t.contains("geo_anomaly") && t.contains("impossible travel"),
        "{t}"
    );
}

/// Runs SQL on the test's SQLite file.
fn sql(path: &std::path::Path, statements: &[&str]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
}

#[test]
fn verify_finds_the_newest_events_deleted_and_heads_gone_against_archives() {
    let db = Db::new();
    assert!(db
        .run_stdin(&["ingest"], failures("h", 5, 0).as_bytes())
        .status
        .success());
    let out = db.run(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("without one"),
        "{}",
        text(&out.stdout)
    );
    let out = archive_day(&db, "arch");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest = std::fs::read_to_string(db.dir.join("arch/manifest.json")).unwrap();
    assert!(manifest.contains("\"heads\""), "{manifest}");
    let out = db.run(&["verify", "--archives", "arch"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("match 1 archive manifests"));
    // Delete the newest event: the chain's head shows it.
    let path = db.dir.join("cli.db");
    let newest = "DELETE FROM activity_events WHERE chain_seq = \
                  (SELECT MAX(chain_seq) FROM activity_events)";
    // A consistent copy of the database (its WAL may hold the latest pages).
    let copy = db.dir.join("copy.db");
    sql(&path, &[&format!("VACUUM INTO '{}'", copy.display())]);
    sql(&path, &[newest]);
    let out = db.run(&["verify"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("\"problem\":\"truncated\""),
        "{}",
        text(&out.stdout)
    );
    // Delete the heads too: the database alone cannot show it any more; the heads the
    // archive's manifest kept still do.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(db.dir.join(format!("cli.db{suffix}")));
    }
    std::fs::copy(&copy, &path).unwrap();
    sql(&path, &[newest, "DELETE FROM activity_chain_heads"]);
    let out = db.run(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = db.run(&["verify", "--archives", "arch"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("truncated"));
}

fn line_at(t: chrono::DateTime<chrono::Utc>, account: &str) -> String {
    format!(
        r#"{{"action":"auth.logout","time":"{}","actor":{{"id":"{account}"}}}}"#,
        activity_core::event::format_time(&t)
    )
}

#[test]
fn archive_windows_on_demand_and_purge_requiring_an_archive() {
    use chrono::{Duration, Utc};
    let db = Db::new();
    let now = Utc::now();
    let (y0, _) = activity_core::archive::ArchiveWindow::Day.last_closed(now);
    let mut lines = Vec::new();
    for h in 1..=3 {
        lines.push(line_at(y0 + Duration::hours(h), "yesterday"));
    }
    for d in [100, 95] {
        lines.push(line_at(now - Duration::days(d), "old"));
    }
    assert!(db
        .run_stdin(&["ingest"], lines.join("\n").as_bytes())
        .status
        .success());
    // A closed window by name.
    let out = db.run(&["archive", "--window", "yesterday", "--output", "y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("archived 3 events"),
        "{}",
        text(&out.stdout)
    );
    let out = db.run(&["archive", "verify", "y"]);
    assert_eq!(out.status.code(), Some(0));
    // The scheduler's run: the last closed day, once.
    let out = db.run(&["archive", "--every", "day", "--output", "days"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let label = activity_core::archive::ArchiveWindow::Day.label(y0);
    assert!(text(&out.stdout).contains(&label), "{}", text(&out.stdout));
    let out = db.run(&["archive", "--every", "day", "--output", "days"]);
    assert!(
        text(&out.stdout).contains("nothing to archive"),
        "{}",
        text(&out.stdout)
    );
    // Purge requiring an archive: the 100- and 95-day-old events are in none.
    let out = db.run(&["purge", "--require-archive", "days"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("purge refused"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("in no verified archive"));
    let out = db.run(&["query", "--format", "json", "--user", "old"]);
    assert_eq!(text(&out.stdout).lines().count(), 2, "nothing deleted");
    // Catch up from 101 days ago, then the same purge (required by the config) runs.
    let out = db.run(&[
        "archive", "--every", "day", "--output", "days", "--from", "101d",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).lines().count() >= 99,
        "{}",
        text(&out.stdout)
    );
    std::fs::write(
        db.dir.join("activity.toml"),
        "[retention]\nrequire_archive = \"days\"\n",
    )
    .unwrap();
    let out = db.run(&["purge"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("deleted 2 events in all"),
        "{}",
        text(&out.stdout)
    );
    let out = db.run(&["verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "purge then verify: {}",
        text(&out.stdout)
    );
}

#[test]
fn progress_never_reaches_a_pipe_and_shows_on_a_terminal() {
    let db = Db::new();
    let lines: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#"{{"action":"auth.logout","time":"2026-11-2{}T06:00:00Z","actor":{{"id":"u{i}"}}}}"#,
                i % 3
            )
        })
        .collect();
    let out = db.run_stdin(&["ingest"], lines.join("\n").as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let piped: Vec<Output> = vec![
        out,
        db.run(&[
            "export", "--format", "csv", "--action", "auth", "--output", "all.csv",
        ]),
        db.run(&["export", "--format", "jsonl"]),
        db.run(&["verify"]),
        db.run(&["purge", "--dry-run"]),
        db.run(&[
            "archive",
            "--output",
            "a",
            "--since",
            "2026-11-20T00:00:00Z",
            "--until",
            "2026-11-23T00:00:00Z",
        ]),
    ];
    for o in &piped {
        assert!(o.status.success(), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(
            !err.contains('\r') && !err.contains('\u{1b}') && !err.contains(" events\u{1b}"),
            "progress text on a pipe: {err:?}"
        );
        assert!(!text(&o.stdout).contains('\u{1b}'));
    }
    assert_eq!(text(&piped[2].stdout).lines().count(), 3001);
    // On a terminal (a pseudo-terminal from util-linux `script`, when present), the line
    // shows on standard error and stays out of the exported file.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` not found: the terminal case is skipped");
        return;
    }
    let cmd = format!(
        "'{}' --db '{}' export --format csv --action auth --output tty.csv",
        env!("CARGO_BIN_EXE_activity"),
        db.url
    );
    let out = Command::new("script")
        .current_dir(&db.dir)
        .env_remove("ACTIVITY_DATABASE_URL")
        .env_remove("ACTIVITY_CHAIN_KEY")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
    let shown = text(&out.stdout);
    assert!(shown.contains("\rexport: "), "{shown:?}");
    assert!(shown.contains("exported"), "{shown:?}");
    let csv = std::fs::read_to_string(db.dir.join("tty.csv")).unwrap();
    assert!(!csv.contains("export:") && !csv.contains('\u{1b}'));
    assert!(
        csv == std::fs::read_to_string(db.dir.join("all.csv")).unwrap(),
        "the same file as without a terminal"
    );
}
