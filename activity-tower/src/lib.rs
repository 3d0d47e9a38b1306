//! HTTP capture for the activity SDK (see the activity-tower issue).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub use activity_core;
