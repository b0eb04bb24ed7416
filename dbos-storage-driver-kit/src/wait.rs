//! Waiting for a condition in the database: poll at an interval, wake early on an in-process
//! signal, give up at a deadline. Drivers share this so every `await_*` behaves the same.

pub mod messaging;
pub mod registry;
pub mod stream_steps;

pub use messaging::{EventWaits, MessageWaits, WaitContext};
pub use registry::{PollGate, WaitRegistry, Waiter, WakeChannel};

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use dbos_storage_core::{AwaitOptions, Error, ErrorKind, Result, WorkflowResult, WorkflowStore};

/// An in-process wake-up: writers call [`WakeSignal::notify`] after a commit that may end a wait;
/// waiters re-check the database at once instead of sleeping out their poll interval.
///
/// A wake-up is only a hint: waits still poll, so a missed or spurious signal costs time, never
/// correctness.
#[derive(Debug)]
pub struct WakeSignal {
    tx: watch::Sender<u64>,
}

impl Default for WakeSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl WakeSignal {
    /// A new signal with no waiters.
    pub fn new() -> Self {
        WakeSignal {
            tx: watch::channel(0).0,
        }
    }

    /// Wakes every current waiter.
    pub fn notify(&self) {
        self.tx
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

/// Calls `probe` until it returns `Some`, sleeping `options.poll_interval` between calls or until
/// `wake` fires, and fails with [`ErrorKind::Timeout`] once `options.timeout` has passed.
///
/// The waiter subscribes before each probe, so a signal sent between the probe and the sleep is
/// not missed.
///
/// # Errors
/// The first error `probe` returns, or a timeout error naming `what`.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    options: &AwaitOptions,
    wake: Option<&WakeSignal>,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    // A timeout too large to add to the clock (`Duration::MAX`) is no deadline at all.
    let deadline = options.timeout.and_then(|t| Instant::now().checked_add(t));
    let mut rx = wake.map(WakeSignal::subscribe);
    let interval = options.poll_interval.max(Duration::from_millis(1));
    loop {
        if options.cancel.as_ref().is_some_and(|t| t.is_cancelled()) {
            return Err(interrupted(what));
        }
        if let Some(rx) = rx.as_mut() {
            rx.borrow_and_update();
        }
        // The probe itself (a permit of the polling gate, a pool checkout, the query) is raced
        // against the cancellation token, so a cancelled wait never outlasts a slow database.
        let probed = match &options.cancel {
            Some(token) => tokio::select! {
                probed = probe() => probed,
                _ = token.cancelled() => return Err(interrupted(what)),
            },
            None => probe().await,
        };
        if let Some(value) = probed? {
            return Ok(value);
        }
        let mut nap = interval;
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "timed out after {:?} waiting for {what}",
                        options.timeout.unwrap_or_default()
                    ),
                ));
            }
            nap = nap.min(left);
        }
        let woken = async {
            let changed = match rx.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => false,
            };
            if !changed {
                std::future::pending::<()>().await;
            }
        };
        let cancelled = async {
            match &options.cancel {
                Some(token) => token.cancelled().await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = woken => {}
            _ = cancelled => return Err(interrupted(what)),
        }
    }
}

/// The error of a wait ended by its cancellation token.
pub fn interrupted(what: &str) -> Error {
    Error::new(
        ErrorKind::Interrupted,
        format!("the wait for {what} was cancelled by the caller"),
    )
}

/// [`WorkflowStore::await_workflow_result`] on top of `store`'s
/// [`workflow_result`](WorkflowStore::workflow_result): polls it as [`poll_until`] does (woken
/// by `wake`) until the workflow is terminal. `backend` names the store in its errors.
///
/// # Errors
/// As [`WorkflowStore::await_workflow_result`].
pub async fn await_workflow_result<S: WorkflowStore + ?Sized>(
    store: &S,
    backend: &'static str,
    workflow_id: &str,
    options: &AwaitOptions,
    wake: Option<&WakeSignal>,
) -> Result<WorkflowResult> {
    dbos_storage_core::validate::workflow_id(workflow_id)?;
    let what = format!("workflow {workflow_id} to finish");
    poll_until(&what, options, wake, || async {
        let result = store.workflow_result(workflow_id).await?;
        settled_result(workflow_id, result, options.fail_if_missing)
            .map_err(|e| e.with_backend(backend))
    })
    .await
}

/// [`WorkflowStore::await_first_finished`] on top of `store`'s
/// [`first_finished`](WorkflowStore::first_finished): polls it as [`poll_until`] does (woken
/// by `wake`) until one of `workflow_ids` is no longer active.
///
/// # Errors
/// As [`WorkflowStore::await_first_finished`].
pub async fn await_first_finished<S: WorkflowStore + ?Sized>(
    store: &S,
    workflow_ids: &[String],
    options: &AwaitOptions,
    wake: Option<&WakeSignal>,
) -> Result<String> {
    let what = first_finished_wait(workflow_ids)?;
    poll_until(&what, options, wake, || store.first_finished(workflow_ids)).await
}

/// One probe of [`await_workflow_result`]: a terminal `result` ends the wait, any other waits
/// on; a missing workflow is waited for unless `fail_if_missing`.
fn settled_result(
    workflow_id: &str,
    result: WorkflowResult,
    fail_if_missing: bool,
) -> Result<Option<WorkflowResult>> {
    match result {
        WorkflowResult::NotFound if fail_if_missing => Err(
            crate::decisions::store_errors::missing_workflow(workflow_id),
        ),
        r if r.is_terminal() => Ok(Some(r)),
        _ => Ok(None),
    }
}

/// Checks the ids of [`await_first_finished`] and returns what it waits for, as its timeout
/// names it.
fn first_finished_wait(workflow_ids: &[String]) -> Result<String> {
    dbos_storage_core::validate::workflow_ids(workflow_ids)?;
    let Some(first) = workflow_ids.first() else {
        return Err(Error::invalid_input(
            "await_first_finished needs at least one workflow id",
        ));
    };
    Ok(format!(
        "one of {} workflows (first: {first}) to finish",
        workflow_ids.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn times_out_with_a_clear_message() {
        let opts = AwaitOptions::default()
            .poll_interval(Duration::from_millis(5))
            .timeout(Duration::from_millis(20));
        let err = poll_until::<(), _, _>("workflow w", &opts, None, || async { Ok(None) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.message().contains("waiting for workflow w"), "{err}");
    }

    #[tokio::test]
    async fn an_unbounded_timeout_is_no_deadline() {
        let opts = AwaitOptions::default()
            .poll_interval(Duration::from_millis(1))
            .timeout(Duration::MAX);
        let calls = AtomicU32::new(0);
        let got = poll_until("x", &opts, None, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok((n >= 2).then_some(n)) }
        })
        .await
        .unwrap();
        assert_eq!(got, 2);
    }

    #[tokio::test]
    async fn cancelling_ends_a_probe_that_never_returns() {
        let token = tokio_util::sync::CancellationToken::new();
        let opts = AwaitOptions::default().cancel_on(token.clone());
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            token.cancel();
        });
        let err = poll_until::<(), _, _>("a stuck read", &opts, None, || {
            std::future::pending::<Result<Option<()>>>()
        })
        .await
        .unwrap_err();
        canceller.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::Interrupted);
        assert!(err.message().contains("a stuck read"), "{err}");
    }

    #[tokio::test]
    async fn a_wake_up_cuts_the_sleep_short() {
        let signal = Arc::new(WakeSignal::new());
        let calls = Arc::new(AtomicU32::new(0));
        let opts = AwaitOptions::default().poll_interval(Duration::from_secs(3600));
        let s2 = signal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            s2.notify();
        });
        let c = calls.clone();
        let got = poll_until("x", &opts, Some(&signal), move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move { Ok((n >= 1).then_some(n)) }
        })
        .await
        .unwrap();
        assert_eq!(got, 1);
    }

    #[test]
    fn workflow_waits() {
        assert_eq!(
            settled_result("w", WorkflowResult::NotFound, false).unwrap(),
            None
        );
        let e = settled_result("missing", WorkflowResult::NotFound, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("missing"), "{e}");
        assert_eq!(
            settled_result("w", WorkflowResult::Cancelled, false).unwrap(),
            Some(WorkflowResult::Cancelled)
        );
        let active = WorkflowResult::Active(dbos_storage_core::WorkflowStatus::Pending);
        assert_eq!(settled_result("w", active, true).unwrap(), None);

        let ids = ["a".to_owned(), "b".to_owned()];
        assert_eq!(
            first_finished_wait(&ids).unwrap(),
            "one of 2 workflows (first: a) to finish"
        );
        let e = first_finished_wait(&[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
}
