//! The one retry policy every driver uses, and [`RetryingStore`], which applies it to a whole
//! store.
//!
//! Drivers never loop on errors themselves: they classify (see [`crate::ErrorKind`]) and this
//! module decides. Unlike the DBOS SDKs, a store never retries forever: every class has an
//! attempt limit and the whole loop a time bound, after which the last error is returned marked
//! [`Error::retries_exhausted`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio::time::Instant;

use crate::{
    ApplicationVersion, AttributeUpdate, AwaitOptions, Caller, CancelOptions, Capabilities,
    ClaimOutcome, ClaimRequest, DebounceOutcome, DebounceRequest, DeleteOptions, EpochMs, Error,
    ErrorKind, EventStore, ExportedWorkflow, ForkRequest, ForkedWorkflow, GetEventRequest,
    ImportOptions, InsertOptions, InsertOutcome, Lease, LeaseState, LifecycleStore,
    ListStepsOptions, ListWorkflowsQuery, ManagementStore, MessageStore, Metrics, MetricsQuery,
    NewWorkflow, OrphanSweep, Outcome, OutgoingMessage, Payload, QueueConflictPolicy,
    QueueDefinition, QueueStore, QueueUpdate, RecordedStep, RecvRequest, RenameApplication,
    RenameReport, Result, ResumeOptions, RetentionPolicy, RewindRequest, RewoundWorkflow, Schedule,
    ScheduleFilter, ScheduleStore, SchemaVersion, SendOptions, SendOutcome, SetEventOutcome,
    SleepState, StepInfo, StepRecord, StepStore, StreamRead, StreamReadOptions, StreamStore,
    StreamWriteOutcome, VersionStore, WorkflowInfo, WorkflowResult, WorkflowStore,
};

/// Backoff and limits for one class of retryable error.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
    /// Growth factor per attempt.
    pub multiplier: f64,
    /// The most attempts (the first one included) before giving up.
    pub max_attempts: u32,
}

impl Backoff {
    /// A backoff from `initial` growing by `multiplier` up to `max`, for at most `max_attempts`.
    pub fn new(initial: Duration, max: Duration, multiplier: f64, max_attempts: u32) -> Self {
        Backoff {
            initial,
            max,
            multiplier,
            max_attempts,
        }
    }

    /// The delay before attempt `attempt + 1` (0-based), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(attempt.min(64) as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }
}

/// When and how long to retry.
///
/// Delays are jittered uniformly in ×[0.5, 1.5). Defaults: conflicts (serialization failures and
/// lock contention) 10 ms → 2 s ×2 for 30 attempts; connection loss and pool exhaustion 100 ms →
/// 5 s ×2 for 8 attempts; ambiguous commits (idempotent operations only) 3 attempts; the whole
/// loop at most 60 s.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// For [`ErrorKind::SerializationFailure`] and [`ErrorKind::Contention`].
    pub conflict: Backoff,
    /// For [`ErrorKind::ConnectionLost`] and [`ErrorKind::PoolExhausted`].
    pub connection: Backoff,
    /// For [`ErrorKind::AmbiguousCommit`], applied only to idempotent operations.
    pub ambiguous: Backoff,
    /// The time bound of the whole loop, sleeps included.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            conflict: Backoff::new(Duration::from_millis(10), Duration::from_secs(2), 2.0, 30),
            connection: Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 2.0, 8),
            ambiguous: Backoff::new(Duration::from_millis(50), Duration::from_secs(1), 2.0, 3),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The policy for application-database transactions (DBOS: 1 ms ×1.5 up to 2 s), bounded
    /// by attempts and time.
    pub fn transactions() -> Self {
        RetryPolicy {
            conflict: Backoff::new(Duration::from_millis(1), Duration::from_secs(2), 1.5, 50),
            ..RetryPolicy::default()
        }
    }

    /// A policy that never retries.
    pub fn none() -> Self {
        let once = Backoff::new(Duration::ZERO, Duration::ZERO, 1.0, 1);
        RetryPolicy {
            conflict: once,
            connection: once,
            ambiguous: once,
            max_elapsed: Duration::ZERO,
        }
    }

    /// Sets the time bound.
    #[must_use]
    pub fn max_elapsed(mut self, bound: Duration) -> Self {
        self.max_elapsed = bound;
        self
    }

    /// Sets the conflict backoff.
    #[must_use]
    pub fn conflict(mut self, backoff: Backoff) -> Self {
        self.conflict = backoff;
        self
    }

    /// Sets the connection backoff.
    #[must_use]
    pub fn connection(mut self, backoff: Backoff) -> Self {
        self.connection = backoff;
        self
    }

    /// The backoff that applies to `error`, or `None` when it must not be retried. Ambiguous
    /// commits are retried only when `idempotent`.
    pub fn backoff_for(&self, error: &Error, idempotent: bool) -> Option<&Backoff> {
        match error.kind() {
            ErrorKind::SerializationFailure | ErrorKind::Contention => Some(&self.conflict),
            ErrorKind::ConnectionLost | ErrorKind::PoolExhausted => Some(&self.connection),
            ErrorKind::AmbiguousCommit if idempotent => Some(&self.ambiguous),
            _ => None,
        }
    }

    /// Runs `operation` until it succeeds, fails with an error this policy does not retry, or
    /// runs out of attempts or time.
    ///
    /// `idempotent` says whether `operation` may be re-run after an ambiguous commit. Create any
    /// value that identifies the attempt (tokens, timestamps) *before* calling this.
    ///
    /// # Errors
    /// The last error; marked [`Error::retries_exhausted`] when a retryable error ran out of
    /// attempts or time.
    pub async fn run<T, F, Fut>(&self, idempotent: bool, mut operation: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut attempts: u32 = 0;
        loop {
            let error = match operation().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(backoff) = self.backoff_for(&error, idempotent) else {
                return Err(error);
            };
            attempts += 1;
            if attempts >= backoff.max_attempts {
                tracing::warn!(attempts, %error, "giving up after the attempt limit");
                return Err(error.with_retries_exhausted());
            }
            let jitter: f64 = rand::rng().random_range(0.5..1.5);
            let delay = backoff.delay(attempts - 1).mul_f64(jitter);
            if started.elapsed() + delay > self.max_elapsed {
                tracing::warn!(attempts, %error, "giving up at the retry time bound");
                return Err(error.with_retries_exhausted());
            }
            tracing::debug!(attempts, ?delay, %error, "retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// A store that re-runs each operation of the store it wraps according to a [`RetryPolicy`].
///
/// Read operations and operations documented as idempotent are also re-run after an ambiguous
/// commit (see each method's `# Idempotency`). [`QueueStore::claim_workflows`], the one operation
/// that is not idempotent, is never re-run.
///
/// It wraps an `Arc`, so it can wrap a trait object: `RetryingStore<dyn SystemStore>`.
#[derive(Debug)]
pub struct RetryingStore<S: ?Sized> {
    inner: Arc<S>,
    policy: RetryPolicy,
}

impl<S: ?Sized> Clone for RetryingStore<S> {
    fn clone(&self) -> Self {
        RetryingStore {
            inner: Arc::clone(&self.inner),
            policy: self.policy,
        }
    }
}

impl<S: ?Sized> RetryingStore<S> {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: Arc<S>, policy: RetryPolicy) -> Self {
        RetryingStore { inner, policy }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

const IDEMPOTENT: bool = true;
const NOT_IDEMPOTENT: bool = false;

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + LifecycleStore> LifecycleStore for RetryingStore<S> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn migrate(&self) -> Result<SchemaVersion> {
        self.policy.run(IDEMPOTENT, || self.inner.migrate()).await
    }
    async fn schema_version(&self) -> Result<SchemaVersion> {
        self.policy
            .run(IDEMPOTENT, || self.inner.schema_version())
            .await
    }
    async fn check_connection(&self) -> Result<()> {
        self.policy
            .run(IDEMPOTENT, || self.inner.check_connection())
            .await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + WorkflowStore> WorkflowStore for RetryingStore<S> {
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .insert_workflow(workflow.clone(), options.clone())
            })
            .await
    }
    async fn get_workflows(&self, workflow_ids: &[String]) -> Result<Vec<WorkflowInfo>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.get_workflows(workflow_ids))
            .await
    }
    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.list_workflows(query.clone()))
            .await
    }
    async fn record_outcome(
        &self,
        workflow_id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .record_outcome(workflow_id, outcome.clone(), owner_xid)
            })
            .await
    }
    async fn workflow_result(&self, workflow_id: &str) -> Result<WorkflowResult> {
        self.policy
            .run(IDEMPOTENT, || self.inner.workflow_result(workflow_id))
            .await
    }
    async fn await_workflow_result(
        &self,
        workflow_id: &str,
        options: AwaitOptions,
    ) -> Result<WorkflowResult> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .await_workflow_result(workflow_id, options.clone())
            })
            .await
    }
    async fn first_finished(&self, workflow_ids: &[String]) -> Result<Option<String>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.first_finished(workflow_ids))
            .await
    }
    async fn await_first_finished(
        &self,
        workflow_ids: &[String],
        options: AwaitOptions,
    ) -> Result<String> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .await_first_finished(workflow_ids, options.clone())
            })
            .await
    }
    async fn workflow_children(&self, workflow_id: &str) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.workflow_children(workflow_id))
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + StepStore> StepStore for RetryingStore<S> {
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .check_step(workflow_id, function_id, function_name)
            })
            .await
    }
    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.record_step(step.clone(), owner_xid)
            })
            .await
    }
    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.list_steps(workflow_id, options))
            .await
    }
    async fn start_child_workflow(
        &self,
        parent_workflow_id: &str,
        function_id: i32,
        child: NewWorkflow,
        options: InsertOptions,
        parent_owner_xid: Option<&str>,
    ) -> Result<InsertOutcome> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.start_child_workflow(
                    parent_workflow_id,
                    function_id,
                    child.clone(),
                    options.clone(),
                    parent_owner_xid,
                )
            })
            .await
    }
    async fn record_sleep(
        &self,
        workflow_id: &str,
        function_id: i32,
        duration: Duration,
        owner_xid: Option<&str>,
    ) -> Result<SleepState> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .record_sleep(workflow_id, function_id, duration, owner_xid)
            })
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + ManagementStore> ManagementStore for RetryingStore<S> {
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.cancel_workflows(workflow_ids, options)
            })
            .await
    }
    async fn resume_workflows(
        &self,
        workflow_ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.resume_workflows(workflow_ids, options.clone())
            })
            .await
    }
    /// Fork ids are assigned once, before the first attempt, so every attempt writes the same
    /// forks.
    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>> {
        let requests = crate::management::prepare_forks(requests)?;
        self.policy
            .run(IDEMPOTENT, || self.inner.fork_workflows(requests.clone()))
            .await
    }
    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow> {
        self.policy
            .run(NOT_IDEMPOTENT, || {
                self.inner.rewind_workflow(request.clone())
            })
            .await
    }
    async fn delete_workflows(
        &self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.delete_workflows(workflow_ids, options)
            })
            .await
    }
    async fn update_workflow_attributes(
        &self,
        workflow_id: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        mode: AttributeUpdate,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .update_workflow_attributes(workflow_id, attributes.clone(), mode)
            })
            .await
    }
    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState> {
        self.policy
            .run(IDEMPOTENT, || self.inner.acquire_lease(lease))
            .await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || self.inner.release_lease(lease))
            .await
    }
    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.collectable_workflows(policy, limit)
            })
            .await
    }
    async fn delete_collected(
        &self,
        lease: &Lease,
        workflow_ids: &[String],
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.delete_collected(lease, workflow_ids)
            })
            .await
    }
    async fn sweep_orphans(&self, lease: &Lease, limit: u32) -> Result<OrphanSweep> {
        self.policy
            .run(IDEMPOTENT, || self.inner.sweep_orphans(lease, limit))
            .await
    }
    async fn export_workflows(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.export_workflows(workflow_ids, include_children)
            })
            .await
    }
    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        self.policy
            .run(options.replace_existing, || {
                self.inner.import_workflows(workflows.clone(), options)
            })
            .await
    }
    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics> {
        self.policy
            .run(IDEMPOTENT, || self.inner.metrics(query.clone()))
            .await
    }
    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.rename_application(request.clone())
            })
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + ScheduleStore> ScheduleStore for RetryingStore<S> {
    async fn create_schedule(&self, schedule: Schedule) -> Result<()> {
        self.policy
            .run(NOT_IDEMPOTENT, || {
                self.inner.create_schedule(schedule.clone())
            })
            .await
    }
    async fn upsert_schedules(&self, schedules: Vec<Schedule>) -> Result<()> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.upsert_schedules(schedules.clone())
            })
            .await
    }
    async fn list_schedules(&self, filter: ScheduleFilter) -> Result<Vec<Schedule>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.list_schedules(filter.clone()))
            .await
    }
    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.get_schedule(name))
            .await
    }
    async fn pause_schedule(&self, name: &str) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || self.inner.pause_schedule(name))
            .await
    }
    async fn resume_schedule(&self, name: &str) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || self.inner.resume_schedule(name))
            .await
    }
    async fn record_schedule_fired(&self, name: &str, fired_at: &str) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.record_schedule_fired(name, fired_at)
            })
            .await
    }
    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || self.inner.delete_schedule(name))
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + QueueStore> QueueStore for RetryingStore<S> {
    async fn enqueue_workflows(&self, workflows: Vec<NewWorkflow>) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.enqueue_workflows(workflows.clone())
            })
            .await
    }
    /// Passed through unretried: a claim is not idempotent (after an ambiguous commit a re-run
    /// would claim nothing more and hide what the first run claimed), and on contention the
    /// caller's next poll is the retry.
    async fn claim_workflows(&self, request: ClaimRequest) -> Result<ClaimOutcome> {
        self.inner.claim_workflows(request).await
    }
    async fn queue_partitions(
        &self,
        queue_name: &str,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.queue_partitions(queue_name, application_name)
            })
            .await
    }
    async fn release_delayed_workflows(&self) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.release_delayed_workflows())
            .await
    }
    async fn set_workflow_delay(&self, workflow_id: &str, until_epoch_ms: EpochMs) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.set_workflow_delay(workflow_id, until_epoch_ms)
            })
            .await
    }
    async fn debounce_workflow(&self, request: DebounceRequest) -> Result<DebounceOutcome> {
        self.policy
            .run(IDEMPOTENT, || self.inner.debounce_workflow(request.clone()))
            .await
    }
    async fn deduplicated_workflow(
        &self,
        queue_name: &str,
        deduplication_id: &str,
    ) -> Result<Option<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .deduplicated_workflow(queue_name, deduplication_id)
            })
            .await
    }
    async fn cancel_timed_out_workflows(
        &self,
        limit: u32,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .cancel_timed_out_workflows(limit, application_name)
            })
            .await
    }
    async fn pending_workflows(
        &self,
        executor_id: &str,
        application_version: Option<&str>,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .pending_workflows(executor_id, application_version, application_name)
            })
            .await
    }
    async fn reenqueue_for_recovery(
        &self,
        workflow_ids: &[String],
        dead_executor_ids: &[String],
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .reenqueue_for_recovery(workflow_ids, dead_executor_ids)
            })
            .await
    }
    async fn dead_letter_workflows(
        &self,
        workflow_ids: &[String],
        min_recovery_attempts: i64,
    ) -> Result<Vec<String>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .dead_letter_workflows(workflow_ids, min_recovery_attempts)
            })
            .await
    }
    async fn upsert_queue(
        &self,
        queue: QueueDefinition,
        policy: QueueConflictPolicy,
    ) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.upsert_queue(queue.clone(), policy)
            })
            .await
    }
    async fn get_queue(&self, name: &str) -> Result<Option<QueueDefinition>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.get_queue(name))
            .await
    }
    async fn list_queues(&self, application_name: Option<&str>) -> Result<Vec<QueueDefinition>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.list_queues(application_name))
            .await
    }
    async fn update_queue(&self, name: &str, update: QueueUpdate) -> Result<QueueDefinition> {
        self.policy
            .run(IDEMPOTENT, || self.inner.update_queue(name, update.clone()))
            .await
    }
    async fn delete_queue(&self, name: &str) -> Result<bool> {
        self.policy
            .run(IDEMPOTENT, || self.inner.delete_queue(name))
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + VersionStore> VersionStore for RetryingStore<S> {
    async fn create_application_version(
        &self,
        version_name: &str,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .create_application_version(version_name, application_name)
            })
            .await
    }
    async fn list_application_versions(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<ApplicationVersion>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.list_application_versions(application_name)
            })
            .await
    }
    async fn latest_application_version(
        &self,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.latest_application_version(application_name)
            })
            .await
    }
    async fn set_application_version_timestamp(
        &self,
        version_name: &str,
        timestamp: EpochMs,
        application_name: Option<&str>,
    ) -> Result<()> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.set_application_version_timestamp(
                    version_name,
                    timestamp,
                    application_name,
                )
            })
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + MessageStore> MessageStore for RetryingStore<S> {
    /// Re-run after an ambiguous commit only when idempotent: from a workflow (its step records
    /// the send) or with an idempotency key on every message.
    async fn send_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        caller: Option<Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome> {
        let idempotent = caller.as_ref().is_some_and(Caller::records_step)
            || messages.iter().all(|m| m.idempotency_key.is_some());
        self.policy
            .run(idempotent, || {
                self.inner
                    .send_messages(messages.clone(), caller.clone(), options)
            })
            .await
    }
    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.recv(request.clone(), options.clone())
            })
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + EventStore> EventStore for RetryingStore<S> {
    async fn set_event(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<SetEventOutcome> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.set_event(caller.clone(), key, value.clone())
            })
            .await
    }
    async fn get_event(
        &self,
        request: GetEventRequest,
        options: AwaitOptions,
    ) -> Result<Option<Payload>> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.get_event(request.clone(), options.clone())
            })
            .await
    }
    async fn get_all_events(&self, workflow_id: &str) -> Result<BTreeMap<String, Payload>> {
        self.policy
            .run(IDEMPOTENT, || self.inner.get_all_events(workflow_id))
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: ?Sized + StreamStore> StreamStore for RetryingStore<S> {
    /// Re-run after an ambiguous commit only from a workflow: a write inside a step has no step
    /// row to tell a re-run from a new value.
    async fn write_stream(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<StreamWriteOutcome> {
        let idempotent = caller.records_step();
        self.policy
            .run(idempotent, || {
                self.inner.write_stream(caller.clone(), key, value.clone())
            })
            .await
    }
    async fn close_stream(&self, caller: Caller, key: &str) -> Result<StreamWriteOutcome> {
        self.policy
            .run(IDEMPOTENT, || self.inner.close_stream(caller.clone(), key))
            .await
    }
    async fn read_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
    ) -> Result<StreamRead> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner.read_stream(workflow_id, key, options)
            })
            .await
    }
    async fn await_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
        wait: AwaitOptions,
    ) -> Result<StreamRead> {
        self.policy
            .run(IDEMPOTENT, || {
                self.inner
                    .await_stream(workflow_id, key, options, wait.clone())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        let b = Backoff::new(Duration::from_millis(1), Duration::from_millis(2), 2.0, 4);
        RetryPolicy {
            conflict: b,
            connection: b,
            ambiguous: b,
            max_elapsed: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = AtomicU32::new(0);
        let v = fast()
            .run(false, || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::new(ErrorKind::Contention, "busy"))
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!(v, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_at_the_attempt_limit_and_says_so() {
        let calls = AtomicU32::new(0);
        let e = fast()
            .run(true, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::SerializationFailure, "40001"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(e.retries_exhausted());
        assert!(e.to_string().contains("retries exhausted"));
    }

    #[tokio::test]
    async fn ambiguous_commits_are_retried_only_when_idempotent() {
        let calls = AtomicU32::new(0);
        let e = fast()
            .run(false, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::AmbiguousCommit, "40003"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(e.kind(), ErrorKind::AmbiguousCommit);
        assert!(!e.retries_exhausted());

        calls.store(0, Ordering::SeqCst);
        fast()
            .run(true, || async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(Error::new(ErrorKind::AmbiguousCommit, "40003"))
                } else {
                    Ok(())
                }
            })
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let e = fast()
            .run(true, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::NotOwner, "lost"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(e.kind(), ErrorKind::NotOwner);
    }

    #[tokio::test]
    async fn the_time_bound_stops_the_loop() {
        let policy = RetryPolicy {
            max_elapsed: Duration::from_millis(30),
            conflict: Backoff::new(
                Duration::from_millis(20),
                Duration::from_millis(20),
                1.0,
                1000,
            ),
            ..fast()
        };
        let calls = AtomicU32::new(0);
        let e = policy
            .run(false, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Contention, "busy"))
            })
            .await
            .unwrap_err();
        assert!(e.retries_exhausted());
        assert!(calls.load(Ordering::SeqCst) < 10);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(50), 2.0, 9);
        assert_eq!(b.delay(0), Duration::from_millis(10));
        assert_eq!(b.delay(1), Duration::from_millis(20));
        assert_eq!(b.delay(5), Duration::from_millis(50));
    }
}
