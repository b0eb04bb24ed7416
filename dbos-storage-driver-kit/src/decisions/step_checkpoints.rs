//! Step checkpoints: what [`StepStore::check_step`](dbos_storage_core::StepStore::check_step) answers, and
//! the `operation_outputs` rows a store writes (a recorded step, a child start and its
//! deduplication, a durable sleep). Drivers bind these columns to their own statements.

use super::store_errors;
use dbos_storage_core::{
    EpochMs, NewWorkflow, Outcome, Payload, Result, StepRecord, WorkflowStatus, SLEEP_STEP,
};

/// Checks the `status` of the workflow whose step is checked: a cancelled workflow stops there.
///
/// # Errors
/// [`Cancelled`](dbos_storage_core::ErrorKind::Cancelled) for a cancelled workflow (how a running workflow
/// notices cancellation at its next step).
pub fn ensure_not_cancelled(workflow_id: &str, status: &WorkflowStatus) -> Result<()> {
    if *status == WorkflowStatus::Cancelled {
        return Err(store_errors::cancelled(workflow_id));
    }
    Ok(())
}

/// Checks that the step recorded at `function_id` (named `recorded_name`) is the step this
/// execution runs there, `function_name`: a workflow replays the same steps in the same order.
///
/// # Errors
/// [`UnexpectedStep`](dbos_storage_core::ErrorKind::UnexpectedStep) when the names differ.
pub fn ensure_same_step(
    workflow_id: &str,
    function_id: i32,
    function_name: &str,
    recorded_name: &str,
) -> Result<()> {
    if recorded_name != function_name {
        return Err(store_errors::unexpected_step(
            workflow_id,
            function_id,
            function_name,
            recorded_name,
        ));
    }
    Ok(())
}

/// The columns of an `operation_outputs` row to insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewStep<'a> {
    /// The workflow.
    pub workflow_id: &'a str,
    /// The step's position.
    pub function_id: i32,
    /// The step's name.
    pub function_name: &'a str,
    /// The output, when the step returned one.
    pub output: Option<&'a str>,
    /// The error, when the step failed.
    pub error: Option<&'a str>,
    /// The child workflow started at this step.
    pub child_workflow_id: Option<&'a str>,
    /// When the step started (epoch ms).
    pub started_at_epoch_ms: Option<EpochMs>,
    /// When the step completed (epoch ms); `None` for a step recorded without times.
    pub completed_at_epoch_ms: Option<EpochMs>,
    /// The serialization label of the output or error.
    pub serialization: Option<&'a str>,
    /// The workflow's application, which the row copies.
    pub application_name: Option<&'a str>,
}

impl<'a> NewStep<'a> {
    /// The row of a step checkpoint (`record_step`) of a workflow of `application_name`.
    pub fn recorded(step: &'a StepRecord, application_name: Option<&'a str>) -> Self {
        let outcome = step.stored_outcome();
        NewStep {
            workflow_id: &step.workflow_id,
            function_id: step.function_id,
            function_name: &step.function_name,
            output: outcome.and_then(Outcome::output_column),
            error: outcome.and_then(Outcome::error_column),
            child_workflow_id: step.child_workflow_id.as_deref(),
            started_at_epoch_ms: step.started_column(),
            completed_at_epoch_ms: step.completed_column(),
            serialization: outcome.and_then(Outcome::payload).and_then(Payload::label),
            application_name,
        }
    }

    /// The parent's step that starts `child` at `now`; `error` is set when the start was
    /// deduplicated (see [`super::child_starts::deduplicated_step_error`]).
    pub fn child_start(
        parent_workflow_id: &'a str,
        function_id: i32,
        child: &'a NewWorkflow,
        error: Option<&'a Payload>,
        now: EpochMs,
        application_name: Option<&'a str>,
    ) -> Self {
        NewStep {
            workflow_id: parent_workflow_id,
            function_id,
            function_name: &child.name,
            output: None,
            error: error.map(|p| p.text.as_str()),
            child_workflow_id: Some(&child.workflow_id),
            started_at_epoch_ms: Some(now),
            completed_at_epoch_ms: Some(now),
            serialization: error.and_then(Payload::label),
            application_name,
        }
    }

    /// The step [`SLEEP_STEP`] that records a sleep started at `now` until `wake_at_epoch_ms`,
    /// with `output` from [`super::durable_sleep::encode_wake_time`]. Its completion time is the wake
    /// time.
    pub fn sleep(
        workflow_id: &'a str,
        function_id: i32,
        output: &'a Payload,
        now: EpochMs,
        wake_at_epoch_ms: EpochMs,
        application_name: Option<&'a str>,
    ) -> Self {
        NewStep {
            workflow_id,
            function_id,
            function_name: SLEEP_STEP,
            output: Some(&output.text),
            error: None,
            child_workflow_id: None,
            started_at_epoch_ms: Some(now),
            completed_at_epoch_ms: Some(wake_at_epoch_ms),
            serialization: output.label(),
            application_name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decisions::{child_starts, durable_sleep};
    use dbos_storage_core::ErrorKind;

    #[test]
    fn checks_need_a_running_workflow_and_the_same_name() {
        let cancelled = ensure_not_cancelled("w", &WorkflowStatus::Cancelled).unwrap_err();
        assert_eq!(cancelled.kind(), ErrorKind::Cancelled);
        ensure_not_cancelled("w", &WorkflowStatus::Success).unwrap();

        ensure_same_step("w", 1, "fetch", "fetch").unwrap();
        let e = ensure_same_step("w", 1, "other", "fetch").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedStep);
        assert!(e.message().contains("fetch") && e.message().contains("other"));
    }

    #[test]
    fn recorded_steps_split_the_outcome() {
        let step = StepRecord::error("w", 2, "fetch", Payload::portable_json("e"))
            .with_child("c")
            .with_times(Some(1), 2);
        let row = NewStep::recorded(&step, Some("app"));
        assert_eq!((row.output, row.error), (None, Some("e")));
        assert_eq!(row.serialization, Some("portable_json"));
        assert_eq!(row.child_workflow_id, Some("c"));
        assert_eq!(
            (row.started_at_epoch_ms, row.completed_at_epoch_ms),
            (Some(1), Some(2))
        );
        let untimed = step.clone().without_times();
        let row = NewStep::recorded(&untimed, None);
        assert_eq!(
            (row.started_at_epoch_ms, row.completed_at_epoch_ms),
            (None, None),
            "a step recorded without times writes NULL times"
        );
        let marker = StepRecord::with_outcome("w", 3, "mark", None);
        let row = NewStep::recorded(&marker, None);
        assert_eq!(
            (row.output, row.error, row.serialization),
            (None, None, None)
        );
    }

    #[test]
    fn child_starts_and_sleeps() {
        let child = NewWorkflow::new("c", "child", Payload::portable_json("null"));
        let started = NewStep::child_start("p", 1, &child, None, 5, None);
        assert_eq!(started.function_name, "child");
        assert_eq!(started.child_workflow_id, Some("c"));
        assert_eq!((started.error, started.serialization), (None, None));
        let error = child_starts::deduplicated_step_error(&child).unwrap();
        let deduplicated = NewStep::child_start("p", 1, &child, Some(&error), 5, None);
        assert_eq!(deduplicated.error, Some(error.text.as_str()));
        assert_eq!(deduplicated.serialization, Some("portable_json"));

        let output = durable_sleep::encode_wake_time(9_000);
        let slept = NewStep::sleep("w", 4, &output, 5, 9_000, Some("app"));
        assert_eq!(slept.function_name, SLEEP_STEP);
        assert_eq!(slept.output, Some("9.0"));
        assert_eq!(
            (slept.started_at_epoch_ms, slept.completed_at_epoch_ms),
            (Some(5), Some(9_000))
        );
    }
}
