//! Properties of [`StepStore::run_as_step`]: operations called from a workflow are recorded as
//! its steps, with DBOS's names, in the same transaction as the operation; a replay returns the
//! first result and acts no more.
//!
//! [`StepStore::run_as_step`]: dbos_storage_core::StepStore::run_as_step

use dbos_storage_core::workflow_steps::{
    CANCEL_WORKFLOW_STEP, FORK_WORKFLOW_STEP, GET_STATUS_STEP, RESUME_WORKFLOW_STEP,
};
use dbos_storage_core::{
    AttributeUpdate, Caller, CancelOptions, DebounceOutcome, DebounceRequest, DeleteOptions,
    ErrorKind, ForkRequest, ForkStart, InsertOptions, ListStepsOptions, ListWorkflowsQuery,
    NewWorkflow, Outcome, Payload, QueueStore, ResumeOptions, RewindRequest, Schedule,
    ScheduleFilter, ScheduleStore, StepOperation, StepOperationOutcome, StepRecord, SystemStore,
    WorkflowStatus,
};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

use crate::checks::*;
use crate::model::MemoryStore;
use crate::normalize::{normalize_workflow, Snapshot};
use crate::operator_fixtures::{at, attrs};
use crate::runner::{block_in_place, proptest_config};
use crate::Factory;

/// The workflow that runs the operations as its steps.
const OPERATOR: &str = "op";
/// The workflows the operations act on (`t3` is never created: operations on it fail or find
/// nothing).
const TARGETS: [&str; 4] = ["t0", "t1", "t2", "t3"];

/// Creates the operator (`PENDING`, owner `o`) and the targets: `t0` `PENDING`, `t1`
/// `DELAYED`, `t2` `SUCCESS` with a child `t2-c`.
async fn world<S: SystemStore + ?Sized>(store: &S) {
    let insert = |wf| async move {
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            "insert a fixture",
        )
    };
    insert(pending(OPERATOR, "o")).await;
    insert(pending("t0", "x")).await;
    insert(enqueued("t1", "q").delayed("q", 4_000_000_000_000)).await;
    insert(pending("t2", "y")).await;
    insert(pending("t2-c", "z").with_parent("t2")).await;
    ok(
        store.record_outcome("t2", output("7"), Some("y")).await,
        "finish t2",
    );
}

/// One generated operation; indexes pick targets.
#[derive(Debug, Clone)]
enum Op {
    Cancel(Vec<usize>, bool),
    Resume(Vec<usize>),
    Fork(usize, i32),
    Delete(Vec<usize>, bool),
    Get(Vec<usize>),
    List(Option<WorkflowStatus>),
    SetDelay(usize, i64),
    Attributes(usize, bool),
    Rewind(usize, i32),
    CreateSchedule(usize),
    PauseSchedule(usize),
    ResumeSchedule(usize),
    DeleteSchedule(usize),
}

/// The schedules the operations manage.
const SCHEDULES: [&str; 2] = ["s0", "s1"];

/// Schedule `SCHEDULES[i]`, with a fixed id (the store and the reference get the same row).
fn schedule(i: usize) -> Schedule {
    let mut s = Schedule::new(SCHEDULES[i], "wf_fn", "0 3 * * *", "{}");
    s.schedule_id = format!("id-{}", SCHEDULES[i]);
    s
}

impl Op {
    /// The operation, run as step `step` (fork ids are derived from the step, so that the
    /// store and the reference make the same ids).
    fn operation(&self, step: i32) -> StepOperation {
        let ids = |picked: &[usize]| picked.iter().map(|i| TARGETS[*i].to_owned()).collect();
        match self {
            Op::Cancel(picked, children) => StepOperation::CancelWorkflows {
                workflow_ids: ids(picked),
                options: CancelOptions::default().cancel_children(*children),
            },
            Op::Resume(picked) => StepOperation::ResumeWorkflows {
                workflow_ids: ids(picked),
                options: ResumeOptions::default(),
            },
            Op::Fork(source, start) => StepOperation::ForkWorkflows(vec![ForkRequest::new(
                TARGETS[*source],
                ForkStart::Step(*start),
            )
            .with_fork_id(format!("fork-{step}"))]),
            Op::Delete(picked, children) => StepOperation::DeleteWorkflows {
                workflow_ids: ids(picked),
                options: DeleteOptions::default().delete_children(*children),
            },
            Op::Get(picked) => StepOperation::GetWorkflows(ids(picked)),
            Op::List(status) => {
                let query = ListWorkflowsQuery::new().workflow_id_prefix("t");
                StepOperation::ListWorkflows(match status {
                    Some(status) => query.status(vec![status.clone()]),
                    None => query,
                })
            }
            Op::SetDelay(target, until) => StepOperation::SetWorkflowDelay {
                workflow_id: TARGETS[*target].to_owned(),
                until_epoch_ms: *until,
            },
            Op::Attributes(target, merge) => StepOperation::UpdateWorkflowAttributes {
                workflow_id: TARGETS[*target].to_owned(),
                attributes: attrs(serde_json::json!({ "step": 1, "merge": merge })),
                mode: if *merge {
                    AttributeUpdate::Merge
                } else {
                    AttributeUpdate::Replace
                },
            },
            Op::Rewind(target, start) => StepOperation::RewindWorkflow(RewindRequest::new(
                TARGETS[*target],
                ForkStart::Step(*start),
            )),
            Op::CreateSchedule(i) => StepOperation::CreateSchedule(schedule(*i)),
            Op::PauseSchedule(i) => StepOperation::PauseSchedule(SCHEDULES[*i].to_owned()),
            Op::ResumeSchedule(i) => StepOperation::ResumeSchedule(SCHEDULES[*i].to_owned()),
            Op::DeleteSchedule(i) => StepOperation::DeleteSchedule(SCHEDULES[*i].to_owned()),
        }
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let picked = || proptest::collection::vec(0..TARGETS.len(), 0..=3);
    let target = || 0..TARGETS.len();
    prop_oneof![
        (picked(), any::<bool>()).prop_map(|(p, c)| Op::Cancel(p, c)),
        picked().prop_map(Op::Resume),
        (target(), 1..=2i32).prop_map(|(s, n)| Op::Fork(s, n)),
        (picked(), any::<bool>()).prop_map(|(p, c)| Op::Delete(p, c)),
        picked().prop_map(Op::Get),
        proptest::option::of(prop_oneof![
            Just(WorkflowStatus::Pending),
            Just(WorkflowStatus::Enqueued),
            Just(WorkflowStatus::Cancelled),
        ])
        .prop_map(Op::List),
        (target(), 1_000i64..=2_000).prop_map(|(t, u)| Op::SetDelay(t, u)),
        (target(), any::<bool>()).prop_map(|(t, m)| Op::Attributes(t, m)),
        (target(), 1..=2i32).prop_map(|(t, n)| Op::Rewind(t, n)),
        (0..SCHEDULES.len()).prop_map(Op::CreateSchedule),
        (0..SCHEDULES.len()).prop_map(Op::PauseSchedule),
        (0..SCHEDULES.len()).prop_map(Op::ResumeSchedule),
        (0..SCHEDULES.len()).prop_map(Op::DeleteSchedule),
    ]
}

/// An outcome without the values that depend on when rows were written.
fn normalized(outcome: StepOperationOutcome) -> StepOperationOutcome {
    match outcome {
        StepOperationOutcome::Workflows(rows) => {
            StepOperationOutcome::Workflows(rows.into_iter().map(normalize_workflow).collect())
        }
        other => other,
    }
}

/// Every workflow the operations may touch or make.
fn every_id(ops: usize) -> Vec<String> {
    // The operator first.
    let mut all: Vec<String> = [OPERATOR, "t0", "t1", "t2", "t2-c", "t3"]
        .map(String::from)
        .into();
    all.extend((1..=ops).map(|step| format!("fork-{step}")));
    all
}

/// Runs `ops` as steps 1.. of the operator on the store and the reference, comparing each
/// result; then replays every step and checks it returns the first result and changes nothing.
async fn run_case<F: Factory>(factory: &F, ops: &[Op]) -> Result<(), TestCaseError> {
    let store = factory.create().await;
    let reference = MemoryStore::migrated();
    world(&store).await;
    world(&reference).await;
    let mut verdict = Ok(());
    let mut first = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let step = i32::try_from(i + 1).expect("few operations");
        let got = store
            .run_as_step(at(OPERATOR, step), op.operation(step))
            .await;
        let want = reference
            .run_as_step(at(OPERATOR, step), op.operation(step))
            .await;
        let got = got.map_err(|e| (e.kind(), e.message().to_owned()));
        let (g, w) = (
            got.clone().map(normalized).map_err(|(kind, _)| kind),
            kind_of(want).map(normalized),
        );
        if g != w {
            verdict = Err(TestCaseError::fail(format!(
                "step {step} {op:?}: the {} store gave {g:?}, the reference {w:?}",
                store.backend()
            )));
            break;
        }
        first.push(got);
    }
    let all = every_id(ops.len());
    if verdict.is_ok() {
        let before = Snapshot::take(&store, &all).await;
        let schedules_before = schedules(&store).await;
        for (i, (op, first)) in ops.iter().zip(&first).enumerate() {
            let step = i32::try_from(i + 1).expect("few operations");
            let replay = store
                .run_as_step(at(OPERATOR, step), op.operation(step))
                .await
                .map_err(|e| (e.kind(), e.message().to_owned()));
            if &replay != first {
                verdict = Err(TestCaseError::fail(format!(
                    "the replay of step {step} {op:?} on the {} store gave {replay:?}, the first \
                     run {first:?}",
                    store.backend()
                )));
                break;
            }
        }
        if verdict.is_ok()
            && (Snapshot::take(&store, &all).await != before
                || schedules(&store).await != schedules_before)
        {
            verdict = Err(TestCaseError::fail(format!(
                "replaying the steps changed the {} store",
                store.backend()
            )));
        }
        // The operator's step outputs hold the times of the rows it read, which differ between
        // stores: compare its steps by name, and every other workflow whole.
        let targets = &all[1..];
        let (got, want) = (
            Snapshot::take(&store, targets).await,
            Snapshot::take(&reference, targets).await,
        );
        let (got_steps, want_steps) = (step_names(&store).await, step_names(&reference).await);
        if verdict.is_ok() && schedules_before != schedules(&reference).await {
            verdict = Err(TestCaseError::fail(format!(
                "after the operations, the {} store's schedules are {schedules_before:?}, the \
                 reference's {:?}",
                store.backend(),
                schedules(&reference).await
            )));
        }
        if verdict.is_ok() && (got, got_steps) != (want, want_steps) {
            let (before, want) = (
                Snapshot::take(&store, &all).await,
                Snapshot::take(&reference, &all).await,
            );
            verdict = Err(TestCaseError::fail(format!(
                "after the operations, the {} store differs from the reference:\n  store:     \
                 {before:?}\n  reference: {want:?}",
                store.backend()
            )));
        }
    }
    factory.destroy(store).await;
    verdict
}

/// Every schedule.
async fn schedules<S: SystemStore + ?Sized>(store: &S) -> Vec<Schedule> {
    ok(
        store.list_schedules(ScheduleFilter::new()).await,
        "list schedules",
    )
}

/// The names of the operator's steps, by position.
async fn step_names<S: SystemStore + ?Sized>(store: &S) -> Vec<(i32, String)> {
    ok(
        store
            .list_steps(OPERATOR, ListStepsOptions::default())
            .await,
        "the operator's steps",
    )
    .into_iter()
    .map(|s| (s.function_id, s.function_name))
    .collect()
}

/// Random operations run as steps of one workflow give the reference model's results and
/// state, and every replay returns the first run's result (or error, with its message) and
/// changes nothing.
pub async fn replays_return_the_first_result_and_act_once<F: Factory>(factory: &F) {
    let strategy = proptest::collection::vec(op_strategy(), 1..=8);
    let outcome = block_in_place(|rt| {
        let mut runner = TestRunner::new(proptest_config());
        runner.run(&strategy, |ops| rt.block_on(run_case(factory, &ops)))
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => {
            panic!("operations run as steps misbehaved.\n{reason}\nminimal sequence: {ops:#?}")
        }
        Err(TestError::Abort(reason)) => panic!("the property aborted: {reason}"),
    }
}

/// A resume run as a step, replayed after its target changed state, returns the recorded ids
/// and does not re-enqueue the target; the step is recorded under DBOS's name with the ids as
/// its `portable_json` output.
pub async fn replayed_resume_does_not_enqueue_again<F: Factory>(factory: &F) {
    let store = factory.create().await;
    world(&store).await;
    let resume = || StepOperation::ResumeWorkflows {
        workflow_ids: ids(&["t0"]),
        options: ResumeOptions::default().queue_name("q"),
    };
    let first = ok(store.run_as_step(at(OPERATOR, 1), resume()).await, "resume");
    assert_eq!(first, StepOperationOutcome::Resumed(ids(&["t0"])));
    assert_eq!(get(&store, "t0").await.status, WorkflowStatus::Enqueued);
    ok(
        store
            .cancel_workflows(&ids(&["t0"]), CancelOptions::default())
            .await,
        "cancel t0",
    );
    let replay = ok(store.run_as_step(at(OPERATOR, 1), resume()).await, "replay");
    assert_eq!(replay, first, "the replay returns the recorded ids");
    assert_eq!(
        get(&store, "t0").await.status,
        WorkflowStatus::Cancelled,
        "the replay did not resume t0 again"
    );
    let steps = ok(
        store
            .list_steps(OPERATOR, ListStepsOptions::default().load_output(true))
            .await,
        "steps",
    );
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0].function_name, RESUME_WORKFLOW_STEP);
    match &steps[0].outcome {
        Some(Outcome::Output(out)) => {
            assert_eq!(out.text, r#"["t0"]"#);
            assert_eq!(out.label(), Some("portable_json"));
        }
        other => panic!("the resume step holds {other:?}"),
    }
    factory.destroy(store).await;
}

/// A fork of a missing workflow records `NotFound` as the step's error and makes nothing; its
/// replay fails the same way (kind and message) even once the source exists, and a fork made as
/// a step is made once.
pub async fn recorded_errors_replay_and_forks_are_made_once<F: Factory>(factory: &F) {
    let store = factory.create().await;
    world(&store).await;
    let fork = |source: &str, id: &str| {
        StepOperation::ForkWorkflows(vec![
            ForkRequest::new(source, ForkStart::Step(1)).with_fork_id(id)
        ])
    };
    let e = err(
        store.run_as_step(at(OPERATOR, 1), fork("t3", "f1")).await,
        ErrorKind::NotFound,
        "fork of a missing workflow",
    );
    assert!(!exists(&store, "f1").await, "nothing was forked");
    ok(
        store
            .insert_workflow(pending("t3", "w"), InsertOptions::default())
            .await,
        "create t3",
    );
    let replay = err(
        store.run_as_step(at(OPERATOR, 1), fork("t3", "f1")).await,
        ErrorKind::NotFound,
        "replay of the failed fork",
    );
    assert_eq!(replay.message(), e.message(), "the recorded message");
    assert!(!exists(&store, "f1").await, "the replay forked nothing");

    let made = ok(
        store.run_as_step(at(OPERATOR, 2), fork("t0", "f2")).await,
        "fork t0",
    );
    ok(
        store
            .delete_workflows(&ids(&["f2"]), DeleteOptions::default())
            .await,
        "delete the fork",
    );
    let again = ok(
        store.run_as_step(at(OPERATOR, 2), fork("t0", "f2")).await,
        "replay the fork",
    );
    assert_eq!(again, made);
    assert!(!exists(&store, "f2").await, "the replay did not fork again");
    let names: Vec<String> = ok(
        store
            .list_steps(OPERATOR, ListStepsOptions::default())
            .await,
        "steps",
    )
    .into_iter()
    .map(|s| s.function_name)
    .collect();
    assert_eq!(names, [FORK_WORKFLOW_STEP, FORK_WORKFLOW_STEP]);
    factory.destroy(store).await;
}

/// The caller is checked as for every call from a workflow, before anything runs, and nothing
/// is recorded for its errors: invalid input (with messages), a call inside a step, a missing or
/// cancelled caller, another owner, another step at the position.
pub async fn callers_are_checked_and_not_recorded<F: Factory>(factory: &F) {
    let store = factory.create().await;
    world(&store).await;
    let cancel = || StepOperation::CancelWorkflows {
        workflow_ids: ids(&["t0"]),
        options: CancelOptions::default(),
    };
    let e = err(
        store.run_as_step(Caller::step(OPERATOR, 1), cancel()).await,
        ErrorKind::InvalidInput,
        "a call inside a step",
    );
    assert!(
        e.message()
            .contains("only when the workflow itself calls it"),
        "{e}"
    );
    let e = err(
        store
            .run_as_step(Caller::workflow(OPERATOR, -1), cancel())
            .await,
        ErrorKind::InvalidInput,
        "a negative step",
    );
    assert!(e.message().contains("function_id -1 is negative"), "{e}");
    let e = err(
        store
            .run_as_step(at(OPERATOR, 1), StepOperation::ForkWorkflows(vec![]))
            .await,
        ErrorKind::InvalidInput,
        "an empty fork batch",
    );
    assert!(e.message().contains("at least one fork"), "{e}");
    let e = err(
        store
            .run_as_step(at(OPERATOR, 1), StepOperation::GetWorkflows(ids(&["a\0b"])))
            .await,
        ErrorKind::InvalidInput,
        "a NUL in an id",
    );
    assert!(e.message().contains("NUL"), "{e}");
    err(
        store.run_as_step(at("ghost", 1), cancel()).await,
        ErrorKind::NotFound,
        "a missing caller",
    );
    err(
        store
            .run_as_step(Caller::workflow(OPERATOR, 1).with_owner("other"), cancel())
            .await,
        ErrorKind::NotOwner,
        "another owner",
    );
    ok(
        store
            .record_step(
                StepRecord::output(OPERATOR, 2, "user_step", crate::checks::inputs()),
                Some("o"),
            )
            .await,
        "a user step at 2",
    );
    err(
        store.run_as_step(at(OPERATOR, 2), cancel()).await,
        ErrorKind::UnexpectedStep,
        "another step at the position",
    );
    assert_eq!(
        get(&store, "t0").await.status,
        WorkflowStatus::Pending,
        "nothing ran"
    );
    let got = ok(
        store
            .run_as_step(at(OPERATOR, 1), StepOperation::GetWorkflows(ids(&["t0"])))
            .await,
        "get t0 at step 1",
    );
    match got {
        StepOperationOutcome::Workflows(rows) => assert_eq!(id_set(&rows), ids(&["t0"])),
        other => panic!("get returned {other:?}"),
    }
    let names: Vec<String> = ok(
        store
            .list_steps(OPERATOR, ListStepsOptions::default())
            .await,
        "steps",
    )
    .into_iter()
    .map(|s| s.function_name)
    .collect();
    assert_eq!(
        names,
        [GET_STATUS_STEP, "user_step"],
        "only the get and the user step"
    );
    ok(
        store
            .cancel_workflows(&ids(&[OPERATOR]), CancelOptions::default())
            .await,
        "cancel the operator",
    );
    err(
        store.run_as_step(at(OPERATOR, 3), cancel()).await,
        ErrorKind::Cancelled,
        "a cancelled caller",
    );
    let recorded = ok(
        store
            .list_steps(OPERATOR, ListStepsOptions::default())
            .await,
        "steps",
    );
    assert!(
        recorded
            .iter()
            .all(|s| s.function_name != CANCEL_WORKFLOW_STEP),
        "no cancel was recorded: {recorded:?}"
    );
    factory.destroy(store).await;
}

/// A rewind and schedule changes run as steps replay their first result: a replayed rewind
/// returns the recorded rewind although the workflow is no longer finished (a plain rewind
/// would fail with `Conflict`), a replayed creation does not create the schedule again, and a
/// creation refused with `Conflict` replays the refusal.
pub async fn rewinds_and_schedule_changes_replay<F: Factory>(factory: &F) {
    let store = factory.create().await;
    world(&store).await;
    let rewind = || StepOperation::RewindWorkflow(RewindRequest::new("t2", ForkStart::Step(1)));
    let first = ok(
        store.run_as_step(at(OPERATOR, 1), rewind()).await,
        "rewind t2",
    );
    match &first {
        StepOperationOutcome::Rewound(r) => {
            assert_eq!((r.workflow_id.as_str(), r.start_step), ("t2", 1));
            assert_eq!(r.previous_status, WorkflowStatus::Success);
        }
        other => panic!("the rewind returned {other:?}"),
    }
    assert_eq!(get(&store, "t2").await.status, WorkflowStatus::Enqueued);
    err(
        store
            .rewind_workflow(RewindRequest::new("t2", ForkStart::Step(1)))
            .await,
        ErrorKind::Conflict,
        "a plain rewind of the enqueued workflow",
    );
    let replay = ok(store.run_as_step(at(OPERATOR, 1), rewind()).await, "replay");
    assert_eq!(replay, first);

    let create = || StepOperation::CreateSchedule(schedule(0));
    let created = ok(
        store.run_as_step(at(OPERATOR, 2), create()).await,
        "create s0",
    );
    assert_eq!(created, StepOperationOutcome::ScheduleCreated);
    let paused = ok(
        store
            .run_as_step(at(OPERATOR, 3), StepOperation::PauseSchedule("s0".into()))
            .await,
        "pause s0",
    );
    assert_eq!(paused, StepOperationOutcome::ScheduleChanged(true));
    let conflict = err(
        store.run_as_step(at(OPERATOR, 4), create()).await,
        ErrorKind::Conflict,
        "create s0 again",
    );
    ok(store.delete_schedule("s0").await, "delete s0 directly");
    assert_eq!(
        ok(store.run_as_step(at(OPERATOR, 2), create()).await, "replay"),
        StepOperationOutcome::ScheduleCreated
    );
    assert!(
        ok(store.get_schedule("s0").await, "get s0").is_none(),
        "the replayed creation did not create s0 again"
    );
    let again = err(
        store.run_as_step(at(OPERATOR, 4), create()).await,
        ErrorKind::Conflict,
        "replay of the refused creation",
    );
    assert_eq!(again.message(), conflict.message());
    assert!(ok(store.get_schedule("s0").await, "get s0").is_none());
    let names: Vec<(i32, String)> = step_names(&store).await;
    assert_eq!(
        names,
        [
            (1, "DBOS.rewindWorkflow".to_owned()),
            (2, "DBOS.createSchedule".to_owned()),
            (3, "DBOS.pauseSchedule".to_owned()),
            (4, "DBOS.createSchedule".to_owned()),
        ]
    );
    factory.destroy(store).await;
}

/// A debounce run as a step is recorded as `DBOS.debounce_delayed_workflow`; its replay returns
/// the recorded outcome and neither moves the release time again nor replaces the inputs.
pub async fn debounces_replay_without_extending_again<F: Factory>(factory: &F) {
    let store = factory.create().await;
    world(&store).await;
    let base = 4_000_000_000_000;
    let debounce = |until, args: &str| {
        StepOperation::DebounceWorkflow(DebounceRequest::new(
            "wf_fn",
            "q",
            "k",
            until,
            Payload::portable_json(format!(r#"{{"positionalArgs":[{args}]}}"#)),
        ))
    };
    let vacant = ok(
        store
            .run_as_step(at(OPERATOR, 1), debounce(base, "0"))
            .await,
        "debounce with no holder",
    );
    assert_eq!(
        vacant,
        StepOperationOutcome::Debounced(DebounceOutcome::Vacant)
    );
    ok(
        store
            .enqueue_workflows(vec![NewWorkflow::new(
                "d1",
                "wf_fn",
                crate::checks::inputs(),
            )
            .debounced("q", "k", base, None)])
            .await,
        "enqueue the debounced workflow",
    );
    let extended = ok(
        store
            .run_as_step(at(OPERATOR, 2), debounce(base + 1_000, "1"))
            .await,
        "extend",
    );
    assert_eq!(
        extended,
        StepOperationOutcome::Debounced(DebounceOutcome::Extended {
            workflow_id: "d1".into()
        })
    );
    ok(
        store.set_workflow_delay("d1", base + 5).await,
        "move the release directly",
    );
    let replay = ok(
        store
            .run_as_step(at(OPERATOR, 2), debounce(base + 1_000, "1"))
            .await,
        "replay",
    );
    assert_eq!(replay, extended);
    assert_eq!(
        get(&store, "d1").await.delay_until_epoch_ms,
        Some(base + 5),
        "the replay did not extend again"
    );
    let replay = ok(
        store
            .run_as_step(at(OPERATOR, 1), debounce(base, "0"))
            .await,
        "replay of the vacant debounce",
    );
    assert_eq!(replay, vacant);
    assert_eq!(
        step_names(&store).await,
        [
            (1, "DBOS.debounce_delayed_workflow".to_owned()),
            (2, "DBOS.debounce_delayed_workflow".to_owned()),
        ]
    );
    factory.destroy(store).await;
}

/// A workflow cannot delete itself as one of its steps, alone or as the descendant of a
/// workflow it deletes with its children: the step would belong to a deleted workflow. The call
/// fails with `InvalidInput`, the delete is undone, and the refusal is recorded as the step's
/// error, so a replay fails the same way; deleting another workflow is unaffected.
pub async fn a_workflow_cannot_delete_itself_as_a_step<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let parent = NewWorkflow::new("p", "wf_fn", inputs());
    let child = pending("w", "o").with_parent("p");
    for wf in [parent, child] {
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            "insert",
        );
    }
    let delete = |ids: &[&str], children: bool| StepOperation::DeleteWorkflows {
        workflow_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        options: DeleteOptions::default().delete_children(children),
    };
    for (function_id, operation) in [(1, delete(&["w"], false)), (2, delete(&["p"], true))] {
        let caller = Caller::workflow("w", function_id).with_owner("o");
        for attempt in ["first call", "replay"] {
            let e = err(
                store.run_as_step(caller.clone(), operation.clone()).await,
                ErrorKind::InvalidInput,
                attempt,
            );
            assert!(
                e.message().contains(&format!(
                    "workflow w cannot delete itself at its step {function_id}"
                )),
                "{attempt}: {e}"
            );
        }
        let rows = ok(store.get_workflows(&ids(&["p", "w"])).await, "get");
        assert_eq!(rows.len(), 2, "the delete was undone");
        let recorded = ok(
            store
                .check_step("w", function_id, "DBOS.deleteWorkflow")
                .await,
            "check the step",
        );
        assert!(
            matches!(recorded.and_then(|r| r.outcome), Some(Outcome::Error(_))),
            "the refusal is the step's error"
        );
    }
    let deleted = ok(
        store
            .run_as_step(
                Caller::workflow("w", 3).with_owner("o"),
                delete(&["p"], false),
            )
            .await,
        "delete the parent alone",
    );
    assert_eq!(deleted, StepOperationOutcome::Deleted(ids(&["p"])));
    factory.destroy(store).await;
}
