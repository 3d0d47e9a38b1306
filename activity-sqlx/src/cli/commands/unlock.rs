//! `activity unlock`: release an account's lockout.

use std::process::ExitCode;

use crate::cli::args::UnlockArgs;
use crate::cli::context::{operator, Ctx};
use crate::cli::Failure;

/// Unlocks the account as the operator and waits for the event to be stored.
pub(crate) async fn run(a: UnlockArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    ctx.lockout
        .unlock(operator(), a.tenant.as_deref(), &a.account)
        .await?;
    ctx.recorder.flush().await?;
    println!(
        "unlocked {}",
        activity_core::text::escape_control(&a.account)
    );
    Ok(ExitCode::SUCCESS)
}
