//! Recording what a viewer read: every `audit.*` event of the endpoints goes through here.

use activity_core::{ActivityEvent, Recorder};

use super::access::Viewer;
use crate::ActivityHandle;

/// Records an `audit.*` event for `viewer`, through the request's [`ActivityHandle`]
/// when the activity layer is in front (IP, user agent, request id filled in).
pub(crate) fn record(
    recorder: &Recorder,
    handle: Option<&ActivityHandle>,
    viewer: &Viewer,
    mut e: ActivityEvent,
) -> activity_core::Result<()> {
    if e.tenant.is_none() {
        e.tenant = viewer.tenant.clone();
    }
    match handle {
        Some(h) => h.record_reserved(e),
        None => recorder.record_reserved(e),
    }
}
