//! The one setup (feature `setup`): a configuration that cannot work is an error at
//! start naming the setting, never a silent drop, and nothing is left running after it;
//! a working one records chained events with keys read as the `activity` command reads
//! them.
#![cfg(feature = "setup")]

mod common;

use activity_core::{chain, Action, ActivityQuery};
use activity_tower::setup::{Key, Setup};
use activity_tower::Error;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn unset() -> Key {
    Key::env(format!(
        "ACTIVITY_TEST_UNSET_{}",
        uuid::Uuid::now_v7().simple()
    ))
}

fn setting(r: Result<activity_tower::setup::Activity, Error>) -> &'static str {
    match r {
        Err(Error::Config { setting, .. }) => setting,
        Err(e) => panic!("not a setting error: {e:?}"),
        Ok(_) => panic!("started"),
    }
}

fn mem() -> Setup {
    Setup::new().database("sqlite::memory:")
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_at_start() {
    let keyed = || mem().chain_key(Key::value(KEY.to_vec()));
    // No sign-in route: nothing for the lockout or the alerts to judge.
    assert_eq!(setting(keyed().start().await), "routes");
    assert_eq!(setting(keyed().logout("/logout").start().await), "routes");
    // The chain key: not set, or too short.
    let e = mem().chain_key(unset()).login("/login").start().await;
    let msg = e.as_ref().unwrap_err().to_string();
    assert!(
        msg.contains("chain_key") && msg.contains("without_chain"),
        "{msg}"
    );
    assert_eq!(setting(e), "chain_key");
    let short = mem()
        .chain_key(Key::value(b"short".to_vec()))
        .login("/login");
    assert_eq!(setting(short.start().await), "chain_key");
    // Unchained, the cookie key has nothing to derive from.
    let bare = mem().without_chain().cookie_key(unset()).login("/login");
    assert_eq!(setting(bare.start().await), "cookie_key");
    // A store and a URL.
    let store = std::sync::Arc::new(activity_core::MemoryStore::new());
    assert_eq!(
        setting(keyed().store(store).login("/login").start().await),
        "store"
    );
    // A layer setting of the app's own that fails.
    let proxies = keyed().login("/login").layer_with(|l| {
        Ok(l.trusted_proxies(activity_tower::TrustedProxies::cidrs(["10.0.0.0/33"])?))
    });
    assert_eq!(setting(proxies.start().await), "trusted_proxies");
    // A database that cannot be opened.
    let nowhere = Setup::new()
        .database("sqlite:///nonexistent-activity-dir/a/b.db")
        .chain_key(Key::value(KEY.to_vec()))
        .login("/login");
    assert!(matches!(nowhere.start().await, Err(Error::Store(_))));
}

#[cfg(feature = "geoip")]
#[tokio::test]
async fn geoip_fills_places_and_a_database_that_is_not_there_is_refused() {
    let s = mem()
        .chain_key(Key::value(KEY.to_vec()))
        .login("/login")
        .geoip("/nonexistent/GeoLite2-City.mmdb");
    assert_eq!(setting(s.start().await), "geoip");

    #[derive(serde::Serialize)]
    struct Names {
        en: &'static str,
    }
    #[derive(serde::Serialize)]
    struct City {
        names: Names,
    }
    #[derive(serde::Serialize)]
    struct Country {
        iso_code: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Rec {
        country: Country,
        city: City,
    }
    let mut w = mmdb_writer::Writer::builder("GeoIP2-City")
        .description(&[("en", "activity setup test")])
        .build();
    let london = Rec {
        country: Country { iso_code: "GB" },
        city: City {
            names: Names { en: "London" },
        },
    };
    w.insert("81.2.69.128/26".parse::<ipnet::IpNet>().unwrap(), &london)
        .unwrap();
    let path = std::env::temp_dir().join(format!("activity-city-{}.mmdb", uuid::Uuid::now_v7()));
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    let activity = mem()
        .chain_key(Key::value(KEY.to_vec()))
        .login("/login")
        .geoip(&path)
        .start()
        .await
        .unwrap();
    let store = activity.store().clone();
    let e = activity_core::ActivityEvent::login_failed(activity_core::Actor::user("bob"))
        .with_source(activity_core::Source::ip("81.2.69.142".parse().unwrap()));
    activity.recorder().record(e).unwrap();
    activity.shutdown().await;
    std::fs::remove_file(&path).unwrap();
    let q = ActivityQuery::new().action("auth");
    let found = store.query(&q).await.unwrap().events;
    let geo = found[0]
        .source
        .as_ref()
        .unwrap()
        .geo
        .as_ref()
        .expect("a place");
    assert_eq!(geo.city.as_deref(), Some("London"));
}

#[tokio::test]
async fn a_file_key_reads_as_the_command_reads_it_and_chains_every_event() {
    let dir = std::env::temp_dir().join(format!("activity-setup-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chain.key");
    std::fs::write(&file, b"0123456789abcdef0123456789abcdef\n").unwrap();
    // Started on a task of its own: the setup and its start are `Send`.
    let setup = mem().chain_key(Key::file(&file)).login("/login");
    let activity = tokio::spawn(setup.start()).await.unwrap().unwrap();
    let store = activity.store().clone();
    activity
        .recorder()
        .record(activity_core::ActivityEvent::login_failed(
            activity_core::Actor::user("bob"),
        ))
        .unwrap();
    let report = activity.shutdown().await;
    assert!(report.unwritten.is_empty());
    let all = store.query(&ActivityQuery::new()).await.unwrap().events;
    assert!(all.iter().any(|e| e.action == Action::LOGIN_FAILED));
    assert!(all.iter().all(|e| e.chain.is_some()));
    // The trailing newline is no part of the key.
    let key = chain::ChainKey::keyed(KEY).unwrap();
    assert!(chain::verify(&*store, None, &key)
        .await
        .unwrap()
        .is_intact());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A sink given to the setup delivers what the layer records over a real socket, runs
/// until the shutdown, and goes on from its cursor at the next start; a bad sink name is
/// refused at start.
#[tokio::test]
async fn a_sink_of_the_setup_delivers_what_the_layer_records() {
    use activity_core::sinks::{FileSink, SinkFilter, SinkStatus};
    use axum::{http::StatusCode, routing::post, Router};
    let dir = std::env::temp_dir().join(format!("activity-setup-sink-{}", uuid::Uuid::now_v7()));
    let db = format!("sqlite://{}", dir.join("activity.db").display());
    std::fs::create_dir_all(&dir).unwrap();
    let files = dir.join("siem");
    let bad = mem()
        .chain_key(Key::value(KEY))
        .login("/login")
        .sink("no spaces allowed", FileSink::new(&files).unwrap())
        .start()
        .await;
    assert_eq!(setting(bad), "sink");
    let start = || {
        Setup::new()
            .database(db.clone())
            .chain_key(Key::value(KEY))
            .login("/login")
            .sink_with("siem", FileSink::new(&files).unwrap(), |r| {
                r.filter(SinkFilter::all().action("auth.login"))
                    .poll(std::time::Duration::from_millis(20))
            })
            .start()
    };
    let activity = start().await.unwrap();
    let app = Router::new()
        .route("/login", post(|| async { StatusCode::UNAUTHORIZED }))
        .layer(activity.layer());
    let addr = common::serve(app).await;
    let body = "username=bob%40example.com&password=wrong";
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(common::raw(addr, request.as_bytes()).await.status, 401);
    let delivered = |files: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(files.join("activity.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut got = Vec::new();
    for _ in 0..500 {
        got = delivered(&files);
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        got.len(),
        1,
        "the failed sign-in, and nothing the filter leaves out"
    );
    assert_eq!(got[0]["action"], "auth.login.failed");
    assert_eq!(got[0]["actor"]["name"], "bob@example.com");
    let receipt = activity.sinks()[0].receipt().await.unwrap();
    assert_eq!(receipt.state.delivered, 1);
    let store = activity.store().clone();
    activity.shutdown().await;
    let states = store.sink_states().await.unwrap();
    assert_eq!(states[0].status, SinkStatus::Stopped);
    // Stored while the application is down: delivered at the next start, from the cursor.
    store
        .append(&[activity_core::ActivityEvent::login_succeeded(
            activity_core::Actor::user("carol"),
        )])
        .await
        .unwrap();
    let again = start().await.unwrap();
    for _ in 0..500 {
        if delivered(&files).len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let got = delivered(&files);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["action"], "auth.login.succeeded");
    again.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
