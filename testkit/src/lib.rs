#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod campaign;
pub mod dbos_columns;
pub mod factories;
pub mod logs;
pub mod older_schema;
pub mod operator_rows;
pub mod pg;
pub mod recovery_rows;
pub mod schema_diff;
pub mod workflow_step_rows;
pub mod workload;
