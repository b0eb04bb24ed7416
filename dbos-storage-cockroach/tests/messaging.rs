//! Messages, events and streams in the CockroachDB dialect, which has no LISTEN/NOTIFY: no
//! listener connection, no `pg_notify`, and waits that another store's writes end by polling at
//! their poll interval. Runs on the PostgreSQL test server in CockroachDB-compatible mode (or on
//! the cluster of `DBOS_TEST_COCKROACH_URL` when the `cockroach-cluster-tests` leg sets it).
//!
//! Nothing asserts speed: every wait is bounded by a generous 30 s.

mod common;

use std::time::Duration;

use common::CrdbFactory;
use dbos_storage_cockroach::{open_system, CockroachStore};
use dbos_storage_conformance::Factory;
use dbos_storage_core::{
    AwaitOptions, Caller, EventStore, GetEventRequest, InsertOptions, LifecycleStore, MessageStore,
    NewWorkflow, OutgoingMessage, Payload, RecvRequest, SendOptions, StepStore, StreamReadOptions,
    StreamStore, WorkflowStore,
};
use dbos_storage_testkit::pg;

const BOUND: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// Waits until the durable timeout of a wait of `workflow_id` is recorded at `function_id`.
async fn sleep_recorded(store: &CockroachStore, workflow_id: &str, function_id: i32) {
    bounded("the wait records its timeout", async {
        while !matches!(
            store
                .check_step(workflow_id, function_id, "DBOS.sleep")
                .await,
            Ok(Some(_))
        ) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_poll_without_listen_notify() {
    let factory = CrdbFactory::compat();
    let waiter = factory.create().await;
    let schema = waiter.inner().schema().to_owned();
    // A second store on the same schema: its writes reach the waiter only through the database.
    let writer = open_system(factory.config(&schema).await).await.unwrap();

    assert!(!waiter.capabilities().listen_notify);
    assert!(!waiter.inner().listener_proven());
    assert_eq!(waiter.inner().listener_backend_pid(), None);
    assert_eq!(
        waiter.inner().listener_sessions(),
        0,
        "no listener connection"
    );

    for id in ["receiver", "publisher"] {
        waiter
            .insert_workflow(
                NewWorkflow::new(id, "wf", Payload::portable_json("null")),
                InsertOptions::default(),
            )
            .await
            .unwrap();
    }
    let polling = AwaitOptions::default().poll_interval(Duration::from_millis(50));

    let request = RecvRequest::new(
        Caller::workflow("receiver", 1).with_timeout_step(2),
        Some("t"),
        Duration::from_secs(600),
    );
    let recv = waiter.recv(request, polling.clone());
    let send = async {
        sleep_recorded(&writer, "receiver", 2).await;
        let m = OutgoingMessage::new("receiver", Some("t"), Payload::portable_json("1"));
        writer
            .send_messages(vec![m], None, SendOptions::default())
            .await
            .unwrap();
    };
    let (got, ()) = bounded("recv by polling", async { tokio::join!(recv, send) }).await;
    assert_eq!(got.unwrap(), Some(Payload::portable_json("1")));

    let request = GetEventRequest::new("publisher", "k", Duration::from_secs(600))
        .from_workflow(Caller::workflow("receiver", 3).with_timeout_step(4));
    let get = waiter.get_event(request, polling.clone());
    let set = async {
        sleep_recorded(&writer, "receiver", 4).await;
        writer
            .set_event(
                Caller::workflow("publisher", 1),
                "k",
                Payload::portable_json("2"),
            )
            .await
            .unwrap();
    };
    let (got, ()) = bounded("get_event by polling", async { tokio::join!(get, set) }).await;
    assert_eq!(got.unwrap(), Some(Payload::portable_json("2")));

    let read = waiter.await_stream(
        "publisher",
        "s",
        StreamReadOptions::default(),
        polling.clone().timeout(Duration::from_secs(600)),
    );
    let write = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer
            .write_stream(
                Caller::workflow("publisher", 2),
                "s",
                Payload::portable_json("3"),
            )
            .await
            .unwrap();
        writer
            .close_stream(Caller::workflow("publisher", 3), "s")
            .await
            .unwrap();
    };
    let (read, ()) = bounded("await_stream by polling", async {
        tokio::join!(read, write)
    })
    .await;
    let read = read.unwrap();
    assert_eq!(read.values.len(), 1);

    // No session of this test ever ran LISTEN: the server has no listening backend for it.
    let admin = pg::server()
        .connect(&factory.database_url().await)
        .await
        .unwrap();
    let listening: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND query LIKE 'LISTEN%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(listening, 0);

    writer.close().await.unwrap();
    factory.destroy(waiter).await;
}
