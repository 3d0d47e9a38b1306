//! [`ActivityService`]: the middleware itself. A request no rule matches passes through
//! with its context; a rule's request goes admit → call → judge → record
//! (`handle_rule`), and every event it records is made by one function
//! (`Attempt::event`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use activity_core::lockout::{Admission, AttemptKind, LockKey, LockStatus, Settlement, Ticket};
use activity_core::text::truncate;
use activity_core::{limits, Action, ActivityEvent, Actor, Outcome};
use futures_util::FutureExt;
use http::header::{HeaderValue, RETRY_AFTER, SET_COOKIE};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use super::body::{read_prefix, PrefixedBody};
use super::config::Config;
use super::context::RequestContext;
use super::device_cookie::{set_device_cookie, DeviceId};
use super::extensions::OutcomeHint;
use super::future::ResponseFuture;
use super::handle::ActivityHandle;
use super::headers::{echo_request_id, set_cookie};
use super::identifier::{identifier_in, Found};
use super::rules::{RouteKind, RouteRule};

/// The middleware [`ActivityLayer`](crate::ActivityLayer) produces.
///
/// The inner service receives the request with its body wrapped in a [`PrefixedBody`]
/// (byte-identical to what the client sent).
///
/// ```
/// # use std::{convert::Infallible, sync::Arc};
/// use activity_core::{Action, ActivityQuery, ActivityStore, MemoryStore, Recorder};
/// use activity_tower::layer::PrefixedBody;
/// use activity_tower::{ActivityLayer, RouteKind, RouteRule};
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
        let ctx = Arc::new(RequestContext::read(&self.config, &parts));
        if ctx.ip.is_none() {
            self.config.warned.no_peer();
        }
        let identified = Arc::default();
        parts.extensions.insert(ActivityHandle::new(
            self.config.recorder.clone(),
            ctx.clone(),
            self.config.session.as_ref().map(|s| s.key.clone()),
            Arc::clone(&identified),
        ));
        let rule = self
            .config
            .rules
            .iter()
            .find(|r| r.matches(&parts.method, parts.uri.path()))
            .cloned();
        let Some(rule) = rule else {
            if let Some(refused) = self.gate_everywhere(&ctx) {
                return ResponseFuture::rule(Box::pin(std::future::ready(Ok(refused))));
            }
            let request_id = HeaderValue::from_str(&ctx.request_id).ok();
            let req =
                Request::from_parts(parts, PrefixedBody::new(bytes::Bytes::new(), body, false));
            return ResponseFuture::passthrough(self.inner.call(req), request_id);
        };
        // The clone that was driven to readiness handles this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let ack =
            super::ack::Pending::new(self.config.ack.of(&rule, &parts.method, parts.uri.path()));
        let attempt = Attempt {
            ack,
            // The signed-in user is never the subject of a sign-in.
            actor: (rule.kind != RouteKind::Login)
                .then(|| ctx.actor.clone())
                .flatten(),
            // Only a sign-in sets the device cookie.
            secure_cookie: rule.kind == RouteKind::Login
                && self.config.device_secure.secure(
                    &parts,
                    super::context::peer(&parts),
                    &self.config.trusted,
                ),
            config: self.config.clone(),
            rule,
            ctx,
            identified,
            ticket: std::sync::Mutex::new(None),
        };
        ResponseFuture::rule(Box::pin(handle_rule(inner, attempt, parts, body)))
    }
}

impl<S> ActivityService<S> {
    /// Under [`access_everywhere`](crate::ActivityLayer::access_everywhere), the access
    /// policies' decision on a request no rule matches: the refusal, if denied.
    fn gate_everywhere<B: Default>(&self, ctx: &RequestContext) -> Option<Response<B>> {
        let gate = self.config.access.as_ref().filter(|g| g.everywhere)?;
        let judged = gate.judge(ctx, ctx.actor.as_ref());
        for e in judged.events(ctx, ctx.actor.as_ref(), "request") {
            if let Err(err) = self.config.recorder.record(e) {
                tracing::error!(error = %err, "access decision not recorded");
            }
        }
        let reason = judged.decision.denied?.reason;
        Some(access_refusal(reason.as_str(), &ctx.request_id))
    }
}

/// The 403 of a request an access policy denies: empty, with the reason code and the
/// request id.
fn access_refusal<B: Default>(reason: &'static str, request_id: &str) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = StatusCode::FORBIDDEN;
    res.headers_mut().insert(
        super::access::X_ACTIVITY_REASON,
        HeaderValue::from_static(reason),
    );
    echo_request_id(res.headers_mut(), request_id);
    res
}

/// A request of a rule's route: admitted, then handed to the inner service, then judged
/// from its response, and recorded.
async fn handle_rule<S, ReqBody, ResBody>(
    mut inner: S,
    mut attempt: Attempt,
    parts: Parts,
    body: ReqBody,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<PrefixedBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body<Data = bytes::Bytes> + Unpin,
    ResBody: Default,
{
    // Admit: a refused attempt never reaches the handler.
    let req = match attempt.admit(parts, body).await {
        Ok(req) => req,
        Err(refused) => return Ok(refused),
    };
    // Call: a client that goes away meanwhile is recorded by the guard.
    let guard = DropGuard(Some(&attempt));
    let result = AssertUnwindSafe(inner.call(req)).catch_unwind().await;
    guard.disarm();
    // Judge, settle the lockout's reservation, and record.
    match result {
        Ok(Ok(res)) => {
            // Under Ack::Durable the answer waits for its events (ack.rs).
            attempt.ack.arm();
            let res = attempt.answered(res).await;
            let c = &attempt.config;
            let (deadline, retry) = (c.ack.deadline, c.unavailable_retry_after);
            let res =
                attempt
                    .ack
                    .settle(res, &c.recorder, deadline, retry, &attempt.ctx.request_id);
            Ok(res.await)
        }
        Ok(Err(err)) => {
            let e = attempt.event(Outcome::Unknown, Some("service_error".into()), None);
            attempt.settle(e.id, Outcome::Unknown, None, None).await;
            attempt.record(e);
            Err(err)
        }
        Err(panic) => {
            let e = attempt.event(Outcome::Unknown, Some("panic".into()), None);
            attempt.settle(e.id, Outcome::Unknown, None, None).await;
            attempt.record(e);
            std::panic::resume_unwind(panic)
        }
    }
}

/// One request of a rule's route: what each of its events is made from.
struct Attempt {
    config: Arc<Config>,
    rule: RouteRule,
    ctx: Arc<RequestContext>,
    /// The actor known before the handler runs: on a sign-in the identifier typed in the
    /// body (never the signed-in user); elsewhere the context's, or the body's.
    actor: Option<Actor>,
    /// The lockout's reservation, from admission until the answer settles it.
    ticket: std::sync::Mutex<Option<Ticket>>,
    /// The events of the answer, held until durable under `Ack::Durable`.
    ack: super::ack::Pending,
    /// Who a layer inside this one said is signed in ([`ActivityHandle::identify`]).
    identified: Arc<std::sync::Mutex<Option<Actor>>>,
    /// Whether a device cookie set on the answer is `Secure`.
    secure_cookie: bool,
}

/// Why a body was refused before the handler.
enum BodyRefusal {
    /// It broke off.
    Broken,
    /// It is longer than the read limit, so the identifier cannot be known.
    TooLarge,
    /// The identifier field is there more than once.
    Repeated,
}

impl Attempt {
    /// The event of this attempt for `outcome`: the rule's action with the request's
    /// context, `reason`, and the actor `who` (the handler's), else the one known before
    /// the handler ran.
    fn event(&self, outcome: Outcome, reason: Option<String>, who: Option<Actor>) -> ActivityEvent {
        let mut e = self
            .ctx
            .fill(ActivityEvent::new(self.rule.kind.action(outcome)).with_outcome(outcome));
        // The handler's account keeps the name that was typed, if it gives none.
        let who = who.map(|mut a| {
            if a.name.is_none() {
                a.name = self.actor.as_ref().and_then(|t| t.name.clone());
            }
            a
        });
        let known = who.or_else(|| self.actor.clone());
        e.actor = if self.rule.kind == RouteKind::Login {
            known
        } else {
            known.or(e.actor).or_else(|| {
                let slot = self.identified.lock().unwrap_or_else(|p| p.into_inner());
                slot.clone()
            })
        };
        e.reason = reason;
        e
    }

    /// Ends the lockout's reservation with the attempt's outcome (a no-op without one).
    async fn settle(
        &self,
        event: uuid::Uuid,
        outcome: Outcome,
        verified: Option<&Actor>,
        device: Option<&str>,
    ) {
        let ticket = self.ticket.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(ticket) = ticket {
            let s = Settlement {
                event,
                outcome,
                verified,
                device,
            };
            if let Err(e) = self.config.lockout.settle(ticket, s).await {
                tracing::warn!(error = %e, "lockout could not count the attempt");
            }
        }
    }

    /// Records, or reports the refusal: every time for the first few, then at powers of
    /// two, so that an overloaded log does not also drown the application's own logs.
    fn record(&self, event: ActivityEvent) {
        static REFUSED: AtomicU64 = AtomicU64::new(0);
        let Some(event) = self.ack.hold(event) else {
            return;
        };
        if let Err(e) = self.config.recorder.record(event) {
            let n = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
            if n <= 8 || n.is_power_of_two() {
                tracing::error!(error = %e, refused_so_far = n, "activity event not recorded");
            }
        }
    }

    /// The checks before the handler: the log is recording (fail closed), the body's
    /// actor is read, the account is not locked. `Err` is the answer that refuses it.
    async fn admit<ReqBody, ResBody>(
        &mut self,
        parts: Parts,
        body: ReqBody,
    ) -> Result<Request<PrefixedBody<ReqBody>>, Response<ResBody>>
    where
        ReqBody: Body<Data = bytes::Bytes> + Unpin,
        ResBody: Default,
    {
        // Fail closed: nothing authenticates while nothing can be recorded.
        if self.rule.kind.is_authentication() && !self.config.recorder.is_accepting() {
            let retry = self.config.unavailable_retry_after.as_secs();
            return Err(self.refusal(StatusCode::SERVICE_UNAVAILABLE, retry));
        }
        let body = match self.read_actor(&parts, body).await {
            Ok(body) => body,
            Err(BodyRefusal::Broken) => {
                // The client's body broke off: nothing reaches the handler, which could
                // not have read it either. Recorded as unknown.
                self.record(self.event(Outcome::Unknown, Some("body_error".into()), None));
                return Err(self.refusal(StatusCode::BAD_REQUEST, 1));
            }
            Err(BodyRefusal::TooLarge) => {
                // Over the read limit the account cannot be known, so the attempt could
                // not be counted: refused, and recorded.
                self.record(self.event(Outcome::Failure, Some("body_too_large".into()), None));
                return Err(self.refusal(StatusCode::PAYLOAD_TOO_LARGE, 1));
            }
            Err(BodyRefusal::Repeated) => {
                // Frameworks disagree on which of two values counts: refuse, never guess.
                self.record(self.event(Outcome::Failure, Some("repeated_identifier".into()), None));
                return Err(self.refusal(StatusCode::BAD_REQUEST, 1));
            }
        };
        if let Some(refused) = self.admit_access() {
            return Err(refused);
        }
        if let Some(refused) = self.admit_lockout().await {
            return Err(refused);
        }
        Ok(Request::from_parts(parts, body))
    }

    /// Reads the identifier from a form or JSON body. On authentication routes it is
    /// always read (on a sign-in, whoever is signed in), and a body over the read limit or
    /// with the field twice is refused; elsewhere only when nothing named the actor, from
    /// the start of the body. The handler gets the whole body either way.
    async fn read_actor<B>(
        &mut self,
        parts: &Parts,
        body: B,
    ) -> Result<PrefixedBody<B>, BodyRefusal>
    where
        B: Body<Data = bytes::Bytes> + Unpin,
    {
        let source = &self.config.actor;
        let strict = self.rule.kind.is_authentication();
        let (Some(field), Some(kind)) = (source.field.as_deref(), source.body_kind(parts)) else {
            return Ok(PrefixedBody::new(bytes::Bytes::new(), body, false));
        };
        if self.actor.is_some() {
            return Ok(PrefixedBody::new(bytes::Bytes::new(), body, false));
        }
        let limit = self.config.body_limit;
        if strict && declared_length(parts).is_some_and(|n| n > limit as u64) {
            return Err(BodyRefusal::TooLarge);
        }
        let (prefix, done, rest) = read_prefix(body, limit.saturating_add(1))
            .await
            .map_err(|_| BodyRefusal::Broken)?;
        if strict && prefix.len() > limit {
            return Err(BodyRefusal::TooLarge);
        }
        let found = identifier_in(kind, &prefix[..prefix.len().min(limit)], field);
        let typed = match found {
            Found::Value(v) => Some(v),
            Found::Repeated if strict => return Err(BodyRefusal::Repeated),
            _ => None,
        };
        let normalizer = self.config.lockout.normalizer();
        self.actor = typed.and_then(|typed| {
            let id = normalizer.normalize(&typed)?;
            let name = truncate(typed.trim(), limits::NAME).to_owned();
            Some(Actor::user(truncate(&id, limits::ID).to_owned()).with_name(name))
        });
        Ok(PrefixedBody::new(prefix, rest, done))
    }

    /// Asks the access policies about a sign-in (or, under `access_everywhere`, any
    /// request); records the decision; the 403 if denied. Before the lockout: a request
    /// refused here is not an attempt on the password.
    fn admit_access<B: Default>(&self) -> Option<Response<B>> {
        let gate = self.config.access.as_ref()?;
        let route = match self.rule.kind {
            RouteKind::Login => "login",
            RouteKind::MfaVerify => "mfa_verify",
            _ if gate.everywhere => "request",
            _ => return None,
        };
        let judged = gate.judge(&self.ctx, self.actor.as_ref());
        for e in judged.events(&self.ctx, self.actor.as_ref(), route) {
            self.record(e);
        }
        let reason = judged.decision.denied?.reason;
        Some(access_refusal(reason.as_str(), &self.ctx.request_id))
    }

    /// Asks the lockout before an authentication attempt and takes its reservation; the
    /// answer for a locked account or a throttled address (after recording the refused
    /// attempt).
    async fn admit_lockout<B: Default>(&self) -> Option<Response<B>> {
        let kind = match self.rule.kind {
            RouteKind::Login => AttemptKind::Login,
            RouteKind::MfaVerify => AttemptKind::Mfa,
            RouteKind::PasswordResetComplete => AttemptKind::Reset,
            _ => return None,
        };
        let key = LockKey {
            tenant: self.ctx.tenant.as_deref(),
            account: self.actor.as_ref().map(|a| a.id.as_str()),
            ip: self.ctx.ip,
            device: self.ctx.device_id.as_ref().map(DeviceId::as_str),
            kind,
        };
        let now = chrono::Utc::now();
        match self.config.lockout.admit(&key).await {
            Ok(Admission::Admitted(ticket)) => {
                *self.ticket.lock().unwrap_or_else(|p| p.into_inner()) = Some(ticket);
                None
            }
            Ok(Admission::Refused(LockStatus::Throttled { until })) => {
                self.record(self.event(Outcome::Failure, Some("throttled".into()), None));
                let retry = (until - now).num_seconds().max(1) as u64;
                Some(self.refusal(StatusCode::TOO_MANY_REQUESTS, retry))
            }
            Ok(Admission::Refused(LockStatus::Locked { until, reason })) => {
                let e = self.event(Outcome::Failure, Some("locked".into()), None);
                self.record(e.with_detail("lock_reason", reason));
                let retry = until
                    .map(|u| (u - now).num_seconds().max(1) as u64)
                    .unwrap_or(self.config.locked_retry_after.as_secs());
                Some(self.refusal(self.config.locked_status, retry))
            }
            Ok(Admission::Refused(_)) => {
                self.record(self.event(Outcome::Failure, Some("locked".into()), None));
                Some(self.refusal(
                    self.config.locked_status,
                    self.config.locked_retry_after.as_secs(),
                ))
            }
            Err(e) if self.config.lockout_fail_open => {
                tracing::warn!(error = %e, "lockout check failed; letting the attempt through");
                None
            }
            Err(e) => {
                // An attempt the lockout cannot judge is not a free guess.
                tracing::error!(error = %e, "lockout check failed; refusing the attempt");
                let ev = self.event(Outcome::Failure, Some("lockout_unavailable".into()), None);
                self.record(ev);
                Some(self.refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    self.config.unavailable_retry_after.as_secs(),
                ))
            }
        }
    }

    /// An empty answer of the layer's own, with `Retry-After` and the request id.
    fn refusal<B: Default>(&self, status: StatusCode, retry_after_secs: u64) -> Response<B> {
        let mut res = Response::new(B::default());
        *res.status_mut() = status;
        if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
            res.headers_mut().insert(RETRY_AFTER, v);
        }
        echo_request_id(res.headers_mut(), &self.ctx.request_id);
        res
    }

    /// Judges the handler's answer, records its event (and the session event that
    /// follows a login or logout), and echoes the request id.
    async fn answered<B>(&self, mut res: Response<B>) -> Response<B> {
        let (outcome, reason, who) = self.judge(&mut res);
        let mut event = self.event(outcome, reason, who.clone());
        let follow_up = match self.rule.kind {
            RouteKind::Login if outcome == Outcome::Success => {
                Some(self.signed_in(&mut event, &mut res))
            }
            RouteKind::Logout if outcome == Outcome::Success => {
                let mut ended = follow_up(&event, Action::SESSION_TERMINATED);
                ended.session = self.ctx.session.clone();
                Some(ended)
            }
            _ => None,
        };
        // Settled before the answer leaves: the next attempt sees this one counted. A
        // sign-in's device is the verified one, or the one just issued.
        let device = event.device_id().map(str::to_owned);
        self.settle(event.id, outcome, who.as_ref(), device.as_deref())
            .await;
        self.record(event);
        if let Some(e) = follow_up {
            self.record(e);
        }
        echo_request_id(res.headers_mut(), &self.ctx.request_id);
        res
    }

    /// The outcome, reason and actor of an answer: the rule's judgement of its status,
    /// overridden by the handler's [`OutcomeHint`].
    fn judge<B>(&self, res: &mut Response<B>) -> (Outcome, Option<String>, Option<Actor>) {
        let (outcome, reason) = self.rule.judge(res.status());
        let reason = reason.map(str::to_owned);
        match res.extensions_mut().remove::<OutcomeHint>() {
            Some(hint) => (
                hint.outcome.unwrap_or(outcome),
                hint.reason.or(reason),
                hint.actor,
            ),
            None => (outcome, reason, None),
        }
    }

    /// A successful login: a new device gets its device cookie, the session the response
    /// sets is the event's, and `session.created` follows.
    fn signed_in<B>(&self, event: &mut ActivityEvent, res: &mut Response<B>) -> ActivityEvent {
        let config = &self.config;
        if event.device_id().is_none() {
            let id = DeviceId::random();
            let key = config.device_key();
            let (name, max_age) = (&config.device_cookie, config.device_max_age);
            if let Some(v) = set_device_cookie(key, name, &id, max_age, self.secure_cookie) {
                res.headers_mut().append(SET_COOKIE, v);
            }
            event.source.get_or_insert_with(Default::default).device_id = Some(id.into());
        }
        let session = config
            .session
            .as_ref()
            .and_then(|s| set_cookie(res.headers(), &s.name).map(|v| s.key.hash(&v)));
        match (&config.session, session) {
            (_, Some(session)) => event.session = Some(session),
            (Some(s), None) => config.warned.no_session_cookie(&s.name),
            (None, None) => {}
        }
        let mut created = follow_up(event, Action::SESSION_CREATED);
        created.reason = None;
        created
    }
}

/// The event that follows `event` (a session's start or end): the same context, its own
/// id and `action`.
fn follow_up(event: &ActivityEvent, action: Action) -> ActivityEvent {
    let mut e = event.clone();
    e.id = uuid::Uuid::now_v7();
    e.action = action;
    e
}

/// Records the attempt as `client_disconnected` when its future is dropped before the
/// handler answers (the client went away), unless disarmed. The event is built only then.
struct DropGuard<'a>(Option<&'a Attempt>);

impl DropGuard<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for DropGuard<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.0.take() {
            let e = a.event(Outcome::Unknown, Some("client_disconnected".into()), None);
            // The handler may have checked the password before the client left: the
            // reservation is settled as a failure, so that leaving early is no free guess.
            let ticket = a.ticket.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let (Some(ticket), Ok(rt)) = (ticket, tokio::runtime::Handle::try_current()) {
                let lockout = a.config.lockout.clone();
                let id = e.id;
                rt.spawn(async move {
                    let s = Settlement {
                        event: id,
                        outcome: Outcome::Failure,
                        verified: None,
                        device: None,
                    };
                    if let Err(e) = lockout.settle(ticket, s).await {
                        tracing::warn!(error = %e, "lockout could not count the attempt");
                    }
                });
            }
            a.record(e);
        }
    }
}

/// The body length the request declares, if it does.
fn declared_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
