//! [`StepStore`] on SQLite: step checkpoints, child starts and durable sleeps.

use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::{
    duration_ms, validate, Caller, ErrorKind, InsertOptions, InsertOutcome, ListStepsOptions,
    NewWorkflow, Outcome, RecordedStep, Result, SleepState, StepInfo, StepOperation,
    StepOperationOutcome, StepRecord, StepStore,
};
use dbos_storage_driver_kit::decisions::column_values::{outcome_of, status_of};
use dbos_storage_driver_kit::decisions::list_queries::{limit, offset};
use dbos_storage_driver_kit::decisions::step_checkpoints::{self, NewStep};
use dbos_storage_driver_kit::decisions::{child_starts, durable_sleep, store_errors};
use rusqlite::{named_params, OptionalExtension, ToSql, Transaction};

use super::workflows::insert_workflow_tx;
use super::Cached;
use super::{check_owner, get_i64, now_ms, SqliteStore};
use crate::error::{classify, with_backend};
use crate::sql;

/// A recorded `operation_outputs` row.
pub(super) struct StepRow {
    pub(super) function_name: String,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) child_workflow_id: Option<String>,
    pub(super) serialization: Option<String>,
    pub(super) completed_at_epoch_ms: Option<i64>,
}

impl StepRow {
    /// The recorded outcome, decoded with the row's serialization label.
    pub(super) fn outcome(&self) -> Option<Outcome> {
        outcome_of(
            self.output.clone(),
            self.error.clone(),
            self.serialization.as_deref(),
        )
    }
}

/// The step recorded at `function_id` of `workflow_id`, if any.
pub(super) fn read_step(
    tx: &Transaction<'_>,
    workflow_id: &str,
    function_id: i32,
) -> Result<Option<StepRow>> {
    tx.query_row_cached(
        sql::SELECT_STEP,
        rusqlite::params![workflow_id, function_id],
        |r| {
            Ok(StepRow {
                function_name: r.get(0)?,
                output: r.get(1)?,
                error: r.get(2)?,
                child_workflow_id: r.get(3)?,
                serialization: r.get(4)?,
                completed_at_epoch_ms: get_i64(r, 5)?,
            })
        },
    )
    .optional()
    .map_err(classify)
}

/// Calls `f` with the named parameters of `row`.
fn with_step_params<R>(
    row: &NewStep<'_>,
    now: i64,
    f: impl FnOnce(&[(&str, &dyn ToSql)]) -> R,
) -> R {
    f(named_params! {
        ":workflow_uuid": row.workflow_id,
        ":function_id": row.function_id,
        ":function_name": row.function_name,
        ":output": row.output,
        ":error": row.error,
        ":child_workflow_id": row.child_workflow_id,
        ":started_at_epoch_ms": row.started_at_epoch_ms,
        ":completed_at_epoch_ms": row.completed_at_epoch_ms,
        ":serialization": row.serialization,
        ":application_name": row.application_name,
        ":now": now,
    })
}

/// Inserts `row`, or finds the recorded one; returns the recorded completion time.
fn record_step_row(tx: &Transaction<'_>, row: &NewStep<'_>, now: i64) -> Result<Option<i64>> {
    with_step_params(row, now, |params| {
        tx.query_row_cached(sql::INSERT_STEP, params, |r| get_i64(r, 0))
    })
    .map_err(classify)
}

/// Inserts `row` unless a step is recorded at its position.
pub(super) fn insert_step_if_absent(
    tx: &Transaction<'_>,
    row: &NewStep<'_>,
    now: i64,
) -> Result<()> {
    with_step_params(row, now, |params| {
        tx.execute_cached(sql::INSERT_STEP_IF_ABSENT, params)
    })
    .map_err(classify)?;
    Ok(())
}

/// What a message, event or stream call found for its caller in its write transaction.
pub(super) enum CallerState {
    /// Called by the workflow itself, which already recorded this call at the caller's
    /// position: a replay, which writes nothing.
    Replay(StepRow),
    /// A first call (or a call inside a step): the workflow's application, which step rows copy.
    Fresh {
        /// The calling workflow's `application_name`.
        application_name: Option<String>,
    },
}

/// Checks the caller of a checkpointed call in its write transaction, as `check_step` then
/// `record_step` would: the workflow exists; called by the workflow itself, it is not cancelled
/// and the step recorded at its position, if any, is `step_name` (a replay, returned before any
/// ownership check, as a replay writes nothing); with a token, the token still owns the
/// workflow. `what` names the call in ownership errors (`"send a message"`).
///
/// # Errors
/// [`NotFound`](ErrorKind::NotFound), [`Cancelled`](ErrorKind::Cancelled),
/// [`UnexpectedStep`](ErrorKind::UnexpectedStep), [`NotOwner`](ErrorKind::NotOwner).
pub(super) fn check_caller(
    tx: &Transaction<'_>,
    caller: &Caller,
    step_name: &str,
    what: &str,
) -> Result<CallerState> {
    let id = caller.workflow_id.as_str();
    if caller.records_step() {
        let status: Option<Option<String>> = tx
            .query_row_cached(sql::SELECT_WORKFLOW_STATUS, [id], |r| r.get(0))
            .optional()
            .map_err(classify)?;
        let Some(status) = status else {
            return Err(with_backend(store_errors::missing_workflow(id)));
        };
        step_checkpoints::ensure_not_cancelled(id, &status_of(status.as_deref()))
            .map_err(with_backend)?;
        if let Some(row) = read_step(tx, id, caller.function_id)? {
            step_checkpoints::ensure_same_step(
                id,
                caller.function_id,
                step_name,
                &row.function_name,
            )
            .map_err(with_backend)?;
            return Ok(CallerState::Replay(row));
        }
    }
    let owner = check_owner(tx, id, caller.owner_xid.as_deref(), what)?
        .ok_or_else(|| with_backend(store_errors::missing_workflow(id)))?;
    Ok(CallerState::Fresh {
        application_name: owner.application_name,
    })
}

/// Records `step` (checked absent by [`check_caller`] in the same transaction) at `now`, with
/// the workflow's `application_name`.
pub(super) fn insert_call_step(
    tx: &Transaction<'_>,
    step: &StepRecord,
    application_name: Option<&str>,
    now: i64,
) -> Result<()> {
    insert_step_if_absent(tx, &NewStep::recorded(step, application_name), now)
}

#[async_trait]
impl StepStore for SqliteStore {
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        let id = workflow_id.to_owned();
        let name = function_name.to_owned();
        self.conns()
            .read(move |tx| {
                let status: Option<Option<String>> = tx
                    .query_row_cached(sql::SELECT_WORKFLOW_STATUS, [&id], |r| r.get(0))
                    .optional()
                    .map_err(classify)?;
                let Some(status) = status else {
                    return Err(with_backend(store_errors::missing_workflow(&id)));
                };
                step_checkpoints::ensure_not_cancelled(&id, &status_of(status.as_deref()))
                    .map_err(with_backend)?;
                let Some(row) = read_step(tx, &id, function_id)? else {
                    return Ok(None);
                };
                step_checkpoints::ensure_same_step(&id, function_id, &name, &row.function_name)
                    .map_err(with_backend)?;
                Ok(Some(RecordedStep::new(
                    outcome_of(row.output, row.error, row.serialization.as_deref()),
                    row.child_workflow_id,
                )))
            })
            .await
    }

    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()> {
        step.validate()?;
        let owner = owner_xid.map(str::to_owned);
        self.conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let what = format!("record step {}", step.function_id);
                let workflow = check_owner(tx, &step.workflow_id, owner.as_deref(), &what)?
                    .ok_or_else(|| {
                        with_backend(store_errors::missing_workflow(&step.workflow_id))
                    })?;
                let row = NewStep::recorded(&step, workflow.application_name.as_deref());
                let recorded = record_step_row(tx, &row, now)?;
                if recorded != step.completed_column() {
                    return Err(with_backend(store_errors::step_conflict(&step, recorded)));
                }
                Ok(())
            })
            .await
    }

    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>> {
        validate::workflow_id(workflow_id)?;
        let id = workflow_id.to_owned();
        let limit = limit(options.limit).unwrap_or(-1);
        let offset = offset(options.offset);
        let load = options.load_output;
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(sql::LIST_STEPS).map_err(classify)?;
                let rows = stmt
                    .query_map(rusqlite::params![id, load, limit, offset], |r| {
                        let function_id = get_i64(r, 0)?.unwrap_or(0);
                        let mut info = StepInfo::new(
                            i32::try_from(function_id).unwrap_or(i32::MAX),
                            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        );
                        let serialization: Option<String> = r.get(7)?;
                        info.outcome = outcome_of(r.get(2)?, r.get(3)?, serialization.as_deref());
                        info.child_workflow_id = r.get(4)?;
                        info.started_at_epoch_ms = get_i64(r, 5)?;
                        info.completed_at_epoch_ms = get_i64(r, 6)?;
                        Ok(info)
                    })
                    .map_err(classify)?;
                rows.map(|r| r.map_err(classify)).collect()
            })
            .await
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
        let parent = parent_workflow_id.to_owned();
        let owner = parent_owner_xid.map(str::to_owned);
        let child_for_error = child.clone();
        let started = {
            let parent = parent.clone();
            let owner = owner.clone();
            self.conns()
                .write(move |tx| {
                    let now = now_ms(tx)?;
                    let what = format!("start child workflow {}", child.workflow_id);
                    let Some(parent_row) = check_owner(tx, &parent, owner.as_deref(), &what)?
                    else {
                        let e = store_errors::missing_parent(&parent, &child.workflow_id);
                        return Err(with_backend(e));
                    };
                    if let Some(step) = read_step(tx, &parent, function_id)? {
                        // A replay of a start that was deduplicated gets the same answer.
                        child_starts::check_recorded_start(
                            &parent,
                            function_id,
                            &child,
                            &step.function_name,
                            step.child_workflow_id.as_deref(),
                            step.error.is_some(),
                        )
                        .map_err(with_backend)?;
                    }
                    child_starts::inherit_deadline(&mut child, parent_row.deadline_epoch_ms);
                    let outcome = insert_workflow_tx(tx, &child, &options, now)?;
                    let application = parent_row.application_name.as_deref();
                    let row =
                        NewStep::child_start(&parent, function_id, &child, None, now, application);
                    insert_step_if_absent(tx, &row, now)?;
                    Ok(outcome)
                })
                .await
        };
        match started {
            Err(e) if e.kind() == ErrorKind::Deduplicated => {
                // Record the deduplication as the parent's step error, so a replay re-raises it
                // instead of enqueuing again; then report it.
                let error_payload = child_starts::deduplicated_step_error(&child_for_error)?;
                self.conns()
                    .write(move |tx| {
                        let now = now_ms(tx)?;
                        let what = format!("record step {function_id}");
                        let parent_row = check_owner(tx, &parent, owner.as_deref(), &what)?;
                        let application = parent_row
                            .as_ref()
                            .and_then(|p| p.application_name.as_deref());
                        let row = NewStep::child_start(
                            &parent,
                            function_id,
                            &child_for_error,
                            Some(&error_payload),
                            now,
                            application,
                        );
                        insert_step_if_absent(tx, &row, now)?;
                        Ok(())
                    })
                    .await?;
                Err(e)
            }
            other => other,
        }
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
        let id = workflow_id.to_owned();
        let owner = owner_xid.map(str::to_owned);
        let duration_ms = duration_ms(duration);
        self.conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let what = format!("record step {function_id}");
                let workflow = check_owner(tx, &id, owner.as_deref(), &what)?
                    .ok_or_else(|| with_backend(store_errors::missing_workflow(&id)))?;
                if let Some(row) = read_step(tx, &id, function_id)? {
                    let wake = durable_sleep::replayed_wake_time(
                        &id,
                        function_id,
                        &row.function_name,
                        row.output.as_deref(),
                        row.completed_at_epoch_ms,
                    )
                    .map_err(with_backend)?;
                    return Ok(SleepState::new(wake, now));
                }
                let wake = now.saturating_add(duration_ms);
                let output = durable_sleep::encode_wake_time(wake);
                let application = workflow.application_name.as_deref();
                let row = NewStep::sleep(&id, function_id, &output, now, wake, application);
                insert_step_if_absent(tx, &row, now)?;
                Ok(SleepState::new(wake, now))
            })
            .await
    }

    async fn run_as_step(
        &self,
        caller: Caller,
        operation: StepOperation,
    ) -> Result<StepOperationOutcome> {
        self.run_operation_as_step(caller, operation).await
    }
}
