//! [`StepStore`] on PostgreSQL: step checkpoints, child starts and durable sleeps.

use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::rules::columns::{outcome_of, status_of};
use dbos_storage_core::rules::listing::{limit, offset};
use dbos_storage_core::rules::steps::{self, NewStep};
use dbos_storage_core::rules::{children, errors, sleep};
use dbos_storage_core::{
    duration_ms, validate, ErrorKind, InsertOptions, InsertOutcome, ListStepsOptions, NewWorkflow,
    RecordedStep, Result, SleepState, StepInfo, StepRecord, StepStore,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

use super::workflows::insert_workflow_row;
use super::{check_owner, col, now_ms, PostgresStore, Queries};
use crate::error::{classify, with_backend};

/// A recorded `operation_outputs` row.
struct StepRow {
    function_name: String,
    output: Option<String>,
    error: Option<String>,
    child_workflow_id: Option<String>,
    completed_at_epoch_ms: Option<i64>,
}

async fn read_step(
    tx: &Transaction<'_>,
    queries: &Queries,
    workflow_id: &str,
    function_id: i32,
) -> Result<Option<StepRow>> {
    let row = tx
        .query_opt(queries.select_step.as_str(), &[&workflow_id, &function_id])
        .await
        .map_err(classify)?;
    row.map(|r| {
        Ok(StepRow {
            function_name: col::<Option<String>>(&r, 0)?.unwrap_or_default(),
            output: col(&r, 1)?,
            error: col(&r, 2)?,
            child_workflow_id: col(&r, 3)?,
            completed_at_epoch_ms: col(&r, 5)?,
        })
    })
    .transpose()
}

/// The parameters of `row`, in the order of `insert_step_head!`.
fn step_params<'r>(row: &'r NewStep<'_>) -> [&'r (dyn ToSql + Sync); 10] {
    [
        &row.workflow_id,
        &row.function_id,
        &row.function_name,
        &row.output,
        &row.error,
        &row.child_workflow_id,
        &row.started_at_epoch_ms,
        &row.completed_at_epoch_ms,
        &row.serialization,
        &row.application_name,
    ]
}

/// Inserts `row`, or finds the recorded one; returns the recorded completion time.
pub(super) async fn record_step_row(
    tx: &Transaction<'_>,
    queries: &Queries,
    row: &NewStep<'_>,
) -> Result<Option<i64>> {
    let recorded = tx
        .query_one(queries.insert_step.as_str(), &step_params(row))
        .await
        .map_err(classify)?;
    col(&recorded, 0)
}

/// Inserts `row` unless a step is recorded at its position.
async fn insert_step_if_absent(
    tx: &Transaction<'_>,
    queries: &Queries,
    row: &NewStep<'_>,
) -> Result<()> {
    tx.execute(queries.insert_step_if_absent.as_str(), &step_params(row))
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl StepStore for PostgresStore {
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        let client = self.client().await?;
        let row = client
            .query_opt(
                self.queries().select_status_and_step.as_str(),
                &[&workflow_id, &function_id],
            )
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            return Err(with_backend(errors::missing_workflow(workflow_id)));
        };
        let status = status_of(col::<Option<String>>(&row, 0)?.as_deref());
        steps::ensure_not_cancelled(workflow_id, &status).map_err(with_backend)?;
        let Some(recorded_name) = col::<Option<String>>(&row, 1)? else {
            return Ok(None);
        };
        steps::ensure_same_step(workflow_id, function_id, function_name, &recorded_name)
            .map_err(with_backend)?;
        let serialization: Option<String> = col(&row, 5)?;
        Ok(Some(RecordedStep::new(
            outcome_of(col(&row, 2)?, col(&row, 3)?, serialization.as_deref()),
            col(&row, 4)?,
        )))
    }

    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()> {
        step.validate()?;
        let owner = owner_xid.map(str::to_owned);
        self.write(move |tx, q| {
            Box::pin(async move {
                let what = format!("record step {}", step.function_id);
                let workflow = check_owner(tx, &q, &step.workflow_id, owner.as_deref(), &what)
                    .await?
                    .ok_or_else(|| with_backend(errors::missing_workflow(&step.workflow_id)))?;
                let row = NewStep::recorded(&step, workflow.application_name.as_deref());
                let recorded = record_step_row(tx, &q, &row).await?;
                if recorded != Some(step.completed_at_epoch_ms) {
                    return Err(with_backend(errors::step_conflict(&step, recorded)));
                }
                Ok(())
            })
        })
        .await
    }

    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>> {
        validate::workflow_id(workflow_id)?;
        let limit = limit(options.limit);
        let offset = offset(options.offset);
        let client = self.client().await?;
        let rows = client
            .query(
                self.queries().list_steps.as_str(),
                &[&workflow_id, &options.load_output, &limit, &offset],
            )
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let mut info =
                    StepInfo::new(col(r, 0)?, col::<Option<String>>(r, 1)?.unwrap_or_default());
                let serialization: Option<String> = col(r, 7)?;
                info.outcome = outcome_of(col(r, 2)?, col(r, 3)?, serialization.as_deref());
                info.child_workflow_id = col(r, 4)?;
                info.started_at_epoch_ms = col(r, 5)?;
                info.completed_at_epoch_ms = col(r, 6)?;
                Ok(info)
            })
            .collect()
    }

    async fn start_child_workflow(
        &self,
        parent_workflow_id: &str,
        function_id: i32,
        child: NewWorkflow,
        options: InsertOptions,
        parent_owner_xid: Option<&str>,
    ) -> Result<InsertOutcome> {
        let mut child = children::prepare(parent_workflow_id, function_id, child)?;
        let parent = parent_workflow_id.to_owned();
        let owner = parent_owner_xid.map(str::to_owned);
        let child_for_error = child.clone();
        let started = {
            let parent = parent.clone();
            let owner = owner.clone();
            self.write(move |tx, q| {
                Box::pin(async move {
                    let now = now_ms(tx, &q).await?;
                    let what = format!("start child workflow {}", child.workflow_id);
                    let Some(parent_row) =
                        check_owner(tx, &q, &parent, owner.as_deref(), &what).await?
                    else {
                        let e = errors::missing_parent(&parent, &child.workflow_id);
                        return Err(with_backend(e));
                    };
                    if let Some(step) = read_step(tx, &q, &parent, function_id).await? {
                        // A replay of a start that was deduplicated gets the same answer.
                        children::check_recorded_start(
                            &parent,
                            function_id,
                            &child,
                            &step.function_name,
                            step.child_workflow_id.as_deref(),
                            step.error.is_some(),
                        )
                        .map_err(with_backend)?;
                    }
                    children::inherit_deadline(&mut child, parent_row.deadline_epoch_ms);
                    let outcome = insert_workflow_row(tx, &q, &child, &options).await?;
                    let application = parent_row.application_name.as_deref();
                    let row =
                        NewStep::child_start(&parent, function_id, &child, None, now, application);
                    insert_step_if_absent(tx, &q, &row).await?;
                    Ok(outcome)
                })
            })
            .await
        };
        match started {
            Err(e) if e.kind() == ErrorKind::Deduplicated => {
                // The unique violation aborted that transaction. Record the deduplication as
                // the parent's step error in a new one, so a replay re-raises it instead of
                // enqueuing again; then report it.
                let error_payload = children::deduplicated_step_error(&child_for_error)?;
                self.write(move |tx, q| {
                    Box::pin(async move {
                        let now = now_ms(tx, &q).await?;
                        let what = format!("record step {function_id}");
                        let parent_row =
                            check_owner(tx, &q, &parent, owner.as_deref(), &what).await?;
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
                        insert_step_if_absent(tx, &q, &row).await
                    })
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
        self.write(move |tx, q| {
            Box::pin(async move {
                let now = now_ms(tx, &q).await?;
                let what = format!("record step {function_id}");
                let workflow = check_owner(tx, &q, &id, owner.as_deref(), &what)
                    .await?
                    .ok_or_else(|| with_backend(errors::missing_workflow(&id)))?;
                if let Some(row) = read_step(tx, &q, &id, function_id).await? {
                    let wake = sleep::replayed_wake_time(
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
                let output = sleep::encode_wake_time(wake);
                let application = workflow.application_name.as_deref();
                let row = NewStep::sleep(&id, function_id, &output, now, wake, application);
                insert_step_if_absent(tx, &q, &row).await?;
                Ok(SleepState::new(wake, now))
            })
        })
        .await
    }
}
