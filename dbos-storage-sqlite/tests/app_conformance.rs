//! The application-store half of the conformance suite against `SqliteAppStore`, each
//! property on a fresh database file in its own temporary directory.

use std::sync::Mutex;
use std::time::Duration;

use dbos_storage_conformance::tempfile::TempDir;
use dbos_storage_conformance::{async_trait, AppFactory};
use dbos_storage_core::{AppStore, SqliteLocation};
use dbos_storage_sqlite::SqliteAppStore;

/// Fresh files, removed by `destroy` (or when the factory is dropped, if a property panicked
/// first).
#[derive(Debug, Default)]
struct SqliteAppFactory {
    dirs: Mutex<Vec<TempDir>>,
}

#[async_trait]
impl AppFactory for SqliteAppFactory {
    type Store = SqliteAppStore;

    async fn create(&self) -> SqliteAppStore {
        let dir = TempDir::new().expect("create a temporary directory for the database file");
        let path = dir.path().join("app.sqlite");
        self.dirs.lock().unwrap().push(dir);
        let store =
            SqliteAppStore::open(SqliteLocation::File(path.clone()), Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        store
            .migrate()
            .await
            .expect("migrate a fresh database file");
        store
    }

    async fn destroy(&self, store: SqliteAppStore) {
        store.close().await.expect("close the store");
        let SqliteLocation::File(path) = store.location().clone() else {
            panic!("the factory's store is not a file");
        };
        self.dirs
            .lock()
            .unwrap()
            .retain(|dir| !path.starts_with(dir.path()));
    }
}

dbos_storage_conformance::app_suite!(SqliteAppFactory::default());
