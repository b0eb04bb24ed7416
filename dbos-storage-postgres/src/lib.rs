#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod config;
mod dialect;
mod driver;
mod error;
mod migrate;
mod notify;
mod pool;
mod sql;
mod store;
mod tls;

pub use app::{PostgresAppStore, PostgresTransaction};
pub use config::PostgresConfig;
pub use dialect::{
    render_schema, Dialect, MigrationScript, PostgresDialect, ServerSession, UrlScheme,
    POSTGRES_URL_SCHEMES,
};
pub use driver::{PostgresDriver, SCHEMES};
pub use migrate::{migrations, Migration};
pub use store::{CombinedCheckpoints, PostgresStore};

/// The tokio-postgres crate this driver is built on, for the connection
/// [`PostgresStore::native_connection`] opens and [`PostgresTransaction::client`]'s.
pub use tokio_postgres;
