//! [`WorkflowStore`] on SQLite: insert, read, list, outcome and waits.

use async_trait::async_trait;
use dbos_storage_core::{
    duration_ms, validate, AwaitOptions, DedupPolicy, Error, ErrorKind, InitialStatus,
    InsertOptions, InsertOutcome, ListWorkflowsQuery, NewWorkflow, Outcome, Result, Serialization,
    SortOrder, WorkflowInfo, WorkflowResult, WorkflowStatus, WorkflowStore,
};
use dbos_storage_driver_kit::decisions::child_starts::Descendants;
use dbos_storage_driver_kit::decisions::column_values::{
    final_columns, status_of, workflow_result,
};
use dbos_storage_driver_kit::decisions::insert_reconciliation::{self, ExistingWorkflow};
use dbos_storage_driver_kit::decisions::list_queries::{
    self, code_point_successor, in_request_order, prefix_pattern, StatusIndex,
};
use dbos_storage_driver_kit::decisions::store_errors;
use dbos_storage_driver_kit::wait;
use rusqlite::types::Value;
use rusqlite::{named_params, OptionalExtension, ToSql, Transaction};

use super::{json_array, now_ms, read_workflow, select_ids, Cached, SqliteStore, ID_CHUNK};
use crate::error::{classify, is_unique_violation_on, with_backend, BACKEND};
use crate::sql;

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
            ":forked_from": w.forked_from,
            ":serialization": w.inputs.label(),
            ":attributes": self.attributes,
            ":owner_xid": self.owner_xid,
            ":creator_xid": w.creator_xid,
            ":is_debounced": w.is_debounced,
            ":debounce_deadline_epoch_ms": w.debounce_deadline_epoch_ms,
            ":schedule_name": w.schedule_name,
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
        tx.query_row_cached(sql::INSERT_WORKFLOW, params, |r| {
            Ok(ExistingWorkflow {
                status: status_of(r.get::<_, Option<String>>(0)?.as_deref()),
                name: r.get(1)?,
                class_name: r.get(2)?,
                config_name: r.get(3)?,
                queue_name: r.get(4)?,
                creator_xid: r.get(5)?,
                serialization: r
                    .get::<_, Option<String>>(6)?
                    .as_deref()
                    .map(Serialization::parse_label),
                owner_xid: r.get(7)?,
            })
        })
    });
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_unique_violation_on(&e, "deduplication_id") => {
            return Err(with_backend(store_errors::deduplicated(workflow)));
        }
        Err(e) => return Err(classify(e)),
    };
    let outcome = insert_reconciliation::reconcile(workflow, options, row).map_err(with_backend)?;
    if !outcome.existed {
        // This insert's own row: its inputs go with it.
        tx.execute_cached(
            sql::INSERT_WORKFLOW_INPUT,
            rusqlite::params![workflow.workflow_id, workflow.inputs.text, now],
        )
        .map_err(classify)?;
    }
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
        .query_row_cached(
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
        insert_reconciliation::deduplicated_into(
            holder,
            status_of(status.as_deref()),
            Some(queue.clone()),
            serialization.as_deref().map(Serialization::parse_label),
        )
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

/// A listing by one id prefix reads the prefix's key range and sorts it when fewer ids than
/// this share the prefix; from this many on, it walks the creation-time index until its page
/// is full. The range read is bounded by the ids it holds (fewer than this), the walk by the
/// rows newer than the page's last (few when this many ids share the prefix, unless all of
/// them are old).
pub(crate) const KEY_RANGE_MAX: i64 = 1000;

/// A listing's SQL text and its named parameters, and with one id prefix the same listing
/// reading that prefix's key range.
#[derive(Debug)]
pub(super) struct Listing {
    /// The statement, ordered by the creation-time index.
    pub(super) text: String,
    /// Its named parameters.
    pub(super) params: Vec<(&'static str, Value)>,
    /// With one id prefix that has a code-point successor: the bounds of its key range, and
    /// the statement that reads the range and sorts it, with its parameters.
    pub(super) key_range: Option<KeyRange>,
}

/// The key-range form of a listing with one id prefix ([`Listing::key_range`]).
#[derive(Debug)]
pub(super) struct KeyRange {
    /// The prefix (inclusive).
    pub(super) low: String,
    /// Its code-point successor (exclusive).
    pub(super) high: String,
    /// The listing with [`sql::list::ID_RANGE`] and sorted after reading.
    pub(super) text: String,
    /// Its named parameters.
    pub(super) params: Vec<(&'static str, Value)>,
}

/// Builds the `list_workflows` statement and its named parameters.
///
/// # Errors
/// [`Unsupported`](ErrorKind::Unsupported) for an attribute filter.
pub(super) fn list_query(q: &ListWorkflowsQuery) -> Result<Listing> {
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
    let mut range = None;
    match q.workflow_id_prefix.as_deref() {
        None => {}
        Some([prefix]) => {
            range = code_point_successor(prefix).map(|high| (prefix.clone(), high));
            let pattern = prefix_pattern(prefix);
            query.filter(list::ID_PREFIX, ":prefix_pattern", Value::Text(pattern));
            query.bind(":prefix", Value::Text(prefix.clone()));
        }
        Some(prefixes) => query.filter(list::ID_PREFIXES, ":prefixes", list_value(prefixes)?),
    }
    if let Some(statuses) = &q.status {
        if let [status] = statuses.as_slice() {
            let name = Value::Text(status.as_str().to_owned());
            query.filter(list::ONE_STATUS, ":status", name);
        } else {
            let names: Vec<String> = statuses.iter().map(|s| s.as_str().to_owned()).collect();
            query.filter(list::STATUS, ":status", list_value(&names)?);
        }
        match list_queries::status_index(statuses) {
            Some(StatusIndex::Failed) => query.clause(list::FAILED_STATUS_INDEX),
            Some(StatusIndex::Pending) => query.clause(list::PENDING_STATUS_INDEX),
            None => {}
        }
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
    // One value is an equality; several are an `IN` list.
    for (values, one, name, several, names) in [
        (
            &q.schedule_name,
            list::SCHEDULE_NAME,
            ":schedule_name",
            list::SCHEDULE_NAMES,
            ":schedule_names",
        ),
        (
            &q.forked_from,
            list::FORKED_FROM,
            ":forked_from",
            list::FORKED_FROM_ANY,
            ":forked_from_ids",
        ),
        (
            &q.parent_workflow_id,
            list::PARENT_WORKFLOW_ID,
            ":parent_workflow_id",
            list::PARENT_WORKFLOW_IDS,
            ":parent_workflow_ids",
        ),
    ] {
        match values.as_deref() {
            None => {}
            Some([value]) => query.filter(one, name, Value::Text(value.clone())),
            Some(values) => query.filter(several, names, list_value(values)?),
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
        match q.application_name.as_deref() {
            None => {}
            Some([app]) => query.filter(
                list::APPLICATION_SCOPE,
                ":application_name",
                Value::Text(app.clone()),
            ),
            Some(apps) => query.filter(
                list::APPLICATIONS_SCOPE,
                ":application_names",
                list_value(apps)?,
            ),
        }
    }
    if q.queues_only {
        query.clause(list::QUEUES_ONLY);
        if q.status.is_none() {
            query.clause(list::QUEUED_STATUSES);
        }
    }
    let limit = Value::Integer(list_queries::limit(q.limit).unwrap_or(-1));
    let offset = Value::Integer(list_queries::offset(q.offset));
    let descending = q.sort == SortOrder::Descending;
    let key_range = range.map(|(low, high)| {
        let mut ranged = Query {
            text: query.text.clone(),
            params: query.params.clone(),
        };
        ranged.filter(list::ID_RANGE, ":prefix_low", Value::Text(low.clone()));
        ranged.bind(":prefix_high", Value::Text(high.clone()));
        ranged.clause(if descending {
            list::SORTED_DESC
        } else {
            list::SORTED_ASC
        });
        ranged.filter(list::LIMIT_OFFSET, ":limit", limit.clone());
        ranged.bind(":offset", offset.clone());
        KeyRange {
            low,
            high,
            text: ranged.text,
            params: ranged.params,
        }
    });
    query.clause(if descending {
        list::ORDER_DESC
    } else {
        list::ORDER_ASC
    });
    query.filter(list::LIMIT_OFFSET, ":limit", limit);
    query.bind(":offset", offset);
    Ok(Listing {
        text: query.text,
        params: query.params,
        key_range,
    })
}

/// Reads a workflow's result in `tx`.
fn read_result(tx: &Transaction<'_>, workflow_id: &str) -> Result<WorkflowResult> {
    let row = tx
        .query_row_cached(sql::SELECT_WORKFLOW_RESULT, [workflow_id], |r| {
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
    Ok(workflow_result(
        status_of(status.as_deref()),
        output,
        error,
        label,
    ))
}

/// The workflows of `ids` that exist, in the order asked, read in `tx`.
pub(super) fn get_workflows_tx(tx: &Transaction<'_>, ids: &[String]) -> Result<Vec<WorkflowInfo>> {
    let mut stmt = tx
        .prepare_cached(sql::SELECT_WORKFLOWS_BY_IDS)
        .map_err(classify)?;
    let mut rows = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        let read = stmt
            .query_map([json_array(chunk)?], read_workflow)
            .map_err(classify)?;
        for row in read {
            rows.push(row.map_err(classify)?);
        }
    }
    Ok(in_request_order(ids, rows))
}

/// Whether `listing` reads its prefix's key range: the range holds fewer than
/// [`KEY_RANGE_MAX`] ids (counted in `tx`, reading at most that many index entries).
pub(super) fn reads_key_range(tx: &Transaction<'_>, listing: &Listing) -> Result<bool> {
    let Some(range) = &listing.key_range else {
        return Ok(false);
    };
    let ids: i64 = tx
        .query_row_cached(
            sql::COUNT_ID_RANGE,
            rusqlite::params![range.low, range.high, KEY_RANGE_MAX],
            |r| r.get(0),
        )
        .map_err(classify)?;
    Ok(ids < KEY_RANGE_MAX)
}

/// The workflows a listing ([`list_query`]) selects, read in `tx`: by its key-range form when
/// [`reads_key_range`], else by the walk of the creation-time index. The statement comes from
/// the connection's statement cache: compiling a listing (every column, two joins, the filters
/// and the order) costs about as much as reading a page of 50 rows, and a listing's text
/// depends only on which filters it has, so the few shapes an application lists with are
/// compiled once per connection.
pub(super) fn list_workflows_tx(
    tx: &Transaction<'_>,
    listing: &Listing,
) -> Result<Vec<WorkflowInfo>> {
    let (text, params) = match &listing.key_range {
        Some(range) if reads_key_range(tx, listing)? => (&range.text, &range.params),
        _ => (&listing.text, &listing.params),
    };
    let mut stmt = tx.prepare_cached(text).map_err(classify)?;
    let bound: Vec<(&str, &dyn ToSql)> = params
        .iter()
        .map(|(name, value)| (*name, value as &dyn ToSql))
        .collect();
    let rows = stmt
        .query_map(bound.as_slice(), read_workflow)
        .map_err(classify)?;
    rows.map(|r| r.map_err(classify)).collect()
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
            .read(move |tx| get_workflows_tx(tx, &ids))
            .await
    }

    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        query.validate()?;
        let listing = list_query(&query)?;
        self.conns()
            .read(move |tx| list_workflows_tx(tx, &listing))
            .await
    }

    async fn record_outcome(
        &self,
        workflow_id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool> {
        validate::workflow_id(workflow_id)?;
        let recorded = final_columns(outcome)?;
        let id = workflow_id.to_owned();
        let owner = owner_xid.map(str::to_owned);
        let applied = self
            .conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let changed = tx
                    .execute_cached(
                        sql::UPDATE_OUTCOME,
                        named_params! {
                            ":status": recorded.status.as_str(),
                            ":now": now,
                            ":workflow_uuid": id,
                            ":owner_xid": owner,
                        },
                    )
                    .map_err(classify)?;
                if changed == 0 {
                    return Ok(false);
                }
                tx.execute_cached(
                    sql::UPSERT_WORKFLOW_OUTPUT,
                    rusqlite::params![id, recorded.output, recorded.error, now],
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
        wait::await_workflow_result(self, BACKEND, workflow_id, &options, Some(self.wake())).await
    }

    async fn first_finished(&self, workflow_ids: &[String]) -> Result<Option<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            return Ok(None);
        }
        let ids = workflow_ids.to_vec();
        self.conns()
            .read(move |tx| {
                for chunk in ids.chunks(ID_CHUNK) {
                    let found = tx
                        .query_row_cached(sql::SELECT_FIRST_FINISHED, [json_array(chunk)?], |r| {
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
        self.conns()
            .read(move |tx| {
                let mut walk = Descendants::new(vec![root]);
                while !walk.level().is_empty() {
                    let children = select_ids(tx, sql::SELECT_CHILDREN, walk.level())?;
                    walk.descend(children);
                }
                Ok(walk.into_found())
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
        let Listing { text, params, .. } = list_query(&q).unwrap();
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

    /// Failed and pending workflows are listed from the partial index that holds them (newest
    /// first, one index range), not by walking the creation-time index back through every newer
    /// workflow: on a file of 50,000 finished workflows older than 20,000 queued ones, with
    /// statistics and without.
    #[test]
    fn a_page_of_failed_or_pending_workflows_reads_their_partial_index() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        crate::migrate::migrate(&tx, ":memory:").unwrap();
        tx.commit().unwrap();
        let plan = |conn: &rusqlite::Connection, statuses: Vec<WorkflowStatus>| {
            let q = ListWorkflowsQuery::new()
                .status(statuses)
                .sort(SortOrder::Descending)
                .limit(50);
            let Listing { text, .. } = list_query(&q).unwrap();
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
            let mut rows = stmt.raw_query();
            let mut lines = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                lines.push(row.get::<_, String>(3).unwrap());
            }
            lines.join("\n")
        };
        let expect = |conn: &rusqlite::Connection| {
            for (statuses, index) in [
                (vec![WorkflowStatus::Error], "idx_workflow_status_failed"),
                (
                    vec![WorkflowStatus::Cancelled, WorkflowStatus::Error],
                    "idx_workflow_status_failed",
                ),
                (vec![WorkflowStatus::Pending], "idx_workflow_status_pending"),
            ] {
                let plan = plan(conn, statuses.clone());
                assert!(
                    plan.contains(index),
                    "{statuses:?} must use {index}:\n{plan}"
                );
            }
        };
        expect(&conn);
        conn.execute_batch(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 50000)
             INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at)
             SELECT 'd' || n, CASE WHEN n % 10 = 0 THEN 'ERROR' ELSE 'SUCCESS' END, 'f', n, n
             FROM g;
             WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
             INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, created_at,
                 updated_at)
             SELECT 'q' || n, 'ENQUEUED', 'f', 'q', 100000 + n, 100000 + n FROM g;
             ANALYZE;",
        )
        .unwrap();
        expect(&conn);
    }

    /// A listing's statement is compiled once per connection and reused: after two listings of
    /// the same shape (different values), the cached statement has run twice.
    #[test]
    fn a_listing_reuses_its_compiled_statement() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        crate::migrate::migrate(&tx, ":memory:").unwrap();
        tx.commit().unwrap();
        let page = |name: &str| {
            ListWorkflowsQuery::new()
                .name([name])
                .sort(SortOrder::Descending)
                .limit(50)
        };
        let first = list_query(&page("a")).unwrap();
        let second = list_query(&page("b")).unwrap();
        assert_eq!(first.text, second.text, "one shape, one text");
        for listing in [&first, &second] {
            let tx = conn.transaction().unwrap();
            list_workflows_tx(&tx, listing).unwrap();
            tx.finish().unwrap();
        }
        let stmt = conn.prepare_cached(&first.text).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::Run),
            2,
            "the second listing must run the statement the first one compiled"
        );
    }

    /// On a file shaped like `bench --scale`'s big database (finished workflows over 20 names,
    /// 100 users and 5 versions, half of them on 5 queues, one in ten failed; a queued backlog;
    /// statistics from `ANALYZE`, which the bundled SQLite keeps in `sqlite_stat4` too), every
    /// first page newest first reads the creation-time index from its newest end — sorting only
    /// rows of equal creation time — or, for failed workflows, their partial index, as on an
    /// empty file: the planner never trades the order for a filter's index and a full sort.
    #[test]
    fn first_pages_keep_their_plans_on_a_big_file_with_statistics() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        crate::migrate::migrate(&tx, ":memory:").unwrap();
        tx.commit().unwrap();
        let pages: Vec<(&str, ListWorkflowsQuery, &str)> = vec![
            (
                "no filter",
                ListWorkflowsQuery::new(),
                "workflow_status_created_at_index",
            ),
            (
                "status ERROR",
                ListWorkflowsQuery::new().status(vec![WorkflowStatus::Error]),
                "idx_workflow_status_failed",
            ),
            (
                "one name",
                ListWorkflowsQuery::new().name(["n3"]),
                "workflow_status_created_at_index",
            ),
            (
                "one queue",
                ListWorkflowsQuery::new().queue_name(["q0"]),
                "workflow_status_created_at_index",
            ),
            (
                "one version",
                ListWorkflowsQuery::new().application_version(["v1"]),
                "workflow_status_created_at_index",
            ),
            (
                "created since",
                ListWorkflowsQuery::new().start_time(60_000),
                "workflow_status_created_at_index",
            ),
            (
                "one user",
                ListWorkflowsQuery::new().authenticated_user(["u7"]),
                "workflow_status_created_at_index",
            ),
        ];
        let check = |conn: &rusqlite::Connection, when: &str| {
            for (what, query, index) in &pages {
                let q = query.clone().sort(SortOrder::Descending).limit(50);
                let Listing { text, params, .. } = list_query(&q).unwrap();
                let plan = plan_of(conn, &text, &params);
                assert!(
                    plan.contains(&format!("USING INDEX {index}"))
                        && !plan.contains("TEMP B-TREE FOR ORDER BY"),
                    "{when}, {what}: must read {index} in order:\n{plan}"
                );
            }
            // An id prefix: its key-range form reads the primary key's range (and sorts it).
            let q = ListWorkflowsQuery::new()
                .workflow_id_prefix("d12")
                .sort(SortOrder::Descending)
                .limit(50);
            let range = list_query(&q).unwrap().key_range.unwrap();
            let plan = plan_of(conn, &range.text, &range.params);
            assert!(
                plan.contains(
                    "sqlite_autoindex_workflow_status_1 (workflow_uuid>? AND workflow_uuid<?)"
                ),
                "{when}, id prefix: must read the key range:\n{plan}"
            );
        };
        check(&conn, "empty");
        conn.execute_batch(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 50000)
             INSERT INTO workflow_status (workflow_uuid, status, name, authenticated_user,
                 application_version, queue_name, created_at, updated_at)
             SELECT 'd' || n, CASE WHEN n % 10 = 0 THEN 'ERROR' ELSE 'SUCCESS' END,
                 'n' || (n % 20), 'u' || (n % 100), 'v' || (n % 5),
                 CASE WHEN n % 2 = 0 THEN 'q' || (n % 10) END, n, n
             FROM g;
             WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 10000)
             INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, created_at,
                 updated_at)
             SELECT 'q' || n, 'ENQUEUED', 'n' || (n % 20), 'q' || (n % 10), 100000 + n,
                 100000 + n
             FROM g;
             ANALYZE;",
        )
        .unwrap();
        let stat4: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat4'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stat4, 1, "the bundled SQLite keeps STAT4 samples");
        check(&conn, "big, analyzed");
    }

    /// The query plan of `text` with `params` bound, one line per step.
    fn plan_of(conn: &rusqlite::Connection, text: &str, params: &[(&str, Value)]) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
        let bound: Vec<(&str, &dyn ToSql)> = params
            .iter()
            .map(|(name, value)| (*name, value as &dyn ToSql))
            .collect();
        let mut rows = stmt.query(bound.as_slice()).unwrap();
        let mut lines = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            lines.push(row.get::<_, String>(3).unwrap());
        }
        lines.join("\n")
    }

    /// A listing by one id prefix reads the prefix's key range while fewer than
    /// [`KEY_RANGE_MAX`] ids share it, and walks the creation-time index past that; both forms
    /// return the same pages (both orders, ties of creation time, offsets, other filters). A
    /// prefix without a code-point successor has no key-range form.
    #[test]
    fn a_prefix_listing_reads_its_key_range_while_few_ids_share_it() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        crate::migrate::migrate(&tx, ":memory:").unwrap();
        tx.commit().unwrap();
        // 1,200 ids `p-0000`… three per millisecond, every other one named `even`; and others.
        conn.execute_batch(
            "WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 1199)
             INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at)
             SELECT printf('p-%04d', n), 'SUCCESS', CASE WHEN n % 2 = 0 THEN 'even' ELSE 'odd' END,
                 n / 3, n / 3
             FROM g;
             INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at)
             VALUES ('p.', 'SUCCESS', 'even', 5, 5), ('q-0', 'SUCCESS', 'even', 5, 5);",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        let reads_range = |prefix: &str| {
            let listing =
                list_query(&ListWorkflowsQuery::new().workflow_id_prefix(prefix)).unwrap();
            reads_key_range(&tx, &listing).unwrap()
        };
        assert!(reads_range("p-1"), "200 ids");
        assert!(reads_range("p-00"), "100 ids");
        assert!(!reads_range("p-"), "1,200 ids");
        assert!(!reads_range("p"), "1,201 ids");
        let no_successor = ListWorkflowsQuery::new().workflow_id_prefix("\u{10FFFF}");
        assert!(list_query(&no_successor).unwrap().key_range.is_none());

        let ids = |text: &str, params: &[(&str, Value)]| -> Vec<String> {
            let mut stmt = tx.prepare(text).unwrap();
            let bound: Vec<(&str, &dyn ToSql)> = params
                .iter()
                .map(|(name, value)| (*name, value as &dyn ToSql))
                .collect();
            stmt.query_map(bound.as_slice(), read_workflow)
                .unwrap()
                .map(|r| r.unwrap().workflow_id)
                .collect()
        };
        for prefix in ["p-1", "p-", "p-0999"] {
            for sort in [SortOrder::Ascending, SortOrder::Descending] {
                for (limit, offset) in [(None, None), (Some(7), Some(0)), (Some(50), Some(13))] {
                    let mut q = ListWorkflowsQuery::new()
                        .workflow_id_prefix(prefix)
                        .sort(sort);
                    if let Some(limit) = limit {
                        q = q.limit(limit);
                    }
                    if let Some(offset) = offset {
                        q = q.offset(offset);
                    }
                    for q in [q.clone(), q.name(["even"])] {
                        let listing = list_query(&q).unwrap();
                        let range = listing.key_range.as_ref().unwrap();
                        let walked = ids(&listing.text, &listing.params);
                        assert_eq!(
                            ids(&range.text, &range.params),
                            walked,
                            "{prefix} {sort:?} {limit:?} {offset:?}"
                        );
                        assert!(walked.iter().all(|id| id.starts_with(prefix)), "{walked:?}");
                        assert_eq!(
                            list_workflows_tx(&tx, &listing).unwrap().len(),
                            walked.len()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ids_disable_application_scoping() {
        let q = ListWorkflowsQuery::new()
            .workflow_ids(["x"])
            .application_name("app");
        let Listing { text, .. } = list_query(&q).unwrap();
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
