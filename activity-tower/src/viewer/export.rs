//! CSV export of a viewer's filter, streamed a store page at a time. Audited twice: an
//! `audit.exported` (reason `export_started`) recorded durably before the first row is
//! sent — the export is refused with 503 when it cannot be — and an `audit.exported`
//! with the rows sent when it ends (completed or not).

use std::io::Write;
use std::sync::{Arc, Mutex};

use activity_core::event::payload::Exported;
use activity_core::{
    export::exported, export::exported_event, export::ExportFormat, export::ExportWriter,
    query::MAX_PAGE_SIZE, ActivityEvent, ActivityQuery, ActivityStore, Recorder,
};
use bytes::Bytes;
use futures_util::stream;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};

use super::access::{visible, Scope, Viewer};
use super::audit;
use super::body::{BoxError, ViewerBody};
use crate::{ActivityHandle, Error};

/// The writer's output: what the CSV writer produced since the last chunk.
#[derive(Clone, Default)]
struct Chunks(Arc<Mutex<Vec<u8>>>);

impl Chunks {
    fn take(&self) -> Bytes {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Bytes::from(std::mem::take(&mut *buf))
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Records `audit.exported` once, when the export ends or its body is dropped (the
/// client went away, or the store failed): with the rows sent and whether it completed.
struct ExportAudit {
    recorder: Recorder,
    handle: Option<ActivityHandle>,
    viewer: Viewer,
    scope: Scope,
    query: ActivityQuery,
    rows: u64,
    complete: bool,
}

impl Drop for ExportAudit {
    fn drop(&mut self) {
        let payload = Exported {
            scope: Some(self.scope.as_str().to_owned()),
            complete: Some(self.complete),
            ..exported(&self.query, ExportFormat::Csv, self.rows)
        };
        let e: ActivityEvent = exported_event(self.viewer.actor(), &self.query, payload);
        // A failure here is logged by the handle / reported by the recorder's metrics.
        if let Err(err) = audit::record(&self.recorder, self.handle.as_ref(), &self.viewer, e) {
            tracing::error!(error = %err, "audit.exported not recorded");
        }
    }
}

struct State {
    store: Arc<dyn ActivityStore>,
    query: ActivityQuery,
    writer: Option<ExportWriter<Chunks>>,
    out: Chunks,
    audit: ExportAudit,
}

/// How long an export waits for its `export_started` record to be durable before it is
/// refused with 503.
const STARTED_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Records, durably, that `viewer` starts exporting `query`: nothing leaves before the
/// log holds it (finding A17).
async fn record_started(
    recorder: &Recorder,
    handle: Option<&ActivityHandle>,
    viewer: &Viewer,
    scope: Scope,
    query: &ActivityQuery,
) -> Result<(), Error> {
    let payload = Exported {
        scope: Some(scope.as_str().to_owned()),
        complete: Some(false),
        ..exported(query, ExportFormat::Csv, 0)
    };
    let mut e: ActivityEvent =
        exported_event(viewer.actor(), query, payload).with_reason("export_started");
    if e.tenant.is_none() {
        e.tenant = viewer.tenant.clone();
    }
    if let Some(h) = handle {
        e = h.context().fill(e);
    }
    match tokio::time::timeout(STARTED_DEADLINE, recorder.record_reserved_durable(e)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(Error::Core(err)),
        Err(_) => Err(Error::Core(activity_core::Error::timeout(
            "the export's audit record was not durable in time",
            None,
        ))),
    }
}

/// The streamed CSV response, once its start is recorded durably.
pub(crate) async fn csv(
    store: Arc<dyn ActivityStore>,
    recorder: Recorder,
    handle: Option<ActivityHandle>,
    viewer: Viewer,
    scope: Scope,
    mut query: ActivityQuery,
) -> Result<Response<ViewerBody>, Error> {
    query.after = None;
    query.limit = MAX_PAGE_SIZE;
    record_started(&recorder, handle.as_ref(), &viewer, scope, &query).await?;
    let out = Chunks::default();
    let writer = ExportWriter::new(out.clone(), ExportFormat::Csv)?;
    let state = State {
        store,
        query: query.clone(),
        writer: Some(writer),
        out,
        audit: ExportAudit {
            recorder,
            handle,
            viewer,
            scope,
            query,
            rows: 0,
            complete: false,
        },
    };
    let body = stream::unfold(state, |mut st| async move {
        let mut writer = st.writer.take()?;
        let page = match st.store.query(&st.query).await {
            Ok(p) => p,
            Err(e) => return Some((Err::<Frame<Bytes>, BoxError>(Box::new(e)), st)),
        };
        let events: Vec<ActivityEvent> = page
            .events
            .into_iter()
            .filter(|e| visible(&st.audit.viewer, st.audit.scope, e))
            .collect();
        if let Err(e) = writer.write(&events).and_then(|()| writer.flush()) {
            return Some((Err(Box::new(e) as BoxError), st));
        }
        st.audit.rows = writer.rows();
        match page.next {
            Some(c) => {
                st.query.after = Some(c);
                st.writer = Some(writer);
            }
            None => st.audit.complete = true,
        }
        Some((Ok(Frame::data(st.out.take())), st))
    });
    let mut r = Response::new(StreamBody::new(body).boxed_unsync());
    let name = format!(
        "attachment; filename=\"activity-{}.csv\"",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::try_from(name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    *r.status_mut() = StatusCode::OK;
    Ok(r)
}
