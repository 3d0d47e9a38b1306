//! One file per subcommand, each `run(args, &Ctx) -> Result<ExitCode, Failure>`.

mod alerts;
mod archive;
mod checkpoint;
mod digest;
mod export;
mod ingest;
mod migrate;
mod policy;
mod purge;
mod query;
mod report;
mod sinks;
mod spool;
mod timeline;
mod unlock;
mod verify;

use std::process::ExitCode;

use super::args::Command;
use super::context::Ctx;
use super::Failure;

pub(crate) use checkpoint::keygen;
pub(crate) use spool::{open_spool, status as spool_status};

/// Runs `command` with `ctx`.
pub(crate) async fn run(command: Command, ctx: &Ctx) -> Result<ExitCode, Failure> {
    match command {
        Command::Migrate => migrate::run(ctx),
        Command::Ingest(a) => ingest::run(a, ctx).await,
        Command::Query(a) => query::run(a, ctx).await,
        Command::Export(a) => export::run(a, ctx).await,
        Command::Archive(a) => archive::run(a, ctx).await,
        Command::Verify(a) => verify::run(a, ctx).await,
        Command::Report(a) => report::run(a, ctx).await,
        Command::Purge(a) => purge::run(a, ctx).await,
        Command::Alerts(a) => alerts::run(a, ctx).await,
        Command::Unlock(a) => unlock::run(a, ctx).await,
        Command::Timeline(a) => timeline::run(a, ctx).await,
        Command::Digest(a) => digest::run(a, ctx).await,
        Command::Checkpoint(a) => checkpoint::run(a, ctx).await,
        Command::Policy(a) => policy::run(a, ctx).await,
        Command::Spool(a) => spool::run(a, ctx).await,
        Command::Sinks(a) => sinks::run(a, ctx).await,
    }
}
