//! The properties of the suite: plain `pub async fn`s over a [`Factory`](crate::Factory), one
//! module per area of the contract, named like the area traits of `dbos-storage-core`
//! (`workflows`, `steps`, `messages`, `events`, `streams`, `queues`, `management`, `schedules`,
//! `versions`, `lifecycle`).
//!
//! Properties that are not one area keep a module named for what they check: `columns` (DBOS
//! columns written and read back, each on its own), `forks`,
//! `deletes`, `attributes`, `retention`, `collection_windows`, `transfer`, `metrics` and
//! `renames` (operator operations of the management area, each with its own fixtures), `concurrency` (many tasks
//! racing for one workflow or step write), `queue_concurrency` (many claimers racing over one
//! queue), `queue_fairness` (one worker per queue, each getting its share), `workflow_steps`
//! (operations called from a workflow, recorded as its steps), `limits` (text at
//! and past every documented limit, and NUL bytes, on every backend), `histories` (concurrent clients' calls, each history explained by a serial order on
//! the reference model), `retry` (every idempotency
//! claim, through injected faults) and `state_machine` (random
//! operation sequences compared with the reference model). `recovery` checks direct recovery
//! and the hand-back of a claimed workflow to its queue (queue area), `stream_steps` the
//! checkpointed stream reads of a workflow (streams area).
//!
//! `machines` holds one model-based state machine per area (queues, messaging) and one that
//! mixes the areas, each in its own module, run like `state_machine`.
//!
//! [`suite!`](crate::suite) generates one test per property, in a module named like the one the
//! property lives in.

pub mod attributes;
pub mod collection_windows;
pub mod columns;
pub mod concurrency;
pub mod deletes;
pub mod events;
pub mod forks;
pub mod histories;
pub mod lifecycle;
pub mod limits;
pub mod machines;
pub mod management;
pub mod messages;
pub mod metrics;
pub mod queue_concurrency;
pub mod queue_fairness;
pub mod queues;
pub mod recovery;
pub mod renames;
pub mod retention;
pub mod retry;
pub mod schedules;
pub mod state_machine;
pub mod steps;
pub mod stream_steps;
pub mod streams;
pub mod transfer;
pub mod versions;
pub mod workflow_steps;
pub mod workflows;
