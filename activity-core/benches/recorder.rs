//! Recorder benchmarks: `cargo bench -p activity-core --bench recorder`.
//!
//! 1. `record()` cost per call from 8 concurrent tasks (each call timed on its own;
//!    median and p99 over every call), with a baseline of the same loop pushing into a
//!    bare tokio mpsc channel in the same run.
//! 2. Sustained throughput: 1,000,000 events recorded from 8 tasks into `MemoryStore`,
//!    timed from the first `record` until `flush` returns (every event stored).
//!
//! A bench binary rather than criterion: criterion times closures on one thread, and the
//! quantity here is the per-call latency seen by several tasks at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::{
    recorder::Overflow, ActivityEvent, ActivityStore, Actor, MemoryStore, Recorder, Source,
};

const TASKS: usize = 8;

fn event(i: usize) -> ActivityEvent {
    ActivityEvent::login_succeeded(Actor::user(format!("u_{}", i % 1000)))
        .with_source(Source::ip("81.2.69.142".parse().unwrap()).with_user_agent("bench/1.0"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

async fn per_call(per_task: usize) -> (Duration, Duration) {
    let store: Arc<dyn ActivityStore> = Arc::new(MemoryStore::new());
    let (recorder, guard) = Recorder::builder(store)
        .capacity(TASKS * per_task + 16)
        .start();
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let recorder = recorder.clone();
        handles.push(tokio::spawn(async move {
            let events: Vec<_> = (0..per_task).map(|i| event(t * per_task + i)).collect();
            let mut times = Vec::with_capacity(per_task);
            for e in events {
                let start = Instant::now();
                recorder.record(e).expect("record");
                times.push(start.elapsed());
                if times.len() % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            times
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    recorder.flush().await.unwrap();
    guard.shutdown().await;
    all.sort();
    (percentile(&all, 0.5), percentile(&all, 0.99))
}

async fn baseline_channel(per_task: usize) -> (Duration, Duration) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ActivityEvent>(TASKS * per_task + 16);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let events: Vec<_> = (0..per_task).map(|i| event(t * per_task + i)).collect();
            let mut times = Vec::with_capacity(per_task);
            for e in events {
                let start = Instant::now();
                tx.try_send(e).expect("send");
                times.push(start.elapsed());
                if times.len() % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            times
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    drop(tx);
    drain.await.unwrap();
    all.sort();
    (percentile(&all, 0.5), percentile(&all, 0.99))
}

async fn throughput(total: usize) -> f64 {
    let store: Arc<dyn ActivityStore> = Arc::new(MemoryStore::new());
    let (recorder, guard) = Recorder::builder(store)
        .capacity(65_536)
        .batch_size(4096)
        .overflow(Overflow::Wait(Duration::from_secs(5)))
        .lifecycle_events(false)
        .start();
    let per_task = total / TASKS;
    let batches: Vec<Vec<ActivityEvent>> = (0..TASKS)
        .map(|t| (0..per_task).map(|i| event(t * per_task + i)).collect())
        .collect();
    let start = Instant::now();
    let mut handles = Vec::new();
    for events in batches {
        let recorder = recorder.clone();
        handles.push(tokio::spawn(async move {
            for e in events {
                recorder.record_async(e).await.expect("record");
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    recorder.flush().await.unwrap();
    let elapsed = start.elapsed();
    let report = guard.shutdown().await;
    assert_eq!(report.metrics.written as usize, per_task * TASKS);
    (per_task * TASKS) as f64 / elapsed.as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let per_task = if quick { 1_000 } else { 50_000 };
    let total = if quick { 10_000 } else { 1_000_000 };
    rt.block_on(async {
        let (b50, b99) = baseline_channel(per_task).await;
        let (r50, r99) = per_call(per_task).await;
        println!(
            "record() from {TASKS} tasks, {} calls: median {:?}, p99 {:?}  (bare mpsc try_send: median {:?}, p99 {:?})",
            TASKS * per_task, r50, r99, b50, b99
        );
        let rate = throughput(total).await;
        println!("sustained: {total} events into MemoryStore at {:.0} events/s", rate);
    });
}
