//! The background writer: batches, pipeline, retries, lifecycle events.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::FutureExt;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::config::OutageNotice;
use super::metrics::Counters;
use super::{Msg, Shared};
use crate::error::{Error, Result as CoreResult};
use crate::event::payload::{Failed, Payload, Recovered, Started, Stopped};
use crate::event::{Action, ActivityEvent, Outcome};
use crate::recorder::{AfterCommit, Enricher, Sealer};
use crate::spool::Spool;
use crate::store::ActivityStore;

pub(crate) struct Worker {
    pub rx: mpsc::Receiver<Msg>,
    pub store: Arc<dyn ActivityStore>,
    pub shared: Arc<Shared>,
    pub enrichers: Vec<Arc<dyn Enricher>>,
    pub sealer: Option<Box<dyn Sealer>>,
    pub after_commit: Vec<Arc<dyn AfterCommit>>,
    /// Where batches go while the store is down ([`crate::spool`]).
    pub spool: Option<Arc<dyn Spool>>,
}

/// The store kept failing past the shutdown deadline.
pub(super) struct GaveUp;

pub(super) enum AppendError {
    GaveUp,
    Rejected(Error),
    /// The store is down and a spool takes the batch (the outage is noted).
    Outage,
    /// Events of the part carrying links were stored first by another writer
    /// ([`Error::SealedDuplicate`]): nothing was committed; seal again without them.
    Duplicate(Vec<uuid::Uuid>),
}

/// What an append wrote, and what an outage left for the spool.
pub(super) struct Appended {
    /// Committed, in the batch's order.
    pub committed: Vec<ActivityEvent>,
    /// Sealed and not written (only with a spool).
    pub spill: Vec<ActivityEvent>,
}

/// What the seal stage did.
pub(super) enum Sealed {
    /// Sealed (or left unsealed for good reason): go on to append.
    Done,
    /// The store could not be asked which events are new; with a spool, the batch is
    /// spooled unsealed and sealed when it is replayed.
    Outage,
}

pub(super) struct Outage {
    pub(super) since: chrono::DateTime<chrono::Utc>,
}

/// How many times a batch is retried through a stage that panics before the stage is
/// skipped for that batch (the panic is then recorded as `audit.failed`, reason
/// `stage_panicked`): a panic on one crafted event must not stop the log for everyone.
pub(super) const PANIC_RETRIES: u32 = 3;

/// The stages of the pipeline, as [`Health::Failed`](super::Health::Failed) names them.
pub(super) mod stage {
    pub const ENRICHER: &str = "enricher";
    pub const SEALER: &str = "sealer";
    pub const STORE: &str = "store";
    pub const AFTER_COMMIT: &str = "after_commit";
    pub const SPOOL: &str = "spool";
    pub const WORKER: &str = "worker";
}

/// The text of a caught panic.
pub(super) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// Marks the recorder failed if the worker task itself unwinds (a bug outside the
/// stages, which are caught one by one): health names the worker and fail-closed engages.
struct Alive(Arc<Shared>);

impl Drop for Alive {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let c = &self.0.counters;
            {
                let mut state = c.state();
                state.failed_stage = Some(stage::WORKER);
                state.last_error = Some("the recorder's worker panicked".to_owned());
                state.outage_since.get_or_insert_with(|| self.0.clock.now());
            }
            c.outage.store(true, Ordering::Release);
            c.dead.store(true, Ordering::Release);
        }
    }
}

pub(super) struct State {
    /// Events the worker made itself (lifecycle, follow-ups), written before the queue.
    pub(super) pending: VecDeque<ActivityEvent>,
    pub(super) flushes: Vec<oneshot::Sender<()>>,
    pub(super) stopping: bool,
    pub(super) deadline: Option<Instant>,
    pub(super) outage: Option<Outage>,
    pub(super) dropped_seen: u64,
    /// Who waits for an event to be durable ([`Recorder::record_durable`](super::Recorder::record_durable)), by event id.
    pub(super) acks: HashMap<uuid::Uuid, oneshot::Sender<CoreResult<()>>>,
    /// The spool holds batches: every new batch goes behind them until it is replayed.
    pub(super) spooling: bool,
    /// When to try replaying the spool next.
    pub(super) replay_at: Option<Instant>,
    /// Failed replay attempts in a row (for the backoff).
    pub(super) replay_attempt: u32,
    /// A final replay was tried at shutdown.
    pub(super) replayed_at_stop: bool,
    /// The spool refused a batch (full, or failing) and fail-closed is engaged for it.
    pub(super) spool_refusing: bool,
    /// The front entries of the spool (their ids) as sealed by a replay that then
    /// failed: replayed as they are next time, so that the positions they took in their
    /// chains are not taken twice.
    pub(super) resealed: Option<(Vec<u64>, Vec<ActivityEvent>)>,
}

impl Worker {
    pub async fn run(mut self) -> Vec<ActivityEvent> {
        let mut st = State {
            pending: VecDeque::new(),
            flushes: Vec::new(),
            stopping: false,
            deadline: None,
            outage: None,
            dropped_seen: 0,
            acks: HashMap::new(),
            spooling: false,
            replay_at: None,
            replay_attempt: 0,
            replayed_at_stop: false,
            spool_refusing: false,
            resealed: None,
        };
        let _alive = Alive(self.shared.clone());
        self.open_spool(&mut st).await;
        if self.shared.config.lifecycle_events {
            let started = Started {
                writer: self.shared.config.writer.clone(),
                sdk_version: env!("CARGO_PKG_VERSION").to_owned(),
            }
            .write(self.lifecycle(Action::AUDIT_STARTED, Outcome::Success));
            st.pending.push_back(started);
        }
        let mut wrote_stopped = false;
        loop {
            let batch_size = self.shared.config.batch_size;
            let mut batch = Vec::with_capacity(batch_size.min(1024));
            while batch.len() < batch_size {
                match st.pending.pop_front() {
                    Some(e) => batch.push(e),
                    None => break,
                }
            }
            if st.spooling && st.replay_at.is_some_and(|at| at <= Instant::now()) {
                self.replay(&mut st).await;
            }
            if batch.is_empty() && st.flushes.is_empty() && !st.stopping {
                let next = if st.spooling {
                    let at = st.replay_at.unwrap_or_else(Instant::now);
                    tokio::time::timeout_at(at, self.rx.recv()).await.ok()
                } else {
                    Some(self.rx.recv().await)
                };
                match next {
                    Some(Some(msg)) => {
                        self.take(msg, &mut batch, &mut st);
                    }
                    Some(None) => st.stopping = true,
                    // Time to replay the spool.
                    None => continue,
                }
            }
            self.drain(&mut batch, &mut st);
            self.linger(&mut batch, &mut st).await;
            self.note_stop(&mut st);
            self.note_drops(&mut st);

            if batch.is_empty() {
                if st.pending.is_empty() && st.spooling {
                    if st.stopping {
                        if !self.rx.is_empty() {
                            continue;
                        }
                        // After audit.stopped (written by the block below) is spooled.
                        if !self.shared.config.lifecycle_events || wrote_stopped {
                            if !st.replayed_at_stop {
                                // One last try; what the store still cannot take stays
                                // in the spool for the next start.
                                st.replayed_at_stop = true;
                                self.replay_before(&mut st).await;
                                continue;
                            }
                            self.left_in_spool().await;
                            return Vec::new();
                        }
                    } else if !st.flushes.is_empty() {
                        // A flush waits for the spool to reach the store; meanwhile new
                        // events are still taken (and spooled), so that their waiters
                        // are answered.
                        if let Some(msg) = self.wait_to_replay(&mut st).await {
                            let mut more = Vec::new();
                            self.take(msg, &mut more, &mut st);
                            st.pending.extend(more);
                        }
                        continue;
                    }
                }
                if st.pending.is_empty() {
                    for f in st.flushes.drain(..) {
                        let _ = f.send(());
                    }
                    if st.stopping {
                        if !self.rx.is_empty() {
                            continue;
                        }
                        if self.shared.config.lifecycle_events && !wrote_stopped {
                            wrote_stopped = true;
                            let written = Counters::get(&self.shared.counters.written);
                            let stopped = Stopped {
                                writer: self.shared.config.writer.clone(),
                                events_written: written + 1,
                            };
                            st.pending
                                .push_back(stopped.write(
                                    self.lifecycle(Action::AUDIT_STOPPED, Outcome::Success),
                                ));
                            continue;
                        }
                        if st.spooling {
                            continue;
                        }
                        return Vec::new();
                    }
                }
                continue;
            }

            let result = self.process(batch, &mut st).await;
            #[cfg(feature = "metrics")]
            self.publish();
            match result {
                Ok(()) => {}
                Err((GaveUp, mut unwritten)) => {
                    unwritten.extend(st.pending.drain(..));
                    self.rx.close();
                    while let Ok(msg) = self.rx.try_recv() {
                        if let Msg::Event(e) | Msg::Durable(e, _) = msg {
                            unwritten.push(e);
                        }
                    }
                    // Whoever waits for these hears that they were not stored.
                    st.acks.clear();
                    tracing::error!(
                        count = unwritten.len(),
                        "activity recorder shut down with events its store would not take"
                    );
                    return unwritten;
                }
            }
        }
    }

    /// Takes one message; returns false when draining must pause (a flush is waiting).
    fn take(&mut self, msg: Msg, batch: &mut Vec<ActivityEvent>, st: &mut State) -> bool {
        match msg {
            Msg::Event(e) => {
                batch.push(e);
                true
            }
            Msg::Durable(e, ack) => {
                st.acks.insert(e.id, ack);
                batch.push(e);
                true
            }
            Msg::Flush(tx) => {
                st.flushes.push(tx);
                false
            }
            Msg::Shutdown => {
                st.stopping = true;
                self.rx.close();
                true
            }
        }
    }

    fn drain(&mut self, batch: &mut Vec<ActivityEvent>, st: &mut State) {
        if !st.flushes.is_empty() {
            return;
        }
        while batch.len() < self.shared.config.batch_size {
            match self.rx.try_recv() {
                Ok(msg) => {
                    if !self.take(msg, batch, st) {
                        return;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    st.stopping = true;
                    return;
                }
            }
        }
    }

    /// Lets a started batch fill for `linger`: one timer for the whole wait, then takes
    /// what arrived. The queue is not watched meanwhile, so producers wake nobody per
    /// event (on a busy server that wake-up, not the write, was the recorder's main cost);
    /// a flush or shutdown that arrives meanwhile waits at most `linger`. A batch someone
    /// waits on (`record_durable`, `Ack::Durable`) is written at once: its waiters cannot
    /// add to it, and what arrives while it is written makes the next batch (group
    /// commit, one batch of wait rather than a linger and a batch).
    async fn linger(&mut self, batch: &mut Vec<ActivityEvent>, st: &mut State) {
        let linger = self.shared.config.linger;
        if st.stopping
            || !st.flushes.is_empty()
            || !st.acks.is_empty()
            || batch.is_empty()
            || linger.is_zero()
            || batch.len() >= self.shared.config.batch_size
        {
            return;
        }
        tokio::time::sleep(linger).await;
        self.drain(batch, st);
    }

    pub(super) fn note_stop(&mut self, st: &mut State) {
        if !st.stopping && self.shared.counters.stopped.load(Ordering::Acquire) {
            st.stopping = true;
            self.rx.close();
        }
        if st.stopping && st.deadline.is_none() {
            st.deadline = Some(Instant::now() + self.shared.config.shutdown_timeout);
        }
    }

    fn note_drops(&mut self, st: &mut State) {
        let dropped = Counters::get(&self.shared.counters.dropped);
        if dropped > st.dropped_seen {
            let n = dropped - st.dropped_seen;
            st.dropped_seen = dropped;
            let failed = Failed {
                dropped: Some(n),
                ..Failed::default()
            };
            st.pending.push_back(
                failed.write(
                    self.lifecycle(Action::AUDIT_FAILED, Outcome::Failure)
                        .with_reason("queue_overflow"),
                ),
            );
        }
    }

    /// Publishes the counters through the `metrics` facade (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(super) fn publish(&self) {
        super::Recorder {
            shared: self.shared.clone(),
        }
        .publish_metrics();
    }

    pub(super) fn lifecycle(&self, action: Action, outcome: Outcome) -> ActivityEvent {
        ActivityEvent::audit(action, outcome).with_time(self.shared.clock.now())
    }

    /// Enrich, seal, append (isolating rejected events), run after-commit hooks. A panic
    /// in a stage keeps the batch and is retried like an outage (health names the stage);
    /// after [`PANIC_RETRIES`] the stage is skipped for that batch and the panic recorded.
    async fn process(
        &mut self,
        mut batch: Vec<ActivityEvent>,
        st: &mut State,
    ) -> Result<(), (GaveUp, Vec<ActivityEvent>)> {
        if let Err(GaveUp) = self.enrich(&mut batch, st).await {
            return Err((GaveUp, batch));
        }
        if st.spooling {
            // Behind what the spool holds, to keep the log's order.
            return self.spool_batch(false, batch, st).await;
        }
        match self.seal(&mut batch, st).await {
            Err(GaveUp) => return Err((GaveUp, batch)),
            Ok(Sealed::Outage) => return self.spool_batch(false, batch, st).await,
            Ok(Sealed::Done) => {}
        }
        let Appended { committed, spill } = self.append(batch, st).await?;
        self.acknowledge(&committed, st);
        let spilled = if spill.is_empty() {
            Ok(())
        } else {
            self.spool_batch(true, spill, st).await
        };
        self.after_commit(&committed, st).await;
        spilled
    }

    /// Tells whoever waits for these events that they are durable.
    pub(super) fn acknowledge(&self, events: &[ActivityEvent], st: &mut State) {
        if !st.acks.is_empty() {
            for e in events {
                if let Some(ack) = st.acks.remove(&e.id) {
                    let _ = ack.send(Ok(()));
                }
            }
        }
    }

    /// Runs every enricher on every event, each call caught: a panic keeps the batch and
    /// retries it like an outage; past [`PANIC_RETRIES`] the panicking calls are skipped.
    async fn enrich(&mut self, batch: &mut [ActivityEvent], st: &mut State) -> Result<(), GaveUp> {
        if self.enrichers.is_empty() {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            let tolerate = attempt >= PANIC_RETRIES;
            let mut panicked = None;
            let enrichers = self.enrichers.clone();
            'events: for e in batch.iter_mut() {
                for enricher in &enrichers {
                    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| enricher.enrich(e)));
                    if let Err(payload) = caught {
                        let text = panic_text(&*payload);
                        if tolerate {
                            self.stage_skipped(stage::ENRICHER, &text, Some(e.id), st);
                        } else {
                            panicked = Some(text);
                            break 'events;
                        }
                    }
                }
            }
            let Some(text) = panicked else {
                return Ok(());
            };
            attempt += 1;
            let err = Error::backend(format!("{} panicked: {text}", stage::ENRICHER), None);
            self.wait_to_retry_in(stage::ENRICHER, &err, attempt, batch.len(), st)
                .await?;
        }
    }

    /// Runs the after-commit stages on `committed`, each caught: a panicking stage is
    /// retried like an outage, then skipped for this batch (its follow-ups are lost, the
    /// skip is recorded).
    pub(super) async fn after_commit(&mut self, committed: &[ActivityEvent], st: &mut State) {
        for i in 0..self.after_commit.len() {
            let hook = self.after_commit[i].clone();
            let mut attempt = 0;
            loop {
                let caught = AssertUnwindSafe(hook.after_commit(&*self.store, committed))
                    .catch_unwind()
                    .await;
                match caught {
                    Ok(follow_ups) => {
                        if attempt > 0 {
                            self.recovered(committed.len(), st);
                        }
                        st.pending.extend(follow_ups);
                        break;
                    }
                    Err(payload) => {
                        let text = panic_text(&*payload);
                        attempt += 1;
                        if attempt > PANIC_RETRIES {
                            self.recovered(committed.len(), st);
                            self.stage_skipped(stage::AFTER_COMMIT, &text, None, st);
                            break;
                        }
                        let err = Error::backend(
                            format!("{} panicked: {text}", stage::AFTER_COMMIT),
                            None,
                        );
                        // At the deadline the batch is stored already: only the follow-ups
                        // of this stage are given up.
                        if self
                            .wait_to_retry_in(stage::AFTER_COMMIT, &err, attempt, 0, st)
                            .await
                            .is_err()
                        {
                            self.stage_skipped(stage::AFTER_COMMIT, &text, None, st);
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Records that `stage` panicked and was skipped (for `event`, or for the batch).
    pub(super) fn stage_skipped(
        &mut self,
        stage: &'static str,
        text: &str,
        event: Option<uuid::Uuid>,
        st: &mut State,
    ) {
        Counters::add(&self.shared.counters.panicked, 1);
        tracing::error!(stage, panic = %text, "activity recorder stage panicked; skipped for this batch");
        let failed = Failed {
            event_id: event.map(|id| id.to_string()),
            ..Failed::error(&format!("{stage} panicked: {text}"))
        };
        st.pending.push_back(
            failed
                .write(
                    self.lifecycle(Action::AUDIT_FAILED, Outcome::Failure)
                        .with_reason("stage_panicked"),
                )
                .with_detail("stage", stage),
        );
    }

    pub(super) async fn seal(
        &mut self,
        batch: &mut [ActivityEvent],
        st: &mut State,
    ) -> Result<Sealed, GaveUp> {
        let Some(mut sealer) = self.sealer.take() else {
            return Ok(Sealed::Done);
        };
        let mut attempt = 0;
        let mut panics = 0;
        let result = loop {
            let caught = AssertUnwindSafe(sealer.seal(&*self.store, batch))
                .catch_unwind()
                .await;
            let outcome = match caught {
                Ok(outcome) => outcome,
                Err(payload) => {
                    let text = panic_text(&*payload);
                    panics += 1;
                    if panics > PANIC_RETRIES {
                        self.recovered(batch.len(), st);
                        self.stage_skipped(stage::SEALER, &text, None, st);
                        break Ok(Sealed::Done);
                    }
                    attempt += 1;
                    let err = Error::backend(format!("{} panicked: {text}", stage::SEALER), None);
                    if self
                        .wait_to_retry_in(stage::SEALER, &err, attempt, batch.len(), st)
                        .await
                        .is_err()
                    {
                        break Err(GaveUp);
                    }
                    continue;
                }
            };
            match outcome {
                Ok(()) => break Ok(Sealed::Done),
                Err(err) if err.is_outage() && self.spool.is_some() => {
                    self.note_outage(stage::STORE, &err, batch.len(), st, false);
                    break Ok(Sealed::Outage);
                }
                Err(err) if err.is_outage() => {
                    attempt += 1;
                    if self
                        .wait_to_retry(&err, attempt, batch.len(), st)
                        .await
                        .is_err()
                    {
                        break Err(GaveUp);
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "sealing failed; batch stored without chain links");
                    st.pending.push_front(
                        Failed::error(&err.to_string()).write(
                            self.lifecycle(Action::AUDIT_FAILED, Outcome::Failure)
                                .with_reason("seal_failed"),
                        ),
                    );
                    break Ok(Sealed::Done);
                }
            }
        };
        self.sealer = Some(sealer);
        result
    }

    pub(super) fn recovered(&mut self, batch_len: usize, st: &mut State) {
        let Some(outage) = st.outage.take() else {
            return;
        };
        let counters = &self.shared.counters;
        counters.outage.store(false, Ordering::Release);
        {
            let mut state = counters.state();
            state.outage_since = None;
            state.failed_stage = None;
        }
        let now = self.shared.clock.now();
        let duration = now - outage.since;
        let tx = &self.shared.tx;
        let held_back = (batch_len + (tx.max_capacity() - tx.capacity()) + st.pending.len()) as u64;
        tracing::info!(
            held_back,
            ms = duration.num_milliseconds(),
            "activity store recovered"
        );
        if let Some(cb) = &self.shared.config.on_outage {
            cb(&OutageNotice::Recovered {
                since: outage.since,
                duration,
                held_back,
            });
        }
        // After the audit.failed pushed when the outage began (already at the front).
        let recovered = Recovered {
            outage_ms: duration.num_milliseconds(),
            outage_since: outage.since,
            held_back,
        }
        .write(self.lifecycle(Action::AUDIT_RECOVERED, Outcome::Success));
        let at = st
            .pending
            .iter()
            .position(|e| e.action == Action::AUDIT_FAILED)
            .map_or(0, |i| i + 1);
        st.pending.insert(at, recovered);
    }
}
