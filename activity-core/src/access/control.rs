//! [`AccessControl`]: the policies in force, decided from memory and refreshed when any
//! instance changes them; changes recorded as `admin.config.changed`.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use async_trait::async_trait;

use crate::access::{AccessPolicy, AccessPolicyStore, AccessRequest, Decision, PolicySet};
use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::event::{Action, ActivityEvent, Actor, DefaultNormalizer, Normalize};
use crate::recorder::Recorder;

/// The access policies of an app instance.
///
/// Loaded from its [`AccessPolicyStore`] at start ([`load`](Self::load) fails when the
/// store cannot be read: never "allow all"), kept in memory, and refreshed by
/// [`refresh`](Self::refresh), which reads only the store's version unless it changed. Run
/// it as a [`Job`](crate::jobs::Job) (`jobs::every(Duration::from_secs(5))`): a change
/// made through any instance is enforced by every other within that interval.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::access::*;
/// use activity_core::{Actor, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryPolicyStore::new());
/// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new())).start();
/// let a = AccessControl::load(store.clone()).await?.recorder(recorder.clone());
/// let b = AccessControl::load(store).await?; // another instance
/// let office = NetworkRule { allow: vec!["10.0.0.0/8".parse().unwrap()], deny: vec![] };
/// let policy = AccessPolicy::new(vec![AccessRule::network("office", office)])?;
/// a.set(Some("acme"), Some(policy), Actor::user("admin_1")).await?;
/// let req = AccessRequest { tenant: Some("acme"), account: Some("alice"), roles: &[],
///     ip: Some("192.0.2.1".parse().unwrap()), country: None, at: chrono::Utc::now() };
/// assert!(!a.decide(&req).allowed());
/// assert!(b.decide(&req).allowed()); // not refreshed yet
/// assert!(b.refresh().await?);
/// assert_eq!(b.decide(&req).denied.unwrap().reason, Reason::IpDenied);
/// # guard.shutdown().await;
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
pub struct AccessControl {
    store: Arc<dyn AccessPolicyStore>,
    current: ArcSwap<PolicySet>,
    /// Held while a refresh replaces `current`, so an older set never replaces a newer.
    replacing: Mutex<()>,
    normalizer: Arc<dyn Normalize>,
    recorder: Option<Recorder>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessControl")
            .field("version", &self.policies().version)
            .finish_non_exhaustive()
    }
}

impl AccessControl {
    /// The policies `store` holds now.
    ///
    /// # Errors
    /// The store's: an instance that cannot read its policies does not start.
    pub async fn load(store: Arc<dyn AccessPolicyStore>) -> Result<Self> {
        let set = store.load().await?;
        Ok(Self {
            store,
            current: ArcSwap::from_pointee(set),
            replacing: Mutex::new(()),
            normalizer: Arc::new(DefaultNormalizer),
            recorder: None,
            clock: Arc::new(SystemClock),
        })
    }

    /// Records changes ([`set`](Self::set)) into `recorder`, durably.
    pub fn recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Compares break-glass accounts in `normalizer`'s normal form (default
    /// [`DefaultNormalizer`], as the layer and the lockout).
    pub fn normalizer(mut self, normalizer: Arc<dyn Normalize>) -> Self {
        self.normalizer = normalizer;
        self
    }

    /// Uses `clock` for "now" (default: the system clock): the time sign-in hours are
    /// judged at.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// "Now", for the decision on a request being made.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Whether any policy is in force: what a request path asks before it gathers the
    /// inputs of a decision (no allocation, no shared write).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::access::{AccessControl, MemoryPolicyStore};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let control = AccessControl::load(Arc::new(MemoryPolicyStore::new())).await?;
    /// assert!(!control.in_force());
    /// # Ok::<(), activity_core::Error>(()) }).unwrap();
    /// ```
    pub fn in_force(&self) -> bool {
        !self.current.load().is_empty()
    }

    /// The policies in force.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.current.load_full()
    }

    /// The decision on `req`, from memory.
    pub fn decide(&self, req: &AccessRequest<'_>) -> Decision {
        let set = self.current.load();
        if set.is_empty() {
            return Decision::default();
        }
        set.decide(req, self.normalizer.as_ref())
    }

    /// Reloads the policies if the store's version changed; whether it did.
    ///
    /// # Errors
    /// The store's; the policies in force stay as they were.
    pub async fn refresh(&self) -> Result<bool> {
        let version = self.store.version().await?;
        if version == self.policies().version {
            return Ok(false);
        }
        let set = self.store.load().await?;
        let _replacing = self.replacing.lock().unwrap_or_else(|p| p.into_inner());
        if set.version >= self.current.load().version {
            self.current.store(Arc::new(set));
        }
        Ok(true)
    }

    /// Replaces the policy of `tenant` (`None`: the global one; `policy` `None` removes
    /// it), made by `by`, and records it as `admin.config.changed` with the old and the
    /// new policy (`details.setting` = `access_policy`).
    ///
    /// The change is made on the version in force here: a change made meanwhile through
    /// another instance is an [`Error::Conflict`](crate::Error::Conflict) (refresh, look
    /// again, retry). When the change cannot be recorded it is undone and the error
    /// returned: no change without its record.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for a policy that does not validate or
    /// when there is no [`recorder`](Self::recorder); the store's and the recorder's.
    pub async fn set(
        &self,
        tenant: Option<&str>,
        policy: Option<AccessPolicy>,
        by: Actor,
    ) -> Result<()> {
        if let Some(p) = &policy {
            p.validate()?;
        }
        let Some(rec) = &self.recorder else {
            // No change without its record.
            return Err(crate::Error::invalid(
                "AccessControl::recorder (changes are recorded)",
                crate::Rule::Missing,
            ));
        };
        self.refresh().await?;
        let before = self.policies();
        let old = before.policy(tenant).cloned();
        let version = self
            .store
            .put(tenant, policy.as_ref(), before.version)
            .await?;
        {
            let mut ev = ActivityEvent::new(Action::ADMIN_CONFIG_CHANGED)
                .with_actor(by)
                .with_detail("setting", "access_policy")
                .with_detail("version", version)
                .with_detail("old", to_value(old.as_ref()))
                .with_detail("new", to_value(policy.as_ref()));
            if let Some(t) = tenant {
                ev = ev.with_tenant(t);
            }
            if let Err(e) = rec.record_durable(ev).await {
                // Undo: the store is back to the old policy (one version later).
                if let Err(undo) = self.store.put(tenant, old.as_ref(), version).await {
                    tracing::error!(error = %undo, "access policy change not recorded and not undone");
                }
                self.refresh().await.ok();
                return Err(e);
            }
        }
        self.refresh().await?;
        Ok(())
    }
}

fn to_value(p: Option<&AccessPolicy>) -> serde_json::Value {
    p.and_then(|p| serde_json::to_value(p).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[async_trait]
impl crate::jobs::Job for AccessControl {
    fn name(&self) -> &str {
        "access-policy-refresh"
    }

    async fn run(&self) -> Result<()> {
        self.refresh().await.map(|_| ())
    }
}
