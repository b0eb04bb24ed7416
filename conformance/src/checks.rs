//! What the properties share: the standard workflows they start from, result checks with clear
//! panic messages, and the bounded waits of properties that wait for a store.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::{
    AwaitOptions, Error, ErrorKind, NewWorkflow, Outcome, Payload, Result, SystemStore,
    WorkflowInfo,
};

use crate::Factory;

/// The area traits, so that properties can call any store method.
pub(crate) use dbos_storage_core::{LifecycleStore, ManagementStore, StepStore, WorkflowStore};

/// The inputs every fixture workflow gets unless a property needs others.
pub(crate) fn inputs() -> Payload {
    Payload::portable_json(r#"{"positionalArgs":[1,"two"],"namedArgs":{"flag":true}}"#)
}

/// A direct start (`PENDING`) of function `wf_fn`, owned by the creator token `owner`.
pub(crate) fn pending(id: &str, owner: &str) -> NewWorkflow {
    NewWorkflow::new(id, "wf_fn", inputs()).with_creator_xid(owner)
}

/// An enqueue of function `wf_fn` on `queue`.
pub(crate) fn enqueued(id: &str, queue: &str) -> NewWorkflow {
    NewWorkflow::new(id, "wf_fn", inputs()).enqueued(queue)
}

/// An output outcome of `text` in `portable_json`.
pub(crate) fn output(text: &str) -> Outcome {
    Outcome::Output(Payload::portable_json(text))
}

/// An error outcome of `text` in `portable_json`.
pub(crate) fn error(text: &str) -> Outcome {
    Outcome::Error(Payload::portable_json(text))
}

/// Owned ids from string slices.
pub(crate) fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The ids of `rows`, sorted, for comparisons where order is not part of the contract.
pub(crate) fn id_set(rows: &[WorkflowInfo]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| r.workflow_id.clone()).collect();
    v.sort();
    v
}

/// `list` sorted.
pub(crate) fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}

/// Waits used by properties: poll often, and give up after a generous bound so a backend that
/// never wakes fails instead of hanging.
pub(crate) fn quick_wait() -> AwaitOptions {
    AwaitOptions::default()
        .poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_secs(20))
}

/// The options of the waits of messages, events and streams: re-check every 20 ms, and no
/// bound of their own (a recv or get-event is bounded by its request's timeout; an
/// `await_stream` gets one with [`AwaitOptions::timeout`]).
pub(crate) fn poll_fast() -> AwaitOptions {
    AwaitOptions::default().poll_interval(Duration::from_millis(20))
}

/// How long a wait that must end gets before [`settles`] calls it hung.
pub(crate) const HUNG_AFTER: Duration = Duration::from_secs(30);

/// Awaits `future`, a wait that must end (a replay, a passed deadline, a value that arrived, a
/// cancelled token), panicking with `what` if it is still running after [`HUNG_AFTER`]. Nothing
/// is asserted about how long it took.
pub(crate) async fn settles<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(HUNG_AFTER, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: still waiting after {HUNG_AFTER:?}; the wait should have ended"),
    }
}

/// The position and name of every step of `workflow_id`, by position.
pub(crate) async fn step_names<S: StepStore + ?Sized>(
    store: &S,
    workflow_id: &str,
) -> Vec<(i32, String)> {
    let steps = ok(
        store
            .list_steps(workflow_id, dbos_storage_core::ListStepsOptions::default())
            .await,
        &format!("list_steps({workflow_id:?})"),
    );
    steps
        .into_iter()
        .map(|step| (step.function_id, step.function_name))
        .collect()
}

/// The recorded outcome of step `function_id` of `workflow_id`, named `name`, which must exist.
pub(crate) async fn recorded<S: StepStore + ?Sized>(
    store: &S,
    workflow_id: &str,
    function_id: i32,
    name: &str,
) -> Option<Outcome> {
    let step = ok(
        store.check_step(workflow_id, function_id, name).await,
        &format!("check_step({workflow_id:?}, {function_id}, {name:?})"),
    );
    match step {
        Some(step) => step.outcome,
        None => panic!("step {function_id} ({name}) of workflow {workflow_id} is not recorded"),
    }
}

/// Unwraps `result`, panicking with `what` and the error otherwise.
#[track_caller]
pub(crate) fn ok<T>(result: Result<T>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: expected success, got {} error: {e}", e.kind()),
    }
}

/// Expects an error of `kind`, panicking with `what` otherwise; returns the error.
#[track_caller]
pub(crate) fn err<T: Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected a {kind} error, got Ok({v:?})"),
        Err(e) if e.kind() == kind => e,
        Err(e) => panic!(
            "{what}: expected a {kind} error, got {} error: {e}",
            e.kind()
        ),
    }
}

/// Reads one workflow, which must exist.
pub(crate) async fn get<S: SystemStore + ?Sized>(store: &S, id: &str) -> WorkflowInfo {
    let rows = ok(
        store.get_workflows(&[id.to_owned()]).await,
        &format!("get_workflows([{id:?}])"),
    );
    match <[WorkflowInfo; 1]>::try_from(rows) {
        Ok([row]) => row,
        Err(rows) => panic!(
            "get_workflows([{id:?}]) returned {} rows, expected exactly one",
            rows.len()
        ),
    }
}

/// Whether a workflow exists.
pub(crate) async fn exists<S: SystemStore + ?Sized>(store: &S, id: &str) -> bool {
    !ok(store.get_workflows(&[id.to_owned()]).await, "get_workflows").is_empty()
}

/// Gives a store that was shared with tasks back to its factory.
pub(crate) async fn destroy_shared<F: Factory>(factory: &F, store: Arc<F::Store>) {
    match Arc::try_unwrap(store) {
        Ok(store) => factory.destroy(store).await,
        Err(_) => panic!("a task still holds the store after the property finished"),
    }
}

/// An error reduced to what the contract fixes: its kind.
pub(crate) fn kind_of<T>(result: Result<T>) -> std::result::Result<T, ErrorKind> {
    result.map_err(|e| e.kind())
}
