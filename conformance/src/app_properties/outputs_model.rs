//! Random sequences of transactions compared with a small in-memory model of
//! `transaction_outputs`: which positions are recorded, with which name and outcome, and which
//! bodies ran and left their writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use dbos_storage_core::app::transaction_body;
use dbos_storage_core::{
    AppStore, ErrorKind, Outcome, Params, RecordedTransaction, TransactionCall, Value,
};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

use super::fixtures::{error, fresh_id, output, read, store_with_tables};
use crate::runner::{block_in_place, proptest_config};
use crate::AppFactory;

/// What a generated transaction's body does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Writes an account and returns an output: both commit and the output is recorded.
    Output,
    /// Writes an account and returns an error outcome: the write rolls back, the error is
    /// recorded.
    ErrorOutcome,
    /// Writes an account, then fails on a missing table: nothing commits or is recorded.
    DatabaseError,
    /// A read-only transaction that counts accounts: nothing is recorded.
    ReadOnly,
}

/// One generated call: step `function_id` of workflow `workflow`, named `name`.
#[derive(Debug, Clone)]
struct Op {
    workflow: u8,
    function_id: i32,
    name: &'static str,
    body: Body,
    text: u8,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..2_u8,
        0..3_i32,
        prop::sample::select(vec!["deposit", "withdraw"]),
        prop::sample::select(vec![
            Body::Output,
            Body::ErrorOutcome,
            Body::DatabaseError,
            Body::ReadOnly,
        ]),
        any::<u8>(),
    )
        .prop_map(|(workflow, function_id, name, body, text)| Op {
            workflow,
            function_id,
            name,
            body,
            text,
        })
}

/// The model: the recorded row of each `(workflow, function_id)`.
type Recorded = BTreeMap<(String, i32), RecordedTransaction>;

/// Up to 16 random transactions over two workflows and three positions, with two names and
/// every kind of body, run on the store and on the model: every answer (outcome, replay flag,
/// attempts, error kind), every recorded row and every body run match, and at the end exactly
/// the writes of recorded outputs remain.
pub async fn matches_the_recorded_outputs_model<F: AppFactory>(factory: &F) {
    let store = store_with_tables(factory).await;
    let outcome = block_in_place(|rt| {
        let ops = prop::collection::vec(op(), 1..16);
        TestRunner::new(proptest_config()).run(&ops, |ops| rt.block_on(run_case(&store, ops)))
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => panic!("{reason}\nminimal sequence: {ops:#?}"),
        Err(TestError::Abort(reason)) => panic!("the model property aborted: {reason}"),
    }
    factory.destroy(store).await;
}

/// Runs one sequence in workflows of its own and compares it with the model.
async fn run_case<S: AppStore>(store: &S, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let prefix = fresh_id("model");
    let mut model = Recorded::new();
    let mut committed = BTreeSet::new();
    let runs = Arc::new(AtomicU32::new(0));
    for (step, op) in ops.iter().enumerate() {
        let workflow_id = format!("{prefix}-w{}", op.workflow);
        let key = (workflow_id.clone(), op.function_id);
        let owner = format!("{workflow_id}/{}/{step}", op.function_id);
        let text = format!("\"{} {}\"", op.name, op.text);
        let before = runs.load(Ordering::SeqCst);
        let call = TransactionCall::new(&workflow_id, op.function_id, op.name)
            .read_only(op.body == Body::ReadOnly);
        let mut body = body_of(op.body, step, owner.clone(), text.clone(), runs.clone());
        let got = store.run_transaction(call, &mut body).await;
        let ran = runs.load(Ordering::SeqCst) - before;
        let what = format!("transaction {step} {op:?}");

        match model.get(&key) {
            Some(recorded) if recorded.function_name != op.name => {
                let e = match got {
                    Err(e) => e,
                    Ok(done) => {
                        return Err(TestCaseError::fail(format!(
                            "{what}: expected UnexpectedStep, got {done:?}"
                        )))
                    }
                };
                prop_assert_eq!(e.kind(), ErrorKind::UnexpectedStep, "{}: {}", what, e);
                prop_assert_eq!(ran, 0, "{}: the body ran", what);
            }
            Some(recorded) => {
                let done = got.map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
                prop_assert!(done.replayed, "{}: not a replay: {:?}", what, done);
                prop_assert_eq!(done.attempts, 0, "{}", what);
                prop_assert_eq!(Some(&done.outcome), recorded.outcome.as_ref(), "{}", what);
                prop_assert_eq!(ran, 0, "{}: the body ran on a replay", what);
            }
            None => {
                prop_assert_eq!(ran, 1, "{}: the body ran {} times", what, ran);
                match op.body {
                    Body::DatabaseError => {
                        let e = match got {
                            Err(e) => e,
                            Ok(done) => {
                                return Err(TestCaseError::fail(format!(
                                    "{what}: expected a database error, got {done:?}"
                                )))
                            }
                        };
                        prop_assert_eq!(e.kind(), ErrorKind::Backend, "{}: {}", what, e);
                    }
                    Body::ReadOnly => {
                        let done = got.map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
                        prop_assert!(!done.replayed, "{}", what);
                        prop_assert_eq!(
                            done.outcome,
                            output(&committed.len().to_string()),
                            "{}: the accounts it counted",
                            what
                        );
                    }
                    Body::Output | Body::ErrorOutcome => {
                        let done = got.map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
                        let want = if op.body == Body::Output {
                            output(&text)
                        } else {
                            error(&text)
                        };
                        prop_assert!(!done.replayed, "{}", what);
                        prop_assert_eq!(done.attempts, 1, "{}", what);
                        prop_assert_eq!(&done.outcome, &want, "{}", what);
                        if op.body == Body::Output {
                            committed.insert(owner.clone());
                        }
                        model.insert(key.clone(), RecordedTransaction::new(op.name, Some(want)));
                    }
                }
            }
        }
        let row = store
            .recorded_transaction(&key.0, key.1)
            .await
            .map_err(|e| TestCaseError::fail(format!("{what}: reading the row: {e}")))?;
        prop_assert_eq!(row.as_ref(), model.get(&key), "{}: the recorded row", what);
    }
    let rows = read(
        store,
        "SELECT owner FROM accounts WHERE owner LIKE :prefix ORDER BY owner",
        Params::new().bind("prefix", format!("{prefix}%")),
    )
    .await;
    let owners: BTreeSet<String> = rows
        .iter()
        .map(|r| match r.values() {
            [Value::Text(owner)] => owner.clone(),
            other => panic!("an owner is text, got {other:?}"),
        })
        .collect();
    prop_assert_eq!(owners, committed, "the writes that committed");
    Ok(())
}

/// The body of a generated transaction: it counts its runs, and writes an account of `owner`
/// (id `step` of this case) unless it is read-only.
fn body_of(
    body: Body,
    step: usize,
    owner: String,
    text: String,
    runs: Arc<AtomicU32>,
) -> impl for<'t> FnMut(
    &'t mut dyn dbos_storage_core::AppTransaction,
) -> dbos_storage_core::app::BoxFuture<'t, dbos_storage_core::Result<Outcome>>
       + Send {
    transaction_body(move |tx| {
        let (owner, text, runs) = (owner.clone(), text.clone(), runs.clone());
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            if body == Body::ReadOnly {
                let rows = tx
                    .query(
                        "SELECT count(*) AS n FROM accounts WHERE owner LIKE :prefix",
                        Params::new().bind("prefix", format!("{}%", prefix_of(&owner))),
                    )
                    .await?;
                let n = match rows.first().map(|r| r.values()) {
                    Some([Value::Int(n)]) => *n,
                    other => panic!("count(*) is one integer, got {other:?}"),
                };
                return Ok(output(&n.to_string()));
            }
            tx.execute(
                "INSERT INTO accounts (id, owner, balance) VALUES (:id, :owner, 0)",
                Params::new()
                    .bind("id", account_id(&owner, step))
                    .bind("owner", owner),
            )
            .await?;
            match body {
                Body::Output => Ok(output(&text)),
                Body::ErrorOutcome => Ok(error(&text)),
                _ => {
                    tx.execute("INSERT INTO no_such_table (x) VALUES (1)", Params::new())
                        .await?;
                    Ok(output("\"unreachable\""))
                }
            }
        })
    })
}

/// The case prefix of an owner `{prefix}-w{n}/{function_id}/{step}`.
fn prefix_of(owner: &str) -> &str {
    owner.rsplit_once("-w").map_or(owner, |(prefix, _)| prefix)
}

/// A unique account id: the cases share the table, so the id mixes a hash of the case's
/// prefix with the step.
fn account_id(owner: &str, step: usize) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    prefix_of(owner).hash(&mut hasher);
    let case = (hasher.finish() >> 16) as i64;
    case * 64 + i64::try_from(step).expect("a small step")
}
