//! `activity timeline`: what happened around an alert, event, account, IP or device.

use std::process::ExitCode;

use activity_core::{
    text::escape_control, timeline::timeline, timeline::Anchor, timeline::TimelineOptions,
};
use chrono::Utc;

use crate::cli::args::{ListFormat, TimelineArgs};
use crate::cli::context::Ctx;
use crate::cli::output::write_events;
use crate::cli::time::{parse_duration, parse_when};
use crate::cli::Failure;
use activity_core::text::EventTable;

/// Builds the timeline (and its pivots) and prints it: JSON, CSV, or a table oldest
/// first with why each event is in it.
pub(crate) async fn run(a: TimelineArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let store = &*ctx.store;
    let now = Utc::now();
    let at = match &a.at {
        Some(t) => parse_when("at", t, now).map_err(Failure::usage)?,
        None => now,
    };
    let parse_id = |s: &str| {
        uuid::Uuid::try_parse(s).map_err(|_| Failure::usage(format!("not an event id: {s:?}")))
    };
    let anchor = match (&a.alert, &a.event, &a.account, &a.ip, &a.device) {
        (Some(id), ..) => Anchor::Alert(parse_id(id)?),
        (_, Some(id), ..) => Anchor::Event(parse_id(id)?),
        (_, _, Some(acc), ..) => Anchor::Account {
            id: acc.clone(),
            at,
        },
        (_, _, _, Some(ip), _) => Anchor::Ip {
            ip: ip
                .parse()
                .map_err(|_| Failure::usage(format!("--ip: not an IP address: {ip:?}")))?,
            at,
        },
        (_, _, _, _, Some(d)) => Anchor::Device { id: d.clone(), at },
        _ => {
            return Err(Failure::usage(
                "give one of --alert, --event, --account, --ip, --device",
            ))
        }
    };
    let w = parse_duration(&a.window).map_err(Failure::usage)?;
    let opts = TimelineOptions {
        before: w,
        after: w,
        ..TimelineOptions::default()
    };
    let mut t = timeline(store, a.tenant.as_deref(), anchor, opts).await?;
    for p in &a.pivot {
        t.pivot(store, p).await?;
    }
    match a.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&t)?),
        _ => {
            let events: Vec<_> = t.entries.iter().map(|r| r.event.clone()).collect();
            if a.format == ListFormat::Csv {
                write_events(&events, ListFormat::Csv)?;
            } else {
                let mut rev = events.clone();
                rev.reverse();
                print!("{}", EventTable::new(&rev));
                println!("\nwhy each event is here (oldest first):");
                for r in &t.entries {
                    let links: Vec<String> = r
                        .links
                        .iter()
                        .map(|l| escape_control(&l.to_string()))
                        .collect();
                    println!(
                        "  {} {}: {}",
                        activity_core::event::format_time(&r.event.time),
                        r.event.action,
                        links.join("; ")
                    );
                }
                if !t.pivots.is_empty() {
                    println!("\nother accounts seen (follow with --pivot ACCOUNT):");
                    for p in &t.pivots {
                        println!("  {} ({})", escape_control(&p.account), p.via);
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
