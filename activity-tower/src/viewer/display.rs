//! How one event reads on the page: its sentence, the device as browser and operating
//! system, the approximate place, and whether it is the viewer's current session or
//! device. The listing sends one beside each event (`display`), the raw event staying
//! as it is.

use activity_core::ActivityEvent;
use serde::Serialize;

use super::agent::Agent;
use super::sentences::{Reader, Sentences};

/// The viewer's own request, as the activity layer saw it: the keyed hash of its session
/// cookie and its device id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    /// The session's keyed hash (the value events carry in `session`).
    pub session: Option<String>,
    /// The device id from the device cookie.
    pub device: Option<String>,
}

/// One event as a person reads it.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, Geo, Source};
/// use activity_tower::viewer::{Current, Display, Reader, Sentences};
/// let geo = Geo { city: Some("London".into()), country: Some("GB".into()), ..Geo::default() };
/// let source = Source::default()
///     .with_user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
///     .with_device_id("d_1")
///     .with_geo(geo);
/// let e = ActivityEvent::login_succeeded(Actor::user("bob")).with_source(source).with_session("hmac-sha256:ab");
/// let now = Current { session: Some("hmac-sha256:ab".into()), device: Some("d_1".into()) };
/// let d = Display::of(&e, &Sentences::english(), Reader::Subject, &now);
/// assert_eq!(d.sentence, "You signed in");
/// assert_eq!(d.device.as_deref(), Some("Firefox on Linux"));
/// assert_eq!(d.place.as_deref(), Some("London, GB"));
/// assert!(d.this_session && d.this_device);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Display {
    /// The sentence ([`Sentences::describe`]).
    pub sentence: String,
    /// Browser and operating system, when the event carried a user agent.
    pub device: Option<String>,
    /// `City, CC`, or what of it is known.
    pub place: Option<String>,
    /// The event belongs to the session the viewer is reading in.
    pub this_session: bool,
    /// The event came from the device the viewer is reading on.
    pub this_device: bool,
}

impl Display {
    /// How `e` reads for `reader`, with `current` the viewer's own session and device.
    pub fn of(e: &ActivityEvent, sentences: &Sentences, reader: Reader, current: &Current) -> Self {
        let source = e.source.as_ref();
        let device = source
            .and_then(|s| s.user_agent.as_deref())
            .map(|ua| Agent::parse(ua).label());
        let place = source.and_then(|s| s.geo.as_ref()).and_then(|g| {
            match (g.city.as_deref(), g.country.as_deref()) {
                (Some(c), Some(k)) => Some(format!("{c}, {k}")),
                (Some(c), None) => Some(c.to_owned()),
                (None, Some(k)) => Some(k.to_owned()),
                (None, None) => None,
            }
        });
        let same = |a: Option<&str>, b: Option<&str>| a.is_some() && a == b;
        Self {
            sentence: sentences.describe(e, reader),
            device,
            place,
            this_session: same(e.session.as_deref(), current.session.as_deref()),
            this_device: same(e.device_id(), current.device.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::Actor;

    #[test]
    fn nothing_known_marks_nothing() {
        let e = ActivityEvent::logout(Actor::user("bob"));
        let d = Display::of(
            &e,
            &Sentences::english(),
            Reader::Administrator,
            &Current::default(),
        );
        assert_eq!(d.sentence, "Signed out");
        assert_eq!((d.device, d.place), (None, None));
        // No session on either side is not "the same session".
        assert!(!d.this_session && !d.this_device);
    }
}
