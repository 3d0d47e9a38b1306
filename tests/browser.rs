//! A real browser against the example app: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) signs in, opens the Audit Log viewer, filters, pages, opens a
//! timeline and downloads the CSV. Skipped with a notice when Chromium is not installed,
//! unless `ACTIVITY_TEST_REQUIRE_BROWSER=1` (as in CI), which makes that a failure.

#[allow(dead_code)]
#[path = "../examples/axum_app.rs"]
mod axum_app;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::{
    Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, Outcome, Recorder,
};
use activity_sqlx::SqliteStore;
use chrono::Utc;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(20);

fn browser_available() -> bool {
    let present = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !present {
        if std::env::var("ACTIVITY_TEST_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("{CHROMIUM} / {CHROMEDRIVER} missing but ACTIVITY_TEST_REQUIRE_BROWSER=1");
        }
        eprintln!("notice: chromium or chromedriver not installed; skipping the browser test");
    }
    present
}

/// Starts chromedriver on a free port and waits until it accepts connections.
async fn chromedriver() -> (tokio::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < WAIT,
            "chromedriver did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, port)
}

/// Polls `check` (a script returning a value) until `done` accepts it.
async fn until(
    c: &Client,
    what: &str,
    script: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        if done(&v) {
            return v;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}; last value {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const ROWS: &str = "return Array.from(document.querySelectorAll('#rows tr')).map(r => ({id: r.dataset.id, cells: Array.from(r.cells).map(c => c.textContent)}));";
const STATUS: &str = "return document.getElementById('status').textContent;";
const PAGE: &str = "return document.getElementById('page').textContent;";

fn ids(rows: &serde_json::Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn seed() -> Vec<ActivityEvent> {
    let mut out = Vec::new();
    for i in 0..23 {
        let mut e = ActivityEvent::login_failed(
            Actor::user("bob@example.com").with_name("bob@example.com"),
        )
        .with_reason("bad_password")
        .with_ip("175.16.199.1".parse().unwrap());
        e.time = Utc::now() - chrono::Duration::minutes(90 + i * 7);
        out.push(e);
        let mut ok = ActivityEvent::login_succeeded(Actor::user("bob@example.com"))
            .with_ip("81.2.69.142".parse().unwrap());
        ok.time = Utc::now() - chrono::Duration::minutes(93 + i * 7);
        out.push(ok);
    }
    out
}

/// Waits for the element `at` and clicks it.
async fn click(c: &Client, at: Locator<'_>) {
    c.wait()
        .at_most(WAIT)
        .for_element(at)
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits for the field `at` and types `text` into it.
async fn type_into(c: &Client, at: Locator<'_>, text: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(at)
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// With `ACTIVITY_TEST_SCREENSHOTS=DIR`, saves what the browser shows as `DIR/NAME.png`.
async fn screenshot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("ACTIVITY_TEST_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

async fn wait_for_download(dir: &Path) -> PathBuf {
    let start = Instant::now();
    loop {
        let done = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "csv"));
        if let Some(p) = done {
            return p;
        }
        assert!(
            start.elapsed() < WAIT,
            "no CSV downloaded into {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_open_the_audit_log_filter_page_and_download_the_csv() {
    if !browser_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "activity-browser-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(
        SqliteStore::connect(&format!("sqlite://{}/activity.db", dir.display()))
            .await
            .unwrap(),
    );
    store.migrate().await.unwrap();
    let seeded = seed();
    store.append(&seeded).await.unwrap();
    let (recorder, guard) = Recorder::builder(store.clone()).start();
    let app = axum_app::app(store.clone(), recorder.clone()).unwrap();
    let addr = activity_tests::serve(app).await;
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();

    let (_driver, port) = chromedriver().await;
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"],
            "prefs": {
                "download.default_directory": downloads.to_str().unwrap(),
                "download.prompt_for_download": false
            }
        }
    });
    let c = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    let base = format!("http://{addr}");

    // Sign in as the administrator: password, then the MFA code.
    c.goto(&base).await.unwrap();
    type_into(
        &c,
        Locator::Css("input[name=username]"),
        "alice@example.com",
    )
    .await;
    type_into(&c, Locator::Css("input[name=password]"), "correct horse").await;
    click(&c, Locator::Css("form[action='/login'] button")).await;
    type_into(&c, Locator::Css("input[name=code]"), "123456").await;
    click(&c, Locator::Css("form[action='/mfa'] button")).await;

    // Settings → Security → Audit Log.
    click(&c, Locator::LinkText("Settings → Security → Audit Log")).await;
    until(&c, "the first page", STATUS, |v| {
        v.as_str().is_some_and(|s| s.starts_with("Showing"))
    })
    .await;
    assert_eq!(c.title().await.unwrap(), "Audit Log");
    let rows = c.execute(ROWS, vec![]).await.unwrap();
    let all = rows.as_array().unwrap();
    assert!(
        all.iter()
            .any(|r| r["cells"][1].as_str().unwrap().starts_with("mfa.verified")),
        "the sign-in shows: {rows}"
    );
    // Times are shown in the browser's local format, not as raw RFC 3339.
    let first_time = all[0]["cells"][0].as_str().unwrap();
    assert!(
        !first_time.contains('T') || !first_time.ends_with('Z'),
        "{first_time}"
    );
    screenshot(&c, "audit-log").await;

    // Filter: failures only, 10 per page.
    c.find(Locator::Id("outcome"))
        .await
        .unwrap()
        .select_by_value("failure")
        .await
        .unwrap();
    c.find(Locator::Id("size"))
        .await
        .unwrap()
        .select_by_value("10")
        .await
        .unwrap();
    click(&c, Locator::Id("apply")).await;
    let page1 = until(&c, "ten failures", ROWS, |v| {
        let rows = v.as_array().unwrap();
        rows.len() == 10 && rows.iter().all(|r| r["cells"][2] == "failure")
    })
    .await;
    // Page forward twice and back once: distinct pages, the last one short.
    click(&c, Locator::Id("older")).await;
    until(&c, "page 2", PAGE, |v| v == "Page 2").await;
    let page2 = until(&c, "page 2 rows", ROWS, |v| ids(v) != ids(&page1)).await;
    assert_eq!(ids(&page2).len(), 10);
    click(&c, Locator::Id("older")).await;
    until(&c, "page 3", PAGE, |v| v == "Page 3").await;
    let page3 = until(&c, "page 3 rows", ROWS, |v| ids(v) != ids(&page2)).await;
    assert_eq!(ids(&page3).len(), 3, "23 failures: 10 + 10 + 3");
    assert!(!c
        .find(Locator::Id("older"))
        .await
        .unwrap()
        .is_enabled()
        .await
        .unwrap());
    click(&c, Locator::Id("newer")).await;
    until(&c, "back to page 2", ROWS, |v| ids(v) == ids(&page2)).await;

    // Keyboard: the filter controls and buttons are reachable and focusable.
    let focusable = c
        .execute("const b = document.getElementById('apply'); b.focus(); return document.activeElement.id;", vec![])
        .await
        .unwrap();
    assert_eq!(focusable, "apply");

    // Open a timeline from a row (administrators).
    click(&c, Locator::Css("#rows tr button.timeline-open")).await;
    let summary = until(&c, "the timeline", "return document.getElementById('timeline').hidden ? '' : document.getElementById('timeline-summary').textContent;", |v| v.as_str().is_some_and(|s| !s.is_empty())).await;
    assert!(
        summary.as_str().unwrap().contains("linked events"),
        "{summary}"
    );
    let why = c
        .execute("return Array.from(document.querySelectorAll('#timeline-rows tr')).map(r => r.cells[5].textContent);", vec![])
        .await
        .unwrap();
    assert!(
        why.as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("same IP 175.16.199.1")),
        "{why}"
    );
    screenshot(&c, "timeline").await;
    click(&c, Locator::Id("timeline-close")).await;

    // Export the current filter.
    let href = c
        .find(Locator::Id("export"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.contains("outcome=failure"), "{href}");
    click(&c, Locator::Id("export")).await;
    let file = wait_for_download(&downloads).await;
    let mut rd = csv::Reader::from_path(&file).unwrap();
    let outcome = rd
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "outcome")
        .unwrap();
    let rows: Vec<_> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 23);
    assert!(rows.iter().all(|r| &r[outcome] == "failure"));

    // A user: sign out, sign in as bob, Profile → Activity Log: only bob's events, and
    // the device he just signed in from.
    c.goto(&base).await.unwrap();
    click(&c, Locator::Css("form[action='/logout'] button")).await;
    type_into(&c, Locator::Css("input[name=username]"), "bob@example.com").await;
    type_into(&c, Locator::Css("input[name=password]"), "hunter2").await;
    click(&c, Locator::Css("form[action='/login'] button")).await;
    assert!(
        c.find(Locator::LinkText("Settings → Security → Audit Log"))
            .await
            .is_err(),
        "bob is no administrator"
    );
    click(&c, Locator::LinkText("Profile → Activity Log")).await;
    until(&c, "bob's first page", STATUS, |v| {
        v.as_str().is_some_and(|s| s.starts_with("Showing"))
    })
    .await;
    assert_eq!(c.title().await.unwrap(), "Activity Log");
    let rows = c.execute(ROWS, vec![]).await.unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["cells"][3] == "bob@example.com"),
        "{rows}"
    );
    let devices = until(
        &c,
        "bob's devices",
        "return document.getElementById('devices').hidden ? [] : Array.from(document.querySelectorAll('#device-rows tr')).map(r => r.cells[0].textContent);",
        |v| v.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    assert!(devices[0].as_str().unwrap().contains("(d_"), "{devices}");
    screenshot(&c, "activity-log").await;
    // The audit log is not his to open.
    c.goto(&format!("{base}/settings/security/audit-log/"))
        .await
        .unwrap();
    let body = c
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("only administrators"), "{body}");

    c.close().await.unwrap();
    recorder.flush().await.unwrap();
    let audit = store
        .query(&ActivityQuery::new().action("audit").limit(1000))
        .await
        .unwrap()
        .events;
    let exported: Vec<_> = audit
        .iter()
        .filter(|e| e.action == Action::AUDIT_EXPORTED)
        .filter(|e| e.reason.as_deref() != Some("export_started"))
        .collect();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].actor_id(), Some("alice@example.com"));
    assert_eq!(exported[0].details.as_ref().unwrap()["rows"], 23);
    assert!(
        audit
            .iter()
            .filter(|e| e.action == Action::AUDIT_VIEWED)
            .count()
            >= 4
    );
    assert!(audit.iter().all(|e| e.outcome == Outcome::Success));
    guard.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
