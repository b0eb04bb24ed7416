//! PostgreSQL-specific checks of messages, events and streams beyond the conformance suite: the
//! rows exactly as DBOS writes them, the NOTIFY payloads DBOS peers wake on, the listener's
//! reconnection after its backend is terminated, concurrent receivers, and the polling gate.
//!
//! Nothing here asserts speed: every wait is bounded by a generous [`BOUND`] so that a lost
//! wake-up fails the test instead of hanging it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{
    AwaitOptions, Caller, DatabaseUrl, DbosConfig, ErrorKind, EventStore, GetEventRequest,
    InsertOptions, LifecycleStore, MessageStore, NewWorkflow, OutgoingMessage, Payload, QueueStore,
    RecvRequest, SendOptions, StepStore, StreamReadOptions, StreamStore, WorkflowStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;
use tokio::sync::{mpsc, OnceCell};
use tokio_postgres::AsyncMessage;

static DATABASE: OnceCell<String> = OnceCell::const_new();

/// How long anything that must happen may take before the test fails.
const BOUND: Duration = Duration::from_secs(30);

async fn database_url() -> &'static str {
    DATABASE
        .get_or_init(|| pg::server().create_database("dbos_messaging"))
        .await
}

/// An `operation_outputs` row: position, name, output, error, serialization, and whether the
/// start and completion times are set.
type StepRow = (
    i32,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    bool,
);

/// Options of the stores under test.
#[derive(Clone)]
struct Opts {
    pool_size: u32,
    application_name: String,
    recheck: Option<Duration>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            pool_size: 8,
            application_name: "dbos_transact".to_owned(),
            recheck: None,
        }
    }
}

/// A store on `schema` (migrated).
async fn open(schema: &str, opts: Opts) -> PostgresStore {
    let dbos = DbosConfig::new("messaging_tests")
        .with_dbos_system_schema(schema)
        .with_sys_db_pool_size(opts.pool_size)
        .with_application_name(opts.application_name);
    let url = DatabaseUrl::parse(database_url().await).unwrap();
    let mut config = PostgresConfig::system(&dbos, &url).unwrap();
    if let Some(recheck) = opts.recheck {
        config = config.with_listener_recheck_interval(recheck);
    }
    let store = PostgresStore::open(config).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A store on a fresh schema.
async fn store() -> PostgresStore {
    open(&pg::server().unique_name("dbos_msg"), Opts::default()).await
}

async fn admin() -> tokio_postgres::Client {
    pg::server().connect(database_url().await).await.unwrap()
}

async fn drop_store(store: PostgresStore) {
    store.close().await.unwrap();
    admin()
        .await
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_identifier(store.schema())
        ))
        .await
        .unwrap();
}

fn inputs() -> Payload {
    Payload::portable_json(r#"{"positionalArgs":[],"namedArgs":{}}"#)
}

async fn start(store: &PostgresStore, id: &str) {
    store
        .insert_workflow(
            NewWorkflow::new(id, "wf", inputs()),
            InsertOptions::default(),
        )
        .await
        .unwrap();
}

fn table(store: &PostgresStore, name: &str) -> String {
    format!("{}.{name}", quote_identifier(store.schema()))
}

/// Polls `probe` every 20 ms until it holds, failing after [`BOUND`].
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + BOUND;
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `future`, failing after [`BOUND`].
async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// A wait that only a wake-up can end early: re-checks once an hour.
fn hourly() -> AwaitOptions {
    AwaitOptions::default().poll_interval(Duration::from_secs(3600))
}

/// A raw `LISTEN` connection on DBOS's three channels, as a DBOS peer holds one: its
/// notifications arrive on the receiver as `(channel, payload)`.
async fn raw_listener() -> (
    tokio_postgres::Client,
    mpsc::UnboundedReceiver<(String, String)>,
) {
    let (client, mut connection) =
        tokio_postgres::connect(database_url().await, tokio_postgres::NoTls)
            .await
            .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client
        .batch_execute(
            "LISTEN dbos_notifications_channel; LISTEN dbos_workflow_events_channel; \
             LISTEN dbos_streams_channel",
        )
        .await
        .unwrap();
    (client, rx)
}

/// Waits for `(channel, payload)` on a raw listener, skipping other notifications (other tests
/// share the database).
async fn expect_notification(
    rx: &mut mpsc::UnboundedReceiver<(String, String)>,
    channel: &str,
    payload: &str,
) {
    bounded(&format!("NOTIFY {channel} {payload:?}"), async {
        loop {
            let (c, p) = rx.recv().await.expect("the raw listener ended");
            if c == channel && p == payload {
                return;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_written_as_dbos_writes_them() {
    let store = store().await;
    for id in ["dest", "sender", "source"] {
        start(&store, id).await;
    }
    let fork = NewWorkflow::new("fork-1", "wf", inputs()).with_forked_from("source");
    store
        .insert_workflow(fork, InsertOptions::default())
        .await
        .unwrap();
    let enqueued_fork = NewWorkflow::new("fork-2", "wf", inputs())
        .enqueued("q")
        .with_forked_from("fork-1");
    store.enqueue_workflows(vec![enqueued_fork]).await.unwrap();
    let db = admin().await;
    let forked: Vec<(String, Option<String>)> = db
        .query(
            &format!(
                "SELECT workflow_uuid, forked_from FROM {} ORDER BY workflow_uuid",
                table(&store, "workflow_status")
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(forked.contains(&("fork-1".into(), Some("source".into()))));
    assert!(forked.contains(&("fork-2".into(), Some("fork-1".into()))));

    // A client send without a topic or key, one with a key, and a bulk send from a workflow.
    let plain = OutgoingMessage::new("dest", None::<String>, Payload::rust_serde("1"));
    let keyed = OutgoingMessage::new("dest", Some("t"), Payload::portable_json("2"))
        .with_idempotency_key("k1");
    let outcome = store
        .send_messages(vec![plain, keyed.clone()], None, SendOptions::default())
        .await
        .unwrap();
    assert_eq!((outcome.replayed, outcome.delivered), (false, 2));
    let again = store
        .send_messages(vec![keyed], None, SendOptions::default())
        .await
        .unwrap();
    assert_eq!(again.delivered, 0, "a re-send with the same key is dropped");
    let bulk = vec![
        OutgoingMessage::new("source", Some("t"), Payload::portable_json("3")),
        OutgoingMessage::new("dest", Some("t"), Payload::portable_json("4")),
    ];
    let outcome = store
        .send_messages(
            bulk,
            Some(Caller::workflow("sender", 1)),
            SendOptions::default().send_to_forks(true),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome.delivered, 4,
        "source, its fork, the fork's fork, dest"
    );
    let single = OutgoingMessage::new("dest", Some("u"), Payload::portable_json("5"));
    store
        .send_messages(
            vec![single],
            Some(Caller::workflow("sender", 2)),
            SendOptions::default(),
        )
        .await
        .unwrap();

    let rows = db
        .query(
            &format!(
                "SELECT message_uuid, destination_uuid, topic, message, serialization, consumed, \
                 consumed_by_function_id, created_at_epoch_ms FROM {} ORDER BY message, destination_uuid",
                table(&store, "notifications")
            ),
            &[],
        )
        .await
        .unwrap();
    let described: Vec<(String, String, String, Option<String>, bool)> = rows
        .iter()
        .map(|r| (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    let pj = Some("portable_json".to_owned());
    assert_eq!(
        described,
        vec![
            (
                "dest".into(),
                "__null__topic__".into(),
                "1".into(),
                Some("rust_serde".into()),
                false
            ),
            ("dest".into(), "t".into(), "2".into(), pj.clone(), false),
            ("fork-1".into(), "t".into(), "3".into(), pj.clone(), false),
            ("fork-2".into(), "t".into(), "3".into(), pj.clone(), false),
            ("source".into(), "t".into(), "3".into(), pj.clone(), false),
            ("dest".into(), "t".into(), "4".into(), pj.clone(), false),
            ("dest".into(), "u".into(), "5".into(), pj.clone(), false),
        ]
    );
    for row in &rows {
        let uuid: String = row.get(0);
        let message: String = row.get(3);
        if message == "2" {
            assert_eq!(uuid, "k1::dest");
        } else {
            assert!(
                uuid::Uuid::parse_str(&uuid).is_ok(),
                "{uuid} is a fresh uuid"
            );
            assert_eq!(uuid.len(), 36, "{uuid}: the hyphenated form");
        }
        assert!(
            row.get::<_, i64>(7) > 1_600_000_000_000,
            "epoch milliseconds"
        );
    }

    // The send steps: DBOS.send_bulk with the count, DBOS.send with nothing.
    let steps = db
        .query(
            &format!(
                "SELECT function_id, function_name, output, error, serialization, \
                 started_at_epoch_ms IS NOT NULL, completed_at_epoch_ms IS NOT NULL \
                 FROM {} WHERE workflow_uuid = 'sender' ORDER BY function_id",
                table(&store, "operation_outputs")
            ),
            &[],
        )
        .await
        .unwrap();
    let steps: Vec<StepRow> = steps
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (
                1,
                "DBOS.send_bulk".into(),
                Some("2".into()),
                None,
                pj.clone(),
                true,
                true
            ),
            (2, "DBOS.send".into(), None, None, None, true, true),
        ]
    );

    // A receive consumes (never deletes) and records the message in its own format.
    let request = RecvRequest::new(
        Caller::workflow("dest", 1).with_timeout_step(2),
        None::<String>,
        Duration::from_secs(5),
    );
    let got = store.recv(request, AwaitOptions::default()).await.unwrap();
    assert_eq!(got, Some(Payload::rust_serde("1")));
    let consumed = db
        .query_one(
            &format!(
                "SELECT consumed, consumed_by_function_id FROM {} WHERE message = '1'",
                table(&store, "notifications")
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            consumed.get::<_, bool>(0),
            consumed.get::<_, Option<i32>>(1)
        ),
        (true, Some(1))
    );
    let recv_steps: Vec<(i32, String, Option<String>, Option<String>)> = db
        .query(
            &format!(
                "SELECT function_id, function_name, output, serialization FROM {} \
                 WHERE workflow_uuid = 'dest' ORDER BY function_id",
                table(&store, "operation_outputs")
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        recv_steps[0],
        (
            1,
            "DBOS.recv".into(),
            Some("1".into()),
            Some("rust_serde".into())
        )
    );
    assert_eq!(recv_steps[1].1, "DBOS.sleep");
    assert_eq!(recv_steps[1].3.as_deref(), Some("portable_json"));

    // A send to a missing destination delivers nothing and is recorded as the step's error.
    let batch = vec![
        OutgoingMessage::new("dest", Some("t"), Payload::portable_json("6")),
        OutgoingMessage::new("ghost", Some("t"), Payload::portable_json("7")),
    ];
    let e = store
        .send_messages(
            batch.clone(),
            Some(Caller::workflow("sender", 3)),
            SendOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("ghost"), "{e}");
    let error_row = db
        .query_one(
            &format!(
                "SELECT function_name, output, error, serialization FROM {} \
                 WHERE workflow_uuid = 'sender' AND function_id = 3",
                table(&store, "operation_outputs")
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(error_row.get::<_, String>(0), "DBOS.send_bulk");
    assert_eq!(error_row.get::<_, Option<String>>(1), None);
    let error: serde_json::Value = serde_json::from_str(&error_row.get::<_, String>(2)).unwrap();
    assert_eq!(error["name"], "DBOSNonExistentWorkflowError");
    assert_eq!(
        error_row.get::<_, Option<String>>(3).as_deref(),
        Some("portable_json")
    );
    let count: i64 = db
        .query_one(
            &format!(
                "SELECT count(*) FROM {} WHERE message = '6'",
                table(&store, "notifications")
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "nothing of the batch was delivered");
    let replay = store
        .send_messages(
            batch,
            Some(Caller::workflow("sender", 3)),
            SendOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        replay.kind(),
        ErrorKind::NotFound,
        "the replay fails the same way: {replay}"
    );

    // Events: the current value, the history row at the step, step DBOS.setEvent.
    store
        .set_event(
            Caller::workflow("source", 1),
            "k",
            Payload::portable_json("\"a\""),
        )
        .await
        .unwrap();
    store
        .set_event(Caller::step("source", 2), "k", Payload::rust_serde("\"b\""))
        .await
        .unwrap();
    let current = db
        .query_one(
            &format!(
                "SELECT value, serialization FROM {} WHERE workflow_uuid = 'source' AND key = 'k'",
                table(&store, "workflow_events")
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            current.get::<_, String>(0),
            current.get::<_, Option<String>>(1)
        ),
        ("\"b\"".into(), Some("rust_serde".into()))
    );
    let history: Vec<(i32, String, Option<String>)> = db
        .query(
            &format!(
                "SELECT function_id, value, serialization FROM {} WHERE workflow_uuid = 'source' \
                 ORDER BY function_id",
                table(&store, "workflow_events_history")
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        history,
        vec![
            (1, "\"a\"".into(), pj.clone()),
            (2, "\"b\"".into(), Some("rust_serde".into()))
        ]
    );

    // Streams: dense offsets, the writer's step in function_id, the sentinel as DBOS writes it.
    store
        .write_stream(
            Caller::workflow("source", 3),
            "s",
            Payload::portable_json("10"),
        )
        .await
        .unwrap();
    store
        .write_stream(Caller::step("source", 4), "s", Payload::rust_serde("11"))
        .await
        .unwrap();
    store
        .close_stream(Caller::workflow("source", 5), "s")
        .await
        .unwrap();
    let stream: Vec<(i32, String, Option<String>, i32)> = db
        .query(
            &format!(
                "SELECT \"offset\", value, serialization, function_id FROM {} \
                 WHERE workflow_uuid = 'source' AND key = 's' ORDER BY \"offset\"",
                table(&store, "streams")
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        stream,
        vec![
            (0, "10".into(), pj.clone(), 3),
            (1, "11".into(), Some("rust_serde".into()), 4),
            (2, "\"__DBOS_STREAM_CLOSED__\"".into(), pj.clone(), 5),
        ]
    );
    let names: Vec<(i32, String)> = db
        .query(
            &format!(
                "SELECT function_id, function_name FROM {} WHERE workflow_uuid = 'source' \
                 ORDER BY function_id",
                table(&store, "operation_outputs")
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        names,
        vec![
            (1, "DBOS.setEvent".into()),
            (3, "DBOS.writeStream".into()),
            (5, "DBOS.closeStream".into()),
        ]
    );
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_signal_dbos_peers_on_their_channels() {
    let store = store().await;
    let (_client, mut rx) = raw_listener().await;
    let wf = pg::server().unique_name("notify_wf");
    start(&store, &wf).await;

    store
        .set_event(
            Caller::workflow(wf.as_str(), 1),
            "status",
            Payload::portable_json("1"),
        )
        .await
        .unwrap();
    expect_notification(
        &mut rx,
        "dbos_workflow_events_channel",
        &format!("{wf}::status"),
    )
    .await;

    store
        .write_stream(
            Caller::workflow(wf.as_str(), 2),
            "out",
            Payload::portable_json("1"),
        )
        .await
        .unwrap();
    expect_notification(&mut rx, "dbos_streams_channel", &format!("{wf}::out")).await;
    store
        .close_stream(Caller::workflow(wf.as_str(), 3), "out")
        .await
        .unwrap();
    expect_notification(&mut rx, "dbos_streams_channel", &format!("{wf}::out")).await;

    // Messages are signalled by the trigger, with the stored topic.
    let messages = vec![
        OutgoingMessage::new(wf.as_str(), Some("greeting"), Payload::portable_json("1")),
        OutgoingMessage::new(wf.as_str(), None::<String>, Payload::portable_json("2")),
    ];
    store
        .send_messages(messages, None, SendOptions::default())
        .await
        .unwrap();
    expect_notification(
        &mut rx,
        "dbos_notifications_channel",
        &format!("{wf}::greeting"),
    )
    .await;
    expect_notification(
        &mut rx,
        "dbos_notifications_channel",
        &format!("{wf}::__null__topic__"),
    )
    .await;
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_store_wakes_waits_through_listen_notify() {
    let schema = pg::server().unique_name("dbos_msg");
    let waiter = open(&schema, Opts::default()).await;
    let writer = open(&schema, Opts::default()).await;
    let wait_for_proof = || async { waiter.listener_proven() };
    eventually("the waiter's listener is proven", wait_for_proof).await;
    for id in ["receiver", "publisher"] {
        start(&waiter, id).await;
    }

    // Each wait re-checks only hourly: the other store's write must wake it.
    let request = RecvRequest::new(
        Caller::workflow("receiver", 1).with_timeout_step(2),
        Some("t"),
        Duration::from_secs(600),
    );
    let recv = waiter.recv(request, hourly());
    let send = async {
        wait_until_sleep_recorded(&writer, "receiver", 2).await;
        let m = OutgoingMessage::new("receiver", Some("t"), Payload::portable_json("\"hi\""));
        writer
            .send_messages(vec![m], None, SendOptions::default())
            .await
            .unwrap();
    };
    let (got, ()) = bounded("recv woken by another store", async {
        tokio::join!(recv, send)
    })
    .await;
    assert_eq!(got.unwrap(), Some(Payload::portable_json("\"hi\"")));

    let request = GetEventRequest::new("publisher", "k", Duration::from_secs(600))
        .from_workflow(Caller::workflow("receiver", 3).with_timeout_step(4));
    let get = waiter.get_event(request, hourly());
    let set = async {
        wait_until_sleep_recorded(&writer, "receiver", 4).await;
        writer
            .set_event(
                Caller::workflow("publisher", 1),
                "k",
                Payload::portable_json("7"),
            )
            .await
            .unwrap();
    };
    let (got, ()) = bounded("get_event woken by another store", async {
        tokio::join!(get, set)
    })
    .await;
    assert_eq!(got.unwrap(), Some(Payload::portable_json("7")));

    let read = waiter.await_stream(
        "publisher",
        "s",
        StreamReadOptions::default(),
        hourly().timeout(Duration::from_secs(600)),
    );
    let write = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer
            .write_stream(
                Caller::workflow("publisher", 2),
                "s",
                Payload::portable_json("1"),
            )
            .await
            .unwrap();
    };
    let (read, ()) = bounded("await_stream woken by another store", async {
        tokio::join!(read, write)
    })
    .await;
    assert_eq!(read.unwrap().values.len(), 1);
    writer.close().await.unwrap();
    drop_store(waiter).await;
}

/// Waits until the durable timeout of a wait of `workflow_id` is recorded at `function_id`:
/// the waiter has registered and is about to look or sleep.
async fn wait_until_sleep_recorded(store: &PostgresStore, workflow_id: &str, function_id: i32) {
    eventually(
        &format!("the wait of {workflow_id} records its timeout"),
        || async {
            matches!(
                store
                    .check_step(workflow_id, function_id, "DBOS.sleep")
                    .await,
                Ok(Some(_))
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_after_its_backend_is_terminated() {
    let schema = pg::server().unique_name("dbos_msg");
    let waiter = open(&schema, Opts::default()).await;
    let writer = open(&schema, Opts::default()).await;
    eventually("the listener is proven", || async {
        waiter.listener_proven()
    })
    .await;
    assert_eq!(waiter.listener_sessions(), 1);
    let first_pid = waiter.listener_backend_pid().expect("a connected listener");
    start(&waiter, "receiver").await;

    let db = admin().await;
    let listening: Vec<String> = db
        .query(
            "SELECT query FROM pg_stat_activity WHERE pid = $1",
            &[&first_pid],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        listening.len(),
        1,
        "the listener's backend is in pg_stat_activity"
    );
    let terminated: bool = db
        .query_one("SELECT pg_terminate_backend($1)", &[&first_pid])
        .await
        .unwrap()
        .get(0);
    assert!(terminated);

    eventually(
        "the listener reconnects and proves itself again",
        || async { waiter.listener_sessions() >= 2 && waiter.listener_proven() },
    )
    .await;
    let second_pid = waiter.listener_backend_pid().expect("reconnected");
    assert_ne!(first_pid, second_pid);

    // A wait that re-checks hourly still ends when the other store sends.
    let request = RecvRequest::new(
        Caller::workflow("receiver", 1).with_timeout_step(2),
        Some("t"),
        Duration::from_secs(600),
    );
    let recv = waiter.recv(request, hourly());
    let send = async {
        wait_until_sleep_recorded(&writer, "receiver", 2).await;
        let m = OutgoingMessage::new("receiver", Some("t"), Payload::portable_json("1"));
        writer
            .send_messages(vec![m], None, SendOptions::default())
            .await
            .unwrap();
    };
    let (got, ()) = bounded("recv after the reconnection", async {
        tokio::join!(recv, send)
    })
    .await;
    assert_eq!(got.unwrap(), Some(Payload::portable_json("1")));

    // Closing the store ends the listener's session.
    waiter.close().await.unwrap();
    assert_eq!(waiter.listener_backend_pid(), None);
    eventually("the listener's backend is gone", || async {
        let rows = db
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE pid = $1",
                &[&second_pid],
            )
            .await
            .unwrap();
        rows.is_empty()
    })
    .await;
    writer.close().await.unwrap();
    admin()
        .await
        .batch_execute(&format!(
            "DROP SCHEMA {} CASCADE",
            quote_identifier(&schema)
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_receivers_never_take_one_message_twice() {
    let store = Arc::new(store().await);
    start(&store, "inbox").await;
    let messages: Vec<OutgoingMessage> = (0..24)
        .map(|i| OutgoingMessage::new("inbox", Some("t"), Payload::portable_json(i.to_string())))
        .collect();
    store
        .send_messages(messages, None, SendOptions::default())
        .await
        .unwrap();
    // 24 receives at distinct steps, all at once; plus a rival at each of the first 4 steps.
    let mut tasks = Vec::new();
    for (i, position) in (0..24).chain(0..4).enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let function_id = 1 + 2 * position;
            let request = RecvRequest::new(
                Caller::workflow("inbox", function_id).with_timeout_step(function_id + 1),
                Some("t"),
                Duration::from_secs(5),
            );
            let got = store.recv(request, AwaitOptions::default()).await;
            (i, position, got)
        }));
    }
    let mut by_position = std::collections::BTreeMap::new();
    let mut texts = BTreeSet::new();
    for task in tasks {
        let (_, position, got) = task.await.unwrap();
        let got = got.unwrap().expect("a message for every step");
        if let Some(previous) = by_position.insert(position, got.text.clone()) {
            assert_eq!(
                previous, got.text,
                "two receives at one step return one value"
            );
        } else {
            assert!(
                texts.insert(got.text.clone()),
                "{} was received twice",
                got.text
            );
        }
    }
    assert_eq!(texts.len(), 24);
    let store = Arc::try_unwrap(store).unwrap();
    drop_store(store).await;
}

/// The polling reads of this store blocked on a lock, as the server sees them.
async fn blocked_polls(db: &tokio_postgres::Client, app: &str) -> i64 {
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
         AND state = 'active' AND wait_event_type = 'Lock' AND query LIKE '%streams%'",
        &[&app],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_gate_caps_polling_reads_and_leaves_the_pool_free() {
    let app = pg::server().unique_name("gate");
    let opts = Opts {
        pool_size: 4,
        application_name: app.clone(),
        recheck: None,
    };
    let store = Arc::new(open(&pg::server().unique_name("dbos_msg"), opts).await);
    assert_eq!(store.poll_gate_size(), 2, "half the pool");
    start(&store, "writer").await;
    let fast = AwaitOptions::default()
        .poll_interval(Duration::from_millis(1))
        .timeout(Duration::from_secs(120));
    let waits: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            let fast = fast.clone();
            tokio::spawn(async move {
                let key = format!("s{i}");
                store
                    .await_stream("writer", &key, StreamReadOptions::default(), fast)
                    .await
            })
        })
        .collect();

    // Block every stream read: the polling reads that start now wait on the lock, holding their
    // connection, so the number waiting is the number the gate lets run.
    let mut db = admin().await;
    let lock = db.transaction().await.unwrap();
    lock.batch_execute(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        table(&store, "streams")
    ))
    .await
    .unwrap();
    let observer = admin().await;
    eventually("two polling reads block on the lock", || async {
        blocked_polls(&observer, &app).await == 2
    })
    .await;
    for _ in 0..50 {
        let blocked = blocked_polls(&observer, &app).await;
        assert!(
            blocked <= 2,
            "{blocked} polling reads run at once; the gate allows 2"
        );
    }
    let sessions: i64 = observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        sessions <= 5,
        "{sessions} sessions: a pool of 4 plus the listener"
    );
    // The other half of the pool still serves writes while 100 waits are pending.
    bounded("writes while every polling read is blocked", async {
        start(&store, "other").await;
        let m = OutgoingMessage::new("other", Some("t"), Payload::portable_json("1"));
        store
            .send_messages(vec![m], None, SendOptions::default())
            .await
            .unwrap();
    })
    .await;
    lock.commit().await.unwrap();

    for i in 0..100 {
        store
            .write_stream(
                Caller::step("writer", 1),
                &format!("s{i}"),
                Payload::portable_json("1"),
            )
            .await
            .unwrap();
    }
    for wait in waits {
        let read = bounded("a gated wait", wait).await.unwrap().unwrap();
        assert_eq!(read.values.len(), 1);
    }
    let store = Arc::try_unwrap(store).unwrap();
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_store_ends_pending_waits() {
    let store = Arc::new(store().await);
    start(&store, "w").await;
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move {
            let request = GetEventRequest::new("w", "never", Duration::from_secs(600));
            store.get_event(request, hourly()).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.close().await.unwrap();
    let e = bounded("a wait on a closed store", waiting)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    admin()
        .await
        .batch_execute(&format!(
            "DROP SCHEMA {} CASCADE",
            quote_identifier(store.schema())
        ))
        .await
        .unwrap();
}
