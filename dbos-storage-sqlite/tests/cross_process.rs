//! Waiters in one OS process are woken by a writer in another process on the same SQLite file:
//! recv by a send, get_event by a set_event, await_stream by a stream write. Nothing signals
//! across processes, so the waits see the writes by polling at their poll interval.
//!
//! A test without the libtest harness (`harness = false`): run as is, `main` runs the scenarios
//! and spawns itself (`std::env::current_exe()`) with `DBOS_SQLITE_PEER` set; the peer opens the
//! same file, waits until each waiter is waiting (its durable timeout or a marker step is
//! recorded), then writes. Every wait is bounded by a generous 30 s; nothing asserts speed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use dbos_storage_core::{
    AwaitOptions, Caller, EventStore, GetEventRequest, InsertOptions, LifecycleStore, MessageStore,
    NewWorkflow, OutgoingMessage, Payload, RecvRequest, SendOptions, StepRecord, StepStore,
    StreamReadOptions, StreamStore, WorkflowStore, SLEEP_STEP,
};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

/// Set in the peer process: the path of the database file.
const PEER_ENV: &str = "DBOS_SQLITE_PEER";

/// How long any wait, in either process, may take before the test fails.
const BOUND: Duration = Duration::from_secs(30);

/// The step the parent records right before it awaits the stream (a stream wait records
/// nothing the peer could see).
const STREAM_MARKER_STEP: &str = "awaiting-stream";

type Outcome<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    let result = match std::env::var_os(PEER_ENV) {
        Some(path) => runtime.block_on(peer(PathBuf::from(path))),
        None => runtime.block_on(scenarios()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let role = if std::env::var_os(PEER_ENV).is_some() {
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

async fn open(path: &Path) -> Outcome<SqliteStore> {
    let store = SqliteStore::open(SqliteConfig::file(path))
        .await
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
    Ok(store)
}

/// The waiting side: three waits, each ended by the peer's write.
async fn scenarios() -> Outcome<()> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let path = dir.path().join("dbos.sqlite");
    let store = open(&path).await?;
    for id in ["receiver", "reader", "publisher"] {
        store
            .insert_workflow(
                NewWorkflow::new(id, "wf", input()),
                InsertOptions::default(),
            )
            .await
            .map_err(|e| format!("start {id}: {e}"))?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut peer = Command::new(exe)
        .env(PEER_ENV, &path)
        .spawn()
        .map_err(|e| format!("spawn the writer peer: {e}"))?;
    let result = waits(&store).await;
    let status = tokio::task::spawn_blocking(move || peer.wait())
        .await
        .map_err(|e| format!("join the peer: {e}"))?
        .map_err(|e| format!("wait for the peer: {e}"))?;
    result?;
    if !status.success() {
        return Err(format!("the writer peer exited with {status}"));
    }
    store.close().await.map_err(|e| format!("close: {e}"))?;
    println!("cross_process: recv, get_event and await_stream were woken by another process");
    Ok(())
}

async fn waits(store: &SqliteStore) -> Outcome<()> {
    let options = AwaitOptions::default();

    let request = RecvRequest::new(
        Caller::workflow("receiver", 1).with_timeout_step(2),
        Some("t"),
        BOUND,
    );
    let got = store
        .recv(request, options.clone())
        .await
        .map_err(|e| format!("recv: {e}"))?;
    if got != Some(Payload::portable_json("\"from the peer\"")) {
        return Err(format!(
            "recv returned {got:?}: the peer's message did not arrive within {BOUND:?}"
        ));
    }
    println!("cross_process: recv received the peer's message");

    let request = GetEventRequest::new("publisher", "e", BOUND)
        .from_workflow(Caller::workflow("reader", 1).with_timeout_step(2));
    let got = store
        .get_event(request, options.clone())
        .await
        .map_err(|e| format!("get_event: {e}"))?;
    if got != Some(Payload::portable_json("42")) {
        return Err(format!(
            "get_event returned {got:?}: the peer's event did not arrive within {BOUND:?}"
        ));
    }
    println!("cross_process: get_event read the peer's event");

    let marker = StepRecord::with_outcome("reader", 3, STREAM_MARKER_STEP, None);
    store
        .record_step(marker, None)
        .await
        .map_err(|e| format!("record the stream marker: {e}"))?;
    let read = store
        .await_stream(
            "publisher",
            "s",
            StreamReadOptions::default(),
            options.timeout(BOUND),
        )
        .await
        .map_err(|e| format!("await_stream (bounded by {BOUND:?}): {e}"))?;
    match read.values.first() {
        Some(entry) if entry.value == Payload::portable_json("\"chunk\"") => {}
        _ => {
            return Err(format!(
                "await_stream returned {read:?} instead of the peer's value"
            ))
        }
    }
    println!("cross_process: await_stream read the peer's value");
    Ok(())
}

/// Polls until `workflow_id` has step `function_id` named `name`.
async fn until_step(
    store: &SqliteStore,
    workflow_id: &str,
    function_id: i32,
    name: &str,
) -> Outcome<()> {
    let start = Instant::now();
    loop {
        match store.check_step(workflow_id, function_id, name).await {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => {}
            Err(e) => return Err(format!("check step {function_id} of {workflow_id}: {e}")),
        }
        if start.elapsed() > BOUND {
            return Err(format!(
                "step {function_id} ({name}) of {workflow_id} was not recorded within {BOUND:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The writing side, in another process: each write once its waiter waits.
async fn peer(path: PathBuf) -> Outcome<()> {
    let store = open(&path).await?;

    until_step(&store, "receiver", 2, SLEEP_STEP).await?;
    store
        .send_messages(
            vec![OutgoingMessage::new(
                "receiver",
                Some("t"),
                Payload::portable_json("\"from the peer\""),
            )],
            None,
            SendOptions::default(),
        )
        .await
        .map_err(|e| format!("send: {e}"))?;

    until_step(&store, "reader", 2, SLEEP_STEP).await?;
    store
        .set_event(
            Caller::workflow("publisher", 1),
            "e",
            Payload::portable_json("42"),
        )
        .await
        .map_err(|e| format!("set_event: {e}"))?;

    until_step(&store, "reader", 3, STREAM_MARKER_STEP).await?;
    // The marker is recorded just before the wait starts; give it a moment to begin (not a
    // correctness condition: a value written first is read at once).
    tokio::time::sleep(Duration::from_millis(200)).await;
    store
        .write_stream(
            Caller::workflow("publisher", 2),
            "s",
            Payload::portable_json("\"chunk\""),
        )
        .await
        .map_err(|e| format!("write_stream: {e}"))?;
    store.close().await.map_err(|e| format!("close: {e}"))
}
