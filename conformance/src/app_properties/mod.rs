//! The properties of [`AppStore`](dbos_storage_core::AppStore): plain `pub async fn`s over an
//! [`AppFactory`](crate::AppFactory), which [`app_suite!`](crate::app_suite) turns into one test
//! each, in a module named like the one the property lives in.
//!
//! Every property works through the contract alone: the suite makes its tables (`accounts`,
//! `vals`) with a user migration, writes through transactions and reads through read-only
//! transactions (which record nothing). Its SQL is the subset SQLite and PostgreSQL share.
//!
//! - `transactions`: recorded outputs, replays, a concurrent duplicate, refused calls, closing,
//!   and deleting and listing recorded rows.
//! - `rollbacks`: error outcomes, database errors and panics leave no writes.
//! - `read_only`: read-only transactions read, cannot write and record nothing.
//! - `migrations`: the user's migrations.
//! - `values`: named parameters, the value type, `RETURNING`, serde rows.
//! - `retries`: retryable errors re-run the body; concurrent increments lose no update.
//! - `outputs_model`: random transaction sequences compared with a model of the recorded rows.

pub(crate) mod fixtures;
pub mod migrations;
pub mod outputs_model;
pub mod read_only;
pub mod retries;
pub mod rollbacks;
pub mod transactions;
pub mod values;
