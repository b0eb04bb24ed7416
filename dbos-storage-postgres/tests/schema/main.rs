//! The migrator creates exactly the DBOS v125 PostgreSQL schema.
//!
//! A migrated schema is read from the catalog into a structural description (tables, columns,
//! constraints, indexes, function signatures, triggers, the `dbos_migrations` rows; see
//! `schema/description.rs`) and compared with the reference description of DBOS v125 kept
//! beside this file (`schema/dbos-v125.json`). Function bodies are checked by behaviour
//! (`the_sql_functions_behave_like_dbos`).

mod description;

use dbos_storage_core::{DatabaseUrl, DbosConfig, ErrorKind, LifecycleStore, DBOS_SCHEMA_VERSION};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;

use description::{differences, reference, Schema};

/// The trigger and trigger function that exist only with LISTEN/NOTIFY.
const NOTIFICATION_TRIGGER: &str = "dbos_notifications_trigger";
const NOTIFICATION_FUNCTION: &str = "notifications_function";

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

/// The description of `schema` in the database at `url`.
async fn describe(url: &str, schema: &str) -> Schema {
    let client = pg::server().connect(url).await.expect("connect");
    description::read(&client, schema).await
}

fn assert_same(expected: &Schema, actual: &Schema) {
    let differences = differences(expected, actual);
    if !differences.is_empty() && std::env::var_os("PRINT_SCHEMA").is_some() {
        println!("{}", serde_json::to_string_pretty(actual).unwrap());
    }
    assert!(
        differences.is_empty(),
        "the migrated schema differs from the DBOS v125 reference (schema/dbos-v125.json; set \
         PRINT_SCHEMA=1 to print the migrated schema's description):\n  {}",
        differences.join("\n  ")
    );
}

#[test]
fn the_reference_describes_the_whole_v125_schema() {
    let r = reference();
    assert_eq!(r.dbos_migrations, [DBOS_SCHEMA_VERSION]);
    assert_eq!(r.tables.len(), 13, "{:?}", r.tables.keys());
    let status = &r.tables["workflow_status"];
    assert_eq!(status.columns.len(), 39);
    assert_eq!(
        status.primary_key.as_ref().unwrap().columns,
        ["workflow_uuid"]
    );
    assert_eq!(r.tables["notifications"].foreign_keys.len(), 1);
    assert_eq!(r.indexes.len(), 24);
    assert!(r.indexes["uq_workflow_status_dedup_id"].unique);
    assert_eq!(r.indexes["idx_workflow_status_attributes"].method, "gin");
    assert_eq!(r.functions.len(), 3);
    assert_eq!(r.functions["enqueue_workflow"].arguments.len(), 17);
    assert_eq!(
        r.triggers[NOTIFICATION_TRIGGER].function,
        NOTIFICATION_FUNCTION
    );
}

#[test]
fn a_difference_is_reported_by_object() {
    let expected = reference();
    let mut actual = expected.clone();
    assert!(differences(&expected, &actual).is_empty());
    let status = actual.tables.get_mut("workflow_status").unwrap();
    status.columns.retain(|c| c.name != "creator_xid");
    status.columns[0].default = Some("'x'::text".into());
    actual.indexes.remove("idx_workflow_status_pending");
    actual.functions.get_mut("send_message").unwrap().returns = "text".into();
    let found = differences(&expected, &actual);
    for needle in [
        "missing table workflow_status column creator_xid",
        "table workflow_status column workflow_uuid:",
        "table workflow_status column order",
        "missing index idx_workflow_status_pending",
        "function send_message:",
    ] {
        assert!(
            found.iter().any(|d| d.starts_with(needle)),
            "{needle:?} not in {found:#?}"
        );
    }
}

#[tokio::test]
async fn fresh_database_matches_the_reference() {
    let url = migrated_database(&DbosConfig::new("schema-test")).await;
    assert_same(&reference(), &describe(&url, "dbos").await);
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn without_listen_notify_there_is_no_trigger() {
    let mut expected = reference();
    expected.triggers.remove(NOTIFICATION_TRIGGER);
    expected.functions.remove(NOTIFICATION_FUNCTION);

    let config = DbosConfig::new("schema-test").with_use_listen_notify(false);
    let url = migrated_database(&config).await;
    assert_same(&expected, &describe(&url, "dbos").await);
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn a_custom_schema_name_works() {
    let config = DbosConfig::new("schema-test").with_dbos_system_schema("my_dbos");
    let url = migrated_database(&config).await;
    assert_same(&reference(), &describe(&url, "my_dbos").await);
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
