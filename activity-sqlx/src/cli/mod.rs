//! The `activity` operator command (feature `cli`). It uses the library's own code paths:
//! the stores, the recorder pipeline (chain, alerts, lockout), export, verification,
//! timelines and digests.
//!
//! | module | what it holds |
//! |---|---|
//! | [`args`] | the command line, as clap derives it |
//! | [`config`] | the TOML configuration file |
//! | [`ingest`] | reading JSON Lines events |
//! | [`progress`] | the progress line on standard error |
//! | [`time`] | times and durations on the command line |
//! | `commands/` | one file per subcommand, each `run(args, &Ctx)` |
//! | `context.rs` | the store and the pipeline a command runs with |
//! | `output.rs`, `table.rs` | listings: query, pages, table / JSON Lines / CSV |
//! | `failure.rs` | [`Failure`]: message, exit status, the error behind it |
//!
//! ```
//! use activity_sqlx::cli::{args::Cli, run};
//! use clap::Parser;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let cli = Cli::try_parse_from(["activity", "--db", "sqlite::memory:", "migrate"]).unwrap();
//! assert_eq!(run(cli).await.unwrap(), std::process::ExitCode::SUCCESS);
//! # });
//! ```

pub mod args;
mod commands;
pub mod config;
mod context;
mod failure;
pub mod ingest;
mod output;
pub mod progress;
pub mod time;

use std::process::ExitCode;

use args::Cli;
use config::Config;
use context::Ctx;
pub use failure::Failure;

/// Runs a parsed command line: loads the configuration, opens and migrates the store,
/// starts the pipeline, runs the command and shuts the pipeline down (a failure when any
/// event it recorded could not be written).
///
/// ```
/// use activity_sqlx::cli::{args::Cli, run};
/// use clap::Parser;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cli = Cli::try_parse_from(["activity", "--db", "sqlite::memory:", "query", "--outcome", "maybe"]).unwrap();
/// assert_eq!(run(cli).await.unwrap_err().code, 2); // a usage error
/// # });
/// ```
///
/// # Errors
/// A [`Failure`] with the command's exit status: 2 for a usage error, 1 otherwise.
pub async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let config = Config::load(cli.config.as_deref()).map_err(Failure::usage)?;
    // Making a key pair needs no database.
    if let args::Command::Checkpoint(args::CheckpointArgs {
        keygen: Some(args::CheckpointKeygen::Keygen { secret, public }),
        ..
    }) = &cli.command
    {
        return commands::keygen(secret, public);
    }
    // What the spool holds needs no database.
    if let args::Command::Spool(a) = &cli.command {
        if matches!(a.action, args::SpoolAction::Status) {
            return commands::spool_status(&a.spool).await;
        }
    }
    if !matches!(cli.command, args::Command::Migrate) {
        context::require_existing_sqlite(&cli.db)?;
    }
    let spool = match &cli.command {
        args::Command::Spool(a) => Some(commands::open_spool(&a.spool).await?),
        _ => None,
    };
    let (ctx, guard) = Ctx::start(&cli.db, &config, spool).await?;
    let result = commands::run(cli.command, &ctx).await;
    let report = guard.shutdown().await;
    if !report.unwritten.is_empty() {
        return Err(Failure::failed(format!(
            "{} events could not be written",
            report.unwritten.len()
        )));
    }
    result
}
