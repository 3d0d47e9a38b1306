//! `activity query`: list events.

use std::process::ExitCode;

use crate::cli::args::QueryArgs;
use crate::cli::context::Ctx;
use crate::cli::output::{collect, query_of, write_events};
use crate::cli::Failure;

/// Lists the events of the filters.
pub(crate) async fn run(a: QueryArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let q = query_of(&a.filters, a.limit)?;
    let events = collect(&*ctx.store, q, a.limit).await?;
    write_events(&events, a.format)?;
    Ok(ExitCode::SUCCESS)
}
