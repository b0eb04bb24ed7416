//! [`FaultyStore`]: a wrapper that injects transient errors and lost commit acknowledgements,
//! to test error classification, retries and every `# Idempotency` claim of the contract.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dbos_storage_core::{Call, Error, ErrorKind, LayeredStore, Result, StoreLayer};

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The operation fails with this kind *before* it runs, as if the database refused it
    /// (serialization failure, contention, lost connection, exhausted pool).
    Fail(ErrorKind),
    /// The operation runs and commits, then fails with
    /// [`AmbiguousCommit`](ErrorKind::AmbiguousCommit), as if the acknowledgement was lost.
    /// If the operation itself fails, its own error is returned.
    AmbiguousCommit,
}

impl Fault {
    /// [`ErrorKind::SerializationFailure`] before the operation.
    pub const SERIALIZATION_FAILURE: Fault = Fault::Fail(ErrorKind::SerializationFailure);
    /// [`ErrorKind::ConnectionLost`] before the operation.
    pub const CONNECTION_LOST: Fault = Fault::Fail(ErrorKind::ConnectionLost);
    /// [`ErrorKind::Contention`] before the operation.
    pub const CONTENTION: Fault = Fault::Fail(ErrorKind::Contention);
    /// [`ErrorKind::PoolExhausted`] before the operation.
    pub const POOL_EXHAUSTED: Fault = Fault::Fail(ErrorKind::PoolExhausted);
    /// Every fault the retry property injects.
    pub const ALL: [Fault; 5] = [
        Fault::SERIALIZATION_FAILURE,
        Fault::CONNECTION_LOST,
        Fault::CONTENTION,
        Fault::POOL_EXHAUSTED,
        Fault::AmbiguousCommit,
    ];
}

/// A store that takes one queued [`Fault`] per call (in FIFO order) and otherwise forwards to
/// the store it wraps: a [`LayeredStore`] whose layer is its [`FaultQueue`]. `backend`,
/// `capabilities` and `close` are never faulted.
///
/// It implements every area trait the wrapped store implements. A fault on a wait (`recv`,
/// `get_event`, `await_stream`) applies to the whole wait: [`Fault::AmbiguousCommit`] lets it
/// finish (a recv consumes its message) and loses the answer. A [`Fault::AmbiguousCommit`] on
/// [`QueueStore::claim_workflows`](dbos_storage_core::QueueStore::claim_workflows) keeps the
/// claim and loses its answer, as a lost acknowledgement would: the claimed rows stay `PENDING`
/// under a token nobody runs, until recovery.
///
/// Wrap it (in an `Arc`) in [`RetryingStore`](dbos_storage_core::RetryingStore) to check that
/// retries end in the same state as a clean run.
/// `S` may be a trait object: `FaultyStore<dyn SystemStore>`.
#[derive(Debug)]
pub struct FaultyStore<S: ?Sized> {
    inner: Arc<S>,
    faults: FaultQueue,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self::shared(Arc::new(inner))
    }
}

impl<S: ?Sized> FaultyStore<S> {
    /// Wraps a store the caller keeps a handle on (to destroy it afterwards).
    pub fn shared(inner: Arc<S>) -> Self {
        FaultyStore {
            inner,
            faults: FaultQueue::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// Queues `fault` for a later call.
    pub fn inject(&self, fault: Fault) {
        self.faults.queue().push_back(fault);
    }

    /// Queues every fault of `faults`, in order.
    pub fn inject_all(&self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.queue().extend(faults);
    }

    /// How many queued faults no call has taken yet.
    pub fn pending(&self) -> usize {
        self.faults.queue().len()
    }

    /// Drops every queued fault and returns how many there were.
    pub fn drain(&self) -> usize {
        let mut queue = self.faults.queue();
        let left = queue.len();
        queue.clear();
        left
    }
}

impl<S: ?Sized + std::fmt::Debug + Send + Sync + 'static> LayeredStore for FaultyStore<S> {
    type Inner = S;
    type Layer = FaultQueue;

    fn inner_store(&self) -> &S {
        &self.inner
    }

    fn layer(&self) -> &FaultQueue {
        &self.faults
    }
}

/// The layer of a [`FaultyStore`]: the queue of faults still to inject, one taken per call.
#[derive(Debug, Default)]
pub struct FaultQueue {
    faults: Mutex<VecDeque<Fault>>,
}

impl FaultQueue {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Fault>> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs each call under the next queued fault, if any.
impl StoreLayer for FaultQueue {
    async fn intercept<T, F, Fut>(&self, call: Call, mut operation: F) -> Result<T>
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let name = call.method().name;
        let fault = self.queue().pop_front();
        match fault {
            None => operation().await,
            Some(Fault::Fail(kind)) => Err(Error::new(
                kind,
                format!("injected {kind} before {name} (FaultyStore)"),
            )),
            Some(Fault::AmbiguousCommit) => {
                operation().await?;
                Err(Error::new(
                    ErrorKind::AmbiguousCommit,
                    format!("injected ambiguous commit after {name} ran (FaultyStore)"),
                ))
            }
        }
    }
}
