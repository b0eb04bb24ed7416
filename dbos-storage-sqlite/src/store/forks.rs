//! Fork and rewind on SQLite: each is one write transaction.

use dbos_storage_core::management::{prepare_forks, ForkStart};
use dbos_storage_core::streams::STREAM_CLOSED_SENTINEL;
use dbos_storage_core::{
    Error, ForkRequest, ForkedWorkflow, Result, RewindRequest, RewoundWorkflow, INTERNAL_QUEUE,
};
use dbos_storage_driver_kit::decisions::column_values::status_of;
use rusqlite::{named_params, params, OptionalExtension, Transaction};

use super::{now_ms, Cached, SqliteStore};
use crate::error::{classify, with_backend};
use crate::sql::forks as q;

/// The message of a missing workflow.
fn missing(workflow_id: &str) -> Error {
    with_backend(Error::not_found(format!(
        "workflow {workflow_id} does not exist"
    )))
}

/// Resolves `start` against the steps recorded for `workflow_id`.
fn resolve_start(tx: &Transaction<'_>, workflow_id: &str, start: &ForkStart) -> Result<i32> {
    if let ForkStart::Step(n) = start {
        return Ok(*n);
    }
    let mut stmt = tx
        .prepare_cached(q::SELECT_STEP_OUTCOMES)
        .map_err(classify)?;
    let steps = stmt
        .query_map([workflow_id], |r| {
            Ok((
                r.get::<_, i32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })
        .map_err(classify)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(classify)?;
    start
        .resolve(
            workflow_id,
            steps
                .iter()
                .map(|(id, name, failed)| (*id, name.as_str(), *failed)),
        )
        .map_err(with_backend)
}

/// The `forked_from` of a workflow: `None` when it does not exist, `Some(None)` when it is not a
/// fork.
fn forked_from(tx: &Transaction<'_>, workflow_id: &str) -> Result<Option<Option<String>>> {
    tx.query_row_cached(q::SELECT_FORKED_FROM, [workflow_id], |r| r.get(0))
        .optional()
        .map_err(classify)
}

/// Makes one fork inside the batch's transaction.
fn fork_one(tx: &Transaction<'_>, request: &ForkRequest, now: i64) -> Result<ForkedWorkflow> {
    let source = request.source_workflow_id.as_str();
    let Some(fork) = request.fork_workflow_id.as_deref() else {
        return Err(with_backend(Error::invalid_input(
            "a fork needs an id; prepare the batch with prepare_forks",
        )));
    };
    if forked_from(tx, source)?.is_none() {
        return Err(missing(source));
    }
    let start = resolve_start(tx, source, &request.start)?;
    if let Some(existing) = forked_from(tx, fork)? {
        if existing.as_deref() == Some(source) {
            // Made by an earlier attempt of this batch: it counts, and is not copied again.
            return Ok(ForkedWorkflow::new(source, fork, start));
        }
        return Err(with_backend(Error::conflict(format!(
            "workflow id {fork} is already used by another workflow; choose another fork id"
        ))));
    }
    for statement in q::DELETE_LEFTOVER_PAYLOADS {
        tx.execute_cached(statement, [fork]).map_err(classify)?;
    }
    let queue = request.queue_name.as_deref().unwrap_or(INTERNAL_QUEUE);
    let owner: Option<String> = tx
        .query_row_cached(
            q::INSERT_FORK,
            named_params! {
                ":fork_id": fork,
                ":source_id": source,
                ":queue_name": queue,
                ":queue_partition_key": request.queue_partition_key,
                ":application_version": request.application_version,
                ":workflow_timeout_ms": request.workflow_timeout_ms,
                ":application_name": request.application_name,
                ":now": now,
            },
            |r| r.get(0),
        )
        .map_err(classify)?;
    tx.execute_cached(q::INSERT_FORK_INPUT, params![fork, source, now])
        .map_err(classify)?;
    tx.execute_cached(q::MARK_FORKED_FROM, [source])
        .map_err(classify)?;
    if start > 1 {
        let replacements = serde_json::to_string(&request.replacement_children).map_err(|e| {
            with_backend(Error::invalid_input(format!(
                "cannot encode the replacement children of fork {fork}: {e}"
            )))
        })?;
        tx.execute_cached(
            q::COPY_FORK_STEPS,
            named_params! {
                ":fork_id": fork,
                ":source_id": source,
                ":start_step": start,
                ":replacements": replacements,
                ":application_name": owner,
            },
        )
        .map_err(classify)?;
        for statement in [
            q::COPY_FORK_EVENT_HISTORY,
            q::COPY_FORK_EVENTS,
            q::COPY_FORK_STREAMS,
        ] {
            tx.execute_cached(statement, params![fork, source, start])
                .map_err(classify)?;
        }
    }
    Ok(ForkedWorkflow::new(source, fork, start))
}

/// Forks workflows in one transaction, all or nothing.
pub(super) async fn fork_workflows(
    store: &SqliteStore,
    requests: Vec<ForkRequest>,
) -> Result<Vec<ForkedWorkflow>> {
    let requests = prepare_forks(requests)?;
    store
        .conns()
        .write(move |tx| fork_workflows_tx(tx, &requests))
        .await
}

/// Makes the forks of a prepared batch in `tx`, all or nothing.
pub(super) fn fork_workflows_tx(
    tx: &Transaction<'_>,
    requests: &[ForkRequest],
) -> Result<Vec<ForkedWorkflow>> {
    let now = now_ms(tx)?;
    // Every source must exist before any fork is made (a fork of a fork made earlier in the
    // same batch is refused, as on every backend).
    for request in requests {
        if forked_from(tx, &request.source_workflow_id)?.is_none() {
            return Err(missing(&request.source_workflow_id));
        }
    }
    requests
        .iter()
        .map(|request| fork_one(tx, request, now))
        .collect()
}

/// Rewinds a finished workflow in one transaction.
pub(super) async fn rewind_workflow(
    store: &SqliteStore,
    request: RewindRequest,
) -> Result<RewoundWorkflow> {
    request.validate()?;
    store
        .conns()
        .write(move |tx| rewind_workflow_tx(tx, &request))
        .await
}

/// Rewinds a finished workflow in `tx`.
pub(super) fn rewind_workflow_tx(
    tx: &Transaction<'_>,
    request: &RewindRequest,
) -> Result<RewoundWorkflow> {
    let id = request.workflow_id.as_str();
    let stored: Option<Option<String>> = tx
        .query_row_cached(crate::sql::SELECT_WORKFLOW_STATUS, [id], |r| r.get(0))
        .optional()
        .map_err(classify)?;
    let Some(stored) = stored else {
        return Err(missing(id));
    };
    let previous = status_of(stored.as_deref());
    if !previous.is_terminal() {
        return Err(with_backend(Error::conflict(format!(
            "workflow {id} is {}; only a finished workflow can be rewound",
            previous.as_str()
        ))));
    }
    let start = resolve_start(tx, id, &request.start)?;
    tx.execute_cached(q::DELETE_REWOUND_EVENTS, params![id, start])
        .map_err(classify)?;
    tx.execute_cached(q::RESTORE_EVENTS, params![id, start])
        .map_err(classify)?;
    tx.execute_cached(
        q::DELETE_REWOUND_STREAM_CLOSES,
        params![id, start, STREAM_CLOSED_SENTINEL],
    )
    .map_err(classify)?;
    for statement in [
        q::DELETE_REWOUND_STEPS,
        q::DELETE_REWOUND_EVENT_HISTORY,
        q::DELETE_REWOUND_MESSAGES,
    ] {
        tx.execute_cached(statement, params![id, start])
            .map_err(classify)?;
    }
    tx.execute_cached(q::DELETE_OUTPUT, [id])
        .map_err(classify)?;
    let now = now_ms(tx)?;
    let changed = tx
        .execute_cached(
            q::REENQUEUE_REWOUND,
            named_params! {
                ":workflow_uuid": id,
                ":old_status": stored,
                ":queue_name": request.queue_name.as_deref().unwrap_or(INTERNAL_QUEUE),
                ":queue_partition_key": request.queue_partition_key,
                ":application_version": request.application_version,
                ":now": now,
            },
        )
        .map_err(classify)?;
    if changed == 0 {
        return Err(with_backend(Error::conflict(format!(
            "workflow {id} changed status while being rewound"
        ))));
    }
    Ok(RewoundWorkflow::new(id, start, previous))
}
