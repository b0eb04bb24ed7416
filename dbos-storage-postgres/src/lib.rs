#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod config;
mod driver;
mod error;
mod migrate;
mod notify;
mod pool;
mod sql;
mod store;
mod tls;

pub use app::{PostgresAppStore, PostgresTransaction};
#[doc(hidden)]
pub use config::Dialect;
pub use config::PostgresConfig;
#[doc(hidden)]
pub use driver::is_cockroach;
pub use driver::{PostgresDriver, SCHEMES};
pub use store::{CombinedCheckpoints, PostgresStore};

/// The tokio-postgres crate this driver is built on, for the connection
/// [`PostgresStore::native_connection`] opens and [`PostgresTransaction::client`]'s.
pub use tokio_postgres;
