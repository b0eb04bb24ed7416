//! Waiting for a condition in the database: poll at an interval, wake early on an in-process
//! signal, give up at a deadline. Drivers share this so every `await_*` behaves the same.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::types::AwaitOptions;

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
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let mut rx = wake.map(WakeSignal::subscribe);
    let interval = options.poll_interval.max(Duration::from_millis(1));
    loop {
        if let Some(rx) = rx.as_mut() {
            rx.borrow_and_update();
        }
        if let Some(value) = probe().await? {
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
        match rx.as_mut() {
            Some(rx) => {
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    changed = rx.changed() => {
                        if changed.is_err() {
                            tokio::time::sleep(nap).await;
                        }
                    }
                }
            }
            None => tokio::time::sleep(nap).await,
        }
    }
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
}
