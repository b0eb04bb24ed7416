//! Export and import of [`MemoryStore`](super::MemoryStore): every row of a workflow, with its
//! columns as stored, out to an [`ExportedWorkflow`] and back.

use std::collections::HashSet;

use dbos_storage_core::export::{self, EventHistoryRow, EventRow, StreamRow};
use dbos_storage_core::{
    Error, ExportedWorkflow, ImportOptions, Payload, Result, Serialization, WorkflowInfo,
    WorkflowStatus,
};

use super::streams::StreamRow as StoredStreamRow;
use super::{missing, ours, RawColumns, State, StepRow, WorkflowRow};

/// Checks an import before it touches the tables: every workflow valid, no id twice.
///
/// # Errors
/// [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput) naming the workflow.
pub(super) fn validate_import(workflows: &[ExportedWorkflow]) -> Result<()> {
    let mut seen = HashSet::new();
    for w in workflows {
        w.validate()?;
        if !seen.insert(w.workflow_id()) {
            return Err(Error::invalid_input(format!(
                "workflow {} appears twice in one import",
                w.workflow_id()
            )));
        }
    }
    Ok(())
}

/// A stored label as a payload label.
fn label(text: &Option<String>) -> Option<Serialization> {
    text.as_deref().map(Serialization::parse_label)
}

/// A payload's label as stored.
fn stored_label(payload: &Payload) -> Option<String> {
    payload.label().map(str::to_owned)
}

impl State {
    /// The workflows of [`ManagementStore::export_workflows`]: each requested id, then (with
    /// `include_children`) its descendants breadth first, each workflow once.
    ///
    /// [`ManagementStore::export_workflows`]: dbos_storage_core::ManagementStore::export_workflows
    pub(super) fn export(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        if let Some(absent) = workflow_ids.iter().find(|id| self.workflow(id).is_none()) {
            return Err(missing(absent));
        }
        let mut order = Vec::new();
        for id in workflow_ids {
            order.push(id.clone());
            if include_children {
                order.extend(self.descendants(std::slice::from_ref(id)));
            }
        }
        let order = super::distinct(&order);
        Ok(order.iter().filter_map(|id| self.exported(id)).collect())
    }

    /// Every row of one workflow.
    fn exported(&self, id: &str) -> Option<ExportedWorkflow> {
        let row = self.workflow(id)?;
        let mut w = ExportedWorkflow::new(status_row(row));
        w.input = self.inputs.get(id).cloned();
        w.output = self.outputs.get(id).cloned();
        for (function_id, step) in self.steps_of(id) {
            let mut s =
                export::StepRow::new(function_id, &step.function_name, step.retention_timestamp);
            s.output.clone_from(&step.output);
            s.error.clone_from(&step.error);
            s.child_workflow_id.clone_from(&step.child_workflow_id);
            s.started_at_epoch_ms = step.started_at_epoch_ms;
            s.completed_at_epoch_ms = step.completed_at_epoch_ms;
            s.serialization.clone_from(&step.serialization);
            s.application_name.clone_from(&step.application_name);
            w.steps.push(s);
        }
        for ((_, key), value) in self.events.iter().filter(|((w, _), _)| w == id) {
            w.events
                .push(EventRow::new(key, &value.text, stored_label(value)));
        }
        for ((_, function_id, key), value) in
            self.event_history.iter().filter(|((w, _, _), _)| w == id)
        {
            w.event_history.push(EventHistoryRow::new(
                *function_id,
                key,
                &value.text,
                stored_label(value),
            ));
        }
        for ((_, key, offset), s) in self.streams.iter().filter(|((w, _, _), _)| w == id) {
            w.streams.push(StreamRow::new(
                key,
                *offset,
                &s.value.text,
                s.function_id,
                stored_label(&s.value),
            ));
        }
        w.sort();
        Some(w)
    }

    /// The import of [`ManagementStore::import_workflows`]; `workflows` passed
    /// [`validate_import`].
    ///
    /// [`ManagementStore::import_workflows`]: dbos_storage_core::ManagementStore::import_workflows
    pub(super) fn import(
        &mut self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        if !options.replace_existing {
            if let Some(existing) = workflows
                .iter()
                .find(|w| self.workflow(w.workflow_id()).is_some())
            {
                return Err(ours(Error::conflict(format!(
                    "workflow {} already exists; import with replace_existing to overwrite it",
                    existing.workflow_id()
                ))));
            }
        }
        let mut imported = Vec::with_capacity(workflows.len());
        for w in workflows {
            let id = w.workflow_id().to_owned();
            self.delete_workflow(&id);
            self.insert_exported(w);
            imported.push(id);
        }
        Ok(imported)
    }

    /// Writes every row of one exported workflow, as given.
    fn insert_exported(&mut self, w: ExportedWorkflow) {
        let id = w.status.workflow_uuid.clone();
        if let Some(input) = w.input {
            self.inputs.insert(id.clone(), input);
        }
        if let Some(output) = w.output {
            self.outputs.insert(id.clone(), output);
        }
        for s in w.steps {
            let row = StepRow {
                function_name: s.function_name,
                output: s.output,
                error: s.error,
                serialization: s.serialization,
                child_workflow_id: s.child_workflow_id,
                started_at_epoch_ms: s.started_at_epoch_ms,
                completed_at_epoch_ms: s.completed_at_epoch_ms,
                application_name: s.application_name,
                retention_timestamp: s.retention_timestamp,
            };
            self.steps.insert((id.clone(), s.function_id), row);
        }
        for e in w.events {
            let value = Payload::new(e.value, label(&e.serialization));
            self.events.insert((id.clone(), e.key), value);
        }
        for e in w.event_history {
            let value = Payload::new(e.value, label(&e.serialization));
            self.event_history
                .insert((id.clone(), e.function_id, e.key), value);
        }
        for s in w.streams {
            let row = StoredStreamRow {
                value: Payload::new(s.value, label(&s.serialization)),
                function_id: s.function_id,
            };
            self.streams.insert((id.clone(), s.key, s.offset), row);
        }
        self.workflows.insert(id, workflow_row(w.status));
    }
}

/// The `workflow_status` row of `row` as exported: every column but `owner_xid`.
fn status_row(row: &WorkflowRow) -> export::WorkflowRow {
    let info = &row.info;
    let mut s = export::WorkflowRow::new(&info.workflow_id, info.status.as_str(), info.created_at);
    // The model keeps a NULL name as the empty string; no writer of the contract stores one.
    s.name = (!info.name.is_empty()).then(|| info.name.clone());
    s.authenticated_user.clone_from(&info.authenticated_user);
    s.assumed_role.clone_from(&info.assumed_role);
    s.authenticated_roles
        .clone_from(&row.raw.authenticated_roles);
    s.request.clone_from(&row.raw.request);
    s.output.clone_from(&info.output);
    s.error.clone_from(&info.error);
    s.executor_id.clone_from(&info.executor_id);
    s.updated_at = info.updated_at;
    s.application_version.clone_from(&info.application_version);
    s.application_id.clone_from(&info.application_id);
    s.class_name.clone_from(&info.class_name);
    s.config_name.clone_from(&info.config_name);
    s.recovery_attempts = Some(info.recovery_attempts);
    s.queue_name.clone_from(&info.queue_name);
    s.workflow_timeout_ms = info.workflow_timeout_ms;
    s.workflow_deadline_epoch_ms = info.workflow_deadline_epoch_ms;
    s.inputs.clone_from(&info.inputs);
    s.started_at_epoch_ms = info.started_at_epoch_ms;
    s.deduplication_id.clone_from(&info.deduplication_id);
    s.priority = info.priority;
    s.queue_partition_key.clone_from(&info.queue_partition_key);
    s.forked_from.clone_from(&info.forked_from);
    s.parent_workflow_id.clone_from(&info.parent_workflow_id);
    s.serialization = info.serialization.as_ref().map(|l| l.as_label().to_owned());
    s.delay_until_epoch_ms = info.delay_until_epoch_ms;
    s.was_forked_from = info.was_forked_from;
    s.rate_limited = row.rate_limited;
    s.completed_at = info.completed_at;
    // Exports write attributes compact with sorted keys (what `serde_json` writes without
    // `preserve_order`); text that is not JSON goes out as stored.
    s.attributes = row.raw.attributes.as_deref().map(|text| {
        serde_json::from_str::<serde_json::Value>(text)
            .map_or_else(|_| text.to_owned(), |json| json.to_string())
    });
    s.schedule_name.clone_from(&info.schedule_name);
    s.debounce_deadline_epoch_ms = row.debounce_deadline_epoch_ms;
    s.is_debounced = row.is_debounced;
    s.application_name.clone_from(&info.application_name);
    s.creator_xid.clone_from(&row.creator_xid);
    s
}

/// A model row from an exported `workflow_status` row (owned by nobody).
fn workflow_row(s: export::WorkflowRow) -> WorkflowRow {
    let mut info = WorkflowInfo::new(
        &s.workflow_uuid,
        s.name.unwrap_or_default(),
        WorkflowStatus::parse(&s.status),
    );
    info.authenticated_user = s.authenticated_user;
    info.assumed_role = s.assumed_role;
    info.authenticated_roles = s
        .authenticated_roles
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    info.output = s.output;
    info.error = s.error;
    info.executor_id = s.executor_id;
    info.created_at = s.created_at;
    info.updated_at = s.updated_at;
    info.application_version = s.application_version;
    info.application_id = s.application_id;
    info.class_name = s.class_name;
    info.config_name = s.config_name;
    info.recovery_attempts = s.recovery_attempts.unwrap_or(0);
    info.queue_name = s.queue_name;
    info.workflow_timeout_ms = s.workflow_timeout_ms;
    info.workflow_deadline_epoch_ms = s.workflow_deadline_epoch_ms;
    info.inputs = s.inputs;
    info.started_at_epoch_ms = s.started_at_epoch_ms;
    info.deduplication_id = s.deduplication_id;
    info.priority = s.priority;
    info.queue_partition_key = s.queue_partition_key;
    info.forked_from = s.forked_from;
    info.parent_workflow_id = s.parent_workflow_id;
    info.serialization = label(&s.serialization);
    info.delay_until_epoch_ms = s.delay_until_epoch_ms;
    info.was_forked_from = s.was_forked_from;
    info.completed_at = s.completed_at;
    info.attributes = match s.attributes.as_deref().map(serde_json::from_str) {
        Some(Ok(serde_json::Value::Object(map))) => Some(map),
        _ => None,
    };
    info.schedule_name = s.schedule_name;
    info.application_name = s.application_name;
    WorkflowRow {
        info,
        raw: RawColumns {
            request: s.request,
            authenticated_roles: s.authenticated_roles,
            attributes: s.attributes,
        },
        creator_xid: s.creator_xid,
        owner_xid: None,
        rate_limited: s.rate_limited,
        is_debounced: s.is_debounced,
        debounce_deadline_epoch_ms: s.debounce_deadline_epoch_ms,
    }
}
