//! [`WorkflowStore`] on PostgreSQL: insert, read, list, outcome and waits.

use async_trait::async_trait;
use dbos_storage_core::{
    duration_ms, validate, AwaitOptions, DedupPolicy, ErrorKind, InitialStatus, InsertOptions,
    InsertOutcome, ListWorkflowsQuery, NewWorkflow, Outcome, Result, Serialization, SortOrder,
    WorkflowInfo, WorkflowResult, WorkflowStore,
};
use dbos_storage_driver_kit::decisions::child_starts::Descendants;
use dbos_storage_driver_kit::decisions::column_values::{
    final_columns, json_array, status_of, workflow_result,
};
use dbos_storage_driver_kit::decisions::insert_reconciliation::{self, ExistingWorkflow};
use dbos_storage_driver_kit::decisions::list_queries::{
    self, code_point_successor, in_request_order, prefix_pattern,
};
use dbos_storage_driver_kit::decisions::store_errors;
use dbos_storage_driver_kit::wait;
use tokio_postgres::types::ToSql;

use super::{col, read_workflow, select_ids, Exec, PostgresStore, Queries, ID_CHUNK};
use crate::error::{classify, constraint, is_unique_violation, with_backend, BACKEND};
use crate::sql::workflows::list;

/// The unique index that enforces one deduplication id per queue.
pub(crate) const DEDUP_INDEX: &str = "uq_workflow_status_dedup_id";

/// How many times an insert under [`DedupPolicy::ReturnExisting`] is tried when the holder of
/// the deduplication id releases it between the failed insert and the lookup.
const DEDUP_ATTEMPTS: usize = 5;

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
    client: Exec<'_>,
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
        .transpose()
        .map_err(with_backend)?;
    let attributes = attributes_value(workflow);
    let owner_xid = pending.then_some(workflow.creator_xid.as_str());
    let recovery_attempts: i64 = if pending { 1 } else { 0 };
    let serialization = workflow.inputs.label();

    let params: [&(dyn ToSql + Sync); 31] = [
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
        &workflow.forked_from,
        &workflow.schedule_name,
    ];
    let row = match client
        .query_one(queries.insert_workflow.as_str(), &params)
        .await
    {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) && constraint(&e) == Some(DEDUP_INDEX) => {
            return Err(with_backend(store_errors::deduplicated(workflow)));
        }
        Err(e) => return Err(classify(e)),
    };
    let existing = ExistingWorkflow {
        status: status_of(col::<Option<String>>(&row, 0)?.as_deref()),
        name: col(&row, 1)?,
        class_name: col(&row, 2)?,
        config_name: col(&row, 3)?,
        queue_name: col(&row, 4)?,
        creator_xid: col(&row, 5)?,
        serialization: col::<Option<String>>(&row, 6)?
            .as_deref()
            .map(Serialization::parse_label),
        owner_xid: col(&row, 7)?,
    };
    insert_reconciliation::reconcile(workflow, options, existing).map_err(with_backend)
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

/// Builds the `list_workflows` statement and its parameters; `ids_by_code_point` says whether a
/// prefix filter may add its range (see [`list::ID_AT_OR_ABOVE`]).
fn list_query(queries: &Queries, q: &ListWorkflowsQuery, ids_by_code_point: bool) -> ListQuery {
    let mut query = ListQuery {
        text: queries.list_workflows.clone(),
        params: vec![Box::new(q.load_input), Box::new(q.load_output)],
    };

    if let Some(ids) = &q.workflow_ids {
        query.filter(list::IDS, Box::new(ids.clone()));
    }
    match q.workflow_id_prefix.as_deref() {
        None => {}
        Some([prefix]) => {
            if ids_by_code_point && !prefix.is_empty() {
                query.filter(list::ID_AT_OR_ABOVE, Box::new(prefix.clone()));
                if let Some(bound) = code_point_successor(prefix) {
                    query.filter(list::ID_BELOW, Box::new(bound));
                }
            }
            query.filter(list::ID_PREFIX, Box::new(prefix_pattern(prefix)));
        }
        Some(prefixes) => {
            let patterns: Vec<String> = prefixes.iter().map(|p| prefix_pattern(p)).collect();
            query.filter(list::ID_PREFIXES, Box::new(patterns));
        }
    }
    if let Some(statuses) = &q.status {
        if let [status] = statuses.as_slice() {
            query.filter(list::ONE_STATUS, Box::new(status.as_str().to_owned()));
        } else {
            let names: Vec<String> = statuses.iter().map(|s| s.as_str().to_owned()).collect();
            query.filter(list::STATUS, Box::new(names));
        }
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
    // One value is an equality; several are `= ANY` of an array.
    for (values, one, several) in [
        (&q.schedule_name, list::SCHEDULE_NAME, list::SCHEDULE_NAMES),
        (&q.forked_from, list::FORKED_FROM, list::FORKED_FROM_ANY),
        (
            &q.parent_workflow_id,
            list::PARENT_WORKFLOW_ID,
            list::PARENT_WORKFLOW_IDS,
        ),
    ] {
        match values.as_deref() {
            None => {}
            Some([value]) => query.filter(one, Box::new(value.clone())),
            Some(values) => query.filter(several, Box::new(values.to_vec())),
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
        match q.application_name.as_deref() {
            None => {}
            Some([app]) => query.filter(list::APPLICATION_SCOPE, Box::new(app.clone())),
            Some(apps) => query.filter(list::APPLICATIONS_SCOPE, Box::new(apps.to_vec())),
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
    let limit = list_queries::limit(q.limit);
    let offset = list_queries::offset(q.offset);
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
    Ok(workflow_result(
        status_of(status.as_deref()),
        output,
        error,
        label,
    ))
}

/// The workflows of `ids` that exist, in the order asked, read in `tx`.
pub(super) async fn get_workflows_tx(
    tx: &tokio_postgres::Transaction<'_>,
    q: &Queries,
    ids: &[String],
) -> Result<Vec<WorkflowInfo>> {
    let statement = tx
        .prepare(q.select_workflows_by_ids.as_str())
        .await
        .map_err(classify)?;
    let mut rows = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        for row in tx.query(&statement, &[&chunk]).await.map_err(classify)? {
            rows.push(read_workflow(&row)?);
        }
    }
    Ok(in_request_order(ids, rows))
}

/// Whether `query` filters by exactly one id prefix, which may be read as a range of the key
/// (see [`PostgresStore::ids_sort_by_code_point`]).
pub(super) fn one_prefix(query: &ListWorkflowsQuery) -> bool {
    matches!(query.workflow_id_prefix.as_deref(), Some([_]))
}

/// The workflows `query` selects, read on `client` (a connection or a transaction);
/// `ids_by_code_point` as for [`list_query`].
pub(super) async fn list_workflows_on<C: tokio_postgres::GenericClient + Sync>(
    client: &C,
    queries: &Queries,
    query: &ListWorkflowsQuery,
    ids_by_code_point: bool,
) -> Result<Vec<WorkflowInfo>> {
    let built = list_query(queries, query, ids_by_code_point);
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

#[async_trait]
impl WorkflowStore for PostgresStore {
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome> {
        workflow.validate()?;
        // Counts toward the statements in flight that make checkpoints combine.
        let _slot = self.free_statement_slot();
        // One statement, so autocommit is one atomic transaction: the insert (or the no-op
        // update of an existing row) and the inputs commit together or not at all.
        let client = self.client().await?;
        let queries = self.queries();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match insert_workflow_row(
                Exec::Cached(&client),
                queries,
                &workflow,
                &options,
            )
            .await
            {
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
                return Ok(insert_reconciliation::deduplicated_into(
                    col(&row, 0)?,
                    status_of(status.as_deref()),
                    col(&row, 5)?,
                    serialization.as_deref().map(Serialization::parse_label),
                ));
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
        self.read(move |tx, q| Box::pin(async move { get_workflows_tx(tx, &q, &ids).await }))
            .await
    }

    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        query.validate()?;
        let client = self.client().await?;
        let ids_by_code_point = one_prefix(&query) && self.ids_sort_by_code_point(&client).await?;
        list_workflows_on(&**client, self.queries(), &query, ids_by_code_point).await
    }

    async fn record_outcome(
        &self,
        workflow_id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool> {
        validate::workflow_id(workflow_id)?;
        // Counts toward the statements in flight that make checkpoints combine.
        let _slot = self.free_statement_slot();
        let recorded = final_columns(outcome)?;
        let status = recorded.status.as_str();
        let client = self.client().await?;
        let row = client
            .query_one_cached(
                self.queries().record_outcome.as_str(),
                &[
                    &workflow_id,
                    &status,
                    &recorded.output,
                    &recorded.error,
                    &owner_xid,
                ],
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
        wait::await_workflow_result(self, BACKEND, workflow_id, &options, Some(self.wake())).await
    }

    async fn first_finished(&self, workflow_ids: &[String]) -> Result<Option<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            self.ensure_open()?;
            return Ok(None);
        }
        let client = self.client().await?;
        let statement = self.queries().select_first_finished.as_str();
        for chunk in workflow_ids.chunks(ID_CHUNK) {
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

    async fn await_first_finished(
        &self,
        workflow_ids: &[String],
        options: AwaitOptions,
    ) -> Result<String> {
        wait::await_first_finished(self, workflow_ids, &options, Some(self.wake())).await
    }

    async fn workflow_children(&self, workflow_id: &str) -> Result<Vec<String>> {
        validate::workflow_id(workflow_id)?;
        let root = workflow_id.to_owned();
        self.read(move |tx, q| {
            Box::pin(async move {
                let mut walk = Descendants::new(vec![root]);
                while !walk.level().is_empty() {
                    let children = select_ids(tx, &q.select_children, walk.level()).await?;
                    walk.descend(children);
                }
                Ok(walk.into_found())
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
        let built = list_query(&queries(), &q, false);
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
        let built = list_query(&queries(), &q, false);
        assert!(!built.text.contains("application_name ="), "{}", built.text);
        assert!(built.text.contains("ws.workflow_uuid = ANY($3)"));
    }

    #[tokio::test]
    async fn an_outcome_and_a_rewind_find_their_row_by_primary_key_without_statistics() {
        use crate::store::plan_check::{assert_found_by_key, fresh_store_with_pending};
        use dbos_storage_core::LifecycleStore;

        // A new schema, never analyzed, with a few hundred pending workflows: the partial index
        // of pending workflows looks as cheap as the primary key to the planner.
        let store = fresh_store_with_pending("outcome_plan", 300).await;
        let q = store.queries();
        let by_id = [
            (
                q.record_outcome.as_str(),
                "'w7', 'SUCCESS', NULL, NULL, 'token'",
            ),
            (
                q.reenqueue_rewound.as_str(),
                "'w7', 'PENDING', 'q', NULL, NULL",
            ),
        ];
        assert_found_by_key(&store, &by_id, "Index Scan using workflow_status_pkey").await;
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_page_of_one_status_reads_the_page_not_every_newer_workflow() {
        use crate::store::plan_check::{fresh_store, rows_read};
        use dbos_storage_core::{LifecycleStore, WorkflowStatus};

        // 50,000 finished workflows, every tenth failed, all older than 20,000 queued ones:
        // walking the creation-time index back from the newest reads every queued row first.
        let store = fresh_store("one_status_page").await;
        store
            .client()
            .await
            .unwrap()
            .batch_execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at)
                 SELECT 'd' || g, CASE WHEN g % 10 = 0 THEN 'ERROR' ELSE 'SUCCESS' END, 'f', g
                 FROM generate_series(1, 50000) g;
                 INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name,
                     created_at)
                 SELECT 'q' || g, 'ENQUEUED', 'f', 'q', 100000 + g
                 FROM generate_series(1, 20000) g;
                 ANALYZE dbos.workflow_status;",
            )
            .await
            .unwrap();
        for (status, literal) in [
            (WorkflowStatus::Error, "'ERROR'"),
            (WorkflowStatus::Pending, "'PENDING'"),
        ] {
            let q = ListWorkflowsQuery::new()
                .status(vec![status])
                .sort(SortOrder::Descending)
                .limit(50);
            let built = list_query(store.queries(), &q, false);
            assert!(built.text.contains("ws.status = $3"), "{}", built.text);
            let args = format!("false, false, {literal}, 50, 0");
            // The store's statements are planned with their values (a custom plan).
            let (custom, plan) = &rows_read(&store, &built.text, &args).await[0];
            assert!(
                custom.read <= 4 * custom.returned + 64,
                "a page of {literal} read {} rows for {}:\n{plan}",
                custom.read,
                custom.returned
            );
        }
        store.close().await.unwrap();
    }

    /// 20,000 finished workflows `wf-00001` … `wf-20000`, never analyzed.
    async fn numbered_workflows(store: &PostgresStore) {
        store
            .client()
            .await
            .unwrap()
            .batch_execute(
                "ALTER TABLE dbos.workflow_status SET (autovacuum_enabled = false);
                 INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at)
                 SELECT 'wf-' || lpad(g::text, 5, '0'), 'SUCCESS', 'f', g
                 FROM generate_series(1, 20000) g;",
            )
            .await
            .unwrap();
    }

    /// The ids of a first page of 50 starting with `prefix`, newest first.
    async fn prefix_page(store: &PostgresStore, prefix: &str) -> Vec<String> {
        use dbos_storage_core::WorkflowStore;
        let q = ListWorkflowsQuery::new()
            .workflow_id_prefix(prefix)
            .sort(SortOrder::Descending)
            .limit(50);
        let page = store.list_workflows(q).await.unwrap();
        page.into_iter().map(|w| w.workflow_id).collect()
    }

    /// Where ids sort by code point — a database created with the `C.UTF-8` collation, for
    /// which PostgreSQL plans a `LIKE` on the key as no range, as production databases are
    /// often made — a first page filtered by one id prefix reads the prefix's range of the
    /// primary key, with a custom and a generic plan (the server's count of rows scanned).
    #[tokio::test]
    async fn a_prefix_page_reads_its_range_where_ids_sort_by_code_point() {
        use crate::store::plan_check::{fresh_store_with, rows_read};
        use dbos_storage_core::LifecycleStore;
        let store = fresh_store_with(
            "prefix_range",
            "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'",
        )
        .await;
        numbered_workflows(&store).await;
        let client = store.client().await.unwrap();
        assert!(store.ids_sort_by_code_point(&client).await.unwrap());
        drop(client);
        let expected: Vec<String> = (10..20).rev().map(|n| format!("wf-000{n}")).collect();
        assert_eq!(prefix_page(&store, "wf-0001").await, expected);

        let q = ListWorkflowsQuery::new()
            .workflow_id_prefix("wf-0001")
            .sort(SortOrder::Descending)
            .limit(50);
        let built = list_query(store.queries(), &q, true);
        let args = "false, false, 'wf-0001', 'wf-0002', 'wf-0001%', 50, 0";
        for (counted, plan) in rows_read(&store, &built.text, args).await {
            assert_eq!(counted.returned, 10, "{plan}");
            assert!(
                counted.read <= 2 * counted.returned + 2,
                "a prefix page read {} rows of workflow_status:\n{plan}",
                counted.read
            );
        }
        store.close().await.unwrap();
    }

    /// Under an ICU collation ids do not sort by code point: the store adds no range, and the
    /// prefix still matches exactly its ids.
    #[tokio::test]
    async fn a_prefix_adds_no_range_under_a_linguistic_collation() {
        use crate::store::plan_check::fresh_store_with;
        use dbos_storage_core::LifecycleStore;
        use dbos_storage_testkit::pg;
        if pg::server().version_num() < 150_000 {
            eprintln!("skipped: ICU database collations need PostgreSQL 15");
            return;
        }
        let store = fresh_store_with(
            "prefix_icu",
            "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' \
             LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'",
        )
        .await;
        numbered_workflows(&store).await;
        let client = store.client().await.unwrap();
        assert!(!store.ids_sort_by_code_point(&client).await.unwrap());
        drop(client);
        let expected: Vec<String> = (10..20).rev().map(|n| format!("wf-000{n}")).collect();
        assert_eq!(prefix_page(&store, "wf-0001").await, expected);
        store.close().await.unwrap();
    }

    /// Under the `C` collation of a LATIN1 database bytes are not code points: the store adds
    /// no range, and the prefix still matches exactly its ids.
    #[tokio::test]
    async fn a_prefix_adds_no_range_where_bytes_are_not_utf8() {
        use crate::store::plan_check::fresh_store_with;
        use dbos_storage_core::LifecycleStore;

        let store = fresh_store_with(
            "prefix_latin1",
            "TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'",
        )
        .await;
        numbered_workflows(&store).await;
        let client = store.client().await.unwrap();
        assert!(!store.ids_sort_by_code_point(&client).await.unwrap());
        drop(client);
        let expected: Vec<String> = (10..20).rev().map(|n| format!("wf-000{n}")).collect();
        assert_eq!(prefix_page(&store, "wf-0001").await, expected);
        store.close().await.unwrap();
    }

    #[test]
    fn attribute_filters_use_containment() {
        let q = ListWorkflowsQuery::new().attributes(serde_json::Map::new());
        let built = list_query(&queries(), &q, false);
        assert!(built.text.contains("ws.attributes @> $3"), "{}", built.text);
    }
}
