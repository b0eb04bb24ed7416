//! Columns DBOS Transact writes and reads, checked on the PostgreSQL-family schema against the raw
//! rows: what a store writes is exactly what DBOS writes (SQL NULL, booleans, JSONB), and rows
//! written as DBOS writes them read back through the store. The PostgreSQL driver and the
//! CockroachDB driver each call these checks from their own `tests/dbos_columns.rs`, with the
//! [`Env`] of [`crate::operator_rows`].

use dbos_storage_core::{InsertOptions, NewWorkflow, Payload};

use crate::operator_rows::Env;

/// Writes the rows [`void_outputs_are_null`] checks, through `store`: workflows `void` and
/// `null` started; `void` returns nothing and `null` returns JSON `null`; step 1 of `void` is
/// a void step and step 2 returns JSON `null`. Shared with the SQLite driver's row test.
pub async fn write_void_and_null(store: &dyn dbos_storage_core::SystemStore) {
    use dbos_storage_core::{Outcome, StepRecord};
    for id in ["void", "null"] {
        store
            .insert_workflow(
                NewWorkflow::new(id, "wf", input()),
                InsertOptions::default(),
            )
            .await
            .unwrap();
    }
    let void_step = StepRecord::with_outcome("void", 1, "s", Some(Outcome::Void));
    store.record_step(void_step, None).await.unwrap();
    let null_step = StepRecord::output("void", 2, "s", Payload::portable_json("null"));
    store.record_step(null_step, None).await.unwrap();
    assert!(store
        .record_outcome("void", Outcome::Void, None)
        .await
        .unwrap());
    let null = Outcome::Output(Payload::portable_json("null"));
    assert!(store.record_outcome("null", null, None).await.unwrap());
}

fn input() -> Payload {
    Payload::portable_json(r#"{"positionalArgs":[1],"namedArgs":{}}"#)
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A scheduled start stores its schedule's name in `schedule_name`; any other start stores SQL
/// NULL.
pub async fn schedule_name_is_stored(env: &Env) {
    let store = &env.store;
    store
        .insert_workflow(
            NewWorkflow::new("s", "wf", input()).with_schedule_name("nightly"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    store
        .enqueue_workflows(vec![
            NewWorkflow::new("b", "wf", input())
                .enqueued("q")
                .with_schedule_name("hourly"),
            NewWorkflow::new("p", "wf", input()).enqueued("q"),
        ])
        .await
        .unwrap();
    let rows = env
        .rows("SELECT workflow_uuid, schedule_name FROM {s}.workflow_status ORDER BY workflow_uuid")
        .await;
    let found: Vec<(String, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        found,
        vec![
            ("b".to_owned(), Some("hourly".to_owned())),
            ("p".to_owned(), None),
            ("s".to_owned(), Some("nightly".to_owned())),
        ]
    );
}

/// `owner_xid`, `rate_limited`, `is_debounced` and `debounce_deadline_epoch_ms` as DBOS writes
/// them are read back by get and list.
pub async fn owner_and_queue_flags_are_read(env: &Env) {
    env.exec(
        "INSERT INTO {s}.workflow_status (workflow_uuid, status, name, queue_name, owner_xid,
             rate_limited, is_debounced, debounce_deadline_epoch_ms)
         VALUES ('claimed', 'PENDING', 'wf', 'q', 'token-1', TRUE, FALSE, NULL),
                ('bounced', 'DELAYED', 'wf', 'q', NULL, FALSE, TRUE, 1700000000000)",
    )
    .await;
    let rows = env
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
    let listed = env
        .store
        .list_workflows(
            dbos_storage_core::ListWorkflowsQuery::new().workflow_ids(ids(&["claimed"])),
        )
        .await
        .unwrap();
    assert_eq!(listed[0].owner_xid.as_deref(), Some("token-1"));
    assert!(listed[0].rate_limited);
}

/// The registry writes `priority_enabled = TRUE` always and `partition_queue` as the mark or any
/// partition limit, as booleans; a row DBOS wrote with other values reads back as stored.
pub async fn queue_flags_are_stored(env: &Env) {
    use dbos_storage_core::{QueueConflictPolicy, QueueDefinition, QueueLimits};
    let store = &env.store;
    let mut unprioritized = QueueDefinition::new("plain");
    unprioritized.priority_enabled = false;
    for queue in [
        unprioritized,
        QueueDefinition::new("by-limits").limits(QueueLimits::new().partition_concurrency(2)),
        QueueDefinition::new("marked").partition_queue(true),
    ] {
        store
            .upsert_queue(queue, QueueConflictPolicy::Update)
            .await
            .unwrap();
    }
    let rows = env
        .rows("SELECT name, priority_enabled, partition_queue FROM {s}.queues ORDER BY name")
        .await;
    let found: Vec<(String, bool, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        found,
        vec![
            ("by-limits".to_owned(), true, true),
            ("marked".to_owned(), true, true),
            ("plain".to_owned(), true, false),
        ]
    );
    env.exec(
        "INSERT INTO {s}.queues (name, priority_enabled, partition_queue)
         VALUES ('legacy', FALSE, TRUE)",
    )
    .await;
    let legacy = store.get_queue("legacy").await.unwrap().unwrap();
    assert!(!legacy.priority_enabled && legacy.partition_queue);
}

/// A clear stores JSON `null` (jsonb, not SQL NULL), as DBOS writes for "no attributes".
pub async fn cleared_attributes_are_json_null(env: &Env) {
    use dbos_storage_core::AttributeUpdate;
    let store = &env.store;
    let mut attrs = serde_json::Map::new();
    attrs.insert("k".to_owned(), serde_json::json!(1));
    store
        .insert_workflow(
            NewWorkflow::new("a", "wf", input()).with_attributes(attrs),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    store
        .update_workflow_attributes("a", serde_json::Map::new(), AttributeUpdate::Clear)
        .await
        .unwrap();
    let rows = env
        .rows(
            "SELECT attributes IS NULL, jsonb_typeof(attributes), attributes::text
             FROM {s}.workflow_status WHERE workflow_uuid = 'a'",
        )
        .await;
    let found: (bool, Option<String>, Option<String>) =
        (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!(
        found,
        (false, Some("null".to_owned()), Some("null".to_owned()))
    );
}

/// A debounce naming a class and instance extends only the row DBOS wrote for that instance,
/// and writes neither name.
pub async fn debounce_matches_the_instance(env: &Env) {
    use dbos_storage_core::{DebounceOutcome, DebounceRequest};
    env.exec(
        "INSERT INTO {s}.workflow_status (workflow_uuid, status, name, class_name, config_name,
             queue_name, deduplication_id, delay_until_epoch_ms, is_debounced)
         VALUES ('one', 'DELAYED', 'method', 'Cls', 'first', 'dq', 'method-key', 5000, TRUE)",
    )
    .await;
    let bounce = |config: &str| {
        DebounceRequest::new("method", "dq", "key", 9000, input())
            .with_class(Some("Cls".to_owned()), Some(config.to_owned()))
    };
    let other = env.store.debounce_workflow(bounce("second")).await.unwrap();
    assert!(
        matches!(other, DebounceOutcome::HeldBy { ref workflow_id, .. } if workflow_id == "one"),
        "{other:?}"
    );
    let select = "SELECT delay_until_epoch_ms, class_name, config_name
                  FROM {s}.workflow_status WHERE workflow_uuid = 'one'";
    let read = |rows: Vec<tokio_postgres::Row>| -> (i64, String, String) {
        (rows[0].get(0), rows[0].get(1), rows[0].get(2))
    };
    assert_eq!(
        read(env.rows(select).await),
        (5000, "Cls".to_owned(), "first".to_owned())
    );
    let own = env.store.debounce_workflow(bounce("first")).await.unwrap();
    assert_eq!(
        own,
        DebounceOutcome::Extended {
            workflow_id: "one".to_owned()
        }
    );
    assert_eq!(
        read(env.rows(select).await),
        (9000, "Cls".to_owned(), "first".to_owned())
    );
}

/// A step recorded without times stores SQL NULL in both time columns.
pub async fn untimed_steps_store_null_times(env: &Env) {
    use dbos_storage_core::StepRecord;
    env.store
        .insert_workflow(
            NewWorkflow::new("w", "wf", input()),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let step = StepRecord::output("w", 1, "s", Payload::portable_json("1")).without_times();
    env.store.record_step(step, None).await.unwrap();
    let rows = env
        .rows(
            "SELECT started_at_epoch_ms, completed_at_epoch_ms, output
             FROM {s}.operation_outputs WHERE workflow_uuid = 'w' AND function_id = 1",
        )
        .await;
    let found: (Option<i64>, Option<i64>, Option<String>) =
        (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!(found, (None, None, Some("1".to_owned())));
}

/// A void return is SQL NULL, as DBOS writes it: the store writes NULL into
/// `workflow_output.output` for [`Outcome::Void`](dbos_storage_core::Outcome::Void) and into
/// `operation_outputs.output` for a step that returned nothing, and the text `null` for a
/// returned JSON `null`. Rows DBOS wrote read back the same way: a `SUCCESS` row with a NULL
/// output (in `workflow_output` or, from a 2.x writer, the legacy column) is `Void`, one with
/// `null` is `Output("null")`, and a NULL step output is a step with no outcome.
pub async fn void_outputs_are_null(env: &Env) {
    use dbos_storage_core::{Outcome, WorkflowResult};
    write_void_and_null(env.store.as_ref()).await;

    let rows = env
        .rows(
            "SELECT s.workflow_uuid, s.status, s.output, o.output, o.error
             FROM {s}.workflow_status s JOIN {s}.workflow_output o USING (workflow_uuid)
             ORDER BY s.workflow_uuid",
        )
        .await;
    type Found = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let found: Vec<Found> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let success = |id: &str, output: Option<&str>| {
        let output = output.map(str::to_owned);
        (id.to_owned(), "SUCCESS".to_owned(), None, output, None)
    };
    assert_eq!(
        found,
        vec![success("null", Some("null")), success("void", None)]
    );
    let rows = env
        .rows(
            "SELECT function_id, output, error, serialization FROM {s}.operation_outputs
             WHERE workflow_uuid = 'void' ORDER BY function_id",
        )
        .await;
    type Step = (i32, Option<String>, Option<String>, Option<String>);
    let steps: Vec<Step> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, None, None, None),
            (2, Some("null".into()), None, Some("portable_json".into()))
        ]
    );

    // As DBOS writes them: 3.x's payload table, a 2.x row's legacy column, and a step.
    env.exec(
        "INSERT INTO {s}.workflow_status (workflow_uuid, status, name)
         VALUES ('py-void', 'SUCCESS', 'wf'), ('py-null', 'SUCCESS', 'wf'),
                ('legacy-void', 'SUCCESS', 'wf');
         INSERT INTO {s}.workflow_output (workflow_uuid, output, error)
         VALUES ('py-void', NULL, NULL), ('py-null', 'null', NULL);
         INSERT INTO {s}.operation_outputs (workflow_uuid, function_id, function_name, output)
         VALUES ('py-void', 1, 'void_step', NULL)",
    )
    .await;
    for id in ["py-void", "legacy-void"] {
        assert_eq!(
            env.store.workflow_result(id).await.unwrap(),
            WorkflowResult::Finished(Outcome::Void),
            "{id}"
        );
    }
    assert_eq!(
        env.store.workflow_result("py-null").await.unwrap(),
        WorkflowResult::Finished(Outcome::Output(Payload::new("null", None)))
    );
    let recorded = env
        .store
        .check_step("py-void", 1, "void_step")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.outcome, None);
}
