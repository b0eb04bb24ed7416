//! Wrappers written once: a [`StoreLayer`] decides what happens around each call, and every
//! store that is a layer over another store ([`LayeredStore`], usually the ready-made
//! [`Layered`]) implements every area trait by handing each call to its layer.
//!
//! The forwarding is generated from the table of methods in [`crate::methods`], so a method
//! cannot be forwarded without a row in the table, nor listed without being forwarded.
//!
//! # What the forwarding does with each call
//!
//! - `backend` and `capabilities` (synchronous, infallible) and `close` go straight to the
//!   inner store: there is nothing to retry, fault or audit in naming the backend, and a close
//!   must reach the store exactly once (the table marks them `layered: false`).
//! - Every other method becomes a [`Call`] (its [`Method`] row and whether *this*
//!   call may be re-run after an ambiguous commit) and an operation the layer may invoke any
//!   number of times: each invocation clones the by-value arguments and reuses the references.
//! - [`ManagementStore::fork_workflows`](crate::ManagementStore::fork_workflows) first gives
//!   every fork without an id a generated one ([`crate::management::prepare_forks`]) and fails
//!   with its `InvalidInput` before the layer sees the call. This is done here, for every layer,
//!   rather than in a hook of the retrying layer: the operation handed to a layer must do the
//!   same thing each time it is invoked, and a fork without an id would get a new one (and be
//!   forked again) on every invocation.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use crate::Method;
use crate::Result;

mod forward;

pub(crate) use forward::store_methods;

/// One call going through a layer: which method, and whether it may be re-run after an
/// ambiguous commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    method: &'static Method,
    idempotent: bool,
}

impl Call {
    /// A call of `method`; `idempotent` says whether this call (with its arguments) may be
    /// re-run after an ambiguous commit.
    pub const fn new(method: &'static Method, idempotent: bool) -> Self {
        Call { method, idempotent }
    }

    /// The method's row in the table.
    pub fn method(&self) -> &'static Method {
        self.method
    }

    /// Whether this call may be re-run after an ambiguous commit. Equals the method's
    /// [`Idempotency`](crate::Idempotency) unless that is `Conditional`, in which case the
    /// forwarding has decided from the arguments (as the method's `# Idempotency` section says).
    pub fn idempotent(&self) -> bool {
        self.idempotent
    }
}

/// What a wrapper does around each call of the store it wraps: retry it, inject a fault, count
/// it, log it.
///
/// `intercept` receives the [`Call`] and the operation, which it may invoke once, several times
/// or not at all; each invocation runs the method on the inner store again.
///
/// ```
/// use std::future::Future;
/// use dbos_storage_core::{Call, Result, StoreLayer};
///
/// /// Logs every write that fails.
/// #[derive(Debug)]
/// struct LogFailedWrites;
///
/// impl StoreLayer for LogFailedWrites {
///     async fn intercept<T, F, Fut>(&self, call: Call, mut operation: F) -> Result<T>
///     where
///         T: Send,
///         F: FnMut() -> Fut + Send,
///         Fut: Future<Output = Result<T>> + Send,
///     {
///         let result = operation().await;
///         if let (true, Err(error)) = (call.method().writes, &result) {
///             eprintln!("{} failed: {error}", call.method().name);
///         }
///         result
///     }
/// }
/// ```
pub trait StoreLayer: Debug + Send + Sync + 'static {
    /// Runs one call: invokes `operation` as this layer sees fit and returns the answer.
    fn intercept<T, F, Fut>(
        &self,
        call: Call,
        operation: F,
    ) -> impl Future<Output = Result<T>> + Send
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send;
}

/// A store made of an inner store and a [`StoreLayer`]: it implements each area trait the inner
/// store implements, handing every call to the layer (see the [module docs](self)).
///
/// [`Layered`] is the ready-made one; implement this trait for a wrapper of your own when it
/// needs its own constructors or methods.
pub trait LayeredStore: Debug + Send + Sync + 'static {
    /// The store underneath.
    type Inner: ?Sized;
    /// The layer every call goes through.
    type Layer: StoreLayer;

    /// The store underneath.
    fn inner_store(&self) -> &Self::Inner;

    /// The layer every call goes through.
    fn layer(&self) -> &Self::Layer;
}

/// The ready-made [`LayeredStore`]: a shared inner store (which may be a trait object,
/// `Layered<dyn SystemStore, L>`) and a layer.
#[derive(Debug)]
pub struct Layered<S: ?Sized, L> {
    inner: Arc<S>,
    layer: L,
}

impl<S: ?Sized, L> Layered<S, L> {
    /// Wraps `inner` in `layer`.
    pub fn new(inner: Arc<S>, layer: L) -> Self {
        Layered { inner, layer }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }
}

impl<S: ?Sized, L: Clone> Clone for Layered<S, L> {
    fn clone(&self) -> Self {
        Layered {
            inner: Arc::clone(&self.inner),
            layer: self.layer.clone(),
        }
    }
}

impl<S, L> LayeredStore for Layered<S, L>
where
    S: ?Sized + Debug + Send + Sync + 'static,
    L: StoreLayer,
{
    type Inner = S;
    type Layer = L;

    fn inner_store(&self) -> &S {
        &self.inner
    }

    fn layer(&self) -> &L {
        &self.layer
    }
}
