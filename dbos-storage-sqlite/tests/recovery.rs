//! DBOS's exact rows after direct recovery, the hand-back of a claimed workflow to its queue
//! and checkpointed stream reads on SQLite, read back with raw SQL (the checks are the testkit's
//! `recovery_rows`, shared with the PostgreSQL driver).

use std::path::PathBuf;

use dbos_storage_core::LifecycleStore;
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};
use dbos_storage_testkit::recovery_rows::{self, RawRows};

/// A migrated store on a fresh file, and raw reads of that file; the directory is removed on
/// drop.
struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
}

async fn fixture() -> File {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbos.sqlite");
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    store.migrate().await.unwrap();
    File {
        _dir: dir,
        path,
        store,
    }
}

impl RawRows for File {
    async fn text_row(&self, sql: &str, id: &str) -> Vec<Option<String>> {
        let sql = sql.replace("{s}", "");
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        let mut stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let columns = stmt.column_count();
        let mut rows = stmt.query([id]).unwrap();
        let row = rows
            .next()
            .unwrap()
            .unwrap_or_else(|| panic!("{sql}: no row"));
        let values = (0..columns)
            .map(|i| row.get::<_, Option<String>>(i).unwrap())
            .collect();
        assert!(rows.next().unwrap().is_none(), "{sql}: more than one row");
        values
    }
}

#[tokio::test]
async fn a_take_over_and_a_dead_letter_write_dbos_columns() {
    let f = fixture().await;
    recovery_rows::take_over_rows(&f.store, &f).await;
}

#[tokio::test]
async fn a_hand_back_writes_dbos_columns() {
    let f = fixture().await;
    recovery_rows::return_to_queue_rows(&f.store, &f).await;
}

#[tokio::test]
async fn checkpointed_stream_reads_write_dbos_steps() {
    let f = fixture().await;
    recovery_rows::stream_step_rows(&f.store, &f).await;
}
