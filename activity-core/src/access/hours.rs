//! [`HoursRule`]: when a sign-in may happen, as days of the week and times of day in an
//! IANA time zone.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::access::decision::Reason;

/// Sign-in hours: a request passes when its time, read in `zone`, falls in any of the
/// windows. Daylight-saving time is the zone's: a window of 08:00–18:00 in
/// `Europe/Berlin` is 07:00–17:00 UTC in winter and 06:00–16:00 UTC in summer.
///
/// ```
/// use activity_core::access::{Day, HoursRule, Window};
/// use chrono::{TimeZone, Utc};
/// let office = HoursRule {
///     zone: "Europe/Berlin".parse().unwrap(),
///     windows: vec![Window::new(&Day::WEEKDAYS, "08:00", "18:00").unwrap()],
/// };
/// // Thursday 3 December 2026, 17:30 in Berlin (16:30 UTC): inside.
/// assert!(office.permits(Utc.with_ymd_and_hms(2026, 12, 3, 16, 30, 0).unwrap()));
/// // 18:30 in Berlin: outside.
/// assert!(!office.permits(Utc.with_ymd_and_hms(2026, 12, 3, 17, 30, 0).unwrap()));
/// // Saturday: outside.
/// assert!(!office.permits(Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursRule {
    /// The IANA time zone the windows are read in, such as `Europe/Berlin`.
    #[serde(with = "zone")]
    pub zone: Tz,
    /// The times a sign-in may happen (any of them).
    pub windows: Vec<Window>,
}

impl HoursRule {
    /// Whether a request at `at` passes.
    pub fn permits(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone);
        let day = Day::from(local.weekday());
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.windows.iter().any(|w| w.contains(day, minute))
    }

    /// `at` as the zone's local time, as the decision records it (`2026-12-03T17:30:00+01:00`).
    pub fn local_time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone).to_rfc3339()
    }

    pub(crate) fn judge(&self, at: DateTime<Utc>) -> Option<Reason> {
        (!self.permits(at)).then_some(Reason::OutsideHours)
    }

    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.windows.is_empty() {
            return Err("an hours rule needs at least one window");
        }
        Ok(())
    }
}

mod zone {
    use super::*;

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        Tz::from_str(&name)
            .map_err(|_| serde::de::Error::custom(format!("{name:?} is not an IANA time zone")))
    }
}

/// A day of the week, written `mon` … `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// Monday to Friday.
    pub const WEEKDAYS: [Day; 5] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];
    /// Every day.
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    fn previous(self) -> Day {
        Day::from(Weekday::from(self).pred())
    }
}

impl From<Weekday> for Day {
    fn from(w: Weekday) -> Self {
        match w {
            Weekday::Mon => Day::Mon,
            Weekday::Tue => Day::Tue,
            Weekday::Wed => Day::Wed,
            Weekday::Thu => Day::Thu,
            Weekday::Fri => Day::Fri,
            Weekday::Sat => Day::Sat,
            Weekday::Sun => Day::Sun,
        }
    }
}

impl From<Day> for Weekday {
    fn from(d: Day) -> Self {
        match d {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// A time of day, `HH:MM` from `00:00` to `24:00` (the end of the day, for a window's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl FromStr for TimeOfDay {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const SHAPE: &str = "a time of day is HH:MM, from 00:00 to 24:00";
        let (h, m) = s.split_once(':').ok_or(SHAPE)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(SHAPE);
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| SHAPE)?, m.parse().map_err(|_| SHAPE)?);
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(SHAPE);
        }
        Ok(TimeOfDay(h * 60 + m))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Days and a time range. A range whose end is not after its start runs past midnight:
/// `fri 22:00–06:00` is Friday 22:00 to Saturday 06:00 (the day is the day it starts).
///
/// ```
/// use activity_core::access::{Day, Window};
/// let night = Window::new(&[Day::Fri], "22:00", "06:00").unwrap();
/// assert!(night.contains(Day::Fri, 23 * 60));
/// assert!(night.contains(Day::Sat, 5 * 60));
/// assert!(!night.contains(Day::Fri, 5 * 60)); // Friday early morning: Thursday's night
/// assert!(Window::new(&[Day::Mon], "8:00", "18:00").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The days the range starts on.
    pub days: Vec<Day>,
    /// Start (inclusive).
    pub from: TimeOfDay,
    /// End (exclusive).
    pub to: TimeOfDay,
}

impl Window {
    /// A window on `days` from `from` to `to` (`HH:MM`).
    ///
    /// # Errors
    /// The text of a malformed time.
    pub fn new(days: &[Day], from: &str, to: &str) -> Result<Self, &'static str> {
        Ok(Self {
            days: days.to_vec(),
            from: from.parse()?,
            to: to.parse()?,
        })
    }

    /// Whether minute `minute` of local day `day` falls in the window.
    pub fn contains(&self, day: Day, minute: u16) -> bool {
        let (from, to) = (self.from.0, self.to.0);
        if from < to {
            self.days.contains(&day) && (from..to).contains(&minute)
        } else {
            (self.days.contains(&day) && minute >= from)
                || (self.days.contains(&day.previous()) && minute < to)
        }
    }
}
