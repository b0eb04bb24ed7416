//! The queues area: [`QueueStore`] (batch enqueue, claims, delays, debounce, deadlines, recovery,
//! dead-letter, the queue registry) and its plain data.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::{new_token, EpochMs, NewWorkflow, Payload, Result};

/// A rate limit: at most `max` workflows started per `period`, counted on the database clock.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Workflows per period.
    pub max: u32,
    /// The window.
    pub period: Duration,
}

impl RateLimit {
    /// At most `max` starts per `period`.
    pub fn new(max: u32, period: Duration) -> Self {
        RateLimit { max, period }
    }
}

/// The limits of a queue (DBOS's `Queue` options). `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct QueueLimits {
    /// Queue-wide limit on `PENDING` workflows.
    pub concurrency: Option<u32>,
    /// Per-executor limit on running workflows (counted by the caller: `local_running`).
    pub worker_concurrency: Option<u32>,
    /// Queue-wide rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Per-partition limit on `PENDING` workflows.
    pub partition_concurrency: Option<u32>,
    /// Per-executor, per-partition limit (counted by the caller: `partition_local_running`).
    pub partition_worker_concurrency: Option<u32>,
    /// Per-partition rate limit.
    pub partition_rate_limit: Option<RateLimit>,
}

impl QueueLimits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the queue-wide concurrency.
    #[must_use]
    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// Sets the per-executor concurrency.
    #[must_use]
    pub fn worker_concurrency(mut self, n: u32) -> Self {
        self.worker_concurrency = Some(n);
        self
    }

    /// Sets the rate limit.
    #[must_use]
    pub fn rate_limit(mut self, max: u32, period: Duration) -> Self {
        self.rate_limit = Some(RateLimit::new(max, period));
        self
    }

    /// Sets the per-partition concurrency.
    #[must_use]
    pub fn partition_concurrency(mut self, n: u32) -> Self {
        self.partition_concurrency = Some(n);
        self
    }

    /// Sets the per-executor, per-partition concurrency.
    #[must_use]
    pub fn partition_worker_concurrency(mut self, n: u32) -> Self {
        self.partition_worker_concurrency = Some(n);
        self
    }

    /// Sets the per-partition rate limit.
    #[must_use]
    pub fn partition_rate_limit(mut self, max: u32, period: Duration) -> Self {
        self.partition_rate_limit = Some(RateLimit::new(max, period));
        self
    }

    /// Whether workers share a budget in the database (any queue-wide or partition concurrency
    /// or rate limit), which decides the claim's isolation and locking on PostgreSQL.
    pub fn has_shared_budget(&self) -> bool {
        self.concurrency.is_some()
            || self.partition_concurrency.is_some()
            || self.rate_limit.is_some()
            || self.partition_rate_limit.is_some()
    }

    /// Whether a rate limiter counts this queue's claims (`rate_limited = true` on claimed rows).
    pub fn has_limiter(&self) -> bool {
        self.rate_limit.is_some() || self.partition_rate_limit.is_some()
    }

    /// Whether any partition limit is set: the queue is partitioned.
    pub fn is_partitioned(&self) -> bool {
        self.partition_concurrency.is_some()
            || self.partition_worker_concurrency.is_some()
            || self.partition_rate_limit.is_some()
    }

    /// Whether the partitioned fast path applies: the *only* limit is `partition_concurrency = 1`.
    pub fn is_single_flight_partitioned(&self) -> bool {
        *self
            == QueueLimits {
                partition_concurrency: Some(1),
                ..QueueLimits::default()
            }
    }
}

/// Why a claim stopped early: the first limit, in DBOS's order, that had no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// `worker_concurrency - local_running` was zero.
    WorkerConcurrency,
    /// `partition_worker_concurrency - partition_local_running` was zero.
    PartitionWorkerConcurrency,
    /// The queue's rate limit is used up for the current window.
    RateLimit,
    /// The partition's rate limit is used up for the current window.
    PartitionRateLimit,
    /// The queue has `concurrency` workflows `PENDING`.
    Concurrency,
    /// The partition has `partition_concurrency` workflows `PENDING`.
    PartitionConcurrency,
}

/// A request to claim enqueued workflows of one queue (DBOS `start_queued_workflows`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClaimRequest {
    /// The queue.
    pub queue_name: String,
    /// Only this partition (for partitioned queues).
    pub partition_key: Option<String>,
    /// The queue's limits.
    pub limits: QueueLimits,
    /// The claiming executor.
    pub executor_id: String,
    /// The executor's application version; rows of another version are never claimed, and
    /// version-less rows only when this is the latest registered version.
    pub application_version: String,
    /// The executor's application: its own rows plus unclaimed rows are eligible, and claimed rows
    /// are stamped with it.
    pub application_name: Option<String>,
    /// Workflows of this queue the executor is running now.
    pub local_running: u32,
    /// Workflows of this partition the executor is running now.
    pub partition_local_running: u32,
    /// The most to claim in one call, on top of the limits (DBOS bounds claims per transaction).
    pub max_tasks: Option<u32>,
    /// The ownership token written to claimed rows. Create it once, outside any retry.
    pub owner_xid: String,
}

impl ClaimRequest {
    /// A claim on `queue` by `executor_id` at `application_version`, with a fresh token.
    pub fn new(
        queue_name: impl Into<String>,
        executor_id: impl Into<String>,
        application_version: impl Into<String>,
    ) -> Self {
        ClaimRequest {
            queue_name: queue_name.into(),
            partition_key: None,
            limits: QueueLimits::default(),
            executor_id: executor_id.into(),
            application_version: application_version.into(),
            application_name: None,
            local_running: 0,
            partition_local_running: 0,
            max_tasks: None,
            owner_xid: new_token(),
        }
    }

    /// Sets the limits.
    #[must_use]
    pub fn limits(mut self, limits: QueueLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Claims in one partition only.
    #[must_use]
    pub fn partition(mut self, key: impl Into<String>) -> Self {
        self.partition_key = Some(key.into());
        self
    }

    /// Sets the executor's application.
    #[must_use]
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Sets the executor's running counts.
    #[must_use]
    pub fn running(mut self, local: u32, partition_local: u32) -> Self {
        self.local_running = local;
        self.partition_local_running = partition_local;
        self
    }

    /// Caps the claim.
    #[must_use]
    pub fn max_tasks(mut self, n: u32) -> Self {
        self.max_tasks = Some(n);
        self
    }

    /// Checks the request: a queue name and an ownership token, and every text within its
    /// limit without NUL bytes (see [`crate::validate`]).
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::validate::{bounded, name, MAX_NAME_BYTES, MAX_PARTITION_KEY_BYTES};
        name("claim's queue name", &self.queue_name)?;
        if self.owner_xid.is_empty() {
            return Err(crate::Error::invalid_input(
                "a claim needs an ownership token (owner_xid); create one with new_token()",
            ));
        }
        const UNBOUNDED: usize = crate::payload::MAX_PAYLOAD_BYTES;
        for (what, value, max) in [
            (
                "partition key",
                self.partition_key.as_ref(),
                MAX_PARTITION_KEY_BYTES,
            ),
            ("executor id", Some(&self.executor_id), UNBOUNDED),
            (
                "application version",
                Some(&self.application_version),
                UNBOUNDED,
            ),
            (
                "application name",
                self.application_name.as_ref(),
                MAX_NAME_BYTES,
            ),
            ("owner token", Some(&self.owner_xid), UNBOUNDED),
        ] {
            if let Some(value) = value {
                bounded(what, value, max)?;
            }
        }
        Ok(())
    }
}

/// What a claim took.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClaimOutcome {
    /// The claimed workflow ids, in dequeue order (priority, then creation time). Each is now
    /// `PENDING` and owned by the request's `owner_xid`.
    pub claimed: Vec<String>,
    /// The limit that stopped the claim before it looked at rows, if any.
    pub stop_reason: Option<StopReason>,
}

impl ClaimOutcome {
    /// An outcome with these ids and reason.
    pub fn new(claimed: Vec<String>, stop_reason: Option<StopReason>) -> Self {
        ClaimOutcome {
            claimed,
            stop_reason,
        }
    }
}

/// A debounce: push back the release of a delayed, debounced workflow (DBOS
/// `debounce_delayed_workflow`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DebounceRequest {
    /// The workflow function.
    pub workflow_name: String,
    /// The queue.
    pub queue_name: String,
    /// The debounce key as stored: `"{workflow_name}-{debounce_key}"`.
    pub deduplication_id: String,
    /// The new release time; capped at the row's `debounce_deadline_epoch_ms`.
    pub delay_until_epoch_ms: EpochMs,
    /// The new inputs.
    pub inputs: Payload,
    /// The caller's application.
    pub application_name: Option<String>,
    /// The class of a debounced method workflow: when set, only a row with this `class_name`
    /// is extended. `None` matches any class, as DBOS's debounce does.
    pub class_name: Option<String>,
    /// The configured instance of a debounced method workflow: when set, only a row with this
    /// `config_name` is extended (so two instances of one class debouncing the same key never
    /// extend each other's workflow). `None` matches any instance, as DBOS's debounce does.
    pub config_name: Option<String>,
}

impl DebounceRequest {
    /// A debounce of `workflow_name` on `queue_name` under `debounce_key` (composed into the
    /// stored deduplication id).
    pub fn new(
        workflow_name: impl Into<String>,
        queue_name: impl Into<String>,
        debounce_key: &str,
        delay_until_epoch_ms: EpochMs,
        inputs: Payload,
    ) -> Self {
        let workflow_name = workflow_name.into();
        DebounceRequest {
            deduplication_id: format!("{workflow_name}-{debounce_key}"),
            workflow_name,
            queue_name: queue_name.into(),
            delay_until_epoch_ms,
            inputs,
            application_name: None,
            class_name: None,
            config_name: None,
        }
    }

    /// Extends only the debounced workflow of this class and configured instance (the
    /// `class_name` and `config_name` its [`NewWorkflow::with_class`] wrote).
    #[must_use]
    pub fn with_class(mut self, class_name: Option<String>, config_name: Option<String>) -> Self {
        self.class_name = class_name;
        self.config_name = config_name;
        self
    }

    /// Checks the request: a workflow name, queue name and deduplication id (non-empty, within
    /// their limits, no NUL bytes), the inputs and the application name.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::validate::{key, name};
        name("debounced workflow name", &self.workflow_name)?;
        name("debounce queue name", &self.queue_name)?;
        if self.deduplication_id.is_empty() {
            return Err(crate::Error::invalid_input(
                "a debounce needs a deduplication id; it is empty",
            ));
        }
        key("debounce deduplication id", &self.deduplication_id)?;
        self.inputs.validate("workflow input")?;
        if let Some(app) = &self.application_name {
            crate::validate::short_name("application name", app)?;
        }
        if let Some(class) = &self.class_name {
            crate::validate::bounded(
                "debounced class name",
                class,
                crate::validate::MAX_CLASS_NAME_BYTES,
            )?;
        }
        if let Some(config) = &self.config_name {
            crate::validate::bounded(
                "debounced config name",
                config,
                crate::validate::MAX_CLASS_NAME_BYTES,
            )?;
        }
        Ok(())
    }

    /// Whether a row of `class_name` and `config_name` is the one this debounce may extend:
    /// each of the request's names, when set, must match.
    pub fn matches_class(&self, class_name: Option<&str>, config_name: Option<&str>) -> bool {
        let matches = |wanted: &Option<String>, stored: Option<&str>| {
            wanted.as_deref().is_none_or(|w| stored == Some(w))
        };
        matches(&self.class_name, class_name) && matches(&self.config_name, config_name)
    }
}

/// What a debounce found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DebounceOutcome {
    /// The delayed workflow's release was pushed back and its inputs replaced.
    Extended {
        /// The debounced workflow.
        workflow_id: String,
    },
    /// Nothing holds the key: the caller starts a new debounced workflow.
    Vacant,
    /// The key is held by a row that is not a matching delayed debounce (already released,
    /// another function, another application, or a plain deduplication id).
    HeldBy {
        /// The holder.
        workflow_id: String,
        /// Whether the holder is a debounced workflow.
        is_debounced: bool,
        /// The holder's function name.
        name: String,
        /// The holder's application.
        application_name: Option<String>,
    },
}

/// A database-backed queue definition (the `queues` table).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QueueDefinition {
    /// The queue name (global; the `_dbos_` prefix is reserved).
    pub name: String,
    /// Its limits.
    pub limits: QueueLimits,
    /// How often workers poll it. Defaults to 1 s.
    pub polling_interval: Duration,
    /// The owning application; `None` = unclaimed.
    pub application_name: Option<String>,
    /// The legacy `priority_enabled` flag, as stored. DBOS 3.4 always writes TRUE (priority is
    /// always on) and never reads it; every write of this contract writes TRUE too, whatever
    /// this field says. Reads return the stored value: FALSE only in a row an older DBOS wrote.
    /// Defaults to true.
    pub priority_enabled: bool,
    /// The legacy `partition_queue` flag: the queue is partitioned, so every enqueue names a
    /// partition key. Written as this mark or any partition limit
    /// ([`QueueDefinition::partition_queue_column`]), as DBOS writes it; read back as stored.
    /// Set it to mark a queue partitioned without per-partition limits (DBOS's
    /// `partition_queue=True`). Defaults to false.
    pub partition_queue: bool,
}

impl QueueDefinition {
    /// A queue named `name` without limits.
    pub fn new(name: impl Into<String>) -> Self {
        QueueDefinition {
            name: name.into(),
            limits: QueueLimits::default(),
            polling_interval: Duration::from_secs(1),
            application_name: None,
            priority_enabled: true,
            partition_queue: false,
        }
    }

    /// Marks the queue partitioned (`partition_queue`) even without per-partition limits.
    #[must_use]
    pub fn partition_queue(mut self, partitioned: bool) -> Self {
        self.partition_queue = partitioned;
        self
    }

    /// The `partition_queue` value a write stores: the definition's mark, or any partition limit
    /// (DBOS: "any per-partition limit implies partitioning").
    pub fn partition_queue_column(&self) -> bool {
        self.partition_queue || self.limits.is_partitioned()
    }

    /// Drops a `partition_queue` mark read back from a row that only reflects its partition
    /// limits (stored, the two look alike), keeping a mark set without any. Call it on a stored
    /// definition before changing its limits ([`crate::QueueStore::update_queue`]), so that the
    /// mark written next follows the new limits: clearing the last partition limit of a queue
    /// partitioned by its limits leaves it unpartitioned.
    pub fn keep_explicit_partition_mark(&mut self) {
        self.partition_queue &= !self.limits.is_partitioned();
    }

    /// Sets the limits.
    #[must_use]
    pub fn limits(mut self, limits: QueueLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the polling interval.
    #[must_use]
    pub fn polling_interval(mut self, interval: Duration) -> Self {
        self.polling_interval = interval;
        self
    }

    /// Sets the owner.
    #[must_use]
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Checks the definition: its name as [`validate_queue_name`], its application name.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> crate::Result<()> {
        validate_queue_name(&self.name)?;
        if let Some(app) = &self.application_name {
            crate::validate::short_name("application name", app)?;
        }
        Ok(())
    }
}

/// Checks a queue name given to the registry: not empty, within [`crate::validate::MAX_NAME_BYTES`],
/// no NUL byte, and not under [`RESERVED_QUEUE_PREFIX`].
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] saying which rule failed.
pub fn validate_queue_name(name: &str) -> crate::Result<()> {
    crate::validate::name("queue name", name)?;
    if name.starts_with(RESERVED_QUEUE_PREFIX) {
        return Err(crate::Error::invalid_input(format!(
            "queue name {name:?} starts with the prefix {RESERVED_QUEUE_PREFIX:?}, which is \
             reserved for DBOS's internal queues; choose another name"
        )));
    }
    Ok(())
}

/// What [`crate::QueueStore::upsert_queue`] does with an existing queue of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueConflictPolicy {
    /// Replace its definition (the client's default).
    #[default]
    Update,
    /// Keep it as it is.
    Keep,
}

/// A partial update of a queue: `Some(v)` sets the field (`Some(None)` clears a limit).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct QueueUpdate {
    /// Queue-wide concurrency.
    pub concurrency: Option<Option<u32>>,
    /// Per-executor concurrency.
    pub worker_concurrency: Option<Option<u32>>,
    /// Rate limit.
    pub rate_limit: Option<Option<RateLimit>>,
    /// Per-partition concurrency.
    pub partition_concurrency: Option<Option<u32>>,
    /// Per-executor, per-partition concurrency.
    pub partition_worker_concurrency: Option<Option<u32>>,
    /// Per-partition rate limit.
    pub partition_rate_limit: Option<Option<RateLimit>>,
    /// Polling interval.
    pub polling_interval: Option<Duration>,
}

/// The reserved prefix of internal queue names.
pub const RESERVED_QUEUE_PREFIX: &str = "_dbos_";

/// The most partitions one partitioned claim visits.
pub const PARTITIONED_SWEEP_CAP: u32 = 8192;

/// The chunk size of batch enqueue.
pub const ENQUEUE_BATCH: usize = 500;

/// The internal queue that resume, recovery and fork use when no queue is given.
pub const INTERNAL_QUEUE: &str = "_dbos_internal_queue";

/// Queues: batch enqueue, claims with every limit, delays, debounce, deadlines and recovery, and
/// the queue registry.
///
/// A workflow is enqueued through [`WorkflowStore::insert_workflow`] (status `ENQUEUED`, or
/// `DELAYED` with a release time) or in bulk with [`QueueStore::enqueue_workflows`]; executors
/// take work with [`QueueStore::claim_workflows`], the only way a queued workflow becomes
/// `PENDING`. Set-oriented methods match the given application's rows plus unclaimed rows.
///
/// [`WorkflowStore::insert_workflow`]: crate::WorkflowStore::insert_workflow
#[async_trait]
pub trait QueueStore: Debug + Send + Sync + 'static {
    /// Enqueues many workflows (each `ENQUEUED` or `DELAYED`) in chunks of
    /// [`crate::queues::ENQUEUE_BATCH`] and returns the ids actually inserted, in input order.
    ///
    /// # Behavior
    /// An id that already exists is skipped (not an error). `created_at` is made strictly
    /// increasing per queue in input order, across its partitions, starting after the newest
    /// `ENQUEUED`/`PENDING` row of that queue whatever its partition, so FIFO order follows the
    /// input within a partition and across the queue. (DBOS makes it increase per queue and
    /// partition only; the stronger order costs nothing and leaves a whole-queue claim no ties
    /// among the rows of one batch.)
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
    /// deadline `now + timeout` when none is set. A row is never claimed twice. The ids come back
    /// in that order. Rows with the same priority and creation time are taken in an order the
    /// backend chooses (as DBOS takes them), so that the queue's index alone yields the order
    /// and a claim reads the rows it claims, not the backlog; within a partition the id breaks
    /// the tie.
    ///
    /// Rows another session holds locked are never waited for. Without a shared budget (no
    /// concurrency, partition concurrency or rate limit) they are passed over. With one, a claim
    /// takes rows only from the budget's window at the head of the queue, and a held row of that
    /// window counts against the budget until it is released: two claimers never take more than
    /// the budget between them, and a session left idle holding a queued row costs its queue one
    /// slot, never the whole queue.
    ///
    /// A queue whose only limit is `partition_concurrency = 1`, claimed without a partition key,
    /// takes DBOS's partitioned fast path: the head (by priority, creation time, id) of each of up
    /// to `min(8192, max_tasks)` partitions that have `ENQUEUED` rows and no `PENDING` row. When
    /// there are more such partitions than that (among the first 8192 by key), the heads taken
    /// are the first in the same order (the partitions whose head waited longest), so that
    /// claims rotate over the partitions instead of returning to the first keys.
    ///
    /// # Errors
    /// [`Contention`](crate::ErrorKind::Contention) or
    /// [`SerializationFailure`](crate::ErrorKind::SerializationFailure) when another worker's
    /// claim from the same queue made this one's snapshot stale: retry at the next poll.
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

    /// Releases every `DELAYED` workflow whose release time has passed, of `application_name`
    /// or unclaimed (`application_name IS NULL`): it becomes `ENQUEUED`, and a debounced one
    /// gives up its deduplication id. Returns the released ids (their order is not part of the
    /// contract).
    ///
    /// # Behavior
    /// - Scoped like [`QueueStore::cancel_timed_out_workflows`]: a process releases its own
    ///   application's rows and the unclaimed ones, never another application's, so one
    ///   application's sweep cannot start another's delayed work early or out of its order.
    ///   `None` releases every application's rows (an operator's sweep; DBOS's own
    ///   `transition_delayed_workflows` is not scoped).
    /// - `updated_at` is left alone, as DBOS does.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an application name holding a NUL
    /// byte; otherwise only the transient kinds.
    ///
    /// # Idempotency
    /// Idempotent: a re-run releases nothing more (a released row is no longer `DELAYED`). Safe
    /// when several processes run it at once: each row is released by exactly one of them
    /// (PostgreSQL and CockroachDB lock the due rows `FOR UPDATE SKIP LOCKED`, so sweeps never
    /// wait for or deadlock with each other; SQLite serializes writers).
    async fn release_delayed_workflows(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<String>>;

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
    /// function name, the request's class and config names where it gives them
    /// ([`DebounceRequest::matches_class`]), and application (or unclaimed); sets its release time to the smaller of the
    /// request's and the row's `debounce_deadline_epoch_ms`, replaces its inputs, and claims it
    /// for the application if it is unclaimed: `application_name = COALESCE(existing, caller)`,
    /// as DBOS 3.4 writes it, so an owned row keeps its owner (a caller without an application
    /// leaves it as it is). Otherwise reports who holds the key, or that nobody does.
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

    /// Recovers a `PENDING` workflow that is not on a queue by taking it over, in one
    /// transaction, fenced against every other recoverer.
    ///
    /// This is how DBOS Transact 1.x and 2.x recover a directly started workflow (the recovering
    /// executor's `init_workflow` counts the attempt, re-stamps the executor and dead-letters past
    /// the limit); DBOS 3.4 re-enqueues it on the internal queue instead
    /// ([`QueueStore::reenqueue_for_recovery`]), where the claim counts the attempt. Both leave
    /// rows DBOS reads the same way.
    ///
    /// # Behavior
    /// The workflow is eligible when it is `PENDING`, on no queue (`queue_name` NULL), its
    /// `executor_id` is one of `dead_executor_ids` (when given) and its `owner_xid` is
    /// `expected_owner_xid` (when given). Then `recovery_attempts + 1`, `executor_id` = the
    /// recovering executor, `owner_xid` = the request's token, `updated_at` = now; the start
    /// time, deadline, version and application are kept. When `recovery_attempts` is now past
    /// the limit (`> max_recovery_attempts + 1`, DBOS's rule) the workflow is dead-lettered in
    /// the same transaction, as [`QueueStore::dead_letter_workflows`] does: status
    /// `MAX_RECOVERY_ATTEMPTS_EXCEEDED`, `owner_xid`, `deduplication_id`, `started_at_epoch_ms`
    /// and `queue_name` NULL, `completed_at` stamped (the counter and executor stay as the
    /// take-over wrote them). Otherwise nothing changes and the reason is returned.
    ///
    /// Of two recoverers of one workflow exactly one takes it over: the other finds the row
    /// re-stamped (another executor, another token). When the recovering executor's id is
    /// itself among the dead ones (DBOS's default executor id `"local"` restarting), only
    /// `expected_owner_xid` tells the second recoverer apart: pass it. The workflow is addressed
    /// by id, so no application scope applies.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid request (see
    /// [`RecoveryRequest::validate`](crate::RecoveryRequest::validate)); otherwise only the
    /// transient kinds.
    ///
    /// # Idempotency
    /// Idempotent: a row that is `PENDING` and already holds the request's `owner_xid` is this
    /// request's own earlier take-over, reported as `TakenOver` again without counting another
    /// attempt. A re-run after a dead-letter reports `NotEligible(NotPending(..))`; the state is
    /// the same.
    async fn recover_workflow(
        &self,
        request: crate::RecoveryRequest,
    ) -> Result<crate::RecoveryOutcome>;

    /// Returns a claimed workflow to its queue (DBOS `clear_queue_assignment`), fenced by its
    /// owner token: only the execution that holds the claim may give it back.
    ///
    /// # Behavior
    /// When the workflow is `PENDING`, on a queue and owned by `owner_xid`: status `ENQUEUED`,
    /// `started_at_epoch_ms` and `owner_xid` NULL, `updated_at` = now; returns true. The next
    /// claim runs it (and stamps a new owner, executor, start time and `recovery_attempts + 1`,
    /// so this call leaves `recovery_attempts` and `executor_id` as they are: the counter counts
    /// dispatches, and a hand-back is not one). Its deduplication id, priority, partition,
    /// deadline and `rate_limited` flag are kept (an `ENQUEUED` row is never counted by a rate
    /// limiter). Otherwise (not `PENDING`, on no queue, owned by another token, missing) nothing
    /// changes and it returns false.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid id or an empty token;
    /// otherwise only the transient kinds.
    ///
    /// # Idempotency
    /// Idempotent: a re-run after an applied hand-back changes nothing (and reports false).
    async fn return_to_queue(&self, workflow_id: &str, owner_xid: &str) -> Result<bool>;

    /// Registers a queue; returns whether it was created (false when it existed).
    ///
    /// # Behavior
    /// The owner of an existing queue is kept (`COALESCE(existing, caller's)`); `policy` says
    /// whether its definition is replaced. Writes `priority_enabled = TRUE` and `partition_queue`
    /// = [`QueueDefinition::partition_queue_column`], as DBOS 3.4 does.
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
    /// # Behavior
    /// Rewrites `partition_queue`: a mark set without partition limits stays, one that only
    /// reflected partition limits follows the new limits
    /// ([`QueueDefinition::keep_explicit_partition_mark`]); `priority_enabled` becomes TRUE.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn reserved_empty_and_long_queue_names_are_refused() {
        let e = validate_queue_name("").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("queue name is empty"), "{e}");
        let e = validate_queue_name("_dbos_internal_queue").unwrap_err();
        assert!(e.message().contains("reserved"), "{e}");
        let long = "q".repeat(crate::validate::MAX_NAME_BYTES + 1);
        let e = validate_queue_name(&long).unwrap_err();
        assert!(e.message().contains("over the limit of 512 bytes"), "{e}");
        validate_queue_name(&long[1..]).unwrap();
        validate_queue_name("emails").unwrap();
    }

    #[test]
    fn claims_and_debounces_check_their_fields() {
        let e = ClaimRequest::new("", "exec", "v1").validate().unwrap_err();
        assert!(e.message().contains("queue name is empty"), "{e}");
        let long_key = "k".repeat(crate::validate::MAX_PARTITION_KEY_BYTES + 1);
        let e = ClaimRequest::new("q", "exec", "v1")
            .partition(long_key)
            .validate()
            .unwrap_err();
        assert!(e.message().contains("partition key is 513 bytes"), "{e}");
        let e = ClaimRequest::new("q", "exec", "v\0")
            .validate()
            .unwrap_err();
        assert!(
            e.message()
                .contains("application version contains a NUL byte"),
            "{e}"
        );
        let input = crate::Payload::portable_json("null");
        let e = DebounceRequest::new("f", "q", &"d".repeat(2000), 0, input.clone())
            .validate()
            .unwrap_err();
        assert!(e.message().contains("debounce deduplication id is"), "{e}");
        DebounceRequest::new("f", "q", "key", 0, input)
            .validate()
            .unwrap();
    }

    #[test]
    fn limit_shapes() {
        let l = QueueLimits::new().partition_concurrency(1);
        assert!(l.is_single_flight_partitioned() && l.is_partitioned() && l.has_shared_budget());
        assert!(!l.has_limiter());
        let l = l.worker_concurrency(2);
        assert!(!l.is_single_flight_partitioned());
        let l = QueueLimits::new().worker_concurrency(3);
        assert!(!l.has_shared_budget() && !l.is_partitioned());
        assert!(QueueLimits::new()
            .rate_limit(5, Duration::from_secs(1))
            .has_limiter());
    }

    #[test]
    fn debounce_key_is_composed_as_dbos_does() {
        let r = DebounceRequest::new(
            "send_digest",
            "q",
            "user-7",
            10,
            Payload::portable_json("[]"),
        );
        assert_eq!(r.deduplication_id, "send_digest-user-7");
    }
}
