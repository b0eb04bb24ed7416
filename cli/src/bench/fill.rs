//! The big database of `bench --scale`, written in bulk: a few `INSERT … SELECT` statements over
//! a generated series on a connection of the bench's own, so that a million workflows take
//! seconds and every run writes the same rows.
//!
//! The rows are DBOS's own (`workflow_status`, `workflow_input`, `workflow_output`,
//! `operation_outputs`), as DBOS writes them, with creation times in the past day:
//! - finished workflows `scale-done-{i}`: 20 names, 100 users (`user-{i % 100}`), five
//!   application versions, every other one on a queue; one in ten `ERROR`; each with its input,
//!   its output and [`STEPS_PER_FINISHED`] steps;
//! - enqueued workflows `scale-queued-{i}` on `scale-q{i % 10}` at the bench's application
//!   version (so the bench's claims take them): `scale-q9` partitioned by six keys (its
//!   workflows take them in turn), `scale-q1`
//!   and `scale-q2` with priorities 0 to 2; each with its input;
//! - long-running parents `scale-parent-{i}`, `PENDING` on executor `scale-executor`.
//!
//! The fill ends by settling the database as one that has been running a while is: on
//! PostgreSQL `VACUUM (ANALYZE)` of the filled tables, on CockroachDB `ANALYZE`, on SQLite
//! `ANALYZE` and a checkpoint that empties the write-ahead log.
//!
//! Statements are this module's named constants; `{schema}` is the quoted scratch schema
//! (PostgreSQL). Parameters: `$1`/`?1` how many rows, `$2`/`?2` the first creation time in epoch
//! milliseconds, `$3`/`?3` the bench's application version (enqueued rows) or the steps per
//! workflow (steps).

use dbos_storage::postgres::tokio_postgres;
use dbos_storage::sqlite::rusqlite;
use dbos_storage::sqlite::SqliteConfig;
use dbos_storage::{now_epoch_ms, BackendKind};

use super::scale::{Dataset, STEPS_PER_FINISHED};
use super::{Bench, VERSION};
use crate::connect::Native;
use crate::error::CliError;

/// The generated series `g` of 1..=`n`, in each dialect.
macro_rules! series {
    (postgres) => {
        "FROM generate_series(1, $1::bigint) g"
    };
    (sqlite) => {
        "FROM (WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?1) \
         SELECT g FROM s)"
    };
}

/// Finished workflows, every other one on one of the ten queues.
macro_rules! finished {
    ($schema:literal, $p:literal, $series:expr) => {
        concat!(
            "INSERT INTO ",
            $schema,
            "workflow_status (workflow_uuid, status, name, authenticated_user, executor_id,
    application_version, queue_name, created_at, updated_at, started_at_epoch_ms, completed_at,
    recovery_attempts, priority, serialization)
SELECT 'scale-done-' || g, CASE WHEN g % 10 = 0 THEN 'ERROR' ELSE 'SUCCESS' END,
    'scale_workflow_' || (g % 20), 'user-' || (g % 100), 'scale-executor',
    'scale-v' || (g % 5), CASE WHEN g % 2 = 0 THEN 'scale-q' || (g % 10) END,
    ",
            $p,
            "2 + g * 5, ",
            $p,
            "2 + g * 5 + 3, ",
            $p,
            "2 + g * 5 + 1, ",
            $p,
            "2 + g * 5 + 3, 1, 0, 'portable_json'
",
            $series
        )
    };
}

/// Their inputs and outputs.
macro_rules! finished_payloads {
    ($schema:literal, $p:literal, $series:expr) => {
        [
            concat!(
                "INSERT INTO ",
                $schema,
                "workflow_input (workflow_uuid, inputs, retention_timestamp)
SELECT 'scale-done-' || g, '[{\"order\":42,\"items\":[\"a\",\"b\"]}]', ",
                $p,
                "2 + g * 5
",
                $series
            ),
            concat!(
                "INSERT INTO ",
                $schema,
                "workflow_output (workflow_uuid, output, error, retention_timestamp)
SELECT 'scale-done-' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE '\"done\"' END,
    CASE WHEN g % 10 = 0 THEN '{\"message\":\"failed\"}' END, ",
                $p,
                "2 + g * 5 + 3
",
                $series
            ),
        ]
    };
}

/// Their steps: `$3` per workflow.
macro_rules! finished_steps {
    ($schema:literal, $p:literal, $series:expr, $steps:expr) => {
        concat!(
            "INSERT INTO ",
            $schema,
            "operation_outputs (workflow_uuid, function_id, function_name, output,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, retention_timestamp)
SELECT 'scale-done-' || g, st.s, 'scale_step_' || st.s, '{\"ok\":true}', ",
            $p,
            "2 + g * 5 + 1, ",
            $p,
            "2 + g * 5 + 2, 'portable_json', ",
            $p,
            "2 + g * 5 + 2
",
            $series,
            " CROSS JOIN ",
            $steps
        )
    };
}

/// Enqueued workflows and their inputs, across the ten queues. `$3` is the application
/// version.
macro_rules! enqueued {
    ($schema:literal, $p:literal, $series:expr) => {
        [
            concat!(
                "INSERT INTO ",
                $schema,
                "workflow_status (workflow_uuid, status, name, application_version, queue_name,
    queue_partition_key, priority, created_at, updated_at, recovery_attempts, serialization)
SELECT 'scale-queued-' || g, 'ENQUEUED', 'scale_workflow_' || (g % 20), ",
                $p,
                "3, 'scale-q' || (g % 10),
    CASE WHEN g % 10 = 9 THEN 'key-' || ((g / 10) % 6) END,
    CASE WHEN g % 10 IN (1, 2) THEN g % 3 ELSE 0 END, ",
                $p,
                "2 + g, ",
                $p,
                "2 + g, 0, 'portable_json'
",
                $series
            ),
            concat!(
                "INSERT INTO ",
                $schema,
                "workflow_input (workflow_uuid, inputs, retention_timestamp)
SELECT 'scale-queued-' || g, '[1]', ",
                $p,
                "2 + g
",
                $series
            ),
        ]
    };
}

/// Long-running parents.
macro_rules! parents {
    ($schema:literal, $p:literal, $series:expr) => {
        concat!(
            "INSERT INTO ",
            $schema,
            "workflow_status (workflow_uuid, status, name, executor_id, application_version,
    created_at, updated_at, started_at_epoch_ms, recovery_attempts, serialization)
SELECT 'scale-parent-' || g, 'PENDING', 'scale_parent', 'scale-executor', ",
            $p,
            "3, ",
            $p,
            "2 + g, ",
            $p,
            "2 + g, ",
            $p,
            "2 + g, 1, 'portable_json'
",
            $series
        )
    };
}

// language=SQL
/// PostgreSQL: finished workflows (`$1` count, `$2` first creation time).
const PG_FINISHED: &str = finished!("{schema}.", "$", series!(postgres));
// language=SQL
/// PostgreSQL: their inputs and outputs (`$1`, `$2`).
const PG_FINISHED_PAYLOADS: [&str; 2] = finished_payloads!("{schema}.", "$", series!(postgres));
// language=SQL
/// PostgreSQL: their steps (`$1`, `$2`, `$3` steps per workflow).
const PG_FINISHED_STEPS: &str = finished_steps!(
    "{schema}.",
    "$",
    series!(postgres),
    "generate_series(1, $3::int) st(s)"
);
// language=SQL
/// PostgreSQL: enqueued workflows and their inputs (`$1`, `$2`, `$3` version).
const PG_ENQUEUED: [&str; 2] = enqueued!("{schema}.", "$", series!(postgres));
// language=SQL
/// PostgreSQL: parents (`$1`, `$2`, `$3` version).
const PG_PARENTS: &str = parents!("{schema}.", "$", series!(postgres));

// language=SQL
/// CockroachDB: statistics of the filled tables, as a production database has them.
const PG_ANALYZE: &str = "ANALYZE {schema}.workflow_status, {schema}.operation_outputs, \
     {schema}.workflow_input, {schema}.workflow_output";

// language=SQL
/// PostgreSQL: the filled tables vacuumed and analyzed, as autovacuum leaves a production
/// database. Without it autovacuum vacuums the millions of fresh rows (its insert threshold)
/// while the big database is measured, and takes the machine's cores and disk from the
/// measurements (seen with `pg_stat_activity`: every filled table's `VACUUM` ran for over a
/// minute after the fill's `ANALYZE`).
const PG_SETTLE: &str = "VACUUM (ANALYZE) {schema}.workflow_status, {schema}.operation_outputs, \
     {schema}.workflow_input, {schema}.workflow_output";

// language=SQL
/// SQLite: statistics of the filled file, and the fill moved from the write-ahead log into the
/// database file, as a production database that has been running a while has them.
const SQLITE_SETTLE: &str = "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)";

// language=SQL
/// SQLite: finished workflows (`?1` count, `?2` first creation time).
const SQLITE_FINISHED: &str = finished!("", "?", series!(sqlite));
// language=SQL
/// SQLite: their inputs and outputs.
const SQLITE_FINISHED_PAYLOADS: [&str; 2] = finished_payloads!("", "?", series!(sqlite));
// language=SQL
/// SQLite: their steps (`?3` steps per workflow).
const SQLITE_FINISHED_STEPS: &str = finished_steps!(
    "",
    "?",
    series!(sqlite),
    "(WITH RECURSIVE t(s) AS (SELECT 1 UNION ALL SELECT s + 1 FROM t WHERE s < ?3) SELECT s FROM t) st"
);
// language=SQL
/// SQLite: enqueued workflows and their inputs (`?3` version).
const SQLITE_ENQUEUED: [&str; 2] = enqueued!("", "?", series!(sqlite));
// language=SQL
/// SQLite: parents (`?3` version).
const SQLITE_PARENTS: &str = parents!("", "?", series!(sqlite));

/// One bulk statement and the rows it writes: `(sql, count, first creation time, third
/// parameter)`.
struct Bulk<'a> {
    sql: &'a str,
    count: i64,
    first: i64,
    third: Third,
}

impl Bulk<'_> {
    /// Checks that the statement wrote the rows it stands for (`count` per workflow, steps
    /// [`STEPS_PER_FINISHED`] per workflow).
    fn check(&self, written: u64) -> Result<(), CliError> {
        let per_workflow = match self.third {
            Third::Steps => STEPS_PER_FINISHED,
            Third::Version | Third::None => 1,
        };
        let expected = u64::try_from(self.count * per_workflow).unwrap_or(0);
        if written == expected {
            Ok(())
        } else {
            Err(CliError::new(format!(
                "the fill wrote {written} rows where {expected} were expected:\n{}",
                self.sql
            )))
        }
    }
}

/// The third parameter of a bulk statement, if it has one.
#[derive(Clone, Copy)]
enum Third {
    /// The bench's application version.
    Version,
    /// Steps per finished workflow.
    Steps,
    /// No third parameter.
    None,
}

/// Every statement of `dataset`, in order.
fn plan<'a>(
    dataset: &Dataset,
    finished: &'a str,
    payloads: &'a [&'a str; 2],
    steps: &'a str,
    enqueued: &'a [&'a str; 2],
    parents: &'a str,
) -> Vec<Bulk<'a>> {
    let day_ago = now_epoch_ms() - 86_400_000;
    let hour_ago = now_epoch_ms() - 3_600_000;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let mut out = vec![Bulk {
        sql: finished,
        count: count(dataset.finished),
        first: day_ago,
        third: Third::None,
    }];
    for sql in payloads {
        out.push(Bulk {
            sql,
            count: count(dataset.finished),
            first: day_ago,
            third: Third::None,
        });
    }
    out.push(Bulk {
        sql: steps,
        count: count(dataset.finished),
        first: day_ago,
        third: Third::Steps,
    });
    for (sql, third) in enqueued.iter().zip([Third::Version, Third::None]) {
        out.push(Bulk {
            sql,
            count: count(dataset.enqueued),
            first: hour_ago,
            third,
        });
    }
    out.push(Bulk {
        sql: parents,
        count: count(dataset.parents),
        first: day_ago,
        third: Third::Version,
    });
    out
}

/// Writes `dataset` into the bench's scratch database.
pub(super) async fn fill(bench: &Bench<'_>, dataset: &Dataset) -> Result<(), CliError> {
    match &bench.db.native {
        Native::Postgres(store) => {
            let schema = dbos_storage::url::quote_identifier(store.schema());
            let render = |sql: &str| sql.replace("{schema}", &schema);
            let payloads = PG_FINISHED_PAYLOADS.map(render);
            let enqueued = PG_ENQUEUED.map(render);
            let (finished, steps, parents) = (
                render(PG_FINISHED),
                render(PG_FINISHED_STEPS),
                render(PG_PARENTS),
            );
            let payloads = [payloads[0].as_str(), payloads[1].as_str()];
            let enqueued = [enqueued[0].as_str(), enqueued[1].as_str()];
            let client = store.native_connection().await?;
            for bulk in plan(dataset, &finished, &payloads, &steps, &enqueued, &parents) {
                let version = VERSION.to_owned();
                let steps = i32::try_from(STEPS_PER_FINISHED).unwrap_or(i32::MAX);
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    vec![&bulk.count, &bulk.first];
                match bulk.third {
                    Third::Version => params.push(&version),
                    Third::Steps => params.push(&steps),
                    Third::None => {}
                }
                let written = client.execute(bulk.sql, &params).await.map_err(pg_error)?;
                bulk.check(written)?;
            }
            client
                .batch_execute(&render(if bench.backend == BackendKind::Postgres {
                    PG_SETTLE
                } else {
                    PG_ANALYZE
                }))
                .await
                .map_err(pg_error)?;
        }
        Native::Sqlite(store) => {
            let config = store.config().clone();
            let statements: Vec<Bulk<'static>> = plan(
                dataset,
                SQLITE_FINISHED,
                &SQLITE_FINISHED_PAYLOADS,
                SQLITE_FINISHED_STEPS,
                &SQLITE_ENQUEUED,
                SQLITE_PARENTS,
            );
            tokio::task::spawn_blocking(move || fill_sqlite(&config, &statements))
                .await
                .map_err(|e| CliError::new(format!("the SQLite fill stopped: {e}")))??;
        }
    }
    Ok(())
}

/// Runs the SQLite statements in one transaction on a connection of their own (the store's
/// pragmas, `busy_timeout` included), then [`SQLITE_SETTLE`].
fn fill_sqlite(config: &SqliteConfig, statements: &[Bulk<'static>]) -> Result<(), CliError> {
    let mut conn = config.native_connection()?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite_error)?;
    for bulk in statements {
        let written = match bulk.third {
            Third::Version => {
                tx.execute(bulk.sql, rusqlite::params![bulk.count, bulk.first, VERSION])
            }
            Third::Steps => tx.execute(
                bulk.sql,
                rusqlite::params![bulk.count, bulk.first, STEPS_PER_FINISHED],
            ),
            Third::None => tx.execute(bulk.sql, rusqlite::params![bulk.count, bulk.first]),
        };
        bulk.check(written.map_err(sqlite_error)? as u64)?;
    }
    tx.commit().map_err(sqlite_error)?;
    conn.execute_batch(SQLITE_SETTLE).map_err(sqlite_error)?;
    Ok(())
}

fn pg_error(e: tokio_postgres::Error) -> CliError {
    CliError::new(format!("filling the PostgreSQL database: {e}"))
}

fn sqlite_error(e: rusqlite::Error) -> CliError {
    CliError::new(format!("filling the SQLite database: {e}"))
}
