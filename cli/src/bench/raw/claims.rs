//! The raw database claiming queued workflows, for `bench --scale`'s first-queue claim figure:
//! the oldest `ENQUEUED` rows of one queue, by priority and creation time (the rows the store's
//! claims take; the SQLite store also breaks ties of both by id) flipped to `PENDING` by one
//! plain hand-written statement per claim, on native connections of the driver opened as
//! [`super::RawReads`] opens its own (SQLite: one, with the store's pragmas; PostgreSQL: one
//! per worker, with the store's TLS and session settings).
//! Measured on the empty database and on the big one, its ratio big/empty is the database's own
//! cost of claiming rows scattered over a big table, next to the store's ratio.
//!
//! The statement selects in the order of DBOS's in-flight index, `(queue_name, status,
//! priority, created_at)` (ordering by the id as well would sort the whole queue on every claim
//! of an unanalyzed table), repeats the index's predicate (SQLite uses a partial index only
//! then) and, on PostgreSQL, skips rows another worker holds, as the store's claims do. It does
//! none of the store's limit checks: with no limit on the queue those read nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbos_storage::postgres::tokio_postgres::Client;
use dbos_storage::sqlite::rusqlite;
use dbos_storage::{new_token, now_epoch_ms};
use futures::future::join_all;

use super::{raw_error, sqlite_connection};
use crate::connect::Native;
use crate::error::CliError;

// language=SQL
/// Claims the first `$2` `ENQUEUED` rows of queue `$1` for executor `$3` at version `$4` with
/// owner token `$5` at `$6` (epoch ms); returns their ids. `{schema}` is the quoted schema with
/// its dot (empty on SQLite); `{skip_locked}` the row lock of PostgreSQL's selection.
const CLAIM: &str = "\
WITH head AS (
    SELECT workflow_uuid FROM {schema}workflow_status
    WHERE queue_name = $1 AND status = 'ENQUEUED' AND status IN ('ENQUEUED', 'PENDING')
    ORDER BY priority, created_at
    LIMIT $2{skip_locked})
UPDATE {schema}workflow_status
SET status = 'PENDING', executor_id = $3, application_version = $4, owner_xid = $5,
    started_at_epoch_ms = $6, updated_at = $6,
    recovery_attempts = COALESCE(recovery_attempts, 0) + 1
WHERE workflow_uuid IN (SELECT workflow_uuid FROM head)
RETURNING workflow_uuid";

/// PostgreSQL's row lock on the selected rows: concurrent claimers pass each other's rows.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// How long a worker may find nothing to claim before the raw drain gives up.
const STALL: Duration = Duration::from_secs(20);

/// Native connections of the bench's database that claim queued rows.
pub(in crate::bench) enum RawClaims {
    /// One connection with the store's pragmas (SQLite has one writer), used from a blocking
    /// thread.
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    /// One dedicated connection per worker with the store's settings, and the quoted schema
    /// with its dot.
    Postgres {
        clients: Vec<Client>,
        schema: String,
    },
}

/// Who the raw claims claim for, and how much at a time.
#[derive(Debug, Clone)]
pub(in crate::bench) struct RawClaimer {
    /// The queue claimed from.
    pub(in crate::bench) queue: String,
    /// The executor written on claimed rows.
    pub(in crate::bench) executor: String,
    /// The application version written on claimed rows.
    pub(in crate::bench) version: String,
    /// The most rows one claim takes.
    pub(in crate::bench) batch: u32,
}

impl RawClaims {
    /// Opens the native connections: one on SQLite, `workers` (at least one) on PostgreSQL.
    pub(in crate::bench) async fn open(
        native: &Native,
        workers: usize,
    ) -> Result<RawClaims, CliError> {
        match native {
            Native::Sqlite(store) => sqlite_connection(store).await.map(RawClaims::Sqlite),
            Native::Postgres(store) => {
                let mut clients = Vec::with_capacity(workers.max(1));
                for _ in 0..workers.max(1) {
                    clients.push(store.native_connection().await?);
                }
                let schema = format!("{}.", dbos_storage::url::quote_identifier(store.schema()));
                Ok(RawClaims::Postgres { clients, schema })
            }
        }
    }

    /// Claims at least `n` rows for `claimer` (each connection claiming in a loop until `n` are
    /// taken; the last round may take a few more) and returns how long it took and how many
    /// were taken. Fails when the queue stays empty for [`STALL`].
    pub(in crate::bench) async fn drain(
        &self,
        claimer: &RawClaimer,
        n: usize,
    ) -> Result<(Duration, usize), CliError> {
        match self {
            RawClaims::Sqlite(conn) => {
                let (conn, claimer) = (Arc::clone(conn), claimer.clone());
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().map_err(raw_error)?;
                    sqlite_drain(&conn, &claimer, n)
                })
                .await
                .map_err(raw_error)?
            }
            RawClaims::Postgres { clients, schema } => {
                let text = CLAIM
                    .replace("{schema}", schema)
                    .replace("{skip_locked}", SKIP_LOCKED);
                // Prepared before the clock starts, as the SQLite side's statement is.
                let prepared = join_all(clients.iter().map(|client| client.prepare(&text))).await;
                let mut statements = Vec::with_capacity(clients.len());
                for stmt in prepared {
                    statements.push(stmt.map_err(raw_error)?);
                }
                let claimed = AtomicUsize::new(0);
                let claimed = &claimed;
                let t = Instant::now();
                let workers = clients
                    .iter()
                    .zip(&statements)
                    .map(|(client, stmt)| async move {
                        let batch = i64::from(claimer.batch);
                        let mut idle_since: Option<Instant> = None;
                        while claimed.load(Ordering::SeqCst) < n {
                            let rows = client
                                .query(
                                    stmt,
                                    &[
                                        &claimer.queue,
                                        &batch,
                                        &claimer.executor,
                                        &claimer.version,
                                        &new_token(),
                                        &now_epoch_ms(),
                                    ],
                                )
                                .await
                                .map_err(raw_error)?;
                            if rows.is_empty() {
                                stalled(&mut idle_since, &claimer.queue)?;
                                tokio::time::sleep(Duration::from_millis(1)).await;
                                continue;
                            }
                            idle_since = None;
                            claimed.fetch_add(rows.len(), Ordering::SeqCst);
                        }
                        Ok::<_, CliError>(())
                    });
                for worker in join_all(workers).await {
                    worker?;
                }
                Ok((t.elapsed(), claimed.load(Ordering::SeqCst)))
            }
        }
    }
}

/// The SQLite side of [`RawClaims::drain`]: one claim after the other on the one connection.
fn sqlite_drain(
    conn: &rusqlite::Connection,
    claimer: &RawClaimer,
    n: usize,
) -> Result<(Duration, usize), CliError> {
    let text = CLAIM.replace("{schema}", "").replace("{skip_locked}", "");
    let mut stmt = conn.prepare_cached(&text).map_err(raw_error)?;
    let mut claimed = 0;
    let mut idle_since: Option<Instant> = None;
    let t = Instant::now();
    while claimed < n {
        let taken = stmt
            .query_map(
                rusqlite::params![
                    claimer.queue,
                    claimer.batch,
                    claimer.executor,
                    claimer.version,
                    new_token(),
                    now_epoch_ms(),
                ],
                |r| r.get::<_, String>(0),
            )
            .map_err(raw_error)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(raw_error)?
            .len();
        if taken == 0 {
            stalled(&mut idle_since, &claimer.queue)?;
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        idle_since = None;
        claimed += taken;
    }
    Ok((t.elapsed(), claimed))
}

/// An error once a worker has found nothing to claim for [`STALL`] (counting from the first
/// empty claim in a row, which `idle_since` remembers).
fn stalled(idle_since: &mut Option<Instant>, queue: &str) -> Result<(), CliError> {
    let since = *idle_since.get_or_insert_with(Instant::now);
    if since.elapsed() > STALL {
        return Err(CliError::new(format!(
            "the raw claims found the queue {queue} empty for {} s",
            STALL.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use dbos_storage::sqlite::{SqliteConfig, SqliteStore};
    use dbos_storage::{
        LifecycleStore, NewWorkflow, Payload, QueueStore, WorkflowStatus, WorkflowStore,
    };

    use super::*;

    /// On a migrated SQLite file the raw claims take the queue's rows in dequeue order
    /// (priority, then creation), a batch at a time until `n` are taken, flip them to `PENDING`
    /// for their executor, and leave the rest of the queue and other queues alone.
    #[tokio::test]
    async fn raw_claims_take_the_queue_s_oldest_rows_a_batch_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig::file(dir.path().join("c.sqlite"));
        let store = SqliteStore::open(config).await.unwrap();
        store.migrate().await.unwrap();
        let queued = |id: &str, queue: &str, priority: i32| {
            NewWorkflow::new(id, "raw_claimed", Payload::portable_json("[]"))
                .enqueued(queue)
                .with_priority(priority)
                .with_application_version("v1")
        };
        // One at a time, so that creation order is insertion order.
        for w in [
            queued("c-0", "raw-q", 1),
            queued("c-1", "raw-q", 0),
            queued("other", "other-q", 0),
            queued("c-2", "raw-q", 0),
            queued("c-3", "raw-q", 1),
            queued("c-4", "raw-q", 0),
        ] {
            store.enqueue_workflows(vec![w]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let raw = RawClaims::open(&Native::Sqlite(store.clone()), 4)
            .await
            .unwrap();
        let claimer = RawClaimer {
            queue: "raw-q".into(),
            executor: "raw-executor".into(),
            version: "v1".into(),
            batch: 2,
        };
        let (_, taken) = raw.drain(&claimer, 3).await.unwrap();
        assert_eq!(taken, 4, "two batches of two");
        let ids: Vec<String> = ["c-0", "c-1", "c-2", "c-3", "c-4", "other"]
            .map(String::from)
            .to_vec();
        let rows = store.get_workflows(&ids).await.unwrap();
        let status = |id: &str| {
            let row = rows.iter().find(|r| r.workflow_id == id).unwrap();
            (row.status.clone(), row.executor_id.clone())
        };
        let claimed = (WorkflowStatus::Pending, Some("raw-executor".to_owned()));
        // Priority 0 (c-1, c-2, c-4) first, then the older of priority 1.
        for id in ["c-1", "c-2", "c-4", "c-0"] {
            assert_eq!(status(id), claimed, "{id}");
        }
        for id in ["c-3", "other"] {
            assert_eq!(status(id).0, WorkflowStatus::Enqueued, "{id}");
        }
        store.close().await.unwrap();
    }
}
