//! Retry properties: a store wrapped in [`RetryingStore`] over a [`FaultyStore`] reaches the same
//! state, and gives the same answers, as a clean run — which is what every `# Idempotency`
//! section of the contract promises.

use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::{
    Backoff, CancelOptions, InsertOptions, ListStepsOptions, ListWorkflowsQuery, NewWorkflow,
    ResumeOptions, RetryPolicy, RetryingStore, StepRecord, SystemStore,
};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

use crate::checks::*;
use crate::faulty::{Fault, FaultyStore};
use crate::normalize::{normalize_step, normalize_workflow, Snapshot};
use crate::runner::{block_in_place, proptest_config};
use crate::Factory;

/// The workflows of the scenario.
const SCENARIO_IDS: [&str; 4] = ["P", "C", "E", "E2"];

/// Retries fast, and often enough for every injected fault of one operation.
pub(crate) fn fast_policy() -> RetryPolicy {
    let quick = Backoff::new(Duration::from_millis(1), Duration::from_millis(2), 2.0, 8);
    let mut policy = RetryPolicy::default()
        .conflict(quick)
        .connection(quick)
        .max_elapsed(Duration::from_secs(30));
    policy.ambiguous = quick;
    policy
}

/// The answer of an operation whose answer may differ from a clean run's.
const NOT_COMPARED: &str = "(not compared: replayed after an ambiguous commit)";

/// One answer of the scenario, or a note that it is not comparable.
type Answers = Vec<(usize, String)>;

/// What the scenario may change between operations: `before(i)` runs before operation `i` and
/// says whether its answer may legitimately differ from a clean run's (a replayed
/// `record_outcome` or `cancel_workflows` after an ambiguous commit answers "nothing changed");
/// `after(i, error)` runs after it, with the error it ended with.
struct Hooks<'a> {
    before: &'a dyn Fn(usize) -> bool,
    after: &'a dyn Fn(usize, Option<&dbos_storage_core::Error>),
}

/// Runs the scenario's operations one by one, calling the hooks around each and writing down
/// its answer.
struct Recorder<'a> {
    hooks: &'a Hooks<'a>,
    answers: Answers,
}

/// Whether an operation's answer is the same when it is replayed after an ambiguous commit.
#[derive(Clone, Copy, PartialEq)]
enum Replay {
    SameAnswer,
    /// `record_outcome` answers `false`, `cancel_workflows` no ids: "nothing changed".
    NothingChanged,
}

impl Recorder<'_> {
    /// Runs `call` (not started yet: futures are lazy) and records its answer as `show` writes
    /// it.
    async fn run<T>(
        &mut self,
        replay: Replay,
        call: impl std::future::Future<Output = dbos_storage_core::Result<T>>,
        show: impl FnOnce(&T) -> String,
    ) -> dbos_storage_core::Result<T> {
        let op = self.answers.len();
        let may_differ = (self.hooks.before)(op);
        let result = call.await;
        (self.hooks.after)(op, result.as_ref().err());
        let shown = match &result {
            _ if may_differ && replay == Replay::NothingChanged => NOT_COMPARED.to_owned(),
            Ok(v) => show(v),
            Err(e) => format!("error {}", e.kind()),
        };
        self.answers.push((op, shown));
        result
    }

    /// As [`Recorder::run`], showing the answer with `Debug`.
    async fn debug<T: std::fmt::Debug>(
        &mut self,
        replay: Replay,
        call: impl std::future::Future<Output = dbos_storage_core::Result<T>>,
    ) -> dbos_storage_core::Result<T> {
        self.run(replay, call, |v| format!("{v:?}")).await
    }
}

fn show_rows(rows: &[dbos_storage_core::WorkflowInfo]) -> String {
    let mut rows: Vec<_> = rows.iter().cloned().map(normalize_workflow).collect();
    rows.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
    format!("{rows:?}")
}

/// A fixed scenario touching every mutating operation: insert (new, enqueued, deduplicated,
/// replayed), step records and checks, a durable sleep, a child start, outcomes, cancel, resume,
/// and the reads. Returns every answer in a comparable form.
async fn scenario<S: SystemStore + ?Sized>(store: &S, hooks: &Hooks<'_>) -> Answers {
    use Replay::{NothingChanged, SameAnswer};
    let opts = InsertOptions::default;
    let mut r = Recorder {
        hooks,
        answers: Vec::new(),
    };
    let show_ids = |v: &Vec<String>| format!("{:?}", sorted(v.clone()));
    let queued = |id: &str, creator: &str| {
        enqueued(id, "q")
            .with_deduplication_id("k")
            .with_creator_xid(creator)
    };
    let parent = pending("P", "cp").with_timeout(Duration::from_secs(60));

    let _ = r
        .run(SameAnswer, store.migrate(), |v| {
            format!("current: {}", v.is_current())
        })
        .await;
    let _ = r
        .debug(SameAnswer, store.insert_workflow(parent.clone(), opts()))
        .await;
    let _ = r
        .debug(SameAnswer, store.insert_workflow(queued("E", "ce"), opts()))
        .await;
    let _ = r
        .debug(
            SameAnswer,
            store.insert_workflow(queued("E2", "ce2"), opts()),
        )
        .await;
    let fetch = StepRecord::output("P", 1, "fetch", inputs()).with_times(Some(900), 1_000);
    let _ = r
        .debug(SameAnswer, store.record_step(fetch, Some("cp")))
        .await;
    let _ = r.debug(SameAnswer, store.check_step("P", 1, "fetch")).await;
    let sleep = store.record_sleep("P", 2, Duration::from_secs(60), Some("cp"));
    if let Ok(sleep) = r.run(SameAnswer, sleep, |_| String::new()).await {
        // The wake time depends on the clock; what must hold is that a replay answers the
        // recorded one.
        let steps = ok(
            store.list_steps("P", ListStepsOptions::default()).await,
            "list steps of P",
        );
        let recorded = steps
            .iter()
            .find(|s| s.function_id == 2)
            .and_then(|s| s.completed_at_epoch_ms);
        if let Some((_, shown)) = r.answers.last_mut() {
            *shown = format!(
                "the sleep answers its recorded wake time: {}",
                recorded == Some(sleep.wake_at_epoch_ms)
            );
        }
    }
    let child = NewWorkflow::new("C", "child_fn", inputs()).with_creator_xid("cc");
    let _ = r
        .debug(
            SameAnswer,
            store.start_child_workflow("P", 3, child, opts(), Some("cp")),
        )
        .await;
    let child_step = StepRecord::error("C", 1, "s", inputs()).with_times(None, 2_000);
    let _ = r
        .debug(SameAnswer, store.record_step(child_step, Some("cc")))
        .await;
    let _ = r
        .debug(
            NothingChanged,
            store.record_outcome("C", output("\"c\""), Some("cc")),
        )
        .await;
    let _ = r
        .debug(
            NothingChanged,
            store.record_outcome("P", output("\"p\""), Some("cp")),
        )
        .await;
    let e = ids(&["E"]);
    let cancel = CancelOptions::default().cancel_children(true);
    let _ = r
        .run(NothingChanged, store.cancel_workflows(&e, cancel), show_ids)
        .await;
    let resume = ResumeOptions::default().queue_name("q2");
    let _ = r
        .run(SameAnswer, store.resume_workflows(&e, resume), show_ids)
        .await;
    let _ = r
        .debug(
            SameAnswer,
            store.insert_workflow(queued("E2", "ce2"), opts()),
        )
        .await;
    let everything = ListWorkflowsQuery::new().load_input(true).load_output(true);
    let _ = r
        .run(SameAnswer, store.list_workflows(everything), |v| {
            show_rows(v)
        })
        .await;
    let all = ids(&SCENARIO_IDS);
    let _ = r
        .run(SameAnswer, store.get_workflows(&all), |v| show_rows(v))
        .await;
    let _ = r.debug(SameAnswer, store.workflow_result("P")).await;
    let e_p = ids(&["E", "P"]);
    let _ = r.debug(SameAnswer, store.first_finished(&e_p)).await;
    let _ = r.debug(SameAnswer, store.workflow_children("P")).await;
    let loaded = ListStepsOptions::default().load_output(true);
    let _ = r
        .run(SameAnswer, store.list_steps("P", loaded), |v| {
            let steps: Vec<_> = v.iter().cloned().map(normalize_step).collect();
            format!("{steps:?}")
        })
        .await;
    let _ = r
        .debug(SameAnswer, store.insert_workflow(parent, opts()))
        .await;
    let _ = r.debug(SameAnswer, store.check_connection()).await;
    let _ = r.debug(SameAnswer, store.schema_version()).await;
    assert_eq!(
        r.answers.len(),
        SCENARIO_OPS,
        "the scenario's operation count"
    );
    r.answers
}

/// How many operations [`scenario`] runs.
const SCENARIO_OPS: usize = 23;

async fn clean_run<F: Factory>(factory: &F) -> (Answers, Snapshot) {
    let store = factory.create().await;
    let hooks = Hooks {
        before: &|_| false,
        after: &|_, _| {},
    };
    let answers = scenario(&store, &hooks).await;
    let snapshot = Snapshot::take(&store, &ids(&SCENARIO_IDS)).await;
    factory.destroy(store).await;
    (answers, snapshot)
}

async fn faulty_run<F: Factory>(
    factory: &F,
    plan: &[Vec<Fault>],
    clean: &(Answers, Snapshot),
) -> Result<(), TestCaseError> {
    let store = Arc::new(factory.create().await);
    let retrying = RetryingStore::new(Arc::new(FaultyStore::shared(store.clone())), fast_policy());
    let faulty = retrying.inner();
    let before = |op: usize| {
        let faults = &plan[op];
        faulty.inject_all(faults.iter().copied());
        faults.contains(&Fault::AmbiguousCommit)
    };
    // Faults left after an operation ended with its own, final error (e.g. `Deduplicated`) are
    // dropped; faults left after a retryable error mean the retry loop gave up too early.
    let gave_up = std::sync::Mutex::new(None);
    let after = |op: usize, error: Option<&dbos_storage_core::Error>| {
        let left = faulty.drain();
        if let Some(e) = error.filter(|_| left > 0) {
            if e.is_retryable() || e.kind() == dbos_storage_core::ErrorKind::AmbiguousCommit {
                let mut slot = gave_up
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                slot.get_or_insert(format!(
                    "operation {op} gave up with {left} injected faults unused: {e}"
                ));
            }
        }
    };
    let hooks = Hooks {
        before: &before,
        after: &after,
    };
    let answers = scenario(&retrying, &hooks).await;
    if let Some(reason) = gave_up
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(TestCaseError::fail(reason));
    }
    let snapshot = Snapshot::take(store.as_ref(), &ids(&SCENARIO_IDS)).await;
    drop(retrying);
    destroy_shared(factory, store).await;
    let (clean_answers, clean_snapshot) = clean;
    for ((op, got), (_, want)) in answers.iter().zip(clean_answers) {
        if got != want && got != NOT_COMPARED {
            return Err(TestCaseError::fail(format!(
                "operation {op} with faults {:?} answered {got}; a clean run answered {want}",
                plan[*op]
            )));
        }
    }
    if answers.len() != clean_answers.len() {
        return Err(TestCaseError::fail(format!(
            "the faulty run gave {} answers, the clean run {}",
            answers.len(),
            clean_answers.len()
        )));
    }
    if &snapshot != clean_snapshot {
        return Err(TestCaseError::fail(format!(
            "with faults, the final state differs from a clean run's:\n  faulty: {snapshot:?}\n  \
             clean:  {clean_snapshot:?}"
        )));
    }
    Ok(())
}

/// With serialization failures, contention, lost connections, pool exhaustion and lost commit
/// acknowledgements injected before or after each operation of a fixed scenario,
/// `RetryingStore<FaultyStore<store>>` answers as a clean run does (except the documented
/// "nothing changed" of a replayed `record_outcome` or `cancel_workflows`) and ends in the same
/// state.
pub async fn faults_leave_the_same_state<F: Factory>(factory: &F) {
    let clean = clean_run(factory).await;
    let plans = proptest::collection::vec(
        proptest::collection::vec(prop::sample::select(Fault::ALL.to_vec()), 0..=2),
        SCENARIO_OPS,
    );
    let outcome = block_in_place(|rt| {
        let mut runner = TestRunner::new(proptest_config());
        runner.run(&plans, |plan| {
            rt.block_on(faulty_run(factory, &plan, &clean))
        })
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, plan)) => {
            let faulted: Vec<_> = plan
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.is_empty())
                .collect();
            panic!("retries under injected faults changed the outcome.\n{reason}\nfaults per operation: {faulted:?}")
        }
        Err(TestError::Abort(reason)) => panic!("the retry property aborted: {reason}"),
    }
}

/// Operator writes documented idempotent are applied once when their commit acknowledgement is
/// lost and `RetryingStore` runs them again: a fork with a generated id (assigned before the
/// first attempt) makes one fork, a delete deletes, an import with `replace_existing` leaves
/// exactly the imported rows, an upsert of schedules one schedule. An import without
/// `replace_existing` is not idempotent: it is not retried and reports the ambiguous commit.
pub async fn ambiguous_commits_apply_operator_writes_once<F: Factory>(factory: &F) {
    use crate::operator_fixtures::{assert_gone, doc_text, export, rich_workflow};
    use dbos_storage_core::ScheduleStore;
    use dbos_storage_core::{
        DeleteOptions, ErrorKind, ForkRequest, ForkStart, ImportOptions, Schedule, ScheduleFilter,
    };

    let store = Arc::new(factory.create().await);
    let retrying = RetryingStore::new(Arc::new(FaultyStore::shared(store.clone())), fast_policy());
    let faulty = retrying.inner();
    rich_workflow(store.as_ref(), "w", None).await;

    faulty.inject(Fault::AmbiguousCommit);
    let forked = ok(
        retrying
            .fork_workflows(vec![ForkRequest::new("w", ForkStart::Step(3))])
            .await,
        "fork with a lost acknowledgement",
    );
    assert_eq!(faulty.pending(), 0, "the fault was used");
    let fork = forked[0].workflow_id.clone();
    let forks = ok(
        store
            .list_workflows(ListWorkflowsQuery::new().forked_from("w"))
            .await,
        "forks of w",
    );
    assert_eq!(id_set(&forks), vec![fork.clone()], "exactly one fork");
    assert_eq!(step_names(store.as_ref(), &fork).await.len(), 2);

    faulty.inject(Fault::AmbiguousCommit);
    ok(
        retrying
            .delete_workflows(std::slice::from_ref(&fork), DeleteOptions::default())
            .await,
        "delete with a lost acknowledgement",
    );
    assert_gone(store.as_ref(), &fork, "retried delete").await;

    let exported = export(store.as_ref(), &["w"], true).await;
    faulty.inject(Fault::AmbiguousCommit);
    ok(
        retrying
            .import_workflows(
                exported.clone(),
                ImportOptions::default().replace_existing(true),
            )
            .await,
        "import with replace_existing and a lost acknowledgement",
    );
    assert_eq!(
        doc_text(&export(store.as_ref(), &["w"], true).await),
        doc_text(&exported),
        "the rows are exactly the imported ones, once"
    );

    let mut copy = exported[0].clone();
    copy.status.workflow_uuid = "w-copy".into();
    faulty.inject(Fault::AmbiguousCommit);
    err(
        retrying
            .import_workflows(vec![copy], ImportOptions::default())
            .await,
        ErrorKind::AmbiguousCommit,
        "an import without replace_existing is not retried",
    );
    assert!(exists(store.as_ref(), "w-copy").await, "it did commit");

    let schedule = Schedule::new("nightly", "report", "0 3 * * *", "{}");
    faulty.inject(Fault::AmbiguousCommit);
    ok(
        retrying.upsert_schedules(vec![schedule.clone()]).await,
        "upsert with a lost acknowledgement",
    );
    assert_eq!(
        ok(
            store.list_schedules(ScheduleFilter::new()).await,
            "schedules"
        ),
        vec![schedule],
        "one schedule, as given"
    );
    drop(retrying);
    destroy_shared(factory, store).await;
}
