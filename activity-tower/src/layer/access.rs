//! [`AccessGate`]: the access policies ([`activity_core::access`]) the layer enforces
//! before a handler runs, and the events of its decisions.

use std::sync::Arc;

use activity_core::access::{AccessControl, AccessRequest, Decision, Denial};
use activity_core::enrich::GeoResolver;
use activity_core::{Action, ActivityEvent, Actor, Outcome};
use http::HeaderName;

use super::context::RequestContext;

/// The header a refused request's answer names its reason code in (`ip_denied`,
/// `country_denied`, `outside_hours`, and the layer's other refusals).
pub const X_ACTIVITY_REASON: HeaderName = HeaderName::from_static("x-activity-reason");

/// An account's roles, for rules limited to roles: `(tenant, account) → roles`.
pub type RolesFn = dyn Fn(Option<&str>, &str) -> Vec<String> + Send + Sync;

/// The policies the layer enforces, with where it finds a request's country and an
/// account's roles.
#[derive(Clone)]
pub(crate) struct AccessGate {
    pub control: Arc<AccessControl>,
    pub geo: Option<Arc<dyn GeoResolver>>,
    pub roles: Option<Arc<RolesFn>>,
    /// Judge every request through the layer, not only sign-ins.
    pub everywhere: bool,
}

/// A decision, with the inputs it was taken on.
pub(crate) struct Judged {
    pub decision: Decision,
    pub country: Option<String>,
}

impl AccessGate {
    /// The decision on a request of `ctx` by `account` (the typed identifier on a
    /// sign-in, else the signed-in user), now.
    pub fn judge(&self, ctx: &RequestContext, account: Option<&Actor>) -> Judged {
        if !self.control.in_force() {
            return Judged {
                decision: Decision::default(),
                country: None,
            };
        }
        let country = ctx
            .ip
            .zip(self.geo.as_ref())
            .and_then(|(ip, g)| g.resolve(ip))
            .and_then(|geo| geo.country);
        let roles = match (account, &self.roles) {
            (Some(a), Some(f)) => f(ctx.tenant.as_deref(), &a.id),
            _ => Vec::new(),
        };
        let req = AccessRequest {
            tenant: ctx.tenant.as_deref(),
            account: account.map(|a| a.id.as_str()),
            roles: &roles,
            ip: ctx.ip,
            country: country.as_deref(),
            at: self.control.now(),
        };
        Judged {
            decision: self.control.decide(&req),
            country,
        }
    }
}

impl Judged {
    /// The events the decision is recorded as: `access.denied` for the enforced denial,
    /// `access.reported` for each report-only rule that would have denied.
    pub fn events(
        &self,
        ctx: &RequestContext,
        account: Option<&Actor>,
        route: &str,
    ) -> Vec<ActivityEvent> {
        let event = |action: Action, d: &Denial| {
            let mut e = ctx
                .fill(ActivityEvent::new(action).with_outcome(Outcome::Failure))
                .with_reason(d.reason.as_str())
                // The tenant's policy (the event's tenant) or the global one.
                .with_detail(
                    "policy",
                    if d.policy.is_some() {
                        "tenant"
                    } else {
                        "global"
                    },
                )
                .with_detail("rule", d.rule.clone())
                .with_detail("route", route.to_owned());
            if let Some(c) = &self.country {
                e = e.with_detail("country", c.clone());
            }
            if let Some(t) = &d.local_time {
                e = e.with_detail("local_time", t.clone());
            }
            if let Some(a) = account {
                e.actor = Some(a.clone());
            }
            e
        };
        let mut out: Vec<ActivityEvent> = self
            .decision
            .reported
            .iter()
            .map(|d| event(Action::ACCESS_REPORTED, d))
            .collect();
        if let Some(d) = &self.decision.denied {
            out.push(event(Action::ACCESS_DENIED, d));
        }
        out
    }
}
