//! Spooling: while the store is down the worker writes each batch to the local
//! [spool](crate::spool) (durable before its waiters hear so) and keeps taking events;
//! the spool is replayed, oldest batch first, when the store answers again and on the
//! next start.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::metrics::Counters;
use super::worker::{panic_text, stage, Appended, GaveUp, State, Worker};
use crate::error::Error;
use crate::event::payload::{Failed, Payload};
use crate::event::{Action, ActivityEvent, Outcome};
use crate::spool::SpoolStatus;

/// How long one replay goes on before the worker takes new events again (a long spool
/// is replayed in slices, so that new batches keep being accepted meanwhile).
const REPLAY_SLICE: std::time::Duration = std::time::Duration::from_millis(200);

impl Worker {
    /// At start: a spool left non-empty by an earlier run is replayed before anything new
    /// is written (new batches go behind it).
    pub(super) async fn open_spool(&mut self, st: &mut State) {
        let Some(spool) = self.spool.clone() else {
            return;
        };
        match spool.status().await {
            Ok(status) => {
                self.spool_gauges(&status);
                if !status.is_empty() {
                    tracing::info!(
                        batches = status.batches,
                        events = status.events,
                        "activity spool holds events of an earlier run; replaying them first"
                    );
                    self.start_spooling(st, Instant::now());
                }
            }
            Err(err) => {
                // Whether it holds anything is unknown: keep the order it might hold.
                tracing::error!(error = %err, "activity spool cannot be read at start; retrying");
                self.start_spooling(st, Instant::now());
            }
        }
    }

    fn start_spooling(&mut self, st: &mut State, replay_at: Instant) {
        st.spooling = true;
        st.replay_at = Some(replay_at);
        self.shared.counters.spooling.store(true, Ordering::Release);
    }

    /// Writes `events` to the spool and tells their waiters that they are durable. When
    /// the spool refuses them (full, or failing) they are held here and retried with
    /// backoff under fail-closed, as without a spool (replaying in between makes room);
    /// at the shutdown deadline they are given up as unwritten.
    pub(super) async fn spool_batch(
        &mut self,
        sealed: bool,
        events: Vec<ActivityEvent>,
        st: &mut State,
    ) -> Result<(), (GaveUp, Vec<ActivityEvent>)> {
        let Some(spool) = self.spool.clone() else {
            tracing::error!(
                count = events.len(),
                "activity recorder has no spool for a batch it meant to spool"
            );
            return Err((GaveUp, events));
        };
        let mut attempt = 0;
        loop {
            match spool.push(sealed, &events).await {
                Ok(_) => {
                    Counters::add(&self.shared.counters.spooled, events.len() as u64);
                    self.acknowledge(&events, st);
                    if !st.spooling {
                        let first = Instant::now() + self.shared.config.backoff.delay(1);
                        self.start_spooling(st, first);
                        st.replay_attempt = 1;
                    }
                    let counters = &self.shared.counters;
                    if st.spool_refusing {
                        st.spool_refusing = false;
                        counters.outage.store(false, Ordering::Release);
                        counters.state().failed_stage = None;
                    }
                    if let Ok(status) = spool.status().await {
                        self.spool_gauges(&status);
                    }
                    return Ok(());
                }
                Err(err) => {
                    if !st.spool_refusing {
                        st.spool_refusing = true;
                        tracing::error!(error = %err, held = events.len(), "activity spool refused a batch; holding it and failing closed");
                        self.spool_refused(&err, st);
                    }
                    self.note_outage(stage::SPOOL, &err, events.len(), st, true);
                    attempt += 1;
                    if self.backoff(attempt, st).await.is_err() {
                        return Err((GaveUp, events));
                    }
                    if st.spooling {
                        self.replay(st).await;
                    }
                }
            }
        }
    }

    /// Replays the spool, oldest batch first, for up to a slice of time: each batch is
    /// sealed if it was spooled before sealing, appended (idempotent by id), removed, and
    /// handed to the after-commit stages. On the store's failure the replay stops and is
    /// tried again after the backoff; once the spool is empty, spooling ends.
    pub(super) async fn replay(&mut self, st: &mut State) {
        let Some(spool) = self.spool.clone() else {
            st.spooling = false;
            return;
        };
        let timeout = self.shared.config.spool_timeout;
        let started = Instant::now();
        let max_events = self.shared.config.batch_size.max(1);
        loop {
            let run = match spool.front_many(max_events).await {
                Ok(run) if run.is_empty() => {
                    st.spooling = false;
                    st.replay_at = None;
                    st.replay_attempt = 0;
                    st.resealed = None;
                    self.shared
                        .counters
                        .spooling
                        .store(false, Ordering::Release);
                    self.spool_gauges(&SpoolStatus::default());
                    self.recovered(0, st);
                    tracing::info!("activity spool replayed");
                    return;
                }
                Ok(run) => run,
                Err(err) => return self.replay_failed(stage::SPOOL, &err, st),
            };
            // One append for the oldest entries spooled alike (all sealed, or all not), up
            // to a batch: an outage spooled as many small batches replays at the store's
            // batch rate, not one round-trip per spooled batch.
            let (ids, events) = match st.resealed.take() {
                Some((ids, events)) if ids.first() == run.first().map(|e| &e.id) => (ids, events),
                _ => {
                    let sealed = run[0].sealed;
                    let mut ids = Vec::new();
                    let mut events = Vec::new();
                    for entry in run.into_iter().take_while(|e| e.sealed == sealed) {
                        ids.push(entry.id);
                        events.extend(entry.events);
                    }
                    if !sealed {
                        match tokio::time::timeout(timeout, self.seal_replayed(&mut events)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(err)) => return self.replay_failed(stage::STORE, &err, st),
                            Err(_) => return self.replay_failed(stage::STORE, &timed_out(), st),
                        }
                    }
                    (ids, events)
                }
            };
            let appended = tokio::time::timeout(timeout, self.append(events.clone(), st)).await;
            let committed = match appended {
                Ok(Ok(Appended { committed, spill })) if spill.is_empty() => committed,
                Ok(Ok(Appended { committed, .. })) => {
                    // Part committed (other tenants); all of it is appended again next
                    // time, which skips what is stored.
                    st.resealed = Some((ids, events));
                    self.after_commit(&committed, st).await;
                    return self.replay_later(st);
                }
                Ok(Err((GaveUp, _))) => {
                    st.resealed = Some((ids, events));
                    return self.replay_later(st);
                }
                Err(_) => {
                    st.resealed = Some((ids, events));
                    return self.replay_failed(stage::STORE, &timed_out(), st);
                }
            };
            if let Err(err) = spool.remove_many(&ids).await {
                st.resealed = Some((ids, events));
                self.after_commit(&committed, st).await;
                return self.replay_failed(stage::SPOOL, &err, st);
            }
            st.replay_attempt = 0;
            Counters::add(&self.shared.counters.replayed, committed.len() as u64);
            if let Ok(status) = spool.status().await {
                self.spool_gauges(&status);
            }
            self.after_commit(&committed, st).await;
            if started.elapsed() >= REPLAY_SLICE {
                st.replay_at = Some(Instant::now());
                return;
            }
        }
    }

    /// [`replay`](Self::replay), given up at the shutdown deadline (what is left stays in
    /// the spool for the next start).
    pub(super) async fn replay_before(&mut self, st: &mut State) {
        let deadline = st
            .deadline
            .unwrap_or_else(|| Instant::now() + self.shared.config.shutdown_timeout);
        if tokio::time::timeout_at(deadline, self.replay(st))
            .await
            .is_err()
        {
            tracing::warn!("activity spool replay cut short by the shutdown deadline");
        }
    }

    /// Seals a batch spooled before it was sealed. Outages (and a panic) come back as an
    /// error, to retry the replay later; any other failure stores the batch unlinked and
    /// records `audit.failed` (as sealing does outside a replay).
    async fn seal_replayed(&mut self, events: &mut [ActivityEvent]) -> Result<(), Error> {
        let Some(sealer) = self.sealer.as_mut() else {
            return Ok(());
        };
        let caught = AssertUnwindSafe(sealer.seal(&*self.store, events))
            .catch_unwind()
            .await;
        match caught {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) if err.is_outage() => Err(err),
            Ok(Err(err)) => {
                tracing::error!(error = %err, "sealing a spooled batch failed; stored without chain links");
                Ok(())
            }
            Err(payload) => Err(Error::backend(
                format!("{} panicked: {}", stage::SEALER, panic_text(&*payload)),
                None,
            )),
        }
    }

    fn replay_failed(&mut self, stage: &'static str, err: &Error, st: &mut State) {
        tracing::debug!(error = %err, stage, "activity spool replay failed; retrying later");
        self.note_outage(stage, err, 0, st, false);
        self.replay_later(st);
    }

    fn replay_later(&mut self, st: &mut State) {
        st.replay_attempt += 1;
        st.replay_at =
            Some(Instant::now() + self.shared.config.backoff.delay(st.replay_attempt.max(1)));
    }

    /// Waits until the next replay is due, shutdown, or a message arrives (returned).
    pub(super) async fn wait_to_replay(&mut self, st: &mut State) -> Option<super::Msg> {
        let at = *st.replay_at.get_or_insert_with(Instant::now);
        let wake = self.shared.wake.clone();
        tokio::select! {
            () = tokio::time::sleep_until(at) => None,
            () = wake.notified() => {
                self.note_stop(st);
                None
            }
            msg = self.rx.recv() => match msg {
                Some(msg) => Some(msg),
                None => {
                    st.stopping = true;
                    None
                }
            },
        }
    }

    /// At shutdown with the store still down: says what stays in the spool.
    pub(super) async fn left_in_spool(&mut self) {
        let Some(spool) = self.spool.clone() else {
            return;
        };
        match spool.status().await {
            Ok(status) => {
                self.spool_gauges(&status);
                tracing::warn!(
                    batches = status.batches,
                    events = status.events,
                    "activity recorder stopped with events in its spool; they are replayed on the next start"
                );
            }
            Err(err) => {
                tracing::error!(error = %err, "activity recorder stopped; its spool cannot be read")
            }
        }
    }

    fn spool_gauges(&self, status: &SpoolStatus) {
        let c = &self.shared.counters;
        c.spool_events.store(status.events, Ordering::Relaxed);
        c.spool_bytes.store(status.bytes, Ordering::Relaxed);
    }

    /// Records that the spool refused a batch (`audit.failed`, reason `spool_refused`,
    /// written once the batch is).
    fn spool_refused(&mut self, err: &Error, st: &mut State) {
        st.pending.push_back(
            Failed::error(&err.to_string())
                .write(
                    self.lifecycle(Action::AUDIT_FAILED, Outcome::Failure)
                        .with_reason("spool_refused"),
                )
                .with_detail("stage", stage::SPOOL),
        );
    }
}

fn timed_out() -> Error {
    Error::Timeout {
        message: "the store did not answer a spool replay in time".to_owned(),
        source: None,
    }
}
