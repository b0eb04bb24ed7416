//! `bench`: the rate of the core operations next to the raw database doing the same writes.
//!
//! Everything runs in a throwaway place so that the target database is left as it was: on
//! SQLite a temporary directory beside the target file (same file system), on PostgreSQL and
//! CockroachDB a schema `dbos_bench_{pid}` of the target database, dropped afterwards. The raw
//! baseline is the driver's [`RawBaseline`](dbos_storage::sqlite::RawBaseline): scratch copies of
//! the workflow and step tables written one committed single-row statement at a time over the
//! same driver stack (on SQLite one connection with the store's pragmas, like the store's single
//! writer; on PostgreSQL `--concurrency` dedicated connections with the store's TLS and session
//! settings).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dbos_storage::postgres::RawBaseline as PgRaw;
use dbos_storage::sqlite::RawBaseline as SqliteRaw;
use dbos_storage::{
    BackendKind, ClaimRequest, DbosConfig, InsertOptions, NewWorkflow, Outcome, Payload,
    SqliteLocation, StepRecord, SystemStore,
};
use futures::future::join_all;
use serde::Serialize;

use crate::cli::BenchArgs;
use crate::connect::{self, Db, Mode, Native};
use crate::error::CliError;
use crate::output::{print_json, progress, Table};

/// The executor, application version and queue of the bench's workflows.
const EXECUTOR: &str = "bench";
const VERSION: &str = "bench";
const QUEUE: &str = "dbos-bench";
/// Untimed workflows run on both sides before the first measurement.
const WARM_UP: usize = 20;

/// The inputs and step output every benchmark workflow writes: a small JSON document.
const INPUTS: &str = r#"[{"order":42,"items":["a","b"]}]"#;
const STEP_OUTPUT: &str = r#"{"ok":true,"step":"bench_step"}"#;

/// One measured operation.
#[derive(Debug, Clone, Serialize)]
struct Measured {
    /// What was measured.
    operation: String,
    /// How many times.
    count: usize,
    /// Committed writes per operation (what the raw baseline repeats).
    writes_per_op: usize,
    /// Operations per second through the store.
    store_ops_per_sec: f64,
    /// Operations per second of the raw baseline doing the same writes.
    raw_ops_per_sec: f64,
    /// `store_ops_per_sec / raw_ops_per_sec`.
    ratio: f64,
}

/// What `bench --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    backend: &'static str,
    server_version: String,
    target: String,
    scratch: String,
    workflows: usize,
    steps: u32,
    concurrency: usize,
    operations: Vec<Measured>,
}

/// The raw baseline of either driver.
enum Raw {
    Sqlite(SqliteRaw),
    Postgres(PgRaw),
}

impl Raw {
    async fn insert_workflow(&self, conn: usize, id: &str) -> dbos_storage::Result<()> {
        match self {
            Raw::Sqlite(r) => r.insert_workflow(id).await,
            Raw::Postgres(r) => r.insert_workflow(conn, id).await,
        }
    }

    async fn insert_step(&self, conn: usize, id: &str, step: i32) -> dbos_storage::Result<()> {
        match self {
            Raw::Sqlite(r) => r.insert_step(id, step).await,
            Raw::Postgres(r) => r.insert_step(conn, id, step).await,
        }
    }

    async fn finish_workflow(&self, conn: usize, id: &str) -> dbos_storage::Result<()> {
        match self {
            Raw::Sqlite(r) => r.finish_workflow(id).await,
            Raw::Postgres(r) => r.finish_workflow(conn, id).await,
        }
    }

    async fn drop(self) -> dbos_storage::Result<()> {
        match self {
            Raw::Sqlite(r) => r.drop_tables().await,
            Raw::Postgres(r) => r.drop_schema().await,
        }
    }
}

pub(crate) async fn run(
    config: &DbosConfig,
    args: BenchArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    if args.workflows == 0 || args.concurrency == 0 || args.steps == 0 {
        return Err(CliError::new(
            "--workflows, --concurrency and --steps must be at least 1",
        ));
    }
    let target = config.system_database_url()?;
    let mut bench_config = config.clone();
    bench_config.sys_db_pool_size = Some(u32::try_from(args.concurrency + 2).unwrap_or(u32::MAX));
    // Keep the temporary directory alive for the whole run (SQLite).
    let mut _scratch_dir = None;
    let scratch = match target.backend() {
        BackendKind::Sqlite => {
            let Some(SqliteLocation::File(path)) = target.sqlite_location() else {
                return Err(CliError::new(
                    "bench measures a database file or server; sqlite:///:memory: has no file \
                     to compare against (use a file URL, or no URL for the default)",
                ));
            };
            let dir = std::path::absolute(&path)?
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_else(|| ".".into());
            let tmp = tempfile::Builder::new()
                .prefix(".dbos-bench-")
                .tempdir_in(&dir)
                .map_err(|e| {
                    CliError::new(format!(
                        "cannot create a scratch directory in {}: {e}",
                        dir.display()
                    ))
                })?;
            let file = tmp.path().join("bench.sqlite");
            let url = target.with_database(&file.display().to_string());
            bench_config.system_database_url = Some(url.expose_secret().to_owned());
            _scratch_dir = Some(tmp);
            format!("temporary file {}", file.display())
        }
        _ => {
            let schema = format!("dbos_bench_{}", std::process::id());
            bench_config.dbos_system_schema = schema.clone();
            format!("temporary schema {schema}")
        }
    };
    let db = connect::open(&bench_config, Mode::Migrate).await?;
    let info = db.native.server_info().await;
    let raw = match &db.native {
        Native::Sqlite(s) => s.raw_baseline().await.map(Raw::Sqlite),
        Native::Postgres(p) => p.raw_baseline(args.concurrency).await.map(Raw::Postgres),
    };
    let (info, raw) = match (info, raw) {
        (Ok(info), Ok(raw)) => (info, raw),
        (Err(e), raw) => {
            if let Ok(raw) = raw {
                let _ = raw.drop().await;
            }
            cleanup(&db).await;
            return Err(e.into());
        }
        (Ok(_), Err(e)) => {
            cleanup(&db).await;
            return Err(e.into());
        }
    };
    let measured = measure(&db, &raw, &args).await;
    let dropped = raw.drop().await;
    cleanup(&db).await;
    let operations = measured?;
    dropped?;

    let report = Report {
        backend: info.backend,
        server_version: info.server_version,
        target: target.to_string(),
        scratch,
        workflows: args.workflows,
        steps: args.steps,
        concurrency: args.concurrency,
        operations,
    };
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({}) at {}, in a {}",
        report.backend, report.server_version, report.target, report.scratch
    );
    println!(
        "{} per operation, {} steps per workflow, concurrency {}",
        report.workflows, report.steps, report.concurrency
    );
    println!();
    let mut table = Table::new(&[
        "OPERATION",
        ">N",
        ">WRITES/OP",
        ">STORE OPS/S",
        ">RAW OPS/S",
        ">STORE/RAW",
    ]);
    for m in &report.operations {
        table.row(vec![
            m.operation.clone(),
            m.count.to_string(),
            m.writes_per_op.to_string(),
            format!("{:.0}", m.store_ops_per_sec),
            format!("{:.0}", m.raw_ops_per_sec),
            format!("{:.2}", m.ratio),
        ]);
    }
    print!("{}", table.render());
    println!();
    println!(
        "raw: the same number of committed writes, each one single-row INSERT or UPDATE into a \
         copy of the table, over the same driver stack"
    );
    Ok(ExitCode::SUCCESS)
}

/// Drops the bench's schema (PostgreSQL) or closes the store (SQLite, whose directory goes).
async fn cleanup(db: &Db) {
    match &db.native {
        Native::Postgres(p) => {
            let _ = p.drop_schema().await;
        }
        Native::Sqlite(_) => {}
    }
    db.close().await;
}

/// Runs every measurement.
async fn measure(db: &Db, raw: &Raw, args: &BenchArgs) -> Result<Vec<Measured>, CliError> {
    let n = args.workflows;
    let steps = args.steps as usize;
    let c = args.concurrency;
    let store = &db.store;
    let total = (n * 5 * 2) as u64;
    let bar = progress(total, "insert workflow");
    let mut out = Vec::new();

    // Warm up both sides (connections, statement caches, first pages) untimed.
    for i in 0..WARM_UP {
        let id = format!("bench-warm-{i}");
        run_workflow(store.as_ref(), &id, 1).await?;
        let id = format!("raw-warm-{i}");
        raw.insert_workflow(i, &id).await?;
        raw.insert_step(i, &id, 1).await?;
        raw.finish_workflow(i, &id).await?;
    }

    // Insert workflow: one direct start each.
    let ids: Vec<String> = (0..n).map(|i| format!("bench-insert-{i}")).collect();
    let mut owners = Vec::with_capacity(n);
    let t = Instant::now();
    for id in &ids {
        let wf = new_workflow(id);
        owners.push(wf.creator_xid.clone());
        store.insert_workflow(wf, InsertOptions::default()).await?;
        bar.inc(1);
    }
    let store_time = t.elapsed();
    let t = Instant::now();
    for i in 0..n {
        raw.insert_workflow(0, &format!("raw-insert-{i}")).await?;
        bar.inc(1);
    }
    out.push(result("insert workflow", n, 1, store_time, t.elapsed()));

    // Record step: one checkpoint each, fenced by the owner token.
    bar.set_message("record step");
    let t = Instant::now();
    for (id, owner) in ids.iter().zip(&owners) {
        let record = StepRecord::output(id.as_str(), 1, "bench_step", output());
        store.record_step(record, Some(owner)).await?;
        bar.inc(1);
    }
    let store_time = t.elapsed();
    let t = Instant::now();
    for i in 0..n {
        raw.insert_step(0, &format!("raw-insert-{i}"), 1).await?;
        bar.inc(1);
    }
    out.push(result("record step", n, 1, store_time, t.elapsed()));

    // Full workflow, sequential and concurrent.
    let writes = steps + 2;
    for (label, tasks) in [("workflow", 1), ("workflow, concurrent", c)] {
        let name = if tasks == 1 {
            format!("{label} ({steps} steps)")
        } else {
            format!("{label} ({steps} steps) x{tasks}")
        };
        bar.set_message(name.clone());
        let prefix = format!("bench-wf{tasks}");
        let store_time = timed_parallel(n, tasks, |i| {
            let store = store.clone();
            let id = format!("{prefix}-{i}");
            let bar = bar.clone();
            async move {
                run_workflow(store.as_ref(), &id, steps).await?;
                bar.inc(1);
                Ok(())
            }
        })
        .await?;
        let raw_time = timed_parallel(n, tasks, |i| {
            let id = format!("raw-wf{tasks}-{i}");
            let bar = bar.clone();
            let conn = i % tasks;
            async move {
                raw.insert_workflow(conn, &id).await?;
                for step in 1..=steps {
                    raw.insert_step(conn, &id, step as i32).await?;
                }
                raw.finish_workflow(conn, &id).await?;
                bar.inc(1);
                Ok(())
            }
        })
        .await?;
        out.push(result(&name, n, writes, store_time, raw_time));
    }

    // Dequeue: claim one enqueued workflow at a time.
    bar.set_message("dequeue");
    let queued: Vec<NewWorkflow> = (0..n)
        .map(|i| {
            new_workflow(&format!("bench-queued-{i}"))
                .enqueued(QUEUE)
                .with_application_version(VERSION)
        })
        .collect();
    store.enqueue_workflows(queued).await?;
    let t = Instant::now();
    let mut claimed = 0;
    while claimed < n {
        let request = ClaimRequest::new(QUEUE, EXECUTOR, VERSION).max_tasks(1);
        let got = store.claim_workflows(request).await?.claimed.len();
        if got == 0 {
            return Err(CliError::new(format!(
                "the bench queue ran dry after {claimed} of {n} claims"
            )));
        }
        claimed += got;
        bar.inc(got as u64);
    }
    let store_time = t.elapsed();
    let t = Instant::now();
    for i in 0..n {
        raw.finish_workflow(0, &format!("raw-insert-{i}")).await?;
        bar.inc(1);
    }
    out.push(result("dequeue (claim 1)", n, 1, store_time, t.elapsed()));
    bar.finish_and_clear();
    Ok(out)
}

/// A direct start of the bench workflow `id`.
fn new_workflow(id: &str) -> NewWorkflow {
    NewWorkflow::new(id, "bench_workflow", Payload::portable_json(INPUTS))
        .with_executor(EXECUTOR)
        .with_application_version(VERSION)
}

fn output() -> Payload {
    Payload::portable_json(STEP_OUTPUT)
}

/// What a durable-execution runtime does for one workflow: start it, then for each step check
/// for a checkpoint and record one, then record the outcome.
async fn run_workflow(store: &dyn SystemStore, id: &str, steps: usize) -> Result<(), CliError> {
    let wf = new_workflow(id);
    let owner = wf.creator_xid.clone();
    store.insert_workflow(wf, InsertOptions::default()).await?;
    for step in 1..=steps as i32 {
        if store.check_step(id, step, "bench_step").await?.is_none() {
            let record = StepRecord::output(id, step, "bench_step", output());
            store.record_step(record, Some(&owner)).await?;
        }
    }
    store
        .record_outcome(id, Outcome::Output(output()), Some(&owner))
        .await?;
    Ok(())
}

/// Runs `job(0..n)` on `tasks` concurrent lanes and returns the wall time.
async fn timed_parallel<F, Fut>(n: usize, tasks: usize, job: F) -> Result<Duration, CliError>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), CliError>>,
{
    let job = &job;
    let t = Instant::now();
    let lanes = (0..tasks).map(|lane| async move {
        let mut i = lane;
        while i < n {
            job(i).await?;
            i += tasks;
        }
        Ok::<(), CliError>(())
    });
    for r in join_all(lanes).await {
        r?;
    }
    Ok(t.elapsed())
}

fn result(operation: &str, n: usize, writes: usize, store: Duration, raw: Duration) -> Measured {
    let rate = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let (s, r) = (rate(store), rate(raw));
    Measured {
        operation: operation.to_owned(),
        count: n,
        writes_per_op: writes,
        store_ops_per_sec: s,
        raw_ops_per_sec: r,
        ratio: s / r,
    }
}
