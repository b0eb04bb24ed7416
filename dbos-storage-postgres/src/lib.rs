#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod bench;
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
pub use bench::RawBaseline;
#[doc(hidden)]
pub use config::Dialect;
pub use config::PostgresConfig;
#[doc(hidden)]
pub use driver::is_cockroach;
pub use driver::{PostgresDriver, SCHEMES};
pub use store::{CombinedCheckpoints, NativeClient, PostgresStore};
