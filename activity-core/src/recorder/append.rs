//! Appending a sealed batch: split by tenant into concurrent parts, retried while the
//! store is down, a rejected event isolated by halving.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::config::OutageNotice;
use super::metrics::Counters;
use super::worker::{panic_text, stage, AppendError, Appended, GaveUp, Outage, State, Worker};
use crate::chain::ChainHead;
use crate::error::Error;
use crate::event::payload::{Failed, Payload};
use crate::event::{Action, ActivityEvent, Outcome};
use crate::store::ActivityStore;

impl Worker {
    /// Appends the sealed `batch`: split by tenant into concurrent parts when it can be,
    /// each part retried while the store is down, a rejected part halved until the bad
    /// event is alone (and recorded as rejected). Returns what committed, in the batch's
    /// order, and (with a spool) what an outage left unwritten, to be spooled: with a
    /// spool an outage is not waited out here. On giving up, what was not written.
    pub(super) async fn append(
        &mut self,
        batch: Vec<ActivityEvent>,
        st: &mut State,
    ) -> Result<Appended, (GaveUp, Vec<ActivityEvent>)> {
        let mut committed = Vec::with_capacity(batch.len());
        let mut stack = Vec::new();
        let in_flight = self.shared.config.max_in_flight;
        if in_flight > 1 && st.outage.is_none() && batch.len() > 1 {
            let (places, parts) = split_by_tenant(batch, in_flight);
            if parts.len() > 1 {
                let errors = self.append_parts(&parts).await;
                let mut done: Vec<(usize, ActivityEvent)> = Vec::new();
                let mut retryable = None;
                for ((places, part), error) in places.into_iter().zip(parts).zip(errors) {
                    match error {
                        None => done.extend(places.into_iter().zip(part)),
                        Some(err) => {
                            let duplicate = matches!(err, Error::SealedDuplicate { .. });
                            if retryable.is_none() && err.is_outage() && !duplicate {
                                retryable = Some((err, part.len()));
                            }
                            stack.push(part);
                        }
                    }
                }
                // The batch's order, for the after-commit stages.
                done.sort_unstable_by_key(|(i, _)| *i);
                committed.extend(done.into_iter().map(|(_, e)| e));
                // Failed parts go through the usual path below, first part first; a
                // retryable failure counts as their first attempt (the outage starts, and
                // is recorded, as it would without the split).
                stack.reverse();
                if let Some((err, held)) = retryable {
                    if self.spool.is_some() {
                        self.note_outage(stage::STORE, &err, held, st, false);
                        let spill = stack.into_iter().rev().flatten().collect();
                        return Ok(Appended { committed, spill });
                    }
                    if self.wait_to_retry(&err, 1, held, st).await.is_err() {
                        return Err((GaveUp, stack.into_iter().rev().flatten().collect()));
                    }
                }
            } else {
                stack.extend(parts);
            }
        } else {
            stack.push(batch);
        }
        // Strict while the batch is this run's sealing: a sealed event stored first by
        // another writer is refused by the store and the batch sealed again without it.
        let mut strict = self.sealer.is_some();
        let mut reseals = 0;
        while let Some(part) = stack.pop() {
            // The heads this part brings its chains to, stored in the same transaction.
            let heads = self
                .sealer
                .as_ref()
                .map(|s| s.heads(&part))
                .unwrap_or_default();
            match self.append_retrying(&part, &heads, strict, st).await {
                Ok(()) => committed.extend(part),
                Err(AppendError::Duplicate(ids)) => {
                    // Everything not yet committed, in order, sealed again without them.
                    let mut rest = part;
                    while let Some(more) = stack.pop() {
                        rest.extend(more);
                    }
                    reseals += 1;
                    let resealed = reseals <= MAX_RESEALS
                        && self
                            .sealer
                            .as_mut()
                            .is_some_and(|s| s.reseal_without(&mut rest, &ids));
                    if resealed {
                        tracing::info!(stored = ids.len(), "events were stored first by another writer; the batch is sealed again without them");
                    } else {
                        tracing::warn!(stored = ids.len(), "events were stored first by another writer and the batch cannot be sealed again; appended as it is");
                        strict = false;
                    }
                    stack.push(rest);
                }
                Err(AppendError::GaveUp) => {
                    let mut unwritten = part;
                    while let Some(rest) = stack.pop() {
                        unwritten.extend(rest);
                    }
                    return Err((GaveUp, unwritten));
                }
                Err(AppendError::Outage) => {
                    let mut spill = part;
                    while let Some(rest) = stack.pop() {
                        spill.extend(rest);
                    }
                    return Ok(Appended { committed, spill });
                }
                Err(AppendError::Rejected(err)) if part.len() > 1 => {
                    tracing::warn!(error = %err, size = part.len(), "batch rejected; isolating the bad event");
                    let mut first = part;
                    let second = first.split_off(first.len() / 2);
                    stack.push(second);
                    stack.push(first);
                }
                Err(AppendError::Rejected(err)) => {
                    let event = &part[0];
                    Counters::add(&self.shared.counters.rejected, 1);
                    tracing::error!(error = %err, id = %event.id, "store rejected an event");
                    if let Some(cb) = &self.shared.config.on_reject {
                        cb(event, &err);
                    }
                    if let Some(ack) = st.acks.remove(&event.id) {
                        let _ = ack.send(Err(Error::rejected(err.to_string(), None)));
                    }
                    // The recorder's own records of failures are not recorded as failing
                    // in turn: a store that refuses them would otherwise feed itself.
                    if event.action == Action::AUDIT_FAILED {
                        tracing::error!(id = %event.id, "the store rejected the recorder's own audit.failed event; not recorded again");
                        continue;
                    }
                    let failed = Failed {
                        event_id: Some(event.id.to_string()),
                        ..Failed::error(&err.to_string())
                    };
                    st.pending.push_front(
                        failed.write(
                            self.lifecycle(Action::AUDIT_FAILED, Outcome::Failure)
                                .with_reason("event_rejected"),
                        ),
                    );
                }
            }
        }
        Ok(Appended {
            committed,
            spill: Vec::new(),
        })
    }

    /// Appends `parts` concurrently, once each (no retry: a failed part is for the usual
    /// path); returns, per part, its error if it did not commit.
    async fn append_parts(&mut self, parts: &[Vec<ActivityEvent>]) -> Vec<Option<Error>> {
        let heads: Vec<_> = parts
            .iter()
            .map(|part| {
                self.sealer
                    .as_ref()
                    .map(|s| s.heads(part))
                    .unwrap_or_default()
            })
            .collect();
        // Only the store and counters across the await (the sealer is not `Sync`).
        let store = &*self.store;
        let shared = &*self.shared;
        let timeout = shared.config.append_timeout;
        let strict = self.sealer.is_some();
        // Polled together on this task (no spawning, so a part is never lost to a
        // panicking task); the results in the parts' order.
        let results = futures_util::future::join_all(
            parts
                .iter()
                .zip(&heads)
                .map(|(part, heads)| append_once(store, part, heads, timeout, strict)),
        )
        .await;
        results
            .into_iter()
            .zip(parts)
            .map(|(result, part)| match result {
                Ok(n) => {
                    Counters::add(&shared.counters.written, n);
                    None
                }
                Err(err) => {
                    tracing::debug!(error = %err, size = part.len(), "concurrent append failed; that part goes through the retrying path");
                    Some(err)
                }
            })
            .collect()
    }

    async fn append_retrying(
        &mut self,
        batch: &[ActivityEvent],
        heads: &[ChainHead],
        strict: bool,
        st: &mut State,
    ) -> Result<(), AppendError> {
        let mut attempt = 0;
        loop {
            let timeout = self.shared.config.append_timeout;
            let result = append_once(&*self.store, batch, heads, timeout, strict).await;
            match result {
                Err(Error::SealedDuplicate { ids }) => {
                    self.recovered(batch.len(), st);
                    return Err(AppendError::Duplicate(ids));
                }
                Ok(n) => {
                    Counters::add(&self.shared.counters.written, n);
                    self.recovered(batch.len(), st);
                    return Ok(());
                }
                Err(err) if err.is_outage() && self.spool.is_some() => {
                    self.note_outage(stage::STORE, &err, batch.len(), st, false);
                    return Err(AppendError::Outage);
                }
                Err(err) if err.is_outage() => {
                    attempt += 1;
                    if self
                        .wait_to_retry(&err, attempt, batch.len(), st)
                        .await
                        .is_err()
                    {
                        return Err(AppendError::GaveUp);
                    }
                }
                Err(err) => {
                    self.recovered(batch.len(), st);
                    return Err(AppendError::Rejected(err));
                }
            }
        }
    }

    /// Notes the store's failure (starting an outage on the first), then sleeps the backoff.
    pub(super) async fn wait_to_retry(
        &mut self,
        err: &Error,
        attempt: u32,
        batch_len: usize,
        st: &mut State,
    ) -> Result<(), GaveUp> {
        self.wait_to_retry_in(stage::STORE, err, attempt, batch_len, st)
            .await
    }

    /// Notes the failure of `stage` (starting an outage on the first: health degraded,
    /// `on_outage`, fail-closed, `audit.failed`), then sleeps the backoff. The sleep ends
    /// early on shutdown, and no wait goes past the shutdown deadline.
    pub(super) async fn wait_to_retry_in(
        &mut self,
        stage: &'static str,
        err: &Error,
        attempt: u32,
        batch_len: usize,
        st: &mut State,
    ) -> Result<(), GaveUp> {
        self.note_outage(stage, err, batch_len, st, true);
        self.backoff(attempt, st).await
    }

    /// Notes the failure of `stage`, starting an outage on the first: `on_outage`,
    /// `audit.failed`, and either fail-closed with health degraded (`engage`) or, when the
    /// batch goes to the spool instead, health spooling.
    pub(super) fn note_outage(
        &mut self,
        stage: &'static str,
        err: &Error,
        batch_len: usize,
        st: &mut State,
        engage: bool,
    ) {
        let counters = &self.shared.counters;
        Counters::add(&counters.retried, 1);
        let text = err.to_string();
        {
            let mut state = counters.state();
            state.last_error = Some(text.clone());
            state.failed_stage = (stage != super::worker::stage::STORE).then_some(stage);
        }
        if engage {
            counters.outage.store(true, Ordering::Release);
        }
        if st.outage.is_none() {
            let since = self.shared.clock.now();
            st.outage = Some(Outage { since });
            counters.state().outage_since = Some(since);
            tracing::error!(error = %text, stage, held = batch_len, spooling = !engage, "activity store failing; holding events and retrying");
            if let Some(cb) = &self.shared.config.on_outage {
                cb(&OutageNotice::Failed {
                    since,
                    error: text.clone(),
                });
            }
            let reason = match stage {
                super::worker::stage::STORE => "store_unavailable",
                super::worker::stage::SPOOL => "spool_refused",
                _ => "stage_panicked",
            };
            st.pending.push_front(
                Failed::error(&text)
                    .write(
                        self.lifecycle(Action::AUDIT_FAILED, Outcome::Failure)
                            .with_time(since)
                            .with_reason(reason),
                    )
                    .with_detail("stage", stage),
            );
        }
        self.note_stop(st);
        #[cfg(feature = "metrics")]
        self.publish();
    }

    /// Sleeps the backoff of `attempt`: ends early on shutdown, and fails rather than go
    /// past the shutdown deadline.
    pub(super) async fn backoff(&mut self, attempt: u32, st: &mut State) -> Result<(), GaveUp> {
        let delay = self.shared.config.backoff.delay(attempt);
        if let Some(deadline) = st.deadline {
            if Instant::now() + delay > deadline {
                return Err(GaveUp);
            }
        }
        let wake = self.shared.wake.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = wake.notified() => {
                // Shut down meanwhile: retry once more now if the deadline allows.
                self.note_stop(st);
            }
        }
        Ok(())
    }
}

/// One append of `part` with its chain `heads`: a panic is caught, and a store that has
/// not answered within `timeout` is an outage (a blackholed connection would otherwise
/// hold the writer, and every durable waiter, until the pool's own timeout; the append
/// is idempotent by id, so one that committed after all is skipped when retried).
/// How many times a batch is sealed again because another writer stored some of its
/// events first, before it is appended as it is.
const MAX_RESEALS: u32 = 3;

async fn append_once(
    store: &dyn ActivityStore,
    part: &[ActivityEvent],
    heads: &[ChainHead],
    timeout: Duration,
    strict: bool,
) -> Result<u64, Error> {
    let append = if strict {
        store.append_sealed_strict(part, heads)
    } else {
        store.append_sealed(part, heads)
    };
    let append = AssertUnwindSafe(append).catch_unwind();
    match tokio::time::timeout(timeout, append).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(store_panicked(&*panic)),
        Err(_) => Err(Error::timeout(
            format!("the store did not answer an append within {timeout:?}"),
            None,
        )),
    }
}

/// A panic in the store's append, as an outage error (the batch is kept and retried).
fn store_panicked(payload: &(dyn std::any::Any + Send)) -> Error {
    Error::backend(
        format!("{} panicked: {}", stage::STORE, panic_text(payload)),
        None,
    )
}

/// Splits `batch` by tenant into at most `n` non-empty parts (every event of a tenant in
/// the same part, in the batch's order), with each event's place in the batch. Tenants
/// go, largest first, to the part with the fewest events so far, so that the parts come
/// out about even (the batch waits for its slowest part).
fn split_by_tenant(
    batch: Vec<ActivityEvent>,
    n: usize,
) -> (Vec<Vec<usize>>, Vec<Vec<ActivityEvent>>) {
    let mut sizes: std::collections::HashMap<Option<&str>, usize> = Default::default();
    for e in &batch {
        *sizes.entry(e.tenant.as_deref()).or_default() += 1;
    }
    let mut tenants: Vec<(Option<&str>, usize)> = sizes.into_iter().collect();
    // Largest first; ties by name, so the split does not depend on hashing.
    tenants.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut load = vec![0usize; n];
    let mut slot_of: std::collections::HashMap<Option<String>, usize> = Default::default();
    for (tenant, size) in tenants {
        let slot = (0..n).min_by_key(|&i| (load[i], i)).unwrap_or(0);
        load[slot] += size;
        slot_of.insert(tenant.map(str::to_owned), slot);
    }
    let mut places: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut parts: Vec<Vec<ActivityEvent>> = (0..n).map(|_| Vec::new()).collect();
    for (i, e) in batch.into_iter().enumerate() {
        let slot = slot_of.get(&e.tenant).copied().unwrap_or(0);
        places[slot].push(i);
        parts[slot].push(e);
    }
    places.retain(|p| !p.is_empty());
    parts.retain(|p| !p.is_empty());
    (places, parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;

    fn batch(sizes: &[(&str, usize)]) -> Vec<ActivityEvent> {
        let mut out = Vec::new();
        let longest = sizes.iter().map(|(_, n)| *n).max().unwrap_or(0);
        for i in 0..longest {
            for (tenant, n) in sizes {
                if i < *n {
                    out.push(ActivityEvent::logout(Actor::user("u")).with_tenant(*tenant));
                }
            }
        }
        out
    }

    #[test]
    fn a_batch_splits_by_tenant_into_even_parts_in_its_order() {
        let b = batch(&[("a", 30), ("b", 20), ("c", 10)]);
        let ids: Vec<_> = b.iter().map(|e| e.id).collect();
        let (places, parts) = split_by_tenant(b, 2);
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![30, 30]);
        for (places, part) in places.iter().zip(&parts) {
            assert!(
                places.windows(2).all(|w| w[0] < w[1]),
                "in the batch's order"
            );
            for (i, e) in places.iter().zip(part) {
                assert_eq!(ids[*i], e.id);
            }
            let mut tenants: Vec<_> = part.iter().map(|e| e.tenant.clone()).collect();
            tenants.dedup();
            tenants.sort();
            tenants.dedup();
            assert!(parts
                .iter()
                .filter(|p| !std::ptr::eq(*p, part))
                .all(|p| p.iter().all(|e| !tenants.contains(&e.tenant))));
        }
        let (_, parts) = split_by_tenant(batch(&[("a", 5)]), 4);
        assert_eq!(parts.len(), 1, "one tenant, one part");
        let (_, parts) = split_by_tenant(batch(&[("a", 3), ("b", 3), ("c", 3)]), 8);
        assert_eq!(parts.len(), 3, "no empty parts");
    }
}
