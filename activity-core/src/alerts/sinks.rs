//! Sinks: where the engine delivers the alerts it raises, on a task of their own.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::Alert;

/// Receives alerts (on the engine's delivery task). Closures `Fn(&Alert)` are sinks too.
///
/// ```
/// use std::sync::Mutex;
/// use activity_core::reexports::async_trait;
/// use activity_core::alerts::{Alert, AlertEngine, AlertSink, Severity};
///
/// /// Pages the on-call engineer, for high-severity alerts only.
/// #[derive(Default)]
/// struct Pager(Mutex<Vec<String>>);
///
/// #[async_trait]
/// impl AlertSink for Pager {
///     async fn deliver(&self, alert: &Alert) {
///         if alert.severity >= Severity::High {
///             self.0.lock().unwrap().push(alert.message.clone());
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let alert = |severity, message: &str| Alert { rule: "failed_logins".into(), severity,
/// #     account: None, tenant: None, evidence: Vec::new(), message: message.into(),
/// #     time: chrono::Utc::now(), trigger: activity_core::reexports::uuid::Uuid::now_v7() };
/// let pager = Pager::default();
/// pager.deliver(&alert(Severity::Low, "a new device")).await;
/// pager.deliver(&alert(Severity::High, "5 failed logins")).await;
/// assert_eq!(*pager.0.lock().unwrap(), vec!["5 failed logins".to_string()]);
/// // In an application the engine calls it for every alert raised:
/// let _engine = AlertEngine::with_defaults().sink(pager);
/// # });
/// ```
#[async_trait]
pub trait AlertSink: Send + Sync + 'static {
    /// Delivers one alert.
    async fn deliver(&self, alert: &Alert);
}

#[async_trait]
impl<F> AlertSink for F
where
    F: Fn(&Alert) + Send + Sync + 'static,
{
    async fn deliver(&self, alert: &Alert) {
        self(alert)
    }
}

/// A sink that logs each alert with `tracing` at WARN.
///
/// ```
/// use activity_core::alerts::{Alert, AlertEngine, AlertSink, Severity, TracingSink};
/// # use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
/// # use tracing::{span, Event, Level, Metadata, Subscriber};
/// # struct Warnings(Arc<AtomicUsize>);
/// # impl Subscriber for Warnings {
/// #     fn enabled(&self, _: &Metadata<'_>) -> bool { true }
/// #     fn new_span(&self, _: &span::Attributes<'_>) -> span::Id { span::Id::from_u64(1) }
/// #     fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
/// #     fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
/// #     fn event(&self, e: &Event<'_>) {
/// #         if *e.metadata().level() == Level::WARN { self.0.fetch_add(1, Ordering::SeqCst); }
/// #     }
/// #     fn enter(&self, _: &span::Id) {}
/// #     fn exit(&self, _: &span::Id) {}
/// # }
/// # let warnings = Arc::new(AtomicUsize::new(0));
/// # let _subscriber = tracing::subscriber::set_default(Warnings(warnings.clone()));
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let alert = Alert { rule: "new_device".into(), severity: Severity::Medium,
/// #     account: Some("ann".into()), tenant: None, evidence: Vec::new(),
/// #     message: "sign-in to ann from a new device".into(), time: chrono::Utc::now(),
/// #     trigger: activity_core::reexports::uuid::Uuid::now_v7() };
/// let _engine = AlertEngine::with_defaults().sink(TracingSink);
/// // What the engine does with each alert: one WARN event.
/// TracingSink.deliver(&alert).await;
/// assert_eq!(warnings.load(Ordering::SeqCst), 1);
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

#[async_trait]
impl AlertSink for TracingSink {
    async fn deliver(&self, a: &Alert) {
        tracing::warn!(rule = %a.rule, severity = a.severity.as_str(), account = ?a.account, tenant = ?a.tenant, "{}", a.message);
    }
}

/// A sink for the user-facing side: it calls `notify(account, alert)` for alerts about an
/// account raised by the rules in `rules` (by default `new_device`, `geo_anomaly` and
/// `concurrent_sessions`), so the host app can e-mail the affected user.
///
/// ```
/// use activity_core::alerts::{AccountNotifier, AlertEngine};
/// let engine = AlertEngine::with_defaults()
///     .sink(AccountNotifier::new(|account: &str, alert: &activity_core::alerts::Alert| {
///         println!("mail {account}: {}", alert.message);
///     }));
/// ```
pub struct AccountNotifier<F> {
    notify: F,
    rules: Vec<String>,
}

impl<F> std::fmt::Debug for AccountNotifier<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountNotifier")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl<F: Fn(&str, &Alert) + Send + Sync + 'static> AccountNotifier<F> {
    /// Notifies through `notify` for the default rules.
    pub fn new(notify: F) -> Self {
        Self {
            notify,
            rules: vec![
                "new_device".into(),
                "geo_anomaly".into(),
                "concurrent_sessions".into(),
            ],
        }
    }

    /// Only for these rule ids.
    pub fn rules(mut self, rules: &[&str]) -> Self {
        self.rules = rules.iter().map(|r| r.to_string()).collect();
        self
    }
}

#[async_trait]
impl<F: Fn(&str, &Alert) + Send + Sync + 'static> AlertSink for AccountNotifier<F> {
    async fn deliver(&self, a: &Alert) {
        if let Some(account) = &a.account {
            if self.rules.contains(&a.rule) {
                (self.notify)(account, a);
            }
        }
    }
}

/// A sink that sends each alert into a tokio channel (dropping it, counted, if full).
///
/// ```
/// use std::sync::Arc;
/// use activity_core::alerts::{AlertEngine, ChannelSink, FailedLogins};
/// use activity_core::{ActivityEvent, Actor, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (tx, mut alerts) = tokio::sync::mpsc::channel(16);
/// let engine = AlertEngine::new()
///     .rule(FailedLogins::default())
///     .sink(ChannelSink(tx))
///     .queue_capacity(64);
/// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new()))
///     .after_commit(engine)
///     .start();
/// for _ in 0..5 {
///     recorder.record(ActivityEvent::login_failed(Actor::user("bob"))).unwrap();
/// }
/// recorder.flush().await.unwrap();
/// let alert = alerts.recv().await.unwrap();
/// assert_eq!((alert.rule.as_str(), alert.account.as_deref()), ("failed_logins", Some("bob")));
/// guard.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ChannelSink(pub mpsc::Sender<Alert>);

#[async_trait]
impl AlertSink for ChannelSink {
    async fn deliver(&self, a: &Alert) {
        if self.0.try_send(a.clone()).is_err() {
            tracing::warn!(rule = %a.rule, "alert channel full or closed; alert stored but not delivered");
        }
    }
}
