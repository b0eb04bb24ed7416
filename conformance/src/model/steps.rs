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
use dbos_storage_driver_kit::decisions::step_checkpoints;
use dbos_storage_driver_kit::decisions::{child_starts, durable_sleep, store_errors};

use super::{missing, ours, MemoryStore};

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
        let state = self.open()?;
        let row = state
            .workflow(workflow_id)
            .ok_or_else(|| missing(workflow_id))?;
        step_checkpoints::ensure_not_cancelled(workflow_id, &row.info.status).map_err(ours)?;
        let Some(step) = state.step(workflow_id, function_id) else {
            return Ok(None);
        };
        step_checkpoints::ensure_same_step(
            workflow_id,
            function_id,
            function_name,
            &step.function_name,
        )
        .map_err(ours)?;
        Ok(Some(RecordedStep::new(
            step.outcome(),
            step.child_workflow_id.clone(),
        )))
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
        let mut child = child_starts::prepare(parent_workflow_id, function_id, child)?;
        self.write(|state| {
            let parent = state.workflow(parent_workflow_id).ok_or_else(|| {
                ours(store_errors::missing_parent(
                    parent_workflow_id,
                    &child.workflow_id,
                ))
            })?;
            let parent_deadline = parent.info.workflow_deadline_epoch_ms;
            let what = format!("start child workflow {}", child.workflow_id);
            state.check_owner(parent_workflow_id, parent_owner_xid, &what)?;
            if let Some(step) = state.step(parent_workflow_id, function_id) {
                // A replay of a start that was deduplicated: same answer, nothing written.
                child_starts::check_recorded_start(
                    parent_workflow_id,
                    function_id,
                    &child,
                    &step.function_name,
                    step.child_workflow_id.as_deref(),
                    step.error.is_some(),
                )
                .map_err(ours)?;
            }
            child_starts::inherit_deadline(&mut child, parent_deadline);
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
                    let error = child_starts::deduplicated_step_error(&child)?;
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
                let output = match (&step.output, &step.error) {
                    (Some(text), None) => Some(text.as_str()),
                    _ => None,
                };
                let wake = durable_sleep::replayed_wake_time(
                    workflow_id,
                    function_id,
                    &step.function_name,
                    output,
                    step.completed_at_epoch_ms,
                )
                .map_err(ours)?;
                return Ok(SleepState::new(wake, now));
            }
            let wake = now.saturating_add(duration_ms(duration));
            state.record_step(
                StepRecord::output(
                    workflow_id,
                    function_id,
                    SLEEP_STEP,
                    durable_sleep::encode_wake_time(wake),
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
