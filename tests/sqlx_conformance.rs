//! The core's conformance kit against the SQL stores on real databases.

use std::sync::Arc;

use activity_core::ActivityStore;
use activity_sqlx::SqliteStore;

#[tokio::test]
async fn sqlite_passes_the_conformance_kit() {
    activity_core::testing::run_conformance(|| async {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        Arc::new(store) as Arc<dyn ActivityStore>
    })
    .await;
}

#[tokio::test]
async fn sqlite_file_passes_the_conformance_kit() {
    let dir = std::env::temp_dir().join(format!("activity-conf-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut n = 0;
    activity_core::testing::run_conformance(|| {
        n += 1;
        let url = format!("sqlite://{}/db{n}.sqlite", dir.display());
        async move {
            let store = SqliteStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            Arc::new(store) as Arc<dyn ActivityStore>
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn postgres_passes_the_conformance_kit() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let pool = schema.pool.clone();
    activity_core::testing::run_conformance(|| {
        let pool = pool.clone();
        async move {
            let store = activity_sqlx::PgStore::from_pool(pool)
                .prefix(&activity_tests::unique("c")[..20])
                .unwrap();
            store.migrate().await.unwrap();
            Arc::new(store) as Arc<dyn ActivityStore>
        }
    })
    .await;
    schema.drop().await;
}

/// The same kit with `COPY` turned off: the `UNNEST` insert, which COPY falls back to.
#[tokio::test]
async fn postgres_without_copy_passes_the_conformance_kit() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let pool = schema.pool.clone();
    activity_core::testing::run_conformance(|| {
        let pool = pool.clone();
        async move {
            let store = activity_sqlx::PgStore::from_pool(pool)
                .prefix(&activity_tests::unique("u")[..20])
                .unwrap()
                .copy(false);
            store.migrate().await.unwrap();
            Arc::new(store) as Arc<dyn ActivityStore>
        }
    })
    .await;
    schema.drop().await;
}

#[tokio::test]
async fn mariadb_passes_the_conformance_kit() {
    let Some(db) = activity_tests::my::database().await else {
        return;
    };
    let pool = db.pool.clone();
    activity_core::testing::run_conformance(|| {
        let pool = pool.clone();
        async move {
            let store = activity_sqlx::MySqlStore::from_pool(pool)
                .prefix(&activity_tests::unique("c")[..20])
                .unwrap();
            store.migrate().await.unwrap();
            Arc::new(store) as Arc<dyn ActivityStore>
        }
    })
    .await;
    db.drop().await;
}
