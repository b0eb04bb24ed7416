//! Concurrency properties: many tasks race for the same write and exactly one wins.

use std::sync::Arc;

use dbos_storage_core::{
    ErrorKind, InsertOptions, ListStepsOptions, Outcome, Payload, Result, StepRecord,
    WorkflowResult,
};
use futures::future::join_all;

use crate::checks::*;
use crate::Factory;

/// How many tasks race in each property.
pub const RACERS: usize = 16;

/// Runs `RACERS` copies of `race(store, i)` at once on the runtime's workers and returns their
/// results in task order.
async fn race<S, T, Fut>(store: &Arc<S>, f: impl Fn(Arc<S>, usize) -> Fut) -> Vec<Result<T>>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks = (0..RACERS).map(|i| {
        let fut = f(store.clone(), i);
        let start = start.clone();
        tokio::spawn(async move {
            start.wait().await;
            fut.await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("a racing task panicked"))
        .collect()
}

/// Racers recording the same step with different `completed_at_epoch_ms`: exactly one
/// succeeds, every other gets `StepConflict`, and the recorded outcome is the winner's.
pub async fn one_step_record_wins<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert w",
    );
    let results = race(&store, |store, i| async move {
        let step = StepRecord::output("w", 1, "s", Payload::portable_json(i.to_string()))
            .with_times(None, 1_000 + i as i64);
        store.record_step(step, Some("o")).await
    })
    .await;
    let winners: Vec<usize> = (0..RACERS).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one racer records the step; results: {results:?}"
    );
    for (i, r) in results.iter().enumerate() {
        if let Err(e) = r {
            assert_eq!(e.kind(), ErrorKind::StepConflict, "racer {i}: {e}");
        }
    }
    let winner = winners[0];
    let recorded = ok(store.check_step("w", 1, "s").await, "check").expect("recorded");
    assert_eq!(
        recorded.outcome,
        Some(Outcome::Output(Payload::portable_json(winner.to_string()))),
        "the recorded outcome is the winner's"
    );
    let steps = ok(
        store.list_steps("w", ListStepsOptions::default()).await,
        "list",
    );
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].completed_at_epoch_ms, Some(1_000 + winner as i64));
    destroy_shared(factory, store).await;
}

/// Racers inserting the same workflow id with different creator tokens: exactly one should
/// execute; every other attaches to its row.
pub async fn one_insert_executes<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    let results = race(&store, |store, i| async move {
        store
            .insert_workflow(
                pending("w", &format!("creator-{i}")),
                InsertOptions::default(),
            )
            .await
    })
    .await;
    let outcomes: Vec<_> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| ok(r, &format!("racer {i} inserts w")))
        .collect();
    let executing: Vec<usize> = (0..RACERS)
        .filter(|i| outcomes[*i].should_execute)
        .collect();
    assert_eq!(
        executing.len(),
        1,
        "exactly one racer executes; outcomes: {outcomes:?}"
    );
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(
            o.existed,
            i != executing[0],
            "racer {i}: only the winner created the row: {o:?}"
        );
    }
    let winner = executing[0];
    assert!(
        ok(
            store
                .record_outcome("w", output("1"), Some(&format!("creator-{winner}")))
                .await,
            "the winner records"
        ),
        "the executing racer owns the row"
    );
    destroy_shared(factory, store).await;
}

/// Racers recording the outcome of one `PENDING` workflow with its owner token: exactly one
/// applies, and its outcome is the recorded one.
pub async fn one_outcome_applies<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert w",
    );
    let results = race(&store, |store, i| async move {
        store
            .record_outcome("w", output(&i.to_string()), Some("o"))
            .await
    })
    .await;
    let applied: Vec<usize> = (0..RACERS)
        .filter(|i| matches!(results[*i], Ok(true)))
        .collect();
    assert_eq!(
        applied.len(),
        1,
        "exactly one outcome applies; results: {results:?}"
    );
    for (i, r) in results.iter().enumerate() {
        ok(
            r.as_ref().map(|_| ()).map_err(clone_error),
            &format!("racer {i}"),
        );
    }
    assert_eq!(
        ok(store.workflow_result("w").await, "result"),
        WorkflowResult::Finished(output(&applied[0].to_string())),
        "the recorded outcome is the one that applied"
    );
    destroy_shared(factory, store).await;
}

fn clone_error(e: &dbos_storage_core::Error) -> dbos_storage_core::Error {
    dbos_storage_core::Error::new(e.kind(), e.to_string())
}
