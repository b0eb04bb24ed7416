//! [`StepStore::run_as_step`](dbos_storage_core::StepStore::run_as_step) of [`MemoryStore`]:
//! an operation called from a workflow, recorded as its step under the store's one lock.
//!
//! The checks of the caller are those of every call from a workflow (`check_call`): a step
//! recorded at the caller's position with the operation's name is a replay, which returns the
//! recorded result and runs nothing. Otherwise the operation runs as its own method runs it —
//! each checks everything it can fail on first and writes last, so a failed operation has
//! written nothing — and its result, or the error the contract records
//! ([`recorded_error`]), becomes the step.

use dbos_storage_core::workflow_steps::{NONEXISTENT_WORKFLOW_ERROR, OPERATION_ERROR};
use dbos_storage_core::{
    Caller, Error, ErrorKind, Outcome, Payload, RecordedStep, Result, ScheduleStatus,
    StepOperation, StepOperation as Op, StepOperationOutcome,
};

use super::errors::{corrupt, error};
use super::State;

/// The kinds of error an operation records as its step (what the database holds decided
/// them), with the `code` that names each in the recorded error.
const RECORDED_KINDS: [(ErrorKind, &str); 3] = [
    (ErrorKind::NotFound, "not_found"),
    (ErrorKind::Conflict, "conflict"),
    (ErrorKind::InvalidInput, "invalid_input"),
];

/// The step error an operation that failed with `failure` records, as the `workflow_steps`
/// module docs describe it: a `portable_json` error with the kind as `code` and the message,
/// named `DBOSNonExistentWorkflowError` for `NotFound` and `DBOSException` otherwise; `None`
/// for a kind that is not recorded (a transient failure, a cancelled or fenced caller).
fn recorded_error(failure: &Error) -> Option<Payload> {
    let (kind, code) = RECORDED_KINDS
        .into_iter()
        .find(|(kind, _)| *kind == failure.kind())?;
    let name = if kind == ErrorKind::NotFound {
        NONEXISTENT_WORKFLOW_ERROR
    } else {
        OPERATION_ERROR
    };
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    Some(Payload::portable_json(format!(
        "{{\"name\":{},\"message\":{},\"code\":{}}}",
        quoted(name),
        quoted(failure.message()),
        quoted(code)
    )))
}

/// What a replay of `operation` answers from the step `recorded` at `caller`'s position: the
/// recorded result, or the recorded error with its kind and message.
fn replayed(
    operation: &StepOperation,
    caller: &Caller,
    recorded: RecordedStep,
) -> Result<StepOperationOutcome> {
    let at = format!(
        "step {} ({}) of workflow {}",
        caller.function_id,
        operation.step_name(),
        caller.workflow_id
    );
    match recorded.outcome {
        Some(Outcome::Output(output)) => {
            StepOperationOutcome::decode(operation, &output).map_err(|e| {
                corrupt(format!(
                    "{at} holds an output the operation cannot read: {e}"
                ))
            })
        }
        Some(Outcome::Error(recorded)) => {
            let fields: serde_json::Value = serde_json::from_str(&recorded.text)
                .map_err(|e| corrupt(format!("{at} holds an unreadable error: {e}")))?;
            let kind = RECORDED_KINDS
                .into_iter()
                .find(|(_, code)| fields["code"] == *code)
                .map(|(kind, _)| kind)
                .ok_or_else(|| corrupt(format!("{at} holds an error no operation records")))?;
            let message = fields["message"].as_str().unwrap_or_default().to_owned();
            Err(Error::new(kind, message))
        }
        None | Some(Outcome::Void) => Err(error(
            ErrorKind::Corrupt,
            format!("{at} holds no outcome; an operation always records one"),
        )),
    }
}

/// The refusal of a workflow that deletes itself at one of its steps (step 4 of
/// `run_as_step`): the step would belong to a workflow that is gone.
fn self_delete_refused(caller: &Caller) -> Error {
    error(
        ErrorKind::InvalidInput,
        format!(
            "workflow {} cannot delete itself at its step {}: the step would belong to a \
             deleted workflow; delete it from outside the workflow",
            caller.workflow_id, caller.function_id
        ),
    )
}

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
            return replayed(operation, caller, recorded);
        }
        // The model cannot undo an operation, so a delete of the caller is refused before it
        // runs, with the error the stores return after undoing it.
        let ran = if self.deletes_caller(caller, operation) {
            Err(self_delete_refused(caller))
        } else {
            self.run_operation(operation)
        };
        match ran {
            Ok(outcome) => {
                self.record_call(caller, step_name, Some(Outcome::Output(outcome.encode()?)))?;
                Ok(outcome)
            }
            Err(error) => {
                if let Some(recorded) = recorded_error(&error) {
                    self.record_call(caller, step_name, Some(Outcome::Error(recorded)))?;
                }
                Err(error)
            }
        }
    }

    /// Whether `operation` is a delete whose targets (with their descendants, when asked)
    /// include the caller.
    fn deletes_caller(&self, caller: &Caller, operation: &StepOperation) -> bool {
        let Op::DeleteWorkflows {
            workflow_ids,
            options,
        } = operation
        else {
            return false;
        };
        let mut targets = workflow_ids.clone();
        if options.delete_children {
            targets.extend(self.descendants(workflow_ids));
        }
        targets.contains(&caller.workflow_id)
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
