//! Issue #21's reads and sweeps over rows exactly as DBOS writes them on SQLite: a message
//! inserted with DBOS's SQL is listed, a delayed row of another application is not released,
//! and the multi-valued list filters match raw rows. The conformance suite covers the contract.

use dbos_storage_core::{
    ErrorKind, ListWorkflowsQuery, MessageStore, NewWorkflow, Payload, QueueStore, WorkflowStore,
};
use dbos_storage_sqlite::SqliteStore;
use rusqlite::params;

#[allow(dead_code)]
mod common;
use common::{fixture, ids, input, raw};

async fn start(store: &SqliteStore, id: &str) {
    store
        .insert_workflow(NewWorkflow::new(id, "wf", input()), Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn messages_written_by_dbos_are_listed() {
    let f = fixture().await;
    start(&f.store, "dest").await;
    let c = raw(&f.path);
    // DBOS Python's send: `message_uuid`, `created_at_epoch_ms` and `consumed` left to their
    // defaults, no topic stored as the sentinel.
    c.execute(
        "INSERT INTO notifications (destination_uuid, topic, message, serialization) \
         VALUES ('dest', '__null__topic__', '\"py\"', 'portable_json')",
        [],
    )
    .unwrap();
    // A consumed message of another writer, with a NULL topic and no label, sent earlier.
    c.execute(
        "INSERT INTO notifications (message_uuid, destination_uuid, topic, message, \
             created_at_epoch_ms, consumed, consumed_by_function_id) \
         VALUES ('m-old', 'dest', NULL, 'legacy', 1000, 1, 3)",
        [],
    )
    .unwrap();
    let listed = f.store.list_notifications("dest").await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let (old, py) = (&listed[0], &listed[1]);
    assert_eq!(old.message_id, "m-old");
    assert_eq!(old.topic, None, "a NULL topic reads as none");
    assert_eq!(old.message, Payload::new("legacy", None));
    assert_eq!(old.created_at_epoch_ms, 1000);
    assert!(old.consumed);
    assert_eq!(old.consumed_by_function_id, Some(3));

    let (uuid, created_at): (String, i64) = c
        .query_row(
            "SELECT message_uuid, created_at_epoch_ms FROM notifications WHERE message = '\"py\"'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(py.message_id, uuid, "the default hex id, as stored");
    assert_eq!(py.topic, None, "the null-topic sentinel reads as none");
    assert_eq!(py.message, Payload::portable_json("\"py\""));
    assert_eq!(py.created_at_epoch_ms, created_at);
    assert!(!py.consumed);
    assert_eq!(py.consumed_by_function_id, None);

    assert!(f
        .store
        .list_notifications("nobody")
        .await
        .unwrap()
        .is_empty());
    let e = f.store.list_notifications("de\0st").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string().contains("workflow id contains a NUL byte"),
        "{e}"
    );
    let long = "d".repeat(1025);
    let e = f.store.list_notifications(&long).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("workflow id is 1025 bytes, over the limit of 1024 bytes"),
        "{e}"
    );
}

/// A `DELAYED` row as DBOS writes it for an application (`None` = unclaimed).
fn insert_delayed(c: &rusqlite::Connection, id: &str, app: Option<&str>, debounced: bool) {
    c.execute(
        "INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, created_at, \
             updated_at, application_name, delay_until_epoch_ms, deduplication_id, is_debounced, \
             recovery_attempts) \
         VALUES (?1, 'DELAYED', 'wf', 'q', 1000, 1000, ?2, 2000, ?3, ?4, 0)",
        params![id, app, format!("wf-{id}"), debounced],
    )
    .unwrap();
}

fn status_and_dedup(c: &rusqlite::Connection, id: &str) -> (String, Option<String>, i64) {
    c.query_row(
        "SELECT status, deduplication_id, updated_at FROM workflow_status WHERE workflow_uuid = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

#[tokio::test]
async fn delayed_rows_of_another_application_are_not_released() {
    let f = fixture().await;
    let c = raw(&f.path);
    insert_delayed(&c, "mine", Some("app-a"), true);
    insert_delayed(&c, "free", None, false);
    insert_delayed(&c, "theirs", Some("app-b"), true);

    let mut released = f
        .store
        .release_delayed_workflows(Some("app-a"))
        .await
        .unwrap();
    released.sort();
    assert_eq!(released, ids(&["free", "mine"]));
    assert_eq!(
        status_and_dedup(&c, "mine"),
        ("ENQUEUED".to_owned(), None, 1000),
        "released; a debounced row gives up its key; updated_at untouched"
    );
    assert_eq!(
        status_and_dedup(&c, "free"),
        ("ENQUEUED".to_owned(), Some("wf-free".to_owned()), 1000)
    );
    assert_eq!(
        status_and_dedup(&c, "theirs"),
        ("DELAYED".to_owned(), Some("wf-theirs".to_owned()), 1000),
        "another application's row stays delayed"
    );
    assert_eq!(
        f.store
            .release_delayed_workflows(Some("app-b"))
            .await
            .unwrap(),
        ids(&["theirs"])
    );

    let e = f
        .store
        .release_delayed_workflows(Some("app\0a"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("application name contains a NUL byte"),
        "{e}"
    );
}

#[tokio::test]
async fn several_filter_values_match_raw_rows() {
    let f = fixture().await;
    let c = raw(&f.path);
    for (id, schedule, app, parent, created_at) in [
        ("s1", "nightly", Some("app-a"), Some("p1"), 1000),
        ("s2", "hourly", Some("app-b"), Some("p2"), 1001),
        ("s3", "weekly", None, Some("p3"), 1002),
        ("s4", "nightly", Some("app-c"), None, 1003),
    ] {
        c.execute(
            "INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at, \
                 schedule_name, application_name, parent_workflow_id) \
             VALUES (?1, 'SUCCESS', 'wf', ?2, ?2, ?3, ?4, ?5)",
            params![id, created_at, schedule, app, parent],
        )
        .unwrap();
    }
    let listed = |q: ListWorkflowsQuery| {
        let store = f.store.clone();
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
        ids(&["s1", "s2", "s3"]),
        "both applications plus the unclaimed row"
    );
    assert_eq!(
        listed(q().parent_workflow_ids(["p1", "p3"])).await,
        ids(&["s1", "s3"])
    );
    assert_eq!(
        listed(q().workflow_id_prefixes(["s1", "s4", "S2"])).await,
        ids(&["s1", "s4"]),
        "prefixes are case-sensitive"
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
}
