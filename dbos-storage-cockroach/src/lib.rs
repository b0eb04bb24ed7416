#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod driver;
mod store;

pub use config::CockroachConfig;
pub use driver::{CockroachDriver, SCHEMES};
pub use store::{connect, open_app, open_system, CockroachAppStore, CockroachStore};
