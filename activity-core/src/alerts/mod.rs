//! Alerts: rules that read recent history through the store after each committed batch,
//! and sinks that deliver what they raise.
//!
//! The [`AlertEngine`] is a recorder [`AfterCommit`] stage. Each rule judges an event by
//! the event's own time (so ingesting a day of history raises what it would have raised
//! live) and reads the history from the [`ActivityStore`] (so a rule holds across app
//! instances sharing one database). An alert is stored as an `alert.raised` event whose
//! id is derived from the rule and the event that triggered it, so evaluating the same
//! event twice — a retry, or two instances — never stores two alerts. Sinks get alerts
//! through a bounded queue on a task of their own: a slow or failing sink never stalls
//! recording.
//!
//! The pieces, one file each: the model here ([`Severity`], [`Alert`], the [`AlertRule`]
//! trait); the [`Evaluation`] of a batch, whose shared history reads the rules use; the
//! [`AlertEngine`] stage; the sinks ([`TracingSink`], [`ChannelSink`],
//! [`AccountNotifier`], or any [`AlertSink`]); and the built-in rules, [`FailedLogins`],
//! [`NewDevice`], [`GeoAnomaly`] and [`ConcurrentSessions`].
//!
//! [`AfterCommit`]: crate::recorder::AfterCommit

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

mod engine;
mod evaluation;
mod rules;
mod sinks;

#[cfg(test)]
mod fixtures;

pub use engine::AlertEngine;
pub use evaluation::{Evaluation, Logins};
pub use rules::{AnonymousIpAction, ConcurrentSessions, FailedLogins, GeoAnomaly, NewDevice};
pub use sinks::{AccountNotifier, AlertSink, ChannelSink, TracingSink};

use crate::event::payload::{derived_id, AlertRaised};
use crate::{ActivityEvent, ActivityQuery, ActivityStore, Result, Target};

/// How serious an alert is.
///
/// ```
/// use activity_core::alerts::Severity;
/// assert_eq!(Severity::High.as_str(), "high");
/// assert!(Severity::Medium > Severity::Low, "ordered, so sinks can filter on a minimum");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Investigate soon.
    Medium,
    /// Investigate now.
    High,
}

impl Severity {
    /// `low`, `medium`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Something a rule found.
///
/// The engine stores each alert as the event [`to_event`](Alert::to_event) gives, whose id
/// depends only on the rule and the trigger, so the same alert is never stored twice.
///
/// ```
/// use activity_core::alerts::{Alert, Severity};
/// use activity_core::{ActivityEvent, Actor};
/// let failure = ActivityEvent::login_failed(Actor::user("bob"));
/// let alert = Alert {
///     rule: "failed_logins".into(),
///     severity: Severity::High,
///     account: Some("bob".into()),
///     tenant: None,
///     evidence: vec![failure.id],
///     message: "5 failed logins for account bob within 15 minutes".into(),
///     time: failure.time,
///     trigger: failure.id,
/// };
/// let event = alert.to_event();
/// assert_eq!(event.action.as_str(), "alert.raised");
/// assert_eq!(event.target.as_ref().and_then(|t| t.id.as_deref()), Some("bob"));
/// assert_eq!(alert.clone().to_event().id, event.id);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The rule's stable id, e.g. `failed_logins`.
    pub rule: String,
    /// How serious it is.
    pub severity: Severity,
    /// The account concerned, if any.
    pub account: Option<String>,
    /// The tenant of the triggering event (`None`: an untenanted log).
    pub tenant: Option<String>,
    /// The events that caused it (ids).
    pub evidence: Vec<Uuid>,
    /// What happened, in one sentence for people (stored as the `message` detail).
    pub message: String,
    /// When (the triggering event's time).
    pub time: DateTime<Utc>,
    /// The event that triggered it.
    pub trigger: Uuid,
}

impl Alert {
    /// The `alert.raised` event storing this alert (id derived from rule and trigger).
    pub fn to_event(&self) -> ActivityEvent {
        let raised = AlertRaised {
            rule: self.rule.clone(),
            severity: self.severity.as_str().to_owned(),
            evidence: self.evidence.clone(),
            message: Some(self.message.clone()),
        };
        let mut e = ActivityEvent::alert(&raised)
            .with_id(derived_id(&[self.rule.as_bytes(), self.trigger.as_bytes()]))
            .with_time(self.time);
        if let Some(a) = &self.account {
            e = e.with_target(Target::user(a.clone()));
        }
        if let Some(t) = &self.tenant {
            e = e.with_tenant(t.clone());
        }
        e
    }
}

/// A rule. Custom rules implement this and are added with [`AlertEngine::rule`].
///
/// ```
/// use activity_core::reexports::async_trait;
/// use activity_core::alerts::{Alert, AlertEngine, AlertRule, Severity};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
///
/// /// Any sign-in to the `root` account.
/// struct RootLogin;
///
/// #[async_trait]
/// impl AlertRule for RootLogin {
///     fn id(&self) -> &str {
///         "root_login"
///     }
///     async fn evaluate(
///         &self,
///         _store: &dyn ActivityStore,
///         e: &ActivityEvent,
///     ) -> activity_core::Result<Vec<Alert>> {
///         if e.action.as_str() != "auth.login.succeeded" || e.actor_id() != Some("root") {
///             return Ok(Vec::new());
///         }
///         Ok(vec![Alert {
///             rule: self.id().into(),
///             severity: Severity::High,
///             account: Some("root".into()),
///             tenant: e.tenant.clone(),
///             evidence: vec![e.id],
///             message: "root signed in".into(),
///             time: e.time,
///             trigger: e.id,
///         }])
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let batch = [
///     ActivityEvent::login_succeeded(Actor::user("root")),
///     ActivityEvent::login_succeeded(Actor::user("ann")),
/// ];
/// store.append(&batch).await?;
/// let alerts = AlertEngine::new().rule(RootLogin).evaluate(&store, &batch).await?;
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].trigger, batch[0].id);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait AlertRule: Send + Sync + 'static {
    /// The stable id.
    fn id(&self) -> &str;
    /// Judges one committed event, reading history from `store`.
    async fn evaluate(
        &self,
        store: &dyn ActivityStore,
        event: &ActivityEvent,
    ) -> Result<Vec<Alert>>;

    /// Judges one committed event within an [`Evaluation`] of its batch, which shares
    /// the history the rules read (the engine calls this one). The default calls
    /// [`evaluate`](Self::evaluate) with the evaluation's store; rules that read an
    /// account's login history override it to use [`Evaluation::recent_logins`].
    async fn evaluate_in(
        &self,
        evaluation: &Evaluation<'_>,
        event: &ActivityEvent,
    ) -> Result<Vec<Alert>> {
        self.evaluate(evaluation.store(), event).await
    }

    /// The recent successful logins this rule reads through
    /// [`Evaluation::recent_logins`], as (how many, how far back), so that the engine
    /// reads them for the whole batch in the same store call as the rest of its history.
    /// Default: none.
    fn login_look_back(&self) -> Option<(usize, Duration)> {
        None
    }

    /// The queries [`evaluate_in`](Self::evaluate_in) will make for `event` through
    /// [`Evaluation::query`], so that the engine runs those of the whole batch in one
    /// store call ([`ActivityStore::query_many`]) before judging any event. Default: none
    /// (the rule reads as it goes).
    fn prefetch(&self, event: &ActivityEvent) -> Vec<ActivityQuery> {
        let _ = event;
        Vec::new()
    }
}
