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
    ActivityEvent, ActivityQuery, ActivityStore, Actor, EventTable, Recorder, SessionKey, Source,
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
    let (recorder, guard) = Recorder::builder(store.clone()).start();
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
    // ... and the account locks.
    recorder.record(
        ActivityEvent::lockout_triggered(bob(), "too_many_failures")
            .with_source(browser(attacker))
            .with_detail("failures", 5)
            .with_detail("locked_for_minutes", 30),
    )?;

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

    // Bob resets his password, which releases the lock.
    recorder.record(ActivityEvent::password_reset_requested(bob()).with_source(browser(home)))?;
    recorder.record(ActivityEvent::password_reset_completed(bob()).with_source(browser(home)))?;
    recorder.record(ActivityEvent::lockout_released(bob(), "password_reset"))?;

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
