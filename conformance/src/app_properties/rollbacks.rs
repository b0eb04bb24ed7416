//! Rollbacks: a transaction whose body fails leaves none of its writes. An error outcome is
//! recorded (as DBOS records a transaction's exception) and replays; a database error records
//! nothing, so the step can run again; a body that panics leaves no transaction open.

use std::sync::Arc;

use dbos_storage_core::app::transaction_body;
use dbos_storage_core::{AppStore, ErrorKind, Params, RecordedTransaction, TransactionCall};

use super::fixtures::{
    accounts_of, counter, deposit, error, fresh_id, output, runs, store_with_tables,
};
use crate::checks::{err, ok};
use crate::AppFactory;

/// A body that writes and returns an error outcome: the writes roll back, the error is
/// recorded under the transaction's name, returned now and replayed later without running.
pub async fn an_error_outcome_rolls_back_and_is_recorded<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let n = counter();
    let overdrawn = error("{\"message\":\"overdrawn\"}");
    let call = TransactionCall::new(&wf, 1, "withdraw");
    let mut body = deposit(1, &wf, overdrawn.clone(), n.clone());
    let done = ok(
        store.run_transaction(call.clone(), &mut body).await,
        "withdraw",
    );
    assert_eq!(done.outcome, overdrawn);
    assert!(!done.replayed);
    assert_eq!(done.attempts, 1);
    assert_eq!(
        accounts_of(&store, &wf).await,
        0,
        "the body's writes rolled back"
    );
    assert_eq!(
        ok(store.recorded_transaction(&wf, 1).await, "recorded"),
        Some(RecordedTransaction::new(
            "withdraw",
            Some(overdrawn.clone())
        ))
    );
    let again = ok(store.run_transaction(call, &mut body).await, "replay");
    assert_eq!(again.outcome, overdrawn);
    assert!(again.replayed);
    assert_eq!(runs(&n), 1, "a recorded error ran again");
    assert_eq!(accounts_of(&store, &wf).await, 0);
    factory.destroy(store).await;
}

/// A database error the body returns fails the call with that error (kind `Backend`, naming
/// what failed), rolls back the body's writes and records nothing: the same step runs and
/// records on the next call.
pub async fn a_database_error_records_nothing<F: AppFactory>(factory: &F) {
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
            tx.execute("INSERT INTO no_such_table (x) VALUES (1)", Params::new())
                .await?;
            Ok(output("\"unreachable\""))
        })
    });
    let call = TransactionCall::new(&wf, 1, "deposit");
    let e = err(
        store.run_transaction(call.clone(), &mut body).await,
        ErrorKind::Backend,
        "an insert into a missing table",
    );
    assert!(
        e.to_string().contains("no_such_table"),
        "names the table: {e}"
    );
    assert_eq!(
        accounts_of(&store, &wf).await,
        0,
        "the first insert rolled back"
    );
    assert_eq!(ok(store.recorded_transaction(&wf, 1).await, "read"), None);

    let n = counter();
    let mut fine = deposit(2, &wf, output("\"ok\""), n.clone());
    let done = ok(
        store.run_transaction(call, &mut fine).await,
        "the step again",
    );
    assert!(!done.replayed, "nothing was recorded to replay");
    assert_eq!(runs(&n), 1);
    assert_eq!(accounts_of(&store, &wf).await, 1);
    factory.destroy(store).await;
}

/// A body that panics mid-transaction panics its caller's task; its writes never commit and
/// the store runs the next transaction normally.
pub async fn a_panicking_body_leaves_nothing_behind<F: AppFactory>(factory: &F) {
    let store = Arc::new(store_with_tables(factory).await);
    let wf = fresh_id("wf");
    let (task_store, ghost) = (store.clone(), format!("{wf}-ghost"));
    let task = tokio::spawn(async move {
        let mut body = transaction_body(|tx| {
            let ghost = ghost.clone();
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO accounts (id, owner, balance) VALUES (1, :owner, 0)",
                    Params::new().bind("owner", ghost),
                )
                .await?;
                panic!("the body panics mid-transaction (expected by the conformance suite)");
            })
        });
        task_store
            .run_transaction(TransactionCall::new("panics", 1, "panics"), &mut body)
            .await
    });
    let joined = task.await;
    assert!(
        joined.as_ref().is_err_and(|e| e.is_panic()),
        "the panic reaches the caller: {joined:?}"
    );
    let n = counter();
    let mut body = deposit(1, &wf, output("\"ok\""), n.clone());
    ok(
        store
            .run_transaction(TransactionCall::new(&wf, 1, "deposit"), &mut body)
            .await,
        "the next transaction",
    );
    assert_eq!(accounts_of(store.as_ref(), &format!("{wf}-ghost")).await, 0);
    assert_eq!(accounts_of(store.as_ref(), &wf).await, 1);
    let store = Arc::into_inner(store).expect("the panicking task has finished");
    factory.destroy(store).await;
}

/// A body that writes and returns [`Outcome::Void`](dbos_storage_core::Outcome::Void) fails
/// with `InvalidInput`: `transaction_outputs` keeps a successful transaction's output as text
/// (DBOS serializes a `None` too, and cannot replay a row with neither output nor error), so the
/// writes roll back and nothing is recorded; the step can then run with an encoded output.
pub async fn a_void_outcome_is_refused_and_rolls_back<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let n = counter();
    let call = TransactionCall::new(&wf, 1, "deposit");
    let mut body = deposit(1, &wf, dbos_storage_core::Outcome::Void, n.clone());
    let e = err(
        store.run_transaction(call.clone(), &mut body).await,
        ErrorKind::InvalidInput,
        "a void transaction output",
    );
    assert!(
        e.message()
            .contains("returned no output: transaction_outputs records a transaction's output"),
        "{e}"
    );
    assert_eq!(accounts_of(&store, &wf).await, 0, "the writes rolled back");
    assert_eq!(
        ok(store.recorded_transaction(&wf, 1).await, "recorded"),
        None
    );
    let unit = output("null");
    let mut body = deposit(1, &wf, unit.clone(), n.clone());
    let done = ok(store.run_transaction(call, &mut body).await, "deposit");
    assert_eq!(done.outcome, unit);
    assert_eq!(accounts_of(&store, &wf).await, 1);
    factory.destroy(store).await;
}
