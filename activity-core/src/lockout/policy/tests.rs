//! The policy's own tests: events the application records, and the layer's admit/settle.

use super::*;
use crate::query::ActivityQuery;
use crate::{ManualClock, MemoryStore};
use chrono::Duration;
use chrono::TimeZone;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
}

struct Setup {
    store: Arc<MemoryStore>,
    policy: Arc<LockoutPolicy>,
    clock: ManualClock,
    rec: Recorder,
    guard: crate::RecorderGuard,
}

fn setup(config: LockoutConfig) -> Setup {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(t0());
    let policy = Arc::new(LockoutPolicy::new(store.clone(), config).clock(clock.clone()));
    let (rec, guard) = Recorder::builder(store.clone())
        .after_commit(policy.clone())
        .lifecycle_events(false)
        .clock(clock.clone())
        .start();

    Setup {
        store,
        policy,
        clock,
        rec,
        guard,
    }
}

fn key(account: &str) -> LockKey<'_> {
    LockKey::account(None, account)
}

async fn fail(s: &Setup, account: &str, n: usize) {
    for _ in 0..n {
        s.rec
            .record(ActivityEvent::login_failed(Actor::user(account)).with_time(s.clock.now()))
            .unwrap();
        s.clock.advance(Duration::seconds(10));
    }
    s.rec.flush().await.unwrap();
}

#[tokio::test]
async fn nine_failures_leave_one_attempt_ten_lock_for_thirty_minutes() {
    let s = setup(LockoutConfig::default());
    fail(&s, "ghost-account", 9).await;
    assert_eq!(
        s.policy.check(&key("ghost-account")).await.unwrap(),
        LockStatus::Open {
            attempts_left: Some(1)
        }
    );
    fail(&s, "ghost-account", 1).await;
    let LockStatus::Locked { until, .. } = s.policy.check(&key("ghost-account")).await.unwrap()
    else {
        panic!("locked after 10")
    };
    let until = until.unwrap();
    assert_eq!(
        until - (s.clock.now() - Duration::seconds(10)),
        Duration::minutes(30)
    );
    let locks = s
        .store
        .query(&ActivityQuery::new().action("lockout.triggered"))
        .await
        .unwrap()
        .events;
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].reason.as_deref(), Some("too_many_failures"));
    // Expiry.
    s.clock.set(until);
    assert!(!s
        .policy
        .check(&key("ghost-account"))
        .await
        .unwrap()
        .is_locked());
    s.guard.shutdown().await;
}

#[tokio::test]
async fn a_success_resets_and_the_window_slides() {
    let s = setup(LockoutConfig::default());
    fail(&s, "a", 9).await;
    s.rec
        .record(ActivityEvent::login_succeeded(Actor::user("a")).with_time(s.clock.now()))
        .unwrap();
    s.clock.advance(Duration::seconds(1));
    fail(&s, "a", 9).await;
    assert!(!s.policy.check(&key("a")).await.unwrap().is_locked());
    // Failures older than the window do not count.
    s.clock.advance(Duration::minutes(15));
    fail(&s, "a", 1).await;
    assert_eq!(
        s.policy.check(&key("a")).await.unwrap(),
        LockStatus::Open {
            attempts_left: Some(9)
        }
    );
    s.guard.shutdown().await;
}

#[tokio::test]
async fn repeated_locks_grow_then_become_permanent_and_unlocks_release() {
    let s = setup(LockoutConfig {
        threshold: 3,
        permanent_after: Some(3),
        ..LockoutConfig::default()
    });
    fail(&s, "a", 3).await;
    let LockStatus::Locked {
        until: Some(u1), ..
    } = s.policy.check(&key("a")).await.unwrap()
    else {
        panic!()
    };
    s.clock.set(u1);
    fail(&s, "a", 3).await;
    let LockStatus::Locked {
        until: Some(u2), ..
    } = s.policy.check(&key("a")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        u2 - (s.clock.now() - Duration::seconds(10)),
        Duration::minutes(60),
        "doubled"
    );
    s.clock.set(u2);
    fail(&s, "a", 3).await;
    assert_eq!(
        s.policy.check(&key("a")).await.unwrap(),
        LockStatus::Locked {
            until: None,
            reason: "too_many_failures".into()
        },
        "permanent after three"
    );
    s.policy
        .unlock(Actor::user("admin"), None, "a")
        .await
        .unwrap();
    s.rec.flush().await.unwrap();
    s.clock.advance(Duration::seconds(1));
    assert!(!s.policy.check(&key("a")).await.unwrap().is_locked());
    let rel = s
        .store
        .query(&ActivityQuery::new().action("lockout.released"))
        .await
        .unwrap()
        .events;
    assert_eq!(rel[0].reason.as_deref(), Some("admin_unlock"));
    assert_eq!(
        s.store
            .count(&ActivityQuery::new().action("admin.user.unlocked"))
            .await
            .unwrap(),
        1
    );
    s.guard.shutdown().await;
}

#[tokio::test]
async fn a_completed_password_reset_releases_the_lock() {
    let s = setup(LockoutConfig::default());
    fail(&s, "a", 10).await;
    assert!(s.policy.check(&key("a")).await.unwrap().is_locked());
    s.rec
        .record(ActivityEvent::password_reset_completed(Actor::user("a")).with_time(s.clock.now()))
        .unwrap();
    s.rec.flush().await.unwrap();
    s.clock.advance(Duration::seconds(1));
    assert!(!s.policy.check(&key("a")).await.unwrap().is_locked());
    let rel = s
        .store
        .query(&ActivityQuery::new().action("lockout.released"))
        .await
        .unwrap()
        .events;
    assert_eq!(rel[0].reason.as_deref(), Some("password_reset"));
    s.guard.shutdown().await;
}

#[tokio::test]
async fn one_batch_with_the_lock_and_the_reset_gives_one_lock_and_one_release() {
    let s = setup(LockoutConfig::default());
    for i in 0..12 {
        s.rec
            .record(
                ActivityEvent::login_failed(Actor::user("a"))
                    .with_time(t0() + Duration::seconds(i)),
            )
            .unwrap();
    }
    s.rec
        .record(
            ActivityEvent::password_reset_completed(Actor::user("a"))
                .with_time(t0() + Duration::seconds(20)),
        )
        .unwrap();
    s.rec.flush().await.unwrap();
    assert_eq!(
        s.store
            .count(&ActivityQuery::new().action("lockout.triggered"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.store
            .count(&ActivityQuery::new().action("lockout.released"))
            .await
            .unwrap(),
        1
    );
    s.guard.shutdown().await;
}

#[tokio::test]
async fn unlock_without_a_started_recorder_is_refused_not_dropped() {
    let policy = LockoutPolicy::new(Arc::new(MemoryStore::new()), LockoutConfig::default());
    let err = policy
        .unlock(Actor::user("admin"), None, "a")
        .await
        .expect_err("no recorder to record the unlock with");
    assert!(
        matches!(
            err,
            Error::NotStarted {
                stage: "LockoutPolicy",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn the_recorder_builder_registers_the_lockout_once_for_stage_and_check() {
    let store = Arc::new(MemoryStore::new());
    let policy = Arc::new(LockoutPolicy::new(store.clone(), LockoutConfig::default()));
    let (rec, guard) = Recorder::builder(store.clone())
        .lockout(policy.clone())
        .start();
    assert!(rec.lockout_check().is_some());
    for _ in 0..10 {
        rec.record(ActivityEvent::login_failed(Actor::user("a")))
            .unwrap();
    }
    rec.flush().await.unwrap();
    let key = LockKey::account(None, "a");
    assert!(rec
        .lockout_check()
        .unwrap()
        .check(&key)
        .await
        .unwrap()
        .is_locked());
    // The stage was told its recorder: the unlock is recorded through it.
    policy
        .unlock(Actor::user("admin"), None, "a")
        .await
        .unwrap();
    rec.flush().await.unwrap();
    let q = ActivityQuery::new().action("lockout.released");
    assert_eq!(store.count(&q).await.unwrap(), 1);
    guard.shutdown().await;
}

#[tokio::test]
async fn an_expired_lock_is_recorded_as_released_with_the_one_call_wiring() {
    // Only `RecorderBuilder::lockout`: no other call tells the policy its recorder.
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(t0());
    let policy =
        Arc::new(LockoutPolicy::new(store.clone(), LockoutConfig::default()).clock(clock.clone()));
    let (rec, guard) = Recorder::builder(store.clone())
        .lockout(policy.clone())
        .lifecycle_events(false)
        .clock(clock.clone())
        .start();
    for _ in 0..10 {
        rec.record(ActivityEvent::login_failed(Actor::user("a")).with_time(clock.now()))
            .unwrap();
    }
    rec.flush().await.unwrap();
    assert!(policy.check(&key("a")).await.unwrap().is_locked());
    clock.advance(Duration::minutes(31));
    assert!(!policy.check(&key("a")).await.unwrap().is_locked());
    rec.flush().await.unwrap();
    let released = store
        .query(&ActivityQuery::new().action("lockout.released"))
        .await
        .unwrap()
        .events;
    assert_eq!(released.len(), 1, "the expiry is recorded, once");
    assert_eq!(released[0].reason.as_deref(), Some("expired"));
    guard.shutdown().await;
}

/// An attempt through the layer's path: admitted (or the refusal), then settled.
async fn attempt(
    p: &LockoutPolicy,
    key: &LockKey<'_>,
    outcome: Outcome,
    verified: Option<&Actor>,
) -> std::result::Result<(), LockStatus> {
    match p.admit(key).await.unwrap() {
        Admission::Admitted(t) => {
            let s = Settlement {
                event: uuid::Uuid::now_v7(),
                outcome,
                verified,
                device: None,
            };
            p.settle(t, s).await.unwrap();
            Ok(())
        }
        Admission::Refused(status) => Err(status),
    }
}

fn policy(config: LockoutConfig) -> (Arc<LockoutPolicy>, ManualClock) {
    let clock = ManualClock::new(t0());
    let p = LockoutPolicy::new(Arc::new(MemoryStore::new()), config).clock(clock.clone());
    (Arc::new(p), clock)
}

#[tokio::test]
async fn reservations_bound_the_attempts_in_flight_to_the_threshold() {
    let (p, _) = policy(LockoutConfig::default());
    let k = key("victim");
    let mut tickets = Vec::new();
    for _ in 0..10 {
        match p.admit(&k).await.unwrap() {
            Admission::Admitted(t) => tickets.push(t),
            Admission::Refused(s) => panic!("{s:?}"),
        }
    }
    let Admission::Refused(LockStatus::Locked { reason, .. }) = p.admit(&k).await.unwrap() else {
        panic!("the eleventh in flight is refused")
    };
    assert_eq!(reason, "attempts_in_flight");
    // One succeeds: its place is free again (and the count starts over).
    let ok = tickets.pop().unwrap();
    p.settle(
        ok,
        Settlement {
            event: uuid::Uuid::now_v7(),
            outcome: Outcome::Success,
            verified: None,
            device: None,
        },
    )
    .await
    .unwrap();
    assert!(matches!(p.admit(&k).await.unwrap(), Admission::Admitted(_)));
}

#[tokio::test]
async fn normalised_identifiers_and_handler_ids_find_one_lock() {
    let (p, _) = policy(LockoutConfig::default());
    let u1 = Actor::user("u_1");
    for typed in [
        "Alice@Example.com",
        "ALICE@example.com",
        " alice@example.com",
    ]
    .iter()
    .cycle()
    .take(10)
    {
        attempt(
            &p,
            &LockKey::account(None, typed),
            Outcome::Failure,
            Some(&u1),
        )
        .await
        .unwrap();
    }
    assert!(p
        .check(&key("alice@EXAMPLE.com"))
        .await
        .unwrap()
        .is_locked());
    assert!(
        p.check(&key("u_1")).await.unwrap().is_locked(),
        "found by the handler's id"
    );
    assert!(!p.release(None, &u1).await.unwrap().is_empty());
    assert!(
        !p.check(&key("alice@example.com"))
            .await
            .unwrap()
            .is_locked(),
        "released via u_1"
    );
}

#[tokio::test]
async fn mfa_failures_have_their_own_counter_and_lock() {
    let (p, _) = policy(LockoutConfig::default());
    let mfa = LockKey {
        kind: AttemptKind::Mfa,
        ..key("u_2")
    };
    for _ in 0..5 {
        attempt(&p, &mfa, Outcome::Failure, None).await.unwrap();
    }
    let refused = attempt(&p, &mfa, Outcome::Success, None).await.unwrap_err();
    assert_eq!(
        refused,
        LockStatus::Locked {
            until: Some(t0() + Duration::minutes(30)),
            reason: "too_many_mfa_failures".into()
        }
    );
    assert!(
        !p.check(&key("u_2")).await.unwrap().is_locked(),
        "the password is not locked"
    );
}

#[tokio::test]
async fn a_reset_releases_only_the_account_the_handler_verified() {
    let (p, _) = policy(LockoutConfig::default());
    for _ in 0..10 {
        attempt(&p, &key("victim"), Outcome::Failure, None)
            .await
            .unwrap();
    }
    let reset = LockKey {
        kind: AttemptKind::Reset,
        ..key("victim")
    };
    // The body names the victim; the handler verified bob's token.
    let bob = Actor::user("u_2").with_name("bob@example.com");
    attempt(&p, &reset, Outcome::Success, Some(&bob))
        .await
        .unwrap();
    assert!(p.check(&key("victim")).await.unwrap().is_locked());
    // Nor does a reset the handler did not vouch for.
    attempt(&p, &reset, Outcome::Success, None).await.unwrap();
    assert!(p.check(&key("victim")).await.unwrap().is_locked());
    // The victim's own verified reset does.
    let victim = Actor::user("u_3").with_name("victim");
    attempt(&p, &reset, Outcome::Success, Some(&victim))
        .await
        .unwrap();
    assert!(!p.check(&key("victim")).await.unwrap().is_locked());
}

#[tokio::test]
async fn account_and_ip_locks_each_address_for_good_not_only_the_latest() {
    let (p, _) = policy(LockoutConfig {
        scope: LockScope::AccountAndIp,
        ..LockoutConfig::default()
    });
    let a: std::net::IpAddr = "81.2.69.142".parse().unwrap();
    let b: std::net::IpAddr = "175.16.199.1".parse().unwrap();
    for ip in [a, b] {
        for _ in 0..10 {
            attempt(
                &p,
                &LockKey {
                    ip: Some(ip),
                    ..key("bob")
                },
                Outcome::Failure,
                None,
            )
            .await
            .unwrap();
        }
    }
    assert!(p
        .check(&LockKey {
            ip: Some(a),
            ..key("bob")
        })
        .await
        .unwrap()
        .is_locked());
    assert!(p
        .check(&LockKey {
            ip: Some(b),
            ..key("bob")
        })
        .await
        .unwrap()
        .is_locked());
    let c = "81.2.69.143".parse().unwrap();
    assert!(!p
        .check(&LockKey {
            ip: Some(c),
            ..key("bob")
        })
        .await
        .unwrap()
        .is_locked());
}

#[tokio::test]
async fn smart_lockout_keeps_the_owners_known_device_and_network_open() {
    let (p, _) = policy(LockoutConfig::default());
    let home: std::net::IpAddr = "81.2.69.142".parse().unwrap();
    let owner = LockKey {
        ip: Some(home),
        device: Some("d_owner"),
        ..key("bob")
    };
    attempt(&p, &owner, Outcome::Success, None).await.unwrap();
    let attacker: std::net::IpAddr = "175.16.199.1".parse().unwrap();
    for _ in 0..10 {
        attempt(
            &p,
            &LockKey {
                ip: Some(attacker),
                ..key("bob")
            },
            Outcome::Failure,
            None,
        )
        .await
        .unwrap();
    }
    assert!(p
        .check(&LockKey {
            ip: Some(attacker),
            ..key("bob")
        })
        .await
        .unwrap()
        .is_locked());
    // A guessed device id from elsewhere is unfamiliar too.
    let guessed = LockKey {
        ip: Some(attacker),
        device: Some("d_guess"),
        ..key("bob")
    };
    assert!(p.check(&guessed).await.unwrap().is_locked());
    assert!(
        !p.check(&owner).await.unwrap().is_locked(),
        "the owner's device"
    );
    let home_no_cookie = LockKey {
        ip: Some(home),
        ..key("bob")
    };
    assert!(
        !p.check(&home_no_cookie).await.unwrap().is_locked(),
        "the owner's network"
    );
}

#[tokio::test]
async fn one_address_has_a_budget_across_accounts_refilled_steadily() {
    let (p, clock) = policy(LockoutConfig::default());
    let ip: std::net::IpAddr = "175.16.199.1".parse().unwrap();
    for i in 0..100 {
        let name = format!("user{i}");
        attempt(
            &p,
            &LockKey {
                ip: Some(ip),
                ..key(&name)
            },
            Outcome::Failure,
            None,
        )
        .await
        .unwrap();
    }
    let refused = attempt(
        &p,
        &LockKey {
            ip: Some(ip),
            ..key("user100")
        },
        Outcome::Failure,
        None,
    )
    .await
    .unwrap_err();
    let LockStatus::Throttled { until } = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(
        until - clock.now(),
        Duration::milliseconds(864_000),
        "one attempt back in 1/100 day"
    );
    clock.advance(Duration::minutes(15));
    attempt(
        &p,
        &LockKey {
            ip: Some(ip),
            ..key("user100")
        },
        Outcome::Failure,
        None,
    )
    .await
    .unwrap();
    // Successes give their attempt back.
    let other: std::net::IpAddr = "81.2.69.142".parse().unwrap();
    for _ in 0..150 {
        attempt(
            &p,
            &LockKey {
                ip: Some(other),
                ..key("carol")
            },
            Outcome::Success,
            None,
        )
        .await
        .unwrap();
    }
}

/// The recorder holds the policy (its lockout check and a stage) and the policy held the
/// recorder: a cycle, so a recorder shut down and dropped never let go of its store. Seen
/// as PostgreSQL's "too many clients" after a hundred CLI commands in one test process
/// (each command's pool stayed open). The policy now holds the recorder weakly.
#[tokio::test]
async fn a_recorder_with_a_lockout_policy_lets_go_of_its_store() {
    let store = Arc::new(MemoryStore::new());
    let policy = Arc::new(LockoutPolicy::new(store.clone(), LockoutConfig::default()));
    let (rec, guard) = Recorder::builder(store.clone())
        .lockout(policy.clone())
        .lifecycle_events(false)
        .start();
    rec.record(ActivityEvent::login_failed(Actor::user("bob")))
        .unwrap();
    guard.shutdown().await;
    drop(rec);
    drop(policy);
    assert_eq!(
        Arc::strong_count(&store),
        1,
        "nothing but the test holds the store once the recorder is gone"
    );
}
