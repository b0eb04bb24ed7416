//! The attempt loop of [`AppStore::run_transaction`](dbos_storage_core::AppStore::run_transaction), shared by
//! the drivers: each driver writes one attempt (begin, replay or run the body, record, commit);
//! [`run_attempts`] retries it and records an error outcome.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use dbos_storage_core::{
    AppTransaction, Outcome, Payload, Result, RetryPolicy, TransactionBody, TransactionOutcome,
};

/// What one attempt of a transaction call ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A row was already recorded: its outcome. The body did not run.
    Replayed(Outcome),
    /// The body ran and its outcome is final (committed with its output, or not recorded).
    Finished(Outcome),
    /// The body returned an error outcome: its writes were rolled back and the error must be
    /// recorded in a transaction of its own.
    RecordError(Payload),
}

/// The user's transaction body, shared by the attempts of one call, counting its runs.
pub struct SharedBody<'a, 'b> {
    body: Mutex<&'a mut TransactionBody<'b>>,
    runs: AtomicU32,
}

impl std::fmt::Debug for SharedBody<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBody")
            .field("runs", &self.runs())
            .finish_non_exhaustive()
    }
}

impl<'a, 'b> SharedBody<'a, 'b> {
    /// Shares `body`; it has run zero times.
    pub fn new(body: &'a mut TransactionBody<'b>) -> Self {
        SharedBody {
            body: Mutex::new(body),
            runs: AtomicU32::new(0),
        }
    }

    /// Runs the body once on `tx` and counts the run.
    ///
    /// # Errors
    /// The database error the body returned.
    pub async fn run(&self, tx: &mut dyn AppTransaction) -> Result<Outcome> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        // The body's future borrows only `tx`, so the lock is released before awaiting it.
        let future = {
            let mut body = self.body.lock().unwrap_or_else(PoisonError::into_inner);
            (*body)(tx)
        };
        future.await
    }

    /// How many times the body ran.
    pub fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }
}

/// Runs a transaction call: `attempt` (which runs `body` at most once) until it ends, re-running
/// it on retryable errors with [`RetryPolicy::transactions`]; then, when the body returned an
/// error outcome, records it with `record_error` (retried the same way) and returns what is
/// recorded. The outcome's `attempts` counts the runs of `body`.
///
/// # Errors
/// The last error of `attempt` or `record_error`; [`dbos_storage_core::ErrorKind::InvalidInput`] for an
/// error outcome whose text cannot be stored.
pub async fn run_attempts<A, AFut, R, RFut>(
    body: &SharedBody<'_, '_>,
    attempt: A,
    mut record_error: R,
) -> Result<TransactionOutcome>
where
    A: FnMut() -> AFut,
    AFut: Future<Output = Result<Attempt>>,
    R: FnMut(Payload) -> RFut,
    RFut: Future<Output = Result<Outcome>>,
{
    let ended = RetryPolicy::transactions().run(true, attempt).await?;
    let attempts = body.runs();
    match ended {
        Attempt::Replayed(outcome) => Ok(TransactionOutcome::new(outcome, true, attempts)),
        Attempt::Finished(outcome) => Ok(TransactionOutcome::new(outcome, false, attempts)),
        Attempt::RecordError(payload) => {
            payload.validate("transaction error")?;
            let outcome = RetryPolicy::transactions()
                .run(true, || record_error(payload.clone()))
                .await?;
            Ok(TransactionOutcome::new(outcome, false, attempts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::{transaction_body, Params, Row};
    use dbos_storage_core::{Error, ErrorKind};
    use std::any::Any;

    struct NoDatabase;

    #[async_trait::async_trait]
    impl AppTransaction for NoDatabase {
        fn backend(&self) -> &'static str {
            "none"
        }
        async fn execute(&mut self, _: &str, _: Params) -> Result<u64> {
            Ok(0)
        }
        async fn query(&mut self, _: &str, _: Params) -> Result<Vec<Row>> {
            Ok(Vec::new())
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[tokio::test]
    async fn retryable_attempts_rerun_the_body_and_error_outcomes_are_recorded() {
        let mut body = transaction_body(|_| {
            Box::pin(async { Ok(Outcome::Error(Payload::portable_json("\"no\""))) })
        });
        let shared = SharedBody::new(&mut body);
        let mut failures = 1;
        let outcome = run_attempts(
            &shared,
            || {
                let fail = failures > 0;
                failures -= 1;
                let shared = &shared;
                async move {
                    let ran = shared.run(&mut NoDatabase).await?;
                    if fail {
                        return Err(Error::new(ErrorKind::Contention, "busy"));
                    }
                    match ran {
                        Outcome::Error(p) => Ok(Attempt::RecordError(p)),
                        output => Ok(Attempt::Finished(output)),
                    }
                }
            },
            |error| async move { Ok(Outcome::Error(error)) },
        )
        .await
        .unwrap();
        assert_eq!(outcome.attempts, 2);
        assert!(!outcome.replayed);
        assert_eq!(
            outcome.outcome,
            Outcome::Error(Payload::portable_json("\"no\""))
        );
    }

    #[tokio::test]
    async fn replays_do_not_run_the_body() {
        let mut body = transaction_body(|_| Box::pin(async { unreachable!("no run on replay") }));
        let shared = SharedBody::new(&mut body);
        let recorded = Outcome::Output(Payload::new("1", None));
        let outcome = run_attempts(
            &shared,
            || async { Ok(Attempt::Replayed(recorded.clone())) },
            |_| async { unreachable!("nothing to record") },
        )
        .await
        .unwrap();
        assert_eq!((outcome.attempts, outcome.replayed), (0, true));
        assert_eq!(outcome.outcome, recorded);
    }
}
