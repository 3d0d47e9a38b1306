//! `activity sinks`: the sinks' receipts, and `sinks remove NAME`.

use std::process::ExitCode;

use activity_core::sinks::SinkReceipt;

use crate::cli::args::{SinksAction, SinksArgs};
use crate::cli::context::Ctx;
use crate::cli::Failure;

/// Lists the receipts (a table, or JSON with `--json`), or removes one.
pub(crate) async fn run(a: SinksArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    if let Some(SinksAction::Remove { name }) = a.action {
        return Ok(if ctx.store.remove_sink_state(&name).await? {
            eprintln!(
                "removed sink {}",
                activity_core::text::escape_control(&name)
            );
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "no sink named {}",
                activity_core::text::escape_control(&name)
            );
            ExitCode::from(1)
        });
    }
    let mut receipts = Vec::new();
    for state in ctx.store.sink_states().await? {
        let lag = ctx.store.log_lag(state.position).await?;
        receipts.push(SinkReceipt { state, lag });
    }
    if a.json {
        for r in &receipts {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print!("{}", table(&receipts));
    }
    Ok(ExitCode::SUCCESS)
}

/// The receipts as a text table.
fn table(receipts: &[SinkReceipt]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<6} {:<10} {:>8} {:>10} {:>8}  {:<24}  last error",
        "name", "kind", "state", "lag", "delivered", "failures", "last delivery"
    );
    for r in receipts {
        let s = &r.state;
        let when = s
            .last_delivery
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "-".into());
        let error = s
            .last_error
            .as_deref()
            .map(activity_core::text::escape_control)
            .map(|e| e.chars().take(80).collect::<String>())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<24} {:<6} {:<10} {:>8} {:>10} {:>8}  {:<24}  {}",
            s.name,
            activity_core::text::escape_control(&s.kind),
            s.status.as_str(),
            r.lag,
            s.delivered,
            s.failures,
            when,
            error
        );
    }
    out
}
