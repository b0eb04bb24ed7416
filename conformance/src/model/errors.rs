//! The errors [`MemoryStore`](super::MemoryStore) reports, worded by the model itself.
//!
//! The kinds follow the `# Errors` sections of the trait docs; the words are the model's own
//! (written apart from the drivers', so that a property checking a message checks what the
//! contract asks of it, not one shared sentence). Every error names this backend.

use dbos_storage_core::{EpochMs, Error, ErrorKind, NewWorkflow, StepRecord};

use super::BACKEND;

/// An error of the model: `kind` with `message`, naming the memory backend.
pub(super) fn error(kind: ErrorKind, message: String) -> Error {
    Error::new(kind, message).with_backend(BACKEND)
}

/// There is no workflow `workflow_id`.
pub(super) fn missing(workflow_id: &str) -> Error {
    error(
        ErrorKind::NotFound,
        format!("workflow {workflow_id} does not exist"),
    )
}

/// The workflow a running execution writes for is gone, so it cannot do `what`.
pub(super) fn deleted_while_running(workflow_id: &str, what: &str) -> Error {
    error(
        ErrorKind::NotFound,
        format!(
            "cannot {what}: workflow {workflow_id} does not exist (it was deleted while running)"
        ),
    )
}

/// `workflow_id` is cancelled: its next step stops it.
pub(super) fn cancelled(workflow_id: &str) -> Error {
    error(
        ErrorKind::Cancelled,
        format!("workflow {workflow_id} was cancelled"),
    )
}

/// The step recorded at `function_id` is named `recorded`, not `running`.
pub(super) fn unexpected_step(
    workflow_id: &str,
    function_id: i32,
    running: &str,
    recorded: &str,
) -> Error {
    error(
        ErrorKind::UnexpectedStep,
        format!(
            "workflow {workflow_id} recorded step {recorded:?} at position {function_id}, but \
             this execution runs {running:?} there: the workflow is not deterministic"
        ),
    )
}

/// The execution holding another token than the workflow's (or none) cannot do `what`.
pub(super) fn not_owner(workflow_id: &str, what: &str, owned_by_another: bool) -> Error {
    let now = if owned_by_another {
        "another execution owns it now"
    } else {
        "nobody owns it now"
    };
    error(
        ErrorKind::NotOwner,
        format!(
            "cannot {what}: workflow {workflow_id} is no longer owned by this execution ({now})"
        ),
    )
}

/// `step` was recorded first by a rival, whose row completed at `recorded_at`.
pub(super) fn step_conflict(step: &StepRecord, recorded_at: Option<EpochMs>) -> Error {
    let time =
        |t: Option<EpochMs>| t.map_or_else(|| "an unknown time".to_owned(), |t| t.to_string());
    error(
        ErrorKind::StepConflict,
        format!(
            "step {} ({:?}) of workflow {} is already recorded by another execution (completed \
             at {}, this attempt at {}); the recorded result stays",
            step.function_id,
            step.function_name,
            step.workflow_id,
            time(recorded_at),
            time(step.completed_column()),
        ),
    )
}

/// The parent's step at `function_id` records something else than starting `child_id`.
pub(super) fn child_step_conflict(
    parent_id: &str,
    function_id: i32,
    recorded: &str,
    child_id: &str,
) -> Error {
    error(
        ErrorKind::StepConflict,
        format!(
            "step {function_id} of workflow {parent_id} already recorded {recorded}; it cannot \
             start child workflow {child_id}"
        ),
    )
}

/// The parent of a child start does not exist.
pub(super) fn missing_parent(parent_id: &str, child_id: &str) -> Error {
    error(
        ErrorKind::NotFound,
        format!(
            "cannot start child workflow {child_id}: parent workflow {parent_id} does not exist"
        ),
    )
}

/// Another workflow holds the deduplication id `wf` asks for on its queue.
pub(super) fn deduplicated(wf: &NewWorkflow) -> Error {
    error(
        ErrorKind::Deduplicated,
        format!(
            "workflow {} is not enqueued: deduplication id {:?} is taken on queue {:?}",
            wf.workflow_id,
            wf.deduplication_id.as_deref().unwrap_or_default(),
            wf.queue_name.as_deref().unwrap_or_default(),
        ),
    )
}

/// The id of `wf` belongs to a workflow with another name, class or config.
pub(super) fn workflow_conflict(
    wf: &NewWorkflow,
    existing: &dbos_storage_core::WorkflowInfo,
) -> Error {
    error(
        ErrorKind::WorkflowConflict,
        format!(
            "workflow id {} is taken by workflow {:?} (class {:?}, config {:?}); it cannot run \
             workflow {:?} (class {:?}, config {:?})",
            wf.workflow_id,
            existing.name,
            existing.class_name,
            existing.config_name,
            wf.name,
            wf.class_name,
            wf.config_name,
        ),
    )
}

/// The id of `wf` was taken by another start, and the reuse policy refuses to attach.
pub(super) fn workflow_id_in_use(wf: &NewWorkflow) -> Error {
    error(
        ErrorKind::WorkflowIdInUse,
        format!(
            "workflow id {} is in use by another start of {:?}",
            wf.workflow_id, wf.name
        ),
    )
}

/// A workflow to resume does not exist; nothing was resumed.
pub(super) fn resume_missing(workflow_id: &str) -> Error {
    error(
        ErrorKind::NotFound,
        format!("workflow {workflow_id} does not exist; nothing was resumed"),
    )
}

/// A send names a destination that does not exist; nothing was sent.
pub(super) fn missing_destination(destination_id: &str) -> Error {
    error(
        ErrorKind::NotFound,
        format!("destination workflow {destination_id} does not exist; nothing was sent"),
    )
}

/// A write to the closed stream `key` of `workflow_id`.
pub(super) fn closed_stream(workflow_id: &str, key: &str) -> Error {
    error(
        ErrorKind::InvalidInput,
        format!("stream {key} of workflow {workflow_id} is closed; nothing was written"),
    )
}

/// A step holds what the operation recording it never records.
pub(super) fn corrupt(message: String) -> Error {
    error(ErrorKind::Corrupt, message)
}
