//! What the drivers share to implement [`AppStore`](dbos_storage_core::AppStore): the attempt
//! loop of [`AppStore::run_transaction`](dbos_storage_core::AppStore::run_transaction)
//! ([`attempt`]), the decisions and errors about the rows of `transaction_outputs` ([`outputs`]),
//! and [`refuse_transaction_control`], which keeps a user's transaction body from ending the
//! store's transaction.

pub mod attempt;
mod control;
pub mod outputs;

pub use control::refuse_transaction_control;
