//! A real browser against the example app: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) locks bob out with wrong passwords, signs in as the administrator,
//! reads the overview (figures, open alerts, locked accounts, most failures), refuses a
//! forged unlock, unlocks bob through the page, filters, pages, opens timelines and
//! downloads the CSV; then signs in as bob and reads his own Activity Log as sentences,
//! with his browser, place, current session and "Not you?" link. axe-core (installed by
//! `.ci/run` into `tests/node_modules`, loaded into the page by this test only) audits both
//! pages. Skipped with a notice when Chromium is not installed, unless
//! `ACTIVITY_TEST_REQUIRE_BROWSER=1` (as in CI), which makes that a failure.

#[allow(dead_code)]
#[path = "../examples/axum_app.rs"]
mod axum_app;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::alerts::{AlertEngine, FailedLogins};
use activity_core::event::payload::{LockoutReleased, Payload};
use activity_core::{Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, Geo, Outcome};
use activity_tower::setup::Key;
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

const ROWS: &str = "return Array.from(document.querySelectorAll('#rows tr')).map(r => ({id: r.dataset.id, action: r.dataset.action, sentence: r.querySelector('.sentence').textContent, current: !!r.querySelector('.current-session'), not_you: r.querySelector('a.not-you') ? r.querySelector('a.not-you').getAttribute('href') : null, cells: Array.from(r.cells).map(c => c.textContent)}));";
const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/node_modules/axe-core/axe.min.js"
);
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

/// With `ACTIVITY_TEST_SCREENSHOTS=DIR`, saves the whole page as `DIR/NAME.png`.
async fn screenshot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("ACTIVITY_TEST_SCREENSHOTS") {
        let height = c
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 4000);
        c.set_window_size(1400, height as u32 + 140).await.unwrap();
        let png = c.screenshot().await.unwrap();
        c.set_window_size(1400, 1000).await.unwrap();
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// Runs axe-core in the page and returns its serious and critical violations.
async fn accessibility_violations(c: &Client) -> Vec<serde_json::Value> {
    let Ok(source) = std::fs::read_to_string(AXE) else {
        if std::env::var("ACTIVITY_TEST_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("{AXE} missing: `npm ci` in tests/ (as .ci/run does)");
        }
        eprintln!("notice: axe-core not installed (npm ci in tests/); skipping the audit");
        return Vec::new();
    };
    // Evaluated by the driver, not by the page: the page's CSP is untouched.
    c.execute(&format!("{source}\n;return typeof axe;"), vec![])
        .await
        .unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }))))
               .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e) }]));",
            vec![],
        )
        .await
        .unwrap();
    found
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .cloned()
        .collect()
}

/// Clicks `at`, which submits a form, and waits until the next page has loaded.
async fn submit(c: &Client, at: Locator<'_>) {
    c.execute("window.__activity_old_page = true;", vec![])
        .await
        .unwrap();
    click(c, at).await;
    until(
        c,
        "the next page",
        "return !window.__activity_old_page && document.readyState === 'complete';",
        |v| v == true,
    )
    .await;
}

/// Signs in through the example app's forms (and its MFA form when `code` is given).
async fn sign_in(c: &Client, base: &str, user: &str, password: &str, code: Option<&str>) {
    c.goto(base).await.unwrap();
    type_into(c, Locator::Css("input[name=username]"), user).await;
    type_into(c, Locator::Css("input[name=password]"), password).await;
    submit(c, Locator::Css("form[action='/login'] button")).await;
    if let Some(code) = code {
        type_into(c, Locator::Css("input[name=code]"), code).await;
        submit(c, Locator::Css("form[action='/mfa'] button")).await;
    }
}

/// A `fetch` from the page: `[status, body]`.
async fn page_fetch(c: &Client, url: &str, method: &str, token: Option<&str>) -> (u64, String) {
    let v = c
        .execute_async(
            "const [url, method, token, done] = arguments;
             const headers = { Accept: 'application/json' };
             if (token !== null) headers['x-csrf-token'] = token;
             fetch(url, { method, headers, credentials: 'same-origin' })
               .then(async r => done([r.status, await r.text()]))
               .catch(e => done([0, String(e)]));",
            vec![json!(url), json!(method), json!(token)],
        )
        .await
        .unwrap();
    (v[0].as_u64().unwrap(), v[1].as_str().unwrap().to_owned())
}

/// Where the test's sign-ins come from (loopback) is put in London, as a GeoIP database
/// would place a public address: the page shows what the recorder stored.
fn loopback_is_london(e: &mut ActivityEvent) {
    if let Some(s) = e.source.as_mut() {
        if s.ip.is_some_and(|ip| ip.is_loopback()) && s.geo.is_none() {
            s.geo = Some(Geo {
                city: Some("London".into()),
                country: Some("GB".into()),
                ..Geo::default()
            });
        }
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
async fn lock_out_unlock_from_the_overview_and_read_both_logs_as_sentences() {
    if !browser_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "activity-browser-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let activity = axum_app::setup()
        .database(format!("sqlite://{}/activity.db", dir.display()))
        .chain_key(Key::value(b"the browser test's chain key".to_vec()))
        .enricher(loopback_is_london)
        .alerts(AlertEngine::new().rule(FailedLogins::default()))
        .start()
        .await
        .unwrap();
    let store = activity.store().clone();
    let recorder = activity.recorder().clone();
    let seeded = seed();
    store.append(&seeded).await.unwrap();
    let app = axum_app::app(&activity).unwrap();
    let addr = activity_tests::serve(app).await;
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();

    let (_driver, port) = chromedriver().await;
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000", "--lang=en-GB"],
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
    let audit_log = format!("{base}/settings/security/audit-log");

    // Bob (or someone with his name) gets his password wrong ten times: locked. The
    // eleventh try, with the right password, is refused.
    for _ in 0..10 {
        sign_in(&c, &base, "bob@example.com", "wrong", None).await;
    }
    sign_in(&c, &base, "bob@example.com", "hunter2", None).await;
    let page = c.source().await.unwrap();
    assert!(
        !page.contains("Profile → Activity Log"),
        "a locked account signed in"
    );
    let started = Instant::now();
    let locks = loop {
        recorder.flush().await.unwrap();
        let q = ActivityQuery::new().action(Action::LOCKOUT_TRIGGERED.as_str());
        let found = store.query(&q).await.unwrap().events;
        if !found.is_empty() || started.elapsed() > WAIT {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(locks.len(), 1, "ten failures lock bob once");

    // The administrator: password, then the MFA code; Settings → Security → Audit Log.
    sign_in(
        &c,
        &base,
        "alice@example.com",
        "correct horse",
        Some("123456"),
    )
    .await;
    click(&c, Locator::LinkText("Settings → Security → Audit Log")).await;
    until(&c, "the first page", STATUS, |v| {
        v.as_str().is_some_and(|s| s.starts_with("Showing"))
    })
    .await;
    assert_eq!(c.title().await.unwrap(), "Audit Log");

    // The overview's figures are the store's.
    let figures = until(
        &c,
        "the overview",
        "return Array.from(document.querySelectorAll('#figures figure')).map(f => ({key: f.dataset.figure, day: Number(f.querySelector('.total-day').textContent), week: Number(f.querySelector('.total-week').textContent), bars: f.querySelectorAll('svg rect').length, label: f.querySelector('svg').getAttribute('aria-label')}));",
        |v| v.as_array().is_some_and(|a| a.len() == 4),
    )
    .await;
    recorder.flush().await.unwrap();
    let now = Utc::now();
    let count = |action: &Action, hours: i64| {
        let store = store.clone();
        let q = ActivityQuery::new()
            .action(action.as_str())
            .since(now - chrono::Duration::hours(hours));
        async move { store.count(&q).await.unwrap() }
    };
    let fig = |key: &str| {
        figures
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == key)
            .unwrap()
            .clone()
    };
    // Made here: 23 seeded failures + bob's 10 wrong passwords + his refused 11th try,
    // 23 seeded sign-ins + alice's, one lock, and the alert(s) the failed-logins rule
    // raised for bob's ten.
    assert_eq!(fig("failures")["day"], 34, "{figures}");
    assert_eq!(fig("sign_ins")["day"], 24, "{figures}");
    assert_eq!(fig("lockouts")["day"], 1, "{figures}");
    for (key, action) in [
        ("sign_ins", &Action::LOGIN_SUCCEEDED),
        ("failures", &Action::LOGIN_FAILED),
        ("lockouts", &Action::LOCKOUT_TRIGGERED),
        ("alerts", &Action::ALERT_RAISED),
    ] {
        let f = fig(key);
        assert_eq!(f["day"], count(action, 24).await, "{key}: {figures}");
        assert_eq!(f["week"], count(action, 24 * 7).await, "{key}: {figures}");
        assert_eq!(f["bars"], 24 + 7, "{key}");
        assert!(f["label"].as_str().unwrap().contains("per hour"), "{f}");
    }
    assert!(fig("alerts")["day"].as_u64().unwrap() >= 1, "{figures}");
    // Open alerts with their severity; bob locked now; bob and the seeded address lead
    // the failures.
    let alerts = c
        .execute("return Array.from(document.querySelectorAll('#alert-rows tr')).map(r => ({id: r.dataset.id, cells: Array.from(r.cells).map(c => c.textContent)}));", vec![])
        .await
        .unwrap();
    let first_alert = &alerts.as_array().unwrap()[0];
    assert_eq!(first_alert["cells"][1], "high", "{alerts}");
    assert_eq!(first_alert["cells"][3], "bob@example.com", "{alerts}");
    let locked = c
        .execute("return Array.from(document.querySelectorAll('#locked-rows tr')).map(r => r.dataset.account);", vec![])
        .await
        .unwrap();
    assert_eq!(locked, json!(["bob@example.com"]));
    let tops = c
        .execute("return [Array.from(document.querySelectorAll('#top-accounts tr')).map(r => [r.cells[0].textContent, r.cells[1].textContent]), Array.from(document.querySelectorAll('#top-ips tr')).map(r => [r.cells[0].textContent, r.cells[1].textContent])];", vec![])
        .await
        .unwrap();
    assert_eq!(tops[0][0], json!(["bob@example.com", "34"]), "{tops}");
    assert_eq!(tops[1][0], json!(["175.16.199.1", "23"]), "{tops}");
    assert_eq!(tops[1][1], json!(["127.0.0.1", "11"]), "{tops}");

    // An unlock without the page's token, or with a made-up one, is refused and releases
    // nothing; a non-administrator's is 403 (below, as bob).
    let unlock_url = format!("{audit_log}/api/unlock?account=bob%40example.com");
    let (status, body) = page_fetch(&c, &unlock_url, "POST", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    let (status, _) = page_fetch(&c, &unlock_url, "POST", Some("v1.99999999999.00")).await;
    assert_eq!(status, 403);
    let (status, _) = page_fetch(&c, &unlock_url, "GET", None).await;
    assert_eq!(status, 405);
    recorder.flush().await.unwrap();
    let released = |store: Arc<dyn ActivityStore>| async move {
        store
            .query(&ActivityQuery::new().action(Action::LOCKOUT_RELEASED.as_str()))
            .await
            .unwrap()
            .events
    };
    assert!(
        released(store.clone()).await.is_empty(),
        "a forged unlock released the lock"
    );

    // Accessibility of the administrator's page, with the overview drawn.
    let violations = accessibility_violations(&c).await;
    assert!(
        violations.is_empty(),
        "axe on the Audit Log: {violations:#?}"
    );
    screenshot(&c, "audit-log-overview").await;

    // Unlock from the keyboard: focus the button, press Enter.
    let unlock = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#locked-rows button.unlock"))
        .await
        .unwrap();
    c.execute(
        "document.querySelector('#locked-rows button.unlock').focus();",
        vec![],
    )
    .await
    .unwrap();
    unlock.send_keys("\u{E007}").await.unwrap();
    until(
        &c,
        "the unlock",
        "return document.getElementById('overview-status').textContent;",
        |v| v.as_str().is_some_and(|s| s.contains("unlocked")),
    )
    .await;
    until(
        &c,
        "bob gone from the locked list",
        "return document.querySelectorAll('#locked-rows tr').length;",
        |v| v == 0,
    )
    .await;
    recorder.flush().await.unwrap();
    let rel = released(store.clone()).await;
    assert_eq!(rel.len(), 1);
    assert_eq!(rel[0].actor_id(), Some("bob@example.com"));
    assert_eq!(rel[0].reason.as_deref(), Some("admin_unlock"));
    assert_eq!(
        LockoutReleased::read(&rel[0]).unwrap().by.as_deref(),
        Some("alice@example.com")
    );

    // An alert's timeline from the overview.
    click(&c, Locator::Css("#alert-rows button.alert-timeline")).await;
    let why = until(&c, "the alert's timeline", "return document.getElementById('timeline').hidden ? [] : Array.from(document.querySelectorAll('#timeline-rows tr')).map(r => r.cells[5].textContent);", |v| v.as_array().is_some_and(|a| !a.is_empty())).await;
    assert!(
        why.as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("alert evidence")),
        "{why}"
    );
    click(&c, Locator::Id("timeline-close")).await;

    // The table reads as sentences too, the raw record one click (or Enter) away.
    let rows = c.execute(ROWS, vec![]).await.unwrap();
    let all = rows.as_array().unwrap();
    assert!(
        all.iter()
            .any(|r| r["sentence"] == "Two-step verification code accepted"),
        "{rows}"
    );
    assert!(all.iter().all(|r| r["sentence"] != r["action"]), "{rows}");
    let first_time = all[0]["cells"][0].as_str().unwrap();
    assert!(
        !first_time.contains('T') || !first_time.ends_with('Z'),
        "{first_time}"
    );
    let summary = c
        .find(Locator::Css("#rows tr details summary"))
        .await
        .unwrap();
    c.execute(
        "document.querySelector('#rows tr details summary').focus();",
        vec![],
    )
    .await
    .unwrap();
    summary.send_keys("\u{E007}").await.unwrap();
    let raw = until(&c, "the raw record", "const d = document.querySelector('#rows tr details'); return d.open ? d.querySelector('dl').textContent : '';", |v| v.as_str().is_some_and(|s| !s.is_empty())).await;
    assert!(raw.as_str().unwrap().contains("Action"), "{raw}");

    // Every control is reachable from the keyboard: nothing interactive is taken out of
    // the tab order.
    let untabbable = c
        .execute("return Array.from(document.querySelectorAll('a[href], button, input, select, summary')).filter(e => !e.closest('[hidden]') && e.tabIndex < 0).map(e => e.outerHTML.slice(0, 80));", vec![])
        .await
        .unwrap();
    assert_eq!(untabbable, json!([]));

    // Filter: failures from the seeded address, 10 per page.
    c.find(Locator::Id("outcome"))
        .await
        .unwrap()
        .select_by_value("failure")
        .await
        .unwrap();
    type_into(&c, Locator::Id("ip"), "175.16.199.1").await;
    c.find(Locator::Id("size"))
        .await
        .unwrap()
        .select_by_value("10")
        .await
        .unwrap();
    click(&c, Locator::Id("apply")).await;
    let page1 = until(&c, "ten failures", ROWS, |v| {
        let rows = v.as_array().unwrap();
        rows.len() == 10
            && rows
                .iter()
                .all(|r| r["cells"][2] == "failure" && r["sentence"] == "Wrong password entered")
    })
    .await;
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

    // A timeline from a row.
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

    // Bob, unlocked, signs in: Profile → Activity Log in his own words.
    c.goto(&base).await.unwrap();
    submit(&c, Locator::Css("form[action='/logout'] button")).await;
    sign_in(&c, &base, "bob@example.com", "hunter2", None).await;
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
    let mine = rows.as_array().unwrap();
    let sentences: Vec<&str> = mine
        .iter()
        .map(|r| r["sentence"].as_str().unwrap())
        .collect();
    for want in [
        "You signed in",
        "New session started",
        "Wrong password entered",
        "Your account was locked after 10 failed attempts",
        "Sign-in refused: your account was locked",
        "An administrator unlocked your account",
    ] {
        assert!(
            sentences.contains(&want),
            "{want} missing from {sentences:?}"
        );
    }
    // The sign-in he just made: his browser, the place, this session, no "Not you?".
    let now_row = mine
        .iter()
        .find(|r| r["sentence"] == "You signed in")
        .unwrap();
    // cells: time, activity, place, device, details
    assert_eq!(now_row["cells"][2], "London, GB", "{now_row}");
    assert_eq!(now_row["cells"][3], "Chrome on Linux", "{now_row}");
    assert_eq!(now_row["current"], true, "{now_row}");
    assert_eq!(now_row["not_you"], serde_json::Value::Null, "{now_row}");
    // The failures are not this session: each offers "Not you?", to the app's page.
    let failure = mine
        .iter()
        .find(|r| r["sentence"] == "Wrong password entered")
        .unwrap();
    assert_eq!(failure["current"], false);
    assert_eq!(failure["not_you"], "/account/security", "{failure}");
    assert_eq!(failure["cells"][3], "Chrome on Linux");
    assert!(
        !rows.to_string().contains("HeadlessChrome/") || {
            // The raw user agent is only inside the details.
            mine.iter()
                .all(|r| !r["cells"][3].as_str().unwrap().contains("Mozilla"))
        }
    );
    let devices = until(
        &c,
        "bob's devices",
        "return document.getElementById('devices').hidden ? [] : Array.from(document.querySelectorAll('#device-rows tr')).map(r => r.cells[0].textContent);",
        |v| v.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    assert!(
        devices[0].as_str().unwrap().starts_with("Chrome on Linux"),
        "{devices}"
    );
    assert!(
        devices[0].as_str().unwrap().contains("This device"),
        "{devices}"
    );
    // "Not you?" leads to the app's page to secure the account.
    let top = c
        .find(Locator::Id("not-you-top"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(top.as_deref(), Some("/account/security"));
    let violations = accessibility_violations(&c).await;
    assert!(
        violations.is_empty(),
        "axe on the Activity Log: {violations:#?}"
    );
    screenshot(&c, "activity-log").await;
    // A non-administrator's unlock is 403, on his own mount and on the administrators'.
    let token = c
        .execute(
            "return document.querySelector('meta[name=\"csrf-token\"]').content;",
            vec![],
        )
        .await
        .unwrap();
    let token = token.as_str().unwrap().to_owned();
    for url in [
        format!("{base}/profile/activity-log/api/unlock?account=bob%40example.com"),
        unlock_url.clone(),
    ] {
        let (status, body) = page_fetch(&c, &url, "POST", Some(&token)).await;
        assert_eq!(status, 403, "{url}: {body}");
    }
    click(&c, Locator::Css("a.not-you")).await;
    until(&c, "the security page", "return document.title;", |v| {
        v == "Secure your account"
    })
    .await;
    // The audit log is not his to open.
    c.goto(&format!("{audit_log}/")).await.unwrap();
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
    let viewed: Vec<_> = audit
        .iter()
        .filter(|e| e.action == Action::AUDIT_VIEWED)
        .collect();
    assert!(viewed.len() >= 4);
    assert!(viewed
        .iter()
        .any(|e| e.details.as_ref().unwrap()["scope"] == "overview"));
    assert!(audit.iter().all(|e| e.outcome == Outcome::Success));
    // Still exactly one release: the refused requests released nothing.
    assert_eq!(released(store.clone()).await.len(), 1);
    activity.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
