#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app_transaction;
pub mod decisions;
pub mod wait;
