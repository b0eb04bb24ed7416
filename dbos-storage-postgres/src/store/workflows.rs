//! [`WorkflowStore`] on PostgreSQL: insert, read, list, outcome and waits.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use dbos_storage_core::wait::poll_until;
use dbos_storage_core::{
    validate, AwaitOptions, DedupPolicy, Error, ErrorKind, IdReusePolicy, InitialStatus,
    InsertOptions, InsertOutcome, ListWorkflowsQuery, NewWorkflow, Outcome, Payload, Result,
    Serialization, SortOrder, WorkflowInfo, WorkflowResult, WorkflowStatus, WorkflowStore,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::GenericClient;

use super::{col, duration_ms, json_array, read_workflow, PostgresStore, Queries, ID_CHUNK};
use crate::error::{classify, constraint, is_unique_violation, BACKEND};
use crate::sql::workflows::list;

/// The unique index that enforces one deduplication id per queue.
pub(crate) const DEDUP_INDEX: &str = "uq_workflow_status_dedup_id";

/// How many times an insert under [`DedupPolicy::ReturnExisting`] is tried when the holder of
/// the deduplication id releases it between the failed insert and the lookup.
const DEDUP_ATTEMPTS: usize = 5;

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

/// The attribute map as the JSONB value to store: JSON `null` when unset, as DBOS writes it.
fn attributes_value(workflow: &NewWorkflow) -> serde_json::Value {
    match &workflow.attributes {
        Some(map) => serde_json::Value::Object(map.clone()),
        None => serde_json::Value::Null,
    }
}

/// Inserts `workflow` (or reconciles with its existing row) with one statement on `client`
/// (a connection in autocommit, or a transaction); shared by `insert_workflow` and
/// `start_child_workflow`. A deduplication conflict is reported as
/// [`ErrorKind::Deduplicated`] (it aborts an enclosing transaction).
pub(super) async fn insert_workflow_row(
    client: &(impl GenericClient + Sync),
    queries: &Queries,
    workflow: &NewWorkflow,
    options: &InsertOptions,
) -> Result<InsertOutcome> {
    let pending = workflow.status == InitialStatus::Pending;
    let status = workflow.status.status();
    let timeout_ms = workflow.timeout.map(duration_ms);
    // A direct start with a timeout gets the deadline now + timeout (computed by the database
    // clock); an explicit deadline wins.
    let deadline_offset = if pending { timeout_ms } else { None };
    let roles = workflow
        .authenticated_roles
        .as_deref()
        .map(json_array)
        .transpose()?;
    let attributes = attributes_value(workflow);
    let owner_xid = pending.then_some(workflow.creator_xid.as_str());
    let recovery_attempts: i64 = if pending { 1 } else { 0 };
    let serialization = workflow.inputs.label();

    let params: [&(dyn ToSql + Sync); 29] = [
        &workflow.workflow_id,
        &status.as_str(),
        &workflow.name,
        &workflow.class_name,
        &workflow.config_name,
        &workflow.queue_name,
        &workflow.deduplication_id,
        &workflow.priority,
        &workflow.queue_partition_key,
        &workflow.authenticated_user,
        &workflow.assumed_role,
        &roles,
        &workflow.executor_id,
        &workflow.application_version,
        &workflow.application_id,
        &workflow.application_name,
        &recovery_attempts,
        &timeout_ms,
        &workflow.deadline_epoch_ms,
        &deadline_offset,
        &workflow.delay_until_epoch_ms,
        &workflow.parent_workflow_id,
        &serialization,
        &attributes,
        &owner_xid,
        &workflow.creator_xid,
        &workflow.inputs.text,
        &workflow.is_debounced,
        &workflow.debounce_deadline_epoch_ms,
    ];
    let row = match client
        .query_one(queries.insert_workflow.as_str(), &params)
        .await
    {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) && constraint(&e) == Some(DEDUP_INDEX) => {
            return Err(deduplicated_error(workflow));
        }
        Err(e) => return Err(classify(e)),
    };
    let row_status: Option<String> = col(&row, 0)?;
    let row_name: Option<String> = col(&row, 1)?;
    let row_class: Option<String> = col(&row, 2)?;
    let row_config: Option<String> = col(&row, 3)?;
    let row_queue: Option<String> = col(&row, 4)?;
    let row_creator: Option<String> = col(&row, 5)?;
    let row_serialization: Option<String> = col(&row, 6)?;

    if row_name.as_deref() != Some(workflow.name.as_str())
        || row_class != workflow.class_name
        || row_config != workflow.config_name
    {
        return Err(Error::new(
            ErrorKind::WorkflowConflict,
            format!(
                "workflow id {} is already used by workflow {}; it cannot also run workflow {}",
                workflow.workflow_id,
                describe(
                    row_name.as_deref(),
                    row_class.as_deref(),
                    row_config.as_deref()
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
    let ours = row_creator.as_deref() == Some(workflow.creator_xid.as_str());
    if !ours {
        if row_queue != workflow.queue_name {
            tracing::warn!(
                workflow_id = %workflow.workflow_id,
                existing_queue = ?row_queue,
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
    }
    let status = WorkflowStatus::parse(row_status.as_deref().unwrap_or(""));
    let should_execute = ours && status == WorkflowStatus::Pending;
    let mut outcome = InsertOutcome::new(status, should_execute, !ours);
    outcome.queue_name = row_queue;
    outcome.serialization = row_serialization.as_deref().map(Serialization::parse_label);
    Ok(outcome)
}

/// A `list_workflows` statement under construction: SQL text and its numbered parameters.
struct ListQuery {
    text: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl ListQuery {
    /// Appends a fragment that binds nothing.
    fn clause(&mut self, fragment: &str) {
        self.text.push_str(fragment);
    }

    /// Binds `value` as the next parameter and returns its placeholder.
    fn bind(&mut self, value: Box<dyn ToSql + Sync + Send>) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// Appends a fragment whose `{p}` stands for `value`.
    fn filter(&mut self, fragment: &str, value: Box<dyn ToSql + Sync + Send>) {
        let p = self.bind(value);
        self.text.push_str(&fragment.replace("{p}", &p));
    }
}

/// The LIKE pattern matching ids that start with `prefix` literally.
fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Builds the `list_workflows` statement and its parameters.
fn list_query(queries: &Queries, q: &ListWorkflowsQuery) -> ListQuery {
    let mut query = ListQuery {
        text: queries.list_workflows.clone(),
        params: vec![Box::new(q.load_input), Box::new(q.load_output)],
    };

    if let Some(ids) = &q.workflow_ids {
        query.filter(list::IDS, Box::new(ids.clone()));
    }
    if let Some(prefix) = &q.workflow_id_prefix {
        query.filter(list::ID_PREFIX, Box::new(prefix_pattern(prefix)));
    }
    if let Some(statuses) = &q.status {
        let names: Vec<String> = statuses.iter().map(|s| s.as_str().to_owned()).collect();
        query.filter(list::STATUS, Box::new(names));
    }
    for (values, fragment) in [
        (&q.name, list::NAME),
        (&q.application_version, list::APPLICATION_VERSION),
        (&q.executor_id, list::EXECUTOR_ID),
        (&q.queue_name, list::QUEUE_NAME),
        (&q.authenticated_user, list::AUTHENTICATED_USER),
    ] {
        if let Some(values) = values {
            query.filter(fragment, Box::new(values.clone()));
        }
    }
    for (value, fragment) in [
        (&q.schedule_name, list::SCHEDULE_NAME),
        (&q.forked_from, list::FORKED_FROM),
        (&q.parent_workflow_id, list::PARENT_WORKFLOW_ID),
    ] {
        if let Some(value) = value {
            query.filter(fragment, Box::new(value.clone()));
        }
    }
    for (value, fragment) in [
        (q.start_time, list::START_TIME),
        (q.end_time, list::END_TIME),
        (q.completed_after, list::COMPLETED_AFTER),
        (q.completed_before, list::COMPLETED_BEFORE),
        (q.dequeued_after, list::DEQUEUED_AFTER),
        (q.dequeued_before, list::DEQUEUED_BEFORE),
    ] {
        if let Some(value) = value {
            query.filter(fragment, Box::new(value));
        }
    }
    if let Some(v) = q.was_forked_from {
        query.filter(list::WAS_FORKED_FROM, Box::new(v));
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
    if let Some(attributes) = &q.attributes {
        query.filter(
            list::ATTRIBUTES,
            Box::new(serde_json::Value::Object(attributes.clone())),
        );
    }
    if q.workflow_ids.is_none() {
        if let Some(app) = &q.application_name {
            query.filter(list::APPLICATION_SCOPE, Box::new(app.clone()));
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
    let limit: Option<i64> = q.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset: i64 = q.offset.map_or(0, |o| i64::try_from(o).unwrap_or(i64::MAX));
    let p = query.bind(Box::new(limit));
    let o = query.bind(Box::new(offset));
    query.clause(&list::LIMIT_OFFSET.replace("{p}", &p).replace("{q}", &o));
    query
}

/// Reads a workflow's result on `client` (a connection or a transaction).
async fn read_result(
    client: &tokio_postgres::Client,
    queries: &Queries,
    workflow_id: &str,
) -> Result<WorkflowResult> {
    let row = client
        .query_opt(queries.select_workflow_result.as_str(), &[&workflow_id])
        .await
        .map_err(classify)?;
    let Some(row) = row else {
        return Ok(WorkflowResult::NotFound);
    };
    let status: Option<String> = col(&row, 0)?;
    let output: Option<String> = col(&row, 1)?;
    let error: Option<String> = col(&row, 2)?;
    let serialization: Option<String> = col(&row, 3)?;
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

impl PostgresStore {
    async fn first_finished_inner(&self, ids: &[String]) -> Result<Option<String>> {
        let client = self.client().await?;
        let statement = self.queries().select_first_finished.as_str();
        for chunk in ids.chunks(ID_CHUNK) {
            let row = client
                .query_opt(statement, &[&chunk])
                .await
                .map_err(classify)?;
            if let Some(row) = row {
                return Ok(Some(col(&row, 0)?));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl WorkflowStore for PostgresStore {
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome> {
        workflow.validate()?;
        // One statement, so autocommit is one atomic transaction: the insert (or the no-op
        // update of an existing row) and the inputs commit together or not at all.
        let client = self.client().await?;
        let queries = self.queries();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match insert_workflow_row(&*client, queries, &workflow, &options).await {
                Err(e) if e.kind() == ErrorKind::Deduplicated => e,
                other => return other,
            };
            let (DedupPolicy::ReturnExisting, Some(queue), Some(dedup)) = (
                options.dedup_policy,
                &workflow.queue_name,
                &workflow.deduplication_id,
            ) else {
                return Err(error);
            };
            // Attach to the holder. It may have finished (and released the key) since the
            // insert failed: then the insert is tried again.
            let holder = client
                .query_opt(queries.select_dedup_holder.as_str(), &[queue, dedup])
                .await
                .map_err(classify)?;
            if let Some(row) = holder {
                let status: Option<String> = col(&row, 4)?;
                let serialization: Option<String> = col(&row, 6)?;
                let mut outcome = InsertOutcome::new(
                    WorkflowStatus::parse(status.as_deref().unwrap_or("")),
                    false,
                    true,
                );
                outcome.queue_name = col(&row, 5)?;
                outcome.serialization = serialization.as_deref().map(Serialization::parse_label);
                outcome.deduplicated_into = Some(col(&row, 0)?);
                return Ok(outcome);
            }
            if attempt >= DEDUP_ATTEMPTS {
                return Err(error);
            }
        }
    }

    async fn get_workflows(&self, workflow_ids: &[String]) -> Result<Vec<WorkflowInfo>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            self.ensure_open()?;
            return Ok(Vec::new());
        }
        let ids = workflow_ids.to_vec();
        self.read(move |tx, q| {
            Box::pin(async move {
                let mut found: HashMap<String, WorkflowInfo> = HashMap::new();
                let statement = tx
                    .prepare(q.select_workflows_by_ids.as_str())
                    .await
                    .map_err(classify)?;
                for chunk in ids.chunks(ID_CHUNK) {
                    for row in tx.query(&statement, &[&chunk]).await.map_err(classify)? {
                        let w = read_workflow(&row)?;
                        found.insert(w.workflow_id.clone(), w);
                    }
                }
                Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
            })
        })
        .await
    }

    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        if let Some(ids) = &query.workflow_ids {
            validate::workflow_ids(ids)?;
        }
        let client = self.client().await?;
        let built = list_query(self.queries(), &query);
        let params: Vec<&(dyn ToSql + Sync)> = built
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = client
            .query(built.text.as_str(), &params)
            .await
            .map_err(classify)?;
        rows.iter().map(read_workflow).collect()
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
        let client = self.client().await?;
        let row = client
            .query_one(
                self.queries().record_outcome.as_str(),
                &[&workflow_id, &status.as_str(), &output, &error, &owner_xid],
            )
            .await
            .map_err(classify)?;
        let applied = col::<i64>(&row, 0)? > 0;
        drop(client);
        if applied {
            self.wake().notify();
        }
        Ok(applied)
    }

    async fn workflow_result(&self, workflow_id: &str) -> Result<WorkflowResult> {
        validate::workflow_id(workflow_id)?;
        let client = self.client().await?;
        read_result(&client, self.queries(), workflow_id).await
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
            self.ensure_open()?;
            return Ok(None);
        }
        self.first_finished_inner(workflow_ids).await
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
            self.first_finished_inner(workflow_ids)
        })
        .await
    }

    async fn workflow_children(&self, workflow_id: &str) -> Result<Vec<String>> {
        validate::workflow_id(workflow_id)?;
        let root = workflow_id.to_owned();
        self.read(move |tx, q| {
            Box::pin(async move {
                let statement = tx
                    .prepare(q.select_children.as_str())
                    .await
                    .map_err(classify)?;
                let mut seen: HashSet<String> = HashSet::from([root.clone()]);
                let mut out = Vec::new();
                let mut level = vec![root];
                while !level.is_empty() {
                    let mut next = Vec::new();
                    for chunk in level.chunks(ID_CHUNK) {
                        for row in tx.query(&statement, &[&chunk]).await.map_err(classify)? {
                            let id: String = col(&row, 0)?;
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
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queries() -> Queries {
        Queries::new("dbos")
    }

    #[test]
    fn prefix_is_escaped_and_values_are_bound() {
        let q = ListWorkflowsQuery::new()
            .workflow_id_prefix("a%b_c\\")
            .application_name("app");
        let built = list_query(&queries(), &q);
        assert!(built.text.contains("LIKE $3 ESCAPE '\\'"), "{}", built.text);
        assert!(
            !built.text.contains("a%b"),
            "values must be bound, not formatted: {}",
            built.text
        );
        assert_eq!(prefix_pattern("a%b_c\\"), "a\\%b\\_c\\\\%");
        assert!(built.text.contains("ws.application_name = $4 OR"));
        assert!(built.text.ends_with("LIMIT $5 OFFSET $6"), "{}", built.text);
        assert_eq!(built.params.len(), 6);
    }

    #[test]
    fn ids_disable_application_scoping() {
        let q = ListWorkflowsQuery::new()
            .workflow_ids(["x"])
            .application_name("app");
        let built = list_query(&queries(), &q);
        assert!(!built.text.contains("application_name ="), "{}", built.text);
        assert!(built.text.contains("ws.workflow_uuid = ANY($3)"));
    }

    #[test]
    fn attribute_filters_use_containment() {
        let q = ListWorkflowsQuery::new().attributes(serde_json::Map::new());
        let built = list_query(&queries(), &q);
        assert!(built.text.contains("ws.attributes @> $3"), "{}", built.text);
    }
}
