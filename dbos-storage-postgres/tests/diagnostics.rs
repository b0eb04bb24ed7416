//! What the operator command relies on: `server_info`, `grant_app_role`, native connections,
//! `drop_schema`, and verify mode leaving a missing database uncreated.

use dbos_storage_core::{
    DatabaseUrl, DbosConfig, ErrorKind, LifecycleStore, ListWorkflowsQuery, WorkflowStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;

async fn open(url: &str, config: DbosConfig) -> dbos_storage_core::Result<PostgresStore> {
    let parsed = DatabaseUrl::parse(url).unwrap();
    PostgresStore::open(PostgresConfig::system(&config, &parsed)?).await
}

fn config() -> DbosConfig {
    DbosConfig::new("diagnostics-test").with_pool_size(3)
}

#[tokio::test]
async fn server_info_reports_the_server_the_session_and_the_pool() {
    let url = pg::server().create_database("pg_info").await;
    let store = open(&url, config()).await.unwrap();
    let info = store.server_info().await.unwrap();
    assert_eq!(info.backend, "postgres");
    assert!(
        info.server_version.starts_with("PostgreSQL "),
        "{}",
        info.server_version
    );
    assert_eq!(
        info.tls,
        Some(false),
        "the test server is reached without TLS"
    );
    assert_eq!(info.setting("schema"), Some("dbos"));
    assert_eq!(info.setting("pool_max_connections"), Some("3"));
    assert_eq!(info.setting("sslmode"), Some("prefer"));
    assert!(info.setting("database").is_some());
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn server_info_sees_tls_on_a_tls_server() {
    let server = pg::tls_server();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=verify-ca&sslrootcert={}",
        server.port(),
        server.ca_cert_path().display()
    );
    let store = open(&url, config()).await.unwrap();
    let info = store.server_info().await.unwrap();
    assert_eq!(info.tls, Some(true), "{info:?}");
    assert!(
        info.tls_detail
            .as_deref()
            .is_some_and(|d| d.starts_with("TLSv1")),
        "{info:?}"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_app_role_granted_on_the_schema_can_use_it() {
    let url = pg::server().create_database("pg_grant").await;
    let store = open(&url, config()).await.unwrap();
    store.migrate().await.unwrap();
    let role = pg::server().unique_name("dbos_app");
    pg::server().create_role(&role, "app-secret").await;
    store.grant_app_role(&role).await.unwrap();
    store.grant_app_role(&role).await.unwrap(); // idempotent
    store.close().await.unwrap();

    let database = pg::database_name(&url);
    let as_app = pg::server().url_for(&database, &role, Some("app-secret"));
    let app_config = config().with_run_migrations(false);
    let app = open(&as_app, app_config).await.unwrap();
    let wf = dbos_storage_core::NewWorkflow::new(
        "granted",
        "f",
        dbos_storage_core::Payload::portable_json("[]"),
    );
    app.insert_workflow(wf, Default::default()).await.unwrap();
    let rows = app.list_workflows(ListWorkflowsQuery::new()).await.unwrap();
    assert_eq!(rows.len(), 1);
    app.close().await.unwrap();

    let store = open(&url, config()).await.unwrap();
    let e = store.grant_app_role("no_such_role_x").await.unwrap_err();
    assert!(e.to_string().contains("no_such_role_x"), "{e}");
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn a_native_connection_has_the_settings_of_the_pooled_ones_outside_the_pool() {
    let url = pg::server().create_database("pg_native").await;
    let store = open(&url, config()).await.unwrap();
    store.migrate().await.unwrap();
    let pooled =
        |info: dbos_storage_core::ServerInfo| info.setting("pool_connections").map(str::to_owned);
    let before = pooled(store.server_info().await.unwrap());
    let client = store.native_connection().await.unwrap();
    // The session settings of every pooled connection.
    let idle: String = client
        .query_one("SHOW idle_in_transaction_session_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(idle, "1min");
    // The store's tables, named by their schema.
    let rows: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{}\".workflow_status",
                store.schema()
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    // It is the caller's: the pool does not count it, and it outlives the store.
    assert!(before.is_some());
    assert_eq!(pooled(store.server_info().await.unwrap()), before);
    store.close().await.unwrap();
    client.batch_execute("SELECT 1").await.unwrap();
    drop(client);
    let e = store.native_connection().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn drop_schema_removes_a_throwaway_system_schema() {
    let url = pg::server().create_database("pg_dropschema").await;
    let store = open(&url, config().with_dbos_system_schema("throwaway"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.drop_schema().await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    let client = pg::server().connect(&url).await.unwrap();
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'throwaway'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn verify_mode_does_not_create_a_missing_database() {
    let name = pg::server().unique_name("pg_absent");
    let admin = DatabaseUrl::parse(&pg::server().admin_url()).unwrap();
    let url = admin.with_database(&name);
    let e = open(url.expose_secret(), config().with_run_migrations(false))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let client = pg::server()
        .connect(&pg::server().admin_url())
        .await
        .unwrap();
    let found: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(found, 0, "verify mode must not create the database");
}
