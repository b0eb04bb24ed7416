//! Dequeue throughput of `SqliteStore` on a temporary database file: 16 concurrent workers (and
//! one, for comparison) drain a queue through `dbos_storage_testkit::bench`, claiming up to
//! 8 workflows at a time and recording each outcome.
//!
//! `cargo bench -p dbos-storage-sqlite --bench dequeue`. The number of workflows defaults to
//! 5000; set `DBOS_BENCH_WORKFLOWS` to change it.

use std::sync::Mutex;

use dbos_storage_conformance::tempfile::TempDir;
use dbos_storage_conformance::{async_trait, Factory};
use dbos_storage_core::{Capabilities, LifecycleStore};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};
use dbos_storage_testkit::bench::{dequeue_throughput, table};

/// Each store is a fresh file in its own temporary directory, removed when the factory is
/// dropped.
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
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.multi_process = true;
        caps.durable = true;
        caps
    }
}

fn main() {
    let workflows = std::env::var("DBOS_BENCH_WORKFLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot build the benchmark's tokio runtime");
    let factory = SqliteFileFactory::default();
    let reports: Vec<_> = [1, 16]
        .into_iter()
        .map(|workers| runtime.block_on(dequeue_throughput(&factory, workers, workflows)))
        .collect();
    print!("{}", table(&reports));
}
