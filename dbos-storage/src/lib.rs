#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod across_databases;
mod registry;

pub use across_databases::{
    collect_garbage, delete_everywhere, rewind_everywhere, GcOptions, GcReport,
};
pub use dbos_storage_core::*;
pub use registry::{connect, connect_url, Registry, Stores};

/// The SQLite driver, re-exported for its configuration and native types.
#[cfg(feature = "sqlite")]
pub use dbos_storage_sqlite as sqlite;

/// The PostgreSQL driver, re-exported for its configuration and native types.
#[cfg(feature = "postgres")]
pub use dbos_storage_postgres as postgres;

/// The CockroachDB driver, re-exported for its configuration and native types.
#[cfg(feature = "cockroach")]
pub use dbos_storage_cockroach as cockroach;
