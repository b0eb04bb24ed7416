//! PostgreSQL-specific checks of `PostgresStore` beyond the conformance suite: JSONB attributes,
//! racing inserts, the deduplication message, quoted schema names, long id lists, and rows
//! written by DBOS's own SQL functions or by older SDKs.

use std::sync::Arc;

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{
    CancelOptions, DatabaseUrl, DbosConfig, ErrorKind, InsertOptions, LifecycleStore,
    ListStepsOptions, ListWorkflowsQuery, ManagementStore, NewWorkflow, Outcome, Payload,
    StepRecord, StepStore, WorkflowResult, WorkflowStatus, WorkflowStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;
use serde_json::json;
use tokio::sync::OnceCell;

static DATABASE: OnceCell<String> = OnceCell::const_new();

async fn database_url() -> &'static str {
    DATABASE
        .get_or_init(|| pg::server().create_database("dbos_store"))
        .await
}

/// A migrated store on a fresh schema named `schema` (or a unique one).
async fn store_in(schema: Option<&str>) -> PostgresStore {
    let url = database_url().await;
    let schema = schema.map_or_else(|| pg::server().unique_name("dbos_store"), str::to_owned);
    let dbos = DbosConfig::new("store_tests")
        .with_dbos_system_schema(schema.as_str())
        .with_sys_db_pool_size(20);
    let config = PostgresConfig::system(&dbos, &DatabaseUrl::parse(url).unwrap()).unwrap();
    let store = PostgresStore::open(config).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn store() -> PostgresStore {
    store_in(None).await
}

/// An admin connection to the test database.
async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database_url().await, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn drop_store(store: PostgresStore) {
    store.close().await.unwrap();
    admin()
        .await
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_identifier(store.schema())
        ))
        .await
        .unwrap();
}

fn inputs() -> Payload {
    Payload::portable_json(r#"{"positionalArgs":[],"namedArgs":{}}"#)
}

fn attrs(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

async fn listed(store: &PostgresStore, query: ListWorkflowsQuery) -> Vec<String> {
    let mut ids: Vec<String> = store
        .list_workflows(query)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.workflow_id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_are_jsonb_and_filter_by_containment() {
    let store = store().await;
    let rows = [
        (
            "nested",
            Some(json!({"team": "red", "meta": {"tier": 1, "tags": ["a", "b"]}})),
        ),
        ("flat", Some(json!({"team": "blue", "n": 2.5, "ok": true}))),
        ("unset", None),
    ];
    for (id, a) in rows {
        let mut wf = NewWorkflow::new(id, "f", inputs());
        wf.attributes = a.map(attrs);
        store
            .insert_workflow(wf, InsertOptions::default())
            .await
            .unwrap();
    }
    let q = |v| ListWorkflowsQuery::new().attributes(attrs(v));
    assert_eq!(
        listed(&store, q(json!({"meta": {"tags": ["b"]}}))).await,
        ["nested"]
    );
    assert_eq!(
        listed(&store, q(json!({"meta": {"tier": 1}}))).await,
        ["nested"]
    );
    assert_eq!(
        listed(&store, q(json!({"ok": true, "n": 2.5}))).await,
        ["flat"]
    );
    assert_eq!(
        listed(&store, q(json!({}))).await,
        ["flat", "nested"],
        "the empty object is contained in every object, not in JSON null"
    );
    assert!(listed(&store, q(json!({"team": "green"}))).await.is_empty());

    // Unset attributes are stored as JSON null (as DBOS writes them), not SQL NULL.
    let kind: Option<String> = admin()
        .await
        .query_one(
            &format!(
                "SELECT jsonb_typeof(attributes) FROM {}.workflow_status WHERE workflow_uuid = \
                 'unset'",
                quote_identifier(store.schema())
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind.as_deref(), Some("null"));
    let got = store.get_workflows(&["unset".to_owned()]).await.unwrap();
    assert_eq!(got[0].attributes, None);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_inserts_of_one_id_elect_one_executor() {
    let store = Arc::new(store().await);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let wf = NewWorkflow::new("race", "f", inputs()).with_creator_xid(format!("c{i}"));
            store.insert_workflow(wf, InsertOptions::default()).await
        }));
    }
    let mut executing = 0;
    let mut attached = 0;
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        assert_eq!(outcome.status, WorkflowStatus::Pending);
        if outcome.should_execute {
            assert!(!outcome.existed);
            executing += 1;
        } else {
            assert!(outcome.existed);
            attached += 1;
        }
    }
    assert_eq!((executing, attached), (1, 15));
    let row = &store.get_workflows(&["race".to_owned()]).await.unwrap()[0];
    assert_eq!(row.recovery_attempts, 1);
    assert_eq!(row.inputs.as_deref(), Some(inputs().text.as_str()));
    let store = Arc::try_unwrap(store).unwrap();
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deduplication_error_names_queue_and_id() {
    let store = store().await;
    let holder = NewWorkflow::new("holder", "f", inputs())
        .enqueued("q")
        .with_deduplication_id("key-1");
    store
        .insert_workflow(holder, InsertOptions::default())
        .await
        .unwrap();
    let dup = NewWorkflow::new("dup", "f", inputs())
        .enqueued("q")
        .with_deduplication_id("key-1");
    let e = store
        .insert_workflow(dup, InsertOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Deduplicated);
    assert_eq!(
        e.message(),
        "workflow dup was not enqueued: queue \"q\" already has a workflow with deduplication \
         id \"key-1\""
    );
    assert_eq!(e.backend(), Some("postgres"));
    assert!(store
        .get_workflows(&["dup".to_owned()])
        .await
        .unwrap()
        .is_empty());
    // Another queue may use the same key; the holder's outcome releases it.
    let other = NewWorkflow::new("other", "f", inputs())
        .enqueued("q2")
        .with_deduplication_id("key-1");
    store
        .insert_workflow(other, InsertOptions::default())
        .await
        .unwrap();
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_name_that_needs_quoting_works_end_to_end() {
    let schema = pg::server().unique_name("x");
    let schema = format!("Dbos$Mixed_{}", &schema[2..]);
    let store = store_in(Some(&schema)).await;
    assert_eq!(store.schema(), schema);
    let tables: i64 = admin()
        .await
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND \
             table_name IN ('workflow_status', 'operation_outputs', 'workflow_input')",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        tables, 3,
        "the tables live in the exact (case-preserved) schema"
    );

    let wf = NewWorkflow::new("p", "f", inputs()).with_creator_xid("o");
    let outcome = store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
    assert!(outcome.should_execute);
    store
        .record_step(
            StepRecord::output("p", 1, "s", Payload::portable_json("1")),
            Some("o"),
        )
        .await
        .unwrap();
    let child = NewWorkflow::new("c", "child", inputs());
    store
        .start_child_workflow("p", 2, child, InsertOptions::default(), Some("o"))
        .await
        .unwrap();
    store
        .record_sleep("p", 3, std::time::Duration::from_millis(1), Some("o"))
        .await
        .unwrap();
    let steps = store
        .list_steps("p", ListStepsOptions::default())
        .await
        .unwrap();
    assert_eq!(steps.len(), 3);
    assert!(store
        .record_outcome(
            "p",
            Outcome::Output(Payload::portable_json("42")),
            Some("o")
        )
        .await
        .unwrap());
    assert_eq!(
        store.workflow_result("p").await.unwrap(),
        WorkflowResult::Finished(Outcome::Output(Payload::portable_json("42")))
    );
    assert_eq!(store.workflow_children("p").await.unwrap(), ["c"]);
    assert_eq!(
        store
            .cancel_workflows(&["c".to_owned()], CancelOptions::default())
            .await
            .unwrap(),
        ["c"]
    );
    assert_eq!(
        listed(&store, ListWorkflowsQuery::new().workflow_id_prefix("c")).await,
        ["c"]
    );
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_lists_longer_than_a_chunk_are_read_whole() {
    let store = store().await;
    for id in ["a", "b"] {
        store
            .insert_workflow(
                NewWorkflow::new(id, "f", inputs()),
                InsertOptions::default(),
            )
            .await
            .unwrap();
    }
    // 5000 missing ids around the two real ones, which appear twice: chunked at 4096, in
    // request order, duplicates kept.
    let mut ids: Vec<String> = (0..5000).map(|i| format!("missing-{i}")).collect();
    ids.insert(10, "b".to_owned());
    ids.push("a".to_owned());
    ids.push("b".to_owned());
    let got: Vec<String> = store
        .get_workflows(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.workflow_id)
        .collect();
    assert_eq!(got, ["b", "a", "b"]);
    assert_eq!(store.first_finished(&ids).await.unwrap(), None);
    let cancelled = store
        .cancel_workflows(&ids, CancelOptions::default())
        .await
        .unwrap();
    assert_eq!(cancelled, ["b", "a"]);
    assert!(store.first_finished(&ids).await.unwrap().is_some());
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_by_dbos_sql_and_legacy_columns_are_read() {
    let store = store().await;
    let schema = quote_identifier(store.schema());
    let admin = admin().await;
    // DBOS's language-neutral enqueue function (migration 113 form).
    let id: String = admin
        .query_one(
            &format!(
                "SELECT {schema}.enqueue_workflow('sql_fn', 'sql_q', ARRAY['5'::json], \
                 workflow_id => 'from-sql')"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, "from-sql");
    let row = &store
        .get_workflows(std::slice::from_ref(&id))
        .await
        .unwrap()[0];
    assert_eq!(row.status, WorkflowStatus::Enqueued);
    assert_eq!(row.name, "sql_fn");
    assert_eq!(row.queue_name.as_deref(), Some("sql_q"));
    let inputs: serde_json::Value = serde_json::from_str(row.inputs.as_deref().unwrap()).unwrap();
    assert_eq!(inputs, json!({"positionalArgs": [5], "namedArgs": {}}));
    assert_eq!(
        row.serialization.as_ref().map(|s| s.as_label().to_owned()),
        Some("portable_json".to_owned())
    );

    // A 2.x-era row: outcome in the legacy column, no workflow_output row, no attributes.
    admin
        .batch_execute(&format!(
            "INSERT INTO {schema}.workflow_status (workflow_uuid, status, name, output, inputs) \
             VALUES ('legacy', 'SUCCESS', 'old_fn', '\"old\"', '[1]');
             INSERT INTO {schema}.workflow_status (workflow_uuid, status, name) \
             VALUES ('no-output', 'SUCCESS', 'old_fn')"
        ))
        .await
        .unwrap();
    assert_eq!(
        store.workflow_result("legacy").await.unwrap(),
        WorkflowResult::Finished(Outcome::Output(Payload::new("\"old\"", None)))
    );
    let legacy = &store.get_workflows(&["legacy".to_owned()]).await.unwrap()[0];
    assert_eq!(legacy.inputs.as_deref(), Some("[1]"));
    assert_eq!(legacy.attributes, None);
    assert_eq!(
        store.workflow_result("no-output").await.unwrap(),
        WorkflowResult::Finished(Outcome::Void)
    );
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_timeout_saturates_the_deadline() {
    let store = store().await;
    let wf = NewWorkflow::new("forever", "f", inputs())
        .with_timeout(std::time::Duration::from_secs(u64::MAX / 1000));
    store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
    let row = &store.get_workflows(&["forever".to_owned()]).await.unwrap()[0];
    assert_eq!(row.workflow_deadline_epoch_ms, Some(i64::MAX));
    drop_store(store).await;
}
