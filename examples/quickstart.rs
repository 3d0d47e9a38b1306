//! The quickstart: a realistic sign-in scenario driven through the recorder.
//!
//! Run it with `cargo run --example quickstart`. It records two users signing in, an
//! attacker's five failed logins, an MFA enrolment and verification, a password reset,
//! a session expiry and a lockout, then prints the log and one user's own activity.

use std::net::IpAddr;
use std::sync::Arc;

use activity_core::{
    ActivityEvent, ActivityQuery, ActivityStore, Actor, EventTable, MemoryStore, Recorder,
    SessionKey, Source,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store: Arc<dyn ActivityStore> = Arc::new(MemoryStore::new());
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

    let log = store.query(&ActivityQuery::new().limit(100)).await?;
    println!(
        "The activity log, newest first ({} events):\n",
        log.events.len()
    );
    print!("{}", EventTable::new(&log.events));

    let own = store
        .query(
            &ActivityQuery::own(None, "u_alice")
                .action("auth")
                .action("mfa"),
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
