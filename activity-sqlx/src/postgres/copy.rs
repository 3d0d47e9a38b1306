//! How PostgreSQL writes a chunk: `COPY … (FORMAT binary)` inside a savepoint, or the
//! `INSERT … SELECT FROM UNNEST(arrays)` that skips ids already stored.

use activity_core::ActivityEvent;
use sqlx::{AssertSqlSafe, Postgres};

use super::PgStore;
use crate::sql::{self, Val};

impl PgStore {
    /// Writes a chunk: with `COPY` in binary format inside a savepoint; a chunk that
    /// meets an id already stored (a retried batch, or the same event twice) rolls back
    /// to the savepoint and goes through the `UNNEST` insert, which skips those.
    pub(super) async fn write_chunk(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        chunk: &[ActivityEvent],
    ) -> Result<u64, sqlx::Error> {
        if !self.copy {
            return self.insert_unnest(tx, chunk).await;
        }
        sqlx::query("SAVEPOINT activity_copy")
            .execute(&mut **tx)
            .await?;
        match self.copy_chunk(tx, chunk).await {
            Ok(n) => {
                sqlx::query("RELEASE SAVEPOINT activity_copy")
                    .execute(&mut **tx)
                    .await?;
                Ok(n)
            }
            Err(e)
                if e.as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "23505") =>
            {
                sqlx::query("ROLLBACK TO SAVEPOINT activity_copy")
                    .execute(&mut **tx)
                    .await?;
                self.insert_unnest(tx, chunk).await
            }
            Err(e) => Err(e),
        }
    }

    /// `COPY <events> (COLUMNS) FROM STDIN (FORMAT binary)` of a chunk: values travel in
    /// PostgreSQL's binary representation, so no text is ever escaped or parsed.
    async fn copy_chunk(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        chunk: &[ActivityEvent],
    ) -> Result<u64, sqlx::Error> {
        let statement = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            self.tables.events,
            sql::COLUMNS.join(", ")
        );
        let data = copy_binary(chunk);
        let mut copy = tx.copy_in_raw(&statement).await?;
        if let Err(e) = copy.send(data).await {
            // The connection is mid-COPY: end it (the transaction is then rolled back).
            let _ = copy.abort("activity: sending the batch failed").await;
            return Err(e);
        }
        copy.finish().await
    }

    /// Inserts a chunk with one `INSERT … SELECT FROM UNNEST(arrays)`: 27 array parameters
    /// instead of 27 per row, which PostgreSQL plans and parses once.
    async fn insert_unnest(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        chunk: &[ActivityEvent],
    ) -> Result<u64, sqlx::Error> {
        let n = chunk.len();
        let mut ids: Vec<Vec<u8>> = Vec::with_capacity(n);
        let mut ints: [Vec<Option<i64>>; 3] = Default::default(); // time_us, accuracy, chain_seq
        let mut reals: [Vec<Option<f64>>; 2] = Default::default();
        let mut texts: Vec<Vec<Option<String>>> = (0..21).map(|_| Vec::with_capacity(n)).collect();
        for e in chunk {
            let mut t = 0;
            for (col, v) in sql::event_values(e).into_iter().enumerate() {
                match (col, v) {
                    (0, Val::Bytes(b)) => ids.push(b),
                    (1, Val::Int(x)) => ints[0].push(x),
                    (19, Val::Int(x)) => ints[1].push(x),
                    (24, Val::Int(x)) => ints[2].push(x),
                    (17, Val::Real(x)) => reals[0].push(x),
                    (18, Val::Real(x)) => reals[1].push(x),
                    (_, Val::Text(x)) => {
                        texts[t].push(x);
                        t += 1;
                    }
                    _ => {}
                }
            }
        }
        // Column order of the UNNEST list, matched to COLUMNS by the names below.
        let text_cols: Vec<&str> = sql::COLUMNS
            .iter()
            .enumerate()
            .filter(|(i, _)| !matches!(i, 0 | 1 | 17 | 18 | 19 | 24))
            .map(|(_, c)| *c)
            .collect();
        let mut params = vec![
            "$1::bytea[]".to_string(),
            "$2::bigint[]".into(),
            "$3::bigint[]".into(),
            "$4::bigint[]".into(),
            "$5::float8[]".into(),
            "$6::float8[]".into(),
        ];
        let mut names = vec![
            "id",
            "time_us",
            "geo_accuracy_km",
            "chain_seq",
            "geo_lat",
            "geo_lon",
        ];
        for (i, c) in text_cols.iter().enumerate() {
            params.push(format!("${}::text[]", i + 7));
            names.push(c);
        }
        let select: Vec<String> = names
            .iter()
            .map(|c| {
                if *c == "details" {
                    "details::json".to_string()
                } else {
                    (*c).to_string()
                }
            })
            .collect();
        let sql_text = format!(
            "INSERT INTO {} ({}) SELECT {} FROM UNNEST({}) AS u({}) ON CONFLICT DO NOTHING",
            self.tables.events,
            names.join(", "),
            select.join(", "),
            params.join(", "),
            names.join(", ")
        );
        let [time_us, accuracy, seq] = ints;
        let [lat, lon] = reals;
        let mut q = sqlx::query(AssertSqlSafe(sql_text))
            .bind(ids)
            .bind(time_us)
            .bind(accuracy)
            .bind(seq)
            .bind(lat)
            .bind(lon);
        for col in texts {
            q = q.bind(col);
        }
        Ok(q.execute(&mut **tx).await?.rows_affected())
    }
}

/// The `COPY … (FORMAT binary)` stream of `events` in [`sql::COLUMNS`] order: the
/// signature and header, then per row the field count and each field as a length and
/// its bytes (-1 for NULL), then the trailer. `bytea` is the raw bytes, `bigint` and
/// `float8` big-endian, `text` and `json` UTF-8.
fn copy_binary(events: &[ActivityEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + events.len() * 400);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let field = |out: &mut Vec<u8>, bytes: &[u8]| {
        // Every value is capped far below 2 GiB by validation.
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    let null = |out: &mut Vec<u8>| out.extend_from_slice(&(-1i32).to_be_bytes());
    for e in events {
        out.extend_from_slice(&(sql::COLUMNS.len() as i16).to_be_bytes());
        for v in sql::event_values(e) {
            match v {
                Val::Bytes(b) => field(&mut out, &b),
                Val::Int(Some(x)) => field(&mut out, &x.to_be_bytes()),
                Val::Real(Some(x)) => field(&mut out, &x.to_bits().to_be_bytes()),
                Val::Text(Some(t)) => field(&mut out, t.as_bytes()),
                Val::Int(None) | Val::Real(None) | Val::Text(None) => null(&mut out),
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}
