//! Properties of [`ManagementStore::delete_workflows`]: every row goes, children on request,
//! and a re-run deletes nothing more.

use dbos_storage_core::{DeleteOptions, InsertOptions, StepRecord};

use crate::checks::*;
use crate::operator_fixtures::*;
use crate::Factory;

/// Deleting a workflow removes its status, inputs, output, steps, events, event history and
/// stream entries (an export then fails with `NotFound`) and leaves its children and other
/// workflows alone; unknown ids are ignored; a second delete returns nothing.
pub async fn delete_leaves_no_rows<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", None).await;
    rich_workflow(&store, "keep", None).await;
    let keep_before = doc_text(&export(&store, &["keep"], true).await);
    let deleted = ok(
        store
            .delete_workflows(&ids(&["w", "ghost", "w"]), DeleteOptions::default())
            .await,
        "delete w",
    );
    assert_eq!(deleted, ids(&["w"]), "only the existing id, once");
    assert_gone(&store, "w", "after delete").await;
    assert!(
        exists(&store, &child_of("w")).await,
        "the child stays without delete_children"
    );
    assert_eq!(
        doc_text(&export(&store, &["keep"], true).await),
        keep_before,
        "other workflows are untouched"
    );
    let again = ok(
        store
            .delete_workflows(&ids(&["w"]), DeleteOptions::default())
            .await,
        "delete w again",
    );
    assert!(again.is_empty(), "a re-run deletes nothing: {again:?}");
    // The id is free again: a new workflow of that id starts with no rows.
    ok(
        store
            .insert_workflow(pending("w", "o2"), InsertOptions::default())
            .await,
        "reuse the id w",
    );
    assert!(step_names(&store, "w").await.is_empty(), "no old steps");
    assert!(events_of(&store, "w").await.is_empty(), "no old events");
    assert!(
        stream_of(&store, "w", "s").await.0.is_empty(),
        "no old stream"
    );
    assert_eq!(
        ok(store.workflow_result("w").await, "result of the new w"),
        dbos_storage_core::WorkflowResult::Active(dbos_storage_core::WorkflowStatus::Pending),
        "no old output"
    );
    factory.destroy(store).await;
}

/// With `delete_children`, every descendant goes too (in the order: the given ids, then the
/// descendants), running ones included; without a status guard.
pub async fn delete_children_removes_descendants<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for (id, parent) in [
        ("p", None),
        ("c1", Some("p")),
        ("c2", Some("p")),
        ("g", Some("c1")),
        ("other", None),
    ] {
        let mut wf = pending(id, "o");
        wf.parent_workflow_id = parent.map(str::to_owned);
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            id,
        );
        let step = StepRecord::output(id, 1, "s", json("1"));
        ok(store.record_step(step, Some("o")).await, "step");
    }
    let deleted = ok(
        store
            .delete_workflows(&ids(&["p"]), DeleteOptions::default().delete_children(true))
            .await,
        "delete p with children",
    );
    assert_eq!(deleted[0], "p", "the given id first");
    assert_eq!(sorted(deleted), ids(&["c1", "c2", "g", "p"]));
    for id in ["p", "c1", "c2", "g"] {
        assert_gone(&store, id, "delete with children").await;
    }
    assert_eq!(step_names(&store, "other").await, vec![(1, "s".to_owned())]);
    let again = ok(
        store
            .delete_workflows(&ids(&["p"]), DeleteOptions::default().delete_children(true))
            .await,
        "again",
    );
    assert!(again.is_empty(), "{again:?}");
    factory.destroy(store).await;
}
