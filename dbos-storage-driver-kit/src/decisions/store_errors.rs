//! The errors every system store reports in the same words, by what happened.

use dbos_storage_core::{EpochMs, Error, ErrorKind, NewWorkflow, StepRecord};

/// No workflow has the id.
pub fn missing_workflow(workflow_id: &str) -> Error {
    Error::not_found(format!("workflow {workflow_id} does not exist"))
}

/// The workflow was cancelled; a running workflow notices at its next step.
pub fn cancelled(workflow_id: &str) -> Error {
    Error::new(
        ErrorKind::Cancelled,
        format!("workflow {workflow_id} was cancelled"),
    )
}

/// The step recorded at `function_id` is `recorded`, but this execution runs `expected` there.
pub fn unexpected_step(
    workflow_id: &str,
    function_id: i32,
    expected: &str,
    recorded: &str,
) -> Error {
    Error::new(
        ErrorKind::UnexpectedStep,
        format!(
            "workflow {workflow_id} step {function_id}: this execution runs step {expected:?} but \
             the step recorded at that position is {recorded:?}; the workflow code is not \
             deterministic (it changed, or depends on something outside the workflow)"
        ),
    )
}

/// A rival execution recorded `step` first, at `recorded_at` (when known); the recorded result is
/// kept.
pub fn step_conflict(step: &StepRecord, recorded_at: Option<EpochMs>) -> Error {
    Error::new(
        ErrorKind::StepConflict,
        format!(
            "step {} ({:?}) of workflow {} was already recorded by another execution (completed \
             at {}, this attempt at {}); the recorded result is kept",
            step.function_id,
            step.function_name,
            step.workflow_id,
            recorded_at.map_or_else(|| "an unknown time".to_owned(), |t| t.to_string()),
            step.completed_column()
                .map_or_else(|| "no recorded time".to_owned(), |t| t.to_string())
        ),
    )
}

/// The parent's step at `function_id` already records something else than starting `child_id`:
/// another child (`recorded_child`), or a step named `recorded_name`.
pub fn child_step_conflict(
    parent_workflow_id: &str,
    function_id: i32,
    recorded_child: Option<&str>,
    recorded_name: &str,
    child_id: &str,
) -> Error {
    let recorded = match recorded_child {
        Some(c) => format!("child workflow {c}"),
        None => format!("step {recorded_name:?}"),
    };
    Error::new(
        ErrorKind::StepConflict,
        format!(
            "step {function_id} of workflow {parent_workflow_id} already recorded {recorded}; this \
             execution cannot start child workflow {child_id} there"
        ),
    )
}

/// This execution no longer owns the workflow, so it cannot do `what` (`"record step 3"`);
/// `owned_by_other` says whether another execution owns it now or nobody does.
pub fn not_owner(workflow_id: &str, what: &str, owned_by_other: bool) -> Error {
    Error::new(
        ErrorKind::NotOwner,
        format!(
            "workflow {workflow_id} is no longer owned by this execution ({}), so it cannot \
             {what}; it was cancelled, recovered or handed to another executor — stop and adopt \
             the recorded outcome",
            if owned_by_other {
                "another execution owns it now"
            } else {
                "nobody owns it now"
            }
        ),
    )
}

/// The workflow a running execution writes for was deleted, so it cannot do `what`.
pub fn deleted_while_running(workflow_id: &str, what: &str) -> Error {
    Error::not_found(format!(
        "workflow {workflow_id} does not exist, so this execution cannot {what}; it was deleted \
         while running"
    ))
}

/// The parent of a child start does not exist.
pub fn missing_parent(parent_workflow_id: &str, child_id: &str) -> Error {
    Error::not_found(format!(
        "parent workflow {parent_workflow_id} does not exist; cannot start child workflow \
         {child_id}"
    ))
}

/// The queue's deduplication id of `workflow` is held by another workflow; nothing was enqueued.
pub fn deduplicated(workflow: &NewWorkflow) -> Error {
    Error::new(
        ErrorKind::Deduplicated,
        format!(
            "workflow {} was not enqueued: queue {:?} already has a workflow with deduplication \
             id {:?}",
            workflow.workflow_id,
            workflow.queue_name.as_deref().unwrap_or(""),
            workflow.deduplication_id.as_deref().unwrap_or("")
        ),
    )
}

/// The id of `workflow` is used by a workflow with another name, class or config (those of the
/// existing row).
pub fn workflow_conflict(
    workflow: &NewWorkflow,
    existing_name: Option<&str>,
    existing_class: Option<&str>,
    existing_config: Option<&str>,
) -> Error {
    Error::new(
        ErrorKind::WorkflowConflict,
        format!(
            "workflow id {} is already used by workflow {}; it cannot also run workflow {}",
            workflow.workflow_id,
            describe(existing_name, existing_class, existing_config),
            describe(
                Some(&workflow.name),
                workflow.class_name.as_deref(),
                workflow.config_name.as_deref()
            ),
        ),
    )
}

/// The id of `workflow` was taken by another start and the reuse policy rejects attaching.
pub fn workflow_id_in_use(workflow: &NewWorkflow) -> Error {
    Error::new(
        ErrorKind::WorkflowIdInUse,
        format!(
            "workflow id {} is already in use by another start of workflow {:?}; choose another \
             id, or attach to the existing workflow",
            workflow.workflow_id, workflow.name
        ),
    )
}

/// A workflow to resume does not exist; nothing was resumed.
pub fn resume_missing(workflow_id: &str) -> Error {
    Error::not_found(format!(
        "workflow {workflow_id} does not exist; nothing was resumed"
    ))
}

/// `name`, with its class and config when set, for messages.
fn describe(name: Option<&str>, class: Option<&str>, config: Option<&str>) -> String {
    let mut s = format!("{:?}", name.unwrap_or(""));
    if let Some(class) = class {
        s.push_str(&format!(" of class {class:?}"));
    }
    if let Some(config) = config {
        s.push_str(&format!(" (config {config:?})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::Payload;

    #[test]
    fn kinds_follow_what_happened() {
        let wf = NewWorkflow::new("wf-1", "checkout", Payload::portable_json("null"));
        let step = StepRecord::output("wf-1", 3, "fetch", Payload::portable_json("1"))
            .with_times(None, 1100);
        for (error, kind) in [
            (missing_workflow("wf-1"), ErrorKind::NotFound),
            (cancelled("wf-1"), ErrorKind::Cancelled),
            (
                unexpected_step("wf-1", 1, "a", "b"),
                ErrorKind::UnexpectedStep,
            ),
            (step_conflict(&step, Some(1000)), ErrorKind::StepConflict),
            (
                child_step_conflict("p", 1, None, "s", "c"),
                ErrorKind::StepConflict,
            ),
            (
                not_owner("wf-1", "record step 1", true),
                ErrorKind::NotOwner,
            ),
            (deleted_while_running("wf-1", "x"), ErrorKind::NotFound),
            (missing_parent("p", "c"), ErrorKind::NotFound),
            (deduplicated(&wf), ErrorKind::Deduplicated),
            (
                workflow_conflict(&wf, Some("refund"), None, None),
                ErrorKind::WorkflowConflict,
            ),
            (workflow_id_in_use(&wf), ErrorKind::WorkflowIdInUse),
            (resume_missing("ghost"), ErrorKind::NotFound),
        ] {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.backend(), None, "{error}");
        }
    }

    #[test]
    fn messages_name_what_they_are_about() {
        let wf = NewWorkflow::new("wf-1", "checkout", Payload::portable_json("null"))
            .with_class(Some("Shop".into()), Some("eu".into()));
        assert_eq!(
            workflow_conflict(&wf, Some("refund"), Some("Shop"), None).message(),
            "workflow id wf-1 is already used by workflow \"refund\" of class \"Shop\"; it cannot \
             also run workflow \"checkout\" of class \"Shop\" (config \"eu\")"
        );
        let step = StepRecord::output("wf-step", 3, "fetch", Payload::portable_json("1"))
            .with_times(None, 1100);
        let m = step_conflict(&step, None).to_string();
        assert!(m.contains("step 3") && m.contains("an unknown time") && m.contains("1100"));
        assert!(not_owner("w", "x", false)
            .message()
            .contains("nobody owns it now"));
        assert!(child_step_conflict("p", 2, Some("c-old"), "child", "c-new")
            .message()
            .contains("already recorded child workflow c-old"));
    }
}
