//! Waiters in one OS process are woken by a writer in another process on the same PostgreSQL
//! database, through LISTEN/NOTIFY: recv by a send (the `notifications` trigger), get_event by a
//! set_event and await_stream by a stream write (the writer's notifier).
//!
//! A test without the libtest harness (`harness = false`): run as is, `main` starts the
//! harness's server, opens the waiting store and spawns itself (`std::env::current_exe()`) with
//! [`PEER_URL_ENV`] set; the peer opens its own store on the same schema, waits until each
//! waiter is waiting (its durable timeout, or a marker step, is recorded), then writes. The
//! waits re-check the database only hourly, so only a notification from the other process can
//! end them in time. Every wait is bounded by a generous 30 s; nothing asserts speed.

use std::process::{Child, Command, ExitCode};
use std::time::Duration;

use dbos_storage_core::{
    AwaitOptions, Caller, DatabaseUrl, DbosConfig, EventStore, GetEventRequest, InsertOptions,
    LifecycleStore, MessageStore, NewWorkflow, OutgoingMessage, Payload, RecvRequest, SendOptions,
    StepRecord, StepStore, StreamReadOptions, StreamStore, WorkflowStore, SLEEP_STEP,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;

/// Set in the peer process: the database URL (the peer writes).
const PEER_URL_ENV: &str = "DBOS_PG_PEER_URL";
/// Set in the peer process: the schema.
const PEER_SCHEMA_ENV: &str = "DBOS_PG_PEER_SCHEMA";

/// How long any wait, in either process, may take before the test fails.
const BOUND: Duration = Duration::from_secs(30);

/// The step the waiter records right before it awaits the stream (a stream wait records
/// nothing the peer could see).
const STREAM_MARKER_STEP: &str = "awaiting-stream";

type Outcome<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    let peer = std::env::var(PEER_URL_ENV).ok();
    let result = match &peer {
        Some(url) => {
            let schema = std::env::var(PEER_SCHEMA_ENV).unwrap_or_default();
            runtime.block_on(writer_peer(url, &schema))
        }
        None => runtime.block_on(scenarios()),
    };
    match result {
        Ok(()) => {
            if peer.is_none() {
                println!(
                    "cross_process: recv, get_event and await_stream were woken by another process"
                );
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            let role = if peer.is_some() {
                "writer peer"
            } else {
                "waiter"
            };
            eprintln!("cross_process ({role}) FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

fn input() -> Payload {
    Payload::portable_json(r#"{"positionalArgs":[],"namedArgs":{}}"#)
}

/// A store on `schema` of the database at `url`.
async fn open(url: &str, schema: &str) -> Outcome<PostgresStore> {
    let dbos = DbosConfig::new("cross_process")
        .with_dbos_system_schema(schema)
        .with_sys_db_pool_size(4);
    let parsed = DatabaseUrl::parse(url).map_err(|e| format!("parse {url}: {e}"))?;
    let config = PostgresConfig::system(&dbos, &parsed).map_err(|e| format!("config: {e}"))?;
    PostgresStore::open(config)
        .await
        .map_err(|e| format!("open the store: {e}"))
}

/// Awaits `future`, failing after [`BOUND`] with `what`.
async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> Outcome<T> {
    tokio::time::timeout(BOUND, future)
        .await
        .map_err(|_| format!("{what} did not happen within {BOUND:?}"))
}

/// Polls `probe` every 20 ms until it holds, failing after [`BOUND`].
async fn eventually<F, Fut>(what: &str, mut probe: F) -> Outcome<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    bounded(what, async {
        while !probe().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// A wait that only a wake-up can end in time: it re-checks the database hourly.
fn hourly() -> AwaitOptions {
    AwaitOptions::default().poll_interval(Duration::from_secs(3600))
}

/// The waiting side: three waits, each ended by the peer's write.
async fn scenarios() -> Outcome<()> {
    let url = pg::server().create_database("dbos_xproc").await;
    let result = waits_woken_by_a_peer(&url).await;
    pg::server().drop_database(&url).await;
    result
}

async fn waits_woken_by_a_peer(url: &str) -> Outcome<()> {
    let schema = "dbos_xproc";
    let store = open(url, schema).await?;
    store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
    for id in ["receiver", "reader", "publisher"] {
        store
            .insert_workflow(
                NewWorkflow::new(id, "wf", input()),
                InsertOptions::default(),
            )
            .await
            .map_err(|e| format!("start {id}: {e}"))?;
    }
    eventually("the waiter's listener proves itself", || async {
        store.listener_proven()
    })
    .await?;

    let mut peer = spawn_peer(url, schema)?;
    let waited = wait_for_peer(&store).await;
    let exited = reap(&mut peer, waited.is_err()).await;
    store.close().await.map_err(|e| format!("close: {e}"))?;
    waited?;
    exited
}

fn spawn_peer(url: &str, schema: &str) -> Outcome<Child> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    Command::new(exe)
        .env(PEER_URL_ENV, url)
        .env(PEER_SCHEMA_ENV, schema)
        .spawn()
        .map_err(|e| format!("spawn the writer peer: {e}"))
}

/// Waits for the peer to exit (or kills it when the waits already failed).
async fn reap(peer: &mut Child, kill: bool) -> Outcome<()> {
    if kill {
        let _ = peer.kill();
    }
    let status = bounded("the writer peer's exit", async {
        loop {
            match peer.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => return Err(format!("wait for the writer peer: {e}")),
            }
        }
    })
    .await??;
    if status.success() || kill {
        Ok(())
    } else {
        Err(format!("the writer peer failed ({status})"))
    }
}

/// The three waits, run at once.
async fn wait_for_peer(store: &PostgresStore) -> Outcome<()> {
    let recv = async {
        let request = RecvRequest::new(
            Caller::workflow("receiver", 1).with_timeout_step(2),
            Some("t"),
            Duration::from_secs(600),
        );
        let got = bounded(
            "recv woken by the peer's send",
            store.recv(request, hourly()),
        )
        .await?
        .map_err(|e| format!("recv: {e}"))?;
        expect(
            "recv",
            got,
            Some(Payload::portable_json("\"from the peer\"")),
        )
    };
    let get = async {
        let request = GetEventRequest::new("publisher", "k", Duration::from_secs(600))
            .from_workflow(Caller::workflow("reader", 1).with_timeout_step(2));
        let got = bounded(
            "get_event woken by the peer's set_event",
            store.get_event(request, hourly()),
        )
        .await?
        .map_err(|e| format!("get_event: {e}"))?;
        expect("get_event", got, Some(Payload::portable_json("42")))
    };
    let read = async {
        let marker = StepRecord::with_outcome("reader", 3, STREAM_MARKER_STEP, None)
            .with_times(None, dbos_storage_core::now_epoch_ms());
        store
            .record_step(marker, None)
            .await
            .map_err(|e| format!("record the marker step: {e}"))?;
        let wait = hourly().timeout(Duration::from_secs(600));
        let read = bounded(
            "await_stream woken by the peer's write",
            store.await_stream("publisher", "s", StreamReadOptions::default(), wait),
        )
        .await?
        .map_err(|e| format!("await_stream: {e}"))?;
        let texts: Vec<String> = read.values.into_iter().map(|v| v.value.text).collect();
        if texts == ["\"chunk\""] {
            Ok(())
        } else {
            Err(format!("await_stream returned {texts:?}"))
        }
    };
    let (a, b, c) = tokio::join!(recv, get, read);
    a.and(b).and(c)
}

fn expect(what: &str, got: Option<Payload>, want: Option<Payload>) -> Outcome<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what} returned {got:?}, expected {want:?}"))
    }
}

/// The writing side: waits until each waiter waits, then writes what ends its wait.
async fn writer_peer(url: &str, schema: &str) -> Outcome<()> {
    let store = open(url, schema).await?;
    let recorded = |workflow_id: &'static str, function_id: i32, name: &'static str| {
        let store = &store;
        move || async move {
            matches!(
                store.check_step(workflow_id, function_id, name).await,
                Ok(Some(_))
            )
        }
    };
    eventually(
        "the recv records its timeout",
        recorded("receiver", 2, SLEEP_STEP),
    )
    .await?;
    let message = OutgoingMessage::new(
        "receiver",
        Some("t"),
        Payload::portable_json("\"from the peer\""),
    );
    store
        .send_messages(vec![message], None, SendOptions::default())
        .await
        .map_err(|e| format!("send: {e}"))?;

    eventually(
        "the get_event records its timeout",
        recorded("reader", 2, SLEEP_STEP),
    )
    .await?;
    store
        .set_event(
            Caller::workflow("publisher", 1),
            "k",
            Payload::portable_json("42"),
        )
        .await
        .map_err(|e| format!("set_event: {e}"))?;

    eventually(
        "the stream reader records its marker",
        recorded("reader", 3, STREAM_MARKER_STEP),
    )
    .await?;
    store
        .write_stream(
            Caller::workflow("publisher", 2),
            "s",
            Payload::portable_json("\"chunk\""),
        )
        .await
        .map_err(|e| format!("write_stream: {e}"))?;
    // Closing sends the wake-ups still queued.
    store.close().await.map_err(|e| format!("close: {e}"))
}
