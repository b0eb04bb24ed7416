//! The migrator creates exactly the DBOS v125 PostgreSQL schema.
//!
//! The reference dump (`shared/design/schema/postgres-v125.sql`, DBOS Python 3.4.0) is loaded
//! into a scratch database, so PostgreSQL itself parses it; both databases are then described
//! with the same catalog queries and the descriptions compared. Functions are compared by name,
//! argument list (with defaults), result type and settings (`search_path`), not by body.

use std::collections::BTreeSet;

use dbos_storage_core::{DatabaseUrl, DbosConfig, ErrorKind, LifecycleStore, DBOS_SCHEMA_VERSION};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;

const REFERENCE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/design/schema/postgres-v125.sql"
));

/// A description of every object of `schema`, one line per object, with the schema name
/// replaced by `<schema>`.
async fn describe(url: &str, schema: &str) -> BTreeSet<String> {
    let client = pg::server().connect(url).await.expect("connect");
    // With an empty search_path every name in the catalog's output is schema-qualified.
    client
        .batch_execute("SET search_path = ''")
        .await
        .expect("set search_path");
    let mut out = BTreeSet::new();
    let queries: &[(&str, &str)] = &[
        (
            "table",
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S') ORDER BY 1",
        ),
        (
            "column",
            "SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
                    || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
                    || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
        ),
        (
            "constraint",
            "SELECT c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid) \
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
        ),
        (
            "index",
            "SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = $1",
        ),
        (
            "function",
            "SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') RETURNS ' \
                    || pg_get_function_result(p.oid) || ' LANGUAGE ' || l.lanname \
                    || COALESCE(' SET ' || array_to_string(p.proconfig, ', '), '') \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             JOIN pg_language l ON l.oid = p.prolang WHERE n.nspname = $1",
        ),
        (
            "trigger",
            "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND NOT t.tgisinternal",
        ),
    ];
    let quoted = format!("\"{schema}\".");
    let bare = format!("{schema}.");
    for (kind, sql) in queries {
        for row in client.query(*sql, &[&schema]).await.expect(sql) {
            let text: String = row.get(0);
            let text = text
                .replace(&quoted, "<schema>.")
                .replace(&bare, "<schema>.");
            out.insert(format!("{kind} {}", fold_whitespace(&text)));
        }
    }
    out
}

fn fold_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Loads the reference dump into a new database, renaming its schema to `schema`; returns the
/// database URL.
async fn reference_database(schema: &str) -> String {
    let url = pg::server().create_database("pg_reference").await;
    let client = pg::server().connect(&url).await.expect("connect");
    client
        .batch_execute(REFERENCE)
        .await
        .expect("load the reference dump");
    if schema != "dbos" {
        client
            .batch_execute(&format!("ALTER SCHEMA dbos RENAME TO \"{schema}\""))
            .await
            .expect("rename the schema");
    }
    url
}

/// Opens a store on a new database with `config` and migrates it; returns the database URL.
async fn migrated_database(config: &DbosConfig) -> String {
    let url = pg::server().create_database("pg_schema").await;
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let store = PostgresStore::open(PostgresConfig::system(config, &parsed).unwrap())
        .await
        .expect("open");
    let version = store.migrate().await.expect("migrate");
    assert_eq!(version.recorded, DBOS_SCHEMA_VERSION);
    store.close().await.unwrap();
    url
}

fn assert_same(ours: &BTreeSet<String>, reference: &BTreeSet<String>) {
    let missing: Vec<_> = reference.difference(ours).collect();
    let extra: Vec<_> = ours.difference(reference).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "schema differs from the reference\nmissing (in the reference only):\n  {}\nextra (ours only):\n  {}",
        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
        extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
    );
}

async fn version_rows(url: &str, schema: &str) -> Vec<i64> {
    let client = pg::server().connect(url).await.unwrap();
    client
        .query(
            &format!("SELECT version FROM \"{schema}\".dbos_migrations"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn fresh_database_matches_the_reference_dump() {
    let reference_url = reference_database("dbos").await;
    let reference = describe(&reference_url, "dbos").await;
    assert!(reference.iter().any(|l| l.starts_with("trigger ")));
    assert!(reference.iter().any(|l| l.contains("enqueue_workflow(")));
    if std::env::var_os("PRINT_SCHEMA").is_some() {
        for l in &reference {
            println!("{l}");
        }
    }

    let url = migrated_database(&DbosConfig::new("schema-test")).await;
    let ours = describe(&url, "dbos").await;
    assert_same(&ours, &reference);
    assert_eq!(version_rows(&url, "dbos").await, [DBOS_SCHEMA_VERSION]);

    pg::server().drop_database(&url).await;
    pg::server().drop_database(&reference_url).await;
}

#[tokio::test]
async fn without_listen_notify_there_is_no_trigger() {
    let reference_url = reference_database("dbos").await;
    let reference: BTreeSet<String> = describe(&reference_url, "dbos")
        .await
        .into_iter()
        .filter(|l| !l.starts_with("trigger ") && !l.contains("notifications_function("))
        .collect();

    let config = DbosConfig::new("schema-test").with_use_listen_notify(false);
    let url = migrated_database(&config).await;
    let ours = describe(&url, "dbos").await;
    assert_same(&ours, &reference);

    pg::server().drop_database(&url).await;
    pg::server().drop_database(&reference_url).await;
}

#[tokio::test]
async fn a_custom_schema_name_works() {
    let reference_url = reference_database("my_dbos").await;
    let reference = describe(&reference_url, "my_dbos").await;

    let config = DbosConfig::new("schema-test").with_dbos_system_schema("my_dbos");
    let url = migrated_database(&config).await;
    let ours = describe(&url, "my_dbos").await;
    assert_same(&ours, &reference);
    assert_eq!(version_rows(&url, "my_dbos").await, [DBOS_SCHEMA_VERSION]);
    // Nothing was created in the default schema.
    let client = pg::server().connect(&url).await.unwrap();
    let row = client
        .query_one("SELECT to_regnamespace('dbos') IS NULL", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    // The functions write to the custom schema.
    client
        .batch_execute(
            "SELECT my_dbos.enqueue_workflow('wf', 'q', workflow_id => 'w1'); \
             SELECT my_dbos.send_message('w1', '\"hi\"'::json)",
        )
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT i.inputs, n.topic FROM my_dbos.workflow_input i \
             JOIN my_dbos.notifications n ON n.destination_uuid = i.workflow_uuid",
            &[],
        )
        .await
        .unwrap();
    let inputs: String = row.get(0);
    let inputs: serde_json::Value = serde_json::from_str(&inputs).unwrap();
    assert_eq!(
        inputs,
        serde_json::json!({"positionalArgs": [], "namedArgs": {}})
    );
    assert_eq!(row.get::<_, String>(1), "__null__topic__");

    pg::server().drop_database(&url).await;
    pg::server().drop_database(&reference_url).await;
}

#[tokio::test]
async fn a_hostile_schema_name_is_refused() {
    let config = DbosConfig::new("schema-test").with_dbos_system_schema("dbos\"; DROP TABLE x; --");
    let url = DatabaseUrl::parse(&pg::server().admin_url()).unwrap();
    let err = PostgresConfig::system(&config, &url).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.message().contains("invalid schema name"), "{err}");
}

#[tokio::test]
async fn the_sql_functions_behave_like_dbos() {
    let url = migrated_database(&DbosConfig::new("schema-test")).await;
    let client = pg::server().connect(&url).await.unwrap();

    // enqueue: id, status, inputs in workflow_input, defaults.
    let id: String = client
        .query_one(
            "SELECT dbos.enqueue_workflow('wf', 'q', ARRAY['5'::json], '{\"a\": 1}'::json, \
             priority => 3, application_name => 'app')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let row = client
        .query_one(
            "SELECT status, name, queue_name, priority, recovery_attempts, serialization, \
                    owner_xid IS NOT NULL, creator_xid IS NULL, application_name, inputs IS NULL, \
                    created_at = updated_at \
             FROM dbos.workflow_status WHERE workflow_uuid = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "ENQUEUED");
    assert_eq!(row.get::<_, String>(1), "wf");
    assert_eq!(row.get::<_, String>(2), "q");
    assert_eq!(row.get::<_, i32>(3), 3);
    assert_eq!(row.get::<_, i64>(4), 0);
    assert_eq!(row.get::<_, String>(5), "portable_json");
    assert!(row.get::<_, bool>(6));
    assert!(row.get::<_, bool>(7));
    assert_eq!(row.get::<_, String>(8), "app");
    assert!(row.get::<_, bool>(9));
    assert!(row.get::<_, bool>(10));
    let inputs: String = client
        .query_one(
            "SELECT inputs FROM dbos.workflow_input WHERE workflow_uuid = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    let inputs: serde_json::Value = serde_json::from_str(&inputs).unwrap();
    assert_eq!(
        inputs,
        serde_json::json!({"positionalArgs": [5], "namedArgs": {"a": 1}})
    );

    // A delay makes it DELAYED; the same id again is accepted (updated_at only).
    let delayed: String = client
        .query_one(
            "SELECT dbos.enqueue_workflow('wf', 'q', workflow_id => 'd1', delay_until_epoch_ms => 5)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(delayed, "d1");
    client
        .batch_execute("SELECT dbos.enqueue_workflow('wf', 'q', workflow_id => 'd1')")
        .await
        .unwrap();
    let status: String = client
        .query_one(
            "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = 'd1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "DELAYED");

    // Validation and the deduplication error.
    for bad in [
        "SELECT dbos.enqueue_workflow('', 'q')",
        "SELECT dbos.enqueue_workflow('wf', NULL)",
        "SELECT dbos.enqueue_workflow('wf', 'q', named_args => '[1]'::json)",
        "SELECT dbos.enqueue_workflow('wf', 'q', workflow_id => '')",
        "SELECT dbos.enqueue_workflow('wf', 'q', delay_until_epoch_ms => -1)",
    ] {
        assert!(client.batch_execute(bad).await.is_err(), "{bad}");
    }
    client
        .batch_execute("SELECT dbos.enqueue_workflow('wf', 'q', deduplication_id => 'x')")
        .await
        .unwrap();
    let err = client
        .batch_execute("SELECT dbos.enqueue_workflow('wf', 'q', deduplication_id => 'x')")
        .await
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(
        db.code(),
        &tokio_postgres::error::SqlState::UNIQUE_VIOLATION
    );
    assert_eq!(db.message(), "DBOS queue duplicated");

    // send_message: default topic, idempotent by message id, unknown destination.
    client
        .batch_execute(
            "SELECT dbos.send_message('d1', '{\"m\": 1}'::json, message_id => 'm1'); \
             SELECT dbos.send_message('d1', '{\"m\": 2}'::json, message_id => 'm1')",
        )
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT count(*), min(topic), min(message), min(serialization) FROM dbos.notifications",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    assert_eq!(row.get::<_, String>(1), "__null__topic__");
    assert_eq!(row.get::<_, String>(2), "{\"m\": 1}");
    assert_eq!(row.get::<_, String>(3), "portable_json");
    let err = client
        .batch_execute("SELECT dbos.send_message('nobody', '1'::json)")
        .await
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(
        db.code(),
        &tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION
    );
    assert_eq!(db.message(), "DBOS non-existent workflow");

    pg::server().drop_database(&url).await;
}
