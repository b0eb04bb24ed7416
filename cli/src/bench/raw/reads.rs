//! The raw database doing the store's reads, for `bench --scale`: the same rows read by plain
//! hand-written statements on one native connection of the driver (SQLite: the store's pragmas,
//! [`SqliteConfig::native_connection`]; PostgreSQL: the store's TLS and session settings,
//! [`PostgresStore::native_connection`]), each an autocommit statement prepared once. Measured on
//! the empty database and on the big one, its ratio big/empty is the database's own cost of the
//! bigger file for that read, next to the store's ratio.
//!
//! A statement reads what the store's read returns: the workflow's row with its input and
//! outcome (`LEFT JOIN`s on the payload tables), a page of 50 newest first with the same
//! tie-break. Filters are plain equalities on DBOS's columns; the status filter repeats the
//! partial index's predicate, as SQLite needs to use that index (PostgreSQL proves it from the
//! equality alone). Parameters are `$1`, `$2`: PostgreSQL's placeholders, which SQLite reads as
//! named parameters bound in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbos_storage::postgres::tokio_postgres::types::ToSql;
use dbos_storage::sqlite::rusqlite;

use super::{raw_error, OneConnection};
use crate::connect::Native;
use crate::error::CliError;

// language=SQL
/// One workflow by id, with its input and outcome (`$1` id).
const GET_WORKFLOW: &str = "\
SELECT ws.*, wi.inputs, wo.output, wo.error
FROM {schema}workflow_status ws
LEFT JOIN {schema}workflow_input wi ON wi.workflow_uuid = ws.workflow_uuid
LEFT JOIN {schema}workflow_output wo ON wo.workflow_uuid = ws.workflow_uuid
WHERE ws.workflow_uuid = $1";

// language=SQL
/// The head of a page: every row with its input and outcome; a filter of [`Filter`] and
/// [`PAGE_ORDER`] follow.
const PAGE_HEAD: &str = "\
SELECT ws.*, wi.inputs, wo.output, wo.error
FROM {schema}workflow_status ws
LEFT JOIN {schema}workflow_input wi ON wi.workflow_uuid = ws.workflow_uuid
LEFT JOIN {schema}workflow_output wo ON wo.workflow_uuid = ws.workflow_uuid
WHERE ";

// language=SQL
/// The first page of 50, newest first (ties by id, as the store orders them).
const PAGE_ORDER: &str = " ORDER BY ws.created_at DESC, ws.workflow_uuid DESC LIMIT 50";

// language=SQL
/// No filter.
const NO_FILTER: &str = "TRUE";
// language=SQL
/// One failed status (`$1`), with `idx_workflow_status_failed`'s predicate.
const FAILED_STATUS: &str =
    "ws.status = $1 AND ws.status IN ('ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')";
// language=SQL
/// One name (`$1`).
const NAME: &str = "ws.name = $1";
// language=SQL
/// One queue (`$1`).
const QUEUE: &str = "ws.queue_name = $1";
// language=SQL
/// Ids from `$1` (inclusive) to `$2` (exclusive): an id prefix as a key range.
const ID_RANGE: &str = "ws.workflow_uuid >= $1 AND ws.workflow_uuid < $2";
// language=SQL
/// One application version (`$1`).
const VERSION: &str = "ws.application_version = $1";
// language=SQL
/// Created at or after `$1`.
const CREATED_SINCE: &str = "ws.created_at >= $1";
// language=SQL
/// One authenticated user (`$1`).
const USER: &str = "ws.authenticated_user = $1";

/// The filter of a raw page, with its values.
#[derive(Debug, Clone)]
pub(in crate::bench) enum Filter {
    /// Every workflow.
    All,
    /// One failed status (`ERROR`, `CANCELLED` or `MAX_RECOVERY_ATTEMPTS_EXCEEDED`).
    FailedStatus(String),
    /// One name.
    Name(String),
    /// One queue.
    Queue(String),
    /// Ids starting with this prefix (ASCII).
    IdPrefix(String),
    /// One application version.
    Version(String),
    /// Created at or after this time, in epoch milliseconds.
    CreatedSince(i64),
    /// One authenticated user.
    User(String),
}

/// A bound value of a raw statement.
#[derive(Debug, Clone)]
enum Param {
    Text(String),
    Int(i64),
}

impl Filter {
    /// The filter's SQL and its values, in placeholder order.
    fn sql(&self) -> (&'static str, Vec<Param>) {
        let text = |s: &String| vec![Param::Text(s.clone())];
        match self {
            Filter::All => (NO_FILTER, Vec::new()),
            Filter::FailedStatus(s) => (FAILED_STATUS, text(s)),
            Filter::Name(s) => (NAME, text(s)),
            Filter::Queue(s) => (QUEUE, text(s)),
            Filter::IdPrefix(p) => (
                ID_RANGE,
                vec![Param::Text(p.clone()), Param::Text(prefix_end(p))],
            ),
            Filter::Version(s) => (VERSION, text(s)),
            Filter::CreatedSince(t) => (CREATED_SINCE, vec![Param::Int(*t)]),
            Filter::User(s) => (USER, text(s)),
        }
    }
}

/// The first string after every string starting with `prefix` (an ASCII prefix whose last
/// character is below `~`): the prefix with its last character incremented.
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    match bytes.last_mut() {
        Some(last) if *last < b'~' => *last += 1,
        _ => bytes.push(0x7f),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One native connection of the bench's database, for raw reads.
pub(in crate::bench) struct RawReads(OneConnection);

impl RawReads {
    /// Opens a native connection of the bench's database.
    pub(in crate::bench) async fn open(native: &Native) -> Result<RawReads, CliError> {
        OneConnection::open(native).await.map(RawReads)
    }

    /// Reads each workflow of `ids` (each must exist) and returns how long the reads took.
    pub(in crate::bench) async fn get(&self, ids: &[String]) -> Result<Duration, CliError> {
        let one = |id: &String| vec![Param::Text(id.clone())];
        let runs: Vec<Vec<Param>> = ids.iter().map(one).collect();
        self.run(GET_WORKFLOW.to_owned(), runs, Some(1)).await
    }

    /// Reads the first page under `filter` `times` times and returns how long it took.
    pub(in crate::bench) async fn page(
        &self,
        filter: &Filter,
        times: usize,
    ) -> Result<Duration, CliError> {
        let (sql, params) = filter.sql();
        let text = format!("{PAGE_HEAD}{sql}{PAGE_ORDER}");
        self.run(text, vec![params; times], None).await
    }

    /// Runs `template` (its `{schema}` filled in) once per parameter list, each run read to its
    /// end and, with `rows`, checked to return that many rows; returns the time of the runs
    /// (the statement is prepared before the clock starts).
    async fn run(
        &self,
        template: String,
        runs: Vec<Vec<Param>>,
        rows: Option<usize>,
    ) -> Result<Duration, CliError> {
        match &self.0 {
            OneConnection::Sqlite(conn) => {
                let conn = Arc::clone(conn);
                let text = template.replace("{schema}", "");
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().map_err(raw_error)?;
                    sqlite_runs(&conn, &text, &runs, rows).map_err(raw_error)?
                })
                .await
                .map_err(raw_error)?
            }
            OneConnection::Postgres { client, schema } => {
                let text = template.replace("{schema}", schema);
                let stmt = client.prepare(&text).await.map_err(raw_error)?;
                let t = Instant::now();
                for params in &runs {
                    let bound: Vec<&(dyn ToSql + Sync)> = params
                        .iter()
                        .map(|p| match p {
                            Param::Text(s) => s as &(dyn ToSql + Sync),
                            Param::Int(i) => i as &(dyn ToSql + Sync),
                        })
                        .collect();
                    let found = client.query(&stmt, &bound).await.map_err(raw_error)?;
                    check_rows(found.len(), rows)?;
                }
                Ok(t.elapsed())
            }
        }
    }
}

/// The SQLite side of [`RawReads::run`].
fn sqlite_runs(
    conn: &rusqlite::Connection,
    text: &str,
    runs: &[Vec<Param>],
    rows: Option<usize>,
) -> rusqlite::Result<Result<Duration, CliError>> {
    let mut stmt = conn.prepare_cached(text)?;
    let t = Instant::now();
    for params in runs {
        let values: Vec<rusqlite::types::Value> = params
            .iter()
            .map(|p| match p {
                Param::Text(s) => rusqlite::types::Value::Text(s.clone()),
                Param::Int(i) => rusqlite::types::Value::Integer(*i),
            })
            .collect();
        let mut read = stmt.query(rusqlite::params_from_iter(values))?;
        let mut found = 0;
        while read.next()?.is_some() {
            found += 1;
        }
        if let Err(e) = check_rows(found, rows) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(t.elapsed()))
}

/// An error unless a run returned the rows it must (`rows`, when given).
fn check_rows(found: usize, rows: Option<usize>) -> Result<(), CliError> {
    match rows {
        Some(n) if n != found => Err(CliError::new(format!(
            "a raw read returned {found} rows where {n} were expected"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use dbos_storage::sqlite::{SqliteConfig, SqliteStore};
    use dbos_storage::{LifecycleStore, NewWorkflow, Payload, WorkflowStore};

    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_character_plus_one() {
        assert_eq!(prefix_end("scale-big-seq-"), "scale-big-seq.");
        assert_eq!(prefix_end("a~"), "a~\u{7f}");
    }

    /// The raw reads run on a migrated SQLite file: a get finds the row, every filter's page
    /// compiles and returns the rows it should, a missing id is an error naming the counts.
    #[tokio::test]
    async fn raw_reads_read_the_store_s_rows() {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig::file(dir.path().join("r.sqlite"));
        let store = SqliteStore::open(config.clone()).await.unwrap();
        store.migrate().await.unwrap();
        for i in 0..3 {
            let w = NewWorkflow::new(format!("raw-{i}"), "raw_name", Payload::portable_json("[]"))
                .with_auth(Some("u".into()), None, None);
            store.insert_workflow(w, Default::default()).await.unwrap();
        }
        let raw = RawReads::open(&Native::Sqlite(store.clone()))
            .await
            .unwrap();
        raw.get(&["raw-1".to_owned(), "raw-2".to_owned()])
            .await
            .unwrap();
        let e = raw.get(&["missing".to_owned()]).await.unwrap_err();
        assert!(e.to_string().contains("returned 0 rows where 1"), "{e}");
        for filter in [
            Filter::All,
            Filter::FailedStatus("ERROR".into()),
            Filter::Name("raw_name".into()),
            Filter::Queue("q".into()),
            Filter::IdPrefix("raw-".into()),
            Filter::Version("v".into()),
            Filter::CreatedSince(0),
            Filter::User("u".into()),
        ] {
            raw.page(&filter, 2).await.unwrap();
        }
        let OneConnection::Sqlite(conn) = &raw.0 else {
            unreachable!()
        };
        let count = |filter: Filter| {
            let (sql, params) = filter.sql();
            let text = format!("{PAGE_HEAD}{sql}{PAGE_ORDER}").replace("{schema}", "");
            let conn = conn.lock().unwrap();
            let mut stmt = conn.prepare(&text).unwrap();
            let values: Vec<rusqlite::types::Value> = params
                .into_iter()
                .map(|p| match p {
                    Param::Text(s) => rusqlite::types::Value::Text(s),
                    Param::Int(i) => rusqlite::types::Value::Integer(i),
                })
                .collect();
            let mut rows = stmt.query(rusqlite::params_from_iter(values)).unwrap();
            let mut n = 0;
            while rows.next().unwrap().is_some() {
                n += 1;
            }
            n
        };
        assert_eq!(count(Filter::All), 3);
        assert_eq!(count(Filter::IdPrefix("raw-".into())), 3);
        assert_eq!(count(Filter::IdPrefix("raw-x".into())), 0);
        assert_eq!(count(Filter::User("u".into())), 3);
        assert_eq!(count(Filter::FailedStatus("ERROR".into())), 0);
        store.close().await.unwrap();
    }
}
