//! A third-party backend for dbos-storage, written only against the public contract.
//!
//! [`AuditStore`] is a system store that keeps a per-operation count of every write (claims
//! included) and logs it through `tracing`, on top of any other store: a [`Layered`] store whose
//! [`Audit`] layer is the whole of the wrapper, a few lines that see every call with its row of
//! the method table. [`AuditDriver`] serves the `audit://` URL scheme (`audit:///orders.sqlite`,
//! `audit:///:memory:`) by opening the SQLite driver underneath, and [`registry`] shows how an
//! application plugs it into `connect`. Its `tests/conformance.rs` proves it keeps the contract
//! with the one-line conformance suite, exactly as an in-tree driver does.
//!
//! The application database gets the same treatment: [`AuditAppStore`] wraps any application
//! store and counts the transactions that ran, replayed or failed ([`app`]), and
//! `tests/app_conformance.rs` proves it with the one-line `app_suite!`.

pub mod app;

pub use app::{AuditAppStore, TransactionCounts};

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dbos_storage::{
    AppStore, Call, DatabaseUrl, DbosConfig, Driver, Error, Layered, Registry, Result, StoreLayer,
    SystemStore,
};

/// The URL scheme of the audit backend.
pub const SCHEME: &str = "audit";

/// A system store that counts and logs every write of the store it wraps.
pub type AuditStore = Layered<dyn SystemStore, Audit>;

/// The audit layer: counts and logs every call of a method that writes (as the method table
/// says), and lets reads through untouched. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    writes: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Audit {
    /// How many writes of each operation succeeded so far.
    pub fn write_counts(&self) -> BTreeMap<&'static str, u64> {
        self.writes.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

impl StoreLayer for Audit {
    async fn intercept<T, F, Fut>(&self, call: Call, mut operation: F) -> Result<T>
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let result = operation().await;
        let method = call.method();
        if method.writes {
            match &result {
                Ok(_) => {
                    if let Ok(mut writes) = self.writes.lock() {
                        *writes.entry(method.name).or_default() += 1;
                    }
                    tracing::info!(operation = method.name, "audited write");
                }
                Err(error) => {
                    tracing::warn!(operation = method.name, %error, "audited write failed")
                }
            }
        }
        result
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
        Ok(Layered::new(inner, Audit::default()))
    }
}

impl AuditDriver {
    /// Opens the audited application store at an `audit://` URL: the SQLite application store
    /// of the same path, wrapped in an [`AuditAppStore`].
    ///
    /// # Errors
    /// As [`AuditDriver::open`].
    pub async fn open_app_store(
        &self,
        config: &DbosConfig,
        url: &DatabaseUrl,
    ) -> Result<AuditAppStore> {
        let sqlite_url = sqlite_url(url)?;
        let inner = Registry::with_default_drivers()
            .driver_for(&sqlite_url)?
            .open_app(config, &sqlite_url)
            .await?;
        Ok(AuditAppStore::new(inner))
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
        Ok(Arc::new(self.open_app_store(config, url).await?))
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

#[cfg(test)]
mod tests {
    use dbos_storage::{
        InsertOptions, LifecycleStore, ListWorkflowsQuery, NewWorkflow, Payload, WorkflowStore,
    };

    use super::*;

    #[tokio::test]
    async fn counts_the_writes_and_not_the_reads() {
        let url = DatabaseUrl::parse("audit:///:memory:").unwrap();
        let store = AuditDriver
            .open(&DbosConfig::new("audit-unit"), &url)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let workflow = NewWorkflow::new("wf-1", "checkout", Payload::portable_json("[]"));
        store
            .insert_workflow(workflow, InsertOptions::default())
            .await
            .unwrap();
        store
            .list_workflows(ListWorkflowsQuery::default())
            .await
            .unwrap();
        let counts = store.layer().write_counts();
        assert_eq!(counts.get("migrate"), Some(&1));
        assert_eq!(counts.get("insert_workflow"), Some(&1));
        assert_eq!(counts.get("list_workflows"), None);
        store.close().await.unwrap();
    }
}
