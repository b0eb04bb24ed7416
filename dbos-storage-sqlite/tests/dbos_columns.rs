//! Columns DBOS Transact writes and reads, checked on SQLite against the raw rows: what this
//! store writes is byte for byte what DBOS writes (SQL NULL, 0/1 booleans, JSON text), and rows
//! written as DBOS writes them read back through the store.

use dbos_storage_core::{
    AttributeUpdate, InsertOptions, ManagementStore, NewWorkflow, QueueConflictPolicy,
    QueueDefinition, QueueLimits, QueueStore, WorkflowStore,
};
use rusqlite::types::Value;
use rusqlite::Connection;
use serde_json::json;

#[allow(dead_code)] // each test file uses part of the shared fixture
mod common;
use common::{fixture, ids, input, raw};

/// One row of a query as values.
fn row(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Vec<Value> {
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_row(p, |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

#[tokio::test]
async fn a_scheduled_start_stores_its_schedule_name_and_others_store_null() {
    let f = fixture().await;
    f.store
        .insert_workflow(
            NewWorkflow::new("s", "wf", input()).with_schedule_name("nightly"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    f.store
        .insert_workflow(
            NewWorkflow::new("p", "wf", input()),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let c = raw(&f.path);
    let select = "SELECT schedule_name FROM workflow_status WHERE workflow_uuid = ?1";
    assert_eq!(row(&c, select, ["s"]), vec![text("nightly")]);
    assert_eq!(row(&c, select, ["p"]), vec![Value::Null]);
}

#[tokio::test]
async fn the_owner_and_queue_flags_dbos_wrote_are_read_back() {
    let f = fixture().await;
    let c = raw(&f.path);
    // As DBOS writes them: a claimed, rate-limited row and a delayed debounced one, booleans as
    // SQLite integers (SQLAlchemy's Boolean).
    c.execute_batch(
        "INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, owner_xid,
             rate_limited, is_debounced, debounce_deadline_epoch_ms, created_at, updated_at)
         VALUES ('claimed', 'PENDING', 'wf', 'q', 'token-1', 1, 0, NULL, 1, 1),
                ('bounced', 'DELAYED', 'wf', 'q', NULL, 0, 1, 1700000000000, 2, 2);",
    )
    .unwrap();
    let rows = f
        .store
        .get_workflows(&ids(&["claimed", "bounced"]))
        .await
        .unwrap();
    let (claimed, bounced) = (&rows[0], &rows[1]);
    assert_eq!(claimed.owner_xid.as_deref(), Some("token-1"));
    assert!(claimed.rate_limited && !claimed.is_debounced);
    assert_eq!(claimed.debounce_deadline_epoch_ms, None);
    assert_eq!(bounced.owner_xid, None);
    assert!(!bounced.rate_limited && bounced.is_debounced);
    assert_eq!(bounced.debounce_deadline_epoch_ms, Some(1_700_000_000_000));
}

#[tokio::test]
async fn queue_flags_are_written_as_dbos_writes_them_and_read_as_stored() {
    let f = fixture().await;
    let mut unprioritized = QueueDefinition::new("plain");
    unprioritized.priority_enabled = false;
    for queue in [
        unprioritized,
        QueueDefinition::new("by-limits").limits(QueueLimits::new().partition_concurrency(2)),
        QueueDefinition::new("marked").partition_queue(true),
    ] {
        f.store
            .upsert_queue(queue, QueueConflictPolicy::Update)
            .await
            .unwrap();
    }
    let c = raw(&f.path);
    let select = "SELECT priority_enabled, partition_queue FROM queues WHERE name = ?1";
    let one = Value::Integer(1);
    let zero = Value::Integer(0);
    assert_eq!(row(&c, select, ["plain"]), vec![one.clone(), zero.clone()]);
    assert_eq!(
        row(&c, select, ["by-limits"]),
        vec![one.clone(), one.clone()]
    );
    assert_eq!(row(&c, select, ["marked"]), vec![one.clone(), one]);
    c.execute(
        "INSERT INTO queues (queue_id, name, priority_enabled, partition_queue, created_at,
             updated_at)
         VALUES ('q-legacy', 'legacy', 0, 1, 1, 1)",
        [],
    )
    .unwrap();
    let legacy = f.store.get_queue("legacy").await.unwrap().unwrap();
    assert!(!legacy.priority_enabled && legacy.partition_queue);
}

#[tokio::test]
async fn cleared_attributes_are_the_json_null_text() {
    let f = fixture().await;
    f.store
        .insert_workflow(
            NewWorkflow::new("a", "wf", input())
                .with_attributes(json!({"k": 1}).as_object().unwrap().clone()),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    f.store
        .update_workflow_attributes("a", serde_json::Map::new(), AttributeUpdate::Clear)
        .await
        .unwrap();
    let c = raw(&f.path);
    assert_eq!(
        row(
            &c,
            "SELECT attributes FROM workflow_status WHERE workflow_uuid = ?1",
            ["a"]
        ),
        vec![text("null")]
    );
}

#[tokio::test]
async fn a_debounce_naming_an_instance_extends_only_the_row_dbos_wrote_for_it() {
    use dbos_storage_core::{DebounceOutcome, DebounceRequest};
    let f = fixture().await;
    let c = raw(&f.path);
    c.execute_batch(
        "INSERT INTO workflow_status (workflow_uuid, status, name, class_name, config_name,
             queue_name, deduplication_id, delay_until_epoch_ms, is_debounced, created_at,
             updated_at)
         VALUES ('one', 'DELAYED', 'method', 'Cls', 'first', 'dq', 'method-key', 5000, 1, 1, 1);",
    )
    .unwrap();
    let bounce = |config: &str| {
        DebounceRequest::new("method", "dq", "key", 9000, input())
            .with_class(Some("Cls".to_owned()), Some(config.to_owned()))
    };
    let other = f.store.debounce_workflow(bounce("second")).await.unwrap();
    assert!(
        matches!(other, DebounceOutcome::HeldBy { ref workflow_id, .. } if workflow_id == "one"),
        "{other:?}"
    );
    let select = "SELECT delay_until_epoch_ms, class_name, config_name FROM workflow_status
                  WHERE workflow_uuid = 'one'";
    assert_eq!(
        row(&c, select, []),
        vec![Value::Integer(5000), text("Cls"), text("first")]
    );
    let own = f.store.debounce_workflow(bounce("first")).await.unwrap();
    assert_eq!(
        own,
        DebounceOutcome::Extended {
            workflow_id: "one".to_owned()
        }
    );
    assert_eq!(
        row(&c, select, []),
        vec![Value::Integer(9000), text("Cls"), text("first")]
    );
}

#[tokio::test]
async fn a_step_without_times_stores_null_times() {
    use dbos_storage_core::{Payload, StepRecord, StepStore};
    let f = fixture().await;
    f.store
        .insert_workflow(
            NewWorkflow::new("w", "wf", input()),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let step = StepRecord::output("w", 1, "s", Payload::portable_json("1")).without_times();
    f.store.record_step(step, None).await.unwrap();
    let c = raw(&f.path);
    assert_eq!(
        row(
            &c,
            "SELECT started_at_epoch_ms, completed_at_epoch_ms, output FROM operation_outputs
             WHERE workflow_uuid = 'w' AND function_id = 1",
            []
        ),
        vec![Value::Null, Value::Null, text("1")]
    );
}

/// A void return is SQL NULL, as DBOS writes it: `workflow_output.output` for
/// [`Outcome::Void`], `operation_outputs.output` for a step that returned nothing, and the text
/// `null` for a returned JSON `null`. Rows DBOS wrote read back the same way: a `SUCCESS` row
/// with a NULL output (in `workflow_output` or the legacy column) is `Void`, `null` is
/// `Output("null")`, and a NULL step output is a step with no outcome.
#[tokio::test]
async fn void_outputs_are_null() {
    use dbos_storage_core::{Outcome, Payload, StepStore, WorkflowResult};
    let f = fixture().await;
    dbos_storage_testkit::dbos_columns::write_void_and_null(&f.store).await;

    let c = raw(&f.path);
    let select = "SELECT s.status, s.output, o.output, o.error FROM workflow_status s
                  JOIN workflow_output o USING (workflow_uuid) WHERE s.workflow_uuid = ?1";
    let null_text = || text("null");
    assert_eq!(
        row(&c, select, ["void"]),
        vec![text("SUCCESS"), Value::Null, Value::Null, Value::Null]
    );
    assert_eq!(
        row(&c, select, ["null"]),
        vec![text("SUCCESS"), Value::Null, null_text(), Value::Null]
    );
    let select = "SELECT output, error, serialization FROM operation_outputs
                  WHERE workflow_uuid = 'void' AND function_id = ?1";
    assert_eq!(
        row(&c, select, [1]),
        vec![Value::Null, Value::Null, Value::Null]
    );
    assert_eq!(
        row(&c, select, [2]),
        vec![null_text(), Value::Null, text("portable_json")]
    );

    // As DBOS writes them: 3.x's payload table, a 2.x row's legacy column, and a step.
    c.execute_batch(
        "INSERT INTO workflow_status (workflow_uuid, status, name)
         VALUES ('py-void', 'SUCCESS', 'wf'), ('py-null', 'SUCCESS', 'wf'),
                ('legacy-void', 'SUCCESS', 'wf');
         INSERT INTO workflow_output (workflow_uuid, output, error)
         VALUES ('py-void', NULL, NULL), ('py-null', 'null', NULL);
         INSERT INTO operation_outputs (workflow_uuid, function_id, function_name, output)
         VALUES ('py-void', 1, 'void_step', NULL);",
    )
    .unwrap();
    for id in ["py-void", "legacy-void"] {
        assert_eq!(
            f.store.workflow_result(id).await.unwrap(),
            WorkflowResult::Finished(Outcome::Void),
            "{id}"
        );
    }
    assert_eq!(
        f.store.workflow_result("py-null").await.unwrap(),
        WorkflowResult::Finished(Outcome::Output(Payload::new("null", None)))
    );
    let recorded = f
        .store
        .check_step("py-void", 1, "void_step")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.outcome, None);
}
