#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod dialect;
mod driver;
mod migrations;
mod sql;
mod store;

pub use config::CockroachConfig;
pub use dialect::{CockroachDialect, COMPATIBLE_MODE_SETTING};
pub use driver::{CockroachDriver, SCHEMES};
pub use store::{connect, open_app, open_system, CockroachAppStore, CockroachStore};
