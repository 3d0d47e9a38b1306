//! What to read from the log: filters, scopes, keyset pagination.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result, Rule};
use crate::event::{check_code_segments, ActivityEvent, Outcome};

mod cursor;
mod pages;

pub use cursor::{Cursor, Page};
pub use pages::Pages;

/// The page size used when a query does not set one.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page a store returns, whatever the query asks for.
pub const MAX_PAGE_SIZE: usize = 1000;
/// The most action filters and event ids one query may carry.
pub const MAX_FILTER_VALUES: usize = 100;

/// A filter over the log, newest first, read a page at a time.
///
/// Every filter is optional and they combine with AND; `actions` match any of their
/// entries (an exact code such as `auth.login.failed`, or a category or prefix such as
/// `auth` or `auth.login`, matched on whole segments). `since` is inclusive and `until`
/// exclusive. `tenant: None` means every tenant: an application serving several tenants
/// must always set it (the [`own`](Self::own) and [`tenant_log`](Self::tenant_log) scopes do).
///
/// ```
/// use activity_core::{ActivityQuery, Outcome};
/// let q = ActivityQuery::own(Some("acme"), "u_123")
///     .action("auth")
///     .outcome(Outcome::Failure)
///     .limit(20);
/// q.validate().unwrap();
/// assert_eq!(q.page_size(), 20);
/// assert_eq!(ActivityQuery::new().limit(1_000_000).page_size(), activity_core::query::MAX_PAGE_SIZE);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityQuery {
    /// Only this tenant's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Only events whose actor has this id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Only these action codes or categories (any of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Only this outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Only events from this source address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Only events at or after this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Only events of this session (its stored hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Only events from this device id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Only events with this request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Only these event ids (e.g. an alert's evidence).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<Uuid>,
    /// Continue after this position (from [`Page::next`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Cursor>,
    /// Page size; 0 means [`DEFAULT_PAGE_SIZE`], anything above [`MAX_PAGE_SIZE`] is capped.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ActivityQuery {
    /// A query with no filters: the whole log, newest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scope "my own activity": the events whose actor is `actor_id`, in `tenant`.
    pub fn own(tenant: Option<&str>, actor_id: &str) -> Self {
        Self {
            tenant: tenant.map(str::to_owned),
            actor: Some(actor_id.to_owned()),
            ..Self::default()
        }
    }

    /// Every event of `tenant`'s log, or every event of the store when `tenant` is `None`
    /// (an operator's scope: the CLI, archives, verification, reports).
    ///
    /// ```
    /// use activity_core::ActivityQuery;
    /// assert_eq!(ActivityQuery::scoped(Some("acme")), ActivityQuery::tenant_log("acme"));
    /// assert_eq!(ActivityQuery::scoped(None), ActivityQuery::new());
    /// ```
    pub fn scoped(tenant: Option<&str>) -> Self {
        match tenant {
            Some(t) => Self::tenant_log(t),
            None => Self::new(),
        }
    }

    /// Scope "my tenant's audit log": every event of `tenant`.
    pub fn tenant_log(tenant: &str) -> Self {
        Self {
            tenant: Some(tenant.to_owned()),
            ..Self::default()
        }
    }

    /// Filters on tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Filters on actor id.
    pub fn actor(mut self, actor_id: impl Into<String>) -> Self {
        self.actor = Some(actor_id.into());
        self
    }

    /// Adds an action code or category to match.
    pub fn action(mut self, code_or_category: impl Into<String>) -> Self {
        self.actions.push(code_or_category.into());
        self
    }

    /// Filters on outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Filters on source address.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip.to_canonical());
        self
    }

    /// Events at or after `t`.
    pub fn since(mut self, t: DateTime<Utc>) -> Self {
        self.since = Some(t);
        self
    }

    /// Events before `t`.
    pub fn until(mut self, t: DateTime<Utc>) -> Self {
        self.until = Some(t);
        self
    }

    /// Filters on session hash.
    pub fn session(mut self, session_hash: impl Into<String>) -> Self {
        self.session = Some(session_hash.into());
        self
    }

    /// Filters on device id.
    pub fn device_id(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// Filters on request id.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Only these event ids.
    pub fn ids(mut self, ids: impl IntoIterator<Item = Uuid>) -> Self {
        self.ids.extend(ids);
        self
    }

    /// Continues after `cursor`.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The page size a store uses: `limit`, defaulted and capped.
    pub fn page_size(&self) -> usize {
        match self.limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        }
    }

    /// Checks the filters; every store calls this first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed action filter, too many filter values, or
    /// `since` not before `until`.
    pub fn validate(&self) -> Result<()> {
        if self.actions.len() > MAX_FILTER_VALUES {
            return Err(Error::invalid(
                "actions",
                Rule::TooLong {
                    max: MAX_FILTER_VALUES,
                },
            ));
        }
        for a in &self.actions {
            check_code_segments(a, "actions", 1)?;
        }
        if self.ids.len() > MAX_FILTER_VALUES {
            return Err(Error::invalid(
                "ids",
                Rule::TooLong {
                    max: MAX_FILTER_VALUES,
                },
            ));
        }
        if let (Some(s), Some(u)) = (self.since, self.until) {
            if s > u {
                return Err(Error::invalid(
                    "since",
                    Rule::OutOfRange("not after `until`"),
                ));
            }
        }
        use crate::event::limits;
        for (field, value, max) in [
            ("tenant", &self.tenant, limits::TENANT),
            ("actor", &self.actor, limits::ID),
            ("session", &self.session, limits::SESSION),
            ("device_id", &self.device_id, limits::DEVICE_ID),
            ("request_id", &self.request_id, limits::REQUEST_ID),
        ] {
            if let Some(v) = value {
                crate::event::check_text(field, v, max)?;
            }
        }
        Ok(())
    }

    /// Whether `event` passes every filter (the cursor and limit aside).
    ///
    /// The reference semantics every store must match; [`MemoryStore`](crate::MemoryStore) uses it.
    pub fn matches(&self, e: &ActivityEvent) -> bool {
        (self.tenant.is_none() || self.tenant == e.tenant)
            && self
                .actor
                .as_deref()
                .is_none_or(|a| e.actor_id() == Some(a))
            && (self.actions.is_empty() || self.actions.iter().any(|a| e.action.matches(a)))
            && self.outcome.is_none_or(|o| o == e.outcome)
            && self.ip.is_none_or(|ip| e.ip() == Some(ip.to_canonical()))
            && self.since.is_none_or(|s| e.time >= s)
            && self.until.is_none_or(|u| e.time < u)
            && self
                .session
                .as_deref()
                .is_none_or(|s| e.session.as_deref() == Some(s))
            && self
                .device_id
                .as_deref()
                .is_none_or(|d| e.device_id() == Some(d))
            && self
                .request_id
                .as_deref()
                .is_none_or(|r| e.request_id.as_deref() == Some(r))
            && (self.ids.is_empty() || self.ids.contains(&e.id))
    }

    /// Whether `event` comes after the cursor in newest-first order (true without a cursor).
    pub fn is_after_cursor(&self, e: &ActivityEvent) -> bool {
        self.after.is_none_or(|c| c.precedes(e.time, e.id))
    }
}

/// The half-open range of codes that a prefix filter such as `auth` covers besides itself:
/// `[auth., auth/)`; `/` follows `.` in byte order. Stores turn an action filter `f` into
/// `action = f OR (action >= lo AND action < hi)`, which an index serves as ranges.
///
/// ```
/// assert_eq!(activity_core::query::action_prefix_range("auth"), ("auth.".to_string(), "auth/".to_string()));
/// ```
pub fn action_prefix_range(filter: &str) -> (String, String) {
    (format!("{filter}."), format!("{filter}/"))
}

/// Which events a retention purge deletes: those of `tenant` (exactly; `None` means the
/// events without a tenant) strictly older than `before`, at most `limit` of them (oldest
/// first), so that a purge works in bounded batches.
///
/// ```
/// use activity_core::query::DeleteRequest;
/// use chrono::{Duration, Utc};
/// let r = DeleteRequest::new(Some("acme"), Utc::now() - Duration::days(90), 10_000);
/// assert_eq!(r.tenant.as_deref(), Some("acme"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// The tenant whose events go (`None`: events without a tenant).
    pub tenant: Option<String>,
    /// Events with `time < before` go.
    pub before: DateTime<Utc>,
    /// At most this many in one call.
    pub limit: usize,
    /// Only events at or before this [log position](crate::sinks::LogPosition): the
    /// ones every registered sink delivered (`None`: whatever their position). A store
    /// that keeps no commit order deletes nothing when it is set.
    pub delivered_up_to: Option<crate::sinks::LogPosition>,
}

impl DeleteRequest {
    /// A request for `tenant`'s events older than `before`, `limit` at a time.
    pub fn new(tenant: Option<&str>, before: DateTime<Utc>, limit: usize) -> Self {
        Self {
            tenant: tenant.map(str::to_owned),
            before,
            limit,
            delivered_up_to: None,
        }
    }

    /// The same request, for the events at or before `position` only.
    ///
    /// ```
    /// use activity_core::{query::DeleteRequest, sinks::LogPosition};
    /// let r = DeleteRequest::new(None, chrono::Utc::now(), 100).delivered_up_to(LogPosition::new(0, 7));
    /// assert_eq!(r.delivered_up_to, Some(LogPosition::new(0, 7)));
    /// ```
    pub fn delivered_up_to(mut self, position: crate::sinks::LogPosition) -> Self {
        self.delivered_up_to = Some(position);
        self
    }
}
