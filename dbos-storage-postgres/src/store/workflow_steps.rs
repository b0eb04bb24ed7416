//! [`StepStore::run_as_step`](dbos_storage_core::StepStore::run_as_step) on PostgreSQL (and
//! CockroachDB, through the dialect): the caller's checks, the operation and its step row in one
//! transaction.
//!
//! The caller is checked and locked as every call from a workflow is ([`begin_call`]). The
//! operation runs as its own method runs it (the same `*_tx` and `*_on` functions) inside a
//! savepoint: when it fails with an error the contract records, the savepoint is rolled back
//! (which also clears an error that aborted the transaction) and the step recording the error
//! commits alone.

use dbos_storage_core::workflow_steps::{
    check_caller_kept, recorded_error, replayed, validate_caller,
};
use dbos_storage_core::{
    Caller, Error, ErrorKind, Outcome, Result, ScheduleStatus, StepOperation, StepOperation as Op,
    StepOperationOutcome,
};
use dbos_storage_driver_kit::decisions::cancel_resume::{distinct, resume_queue};
use tokio_postgres::Transaction;

use super::calls::{begin_call, record_call, Call};
use super::forks::{fork_workflows_tx, rewind_workflow_tx};
use super::management::{
    cancel_workflows_tx, delete_workflows_tx, resume_workflows_tx, update_attributes_on,
};
use super::queues::{debounce_workflow_tx, set_workflow_delay_on};
use super::schedules::{create_schedule_tx, delete_schedule_on, set_schedule_column_on};
use super::workflows::{get_workflows_tx, list_workflows_on, one_prefix};
use super::{now_ms, PostgresStore, Queries};
use crate::error::{classify, with_backend};
use crate::sql::workflow_steps as sp;

/// What the transaction did: the operation's outcome (run or replayed), or its recorded error
/// (the step committed; the error is returned after the commit).
enum Ran {
    /// The outcome, and whether the operation ran (and may have written).
    Done(StepOperationOutcome, bool),
    /// The operation failed; its error is recorded as the step.
    Failed(Error),
}

/// What the store works out before the transaction, as the plain methods do: a resume's queue
/// (checked), and whether a listing's id prefix may be read as a range of the key.
struct Prepared {
    queue: Option<String>,
    ids_by_code_point: bool,
}

/// Runs `operation` in `tx` as its method does, with what was [`Prepared`] for it.
async fn run(
    tx: &Transaction<'_>,
    q: &Queries,
    operation: &StepOperation,
    prepared: &Prepared,
) -> Result<StepOperationOutcome> {
    let queue = prepared.queue.as_deref();
    Ok(match operation {
        Op::CancelWorkflows {
            workflow_ids,
            options,
        } => StepOperationOutcome::Cancelled(
            cancel_workflows_tx(tx, q, distinct(workflow_ids), *options).await?,
        ),
        Op::ResumeWorkflows { workflow_ids, .. } => {
            let queue = queue.unwrap_or(dbos_storage_core::INTERNAL_QUEUE);
            StepOperationOutcome::Resumed(
                resume_workflows_tx(tx, q, &distinct(workflow_ids), queue).await?,
            )
        }
        Op::ForkWorkflows(requests) => {
            StepOperationOutcome::Forked(fork_workflows_tx(tx, q, requests).await?)
        }
        Op::DeleteWorkflows {
            workflow_ids,
            options,
        } => StepOperationOutcome::Deleted(
            delete_workflows_tx(tx, q, distinct(workflow_ids), *options).await?,
        ),
        Op::GetWorkflows(ids) => {
            StepOperationOutcome::Workflows(get_workflows_tx(tx, q, ids).await?)
        }
        Op::ListWorkflows(query) => StepOperationOutcome::Workflows(
            list_workflows_on(tx, q, query, prepared.ids_by_code_point).await?,
        ),
        Op::SetWorkflowDelay {
            workflow_id,
            until_epoch_ms,
        } => StepOperationOutcome::DelaySet(
            set_workflow_delay_on(tx, q, workflow_id, *until_epoch_ms).await?,
        ),
        Op::UpdateWorkflowAttributes {
            workflow_id,
            attributes,
            mode,
        } => StepOperationOutcome::Attributes(
            update_attributes_on(tx, q, workflow_id, attributes.clone(), *mode).await?,
        ),
        Op::RewindWorkflow(request) => {
            StepOperationOutcome::Rewound(rewind_workflow_tx(tx, q, request).await?)
        }
        Op::DebounceWorkflow(request) => {
            StepOperationOutcome::Debounced(debounce_workflow_tx(tx, q, request).await?)
        }
        Op::CreateSchedule(schedule) => {
            create_schedule_tx(tx, q, schedule).await?;
            StepOperationOutcome::ScheduleCreated
        }
        Op::PauseSchedule(name) => StepOperationOutcome::ScheduleChanged(
            set_schedule_column_on(
                tx,
                &q.set_schedule_status,
                name,
                ScheduleStatus::Paused.as_str(),
            )
            .await?,
        ),
        Op::ResumeSchedule(name) => StepOperationOutcome::ScheduleChanged(
            set_schedule_column_on(
                tx,
                &q.set_schedule_status,
                name,
                ScheduleStatus::Active.as_str(),
            )
            .await?,
        ),
        Op::DeleteSchedule(name) => {
            StepOperationOutcome::ScheduleChanged(delete_schedule_on(tx, q, name).await?)
        }
        other => {
            return Err(with_backend(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the PostgreSQL store cannot run {} as a step",
                    other.step_name()
                ),
            )))
        }
    })
}

/// Runs a statement without parameters.
async fn statement(tx: &Transaction<'_>, sql: &str) -> Result<()> {
    tx.batch_execute(sql).await.map_err(classify)
}

/// The body of `run_as_step`, in one transaction.
async fn run_as_step_tx(
    tx: &Transaction<'_>,
    q: &Queries,
    caller: &Caller,
    operation: &StepOperation,
    prepared: &Prepared,
) -> Result<Ran> {
    let step_name = operation.step_name();
    let what = format!("run {step_name} at step {}", caller.function_id);
    let application_name = match begin_call(tx, q, caller, step_name, &what).await? {
        Call::Replay(recorded) => {
            return replayed(
                operation,
                &caller.workflow_id,
                caller.function_id,
                &recorded,
            )
            .map(|outcome| Ran::Done(outcome, false))
            .map_err(with_backend);
        }
        Call::Run { application_name } => application_name,
    };
    statement(tx, sp::SAVEPOINT_OPERATION).await?;
    let ran = run(tx, q, operation, prepared)
        .await
        .and_then(|outcome| check_caller_kept(caller, &outcome).map(|()| outcome));
    let (outcome, ran) = match ran {
        Ok(outcome) => {
            statement(tx, sp::RELEASE_OPERATION).await?;
            (Outcome::Output(outcome.encode()?), Ran::Done(outcome, true))
        }
        Err(error) => {
            let Some(recorded) = recorded_error(&error)? else {
                return Err(error);
            };
            statement(tx, sp::ROLLBACK_TO_OPERATION).await?;
            statement(tx, sp::RELEASE_OPERATION).await?;
            (Outcome::Error(recorded), Ran::Failed(error))
        }
    };
    let now = now_ms(tx, q).await?;
    record_call(
        tx,
        q,
        caller,
        step_name,
        Some(outcome),
        now,
        application_name.as_deref(),
    )
    .await?;
    Ok(ran)
}

impl PostgresStore {
    /// [`StepStore::run_as_step`](dbos_storage_core::StepStore::run_as_step).
    pub(super) async fn run_operation_as_step(
        &self,
        caller: Caller,
        operation: StepOperation,
    ) -> Result<StepOperationOutcome> {
        validate_caller(&caller)?;
        let operation = operation.prepare()?;
        let queue = match &operation {
            Op::ResumeWorkflows { options, .. } => Some(resume_queue(options.clone())?),
            _ => None,
        };
        let ids_by_code_point = match &operation {
            Op::ListWorkflows(query) if one_prefix(query) => {
                let client = self.client().await?;
                self.ids_sort_by_code_point(&client).await?
            }
            _ => false,
        };
        let prepared = Prepared {
            queue,
            ids_by_code_point,
        };
        let ran = self
            .write(move |tx, q| {
                Box::pin(
                    async move { run_as_step_tx(tx, &q, &caller, &operation, &prepared).await },
                )
            })
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
