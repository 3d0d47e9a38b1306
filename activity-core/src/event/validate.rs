//! The rules of schema v1 and their caps.

use serde_json::{Map, Value};

use super::ActivityEvent;
use crate::error::{Error, Result, Rule};

/// Size caps on every free-text field, in bytes of UTF-8.
///
/// A value over its cap is rejected with [`Rule::TooLong`] naming the field; nothing is
/// silently truncated (the tower layer truncates the user agent itself before recording).
/// Every text field also rejects the NUL character ([`Rule::ContainsNul`]), which
/// PostgreSQL cannot store.
pub mod limits {
    /// `tenant`.
    pub const TENANT: usize = 128;
    /// `reason`.
    pub const REASON: usize = 256;
    /// `actor.id`, `target.id`.
    pub const ID: usize = 256;
    /// `actor.name`, `target.name`.
    pub const NAME: usize = 256;
    /// `actor.type`, `target.type`.
    pub const KIND: usize = 64;
    /// `source.user_agent`.
    pub const USER_AGENT: usize = 512;
    /// `source.device_id`.
    pub const DEVICE_ID: usize = 128;
    /// `source.geo.city`.
    pub const CITY: usize = 128;
    /// `session` (a keyed hash, so short).
    pub const SESSION: usize = 128;
    /// `request_id`.
    pub const REQUEST_ID: usize = 128;
    /// `details`, measured as compact JSON.
    pub const DETAILS: usize = 16 * 1024;
    /// Nesting depth of `details` (the object itself is level 1).
    pub const DETAILS_DEPTH: usize = 16;
    /// `chain.writer`.
    pub const WRITER: usize = 128;
}

pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        return Err(Error::invalid(field, Rule::TooLong { max }));
    }
    if value.as_bytes().contains(&0) {
        return Err(Error::invalid(field, Rule::ContainsNul));
    }
    Ok(())
}

fn required_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, Rule::Missing));
    }
    text(field, value, max)
}

fn opt_text(field: &str, value: &Option<String>, max: usize) -> Result<()> {
    match value {
        Some(v) => text(field, v, max),
        None => Ok(()),
    }
}

pub(super) fn event(e: &ActivityEvent) -> Result<()> {
    if e.id.is_nil() {
        return Err(Error::invalid(
            "id",
            Rule::Malformed("the nil UUID is not an id"),
        ));
    }
    opt_text("tenant", &e.tenant, limits::TENANT)?;
    opt_text("reason", &e.reason, limits::REASON)?;
    if let Some(actor) = &e.actor {
        required_text("actor.id", &actor.id, limits::ID)?;
        opt_text("actor.name", &actor.name, limits::NAME)?;
        opt_text("actor.type", &actor.kind, limits::KIND)?;
    }
    if let Some(target) = &e.target {
        required_text("target.type", &target.kind, limits::KIND)?;
        opt_text("target.id", &target.id, limits::ID)?;
        opt_text("target.name", &target.name, limits::NAME)?;
    }
    if let Some(source) = &e.source {
        opt_text("source.user_agent", &source.user_agent, limits::USER_AGENT)?;
        opt_text("source.device_id", &source.device_id, limits::DEVICE_ID)?;
        if let Some(geo) = &source.geo {
            if let Some(c) = &geo.country {
                if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(Error::invalid(
                        "source.geo.country",
                        Rule::Malformed("an ISO 3166-1 alpha-2 code in capitals"),
                    ));
                }
            }
            opt_text("source.geo.city", &geo.city, limits::CITY)?;
            if let Some(lat) = geo.lat {
                if !(-90.0..=90.0).contains(&lat) {
                    return Err(Error::invalid(
                        "source.geo.lat",
                        Rule::OutOfRange("-90 to 90"),
                    ));
                }
            }
            if let Some(lon) = geo.lon {
                if !(-180.0..=180.0).contains(&lon) {
                    return Err(Error::invalid(
                        "source.geo.lon",
                        Rule::OutOfRange("-180 to 180"),
                    ));
                }
            }
        }
    }
    opt_text("session", &e.session, limits::SESSION)?;
    opt_text("request_id", &e.request_id, limits::REQUEST_ID)?;
    if let Some(details) = &e.details {
        details_object(details)?;
    }
    if let Some(chain) = &e.chain {
        required_text("chain.writer", &chain.writer, limits::WRITER)?;
        for (field, h) in [("chain.prev", &chain.prev), ("chain.hash", &chain.hash)] {
            if h.len() != 64 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(Error::invalid(
                    field,
                    Rule::Malformed("64 lowercase hex digits"),
                ));
            }
        }
        if chain.seq == 0 {
            return Err(Error::invalid("chain.seq", Rule::OutOfRange("from 1")));
        }
    }
    Ok(())
}

/// Checks `details`: depth, NUL characters, and compact-JSON size.
pub(crate) fn details_object(details: &Map<String, Value>) -> Result<()> {
    let mut size = 0usize;
    walk_object(details, 1, &mut size)?;
    if size > limits::DETAILS {
        return Err(Error::invalid(
            "details",
            Rule::TooLong {
                max: limits::DETAILS,
            },
        ));
    }
    Ok(())
}

fn walk_object(map: &Map<String, Value>, depth: usize, size: &mut usize) -> Result<()> {
    if depth > limits::DETAILS_DEPTH {
        return Err(Error::invalid(
            "details",
            Rule::TooDeep {
                max: limits::DETAILS_DEPTH,
            },
        ));
    }
    *size += 2 + map.len().saturating_sub(1);
    for (k, v) in map {
        string(k, size)?;
        *size += 1;
        walk_value(v, depth, size)?;
        if *size > limits::DETAILS {
            return Err(Error::invalid(
                "details",
                Rule::TooLong {
                    max: limits::DETAILS,
                },
            ));
        }
    }
    Ok(())
}

fn walk_value(v: &Value, depth: usize, size: &mut usize) -> Result<()> {
    match v {
        Value::Null => *size += 4,
        Value::Bool(b) => *size += if *b { 4 } else { 5 },
        Value::Number(n) => *size += n.to_string().len(),
        Value::String(s) => string(s, size)?,
        Value::Array(items) => {
            if depth + 1 > limits::DETAILS_DEPTH {
                return Err(Error::invalid(
                    "details",
                    Rule::TooDeep {
                        max: limits::DETAILS_DEPTH,
                    },
                ));
            }
            *size += 2 + items.len().saturating_sub(1);
            for item in items {
                walk_value(item, depth + 1, size)?;
                if *size > limits::DETAILS {
                    break;
                }
            }
        }
        Value::Object(map) => walk_object(map, depth + 1, size)?,
    }
    Ok(())
}

fn string(s: &str, size: &mut usize) -> Result<()> {
    if s.as_bytes().contains(&0) {
        return Err(Error::invalid("details", Rule::ContainsNul));
    }
    // Quotes plus the text; escapes make the real JSON a little longer, never shorter.
    *size += 2 + s.len();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActivityEvent, Actor, Geo, Source};
    use serde_json::json;

    fn base() -> ActivityEvent {
        ActivityEvent::login_failed(Actor::user("u_1"))
    }

    fn rule_of(e: &ActivityEvent) -> (String, Rule) {
        match e.validate().unwrap_err() {
            Error::Invalid { field, rule } => (field, rule),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_cap_names_its_field() {
        let cases: Vec<(ActivityEvent, &str)> = vec![
            (base().with_tenant("t".repeat(limits::TENANT + 1)), "tenant"),
            (base().with_reason("r".repeat(limits::REASON + 1)), "reason"),
            (
                base().with_actor(Actor::user("u".repeat(limits::ID + 1))),
                "actor.id",
            ),
            (
                base().with_actor(Actor::user("u").with_name("n".repeat(limits::NAME + 1))),
                "actor.name",
            ),
            (
                base().with_source(
                    Source::default().with_user_agent("a".repeat(limits::USER_AGENT + 1)),
                ),
                "source.user_agent",
            ),
            (
                base().with_source(
                    Source::default().with_device_id("d".repeat(limits::DEVICE_ID + 1)),
                ),
                "source.device_id",
            ),
            (
                base().with_session("s".repeat(limits::SESSION + 1)),
                "session",
            ),
            (
                base().with_request_id("r".repeat(limits::REQUEST_ID + 1)),
                "request_id",
            ),
            (
                base().with_detail("k", "v".repeat(limits::DETAILS)),
                "details",
            ),
        ];
        for (e, field) in cases {
            let (f, rule) = rule_of(&e);
            assert_eq!(f, field);
            assert!(matches!(rule, Rule::TooLong { .. }), "{field}: {rule:?}");
        }
    }

    #[test]
    fn caps_are_inclusive() {
        base()
            .with_tenant("t".repeat(limits::TENANT))
            .with_reason("r".repeat(limits::REASON))
            .validate()
            .unwrap();
    }

    #[test]
    fn nul_characters_are_rejected_everywhere() {
        assert_eq!(rule_of(&base().with_reason("a\0b")).1, Rule::ContainsNul);
        assert_eq!(rule_of(&base().with_detail("k\0", 1)).1, Rule::ContainsNul);
        assert_eq!(
            rule_of(&base().with_detail("k", json!([["x\0"]]))).1,
            Rule::ContainsNul
        );
    }

    #[test]
    fn deep_details_are_rejected_without_recursing_forever() {
        let mut v = json!(1);
        for _ in 0..100 {
            v = json!({ "a": v });
        }
        let e = base().with_detail("deep", v);
        assert!(matches!(rule_of(&e).1, Rule::TooDeep { .. }));
        let mut v = json!(1);
        for _ in 0..100 {
            v = json!([v]);
        }
        assert!(matches!(
            rule_of(&base().with_detail("deep", v)).1,
            Rule::TooDeep { .. }
        ));
    }

    #[test]
    fn details_size_counts_compact_json() {
        let mut e = base();
        e.details = Some(Map::new());
        // Exactly at the cap: `{"k":"..."}` is 8 bytes plus the value.
        let e_ok = e.clone().with_detail("k", "v".repeat(limits::DETAILS - 8));
        let json_len = serde_json::to_string(e_ok.details.as_ref().unwrap())
            .unwrap()
            .len();
        assert_eq!(json_len, limits::DETAILS);
        e_ok.validate().unwrap();
        let e_bad = e.with_detail("k", "v".repeat(limits::DETAILS - 7));
        assert!(matches!(rule_of(&e_bad).1, Rule::TooLong { .. }));
    }

    #[test]
    fn geo_rules() {
        let geo = |g: Geo| base().with_source(Source::default().with_geo(g));
        let (f, _) = rule_of(&geo(Geo {
            country: Some("gbr".into()),
            ..Geo::default()
        }));
        assert_eq!(f, "source.geo.country");
        let (f, _) = rule_of(&geo(Geo {
            lat: Some(91.0),
            ..Geo::default()
        }));
        assert_eq!(f, "source.geo.lat");
        let (f, _) = rule_of(&geo(Geo {
            lon: Some(f64::NAN),
            ..Geo::default()
        }));
        assert_eq!(f, "source.geo.lon");
    }

    #[test]
    fn empty_actor_id_is_missing() {
        assert_eq!(
            rule_of(&base().with_actor(Actor::new(""))),
            ("actor.id".to_string(), Rule::Missing)
        );
    }
}
