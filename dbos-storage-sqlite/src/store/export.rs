//! Export and import on SQLite: every row of a workflow, column for column (see
//! [`dbos_storage_core::export`]).

use std::collections::HashSet;

use dbos_storage_core::export::{
    canonical_json, EventHistoryRow, EventRow, ExportedWorkflow, InputRow, OutputRow, StepRow,
    StreamRow, WorkflowRow,
};
use dbos_storage_core::{validate, Error, ImportOptions, Result};
use dbos_storage_driver_kit::decisions::child_starts::Descendants;
use rusqlite::{params, OptionalExtension, Row, ToSql, Transaction};

use super::retention::delete_rows;
use super::Cached;
use super::{get_bool, get_i64, select_ids, SqliteStore};
use crate::error::{classify, with_backend};
use crate::sql;
use crate::sql::export as q;

/// A NOT NULL integer column (0 if another writer left it NULL).
fn int(row: &Row<'_>, idx: usize) -> rusqlite::Result<i64> {
    Ok(get_i64(row, idx)?.unwrap_or(0))
}

/// A 32-bit integer column (`function_id`, `"offset"`, `priority`).
fn int32(row: &Row<'_>, idx: usize) -> rusqlite::Result<i32> {
    let v = int(row, idx)?;
    i32::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v))
}

/// Reads a status row of `exported_status_columns!()`.
fn read_status(r: &Row<'_>) -> rusqlite::Result<WorkflowRow> {
    let mut w = WorkflowRow::new(
        r.get::<_, String>(0)?,
        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        int(r, 10)?,
    );
    w.name = r.get(2)?;
    w.authenticated_user = r.get(3)?;
    w.assumed_role = r.get(4)?;
    w.authenticated_roles = r.get(5)?;
    w.request = r.get(6)?;
    w.output = r.get(7)?;
    w.error = r.get(8)?;
    w.executor_id = r.get(9)?;
    w.updated_at = int(r, 11)?;
    w.application_version = r.get(12)?;
    w.application_id = r.get(13)?;
    w.class_name = r.get(14)?;
    w.config_name = r.get(15)?;
    w.recovery_attempts = get_i64(r, 16)?;
    w.queue_name = r.get(17)?;
    w.workflow_timeout_ms = get_i64(r, 18)?;
    w.workflow_deadline_epoch_ms = get_i64(r, 19)?;
    w.inputs = r.get(20)?;
    w.started_at_epoch_ms = get_i64(r, 21)?;
    w.deduplication_id = r.get(22)?;
    w.priority = int32(r, 23)?;
    w.queue_partition_key = r.get(24)?;
    w.forked_from = r.get(25)?;
    w.parent_workflow_id = r.get(26)?;
    w.serialization = r.get(27)?;
    w.delay_until_epoch_ms = get_i64(r, 28)?;
    w.was_forked_from = get_bool(r, 29)?;
    w.rate_limited = get_bool(r, 30)?;
    w.completed_at = get_i64(r, 31)?;
    w.attributes = r
        .get::<_, Option<String>>(32)?
        .map(|text| canonical_json(&text));
    w.schedule_name = r.get(33)?;
    w.debounce_deadline_epoch_ms = get_i64(r, 34)?;
    w.is_debounced = get_bool(r, 35)?;
    w.application_name = r.get(36)?;
    w.creator_xid = r.get(37)?;
    Ok(w)
}

/// Reads every row of `statement` (whose one parameter is the workflow id).
fn rows<T>(
    tx: &Transaction<'_>,
    statement: &str,
    workflow_id: &str,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = tx.prepare_cached(statement).map_err(classify)?;
    let rows = stmt.query_map([workflow_id], read).map_err(classify)?;
    rows.map(|r| r.map_err(classify)).collect()
}

/// Reads one workflow with every row that belongs to it; `None` when it does not exist.
fn export_one(tx: &Transaction<'_>, workflow_id: &str) -> Result<Option<ExportedWorkflow>> {
    let Some(status) = tx
        .query_row_cached(q::EXPORT_STATUS, [workflow_id], read_status)
        .optional()
        .map_err(classify)?
    else {
        return Ok(None);
    };
    let mut w = ExportedWorkflow::new(status);
    w.input = tx
        .query_row_cached(q::EXPORT_INPUT, [workflow_id], |r| {
            Ok(InputRow::new(r.get(0)?, int(r, 1)?))
        })
        .optional()
        .map_err(classify)?;
    w.output = tx
        .query_row_cached(q::EXPORT_OUTPUT, [workflow_id], |r| {
            Ok(OutputRow::new(r.get(0)?, r.get(1)?, int(r, 2)?))
        })
        .optional()
        .map_err(classify)?;
    w.steps = rows(tx, q::EXPORT_STEPS, workflow_id, |r| {
        let mut s = StepRow::new(int32(r, 0)?, r.get::<_, String>(1)?, int(r, 9)?);
        s.output = r.get(2)?;
        s.error = r.get(3)?;
        s.child_workflow_id = r.get(4)?;
        s.started_at_epoch_ms = get_i64(r, 5)?;
        s.completed_at_epoch_ms = get_i64(r, 6)?;
        s.serialization = r.get(7)?;
        s.application_name = r.get(8)?;
        Ok(s)
    })?;
    w.events = rows(tx, q::EXPORT_EVENTS, workflow_id, |r| {
        Ok(EventRow::new(
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get(2)?,
        ))
    })?;
    w.event_history = rows(tx, q::EXPORT_EVENT_HISTORY, workflow_id, |r| {
        Ok(EventHistoryRow::new(
            int32(r, 0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get(3)?,
        ))
    })?;
    w.streams = rows(tx, q::EXPORT_STREAMS, workflow_id, |r| {
        Ok(StreamRow::new(
            r.get::<_, String>(0)?,
            int32(r, 1)?,
            r.get::<_, String>(2)?,
            int32(r, 3)?,
            r.get(4)?,
        ))
    })?;
    w.sort();
    Ok(Some(w))
}

/// The message of a missing workflow.
fn missing(workflow_id: &str) -> Error {
    with_backend(Error::not_found(format!(
        "workflow {workflow_id} does not exist"
    )))
}

/// Exports workflows (each followed by its descendants when asked), each once, in one read
/// transaction.
pub(super) async fn export_workflows(
    store: &SqliteStore,
    workflow_ids: &[String],
    include_children: bool,
) -> Result<Vec<ExportedWorkflow>> {
    validate::workflow_ids(workflow_ids)?;
    let requested = workflow_ids.to_vec();
    store
        .conns()
        .read(move |tx| {
            let existing: HashSet<String> = select_ids(tx, sql::SELECT_EXISTING_IDS, &requested)?
                .into_iter()
                .collect();
            if let Some(id) = requested.iter().find(|id| !existing.contains(*id)) {
                return Err(missing(id));
            }
            let mut seen = HashSet::new();
            let mut order = Vec::new();
            for id in &requested {
                if seen.insert(id.clone()) {
                    order.push(id.clone());
                }
                if include_children {
                    let mut walk = Descendants::new(vec![id.clone()]);
                    while !walk.level().is_empty() {
                        let children = select_ids(tx, sql::SELECT_CHILDREN, walk.level())?;
                        walk.descend(children);
                    }
                    for child in walk.into_found() {
                        if seen.insert(child.clone()) {
                            order.push(child);
                        }
                    }
                }
            }
            let mut exported = Vec::with_capacity(order.len());
            for id in &order {
                // Rows of a workflow found above cannot vanish inside this read transaction.
                exported.extend(export_one(tx, id)?);
            }
            Ok(exported)
        })
        .await
}

/// Inserts every row of one exported workflow.
fn import_one(tx: &Transaction<'_>, w: &ExportedWorkflow) -> Result<()> {
    let s = &w.status;
    let id = s.workflow_uuid.as_str();
    let status: [&dyn ToSql; 38] = [
        &s.workflow_uuid,
        &s.status,
        &s.name,
        &s.authenticated_user,
        &s.assumed_role,
        &s.authenticated_roles,
        &s.request,
        &s.output,
        &s.error,
        &s.executor_id,
        &s.created_at,
        &s.updated_at,
        &s.application_version,
        &s.application_id,
        &s.class_name,
        &s.config_name,
        &s.recovery_attempts,
        &s.queue_name,
        &s.workflow_timeout_ms,
        &s.workflow_deadline_epoch_ms,
        &s.inputs,
        &s.started_at_epoch_ms,
        &s.deduplication_id,
        &s.priority,
        &s.queue_partition_key,
        &s.forked_from,
        &s.parent_workflow_id,
        &s.serialization,
        &s.delay_until_epoch_ms,
        &s.was_forked_from,
        &s.rate_limited,
        &s.completed_at,
        &s.attributes,
        &s.schedule_name,
        &s.debounce_deadline_epoch_ms,
        &s.is_debounced,
        &s.application_name,
        &s.creator_xid,
    ];
    tx.execute_cached(q::IMPORT_STATUS, status.as_slice())
        .map_err(classify)?;
    if let Some(input) = &w.input {
        tx.execute_cached(
            q::IMPORT_INPUT,
            params![id, input.inputs, input.retention_timestamp],
        )
        .map_err(classify)?;
    }
    if let Some(output) = &w.output {
        tx.execute_cached(
            q::IMPORT_OUTPUT,
            params![id, output.output, output.error, output.retention_timestamp],
        )
        .map_err(classify)?;
    }
    let mut stmt = tx.prepare_cached(q::IMPORT_STEP).map_err(classify)?;
    for step in &w.steps {
        stmt.execute(params![
            id,
            step.function_id,
            step.function_name,
            step.output,
            step.error,
            step.child_workflow_id,
            step.started_at_epoch_ms,
            step.completed_at_epoch_ms,
            step.serialization,
            step.application_name,
            step.retention_timestamp,
        ])
        .map_err(classify)?;
    }
    let mut stmt = tx.prepare_cached(q::IMPORT_EVENT).map_err(classify)?;
    for e in &w.events {
        stmt.execute(params![id, e.key, e.value, e.serialization])
            .map_err(classify)?;
    }
    let mut stmt = tx
        .prepare_cached(q::IMPORT_EVENT_HISTORY)
        .map_err(classify)?;
    for e in &w.event_history {
        stmt.execute(params![id, e.function_id, e.key, e.value, e.serialization])
            .map_err(classify)?;
    }
    let mut stmt = tx.prepare_cached(q::IMPORT_STREAM).map_err(classify)?;
    for e in &w.streams {
        stmt.execute(params![
            id,
            e.key,
            e.offset,
            e.value,
            e.function_id,
            e.serialization
        ])
        .map_err(classify)?;
    }
    Ok(())
}

/// Imports exported workflows in one transaction, all or nothing.
pub(super) async fn import_workflows(
    store: &SqliteStore,
    workflows: Vec<ExportedWorkflow>,
    options: ImportOptions,
) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    for w in &workflows {
        w.validate()?;
        if !seen.insert(w.workflow_id().to_owned()) {
            return Err(with_backend(Error::invalid_input(format!(
                "workflow {} appears twice in one import",
                w.workflow_id()
            ))));
        }
    }
    let ids: Vec<String> = workflows
        .iter()
        .map(|w| w.workflow_id().to_owned())
        .collect();
    store
        .conns()
        .write(move |tx| {
            if !options.replace_existing {
                let existing: HashSet<String> = select_ids(tx, sql::SELECT_EXISTING_IDS, &ids)?
                    .into_iter()
                    .collect();
                if let Some(id) = ids.iter().find(|id| existing.contains(*id)) {
                    return Err(with_backend(Error::conflict(format!(
                        "workflow {id} already exists; import with replace_existing to \
                         overwrite it"
                    ))));
                }
            }
            // Replaced workflows go entirely; for the others this clears only rows left behind
            // without a status row (orphans), which would otherwise collide.
            delete_rows(tx, &ids)?;
            for w in &workflows {
                import_one(tx, w)?;
            }
            Ok(ids)
        })
        .await
}
