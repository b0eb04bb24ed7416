//! DBOS's exact rows after operations called from a workflow
//! ([`StepStore::run_as_step`](dbos_storage_core::StepStore::run_as_step)) on the
//! PostgreSQL-family schema: the PostgreSQL driver and the CockroachDB driver (its dialect on the
//! PostgreSQL test server) call these checks from their `tests/operations.rs` with the
//! [`Env`] of [`crate::operator_rows`]. Rows are read with raw SQL, as DBOS reads them.

use dbos_storage_core::{
    AttributeUpdate, Caller, CancelOptions, DeleteOptions, ErrorKind, ForkRequest, ForkStart,
    ForkedWorkflow, InsertOptions, ListWorkflowsQuery, NewWorkflow, Outcome, Payload,
    ResumeOptions, RewindRequest, Schedule, StepOperation, StepOperationOutcome, WorkflowStatus,
};
use serde_json::json;

use crate::operator_rows::Env;

/// Inserts a `PENDING` workflow of application `app` owned by `o`.
async fn start(env: &Env, id: &str) {
    let wf = NewWorkflow::new(
        id,
        "job",
        Payload::portable_json(r#"{"positionalArgs":[1],"namedArgs":{}}"#),
    )
    .with_creator_xid("o")
    .with_application_name("app");
    env.store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
}

/// Workflow `op` at `step`, owner `o`.
fn op(step: i32) -> Caller {
    Caller::workflow("op", step).with_owner("o")
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// One recorded step of `op`: position, name, output, error, label, application, whether it
/// is stamped complete.
type StepRow = (
    i32,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

async fn steps(env: &Env) -> Vec<StepRow> {
    env.rows(
        "SELECT function_id, function_name, output, error, serialization, application_name,
                completed_at_epoch_ms IS NOT NULL
         FROM {s}.operation_outputs WHERE workflow_uuid = 'op' ORDER BY function_id",
    )
    .await
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
        )
    })
    .collect()
}

fn output_row(step: i32, name: &str, output: &str) -> StepRow {
    (
        step,
        name.to_owned(),
        Some(output.to_owned()),
        None,
        Some("portable_json".to_owned()),
        Some("app".to_owned()),
        true,
    )
}

/// Every operation records DBOS's step name, its result as `portable_json` and the workflow's
/// application, and acts as its own method does.
pub async fn operations_record_dbos_step_rows(env: &Env) {
    for id in ["op", "a", "b"] {
        start(env, id).await;
    }
    let run = |step: i32, operation: StepOperation| async move {
        env.store.run_as_step(op(step), operation).await.unwrap()
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
        StepOperationOutcome::Forked(vec![ForkedWorkflow::new("b", "b-fork", 1)])
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

    let rows = steps(env).await;
    let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
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
    for (row, outcome) in [(&rows[4], got), (&rows[5], listed)] {
        let recorded: serde_json::Value =
            serde_json::from_str(row.2.as_deref().expect("an output")).unwrap();
        let StepOperationOutcome::Workflows(read) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(recorded, serde_json::to_value(&read).unwrap());
        assert_eq!(row.4.as_deref(), Some("portable_json"));
    }
    let status: Vec<Option<String>> = env
        .rows("SELECT status FROM {s}.workflow_status WHERE workflow_uuid = 'a'")
        .await
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(status, [Some(WorkflowStatus::Enqueued.as_str().to_owned())]);
}

/// An operation that fails after writing (a fork batch whose second id is taken) is undone by
/// its savepoint, and only its error step commits; a `NotFound` is recorded with DBOS's error
/// name; replays fail the same way.
pub async fn a_failed_operation_leaves_only_its_error_step(env: &Env) {
    for id in ["op", "a", "taken"] {
        start(env, id).await;
    }
    let forks = StepOperation::ForkWorkflows(vec![
        ForkRequest::new("a", ForkStart::Step(1)).with_fork_id("a-fork"),
        ForkRequest::new("a", ForkStart::Step(1)).with_fork_id("taken"),
    ]);
    let e = env
        .store
        .run_as_step(op(1), forks.clone())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let resume = StepOperation::ResumeWorkflows {
        workflow_ids: ids(&["a", "ghost"]),
        options: ResumeOptions::default(),
    };
    let missing = env
        .store
        .run_as_step(op(2), resume.clone())
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");

    let forked = env
        .rows("SELECT 1 FROM {s}.workflow_status WHERE workflow_uuid = 'a-fork'")
        .await;
    assert!(
        forked.is_empty(),
        "the fork made before the conflict was undone"
    );
    let marked: bool = env
        .rows("SELECT was_forked_from FROM {s}.workflow_status WHERE workflow_uuid = 'a'")
        .await[0]
        .get(0);
    assert!(!marked);
    let rows = steps(env).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, name, code) in [
        (&rows[0], "DBOS.forkWorkflow", "conflict"),
        (&rows[1], "DBOS.resumeWorkflow", "not_found"),
    ] {
        assert_eq!(row.1, name);
        assert_eq!(row.2, None, "no output");
        assert_eq!(row.4.as_deref(), Some("portable_json"));
        let error: serde_json::Value =
            serde_json::from_str(row.3.as_deref().expect("an error")).unwrap();
        assert_eq!(error["code"], json!(code));
    }
    let error: serde_json::Value = serde_json::from_str(rows[1].3.as_deref().unwrap()).unwrap();
    assert_eq!(
        error,
        json!({
            "name": "DBOSNonExistentWorkflowError",
            "message": missing.message(),
            "code": "not_found",
        })
    );
    let again = env.store.run_as_step(op(2), resume).await.unwrap_err();
    assert_eq!(
        (again.kind(), again.message()),
        (missing.kind(), missing.message())
    );
    let again = env.store.run_as_step(op(1), forks).await.unwrap_err();
    assert_eq!((again.kind(), again.message()), (e.kind(), e.message()));
    assert_eq!(steps(env).await.len(), 2);
}

/// A rewind and schedule changes record DBOS's names with their results: the rewind as
/// `{"workflow_id","start_step","previous_status"}`, a creation as `null`, a pause, resume or
/// delete as whether the schedule existed.
pub async fn rewind_and_schedule_steps_record_dbos_rows(env: &Env) {
    for id in ["op", "a"] {
        start(env, id).await;
    }
    let finished = Outcome::Output(Payload::portable_json("1"));
    assert!(env
        .store
        .record_outcome("a", finished, Some("o"))
        .await
        .unwrap());
    let mut schedule = Schedule::new("nightly", "job", "0 3 * * *", "{}");
    schedule.schedule_id = "sched-id".into();
    let operations = [
        StepOperation::RewindWorkflow(RewindRequest::new("a", ForkStart::Step(1))),
        StepOperation::CreateSchedule(schedule),
        StepOperation::PauseSchedule("nightly".into()),
        StepOperation::ResumeSchedule("nightly".into()),
        StepOperation::DeleteSchedule("nightly".into()),
        StepOperation::DeleteSchedule("nightly".into()),
    ];
    for (step, operation) in (1..).zip(operations) {
        env.store.run_as_step(op(step), operation).await.unwrap();
    }
    assert_eq!(
        steps(env).await,
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
    assert!(env
        .rows("SELECT 1 FROM {s}.workflow_schedules")
        .await
        .is_empty());
}
