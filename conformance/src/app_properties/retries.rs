//! Retries: a retryable error re-runs the whole body and only the last run commits, and
//! concurrent read-modify-write transactions lose no update, whether the backend serializes
//! them up front (SQLite's single writer) or retries their serialization failures
//! (PostgreSQL's `SERIALIZABLE`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use dbos_storage_core::app::transaction_body;
use dbos_storage_core::{AppStore, Error, ErrorKind, Outcome, Params, TransactionCall, Value};

use super::fixtures::{count, fresh_id, output, read, store_with_tables};
use crate::checks::ok;
use crate::AppFactory;

/// A body that fails with a serialization failure, then with contention, then succeeds runs
/// three times in one call; only the third run's write commits, with its output.
pub async fn retryable_errors_re_run_the_body<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let owner = wf.clone();
    let runs = Arc::new(AtomicU32::new(0));
    let mut body = transaction_body(|tx| {
        let (owner, runs) = (owner.clone(), runs.clone());
        Box::pin(async move {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            tx.execute(
                "INSERT INTO accounts (id, owner, balance) VALUES (1, :owner, :run)",
                Params::new().bind("owner", owner).bind("run", run),
            )
            .await?;
            match run {
                1 => Err(Error::new(
                    ErrorKind::SerializationFailure,
                    "injected by the conformance suite",
                )),
                2 => Err(Error::new(
                    ErrorKind::Contention,
                    "injected by the conformance suite",
                )),
                _ => Ok(output("\"third time\"")),
            }
        })
    });
    let done = ok(
        store
            .run_transaction(TransactionCall::new(&wf, 1, "deposit"), &mut body)
            .await,
        "a body failing twice with retryable errors",
    );
    assert_eq!(done.attempts, 3);
    assert_eq!(done.outcome, output("\"third time\""));
    let balances = read(
        &store,
        "SELECT balance FROM accounts WHERE owner = :owner",
        Params::new().bind("owner", wf.as_str()),
    )
    .await;
    let balances: Vec<&[Value]> = balances.iter().map(|r| r.values()).collect();
    assert_eq!(
        balances,
        [[Value::Int(3)]],
        "only the last run's write commits"
    );
    factory.destroy(store).await;
}

/// Concurrent transactions that each read a balance and write it plus one end with the exact
/// total, and each records the value it wrote: no update is lost and none is applied twice.
pub async fn concurrent_increments_lose_no_update<F: AppFactory>(factory: &F) {
    const TASKS: i32 = 8;
    let store = Arc::new(store_with_tables(factory).await);
    let wf = fresh_id("wf-inc");
    let mut open = transaction_body(|tx| {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO accounts (id, owner, balance) VALUES (1, 'counter', 0)",
                Params::new(),
            )
            .await?;
            Ok(output("0"))
        })
    });
    ok(
        store
            .run_transaction(TransactionCall::new(&wf, 0, "open"), &mut open)
            .await,
        "open the counter",
    );
    let mut tasks = Vec::new();
    for i in 1..=TASKS {
        let (store, wf) = (store.clone(), wf.clone());
        tasks.push(tokio::spawn(async move {
            let mut increment = transaction_body(|tx| {
                Box::pin(async move {
                    let rows = tx
                        .query("SELECT balance FROM accounts WHERE id = 1", Params::new())
                        .await?;
                    let Some(Value::Int(balance)) = rows.first().and_then(|r| r.get("balance"))
                    else {
                        panic!("expected the counter's balance, got {rows:?}");
                    };
                    let next = balance + 1;
                    tokio::task::yield_now().await;
                    tx.execute(
                        "UPDATE accounts SET balance = :next WHERE id = 1",
                        Params::new().bind("next", next),
                    )
                    .await?;
                    Ok(output(&next.to_string()))
                })
            });
            store
                .run_transaction(TransactionCall::new(&wf, i, "increment"), &mut increment)
                .await
        }));
    }
    let mut recorded = Vec::new();
    for task in tasks {
        let done = ok(task.await.expect("an increment panicked"), "an increment");
        assert!(!done.replayed);
        let Outcome::Output(payload) = done.outcome else {
            panic!("an increment returned {done:?}");
        };
        recorded.push(payload.text.parse::<i64>().expect("an increment's output"));
    }
    recorded.sort_unstable();
    let expected: Vec<i64> = (1..=i64::from(TASKS)).collect();
    assert_eq!(recorded, expected, "each increment saw a distinct balance");
    assert_eq!(
        count(
            store.as_ref(),
            "SELECT balance FROM accounts WHERE id = 1",
            Params::new()
        )
        .await,
        i64::from(TASKS)
    );
    for i in 1..=TASKS {
        assert!(
            ok(store.recorded_transaction(&wf, i).await, "recorded").is_some(),
            "increment {i} is recorded"
        );
    }
    let store = Arc::into_inner(store).expect("every increment has finished");
    factory.destroy(store).await;
}
