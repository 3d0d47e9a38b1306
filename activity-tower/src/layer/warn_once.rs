//! The setup mistakes the layer can see for itself, each reported once per layer in the
//! application's log (`tracing` at `warn`), since they lose data silently otherwise.

use std::sync::atomic::{AtomicBool, Ordering};

/// Which warnings a layer has given.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    no_peer: AtomicBool,
    no_session: AtomicBool,
}

impl Warnings {
    /// `true` the first time only.
    fn first(flag: &AtomicBool) -> bool {
        !flag.load(Ordering::Relaxed) && !flag.swap(true, Ordering::Relaxed)
    }

    /// A request came with no peer address: every event's IP would be empty.
    pub(crate) fn no_peer(&self) {
        if Self::first(&self.no_peer) {
            tracing::warn!(
                "activity: a request has no peer address, so its events have no IP and the \
                 lockout cannot budget by address; serve the app with \
                 `into_make_service_with_connect_info::<SocketAddr>()` (axum), insert \
                 `activity_tower::layer::PeerAddr` per connection, or use the setup's `serve` \
                 (reported once)"
            );
        }
    }

    /// A successful login's answer set no session cookie of the configured name.
    pub(crate) fn no_session_cookie(&self, name: &str) {
        if Self::first(&self.no_session) {
            tracing::warn!(
                cookie = name,
                "activity: a successful login set no `{name}` cookie, so its session.created \
                 has no session; if a session library sets it, put ActivityLayer outside \
                 that library's layer (in axum, `.layer(sessions).layer(activity)`), or name \
                 its cookie in `session_cookie` (reported once)"
            );
        }
    }
}
