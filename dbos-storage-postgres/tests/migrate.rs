//! The migration runner: idempotent, accepts a newer peer's database untouched, converges when
//! several processes migrate one empty database at once, and verify mode reads a database behind
//! this build from 109 on and refuses an older one.

use std::sync::Arc;

use dbos_storage::Registry;
use dbos_storage_core::{DatabaseUrl, DbosConfig, ErrorKind, LifecycleStore, DBOS_SCHEMA_VERSION};
use dbos_storage_postgres::{PostgresConfig, PostgresDriver, PostgresStore};
use dbos_storage_testkit::pg;

async fn open(url: &str) -> PostgresStore {
    let parsed = DatabaseUrl::parse(url).unwrap();
    let config = DbosConfig::new("migrate-test").with_pool_size(2);
    PostgresStore::open(PostgresConfig::system(&config, &parsed).unwrap())
        .await
        .expect("open")
}

async fn versions(url: &str) -> Vec<i64> {
    let client = pg::server().connect(url).await.unwrap();
    client
        .query("SELECT version FROM dbos.dbos_migrations", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn exists(url: &str, relation: &str) -> bool {
    let client = pg::server().connect(url).await.unwrap();
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&relation])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let url = pg::server().create_database("pg_migrate").await;
    let store = open(&url).await;
    let first = store.migrate().await.unwrap();
    assert_eq!(first.recorded, DBOS_SCHEMA_VERSION);
    assert_eq!(first.latest, DBOS_SCHEMA_VERSION);
    let second = store.migrate().await.unwrap();
    assert_eq!(second.recorded, DBOS_SCHEMA_VERSION);
    assert!(second.is_current());
    assert_eq!(versions(&url).await, [DBOS_SCHEMA_VERSION]);
    let version = store.schema_version().await.unwrap();
    assert_eq!(version.recorded, DBOS_SCHEMA_VERSION);
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn a_newer_database_is_accepted_untouched() {
    let url = pg::server().create_database("pg_migrate").await;
    pg::server()
        .connect(&url)
        .await
        .unwrap()
        .batch_execute(
            "CREATE SCHEMA dbos; \
             CREATE TABLE dbos.dbos_migrations (version BIGINT NOT NULL PRIMARY KEY); \
             INSERT INTO dbos.dbos_migrations VALUES (130);",
        )
        .await
        .unwrap();
    let store = open(&url).await;
    let version = store.migrate().await.unwrap();
    assert_eq!(version.recorded, 130);
    assert!(version.is_current());
    assert_eq!(versions(&url).await, [130]);
    assert!(
        !exists(&url, "dbos.workflow_status").await,
        "nothing created"
    );
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn concurrent_migrators_converge() {
    let url = pg::server().create_database("pg_migrate").await;
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(Arc::new(open(&url).await));
    }
    let results = futures::future::join_all(stores.iter().map(|s| {
        let s = s.clone();
        async move { s.migrate().await }
    }))
    .await;
    for r in results {
        assert_eq!(
            r.expect("every migrator succeeds").recorded,
            DBOS_SCHEMA_VERSION
        );
    }
    assert_eq!(versions(&url).await, [DBOS_SCHEMA_VERSION]);
    for s in stores {
        s.close().await.unwrap();
    }
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn a_database_with_tables_but_no_version_is_refused() {
    let url = pg::server().create_database("pg_migrate").await;
    pg::server()
        .connect(&url)
        .await
        .unwrap()
        .batch_execute("CREATE SCHEMA dbos; CREATE TABLE dbos.workflow_status (workflow_uuid TEXT)")
        .await
        .unwrap();
    let store = open(&url).await;
    let err = store.migrate().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SchemaMismatch, "{err}");
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

/// Verify mode (`run_migrations = false`) reads a database behind this build from 109 on
/// (DBOS Transact for TypeScript 5.3 stops at 123) and refuses an older one (DBOS Python 2.31
/// stops at 108), naming what it lacks; either way it changes nothing.
#[tokio::test]
async fn verify_mode_refuses_a_database_below_109_and_changes_nothing() {
    let url = pg::server().create_database("pg_migrate").await;
    let store = open(&url).await;
    store.migrate_to(108).await.unwrap();
    store.close().await.unwrap();

    let mut registry = Registry::new();
    registry.register(Arc::new(PostgresDriver::new())).unwrap();
    let config = DbosConfig::new("migrate-test")
        .with_system_database_url(url.clone())
        .with_run_migrations(false);
    let err = registry.connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SchemaMismatch, "{err}");
    assert!(
        err.message().contains(
            "the postgres system database is at schema version 108, below 109, the lowest \
             this build reads: it lacks table workflow_input (migration 109), table \
             workflow_output (migration 109); run `dbos-storage migrate`"
        ),
        "{err}"
    );
    assert_eq!(versions(&url).await, [108]);

    // At 123 it is read as it is.
    let store = open(&url).await;
    store.migrate_to(123).await.unwrap();
    store.close().await.unwrap();
    let stores = registry.connect(&config).await.unwrap();
    assert!(stores
        .system
        .list_workflows(dbos_storage_core::ListWorkflowsQuery::new())
        .await
        .unwrap()
        .is_empty());
    stores.system.close().await.unwrap();
    assert_eq!(versions(&url).await, [123]);

    // With migrations on, the same database is brought forward.
    let config = config.with_run_migrations(true);
    let stores = registry.connect(&config).await.unwrap();
    assert_eq!(versions(&url).await, [DBOS_SCHEMA_VERSION]);
    stores.system.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn a_missing_database_is_created() {
    let name = pg::server().unique_name("pg_created");
    let admin = DatabaseUrl::parse(&pg::server().admin_url()).unwrap();
    let url = admin.with_database(&name);
    let store = open(url.expose_secret()).await;
    store.migrate().await.unwrap();
    store.close().await.unwrap();
    assert_eq!(versions(url.expose_secret()).await, [DBOS_SCHEMA_VERSION]);
    pg::server().drop_database(&name).await;
}
