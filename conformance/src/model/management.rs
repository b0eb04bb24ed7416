//! [`ManagementStore`] of [`MemoryStore`]: cancel and resume here, with fork, rewind, delete and
//! attribute updates; leases, garbage collection, metrics and renames are in `retention`, export
//! and import in `transfer`.
//!
//! Each runs under the store's one lock, so it is one transaction; each checks everything it
//! can fail on first and writes last, so that an error leaves every table as it was.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use dbos_storage_core::export::InputRow;
use dbos_storage_core::management::{
    prepare_forks, validate_collection_window, validate_sweep_window,
};
use dbos_storage_core::streams::is_close_sentinel;
use dbos_storage_core::ManagementStore;
use dbos_storage_core::{
    validate, CancelOptions, Error, Result, ResumeOptions, WorkflowInfo, WorkflowStatus,
    INTERNAL_QUEUE,
};
use dbos_storage_core::{
    AttributeUpdate, CollectableWindow, CreationPosition, DeleteOptions, ExportedWorkflow,
    ForkRequest, ForkStart, ForkedWorkflow, ImportOptions, Lease, LeaseState, Metrics,
    MetricsQuery, OrphanSweepWindow, RenameApplication, RenameReport, RetentionPolicy,
    RewindRequest, RewoundWorkflow,
};

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::distinct;
use super::statuses::StatusMeaning;
use super::{
    cancel_row, missing, ours, transfer, MemoryStore, RawColumns, State, StepRow, WorkflowRow,
};

#[async_trait]
impl ManagementStore for MemoryStore {
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| Ok(state.cancel_workflows(workflow_ids, options)))
    }

    async fn resume_workflows(
        &self,
        workflow_ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        options.validate()?;
        self.write(|state| state.resume_workflows(workflow_ids, &options))
    }

    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>> {
        let requests = prepare_forks(requests)?;
        self.write(|state| state.fork(&requests))
    }

    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow> {
        request.validate()?;
        self.write(|state| state.rewind(&request))
    }

    async fn delete_workflows(
        &self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| Ok(state.delete_workflows(workflow_ids, options)))
    }

    async fn update_workflow_attributes(
        &self,
        workflow_id: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        mode: AttributeUpdate,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        validate::workflow_id(workflow_id)?;
        validate::attributes(&attributes)?;
        mode.validate(&attributes)?;
        self.write(|state| state.update_attributes(workflow_id, attributes, mode))
    }

    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState> {
        lease.validate()?;
        self.write(|state| Ok(state.acquire_lease(lease)))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        lease.validate()?;
        self.write(|state| Ok(state.release_lease(lease)))
    }

    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        from: Option<&CreationPosition>,
        limit: u32,
    ) -> Result<CollectableWindow> {
        policy.validate()?;
        validate_collection_window(from, limit)?;
        Ok(self.open()?.collectable(policy, from, limit))
    }

    async fn delete_collected(
        &self,
        lease: &Lease,
        workflow_ids: &[String],
    ) -> Result<Vec<String>> {
        lease.validate()?;
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| state.delete_collected(lease, workflow_ids))
    }

    async fn sweep_orphans(
        &self,
        lease: &Lease,
        from: Option<&str>,
        limit: u32,
    ) -> Result<OrphanSweepWindow> {
        lease.validate()?;
        validate_sweep_window(from, limit)?;
        self.write(|state| state.sweep_orphans(lease, from, limit))
    }

    async fn export_workflows(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        validate::workflow_ids(workflow_ids)?;
        self.open()?.export(workflow_ids, include_children)
    }

    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        transfer::validate_import(&workflows)?;
        self.write(|state| state.import(workflows, options))
    }

    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics> {
        query.validate()?;
        Ok(self.open()?.metrics(&query))
    }

    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport> {
        request.validate()?;
        // The first transaction moves the registries and in-flight workflows; then each batch
        // of finished workflows, then of steps, is a transaction of its own.
        let mut report = self.write(|state| state.rename_registries(&request))?;
        loop {
            let moved = self.write(|state| Ok(state.rename_finished_batch(&request)))?;
            if moved == 0 {
                break;
            }
            report.finished_workflows += moved;
        }
        loop {
            let moved = self.write(|state| Ok(state.rename_steps_batch(&request)))?;
            if moved == 0 {
                break;
            }
            report.steps += moved;
        }
        Ok(report)
    }
}

/// A checked fork, ready to write.
struct PlannedFork {
    source: String,
    fork: String,
    start: i32,
    /// The fork id exists already as a fork of this source: nothing to write.
    made: bool,
}

impl State {
    /// Cancels `workflow_ids` (and, with `cancel_children`, their descendants) that are not
    /// finished or cancelled already; returns the ids that changed.
    pub(super) fn cancel_workflows(
        &mut self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Vec<String> {
        let mut targets = distinct(workflow_ids);
        if options.cancel_children {
            targets.extend(self.descendants(&targets));
        }
        let now = self.now();
        let mut changed = Vec::new();
        for id in targets {
            let Some(row) = self.workflows.get_mut(&id) else {
                continue;
            };
            if row.info.status.has_outcome() || row.info.status == WorkflowStatus::Cancelled {
                continue;
            }
            cancel_row(row, now);
            changed.push(id);
        }
        changed
    }

    /// Resumes `workflow_ids` (all must exist) that are not finished; returns the ids that
    /// changed.
    pub(super) fn resume_workflows(
        &mut self,
        workflow_ids: &[String],
        options: &ResumeOptions,
    ) -> Result<Vec<String>> {
        // All or none: a missing workflow fails the resume before anything changes.
        if let Some(absent) = workflow_ids.iter().find(|id| self.workflow(id).is_none()) {
            return Err(super::errors::resume_missing(absent));
        }
        let queue = options.queue_name.as_deref().unwrap_or(INTERNAL_QUEUE);
        let now = self.now();
        let mut changed = Vec::new();
        let mut seen = HashSet::new();
        for id in workflow_ids {
            if !seen.insert(id) {
                continue;
            }
            let row = self.workflows.get_mut(id).ok_or_else(|| missing(id))?;
            let info = &mut row.info;
            if info.status.has_outcome() {
                continue;
            }
            info.status = WorkflowStatus::Enqueued;
            info.queue_name = Some(queue.to_owned());
            info.workflow_deadline_epoch_ms = None;
            info.deduplication_id = None;
            info.started_at_epoch_ms = None;
            info.completed_at = None;
            info.recovery_attempts = 0;
            info.updated_at = now;
            row.owner_xid = None;
            changed.push(id.clone());
        }
        Ok(changed)
    }

    /// Deletes `workflow_ids` (and, with `delete_children`, their descendants); returns the
    /// ids that existed.
    pub(super) fn delete_workflows(
        &mut self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Vec<String> {
        let mut targets = distinct(workflow_ids);
        if options.delete_children {
            let descendants = self.descendants(&targets);
            targets = distinct(&[targets, descendants].concat());
        }
        targets
            .into_iter()
            .filter(|id| self.delete_workflow(id))
            .collect()
    }

    /// The first step of `workflow_id` a fork or rewind starting at `start` runs again, as
    /// [`ForkStart`]'s documentation says: the given number; the highest-numbered step that
    /// recorded an error; the lowest-numbered step of the given name.
    ///
    /// # Errors
    /// `InvalidInput` when no step failed, or none has the name.
    fn start_step(&self, workflow_id: &str, start: &ForkStart) -> Result<i32> {
        let mut steps = self.steps_of(workflow_id);
        let found = match start {
            ForkStart::Step(n) => return Ok(*n),
            ForkStart::LastFailure => steps
                .filter(|(_, row)| row.error.is_some())
                .last()
                .map(|(function_id, _)| function_id),
            ForkStart::NamedStep(name) => steps
                .find(|(_, row)| row.function_name == *name)
                .map(|(function_id, _)| function_id),
            other => {
                return Err(super::errors::error(
                    dbos_storage_core::ErrorKind::Unsupported,
                    format!("the memory store does not know the fork start {other:?}"),
                ))
            }
        };
        found.ok_or_else(|| {
            super::errors::error(
                dbos_storage_core::ErrorKind::InvalidInput,
                format!("workflow {workflow_id} has no step where {start:?} starts"),
            )
        })
    }

    /// The step rows of `workflow_id`, by position.
    pub(super) fn steps_of<'a>(
        &'a self,
        workflow_id: &str,
    ) -> impl Iterator<Item = (i32, &'a StepRow)> + 'a {
        let from = (workflow_id.to_owned(), i32::MIN);
        let to = (workflow_id.to_owned(), i32::MAX);
        self.steps.range(from..=to).map(|((_, id), row)| (*id, row))
    }

    /// The fork of [`ManagementStore::fork_workflows`](dbos_storage_core::ManagementStore);
    /// `requests` went through `prepare_forks`, so each has a fork id.
    pub(super) fn fork(&mut self, requests: &[ForkRequest]) -> Result<Vec<ForkedWorkflow>> {
        let mut plan = Vec::with_capacity(requests.len());
        for request in requests {
            let source = &request.source_workflow_id;
            if self.workflow(source).is_none() {
                return Err(missing(source));
            }
            let start = self.start_step(source, &request.start)?;
            let fork = request
                .fork_workflow_id
                .clone()
                .ok_or_else(|| Error::invalid_input("a fork needs an id (see prepare_forks)"))?;
            let made = match self.workflow(&fork) {
                None => false,
                Some(existing) if existing.info.forked_from.as_deref() == Some(source) => true,
                Some(_) => {
                    return Err(ours(Error::conflict(format!(
                        "workflow id {fork} is already used by another workflow; choose another \
                         fork id"
                    ))))
                }
            };
            plan.push(PlannedFork {
                source: source.clone(),
                fork,
                start,
                made,
            });
        }
        for (request, planned) in requests.iter().zip(&plan) {
            if !planned.made {
                self.write_fork(request, planned);
            }
        }
        Ok(plan
            .into_iter()
            .map(|p| ForkedWorkflow::new(p.source, p.fork, p.start))
            .collect())
    }

    /// Writes one checked fork: its status and input rows, then the steps, event history,
    /// rebuilt events and stream entries below the start step.
    fn write_fork(&mut self, request: &ForkRequest, planned: &PlannedFork) {
        let now = self.now();
        let Some(source) = self.workflows.get_mut(&planned.source) else {
            return;
        };
        source.info.was_forked_from = true;
        let source = source.clone();
        let s = &source.info;
        let mut info = WorkflowInfo::new(&planned.fork, &s.name, WorkflowStatus::Enqueued);
        info.class_name = s.class_name.clone();
        info.config_name = s.config_name.clone();
        info.application_id = s.application_id.clone();
        info.authenticated_user = s.authenticated_user.clone();
        info.assumed_role = s.assumed_role.clone();
        info.authenticated_roles = s.authenticated_roles.clone();
        info.serialization = s.serialization.clone();
        info.attributes = s.attributes.clone();
        info.queue_name = Some(
            request
                .queue_name
                .clone()
                .unwrap_or_else(|| INTERNAL_QUEUE.to_owned()),
        );
        info.queue_partition_key = request.queue_partition_key.clone();
        info.application_version = request
            .application_version
            .clone()
            .or_else(|| s.application_version.clone());
        info.workflow_timeout_ms = request.workflow_timeout_ms.or(s.workflow_timeout_ms);
        info.forked_from = Some(planned.source.clone());
        info.created_at = now;
        info.updated_at = now;
        info.application_name = s
            .application_name
            .clone()
            .or_else(|| request.application_name.clone());
        let owner = info.application_name.clone();
        // Rows a deleted workflow left under this id (the payload tables have no foreign key)
        // are not the fork's.
        self.outputs.remove(&planned.fork);
        self.steps.retain(|(w, _), _| w != &planned.fork);
        let row = WorkflowRow {
            info,
            raw: RawColumns {
                request: None,
                authenticated_roles: source.raw.authenticated_roles.clone(),
                attributes: source.raw.attributes.clone(),
            },
            creator_xid: None,
            owner_xid: None,
            rate_limited: false,
            is_debounced: false,
            debounce_deadline_epoch_ms: None,
        };
        // `COALESCE(workflow_input.inputs, workflow_status.inputs)`.
        let inputs = self
            .inputs
            .get(&planned.source)
            .and_then(|i| i.inputs.clone())
            .or_else(|| s.inputs.clone());
        self.put_workflow(row, InputRow::new(inputs, now));

        let (src, fork, k) = (&planned.source, &planned.fork, planned.start);
        if k <= 1 {
            return;
        }
        let steps: Vec<(i32, StepRow)> = self
            .steps_of(src)
            .filter(|(id, _)| *id < k)
            .map(|(id, row)| {
                let mut row = row.clone();
                if let Some(child) = &row.child_workflow_id {
                    if let Some(new) = request.replacement_children.get(child) {
                        row.child_workflow_id = Some(new.clone());
                    }
                }
                row.application_name = owner.clone();
                (id, row)
            })
            .collect();
        for (id, row) in steps {
            self.steps.insert((fork.clone(), id), row);
        }
        let history: Vec<((i32, String), _)> = self
            .event_history
            .iter()
            .filter(|((w, id, _), _)| w == src && *id < k)
            .map(|((_, id, key), value)| ((*id, key.clone()), value.clone()))
            .collect();
        // Each key's value from its copied history row with the highest step (the history is
        // ordered by step, so the last write wins).
        let mut events = BTreeMap::new();
        for ((id, key), value) in history {
            events.insert(key.clone(), value.clone());
            self.event_history.insert((fork.clone(), id, key), value);
        }
        for (key, value) in events {
            self.events.insert((fork.clone(), key), value);
        }
        let streams: Vec<_> = self
            .streams
            .iter()
            .filter(|((w, _, _), row)| w == src && row.function_id < k)
            .map(|((_, key, offset), row)| ((fork.clone(), key.clone(), *offset), row.clone()))
            .collect();
        self.streams.extend(streams);
    }

    /// The rewind of [`ManagementStore::rewind_workflow`](dbos_storage_core::ManagementStore).
    pub(super) fn rewind(&mut self, request: &RewindRequest) -> Result<RewoundWorkflow> {
        let id = &request.workflow_id;
        let row = self.workflow(id).ok_or_else(|| missing(id))?;
        let previous = row.info.status.clone();
        if !previous.ended() {
            return Err(ours(Error::conflict(format!(
                "workflow {id} is {}; only a finished workflow can be rewound",
                previous.as_str()
            ))));
        }
        let k = self.start_step(id, &request.start)?;

        // Events published at or after the cut go; each such key gets back its latest value
        // from before the cut, if it had one.
        let cut_keys: BTreeSet<String> = self
            .event_history
            .keys()
            .filter(|(w, f, _)| w == id && *f >= k)
            .map(|(_, _, key)| key.clone())
            .collect();
        for key in cut_keys {
            self.events.remove(&(id.clone(), key.clone()));
            let restored = self
                .event_history
                .iter()
                .filter(|((w, f, k2), _)| w == id && *f < k && *k2 == key)
                .max_by_key(|((_, f, _), _)| *f)
                .map(|(_, value)| value.clone());
            if let Some(value) = restored {
                self.events.insert((id.clone(), key), value);
            }
        }
        self.streams.retain(|(w, _, _), row| {
            !(w == id && row.function_id >= k && is_close_sentinel(&row.value))
        });
        self.steps.retain(|(w, f), _| !(w == id && *f >= k));
        self.event_history
            .retain(|(w, f, _), _| !(w == id && *f >= k));
        self.notifications.retain(|m| {
            let cut = !m.consumed || m.consumed_by_function_id.is_some_and(|f| f >= k);
            !(m.destination_id == *id && cut)
        });
        self.outputs.remove(id);

        let now = self.now();
        let row = self.workflows.get_mut(id).ok_or_else(|| missing(id))?;
        let info = &mut row.info;
        info.output = None;
        info.error = None;
        info.status = WorkflowStatus::Enqueued;
        info.queue_name = Some(
            request
                .queue_name
                .clone()
                .unwrap_or_else(|| INTERNAL_QUEUE.to_owned()),
        );
        info.queue_partition_key = request.queue_partition_key.clone();
        if let Some(version) = &request.application_version {
            info.application_version = Some(version.clone());
        }
        info.workflow_deadline_epoch_ms = None;
        info.deduplication_id = None;
        info.started_at_epoch_ms = None;
        info.completed_at = None;
        info.recovery_attempts = 0;
        info.updated_at = now;
        row.owner_xid = None;
        Ok(RewoundWorkflow::new(id, k, previous))
    }

    /// Deletes one workflow with every row that belongs to it: the payload and step rows
    /// explicitly (they have no foreign key), then the status row, whose messages, events,
    /// event history and streams cascade. Returns whether a status row went.
    pub(super) fn delete_workflow(&mut self, id: &str) -> bool {
        self.inputs.remove(id);
        self.outputs.remove(id);
        self.steps.retain(|(w, _), _| w != id);
        if self.workflows.remove(id).is_none() {
            return false;
        }
        self.notifications.retain(|m| m.destination_id != id);
        self.events.retain(|(w, _), _| w != id);
        self.event_history.retain(|(w, _, _), _| w != id);
        self.streams.retain(|(w, _, _), _| w != id);
        true
    }

    /// The update of
    /// [`ManagementStore::update_workflow_attributes`](dbos_storage_core::ManagementStore);
    /// `attributes` has been validated.
    pub(super) fn update_attributes(
        &mut self,
        workflow_id: &str,
        attributes: Map<String, Value>,
        mode: AttributeUpdate,
    ) -> Result<Map<String, Value>> {
        let row = self
            .workflows
            .get_mut(workflow_id)
            .ok_or_else(|| missing(workflow_id))?;
        let stored = match mode {
            AttributeUpdate::Merge => {
                // SQL NULL, JSON null or anything but an object merges into an empty map.
                let mut base = match row.raw.attributes.as_deref().map(serde_json::from_str) {
                    Some(Ok(Value::Object(map))) => map,
                    _ => Map::new(),
                };
                base.extend(attributes);
                base
            }
            AttributeUpdate::Clear => {
                // JSON `null`, DBOS's "unset": read back as no map.
                row.raw.attributes = Some(Value::Null.to_string());
                row.info.attributes = None;
                return Ok(Map::new());
            }
            _ => attributes,
        };
        row.raw.attributes = Some(Value::Object(stored.clone()).to_string());
        row.info.attributes = Some(stored.clone());
        Ok(stored)
    }
}
