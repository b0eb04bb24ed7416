//! The conformance suite against a real CockroachDB cluster, with `inject_retry_errors_enabled`
//! on for every connection. Built when `DBOS_TEST_COCKROACH_URL` is set at build time (see
//! `build.rs`), so the README's test command runs it:
//!
//! ```text
//! DBOS_TEST_COCKROACH_URL=cockroachdb://root@localhost:26257/dbos_test?sslmode=disable \
//!     cargo test --workspace
//! ```
//!
//! With the `cockroach-cluster-tests` feature it is built even without the variable, and every
//! case then fails with a message saying so.
#![cfg(any(dbos_cockroach_cluster, feature = "cockroach-cluster-tests"))]

mod common;

use common::CrdbFactory;

dbos_storage_conformance::suite!(CrdbFactory::cluster());

/// The server of `DBOS_TEST_COCKROACH_URL` is CockroachDB, and the driver opens it as such (by
/// its version string, not as a database marked CockroachDB-compatible).
#[tokio::test]
async fn the_cluster_is_cockroachdb() {
    let factory = CrdbFactory::cluster();
    let url = factory.database_url().await;
    let store = dbos_storage_cockroach::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    dbos_storage_core::LifecycleStore::close(&store)
        .await
        .unwrap();
}
