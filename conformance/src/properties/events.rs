//! Properties of [`EventStore`]: events set from a workflow or inside a step, their replays,
//! reads that wait with a durable timeout, and the map of current values.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::events::{GET_EVENT_STEP, SET_EVENT_STEP};
use dbos_storage_core::EventStore;
use dbos_storage_core::{
    Caller, CancelOptions, ErrorKind, GetEventRequest, InsertOptions, Outcome, Payload,
    SetEventOutcome, StepRecord, SLEEP_STEP,
};

use crate::checks::*;
use crate::Factory;

/// The timeout of a read that is expected to find nothing: short, so the suite stays fast.
const SHORT: Duration = Duration::from_millis(50);

/// The timeout of a wait that something else ends first.
const LONG: Duration = Duration::from_secs(60);

/// A `portable_json` value.
fn json(text: &str) -> Payload {
    Payload::portable_json(text)
}

/// Workflow `workflow_id` itself, at step `function_id`, with owner token `o`.
fn by_workflow(workflow_id: &str, function_id: i32) -> Caller {
    Caller::workflow(workflow_id, function_id).with_owner("o")
}

/// The current value of event `key` of `workflow_id`, read without waiting.
async fn current<S: EventStore + ?Sized>(
    store: &S,
    workflow_id: &str,
    key: &str,
) -> Option<Payload> {
    ok(store.get_all_events(workflow_id).await, "get_all_events").remove(key)
}

/// A read of event `key` of `target` that must end: from workflow `reader` at step
/// `function_id` (its timeout at the next position) when given, else from a client.
async fn read<S: EventStore + ?Sized>(
    store: &S,
    target: &str,
    key: &str,
    timeout: Duration,
    reader: Option<(&str, i32)>,
) -> Option<Payload> {
    let mut request = GetEventRequest::new(target, key, timeout);
    if let Some((reader, function_id)) = reader {
        request = request.from_workflow(
            Caller::workflow(reader, function_id)
                .with_timeout_step(function_id + 1)
                .with_owner("o"),
        );
    }
    let what = format!("get_event({target:?}, {key:?}) by {reader:?}");
    ok(
        settles(&what, store.get_event(request, poll_fast())).await,
        &what,
    )
}

/// An event set by a workflow writes the current value and records step `DBOS.setEvent` in
/// one call; its replay writes nothing (`replayed`), even with another value; a later step
/// overwrites the value. A set over another step is `UnexpectedStep`, from a cancelled
/// workflow `Cancelled`, with a foreign token `NotOwner`, for a missing workflow `NotFound`.
pub async fn set_event_from_a_workflow_is_one_step<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    let set = |function_id: i32, key: &'static str, value: &str| {
        store.set_event(by_workflow("w", function_id), key, json(value))
    };
    assert_eq!(
        ok(set(1, "k", "\"v1\"").await, "set k at step 1"),
        SetEventOutcome::new(false)
    );
    assert_eq!(current(&store, "w", "k").await, Some(json("\"v1\"")));
    assert_eq!(recorded(&store, "w", 1, SET_EVENT_STEP).await, None);
    assert_eq!(
        ok(set(1, "k", "\"changed\"").await, "replay of step 1"),
        SetEventOutcome::new(true),
        "a replayed set_event writes nothing"
    );
    assert_eq!(
        current(&store, "w", "k").await,
        Some(json("\"v1\"")),
        "the replay did not overwrite the value"
    );
    ok(set(2, "k", "\"v2\"").await, "set k at step 2");
    ok(set(3, "other", "3").await, "set other at step 3");
    assert_eq!(
        current(&store, "w", "k").await,
        Some(json("\"v2\"")),
        "step 2 overwrote k"
    );
    ok(
        store
            .record_step(StepRecord::with_outcome("w", 4, "fetch", None), Some("o"))
            .await,
        "record step 4",
    );
    err(
        set(4, "k", "\"v4\"").await,
        ErrorKind::UnexpectedStep,
        "set_event over another step",
    );
    err(
        store
            .set_event(
                Caller::workflow("w", 5).with_owner("intruder"),
                "k",
                json("5"),
            )
            .await,
        ErrorKind::NotOwner,
        "set_event with a foreign token",
    );
    err(
        store
            .set_event(Caller::workflow("ghost", 1), "k", json("1"))
            .await,
        ErrorKind::NotFound,
        "set_event of a missing workflow",
    );
    err(
        store
            .set_event(Caller::step("ghost", 1), "k", json("1"))
            .await,
        ErrorKind::NotFound,
        "set_event inside a step of a missing workflow",
    );
    assert_eq!(
        current(&store, "w", "k").await,
        Some(json("\"v2\"")),
        "refused sets write nothing"
    );
    assert_eq!(
        step_names(&store, "w").await,
        [
            (1, SET_EVENT_STEP.to_owned()),
            (2, SET_EVENT_STEP.to_owned()),
            (3, SET_EVENT_STEP.to_owned()),
            (4, "fetch".to_owned())
        ]
    );
    ok(
        store
            .cancel_workflows(&ids(&["w"]), CancelOptions::default())
            .await,
        "cancel w",
    );
    err(
        store
            .set_event(Caller::workflow("w", 6), "k", json("6"))
            .await,
        ErrorKind::Cancelled,
        "set_event from a cancelled workflow",
    );
    factory.destroy(store).await;
}

/// An event set inside a step is written (again on each call: no replay) and records no step;
/// a foreign owner token is refused with `NotOwner` and writes nothing.
pub async fn set_event_inside_a_step_checks_owner<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    for value in ["1", "2"] {
        let outcome = ok(
            store
                .set_event(Caller::step("w", 3).with_owner("o"), "k", json(value))
                .await,
            "set_event inside step 3",
        );
        assert_eq!(
            outcome,
            SetEventOutcome::new(false),
            "a set inside a step is never a replay"
        );
        assert_eq!(current(&store, "w", "k").await, Some(json(value)));
    }
    err(
        store
            .set_event(Caller::step("w", 3).with_owner("intruder"), "k", json("3"))
            .await,
        ErrorKind::NotOwner,
        "set_event inside a step with a foreign token",
    );
    assert_eq!(
        current(&store, "w", "k").await,
        Some(json("2")),
        "a refused set writes nothing"
    );
    assert_eq!(
        step_names(&store, "w").await,
        Vec::<(i32, String)>::new(),
        "sets inside a step record no step"
    );
    factory.destroy(store).await;
}

/// A read from a workflow records `DBOS.getEvent` with the value; its replay returns that value
/// even after the event changed. A read that times out returns `None`, records `DBOS.getEvent`
/// without an outcome and its `DBOS.sleep`, and its replay returns `None` at once even after
/// the event was set. A client read records nothing.
pub async fn get_event_from_a_workflow_is_recorded<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["w", "r"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    ok(
        store
            .set_event(by_workflow("w", 1), "k", json("\"v1\""))
            .await,
        "set k",
    );
    assert_eq!(
        read(&store, "w", "k", LONG, Some(("r", 1))).await,
        Some(json("\"v1\"")),
        "an existing event is read at once"
    );
    assert_eq!(
        recorded(&store, "r", 1, GET_EVENT_STEP).await,
        Some(Outcome::Output(json("\"v1\""))),
        "the read is recorded as DBOS.getEvent with its value"
    );
    ok(
        store
            .set_event(by_workflow("w", 2), "k", json("\"v2\""))
            .await,
        "set k again",
    );
    assert_eq!(
        read(&store, "w", "k", LONG, Some(("r", 1))).await,
        Some(json("\"v1\"")),
        "the replay returns the first run's value, not the current one"
    );
    assert_eq!(
        read(&store, "w", "k", SHORT, None).await,
        Some(json("\"v2\"")),
        "a client reads the current value"
    );

    assert_eq!(
        read(&store, "w", "late", SHORT, Some(("r", 3))).await,
        None,
        "a read of an event that is never set times out with None"
    );
    assert_eq!(recorded(&store, "r", 3, GET_EVENT_STEP).await, None);
    recorded(&store, "r", 4, SLEEP_STEP).await;
    ok(
        store
            .set_event(by_workflow("w", 3), "late", json("\"now\""))
            .await,
        "set late",
    );
    assert_eq!(
        read(&store, "w", "late", LONG, Some(("r", 3))).await,
        None,
        "the replay of a timed-out read returns None although the event exists now"
    );
    assert_eq!(
        read(&store, "ghost", "k", SHORT, None).await,
        None,
        "a read of a missing workflow's event times out with None"
    );
    let reader_steps = step_names(&store, "r").await;
    assert_eq!(
        reader_steps
            .iter()
            .filter(|(_, n)| n == GET_EVENT_STEP)
            .count(),
        2,
        "two reads from r are recorded, the client reads are not: {reader_steps:?}"
    );
    factory.destroy(store).await;
}

/// A read waiting with a long timeout gets an event set by another task while it waits, from a
/// workflow and from a client.
pub async fn an_event_set_during_a_wait_arrives<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    for id in ["w", "r"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let from_workflow = {
        let store = store.clone();
        let caller = Caller::workflow("r", 1).with_timeout_step(2);
        let request = GetEventRequest::new("w", "k", LONG).from_workflow(caller);
        tokio::spawn(async move { store.get_event(request, poll_fast()).await })
    };
    let from_client = {
        let store = store.clone();
        let request = GetEventRequest::new("w", "k", LONG);
        tokio::spawn(async move { store.get_event(request, poll_fast()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !from_workflow.is_finished() && !from_client.is_finished(),
        "get_event returned before the event was set"
    );
    ok(
        store
            .set_event(by_workflow("w", 1), "k", json("\"arrived\""))
            .await,
        "set k",
    );
    for (who, task) in [("a workflow", from_workflow), ("a client", from_client)] {
        let got = settles(&format!("get_event by {who} woken by set_event"), task)
            .await
            .expect("the reading task panicked");
        assert_eq!(
            ok(got, "get_event"),
            Some(json("\"arrived\"")),
            "the event set during the wait of {who} arrives"
        );
    }
    assert_eq!(
        recorded(&*store, "r", 1, GET_EVENT_STEP).await,
        Some(Outcome::Output(json("\"arrived\"")))
    );
    destroy_shared(factory, store).await;
}

/// `get_all_events` returns the current value of every key of one workflow (with its label),
/// none of another's, and an empty map for a missing workflow.
pub async fn get_all_events_returns_the_current_map<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["w", "other"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    assert_eq!(
        ok(store.get_all_events("w").await, "get_all_events"),
        BTreeMap::new(),
        "no event yet"
    );
    ok(
        store.set_event(by_workflow("w", 1), "a", json("1")).await,
        "a",
    );
    ok(
        store
            .set_event(by_workflow("w", 2), "b", Payload::rust_serde("{\"b\":2}"))
            .await,
        "b",
    );
    ok(
        store.set_event(by_workflow("w", 3), "a", json("3")).await,
        "a again",
    );
    ok(
        store
            .set_event(Caller::step("w", 4).with_owner("o"), "c", json("4"))
            .await,
        "c inside a step",
    );
    ok(
        store
            .set_event(by_workflow("other", 1), "a", json("9"))
            .await,
        "other's a",
    );
    let expected: BTreeMap<String, Payload> = [
        ("a".to_owned(), json("3")),
        ("b".to_owned(), Payload::rust_serde("{\"b\":2}")),
        ("c".to_owned(), json("4")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        ok(store.get_all_events("w").await, "get_all_events"),
        expected
    );
    assert_eq!(
        ok(
            store.get_all_events("ghost").await,
            "get_all_events of a missing workflow"
        ),
        BTreeMap::new()
    );
    factory.destroy(store).await;
}

/// Invalid event calls are refused with `InvalidInput` and write nothing: an empty key, NUL
/// bytes in a key or value, an empty workflow id, a read from inside a step or without a
/// timeout step.
pub async fn invalid_input_is_rejected<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    let long_key = "k".repeat(dbos_storage_core::messages::MAX_TOPIC_BYTES + 1);
    for (what, key, value) in [
        ("an empty key", "", json("1")),
        ("a NUL byte in the key", "k\0", json("1")),
        ("a key over the length limit", long_key.as_str(), json("1")),
        ("a NUL byte in the value", "k", json("\"a\0b\"")),
    ] {
        err(
            store.set_event(by_workflow("w", 1), key, value).await,
            ErrorKind::InvalidInput,
            &format!("set_event with {what}"),
        );
    }
    err(
        store
            .set_event(Caller::workflow("", 1), "k", json("1"))
            .await,
        ErrorKind::InvalidInput,
        "set_event by an empty workflow id",
    );
    let requests = [
        ("an empty key", GetEventRequest::new("w", "", SHORT)),
        (
            "a NUL byte in the key",
            GetEventRequest::new("w", "k\0", SHORT),
        ),
        ("an empty target", GetEventRequest::new("", "k", SHORT)),
        (
            "a caller inside a step",
            GetEventRequest::new("w", "k", SHORT)
                .from_workflow(Caller::step("w", 1).with_timeout_step(2)),
        ),
        (
            "a workflow caller without a timeout step",
            GetEventRequest::new("w", "k", SHORT).from_workflow(Caller::workflow("w", 1)),
        ),
    ];
    for (what, request) in requests {
        let what = format!("get_event with {what}");
        err(
            settles(&what, store.get_event(request, poll_fast())).await,
            ErrorKind::InvalidInput,
            &what,
        );
    }
    err(
        store.get_all_events("").await,
        ErrorKind::InvalidInput,
        "get_all_events of an empty workflow id",
    );
    assert_eq!(
        ok(store.get_all_events("w").await, "get_all_events"),
        BTreeMap::new(),
        "refused calls write nothing"
    );
    assert_eq!(step_names(&store, "w").await, Vec::<(i32, String)>::new());
    factory.destroy(store).await;
}
