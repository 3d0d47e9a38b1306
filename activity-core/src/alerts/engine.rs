//! The engine: the recorder stage that runs the rules after each committed batch, stores
//! what they raise and hands it to the sinks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::evaluation::evaluable;
use super::{
    Alert, AlertRule, AlertSink, ConcurrentSessions, Evaluation, FailedLogins, GeoAnomaly,
    NewDevice,
};
use crate::{recorder::AfterCommit, ActivityEvent, ActivityStore, Recorder, Result};

/// Runs rules after each committed batch and delivers what they raise.
///
/// Added to a recorder with [`after_commit`](crate::RecorderBuilder::after_commit); when
/// that recorder starts, the engine starts the task that delivers its alerts to its sinks
/// (so a sink cannot be silently left undelivered). [`evaluate`](Self::evaluate) judges a
/// batch directly, without delivering.
///
/// ```
/// use activity_core::alerts::AlertEngine;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
/// let failures: Vec<_> = (0..5)
///     .map(|i| ActivityEvent::login_failed(Actor::user("bob")).with_time(t0 + Duration::minutes(i)))
///     .collect();
/// let store = MemoryStore::new();
/// store.append(&failures).await?;
/// let engine = AlertEngine::with_defaults();
/// let alerts = engine.evaluate(&store, &failures).await?;
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].rule, "failed_logins");
/// assert_eq!(alerts[0].trigger, failures[4].id);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
pub struct AlertEngine {
    rules: Vec<Arc<dyn AlertRule>>,
    sinks: Vec<Arc<dyn AlertSink>>,
    capacity: usize,
    queue: OnceLock<mpsc::Sender<Alert>>,
    undelivered: Arc<AtomicU64>,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine")
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|r| r.id().to_owned())
                    .collect::<Vec<_>>(),
            )
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl Default for AlertEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl AlertEngine {
    /// An engine with no rules.
    pub fn new() -> Self {
        Self {
            rules: Vec::new(),
            sinks: Vec::new(),
            capacity: Self::DEFAULT_QUEUE_CAPACITY,
            queue: OnceLock::new(),
            undelivered: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The built-in rules with the product's defaults: `failed_logins`,
    /// `failed_logins_ip`, `new_device`, `geo_anomaly`, `concurrent_sessions`.
    pub fn with_defaults() -> Self {
        Self::new()
            .rule(FailedLogins::default())
            .rule(FailedLogins::per_ip())
            .rule(NewDevice::default())
            .rule(GeoAnomaly::default())
            .rule(ConcurrentSessions::default())
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: impl AlertRule) -> Self {
        self.rules.push(Arc::new(rule));
        self
    }

    /// Adds a sink.
    pub fn sink(mut self, sink: impl AlertSink) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// The delivery queue's capacity when none is set.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

    /// The most alerts waiting for the sinks (default
    /// [`DEFAULT_QUEUE_CAPACITY`](Self::DEFAULT_QUEUE_CAPACITY), at least 1); alerts that
    /// find the queue full are counted in [`undelivered`](Self::undelivered) (they are
    /// stored all the same).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Alerts not handed to the sinks because their queue was full.
    pub fn undelivered(&self) -> u64 {
        self.undelivered.load(Ordering::Relaxed)
    }

    /// Evaluates every rule on `events` and returns the alerts (without delivering).
    ///
    /// # Errors
    /// The first rule error.
    pub async fn evaluate(
        &self,
        store: &dyn ActivityStore,
        events: &[ActivityEvent],
    ) -> Result<Vec<Alert>> {
        let evaluation = Evaluation::new(store, events);
        let rules: Vec<&dyn AlertRule> = self.rules.iter().map(|r| &**r).collect();
        evaluation.prefetch(&rules).await?;
        let mut out = Vec::new();
        for e in events.iter().filter(|e| evaluable(e)) {
            for r in &self.rules {
                out.extend(r.evaluate_in(&evaluation, e).await?);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl AfterCommit for AlertEngine {
    async fn after_commit(
        &self,
        store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent> {
        let alerts = match self.evaluate(store, committed).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "alert rules could not read history; batch not evaluated");
                return Vec::new();
            }
        };
        let mut events = Vec::with_capacity(alerts.len());
        for a in alerts {
            events.push(a.to_event());
            if let Some(q) = self.queue.get() {
                if q.try_send(a).is_err() {
                    self.undelivered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        events
    }

    /// Starts the task that delivers alerts to the sinks, on the recorder's runtime.
    fn on_start(&self, _recorder: &Recorder) {
        if self.sinks.is_empty() || self.queue.get().is_some() {
            return;
        }
        let (tx, mut rx) = mpsc::channel::<Alert>(self.capacity);
        if self.queue.set(tx).is_err() {
            return;
        }
        let sinks = self.sinks.clone();
        tokio::spawn(async move {
            while let Some(a) = rx.recv().await {
                for s in &sinks {
                    s.deliver(&a).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::fixtures::{below, fail, t0};
    use crate::alerts::{AccountNotifier, ChannelSink, TracingSink};
    use crate::{ActivityQuery, Actor, MemoryStore, Source};
    use chrono::Duration;

    /// Read ahead for the whole batch in one store call, the built-in rules raise exactly
    /// what each raises judging one event at a time with its own reads.
    #[tokio::test]
    async fn one_prefetch_per_batch_raises_what_reads_per_event_raise() {
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let engine = AlertEngine::with_defaults();
        let rules: Vec<&dyn AlertRule> = engine.rules.iter().map(|r| &**r).collect();
        let mut raised = 0;
        for round in 0..60 {
            let store = MemoryStore::new();
            let mut all = Vec::new();
            let mut batch = Vec::new();
            for _ in 0..(10 + next(50)) {
                let account = ["ann", "bob", "cy"][next(3) as usize];
                let at = t0() + Duration::minutes(next(90) as i64);
                let ip = ["81.2.69.142", "175.16.199.1", "2.125.160.216"][next(3) as usize];
                let source = Source::ip(ip.parse().unwrap())
                    .with_device_id(["d1", "d2", "d3"][next(3) as usize]);
                let mut e = match next(6) {
                    0..=2 => ActivityEvent::login_failed(Actor::user(account))
                        .with_reason("bad_password"),
                    3 => ActivityEvent::session_created(Actor::user(account))
                        .with_session(format!("s{}", next(4))),
                    4 => ActivityEvent::session_terminated(Actor::user(account))
                        .with_session(format!("s{}", next(4))),
                    _ => ActivityEvent::login_succeeded(Actor::user(account)),
                }
                .with_time(at)
                .with_source(source);
                if next(8) == 0 {
                    e = e.with_tenant("acme");
                }
                if next(2) == 0 {
                    batch.push(e.clone());
                }
                all.push(e);
            }
            store.append(&all).await.unwrap();
            let ev = Evaluation::new(&store, &batch);
            ev.prefetch(&rules).await.unwrap();
            let mut shared = Vec::new();
            for e in &batch {
                for r in &rules {
                    shared.extend(r.evaluate_in(&ev, e).await.unwrap());
                }
            }
            assert!(
                ev.history_reads() <= 1,
                "round {round}: {} reads",
                ev.history_reads()
            );
            let mut alone = Vec::new();
            for e in &batch {
                for r in &rules {
                    alone.extend(r.evaluate(&store, e).await.unwrap());
                }
            }
            let key = |a: &Alert| {
                (
                    a.rule.clone(),
                    a.trigger,
                    a.evidence.clone(),
                    a.message.clone(),
                )
            };
            let (mut shared, mut alone): (Vec<_>, Vec<_>) = (
                shared.iter().map(key).collect(),
                alone.iter().map(key).collect(),
            );
            shared.sort();
            alone.sort();
            assert_eq!(shared, alone, "round {round}");
            raised += alone.len();
        }
        assert!(
            raised > 20,
            "the batches raise alerts of their own: {raised}"
        );
    }

    #[tokio::test]
    async fn the_engine_stores_alerts_once_and_delivers_them() {
        let store = Arc::new(MemoryStore::new());
        let (tx, mut rx) = mpsc::channel(16);
        let notified = Arc::new(std::sync::Mutex::new(Vec::new()));
        let n2 = notified.clone();
        let engine = AlertEngine::with_defaults()
            .sink(ChannelSink(tx))
            .sink(TracingSink)
            .sink(
                AccountNotifier::new(move |acc: &str, _a: &Alert| {
                    n2.lock().unwrap().push(acc.to_owned())
                })
                .rules(&["failed_logins"]),
            )
            .queue_capacity(64);
        let (rec, guard) = crate::Recorder::builder(store.clone())
            .after_commit(engine)
            .lifecycle_events(false)
            .start();
        for i in 0..5 {
            rec.record(fail("bob", t0() + Duration::minutes(i), "1.1.1.1"))
                .unwrap();
        }
        rec.flush().await.unwrap();
        // Registering the engine is all it takes: the recorder's start starts delivery.
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("the sinks are served without a separate start")
            .unwrap();
        assert_eq!(got.rule, "failed_logins");
        // The sinks run in order on their task: after the channel, the notifier.
        for _ in 0..100 {
            if !notified.lock().unwrap().is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(*notified.lock().unwrap(), vec!["bob".to_string()]);
        let stored = store
            .query(&ActivityQuery::new().action("alert.raised"))
            .await
            .unwrap()
            .events;
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].target.as_ref().unwrap().id.as_deref(),
            Some("bob")
        );
        // The same alert evaluated again (a retry, another instance) is not stored twice.
        let again = got.to_event();
        assert_eq!(store.append(&[again]).await.unwrap(), 0);
        guard.shutdown().await;
    }
}
