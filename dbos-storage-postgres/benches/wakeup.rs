//! Wake-up latency of `recv` and `get_event` on `PostgresStore`: how long after a write is
//! issued the wait it ends returns, over `DBOS_BENCH_ROUNDS` rounds (default 50), as p50, p95
//! and max.
//!
//! * **same store**: the writer is the waiting store; the in-process registry wakes the wait.
//! * **other process (LISTEN/NOTIFY)**: the writer is a second OS process (this binary
//!   re-executed with `DBOS_BENCH_PEER_URL` set) on the same database; the wait is woken by the
//!   listener (the `notifications` trigger for recv, the writer's notifier for get_event). The
//!   peer stamps each value with its wall clock just before the write, and the waiter measures
//!   against its own (one machine, one clock).
//! * **polling dialect, other store**: a dialect without LISTEN/NOTIFY and with SERIALIZABLE
//!   sessions (the wake-ups of the CockroachDB dialect) on the PostgreSQL test server, written
//!   by a second store: the wait sees the write at its next poll (`DBOS_BENCH_POLL_MS`, default
//!   100 ms).
//!
//! In the first two the waits re-check the database only hourly, so only the wake-up ends them.
//! Each write is issued once the wait has recorded its durable timeout and had 20 ms to take its
//! first look.
//!
//! `cargo bench -p dbos-storage-postgres --bench wakeup`. The server is the test harness's
//! (`DBOS_TEST_POSTGRES_URL`, or a throwaway local cluster).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dbos_storage_core::{
    AwaitOptions, Caller, DatabaseUrl, DbosConfig, EventStore, GetEventRequest, InsertOptions,
    LifecycleStore, MessageStore, NewWorkflow, OutgoingMessage, Payload, RecvRequest, SendOptions,
    StepStore, WorkflowStore, SLEEP_STEP,
};
use dbos_storage_postgres::{Dialect, PostgresConfig, PostgresDialect, PostgresStore};
use dbos_storage_testkit::pg;

const PEER_URL_ENV: &str = "DBOS_BENCH_PEER_URL";
const PEER_SCHEMA_ENV: &str = "DBOS_BENCH_PEER_SCHEMA";
const ROUNDS_ENV: &str = "DBOS_BENCH_ROUNDS";

/// How long the writer lets a wait take its first look before writing.
const SETTLE: Duration = Duration::from_millis(20);

fn rounds() -> usize {
    std::env::var(ROUNDS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn poll_interval() -> Duration {
    let ms = std::env::var("DBOS_BENCH_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    Duration::from_millis(ms)
}

fn hourly() -> AwaitOptions {
    AwaitOptions::default().poll_interval(Duration::from_secs(3600))
}

/// The wall clock in microseconds, as the cross-process values carry it.
fn wall_micros() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// PostgreSQL without LISTEN/NOTIFY and with SERIALIZABLE sessions: how the CockroachDB dialect
/// waits and isolates, on the PostgreSQL test server.
#[derive(Debug)]
struct PollingDialect;

impl Dialect for PollingDialect {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn product(&self) -> &'static str {
        "PostgreSQL"
    }

    fn supports_listen_notify(&self) -> bool {
        false
    }

    fn session_settings(&self) -> &'static [&'static str] {
        &["SET default_transaction_isolation = 'serializable'"]
    }
}

async fn open(url: &str, schema: &str, dialect: Arc<dyn Dialect>) -> PostgresStore {
    let dbos = DbosConfig::new("wakeup_bench")
        .with_dbos_system_schema(schema)
        .with_sys_db_pool_size(8);
    let parsed = DatabaseUrl::parse(url).expect("the harness URL parses");
    let config = PostgresConfig::system_in(dialect, &dbos, &parsed).expect("a valid configuration");
    PostgresStore::open(config)
        .await
        .unwrap_or_else(|e| panic!("open a store on {schema}: {e}"))
}

async fn start(store: &PostgresStore, id: &str) {
    store
        .insert_workflow(
            NewWorkflow::new(id, "bench", Payload::portable_json("null")),
            InsertOptions::default(),
        )
        .await
        .expect("start a workflow");
}

/// Waits until step `function_id` of `workflow_id` is recorded as a durable timeout, then lets
/// the wait take its first look.
async fn until_waiting(store: &PostgresStore, workflow_id: &str, function_id: i32) {
    while !matches!(
        store.check_step(workflow_id, function_id, SLEEP_STEP).await,
        Ok(Some(_))
    ) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(SETTLE).await;
}

fn recv_request(round: usize) -> RecvRequest {
    let fid = i32::try_from(2 * round + 1).expect("few rounds");
    RecvRequest::new(
        Caller::workflow("receiver", fid).with_timeout_step(fid + 1),
        Some("t"),
        Duration::from_secs(600),
    )
}

fn event_request(round: usize) -> GetEventRequest {
    let fid = i32::try_from(2 * round + 1).expect("few rounds");
    GetEventRequest::new("publisher", format!("k{round}"), Duration::from_secs(600))
        .from_workflow(Caller::workflow("reader", fid).with_timeout_step(fid + 1))
}

fn timeout_step(round: usize) -> i32 {
    i32::try_from(2 * round + 2).expect("few rounds")
}

/// Latencies of recv and get_event, the writes issued by `writer` (which may be `waiter`).
async fn local_rounds(
    waiter: &PostgresStore,
    writer: &PostgresStore,
    wait: &AwaitOptions,
    rounds: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut recv = Vec::new();
    for round in 0..rounds {
        let waiting = waiter.recv(recv_request(round), wait.clone());
        let write = async {
            until_waiting(writer, "receiver", timeout_step(round)).await;
            let m = OutgoingMessage::new("receiver", Some("t"), Payload::portable_json("1"));
            let issued = Instant::now();
            writer
                .send_messages(vec![m], None, SendOptions::default())
                .await
                .expect("send");
            issued
        };
        let (got, issued) = tokio::join!(waiting, write);
        got.expect("recv").expect("a message");
        recv.push(issued.elapsed());
    }
    let mut get = Vec::new();
    for round in 0..rounds {
        let waiting = waiter.get_event(event_request(round), wait.clone());
        let write = async {
            until_waiting(writer, "reader", timeout_step(round)).await;
            let issued = Instant::now();
            let fid = i32::try_from(round + 1).expect("few rounds");
            writer
                .set_event(
                    Caller::workflow("publisher", fid),
                    &format!("k{round}"),
                    Payload::portable_json("1"),
                )
                .await
                .expect("set_event");
            issued
        };
        let (got, issued) = tokio::join!(waiting, write);
        got.expect("get_event").expect("an event");
        get.push(issued.elapsed());
    }
    (recv, get)
}

/// Latencies of recv and get_event written by another process: each value carries the peer's
/// wall clock at the write.
async fn cross_process_rounds(
    url: &str,
    schema: &str,
    waiter: &PostgresStore,
    rounds: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut peer = Command::new(exe)
        .env(PEER_URL_ENV, url)
        .env(PEER_SCHEMA_ENV, schema)
        .env(ROUNDS_ENV, rounds.to_string())
        .spawn()
        .expect("spawn the writer peer");
    let elapsed_since = |payload: Payload| {
        let sent: u64 = payload.text.parse().expect("a timestamp");
        Duration::from_micros(wall_micros().saturating_sub(sent))
    };
    let mut recv = Vec::new();
    for round in 0..rounds {
        let got = waiter
            .recv(recv_request(round), hourly())
            .await
            .expect("recv")
            .expect("a message");
        recv.push(elapsed_since(got));
    }
    let mut get = Vec::new();
    for round in 0..rounds {
        let got = waiter
            .get_event(event_request(round), hourly())
            .await
            .expect("get_event")
            .expect("an event");
        get.push(elapsed_since(got));
    }
    let status = peer.wait().expect("wait for the writer peer");
    assert!(status.success(), "the writer peer failed: {status}");
    (recv, get)
}

/// The writer peer: the writes of [`cross_process_rounds`].
async fn writer_peer(url: &str, schema: &str, rounds: usize) {
    let store = open(url, schema, PostgresDialect::shared()).await;
    for round in 0..rounds {
        until_waiting(&store, "receiver", timeout_step(round)).await;
        let stamp = Payload::portable_json(wall_micros().to_string());
        let m = OutgoingMessage::new("receiver", Some("t"), stamp);
        store
            .send_messages(vec![m], None, SendOptions::default())
            .await
            .expect("peer send");
    }
    for round in 0..rounds {
        until_waiting(&store, "reader", timeout_step(round)).await;
        let fid = i32::try_from(round + 1).expect("few rounds");
        let stamp = Payload::portable_json(wall_micros().to_string());
        store
            .set_event(
                Caller::workflow("publisher", fid),
                &format!("k{round}"),
                stamp,
            )
            .await
            .expect("peer set_event");
    }
    store.close().await.expect("close the peer's store");
}

/// `p50 / p95 / max` in milliseconds.
fn summary(name: &str, mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i.min(samples.len() - 1)].as_secs_f64() * 1000.0
    };
    format!(
        "{name:<58} {:>6} {:>9.2} {:>9.2} {:>9.2}",
        samples.len(),
        at(0.5),
        at(0.95),
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    )
}

async fn fresh_schema(
    url: &str,
    prefix: &str,
    dialect: Arc<dyn Dialect>,
) -> (PostgresStore, String) {
    let schema = pg::server().unique_name(prefix);
    let store = open(url, &schema, dialect).await;
    store.migrate().await.expect("migrate");
    for id in ["receiver", "reader", "publisher"] {
        start(&store, id).await;
    }
    (store, schema)
}

async fn run() {
    let rounds = rounds();
    let url = pg::server().create_database("dbos_wakeup").await;
    let mut lines = Vec::new();

    let (store, _) = fresh_schema(&url, "wake_local", PostgresDialect::shared()).await;
    let (recv, get) = local_rounds(&store, &store, &hourly(), rounds).await;
    lines.push(summary("recv, same store (in-process wake)", recv));
    lines.push(summary("get_event, same store (in-process wake)", get));
    store.close().await.expect("close");

    let (store, schema) = fresh_schema(&url, "wake_notify", PostgresDialect::shared()).await;
    while !store.listener_proven() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (recv, get) = cross_process_rounds(&url, &schema, &store, rounds).await;
    lines.push(summary(
        "recv, other process (LISTEN/NOTIFY, trigger)",
        recv,
    ));
    lines.push(summary(
        "get_event, other process (LISTEN/NOTIFY, notifier)",
        get,
    ));
    store.close().await.expect("close");

    let poll = poll_interval();
    let (store, schema) = fresh_schema(&url, "wake_polling", Arc::new(PollingDialect)).await;
    let writer = open(&url, &schema, Arc::new(PollingDialect)).await;
    let polling = AwaitOptions::default().poll_interval(poll);
    let (recv, get) = local_rounds(&store, &writer, &polling, rounds).await;
    let ms = poll.as_millis();
    lines.push(summary(
        &format!("recv, polling dialect, other store (poll {ms} ms)"),
        recv,
    ));
    lines.push(summary(
        &format!("get_event, polling dialect, other store (poll {ms} ms)"),
        get,
    ));
    writer.close().await.expect("close");
    store.close().await.expect("close");
    pg::server().drop_database(&url).await;

    println!(
        "{:<58} {:>6} {:>9} {:>9} {:>9}",
        "wake-up latency (write issued -> wait returns)", "rounds", "p50 ms", "p95 ms", "max ms"
    );
    for line in lines {
        println!("{line}");
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot build the benchmark's tokio runtime");
    match std::env::var(PEER_URL_ENV) {
        Ok(url) => {
            let schema = std::env::var(PEER_SCHEMA_ENV).expect("the peer's schema");
            runtime.block_on(writer_peer(&url, &schema, rounds()));
        }
        Err(_) => runtime.block_on(run()),
    }
}
