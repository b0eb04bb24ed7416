//! Fork and rewind on PostgreSQL (called by the [`ManagementStore`] implementation): each one
//! transaction, the copies and cuts one statement per table.
//!
//! [`ManagementStore`]: dbos_storage_core::ManagementStore

use std::collections::HashMap;

use dbos_storage_core::management::{
    prepare_forks, ForkRequest, ForkStart, ForkedWorkflow, RewindRequest, RewoundWorkflow,
};
use dbos_storage_core::streams::STREAM_CLOSED_SENTINEL;
use dbos_storage_core::{Error, Result, INTERNAL_QUEUE};
use dbos_storage_driver_kit::decisions::column_values::status_of;
use dbos_storage_driver_kit::decisions::store_errors;
use tokio_postgres::Transaction;

use super::{col, PostgresStore, Queries};
use crate::error::{classify, with_backend};

/// Resolves `start` against the steps recorded for `workflow_id` (read only when needed).
async fn resolve_start(
    tx: &Transaction<'_>,
    q: &Queries,
    workflow_id: &str,
    start: &ForkStart,
) -> Result<i32> {
    if let ForkStart::Step(n) = start {
        return Ok(*n);
    }
    let rows = tx
        .query(q.select_step_outcomes.as_str(), &[&workflow_id])
        .await
        .map_err(classify)?;
    let steps = rows
        .iter()
        .map(|r| Ok((col::<i32>(r, 0)?, col::<String>(r, 1)?, col::<bool>(r, 2)?)))
        .collect::<Result<Vec<_>>>()?;
    start
        .resolve(
            workflow_id,
            steps
                .iter()
                .map(|(id, name, failed)| (*id, name.as_str(), *failed)),
        )
        .map_err(with_backend)
}

/// The error of a fork id taken by a workflow that is not a fork of the same source.
fn fork_id_taken(fork_id: &str) -> Error {
    with_backend(Error::conflict(format!(
        "workflow id {fork_id} is already used by another workflow; choose another fork id"
    )))
}

/// Makes one fork (its source known to exist): the status and input rows, the source's mark,
/// and the copies below the start. Returns the fork.
async fn fork_one(tx: &Transaction<'_>, q: &Queries, r: &ForkRequest) -> Result<ForkedWorkflow> {
    let source = r.source_workflow_id.as_str();
    let Some(fork_id) = r.fork_workflow_id.as_deref() else {
        return Err(Error::invalid_input("a prepared fork has no fork id"));
    };
    let start = resolve_start(tx, q, source, &r.start).await?;
    let queue = r.queue_name.as_deref().unwrap_or(INTERNAL_QUEUE);
    let inserted = tx
        .query_opt(
            q.insert_fork.as_str(),
            &[
                &source,
                &fork_id,
                &queue,
                &r.queue_partition_key,
                &r.application_version,
                &r.workflow_timeout_ms,
                &r.application_name,
            ],
        )
        .await
        .map_err(classify)?;
    let Some(inserted) = inserted else {
        // The id exists: a fork of the same source made by an earlier attempt counts as made.
        let existing = tx
            .query_opt(q.select_forked_from.as_str(), &[&vec![fork_id]])
            .await
            .map_err(classify)?;
        let forked_from: Option<String> = match &existing {
            Some(row) => col(row, 1)?,
            None => None,
        };
        return if forked_from.as_deref() == Some(source) {
            Ok(ForkedWorkflow::new(source, fork_id, start))
        } else {
            Err(fork_id_taken(fork_id))
        };
    };
    let owner: Option<String> = col(&inserted, 0)?;
    // Payload rows have no foreign key: a workflow deleted without them may have left some
    // under this id, and the fork must not replay them.
    tx.execute(q.delete_stale_fork_steps.as_str(), &[&fork_id])
        .await
        .map_err(classify)?;
    tx.execute(q.delete_stale_fork_output.as_str(), &[&fork_id])
        .await
        .map_err(classify)?;
    tx.execute(q.copy_fork_input.as_str(), &[&source, &fork_id])
        .await
        .map_err(classify)?;
    tx.execute(q.mark_forked_from.as_str(), &[&source])
        .await
        .map_err(classify)?;
    if start > 1 {
        let (old, new): (Vec<&str>, Vec<&str>) = r
            .replacement_children
            .iter()
            .map(|(o, n)| (o.as_str(), n.as_str()))
            .unzip();
        tx.execute(
            q.copy_fork_steps.as_str(),
            &[&source, &fork_id, &start, &owner, &old, &new],
        )
        .await
        .map_err(classify)?;
        for statement in [&q.copy_fork_event_history, &q.copy_fork_streams] {
            tx.execute(statement.as_str(), &[&source, &fork_id, &start])
                .await
                .map_err(classify)?;
        }
        tx.execute(q.rebuild_fork_events.as_str(), &[&fork_id])
            .await
            .map_err(classify)?;
    }
    Ok(ForkedWorkflow::new(source, fork_id, start))
}

/// Makes the forks of a prepared batch in `tx`, all or nothing.
pub(super) async fn fork_workflows_tx(
    tx: &Transaction<'_>,
    q: &Queries,
    requests: &[ForkRequest],
) -> Result<Vec<ForkedWorkflow>> {
    let sources: Vec<String> = requests
        .iter()
        .map(|r| r.source_workflow_id.clone())
        .collect();
    let known: HashMap<String, Option<String>> = tx
        .query(q.select_forked_from.as_str(), &[&sources])
        .await
        .map_err(classify)?
        .iter()
        .map(|row| Ok((col(row, 0)?, col(row, 1)?)))
        .collect::<Result<_>>()?;
    if let Some(missing) = requests
        .iter()
        .find(|r| !known.contains_key(&r.source_workflow_id))
    {
        return Err(with_backend(store_errors::missing_workflow(
            &missing.source_workflow_id,
        )));
    }
    let mut forks = Vec::with_capacity(requests.len());
    for r in requests {
        forks.push(fork_one(tx, q, r).await?);
    }
    Ok(forks)
}

/// Rewinds a finished workflow in `tx`.
pub(super) async fn rewind_workflow_tx(
    tx: &Transaction<'_>,
    q: &Queries,
    request: &RewindRequest,
) -> Result<RewoundWorkflow> {
    let id = request.workflow_id.as_str();
    let row = tx
        .query_opt(q.lock_workflow_status.as_str(), &[&id])
        .await
        .map_err(classify)?
        .ok_or_else(|| with_backend(store_errors::missing_workflow(id)))?;
    let stored: Option<String> = col(&row, 0)?;
    let previous = status_of(stored.as_deref());
    if !previous.is_terminal() {
        return Err(with_backend(Error::conflict(format!(
            "workflow {id} is {}; only a finished workflow can be rewound",
            previous.as_str()
        ))));
    }
    let start = resolve_start(tx, q, id, &request.start).await?;
    // Events first: restoring reads the history before it is cut.
    for statement in [&q.delete_rewound_events, &q.restore_rewound_events] {
        tx.execute(statement.as_str(), &[&id, &start])
            .await
            .map_err(classify)?;
    }
    tx.execute(
        q.delete_rewound_stream_closes.as_str(),
        &[&id, &start, &STREAM_CLOSED_SENTINEL],
    )
    .await
    .map_err(classify)?;
    for statement in [
        &q.delete_rewound_steps,
        &q.delete_rewound_event_history,
        &q.delete_rewound_messages,
    ] {
        tx.execute(statement.as_str(), &[&id, &start])
            .await
            .map_err(classify)?;
    }
    tx.execute(q.delete_rewound_output.as_str(), &[&id])
        .await
        .map_err(classify)?;
    let queue = request.queue_name.as_deref().unwrap_or(INTERNAL_QUEUE);
    let changed = tx
        .query_opt(
            q.reenqueue_rewound.as_str(),
            &[
                &id,
                &stored,
                &queue,
                &request.queue_partition_key,
                &request.application_version,
            ],
        )
        .await
        .map_err(classify)?;
    if changed.is_none() {
        return Err(with_backend(Error::conflict(format!(
            "workflow {id} changed status while being rewound"
        ))));
    }
    Ok(RewoundWorkflow::new(id, start, previous))
}

impl PostgresStore {
    /// [`ManagementStore::fork_workflows`](dbos_storage_core::ManagementStore::fork_workflows).
    pub(super) async fn fork(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>> {
        let requests = prepare_forks(requests)?;
        let forks = self
            .write(move |tx, q| Box::pin(async move { fork_workflows_tx(tx, &q, &requests).await }))
            .await?;
        self.wake().notify();
        Ok(forks)
    }

    /// [`ManagementStore::rewind_workflow`](dbos_storage_core::ManagementStore::rewind_workflow).
    pub(super) async fn rewind(&self, request: RewindRequest) -> Result<RewoundWorkflow> {
        request.validate()?;
        let rewound = self
            .write(move |tx, q| Box::pin(async move { rewind_workflow_tx(tx, &q, &request).await }))
            .await?;
        self.wake().notify();
        Ok(rewound)
    }
}
