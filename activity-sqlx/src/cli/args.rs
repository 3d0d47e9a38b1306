//! The command line, as clap derives it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `activity`: review, export, archive, verify, purge and report on an activity log.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command, ListFormat};
/// use clap::Parser;
/// let cli = Cli::try_parse_from([
///     "activity", "query", "--db", "sqlite://audit.db", "--limit", "5", "--format", "json",
/// ])
/// .unwrap();
/// assert_eq!(cli.db, "sqlite://audit.db"); // global: accepted after the subcommand too
/// assert_eq!(cli.config, None);
/// let Command::Query(q) = cli.command else { panic!("expected query") };
/// assert_eq!((q.limit, q.format), (5, ListFormat::Json));
/// // A bad argument is an error to report (exit status 2), not a panic.
/// let err = Cli::try_parse_from(["activity", "query", "--limit", "many"]).unwrap_err();
/// assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
/// assert_eq!(err.exit_code(), 2);
/// ```
#[derive(Debug, Parser)]
#[command(name = "activity", version, about, long_about = None)]
pub struct Cli {
    /// Database URL (sqlite://path, postgres://…, mysql://…).
    #[arg(
        long,
        global = true,
        env = "ACTIVITY_DATABASE_URL",
        default_value = "sqlite://activity.db"
    )]
    pub db: String,
    /// Configuration file (TOML); `activity.toml` is read when present.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
///
/// ```
/// use activity_sqlx::cli::args::{ArchiveVerify, Cli, Command};
/// use clap::Parser;
/// let parse = |args: &[&str]| {
///     Cli::try_parse_from(["activity"].iter().chain(args)).map(|cli| cli.command)
/// };
/// let Ok(Command::Unlock(u)) = parse(&["unlock", "alice", "--tenant", "acme"]) else {
///     panic!("expected unlock")
/// };
/// assert_eq!((u.account.as_str(), u.tenant.as_deref()), ("alice", Some("acme")));
/// let Ok(Command::Archive(a)) = parse(&["archive", "verify", "/srv/archives/2026-11-24"]) else {
///     panic!("expected archive")
/// };
/// assert!(matches!(a.verify, Some(ArchiveVerify::Verify { dir, .. }) if dir.ends_with("2026-11-24")));
/// // Unknown subcommands and conflicting anchors are errors, not panics.
/// assert!(parse(&["frobnicate"]).is_err());
/// assert!(parse(&["timeline", "--account", "alice", "--ip", "192.0.2.1"]).is_err());
/// assert!(parse(&[]).is_err()); // a subcommand is required
/// ```
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the schema.
    Migrate,
    /// Store JSON Lines events (schema v1) from FILE or standard input.
    Ingest(IngestArgs),
    /// List events.
    Query(QueryArgs),
    /// Export events as CSV or JSON Lines.
    Export(ExportArgs),
    /// Archive a closed window into a directory (`archive verify DIR` checks one).
    Archive(ArchiveArgs),
    /// Verify the integrity chain.
    Verify(VerifyArgs),
    /// Compliance report for a period.
    Report(ReportArgs),
    /// Delete events past their tenant's retention (`--dry-run` to count only).
    Purge(PurgeArgs),
    /// List the alerts raised.
    Alerts(QueryArgs),
    /// Release an account's lockout.
    Unlock(UnlockArgs),
    /// Reconstruct the timeline around an alert, event, account, IP or device.
    Timeline(TimelineArgs),
    /// A review digest for a role and period.
    Digest(DigestArgs),
    /// Write a signed checkpoint of every chain into a directory (`checkpoint keygen`
    /// makes the signing key pair).
    Checkpoint(CheckpointArgs),
    /// Show, set or test the access policies (where and when users may sign in).
    Policy(PolicyArgs),
    /// The recorder's local spool (where an application beside PostgreSQL or MySQL keeps
    /// events while its store is down): what it holds, or replay it into `--db`.
    Spool(SpoolArgs),
    /// The sinks' receipts (cursor, lag, last delivered event, failures, state), or
    /// `sinks remove NAME` to forget one (it then no longer holds back the purge).
    Sinks(SinksArgs),
}

/// `sinks [list|remove NAME]`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command, SinksAction};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "sinks", "remove", "siem"]).unwrap();
/// let Command::Sinks(s) = cli.command else { panic!("expected sinks") };
/// assert!(matches!(s.action, Some(SinksAction::Remove { name }) if name == "siem"));
/// let cli = Cli::try_parse_from(["activity", "sinks", "--json"]).unwrap();
/// let Command::Sinks(s) = cli.command else { panic!("expected sinks") };
/// assert!(s.json && s.action.is_none());
/// ```
#[derive(Debug, clap::Args)]
pub struct SinksArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<SinksAction>,
    /// The receipts as JSON, one object per sink.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `sinks list|remove`.
#[derive(Debug, clap::Subcommand)]
pub enum SinksAction {
    /// The receipts (the default).
    List,
    /// Forget a sink's cursor and receipt.
    Remove {
        /// The sink's name.
        name: String,
    },
}

/// `spool status|replay`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command, SpoolAction};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "spool", "status", "--spool", "/var/lib/app/spool.db"]).unwrap();
/// let Command::Spool(s) = cli.command else { panic!("expected spool") };
/// assert!(matches!(s.action, SpoolAction::Status));
/// assert_eq!(s.spool.to_str(), Some("/var/lib/app/spool.db"));
/// ```
#[derive(Debug, clap::Args)]
pub struct SpoolArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SpoolAction,
    /// The spool file (the application's `ACTIVITY_SPOOL_PATH`).
    #[arg(
        long,
        global = true,
        env = "ACTIVITY_SPOOL_PATH",
        default_value = "activity-spool.db"
    )]
    pub spool: PathBuf,
}

/// `spool status|replay`.
#[derive(Debug, clap::Subcommand)]
pub enum SpoolAction {
    /// Print what the spool holds as JSON (needs no database).
    Status,
    /// Replay the spool into `--db`, oldest batch first, through the library's pipeline
    /// (chain, alerts, lockout); exit 1 if the store does not take all of it. Stop the
    /// application that owns the spool first: it replays the spool itself when it starts.
    Replay,
}

/// `checkpoint`.
///
/// ```
/// use activity_sqlx::cli::args::{CheckpointArgs, CheckpointKeygen, Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "checkpoint", "--out", "/srv/checkpoints"]).unwrap();
/// let Command::Checkpoint(a) = cli.command else { panic!("expected checkpoint") };
/// assert!(a.out.is_some() && a.keygen.is_none());
/// let cli = Cli::try_parse_from(["activity", "checkpoint", "keygen", "--secret", "s.key", "--public", "s.pub"]).unwrap();
/// let Command::Checkpoint(CheckpointArgs { keygen: Some(CheckpointKeygen::Keygen { secret, .. }), .. }) = cli.command else { panic!() };
/// assert!(secret.ends_with("s.key"));
/// ```
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CheckpointArgs {
    /// `keygen --secret FILE --public FILE`.
    #[command(subcommand)]
    pub keygen: Option<CheckpointKeygen>,
    /// The checkpoint directory: the next checkpoint is written into it, continuing the
    /// newest one there.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The signing key file (default: `[chain] signing_key_file` or `ACTIVITY_SIGNING_KEY`).
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
}

/// `checkpoint keygen`.
#[derive(Debug, Subcommand)]
pub enum CheckpointKeygen {
    /// Make an Ed25519 key pair: the secret (kept by the application) and the public key
    /// (handed to auditors).
    Keygen {
        /// Where to write the secret key (must not exist).
        #[arg(long)]
        secret: PathBuf,
        /// Where to write the public key.
        #[arg(long)]
        public: PathBuf,
    },
}

/// Output formats for listings.
///
/// ```
/// use activity_sqlx::cli::args::ListFormat;
/// use clap::ValueEnum;
/// assert_eq!(ListFormat::from_str("csv", false), Ok(ListFormat::Csv));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned text for people, control characters escaped.
    Table,
    /// JSON Lines, one event per line.
    Json,
    /// CSV, spreadsheet-safe.
    Csv,
}

/// Filters shared by listing commands.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let args = ["activity", "export", "--tenant", "acme", "--action", "auth", "--action", "admin"];
/// let cli = Cli::try_parse_from(args).unwrap();
/// let Command::Export(e) = cli.command else { panic!("expected export") };
/// assert_eq!((e.filters.tenant.as_deref(), e.filters.action.len()), (Some("acme"), 2));
/// ```
#[derive(Debug, Clone, Args)]
pub struct Filters {
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this account (actor id).
    #[arg(long)]
    pub user: Option<String>,
    /// Only this action code or category (repeatable).
    #[arg(long)]
    pub action: Vec<String>,
    /// Only this outcome (success, failure, unknown).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only this source IP.
    #[arg(long)]
    pub ip: Option<String>,
    /// From this time (RFC 3339 or a duration ago: 7d, 24h).
    #[arg(long)]
    pub since: Option<String>,
    /// Until this time, exclusive (RFC 3339 or a duration ago).
    #[arg(long)]
    pub until: Option<String>,
}

/// `query` and `alerts`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "query", "--user", "alice", "--limit", "0"]).unwrap();
/// let Command::Query(a) = cli.command else { panic!("expected query") };
/// assert_eq!((a.filters.user.as_deref(), a.limit), (Some("alice"), 0));
/// ```
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The filters.
    #[command(flatten)]
    pub filters: Filters,
    /// At most this many events (default 50; 0 for all).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `ingest`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "ingest", "events.jsonl", "--strict"]).unwrap();
/// let Command::Ingest(a) = cli.command else { panic!("expected ingest") };
/// assert!(a.strict && a.file.is_some_and(|f| f.ends_with("events.jsonl")));
/// ```
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// JSON Lines file, or `-` for standard input (the default).
    pub file: Option<PathBuf>,
    /// Store nothing unless every line is valid.
    #[arg(long)]
    pub strict: bool,
    /// Restoring an archive: accept the SDK's reserved actions (`audit.*`, `lockout.*`,
    /// `alert.raised`), each marked `details.restored = true` (never retention evidence).
    /// Without it such lines are refused.
    #[arg(long)]
    pub restore: bool,
    /// Consume a NATS JetStream stream instead of a file:
    /// `nats://host:port/STREAM?subject=activity.events&consumer=NAME`. Several
    /// processes with the same consumer share the stream's messages; each event is
    /// stored once. Runs until interrupted (or, with `--drain`, until the stream has
    /// nothing more).
    #[arg(long, value_name = "URL", conflicts_with_all = ["file", "strict", "restore"])]
    pub from: Option<String>,
    /// With `--from`: stop once a batch finds the stream empty.
    #[arg(long, requires = "from")]
    pub drain: bool,
}

/// Export formats.
///
/// ```
/// use activity_sqlx::cli::args::ExportFormat;
/// use clap::ValueEnum;
/// assert_eq!(ExportFormat::from_str("ocsf", false), Ok(ExportFormat::Ocsf));
/// assert!(ExportFormat::from_str("xml", false).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// CSV, spreadsheet-safe.
    Csv,
    /// JSON Lines, schema v1.
    Jsonl,
    /// JSON Lines in OCSF 1.1.0.
    Ocsf,
}

/// `export`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "export", "--format", "ocsf", "--output", "out.jsonl"]).unwrap();
/// let Command::Export(a) = cli.command else { panic!("expected export") };
/// assert_eq!(a.format, activity_sqlx::cli::args::ExportFormat::Ocsf);
/// assert!(a.output.is_some());
/// ```
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The filters.
    #[command(flatten)]
    pub filters: Filters,
    /// Format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Write here instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// `archive`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "archive", "--output", "/srv/a", "--window", "yesterday"]).unwrap();
/// let Command::Archive(a) = cli.command else { panic!("expected archive") };
/// assert_eq!(a.window, Some(activity_sqlx::cli::args::WindowArg::Yesterday));
/// assert!(a.verify.is_none() && a.every.is_none());
/// ```
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ArchiveArgs {
    /// `verify DIR`.
    #[command(subcommand)]
    pub verify: Option<ArchiveVerify>,
    /// Directory to write the archive into (with --every: the directory of the windows).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Window start (RFC 3339 or a duration ago).
    #[arg(long, conflicts_with_all = ["window", "every"])]
    pub since: Option<String>,
    /// Window end, exclusive.
    #[arg(long, conflicts_with_all = ["window", "every"])]
    pub until: Option<String>,
    /// A closed window instead of --since/--until: yesterday or last month (UTC).
    #[arg(long, value_enum, conflicts_with = "every")]
    pub window: Option<WindowArg>,
    /// Archive every closed day or month not yet archived into OUTPUT/DATE/ (for a
    /// daily cron job; never archives a window twice).
    #[arg(long, value_enum)]
    pub every: Option<EveryArg>,
    /// With --every: start from the window holding this time (default: after the newest
    /// archived window, or the last closed one).
    #[arg(long, requires = "every")]
    pub from: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// File format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
}

/// `archive --window`.
///
/// ```
/// use activity_sqlx::cli::args::WindowArg;
/// use clap::ValueEnum;
/// assert_eq!(WindowArg::from_str("last-month", false), Ok(WindowArg::LastMonth));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WindowArg {
    /// The last whole UTC day.
    Yesterday,
    /// The last whole calendar month (UTC).
    LastMonth,
}

/// `archive --every`.
///
/// ```
/// use activity_sqlx::cli::args::EveryArg;
/// use clap::ValueEnum;
/// assert_eq!(EveryArg::from_str("day", false), Ok(EveryArg::Day));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EveryArg {
    /// UTC days.
    Day,
    /// Calendar months.
    Month,
}

/// `archive verify DIR`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "archive", "verify", "/srv/a/2026-11"]).unwrap();
/// let Command::Archive(a) = cli.command else { panic!("expected archive") };
/// assert!(matches!(a.verify, Some(activity_sqlx::cli::args::ArchiveVerify::Verify { .. })));
/// ```
#[derive(Debug, Subcommand)]
pub enum ArchiveVerify {
    /// Check an archive directory against its manifest (and, with `--public-key`, the
    /// manifest's signature).
    Verify {
        /// The archive directory.
        dir: PathBuf,
        /// The signing key's public key file (64 hex digits): the manifest must be signed
        /// by it.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
}

/// `report`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "report", "--since", "30d", "--format", "json"]).unwrap();
/// let Command::Report(a) = cli.command else { panic!("expected report") };
/// assert_eq!((a.since.as_str(), a.format), ("30d", activity_sqlx::cli::args::DocFormat::Json));
/// ```
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Period start.
    #[arg(long)]
    pub since: String,
    /// Period end, exclusive (default now).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Format.
    #[arg(long, value_enum, default_value_t = DocFormat::Html)]
    pub format: DocFormat,
    /// Output file (default standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// `verify`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "verify", "--tenant", "acme", "--archives", "/srv/a"]).unwrap();
/// let Command::Verify(a) = cli.command else { panic!("expected verify") };
/// assert_eq!(a.tenant.as_deref(), Some("acme"));
/// assert!(a.archives.is_some());
/// ```
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this tenant's chains.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Also compare the store's chain heads with those recorded in the archive manifests
    /// in DIR (and its subdirectories): finds a head deleted or rolled back in the database.
    #[arg(long)]
    pub archives: Option<PathBuf>,
    /// Check the store against the signed checkpoints in DIR, with `--public-key` alone
    /// (no chain key needed: without one, nothing is recorded).
    #[arg(long, requires = "public_key")]
    pub checkpoints: Option<PathBuf>,
    /// The checkpoints' public key file (64 hex digits).
    #[arg(long, requires = "checkpoints")]
    pub public_key: Option<PathBuf>,
}

/// Report formats.
///
/// ```
/// use activity_sqlx::cli::args::DocFormat;
/// use clap::ValueEnum;
/// assert_eq!(DocFormat::from_str("html", false), Ok(DocFormat::Html));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    /// JSON.
    Json,
    /// One self-contained HTML page.
    Html,
}

/// `purge`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "purge", "--dry-run"]).unwrap();
/// let Command::Purge(a) = cli.command else { panic!("expected purge") };
/// assert!(a.dry_run && a.now.is_none());
/// ```
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Report what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Judge expiry as of this time instead of now (RFC 3339 or a duration ago).
    #[arg(long)]
    pub now: Option<String>,
    /// Refuse to delete events that no verified archive in DIR (or its subdirectories)
    /// covers (overrides `[retention] require_archive`).
    #[arg(long)]
    pub require_archive: Option<PathBuf>,
    /// After the purge, write a signed checkpoint into DIR (so that the purged start does
    /// not read as a deletion against the previous one).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Also delete expired events a registered sink has not delivered yet (by default
    /// they are kept until it has); how many is printed and recorded on `audit.purged`.
    #[arg(long)]
    pub purge_undelivered: bool,
}

/// `unlock`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "unlock", "alice"]).unwrap();
/// let Command::Unlock(a) = cli.command else { panic!("expected unlock") };
/// assert_eq!((a.account.as_str(), a.tenant), ("alice", None));
/// ```
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The account to unlock.
    pub account: String,
    /// Its tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Who is unlocking (recorded as the actor; default the OS user).
    #[arg(long)]
    pub by: Option<String>,
}

/// `timeline`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "timeline", "--account", "alice", "--pivot", "bob"]).unwrap();
/// let Command::Timeline(a) = cli.command else { panic!("expected timeline") };
/// assert_eq!(a.account.as_deref(), Some("alice"));
/// assert_eq!(a.pivot, vec!["bob".to_string()]);
/// ```
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// Start from an alert (its event id).
    #[arg(long, group = "anchor")]
    pub alert: Option<String>,
    /// Start from an event id.
    #[arg(long, group = "anchor")]
    pub event: Option<String>,
    /// Start from an account.
    #[arg(long, group = "anchor")]
    pub account: Option<String>,
    /// Start from a source IP.
    #[arg(long, group = "anchor")]
    pub ip: Option<String>,
    /// Start from a device id.
    #[arg(long, group = "anchor")]
    pub device: Option<String>,
    /// Centre of the window for --account/--ip/--device (default now).
    #[arg(long)]
    pub at: Option<String>,
    /// Window on each side (default 24h).
    #[arg(long, default_value = "24h")]
    pub window: String,
    /// Also follow these accounts one hop further (repeatable).
    #[arg(long)]
    pub pivot: Vec<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `digest`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command};
/// use clap::Parser;
/// let cli = Cli::try_parse_from(["activity", "digest", "--role", "security"]).unwrap();
/// let Command::Digest(a) = cli.command else { panic!("expected digest") };
/// assert_eq!(a.role, "security");
/// assert!(a.sign_off.is_none());
/// ```
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// administrator, security_analyst or compliance.
    #[arg(long)]
    pub role: String,
    /// Period start (default: one cadence of the role before --until).
    #[arg(long)]
    pub since: Option<String>,
    /// Period end, exclusive (default now).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Format.
    #[arg(long, value_enum, default_value_t = DocFormat::Json)]
    pub format: DocFormat,
    /// Output file (default standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Sign the digest off as reviewed by this person (records audit.reviewed).
    #[arg(long)]
    pub sign_off: Option<String>,
    /// Comment for the sign-off.
    #[arg(long, default_value = "")]
    pub comment: String,
}

/// `policy`.
///
/// ```
/// use activity_sqlx::cli::args::{Cli, Command, PolicyAction};
/// use clap::Parser;
/// let cli = Cli::try_parse_from([
///     "activity", "policy", "test", "--tenant", "acme", "--ip", "1.2.3.4",
///     "--at", "2026-12-03T22:00:00Z",
/// ]).unwrap();
/// let Command::Policy(p) = cli.command else { panic!("expected policy") };
/// let PolicyAction::Test(t) = p.action else { panic!("expected test") };
/// assert_eq!((t.tenant.as_deref(), t.ip.unwrap().to_string()), (Some("acme"), "1.2.3.4".into()));
/// assert!(Cli::try_parse_from(["activity", "policy", "test", "--ip", "1.2.3"]).is_err());
/// assert!(Cli::try_parse_from(["activity", "policy", "set", "p.json", "--clear"]).is_err());
/// ```
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: PolicyAction,
}

/// `policy show|set|test`.
#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Print the policy of a tenant (default: the global one) as JSON.
    Show(PolicyShow),
    /// Replace the policy of a tenant (default: the global one) with the JSON in FILE
    /// (`-`: standard input), or remove it with `--clear`; recorded as
    /// `admin.config.changed`.
    Set(PolicySet),
    /// The decision on a request: exit status 0 when allowed, 3 when denied.
    Test(PolicyTest),
}

/// `policy show`.
#[derive(Debug, Args)]
pub struct PolicyShow {
    /// The tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Every policy, with the version.
    #[arg(long, conflicts_with = "tenant")]
    pub all: bool,
}

/// `policy set`.
#[derive(Debug, Args)]
pub struct PolicySet {
    /// The policy (JSON: `{"rules": [...]}`); `-` reads standard input.
    #[arg(required_unless_present = "clear")]
    pub file: Option<PathBuf>,
    /// Remove the policy instead.
    #[arg(long, conflicts_with = "file")]
    pub clear: bool,
    /// The tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Who is changing it (recorded as the actor; default the OS user).
    #[arg(long)]
    pub by: Option<String>,
}

/// `policy test`.
#[derive(Debug, Args)]
pub struct PolicyTest {
    /// The tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The client address.
    #[arg(long)]
    pub ip: Option<std::net::IpAddr>,
    /// When (RFC 3339, or a duration ago such as `2h`; default now).
    #[arg(long)]
    pub at: Option<String>,
    /// The account (typed identifier or id).
    #[arg(long)]
    pub account: Option<String>,
    /// Its roles (repeatable).
    #[arg(long)]
    pub role: Vec<String>,
    /// The country (ISO code); default: looked up in `[geoip] city` when configured.
    #[arg(long)]
    pub country: Option<String>,
}
