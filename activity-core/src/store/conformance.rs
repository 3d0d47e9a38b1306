//! The store conformance kit: one call runs the whole behavioural suite of
//! [`ActivityStore`] against any backend.
//!
//! A backend author passes a factory that returns a fresh, empty store for each case (a
//! new in-memory database, schema or table prefix), and calls it from a test:
//!
//! ```
//! use std::sync::Arc;
//! use activity_core::{ActivityStore, MemoryStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! activity_core::testing::run_conformance(|| async {
//!     Arc::new(MemoryStore::new()) as Arc<dyn ActivityStore>
//! })
//! .await;
//! # });
//! ```
//!
//! A failing rule panics with a message naming the case, like any assertion. The cases:
//! round trip of every field; batch atomicity; idempotent re-append; each filter alone
//! and combined (checked against [`ActivityQuery::matches`]); since/until boundaries to
//! the microsecond; action categories on whole segments; pagination under concurrent
//! appends; timestamp ties; the page-size cap; tenant isolation; deletion; tenants;
//! that invalid queries are refused; the chain heads (stored with their batch in one
//! transaction, moving only forward, listed by tenant); and the strict sealed append
//! (a sealed event another writer stored first fails the whole batch).

pub use super::held::HeldStore;

use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::{
    chain::ChainHead, chain::ChainKey, chain::ChainSealer, query::DeleteRequest,
    query::MAX_PAGE_SIZE, Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, ChainLink,
    Error, Geo, Outcome, Source, Target,
};

/// A fixed instant the kit's events are placed around.
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 6, 30, 0).unwrap()
}

/// An event with every field of schema v1 set, including hostile-looking text.
pub fn full_event() -> ActivityEvent {
    ActivityEvent::login_failed(
        Actor::user("u_123").with_name("alice@example.com\r\n\u{1b}[31m\"quoted\"; 'x'"),
    )
    .with_id(Uuid::now_v7())
    .with_time(base_time() + Duration::microseconds(123_456))
    .with_tenant("acme")
    .with_reason("bad_password")
    .with_target(Target::user("u_123").with_name("Ålice ünïcödé 🦀"))
    .with_source(
        Source::ip("2001:db8::1".parse().unwrap())
            .with_user_agent("Mozilla/5.0 (X11; Linux x86_64) =cmd|' /C calc'!A0")
            .with_device_id("d_5f1c")
            .with_geo(Geo {
                country: Some("GB".into()),
                city: Some("London".into()),
                lat: Some(51.5142),
                lon: Some(-0.0931),
                accuracy_km: Some(10),
            }),
    )
    .with_session("hmac-sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    .with_request_id("req_01J")
    .with_detail("method", "password")
    .with_detail(
        "nested",
        json!({"list": [1, 2.5, -3, true, null, "x"], "big": 9007199254740993u64, "obj": {"k": "v"}}),
    )
}

/// Runs every case against stores made by `make_store` (a fresh, empty one per case).
pub async fn run_conformance<F, Fut>(mut make_store: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn ActivityStore>>,
{
    round_trip(&*make_store().await).await;
    batch_atomicity(&*make_store().await).await;
    idempotent_append(&*make_store().await).await;
    filters(&*make_store().await).await;
    time_boundaries(&*make_store().await).await;
    categories(&*make_store().await).await;
    pagination_under_appends(&*make_store().await).await;
    timestamp_ties(&*make_store().await).await;
    page_size_cap(&*make_store().await).await;
    tenant_isolation(&*make_store().await).await;
    deletion(&*make_store().await).await;
    tenants(&*make_store().await).await;
    invalid_queries(&*make_store().await).await;
    chain_heads(&*make_store().await).await;
    strict_duplicates(&*make_store().await).await;
    query_many(&*make_store().await).await;
    commit_order(&*make_store().await).await;
}

/// The log after `after` once it holds `n` events, or as it is after ten seconds. A store
/// may hold back committed events while an older transaction runs (PostgreSQL hands out
/// only events older than every running transaction, and other tests' transactions run
/// beside this one).
async fn settled_log(
    store: &dyn ActivityStore,
    after: crate::sinks::LogPosition,
    n: usize,
) -> Vec<crate::sinks::LoggedEvent> {
    for _ in 0..500 {
        let got = store
            .read_log(after, 100)
            .await
            .expect("commit_order: read_log");
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    store
        .read_log(after, 100)
        .await
        .expect("commit_order: read_log")
}

/// [`ActivityStore::read_log`] and the sink cursors: events come back in the order their
/// appends committed (not by time), after the cursor, with positions that only grow; a
/// skipped duplicate takes no place; the lag counts what is left; a sink's state
/// round-trips and is removed; [`DeleteRequest::delivered_up_to`] deletes only events at
/// or before the position.
pub async fn commit_order(store: &dyn ActivityStore) {
    use crate::query::DeleteRequest;
    use crate::sinks::{LogPosition, SinkState, SinkStatus};
    let at = |i: i64, s: i64| {
        ActivityEvent::logout(Actor::user(format!("o{i}")))
            .with_time(base_time() - Duration::days(10) + Duration::seconds(s))
    };
    // Appended newest first: commit order is not time order.
    let first = vec![at(0, 50), at(1, 40)];
    let second = vec![at(2, 30), first[0].clone(), at(3, 20)];
    let third = vec![at(4, 10)];
    for b in [&first, &second, &third] {
        store.append(b).await.expect("commit_order: append");
    }
    let want: Vec<Uuid> = [&first[0], &first[1], &second[0], &second[2], &third[0]]
        .iter()
        .map(|e| e.id)
        .collect();
    let all = settled_log(store, LogPosition::START, want.len()).await;
    assert_eq!(
        all.iter().map(|l| l.event.id).collect::<Vec<_>>(),
        want,
        "commit_order: in commit order, each event once"
    );
    assert!(
        all.windows(2).all(|w| w[0].position < w[1].position),
        "commit_order: positions grow"
    );
    assert_eq!(all[2].event, second[0], "commit_order: the event as stored");
    let page = store.read_log(all[1].position, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|l| l.event.id).collect::<Vec<_>>(),
        want[2..4],
        "commit_order: strictly after the cursor, at most the limit"
    );
    assert_eq!(
        store.log_lag(all[1].position).await.unwrap(),
        3,
        "commit_order: lag"
    );
    assert_eq!(store.log_lag(all[4].position).await.unwrap(), 0);
    assert!(store
        .read_log(all[4].position, 10)
        .await
        .unwrap()
        .is_empty());
    // Sink cursors.
    let mut state = SinkState::new("conformance.sink-1", "test");
    state.position = all[2].position;
    state.status = SinkStatus::Retrying;
    state.last_error = Some("503 \u{1F4A5} ' \" --".into());
    store
        .save_sink_state(&state)
        .await
        .expect("commit_order: save");
    state.failures = 2;
    store
        .save_sink_state(&state)
        .await
        .expect("commit_order: replace");
    store
        .save_sink_state(&SinkState::new("other", "test"))
        .await
        .unwrap();
    let states = store.sink_states().await.expect("commit_order: states");
    assert_eq!(states.len(), 2, "commit_order: one row per name");
    assert_eq!(
        states.iter().find(|s| s.name == state.name),
        Some(&state),
        "commit_order: a state round-trips"
    );
    assert!(store.remove_sink_state("other").await.unwrap());
    assert!(!store.remove_sink_state("other").await.unwrap());
    assert!(
        store
            .save_sink_state(&SinkState::new("bad name; --", "test"))
            .await
            .is_err(),
        "commit_order: a name is checked"
    );
    // The purge's guard: only what was delivered (positions up to the third) goes.
    let r = DeleteRequest::new(None, base_time(), 100).delivered_up_to(all[2].position);
    assert_eq!(
        store.delete(&r).await.unwrap(),
        3,
        "commit_order: delivered only"
    );
    let left = settled_log(store, LogPosition::START, 2).await;
    assert_eq!(
        left.iter().map(|l| l.event.id).collect::<Vec<_>>(),
        want[3..],
        "commit_order: the undelivered stay"
    );
    // Numbers are never given out again, even once the newest events are gone.
    store
        .delete(&DeleteRequest::new(None, base_time(), 100))
        .await
        .unwrap();
    let late = at(5, 0);
    store.append(std::slice::from_ref(&late)).await.unwrap();
    let after = settled_log(store, all[4].position, 1).await;
    assert_eq!(
        after.iter().map(|l| l.event.id).collect::<Vec<_>>(),
        vec![late.id],
        "commit_order: an event after an emptied log is after every cursor"
    );
}

/// [`ActivityStore::append_sealed_strict`]: a batch in which an event carrying a link is
/// stored already (by another writer) commits nothing, events or heads, and names those
/// ids; an unlinked duplicate (left unsealed because it was known to be stored) is
/// skipped as usual.
pub async fn strict_duplicates(store: &dyn ActivityStore) {
    let key = ChainKey::keyed(b"the conformance kit's chain key").expect("key");
    let mk = |i: i64| {
        ActivityEvent::logout(Actor::user(format!("s{i}")))
            .with_time(base_time() + Duration::microseconds(i * 1_000_001))
    };
    let fixed = mk(0);
    let mut other = ChainSealer::new("other-writer", key.clone());
    let mut theirs = vec![fixed.clone()];
    other.seal_all(&mut theirs);
    store
        .append_sealed(&theirs, &other.heads_of(&theirs))
        .await
        .expect("strict_duplicates: the other writer's append");
    let mut sealer = ChainSealer::new("this-writer", key.clone());
    let mut batch = vec![mk(1), fixed.clone(), mk(2)];
    sealer.seal_all(&mut batch);
    let err = store
        .append_sealed_strict(&batch, &sealer.heads_of(&batch))
        .await
        .expect_err("strict_duplicates: a sealed event stored by another writer fails the batch");
    assert!(
        matches!(&err, Error::SealedDuplicate { ids } if ids == &vec![fixed.id]),
        "strict_duplicates: names exactly the stored ids: {err:?}"
    );
    assert_eq!(
        store.count(&ActivityQuery::new()).await.unwrap(),
        1,
        "strict_duplicates: nothing of the batch committed"
    );
    assert_eq!(
        store.chain_heads(None).await.unwrap().len(),
        1,
        "strict_duplicates: no head of the refused batch"
    );
    // Sealed again without it (left unlinked): the store skips it, the rest commit.
    let mut sealer = ChainSealer::new("this-writer", key);
    let mut fresh = vec![mk(1), mk(2)];
    sealer.seal_all(&mut fresh);
    let batch = vec![fresh[0].clone(), fixed.clone(), fresh[1].clone()];
    assert_eq!(
        store
            .append_sealed_strict(&batch, &sealer.heads_of(&batch))
            .await
            .expect("strict_duplicates: an unlinked duplicate is skipped"),
        2
    );
}

async fn all_pages(store: &dyn ActivityStore, query: &ActivityQuery) -> Vec<ActivityEvent> {
    let mut q = query.clone();
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let page = store.query(&q).await.expect("query");
        assert!(
            page.events.len() <= q.page_size(),
            "page larger than its size"
        );
        out.extend(page.events);
        match page.next {
            Some(c) => q.after = Some(c),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

fn sorted_desc(mut events: Vec<ActivityEvent>) -> Vec<ActivityEvent> {
    events.sort_by_key(|e| std::cmp::Reverse((e.time, e.id)));
    events
}

fn ids(events: &[ActivityEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

/// Case: every field round-trips exactly; so does an event with only the mandatory ones.
pub async fn round_trip(store: &dyn ActivityStore) {
    let full = full_event();
    let minimal = ActivityEvent::new(Action::new("document.viewed").unwrap())
        .with_time(base_time() - Duration::seconds(1));
    let sealed = ActivityEvent::logout(Actor::new("u_9"))
        .with_time(base_time() - Duration::seconds(2))
        .with_ip("81.2.69.142".parse().unwrap());
    let mut sealed = sealed;
    sealed.chain = Some(ChainLink {
        writer: "w-1".into(),
        seq: 42,
        prev: "0".repeat(64),
        hash: "ab".repeat(32),
    });
    assert_eq!(
        store
            .append(&[full.clone(), minimal.clone(), sealed.clone()])
            .await
            .expect("append"),
        3,
        "round_trip: append reports the new events"
    );
    let page = store
        .query(&ActivityQuery::new().ids([full.id, minimal.id, sealed.id]))
        .await
        .expect("query");
    assert_eq!(
        page.events,
        vec![full, minimal, sealed],
        "round_trip: every field comes back as written"
    );
}

/// Case: a batch holding one invalid event stores nothing.
pub async fn batch_atomicity(store: &dyn ActivityStore) {
    let good = ActivityEvent::logout(Actor::user("u_1")).with_time(base_time());
    let mut bad = ActivityEvent::logout(Actor::user("u_2")).with_time(base_time());
    bad.reason = Some("x".repeat(crate::limits::REASON + 1));
    let err = store
        .append(&[good.clone(), bad])
        .await
        .expect_err("batch_atomicity: an invalid event fails the batch");
    assert!(
        matches!(err, Error::Invalid { .. }),
        "batch_atomicity: invalid events give Error::Invalid, got {err:?}"
    );
    assert_eq!(
        store.count(&ActivityQuery::new()).await.unwrap(),
        0,
        "batch_atomicity: nothing of a failed batch is stored"
    );
    assert_eq!(store.append(&[good]).await.unwrap(), 1);
}

/// Case: re-appending stored events (or repeating one inside a batch) stores nothing twice.
pub async fn idempotent_append(store: &dyn ActivityStore) {
    let batch: Vec<_> = (0..5)
        .map(|i| {
            ActivityEvent::login_succeeded(Actor::user(format!("u_{i}"))).with_time(base_time())
        })
        .collect();
    assert_eq!(store.append(&batch).await.unwrap(), 5);
    assert_eq!(
        store.append(&batch).await.unwrap(),
        0,
        "idempotent_append: a retried batch adds nothing"
    );
    let extra = ActivityEvent::logout(Actor::user("u_0")).with_time(base_time());
    let mixed = vec![
        batch[0].clone(),
        extra.clone(),
        extra.clone(),
        batch[4].clone(),
    ];
    assert_eq!(
        store.append(&mixed).await.unwrap(),
        1,
        "idempotent_append: only the new event of a partly stored batch is added, once"
    );
    assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 6);
    assert_eq!(
        store.append(&[]).await.unwrap(),
        0,
        "idempotent_append: an empty batch is fine"
    );
}

fn dataset() -> Vec<ActivityEvent> {
    let tenants = [Some("acme"), Some("beta"), None];
    let actors = ["alice", "bob", "carol"];
    let actions = [
        Action::LOGIN_SUCCEEDED,
        Action::LOGIN_FAILED,
        Action::LOGOUT,
        Action::MFA_VERIFIED,
        Action::PASSWORD_CHANGED,
        Action::new("document.viewed").unwrap(),
    ];
    let ips: [IpAddr; 3] = [
        "81.2.69.142".parse().unwrap(),
        "2001:db8::7".parse().unwrap(),
        "10.0.0.1".parse().unwrap(),
    ];
    let outcomes = [Outcome::Success, Outcome::Failure, Outcome::Unknown];
    (0..60u32)
        .map(|i| {
            let i_us = i as usize;
            let mut e = ActivityEvent::new(actions[i_us % actions.len()].clone())
                .with_time(base_time() + Duration::seconds((i / 2) as i64))
                .with_outcome(outcomes[(i_us / 2) % 3])
                .with_actor(Actor::user(actors[(i_us / 3) % 3]))
                .with_source(
                    Source::ip(ips[(i_us / 5) % 3]).with_device_id(format!("dev_{}", i % 4)),
                )
                .with_session(format!("hmac-sha256:s{}", i % 5))
                .with_request_id(format!("req_{}", i % 7));
            if let Some(t) = tenants[i_us % 3] {
                e = e.with_tenant(t);
            }
            e
        })
        .collect()
}

async fn check(
    store: &dyn ActivityStore,
    data: &[ActivityEvent],
    query: ActivityQuery,
    case: &str,
) {
    let expected = sorted_desc(data.iter().filter(|e| query.matches(e)).cloned().collect());
    let got = all_pages(store, &query).await;
    assert_eq!(
        ids(&got),
        ids(&expected),
        "filters: {case}: wrong events or order"
    );
    let count = store.count(&query).await.expect("count");
    assert_eq!(
        count,
        expected.len() as u64,
        "filters: {case}: count disagrees"
    );
}

/// Case: each filter alone and in combination returns exactly the matching events.
pub async fn filters(store: &dyn ActivityStore) {
    let data = dataset();
    for chunk in data.chunks(17) {
        store.append(chunk).await.unwrap();
    }
    let t = |s: i64| base_time() + Duration::seconds(s);
    let first = data[0].clone();
    let cases: Vec<(&str, ActivityQuery)> = vec![
        ("none", ActivityQuery::new().limit(7)),
        ("tenant", ActivityQuery::new().tenant("acme").limit(4)),
        ("actor", ActivityQuery::new().actor("bob")),
        (
            "exact action",
            ActivityQuery::new().action("auth.login.failed"),
        ),
        (
            "two actions",
            ActivityQuery::new().action("auth.logout").action("mfa"),
        ),
        ("category", ActivityQuery::new().action("auth")),
        ("app category", ActivityQuery::new().action("document")),
        ("outcome", ActivityQuery::new().outcome(Outcome::Failure)),
        (
            "ipv4",
            ActivityQuery::new().ip("81.2.69.142".parse().unwrap()),
        ),
        (
            "ipv6",
            ActivityQuery::new().ip("2001:db8::7".parse().unwrap()),
        ),
        (
            "mapped ipv4",
            ActivityQuery::new().ip("::ffff:81.2.69.142".parse().unwrap()),
        ),
        ("since", ActivityQuery::new().since(t(10))),
        ("until", ActivityQuery::new().until(t(10))),
        (
            "window",
            ActivityQuery::new().since(t(5)).until(t(20)).limit(3),
        ),
        ("session", ActivityQuery::new().session("hmac-sha256:s3")),
        ("device", ActivityQuery::new().device_id("dev_2")),
        ("request id", ActivityQuery::new().request_id("req_4")),
        (
            "ids",
            ActivityQuery::new().ids([first.id, data[33].id, Uuid::now_v7()]),
        ),
        (
            "combined",
            ActivityQuery::own(Some("acme"), "alice")
                .action("auth")
                .outcome(Outcome::Success)
                .since(t(0))
                .until(t(25))
                .limit(2),
        ),
        (
            "combined ip+device+tenant",
            ActivityQuery::new()
                .tenant("beta")
                .ip("2001:db8::7".parse().unwrap())
                .device_id("dev_1"),
        ),
        ("no match", ActivityQuery::new().actor("nobody")),
        ("absent tenant", ActivityQuery::new().tenant("gamma")),
    ];
    for (case, q) in cases {
        check(store, &data, q, case).await;
    }
}

/// Case: `since` is inclusive and `until` exclusive, to the microsecond.
pub async fn time_boundaries(store: &dyn ActivityStore) {
    let at = base_time() + Duration::microseconds(500_001);
    let events: Vec<_> = [-1i64, 0, 1]
        .iter()
        .map(|d| ActivityEvent::logout(Actor::user("u")).with_time(at + Duration::microseconds(*d)))
        .collect();
    store.append(&events).await.unwrap();
    let since = all_pages(store, &ActivityQuery::new().since(at)).await;
    assert_eq!(
        ids(&since),
        vec![events[2].id, events[1].id],
        "time_boundaries: since is inclusive"
    );
    let until = all_pages(store, &ActivityQuery::new().until(at)).await;
    assert_eq!(
        ids(&until),
        vec![events[0].id],
        "time_boundaries: until is exclusive"
    );
    assert_eq!(
        store
            .count(&ActivityQuery::new().since(at).until(at))
            .await
            .unwrap(),
        0
    );
}

/// Case: categories and prefixes match whole segments only; `_` and `%` are not wildcards.
pub async fn categories(store: &dyn ActivityStore) {
    let codes = [
        "auth.login.failed",
        "auth.logout",
        "authx.login",
        "auth_x.y",
        "authzz.a",
        "au.th",
    ];
    let events: Vec<_> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            ActivityEvent::new(Action::new(*c).unwrap())
                .with_time(base_time() + Duration::seconds(i as i64))
        })
        .collect();
    store.append(&events).await.unwrap();
    for (filter, want) in [
        ("auth", vec!["auth.logout", "auth.login.failed"]),
        ("auth.login", vec!["auth.login.failed"]),
        ("auth_x", vec!["auth_x.y"]),
        ("au", vec!["au.th"]),
        ("auth.log", vec![]),
    ] {
        let got = all_pages(store, &ActivityQuery::new().action(filter)).await;
        let got: Vec<&str> = got.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(got, want, "categories: filter {filter:?}");
    }
}

/// Case: events appended between pages (newer and older than the cursor) never make a
/// page repeat or skip an event that was there when paging began.
pub async fn pagination_under_appends(store: &dyn ActivityStore) {
    let initial: Vec<_> = (0..30)
        .map(|i| {
            ActivityEvent::login_succeeded(Actor::user("pager"))
                .with_time(base_time() + Duration::milliseconds(i * 10))
        })
        .collect();
    store.append(&initial).await.unwrap();
    let mut q = ActivityQuery::own(None, "pager").limit(7);
    let mut seen = Vec::new();
    let mut round = 0i64;
    loop {
        let page = store.query(&q).await.unwrap();
        seen.extend(page.events.iter().cloned());
        // Between pages: one newer event, one at the cursor's exact time, one older.
        if let Some(last) = page.events.last() {
            round += 1;
            let newer = ActivityEvent::login_succeeded(Actor::user("pager"))
                .with_time(base_time() + Duration::seconds(60 + round));
            let tie = ActivityEvent::login_succeeded(Actor::user("pager")).with_time(last.time);
            let older = ActivityEvent::login_succeeded(Actor::user("pager"))
                .with_time(base_time() - Duration::seconds(round));
            store.append(&[newer, tie, older]).await.unwrap();
        }
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    let unique: HashSet<Uuid> = seen.iter().map(|e| e.id).collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "pagination_under_appends: an event was repeated"
    );
    for e in &initial {
        assert!(
            unique.contains(&e.id),
            "pagination_under_appends: an event was skipped"
        );
    }
    assert!(
        seen.windows(2)
            .all(|w| (w[0].time, w[0].id) > (w[1].time, w[1].id)),
        "pagination_under_appends: pages are not in newest-first order"
    );
}

/// Case: many events with the same timestamp page without loss or repetition, by id.
pub async fn timestamp_ties(store: &dyn ActivityStore) {
    let events: Vec<_> = (0..25)
        .map(|_| ActivityEvent::logout(Actor::user("tie")).with_time(base_time()))
        .collect();
    store.append(&events).await.unwrap();
    let got = all_pages(store, &ActivityQuery::new().limit(4)).await;
    assert_eq!(
        ids(&got),
        ids(&sorted_desc(events)),
        "timestamp_ties: ties page by id, descending"
    );
}

/// Case: no page is ever larger than [`MAX_PAGE_SIZE`].
pub async fn page_size_cap(store: &dyn ActivityStore) {
    let events: Vec<_> = (0..(MAX_PAGE_SIZE + 5) as i64)
        .map(|i| {
            ActivityEvent::logout(Actor::user("cap"))
                .with_time(base_time() + Duration::milliseconds(i))
        })
        .collect();
    for chunk in events.chunks(250) {
        store.append(chunk).await.unwrap();
    }
    let page = store
        .query(&ActivityQuery::new().limit(usize::MAX))
        .await
        .unwrap();
    assert_eq!(
        page.events.len(),
        MAX_PAGE_SIZE,
        "page_size_cap: the hard cap applies"
    );
    assert!(page.next.is_some());
    let rest = store
        .query(
            &ActivityQuery::new()
                .limit(usize::MAX)
                .after(page.next.unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(rest.events.len(), 5);
    assert!(
        rest.next.is_none(),
        "page_size_cap: no cursor after the last page"
    );
}

/// Case: a tenant's scopes never see another tenant's events, whatever the cursor.
pub async fn tenant_isolation(store: &dyn ActivityStore) {
    let a: Vec<_> = (0..5)
        .map(|i| {
            ActivityEvent::login_failed(Actor::user("shared_name"))
                .with_tenant("a")
                .with_time(base_time() + Duration::seconds(i))
        })
        .collect();
    let b: Vec<_> = (0..5)
        .map(|i| {
            ActivityEvent::login_failed(Actor::user("shared_name"))
                .with_tenant("b")
                .with_time(base_time() + Duration::seconds(i) + Duration::milliseconds(500))
        })
        .collect();
    store.append(&a).await.unwrap();
    store.append(&b).await.unwrap();
    let got = all_pages(store, &ActivityQuery::tenant_log("a").limit(2)).await;
    assert!(
        got.iter().all(|e| e.tenant.as_deref() == Some("a")),
        "tenant_isolation: log leaks"
    );
    assert_eq!(got.len(), 5);
    let own = all_pages(store, &ActivityQuery::own(Some("b"), "shared_name")).await;
    assert!(
        own.iter().all(|e| e.tenant.as_deref() == Some("b")),
        "tenant_isolation: own leaks"
    );
    // A cursor taken from tenant b's events does not open tenant a's to a b query.
    let forged = crate::Cursor::after_event(&a[4]);
    let page = store
        .query(&ActivityQuery::tenant_log("b").after(forged))
        .await
        .unwrap();
    assert!(
        page.events.iter().all(|e| e.tenant.as_deref() == Some("b")),
        "tenant_isolation: cursor leaks"
    );
    assert_eq!(
        store.count(&ActivityQuery::tenant_log("a")).await.unwrap(),
        5
    );
}

/// Case: deletion removes only the tenant's events older than the cut-off, oldest first,
/// at most `limit` at a time.
pub async fn deletion(store: &dyn ActivityStore) {
    let mk = |tenant: Option<&str>, secs: i64| {
        let e = ActivityEvent::logout(Actor::user("d"))
            .with_time(base_time() + Duration::seconds(secs));
        match tenant {
            Some(t) => e.with_tenant(t),
            None => e,
        }
    };
    let mut events = Vec::new();
    for s in 0..10 {
        events.push(mk(Some("a"), s));
        events.push(mk(Some("b"), s));
        events.push(mk(None, s));
    }
    store.append(&events).await.unwrap();
    let cutoff = base_time() + Duration::seconds(5);
    let n = store
        .delete(&DeleteRequest::new(Some("a"), cutoff, 3))
        .await
        .unwrap();
    assert_eq!(n, 3, "deletion: bounded by limit");
    let left_a = all_pages(store, &ActivityQuery::tenant_log("a")).await;
    let oldest_left = left_a.iter().map(|e| e.time).min().unwrap();
    assert_eq!(
        oldest_left,
        base_time() + Duration::seconds(3),
        "deletion: oldest first"
    );
    let n = store
        .delete(&DeleteRequest::new(Some("a"), cutoff, 100))
        .await
        .unwrap();
    assert_eq!(n, 2, "deletion: only events strictly before the cut-off");
    assert_eq!(
        store
            .delete(&DeleteRequest::new(Some("a"), cutoff, 100))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.count(&ActivityQuery::tenant_log("a")).await.unwrap(),
        5
    );
    assert_eq!(
        store.count(&ActivityQuery::tenant_log("b")).await.unwrap(),
        10,
        "deletion: other tenants untouched"
    );
    let n = store
        .delete(&DeleteRequest::new(None, cutoff, 100))
        .await
        .unwrap();
    assert_eq!(
        n, 5,
        "deletion: tenant None means the events without a tenant"
    );
    assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 20);
}

/// Case: `tenants` lists each tenant value once, `None` included.
pub async fn tenants(store: &dyn ActivityStore) {
    assert!(
        store.tenants().await.unwrap().is_empty(),
        "tenants: empty store"
    );
    let events = vec![
        ActivityEvent::logout(Actor::user("x")).with_tenant("b"),
        ActivityEvent::logout(Actor::user("x")).with_tenant("a"),
        ActivityEvent::logout(Actor::user("x")).with_tenant("a"),
        ActivityEvent::logout(Actor::user("x")),
    ];
    store.append(&events).await.unwrap();
    let mut got = store.tenants().await.unwrap();
    got.sort();
    assert_eq!(
        got,
        vec![None, Some("a".to_string()), Some("b".to_string())]
    );
}

/// Case: malformed queries are refused with [`Error::Invalid`], never run.
pub async fn invalid_queries(store: &dyn ActivityStore) {
    for q in [
        ActivityQuery::new().action("Auth"),
        ActivityQuery::new().action("auth.%"),
        ActivityQuery::new().action(""),
        ActivityQuery::new()
            .since(base_time())
            .until(base_time() - Duration::seconds(1)),
    ] {
        let err = store
            .query(&q)
            .await
            .expect_err("invalid_queries: query must fail");
        assert!(
            matches!(err, Error::Invalid { .. }),
            "invalid_queries: {err:?}"
        );
        let err = store
            .count(&q)
            .await
            .expect_err("invalid_queries: count must fail");
        assert!(
            matches!(err, Error::Invalid { .. }),
            "invalid_queries: {err:?}"
        );
    }
}

/// Case: [`ActivityStore::query_many`] returns, for each query in order, the page
/// [`ActivityStore::query`] returns — filters, cursors, limits and empty results alike,
/// the same query twice, more queries than fit in one statement, and none at all; one
/// invalid query fails the call.
pub async fn query_many(store: &dyn ActivityStore) {
    let data = dataset();
    store.append(&data).await.unwrap();
    let t = |s: i64| base_time() + Duration::seconds(s);
    let mut queries = vec![
        ActivityQuery::new().limit(7),
        ActivityQuery::own(Some("acme"), "alice").action("auth"),
        ActivityQuery::new().actor("nobody"),
        ActivityQuery::new()
            .action("auth.login.failed")
            .since(t(3))
            .until(t(30)),
        ActivityQuery::new()
            .ip("81.2.69.142".parse().unwrap())
            .limit(3),
        ActivityQuery::new().limit(7),
        ActivityQuery::new()
            .session("hmac-sha256:s3")
            .after(crate::Cursor::after_event(&data[40])),
        ActivityQuery::new().ids([data[0].id, data[33].id, Uuid::now_v7()]),
    ];
    for i in 0..150 {
        queries.push(
            ActivityQuery::new()
                .actor(["alice", "bob", "carol"][i % 3])
                .limit(1 + i % 4),
        );
    }
    let pages = store.query_many(&queries).await.expect("query_many");
    assert_eq!(pages.len(), queries.len(), "query_many: one page per query");
    for (i, (q, page)) in queries.iter().zip(&pages).enumerate() {
        let one = store.query(q).await.expect("query");
        assert_eq!(
            ids(&page.events),
            ids(&one.events),
            "query_many: query {i}: events"
        );
        assert_eq!(page.next, one.next, "query_many: query {i}: next cursor");
    }
    assert!(store.query_many(&[]).await.expect("no queries").is_empty());
    queries.insert(2, ActivityQuery::new().action("auth.%"));
    let err = store
        .query_many(&queries)
        .await
        .expect_err("query_many: an invalid query must fail the call");
    assert!(matches!(err, Error::Invalid { .. }), "query_many: {err:?}");
}

fn sorted_heads(mut heads: Vec<ChainHead>) -> Vec<ChainHead> {
    heads.sort_by(|a, b| (&a.tenant, &a.writer).cmp(&(&b.tenant, &b.writer)));
    heads
}

/// Case: [`ActivityStore::append_sealed`] stores a batch and its chain heads together
/// (all or nothing), a head only moves forward, heads round-trip exactly and are listed
/// by tenant (no tenant and a tenant named `-` kept apart).
pub async fn chain_heads(store: &dyn ActivityStore) {
    let key = ChainKey::keyed(b"the conformance kit's chain key").expect("key");
    let mut sealer = ChainSealer::new("conformance", key.clone());
    let tenants = [Some("a"), None, Some("-")];
    let mk = |i: usize| {
        let e = ActivityEvent::logout(Actor::user(format!("h{i}")))
            .with_time(base_time() + Duration::microseconds(i as i64 * 1_000_001));
        match tenants[i % 3] {
            Some(t) => e.with_tenant(t),
            None => e,
        }
    };
    let mut first: Vec<ActivityEvent> = (0..6).map(mk).collect();
    sealer.seal_all(&mut first);
    let heads = sealer.heads_of(&first);
    assert_eq!(heads.len(), 3, "chain_heads: one head per tenant's chain");
    assert!(store.chain_heads(None).await.unwrap().is_empty());
    assert_eq!(
        store
            .append_sealed(&first, &heads)
            .await
            .expect("append_sealed"),
        6,
        "chain_heads: append_sealed reports the new events"
    );
    assert_eq!(
        sorted_heads(store.chain_heads(None).await.unwrap()),
        sorted_heads(heads.clone()),
        "chain_heads: heads come back exactly as written"
    );
    assert_eq!(
        store.chain_heads(Some("a")).await.unwrap(),
        vec![heads
            .iter()
            .find(|h| h.tenant.as_deref() == Some("a"))
            .unwrap()
            .clone()],
        "chain_heads: listed by tenant"
    );
    assert_eq!(
        store.chain_heads(Some("-")).await.unwrap().len(),
        1,
        "chain_heads: a tenant named `-` is not the events without a tenant"
    );
    // A retried older part never moves a head back.
    let older = sealer.heads_of(&first[..3]);
    assert_eq!(store.append_sealed(&first[..3], &older).await.unwrap(), 0);
    assert_eq!(
        sorted_heads(store.chain_heads(None).await.unwrap()),
        sorted_heads(heads.clone()),
        "chain_heads: a head only moves forward"
    );
    // The next batch moves them on.
    let mut second: Vec<ActivityEvent> = (6..9).map(mk).collect();
    sealer.seal_all(&mut second);
    let next = sealer.heads_of(&second);
    assert_eq!(store.append_sealed(&second, &next).await.unwrap(), 3);
    assert_eq!(
        sorted_heads(store.chain_heads(None).await.unwrap()),
        sorted_heads(next.clone()),
        "chain_heads: a later head replaces the stored one"
    );
    // All or nothing: an invalid event, or an invalid head, stores neither.
    let mut third: Vec<ActivityEvent> = (9..12).map(mk).collect();
    third[1].reason = Some("x".repeat(crate::limits::REASON + 1));
    sealer.seal_all(&mut third);
    let err = store
        .append_sealed(&third, &sealer.heads_of(&third))
        .await
        .expect_err("chain_heads: an invalid event fails the batch");
    assert!(matches!(err, Error::Invalid { .. }), "chain_heads: {err:?}");
    third[1].reason = None;
    let mut bad_heads = sealer.heads_of(&third);
    bad_heads[0].mac = "not hex".into();
    let err = store
        .append_sealed(&third, &bad_heads)
        .await
        .expect_err("chain_heads: an invalid head fails the batch");
    assert!(matches!(err, Error::Invalid { .. }), "chain_heads: {err:?}");
    assert_eq!(
        store.count(&ActivityQuery::new()).await.unwrap(),
        9,
        "chain_heads: nothing of a failed batch is stored"
    );
    assert_eq!(
        sorted_heads(store.chain_heads(None).await.unwrap()),
        sorted_heads(next),
        "chain_heads: no head of a failed batch is stored"
    );
}
