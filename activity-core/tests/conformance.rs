//! The reference store passes the conformance kit.
use std::sync::Arc;

use activity_core::{ActivityStore, MemoryStore};

#[tokio::test]
async fn memory_store_passes_the_conformance_kit() {
    activity_core::testing::run_conformance(|| async {
        Arc::new(MemoryStore::new()) as Arc<dyn ActivityStore>
    })
    .await;
}

#[tokio::test]
async fn memory_store_is_correct_under_concurrent_appends_and_reads() {
    use activity_core::{ActivityEvent, ActivityQuery, Actor};
    let store = Arc::new(MemoryStore::new());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let e = ActivityEvent::login_succeeded(Actor::user(format!("u_{t}_{i}")));
                store.append(&[e.clone(), e]).await.unwrap();
                store.count(&ActivityQuery::new()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 800);
}
