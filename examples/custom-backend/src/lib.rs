//! A third-party backend for dbos-storage, written only against the public contract.
//!
//! [`AuditStore`] is a system store that keeps a per-operation count of every write and logs it
//! through `tracing`, on top of any other store. [`AuditDriver`] serves the `audit://` URL scheme
//! (`audit:///orders.sqlite`, `audit:///:memory:`) by opening the SQLite driver underneath, and
//! [`registry`] shows how an application plugs it into `connect`. Its `tests/conformance.rs` proves
//! it keeps the contract with the one-line conformance suite, exactly as an in-tree driver does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dbos_storage::{
    AppStore, AwaitOptions, CancelOptions, Capabilities, DatabaseUrl, DbosConfig, Driver, Error,
    InsertOptions, InsertOutcome, LifecycleStore, ListStepsOptions, ListWorkflowsQuery,
    ManagementStore, NewWorkflow, Outcome, RecordedStep, Registry, Result, ResumeOptions,
    SchemaVersion, SleepState, StepInfo, StepRecord, StepStore, SystemStore, WorkflowInfo,
    WorkflowResult, WorkflowStore,
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
