//! Memory admission for [`PgLedger`](super::PgLedger): attempts on accounts and addresses
//! with no recent failures are held from this instance's share, without a round trip.
//!
//! - **Slots.** `N` instances may hold a share; each claims one of `N` rows of
//!   `<prefix>activity_lockout_slots` and renews its lease. An instance without a slot (one
//!   too many) decides everything in the ledger.
//! - **Shares.** Each slot holder may have `⌊limit / N⌋` attempts of every cold group in
//!   flight from memory. The ledger counts the share of every live slot as held in a group
//!   until that slot *releases* the group.
//! - **Hot groups.** A failure turns its groups hot: a row in `<prefix>activity_lockout_hot`
//!   (announced with `NOTIFY`). Every instance that learns of it moves its holds into the
//!   row's `pending` and releases its slot there, in one statement; from then on it decides
//!   the group in the ledger, where the allowance is the limit less failures, reservations,
//!   `pending` and the shares of the slots not yet released.
//! - **Cold again.** The prune deletes a hot row once the group's entries are spent; an
//!   instance takes its share again only on that row's own deletion notice (matched by the
//!   row's generation), so a stale notice never gives it a share the ledger does not count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use activity_core::lockout::{Group, HeldChange, Hold, Keep, LedgerEntry, MemoryAdmission};
use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row, Transaction};
use tokio::sync::{Notify, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use super::{core, decode, encode};

/// One group's state on this instance.
#[derive(Debug, Default)]
struct GroupState {
    /// Attempts held from memory now.
    held: u64,
    /// Moves on each time the holds are moved into the ledger.
    epoch: u64,
    /// Released here: decided in the ledger.
    hot: bool,
    /// The generation of the hot row released (`-1`: unknown).
    generation: AtomicI64,
}

/// The lease on a slot.
#[derive(Debug, Default)]
struct Lease {
    slot: Option<i32>,
    /// Until when this instance may use its share (before the ledger's lease ends).
    valid_until: Option<Instant>,
    /// The hot groups were read since the slot was claimed and the listener connected.
    synced: bool,
}

/// Memory admission's state and statements.
pub(super) struct Shares {
    pool: PgPool,
    ledger: String,
    hot: String,
    slots: String,
    generations: String,
    channel: String,
    instances: u64,
    me: String,
    ttl: Duration,
    pending_timeout: Duration,
    lease: Mutex<Lease>,
    groups: Mutex<HashMap<String, Arc<RwLock<GroupState>>>>,
    /// Wakes the listener to read the hot groups again (a new slot).
    resync: Notify,
}

impl std::fmt::Debug for Shares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shares")
            .field("instances", &self.instances)
            .field("slot", &self.lock_lease().slot)
            .finish_non_exhaustive()
    }
}

/// The tables memory admission keeps beside the ledger's.
pub(super) fn tables(ledger: &str) -> (String, String, String) {
    (
        format!("{ledger}_hot"),
        format!("{ledger}_slots"),
        format!("{ledger}_hot_generation"),
    )
}

/// Creates memory admission's tables if they are missing.
pub(super) async fn migrate(pool: &PgPool, ledger: &str) -> Result<(), sqlx::Error> {
    let (hot, slots, generations) = tables(ledger);
    let statements = [
        format!("CREATE SEQUENCE IF NOT EXISTS {generations}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {hot} (grp TEXT PRIMARY KEY, generation BIGINT NOT NULL, \
             released INT[] NOT NULL DEFAULT '{{}}', pending BIGINT NOT NULL DEFAULT 0, \
             pending_at TIMESTAMPTZ)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {slots} (slot INT PRIMARY KEY, holder TEXT, \
             expires TIMESTAMPTZ NOT NULL DEFAULT '-infinity')"
        ),
    ];
    for sql in statements {
        sqlx::query(AssertSqlSafe(sql)).execute(pool).await?;
    }
    Ok(())
}

fn sql(s: String) -> AssertSqlSafe<String> {
    AssertSqlSafe(s)
}

impl Shares {
    /// Memory admission for `instances` instances beside the ledger table `ledger`.
    pub(super) async fn start(
        pool: PgPool,
        ledger: String,
        instances: u64,
    ) -> Result<Arc<Self>, crate::Error> {
        let (hot, slots, generations) = tables(&ledger);
        let wanted =
            i32::try_from(instances)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(crate::Error::Instances {
                    configured: instances,
                    found: None,
                })?;
        migrate(&pool, &ledger).await?;
        let count = || async {
            let n: i64 = sqlx::query(sql(format!("SELECT count(*) FROM {slots}")))
                .fetch_one(&pool)
                .await?
                .try_get(0)?;
            Ok::<i64, sqlx::Error>(n)
        };
        if count().await? == 0 {
            // The first instance makes the slots (two first ones make the same).
            sqlx::query(sql(format!(
                "INSERT INTO {slots} (slot) SELECT generate_series(0, $1 - 1) \
                 ON CONFLICT DO NOTHING"
            )))
            .bind(wanted)
            .execute(&pool)
            .await?;
        }
        let found = count().await?;
        if found != i64::from(wanted) {
            return Err(crate::Error::Instances {
                configured: instances,
                found: Some(found.unsigned_abs()),
            });
        }
        let schema: String = sqlx::query("SELECT current_schema()::text")
            .fetch_one(&pool)
            .await?
            .try_get(0)?;
        let mut channel = format!("{ledger}@{schema}");
        while channel.len() > 63 {
            channel.pop();
        }
        let shares = Arc::new(Self {
            pool,
            ledger,
            hot,
            slots,
            generations,
            channel,
            instances,
            me: uuid::Uuid::now_v7().to_string(),
            ttl: Duration::from_secs(15),
            pending_timeout: Duration::from_secs(120),
            lease: Mutex::new(Lease::default()),
            groups: Mutex::new(HashMap::new()),
            resync: Notify::new(),
        });
        // The listener first, so that no group turning hot after the first read is missed.
        let mut listener = PgListener::connect_with(&shares.pool).await?;
        listener.listen(&shares.channel).await?;
        shares.renew().await?;
        shares.sync().await?;
        tokio::spawn(leases(Arc::downgrade(&shares)));
        tokio::spawn(listen(Arc::downgrade(&shares), listener));
        Ok(shares)
    }

    fn lock_lease(&self) -> std::sync::MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_groups(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RwLock<GroupState>>>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot this instance may use its share under now.
    fn slot_in_use(&self) -> Option<i32> {
        let lease = self.lock_lease();
        match (lease.slot, lease.valid_until) {
            (Some(slot), Some(until)) if lease.synced && Instant::now() < until => Some(slot),
            _ => None,
        }
    }

    /// Whether attempts are held from memory now (a slot held, the hot groups known).
    pub(super) fn ready(&self) -> bool {
        self.slot_in_use().is_some()
    }

    fn state(&self, group: &str) -> Arc<RwLock<GroupState>> {
        self.lock_groups()
            .entry(group.to_owned())
            .or_default()
            .clone()
    }

    /// Renews the lease, or claims a free slot; whether a slot is held.
    async fn renew(&self) -> Result<bool, sqlx::Error> {
        let sent = Instant::now();
        let ttl = self.ttl.as_secs_f64();
        let current = self.lock_lease().slot;
        let renewed: Option<i32> = match current {
            Some(slot) => sqlx::query(sql(format!(
                "UPDATE {} SET expires = now() + make_interval(secs => $3) \
                 WHERE slot = $1 AND holder = $2 RETURNING slot",
                self.slots
            )))
            .bind(slot)
            .bind(&self.me)
            .bind(ttl)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
            None => None,
        };
        let claimed = match renewed {
            Some(slot) => Some((slot, false)),
            None => sqlx::query(sql(format!(
                "UPDATE {0} SET holder = $1, expires = now() + make_interval(secs => $2) \
                 WHERE slot = (SELECT slot FROM {0} WHERE expires <= now() ORDER BY slot \
                 LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING slot",
                self.slots
            )))
            .bind(&self.me)
            .bind(ttl)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .map(|slot| (slot, true)),
        };
        let mut lease = self.lock_lease();
        match claimed {
            Some((slot, new)) => {
                lease.slot = Some(slot);
                // Ends before the ledger's lease can: it began when the renewal was sent.
                lease.valid_until = Some(sent + self.ttl * 2 / 3);
                if new {
                    lease.synced = false;
                    self.resync.notify_one();
                }
                Ok(true)
            }
            None => {
                if current.is_some() {
                    tracing::warn!(
                        "lockout memory admission lost its slot; deciding in the ledger"
                    );
                }
                *lease = Lease::default();
                Ok(false)
            }
        }
    }

    /// Reads the hot groups and releases this slot in every one it has not released.
    async fn sync(&self) -> Result<(), sqlx::Error> {
        let Some(slot) = self.lock_lease().slot else {
            return Ok(());
        };
        let rows = sqlx::query(sql(format!(
            "SELECT grp, generation, $1 = ANY(released) FROM {}",
            self.hot
        )))
        .bind(slot)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let group: String = row.try_get(0)?;
            let generation: i64 = row.try_get(1)?;
            let mine: bool = row.try_get(2)?;
            let state = self.state(&group);
            let mut g = state.write_owned().await;
            if mine {
                if !g.hot {
                    // Released by this slot's earlier holder: decided in the ledger here too.
                    g.hot = true;
                    g.epoch += 1;
                }
                g.generation.store(generation, Ordering::SeqCst);
            } else {
                self.release(&group, &mut g, false).await?;
            }
        }
        self.lock_lease().synced = true;
        Ok(())
    }

    /// Moves this instance's holds of `group` into its hot row and releases this slot
    /// there; with `create`, makes the row (and announces it) when there is none.
    async fn release(
        &self,
        group: &str,
        g: &mut OwnedRwLockWriteGuard<GroupState>,
        create: bool,
    ) -> Result<(), sqlx::Error> {
        let slot = self.lock_lease().slot.unwrap_or(-1);
        let mut tx = self.pool.begin().await?;
        if create {
            self.create_row(&mut tx, group, -1).await?;
        }
        let moved = i64::try_from(g.held).unwrap_or(i64::MAX);
        let row = sqlx::query(sql(format!(
            "UPDATE {hot} SET released = CASE WHEN NOT ($2 = ANY(released)) AND EXISTS \
             (SELECT 1 FROM {slots} WHERE slot = $2 AND holder = $3 AND expires > now()) \
             THEN array_append(released, $2) ELSE released END, \
             pending = CASE WHEN pending_at < now() - make_interval(secs => $5) THEN 0 \
             ELSE pending END + $4, \
             pending_at = CASE WHEN $4 > 0 THEN now() ELSE pending_at END \
             WHERE grp = $1 RETURNING generation",
            hot = self.hot,
            slots = self.slots
        )))
        .bind(group)
        .bind(slot)
        .bind(&self.me)
        .bind(moved)
        .bind(self.pending_timeout.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        // No row (cooled meanwhile, or another schema's notice): nothing counts this
        // slot's share as released, and its holds stay in memory.
        if let Some(row) = row {
            let generation: i64 = row.try_get(0)?;
            g.held = 0;
            g.epoch += 1;
            g.hot = true;
            g.generation.store(generation, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Makes the hot row of `group` if there is none (this slot released in it when
    /// `slot` is held), announcing it; its generation when made.
    async fn create_row(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        group: &str,
        slot: i32,
    ) -> Result<Option<i64>, sqlx::Error> {
        let made = sqlx::query(sql(format!(
            "INSERT INTO {hot} (grp, generation, released) VALUES ($1, nextval('{generations}'), \
             CASE WHEN EXISTS (SELECT 1 FROM {slots} WHERE slot = $2 AND holder = $3 \
             AND expires > now()) THEN ARRAY[$2]::int[] ELSE '{{}}'::int[] END) \
             ON CONFLICT (grp) DO NOTHING RETURNING generation",
            hot = self.hot,
            generations = self.generations,
            slots = self.slots
        )))
        .bind(group)
        .bind(slot)
        .bind(&self.me)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = made else {
            return Ok(None);
        };
        let generation: i64 = row.try_get(0)?;
        self.announce(tx, 'h', generation, group).await?;
        Ok(Some(generation))
    }

    /// `NOTIFY` (sent at commit) that `group` of `generation` turned hot (`h`) or cold (`c`).
    async fn announce(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        what: char,
        generation: i64,
        group: &str,
    ) -> Result<(), sqlx::Error> {
        let mut payload = format!("{what} {generation} {group}");
        if payload.len() > 7000 {
            // Too long for a notice: every instance reads the hot groups again.
            payload = "r".into();
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Acts on one notice of the channel.
    async fn heard(&self, payload: &str) -> Result<(), sqlx::Error> {
        let mut parts = payload.splitn(3, ' ');
        let (what, generation, group) = (parts.next(), parts.next(), parts.next());
        let (Some(what), Some(Ok(generation)), Some(group)) =
            (what, generation.map(str::parse::<i64>), group)
        else {
            if payload == "r" {
                return self.sync().await;
            }
            tracing::warn!(
                payload,
                "lockout memory admission ignored a notice it cannot read"
            );
            return Ok(());
        };
        match what {
            "h" => {
                let state = self.state(group);
                let mut g = state.write_owned().await;
                if !(g.hot && g.generation.load(Ordering::SeqCst) == generation) {
                    self.release(group, &mut g, false).await?;
                }
            }
            "c" => {
                let state = self.lock_groups().get(group).cloned();
                if let Some(state) = state {
                    let mut g = state.write_owned().await;
                    if g.hot && g.generation.load(Ordering::SeqCst) == generation {
                        // That very row is gone: the ledger counts this slot's share again.
                        g.hot = false;
                        g.held = 0;
                        drop(g);
                        self.forget(group);
                    }
                }
            }
            _ => tracing::warn!(
                payload,
                "lockout memory admission ignored an unknown notice"
            ),
        }
        Ok(())
    }

    /// Drops the state of `group` if it is cold, holds nothing and nobody else has it.
    fn forget(&self, group: &str) {
        let mut groups = self.lock_groups();
        if let Some(state) = groups.get(group) {
            let idle = Arc::strong_count(state) == 1
                && state.try_read().is_ok_and(|g| !g.hot && g.held == 0);
            if idle {
                groups.remove(group);
            }
        }
    }

    /// The read guard of `group`, released (hot) here.
    async fn hot_guard(
        &self,
        group: &str,
    ) -> Result<OwnedRwLockReadGuard<GroupState>, sqlx::Error> {
        let state = self.state(group);
        {
            let r = state.clone().read_owned().await;
            if r.hot {
                return Ok(r);
            }
        }
        let mut w = state.write_owned().await;
        if !w.hot {
            self.release(group, &mut w, true).await?;
            if !w.hot {
                // The row vanished between making it and releasing in it: decided in the
                // ledger all the same (the next statement makes it again).
                w.hot = true;
                w.epoch += 1;
                w.generation.store(-1, Ordering::SeqCst);
            }
        }
        Ok(w.downgrade())
    }

    async fn update_held_sql(
        &self,
        group: Group<'_>,
        key: Option<&str>,
        unhold: bool,
        change: HeldChange<'_>,
    ) -> Result<Option<LedgerEntry>, activity_core::Error> {
        let guard = self.hot_guard(group.key).await.map_err(core)?;
        let slot = self.lock_lease().slot.unwrap_or(-1);
        let mut tx = self.pool.begin().await.map_err(core)?;
        if let Some(generation) = self
            .create_row(&mut tx, group.key, slot)
            .await
            .map_err(core)?
        {
            guard.generation.store(generation, Ordering::SeqCst);
        }
        let lock = if unhold { "UPDATE" } else { "SHARE" };
        let row = sqlx::query(sql(format!(
            "SELECT CASE WHEN pending_at < now() - make_interval(secs => $2) THEN 0 \
             ELSE pending END, \
             (SELECT count(*) FROM {slots} s WHERE s.expires > now() \
             AND NOT (s.slot = ANY(h.released))) \
             FROM {hot} h WHERE grp = $1 FOR {lock} OF h",
            hot = self.hot,
            slots = self.slots
        )))
        .bind(group.key)
        .bind(self.pending_timeout.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await
        .map_err(core)?;
        let (pending, unreleased): (i64, i64) = match row {
            Some(row) => (row.try_get(0).map_err(core)?, row.try_get(1).map_err(core)?),
            // Deleted under us: every live share counts.
            None => (0, i64::try_from(self.instances).unwrap_or(i64::MAX)),
        };
        let share = group.limit / self.instances;
        let mut held = pending.unsigned_abs() + unreleased.unsigned_abs() * share;
        if unhold {
            sqlx::query(sql(format!(
                "UPDATE {} SET pending = greatest(pending - 1, 0) WHERE grp = $1",
                self.hot
            )))
            .bind(group.key)
            .execute(&mut *tx)
            .await
            .map_err(core)?;
            held = held.saturating_sub(u64::from(pending > 0));
        }
        let entry = match key {
            Some(key) => Some(self.change_entry(&mut tx, key, held, change).await?),
            None => None,
        };
        tx.commit().await.map_err(core)?;
        drop(guard);
        Ok(entry)
    }

    async fn change_entry(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        key: &str,
        held: u64,
        change: HeldChange<'_>,
    ) -> Result<LedgerEntry, activity_core::Error> {
        sqlx::query(sql(format!(
            "INSERT INTO {} (key, entry) VALUES ($1, '{{}}') ON CONFLICT (key) DO NOTHING",
            self.ledger
        )))
        .bind(key)
        .execute(&mut **tx)
        .await
        .map_err(core)?;
        let text: String = sqlx::query(sql(format!(
            "SELECT entry FROM {} WHERE key = $1 FOR UPDATE",
            self.ledger
        )))
        .bind(key)
        .fetch_one(&mut **tx)
        .await
        .map_err(core)?
        .try_get(0)
        .map_err(core)?;
        let mut entry = decode(key, &text)?;
        change(&mut entry, held);
        sqlx::query(sql(format!(
            "UPDATE {} SET entry = $2, updated_at = now() WHERE key = $1",
            self.ledger
        )))
        .bind(key)
        .bind(encode(&entry)?)
        .execute(&mut **tx)
        .await
        .map_err(core)?;
        Ok(entry)
    }

    async fn cool_sql(&self, idle: Keep<'_>) -> Result<u64, activity_core::Error> {
        let rows = sqlx::query(sql(format!(
            "SELECT grp, generation FROM {} ORDER BY grp",
            self.hot
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(core)?;
        let mut cooled = 0;
        for row in rows {
            let group: String = row.try_get(0).map_err(core)?;
            let generation: i64 = row.try_get(1).map_err(core)?;
            let mut tx = self.pool.begin().await.map_err(core)?;
            let pending: Option<i64> = sqlx::query(sql(format!(
                "SELECT CASE WHEN pending_at < now() - make_interval(secs => $3) THEN 0 \
                 ELSE pending END FROM {} WHERE grp = $1 AND generation = $2 FOR UPDATE",
                self.hot
            )))
            .bind(&group)
            .bind(generation)
            .bind(self.pending_timeout.as_secs_f64())
            .fetch_optional(&mut *tx)
            .await
            .map_err(core)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(core)?;
            if pending != Some(0) {
                continue;
            }
            let entries = sqlx::query(sql(format!(
                "SELECT key, entry FROM {} WHERE starts_with(key, $1) FOR UPDATE",
                self.ledger
            )))
            .bind(&group)
            .fetch_all(&mut *tx)
            .await
            .map_err(core)?;
            let mut spent = true;
            for e in &entries {
                let key: String = e.try_get(0).map_err(core)?;
                let text: String = e.try_get(1).map_err(core)?;
                // A row that does not decode keeps the group hot.
                spent &= matches!(decode(&key, &text), Ok(entry) if idle(&key, &entry));
            }
            if !spent {
                continue;
            }
            sqlx::query(sql(format!("DELETE FROM {} WHERE grp = $1", self.hot)))
                .bind(&group)
                .execute(&mut *tx)
                .await
                .map_err(core)?;
            self.announce(&mut tx, 'c', generation, &group)
                .await
                .map_err(core)?;
            tx.commit().await.map_err(core)?;
            cooled += 1;
        }
        Ok(cooled)
    }
}

/// Renews the lease a third of its length before it ends, as long as the ledger lives.
async fn leases(shares: Weak<Shares>) {
    loop {
        let Some(s) = shares.upgrade() else { return };
        if s.pool.is_closed() {
            return;
        }
        let pause = s.ttl / 3;
        if let Err(e) = s.renew().await {
            tracing::warn!(error = %e, "lockout memory admission could not renew its slot");
        }
        drop(s);
        tokio::time::sleep(pause).await;
    }
}

/// Hears the channel; a lost connection (notices missed) or a new slot reads the hot
/// groups again.
async fn listen(shares: Weak<Shares>, mut listener: PgListener) {
    loop {
        let Some(s) = shares.upgrade() else { return };
        if s.pool.is_closed() {
            // The pool is closing: give its connection back.
            return;
        }
        let tick = s.ttl / 3;
        let heard = tokio::select! {
            heard = listener.try_recv() => Some(heard),
            () = s.resync.notified() => None,
            () = tokio::time::sleep(tick) => continue,
        };
        let result = match heard {
            Some(Ok(Some(notice))) => s.heard(notice.payload()).await,
            // Reconnected: what was said meanwhile is lost.
            Some(Ok(None)) => s.sync().await,
            Some(Err(sqlx::Error::PoolClosed)) => return,
            Some(Err(e)) => Err(e),
            None => s.sync().await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "lockout memory admission lost track of hot groups");
            s.lock_lease().synced = false;
            drop(s);
            tokio::time::sleep(tick).await;
            if let Some(s) = shares.upgrade() {
                s.resync.notify_one();
            }
        }
    }
}

#[async_trait]
impl MemoryAdmission for Shares {
    fn hold(&self, groups: &[Group<'_>]) -> Option<Hold> {
        self.slot_in_use()?;
        let mut map = self.lock_groups();
        let mut guards = Vec::with_capacity(groups.len());
        for group in groups {
            let share = group.limit / self.instances;
            let state = map.entry(group.key.to_owned()).or_default().clone();
            let g = state.try_write_owned().ok()?;
            if g.hot || g.held >= share {
                return None;
            }
            guards.push((group.key, g));
        }
        drop(map);
        let mut hold = Hold { groups: Vec::new() };
        for (key, mut g) in guards {
            g.held += 1;
            hold.groups.push((key.to_owned(), g.epoch));
        }
        Some(hold)
    }

    async fn end(&self, hold: Hold, failed: bool) -> activity_core::Result<Vec<bool>> {
        let mut moved = Vec::with_capacity(hold.groups.len());
        let mut error = None;
        for (group, epoch) in &hold.groups {
            let state = self.state(group);
            let mut g = state.clone().write_owned().await;
            if g.epoch != *epoch {
                moved.push(true);
            } else if failed && !g.hot {
                match self.release(group, &mut g, true).await {
                    Ok(()) if g.hot => moved.push(true),
                    result => {
                        // Not in the ledger: no more from memory for this group here, and
                        // this attempt is over.
                        g.hot = true;
                        g.generation.store(-1, Ordering::SeqCst);
                        g.held = g.held.saturating_sub(1);
                        moved.push(false);
                        if let Err(e) = result {
                            error.get_or_insert(e);
                        }
                    }
                }
            } else {
                g.held = g.held.saturating_sub(1);
                moved.push(false);
                let forget = !g.hot && g.held == 0;
                drop(g);
                if forget {
                    drop(state);
                    self.forget(group);
                }
            }
        }
        match error {
            Some(e) => Err(core(e)),
            None => Ok(moved),
        }
    }

    async fn update_held(
        &self,
        group: Group<'_>,
        key: Option<&str>,
        unhold: bool,
        change: HeldChange<'_>,
    ) -> activity_core::Result<Option<LedgerEntry>> {
        self.update_held_sql(group, key, unhold, change).await
    }

    fn is_cold(&self, group: &str) -> bool {
        match self.lock_groups().get(group) {
            Some(state) => state.try_read().is_ok_and(|g| !g.hot),
            None => true,
        }
    }

    async fn cool(&self, idle: Keep<'_>) -> activity_core::Result<u64> {
        self.cool_sql(idle).await
    }
}
