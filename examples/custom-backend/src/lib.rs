//! A third-party backend for dbos-storage, written only against the public contract.
//!
//! [`AuditStore`] is a system store that keeps a per-operation count of every write (claims
//! included) and logs it
//! through `tracing`, on top of any other store. [`AuditDriver`] serves the `audit://` URL scheme
//! (`audit:///orders.sqlite`, `audit:///:memory:`) by opening the SQLite driver underneath, and
//! [`registry`] shows how an application plugs it into `connect`. Its `tests/conformance.rs` proves
//! it keeps the contract with the one-line conformance suite, exactly as an in-tree driver does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dbos_storage::{
    AppStore, ApplicationVersion, AwaitOptions, Caller, CancelOptions, Capabilities, ClaimOutcome,
    ClaimRequest, DatabaseUrl, DbosConfig, DebounceOutcome, DebounceRequest, Driver, EpochMs,
    Error, EventStore, GetEventRequest, InsertOptions, InsertOutcome, LifecycleStore,
    ListStepsOptions, ListWorkflowsQuery, ManagementStore, MessageStore, NewWorkflow, Outcome,
    OutgoingMessage, Payload, QueueConflictPolicy, QueueDefinition, QueueStore, QueueUpdate,
    RecordedStep, RecvRequest, Registry, Result, ResumeOptions, SchemaVersion, SendOptions,
    SendOutcome, SetEventOutcome, SleepState, StepInfo, StepRecord, StepStore, StreamRead,
    StreamReadOptions, StreamStore, StreamWriteOutcome, SystemStore, VersionStore, WorkflowInfo,
    WorkflowResult, WorkflowStore,
};
use dbos_storage::{
    AttributeUpdate, DeleteOptions, ExportedWorkflow, ForkRequest, ForkedWorkflow, ImportOptions,
    Lease, LeaseState, Metrics, MetricsQuery, OrphanSweep, RenameApplication, RenameReport,
    RetentionPolicy, RewindRequest, RewoundWorkflow, Schedule, ScheduleFilter, ScheduleStore,
};

/// The URL scheme of the audit backend.
pub const SCHEME: &str = "audit";

/// A system store that counts and logs every write of the store it wraps.
#[derive(Debug, Clone)]
pub struct AuditStore {
    inner: Arc<dyn SystemStore>,
    writes: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl AuditStore {
    /// Audits `inner`.
    pub fn new(inner: Arc<dyn SystemStore>) -> Self {
        AuditStore {
            inner,
            writes: Arc::default(),
        }
    }

    /// How many writes of each operation succeeded so far.
    pub fn write_counts(&self) -> BTreeMap<&'static str, u64> {
        self.writes.lock().map(|w| w.clone()).unwrap_or_default()
    }

    fn audit<T>(&self, operation: &'static str, result: Result<T>) -> Result<T> {
        match &result {
            Ok(_) => {
                if let Ok(mut writes) = self.writes.lock() {
                    *writes.entry(operation).or_default() += 1;
                }
                tracing::info!(operation, "audited write");
            }
            Err(error) => tracing::warn!(operation, %error, "audited write failed"),
        }
        result
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl LifecycleStore for AuditStore {
    fn backend(&self) -> &'static str {
        "audit"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn migrate(&self) -> Result<SchemaVersion> {
        let r = self.inner.migrate().await;
        self.audit("migrate", r)
    }
    async fn schema_version(&self) -> Result<SchemaVersion> {
        self.inner.schema_version().await
    }
    async fn check_connection(&self) -> Result<()> {
        self.inner.check_connection().await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl WorkflowStore for AuditStore {
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome> {
        let r = self.inner.insert_workflow(workflow, options).await;
        self.audit("insert_workflow", r)
    }
    async fn get_workflows(&self, ids: &[String]) -> Result<Vec<WorkflowInfo>> {
        self.inner.get_workflows(ids).await
    }
    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        self.inner.list_workflows(query).await
    }
    async fn record_outcome(
        &self,
        id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool> {
        let r = self.inner.record_outcome(id, outcome, owner_xid).await;
        self.audit("record_outcome", r)
    }
    async fn workflow_result(&self, id: &str) -> Result<WorkflowResult> {
        self.inner.workflow_result(id).await
    }
    async fn await_workflow_result(
        &self,
        id: &str,
        options: AwaitOptions,
    ) -> Result<WorkflowResult> {
        self.inner.await_workflow_result(id, options).await
    }
    async fn first_finished(&self, ids: &[String]) -> Result<Option<String>> {
        self.inner.first_finished(ids).await
    }
    async fn await_first_finished(&self, ids: &[String], options: AwaitOptions) -> Result<String> {
        self.inner.await_first_finished(ids, options).await
    }
    async fn workflow_children(&self, id: &str) -> Result<Vec<String>> {
        self.inner.workflow_children(id).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl StepStore for AuditStore {
    async fn check_step(
        &self,
        id: &str,
        function_id: i32,
        name: &str,
    ) -> Result<Option<RecordedStep>> {
        self.inner.check_step(id, function_id, name).await
    }
    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()> {
        let r = self.inner.record_step(step, owner_xid).await;
        self.audit("record_step", r)
    }
    async fn list_steps(&self, id: &str, options: ListStepsOptions) -> Result<Vec<StepInfo>> {
        self.inner.list_steps(id, options).await
    }
    async fn start_child_workflow(
        &self,
        parent: &str,
        function_id: i32,
        child: NewWorkflow,
        options: InsertOptions,
        parent_owner_xid: Option<&str>,
    ) -> Result<InsertOutcome> {
        let r = self
            .inner
            .start_child_workflow(parent, function_id, child, options, parent_owner_xid)
            .await;
        self.audit("start_child_workflow", r)
    }
    async fn record_sleep(
        &self,
        id: &str,
        function_id: i32,
        duration: Duration,
        owner_xid: Option<&str>,
    ) -> Result<SleepState> {
        let r = self
            .inner
            .record_sleep(id, function_id, duration, owner_xid)
            .await;
        self.audit("record_sleep", r)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ManagementStore for AuditStore {
    async fn cancel_workflows(
        &self,
        ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        let r = self.inner.cancel_workflows(ids, options).await;
        self.audit("cancel_workflows", r)
    }
    async fn resume_workflows(
        &self,
        ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>> {
        let r = self.inner.resume_workflows(ids, options).await;
        self.audit("resume_workflows", r)
    }
    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>> {
        let r = self.inner.fork_workflows(requests).await;
        self.audit("fork_workflows", r)
    }
    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow> {
        let r = self.inner.rewind_workflow(request).await;
        self.audit("rewind_workflow", r)
    }
    async fn delete_workflows(
        &self,
        ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>> {
        let r = self.inner.delete_workflows(ids, options).await;
        self.audit("delete_workflows", r)
    }
    async fn update_workflow_attributes(
        &self,
        id: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        mode: AttributeUpdate,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        let r = self
            .inner
            .update_workflow_attributes(id, attributes, mode)
            .await;
        self.audit("update_workflow_attributes", r)
    }
    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState> {
        let r = self.inner.acquire_lease(lease).await;
        self.audit("acquire_lease", r)
    }
    async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        let r = self.inner.release_lease(lease).await;
        self.audit("release_lease", r)
    }
    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.inner.collectable_workflows(policy, limit).await
    }
    async fn delete_collected(&self, lease: &Lease, ids: &[String]) -> Result<Vec<String>> {
        let r = self.inner.delete_collected(lease, ids).await;
        self.audit("delete_collected", r)
    }
    async fn sweep_orphans(&self, lease: &Lease, limit: u32) -> Result<OrphanSweep> {
        let r = self.inner.sweep_orphans(lease, limit).await;
        self.audit("sweep_orphans", r)
    }
    async fn export_workflows(
        &self,
        ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>> {
        self.inner.export_workflows(ids, include_children).await
    }
    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>> {
        let r = self.inner.import_workflows(workflows, options).await;
        self.audit("import_workflows", r)
    }
    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics> {
        self.inner.metrics(query).await
    }
    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport> {
        let r = self.inner.rename_application(request).await;
        self.audit("rename_application", r)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ScheduleStore for AuditStore {
    async fn create_schedule(&self, schedule: Schedule) -> Result<()> {
        let r = self.inner.create_schedule(schedule).await;
        self.audit("create_schedule", r)
    }
    async fn upsert_schedules(&self, schedules: Vec<Schedule>) -> Result<()> {
        let r = self.inner.upsert_schedules(schedules).await;
        self.audit("upsert_schedules", r)
    }
    async fn list_schedules(&self, filter: ScheduleFilter) -> Result<Vec<Schedule>> {
        self.inner.list_schedules(filter).await
    }
    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>> {
        self.inner.get_schedule(name).await
    }
    async fn pause_schedule(&self, name: &str) -> Result<bool> {
        let r = self.inner.pause_schedule(name).await;
        self.audit("pause_schedule", r)
    }
    async fn resume_schedule(&self, name: &str) -> Result<bool> {
        let r = self.inner.resume_schedule(name).await;
        self.audit("resume_schedule", r)
    }
    async fn record_schedule_fired(&self, name: &str, fired_at: &str) -> Result<bool> {
        let r = self.inner.record_schedule_fired(name, fired_at).await;
        self.audit("record_schedule_fired", r)
    }
    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        let r = self.inner.delete_schedule(name).await;
        self.audit("delete_schedule", r)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl QueueStore for AuditStore {
    async fn enqueue_workflows(&self, workflows: Vec<NewWorkflow>) -> Result<Vec<String>> {
        let r = self.inner.enqueue_workflows(workflows).await;
        self.audit("enqueue_workflows", r)
    }
    async fn claim_workflows(&self, request: ClaimRequest) -> Result<ClaimOutcome> {
        let r = self.inner.claim_workflows(request).await;
        self.audit("claim_workflows", r)
    }
    async fn queue_partitions(&self, queue: &str, app: Option<&str>) -> Result<Vec<String>> {
        self.inner.queue_partitions(queue, app).await
    }
    async fn release_delayed_workflows(&self) -> Result<Vec<String>> {
        let r = self.inner.release_delayed_workflows().await;
        self.audit("release_delayed_workflows", r)
    }
    async fn set_workflow_delay(&self, id: &str, until: EpochMs) -> Result<bool> {
        let r = self.inner.set_workflow_delay(id, until).await;
        self.audit("set_workflow_delay", r)
    }
    async fn debounce_workflow(&self, request: DebounceRequest) -> Result<DebounceOutcome> {
        let r = self.inner.debounce_workflow(request).await;
        self.audit("debounce_workflow", r)
    }
    async fn deduplicated_workflow(&self, queue: &str, dedup: &str) -> Result<Option<String>> {
        self.inner.deduplicated_workflow(queue, dedup).await
    }
    async fn cancel_timed_out_workflows(
        &self,
        limit: u32,
        app: Option<&str>,
    ) -> Result<Vec<String>> {
        let r = self.inner.cancel_timed_out_workflows(limit, app).await;
        self.audit("cancel_timed_out_workflows", r)
    }
    async fn pending_workflows(
        &self,
        executor: &str,
        version: Option<&str>,
        app: Option<&str>,
    ) -> Result<Vec<String>> {
        self.inner.pending_workflows(executor, version, app).await
    }
    async fn reenqueue_for_recovery(&self, ids: &[String], dead: &[String]) -> Result<Vec<String>> {
        let r = self.inner.reenqueue_for_recovery(ids, dead).await;
        self.audit("reenqueue_for_recovery", r)
    }
    async fn dead_letter_workflows(&self, ids: &[String], min: i64) -> Result<Vec<String>> {
        let r = self.inner.dead_letter_workflows(ids, min).await;
        self.audit("dead_letter_workflows", r)
    }
    async fn upsert_queue(
        &self,
        queue: QueueDefinition,
        policy: QueueConflictPolicy,
    ) -> Result<bool> {
        let r = self.inner.upsert_queue(queue, policy).await;
        self.audit("upsert_queue", r)
    }
    async fn get_queue(&self, name: &str) -> Result<Option<QueueDefinition>> {
        self.inner.get_queue(name).await
    }
    async fn list_queues(&self, app: Option<&str>) -> Result<Vec<QueueDefinition>> {
        self.inner.list_queues(app).await
    }
    async fn update_queue(&self, name: &str, update: QueueUpdate) -> Result<QueueDefinition> {
        let r = self.inner.update_queue(name, update).await;
        self.audit("update_queue", r)
    }
    async fn delete_queue(&self, name: &str) -> Result<bool> {
        let r = self.inner.delete_queue(name).await;
        self.audit("delete_queue", r)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl VersionStore for AuditStore {
    async fn create_application_version(
        &self,
        name: &str,
        app: Option<&str>,
    ) -> Result<ApplicationVersion> {
        let r = self.inner.create_application_version(name, app).await;
        self.audit("create_application_version", r)
    }
    async fn list_application_versions(
        &self,
        app: Option<&str>,
    ) -> Result<Vec<ApplicationVersion>> {
        self.inner.list_application_versions(app).await
    }
    async fn latest_application_version(&self, app: Option<&str>) -> Result<ApplicationVersion> {
        self.inner.latest_application_version(app).await
    }
    async fn set_application_version_timestamp(
        &self,
        name: &str,
        timestamp: EpochMs,
        app: Option<&str>,
    ) -> Result<()> {
        let r = self
            .inner
            .set_application_version_timestamp(name, timestamp, app)
            .await;
        self.audit("set_application_version_timestamp", r)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl MessageStore for AuditStore {
    async fn send_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        caller: Option<Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome> {
        let r = self.inner.send_messages(messages, caller, options).await;
        self.audit("send_messages", r)
    }
    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>> {
        let r = self.inner.recv(request, options).await;
        self.audit("recv", r)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl EventStore for AuditStore {
    async fn set_event(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<SetEventOutcome> {
        let r = self.inner.set_event(caller, key, value).await;
        self.audit("set_event", r)
    }
    async fn get_event(
        &self,
        request: GetEventRequest,
        options: AwaitOptions,
    ) -> Result<Option<Payload>> {
        self.inner.get_event(request, options).await
    }
    async fn get_all_events(&self, workflow_id: &str) -> Result<BTreeMap<String, Payload>> {
        self.inner.get_all_events(workflow_id).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl StreamStore for AuditStore {
    async fn write_stream(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<StreamWriteOutcome> {
        let r = self.inner.write_stream(caller, key, value).await;
        self.audit("write_stream", r)
    }
    async fn close_stream(&self, caller: Caller, key: &str) -> Result<StreamWriteOutcome> {
        let r = self.inner.close_stream(caller, key).await;
        self.audit("close_stream", r)
    }
    async fn read_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
    ) -> Result<StreamRead> {
        self.inner.read_stream(workflow_id, key, options).await
    }
    async fn await_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
        wait: AwaitOptions,
    ) -> Result<StreamRead> {
        self.inner
            .await_stream(workflow_id, key, options, wait)
            .await
    }
}

/// Serves `audit:///path.sqlite` and `audit:///:memory:` with an [`AuditStore`] over SQLite.
#[derive(Debug, Default)]
pub struct AuditDriver;

impl AuditDriver {
    /// Opens the audited store at an `audit://` URL.
    ///
    /// # Errors
    /// [`dbos_storage::ErrorKind::InvalidConfig`] for a URL of another scheme, and the SQLite
    /// driver's errors.
    pub async fn open(&self, config: &DbosConfig, url: &DatabaseUrl) -> Result<AuditStore> {
        let sqlite_url = sqlite_url(url)?;
        let sqlite = Registry::with_default_drivers();
        let inner = sqlite
            .driver_for(&sqlite_url)?
            .open_system(config, &sqlite_url)
            .await?;
        Ok(AuditStore::new(inner))
    }
}

fn sqlite_url(url: &DatabaseUrl) -> Result<DatabaseUrl> {
    let text = url.expose_secret();
    let rest = text
        .strip_prefix("audit:")
        .ok_or_else(|| Error::invalid_config(format!("{url} is not an audit:// URL")))?;
    DatabaseUrl::parse(&format!("sqlite:{rest}"))
}

#[async_trait]
impl Driver for AuditDriver {
    fn name(&self) -> &'static str {
        "audit"
    }
    fn schemes(&self) -> &'static [&'static str] {
        &[SCHEME]
    }
    async fn open_system(
        &self,
        config: &DbosConfig,
        url: &DatabaseUrl,
    ) -> Result<Arc<dyn SystemStore>> {
        Ok(Arc::new(self.open(config, url).await?))
    }
    async fn open_app(&self, config: &DbosConfig, url: &DatabaseUrl) -> Result<Arc<dyn AppStore>> {
        let sqlite_url = sqlite_url(url)?;
        Registry::with_default_drivers()
            .driver_for(&sqlite_url)?
            .open_app(config, &sqlite_url)
            .await
    }
}

/// The built-in drivers plus the audit driver: pass this registry's `connect` a config whose
/// system URL is `audit:///…`.
pub fn registry() -> Registry {
    let mut registry = Registry::with_default_drivers();
    registry
        .register(Arc::new(AuditDriver))
        .expect("the audit scheme is free");
    registry
}
