//! [`StepStore::run_as_step`](dbos_storage_core::StepStore::run_as_step) of [`MemoryStore`]:
//! an operation called from a workflow, recorded as its step under the store's one lock.
//!
//! The checks of the caller are those of every call from a workflow (`check_call`): a step
//! recorded at the caller's position with the operation's name is a replay, which returns the
//! recorded result and runs nothing. Otherwise the operation runs as its own method runs it —
//! each checks everything it can fail on first and writes last, so a failed operation has
//! written nothing — and its result, or the error the contract records
//! ([`recorded_error`]), becomes the step.

use dbos_storage_core::workflow_steps::{check_caller_kept, recorded_error, replayed};
use dbos_storage_core::{
    Caller, Outcome, Result, ScheduleStatus, StepOperation, StepOperation as Op,
    StepOperationOutcome,
};

use super::State;

impl State {
    /// Runs `operation` (prepared and validated) as step `caller.function_id` of the calling
    /// workflow, or replays it.
    pub(super) fn run_as_step(
        &mut self,
        caller: &Caller,
        operation: &StepOperation,
    ) -> Result<StepOperationOutcome> {
        let step_name = operation.step_name();
        let what = format!("run {step_name} at step {}", caller.function_id);
        if let Some(recorded) = self.check_call(caller, step_name, &what)? {
            return replayed(
                operation,
                &caller.workflow_id,
                caller.function_id,
                &recorded,
            );
        }
        // The model cannot undo an operation, so a delete of the caller is refused before it
        // runs, with the error the stores return after undoing it.
        let ran = match self.deletes_caller(caller, operation) {
            Some(deleted) => check_caller_kept(caller, &deleted).map(|()| deleted),
            None => self.run_operation(operation),
        };
        match ran {
            Ok(outcome) => {
                self.record_call(caller, step_name, Some(Outcome::Output(outcome.encode()?)))?;
                Ok(outcome)
            }
            Err(error) => {
                if let Some(recorded) = recorded_error(&error)? {
                    self.record_call(caller, step_name, Some(Outcome::Error(recorded)))?;
                }
                Err(error)
            }
        }
    }

    /// For a delete whose targets (with their descendants, when asked) include the caller, the
    /// result it would have; `None` for any other operation.
    fn deletes_caller(
        &self,
        caller: &Caller,
        operation: &StepOperation,
    ) -> Option<StepOperationOutcome> {
        let Op::DeleteWorkflows {
            workflow_ids,
            options,
        } = operation
        else {
            return None;
        };
        let mut targets = workflow_ids.clone();
        if options.delete_children {
            targets.extend(self.descendants(workflow_ids));
        }
        targets
            .contains(&caller.workflow_id)
            .then(|| StepOperationOutcome::Deleted(vec![caller.workflow_id.clone()]))
    }

    /// Runs `operation` as its own method does.
    fn run_operation(&mut self, operation: &StepOperation) -> Result<StepOperationOutcome> {
        Ok(match operation {
            Op::CancelWorkflows {
                workflow_ids,
                options,
            } => StepOperationOutcome::Cancelled(self.cancel_workflows(workflow_ids, *options)),
            Op::ResumeWorkflows {
                workflow_ids,
                options,
            } => StepOperationOutcome::Resumed(self.resume_workflows(workflow_ids, options)?),
            Op::ForkWorkflows(requests) => StepOperationOutcome::Forked(self.fork(requests)?),
            Op::DeleteWorkflows {
                workflow_ids,
                options,
            } => StepOperationOutcome::Deleted(self.delete_workflows(workflow_ids, *options)),
            Op::GetWorkflows(workflow_ids) => {
                StepOperationOutcome::Workflows(self.get_workflows(workflow_ids))
            }
            Op::ListWorkflows(query) => StepOperationOutcome::Workflows(self.list_workflows(query)),
            Op::SetWorkflowDelay {
                workflow_id,
                until_epoch_ms,
            } => StepOperationOutcome::DelaySet(
                self.set_workflow_delay(workflow_id, *until_epoch_ms),
            ),
            Op::UpdateWorkflowAttributes {
                workflow_id,
                attributes,
                mode,
            } => StepOperationOutcome::Attributes(self.update_attributes(
                workflow_id,
                attributes.clone(),
                *mode,
            )?),
            Op::RewindWorkflow(request) => StepOperationOutcome::Rewound(self.rewind(request)?),
            Op::DebounceWorkflow(request) => {
                StepOperationOutcome::Debounced(self.debounce(request.clone()))
            }
            Op::CreateSchedule(schedule) => {
                self.create_schedule(schedule.clone())?;
                StepOperationOutcome::ScheduleCreated
            }
            Op::PauseSchedule(name) => StepOperationOutcome::ScheduleChanged(
                self.set_schedule_status(name, ScheduleStatus::Paused),
            ),
            Op::ResumeSchedule(name) => StepOperationOutcome::ScheduleChanged(
                self.set_schedule_status(name, ScheduleStatus::Active),
            ),
            Op::DeleteSchedule(name) => {
                StepOperationOutcome::ScheduleChanged(self.delete_schedule(name))
            }
            other => {
                return Err(dbos_storage_core::Error::new(
                    dbos_storage_core::ErrorKind::Unsupported,
                    format!(
                        "the memory store cannot run {} as a step",
                        other.step_name()
                    ),
                ))
            }
        })
    }
}
