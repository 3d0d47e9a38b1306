//! `activity migrate`: the store was migrated when it was opened; say so.

use std::process::ExitCode;

use crate::cli::context::Ctx;
use crate::cli::Failure;

/// Reports the schema version (opening the store migrated it).
pub(crate) fn run(_ctx: &Ctx) -> Result<ExitCode, Failure> {
    println!("schema is up to date (version {})", crate::SCHEMA_VERSION);
    Ok(ExitCode::SUCCESS)
}
