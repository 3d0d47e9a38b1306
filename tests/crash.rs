//! Nothing answered is ever lost: a login server (`bin/login_server.rs`, the activity
//! layer on a SQLite file) under login load is killed with SIGKILL, started again, and
//! every login that got an HTTP answer (200 or 401) must have its event stored — in
//! normal operation, and after the database was held locked by another connection.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use activity_core::{Action, ActivityQuery, ActivityStore};
use activity_sqlx::SqliteStore;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

fn temp_db() -> PathBuf {
    let dir = std::env::temp_dir().join(activity_tests::unique("activity_crash_"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("activity.db")
}

async fn start(db: &Path, mode: &str) -> (Child, SocketAddr) {
    start_with(vec![db.into(), mode.into()]).await
}

/// Starts `login_server` with `args` and waits for its address.
async fn start_with(args: Vec<std::ffi::OsString>) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_login_server"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the server starts")
        .unwrap()
        .expect("a line");
    let addr = line.strip_prefix("listening ").unwrap().parse().unwrap();
    (child, addr)
}

/// One login over its own connection; the status, or `None` when there was no answer.
async fn login(addr: SocketAddr, user: &str, ok: bool) -> Option<u16> {
    let body = format!(
        "username={user}&password={}",
        if ok { "ok" } else { "wrong" }
    );
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    out.split(' ').nth(1)?.parse().ok()
}

struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<u64>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn drive(addr: SocketAddr, clients: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0));
    let tasks = (0..clients)
        .map(|c| {
            let (stop, answered, refused) = (stop.clone(), answered.clone(), refused.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let user = format!("c{c}_{i}");
                    i += 1;
                    match login(addr, &user, i.is_multiple_of(2)).await {
                        Some(200 | 401) => answered.lock().unwrap().push(user),
                        Some(503) => *refused.lock().unwrap() += 1,
                        Some(other) => panic!("unexpected status {other}"),
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect();
    Load {
        stop,
        answered,
        refused,
        tasks,
    }
}

/// The accounts that have a login event stored.
async fn stored_logins(db: &Path) -> HashSet<String> {
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let out = logins_in(&store).await;
    store.pool().close().await;
    out
}

/// The accounts that have a login event in `store`.
async fn logins_in(store: &dyn ActivityStore) -> HashSet<String> {
    let mut out = HashSet::new();
    for action in [Action::LOGIN_SUCCEEDED, Action::LOGIN_FAILED] {
        let mut q = ActivityQuery::new().action(action.as_str()).limit(1000);
        loop {
            let page = store.query(&q).await.unwrap();
            out.extend(
                page.events
                    .into_iter()
                    .filter_map(|e| e.actor.map(|a| a.id)),
            );
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
    }
    out
}

/// Kills the server with SIGKILL while `load` runs, starts it again, and returns
/// (answered, answered but not stored).
async fn kill_restart_and_count(
    db: &Path,
    mode: &str,
    mut child: Child,
    load: Load,
) -> (usize, usize, u64) {
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    load.stop.store(true, Ordering::Relaxed);
    for t in load.tasks {
        t.await.unwrap();
    }
    // Started again (the next start opens the same file), then checked.
    let (mut again, _) = start(db, mode).await;
    again.start_kill().unwrap();
    again.wait().await.unwrap();
    let stored = stored_logins(db).await;
    let answered = load.answered.lock().unwrap().clone();
    let lost = answered.iter().filter(|u| !stored.contains(*u)).count();
    let refused = *load.refused.lock().unwrap();
    (answered.len(), lost, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_in_normal_operation_loses_no_answered_login() {
    let db = temp_db();
    let (child, addr) = start(&db, "durable").await;
    let load = drive(addr, 16);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (answered, lost, refused) = kill_restart_and_count(&db, "durable", child, load).await;
    eprintln!("normal: {answered} answered, {lost} lost, {refused} refused (503)");
    assert!(answered > 100, "the load ran: {answered}");
    assert_eq!(lost, 0, "of {answered} answered logins");
}

/// The reproduction: the database held locked by another process for 2 s, then
/// SIGKILL. With `Ack::Queued` thousands of answered logins were lost; with durable
/// acknowledgement a login is answered only once stored (or refused with 503).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_after_the_database_was_locked_loses_no_answered_login() {
    for mode in ["queued", "durable"] {
        let db = temp_db();
        let (child, addr) = start(&db, mode).await;
        let load = drive(addr, 16);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let url = format!("sqlite://{}", db.display());
        let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut holder)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
        holder.close().await.unwrap();
        // Killed while the backlog of the outage is being written.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (answered, lost, refused) = kill_restart_and_count(&db, mode, child, load).await;
        eprintln!("locked, {mode}: {answered} answered, {lost} lost, {refused} refused (503)");
        if mode == "durable" {
            assert_eq!(lost, 0, "of {answered} answered logins");
        }
    }
}

/// The server on PostgreSQL through a proxy the test cuts mid-run, with a spool: logins
/// go on being answered while the database is unreachable (each one durable in the
/// spool), the server is killed during the cut, and the next start replays the spool:
/// every answered login is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_postgres_is_unreachable_loses_no_answered_login() {
    let Some(pg) = activity_tests::server_url("ACTIVITY_TEST_POSTGRES_URL") else {
        return;
    };
    // postgres://user@host:port/db → the host and port, to put the proxy in front.
    let (head, rest) = pg.split_once('@').expect("a URL with a user");
    let (hostport, tail) = rest.split_once('/').expect("a URL with a database");
    let target = tokio::net::lookup_host(hostport)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = activity_tests::tcp_proxy::TcpProxy::start(target).await;
    let url = format!("{head}@{}/{tail}", proxy.addr);
    // At most 32 characters: the store's rule for a prefix.
    let prefix = format!("crash{}_", &activity_tests::unique("")[..16]);
    let spool = temp_db().with_file_name("spool.db");
    let start_pg = || {
        start_with(vec![
            "postgres".into(),
            url.clone().into(),
            prefix.clone().into(),
            spool.clone().into(),
        ])
    };
    let (mut child, addr) = start_pg().await;
    let load = drive(addr, 16);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before_cut = load.answered.lock().unwrap().len();
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.start_kill().unwrap(); // SIGKILL, with PostgreSQL still unreachable
    child.wait().await.unwrap();
    load.stop.store(true, Ordering::Relaxed);
    for t in load.tasks {
        t.await.unwrap();
    }
    let answered = load.answered.lock().unwrap().clone();
    let during_cut = answered.len() - before_cut;
    proxy.restore();

    // The next start replays the spool.
    let (mut again, _) = start_pg().await;
    let store = activity_sqlx::PgStore::connect_with(
        activity_sqlx::PgOptions::new(pg.clone()).prefix(prefix.clone()),
    )
    .await
    .unwrap();
    let mut lost = answered.len();
    let replaying = std::time::Instant::now();
    for _ in 0..100 {
        let stored = logins_in(&store).await;
        lost = answered.iter().filter(|u| !stored.contains(*u)).count();
        if lost == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    again.start_kill().unwrap();
    again.wait().await.unwrap();
    let refused = *load.refused.lock().unwrap();
    eprintln!(
        "postgres cut: {} answered ({during_cut} while unreachable), {lost} lost, {refused} refused (503); stored {:?} after the restart",
        answered.len(),
        replaying.elapsed()
    );
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(store.pool())
    .await
    .unwrap();
    for t in tables {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"{t}\" CASCADE"
        )))
        .execute(store.pool())
        .await;
    }
    assert!(before_cut > 50, "the load ran before the cut: {before_cut}");
    assert!(
        during_cut > 50,
        "logins are answered while PostgreSQL is unreachable (the spool takes them): {during_cut}"
    );
    assert_eq!(lost, 0, "of {} answered logins", answered.len());
}
