//! [`StepStore::run_as_step`](dbos_storage_core::StepStore::run_as_step) on SQLite: the caller's
//! checks, the operation and its step row in one write transaction.
//!
//! The operation runs as its own method runs it (the same `*_tx` functions) inside a savepoint:
//! when it fails with an error the contract records, the savepoint is rolled back and the step
//! recording the error commits alone.

use dbos_storage_core::workflow_steps::{
    check_caller_kept, recorded_error, replayed, validate_caller,
};
use dbos_storage_core::{
    Caller, Error, ErrorKind, Outcome, RecordedStep, Result, ScheduleStatus, StepOperation,
    StepOperation as Op, StepOperationOutcome, StepRecord,
};
use dbos_storage_driver_kit::decisions::cancel_resume::{distinct, resume_queue};
use rusqlite::Transaction;

use super::forks::{fork_workflows_tx, rewind_workflow_tx};
use super::management::{cancel_workflows_tx, resume_workflows_tx, update_attributes};
use super::queues::{debounce_workflow_tx, set_workflow_delay_tx};
use super::retention::delete_workflows_tx;
use super::schedules::{create_schedule_tx, delete_schedule_tx, set_schedule_column_tx};
use super::steps::{check_caller, insert_call_step, CallerState};
use super::workflows::{get_workflows_tx, list_query, list_workflows_tx, Listing};
use super::{now_ms, SqliteStore};
use crate::error::{classify, with_backend};
use crate::sql::schedules as sched;
use crate::sql::workflow_steps as q;

/// An operation with what its method computes before the transaction: the distinct ids, the
/// resume queue, the listing's SQL.
enum Prepared {
    /// Any operation that needs nothing computed beforehand.
    Plain(Box<StepOperation>),
    /// A resume, with its queue.
    Resume(Vec<String>, String),
    /// A listing, with its SQL.
    List(Listing),
}

impl Prepared {
    /// Computes what `operation`'s method computes before its transaction.
    ///
    /// # Errors
    /// As the method: `InvalidInput`, or `Unsupported` for a listing by attributes.
    fn of(operation: &StepOperation) -> Result<Self> {
        Ok(match operation {
            Op::ResumeWorkflows {
                workflow_ids,
                options,
            } => Prepared::Resume(distinct(workflow_ids), resume_queue(options.clone())?),
            Op::ListWorkflows(query) => Prepared::List(list_query(query)?),
            other => Prepared::Plain(Box::new(other.clone())),
        })
    }

    /// Runs the operation in `tx`, as its method does.
    fn run(&self, tx: &Transaction<'_>) -> Result<StepOperationOutcome> {
        Ok(match self {
            Prepared::Resume(ids, queue) => {
                StepOperationOutcome::Resumed(resume_workflows_tx(tx, ids, queue)?)
            }
            Prepared::List(listing) => {
                StepOperationOutcome::Workflows(list_workflows_tx(tx, listing)?)
            }
            Prepared::Plain(operation) => match operation.as_ref() {
                Op::CancelWorkflows {
                    workflow_ids,
                    options,
                } => StepOperationOutcome::Cancelled(cancel_workflows_tx(
                    tx,
                    distinct(workflow_ids),
                    *options,
                )?),
                Op::ForkWorkflows(requests) => {
                    StepOperationOutcome::Forked(fork_workflows_tx(tx, requests)?)
                }
                Op::DeleteWorkflows {
                    workflow_ids,
                    options,
                } => StepOperationOutcome::Deleted(delete_workflows_tx(
                    tx,
                    distinct(workflow_ids),
                    *options,
                )?),
                Op::GetWorkflows(ids) => {
                    StepOperationOutcome::Workflows(get_workflows_tx(tx, ids)?)
                }
                Op::SetWorkflowDelay {
                    workflow_id,
                    until_epoch_ms,
                } => StepOperationOutcome::DelaySet(set_workflow_delay_tx(
                    tx,
                    workflow_id,
                    *until_epoch_ms,
                )?),
                Op::UpdateWorkflowAttributes {
                    workflow_id,
                    attributes,
                    mode,
                } => StepOperationOutcome::Attributes(update_attributes(
                    tx,
                    workflow_id,
                    attributes.clone(),
                    *mode,
                )?),
                Op::RewindWorkflow(request) => {
                    StepOperationOutcome::Rewound(rewind_workflow_tx(tx, request)?)
                }
                Op::DebounceWorkflow(request) => {
                    StepOperationOutcome::Debounced(debounce_workflow_tx(tx, request)?)
                }
                Op::CreateSchedule(schedule) => {
                    create_schedule_tx(tx, schedule)?;
                    StepOperationOutcome::ScheduleCreated
                }
                Op::PauseSchedule(name) => {
                    StepOperationOutcome::ScheduleChanged(set_schedule_column_tx(
                        tx,
                        sched::SET_SCHEDULE_STATUS,
                        name,
                        ScheduleStatus::Paused.as_str(),
                    )?)
                }
                Op::ResumeSchedule(name) => {
                    StepOperationOutcome::ScheduleChanged(set_schedule_column_tx(
                        tx,
                        sched::SET_SCHEDULE_STATUS,
                        name,
                        ScheduleStatus::Active.as_str(),
                    )?)
                }
                Op::DeleteSchedule(name) => {
                    StepOperationOutcome::ScheduleChanged(delete_schedule_tx(tx, name)?)
                }
                other => return Err(unsupported(other)),
            },
        })
    }
}

/// An operation this build of the driver does not run as a step.
fn unsupported(operation: &StepOperation) -> Error {
    with_backend(Error::new(
        ErrorKind::Unsupported,
        format!(
            "the SQLite store cannot run {} as a step",
            operation.step_name()
        ),
    ))
}

/// What the transaction did: the operation's outcome (run or replayed), or its recorded error
/// (the step committed; the error is returned after the commit).
enum Ran {
    /// The outcome, and whether the operation ran (and may have written).
    Done(StepOperationOutcome, bool),
    /// The operation failed; its error is recorded as the step.
    Failed(Error),
}

/// Runs a statement without parameters.
fn statement(tx: &Transaction<'_>, sql: &str) -> Result<()> {
    tx.execute_batch(sql).map_err(classify)
}

/// The body of `run_as_step`, in one write transaction.
fn run_as_step_tx(
    tx: &Transaction<'_>,
    caller: &Caller,
    operation: &StepOperation,
    prepared: &Prepared,
) -> Result<Ran> {
    let step_name = operation.step_name();
    let what = format!("run {step_name} at step {}", caller.function_id);
    let application_name = match check_caller(tx, caller, step_name, &what)? {
        CallerState::Replay(row) => {
            let recorded = RecordedStep::new(row.outcome(), None);
            return replayed(
                operation,
                &caller.workflow_id,
                caller.function_id,
                &recorded,
            )
            .map(|outcome| Ran::Done(outcome, false))
            .map_err(with_backend);
        }
        CallerState::Fresh { application_name } => application_name,
    };
    statement(tx, q::SAVEPOINT_OPERATION)?;
    let ran = prepared
        .run(tx)
        .and_then(|outcome| check_caller_kept(caller, &outcome).map(|()| outcome));
    let (outcome, ran) = match ran {
        Ok(outcome) => {
            statement(tx, q::RELEASE_OPERATION)?;
            (Outcome::Output(outcome.encode()?), Ran::Done(outcome, true))
        }
        Err(error) => {
            let Some(recorded) = recorded_error(&error)? else {
                return Err(error);
            };
            statement(tx, q::ROLLBACK_TO_OPERATION)?;
            statement(tx, q::RELEASE_OPERATION)?;
            (Outcome::Error(recorded), Ran::Failed(error))
        }
    };
    let now = now_ms(tx)?;
    let step = StepRecord::with_outcome(
        &caller.workflow_id,
        caller.function_id,
        step_name,
        Some(outcome),
    )
    .with_times(Some(now), now);
    insert_call_step(tx, &step, application_name.as_deref(), now)?;
    Ok(ran)
}

impl SqliteStore {
    /// [`StepStore::run_as_step`](dbos_storage_core::StepStore::run_as_step).
    pub(super) async fn run_operation_as_step(
        &self,
        caller: Caller,
        operation: StepOperation,
    ) -> Result<StepOperationOutcome> {
        validate_caller(&caller)?;
        let operation = operation.prepare()?;
        let prepared = Prepared::of(&operation)?;
        let ran = self
            .conns()
            .write(move |tx| run_as_step_tx(tx, &caller, &operation, &prepared))
            .await?;
        match ran {
            Ran::Done(outcome, wrote) => {
                if wrote {
                    // Waits on a cancelled, resumed, forked, rewound or deleted workflow re-check
                    // at once.
                    self.wake().notify();
                }
                Ok(outcome)
            }
            Ran::Failed(error) => Err(error),
        }
    }
}
