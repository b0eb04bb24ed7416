//! [`ManagementStore`] on SQLite: cancel, resume and attributes here; fork and rewind in
//! [`super::forks`], delete and retention in [`super::retention`], export and import in
//! [`super::export`], metrics in [`super::metrics`], renames in [`super::rename`].

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::export::{ExportedWorkflow, ImportOptions};
use dbos_storage_core::{
    validate, AttributeUpdate, CancelOptions, CollectableWindow, CreationPosition, DeleteOptions,
    Error, ForkRequest, ForkedWorkflow, Lease, LeaseState, ManagementStore, Metrics, MetricsQuery,
    OrphanSweepWindow, RenameApplication, RenameReport, Result, ResumeOptions, RetentionPolicy,
    RewindRequest, RewoundWorkflow,
};
use dbos_storage_driver_kit::decisions::cancel_resume::{
    distinct, ensure_all_exist, in_order_of, resume_queue,
};
use dbos_storage_driver_kit::decisions::child_starts::Descendants;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use super::{export, forks, json_array, metrics, now_ms, rename, retention, select_ids, Cached};
use super::{SqliteStore, ID_CHUNK};
use crate::error::{classify, with_backend};
use crate::sql;

/// Replaces, merges or clears (JSON `null`) the attributes stored in `tx`; returns the map
/// stored (empty after a clear).
pub(super) fn update_attributes(
    tx: &Transaction<'_>,
    workflow_id: &str,
    update: Map<String, Value>,
    mode: AttributeUpdate,
) -> Result<Map<String, Value>> {
    let stored: Option<Option<String>> = tx
        .query_row_cached(sql::forks::SELECT_ATTRIBUTES, [workflow_id], |r| r.get(0))
        .optional()
        .map_err(classify)?;
    let Some(stored) = stored else {
        return Err(with_backend(Error::not_found(format!(
            "workflow {workflow_id} does not exist"
        ))));
    };
    let map = match mode {
        AttributeUpdate::Merge => {
            // SQL NULL, JSON null, or anything but an object merges into an empty map.
            let mut map = match stored.as_deref().map(serde_json::from_str::<Value>) {
                Some(Ok(Value::Object(map))) => map,
                _ => Map::new(),
            };
            map.extend(update);
            map
        }
        AttributeUpdate::Clear => {
            tx.execute_cached(sql::forks::UPDATE_ATTRIBUTES, params![workflow_id, "null"])
                .map_err(classify)?;
            return Ok(Map::new());
        }
        _ => update,
    };
    let text = serde_json::to_string(&map).map_err(|e| {
        with_backend(Error::invalid_input(format!(
            "the attributes of workflow {workflow_id} cannot be encoded as JSON: {e}"
        )))
    })?;
    tx.execute_cached(sql::forks::UPDATE_ATTRIBUTES, params![workflow_id, text])
        .map_err(classify)?;
    Ok(map)
}

/// Cancels the distinct `ids` (and, with `cancel_children`, their descendants, level by level)
/// in `tx`; returns the ids that changed.
pub(super) fn cancel_workflows_tx(
    tx: &Transaction<'_>,
    ids: Vec<String>,
    options: CancelOptions,
) -> Result<Vec<String>> {
    let now = now_ms(tx)?;
    let mut changed = Vec::new();
    let mut walk = Descendants::new(ids);
    while !walk.level().is_empty() {
        let level = walk.level();
        changed.extend(update_ids(tx, sql::CANCEL_WORKFLOWS, level, &[&now])?);
        if !options.cancel_children {
            break;
        }
        let children = select_ids(tx, sql::SELECT_CHILDREN, level)?;
        walk.descend(children);
    }
    Ok(changed)
}

/// Resumes the distinct `ids` onto `queue` in `tx`, all or none (every id must exist);
/// returns the ids that changed.
pub(super) fn resume_workflows_tx(
    tx: &Transaction<'_>,
    ids: &[String],
    queue: &str,
) -> Result<Vec<String>> {
    let existing: HashSet<String> = select_ids(tx, sql::SELECT_EXISTING_IDS, ids)?
        .into_iter()
        .collect();
    ensure_all_exist(ids, |id| existing.contains(id)).map_err(with_backend)?;
    let now = now_ms(tx)?;
    update_ids(tx, sql::RESUME_WORKFLOWS, ids, &[&queue, &now])
}

/// Runs `statement` (whose first parameter is a JSON array of ids and which returns the ids it
/// changed) over `ids` in chunks; returns the changed ids in the order of `ids`.
pub(super) fn update_ids(
    tx: &Transaction<'_>,
    statement: &str,
    ids: &[String],
    extra: &[&dyn rusqlite::ToSql],
) -> Result<Vec<String>> {
    let mut changed = HashSet::new();
    let mut stmt = tx.prepare_cached(statement).map_err(classify)?;
    for chunk in ids.chunks(ID_CHUNK) {
        let json = json_array(chunk)?;
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&json];
        params.extend_from_slice(extra);
        let rows = stmt
            .query_map(params.as_slice(), |r| r.get::<_, String>(0))
            .map_err(classify)?;
        for id in rows {
            changed.insert(id.map_err(classify)?);
        }
    }
    Ok(in_order_of(ids, changed))
}

#[async_trait]
impl ManagementStore for SqliteStore {
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let changed = self
            .conns()
            .write(move |tx| cancel_workflows_tx(tx, ids, options))
            .await?;
        if !changed.is_empty() {
            self.wake().notify();
        }
        Ok(changed)
    }

    async fn resume_workflows(
        &self,
        workflow_ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        // Checked first, so an empty list gets the same answer as any other.
        let queue = resume_queue(options)?;
        if workflow_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let changed = self
            .conns()
            .write(move |tx| resume_workflows_tx(tx, &ids, &queue))
            .await?;
        if !changed.is_empty() {
            self.wake().notify();
        }
        Ok(changed)
    }

    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>> {
        let forked = forks::fork_workflows(self, requests).await?;
        self.wake().notify();
        Ok(forked)
    }

    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow> {
        let rewound = forks::rewind_workflow(self, request).await?;
        self.wake().notify();
        Ok(rewound)
    }

    async fn delete_workflows(
        &self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>> {
        let deleted = retention::delete_workflows(self, workflow_ids, options).await?;
        if !deleted.is_empty() {
            // Waits on a deleted workflow learn at once that it is gone.
            self.wake().notify();
        }
        Ok(deleted)
    }

    async fn update_workflow_attributes(
        &self,
        workflow_id: &str,
        attributes: Map<String, Value>,
        mode: AttributeUpdate,
    ) -> Result<Map<String, Value>> {
        validate::workflow_id(workflow_id)?;
        validate::attributes(&attributes)?;
        mode.validate(&attributes)?;
        let id = workflow_id.to_owned();
        self.conns()
            .write(move |tx| update_attributes(tx, &id, attributes, mode))
            .await
    }

    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState> {
        retention::acquire_lease(self, lease).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        retention::release_lease(self, lease).await
    }

    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        from: Option<&CreationPosition>,
        limit: u32,
    ) -> Result<CollectableWindow> {
        retention::collectable_workflows(self, policy, from, limit).await
    }

    async fn delete_collected(
        &self,
        lease: &Lease,
        workflow_ids: &[String],
    ) -> Result<Vec<String>> {
        let deleted = retention::delete_collected(self, lease, workflow_ids).await?;
        if !deleted.is_empty() {
            self.wake().notify();
        }
        Ok(deleted)
    }

    async fn sweep_orphans(
        &self,
        lease: &Lease,
        from: Option<&str>,
        limit: u32,
    ) -> Result<OrphanSweepWindow> {
        retention::sweep_orphans(self, lease, from, limit).await
    }

    async fn export_workflows(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        export::export_workflows(self, workflow_ids, include_children).await
    }

    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        export::import_workflows(self, workflows, options).await
    }

    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics> {
        metrics::metrics(self, query).await
    }

    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport> {
        rename::rename_application(self, request).await
    }
}
