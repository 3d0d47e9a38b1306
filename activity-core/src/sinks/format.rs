//! How a sink writes an event.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::event::ActivityEvent;
use crate::export::ocsf_event;

/// The form a sink delivers events in.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, sinks::SinkFormat};
/// let e = ActivityEvent::logout(Actor::user("u_1"));
/// let json = SinkFormat::Json.encode(&e).unwrap();
/// assert_eq!(ActivityEvent::from_json(std::str::from_utf8(&json).unwrap()).unwrap(), e);
/// let ocsf: serde_json::Value = serde_json::from_slice(&SinkFormat::Ocsf.encode(&e).unwrap()).unwrap();
/// assert_eq!(ocsf["class_uid"], 3002);
/// assert_eq!("ocsf".parse::<SinkFormat>().unwrap(), SinkFormat::Ocsf);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SinkFormat {
    /// The event as stored: schema v1 JSON.
    #[default]
    Json,
    /// OCSF 1.1.0 (see [`ocsf_event`]).
    Ocsf,
}

impl SinkFormat {
    /// `json` or `ocsf`.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkFormat::Json => "json",
            SinkFormat::Ocsf => "ocsf",
        }
    }

    /// The event as one JSON document (no trailing newline).
    ///
    /// # Errors
    /// [`Error::Json`] if it cannot be written (not for a validated event).
    pub fn encode(self, event: &ActivityEvent) -> Result<Vec<u8>> {
        // Sized for a typical event, so that writing it rarely grows the buffer.
        let mut out = Vec::with_capacity(768);
        match self {
            SinkFormat::Json => serde_json::to_writer(&mut out, event),
            SinkFormat::Ocsf => serde_json::to_writer(&mut out, &ocsf_event(event)),
        }
        .map_err(Error::Json)?;
        Ok(out)
    }

    /// The event as a JSON value.
    ///
    /// # Errors
    /// [`Error::Json`] if it cannot be written (not for a validated event).
    pub fn to_value(self, event: &ActivityEvent) -> Result<Value> {
        match self {
            SinkFormat::Json => serde_json::to_value(event).map_err(Error::Json),
            SinkFormat::Ocsf => Ok(ocsf_event(event)),
        }
    }
}

impl std::str::FromStr for SinkFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "json" => Ok(SinkFormat::Json),
            "ocsf" => Ok(SinkFormat::Ocsf),
            _ => Err(Error::invalid(
                "format",
                crate::Rule::Unknown("expected `json` or `ocsf`"),
            )),
        }
    }
}
