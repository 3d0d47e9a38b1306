//! Which events a sink takes.

use crate::event::ActivityEvent;

/// The events a sink delivers: by action prefix (`auth.` or `auth.login`, as the
/// queries match them) and by tenant. Empty lists take everything; the others are
/// skipped, and the cursor moves past them all the same.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, sinks::SinkFilter};
/// let login = ActivityEvent::login_succeeded(Actor::user("u_1")).with_tenant("acme");
/// assert!(SinkFilter::all().matches(&login));
/// assert!(SinkFilter::all().action("auth.login").matches(&login));
/// assert!(!SinkFilter::all().action("mfa").matches(&login));
/// assert!(SinkFilter::all().tenant(Some("acme")).matches(&login));
/// assert!(!SinkFilter::all().tenant(None).matches(&login));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkFilter {
    actions: Vec<String>,
    tenants: Vec<Option<String>>,
}

impl SinkFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Also takes the actions under `prefix` (a dotted action or a prefix of one:
    /// `auth` takes `auth.login.failed`, not `authz.x`).
    pub fn action(mut self, prefix: impl Into<String>) -> Self {
        self.actions.push(prefix.into());
        self
    }

    /// Also takes `tenant`'s events (`None`: the events without a tenant).
    pub fn tenant(mut self, tenant: Option<&str>) -> Self {
        self.tenants.push(tenant.map(str::to_owned));
        self
    }

    /// Whether `event` goes to the sink.
    pub fn matches(&self, event: &ActivityEvent) -> bool {
        let action = event.action.as_str();
        (self.actions.is_empty() || self.actions.iter().any(|p| action_under(action, p)))
            && (self.tenants.is_empty() || self.tenants.contains(&event.tenant))
    }
}

/// `action` is `prefix` or below it at a dot; a prefix ending in a dot takes what follows.
fn action_under(action: &str, prefix: &str) -> bool {
    match action.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || prefix.ends_with('.'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_stop_at_dots() {
        assert!(action_under("auth.login.failed", "auth"));
        assert!(action_under("auth.login.failed", "auth."));
        assert!(action_under("auth.login", "auth.login"));
        assert!(!action_under("authz.grant", "auth"));
        assert!(!action_under("auth", "auth.login"));
    }
}
