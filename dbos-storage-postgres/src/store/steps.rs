//! [`StepStore`] on PostgreSQL: step checkpoints, child starts and durable sleeps.

use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::payload::portable::PortableError;
use dbos_storage_core::{
    validate, Error, ErrorKind, InsertOptions, InsertOutcome, ListStepsOptions, NewWorkflow,
    Outcome, RecordedStep, Result, Serialization, SleepState, StepInfo, StepRecord, StepStore,
    SLEEP_STEP,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

use super::workflows::{deduplicated_error, insert_workflow_row};
use super::{check_owner, col, duration_ms, now_ms, outcome_of, PostgresStore, Queries};
use crate::error::{classify, BACKEND};

/// The name of the portable error recorded when a child start is deduplicated.
const DEDUPLICATED_ERROR_NAME: &str = "DBOSQueueDeduplicatedError";

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

fn missing_workflow(workflow_id: &str) -> Error {
    Error::not_found(format!("workflow {workflow_id} does not exist")).with_backend(BACKEND)
}

fn unexpected_step(workflow_id: &str, function_id: i32, expected: &str, recorded: &str) -> Error {
    Error::new(
        ErrorKind::UnexpectedStep,
        format!(
            "workflow {workflow_id} step {function_id}: this execution runs step {expected:?} but \
             the step recorded at that position is {recorded:?}; the workflow code is not \
             deterministic (it changed, or depends on something outside the workflow)"
        ),
    )
    .with_backend(BACKEND)
}

/// The columns of a step row to insert.
struct NewStep<'a> {
    workflow_id: &'a str,
    function_id: i32,
    function_name: &'a str,
    output: Option<&'a str>,
    error: Option<&'a str>,
    child_workflow_id: Option<&'a str>,
    started_at_epoch_ms: Option<i64>,
    completed_at_epoch_ms: i64,
    serialization: Option<&'a str>,
    application_name: Option<&'a str>,
}

impl NewStep<'_> {
    /// The row's parameters, in the order of `insert_step_head!`.
    fn params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.workflow_id,
            &self.function_id,
            &self.function_name,
            &self.output,
            &self.error,
            &self.child_workflow_id,
            &self.started_at_epoch_ms,
            &self.completed_at_epoch_ms,
            &self.serialization,
            &self.application_name,
        ]
    }

    /// Inserts the row, or finds the recorded one; returns the recorded completion time.
    async fn record(&self, tx: &Transaction<'_>, queries: &Queries) -> Result<Option<i64>> {
        let row = tx
            .query_one(queries.insert_step.as_str(), &self.params())
            .await
            .map_err(classify)?;
        col(&row, 0)
    }

    /// Inserts the row unless a step is recorded at its position.
    async fn insert_if_absent(&self, tx: &Transaction<'_>, queries: &Queries) -> Result<()> {
        tx.execute(queries.insert_step_if_absent.as_str(), &self.params())
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// Epoch seconds as a float, as DBOS Python records a sleep's wake time.
fn wake_time_text(wake_at_epoch_ms: i64) -> String {
    let seconds = wake_at_epoch_ms as f64 / 1000.0;
    serde_json::Number::from_f64(seconds)
        .map_or_else(|| wake_at_epoch_ms.to_string(), |n| n.to_string())
}

/// The wake time of a recorded sleep: a JSON number of epoch seconds (DBOS Python) or epoch
/// milliseconds (other SDKs), else the row's completion time (the wake time for `DBOS.sleep`).
fn recorded_wake_time(row: &StepRow) -> Option<i64> {
    let parsed = row
        .output
        .as_deref()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        })
        .filter(|f| f.is_finite());
    match parsed {
        // Anything above 1e11 is milliseconds (1e11 seconds is the year 5138).
        Some(v) if v.abs() >= 1e11 => Some(v.round() as i64),
        Some(v) => Some((v * 1000.0).round() as i64),
        None => row.completed_at_epoch_ms,
    }
}

/// The portable error recorded as the parent's step when a child start is deduplicated.
fn deduplicated_step_error(child: &NewWorkflow) -> Result<String> {
    let payload = PortableError::new(
        DEDUPLICATED_ERROR_NAME,
        format!(
            "Workflow {} was deduplicated due to an existing workflow in queue {} with \
             deduplication ID {}.",
            child.workflow_id,
            child.queue_name.as_deref().unwrap_or_default(),
            child.deduplication_id.as_deref().unwrap_or_default()
        ),
    )
    .encode()?;
    Ok(payload.text)
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
            return Err(missing_workflow(workflow_id));
        };
        let status: Option<String> = col(&row, 0)?;
        if status.as_deref() == Some("CANCELLED") {
            return Err(Error::new(
                ErrorKind::Cancelled,
                format!("workflow {workflow_id} was cancelled"),
            )
            .with_backend(BACKEND));
        }
        let Some(recorded_name) = col::<Option<String>>(&row, 1)? else {
            return Ok(None);
        };
        if recorded_name != function_name {
            return Err(unexpected_step(
                workflow_id,
                function_id,
                function_name,
                &recorded_name,
            ));
        }
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
                    .ok_or_else(|| missing_workflow(&step.workflow_id))?;
                let (output, error) = match &step.outcome {
                    Some(Outcome::Output(p)) => (Some(p.text.as_str()), None),
                    Some(Outcome::Error(p)) => (None, Some(p.text.as_str())),
                    None => (None, None),
                };
                let recorded = NewStep {
                    workflow_id: &step.workflow_id,
                    function_id: step.function_id,
                    function_name: &step.function_name,
                    output,
                    error,
                    child_workflow_id: step.child_workflow_id.as_deref(),
                    started_at_epoch_ms: step.started_at_epoch_ms,
                    completed_at_epoch_ms: step.completed_at_epoch_ms,
                    serialization: step.outcome.as_ref().and_then(|o| o.payload().label()),
                    application_name: workflow.application_name.as_deref(),
                }
                .record(tx, &q)
                .await?;
                if recorded != Some(step.completed_at_epoch_ms) {
                    return Err(Error::new(
                        ErrorKind::StepConflict,
                        format!(
                            "step {} ({:?}) of workflow {} was already recorded by another \
                             execution (completed at {}, this attempt at {}); the recorded \
                             result is kept",
                            step.function_id,
                            step.function_name,
                            step.workflow_id,
                            recorded
                                .map_or_else(|| "an unknown time".to_owned(), |t| t.to_string()),
                            step.completed_at_epoch_ms
                        ),
                    )
                    .with_backend(BACKEND));
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
        let limit: Option<i64> = options.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let offset: i64 = options
            .offset
            .map_or(0, |o| i64::try_from(o).unwrap_or(i64::MAX));
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
        validate::workflow_id(parent_workflow_id)?;
        validate::function_id(function_id)?;
        let mut child = child;
        child.parent_workflow_id = Some(parent_workflow_id.to_owned());
        child.validate()?;
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
                        return Err(Error::not_found(format!(
                            "parent workflow {parent} does not exist; cannot start child \
                             workflow {}",
                            child.workflow_id
                        ))
                        .with_backend(BACKEND));
                    };
                    if let Some(step) = read_step(tx, &q, &parent, function_id).await? {
                        if step.child_workflow_id.as_deref() != Some(child.workflow_id.as_str()) {
                            let recorded = match &step.child_workflow_id {
                                Some(c) => format!("child workflow {c}"),
                                None => format!("step {:?}", step.function_name),
                            };
                            return Err(Error::new(
                                ErrorKind::StepConflict,
                                format!(
                                    "step {function_id} of workflow {parent} already recorded \
                                     {recorded}; this execution cannot start child workflow {} \
                                     there",
                                    child.workflow_id
                                ),
                            )
                            .with_backend(BACKEND));
                        }
                        if step.error.is_some() {
                            // A replay of a start that was deduplicated: the same answer.
                            return Err(deduplicated_error(&child));
                        }
                    }
                    if child.timeout.is_none() && child.deadline_epoch_ms.is_none() {
                        child.deadline_epoch_ms = parent_row.deadline_epoch_ms;
                    }
                    let outcome = insert_workflow_row(tx, &q, &child, &options).await?;
                    NewStep {
                        workflow_id: &parent,
                        function_id,
                        function_name: &child.name,
                        output: None,
                        error: None,
                        child_workflow_id: Some(&child.workflow_id),
                        started_at_epoch_ms: Some(now),
                        completed_at_epoch_ms: now,
                        serialization: None,
                        application_name: parent_row.application_name.as_deref(),
                    }
                    .insert_if_absent(tx, &q)
                    .await?;
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
                let error_text = deduplicated_step_error(&child_for_error)?;
                self.write(move |tx, q| {
                    Box::pin(async move {
                        let now = now_ms(tx, &q).await?;
                        let what = format!("record step {function_id}");
                        let parent_row =
                            check_owner(tx, &q, &parent, owner.as_deref(), &what).await?;
                        NewStep {
                            workflow_id: &parent,
                            function_id,
                            function_name: &child_for_error.name,
                            output: None,
                            error: Some(&error_text),
                            child_workflow_id: Some(&child_for_error.workflow_id),
                            started_at_epoch_ms: Some(now),
                            completed_at_epoch_ms: now,
                            serialization: Some(Serialization::PortableJson.as_label()),
                            application_name: parent_row
                                .as_ref()
                                .and_then(|p| p.application_name.as_deref()),
                        }
                        .insert_if_absent(tx, &q)
                        .await
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
                    .ok_or_else(|| missing_workflow(&id))?;
                if let Some(row) = read_step(tx, &q, &id, function_id).await? {
                    if row.function_name != SLEEP_STEP {
                        return Err(unexpected_step(
                            &id,
                            function_id,
                            SLEEP_STEP,
                            &row.function_name,
                        ));
                    }
                    let wake = recorded_wake_time(&row).ok_or_else(|| {
                        Error::corrupt(format!(
                            "the sleep recorded at step {function_id} of workflow {id} has no \
                             readable wake time"
                        ))
                        .with_backend(BACKEND)
                    })?;
                    return Ok(SleepState::new(wake, now));
                }
                let wake = now.saturating_add(duration_ms);
                let output = wake_time_text(wake);
                NewStep {
                    workflow_id: &id,
                    function_id,
                    function_name: SLEEP_STEP,
                    output: Some(&output),
                    error: None,
                    child_workflow_id: None,
                    started_at_epoch_ms: Some(now),
                    completed_at_epoch_ms: wake,
                    serialization: Some(Serialization::PortableJson.as_label()),
                    application_name: workflow.application_name.as_deref(),
                }
                .insert_if_absent(tx, &q)
                .await?;
                Ok(SleepState::new(wake, now))
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(output: Option<&str>, completed: Option<i64>) -> StepRow {
        StepRow {
            function_name: SLEEP_STEP.into(),
            output: output.map(str::to_owned),
            error: None,
            child_workflow_id: None,
            completed_at_epoch_ms: completed,
        }
    }

    #[test]
    fn wake_time_round_trips_as_epoch_seconds() {
        let text = wake_time_text(1_795_459_448_222);
        assert_eq!(text, "1795459448.222");
        assert_eq!(
            recorded_wake_time(&row(Some(&text), None)),
            Some(1_795_459_448_222)
        );
        assert_eq!(wake_time_text(1_795_459_448_000), "1795459448.0");
    }

    #[test]
    fn wake_time_accepts_milliseconds_and_falls_back_to_completion() {
        assert_eq!(
            recorded_wake_time(&row(Some("1795459448222"), None)),
            Some(1_795_459_448_222)
        );
        assert_eq!(recorded_wake_time(&row(Some("garbage"), Some(7))), Some(7));
        assert_eq!(recorded_wake_time(&row(None, None)), None);
    }
}
