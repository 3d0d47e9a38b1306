//! `activity digest`: a review digest for a role and period, and its sign-off.

use std::process::ExitCode;

use activity_core::{
    review::digest, review::sign_off, review::DigestOptions, review::ReviewRole, Actor,
};
use chrono::Utc;

use crate::cli::args::{DigestArgs, DocFormat};
use crate::cli::context::Ctx;
use crate::cli::time::parse_when;
use crate::cli::Failure;

/// Writes the digest, and records the sign-off when one is given.
pub(crate) async fn run(a: DigestArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let role = ReviewRole::parse(&a.role).map_err(|e| Failure::usage(e.to_string()))?;
    let now = Utc::now();
    let until = match &a.until {
        Some(u) => parse_when("until", u, now).map_err(Failure::usage)?,
        None => now,
    };
    let since = match &a.since {
        Some(s) => parse_when("since", s, now).map_err(Failure::usage)?,
        None => until - role.cadence(),
    };
    let d = digest(
        &*ctx.store,
        role,
        a.tenant.as_deref(),
        since,
        until,
        now,
        DigestOptions::default(),
    )
    .await?;
    let text = match a.format {
        DocFormat::Json => d.to_json(),
        DocFormat::Html => d.to_html(),
    };
    match &a.output {
        Some(p) => std::fs::write(p, text).map_err(|e| Failure::file(p, e))?,
        None => println!("{text}"),
    }
    if let Some(who) = &a.sign_off {
        sign_off(&ctx.recorder, &d, Actor::user(who.clone()), &a.comment)?;
        eprintln!(
            "signed off as reviewed by {}",
            activity_core::text::escape_control(who)
        );
    }
    Ok(ExitCode::SUCCESS)
}
