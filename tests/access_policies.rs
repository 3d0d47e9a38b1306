//! Access policies kept in each real store: versioned, shared by two instances, refusing
//! a stale writer, and refusing to start on a policy row that does not parse.

use std::sync::Arc;

use activity_core::access::{
    AccessControl, AccessPolicy, AccessPolicyStore, AccessRequest, AccessRule, NetworkRule, Reason,
};
use activity_core::{ActivityQuery, ActivityStore, Actor, ErrorKind, Recorder};

type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

fn office() -> AccessPolicy {
    let net = NetworkRule {
        allow: vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        deny: vec![],
    };
    AccessPolicy::new(vec![AccessRule::network("office", net).exempting(&["root"])]).unwrap()
}

fn from(ip: &str) -> AccessRequest<'_> {
    AccessRequest {
        tenant: Some("acme"),
        account: Some("alice"),
        roles: &[],
        ip: Some(ip.parse().unwrap()),
        country: None,
        at: chrono::Utc::now(),
    }
}

/// The whole behaviour on one store: `open` gives a fresh handle on the same tables (a
/// second instance); `corrupt` runs SQL as an attacker or a bad migration would.
async fn conformance(
    log: Arc<dyn ActivityStore>,
    open: impl Fn() -> Fut<Arc<dyn AccessPolicyStore>>,
    corrupt: impl FnOnce() -> Fut<()>,
) {
    let (recorder, guard) = Recorder::builder(log.clone()).start();
    let a = AccessControl::load(open().await)
        .await
        .unwrap()
        .recorder(recorder.clone());
    let b = AccessControl::load(open().await)
        .await
        .unwrap()
        .recorder(recorder.clone());
    assert_eq!(a.policies().version, 0);
    assert!(a.decide(&from("192.0.2.1")).allowed());

    // A change that could not be recorded is not made.
    let unrecorded = AccessControl::load(open().await).await.unwrap();
    let err = unrecorded
        .set(Some("acme"), Some(office()), Actor::user("admin_1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");

    a.set(Some("acme"), Some(office()), Actor::user("admin_1"))
        .await
        .unwrap();
    assert_eq!(
        a.decide(&from("192.0.2.1")).denied.unwrap().reason,
        Reason::IpDenied
    );
    assert!(a.decide(&from("10.1.2.3")).allowed());
    assert!(a.decide(&from("2001:db8::7")).allowed());
    // The other instance sees it at its next refresh, and not before.
    assert!(b.decide(&from("192.0.2.1")).allowed());
    assert!(b.refresh().await.unwrap());
    assert!(!b.decide(&from("192.0.2.1")).allowed());
    assert!(!b.refresh().await.unwrap(), "nothing changed since");

    // A writer on a stale version is refused, not merged blindly.
    let stale = open().await;
    let err = stale.put(None, Some(&office()), 0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    // Through the other instance: a global policy, then the tenant's removed.
    b.set(None, Some(office()), Actor::user("admin_2"))
        .await
        .unwrap();
    b.set(Some("acme"), None, Actor::user("admin_2"))
        .await
        .unwrap();
    a.refresh().await.unwrap();
    let set = a.policies();
    assert_eq!(set.version, 3);
    assert!(set.global.is_some() && set.tenants.is_empty());
    let anyone = AccessRequest {
        tenant: Some("other"),
        ..from("192.0.2.1")
    };
    assert!(
        !a.decide(&anyone).allowed(),
        "the global policy applies to every tenant"
    );

    // Every change is in the log with the old and the new policy.
    recorder.flush().await.unwrap();
    let mut changes = log
        .query(&ActivityQuery::new().action("admin.config.changed"))
        .await
        .unwrap()
        .events;
    changes.sort_by_key(|e| e.details.as_ref().unwrap()["version"].as_u64());
    assert_eq!(changes.len(), 3);
    let d = |i: usize| changes[i].details.clone().unwrap();
    assert_eq!(d(0)["setting"], "access_policy");
    assert_eq!(d(0)["old"], serde_json::Value::Null);
    assert_eq!(d(0)["new"]["rules"][0]["id"], "office");
    assert_eq!(changes[0].tenant.as_deref(), Some("acme"));
    assert_eq!(changes[0].actor_id(), Some("admin_1"));
    assert_eq!(changes[1].tenant, None);
    assert_eq!(d(2)["old"]["rules"][0]["id"], "office");
    assert_eq!(d(2)["new"], serde_json::Value::Null);
    assert_eq!(changes[2].actor_id(), Some("admin_2"));

    // A row that does not parse stops an instance from starting: never "allow all".
    corrupt().await;
    let err = AccessControl::load(open().await).await.unwrap_err();
    assert!(err.to_string().contains("does not parse"), "{err}");
    assert!(a.refresh().await.is_err());
    assert!(
        !a.decide(&from("192.0.2.1")).allowed(),
        "a failed refresh keeps the policies in force"
    );
    guard.shutdown().await;
}

#[tokio::test]
async fn sqlite_keeps_versioned_policies() {
    let dir = std::env::temp_dir().join(activity_tests::unique("access-"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/log.db", dir.display());
    let store = activity_sqlx::SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let open = {
        let url = url.clone();
        move || -> Fut<Arc<dyn AccessPolicyStore>> {
            let url = url.clone();
            Box::pin(async move {
                let s = activity_sqlx::SqliteStore::connect(&url).await.unwrap();
                s.access_policies().await.unwrap()
            })
        }
    };
    let corrupt = {
        let url = url.clone();
        move || -> Fut<()> {
            Box::pin(async move {
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                sqlx::query("UPDATE activity_access_policies SET policy = '{\"rules\": 5}'")
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query("UPDATE activity_access_version SET version = version + 1")
                    .execute(&pool)
                    .await
                    .unwrap();
            })
        }
    };
    conformance(Arc::new(store), open, corrupt).await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn postgres_keeps_versioned_policies() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = activity_sqlx::PgStore::from_pool(schema.pool.clone());
    store.migrate().await.unwrap();
    let pool = schema.pool.clone();
    let open = move || -> Fut<Arc<dyn AccessPolicyStore>> {
        let pool = pool.clone();
        Box::pin(async move {
            activity_sqlx::PgStore::from_pool(pool)
                .access_policies()
                .await
                .unwrap()
        })
    };
    let pool = schema.pool.clone();
    let corrupt = move || -> Fut<()> {
        Box::pin(async move {
            for sql in [
                "UPDATE activity_access_policies SET policy = 'not json'",
                "UPDATE activity_access_version SET version = version + 1",
            ] {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
        })
    };
    conformance(Arc::new(store), open, corrupt).await;
    schema.drop().await;
}

#[tokio::test]
async fn mariadb_keeps_versioned_policies() {
    let Some(db) = activity_tests::my::database().await else {
        return;
    };
    let store = activity_sqlx::MySqlStore::from_pool(db.pool.clone());
    store.migrate().await.unwrap();
    let pool = db.pool.clone();
    let open = move || -> Fut<Arc<dyn AccessPolicyStore>> {
        let pool = pool.clone();
        Box::pin(async move {
            activity_sqlx::MySqlStore::from_pool(pool)
                .access_policies()
                .await
                .unwrap()
        })
    };
    let pool = db.pool.clone();
    let corrupt = move || -> Fut<()> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE activity_access_policies SET policy = '{\"rules\": [{\"id\": \"x\"}]}'",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query("UPDATE activity_access_version SET version = version + 1")
                .execute(&pool)
                .await
                .unwrap();
        })
    };
    conformance(Arc::new(store), open, corrupt).await;
    db.drop().await;
}
