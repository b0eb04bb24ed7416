//! Retention on PostgreSQL (called by the [`ManagementStore`] implementation): maintenance
//! leases as conditional upserts of a `queues` row (no advisory locks, which CockroachDB lacks),
//! the selection of collectable workflows, and the fenced deletes.
//!
//! [`ManagementStore`]: dbos_storage_core::ManagementStore

use dbos_storage_core::management::{
    lease_lost, validate_collection_window, validate_sweep_window, CollectableWindow,
    CreationPosition, Lease, LeaseState, OrphanSweep, OrphanSweepWindow, RetentionPolicy,
    LEASE_APPLICATION,
};
use dbos_storage_core::{validate, Error, ErrorKind, Isolation, Result};
use dbos_storage_driver_kit::decisions::cancel_resume::{distinct, in_order_of};
use dbos_storage_driver_kit::decisions::collection_windows::window_of;
use tokio_postgres::{Row, Transaction};

use super::management::delete_workflow_rows;
use super::{col, select_ids, PostgresStore, Queries};
use crate::error::{classify, BACKEND};
use crate::sql;

/// Takes or renews `lease` inside `tx`; returns the lease row when the caller holds it now.
async fn take(tx: &Transaction<'_>, q: &Queries, lease: &Lease) -> Result<Option<Row>> {
    tx.query_opt(
        q.take_lease.as_str(),
        &[
            &lease.row_id(),
            &lease.row_name(),
            &LEASE_APPLICATION,
            &lease.ttl_ms(),
        ],
    )
    .await
    .map_err(classify)
}

/// The lease state a lease row `(queue_id, updated_at)` stands for.
fn state_of(lease: &Lease, row: &Row, acquired: bool) -> Result<LeaseState> {
    let queue_id: String = col(row, 0)?;
    let expires_at: i64 = col(row, 1)?;
    Ok(LeaseState::new(
        acquired,
        Lease::holder_of(&lease.row_name(), &queue_id),
        expires_at,
    ))
}

/// Renews `lease` inside the transaction of a fenced write, or fails it (the transaction then
/// rolls back) when another holder has the lease.
async fn fence(tx: &Transaction<'_>, q: &Queries, lease: &Lease) -> Result<()> {
    match take(tx, q, lease).await? {
        Some(_) => Ok(()),
        None => Err(lease_lost(lease).with_backend(BACKEND)),
    }
}

/// Starts a collector transaction: lets it commit without waiting for its WAL flush where the
/// dialect allows ([`Dialect::collector_skips_commit_flush`](crate::Dialect::collector_skips_commit_flush)),
/// then checks that `lease` is still held.
async fn begin_collector_work(
    tx: &Transaction<'_>,
    q: &Queries,
    lease: &Lease,
    skip_commit_flush: bool,
) -> Result<()> {
    if skip_commit_flush {
        tx.batch_execute(sql::retention::SKIP_COMMIT_FLUSH)
            .await
            .map_err(classify)?;
    }
    fence(tx, q, lease).await
}

impl PostgresStore {
    /// [`ManagementStore::acquire_lease`](dbos_storage_core::ManagementStore::acquire_lease).
    pub(super) async fn take_lease(&self, lease: &Lease) -> Result<LeaseState> {
        lease.validate()?;
        let lease = lease.clone();
        self.write(move |tx, q| {
            Box::pin(async move {
                // At most twice: the holder may release the lease between the upsert that
                // found it held and the read of its holder; the second upsert then takes it.
                for _ in 0..2 {
                    if let Some(row) = take(tx, &q, &lease).await? {
                        return state_of(&lease, &row, true);
                    }
                    let held = tx
                        .query_opt(q.select_lease.as_str(), &[&lease.row_name()])
                        .await
                        .map_err(classify)?;
                    if let Some(row) = held {
                        return state_of(&lease, &row, false);
                    }
                }
                Err(Error::new(
                    ErrorKind::Contention,
                    format!(
                        "the {:?} lease is being taken and released concurrently; retry",
                        lease.name
                    ),
                )
                .with_backend(BACKEND))
            })
        })
        .await
    }

    /// [`ManagementStore::release_lease`](dbos_storage_core::ManagementStore::release_lease).
    pub(super) async fn give_up_lease(&self, lease: &Lease) -> Result<bool> {
        lease.validate()?;
        let client = self.client().await?;
        let row = client
            .query_opt(
                self.queries().release_lease.as_str(),
                &[&lease.row_name(), &lease.row_id()],
            )
            .await
            .map_err(classify)?;
        Ok(row.is_some())
    }

    fn skips_collector_commit_flush(&self) -> bool {
        self.inner.config.dialect().collector_skips_commit_flush()
    }

    /// [`ManagementStore::collectable_workflows`](dbos_storage_core::ManagementStore::collectable_workflows):
    /// one statement reads the window and the first workflow after it.
    pub(super) async fn collectable(
        &self,
        policy: RetentionPolicy,
        from: Option<&CreationPosition>,
        limit: u32,
    ) -> Result<CollectableWindow> {
        policy.validate()?;
        validate_collection_window(from, limit)?;
        let client = self.client().await?;
        let keep_newest = policy
            .keep_newest
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        // The first window starts before every position: i64::MIN and '', which sorts first in
        // every collation.
        let (from_created_at, from_id) =
            from.map_or((i64::MIN, ""), |p| (p.created_at, p.workflow_id.as_str()));
        let rows = client
            .query(
                self.queries().select_collectable.as_str(),
                &[
                    &policy.completed_before,
                    &keep_newest,
                    &i64::from(limit),
                    &from_created_at,
                    &from_id,
                ],
            )
            .await
            .map_err(classify)?;
        let mut walked = Vec::with_capacity(rows.len());
        for row in &rows {
            let created_at: i64 = col(row, 0)?;
            let id: String = col(row, 1)?;
            let collectable: bool = col(row, 2)?;
            walked.push((CreationPosition::new(created_at, id), collectable));
        }
        Ok(window_of(walked, limit))
    }

    /// [`ManagementStore::delete_collected`](dbos_storage_core::ManagementStore::delete_collected).
    pub(super) async fn delete_fenced(
        &self,
        lease: &Lease,
        workflow_ids: &[String],
    ) -> Result<Vec<String>> {
        lease.validate()?;
        validate::workflow_ids(workflow_ids)?;
        let lease = lease.clone();
        let ids = distinct(workflow_ids);
        let skip_commit_flush = self.skips_collector_commit_flush();
        let deleted = self
            .write(move |tx, q| {
                Box::pin(async move {
                    begin_collector_work(tx, &q, &lease, skip_commit_flush).await?;
                    let finished = select_ids(tx, &q.lock_finished, &ids).await?;
                    let finished = in_order_of(&ids, finished.into_iter().collect());
                    delete_workflow_rows(tx, &q, &finished).await
                })
            })
            .await?;
        if !deleted.is_empty() {
            self.wake().notify();
        }
        Ok(deleted)
    }

    /// [`ManagementStore::sweep_orphans`](dbos_storage_core::ManagementStore::sweep_orphans):
    /// finds the window's end, then sweeps each payload table within it, in one REPEATABLE READ
    /// transaction (one snapshot).
    pub(super) async fn sweep(
        &self,
        lease: &Lease,
        from: Option<&str>,
        limit: u32,
    ) -> Result<OrphanSweepWindow> {
        lease.validate()?;
        validate_sweep_window(from, limit)?;
        let lease = lease.clone();
        // '' sorts first in every collation: the first window starts at the first id.
        let from = from.unwrap_or_default().to_owned();
        let limit = i64::from(limit);
        let skip_commit_flush = self.skips_collector_commit_flush();
        // One snapshot for the window's end and its three deletes: at READ COMMITTED a row
        // committed in between could push an orphan of the window past a delete's limit.
        self.write_at(Isolation::RepeatableRead, move |tx, q| {
            let from = from.clone();
            Box::pin(async move {
                begin_collector_work(tx, &q, &lease, skip_commit_flush).await?;
                let end: Option<String> = tx
                    .query_one(q.sweep_window_end.as_str(), &[&from, &limit])
                    .await
                    .map_err(classify)?
                    .get(0);
                let mut counts = [0u64; 3];
                for (count, statement) in counts.iter_mut().zip([
                    &q.sweep_orphan_inputs,
                    &q.sweep_orphan_outputs,
                    &q.sweep_orphan_steps,
                ]) {
                    *count = tx
                        .execute(statement.as_str(), &[&from, &limit, &end])
                        .await
                        .map_err(classify)?;
                }
                Ok(OrphanSweepWindow::new(
                    OrphanSweep::new(counts[0], counts[1], counts[2]),
                    end,
                ))
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dbos_storage_core::management::{DeleteOptions, Lease};
    use dbos_storage_core::{LifecycleStore, ManagementStore};

    use crate::store::plan_check::{fresh_store, rows_read, RowsRead};

    /// The commit mode each delete ran under, as the server saw it: a statement trigger on the
    /// status and input tables notes `synchronous_commit` (with the table) into a side table.
    const NOTE_COMMIT_MODES: &str = "
        CREATE TABLE public.commit_modes (seq serial, tbl text, mode text);
        CREATE FUNCTION public.note_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.commit_modes (tbl, mode)
            VALUES (TG_TABLE_NAME, current_setting('synchronous_commit'));
            RETURN NULL;
        END $$;
        CREATE TRIGGER note_commit_mode AFTER DELETE ON dbos.workflow_status
            FOR EACH STATEMENT EXECUTE FUNCTION public.note_commit_mode();
        CREATE TRIGGER note_commit_mode AFTER DELETE ON dbos.workflow_input
            FOR EACH STATEMENT EXECUTE FUNCTION public.note_commit_mode();
        INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at)
        VALUES ('collected', 'SUCCESS', 'f', 1), ('deleted', 'SUCCESS', 'f', 2);
        INSERT INTO dbos.workflow_input (workflow_uuid, inputs)
        VALUES ('collected', '[]'), ('deleted', '[]'), ('orphan', '[]');
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET synchronous_commit = on', current_database());
        END $$;";

    /// The modes noted since the last call, in order, and forgets them.
    async fn commit_modes(store: &crate::PostgresStore) -> Vec<(String, String)> {
        let client = store.client().await.unwrap();
        let rows = client
            .query(
                "DELETE FROM public.commit_modes RETURNING seq, tbl, mode",
                &[],
            )
            .await
            .unwrap();
        let mut modes: Vec<(i32, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        modes.sort();
        modes.into_iter().map(|(_, t, m)| (t, m)).collect()
    }

    /// The collector's deletes, a batch and an orphan sweep, run with `synchronous_commit` off
    /// (`Dialect::collector_skips_commit_flush`), and only they: a `delete_workflows` on the
    /// same store still commits durably. (The test clusters run with `synchronous_commit` off,
    /// so the database's default is set back on, and the store reopened to take it.)
    #[tokio::test]
    async fn only_the_collector_commits_without_the_flush() {
        let store = fresh_store("collector_commit_mode").await;
        store
            .client()
            .await
            .unwrap()
            .batch_execute(NOTE_COMMIT_MODES)
            .await
            .unwrap();
        let config = store.config().clone();
        store.close().await.unwrap();
        let store = crate::PostgresStore::open(config).await.unwrap();
        let off = |tbl: &str| (tbl.to_owned(), "off".to_owned());
        let on = |tbl: &str| (tbl.to_owned(), "on".to_owned());
        let lease = Lease::new("gc", "collector-1", Duration::from_secs(60));
        assert!(store.acquire_lease(&lease).await.unwrap().acquired);

        let deleted = store
            .delete_collected(&lease, &["collected".to_owned()])
            .await
            .unwrap();
        assert_eq!(deleted, ["collected"]);
        let modes = commit_modes(&store).await;
        assert!(
            !modes.is_empty() && modes.iter().all(|m| m.1 == "off"),
            "{modes:?}"
        );
        assert!(modes.contains(&off("workflow_status")), "{modes:?}");

        let swept = store.sweep_orphans(&lease, None, 100).await.unwrap();
        assert_eq!(swept.deleted.inputs, 1, "{swept:?}");
        assert_eq!(commit_modes(&store).await, [off("workflow_input")]);

        let deleted = store
            .delete_workflows(&["deleted".to_owned()], DeleteOptions::default())
            .await
            .unwrap();
        assert_eq!(deleted, ["deleted"]);
        let modes = commit_modes(&store).await;
        assert!(modes.contains(&on("workflow_status")), "{modes:?}");
        assert!(modes.iter().all(|m| m.1 == "on"), "{modes:?}");
        store.close().await.unwrap();
    }

    /// The sweep's statements read about one window of each payload table, not the tables:
    /// 20,000 workflows with an input, an output and two steps each, of which 5,000 lost their
    /// status rows, never analyzed (autovacuum off), each statement run with a custom and a
    /// generic plan by the server's own count of rows scanned (`EXPLAIN (ANALYZE)`).
    #[tokio::test]
    async fn sweep_statements_read_one_window_not_the_tables() {
        let store = fresh_store("sweep_rows_read").await;
        store
            .client()
            .await
            .unwrap()
            .batch_execute(
                "ALTER TABLE dbos.workflow_status SET (autovacuum_enabled = false);
                 ALTER TABLE dbos.workflow_input SET (autovacuum_enabled = false);
                 ALTER TABLE dbos.workflow_output SET (autovacuum_enabled = false);
                 ALTER TABLE dbos.operation_outputs SET (autovacuum_enabled = false);
                 INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at)
                 SELECT 'w' || lpad(g::text, 5, '0'), 'SUCCESS', 'f', g
                 FROM generate_series(1, 20000) g WHERE g NOT BETWEEN 5001 AND 10000;
                 INSERT INTO dbos.workflow_input (workflow_uuid, inputs)
                 SELECT 'w' || lpad(g::text, 5, '0'), '[]' FROM generate_series(1, 20000) g;
                 INSERT INTO dbos.workflow_output (workflow_uuid, output)
                 SELECT 'w' || lpad(g::text, 5, '0'), '1' FROM generate_series(1, 20000) g;
                 INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name)
                 SELECT 'w' || lpad(g::text, 5, '0'), f, 's'
                 FROM generate_series(1, 20000) g, generate_series(1, 2) f;",
            )
            .await
            .unwrap();
        let q = store.queries();
        let window = 100;
        // A window of live workflows, one of orphans, and the last one from the orphans on.
        let cases = [
            (q.sweep_window_end.as_str(), "'', 100"),
            (q.sweep_window_end.as_str(), "'w06000', 100"),
            (q.sweep_orphan_inputs.as_str(), "'w00001', 100, 'w00101'"),
            (q.sweep_orphan_outputs.as_str(), "'w06000', 100, 'w06100'"),
            (q.sweep_orphan_steps.as_str(), "'w06000', 100, 'w06100'"),
            (q.sweep_orphan_steps.as_str(), "'w19950', 100, NULL"),
        ];
        for (statement, args) in cases {
            for (counted, plan) in rows_read(&store, statement, args).await {
                // Each table's scan stops one past the window; each candidate probes its status
                // row once; operation_outputs holds two rows per workflow.
                let most = 3 * 2 * (window + 1) + window;
                assert!(
                    counted.read_of_all_tables <= most,
                    "read {} rows (at most {most}):\n{statement}\n{plan}",
                    counted.read_of_all_tables
                );
            }
        }
        store.close().await.unwrap();
    }

    /// The rows and buffers each plan of `statement` for `args` read, printed as the test's
    /// record of what it observed.
    async fn observed(
        store: &crate::PostgresStore,
        what: &str,
        statement: &str,
        args: &str,
    ) -> Vec<(RowsRead, String)> {
        let runs = rows_read(store, statement, args).await;
        for ((counted, _), plan) in runs.iter().zip(["custom", "generic"]) {
            eprintln!(
                "{what} ({plan} plan): {} rows of workflow_status read, {} returned, {} buffers",
                counted.read, counted.returned, counted.blocks
            );
        }
        runs
    }

    /// The selection of a collection window reads about one window of the creation-time index
    /// whatever earlier batches deleted, where a walk from the oldest row reads every dead
    /// index entry they left: 60,000 finished workflows, two per millisecond, of which earlier
    /// batches deleted the oldest 50,000 (autovacuum off, so their index entries stay), on a
    /// never-analyzed and then an analyzed table, each statement run with a custom and a
    /// generic plan, by the server's own count of rows and buffers (`EXPLAIN (ANALYZE,
    /// BUFFERS)`), no timings.
    ///
    /// Observed on PostgreSQL 15: a window of 100 from a cursor reads 102 or 103 rows and 5
    /// buffers (35 with `keep_newest(1000)`, whose cut reads 1,001 rows once), on every plan;
    /// the same window from the oldest row (what every batch read before the cursor) reads the
    /// same rows but 926 buffers the first time (the heap of each dead row) and 128 once those
    /// entries are marked dead (the index pages alone), growing with every batch deleted.
    #[tokio::test]
    async fn a_collection_window_reads_one_window_past_deleted_batches() {
        let store = fresh_store("collect_window").await;
        let client = store.client().await.unwrap();
        client
            .batch_execute(
                "ALTER TABLE dbos.workflow_status SET (autovacuum_enabled = false);
                 INSERT INTO dbos.workflow_status
                     (workflow_uuid, status, name, created_at, updated_at, completed_at)
                 SELECT 'w' || lpad(g::text, 6, '0'), 'SUCCESS', 'f',
                     1000 + g / 2, 1000 + g / 2, 1000 + g / 2
                 FROM generate_series(1, 60000) g;
                 DELETE FROM dbos.workflow_status WHERE workflow_uuid <= 'w050000';",
            )
            .await
            .unwrap();
        let statement = store.queries().select_collectable.clone();
        let window = 100;
        // Arguments: cutoff, keep_newest, limit, and the window's start (created_at, id). The
        // first live workflow, w050001, shares its millisecond with the deleted w050000.
        let cursored = [
            (
                "cutoff, from the first live row",
                "1000000, NULL, 100, 26000, 'w050001'",
            ),
            (
                "cutoff, from the middle",
                "1000000, NULL, 100, 30000, 'w058000'",
            ),
            (
                "keep 1,000, from the first live row",
                "NULL, 1000, 100, 26000, 'w050001'",
            ),
        ];
        let uncursored = "1000000, NULL, 100, -9223372036854775808, ''";
        for analyzed in [false, true] {
            if analyzed {
                client
                    .batch_execute("ANALYZE dbos.workflow_status")
                    .await
                    .unwrap();
            }
            let state = if analyzed {
                "analyzed"
            } else {
                "never analyzed"
            };
            let from_start = observed(
                &store,
                &format!("from the start, {state}"),
                &statement,
                uncursored,
            )
            .await;
            for (what, args) in cursored {
                let keep = if what.starts_with("keep") { 1_001 } else { 0 };
                for (counted, plan) in
                    observed(&store, &format!("{what}, {state}"), &statement, args).await
                {
                    // One window and the row after it, the one of the start's millisecond
                    // before it, the first of the next millisecond (where the sort of a tie
                    // group stops), and (under keep_newest) the kept rows read once for the cut.
                    let most = window + 3 + keep;
                    assert!(
                        counted.read <= most,
                        "{what}, {state}: read {} rows (at most {most}):\n{plan}",
                        counted.read
                    );
                    assert_eq!(counted.returned, window + 1, "{plan}");
                    assert!(
                        plan.contains("\"Index Name\": \"workflow_status_created_at_index\"")
                            && plan.contains("\"Index Cond\": \"(created_at >="),
                        "{what}, {state}: the walk seeks the creation-time index:\n{plan}"
                    );
                    // A few index pages for the descent and the window, and the heap pages of
                    // about 100 rows (the cut's 1,001 rows take about 20 more).
                    let most_blocks = if keep > 0 { 60 } else { 20 };
                    assert!(
                        counted.blocks <= most_blocks,
                        "{what}, {state}: {} buffers (at most {most_blocks}):\n{plan}",
                        counted.blocks
                    );
                    for (start, _) in from_start.iter().filter(|_| keep == 0) {
                        assert!(
                            start.blocks >= 5 * counted.blocks.max(1),
                            "from the start, {state}, the walk reads the 50,000 dead entries: \
                             {} buffers against {} from the cursor",
                            start.blocks,
                            counted.blocks
                        );
                    }
                }
            }
        }
        store.close().await.unwrap();
    }

    /// The current transaction's counts of each table of the `dbos` schema, as the server
    /// keeps them until they are flushed (`pg_stat_xact_user_tables`): sequential scans, rows
    /// they read, rows fetched by index, rows deleted.
    async fn transaction_counts(
        client: &tokio_postgres::Client,
    ) -> std::collections::BTreeMap<String, [i64; 4]> {
        client
            .query(
                "SELECT relname::text, seq_scan, seq_tup_read, COALESCE(idx_tup_fetch, 0),
                     n_tup_del
                 FROM pg_stat_xact_user_tables WHERE schemaname = 'dbos'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), [row.get(1), row.get(2), row.get(3), row.get(4)]))
            .collect()
    }

    /// A collection batch's transaction touches the rows of its own workflows only, whatever
    /// the tables hold: 20,000 finished workflows with an input, an output, two steps, a
    /// message, an event, an event-history row and a stream value each (autovacuum off), a
    /// batch of 100 run as `delete_collected` runs it (lease fence, lock of the finished ones,
    /// the payload deletes, the status delete and the cascades of its foreign keys), on a
    /// never-analyzed and then an analyzed table. The server's own counts for the transaction
    /// (`pg_stat_xact_user_tables`, which include the cascades' scans) show no sequential scan
    /// of any table and about one index fetch per row deleted, no timings.
    ///
    /// Observed on PostgreSQL 15: each table fetches exactly its rows of the batch by index
    /// (`workflow_status` twice: the lock and the delete), on both tables. Before the steps'
    /// delete carried the bounds of its id list, the never-analyzed case scanned all 40,000 rows
    /// of `operation_outputs` for the 200 it deleted, in every batch.
    #[tokio::test]
    async fn a_collection_batch_touches_only_its_own_rows() {
        use dbos_storage_core::management::{Lease, LEASE_APPLICATION};

        let store = fresh_store("collect_batch").await;
        let client = store.client().await.unwrap();
        let mut setup = String::new();
        for table in [
            "workflow_status",
            "workflow_input",
            "workflow_output",
            "operation_outputs",
            "notifications",
            "workflow_events",
            "workflow_events_history",
            "streams",
        ] {
            setup.push_str(&format!(
                "ALTER TABLE dbos.{table} SET (autovacuum_enabled = false);"
            ));
        }
        setup.push_str(
            "CREATE TEMP TABLE g AS
                 SELECT n, 'w' || lpad(n::text, 6, '0') AS id FROM generate_series(1, 20000) n;
             INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at)
                 SELECT id, 'SUCCESS', 'f', n FROM g;
             INSERT INTO dbos.workflow_input (workflow_uuid, inputs) SELECT id, '[]' FROM g;
             INSERT INTO dbos.workflow_output (workflow_uuid, output) SELECT id, '1' FROM g;
             INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name)
                 SELECT id, f, 's' FROM g, generate_series(1, 2) f;
             INSERT INTO dbos.notifications (destination_uuid, topic, message)
                 SELECT id, 't', 'm' FROM g;
             INSERT INTO dbos.workflow_events (workflow_uuid, key, value)
                 SELECT id, 'k', 'v' FROM g;
             INSERT INTO dbos.workflow_events_history (workflow_uuid, function_id, key, value)
                 SELECT id, 1, 'k', 'v' FROM g;
             INSERT INTO dbos.streams (workflow_uuid, key, value, \"offset\")
                 SELECT id, 'k', 'v', 0 FROM g;
             DROP TABLE g;",
        );
        client.batch_execute(&setup).await.unwrap();
        let q = store.queries();
        let lease = Lease::new("gc", "plan-test", std::time::Duration::from_secs(60));
        let ids: Vec<String> = (10_001..=10_100).map(|n| format!("w{n:06}")).collect();
        // Rows of the batch: a status row, an input, an output, two steps and one row of each
        // cascaded table per workflow.
        let rows_of_batch = 100 * 9;
        for analyzed in [false, true] {
            if analyzed {
                client.batch_execute("ANALYZE").await.unwrap();
            }
            client.batch_execute("BEGIN").await.unwrap();
            let before = transaction_counts(&client).await;
            let fenced = client
                .query(
                    q.take_lease.as_str(),
                    &[
                        &lease.row_id(),
                        &lease.row_name(),
                        &LEASE_APPLICATION,
                        &lease.ttl_ms(),
                    ],
                )
                .await
                .unwrap();
            assert_eq!(fenced.len(), 1);
            let finished = client
                .query(q.lock_finished.as_str(), &[&ids])
                .await
                .unwrap();
            assert_eq!(finished.len(), 100);
            for statement in [&q.delete_inputs, &q.delete_outputs, &q.delete_steps] {
                client.execute(statement.as_str(), &[&ids]).await.unwrap();
            }
            let deleted = client
                .query(q.delete_statuses.as_str(), &[&ids])
                .await
                .unwrap();
            assert_eq!(deleted.len(), 100);
            let after = transaction_counts(&client).await;
            client.batch_execute("ROLLBACK").await.unwrap();
            let state = if analyzed {
                "analyzed"
            } else {
                "never analyzed"
            };
            let (mut fetched, mut removed) = (0, 0);
            for (table, counts) in &after {
                let was = before.get(table).copied().unwrap_or_default();
                let [seq_scans, seq_read, index_fetched, deleted] =
                    std::array::from_fn(|i| counts[i] - was[i]);
                if index_fetched + deleted + seq_scans > 0 {
                    eprintln!(
                        "{state}: {table}: {seq_scans} sequential scans ({seq_read} rows), \
                         {index_fetched} rows fetched by index, {deleted} deleted"
                    );
                }
                assert_eq!(seq_scans, 0, "{state}: {table} was scanned sequentially");
                fetched += index_fetched;
                removed += deleted;
            }
            assert_eq!(removed, rows_of_batch, "{state}");
            // Each deleted row is found once by its delete, each status row once more by the
            // lock, and the lease row by its upsert.
            let most = rows_of_batch + 100 + 2;
            assert!(
                fetched <= most,
                "{state}: {fetched} rows fetched by index (at most {most})"
            );
        }
        store.close().await.unwrap();
    }
}
