//! DBOS's exact rows after the operator operations (fork, rewind, delete, attributes, leases,
//! retention, export/import, metrics, rename, schedules) on the PostgreSQL-family schema: the
//! PostgreSQL driver and the CockroachDB driver (its dialect on the PostgreSQL test server) each
//! build an [`Env`] in their own `tests/operations.rs` and call these checks, one test each.
//! Rows are written and read with raw SQL, as DBOS itself (or its retention) writes them, so
//! that the stores are checked against the tables DBOS reads, not only through the contract.

use std::sync::Arc;
use std::time::Duration;

use dbos_storage::{across_databases::GC_LEASE, collect_garbage, GcOptions};
use dbos_storage_core::export::ExportDocument;
use dbos_storage_core::management::{
    AttributeUpdate, DeleteOptions, ForkRequest, ForkStart, Lease, MetricsQuery, OrphanSweep,
    OrphanSweepWindow, RenameApplication, RetentionPolicy, RewindRequest, StepCount, WorkflowCount,
    LEASE_APPLICATION,
};
use dbos_storage_core::{CollectableWindow, CreationPosition};
use dbos_storage_core::{
    ErrorKind, ImportOptions, ListWorkflowsQuery, QueueUpdate, SystemStore, WorkflowStatus,
    INTERNAL_QUEUE,
};
use dbos_storage_core::{Schedule, ScheduleFilter, ScheduleStatus};
use serde_json::json;
use tokio_postgres::Row;

/// A migrated system store, a second store with its own pool on the same schema, and an admin
/// connection to the database.
pub struct Env {
    /// The store under test.
    pub store: Arc<dyn SystemStore>,
    /// Another store (another pool) on the same schema, for races.
    pub twin: Arc<dyn SystemStore>,
    /// A plain connection to the database.
    pub admin: tokio_postgres::Client,
    /// The quoted schema name.
    pub schema: String,
}

impl Env {
    fn sql(&self, text: &str) -> String {
        text.replace("{s}", &self.schema)
    }

    /// Runs statements (`{s}` is the schema).
    pub async fn exec(&self, text: &str) {
        let sql = self.sql(text);
        self.admin
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs a query (`{s}` is the schema).
    pub async fn rows(&self, text: &str) -> Vec<Row> {
        let sql = self.sql(text);
        self.admin
            .query(&sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of every row, as text.
    async fn texts(&self, text: &str) -> Vec<Option<String>> {
        self.rows(text).await.iter().map(|r| r.get(0)).collect()
    }

    /// How many rows of every workflow table belong to `id`.
    async fn rows_of(&self, id: &str) -> Vec<i64> {
        let mut counts = Vec::new();
        for (table, column) in TABLES {
            let row = &self
                .rows(&format!(
                    "SELECT count(*) FROM {{s}}.{table} WHERE {column} = '{id}'"
                ))
                .await[0];
            counts.push(row.get(0));
        }
        counts
    }
}

/// Every table holding rows of a workflow, with its id column.
const TABLES: [(&str, &str); 8] = [
    ("workflow_status", "workflow_uuid"),
    ("workflow_input", "workflow_uuid"),
    ("workflow_output", "workflow_uuid"),
    ("operation_outputs", "workflow_uuid"),
    ("notifications", "destination_uuid"),
    ("workflow_events", "workflow_uuid"),
    ("workflow_events_history", "workflow_uuid"),
    ("streams", "workflow_uuid"),
];

/// A finished workflow as DBOS writes it: status, payloads, four steps (step 2 starts a child,
/// step 3 failed), events published at steps 1–3, two streams and four messages.
const SOURCE: &str = r#"
INSERT INTO {s}.workflow_status (workflow_uuid, status, name, class_name, config_name,
    authenticated_user, assumed_role, authenticated_roles, application_version, application_id,
    queue_name, queue_partition_key, workflow_timeout_ms, workflow_deadline_epoch_ms, created_at,
    updated_at, completed_at, serialization, attributes, application_name, owner_xid,
    creator_xid, executor_id, recovery_attempts, priority, deduplication_id)
VALUES ('src', 'ERROR', 'process', 'Cls', 'cfg', 'alice', 'admin', '["admin","ops"]', 'v1',
    'app-id', 'q', 'p0', 5000, 99999, 1000, 2000, 2000, 'portable_json', '{"team": "x"}',
    'shop', 'owner-1', 'creator-1', 'exec-1', 2, 3, 'dedup-1');
INSERT INTO {s}.workflow_input (workflow_uuid, inputs, retention_timestamp)
VALUES ('src', '[1,2]', 1000);
INSERT INTO {s}.workflow_output (workflow_uuid, output, error, retention_timestamp)
VALUES ('src', NULL, '"boom"', 2000);
INSERT INTO {s}.operation_outputs (workflow_uuid, function_id, function_name, output, error,
    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, serialization,
    application_name, retention_timestamp)
VALUES ('src', 1, 'fetch', '"a"', NULL, NULL, 1001, 1002, 'portable_json', 'shop', 1002),
    ('src', 2, 'start_child', NULL, NULL, 'child-old', 1003, 1004, NULL, 'shop', 1004),
    ('src', 3, 'charge', NULL, '"declined"', NULL, 1005, 1006, NULL, 'shop', 1006),
    ('src', 4, 'notify', '"ok"', NULL, NULL, 1007, 1008, NULL, 'shop', 1008);
INSERT INTO {s}.workflow_events_history (workflow_uuid, function_id, key, value, serialization)
VALUES ('src', 1, 'stage', '"one"', NULL), ('src', 2, 'stage', '"two"', 'portable_json'),
    ('src', 2, 'other', '"x"', NULL), ('src', 3, 'stage', '"three"', NULL),
    ('src', 3, 'late', '"l"', NULL);
INSERT INTO {s}.workflow_events (workflow_uuid, key, value, serialization)
VALUES ('src', 'stage', '"three"', NULL), ('src', 'other', '"x"', NULL),
    ('src', 'late', '"l"', NULL);
INSERT INTO {s}.streams (workflow_uuid, key, value, "offset", function_id, serialization)
VALUES ('src', 's1', '"a"', 0, 1, NULL),
    ('src', 's1', '"__DBOS_STREAM_CLOSED__"', 1, 1, 'portable_json'),
    ('src', 's2', '"b"', 0, 2, NULL), ('src', 's2', '"c"', 1, 3, NULL),
    ('src', 's2', '"__DBOS_STREAM_CLOSED__"', 2, 3, 'portable_json');
INSERT INTO {s}.notifications (message_uuid, destination_uuid, topic, message,
    created_at_epoch_ms, consumed, consumed_by_function_id)
VALUES ('m1', 'src', 't', '"1"', 1, TRUE, 2), ('m2', 'src', 't', '"2"', 2, TRUE, 3),
    ('m3', 'src', 't', '"3"', 3, FALSE, NULL), ('m4', 'src', 't', '"4"', 4, TRUE, NULL);
"#;

/// A workflow `id` with one row in every table, created at `created`, with status `status`,
/// parent `parent` (SQL text) and owner `app` (SQL text).
fn full_workflow(id: &str, status: &str, created: i64, parent: &str, app: &str) -> String {
    format!(
        r#"
INSERT INTO {{s}}.workflow_status (workflow_uuid, status, name, created_at, updated_at,
    completed_at, parent_workflow_id, application_name)
VALUES ('{id}', '{status}', 'wf', {created}, {created}, {created}, {parent}, {app});
INSERT INTO {{s}}.workflow_input (workflow_uuid, inputs, retention_timestamp)
VALUES ('{id}', '[]', {created});
INSERT INTO {{s}}.workflow_output (workflow_uuid, output, error, retention_timestamp)
VALUES ('{id}', '1', NULL, {created});
INSERT INTO {{s}}.operation_outputs (workflow_uuid, function_id, function_name, output,
    completed_at_epoch_ms, application_name, retention_timestamp)
VALUES ('{id}', 1, 'step', '"o"', {created}, {app}, {created}),
    ('{id}', 2, 'step', '"o"', {created}, {app}, {created});
INSERT INTO {{s}}.notifications (message_uuid, destination_uuid, topic, message)
VALUES ('msg-{id}', '{id}', 't', '"m"');
INSERT INTO {{s}}.workflow_events (workflow_uuid, key, value) VALUES ('{id}', 'k', '"v"');
INSERT INTO {{s}}.workflow_events_history (workflow_uuid, function_id, key, value)
VALUES ('{id}', 1, 'k', '"v"');
INSERT INTO {{s}}.streams (workflow_uuid, key, value, "offset", function_id)
VALUES ('{id}', 's', '"v"', 0, 1);
"#
    )
}

/// The rows of [`full_workflow`] per table of [`TABLES`].
const FULL: [i64; 8] = [1, 1, 1, 2, 1, 1, 1, 1];

fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Fork: the fork's status columns, its input, the copied steps (child rewritten, owner
/// replaced), event history, rebuilt events and streams below the start, the source's mark;
/// idempotency, conflicts and all-or-nothing.
pub async fn fork_copies_the_rows_below_the_start(env: &Env) {
    env.exec(SOURCE).await;
    let request = ForkRequest::new("src", ForkStart::Step(3))
        .with_fork_id("fork-1")
        .on_queue("q2", Some("p1".into()))
        .replace_child("child-old", "child-new")
        .with_application_name("caller");
    let forks = env
        .store
        .fork_workflows(vec![request.clone()])
        .await
        .unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(
        (
            forks[0].source_workflow_id.as_str(),
            forks[0].workflow_id.as_str(),
            forks[0].start_step
        ),
        ("src", "fork-1", 3)
    );

    let row = &env
        .rows(
            "SELECT status, name, class_name, config_name, application_id, authenticated_user,
                assumed_role, authenticated_roles, serialization, attributes::text, queue_name,
                queue_partition_key, application_version, workflow_timeout_ms,
                workflow_deadline_epoch_ms, forked_from, parent_workflow_id, owner_xid,
                creator_xid, deduplication_id, priority, executor_id, recovery_attempts,
                created_at = updated_at AND created_at > 1000000000000, application_name,
                inputs, output, error, was_forked_from, completed_at, started_at_epoch_ms
             FROM {s}.workflow_status WHERE workflow_uuid = 'fork-1'",
        )
        .await[0];
    let text = |i: usize| row.get::<_, Option<String>>(i);
    assert_eq!(text(0).as_deref(), Some("ENQUEUED"));
    assert_eq!(text(1).as_deref(), Some("process"));
    assert_eq!(text(2).as_deref(), Some("Cls"));
    assert_eq!(text(3).as_deref(), Some("cfg"));
    assert_eq!(text(4).as_deref(), Some("app-id"));
    assert_eq!(text(5).as_deref(), Some("alice"));
    assert_eq!(text(6).as_deref(), Some("admin"));
    assert_eq!(text(7).as_deref(), Some(r#"["admin","ops"]"#));
    assert_eq!(text(8).as_deref(), Some("portable_json"));
    assert_eq!(text(9).as_deref(), Some(r#"{"team": "x"}"#));
    assert_eq!(text(10).as_deref(), Some("q2"));
    assert_eq!(text(11).as_deref(), Some("p1"));
    assert_eq!(text(12).as_deref(), Some("v1"));
    assert_eq!(row.get::<_, Option<i64>>(13), Some(5000));
    assert_eq!(row.get::<_, Option<i64>>(14), None);
    assert_eq!(text(15).as_deref(), Some("src"));
    for i in [16, 17, 18, 19] {
        assert_eq!(text(i), None, "column {i}");
    }
    assert_eq!(row.get::<_, i32>(20), 0);
    assert_eq!(text(21), None);
    assert_eq!(row.get::<_, Option<i64>>(22), Some(0));
    assert!(row.get::<_, bool>(23), "created_at = updated_at = now");
    assert_eq!(text(24).as_deref(), Some("shop"), "the source's owner");
    for i in [25, 26, 27] {
        assert_eq!(text(i), None, "legacy column {i}");
    }
    assert!(!row.get::<_, bool>(28));
    assert_eq!(row.get::<_, Option<i64>>(29), None);
    assert_eq!(row.get::<_, Option<i64>>(30), None);
    let marked = &env
        .rows("SELECT was_forked_from FROM {s}.workflow_status WHERE workflow_uuid = 'src'")
        .await[0];
    assert!(marked.get::<_, bool>(0));
    assert_eq!(
        env.texts("SELECT inputs FROM {s}.workflow_input WHERE workflow_uuid = 'fork-1'")
            .await,
        [Some("[1,2]".to_owned())]
    );
    assert_eq!(env.rows_of("fork-1").await[2], 0, "no output row");

    let steps = env
        .rows(
            "SELECT function_id, function_name, output, error, child_workflow_id,
                started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
                retention_timestamp
             FROM {s}.operation_outputs WHERE workflow_uuid = 'fork-1' ORDER BY function_id",
        )
        .await;
    let steps: Vec<_> = steps
        .iter()
        .map(|r| {
            (
                r.get::<_, i32>(0),
                r.get::<_, String>(1),
                r.get::<_, Option<String>>(2),
                r.get::<_, Option<String>>(3),
                r.get::<_, Option<String>>(4),
                r.get::<_, Option<i64>>(5),
                r.get::<_, Option<i64>>(6),
                r.get::<_, Option<String>>(7),
                r.get::<_, Option<String>>(8),
                r.get::<_, i64>(9),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                1,
                "fetch".to_owned(),
                Some("\"a\"".to_owned()),
                None,
                None,
                Some(1001),
                Some(1002),
                Some("portable_json".to_owned()),
                Some("shop".to_owned()),
                1002
            ),
            (
                2,
                "start_child".to_owned(),
                None,
                None,
                Some("child-new".to_owned()),
                Some(1003),
                Some(1004),
                None,
                Some("shop".to_owned()),
                1004
            ),
        ]
    );
    let history: Vec<(i32, String, String, Option<String>)> = env
        .rows(
            "SELECT function_id, key, value, serialization FROM {s}.workflow_events_history
             WHERE workflow_uuid = 'fork-1' ORDER BY function_id, key",
        )
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        history,
        [
            (1, "stage".into(), "\"one\"".into(), None),
            (2, "other".into(), "\"x\"".into(), None),
            (
                2,
                "stage".into(),
                "\"two\"".into(),
                Some("portable_json".into())
            ),
        ]
    );
    let events: Vec<(String, String, Option<String>)> = env
        .rows(
            "SELECT key, value, serialization FROM {s}.workflow_events
             WHERE workflow_uuid = 'fork-1' ORDER BY key",
        )
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        events,
        [
            ("other".into(), "\"x\"".into(), None),
            (
                "stage".into(),
                "\"two\"".into(),
                Some("portable_json".into())
            ),
        ]
    );
    let streams: Vec<(String, i32, String, i32)> = env
        .rows(
            "SELECT key, \"offset\", value, function_id FROM {s}.streams
             WHERE workflow_uuid = 'fork-1' ORDER BY key, \"offset\"",
        )
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        streams,
        [
            ("s1".into(), 0, "\"a\"".into(), 1),
            ("s1".into(), 1, "\"__DBOS_STREAM_CLOSED__\"".into(), 1),
            ("s2".into(), 0, "\"b\"".into(), 2),
        ]
    );
    assert_eq!(env.rows_of("fork-1").await, [1, 1, 0, 2, 0, 2, 3, 3]);

    // A re-run (an ambiguous commit retried) finds its fork and copies nothing twice.
    let again = env.store.fork_workflows(vec![request]).await.unwrap();
    assert_eq!(again, forks);
    assert_eq!(env.rows_of("fork-1").await, [1, 1, 0, 2, 0, 2, 3, 3]);

    // Starts that resolve against the steps.
    let resolved = env
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::LastFailure).with_fork_id("fork-2"),
            ForkRequest::new("src", ForkStart::NamedStep("notify".into())).with_fork_id("fork-3"),
            ForkRequest::new("src", ForkStart::Step(1)).with_fork_id("fork-4"),
        ])
        .await
        .unwrap();
    let starts: Vec<i32> = resolved.iter().map(|f| f.start_step).collect();
    assert_eq!(starts, [3, 4, 1]);
    assert_eq!(env.rows_of("fork-3").await, [1, 1, 0, 3, 0, 3, 5, 5]);
    assert_eq!(env.rows_of("fork-4").await, [1, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        env.texts("SELECT queue_name FROM {s}.workflow_status WHERE workflow_uuid = 'fork-4'")
            .await,
        [Some(INTERNAL_QUEUE.to_owned())]
    );

    // An id used by another workflow, a missing source, a start that does not resolve: all or
    // nothing.
    let e = env
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::Step(2)).with_fork_id("fork-5"),
            ForkRequest::new("src", ForkStart::Step(2)).with_fork_id("src"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message().contains(
            "workflow id src is already used by another workflow; choose another fork id"
        ),
        "{e}"
    );
    let e = env
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::Step(2)).with_fork_id("fork-5"),
            ForkRequest::new("nope", ForkStart::Step(2)).with_fork_id("fork-6"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("workflow nope does not exist"), "{e}");
    let e = env
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::Step(2)).with_fork_id("fork-5"),
            ForkRequest::new("src", ForkStart::NamedStep("missing".into())).with_fork_id("fork-6"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("no step named \"missing\""), "{e}");
    assert_eq!(env.rows_of("fork-5").await, [0; 8], "nothing written");
    let e = env
        .store
        .fork_workflows(vec![ForkRequest::new("src", ForkStart::Step(0))])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("step 1 or later, not 0"), "{e}");

    // An unclaimed source: the fork belongs to the caller's application.
    env.exec("UPDATE {s}.workflow_status SET application_name = NULL WHERE workflow_uuid = 'src'")
        .await;
    env.store
        .fork_workflows(vec![ForkRequest::new("src", ForkStart::Step(2))
            .with_fork_id("fork-7")
            .with_application_name("caller")])
        .await
        .unwrap();
    assert_eq!(
        env.texts(
            "SELECT application_name FROM {s}.operation_outputs WHERE workflow_uuid = 'fork-7'
             UNION ALL SELECT application_name FROM {s}.workflow_status
             WHERE workflow_uuid = 'fork-7'"
        )
        .await,
        [Some("caller".to_owned()), Some("caller".to_owned())]
    );
}

/// Rewind: every deletion rule, the restored events, the re-enqueued status row; a workflow
/// that is not finished is refused.
pub async fn rewind_cuts_everything_from_the_start(env: &Env) {
    env.exec(SOURCE).await;
    let rewound = env
        .store
        .rewind_workflow(RewindRequest::new("src", ForkStart::LastFailure))
        .await
        .unwrap();
    assert_eq!(rewound.start_step, 3);
    assert_eq!(rewound.previous_status, WorkflowStatus::Error);

    let events: Vec<(String, String, Option<String>)> = env
        .rows("SELECT key, value, serialization FROM {s}.workflow_events ORDER BY key")
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        events,
        [
            ("other".into(), "\"x\"".into(), None),
            (
                "stage".into(),
                "\"two\"".into(),
                Some("portable_json".into())
            ),
        ],
        "stage restored from step 2, late (first published at step 3) gone"
    );
    let streams: Vec<(String, i32)> = env
        .rows("SELECT key, \"offset\" FROM {s}.streams ORDER BY key, \"offset\"")
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: Vec<(String, i32)> = vec![
        ("s1".into(), 0),
        ("s1".into(), 1),
        ("s2".into(), 0),
        ("s2".into(), 1),
    ];
    assert_eq!(streams, expected, "only the close marker of step 3 goes");
    let steps: Vec<i32> = env
        .rows("SELECT function_id FROM {s}.operation_outputs ORDER BY function_id")
        .await
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(steps, [1, 2]);
    let history: Vec<i32> = env
        .rows("SELECT DISTINCT function_id FROM {s}.workflow_events_history ORDER BY 1")
        .await
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(history, [1, 2]);
    assert_eq!(
        env.texts("SELECT message_uuid FROM {s}.notifications ORDER BY message_uuid")
            .await,
        [Some("m1".to_owned()), Some("m4".to_owned())],
        "consumed at step 3 and unconsumed messages go"
    );
    assert_eq!(env.rows_of("src").await[2], 0, "the output row goes");
    let row = &env
        .rows(
            "SELECT status, queue_name, queue_partition_key, owner_xid, deduplication_id,
                application_version, output, error, workflow_deadline_epoch_ms,
                started_at_epoch_ms, completed_at, recovery_attempts, updated_at > 2000,
                creator_xid
             FROM {s}.workflow_status WHERE workflow_uuid = 'src'",
        )
        .await[0];
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("ENQUEUED"));
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some(INTERNAL_QUEUE)
    );
    for i in [2, 3, 4, 6, 7] {
        assert_eq!(row.get::<_, Option<String>>(i), None, "column {i}");
    }
    assert_eq!(row.get::<_, Option<String>>(5).as_deref(), Some("v1"));
    for i in [8, 9, 10] {
        assert_eq!(row.get::<_, Option<i64>>(i), None, "column {i}");
    }
    assert_eq!(row.get::<_, Option<i64>>(11), Some(0));
    assert!(row.get::<_, bool>(12));
    assert_eq!(
        row.get::<_, Option<String>>(13).as_deref(),
        Some("creator-1")
    );

    let e = env
        .store
        .rewind_workflow(RewindRequest::new("src", ForkStart::Step(1)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message()
            .contains("workflow src is ENQUEUED; only a finished workflow can be rewound"),
        "{e}"
    );
    let e = env
        .store
        .rewind_workflow(RewindRequest::new("nope", ForkStart::Step(1)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Step 1 with a version and a queue: everything goes but the streams' other entries.
    env.exec("UPDATE {s}.workflow_status SET status = 'SUCCESS' WHERE workflow_uuid = 'src'")
        .await;
    env.store
        .rewind_workflow(
            RewindRequest::new("src", ForkStart::Step(1))
                .with_application_version("v2")
                .on_queue("q9", Some("p9".into())),
        )
        .await
        .unwrap();
    assert_eq!(env.rows_of("src").await, [1, 1, 0, 0, 1, 0, 0, 3]);
    let row = &env
        .rows(
            "SELECT queue_name, queue_partition_key, application_version
             FROM {s}.workflow_status WHERE workflow_uuid = 'src'",
        )
        .await[0];
    let got: Vec<Option<String>> = (0..3).map(|i| row.get(i)).collect();
    assert_eq!(
        got,
        [Some("q9".into()), Some("p9".into()), Some("v2".into())]
    );
}

/// Delete: every row of every table, with descendants; unknown ids ignored.
pub async fn delete_removes_every_row_with_children(env: &Env) {
    env.exec(&full_workflow("P", "PENDING", 1, "NULL", "NULL"))
        .await;
    env.exec(&full_workflow("C", "SUCCESS", 2, "'P'", "NULL"))
        .await;
    env.exec(&full_workflow("G", "ERROR", 3, "'C'", "NULL"))
        .await;
    env.exec(&full_workflow("U", "SUCCESS", 4, "NULL", "NULL"))
        .await;
    assert_eq!(env.rows_of("G").await, FULL);
    let ids = ["P".to_owned(), "unknown".to_owned(), "P".to_owned()];
    let deleted = env
        .store
        .delete_workflows(&ids, DeleteOptions::default().delete_children(true))
        .await
        .unwrap();
    assert_eq!(deleted, ["P", "C", "G"]);
    for id in ["P", "C", "G"] {
        assert_eq!(env.rows_of(id).await, [0; 8], "{id}");
    }
    assert_eq!(env.rows_of("U").await, FULL);
    let again = env
        .store
        .delete_workflows(&ids, DeleteOptions::default().delete_children(true))
        .await
        .unwrap();
    assert!(again.is_empty());
    env.exec(&full_workflow("P2", "SUCCESS", 5, "NULL", "NULL"))
        .await;
    env.exec(&full_workflow("C2", "SUCCESS", 6, "'P2'", "NULL"))
        .await;
    let deleted = env
        .store
        .delete_workflows(&["P2".to_owned()], DeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(deleted, ["P2"]);
    assert_eq!(
        env.rows_of("C2").await,
        FULL,
        "children stay without the option"
    );
}

/// Attributes: replace, merge (into SQL NULL and JSON null too), the containment filter, and
/// the refusals.
pub async fn attributes_replace_and_merge(env: &Env) {
    env.exec(&full_workflow("a1", "SUCCESS", 1, "NULL", "NULL"))
        .await;
    env.exec(
        "UPDATE {s}.workflow_status SET attributes = 'null'::jsonb WHERE workflow_uuid = 'a1'",
    )
    .await;
    let merged = env
        .store
        .update_workflow_attributes("a1", map(json!({"a": 1})), AttributeUpdate::Merge)
        .await
        .unwrap();
    assert_eq!(merged, map(json!({"a": 1})));
    let merged = env
        .store
        .update_workflow_attributes(
            "a1",
            map(json!({"b": {"c": [true]}, "a": 2})),
            AttributeUpdate::Merge,
        )
        .await
        .unwrap();
    assert_eq!(merged, map(json!({"a": 2, "b": {"c": [true]}})));
    let stored = env
        .texts("SELECT attributes::text FROM {s}.workflow_status WHERE workflow_uuid = 'a1'")
        .await;
    assert_eq!(stored, [Some(r#"{"a": 2, "b": {"c": [true]}}"#.to_owned())]);
    let listed = env
        .store
        .list_workflows(ListWorkflowsQuery::new().attributes(map(json!({"b": {"c": [true]}}))))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let replaced = env
        .store
        .update_workflow_attributes("a1", map(json!({"z": null})), AttributeUpdate::Replace)
        .await
        .unwrap();
    assert_eq!(replaced, map(json!({"z": null})));

    let e = env
        .store
        .update_workflow_attributes("a1", map(json!({"k": "a\u{0}b"})), AttributeUpdate::Merge)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message()
            .contains("workflow attribute $.k contains a NUL character"),
        "{e}"
    );
    let e = env
        .store
        .update_workflow_attributes("nope", map(json!({})), AttributeUpdate::Merge)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

/// The lease row's exact columns, renewal, refusal, expiry, release, and that no queue call
/// sees or changes it.
pub async fn lease_is_a_hidden_queue_row(env: &Env) {
    let h1 = Lease::new(GC_LEASE, "h1", Duration::from_secs(30));
    let h2 = Lease::new(GC_LEASE, "h2", Duration::from_secs(30));
    let state = env.store.acquire_lease(&h1).await.unwrap();
    assert!(state.acquired);
    assert_eq!(state.holder, "h1");
    let row = &env
        .rows(
            "SELECT queue_id, name, application_name, updated_at - created_at, updated_at,
                concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec,
                priority_enabled, partition_queue, polling_interval_sec, partition_concurrency,
                partition_worker_concurrency, partition_rate_limit_max,
                partition_rate_limit_period_sec
             FROM {s}.queues",
        )
        .await[0];
    assert_eq!(row.get::<_, String>(0), "_dbos_storage_lease:gc@h1");
    assert_eq!(row.get::<_, String>(1), "_dbos_storage_lease:gc");
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some(LEASE_APPLICATION)
    );
    assert_eq!(row.get::<_, i64>(3), 30_000);
    assert_eq!(row.get::<_, i64>(4), state.expires_at);
    for i in [5, 6, 7] {
        assert_eq!(row.get::<_, Option<i32>>(i), None, "column {i}");
    }
    assert_eq!(row.get::<_, Option<f64>>(8), None);
    assert!(!row.get::<_, bool>(9) && !row.get::<_, bool>(10));
    assert_eq!(row.get::<_, f64>(11), 1.0);
    for i in [12, 13, 14] {
        assert_eq!(row.get::<_, Option<i32>>(i), None, "column {i}");
    }
    assert_eq!(row.get::<_, Option<f64>>(15), None);

    let refused = env.store.acquire_lease(&h2).await.unwrap();
    assert!(!refused.acquired);
    assert_eq!(refused.holder, "h1");
    assert_eq!(refused.expires_at, state.expires_at);
    let renewed = env.store.acquire_lease(&h1).await.unwrap();
    assert!(renewed.acquired && renewed.expires_at >= state.expires_at);

    let name = h1.row_name();
    assert_eq!(env.store.get_queue(&name).await.unwrap(), None);
    assert!(env.store.list_queues(None).await.unwrap().is_empty());
    assert!(env
        .store
        .list_queues(Some(LEASE_APPLICATION))
        .await
        .unwrap()
        .is_empty());
    assert!(!env.store.delete_queue(&name).await.unwrap());
    let e = env
        .store
        .update_queue(&name, QueueUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(env.rows("SELECT 1 FROM {s}.queues").await.len(), 1);

    let e = env
        .store
        .delete_collected(&h2, &["x".to_owned()])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("is not held by h2"), "{e}");

    assert!(!env.store.release_lease(&h2).await.unwrap());
    env.exec("UPDATE {s}.queues SET updated_at = 0").await;
    let taken = env.store.acquire_lease(&h2).await.unwrap();
    assert!(taken.acquired, "an expired lease is taken over");
    assert_eq!(taken.holder, "h2");
    assert!(!env.store.release_lease(&h1).await.unwrap());
    assert!(env.store.release_lease(&h2).await.unwrap());
    assert!(env.rows("SELECT 1 FROM {s}.queues").await.is_empty());
}

/// Two stores (two pools) race for the GC lease: exactly one wins each round, and both agree
/// on the winner.
pub async fn two_stores_race_for_the_lease(env: &Env) {
    for round in 0..8 {
        let a = Lease::new(GC_LEASE, format!("a{round}"), Duration::from_secs(60));
        let b = Lease::new(GC_LEASE, format!("b{round}"), Duration::from_secs(60));
        let (sa, sb) = tokio::join!(env.store.acquire_lease(&a), env.twin.acquire_lease(&b));
        let (sa, sb) = (sa.unwrap(), sb.unwrap());
        assert!(sa.acquired != sb.acquired, "round {round}: {sa:?} {sb:?}");
        assert_eq!(sa.holder, sb.holder, "round {round}");
        let winner = if sa.acquired { &a } else { &b };
        assert!(env.store.release_lease(winner).await.unwrap());
    }
}

/// Orphans made as DBOS's retention makes them (status rows deleted directly) go window by
/// window in id order, at most `limit` ids per table in a window; live rows stay; the sweep is
/// fenced.
pub async fn sweep_removes_real_orphans_window_by_window(env: &Env) {
    for (id, at) in [("o3", 30), ("o1", 10), ("o2", 20), ("live", 5)] {
        env.exec(&full_workflow(id, "SUCCESS", at, "NULL", "NULL"))
            .await;
        env.exec(&format!(
            "UPDATE {{s}}.operation_outputs SET retention_timestamp = retention_timestamp + function_id
             WHERE workflow_uuid = '{id}'"
        ))
        .await;
    }
    env.exec("DELETE FROM {s}.workflow_status WHERE workflow_uuid IN ('o1', 'o2', 'o3')")
        .await;
    let lease = Lease::new(GC_LEASE, "sweeper", Duration::from_secs(60));
    let other = Lease::new(GC_LEASE, "other", Duration::from_secs(60));
    assert!(env.store.acquire_lease(&lease).await.unwrap().acquired);
    let e = env.store.sweep_orphans(&other, None, 10).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    // Ids in order: live, o1, o2, o3. A window of 2 ids per table ends before o2.
    let first = env.store.sweep_orphans(&lease, None, 2).await.unwrap();
    assert_eq!(
        first,
        OrphanSweepWindow::new(OrphanSweep::new(1, 1, 2), Some("o2".to_owned()))
    );
    for table in ["workflow_input", "workflow_output", "operation_outputs"] {
        assert_eq!(
            env.texts(&format!(
                "SELECT DISTINCT workflow_uuid FROM {{s}}.{table} ORDER BY 1"
            ))
            .await,
            [
                Some("live".to_owned()),
                Some("o2".to_owned()),
                Some("o3".to_owned())
            ],
            "{table}: o1 went, the rest is past the window"
        );
    }
    // The last window runs to the end.
    assert_eq!(
        env.store
            .sweep_orphans(&lease, first.next_from.as_deref(), 2)
            .await
            .unwrap(),
        OrphanSweepWindow::new(OrphanSweep::new(2, 2, 4), None)
    );
    assert_eq!(
        env.store.sweep_orphans(&lease, None, 10).await.unwrap(),
        OrphanSweepWindow::default()
    );
    assert_eq!(env.rows_of("live").await, FULL);
    assert!(env.store.release_lease(&lease).await.unwrap());
}

/// Owned copies of `list`.
fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Collectable workflows: cutoff on `completed_at` (else `updated_at`), the `keep_newest` rule
/// over the whole table, oldest first, never an active workflow.
pub async fn collectable_follows_the_policy(env: &Env) {
    for (id, status, at) in [
        ("c1", "SUCCESS", 10),
        ("c2", "PENDING", 20),
        ("c3", "CANCELLED", 30),
        ("c4", "ERROR", 40),
        ("c5", "ENQUEUED", 50),
    ] {
        env.exec(&full_workflow(id, status, at, "NULL", "NULL"))
            .await;
    }
    env.exec("UPDATE {s}.workflow_status SET completed_at = NULL WHERE workflow_uuid = 'c3'")
        .await;
    let got = env
        .store
        .collectable_workflows(RetentionPolicy::completed_before(35), None, 10)
        .await
        .unwrap();
    assert_eq!(got, CollectableWindow::new(strings(&["c1", "c3"]), None));
    let got = env
        .store
        .collectable_workflows(RetentionPolicy::default().keep_newest(2), None, 10)
        .await
        .unwrap();
    assert_eq!(
        got.workflow_ids,
        ["c1", "c3"],
        "c4 and c5 are the two newest"
    );
    let got = env
        .store
        .collectable_workflows(RetentionPolicy::default().keep_newest(0), None, 1)
        .await
        .unwrap();
    let c2 = CreationPosition::new(20, "c2");
    assert_eq!(
        got,
        CollectableWindow::new(strings(&["c1"]), Some(c2.clone()))
    );
    let got = env
        .store
        .collectable_workflows(RetentionPolicy::default().keep_newest(0), Some(&c2), 2)
        .await
        .unwrap();
    assert_eq!(
        got,
        CollectableWindow::new(strings(&["c3"]), Some(CreationPosition::new(40, "c4"))),
        "the window from c2 holds c2 (pending) and c3"
    );
    let got = env
        .store
        .collectable_workflows(RetentionPolicy::default().keep_newest(9), None, 10)
        .await
        .unwrap();
    assert_eq!(got, CollectableWindow::default());
    let e = env
        .store
        .collectable_workflows(RetentionPolicy::default(), None, 10)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

/// Fills a database for garbage collection: eight finished workflows (some with children), two
/// active ones, and an orphan step row.
pub async fn gc_fixture(env: &Env) {
    for n in 0..8 {
        env.exec(&full_workflow(
            &format!("g{n}"),
            "SUCCESS",
            10 + n,
            "NULL",
            "NULL",
        ))
        .await;
    }
    env.exec(&full_workflow("gp", "PENDING", 1, "NULL", "NULL"))
        .await;
    env.exec(&full_workflow("ge", "ENQUEUED", 2, "NULL", "NULL"))
        .await;
    env.exec(
        "INSERT INTO {s}.operation_outputs (workflow_uuid, function_id, function_name,
            retention_timestamp) VALUES ('gone', 1, 'x', 1)",
    )
    .await;
}

/// Every row left in the workflow tables, as text, for comparing two databases.
pub async fn dump(env: &Env) -> Vec<String> {
    let mut out = Vec::new();
    for (table, column) in TABLES {
        for row in env
            .rows(&format!("SELECT {column} FROM {{s}}.{table} ORDER BY 1"))
            .await
        {
            out.push(format!("{table}:{}", row.get::<_, String>(0)));
        }
    }
    out
}

/// A garbage collection killed after its first batch and run again with the same holder ends
/// with the rows of an uninterrupted one (`clean` holds the same fixture).
pub async fn interrupted_gc_finishes_like_a_clean_one(env: &Env, clean: &Env) {
    gc_fixture(env).await;
    gc_fixture(clean).await;
    let policy = RetentionPolicy::completed_before(i64::MAX);
    let report = collect_garbage(
        clean.store.as_ref(),
        None,
        GcOptions::new(policy)
            .batch_size(3)
            .batch_time(Duration::ZERO),
    )
    .await
    .unwrap();
    assert_eq!(report.workflows, 8);
    // Windows of 3 in creation order: gp, ge, g0 | g1-g3 | g4-g6 | g7.
    assert_eq!(report.batches, 4);
    assert_eq!(report.orphans, OrphanSweep::new(0, 0, 1));

    // The first batch of a collector that then dies without releasing its lease.
    let lease = Lease::new(GC_LEASE, "killed", Duration::from_secs(600));
    assert!(env.store.acquire_lease(&lease).await.unwrap().acquired);
    let first = env
        .store
        .collectable_workflows(policy, None, 5)
        .await
        .unwrap()
        .workflow_ids;
    assert_eq!(
        first,
        ["g0", "g1", "g2"],
        "the window of 5 holds gp and ge too"
    );
    assert_eq!(
        env.store.delete_collected(&lease, &first).await.unwrap(),
        first
    );
    // Another collector cannot start while the lease holds.
    let e = collect_garbage(env.store.as_ref(), None, GcOptions::new(policy))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message().contains("another garbage collector (killed)"),
        "{e}"
    );
    // The same holder resumes at once.
    let report = collect_garbage(
        env.store.as_ref(),
        None,
        GcOptions::new(policy).batch_size(3).holder("killed"),
    )
    .await
    .unwrap();
    assert_eq!(report.workflows, 5);
    assert_eq!(dump(env).await, dump(clean).await);
    assert_eq!(env.rows_of("gp").await, FULL);
    assert!(
        env.rows("SELECT 1 FROM {s}.queues").await.is_empty(),
        "lease released"
    );
}

/// Export from one database, import into another, export again: the same JSON text; then the
/// import conflicts, replaces, and refuses malformed input with a reason.
pub async fn export_import_round_trip(env: &Env, other: &Env) {
    env.exec(SOURCE).await;
    env.exec(&full_workflow("P", "SUCCESS", 1, "NULL", "'shop'"))
        .await;
    env.exec(&full_workflow("C1", "SUCCESS", 3, "'P'", "'shop'"))
        .await;
    env.exec(&full_workflow("C2", "SUCCESS", 2, "'P'", "'shop'"))
        .await;
    env.exec(&full_workflow("G", "SUCCESS", 0, "'C1'", "'shop'"))
        .await;
    env.exec(
        "UPDATE {s}.workflow_status SET attributes = 'null'::jsonb WHERE workflow_uuid = 'C1'",
    )
    .await;
    let ids = ["P".to_owned(), "src".to_owned(), "C1".to_owned()];
    let exported = env.store.export_workflows(&ids, true).await.unwrap();
    let order: Vec<&str> = exported.iter().map(|w| w.workflow_id()).collect();
    assert_eq!(order, ["P", "C2", "C1", "G", "src"]);
    let text = ExportDocument::new(exported.clone()).to_json().unwrap();
    let src = &exported[4];
    assert_eq!(src.status.attributes.as_deref(), Some(r#"{"team":"x"}"#));
    assert_eq!(src.status.creator_xid.as_deref(), Some("creator-1"));
    assert_eq!(src.steps.len(), 4);
    assert_eq!(src.streams.len(), 5);
    assert_eq!(exported[2].status.attributes.as_deref(), Some("null"));
    let without = env
        .store
        .export_workflows(&["P".to_owned()], false)
        .await
        .unwrap();
    assert_eq!(without.len(), 1);
    let e = env
        .store
        .export_workflows(&["P".to_owned(), "nope".to_owned()], false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("workflow nope does not exist"), "{e}");

    let document = ExportDocument::from_json(&text).unwrap();
    let imported = other
        .store
        .import_workflows(document.workflows.clone(), ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(imported, ["P", "C2", "C1", "G", "src"]);
    let owners = other
        .texts("SELECT owner_xid FROM {s}.workflow_status WHERE owner_xid IS NOT NULL")
        .await;
    assert!(owners.is_empty(), "imported workflows are owned by nobody");
    let again = other.store.export_workflows(&ids, true).await.unwrap();
    assert_eq!(ExportDocument::new(again).to_json().unwrap(), text);

    let e = other
        .store
        .import_workflows(document.workflows.clone(), ImportOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message()
            .contains("workflow P already exists; import with replace_existing to overwrite it"),
        "{e}"
    );
    other
        .store
        .import_workflows(
            document.workflows.clone(),
            ImportOptions::default().replace_existing(true),
        )
        .await
        .unwrap();
    let again = other.store.export_workflows(&ids, true).await.unwrap();
    assert_eq!(ExportDocument::new(again).to_json().unwrap(), text);

    let twice = vec![document.workflows[0].clone(), document.workflows[0].clone()];
    let e = other
        .store
        .import_workflows(twice, ImportOptions::default().replace_existing(true))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message()
            .contains("workflow P appears twice in one import"),
        "{e}"
    );
    let mut bad = document.workflows[4].clone();
    bad.steps[0].output = Some("a\u{0}b".into());
    let e = other
        .store
        .import_workflows(vec![bad], ImportOptions::default().replace_existing(true))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message().contains("exported workflow \"src\"") && e.message().contains("NUL"),
        "{e}"
    );
    let e = ExportDocument::from_json(r#"{"format": "dbos-storage-export", "version": 1}"#)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message().contains("not a dbos-storage export document"),
        "{e}"
    );
}

/// Metrics: per bucket, name and status; steps per bucket and name with errors; application
/// scoping keeps unclaimed rows.
pub async fn metrics_count_per_bucket(env: &Env) {
    env.exec(&full_workflow("m1", "SUCCESS", 1000, "NULL", "'a'"))
        .await;
    env.exec(&full_workflow("m2", "SUCCESS", 1500, "NULL", "NULL"))
        .await;
    env.exec(&full_workflow("m3", "ERROR", 2500, "NULL", "'b'"))
        .await;
    env.exec(&full_workflow("m4", "SUCCESS", 9000, "NULL", "'a'"))
        .await;
    env.exec(
        "UPDATE {s}.operation_outputs SET error = '\"e\"'
         WHERE workflow_uuid = 'm3' AND function_id = 2",
    )
    .await;
    let metrics = env
        .store
        .metrics(MetricsQuery::new(1000, 3000).bucket(Duration::from_millis(1000)))
        .await
        .unwrap();
    assert_eq!(
        metrics.workflows,
        [
            WorkflowCount::new(1000, "wf", "SUCCESS", 2),
            WorkflowCount::new(2000, "wf", "ERROR", 1),
        ]
    );
    assert_eq!(
        metrics.steps,
        [
            StepCount::new(1000, "step", 4, 0),
            StepCount::new(2000, "step", 2, 1),
        ]
    );
    let scoped = env
        .store
        .metrics(MetricsQuery::new(0, 10_000).application_name("a"))
        .await
        .unwrap();
    assert_eq!(
        scoped.workflows,
        [WorkflowCount::new(0, "wf", "SUCCESS", 3)]
    );
    assert_eq!(scoped.steps, [StepCount::new(0, "step", 6, 0)]);
}

/// Rename: registry rows and active workflows at once, finished workflows and steps in
/// batches; a version name clash refuses the whole rename.
pub async fn rename_moves_everything_in_batches(env: &Env) {
    for n in 0..5 {
        env.exec(&full_workflow(
            &format!("f{n}"),
            "SUCCESS",
            n,
            "NULL",
            "'old'",
        ))
        .await;
    }
    env.exec(&full_workflow("a1", "PENDING", 10, "NULL", "'old'"))
        .await;
    env.exec(&full_workflow("a2", "DELAYED", 11, "NULL", "'old'"))
        .await;
    env.exec(&full_workflow("u1", "SUCCESS", 12, "NULL", "NULL"))
        .await;
    env.exec(&full_workflow("x1", "SUCCESS", 13, "NULL", "'other'"))
        .await;
    // Two applications with one version name: possible once DBOS retires the table-wide
    // uniqueness of version names (migrations 106-107 add the per-owner replacement).
    env.exec(
        "ALTER TABLE {s}.application_versions
             DROP CONSTRAINT application_versions_version_name_key;
         INSERT INTO {s}.queues (name, application_name) VALUES ('q-old', 'old'), ('q-x', 'other');
         INSERT INTO {s}.workflow_schedules (schedule_id, schedule_name, workflow_name, schedule,
             context, application_name) VALUES ('s1', 'nightly', 'wf', '0 3 * * *', 'c', 'old');
         INSERT INTO {s}.application_versions (version_id, version_name, application_name)
         VALUES ('v1', 'v1', 'old'), ('v9', 'v9', 'clash'), ('v9b', 'v9', 'other');",
    )
    .await;
    let e = env
        .store
        .rename_application(RenameApplication::new(Some("other".into()), "clash"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message()
            .contains("application clash already has version v9"),
        "{e}"
    );
    assert_eq!(
        env.texts("SELECT application_name FROM {s}.queues WHERE name = 'q-x'")
            .await,
        [Some("other".to_owned())],
        "nothing moved"
    );

    let report = env
        .store
        .rename_application(RenameApplication::new(Some("old".into()), "new").batch_size(2))
        .await
        .unwrap();
    assert_eq!(
        (
            report.queues,
            report.schedules,
            report.versions,
            report.active_workflows,
            report.finished_workflows,
            report.steps
        ),
        (1, 1, 1, 2, 5, 14)
    );
    for table in [
        "queues",
        "workflow_schedules",
        "application_versions",
        "workflow_status",
        "operation_outputs",
    ] {
        assert!(
            env.rows(&format!(
                "SELECT 1 FROM {{s}}.{table} WHERE application_name = 'old'"
            ))
            .await
            .is_empty(),
            "{table}"
        );
    }
    assert_eq!(
        env.texts("SELECT application_name FROM {s}.workflow_status WHERE workflow_uuid IN ('u1', 'x1') ORDER BY workflow_uuid")
            .await,
        [None, Some("other".to_owned())]
    );
    let report = env
        .store
        .rename_application(
            RenameApplication::new(Some("new".into()), "new")
                .adopt_unclaimed(true)
                .batch_size(1),
        )
        .await
        .unwrap();
    assert_eq!((report.finished_workflows, report.steps), (1, 2));
    let again = env
        .store
        .rename_application(RenameApplication::new(Some("old".into()), "new"))
        .await
        .unwrap();
    assert_eq!(again, Default::default(), "a re-run moves nothing more");
}

/// Schedules: the exact row, name and id conflicts, upserts that keep id, status and last
/// firing, literal prefixes, pause, resume, firing and delete.
pub async fn schedules_keep_dbos_rows(env: &Env) {
    let nightly = Schedule::new("nightly_%", "report", "0 3 * * *", "ctx")
        .with_application_name("a")
        .with_queue("q")
        .with_timezone("Europe/Paris")
        .with_class("Reports")
        .with_backfill(true);
    env.store.create_schedule(nightly.clone()).await.unwrap();
    let row = &env
        .rows(
            "SELECT schedule_id, schedule_name, workflow_name, workflow_class_name, schedule,
                status, context, last_fired_at, automatic_backfill, cron_timezone, queue_name,
                application_name
             FROM {s}.workflow_schedules",
        )
        .await[0];
    assert_eq!(row.get::<_, String>(0), nightly.schedule_id);
    assert_eq!(row.get::<_, String>(1), "nightly_%");
    assert_eq!(row.get::<_, String>(2), "report");
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("Reports"));
    assert_eq!(row.get::<_, String>(4), "0 3 * * *");
    assert_eq!(row.get::<_, String>(5), "ACTIVE");
    assert_eq!(row.get::<_, String>(6), "ctx");
    assert_eq!(row.get::<_, Option<String>>(7), None);
    assert!(row.get::<_, bool>(8));
    assert_eq!(
        row.get::<_, Option<String>>(9).as_deref(),
        Some("Europe/Paris")
    );
    assert_eq!(row.get::<_, Option<String>>(10).as_deref(), Some("q"));
    assert_eq!(row.get::<_, Option<String>>(11).as_deref(), Some("a"));

    let e = env
        .store
        .create_schedule(
            Schedule::new("nightly_%", "w", "* * * * *", "c").with_application_name("b"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message()
            .contains("schedule nightly_% belongs to application a"),
        "{e}"
    );
    let e = env
        .store
        .create_schedule(
            Schedule::new("nightly_%", "w", "* * * * *", "c").with_application_name("a"),
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("schedule nightly_% already exists"),
        "{e}"
    );
    let mut same_id = Schedule::new("other", "w", "* * * * *", "c");
    same_id.schedule_id = nightly.schedule_id.clone();
    let e = env.store.create_schedule(same_id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    assert!(env.store.pause_schedule("nightly_%").await.unwrap());
    assert!(env
        .store
        .record_schedule_fired("nightly_%", "2026-01-01T03:00:00Z")
        .await
        .unwrap());
    env.store
        .upsert_schedules(vec![
            Schedule::new("nightly_%", "report2", "0 4 * * *", "ctx2"),
            Schedule::new("nightlyX", "report", "0 5 * * *", "c"),
        ])
        .await
        .unwrap();
    let got = env.store.get_schedule("nightly_%").await.unwrap().unwrap();
    assert_eq!(got.schedule_id, nightly.schedule_id);
    assert_eq!(got.status, ScheduleStatus::Paused);
    assert_eq!(got.last_fired_at.as_deref(), Some("2026-01-01T03:00:00Z"));
    assert_eq!(got.application_name.as_deref(), Some("a"));
    assert_eq!(
        (got.workflow_name.as_str(), got.schedule.as_str()),
        ("report2", "0 4 * * *")
    );
    assert_eq!(got.queue_name, None);
    let e = env
        .store
        .upsert_schedules(vec![
            Schedule::new("fresh", "w", "* * * * *", "c"),
            Schedule::new("nightly_%", "w", "* * * * *", "c").with_application_name("b"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(
        env.store.get_schedule("fresh").await.unwrap(),
        None,
        "nothing written"
    );
    let e = env
        .store
        .upsert_schedules(vec![
            Schedule::new("dup", "w", "* * * * *", "c"),
            Schedule::new("dup", "w", "* * * * *", "c"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    let names = |list: Vec<Schedule>| -> Vec<String> {
        list.into_iter().map(|s| s.schedule_name).collect()
    };
    let listed = env
        .store
        .list_schedules(ScheduleFilter::new().name_prefix("nightly_"))
        .await
        .unwrap();
    assert_eq!(names(listed), ["nightly_%"], "the prefix is literal");
    let listed = env
        .store
        .list_schedules(ScheduleFilter::new().application_name("b"))
        .await
        .unwrap();
    assert_eq!(names(listed), ["nightlyX"]);
    let listed = env
        .store
        .list_schedules(ScheduleFilter::new().status(ScheduleStatus::Paused))
        .await
        .unwrap();
    assert_eq!(names(listed), ["nightly_%"]);
    assert!(env.store.resume_schedule("nightly_%").await.unwrap());
    assert!(!env.store.resume_schedule("missing").await.unwrap());
    assert!(env.store.delete_schedule("nightly_%").await.unwrap());
    assert!(!env.store.delete_schedule("nightly_%").await.unwrap());
    let e = env
        .store
        .record_schedule_fired("nightlyX", "")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}
