//! [`MemoryStore`]: the in-memory reference model of the
//! [`SystemStore`](dbos_storage_core::SystemStore) contract.
//!
//! Everything lives in plain maps behind one mutex, and every method is written to read like the
//! contract it implements: the conformance suite compares other backends against this store, and
//! a third-party author can read it to see what each operation must do. It is not built for
//! speed and keeps nothing across processes.
//!
//! Time comes from the wall clock in milliseconds, made non-decreasing so that a row is never
//! stamped before one written earlier: it is the model's "database clock", used for
//! `created_at`, claims, rate-limit windows, delays and deadlines.
//!
//! This module holds the tables and what every area shares; each area trait is implemented in
//! the child module of its name: `lifecycle`, `workflows`, `steps`, `management` (with fork,
//! rewind, delete and attributes), `queues` (with recovery, the registry and `VersionStore`;
//! direct recovery and the hand-back to a queue are in `recovery`),
//! `schedules`, `messages`, `events` and `streams` (the checks of a call from a workflow, which
//! those three share, are in `messaging`); operations run as a workflow's step are in
//! `workflow_steps`. The management area's leases, garbage collection,
//! metrics and renames are in `retention`, its export and import in `transfer`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use dbos_storage_core::export::{InputRow, OutputRow};
use dbos_storage_core::{
    duration_ms, ApplicationVersion, Capabilities, DedupPolicy, EpochMs, Error, InitialStatus,
    InsertOptions, InsertOutcome, NewWorkflow, Outcome, Payload, QueueDefinition, Result, Schedule,
    StepRecord, WorkflowInfo, WorkflowResult, WorkflowStatus, DBOS_SCHEMA_VERSION,
};
use dbos_storage_driver_kit::decisions::child_starts::Descendants;
use dbos_storage_driver_kit::decisions::column_values::outcome_of;
use dbos_storage_driver_kit::decisions::column_values::workflow_result;
use dbos_storage_driver_kit::decisions::insert_reconciliation::{self, ExistingWorkflow};
use dbos_storage_driver_kit::decisions::ownership_check::{self, WorkflowOwner};
use dbos_storage_driver_kit::decisions::store_errors;
use dbos_storage_driver_kit::wait::{WaitRegistry, WakeSignal};

mod events;
mod lifecycle;
mod management;
mod messages;
mod messaging;
mod queues;
mod recovery;
mod retention;
mod schedules;
mod steps;
mod streams;
mod transfer;
mod workflow_steps;
mod workflows;

/// The backend name of [`MemoryStore`].
pub const BACKEND: &str = "memory";

/// The in-memory reference implementation of the whole [`SystemStore`] contract.
///
/// [`MemoryStore::new`] gives an empty, unmigrated store ([`LifecycleStore::schema_version`]
/// reports 0 until [`LifecycleStore::migrate`]); every other operation works either way.
///
/// [`LifecycleStore::schema_version`]: dbos_storage_core::LifecycleStore::schema_version
/// [`LifecycleStore::migrate`]: dbos_storage_core::LifecycleStore::migrate
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
    /// What the store declares when not [`MemoryStore::declared_capabilities`] (see
    /// [`MemoryStore::migrated_declaring`]).
    declaring: Option<Capabilities>,
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
    notifications: Vec<messages::MessageRow>,
    /// `workflow_events`, keyed by `(workflow_uuid, key)`.
    events: BTreeMap<(String, String), Payload>,
    /// `workflow_events_history`, keyed by `(workflow_uuid, function_id, key)`; fork, rewind
    /// and export read it back.
    event_history: BTreeMap<(String, i32, String), Payload>,
    /// `streams`, keyed by `(workflow_uuid, key, offset)`.
    streams: BTreeMap<(String, String, i32), streams::StreamRow>,
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

    /// A migrated, empty store that declares `capabilities` instead of
    /// [`MemoryStore::declared_capabilities`] and behaves accordingly: without
    /// `attribute_filter` it refuses attribute filters with `Unsupported`, as a backend without
    /// the capability must. (The other capabilities change nothing a caller of the contract can
    /// observe.) The suite's own tests use it to prove that `suite!` skips exactly the
    /// properties whose capability a backend lacks.
    pub fn migrated_declaring(capabilities: Capabilities) -> Self {
        let store = MemoryStore {
            declaring: Some(capabilities),
            ..Self::default()
        };
        store.lock().schema_version = DBOS_SCHEMA_VERSION;
        store
    }

    /// The capabilities this store declares.
    fn own_capabilities(&self) -> Capabilities {
        self.declaring.unwrap_or_else(Self::declared_capabilities)
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

    /// A workflow as the contract reads it: the status row with the fencing token and queue flags
    /// of [`WorkflowRow`], and inputs, output and error taken from the payload tables, falling back to the legacy columns
    /// (`COALESCE(workflow_input.inputs, workflow_status.inputs)`, and so on).
    fn view(&self, row: &WorkflowRow) -> WorkflowInfo {
        let mut info = row.info.clone();
        info.owner_xid = row.owner_xid.clone();
        info.rate_limited = row.rate_limited;
        info.is_debounced = row.is_debounced;
        info.debounce_deadline_epoch_ms = row.debounce_deadline_epoch_ms;
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
            return insert_reconciliation::reconcile(&wf, options, existing.reconciled())
                .map_err(ours);
        }
        if let Some(holder) = self.dedup_holder_of(&wf) {
            if options.dedup_policy == DedupPolicy::ReturnExisting {
                // Attach to the holder. (Under one lock it cannot release the key meanwhile.)
                let info = &holder.info;
                return Ok(insert_reconciliation::deduplicated_into(
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
        ownership_check::verify(workflow_id, expected, found, what)
            .map(drop)
            .map_err(ours)
    }

    /// Inserts a step row unless one exists; an existing row with the same completion time is
    /// this write's own earlier attempt, any other is a rival's.
    fn record_step(&mut self, step: StepRecord) -> Result<()> {
        let key = (step.workflow_id.clone(), step.function_id);
        if let Some(existing) = self.steps.get(&key) {
            if existing.completed_at_epoch_ms == step.completed_column() {
                return Ok(());
            }
            let recorded_at = existing.completed_at_epoch_ms;
            return Err(ours(store_errors::step_conflict(&step, recorded_at)));
        }
        let application_name = self
            .workflow(&step.workflow_id)
            .ok_or_else(|| missing(&step.workflow_id))?
            .info
            .application_name
            .clone();
        let (started_at_epoch_ms, completed_at_epoch_ms) =
            (step.started_column(), step.completed_column());
        let (output, error, serialization) = match step.outcome {
            None | Some(Outcome::Void) => (None, None, None),
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
                started_at_epoch_ms,
                completed_at_epoch_ms,
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
            owner_xid: self.owner_xid.clone(),
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
    info.schedule_name = wf.schedule_name;
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
    ours(store_errors::deduplicated(wf))
}

fn missing(workflow_id: &str) -> Error {
    ours(store_errors::missing_workflow(workflow_id))
}
