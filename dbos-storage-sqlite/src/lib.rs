#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod config;
mod connection;
mod driver;
mod error;
mod group_commit;
mod migrate;
mod sql;
mod store;

pub use app::{SqliteAppStore, SqliteTransaction};
pub use config::{SqliteConfig, Synchronous};
pub use driver::{SqliteDriver, SCHEMES};
pub use store::SqliteStore;

/// The rusqlite crate this driver is built on, for the connection
/// [`SqliteConfig::native_connection`] opens and [`SqliteTransaction`]'s.
pub use rusqlite;
