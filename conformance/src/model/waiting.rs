//! How [`MemoryStore`] waits: a [`Bell`] every write rings, and one wait loop
//! ([`MemoryStore::wait_until`]) that re-reads the maps when it rings, at the caller's poll
//! interval, until a condition holds, the timeout passes or the caller cancels.
//!
//! It follows [`AwaitOptions`]' documentation: `timeout` (`None` waits for ever, and one too
//! large to add to the clock is no deadline either), `poll_interval`, and `cancel`
//! (`Interrupted` at once, even while asleep). Which condition ends a wait, and what a wait
//! records, is written by each area (`messages`, `events`, `streams`, `workflows`).

use std::time::Duration;

use dbos_storage_core::{AwaitOptions, ErrorKind, Result};
use tokio::sync::watch;
use tokio::time::Instant;

use super::errors::error;
use super::MemoryStore;

/// The model's wake-up: a counter every write bumps. Waiters re-read the maps when it changes;
/// a missed ring only costs a poll interval.
#[derive(Debug)]
pub(super) struct Bell {
    rings: watch::Sender<u64>,
}

impl Default for Bell {
    fn default() -> Self {
        Bell {
            rings: watch::channel(0).0,
        }
    }
}

impl Bell {
    /// Wakes every waiter.
    pub(super) fn ring(&self) {
        self.rings.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl MemoryStore {
    /// Runs `probe` until it finds something, waking on every write and at least every
    /// `options.poll_interval`.
    ///
    /// # Errors
    /// The first error of `probe`; `Timeout` naming `what` once `options.timeout` has passed
    /// (after one last look); `Interrupted` when `options.cancel` fires.
    pub(super) async fn wait_until<T>(
        &self,
        what: &str,
        options: &AwaitOptions,
        mut probe: impl FnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = options
            .timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        let mut rings = self.bell.rings.subscribe();
        let interrupted = || {
            error(
                ErrorKind::Interrupted,
                format!("the caller cancelled the wait for {what}"),
            )
        };
        loop {
            if options.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                return Err(interrupted());
            }
            // Marked seen before the look, so a write after it rings again.
            rings.borrow_and_update();
            if let Some(found) = probe()? {
                return Ok(found);
            }
            let mut nap = options.poll_interval.max(Duration::from_millis(1));
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(error(
                        ErrorKind::Timeout,
                        format!(
                            "waited {:?} for {what}; it did not happen",
                            options.timeout.unwrap_or_default()
                        ),
                    ));
                }
                nap = nap.min(left);
            }
            let cancelled = async {
                match &options.cancel {
                    Some(token) => token.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = rings.changed() => {}
                _ = cancelled => return Err(interrupted()),
            }
        }
    }
}

/// A wait's `Timeout` as "nothing arrived" (`None`); any other error stays one.
pub(super) fn timeout_as_none<T>(waited: Result<T>) -> Result<Option<T>> {
    match waited {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
        Err(e) => Err(e),
    }
}
