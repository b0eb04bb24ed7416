//! Databases that another DBOS SDK left at an earlier shared version, built here by our own
//! migrations stopped early (`PostgresStore::migrate_to`): the core's table of what each
//! migration adds matches the migrations, reads work from 109 on, and a write that needs a
//! missing column fails naming it and `migrate`, changing nothing.

use dbos_storage_core::schema::SCHEMA_OBJECTS;
use dbos_storage_core::{DatabaseUrl, DbosConfig, LifecycleStore, DBOS_SCHEMA_VERSION};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::{older_schema, pg};

async fn open(url: &str) -> PostgresStore {
    let parsed = DatabaseUrl::parse(url).unwrap();
    let config = DbosConfig::new("older-schema").with_pool_size(2);
    PostgresStore::open(PostgresConfig::system(&config, &parsed).unwrap())
        .await
        .expect("open")
}

/// A fresh database migrated to `version`, and its store.
async fn at_version(version: i64) -> (String, PostgresStore) {
    let url = pg::server().create_database("pg_older").await;
    let store = open(&url).await;
    let at = store.migrate_to(version).await.unwrap();
    assert_eq!(at.recorded, version);
    assert_eq!(at.latest, DBOS_SCHEMA_VERSION);
    (url, store)
}

/// A workflow row as an older SDK writes it: `workflow_status` and `workflow_input` only.
async fn insert_raw_workflow(url: &str, id: &str) {
    pg::server()
        .connect(url)
        .await
        .unwrap()
        .execute(
            "WITH s AS (INSERT INTO dbos.workflow_status (workflow_uuid, status, name, \
             created_at, updated_at, serialization) VALUES ($1, 'PENDING', 'ts_workflow', \
             1700000000000, 1700000000000, 'portable_json')) \
             INSERT INTO dbos.workflow_input (workflow_uuid, inputs) VALUES ($1, '[1,2]')",
            &[&id],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn each_object_appears_at_the_migration_the_core_names() {
    let (url, store) = at_version(47).await;
    let client = pg::server().connect(&url).await.unwrap();
    for version in [47].into_iter().chain(100..=DBOS_SCHEMA_VERSION) {
        store.migrate_to(version).await.unwrap();
        for o in SCHEMA_OBJECTS {
            let present: bool = client
                .query_one(
                    "SELECT count(*) > 0 FROM information_schema.columns \
                     WHERE table_schema = 'dbos' AND table_name = $1 \
                     AND ($2::text IS NULL OR column_name = $2)",
                    &[&o.table, &o.column],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(present, o.since <= version, "{o} at version {version}");
        }
    }
    drop(client);
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

/// DBOS Transact for TypeScript 5.3 stops at 123: everything this build reads and writes is
/// there, so the store serves it unmigrated, and `migrate` later brings it to 125.
#[tokio::test]
async fn a_database_at_123_is_read_and_written_as_it_is() {
    let (url, store) = at_version(123).await;
    insert_raw_workflow(&url, "ts-1").await;
    older_schema::a_database_at_123_is_read_and_written(&store, "ts-1").await;
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

/// At 122 the workflow rows have no `creator_xid` (123): reads work, starting a workflow fails
/// naming the column, the migration and `migrate`, and writes nothing; at 109 a step row has
/// no `retention_timestamp` (110).
#[tokio::test]
async fn a_write_that_needs_a_later_column_names_it_and_migrate() {
    let (url, store) = at_version(122).await;
    insert_raw_workflow(&url, "old-1").await;
    let e = older_schema::a_start_at_122_names_creator_xid(&store).await;
    assert_eq!(e.code(), Some("42703"), "{e}");
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;

    let (url, store) = at_version(109).await;
    insert_raw_workflow(&url, "old-2").await;
    older_schema::a_step_at_109_names_retention_timestamp(&store, "old-2").await;
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

/// Below 109 (DBOS Python 2.31 stopped at 108) the payload tables are missing: a read names
/// them (connecting without migrations refuses such a database before any read).
#[tokio::test]
async fn a_read_below_109_names_the_payload_tables() {
    let (url, store) = at_version(108).await;
    older_schema::a_read_at_108_names_the_payload_tables(&store).await;
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}
