//! The neutral handle: named parameters, the value type, `RETURNING`, and rows read into serde
//! structs.

use std::sync::atomic::{AtomicI64, Ordering};

use dbos_storage_core::app::transaction_body;
use dbos_storage_core::{AppStore, ErrorKind, Outcome, Params, Row, TransactionCall, Value};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use serde::{Deserialize, Serialize};

use super::fixtures::{count, fresh_id, output, read, store_with_tables};
use crate::checks::ok;
use crate::runner::{block_in_place, proptest_config};
use crate::AppFactory;

/// One row of `vals`: an integer, a double, a text and bytes, each possibly NULL.
type Vals = (Option<i64>, Option<f64>, Option<String>, Option<Vec<u8>>);

fn vals() -> impl Strategy<Value = Vals> {
    let float = prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO;
    (
        prop::option::of(any::<i64>()),
        prop::option::of(float),
        prop::option::of("\\PC{0,24}"),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..24)),
    )
}

/// Random integers (the whole `i64` range), finite doubles, texts (any printable Unicode,
/// quotes and colons included) and byte strings, each possibly NULL, bound by name, written
/// and read back exactly.
pub async fn values_round_trip<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let next_id = AtomicI64::new(1);
    let outcome = block_in_place(|rt| {
        TestRunner::new(proptest_config()).run(&vals(), |row| {
            let id = next_id.fetch_add(1, Ordering::SeqCst);
            rt.block_on(round_trip(&store, id, row))
        })
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, row)) => panic!("{reason}; minimal row: {row:?}"),
        Err(TestError::Abort(reason)) => panic!("the value property aborted: {reason}"),
    }
    factory.destroy(store).await;
}

/// Writes `row` as `vals` row `id` and compares what reads back.
async fn round_trip<S: AppStore>(store: &S, id: i64, row: Vals) -> Result<(), TestCaseError> {
    let (i, f, t, b) = row.clone();
    let params = Params::new()
        .bind("id", id)
        .bind("i", i)
        .bind("f", f)
        .bind("t", t.clone())
        .bind("b", b.clone());
    let mut insert = transaction_body(|tx| {
        let params = params.clone();
        Box::pin(async move {
            let n = tx
                .execute(
                    "INSERT INTO vals (id, i, f, t, b) VALUES (:id, :i, :f, :t, :b)",
                    params,
                )
                .await?;
            Ok(output(&n.to_string()))
        })
    });
    let done = store
        .run_transaction(
            TransactionCall::new(fresh_id("vals"), 1, "write"),
            &mut insert,
        )
        .await
        .map_err(|e| TestCaseError::fail(format!("writing {row:?}: {e}")))?;
    prop_assert_eq!(done.outcome, output("1"), "one row written");
    let rows = read(
        store,
        "SELECT i, f, t, b FROM vals WHERE id = :id",
        Params::new().bind("id", id),
    )
    .await;
    let want = vec![
        Value::from(i),
        Value::from(f),
        Value::from(t),
        Value::from(b),
    ];
    prop_assert_eq!(rows.len(), 1);
    prop_assert_eq!(rows[0].values(), want.as_slice(), "read back {:?}", row);
    Ok(())
}

/// An account as the suite's rows deserialize into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    id: i64,
    owner: String,
    balance: i64,
}

/// Parameters bind by name: a name used twice is one value, unused bindings are ignored, a
/// binding may start with `:`, and an unbound name is `InvalidInput` naming it. `RETURNING`
/// returns the written rows (and `execute` counts them), and rows deserialize into serde
/// structs with `query_as` and `query_opt` (which refuses two rows).
pub async fn named_parameters_bind_by_name<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let wf = fresh_id("wf");
    let owner = wf.clone();
    let mut body = transaction_body(|tx| {
        let owner = owner.clone();
        Box::pin(async move {
            let rows: Vec<Row> = tx
                .query(
                    "INSERT INTO accounts (id, owner, balance) VALUES (:id, :owner, :balance) \
                     RETURNING id, owner",
                    Params::new()
                        .bind("id", 1)
                        .bind("owner", owner.as_str())
                        .bind(":balance", 3)
                        .bind("unused", "ignored"),
                )
                .await?;
            assert_eq!(rows.len(), 1, "RETURNING gives the written row: {rows:?}");
            assert_eq!(rows[0].columns(), ["id", "owner"]);
            assert_eq!(rows[0].get("owner"), Some(&Value::from(owner.as_str())));
            assert_eq!(rows[0].get("id"), Some(&Value::Int(1)));
            tx.execute(
                "INSERT INTO accounts (id, owner, balance) VALUES (2, :owner, 7)",
                Params::new().bind("owner", owner.as_str()),
            )
            .await?;
            let changed = tx
                .execute(
                    "UPDATE accounts SET balance = balance + :step + :step WHERE owner = :owner \
                     RETURNING balance",
                    Params::new().bind("step", 1).bind("owner", owner.as_str()),
                )
                .await?;
            assert_eq!(changed, 2, "execute counts the changed rows");

            let all: Vec<Account> = tx
                .query_as(
                    "SELECT id, owner, balance FROM accounts WHERE owner = :owner ORDER BY id",
                    Params::new().bind("owner", owner.as_str()),
                )
                .await?;
            let by = |id: i64| {
                let owner = owner.clone();
                Params::new().bind("owner", owner).bind("id", id)
            };
            let one: Option<Account> = tx
                .query_opt(
                    "SELECT id, owner, balance FROM accounts WHERE owner = :owner AND id = :id",
                    by(2),
                )
                .await?;
            let none: Option<Account> = tx
                .query_opt(
                    "SELECT id, owner, balance FROM accounts WHERE owner = :owner AND id = :id",
                    by(99),
                )
                .await?;
            assert_eq!(one.as_ref(), all.get(1));
            assert_eq!(none, None);
            let two = tx
                .query_opt::<Account>(
                    "SELECT id, owner, balance FROM accounts WHERE owner = :owner",
                    Params::new().bind("owner", owner.as_str()),
                )
                .await
                .expect_err("query_opt with two rows");
            assert_eq!(two.kind(), ErrorKind::InvalidInput, "{two}");

            let missing = tx
                .query(
                    "SELECT id FROM accounts WHERE owner = :owner AND id = :missing",
                    Params::new().bind("owner", owner.as_str()),
                )
                .await
                .expect_err("an unbound parameter");
            assert_eq!(missing.kind(), ErrorKind::InvalidInput, "{missing}");
            assert!(
                missing.message().contains(":missing"),
                "names it: {missing}"
            );
            Ok(output(
                &serde_json::to_string(&all).expect("accounts serialize"),
            ))
        })
    });
    let done = ok(
        store
            .run_transaction(TransactionCall::new(&wf, 1, "accounts"), &mut body)
            .await,
        "the parameters transaction",
    );
    let Outcome::Output(payload) = done.outcome else {
        panic!("expected an output, got {done:?}");
    };
    let accounts: Vec<Account> =
        serde_json::from_str(&payload.text).expect("the recorded accounts parse");
    assert_eq!(
        accounts,
        [
            Account {
                id: 1,
                owner: wf.clone(),
                balance: 5
            },
            Account {
                id: 2,
                owner: wf.clone(),
                balance: 9
            },
        ]
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM accounts WHERE owner = :owner",
            Params::new().bind("owner", wf.as_str())
        )
        .await,
        2
    );
    factory.destroy(store).await;
}
