//! Databases that another DBOS SDK left at an earlier shared version, built here by our own
//! migrations stopped early (`SqliteStore::migrate_to`): the core's table of what each migration
//! adds matches the migrations, reads work from 109 on, and a write that needs a missing column
//! fails naming it and `migrate`, changing nothing.

use std::path::Path;

use dbos_storage_core::schema::SCHEMA_OBJECTS;
use dbos_storage_core::{ErrorKind, LifecycleStore, DBOS_SCHEMA_VERSION};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};
use dbos_storage_testkit::older_schema;

async fn at_version(path: &Path, version: i64) -> SqliteStore {
    let store = SqliteStore::open(SqliteConfig::file(path)).await.unwrap();
    let at = store.migrate_to(version).await.unwrap();
    assert_eq!(at.recorded, version);
    assert_eq!(at.latest, DBOS_SCHEMA_VERSION);
    store
}

/// Whether the table, or the column of it, exists in the file.
fn exists(path: &Path, table: &str, column: Option<&str>) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    let n: i64 = match column {
        Some(column) => conn.query_row(
            "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        ),
        None => conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        ),
    }
    .unwrap();
    n > 0
}

/// A workflow row as an older SDK writes it: `workflow_status` and `workflow_input` only.
fn insert_raw_workflow(path: &Path, id: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(
        "INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at, \
         serialization) VALUES (?1, 'PENDING', 'ts_workflow', 1700000000000, 1700000000000, \
         'portable_json')",
        [id],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO workflow_input (workflow_uuid, inputs) VALUES (?1, '[1,2]')",
        [id],
    )
    .unwrap();
}

#[tokio::test]
async fn each_object_appears_at_the_migration_the_core_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("steps.sqlite");
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    for version in 100..=DBOS_SCHEMA_VERSION {
        store.migrate_to(version).await.unwrap();
        for o in SCHEMA_OBJECTS {
            assert_eq!(
                exists(&path, o.table, o.column),
                o.since <= version,
                "{o} at version {version}"
            );
        }
    }
    assert_eq!(store.schema_version().await.unwrap().recorded, 125);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_version_outside_the_shared_series_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteConfig::file(dir.path().join("x.sqlite")))
        .await
        .unwrap();
    for version in [99, 126] {
        let e = store.migrate_to(version).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(
            e.message().contains(&format!(
                "cannot migrate a SQLite system database to version {version}: SQLite versions \
                 run from 100 to 125"
            )),
            "{e}"
        );
    }
    store.close().await.unwrap();
}

/// DBOS Transact for TypeScript 5.3 stops at 123: everything this build reads and writes is
/// there, so the store serves it unmigrated, and `migrate` later brings it to 125.
#[tokio::test]
async fn a_database_at_123_is_read_and_written_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ts.sqlite");
    at_version(&path, 123).await.close().await.unwrap();
    insert_raw_workflow(&path, "ts-1");
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    older_schema::a_database_at_123_is_read_and_written(&store, "ts-1").await;
    store.close().await.unwrap();
}

/// At 122 the workflow rows have no `creator_xid` (123): reads work, starting a workflow fails
/// naming the column, the migration and `migrate`, and writes nothing.
#[tokio::test]
async fn a_write_that_needs_a_later_column_names_it_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v122.sqlite");
    let store = at_version(&path, 122).await;
    insert_raw_workflow(&path, "old-1");
    older_schema::a_start_at_122_names_creator_xid(&store).await;
    store.close().await.unwrap();

    let path = dir.path().join("v109.sqlite");
    let store = at_version(&path, 109).await;
    insert_raw_workflow(&path, "old-2");
    older_schema::a_step_at_109_names_retention_timestamp(&store, "old-2").await;
    store.close().await.unwrap();
}

/// Below 109 the payload tables are missing: a read names them (connecting without migrations
/// refuses such a database before any read; see the facade's tests).
#[tokio::test]
async fn a_read_below_109_names_the_payload_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = at_version(&dir.path().join("v108.sqlite"), 108).await;
    older_schema::a_read_at_108_names_the_payload_tables(&store).await;
    store.close().await.unwrap();
}
