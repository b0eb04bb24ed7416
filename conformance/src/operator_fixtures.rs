//! Fixtures of the operator properties (fork, rewind, delete, retention, export, metrics,
//! renames): a finished workflow with every kind of row, built through the contract only.

use std::collections::BTreeMap;
use std::time::Duration;

use dbos_storage_core::{events::SET_EVENT_STEP, streams::WRITE_STREAM_STEP};
use dbos_storage_core::{
    Caller, ExportDocument, ExportedWorkflow, InsertOptions, NewWorkflow, Payload, StepRecord,
    StreamReadOptions, SystemStore,
};

use crate::checks::*;

/// A `portable_json` payload.
pub(crate) fn json(text: &str) -> Payload {
    Payload::portable_json(text)
}

/// An attribute map from a JSON object literal.
pub(crate) fn attrs(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("attribute maps are JSON objects, not {other}"),
    }
}

/// Workflow `workflow_id` itself at step `function_id`, with owner token `o`.
pub(crate) fn at(workflow_id: &str, function_id: i32) -> Caller {
    Caller::workflow(workflow_id, function_id).with_owner("o")
}

/// The child [`rich_workflow`] starts at step 4.
pub(crate) fn child_of(workflow_id: &str) -> String {
    format!("{workflow_id}-child")
}

/// Builds a finished (`SUCCESS`) workflow `id` of application `app`, owner token `o`, version
/// `v1`, timeout 60 s, attributes `{"team": "a"}`, with these steps:
///
/// | step | what |
/// |---|---|
/// | 1 | step `a`, output `1` |
/// | 2 | event `k` = `"k1"` |
/// | 3 | stream `s` value `"v0"` |
/// | 4 | child `{id}-child` (function `child_fn`, left `PENDING`) |
/// | 5 | step `b`, error `"boom"` |
/// | 6 | event `k` = `"k2"` |
/// | 7 | event `j` = `"j1"` |
/// | 8 | stream `s` value `"v1"` |
/// | 9 | stream `s` closed |
pub(crate) async fn rich_workflow<S: SystemStore + ?Sized>(store: &S, id: &str, app: Option<&str>) {
    let mut wf = pending(id, "o")
        .with_application_version("v1")
        .with_timeout(Duration::from_secs(60))
        .with_attributes(attrs(serde_json::json!({"team": "a"})))
        .with_auth(
            Some("alice".into()),
            Some("admin".into()),
            Some(vec!["admin".into(), "ops".into()]),
        );
    wf.class_name = Some("Cls".into());
    wf.config_name = Some("cfg".into());
    wf.application_id = Some("app-id".into());
    if let Some(app) = app {
        wf = wf.with_application_name(app);
    }
    let what = |s: &str| format!("rich workflow {id}: {s}");
    ok(
        store.insert_workflow(wf, InsertOptions::default()).await,
        &what("insert"),
    );
    let step = StepRecord::output(id, 1, "a", json("1")).with_times(Some(1_000), 1_001);
    ok(store.record_step(step, Some("o")).await, &what("step 1"));
    ok(
        store.set_event(at(id, 2), "k", json("\"k1\"")).await,
        &what("event k at 2"),
    );
    ok(
        store.write_stream(at(id, 3), "s", json("\"v0\"")).await,
        &what("stream at 3"),
    );
    let child = NewWorkflow::new(child_of(id), "child_fn", inputs()).with_creator_xid("oc");
    ok(
        store
            .start_child_workflow(id, 4, child, InsertOptions::default(), Some("o"))
            .await,
        &what("child at 4"),
    );
    let step = StepRecord::error(id, 5, "b", json("\"boom\"")).with_times(Some(1_004), 1_005);
    ok(store.record_step(step, Some("o")).await, &what("step 5"));
    ok(
        store.set_event(at(id, 6), "k", json("\"k2\"")).await,
        &what("event k at 6"),
    );
    ok(
        store.set_event(at(id, 7), "j", json("\"j1\"")).await,
        &what("event j at 7"),
    );
    ok(
        store.write_stream(at(id, 8), "s", json("\"v1\"")).await,
        &what("stream at 8"),
    );
    ok(
        store.close_stream(at(id, 9), "s").await,
        &what("close at 9"),
    );
    assert!(
        ok(
            store
                .record_outcome(id, output("\"done\""), Some("o"))
                .await,
            &what("outcome")
        ),
        "the outcome of {id} applies"
    );
}

/// The steps of [`rich_workflow`] below `k`, as `(function_id, function_name)`.
pub(crate) fn rich_steps_below(id: &str, k: i32) -> Vec<(i32, String)> {
    let names = [
        "a",
        SET_EVENT_STEP,
        WRITE_STREAM_STEP,
        "child_fn",
        "b",
        SET_EVENT_STEP,
        SET_EVENT_STEP,
        WRITE_STREAM_STEP,
        dbos_storage_core::streams::CLOSE_STREAM_STEP,
    ];
    let _ = id;
    (1..k.min(10))
        .map(|n| (n, names[(n - 1) as usize].to_owned()))
        .collect()
}

/// The current events of a workflow, as `key → text`.
pub(crate) async fn events_of<S: SystemStore + ?Sized>(
    store: &S,
    id: &str,
) -> BTreeMap<String, String> {
    ok(
        store.get_all_events(id).await,
        &format!("get_all_events({id:?})"),
    )
    .into_iter()
    .map(|(k, v)| (k, v.text))
    .collect()
}

/// The values of stream `key` of `id` and whether it is closed.
pub(crate) async fn stream_of<S: SystemStore + ?Sized>(
    store: &S,
    id: &str,
    key: &str,
) -> (Vec<String>, bool) {
    let read = ok(
        store
            .read_stream(id, key, StreamReadOptions::default())
            .await,
        &format!("read_stream({id:?}, {key:?})"),
    );
    let values = read.values.into_iter().map(|e| e.value.text).collect();
    (values, read.closed)
}

/// The export of `ids` (with children when asked), which must succeed.
pub(crate) async fn export<S: SystemStore + ?Sized>(
    store: &S,
    ids: &[&str],
    children: bool,
) -> Vec<ExportedWorkflow> {
    ok(
        store
            .export_workflows(&crate::checks::ids(ids), children)
            .await,
        &format!("export_workflows({ids:?}, children: {children})"),
    )
}

/// The export document text of `workflows`.
pub(crate) fn doc_text(workflows: &[ExportedWorkflow]) -> String {
    ok(
        ExportDocument::new(workflows.to_vec()).to_json(),
        "ExportDocument::to_json",
    )
}

/// Asserts that nothing of workflow `id` is left: no status row, steps, events or stream
/// entries, and an export fails with `NotFound`.
pub(crate) async fn assert_gone<S: SystemStore + ?Sized>(store: &S, id: &str, what: &str) {
    assert!(
        !exists(store, id).await,
        "{what}: workflow {id} still exists"
    );
    assert!(
        step_names(store, id).await.is_empty(),
        "{what}: steps of {id} are left"
    );
    assert!(
        events_of(store, id).await.is_empty(),
        "{what}: events of {id} are left"
    );
    assert!(
        stream_of(store, id, "s").await.0.is_empty(),
        "{what}: stream entries of {id} are left"
    );
    err(
        store.export_workflows(&ids(&[id]), false).await,
        dbos_storage_core::ErrorKind::NotFound,
        &format!("{what}: export of the deleted {id}"),
    );
}
