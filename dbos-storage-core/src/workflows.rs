//! The workflows area: [`WorkflowStore`] and the plain data that crosses it (new workflows,
//! rows, statuses, list queries, outcomes and results, waits).

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::{new_token, EpochMs, Payload, Result, Serialization};

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
    ///   `should_execute` is true if the row is `PENDING` and still owned by the creator
    ///   (`owner_xid = creator_xid`), so a retried enqueue never executes a workflow a worker
    ///   has claimed since.
    /// - An existing row created by someone else: `existed = true`, `should_execute = false`;
    ///   under [`IdReusePolicy::Reject`] the call fails instead.
    ///
    /// # Errors
    /// - [`WorkflowConflict`](crate::ErrorKind::WorkflowConflict): the id belongs to a workflow
    ///   with another name, class or config; the message names the id, and the existing and
    ///   the attempted workflow's name, class and config (each quoted, when set).
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
    /// Without `workflow_ids` and with `application_name`, matches those applications' rows plus
    /// unclaimed rows. Every filter, multi-valued ones included (an `IN` list, an `OR` of
    /// prefixes), is answered by the database before `limit` and `offset`, so pages are exact.
    /// An empty list matches nothing (for `application_name`: only unclaimed rows). Inputs and
    /// outputs are loaded only when asked for.
    ///
    /// # Errors
    /// [`Unsupported`](crate::ErrorKind::Unsupported) for an attribute filter on a backend without
    /// [`Capabilities::attribute_filter`](crate::Capabilities::attribute_filter).
    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>>;

    /// Records a workflow's final outcome (`SUCCESS` with an output, `ERROR` with an error).
    ///
    /// # Behavior
    /// [`Outcome::Void`] records `SUCCESS` with SQL NULL in `output`, as DBOS does for a
    /// workflow that returns nothing; [`Outcome::Output`] stores its text, `null` included, and
    /// [`WorkflowStore::workflow_result`] reads each back as it was written.
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
    /// # Behavior
    /// A `SUCCESS` row whose output is SQL NULL (a void return, as DBOS writes it) reads as
    /// [`Outcome::Void`]; output text reads as [`Outcome::Output`], the text `null` included. An
    /// `ERROR` row whose error is NULL reads as the error `null`.
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

/// The status of a workflow, stored as text in `workflow_status.status`.
///
/// Other DBOS SDKs may write values this build does not know; they are kept as
/// [`WorkflowStatus::Other`] instead of failing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkflowStatus {
    /// Running, owned by an executor.
    Pending,
    /// Waiting in a queue.
    Enqueued,
    /// Waiting for its delay to expire before it is enqueued.
    Delayed,
    /// Finished with an output.
    Success,
    /// Finished with an error.
    Error,
    /// Cancelled by a user or by its deadline.
    Cancelled,
    /// Dead-lettered after too many recovery attempts.
    MaxRecoveryAttemptsExceeded,
    /// A status written by another SDK that this build does not know.
    Other(String),
}

impl WorkflowStatus {
    /// Every status this build knows, in DBOS's order.
    pub const KNOWN: [WorkflowStatus; 7] = [
        WorkflowStatus::Pending,
        WorkflowStatus::Enqueued,
        WorkflowStatus::Delayed,
        WorkflowStatus::Success,
        WorkflowStatus::Error,
        WorkflowStatus::Cancelled,
        WorkflowStatus::MaxRecoveryAttemptsExceeded,
    ];

    /// The exact text stored in the database.
    pub fn as_str(&self) -> &str {
        match self {
            WorkflowStatus::Pending => "PENDING",
            WorkflowStatus::Enqueued => "ENQUEUED",
            WorkflowStatus::Delayed => "DELAYED",
            WorkflowStatus::Success => "SUCCESS",
            WorkflowStatus::Error => "ERROR",
            WorkflowStatus::Cancelled => "CANCELLED",
            WorkflowStatus::MaxRecoveryAttemptsExceeded => "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
            WorkflowStatus::Other(s) => s,
        }
    }

    /// Parses stored text; unknown values become [`WorkflowStatus::Other`].
    pub fn parse(text: &str) -> WorkflowStatus {
        Self::KNOWN
            .iter()
            .find(|s| s.as_str() == text)
            .cloned()
            .unwrap_or_else(|| WorkflowStatus::Other(text.to_owned()))
    }

    /// Whether the workflow still has work to do (`PENDING`, `ENQUEUED` or `DELAYED`).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            WorkflowStatus::Pending | WorkflowStatus::Enqueued | WorkflowStatus::Delayed
        )
    }

    /// Whether the workflow finished with an outcome (`SUCCESS` or `ERROR`); cancel never
    /// overwrites these.
    pub fn is_finished(&self) -> bool {
        matches!(self, WorkflowStatus::Success | WorkflowStatus::Error)
    }

    /// Whether the workflow ended: `SUCCESS`, `ERROR`, `CANCELLED` or
    /// `MAX_RECOVERY_ATTEMPTS_EXCEEDED`. Rewind and retention act only on these; a status this
    /// build does not know is never terminal.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            WorkflowStatus::Success
                | WorkflowStatus::Error
                | WorkflowStatus::Cancelled
                | WorkflowStatus::MaxRecoveryAttemptsExceeded
        )
    }
}

/// Serializes as the stored text (`"PENDING"`).
impl serde::Serialize for WorkflowStatus {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Deserializes stored text as [`WorkflowStatus::parse`] does.
impl<'de> serde::Deserialize<'de> for WorkflowStatus {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| WorkflowStatus::parse(&text))
    }
}

impl std::fmt::Display for WorkflowStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The statuses a new workflow row may start in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InitialStatus {
    /// A direct start: the inserting execution owns and runs it (`recovery_attempts` = 1).
    Pending,
    /// Enqueued on `queue_name` (`recovery_attempts` = 0).
    Enqueued,
    /// Enqueued once `delay_until_epoch_ms` has passed.
    Delayed,
}

impl InitialStatus {
    /// The matching [`WorkflowStatus`].
    pub fn status(self) -> WorkflowStatus {
        match self {
            InitialStatus::Pending => WorkflowStatus::Pending,
            InitialStatus::Enqueued => WorkflowStatus::Enqueued,
            InitialStatus::Delayed => WorkflowStatus::Delayed,
        }
    }
}

/// A workflow to insert with [`crate::WorkflowStore::insert_workflow`].
///
/// Build it with [`NewWorkflow::new`] and the setters; every optional column defaults to NULL.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewWorkflow {
    /// The workflow id (`workflow_uuid`). Must not be empty.
    pub workflow_id: String,
    /// The initial status.
    pub status: InitialStatus,
    /// The registered workflow function name.
    pub name: String,
    /// The class of a method workflow.
    pub class_name: Option<String>,
    /// The configured instance name of a method workflow.
    pub config_name: Option<String>,
    /// The queue; required for `Enqueued` and `Delayed`.
    pub queue_name: Option<String>,
    /// Deduplication id, unique per queue while set.
    pub deduplication_id: Option<String>,
    /// Queue priority; lower runs first. Defaults to 0.
    pub priority: i32,
    /// Queue partition key.
    pub queue_partition_key: Option<String>,
    /// The authenticated user.
    pub authenticated_user: Option<String>,
    /// The assumed role.
    pub assumed_role: Option<String>,
    /// The authenticated roles (stored as a JSON array of strings).
    pub authenticated_roles: Option<Vec<String>>,
    /// The executor that runs it; `None` for client enqueues.
    pub executor_id: Option<String>,
    /// The application version that must run it; `None` = any executor on the latest version.
    pub application_version: Option<String>,
    /// `DBOS__APPID`.
    pub application_id: Option<String>,
    /// The owning application; `None` = unclaimed.
    pub application_name: Option<String>,
    /// Timeout; a direct start also sets the deadline to now + timeout.
    pub timeout: Option<Duration>,
    /// Absolute deadline (epoch ms); takes precedence over the timeout.
    pub deadline_epoch_ms: Option<EpochMs>,
    /// Release time of a `Delayed` workflow.
    pub delay_until_epoch_ms: Option<EpochMs>,
    /// The parent workflow of a child.
    pub parent_workflow_id: Option<String>,
    /// The workflow this one was forked from (`forked_from`); messages sent with
    /// [`crate::SendOptions::send_to_forks`] to the source reach it too.
    pub forked_from: Option<String>,
    /// Whether the deduplication id is a debounce key (`is_debounced`): a `DELAYED` workflow
    /// that [`crate::QueueStore::debounce_workflow`] may push back.
    pub is_debounced: bool,
    /// The latest release time a debounce may push a debounced workflow to.
    pub debounce_deadline_epoch_ms: Option<EpochMs>,
    /// The named schedule that started it (`schedule_name`), as DBOS records a scheduled run;
    /// [`ListWorkflowsQuery::schedule_name`] finds it by that name. `None` (SQL NULL) for every
    /// other start.
    pub schedule_name: Option<String>,
    /// The encoded inputs.
    pub inputs: Payload,
    /// The user attribute map (JSON object), or `None` (stored as JSON `null`).
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Token of this insert attempt: written to `creator_xid` (and `owner_xid` for a direct
    /// start). Create it once, outside any retry, with [`new_token`].
    pub creator_xid: String,
}

impl NewWorkflow {
    /// A new direct start (`PENDING`) of `name` with `inputs` and a fresh creator token.
    pub fn new(workflow_id: impl Into<String>, name: impl Into<String>, inputs: Payload) -> Self {
        NewWorkflow {
            workflow_id: workflow_id.into(),
            status: InitialStatus::Pending,
            name: name.into(),
            class_name: None,
            config_name: None,
            queue_name: None,
            deduplication_id: None,
            priority: 0,
            queue_partition_key: None,
            authenticated_user: None,
            assumed_role: None,
            authenticated_roles: None,
            executor_id: None,
            application_version: None,
            application_id: None,
            application_name: None,
            timeout: None,
            deadline_epoch_ms: None,
            delay_until_epoch_ms: None,
            parent_workflow_id: None,
            forked_from: None,
            is_debounced: false,
            debounce_deadline_epoch_ms: None,
            schedule_name: None,
            inputs,
            attributes: None,
            creator_xid: new_token(),
        }
    }

    /// Enqueues it on `queue` instead of starting it directly.
    #[must_use]
    pub fn enqueued(mut self, queue: impl Into<String>) -> Self {
        self.status = InitialStatus::Enqueued;
        self.queue_name = Some(queue.into());
        self
    }

    /// Delays it on `queue` until `until_epoch_ms`.
    #[must_use]
    pub fn delayed(mut self, queue: impl Into<String>, until_epoch_ms: EpochMs) -> Self {
        self.status = InitialStatus::Delayed;
        self.queue_name = Some(queue.into());
        self.delay_until_epoch_ms = Some(until_epoch_ms);
        self
    }

    /// Makes it a debounced workflow: `DELAYED` on `queue` until `until_epoch_ms`, holding the
    /// debounce key `"{name}-{debounce_key}"` as its deduplication id, and never released later
    /// than `deadline_epoch_ms` by a debounce.
    #[must_use]
    pub fn debounced(
        mut self,
        queue: impl Into<String>,
        debounce_key: &str,
        until_epoch_ms: EpochMs,
        deadline_epoch_ms: Option<EpochMs>,
    ) -> Self {
        self = self.delayed(queue, until_epoch_ms);
        self.deduplication_id = Some(format!("{}-{debounce_key}", self.name));
        self.is_debounced = true;
        self.debounce_deadline_epoch_ms = deadline_epoch_ms;
        self
    }

    /// Sets the class and instance names of a method workflow.
    #[must_use]
    pub fn with_class(mut self, class_name: Option<String>, config_name: Option<String>) -> Self {
        self.class_name = class_name;
        self.config_name = config_name;
        self
    }

    /// Records the named schedule that starts this run (`schedule_name`).
    #[must_use]
    pub fn with_schedule_name(mut self, schedule_name: impl Into<String>) -> Self {
        self.schedule_name = Some(schedule_name.into());
        self
    }

    /// Sets the deduplication id.
    #[must_use]
    pub fn with_deduplication_id(mut self, id: impl Into<String>) -> Self {
        self.deduplication_id = Some(id.into());
        self
    }

    /// Sets the priority.
    #[must_use]
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the executor id.
    #[must_use]
    pub fn with_executor(mut self, executor_id: impl Into<String>) -> Self {
        self.executor_id = Some(executor_id.into());
        self
    }

    /// Sets the application version.
    #[must_use]
    pub fn with_application_version(mut self, version: impl Into<String>) -> Self {
        self.application_version = Some(version.into());
        self
    }

    /// Sets the owning application.
    #[must_use]
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Sets the parent workflow.
    #[must_use]
    pub fn with_parent(mut self, parent_workflow_id: impl Into<String>) -> Self {
        self.parent_workflow_id = Some(parent_workflow_id.into());
        self
    }

    /// Marks the workflow as a fork of `source_workflow_id`.
    #[must_use]
    pub fn with_forked_from(mut self, source_workflow_id: impl Into<String>) -> Self {
        self.forked_from = Some(source_workflow_id.into());
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the absolute deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline_epoch_ms: EpochMs) -> Self {
        self.deadline_epoch_ms = Some(deadline_epoch_ms);
        self
    }

    /// Sets the authenticated user, assumed role and roles.
    #[must_use]
    pub fn with_auth(
        mut self,
        user: Option<String>,
        assumed_role: Option<String>,
        roles: Option<Vec<String>>,
    ) -> Self {
        self.authenticated_user = user;
        self.assumed_role = assumed_role;
        self.authenticated_roles = roles;
        self
    }

    /// Sets the attribute map.
    #[must_use]
    pub fn with_attributes(mut self, attrs: serde_json::Map<String, serde_json::Value>) -> Self {
        self.attributes = Some(attrs);
        self
    }

    /// Sets the creator token (by default a fresh one from [`new_token`]).
    #[must_use]
    pub fn with_creator_xid(mut self, token: impl Into<String>) -> Self {
        self.creator_xid = token.into();
        self
    }

    /// Checks the fields a store relies on: a non-empty id and name, a queue for queued
    /// statuses, a delay for `Delayed`, payload text without NUL bytes, and a schedule name (when
    /// set) that a schedule could have (non-empty, bounded).
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> crate::Result<()> {
        crate::validate::workflow_id(&self.workflow_id)?;
        if self.name.is_empty() {
            return Err(crate::Error::invalid_input(format!(
                "workflow {:?} has an empty name; every workflow needs its registered function name",
                self.workflow_id
            )));
        }
        if self.creator_xid.is_empty() {
            return Err(crate::Error::invalid_input(
                "creator_xid is empty; create one with new_token()",
            ));
        }
        if matches!(
            self.status,
            InitialStatus::Enqueued | InitialStatus::Delayed
        ) && self.queue_name.as_deref().is_none_or(str::is_empty)
        {
            return Err(crate::Error::invalid_input(format!(
                "workflow {:?} is enqueued without a queue name",
                self.workflow_id
            )));
        }
        if self.status == InitialStatus::Delayed && self.delay_until_epoch_ms.is_none() {
            return Err(crate::Error::invalid_input(format!(
                "workflow {:?} is DELAYED without delay_until_epoch_ms",
                self.workflow_id
            )));
        }
        self.inputs.validate("workflow input")?;
        if let Some(attrs) = &self.attributes {
            crate::validate::attributes(attrs)?;
        }
        use crate::validate::{
            MAX_CLASS_NAME_BYTES, MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_PARTITION_KEY_BYTES,
            MAX_WORKFLOW_ID_BYTES,
        };
        const UNBOUNDED: usize = crate::payload::MAX_PAYLOAD_BYTES;
        for (what, v, max) in [
            ("workflow name", Some(&self.name), MAX_NAME_BYTES),
            ("class name", self.class_name.as_ref(), MAX_CLASS_NAME_BYTES),
            (
                "config name",
                self.config_name.as_ref(),
                MAX_CLASS_NAME_BYTES,
            ),
            ("queue name", self.queue_name.as_ref(), MAX_NAME_BYTES),
            (
                "deduplication id",
                self.deduplication_id.as_ref(),
                MAX_KEY_BYTES,
            ),
            (
                "partition key",
                self.queue_partition_key.as_ref(),
                MAX_PARTITION_KEY_BYTES,
            ),
            (
                "authenticated user",
                self.authenticated_user.as_ref(),
                UNBOUNDED,
            ),
            ("assumed role", self.assumed_role.as_ref(), UNBOUNDED),
            ("application id", self.application_id.as_ref(), UNBOUNDED),
            ("creator token", Some(&self.creator_xid), UNBOUNDED),
            ("executor id", self.executor_id.as_ref(), UNBOUNDED),
            (
                "application version",
                self.application_version.as_ref(),
                UNBOUNDED,
            ),
            (
                "application name",
                self.application_name.as_ref(),
                MAX_NAME_BYTES,
            ),
            (
                "parent workflow id",
                self.parent_workflow_id.as_ref(),
                MAX_WORKFLOW_ID_BYTES,
            ),
            (
                "forked-from workflow id",
                self.forked_from.as_ref(),
                MAX_WORKFLOW_ID_BYTES,
            ),
        ] {
            if let Some(v) = v {
                crate::validate::bounded(what, v, max)?;
            }
        }
        for role in self.authenticated_roles.iter().flatten() {
            crate::validate::filter("authenticated role", role)?;
        }
        if let Some(schedule) = &self.schedule_name {
            crate::schedules::validate_schedule_name(schedule)?;
        }
        Ok(())
    }
}

/// What happens when an insert finds the workflow id already taken by another creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdReusePolicy {
    /// Attach to the existing workflow: the caller gets `should_execute = false` and polls for
    /// its outcome. DBOS's default.
    #[default]
    Attach,
    /// Fail with [`crate::ErrorKind::WorkflowIdInUse`].
    Reject,
}

/// What happens when an enqueue finds its deduplication id held by another workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DedupPolicy {
    /// Fail with [`crate::ErrorKind::Deduplicated`]. DBOS's default.
    #[default]
    Reject,
    /// Attach to the holder: the outcome names it in [`InsertOutcome::deduplicated_into`].
    ReturnExisting,
}

/// Options of [`crate::WorkflowStore::insert_workflow`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct InsertOptions {
    /// What to do when another creator owns the id.
    pub reuse_policy: IdReusePolicy,
    /// What to do when the deduplication id is held.
    pub dedup_policy: DedupPolicy,
}

impl InsertOptions {
    /// Sets the reuse policy.
    #[must_use]
    pub fn reuse_policy(mut self, policy: IdReusePolicy) -> Self {
        self.reuse_policy = policy;
        self
    }

    /// Sets the deduplication policy.
    #[must_use]
    pub fn dedup_policy(mut self, policy: DedupPolicy) -> Self {
        self.dedup_policy = policy;
        self
    }
}

/// The result of inserting (or finding) a workflow row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InsertOutcome {
    /// The row's status after the insert.
    pub status: WorkflowStatus,
    /// Whether the caller should execute the workflow: true when this insert created the row (or a
    /// retry of this insert found its own row), the row is `PENDING`, and the creator still owns
    /// it (no worker claimed it since).
    pub should_execute: bool,
    /// Whether the row existed before this call, created by another insert.
    pub existed: bool,
    /// The row's queue.
    pub queue_name: Option<String>,
    /// The row's serialization label.
    pub serialization: Option<Serialization>,
    /// Under [`DedupPolicy::ReturnExisting`], the workflow that holds the deduplication id; the
    /// other fields then describe that workflow's row.
    pub deduplicated_into: Option<String>,
}

impl InsertOutcome {
    /// An outcome with the given status and flags, no queue and no serialization label; set the
    /// other public fields afterwards. (The struct is `#[non_exhaustive]`, so stores outside this
    /// crate build it here.)
    pub fn new(status: WorkflowStatus, should_execute: bool, existed: bool) -> Self {
        InsertOutcome {
            status,
            should_execute,
            existed,
            queue_name: None,
            serialization: None,
            deduplicated_into: None,
        }
    }
}

/// A workflow's row, as read back by `get`/`list`.
///
/// Serializes as an object of its fields (statuses as stored): the form a read run as a step
/// records ([`crate::workflow_steps`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct WorkflowInfo {
    /// The id.
    pub workflow_id: String,
    /// The status.
    pub status: WorkflowStatus,
    /// The function name.
    pub name: String,
    /// The class name.
    pub class_name: Option<String>,
    /// The instance name.
    pub config_name: Option<String>,
    /// The authenticated user.
    pub authenticated_user: Option<String>,
    /// The assumed role.
    pub assumed_role: Option<String>,
    /// The authenticated roles.
    pub authenticated_roles: Option<Vec<String>>,
    /// The executor that last ran or claimed it.
    pub executor_id: Option<String>,
    /// Creation time (epoch ms).
    pub created_at: EpochMs,
    /// Last update time (epoch ms).
    pub updated_at: EpochMs,
    /// The application version.
    pub application_version: Option<String>,
    /// The application id.
    pub application_id: Option<String>,
    /// The owning application.
    pub application_name: Option<String>,
    /// Claims and direct starts so far.
    pub recovery_attempts: i64,
    /// The queue, while queued.
    pub queue_name: Option<String>,
    /// The timeout in milliseconds.
    pub workflow_timeout_ms: Option<i64>,
    /// The deadline (epoch ms).
    pub workflow_deadline_epoch_ms: Option<EpochMs>,
    /// When a queue claimed it (epoch ms), reported by DBOS as `dequeued_at`.
    pub started_at_epoch_ms: Option<EpochMs>,
    /// The deduplication id.
    pub deduplication_id: Option<String>,
    /// The priority.
    pub priority: i32,
    /// The partition key.
    pub queue_partition_key: Option<String>,
    /// The workflow this one was forked from.
    pub forked_from: Option<String>,
    /// Whether a fork was made from this workflow.
    pub was_forked_from: bool,
    /// The parent of a child workflow.
    pub parent_workflow_id: Option<String>,
    /// Release time of a delayed workflow.
    pub delay_until_epoch_ms: Option<EpochMs>,
    /// When it reached a terminal status (epoch ms).
    pub completed_at: Option<EpochMs>,
    /// The schedule that enqueued it.
    pub schedule_name: Option<String>,
    /// The user attribute map.
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// The ownership token of the live execution (`owner_xid`): the creator's token for a direct
    /// start, the claim's token once a queue claimed it; `None` when nobody runs it (queued,
    /// finished, cancelled, recovered).
    pub owner_xid: Option<String>,
    /// Whether it was claimed under its queue's rate limiter (`rate_limited`), which counts it
    /// in its window.
    pub rate_limited: bool,
    /// Whether its deduplication id is a debounce key (`is_debounced`).
    pub is_debounced: bool,
    /// The latest release time a debounce may push it to (`debounce_deadline_epoch_ms`).
    pub debounce_deadline_epoch_ms: Option<EpochMs>,
    /// The serialization label of its payloads.
    pub serialization: Option<Serialization>,
    /// The inputs, when loaded.
    pub inputs: Option<String>,
    /// The output, when loaded and successful.
    pub output: Option<String>,
    /// The error, when loaded and failed.
    pub error: Option<String>,
}

impl WorkflowInfo {
    /// A row with the given id, name and status and every other column NULL, zero or false; set
    /// the other public fields afterwards. (The struct is `#[non_exhaustive]`, so stores outside
    /// this crate build it here.)
    pub fn new(
        workflow_id: impl Into<String>,
        name: impl Into<String>,
        status: WorkflowStatus,
    ) -> Self {
        WorkflowInfo {
            workflow_id: workflow_id.into(),
            status,
            name: name.into(),
            class_name: None,
            config_name: None,
            authenticated_user: None,
            assumed_role: None,
            authenticated_roles: None,
            executor_id: None,
            created_at: 0,
            updated_at: 0,
            application_version: None,
            application_id: None,
            application_name: None,
            recovery_attempts: 0,
            queue_name: None,
            workflow_timeout_ms: None,
            workflow_deadline_epoch_ms: None,
            started_at_epoch_ms: None,
            deduplication_id: None,
            priority: 0,
            queue_partition_key: None,
            forked_from: None,
            was_forked_from: false,
            parent_workflow_id: None,
            delay_until_epoch_ms: None,
            completed_at: None,
            schedule_name: None,
            attributes: None,
            owner_xid: None,
            rate_limited: false,
            is_debounced: false,
            debounce_deadline_epoch_ms: None,
            serialization: None,
            inputs: None,
            output: None,
            error: None,
        }
    }
}

/// Sort order of [`ListWorkflowsQuery`] (by `created_at`, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SortOrder {
    /// Oldest first.
    #[default]
    Ascending,
    /// Newest first.
    Descending,
}

/// Filters and shape of [`crate::WorkflowStore::list_workflows`]. Every filter is optional;
/// list filters match any of their values.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ListWorkflowsQuery {
    /// Only these ids (unscoped and uncapped by application).
    pub workflow_ids: Option<Vec<String>>,
    /// Ids starting with any of these prefixes (`%`, `_` and `\` match literally).
    pub workflow_id_prefix: Option<Vec<String>>,
    /// Any of these statuses.
    pub status: Option<Vec<WorkflowStatus>>,
    /// Any of these names.
    pub name: Option<Vec<String>>,
    /// Any of these application versions.
    pub application_version: Option<Vec<String>>,
    /// Any of these executors.
    pub executor_id: Option<Vec<String>>,
    /// Any of these queues.
    pub queue_name: Option<Vec<String>>,
    /// Any of these authenticated users.
    pub authenticated_user: Option<Vec<String>>,
    /// Enqueued by any of these schedules.
    pub schedule_name: Option<Vec<String>>,
    /// Forked from any of these workflows.
    pub forked_from: Option<Vec<String>>,
    /// Children of any of these workflows.
    pub parent_workflow_id: Option<Vec<String>>,
    /// `created_at >= start_time`.
    pub start_time: Option<EpochMs>,
    /// `created_at <= end_time`.
    pub end_time: Option<EpochMs>,
    /// `completed_at >= completed_after`.
    pub completed_after: Option<EpochMs>,
    /// `completed_at <= completed_before`.
    pub completed_before: Option<EpochMs>,
    /// `started_at_epoch_ms >= dequeued_after`.
    pub dequeued_after: Option<EpochMs>,
    /// `started_at_epoch_ms <= dequeued_before`.
    pub dequeued_before: Option<EpochMs>,
    /// Whether a fork was made from it.
    pub was_forked_from: Option<bool>,
    /// Whether it is a fork (`forked_from IS NOT NULL`).
    pub is_fork: Option<bool>,
    /// Whether it has a parent.
    pub has_parent: Option<bool>,
    /// Attribute containment (JSON object); unsupported on SQLite.
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Scope to these applications' rows plus unclaimed rows (ignored when ids are given).
    pub application_name: Option<Vec<String>>,
    /// Only queued workflows (`queue_name IS NOT NULL`, and status in DELAYED/ENQUEUED/PENDING
    /// unless a status filter is given).
    pub queues_only: bool,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Skip this many rows.
    pub offset: Option<u64>,
    /// Order by `created_at` (then id).
    pub sort: SortOrder,
    /// Load `inputs`.
    pub load_input: bool,
    /// Load `output` and `error`.
    pub load_output: bool,
}

fn strings<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> Option<Vec<String>> {
    Some(v.into_iter().map(Into::into).collect())
}

impl ListWorkflowsQuery {
    /// A query with no filters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the filters: valid workflow ids, and no NUL byte in any text filter or attribute
    /// (no stored value holds one), so that every backend gives the same answer.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming the offending filter.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::validate::filter;
        if let Some(ids) = &self.workflow_ids {
            crate::validate::workflow_ids(ids)?;
        }
        let lists = [
            ("workflow name filter", &self.name),
            ("application version filter", &self.application_version),
            ("executor id filter", &self.executor_id),
            ("queue name filter", &self.queue_name),
            ("authenticated user filter", &self.authenticated_user),
            ("workflow id prefix", &self.workflow_id_prefix),
            ("schedule name filter", &self.schedule_name),
            ("forked-from filter", &self.forked_from),
            ("parent workflow filter", &self.parent_workflow_id),
            ("application name filter", &self.application_name),
        ];
        for (what, values) in lists {
            for value in values.iter().flatten() {
                filter(what, value)?;
            }
        }
        if let Some(attributes) = &self.attributes {
            crate::validate::attributes(attributes)?;
        }
        Ok(())
    }

    /// Only these ids.
    #[must_use]
    pub fn workflow_ids<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.workflow_ids = strings(ids);
        self
    }

    /// Any of these names.
    #[must_use]
    pub fn name<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.name = strings(names);
        self
    }

    /// Any of these queues.
    #[must_use]
    pub fn queue_name<I: IntoIterator<Item = S>, S: Into<String>>(mut self, queues: I) -> Self {
        self.queue_name = strings(queues);
        self
    }

    /// Any of these executors.
    #[must_use]
    pub fn executor_id<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.executor_id = strings(ids);
        self
    }

    /// Any of these application versions.
    #[must_use]
    pub fn application_version<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        versions: I,
    ) -> Self {
        self.application_version = strings(versions);
        self
    }

    /// Any of these users.
    #[must_use]
    pub fn authenticated_user<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        users: I,
    ) -> Self {
        self.authenticated_user = strings(users);
        self
    }

    /// Ids starting with any of these prefixes (replaces a prefix set before).
    #[must_use]
    pub fn workflow_id_prefixes<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        prefixes: I,
    ) -> Self {
        self.workflow_id_prefix = strings(prefixes);
        self
    }

    /// Enqueued by any of these schedules (replaces a schedule set before).
    #[must_use]
    pub fn schedule_names<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.schedule_name = strings(names);
        self
    }

    /// Forked from any of these workflows (replaces a source set before).
    #[must_use]
    pub fn forked_from_any<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        sources: I,
    ) -> Self {
        self.forked_from = strings(sources);
        self
    }

    /// Children of any of these workflows (replaces a parent set before).
    #[must_use]
    pub fn parent_workflow_ids<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        parents: I,
    ) -> Self {
        self.parent_workflow_id = strings(parents);
        self
    }

    /// Scope to any of these applications plus unclaimed rows (replaces an application set
    /// before).
    #[must_use]
    pub fn application_names<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        names: I,
    ) -> Self {
        self.application_name = strings(names);
        self
    }
}

setters!(ListWorkflowsQuery {
    /// Ids starting with this prefix (one prefix; see [`Self::workflow_id_prefixes`]).
    workflow_id_prefix: impl Into<String> => workflow_id_prefix = |v: _| Some(vec![Into::into(v)]);
    /// Any of these statuses.
    status: Vec<WorkflowStatus> => status = Some;
    /// Enqueued by this schedule (one schedule; see [`Self::schedule_names`]).
    schedule_name: impl Into<String> => schedule_name = |v: _| Some(vec![Into::into(v)]);
    /// Forked from this workflow (one source; see [`Self::forked_from_any`]).
    forked_from: impl Into<String> => forked_from = |v: _| Some(vec![Into::into(v)]);
    /// Children of this workflow (one parent; see [`Self::parent_workflow_ids`]).
    parent_workflow_id: impl Into<String> =>
        parent_workflow_id = |v: _| Some(vec![Into::into(v)]);
    /// Created at or after.
    start_time: EpochMs => start_time = Some;
    /// Created at or before.
    end_time: EpochMs => end_time = Some;
    /// Completed at or after.
    completed_after: EpochMs => completed_after = Some;
    /// Completed at or before.
    completed_before: EpochMs => completed_before = Some;
    /// Dequeued at or after.
    dequeued_after: EpochMs => dequeued_after = Some;
    /// Dequeued at or before.
    dequeued_before: EpochMs => dequeued_before = Some;
    /// Whether a fork was made from it.
    was_forked_from: bool => was_forked_from = Some;
    /// Whether it is a fork.
    is_fork: bool => is_fork = Some;
    /// Whether it has a parent.
    has_parent: bool => has_parent = Some;
    /// Attribute containment.
    attributes: serde_json::Map<String, serde_json::Value> => attributes = Some;
    /// Scope to this application plus unclaimed rows (one application; see
    /// [`Self::application_names`]).
    application_name: impl Into<String> => application_name = |v: _| Some(vec![Into::into(v)]);
    /// Only queued workflows.
    queues_only: bool => queues_only = |v| v;
    /// At most this many rows.
    limit: u64 => limit = Some;
    /// Skip this many rows.
    offset: u64 => offset = Some;
    /// Sort order.
    sort: SortOrder => sort = |v| v;
    /// Load inputs.
    load_input: bool => load_input = |v| v;
    /// Load outputs and errors.
    load_output: bool => load_output = |v| v;
});

/// The recorded result of a workflow or a step: an encoded output, no output at all, or an
/// encoded error.
///
/// A workflow that returned nothing is [`Outcome::Void`]: its `output` column is SQL NULL, as
/// DBOS leaves it for a void return, while [`Outcome::Output`] with the text `null` is a returned
/// JSON `null` and stores that text. The two are kept apart both ways: a `SUCCESS` row whose
/// output is NULL reads back as `Void`, one whose output is `null` as `Output("null")`.
///
/// A step's row with neither output nor error is the step form of the same thing; steps report
/// it as no outcome (`None`, see [`crate::StepRecord::outcome`]).
///
/// The enum is exhaustive on purpose: a finished call returned a value, returned nothing or
/// failed, and every backend must map each case to its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The encoded return value.
    Output(Payload),
    /// Returned nothing: SQL NULL in `output` (and in `error`).
    Void,
    /// The encoded error.
    Error(Payload),
}

impl Outcome {
    /// The payload, whichever side it is on; `None` for [`Outcome::Void`].
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Outcome::Output(p) | Outcome::Error(p) => Some(p),
            Outcome::Void => None,
        }
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Outcome::Error(_))
    }

    /// The text of the `output` column: the output's text, or NULL for a void return or an
    /// error.
    pub fn output_column(&self) -> Option<&str> {
        match self {
            Outcome::Output(p) => Some(&p.text),
            Outcome::Void | Outcome::Error(_) => None,
        }
    }

    /// The text of the `error` column: the error's text, or NULL otherwise.
    pub fn error_column(&self) -> Option<&str> {
        match self {
            Outcome::Error(p) => Some(&p.text),
            Outcome::Output(_) | Outcome::Void => None,
        }
    }

    /// Checks the payload's text (a void outcome has none to check).
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming `what` for text that cannot be
    /// stored.
    pub fn validate(&self, what: &str) -> Result<()> {
        match self.payload() {
            Some(p) => p.validate(what),
            None => Ok(()),
        }
    }
}

/// What [`crate::WorkflowStore::workflow_result`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkflowResult {
    /// No such workflow (yet).
    NotFound,
    /// Still `PENDING`, `ENQUEUED` or `DELAYED` (or a status this build does not know).
    Active(WorkflowStatus),
    /// Finished: `SUCCESS` with its output (or [`Outcome::Void`]) or `ERROR` with its error.
    Finished(Outcome),
    /// Cancelled.
    Cancelled,
    /// Dead-lettered.
    MaxRecoveryAttemptsExceeded,
}

impl WorkflowResult {
    /// Whether waiting longer cannot change the answer.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            WorkflowResult::Finished(_)
                | WorkflowResult::Cancelled
                | WorkflowResult::MaxRecoveryAttemptsExceeded
        )
    }
}

/// How long and how often to wait in the `await_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AwaitOptions {
    /// How often to re-read the database when no in-process wake-up arrives. Defaults to 1 s
    /// (DBOS's default).
    pub poll_interval: Duration,
    /// Give up after this long with [`crate::ErrorKind::Timeout`]; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Fail with [`crate::ErrorKind::NotFound`] instead of waiting for a workflow that does not
    /// exist yet.
    pub fail_if_missing: bool,
    /// Cancelling this token ends the wait at once with [`crate::ErrorKind::Interrupted`].
    /// Dropping the future also ends it; the token reaches waits the caller does not own.
    pub cancel: Option<tokio_util::sync::CancellationToken>,
}

impl Default for AwaitOptions {
    fn default() -> Self {
        AwaitOptions {
            poll_interval: Duration::from_secs(1),
            timeout: None,
            fail_if_missing: false,
            cancel: None,
        }
    }
}

impl AwaitOptions {
    /// Sets the poll interval.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fails instead of waiting for a missing workflow.
    #[must_use]
    pub fn fail_if_missing(mut self, yes: bool) -> Self {
        self.fail_if_missing = yes;
        self
    }

    /// Ends the wait with [`crate::ErrorKind::Interrupted`] when `token` is cancelled.
    #[must_use]
    pub fn cancel_on(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_keeps_unknown() {
        for s in WorkflowStatus::KNOWN {
            assert_eq!(WorkflowStatus::parse(s.as_str()), s);
        }
        assert_eq!(
            WorkflowStatus::parse("PAUSED_BY_PEER"),
            WorkflowStatus::Other("PAUSED_BY_PEER".into())
        );
    }

    #[test]
    fn new_workflow_validation_names_the_field() {
        let p = Payload::portable_json("[]");
        let e = NewWorkflow::new("", "f", p.clone()).validate().unwrap_err();
        assert!(e.message().contains("workflow id"), "{e}");
        let e = NewWorkflow::new("w", "f", p.clone())
            .enqueued("")
            .validate()
            .unwrap_err();
        assert!(e.message().contains("without a queue name"), "{e}");
        let e = NewWorkflow::new("w", "f", Payload::portable_json("a\0b"))
            .validate()
            .unwrap_err();
        assert!(e.message().contains("NUL"), "{e}");
    }
}
