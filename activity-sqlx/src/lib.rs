//! SQL stores for the activity SDK (see the activity-sqlx issue).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub use activity_core;
