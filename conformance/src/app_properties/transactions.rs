//! Recorded outputs, exactly once: an output commits with the body's writes, a replay returns
//! what was recorded without running the body, a concurrent duplicate records once, and the
//! calls that cannot run (bad arguments, a body that ends the transaction, a closed store) say
//! so and write nothing.

use std::sync::Arc;

use dbos_storage_core::app::transaction_body;
use dbos_storage_core::{
    AppStore, ErrorKind, Outcome, Params, RecordedTransaction, Result, TransactionCall,
};

use super::fixtures::{
    accounts_of, counter, deposit, error, fresh_id, output, runs, store_with_tables,
};
use crate::checks::{err, ok};
use crate::AppFactory;

/// An output commits together with the body's writes; the row reads back with its name and
/// outcome, and a position that never ran has no row.
pub async fn an_output_commits_with_the_writes<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let n = counter();
    let mut body = deposit(1, &wf, output("\"deposited\""), n.clone());
    let done = ok(
        store
            .run_transaction(TransactionCall::new(&wf, 3, "deposit"), &mut body)
            .await,
        "deposit",
    );
    assert_eq!(done.outcome, output("\"deposited\""));
    assert!(!done.replayed, "a first run is not a replay");
    assert_eq!(done.attempts, 1);
    assert_eq!(runs(&n), 1);
    assert_eq!(
        accounts_of(&store, &wf).await,
        1,
        "the body's write committed"
    );
    assert_eq!(
        ok(store.recorded_transaction(&wf, 3).await, "recorded"),
        Some(RecordedTransaction::new(
            "deposit",
            Some(output("\"deposited\""))
        ))
    );
    assert_eq!(
        ok(store.recorded_transaction(&wf, 4).await, "not recorded"),
        None
    );
    factory.destroy(store).await;
}

/// A replay of a recorded output or error returns it, with `replayed` and no attempt, and does
/// not run the new body; another transaction name at a recorded position is `UnexpectedStep`
/// naming both.
pub async fn a_replay_returns_the_recorded_result<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let n = counter();
    let call = TransactionCall::new(&wf, 1, "deposit");
    let mut first = deposit(1, &wf, output("1"), n.clone());
    ok(store.run_transaction(call.clone(), &mut first).await, "run");
    let mut other = deposit(2, &wf, output("2"), n.clone());
    let again = ok(store.run_transaction(call, &mut other).await, "replay");
    assert_eq!(
        again.outcome,
        output("1"),
        "the replay returns the first output"
    );
    assert!(again.replayed);
    assert_eq!(again.attempts, 0);
    assert_eq!(runs(&n), 1, "a replay ran the body again");
    assert_eq!(accounts_of(&store, &wf).await, 1);

    let call = TransactionCall::new(&wf, 2, "withdraw");
    let mut failing = deposit(3, &wf, error("\"no\""), n.clone());
    ok(
        store.run_transaction(call.clone(), &mut failing).await,
        "error",
    );
    let replayed = ok(
        store.run_transaction(call, &mut first).await,
        "replay error",
    );
    assert_eq!(replayed.outcome, error("\"no\""), "errors replay too");
    assert!(replayed.replayed);
    assert_eq!(runs(&n), 2);

    let e = err(
        store
            .run_transaction(TransactionCall::new(&wf, 1, "withdraw"), &mut other)
            .await,
        ErrorKind::UnexpectedStep,
        "another name at a recorded position",
    );
    assert!(
        e.message().contains("\"deposit\""),
        "names the recorded one: {e}"
    );
    assert!(
        e.message().contains("\"withdraw\""),
        "names the new one: {e}"
    );
    assert_eq!(runs(&n), 2);
    assert_eq!(accounts_of(&store, &wf).await, 1);
    factory.destroy(store).await;
}

/// Executions of one transaction step racing each other record it once: one runs and commits,
/// every other one replays its outcome or fails with `StepConflict`, and only the winner's
/// writes remain.
pub async fn a_concurrent_duplicate_records_once<F: AppFactory>(factory: &F) {
    const RIVALS: i64 = 4;
    let store = Arc::new(store_with_tables(factory).await);
    let wf = fresh_id("wf-race");
    let n = counter();
    let mut tasks = Vec::new();
    for i in 0..RIVALS {
        let (store, wf, n) = (store.clone(), wf.clone(), n.clone());
        tasks.push(tokio::spawn(async move {
            let mut body = deposit(i, &wf, output(&format!("\"rival {i}\"")), n);
            store
                .run_transaction(TransactionCall::new(&wf, 1, "open"), &mut body)
                .await
        }));
    }
    let mut results: Vec<Result<_>> = Vec::new();
    for task in tasks {
        results.push(task.await.expect("a racing transaction panicked"));
    }
    let winners: Vec<&Outcome> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|done| !done.replayed)
        .map(|done| &done.outcome)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one run records: {results:?}");
    let winner = winners[0].clone();
    for result in &results {
        match result {
            Ok(done) => assert_eq!(done.outcome, winner, "every answer is the winner's"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::StepConflict, "a loser fails with: {e}"),
        }
    }
    assert_eq!(
        accounts_of(store.as_ref(), &wf).await,
        1,
        "only the winner's write"
    );
    assert_eq!(
        ok(store.recorded_transaction(&wf, 1).await, "recorded"),
        Some(RecordedTransaction::new("open", Some(winner)))
    );
    let store = Arc::into_inner(store).expect("every racing task has finished");
    factory.destroy(store).await;
}

/// Calls with an empty or NUL-bearing workflow id, a negative position or a NUL in the name are
/// `InvalidInput` before the body runs; an output or error the store cannot keep is
/// `InvalidInput` saying why, and the writes roll back.
pub async fn bad_arguments_are_invalid_input<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let n = counter();
    let mut body = deposit(1, &wf, output("\"ok\""), n.clone());
    for (call, says) in [
        (TransactionCall::new("", 1, "t"), "workflow id is empty"),
        (
            TransactionCall::new("nul\0id", 1, "t"),
            "workflow id contains a NUL",
        ),
        (
            TransactionCall::new(&wf, -1, "t"),
            "function_id -1 is negative",
        ),
        (
            TransactionCall::new(&wf, 1, "nul\0name"),
            "transaction name contains a NUL",
        ),
    ] {
        let e = err(
            store.run_transaction(call, &mut body).await,
            ErrorKind::InvalidInput,
            says,
        );
        assert!(e.message().contains(says), "the message says {says:?}: {e}");
    }
    assert_eq!(runs(&n), 0, "a refused call ran the body");
    err(
        store.recorded_transaction("", 1).await,
        ErrorKind::InvalidInput,
        "recorded_transaction of an empty id",
    );
    let mut bad_output = deposit(2, &wf, output("nul\0output"), n.clone());
    let e = err(
        store
            .run_transaction(TransactionCall::new(&wf, 1, "t"), &mut bad_output)
            .await,
        ErrorKind::InvalidInput,
        "an output with a NUL byte",
    );
    assert!(e.message().contains("NUL"), "says why: {e}");
    let mut bad_error = deposit(3, &wf, error("nul\0error"), n.clone());
    let e = err(
        store
            .run_transaction(TransactionCall::new(&wf, 2, "t"), &mut bad_error)
            .await,
        ErrorKind::InvalidInput,
        "an error outcome with a NUL byte",
    );
    assert!(e.message().contains("NUL"), "says why: {e}");
    assert_eq!(accounts_of(&store, &wf).await, 0, "the writes rolled back");
    assert_eq!(ok(store.recorded_transaction(&wf, 1).await, "read"), None);
    assert_eq!(ok(store.recorded_transaction(&wf, 2).await, "read"), None);
    factory.destroy(store).await;
}

/// A body cannot end the store's transaction: `COMMIT` is `InvalidInput` and nothing of the
/// body commits.
pub async fn bodies_cannot_end_the_transaction<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let owner = wf.clone();
    let mut body = transaction_body(|tx| {
        let owner = owner.clone();
        Box::pin(async move {
            tx.execute(
                "INSERT INTO accounts (id, owner, balance) VALUES (1, :owner, 0)",
                Params::new().bind("owner", owner),
            )
            .await?;
            tx.execute("COMMIT", Params::new()).await?;
            Ok(output("\"unreachable\""))
        })
    });
    err(
        store
            .run_transaction(TransactionCall::new(&wf, 1, "commits"), &mut body)
            .await,
        ErrorKind::InvalidInput,
        "COMMIT inside a body",
    );
    assert_eq!(accounts_of(&store, &wf).await, 0);
    assert_eq!(ok(store.recorded_transaction(&wf, 1).await, "read"), None);
    factory.destroy(store).await;
}

/// After `close`, every call fails with `Closed`, and closing again is fine.
pub async fn a_closed_store_refuses_work<F: AppFactory>(factory: &F) {
    let store = factory.create().await;
    ok(store.close().await, "close");
    ok(store.close().await, "close again");
    let mut body = transaction_body(|_tx| Box::pin(async { Ok(output("\"x\"")) }));
    err(
        store
            .run_transaction(TransactionCall::new("wf", 1, "t"), &mut body)
            .await,
        ErrorKind::Closed,
        "run_transaction",
    );
    err(store.migrate().await, ErrorKind::Closed, "migrate");
    err(
        store.recorded_transaction("wf", 1).await,
        ErrorKind::Closed,
        "recorded_transaction",
    );
    let folder = tempfile::tempdir().expect("a temporary folder");
    err(
        store.run_migrations(folder.path()).await,
        ErrorKind::Closed,
        "run_migrations",
    );
    factory.destroy(store).await;
}

/// `delete_transaction_outputs` removes a workflow's rows from a position on (0: all of them)
/// and, with `created_before`, only older ones; `transaction_output_workflows` pages through the
/// workflows with rows, in id order.
pub async fn recorded_outputs_are_deleted_and_listed<F: AppFactory>(factory: &F) {
    let store = factory.create().await;
    let prefix = fresh_id("gc");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    for wf in [&a, &b] {
        for function_id in 0..4 {
            record(&store, wf, function_id).await;
        }
    }
    let far_future = i64::MAX / 2;
    let listed = ok(
        store
            .transaction_output_workflows(far_future, None, 10)
            .await,
        "list",
    );
    assert_eq!(listed, [a.clone(), b.clone()]);
    assert_eq!(
        ok(
            store
                .transaction_output_workflows(far_future, None, 1)
                .await,
            "page 1"
        ),
        std::slice::from_ref(&a)
    );
    assert_eq!(
        ok(
            store
                .transaction_output_workflows(far_future, Some(&a), 1)
                .await,
            "page 2"
        ),
        std::slice::from_ref(&b)
    );
    assert!(ok(
        store.transaction_output_workflows(0, None, 10).await,
        "none older"
    )
    .is_empty());

    let both = [a.clone(), b.clone()];
    assert_eq!(
        ok(
            store.delete_transaction_outputs(&both, 0, Some(0)).await,
            "none older"
        ),
        0
    );
    assert_eq!(
        ok(
            store
                .delete_transaction_outputs(std::slice::from_ref(&a), 2, None)
                .await,
            "from 2"
        ),
        2
    );
    assert!(ok(store.recorded_transaction(&a, 1).await, "kept").is_some());
    assert!(ok(store.recorded_transaction(&a, 2).await, "deleted").is_none());
    assert_eq!(
        ok(
            store
                .delete_transaction_outputs(&both, 0, Some(far_future))
                .await,
            "all"
        ),
        6
    );
    assert_eq!(
        ok(
            store.delete_transaction_outputs(&both, 0, None).await,
            "again"
        ),
        0,
        "deleting is idempotent"
    );
    assert!(ok(
        store
            .transaction_output_workflows(far_future, None, 10)
            .await,
        "empty"
    )
    .is_empty());
    err(
        store.delete_transaction_outputs(&both, -1, None).await,
        ErrorKind::InvalidInput,
        "a negative position",
    );
    factory.destroy(store).await;
}

/// Records an output for step `function_id` of `workflow_id` with a body that writes nothing.
async fn record<S: AppStore>(store: &S, workflow_id: &str, function_id: i32) {
    let mut body = transaction_body(|_tx| Box::pin(async { Ok(output("\"done\"")) }));
    ok(
        store
            .run_transaction(
                TransactionCall::new(workflow_id, function_id, "step"),
                &mut body,
            )
            .await,
        "record a step",
    );
}
