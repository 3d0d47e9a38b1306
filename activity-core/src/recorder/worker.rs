//! The background writer: batches, pipeline, retries, lifecycle events.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::config::OutageNotice;
use super::metrics::Counters;
use super::{Msg, Shared};
use crate::error::Error;
use crate::event::payload::{Failed, Payload, Recovered, Started, Stopped};
use crate::event::{Action, ActivityEvent, Outcome};
use crate::recorder::{AfterCommit, Enricher, Sealer};
use crate::store::ActivityStore;

pub(crate) struct Worker {
    pub rx: mpsc::Receiver<Msg>,
    pub store: Arc<dyn ActivityStore>,
    pub shared: Arc<Shared>,
    pub enrichers: Vec<Arc<dyn Enricher>>,
    pub sealer: Option<Box<dyn Sealer>>,
    pub after_commit: Vec<Arc<dyn AfterCommit>>,
}

/// The store kept failing past the shutdown deadline.
pub(super) struct GaveUp;

pub(super) enum AppendError {
    GaveUp,
    Rejected(Error),
}

pub(super) struct Outage {
    pub(super) since: chrono::DateTime<chrono::Utc>,
}

pub(super) struct State {
    /// Events the worker made itself (lifecycle, follow-ups), written before the queue.
    pub(super) pending: VecDeque<ActivityEvent>,
    pub(super) flushes: Vec<oneshot::Sender<()>>,
    pub(super) stopping: bool,
    pub(super) deadline: Option<Instant>,
    pub(super) outage: Option<Outage>,
    pub(super) dropped_seen: u64,
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
        };
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
            if batch.is_empty() && st.flushes.is_empty() && !st.stopping {
                match self.rx.recv().await {
                    Some(msg) => {
                        self.take(msg, &mut batch, &mut st);
                    }
                    None => st.stopping = true,
                }
            }
            self.drain(&mut batch, &mut st);
            self.linger(&mut batch, &mut st).await;
            self.note_stop(&mut st);
            self.note_drops(&mut st);

            if batch.is_empty() {
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
                        return Vec::new();
                    }
                }
                continue;
            }

            match self.process(batch, &mut st).await {
                Ok(()) => {}
                Err((GaveUp, mut unwritten)) => {
                    unwritten.extend(st.pending.drain(..));
                    self.rx.close();
                    while let Ok(msg) = self.rx.try_recv() {
                        if let Msg::Event(e) = msg {
                            unwritten.push(e);
                        }
                    }
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
    /// a flush or shutdown that arrives meanwhile waits at most `linger`.
    async fn linger(&mut self, batch: &mut Vec<ActivityEvent>, st: &mut State) {
        let linger = self.shared.config.linger;
        if st.stopping
            || !st.flushes.is_empty()
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

    pub(super) fn lifecycle(&self, action: Action, outcome: Outcome) -> ActivityEvent {
        ActivityEvent::audit(action, outcome).with_time(self.shared.clock.now())
    }

    /// Enrich, seal, append (isolating rejected events), run after-commit hooks.
    async fn process(
        &mut self,
        mut batch: Vec<ActivityEvent>,
        st: &mut State,
    ) -> Result<(), (GaveUp, Vec<ActivityEvent>)> {
        for e in &mut batch {
            for enricher in &self.enrichers {
                enricher.enrich(e);
            }
        }
        if let Err(GaveUp) = self.seal(&mut batch, st).await {
            return Err((GaveUp, batch));
        }
        let committed = self.append(batch, st).await?;
        for hook in &self.after_commit {
            let follow_ups = hook.after_commit(&*self.store, &committed).await;
            st.pending.extend(follow_ups);
        }
        Ok(())
    }

    async fn seal(&mut self, batch: &mut [ActivityEvent], st: &mut State) -> Result<(), GaveUp> {
        let Some(mut sealer) = self.sealer.take() else {
            return Ok(());
        };
        let mut attempt = 0;
        let result = loop {
            match sealer.seal(&*self.store, batch).await {
                Ok(()) => break Ok(()),
                Err(err) if err.is_retryable() => {
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
                    break Ok(());
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
        counters.state().outage_since = None;
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
