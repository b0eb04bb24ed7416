//! The fault-injection campaign: real faults against the real drivers,
//! each scenario checked for lost and duplicated work.
//!
//! | scenario | backends | fault |
//! |---|---|---|
//! | [`server_crash`] | PostgreSQL, CockroachDB dialect | the server stopped with `pg_ctl stop -m immediate` in the middle of a concurrent workload, then started again |
//! | [`killed_connections`] | PostgreSQL, CockroachDB dialect | `pg_terminate_backend` at random moments (inside transactions too), and connections killed right after their `COMMIT` applied |
//! | [`killed_worker`] | SQLite, PostgreSQL, CockroachDB dialect | a worker process SIGKILLed mid-workflow, twice, then recovery in a new process |
//! | [`concurrent_executors`] | SQLite, PostgreSQL, CockroachDB dialect | several executor processes claiming from one queue under a global and a per-worker concurrency limit |
//!
//! The CockroachDB dialect ([`Backend::Cockroach`]) is the CockroachDB driver's store
//! (`CockroachStore`: the PostgreSQL driver in the CockroachDB dialect inside its retry wrapper)
//! on the PostgreSQL server in CockroachDB-compatible mode — SERIALIZABLE sessions, no
//! LISTEN/NOTIFY, the CockroachDB migrations — as the driver's own tests run it. A connection
//! lost during `COMMIT` is an ambiguous commit there (CockroachDB's `40003`), which the store
//! re-runs only for idempotent operations; a claim whose commit was ambiguous is recovered by
//! the drain like any claim of unknown outcome.
//!
//! The first two run a concurrent, in-process workload (`ledger`): tasks start workflows,
//! enqueue and claim them, checkpoint steps, record outcomes and send messages, writing down
//! every operation that returned success. After the faults every workflow is driven to
//! completion (orphaned claims are recovered as DBOS recovers them) and the database is read
//! back: every acknowledged operation must be there, no step that was acknowledged may have run
//! again, no step may have been recorded by a second attempt, and no workflow may have been
//! claimed twice. Calls made while the server was away must fail with a connection-class error
//! naming its cause, and must return (a call still running after [`StoreSettings::hang_bound`]
//! counts as hung).
//!
//! The last two run real OS processes of the `dbos-campaign` binary (its hidden `worker` and
//! `executor` modes); the caller passes the binary's path ([`Campaign::exe`]).
//!
//! Each scenario returns a [`CampaignReport`]; [`CampaignReport::assert_clean`] fails on any
//! loss, duplicate, limit violation, unfinished workflow, hung call or misclassified error, and
//! [`markdown_table`] renders reports as the README's reliability table. `cargo run -p
//! dbos-storage-testkit --bin dbos-campaign -- report` runs the whole
//! campaign and prints that table.

mod crash;
mod executors;
mod kills;
mod ledger;
mod worker;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_cockroach::{CockroachConfig, COMPATIBLE_MODE_SETTING};
use dbos_storage_core::{
    Backoff, DatabaseUrl, DbosConfig, Error, ErrorKind, LifecycleStore, MessageStore, Result,
    RetryPolicy, RetryingStore, SystemStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

pub use crash::server_crash;
pub use executors::{concurrent_executors, run_executor, ExecutorArgs};
pub use kills::killed_connections;
pub use worker::{killed_worker, run_worker, WorkerArgs};

/// A store the campaign drives: the system store and its messages.
pub trait CampaignStore: SystemStore + MessageStore {}

impl<T: SystemStore + MessageStore + ?Sized> CampaignStore for T {}

/// The backends of the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
    /// The CockroachDB driver (its dialect: SERIALIZABLE, no LISTEN/NOTIFY, the CockroachDB
    /// migrations, the driver's retry wrapper) on the PostgreSQL server in
    /// CockroachDB-compatible mode, as the driver's own tests run it. Its stores are opened
    /// from `cockroachdb://` URLs ([`Backend::store_url`]).
    Cockroach,
}

impl Backend {
    /// Whether the backend runs on a PostgreSQL server (of the test harness, [`crate::pg`]).
    pub fn is_server(self) -> bool {
        matches!(self, Backend::Postgres | Backend::Cockroach)
    }

    /// The URL the campaign opens this backend's store with, given the `postgresql://` URL of
    /// its database on the test server: the same URL for PostgreSQL, a `cockroachdb://` URL
    /// naming the same server, port and database for the CockroachDB dialect.
    ///
    /// # Panics
    /// For [`Backend::Sqlite`], or a URL that is not `postgresql://` / `postgres://`.
    pub fn store_url(self, pg_url: &str) -> String {
        let rest = pg_url
            .strip_prefix("postgresql://")
            .or_else(|| pg_url.strip_prefix("postgres://"))
            .unwrap_or_else(|| panic!("not a PostgreSQL URL: {pg_url}"));
        match self {
            Backend::Postgres => pg_url.to_owned(),
            Backend::Cockroach => format!("cockroachdb://{rest}"),
            Backend::Sqlite => panic!("SQLite has no server URL"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Cockroach => "CockroachDB dialect (on PostgreSQL)",
        })
    }
}

/// How big a campaign run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Size {
    /// Small enough for CI on two cores (the whole campaign in about a minute).
    Ci,
    /// About four times as much work per scenario, for the README's figures.
    Full,
}

impl Size {
    /// `n` for [`Size::Ci`], `4 n` for [`Size::Full`].
    fn scale(self, n: usize) -> usize {
        match self {
            Size::Ci => n,
            Size::Full => 4 * n,
        }
    }
}

/// What every scenario needs: the size, and the `dbos-campaign` binary to run worker and
/// executor processes from.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// The `dbos-campaign` binary (in its tests: `env!("CARGO_BIN_EXE_dbos-campaign")`; in
    /// the binary itself: `std::env::current_exe()`).
    pub exe: PathBuf,
    /// How much work each scenario does.
    pub size: Size,
}

impl Campaign {
    /// A campaign of `size` running child processes from `exe`.
    pub fn new(exe: impl Into<PathBuf>, size: Size) -> Self {
        Campaign {
            exe: exe.into(),
            size,
        }
    }
}

/// The figures of one scenario on one backend.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CampaignReport {
    /// The scenario (`server crash`, `killed connections`, …).
    pub scenario: String,
    /// The backend.
    pub backend: String,
    /// Operations that returned success to their caller (workflow starts and enqueues, step
    /// checkpoints, outcomes, claimed workflows, messages).
    pub acknowledged: u64,
    /// Acknowledged operations found in the database afterwards.
    pub found: u64,
    /// Acknowledged operations missing afterwards: `acknowledged - found`.
    pub lost: u64,
    /// Step executions after the step's checkpoint had been acknowledged (or, for worker
    /// processes, after the execution that was checkpointed).
    pub duplicate_step_executions: u64,
    /// Acknowledged checkpoints replaced by another attempt's record.
    pub duplicate_step_records: u64,
    /// Workflows claimed by two claims (returned twice, or with more claims counted in the
    /// database than were made).
    pub duplicate_claims: u64,
    /// Samples or intervals in which a concurrency limit was exceeded.
    pub limit_violations: u64,
    /// Workflows not finished (`SUCCESS`) at the end.
    pub unfinished: u64,
    /// Calls that did not return within the hang bound.
    pub hung_calls: u64,
    /// Errors returned to callers, by kind (after the store's own retries).
    pub errors: BTreeMap<String, u64>,
    /// Errors of a kind that must not occur in the scenario (with their messages).
    pub unexpected_errors: Vec<String>,
    /// The faults injected, in words (`2 crashes`, `312 backends terminated`, …).
    pub faults: Vec<String>,
    /// After a restart of the server, how long until the same store served a request again
    /// (the longest over the restarts).
    pub serve_again: Option<Duration>,
    /// Other figures worth reading (the slowest failed call, the highest concurrency seen, …).
    pub notes: Vec<String>,
    /// The first concrete problems found (which workflow or step), for the failure message.
    pub problems: Vec<String>,
    /// Wall time of the scenario.
    pub elapsed: Duration,
}

impl CampaignReport {
    fn new(scenario: &str, backend: Backend) -> Self {
        CampaignReport {
            scenario: scenario.to_owned(),
            backend: backend.to_string(),
            ..CampaignReport::default()
        }
    }

    /// Whether the scenario found nothing wrong: nothing lost, duplicated, exceeded, left
    /// unfinished or hung, no unexpected error, and something was acknowledged at all.
    pub fn is_clean(&self) -> bool {
        self.acknowledged > 0
            && self.found == self.acknowledged
            && self.lost == 0
            && self.duplicate_step_executions == 0
            && self.duplicate_step_records == 0
            && self.duplicate_claims == 0
            && self.limit_violations == 0
            && self.unfinished == 0
            && self.hung_calls == 0
            && self.unexpected_errors.is_empty()
            && self.problems.is_empty()
    }

    /// Panics, printing the whole report, unless [`CampaignReport::is_clean`].
    ///
    /// # Panics
    /// When the report is not clean.
    pub fn assert_clean(&self) {
        assert!(self.is_clean(), "the campaign found a problem:\n{self}");
    }

    /// Counts an error returned to a caller.
    fn count_error(&mut self, kind: &str, n: u64) {
        *self.errors.entry(kind.to_owned()).or_default() += n;
    }

    /// Notes a concrete problem (the first 20 are kept).
    fn problem(&mut self, text: impl Into<String>) {
        if self.problems.len() < 20 {
            self.problems.push(text.into());
        }
    }

    /// The errors by kind as `kind n, kind n` (`none` when there were none).
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        self.errors
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for CampaignReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} on {} ({:.1} s): {} acknowledged, {} found afterwards, {} lost; duplicate step \
             executions {}, duplicate step records {}, duplicate claims {}, limit violations {}, \
             unfinished workflows {}, hung calls {}",
            self.scenario,
            self.backend,
            self.elapsed.as_secs_f64(),
            self.acknowledged,
            self.found,
            self.lost,
            self.duplicate_step_executions,
            self.duplicate_step_records,
            self.duplicate_claims,
            self.limit_violations,
            self.unfinished,
            self.hung_calls
        )?;
        writeln!(f, "  faults: {}", self.faults.join("; "))?;
        writeln!(f, "  errors returned to callers: {}", self.errors_text())?;
        if let Some(d) = self.serve_again {
            writeln!(
                f,
                "  served again {:.2} s after the server's return",
                d.as_secs_f64()
            )?;
        }
        for note in &self.notes {
            writeln!(f, "  {note}")?;
        }
        for error in &self.unexpected_errors {
            writeln!(f, "  UNEXPECTED ERROR: {error}")?;
        }
        for problem in &self.problems {
            writeln!(f, "  PROBLEM: {problem}")?;
        }
        Ok(())
    }
}

/// The reports as the README's markdown table: one row per scenario and backend.
pub fn markdown_table(reports: &[CampaignReport]) -> String {
    let mut out = String::from(
        "| scenario | backend | faults injected | operations acknowledged | found afterwards | \
         lost | duplicate step executions / records | duplicate claims | concurrency-limit \
         violations | errors returned to callers, by kind | served again after restart |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let serve = r
            .serve_again
            .map_or_else(|| "—".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.backend,
            r.faults.join("; "),
            r.acknowledged,
            r.found,
            r.lost,
            r.duplicate_step_executions,
            r.duplicate_step_records,
            r.duplicate_claims,
            r.limit_violations,
            r.errors_text(),
            serve
        ));
    }
    out
}

/// How the campaign's stores are opened: pool, timeouts and the retry policy around them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreSettings {
    /// PostgreSQL pool size.
    pub pool_size: u32,
    /// How long a PostgreSQL pool checkout waits.
    pub pool_timeout: Duration,
    /// How long opening a PostgreSQL connection may take.
    pub connect_timeout: Duration,
    /// The PostgreSQL `application_name` of the store's sessions (how the connection killer
    /// finds them).
    pub application_name: String,
    /// The retry policy of the [`RetryingStore`] around the driver.
    pub retry: RetryPolicy,
}

impl Default for StoreSettings {
    /// Pool of 8, 1 s pool timeout, 2 s connect timeout, [`campaign_policy`].
    fn default() -> Self {
        StoreSettings {
            pool_size: 8,
            pool_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
            application_name: "dbos_campaign".into(),
            retry: campaign_policy(),
        }
    }
}

impl StoreSettings {
    /// The longest a call may take by configuration: the retry loop's time bound plus one more
    /// attempt, which may wait for a pool checkout and a connection.
    pub fn configured_bound(&self) -> Duration {
        self.retry.max_elapsed + self.pool_timeout + self.connect_timeout
    }

    /// The bound after which a call counts as hung: four times
    /// [`StoreSettings::configured_bound`], at least 30 s. Generous on purpose: it catches a call
    /// that never returns, it does not measure speed.
    pub fn hang_bound(&self) -> Duration {
        (self.configured_bound() * 4).max(Duration::from_secs(30))
    }
}

/// The campaign's retry policy: short, so that calls made while the server is away fail
/// (within seconds) instead of outlasting the outage. Conflicts 5 ms → 200 ms for 40 attempts;
/// connection loss and pool exhaustion 50 ms → 500 ms for 8 attempts; ambiguous commits of
/// idempotent operations 20 ms → 200 ms for 5 attempts; the whole loop at most 3 s.
pub fn campaign_policy() -> RetryPolicy {
    let mut policy = RetryPolicy::default()
        .conflict(Backoff::new(
            Duration::from_millis(5),
            Duration::from_millis(200),
            2.0,
            40,
        ))
        .connection(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(500),
            2.0,
            8,
        ))
        .max_elapsed(Duration::from_secs(3));
    policy.ambiguous = Backoff::new(
        Duration::from_millis(20),
        Duration::from_millis(200),
        2.0,
        5,
    );
    policy
}

/// Opens, migrates and wraps in a [`RetryingStore`] the store at `url`: `sqlite:///…` (the
/// SQLite driver), `postgresql://…` / `postgres://…` (the PostgreSQL driver, in the
/// default `dbos` schema, with the pool and timeouts of `settings`) or `cockroachdb://…` /
/// `cockroach://…` (the CockroachDB driver's `CockroachStore`, with the same settings, on a
/// PostgreSQL database this marks CockroachDB-compatible: the campaign runs the dialect in
/// CockroachDB-compatible mode).
///
/// # Errors
/// The driver's error when the store cannot be opened or migrated;
/// [`InvalidConfig`](ErrorKind::InvalidConfig) for another scheme.
pub async fn open_store(url: &str, settings: &StoreSettings) -> Result<Arc<dyn CampaignStore>> {
    let parsed = DatabaseUrl::parse(url)?;
    match parsed.scheme() {
        "sqlite" => {
            let store = SqliteStore::open(SqliteConfig::from_url(&parsed)?).await?;
            store.migrate().await?;
            Ok(Arc::new(RetryingStore::new(
                Arc::new(store),
                settings.retry,
            )))
        }
        "postgres" | "postgresql" => {
            let config = PostgresConfig::system(&dbos_config(settings), &parsed)?;
            let store = PostgresStore::open(config).await?;
            store.migrate().await?;
            Ok(Arc::new(RetryingStore::new(
                Arc::new(store),
                settings.retry,
            )))
        }
        "cockroachdb" | "cockroach" => {
            mark_cockroach_compatible(url, &parsed).await?;
            let config = CockroachConfig::system(&dbos_config(settings), &parsed)?
                .with_retry_policy(settings.retry);
            let store = dbos_storage_cockroach::open_system(config).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        other => Err(Error::invalid_config(format!(
            "the campaign runs on sqlite, postgresql and cockroachdb URLs, not {other:?}"
        ))),
    }
}

/// The advisory lock that serializes [`mark_cockroach_compatible`] across processes: executor
/// processes started together mark the same database, and two `ALTER DATABASE … SET` of one
/// database at once fail with "tuple concurrently updated".
const MARK_LOCK: i64 = 0x6462_6f73_6d61_726b;

/// Marks the PostgreSQL database a `cockroachdb://` URL (`parsed`) names CockroachDB-compatible
/// (the dialect's marker setting, SERIALIZABLE by default) for the sessions opened from now on.
async fn mark_cockroach_compatible(url: &str, parsed: &DatabaseUrl) -> Result<()> {
    let database = parsed.database().unwrap_or("postgres").replace('"', "\"\"");
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let admin = format!("postgresql://{rest}");
    let failed = |e: tokio_postgres::Error| {
        let detail = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |db| db.message().to_owned());
        Error::new(
            ErrorKind::ConnectionLost,
            format!("cannot mark {parsed} CockroachDB-compatible: {detail}"),
        )
    };
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .map_err(failed)?;
    let task = tokio::spawn(connection);
    let marked = client
        .batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({MARK_LOCK}); \
             ALTER DATABASE \"{database}\" SET {COMPATIBLE_MODE_SETTING} = 'on'; \
             ALTER DATABASE \"{database}\" SET default_transaction_isolation = 'serializable'"
        ))
        .await
        .map_err(failed);
    drop(client);
    let _ = task.await;
    marked
}

/// Checks that the schema `dbos` of the database `client` is connected to was made by
/// `backend`'s dialect: the PostgreSQL dialect installs the NOTIFY triggers of LISTEN/NOTIFY,
/// the CockroachDB dialect none (so a leg that silently ran the wrong driver is a problem).
async fn check_dialect(
    client: &tokio_postgres::Client,
    backend: Backend,
    report: &mut CampaignReport,
) {
    let triggers: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'dbos' AND NOT t.tgisinternal",
            &[],
        )
        .await
        .expect("count the schema's triggers")
        .get(0);
    match backend {
        Backend::Cockroach if triggers == 0 => report.notes.push(
            "CockroachDB dialect confirmed: the schema has no NOTIFY trigger (its migrations)"
                .into(),
        ),
        Backend::Cockroach => report.problem(format!(
            "the schema has {triggers} NOTIFY triggers: it was not made by the CockroachDB dialect"
        )),
        Backend::Postgres if triggers == 0 => {
            report.problem("the schema has no NOTIFY trigger: not the PostgreSQL dialect")
        }
        _ => {}
    }
}

/// The DBOS configuration of the campaign's server stores: pool, timeouts and session name of
/// `settings`.
fn dbos_config(settings: &StoreSettings) -> DbosConfig {
    DbosConfig::new("dbos-campaign")
        .with_sys_db_pool_size(settings.pool_size)
        .with_pool_timeout(settings.pool_timeout)
        .with_connect_timeout(settings.connect_timeout)
        .with_application_name(settings.application_name.as_str())
}

/// The kinds a call may fail with while the database is unreachable or its connection was
/// killed: it may be re-run (idempotent operations) or polled again (claims).
fn is_connection_class(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionLost
            | ErrorKind::PoolExhausted
            | ErrorKind::Timeout
            | ErrorKind::AmbiguousCommit
    )
}

/// The kinds an operation of the workload may fail with and be tried again: the connection
/// class plus conflicts.
fn is_transient(kind: ErrorKind) -> bool {
    is_connection_class(kind)
        || matches!(
            kind,
            ErrorKind::SerializationFailure | ErrorKind::Contention
        )
}

/// An error's message with its causes, as one line.
fn describe(error: &Error) -> String {
    use std::error::Error as _;
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let t = cause.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = cause.source();
    }
    text
}

/// Nanoseconds since the Unix epoch on the wall clock, which every process of the machine
/// shares (the executors' claim and finish times are compared across processes).
fn wall_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The application version of every workflow and claim of the campaign.
const VERSION: &str = "campaign-1";

/// The machine, for the figures' caption: CPU model, cores and the date (UTC), e.g. `AMD EPYC
/// 7B13, 2 cores, 2026-11-20`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{cpu}, {cores} cores, {y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }

    #[test]
    fn a_clean_report_needs_work_and_no_problem() {
        let mut report = CampaignReport::new("s", Backend::Sqlite);
        assert!(!report.is_clean(), "nothing acknowledged is not clean");
        report.acknowledged = 3;
        report.found = 3;
        assert!(report.is_clean());
        report.count_error("connection_lost", 2);
        assert!(report.is_clean(), "errors returned to callers are figures");
        assert_eq!(report.errors_text(), "connection_lost 2");
        report.duplicate_claims = 1;
        assert!(!report.is_clean());
        let table = markdown_table(&[report]);
        assert!(table.contains("| s | SQLite |"), "{table}");
    }

    #[test]
    fn the_cockroach_dialect_opens_the_same_database_by_its_scheme() {
        let url = "postgresql://postgres@127.0.0.1:5433/campaign_x?sslmode=disable";
        assert_eq!(Backend::Postgres.store_url(url), url);
        assert_eq!(
            Backend::Cockroach.store_url(url),
            "cockroachdb://postgres@127.0.0.1:5433/campaign_x?sslmode=disable"
        );
        assert!(Backend::Cockroach.is_server() && !Backend::Sqlite.is_server());
    }

    #[test]
    fn bounds_follow_the_settings() {
        let settings = StoreSettings::default();
        assert_eq!(settings.configured_bound(), Duration::from_secs(6));
        assert_eq!(settings.hang_bound(), Duration::from_secs(30));
    }
}
