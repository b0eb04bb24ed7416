//! Properties of direct recovery ([`QueueStore::recover_workflow`]) and of the hand-back of a
//! claimed workflow to its queue ([`QueueStore::return_to_queue`]): the columns each writes,
//! every reason a workflow is not taken, DBOS's dead-letter rule, the fencing of old owners,
//! idempotent re-runs, and exactly one winner among racing recoverers.

use std::sync::Arc;

use dbos_storage_core::{
    AwaitOptions, Caller, ErrorKind, InsertOptions, NotRecoverable, Payload, QueueStore,
    RecoveryOutcome, RecoveryRequest, StepRecord, StreamStepOutcome, StreamStepRequest,
    StreamStore, SystemStore, WorkflowResult, WorkflowStatus,
};

use super::queues::{claim, claim_request, insert_all, maybe_twice};
use crate::checks::*;
use crate::faulty::FaultyStore;
use crate::normalize::Snapshot;
use crate::Factory;

/// How many workflows and recoverers race in [`one_recoverer_wins`].
const RACED: usize = 24;
const RECOVERERS: usize = 4;

/// A direct start `id` owned by token `owner` and run by executor `executor`.
fn running(id: &str, owner: &str, executor: &str) -> dbos_storage_core::NewWorkflow {
    pending(id, owner).with_executor(executor)
}

/// Recovers, which must succeed.
async fn recover<S: QueueStore + ?Sized>(store: &S, request: RecoveryRequest) -> RecoveryOutcome {
    let what = format!("recover_workflow({request:?})");
    ok(store.recover_workflow(request).await, &what)
}

/// A take-over re-stamps the `PENDING` row (one more recovery attempt, the new executor and
/// token, the old start time and version kept): the old token records neither step nor outcome
/// any more, the new one does. A re-run of the same request is its own earlier take-over (no
/// second attempt counted); another recoverer finds the row alive or its owner changed.
pub async fn direct_recovery_takes_over_the_workflow<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![running("w", "old", "dead").with_application_version("v7")],
    )
    .await;
    let before = get(&store, "w").await;
    assert_eq!(before.recovery_attempts, 1, "a direct start is attempt 1");
    let request =
        RecoveryRequest::from_dead_executors("w", ids(&["dead", "gone"]), "new").owner_xid("t1");
    assert_eq!(
        recover(&store, request.clone()).await,
        RecoveryOutcome::TakenOver {
            recovery_attempts: 2
        }
    );
    let row = get(&store, "w").await;
    assert_eq!(row.status, WorkflowStatus::Pending);
    assert_eq!(row.executor_id.as_deref(), Some("new"));
    assert_eq!(row.recovery_attempts, 2);
    assert_eq!(row.queue_name, None);
    assert_eq!(row.application_version.as_deref(), Some("v7"));
    assert_eq!(row.started_at_epoch_ms, before.started_at_epoch_ms);
    assert!(row.updated_at >= before.updated_at);
    err(
        store
            .record_step(
                StepRecord::output("w", 1, "s", Payload::portable_json("1")),
                Some("old"),
            )
            .await,
        ErrorKind::NotOwner,
        "a step of the dead execution after the take-over",
    );
    assert!(
        !ok(
            store.record_outcome("w", output("1"), Some("old")).await,
            "the dead execution's outcome"
        ),
        "the old owner token no longer records an outcome"
    );
    ok(
        store
            .record_step(
                StepRecord::output("w", 1, "s", Payload::portable_json("1")),
                Some("t1"),
            )
            .await,
        "a step of the recovering execution",
    );

    assert_eq!(
        recover(&store, request).await,
        RecoveryOutcome::TakenOver {
            recovery_attempts: 2
        },
        "a re-run of the same take-over (same token) counts no second attempt"
    );
    assert_eq!(get(&store, "w").await.recovery_attempts, 2);
    let rival = RecoveryRequest::from_dead_executors("w", ids(&["dead"]), "other");
    assert_eq!(
        recover(&store, rival).await,
        RecoveryOutcome::NotEligible(NotRecoverable::Alive {
            executor_id: Some("new".to_owned())
        }),
        "a second recoverer from the same dead executor finds the row taken"
    );
    let by_token = RecoveryRequest::from_owner("w", "old", "other");
    assert_eq!(
        recover(&store, by_token).await,
        RecoveryOutcome::NotEligible(NotRecoverable::OwnerChanged),
        "a recoverer expecting the old token finds another owner"
    );
    let row = get(&store, "w").await;
    assert_eq!(
        (row.executor_id.as_deref(), row.recovery_attempts),
        (Some("new"), 2),
        "refused recoveries change nothing"
    );
    let fenced = RecoveryRequest::from_owner("w", "t1", "third").owner_xid("t2");
    assert_eq!(
        recover(&store, fenced).await,
        RecoveryOutcome::TakenOver {
            recovery_attempts: 3
        },
        "a recoverer fenced by the current token takes it from any executor"
    );
    assert!(ok(
        store.record_outcome("w", output("1"), Some("t2")).await,
        "the latest owner records the outcome"
    ));
    factory.destroy(store).await;
}

/// A workflow is not taken over, and nothing changes, when it does not exist, is not `PENDING`
/// (finished, enqueued), is on a queue (claimed), or runs on an executor that is not dead.
pub async fn recovery_refuses_what_is_not_eligible<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![
            running("done", "o", "dead"),
            running("alive", "o", "alive"),
            enqueued("queued", "q"),
            enqueued("claimed", "q"),
        ],
    )
    .await;
    assert!(ok(
        store.record_outcome("done", output("1"), Some("o")).await,
        "finish"
    ));
    // Claims take the queue in creation order; the second enqueue stays ENQUEUED.
    let claimed = claim(&store, claim_request("q", "dead").max_tasks(1)).await;
    let (claimed_id, still_queued) = match claimed.claimed.as_slice() {
        [id] if id == "queued" => ("queued", "claimed"),
        [id] if id == "claimed" => ("claimed", "queued"),
        other => panic!("a claim of one took {other:?}"),
    };
    let dead = ids(&["dead"]);
    let cases = [
        ("ghost", NotRecoverable::Missing),
        ("done", NotRecoverable::NotPending(WorkflowStatus::Success)),
        (
            still_queued,
            NotRecoverable::NotPending(WorkflowStatus::Enqueued),
        ),
        (
            claimed_id,
            NotRecoverable::Queued {
                queue_name: "q".to_owned(),
            },
        ),
        (
            "alive",
            NotRecoverable::Alive {
                executor_id: Some("alive".to_owned()),
            },
        ),
    ];
    for (id, reason) in cases {
        let before = exists(&store, id).await.then_some(());
        let row_before = match before {
            Some(()) => Some(get(&store, id).await),
            None => None,
        };
        let request = RecoveryRequest::from_dead_executors(id, dead.clone(), "new");
        assert_eq!(
            recover(&store, request).await,
            RecoveryOutcome::NotEligible(reason.clone()),
            "{id}"
        );
        if let Some(row_before) = row_before {
            let row = get(&store, id).await;
            assert_eq!(
                (row.status, row.executor_id, row.recovery_attempts),
                (
                    row_before.status,
                    row_before.executor_id,
                    row_before.recovery_attempts
                ),
                "{id}: a refused recovery changes nothing"
            );
        }
    }
    factory.destroy(store).await;
}

/// DBOS's rule: a take-over that brings `recovery_attempts` past `max_recovery_attempts + 1`
/// dead-letters the workflow in the same call (status `MAX_RECOVERY_ATTEMPTS_EXCEEDED`, owner,
/// start time and queue cleared, `completed_at` stamped), and its result says so; `None` never
/// dead-letters. A re-run finds it no longer `PENDING`.
pub async fn direct_recovery_dead_letters_past_the_limit<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![running("w", "o", "e0"), running("unlimited", "o", "e0")],
    )
    .await;
    let take = |previous: &str, to: &str, max: Option<i64>| {
        RecoveryRequest::from_owner("w", previous, to)
            .owner_xid(to)
            .max_recovery_attempts(max)
    };
    assert_eq!(
        recover(&store, take("o", "e1", Some(1))).await,
        RecoveryOutcome::TakenOver {
            recovery_attempts: 2
        },
        "attempt 2 with a limit of 1 is not past 1 + 1"
    );
    assert_eq!(
        recover(&store, take("e1", "e2", Some(1))).await,
        RecoveryOutcome::DeadLettered {
            recovery_attempts: 3
        },
        "attempt 3 is past 1 + 1"
    );
    let row = get(&store, "w").await;
    assert_eq!(row.status, WorkflowStatus::MaxRecoveryAttemptsExceeded);
    assert_eq!(row.recovery_attempts, 3);
    assert_eq!(row.executor_id.as_deref(), Some("e2"));
    assert_eq!(row.queue_name, None);
    assert_eq!(row.started_at_epoch_ms, None);
    assert!(
        row.completed_at.is_some(),
        "a dead-letter stamps completed_at"
    );
    assert_eq!(
        ok(store.workflow_result("w").await, "workflow_result"),
        WorkflowResult::MaxRecoveryAttemptsExceeded
    );
    assert!(
        !ok(
            store.record_outcome("w", output("1"), Some("e2")).await,
            "the dead-lettering recoverer's token"
        ),
        "a dead-lettered workflow has no owner"
    );
    assert_eq!(
        recover(&store, take("e1", "e2", Some(1))).await,
        RecoveryOutcome::NotEligible(NotRecoverable::NotPending(
            WorkflowStatus::MaxRecoveryAttemptsExceeded
        )),
        "a re-run after the dead-letter"
    );

    let mut previous = "o".to_owned();
    for attempt in 2..=5 {
        let token = format!("t{attempt}");
        let request = RecoveryRequest::from_owner("unlimited", previous.as_str(), "e")
            .owner_xid(token.as_str())
            .max_recovery_attempts(None);
        assert_eq!(
            recover(&store, request).await,
            RecoveryOutcome::TakenOver {
                recovery_attempts: attempt
            },
            "no limit never dead-letters"
        );
        previous = token;
    }
    let request = RecoveryRequest::from_owner("unlimited", previous.as_str(), "e")
        .max_recovery_attempts(Some(0));
    assert_eq!(
        recover(&store, request).await,
        RecoveryOutcome::DeadLettered {
            recovery_attempts: 6
        }
    );
    factory.destroy(store).await;
}

/// Racing recoverers of the same workflows: each workflow is taken over exactly once, the others
/// are told it is alive (distinct executors) or its owner changed (one executor id shared by
/// every recoverer, fenced by the owner token read with the pending list).
pub async fn one_recoverer_wins<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    let workflows: Vec<String> = (0..RACED).map(|i| format!("w{i:02}")).collect();
    for (i, id) in workflows.iter().enumerate() {
        let executor = if i % 2 == 0 { "dead" } else { "local" };
        ok(
            store
                .insert_workflow(running(id, "old", executor), InsertOptions::default())
                .await,
            id,
        );
    }
    let tasks = (0..RECOVERERS).map(|r| {
        let store = store.clone();
        let workflows = workflows.clone();
        tokio::spawn(async move {
            let mut won = Vec::new();
            for (i, id) in workflows.iter().enumerate() {
                let request = if i % 2 == 0 {
                    RecoveryRequest::from_dead_executors(
                        id.as_str(),
                        ids(&["dead"]),
                        format!("recoverer-{r}"),
                    )
                } else {
                    // Every recoverer restarts as "local", the dead executor's own id.
                    RecoveryRequest::from_dead_executors(id.as_str(), ids(&["local"]), "local")
                        .expecting_owner("old")
                };
                let outcome = loop {
                    match store.recover_workflow(request.clone()).await {
                        Ok(outcome) => break outcome,
                        Err(e) if e.is_retryable() => continue,
                        Err(e) => panic!("recover_workflow({id}) failed with {}: {e}", e.kind()),
                    }
                };
                match outcome {
                    RecoveryOutcome::TakenOver {
                        recovery_attempts: 2,
                    } => won.push((id.clone(), request.owner_xid.clone())),
                    RecoveryOutcome::NotEligible(
                        NotRecoverable::Alive { .. } | NotRecoverable::OwnerChanged,
                    ) => {}
                    other => panic!("recoverer {r} of {id}: unexpected {other:?}"),
                }
            }
            won
        })
    });
    let mut winners: Vec<(String, String)> = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        winners.extend(
            settles("a recoverer", task)
                .await
                .expect("a recoverer panicked"),
        );
    }
    winners.sort();
    let won: Vec<&String> = winners.iter().map(|(id, _)| id).collect();
    let expected: Vec<&String> = workflows.iter().collect();
    assert_eq!(won, expected, "each workflow is taken over exactly once");
    for (id, token) in &winners {
        let row = get(&*store, id).await;
        assert_eq!(row.recovery_attempts, 2, "{id}: one take-over counted");
        assert!(
            ok(
                store.record_outcome(id, output("1"), Some(token)).await,
                "the winner's outcome"
            ),
            "{id}: the winner owns the workflow"
        );
    }
    destroy_shared(factory, store).await;
}

/// Only the execution holding the claim returns a workflow to its queue: `ENQUEUED`, start time
/// and owner cleared, executor, `recovery_attempts` and deduplication id kept; the old token
/// then records nothing, a re-run and other tokens change nothing, and the next claim runs it
/// (counting the next attempt). A workflow on no queue, finished or missing is never returned.
pub async fn return_to_queue_is_fenced_by_the_claim<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![
            enqueued("q1", "q").with_deduplication_id("k"),
            running("direct", "o", "e"),
        ],
    )
    .await;
    let first = claim_request("q", "e1");
    let token = first.owner_xid.clone();
    assert_eq!(claim(&store, first).await.claimed, ids(&["q1"]));
    let claimed = get(&store, "q1").await;
    assert!(claimed.started_at_epoch_ms.is_some());

    assert!(
        !ok(
            store.return_to_queue("q1", "not-the-claim").await,
            "wrong token"
        ),
        "another token cannot return the workflow"
    );
    assert_eq!(get(&store, "q1").await.status, WorkflowStatus::Pending);
    assert!(ok(store.return_to_queue("q1", &token).await, "hand back"));
    let row = get(&store, "q1").await;
    assert_eq!(row.status, WorkflowStatus::Enqueued);
    assert_eq!(row.started_at_epoch_ms, None);
    assert_eq!(row.queue_name.as_deref(), Some("q"));
    assert_eq!(row.deduplication_id.as_deref(), Some("k"));
    assert_eq!(row.executor_id, claimed.executor_id, "the executor is kept");
    assert_eq!(row.recovery_attempts, claimed.recovery_attempts);
    assert!(row.updated_at >= claimed.updated_at);
    assert!(
        !ok(
            store.record_outcome("q1", output("1"), Some(&token)).await,
            "the old claim's outcome"
        ),
        "the token of a returned claim owns nothing"
    );
    assert!(
        !ok(store.return_to_queue("q1", &token).await, "re-run"),
        "a re-run changes nothing"
    );

    let second = claim_request("q", "e2");
    let token2 = second.owner_xid.clone();
    assert_eq!(claim(&store, second).await.claimed, ids(&["q1"]));
    let row = get(&store, "q1").await;
    assert_eq!(row.recovery_attempts, claimed.recovery_attempts + 1);
    assert_eq!(row.executor_id.as_deref(), Some("e2"));
    assert!(!ok(
        store.return_to_queue("q1", &token).await,
        "stale token"
    ));
    finish_with(&store, "q1", &token2).await;
    assert!(
        !ok(store.return_to_queue("q1", &token2).await, "finished"),
        "a finished workflow stays finished"
    );
    assert!(
        !ok(store.return_to_queue("direct", "o").await, "no queue"),
        "a workflow on no queue has no queue to return to"
    );
    assert_eq!(get(&store, "direct").await.status, WorkflowStatus::Pending);
    assert!(!ok(store.return_to_queue("ghost", "o").await, "missing"));
    factory.destroy(store).await;
}

/// Records a success with `token`, which must apply.
async fn finish_with<S: dbos_storage_core::SystemStore + ?Sized>(store: &S, id: &str, token: &str) {
    assert!(ok(
        store.record_outcome(id, output("1"), Some(token)).await,
        "finish"
    ));
}

/// Invalid recoveries and hand-backs are refused with `InvalidInput`, naming the problem.
pub async fn recovery_input_is_checked<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(&store, vec![running("w", "o", "dead")]).await;
    let cases = [
        (
            RecoveryRequest::from_dead_executors("w", Vec::new(), "new"),
            "names neither",
        ),
        (
            RecoveryRequest::from_owner("w", "", "new"),
            "expected owner token must not be empty",
        ),
        (
            RecoveryRequest::from_owner("w", "o", ""),
            "recovering executor id must not be empty",
        ),
        (
            RecoveryRequest::from_owner("w", "o", "new").owner_xid(""),
            "new owner token must not be empty",
        ),
        (
            RecoveryRequest::from_owner("w", "o", "new").max_recovery_attempts(Some(-2)),
            "must be 0 or more",
        ),
        (
            RecoveryRequest::from_dead_executors("w", ids(&["de\0ad"]), "new"),
            "dead executor id contains a NUL byte",
        ),
        (
            RecoveryRequest::from_owner("", "o", "new"),
            "workflow id is empty",
        ),
    ];
    for (request, message) in cases {
        let what = format!("recover_workflow({request:?})");
        let e = err(
            store.recover_workflow(request).await,
            ErrorKind::InvalidInput,
            &what,
        );
        assert!(e.message().contains(message), "{what}: {e}");
    }
    let e = err(
        store.return_to_queue("w", "").await,
        ErrorKind::InvalidInput,
        "an empty token",
    );
    assert!(e.message().contains("owner token of its claim"), "{e}");
    let e = err(
        store.return_to_queue("w", "t\0").await,
        ErrorKind::InvalidInput,
        "a NUL byte in the token",
    );
    assert!(
        e.message().contains("owner token contains a NUL byte"),
        "{e}"
    );
    let e = err(
        store.return_to_queue("", "t").await,
        ErrorKind::InvalidInput,
        "an empty workflow id",
    );
    assert!(e.message().contains("workflow id is empty"), "{e}");
    let row = get(&store, "w").await;
    assert_eq!(
        (row.executor_id.as_deref(), row.recovery_attempts),
        (Some("dead"), 1),
        "refused calls change nothing"
    );
    factory.destroy(store).await;
}

/// Take-overs, dead-letters, hand-backs and checkpointed stream reads, each re-run after a lost
/// commit acknowledgement, end exactly like a clean run: the take-over is recognised by its
/// token (no second attempt counted), the read by its step.
pub async fn recovery_writes_survive_ambiguous_commits<F: Factory>(factory: &F) {
    let all = ids(&["w", "x", "q1", "wr", "rd"]);
    let mut states = Vec::new();
    for ambiguous in [false, true] {
        let store = FaultyStore::new(factory.create().await);
        recovery_scenario(&store, ambiguous).await;
        assert_eq!(store.pending(), 0, "every injected fault was used");
        states.push(format!("{:#?}", Snapshot::take(&store, &all).await));
        let inner = Arc::clone(store.inner());
        drop(store);
        destroy_shared(factory, inner).await;
    }
    assert_eq!(
        states[0], states[1],
        "re-running recovery writes after ambiguous commits changed the outcome (left: clean \
         run, right: with re-runs)"
    );
}

/// The scenario of [`recovery_writes_survive_ambiguous_commits`].
async fn recovery_scenario<S: SystemStore + ?Sized>(store: &FaultyStore<S>, ambiguous: bool) {
    insert_all(
        store,
        vec![
            running("w", "old", "dead"),
            running("x", "old", "dead"),
            enqueued("q1", "q"),
            pending("wr", "wo"),
            pending("rd", "ro"),
        ],
    )
    .await;
    let take = RecoveryRequest::from_dead_executors("w", ids(&["dead"]), "new").owner_xid("t1");
    let taken = maybe_twice(store, ambiguous, || store.recover_workflow(take.clone())).await;
    assert_eq!(
        ok(taken, "take over"),
        RecoveryOutcome::TakenOver {
            recovery_attempts: 2
        },
        "a re-run of a take-over is recognised by its token"
    );
    let dead_letter = RecoveryRequest::from_owner("x", "old", "new").max_recovery_attempts(Some(0));
    ok(
        maybe_twice(store, ambiguous, || {
            store.recover_workflow(dead_letter.clone())
        })
        .await,
        "dead-letter",
    );
    let mut claimed = claim_request("q", "e1");
    claimed.owner_xid = "claim-token".to_owned();
    assert_eq!(claim(store, claimed).await.claimed, ids(&["q1"]));
    ok(
        maybe_twice(store, ambiguous, || {
            store.return_to_queue("q1", "claim-token")
        })
        .await,
        "hand back",
    );
    ok(
        store
            .write_stream(
                Caller::workflow("wr", 1).with_owner("wo"),
                "s",
                Payload::portable_json("7"),
            )
            .await,
        "write",
    );
    let read = StreamStepRequest::new(Caller::workflow("rd", 1).with_owner("ro"), "wr", "s", 0);
    let wait = AwaitOptions::default().timeout(std::time::Duration::from_secs(30));
    let got = maybe_twice(store, ambiguous, || {
        store.read_stream_step(read.clone(), wait.clone())
    })
    .await;
    assert_eq!(
        ok(got, "read").outcome,
        StreamStepOutcome::Value(Payload::portable_json("7"))
    );
}
