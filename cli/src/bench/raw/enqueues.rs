//! The raw database enqueueing workflows, for `bench --scale`'s enqueue figure: each batch's
//! rows written `ENQUEUED` with their inputs by plain hand-written statements in one
//! transaction, on one native connection of the driver opened as [`super::RawReads`] opens its
//! own (SQLite: the store's pragmas; PostgreSQL: the store's TLS and session settings).
//! Measured on the empty database and on the big one, its ratio big/empty is the database's own
//! cost of adding rows (and their index entries) to a big table, next to the store's ratio.
//!
//! The rows get the clock's time as their creation time, as DBOS's single insert does: none of
//! the store's work to keep a batch in input order (which reads the queue's newest in-flight
//! row) and none of its deduplication or conflict handling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbos_storage::now_epoch_ms;
use dbos_storage::sqlite::rusqlite;

use super::{raw_error, OneConnection};
use crate::connect::Native;
use crate::error::CliError;

// language=SQL
/// One enqueued workflow (`$1` id, `$2` name, `$3` queue, `$4` now, epoch ms), on SQLite.
const SQLITE_ENQUEUE: &str = "\
INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, created_at, updated_at)
VALUES ($1, 'ENQUEUED', $2, $3, $4, $4)";

// language=SQL
/// One workflow's input (`$1` id, `$2` input, `$3` now), on SQLite.
const SQLITE_INPUT: &str = "\
INSERT INTO workflow_input (workflow_uuid, inputs, retention_timestamp) VALUES ($1, $2, $3)";

// language=SQL
/// A batch of enqueued workflows with their inputs in one statement (`$1` ids, `$2` name, `$3`
/// queue, `$4` now, `$5` the input every row gets), on PostgreSQL; `{schema}` is the quoted
/// schema with its dot.
const POSTGRES_ENQUEUE: &str = "\
WITH batch AS (SELECT id FROM unnest($1::text[]) AS id),
written AS (
    INSERT INTO {schema}workflow_status (workflow_uuid, status, name, queue_name, created_at,
        updated_at)
    SELECT id, 'ENQUEUED', $2, $3, $4, $4 FROM batch)
INSERT INTO {schema}workflow_input (workflow_uuid, inputs, retention_timestamp)
SELECT id, $5, $4 FROM batch";

/// What the raw side enqueues: where, under which name, with which input.
#[derive(Debug, Clone)]
pub(in crate::bench) struct RawBatches {
    /// The queue the rows go to.
    pub(in crate::bench) queue: String,
    /// The workflow name of every row.
    pub(in crate::bench) name: String,
    /// The input of every row, as the store stores it.
    pub(in crate::bench) input: String,
}

/// One native connection of the bench's database that enqueues workflows.
pub(in crate::bench) struct RawEnqueues(OneConnection);

impl RawEnqueues {
    /// Opens the native connection.
    pub(in crate::bench) async fn open(native: &Native) -> Result<RawEnqueues, CliError> {
        OneConnection::open(native).await.map(RawEnqueues)
    }

    /// Writes `batches` (each a list of new ids), one transaction each, and returns how long it
    /// took. Statements are prepared before the clock starts.
    pub(in crate::bench) async fn enqueue(
        &self,
        what: &RawBatches,
        batches: &[Vec<String>],
    ) -> Result<Duration, CliError> {
        match &self.0 {
            OneConnection::Sqlite(conn) => {
                let (conn, what, batches) = (Arc::clone(conn), what.clone(), batches.to_vec());
                tokio::task::spawn_blocking(move || {
                    let mut conn = conn.lock().map_err(raw_error)?;
                    sqlite_enqueue(&mut conn, &what, &batches)
                })
                .await
                .map_err(raw_error)?
            }
            OneConnection::Postgres { client, schema } => {
                let stmt = client
                    .prepare(&POSTGRES_ENQUEUE.replace("{schema}", schema))
                    .await
                    .map_err(raw_error)?;
                let t = Instant::now();
                for ids in batches {
                    client
                        .execute(
                            &stmt,
                            &[&ids, &what.name, &what.queue, &now_epoch_ms(), &what.input],
                        )
                        .await
                        .map_err(raw_error)?;
                }
                Ok(t.elapsed())
            }
        }
    }
}

/// The SQLite side of [`RawEnqueues::enqueue`]: one `BEGIN IMMEDIATE` transaction per batch,
/// two prepared single-row inserts per workflow.
fn sqlite_enqueue(
    conn: &mut rusqlite::Connection,
    what: &RawBatches,
    batches: &[Vec<String>],
) -> Result<Duration, CliError> {
    conn.prepare_cached(SQLITE_ENQUEUE).map_err(raw_error)?;
    conn.prepare_cached(SQLITE_INPUT).map_err(raw_error)?;
    let t = Instant::now();
    for ids in batches {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(raw_error)?;
        {
            let mut row = tx.prepare_cached(SQLITE_ENQUEUE).map_err(raw_error)?;
            let mut input = tx.prepare_cached(SQLITE_INPUT).map_err(raw_error)?;
            let now = now_epoch_ms();
            for id in ids {
                row.execute(rusqlite::params![id, what.name, what.queue, now])
                    .map_err(raw_error)?;
                input
                    .execute(rusqlite::params![id, what.input, now])
                    .map_err(raw_error)?;
            }
        }
        tx.commit().map_err(raw_error)?;
    }
    Ok(t.elapsed())
}

#[cfg(test)]
mod tests {
    use dbos_storage::sqlite::{SqliteConfig, SqliteStore};
    use dbos_storage::{LifecycleStore, WorkflowStatus, WorkflowStore};

    use super::*;

    /// On a migrated SQLite file, the raw batches land `ENQUEUED` on their queue with their
    /// name and input, one row per id, readable through the store.
    #[tokio::test]
    async fn raw_batches_write_enqueued_rows_with_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig::file(dir.path().join("e.sqlite"));
        let store = SqliteStore::open(config).await.unwrap();
        store.migrate().await.unwrap();
        let raw = RawEnqueues::open(&Native::Sqlite(store.clone()))
            .await
            .unwrap();
        let what = RawBatches {
            queue: "raw-q".into(),
            name: "raw_enqueued".into(),
            input: r#"{"json":"[1]"}"#.into(),
        };
        let ids = ["a", "b", "c"].map(str::to_owned);
        let batches = vec![ids[..2].to_vec(), ids[2..].to_vec()];
        raw.enqueue(&what, &batches).await.unwrap();
        let rows = store.get_workflows(&ids).await.unwrap();
        assert_eq!(rows.len(), 3, "{rows:?}");
        for row in rows {
            assert_eq!(row.status, WorkflowStatus::Enqueued);
            assert_eq!(row.queue_name.as_deref(), Some("raw-q"));
            assert_eq!(row.name, "raw_enqueued");
            assert_eq!(row.inputs.as_deref(), Some(what.input.as_str()));
        }
    }
}
