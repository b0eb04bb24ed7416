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
        let deleted = self
            .write(move |tx, q| {
                Box::pin(async move {
                    fence(tx, &q, &lease).await?;
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
        // One snapshot for the window's end and its three deletes: at READ COMMITTED a row
        // committed in between could push an orphan of the window past a delete's limit.
        self.write_at(Isolation::RepeatableRead, move |tx, q| {
            let from = from.clone();
            Box::pin(async move {
                fence(tx, &q, &lease).await?;
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
    use dbos_storage_core::LifecycleStore;

    use crate::store::plan_check::{fresh_store, rows_read};

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
}
