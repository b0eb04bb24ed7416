//! Model-based properties per area: random operation sequences, run on the store under test and
//! on a fresh [`MemoryStore`](crate::MemoryStore) per case, must give the same results and leave
//! the same state.
//!
//! Each machine is one module: `queues` (enqueue with deduplication, priority, delay, debounce
//! and partitions; claims under every limit; cancel and resume of queued work; deadlines;
//! recovery and dead-lettering; versions), `messaging` (messages, events and streams),
//! `registry` (schedules, versions and the queue registry) and `mixed` (the areas together:
//! deletes of workflows with messages, forks of workflows with events and streams, garbage
//! collection while work is queued, export and import). The crate-private `harness` runs them
//! all the same way, and `render` prints operations as the Rust calls that reproduce them, so a
//! shrunk failing sequence can be pasted into a test.
//!
//! Results are compared exactly where the trait docs promise exactness (claimed ids in dequeue
//! order, stop reasons, error kinds, offsets, outcomes) and normalized where they leave freedom:
//! times become `0` ([`crate::normalize`]), and lists whose order is not part of the contract are
//! sorted. Times given to the store (delays, deadlines, retention cutoffs) are an hour or more
//! from the case's start, far beyond any clock skew; each operation is followed by a short pause,
//! so rows written by different operations never share a millisecond and the orders the
//! contract fixes by time are the same on both sides.

pub(crate) mod harness;
mod maintenance;
pub mod messaging;
pub mod mixed;
pub mod queues;
pub mod registry;
pub(crate) mod render;
pub(crate) mod views;

pub use messaging::messaging_matches_the_model;
pub use mixed::mixed_matches_the_model;
pub use queues::queues_match_the_model;
pub use registry::registry_matches_the_model;
