//! Route rules: which method and path is which authentication action, and how the
//! response's status becomes the event's outcome.

use std::fmt;
use std::sync::Arc;

use activity_core::{Action, Outcome};
use http::{Method, StatusCode};

/// What a route does, and so which events it produces.
///
/// ```
/// use activity_core::{Action, Outcome};
/// use activity_tower::{RouteKind, RouteRule};
/// assert_eq!(RouteKind::Login.action(Outcome::Failure), Action::LOGIN_FAILED);
/// assert_eq!(RouteKind::MfaVerify.action(Outcome::Success), Action::MFA_VERIFIED);
/// assert!(RouteKind::Login.is_authentication() && !RouteKind::Logout.is_authentication());
/// // An action of the app's own, judged from the status like the others.
/// let created = Action::new("api_key.created").unwrap();
/// let rule = RouteRule::post("/api-keys", RouteKind::Custom(created.clone()));
/// assert_eq!(rule.kind().action(Outcome::Failure), created);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteKind {
    /// Sign-in: `auth.login.succeeded` (and `session.created`) or `auth.login.failed`.
    Login,
    /// Sign-out: `auth.logout` and `session.terminated`.
    Logout,
    /// A second-factor challenge: `mfa.verified` or `mfa.failed`.
    MfaVerify,
    /// Setting up a second factor: `mfa.enrolled`.
    MfaEnroll,
    /// Changing a second factor: `mfa.updated`.
    MfaUpdate,
    /// Removing a second factor: `mfa.removed`.
    MfaRemove,
    /// Asking for a password reset: `password.reset.requested`.
    PasswordResetRequest,
    /// Completing a password reset: `password.reset.completed`.
    PasswordResetComplete,
    /// Changing the password: `password.changed`.
    PasswordChange,
    /// Any other action; the outcome is judged from the status as for the others.
    Custom(Action),
}

impl RouteKind {
    /// The action recorded for `outcome`.
    pub fn action(&self, outcome: Outcome) -> Action {
        match self {
            RouteKind::Login if outcome == Outcome::Success => Action::LOGIN_SUCCEEDED,
            RouteKind::Login => Action::LOGIN_FAILED,
            RouteKind::Logout => Action::LOGOUT,
            RouteKind::MfaVerify if outcome == Outcome::Success => Action::MFA_VERIFIED,
            RouteKind::MfaVerify => Action::MFA_FAILED,
            RouteKind::MfaEnroll => Action::MFA_ENROLLED,
            RouteKind::MfaUpdate => Action::MFA_UPDATED,
            RouteKind::MfaRemove => Action::MFA_REMOVED,
            RouteKind::PasswordResetRequest => Action::PASSWORD_RESET_REQUESTED,
            RouteKind::PasswordResetComplete => Action::PASSWORD_RESET_COMPLETED,
            RouteKind::PasswordChange => Action::PASSWORD_CHANGED,
            RouteKind::Custom(a) => a.clone(),
        }
    }

    /// Whether the route authenticates someone (refused while the log cannot record,
    /// under the fail-closed policy): login, MFA verification, password reset completion.
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            RouteKind::Login | RouteKind::MfaVerify | RouteKind::PasswordResetComplete
        )
    }
}

/// The outcome and reason a status means. Closures of the right shape are judges; give
/// one to [`RouteRule::judge_with`] for a route that does not answer in the usual way.
///
/// ```
/// use activity_core::Outcome;
/// use activity_tower::layer::{default_outcome, OutcomeJudge};
/// use activity_tower::{RouteKind, RouteRule};
/// use http::StatusCode;
/// // A sign-in page that redirects on success and shows the form again (200) on failure.
/// let judge = |status: StatusCode| match status {
///     StatusCode::SEE_OTHER => (Outcome::Success, None),
///     StatusCode::OK => (Outcome::Failure, Some("bad_password")),
///     other => default_outcome(other),
/// };
/// assert_eq!(judge.judge(StatusCode::OK), (Outcome::Failure, Some("bad_password")));
/// assert_eq!(judge.judge(StatusCode::LOCKED), (Outcome::Failure, Some("locked")));
/// let rule = RouteRule::post("/login", RouteKind::Login).judge_with(judge);
/// ```
pub trait OutcomeJudge: Send + Sync + 'static {
    /// Judges `status`.
    fn judge(&self, status: StatusCode) -> (Outcome, Option<&'static str>);
}

impl<F> OutcomeJudge for F
where
    F: Fn(StatusCode) -> (Outcome, Option<&'static str>) + Send + Sync + 'static,
{
    fn judge(&self, status: StatusCode) -> (Outcome, Option<&'static str>) {
        self(status)
    }
}

/// The default judgement: 2xx and 3xx success; 401, 403 and 422 failure; 423 failure
/// (`locked`); 429 failure (`rate_limited`); other 4xx failure; 5xx `unknown`
/// (`server_error`).
///
/// ```
/// use activity_core::Outcome;
/// use activity_tower::layer::default_outcome;
/// use http::StatusCode;
/// assert_eq!(default_outcome(StatusCode::SEE_OTHER).0, Outcome::Success);
/// assert_eq!(default_outcome(StatusCode::LOCKED), (Outcome::Failure, Some("locked")));
/// assert_eq!(default_outcome(StatusCode::BAD_GATEWAY).0, Outcome::Unknown);
/// ```
pub fn default_outcome(status: StatusCode) -> (Outcome, Option<&'static str>) {
    match status.as_u16() {
        200..=399 => (Outcome::Success, None),
        401 => (Outcome::Failure, Some("unauthorized")),
        403 => (Outcome::Failure, Some("forbidden")),
        422 => (Outcome::Failure, Some("unprocessable")),
        423 => (Outcome::Failure, Some("locked")),
        429 => (Outcome::Failure, Some("rate_limited")),
        400..=499 => (Outcome::Failure, None),
        _ => (Outcome::Unknown, Some("server_error")),
    }
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    Rest,
}

/// A path pattern: literal segments, `{name}` for any one segment, `{*rest}` for the
/// remainder.
///
/// ```
/// use activity_tower::layer::PathPattern;
/// let p = PathPattern::new("/users/{id}/mfa");
/// assert!(p.matches("/users/42/mfa"));
/// assert!(!p.matches("/users/42/mfa/extra"));
/// assert!(PathPattern::new("/auth/{*rest}").matches("/auth/a/b"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
}

impl PathPattern {
    /// Parses a pattern.
    pub fn new(pattern: &str) -> Self {
        let segments = pattern
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.starts_with("{*") && s.ends_with('}') {
                    Segment::Rest
                } else if s.starts_with('{') && s.ends_with('}') {
                    Segment::Param
                } else {
                    Segment::Literal(s.to_owned())
                }
            })
            .collect();
        Self {
            source: pattern.to_owned(),
            segments,
        }
    }

    /// Whether `path` (without query string) matches.
    pub fn matches(&self, path: &str) -> bool {
        let mut parts = path.trim_matches('/').split('/').filter(|s| !s.is_empty());
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::Param => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(l) => {
                    if parts.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathPattern({})", self.source)
    }
}

/// A route rule: method and path pattern, what it is, and how to judge its responses.
///
/// ```
/// use activity_tower::{RouteKind, RouteRule};
/// let login = RouteRule::post("/login", RouteKind::Login);
/// let mfa = RouteRule::post("/users/{id}/mfa", RouteKind::MfaEnroll);
/// ```
#[derive(Clone)]
pub struct RouteRule {
    pub(crate) method: Method,
    pub(crate) path: PathPattern,
    pub(crate) kind: RouteKind,
    pub(crate) judge: Option<Arc<dyn OutcomeJudge>>,
}

impl fmt::Debug for RouteRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteRule")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl RouteRule {
    /// A rule for `method` and `path`.
    pub fn new(method: Method, path: &str, kind: RouteKind) -> Self {
        Self {
            method,
            path: PathPattern::new(path),
            kind,
            judge: None,
        }
    }

    /// A rule for `POST path`.
    pub fn post(path: &str, kind: RouteKind) -> Self {
        Self::new(Method::POST, path, kind)
    }

    /// Judges this rule's responses with `judge` instead of [`default_outcome`].
    pub fn judge_with(mut self, judge: impl OutcomeJudge) -> Self {
        self.judge = Some(Arc::new(judge));
        self
    }

    /// The route's kind.
    pub fn kind(&self) -> RouteKind {
        self.kind.clone()
    }

    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        self.method == method && self.path.matches(path)
    }

    pub(crate) fn judge(&self, status: StatusCode) -> (Outcome, Option<&'static str>) {
        match &self.judge {
            Some(j) => j.judge(status),
            None => default_outcome(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = PathPattern::new("/users/{id}/mfa");
        assert!(p.matches("/users/7/mfa/"));
        assert!(!p.matches("/users//mfa"));
        assert!(!p.matches("/users/7"));
        assert!(PathPattern::new("/").matches("/"));
        assert!(!PathPattern::new("/login").matches("/login2"));
    }

    #[test]
    fn actions_by_outcome() {
        assert_eq!(
            RouteKind::Login.action(Outcome::Unknown),
            Action::LOGIN_FAILED
        );
        assert_eq!(
            RouteKind::MfaVerify.action(Outcome::Failure),
            Action::MFA_FAILED
        );
        assert_eq!(
            RouteKind::MfaEnroll.action(Outcome::Failure),
            Action::MFA_ENROLLED
        );
    }
}
