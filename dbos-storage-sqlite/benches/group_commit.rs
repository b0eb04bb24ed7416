//! Group commit on a SQLite file: the store's checkpoint rate next to the raw single-writer commit
//! rate, and the start-up time of a fresh file.
//!
//! `cargo bench -p dbos-storage-sqlite --bench group_commit`. Prints, for the URL's
//! `synchronous` setting (default `full`; set `DBOS_BENCH_SYNCHRONOUS=normal` to compare):
//!
//! - `raw commit`: one committed single-row step insert at a time into `operation_outputs` of a
//!   migrated file of its own beside the store's, on one connection opened with the store's
//!   settings (`SqliteConfig::native_connection`);
//! - `record step x1` and `record step x16`: checkpoints per second through the store, from one
//!   caller and from 16 concurrent workflows each recording its own steps, with the ratio to the
//!   raw rate;
//! - `workflow (10 steps)`: workflows per second run one at a time (insert, ten times check and
//!   record a step, record the outcome) next to the raw 12-commit pattern (insert a workflow row,
//!   ten step rows, update the workflow row);
//! - `open + migrate`: the median time to open and migrate a fresh file.
//!
//! Each measurement alternates 8 rounds of the raw baseline and of the store, so both see the
//! same disk. `DBOS_BENCH_STEPS` sets the number of checkpoints per measurement (default 2000); the
//! directory is `DBOS_BENCH_DIR` (default a temporary directory under the system's).

use std::time::{Duration, Instant};

use dbos_storage_conformance::tempfile::TempDir;
use dbos_storage_core::{
    InsertOptions, LifecycleStore, NewWorkflow, Outcome, Payload, StepRecord, StepStore,
    WorkflowStore,
};
use dbos_storage_sqlite::rusqlite::{params, Connection};
use dbos_storage_sqlite::SqliteStore;

/// The output of every step: a small JSON result.
const OUTPUT: &str = r#"{"ok":true,"step":"bench_step"}"#;

/// Concurrent workflows in the group-commit measurement.
const WRITERS: usize = 16;

/// Alternating rounds of each measurement.
const ROUNDS: usize = 8;

/// Steps of the sequential workflow.
const WORKFLOW_STEPS: i32 = 10;

/// The output of every raw step: the step output as the store stores it.
const RAW_OUTPUT: &str = r#"{"json":"{\"ok\":true,\"step\":\"bench_step\"}"}"#;

// language=SQL
/// One workflow row, as a direct start writes it (`?1` id, `?2` now, `?3` token).
const INSERT_WORKFLOW: &str = "\
INSERT INTO workflow_status (
    workflow_uuid, status, name, executor_id, application_version, created_at, updated_at,
    recovery_attempts, owner_xid, creator_xid)
VALUES (?1, 'PENDING', 'bench_workflow', 'bench', 'bench', ?2, ?2, 1, ?3, ?3)";

// language=SQL
/// One step row (`?1` workflow, `?2` function id, `?3` output, `?4` now).
const INSERT_STEP: &str = "\
INSERT INTO operation_outputs (
    workflow_uuid, function_id, function_name, output, started_at_epoch_ms,
    completed_at_epoch_ms)
VALUES (?1, ?2, 'bench_step', ?3, ?4, ?4)";

// language=SQL
/// A workflow's outcome (`?1` id, `?2` now).
const FINISH_WORKFLOW: &str = "\
UPDATE workflow_status
SET status = 'SUCCESS', owner_xid = NULL, updated_at = ?2, completed_at = ?2
WHERE workflow_uuid = ?1";

/// The raw side: one connection with the store's settings on a migrated file of its own, each
/// call one committed single-row statement.
struct Raw {
    conn: Connection,
}

impl Raw {
    /// Migrates file `name` of `dir` and opens the raw connection on it.
    async fn open(dir: &std::path::Path, name: &str, synchronous: &str) -> Raw {
        let store = open(dir, name, synchronous).await;
        let config = store.config().clone();
        store.close().await.expect("close");
        let conn = config.native_connection().expect("raw connection");
        Raw { conn }
    }

    fn insert_workflow(&self, id: &str) {
        let token = dbos_storage_core::new_token();
        self.conn
            .prepare_cached(INSERT_WORKFLOW)
            .and_then(|mut s| s.execute(params![id, dbos_storage_core::now_epoch_ms(), token]))
            .expect("raw insert");
    }

    fn insert_step(&self, id: &str, step: i32) {
        self.conn
            .prepare_cached(INSERT_STEP)
            .and_then(|mut s| {
                s.execute(params![
                    id,
                    step,
                    RAW_OUTPUT,
                    dbos_storage_core::now_epoch_ms()
                ])
            })
            .expect("raw step");
    }

    fn finish_workflow(&self, id: &str) {
        self.conn
            .prepare_cached(FINISH_WORKFLOW)
            .and_then(|mut s| s.execute(params![id, dbos_storage_core::now_epoch_ms()]))
            .expect("raw finish");
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn open(dir: &std::path::Path, name: &str, synchronous: &str) -> SqliteStore {
    let url = format!(
        "sqlite:///{}?synchronous={synchronous}",
        dir.join(name).display()
    );
    let store = SqliteStore::open_url(&url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    store.migrate().await.expect("migrate");
    store
}

/// Inserts workflow `id` and returns its owner token.
async fn start(store: &SqliteStore, id: &str) -> String {
    let wf = NewWorkflow::new(id, "bench_workflow", Payload::portable_json("{}"));
    let owner = wf.creator_xid.clone();
    store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .expect("insert workflow");
    owner
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn main() {
    let steps = env_usize("DBOS_BENCH_STEPS", 2000);
    let synchronous = std::env::var("DBOS_BENCH_SYNCHRONOUS").unwrap_or_else(|_| "full".into());
    let tmp = TempDir::new().expect("temporary directory");
    let dir = std::env::var("DBOS_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_owned());
    std::fs::create_dir_all(&dir).expect("create the bench directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    for name in ["group.sqlite", "raw.sqlite"] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
        }
    }
    runtime.block_on(async {
        let store = open(&dir, "group.sqlite", &synchronous).await;
        let raw = Raw::open(&dir, "raw.sqlite", &synchronous).await;

        // Warm up both sides untimed.
        let owner = start(&store, "warm").await;
        raw.insert_workflow("warm");
        for step in 1..=20 {
            let record =
                StepRecord::output("warm", step, "bench_step", Payload::portable_json(OUTPUT));
            store
                .record_step(record, Some(&owner))
                .await
                .expect("record step");
            raw.insert_step("warm", step);
        }

        // Every measurement alternates rounds of the raw baseline and of the store, so that
        // both see the same disk (fsync latency drifts with the machine's other work).
        println!("synchronous={synchronous}");
        let per_round = (steps / ROUNDS).max(WRITERS);
        let (mut raw_time, mut single_time, mut group_time) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let (mut raw_wf_time, mut store_wf_time) = (Duration::ZERO, Duration::ZERO);
        let workflows_per_round = (per_round / 12).max(2);
        raw.insert_workflow("raw");
        let single_owner = start(&store, "single").await;
        let mut group_owners = Vec::new();
        for w in 0..WRITERS {
            group_owners.push(start(&store, &format!("group-{w}")).await);
        }
        let per_writer = per_round / WRITERS;
        for round in 0..ROUNDS {
            let first = (round * per_round) as i32;
            // Raw: one committed single-row insert at a time.
            let t = Instant::now();
            for step in first + 1..=first + per_round as i32 {
                raw.insert_step("raw", step);
            }
            raw_time += t.elapsed();
            // One caller.
            let t = Instant::now();
            for step in first + 1..=first + per_round as i32 {
                let record = StepRecord::output(
                    "single",
                    step,
                    "bench_step",
                    Payload::portable_json(OUTPUT),
                );
                store
                    .record_step(record, Some(&single_owner))
                    .await
                    .expect("record step");
            }
            single_time += t.elapsed();
            // Sixteen concurrent workflows, each recording its own steps.
            let first = (round * per_writer) as i32;
            let t = Instant::now();
            let lanes: Vec<_> = group_owners
                .iter()
                .enumerate()
                .map(|(w, owner)| {
                    let store = store.clone();
                    let owner = owner.clone();
                    tokio::spawn(async move {
                        let id = format!("group-{w}");
                        for step in first + 1..=first + per_writer as i32 {
                            let record = StepRecord::output(
                                id.as_str(),
                                step,
                                "bench_step",
                                Payload::portable_json(OUTPUT),
                            );
                            store
                                .record_step(record, Some(&owner))
                                .await
                                .expect("record step");
                        }
                    })
                })
                .collect();
            for lane in lanes {
                lane.await.expect("writer task");
            }
            group_time += t.elapsed();
            // Ten-step workflows one at a time, and the raw 12-commit pattern.
            let t = Instant::now();
            for i in 0..workflows_per_round {
                let id = format!("wf-{round}-{i}");
                let owner = start(&store, &id).await;
                for step in 1..=WORKFLOW_STEPS {
                    if store
                        .check_step(&id, step, "bench_step")
                        .await
                        .expect("check")
                        .is_none()
                    {
                        let record = StepRecord::output(
                            id.as_str(),
                            step,
                            "bench_step",
                            Payload::portable_json(OUTPUT),
                        );
                        store
                            .record_step(record, Some(&owner))
                            .await
                            .expect("record step");
                    }
                }
                store
                    .record_outcome(
                        &id,
                        Outcome::Output(Payload::portable_json(OUTPUT)),
                        Some(&owner),
                    )
                    .await
                    .expect("record outcome");
            }
            store_wf_time += t.elapsed();
            let t = Instant::now();
            for i in 0..workflows_per_round {
                let id = format!("raw-wf-{round}-{i}");
                raw.insert_workflow(&id);
                for step in 1..=WORKFLOW_STEPS {
                    raw.insert_step(&id, step);
                }
                raw.finish_workflow(&id);
            }
            raw_wf_time += t.elapsed();
        }
        let raw_rate = rate(per_round * ROUNDS, raw_time);
        let single = rate(per_round * ROUNDS, single_time);
        let group = rate(per_writer * WRITERS * ROUNDS, group_time);
        let store_wf = rate(workflows_per_round * ROUNDS, store_wf_time);
        let raw_wf = rate(workflows_per_round * ROUNDS, raw_wf_time);
        println!("raw commit              {raw_rate:>9.0} /s");
        println!(
            "record step x1          {single:>9.0} /s  ratio {:.2}",
            single / raw_rate
        );
        println!(
            "record step x{WRITERS}         {group:>9.0} /s  ratio {:.2}",
            group / raw_rate
        );
        println!(
            "workflow (10 steps)     {store_wf:>9.1} /s  raw {raw_wf:.1} /s  ratio {:.2}",
            store_wf / raw_wf
        );
        drop(raw);
        store.close().await.expect("close");

        // Start-up: open and migrate a fresh file.
        let mut times = Vec::new();
        for i in 0..7 {
            let name = format!("startup-{i}.sqlite");
            let t = Instant::now();
            let store = open(&dir, &name, &synchronous).await;
            times.push(t.elapsed());
            store.close().await.expect("close");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
            }
        }
        times.sort();
        println!(
            "open + migrate (median) {:>9.1} ms",
            times[times.len() / 2].as_secs_f64() * 1e3
        );
    });
}
