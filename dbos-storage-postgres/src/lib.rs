#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod config;
mod driver;
mod error;
mod migrate;
mod pool;
mod sql;
mod store;
mod tls;

pub use app::{PostgresAppStore, PostgresTransaction};
pub use config::PostgresConfig;
pub use driver::{PostgresDriver, SCHEMES};
pub use store::PostgresStore;
