//! The audit backend runs the whole conformance suite, as any third-party backend would.

use async_trait::async_trait;
use custom_backend::{AuditDriver, AuditStore};
use dbos_storage::{Capabilities, DatabaseUrl, DbosConfig, LifecycleStore};
use dbos_storage_conformance::Factory;

/// Fresh audited SQLite files in a temporary directory.
struct AuditFactory {
    dir: tempfile::TempDir,
}

impl AuditFactory {
    fn new() -> Self {
        AuditFactory {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }
}

#[async_trait]
impl Factory for AuditFactory {
    type Store = AuditStore;

    async fn create(&self) -> AuditStore {
        let path = self
            .dir
            .path()
            .join(format!("{}.sqlite", dbos_storage::new_token()));
        let url = DatabaseUrl::parse(&format!("audit:///{}", path.display())).unwrap();
        let store = AuditDriver
            .open(&DbosConfig::new("audit-test"), &url)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn destroy(&self, store: AuditStore) {
        store.close().await.unwrap();
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.multi_process = true;
        caps.durable = true;
        caps
    }
}

dbos_storage_conformance::suite!(AuditFactory::new());
