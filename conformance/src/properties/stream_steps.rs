//! Properties of checkpointed stream reads ([`StreamStore::read_stream_step`]): one value per
//! step of the reading workflow (`DBOS.readStream`, `DBOS.readStreamOffset`), the end recorded
//! as the close sentinel, a timeout recorded as the step's error, replays that return what was
//! read without reading again, a value written during the wait, and the errors of the reader and
//! the writer.

use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::payload::portable::PortableError;
use dbos_storage_core::streams::{
    READ_STREAM_OFFSET_STEP, READ_STREAM_STEP, STREAM_CLOSED_SENTINEL, STREAM_TIMEOUT_ERROR_NAME,
};
use dbos_storage_core::{
    AwaitOptions, Caller, ErrorKind, InsertOptions, Outcome, Payload, StreamStepKind,
    StreamStepOutcome, StreamStepRead, StreamStepRequest, StreamStore,
};

use crate::checks::*;
use crate::Factory;

/// The wait of a read that something else ends first.
const LONG: Duration = Duration::from_secs(60);

/// A `portable_json` value.
fn json(text: &str) -> Payload {
    Payload::portable_json(text)
}

/// The reading workflow `rd`, owned by `ro`, at step `function_id`.
fn reader(function_id: i32) -> Caller {
    Caller::workflow("rd", function_id).with_owner("ro")
}

/// A read of offset `offset` of stream `s` of `wr` as step `function_id` of `rd`.
fn read_at(function_id: i32, offset: i32) -> StreamStepRequest {
    StreamStepRequest::new(reader(function_id), "wr", "s", offset)
}

/// Reads, which must succeed.
async fn step_read<S: StreamStore + ?Sized>(
    store: &S,
    request: StreamStepRequest,
    wait: AwaitOptions,
) -> StreamStepRead {
    let what = format!("read_stream_step({request:?})");
    ok(
        settles(&what, store.read_stream_step(request, wait)).await,
        &what,
    )
}

/// Starts the writer `wr` (owner `wo`) and the reader `rd` (owner `ro`).
async fn writer_and_reader<S: dbos_storage_core::SystemStore + ?Sized>(store: &S) {
    for (id, owner) in [("wr", "wo"), ("rd", "ro")] {
        ok(
            store
                .insert_workflow(pending(id, owner), InsertOptions::default())
                .await,
            id,
        );
    }
}

/// Writes `value` to stream `s` of `wr` as its step `function_id`.
async fn write<S: StreamStore + ?Sized>(store: &S, function_id: i32, value: &str) {
    ok(
        store
            .write_stream(
                Caller::workflow("wr", function_id).with_owner("wo"),
                "s",
                json(value),
            )
            .await,
        "write_stream",
    );
}

/// Each read records one step of the reader, named after its kind, holding the value in its own
/// serialization; the close is read as the end and recorded as the close sentinel
/// (`portable_json`). A replay returns the recorded outcome (`replayed`) and reads nothing, even
/// after the stream changed.
pub async fn stream_reads_from_a_workflow_are_steps<F: Factory>(factory: &F) {
    let store = factory.create().await;
    writer_and_reader(&store).await;
    write(&store, 1, "\"v0\"").await;
    ok(
        store
            .write_stream(
                Caller::workflow("wr", 2).with_owner("wo"),
                "s",
                Payload::rust_serde("[1,2]"),
            )
            .await,
        "write a rust_serde value",
    );
    let wait = poll_fast().timeout(LONG);
    let first = step_read(&store, read_at(1, 0), wait.clone()).await;
    assert_eq!(
        first,
        StreamStepRead::new(StreamStepOutcome::Value(json("\"v0\"")), false)
    );
    let second = step_read(
        &store,
        read_at(2, 1).kind(StreamStepKind::Offset),
        wait.clone(),
    )
    .await;
    assert_eq!(
        second.outcome,
        StreamStepOutcome::Value(Payload::rust_serde("[1,2]")),
        "the value keeps its own serialization"
    );
    ok(
        store
            .close_stream(Caller::workflow("wr", 3).with_owner("wo"), "s")
            .await,
        "close",
    );
    let end = step_read(&store, read_at(3, 2), wait.clone()).await;
    assert_eq!(end, StreamStepRead::new(StreamStepOutcome::End, false));
    assert_eq!(
        step_names(&store, "rd").await,
        vec![
            (1, READ_STREAM_STEP.to_owned()),
            (2, READ_STREAM_OFFSET_STEP.to_owned()),
            (3, READ_STREAM_STEP.to_owned()),
        ]
    );
    assert_eq!(
        recorded(&store, "rd", 3, READ_STREAM_STEP).await,
        Some(Outcome::Output(json(STREAM_CLOSED_SENTINEL))),
        "the end is recorded as the close sentinel"
    );
    assert_eq!(
        step_read(&store, read_at(1, 0), wait.clone()).await,
        StreamStepRead::new(StreamStepOutcome::Value(json("\"v0\"")), true)
    );
    assert_eq!(
        step_read(&store, read_at(3, 2), wait.clone()).await,
        StreamStepRead::new(StreamStepOutcome::End, true)
    );
    // A replay with another offset still returns what the step recorded.
    assert_eq!(
        step_read(&store, read_at(1, 1), wait).await.outcome,
        StreamStepOutcome::Value(json("\"v0\""))
    );
    factory.destroy(store).await;
}

/// A writer that finished without closing its stream ends a read past its last value (DBOS
/// drains to the first empty offset), recorded as the end; so does a missing offset of a
/// cancelled writer.
pub async fn a_finished_writer_ends_the_read<F: Factory>(factory: &F) {
    let store = factory.create().await;
    writer_and_reader(&store).await;
    write(&store, 1, "1").await;
    assert!(ok(
        store.record_outcome("wr", output("0"), Some("wo")).await,
        "finish the writer"
    ));
    let wait = poll_fast().timeout(LONG);
    assert_eq!(
        step_read(&store, read_at(1, 0), wait.clone()).await.outcome,
        StreamStepOutcome::Value(json("1")),
        "values written before the end are still read"
    );
    assert_eq!(
        step_read(&store, read_at(2, 1), wait).await,
        StreamStepRead::new(StreamStepOutcome::End, false)
    );
    assert_eq!(
        recorded(&store, "rd", 2, READ_STREAM_STEP).await,
        Some(Outcome::Output(json(STREAM_CLOSED_SENTINEL)))
    );
    factory.destroy(store).await;
}

/// A read whose wait times out records the step's error (a `portable_json` error named
/// `DBOSStreamTimeoutError` with DBOS's message); its replay fails the same way without waiting,
/// even once a value is there.
pub async fn a_timed_out_read_is_recorded_as_an_error<F: Factory>(factory: &F) {
    let store = factory.create().await;
    writer_and_reader(&store).await;
    let wait = poll_fast().timeout(Duration::from_millis(150));
    let read = step_read(&store, read_at(1, 0), wait).await;
    let StreamStepOutcome::TimedOut(error) = &read.outcome else {
        panic!("a read with nothing written by an active writer times out: {read:?}");
    };
    assert!(!read.replayed);
    let decoded = ok(PortableError::decode(error), "decode the recorded error");
    assert_eq!(decoded.name, STREAM_TIMEOUT_ERROR_NAME);
    assert_eq!(
        decoded.message,
        "No value arrived on stream s of workflow wr within 0.15 seconds"
    );
    assert_eq!(
        recorded(&store, "rd", 1, READ_STREAM_STEP).await,
        Some(Outcome::Error(error.clone())),
        "the timeout is the step's error"
    );
    write(&store, 1, "\"late\"").await;
    // The replay must not wait: give it a wait that would never end on its own.
    assert_eq!(
        step_read(&store, read_at(1, 0), poll_fast()).await,
        StreamStepRead::new(StreamStepOutcome::TimedOut(error.clone()), true)
    );
    factory.destroy(store).await;
}

/// A read that finds nothing yet waits, and the value written meanwhile ends it; a read whose
/// wait is interrupted records nothing.
pub async fn a_value_written_during_the_read_arrives<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    writer_and_reader(&*store).await;
    let reading = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read_stream_step(read_at(1, 0), poll_fast().timeout(LONG))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !reading.is_finished(),
        "the read returned before anything was written"
    );
    write(&*store, 1, "\"v\"").await;
    let got = settles("a read woken by a write", reading)
        .await
        .expect("the reading task panicked");
    assert_eq!(
        ok(got, "read_stream_step").outcome,
        StreamStepOutcome::Value(json("\"v\""))
    );

    let token = tokio_util::sync::CancellationToken::new();
    let interrupted = {
        let store = store.clone();
        let wait = poll_fast().cancel_on(token.clone());
        tokio::spawn(async move { store.read_stream_step(read_at(2, 1), wait).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    token.cancel();
    let got = settles("an interrupted read", interrupted)
        .await
        .expect("the reading task panicked");
    err(got, ErrorKind::Interrupted, "an interrupted read");
    assert_eq!(
        step_names(&*store, "rd").await,
        vec![(1, READ_STREAM_STEP.to_owned())],
        "an interrupted read records nothing"
    );
    destroy_shared(factory, store).await;
}

/// The reader's checks are a step's (missing, cancelled, another owner, another step at its
/// position) and a missing writer is not found; none records anything. Invalid requests are
/// refused with `InvalidInput`, naming the problem.
pub async fn stream_read_errors_record_nothing<F: Factory>(factory: &F) {
    let store = factory.create().await;
    writer_and_reader(&store).await;
    write(&store, 1, "1").await;
    let wait = poll_fast().timeout(LONG);
    let e = err(
        store
            .read_stream_step(
                StreamStepRequest::new(reader(1), "ghost", "s", 0),
                wait.clone(),
            )
            .await,
        ErrorKind::NotFound,
        "a missing writer",
    );
    assert!(e.message().contains("ghost"), "{e}");
    let e = err(
        store
            .read_stream_step(
                StreamStepRequest::new(Caller::workflow("nobody", 1), "wr", "s", 0),
                wait.clone(),
            )
            .await,
        ErrorKind::NotFound,
        "a missing reader",
    );
    assert!(e.message().contains("nobody"), "{e}");
    err(
        store
            .read_stream_step(
                StreamStepRequest::new(Caller::workflow("rd", 1).with_owner("thief"), "wr", "s", 0),
                wait.clone(),
            )
            .await,
        ErrorKind::NotOwner,
        "another owner",
    );
    assert!(
        step_names(&store, "rd").await.is_empty(),
        "nothing recorded"
    );
    ok(
        store
            .record_step(
                dbos_storage_core::StepRecord::output("rd", 1, "user_step", json("0")),
                Some("ro"),
            )
            .await,
        "a user step at position 1",
    );
    err(
        store.read_stream_step(read_at(1, 0), wait.clone()).await,
        ErrorKind::UnexpectedStep,
        "another step at the read's position",
    );
    ok(
        store
            .cancel_workflows(&ids(&["rd"]), Default::default())
            .await,
        "cancel the reader",
    );
    err(
        store.read_stream_step(read_at(2, 0), wait.clone()).await,
        ErrorKind::Cancelled,
        "a cancelled reader",
    );
    assert_eq!(step_names(&store, "rd").await.len(), 1, "nothing recorded");

    let invalid = [
        (
            StreamStepRequest::new(Caller::step("rd", 2), "wr", "s", 0),
            "not a call inside a step",
        ),
        (
            StreamStepRequest::new(reader(2).with_timeout_step(3), "wr", "s", 0),
            "records no durable timeout",
        ),
        (read_at(2, -1), "a stream offset must be 0 or more, not -1"),
        (
            StreamStepRequest::new(reader(2), "wr", "", 0),
            "the stream key must not be empty",
        ),
        (
            StreamStepRequest::new(reader(2), "", "s", 0),
            "workflow id is empty",
        ),
        (StreamStepRequest::new(reader(-1), "wr", "s", 0), "-1"),
    ];
    for (request, message) in invalid {
        let what = format!("read_stream_step({request:?})");
        let e = err(
            store.read_stream_step(request, wait.clone()).await,
            ErrorKind::InvalidInput,
            &what,
        );
        assert!(e.message().contains(message), "{what}: {e}");
    }
    factory.destroy(store).await;
}
