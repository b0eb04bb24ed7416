//! [`RawBaseline`]: the raw database doing a store's writes one committed single-row statement at
//! a time, for benchmarks that put a store's rate next to the database's own.
//!
//! The baseline writes into scratch copies of `workflow_status` and `operation_outputs` in the
//! same file (same columns, constraints and indexes, read from `sqlite_master`), on its own
//! connection opened exactly as the store opens its connections (`busy_timeout`, WAL, the
//! store's `synchronous` setting — FULL by default — and foreign keys on), so a ratio compares
//! like with like. Each call is one autocommit statement: one
//! committed single-row write.

use dbos_storage_core::{now_epoch_ms, Error, Result, SqliteLocation};
use rusqlite::params;

use crate::connection::open_connection;
use crate::error::{classify, from_call, BACKEND};
use crate::store::SqliteStore;

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

/// The output every baseline step writes: the size of a small JSON step result.
const STEP_OUTPUT: &str = r#"{"json":"{\"ok\":true,\"step\":\"bench_step\"}"}"#;

/// Scratch copies of the workflow and step tables and one connection writing into them.
///
/// Open one with [`SqliteStore::raw_baseline`]; remove the tables with [`RawBaseline::drop_tables`].
/// One connection serves every call, as the store serves every write with its single writer
/// connection.
#[derive(Debug)]
pub struct RawBaseline {
    conn: tokio_rusqlite::Connection,
}

impl SqliteStore {
    /// Creates scratch copies of `workflow_status` and `operation_outputs` in the store's file
    /// (named `dbos_bench_raw_…`, replacing earlier copies) and opens a connection with the
    /// store's settings to write into them, for a raw-write baseline next to a benchmark of the
    /// store.
    ///
    /// # Errors
    /// [`Unsupported`](dbos_storage_core::ErrorKind::Unsupported) for an in-memory database
    /// (private to the store's own connection); the errors of opening a connection; a classified
    /// error when the schema has not been migrated.
    pub async fn raw_baseline(&self) -> Result<RawBaseline> {
        let location = self.config().location.clone();
        if location == SqliteLocation::Memory {
            return Err(Error::unsupported(
                "a raw baseline needs a database file: an in-memory database is private to the \
                 store's connection",
            )
            .with_backend(BACKEND));
        }
        let conn = open_connection(
            &location,
            self.config().busy_timeout,
            self.config().synchronous,
        )
        .await?;
        conn.call(|c| {
            c.execute_batch(DROP_TABLES).map_err(classify)?;
            let ddl: Vec<(String, String)> = {
                let mut stmt = c.prepare(SELECT_DDL).map_err(classify)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(classify)?;
                rows.collect::<rusqlite::Result<_>>().map_err(classify)?
            };
            if !ddl.iter().any(|(name, _)| name == TABLES[0]) {
                return Err(Error::not_found(
                    "the database has no workflow_status table: migrate it first",
                )
                .with_backend(BACKEND));
            }
            let tx = c.transaction().map_err(classify)?;
            for (name, sql) in &ddl {
                tx.execute_batch(&scratch_ddl(sql, name))
                    .map_err(classify)?;
            }
            tx.commit().map_err(classify)
        })
        .await
        .map_err(from_call)?;
        Ok(RawBaseline { conn })
    }
}

impl RawBaseline {
    /// Inserts one `PENDING` workflow row (one committed statement).
    ///
    /// # Errors
    /// A classified error, e.g. a duplicate id.
    pub async fn insert_workflow(&self, workflow_id: &str) -> Result<()> {
        let id = workflow_id.to_owned();
        self.conn
            .call(move |c| {
                let now = now_epoch_ms();
                let token = dbos_storage_core::new_token();
                c.prepare_cached(INSERT_WORKFLOW)?
                    .execute(params![id, now, token])
                    .map(drop)
            })
            .await
            .map_err(from_call)
    }

    /// Inserts one step row with a small output (one committed statement).
    ///
    /// # Errors
    /// A classified error, e.g. a step recorded twice.
    pub async fn insert_step(&self, workflow_id: &str, function_id: i32) -> Result<()> {
        let id = workflow_id.to_owned();
        self.conn
            .call(move |c| {
                c.prepare_cached(INSERT_STEP)?
                    .execute(params![id, function_id, STEP_OUTPUT, now_epoch_ms()])
                    .map(drop)
            })
            .await
            .map_err(from_call)
    }

    /// Marks one workflow row `SUCCESS` (one committed statement).
    ///
    /// # Errors
    /// A classified error.
    pub async fn finish_workflow(&self, workflow_id: &str) -> Result<()> {
        let id = workflow_id.to_owned();
        self.conn
            .call(move |c| {
                c.prepare_cached(FINISH_WORKFLOW)?
                    .execute(params![id, now_epoch_ms()])
                    .map(drop)
            })
            .await
            .map_err(from_call)
    }

    /// Drops the scratch tables and closes the connection.
    ///
    /// # Errors
    /// A classified error.
    pub async fn drop_tables(self) -> Result<()> {
        self.conn
            .call(|c| c.execute_batch(DROP_TABLES))
            .await
            .map_err(from_call)?;
        self.conn.close().await.map_err(from_call)
    }
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
        use dbos_storage_core::LifecycleStore;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(crate::SqliteConfig::file(dir.path().join("b.sqlite")))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let raw = store.raw_baseline().await.unwrap();
        raw.insert_workflow("w1").await.unwrap();
        raw.insert_step("w1", 1).await.unwrap();
        raw.finish_workflow("w1").await.unwrap();
        assert!(
            raw.insert_workflow("w1").await.is_err(),
            "the primary key is copied"
        );
        raw.drop_tables().await.unwrap();
        let tables: i64 = store
            .conns()
            .read(|tx| {
                tx.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name LIKE 'dbos_bench_raw_%'",
                    [],
                    |r| r.get(0),
                )
                .map_err(classify)
            })
            .await
            .unwrap();
        assert_eq!(tables, 0);
        store.close().await.unwrap();
    }
}
