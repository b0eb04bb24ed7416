//! [`ManagementStore`] on PostgreSQL: cancel, resume, delete and attributes here; the other
//! operator actions in their own files (`forks`, `retention`, `export`, `metrics`,
//! `rename`), which this trait implementation calls.

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::export::{ExportedWorkflow, ImportOptions};
use dbos_storage_core::management::{
    AttributeUpdate, CollectableWindow, CreationPosition, DeleteOptions, ForkRequest,
    ForkedWorkflow, Lease, LeaseState, Metrics, MetricsQuery, OrphanSweepWindow, RenameApplication,
    RenameReport, RetentionPolicy, RewindRequest, RewoundWorkflow,
};
use dbos_storage_core::{validate, CancelOptions, ManagementStore, Result, ResumeOptions};
use dbos_storage_driver_kit::decisions::cancel_resume::{
    distinct, ensure_all_exist, in_order_of, resume_queue,
};
use dbos_storage_driver_kit::decisions::child_starts::Descendants;
use dbos_storage_driver_kit::decisions::column_values::attributes as attributes_of;
use dbos_storage_driver_kit::decisions::store_errors;
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Transaction};

use super::{col, select_ids, PostgresStore, Queries, ID_CHUNK};
use crate::error::{classify, with_backend};

/// Deletes every row of the workflows `ids`: inputs, outputs and steps explicitly (they have no
/// foreign key), then the status rows, with which messages, events, event history and streams
/// go. Returns the ids that had a status row, in the order of `ids`.
pub(super) async fn delete_workflow_rows(
    tx: &Transaction<'_>,
    q: &Queries,
    ids: &[String],
) -> Result<Vec<String>> {
    for statement in [&q.delete_inputs, &q.delete_outputs, &q.delete_steps] {
        let statement = tx.prepare(statement).await.map_err(classify)?;
        for chunk in ids.chunks(ID_CHUNK) {
            tx.execute(&statement, &[&chunk]).await.map_err(classify)?;
        }
    }
    let deleted = select_ids(tx, &q.delete_statuses, ids).await?;
    Ok(in_order_of(ids, deleted.into_iter().collect()))
}

/// Cancels the distinct `ids` (and, with `cancel_children`, their descendants, level by level)
/// in `tx`; returns the ids that changed.
pub(super) async fn cancel_workflows_tx(
    tx: &Transaction<'_>,
    q: &Queries,
    ids: Vec<String>,
    options: CancelOptions,
) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    let mut walk = Descendants::new(ids);
    while !walk.level().is_empty() {
        let level = walk.level();
        changed.extend(update_ids(tx, &q.cancel_workflows, level, &[]).await?);
        if !options.cancel_children {
            break;
        }
        // Every id of the level, cancelled or not, leads to its children.
        let children = select_ids(tx, &q.select_children, level).await?;
        walk.descend(children);
    }
    Ok(changed)
}

/// Resumes the distinct `ids` onto `queue` in `tx`, all or none (every id must exist);
/// returns the ids that changed.
pub(super) async fn resume_workflows_tx(
    tx: &Transaction<'_>,
    q: &Queries,
    ids: &[String],
    queue: &str,
) -> Result<Vec<String>> {
    let existing: HashSet<String> = select_ids(tx, &q.select_existing_ids, ids)
        .await?
        .into_iter()
        .collect();
    ensure_all_exist(ids, |id| existing.contains(id)).map_err(with_backend)?;
    update_ids(tx, &q.resume_workflows, ids, &[&queue]).await
}

/// Deletes the distinct `roots` (and, with `delete_children`, their descendants) in `tx`;
/// returns the ids that existed.
pub(super) async fn delete_workflows_tx(
    tx: &Transaction<'_>,
    q: &Queries,
    roots: Vec<String>,
    options: DeleteOptions,
) -> Result<Vec<String>> {
    let mut ids = roots.clone();
    if options.delete_children {
        let mut walk = Descendants::new(roots);
        while !walk.level().is_empty() {
            let children = select_ids(tx, &q.select_children, walk.level()).await?;
            walk.descend(children);
        }
        ids.extend(walk.into_found());
    }
    delete_workflow_rows(tx, q, &ids).await
}

/// Replaces or merges a workflow's attributes on `client` (a connection or a transaction);
/// returns the map stored.
pub(super) async fn update_attributes_on<C: GenericClient + Sync>(
    client: &C,
    q: &Queries,
    workflow_id: &str,
    attributes: Map<String, Value>,
    mode: AttributeUpdate,
) -> Result<Map<String, Value>> {
    let merge = mode == AttributeUpdate::Merge;
    // A clear stores JSON `null`, DBOS's "unset".
    let value = match mode {
        AttributeUpdate::Clear => Value::Null,
        _ => Value::Object(attributes),
    };
    let row = client
        .query_opt(
            q.update_attributes.as_str(),
            &[&workflow_id, &value, &merge],
        )
        .await
        .map_err(classify)?
        .ok_or_else(|| with_backend(store_errors::missing_workflow(workflow_id)))?;
    Ok(attributes_of(workflow_id, col(&row, 0)?).unwrap_or_default())
}

/// Runs `statement` (whose `$1` is a `text[]` of ids, followed by `extra`, and which returns
/// the ids it touched) over `ids` in chunks; returns the ids it returned, in the order of
/// `ids`.
async fn update_ids(
    tx: &Transaction<'_>,
    statement: &str,
    ids: &[String],
    extra: &[&(dyn ToSql + Sync)],
) -> Result<Vec<String>> {
    let mut changed = HashSet::new();
    let statement = tx.prepare(statement).await.map_err(classify)?;
    for chunk in ids.chunks(ID_CHUNK) {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&chunk];
        params.extend_from_slice(extra);
        for row in tx.query(&statement, &params).await.map_err(classify)? {
            changed.insert(col::<String>(&row, 0)?);
        }
    }
    Ok(in_order_of(ids, changed))
}

#[async_trait]
impl ManagementStore for PostgresStore {
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            self.ensure_open()?;
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let changed = self
            .write(move |tx, q| {
                Box::pin(async move { cancel_workflows_tx(tx, &q, ids, options).await })
            })
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
            self.ensure_open()?;
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let changed = self
            .write(move |tx, q| {
                Box::pin(async move { resume_workflows_tx(tx, &q, &ids, &queue).await })
            })
            .await?;
        if !changed.is_empty() {
            self.wake().notify();
        }
        Ok(changed)
    }

    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>> {
        self.fork(requests).await
    }

    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow> {
        self.rewind(request).await
    }

    async fn delete_workflows(
        &self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        self.ensure_open()?;
        if workflow_ids.is_empty() {
            return Ok(Vec::new());
        }
        let roots = distinct(workflow_ids);
        let deleted = self
            .write(move |tx, q| {
                Box::pin(async move { delete_workflows_tx(tx, &q, roots, options).await })
            })
            .await?;
        if !deleted.is_empty() {
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
        let client = self.client().await?;
        update_attributes_on(&**client, self.queries(), workflow_id, attributes, mode).await
    }

    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState> {
        self.take_lease(lease).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        self.give_up_lease(lease).await
    }

    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        from: Option<&CreationPosition>,
        limit: u32,
    ) -> Result<CollectableWindow> {
        self.collectable(policy, from, limit).await
    }

    async fn delete_collected(
        &self,
        lease: &Lease,
        workflow_ids: &[String],
    ) -> Result<Vec<String>> {
        self.delete_fenced(lease, workflow_ids).await
    }

    async fn sweep_orphans(
        &self,
        lease: &Lease,
        from: Option<&str>,
        limit: u32,
    ) -> Result<OrphanSweepWindow> {
        self.sweep(lease, from, limit).await
    }

    async fn export_workflows(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        self.export(workflow_ids, include_children).await
    }

    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        self.import(workflows, options).await
    }

    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics> {
        self.count(query).await
    }

    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport> {
        self.rename(request).await
    }
}
