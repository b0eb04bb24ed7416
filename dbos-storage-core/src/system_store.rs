//! The system-database contract: one sub-trait per area, summed up in [`SystemStore`].
//!
//! # Contract
//!
//! - Every method is one atomic operation: it commits entirely or not at all.
//! - Reads addressed by id are not scoped to an application; set-oriented reads match the given
//!   application's rows plus unclaimed (NULL) rows.
//! - Payloads cross the contract as already-encoded text with their
//!   [`Serialization`](crate::Serialization) label; a store never parses them.
//! - Every mutating method has an `# Idempotency` section: whether re-running it after an
//!   ambiguous commit ([`ErrorKind::AmbiguousCommit`](crate::ErrorKind::AmbiguousCommit)) leaves the
//!   same state. [`crate::RetryingStore`] relies on it.
//!
//! # Errors
//!
//! Every method may fail with the transient kinds ([`ConnectionLost`], [`PoolExhausted`],
//! [`SerializationFailure`], [`Contention`]; all retryable), with
//! [`AmbiguousCommit`](crate::ErrorKind::AmbiguousCommit) on backends that can lose a commit
//! acknowledgement, with [`Closed`](crate::ErrorKind::Closed) after [`LifecycleStore::close`], and
//! with [`InvalidInput`](crate::ErrorKind::InvalidInput) for ids or payloads that break the rules
//! of [`crate::validate`] and [`crate::payload::validate_text`]. Each method lists the others.
//!
//! [`ConnectionLost`]: crate::ErrorKind::ConnectionLost
//! [`PoolExhausted`]: crate::ErrorKind::PoolExhausted
//! [`SerializationFailure`]: crate::ErrorKind::SerializationFailure
//! [`Contention`]: crate::ErrorKind::Contention

use crate::{
    EventStore, LifecycleStore, ManagementStore, MessageStore, QueueStore, ScheduleStore,
    StepStore, StreamStore, VersionStore, WorkflowStore,
};

/// A DBOS system database: the sum of every area trait.
///
/// Implemented automatically for every type that implements all of them; hold it as
/// `Arc<dyn SystemStore>` ([`DynSystemStore`]).
pub trait SystemStore:
    LifecycleStore
    + WorkflowStore
    + StepStore
    + ManagementStore
    + QueueStore
    + VersionStore
    + MessageStore
    + EventStore
    + StreamStore
    + ScheduleStore
{
}

impl<T> SystemStore for T where
    T: LifecycleStore
        + WorkflowStore
        + StepStore
        + ManagementStore
        + QueueStore
        + VersionStore
        + MessageStore
        + EventStore
        + StreamStore
        + ScheduleStore
{
}

/// The dynamic form of a system store.
pub type DynSystemStore = dyn SystemStore;
