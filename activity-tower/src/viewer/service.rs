//! The tower service behind [`ActivityViews`](super::ActivityViews): routing, scoping,
//! auditing, responses.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use activity_core::event::payload::{Payload, Viewed};
use activity_core::{
    timeline::timeline, timeline::Anchor, timeline::TimelineOptions, ActivityEvent, ActivityQuery,
    ActivityStore, Cursor, Recorder,
};
use chrono::Duration;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use serde_json::json;

use activity_core::access::AccessControl;
use activity_core::lockout::LockoutPolicy;
use activity_core::Clock;
use bytes::Bytes;
use http_body_util::BodyExt;

use super::access::{visible, AccessConfig, Scope, Viewer};
use super::body::{full, ViewerBody};
use super::csrf::CsrfKey;
use super::display::{Current, Display};
use super::params::{scoped_query, Params, EXPORT_KEYS, LIST_KEYS};
use super::sentences::{Reader, Sentences};
use super::{
    audit, csrf, devices, export, overview, page, policies, sinks, unlock, DEVICES_LOOKBACK,
};
use crate::{ActivityHandle, Error};

/// The response future of [`ViewerService`].
pub type ViewerFuture =
    Pin<Box<dyn Future<Output = Result<Response<ViewerBody>, Infallible>> + Send>>;

/// How many store pages one listing reads at most to fill a page of visible events.
const MAX_SCANS: usize = 10;

/// The longest timeline window either side of its anchor, in hours.
const MAX_TIMELINE_HOURS: i64 = 24 * 30;

pub(crate) struct Shared {
    pub store: Arc<dyn ActivityStore>,
    pub recorder: Recorder,
    pub base: String,
    pub access: AccessConfig,
    pub sentences: Arc<Sentences>,
    pub not_you: Option<String>,
    pub lockout: Option<Arc<LockoutPolicy>>,
    pub access_control: Option<Arc<AccessControl>>,
    pub clock: Arc<dyn Clock>,
    pub csrf: CsrfKey,
    pub sinks: bool,
}

/// The activity-log endpoints as a tower service (see [`ActivityViews`](super::ActivityViews)).
/// Request bodies are read only by a change of access policy (`POST /api/policies`, at most
/// [`MAX_BODY`](super::MAX_POLICY_BODY) bytes); Unlock takes its account in the query
/// string. Both take the page's CSRF token in a header.
///
/// ```
/// # use std::sync::Arc;
/// use activity_core::{MemoryStore, Recorder};
/// use activity_tower::ActivityViews;
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let store = Arc::new(MemoryStore::new());
/// # let (recorder, guard) = Recorder::builder(store.clone()).start();
/// let svc = ActivityViews::new(store, recorder).service(); // at /activity-log
/// // Nobody signed in (no `Viewer`): 401, with the headers every answer carries.
/// let req = Request::get("/activity-log/api/events").body(String::new()).unwrap();
/// let res = svc.clone().oneshot(req).await.unwrap();
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(res.headers()["cache-control"], "no-store");
/// assert_eq!(res.headers()["x-content-type-options"], "nosniff");
/// // Anything outside its path: 404.
/// let res = svc.oneshot(Request::get("/elsewhere").body(String::new()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), StatusCode::NOT_FOUND);
/// # guard.shutdown().await;
/// # });
/// ```
#[derive(Clone)]
pub struct ViewerService {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ViewerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerService")
            .field("base", &self.shared.base)
            .finish()
    }
}

impl ViewerService {
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
        }
    }
}

impl<B> tower_service::Service<Request<B>> for ViewerService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ViewerBody>;
    type Error = Infallible;
    type Future = ViewerFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        let (parts, body) = req.into_parts();
        Box::pin(async move {
            let rest = parts.uri.path().strip_prefix(shared.base.as_str());
            let api = rest.is_some_and(|rest| rest.starts_with("/api/"));
            let res = match shared.route(&parts, body).await {
                Ok(r) => r,
                Err(e) => {
                    let mut r = error_response(&e, api);
                    let allow = match rest {
                        Some("/api/unlock") => Some("POST"),
                        Some("/api/policies") => Some("GET, POST"),
                        _ => None,
                    };
                    if let (true, Some(allow)) = (matches!(e, Error::MethodNotAllowed), allow) {
                        r.headers_mut()
                            .insert(header::ALLOW, HeaderValue::from_static(allow));
                    }
                    r
                }
            };
            Ok(secure(res))
        })
    }
}

fn json_response(value: &impl serde::Serialize) -> Result<Response<ViewerBody>, Error> {
    // Our own values failing to serialise is a server fault, not the client's input.
    let body = serde_json::to_vec(value).map_err(|e| {
        Error::Core(activity_core::Error::backend(
            "response encoding failed",
            Some(Box::new(e)),
        ))
    })?;
    Ok(full(StatusCode::OK, "application/json", body))
}

/// The text an error is answered with: its message, then the store's or recorder's own
/// (which `Display` leaves to `source()`).
fn message(e: &Error) -> String {
    match e {
        Error::Core(core) => format!("{e}: {core}"),
        _ => e.to_string(),
    }
}

fn error_response(e: &Error, api: bool) -> Response<ViewerBody> {
    let message = message(e);
    if e.status().is_server_error() {
        tracing::error!(error = %message, "activity viewer request failed");
    }
    let mut r = if api {
        let body = json!({ "error": e.code(), "message": message });
        full(e.status(), "application/json", body.to_string())
    } else {
        let text = activity_core::text::escape_html(&message);
        full(
            e.status(),
            "text/html; charset=utf-8",
            format!("<!doctype html><html lang=en><meta charset=utf-8><title>Activity log</title><p>{text}</p></html>"),
        )
    };
    if matches!(e, Error::MethodNotAllowed) {
        // The page and its assets answer HEAD too; the API reads are audited, GET only.
        let allow = if api { "GET" } else { "GET, HEAD" };
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    r
}

/// The headers every response carries.
fn secure(mut r: Response<ViewerBody>) -> Response<ViewerBody> {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// Reads a request body of at most `limit` bytes (longer: [`Error::BodyTooLarge`], and
/// the rest is not read).
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Error>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::BodyTooLarge { limit }),
        Err(e) => Err(Error::Body(e)),
    }
}

impl Shared {
    async fn route<B>(&self, parts: &Parts, body: B) -> Result<Response<ViewerBody>, Error>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let rest = parts
            .uri
            .path()
            .strip_prefix(self.base.as_str())
            .ok_or(Error::NotFound)?;
        let read_only = parts.method == Method::GET || parts.method == Method::HEAD;
        match rest {
            "" | "/" | "/viewer.js" | "/viewer.css" if !read_only => Err(Error::MethodNotAllowed),
            "" => Ok(self.redirect_to_page(parts)),
            "/viewer.js" => Ok(asset("text/javascript; charset=utf-8", page::JS)),
            "/viewer.css" => Ok(asset("text/css; charset=utf-8", page::CSS)),
            "/" => {
                let viewer = self.viewer(parts)?;
                let token = self.csrf.token(&viewer, self.clock.now());
                let extra = page::PageParts {
                    csrf: &token,
                    not_you: self.not_you.as_deref(),
                    lang: self.sentences.language(),
                    policies: self.access_control.is_some(),
                    sinks: self.sinks,
                };
                Ok(full(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    page::html(&self.base, &viewer, &extra),
                ))
            }
            "/sinks" | "/api/sinks" => {
                if !self.sinks {
                    return Err(Error::NotFound);
                }
                let api = rest == "/api/sinks";
                let allowed = if api {
                    parts.method == Method::GET
                } else {
                    read_only
                };
                if !allowed {
                    return Err(Error::MethodNotAllowed);
                }
                let viewer = self.viewer(parts)?;
                self.sinks(parts, &viewer, api).await
            }
            "/api/unlock" => {
                if parts.method != Method::POST {
                    return Err(Error::MethodNotAllowed);
                }
                let viewer = self.viewer(parts)?;
                self.unlock(parts, &viewer).await
            }
            "/api/policies" if parts.method == Method::POST => {
                let viewer = self.viewer(parts)?;
                let control = self.policy_admin(&viewer)?;
                csrf::check(&self.csrf, parts, &viewer, self.clock.now())?;
                let body = read_body(body, policies::MAX_BODY).await?;
                let policy = policies::parse_change(&body)?;
                control
                    .set(viewer.tenant.as_deref(), policy, viewer.actor())
                    .await?;
                json_response(&policies::listing(control, &viewer))
            }
            "/api/policies" | "/api/policies/test" => {
                if parts.method != Method::GET {
                    return Err(Error::MethodNotAllowed);
                }
                let viewer = self.viewer(parts)?;
                let control = self.policy_admin(&viewer)?;
                let (body, rows, scope) = if rest == "/api/policies" {
                    Params::parse(parts.uri.query(), &[])?;
                    (policies::listing(control, &viewer), 1, "policies")
                } else {
                    let params = Params::parse(parts.uri.query(), policies::TEST_KEYS)?;
                    (policies::test(control, &viewer, &params)?, 0, "policy_test")
                };
                let viewed = Viewed {
                    rows,
                    ..Viewed::scope(scope)
                };
                let e = viewed.write(ActivityEvent::audit_viewed(viewer.actor()));
                audit::record(&self.recorder, parts.extensions.get(), &viewer, e)?;
                json_response(&body)
            }
            "/api/events" | "/api/events.csv" | "/api/devices" | "/api/timeline"
            | "/api/overview" => {
                if parts.method != Method::GET {
                    return Err(Error::MethodNotAllowed);
                }
                let viewer = self.viewer(parts)?;
                match rest {
                    "/api/events" => self.list(parts, &viewer).await,
                    "/api/events.csv" => self.export(parts, &viewer).await,
                    "/api/devices" => self.devices(parts, &viewer).await,
                    "/api/overview" => self.overview(parts, &viewer).await,
                    _ => self.timeline(parts, &viewer).await,
                }
            }
            _ => Err(Error::NotFound),
        }
    }

    fn viewer(&self, parts: &Parts) -> Result<Viewer, Error> {
        self.access.viewer(parts)
    }

    /// The access control an administrator manages here (404 when the views have none).
    fn policy_admin(&self, viewer: &Viewer) -> Result<&Arc<AccessControl>, Error> {
        if !viewer.is_admin() {
            return Err(Error::Forbidden(
                "only administrators manage access policies",
            ));
        }
        self.access_control.as_ref().ok_or(Error::NotFound)
    }

    /// How `events` read for `viewer` in `scope`, in their order.
    fn display(&self, parts: &Parts, scope: Scope, events: &[ActivityEvent]) -> Vec<Display> {
        let reader = match scope {
            Scope::Own => Reader::Subject,
            Scope::Tenant => Reader::Administrator,
        };
        let current = current(parts);
        events
            .iter()
            .map(|e| Display::of(e, &self.sentences, reader, &current))
            .collect()
    }

    fn redirect_to_page(&self, parts: &Parts) -> Response<ViewerBody> {
        let mut to = format!("{}/", self.base);
        if let Some(q) = parts.uri.query() {
            to.push('?');
            to.push_str(q);
        }
        let mut r = full(StatusCode::PERMANENT_REDIRECT, "text/plain", "");
        if let Ok(v) = HeaderValue::try_from(to) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }

    fn gate_api(&self, viewer: &Viewer) -> Result<(), Error> {
        if self.access.api_allowed(viewer) {
            Ok(())
        } else {
            Err(Error::TierForbidsApi)
        }
    }

    /// Reads one page of events `viewer` may see in `scope`.
    async fn visible_page(
        &self,
        viewer: &Viewer,
        scope: Scope,
        query: &ActivityQuery,
    ) -> Result<(Vec<ActivityEvent>, Option<Cursor>), Error> {
        let want = query.page_size();
        let mut q = query.clone();
        let mut out = Vec::with_capacity(want);
        let mut next = None;
        for _ in 0..MAX_SCANS {
            q.limit = want - out.len();
            let page = self.store.query(&q).await?;
            next = page.next;
            out.extend(
                page.events
                    .into_iter()
                    .filter(|e| visible(viewer, scope, e)),
            );
            match next {
                Some(c) if out.len() < want => q.after = Some(c),
                _ => break,
            }
        }
        Ok((out, next))
    }

    async fn list(&self, parts: &Parts, viewer: &Viewer) -> Result<Response<ViewerBody>, Error> {
        self.gate_api(viewer)?;
        let params = Params::parse(parts.uri.query(), LIST_KEYS)?;
        let (scope, query) = scoped_query(&params, viewer)?;
        let (events, next) = self.visible_page(viewer, scope, &query).await?;
        let mut filter = query.clone();
        filter.after = None;
        let viewed = Viewed {
            rows: events.len() as u64,
            filter: serde_json::to_value(&filter).ok(),
            page: Some(
                if query.after.is_some() {
                    "next"
                } else {
                    "first"
                }
                .to_owned(),
            ),
            ..Viewed::scope(scope.as_str())
        };
        let e = viewed.write(ActivityEvent::audit_viewed(viewer.actor()));
        audit::record(&self.recorder, parts.extensions.get(), viewer, e)?;
        let display = self.display(parts, scope, &events);
        json_response(
            &json!({ "scope": scope.as_str(), "events": events, "display": display, "next": next }),
        )
    }

    async fn export(&self, parts: &Parts, viewer: &Viewer) -> Result<Response<ViewerBody>, Error> {
        let params = Params::parse(parts.uri.query(), EXPORT_KEYS)?;
        let (scope, query) = scoped_query(&params, viewer)?;
        export::csv(
            self.store.clone(),
            self.recorder.clone(),
            parts.extensions.get::<ActivityHandle>().cloned(),
            viewer.clone(),
            scope,
            query,
        )
        .await
    }

    async fn devices(&self, parts: &Parts, viewer: &Viewer) -> Result<Response<ViewerBody>, Error> {
        self.gate_api(viewer)?;
        let params = Params::parse(parts.uri.query(), &["user"])?;
        let user = params.one("user")?.unwrap_or(&viewer.user_id).to_owned();
        if user != viewer.user_id && !viewer.is_admin() {
            return Err(Error::Forbidden("users see only their own devices"));
        }
        let query = ActivityQuery::own(viewer.tenant.as_deref(), &user)
            .action(activity_core::Action::LOGIN_SUCCEEDED.as_str())
            .limit(DEVICES_LOOKBACK);
        let as_seen = Viewer {
            user_id: user.clone(),
            ..viewer.clone()
        };
        let (events, _) = self.visible_page(&as_seen, Scope::Own, &query).await?;
        let mut known = devices::known_devices(&events);
        if user == viewer.user_id {
            let now = current(parts);
            for d in &mut known.devices {
                d.this_device = d.device_id.is_some() && d.device_id == now.device;
            }
        }
        let viewed = Viewed {
            rows: known.devices.len() as u64,
            user: Some(user),
            ..Viewed::scope("devices")
        };
        let e = viewed.write(ActivityEvent::audit_viewed(viewer.actor()));
        audit::record(&self.recorder, parts.extensions.get(), viewer, e)?;
        json_response(&known)
    }

    async fn timeline(
        &self,
        parts: &Parts,
        viewer: &Viewer,
    ) -> Result<Response<ViewerBody>, Error> {
        self.gate_api(viewer)?;
        if !viewer.is_admin() {
            return Err(Error::Forbidden("only administrators open timelines"));
        }
        let params = Params::parse(parts.uri.query(), &["event", "alert", "hours"])?;
        let (id, anchor) = match (params.uuid("event")?, params.uuid("alert")?) {
            (Some(id), None) => (id, Anchor::Event(id)),
            (None, Some(id)) => (id, Anchor::Alert(id)),
            _ => {
                return Err(Error::param(
                    "event",
                    "give exactly one of event= or alert=",
                ))
            }
        };
        let hours = match params.one("hours")? {
            None => 24,
            Some(h) => match h.parse::<i64>() {
                Ok(n) if (1..=MAX_TIMELINE_HOURS).contains(&n) => n,
                _ => return Err(Error::param("hours", "expected 1 to 720")),
            },
        };
        // The anchor must be the viewer's tenant's, whatever the store's scoping does.
        let mut probe = ActivityQuery::new().ids([id]).limit(1);
        probe.tenant = viewer.tenant.clone();
        let found = self.store.query(&probe).await?.events;
        if !found.iter().any(|e| visible(viewer, Scope::Tenant, e)) {
            return Err(Error::NotFound);
        }
        let options = TimelineOptions {
            before: Duration::hours(hours),
            after: Duration::hours(hours),
            ..TimelineOptions::default()
        };
        let mut t = timeline(&*self.store, viewer.tenant.as_deref(), anchor, options).await?;
        t.entries
            .retain(|r| visible(viewer, Scope::Tenant, &r.event));
        let accounts: std::collections::BTreeSet<&str> = t
            .entries
            .iter()
            .filter_map(|r| r.event.actor_id())
            .collect();
        let pivots: Vec<_> = t
            .pivots
            .iter()
            .filter(|p| accounts.contains(p.account.as_str()))
            .cloned()
            .collect();
        t.pivots = pivots;
        let viewed = Viewed {
            rows: t.entries.len() as u64,
            anchor: Some(id.to_string()),
            ..Viewed::scope("timeline")
        };
        let e = viewed.write(ActivityEvent::audit_viewed(viewer.actor()));
        audit::record(&self.recorder, parts.extensions.get(), viewer, e)?;
        let events: Vec<ActivityEvent> = t.entries.iter().map(|r| r.event.clone()).collect();
        let display = self.display(parts, Scope::Tenant, &events);
        let mut body = serde_json::to_value(&t).map_err(|e| {
            Error::Core(activity_core::Error::backend(
                "response encoding failed",
                Some(Box::new(e)),
            ))
        })?;
        if let Some(obj) = body.as_object_mut() {
            obj.insert("display".to_owned(), json!(display));
        }
        json_response(&body)
    }

    async fn overview(
        &self,
        parts: &Parts,
        viewer: &Viewer,
    ) -> Result<Response<ViewerBody>, Error> {
        self.gate_api(viewer)?;
        if !viewer.is_admin() {
            return Err(Error::Forbidden("only administrators see the overview"));
        }
        Params::parse(parts.uri.query(), &[])?;
        let o = overview::read(&*self.store, viewer, self.clock.now()).await?;
        let viewed = Viewed {
            rows: (o.alerts.len() + o.locked.len()) as u64,
            ..Viewed::scope("overview")
        };
        let e = viewed.write(ActivityEvent::audit_viewed(viewer.actor()));
        audit::record(&self.recorder, parts.extensions.get(), viewer, e)?;
        json_response(&o)
    }

    /// The sinks' receipts for an administrator: the page, or JSON (`api`); audited.
    async fn sinks(
        &self,
        parts: &Parts,
        viewer: &Viewer,
        api: bool,
    ) -> Result<Response<ViewerBody>, Error> {
        self.gate_api(viewer)?;
        if !viewer.is_admin() {
            return Err(Error::Forbidden(
                "only administrators see the delivery to sinks",
            ));
        }
        Params::parse(parts.uri.query(), &[])?;
        let receipts = sinks::read(&*self.store).await?;
        let viewed = Viewed {
            rows: receipts.sinks.len() as u64,
            ..Viewed::scope("sinks")
        };
        let e = viewed.write(ActivityEvent::audit_viewed(viewer.actor()));
        audit::record(&self.recorder, parts.extensions.get(), viewer, e)?;
        if api {
            return json_response(&receipts);
        }
        let extra = sinks::PageParts {
            base: &self.base,
            who: viewer.name.as_deref().unwrap_or(&viewer.user_id),
            lang: self.sentences.language(),
            now: self.clock.now(),
        };
        Ok(full(
            StatusCode::OK,
            "text/html; charset=utf-8",
            sinks::page(&receipts, &extra),
        ))
    }

    /// An administrator's Unlock: CSRF-checked, then released through the policy.
    async fn unlock(&self, parts: &Parts, viewer: &Viewer) -> Result<Response<ViewerBody>, Error> {
        if !viewer.is_admin() {
            return Err(Error::Forbidden("only administrators unlock accounts"));
        }
        let Some(policy) = &self.lockout else {
            return Err(Error::NotFound);
        };
        csrf::check(&self.csrf, parts, viewer, self.clock.now())?;
        let params = Params::parse(parts.uri.query(), &["account"])?;
        let account = params
            .one("account")?
            .ok_or_else(|| Error::param("account", "missing"))?;
        if account.len() > activity_core::limits::ID || account.chars().any(char::is_control) {
            return Err(Error::param("account", "not an account id"));
        }
        if !unlock::locked_now(policy, viewer, account).await? {
            return Err(Error::param("account", "not locked now"));
        }
        unlock::release(policy, viewer, account).await?;
        json_response(&json!({ "account": account, "unlocked": true }))
    }
}

/// The viewer's own session and device, as the activity layer in front saw them.
fn current(parts: &Parts) -> Current {
    match parts.extensions.get::<ActivityHandle>() {
        Some(h) => Current {
            session: h.context().session.clone(),
            device: h
                .context()
                .device_id
                .as_ref()
                .map(|d| d.as_str().to_owned()),
        },
        None => Current::default(),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response<ViewerBody> {
    let mut r = full(StatusCode::OK, content_type, body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_is_answered_with_its_text_and_printed_once() {
        let e = Error::from(activity_core::Error::unavailable("database down", None));
        // The answer's text is the same as when `Display` held the source.
        assert_eq!(
            message(&e),
            "activity log unavailable: store unavailable: database down"
        );
        // `Display` leaves the source to `source()`, so chain printers show it once.
        assert_eq!(e.to_string(), "activity log unavailable");
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert!(source.contains("database down"), "{source}");
        assert_eq!(message(&Error::NotFound), "not found");
    }
}
