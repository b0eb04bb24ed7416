//! [`StepStore`] of [`MemoryStore`]: checking and recording steps, their owner checks, listing,
//! child starts and durable sleeps.

use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::workflow_steps;
use dbos_storage_core::{
    duration_ms, validate, DedupPolicy, ErrorKind, InsertOptions, InsertOutcome, ListStepsOptions,
    NewWorkflow, Outcome, RecordedStep, Result, SleepState, StepInfo, StepRecord, SLEEP_STEP,
};
use dbos_storage_core::{Caller, StepOperation, StepOperationOutcome, StepStore};

use super::errors::{self, missing};
use super::outcomes::portable_error;
use super::{sleeps, MemoryStore};

/// The name of the error a deduplicated child start records as its parent's step (DBOS's
/// exception class).
const DEDUPLICATED_ERROR_NAME: &str = "DBOSQueueDeduplicatedError";

#[async_trait]
impl StepStore for MemoryStore {
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        self.open()?
            .step_checkpoint(workflow_id, function_id, function_name)
    }

    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()> {
        step.validate()?;
        self.write(|state| {
            if state.workflow(&step.workflow_id).is_none() {
                return Err(missing(&step.workflow_id));
            }
            let what = format!("record step {}", step.function_id);
            state.check_owner(&step.workflow_id, owner_xid, &what)?;
            state.record_step(step)
        })
    }

    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>> {
        validate::workflow_id(workflow_id)?;
        let state = self.open()?;
        let offset = usize::try_from(options.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let limit = options
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let from = (workflow_id.to_owned(), i32::MIN);
        let to = (workflow_id.to_owned(), i32::MAX);
        Ok(state
            .steps
            .range(from..=to)
            .skip(offset)
            .take(limit)
            .map(|((_, function_id), row)| {
                let mut info = StepInfo::new(*function_id, row.function_name.clone());
                info.outcome = if options.load_output {
                    row.outcome()
                } else {
                    None
                };
                info.child_workflow_id = row.child_workflow_id.clone();
                info.started_at_epoch_ms = row.started_at_epoch_ms;
                info.completed_at_epoch_ms = row.completed_at_epoch_ms;
                info
            })
            .collect())
    }

    async fn start_child_workflow(
        &self,
        parent_workflow_id: &str,
        function_id: i32,
        child: NewWorkflow,
        options: InsertOptions,
        parent_owner_xid: Option<&str>,
    ) -> Result<InsertOutcome> {
        validate::workflow_id(parent_workflow_id)?;
        validate::function_id(function_id)?;
        let mut child = child;
        child.parent_workflow_id = Some(parent_workflow_id.to_owned());
        child.validate()?;
        self.write(|state| {
            let parent = state
                .workflow(parent_workflow_id)
                .ok_or_else(|| errors::missing_parent(parent_workflow_id, &child.workflow_id))?;
            let parent_deadline = parent.info.workflow_deadline_epoch_ms;
            let what = format!("start child workflow {}", child.workflow_id);
            state.check_owner(parent_workflow_id, parent_owner_xid, &what)?;
            if let Some(step) = state.step(parent_workflow_id, function_id) {
                let recorded = match &step.child_workflow_id {
                    Some(recorded) if *recorded == child.workflow_id => None,
                    Some(other) => Some(format!("child workflow {other}")),
                    None => Some(format!("step {:?}", step.function_name)),
                };
                if let Some(recorded) = recorded {
                    return Err(errors::child_step_conflict(
                        parent_workflow_id,
                        function_id,
                        &recorded,
                        &child.workflow_id,
                    ));
                }
                // A replay of a start that was deduplicated: same answer, nothing written.
                if step.error.is_some() {
                    return Err(errors::deduplicated(&child));
                }
            }
            // The parent's deadline, unless the child has a timeout or a deadline of its own.
            if child.timeout.is_none() && child.deadline_epoch_ms.is_none() {
                child.deadline_epoch_ms = parent_deadline;
            }
            let child_id = child.workflow_id.clone();
            let child_name = child.name.clone();
            let now = state.now();
            let step = |outcome| {
                StepRecord::with_outcome(parent_workflow_id, function_id, &child_name, outcome)
                    .with_child(&child_id)
                    .with_times(Some(now), now)
            };
            // A child start is recorded at the parent's step under the child's own id, so it
            // cannot attach to a deduplication holder: the step records the deduplication.
            let options = options.clone().dedup_policy(DedupPolicy::Reject);
            match state.insert_workflow(child.clone(), &options) {
                Ok(outcome) => {
                    if state.step(parent_workflow_id, function_id).is_none() {
                        state.record_step(step(None))?;
                    }
                    Ok(outcome)
                }
                Err(e) if e.kind() == ErrorKind::Deduplicated => {
                    let error = portable_error(
                        DEDUPLICATED_ERROR_NAME,
                        &format!(
                            "Workflow {} was deduplicated due to an existing workflow in queue \
                             {} with deduplication ID {}.",
                            child.workflow_id,
                            child.queue_name.as_deref().unwrap_or_default(),
                            child.deduplication_id.as_deref().unwrap_or_default()
                        ),
                    );
                    state.record_step(step(Some(Outcome::Error(error))))?;
                    Err(e)
                }
                Err(e) => Err(e),
            }
        })
    }

    async fn record_sleep(
        &self,
        workflow_id: &str,
        function_id: i32,
        duration: Duration,
        owner_xid: Option<&str>,
    ) -> Result<SleepState> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        self.write(|state| {
            if state.workflow(workflow_id).is_none() {
                return Err(missing(workflow_id));
            }
            let what = format!("record step {function_id}");
            state.check_owner(workflow_id, owner_xid, &what)?;
            let now = state.now();
            if let Some(step) = state.step(workflow_id, function_id) {
                if step.function_name != SLEEP_STEP {
                    return Err(errors::unexpected_step(
                        workflow_id,
                        function_id,
                        SLEEP_STEP,
                        &step.function_name,
                    ));
                }
                // The wake time the output holds; else the completion time, which is the wake
                // time of a sleep.
                let wake = match (&step.output, &step.error) {
                    (Some(output), None) => sleeps::wake_time_of(output),
                    _ => None,
                }
                .or(step.completed_at_epoch_ms)
                .ok_or_else(|| {
                    errors::corrupt(format!(
                        "the sleep at step {function_id} of workflow {workflow_id} holds no wake \
                         time"
                    ))
                })?;
                return Ok(SleepState::new(wake, now));
            }
            let wake = now.saturating_add(duration_ms(duration));
            state.record_step(
                StepRecord::output(
                    workflow_id,
                    function_id,
                    SLEEP_STEP,
                    sleeps::wake_time_output(wake),
                )
                .with_times(Some(now), wake),
            )?;
            Ok(SleepState::new(wake, now))
        })
    }

    async fn run_as_step(
        &self,
        caller: Caller,
        operation: StepOperation,
    ) -> Result<StepOperationOutcome> {
        workflow_steps::validate_caller(&caller)?;
        let operation = operation.prepare()?;
        if let StepOperation::ListWorkflows(query) = &operation {
            self.check_list_capabilities(query)?;
        }
        self.write(|state| state.run_as_step(&caller, &operation))
    }
}
