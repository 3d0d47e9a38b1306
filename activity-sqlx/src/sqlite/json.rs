//! SQLite's JSON read path: SQLite builds one JSON array of a read's rows
//! ([`json_columns`]), handed over from the connection's thread at once instead of row by
//! row, and [`events_from_json`] turns each row into its event as it parses.

use activity_core::ActivityEvent;

use crate::sql;

/// `json_array(…)` of the event columns, in [`sql::COLUMNS`] order: the id as hex, each
/// coordinate as [`coordinate`] writes it. Built once: every read uses it.
pub(super) fn json_columns() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(build_json_columns)
}

fn build_json_columns() -> String {
    let cols: Vec<String> = sql::COLUMNS
        .iter()
        .map(|c| match *c {
            "id" => "hex(id)".to_owned(),
            "geo_lat" | "geo_lon" => coordinate(c),
            other => other.to_owned(),
        })
        .collect();
    format!("json_array({})", cols.join(", "))
}

/// The divisor of a coordinate written as an integer: tenths of a microdegree.
const COORDINATE_SCALE: f64 = 10_000_000.0;

/// A coordinate column as JSON that reads back exactly: the integer `k` when the value is
/// exactly `k / 10^7` in floating point (what geolocation databases hold: a few decimals),
/// which SQLite writes as cheaply as any integer; otherwise (and for zero) text with 17
/// significant digits, SQLite's exact float formatting, which cost a sixth of building a
/// whole row's JSON. [`Real`] reads both.
fn coordinate(c: &str) -> String {
    format!(
        "CASE WHEN {c} IS NULL THEN NULL \
         WHEN {c} <> 0 AND abs({c}) < 1000 AND round({c} * {COORDINATE_SCALE:.1}) / {COORDINATE_SCALE:.1} = {c} \
         THEN CAST(round({c} * {COORDINATE_SCALE:.1}) AS INTEGER) \
         ELSE printf('%!.17g', {c}) END"
    )
}

/// Bytes from SQLite's `hex()` (upper-case, even length).
fn unhex(h: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    h.as_bytes()
        .chunks(2)
        .map(|p| match p {
            [a, b] => Some(digit(*a)? << 4 | digit(*b)?),
            _ => None,
        })
        .collect()
}

/// Decodes the array of `json_array` rows [`json_columns`] builds; at most `expected` rows
/// (a capacity hint).
pub(super) fn events_from_json(
    text: &str,
    expected: usize,
) -> activity_core::Result<Vec<ActivityEvent>> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    // `expected` is the query's limit, which a short read (five failures under a limit of
    // a thousand) is far below: no row takes fewer than 128 bytes of JSON (27 values and
    // their commas, the 32-digit id), so the text's length bounds the count too.
    let capacity = expected.min(text.len() / 128 + 1);
    let events = Rows(capacity.min(activity_core::query::MAX_PAGE_SIZE + 1))
        .deserialize(&mut de)
        .and_then(|events| de.end().map(|()| events))
        .map_err(|e| activity_core::Error::backend(format!("stored row is invalid: {e}"), None))?;
    Ok(events)
}

/// The events of a `json_group_array`, each row turned into its event as it is read.
struct Rows(usize);

impl<'de> serde::de::DeserializeSeed<'de> for Rows {
    type Value = Vec<ActivityEvent>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Rows {
    type Value = Vec<ActivityEvent>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of event rows")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(self.0);
        while let Some(JsonRow(raw, hash)) = seq.next_element()? {
            out.push(sql::event_from_row(raw, hash).map_err(serde::de::Error::custom)?);
        }
        Ok(out)
    }
}

/// One `json_array` row, decoded straight into the columns (no `serde_json::Value` in
/// between: this runs for every row an export or a verification reads).
struct JsonRow(sql::RawRow, Option<String>);

impl<'de> serde::Deserialize<'de> for JsonRow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(RowVisitor)
    }
}

struct RowVisitor;

/// A coordinate as [`coordinate`] writes it: `printf('%!.17g')` text, an integer count of
/// [`COORDINATE_SCALE`]ths (divided back exactly as SQLite checked it would be), or null.
struct Real(Option<f64>);

impl<'de> serde::Deserialize<'de> for Real {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Real;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a coordinate")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Real, E> {
                v.parse()
                    .map(|x| Real(Some(x)))
                    .map_err(|_| E::custom("invalid coordinate"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Real, E> {
                // |v| < 10^10 (|coordinate| < 1000), so `v as f64` is exact.
                if v.unsigned_abs() >= 10_000_000_000 {
                    return Err(E::custom("invalid coordinate"));
                }
                Ok(Real(Some(v as f64 / COORDINATE_SCALE)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Real, E> {
                self.visit_i64(i64::try_from(v).map_err(|_| E::custom("invalid coordinate"))?)
            }
            fn visit_unit<E>(self) -> Result<Real, E> {
                Ok(Real(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::de::Visitor<'de> for RowVisitor {
    type Value = JsonRow;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an array of {} event columns", sql::COLUMNS.len())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonRow, A::Error> {
        use serde::de::Error;
        fn next<'de, T: serde::Deserialize<'de>, A: serde::de::SeqAccess<'de>>(
            seq: &mut A,
            col: usize,
        ) -> Result<T, A::Error> {
            seq.next_element()?
                .ok_or_else(|| A::Error::invalid_length(col, &RowVisitor))
        }
        let id: &str = next(&mut seq, 0)?;
        let mut raw = sql::RawRow {
            id: unhex(id).ok_or_else(|| A::Error::custom("invalid id"))?,
            time_us: next(&mut seq, 1)?,
            ..sql::RawRow::default()
        };
        let mut hash = None;
        let mut slot = 0;
        for col in 2..sql::COLUMNS.len() {
            match col {
                17 => raw.lat = next::<Real, _>(&mut seq, col)?.0,
                18 => raw.lon = next::<Real, _>(&mut seq, col)?.0,
                19 => raw.accuracy_km = next(&mut seq, col)?,
                24 => raw.chain_seq = next(&mut seq, col)?,
                sql::CHAIN_HASH_COLUMN => hash = next(&mut seq, col)?,
                _ => {
                    raw.texts[slot] = next(&mut seq, col)?;
                    slot += 1;
                }
            }
        }
        if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            return Err(A::Error::invalid_length(sql::COLUMNS.len() + 1, &self));
        }
        Ok(JsonRow(raw, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_decoder_follows_the_column_layout() {
        // Every non-text column is where the decoder expects it.
        assert_eq!(sql::COLUMNS[0], "id");
        assert_eq!(sql::COLUMNS[1], "time_us");
        assert_eq!(sql::COLUMNS[17], "geo_lat");
        assert_eq!(sql::COLUMNS[18], "geo_lon");
        assert_eq!(sql::COLUMNS[19], "geo_accuracy_km");
        assert_eq!(sql::COLUMNS[24], "chain_seq");
        let texts: Vec<usize> = (2..sql::COLUMNS.len())
            .filter(|c| ![17, 18, 19, 24, sql::CHAIN_HASH_COLUMN].contains(c))
            .collect();
        assert_eq!(texts, sql::TEXT_COLUMNS);
    }

    #[test]
    fn malformed_rows_are_errors_not_panics() {
        for text in [
            "",
            "{}",
            "[[]]",
            "[[\"00\"]]",
            "[[\"zz\", 1]]",
            "[[1, 2]]",
            "[null]",
            // One column too many.
            &format!("[[\"{}\", 1{}, 1]]", "00".repeat(16), ", null".repeat(25)),
            // A coordinate that is not a number.
            &format!(
                "[[\"{}\", 1{}, \"north\"{}]]",
                "00".repeat(16),
                ", \"auth.login\"".repeat(15),
                ", null".repeat(9)
            ),
        ] {
            assert!(events_from_json(text, 1).is_err(), "{text}");
        }
    }
}
