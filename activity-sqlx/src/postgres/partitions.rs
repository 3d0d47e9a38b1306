//! PostgreSQL's monthly partitions: created ahead by `migrate` and on first sight of a
//! new month, and dropped whole by the retention purge.

use activity_core::ActivityEvent;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::{AssertSqlSafe, Row};

use super::PgStore;
use crate::error::Error;
use crate::sql::Dialect;

/// Months of partitions kept ready ahead of the current one.
///
/// ```
/// // `migrate` creates this month's partition and this many after it.
/// assert_eq!(activity_sqlx::PARTITIONS_AHEAD, 3);
/// ```
pub const PARTITIONS_AHEAD: u32 = 3;

/// `[start, end)` of a month in microseconds since the epoch.
pub(super) fn month_bounds(year: i32, month: u32) -> (i64, i64) {
    let start = Utc
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp_micros());
    let (ny, nm) = next_month(year, month);
    let end = Utc
        .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
        .single()
        .map_or(i64::MAX, |t| t.timestamp_micros());
    (start, end)
}

pub(super) fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

impl PgStore {
    fn partition_name(&self, year: i32, month: u32) -> String {
        format!("{}_p{year:04}{month:02}", self.tables.events)
    }

    /// Makes sure the partition of `year`-`month` exists, moving any rows of that month
    /// out of the default partition.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// store.ensure_partition(2027, 1).await?; // `activity_events_p202701`
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Sqlx`], e.g. when the role may not create tables.
    pub async fn ensure_partition(&self, year: i32, month: u32) -> Result<(), Error> {
        if self
            .known_months
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(year, month))
        {
            return Ok(());
        }
        let name = self.partition_name(year, month);
        let (start, end) = month_bounds(year, month);
        let parent = &self.tables.events;
        let default = format!("{parent}_default");
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("activity-partition:{parent}"))
            .execute(&mut *tx)
            .await?;
        let exists: bool = sqlx::query("SELECT to_regclass($1) IS NOT NULL")
            .bind(&name)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        if !exists {
            let statements = [
                format!("CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
                format!("INSERT INTO {name} SELECT * FROM {default} WHERE time_us >= {start} AND time_us < {end}"),
                format!("DELETE FROM {default} WHERE time_us >= {start} AND time_us < {end}"),
                format!("ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})"),
            ];
            for s in statements {
                sqlx::query(AssertSqlSafe(s)).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        self.known_months
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((year, month));
        Ok(())
    }

    /// Drops every monthly partition that ends at or before `cutoff`, returning how
    /// many rows went with them. A partition that `cutoff` falls inside is kept (its
    /// expired rows are for [`ActivityStore::delete`](activity_core::ActivityStore::delete)).
    /// Only for a cut-off that holds for every tenant (no legal hold, the shortest
    /// retention): dropping a partition removes all tenants' events in it.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// let cutoff = chrono::Utc::now() - chrono::Duration::days(400);
    /// let dropped = store.drop_partitions_before(cutoff).await?;
    /// println!("{dropped} events went with their months");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Sqlx`], e.g. when the role may not drop tables.
    pub async fn drop_partitions_before(&self, cutoff: DateTime<Utc>) -> Result<u64, Error> {
        Ok(self.drop_partitions(cutoff).await?.total())
    }

    /// Drops the partitions ending at or before `cutoff`, counting their rows per tenant
    /// in the same transaction as each drop.
    async fn drop_partitions(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<activity_core::store::DroppedPartitions, Error> {
        let pattern = format!("{}_p______", self.tables.events);
        let rows = sqlx::query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass($1) AND c.relname LIKE $2 ORDER BY 1",
        )
        .bind(&self.tables.events)
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?;
        let mut out = activity_core::store::DroppedPartitions::default();
        let mut by: std::collections::BTreeMap<Option<String>, u64> = Default::default();
        for row in rows {
            let name: String = row.get(0);
            let digits = &name[name.len() - 6..];
            let (Ok(y), Ok(m)) = (digits[..4].parse::<i32>(), digits[4..].parse::<u32>()) else {
                continue;
            };
            let (_, end) = month_bounds(y, m);
            if end > cutoff.timestamp_micros() {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            let counts = sqlx::query(AssertSqlSafe(format!(
                "SELECT tenant, COUNT(*) FROM {name} GROUP BY tenant"
            )))
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            self.known_months
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(y, m));
            for c in counts {
                let t: Option<String> = c.get(0);
                let n: i64 = c.get(1);
                *by.entry(t).or_default() += n as u64;
            }
            out.partitions.push(name);
        }
        out.events = by.into_iter().collect();
        Ok(out)
    }

    /// The purger's hook: [`drop_partitions_before`](Self::drop_partitions_before) with
    /// the counts per tenant.
    pub(super) async fn drop_partitions_hook(
        &self,
        before: DateTime<Utc>,
    ) -> activity_core::Result<activity_core::store::DroppedPartitions> {
        self.drop_partitions(before)
            .await
            .map_err(|e| e.into_core(Dialect::Postgres))
    }

    /// Creates the partitions a batch needs (and the month after each), once per month
    /// per process. A role that may not create tables still appends: its rows go to the
    /// default partition.
    pub(super) async fn ensure_months(
        &self,
        events: &[ActivityEvent],
    ) -> activity_core::Result<()> {
        let mut months: Vec<(i32, u32)> = Vec::new();
        {
            let known = self.known_months.lock().unwrap_or_else(|p| p.into_inner());
            for e in events {
                let ym = (e.time.year(), e.time.month());
                if !known.contains(&ym) && !months.contains(&ym) {
                    months.push(ym);
                }
            }
        }
        for (y, m) in months {
            for (yy, mm) in [(y, m), next_month(y, m)] {
                if let Err(e) = self.ensure_partition(yy, mm).await {
                    // A role that may insert but not create tables (the least privilege
                    // an app should run with) cannot add partitions: that is no outage.
                    let not_allowed = matches!(
                        &e,
                        Error::Sqlx(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501")
                    );
                    let core = e.into_core(Dialect::Postgres);
                    if core.is_retryable() && !not_allowed {
                        return Err(core);
                    }
                    tracing::warn!(error = %core, "cannot create partition; rows go to the default partition");
                    self.known_months
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((yy, mm));
                }
            }
        }
        Ok(())
    }
}
