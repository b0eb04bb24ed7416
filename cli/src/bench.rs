//! `bench`: every performance figure with a target in one run, each next to the raw database doing the same
//! writes (where there is such a thing), with its target and whether it is met.
//!
//! Everything runs in a throwaway place so that the target database is left as it was: on
//! SQLite a temporary directory beside the target file (same file system), on PostgreSQL and
//! CockroachDB a schema `dbos_bench_{pid}` of the target database, dropped afterwards. The raw
//! baseline ([`raw`]) is scratch copies of the workflow and step tables written one committed
//! single-row statement at a time over the same driver stack, on the driver's native connections
//! (on SQLite one connection with the store's pragmas, like the store's single writer; on
//! PostgreSQL `--concurrency` dedicated connections with the store's TLS and session settings).
//!
//! The figures, in order (modules):
//! - [`writes`]: insert a workflow; a step checkpoint (`record_step` with the owner token) at 1
//!   and at `--concurrency` writers; a ten-step workflow (insert, ten checkpoints, outcome) one
//!   at a time and `--concurrency` at once (on SQLite that is the group-commit figure: the
//!   single writer is the raw side).
//! - [`queues`]: claims per second with `--concurrency` workers, none claimed twice; recovery of
//!   workflows killed halfway (found, re-enqueued, claimed, replayed, finished).
//! - [`startup`]: opening and migrating a fresh SQLite file; opening an already-migrated
//!   PostgreSQL schema, minus a bare connection.
//! - [`waits`]: the memory and pool connections of `--waits` parked waits.

mod fairness;
mod fill;
mod machine;
mod queues;
mod raw;
mod report;
mod retention;
mod scale;
mod startup;
mod waits;
mod writes;

use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dbos_storage::{
    BackendKind, DatabaseUrl, DbosConfig, NewWorkflow, Payload, SqliteLocation, SystemStore,
};
use futures::future::join_all;
use indicatif::ProgressBar;

use crate::cli::BenchArgs;
use crate::connect::{self, Db, Mode, Native};
use crate::error::CliError;
use crate::output::{print_json, progress};

use machine::Machine;
use raw::Raw;
use report::{Figure, Report, Scale};

/// The executor, application version and queue of the bench's workflows.
const EXECUTOR: &str = "bench";
const VERSION: &str = "bench";
const QUEUE: &str = "dbos-bench";
/// The name of every bench step.
const STEP: &str = "bench_step";
/// Untimed workflows run on both sides before the first measurement.
const WARM_UP: usize = 20;

/// The inputs and step output every benchmark workflow writes: a small JSON document.
const INPUTS: &str = r#"[{"order":42,"items":["a","b"]}]"#;
const STEP_OUTPUT: &str = r#"{"ok":true,"step":"bench_step"}"#;

/// What every measurement works with.
struct Bench<'a> {
    /// The bench's own store, in the scratch place.
    db: &'a Db,
    raw: &'a Raw,
    args: &'a BenchArgs,
    backend: BackendKind,
    /// The configuration of the scratch store (start-up opens more stores with it).
    config: &'a DbosConfig,
    /// SQLite: the scratch directory, where start-up creates fresh files.
    scratch_dir: Option<PathBuf>,
    bar: ProgressBar,
}

impl Bench<'_> {
    fn store(&self) -> &dyn SystemStore {
        self.db.store.as_ref()
    }

    /// Whether the raw side is one connection whatever the concurrency (SQLite).
    fn single_writer(&self) -> bool {
        self.raw.single_writer()
    }

    fn phase(&self, message: &str) {
        self.bar.set_message(message.to_owned());
    }
}

pub(crate) async fn run(
    config: &DbosConfig,
    args: BenchArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    if args.workflows == 0
        || args.concurrency == 0
        || args.steps == 0
        || args.checkpoints == 0
        || args.claims == 0
        || args.claim_batch == 0
        || args.recovery == 0
        || args.waits == 0
        || args.fair_seconds == 0
    {
        return Err(CliError::new(
            "--workflows, --concurrency, --steps, --checkpoints, --claims, --claim-batch, \
             --recovery, --waits and --fair-seconds must be at least 1",
        ));
    }
    if json && args.markdown {
        return Err(CliError::new("--json and --markdown exclude each other"));
    }
    let started = Instant::now();
    let target = config.system_database_url()?;
    let mut bench_config = config.clone();
    bench_config.sys_db_pool_size = Some(u32::try_from(args.concurrency + 2).unwrap_or(u32::MAX));
    // Keep the temporary directory alive for the whole run (SQLite).
    let mut scratch_dir = None;
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
            scratch_dir = Some(tmp);
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
    let raw = Raw::open(&db.native, args.concurrency).await;
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
            return Err(e);
        }
    };
    let bench = Bench {
        db: &db,
        raw: &raw,
        args: &args,
        backend: target.backend(),
        config: &bench_config,
        scratch_dir: scratch_dir.as_ref().map(|d| d.path().to_path_buf()),
        bar: progress(PHASES, "warm-up"),
    };
    let measured = measure(&bench).await;
    let scaled = match (&measured, args.scale) {
        (Ok(_), true) => {
            let dataset = scale::Dataset::of(args.scale_finished);
            Some(scale::compare(&bench, dataset, args.fair_seconds).await)
        }
        _ => None,
    };
    bench.bar.finish_and_clear();
    drop(bench);
    let dropped = raw.drop().await;
    cleanup(&db).await;
    let figures = measured?;
    let scale = scaled.transpose()?;
    dropped?;

    let all = || {
        figures
            .iter()
            .chain(scale.iter().flat_map(|s| s.figures.iter()))
    };
    let checks: Vec<bool> = scale.iter().flat_map(|s| s.checks()).collect();
    let targets = all().filter(|f| f.met.is_some()).count() + checks.len();
    let targets_met =
        all().filter(|f| f.met == Some(true)).count() + checks.iter().filter(|c| **c).count();
    let settings = info
        .settings
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "journal_mode" | "synchronous"))
        .cloned()
        .collect();
    let report = Report {
        command: command_line(),
        machine: Machine::current(),
        backend: info.backend,
        server_version: info.server_version,
        settings,
        target: target.to_string(),
        scratch,
        scale: Scale {
            workflows: args.workflows,
            steps: args.steps,
            concurrency: args.concurrency,
            checkpoints: args.checkpoints,
            claims: args.claims,
            claim_batch: args.claim_batch,
            recovery: args.recovery,
            waits: args.waits,
        },
        seconds: started.elapsed().as_secs_f64(),
        figures,
        big_database: scale,
        targets,
        targets_met,
    };
    if json {
        print_json(&report)?;
    } else if args.markdown {
        print!("{}", report.markdown());
    } else {
        print!("{}", report.text());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs every measurement, in the order of the report.
async fn measure(bench: &Bench<'_>) -> Result<Vec<Figure>, CliError> {
    warm_up(bench).await?;
    let mut figures = Vec::new();
    bench.phase("insert workflow");
    figures.extend(writes::insert(bench).await?);
    bench.bar.inc(1);
    bench.phase("step checkpoint");
    figures.extend(writes::checkpoints(bench).await?);
    bench.bar.inc(1);
    bench.phase("ten-step workflows");
    figures.extend(writes::workflows(bench).await?);
    bench.bar.inc(1);
    bench.phase("dequeue");
    figures.extend(queues::dequeue(bench).await?);
    bench.bar.inc(1);
    bench.phase("recovery");
    figures.extend(queues::recovery(bench).await?);
    bench.bar.inc(1);
    bench.phase("start-up");
    figures.extend(startup::startup(bench).await?);
    bench.bar.inc(1);
    bench.phase("waits");
    figures.extend(waits::waits(bench).await?);
    bench.bar.inc(1);
    Ok(figures)
}

/// The measurement phases, for the progress bar.
const PHASES: u64 = 7;

/// Warms up both sides (connections, statement caches, first pages) untimed.
async fn warm_up(bench: &Bench<'_>) -> Result<(), CliError> {
    let store = bench.store();
    for i in 0..WARM_UP {
        let id = format!("bench-warm-{i}");
        run_workflow(store, &id, 1).await?;
        let id = format!("raw-warm-{i}");
        bench.raw.insert_workflow(i, &id).await?;
        bench.raw.insert_step(i, &id, 1).await?;
        bench.raw.finish_workflow(i, &id).await?;
    }
    Ok(())
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

/// A direct start of the bench workflow `id`.
fn new_workflow(id: &str) -> NewWorkflow {
    NewWorkflow::new(id, "bench_workflow", Payload::portable_json(INPUTS))
        .with_executor(EXECUTOR)
        .with_application_version(VERSION)
}

fn output() -> Payload {
    Payload::portable_json(STEP_OUTPUT)
}

/// The twelve commits of a ten-step workflow (with `steps` = 10): start it, record each step
/// under its owner token, record the outcome. The runtime's checkpoint reads are left out: the
/// raw side does only the writes.
async fn run_workflow(store: &dyn SystemStore, id: &str, steps: usize) -> Result<(), CliError> {
    let wf = new_workflow(id);
    let owner = wf.creator_xid.clone();
    store
        .insert_workflow(wf, dbos_storage::InsertOptions::default())
        .await?;
    for step in 1..=steps as i32 {
        let record = dbos_storage::StepRecord::output(id, step, STEP, output());
        store.record_step(record, Some(&owner)).await?;
    }
    let applied = store
        .record_outcome(id, dbos_storage::Outcome::Output(output()), Some(&owner))
        .await?;
    if !applied {
        return Err(CliError::new(format!(
            "the outcome of bench workflow {id} was not recorded"
        )));
    }
    Ok(())
}

/// Runs `job(0..n)` on `tasks` concurrent lanes (lane `l` takes `l`, `l + tasks`, …) and
/// returns the wall time.
async fn timed_parallel<F, Fut>(n: usize, tasks: usize, job: F) -> Result<Duration, CliError>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), CliError>>,
{
    timed_lanes(0..n, tasks, &job).await
}

/// Runs `job(i)` for every `i` of `range` on `tasks` concurrent lanes (each lane takes every
/// `tasks`-th index, so one residue of `i % tasks` stays on one lane) and returns the wall time.
async fn timed_lanes<F, Fut>(
    range: Range<usize>,
    tasks: usize,
    job: &F,
) -> Result<Duration, CliError>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), CliError>>,
{
    let t = Instant::now();
    let lanes = (0..tasks).map(|lane| {
        let range = range.clone();
        async move {
            let mut i = range.start + lane;
            while i < range.end {
                job(i).await?;
                i += tasks;
            }
            Ok::<(), CliError>(())
        }
    });
    for r in join_all(lanes).await {
        r?;
    }
    Ok(t.elapsed())
}

/// Rounds of an interleaved comparison.
const ROUNDS: usize = 4;

/// Untimed operations per lane that each side runs before an interleaved comparison.
const WARMUP_PER_LANE: usize = 16;

/// How many untimed warm-up operations [`interleaved`] runs on each side for `tasks` lanes:
/// it calls `store(i)` and `raw(i)` for `i` in `n..n + warmup(tasks)` first.
fn warmup(tasks: usize) -> usize {
    tasks.max(1) * WARMUP_PER_LANE
}

/// Times `store(i)` and `raw(i)` for `i` in `0..n` on `tasks` lanes each, in [`ROUNDS`]
/// interleaved rounds (a slice of the store's work, then the same slice of the raw work, the
/// order swapped every round), so that a slow spell of a shared machine or disk falls on both
/// sides alike. Returns the store's and the raw side's total times.
///
/// Both sides first run [`warmup`]`(tasks)` untimed operations (indices `n..`), so that
/// neither is timed while its connections prepare statements and the server settles on its
/// cached plans (PostgreSQL plans a prepared statement afresh for its first five runs on each
/// connection).
async fn interleaved<FS, S, FR, R>(
    n: usize,
    tasks: usize,
    store: FS,
    raw: FR,
) -> Result<(Duration, Duration), CliError>
where
    FS: Fn(usize) -> S,
    S: Future<Output = Result<(), CliError>>,
    FR: Fn(usize) -> R,
    R: Future<Output = Result<(), CliError>>,
{
    let warm = n..n + warmup(tasks);
    timed_lanes(warm.clone(), tasks, &store).await?;
    timed_lanes(warm, tasks, &raw).await?;
    let chunk = n.div_ceil(ROUNDS).max(1);
    let (mut store_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    for (round, start) in (0..n).step_by(chunk).enumerate() {
        let range = start..(start + chunk).min(n);
        if round % 2 == 0 {
            store_time += timed_lanes(range.clone(), tasks, &store).await?;
            raw_time += timed_lanes(range, tasks, &raw).await?;
        } else {
            raw_time += timed_lanes(range.clone(), tasks, &raw).await?;
            store_time += timed_lanes(range, tasks, &store).await?;
        }
    }
    Ok((store_time, raw_time))
}

/// Operations per second.
fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// The median of some durations, in milliseconds.
fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The command line as typed, with the program named `dbos-storage` and URL passwords redacted.
fn command_line() -> String {
    let mut words = vec!["dbos-storage".to_owned()];
    for arg in std::env::args().skip(1) {
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (Some(flag.to_owned()), value),
            _ => (None, arg.as_str()),
        };
        let value = match DatabaseUrl::parse(value) {
            Ok(url) if value.contains("://") => url.redacted().to_owned(),
            _ => value.to_owned(),
        };
        words.push(match flag {
            Some(flag) => format!("{flag}={value}"),
            None => value,
        });
    }
    words.join(" ")
}
