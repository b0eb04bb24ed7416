//! The CockroachDB-dialect migrations, run on the PostgreSQL test server, produce the v125
//! tables, columns and indexes of the PostgreSQL driver (without LISTEN/NOTIFY), with only the
//! expected differences: functions without `search_path` settings, no trigger.

mod common;

use dbos_storage_cockroach::{open_system, CockroachConfig};
use dbos_storage_core::{DatabaseUrl, DbosConfig, LifecycleStore, DBOS_SCHEMA_VERSION};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;

/// Columns, constraints, indexes, functions (with their settings) and triggers of schema `dbos`.
async fn describe(url: &str) -> Vec<String> {
    let client = pg::server().connect(url).await.expect("connect");
    let sql = "SELECT 'column ' || c.relname || '.' || a.attname || ' ' \
                      || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull \
                      || COALESCE(' ' || pg_get_expr(d.adbin, d.adrelid), '') \
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
               WHERE n.nspname = 'dbos' AND c.relkind = 'r' AND a.attnum > 0 \
                 AND NOT a.attisdropped \
               UNION ALL \
               SELECT 'constraint ' || k.conname || ' ' || pg_get_constraintdef(k.oid) \
               FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
               WHERE n.nspname = 'dbos' \
               UNION ALL \
               SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'dbos' \
               UNION ALL \
               SELECT 'function ' || p.proname || '(' || pg_get_function_arguments(p.oid) \
                      || ') ' || pg_get_function_result(p.oid) \
                      || COALESCE(' ' || array_to_string(p.proconfig, ','), '') \
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
               WHERE n.nspname = 'dbos' \
               UNION ALL \
               SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t \
               JOIN pg_class c ON c.oid = t.tgrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = 'dbos' AND NOT t.tgisinternal \
               UNION ALL \
               SELECT 'version ' || version FROM dbos.dbos_migrations \
               ORDER BY 1";
    client
        .query(sql, &[])
        .await
        .expect("describe")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn cockroach_migrations_produce_the_v125_schema() {
    let server = pg::server();

    let pg_url = server.create_database("crdb_schema_pg").await;
    let dbos = DbosConfig::new("schema")
        .with_sys_db_pool_size(2)
        .with_use_listen_notify(false);
    let parsed = DatabaseUrl::parse(&pg_url).unwrap();
    let store = PostgresStore::open(PostgresConfig::system(&dbos, &parsed).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await.unwrap();
    let reference = describe(&pg_url).await;

    let crdb_url = common::compatible_database("crdb_schema_crdb").await;
    let parsed = DatabaseUrl::parse(&crdb_url).unwrap();
    let config =
        CockroachConfig::system(&dbos.clone().with_use_listen_notify(true), &parsed).unwrap();
    let store = open_system(config).await.unwrap();
    let version = store.migrate().await.unwrap();
    assert_eq!(version.recorded, DBOS_SCHEMA_VERSION);
    // Migrating again changes nothing.
    store.migrate().await.unwrap();
    store.close().await.unwrap();
    let cockroach = describe(&crdb_url).await;

    // The listed differences: PostgreSQL pins the functions' search_path, CockroachDB cannot.
    let expected: Vec<String> = reference
        .iter()
        .map(|line| line.replace(" search_path=pg_catalog, pg_temp", ""))
        .collect();
    assert_eq!(cockroach, expected);
    assert!(cockroach.iter().all(|l| !l.starts_with("trigger ")));
    assert!(cockroach
        .iter()
        .all(|l| !(l.starts_with("function ") && l.contains("search_path"))));
    assert!(cockroach
        .iter()
        .any(|l| l.starts_with("function enqueue_workflow(")));
    assert!(cockroach
        .iter()
        .any(|l| l.contains("USING gin (attributes)")));
    assert!(cockroach
        .iter()
        .any(|l| l.starts_with("constraint notifications_pkey PRIMARY KEY (message_uuid)")));
    assert!(cockroach
        .iter()
        .all(|l| !l.contains("uq_workflow_status_queue_name_dedup_id")));
    assert!(cockroach.contains(&format!("version {DBOS_SCHEMA_VERSION}")));

    server.drop_database(&pg_url).await;
    server.drop_database(&crdb_url).await;
}

/// A database another DBOS SDK left at 122, built by the CockroachDB-dialect migrations stopped
/// early (autocommit, statement by statement): the store reads it, a start (which writes
/// `creator_xid`, migration 123) fails naming the column and `migrate`, and `migrate` brings it
/// to exactly the schema of a fresh database.
#[tokio::test]
async fn a_database_stopped_at_122_is_read_and_migrated_to_the_same_schema() {
    use dbos_storage_core::{
        ErrorKind, InsertOptions, ListWorkflowsQuery, NewWorkflow, Payload, WorkflowStore,
    };
    let server = pg::server();
    let dbos = DbosConfig::new("schema").with_sys_db_pool_size(2);

    let fresh_url = common::compatible_database("crdb_fresh").await;
    let parsed = DatabaseUrl::parse(&fresh_url).unwrap();
    let store = open_system(CockroachConfig::system(&dbos, &parsed).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await.unwrap();
    let fresh = describe(&fresh_url).await;

    let url = common::compatible_database("crdb_older").await;
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let config = CockroachConfig::system(&dbos, &parsed).unwrap();
    let early = PostgresStore::open(config.postgres().clone())
        .await
        .unwrap();
    assert_eq!(early.migrate_to(122).await.unwrap().recorded, 122);
    early.close().await.unwrap();

    let store = open_system(config).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap().recorded, 122);
    assert!(store
        .list_workflows(ListWorkflowsQuery::new())
        .await
        .unwrap()
        .is_empty());
    let e = store
        .insert_workflow(
            NewWorkflow::new("w", "f", Payload::portable_json("[]")),
            InsertOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    assert!(
        e.message()
            .contains("lacks column workflow_status.creator_xid, which DBOS migration 123 adds"),
        "{e}"
    );
    assert!(e.message().contains("dbos-storage migrate"), "{e}");

    assert_eq!(store.migrate().await.unwrap().recorded, DBOS_SCHEMA_VERSION);
    store
        .insert_workflow(
            NewWorkflow::new("w", "f", Payload::portable_json("[]")),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    store.close().await.unwrap();
    assert_eq!(describe(&url).await, fresh);

    server.drop_database(&fresh_url).await;
    server.drop_database(&url).await;
}
