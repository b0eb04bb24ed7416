//! The backend-neutral decisions of the system store, shared by every driver (the conformance
//! suite's reference model writes them again on its own, on purpose): the errors they report,
//! the ownership check, how an insert reconciles with an existing row, child starts, durable
//! sleeps, and what column values mean.
//!
//! Drivers keep their SQL and their row decoding; they hand the values they read to these
//! functions, so that every backend decides, and words its errors, the same way. Errors built
//! here name no backend: drivers add theirs with
//! [`Error::with_backend`](dbos_storage_core::Error::with_backend).

pub mod cancel_resume;
pub mod child_starts;
pub mod collection_windows;
pub mod column_values;
pub mod durable_sleep;
pub mod insert_reconciliation;
pub mod list_queries;
pub mod ownership_check;
pub mod sends_and_streams;
pub mod step_checkpoints;
pub mod store_errors;
pub mod workflow_recovery;
