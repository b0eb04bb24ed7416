//! The audited application store runs the application-store half of the conformance suite, as
//! any third-party backend would.

use async_trait::async_trait;
use custom_backend::{AuditAppStore, AuditDriver};
use dbos_storage::{AppStore, DatabaseUrl, DbosConfig};
use dbos_storage_conformance::AppFactory;

/// Fresh audited SQLite files in a temporary directory.
struct AuditAppFactory {
    dir: tempfile::TempDir,
}

impl AuditAppFactory {
    fn new() -> Self {
        AuditAppFactory {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }
}

#[async_trait]
impl AppFactory for AuditAppFactory {
    type Store = AuditAppStore;

    async fn create(&self) -> AuditAppStore {
        let path = self
            .dir
            .path()
            .join(format!("{}.sqlite", dbos_storage::new_token()));
        let url = DatabaseUrl::parse(&format!("audit:///{}", path.display())).unwrap();
        let store = AuditDriver
            .open_app_store(&DbosConfig::new("audit-test"), &url)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn destroy(&self, store: AuditAppStore) {
        store.close().await.unwrap();
    }
}

dbos_storage_conformance::app_suite!(AuditAppFactory::new());
