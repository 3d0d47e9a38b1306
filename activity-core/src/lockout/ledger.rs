//! [`LockoutLedger`]: where the lockout keeps its counters, reservations, budgets, known
//! devices and identifier links, and [`MemoryLedger`], the in-process one.
//!
//! Every decision is one atomic read-modify-write of one key, so a ledger shared by several
//! app instances (PostgreSQL's, in `activity-sqlx`) makes them agree: N parallel attempts
//! on any mix of instances reserve at most the threshold.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::lockout::counter::{Budget, Counter};

/// One key's record in a ledger.
///
/// Which parts are used depends on the key: a subject's [`Counter`], an address's
/// [`Budget`], an identifier link (`link`), a known device or network (`seen`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The subject's counter.
    #[serde(default, skip_serializing_if = "is_default")]
    pub counter: Counter,
    /// The address's budget of failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// For an alias (a handler's account id), the identifier it signs in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// For a known device or network of an account: when it last signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<DateTime<Utc>>,
}

fn is_default(c: &Counter) -> bool {
    *c == Counter::default()
}

/// The change applied to one entry inside the ledger's lock or transaction.
pub type Change<'a> = &'a mut (dyn FnMut(&mut LedgerEntry) + Send);

/// Storage for the lockout's state.
///
/// ```
/// use activity_core::lockout::{LedgerEntry, LockoutLedger, MemoryLedger};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let ledger = MemoryLedger::new();
/// ledger.update("k", &mut |e: &mut LedgerEntry| e.counter.failures += 1).await?;
/// ledger.update("k", &mut |e: &mut LedgerEntry| e.counter.failures += 1).await?;
/// assert_eq!(ledger.get("k").await?.unwrap().counter.failures, 2);
/// assert!(ledger.get("other").await?.is_none());
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait LockoutLedger: Send + Sync + 'static {
    /// Applies `change` to the entry under `key` (a default entry when there is none) and
    /// stores the result, atomically with respect to every other update of that key, on
    /// every instance sharing the ledger; the entry after the change.
    ///
    /// # Errors
    /// The storage's errors; the change is then not applied.
    async fn update(&self, key: &str, change: Change<'_>) -> Result<LedgerEntry>;

    /// The entry under `key`, if any.
    ///
    /// # Errors
    /// The storage's errors.
    async fn get(&self, key: &str) -> Result<Option<LedgerEntry>>;

    /// Applies `change` to every entry whose key starts with `prefix`, atomically per
    /// entry; how many entries there were.
    ///
    /// # Errors
    /// The storage's errors.
    async fn update_prefix(&self, prefix: &str, change: Change<'_>) -> Result<u64>;

    /// Removes every entry for which `keep` says false, atomically per entry (an entry
    /// changed meanwhile is judged as it is then); how many were removed. The policy's
    /// [`prune`](crate::lockout::LockoutPolicy::prune) decides what is worth keeping.
    ///
    /// # Errors
    /// The storage's errors.
    async fn retain(&self, keep: Keep<'_>) -> Result<u64>;

    /// How this ledger admits attempts on accounts and addresses with no recent failures
    /// from memory, if it does (a shared ledger with memory admission configured);
    /// `None` (the default): every decision is an [`update`](Self::update).
    fn memory(&self) -> Option<&dyn crate::lockout::MemoryAdmission> {
        None
    }
}

/// The test [`LockoutLedger::retain`] applies to each entry.
/// It is given each entry's key and entry.
pub type Keep<'a> = &'a (dyn Fn(&str, &LedgerEntry) -> bool + Send + Sync);

/// The in-process ledger: exact for one app instance; use a shared one (PostgreSQL's) when
/// several instances serve the same accounts.
///
/// Idle entries are dropped once it holds more than its capacity, oldest-idle first, so an
/// attacker trying random account names cannot grow it without bound.
#[derive(Debug)]
pub struct MemoryLedger {
    entries: Mutex<HashMap<String, LedgerEntry>>,
    capacity: usize,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLedger {
    /// An empty ledger that prunes idle entries beyond 100,000 keys.
    pub fn new() -> Self {
        Self::with_capacity(100_000)
    }

    /// An empty ledger that prunes idle entries beyond `capacity` keys.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LedgerEntry>> {
        // A panic elsewhere while holding the lock leaves consistent entries (each change
        // is applied to a copy first).
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether an entry holds nothing that protects anyone: no count, lock, link or device.
fn prunable(e: &LedgerEntry) -> bool {
    e.counter.is_idle() && e.link.is_none() && e.seen.is_none()
}

#[async_trait]
impl LockoutLedger for MemoryLedger {
    async fn update(&self, key: &str, change: Change<'_>) -> Result<LedgerEntry> {
        let mut map = self.lock();
        let mut entry = map.get(key).cloned().unwrap_or_default();
        change(&mut entry);
        if map.len() >= self.capacity && !map.contains_key(key) {
            map.retain(|_, e| !prunable(e) && e.budget.as_ref().is_none_or(|b| b.tokens < 1.0));
        }
        map.insert(key.to_owned(), entry.clone());
        Ok(entry)
    }

    async fn get(&self, key: &str) -> Result<Option<LedgerEntry>> {
        Ok(self.lock().get(key).cloned())
    }

    async fn retain(&self, keep: Keep<'_>) -> Result<u64> {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|k, e| keep(k, e));
        Ok((before - map.len()) as u64)
    }

    async fn update_prefix(&self, prefix: &str, change: Change<'_>) -> Result<u64> {
        let mut map = self.lock();
        let mut n = 0;
        for (_, e) in map.iter_mut().filter(|(k, _)| k.starts_with(prefix)) {
            change(e);
            n += 1;
        }
        Ok(n)
    }
}
