//! [`FaultyStore`]: a wrapper that injects transient errors and lost commit acknowledgements,
//! to test error classification, retries and every `# Idempotency` claim of the contract.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::{
    ApplicationVersion, AwaitOptions, Caller, CancelOptions, Capabilities, ClaimOutcome,
    ClaimRequest, DebounceOutcome, DebounceRequest, EpochMs, Error, ErrorKind, GetEventRequest,
    InsertOptions, InsertOutcome, ListStepsOptions, ListWorkflowsQuery, NewWorkflow, Outcome,
    OutgoingMessage, Payload, QueueConflictPolicy, QueueDefinition, QueueUpdate, RecordedStep,
    RecvRequest, Result, ResumeOptions, SchemaVersion, SendOptions, SendOutcome, SetEventOutcome,
    SleepState, StepInfo, StepRecord, StreamRead, StreamReadOptions, StreamWriteOutcome,
    SystemStore, WorkflowInfo, WorkflowResult,
};
use dbos_storage_core::{
    AttributeUpdate, DeleteOptions, ExportedWorkflow, ForkRequest, ForkedWorkflow, ImportOptions,
    Lease, LeaseState, Metrics, MetricsQuery, OrphanSweep, RenameApplication, RenameReport,
    RetentionPolicy, RewindRequest, RewoundWorkflow, Schedule, ScheduleFilter,
};
use dbos_storage_core::{
    EventStore, LifecycleStore, ManagementStore, MessageStore, QueueStore, ScheduleStore,
    StepStore, StreamStore, VersionStore, WorkflowStore,
};

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The operation fails with this kind *before* it runs, as if the database refused it
    /// (serialization failure, contention, lost connection, exhausted pool).
    Fail(ErrorKind),
    /// The operation runs and commits, then fails with
    /// [`AmbiguousCommit`](ErrorKind::AmbiguousCommit), as if the acknowledgement was lost.
    /// If the operation itself fails, its own error is returned.
    AmbiguousCommit,
}

impl Fault {
    /// [`ErrorKind::SerializationFailure`] before the operation.
    pub const SERIALIZATION_FAILURE: Fault = Fault::Fail(ErrorKind::SerializationFailure);
    /// [`ErrorKind::ConnectionLost`] before the operation.
    pub const CONNECTION_LOST: Fault = Fault::Fail(ErrorKind::ConnectionLost);
    /// [`ErrorKind::Contention`] before the operation.
    pub const CONTENTION: Fault = Fault::Fail(ErrorKind::Contention);
    /// [`ErrorKind::PoolExhausted`] before the operation.
    pub const POOL_EXHAUSTED: Fault = Fault::Fail(ErrorKind::PoolExhausted);
    /// Every fault the retry property injects.
    pub const ALL: [Fault; 5] = [
        Fault::SERIALIZATION_FAILURE,
        Fault::CONNECTION_LOST,
        Fault::CONTENTION,
        Fault::POOL_EXHAUSTED,
        Fault::AmbiguousCommit,
    ];
}

/// A store that takes one queued [`Fault`] per call (in FIFO order) and otherwise forwards to
/// the store it wraps. `backend`, `capabilities` and `close` are never faulted.
///
/// It forwards [`QueueStore`], [`VersionStore`], [`MessageStore`], [`EventStore`] and
/// [`StreamStore`] too when the wrapped store has them. A fault on a wait (`recv`, `get_event`,
/// `await_stream`) applies to the whole wait: [`Fault::AmbiguousCommit`] lets it finish (a recv
/// consumes its message) and loses the answer. A
/// [`Fault::AmbiguousCommit`] on [`QueueStore::claim_workflows`] keeps the claim and loses its
/// answer, as a lost acknowledgement would: the claimed rows stay `PENDING` under a token nobody
/// runs, until recovery.
///
/// Wrap it (in an `Arc`) in [`RetryingStore`](dbos_storage_core::RetryingStore) to check that retries end in
/// the same state as a clean run.
/// `S` may be a trait object: `FaultyStore<dyn SystemStore>`.
#[derive(Debug)]
pub struct FaultyStore<S: ?Sized> {
    inner: Arc<S>,
    faults: Mutex<VecDeque<Fault>>,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self::shared(Arc::new(inner))
    }
}

impl<S: ?Sized> FaultyStore<S> {
    /// Wraps a store the caller keeps a handle on (to destroy it afterwards).
    pub fn shared(inner: Arc<S>) -> Self {
        FaultyStore {
            inner,
            faults: Mutex::new(VecDeque::new()),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// Queues `fault` for a later call.
    pub fn inject(&self, fault: Fault) {
        self.queue().push_back(fault);
    }

    /// Queues every fault of `faults`, in order.
    pub fn inject_all(&self, faults: impl IntoIterator<Item = Fault>) {
        self.queue().extend(faults);
    }

    /// How many queued faults no call has taken yet.
    pub fn pending(&self) -> usize {
        self.queue().len()
    }

    /// Drops every queued fault and returns how many there were.
    pub fn drain(&self) -> usize {
        let mut queue = self.queue();
        let left = queue.len();
        queue.clear();
        left
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Fault>> {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `op` (named `name`) under the next queued fault.
    async fn run<T, Fut>(&self, name: &str, op: impl FnOnce() -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        let fault = self.queue().pop_front();
        match fault {
            None => op().await,
            Some(Fault::Fail(kind)) => Err(Error::new(
                kind,
                format!("injected {kind} before {name} (FaultyStore)"),
            )),
            Some(Fault::AmbiguousCommit) => {
                op().await?;
                Err(Error::new(
                    ErrorKind::AmbiguousCommit,
                    format!("injected ambiguous commit after {name} ran (FaultyStore)"),
                ))
            }
        }
    }
}

#[async_trait]
impl<S: SystemStore + ?Sized> LifecycleStore for FaultyStore<S> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn migrate(&self) -> Result<SchemaVersion> {
        self.run("migrate", || self.inner.migrate()).await
    }
    async fn schema_version(&self) -> Result<SchemaVersion> {
        self.run("schema_version", || self.inner.schema_version())
            .await
    }
    async fn check_connection(&self) -> Result<()> {
        self.run("check_connection", || self.inner.check_connection())
            .await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[async_trait]
impl<S: SystemStore + ?Sized> WorkflowStore for FaultyStore<S> {
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome> {
        self.run("insert_workflow", || {
            self.inner.insert_workflow(workflow, options)
        })
        .await
    }
    async fn get_workflows(&self, workflow_ids: &[String]) -> Result<Vec<WorkflowInfo>> {
        self.run("get_workflows", || self.inner.get_workflows(workflow_ids))
            .await
    }
    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        self.run("list_workflows", || self.inner.list_workflows(query))
            .await
    }
    async fn record_outcome(
        &self,
        workflow_id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool> {
        self.run("record_outcome", || {
            self.inner.record_outcome(workflow_id, outcome, owner_xid)
        })
        .await
    }
    async fn workflow_result(&self, workflow_id: &str) -> Result<WorkflowResult> {
        self.run("workflow_result", || {
            self.inner.workflow_result(workflow_id)
        })
        .await
    }
    async fn await_workflow_result(
        &self,
        workflow_id: &str,
        options: AwaitOptions,
    ) -> Result<WorkflowResult> {
        self.run("await_workflow_result", || {
            self.inner.await_workflow_result(workflow_id, options)
        })
        .await
    }
    async fn first_finished(&self, workflow_ids: &[String]) -> Result<Option<String>> {
        self.run("first_finished", || self.inner.first_finished(workflow_ids))
            .await
    }
    async fn await_first_finished(
        &self,
        workflow_ids: &[String],
        options: AwaitOptions,
    ) -> Result<String> {
        self.run("await_first_finished", || {
            self.inner.await_first_finished(workflow_ids, options)
        })
        .await
    }
    async fn workflow_children(&self, workflow_id: &str) -> Result<Vec<String>> {
        self.run("workflow_children", || {
            self.inner.workflow_children(workflow_id)
        })
        .await
    }
}

#[async_trait]
impl<S: SystemStore + ?Sized> StepStore for FaultyStore<S> {
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>> {
        self.run("check_step", || {
            self.inner
                .check_step(workflow_id, function_id, function_name)
        })
        .await
    }
    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()> {
        self.run("record_step", || self.inner.record_step(step, owner_xid))
            .await
    }
    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>> {
        self.run("list_steps", || self.inner.list_steps(workflow_id, options))
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
        self.run("start_child_workflow", || {
            self.inner.start_child_workflow(
                parent_workflow_id,
                function_id,
                child,
                options,
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
        self.run("record_sleep", || {
            self.inner
                .record_sleep(workflow_id, function_id, duration, owner_xid)
        })
        .await
    }
}

#[async_trait]
impl<S: SystemStore + ?Sized> ManagementStore for FaultyStore<S> {
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        self.run("cancel_workflows", || {
            self.inner.cancel_workflows(workflow_ids, options)
        })
        .await
    }
    async fn resume_workflows(
        &self,
        workflow_ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>> {
        self.run("resume_workflows", || {
            self.inner.resume_workflows(workflow_ids, options)
        })
        .await
    }
    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>> {
        self.run("fork_workflows", || self.inner.fork_workflows(requests))
            .await
    }
    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow> {
        self.run("rewind_workflow", || self.inner.rewind_workflow(request))
            .await
    }
    async fn delete_workflows(
        &self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>> {
        self.run("delete_workflows", || {
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
        self.run("update_workflow_attributes", || {
            self.inner
                .update_workflow_attributes(workflow_id, attributes, mode)
        })
        .await
    }
    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState> {
        self.run("acquire_lease", || self.inner.acquire_lease(lease))
            .await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        self.run("release_lease", || self.inner.release_lease(lease))
            .await
    }
    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.run("collectable_workflows", || {
            self.inner.collectable_workflows(policy, limit)
        })
        .await
    }
    async fn delete_collected(
        &self,
        lease: &Lease,
        workflow_ids: &[String],
    ) -> Result<Vec<String>> {
        self.run("delete_collected", || {
            self.inner.delete_collected(lease, workflow_ids)
        })
        .await
    }
    async fn sweep_orphans(&self, lease: &Lease, limit: u32) -> Result<OrphanSweep> {
        self.run("sweep_orphans", || self.inner.sweep_orphans(lease, limit))
            .await
    }
    async fn export_workflows(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        self.run("export_workflows", || {
            self.inner.export_workflows(workflow_ids, include_children)
        })
        .await
    }
    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        self.run("import_workflows", || {
            self.inner.import_workflows(workflows, options)
        })
        .await
    }
    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics> {
        self.run("metrics", || self.inner.metrics(query)).await
    }
    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport> {
        self.run("rename_application", || {
            self.inner.rename_application(request)
        })
        .await
    }
}

#[async_trait]
impl<S: SystemStore + ?Sized> ScheduleStore for FaultyStore<S> {
    async fn create_schedule(&self, schedule: Schedule) -> Result<()> {
        self.run("create_schedule", || self.inner.create_schedule(schedule))
            .await
    }
    async fn upsert_schedules(&self, schedules: Vec<Schedule>) -> Result<()> {
        self.run("upsert_schedules", || {
            self.inner.upsert_schedules(schedules)
        })
        .await
    }
    async fn list_schedules(&self, filter: ScheduleFilter) -> Result<Vec<Schedule>> {
        self.run("list_schedules", || self.inner.list_schedules(filter))
            .await
    }
    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>> {
        self.run("get_schedule", || self.inner.get_schedule(name))
            .await
    }
    async fn pause_schedule(&self, name: &str) -> Result<bool> {
        self.run("pause_schedule", || self.inner.pause_schedule(name))
            .await
    }
    async fn resume_schedule(&self, name: &str) -> Result<bool> {
        self.run("resume_schedule", || self.inner.resume_schedule(name))
            .await
    }
    async fn record_schedule_fired(&self, name: &str, fired_at: &str) -> Result<bool> {
        self.run("record_schedule_fired", || {
            self.inner.record_schedule_fired(name, fired_at)
        })
        .await
    }
    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        self.run("delete_schedule", || self.inner.delete_schedule(name))
            .await
    }
}

#[async_trait]
impl<S: SystemStore + QueueStore + ?Sized> QueueStore for FaultyStore<S> {
    async fn enqueue_workflows(&self, workflows: Vec<NewWorkflow>) -> Result<Vec<String>> {
        self.run("enqueue_workflows", || {
            self.inner.enqueue_workflows(workflows)
        })
        .await
    }
    async fn claim_workflows(&self, request: ClaimRequest) -> Result<ClaimOutcome> {
        self.run("claim_workflows", || self.inner.claim_workflows(request))
            .await
    }
    async fn queue_partitions(
        &self,
        queue_name: &str,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        self.run("queue_partitions", || {
            self.inner.queue_partitions(queue_name, application_name)
        })
        .await
    }
    async fn release_delayed_workflows(&self) -> Result<Vec<String>> {
        self.run("release_delayed_workflows", || {
            self.inner.release_delayed_workflows()
        })
        .await
    }
    async fn set_workflow_delay(&self, workflow_id: &str, until_epoch_ms: EpochMs) -> Result<bool> {
        self.run("set_workflow_delay", || {
            self.inner.set_workflow_delay(workflow_id, until_epoch_ms)
        })
        .await
    }
    async fn debounce_workflow(&self, request: DebounceRequest) -> Result<DebounceOutcome> {
        self.run("debounce_workflow", || {
            self.inner.debounce_workflow(request)
        })
        .await
    }
    async fn deduplicated_workflow(
        &self,
        queue_name: &str,
        deduplication_id: &str,
    ) -> Result<Option<String>> {
        self.run("deduplicated_workflow", || {
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
        self.run("cancel_timed_out_workflows", || {
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
        self.run("pending_workflows", || {
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
        self.run("reenqueue_for_recovery", || {
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
        self.run("dead_letter_workflows", || {
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
        self.run("upsert_queue", || self.inner.upsert_queue(queue, policy))
            .await
    }
    async fn get_queue(&self, name: &str) -> Result<Option<QueueDefinition>> {
        self.run("get_queue", || self.inner.get_queue(name)).await
    }
    async fn list_queues(&self, application_name: Option<&str>) -> Result<Vec<QueueDefinition>> {
        self.run("list_queues", || self.inner.list_queues(application_name))
            .await
    }
    async fn update_queue(&self, name: &str, update: QueueUpdate) -> Result<QueueDefinition> {
        self.run("update_queue", || self.inner.update_queue(name, update))
            .await
    }
    async fn delete_queue(&self, name: &str) -> Result<bool> {
        self.run("delete_queue", || self.inner.delete_queue(name))
            .await
    }
}

#[async_trait]
impl<S: SystemStore + VersionStore + ?Sized> VersionStore for FaultyStore<S> {
    async fn create_application_version(
        &self,
        version_name: &str,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        self.run("create_application_version", || {
            self.inner
                .create_application_version(version_name, application_name)
        })
        .await
    }
    async fn list_application_versions(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<ApplicationVersion>> {
        self.run("list_application_versions", || {
            self.inner.list_application_versions(application_name)
        })
        .await
    }
    async fn latest_application_version(
        &self,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        self.run("latest_application_version", || {
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
        self.run("set_application_version_timestamp", || {
            self.inner
                .set_application_version_timestamp(version_name, timestamp, application_name)
        })
        .await
    }
}

#[async_trait]
impl<S: SystemStore + MessageStore + ?Sized> MessageStore for FaultyStore<S> {
    async fn send_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        caller: Option<Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome> {
        self.run("send_messages", || {
            self.inner.send_messages(messages, caller, options)
        })
        .await
    }
    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>> {
        self.run("recv", || self.inner.recv(request, options)).await
    }
}

#[async_trait]
impl<S: SystemStore + EventStore + ?Sized> EventStore for FaultyStore<S> {
    async fn set_event(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<SetEventOutcome> {
        self.run("set_event", || self.inner.set_event(caller, key, value))
            .await
    }
    async fn get_event(
        &self,
        request: GetEventRequest,
        options: AwaitOptions,
    ) -> Result<Option<Payload>> {
        self.run("get_event", || self.inner.get_event(request, options))
            .await
    }
    async fn get_all_events(&self, workflow_id: &str) -> Result<BTreeMap<String, Payload>> {
        self.run("get_all_events", || self.inner.get_all_events(workflow_id))
            .await
    }
}

#[async_trait]
impl<S: SystemStore + StreamStore + ?Sized> StreamStore for FaultyStore<S> {
    async fn write_stream(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<StreamWriteOutcome> {
        self.run("write_stream", || {
            self.inner.write_stream(caller, key, value)
        })
        .await
    }
    async fn close_stream(&self, caller: Caller, key: &str) -> Result<StreamWriteOutcome> {
        self.run("close_stream", || self.inner.close_stream(caller, key))
            .await
    }
    async fn read_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
    ) -> Result<StreamRead> {
        self.run("read_stream", || {
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
        self.run("await_stream", || {
            self.inner.await_stream(workflow_id, key, options, wait)
        })
        .await
    }
}
