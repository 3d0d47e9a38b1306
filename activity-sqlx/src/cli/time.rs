//! Times on the command line: RFC 3339, or a duration ago (`7d`, `24h`, `15m`), or `now`.

use chrono::{DateTime, Utc};

/// Parses `value` as an RFC 3339 time, `now`, or a duration before `now` such as `7d`,
/// `24h`, `90m`, `2w` (humantime's units).
///
/// ```
/// use activity_sqlx::cli::time::parse_when;
/// let now = chrono::Utc::now();
/// assert_eq!(parse_when("since", "1h", now).unwrap(), now - chrono::Duration::hours(1));
/// assert!(parse_when("since", "soonish", now).unwrap_err().contains("--since"));
/// ```
pub fn parse_when(field: &str, value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let value = value.trim();
    if value == "now" {
        return Ok(now);
    }
    if let Ok(t) = activity_core::event::parse_time(field, value) {
        return Ok(t);
    }
    let d = parse_duration(value).map_err(|_| {
        format!("--{field}: expected an RFC 3339 time (2026-11-24T06:30:00Z) or a duration such as 7d, 24h, 15m; got {value:?}")
    })?;
    Ok(now - d)
}

/// Parses a duration such as `15m`, `24h`, `7d`, `1w`.
///
/// ```
/// use activity_sqlx::cli::time::parse_duration;
/// assert_eq!(parse_duration("2w").unwrap(), chrono::Duration::weeks(2));
/// assert!(parse_duration("forever").is_err());
/// ```
pub fn parse_duration(value: &str) -> Result<chrono::Duration, String> {
    let std = humantime::parse_duration(value.trim()).map_err(|e| format!("{value:?}: {e}"))?;
    chrono::Duration::from_std(std).map_err(|_| format!("{value:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn times_and_durations() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        assert_eq!(
            parse_when("since", "7d", now).unwrap(),
            now - Duration::days(7)
        );
        assert_eq!(
            parse_when("since", "24h", now).unwrap(),
            now - Duration::hours(24)
        );
        assert_eq!(
            parse_when("since", "15m", now).unwrap(),
            now - Duration::minutes(15)
        );
        assert_eq!(parse_when("since", "now", now).unwrap(), now);
        assert_eq!(
            parse_when("until", "2026-11-24T08:00:00+02:00", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap()
        );
        let err = parse_when("since", "yesterday-ish", now).unwrap_err();
        assert!(err.contains("--since"));
    }
}
