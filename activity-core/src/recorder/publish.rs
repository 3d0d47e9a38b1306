//! The recorder's counters, queue depth and health through the [`metrics`] facade
//! (feature `metrics`). The exporter (Prometheus, StatsD, ...) is the application's:
//! install one with the `metrics` crate's `set_global_recorder` and the values below
//! appear in it. The worker publishes after every batch and every retry; an
//! application may also call [`Recorder::publish_metrics`] before each scrape.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `activity_recorder_accepted_total` | counter | events accepted by `record` |
//! | `activity_recorder_written_total` | counter | events written to the store |
//! | `activity_recorder_retried_total` | counter | appends retried |
//! | `activity_recorder_dropped_total` | counter | events dropped under `Overflow::Drop` |
//! | `activity_recorder_refused_total` | counter | events refused (queue full, fail-closed, shut down) |
//! | `activity_recorder_rejected_total` | counter | events the store rejected for their content |
//! | `activity_recorder_panicked_total` | counter | stage calls skipped after panicking |
//! | `activity_recorder_spooled_total` | counter | events written to the spool |
//! | `activity_recorder_replayed_total` | counter | spooled events replayed into the store |
//! | `activity_recorder_queued` | gauge | events waiting in the queue |
//! | `activity_recorder_spool_events` | gauge | events in the spool |
//! | `activity_recorder_spool_bytes` | gauge | bytes the spool holds |
//! | `activity_recorder_health` | gauge | 0 healthy, 1 degraded, 2 a stage failed, 3 stopped, 4 spooling |
//!
//! Every value carries the label `writer` (the recorder's writer id).

use super::{Health, Recorder};

impl Recorder {
    /// Publishes the current counters, queue depth and health through the `metrics`
    /// facade (a no-op until the application installs an exporter).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::{MemoryStore, Recorder};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new())).start();
    /// recorder.publish_metrics(); // e.g. before each scrape
    /// guard.shutdown().await;
    /// # });
    /// ```
    pub fn publish_metrics(&self) {
        let m = self.metrics();
        let writer = self.writer_id().to_owned();
        let counters = [
            ("activity_recorder_accepted_total", m.accepted),
            ("activity_recorder_written_total", m.written),
            ("activity_recorder_retried_total", m.retried),
            ("activity_recorder_dropped_total", m.dropped),
            ("activity_recorder_refused_total", m.refused),
            ("activity_recorder_rejected_total", m.rejected),
            ("activity_recorder_panicked_total", m.panicked),
            ("activity_recorder_spooled_total", m.spooled),
            ("activity_recorder_replayed_total", m.replayed),
        ];
        for (name, value) in counters {
            metrics::counter!(name, "writer" => writer.clone()).absolute(value);
        }
        metrics::gauge!("activity_recorder_queued", "writer" => writer.clone())
            .set(m.queued as f64);
        metrics::gauge!("activity_recorder_spool_events", "writer" => writer.clone())
            .set(m.spool_events as f64);
        metrics::gauge!("activity_recorder_spool_bytes", "writer" => writer.clone())
            .set(m.spool_bytes as f64);
        let health = match self.health() {
            Health::Healthy => 0.0,
            Health::Degraded { .. } => 1.0,
            Health::Failed { .. } => 2.0,
            Health::Stopped => 3.0,
            Health::Spooling { .. } => 4.0,
        };
        metrics::gauge!("activity_recorder_health", "writer" => writer).set(health);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

    use crate::{ActivityEvent, Actor, MemoryStore, Recorder};

    /// An exporter that keeps the last value of each name.
    #[derive(Default)]
    struct Capture(Mutex<HashMap<String, Arc<AtomicU64>>>);

    impl Capture {
        fn cell(&self, key: &Key) -> Arc<AtomicU64> {
            self.0
                .lock()
                .unwrap()
                .entry(key.name().to_owned())
                .or_default()
                .clone()
        }
        fn get(&self, name: &str) -> u64 {
            self.0.lock().unwrap()[name].load(Ordering::SeqCst)
        }
    }

    impl metrics::Recorder for Capture {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.cell(key))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(self.cell(key))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[tokio::test]
    async fn counters_and_health_reach_the_installed_exporter() {
        let (rec, guard) = Recorder::builder(Arc::new(MemoryStore::new()))
            .lifecycle_events(false)
            .start();
        for i in 0..3 {
            rec.record(ActivityEvent::logout(Actor::user(format!("u{i}"))))
                .unwrap();
        }
        rec.flush().await.unwrap();
        let capture = Capture::default();
        metrics::with_local_recorder(&capture, || rec.publish_metrics());
        assert_eq!(capture.get("activity_recorder_accepted_total"), 3);
        assert_eq!(capture.get("activity_recorder_written_total"), 3);
        assert_eq!(f64::from_bits(capture.get("activity_recorder_queued")), 0.0);
        assert_eq!(f64::from_bits(capture.get("activity_recorder_health")), 0.0);
        guard.shutdown().await;
        metrics::with_local_recorder(&capture, || rec.publish_metrics());
        assert_eq!(f64::from_bits(capture.get("activity_recorder_health")), 3.0);
    }
}
