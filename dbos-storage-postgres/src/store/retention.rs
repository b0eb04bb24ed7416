//! Retention on PostgreSQL (called by the [`ManagementStore`] implementation): maintenance
//! leases as conditional upserts of a `queues` row (no advisory locks, which CockroachDB lacks),
//! the selection of collectable workflows, and the fenced deletes.
//!
//! [`ManagementStore`]: dbos_storage_core::ManagementStore

use dbos_storage_core::management::{
    lease_lost, Lease, LeaseState, OrphanSweep, RetentionPolicy, LEASE_APPLICATION,
};
use dbos_storage_core::{validate, Error, ErrorKind, Result};
use dbos_storage_driver_kit::decisions::cancel_resume::{distinct, in_order_of};
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

    /// [`ManagementStore::collectable_workflows`](dbos_storage_core::ManagementStore::collectable_workflows).
    pub(super) async fn collectable(
        &self,
        policy: RetentionPolicy,
        limit: u32,
    ) -> Result<Vec<String>> {
        policy.validate()?;
        let client = self.client().await?;
        let keep_newest = policy
            .keep_newest
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = client
            .query(
                self.queries().select_collectable.as_str(),
                &[&policy.completed_before, &keep_newest, &i64::from(limit)],
            )
            .await
            .map_err(classify)?;
        rows.iter().map(|r| col(r, 0)).collect()
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

    /// [`ManagementStore::sweep_orphans`](dbos_storage_core::ManagementStore::sweep_orphans).
    pub(super) async fn sweep(&self, lease: &Lease, limit: u32) -> Result<OrphanSweep> {
        lease.validate()?;
        let lease = lease.clone();
        let limit = i64::from(limit);
        self.write(move |tx, q| {
            Box::pin(async move {
                fence(tx, &q, &lease).await?;
                let mut counts = [0u64; 3];
                for (n, statement) in [
                    &q.sweep_orphan_inputs,
                    &q.sweep_orphan_outputs,
                    &q.sweep_orphan_steps,
                ]
                .into_iter()
                .enumerate()
                {
                    counts[n] = tx
                        .execute(statement.as_str(), &[&limit])
                        .await
                        .map_err(classify)?;
                }
                Ok(OrphanSweep::new(counts[0], counts[1], counts[2]))
            })
        })
        .await
    }
}
