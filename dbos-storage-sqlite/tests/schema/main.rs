//! The migrator creates exactly the DBOS v125 SQLite schema, records the version in one row, and
//! handles re-runs, newer peers, pre-100 databases and concurrent migrators.
//!
//! A migrated file is read into a structural description (tables, columns, keys, foreign keys,
//! checks, indexes, the `dbos_migrations` rows; see `schema/description.rs`) and compared with
//! the reference description of DBOS v125 kept beside this file (`schema/dbos-v125.json`).

mod description;

use std::path::Path;

use dbos_storage_core::{ErrorKind, LifecycleStore, DBOS_SCHEMA_VERSION};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

use description::{differences, reference, Schema};

/// The description of the database file at `path`.
fn describe(path: &Path) -> Schema {
    description::read(&rusqlite::Connection::open(path).unwrap())
}

fn version_rows(path: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT version FROM dbos_migrations").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn assert_reference(path: &Path) {
    let actual = describe(path);
    let differences = differences(&reference(), &actual);
    if !differences.is_empty() && std::env::var_os("PRINT_SCHEMA").is_some() {
        println!("{}", serde_json::to_string_pretty(&actual).unwrap());
    }
    assert!(
        differences.is_empty(),
        "the migrated schema differs from the DBOS v125 reference (schema/dbos-v125.json; set \
         PRINT_SCHEMA=1 to print the migrated schema's description):\n  {}",
        differences.join("\n  ")
    );
}

async fn store(path: &Path) -> SqliteStore {
    SqliteStore::open(SqliteConfig::file(path)).await.unwrap()
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[test]
fn the_reference_describes_the_whole_v125_schema() {
    let r = reference();
    assert_eq!(r.dbos_migrations, [DBOS_SCHEMA_VERSION]);
    assert_eq!(r.tables.len(), 12, "{:?}", r.tables.keys());
    let status = &r.tables["workflow_status"];
    assert_eq!(status.columns.len(), 39);
    let created = status
        .columns
        .iter()
        .find(|c| c.name == "created_at")
        .unwrap();
    assert_eq!(
        created.default.as_deref(),
        Some("strftime('%s', 'now') * 1000")
    );
    assert!(created.not_null);
    assert_eq!(
        r.tables["workflow_events"].primary_key,
        ["workflow_uuid", "key"]
    );
    assert_eq!(
        r.tables["notifications"].foreign_keys[0].on_delete,
        "CASCADE"
    );
    assert!(r.tables["operation_outputs"].foreign_keys.is_empty());
    assert_eq!(r.tables["workflow_schedules"].unique, [["schedule_name"]]);
    assert_eq!(r.indexes.len(), 23);
    let idx = &r.indexes["idx_workflow_status_rate_limited"];
    assert_eq!(idx.predicate.as_deref(), Some("rate_limited = 1"));
    assert_eq!(
        r.indexes["idx_application_versions_timestamp"].keys,
        ["version_timestamp desc"]
    );
}

#[test]
fn a_difference_is_reported_by_object() {
    let expected = reference();
    let mut actual = expected.clone();
    assert!(differences(&expected, &actual).is_empty());
    let status = actual.tables.get_mut("workflow_status").unwrap();
    status.columns.retain(|c| c.name != "creator_xid");
    status.columns[0].default = Some("'x'".into());
    actual.indexes.remove("idx_workflow_status_pending");
    actual
        .tables
        .get_mut("streams")
        .unwrap()
        .foreign_keys
        .clear();
    let found = differences(&expected, &actual);
    for needle in [
        "missing table workflow_status column creator_xid",
        "table workflow_status column workflow_uuid:",
        "table workflow_status column order",
        "missing index idx_workflow_status_pending",
        "table streams foreign keys:",
    ] {
        assert!(
            found.iter().any(|d| d.starts_with(needle)),
            "{needle:?} not in {found:#?}"
        );
    }
}

#[tokio::test]
async fn a_fresh_file_gets_exactly_the_v125_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbos.sqlite");
    let s = store(&path).await;
    let v = s.migrate().await.unwrap();
    assert_eq!((v.recorded, v.latest), (125, 125));
    assert_eq!(s.schema_version().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_reference(&path);
    assert_eq!(version_rows(&path), vec![DBOS_SCHEMA_VERSION]);
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    let before = describe(&path);
    let v = s.migrate().await.unwrap();
    assert_eq!(v.recorded, 125);
    s.close().await.unwrap();
    // A second store (a restart) migrates again.
    let s = store(&path).await;
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_eq!(describe(&path), before);
    assert_eq!(version_rows(&path), vec![125]);
}

#[tokio::test]
async fn every_shared_migration_is_safe_to_re_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rerun.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    // Pretend only migration 100 was recorded: 101..=125 run again over the full schema.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE dbos_migrations SET version = 100", [])
        .unwrap();
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_reference(&path);
    assert_eq!(version_rows(&path), vec![125]);
}

#[tokio::test]
async fn a_database_at_an_intermediate_version_is_migrated_forward() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v108.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    // Roll the file back to what version 108 looked like for the objects 109..=125 add.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE workflow_input; DROP TABLE workflow_output;
             DROP INDEX idx_workflow_status_deadline;
             ALTER TABLE workflow_status DROP COLUMN creator_xid;
             ALTER TABLE notifications DROP COLUMN consumed_by_function_id;
             DROP INDEX idx_application_versions_timestamp;
             DROP INDEX idx_application_versions_owner_timestamp;
             UPDATE dbos_migrations SET version = 108;",
        )
        .unwrap();
    }
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_reference(&path);
}

/// Databases built by our migrations stopped where other DBOS SDKs stop (TypeScript 5.3 at
/// 123) or earlier reach exactly the reference when migrated.
#[tokio::test]
async fn databases_stopped_at_earlier_versions_migrate_to_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    for version in [100, 108, 109, 110, 122, 123, 124] {
        let path = dir.path().join(format!("v{version}.sqlite"));
        let s = store(&path).await;
        assert_eq!(s.migrate_to(version).await.unwrap().recorded, version);
        assert_eq!(version_rows(&path), vec![version]);
        assert_eq!(s.migrate().await.unwrap().recorded, 125);
        s.close().await.unwrap();
        assert_reference(&path);
        assert_eq!(version_rows(&path), vec![125]);
    }
}

#[tokio::test]
async fn several_version_rows_are_repaired_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DELETE FROM dbos_migrations; INSERT INTO dbos_migrations VALUES (110), (111);",
        )
        .unwrap();
    assert_eq!(s.schema_version().await.unwrap().recorded, 111);
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_eq!(version_rows(&path), vec![125]);
}

#[tokio::test]
async fn a_newer_peer_version_is_accepted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE dbos_migrations SET version = 130", [])
        .unwrap();
    let v = s.migrate().await.unwrap();
    assert_eq!((v.recorded, v.latest), (130, 125));
    assert!(v.is_current());
    s.close().await.unwrap();
    assert_eq!(version_rows(&path), vec![130]);
}

#[tokio::test]
async fn a_pre_100_sqlite_version_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE dbos_migrations (version INTEGER NOT NULL PRIMARY KEY);
             INSERT INTO dbos_migrations VALUES (50);
             CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY);",
        )
        .unwrap();
    }
    let s = store(&path).await;
    let e = s.migrate().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    let m = e.message();
    assert!(m.contains("version 50"), "{m}");
    assert!(m.contains("below 100"), "{m}");
    assert!(m.contains("numbered differently by each DBOS SDK"), "{m}");
    s.close().await.unwrap();
    // Nothing was changed.
    assert_eq!(version_rows(&path), vec![50]);
}

#[tokio::test]
async fn dbos_tables_without_a_version_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unversioned.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY);")
        .unwrap();
    let s = store(&path).await;
    let e = s.migrate().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    assert!(e.message().contains("no version"), "{e}");
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrators_on_one_fresh_file_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.sqlite");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let s = SqliteStore::open(SqliteConfig::file(&path).readers(1))
                .await
                .unwrap();
            let v = s.migrate().await;
            s.close().await.unwrap();
            v
        }));
    }
    for t in tasks {
        let v = t.await.unwrap().unwrap();
        assert_eq!(v.recorded, 125);
    }
    assert_eq!(version_rows(&path), vec![125]);
    assert_reference(&path);
}

#[tokio::test]
async fn an_in_memory_database_migrates() {
    let s = SqliteStore::open_url("sqlite:///:memory:").await.unwrap();
    assert_eq!(s.schema_version().await.unwrap().recorded, 0);
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    assert_eq!(s.schema_version().await.unwrap().recorded, 125);
    s.close().await.unwrap();
}
