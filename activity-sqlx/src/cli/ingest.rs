//! `activity ingest`: JSON Lines in, through the recorder.

use std::io::BufRead;

use activity_core::{ActivityEvent, Recorder};

/// The longest line read, in bytes; a longer line is reported and skipped.
///
/// ```
/// use activity_sqlx::cli::ingest::{read_events, MAX_LINE};
/// let long = format!("{{\"action\":\"a.b\",\"reason\":\"{}\"}}", "x".repeat(MAX_LINE));
/// let (events, report) = read_events(long.as_bytes()).unwrap();
/// assert!(events.is_empty() && report.bad[0].1.contains("longer"));
/// ```
pub const MAX_LINE: usize = 1024 * 1024;

/// What an ingest run did.
///
/// ```
/// use activity_sqlx::cli::ingest::read_events;
/// let input = r#"{"action":"auth.logout"}
/// not json
///
/// {"outcome":"success"}"#;
/// let (events, report) = read_events(input.as_bytes()).unwrap();
/// assert_eq!((events.len(), report.valid), (1, 1));
/// // Refused lines keep their line number; the blank line 3 is skipped, not refused.
/// let lines: Vec<u64> = report.bad.iter().map(|(n, _)| *n).collect();
/// assert_eq!(lines, vec![2, 4]);
/// assert!(report.bad[1].1.contains("action"), "{}", report.bad[1].1);
/// ```
#[derive(Debug, Default)]
pub struct IngestReport {
    /// Lines holding a valid event.
    pub valid: u64,
    /// Lines refused, with their number and reason.
    pub bad: Vec<(u64, String)>,
}

/// The lines of a JSON Lines input, read one at a time (memory stays flat whatever the
/// input's size): each non-blank line as its number and its event, or the reason it is
/// refused (too long, not UTF-8, not JSON, not a valid event).
///
/// ```
/// use activity_sqlx::cli::ingest::EventLines;
/// let input = "{\"action\":\"auth.logout\"}\n\nnot json\n";
/// let lines: Vec<_> = EventLines::new(input.as_bytes()).map(Result::unwrap).collect();
/// assert_eq!(lines.len(), 2, "the blank line is skipped");
/// assert!(lines[0].1.is_ok());
/// assert_eq!(lines[1].0, 3);
/// assert!(lines[1].1.is_err());
/// ```
pub struct EventLines<R> {
    input: R,
    buf: Vec<u8>,
    n: u64,
}

impl<R: BufRead> EventLines<R> {
    /// Lines of `input`.
    pub fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::new(),
            n: 0,
        }
    }
}

impl<R: BufRead> Iterator for EventLines<R> {
    type Item = std::io::Result<(u64, Result<ActivityEvent, String>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match read_line_bounded(&mut self.input, &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
            self.n += 1;
            let n = self.n;
            if self.buf.len() > MAX_LINE {
                return Some(Ok((n, Err(format!("line longer than {MAX_LINE} bytes")))));
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t.trim(),
                Err(e) => return Some(Ok((n, Err(format!("not UTF-8 ({e})"))))),
            };
            if text.is_empty() {
                continue;
            }
            return Some(Ok((
                n,
                ActivityEvent::from_json(text).map_err(|e| e.to_string()),
            )));
        }
    }
}

/// Reads every line of `input`, parsing each as one event. Blank lines are skipped. A
/// line that is too long, not UTF-8, not JSON or not a valid event is reported with its
/// number and reason; the rest come back in order. Holds every event: for large inputs
/// iterate over [`EventLines`] instead (as `activity ingest` does).
///
/// ```
/// use activity_sqlx::cli::ingest::read_events;
/// let (events, report) = read_events("{\"action\":\"auth.logout\"}\n".as_bytes()).unwrap();
/// assert_eq!((events.len(), report.bad.len()), (1, 0));
/// ```
pub fn read_events(input: impl BufRead) -> std::io::Result<(Vec<ActivityEvent>, IngestReport)> {
    let mut events = Vec::new();
    let mut report = IngestReport::default();
    for line in EventLines::new(input) {
        match line? {
            (_, Ok(e)) => {
                report.valid += 1;
                events.push(e);
            }
            (n, Err(reason)) => report.bad.push((n, reason)),
        }
    }
    Ok((events, report))
}

/// Reads one line into `buf`, keeping at most `MAX_LINE + 1` bytes of it (so an
/// over-long line is detected without holding it all). Returns the bytes consumed.
fn read_line_bounded(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE + 1).saturating_sub(buf.len());
        let line_part = if done {
            &chunk[..take - 1]
        } else {
            &chunk[..take]
        };
        buf.extend_from_slice(&line_part[..line_part.len().min(room)]);
        input.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}

/// Records `events` in order, waiting for room in the queue, counting into `progress`.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, Recorder};
/// use activity_sqlx::cli::{ingest::record_all, progress::Progress};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(activity_sqlx::SqliteStore::connect("sqlite::memory:").await.unwrap());
/// store.migrate().await.unwrap();
/// let (recorder, guard) = Recorder::builder(store.clone()).lifecycle_events(false).start();
/// let progress = Progress::with_sink("ingest", None);
/// let events = vec![ActivityEvent::logout(Actor::user("alice"))];
/// record_all(&recorder, events, &progress).await.unwrap();
/// assert_eq!((progress.count(), store.count(&ActivityQuery::new()).await.unwrap()), (1, 1));
/// guard.shutdown().await;
/// # });
/// ```
pub async fn record_all(
    recorder: &Recorder,
    events: Vec<ActivityEvent>,
    progress: &super::progress::Progress,
) -> Result<(), activity_core::Error> {
    for e in events {
        recorder.record_async(e).await?;
        progress.add(1);
    }
    recorder.flush().await
}

/// [`record_all`] for `activity ingest --restore`: events of the SDK's reserved actions
/// too (already marked restored by the caller).
///
/// # Errors
/// The recorder's errors.
pub async fn restore_all(
    recorder: &Recorder,
    events: Vec<ActivityEvent>,
    progress: &super::progress::Progress,
) -> Result<(), activity_core::Error> {
    for e in events {
        loop {
            match recorder.record_reserved(e.clone()) {
                Err(activity_core::Error::QueueFull { .. }) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                other => break other?,
            }
        }
        progress.add(1);
    }
    recorder.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_numbered_and_skipped() {
        let mut input = Vec::new();
        input.extend_from_slice(b"{\"action\":\"auth.logout\"}\n");
        input.extend_from_slice(b"not json\n");
        input.extend_from_slice(b"\n");
        input.extend_from_slice(b"{\"action\":\"auth.logout\",\"x\":1}\n");
        input.extend_from_slice(b"\xff\xfe{}\n");
        input.extend_from_slice(b"{\"outcome\":\"success\"}\n");
        input.extend_from_slice(
            format!(
                "{{\"action\":\"a.b\",\"reason\":\"{}\"}}\n",
                "x".repeat(MAX_LINE)
            )
            .as_bytes(),
        );
        input.extend_from_slice(b"{\"action\":\"auth.login.failed\"}");
        let (events, report) = read_events(&input[..]).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(report.valid, 2);
        let lines: Vec<u64> = report.bad.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, vec![2, 4, 5, 6, 7]);
        assert!(report.bad[1].1.contains('x'), "{}", report.bad[1].1);
        assert!(report.bad[2].1.contains("UTF-8"));
        assert!(report.bad[3].1.contains("action"));
        assert!(report.bad[4].1.contains("longer"));
    }
}
