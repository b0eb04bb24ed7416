//! The conformance suite against `SqliteStore`: once on a temporary database file, once on
//! `sqlite:///:memory:`.

use std::path::PathBuf;
use std::sync::Mutex;

use dbos_storage_conformance::tempfile::TempDir;
use dbos_storage_conformance::{async_trait, Factory};
use dbos_storage_core::{Capabilities, LifecycleStore, SqliteLocation};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

/// Each store is a fresh file in its own temporary directory, removed by `destroy` (or when
/// the factory is dropped, if a property panicked first).
#[derive(Debug, Default)]
struct SqliteFileFactory {
    dirs: Mutex<Vec<TempDir>>,
}

#[async_trait]
impl Factory for SqliteFileFactory {
    type Store = SqliteStore;

    async fn create(&self) -> SqliteStore {
        let dir = TempDir::new().expect("create a temporary directory for the database file");
        let path = dir.path().join("dbos.sqlite");
        self.dirs.lock().unwrap().push(dir);
        let store = SqliteStore::open(SqliteConfig::file(&path))
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        store
            .migrate()
            .await
            .expect("migrate a fresh database file");
        store
    }

    async fn destroy(&self, store: SqliteStore) {
        store.close().await.expect("close the store");
        let SqliteLocation::File(path) = store.config().location.clone() else {
            panic!("a file factory's store is not a file");
        };
        let path: PathBuf = path;
        self.dirs
            .lock()
            .unwrap()
            .retain(|dir| !path.starts_with(dir.path()));
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.multi_process = true;
        caps.durable = true;
        caps
    }
}

/// Each store is a private in-memory database.
#[derive(Debug, Default)]
struct SqliteMemoryFactory;

#[async_trait]
impl Factory for SqliteMemoryFactory {
    type Store = SqliteStore;

    async fn create(&self) -> SqliteStore {
        let store = SqliteStore::open_url("sqlite:///:memory:")
            .await
            .expect("open sqlite:///:memory:");
        store
            .migrate()
            .await
            .expect("migrate an in-memory database");
        store
    }

    async fn destroy(&self, store: SqliteStore) {
        store.close().await.expect("close the store");
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
}

mod file {
    use super::*;
    dbos_storage_conformance::suite!(SqliteFileFactory::default());
}

mod memory {
    use super::*;
    dbos_storage_conformance::suite!(SqliteMemoryFactory);
}
