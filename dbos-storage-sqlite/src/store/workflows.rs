//! [`WorkflowStore`] on SQLite: insert, read, list, outcome and waits.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use dbos_storage_core::wait::poll_until;
use dbos_storage_core::{
    validate, AwaitOptions, DedupPolicy, Error, ErrorKind, IdReusePolicy, InitialStatus,
    InsertOptions, InsertOutcome, ListWorkflowsQuery, NewWorkflow, Outcome, Payload, Result,
    Serialization, SortOrder, WorkflowInfo, WorkflowResult, WorkflowStatus, WorkflowStore,
};
use rusqlite::types::Value;
use rusqlite::{named_params, OptionalExtension, ToSql, Transaction};

use super::{duration_ms, json_array, now_ms, read_workflow, SqliteStore, ID_CHUNK};
use crate::error::{classify, is_unique_violation_on, BACKEND};
use crate::sql;

/// The row an insert found or created.
struct InsertedRow {
    status: Option<String>,
    name: Option<String>,
    class_name: Option<String>,
    config_name: Option<String>,
    queue_name: Option<String>,
    creator_xid: Option<String>,
    serialization: Option<String>,
}

/// `name`, with its class and config when set, for messages.
fn describe(name: Option<&str>, class: Option<&str>, config: Option<&str>) -> String {
    let mut s = format!("{:?}", name.unwrap_or(""));
    if let Some(class) = class {
        s.push_str(&format!(" of class {class:?}"));
    }
    if let Some(config) = config {
        s.push_str(&format!(" (config {config:?})"));
    }
    s
}

/// The error of an insert rejected by the deduplication index.
pub(super) fn deduplicated_error(workflow: &NewWorkflow) -> Error {
    Error::new(
        ErrorKind::Deduplicated,
        format!(
            "workflow {} was not enqueued: queue {:?} already has a workflow with deduplication \
             id {:?}",
            workflow.workflow_id,
            workflow.queue_name.as_deref().unwrap_or(""),
            workflow.deduplication_id.as_deref().unwrap_or("")
        ),
    )
    .with_backend(BACKEND)
}

/// The column values of a workflow row to insert, computed once from a [`NewWorkflow`]; shared
/// by `insert_workflow`, `start_child_workflow` and batch enqueue.
pub(super) struct WorkflowColumns<'a> {
    workflow: &'a NewWorkflow,
    status: WorkflowStatus,
    timeout_ms: Option<i64>,
    deadline: Option<i64>,
    roles: Option<String>,
    attributes: String,
    owner_xid: Option<&'a str>,
    recovery_attempts: i64,
}

impl<'a> WorkflowColumns<'a> {
    /// The columns of `workflow` inserted at `now`: a direct start gets its owner, one recovery
    /// attempt and, with a timeout, the deadline `now + timeout`.
    pub(super) fn new(workflow: &'a NewWorkflow, now: i64) -> Result<Self> {
        let pending = workflow.status == InitialStatus::Pending;
        let timeout_ms = workflow.timeout.map(duration_ms);
        let deadline = workflow.deadline_epoch_ms.or_else(|| {
            if pending {
                timeout_ms.map(|t| now.saturating_add(t))
            } else {
                None
            }
        });
        let roles = workflow
            .authenticated_roles
            .as_deref()
            .map(json_array)
            .transpose()?;
        let attributes = match &workflow.attributes {
            Some(map) => serde_json::to_string(map).map_err(|e| {
                Error::invalid_input(format!(
                    "the attributes of workflow {} cannot be encoded as JSON: {e}",
                    workflow.workflow_id
                ))
            })?,
            None => "null".to_owned(),
        };
        Ok(WorkflowColumns {
            workflow,
            status: workflow.status.status(),
            timeout_ms,
            deadline,
            roles,
            attributes,
            owner_xid: pending.then_some(workflow.creator_xid.as_str()),
            recovery_attempts: if pending { 1 } else { 0 },
        })
    }

    /// Calls `f` with the row's named parameters, `created_at` (also `updated_at`) included.
    pub(super) fn with_params<R>(
        &self,
        created_at: i64,
        f: impl FnOnce(&[(&str, &dyn ToSql)]) -> R,
    ) -> R {
        let w = self.workflow;
        f(named_params! {
            ":workflow_uuid": w.workflow_id,
            ":status": self.status.as_str(),
            ":name": w.name,
            ":class_name": w.class_name,
            ":config_name": w.config_name,
            ":queue_name": w.queue_name,
            ":deduplication_id": w.deduplication_id,
            ":priority": w.priority,
            ":queue_partition_key": w.queue_partition_key,
            ":authenticated_user": w.authenticated_user,
            ":assumed_role": w.assumed_role,
            ":authenticated_roles": self.roles,
            ":executor_id": w.executor_id,
            ":application_version": w.application_version,
            ":application_id": w.application_id,
            ":application_name": w.application_name,
            ":created_at": created_at,
            ":recovery_attempts": self.recovery_attempts,
            ":workflow_timeout_ms": self.timeout_ms,
            ":workflow_deadline_epoch_ms": self.deadline,
            ":delay_until_epoch_ms": w.delay_until_epoch_ms,
            ":parent_workflow_id": w.parent_workflow_id,
            ":serialization": w.inputs.label(),
            ":attributes": self.attributes,
            ":owner_xid": self.owner_xid,
            ":creator_xid": w.creator_xid,
            ":is_debounced": w.is_debounced,
            ":debounce_deadline_epoch_ms": w.debounce_deadline_epoch_ms,
        })
    }
}

/// Inserts `workflow` (or reconciles with its existing row) inside `tx`; shared by
/// `insert_workflow` and `start_child_workflow`. A held deduplication id is always the
/// `Deduplicated` error here; `insert_workflow` applies [`DedupPolicy::ReturnExisting`].
pub(super) fn insert_workflow_tx(
    tx: &Transaction<'_>,
    workflow: &NewWorkflow,
    options: &InsertOptions,
    now: i64,
) -> Result<InsertOutcome> {
    let inserted = WorkflowColumns::new(workflow, now)?.with_params(now, |params| {
        tx.query_row(sql::INSERT_WORKFLOW, params, |r| {
            Ok(InsertedRow {
                status: r.get(0)?,
                name: r.get(1)?,
                class_name: r.get(2)?,
                config_name: r.get(3)?,
                queue_name: r.get(4)?,
                creator_xid: r.get(5)?,
                serialization: r.get(6)?,
            })
        })
    });
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_unique_violation_on(&e, "deduplication_id") => {
            return Err(deduplicated_error(workflow));
        }
        Err(e) => return Err(classify(e)),
    };

    if row.name.as_deref() != Some(workflow.name.as_str())
        || row.class_name != workflow.class_name
        || row.config_name != workflow.config_name
    {
        return Err(Error::new(
            ErrorKind::WorkflowConflict,
            format!(
                "workflow id {} is already used by workflow {}; it cannot also run workflow {}",
                workflow.workflow_id,
                describe(
                    row.name.as_deref(),
                    row.class_name.as_deref(),
                    row.config_name.as_deref()
                ),
                describe(
                    Some(&workflow.name),
                    workflow.class_name.as_deref(),
                    workflow.config_name.as_deref()
                ),
            ),
        )
        .with_backend(BACKEND));
    }
    let ours = row.creator_xid.as_deref() == Some(workflow.creator_xid.as_str());
    if !ours {
        if row.queue_name != workflow.queue_name {
            tracing::warn!(
                workflow_id = %workflow.workflow_id,
                existing_queue = ?row.queue_name,
                requested_queue = ?workflow.queue_name,
                "workflow already exists on another queue; attaching to the existing workflow"
            );
        }
        if options.reuse_policy == IdReusePolicy::Reject {
            return Err(Error::new(
                ErrorKind::WorkflowIdInUse,
                format!(
                    "workflow id {} is already in use by another start of workflow {:?}; choose \
                     another id, or attach to the existing workflow",
                    workflow.workflow_id, workflow.name
                ),
            )
            .with_backend(BACKEND));
        }
    } else {
        tx.execute(
            sql::INSERT_WORKFLOW_INPUT,
            rusqlite::params![workflow.workflow_id, workflow.inputs.text, now],
        )
        .map_err(classify)?;
    }
    let status = WorkflowStatus::parse(row.status.as_deref().unwrap_or(""));
    let should_execute = ours && status == WorkflowStatus::Pending;
    let mut outcome = InsertOutcome::new(status, should_execute, !ours);
    outcome.queue_name = row.queue_name;
    outcome.serialization = row.serialization.as_deref().map(Serialization::parse_label);
    Ok(outcome)
}

/// Under [`DedupPolicy::ReturnExisting`]: the outcome naming the workflow that holds
/// `workflow`'s deduplication id, described by the holder's row; `None` if nobody holds it.
fn deduplicated_outcome(
    tx: &Transaction<'_>,
    workflow: &NewWorkflow,
) -> Result<Option<InsertOutcome>> {
    let (Some(queue), Some(dedup)) = (&workflow.queue_name, &workflow.deduplication_id) else {
        return Ok(None);
    };
    let holder = tx
        .query_row(
            sql::queues::SELECT_DEDUPLICATION_HOLDER,
            rusqlite::params![queue, dedup],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            },
        )
        .optional()
        .map_err(classify)?;
    Ok(holder.map(|(holder, status, serialization)| {
        let status = WorkflowStatus::parse(status.as_deref().unwrap_or(""));
        let mut outcome = InsertOutcome::new(status, false, true);
        outcome.queue_name = Some(queue.clone());
        outcome.serialization = serialization.as_deref().map(Serialization::parse_label);
        outcome.deduplicated_into = Some(holder);
        outcome
    }))
}

/// A statement under construction: SQL fragments and their named parameters.
struct Query {
    text: String,
    params: Vec<(&'static str, Value)>,
}

impl Query {
    /// Appends a fragment that binds nothing.
    fn clause(&mut self, fragment: &str) {
        self.text.push_str(fragment);
    }

    /// Appends a fragment and binds its parameter.
    fn filter(&mut self, fragment: &str, name: &'static str, value: Value) {
        self.text.push_str(fragment);
        self.bind(name, value);
    }

    /// Binds a parameter of an appended fragment.
    fn bind(&mut self, name: &'static str, value: Value) {
        self.params.push((name, value));
    }
}

/// Builds the `list_workflows` statement and its named parameters.
fn list_query(q: &ListWorkflowsQuery) -> Result<(String, Vec<(&'static str, Value)>)> {
    use sql::list;
    if q.attributes.is_some() {
        return Err(Error::unsupported(
            "attribute filters need PostgreSQL (JSONB containment); SQLite stores attributes as \
             text and cannot filter by them — filter the listed workflows in your code instead",
        )
        .with_backend(BACKEND));
    }
    let mut query = Query {
        text: String::from(sql::LIST_WORKFLOWS),
        params: vec![
            (":load_input", Value::Integer(i64::from(q.load_input))),
            (":load_output", Value::Integer(i64::from(q.load_output))),
        ],
    };
    let list_value = |values: &[String]| json_array(values).map(Value::Text);

    if let Some(ids) = &q.workflow_ids {
        query.filter(list::IDS, ":workflow_ids", list_value(ids)?);
    }
    if let Some(prefix) = &q.workflow_id_prefix {
        let mut pattern = String::with_capacity(prefix.len() + 1);
        for c in prefix.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        query.filter(list::ID_PREFIX, ":prefix_pattern", Value::Text(pattern));
        query.bind(":prefix", Value::Text(prefix.clone()));
    }
    if let Some(statuses) = &q.status {
        let names: Vec<String> = statuses.iter().map(|s| s.as_str().to_owned()).collect();
        query.filter(list::STATUS, ":status", list_value(&names)?);
    }
    for (values, fragment, name) in [
        (&q.name, list::NAME, ":name"),
        (
            &q.application_version,
            list::APPLICATION_VERSION,
            ":application_version",
        ),
        (&q.executor_id, list::EXECUTOR_ID, ":executor_id"),
        (&q.queue_name, list::QUEUE_NAME, ":queue_name"),
        (
            &q.authenticated_user,
            list::AUTHENTICATED_USER,
            ":authenticated_user",
        ),
    ] {
        if let Some(values) = values {
            query.filter(fragment, name, list_value(values)?);
        }
    }
    for (value, fragment, name) in [
        (&q.schedule_name, list::SCHEDULE_NAME, ":schedule_name"),
        (&q.forked_from, list::FORKED_FROM, ":forked_from"),
        (
            &q.parent_workflow_id,
            list::PARENT_WORKFLOW_ID,
            ":parent_workflow_id",
        ),
    ] {
        if let Some(value) = value {
            query.filter(fragment, name, Value::Text(value.clone()));
        }
    }
    for (value, fragment, name) in [
        (q.start_time, list::START_TIME, ":start_time"),
        (q.end_time, list::END_TIME, ":end_time"),
        (q.completed_after, list::COMPLETED_AFTER, ":completed_after"),
        (
            q.completed_before,
            list::COMPLETED_BEFORE,
            ":completed_before",
        ),
        (q.dequeued_after, list::DEQUEUED_AFTER, ":dequeued_after"),
        (q.dequeued_before, list::DEQUEUED_BEFORE, ":dequeued_before"),
    ] {
        if let Some(value) = value {
            query.filter(fragment, name, Value::Integer(value));
        }
    }
    if let Some(v) = q.was_forked_from {
        query.filter(
            list::WAS_FORKED_FROM,
            ":was_forked_from",
            Value::Integer(i64::from(v)),
        );
    }
    match q.is_fork {
        Some(true) => query.clause(list::IS_FORK),
        Some(false) => query.clause(list::IS_NOT_FORK),
        None => {}
    }
    match q.has_parent {
        Some(true) => query.clause(list::HAS_PARENT),
        Some(false) => query.clause(list::HAS_NO_PARENT),
        None => {}
    }
    if q.workflow_ids.is_none() {
        if let Some(app) = &q.application_name {
            query.filter(
                list::APPLICATION_SCOPE,
                ":application_name",
                Value::Text(app.clone()),
            );
        }
    }
    if q.queues_only {
        query.clause(list::QUEUES_ONLY);
        if q.status.is_none() {
            query.clause(list::QUEUED_STATUSES);
        }
    }
    match q.sort {
        SortOrder::Descending => query.clause(list::ORDER_DESC),
        _ => query.clause(list::ORDER_ASC),
    }
    let limit = q.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = q.offset.map_or(0, |o| i64::try_from(o).unwrap_or(i64::MAX));
    query.filter(list::LIMIT_OFFSET, ":limit", Value::Integer(limit));
    query.bind(":offset", Value::Integer(offset));
    Ok((query.text, query.params))
}

/// Reads a workflow's result in `tx`.
fn read_result(tx: &Transaction<'_>, workflow_id: &str) -> Result<WorkflowResult> {
    let row = tx
        .query_row(sql::SELECT_WORKFLOW_RESULT, [workflow_id], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()
        .map_err(classify)?;
    let Some((status, output, error, serialization)) = row else {
        return Ok(WorkflowResult::NotFound);
    };
    let label = serialization.as_deref().map(Serialization::parse_label);
    let status = WorkflowStatus::parse(status.as_deref().unwrap_or(""));
    Ok(match status {
        WorkflowStatus::Success => WorkflowResult::Finished(Outcome::Output(Payload::new(
            output.unwrap_or_else(|| "null".to_owned()),
            label,
        ))),
        WorkflowStatus::Error => WorkflowResult::Finished(Outcome::Error(Payload::new(
            error.unwrap_or_else(|| "null".to_owned()),
            label,
        ))),
        WorkflowStatus::Cancelled => WorkflowResult::Cancelled,
        WorkflowStatus::MaxRecoveryAttemptsExceeded => WorkflowResult::MaxRecoveryAttemptsExceeded,
        other => WorkflowResult::Active(other),
    })
}

impl SqliteStore {
    async fn first_finished_inner(&self, ids: Vec<String>) -> Result<Option<String>> {
        self.conns()
            .read(move |tx| {
                for chunk in ids.chunks(ID_CHUNK) {
                    let found = tx
                        .query_row(sql::SELECT_FIRST_FINISHED, [json_array(chunk)?], |r| {
                            r.get::<_, String>(0)
                        })
                        .optional()
                        .map_err(classify)?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                Ok(None)
            })
            .await
    }
}

#[async_trait]
impl WorkflowStore for SqliteStore {
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome> {
        workflow.validate()?;
        self.conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let inserted = insert_workflow_tx(tx, &workflow, &options, now);
                if options.dedup_policy != DedupPolicy::ReturnExisting {
                    return inserted;
                }
                match inserted {
                    Err(e) if e.kind() == ErrorKind::Deduplicated => {
                        if let Some(outcome) = deduplicated_outcome(tx, &workflow)? {
                            return Ok(outcome);
                        }
                        // The holder gave the key up in between: try the insert once more.
                        match insert_workflow_tx(tx, &workflow, &options, now) {
                            Err(e) if e.kind() == ErrorKind::Deduplicated => {
                                deduplicated_outcome(tx, &workflow)?.ok_or(e)
                            }
                            other => other,
                        }
                    }
                    other => other,
                }
            })
            .await
    }

    async fn get_workflows(&self, workflow_ids: &[String]) -> Result<Vec<WorkflowInfo>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = workflow_ids.to_vec();
        self.conns()
            .read(move |tx| {
                let mut found: HashMap<String, WorkflowInfo> = HashMap::new();
                let mut stmt = tx
                    .prepare_cached(sql::SELECT_WORKFLOWS_BY_IDS)
                    .map_err(classify)?;
                for chunk in ids.chunks(ID_CHUNK) {
                    let rows = stmt
                        .query_map([json_array(chunk)?], read_workflow)
                        .map_err(classify)?;
                    for row in rows {
                        let w = row.map_err(classify)?;
                        found.insert(w.workflow_id.clone(), w);
                    }
                }
                Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
            })
            .await
    }

    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        if let Some(ids) = &query.workflow_ids {
            validate::workflow_ids(ids)?;
        }
        let (text, params) = list_query(&query)?;
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare(&text).map_err(classify)?;
                let bound: Vec<(&str, &dyn ToSql)> = params
                    .iter()
                    .map(|(name, value)| (*name, value as &dyn ToSql))
                    .collect();
                let rows = stmt
                    .query_map(bound.as_slice(), read_workflow)
                    .map_err(classify)?;
                rows.map(|r| r.map_err(classify)).collect()
            })
            .await
    }

    async fn record_outcome(
        &self,
        workflow_id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool> {
        validate::workflow_id(workflow_id)?;
        dbos_storage_core::payload::validate_text("workflow outcome", &outcome.payload().text)?;
        let (status, output, error) = match outcome {
            Outcome::Output(p) => (WorkflowStatus::Success, Some(p.text), None),
            Outcome::Error(p) => (WorkflowStatus::Error, None, Some(p.text)),
        };
        let id = workflow_id.to_owned();
        let owner = owner_xid.map(str::to_owned);
        let applied = self
            .conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let changed = tx
                    .execute(
                        sql::UPDATE_OUTCOME,
                        named_params! {
                            ":status": status.as_str(),
                            ":now": now,
                            ":workflow_uuid": id,
                            ":owner_xid": owner,
                        },
                    )
                    .map_err(classify)?;
                if changed == 0 {
                    return Ok(false);
                }
                tx.execute(
                    sql::UPSERT_WORKFLOW_OUTPUT,
                    rusqlite::params![id, output, error, now],
                )
                .map_err(classify)?;
                Ok(true)
            })
            .await?;
        if applied {
            self.wake().notify();
        }
        Ok(applied)
    }

    async fn workflow_result(&self, workflow_id: &str) -> Result<WorkflowResult> {
        validate::workflow_id(workflow_id)?;
        let id = workflow_id.to_owned();
        self.conns().read(move |tx| read_result(tx, &id)).await
    }

    async fn await_workflow_result(
        &self,
        workflow_id: &str,
        options: AwaitOptions,
    ) -> Result<WorkflowResult> {
        validate::workflow_id(workflow_id)?;
        let what = format!("workflow {workflow_id} to finish");
        poll_until(&what, &options, Some(self.wake()), || async {
            let result = self.workflow_result(workflow_id).await?;
            match result {
                WorkflowResult::NotFound if options.fail_if_missing => Err(Error::not_found(
                    format!("workflow {workflow_id} does not exist"),
                )
                .with_backend(BACKEND)),
                r if r.is_terminal() => Ok(Some(r)),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn first_finished(&self, workflow_ids: &[String]) -> Result<Option<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            return Ok(None);
        }
        self.first_finished_inner(workflow_ids.to_vec()).await
    }

    async fn await_first_finished(
        &self,
        workflow_ids: &[String],
        options: AwaitOptions,
    ) -> Result<String> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            return Err(Error::invalid_input(
                "await_first_finished needs at least one workflow id",
            ));
        }
        let what = format!(
            "one of {} workflows (first: {}) to finish",
            workflow_ids.len(),
            workflow_ids[0]
        );
        poll_until(&what, &options, Some(self.wake()), || {
            self.first_finished_inner(workflow_ids.to_vec())
        })
        .await
    }

    async fn workflow_children(&self, workflow_id: &str) -> Result<Vec<String>> {
        validate::workflow_id(workflow_id)?;
        let root = workflow_id.to_owned();
        self.conns()
            .read(move |tx| {
                let mut seen: HashSet<String> = HashSet::from([root.clone()]);
                let mut out = Vec::new();
                let mut level = vec![root];
                let mut stmt = tx.prepare_cached(sql::SELECT_CHILDREN).map_err(classify)?;
                while !level.is_empty() {
                    let mut next = Vec::new();
                    for chunk in level.chunks(ID_CHUNK) {
                        let rows = stmt
                            .query_map([json_array(chunk)?], |r| r.get::<_, String>(0))
                            .map_err(classify)?;
                        for id in rows {
                            let id = id.map_err(classify)?;
                            if seen.insert(id.clone()) {
                                next.push(id);
                            }
                        }
                    }
                    out.extend(next.iter().cloned());
                    level = next;
                }
                Ok(out)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_escaped_and_values_are_bound() {
        let q = ListWorkflowsQuery::new()
            .workflow_id_prefix("a%b_c\\")
            .application_name("app");
        let (text, params) = list_query(&q).unwrap();
        assert!(text.contains("ESCAPE '\\'"), "{text}");
        assert!(
            !text.contains("a%b"),
            "values must be bound, not formatted: {text}"
        );
        let pattern = params
            .iter()
            .find(|(n, _)| *n == ":prefix_pattern")
            .unwrap();
        assert_eq!(pattern.1, Value::Text("a\\%b\\_c\\\\%".into()));
        assert!(text.contains("application_name IS NULL"));
    }

    #[test]
    fn ids_disable_application_scoping() {
        let q = ListWorkflowsQuery::new()
            .workflow_ids(["x"])
            .application_name("app");
        let (text, _) = list_query(&q).unwrap();
        assert!(!text.contains(":application_name"), "{text}");
    }

    #[test]
    fn attribute_filters_are_unsupported() {
        let q = ListWorkflowsQuery::new().attributes(serde_json::Map::new());
        let e = list_query(&q).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(
            e.message().contains("attribute filters need PostgreSQL"),
            "{e}"
        );
    }
}
