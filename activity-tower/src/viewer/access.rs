//! Who is asking: the viewer as the host app names them, what their tenant's tier allows,
//! and which events they may see.

use std::fmt;
use std::sync::Arc;

use activity_core::{retention::Tier, ActivityEvent, Actor};
use http::request::Parts;

use crate::Error;

/// What a viewer may see.
///
/// ```
/// use activity_tower::viewer::{Role, Viewer};
/// assert_eq!(Viewer::user("u_2").role, Role::User);
/// assert_eq!(Viewer::admin("u_1").tenant("acme").role, Role::Admin);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Their own Activity Log only.
    User,
    /// Their tenant's Audit Log (and their own).
    Admin,
}

/// How the viewer reached the endpoint: the tier gate applies to [`Access::Api`] only.
///
/// ```
/// # use std::sync::Arc;
/// use activity_core::{MemoryStore, Recorder, retention::Tier};
/// use activity_tower::viewer::{Access, ActivityViews, Viewer};
/// use tower::ServiceExt;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let store = Arc::new(MemoryStore::new());
/// # let (recorder, guard) = Recorder::builder(store.clone()).start();
/// let views = ActivityViews::new(store, recorder).tier_fn(|_tenant| Tier::SmallBusiness);
/// let token = Viewer::user("svc_1").tenant("acme").api();
/// assert_eq!(token.access, Access::Api);
/// let get = |path: &str| {
///     let mut req = http::Request::get(path).body(String::new()).unwrap();
///     req.extensions_mut().insert(token.clone());
///     views.service().oneshot(req)
/// };
/// // Listing is Enterprise-only for API access; export is on every tier.
/// assert_eq!(get("/activity-log/api/events").await.unwrap().status(), 403);
/// assert_eq!(get("/activity-log/api/events.csv").await.unwrap().status(), 200);
/// # guard.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Access {
    /// Signed in to the host app in a browser (the viewer page and its own requests).
    #[default]
    Browser,
    /// Programmatic access (an API token, a service account): allowed on the tiers
    /// [`ActivityViews::api_tiers`](crate::ActivityViews::api_tiers) names — Enterprise by
    /// default — except CSV export, which every tier has.
    Api,
}

/// The person (or program) reading the log, as the host app's authentication knows them.
/// Insert it as a request extension, or name it with
/// [`ActivityViews::viewer_fn`](crate::ActivityViews::viewer_fn).
///
/// ```
/// use activity_tower::viewer::{Role, Viewer};
/// let admin = Viewer::admin("u_1").tenant("acme").name("alice@example.com");
/// assert_eq!(admin.role, Role::Admin);
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(Viewer::user("u_2").tenant("acme"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Their actor id: the id their own events carry.
    pub user_id: String,
    /// A display name (e-mail), recorded on the `audit.viewed` events.
    pub name: Option<String>,
    /// Their tenant. A viewer without one sees only events without one (a single-tenant
    /// app); a multi-tenant app must always set it.
    pub tenant: Option<String>,
    /// What they may see.
    pub role: Role,
    /// How they reached the endpoint.
    pub access: Access,
}

impl Viewer {
    /// A user who sees their own activity.
    pub fn user(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            name: None,
            tenant: None,
            role: Role::User,
            access: Access::Browser,
        }
    }

    /// An administrator who sees their tenant's audit log.
    pub fn admin(user_id: impl Into<String>) -> Self {
        Self {
            role: Role::Admin,
            ..Self::user(user_id)
        }
    }

    /// With a tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// With a display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Marks programmatic access (see [`Access::Api`]).
    pub fn api(mut self) -> Self {
        self.access = Access::Api;
        self
    }

    /// The actor the `audit.*` events name.
    pub(crate) fn actor(&self) -> Actor {
        let a = Actor::user(self.user_id.clone());
        match &self.name {
            Some(n) => a.with_name(n.clone()),
            None => a,
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A closure naming the viewer from the request head.
pub type ViewerFn = Arc<dyn Fn(&Parts) -> Option<Viewer> + Send + Sync>;

/// A closure naming a tenant's tier.
pub type TierFn = Arc<dyn Fn(Option<&str>) -> Tier + Send + Sync>;

/// How the service finds the viewer and the tenant's tier.
#[derive(Clone, Default)]
pub(crate) struct AccessConfig {
    pub viewer: Option<ViewerFn>,
    pub tier: Option<TierFn>,
    pub api_tiers: Vec<Tier>,
    pub admins_only: bool,
}

impl fmt::Debug for AccessConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessConfig")
            .field("viewer_fn", &self.viewer.is_some())
            .field("tier_fn", &self.tier.is_some())
            .field("api_tiers", &self.api_tiers)
            .field("admins_only", &self.admins_only)
            .finish()
    }
}

impl AccessConfig {
    /// The viewer: `Unauthenticated` when the host app names none, `Forbidden` for a
    /// user at a mount reserved for administrators.
    pub fn viewer(&self, parts: &Parts) -> Result<Viewer, Error> {
        let viewer = match &self.viewer {
            Some(f) => f(parts),
            None => parts.extensions.get::<Viewer>().cloned(),
        }
        .ok_or(Error::Unauthenticated)?;
        if self.admins_only && !viewer.is_admin() {
            return Err(Error::Forbidden("only administrators open this log"));
        }
        Ok(viewer)
    }

    /// Whether `viewer` may use the API endpoints (listing, devices, timeline).
    pub fn api_allowed(&self, viewer: &Viewer) -> bool {
        if viewer.access == Access::Browser {
            return true;
        }
        match &self.tier {
            None => true,
            Some(f) => self.api_tiers.contains(&f(viewer.tenant.as_deref())),
        }
    }
}

/// Which log a listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The viewer's own Activity Log.
    Own,
    /// The tenant's Audit Log (administrators).
    Tenant,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Own => "own",
            Scope::Tenant => "tenant",
        }
    }
}

/// Whether `viewer` may see `e` in `scope`: the last check before an event leaves.
pub(crate) fn visible(viewer: &Viewer, scope: Scope, e: &ActivityEvent) -> bool {
    e.tenant == viewer.tenant
        && (scope == Scope::Tenant || e.actor_id() == Some(viewer.user_id.as_str()))
}
