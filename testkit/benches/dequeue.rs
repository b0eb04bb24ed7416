//! Dequeue throughput of the reference model, `MemoryStore`: 16 concurrent workers (and one,
//! for comparison) drain a queue, claiming up to 8 workflows at a time.
//!
//! `cargo bench -p dbos-storage-testkit --bench dequeue`. The number of workflows defaults
//! to 5000; set `DBOS_BENCH_WORKFLOWS` to change it. The drivers' bench targets call the same
//! function with their own factories.

use dbos_storage_conformance::MemoryFactory;
use dbos_storage_testkit::bench::{dequeue_throughput, table};

fn main() {
    let workflows = std::env::var("DBOS_BENCH_WORKFLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot build the benchmark's tokio runtime");
    let factory = MemoryFactory::new();
    let reports: Vec<_> = [1, 16]
        .into_iter()
        .map(|workers| runtime.block_on(dequeue_throughput(&factory, workers, workflows)))
        .collect();
    print!("{}", table(&reports));
}
