//! The request bodies of an [`HttpSink`](super::HttpSink): [`HttpBody`] and the encoding of
//! a batch in each.

use activity_core::sinks::SinkFormat;
use activity_core::ActivityEvent;
use serde::Serialize;

/// How an [`HttpSink`](super::HttpSink) writes a batch in the request body.
///
/// | body | `Content-Type` | what the receiver gets |
/// |---|---|---|
/// | [`JsonLines`](Self::JsonLines) | `application/x-ndjson` | one schema-v1 event per line ([`SinkFormat::Json`]) |
/// | [`OcsfLines`](Self::OcsfLines) | `application/x-ndjson` | one OCSF 1.1.0 event per line ([`SinkFormat::Ocsf`]) |
/// | [`SplunkHec`](Self::SplunkHec) | `application/json` | Splunk HTTP Event Collector events, one JSON object per line, each wrapping the event in the given format |
///
/// A Splunk HEC object, for `/services/collector/event`:
///
/// ```json
/// {"time":1790000000.123,"host":"web-1","source":"activity","sourcetype":"activity:event",
///  "index":"audit","event":{"id":"…","action":"auth.login.succeeded","…":"…"}}
/// ```
///
/// `time` is the event's time in Unix seconds with its milliseconds as the fraction;
/// `host` and `index` are present only when configured
/// ([`hec_host`](super::HttpSinkBuilder::hec_host),
/// [`hec_index`](super::HttpSinkBuilder::hec_index)); `sourcetype` is
/// [`hec_sourcetype`](super::HttpSinkBuilder::hec_sourcetype), by default
/// `activity:event` for schema-v1 events and `ocsf` for OCSF ones.
///
/// ```
/// use activity_core::sinks::SinkFormat;
/// use activity_tower::HttpBody;
/// assert_eq!(HttpBody::default(), HttpBody::JsonLines);
/// assert_eq!(HttpBody::OcsfLines.format(), SinkFormat::Ocsf);
/// assert_eq!(HttpBody::SplunkHec(SinkFormat::Json).content_type(), "application/json");
/// assert_eq!(HttpBody::JsonLines.content_type(), "application/x-ndjson");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpBody {
    /// One schema-v1 JSON event per line (JSON Lines).
    #[default]
    JsonLines,
    /// One OCSF event per line (JSON Lines).
    OcsfLines,
    /// Splunk HEC event objects (for `/services/collector/event`), the events inside in
    /// this format; needs a [`hec_token`](super::HttpSinkBuilder::hec_token).
    SplunkHec(SinkFormat),
}

impl HttpBody {
    /// The format of the events inside the body.
    ///
    /// ```
    /// use activity_core::sinks::SinkFormat;
    /// use activity_tower::HttpBody;
    /// assert_eq!(HttpBody::SplunkHec(SinkFormat::Ocsf).format(), SinkFormat::Ocsf);
    /// ```
    pub fn format(self) -> SinkFormat {
        match self {
            HttpBody::JsonLines => SinkFormat::Json,
            HttpBody::OcsfLines => SinkFormat::Ocsf,
            HttpBody::SplunkHec(format) => format,
        }
    }

    /// The request's `Content-Type`.
    ///
    /// ```
    /// assert_eq!(activity_tower::HttpBody::OcsfLines.content_type(), "application/x-ndjson");
    /// ```
    pub fn content_type(self) -> &'static str {
        match self {
            HttpBody::JsonLines | HttpBody::OcsfLines => "application/x-ndjson",
            HttpBody::SplunkHec(_) => "application/json",
        }
    }

    /// The default HEC `sourcetype`: `activity:event`, or `ocsf` for OCSF events.
    pub(super) fn default_sourcetype(self) -> &'static str {
        match self.format() {
            SinkFormat::Json => "activity:event",
            SinkFormat::Ocsf => "ocsf",
        }
    }
}

/// The Splunk HEC metadata of every event of a batch.
#[derive(Debug, Clone, Default)]
pub(super) struct HecFields {
    pub(super) sourcetype: Option<String>,
    pub(super) index: Option<String>,
    pub(super) host: Option<String>,
}

/// The HEC `source` of every event.
const HEC_SOURCE: &str = "activity";

#[derive(Serialize)]
struct HecEvent<'a> {
    time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    source: &'static str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: serde_json::Value,
}

/// `events` as `body`, uncompressed: one JSON document per line, each line ending in `\n`.
pub(super) fn encode(
    body: HttpBody,
    hec: &HecFields,
    events: &[ActivityEvent],
) -> activity_core::Result<Vec<u8>> {
    let format = body.format();
    let mut out = Vec::with_capacity(events.len() * 512);
    for e in events {
        match body {
            HttpBody::JsonLines | HttpBody::OcsfLines => {
                out.extend_from_slice(&format.encode(e)?);
            }
            HttpBody::SplunkHec(_) => {
                let wrapped = HecEvent {
                    time: hec_time(e),
                    host: hec.host.as_deref(),
                    source: HEC_SOURCE,
                    sourcetype: hec
                        .sourcetype
                        .as_deref()
                        .unwrap_or(body.default_sourcetype()),
                    index: hec.index.as_deref(),
                    event: format.to_value(e)?,
                };
                serde_json::to_writer(&mut out, &wrapped).map_err(activity_core::Error::Json)?;
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// The event's time in Unix seconds, its milliseconds as the fraction (what HEC's `time`
/// takes). Dividing the whole milliseconds gives the double nearest the decimal
/// `seconds.mmm`, which JSON then writes as exactly that.
fn hec_time(e: &ActivityEvent) -> f64 {
    e.time.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::Actor;
    use chrono::{TimeZone, Utc};

    #[test]
    fn hec_time_is_seconds_with_milliseconds() {
        let t = Utc.timestamp_millis_opt(1_790_000_000_123).unwrap();
        let e = ActivityEvent::logout(Actor::user("u_1")).with_time(t);
        let body = encode(
            HttpBody::SplunkHec(SinkFormat::Json),
            &HecFields::default(),
            &[e],
        )
        .unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("\"time\":1790000000.123,"), "{text}");
        assert!(
            !text.contains("\"host\"") && !text.contains("\"index\""),
            "{text}"
        );
        assert!(text.contains("\"sourcetype\":\"activity:event\""), "{text}");
        assert!(text.ends_with("}\n"), "{text}");
    }

    #[test]
    fn ocsf_hec_events_default_to_the_ocsf_sourcetype() {
        let e = ActivityEvent::logout(Actor::user("u_1"));
        let hec = HecFields {
            index: Some("audit".into()),
            host: Some("web-1".into()),
            ..HecFields::default()
        };
        let body = encode(HttpBody::SplunkHec(SinkFormat::Ocsf), &hec, &[e]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["sourcetype"], "ocsf");
        assert_eq!(v["index"], "audit");
        assert_eq!(v["host"], "web-1");
        assert_eq!(v["source"], "activity");
        assert_eq!(v["event"]["class_uid"], 3002);
    }
}
