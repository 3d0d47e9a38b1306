//! [`ActivityService`]: the middleware itself.

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use activity_core::{limits, Action, ActivityEvent, Actor, LockKey, LockStatus, Outcome};
use futures_util::FutureExt;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER, SET_COOKIE, USER_AGENT};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use crate::body::{read_prefix, PrefixedBody};
use crate::client_ip::client_ip;
use crate::context::{
    cap, cookie, set_cookie, valid_device_id, valid_request_id, ActivityHandle, OutcomeHint,
    PeerAddr, RequestContext, TenantSource,
};
use crate::future::ResponseFuture;
use crate::layer::Config;
use crate::rules::{RouteKind, RouteRule};

/// The request-id header read and set by the layer.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The middleware [`ActivityLayer`](crate::ActivityLayer) produces.
///
/// The inner service receives the request with its body wrapped in a [`PrefixedBody`]
/// (byte-identical to what the client sent).
///
/// ```
/// # use std::{convert::Infallible, sync::Arc};
/// use activity_core::{Action, ActivityQuery, ActivityStore, MemoryStore, Recorder};
/// use activity_tower::{ActivityLayer, PrefixedBody, RouteKind, RouteRule};
/// use http::{Request, Response, StatusCode};
/// use tower::{Layer, ServiceExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let (recorder, guard) = Recorder::builder(store.clone()).start();
/// let layer = ActivityLayer::new(recorder.clone()).rule(RouteRule::post("/login", RouteKind::Login));
/// // Any tower service; this one turns every sign-in down.
/// let app = layer.layer(tower::service_fn(|_req: Request<PrefixedBody<String>>| async {
///     let mut res = Response::new(String::new());
///     *res.status_mut() = StatusCode::UNAUTHORIZED;
///     Ok::<_, Infallible>(res)
/// }));
/// let req = Request::post("/login")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body("username=alice%40example.com&password=nope".to_owned())
///     .unwrap();
/// let res = app.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
/// assert!(res.headers().contains_key("x-request-id"));
/// recorder.flush().await.unwrap();
/// let page = store.query(&ActivityQuery::own(None, "alice@example.com")).await.unwrap();
/// assert_eq!(page.events[0].action, Action::LOGIN_FAILED);
/// assert_eq!(page.events[0].reason.as_deref(), Some("unauthorized"));
/// # guard.shutdown().await;
/// # });
/// ```
#[derive(Clone)]
pub struct ActivityService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> std::fmt::Debug for ActivityService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityService").finish_non_exhaustive()
    }
}

impl<S> ActivityService<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
}

fn peer(parts: &Parts) -> Option<IpAddr> {
    if let Some(PeerAddr(a)) = parts.extensions.get::<PeerAddr>() {
        return Some(a.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(a)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(a.ip());
    }
    parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)
}

fn context(config: &Config, parts: &Parts) -> RequestContext {
    let ip = peer(parts).map(|p| client_ip(p, &parts.headers, &config.trusted));
    let user_agent = parts
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| cap(ua, limits::USER_AGENT))
        .filter(|ua| !ua.is_empty() && !ua.contains('\0'));
    let request_id = parts
        .headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let device_id = cookie(&parts.headers, &config.device_cookie)
        .filter(|v| valid_device_id(v))
        .map(str::to_owned);
    let tenant = match &config.tenant {
        TenantSource::None => None,
        TenantSource::Header(h) => parts
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(|t| cap(t.trim(), limits::TENANT))
            .filter(|t| !t.is_empty()),
        TenantSource::Fn(f) => f(parts).map(|t| cap(&t, limits::TENANT)),
    };
    let session = match (&config.session_cookie, &config.session_key) {
        (Some(name), Some(key)) => cookie(&parts.headers, name)
            .filter(|v| !v.is_empty())
            .map(|v| key.hash(v)),
        _ => None,
    };
    RequestContext {
        ip,
        user_agent,
        device_id,
        request_id,
        tenant,
        actor: config.actor.actor_in_parts(parts),
        session,
    }
}

/// A request id unique across processes: a random per-process prefix and a counter
/// (no random number per request: that costs a system call).
fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!(
        "req_{prefix}{:08x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Records, or reports the refusal: every time for the first few, then at powers of two,
/// so that an overloaded log does not also drown the application's own logs.
fn record(config: &Config, event: ActivityEvent) {
    static REFUSED: AtomicU64 = AtomicU64::new(0);
    if let Err(e) = config.recorder.record(event) {
        let n = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 8 || n.is_power_of_two() {
            tracing::error!(error = %e, refused_so_far = n, "activity event not recorded");
        }
    }
}

fn empty_response<B: Default>(
    status: StatusCode,
    retry_after_secs: u64,
    request_id: &str,
) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
        res.headers_mut().insert(RETRY_AFTER, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    res
}

/// Records the event of a rule's route when its future is dropped unfinished (the
/// client went away mid-request), unless disarmed. The event is built only then.
struct DropGuard {
    config: Arc<Config>,
    pending: Option<(Arc<RequestContext>, Action, Option<Actor>)>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some((ctx, action, actor)) = self.pending.take() {
            let mut e = ctx
                .fill(ActivityEvent::new(action).with_outcome(Outcome::Unknown))
                .with_reason("client_disconnected");
            e.actor = actor.or(e.actor);
            record(&self.config, e);
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ActivityService<S>
where
    S: Service<Request<PrefixedBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body<Data = bytes::Bytes> + Unpin + Send + 'static,
    ReqBody::Error: Send,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let ctx = Arc::new(context(&self.config, &parts));
        parts.extensions.insert(ActivityHandle::new(
            self.config.recorder.clone(),
            ctx.clone(),
            self.config.session_key.clone(),
        ));
        let rule = self
            .config
            .rules
            .iter()
            .find(|r| r.matches(&parts.method, parts.uri.path()))
            .cloned();
        let Some(rule) = rule else {
            let request_id = HeaderValue::from_str(&ctx.request_id).ok();
            let req =
                Request::from_parts(parts, PrefixedBody::new(bytes::Bytes::new(), body, false));
            return ResponseFuture::passthrough(self.inner.call(req), request_id);
        };
        // The clone that was driven to readiness handles this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        ResponseFuture::rule(Box::pin(handle_rule(inner, config, rule, ctx, parts, body)))
    }
}

async fn handle_rule<S, ReqBody, ResBody>(
    mut inner: S,
    config: Arc<Config>,
    rule: RouteRule,
    ctx: Arc<RequestContext>,
    parts: Parts,
    body: ReqBody,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<PrefixedBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body<Data = bytes::Bytes> + Unpin,
    ResBody: Default,
{
    // Fail closed: nothing authenticates while nothing can be recorded.
    if rule.kind().is_authentication() && !config.recorder.is_accepting() {
        return Ok(empty_response(
            StatusCode::SERVICE_UNAVAILABLE,
            config.unavailable_retry_after.as_secs(),
            &ctx.request_id,
        ));
    }
    let mut actor = ctx.actor.clone();
    let body = match (actor.is_none(), config.actor.body_kind(&parts)) {
        (true, Some(kind)) => match read_prefix(body, config.body_limit).await {
            Ok((prefix, done, rest)) => {
                actor = config
                    .actor
                    .actor_in_body(kind, &prefix[..prefix.len().min(config.body_limit)]);
                PrefixedBody::new(prefix, rest, done)
            }
            Err(_) => {
                // The client's body broke off: nothing reaches the handler, which could
                // not have read it either. Recorded as unknown.
                let e = ctx
                    .fill(
                        ActivityEvent::new(rule.kind().action(Outcome::Unknown))
                            .with_outcome(Outcome::Unknown),
                    )
                    .with_reason("body_error");
                record(&config, e);
                return Ok(empty_response(StatusCode::BAD_REQUEST, 1, &ctx.request_id));
            }
        },
        _ => PrefixedBody::new(bytes::Bytes::new(), body, false),
    };
    if *rule.kind() == RouteKind::Login {
        let key = LockKey {
            tenant: ctx.tenant.as_deref(),
            account: actor.as_ref().map(|a| a.id.as_str()),
            ip: ctx.ip,
        };
        match config.lockout.check(&key).await {
            Ok(LockStatus::Locked { until, reason }) => {
                let mut e = ctx
                    .fill(ActivityEvent::new(Action::LOGIN_FAILED).with_outcome(Outcome::Failure));
                e.actor = actor.clone().or(e.actor);
                record(
                    &config,
                    e.with_reason("locked").with_detail("lock_reason", reason),
                );
                let retry = until
                    .map(|u| (u - chrono::Utc::now()).num_seconds().max(1) as u64)
                    .unwrap_or(config.locked_retry_after.as_secs());
                return Ok(empty_response(config.locked_status, retry, &ctx.request_id));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "lockout check failed; letting the attempt through")
            }
        }
    }
    let logout_session = ctx.session.clone();
    let mut guard = DropGuard {
        config: config.clone(),
        pending: Some((
            ctx.clone(),
            rule.kind().action(Outcome::Unknown),
            actor.clone(),
        )),
    };
    let req = Request::from_parts(parts, body);
    let result = AssertUnwindSafe(inner.call(req)).catch_unwind().await;
    let base = |outcome: Outcome, reason: Option<String>, who: Option<Actor>| {
        let mut e = ctx.fill(ActivityEvent::new(rule.kind().action(outcome)).with_outcome(outcome));
        e.actor = who.or_else(|| actor.clone()).or(e.actor);
        e.reason = reason;
        e
    };
    guard.pending = None;
    match result {
        Ok(Ok(mut res)) => {
            let (mut outcome, reason) = rule.judge(res.status());
            let mut reason = reason.map(str::to_owned);
            let mut who = None;
            if let Some(hint) = res.extensions_mut().remove::<OutcomeHint>() {
                outcome = hint.outcome.unwrap_or(outcome);
                reason = hint.reason.or(reason);
                who = hint.actor;
            }
            let mut event = base(outcome, reason, who);
            let mut follow_up = None;
            match rule.kind() {
                RouteKind::Login if outcome == Outcome::Success => {
                    if event.device_id().is_none() {
                        let id = format!("d_{}", uuid::Uuid::new_v4().simple());
                        let cookie = format!(
                            "{}={id}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
                            config.device_cookie,
                            config.device_max_age.as_secs()
                        );
                        if let Ok(v) = HeaderValue::from_str(&cookie) {
                            res.headers_mut().append(SET_COOKIE, v);
                        }
                        event.source.get_or_insert_with(Default::default).device_id = Some(id);
                    }
                    let session = match (&config.session_cookie, &config.session_key) {
                        (Some(name), Some(key)) => {
                            set_cookie(res.headers(), name).map(|v| key.hash(v))
                        }
                        _ => None,
                    };
                    if session.is_some() {
                        event.session = session;
                    }
                    let mut created = event.clone();
                    created.id = uuid::Uuid::now_v7();
                    created.action = Action::SESSION_CREATED;
                    created.reason = None;
                    follow_up = Some(created);
                }
                RouteKind::Logout if outcome == Outcome::Success => {
                    let mut ended = event.clone();
                    ended.id = uuid::Uuid::now_v7();
                    ended.action = Action::SESSION_TERMINATED;
                    ended.session = logout_session;
                    follow_up = Some(ended);
                }
                _ => {}
            }
            record(&config, event);
            if let Some(e) = follow_up {
                record(&config, e);
            }
            if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
                res.headers_mut().entry(X_REQUEST_ID).or_insert(v);
            }
            Ok(res)
        }
        Ok(Err(err)) => {
            record(
                &config,
                base(Outcome::Unknown, Some("service_error".into()), None),
            );
            Err(err)
        }
        Err(panic) => {
            record(&config, base(Outcome::Unknown, Some("panic".into()), None));
            std::panic::resume_unwind(panic)
        }
    }
}
