//! [`MemoryAdmission`]: admitting attempts on accounts and addresses with no recent
//! failures from memory, while several app instances share one ledger and still let at
//! most the threshold through between them.
//!
//! Each instance holding a share (one of `N` configured slots) may have up to
//! `⌊limit / N⌋` attempts of every *cold* group (an account under one kind of attempt, or
//! one address's budget) in flight without asking the shared ledger. The shared ledger
//! counts those shares as held until the instance *releases* the group, which it does
//! the moment the group turns *hot* (a failure anywhere): its attempts still in flight are
//! moved into the ledger as reservations first. A hot group is decided in the ledger, where
//! the allowance is the limit less the failures, the reservations and the shares not yet
//! released. So memory and ledger together never hand out more than the limit, and an
//! account with no recent failures costs the ledger nothing.

use async_trait::async_trait;

use crate::error::Result;
use crate::lockout::ledger::{Keep, LedgerEntry};

/// One group an attempt counts in: its key and its limit (the threshold of the account's
/// counters, or the capacity of the address's budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group<'a> {
    /// The group's key: the prefix of the account's counters, or the budget's key.
    pub key: &'a str,
    /// The most attempts that may be in flight or failed in it.
    pub limit: u64,
}

/// Attempts held from memory: one per group of the [`MemoryAdmission::hold`] that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Per group: its key and the epoch it was held in (a group's epoch moves on each
    /// time its holds are moved into the ledger).
    pub groups: Vec<(String, u64)>,
}

/// The change applied to one entry of a group in the shared ledger, given the attempts
/// the group holds outside that entry (shares not yet released, moved holds).
pub type HeldChange<'a> = &'a mut (dyn FnMut(&mut LedgerEntry, u64) + Send);

/// How a ledger shared by several instances admits attempts on cold groups from memory
/// ([`LockoutLedger::memory`](crate::lockout::LockoutLedger::memory)); `activity-sqlx`'s
/// PostgreSQL ledger implements it.
#[async_trait]
pub trait MemoryAdmission: Send + Sync {
    /// One attempt in every group of `groups` from this instance's share, if each is cold
    /// here and its share has room; `None`: decide in the ledger
    /// ([`update_held`](Self::update_held)). Never waits.
    fn hold(&self, groups: &[Group<'_>]) -> Option<Hold>;

    /// Ends `hold`. When the attempt `failed`, its groups turn hot first (this instance's
    /// holds on them move into the ledger). Per group of the hold, in order: whether the
    /// hold was in the ledger by then (the caller then settles it there, with
    /// [`update_held`](Self::update_held) and `unhold`).
    ///
    /// # Errors
    /// The ledger's; the holds then stay counted until the reservation timeout.
    async fn end(&self, hold: Hold, failed: bool) -> Result<Vec<bool>>;

    /// Applies `change` to `key` of `group` in the ledger (after turning the group hot
    /// here if it was not), atomically with reading what the group holds outside `key`;
    /// `unhold` also ends one moved hold. With no `key`, only that.
    ///
    /// # Errors
    /// The ledger's; nothing is then changed.
    async fn update_held(
        &self,
        group: Group<'_>,
        key: Option<&str>,
        unhold: bool,
        change: HeldChange<'_>,
    ) -> Result<Option<LedgerEntry>>;

    /// Whether `group` is cold here (no failures this instance knows of).
    fn is_cold(&self, group: &str) -> bool;

    /// Turns cold again the groups the ledger holds nothing for any more (`idle` says
    /// which entries are spent); how many. Run by
    /// [`LockoutPolicy::prune`](crate::lockout::LockoutPolicy::prune).
    ///
    /// # Errors
    /// The ledger's.
    async fn cool(&self, idle: Keep<'_>) -> Result<u64>;
}
