//! Issue #21's reads and sweeps over rows exactly as DBOS writes them on PostgreSQL: a message
//! inserted with DBOS's SQL is listed, a delayed row of another application is not released
//! (also by sweeps racing on separate connections), and the multi-valued list filters match raw
//! rows. The conformance suite covers the contract.

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{
    DatabaseUrl, DbosConfig, ErrorKind, InsertOptions, LifecycleStore, ListWorkflowsQuery,
    MessageStore, NewWorkflow, Payload, QueueStore, WorkflowStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;
use tokio::sync::OnceCell;

static DATABASE: OnceCell<String> = OnceCell::const_new();

async fn database_url() -> &'static str {
    DATABASE
        .get_or_init(|| pg::server().create_database("dbos_written_rows"))
        .await
}

/// A migrated store on a fresh schema.
async fn store() -> PostgresStore {
    let schema = pg::server().unique_name("dbos_rows");
    let dbos = DbosConfig::new("written_rows_tests").with_dbos_system_schema(&schema);
    let url = DatabaseUrl::parse(database_url().await).unwrap();
    let store = PostgresStore::open(PostgresConfig::system(&dbos, &url).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn admin() -> tokio_postgres::Client {
    pg::server().connect(database_url().await).await.unwrap()
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

fn table(store: &PostgresStore, name: &str) -> String {
    format!("{}.{name}", quote_identifier(store.schema()))
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn messages_written_by_dbos_are_listed() {
    let store = store().await;
    store
        .insert_workflow(
            NewWorkflow::new("dest", "wf", Payload::portable_json("[]")),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let c = admin().await;
    let notifications = table(&store, "notifications");
    // DBOS's send: `message_uuid` (gen_random_uuid()), `created_at_epoch_ms` and `consumed`
    // left to their defaults, no topic stored as the sentinel.
    c.execute(
        &format!(
            "INSERT INTO {notifications} (destination_uuid, topic, message, serialization) \
             VALUES ('dest', '__null__topic__', '\"py\"', 'portable_json')"
        ),
        &[],
    )
    .await
    .unwrap();
    // A consumed message of another writer, with a NULL topic and no label, sent earlier.
    c.execute(
        &format!(
            "INSERT INTO {notifications} (message_uuid, destination_uuid, topic, message, \
                 created_at_epoch_ms, consumed, consumed_by_function_id) \
             VALUES ('m-old', 'dest', NULL, 'legacy', 1000, TRUE, 3)"
        ),
        &[],
    )
    .await
    .unwrap();
    let listed = store.list_notifications("dest").await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let (old, py) = (&listed[0], &listed[1]);
    assert_eq!(old.message_id, "m-old");
    assert_eq!(old.topic, None, "a NULL topic reads as none");
    assert_eq!(old.message, Payload::new("legacy", None));
    assert_eq!(old.created_at_epoch_ms, 1000);
    assert!(old.consumed);
    assert_eq!(old.consumed_by_function_id, Some(3));

    let row = c
        .query_one(
            &format!(
                "SELECT message_uuid, created_at_epoch_ms FROM {notifications} \
                 WHERE message = '\"py\"'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(py.message_id, row.get::<_, String>(0), "the default uuid");
    assert_eq!(py.topic, None, "the null-topic sentinel reads as none");
    assert_eq!(py.message, Payload::portable_json("\"py\""));
    assert_eq!(py.created_at_epoch_ms, row.get::<_, i64>(1));
    assert!(!py.consumed);
    assert_eq!(py.consumed_by_function_id, None);

    assert!(store.list_notifications("nobody").await.unwrap().is_empty());
    let e = store.list_notifications("de\0st").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string().contains("workflow id contains a NUL byte"),
        "{e}"
    );
    let long = "d".repeat(1025);
    let e = store.list_notifications(&long).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("workflow id is 1025 bytes, over the limit of 1024 bytes"),
        "{e}"
    );
    drop_store(store).await;
}

/// Inserts a `DELAYED` row as DBOS writes it for an application (`None` = unclaimed).
async fn insert_delayed(
    c: &tokio_postgres::Client,
    store: &PostgresStore,
    id: &str,
    app: Option<&str>,
    debounced: bool,
) {
    c.execute(
        &format!(
            "INSERT INTO {} (workflow_uuid, status, name, queue_name, created_at, updated_at, \
                 application_name, delay_until_epoch_ms, deduplication_id, is_debounced, \
                 recovery_attempts) \
             VALUES ($1, 'DELAYED', 'wf', 'q', 1000, 1000, $2, 2000, 'wf-' || $1, $3, 0)",
            table(store, "workflow_status")
        ),
        &[&id, &app, &debounced],
    )
    .await
    .unwrap();
}

async fn status_and_dedup(
    c: &tokio_postgres::Client,
    store: &PostgresStore,
    id: &str,
) -> (String, Option<String>, i64) {
    let row = c
        .query_one(
            &format!(
                "SELECT status, deduplication_id, updated_at FROM {} WHERE workflow_uuid = $1",
                table(store, "workflow_status")
            ),
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn delayed_rows_of_another_application_are_not_released() {
    let store = store().await;
    let c = admin().await;
    insert_delayed(&c, &store, "mine", Some("app-a"), true).await;
    insert_delayed(&c, &store, "free", None, false).await;
    insert_delayed(&c, &store, "theirs", Some("app-b"), true).await;
    for i in 0..40 {
        insert_delayed(&c, &store, &format!("race-{i:02}"), Some("app-r"), false).await;
    }

    let mut released = store
        .release_delayed_workflows(Some("app-a"))
        .await
        .unwrap();
    released.sort();
    assert_eq!(released, ids(&["free", "mine"]));
    assert_eq!(
        status_and_dedup(&c, &store, "mine").await,
        ("ENQUEUED".to_owned(), None, 1000),
        "released; a debounced row gives up its key; updated_at untouched"
    );
    assert_eq!(
        status_and_dedup(&c, &store, "free").await,
        ("ENQUEUED".to_owned(), Some("wf-free".to_owned()), 1000)
    );
    assert_eq!(
        status_and_dedup(&c, &store, "theirs").await,
        ("DELAYED".to_owned(), Some("wf-theirs".to_owned()), 1000),
        "another application's row stays delayed"
    );

    // Sweeps racing on separate pooled connections release each row once.
    let sweeps = (0..6).map(|_| store.release_delayed_workflows(Some("app-r")));
    let mut raced: Vec<String> = futures::future::join_all(sweeps)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    raced.sort();
    let expected: Vec<String> = (0..40).map(|i| format!("race-{i:02}")).collect();
    assert_eq!(raced, expected, "every row of app-r released exactly once");
    assert_eq!(
        status_and_dedup(&c, &store, "theirs").await.0,
        "DELAYED",
        "app-r's sweeps leave app-b's row"
    );
    assert_eq!(
        store.release_delayed_workflows(None).await.unwrap(),
        ids(&["theirs"]),
        "an unscoped sweep releases every application's rows"
    );

    let e = store
        .release_delayed_workflows(Some("app\0a"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("application name contains a NUL byte"),
        "{e}"
    );
    drop_store(store).await;
}

#[tokio::test]
async fn several_filter_values_match_raw_rows() {
    let store = store().await;
    let c = admin().await;
    for (id, schedule, app, parent, created_at) in [
        ("s1", "nightly", Some("app-a"), Some("p1"), 1000_i64),
        ("s2", "hourly", Some("app-b"), Some("p2"), 1001),
        ("s3", "weekly", None, Some("p3"), 1002),
        ("s4", "nightly", Some("app-c"), None, 1003),
        ("s%5", "monthly", None, None, 1004),
    ] {
        c.execute(
            &format!(
                "INSERT INTO {} (workflow_uuid, status, name, created_at, updated_at, \
                     schedule_name, application_name, parent_workflow_id) \
                 VALUES ($1, 'SUCCESS', 'wf', $2, $2, $3, $4, $5)",
                table(&store, "workflow_status")
            ),
            &[&id, &created_at, &schedule, &app, &parent],
        )
        .await
        .unwrap();
    }
    let listed = |q: ListWorkflowsQuery| {
        let store = store.clone();
        async move {
            let rows = store.list_workflows(q).await.unwrap();
            rows.into_iter().map(|w| w.workflow_id).collect::<Vec<_>>()
        }
    };
    let q = ListWorkflowsQuery::new;
    assert_eq!(
        listed(q().schedule_names(["nightly", "weekly"])).await,
        ids(&["s1", "s3", "s4"])
    );
    assert_eq!(
        listed(q().application_names(["app-a", "app-b"])).await,
        ids(&["s1", "s2", "s3", "s%5"]),
        "both applications plus the unclaimed rows"
    );
    assert_eq!(
        listed(q().parent_workflow_ids(["p1", "p3"])).await,
        ids(&["s1", "s3"])
    );
    assert_eq!(
        listed(q().workflow_id_prefixes(["s1", "s%", "S2"])).await,
        ids(&["s1", "s%5"]),
        "prefixes are literal (% matches itself) and case-sensitive"
    );
    assert_eq!(
        listed(
            q().schedule_names(["nightly", "hourly", "weekly"])
                .offset(1)
                .limit(2)
        )
        .await,
        ids(&["s2", "s3"]),
        "paging after the filters"
    );
    drop_store(store).await;
}
