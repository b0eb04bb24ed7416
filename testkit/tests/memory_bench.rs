//! The dequeue benchmark of `bench`, run small against `MemoryStore` as a test: it must drain
//! its queue (nothing about its timing is checked).

/// The dequeue benchmark drains its queue: every workflow is claimed and completed once.
#[test]
fn dequeue_benchmark_completes_every_workflow() {
    let report = dbos_storage_conformance::runner::runtime().block_on(
        dbos_storage_testkit::bench::dequeue_throughput(
            &dbos_storage_conformance::MemoryFactory::new(),
            16,
            400,
        ),
    );
    assert_eq!((report.claimed, report.completed), (400, 400), "{report:?}");
    assert_eq!(report.backend, "memory");
    assert!(report.claims >= 400 / 8, "{report:?}");
}
