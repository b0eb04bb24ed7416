//! Properties of [`StepStore`]: checking and recording steps, ownership, listing, child starts
//! and durable sleeps.

use std::time::Duration;

use dbos_storage_core::payload::portable::{decode_value, PortableError};
use dbos_storage_core::payload::Serialization;
use dbos_storage_core::{
    CancelOptions, ErrorKind, InsertOptions, ListStepsOptions, NewWorkflow, Outcome, Payload,
    RecordedStep, StepRecord, WorkflowStatus, SLEEP_STEP,
};

use crate::checks::*;
use crate::Factory;

fn step_output(id: &str, function_id: i32, name: &str, text: &str, at: i64) -> StepRecord {
    StepRecord::output(id, function_id, name, Payload::portable_json(text))
        .with_times(Some(at - 5), at)
}

/// `check_step` returns `None` before a step is recorded, then the recorded output, error or
/// marker (no outcome).
pub async fn check_step_returns_recorded<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert w",
    );
    assert_eq!(
        ok(store.check_step("w", 1, "fetch").await, "check step 1"),
        None,
        "nothing is recorded yet"
    );
    ok(
        store
            .record_step(
                step_output("w", 1, "fetch", "{\"rows\":3}", 1_000),
                Some("o"),
            )
            .await,
        "record step 1",
    );
    let err_payload = Payload::portable_json(r#"{"name":"IOError","message":"down"}"#);
    ok(
        store
            .record_step(
                StepRecord::error("w", 2, "send", err_payload.clone()),
                Some("o"),
            )
            .await,
        "record step 2",
    );
    ok(
        store
            .record_step(StepRecord::with_outcome("w", 3, "marker", None), Some("o"))
            .await,
        "record step 3",
    );
    assert_eq!(
        ok(store.check_step("w", 1, "fetch").await, "check step 1"),
        Some(RecordedStep::new(
            Some(Outcome::Output(Payload::portable_json("{\"rows\":3}"))),
            None
        ))
    );
    assert_eq!(
        ok(store.check_step("w", 2, "send").await, "check step 2"),
        Some(RecordedStep::new(Some(Outcome::Error(err_payload)), None))
    );
    assert_eq!(
        ok(store.check_step("w", 3, "marker").await, "check step 3"),
        Some(RecordedStep::new(None, None))
    );
    assert_eq!(ok(store.check_step("w", 4, "next").await, "check 4"), None);
    factory.destroy(store).await;
}

/// `check_step` fails with `UnexpectedStep` when another name is recorded at the position,
/// `Cancelled` once the workflow is cancelled, and `NotFound` for a missing workflow.
pub async fn check_step_errors<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert w",
    );
    ok(
        store
            .record_step(step_output("w", 1, "fetch", "1", 1_000), Some("o"))
            .await,
        "record step 1",
    );
    let e = err(
        store.check_step("w", 1, "other").await,
        ErrorKind::UnexpectedStep,
        "check step 1 under another name",
    );
    assert!(
        e.message().contains("fetch") && e.message().contains("other"),
        "the message names both steps: {e}"
    );
    err(
        store.check_step("missing", 1, "fetch").await,
        ErrorKind::NotFound,
        "check a step of a missing workflow",
    );
    ok(
        store
            .cancel_workflows(&ids(&["w"]), CancelOptions::default())
            .await,
        "cancel w",
    );
    for (position, name) in [(1, "fetch"), (2, "never-ran")] {
        err(
            store.check_step("w", position, name).await,
            ErrorKind::Cancelled,
            &format!("check step {position} of a cancelled workflow"),
        );
    }
    factory.destroy(store).await;
}

/// Recording a step again with the same `completed_at_epoch_ms` is the caller's own retry and
/// succeeds; a rival's record (another time) fails with `StepConflict` and the first outcome is
/// kept.
pub async fn record_step_is_idempotent_and_detects_rivals<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert w",
    );
    let first = step_output("w", 1, "fetch", "\"first\"", 1_000);
    ok(store.record_step(first.clone(), Some("o")).await, "record");
    ok(
        store.record_step(first.clone(), Some("o")).await,
        "retry of the same record",
    );
    ok(
        store.record_step(first, None).await,
        "retry of the same record without a token",
    );
    let rival = step_output("w", 1, "fetch", "\"rival\"", 2_000);
    err(
        store.record_step(rival.clone(), Some("o")).await,
        ErrorKind::StepConflict,
        "a rival record of step 1",
    );
    err(
        store.record_step(rival, None).await,
        ErrorKind::StepConflict,
        "a rival record of step 1 without a token",
    );
    let recorded = ok(store.check_step("w", 1, "fetch").await, "check").expect("recorded");
    assert_eq!(
        recorded.outcome,
        Some(Outcome::Output(Payload::portable_json("\"first\""))),
        "the first outcome is kept"
    );
    let steps = ok(
        store.list_steps("w", ListStepsOptions::default()).await,
        "list steps",
    );
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].completed_at_epoch_ms, Some(1_000));
    factory.destroy(store).await;
}

/// With an owner token, `record_step` fails with `NotOwner` (and records nothing) unless the
/// token owns the workflow; cancelling or enqueueing leaves a workflow without an owner.
pub async fn record_step_checks_owner<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    ok(store.insert_workflow(pending("w", "o1"), opts()).await, "w");
    err(
        store
            .record_step(step_output("w", 1, "s", "1", 1_000), Some("o2"))
            .await,
        ErrorKind::NotOwner,
        "record with a foreign token",
    );
    assert_eq!(
        ok(store.check_step("w", 1, "s").await, "check"),
        None,
        "a refused record writes nothing"
    );
    ok(
        store
            .record_step(step_output("w", 1, "s", "1", 1_000), Some("o1"))
            .await,
        "record with the owner token",
    );
    ok(
        store
            .record_step(step_output("w", 2, "s", "2", 1_001), None)
            .await,
        "record without a token",
    );

    for token in [Some("o1"), None] {
        err(
            store
                .record_step(step_output("missing", 1, "s", "1", 1_000), token)
                .await,
            ErrorKind::NotFound,
            "record for a workflow that does not exist",
        );
        err(
            store
                .record_sleep("missing", 1, std::time::Duration::from_secs(1), token)
                .await,
            ErrorKind::NotFound,
            "sleep for a workflow that does not exist",
        );
    }

    ok(store.insert_workflow(enqueued("e", "q"), opts()).await, "e");
    err(
        store
            .record_step(step_output("e", 1, "s", "1", 1_000), Some("o1"))
            .await,
        ErrorKind::NotOwner,
        "record for an enqueued (unowned) workflow",
    );
    ok(
        store
            .cancel_workflows(&ids(&["w"]), CancelOptions::default())
            .await,
        "cancel w",
    );
    err(
        store
            .record_step(step_output("w", 3, "s", "3", 1_002), Some("o1"))
            .await,
        ErrorKind::NotOwner,
        "record by the former owner after cancel",
    );
    factory.destroy(store).await;
}

/// `list_steps` returns steps by position with names, child ids and times; outputs only with
/// `load_output`; `limit` and `offset` page; a missing workflow has no steps.
pub async fn list_steps_by_position<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert w",
    );
    for position in [3, 1, 5, 2, 4] {
        let mut step = step_output(
            "w",
            position,
            &format!("s{position}"),
            &position.to_string(),
            1_000 + i64::from(position),
        );
        if position == 4 {
            step = step.with_child("child-4");
        }
        ok(store.record_step(step, Some("o")).await, "record");
    }
    let all = ok(
        store.list_steps("w", ListStepsOptions::default()).await,
        "list steps",
    );
    let positions: Vec<i32> = all.iter().map(|s| s.function_id).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5], "steps come by position");
    for s in &all {
        assert_eq!(s.function_name, format!("s{}", s.function_id));
        assert_eq!(s.outcome, None, "outputs are not loaded by default");
        assert_eq!(
            s.completed_at_epoch_ms,
            Some(1_000 + i64::from(s.function_id))
        );
        assert_eq!(s.started_at_epoch_ms, Some(995 + i64::from(s.function_id)));
    }
    assert_eq!(all[3].child_workflow_id.as_deref(), Some("child-4"));
    assert_eq!(all[0].child_workflow_id, None);
    let loaded = ok(
        store
            .list_steps("w", ListStepsOptions::default().load_output(true))
            .await,
        "list steps with outputs",
    );
    assert_eq!(
        loaded[2].outcome,
        Some(Outcome::Output(Payload::portable_json("3")))
    );
    let page = |options: ListStepsOptions| {
        let store = &store;
        async move {
            ok(store.list_steps("w", options).await, "list steps page")
                .iter()
                .map(|s| s.function_id)
                .collect::<Vec<_>>()
        }
    };
    let o = ListStepsOptions::default;
    assert_eq!(page(o().limit(2)).await, [1, 2]);
    assert_eq!(page(o().offset(3)).await, [4, 5]);
    assert_eq!(page(o().offset(1).limit(2)).await, [2, 3]);
    assert_eq!(page(o().offset(9)).await, [] as [i32; 0]);
    assert!(ok(
        store
            .list_steps("missing", ListStepsOptions::default())
            .await,
        "list steps of a missing workflow"
    )
    .is_empty());
    factory.destroy(store).await;
}

/// `start_child_workflow` checks the parent's owner, inserts the child with its parent set,
/// records the parent's step named after the child, is idempotent on retry, and refuses
/// another child at the same position with `StepConflict` (writing nothing).
pub async fn start_child_records_parent_step<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    ok(store.insert_workflow(pending("p", "po"), opts()).await, "p");
    let child = || NewWorkflow::new("c", "child_fn", inputs()).with_creator_xid("cc");
    let started = ok(
        store
            .start_child_workflow("p", 1, child(), opts(), Some("po"))
            .await,
        "start child c",
    );
    assert!(started.should_execute && !started.existed, "{started:?}");
    assert_eq!(started.status, WorkflowStatus::Pending);
    let row = get(&store, "c").await;
    assert_eq!(row.parent_workflow_id.as_deref(), Some("p"));
    assert_eq!(row.name, "child_fn");
    assert_eq!(
        ok(store.check_step("p", 1, "child_fn").await, "check step 1"),
        Some(RecordedStep::new(None, Some("c".to_owned()))),
        "the parent's step names the child"
    );

    let retry = ok(
        store
            .start_child_workflow("p", 1, child(), opts(), Some("po"))
            .await,
        "retry of start child c",
    );
    assert!(retry.should_execute && !retry.existed, "{retry:?}");
    let steps = ok(
        store.list_steps("p", ListStepsOptions::default()).await,
        "list steps of p",
    );
    assert_eq!(steps.len(), 1, "a retry writes no second step");
    assert_eq!(steps[0].function_name, "child_fn");
    assert_eq!(steps[0].child_workflow_id.as_deref(), Some("c"));

    let other = NewWorkflow::new("c2", "child_fn", inputs());
    err(
        store
            .start_child_workflow("p", 1, other.clone(), opts(), Some("po"))
            .await,
        ErrorKind::StepConflict,
        "another child at step 1",
    );
    assert!(
        !exists(&store, "c2").await,
        "a refused child is not inserted"
    );
    err(
        store
            .start_child_workflow("p", 2, other.clone(), opts(), Some("intruder"))
            .await,
        ErrorKind::NotOwner,
        "start a child with a foreign token",
    );
    assert!(!exists(&store, "c2").await);
    err(
        store
            .start_child_workflow("ghost", 1, other.clone(), opts(), None)
            .await,
        ErrorKind::NotFound,
        "start a child of a missing parent",
    );
    assert!(!exists(&store, "c2").await);
    let queued = ok(
        store
            .start_child_workflow("p", 2, other.enqueued("q"), opts(), Some("po"))
            .await,
        "enqueue child c2",
    );
    assert_eq!(queued.status, WorkflowStatus::Enqueued);
    assert!(!queued.should_execute);
    assert_eq!(
        sorted(ok(store.workflow_children("p").await, "children")),
        ids(&["c", "c2"])
    );
    factory.destroy(store).await;
}

/// A child inherits its parent's deadline unless it has its own timeout or deadline.
pub async fn start_child_inherits_deadline<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    let parent_deadline = dbos_storage_core::now_epoch_ms() + 600_000;
    ok(
        store
            .insert_workflow(pending("p", "po").with_deadline(parent_deadline), opts())
            .await,
        "p",
    );
    let kid = |id: &str| NewWorkflow::new(id, "child_fn", inputs());
    ok(
        store
            .start_child_workflow("p", 1, kid("inherits"), opts(), Some("po"))
            .await,
        "inherits",
    );
    assert_eq!(
        get(&store, "inherits").await.workflow_deadline_epoch_ms,
        Some(parent_deadline),
        "a child without a timeout inherits the parent's deadline"
    );
    let own_deadline = parent_deadline + 1_000;
    ok(
        store
            .start_child_workflow(
                "p",
                2,
                kid("own-deadline").with_deadline(own_deadline),
                opts(),
                Some("po"),
            )
            .await,
        "own-deadline",
    );
    assert_eq!(
        get(&store, "own-deadline").await.workflow_deadline_epoch_ms,
        Some(own_deadline)
    );
    ok(
        store
            .start_child_workflow(
                "p",
                3,
                kid("own-timeout").with_timeout(Duration::from_secs(30)),
                opts(),
                Some("po"),
            )
            .await,
        "own-timeout",
    );
    let row = get(&store, "own-timeout").await;
    let deadline = row.workflow_deadline_epoch_ms.expect("a deadline");
    assert!(
        (29_000..=31_000).contains(&(deadline - row.created_at)),
        "a child with its own timeout gets now + timeout, not the parent's deadline: \
         deadline {deadline}, created_at {}",
        row.created_at
    );
    ok(
        store.insert_workflow(pending("free", "fo"), opts()).await,
        "free",
    );
    ok(
        store
            .start_child_workflow("free", 1, kid("no-deadline"), opts(), Some("fo"))
            .await,
        "no-deadline",
    );
    assert_eq!(
        get(&store, "no-deadline").await.workflow_deadline_epoch_ms,
        None,
        "a parent without a deadline passes none on"
    );
    factory.destroy(store).await;
}

/// A child start that collides on a deduplication id fails with `Deduplicated`, inserts no
/// child, and records the parent's step as a `portable_json` error named
/// `DBOSQueueDeduplicatedError`. Only a deduplication is recorded: a start refused for another
/// reason (the child's id belongs to a workflow of another function) leaves the step free.
pub async fn start_child_deduplicated_records_error<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    ok(
        store
            .insert_workflow(enqueued("holder", "q").with_deduplication_id("k"), opts())
            .await,
        "holder",
    );
    ok(store.insert_workflow(pending("p", "po"), opts()).await, "p");
    let child = NewWorkflow::new("c", "child_fn", inputs())
        .enqueued("q")
        .with_deduplication_id("k");
    err(
        store
            .start_child_workflow("p", 1, child, opts(), Some("po"))
            .await,
        ErrorKind::Deduplicated,
        "start a deduplicated child",
    );
    assert!(
        !exists(&store, "c").await,
        "a deduplicated child is not inserted"
    );
    let recorded = ok(store.check_step("p", 1, "child_fn").await, "check step 1")
        .expect("the parent's step records the deduplication");
    let Some(Outcome::Error(payload)) = recorded.outcome else {
        panic!("the step is recorded as an error, got {recorded:?}");
    };
    assert_eq!(payload.serialization, Some(Serialization::PortableJson));
    let error: PortableError = decode_value(&payload)
        .unwrap_or_else(|e| panic!("the step error is portable_json: {e}: {}", payload.text));
    assert_eq!(error.name, "DBOSQueueDeduplicatedError");

    ok(
        store.insert_workflow(pending("taken", "t"), opts()).await,
        "taken",
    );
    err(
        store
            .start_child_workflow(
                "p",
                2,
                NewWorkflow::new("taken", "child_fn", inputs()),
                opts(),
                Some("po"),
            )
            .await,
        ErrorKind::WorkflowConflict,
        "start a child whose id a workflow of another function holds",
    );
    let refused = ok(store.check_step("p", 2, "child_fn").await, "check step 2");
    assert!(
        refused.is_none(),
        "a start refused by a conflict records no step: {refused:?}"
    );
    factory.destroy(store).await;
}

/// `record_sleep` records `DBOS.sleep` with the wake time (epoch seconds as a `portable_json`
/// float, and as the step's completion time); a replay returns the original wake time whatever
/// duration it asks for; another step at the position is `UnexpectedStep`.
pub async fn record_sleep_keeps_wake_time<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert w",
    );
    let created = get(&store, "w").await.created_at;
    let first = ok(
        store
            .record_sleep("w", 1, Duration::from_secs(60), Some("o"))
            .await,
        "sleep 60 s",
    );
    let wake = first.wake_at_epoch_ms;
    assert!(
        wake >= created + 60_000 && wake <= created + 120_000,
        "wake time {wake} is about 60 s after the workflow started ({created})"
    );
    assert!(
        first.remaining <= Duration::from_secs(60) && first.remaining > Duration::from_secs(30),
        "remaining {:?}",
        first.remaining
    );
    let replay = ok(
        store
            .record_sleep("w", 1, Duration::from_secs(1), Some("o"))
            .await,
        "replay of sleep 1",
    );
    assert_eq!(
        replay.wake_at_epoch_ms, wake,
        "a replay keeps the recorded wake time"
    );
    assert!(replay.remaining <= first.remaining);

    let recorded = ok(store.check_step("w", 1, SLEEP_STEP).await, "check sleep")
        .expect("the sleep is recorded");
    let Some(Outcome::Output(payload)) = recorded.outcome else {
        panic!("a sleep records an output, got {recorded:?}");
    };
    assert_eq!(payload.serialization, Some(Serialization::PortableJson));
    let seconds: f64 = decode_value(&payload)
        .unwrap_or_else(|e| panic!("the wake time is a JSON number: {e}: {}", payload.text));
    assert!(
        (seconds * 1000.0 - wake as f64).abs() < 1.0,
        "recorded {seconds} s, wake time {wake} ms"
    );
    let steps = ok(
        store.list_steps("w", ListStepsOptions::default()).await,
        "list steps",
    );
    assert_eq!(steps[0].function_name, SLEEP_STEP);
    assert_eq!(steps[0].completed_at_epoch_ms, Some(wake));

    ok(
        store
            .record_step(step_output("w", 2, "fetch", "1", 1_000), Some("o"))
            .await,
        "record step 2",
    );
    err(
        store
            .record_sleep("w", 2, Duration::from_secs(1), Some("o"))
            .await,
        ErrorKind::UnexpectedStep,
        "sleep where another step is recorded",
    );
    err(
        store
            .record_sleep("w", 3, Duration::from_secs(1), Some("intruder"))
            .await,
        ErrorKind::NotOwner,
        "sleep with a foreign token",
    );
    let zero = ok(
        store.record_sleep("w", 4, Duration::ZERO, Some("o")).await,
        "sleep 0 s",
    );
    assert_eq!(zero.remaining, Duration::ZERO);
    factory.destroy(store).await;
}

/// Error outcomes round-trip exactly, for steps and workflows, through `check_step`,
/// `list_steps`, `workflow_result`, `get_workflows` and `list_workflows`.
pub async fn error_outcomes_round_trip<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert w",
    );
    let encoded = PortableError::new("MyErr", "boom — ✗")
        .with_code(42)
        .with_data(serde_json::json!({"retry": false}))
        .encode()
        .expect("encodes");
    ok(
        store
            .record_step(StepRecord::error("w", 1, "s", encoded.clone()), Some("o"))
            .await,
        "record an error step",
    );
    let recorded = ok(store.check_step("w", 1, "s").await, "check").expect("recorded");
    assert_eq!(recorded.outcome, Some(Outcome::Error(encoded.clone())));
    let listed = ok(
        store
            .list_steps("w", ListStepsOptions::default().load_output(true))
            .await,
        "list steps",
    );
    assert_eq!(listed[0].outcome, Some(Outcome::Error(encoded.clone())));
    let decoded: PortableError = decode_value(&encoded).expect("decodes");
    assert_eq!(decoded.code, Some(serde_json::json!(42)));

    assert!(ok(
        store
            .record_outcome("w", Outcome::Error(encoded.clone()), Some("o"))
            .await,
        "record the workflow error"
    ));
    assert_eq!(
        ok(store.workflow_result("w").await, "result"),
        dbos_storage_core::WorkflowResult::Finished(Outcome::Error(encoded.clone()))
    );
    let row = get(&store, "w").await;
    assert_eq!(row.error.as_deref(), Some(encoded.text.as_str()));
    assert_eq!(row.output, None);
    factory.destroy(store).await;
}

/// A durable sleep of any length replays with the wake time its first run recorded: from no
/// time at all, through sleeps that end thousands of years from now (wake times whose epoch
/// seconds pass 1e11), to [`Duration::MAX`] (a wake time at the end of the representable range).
/// Random durations, one workflow per case; the first call and its replay must agree exactly.
pub async fn sleeps_of_any_length_replay_their_wake_time<F: Factory>(factory: &F) {
    use proptest::prelude::*;
    use proptest::test_runner::{TestCaseError, TestError, TestRunner};

    const YEAR_SECS: u64 = 365 * 24 * 3600;
    let durations = prop_oneof![
        (0u64..120_000).prop_map(Duration::from_millis),
        (1_000 * YEAR_SECS..10_000 * YEAR_SECS).prop_map(Duration::from_secs),
        (0u64..=u64::MAX).prop_map(Duration::from_secs),
        Just(Duration::MAX),
    ];
    let store = factory.create().await;
    let case = std::sync::atomic::AtomicU64::new(0);
    let outcome = crate::runner::block_in_place(|rt| {
        let mut runner = TestRunner::new(crate::runner::proptest_config());
        runner.run(&durations, |duration| {
            rt.block_on(async {
                let id = format!(
                    "sleeper-{}",
                    case.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                );
                store
                    .insert_workflow(pending(&id, "o"), InsertOptions::default())
                    .await
                    .map_err(|e| TestCaseError::fail(format!("insert {id}: {e}")))?;
                let first = store
                    .record_sleep(&id, 1, duration, Some("o"))
                    .await
                    .map_err(|e| TestCaseError::fail(format!("sleep {duration:?}: {e}")))?;
                let replay = store
                    .record_sleep(&id, 1, Duration::ZERO, Some("o"))
                    .await
                    .map_err(|e| {
                        TestCaseError::fail(format!("replay of sleep {duration:?}: {e}"))
                    })?;
                prop_assert_eq!(
                    replay.wake_at_epoch_ms,
                    first.wake_at_epoch_ms,
                    "store.record_sleep({:?}, 1, {:?}, Some(\"o\")) then a replay",
                    id,
                    duration
                );
                prop_assert!(replay.remaining <= first.remaining);
                Ok(())
            })
        })
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, duration)) => {
            panic!("a replayed sleep of {duration:?} lost its wake time: {reason}")
        }
        Err(TestError::Abort(reason)) => panic!("the sleep property aborted: {reason}"),
    }
    factory.destroy(store).await;
}

/// A `DBOS.sleep` another SDK recorded replays with the wake time its output holds, read as the
/// design notes say (DBOS Python writes epoch seconds as a float, the Rust SDK epoch
/// milliseconds as an integer; JSON cannot tell `5.0` from `5`, so an integer is milliseconds
/// from `1e11` up and seconds below), and with the step's completion time (a sleep's wake
/// time) when the output holds no number. Each row is imported with a completion time that is
/// not its wake time, and the replay leaves the row as it was.
pub async fn sleeps_written_by_sdks_replay_their_wake_time<F: Factory>(factory: &F) {
    use dbos_storage_core::export::{StepRow, WorkflowRow};
    use dbos_storage_core::{ExportedWorkflow, ImportOptions};

    const CREATED: i64 = 1_795_000_000_000;
    // Each sleep's output, completion time and the wake time its replay must return.
    let sleeps: [(&str, i64, i64); 14] = [
        ("1795459448.5", CREATED + 1, 1_795_459_448_500),
        ("1795459448.2220385", CREATED + 2, 1_795_459_448_222),
        // Python's `time.time() + seconds`: rounded to the nearest millisecond.
        ("1795459448.2227812", CREATED + 13, 1_795_459_448_223),
        ("1795459448222", CREATED + 3, 1_795_459_448_222),
        ("1795459448", CREATED + 4, 1_795_459_448_000),
        ("1.7954594485e9", CREATED + 5, 1_795_459_448_500),
        ("\"1795459448.25\"", CREATED + 6, 1_795_459_448_250),
        ("\".5\"", CREATED + 7, 500),
        ("\"soon\"", CREATED + 8, CREATED + 8),
        ("\"\"", CREATED + 9, CREATED + 9),
        ("\".\"", CREATED + 10, CREATED + 10),
        ("null", CREATED + 11, CREATED + 11),
        ("not json", CREATED + 12, CREATED + 12),
        // A clock set before 1970: the sign is kept.
        ("-1.5", CREATED + 14, -1_500),
    ];
    let mut status = WorkflowRow::new("sdk-sleeper", "PENDING", CREATED);
    status.name = Some("sleepy_fn".into());
    let mut workflow = ExportedWorkflow::new(status);
    for (function_id, (text, completed_at, _)) in (1..).zip(sleeps) {
        let mut step = StepRow::new(function_id, SLEEP_STEP, completed_at);
        step.output = Some(text.to_owned());
        step.serialization = Some("portable_json".into());
        step.started_at_epoch_ms = Some(CREATED);
        step.completed_at_epoch_ms = Some(completed_at);
        workflow.steps.push(step);
    }
    let store = factory.create().await;
    ok(
        store
            .import_workflows(vec![workflow], ImportOptions::default())
            .await,
        "import the SDK's sleeps",
    );
    let before = ok(
        store.export_workflows(&ids(&["sdk-sleeper"]), false).await,
        "export before the replays",
    );
    for (function_id, (text, _, wake)) in (1..).zip(sleeps) {
        let replay = ok(
            store
                .record_sleep("sdk-sleeper", function_id, Duration::from_secs(3_600), None)
                .await,
            &format!("replay the sleep at step {function_id}"),
        );
        assert_eq!(
            replay.wake_at_epoch_ms, wake,
            "the sleep recorded as {text} at step {function_id}"
        );
    }
    assert_eq!(
        ok(
            store.export_workflows(&ids(&["sdk-sleeper"]), false).await,
            "export after the replays",
        ),
        before,
        "a replay writes nothing"
    );
    factory.destroy(store).await;
}
