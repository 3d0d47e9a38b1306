//! `activity export`: events as CSV, JSON Lines or OCSF, to a file or standard output.

use std::process::ExitCode;

use activity_core::{export::export, export::export_event};

use crate::cli::args::ExportArgs;
use crate::cli::context::{operator, Ctx};
use crate::cli::output::{export_format, query_of};
use crate::cli::Failure;

/// Exports the events of the filters and records the export.
pub(crate) async fn run(a: ExportArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let q = query_of(&a.filters, 0)?;
    let format = export_format(a.format);
    let (counted_store, progress) = ctx.counted("export");
    let rows = match &a.output {
        Some(path) => {
            let f = std::fs::File::create(path).map_err(|e| Failure::file(path, e))?;
            export(&*counted_store, &q, format, std::io::BufWriter::new(f)).await
        }
        None => {
            export(
                &*counted_store,
                &q,
                format,
                std::io::BufWriter::new(std::io::stdout().lock()),
            )
            .await
        }
    };
    progress.finish();
    let rows = rows?;
    ctx.recorder
        .record_reserved(export_event(operator(), &q, format, rows))?;
    eprintln!("exported {rows} events");
    Ok(ExitCode::SUCCESS)
}
