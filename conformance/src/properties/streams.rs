//! Properties of [`StreamStore`]: dense offsets (also under concurrent writers), reads from an
//! offset with a limit, closing, replays, and waits for more values.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::streams::{CLOSE_STREAM_STEP, STREAM_CLOSED_SENTINEL, WRITE_STREAM_STEP};
use dbos_storage_core::StreamStore;
use dbos_storage_core::{
    AwaitOptions, Caller, ErrorKind, InsertOptions, Payload, StreamRead, StreamReadOptions,
    StreamWriteOutcome, WorkflowStatus,
};

use crate::checks::*;
use crate::Factory;

/// How many writers race in [`offsets_are_dense_under_concurrent_writers`], and how many
/// values each writes.
const WRITERS: usize = 16;
const WRITES_EACH: usize = 4;

/// The bound of an `await_stream` that something else ends first.
const LONG: Duration = Duration::from_secs(60);

/// A `portable_json` value.
fn json(text: &str) -> Payload {
    Payload::portable_json(text)
}

/// Workflow `workflow_id` itself, at step `function_id`, with owner token `o`.
fn by_workflow(workflow_id: &str, function_id: i32) -> Caller {
    Caller::workflow(workflow_id, function_id).with_owner("o")
}

/// Reads stream `key` of `workflow_id` from `from` with at most `limit` values.
async fn read<S: StreamStore + ?Sized>(
    store: &S,
    workflow_id: &str,
    key: &str,
    from: i32,
    limit: u32,
) -> StreamRead {
    let options = StreamReadOptions::default().from_offset(from).limit(limit);
    ok(
        store.read_stream(workflow_id, key, options).await,
        &format!("read_stream({workflow_id:?}, {key:?}) from {from}, limit {limit}"),
    )
}

/// The offsets and texts of a read.
fn entries(read: &StreamRead) -> Vec<(i32, &str)> {
    read.values
        .iter()
        .map(|entry| (entry.offset, entry.value.text.as_str()))
        .collect()
}

/// Values written by a workflow get offsets 0, 1, 2, … and one `DBOS.writeStream` step each;
/// the close is step `DBOS.closeStream` at the next offset. A read returns the values in
/// order (labels kept) then `closed`; it starts at its offset, honours its limit, and reports
/// the writer's status.
pub async fn reads_return_values_in_order_then_closed<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    let values = [json("\"v0\""), Payload::rust_serde("{\"v\":1}"), json("2")];
    for (i, value) in values.iter().enumerate() {
        let step = i as i32 + 1;
        assert_eq!(
            ok(
                store
                    .write_stream(by_workflow("w", step), "s", value.clone())
                    .await,
                "write_stream"
            ),
            StreamWriteOutcome::written(i as i32),
            "value {i} is written at offset {i}"
        );
    }
    assert_eq!(
        ok(store.close_stream(by_workflow("w", 4), "s").await, "close"),
        StreamWriteOutcome::written(3),
        "the close sentinel takes the next offset"
    );
    assert_eq!(
        step_names(&store, "w").await,
        [
            (1, WRITE_STREAM_STEP.to_owned()),
            (2, WRITE_STREAM_STEP.to_owned()),
            (3, WRITE_STREAM_STEP.to_owned()),
            (4, CLOSE_STREAM_STEP.to_owned())
        ]
    );
    let all = read(&store, "w", "s", 0, 1000).await;
    assert_eq!(
        all.status,
        Some(WorkflowStatus::Pending),
        "the writer's status"
    );
    let got: Vec<Payload> = all.values.iter().map(|e| e.value.clone()).collect();
    assert_eq!(got, values, "every value, in order, with its label");
    assert_eq!(
        entries(&all).iter().map(|e| e.0).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(all.closed, "a full read ends with closed: {all:?}");

    let tail = read(&store, "w", "s", 1, 1000).await;
    assert_eq!(
        entries(&tail),
        [(1, "{\"v\":1}"), (2, "2")],
        "a read from offset 1"
    );
    assert!(tail.closed);
    let head = read(&store, "w", "s", 0, 2).await;
    assert_eq!(
        entries(&head),
        [(0, "\"v0\""), (1, "{\"v\":1}")],
        "a read of at most 2"
    );
    assert!(
        !head.closed,
        "the limit cut the read before the sentinel: {head:?}"
    );
    let end = read(&store, "w", "s", 3, 10).await;
    assert!(
        end.values.is_empty() && end.closed,
        "a read at the sentinel: {end:?}"
    );
    let past = read(&store, "w", "s", 10, 10).await;
    assert!(
        past.values.is_empty() && !past.closed,
        "a read past the end: {past:?}"
    );
    let other = read(&store, "w", "other-key", 0, 10).await;
    assert!(
        other.values.is_empty() && !other.closed,
        "another key is another stream"
    );
    factory.destroy(store).await;
}

/// A replayed write or close writes nothing (`replayed`, no offset), even with another value.
/// After the close, a write fails with `InvalidInput` (from a workflow or inside a step) and a
/// second close succeeds without appending (`offset` `None`, not replayed). The close sentinel
/// is refused as a value. A write for a missing workflow is `NotFound`; inside a step, a
/// foreign token is `NotOwner`.
pub async fn writes_replay_and_respect_the_close<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    ok(
        store
            .write_stream(by_workflow("w", 1), "s", json("0"))
            .await,
        "write 0",
    );
    assert_eq!(
        ok(
            store
                .write_stream(by_workflow("w", 1), "s", json("\"other\""))
                .await,
            "replay of step 1"
        ),
        StreamWriteOutcome::replayed(),
        "a replayed write writes nothing"
    );
    err(
        store
            .write_stream(by_workflow("w", 2), "s", json(STREAM_CLOSED_SENTINEL))
            .await,
        ErrorKind::InvalidInput,
        "writing the close sentinel as a value",
    );
    err(
        store
            .write_stream(Caller::step("w", 2).with_owner("intruder"), "s", json("1"))
            .await,
        ErrorKind::NotOwner,
        "a write inside a step with a foreign token",
    );
    err(
        store
            .write_stream(by_workflow("ghost", 1), "s", json("1"))
            .await,
        ErrorKind::NotFound,
        "a write for a missing workflow",
    );
    let in_step = ok(
        store
            .write_stream(Caller::step("w", 2).with_owner("o"), "s", json("1"))
            .await,
        "a write inside step 2",
    );
    assert_eq!(in_step, StreamWriteOutcome::written(1));
    assert_eq!(
        ok(store.close_stream(by_workflow("w", 3), "s").await, "close"),
        StreamWriteOutcome::written(2)
    );
    assert_eq!(
        ok(
            store.close_stream(by_workflow("w", 3), "s").await,
            "replay of the close"
        ),
        StreamWriteOutcome::replayed()
    );
    assert_eq!(
        ok(
            store
                .write_stream(by_workflow("w", 1), "s", json("0"))
                .await,
            "replay of step 1 after the close"
        ),
        StreamWriteOutcome::replayed(),
        "a replay is answered from its step, closed stream or not"
    );
    err(
        store
            .write_stream(by_workflow("w", 4), "s", json("2"))
            .await,
        ErrorKind::InvalidInput,
        "a write from a workflow after the close",
    );
    err(
        store
            .write_stream(Caller::step("w", 4).with_owner("o"), "s", json("2"))
            .await,
        ErrorKind::InvalidInput,
        "a write inside a step after the close",
    );
    let again = ok(
        store
            .close_stream(Caller::step("w", 4).with_owner("o"), "s")
            .await,
        "a second close",
    );
    assert_eq!(
        (again.offset, again.replayed),
        (None, false),
        "closing a closed stream appends nothing and is not an error"
    );
    let all = read(&store, "w", "s", 0, 1000).await;
    assert_eq!(
        entries(&all),
        [(0, "0"), (1, "1")],
        "exactly the accepted writes"
    );
    assert!(all.closed);
    assert_eq!(
        step_names(&store, "w").await,
        [
            (1, WRITE_STREAM_STEP.to_owned()),
            (3, CLOSE_STREAM_STEP.to_owned())
        ],
        "refused writes and writes inside steps record no step"
    );
    let label_only = Payload::rust_serde(STREAM_CLOSED_SENTINEL);
    assert_eq!(
        ok(
            store
                .write_stream(by_workflow("w", 5), "t", label_only.clone())
                .await,
            "the sentinel's text under another label"
        ),
        StreamWriteOutcome::written(0),
        "only the portable_json sentinel closes a stream"
    );
    let other = read(&store, "w", "t", 0, 10).await;
    assert_eq!(other.values.len(), 1, "{other:?}");
    assert!(!other.closed, "{other:?}");
    factory.destroy(store).await;
}

/// Writers racing on one stream (inside steps) get distinct, dense offsets: reading back
/// finds offsets 0..n with no gap or duplicate, each holding the value written there.
pub async fn offsets_are_dense_under_concurrent_writers<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for n in 0..WRITES_EACH {
                let caller = Caller::step("w", writer as i32 + 1).with_owner("o");
                let value = json(&format!("\"{writer}-{n}\""));
                let outcome = store.write_stream(caller, "s", value.clone()).await?;
                written.push((outcome.offset, value.text));
            }
            dbos_storage_core::Result::Ok(written)
        }));
    }
    let mut by_offset = std::collections::BTreeMap::new();
    for (writer, task) in writers.into_iter().enumerate() {
        let written = settles("a stream writer", task)
            .await
            .expect("a writing task panicked");
        for (offset, text) in ok(written, &format!("writer {writer}")) {
            let offset =
                offset.unwrap_or_else(|| panic!("writer {writer} got no offset for {text}"));
            if let Some(previous) = by_offset.insert(offset, text.clone()) {
                panic!("offset {offset} was handed out twice: {previous} and {text}");
            }
        }
    }
    let total = WRITERS * WRITES_EACH;
    let offsets: Vec<i32> = by_offset.keys().copied().collect();
    assert_eq!(
        offsets,
        (0..total as i32).collect::<Vec<_>>(),
        "offsets are dense: 0..{total}"
    );
    let all = read(&*store, "w", "s", 0, 1000).await;
    assert_eq!(all.values.len(), total, "every value is read back");
    for entry in &all.values {
        assert_eq!(
            Some(&entry.value.text),
            by_offset.get(&entry.offset),
            "offset {} holds the value written there",
            entry.offset
        );
    }
    let distinct: BTreeSet<&str> = all.values.iter().map(|e| e.value.text.as_str()).collect();
    assert_eq!(distinct.len(), total, "no value is read twice");
    destroy_shared(factory, store).await;
}

/// A read of a missing workflow's stream has status `None` and no values; an existing
/// workflow without the stream reports its status and no values.
pub async fn reads_of_missing_streams_are_empty<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    let missing = read(&store, "ghost", "s", 0, 10).await;
    assert_eq!(missing.status, None, "a missing workflow has no status");
    assert!(missing.values.is_empty() && !missing.closed, "{missing:?}");
    let empty = read(&store, "w", "s", 0, 10).await;
    assert_eq!(empty.status, Some(WorkflowStatus::Pending));
    assert!(empty.values.is_empty() && !empty.closed, "{empty:?}");
    factory.destroy(store).await;
}

/// `await_stream` returns at once when there is something new, when the stream is closed, or
/// when the writer is finished or missing; with nothing new from an active writer it fails
/// with `Timeout` after its bound.
pub async fn await_stream_settles_or_times_out<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["w", "done"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let from = |offset: i32| StreamReadOptions::default().from_offset(offset);
    let short = poll_fast().timeout(Duration::from_millis(100));
    let long = || poll_fast().timeout(LONG);
    let await_stream = |id: &'static str, offset: i32, wait: AwaitOptions| {
        let store = &store;
        async move {
            let what = format!("await_stream({id:?}) from {offset}");
            settles(&what, store.await_stream(id, "s", from(offset), wait)).await
        }
    };
    err(
        await_stream("w", 0, short.clone()).await,
        ErrorKind::Timeout,
        "await_stream of an active writer with nothing written",
    );
    ok(
        store
            .write_stream(by_workflow("w", 1), "s", json("0"))
            .await,
        "write 0",
    );
    let got = ok(await_stream("w", 0, long()).await, "await a written value");
    assert_eq!(entries(&got), [(0, "0")]);
    err(
        await_stream("w", 1, short).await,
        ErrorKind::Timeout,
        "await_stream past the last value of an active writer",
    );
    ok(store.close_stream(by_workflow("w", 2), "s").await, "close");
    let closed = ok(await_stream("w", 1, long()).await, "await a closed stream");
    assert!(closed.values.is_empty() && closed.closed, "{closed:?}");

    ok(
        store
            .write_stream(by_workflow("done", 1), "s", json("0"))
            .await,
        "write",
    );
    assert!(ok(
        store.record_outcome("done", output("1"), Some("o")).await,
        "finish done"
    ));
    let finished = ok(
        await_stream("done", 1, long()).await,
        "await a finished writer",
    );
    assert_eq!(finished.status, Some(WorkflowStatus::Success));
    assert!(
        finished.values.is_empty() && !finished.closed,
        "a finished writer with nothing new settles the wait, unclosed: {finished:?}"
    );
    let missing = ok(
        await_stream("ghost", 0, long()).await,
        "await a missing writer",
    );
    assert_eq!(missing.status, None);
    assert!(missing.values.is_empty(), "{missing:?}");
    factory.destroy(store).await;
}

/// An `await_stream` waiting with a long bound gets a value written by another task while it
/// waits; so does one waiting for the close.
pub async fn a_value_written_during_a_wait_arrives<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    let spawn_wait = |offset: i32| {
        let store = store.clone();
        let options = StreamReadOptions::default().from_offset(offset);
        tokio::spawn(async move {
            store
                .await_stream("w", "s", options, poll_fast().timeout(LONG))
                .await
        })
    };
    let first = spawn_wait(0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !first.is_finished(),
        "await_stream returned before anything was written"
    );
    ok(
        store
            .write_stream(by_workflow("w", 1), "s", json("\"v\""))
            .await,
        "write",
    );
    let got = settles("await_stream woken by a write", first)
        .await
        .expect("the waiting task panicked");
    assert_eq!(entries(&ok(got, "await_stream")), [(0, "\"v\"")]);

    let closing = spawn_wait(1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !closing.is_finished(),
        "await_stream returned with nothing new"
    );
    ok(store.close_stream(by_workflow("w", 2), "s").await, "close");
    let got = settles("await_stream woken by the close", closing)
        .await
        .expect("the waiting task panicked");
    let got = ok(got, "await_stream");
    assert!(got.values.is_empty() && got.closed, "{got:?}");
    destroy_shared(factory, store).await;
}

/// Invalid stream calls are refused with `InvalidInput` and write nothing: an empty key, NUL
/// bytes in a key or value, an empty workflow id, a negative offset, a zero limit.
pub async fn invalid_input_is_rejected<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    for (what, key, value) in [
        ("an empty key", "", json("1")),
        ("a NUL byte in the key", "s\0", json("1")),
        ("a NUL byte in the value", "s", json("\"a\0b\"")),
    ] {
        err(
            store.write_stream(by_workflow("w", 1), key, value).await,
            ErrorKind::InvalidInput,
            &format!("write_stream with {what}"),
        );
    }
    err(
        store.close_stream(by_workflow("w", 1), "").await,
        ErrorKind::InvalidInput,
        "close_stream with an empty key",
    );
    err(
        store
            .write_stream(Caller::workflow("", 1), "s", json("1"))
            .await,
        ErrorKind::InvalidInput,
        "write_stream by an empty workflow id",
    );
    let reads = [
        (
            "a negative offset",
            "w",
            "s",
            StreamReadOptions::default().from_offset(-1),
        ),
        (
            "a zero limit",
            "w",
            "s",
            StreamReadOptions::default().limit(0),
        ),
        ("an empty key", "w", "", StreamReadOptions::default()),
        (
            "an empty workflow id",
            "",
            "s",
            StreamReadOptions::default(),
        ),
    ];
    for (what, id, key, options) in reads {
        err(
            store.read_stream(id, key, options).await,
            ErrorKind::InvalidInput,
            &format!("read_stream with {what}"),
        );
        let what = format!("await_stream with {what}");
        err(
            settles(
                &what,
                store.await_stream(id, key, options, poll_fast().timeout(LONG)),
            )
            .await,
            ErrorKind::InvalidInput,
            &what,
        );
    }
    let all = read(&store, "w", "s", 0, 10).await;
    assert!(
        all.values.is_empty() && !all.closed,
        "refused writes write nothing: {all:?}"
    );
    assert_eq!(step_names(&store, "w").await, Vec::<(i32, String)>::new());
    factory.destroy(store).await;
}
