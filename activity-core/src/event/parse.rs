//! Reading an event from untrusted JSON, with errors that name the field.
//!
//! Every value is taken from a `serde_json::Map` by hand so that a wrong type, an unknown
//! field or an over-long value is reported as `Error::Invalid { field, rule }`.

use std::net::IpAddr;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{now_micros, Action, ActivityEvent, Actor, ChainLink, Geo, Outcome, Source, Target};
use crate::error::{Error, Result, Rule};

const EVENT_FIELDS: &str = "id, time, tenant, action, outcome, reason, actor, target, source, session, request_id, details, chain";

pub(super) fn from_map(mut map: Map<String, Value>) -> Result<ActivityEvent> {
    let action = match map.remove("action") {
        None | Some(Value::Null) => return Err(Error::invalid("action", Rule::Missing)),
        Some(v) => Action::new(string("action", v)?)?,
    };
    let id = match opt_string("id", map.remove("id"))? {
        None => Uuid::now_v7(),
        Some(s) => {
            Uuid::try_parse(&s).map_err(|_| Error::invalid("id", Rule::Malformed("a UUID")))?
        }
    };
    let time = match opt_string("time", map.remove("time"))? {
        None => now_micros(),
        Some(s) => parse_time("time", &s)?,
    };
    let outcome = match opt_string("outcome", map.remove("outcome"))? {
        None => Outcome::Unknown,
        Some(s) => Outcome::parse(&s)
            .ok_or_else(|| Error::invalid("outcome", Rule::Unknown("success, failure, unknown")))?,
    };
    let mut event = ActivityEvent {
        id,
        time,
        tenant: opt_string("tenant", map.remove("tenant"))?,
        action,
        outcome,
        reason: opt_string("reason", map.remove("reason"))?,
        actor: opt_object("actor", map.remove("actor"))?
            .map(actor)
            .transpose()?,
        target: opt_object("target", map.remove("target"))?
            .map(target)
            .transpose()?,
        source: opt_object("source", map.remove("source"))?
            .map(source)
            .transpose()?,
        session: opt_string("session", map.remove("session"))?,
        request_id: opt_string("request_id", map.remove("request_id"))?,
        details: opt_object("details", map.remove("details"))?,
        chain: opt_object("chain", map.remove("chain"))?
            .map(chain)
            .transpose()?,
    };
    no_unknown("", &map, EVENT_FIELDS)?;
    event.normalize();
    event.validate()?;
    Ok(event)
}

/// Parses an RFC 3339 time with any offset into UTC, truncated to microseconds, with an
/// error naming `field`.
///
/// ```
/// let t = activity_core::event::parse_time("since", "2026-11-24T06:30:00Z").unwrap();
/// assert_eq!(t.timestamp(), 1795501800);
/// assert!(activity_core::event::parse_time("since", "yesterday").is_err());
/// ```
///
/// # Errors
/// [`Error::Invalid`](crate::Error::Invalid) when `value` is not RFC 3339.
pub fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(6))
        .map_err(|_| {
            Error::invalid(
                field,
                Rule::Malformed("an RFC 3339 time such as 2026-11-24T06:30:00.123Z"),
            )
        })
}

fn no_unknown(prefix: &str, map: &Map<String, Value>, accepted: &'static str) -> Result<()> {
    match map.keys().next() {
        None => Ok(()),
        Some(key) => {
            // Never echo a hostile key at length.
            let key: String = key.chars().take(64).collect();
            Err(Error::invalid(
                format!("{prefix}{key}"),
                Rule::Unknown(accepted),
            ))
        }
    }
}

fn string(field: &str, v: Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(Error::invalid(field, Rule::Malformed("a string"))),
    }
}

fn opt_string(field: &str, v: Option<Value>) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(field, v).map(Some),
    }
}

fn opt_object(field: &str, v: Option<Value>) -> Result<Option<Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(Error::invalid(field, Rule::NotAnObject)),
    }
}

fn actor(mut m: Map<String, Value>) -> Result<Actor> {
    let id = opt_string("actor.id", m.remove("id"))?
        .ok_or_else(|| Error::invalid("actor.id", Rule::Missing))?;
    let a = Actor {
        id,
        name: opt_string("actor.name", m.remove("name"))?,
        kind: opt_string("actor.type", m.remove("type"))?,
    };
    no_unknown("actor.", &m, "id, name, type")?;
    Ok(a)
}

fn target(mut m: Map<String, Value>) -> Result<Target> {
    let kind = opt_string("target.type", m.remove("type"))?
        .ok_or_else(|| Error::invalid("target.type", Rule::Missing))?;
    let t = Target {
        kind,
        id: opt_string("target.id", m.remove("id"))?,
        name: opt_string("target.name", m.remove("name"))?,
    };
    no_unknown("target.", &m, "type, id, name")?;
    Ok(t)
}

fn source(mut m: Map<String, Value>) -> Result<Source> {
    let ip = match opt_string("source.ip", m.remove("ip"))? {
        None => None,
        Some(s) => Some(s.parse::<IpAddr>().map_err(|_| {
            Error::invalid("source.ip", Rule::Malformed("an IPv4 or IPv6 address"))
        })?),
    };
    let s = Source {
        ip,
        user_agent: opt_string("source.user_agent", m.remove("user_agent"))?,
        device_id: opt_string("source.device_id", m.remove("device_id"))?,
        geo: opt_object("source.geo", m.remove("geo"))?
            .map(geo)
            .transpose()?,
    };
    no_unknown("source.", &m, "ip, user_agent, device_id, geo")?;
    Ok(s)
}

fn number(field: &str, v: Option<Value>) -> Result<Option<f64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| Error::invalid(field, Rule::Malformed("a number"))),
        Some(_) => Err(Error::invalid(field, Rule::Malformed("a number"))),
    }
}

fn geo(mut m: Map<String, Value>) -> Result<Geo> {
    let accuracy_km = match m.remove("accuracy_km") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(
            || {
                Error::invalid(
                    "source.geo.accuracy_km",
                    Rule::OutOfRange("a whole number of km"),
                )
            },
        )?),
        Some(_) => {
            return Err(Error::invalid(
                "source.geo.accuracy_km",
                Rule::Malformed("a number"),
            ))
        }
    };
    let g = Geo {
        country: opt_string("source.geo.country", m.remove("country"))?,
        city: opt_string("source.geo.city", m.remove("city"))?,
        lat: number("source.geo.lat", m.remove("lat"))?,
        lon: number("source.geo.lon", m.remove("lon"))?,
        accuracy_km,
    };
    no_unknown("source.geo.", &m, "country, city, lat, lon, accuracy_km")?;
    Ok(g)
}

fn chain(mut m: Map<String, Value>) -> Result<ChainLink> {
    let seq = match m.remove("seq") {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| Error::invalid("chain.seq", Rule::OutOfRange("from 1")))?,
        _ => return Err(Error::invalid("chain.seq", Rule::Missing)),
    };
    let link = ChainLink {
        writer: opt_string("chain.writer", m.remove("writer"))?
            .ok_or_else(|| Error::invalid("chain.writer", Rule::Missing))?,
        seq,
        prev: opt_string("chain.prev", m.remove("prev"))?
            .ok_or_else(|| Error::invalid("chain.prev", Rule::Missing))?,
        hash: opt_string("chain.hash", m.remove("hash"))?
            .ok_or_else(|| Error::invalid("chain.hash", Rule::Missing))?,
    };
    no_unknown("chain.", &m, "writer, seq, prev, hash")?;
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC: &str = r#"{
      "id": "0193a5c4-7d2e-7b3a-9f1e-2c4d5e6f7a8b",
      "time": "2026-11-24T06:30:00.123Z",
      "tenant": "acme",
      "action": "auth.login.failed",
      "outcome": "failure",
      "reason": "bad_password",
      "actor": { "id": "u_123", "name": "alice@example.com", "type": "user" },
      "target": { "type": "user", "id": "u_123", "name": "alice@example.com" },
      "source": {
        "ip": "81.2.69.142",
        "user_agent": "Mozilla/5.0 ...",
        "device_id": "d_5f1c",
        "geo": { "country": "GB", "city": "London", "lat": 51.5142, "lon": -0.0931, "accuracy_km": 10 }
      },
      "session": "sha256:9f86d0",
      "request_id": "req_01J",
      "details": { "method": "password" }
    }"#;

    #[test]
    fn the_documented_example_round_trips_exactly() {
        let e = ActivityEvent::from_json(DOC).unwrap();
        let out = serde_json::to_value(&e).unwrap();
        let expected: Value = serde_json::from_str(DOC).unwrap();
        assert_eq!(out, expected);
        let again: ActivityEvent = serde_json::from_value(out).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn only_action_is_mandatory() {
        let e = ActivityEvent::from_json(r#"{"action":"document.viewed"}"#).unwrap();
        assert_eq!(e.id.get_version_num(), 7);
        assert_eq!(e.outcome, Outcome::Unknown);
        let json = serde_json::to_value(&e).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["action", "id", "outcome", "time"]);
    }

    fn field_of(v: Value) -> String {
        match ActivityEvent::from_value(v).unwrap_err() {
            Error::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_values_name_their_field() {
        assert_eq!(field_of(json!({})), "action");
        assert_eq!(field_of(json!({"action": 5})), "action");
        assert_eq!(
            field_of(json!({"action": "a.b", "time": "yesterday"})),
            "time"
        );
        assert_eq!(field_of(json!({"action": "a.b", "time": 17})), "time");
        assert_eq!(
            field_of(json!({"action": "a.b", "outcome": "meh"})),
            "outcome"
        );
        assert_eq!(
            field_of(json!({"action": "a.b", "details": [1]})),
            "details"
        );
        assert_eq!(
            field_of(json!({"action": "a.b", "details": "x"})),
            "details"
        );
        assert_eq!(field_of(json!({"action": "a.b", "id": "nope"})), "id");
        assert_eq!(
            field_of(json!({"action": "a.b", "source": {"ip": "1.2.3"}})),
            "source.ip"
        );
        assert_eq!(
            field_of(json!({"action": "a.b", "actor": {"name": "x"}})),
            "actor.id"
        );
        assert_eq!(
            field_of(json!({"action": "a.b", "surprise": 1})),
            "surprise"
        );
        assert_eq!(
            field_of(json!({"action": "a.b", "actor": {"id": "x", "pw": "y"}})),
            "actor.pw"
        );
        assert_eq!(
            field_of(json!({"action": "a.b", "source": {"geo": {"accuracy_km": -1}}})),
            "source.geo.accuracy_km"
        );
        assert_eq!(
            field_of(json!({"action": "a.b", "tenant": "x".repeat(10_000_000)})),
            "tenant"
        );
        assert!(matches!(
            ActivityEvent::from_json("{not json").unwrap_err(),
            Error::Json(_)
        ));
        assert_eq!(field_of(json!([1])), "event");
    }

    #[test]
    fn times_with_offsets_become_utc_microseconds() {
        let e = ActivityEvent::from_json(
            r#"{"action":"a.b","time":"2026-11-24T08:30:00.123456789+02:00"}"#,
        )
        .unwrap();
        assert_eq!(
            crate::event::format_time(&e.time),
            "2026-11-24T06:30:00.123456Z"
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_normalised() {
        let e =
            ActivityEvent::from_json(r#"{"action":"a.b","source":{"ip":"::ffff:81.2.69.142"}}"#)
                .unwrap();
        assert_eq!(e.ip().unwrap().to_string(), "81.2.69.142");
    }
}
