//! The sign-in identifier in a form or JSON body: one configured field, read once, with a
//! repeated field refused rather than guessed at.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::actor::BodyKind;

/// What a body says about the identifier field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// The field, once, with this value (as typed).
    Value(String),
    /// Not there (or not a string), or the body is not a well-formed form or object.
    Missing,
    /// There more than once: frameworks disagree on which one counts.
    Repeated,
}

/// The value of `field` in `body`.
pub(crate) fn identifier_in(kind: BodyKind, body: &[u8], field: &str) -> Found {
    match kind {
        BodyKind::Form => {
            let mut found = Found::Missing;
            for (k, v) in form_urlencoded::parse(body) {
                if k == field {
                    if found != Found::Missing {
                        return Found::Repeated;
                    }
                    found = Found::Value(v.into_owned());
                }
            }
            found
        }
        BodyKind::Json => {
            let mut de = serde_json::Deserializer::from_slice(body);
            match (FieldSeed { field }).deserialize(&mut de) {
                Ok(found) if de.end().is_ok() => found,
                _ => Found::Missing,
            }
        }
    }
}

/// Walks the top-level object once, keeping `field`'s string value and noticing repeats.
struct FieldSeed<'f> {
    field: &'f str,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Found::Missing;
        let mut seen = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.field {
                if seen {
                    // Drain the rest so that the caller sees a well-formed body.
                    map.next_value::<IgnoredAny>()?;
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    return Ok(Found::Repeated);
                }
                seen = true;
                let value: serde_json::Value = map.next_value()?;
                if let serde_json::Value::String(s) = value {
                    found = Found::Value(s);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_field_once() {
        let f = |b: &str| identifier_in(BodyKind::Form, b.as_bytes(), "email");
        assert_eq!(f("email=a%40b&password=x"), Found::Value("a@b".into()));
        assert_eq!(
            f("username=decoy&email=v&password=x"),
            Found::Value("v".into())
        );
        assert_eq!(f("email=a&email=b"), Found::Repeated);
        assert_eq!(f("username=a"), Found::Missing);
        let j = |b: &str| identifier_in(BodyKind::Json, b.as_bytes(), "email");
        assert_eq!(
            j(r#"{"email":"v","username":"d"}"#),
            Found::Value("v".into())
        );
        assert_eq!(j(r#"{"email":"a","email":"b"}"#), Found::Repeated);
        assert_eq!(j(r#"{"email":7}"#), Found::Missing);
        assert_eq!(j(r#"{"email":"v""#), Found::Missing);
        assert_eq!(j(r#"{"email":"v"} trailing"#), Found::Missing);
        assert_eq!(
            j(r#"{"e\u006dail":"escaped"}"#),
            Found::Value("escaped".into())
        );
        assert_eq!(
            j(r#"{"nested":{"email":"x"},"email":"top"}"#),
            Found::Value("top".into())
        );
    }

    proptest! {
        // Any bytes: no panic, and a value found is one the body holds exactly once.
        #[test]
        fn any_form_body(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Found::Value(v) = identifier_in(BodyKind::Form, &body, "email") {
                let n = form_urlencoded::parse(&body).filter(|(k, _)| k == "email").count();
                prop_assert_eq!(n, 1);
                prop_assert!(form_urlencoded::parse(&body).any(|(k, val)| k == "email" && val == v));
            }
        }

        #[test]
        fn any_json_body(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = identifier_in(BodyKind::Json, &body, "email");
        }

        // What axum's `Form` and `Json` read (the last value) is what is counted, or the
        // body is refused.
        #[test]
        fn the_counted_value_is_the_one_the_handler_reads(
            fields in proptest::collection::vec(
                (prop_oneof![Just("email"), Just("username"), Just("password")], "[a-z@.]{0,8}"),
                0..6,
            )
        ) {
            let form: String = fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            let last = fields.iter().rev().find(|(k, _)| *k == "email").map(|(_, v)| v.clone());
            match identifier_in(BodyKind::Form, form.as_bytes(), "email") {
                Found::Value(v) => prop_assert_eq!(Some(v), last.clone()),
                Found::Missing => prop_assert!(last.is_none()),
                Found::Repeated => prop_assert!(fields.iter().filter(|(k, _)| *k == "email").count() > 1),
            }
            let json = format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{k:?}:{v:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            match identifier_in(BodyKind::Json, json.as_bytes(), "email") {
                Found::Value(v) => prop_assert_eq!(Some(v), last.clone()),
                Found::Missing => prop_assert!(last.is_none()),
                Found::Repeated => prop_assert!(fields.iter().filter(|(k, _)| *k == "email").count() > 1),
            }
        }
    }
}
