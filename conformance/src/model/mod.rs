//! [`MemoryStore`]: the in-memory reference model of the
//! [`SystemStore`](dbos_storage_core::SystemStore) contract.
//!
//! Everything lives in plain maps behind one mutex, and every method is written to read like the
//! contract it implements: the conformance suite compares other backends against this store, and
//! a third-party author can read it to see what each operation must do. It is not built for
//! speed and keeps nothing across processes.
//!
//! Time comes from the wall clock in milliseconds, made non-decreasing so that a row is never
//! stamped before one written earlier: it is the model's "database clock" (§6.5 of the design),
//! used for `created_at`, claims, rate-limit windows, delays and deadlines.
//!
//! The queue, recovery, registry and version operations live in the child module `queues`;
//! messages, events and streams in `messaging`; fork, rewind, delete and attributes in
//! `operations`; leases, garbage collection, metrics and application renames in `retention`;
//! export and import in `transfer`; schedules in `schedules`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::export::{InputRow, OutputRow};
use dbos_storage_core::management::prepare_forks;
use dbos_storage_core::rules::children::Descendants;
use dbos_storage_core::rules::columns::outcome_of;
use dbos_storage_core::rules::columns::{final_columns, workflow_result};
use dbos_storage_core::rules::insert::{self, ExistingWorkflow};
use dbos_storage_core::rules::management::{distinct, ensure_all_exist};
use dbos_storage_core::rules::ownership::{self, WorkflowOwner};
use dbos_storage_core::rules::{children, errors, sleep, steps};
use dbos_storage_core::store::{LifecycleStore, ManagementStore, StepStore, WorkflowStore};
use dbos_storage_core::wait::{self, WaitRegistry, WakeSignal};
use dbos_storage_core::{
    duration_ms, validate, ApplicationVersion, AwaitOptions, CancelOptions, Capabilities,
    DedupPolicy, EpochMs, Error, ErrorKind, InitialStatus, InsertOptions, InsertOutcome,
    ListStepsOptions, ListWorkflowsQuery, NewWorkflow, Outcome, Payload, QueueDefinition,
    RecordedStep, Result, ResumeOptions, SchemaVersion, SleepState, SortOrder, StepInfo,
    StepRecord, WorkflowInfo, WorkflowResult, WorkflowStatus, DBOS_SCHEMA_VERSION, INTERNAL_QUEUE,
    SLEEP_STEP,
};
use dbos_storage_core::{
    AttributeUpdate, DeleteOptions, ExportedWorkflow, ForkRequest, ForkedWorkflow, ImportOptions,
    Lease, LeaseState, Metrics, MetricsQuery, OrphanSweep, RenameApplication, RenameReport,
    RetentionPolicy, RewindRequest, RewoundWorkflow, Schedule,
};

mod management;
mod messaging;
mod queues;
mod retention;
mod schedules;
mod transfer;

/// The backend name of [`MemoryStore`].
pub const BACKEND: &str = "memory";

/// The in-memory reference implementation of the whole [`SystemStore`] contract.
///
/// [`MemoryStore::new`] gives an empty, unmigrated store ([`LifecycleStore::schema_version`]
/// reports 0 until [`LifecycleStore::migrate`]); every other operation works either way.
///
/// [`SystemStore`]: dbos_storage_core::SystemStore
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Woken after every write, so that waits re-check at once instead of at their poll interval.
    wake: WakeSignal,
    /// The waiters of messages, events and streams, all woken after every write (a wake-up is
    /// only a hint: a waiter re-reads and waits on when its key did not change).
    waits: WaitRegistry,
}

/// The tables.
#[derive(Debug, Default)]
struct State {
    closed: bool,
    schema_version: i64,
    /// The last time handed out by [`State::now`].
    clock_ms: EpochMs,
    /// `workflow_status`; its `inputs`, `output` and `error` are the legacy columns (NULL in
    /// every row this model writes), read through [`State::view`] joined with the two payload
    /// tables below.
    workflows: BTreeMap<String, WorkflowRow>,
    /// `workflow_input`, keyed by `workflow_uuid` (no foreign key: it can outlive its workflow).
    inputs: BTreeMap<String, InputRow>,
    /// `workflow_output`, keyed by `workflow_uuid` (no foreign key either).
    outputs: BTreeMap<String, OutputRow>,
    /// `operation_outputs`, keyed by `(workflow_uuid, function_id)`.
    steps: BTreeMap<(String, i32), StepRow>,
    /// `queues`, keyed by name.
    queues: BTreeMap<String, QueueDefinition>,
    /// The maintenance lease rows of `queues` (`application_name = LEASE_APPLICATION`), keyed by
    /// `name`; kept apart so that no listing of the registry can return them.
    leases: BTreeMap<String, retention::LeaseRow>,
    /// `workflow_schedules`, keyed by `schedule_name` (unique; `schedule_id` is unique too).
    schedules: BTreeMap<String, Schedule>,
    /// `application_versions`, keyed by `version_name` (still globally unique in the schema).
    versions: BTreeMap<String, ApplicationVersion>,
    /// `notifications`, in insertion order (which breaks ties of `created_at_epoch_ms`).
    notifications: Vec<messaging::MessageRow>,
    /// `workflow_events`, keyed by `(workflow_uuid, key)`.
    events: BTreeMap<(String, String), Payload>,
    /// `workflow_events_history`, keyed by `(workflow_uuid, function_id, key)`; fork, rewind
    /// and export read it back.
    event_history: BTreeMap<(String, i32, String), Payload>,
    /// `streams`, keyed by `(workflow_uuid, key, offset)`.
    streams: BTreeMap<(String, String, i32), messaging::StreamRow>,
}

/// One workflow: the columns the contract reads back plus the fencing tokens and queue flags it
/// never returns.
#[derive(Debug, Clone)]
struct WorkflowRow {
    /// Every column of `workflow_status`, with `inputs`, `output` and `error` always loaded.
    info: WorkflowInfo,
    /// The columns `WorkflowInfo` cannot carry verbatim, as stored.
    raw: RawColumns,
    creator_xid: Option<String>,
    owner_xid: Option<String>,
    /// Claimed under a rate limiter: the limiter counts it.
    rate_limited: bool,
    /// The deduplication id is a debounce key.
    is_debounced: bool,
    /// The latest release time a debounce may set.
    debounce_deadline_epoch_ms: Option<EpochMs>,
}

/// Columns of `workflow_status` kept as stored text: the legacy `request`, the JSON array of
/// `authenticated_roles` and the JSON of `attributes` (which may be JSON `null`, as DBOS writes
/// it). `WorkflowInfo` holds their parsed forms.
#[derive(Debug, Clone, Default)]
struct RawColumns {
    request: Option<String>,
    authenticated_roles: Option<String>,
    attributes: Option<String>,
}

impl RawColumns {
    /// The stored texts of parsed roles and attributes.
    fn of(info: &WorkflowInfo) -> Self {
        RawColumns {
            request: None,
            authenticated_roles: info
                .authenticated_roles
                .as_ref()
                .map(|roles| serde_json::Value::from(roles.clone()).to_string()),
            attributes: info
                .attributes
                .as_ref()
                .map(|map| serde_json::Value::Object(map.clone()).to_string()),
        }
    }
}

/// One step checkpoint: every column of `operation_outputs` but the key.
#[derive(Debug, Clone)]
struct StepRow {
    function_name: String,
    output: Option<String>,
    error: Option<String>,
    serialization: Option<String>,
    child_workflow_id: Option<String>,
    started_at_epoch_ms: Option<EpochMs>,
    completed_at_epoch_ms: Option<EpochMs>,
    /// Copied from the workflow, as the contract asks.
    application_name: Option<String>,
    retention_timestamp: EpochMs,
}

impl StepRow {
    /// The recorded outcome: the error when there is one, else the output.
    fn outcome(&self) -> Option<Outcome> {
        outcome_of(
            self.output.clone(),
            self.error.clone(),
            self.serialization.as_deref(),
        )
    }
}

impl MemoryStore {
    /// An empty, unmigrated store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A migrated, empty store, ready for use.
    pub fn migrated() -> Self {
        let store = Self::new();
        store.lock().schema_version = DBOS_SCHEMA_VERSION;
        store
    }

    /// The capabilities of the memory backend: attribute filters, and nothing that needs a
    /// server or a file.
    pub fn declared_capabilities() -> Capabilities {
        let mut caps = Capabilities::default();
        caps.attribute_filter = true;
        caps
    }

    /// Locks the tables. A panic while the lock was held cannot leave a half-applied write (every
    /// write checks first and mutates last), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the tables of an open store.
    fn open(&self) -> Result<MutexGuard<'_, State>> {
        let state = self.lock();
        if state.closed {
            return Err(Error::closed().with_backend(BACKEND));
        }
        Ok(state)
    }

    /// Runs one write under the lock, then wakes the waiters.
    fn write<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let result = f(&mut *self.open()?);
        self.wake.notify();
        self.waits.wake_all();
        result
    }
}

impl State {
    /// The current time in epoch ms, never earlier than a time handed out before.
    fn now(&mut self) -> EpochMs {
        self.clock_ms = self.clock_ms.max(dbos_storage_core::now_epoch_ms());
        self.clock_ms
    }

    fn workflow(&self, workflow_id: &str) -> Option<&WorkflowRow> {
        self.workflows.get(workflow_id)
    }

    /// Stores a new workflow's status and input rows.
    fn put_workflow(&mut self, row: WorkflowRow, input: InputRow) {
        let id = row.info.workflow_id.clone();
        self.inputs.insert(id.clone(), input);
        self.workflows.insert(id, row);
    }

    /// A workflow as the contract reads it: the status row with inputs, output and error taken
    /// from the payload tables, falling back to the legacy columns
    /// (`COALESCE(workflow_input.inputs, workflow_status.inputs)`, and so on).
    fn view(&self, row: &WorkflowRow) -> WorkflowInfo {
        let mut info = row.info.clone();
        let id = &info.workflow_id;
        if let Some(inputs) = self.inputs.get(id).and_then(|i| i.inputs.clone()) {
            info.inputs = Some(inputs);
        }
        if let Some(out) = self.outputs.get(id) {
            if out.output.is_some() {
                info.output = out.output.clone();
            }
            if out.error.is_some() {
                info.error = out.error.clone();
            }
        }
        info
    }

    fn step(&self, workflow_id: &str, function_id: i32) -> Option<&StepRow> {
        self.steps.get(&(workflow_id.to_owned(), function_id))
    }

    /// The insert-or-reconcile of [`WorkflowStore::insert_workflow`], shared with child starts.
    /// `wf` has been validated.
    fn insert_workflow(
        &mut self,
        wf: NewWorkflow,
        options: &InsertOptions,
    ) -> Result<InsertOutcome> {
        if let Some(existing) = self.workflow(&wf.workflow_id) {
            return insert::reconcile(&wf, options, existing.reconciled()).map_err(ours);
        }
        if let Some(holder) = self.dedup_holder_of(&wf) {
            if options.dedup_policy == DedupPolicy::ReturnExisting {
                // Attach to the holder. (Under one lock it cannot release the key meanwhile.)
                let info = &holder.info;
                return Ok(insert::deduplicated_into(
                    info.workflow_id.clone(),
                    info.status.clone(),
                    info.queue_name.clone(),
                    info.serialization.clone(),
                ));
            }
            return Err(deduplicated(&wf));
        }
        let now = self.now();
        let (row, input) = new_row(wf, now, now);
        let mut outcome = InsertOutcome::new(
            row.info.status.clone(),
            row.info.status == WorkflowStatus::Pending,
            false,
        );
        outcome.queue_name = row.info.queue_name.clone();
        outcome.serialization = row.info.serialization.clone();
        self.put_workflow(row, input);
        Ok(outcome)
    }

    /// The row holding `deduplication_id` on `queue_name`, if any (the unique index
    /// `uq_workflow_status_dedup_id`).
    fn dedup_holder(&self, queue_name: &str, deduplication_id: &str) -> Option<&WorkflowRow> {
        self.workflows.values().find(|row| {
            row.info.queue_name.as_deref() == Some(queue_name)
                && row.info.deduplication_id.as_deref() == Some(deduplication_id)
        })
    }

    /// The row holding the deduplication id a new workflow asks for, if any.
    fn dedup_holder_of(&self, wf: &NewWorkflow) -> Option<&WorkflowRow> {
        match (&wf.queue_name, &wf.deduplication_id) {
            (Some(queue), Some(dedup)) => self.dedup_holder(queue, dedup),
            _ => None,
        }
    }

    /// Fails with [`ErrorKind::NotOwner`] unless `owner_xid` is `None` or owns the workflow,
    /// before this execution does `what`.
    fn check_owner(&self, workflow_id: &str, owner_xid: Option<&str>, what: &str) -> Result<()> {
        let Some(expected) = owner_xid else {
            return Ok(());
        };
        let found = self.workflow(workflow_id).map(|row| WorkflowOwner {
            owner_xid: row.owner_xid.clone(),
            deadline_epoch_ms: row.info.workflow_deadline_epoch_ms,
            application_name: row.info.application_name.clone(),
        });
        ownership::verify(workflow_id, expected, found, what)
            .map(drop)
            .map_err(ours)
    }

    /// Inserts a step row unless one exists; an existing row with the same completion time is
    /// this write's own earlier attempt, any other is a rival's.
    fn record_step(&mut self, step: StepRecord) -> Result<()> {
        let key = (step.workflow_id.clone(), step.function_id);
        if let Some(existing) = self.steps.get(&key) {
            if existing.completed_at_epoch_ms == Some(step.completed_at_epoch_ms) {
                return Ok(());
            }
            let recorded_at = existing.completed_at_epoch_ms;
            return Err(ours(errors::step_conflict(&step, recorded_at)));
        }
        let application_name = self
            .workflow(&step.workflow_id)
            .ok_or_else(|| missing(&step.workflow_id))?
            .info
            .application_name
            .clone();
        let (output, error, serialization) = match step.outcome {
            None => (None, None, None),
            Some(Outcome::Output(p)) => (Some(p.text), None, p.serialization),
            Some(Outcome::Error(p)) => (None, Some(p.text), p.serialization),
        };
        let retention_timestamp = self.now();
        self.steps.insert(
            key,
            StepRow {
                function_name: step.function_name,
                output,
                error,
                serialization: serialization.map(|s| s.as_label().to_owned()),
                child_workflow_id: step.child_workflow_id,
                started_at_epoch_ms: step.started_at_epoch_ms,
                completed_at_epoch_ms: Some(step.completed_at_epoch_ms),
                application_name,
                retention_timestamp,
            },
        );
        Ok(())
    }

    /// The direct children of every workflow of `parents`, in `created_at` order.
    fn children_of(&self, parents: &[String]) -> Vec<String> {
        let parents: HashSet<&String> = parents.iter().collect();
        let mut children: Vec<&WorkflowInfo> = self
            .workflows
            .values()
            .map(|row| &row.info)
            .filter(|info| {
                info.parent_workflow_id
                    .as_ref()
                    .is_some_and(|parent| parents.contains(parent))
            })
            .collect();
        children
            .sort_by(|a, b| (a.created_at, &a.workflow_id).cmp(&(b.created_at, &b.workflow_id)));
        children
            .into_iter()
            .map(|i| i.workflow_id.clone())
            .collect()
    }

    /// Every descendant of `roots`, breadth first, each once.
    fn descendants(&self, roots: &[String]) -> Vec<String> {
        let mut walk = Descendants::new(roots.to_vec());
        while !walk.level().is_empty() {
            let children = self.children_of(walk.level());
            walk.descend(children);
        }
        walk.into_found()
    }

    /// The result of one workflow, as [`WorkflowStore::workflow_result`] reports it.
    fn result(&self, workflow_id: &str) -> WorkflowResult {
        let Some(row) = self.workflow(workflow_id) else {
            return WorkflowResult::NotFound;
        };
        let info = self.view(row);
        // `workflow_output` has no label of its own: the workflow's label (that of its inputs).
        workflow_result(info.status, info.output, info.error, info.serialization)
    }

    /// The first of `workflow_ids` that exists and is no longer active.
    fn first_finished(&self, workflow_ids: &[String]) -> Option<String> {
        workflow_ids
            .iter()
            .find(|id| {
                self.workflow(id)
                    .is_some_and(|row| !row.info.status.is_active())
            })
            .cloned()
    }
}

impl WorkflowRow {
    /// The columns an insert reconciles with.
    fn reconciled(&self) -> ExistingWorkflow {
        let info = &self.info;
        ExistingWorkflow {
            status: info.status.clone(),
            name: Some(info.name.clone()),
            class_name: info.class_name.clone(),
            config_name: info.config_name.clone(),
            queue_name: info.queue_name.clone(),
            creator_xid: self.creator_xid.clone(),
            serialization: info.serialization.clone(),
        }
    }
}

/// A new row for a validated `wf`, written at `now` and created at `created_at` (the same, except
/// in batch enqueue): `PENDING` rows are owned by their creator and count one attempt, with the
/// deadline `now + timeout`; queued rows have no owner, no attempt and no deadline until a claim.
/// Returns the `workflow_status` row and the `workflow_input` row; store them with
/// [`State::put_workflow`].
fn new_row(wf: NewWorkflow, now: EpochMs, created_at: EpochMs) -> (WorkflowRow, InputRow) {
    let status = wf.status.status();
    let pending = wf.status == InitialStatus::Pending;
    let timeout_ms = wf.timeout.map(duration_ms);
    let deadline = match (wf.deadline_epoch_ms, timeout_ms) {
        (Some(deadline), _) => Some(deadline),
        (None, Some(timeout)) if pending => Some(now.saturating_add(timeout)),
        _ => None,
    };
    let mut info = WorkflowInfo::new(wf.workflow_id, wf.name, status);
    info.class_name = wf.class_name;
    info.config_name = wf.config_name;
    info.authenticated_user = wf.authenticated_user;
    info.assumed_role = wf.assumed_role;
    info.authenticated_roles = wf.authenticated_roles;
    info.executor_id = wf.executor_id;
    info.created_at = created_at;
    info.updated_at = now;
    info.application_version = wf.application_version;
    info.application_id = wf.application_id;
    info.application_name = wf.application_name;
    info.recovery_attempts = i64::from(pending);
    info.queue_name = wf.queue_name;
    info.workflow_timeout_ms = timeout_ms;
    info.workflow_deadline_epoch_ms = deadline;
    info.deduplication_id = wf.deduplication_id;
    info.priority = wf.priority;
    info.queue_partition_key = wf.queue_partition_key;
    info.parent_workflow_id = wf.parent_workflow_id;
    info.forked_from = wf.forked_from;
    info.delay_until_epoch_ms = wf.delay_until_epoch_ms;
    info.attributes = wf.attributes;
    info.serialization = wf.inputs.serialization;
    // `inputs` stays NULL: the inputs go to `workflow_input`.
    let input = InputRow::new(Some(wf.inputs.text), now);
    let row = WorkflowRow {
        raw: RawColumns::of(&info),
        info,
        owner_xid: pending.then(|| wf.creator_xid.clone()),
        creator_xid: Some(wf.creator_xid),
        rate_limited: false,
        is_debounced: wf.is_debounced,
        debounce_deadline_epoch_ms: wf.debounce_deadline_epoch_ms,
    };
    (row, input)
}

/// Cancels one row (by a user or by its deadline): `CANCELLED`, with owner, queue,
/// deduplication id and start time cleared and `completed_at` stamped.
fn cancel_row(row: &mut WorkflowRow, now: EpochMs) {
    let info = &mut row.info;
    info.status = WorkflowStatus::Cancelled;
    info.queue_name = None;
    info.deduplication_id = None;
    info.started_at_epoch_ms = None;
    info.updated_at = now;
    info.completed_at = Some(now);
    row.owner_xid = None;
}

/// Names this backend in an error built by the core, whose errors name none.
fn ours(error: Error) -> Error {
    error.with_backend(BACKEND)
}

/// The queue's deduplication id of `wf` is held by another workflow.
fn deduplicated(wf: &NewWorkflow) -> Error {
    ours(errors::deduplicated(wf))
}

fn missing(workflow_id: &str) -> Error {
    ours(errors::missing_workflow(workflow_id))
}

/// PostgreSQL's `jsonb @>`: objects contain every key of the needle with a contained value,
/// arrays contain every element of the needle somewhere, scalars are equal.
fn json_contains(haystack: &serde_json::Value, needle: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (haystack, needle) {
        (Value::Object(h), Value::Object(n)) => n
            .iter()
            .all(|(k, nv)| h.get(k).is_some_and(|hv| json_contains(hv, nv))),
        (Value::Array(h), Value::Array(n)) => {
            n.iter().all(|nv| h.iter().any(|hv| json_contains(hv, nv)))
        }
        (h, n) => h == n,
    }
}

/// Whether a row passes every filter of `query`.
fn matches(info: &WorkflowInfo, q: &ListWorkflowsQuery) -> bool {
    fn any_of(filter: &Option<Vec<String>>, value: &Option<String>) -> bool {
        filter
            .as_ref()
            .is_none_or(|wanted| value.as_ref().is_some_and(|v| wanted.contains(v)))
    }
    fn eq(filter: &Option<String>, value: &Option<String>) -> bool {
        filter.is_none() || filter == value
    }
    fn at_least(bound: Option<EpochMs>, value: Option<EpochMs>) -> bool {
        bound.is_none_or(|b| value.is_some_and(|v| v >= b))
    }
    fn at_most(bound: Option<EpochMs>, value: Option<EpochMs>) -> bool {
        bound.is_none_or(|b| value.is_some_and(|v| v <= b))
    }
    let scoped = match (&q.workflow_ids, &q.application_name) {
        (Some(ids), _) => ids.contains(&info.workflow_id),
        (None, Some(app)) => info.application_name.as_ref().is_none_or(|a| a == app),
        (None, None) => true,
    };
    let queued = !q.queues_only
        || (info.queue_name.is_some() && (q.status.is_some() || info.status.is_active()));
    scoped
        && queued
        && q.workflow_id_prefix
            .as_ref()
            .is_none_or(|p| info.workflow_id.starts_with(p.as_str()))
        && q.status.as_ref().is_none_or(|s| s.contains(&info.status))
        && q.name.as_ref().is_none_or(|n| n.contains(&info.name))
        && any_of(&q.application_version, &info.application_version)
        && any_of(&q.executor_id, &info.executor_id)
        && any_of(&q.queue_name, &info.queue_name)
        && any_of(&q.authenticated_user, &info.authenticated_user)
        && eq(&q.schedule_name, &info.schedule_name)
        && eq(&q.forked_from, &info.forked_from)
        && eq(&q.parent_workflow_id, &info.parent_workflow_id)
        && at_least(q.start_time, Some(info.created_at))
        && at_most(q.end_time, Some(info.created_at))
        && at_least(q.completed_after, info.completed_at)
        && at_most(q.completed_before, info.completed_at)
        && at_least(q.dequeued_after, info.started_at_epoch_ms)
        && at_most(q.dequeued_before, info.started_at_epoch_ms)
        && q.was_forked_from.is_none_or(|w| info.was_forked_from == w)
        && q.is_fork.is_none_or(|f| info.forked_from.is_some() == f)
        && q.has_parent
            .is_none_or(|p| info.parent_workflow_id.is_some() == p)
        && q.attributes.as_ref().is_none_or(|wanted| {
            info.attributes.as_ref().is_some_and(|attrs| {
                json_contains(
                    &serde_json::Value::Object(attrs.clone()),
                    &serde_json::Value::Object(wanted.clone()),
                )
            })
        })
}

#[async_trait]
impl LifecycleStore for MemoryStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        Self::declared_capabilities()
    }

    async fn migrate(&self) -> Result<SchemaVersion> {
        let mut state = self.open()?;
        state.schema_version = state.schema_version.max(DBOS_SCHEMA_VERSION);
        Ok(SchemaVersion::new(
            state.schema_version,
            DBOS_SCHEMA_VERSION,
        ))
    }

    async fn schema_version(&self) -> Result<SchemaVersion> {
        let state = self.open()?;
        Ok(SchemaVersion::new(
            state.schema_version,
            DBOS_SCHEMA_VERSION,
        ))
    }

    async fn check_connection(&self) -> Result<()> {
        self.open().map(drop)
    }

    async fn close(&self) -> Result<()> {
        self.lock().closed = true;
        self.wake.notify();
        self.waits.wake_all();
        Ok(())
    }
}

#[async_trait]
impl WorkflowStore for MemoryStore {
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome> {
        workflow.validate()?;
        self.write(|state| state.insert_workflow(workflow, &options))
    }

    async fn get_workflows(&self, workflow_ids: &[String]) -> Result<Vec<WorkflowInfo>> {
        validate::workflow_ids(workflow_ids)?;
        let state = self.open()?;
        Ok(workflow_ids
            .iter()
            .filter_map(|id| state.workflow(id))
            .map(|row| state.view(row))
            .collect())
    }

    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        if let Some(ids) = &query.workflow_ids {
            validate::workflow_ids(ids)?;
        }
        let state = self.open()?;
        let mut rows: Vec<WorkflowInfo> = state
            .workflows
            .values()
            .filter(|row| matches(&row.info, &query))
            .map(|row| state.view(row))
            .collect();
        rows.sort_by(|a, b| (a.created_at, &a.workflow_id).cmp(&(b.created_at, &b.workflow_id)));
        if query.sort == SortOrder::Descending {
            rows.reverse();
        }
        let offset = usize::try_from(query.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let limit = query
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(rows
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|mut info| {
                if !query.load_input {
                    info.inputs = None;
                }
                if !query.load_output {
                    info.output = None;
                    info.error = None;
                }
                info
            })
            .collect())
    }

    async fn record_outcome(
        &self,
        workflow_id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool> {
        validate::workflow_id(workflow_id)?;
        let recorded = final_columns(outcome)?;
        self.write(|state| {
            let now = state.now();
            let Some(row) = state.workflows.get_mut(workflow_id) else {
                return Ok(false);
            };
            let owned = owner_xid.is_none_or(|owner| row.owner_xid.as_deref() == Some(owner));
            if row.info.status != WorkflowStatus::Pending || !owned {
                return Ok(false);
            }
            let info = &mut row.info;
            // `workflow_output` has no label of its own: an outcome is read back with the
            // workflow's label (that of its inputs), as in every DBOS SDK.
            info.status = recorded.status;
            info.deduplication_id = None;
            info.completed_at = Some(now);
            info.updated_at = now;
            row.owner_xid = None;
            let output = OutputRow::new(recorded.output, recorded.error, now);
            state.outputs.insert(workflow_id.to_owned(), output);
            Ok(true)
        })
    }

    async fn workflow_result(&self, workflow_id: &str) -> Result<WorkflowResult> {
        validate::workflow_id(workflow_id)?;
        Ok(self.open()?.result(workflow_id))
    }

    async fn await_workflow_result(
        &self,
        workflow_id: &str,
        options: AwaitOptions,
    ) -> Result<WorkflowResult> {
        wait::await_workflow_result(self, BACKEND, workflow_id, &options, Some(&self.wake)).await
    }

    async fn first_finished(&self, workflow_ids: &[String]) -> Result<Option<String>> {
        validate::workflow_ids(workflow_ids)?;
        Ok(self.open()?.first_finished(workflow_ids))
    }

    async fn await_first_finished(
        &self,
        workflow_ids: &[String],
        options: AwaitOptions,
    ) -> Result<String> {
        wait::await_first_finished(self, workflow_ids, &options, Some(&self.wake)).await
    }

    async fn workflow_children(&self, workflow_id: &str) -> Result<Vec<String>> {
        validate::workflow_id(workflow_id)?;
        Ok(self.open()?.descendants(&[workflow_id.to_owned()]))
    }
}

#[async_trait]
impl StepStore for MemoryStore {
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        let state = self.open()?;
        let row = state
            .workflow(workflow_id)
            .ok_or_else(|| missing(workflow_id))?;
        steps::ensure_not_cancelled(workflow_id, &row.info.status).map_err(ours)?;
        let Some(step) = state.step(workflow_id, function_id) else {
            return Ok(None);
        };
        steps::ensure_same_step(workflow_id, function_id, function_name, &step.function_name)
            .map_err(ours)?;
        Ok(Some(RecordedStep::new(
            step.outcome(),
            step.child_workflow_id.clone(),
        )))
    }

    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()> {
        step.validate()?;
        self.write(|state| {
            if state.workflow(&step.workflow_id).is_none() {
                return Err(missing(&step.workflow_id));
            }
            let what = format!("record step {}", step.function_id);
            state.check_owner(&step.workflow_id, owner_xid, &what)?;
            state.record_step(step)
        })
    }

    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>> {
        validate::workflow_id(workflow_id)?;
        let state = self.open()?;
        let offset = usize::try_from(options.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let limit = options
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let from = (workflow_id.to_owned(), i32::MIN);
        let to = (workflow_id.to_owned(), i32::MAX);
        Ok(state
            .steps
            .range(from..=to)
            .skip(offset)
            .take(limit)
            .map(|((_, function_id), row)| {
                let mut info = StepInfo::new(*function_id, row.function_name.clone());
                info.outcome = if options.load_output {
                    row.outcome()
                } else {
                    None
                };
                info.child_workflow_id = row.child_workflow_id.clone();
                info.started_at_epoch_ms = row.started_at_epoch_ms;
                info.completed_at_epoch_ms = row.completed_at_epoch_ms;
                info
            })
            .collect())
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
        self.write(|state| {
            let parent = state.workflow(parent_workflow_id).ok_or_else(|| {
                ours(errors::missing_parent(
                    parent_workflow_id,
                    &child.workflow_id,
                ))
            })?;
            let parent_deadline = parent.info.workflow_deadline_epoch_ms;
            let what = format!("start child workflow {}", child.workflow_id);
            state.check_owner(parent_workflow_id, parent_owner_xid, &what)?;
            if let Some(step) = state.step(parent_workflow_id, function_id) {
                // A replay of a start that was deduplicated: same answer, nothing written.
                children::check_recorded_start(
                    parent_workflow_id,
                    function_id,
                    &child,
                    &step.function_name,
                    step.child_workflow_id.as_deref(),
                    step.error.is_some(),
                )
                .map_err(ours)?;
            }
            children::inherit_deadline(&mut child, parent_deadline);
            let child_id = child.workflow_id.clone();
            let child_name = child.name.clone();
            let now = state.now();
            let step = |outcome| {
                StepRecord::with_outcome(parent_workflow_id, function_id, &child_name, outcome)
                    .with_child(&child_id)
                    .with_times(Some(now), now)
            };
            // A child start is recorded at the parent's step under the child's own id, so it
            // cannot attach to a deduplication holder: the step records the deduplication.
            let options = options.clone().dedup_policy(DedupPolicy::Reject);
            match state.insert_workflow(child.clone(), &options) {
                Ok(outcome) => {
                    if state.step(parent_workflow_id, function_id).is_none() {
                        state.record_step(step(None))?;
                    }
                    Ok(outcome)
                }
                Err(e) if e.kind() == ErrorKind::Deduplicated => {
                    let error = children::deduplicated_step_error(&child)?;
                    state.record_step(step(Some(Outcome::Error(error))))?;
                    Err(e)
                }
                Err(e) => Err(e),
            }
        })
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
        self.write(|state| {
            if state.workflow(workflow_id).is_none() {
                return Err(missing(workflow_id));
            }
            let what = format!("record step {function_id}");
            state.check_owner(workflow_id, owner_xid, &what)?;
            let now = state.now();
            if let Some(step) = state.step(workflow_id, function_id) {
                let output = match (&step.output, &step.error) {
                    (Some(text), None) => Some(text.as_str()),
                    _ => None,
                };
                let wake = sleep::replayed_wake_time(
                    workflow_id,
                    function_id,
                    &step.function_name,
                    output,
                    step.completed_at_epoch_ms,
                )
                .map_err(ours)?;
                return Ok(SleepState::new(wake, now));
            }
            let wake = now.saturating_add(duration_ms(duration));
            state.record_step(
                StepRecord::output(
                    workflow_id,
                    function_id,
                    SLEEP_STEP,
                    sleep::encode_wake_time(wake),
                )
                .with_times(Some(now), wake),
            )?;
            Ok(SleepState::new(wake, now))
        })
    }
}

#[async_trait]
impl ManagementStore for MemoryStore {
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| {
            let mut targets = distinct(workflow_ids);
            if options.cancel_children {
                targets.extend(state.descendants(&targets));
            }
            let now = state.now();
            let mut changed = Vec::new();
            for id in targets {
                let Some(row) = state.workflows.get_mut(&id) else {
                    continue;
                };
                if row.info.status.is_finished() || row.info.status == WorkflowStatus::Cancelled {
                    continue;
                }
                cancel_row(row, now);
                changed.push(id);
            }
            Ok(changed)
        })
    }

    async fn resume_workflows(
        &self,
        workflow_ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| {
            ensure_all_exist(workflow_ids, |id| state.workflow(id).is_some()).map_err(ours)?;
            let queue = options.queue_name.as_deref().unwrap_or(INTERNAL_QUEUE);
            let now = state.now();
            let mut changed = Vec::new();
            let mut seen = HashSet::new();
            for id in workflow_ids {
                if !seen.insert(id) {
                    continue;
                }
                let row = state.workflows.get_mut(id).ok_or_else(|| missing(id))?;
                let info = &mut row.info;
                if info.status.is_finished() {
                    continue;
                }
                info.status = WorkflowStatus::Enqueued;
                info.queue_name = Some(queue.to_owned());
                info.workflow_deadline_epoch_ms = None;
                info.deduplication_id = None;
                info.started_at_epoch_ms = None;
                info.completed_at = None;
                info.recovery_attempts = 0;
                info.updated_at = now;
                row.owner_xid = None;
                changed.push(id.clone());
            }
            Ok(changed)
        })
    }
    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>> {
        let requests = prepare_forks(requests)?;
        self.write(|state| state.fork(&requests))
    }

    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow> {
        request.validate()?;
        self.write(|state| state.rewind(&request))
    }

    async fn delete_workflows(
        &self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| {
            let mut targets = distinct(workflow_ids);
            if options.delete_children {
                let descendants = state.descendants(&targets);
                targets = distinct(&[targets, descendants].concat());
            }
            Ok(targets
                .into_iter()
                .filter(|id| state.delete_workflow(id))
                .collect())
        })
    }

    async fn update_workflow_attributes(
        &self,
        workflow_id: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        mode: AttributeUpdate,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        validate::workflow_id(workflow_id)?;
        validate::attributes(&attributes)?;
        self.write(|state| state.update_attributes(workflow_id, attributes, mode))
    }

    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState> {
        lease.validate()?;
        self.write(|state| Ok(state.acquire_lease(lease)))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        lease.validate()?;
        self.write(|state| Ok(state.release_lease(lease)))
    }

    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        limit: u32,
    ) -> Result<Vec<String>> {
        policy.validate()?;
        Ok(self.open()?.collectable(policy, limit))
    }

    async fn delete_collected(
        &self,
        lease: &Lease,
        workflow_ids: &[String],
    ) -> Result<Vec<String>> {
        lease.validate()?;
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| state.delete_collected(lease, workflow_ids))
    }

    async fn sweep_orphans(&self, lease: &Lease, limit: u32) -> Result<OrphanSweep> {
        lease.validate()?;
        self.write(|state| state.sweep_orphans(lease, limit))
    }

    async fn export_workflows(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        validate::workflow_ids(workflow_ids)?;
        self.open()?.export(workflow_ids, include_children)
    }

    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        transfer::validate_import(&workflows)?;
        self.write(|state| state.import(workflows, options))
    }

    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics> {
        query.validate()?;
        Ok(self.open()?.metrics(&query))
    }

    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport> {
        request.validate()?;
        // The first transaction moves the registries and in-flight workflows; then each batch
        // of finished workflows, then of steps, is a transaction of its own.
        let mut report = self.write(|state| state.rename_registries(&request))?;
        loop {
            let moved = self.write(|state| Ok(state.rename_finished_batch(&request)))?;
            if moved == 0 {
                break;
            }
            report.finished_workflows += moved;
        }
        loop {
            let moved = self.write(|state| Ok(state.rename_steps_batch(&request)))?;
            if moved == 0 {
                break;
            }
            report.steps += moved;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_follows_jsonb() {
        let have = json!({"a": 1, "b": {"c": [1, 2, 3], "d": "x"}});
        assert!(json_contains(&have, &json!({})));
        assert!(json_contains(&have, &json!({"a": 1})));
        assert!(json_contains(&have, &json!({"b": {"c": [3, 1]}})));
        assert!(!json_contains(&have, &json!({"b": {"c": [4]}})));
        assert!(!json_contains(&have, &json!({"a": 2})));
        assert!(!json_contains(&have, &json!({"z": null})));
    }
}
