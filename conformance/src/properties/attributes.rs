//! Properties of [`ManagementStore::update_workflow_attributes`] and the attribute filter of
//! listings.

use dbos_storage_core::export::WorkflowRow;
use dbos_storage_core::{
    AttributeUpdate, ErrorKind, ExportedWorkflow, ImportOptions, InsertOptions, ListWorkflowsQuery,
};
use serde_json::json;

use crate::checks::*;
use crate::operator_fixtures::*;
use crate::Factory;

/// Replace stores the new map; merge overwrites and adds top-level keys and keeps the others,
/// and merges into an empty map when the workflow has none (SQL NULL or JSON `null`). Both
/// return the stored map, which reads back. Attributes stored as JSON that is not an object
/// (another writer's) read back as unset. An unknown id is `NotFound`; a NUL in a key or
/// value is `InvalidInput`; neither changes anything.
pub async fn attributes_replace_and_merge<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let wf = pending("w", "o").with_attributes(attrs(json!({"a": 1, "b": {"x": 1}})));
    ok(
        store.insert_workflow(wf, InsertOptions::default()).await,
        "w",
    );
    ok(
        store
            .insert_workflow(pending("bare", "o"), InsertOptions::default())
            .await,
        "bare",
    );
    let mut null = WorkflowRow::new("null-attrs", "SUCCESS", 1_000);
    null.name = Some("wf_fn".into());
    null.attributes = Some("null".into());
    ok(
        store
            .import_workflows(vec![ExportedWorkflow::new(null)], ImportOptions::default())
            .await,
        "import a workflow whose attributes are JSON null",
    );
    // Attributes another writer left as JSON that is not an object read back as unset.
    let mut array = WorkflowRow::new("array-attrs", "SUCCESS", 1_000);
    array.name = Some("wf_fn".into());
    array.attributes = Some("[1, 2]".into());
    ok(
        store
            .import_workflows(vec![ExportedWorkflow::new(array)], ImportOptions::default())
            .await,
        "import a workflow whose attributes are a JSON array",
    );
    assert_eq!(get(&store, "array-attrs").await.attributes, None);

    let update = |id: &'static str, v: serde_json::Value, mode| {
        let store = &store;
        async move {
            ok(
                store.update_workflow_attributes(id, attrs(v), mode).await,
                &format!("update attributes of {id}"),
            )
        }
    };
    let merged = update("w", json!({"b": 2, "c": [3]}), AttributeUpdate::Merge).await;
    let want = attrs(json!({"a": 1, "b": 2, "c": [3]}));
    assert_eq!(
        merged, want,
        "merge overwrites b (whole value), adds c, keeps a"
    );
    assert_eq!(get(&store, "w").await.attributes, Some(want));
    let replaced = update("w", json!({"z": true}), AttributeUpdate::Replace).await;
    assert_eq!(replaced, attrs(json!({"z": true})));
    assert_eq!(get(&store, "w").await.attributes, Some(replaced));
    for id in ["bare", "null-attrs"] {
        let merged = update(id, json!({"k": "v"}), AttributeUpdate::Merge).await;
        assert_eq!(
            merged,
            attrs(json!({"k": "v"})),
            "{id} merges into an empty map"
        );
        assert_eq!(get(&store, id).await.attributes, Some(merged), "{id}");
    }

    let before = get(&store, "w").await;
    err(
        store
            .update_workflow_attributes("ghost", attrs(json!({"a": 1})), AttributeUpdate::Merge)
            .await,
        ErrorKind::NotFound,
        "unknown workflow",
    );
    for bad in [
        json!({"k": "a\u{0}b"}),
        json!({"k\u{0}": 1}),
        json!({"k": ["\u{0}"]}),
    ] {
        err(
            store
                .update_workflow_attributes("w", attrs(bad.clone()), AttributeUpdate::Replace)
                .await,
            ErrorKind::InvalidInput,
            &format!("attributes {bad}"),
        );
    }
    assert_eq!(get(&store, "w").await, before, "nothing changed");
    assert!(!exists(&store, "ghost").await);
    factory.destroy(store).await;
}

/// Listing by attributes sees updated maps (containment).
///
/// Needs the `attribute_filter` capability: [`suite!`](crate::suite) skips it on a backend that
/// does not declare it (`workflows::attribute_filter_follows_capability` checks that such a
/// backend refuses the filter).
pub async fn attribute_updates_are_listed<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["a", "b"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    ok(
        store
            .update_workflow_attributes("a", attrs(json!({"team": "red"})), AttributeUpdate::Merge)
            .await,
        "update a",
    );
    let query = ListWorkflowsQuery::new().attributes(attrs(json!({"team": "red"})));
    let listed = store.list_workflows(query).await;
    assert_eq!(id_set(&ok(listed, "list by attributes")), ids(&["a"]));
    ok(
        store
            .update_workflow_attributes("a", attrs(json!({"team": "blue"})), AttributeUpdate::Merge)
            .await,
        "update a again",
    );
    let query = ListWorkflowsQuery::new().attributes(attrs(json!({"team": "red"})));
    assert!(ok(store.list_workflows(query).await, "list again").is_empty());
    factory.destroy(store).await;
}
