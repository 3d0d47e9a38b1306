//! `activity report`: the compliance report for a period, as JSON or HTML.

use std::process::ExitCode;

use chrono::Utc;

use crate::cli::args::{DocFormat, ReportArgs};
use crate::cli::context::Ctx;
use crate::cli::time::parse_when;
use crate::cli::Failure;

/// Writes the report to the output file or standard output.
pub(crate) async fn run(a: ReportArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let now = Utc::now();
    let since = parse_when("since", &a.since, now).map_err(Failure::usage)?;
    let until = match &a.until {
        Some(u) => parse_when("until", u, now).map_err(Failure::usage)?,
        None => now,
    };
    let r = activity_core::review::compliance_report(
        &*ctx.store,
        a.tenant.as_deref(),
        since,
        until,
        &ctx.key,
    )
    .await?;
    let text = match a.format {
        DocFormat::Json => r.to_json(),
        DocFormat::Html => r.to_html(),
    };
    match &a.output {
        Some(p) => std::fs::write(p, text).map_err(|e| Failure::file(p, e))?,
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
