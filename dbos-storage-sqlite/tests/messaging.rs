//! SQLite specifics of messages, events and streams: the rows written are DBOS's, rows written
//! by other SDKs are read, in-process wake-ups, and `:memory:`. The conformance suite covers the
//! contract itself.

use std::time::Duration;

use dbos_storage_core::payload::portable::PortableError;
use dbos_storage_core::streams::STREAM_CLOSED_SENTINEL;
use dbos_storage_core::{
    AwaitOptions, Caller, ErrorKind, EventStore, GetEventRequest, InsertOptions, LifecycleStore,
    MessageStore, NewWorkflow, OutgoingMessage, Payload, RecvRequest, Result, SendOptions,
    StreamReadOptions, StreamStore, WorkflowStore,
};
use dbos_storage_sqlite::SqliteStore;

#[allow(dead_code)]
mod common;
use common::{fixture, input, raw};

/// Starts workflow `id` and returns its owner token.
async fn start(store: &SqliteStore, id: &str) -> String {
    start_workflow(store, NewWorkflow::new(id, "wf", input())).await
}

async fn start_workflow(store: &SqliteStore, workflow: NewWorkflow) -> String {
    let token = workflow.creator_xid.clone();
    store
        .insert_workflow(workflow, InsertOptions::default())
        .await
        .unwrap();
    token
}

fn message(destination: &str, topic: Option<&str>, text: &str) -> OutgoingMessage {
    OutgoingMessage::new(destination, topic, Payload::portable_json(text))
}

/// Waits that never poll within the test: only a wake-up (or the recv's own timeout) ends them.
fn no_polling() -> AwaitOptions {
    AwaitOptions::default().poll_interval(Duration::from_secs(3600))
}

/// A receive by `workflow_id` at step `function_id` (timeout at the next step).
fn recv_request(workflow_id: &str, function_id: i32, topic: Option<&str>) -> RecvRequest {
    RecvRequest::new(
        Caller::workflow(workflow_id, function_id).with_timeout_step(function_id + 1),
        topic,
        Duration::from_secs(30),
    )
}

/// `(function_id, function_name, output, error, serialization)` of a workflow's steps.
type StepRow = (i64, String, Option<String>, Option<String>, Option<String>);

fn steps_of(c: &rusqlite::Connection, workflow_id: &str) -> Vec<StepRow> {
    let mut stmt = c
        .prepare(
            "SELECT function_id, function_name, output, error, serialization \
             FROM operation_outputs WHERE workflow_uuid = ?1 ORDER BY function_id",
        )
        .unwrap();
    stmt.query_map([workflow_id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// `(message_uuid, topic, message, serialization, consumed, consumed_by_function_id,
/// created_at_epoch_ms)` of a destination's messages, in insertion order.
type MessageRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    i64,
);

fn messages_of(c: &rusqlite::Connection, destination: &str) -> Vec<MessageRow> {
    let mut stmt = c
        .prepare(
            "SELECT message_uuid, topic, message, serialization, consumed, \
             consumed_by_function_id, created_at_epoch_ms \
             FROM notifications WHERE destination_uuid = ?1 ORDER BY rowid",
        )
        .unwrap();
    stmt.query_map([destination], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

#[tokio::test]
async fn sends_and_receives_write_the_rows_dbos_writes() {
    let f = fixture().await;
    let sender = start(&f.store, "sender").await;
    start(&f.store, "dest").await;
    let from = |fid| Some(Caller::workflow("sender", fid).with_owner(sender.clone()));

    let one = f
        .store
        .send_messages(
            vec![message("dest", None, "\"hello\"")],
            from(1),
            SendOptions::default(),
        )
        .await
        .unwrap();
    assert!(!one.replayed && one.delivered == 1);
    let bulk = vec![
        message("dest", Some("t"), "1"),
        OutgoingMessage::new("dest", Some("t"), Payload::rust_serde("2")).with_idempotency_key("k"),
    ];
    let sent = f
        .store
        .send_messages(bulk.clone(), from(2), SendOptions::default())
        .await
        .unwrap();
    assert!(!sent.replayed && sent.delivered == 2);

    let c = raw(&f.path);
    let rows = messages_of(&c, "dest");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].1, "__null__topic__");
    assert!(
        uuid::Uuid::parse_str(&rows[0].0).is_ok(),
        "a message without a key gets a fresh uuid: {}",
        rows[0].0
    );
    assert_eq!(rows[2].0, "k::dest");
    assert_eq!(
        (rows[1].1.as_str(), rows[1].2.as_str(), rows[1].3.as_deref()),
        ("t", "1", Some("portable_json"))
    );
    assert_eq!(rows[2].3.as_deref(), Some("rust_serde"));
    for row in &rows {
        assert_eq!((row.4, row.5), (0, None), "{row:?}");
        assert!(row.6 > 1_000_000_000_000, "milliseconds: {row:?}");
    }
    assert_eq!(
        steps_of(&c, "sender"),
        vec![
            (1, "DBOS.send".into(), None, None, None),
            (
                2,
                "DBOS.send_bulk".into(),
                Some("2".into()),
                None,
                Some("portable_json".into())
            ),
        ]
    );

    // A replay sends nothing; a replay of another size is refused.
    let replay = f
        .store
        .send_messages(bulk.clone(), from(2), SendOptions::default())
        .await
        .unwrap();
    assert!(replay.replayed && replay.delivered == 0);
    let mut bigger = bulk;
    bigger.push(message("dest", Some("t"), "3"));
    let e = f
        .store
        .send_messages(bigger, from(2), SendOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedStep, "{e}");
    assert_eq!(messages_of(&c, "dest").len(), 3);

    // Receives take the oldest first (batch order among equal times) and mark, never delete.
    let got = f
        .store
        .recv(recv_request("dest", 1, Some("t")), no_polling())
        .await
        .unwrap();
    assert_eq!(got, Some(Payload::portable_json("1")));
    let got = f
        .store
        .recv(recv_request("dest", 3, Some("t")), no_polling())
        .await
        .unwrap();
    assert_eq!(got, Some(Payload::rust_serde("2")));
    let replayed = f
        .store
        .recv(recv_request("dest", 1, Some("t")), no_polling())
        .await
        .unwrap();
    assert_eq!(replayed, Some(Payload::portable_json("1")));
    let rows = messages_of(&c, "dest");
    assert_eq!((rows[1].4, rows[1].5), (1, Some(1)));
    assert_eq!((rows[2].4, rows[2].5), (1, Some(3)));
    assert_eq!((rows[0].4, rows[0].5), (0, None));
    let steps = steps_of(&c, "dest");
    let names: Vec<&str> = steps.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(
        names,
        ["DBOS.recv", "DBOS.sleep", "DBOS.recv", "DBOS.sleep"]
    );
    assert_eq!(
        (steps[0].2.as_deref(), steps[0].4.as_deref()),
        (Some("1"), Some("portable_json"))
    );
    assert_eq!(
        (steps[2].2.as_deref(), steps[2].4.as_deref()),
        (Some("2"), Some("rust_serde")),
        "the recv step keeps the message's own serialization"
    );
}

#[tokio::test]
async fn a_missing_destination_delivers_nothing_and_is_checkpointed() {
    let f = fixture().await;
    let sender = start(&f.store, "sender").await;
    start(&f.store, "dest").await;
    let from = Some(Caller::workflow("sender", 1).with_owner(sender));
    let batch = vec![message("dest", None, "1"), message("ghost", None, "2")];
    let e = f
        .store
        .send_messages(batch.clone(), from.clone(), SendOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("ghost"), "{e}");
    let c = raw(&f.path);
    assert!(messages_of(&c, "dest").is_empty(), "nothing is delivered");
    let steps = steps_of(&c, "sender");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].1, "DBOS.send_bulk");
    assert_eq!(steps[0].4.as_deref(), Some("portable_json"));
    let error =
        PortableError::decode(&Payload::portable_json(steps[0].3.clone().unwrap())).unwrap();
    assert_eq!(error.name, "DBOSNonExistentWorkflowError");
    assert_eq!(
        error.message,
        "Sent to non-existent destination workflow ID: ghost"
    );
    // The replay fails the same way, even once the destination exists.
    start(&f.store, "ghost").await;
    let e = f
        .store
        .send_messages(batch.clone(), from, SendOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(messages_of(&c, "dest").is_empty());
    // A client send records nothing.
    let e = f
        .store
        .send_messages(
            vec![message("nobody", None, "1")],
            None,
            SendOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn sends_reach_forks_recursively_with_their_own_message_ids() {
    let f = fixture().await;
    start(&f.store, "root").await;
    start_workflow(
        &f.store,
        NewWorkflow::new("fork-1", "wf", input()).with_forked_from("root"),
    )
    .await;
    start_workflow(
        &f.store,
        NewWorkflow::new("fork-2", "wf", input()).with_forked_from("fork-1"),
    )
    .await;
    start(&f.store, "other").await;
    let c = raw(&f.path);
    let forked_from: Option<String> = c
        .query_row(
            "SELECT forked_from FROM workflow_status WHERE workflow_uuid = 'fork-2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(forked_from.as_deref(), Some("fork-1"));

    let keyed = message("root", Some("t"), "1").with_idempotency_key("k");
    let sent = f
        .store
        .send_messages(
            vec![keyed.clone()],
            None,
            SendOptions::default().send_to_forks(true),
        )
        .await
        .unwrap();
    assert_eq!(sent.delivered, 3);
    for (id, uuid) in [
        ("root", "k::root"),
        ("fork-1", "k::fork-1"),
        ("fork-2", "k::fork-2"),
    ] {
        let rows = messages_of(&c, id);
        assert_eq!(rows.len(), 1, "{id}");
        assert_eq!(rows[0].0, uuid);
    }
    assert!(messages_of(&c, "other").is_empty());
    // Re-sending with the same key is a no-op; without forks only the destination is reached.
    let again = f
        .store
        .send_messages(
            vec![keyed],
            None,
            SendOptions::default().send_to_forks(true),
        )
        .await
        .unwrap();
    assert_eq!(again.delivered, 0);
    let plain = f
        .store
        .send_messages(
            vec![message("fork-1", None, "2")],
            None,
            SendOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(plain.delivered, 1);
    assert_eq!(messages_of(&c, "fork-2").len(), 1);
}

#[tokio::test]
async fn events_write_the_current_value_and_the_history_row() {
    let f = fixture().await;
    let token = start(&f.store, "wf").await;
    let caller = |fid| Caller::workflow("wf", fid).with_owner(token.clone());
    let out = f
        .store
        .set_event(caller(1), "k", Payload::portable_json("1"))
        .await
        .unwrap();
    assert!(!out.replayed);
    let out = f
        .store
        .set_event(caller(1), "k", Payload::portable_json("99"))
        .await
        .unwrap();
    assert!(out.replayed, "a replay writes nothing");
    // Inside step 2: the history row takes the step's position, no step row is written.
    let in_step = Caller::step("wf", 2).with_owner(token.clone());
    f.store
        .set_event(in_step, "k", Payload::rust_serde("2"))
        .await
        .unwrap();
    let c = raw(&f.path);
    let current: (String, Option<String>) = c
        .query_row(
            "SELECT value, serialization FROM workflow_events WHERE workflow_uuid = 'wf' AND key = 'k'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(current, ("2".to_owned(), Some("rust_serde".to_owned())));
    let mut stmt = c
        .prepare(
            "SELECT function_id, value, serialization FROM workflow_events_history \
             WHERE workflow_uuid = 'wf' ORDER BY function_id",
        )
        .unwrap();
    let history: Vec<(i64, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        history,
        vec![
            (1, "1".into(), Some("portable_json".into())),
            (2, "2".into(), Some("rust_serde".into())),
        ]
    );
    assert_eq!(
        steps_of(&c, "wf"),
        vec![(1, "DBOS.setEvent".into(), None, None, None)]
    );
    let all = f.store.get_all_events("wf").await.unwrap();
    assert_eq!(all.get("k"), Some(&Payload::rust_serde("2")));

    // A read from a workflow records the value as DBOS.getEvent, and its timeout as DBOS.sleep.
    let reader = start(&f.store, "reader").await;
    let request = GetEventRequest::new("wf", "k", Duration::from_secs(30)).from_workflow(
        Caller::workflow("reader", 1)
            .with_owner(reader)
            .with_timeout_step(2),
    );
    let got = f.store.get_event(request, no_polling()).await.unwrap();
    assert_eq!(got, Some(Payload::rust_serde("2")));
    let steps = steps_of(&c, "reader");
    assert_eq!(
        steps[0],
        (
            1,
            "DBOS.getEvent".into(),
            Some("2".into()),
            None,
            Some("rust_serde".into())
        )
    );
}

#[tokio::test]
async fn streams_write_dense_offsets_the_writer_step_and_the_close_sentinel() {
    let f = fixture().await;
    let token = start(&f.store, "wf").await;
    let caller = |fid| Caller::workflow("wf", fid).with_owner(token.clone());
    for (fid, v) in [(1, "a"), (2, "b")] {
        let out = f
            .store
            .write_stream(caller(fid), "s", Payload::portable_json(format!("\"{v}\"")))
            .await
            .unwrap();
        assert_eq!(out.offset, Some(fid - 1));
    }
    let in_step = Caller::step("wf", 3).with_owner(token.clone());
    let out = f
        .store
        .write_stream(in_step, "s", Payload::rust_serde("\"c\""))
        .await
        .unwrap();
    assert_eq!(out.offset, Some(2));
    let replay = f
        .store
        .write_stream(caller(1), "s", Payload::portable_json("\"x\""))
        .await
        .unwrap();
    assert!(replay.replayed && replay.offset.is_none());
    let e = f
        .store
        .write_stream(
            caller(4),
            "s",
            Payload::portable_json(STREAM_CLOSED_SENTINEL),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let closed = f.store.close_stream(caller(5), "s").await.unwrap();
    assert_eq!(closed.offset, Some(3));
    let again = f.store.close_stream(caller(6), "s").await.unwrap();
    assert!(!again.replayed && again.offset.is_none());
    let e = f
        .store
        .write_stream(caller(7), "s", Payload::portable_json("1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    let c = raw(&f.path);
    let mut stmt = c
        .prepare(
            "SELECT \"offset\", value, function_id, serialization FROM streams \
             WHERE workflow_uuid = 'wf' AND key = 's' ORDER BY \"offset\"",
        )
        .unwrap();
    let rows: Vec<(i64, String, i64, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        rows,
        vec![
            (0, "\"a\"".into(), 1, Some("portable_json".into())),
            (1, "\"b\"".into(), 2, Some("portable_json".into())),
            (2, "\"c\"".into(), 3, Some("rust_serde".into())),
            (
                3,
                "\"__DBOS_STREAM_CLOSED__\"".into(),
                5,
                Some("portable_json".into())
            ),
        ]
    );
    let names: Vec<String> = steps_of(&c, "wf").into_iter().map(|s| s.1).collect();
    assert_eq!(
        names,
        [
            "DBOS.writeStream",
            "DBOS.writeStream",
            "DBOS.closeStream",
            "DBOS.closeStream"
        ]
    );
    let read = f
        .store
        .read_stream("wf", "s", StreamReadOptions::default().from_offset(1))
        .await
        .unwrap();
    assert!(read.closed);
    assert_eq!(read.values.len(), 2);
    assert_eq!(read.values[1].value, Payload::rust_serde("\"c\""));
    let limited = f
        .store
        .read_stream("wf", "s", StreamReadOptions::default().limit(2))
        .await
        .unwrap();
    assert_eq!(limited.values.len(), 2);
    assert!(!limited.closed);
    let missing = f
        .store
        .read_stream("ghost", "s", StreamReadOptions::default())
        .await
        .unwrap();
    assert!(missing.status.is_none() && missing.values.is_empty() && missing.is_settled());
}

#[tokio::test]
async fn rows_written_by_other_sdks_are_read() {
    let f = fixture().await;
    start(&f.store, "dest").await;
    let c = raw(&f.path);
    // DBOS Python leaves `created_at_epoch_ms`, `consumed` and `message_uuid` to their defaults
    // (second precision, FALSE, a random hex id).
    c.execute(
        "INSERT INTO notifications (destination_uuid, topic, message, serialization) \
         VALUES ('dest', '__null__topic__', '\"py\"', 'portable_json')",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO workflow_events (workflow_uuid, key, value, serialization) \
         VALUES ('dest', 'e', '1', NULL)",
        [],
    )
    .unwrap();
    let got = f
        .store
        .recv(recv_request("dest", 1, None), no_polling())
        .await
        .unwrap();
    assert_eq!(got, Some(Payload::portable_json("\"py\"")));
    let event = f
        .store
        .get_event(
            GetEventRequest::new("dest", "e", Duration::from_secs(30)),
            no_polling(),
        )
        .await
        .unwrap();
    assert_eq!(event, Some(Payload::new("1", None)));
}

/// Runs `wait` while `write` happens later on another task; the wait never polls, so only the
/// in-process wake-up ends it before its 30 s bound.
async fn woken<T: Send + 'static>(
    wait: impl std::future::Future<Output = Result<T>> + Send + 'static,
    write: impl std::future::Future<Output = ()> + Send + 'static,
) -> T {
    let waiter = tokio::spawn(wait);
    tokio::time::sleep(Duration::from_millis(50)).await;
    write.await;
    tokio::time::timeout(Duration::from_secs(60), waiter)
        .await
        .expect("the waiter never returned")
        .unwrap()
        .unwrap()
}

async fn in_process_wake_ups(store: SqliteStore) {
    start(&store, "dest").await;
    let token = start(&store, "writer").await;

    let (s, w) = (store.clone(), store.clone());
    let got = woken(
        async move {
            s.recv(recv_request("dest", 1, Some("t")), no_polling())
                .await
        },
        async move {
            w.send_messages(
                vec![message("dest", Some("t"), "7")],
                None,
                SendOptions::default(),
            )
            .await
            .unwrap();
        },
    )
    .await;
    assert_eq!(got, Some(Payload::portable_json("7")), "woken by the send");

    let (s, w, t) = (store.clone(), store.clone(), token.clone());
    let got = woken(
        async move {
            s.get_event(
                GetEventRequest::new("writer", "e", Duration::from_secs(30)),
                no_polling(),
            )
            .await
        },
        async move {
            w.set_event(
                Caller::workflow("writer", 1).with_owner(t),
                "e",
                Payload::portable_json("8"),
            )
            .await
            .unwrap();
        },
    )
    .await;
    assert_eq!(got, Some(Payload::portable_json("8")), "woken by the event");

    let (s, w, t) = (store.clone(), store.clone(), token);
    let read = woken(
        async move {
            s.await_stream(
                "writer",
                "s",
                StreamReadOptions::default(),
                no_polling().timeout(Duration::from_secs(30)),
            )
            .await
        },
        async move {
            w.write_stream(
                Caller::workflow("writer", 2).with_owner(t),
                "s",
                Payload::portable_json("9"),
            )
            .await
            .unwrap();
        },
    )
    .await;
    assert_eq!(read.values.len(), 1, "woken by the write");
    assert_eq!(read.values[0].value, Payload::portable_json("9"));
}

#[tokio::test]
async fn writes_wake_waiters_of_the_same_file_store() {
    let f = fixture().await;
    in_process_wake_ups(f.store.clone()).await;
}

#[tokio::test]
async fn memory_databases_send_receive_and_wake() {
    let store = SqliteStore::open_url("sqlite:///:memory:").await.unwrap();
    store.migrate().await.unwrap();
    in_process_wake_ups(store.clone()).await;
    let e = store
        .send_messages(
            vec![message("ghost", None, "1")],
            None,
            SendOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    store.close().await.unwrap();
}

#[tokio::test]
async fn closing_the_store_ends_waits() {
    let f = fixture().await;
    start(&f.store, "dest").await;
    let s = f.store.clone();
    let waiter =
        tokio::spawn(async move { s.recv(recv_request("dest", 1, None), no_polling()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    f.store.close().await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(60), waiter)
        .await
        .expect("the waiter never returned")
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
}
