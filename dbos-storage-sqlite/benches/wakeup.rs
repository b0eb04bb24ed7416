//! Wake-up latency of `recv` on a SQLite file: how long after a send commits the waiting
//! receive returns, with the sender in the same process (woken in-process at once) and in
//! another process (seen by polling), at the default 1 s poll interval and at 50 ms.
//!
//! `cargo bench -p dbos-storage-sqlite --bench wakeup`. Each configuration runs 50 rounds; set
//! `DBOS_BENCH_ROUNDS` to change it. The cross-process sender is this binary re-executed with
//! `DBOS_SQLITE_PEER` set. Each round the sender waits until the receive is waiting (its durable
//! timeout is recorded), then waits (across processes, a spread-out fraction of the poll
//! interval, so that the sends fall at every phase of the receiver's polling) and sends its
//! wall-clock send time in the message; the receiver subtracts it from its own clock when the
//! receive returns.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dbos_storage_core::{
    AwaitOptions, Caller, InsertOptions, LifecycleStore, MessageStore, NewWorkflow,
    OutgoingMessage, Payload, RecvRequest, SendOptions, StepStore, WorkflowStore, SLEEP_STEP,
};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

/// Set in the sender process: the database path, the poll interval in ms and the rounds.
const PEER_ENV: &str = "DBOS_SQLITE_PEER";

const RECEIVER: &str = "receiver";

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_micros()
}

async fn open(path: &Path) -> SqliteStore {
    let store = SqliteStore::open(SqliteConfig::file(path))
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    store.migrate().await.expect("migrate");
    store
}

/// The recv step of round `round` (its timeout step is the next one).
fn recv_step(round: usize) -> i32 {
    i32::try_from(2 * round + 1).expect("few rounds")
}

/// Sends one message per round, each once the round's receive waits, after a delay `spread`
/// over the poll interval (the fractional parts of multiples of the golden ratio), or of 5 ms.
async fn sender(store: SqliteStore, interval: Duration, rounds: usize, spread: bool) {
    for round in 0..rounds {
        let timeout_step = recv_step(round) + 1;
        loop {
            let waiting = store
                .check_step(RECEIVER, timeout_step, SLEEP_STEP)
                .await
                .expect("check the receiver's timeout step");
            if waiting.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let delay = if spread {
            interval.mul_f64((round as f64 * 0.618_033_988_75).fract())
        } else {
            Duration::from_millis(5)
        };
        tokio::time::sleep(delay).await;
        let sent_at = Payload::portable_json(now_us().to_string());
        store
            .send_messages(
                vec![OutgoingMessage::new(RECEIVER, Some("bench"), sent_at)],
                None,
                SendOptions::default(),
            )
            .await
            .expect("send");
    }
}

/// Receives `rounds` messages; returns each one's latency from its send.
async fn receiver(store: &SqliteStore, interval: Duration, rounds: usize) -> Vec<Duration> {
    let options = AwaitOptions::default().poll_interval(interval);
    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let step = recv_step(round);
        let request = RecvRequest::new(
            Caller::workflow(RECEIVER, step).with_timeout_step(step + 1),
            Some("bench"),
            Duration::from_secs(60),
        );
        let message = store
            .recv(request, options.clone())
            .await
            .expect("recv")
            .expect("the sender's message arrives within 60 s");
        let received_at = now_us();
        let sent_at: u128 = message.text.parse().expect("a send time");
        let micros = received_at.saturating_sub(sent_at);
        latencies.push(Duration::from_micros(
            u64::try_from(micros).unwrap_or(u64::MAX),
        ));
    }
    latencies
}

/// A fresh database with the receiving workflow.
async fn setup() -> (tempfile::TempDir, PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("dbos.sqlite");
    let store = open(&path).await;
    store
        .insert_workflow(
            NewWorkflow::new(RECEIVER, "bench", Payload::portable_json("[]")),
            InsertOptions::default(),
        )
        .await
        .expect("start the receiver");
    (dir, path, store)
}

async fn in_process(interval: Duration, rounds: usize) -> Vec<Duration> {
    let (_dir, _path, store) = setup().await;
    let sending = tokio::spawn(sender(store.clone(), interval, rounds, false));
    let latencies = receiver(&store, interval, rounds).await;
    sending.await.expect("the sender task");
    store.close().await.expect("close");
    latencies
}

async fn cross_process(interval: Duration, rounds: usize) -> Vec<Duration> {
    let (_dir, path, store) = setup().await;
    let exe = std::env::current_exe().expect("current_exe");
    let mut peer = Command::new(exe)
        .env(
            PEER_ENV,
            format!("{}|{}|{rounds}", path.display(), interval.as_millis()),
        )
        .spawn()
        .expect("spawn the sender process");
    let latencies = receiver(&store, interval, rounds).await;
    let status = tokio::task::spawn_blocking(move || peer.wait())
        .await
        .expect("join")
        .expect("wait for the sender process");
    assert!(status.success(), "the sender process failed: {status}");
    store.close().await.expect("close");
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot build the benchmark's tokio runtime");
    if let Ok(spec) = std::env::var(PEER_ENV) {
        let mut parts = spec.split('|');
        let (Some(path), Some(interval), Some(rounds)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("{PEER_ENV}={spec:?} is not path|interval_ms|rounds");
        };
        let interval = Duration::from_millis(interval.parse().expect("interval"));
        let rounds = rounds.parse().expect("rounds");
        runtime.block_on(async {
            let store = open(Path::new(path)).await;
            sender(store.clone(), interval, rounds, true).await;
            store.close().await.expect("close");
        });
        return;
    }
    let rounds = std::env::var("DBOS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50usize);
    println!(
        "recv wake-up latency, send commit → recv return, {rounds} rounds (ms)\n\n\
         | sender | poll interval | p50 | p95 | max |\n|---|---|---|---|---|"
    );
    for interval in [Duration::from_secs(1), Duration::from_millis(50)] {
        for (mode, cross) in [("same process", false), ("other process", true)] {
            let mut latencies = runtime.block_on(async {
                if cross {
                    cross_process(interval, rounds).await
                } else {
                    in_process(interval, rounds).await
                }
            });
            latencies.sort();
            println!(
                "| {mode} | {} ms | {} | {} | {} |",
                interval.as_millis(),
                ms(percentile(&latencies, 0.50)),
                ms(percentile(&latencies, 0.95)),
                ms(*latencies.last().expect("at least one round")),
            );
        }
    }
}
