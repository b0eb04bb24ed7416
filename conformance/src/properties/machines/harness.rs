//! How every machine runs: generate a sequence, run each operation on the reference and on the
//! store, compare, pause, and compare the final state; on failure, print the shrunk sequence as
//! Rust.

use std::fmt::Debug;
use std::time::Duration;

use dbos_storage_core::{now_epoch_ms, EpochMs, ErrorKind, SystemStore};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

use crate::checks::{kind_of, LifecycleStore};
use crate::model::MemoryStore;
use crate::runner::{block_in_place, proptest_config};
use crate::Factory;

/// What one operation answered, reduced to what the contract fixes: the normalized value as
/// text, or the error's kind.
pub(crate) type Observed = std::result::Result<String, ErrorKind>;

/// Observes a result: its value's `Debug` text, or its error kind.
pub(crate) fn observe<T: Debug>(result: dbos_storage_core::Result<T>) -> Observed {
    kind_of(result).map(|value| format!("{value:?}"))
}

/// Observes a list whose order is not part of the contract: sorted first.
pub(crate) fn observe_set<T: Debug + Ord>(result: dbos_storage_core::Result<Vec<T>>) -> Observed {
    observe(result.map(|mut list| {
        list.sort();
        list
    }))
}

/// The pause after an operation that writes times, so that the next operation's rows are
/// stamped later on both sides.
pub(crate) const PAUSE: Duration = Duration::from_millis(2);

/// One machine: its operations and how they run.
#[allow(async_fn_in_trait)]
pub(crate) trait Machine {
    /// One operation; its `Debug` is the Rust call that reproduces it (see
    /// [`super::render`]), with `store` and `now` (the case's start, epoch ms) in scope.
    type Op: Clone + Debug + 'static;

    /// The longest generated sequence.
    const MAX_OPS: usize;

    /// Generates one operation.
    fn op() -> BoxedStrategy<Self::Op>;

    /// Runs `op` on `store`; `now` is the case's start (epoch ms), the base of generated times.
    async fn run(store: &dyn SystemStore, op: &Self::Op, now: EpochMs) -> Observed;

    /// Everything the machine lets a caller read at the end of a case, normalized.
    async fn snapshot(store: &dyn SystemStore) -> String;

    /// How long to pause after `op` (longer after a batch that stamps several times).
    fn pause(_op: &Self::Op) -> Duration {
        PAUSE
    }
}

/// The sequence as Rust: one statement per line, each followed by its pause, after the binding
/// of `now` the times use; `store` is the store under test.
pub(crate) fn as_rust<M: Machine>(ops: &[M::Op]) -> String {
    let mut text = String::from("    let now = dbos_storage_core::now_epoch_ms();\n");
    for op in ops {
        text.push_str(&format!(
            "    {op:?};\n    tokio::time::sleep(Duration::from_millis({})).await;\n",
            M::pause(op).as_millis()
        ));
    }
    text
}

async fn run_case<F: Factory, M: Machine>(factory: &F, ops: &[M::Op]) -> Result<(), TestCaseError> {
    let store = factory.create().await;
    let reference = MemoryStore::migrated();
    let now = now_epoch_ms();
    let mut verdict = Ok(());
    for (i, op) in ops.iter().enumerate() {
        let want = M::run(&reference, op, now).await;
        let got = M::run(&store, op, now).await;
        if got != want {
            verdict = Err(TestCaseError::fail(format!(
                "operation #{i}, {op:?}:\n  the {} store gave {got:?}\n  the reference gave \
                 {want:?}",
                store.backend()
            )));
            break;
        }
        tokio::time::sleep(M::pause(op)).await;
    }
    if verdict.is_ok() {
        let got = M::snapshot(&store).await;
        let want = M::snapshot(&reference).await;
        if got != want {
            verdict = Err(TestCaseError::fail(format!(
                "after every operation, the {} store's state differs from the reference:\n  \
                 store:     {got}\n  reference: {want}",
                store.backend()
            )));
        }
    }
    factory.destroy(store).await;
    verdict
}

/// Runs machine `M` against `factory` for the configured number of cases
/// ([`proptest_config`]), panicking with the shrunk sequence, as Rust, on a disagreement.
pub(crate) async fn check<F: Factory, M: Machine>(factory: &F, machine: &str) {
    let strategy = proptest::collection::vec(M::op(), 1..=M::MAX_OPS);
    let outcome = block_in_place(|rt| {
        let mut runner = TestRunner::new(proptest_config());
        runner.run(&strategy, |ops| {
            rt.block_on(run_case::<F, M>(factory, &ops))
        })
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => panic!(
            "the {machine} machine: the store disagrees with the reference model.\n{reason}\n\
             minimal sequence ({} operations):\n{}",
            ops.len(),
            as_rust::<M>(&ops)
        ),
        Err(TestError::Abort(reason)) => {
            panic!("the {machine} machine aborted: {reason}")
        }
    }
}
