//! The canonical encoding the integrity chain hashes: an event's schema-v1 JSON without
//! its `chain` field, object keys sorted at every level, no whitespace, serde_json's
//! exact number and string formatting.
//!
//! It is written straight from the event, keys in their sorted order, instead of going
//! through a `serde_json::Value` tree (which allocated every string of the event once
//! more and cost most of a verification). The two are the same bytes; the tests hold
//! this encoder to the `Value`-based definition. Each struct is destructured in full, so
//! a field added to the schema does not compile here until it has its place.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use crate::event::{ActivityEvent, Actor, Geo, Source, Target};

/// The event's canonical JSON: schema v1 without `chain`, keys sorted, no whitespace.
///
/// ```
/// use activity_core::{chain::canonical_json, ActivityEvent, Actor};
/// let e = ActivityEvent::logout(Actor::user("u1"));
/// let text = canonical_json(&e);
/// assert!(text.starts_with(r#"{"action":"auth.logout","actor":{"id":"u1"#));
/// ```
pub fn canonical_json(event: &ActivityEvent) -> String {
    let mut out = Vec::with_capacity(512);
    write_canonical(event, &mut out);
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the canonical JSON of `event` to `out`.
pub(crate) fn write_canonical(event: &ActivityEvent, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and every value here serialises.
    let _ = serde_json::to_writer(out, &Canonical(event, false));
}

/// Appends the version 2 canonical form of `event` to `out`: the same object (schema v1
/// without `chain`) in RFC 8785 (JSON Canonicalization Scheme) form, written by the
/// `canon-json` crate's formatter: keys sorted by UTF-16 code units, numbers as
/// ECMAScript writes doubles (`-0` as `0`, `1e16` as `10000000000000000`), minimal string
/// escapes. A database that rewrites a number's text but keeps its value (PostgreSQL's
/// `jsonb`) leaves it unchanged.
///
/// The keys are written already in that order (the fixed fields are ASCII and listed
/// sorted; `details` maps are sorted by UTF-16 when a key holds a code point from
/// U+E000 up, where UTF-16 and UTF-8 orders part), and serde_json's string escapes are
/// RFC 8785's, so only numbers need the crate: `Jcs` hands them to its formatter. The
/// tests hold this to `canon-json`'s own full formatter (which buffers and sorts every
/// object, at a third of the speed).
pub(crate) fn write_canonical_v2(event: &ActivityEvent, out: &mut Vec<u8>) {
    let mut ser =
        serde_json::Serializer::with_formatter(out, Jcs(canon_json::CanonicalFormatter::new()));
    // Writing into a Vec cannot fail; a value JCS cannot write (a non-finite number,
    // which validation refuses anyway) leaves the text short and the hash unequal.
    let _ = Canonical(event, true).serialize(&mut ser);
}

/// serde_json's compact output with numbers written by `canon-json` (ECMAScript form).
struct Jcs(canon_json::CanonicalFormatter);

impl serde_json::ser::Formatter for Jcs {
    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        self.0.write_f64(writer, value)
    }
    fn write_f32<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f32,
    ) -> std::io::Result<()> {
        self.0.write_f64(writer, value.into())
    }
}

/// The whole event through `canon-json`'s own formatter: the reference the fast writer
/// is tested against.
#[cfg(test)]
pub(crate) fn reference_v2(event: &ActivityEvent) -> String {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, canon_json::CanonicalFormatter::new());
    Canonical(event, true).serialize(&mut ser).unwrap();
    String::from_utf8(out).unwrap()
}

/// The event's version 2 canonical JSON (RFC 8785), as hashed by the chain.
///
/// ```
/// use activity_core::{chain::canonical_json_v2, ActivityEvent, Actor};
/// let e = ActivityEvent::logout(Actor::user("u1")).with_detail("n", 1e16).with_detail("z", -0.0);
/// let text = canonical_json_v2(&e);
/// assert!(text.contains(r#""details":{"n":10000000000000000,"z":0}"#), "{text}");
/// ```
pub fn canonical_json_v2(event: &ActivityEvent) -> String {
    let mut out = Vec::with_capacity(512);
    write_canonical_v2(event, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The event; `true`: version 2 (`details` keys in UTF-16 order).
struct Canonical<'a>(&'a ActivityEvent, bool);
struct CanonicalActor<'a>(&'a Actor);
struct CanonicalTarget<'a>(&'a Target);
struct CanonicalSource<'a>(&'a Source);
struct CanonicalGeo<'a>(&'a Geo);
struct CanonicalMap<'a>(&'a Map<String, Value>, bool);
struct CanonicalValue<'a>(&'a Value, bool);

/// `m.serialize_entry(key, value)` when the value is present.
fn entry<M: SerializeMap, T: Serialize + ?Sized>(
    m: &mut M,
    key: &'static str,
    value: Option<&T>,
) -> Result<(), M::Error> {
    match value {
        Some(v) => m.serialize_entry(key, v),
        None => Ok(()),
    }
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ActivityEvent {
            id,
            time,
            tenant,
            action,
            outcome,
            reason,
            actor,
            target,
            source,
            session,
            request_id,
            details,
            chain: _,
        } = self.0;
        let v2 = self.1;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("action", action)?;
        entry(&mut m, "actor", actor.as_ref().map(CanonicalActor).as_ref())?;
        entry(
            &mut m,
            "details",
            details.as_ref().map(|d| CanonicalMap(d, v2)).as_ref(),
        )?;
        m.serialize_entry("id", id)?;
        m.serialize_entry("outcome", outcome)?;
        entry(&mut m, "reason", reason.as_ref())?;
        entry(&mut m, "request_id", request_id.as_ref())?;
        entry(&mut m, "session", session.as_ref())?;
        entry(
            &mut m,
            "source",
            source.as_ref().map(CanonicalSource).as_ref(),
        )?;
        entry(
            &mut m,
            "target",
            target.as_ref().map(CanonicalTarget).as_ref(),
        )?;
        entry(&mut m, "tenant", tenant.as_ref())?;
        m.serialize_entry("time", &crate::event::format_time(time))?;
        m.end()
    }
}

impl Serialize for CanonicalActor<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Actor { id, name, kind } = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", id)?;
        entry(&mut m, "name", name.as_ref())?;
        entry(&mut m, "type", kind.as_ref())?;
        m.end()
    }
}

impl Serialize for CanonicalTarget<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Target { kind, id, name } = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "id", id.as_ref())?;
        entry(&mut m, "name", name.as_ref())?;
        m.serialize_entry("type", kind)?;
        m.end()
    }
}

impl Serialize for CanonicalSource<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Source {
            ip,
            user_agent,
            device_id,
            geo,
        } = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "device_id", device_id.as_ref())?;
        entry(&mut m, "geo", geo.as_ref().map(CanonicalGeo).as_ref())?;
        entry(&mut m, "ip", ip.as_ref())?;
        entry(&mut m, "user_agent", user_agent.as_ref())?;
        m.end()
    }
}

impl Serialize for CanonicalGeo<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Geo {
            country,
            city,
            lat,
            lon,
            accuracy_km,
        } = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "accuracy_km", accuracy_km.as_ref())?;
        entry(&mut m, "city", city.as_ref())?;
        entry(&mut m, "country", country.as_ref())?;
        entry(&mut m, "lat", lat.as_ref())?;
        entry(&mut m, "lon", lon.as_ref())?;
        m.end()
    }
}

/// `details` and every object in it, keys in byte order whatever order the map keeps
/// (serde_json's `preserve_order` feature, which any crate in an application can turn on,
/// makes its maps keep insertion order; without it they are sorted already, and are
/// written as they are).
impl Serialize for CanonicalMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v2 = self.1;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        // UTF-16 order (version 2) differs from byte order only for keys holding a code
        // point from U+E000 up (UTF-8 lead byte 0xEE or above).
        let utf16 = v2 && self.0.keys().any(|k| k.bytes().any(|b| b >= 0xEE));
        if !utf16 && self.0.keys().is_sorted() {
            for (k, v) in self.0 {
                m.serialize_entry(k, &CanonicalValue(v, v2))?;
            }
        } else {
            let mut entries: Vec<(&String, &Value)> = self.0.iter().collect();
            if utf16 {
                entries.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            } else {
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            for (k, v) in entries {
                m.serialize_entry(k, &CanonicalValue(v, v2))?;
            }
        }
        m.end()
    }
}

impl Serialize for CanonicalValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => CanonicalMap(m, self.1).serialize(s),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&CanonicalValue(v, self.1))?;
                }
                seq.end()
            }
            scalar => scalar.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ChainLink, Geo};
    use chrono::{TimeZone, Utc};

    /// The definition: the event as a `serde_json::Value` (whose maps are sorted by key)
    /// without `chain`, written compactly.
    fn reference(event: &ActivityEvent) -> String {
        let mut v = serde_json::to_value(event).unwrap();
        v.as_object_mut().unwrap().remove("chain");
        v.to_string()
    }

    fn canonical(event: &ActivityEvent) -> String {
        let mut out = Vec::new();
        write_canonical(event, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn full() -> ActivityEvent {
        let mut e = ActivityEvent::login_failed(
            Actor::user("u\"1\\\u{1}é")
                .with_name("=Ålice\n")
                .with_kind("service"),
        )
        .with_reason("bad_password")
        .with_tenant("acme\u{7f}")
        .with_time(Utc.with_ymd_and_hms(2026, 11, 24, 6, 30, 0).unwrap())
        .with_target(Target::new("document").with_id("d1").with_name("Q3 <plan>"))
        .with_source(
            Source::ip("2001:db8::1".parse().unwrap())
                .with_user_agent("Mozilla/5.0 (X11) \u{2028}")
                .with_device_id("dev-1")
                .with_geo(Geo {
                    country: Some("GB".into()),
                    city: Some("London".into()),
                    lat: Some(51.514_2),
                    lon: Some(-0.093_1),
                    accuracy_km: Some(20),
                }),
        )
        .with_session("s".repeat(64))
        .with_request_id("req-1")
        .with_detail(
            "z",
            serde_json::json!({"b": [1, 2.5, -0.0, 1e300], "a": null}),
        )
        .with_detail("a", "x\ty")
        .with_detail("m", u64::MAX);
        e.chain = Some(ChainLink {
            writer: "w".into(),
            seq: 1,
            prev: "0".repeat(64),
            hash: "1".repeat(64),
        });
        e
    }

    #[test]
    fn matches_the_value_based_definition_for_every_field() {
        let e = full();
        assert_eq!(canonical(&e), reference(&e));
        assert!(!canonical(&e).contains("chain"));
    }

    #[test]
    fn matches_the_definition_with_fields_absent() {
        let bare = ActivityEvent::new(crate::Action::LOGOUT);
        assert_eq!(canonical(&bare), reference(&bare));
        let mut partial = full();
        partial.actor.as_mut().unwrap().name = None;
        partial.target.as_mut().unwrap().id = None;
        let source = partial.source.as_mut().unwrap();
        source.ip = None;
        source.geo.as_mut().unwrap().city = None;
        source.geo.as_mut().unwrap().lat = None;
        partial.details = None;
        partial = partial.with_time(Utc.timestamp_micros(1_700_000_000_123_456).unwrap());
        assert_eq!(canonical(&partial), reference(&partial));
        let mut geo_only = full();
        geo_only.source = Some(Source {
            geo: Some(Geo::default()),
            ..Source::default()
        });
        assert_eq!(canonical(&geo_only), reference(&geo_only));
    }

    #[test]
    fn version_2_is_canon_json_exactly() {
        let mut events = vec![full(), ActivityEvent::new(crate::Action::LOGOUT)];
        events.push(ActivityEvent::logout(Actor::user("u")).with_detail(
            "m",
            serde_json::json!({"\u{ffff}": 1, "😀": [1e16, -0.0, 0.1, 1e-7, 5e-324, 1.7976931348623157e308], "é": {"b": 2, "a": 1}, "A": i64::MIN}),
        ));
        for e in &events {
            let mut out = Vec::new();
            write_canonical_v2(e, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), reference_v2(e));
        }
    }

    #[test]
    fn keys_are_sorted() {
        let text = canonical(&full());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        // The text's own order, not the parsed map's, is what is hashed.
        let first =
            ["\"action\"", "\"details\"", "\"outcome\"", "\"time\""].map(|k| text.find(k).unwrap());
        assert!(first.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        use chrono::SecondsFormat;
        let chrono_way = |t: &chrono::DateTime<Utc>| {
            let f = if t.timestamp_subsec_micros().is_multiple_of(1000) {
                SecondsFormat::Millis
            } else {
                SecondsFormat::Micros
            };
            t.to_rfc3339_opts(f, true)
        };
        let mut micros: i64 = -62_000_000_000_000_000; // year 4
        let step = 7_919_000_123_457; // about three months, every sub-second pattern
        while micros < 253_402_300_799_999_999 {
            let t = Utc.timestamp_micros(micros).unwrap();
            assert_eq!(crate::event::format_time(&t), chrono_way(&t));
            micros += step;
        }
        for t in [
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            Utc.timestamp_micros(1_000).unwrap(),
            Utc.timestamp_micros(999_999).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.timestamp_micros(-1).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
        ] {
            assert_eq!(crate::event::format_time(&t), chrono_way(&t));
        }
    }

    #[test]
    fn nested_details_are_written_with_sorted_keys() {
        let e = ActivityEvent::logout(Actor::user("u")).with_detail(
            "outer",
            serde_json::json!({"zeta": [{"b": 1, "a": {"y": true, "x": null}}], "alpha": "é\u{0}"}),
        );
        assert_eq!(canonical(&e), reference(&e));
        assert!(canonical(&e).contains(
            r#""details":{"outer":{"alpha":"é\u0000","zeta":[{"a":{"x":null,"y":true},"b":1}]}}"#
        ));
    }
}
