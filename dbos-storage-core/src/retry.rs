//! The one retry policy every driver uses, and [`RetryingStore`], which applies it to a whole
//! store.
//!
//! Drivers never loop on errors themselves: they classify (see [`crate::ErrorKind`]) and this
//! module decides. Unlike the DBOS SDKs, a store never retries forever: every class has an
//! attempt limit and the whole loop a time bound, after which the last error is returned marked
//! [`Error::retries_exhausted`].

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::{Call, Error, ErrorKind, Layered, Result, StoreLayer};

/// Backoff and limits for one class of retryable error.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
    /// Growth factor per attempt.
    pub multiplier: f64,
    /// The most attempts (the first one included) before giving up.
    pub max_attempts: u32,
}

impl Backoff {
    /// A backoff from `initial` growing by `multiplier` up to `max`, for at most `max_attempts`.
    pub fn new(initial: Duration, max: Duration, multiplier: f64, max_attempts: u32) -> Self {
        Backoff {
            initial,
            max,
            multiplier,
            max_attempts,
        }
    }

    /// The delay before attempt `attempt + 1` (0-based), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(attempt.min(64) as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }
}

/// When and how long to retry.
///
/// Delays are jittered uniformly in ×[0.5, 1.5). Defaults: conflicts (serialization failures and
/// lock contention) 10 ms → 2 s ×2 for 30 attempts; connection loss and pool exhaustion 100 ms →
/// 5 s ×2 for 8 attempts; ambiguous commits (idempotent operations only) 3 attempts; the whole
/// loop at most 60 s.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// For [`ErrorKind::SerializationFailure`] and [`ErrorKind::Contention`].
    pub conflict: Backoff,
    /// For [`ErrorKind::ConnectionLost`] and [`ErrorKind::PoolExhausted`].
    pub connection: Backoff,
    /// For [`ErrorKind::AmbiguousCommit`], applied only to idempotent operations.
    pub ambiguous: Backoff,
    /// The time bound of the whole loop, sleeps included.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            conflict: Backoff::new(Duration::from_millis(10), Duration::from_secs(2), 2.0, 30),
            connection: Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 2.0, 8),
            ambiguous: Backoff::new(Duration::from_millis(50), Duration::from_secs(1), 2.0, 3),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The policy for application-database transactions (DBOS: 1 ms ×1.5 up to 2 s), bounded
    /// by attempts and time.
    pub fn transactions() -> Self {
        RetryPolicy {
            conflict: Backoff::new(Duration::from_millis(1), Duration::from_secs(2), 1.5, 50),
            ..RetryPolicy::default()
        }
    }

    /// A policy that never retries.
    pub fn none() -> Self {
        let once = Backoff::new(Duration::ZERO, Duration::ZERO, 1.0, 1);
        RetryPolicy {
            conflict: once,
            connection: once,
            ambiguous: once,
            max_elapsed: Duration::ZERO,
        }
    }

    /// Sets the time bound.
    #[must_use]
    pub fn max_elapsed(mut self, bound: Duration) -> Self {
        self.max_elapsed = bound;
        self
    }

    /// Sets the conflict backoff.
    #[must_use]
    pub fn conflict(mut self, backoff: Backoff) -> Self {
        self.conflict = backoff;
        self
    }

    /// Sets the connection backoff.
    #[must_use]
    pub fn connection(mut self, backoff: Backoff) -> Self {
        self.connection = backoff;
        self
    }

    /// The backoff that applies to `error`, or `None` when it must not be retried. Ambiguous
    /// commits are retried only when `idempotent`.
    pub fn backoff_for(&self, error: &Error, idempotent: bool) -> Option<&Backoff> {
        match error.kind() {
            ErrorKind::SerializationFailure | ErrorKind::Contention => Some(&self.conflict),
            ErrorKind::ConnectionLost | ErrorKind::PoolExhausted => Some(&self.connection),
            ErrorKind::AmbiguousCommit if idempotent => Some(&self.ambiguous),
            _ => None,
        }
    }

    /// Runs `operation` until it succeeds, fails with an error this policy does not retry, or
    /// runs out of attempts or time.
    ///
    /// `idempotent` says whether `operation` may be re-run after an ambiguous commit. Create any
    /// value that identifies the attempt (tokens, timestamps) *before* calling this.
    ///
    /// # Errors
    /// The last error; marked [`Error::retries_exhausted`] when a retryable error ran out of
    /// attempts or time.
    pub async fn run<T, F, Fut>(&self, idempotent: bool, mut operation: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut attempts: u32 = 0;
        loop {
            let error = match operation().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(backoff) = self.backoff_for(&error, idempotent) else {
                return Err(error);
            };
            attempts += 1;
            if attempts >= backoff.max_attempts {
                tracing::warn!(attempts, %error, "giving up after the attempt limit");
                return Err(error.with_retries_exhausted());
            }
            let jitter: f64 = rand::rng().random_range(0.5..1.5);
            let delay = backoff.delay(attempts - 1).mul_f64(jitter);
            if started.elapsed() + delay > self.max_elapsed {
                tracing::warn!(attempts, %error, "giving up at the retry time bound");
                return Err(error.with_retries_exhausted());
            }
            tracing::debug!(attempts, ?delay, %error, "retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// A store that re-runs each operation of the store it wraps according to a [`RetryPolicy`]:
/// a [`Layered`] store whose layer is the policy.
///
/// Every call is retried on the transient error kinds; after an ambiguous commit it is re-run
/// only when the method table says the call is idempotent ([`Call::idempotent`]). The one
/// [`polled`](crate::Method::polled) method, [`QueueStore::claim_workflows`](crate::QueueStore::claim_workflows),
/// is never re-run: a re-run after an ambiguous commit would claim nothing more and hide what the
/// first run claimed, and on contention the caller's next poll is the retry.
///
/// It wraps an `Arc`, so it can wrap a trait object: `RetryingStore<dyn SystemStore>`.
pub type RetryingStore<S> = Layered<S, RetryPolicy>;

impl<S: ?Sized> Layered<S, RetryPolicy> {
    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        self.layer()
    }
}

/// The retry layer: runs each call with [`RetryPolicy::run`], idempotence taken from the call.
impl StoreLayer for RetryPolicy {
    async fn intercept<T, F, Fut>(&self, call: Call, mut operation: F) -> Result<T>
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        if call.method().polled {
            return operation().await;
        }
        self.run(call.idempotent(), operation).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        let b = Backoff::new(Duration::from_millis(1), Duration::from_millis(2), 2.0, 4);
        RetryPolicy {
            conflict: b,
            connection: b,
            ambiguous: b,
            max_elapsed: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = AtomicU32::new(0);
        let v = fast()
            .run(false, || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::new(ErrorKind::Contention, "busy"))
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!(v, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_at_the_attempt_limit_and_says_so() {
        let calls = AtomicU32::new(0);
        let e = fast()
            .run(true, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::SerializationFailure, "40001"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(e.retries_exhausted());
        assert!(e.to_string().contains("retries exhausted"));
    }

    #[tokio::test]
    async fn ambiguous_commits_are_retried_only_when_idempotent() {
        let calls = AtomicU32::new(0);
        let e = fast()
            .run(false, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::AmbiguousCommit, "40003"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(e.kind(), ErrorKind::AmbiguousCommit);
        assert!(!e.retries_exhausted());

        calls.store(0, Ordering::SeqCst);
        fast()
            .run(true, || async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(Error::new(ErrorKind::AmbiguousCommit, "40003"))
                } else {
                    Ok(())
                }
            })
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let e = fast()
            .run(true, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::NotOwner, "lost"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(e.kind(), ErrorKind::NotOwner);
    }

    #[tokio::test]
    async fn the_time_bound_stops_the_loop() {
        let policy = RetryPolicy {
            max_elapsed: Duration::from_millis(30),
            conflict: Backoff::new(
                Duration::from_millis(20),
                Duration::from_millis(20),
                1.0,
                1000,
            ),
            ..fast()
        };
        let calls = AtomicU32::new(0);
        let e = policy
            .run(false, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Contention, "busy"))
            })
            .await
            .unwrap_err();
        assert!(e.retries_exhausted());
        assert!(calls.load(Ordering::SeqCst) < 10);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(50), 2.0, 9);
        assert_eq!(b.delay(0), Duration::from_millis(10));
        assert_eq!(b.delay(1), Duration::from_millis(20));
        assert_eq!(b.delay(5), Duration::from_millis(50));
    }
}
