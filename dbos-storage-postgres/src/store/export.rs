//! Export and import on PostgreSQL (called by the [`ManagementStore`] implementation): every
//! row of a workflow with its columns as stored, read in one snapshot and written back in one
//! transaction.
//!
//! [`ManagementStore`]: dbos_storage_core::ManagementStore

use std::collections::{HashMap, HashSet};

use dbos_storage_core::export::{
    canonical_json, EventHistoryRow, EventRow, ExportedWorkflow, ImportOptions, InputRow,
    OutputRow, StepRow, StreamRow, WorkflowRow,
};
use dbos_storage_core::{validate, Error, Isolation, Result};
use dbos_storage_driver_kit::decisions::cancel_resume::distinct;
use dbos_storage_driver_kit::decisions::store_errors;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Transaction};

use super::management::delete_workflow_rows;
use super::{col, select_ids, PostgresStore, Queries, ID_CHUNK};
use crate::error::{classify, with_backend};
use crate::pool::TxOptions;

/// Runs `statement` (whose `$1` is a `text[]` of ids) over `ids` in chunks and returns every
/// row.
async fn rows_of(tx: &Transaction<'_>, statement: &str, ids: &[String]) -> Result<Vec<Row>> {
    let statement = tx.prepare(statement).await.map_err(classify)?;
    let mut rows = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        rows.extend(tx.query(&statement, &[&chunk]).await.map_err(classify)?);
    }
    Ok(rows)
}

/// The export order: each root, then (with `include_children`) its descendants breadth first,
/// each level by `(created_at, workflow_uuid)`; every workflow once, where it first appears.
async fn export_order(
    tx: &Transaction<'_>,
    q: &Queries,
    roots: Vec<String>,
    include_children: bool,
) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    for root in roots {
        if !seen.insert(root.clone()) {
            continue;
        }
        order.push(root.clone());
        let mut level = vec![root];
        while include_children && !level.is_empty() {
            let mut children = rows_of(tx, &q.export_children, &level)
                .await?
                .iter()
                .map(|r| Ok((col::<i64>(r, 1)?, col::<String>(r, 0)?)))
                .collect::<Result<Vec<_>>>()?;
            children.sort();
            level = children
                .into_iter()
                .map(|(_, id)| id)
                .filter(|id| seen.insert(id.clone()))
                .collect();
            order.extend(level.iter().cloned());
        }
    }
    Ok(order)
}

/// A `workflow_status` row of [`sql::export::EXPORT_STATUSES`](crate::sql::export).
fn read_status(row: &Row) -> Result<WorkflowRow> {
    let mut w = WorkflowRow::new(
        col::<String>(row, 0)?,
        col::<String>(row, 1)?,
        col(row, 10)?,
    );
    w.name = col(row, 2)?;
    w.authenticated_user = col(row, 3)?;
    w.assumed_role = col(row, 4)?;
    w.authenticated_roles = col(row, 5)?;
    w.request = col(row, 6)?;
    w.output = col(row, 7)?;
    w.error = col(row, 8)?;
    w.executor_id = col(row, 9)?;
    w.updated_at = col(row, 11)?;
    w.application_version = col(row, 12)?;
    w.application_id = col(row, 13)?;
    w.class_name = col(row, 14)?;
    w.config_name = col(row, 15)?;
    w.recovery_attempts = col(row, 16)?;
    w.queue_name = col(row, 17)?;
    w.workflow_timeout_ms = col(row, 18)?;
    w.workflow_deadline_epoch_ms = col(row, 19)?;
    w.inputs = col(row, 20)?;
    w.started_at_epoch_ms = col(row, 21)?;
    w.deduplication_id = col(row, 22)?;
    w.priority = col(row, 23)?;
    w.queue_partition_key = col(row, 24)?;
    w.forked_from = col(row, 25)?;
    w.parent_workflow_id = col(row, 26)?;
    w.serialization = col(row, 27)?;
    w.delay_until_epoch_ms = col(row, 28)?;
    w.was_forked_from = col(row, 29)?;
    w.rate_limited = col(row, 30)?;
    w.completed_at = col(row, 31)?;
    w.attributes = col::<Option<String>>(row, 32)?.map(|t| canonical_json(&t));
    w.schedule_name = col(row, 33)?;
    w.debounce_deadline_epoch_ms = col(row, 34)?;
    w.is_debounced = col(row, 35)?;
    w.application_name = col(row, 36)?;
    w.creator_xid = col(row, 37)?;
    Ok(w)
}

/// Reads every row of the workflows `ids` (all known to exist) into exports keyed by id.
async fn read_workflows(
    tx: &Transaction<'_>,
    q: &Queries,
    ids: &[String],
) -> Result<HashMap<String, ExportedWorkflow>> {
    let mut out = HashMap::new();
    for row in rows_of(tx, &q.export_statuses, ids).await? {
        let status = read_status(&row)?;
        out.insert(status.workflow_uuid.clone(), ExportedWorkflow::new(status));
    }
    // Each row's workflow, for the tables below.
    fn owner<'a>(
        out: &'a mut HashMap<String, ExportedWorkflow>,
        row: &Row,
    ) -> Result<Option<&'a mut ExportedWorkflow>> {
        let id: String = col(row, 0)?;
        Ok(out.get_mut(&id))
    }
    for row in rows_of(tx, &q.export_inputs, ids).await? {
        if let Some(w) = owner(&mut out, &row)? {
            w.input = Some(InputRow::new(col(&row, 1)?, col(&row, 2)?));
        }
    }
    for row in rows_of(tx, &q.export_outputs, ids).await? {
        if let Some(w) = owner(&mut out, &row)? {
            w.output = Some(OutputRow::new(col(&row, 1)?, col(&row, 2)?, col(&row, 3)?));
        }
    }
    for row in rows_of(tx, &q.export_steps, ids).await? {
        if let Some(w) = owner(&mut out, &row)? {
            let mut step = StepRow::new(col(&row, 1)?, col::<String>(&row, 2)?, col(&row, 10)?);
            step.output = col(&row, 3)?;
            step.error = col(&row, 4)?;
            step.child_workflow_id = col(&row, 5)?;
            step.started_at_epoch_ms = col(&row, 6)?;
            step.completed_at_epoch_ms = col(&row, 7)?;
            step.serialization = col(&row, 8)?;
            step.application_name = col(&row, 9)?;
            w.steps.push(step);
        }
    }
    for row in rows_of(tx, &q.export_events, ids).await? {
        if let Some(w) = owner(&mut out, &row)? {
            w.events.push(EventRow::new(
                col::<String>(&row, 1)?,
                col::<String>(&row, 2)?,
                col(&row, 3)?,
            ));
        }
    }
    for row in rows_of(tx, &q.export_event_history, ids).await? {
        if let Some(w) = owner(&mut out, &row)? {
            w.event_history.push(EventHistoryRow::new(
                col(&row, 1)?,
                col::<String>(&row, 2)?,
                col::<String>(&row, 3)?,
                col(&row, 4)?,
            ));
        }
    }
    for row in rows_of(tx, &q.export_streams, ids).await? {
        if let Some(w) = owner(&mut out, &row)? {
            w.streams.push(StreamRow::new(
                col::<String>(&row, 1)?,
                col(&row, 2)?,
                col::<String>(&row, 3)?,
                col(&row, 4)?,
                col(&row, 5)?,
            ));
        }
    }
    Ok(out)
}

/// Writes every row of `w` as exported.
async fn write_workflow(tx: &Transaction<'_>, q: &Queries, w: &ExportedWorkflow) -> Result<()> {
    let s = &w.status;
    let id = s.workflow_uuid.as_str();
    let params: [&(dyn ToSql + Sync); 38] = [
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
    tx.execute(q.import_status.as_str(), &params)
        .await
        .map_err(classify)?;
    if let Some(input) = &w.input {
        tx.execute(
            q.import_input.as_str(),
            &[&id, &input.inputs, &input.retention_timestamp],
        )
        .await
        .map_err(classify)?;
    }
    if let Some(output) = &w.output {
        tx.execute(
            q.import_output.as_str(),
            &[
                &id,
                &output.output,
                &output.error,
                &output.retention_timestamp,
            ],
        )
        .await
        .map_err(classify)?;
    }
    if !w.steps.is_empty() {
        let statement = tx.prepare(&q.import_step).await.map_err(classify)?;
        for step in &w.steps {
            tx.execute(
                &statement,
                &[
                    &id,
                    &step.function_id,
                    &step.function_name,
                    &step.output,
                    &step.error,
                    &step.child_workflow_id,
                    &step.started_at_epoch_ms,
                    &step.completed_at_epoch_ms,
                    &step.serialization,
                    &step.application_name,
                    &step.retention_timestamp,
                ],
            )
            .await
            .map_err(classify)?;
        }
    }
    for event in &w.events {
        tx.execute(
            q.import_event.as_str(),
            &[&id, &event.key, &event.value, &event.serialization],
        )
        .await
        .map_err(classify)?;
    }
    for event in &w.event_history {
        tx.execute(
            q.import_event_history.as_str(),
            &[
                &id,
                &event.function_id,
                &event.key,
                &event.value,
                &event.serialization,
            ],
        )
        .await
        .map_err(classify)?;
    }
    for entry in &w.streams {
        tx.execute(
            q.import_stream.as_str(),
            &[
                &id,
                &entry.key,
                &entry.offset,
                &entry.value,
                &entry.function_id,
                &entry.serialization,
            ],
        )
        .await
        .map_err(classify)?;
    }
    Ok(())
}

impl PostgresStore {
    /// [`ManagementStore::export_workflows`](dbos_storage_core::ManagementStore::export_workflows).
    pub(super) async fn export(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        validate::workflow_ids(workflow_ids)?;
        let roots = distinct(workflow_ids);
        // One snapshot for the whole export, so that its rows agree with each other.
        let options = TxOptions {
            isolation: Some(Isolation::RepeatableRead),
            read_only: true,
        };
        self.run(options, move |tx, q| {
            Box::pin(async move {
                let existing: HashSet<String> = select_ids(tx, &q.select_existing_ids, &roots)
                    .await?
                    .into_iter()
                    .collect();
                if let Some(missing) = roots.iter().find(|id| !existing.contains(*id)) {
                    return Err(with_backend(store_errors::missing_workflow(missing)));
                }
                let order = export_order(tx, &q, roots, include_children).await?;
                let mut found = read_workflows(tx, &q, &order).await?;
                let mut out = Vec::with_capacity(order.len());
                for id in &order {
                    // A child deleted between the walk and the read cannot happen in one
                    // snapshot; skip it rather than fail if it ever does.
                    if let Some(mut w) = found.remove(id) {
                        w.sort();
                        out.push(w);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    /// [`ManagementStore::import_workflows`](dbos_storage_core::ManagementStore::import_workflows).
    pub(super) async fn import(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(workflows.len());
        let mut seen = HashSet::new();
        for w in &workflows {
            w.validate()?;
            if !seen.insert(w.workflow_id()) {
                return Err(Error::invalid_input(format!(
                    "workflow {} appears twice in one import",
                    w.workflow_id()
                )));
            }
            ids.push(w.workflow_id().to_owned());
        }
        if workflows.is_empty() {
            self.ensure_open()?;
            return Ok(ids);
        }
        let replace = options.replace_existing;
        let imported = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let existing: HashSet<String> = select_ids(tx, &q.select_existing_ids, &ids)
                        .await?
                        .into_iter()
                        .collect();
                    if !replace {
                        if let Some(id) = ids.iter().find(|id| existing.contains(*id)) {
                            return Err(with_backend(Error::conflict(format!(
                                "workflow {id} already exists; import with replace_existing to \
                                 overwrite it"
                            ))));
                        }
                    }
                    // Existing workflows (with replace_existing) and payload rows a deleted
                    // workflow of the same id left behind.
                    delete_workflow_rows(tx, &q, &ids).await?;
                    for w in &workflows {
                        write_workflow(tx, &q, w).await?;
                    }
                    Ok(ids)
                })
            })
            .await?;
        self.wake().notify();
        Ok(imported)
    }
}
