//! [`PgLedger`]: the lockout's counters in PostgreSQL, shared by every app instance, so that
//! parallel attempts on several instances reserve at most the threshold between them.

use std::sync::Arc;

use activity_core::lockout::{Change, Keep, LedgerEntry, LockoutLedger, MemoryAdmission};
use async_trait::async_trait;
use sqlx::{AssertSqlSafe, PgPool, Row};

mod memory;

use crate::error::to_core_from;
use crate::sql::Dialect;
use crate::PgStore;

/// The lockout ledger in PostgreSQL: one row per key (`<prefix>activity_lockout`), each
/// decision one transaction holding that row's lock (`SELECT … FOR UPDATE`).
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use activity_core::{lockout::LockoutConfig, lockout::LockoutPolicy, ActivityStore};
/// use activity_sqlx::{PgLedger, PgStore};
/// let store = PgStore::connect("postgres://app@db/app").await?;
/// store.migrate().await?;
/// let ledger = PgLedger::for_store(&store);
/// ledger.migrate().await?;
/// let store: Arc<dyn ActivityStore> = Arc::new(store);
/// let policy = LockoutPolicy::new(store, LockoutConfig::default()).ledger(Arc::new(ledger));
/// # Ok(()) }
/// ```
///
/// With [`memory_admission`](Self::memory_admission), attempts on accounts and addresses
/// with no recent failures are admitted from memory, without a round trip.
#[derive(Debug, Clone)]
pub struct PgLedger {
    pool: PgPool,
    table: String,
    memory: Option<Arc<memory::Shares>>,
}

impl PgLedger {
    /// The ledger beside `store`'s tables (same pool and prefix).
    pub fn for_store(store: &PgStore) -> Self {
        Self {
            pool: store.pool().clone(),
            table: format!("{}activity_lockout", store.tables().prefix),
            memory: None,
        }
    }

    /// Admits attempts on accounts and addresses with no recent failures from memory,
    /// among `instances` app instances sharing this ledger (every one started with the
    /// same number and the same lockout settings). Each takes one of `instances` slots
    /// and may then have up to `threshold / instances` attempts of each such account (and
    /// `capacity / instances` of each address's budget) in flight without asking the
    /// database; the database counts those shares until a failure turns the account hot,
    /// when every instance moves its attempts in flight into the database (told by
    /// `NOTIFY`) and decides there from then on. So `N` parallel wrong passwords on any
    /// mix of instances still let at most the threshold through, and a sign-in with no
    /// recent failures costs no round trip. An instance beyond `instances` (no free slot)
    /// decides everything in the database.
    ///
    /// It holds one connection of the pool for `LISTEN` and renews its slot every five
    /// seconds (a slot is free again fifteen seconds after its instance stops). Run
    /// [`LockoutPolicy::prune`](activity_core::lockout::LockoutPolicy::prune)
    /// periodically: it also turns accounts cold again.
    ///
    /// ```no_run
    /// # async fn f(store: &activity_sqlx::PgStore) -> Result<(), Box<dyn std::error::Error>> {
    /// use activity_sqlx::PgLedger;
    /// let ledger = PgLedger::for_store(store);
    /// ledger.migrate().await?;
    /// let ledger = ledger.memory_admission(2).await?;
    /// assert!(ledger.memory_ready());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Instances`](crate::Error::Instances) when `instances` is 0 or differs from
    /// what the instances already sharing the ledger were started with; the database's.
    pub async fn memory_admission(mut self, instances: u64) -> Result<Self, crate::Error> {
        let shares =
            memory::Shares::start(self.pool.clone(), self.table.clone(), instances).await?;
        self.memory = Some(shares);
        Ok(self)
    }

    /// Whether attempts are admitted from memory now: memory admission is on, this
    /// instance holds a slot, and it knows the hot accounts.
    pub fn memory_ready(&self) -> bool {
        self.memory.as_ref().is_some_and(|m| m.ready())
    }

    /// The table it keeps its rows in.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates its table if it is missing.
    ///
    /// # Errors
    /// The database's.
    pub async fn migrate(&self) -> Result<(), crate::Error> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, entry TEXT NOT NULL, \
             updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            self.table
        );
        sqlx::query(AssertSqlSafe(sql.clone()))
            .execute(&self.pool)
            .await?;
        memory::migrate(&self.pool, &self.table).await?;
        Ok(())
    }
}

fn core(e: sqlx::Error) -> activity_core::Error {
    to_core_from(Dialect::Postgres, e)
}

/// An entry read back: a row that does not decode is an error naming the key, never a
/// guess at its counts.
fn decode(key: &str, text: &str) -> activity_core::Result<LedgerEntry> {
    serde_json::from_str(text).map_err(|e| {
        activity_core::Error::backend(
            format!("lockout ledger row {key:?} does not decode"),
            Some(Box::new(e)),
        )
    })
}

fn encode(entry: &LedgerEntry) -> activity_core::Result<String> {
    serde_json::to_string(entry).map_err(|e| {
        activity_core::Error::backend("lockout ledger entry does not encode", Some(Box::new(e)))
    })
}

#[async_trait]
impl LockoutLedger for PgLedger {
    async fn update(&self, key: &str, change: Change<'_>) -> activity_core::Result<LedgerEntry> {
        let mut tx = self.pool.begin().await.map_err(core)?;
        let insert = format!(
            "INSERT INTO {} (key, entry) VALUES ($1, '{{}}') ON CONFLICT (key) DO NOTHING",
            self.table
        );
        sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(core)?;
        let select = format!("SELECT entry FROM {} WHERE key = $1 FOR UPDATE", self.table);
        let text: String = sqlx::query(AssertSqlSafe(select.clone()))
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(core)?
            .try_get(0)
            .map_err(core)?;
        let mut entry = decode(key, &text)?;
        change(&mut entry);
        let update = format!(
            "UPDATE {} SET entry = $2, updated_at = now() WHERE key = $1",
            self.table
        );
        sqlx::query(AssertSqlSafe(update.clone()))
            .bind(key)
            .bind(encode(&entry)?)
            .execute(&mut *tx)
            .await
            .map_err(core)?;
        tx.commit().await.map_err(core)?;
        Ok(entry)
    }

    async fn get(&self, key: &str) -> activity_core::Result<Option<LedgerEntry>> {
        let select = format!("SELECT entry FROM {} WHERE key = $1", self.table);
        let row = sqlx::query(AssertSqlSafe(select.clone()))
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(core)?;
        match row {
            Some(row) => {
                let text: String = row.try_get(0).map_err(core)?;
                Ok(Some(decode(key, &text)?))
            }
            None => Ok(None),
        }
    }

    async fn retain(&self, keep: Keep<'_>) -> activity_core::Result<u64> {
        // In pages of keys, each page one transaction holding its rows' locks (rows being
        // changed by an attempt right now are skipped: they are not idle).
        let select = format!(
            "SELECT key, entry FROM {} WHERE key > $1 ORDER BY key LIMIT 1000 \
             FOR UPDATE SKIP LOCKED",
            self.table
        );
        let delete = format!("DELETE FROM {} WHERE key = ANY($1)", self.table);
        let (mut after, mut removed) = (String::new(), 0u64);
        loop {
            let mut tx = self.pool.begin().await.map_err(core)?;
            let rows = sqlx::query(AssertSqlSafe(select.clone()))
                .bind(&after)
                .fetch_all(&mut *tx)
                .await
                .map_err(core)?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.try_get(0).map_err(core)?;
            let mut gone = Vec::new();
            for row in &rows {
                let key: String = row.try_get(0).map_err(core)?;
                let text: String = row.try_get(1).map_err(core)?;
                // A row that does not decode is kept for an operator to look at.
                if matches!(decode(&key, &text), Ok(e) if !keep(&key, &e)) {
                    gone.push(key);
                }
            }
            if !gone.is_empty() {
                removed += sqlx::query(AssertSqlSafe(delete.clone()))
                    .bind(&gone)
                    .execute(&mut *tx)
                    .await
                    .map_err(core)?
                    .rows_affected();
            }
            tx.commit().await.map_err(core)?;
        }
        Ok(removed)
    }

    async fn update_prefix(&self, prefix: &str, change: Change<'_>) -> activity_core::Result<u64> {
        let mut tx = self.pool.begin().await.map_err(core)?;
        let select = format!(
            "SELECT key, entry FROM {} WHERE starts_with(key, $1) ORDER BY key FOR UPDATE",
            self.table
        );
        let rows = sqlx::query(AssertSqlSafe(select.clone()))
            .bind(prefix)
            .fetch_all(&mut *tx)
            .await
            .map_err(core)?;
        let update = format!(
            "UPDATE {} SET entry = $2, updated_at = now() WHERE key = $1",
            self.table
        );
        let mut n = 0;
        for row in rows {
            let key: String = row.try_get(0).map_err(core)?;
            let text: String = row.try_get(1).map_err(core)?;
            let before = decode(&key, &text)?;
            let mut entry = before.clone();
            change(&mut entry);
            if entry != before {
                sqlx::query(AssertSqlSafe(update.clone()))
                    .bind(&key)
                    .bind(encode(&entry)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(core)?;
            }
            n += 1;
        }
        tx.commit().await.map_err(core)?;
        Ok(n)
    }

    fn memory(&self) -> Option<&dyn MemoryAdmission> {
        self.memory.as_deref().map(|m| m as &dyn MemoryAdmission)
    }
}
