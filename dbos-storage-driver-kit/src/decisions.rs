//! The backend-neutral decisions of the system store, shared by every driver and by the
//! in-memory reference model: the errors they report, the ownership check, how an insert
//! reconciles with an existing row, child starts, durable sleeps, and what column values mean.
//!
//! Drivers keep their SQL and their row decoding; they hand the values they read to these
//! functions, so that every backend decides, and words its errors, the same way. Errors built
//! here name no backend: drivers add theirs with
//! [`Error::with_backend`](crate::Error::with_backend).

pub mod children;
pub mod columns;
pub mod errors;
pub mod insert;
pub mod listing;
pub mod management;
pub mod messaging;
pub mod ownership;
pub mod sleep;
pub mod steps;
