//! Properties of [`MessageStore`]: delivery once per topic in send order, idempotency keys, a
//! send from a workflow as one step, ownership inside a step, forks, durable recv timeouts,
//! wake-ups, cancelled waits and retried writes.
//!
//! `created_at_epoch_ms` has millisecond resolution and orders messages, so properties that
//! check the order of separate sends space them 2 ms apart; the order inside one batch is not
//! part of the contract.

use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::payload::portable::PortableError;
use dbos_storage_core::{
    events::GET_EVENT_STEP,
    messages::{RECV_STEP, SEND_BULK_STEP, SEND_STEP},
};
use dbos_storage_core::{
    Caller, CancelOptions, ErrorKind, GetEventRequest, InsertOptions, Outcome, OutgoingMessage,
    Payload, RecvRequest, RetryingStore, SendOptions, SendOutcome, StepRecord, StreamReadOptions,
    SLEEP_STEP,
};
use dbos_storage_core::{EventStore, MessageStore, StreamStore};
use tokio_util::sync::CancellationToken;

use crate::checks::*;
use crate::faulty::{Fault, FaultyStore};

/// DBOS's exception class of a send to a workflow that does not exist.
const NONEXISTENT_WORKFLOW_ERROR_NAME: &str = "DBOSNonExistentWorkflowError";
use crate::Factory;

/// The timeout of a recv that is expected to find nothing: short, so the suite stays fast.
const SHORT: Duration = Duration::from_millis(50);

/// The timeout of a wait that something else ends first (a value, a cancelled token).
const LONG: Duration = Duration::from_secs(60);

/// A message of JSON `text` to `destination` on `topic`.
fn message(destination: &str, topic: Option<&str>, text: &str) -> OutgoingMessage {
    OutgoingMessage::new(destination, topic, Payload::portable_json(text))
}

/// A recv by workflow `workflow_id` at step `function_id` (its timeout at the next position).
fn recv_at(
    workflow_id: &str,
    function_id: i32,
    topic: Option<&str>,
    timeout: Duration,
) -> RecvRequest {
    let caller = Caller::workflow(workflow_id, function_id).with_timeout_step(function_id + 1);
    RecvRequest::new(caller, topic, timeout)
}

/// Sends `messages` from a client (no caller).
async fn client_send<S: MessageStore + ?Sized>(
    store: &S,
    messages: Vec<OutgoingMessage>,
    what: &str,
) -> SendOutcome {
    ok(
        store
            .send_messages(messages, None, SendOptions::default())
            .await,
        what,
    )
}

/// A recv at `function_id` that must end: the value it returns.
async fn recv<S: MessageStore + ?Sized>(
    store: &S,
    workflow_id: &str,
    function_id: i32,
    topic: Option<&str>,
    timeout: Duration,
) -> Option<Payload> {
    let what = format!("recv by {workflow_id} at step {function_id} on topic {topic:?}");
    let request = recv_at(workflow_id, function_id, topic, timeout);
    ok(
        settles(&what, store.recv(request, poll_fast())).await,
        &what,
    )
}

/// Receives every message waiting for `workflow_id` on `topic`, from step `first` on (two
/// positions per recv), until a recv times out.
async fn drain<S: MessageStore + ?Sized>(
    store: &S,
    workflow_id: &str,
    topic: Option<&str>,
    first: i32,
) -> Vec<String> {
    let mut texts = Vec::new();
    let mut position = first;
    while let Some(payload) = recv(store, workflow_id, position, topic, SHORT).await {
        texts.push(payload.text);
        position += 2;
    }
    texts
}

/// Messages are delivered once per topic, oldest first: each recv takes the next unconsumed
/// message of its topic (the `None` topic is a topic of its own), consumed messages are not
/// received again, labels come back as sent, and a recv on an empty topic times out with
/// `None`, recording `DBOS.recv` without an outcome and its `DBOS.sleep`.
pub async fn recv_takes_each_message_once_in_send_order<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["r", "other"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let sends: [(Option<&str>, &str); 6] = [
        (Some("a"), "\"a1\""),
        (None, "\"n1\""),
        (Some("b"), "\"b1\""),
        (Some("a"), "\"a2\""),
        (None, "\"n2\""),
        (Some("a"), "\"a3\""),
    ];
    for (topic, text) in sends {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let sent = client_send(&store, vec![message("r", topic, text)], "send").await;
        assert_eq!(
            sent,
            SendOutcome::new(false, 1),
            "a client send of {text} inserts one row"
        );
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    let labelled = OutgoingMessage::new("r", Some("b"), Payload::rust_serde("{\"b\":2}"));
    client_send(&store, vec![labelled.clone()], "send a rust_serde message").await;

    let expected: [(Option<&str>, Option<&str>); 8] = [
        (Some("a"), Some("\"a1\"")),
        (None, Some("\"n1\"")),
        (Some("a"), Some("\"a2\"")),
        (Some("b"), Some("\"b1\"")),
        (Some("a"), Some("\"a3\"")),
        (Some("a"), None),
        (None, Some("\"n2\"")),
        (None, None),
    ];
    let mut position = 1;
    for (topic, want) in expected {
        let got = recv(&store, "r", position, topic, SHORT).await;
        assert_eq!(
            got.map(|p| p.text),
            want.map(str::to_owned),
            "recv at step {position} on topic {topic:?} must take the oldest unconsumed message \
             of that topic (or time out with None)"
        );
        let outcome = recorded(&store, "r", position, RECV_STEP).await;
        assert_eq!(
            outcome,
            want.map(|text| Outcome::Output(Payload::portable_json(text))),
            "step {position} (DBOS.recv) records what the recv returned"
        );
        recorded(&store, "r", position + 1, SLEEP_STEP).await;
        position += 2;
    }
    let got = recv(&store, "r", position, Some("b"), SHORT).await;
    assert_eq!(
        got,
        Some(labelled.message),
        "a message comes back with its own serialization label"
    );
    assert_eq!(
        drain(&store, "other", Some("a"), 1).await,
        Vec::<String>::new(),
        "another workflow receives none of r's messages"
    );
    factory.destroy(store).await;
}

/// A message with an idempotency key is delivered once however often it is sent (per
/// destination); a batch naming one key twice for one destination, and an empty batch, are
/// refused with `InvalidInput` and send nothing.
pub async fn idempotency_keys_deliver_once<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["r", "r2"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let keyed = |dest: &str, key: &str, text: &str| {
        message(dest, Some("t"), text).with_idempotency_key(key)
    };
    let first = client_send(&store, vec![keyed("r", "k1", "1")], "first keyed send").await;
    assert_eq!(first, SendOutcome::new(false, 1));
    let again = client_send(&store, vec![keyed("r", "k1", "2")], "keyed re-send").await;
    assert_eq!(
        again,
        SendOutcome::new(false, 0),
        "a re-send with the same key to the same destination inserts nothing"
    );
    let elsewhere = client_send(
        &store,
        vec![keyed("r2", "k1", "3")],
        "same key, other destination",
    )
    .await;
    assert_eq!(
        elsewhere,
        SendOutcome::new(false, 1),
        "the key is per destination"
    );
    let e = err(
        store
            .send_messages(
                vec![keyed("r", "k2", "4"), keyed("r", "k2", "5")],
                None,
                SendOptions::default(),
            )
            .await,
        ErrorKind::InvalidInput,
        "a batch with one key twice for one destination",
    );
    assert!(e.message().contains("k2"), "the error names the key: {e}");
    err(
        store
            .send_messages(
                vec![
                    message("r", Some("t"), "6"),
                    keyed("r", "k3", "7"),
                    keyed("r", "k3", "8"),
                ],
                None,
                SendOptions::default(),
            )
            .await,
        ErrorKind::InvalidInput,
        "a batch with one key twice, after an unkeyed message",
    );
    err(
        store
            .send_messages(Vec::new(), None, SendOptions::default())
            .await,
        ErrorKind::InvalidInput,
        "an empty batch",
    );
    let two = client_send(
        &store,
        vec![keyed("r", "k4", "9"), keyed("r2", "k4", "10")],
        "one key for two destinations in one batch",
    )
    .await;
    assert_eq!(two, SendOutcome::new(false, 2));
    let mut got = drain(&store, "r", Some("t"), 1).await;
    got.sort();
    assert_eq!(
        got,
        ["1", "9"],
        "r receives the keyed message once and nothing of the refused batches"
    );
    let mut got = drain(&store, "r2", Some("t"), 1).await;
    got.sort();
    assert_eq!(got, ["10", "3"]);
    factory.destroy(store).await;
}

/// A send from a workflow is one step: `DBOS.send` (no output) for one message,
/// `DBOS.send_bulk` (output: the count) for more. Its replay sends nothing and says
/// `replayed`; a replay with another batch size, or over another step, is `UnexpectedStep`.
pub async fn send_from_a_workflow_is_one_step<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["s", "r"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let from = |step: i32| Some(Caller::workflow("s", step).with_owner("o"));
    let send = |batch: Vec<OutgoingMessage>, step: i32| {
        store.send_messages(batch, from(step), SendOptions::default())
    };
    let one = || vec![message("r", Some("t"), "\"one\"")];
    let bulk = |n: usize| -> Vec<OutgoingMessage> {
        (0..n)
            .map(|i| message("r", Some("t"), &format!("\"bulk{i}\"")))
            .collect()
    };
    assert_eq!(
        ok(send(one(), 1).await, "send one at step 1"),
        SendOutcome::new(false, 1)
    );
    assert_eq!(recorded(&store, "s", 1, SEND_STEP).await, None);
    assert_eq!(
        ok(send(one(), 1).await, "replay of step 1"),
        SendOutcome::new(true, 0),
        "a replayed send sends nothing"
    );
    assert_eq!(
        ok(send(bulk(3), 2).await, "send three at step 2"),
        SendOutcome::new(false, 3)
    );
    assert_eq!(
        recorded(&store, "s", 2, SEND_BULK_STEP).await,
        Some(Outcome::Output(Payload::portable_json("3"))),
        "a bulk send records its message count"
    );
    assert_eq!(
        ok(send(bulk(3), 2).await, "replay of step 2"),
        SendOutcome::new(true, 0)
    );
    err(
        send(bulk(2), 2).await,
        ErrorKind::UnexpectedStep,
        "replay of the bulk send with two messages instead of three",
    );
    err(
        send(one(), 2).await,
        ErrorKind::UnexpectedStep,
        "replay of the bulk send with one message",
    );
    err(
        send(bulk(2), 1).await,
        ErrorKind::UnexpectedStep,
        "replay of the single send with two messages",
    );
    ok(
        store
            .record_step(StepRecord::with_outcome("s", 3, "fetch", None), Some("o"))
            .await,
        "record step 3",
    );
    err(
        send(one(), 3).await,
        ErrorKind::UnexpectedStep,
        "a send over another step",
    );
    let mut got = drain(&store, "r", Some("t"), 1).await;
    got.sort();
    assert_eq!(
        got,
        ["\"bulk0\"", "\"bulk1\"", "\"bulk2\"", "\"one\""],
        "each message arrives once, whatever was replayed or refused"
    );
    assert_eq!(
        step_names(&store, "s").await,
        [
            (1, SEND_STEP.to_owned()),
            (2, SEND_BULK_STEP.to_owned()),
            (3, "fetch".to_owned())
        ],
        "sends record one step each and refused replays record nothing"
    );
    ok(
        store
            .cancel_workflows(&ids(&["s"]), CancelOptions::default())
            .await,
        "cancel s",
    );
    err(
        store
            .send_messages(
                one(),
                Some(Caller::workflow("s", 4)),
                SendOptions::default(),
            )
            .await,
        ErrorKind::Cancelled,
        "a send from a cancelled workflow",
    );
    factory.destroy(store).await;
}

/// A send naming a missing destination fails with `NotFound` and delivers nothing, not even
/// to the destinations that exist. From a workflow the failure is checkpointed as the step's
/// error (`DBOSNonExistentWorkflowError`), so the replay fails the same way.
pub async fn send_to_a_missing_destination_fails<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["s", "r"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let batch = || {
        vec![
            message("r", Some("t"), "\"kept\""),
            message("ghost", Some("t"), "\"lost\""),
        ]
    };
    let e = err(
        store
            .send_messages(batch(), None, SendOptions::default())
            .await,
        ErrorKind::NotFound,
        "a client send to a missing destination",
    );
    assert!(
        e.message().contains("ghost"),
        "the error names the destination: {e}"
    );
    let e = err(
        store
            .send_messages(
                vec![
                    message("ghost", Some("t"), "1"),
                    message("phantom", Some("t"), "2"),
                    message("ghost", Some("u"), "3"),
                ],
                Some(Caller::workflow("s", 2).with_owner("o")),
                SendOptions::default(),
            )
            .await,
        ErrorKind::NotFound,
        "a send from a workflow to several missing destinations",
    );
    assert!(
        e.message().contains("ghost"),
        "the error names the first missing destination of the batch: {e}"
    );
    let caller = || Some(Caller::workflow("s", 1).with_owner("o"));
    let e = err(
        store
            .send_messages(batch(), caller(), SendOptions::default())
            .await,
        ErrorKind::NotFound,
        "a send from a workflow to a missing destination",
    );
    assert!(
        e.message().contains("ghost"),
        "the error names the destination: {e}"
    );
    match recorded(&store, "s", 1, SEND_BULK_STEP).await {
        Some(Outcome::Error(payload)) => {
            let error = ok(PortableError::decode(&payload), "decode the step's error");
            assert_eq!(
                error.name, NONEXISTENT_WORKFLOW_ERROR_NAME,
                "the step records DBOS's error class"
            );
            assert!(error.message.contains("ghost"), "{error}");
        }
        other => panic!("the failed send's step must hold its error, found {other:?}"),
    }
    err(
        store
            .send_messages(batch(), caller(), SendOptions::default())
            .await,
        ErrorKind::NotFound,
        "the replay of a send that found a destination missing",
    );
    ok(
        store
            .insert_workflow(pending("ghost", "o"), InsertOptions::default())
            .await,
        "create the missing destination",
    );
    err(
        store
            .send_messages(batch(), caller(), SendOptions::default())
            .await,
        ErrorKind::NotFound,
        "the replay fails the same way after the destination appeared",
    );
    assert_eq!(
        drain(&store, "r", Some("t"), 1).await,
        Vec::<String>::new(),
        "a failed send delivers nothing"
    );
    assert_eq!(
        drain(&store, "ghost", Some("t"), 1).await,
        Vec::<String>::new()
    );
    factory.destroy(store).await;
}

/// A send inside a step records no step row and checks the workflow's ownership: with a
/// foreign token it fails with `NotOwner` and delivers nothing; so does a send from the
/// workflow itself.
pub async fn send_inside_a_step_checks_owner<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["s", "r"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let batch = |text: &str| vec![message("r", None, text)];
    err(
        store
            .send_messages(
                batch("\"foreign\""),
                Some(Caller::step("s", 1).with_owner("intruder")),
                SendOptions::default(),
            )
            .await,
        ErrorKind::NotOwner,
        "a send inside a step with a foreign token",
    );
    err(
        store
            .send_messages(
                batch("\"foreign\""),
                Some(Caller::workflow("s", 1).with_owner("intruder")),
                SendOptions::default(),
            )
            .await,
        ErrorKind::NotOwner,
        "a send from the workflow with a foreign token",
    );
    for text in ["\"first\"", "\"second\""] {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let sent = ok(
            store
                .send_messages(
                    batch(text),
                    Some(Caller::step("s", 1).with_owner("o")),
                    SendOptions::default(),
                )
                .await,
            "a send inside step 1 by the owner",
        );
        assert_eq!(
            sent,
            SendOutcome::new(false, 1),
            "a send inside a step is never a replay"
        );
    }
    assert_eq!(
        step_names(&store, "s").await,
        Vec::<(i32, String)>::new(),
        "sends inside a step, and refused sends, record no step"
    );
    assert_eq!(
        drain(&store, "r", None, 1).await,
        ["\"first\"", "\"second\""],
        "the owner's sends arrive, the foreign ones do not"
    );
    factory.destroy(store).await;
}

/// With `send_to_forks`, a message also reaches every workflow forked from its destination,
/// and forks of forks; without it, only the destination. An idempotency key holds per fork.
pub async fn send_to_forks_reaches_every_fork<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let workflows = [
        pending("src", "o"),
        pending("f1", "o").with_forked_from("src"),
        pending("f2", "o").with_forked_from("f1"),
        pending("f3", "o").with_forked_from("src"),
        pending("unrelated", "o"),
        pending("parent-of-src", "o"),
    ];
    for wf in workflows {
        let id = wf.workflow_id.clone();
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            &id,
        );
    }
    assert_eq!(
        get(&store, "f2").await.forked_from.as_deref(),
        Some("f1"),
        "an insert stores forked_from"
    );
    let sent = client_send(
        &store,
        vec![message("src", Some("t"), "\"plain\"")],
        "send without forks",
    )
    .await;
    assert_eq!(
        sent.delivered, 1,
        "without send_to_forks only the destination gets it"
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    let to_forks = SendOptions::default().send_to_forks(true);
    let keyed = || vec![message("src", Some("t"), "\"forked\"").with_idempotency_key("k")];
    let sent = ok(
        store.send_messages(keyed(), None, to_forks).await,
        "send with send_to_forks",
    );
    assert_eq!(
        sent.delivered, 4,
        "src and its three forks each get one row"
    );
    let again = ok(
        store.send_messages(keyed(), None, to_forks).await,
        "keyed re-send with send_to_forks",
    );
    assert_eq!(again.delivered, 0, "the key holds for every fork");
    let sent = ok(
        store
            .send_messages(vec![message("f1", None, "\"sub\"")], None, to_forks)
            .await,
        "send to a fork with send_to_forks",
    );
    assert_eq!(
        sent.delivered, 2,
        "a fork's forks are reached, never its source"
    );
    assert_eq!(
        drain(&store, "src", Some("t"), 1).await,
        ["\"plain\"", "\"forked\""]
    );
    for fork in ["f1", "f2", "f3"] {
        assert_eq!(
            drain(&store, fork, Some("t"), 1).await,
            ["\"forked\""],
            "fork {fork} gets the message sent with send_to_forks, once"
        );
    }
    for (id, want) in [
        ("f1", vec!["\"sub\""]),
        ("f2", vec!["\"sub\""]),
        ("src", vec![]),
    ] {
        assert_eq!(drain(&store, id, None, 11).await, want, "{id}, no topic");
    }
    for id in ["unrelated", "parent-of-src"] {
        assert_eq!(drain(&store, id, Some("t"), 1).await, Vec::<String>::new());
    }
    factory.destroy(store).await;
}

/// A replayed recv returns what the first run returned, a message or a timeout (`None`), even
/// when other messages wait now, and consumes nothing.
pub async fn recv_replays_what_it_received<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("r", "o"), InsertOptions::default())
            .await,
        "r",
    );
    client_send(&store, vec![message("r", Some("t"), "\"m1\"")], "send m1").await;
    assert_eq!(
        recv(&store, "r", 1, Some("t"), SHORT)
            .await
            .map(|p| p.text)
            .as_deref(),
        Some("\"m1\"")
    );
    assert_eq!(
        recv(&store, "r", 3, Some("t"), SHORT).await,
        None,
        "nothing left"
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    client_send(&store, vec![message("r", Some("t"), "\"m2\"")], "send m2").await;
    assert_eq!(
        recv(&store, "r", 1, Some("t"), LONG)
            .await
            .map(|p| p.text)
            .as_deref(),
        Some("\"m1\""),
        "the replay of step 1 returns m1 again"
    );
    assert_eq!(
        recv(&store, "r", 3, Some("t"), LONG).await,
        None,
        "the replay of a timed-out recv returns None although m2 waits now"
    );
    assert_eq!(
        recv(&store, "r", 5, Some("t"), SHORT)
            .await
            .map(|p| p.text)
            .as_deref(),
        Some("\"m2\""),
        "replays consumed nothing: m2 is still there"
    );
    factory.destroy(store).await;
}

/// A recv's timeout is durable: a recv interrupted by its cancellation token fails with
/// `Interrupted`, records its `DBOS.sleep` but no `DBOS.recv`; run again at the same steps
/// after the original deadline, with a huge timeout, it returns `None` without waiting again.
pub async fn recv_keeps_its_deadline_after_an_interruption<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("r", "o"), InsertOptions::default())
            .await,
        "r",
    );
    let token = CancellationToken::new();
    token.cancel();
    let request = || {
        let caller = Caller::workflow("r", 1)
            .with_timeout_step(2)
            .with_owner("o");
        RecvRequest::new(caller, Some("t"), Duration::from_millis(100))
    };
    err(
        settles(
            "recv with a cancelled token",
            store.recv(request(), poll_fast().cancel_on(token)),
        )
        .await,
        ErrorKind::Interrupted,
        "recv with a cancelled token",
    );
    assert_eq!(
        ok(store.check_step("r", 1, RECV_STEP).await, "check step 1"),
        None,
        "an interrupted recv records no DBOS.recv"
    );
    recorded(&store, "r", 2, SLEEP_STEP).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut recovered = request();
    recovered.timeout = Duration::from_secs(24 * 3600);
    let got = settles(
        "a recovered recv past its original deadline",
        store.recv(recovered, poll_fast()),
    )
    .await;
    assert_eq!(
        ok(got, "recovered recv"),
        None,
        "the recovered recv keeps the first deadline, which has passed"
    );
    assert_eq!(recorded(&store, "r", 1, RECV_STEP).await, None);
    factory.destroy(store).await;
}

/// A recv waiting with a long timeout gets a message sent by another task while it waits.
pub async fn a_message_sent_during_a_wait_arrives<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    ok(
        store
            .insert_workflow(pending("r", "o"), InsertOptions::default())
            .await,
        "r",
    );
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .recv(recv_at("r", 1, Some("t"), LONG), poll_fast())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiter.is_finished(),
        "recv returned before any message was sent"
    );
    client_send(&*store, vec![message("r", Some("t"), "\"late\"")], "send").await;
    let got = settles("a recv woken by a send", waiter)
        .await
        .expect("the receiving task panicked");
    assert_eq!(
        ok(got, "recv").map(|p| p.text).as_deref(),
        Some("\"late\""),
        "the message sent during the wait arrives"
    );
    destroy_shared(factory, store).await;
}

/// Every wait ends with `Interrupted` when its cancellation token is cancelled while it
/// waits: recv, get_event (from a workflow and from a client) and await_stream. The
/// interrupted waits record no `DBOS.recv` or `DBOS.getEvent`.
pub async fn every_wait_ends_when_cancelled<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    ok(
        store
            .insert_workflow(pending("r", "o"), InsertOptions::default())
            .await,
        "r",
    );
    let token = CancellationToken::new();
    let options = || poll_fast().cancel_on(token.clone());
    let recv = {
        let (store, options) = (store.clone(), options());
        tokio::spawn(async move {
            store
                .recv(recv_at("r", 1, Some("t"), LONG), options)
                .await
                .map(drop)
        })
    };
    let event_from_workflow = {
        let (store, options) = (store.clone(), options());
        let caller = Caller::workflow("r", 3).with_timeout_step(4);
        let request = GetEventRequest::new("r", "k", LONG).from_workflow(caller);
        tokio::spawn(async move { store.get_event(request, options).await.map(drop) })
    };
    let event = {
        let (store, options) = (store.clone(), options());
        tokio::spawn(async move {
            store
                .get_event(GetEventRequest::new("r", "k", LONG), options)
                .await
                .map(drop)
        })
    };
    let stream = {
        let (store, options) = (store.clone(), options().timeout(LONG));
        tokio::spawn(async move {
            store
                .await_stream("r", "s", StreamReadOptions::default(), options)
                .await
                .map(drop)
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    token.cancel();
    for (name, task) in [
        ("recv", recv),
        ("get_event from a workflow", event_from_workflow),
        ("get_event", event),
        ("await_stream", stream),
    ] {
        let result = settles(&format!("{name} after its token was cancelled"), task)
            .await
            .expect("a waiting task panicked");
        err(
            result,
            ErrorKind::Interrupted,
            &format!("{name} with a cancelled token"),
        );
    }
    let names = step_names(&*store, "r").await;
    assert!(
        names
            .iter()
            .all(|(_, name)| name != RECV_STEP && name != GET_EVENT_STEP),
        "interrupted waits record no result step: {names:?}"
    );
    destroy_shared(factory, store).await;
}

/// Sends, recvs, events and stream writes through a [`RetryingStore`] over a [`FaultyStore`]
/// apply once whatever fault hits them (a refused attempt, a lost acknowledgement): every
/// message arrives once, every stream value is written once, and the answers after a retry
/// are those of a clean run (or of its replay).
pub async fn retried_writes_apply_once<F: Factory>(factory: &F) {
    for fault in Fault::ALL {
        let store = Arc::new(factory.create().await);
        let faulty = Arc::new(FaultyStore::shared(store.clone()));
        let retrying = RetryingStore::new(faulty.clone(), super::retry::fast_policy());
        for id in ["s", "r"] {
            ok(
                store
                    .insert_workflow(pending(id, "o"), InsertOptions::default())
                    .await,
                id,
            );
        }
        let what = |op: &str| format!("{op} under {fault:?}");
        let owner = |caller: Caller| caller.with_owner("o");

        faulty.inject(fault);
        let sent = ok(
            retrying
                .send_messages(
                    vec![message("r", Some("t"), "\"wf\"")],
                    Some(owner(Caller::workflow("s", 1))),
                    SendOptions::default(),
                )
                .await,
            &what("send from a workflow"),
        );
        assert_eq!(sent.delivered + u64::from(sent.replayed), 1, "{sent:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
        faulty.inject(fault);
        ok(
            retrying
                .send_messages(
                    vec![message("r", Some("t"), "\"keyed\"").with_idempotency_key("k")],
                    None,
                    SendOptions::default(),
                )
                .await,
            &what("keyed client send"),
        );
        faulty.inject(fault);
        let first = ok(
            retrying
                .recv(recv_at("r", 1, Some("t"), SHORT), poll_fast())
                .await,
            &what("recv"),
        );
        assert_eq!(
            first.map(|p| p.text).as_deref(),
            Some("\"wf\""),
            "{}",
            what("recv")
        );
        faulty.inject(fault);
        ok(
            retrying
                .set_event(
                    owner(Caller::workflow("s", 2)),
                    "k",
                    Payload::portable_json("1"),
                )
                .await,
            &what("set_event"),
        );
        faulty.inject(fault);
        ok(
            retrying
                .set_event(
                    owner(Caller::step("s", 3)),
                    "k2",
                    Payload::portable_json("2"),
                )
                .await,
            &what("set_event inside a step"),
        );
        faulty.inject(fault);
        ok(
            retrying
                .write_stream(
                    owner(Caller::workflow("s", 4)),
                    "st",
                    Payload::portable_json("0"),
                )
                .await,
            &what("write_stream"),
        );
        faulty.inject(fault);
        ok(
            retrying
                .close_stream(owner(Caller::step("s", 5)), "st")
                .await,
            &what("close_stream inside a step"),
        );
        assert_eq!(faulty.pending(), 0, "every injected fault was taken");

        assert_eq!(
            drain(&*store, "r", Some("t"), 3).await,
            ["\"keyed\""],
            "{}: each message arrives once",
            what("sends")
        );
        let events = ok(store.get_all_events("s").await, "get_all_events");
        assert_eq!(events.len(), 2, "{}: {events:?}", what("set_event"));
        let read = ok(
            store
                .read_stream("s", "st", StreamReadOptions::default())
                .await,
            "read_stream",
        );
        assert_eq!(read.values.len(), 1, "{}: {read:?}", what("write_stream"));
        assert!(
            read.closed,
            "{}: the stream is closed",
            what("close_stream")
        );
        drop(retrying);
        drop(faulty);
        destroy_shared(factory, store).await;
    }
}

/// Invalid sends and recvs are refused with `InvalidInput` and send nothing: an empty batch
/// or key, an empty destination, NUL bytes in a topic, key or message, a topic over
/// [`MAX_TOPIC_BYTES`](dbos_storage_core::messages::MAX_TOPIC_BYTES), a recv inside a step or
/// without a timeout step, or with the timeout step at its own position.
pub async fn invalid_input_is_rejected<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("r", "o"), InsertOptions::default())
            .await,
        "r",
    );
    let long_topic = "t".repeat(dbos_storage_core::messages::MAX_TOPIC_BYTES + 1);
    let refused: [(&str, OutgoingMessage); 7] = [
        ("an empty destination", message("", Some("t"), "1")),
        ("a NUL byte in the topic", message("r", Some("t\0"), "1")),
        (
            "a topic over the length limit",
            message("r", Some(long_topic.as_str()), "1"),
        ),
        (
            "a NUL byte in the message",
            message("r", Some("t"), "\"a\0b\""),
        ),
        (
            "an empty idempotency key",
            message("r", Some("t"), "1").with_idempotency_key(""),
        ),
        (
            "a NUL byte in the idempotency key",
            message("r", Some("t"), "1").with_idempotency_key("k\0"),
        ),
        (
            "a NUL byte in the destination",
            message("r\0", Some("t"), "1"),
        ),
    ];
    for (what, bad) in refused {
        let batch = vec![message("r", Some("t"), "\"fine\""), bad];
        err(
            store
                .send_messages(batch, None, SendOptions::default())
                .await,
            ErrorKind::InvalidInput,
            &format!("a batch with {what}"),
        );
    }
    err(
        store
            .send_messages(
                vec![message("r", Some("t"), "1")],
                Some(Caller::workflow("r", -1)),
                SendOptions::default(),
            )
            .await,
        ErrorKind::InvalidInput,
        "a send at a negative step",
    );
    let requests = [
        (
            "a recv with a NUL byte in the topic",
            recv_at("r", 1, Some("t\0"), SHORT),
        ),
        (
            "a recv inside a step",
            RecvRequest::new(Caller::step("r", 1).with_timeout_step(2), Some("t"), SHORT),
        ),
        (
            "a recv without a timeout step",
            RecvRequest::new(Caller::workflow("r", 1), Some("t"), SHORT),
        ),
        (
            "a recv whose timeout step is its own step",
            RecvRequest::new(
                Caller::workflow("r", 1).with_timeout_step(1),
                Some("t"),
                SHORT,
            ),
        ),
        (
            "a recv by an empty workflow id",
            recv_at("", 1, Some("t"), SHORT),
        ),
    ];
    for (what, request) in requests {
        err(
            settles(what, store.recv(request, poll_fast())).await,
            ErrorKind::InvalidInput,
            what,
        );
    }
    assert_eq!(
        drain(&store, "r", Some("t"), 1).await,
        Vec::<String>::new(),
        "refused batches send nothing"
    );
    factory.destroy(store).await;
}

/// A recv by a workflow that does not exist fails with `NotFound`; so does a send from one.
pub async fn missing_workflows_are_not_found<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("r", "o"), InsertOptions::default())
            .await,
        "r",
    );
    err(
        settles(
            "recv by a missing workflow",
            store.recv(recv_at("ghost", 1, Some("t"), SHORT), poll_fast()),
        )
        .await,
        ErrorKind::NotFound,
        "recv by a missing workflow",
    );
    err(
        store
            .send_messages(
                vec![message("r", Some("t"), "1")],
                Some(Caller::workflow("ghost", 1)),
                SendOptions::default(),
            )
            .await,
        ErrorKind::NotFound,
        "a send from a missing workflow",
    );
    assert_eq!(drain(&store, "r", Some("t"), 1).await, Vec::<String>::new());
    factory.destroy(store).await;
}

/// `list_notifications` shows every message sent to a workflow, consumed or not, in send order
/// (creation time, then message id: two messages of one batch on fresh topics share the
/// millisecond and come in id order): ids from idempotency keys, `None` for a send without a
/// topic, labels as sent, and after a recv the message is `consumed` by the recv's step. It
/// consumes nothing itself (two listings agree), shows no other workflow's messages, is empty
/// for an unknown workflow, and refuses an invalid id with a message naming it.
pub async fn list_notifications_shows_every_message<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["r", "other"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let keyed = |topic: Option<&str>, text: &str, key: &str| {
        message("r", topic, text).with_idempotency_key(key)
    };
    client_send(&store, vec![keyed(Some("a"), "\"a1\"", "k1")], "send a1").await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    client_send(&store, vec![keyed(None, "\"n1\"", "k2")], "send n1").await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let labelled = OutgoingMessage::new("r", Some("b"), Payload::rust_serde("{\"b\":1}"))
        .with_idempotency_key("k3");
    client_send(&store, vec![labelled], "send a rust_serde message").await;
    client_send(
        &store,
        vec![message("other", Some("a"), "\"elsewhere\"")],
        "send to another workflow",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    // One batch on two fresh topics: the same creation time, so the ids decide.
    client_send(
        &store,
        vec![
            keyed(Some("t1"), "\"z\"", "z"),
            keyed(Some("t2"), "\"y\"", "y"),
        ],
        "send a batch",
    )
    .await;

    let listed = ok(store.list_notifications("r").await, "list r");
    let shape: Vec<(&str, Option<&str>, &str, bool)> = listed
        .iter()
        .map(|n| {
            (
                n.message_id.as_str(),
                n.topic.as_deref(),
                n.message.text.as_str(),
                n.consumed,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("k1::r", Some("a"), "\"a1\"", false),
            ("k2::r", None, "\"n1\"", false),
            ("k3::r", Some("b"), "{\"b\":1}", false),
            ("y::r", Some("t2"), "\"y\"", false),
            ("z::r", Some("t1"), "\"z\"", false),
        ],
        "every message of r, in send order, ties by id"
    );
    assert_eq!(listed[2].message, Payload::rust_serde("{\"b\":1}"));
    assert_eq!(listed[0].message, Payload::portable_json("\"a1\""));
    assert_eq!(
        listed[3].created_at_epoch_ms, listed[4].created_at_epoch_ms,
        "one batch on fresh topics shares its creation time"
    );
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].created_at_epoch_ms <= w[1].created_at_epoch_ms),
        "creation times never decrease: {listed:?}"
    );
    assert!(listed.iter().all(|n| n.consumed_by_function_id.is_none()));
    assert_eq!(
        ok(store.list_notifications("r").await, "list r again"),
        listed,
        "a listing consumes nothing"
    );

    let received = recv(&store, "r", 1, None, LONG).await;
    assert_eq!(received, Some(Payload::portable_json("\"n1\"")));
    let after = ok(store.list_notifications("r").await, "list r after a recv");
    let consumed: Vec<(&str, bool, Option<i32>)> = after
        .iter()
        .map(|n| (n.message_id.as_str(), n.consumed, n.consumed_by_function_id))
        .collect();
    assert_eq!(
        consumed,
        vec![
            ("k1::r", false, None),
            ("k2::r", true, Some(1)),
            ("k3::r", false, None),
            ("y::r", false, None),
            ("z::r", false, None),
        ],
        "the received message is listed as consumed by the recv's step"
    );

    let others = ok(store.list_notifications("other").await, "list other");
    assert_eq!(others.len(), 1);
    assert_eq!(others[0].topic.as_deref(), Some("a"));
    assert!(
        ok(
            store.list_notifications("ghost").await,
            "list a missing workflow"
        )
        .is_empty(),
        "an unknown workflow has no messages"
    );

    let long = "w".repeat(dbos_storage_core::validate::MAX_WORKFLOW_ID_BYTES + 1);
    for (id, words) in [
        ("", "workflow id is empty"),
        ("r\0x", "workflow id contains a NUL byte"),
        (long.as_str(), "over the limit of 1024 bytes"),
    ] {
        let e = err(
            store.list_notifications(id).await,
            ErrorKind::InvalidInput,
            "list an invalid id",
        );
        assert!(e.to_string().contains(words), "{words:?} in: {e}");
    }
    factory.destroy(store).await;
}

/// A send from a workflow over a step of its own name that holds an outcome no send records —
/// `DBOS.send` with an output (even one that reads as a count of one), `DBOS.send_bulk` without
/// its count, an error other than DBOS's missing-destination error — is `Corrupt` naming the
/// step, not a replay: nothing is sent and nothing is recorded.
pub async fn sends_over_steps_no_send_records_are_corrupt<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for id in ["s", "r"] {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            id,
        );
    }
    let other_error = PortableError::new("ValueError", "boom")
        .encode()
        .expect("a portable error encodes");
    let steps = [
        StepRecord::output("s", 1, SEND_STEP, Payload::portable_json("1")),
        StepRecord::output("s", 2, SEND_STEP, Payload::portable_json("2")),
        StepRecord::with_outcome("s", 3, SEND_BULK_STEP, None),
        StepRecord::error("s", 4, SEND_STEP, other_error),
    ];
    for step in steps {
        let what = format!("record step {}", step.function_id);
        ok(store.record_step(step, Some("o")).await, &what);
    }
    let before = step_names(&store, "s").await;
    for (function_id, count) in [(1, 1), (2, 1), (3, 2), (4, 1)] {
        let batch = (0..count)
            .map(|i| message("r", Some("t"), &format!("\"m{i}\"")))
            .collect();
        let e = err(
            store
                .send_messages(
                    batch,
                    Some(Caller::workflow("s", function_id).with_owner("o")),
                    SendOptions::default(),
                )
                .await,
            ErrorKind::Corrupt,
            &format!("a send of {count} over step {function_id}"),
        );
        assert!(
            e.message().contains(&format!("step {function_id}"))
                && e.message().contains("workflow s"),
            "names the step: {e}"
        );
    }
    assert_eq!(
        ok(store.list_notifications("r").await, "list r's messages"),
        vec![],
        "nothing was sent"
    );
    assert_eq!(
        step_names(&store, "s").await,
        before,
        "nothing was recorded"
    );
    factory.destroy(store).await;
}
