//! The checks and the step row of a checkpointed call (a send, a receive, an event or a stream
//! write made by a workflow or inside one of its steps), shared by the messaging areas.
//!
//! The order of the checks is the reference model's: the workflow must exist (`NotFound`);
//! called by the workflow itself, it must not be cancelled (`Cancelled`) and a step recorded at
//! the caller's position is a replay when it has the call's name (`UnexpectedStep` otherwise);
//! then the owner token is checked (`NotOwner`). The workflow row stays locked until the
//! transaction ends, so two calls of one workflow run one after the other, and the second sees
//! the step the first recorded.

use dbos_storage_core::{Caller, EpochMs, Outcome, RecordedStep, Result, StepRecord};
use dbos_storage_driver_kit::decisions::column_values::{outcome_of, status_of};
use dbos_storage_driver_kit::decisions::ownership_check::{self, WorkflowOwner};
use dbos_storage_driver_kit::decisions::step_checkpoints::NewStep;
use dbos_storage_driver_kit::decisions::{step_checkpoints, store_errors};
use tokio_postgres::Transaction;

use super::steps::record_step_row;
use super::{col, Queries};
use crate::error::{classify, with_backend};

/// How a checkpointed call begins.
pub(crate) enum Call {
    /// The call is already recorded as the caller's step: a replay, which writes nothing.
    Replay(RecordedStep),
    /// The call runs; its step (if any) copies the workflow's application.
    Run {
        /// The calling workflow's `application_name`.
        application_name: Option<String>,
    },
}

/// Locks the calling workflow and runs the checks of a call of `caller` that records step
/// `step_name` (by the workflow) or writes inside a step, before it does `what`.
///
/// # Errors
/// `NotFound`, `Cancelled`, `UnexpectedStep`, `NotOwner`, as the module describes.
pub(crate) async fn begin_call(
    tx: &Transaction<'_>,
    queries: &Queries,
    caller: &Caller,
    step_name: &str,
    what: &str,
) -> Result<Call> {
    let workflow_id = caller.workflow_id.as_str();
    let row = tx
        .query_opt(queries.lock_caller.as_str(), &[&workflow_id])
        .await
        .map_err(classify)?;
    let Some(row) = row else {
        return Err(with_backend(store_errors::missing_workflow(workflow_id)));
    };
    let status = status_of(col::<Option<String>>(&row, 0)?.as_deref());
    let owner_xid: Option<String> = col(&row, 1)?;
    let application_name: Option<String> = col(&row, 2)?;
    if caller.records_step() {
        step_checkpoints::ensure_not_cancelled(workflow_id, &status).map_err(with_backend)?;
        let step = tx
            .query_opt(
                queries.select_step.as_str(),
                &[&workflow_id, &caller.function_id],
            )
            .await
            .map_err(classify)?;
        if let Some(step) = step {
            let recorded_name: String = col(&step, 0)?;
            step_checkpoints::ensure_same_step(
                workflow_id,
                caller.function_id,
                step_name,
                &recorded_name,
            )
            .map_err(with_backend)?;
            let serialization: Option<String> = col(&step, 4)?;
            return Ok(Call::Replay(RecordedStep::new(
                outcome_of(col(&step, 1)?, col(&step, 2)?, serialization.as_deref()),
                col(&step, 3)?,
            )));
        }
    }
    if let Some(expected) = caller.owner_xid.as_deref() {
        let found = WorkflowOwner {
            owner_xid,
            deadline_epoch_ms: None,
            application_name: application_name.clone(),
        };
        ownership_check::verify(workflow_id, expected, Some(found), what).map_err(with_backend)?;
    }
    Ok(Call::Run { application_name })
}

/// Records step `step_name` with `outcome` at `now` for a call made by the workflow itself; a
/// call inside a step records nothing.
///
/// # Errors
/// `StepConflict` when another execution recorded the step first (it did so without locking
/// the workflow, as `record_step` without a token does).
pub(crate) async fn record_call(
    tx: &Transaction<'_>,
    queries: &Queries,
    caller: &Caller,
    step_name: &str,
    outcome: Option<Outcome>,
    now: EpochMs,
    application_name: Option<&str>,
) -> Result<()> {
    if !caller.records_step() {
        return Ok(());
    }
    let step = StepRecord::with_outcome(
        caller.workflow_id.clone(),
        caller.function_id,
        step_name,
        outcome,
    )
    .with_times(Some(now), now);
    let row = NewStep::recorded(&step, application_name);
    let recorded = record_step_row(tx, queries, &row).await?;
    if recorded != Some(now) {
        return Err(with_backend(store_errors::step_conflict(&step, recorded)));
    }
    Ok(())
}
