//! `activity`: the operator command. `activity --help` lists the subcommands.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use activity_sqlx::cli::{args::Cli, run};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("activity: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(f) => {
            eprintln!(
                "activity: {}",
                activity_core::text::escape_control(&f.message)
            );
            ExitCode::from(f.code)
        }
    }
}
