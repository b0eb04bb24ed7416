//! Properties of [`LifecycleStore`]: migration, connection checks, declared capabilities and
//! closing.

use std::time::Duration;

use dbos_storage_core::{
    AwaitOptions, CancelOptions, ErrorKind, InsertOptions, ListStepsOptions, ListWorkflowsQuery,
    ResumeOptions, StepRecord, DBOS_SCHEMA_VERSION,
};

use crate::checks::*;
use crate::Factory;

/// `migrate` reports the current DBOS schema version, is idempotent, and leaves existing rows
/// alone; `schema_version` agrees with it.
pub async fn migrate_is_idempotent<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let first = ok(store.migrate().await, "migrate a fresh store");
    assert!(
        first.recorded >= DBOS_SCHEMA_VERSION && first.latest == DBOS_SCHEMA_VERSION,
        "migrate reports recorded >= {DBOS_SCHEMA_VERSION} and latest = {DBOS_SCHEMA_VERSION}, \
         got {first:?}"
    );
    assert!(first.is_current());
    ok(
        store
            .insert_workflow(pending("kept", "o"), InsertOptions::default())
            .await,
        "insert",
    );
    let second = ok(store.migrate().await, "migrate again");
    assert_eq!(second, first, "a second migrate changes nothing");
    assert_eq!(
        ok(store.schema_version().await, "schema_version"),
        first,
        "schema_version reads what migrate reported"
    );
    assert!(exists(&store, "kept").await, "migrate keeps existing rows");
    factory.destroy(store).await;
}

/// `check_connection` succeeds on a working store, and the backend has a name.
pub async fn check_connection_succeeds<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(store.check_connection().await, "check_connection");
    assert!(!store.backend().is_empty(), "backend() names the backend");
    factory.destroy(store).await;
}

/// The store reports exactly the capabilities the factory declares.
pub async fn capabilities_match_declared<F: Factory>(factory: &F) {
    let store = factory.create().await;
    assert_eq!(
        store.capabilities(),
        factory.capabilities(),
        "the {} store's capabilities differ from the ones its factory declares",
        store.backend()
    );
    factory.destroy(store).await;
}

/// After `close`, every call fails with `Closed` (waits included), and closing again is fine.
pub async fn closed_store_refuses_calls<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "insert",
    );
    ok(store.close().await, "close");
    ok(store.close().await, "close again");
    let closed = ErrorKind::Closed;
    let w = ids(&["w"]);
    err(store.migrate().await, closed, "migrate");
    err(store.schema_version().await, closed, "schema_version");
    err(store.check_connection().await, closed, "check_connection");
    err(
        store
            .insert_workflow(pending("w2", "o"), InsertOptions::default())
            .await,
        closed,
        "insert_workflow",
    );
    err(store.get_workflows(&w).await, closed, "get_workflows");
    err(
        store.list_workflows(ListWorkflowsQuery::new()).await,
        closed,
        "list_workflows",
    );
    err(
        store.record_outcome("w", output("1"), Some("o")).await,
        closed,
        "record_outcome",
    );
    err(store.workflow_result("w").await, closed, "workflow_result");
    let wait = AwaitOptions::default()
        .poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_secs(10));
    err(
        store.await_workflow_result("w", wait.clone()).await,
        closed,
        "await_workflow_result",
    );
    err(store.first_finished(&w).await, closed, "first_finished");
    err(
        store.await_first_finished(&w, wait).await,
        closed,
        "await_first_finished",
    );
    err(
        store.workflow_children("w").await,
        closed,
        "workflow_children",
    );
    err(store.check_step("w", 1, "s").await, closed, "check_step");
    err(
        store
            .record_step(StepRecord::with_outcome("w", 1, "s", None), Some("o"))
            .await,
        closed,
        "record_step",
    );
    err(
        store.list_steps("w", ListStepsOptions::default()).await,
        closed,
        "list_steps",
    );
    err(
        store
            .start_child_workflow("w", 2, pending("c", "o"), InsertOptions::default(), None)
            .await,
        closed,
        "start_child_workflow",
    );
    err(
        store
            .record_sleep("w", 3, Duration::from_secs(1), None)
            .await,
        closed,
        "record_sleep",
    );
    err(
        store.cancel_workflows(&w, CancelOptions::default()).await,
        closed,
        "cancel_workflows",
    );
    err(
        store.resume_workflows(&w, ResumeOptions::default()).await,
        closed,
        "resume_workflows",
    );
    factory.destroy(store).await;
}
