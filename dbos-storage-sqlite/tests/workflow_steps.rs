//! Operations called from a workflow, recorded as its steps on SQLite, checked against DBOS's
//! own rows in `operation_outputs`: the step names, the `portable_json` outputs and errors, the
//! copied application, and an operation that fails leaving only its step behind.

use dbos_storage_core::{
    AttributeUpdate, Caller, CancelOptions, DeleteOptions, ErrorKind, ForkRequest, ForkStart,
    InsertOptions, ListWorkflowsQuery, NewWorkflow, ResumeOptions, RewindRequest, Schedule,
    StepOperation, StepOperationOutcome, StepStore, WorkflowStatus, WorkflowStore,
};
use rusqlite::types::Value;
use rusqlite::Connection;
use serde_json::json;

#[allow(dead_code)] // each test file uses part of the shared fixture
mod common;
use common::{fixture, ids, input, raw};

/// Inserts a `PENDING` workflow of application `app` owned by `o`.
async fn start(store: &impl WorkflowStore, id: &str) {
    let wf = NewWorkflow::new(id, "job", input())
        .with_creator_xid("o")
        .with_application_name("app");
    store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
}

/// The caller: workflow `op` at `step`, owner `o`.
fn op(step: i32) -> Caller {
    Caller::workflow("op", step).with_owner("o")
}

/// `(function_name, output, error, serialization, application_name, completed_at IS NOT NULL)`
/// of every step of `op`, by position.
fn steps(c: &Connection) -> Vec<Vec<Value>> {
    let mut stmt = c
        .prepare(
            "SELECT function_id, function_name, output, error, serialization, application_name,
                    completed_at_epoch_ms IS NOT NULL, child_workflow_id
             FROM operation_outputs WHERE workflow_uuid = 'op' ORDER BY function_id",
        )
        .unwrap();
    stmt.query_map([], |r| (0..8).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// A recorded step with an output.
fn output_row(step: i64, name: &str, output: &str) -> Vec<Value> {
    vec![
        Value::Integer(step),
        text(name),
        text(output),
        Value::Null,
        text("portable_json"),
        text("app"),
        Value::Integer(1),
        Value::Null,
    ]
}

#[tokio::test]
async fn each_operation_records_dbos_step_name_and_portable_output() {
    let f = fixture().await;
    for id in ["op", "a", "b"] {
        start(&f.store, id).await;
    }
    let run = |step: i32, operation: StepOperation| {
        let store = &f.store;
        async move { store.run_as_step(op(step), operation).await.unwrap() }
    };
    run(
        1,
        StepOperation::CancelWorkflows {
            workflow_ids: ids(&["a", "a", "ghost"]),
            options: CancelOptions::default(),
        },
    )
    .await;
    run(
        2,
        StepOperation::ResumeWorkflows {
            workflow_ids: ids(&["a"]),
            options: ResumeOptions::default().queue_name("q"),
        },
    )
    .await;
    let forked = run(
        3,
        StepOperation::ForkWorkflows(vec![
            ForkRequest::new("b", ForkStart::Step(1)).with_fork_id("b-fork")
        ]),
    )
    .await;
    assert_eq!(
        forked,
        StepOperationOutcome::Forked(vec![dbos_storage_core::ForkedWorkflow::new(
            "b", "b-fork", 1
        )])
    );
    run(
        4,
        StepOperation::DeleteWorkflows {
            workflow_ids: ids(&["b-fork"]),
            options: DeleteOptions::default(),
        },
    )
    .await;
    let got = run(5, StepOperation::GetWorkflows(ids(&["a"]))).await;
    let listed = run(
        6,
        StepOperation::ListWorkflows(ListWorkflowsQuery::new().workflow_id_prefix("b")),
    )
    .await;
    run(
        7,
        StepOperation::SetWorkflowDelay {
            workflow_id: "a".into(),
            until_epoch_ms: 5,
        },
    )
    .await;
    let mut map = serde_json::Map::new();
    map.insert("team".into(), json!("x"));
    run(
        8,
        StepOperation::UpdateWorkflowAttributes {
            workflow_id: "b".into(),
            attributes: map,
            mode: AttributeUpdate::Replace,
        },
    )
    .await;

    let c = raw(&f.path);
    let rows = steps(&c);
    let names: Vec<&Value> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(
        names,
        [
            "DBOS.cancelWorkflow",
            "DBOS.resumeWorkflow",
            "DBOS.forkWorkflow",
            "DBOS.deleteWorkflow",
            "DBOS.getStatus",
            "DBOS.listWorkflows",
            "DBOS.setWorkflowDelay",
            "DBOS.updateWorkflowAttributes",
        ]
        .map(text)
        .iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(rows[0], output_row(1, "DBOS.cancelWorkflow", r#"["a"]"#));
    assert_eq!(rows[1], output_row(2, "DBOS.resumeWorkflow", r#"["a"]"#));
    assert_eq!(
        rows[2],
        output_row(
            3,
            "DBOS.forkWorkflow",
            r#"[{"source_workflow_id":"b","workflow_id":"b-fork","start_step":1}]"#
        )
    );
    assert_eq!(
        rows[3],
        output_row(4, "DBOS.deleteWorkflow", r#"["b-fork"]"#)
    );
    assert_eq!(rows[6], output_row(7, "DBOS.setWorkflowDelay", "false"));
    assert_eq!(
        rows[7],
        output_row(8, "DBOS.updateWorkflowAttributes", r#"{"team":"x"}"#)
    );
    // The reads record the rows they returned, as JSON objects with the stored status.
    for (row, outcome) in [(&rows[4], got), (&rows[5], listed)] {
        let Value::Text(recorded) = &row[2] else {
            panic!("{row:?}")
        };
        let parsed: serde_json::Value = serde_json::from_str(recorded).unwrap();
        let StepOperationOutcome::Workflows(read) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(parsed, serde_json::to_value(&read).unwrap());
        assert_eq!(parsed[0]["workflow_id"], json!(read[0].workflow_id));
        assert_eq!(row[4], text("portable_json"));
    }
    let status: String = c
        .query_row(
            "SELECT status FROM workflow_status WHERE workflow_uuid = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, WorkflowStatus::Enqueued.as_str());
}

#[tokio::test]
async fn a_failed_operation_leaves_only_its_error_step() {
    let f = fixture().await;
    for id in ["op", "a", "taken"] {
        start(&f.store, id).await;
    }
    // The first fork is written, then the second id is taken: the savepoint undoes the first.
    let forks = StepOperation::ForkWorkflows(vec![
        ForkRequest::new("a", ForkStart::Step(1)).with_fork_id("a-fork"),
        ForkRequest::new("a", ForkStart::Step(1)).with_fork_id("taken"),
    ]);
    let e = f.store.run_as_step(op(1), forks.clone()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        e.message().contains("workflow id taken is already used"),
        "{e}"
    );
    let resume = StepOperation::ResumeWorkflows {
        workflow_ids: ids(&["a", "ghost"]),
        options: ResumeOptions::default(),
    };
    let e = f
        .store
        .run_as_step(op(2), resume.clone())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);

    let c = raw(&f.path);
    let forked: i64 = c
        .query_row(
            "SELECT count(*) FROM workflow_status WHERE workflow_uuid = 'a-fork'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(forked, 0, "the fork made before the conflict was undone");
    let was_forked: i64 = c
        .query_row(
            "SELECT was_forked_from FROM workflow_status WHERE workflow_uuid = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(was_forked, 0);
    let rows = steps(&c);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, name, code) in [
        (&rows[0], "DBOS.forkWorkflow", "conflict"),
        (&rows[1], "DBOS.resumeWorkflow", "not_found"),
    ] {
        assert_eq!(row[1], text(name));
        assert_eq!(row[2], Value::Null, "no output");
        assert_eq!(row[4], text("portable_json"));
        let Value::Text(error) = &row[3] else {
            panic!("{row:?}")
        };
        let error: serde_json::Value = serde_json::from_str(error).unwrap();
        assert_eq!(error["code"], json!(code));
    }
    let Value::Text(error) = &rows[1][3] else {
        unreachable!()
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(error).unwrap(),
        json!({
            "name": "DBOSNonExistentWorkflowError",
            "message": e.message(),
            "code": "not_found",
        })
    );
    // Replays fail the same way and change nothing.
    let again = f.store.run_as_step(op(2), resume).await.unwrap_err();
    assert_eq!((again.kind(), again.message()), (e.kind(), e.message()));
    let again = f.store.run_as_step(op(1), forks).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict);
    assert_eq!(steps(&c).len(), 2);
}

#[tokio::test]
async fn a_listing_by_attributes_is_refused_before_anything_is_recorded() {
    let f = fixture().await;
    start(&f.store, "op").await;
    let mut wanted = serde_json::Map::new();
    wanted.insert("team".into(), json!("x"));
    let e = f
        .store
        .run_as_step(
            op(1),
            StepOperation::ListWorkflows(ListWorkflowsQuery::new().attributes(wanted)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.message().contains("attribute filters need PostgreSQL"),
        "{e}"
    );
    assert!(steps(&raw(&f.path)).is_empty());
}

#[tokio::test]
async fn rewind_and_schedule_steps_record_dbos_rows() {
    let f = fixture().await;
    for id in ["op", "a"] {
        start(&f.store, id).await;
    }
    let finished =
        dbos_storage_core::Outcome::Output(dbos_storage_core::Payload::portable_json("1"));
    assert!(f
        .store
        .record_outcome("a", finished, Some("o"))
        .await
        .unwrap());
    let mut schedule = Schedule::new("nightly", "job", "0 3 * * *", "{}");
    schedule.schedule_id = "sched-id".into();
    let operations = [
        StepOperation::RewindWorkflow(RewindRequest::new("a", ForkStart::Step(1))),
        StepOperation::CreateSchedule(schedule.clone()),
        StepOperation::PauseSchedule("nightly".into()),
        StepOperation::ResumeSchedule("nightly".into()),
        StepOperation::DeleteSchedule("nightly".into()),
    ];
    for (step, operation) in (1..).zip(operations) {
        f.store.run_as_step(op(step), operation).await.unwrap();
    }
    let gone = f
        .store
        .run_as_step(op(6), StepOperation::DeleteSchedule("nightly".into()))
        .await
        .unwrap();
    assert_eq!(gone, StepOperationOutcome::ScheduleChanged(false));
    let c = raw(&f.path);
    assert_eq!(
        steps(&c),
        [
            output_row(
                1,
                "DBOS.rewindWorkflow",
                r#"{"workflow_id":"a","start_step":1,"previous_status":"SUCCESS"}"#
            ),
            output_row(2, "DBOS.createSchedule", "null"),
            output_row(3, "DBOS.pauseSchedule", "true"),
            output_row(4, "DBOS.resumeSchedule", "true"),
            output_row(5, "DBOS.deleteSchedule", "true"),
            output_row(6, "DBOS.deleteSchedule", "false"),
        ]
    );
    let schedules: i64 = c
        .query_row("SELECT count(*) FROM workflow_schedules", [], |r| r.get(0))
        .unwrap();
    assert_eq!(schedules, 0);
}
