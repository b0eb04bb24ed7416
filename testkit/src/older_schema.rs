//! What a store does on a database another DBOS SDK left at an earlier shared schema version:
//! the checks the SQLite and PostgreSQL drivers' `older_schema` tests both run, each on a store
//! their own migrations stopped early, after they wrote the rows an older SDK writes
//! (`workflow_status` and `workflow_input` only, input `[1,2]`).

use dbos_storage_core::{
    Error, ErrorKind, InsertOptions, ListWorkflowsQuery, NewWorkflow, Payload, StepRecord,
    SystemStore,
};

/// The number of workflows `store` lists.
async fn listed<S: SystemStore + ?Sized>(store: &S) -> usize {
    store
        .list_workflows(ListWorkflowsQuery::new())
        .await
        .expect("list workflows")
        .len()
}

/// At 123 (DBOS Transact for TypeScript 5.3) everything this build reads and writes exists:
/// the older SDK's workflow `old_id` is listed and read with its input, a workflow starts and
/// records a step, the version stays 123, and `migrate` then brings it to 125.
///
/// # Panics
/// When the store does otherwise.
pub async fn a_database_at_123_is_read_and_written<S: SystemStore + ?Sized>(
    store: &S,
    old_id: &str,
) {
    let rows = store
        .list_workflows(ListWorkflowsQuery::new())
        .await
        .expect("list at 123");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].workflow_id, old_id);
    let got = store
        .get_workflows(&[old_id.to_owned()])
        .await
        .expect("get at 123");
    assert_eq!(got[0].inputs.as_deref(), Some("[1,2]"));

    let wf = NewWorkflow::new("rs-1", "rust_workflow", Payload::portable_json("[]"));
    let owner = wf.creator_xid.clone();
    store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .expect("start at 123");
    store
        .record_step(
            StepRecord::output("rs-1", 1, "charge", Payload::portable_json("true")),
            Some(&owner),
        )
        .await
        .expect("step at 123");
    assert_eq!(store.schema_version().await.unwrap().recorded, 123);

    assert_eq!(store.migrate().await.unwrap().recorded, 125);
    assert_eq!(listed(store).await, 2);
}

/// At 122 the workflow rows have no `creator_xid` (123): the older SDK's workflow is listed,
/// starting a workflow fails naming the column, the migration and `migrate`, and nothing is
/// written. Returns the error, for the driver's own checks.
///
/// # Panics
/// When the store does otherwise.
pub async fn a_start_at_122_names_creator_xid<S: SystemStore + ?Sized>(store: &S) -> Error {
    assert_eq!(listed(store).await, 1);
    let e = store
        .insert_workflow(
            NewWorkflow::new("new-1", "w", Payload::portable_json("[]")),
            InsertOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    assert!(
        e.message().starts_with(
            "the system database lacks column workflow_status.creator_xid, which DBOS \
             migration 123 adds: its schema is older than this operation needs; run \
             `dbos-storage migrate`"
        ),
        "{e}"
    );
    assert_eq!(listed(store).await, 1, "nothing written");
    e
}

/// At 109 a step row has no `retention_timestamp` (110): recording a step of the older SDK's
/// workflow `old_id` fails naming the column and its migration.
///
/// # Panics
/// When the store does otherwise.
pub async fn a_step_at_109_names_retention_timestamp<S: SystemStore + ?Sized>(
    store: &S,
    old_id: &str,
) {
    let e = store
        .record_step(
            StepRecord::output(old_id, 1, "s", Payload::portable_json("1")),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    assert!(
        e.message()
            .contains("column operation_outputs.retention_timestamp, which DBOS migration 110"),
        "{e}"
    );
}

/// Below 109 the payload tables are missing: a read names them.
///
/// # Panics
/// When the store does otherwise.
pub async fn a_read_at_108_names_the_payload_tables<S: SystemStore + ?Sized>(store: &S) {
    let e = store
        .list_workflows(ListWorkflowsQuery::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    assert!(
        e.message()
            .contains("table workflow_input, which DBOS migration 109 adds")
            || e.message()
                .contains("table workflow_output, which DBOS migration 109 adds"),
        "{e}"
    );
}
