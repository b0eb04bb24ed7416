//! The operator operations on `PostgresStore`, checked against the exact rows (the checks of
//! `dbos_storage_testkit::operator_rows`, shared with the CockroachDB driver), plus garbage
//! collection with the PostgreSQL application store.

use std::sync::Arc;

use dbos_storage::{collect_garbage, GcOptions};
use dbos_storage_core::management::RetentionPolicy;
use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{AppStore, DatabaseUrl, DbosConfig, ErrorKind, LifecycleStore};
use dbos_storage_postgres::{PostgresAppStore, PostgresConfig, PostgresStore};
use dbos_storage_testkit::operator_rows::{self, Env};
use dbos_storage_testkit::pg;
use dbos_storage_testkit::workflow_step_rows;
use tokio::sync::OnceCell;

static DATABASE: OnceCell<String> = OnceCell::const_new();
static OTHER_DATABASE: OnceCell<String> = OnceCell::const_new();

/// A fresh schema in the database at `url`, with two stores on it and an admin connection.
async fn env_in(url: &str) -> Env {
    let schema = pg::server().unique_name("dbos_ops");
    let dbos = DbosConfig::new("ops_tests")
        .with_dbos_system_schema(schema.as_str())
        .with_sys_db_pool_size(8);
    let config = PostgresConfig::system(&dbos, &DatabaseUrl::parse(url).unwrap()).unwrap();
    let store = PostgresStore::open(config.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let twin = PostgresStore::open(config).await.unwrap();
    let (admin, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    Env {
        store: Arc::new(store),
        twin: Arc::new(twin),
        admin,
        schema: quote_identifier(&schema),
    }
}

async fn env() -> Env {
    let url = DATABASE
        .get_or_init(|| pg::server().create_database("dbos_ops"))
        .await;
    env_in(url).await
}

/// An environment in a second database (for export → import).
async fn other_env() -> Env {
    let url = OTHER_DATABASE
        .get_or_init(|| pg::server().create_database("dbos_ops_b"))
        .await;
    env_in(url).await
}

async fn drop_env(env: Env) {
    env.store.close().await.unwrap();
    env.twin.close().await.unwrap();
    env.exec("DROP SCHEMA {s} CASCADE").await;
}

#[tokio::test]
async fn fork_copies_the_rows_below_the_start() {
    let env = env().await;
    operator_rows::fork_copies_the_rows_below_the_start(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn rewind_cuts_everything_from_the_start() {
    let env = env().await;
    operator_rows::rewind_cuts_everything_from_the_start(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn delete_removes_every_row_with_children() {
    let env = env().await;
    operator_rows::delete_removes_every_row_with_children(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn attributes_replace_and_merge() {
    let env = env().await;
    operator_rows::attributes_replace_and_merge(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn lease_is_a_hidden_queue_row() {
    let env = env().await;
    operator_rows::lease_is_a_hidden_queue_row(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn two_stores_race_for_the_lease() {
    let env = env().await;
    operator_rows::two_stores_race_for_the_lease(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn sweep_removes_real_orphans_window_by_window() {
    let env = env().await;
    operator_rows::sweep_removes_real_orphans_window_by_window(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn collectable_follows_the_policy() {
    let env = env().await;
    operator_rows::collectable_follows_the_policy(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn interrupted_gc_finishes_like_a_clean_one() {
    let (env, clean) = (env().await, env().await);
    operator_rows::interrupted_gc_finishes_like_a_clean_one(&env, &clean).await;
    drop_env(env).await;
    drop_env(clean).await;
}

#[tokio::test]
async fn export_import_round_trip() {
    let (env, other) = (env().await, other_env().await);
    operator_rows::export_import_round_trip(&env, &other).await;
    drop_env(env).await;
    drop_env(other).await;
}

#[tokio::test]
async fn metrics_count_per_bucket() {
    let env = env().await;
    operator_rows::metrics_count_per_bucket(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn rename_moves_everything_in_batches() {
    let env = env().await;
    operator_rows::rename_moves_everything_in_batches(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn schedules_keep_dbos_rows() {
    let env = env().await;
    operator_rows::schedules_keep_dbos_rows(&env).await;
    drop_env(env).await;
}

/// A fresh application database with `transaction_outputs`, and a connection to it; returns
/// the store, the connection and the table's qualified name.
async fn app_db() -> (PostgresAppStore, tokio_postgres::Client, String) {
    let url = pg::server().create_database("dbos_ops_app").await;
    let app = PostgresAppStore::connect(&url).await.unwrap();
    app.migrate().await.unwrap();
    let (raw, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let schema: String = raw
        .query_one(
            "SELECT table_schema::text FROM information_schema.tables
             WHERE table_name = 'transaction_outputs'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let table = format!("{}.transaction_outputs", quote_identifier(&schema));
    (app, raw, table)
}

/// The workflow ids left in `transaction_outputs`, with their steps.
async fn app_rows(raw: &tokio_postgres::Client, table: &str) -> Vec<(String, i32)> {
    raw.query(
        &format!("SELECT workflow_uuid, function_id FROM {table} ORDER BY 1, 2"),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test]
async fn app_store_deletes_and_pages_recorded_transactions() {
    let (app, raw, table) = app_db().await;
    raw.batch_execute(&format!(
        "INSERT INTO {table} (workflow_uuid, function_id, output, created_at) VALUES
         ('a', 1, '1', 10), ('a', 2, '1', 10), ('a', 3, '1', 10), ('b', 1, '1', 20),
         ('c', 1, '1', 30), ('d', 1, '1', 99)"
    ))
    .await
    .unwrap();
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        app.delete_transaction_outputs(&ids(&["a"]), 2, None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        app.delete_transaction_outputs(&ids(&["a"]), 2, None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.transaction_output_workflows(50, None, 2).await.unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        app.transaction_output_workflows(50, Some("b"), 10)
            .await
            .unwrap(),
        ["c"]
    );
    assert_eq!(
        app.transaction_output_workflows(25, None, 10)
            .await
            .unwrap(),
        ["a", "b"]
    );
    // With a bound, only rows created before it go: b's row (20) stays, a's (10) goes.
    assert_eq!(
        app.delete_transaction_outputs(&ids(&["a", "b", "zz"]), 0, Some(15))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.delete_transaction_outputs(&ids(&["a", "b", "zz"]), 0, None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app_rows(&raw, &table).await,
        [("c".into(), 1), ("d".into(), 1)]
    );
    let e = app
        .delete_transaction_outputs(&ids(&["c"]), -1, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("not -1"), "{e}");
    let e = app
        .delete_transaction_outputs(&ids(&[""]), 0, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[tokio::test]
async fn gc_deletes_recorded_transactions_of_collected_workflows_and_orphans() {
    let env = env().await;
    let (app, raw, table) = app_db().await;
    operator_rows::gc_fixture(&env).await;
    raw.batch_execute(&format!(
        "INSERT INTO {table} (workflow_uuid, function_id, output, created_at) VALUES
         ('g0', 1, '1', 5), ('g7', 3, '1', 5), ('gp', 1, '1', 5), ('vanished', 1, '1', 5)"
    ))
    .await
    .unwrap();
    let report = collect_garbage(
        env.store.as_ref(),
        Some(&app as &dyn AppStore),
        GcOptions::new(RetentionPolicy::completed_before(i64::MAX))
            .batch_size(3)
            .sweep_app_orphans(true),
    )
    .await
    .unwrap();
    assert_eq!(report.workflows, 8);
    assert_eq!(report.app_rows, 2, "g0 and g7");
    assert_eq!(report.app_orphans, 1, "vanished");
    assert_eq!(app_rows(&raw, &table).await, [("gp".into(), 1)]);
    assert_eq!(
        env.rows("SELECT workflow_uuid FROM {s}.workflow_status ORDER BY 1")
            .await
            .len(),
        2
    );
    app.close().await.unwrap();
    drop_env(env).await;
}

// Direct recovery, the hand-back to a queue and checkpointed stream reads, against DBOS's rows
// (the checks of `dbos_storage_testkit::recovery_rows`, shared with the SQLite driver).

#[tokio::test]
async fn a_take_over_and_a_dead_letter_write_dbos_columns() {
    let env = env().await;
    dbos_storage_testkit::recovery_rows::take_over_rows(&*env.store, &env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn a_hand_back_writes_dbos_columns() {
    let env = env().await;
    dbos_storage_testkit::recovery_rows::return_to_queue_rows(&*env.store, &env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn checkpointed_stream_reads_write_dbos_steps() {
    let env = env().await;
    dbos_storage_testkit::recovery_rows::stream_step_rows(&*env.store, &env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn operations_run_as_steps_record_dbos_step_rows() {
    let env = env().await;
    workflow_step_rows::operations_record_dbos_step_rows(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn an_operation_run_as_a_step_that_fails_leaves_only_its_error_step() {
    let env = env().await;
    workflow_step_rows::a_failed_operation_leaves_only_its_error_step(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn rewind_and_schedule_steps_record_dbos_rows() {
    let env = env().await;
    workflow_step_rows::rewind_and_schedule_steps_record_dbos_rows(&env).await;
    drop_env(env).await;
}
