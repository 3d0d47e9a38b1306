use super::*;
use crate::{Actor, Error};

fn logouts(n: usize) -> Vec<ActivityEvent> {
    (0..n)
        .map(|i| ActivityEvent::logout(Actor::user(format!("u_{i}"))))
        .collect()
}

#[tokio::test]
async fn entries_come_back_in_push_order_until_removed() {
    let spool = MemorySpool::new(1 << 20);
    let a = logouts(2);
    let b = logouts(3);
    let ia = spool.push(false, &a).await.unwrap();
    let ib = spool.push(true, &b).await.unwrap();
    assert!(ib > ia, "ids increase");
    let front = spool.front().await.unwrap().unwrap();
    assert_eq!((front.id, front.sealed), (ia, false));
    assert_eq!(front.events, a);
    let status = spool.status().await.unwrap();
    assert_eq!((status.batches, status.events), (2, 5));
    assert_eq!(status.oldest, a.iter().chain(&b).map(|e| e.time).min());
    spool.remove(ia).await.unwrap();
    let front = spool.front().await.unwrap().unwrap();
    assert_eq!((front.id, front.sealed, front.events), (ib, true, b));
    spool.remove(ib).await.unwrap();
    assert!(spool.front().await.unwrap().is_none());
    let status = spool.status().await.unwrap();
    assert!(status.is_empty());
    assert_eq!(status.bytes, 0, "every byte given back");
}

#[tokio::test]
async fn a_batch_over_the_capacity_is_refused_and_takes_nothing() {
    let one = logouts(1);
    let size = memory::encoded_len(&one).unwrap();
    let spool = MemorySpool::new(size * 2);
    spool.push(false, &one).await.unwrap();
    spool.push(false, &one).await.unwrap();
    let full = spool.push(false, &one).await;
    assert!(
        matches!(full, Err(Error::SpoolFull { bytes, capacity }) if bytes == size * 2 && capacity == size * 2),
        "{full:?}"
    );
    assert!(full.unwrap_err().is_retryable());
    assert_eq!(spool.status().await.unwrap().batches, 2);
    let front = spool.front().await.unwrap().unwrap();
    spool.remove(front.id).await.unwrap();
    spool
        .push(false, &one)
        .await
        .expect("room again once replayed");
}
