//! The system-database contract: one sub-trait per area, summed up in [`SystemStore`].
//!
//! # Contract
//!
//! - Every method is one atomic operation: it commits entirely or not at all.
//! - Reads addressed by id are not scoped to an application; set-oriented reads match the given
//!   application's rows plus unclaimed (NULL) rows.
//! - Payloads cross the contract as already-encoded text with their
//!   [`Serialization`](crate::Serialization) label; a store never parses them.
//! - Every mutating method has an `# Idempotency` section: whether re-running it after an
//!   ambiguous commit ([`ErrorKind::AmbiguousCommit`](crate::ErrorKind::AmbiguousCommit)) leaves the
//!   same state. [`crate::RetryingStore`] relies on it.
//!
//! # Errors
//!
//! Every method may fail with the transient kinds ([`ConnectionLost`], [`PoolExhausted`],
//! [`SerializationFailure`], [`Contention`]; all retryable), with
//! [`AmbiguousCommit`](crate::ErrorKind::AmbiguousCommit) on backends that can lose a commit
//! acknowledgement, with [`Closed`](crate::ErrorKind::Closed) after [`LifecycleStore::close`], and
//! with [`InvalidInput`](crate::ErrorKind::InvalidInput) for ids or payloads that break the rules
//! of [`crate::validate`] and [`crate::payload::validate_text`]. Each method lists the others.
//!
//! [`ConnectionLost`]: crate::ErrorKind::ConnectionLost
//! [`PoolExhausted`]: crate::ErrorKind::PoolExhausted
//! [`SerializationFailure`]: crate::ErrorKind::SerializationFailure
//! [`Contention`]: crate::ErrorKind::Contention

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::export::{ExportedWorkflow, ImportOptions};
use crate::management::*;
use crate::messaging::*;
use crate::payload::Payload;
use crate::queue::*;
use crate::schedule::{Schedule, ScheduleFilter};
use crate::types::*;

/// Opening, migrating, checking and closing a system database.
#[async_trait]
pub trait LifecycleStore: Debug + Send + Sync + 'static {
    /// The backend's short name (`"sqlite"`, `"postgres"`, `"memory"`, …), used in errors and
    /// reports.
    fn backend(&self) -> &'static str;

    /// What this backend supports beyond the common contract.
    fn capabilities(&self) -> Capabilities;

    /// Creates or upgrades the DBOS system schema to [`DBOS_SCHEMA_VERSION`].
    ///
    /// # Behavior
    /// - An empty database gets the whole v125 schema and `dbos_migrations.version = 125` in a
    ///   single row.
    /// - A database behind this build is migrated forward; one at or ahead of it (written by a
    ///   newer DBOS peer) is left untouched and accepted.
    /// - Concurrent migrators serialize; all of them succeed.
    ///
    /// # Errors
    /// [`SchemaMismatch`](crate::ErrorKind::SchemaMismatch) for a version this build cannot
    /// interpret (on SQLite, any recorded version below 100).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn migrate(&self) -> Result<SchemaVersion>;

    /// Reads the recorded schema version without changing anything.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn schema_version(&self) -> Result<SchemaVersion>;

    /// Runs a trivial query to prove the database answers.
    ///
    /// # Errors
    /// [`ConnectionLost`](crate::ErrorKind::ConnectionLost) with the real cause when the database
    /// cannot be reached.
    async fn check_connection(&self) -> Result<()>;

    /// Closes the store: waits for in-flight writes, then releases connections. Later calls fail
    /// with [`Closed`](crate::ErrorKind::Closed).
    ///
    /// # Idempotency
    /// Idempotent: closing twice is not an error.
    async fn close(&self) -> Result<()>;
}

/// Workflow rows: insert, read, list, outcome and waits.
#[async_trait]
pub trait WorkflowStore: Debug + Send + Sync + 'static {
    /// Inserts a workflow, or reconciles with the existing row of the same id.
    ///
    /// # Behavior
    /// - A new row gets `creator_xid = workflow.creator_xid`; a `PENDING` row also gets
    ///   `owner_xid = creator_xid`, `recovery_attempts = 1` and, with a timeout, the deadline
    ///   `now + timeout`; `ENQUEUED`/`DELAYED` rows get `recovery_attempts = 0` and no owner. The
    ///   inputs go to `workflow_input`; attributes are written as JSON (`null` when unset).
    /// - An existing row with the same `creator_xid` is this insert's own (a retried commit):
    ///   `should_execute` is true if the row is `PENDING`.
    /// - An existing row created by someone else: `existed = true`, `should_execute = false`;
    ///   under [`IdReusePolicy::Reject`] the call fails instead.
    ///
    /// # Errors
    /// - [`WorkflowConflict`](crate::ErrorKind::WorkflowConflict): the id belongs to a workflow
    ///   with another name, class or config.
    /// - [`WorkflowIdInUse`](crate::ErrorKind::WorkflowIdInUse): reuse policy `Reject` and a
    ///   foreign creator.
    /// - [`Deduplicated`](crate::ErrorKind::Deduplicated): the queue's deduplication id is held by
    ///   another workflow; nothing is written. Under [`DedupPolicy::ReturnExisting`] the call
    ///   instead returns the holder's row with `deduplicated_into = Some(holder)`,
    ///   `existed = true` and `should_execute = false` (if the holder releases the key at that
    ///   moment, the insert is tried again).
    /// - [`InvalidInput`](crate::ErrorKind::InvalidInput): see [`NewWorkflow::validate`].
    ///
    /// # Idempotency
    /// Idempotent: the creator token makes a re-run recognise its own row.
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome>;

    /// Reads workflows by id, with their inputs, outputs and errors, in request order; missing
    /// ids are omitted. Not scoped by application.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    async fn get_workflows(&self, workflow_ids: &[String]) -> Result<Vec<WorkflowInfo>>;

    /// Lists workflows matching every filter of `query`, in `created_at` order (then id).
    ///
    /// # Behavior
    /// Without `workflow_ids` and with `application_name`, matches that application's rows plus
    /// unclaimed rows. Inputs and outputs are loaded only when asked for.
    ///
    /// # Errors
    /// [`Unsupported`](crate::ErrorKind::Unsupported) for an attribute filter on a backend without
    /// [`Capabilities::attribute_filter`].
    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>>;

    /// Records a workflow's final outcome (`SUCCESS` with an output, `ERROR` with an error).
    ///
    /// # Behavior
    /// Applies only while the row is `PENDING` and, when `owner_xid` is given, still owned by that
    /// token. Clears `owner_xid` and `deduplication_id`, stamps `completed_at` and `updated_at`,
    /// and upserts `workflow_output`. Returns whether it applied; `false` means the workflow was
    /// cancelled, dead-lettered, finished, handed off or deleted, and the caller should adopt the
    /// recorded outcome.
    ///
    /// # Errors
    /// Only the transient kinds and invalid input.
    ///
    /// # Idempotency
    /// Idempotent in effect; a re-run after an ambiguous commit that had applied returns `false`
    /// (the row is no longer `PENDING`), and [`WorkflowStore::workflow_result`] shows the outcome.
    async fn record_outcome(
        &self,
        workflow_id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool>;

    /// Reads a workflow's status and, when finished, its outcome.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn workflow_result(&self, workflow_id: &str) -> Result<WorkflowResult>;

    /// Waits until the workflow is terminal and returns its result.
    ///
    /// # Behavior
    /// Re-reads at `poll_interval`; a backend may wake earlier when a write in this process
    /// finishes the workflow. A missing workflow is waited for unless `fail_if_missing`.
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout) after `options.timeout`;
    /// [`NotFound`](crate::ErrorKind::NotFound) with `fail_if_missing`.
    async fn await_workflow_result(
        &self,
        workflow_id: &str,
        options: AwaitOptions,
    ) -> Result<WorkflowResult>;

    /// The id of one workflow of `workflow_ids` that is no longer active (not `PENDING`,
    /// `ENQUEUED` or `DELAYED`), or `None`. Ties are arbitrary.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    async fn first_finished(&self, workflow_ids: &[String]) -> Result<Option<String>>;

    /// Waits until one of `workflow_ids` is no longer active and returns its id.
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout) after `options.timeout`;
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an empty list.
    async fn await_first_finished(
        &self,
        workflow_ids: &[String],
        options: AwaitOptions,
    ) -> Result<String>;

    /// Every descendant of a workflow (children, grandchildren, …), breadth first.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn workflow_children(&self, workflow_id: &str) -> Result<Vec<String>>;
}

/// Step checkpoints: check, record, list, child starts and durable sleeps.
#[async_trait]
pub trait StepStore: Debug + Send + Sync + 'static {
    /// Returns the step recorded at `function_id`, or `None` if the step has not run yet.
    ///
    /// # Errors
    /// - [`Cancelled`](crate::ErrorKind::Cancelled): the workflow is `CANCELLED` (how a running
    ///   workflow notices cancellation at its next step).
    /// - [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep): the recorded step has another
    ///   name.
    /// - [`NotFound`](crate::ErrorKind::NotFound): no such workflow.
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>>;

    /// Records a step's outcome.
    ///
    /// # Behavior
    /// When `owner_xid` is given, first checks in the same transaction that the workflow is still
    /// owned by it. The row copies the workflow's `application_name`. A row already recorded with
    /// the same `completed_at_epoch_ms` is this call's own earlier write, and succeeds.
    ///
    /// # Errors
    /// - [`NotFound`](crate::ErrorKind::NotFound): no such workflow (with or without a token).
    /// - [`NotOwner`](crate::ErrorKind::NotOwner): the workflow is owned by another execution.
    /// - [`StepConflict`](crate::ErrorKind::StepConflict): a rival execution recorded this step
    ///   first (another `completed_at_epoch_ms`); the recorded row is kept.
    ///
    /// # Idempotency
    /// Idempotent: `completed_at_epoch_ms` identifies the attempt.
    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()>;

    /// Lists a workflow's steps by position.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>>;

    /// Starts a child workflow and records it as the parent's step, in one transaction.
    ///
    /// # Behavior
    /// Checks the parent's ownership (when `parent_owner_xid` is given), inserts the child as
    /// [`WorkflowStore::insert_workflow`] does (its `parent_workflow_id` is set to the parent),
    /// then records step `function_id` of the parent with `function_name` = the child's name and
    /// `child_workflow_id`. The child inherits the parent's deadline unless it has its own
    /// timeout or deadline. A deduplicated child is recorded as the parent's step *error* (a
    /// `portable_json` error named `DBOSQueueDeduplicatedError`) and the call fails with
    /// `Deduplicated`, whatever the [`DedupPolicy`]: attaching to the holder would leave the
    /// parent's step naming a child that does not exist.
    ///
    /// # Errors
    /// As `insert_workflow`, plus [`NotOwner`](crate::ErrorKind::NotOwner) and
    /// [`StepConflict`](crate::ErrorKind::StepConflict) when the parent's step names another
    /// child, and [`NotFound`](crate::ErrorKind::NotFound) for a missing parent.
    ///
    /// # Idempotency
    /// Idempotent: the same child at the same step is a retry.
    async fn start_child_workflow(
        &self,
        parent_workflow_id: &str,
        function_id: i32,
        child: NewWorkflow,
        options: InsertOptions,
        parent_owner_xid: Option<&str>,
    ) -> Result<InsertOutcome>;

    /// Records a durable sleep as step `DBOS.sleep` and returns its wake time.
    ///
    /// # Behavior
    /// The first call records `now + duration` as the output (epoch seconds as a float, under
    /// `portable_json`, as DBOS Python writes it; `completed_at_epoch_ms` is the wake time). A
    /// replay returns the recorded wake time, so a recovered sleep keeps its original deadline.
    ///
    /// # Errors
    /// As [`StepStore::record_step`], plus [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep)
    /// if another step is recorded at `function_id`.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn record_sleep(
        &self,
        workflow_id: &str,
        function_id: i32,
        duration: Duration,
        owner_xid: Option<&str>,
    ) -> Result<SleepState>;
}

/// Operator actions on workflows.
#[async_trait]
pub trait ManagementStore: Debug + Send + Sync + 'static {
    /// Cancels workflows: any status except `SUCCESS` and `ERROR` becomes `CANCELLED`, with
    /// `owner_xid`, `queue_name`, `deduplication_id` and `started_at_epoch_ms` cleared and
    /// `completed_at` stamped. Returns the ids that changed. Unknown ids are ignored.
    ///
    /// # Behavior
    /// With `cancel_children`, descendants are cancelled level by level.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    ///
    /// # Idempotency
    /// Idempotent: a cancelled workflow stays cancelled (a re-run returns no ids).
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>>;

    /// Resumes workflows: any status except `SUCCESS` and `ERROR` becomes `ENQUEUED` on the given
    /// queue (default the internal queue) with owner, deadline, deduplication id, start and
    /// completion times cleared and `recovery_attempts = 0`. Returns the ids that changed.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) naming the first unknown id; nothing is changed.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn resume_workflows(
        &self,
        workflow_ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>>;

    /// Forks workflows: each fork is a new `ENQUEUED` workflow that replays the source's steps
    /// below its start step and runs the rest again. All forks commit together or none does.
    ///
    /// # Behavior
    /// - The fork copies the source's name, class, config, `application_id`, auth fields,
    ///   serialization, attributes and inputs; `forked_from` names the source, which gets
    ///   `was_forked_from = true`. It is enqueued on the given queue (default the internal
    ///   queue) and partition, at the given version (default the source's) with the given timeout
    ///   (default the source's) and no deadline, parent, owner or deduplication id. Its owner is
    ///   the source's application, or the request's when the source is unclaimed.
    /// - For a start step `k`, the steps below `k` are copied (child ids rewritten through
    ///   `replacement_children`), with the event history below `k`, the events rebuilt from that
    ///   history (each key's latest value) and the stream entries written below `k`.
    /// - [`ForkStart::LastFailure`] and [`ForkStart::NamedStep`] resolve against the source's
    ///   steps; the resolved step is returned.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) naming the first missing source;
    /// [`Conflict`](crate::ErrorKind::Conflict) when a fork id is already used by a workflow that
    /// is not a fork of the same source; [`InvalidInput`](crate::ErrorKind::InvalidInput) for an
    /// invalid request ([`crate::management::prepare_forks`]) or a start that does not resolve.
    /// Nothing is written on error.
    ///
    /// # Idempotency
    /// Idempotent once every fork has an id ([`RetryingStore`](crate::RetryingStore) assigns them
    /// before the first attempt): a fork id that exists as a fork of the same source counts as
    /// made and is not copied again.
    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>>;

    /// Rewinds a finished workflow in place: it keeps its id, forgets everything from the start
    /// step on, and is enqueued to run again from there.
    ///
    /// # Behavior
    /// Deletes the steps and event history at or after the start step, the events published at
    /// or after it (each key's latest earlier value is restored from the history), the stream
    /// close markers written at or after it (other entries stay), the messages consumed at or
    /// after it and every unconsumed message, and the output. Then the workflow becomes
    /// `ENQUEUED` on the given queue (default the internal queue) with owner, deadline,
    /// deduplication id, start and completion times cleared and `recovery_attempts = 0`, guarded
    /// by its old status.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown id;
    /// [`Conflict`](crate::ErrorKind::Conflict) for a workflow that is not finished (or changed
    /// status while being rewound); [`InvalidInput`](crate::ErrorKind::InvalidInput) for a start
    /// that does not resolve. Nothing is changed on error.
    ///
    /// # Idempotency
    /// Not idempotent: a re-run after an ambiguous commit finds the workflow `ENQUEUED` and fails
    /// with `Conflict`; read the workflow to learn whether the first attempt applied.
    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow>;

    /// Deletes workflows with every row that belongs to them: inputs, outputs and steps
    /// explicitly (they have no foreign key), then the status row (messages, events, event
    /// history and streams cascade). No status guard: running workflows are deleted too. Returns
    /// the ids deleted; unknown ids are ignored.
    ///
    /// # Behavior
    /// With `delete_children`, every descendant (through `parent_workflow_id`) goes too.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    ///
    /// # Idempotency
    /// Idempotent: a re-run deletes nothing more (so after an ambiguous commit re-run by
    /// [`RetryingStore`](crate::RetryingStore) the returned list may be empty even though the
    /// workflows are gone).
    async fn delete_workflows(
        &self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>>;

    /// Replaces or merges a workflow's attribute map and returns the map now stored.
    ///
    /// # Behavior
    /// [`AttributeUpdate::Merge`] overwrites and adds top-level keys and keeps the others; a
    /// workflow without attributes (SQL NULL or JSON `null`) merges into an empty map.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown id;
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for keys or values with a NUL byte.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn update_workflow_attributes(
        &self,
        workflow_id: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        mode: AttributeUpdate,
    ) -> Result<serde_json::Map<String, serde_json::Value>>;

    /// Takes or renews a maintenance lease: granted when nobody holds it, when it expired, or
    /// when `lease.holder` holds it already (the expiry moves to now + ttl). Otherwise returns the
    /// current holder with `acquired = false`.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid lease.
    ///
    /// # Idempotency
    /// Idempotent for the same holder.
    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState>;

    /// Gives a lease up if `lease.holder` holds it; returns whether it did.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn release_lease(&self, lease: &Lease) -> Result<bool>;

    /// Lists up to `limit` workflows that `policy` lets retention delete, oldest first (by
    /// `created_at`, then id). Never lists a workflow that is `PENDING`, `ENQUEUED`, `DELAYED`
    /// or in a status this build does not know.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a policy without a rule.
    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        limit: u32,
    ) -> Result<Vec<String>>;

    /// Deletes collected workflows as [`ManagementStore::delete_workflows`] does, fenced by a
    /// lease: in one transaction it renews `lease` (failing if another holder has it) and deletes
    /// those of `workflow_ids` that are still finished (a workflow resumed meanwhile stays).
    /// Returns the ids deleted.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) ([`crate::management::lease_lost`]) when the
    /// lease is not held by `lease.holder`; nothing is deleted.
    ///
    /// # Idempotency
    /// Idempotent for the same holder.
    async fn delete_collected(&self, lease: &Lease, workflow_ids: &[String])
        -> Result<Vec<String>>;

    /// Deletes up to `limit` rows of each payload table (`workflow_input`, `workflow_output`,
    /// `operation_outputs`) whose workflow's status row is gone, oldest `retention_timestamp`
    /// first, fenced by `lease` as [`ManagementStore::delete_collected`] is.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) when the lease is not held; nothing is deleted.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn sweep_orphans(&self, lease: &Lease, limit: u32) -> Result<OrphanSweep>;

    /// Exports workflows with every row that belongs to them (see [`crate::export`]), in the
    /// order given, each followed by its descendants when `include_children` is set (each
    /// workflow once).
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) naming the first unknown id.
    async fn export_workflows(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>>;

    /// Imports exported workflows in one transaction, writing every row exactly as exported
    /// (`owner_xid` stays NULL). Returns the ids imported.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) naming the first id that exists already (unless
    /// `replace_existing`); [`InvalidInput`](crate::ErrorKind::InvalidInput) for rows that break
    /// the input rules or an id imported twice. Nothing is written on error.
    ///
    /// # Idempotency
    /// Idempotent with `replace_existing`; otherwise a re-run fails with `Conflict`.
    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>>;

    /// Counts workflows created in the range per time bucket, name and status, and steps
    /// completed in the range per bucket and function name (with how many failed).
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an empty range or a bad bucket.
    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics>;

    /// Moves an application's rows to a new name: queues, schedules, versions and in-flight
    /// workflows in one transaction, then finished workflows and step rows in key-range batches
    /// of `batch_size`. The renamed application must be stopped.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) when `to` already has a version of the same name
    /// as one that would move; nothing moves.
    ///
    /// # Idempotency
    /// Idempotent: a re-run (also after an interruption between batches) finishes the move; its
    /// report counts only what that run moved.
    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport>;
}

/// Named cron schedules (`workflow_schedules`).
///
/// Schedule names are global: a name owned by another application cannot be created, upserted or
/// changed through a scoped call.
#[async_trait]
pub trait ScheduleStore: Debug + Send + Sync + 'static {
    /// Creates a schedule.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) when the name or id exists already (the message
    /// names the owner when another application has it);
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid schedule.
    ///
    /// # Idempotency
    /// Not idempotent: a re-run fails with `Conflict`.
    async fn create_schedule(&self, schedule: Schedule) -> Result<()>;

    /// Creates or updates schedules by name, all in one transaction. An existing schedule keeps
    /// its id, status and `last_fired_at` and takes the new workflow, class, cron expression,
    /// context, backfill flag, time zone and queue; its owner is kept unless it was unclaimed.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) when a name belongs to another application;
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid schedule or a name given
    /// twice. Nothing is written on error.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn upsert_schedules(&self, schedules: Vec<Schedule>) -> Result<()>;

    /// Lists schedules passing `filter` (see [`ScheduleFilter::matches`]), by name.
    async fn list_schedules(&self, filter: ScheduleFilter) -> Result<Vec<Schedule>>;

    /// Reads one schedule by name.
    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>>;

    /// Sets a schedule's status to `PAUSED`; returns whether the schedule exists.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn pause_schedule(&self, name: &str) -> Result<bool>;

    /// Sets a schedule's status to `ACTIVE`; returns whether the schedule exists.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn resume_schedule(&self, name: &str) -> Result<bool>;

    /// Records when a schedule last fired (ISO-8601 text, stored as given); returns whether the
    /// schedule exists.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for empty or NUL-containing text.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn record_schedule_fired(&self, name: &str, fired_at: &str) -> Result<bool>;

    /// Deletes a schedule; returns whether it existed.
    ///
    /// # Idempotency
    /// Idempotent (a re-run after an ambiguous commit returns `false`).
    async fn delete_schedule(&self, name: &str) -> Result<bool>;
}

/// Queues: batch enqueue, claims with every limit, delays, debounce, deadlines and recovery, and
/// the queue registry.
///
/// A workflow is enqueued through [`WorkflowStore::insert_workflow`] (status `ENQUEUED`, or
/// `DELAYED` with a release time) or in bulk with [`QueueStore::enqueue_workflows`]; executors
/// take work with [`QueueStore::claim_workflows`], the only way a queued workflow becomes
/// `PENDING`. Set-oriented methods match the given application's rows plus unclaimed rows.
#[async_trait]
pub trait QueueStore: Debug + Send + Sync + 'static {
    /// Enqueues many workflows (each `ENQUEUED` or `DELAYED`) in chunks of
    /// [`crate::queue::ENQUEUE_BATCH`] and returns the ids actually inserted, in input order.
    ///
    /// # Behavior
    /// An id that already exists is skipped (not an error). `created_at` is made strictly
    /// increasing per `(queue, partition key)` in input order, starting after the newest
    /// `ENQUEUED`/`PENDING` row of that queue and partition, so FIFO order follows the input.
    ///
    /// # Errors
    /// [`Deduplicated`](crate::ErrorKind::Deduplicated) if a deduplication id is held (nothing
    /// of that chunk is written); [`InvalidInput`](crate::ErrorKind::InvalidInput) for a
    /// `PENDING` workflow or bad fields.
    ///
    /// # Idempotency
    /// Idempotent: a re-run skips the ids it inserted.
    async fn enqueue_workflows(&self, workflows: Vec<NewWorkflow>) -> Result<Vec<String>>;

    /// Claims enqueued workflows of one queue (DBOS `start_queued_workflows`).
    ///
    /// # Behavior
    /// Computes the budget in DBOS's order — worker concurrency, partition worker concurrency,
    /// rate limit, partition rate limit, concurrency, partition concurrency (rate limits and
    /// concurrency counted in the database, on its clock) — and returns no ids with the first
    /// [`StopReason`] that has no room. Otherwise selects `ENQUEUED` rows of the queue (and
    /// partition) whose version is the executor's, or NULL when the executor's version is the
    /// latest registered one, of the executor's application or unclaimed, ordered by priority then
    /// creation time, up to the budget; and flips them to `PENDING` with `owner_xid`,
    /// `executor_id`, `application_version`, `application_name`, `started_at_epoch_ms` = now,
    /// `rate_limited` = whether the queue has a limiter, `recovery_attempts + 1`, and the
    /// deadline `now + timeout` when none is set. A row is never claimed twice.
    ///
    /// A queue whose only limit is `partition_concurrency = 1`, claimed without a partition key,
    /// takes DBOS's partitioned fast path: the head (by priority, creation time, id) of each of up
    /// to `min(8192, max_tasks)` partitions that have `ENQUEUED` rows and no `PENDING` row.
    ///
    /// # Errors
    /// [`Contention`](crate::ErrorKind::Contention) or
    /// [`SerializationFailure`](crate::ErrorKind::SerializationFailure) when another worker is
    /// claiming from the same queue at the same time: retry at the next poll.
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for any other partitioned queue claimed
    /// without a partition key (list them with [`QueueStore::queue_partitions`] and claim each).
    ///
    /// # Idempotency
    /// **Not idempotent**: a re-run after an ambiguous commit claims nothing more and does not
    /// return the rows the first run claimed. [`crate::RetryingStore`] never re-runs it; the
    /// next poll is the retry.
    async fn claim_workflows(&self, request: ClaimRequest) -> Result<ClaimOutcome>;

    /// The partition keys with `ENQUEUED` rows in `queue_name` (own application plus unclaimed),
    /// in key order.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn queue_partitions(
        &self,
        queue_name: &str,
        application_name: Option<&str>,
    ) -> Result<Vec<String>>;

    /// Releases every `DELAYED` workflow whose release time has passed: it becomes `ENQUEUED`,
    /// and a debounced one gives up its deduplication id. Returns the released ids.
    ///
    /// # Errors
    /// Only the transient kinds.
    ///
    /// # Idempotency
    /// Idempotent; safe when several processes run it at once.
    async fn release_delayed_workflows(&self) -> Result<Vec<String>>;

    /// Sets the release time of a `DELAYED` workflow. Returns whether it was `DELAYED`.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn set_workflow_delay(&self, workflow_id: &str, until_epoch_ms: EpochMs) -> Result<bool>;

    /// Pushes back a delayed, debounced workflow (DBOS `debounce_delayed_workflow`).
    ///
    /// # Behavior
    /// Matches the `DELAYED`, debounced row holding `deduplication_id` on the queue with the same
    /// function name and application (or unclaimed); sets its release time to the smaller of the
    /// request's and the row's `debounce_deadline_epoch_ms`, replaces its inputs, and claims it
    /// for the application. Otherwise reports who holds the key, or that nobody does.
    ///
    /// # Errors
    /// Only the transient kinds and invalid input.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn debounce_workflow(&self, request: DebounceRequest) -> Result<DebounceOutcome>;

    /// The workflow holding a deduplication id in a queue, if any.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn deduplicated_workflow(
        &self,
        queue_name: &str,
        deduplication_id: &str,
    ) -> Result<Option<String>>;

    /// Cancels up to `limit` active workflows (`ENQUEUED`, `PENDING`, `DELAYED`) whose deadline
    /// has passed, oldest deadline first, own application plus unclaimed; returns their ids.
    ///
    /// # Errors
    /// Only the transient kinds.
    ///
    /// # Idempotency
    /// Idempotent; safe when several processes run it at once.
    async fn cancel_timed_out_workflows(
        &self,
        limit: u32,
        application_name: Option<&str>,
    ) -> Result<Vec<String>>;

    /// The `PENDING` workflows of an executor at a version (own application plus unclaimed):
    /// what a restarted executor must recover.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn pending_workflows(
        &self,
        executor_id: &str,
        application_version: Option<&str>,
        application_name: Option<&str>,
    ) -> Result<Vec<String>>;

    /// Re-enqueues `PENDING` workflows of dead executors for recovery: `ENQUEUED`, owner and start
    /// time cleared, on their queue or the internal queue. Recovery never executes directly: a
    /// claim admits exactly one runner. Returns the ids re-enqueued.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn reenqueue_for_recovery(
        &self,
        workflow_ids: &[String],
        dead_executor_ids: &[String],
    ) -> Result<Vec<String>>;

    /// Dead-letters `PENDING` workflows whose `recovery_attempts` reached
    /// `min_recovery_attempts`: status `MAX_RECOVERY_ATTEMPTS_EXCEEDED`, owner, deduplication id,
    /// start time and queue cleared, `completed_at` stamped. Returns the ids changed.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn dead_letter_workflows(
        &self,
        workflow_ids: &[String],
        min_recovery_attempts: i64,
    ) -> Result<Vec<String>>;

    /// Registers a queue; returns whether it was created (false when it existed).
    ///
    /// # Behavior
    /// The owner of an existing queue is kept (`COALESCE(existing, caller's)`); `policy` says
    /// whether its definition is replaced.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an empty name or the reserved
    /// `_dbos_` prefix; [`WorkflowConflict`](crate::ErrorKind::WorkflowConflict) when another
    /// application owns the name.
    ///
    /// # Idempotency
    /// Idempotent (a re-run reports `false`).
    async fn upsert_queue(
        &self,
        queue: QueueDefinition,
        policy: QueueConflictPolicy,
    ) -> Result<bool>;

    /// Reads a queue definition.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn get_queue(&self, name: &str) -> Result<Option<QueueDefinition>>;

    /// Lists queue definitions (own application plus unclaimed), by name.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn list_queues(&self, application_name: Option<&str>) -> Result<Vec<QueueDefinition>>;

    /// Changes the given fields of a queue and returns the new definition.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown queue.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn update_queue(&self, name: &str, update: QueueUpdate) -> Result<QueueDefinition>;

    /// Deletes a queue definition; returns whether it existed. Its workflows are untouched.
    ///
    /// # Errors
    /// Only the transient kinds.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn delete_queue(&self, name: &str) -> Result<bool>;
}

/// Application versions: which version is latest decides who may run version-less workflows.
#[async_trait]
pub trait VersionStore: Debug + Send + Sync + 'static {
    /// Registers (or claims) a version for an application, as every launch does.
    ///
    /// # Behavior
    /// Claims an unclaimed row with the same name for the application; otherwise inserts a new
    /// row (`ON CONFLICT DO NOTHING`); then returns the row. A new row's timestamp is now, so the
    /// newest registered version is the latest.
    ///
    /// # Errors
    /// [`WorkflowConflict`](crate::ErrorKind::WorkflowConflict) when another application owns the
    /// version name.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn create_application_version(
        &self,
        version_name: &str,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion>;

    /// Lists versions (own application plus unclaimed), newest timestamp first.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn list_application_versions(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<ApplicationVersion>>;

    /// The latest version (largest timestamp, own application plus unclaimed).
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) when no version is registered.
    async fn latest_application_version(
        &self,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion>;

    /// Makes a registered version the latest by setting its timestamp to `timestamp`.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown version of the application.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn set_application_version_timestamp(
        &self,
        version_name: &str,
        timestamp: EpochMs,
        application_name: Option<&str>,
    ) -> Result<()>;
}

/// Messages between workflows: send (one step inside a workflow) and receive with a durable
/// timeout.
#[async_trait]
pub trait MessageStore: Debug + Send + Sync + 'static {
    /// Sends messages, in one transaction.
    ///
    /// # Behavior
    /// - `caller = None` (a client): the messages are inserted, nothing is recorded.
    /// - Called from a workflow (`caller.in_step == false`): the whole batch is the caller's step
    ///   `function_id`, named [`SEND_STEP`] for one message and
    ///   [`SEND_BULK_STEP`] (output: the message count) for
    ///   more. A replay sends nothing and returns `replayed = true`; a replay whose batch size
    ///   changed is refused. A missing destination is also recorded as the step's error, so its
    ///   replay fails the same way.
    /// - Called inside a step: no step row; the workflow's ownership is checked.
    /// - A message with an idempotency key gets `message_uuid = "{key}::{destination}"` and a
    ///   re-send is dropped; others get a fresh uuid. A `None` topic is stored as
    ///   [`NULL_TOPIC`].
    /// - With `send_to_forks`, each message also goes to every workflow forked, recursively,
    ///   from its destination, resolved in the same transaction.
    /// - Receivers waiting in this process are woken after the commit (on PostgreSQL the
    ///   `notifications` trigger wakes the others).
    ///
    /// # Errors
    /// - [`NotFound`](crate::ErrorKind::NotFound) naming a destination that does not exist;
    ///   nothing is delivered.
    /// - [`InvalidInput`](crate::ErrorKind::InvalidInput): an empty batch, a duplicate
    ///   idempotency key for one destination in the batch, or an invalid field.
    /// - [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep): the caller's step holds another
    ///   operation, or a replay's batch size differs.
    /// - [`NotOwner`](crate::ErrorKind::NotOwner), [`Cancelled`](crate::ErrorKind::Cancelled)
    ///   for the calling workflow.
    ///
    /// # Idempotency
    /// Idempotent when called from a workflow (the step records it) or when every message has an
    /// idempotency key; otherwise a re-run after an ambiguous commit may deliver twice.
    async fn send_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        caller: Option<Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome>;

    /// Receives the oldest unconsumed message on a topic, waiting for one up to a durable
    /// timeout.
    ///
    /// # Behavior
    /// 1. A replay returns what the first run received (`None` for a timeout).
    /// 2. Otherwise the timeout is recorded as a `DBOS.sleep` at `timeout_function_id`, so a
    ///    recovered receive keeps its original deadline.
    /// 3. The wait re-checks the database at `options.poll_interval` (or later when a proven
    ///    listener delivers wake-ups) and wakes early on a send; it holds no connection while
    ///    waiting.
    /// 4. One transaction marks the oldest unconsumed message (by `created_at_epoch_ms`)
    ///    `consumed`, with `consumed_by_function_id`, and records step `DBOS.recv` with the
    ///    message in its own serialization, or with no outcome on timeout.
    ///
    /// `options.timeout` is not used: the request's timeout is the wait's bound.
    ///
    /// # Errors
    /// [`Interrupted`](crate::ErrorKind::Interrupted) when `options.cancel` fires (nothing is
    /// consumed); [`Cancelled`](crate::ErrorKind::Cancelled),
    /// [`NotOwner`](crate::ErrorKind::NotOwner),
    /// [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep),
    /// [`NotFound`](crate::ErrorKind::NotFound) for the receiving workflow.
    ///
    /// # Idempotency
    /// Idempotent: the consuming transaction returns the recorded step if there is one.
    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>>;
}

/// Workflow events: key/value pairs a workflow publishes, with their per-step history.
#[async_trait]
pub trait EventStore: Debug + Send + Sync + 'static {
    /// Publishes an event of the caller's workflow, in one transaction.
    ///
    /// # Behavior
    /// - From a workflow: upserts the current value (`workflow_events`) and the history row at
    ///   the caller's step (`workflow_events_history`), and records step `DBOS.setEvent`. A
    ///   replay writes nothing and returns `replayed = true`.
    /// - Inside a step: the same two upserts under the enclosing step's position; no step row;
    ///   the workflow's ownership is checked.
    /// - Waiters are woken after the commit; PostgreSQL also signals
    ///   `dbos_workflow_events_channel` with `"{workflow_id}::{key}"` so DBOS peers wake.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for a missing workflow,
    /// [`NotOwner`](crate::ErrorKind::NotOwner), [`Cancelled`](crate::ErrorKind::Cancelled),
    /// [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn set_event(&self, caller: Caller, key: &str, value: Payload)
        -> Result<SetEventOutcome>;

    /// Reads another workflow's event, waiting up to the request's timeout for it to exist.
    ///
    /// # Behavior
    /// From a workflow: a replay returns the first run's result (`None` for a timeout); the
    /// timeout is recorded as a `DBOS.sleep` at `timeout_function_id`; the result is recorded
    /// as step `DBOS.getEvent`. Outside a workflow nothing is recorded. The wait holds no
    /// connection, re-checks at `options.poll_interval` and wakes early when the event is set.
    /// `options.timeout` is not used.
    ///
    /// # Errors
    /// [`Interrupted`](crate::ErrorKind::Interrupted) when `options.cancel` fires; for a calling
    /// workflow, as [`StepStore::check_step`] and [`StepStore::record_step`].
    ///
    /// # Idempotency
    /// Idempotent.
    async fn get_event(
        &self,
        request: GetEventRequest,
        options: AwaitOptions,
    ) -> Result<Option<Payload>>;

    /// Every current event of a workflow, by key. Empty for a missing workflow.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    async fn get_all_events(&self, workflow_id: &str) -> Result<BTreeMap<String, Payload>>;
}

/// Append-only streams of values a workflow writes and anyone reads.
#[async_trait]
pub trait StreamStore: Debug + Send + Sync + 'static {
    /// Appends a value to the caller's stream `key` at the next offset (0-based, dense even
    /// under concurrent writers).
    ///
    /// # Behavior
    /// From a workflow: one transaction appends and records step `DBOS.writeStream`; a replay
    /// writes nothing. Inside a step: the append is checked against the workflow's ownership;
    /// no step row (a retried step may append twice). Waiters are woken after the commit;
    /// PostgreSQL also signals `dbos_streams_channel`.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a closed stream or the close
    /// sentinel as a value; [`NotFound`](crate::ErrorKind::NotFound) for a missing workflow;
    /// [`NotOwner`](crate::ErrorKind::NotOwner), [`Cancelled`](crate::ErrorKind::Cancelled),
    /// [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep).
    ///
    /// # Idempotency
    /// Idempotent from a workflow; not idempotent inside a step.
    async fn write_stream(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<StreamWriteOutcome>;

    /// Closes the caller's stream `key` by appending the sentinel
    /// [`STREAM_CLOSED_SENTINEL`] (`portable_json`),
    /// as step `DBOS.closeStream` from a workflow.
    ///
    /// # Errors
    /// As [`StreamStore::write_stream`]; closing a closed stream is not an error (nothing is
    /// appended, `offset = None`).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn close_stream(&self, caller: Caller, key: &str) -> Result<StreamWriteOutcome>;

    /// Reads consecutive values from `options.from_offset`, with the writer's status, in one
    /// statement. Stops at the first missing offset, at the limit, or at the close sentinel
    /// (`closed = true`). A terminal writer does not mean the stream is complete.
    ///
    /// # Errors
    /// Only the transient kinds and invalid input.
    async fn read_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
    ) -> Result<StreamRead>;

    /// Waits until a read from `options.from_offset` returns a value, finds the stream closed,
    /// or finds the writer inactive (finished or missing), and returns that read.
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout) after `wait.timeout`;
    /// [`Interrupted`](crate::ErrorKind::Interrupted) when `wait.cancel` fires.
    async fn await_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
        wait: AwaitOptions,
    ) -> Result<StreamRead>;
}

/// A DBOS system database: the sum of every area trait.
///
/// Implemented automatically for every type that implements all of them; hold it as
/// `Arc<dyn SystemStore>` ([`DynSystemStore`]).
pub trait SystemStore:
    LifecycleStore
    + WorkflowStore
    + StepStore
    + ManagementStore
    + QueueStore
    + VersionStore
    + MessageStore
    + EventStore
    + StreamStore
    + ScheduleStore
{
}

impl<T> SystemStore for T where
    T: LifecycleStore
        + WorkflowStore
        + StepStore
        + ManagementStore
        + QueueStore
        + VersionStore
        + MessageStore
        + EventStore
        + StreamStore
        + ScheduleStore
{
}

/// The dynamic form of a system store.
pub type DynSystemStore = dyn SystemStore;
