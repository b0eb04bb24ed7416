//! The SQLite raw baseline: scratch copies of `workflow_status` and `operation_outputs` in the
//! store's file (same columns, constraints and indexes, read from `sqlite_master`), written on
//! one connection of their own opened with the store's settings
//! ([`SqliteConfig::native_connection`]: `busy_timeout`, WAL, the store's `synchronous` setting,
//! foreign keys on), owned by a thread of its own as the store's writer connection is. Each call
//! is one autocommit statement: one committed single-row write.

use std::sync::mpsc;
use std::thread::JoinHandle;

use dbos_storage::sqlite::rusqlite::{self, params, Connection};
use dbos_storage::sqlite::SqliteConfig;
use dbos_storage::{new_token, now_epoch_ms};
use tokio::sync::oneshot;

use super::{raw_error, STEP_OUTPUT};
use crate::error::CliError;

/// The prefix of the scratch tables and their indexes.
const PREFIX: &str = "dbos_bench_raw_";

/// The tables the baseline copies.
const TABLES: [&str; 2] = ["workflow_status", "operation_outputs"];

// language=SQL
/// The DDL of the copied tables and their explicit indexes, tables first.
const SELECT_DDL: &str = "\
SELECT name, sql FROM sqlite_master
WHERE tbl_name IN ('workflow_status', 'operation_outputs') AND sql IS NOT NULL
ORDER BY type = 'index', name";

// language=SQL
/// One workflow row, as a direct start writes it (`?1` id, `?2` now, `?3` token).
const INSERT_WORKFLOW: &str = "\
INSERT INTO dbos_bench_raw_workflow_status (
    workflow_uuid, status, name, executor_id, application_version, created_at, updated_at,
    recovery_attempts, owner_xid, creator_xid)
VALUES (?1, 'PENDING', 'bench_workflow', 'bench', 'bench', ?2, ?2, 1, ?3, ?3)";

// language=SQL
/// One step row (`?1` workflow, `?2` function id, `?3` output, `?4` now).
const INSERT_STEP: &str = "\
INSERT INTO dbos_bench_raw_operation_outputs (
    workflow_uuid, function_id, function_name, output, started_at_epoch_ms,
    completed_at_epoch_ms)
VALUES (?1, ?2, 'bench_step', ?3, ?4, ?4)";

// language=SQL
/// A workflow's outcome (`?1` id, `?2` now).
const FINISH_WORKFLOW: &str = "\
UPDATE dbos_bench_raw_workflow_status
SET status = 'SUCCESS', owner_xid = NULL, updated_at = ?2, completed_at = ?2
WHERE workflow_uuid = ?1";

// language=SQL
/// Removes the scratch tables.
const DROP_TABLES: &str = "\
DROP TABLE IF EXISTS dbos_bench_raw_operation_outputs;
DROP TABLE IF EXISTS dbos_bench_raw_workflow_status;";

/// Work for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Scratch copies of the workflow and step tables and the one connection writing into them.
pub(crate) struct SqliteRaw {
    jobs: mpsc::Sender<Job>,
    thread: JoinHandle<()>,
}

impl SqliteRaw {
    /// Opens the connection on a thread of its own and creates the scratch tables (replacing
    /// earlier copies) in the file of `config`.
    pub(crate) async fn open(config: &SqliteConfig) -> Result<SqliteRaw, CliError> {
        if config.is_memory() {
            return Err(CliError::new(
                "a raw baseline needs a database file: an in-memory database is private to the \
                 store's connection",
            ));
        }
        let config = config.clone();
        let (jobs, queue) = mpsc::channel::<Job>();
        let (opened, open_result) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("dbos-bench-raw".to_owned())
            .spawn(move || {
                let mut conn = match config.native_connection() {
                    Ok(conn) => conn,
                    Err(e) => {
                        let _ = opened.send(Err(e));
                        return;
                    }
                };
                let _ = opened.send(Ok(()));
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })?;
        open_result
            .await
            .map_err(|_| CliError::new("the raw baseline's connection thread stopped"))??;
        let raw = SqliteRaw { jobs, thread };
        raw.call(create_tables).await??;
        Ok(raw)
    }

    /// Runs `work` on the connection's thread.
    async fn call<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R, CliError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || CliError::new("the raw baseline's connection thread stopped");
        self.jobs
            .send(Box::new(move |conn| {
                let _ = reply.send(work(conn));
            }))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }

    /// Runs one statement of the baseline.
    async fn execute(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<usize> + Send + 'static,
    ) -> Result<(), CliError> {
        self.call(statement).await?.map(drop).map_err(raw_error)
    }

    /// Inserts one `PENDING` workflow row (one committed statement).
    pub(crate) async fn insert_workflow(&self, workflow_id: &str) -> Result<(), CliError> {
        let id = workflow_id.to_owned();
        self.execute(move |c| {
            c.prepare_cached(INSERT_WORKFLOW)?
                .execute(params![id, now_epoch_ms(), new_token()])
        })
        .await
    }

    /// Inserts one step row with a small output (one committed statement).
    pub(crate) async fn insert_step(
        &self,
        workflow_id: &str,
        function_id: i32,
    ) -> Result<(), CliError> {
        let id = workflow_id.to_owned();
        self.execute(move |c| {
            c.prepare_cached(INSERT_STEP)?.execute(params![
                id,
                function_id,
                STEP_OUTPUT,
                now_epoch_ms()
            ])
        })
        .await
    }

    /// Marks one workflow row `SUCCESS` (one committed statement).
    pub(crate) async fn finish_workflow(&self, workflow_id: &str) -> Result<(), CliError> {
        let id = workflow_id.to_owned();
        self.execute(move |c| {
            c.prepare_cached(FINISH_WORKFLOW)?
                .execute(params![id, now_epoch_ms()])
        })
        .await
    }

    /// Drops the scratch tables, then closes the connection and ends its thread.
    pub(crate) async fn drop_tables(self) -> Result<(), CliError> {
        let dropped = self
            .call(|c| c.execute_batch(DROP_TABLES))
            .await?
            .map_err(raw_error);
        let SqliteRaw { jobs, thread } = self;
        drop(jobs);
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(raw_error)?
            .map_err(|_| CliError::new("the raw baseline's connection thread panicked"))?;
        dropped
    }
}

/// Replaces the scratch tables with fresh copies of the store's, in one transaction.
fn create_tables(c: &mut Connection) -> Result<(), CliError> {
    c.execute_batch(DROP_TABLES).map_err(raw_error)?;
    let ddl: Vec<(String, String)> = {
        let mut stmt = c.prepare(SELECT_DDL).map_err(raw_error)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(raw_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(raw_error)?
    };
    if !ddl.iter().any(|(name, _)| name == TABLES[0]) {
        return Err(CliError::new(
            "the database has no workflow_status table: migrate it first",
        ));
    }
    let tx = c.transaction().map_err(raw_error)?;
    for (name, sql) in &ddl {
        tx.execute_batch(&scratch_ddl(sql, name))
            .map_err(raw_error)?;
    }
    tx.commit().map_err(raw_error)
}

/// The DDL of the scratch copy of object `name`: the copied tables and the object itself get
/// the prefix wherever they appear as whole identifiers (quoted or not).
fn scratch_ddl(sql: &str, name: &str) -> String {
    let mut out = sql.to_owned();
    for old in TABLES.iter().copied().chain(std::iter::once(name)) {
        out = rename_identifier(&out, old, &format!("{PREFIX}{old}"));
    }
    out
}

/// `sql` with every whole-identifier occurrence of `old` replaced by `new` (an occurrence inside
/// a longer identifier such as `idx_workflow_status_x` is left alone). Already-prefixed names are
/// not prefixed twice.
fn rename_identifier(sql: &str, old: &str, new: &str) -> String {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(sql.len() + 32);
    let mut rest = sql;
    while let Some(at) = rest.find(old) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + old.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
            out.push_str(old);
        } else {
            out.push_str(new);
        }
        rest = &rest[at + old.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use dbos_storage::sqlite::SqliteStore;
    use dbos_storage::LifecycleStore;

    use super::*;

    #[test]
    fn scratch_ddl_renames_whole_identifiers_only() {
        let sql = r#"CREATE INDEX "idx_workflow_status_delayed" ON "workflow_status" ("delay_until_epoch_ms")"#;
        assert_eq!(
            scratch_ddl(sql, "idx_workflow_status_delayed"),
            r#"CREATE INDEX "dbos_bench_raw_idx_workflow_status_delayed" ON "dbos_bench_raw_workflow_status" ("delay_until_epoch_ms")"#
        );
        let sql = "CREATE TABLE operation_outputs (workflow_uuid TEXT REFERENCES workflow_status(workflow_uuid))";
        assert_eq!(
            scratch_ddl(sql, "operation_outputs"),
            "CREATE TABLE dbos_bench_raw_operation_outputs (workflow_uuid TEXT REFERENCES \
             dbos_bench_raw_workflow_status(workflow_uuid))"
        );
    }

    #[tokio::test]
    async fn the_baseline_writes_into_scratch_tables_and_drops_them() {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig::file(dir.path().join("b.sqlite"));
        let store = SqliteStore::open(config.clone()).await.unwrap();
        store.migrate().await.unwrap();
        let raw = SqliteRaw::open(&config).await.unwrap();
        raw.insert_workflow("w1").await.unwrap();
        raw.insert_step("w1", 1).await.unwrap();
        raw.finish_workflow("w1").await.unwrap();
        assert!(
            raw.insert_workflow("w1").await.is_err(),
            "the primary key is copied"
        );
        raw.drop_tables().await.unwrap();
        let conn = config.native_connection().unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'dbos_bench_raw_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn an_in_memory_database_has_no_baseline() {
        let err = SqliteRaw::open(&SqliteConfig::memory())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("needs a database file"), "{err}");
    }
}
