//! [`scan`]: every stored chained event read once, reduced to what checkpoints need per
//! chain (position, links, content digest, id), sorted by position.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::commitment::event_digest;
use crate::error::Result;
use crate::query::{ActivityQuery, Pages};
use crate::store::ActivityStore;

/// A chain: its tenant and writer.
pub(crate) type ChainId = (Option<String>, String);

/// One stored link.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) seq: u64,
    pub(crate) prev: [u8; 32],
    pub(crate) hash: [u8; 32],
    /// SHA-256 of the event's canonical form.
    pub(crate) digest: [u8; 32],
    pub(crate) id: Uuid,
}

/// What a scan read.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Per chain, its rows by position (duplicates kept, in read order).
    pub(crate) chains: BTreeMap<ChainId, Vec<Row>>,
    /// Events without a link: tenant and id.
    pub(crate) unchained: Vec<(Option<String>, Uuid)>,
    /// Events read.
    pub(crate) events: u64,
    /// A page that could not be read back: the last id read before it and the error.
    pub(crate) unreadable: Option<(Option<Uuid>, String)>,
}

/// Reads every event of `tenant` (`None`: all) once, a page at a time.
///
/// # Errors
/// The store's retryable errors (an undecodable row is kept in [`Scan::unreadable`]).
pub(crate) async fn scan(store: &dyn ActivityStore, tenant: Option<&str>) -> Result<Scan> {
    let mut out = Scan::default();
    let mut pages = Pages::new(store, ActivityQuery::scoped(tenant));
    let mut buf = Vec::with_capacity(640);
    let mut last: Option<Uuid> = None;
    let mut current: Option<(ChainId, Vec<Row>)> = None;
    loop {
        let events = match pages.next().await {
            Ok(Some(events)) => events,
            Ok(None) => break,
            Err(e) if !e.is_retryable() => {
                out.unreadable = Some((last, e.to_string()));
                break;
            }
            Err(e) => return Err(e),
        };
        last = events.last().map(|e| e.id).or(last);
        for e in &events {
            out.events += 1;
            let Some(link) = &e.chain else {
                out.unchained.push((e.tenant.clone(), e.id));
                continue;
            };
            let mut prev = [0u8; 32];
            let mut hash = [0u8; 32];
            let _ = hex::decode_to_slice(&link.prev, &mut prev);
            let _ = hex::decode_to_slice(&link.hash, &mut hash);
            let row = Row {
                seq: link.seq,
                prev,
                hash,
                digest: event_digest(e, &mut buf),
                id: e.id,
            };
            // Events come chain by chain in runs: the run's chain is kept out of the map.
            let same = matches!(&current, Some(((t, w), _)) if *t == e.tenant && *w == link.writer);
            if !same {
                if let Some((k, v)) = current.take() {
                    out.chains.insert(k, v);
                }
                let k = (e.tenant.clone(), link.writer.clone());
                let v = out.chains.remove(&k).unwrap_or_default();
                current = Some((k, v));
            }
            if let Some((_, run)) = &mut current {
                run.push(row);
            }
        }
    }
    if let Some((k, v)) = current.take() {
        out.chains.insert(k, v);
    }
    for rows in out.chains.values_mut() {
        rows.sort_by_key(|r| r.seq);
    }
    Ok(out)
}
