//! The quickstart: a realistic sign-in scenario driven through the recorder.
//!
//! Run it with `cargo run --example quickstart` (writes `activity.db` in the working
//! directory; `cargo run --example quickstart -- --db sqlite://other.db` to change it).
//! Running it again adds a second run's events to the same log. It records two users signing in, an
//! attacker's five failed logins, an MFA enrolment and verification, a password reset,
//! a session expiry and a lockout, then prints the log and one user's own activity.

use std::net::IpAddr;
use std::sync::Arc;

use activity_core::{
    alerts::AlertEngine, alerts::TracingSink, chain::verified_event, chain::verify,
    chain::ChainKey, chain::ChainSealer, event::SessionKey, export::export, export::export_event,
    export::ExportFormat, lockout::LockoutConfig, lockout::LockoutPolicy, text::EventTable,
    ActivityEvent, ActivityQuery, ActivityStore, Actor, Recorder, Source,
};
use activity_sqlx::SqliteStore;

/// `--db URL` from the command line, or `sqlite://activity.db`.
fn database_url() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut url = "sqlite://activity.db".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => url = args.next().ok_or("--db needs a URL")?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: quickstart [--db URL]"
                ))
            }
        }
    }
    Ok(url)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = database_url()?;
    let sqlite = SqliteStore::connect(&url).await?;
    sqlite.migrate().await?;
    let store: Arc<dyn ActivityStore> = Arc::new(sqlite);
    // Only this run's events are shown, however many runs the database holds.
    let run_started = chrono::Utc::now();
    // The pipeline: every batch is chained (HMAC, key kept out of the database), then the
    // alert rules and the lockout policy read the history after it is committed.
    let chain_key = ChainKey::keyed(b"quickstart chain key: use a real secret")?;
    let lockout = Arc::new(LockoutPolicy::new(
        store.clone(),
        LockoutConfig {
            threshold: 5,
            ..LockoutConfig::default()
        },
    ));
    let (recorder, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("quickstart", chain_key.clone()))
        .after_commit(AlertEngine::with_defaults().sink(TracingSink))
        .lockout(lockout.clone())
        .start();
    let sessions = SessionKey::new(b"quickstart demo key - keep real keys secret")?;

    let office: IpAddr = "81.2.69.142".parse()?;
    let home: IpAddr = "2.125.160.216".parse()?;
    let attacker: IpAddr = "175.16.199.1".parse()?;
    let alice = || Actor::user("u_alice").with_name("alice@example.com");
    let bob = || Actor::user("u_bob").with_name("bob@example.com");
    let browser = |ip| Source::ip(ip).with_user_agent("Mozilla/5.0 (X11; Linux x86_64)");

    // Two users sign in; each login opens a session (stored only as a keyed hash).
    for (who, ip, device, token) in [
        (alice(), office, "d_alice_laptop", "raw-session-token-alice"),
        (bob(), home, "d_bob_phone", "raw-session-token-bob"),
    ] {
        let src = browser(ip).with_device_id(device);
        let session = sessions.hash(token);
        recorder.record(
            ActivityEvent::login_succeeded(who.clone())
                .with_source(src.clone())
                .with_session(session.clone())
                .with_detail("method", "password"),
        )?;
        recorder.record(
            ActivityEvent::session_created(who)
                .with_source(src)
                .with_session(session),
        )?;
    }

    // Someone tries bob's account five times with wrong passwords.
    for _ in 0..5 {
        recorder.record(
            ActivityEvent::login_failed(bob())
                .with_reason("bad_password")
                .with_source(browser(attacker)),
        )?;
    }
    // Alice sets up a second factor and uses it.
    recorder.record(
        ActivityEvent::mfa_enrolled(alice())
            .with_source(browser(office))
            .with_detail("method", "totp"),
    )?;
    recorder.record(
        ActivityEvent::mfa_verified(alice())
            .with_source(browser(office))
            .with_detail("method", "totp"),
    )?;

    // Bob resets his password.
    recorder.record(ActivityEvent::password_reset_requested(bob()).with_source(browser(home)))?;
    recorder.record(ActivityEvent::password_reset_completed(bob()).with_source(browser(home)))?;
    // (The lockout policy releases bob's lock when it sees the completed reset.)

    // Alice's session times out.
    recorder.record(
        ActivityEvent::session_expired(alice())
            .with_session(sessions.hash("raw-session-token-alice")),
    )?;

    recorder.flush().await?;

    let log = store
        .query(&ActivityQuery::new().since(run_started).limit(100))
        .await?;
    println!(
        "The activity log in {url}, this run, newest first ({} events):\n",
        log.events.len()
    );
    print!("{}", EventTable::new(&log.events));

    let raised = store
        .query(&ActivityQuery::new().action("alert").since(run_started))
        .await?;
    println!("\nAlerts raised by this run:\n");
    for a in &raised.events {
        let d = a.details.as_ref();
        println!(
            "  [{}] {}",
            d.and_then(|d| d["severity"].as_str()).unwrap_or("?"),
            d.and_then(|d| d["message"].as_str()).unwrap_or("")
        );
    }

    let own = store
        .query(
            &ActivityQuery::own(None, "u_alice")
                .action("auth")
                .action("mfa")
                .since(run_started),
        )
        .await?;
    println!("\nalice@example.com's own sign-in and MFA activity:\n");
    print!("{}", EventTable::new(&own.events));

    // The run's log as a spreadsheet-safe CSV, recorded as audit.exported.
    let run = ActivityQuery::new().since(run_started);
    let file = std::fs::File::create("activity.csv")?;
    let rows = export(
        &*store,
        &run,
        ExportFormat::Csv,
        std::io::BufWriter::new(file),
    )
    .await?;
    recorder.record_reserved(export_event(Actor::system(), &run, ExportFormat::Csv, rows))?;
    println!("\nWrote activity.csv ({rows} rows).");

    // The integrity chain, checked and the check recorded as audit.verified.
    recorder.flush().await?;
    let check = verify(&*store, None, &chain_key).await?;
    recorder.record_reserved(verified_event(None, &check))?;
    println!(
        "Integrity chain: {} ({} events in {} chains).",
        if check.is_intact() {
            "intact"
        } else {
            "BROKEN"
        },
        check.events,
        check.chains
    );

    let report = guard.shutdown().await;
    println!(
        "\nRecorder stopped: {} events written, {} retried, {} refused, {} unwritten.",
        report.metrics.written,
        report.metrics.retried,
        report.metrics.refused,
        report.unwritten.len()
    );
    Ok(())
}
