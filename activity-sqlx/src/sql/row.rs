//! An event as the bind values of one row, and a decoded row back as the event.

use activity_core::{Action, ActivityEvent, Actor, ChainLink, Geo, Outcome, Source, Target};
use chrono::{TimeZone, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use super::{Dialect, Val};
use crate::error::to_core_from;

/// The event columns, in insert and select order.
pub(crate) const COLUMNS: &[&str] = &[
    "id",
    "time_us",
    "tenant",
    "action",
    "outcome",
    "reason",
    "actor_id",
    "actor_name",
    "actor_type",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "user_agent",
    "device_id",
    "geo_country",
    "geo_city",
    "geo_lat",
    "geo_lon",
    "geo_accuracy_km",
    "session",
    "request_id",
    "details",
    "chain_writer",
    "chain_seq",
    "chain_prev",
    "chain_hash",
];

/// The index of `details` in [`COLUMNS`] (bound as JSON where the backend needs a cast).
pub(crate) const DETAILS_COLUMN: usize = 22;

fn text(s: &Option<String>) -> Val {
    Val::Text(s.clone())
}

/// The bind values of one event, in [`COLUMNS`] order.
pub(crate) fn event_values(e: &ActivityEvent) -> [Val; 27] {
    let actor = e.actor.as_ref();
    let target = e.target.as_ref();
    let source = e.source.as_ref();
    let geo = source.and_then(|s| s.geo.as_ref());
    let chain = e.chain.as_ref();
    [
        Val::Bytes(e.id.as_bytes().to_vec()),
        Val::Int(Some(e.time.timestamp_micros())),
        text(&e.tenant),
        Val::Text(Some(e.action.to_string())),
        Val::Text(Some(e.outcome.as_str().to_owned())),
        text(&e.reason),
        Val::Text(actor.map(|a| a.id.clone())),
        Val::Text(actor.and_then(|a| a.name.clone())),
        Val::Text(actor.and_then(|a| a.kind.clone())),
        Val::Text(target.map(|t| t.kind.clone())),
        Val::Text(target.and_then(|t| t.id.clone())),
        Val::Text(target.and_then(|t| t.name.clone())),
        Val::Text(
            source
                .and_then(|s| s.ip)
                .map(|ip| ip.to_canonical().to_string()),
        ),
        Val::Text(source.and_then(|s| s.user_agent.clone())),
        Val::Text(source.and_then(|s| s.device_id.clone())),
        Val::Text(geo.and_then(|g| g.country.clone())),
        Val::Text(geo.and_then(|g| g.city.clone())),
        Val::Real(geo.and_then(|g| g.lat)),
        Val::Real(geo.and_then(|g| g.lon)),
        Val::Int(geo.and_then(|g| g.accuracy_km).map(i64::from)),
        text(&e.session),
        text(&e.request_id),
        Val::Text(
            e.details
                .as_ref()
                .map(|d| serde_json::Value::Object(d.clone()).to_string()),
        ),
        Val::Text(chain.map(|c| c.writer.clone())),
        Val::Int(chain.map(|c| c.seq as i64)),
        Val::Text(chain.map(|c| c.prev.clone())),
        Val::Text(chain.map(|c| c.hash.clone())),
    ]
}

/// A row as the backend decoded it, in [`COLUMNS`] order.
#[derive(Debug, Default)]
pub(crate) struct RawRow {
    pub id: Vec<u8>,
    pub time_us: i64,
    pub texts: [Option<String>; 20],
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_km: Option<i64>,
    pub chain_seq: Option<i64>,
}

/// Which [`COLUMNS`] are text, in order: the indexes into [`RawRow::texts`].
pub(crate) const TEXT_COLUMNS: [usize; 20] = [
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 25,
];

/// `chain_hash` is the one text column after `chain_seq` (index 26); kept apart so the
/// text array stays in column order up to 25.
pub(crate) const CHAIN_HASH_COLUMN: usize = 26;

fn bad(what: &str) -> activity_core::Error {
    activity_core::Error::backend(format!("stored row has an invalid {what}"), None)
}

/// Rebuilds the event from a decoded row.
pub(crate) fn event_from_row(
    r: RawRow,
    chain_hash: Option<String>,
) -> activity_core::Result<ActivityEvent> {
    let [tenant, action, outcome, reason, actor_id, actor_name, actor_type, target_type, target_id, target_name, ip, user_agent, device_id, country, city, session, request_id, details, chain_writer, chain_prev] =
        r.texts;
    let id = Uuid::from_slice(&r.id).map_err(|_| bad("id"))?;
    let time = Utc
        .timestamp_micros(r.time_us)
        .single()
        .ok_or_else(|| bad("time"))?;
    let action = Action::new(action.ok_or_else(|| bad("action"))?).map_err(|_| bad("action"))?;
    let outcome = outcome
        .as_deref()
        .and_then(Outcome::parse)
        .ok_or_else(|| bad("outcome"))?;
    let actor = actor_id.map(|id| Actor {
        id,
        name: actor_name,
        kind: actor_type,
    });
    let target = target_type.map(|kind| Target {
        kind,
        id: target_id,
        name: target_name,
    });
    let geo = if country.is_some()
        || city.is_some()
        || r.lat.is_some()
        || r.lon.is_some()
        || r.accuracy_km.is_some()
    {
        Some(Geo {
            country,
            city,
            lat: r.lat,
            lon: r.lon,
            accuracy_km: r.accuracy_km.and_then(|a| u32::try_from(a).ok()),
        })
    } else {
        None
    };
    let ip = match ip {
        Some(s) => Some(s.parse().map_err(|_| bad("ip"))?),
        None => None,
    };
    let source = Source {
        ip,
        user_agent,
        device_id,
        geo,
    };
    let details = match details {
        Some(d) => {
            match serde_json::from_str::<serde_json::Value>(&d).map_err(|_| bad("details"))? {
                serde_json::Value::Object(m) => Some(m),
                _ => return Err(bad("details")),
            }
        }
        None => None,
    };
    let chain = match (chain_writer, r.chain_seq, chain_prev, chain_hash) {
        (Some(writer), Some(seq), Some(prev), Some(hash)) => Some(ChainLink {
            writer,
            seq: u64::try_from(seq).map_err(|_| bad("chain seq"))?,
            prev,
            hash,
        }),
        _ => None,
    };
    Ok(ActivityEvent {
        id,
        time,
        tenant,
        action,
        outcome,
        reason,
        actor,
        target,
        source: if source.is_empty() {
            None
        } else {
            Some(source)
        },
        session,
        request_id,
        details,
        chain,
    })
}

/// Decodes a row of [`COLUMNS`] from any backend (SQLite reads JSON instead).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn decode_row<R>(row: &R, dialect: Dialect) -> activity_core::Result<ActivityEvent>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let err = |e: sqlx::Error| to_core_from(dialect, e);
    let mut raw = RawRow {
        id: row.try_get(0).map_err(err)?,
        time_us: row.try_get(1).map_err(err)?,
        lat: row.try_get(17).map_err(err)?,
        lon: row.try_get(18).map_err(err)?,
        accuracy_km: row.try_get(19).map_err(err)?,
        chain_seq: row.try_get(24).map_err(err)?,
        ..RawRow::default()
    };
    for (slot, col) in TEXT_COLUMNS.iter().enumerate() {
        raw.texts[slot] = row.try_get(*col).map_err(err)?;
    }
    let hash: Option<String> = row.try_get(CHAIN_HASH_COLUMN).map_err(err)?;
    event_from_row(raw, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_columns_line_up() {
        for (slot, col) in TEXT_COLUMNS.iter().enumerate() {
            assert!(
                !matches!(
                    COLUMNS[*col],
                    "time_us" | "geo_lat" | "geo_lon" | "geo_accuracy_km" | "chain_seq" | "id"
                ),
                "slot {slot} is {}",
                COLUMNS[*col]
            );
        }
        assert_eq!(COLUMNS[DETAILS_COLUMN], "details");
        assert_eq!(COLUMNS[CHAIN_HASH_COLUMN], "chain_hash");
    }
}
