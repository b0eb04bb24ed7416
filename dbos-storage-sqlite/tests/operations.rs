//! Operator operations on SQLite, checked against DBOS's own rows: fork, rewind, delete,
//! attributes, leases, retention and garbage collection with the application database,
//! export/import, metrics, schedules and application renames. Most fixtures are written with
//! raw SQL, as DBOS (or its retention job) would leave them.

use std::path::Path;
use std::time::Duration;

use dbos_storage::{across_databases::GC_LEASE, collect_garbage, GcOptions};
use dbos_storage_core::export::ExportDocument;
use dbos_storage_core::management::{LEASE_APPLICATION, LEASE_PREFIX};
use dbos_storage_core::streams::STREAM_CLOSED_SENTINEL;
use dbos_storage_core::{
    AppStore, AttributeUpdate, CollectableWindow, CreationPosition, DeleteOptions, ErrorKind,
    ForkRequest, ForkStart, ForkedWorkflow, ImportOptions, Lease, ListWorkflowsQuery,
    ManagementStore, MetricsQuery, OrphanSweep, OrphanSweepWindow, QueueConflictPolicy,
    QueueDefinition, QueueStore, RenameApplication, RenameReport, RetentionPolicy, RewindRequest,
    RewoundWorkflow, Schedule, ScheduleFilter, ScheduleStatus, ScheduleStore, SqliteLocation,
    StepCount, WorkflowCount, WorkflowStatus, WorkflowStore, INTERNAL_QUEUE,
};
use dbos_storage_sqlite::{SqliteAppStore, SqliteConfig, SqliteStore};
use rusqlite::types::Value;
use rusqlite::{params, Connection};
use serde_json::json;

#[allow(dead_code)] // each test file uses part of the shared fixture
mod common;
use common::{fixture, ids, Fixture};

// ---- helpers ---------------------------------------------------------------------------------

/// The eight tables that hold a workflow's rows.
const WORKFLOW_TABLES: [(&str, &str); 8] = [
    ("workflow_status", "workflow_uuid"),
    ("workflow_input", "workflow_uuid"),
    ("workflow_output", "workflow_uuid"),
    ("operation_outputs", "workflow_uuid"),
    ("notifications", "destination_uuid"),
    ("workflow_events", "workflow_uuid"),
    ("workflow_events_history", "workflow_uuid"),
    ("streams", "workflow_uuid"),
];

/// A raw connection to the store's file that waits for the store's locks.
fn conn(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// One integer of a query.
fn int(c: &Connection, sql: &str, p: impl rusqlite::Params) -> i64 {
    c.query_row(sql, p, |r| r.get(0)).unwrap()
}

/// Every row of a query as values.
fn rows(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Vec<Vec<Value>> {
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map(p, |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// How many rows each of the eight tables holds for `id`.
fn row_counts(c: &Connection, id: &str) -> [i64; 8] {
    WORKFLOW_TABLES.map(|(table, column)| {
        int(
            c,
            &format!("SELECT count(*) FROM {table} WHERE {column} = ?1"),
            [id],
        )
    })
}

/// Inserts a workflow with one row in each of the eight tables, as DBOS writes them.
fn seed(c: &Connection, id: &str, status: &str, created_at: i64, parent: Option<&str>) {
    c.execute(
        "INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at,
             completed_at, parent_workflow_id, application_name, attributes, owner_xid)
         VALUES (?1, ?2, 'job', ?3, ?3, ?3, ?4, 'app', 'null', 'owner')",
        params![id, status, created_at, parent],
    )
    .unwrap();
    c.execute(
        "INSERT INTO workflow_input (workflow_uuid, inputs, retention_timestamp)
         VALUES (?1, '[]', ?2)",
        params![id, created_at],
    )
    .unwrap();
    c.execute(
        "INSERT INTO workflow_output (workflow_uuid, output, retention_timestamp)
         VALUES (?1, '\"done\"', ?2)",
        params![id, created_at],
    )
    .unwrap();
    c.execute(
        "INSERT INTO operation_outputs (workflow_uuid, function_id, function_name, output,
             completed_at_epoch_ms, application_name, retention_timestamp)
         VALUES (?1, 1, 'step', '\"out\"', ?2, 'app', ?2)",
        params![id, created_at],
    )
    .unwrap();
    c.execute(
        "INSERT INTO notifications (message_uuid, destination_uuid, topic, message,
             created_at_epoch_ms)
         VALUES (?1 || '-m', ?1, 't', '\"hi\"', ?2)",
        params![id, created_at],
    )
    .unwrap();
    c.execute(
        "INSERT INTO workflow_events (workflow_uuid, key, value) VALUES (?1, 'k', '\"v\"')",
        [id],
    )
    .unwrap();
    c.execute(
        "INSERT INTO workflow_events_history (workflow_uuid, function_id, key, value)
         VALUES (?1, 1, 'k', '\"v\"')",
        [id],
    )
    .unwrap();
    c.execute(
        "INSERT INTO streams (workflow_uuid, key, value, \"offset\", function_id)
         VALUES (?1, 's', '\"x\"', 0, 1)",
        [id],
    )
    .unwrap();
}

/// A source workflow with steps, event history, events and streams. Step 2 started child
/// `c-old`, step 3 failed.
fn seed_source(c: &Connection, id: &str) {
    c.execute(
        "INSERT INTO workflow_status (workflow_uuid, status, name, class_name, config_name,
             application_id, authenticated_user, assumed_role, authenticated_roles,
             serialization, attributes, queue_name, queue_partition_key, application_version,
             workflow_timeout_ms, workflow_deadline_epoch_ms, parent_workflow_id, owner_xid,
             creator_xid, deduplication_id, priority, executor_id, recovery_attempts,
             created_at, updated_at, completed_at, application_name, output, error)
         VALUES (?1, 'ERROR', 'wf', 'C', 'cfg', 'appid', 'u', 'r', '[\"a\",\"b\"]',
             'portable_json', '{\"k\":1}', 'q', 'pk', 'v1', 5000, 99, 'pp', 'ox', 'cx', 'd',
             3, 'e', 2, 1000, 1100, 1100, 'app', '\"legacy\"', '\"legacy-error\"')",
        [id],
    )
    .unwrap();
    c.execute(
        "INSERT INTO workflow_input (workflow_uuid, inputs, retention_timestamp)
         VALUES (?1, '[1]', 1000)",
        [id],
    )
    .unwrap();
    c.execute(
        "INSERT INTO workflow_output (workflow_uuid, error, retention_timestamp)
         VALUES (?1, '\"boom\"', 1100)",
        [id],
    )
    .unwrap();
    for (fid, name, output, error, child) in [
        (1, "a", Some("\"1\""), None, None),
        (2, "child", None, None, Some("c-old")),
        (3, "b", None, Some("\"boom\""), None),
        (4, "c", Some("\"4\""), None, None),
    ] {
        c.execute(
            "INSERT INTO operation_outputs (workflow_uuid, function_id, function_name, output,
                 error, child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms,
                 serialization, application_name, retention_timestamp)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1000 + ?2, 1010 + ?2, 'portable_json', NULL,
                 2000 + ?2)",
            params![id, fid, name, output, error, child],
        )
        .unwrap();
    }
    for (fid, key, value) in [
        (1, "k1", "\"v1\""),
        (2, "k1", "\"v2\""),
        (3, "k1", "\"v3\""),
        (2, "k2", "\"w2\""),
        (4, "k2", "\"w4\""),
        (3, "k3", "\"z3\""),
    ] {
        c.execute(
            "INSERT INTO workflow_events_history (workflow_uuid, function_id, key, value,
                 serialization)
             VALUES (?1, ?2, ?3, ?4, 'portable_json')",
            params![id, fid, key, value],
        )
        .unwrap();
    }
    for (key, value) in [("k1", "\"v3\""), ("k2", "\"w4\""), ("k3", "\"z3\"")] {
        c.execute(
            "INSERT INTO workflow_events (workflow_uuid, key, value, serialization)
             VALUES (?1, ?2, ?3, 'portable_json')",
            params![id, key, value],
        )
        .unwrap();
    }
    for (key, offset, value, fid) in [
        ("s1", 0, "\"a\"", 1),
        ("s1", 1, STREAM_CLOSED_SENTINEL, 3),
        ("s2", 0, "\"x\"", 1),
        ("s2", 1, STREAM_CLOSED_SENTINEL, 2),
        ("s3", 0, "\"late\"", 3),
    ] {
        c.execute(
            "INSERT INTO streams (workflow_uuid, key, value, \"offset\", function_id,
                 serialization)
             VALUES (?1, ?2, ?3, ?4, ?5, 'portable_json')",
            params![id, key, value, offset, fid],
        )
        .unwrap();
    }
    for (uuid, consumed, by) in [("m1", 1, Some(1)), ("m2", 1, Some(3)), ("m3", 0, None)] {
        c.execute(
            "INSERT INTO notifications (message_uuid, destination_uuid, topic, message,
                 created_at_epoch_ms, consumed, consumed_by_function_id)
             VALUES (?1, ?2, 't', '\"m\"', 1000, ?3, ?4)",
            params![uuid, id, consumed, by],
        )
        .unwrap();
    }
}

// ---- fork ------------------------------------------------------------------------------------

#[tokio::test]
async fn a_fork_copies_dbos_rows_below_its_start_step() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed_source(&c, "src");
    let forked = f
        .store
        .fork_workflows(vec![ForkRequest::new("src", ForkStart::Step(3))
            .with_fork_id("fork-1")
            .replace_child("c-old", "c-new")])
        .await
        .unwrap();
    assert_eq!(forked, vec![ForkedWorkflow::new("src", "fork-1", 3)]);

    let status = rows(
        &c,
        "SELECT status, name, class_name, config_name, application_id, authenticated_user,
             assumed_role, authenticated_roles, serialization, attributes, queue_name,
             queue_partition_key, application_version, workflow_timeout_ms,
             workflow_deadline_epoch_ms, forked_from, parent_workflow_id, owner_xid,
             creator_xid, deduplication_id, priority, executor_id, recovery_attempts,
             created_at = updated_at, application_name, inputs, output, error, request,
             was_forked_from, completed_at, started_at_epoch_ms
         FROM workflow_status WHERE workflow_uuid = 'fork-1'",
        [],
    );
    use Value::{Integer, Null};
    assert_eq!(
        status[0],
        vec![
            text("ENQUEUED"),
            text("wf"),
            text("C"),
            text("cfg"),
            text("appid"),
            text("u"),
            text("r"),
            text(r#"["a","b"]"#),
            text("portable_json"),
            text(r#"{"k":1}"#),
            text(INTERNAL_QUEUE),
            Null,
            text("v1"),
            Integer(5000),
            Null,
            text("src"),
            Null,
            Null,
            Null,
            Null,
            Integer(0),
            Null,
            Integer(0),
            Integer(1),
            text("app"),
            Null,
            Null,
            Null,
            Null,
            Integer(0),
            Null,
            Null,
        ]
    );
    let created_at = int(
        &c,
        "SELECT created_at FROM workflow_status WHERE workflow_uuid = 'fork-1'",
        [],
    );
    assert!(
        created_at > 1_600_000_000_000,
        "the database clock: {created_at}"
    );
    assert_eq!(
        rows(
            &c,
            "SELECT inputs, retention_timestamp FROM workflow_input WHERE workflow_uuid = 'fork-1'",
            []
        ),
        vec![vec![text("[1]"), Integer(created_at)]]
    );
    assert_eq!(
        int(
            &c,
            "SELECT was_forked_from FROM workflow_status WHERE workflow_uuid = 'src'",
            []
        ),
        1
    );
    // Steps 1 and 2, every column copied but the child (rewritten) and the owner (the fork's).
    assert_eq!(
        rows(
            &c,
            "SELECT function_id, function_name, output, error, child_workflow_id,
                 started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
                 retention_timestamp
             FROM operation_outputs WHERE workflow_uuid = 'fork-1' ORDER BY function_id",
            []
        ),
        vec![
            vec![
                Integer(1),
                text("a"),
                text("\"1\""),
                Null,
                Null,
                Integer(1001),
                Integer(1011),
                text("portable_json"),
                text("app"),
                Integer(2001),
            ],
            vec![
                Integer(2),
                text("child"),
                Null,
                Null,
                text("c-new"),
                Integer(1002),
                Integer(1012),
                text("portable_json"),
                text("app"),
                Integer(2002),
            ],
        ]
    );
    assert_eq!(
        rows(
            &c,
            "SELECT function_id, key, value, serialization FROM workflow_events_history
             WHERE workflow_uuid = 'fork-1' ORDER BY function_id, key",
            []
        ),
        vec![
            vec![
                Integer(1),
                text("k1"),
                text("\"v1\""),
                text("portable_json")
            ],
            vec![
                Integer(2),
                text("k1"),
                text("\"v2\""),
                text("portable_json")
            ],
            vec![
                Integer(2),
                text("k2"),
                text("\"w2\""),
                text("portable_json")
            ],
        ]
    );
    // Each key's latest value below step 3; k3 was first set at step 3.
    assert_eq!(
        rows(
            &c,
            "SELECT key, value, serialization FROM workflow_events
             WHERE workflow_uuid = 'fork-1' ORDER BY key",
            []
        ),
        vec![
            vec![text("k1"), text("\"v2\""), text("portable_json")],
            vec![text("k2"), text("\"w2\""), text("portable_json")],
        ]
    );
    assert_eq!(
        rows(
            &c,
            "SELECT key, \"offset\", value, function_id, serialization FROM streams
             WHERE workflow_uuid = 'fork-1' ORDER BY key, \"offset\"",
            []
        ),
        vec![
            vec![
                text("s1"),
                Integer(0),
                text("\"a\""),
                Integer(1),
                text("portable_json")
            ],
            vec![
                text("s2"),
                Integer(0),
                text("\"x\""),
                Integer(1),
                text("portable_json")
            ],
            vec![
                text("s2"),
                Integer(1),
                text(STREAM_CLOSED_SENTINEL),
                Integer(2),
                text("portable_json")
            ],
        ]
    );
    // Neither output nor messages go to a fork.
    assert_eq!(row_counts(&c, "fork-1"), [1, 1, 0, 2, 0, 2, 3, 3]);

    // A retry of the same batch finds its fork and copies nothing again.
    let again = f
        .store
        .fork_workflows(vec![ForkRequest::new("src", ForkStart::Step(3))
            .with_fork_id("fork-1")
            .replace_child("c-old", "c-new")])
        .await
        .unwrap();
    assert_eq!(again, forked);
    assert_eq!(row_counts(&c, "fork-1"), [1, 1, 0, 2, 0, 2, 3, 3]);
}

#[tokio::test]
async fn fork_starts_resolve_and_step_one_copies_nothing() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed_source(&c, "src");
    let forked = f
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::LastFailure).with_fork_id("f-fail"),
            ForkRequest::new("src", ForkStart::NamedStep("child".into())).with_fork_id("f-named"),
            ForkRequest::new("src", ForkStart::Step(1))
                .with_fork_id("f-one")
                .on_queue("other", Some("p".into()))
                .with_application_version("v9")
                .with_timeout(Duration::from_millis(7)),
        ])
        .await
        .unwrap();
    assert_eq!(
        forked,
        vec![
            ForkedWorkflow::new("src", "f-fail", 3),
            ForkedWorkflow::new("src", "f-named", 2),
            ForkedWorkflow::new("src", "f-one", 1),
        ]
    );
    assert_eq!(row_counts(&c, "f-one"), [1, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        rows(
            &c,
            "SELECT queue_name, queue_partition_key, application_version, workflow_timeout_ms
             FROM workflow_status WHERE workflow_uuid = 'f-one'",
            []
        ),
        vec![vec![
            text("other"),
            text("p"),
            text("v9"),
            Value::Integer(7)
        ]]
    );
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM operation_outputs WHERE workflow_uuid = 'f-named'",
            []
        ),
        1
    );
}

/// A workflow deleted without its payload rows (as DBOS's retention deletes status rows) leaves
/// steps, input and output under its id; a fork given that id replaces them instead of failing
/// or replaying them.
#[tokio::test]
async fn a_fork_onto_an_id_with_leftover_rows_owns_that_id_cleanly() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed_source(&c, "src");
    c.execute_batch(
        "INSERT INTO workflow_input (workflow_uuid, inputs) VALUES ('gone', 'old input');
         INSERT INTO workflow_output (workflow_uuid, output) VALUES ('gone', 'old output');
         INSERT INTO operation_outputs (workflow_uuid, function_id, function_name, output)
         VALUES ('gone', 1, 'old_step', '1'), ('gone', 2, 'old_step', '2');",
    )
    .unwrap();
    assert!(
        int(
            &c,
            "SELECT count(*) FROM operation_outputs WHERE workflow_uuid = 'gone'",
            []
        ) > 0
    );
    let forked = f
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::Step(1)).with_fork_id("gone")
        ])
        .await
        .unwrap();
    assert_eq!(forked, vec![ForkedWorkflow::new("src", "gone", 1)]);
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM operation_outputs WHERE workflow_uuid = 'gone'",
            []
        ),
        0,
        "a fork from step 1 has no steps"
    );
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM workflow_output WHERE workflow_uuid = 'gone'",
            []
        ),
        0
    );
    assert_eq!(
        rows(
            &c,
            "SELECT inputs FROM workflow_input WHERE workflow_uuid = 'gone'",
            []
        ),
        rows(
            &c,
            "SELECT inputs FROM workflow_input WHERE workflow_uuid = 'src'",
            []
        ),
    );
    // A fork of a fork made in the same batch is refused, as on every backend.
    let e = f
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::Step(1)).with_fork_id("f-a"),
            ForkRequest::new("f-a", ForkStart::Step(1)).with_fork_id("f-b"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(row_counts(&c, "f-a"), [0; 8], "nothing was written");
}

#[tokio::test]
async fn an_unclaimed_source_with_legacy_inputs_forks_to_the_callers_application() {
    let f = fixture().await;
    let c = conn(&f.path);
    c.execute_batch(
        "INSERT INTO workflow_status (workflow_uuid, status, name, inputs, created_at, updated_at)
         VALUES ('old', 'SUCCESS', 'wf', '[\"legacy\"]', 1, 1)",
    )
    .unwrap();
    f.store
        .fork_workflows(vec![ForkRequest::new("old", ForkStart::Step(1))
            .with_fork_id("old-fork")
            .with_application_name("caller")])
        .await
        .unwrap();
    assert_eq!(
        rows(
            &c,
            "SELECT ws.application_name, ws.inputs, wi.inputs FROM workflow_status ws
             JOIN workflow_input wi ON wi.workflow_uuid = ws.workflow_uuid
             WHERE ws.workflow_uuid = 'old-fork'",
            []
        ),
        vec![vec![text("caller"), Value::Null, text("[\"legacy\"]")]]
    );
}

#[tokio::test]
async fn bad_forks_are_refused_and_write_nothing() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed_source(&c, "src");
    seed(&c, "taken", "SUCCESS", 5, None);

    let e = f
        .store
        .fork_workflows(vec![ForkRequest::new("src", ForkStart::Step(0))])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message()
            .contains("a fork or rewind starts at step 1 or later, not 0"),
        "{e}"
    );

    // The first fork is valid; the second's source is missing: neither is written.
    let e = f
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::Step(2)).with_fork_id("ok-fork"),
            ForkRequest::new("ghost", ForkStart::Step(1)).with_fork_id("ghost-fork"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("workflow ghost does not exist"), "{e}");
    assert_eq!(row_counts(&c, "ok-fork"), [0; 8]);
    assert_eq!(
        int(
            &c,
            "SELECT was_forked_from FROM workflow_status WHERE workflow_uuid = 'src'",
            []
        ),
        0
    );

    let e = f
        .store
        .fork_workflows(vec![
            ForkRequest::new("src", ForkStart::Step(1)).with_fork_id("taken")
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message().contains(
            "workflow id taken is already used by another workflow; choose another fork id"
        ),
        "{e}"
    );

    let e = f
        .store
        .fork_workflows(vec![ForkRequest::new(
            "src",
            ForkStart::NamedStep("nope".into()),
        )])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message()
            .contains("workflow src has no step named \"nope\" to fork from"),
        "{e}"
    );
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM workflow_status WHERE forked_from IS NOT NULL",
            []
        ),
        0
    );
}

// ---- rewind ----------------------------------------------------------------------------------

#[tokio::test]
async fn rewind_applies_each_deletion_rule_and_reenqueues() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed_source(&c, "rw");
    let rewound = f
        .store
        .rewind_workflow(
            RewindRequest::new("rw", ForkStart::Step(3))
                .with_application_version("v2")
                .on_queue("q2", Some("p2".into())),
        )
        .await
        .unwrap();
    assert_eq!(
        rewound,
        RewoundWorkflow::new("rw", 3, WorkflowStatus::Error)
    );
    use Value::{Integer, Null};
    // Steps and history from step 3 on are gone.
    assert_eq!(
        rows(
            &c,
            "SELECT function_id FROM operation_outputs WHERE workflow_uuid = 'rw'
             ORDER BY function_id",
            []
        ),
        vec![vec![Integer(1)], vec![Integer(2)]]
    );
    assert_eq!(
        rows(
            &c,
            "SELECT function_id, key FROM workflow_events_history WHERE workflow_uuid = 'rw'
             ORDER BY function_id, key",
            []
        ),
        vec![
            vec![Integer(1), text("k1")],
            vec![Integer(2), text("k1")],
            vec![Integer(2), text("k2")],
        ]
    );
    // k1 and k2 restored from before step 3; k3 (first set at step 3) gone.
    assert_eq!(
        rows(
            &c,
            "SELECT key, value, serialization FROM workflow_events WHERE workflow_uuid = 'rw'
             ORDER BY key",
            []
        ),
        vec![
            vec![text("k1"), text("\"v2\""), text("portable_json")],
            vec![text("k2"), text("\"w2\""), text("portable_json")],
        ]
    );
    // Only the close marker written at step 3 goes; the late value and the earlier close stay.
    assert_eq!(
        rows(
            &c,
            "SELECT key, \"offset\" FROM streams WHERE workflow_uuid = 'rw'
             ORDER BY key, \"offset\"",
            []
        ),
        vec![
            vec![text("s1"), Integer(0)],
            vec![text("s2"), Integer(0)],
            vec![text("s2"), Integer(1)],
            vec![text("s3"), Integer(0)],
        ]
    );
    // The message consumed at step 1 stays; the one consumed at 3 and the unconsumed one go.
    assert_eq!(
        rows(
            &c,
            "SELECT message_uuid FROM notifications WHERE destination_uuid = 'rw'",
            []
        ),
        vec![vec![text("m1")]]
    );
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM workflow_output WHERE workflow_uuid = 'rw'",
            []
        ),
        0
    );
    assert_eq!(
        rows(
            &c,
            "SELECT status, queue_name, queue_partition_key, application_version, owner_xid,
                 workflow_deadline_epoch_ms, deduplication_id, started_at_epoch_ms,
                 completed_at, recovery_attempts, output, error, updated_at > 1100,
                 created_at, inputs
             FROM workflow_status WHERE workflow_uuid = 'rw'",
            []
        ),
        vec![vec![
            text("ENQUEUED"),
            text("q2"),
            text("p2"),
            text("v2"),
            Null,
            Null,
            Null,
            Null,
            Null,
            Integer(0),
            Null,
            Null,
            Integer(1),
            Integer(1000),
            Null,
        ]]
    );
    // The input stays.
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM workflow_input WHERE workflow_uuid = 'rw'",
            []
        ),
        1
    );

    // It is ENQUEUED now: a second rewind is refused and changes nothing.
    let e = f
        .store
        .rewind_workflow(RewindRequest::new("rw", ForkStart::Step(1)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message()
            .contains("workflow rw is ENQUEUED; only a finished workflow can be rewound"),
        "{e}"
    );
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM operation_outputs WHERE workflow_uuid = 'rw'",
            []
        ),
        2
    );
}

#[tokio::test]
async fn rewind_without_a_queue_uses_the_internal_queue_and_resolves_failures() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed_source(&c, "rw");
    let rewound = f
        .store
        .rewind_workflow(RewindRequest::new("rw", ForkStart::LastFailure))
        .await
        .unwrap();
    assert_eq!(rewound.start_step, 3);
    assert_eq!(
        rows(
            &c,
            "SELECT queue_name, queue_partition_key, application_version FROM workflow_status
             WHERE workflow_uuid = 'rw'",
            []
        ),
        vec![vec![text(INTERNAL_QUEUE), Value::Null, text("v1")]]
    );

    let e = f
        .store
        .rewind_workflow(RewindRequest::new("nobody", ForkStart::Step(1)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.message().contains("workflow nobody does not exist"),
        "{e}"
    );

    seed(&c, "clean", "SUCCESS", 5, None);
    let e = f
        .store
        .rewind_workflow(RewindRequest::new("clean", ForkStart::LastFailure))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("no failed step"), "{e}");
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM workflow_status WHERE workflow_uuid = 'clean'
             AND status = 'SUCCESS'",
            []
        ),
        1
    );
}

// ---- delete ----------------------------------------------------------------------------------

#[tokio::test]
async fn delete_leaves_no_row_in_any_table_including_descendants() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed(&c, "p", "PENDING", 10, None);
    seed(&c, "c1", "SUCCESS", 12, Some("p"));
    seed(&c, "c2", "SUCCESS", 11, Some("p"));
    seed(&c, "g", "ERROR", 13, Some("c1"));
    seed(&c, "other", "SUCCESS", 14, None);

    // Without children only the parent goes.
    let deleted = f
        .store
        .delete_workflows(&ids(&["c2", "missing"]), DeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(deleted, ids(&["c2"]));
    assert_eq!(row_counts(&c, "c2"), [0; 8]);
    assert_eq!(row_counts(&c, "c1"), [1; 8]);

    seed(&c, "c2", "SUCCESS", 11, Some("p"));
    let deleted = f
        .store
        .delete_workflows(&ids(&["p"]), DeleteOptions::default().delete_children(true))
        .await
        .unwrap();
    assert_eq!(deleted, ids(&["p", "c2", "c1", "g"]));
    for id in ["p", "c1", "c2", "g"] {
        assert_eq!(row_counts(&c, id), [0; 8], "{id}");
    }
    assert_eq!(row_counts(&c, "other"), [1; 8]);
    // Deleting again finds nothing.
    let deleted = f
        .store
        .delete_workflows(&ids(&["p"]), DeleteOptions::default().delete_children(true))
        .await
        .unwrap();
    assert!(deleted.is_empty());
}

// ---- attributes ------------------------------------------------------------------------------

#[tokio::test]
async fn attributes_merge_into_json_null_replace_and_refuse_nul() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed(&c, "a", "SUCCESS", 1, None);
    let map = |v: serde_json::Value| v.as_object().unwrap().clone();
    let stored = f
        .store
        .update_workflow_attributes("a", map(json!({"x": 1})), AttributeUpdate::Merge)
        .await
        .unwrap();
    assert_eq!(stored, map(json!({"x": 1})));
    let stored = f
        .store
        .update_workflow_attributes(
            "a",
            map(json!({"y": [true], "x": 2})),
            AttributeUpdate::Merge,
        )
        .await
        .unwrap();
    assert_eq!(stored, map(json!({"x": 2, "y": [true]})));
    let text_stored: String = c
        .query_row(
            "SELECT attributes FROM workflow_status WHERE workflow_uuid = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text_stored).unwrap(),
        json!({"x": 2, "y": [true]})
    );
    let stored = f
        .store
        .update_workflow_attributes("a", map(json!({"z": "s"})), AttributeUpdate::Replace)
        .await
        .unwrap();
    assert_eq!(stored, map(json!({"z": "s"})));
    let info = f.store.get_workflows(&ids(&["a"])).await.unwrap();
    assert_eq!(info[0].attributes, Some(map(json!({"z": "s"}))));

    let e = f
        .store
        .update_workflow_attributes("a", map(json!({"k": "a\u{0}b"})), AttributeUpdate::Replace)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message()
            .contains("workflow attribute $.k contains a NUL character"),
        "{e}"
    );
    let e = f
        .store
        .update_workflow_attributes("nope", map(json!({})), AttributeUpdate::Merge)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("workflow nope does not exist"), "{e}");

    // Filtering by attributes needs containment, which SQLite does not have.
    let e = f
        .store
        .list_workflows(ListWorkflowsQuery::new().attributes(map(json!({"z": "s"}))))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(
        e.message().contains("attribute filters need PostgreSQL")
            && e.message()
                .contains("filter the listed workflows in your code"),
        "{e}"
    );
}

// ---- leases ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_lease_is_one_hidden_row_of_queues() {
    let f = fixture().await;
    let c = conn(&f.path);
    let mine = Lease::new("gc", "h1", Duration::from_secs(60));
    let state = f.store.acquire_lease(&mine).await.unwrap();
    assert!(state.acquired);
    assert_eq!(state.holder, "h1");
    use Value::{Integer, Null, Real};
    let row = rows(
        &c,
        "SELECT queue_id, name, application_name, updated_at - created_at, updated_at,
             concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec,
             priority_enabled, partition_queue, polling_interval_sec, partition_concurrency,
             partition_worker_concurrency, partition_rate_limit_max,
             partition_rate_limit_period_sec
         FROM queues",
        [],
    );
    assert_eq!(
        row,
        vec![vec![
            text(&format!("{LEASE_PREFIX}gc@h1")),
            text(&format!("{LEASE_PREFIX}gc")),
            text(LEASE_APPLICATION),
            Integer(60_000),
            Integer(state.expires_at),
            Null,
            Null,
            Null,
            Null,
            Integer(0),
            Integer(0),
            Real(1.0),
            Null,
            Null,
            Null,
            Null,
        ]]
    );
    // No queue read returns it.
    assert_eq!(f.store.get_queue(&mine.row_name()).await.unwrap(), None);
    assert!(f.store.list_queues(None).await.unwrap().is_empty());
    assert!(f.store.list_queues(Some("app")).await.unwrap().is_empty());
    assert!(!f.store.delete_queue(&mine.row_name()).await.unwrap());
    // No queue can take a lease row's name.
    let e = f
        .store
        .upsert_queue(
            QueueDefinition::new(mine.row_name()),
            QueueConflictPolicy::Update,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("reserved"), "{e}");
    assert_eq!(int(&c, "SELECT count(*) FROM queues", []), 1);

    // Another holder sees who has it.
    let theirs = Lease::new("gc", "h2", Duration::from_secs(60));
    let state = f.store.acquire_lease(&theirs).await.unwrap();
    assert!(!state.acquired);
    assert_eq!(state.holder, "h1");
    assert!(!f.store.release_lease(&theirs).await.unwrap());
    // A renewal keeps created_at and moves the expiry to now + ttl.
    let created_at = int(&c, "SELECT created_at FROM queues", []);
    c.execute("UPDATE queues SET updated_at = 5", []).unwrap();
    let renewed = f.store.acquire_lease(&mine).await.unwrap();
    assert!(renewed.acquired);
    assert!(renewed.expires_at >= created_at + 60_000, "{renewed:?}");
    assert_eq!(
        rows(&c, "SELECT created_at, updated_at FROM queues", []),
        vec![vec![Integer(created_at), Integer(renewed.expires_at)]]
    );
    // Once expired, another holder takes it over.
    c.execute("UPDATE queues SET updated_at = 1", []).unwrap();
    let state = f.store.acquire_lease(&theirs).await.unwrap();
    assert!(state.acquired);
    assert_eq!(state.holder, "h2");
    assert_eq!(
        rows(&c, "SELECT queue_id FROM queues", []),
        vec![vec![text(&format!("{LEASE_PREFIX}gc@h2"))]]
    );
    assert!(f.store.release_lease(&theirs).await.unwrap());
    assert_eq!(int(&c, "SELECT count(*) FROM queues", []), 0);
}

#[tokio::test]
async fn two_stores_on_one_file_cannot_both_hold_the_gc_lease() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed(&c, "old", "SUCCESS", 1, None);
    let other = SqliteStore::open(SqliteConfig::file(&f.path))
        .await
        .unwrap();
    let first = Lease::new(GC_LEASE, "first", Duration::from_secs(60));
    let second = Lease::new(GC_LEASE, "second", Duration::from_secs(60));
    assert!(f.store.acquire_lease(&first).await.unwrap().acquired);
    let state = other.acquire_lease(&second).await.unwrap();
    assert!(!state.acquired);
    assert_eq!(state.holder, "first");

    // The other store's fenced writes fail and delete nothing.
    let e = other
        .delete_collected(&second, &ids(&["old"]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("lease is not held by second"), "{e}");
    assert_eq!(row_counts(&c, "old"), [1; 8]);
    let e = other.sweep_orphans(&second, None, 10).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    // Its garbage collector is refused, naming the holder.
    let e = collect_garbage(
        &other,
        None,
        GcOptions::new(RetentionPolicy::completed_before(i64::MAX)).holder("second"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message()
            .contains("another garbage collector (first) holds the GC lease"),
        "{e}"
    );
    assert_eq!(row_counts(&c, "old"), [1; 8]);

    // Released, the other store collects.
    assert!(f.store.release_lease(&first).await.unwrap());
    let report = collect_garbage(
        &other,
        None,
        GcOptions::new(RetentionPolicy::completed_before(i64::MAX)).holder("second"),
    )
    .await
    .unwrap();
    assert_eq!(report.workflows, 1);
    assert_eq!(row_counts(&c, "old"), [0; 8]);
}

// ---- retention -------------------------------------------------------------------------------

#[tokio::test]
async fn collectable_workflows_follow_the_policy() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed(&c, "w1", "SUCCESS", 100, None);
    seed(&c, "w2", "CANCELLED", 200, None);
    seed(&c, "w3", "PENDING", 300, None);
    seed(&c, "w4", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", 400, None);
    seed(&c, "w5", "ERROR", 500, None);
    seed(&c, "w6", "FUTURE_STATUS", 50, None);
    // Written before DBOS stamped completion: updated_at counts.
    c.execute(
        "UPDATE workflow_status SET completed_at = NULL, updated_at = 150
         WHERE workflow_uuid = 'w5'",
        [],
    )
    .unwrap();
    let policy = RetentionPolicy::completed_before(250);
    assert_eq!(
        f.store
            .collectable_workflows(policy, None, 10)
            .await
            .unwrap(),
        CollectableWindow::new(ids(&["w1", "w2", "w5"]), None)
    );
    // The first window of 2 holds w6 (a status this build does not know) and w1.
    let w2 = CreationPosition::new(200, "w2");
    assert_eq!(
        f.store
            .collectable_workflows(policy, None, 2)
            .await
            .unwrap(),
        CollectableWindow::new(ids(&["w1"]), Some(w2.clone()))
    );
    assert_eq!(
        f.store
            .collectable_workflows(policy, Some(&w2), 2)
            .await
            .unwrap(),
        CollectableWindow::new(ids(&["w2"]), Some(CreationPosition::new(400, "w4")))
    );
    // Keep the 3 newest of any status (w5, w4, w3): w1 and w2 go.
    let policy = RetentionPolicy::default().keep_newest(3);
    assert_eq!(
        f.store
            .collectable_workflows(policy, None, 10)
            .await
            .unwrap(),
        CollectableWindow::new(ids(&["w1", "w2"]), None)
    );
    let e = f
        .store
        .collectable_workflows(RetentionPolicy::default(), None, 10)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

/// Three workflows whose status rows DBOS's retention deleted, leaving their payload and step
/// rows behind.
fn seed_orphans(c: &Connection) {
    for (id, retention) in [("o1", 30), ("o2", 10), ("o3", 20)] {
        seed(c, id, "SUCCESS", retention, None);
        c.execute(
            "INSERT INTO operation_outputs (workflow_uuid, function_id, function_name,
                 retention_timestamp)
             VALUES (?1, 2, 'second', ?2 + 1)",
            params![id, retention],
        )
        .unwrap();
        // DBOS's retention deletes the status row alone (the cascade takes the rest).
        c.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        c.execute("DELETE FROM workflow_status WHERE workflow_uuid = ?1", [id])
            .unwrap();
    }
}

#[tokio::test]
async fn orphans_go_window_by_window_in_id_order() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed_orphans(&c);
    seed(&c, "live", "SUCCESS", 1, None);
    assert_eq!(row_counts(&c, "o1"), [0, 1, 1, 2, 0, 0, 0, 0]);
    let lease = Lease::new(GC_LEASE, "sweeper", Duration::from_secs(60));
    assert!(f.store.acquire_lease(&lease).await.unwrap().acquired);

    // Ids in order: live, o1, o2, o3. A window of 2 ids per table ends before o2.
    let first = f.store.sweep_orphans(&lease, None, 2).await.unwrap();
    assert_eq!(
        first,
        OrphanSweepWindow::new(OrphanSweep::new(1, 1, 2), Some("o2".to_owned()))
    );
    let left = |table: &str| {
        rows(
            &c,
            &format!("SELECT DISTINCT workflow_uuid FROM {table} ORDER BY 1"),
            [],
        )
    };
    for table in ["workflow_input", "workflow_output", "operation_outputs"] {
        assert_eq!(
            left(table),
            vec![vec![text("live")], vec![text("o2")], vec![text("o3")]],
            "{table}: o1 went, the rest is past the window"
        );
    }
    // The last window runs to the end.
    assert_eq!(
        f.store
            .sweep_orphans(&lease, first.next_from.as_deref(), 2)
            .await
            .unwrap(),
        OrphanSweepWindow::new(OrphanSweep::new(2, 2, 4), None)
    );
    assert_eq!(
        f.store.sweep_orphans(&lease, None, 10).await.unwrap(),
        OrphanSweepWindow::default()
    );
    for id in ["o1", "o2", "o3"] {
        assert_eq!(row_counts(&c, id), [0; 8], "{id}");
    }
    assert_eq!(row_counts(&c, "live"), [1; 8]);

    let e = f.store.sweep_orphans(&lease, None, 0).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("at least 1 workflow id"), "{e}");
    let e = f
        .store
        .sweep_orphans(&lease, Some("o\0"), 10)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("sweep window start"), "{e}");
}

#[tokio::test]
async fn delete_collected_keeps_workflows_resumed_meanwhile() {
    let f = fixture().await;
    let c = conn(&f.path);
    seed(&c, "done", "SUCCESS", 1, None);
    seed(&c, "resumed", "ENQUEUED", 2, None);
    let lease = Lease::new(GC_LEASE, "me", Duration::from_secs(60));
    let deleted = f
        .store
        .delete_collected(&lease, &ids(&["resumed", "done", "ghost"]))
        .await
        .unwrap();
    assert_eq!(deleted, ids(&["done"]));
    assert_eq!(row_counts(&c, "done"), [0; 8]);
    assert_eq!(row_counts(&c, "resumed"), [1; 8]);
    // The fence took (and holds) the lease.
    assert_eq!(
        rows(&c, "SELECT queue_id FROM queues", []),
        vec![vec![text(&lease.row_id())]]
    );
}

// ---- garbage collection with the application database ---------------------------------------

/// A system database and an application database in one temporary directory.
struct Databases {
    system: Fixture,
    app: SqliteAppStore,
    app_path: std::path::PathBuf,
}

async fn databases() -> Databases {
    let system = fixture().await;
    let app_path = system.path.with_file_name("app.sqlite");
    let app = SqliteAppStore::open(
        SqliteLocation::File(app_path.clone()),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    app.migrate().await.unwrap();
    Databases {
        system,
        app,
        app_path,
    }
}

/// Seven workflows (five collectable by `completed_before(10_000)`) with recorded transactions,
/// plus application rows of two workflows that no longer exist.
fn seed_gc(system: &Connection, app: &Connection) {
    for (i, id) in ["g1", "g2", "g3", "g4", "g5"].iter().enumerate() {
        seed(system, id, "SUCCESS", 1_000 + i as i64, None);
    }
    seed(system, "running", "PENDING", 900, None);
    seed(system, "recent", "SUCCESS", 20_000, None);
    for id in ["g1", "g2", "g3", "g4", "g5", "running", "recent"] {
        for function_id in [1, 2] {
            app.execute(
                "INSERT INTO transaction_outputs (workflow_uuid, function_id, output, txn_snapshot,
                     created_at)
                 VALUES (?1, ?2, '\"r\"', '', 500)",
                params![id, function_id],
            )
            .unwrap();
        }
    }
    for id in ["ghost-1", "ghost-2"] {
        app.execute(
            "INSERT INTO transaction_outputs (workflow_uuid, function_id, output, txn_snapshot,
                 created_at)
             VALUES (?1, 1, '\"r\"', '', 500)",
            [id],
        )
        .unwrap();
    }
}

/// Of [`seed_gc`]'s workflows, the five old finished ones are gone with all their rows; the
/// running one and the recent one are whole.
fn assert_gc_fixture_collected(system: &Connection) {
    for id in ["g1", "g2", "g3", "g4", "g5"] {
        assert_eq!(row_counts(system, id), [0; 8], "{id}");
    }
    assert_eq!(row_counts(system, "running"), [1; 8]);
    assert_eq!(row_counts(system, "recent"), [1; 8]);
}

#[tokio::test]
async fn garbage_collection_clears_transaction_outputs_and_app_orphans() {
    let d = databases().await;
    let system = conn(&d.system.path);
    let app = conn(&d.app_path);
    seed_gc(&system, &app);
    let report = collect_garbage(
        &d.system.store,
        Some(&d.app as &dyn AppStore),
        GcOptions::new(RetentionPolicy::completed_before(10_000))
            .batch_size(2)
            .batch_time(Duration::ZERO)
            .sweep_app_orphans(true),
    )
    .await
    .unwrap();
    assert_eq!(report.workflows, 5);
    assert_eq!(report.batches, 3);
    assert_eq!(report.app_rows, 10);
    assert_eq!(report.app_orphans, 2);
    assert_eq!(report.orphans, OrphanSweep::default());
    assert_gc_fixture_collected(&system);
    assert_eq!(
        rows(
            &app,
            "SELECT workflow_uuid, function_id FROM transaction_outputs
             ORDER BY workflow_uuid, function_id",
            []
        ),
        vec![
            vec![text("recent"), Value::Integer(1)],
            vec![text("recent"), Value::Integer(2)],
            vec![text("running"), Value::Integer(1)],
            vec![text("running"), Value::Integer(2)],
        ]
    );
    // The lease is released.
    assert_eq!(int(&system, "SELECT count(*) FROM queues", []), 0);
}

#[tokio::test]
async fn a_delete_slower_than_the_batch_time_shrinks_the_next_windows() {
    let d = databases().await;
    let system = conn(&d.system.path);
    let app = conn(&d.app_path);
    seed_gc(&system, &app);
    // Every delete takes longer than a nanosecond: after the first window (running, g1) the
    // walk reads one workflow at a time, so each of g2..g5 goes in a batch of its own.
    let report = collect_garbage(
        &d.system.store,
        None,
        GcOptions::new(RetentionPolicy::completed_before(10_000))
            .batch_size(2)
            .batch_time(Duration::from_nanos(1)),
    )
    .await
    .unwrap();
    assert_eq!((report.workflows, report.batches), (5, 5), "{report:?}");
    assert_gc_fixture_collected(&system);
}

/// Every row of every table of a database, sorted, for comparing two databases.
fn dump(c: &Connection) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name NOT IN ('dbos_migrations', 'refinery_schema_history')
             ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let mut all: Vec<String> = rows(c, &format!("SELECT * FROM \"{table}\""), [])
                .into_iter()
                .map(|row| format!("{row:?}"))
                .collect();
            all.sort();
            (table, all)
        })
        .collect()
}

#[tokio::test]
async fn an_interrupted_collection_restarted_ends_like_an_uninterrupted_one() {
    let policy = RetentionPolicy::completed_before(10_000);
    // The uninterrupted run.
    let whole = databases().await;
    seed_gc(&conn(&whole.system.path), &conn(&whole.app_path));
    collect_garbage(
        &whole.system.store,
        Some(&whole.app as &dyn AppStore),
        GcOptions::new(policy).batch_size(2),
    )
    .await
    .unwrap();

    // A run killed after its first batch: lease taken, one batch deleted, never released.
    let cut = databases().await;
    seed_gc(&conn(&cut.system.path), &conn(&cut.app_path));
    let lease = Lease::new(GC_LEASE, "killed-run", Duration::from_secs(600));
    assert!(
        cut.system
            .store
            .acquire_lease(&lease)
            .await
            .unwrap()
            .acquired
    );
    let batch = cut
        .system
        .store
        .collectable_workflows(policy, None, 3)
        .await
        .unwrap()
        .workflow_ids;
    assert_eq!(
        batch,
        ids(&["g1", "g2"]),
        "the window of 3 holds `running` too"
    );
    let deleted = cut
        .system
        .store
        .delete_collected(&lease, &batch)
        .await
        .unwrap();
    cut.app
        .delete_transaction_outputs(&deleted, 0, None)
        .await
        .unwrap();
    // A fresh collector must wait for the dead run's lease...
    let e = collect_garbage(
        &cut.system.store,
        Some(&cut.app as &dyn AppStore),
        GcOptions::new(policy).batch_size(2),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    // ... or resume with its token.
    let report = collect_garbage(
        &cut.system.store,
        Some(&cut.app as &dyn AppStore),
        GcOptions::new(policy).batch_size(2).holder("killed-run"),
    )
    .await
    .unwrap();
    assert_eq!(report.workflows, 3);

    assert_eq!(
        dump(&conn(&cut.system.path)),
        dump(&conn(&whole.system.path))
    );
    assert_eq!(dump(&conn(&cut.app_path)), dump(&conn(&whole.app_path)));
}

#[tokio::test]
async fn transaction_outputs_are_deleted_from_a_step_and_paged_by_id() {
    let d = databases().await;
    let app = conn(&d.app_path);
    for (id, function_id, created_at) in [
        ("a", 1, 100),
        ("a", 2, 100),
        ("a", 3, 100),
        ("b", 1, 100),
        ("c", 1, 900),
        ("d", 1, 100),
    ] {
        app.execute(
            "INSERT INTO transaction_outputs (workflow_uuid, function_id, txn_snapshot,
                 created_at)
             VALUES (?1, ?2, '', ?3)",
            params![id, function_id, created_at],
        )
        .unwrap();
    }
    assert_eq!(
        d.app
            .transaction_output_workflows(500, None, 2)
            .await
            .unwrap(),
        ids(&["a", "b"])
    );
    assert_eq!(
        d.app
            .transaction_output_workflows(500, Some("b"), 2)
            .await
            .unwrap(),
        ids(&["d"])
    );
    assert_eq!(
        d.app
            .delete_transaction_outputs(&ids(&["a", "b"]), 2, None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        rows(
            &app,
            "SELECT workflow_uuid, function_id FROM transaction_outputs
             ORDER BY workflow_uuid, function_id",
            []
        ),
        vec![
            vec![text("a"), Value::Integer(1)],
            vec![text("b"), Value::Integer(1)],
            vec![text("c"), Value::Integer(1)],
            vec![text("d"), Value::Integer(1)],
        ]
    );
    let e = d
        .app
        .delete_transaction_outputs(&ids(&["a"]), -1, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("not -1"), "{e}");
    // With a bound, only rows created before it go: c's row (900) stays, a's (100) goes.
    assert_eq!(
        d.app
            .delete_transaction_outputs(&ids(&["a", "c"]), 0, Some(500))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        d.app
            .delete_transaction_outputs(&ids(&["a", "c"]), 0, None)
            .await
            .unwrap(),
        1
    );
}

// ---- export and import -----------------------------------------------------------------------

#[tokio::test]
async fn export_import_export_is_identical() {
    let a = fixture().await;
    let c = conn(&a.path);
    seed_source(&c, "exp-p");
    seed(&c, "exp-c1", "SUCCESS", 2_000, Some("exp-p"));
    seed(&c, "exp-c2", "SUCCESS", 1_500, Some("exp-p"));
    seed(&c, "exp-g", "SUCCESS", 3_000, Some("exp-c1"));
    seed(&c, "lone", "ENQUEUED", 4_000, None);
    c.execute(
        "UPDATE workflow_status SET attributes = '{ \"b\": 1, \"a\": [true] }', rate_limited = 1,
             is_debounced = 1, debounce_deadline_epoch_ms = 77, request = 'req'
         WHERE workflow_uuid = 'exp-c1'",
        [],
    )
    .unwrap();

    let exported = a
        .store
        .export_workflows(&ids(&["exp-p", "lone", "exp-c1"]), true)
        .await
        .unwrap();
    let order: Vec<&str> = exported.iter().map(|w| w.workflow_id()).collect();
    assert_eq!(order, ["exp-p", "exp-c2", "exp-c1", "exp-g", "lone"]);
    let c1 = &exported[2];
    assert_eq!(
        c1.status.attributes.as_deref(),
        Some(r#"{"a":[true],"b":1}"#)
    );
    assert!(c1.status.rate_limited && c1.status.is_debounced);
    assert_eq!(exported[0].steps.len(), 4);
    assert_eq!(exported[0].streams.len(), 5);
    assert_eq!(exported[0].event_history.len(), 6);
    let text_a = ExportDocument::new(exported.clone()).to_json().unwrap();

    let b = fixture().await;
    let imported = b
        .store
        .import_workflows(
            ExportDocument::from_json(&text_a).unwrap().workflows,
            ImportOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        imported,
        ids(&["exp-p", "exp-c2", "exp-c1", "exp-g", "lone"])
    );
    let again = b
        .store
        .export_workflows(&ids(&["exp-p", "lone", "exp-c1"]), true)
        .await
        .unwrap();
    assert_eq!(ExportDocument::new(again).to_json().unwrap(), text_a);
    // Nobody owns an imported workflow; notifications are not exported.
    let cb = conn(&b.path);
    assert_eq!(
        int(
            &cb,
            "SELECT count(*) FROM workflow_status WHERE owner_xid IS NOT NULL",
            []
        ),
        0
    );
    assert_eq!(int(&cb, "SELECT count(*) FROM notifications", []), 0);

    // Importing again conflicts, naming the first existing id, unless replacing.
    let e = b
        .store
        .import_workflows(exported.clone(), ImportOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message().contains(
            "workflow exp-p already exists; import with replace_existing to overwrite it"
        ),
        "{e}"
    );
    b.store
        .import_workflows(
            exported.clone(),
            ImportOptions::default().replace_existing(true),
        )
        .await
        .unwrap();
    let replaced = b
        .store
        .export_workflows(&ids(&["exp-p", "lone", "exp-c1"]), true)
        .await
        .unwrap();
    assert_eq!(ExportDocument::new(replaced).to_json().unwrap(), text_a);

    let e = a
        .store
        .export_workflows(&ids(&["lone", "ghost"]), false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("workflow ghost does not exist"), "{e}");
}

#[tokio::test]
async fn malformed_imports_are_refused_and_write_nothing() {
    let a = fixture().await;
    seed(&conn(&a.path), "w", "SUCCESS", 1, None);
    let exported = a.store.export_workflows(&ids(&["w"]), false).await.unwrap();

    let e =
        ExportDocument::from_json(r#"{"format": "dbos-storage-export", "version": 1"#).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message().contains("not a dbos-storage export document"),
        "{e}"
    );

    let b = fixture().await;
    let mut bad = exported.clone();
    bad[0].steps[0].output = Some("a\u{0}b".into());
    let mut renamed = exported[0].clone();
    renamed.status.workflow_uuid = "w2".into();
    let e = b
        .store
        .import_workflows(
            vec![renamed.clone(), bad[0].clone()],
            ImportOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message().contains("exported workflow \"w\"") && e.message().contains("NUL"),
        "{e}"
    );
    let e = b
        .store
        .import_workflows(
            vec![exported[0].clone(), exported[0].clone()],
            ImportOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("workflow w appears twice"), "{e}");
    assert_eq!(
        int(&conn(&b.path), "SELECT count(*) FROM workflow_status", []),
        0
    );
}

// ---- metrics ---------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_count_per_bucket_and_scope() {
    let f = fixture().await;
    let c = conn(&f.path);
    c.execute_batch(
        "INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at,
             application_name)
         VALUES ('m1', 'SUCCESS', 'a', 1000, 1000, 'app'),
                ('m2', 'SUCCESS', 'a', 1999, 1999, NULL),
                ('m3', 'ERROR', 'b', 2500, 2500, 'other'),
                ('m4', 'PENDING', NULL, 2600, 2600, 'app'),
                ('m5', 'SUCCESS', 'a', 3000, 3000, 'app'),
                ('m6', 'SUCCESS', 'a', 999, 999, 'app');
         INSERT INTO operation_outputs (workflow_uuid, function_id, function_name, error,
             completed_at_epoch_ms, application_name, retention_timestamp)
         VALUES ('m1', 1, 'f', NULL, 1100, 'app', 0),
                ('m1', 2, 'f', '\"e\"', 1200, 'app', 0),
                ('m3', 1, 'g', NULL, 2100, 'other', 0),
                ('m1', 3, 'g', NULL, 3000, 'app', 0);",
    )
    .unwrap();
    let all = f
        .store
        .metrics(MetricsQuery::new(1000, 3000).bucket(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        all.workflows,
        vec![
            WorkflowCount::new(1000, "a", "SUCCESS", 2),
            WorkflowCount::new(2000, "", "PENDING", 1),
            WorkflowCount::new(2000, "b", "ERROR", 1),
        ]
    );
    assert_eq!(
        all.steps,
        vec![
            StepCount::new(1000, "f", 2, 1),
            StepCount::new(2000, "g", 1, 0)
        ]
    );
    let scoped = f
        .store
        .metrics(MetricsQuery::new(1000, 3000).application_name("app"))
        .await
        .unwrap();
    assert_eq!(
        scoped.workflows,
        vec![
            WorkflowCount::new(1000, "", "PENDING", 1),
            WorkflowCount::new(1000, "a", "SUCCESS", 2),
        ]
    );
    assert_eq!(scoped.steps, vec![StepCount::new(1000, "f", 2, 1)]);
}

// ---- schedules -------------------------------------------------------------------------------

#[tokio::test]
async fn schedules_are_stored_as_given() {
    let f = fixture().await;
    let c = conn(&f.path);
    let nightly = Schedule::new("nightly", "report", "0 3 * * *", "ctx")
        .with_application_name("app")
        .with_timezone("Europe/Paris")
        .with_backfill(true);
    let id = nightly.schedule_id.clone();
    f.store.create_schedule(nightly.clone()).await.unwrap();
    let fired = "2024-05-01T03:00:00.123456+00:00";
    assert!(f
        .store
        .record_schedule_fired("nightly", fired)
        .await
        .unwrap());
    assert!(f.store.pause_schedule("nightly").await.unwrap());
    assert_eq!(
        rows(
            &c,
            "SELECT schedule_id, schedule_name, workflow_name, workflow_class_name, schedule,
                 status, context, last_fired_at, automatic_backfill, cron_timezone, queue_name,
                 application_name
             FROM workflow_schedules",
            []
        ),
        vec![vec![
            text(&id),
            text("nightly"),
            text("report"),
            Value::Null,
            text("0 3 * * *"),
            text("PAUSED"),
            text("ctx"),
            text(fired),
            Value::Integer(1),
            text("Europe/Paris"),
            Value::Null,
            text("app"),
        ]]
    );

    // An upsert changes the definition only; the owner stays.
    let mut changed = Schedule::new("nightly", "report2", "0 4 * * *", "ctx2").with_queue("q");
    changed.schedule_id = "ignored".into();
    f.store.upsert_schedules(vec![changed]).await.unwrap();
    let stored = f.store.get_schedule("nightly").await.unwrap().unwrap();
    assert_eq!(stored.schedule_id, id);
    assert_eq!(stored.status, ScheduleStatus::Paused);
    assert_eq!(stored.last_fired_at.as_deref(), Some(fired));
    assert_eq!(
        (
            stored.workflow_name.as_str(),
            stored.schedule.as_str(),
            stored.context.as_str()
        ),
        ("report2", "0 4 * * *", "ctx2")
    );
    assert_eq!(stored.queue_name.as_deref(), Some("q"));
    assert!(!stored.automatic_backfill);
    assert_eq!(stored.application_name.as_deref(), Some("app"));

    let e = f
        .store
        .upsert_schedules(vec![
            Schedule::new("fresh", "w", "* * * * *", "c"),
            Schedule::new("nightly", "w", "* * * * *", "c").with_application_name("intruder"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message()
            .contains("schedule nightly belongs to application app"),
        "{e}"
    );
    assert_eq!(f.store.get_schedule("fresh").await.unwrap(), None);
    let e = f
        .store
        .create_schedule(
            Schedule::new("nightly", "w", "* * * * *", "c").with_application_name("app"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message().contains("schedule nightly already exists"),
        "{e}"
    );
    let mut same_id = Schedule::new("other", "w", "* * * * *", "c");
    same_id.schedule_id = id.clone();
    let e = f.store.create_schedule(same_id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let e = f
        .store
        .record_schedule_fired("nightly", "")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.message().contains("schedule last_fired_at is empty"),
        "{e}"
    );

    // Prefixes are literal: "a_" does not match "ab".
    for name in ["a_1", "ab", "a_2"] {
        f.store
            .create_schedule(Schedule::new(name, "w", "* * * * *", "c"))
            .await
            .unwrap();
    }
    let names = |list: Vec<Schedule>| -> Vec<String> {
        list.into_iter().map(|s| s.schedule_name).collect()
    };
    assert_eq!(
        names(
            f.store
                .list_schedules(ScheduleFilter::new().name_prefix("a_"))
                .await
                .unwrap()
        ),
        ids(&["a_1", "a_2"])
    );
    assert_eq!(
        names(
            f.store
                .list_schedules(ScheduleFilter::new().status(ScheduleStatus::Paused))
                .await
                .unwrap()
        ),
        ids(&["nightly"])
    );
    assert!(f.store.resume_schedule("nightly").await.unwrap());
    assert!(f.store.delete_schedule("nightly").await.unwrap());
    assert!(!f.store.delete_schedule("nightly").await.unwrap());
    assert!(!f.store.pause_schedule("nightly").await.unwrap());
}

// ---- rename ----------------------------------------------------------------------------------

#[tokio::test]
async fn rename_moves_every_row_in_batches_and_never_a_lease() {
    let f = fixture().await;
    let c = conn(&f.path);
    for (i, id) in ["f1", "f2", "f3", "f4", "f5"].iter().enumerate() {
        seed(&c, id, "SUCCESS", i as i64, None);
    }
    seed(&c, "a1", "ENQUEUED", 10, None);
    seed(&c, "a2", "PENDING", 11, None);
    seed(&c, "n1", "SUCCESS", 12, None);
    seed(&c, "o1", "SUCCESS", 13, None);
    c.execute_batch(
        "UPDATE workflow_status SET application_name = NULL WHERE workflow_uuid = 'n1';
         UPDATE operation_outputs SET application_name = NULL WHERE workflow_uuid = 'n1';
         UPDATE workflow_status SET application_name = 'other' WHERE workflow_uuid = 'o1';
         UPDATE operation_outputs SET application_name = 'other' WHERE workflow_uuid = 'o1';
         INSERT INTO operation_outputs (workflow_uuid, function_id, function_name,
             application_name, retention_timestamp)
         VALUES ('f1', 2, 's', 'app', 0), ('f1', 3, 's', 'app', 0);
         INSERT INTO queues (name, application_name) VALUES ('jobs', 'app');
         INSERT INTO application_versions (version_id, version_name, application_name)
         VALUES ('v-1', 'v1', 'app');",
    )
    .unwrap();
    f.store
        .create_schedule(Schedule::new("s", "w", "* * * * *", "c").with_application_name("app"))
        .await
        .unwrap();
    let lease = Lease::new("gc", "h", Duration::from_secs(60));
    f.store.acquire_lease(&lease).await.unwrap();

    let report = f
        .store
        .rename_application(RenameApplication::new(Some("app".into()), "new").batch_size(2))
        .await
        .unwrap();
    assert_eq!(report, RenameReport::new(1, 1, 1, 2, 5, 9));
    for table in [
        "workflow_status",
        "operation_outputs",
        "queues",
        "workflow_schedules",
        "application_versions",
    ] {
        assert_eq!(
            int(
                &c,
                &format!("SELECT count(*) FROM {table} WHERE application_name = 'app'"),
                []
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(
        int(
            &c,
            "SELECT count(*) FROM workflow_status WHERE application_name = 'new'",
            []
        ),
        7
    );
    assert_eq!(
        rows(
            &c,
            "SELECT application_name FROM workflow_status
             WHERE workflow_uuid IN ('n1', 'o1') ORDER BY workflow_uuid",
            []
        ),
        vec![vec![Value::Null], vec![text("other")]]
    );
    assert_eq!(
        rows(
            &c,
            "SELECT application_name FROM queues WHERE name = ?1",
            [lease.row_name()]
        ),
        vec![vec![text(LEASE_APPLICATION)]]
    );
    // A re-run moves nothing more; unclaimed rows move with from = None.
    let again = f
        .store
        .rename_application(RenameApplication::new(Some("app".into()), "new").batch_size(2))
        .await
        .unwrap();
    assert_eq!(again, RenameReport::default());
    let unclaimed = f
        .store
        .rename_application(RenameApplication::new(None, "new").batch_size(2))
        .await
        .unwrap();
    assert_eq!(unclaimed, RenameReport::new(0, 0, 0, 0, 1, 1));
    assert_eq!(
        rows(
            &c,
            "SELECT application_name FROM queues WHERE name = ?1",
            [lease.row_name()]
        ),
        vec![vec![text(LEASE_APPLICATION)]]
    );
    // The renamed queue is listed under its new owner.
    let queues = f.store.list_queues(Some("new")).await.unwrap();
    assert_eq!(queues.len(), 1);
    assert_eq!(queues[0].application_name.as_deref(), Some("new"));
}
