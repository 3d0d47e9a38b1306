//! "Where you're signed in": the devices and places a user's successful sign-ins came
//! from, with first and last seen, at country/city precision only.

use std::collections::BTreeMap;

use activity_core::{Action, ActivityEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One device (device cookie, or the browser when a sign-in carried no device id).
///
/// ```
/// use activity_core::{ActivityEvent, Actor, Geo, Source};
/// use activity_tower::viewer::known_devices;
/// let login = |ua: &str, city: &str| {
///     let geo = Geo { city: Some(city.into()), country: Some("GB".into()), ..Geo::default() };
///     let source = Source::default().with_device_id("d_1").with_user_agent(ua).with_geo(geo);
///     ActivityEvent::login_succeeded(Actor::user("bob")).with_source(source)
/// };
/// let first = login("Firefox 140", "Boxford");
/// let latest = login("Firefox 141", "London").with_time(first.time + chrono::Duration::days(1));
/// let device = &known_devices(&[latest.clone(), first.clone()]).devices[0];
/// assert_eq!(device.device_id.as_deref(), Some("d_1"));
/// assert_eq!((device.first_seen, device.last_seen), (first.time, latest.time));
/// assert_eq!(device.sign_ins, 2);
/// // What the latest sign-in said.
/// assert_eq!(device.user_agent.as_deref(), Some("Firefox 141"));
/// assert_eq!(device.last_location.as_deref(), Some("London, GB"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnownDevice {
    /// The device id, when the sign-in carried the device cookie.
    pub device_id: Option<String>,
    /// The browser's user agent at the latest sign-in.
    pub user_agent: Option<String>,
    /// First sign-in seen from it.
    pub first_seen: DateTime<Utc>,
    /// Latest sign-in seen from it.
    pub last_seen: DateTime<Utc>,
    /// Sign-ins seen from it.
    pub sign_ins: u64,
    /// The coarse location of the latest sign-in (`City, CC`), if known.
    pub last_location: Option<String>,
    /// The latest user agent as a person reads it ("Chrome on Linux", see
    /// [`Agent`](super::Agent)).
    pub label: String,
    /// Whether it is the device the viewer is reading on (set by the `/api/devices`
    /// endpoint; `false` from [`known_devices`]).
    pub this_device: bool,
}

/// One place (country and city).
///
/// ```
/// use activity_core::{ActivityEvent, Actor, Geo, Source};
/// use activity_tower::viewer::known_devices;
/// let london = Geo {
///     country: Some("GB".into()),
///     city: Some("London".into()),
///     lat: Some(51.5142),
///     lon: Some(-0.0931),
///     accuracy_km: Some(10),
/// };
/// let login = ActivityEvent::login_succeeded(Actor::user("bob"))
///     .with_source(Source::default().with_geo(london));
/// let place = &known_devices(&[login.clone(), login]).locations[0];
/// assert_eq!((place.country.as_deref(), place.city.as_deref()), (Some("GB"), Some("London")));
/// assert_eq!(place.sign_ins, 2);
/// // Country and city only: the coordinates stay in the log.
/// assert!(!serde_json::to_string(place).unwrap().contains("51.5"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnownLocation {
    /// ISO country code.
    pub country: Option<String>,
    /// City.
    pub city: Option<String>,
    /// First sign-in seen from it.
    pub first_seen: DateTime<Utc>,
    /// Latest sign-in seen from it.
    pub last_seen: DateTime<Utc>,
    /// Sign-ins seen from it.
    pub sign_ins: u64,
}

/// A user's known devices and locations, most recently seen first.
///
/// It is what [`known_devices`] returns and what the viewer's `/api/devices` endpoint
/// answers, as JSON.
///
/// ```
/// use activity_core::{ActivityEvent, Actor};
/// use activity_tower::viewer::{known_devices, KnownDevices};
/// let bob = || Actor::user("bob");
/// let k = known_devices(&[
///     ActivityEvent::login_failed(bob()),
///     ActivityEvent::login_succeeded(bob()),
/// ]);
/// assert_eq!(k.sign_ins_examined, 1); // successful sign-ins only
/// assert_eq!(k.devices.len(), 1); // no device cookie: grouped by browser
/// assert!(k.locations.is_empty()); // no location resolved
/// let json = serde_json::to_value(&k).unwrap();
/// assert_eq!(json["sign_ins_examined"], 1);
/// assert_eq!(known_devices(&[]), KnownDevices::default());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KnownDevices {
    /// Devices.
    pub devices: Vec<KnownDevice>,
    /// Locations.
    pub locations: Vec<KnownLocation>,
    /// How many sign-ins were looked at (the newest ones, up to the look-back).
    pub sign_ins_examined: usize,
}

fn location(e: &ActivityEvent) -> (Option<String>, Option<String>) {
    let geo = e.source.as_ref().and_then(|s| s.geo.as_ref());
    (
        geo.and_then(|g| g.country.clone()),
        geo.and_then(|g| g.city.clone()),
    )
}

fn label(country: &Option<String>, city: &Option<String>) -> Option<String> {
    match (city, country) {
        (Some(c), Some(k)) => Some(format!("{c}, {k}")),
        (None, Some(k)) => Some(k.clone()),
        (Some(c), None) => Some(c.clone()),
        (None, None) => None,
    }
}

/// Summarises successful sign-ins (other events are ignored), in any order.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, Source};
/// use activity_tower::viewer::known_devices;
/// let mut login = ActivityEvent::login_succeeded(Actor::user("bob"));
/// login.source = Some(Source { device_id: Some("d_1".into()), ..Source::default() });
/// let k = known_devices(&[login.clone(), login]);
/// assert_eq!(k.devices.len(), 1);
/// assert_eq!(k.devices[0].sign_ins, 2);
/// ```
pub fn known_devices(events: &[ActivityEvent]) -> KnownDevices {
    let mut devices: BTreeMap<String, KnownDevice> = BTreeMap::new();
    let mut places: BTreeMap<(Option<String>, Option<String>), KnownLocation> = BTreeMap::new();
    let mut examined = 0;
    for e in events
        .iter()
        .filter(|e| e.action == Action::LOGIN_SUCCEEDED)
    {
        examined += 1;
        let (country, city) = location(e);
        let ua = e.source.as_ref().and_then(|s| s.user_agent.clone());
        let key = match e.device_id() {
            Some(d) => format!("d:{d}"),
            None => format!("ua:{}", ua.as_deref().unwrap_or("")),
        };
        let d = devices.entry(key).or_insert_with(|| KnownDevice {
            device_id: e.device_id().map(str::to_owned),
            user_agent: ua.clone(),
            first_seen: e.time,
            last_seen: e.time,
            sign_ins: 0,
            last_location: label(&country, &city),
            label: String::new(),
            this_device: false,
        });
        d.sign_ins += 1;
        if e.time < d.first_seen {
            d.first_seen = e.time;
        }
        if e.time >= d.last_seen {
            d.last_seen = e.time;
            d.user_agent = ua;
            d.last_location = label(&country, &city);
        }
        if country.is_some() || city.is_some() {
            let p = places
                .entry((country.clone(), city.clone()))
                .or_insert_with(|| KnownLocation {
                    country,
                    city,
                    first_seen: e.time,
                    last_seen: e.time,
                    sign_ins: 0,
                });
            p.sign_ins += 1;
            p.first_seen = p.first_seen.min(e.time);
            p.last_seen = p.last_seen.max(e.time);
        }
    }
    let mut devices: Vec<_> = devices.into_values().collect();
    for d in &mut devices {
        d.label = super::Agent::parse(d.user_agent.as_deref().unwrap_or("")).label();
    }
    devices.sort_by_key(|d| std::cmp::Reverse(d.last_seen));
    let mut locations: Vec<_> = places.into_values().collect();
    locations.sort_by_key(|l| std::cmp::Reverse(l.last_seen));
    KnownDevices {
        devices,
        locations,
        sign_ins_examined: examined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::{Actor, Geo, Source};
    use chrono::TimeZone;

    fn login(at: i64, device: Option<&str>, city: Option<(&str, &str)>) -> ActivityEvent {
        let mut e = ActivityEvent::login_succeeded(Actor::user("bob"));
        e.time = Utc.timestamp_opt(at, 0).unwrap();
        e.source = Some(Source {
            device_id: device.map(str::to_owned),
            user_agent: Some(format!("UA {at}")),
            geo: city.map(|(c, k)| Geo {
                city: Some(c.into()),
                country: Some(k.into()),
                lat: Some(51.5),
                lon: Some(0.0),
                ..Geo::default()
            }),
            ..Source::default()
        });
        e
    }

    #[test]
    fn groups_by_device_and_place_with_first_and_last_seen() {
        let events = [
            login(300, Some("d_1"), Some(("London", "GB"))),
            login(100, Some("d_1"), Some(("Boxford", "GB"))),
            login(200, None, None),
            ActivityEvent::login_failed(Actor::user("bob")),
        ];
        let k = known_devices(&events);
        assert_eq!(k.sign_ins_examined, 3);
        assert_eq!(k.devices.len(), 2);
        let d1 = &k.devices[0];
        assert_eq!(d1.device_id.as_deref(), Some("d_1"));
        assert_eq!(
            (d1.first_seen.timestamp(), d1.last_seen.timestamp()),
            (100, 300)
        );
        assert_eq!(d1.sign_ins, 2);
        assert_eq!(d1.last_location.as_deref(), Some("London, GB"));
        assert_eq!(d1.user_agent.as_deref(), Some("UA 300"));
        assert_eq!(k.devices[1].device_id, None);
        assert_eq!(k.locations.len(), 2);
        assert_eq!(k.locations[0].city.as_deref(), Some("London"));
        // Coarse only: no coordinates leave the summary.
        let json = serde_json::to_string(&k).unwrap();
        assert!(!json.contains("51.5") && !json.contains("lat"));
    }
}
