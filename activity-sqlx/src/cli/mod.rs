//! The `activity` operator command (feature `cli`). It uses the library's own code paths:
//! the stores, the recorder pipeline (chain, alerts, lockout), export, verification,
//! timelines and digests.

pub mod args;
pub mod config;
pub mod ingest;
pub mod progress;
pub mod time;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use activity_core::{
    alerts::AlertEngine, archive::ArchiveScheduler, archive::ArchiveWindow, chain::verified_event,
    chain::verify, chain::ChainKey, chain::ChainSealer, export::export, export::export_event,
    export::ExportFormat, lockout::LockoutPolicy, review::digest, review::sign_off,
    review::DigestOptions, review::ReviewRole, text::EventTable, timeline::timeline,
    timeline::Anchor, timeline::TimelineOptions, ActivityQuery, ActivityStore, Actor, Outcome,
    Recorder,
};
use chrono::Utc;

use crate::Error;
use args::{Cli, Command, DocFormat, ExportFormat as ArgFormat, Filters, ListFormat};
use config::Config;
use progress::{Progress, ProgressStore};
use time::{parse_duration, parse_when};

/// A failure of the command: a message and an exit status.
///
/// ```
/// use activity_sqlx::cli::{args::Cli, run, Failure};
/// use clap::Parser;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // A usage error, here a configuration file that does not exist, has exit status 2.
/// let missing = std::env::temp_dir().join(format!("activity-{}.toml", uuid::Uuid::now_v7()));
/// let config = missing.to_str().unwrap();
/// let cli = Cli::try_parse_from(["activity", "--config", config, "migrate"]).unwrap();
/// let failure = run(cli).await.unwrap_err(); // refused before any database is opened
/// assert_eq!(failure.code, 2);
/// assert!(failure.message.starts_with("cannot read"), "{}", failure.message);
/// // Any other error converts into a failure with status 1.
/// let failure = Failure::from("disk full");
/// assert_eq!((failure.message.as_str(), failure.code), ("disk full", 1));
/// # });
/// ```
#[derive(Debug)]
pub struct Failure {
    /// What to print (one line).
    pub message: String,
    /// The exit status.
    pub code: u8,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            message: e.to_string(),
            code: 1,
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: 2,
    }
}

/// Opens the store for `url` and migrates it.
async fn open(url: &str) -> Result<Arc<dyn ActivityStore>, Error> {
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        #[cfg(feature = "postgres")]
        {
            let s = crate::PgStore::connect(url).await?;
            s.migrate().await?;
            return Ok(Arc::new(s));
        }
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        #[cfg(feature = "mysql")]
        {
            let s = crate::MySqlStore::connect(&url.replacen("mariadb:", "mysql:", 1)).await?;
            s.migrate().await?;
            return Ok(Arc::new(s));
        }
    } else {
        let s = crate::SqliteStore::connect(url).await?;
        s.migrate().await?;
        return Ok(Arc::new(s));
    }
    #[allow(unreachable_code)]
    Err(Error::UnsupportedUrl(url.chars().take(200).collect()))
}

fn query_of(f: &Filters, limit: usize) -> Result<ActivityQuery, Failure> {
    let now = Utc::now();
    let mut q = ActivityQuery::new();
    q.tenant = f.tenant.clone();
    q.actor = f.user.clone();
    q.actions = f.action.clone();
    if let Some(o) = &f.outcome {
        q.outcome = Some(Outcome::parse(o).ok_or_else(|| {
            usage(format!(
                "--outcome: expected success, failure or unknown; got {o:?}"
            ))
        })?);
    }
    if let Some(ip) = &f.ip {
        q.ip = Some(
            ip.parse()
                .map_err(|_| usage(format!("--ip: not an IP address: {ip:?}")))?,
        );
    }
    if let Some(s) = &f.since {
        q.since = Some(parse_when("since", s, now).map_err(usage)?);
    }
    if let Some(u) = &f.until {
        q.until = Some(parse_when("until", u, now).map_err(usage)?);
    }
    q.limit = limit;
    q.validate().map_err(|e| usage(e.to_string()))?;
    Ok(q)
}

/// Every event of `q` up to `limit` (0: all), newest first.
async fn collect(
    store: &dyn ActivityStore,
    q: ActivityQuery,
    limit: usize,
) -> Result<Vec<activity_core::ActivityEvent>, Failure> {
    let mut out = Vec::new();
    let mut pages = activity_core::query::Pages::new(store, q);
    while let Some(events) = pages.next().await? {
        out.extend(events);
        if limit > 0 && out.len() >= limit {
            out.truncate(limit);
            break;
        }
    }
    Ok(out)
}

fn write_events(
    events: &[activity_core::ActivityEvent],
    format: ListFormat,
) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        ListFormat::Table => write!(out, "{}", EventTable::new(events))?,
        ListFormat::Json => {
            for e in events {
                serde_json::to_writer(&mut out, e)?;
                out.write_all(b"\n")?;
            }
        }
        ListFormat::Csv => {
            let mut w = activity_core::export::ExportWriter::new(&mut out, ExportFormat::Csv)?;
            w.write(events)?;
            w.finish()?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `store` counting what passes through it into a new progress line labelled `label`.
fn counted(store: &Arc<dyn ActivityStore>, label: &str) -> (Arc<dyn ActivityStore>, Arc<Progress>) {
    let p = Progress::stderr(label);
    (Arc::new(ProgressStore::new(store.clone(), p.clone())), p)
}

/// The archive directories in `dir`: itself and its immediate subdirectories that hold
/// a `manifest.json`, in name order.
fn archive_dirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if dir.join("manifest.json").is_file() {
        out.push(dir.to_path_buf());
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subs: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("manifest.json").is_file())
            .collect();
        subs.sort();
        out.extend(subs);
    }
    out
}

fn export_format(f: ArgFormat) -> ExportFormat {
    match f {
        ArgFormat::Csv => ExportFormat::Csv,
        ArgFormat::Jsonl => ExportFormat::JsonLines,
        ArgFormat::Ocsf => ExportFormat::Ocsf,
    }
}

fn operator() -> Actor {
    let name = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    Actor::new(if name.is_empty() {
        "operator".to_string()
    } else {
        name
    })
    .with_kind("operator")
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let config = Config::load(cli.config.as_deref()).map_err(usage)?;
    let store = open(&cli.db).await?;
    let key = match config.chain_key().map_err(usage)? {
        Some(k) => ChainKey::keyed(&k).map_err(|e| usage(e.to_string()))?,
        None => ChainKey::unkeyed(),
    };
    // The library's pipeline, as the app runs it.
    let (user_rule, ip_rule) = config.failed_logins().map_err(usage)?;
    let lockout = Arc::new(LockoutPolicy::new(
        store.clone(),
        config.lockout().map_err(usage)?,
    ));
    let writer = config
        .chain
        .writer
        .clone()
        .unwrap_or_else(|| "activity-cli".into());
    let mut builder = Recorder::builder(store.clone());
    if let Some(city) = &config.geoip.city {
        let resolver = activity_core::enrich::MaxMindResolver::open(city)
            .map_err(|e| usage(format!("[geoip] city: {e}")))?;
        builder = builder.enricher(activity_core::enrich::GeoEnricher::new(resolver));
    }
    if let Some(anon) = &config.geoip.anonymous_ip {
        let resolver = activity_core::enrich::MaxMindAnonymousIp::open(anon)
            .map_err(|e| usage(format!("[geoip] anonymous_ip: {e}")))?;
        builder = builder.enricher(activity_core::enrich::AnonymousIpEnricher::new(resolver));
    }
    let geo_rule = config.geo_anomaly().map_err(usage)?;
    let (recorder, guard) = builder
        .sealer(ChainSealer::new(&writer, key.clone()))
        .after_commit(
            AlertEngine::new()
                .rule(user_rule)
                .rule(ip_rule)
                .rule(activity_core::alerts::NewDevice::default())
                .rule(geo_rule)
                .rule(activity_core::alerts::ConcurrentSessions::default()),
        )
        .after_commit(lockout.clone())
        .overflow(activity_core::recorder::Overflow::Wait(
            std::time::Duration::from_secs(60),
        ))
        .lifecycle_events(false)
        .start();

    let retention = config.retention().map_err(usage)?;
    let require_archive = config.retention.require_archive.clone();
    let result = command(
        cli.command,
        &store,
        &recorder,
        &key,
        &lockout,
        retention,
        require_archive,
    )
    .await;
    let report = guard.shutdown().await;
    if !report.unwritten.is_empty() {
        return Err(Failure {
            message: format!("{} events could not be written", report.unwritten.len()),
            code: 1,
        });
    }
    result
}

async fn command(
    command: Command,
    shared: &Arc<dyn ActivityStore>,
    recorder: &Recorder,
    key: &ChainKey,
    lockout: &LockoutPolicy,
    retention: activity_core::retention::RetentionPolicy,
    require_archive: Option<std::path::PathBuf>,
) -> Result<ExitCode, Failure> {
    let store: &dyn ActivityStore = &**shared;
    match command {
        Command::Archive(a) => {
            if let Some(args::ArchiveVerify::Verify { dir }) = a.verify {
                let (m, problems) = activity_core::archive::verify_archive(&dir)?;
                if problems.is_empty() {
                    println!(
                        "archive intact: {} files, {} rows",
                        m.files.len(),
                        m.files.iter().map(|f| f.rows).sum::<u64>()
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                for p in &problems {
                    println!("BROKEN: {}", serde_json::to_string(p)?);
                }
                return Ok(ExitCode::from(3));
            }
            let now = Utc::now();
            let explain = "archive needs --output DIR and --since TIME --until TIME, \
                           --window yesterday|last-month or --every day|month \
                           (or: archive verify DIR)";
            let Some(out) = &a.output else {
                return Err(usage(explain));
            };
            let format = export_format(a.format);
            if let Some(every) = a.every {
                let window = match every {
                    args::EveryArg::Day => ArchiveWindow::Day,
                    args::EveryArg::Month => ArchiveWindow::Month,
                };
                let (store, progress) = counted(shared, "archive");
                let mut s = ArchiveScheduler::new(
                    store,
                    out.clone(),
                    window,
                    Arc::new(activity_core::SystemClock),
                )
                .format(format)
                .recorder(recorder.clone());
                if let Some(t) = &a.tenant {
                    s = s.tenant(t.clone());
                }
                if let Some(f) = &a.from {
                    s = s.starting(parse_when("from", f, now).map_err(usage)?);
                }
                let done = s.run_once().await;
                progress.finish();
                let done = done?;
                for (dir, m) in &done {
                    println!(
                        "archived {} events into {}",
                        m.files.iter().map(|f| f.rows).sum::<u64>(),
                        dir.display()
                    );
                }
                if done.is_empty() {
                    println!(
                        "nothing to archive: every closed window is in {}",
                        out.display()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let (since, until) = match (a.window, &a.since, &a.until) {
                (Some(args::WindowArg::Yesterday), ..) => ArchiveWindow::Day.last_closed(now),
                (Some(args::WindowArg::LastMonth), ..) => ArchiveWindow::Month.last_closed(now),
                (None, Some(since), Some(until)) => (
                    parse_when("since", since, now).map_err(usage)?,
                    parse_when("until", until, now).map_err(usage)?,
                ),
                _ => return Err(usage(explain)),
            };
            let (store, progress) = counted(shared, "archive");
            let m = activity_core::archive::archive(
                &*store,
                out,
                a.tenant.as_deref(),
                since,
                until,
                format,
                now,
            )
            .await;
            progress.finish();
            let m = m?;
            let mut q = ActivityQuery::new().since(since).until(until);
            q.tenant = a.tenant.clone();
            recorder.record(
                export_event(operator(), &q, format, m.files[0].rows)
                    .with_detail("archive", out.display().to_string()),
            )?;
            println!("archived {} events into {}", m.files[0].rows, out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(a) => {
            let now = Utc::now();
            let since = parse_when("since", &a.since, now).map_err(usage)?;
            let until = match &a.until {
                Some(u) => parse_when("until", u, now).map_err(usage)?,
                None => now,
            };
            let r = activity_core::review::compliance_report(
                store,
                a.tenant.as_deref(),
                since,
                until,
                key,
            )
            .await?;
            let text = match a.format {
                DocFormat::Json => r.to_json(),
                DocFormat::Html => r.to_html(),
            };
            match &a.output {
                Some(p) => std::fs::write(p, text)
                    .map_err(|e| Failure::from(format!("{}: {e}", p.display())))?,
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge(a) => {
            let now = match &a.now {
                Some(t) => parse_when("now", t, Utc::now()).map_err(usage)?,
                None => Utc::now(),
            };
            let (store, progress) = counted(shared, "purge");
            let mut purger = activity_core::retention::Purger::new(
                store,
                retention,
                Arc::new(activity_core::ManualClock::new(now)),
            )
            .recorder(recorder.clone());
            if let Some(dir) = a.require_archive.or(require_archive) {
                purger = purger.require_archive(dir);
            }
            let result = purger.run_once(a.dry_run).await;
            progress.finish();
            let not_archived = |list: &[activity_core::retention::TenantPurge]| {
                for t in list {
                    println!(
                        "{:20} {:>8} expired events are in no verified archive",
                        activity_core::text::escape_control(
                            t.tenant.as_deref().unwrap_or("(no tenant)")
                        ),
                        t.events
                    );
                }
            };
            let report = match result {
                Ok(r) => r,
                Err(e @ activity_core::Error::NotArchived { .. }) => {
                    if let Some(last) = purger.last_run() {
                        not_archived(&last.not_archived);
                    }
                    return Err(Failure::from(e));
                }
                Err(e) => return Err(Failure::from(e)),
            };
            let verb = if a.dry_run { "would delete" } else { "deleted" };
            for t in &report.tenants {
                println!(
                    "{:20} {verb} {:>8} events older than {}",
                    activity_core::text::escape_control(
                        t.tenant.as_deref().unwrap_or("(no tenant)")
                    ),
                    t.events,
                    activity_core::event::format_time(&t.cutoff)
                );
            }
            for h in &report.held {
                println!(
                    "{:20} legal hold: kept",
                    activity_core::text::escape_control(h)
                );
            }
            for p in &report.partitions {
                println!("dropped partition {p}");
            }
            if !report.partitions.is_empty() {
                println!(
                    "{} of the events went with whole partitions",
                    report.partition_events
                );
            }
            not_archived(&report.not_archived);
            println!("{verb} {} events in all", report.total);
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            println!("schema is up to date (version {})", crate::SCHEMA_VERSION);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(a) => {
            let input: Box<dyn std::io::BufRead> = match a.file.as_deref() {
                None => Box::new(std::io::stdin().lock()),
                Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
                Some(p) => Box::new(std::io::BufReader::new(
                    std::fs::File::open(p)
                        .map_err(|e| Failure::from(format!("{}: {e}", p.display())))?,
                )),
            };
            let (events, report) = ingest::read_events(input)?;
            for (line, reason) in &report.bad {
                eprintln!(
                    "line {line}: {}",
                    activity_core::text::escape_control(reason)
                );
            }
            if a.strict && !report.bad.is_empty() {
                eprintln!("--strict: {} bad lines; nothing stored", report.bad.len());
                return Ok(ExitCode::from(1));
            }
            let n = events.len();
            let progress = Progress::stderr("ingest");
            progress.set_total(n as u64);
            let stored = ingest::record_all(recorder, events, &progress).await;
            progress.finish();
            stored?;
            eprintln!("stored {n} events, skipped {} bad lines", report.bad.len());
            Ok(if report.bad.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Query(a) => {
            let q = query_of(&a.filters, a.limit)?;
            let events = collect(store, q, a.limit).await?;
            write_events(&events, a.format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts(a) => {
            let mut q = query_of(&a.filters, a.limit)?;
            q.actions = vec!["alert".into()];
            let events = collect(store, q, a.limit).await?;
            write_events(&events, a.format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(a) => {
            let q = query_of(&a.filters, 0)?;
            let format = export_format(a.format);
            let (counted_store, progress) = counted(shared, "export");
            let rows = match &a.output {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
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
            recorder.record(export_event(operator(), &q, format, rows))?;
            eprintln!("exported {rows} events");
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(a) => {
            let (counted_store, progress) = counted(shared, "verify");
            let report = verify(&*counted_store, a.tenant.as_deref(), key).await;
            progress.finish();
            let report = report?;
            recorder.record(verified_event(a.tenant.as_deref(), &report))?;
            // The heads the archives recorded, against the store's.
            let mut archived = Vec::new();
            let mut manifests = 0;
            if let Some(dir) = &a.archives {
                for d in archive_dirs(dir) {
                    let m = activity_core::archive::read_manifest(&d)?;
                    if a.tenant.is_some() && m.tenant.is_some() && m.tenant != a.tenant {
                        continue;
                    }
                    manifests += 1;
                    archived.extend(activity_core::archive::check_heads(store, &m, key).await?);
                }
            }
            if let Some(b) = report.first_break.as_ref().or(archived.first()) {
                println!("BROKEN: {}", serde_json::to_string(b)?);
                println!(
                    "{} breaks in {} events, {} chains",
                    report.breaks + archived.len() as u64,
                    report.events,
                    report.chains
                );
                Ok(ExitCode::from(3))
            } else {
                println!(
                    "intact: {} events in {} chains ({} checked against their head, {} without one, {} ended by retention)",
                    report.events,
                    report.chains,
                    report.anchored,
                    report.unanchored,
                    report.purged_tails
                );
                if a.archives.is_some() {
                    println!("chain heads match {manifests} archive manifests");
                }
                Ok(ExitCode::SUCCESS)
            }
        }
        Command::Unlock(a) => {
            lockout.unlock(operator(), a.tenant.as_deref(), &a.account)?;
            recorder.flush().await?;
            println!(
                "unlocked {}",
                activity_core::text::escape_control(&a.account)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Timeline(a) => {
            let now = Utc::now();
            let at = match &a.at {
                Some(t) => parse_when("at", t, now).map_err(usage)?,
                None => now,
            };
            let parse_id = |s: &str| {
                uuid::Uuid::try_parse(s).map_err(|_| usage(format!("not an event id: {s:?}")))
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
                        .map_err(|_| usage(format!("--ip: not an IP address: {ip:?}")))?,
                    at,
                },
                (_, _, _, _, Some(d)) => Anchor::Device { id: d.clone(), at },
                _ => {
                    return Err(usage(
                        "give one of --alert, --event, --account, --ip, --device",
                    ))
                }
            };
            let w = parse_duration(&a.window).map_err(usage)?;
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
                                .map(|l| activity_core::text::escape_control(&l.to_string()))
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
                                println!(
                                    "  {} ({})",
                                    activity_core::text::escape_control(&p.account),
                                    p.via
                                );
                            }
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Digest(a) => {
            let role = ReviewRole::parse(&a.role).map_err(|e| usage(e.to_string()))?;
            let now = Utc::now();
            let until = match &a.until {
                Some(u) => parse_when("until", u, now).map_err(usage)?,
                None => now,
            };
            let since = match &a.since {
                Some(s) => parse_when("since", s, now).map_err(usage)?,
                None => until - role.cadence(),
            };
            let d = digest(
                store,
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
                Some(p) => std::fs::write(p, text)
                    .map_err(|e| Failure::from(format!("{}: {e}", p.display())))?,
                None => println!("{text}"),
            }
            if let Some(who) = &a.sign_off {
                sign_off(recorder, &d, Actor::user(who.clone()), &a.comment)?;
                eprintln!(
                    "signed off as reviewed by {}",
                    activity_core::text::escape_control(who)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
