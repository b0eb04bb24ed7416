//! The command line: global options, commands and their arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Migrate, check, inspect and repair a DBOS system database; benchmark it; watch a durable
/// workflow survive a crash.
///
/// Where it connects, first match wins: --url; --app-url (the system database is then
/// `{app_db}_dbos` on the same server); DBOS_SYSTEM_DATABASE_URL; the config file (--config, or
/// dbos-config.yaml in the current directory, with ${VAR} substitution); otherwise the embedded
/// SQLite default, sqlite:///{name}.sqlite in the current directory.
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
    /// The system database URL (sqlite:///file.sqlite, postgresql://…, cockroachdb://…).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub(crate) url: Option<String>,
    /// The application database URL; without --url the system database is derived from it.
    #[arg(
        long,
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
    /// A DBOS config file (default: dbos-config.yaml in the current directory, if present).
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
    #[arg(long, value_name = "ROLE")]
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
    /// Ids starting with this prefix.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) prefix: Option<String>,
    /// Any of these statuses (repeatable): PENDING, ENQUEUED, DELAYED, SUCCESS, ERROR,
    /// CANCELLED, MAX_RECOVERY_ATTEMPTS_EXCEEDED.
    #[arg(long, value_name = "STATUS")]
    pub(crate) status: Vec<String>,
    /// Any of these workflow names (repeatable).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Vec<String>,
    /// Any of these application versions (repeatable).
    #[arg(long, value_name = "VERSION")]
    pub(crate) app_version: Vec<String>,
    /// Any of these executors (repeatable).
    #[arg(long, value_name = "ID")]
    pub(crate) executor: Vec<String>,
    /// Any of these queues (repeatable).
    #[arg(long, value_name = "QUEUE")]
    pub(crate) queue: Vec<String>,
    /// Any of these authenticated users (repeatable).
    #[arg(long, value_name = "USER")]
    pub(crate) user: Vec<String>,
    /// Enqueued by this schedule.
    #[arg(long, value_name = "NAME")]
    pub(crate) schedule: Option<String>,
    /// Forked from this workflow.
    #[arg(long, value_name = "ID")]
    pub(crate) forked_from: Option<String>,
    /// Children of this workflow.
    #[arg(long, value_name = "ID")]
    pub(crate) parent: Option<String>,
    /// Created at or after TIME (RFC 3339; local YYYY-MM-DD, YYYY-MM-DDTHH:MM or
    /// YYYY-MM-DDTHH:MM:SS; or epoch ms).
    #[arg(long, value_name = "TIME")]
    pub(crate) start_time: Option<String>,
    /// Created at or before TIME.
    #[arg(long, value_name = "TIME")]
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
    /// Only this application's workflows plus unclaimed ones.
    #[arg(long, value_name = "NAME")]
    pub(crate) application: Option<String>,
    /// Only queued workflows (DELAYED, ENQUEUED, PENDING unless --status says otherwise).
    #[arg(long)]
    pub(crate) queues_only: bool,
    /// At most this many rows.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub(crate) limit: u64,
    /// Skip this many rows.
    #[arg(long, value_name = "N")]
    pub(crate) offset: Option<u64>,
    /// Order by creation time.
    #[arg(long, value_enum, default_value_t = Sort::Desc)]
    pub(crate) sort: Sort,
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
    /// Workflows per measured operation.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub(crate) workflows: usize,
    /// Concurrent tasks of the concurrent workflow run (and PostgreSQL raw connections).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub(crate) concurrency: usize,
    /// Steps of each full workflow.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub(crate) steps: u32,
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
