//! The command line: global options, commands and their arguments (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::values::{age, cron_expression, time_zone};

/// Migrate, check, inspect and repair a DBOS system database; benchmark it; watch a durable
/// workflow survive a crash.
///
/// Where it connects, first match wins: --url; --app-url (the system database is then
/// `{app_db}_dbos` on the same server); DBOS_SYSTEM_DATABASE_URL; the config file (--config, or
/// dbos-config.yaml in the current directory, which is not read when --url or --app-url is
/// given; DBOS's own format, with ${VAR} substitution); otherwise the embedded SQLite default,
/// sqlite:///{name}.sqlite in the current directory.
///
/// Options also answer to the names of DBOS's own `dbos` command (--sys-db-url/-s, --db-url/-D,
/// --limit/-l, …), shown as aliases.
#[derive(Debug, Parser)]
#[command(name = "dbos-storage", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// The system database URL (sqlite:///file.sqlite, postgresql://…, cockroachdb://…; a
    /// SQLAlchemy driver suffix such as postgresql+psycopg:// is accepted).
    #[arg(
        long,
        visible_alias = "sys-db-url",
        visible_short_alias = 's',
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub(crate) url: Option<String>,
    /// The application database URL; without --url the system database is derived from it.
    #[arg(
        long,
        visible_alias = "db-url",
        visible_short_alias = 'D',
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub(crate) app_url: Option<String>,
    /// The schema of the system tables (PostgreSQL and CockroachDB; default dbos).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub(crate) schema: Option<String>,
    /// A DBOS config file (default: dbos-config.yaml in the current directory, if present and
    /// neither --url nor --app-url is given).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub(crate) config: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) json: bool,
    /// Log more on stderr: -v info, -vv debug, -vvv trace (default: warnings). RUST_LOG, when
    /// set, replaces these levels.
    #[arg(
        short,
        long,
        global = true,
        action = ArgAction::Count,
        help_heading = "Global options"
    )]
    pub(crate) verbose: u8,
    /// Log nothing (errors still print as `error: …`).
    #[arg(
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Global options"
    )]
    pub(crate) quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or upgrade the system database schema.
    Migrate(MigrateArgs),
    /// Check the connection, TLS, server, dialect, schema version and pool settings.
    Check,
    /// Inspect and manage workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Inspect queues.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Manage named cron schedules.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Delete finished workflows older than a cutoff or beyond a count, in bounded batches,
    /// then orphaned rows (and, with --app-url, their recorded transactions). One collector runs
    /// at a time per database.
    Gc(GcArgs),
    /// Write workflows with their steps, events, history and streams as a JSON document.
    Export(ExportArgs),
    /// Read a document written by `export` into this database.
    Import(ImportArgs),
    /// Workflow counts per name and status and step counts per function, over a time range.
    Metrics(MetricsArgs),
    /// Manage applications' ownership of rows.
    #[command(subcommand)]
    App(AppCommand),
    /// Measure the core operations next to the raw database doing the same writes.
    Bench(BenchArgs),
    /// Run durable workflows, kill their worker mid-run, recover them, and show that no
    /// completed step ran twice (embedded SQLite, no setup).
    Demo(DemoArgs),
    /// The demo's worker process (started by `demo`).
    #[command(hide = true)]
    DemoWorker(DemoWorkerArgs),
}

/// `migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// PostgreSQL: then grant this role the use of the system schema (schema usage, table
    /// reads and writes, sequences, functions), as `dbos migrate --app-role` does.
    #[arg(long, visible_short_alias = 'r', value_name = "ROLE")]
    pub(crate) app_role: Option<String>,
}

/// `workflow …`.
#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowCommand {
    /// List workflows (newest first), with every filter of list_workflows.
    List(Box<ListArgs>),
    /// Show one workflow with its inputs, output and error.
    Get {
        /// The workflow id.
        id: String,
    },
    /// List a workflow's steps with their outputs.
    Steps {
        /// The workflow id.
        id: String,
    },
    /// List every message sent to a workflow, consumed or not, in send order (topic, message,
    /// when it was sent, which recv step consumed it).
    Notifications {
        /// The workflow id.
        id: String,
    },
    /// Cancel workflows (any status but SUCCESS and ERROR becomes CANCELLED).
    Cancel {
        /// The workflow ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Also cancel their child workflows, recursively.
        #[arg(long)]
        children: bool,
    },
    /// Resume workflows: any status but SUCCESS and ERROR is enqueued again.
    Resume {
        /// The workflow ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// The queue to enqueue them on (default: the internal queue).
        #[arg(long, value_name = "QUEUE")]
        queue: Option<String>,
    },
    /// Fork workflows: each fork replays the steps before the start step and runs the rest
    /// again, as a new enqueued workflow.
    Fork(ForkArgs),
    /// Rewind a finished workflow in place (same id) to run again from a step.
    Rewind(RewindArgs),
    /// Delete workflows with all their rows (and, with --app-url, their recorded
    /// transactions). Running workflows are deleted too.
    Delete {
        /// The workflow ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Also delete their child workflows, recursively.
        #[arg(long)]
        children: bool,
    },
    /// Replace or merge a workflow's attributes.
    Attributes {
        /// The workflow id.
        id: String,
        /// An attribute, KEY=VALUE (VALUE as JSON, else as a string; repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", required = true)]
        set: Vec<String>,
        /// Keep the other attributes (default: replace the whole map).
        #[arg(long)]
        merge: bool,
    },
}

/// Where a fork or rewind starts (at most one; default step 1).
#[derive(Debug, Args)]
#[group(multiple = false)]
pub(crate) struct StartArgs {
    /// Run again from step N (steps before N are replayed).
    #[arg(
        long,
        visible_alias = "step",
        visible_short_alias = 'S',
        value_name = "N"
    )]
    pub(crate) from_step: Option<i32>,
    /// Run again from the last step that failed.
    #[arg(long)]
    pub(crate) from_failure: bool,
    /// Run again from the first step with this name.
    #[arg(long, value_name = "NAME")]
    pub(crate) from_step_named: Option<String>,
}

/// `workflow fork`.
#[derive(Debug, Args)]
pub(crate) struct ForkArgs {
    /// The workflows to fork (all or none are forked).
    #[arg(required = true)]
    pub(crate) ids: Vec<String>,
    #[command(flatten)]
    pub(crate) start: StartArgs,
    /// The fork's id (one source only; default: a new UUID).
    #[arg(
        long,
        visible_alias = "forked-workflow-id",
        visible_short_alias = 'f',
        value_name = "ID"
    )]
    pub(crate) fork_id: Option<String>,
    /// The queue to enqueue the forks on (default: the internal queue).
    #[arg(long, value_name = "QUEUE")]
    pub(crate) queue: Option<String>,
    /// The forks' partition key.
    #[arg(long, value_name = "KEY")]
    pub(crate) partition: Option<String>,
    /// The application version that must run the forks (default: the source's).
    #[arg(long, visible_alias = "application-version", value_name = "VERSION")]
    pub(crate) app_version: Option<String>,
    /// Rewrite a child workflow id in the copied steps, OLD=NEW (repeatable).
    #[arg(long, value_name = "OLD=NEW")]
    pub(crate) replace_child: Vec<String>,
    /// The forks' application when the source is unclaimed.
    #[arg(long, value_name = "NAME")]
    pub(crate) application: Option<String>,
}

/// `workflow rewind`.
#[derive(Debug, Args)]
pub(crate) struct RewindArgs {
    /// The finished workflow.
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) start: StartArgs,
    /// The queue to enqueue it on (default: the internal queue).
    #[arg(long, value_name = "QUEUE")]
    pub(crate) queue: Option<String>,
    /// Its partition key.
    #[arg(long, value_name = "KEY")]
    pub(crate) partition: Option<String>,
    /// The application version that must run it (default: unchanged).
    #[arg(long, value_name = "VERSION")]
    pub(crate) app_version: Option<String>,
}

/// `schedule …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// List schedules by name.
    List {
        /// Only ACTIVE or PAUSED schedules.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Only schedules of this workflow.
        #[arg(long, value_name = "NAME")]
        workflow: Option<String>,
        /// Names starting with this prefix.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// Only this application's schedules plus unclaimed ones.
        #[arg(long, value_name = "NAME")]
        application: Option<String>,
    },
    /// Show one schedule.
    Get {
        /// The schedule name.
        name: String,
    },
    /// Create a schedule (or, with --upsert, update its definition).
    Create(ScheduleArgs),
    /// Stop a schedule from firing.
    Pause {
        /// The schedule name.
        name: String,
    },
    /// Let a paused schedule fire again.
    Resume {
        /// The schedule name.
        name: String,
    },
    /// Delete a schedule.
    Delete {
        /// The schedule name.
        name: String,
    },
}

/// `schedule create`.
#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    /// The schedule name (global).
    pub(crate) name: String,
    /// The workflow function it starts.
    #[arg(long, value_name = "NAME")]
    pub(crate) workflow: String,
    /// The cron expression, checked as DBOS does: 5 fields (minute hour day-of-month month
    /// day-of-week), or 6 with seconds first, or @hourly, @daily, ….
    #[arg(long, value_name = "EXPR", value_parser = cron_expression)]
    pub(crate) cron: String,
    /// The context passed to each run, serialized as the application does (default: null).
    #[arg(long, value_name = "TEXT", default_value = "null")]
    pub(crate) context: String,
    /// The workflow's class.
    #[arg(long, value_name = "NAME")]
    pub(crate) class: Option<String>,
    /// The queue its runs go to (default: the internal queue).
    #[arg(long, value_name = "QUEUE")]
    pub(crate) queue: Option<String>,
    /// The IANA time zone of the cron expression (Europe/Paris, America/New_York, UTC).
    #[arg(long, value_name = "ZONE", value_parser = time_zone)]
    pub(crate) timezone: Option<String>,
    /// Backfill missed firings.
    #[arg(long)]
    pub(crate) backfill: bool,
    /// The owning application.
    #[arg(long, value_name = "NAME")]
    pub(crate) application: Option<String>,
    /// Update the definition if the schedule exists (keeping its status and history).
    #[arg(long)]
    pub(crate) upsert: bool,
}

/// `gc`.
#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Delete workflows that finished more than this long ago (e.g. 30d, 12h, 90m, 1h30m).
    #[arg(long, value_name = "AGE", value_parser = age)]
    pub(crate) older_than: Option<Duration>,
    /// Delete workflows that finished before TIME.
    #[arg(long, value_name = "TIME", conflicts_with = "older_than")]
    pub(crate) before: Option<String>,
    /// Keep at most the newest N workflows.
    #[arg(long, value_name = "N")]
    pub(crate) keep: Option<u64>,
    /// Workflows per transaction at most (each batch holds its rows' locks until it commits).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub(crate) batch_size: u32,
    /// How long one batch's transaction should take at most: after a slower one the next batch
    /// is half as big (down to one workflow, unless halving did not cut the time by a
    /// quarter), after one under half of it twice as big (up to --batch-size). 0s keeps every
    /// batch at --batch-size.
    #[arg(long, default_value = "50ms", value_name = "AGE", value_parser = age)]
    pub(crate) batch_time: Duration,
    /// How long the collector's lease lasts between batches.
    #[arg(long, default_value = "60s", value_name = "AGE", value_parser = age)]
    pub(crate) lease_ttl: Duration,
    /// The lease token of a collector that was killed, to resume at once.
    #[arg(long, value_name = "TOKEN")]
    pub(crate) holder: Option<String>,
    /// With --app-url: also delete recorded transactions whose workflow no longer exists. Only
    /// when the application database serves this system database alone.
    #[arg(long)]
    pub(crate) sweep_app_orphans: bool,
}

/// `export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The workflows to export.
    #[arg(required = true)]
    pub(crate) ids: Vec<String>,
    /// Also export their child workflows, recursively.
    #[arg(long)]
    pub(crate) children: bool,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// `import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The document (`-` for stdin).
    pub(crate) file: PathBuf,
    /// Replace workflows that exist already.
    #[arg(long)]
    pub(crate) replace: bool,
}

/// `metrics`.
#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    /// Start of the range (default: 24 hours ago).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// End of the range (default: now).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
    /// Bucket width (e.g. 1h, 15m; default: one bucket).
    #[arg(long, value_name = "AGE", value_parser = age)]
    pub(crate) bucket: Option<Duration>,
    /// Only this application's rows plus unclaimed ones.
    #[arg(long, value_name = "NAME")]
    pub(crate) application: Option<String>,
}

/// `app …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AppCommand {
    /// Move an application's queues, schedules, versions, workflows and steps to a new name.
    /// The application must be stopped.
    Rename {
        /// The current name.
        #[arg(
            long,
            visible_short_alias = 'f',
            value_name = "NAME",
            required_unless_present = "unclaimed"
        )]
        from: Option<String>,
        /// Move the unclaimed rows (application NULL) instead.
        #[arg(long, conflicts_with = "from")]
        unclaimed: bool,
        /// The new name.
        #[arg(long, visible_short_alias = 't', value_name = "NAME")]
        to: String,
        /// Also claim unclaimed rows for the new name.
        #[arg(long, visible_alias = "adopt-unclaimed-rows")]
        adopt_unclaimed: bool,
        /// Finished workflows and steps per transaction.
        #[arg(long, default_value_t = 10_000, value_name = "N")]
        batch_size: u32,
    },
}

/// Sort order of `workflow list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Sort {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// `workflow list`: one option per filter of `ListWorkflowsQuery`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only these ids (repeatable).
    #[arg(long = "id", value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// Ids starting with any of these prefixes (repeatable; `%` and `_` match literally).
    #[arg(long, value_name = "PREFIX")]
    pub(crate) prefix: Vec<String>,
    /// Any of these statuses (repeatable): PENDING, ENQUEUED, DELAYED, SUCCESS, ERROR,
    /// CANCELLED, MAX_RECOVERY_ATTEMPTS_EXCEEDED.
    #[arg(long, visible_short_alias = 'S', value_name = "STATUS")]
    pub(crate) status: Vec<String>,
    /// Any of these workflow names (repeatable).
    #[arg(long, visible_short_alias = 'n', value_name = "NAME")]
    pub(crate) name: Vec<String>,
    /// Any of these application versions (repeatable).
    #[arg(long, visible_alias = "application-version", value_name = "VERSION")]
    pub(crate) app_version: Vec<String>,
    /// Any of these executors (repeatable).
    #[arg(long, value_name = "ID")]
    pub(crate) executor: Vec<String>,
    /// Any of these queues (repeatable).
    #[arg(
        long,
        visible_alias = "queue-name",
        visible_short_alias = 'q',
        value_name = "QUEUE"
    )]
    pub(crate) queue: Vec<String>,
    /// Any of these authenticated users (repeatable).
    #[arg(long, visible_short_alias = 'u', value_name = "USER")]
    pub(crate) user: Vec<String>,
    /// Enqueued by any of these schedules (repeatable).
    #[arg(long, value_name = "NAME")]
    pub(crate) schedule: Vec<String>,
    /// Forked from any of these workflows (repeatable).
    #[arg(long, value_name = "ID")]
    pub(crate) forked_from: Vec<String>,
    /// Children of any of these workflows (repeatable).
    #[arg(long, value_name = "ID")]
    pub(crate) parent: Vec<String>,
    /// Created at or after TIME (RFC 3339; local YYYY-MM-DD, YYYY-MM-DDTHH:MM or
    /// YYYY-MM-DDTHH:MM:SS; or epoch ms).
    #[arg(long, visible_short_alias = 't', value_name = "TIME")]
    pub(crate) start_time: Option<String>,
    /// Created at or before TIME.
    #[arg(long, visible_short_alias = 'e', value_name = "TIME")]
    pub(crate) end_time: Option<String>,
    /// Completed at or after TIME.
    #[arg(long, value_name = "TIME")]
    pub(crate) completed_after: Option<String>,
    /// Completed at or before TIME.
    #[arg(long, value_name = "TIME")]
    pub(crate) completed_before: Option<String>,
    /// Dequeued at or after TIME.
    #[arg(long, value_name = "TIME")]
    pub(crate) dequeued_after: Option<String>,
    /// Dequeued at or before TIME.
    #[arg(long, value_name = "TIME")]
    pub(crate) dequeued_before: Option<String>,
    /// Whether a fork was made from it.
    #[arg(long, value_name = "BOOL")]
    pub(crate) was_forked_from: Option<bool>,
    /// Whether it is a fork.
    #[arg(long, value_name = "BOOL")]
    pub(crate) is_fork: Option<bool>,
    /// Whether it has a parent.
    #[arg(long, value_name = "BOOL")]
    pub(crate) has_parent: Option<bool>,
    /// Attribute containment, KEY=VALUE (VALUE as JSON, else as a string; repeatable;
    /// PostgreSQL and CockroachDB only).
    #[arg(long = "attribute", value_name = "KEY=VALUE")]
    pub(crate) attributes: Vec<String>,
    /// Only these applications' workflows plus unclaimed ones (repeatable).
    #[arg(
        long,
        visible_alias = "application-name",
        visible_short_alias = 'a',
        value_name = "NAME"
    )]
    pub(crate) application: Vec<String>,
    /// Only queued workflows (DELAYED, ENQUEUED, PENDING unless --status says otherwise).
    #[arg(long)]
    pub(crate) queues_only: bool,
    /// At most this many rows.
    #[arg(
        long,
        visible_short_alias = 'l',
        default_value_t = 100,
        value_name = "N"
    )]
    pub(crate) limit: u64,
    /// Skip this many rows.
    #[arg(long, visible_short_alias = 'o', value_name = "N")]
    pub(crate) offset: Option<u64>,
    /// Order by creation time.
    #[arg(long, value_enum, default_value_t = Sort::Desc)]
    pub(crate) sort: Sort,
    /// Newest first: the same as --sort desc (DBOS's spelling).
    #[arg(long, short = 'd', conflicts_with = "sort")]
    pub(crate) sort_desc: bool,
    /// Load inputs (shown with --json).
    #[arg(long)]
    pub(crate) load_input: bool,
    /// Load outputs and errors (shown with --json).
    #[arg(long)]
    pub(crate) load_output: bool,
}

/// `queue …`.
#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// List queues: registered definitions and queues with active workflows, with counts.
    List {
        /// Only this application's queues plus unclaimed ones.
        #[arg(long, value_name = "NAME")]
        application: Option<String>,
    },
}

/// `bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Workflows per workflow measurement (insert, ten-step one at a time and at once).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub(crate) workflows: usize,
    /// Concurrent writers, workflows, claim workers and PostgreSQL raw connections.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub(crate) concurrency: usize,
    /// Steps of each full workflow (recovery kills its workflows halfway).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub(crate) steps: u32,
    /// Step checkpoints (record_step calls) per step-checkpoint measurement.
    #[arg(long, default_value_t = 10000, value_name = "N")]
    pub(crate) checkpoints: usize,
    /// Workflows enqueued and claimed by the dequeue measurement.
    #[arg(long, default_value_t = 5000, value_name = "N")]
    pub(crate) claims: usize,
    /// The most workflows one claim takes (dequeue and recovery).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub(crate) claim_batch: u32,
    /// Workflows killed halfway and recovered by the recovery measurement.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub(crate) recovery: usize,
    /// Concurrent waits (recv, get_event, await_workflow_result) of the memory measurement.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub(crate) waits: usize,
    /// Print the figures as a Markdown table with the command line and the machine.
    #[arg(long)]
    pub(crate) markdown: bool,
    /// Also measure every store operation on a big database (the scratch database filled with
    /// `--scale-finished` finished workflows, a fifth as many queued across ten queues and a
    /// thousandth as many running parents) next to the same operation on the empty one.
    #[arg(long)]
    pub(crate) scale: bool,
    /// Finished workflows of the big database of `--scale`.
    #[arg(
        long,
        default_value_t = 1_000_000,
        value_name = "N",
        requires = "scale"
    )]
    pub(crate) scale_finished: usize,
    /// How long `--scale` runs one worker per queue on the big database to measure fairness
    /// (the same workers then claim while the finished workflows are garbage collected).
    #[arg(long, default_value_t = 60, value_name = "SECONDS", requires = "scale")]
    pub(crate) fair_seconds: u64,
}

/// `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How many workflows to run (1–9).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub(crate) workflows: u32,
    /// Keep the demo's temporary directory (database and side-effect log) instead of removing
    /// it.
    #[arg(long)]
    pub(crate) keep: bool,
}

/// `demo-worker` (hidden).
#[derive(Debug, Args)]
pub(crate) struct DemoWorkerArgs {
    /// The side-effect log to append to.
    #[arg(long)]
    pub(crate) log: PathBuf,
    /// Recover the dead worker's workflows instead of starting them.
    #[arg(long)]
    pub(crate) recover: bool,
    /// The workflows to start.
    pub(crate) ids: Vec<String>,
}
