//! Read-only transactions: they read, cannot write, and record nothing (their result is
//! checkpointed by the system store's step record alone).

use dbos_storage_core::app::transaction_body;
use dbos_storage_core::{AppStore, Params, TransactionCall, Value};

use super::fixtures::{
    accounts_of, counter, deposit, error, fresh_id, output, runs, store_with_tables,
};
use crate::checks::ok;
use crate::AppFactory;

/// A write inside a read-only transaction fails, not retryably, with a message saying the
/// transaction or database is read-only, and leaves nothing; a read answers and records
/// nothing, an error outcome is returned and not recorded, and the next read-write transaction
/// writes.
pub async fn read_only_transactions_cannot_write<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let n = counter();
    let mut write = deposit(1, &wf, output("\"1\""), n.clone());
    let result = store
        .run_transaction(
            TransactionCall::new(&wf, 1, "deposit").read_only(true),
            &mut write,
        )
        .await;
    let e = match result {
        Err(e) => e,
        Ok(done) => panic!("a write in a read-only transaction succeeded: {done:?}"),
    };
    assert!(
        !e.is_retryable(),
        "a read-only violation is not retryable: {e}"
    );
    let said = e.to_string().to_lowercase().replace('-', "");
    assert!(said.contains("readonly"), "the message says read-only: {e}");
    assert_eq!(accounts_of(&store, &wf).await, 0);
    assert_eq!(ok(store.recorded_transaction(&wf, 1).await, "read"), None);

    let mut setup = deposit(2, &wf, output("\"setup\""), n.clone());
    ok(
        store
            .run_transaction(TransactionCall::new(&wf, 2, "setup"), &mut setup)
            .await,
        "a read-write deposit",
    );
    let owner = wf.clone();
    let mut balance = transaction_body(|tx| {
        let owner = owner.clone();
        Box::pin(async move {
            let rows = tx
                .query(
                    "SELECT balance FROM accounts WHERE owner = :owner",
                    Params::new().bind("owner", owner),
                )
                .await?;
            match rows.first().and_then(|r| r.get("balance")) {
                Some(Value::Int(b)) => Ok(output(&b.to_string())),
                other => panic!("expected the balance, got {other:?} in {rows:?}"),
            }
        })
    });
    let done = ok(
        store
            .run_transaction(
                TransactionCall::new(&wf, 3, "balance").read_only(true),
                &mut balance,
            )
            .await,
        "a read-only read",
    );
    assert_eq!(done.outcome, output("10"));
    assert!(!done.replayed);
    assert_eq!(done.attempts, 1);
    assert_eq!(
        ok(store.recorded_transaction(&wf, 3).await, "read"),
        None,
        "a read-only transaction records nothing"
    );

    let mut refuses = transaction_body(|_tx| Box::pin(async { Ok(error("\"nope\"")) }));
    let done = ok(
        store
            .run_transaction(
                TransactionCall::new(&wf, 4, "balance").read_only(true),
                &mut refuses,
            )
            .await,
        "a read-only error outcome",
    );
    assert_eq!(done.outcome, error("\"nope\""));
    assert_eq!(ok(store.recorded_transaction(&wf, 4).await, "read"), None);

    let mut write = deposit(5, &wf, output("\"5\""), n.clone());
    ok(
        store
            .run_transaction(TransactionCall::new(&wf, 5, "deposit"), &mut write)
            .await,
        "read-write after read-only",
    );
    assert_eq!(accounts_of(&store, &wf).await, 2);
    assert_eq!(runs(&n), 3);
    factory.destroy(store).await;
}
