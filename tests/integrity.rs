//! Integrity v2 (issue 23), tried as an attacker with write access to the database and no
//! key: each tampering is done in SQL, then `activity verify` (the CLI, as an operator
//! runs it) must exit 3; honest logs (re-ingest, duplicates) must exit 0. The same
//! scenario runs on SQLite, PostgreSQL and MariaDB.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use activity_sqlx::cli::{args::Cli, run};
use clap::Parser;

/// A directory with a config holding the chain key, and a JSON Lines file.
struct Setup {
    dir: PathBuf,
    config: PathBuf,
}

fn setup(key: &str) -> Setup {
    let dir = std::env::temp_dir().join(activity_tests::unique("activity-integrity-"));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("chain.key");
    std::fs::write(&key_file, key).unwrap();
    let config = dir.join("activity.toml");
    std::fs::write(
        &config,
        format!("[chain]\nkey_file = {:?}\nwriter = \"ops\"\n", key_file),
    )
    .unwrap();
    Setup { dir, config }
}

/// Runs the CLI; the exit status (2 for a usage failure, 1 for another failure).
async fn activity(db: &str, config: Option<&Path>, args: &[&str]) -> u8 {
    let mut argv = vec!["activity".to_string(), "--db".into(), db.into()];
    if let Some(c) = config {
        argv.push("--config".into());
        argv.push(c.display().to_string());
    }
    argv.extend(args.iter().map(|s| s.to_string()));
    // The shared test servers run out of connections now and then (every helper's tests
    // at once): a command that could not get one is run again.
    for _ in 0..20 {
        let cli = Cli::try_parse_from(argv.clone()).unwrap();
        // Each command on a runtime of its own, as a process would be: dropping it closes
        // the command's database connections (on the test's runtime they would pile up).
        let result = std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(run(cli))
        })
        .join()
        .unwrap();
        match result {
            Err(f) if f.message.contains("pool timed out") => {
                std::thread::sleep(std::time::Duration::from_millis(1000));
            }
            other => return status(other, args),
        }
    }
    panic!("activity {args:?}: no database connection after 20 tries")
}

fn status(result: Result<ExitCode, activity_sqlx::cli::Failure>, args: &[&str]) -> u8 {
    match result {
        Ok(code) if code == ExitCode::SUCCESS => 0,
        Ok(code) if code == ExitCode::from(3) => 3,
        Ok(code) if code == ExitCode::from(1) => 1,
        Ok(_) => 99,
        Err(f) => {
            eprintln!("activity {args:?}: {} (status {})", f.message, f.code);
            f.code
        }
    }
}

fn lines(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Runs one SQL statement against the store, as the attacker.
#[async_trait::async_trait]
trait Sql: Sync {
    async fn exec(&self, sql: &str);
    async fn int(&self, sql: &str) -> i64;
    /// A literal for a new event id in this store's id column.
    fn id_literal(&self) -> String {
        format!("X'{}'", uuid::Uuid::now_v7().simple())
    }
}

struct Sqlite(sqlx::SqlitePool);
#[async_trait::async_trait]
impl Sql for Sqlite {
    async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.0)
            .await
            .unwrap();
    }
    async fn int(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.0)
            .await
            .unwrap()
    }
}
struct Pg(sqlx::PgPool);
#[async_trait::async_trait]
impl Sql for Pg {
    fn id_literal(&self) -> String {
        format!("decode('{}', 'hex')", uuid::Uuid::now_v7().simple())
    }
    async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.0)
            .await
            .unwrap();
    }
    async fn int(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.0)
            .await
            .unwrap()
    }
}
struct My(sqlx::MySqlPool);
#[async_trait::async_trait]
impl Sql for My {
    async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.0)
            .await
            .unwrap();
    }
    async fn int(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.0)
            .await
            .unwrap()
    }
}

const KEY: &str = "an integrity key kept outside the database";

/// 71 events through `activity ingest` (one chain), then the attacks, each on a copy of
/// the honest state restored by deleting and re-ingesting is not possible (positions
/// are fixed), so each attack runs on its own fresh log: `fresh` makes one.
async fn scenario<S: Sql>(
    db: &str,
    sql: &S,
    s: &Setup,
    fresh: &dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) {
    let cfg = Some(s.config.as_path());
    let mut text = String::new();
    for i in 0..71 {
        text.push_str(&format!(
            "{{\"id\":\"{}\",\"action\":\"auth.logout\",\"actor\":{{\"id\":\"u{i}\"}}}}\n",
            uuid::Uuid::now_v7()
        ));
    }
    let file = lines(&s.dir, "events.jsonl", &text);
    let setup_log = || async {
        fresh().await;
        assert_eq!(activity(db, cfg, &["migrate"]).await, 0);
        assert_eq!(activity(db, cfg, &["ingest", &file]).await, 0);
    };

    // Honest: verify, re-ingest the same file (ids already stored), verify again.
    setup_log().await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 0);
    assert_eq!(activity(db, cfg, &["ingest", &file]).await, 0, "re-ingest");
    assert_eq!(
        activity(db, cfg, &["verify"]).await,
        0,
        "a re-ingest (review A10b) must not leave a hole"
    );
    let dupes = lines(
        &s.dir,
        "dupes.jsonl",
        "{\"id\":\"0193a0f0-0000-7000-8000-000000000001\",\"action\":\"auth.logout\"}\n\
         {\"id\":\"0193a0f0-0000-7000-8000-000000000001\",\"action\":\"auth.logout\"}\n",
    );
    assert_eq!(activity(db, cfg, &["ingest", &dupes]).await, 0);
    assert_eq!(activity(db, cfg, &["ingest", &dupes]).await, 0);
    assert_eq!(activity(db, cfg, &["verify"]).await, 0, "fixed ids twice");
    // Review A15: numbers PostgreSQL's jsonb rewrites (failed before on PostgreSQL:
    // "modified" for an honest event).
    let numbers = lines(
        &s.dir,
        "numbers.jsonl",
        "{\"action\":\"x.y\",\"details\":{\"d\":-0.0,\"n\":1e16,\"f\":2.50,\"big\":123456789012345678}}\n",
    );
    assert_eq!(activity(db, cfg, &["ingest", &numbers]).await, 0);
    assert_eq!(activity(db, cfg, &["verify"]).await, 0, "jsonb numbers");

    // A1: the oldest 49 deleted in one statement (failed before: exit 0).
    setup_log().await;
    sql.exec("DELETE FROM activity_events WHERE chain_seq < 50 AND action = 'auth.logout'")
        .await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 3, "deleted prefix");

    // A11: a forged checkpoint through ingest is refused; the tail cut is found
    // (failed before: the line was sealed and the cut read as retention, exit 0).
    setup_log().await;
    let forged = lines(
        &s.dir,
        "forged.jsonl",
        "{\"action\":\"audit.purged\",\"outcome\":\"success\",\"details\":{\"dry_run\":false,\"total\":0,\"held\":[],\"tenants\":[{\"tenant\":null,\"cutoff\":\"2099-01-01T00:00:00Z\",\"events\":0}]}}\n\
         {\"action\":\"lockout.released\",\"actor\":{\"id\":\"victim\"}}\n\
         {\"action\":\"alert.raised\"}\n{\"action\":\"audit.verified\"}\n",
    );
    assert_eq!(
        activity(db, cfg, &["ingest", &forged]).await,
        1,
        "refused lines"
    );
    assert_eq!(
        sql.int("SELECT COUNT(*) FROM activity_events WHERE action <> 'auth.logout' AND action <> 'audit.verified'")
            .await,
        0,
        "nothing reserved was stored"
    );
    sql.exec("DELETE FROM activity_events WHERE chain_seq > 60 AND action = 'auth.logout'")
        .await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 3, "deleted tail");

    // A forged audit.purged with --restore is stored, marked, and still no evidence.
    setup_log().await;
    assert_eq!(
        activity(db, cfg, &["ingest", "--restore", &forged]).await,
        0
    );
    sql.exec("DELETE FROM activity_events WHERE chain_seq > 60 AND action = 'auth.logout'")
        .await;
    assert_eq!(
        activity(db, cfg, &["verify"]).await,
        3,
        "restored is no evidence"
    );

    // Update, delete in the middle, insert a copy, reorder: each found.
    setup_log().await;
    sql.exec("UPDATE activity_events SET actor_id = 'someone' WHERE chain_seq = 10")
        .await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 3, "update");
    setup_log().await;
    sql.exec("DELETE FROM activity_events WHERE chain_seq = 30")
        .await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 3, "middle");
    // A copy of a sealed row, links and all, under a new id.
    setup_log().await;
    sql.exec(&format!(
        "INSERT INTO activity_events (id, time_us, action, outcome, actor_id, chain_writer, chain_seq, chain_prev, chain_hash) \
         SELECT {}, time_us + 1, action, outcome, actor_id, chain_writer, chain_seq, chain_prev, chain_hash \
         FROM activity_events WHERE chain_seq = 20 AND action = 'auth.logout'",
        sql.id_literal()
    ))
    .await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 3, "inserted copy");
    setup_log().await;
    sql.exec(
        "UPDATE activity_events SET chain_seq = CASE WHEN chain_seq = 5 THEN 6 ELSE 5 END WHERE chain_seq IN (5, 6)",
    )
    .await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 3, "reorder");
    // Tail with its head rolled back / deleted.
    setup_log().await;
    sql.exec("DELETE FROM activity_events WHERE chain_seq > 60")
        .await;
    sql.exec("UPDATE activity_chain_heads SET seq = 60").await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 3, "head rolled back");

    // Review A12: an undecodable row is a named break (exit 3), not exit 1.
    setup_log().await;
    sql.exec(&format!(
        "INSERT INTO activity_events (id, time_us, action, outcome, actor_id) VALUES ({}, {}, 'lockout.X', 'success', 'victim')",
        sql.id_literal(),
        sql.int("SELECT MAX(time_us) FROM activity_events").await + 1_000_000
    ))
    .await;
    assert_eq!(activity(db, cfg, &["verify"]).await, 3, "undecodable row");

    // Operator mistakes (item 5): without the key, or with another, verify refuses with
    // a usage error naming the key instead of "BROKEN ... modified", and records nothing
    // (failed before: exit 3, and an unkeyed audit.verified broke the log for good).
    setup_log().await;
    let before = sql.int("SELECT COUNT(*) FROM activity_events").await;
    assert_eq!(activity(db, None, &["verify"]).await, 2, "no key");
    let wrong = setup("another key, not the one that sealed it");
    assert_eq!(
        activity(db, Some(&wrong.config), &["verify"]).await,
        2,
        "wrong key"
    );
    assert_eq!(
        activity(db, Some(&wrong.config), &["ingest", &file]).await,
        2
    );
    assert_eq!(
        sql.int("SELECT COUNT(*) FROM activity_events").await,
        before
    );
    assert_eq!(
        activity(db, cfg, &["verify"]).await,
        0,
        "still intact with the key"
    );

    // Item 2: signed checkpoints outside the database, checked with the public key
    // alone. Each attack on a fresh log, checkpointed into a directory of its own.
    let secret = s.dir.join("signing.key").display().to_string();
    let public = s.dir.join("signing.pub").display().to_string();
    assert_eq!(
        activity(
            db,
            None,
            &[
                "checkpoint",
                "keygen",
                "--secret",
                &secret,
                "--public",
                &public
            ]
        )
        .await,
        0
    );
    let mut round = 0;
    let mut checkpointed = || {
        round += 1;
        let dir = s.dir.join(format!("checkpoints-{round}"));
        let dir = dir.display().to_string();
        let secret = secret.clone();
        async move {
            setup_log().await;
            let out = ["checkpoint", "--out", &dir, "--signing-key", &secret];
            assert_eq!(activity(db, cfg, &out).await, 0, "checkpoint written");
            dir
        }
    };
    let against = |dir: String| {
        let public = public.clone();
        async move {
            let args = ["verify", "--checkpoints", &dir, "--public-key", &public];
            // No chain key: the auditor has only the public key.
            activity(db, None, &args).await
        }
    };
    let dir = checkpointed().await;
    assert_eq!(against(dir.clone()).await, 0, "honest, checkpointed");
    assert_eq!(activity(db, cfg, &["ingest", &file]).await, 0);
    let more = lines(
        &s.dir,
        "more.jsonl",
        "{\"action\":\"auth.logout\",\"actor\":{\"id\":\"late\"}}\n",
    );
    assert_eq!(activity(db, cfg, &["ingest", &more]).await, 0);
    assert_eq!(
        against(dir).await,
        0,
        "events after the checkpoint are no break"
    );
    let attacks: [(&str, &[&str]); 5] = [
        (
            "a whole chain deleted with its head",
            &[
                "DELETE FROM activity_events",
                "DELETE FROM activity_chain_heads",
            ],
        ),
        (
            "the newest events deleted with their head",
            &[
                "DELETE FROM activity_events WHERE chain_seq > 60",
                "DELETE FROM activity_chain_heads",
            ],
        ),
        (
            "a head rolled back",
            &[
                "DELETE FROM activity_events WHERE chain_seq > 60",
                "UPDATE activity_chain_heads SET seq = 60",
            ],
        ),
        (
            "a prefix deleted",
            &["DELETE FROM activity_events WHERE chain_seq < 50"],
        ),
        (
            "an event edited",
            &["UPDATE activity_events SET actor_id = 'someone' WHERE chain_seq = 10"],
        ),
    ];
    for (attack, statements) in attacks {
        let dir = checkpointed().await;
        for statement in statements {
            sql.exec(statement).await;
        }
        assert_eq!(against(dir).await, 3, "{attack}");
    }
}

#[tokio::test]
async fn sqlite_attacks_are_found_and_honest_logs_pass() {
    let s = setup(KEY);
    let path = s.dir.join("audit.db");
    let db = format!("sqlite://{}", path.display());
    // A typo'd --db is an error for every command but migrate (failed before: an empty
    // log was created and verified "intact: 0 events").
    let typo = format!("sqlite://{}", s.dir.join("typo.db").display());
    assert_eq!(activity(&typo, Some(&s.config), &["verify"]).await, 2);
    assert!(!s.dir.join("typo.db").exists());
    let p = path.clone();
    let fresh = move || -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let p = p.clone();
        Box::pin(async move {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        })
    };
    // The attacker's pool is opened per statement (the file is recreated per attack).
    struct Lazy(PathBuf);
    #[async_trait::async_trait]
    impl Sql for Lazy {
        async fn exec(&self, sql: &str) {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.0.display()))
                .await
                .unwrap();
            Sqlite(pool.clone()).exec(sql).await;
            pool.close().await;
        }
        async fn int(&self, sql: &str) -> i64 {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.0.display()))
                .await
                .unwrap();
            let n = Sqlite(pool.clone()).int(sql).await;
            pool.close().await;
            n
        }
    }
    scenario(&db, &Lazy(path.clone()), &s, &fresh).await;
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[tokio::test]
async fn postgres_attacks_are_found_and_honest_logs_pass() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let s = setup(KEY);
    let sep = if schema.url.contains('?') { '&' } else { '?' };
    let db = format!("{}{sep}options=-csearch_path%3D{}", schema.url, schema.name);
    let pool = schema.pool.clone();
    let name = schema.name.clone();
    let fresh = move || -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let (pool, name) = (pool.clone(), name.clone());
        Box::pin(async move {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA {name} CASCADE; CREATE SCHEMA {name}"
            )))
            .execute(&pool)
            .await
            .unwrap();
        })
    };
    scenario(&db, &Pg(schema.pool.clone()), &s, &fresh).await;
    std::fs::remove_dir_all(&s.dir).unwrap();
    schema.drop().await;
}

#[tokio::test]
async fn mariadb_attacks_are_found_and_honest_logs_pass() {
    let Some(database) = activity_tests::my::database().await else {
        return;
    };
    let s = setup(KEY);
    let root = database
        .url
        .rsplit_once('/')
        .map_or(database.url.clone(), |(r, _)| r.to_string());
    let db = format!("{root}/{}", database.name);
    let pool = database.pool.clone();
    let fresh = move || -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let pool = pool.clone();
        Box::pin(async move {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            for t in tables {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE `{t}`")))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        })
    };
    scenario(&db, &My(database.pool.clone()), &s, &fresh).await;
    std::fs::remove_dir_all(&s.dir).unwrap();
    database.drop().await;
}
