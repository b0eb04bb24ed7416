//! `demo`: the main job of the project, on the embedded SQLite default with no setup.
//!
//! The demo starts a worker process (this binary's hidden `demo-worker` command) that runs a few
//! five-step workflows at once, checkpointing every step in the system database; kills it with
//! SIGKILL mid-run; starts a new worker that recovers the dead executor's workflows the way DBOS
//! does (pending workflows of the executor, re-enqueued, claimed from the internal queue under a
//! new ownership token) and finishes them, replaying checkpointed steps instead of running them
//! again. Every step appends to a side-effect log when it runs, so the report shows, per
//! workflow, which steps ran before the crash, which were replayed from their checkpoint and
//! which ran after, and the demo fails if a completed step ran twice.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dbos_storage::{
    ClaimRequest, DbosConfig, InsertOptions, ListStepsOptions, ListWorkflowsQuery, NewWorkflow,
    Outcome, Payload, StepRecord, SystemStore, WorkflowStatus, INTERNAL_QUEUE,
};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::{DemoArgs, DemoWorkerArgs};
use crate::connect::{self, Mode, DEFAULT_APP_NAME};
use crate::error::CliError;
use crate::output::{pairs, print_json, progress};

/// The steps of every demo workflow, in order.
const STEPS: [&str; 5] = [
    "reserve_stock",
    "charge_card",
    "create_shipment",
    "send_email",
    "close_order",
];

/// The executor both worker processes run as: the restarted worker recovers its own executor's
/// workflows, as a restarted DBOS process does.
const EXECUTOR: &str = "demo-executor";
/// The application version both workers run.
const VERSION: &str = "demo-v1";
/// Checkpointed steps every workflow must have before the worker is killed.
const STEPS_BEFORE_KILL: usize = 2;
/// The side-effect log, in the demo's directory.
const LOG_FILE: &str = "side-effects.log";

/// What a step records as its output: which process ran it.
#[derive(Debug, Serialize, Deserialize)]
struct StepLog {
    step: String,
    pid: u32,
}

/// How long a step of the `index`-th workflow takes: workflows run at different paces, so the
/// crash finds them at different places. In the first worker, the step after the kill point of
/// the last workflow is a slow call (a payment provider that hangs) that only the crash ends,
/// so at least that workflow is always caught mid-run, whatever the machine's load.
fn step_time(index: usize, last: usize, step: i32, first_run: bool) -> Duration {
    if first_run && index == last && step == STEPS_BEFORE_KILL as i32 + 1 {
        return Duration::from_secs(60);
    }
    Duration::from_millis(150 + 50 * index as u64)
}

/// The demo's workflow ids.
fn workflow_ids(count: u32) -> Vec<String> {
    (1..=count).map(|i| format!("demo-order-{i}")).collect()
}

pub(crate) async fn run(args: DemoArgs, json: bool) -> Result<ExitCode, CliError> {
    let dir = tempfile::Builder::new()
        .prefix("dbos-demo-")
        .tempdir()
        .map_err(|e| CliError::new(format!("cannot create the demo's directory: {e}")))?;
    let result = demo(dir.path(), &args, json).await;
    if args.keep {
        let kept = dir.keep();
        if !json {
            println!("kept {}", kept.display());
        }
    }
    result
}

async fn demo(dir: &Path, args: &DemoArgs, json: bool) -> Result<ExitCode, CliError> {
    // The embedded SQLite default of the configuration, in the demo's own directory.
    let default = DbosConfig::new(DEFAULT_APP_NAME).system_database_url()?;
    let Some(dbos_storage::SqliteLocation::File(file)) = default.sqlite_location() else {
        return Err(CliError::new(
            "the default system database is not a SQLite file",
        ));
    };
    let path = dir.join(file);
    let url = format!("sqlite:///{}", path.display());
    let log = dir.join(LOG_FILE);
    std::fs::File::create(&log)?;
    let config = DbosConfig::new(DEFAULT_APP_NAME).with_system_database_url(url.as_str());
    let db = connect::open(&config, Mode::Migrate).await?;
    let ids = workflow_ids(args.workflows);
    let mut say = Say::new(json);

    say.line(format!(
        "{} durable workflows of {} steps on the embedded SQLite default",
        ids.len(),
        STEPS.len()
    ));
    say.line(format!("system database: {url}"));
    say.line(format!("side-effect log: {}", log.display()));
    say.line(if args.keep {
        "(kept after the demo: --keep)".to_owned()
    } else {
        "(a temporary directory, removed at the end; --keep keeps it)".to_owned()
    });
    say.line(String::new());

    // 1. A worker starts the workflows; it is killed once each has a few checkpoints.
    let bar = progress((ids.len() * STEPS.len()) as u64, "running");
    say.bar = Some(bar.clone());
    let mut worker = spawn_worker(&url, &log, dir, &ids, false)?;
    let first_pid = worker.id().unwrap_or_default();
    say.line(format!("worker process {first_pid} started the workflows"));
    let forward = forward_output(&mut worker, say.clone());
    wait_for_checkpoints(db.store.as_ref(), &ids, &log, &bar, &mut worker).await?;
    worker
        .kill()
        .await
        .map_err(|e| CliError::new(format!("cannot kill the worker: {e}")))?;
    let _ = forward.await;
    let at_crash = checkpoints(db.store.as_ref(), &ids).await?;
    let pending = db
        .store
        .list_workflows(
            ListWorkflowsQuery::new()
                .workflow_ids(ids.iter().cloned())
                .status(vec![WorkflowStatus::Pending]),
        )
        .await?
        .len();
    say.line(format!(
        "killed worker {first_pid} with SIGKILL: {} steps checkpointed, {pending} of {} \
         workflows left PENDING",
        at_crash.values().map(BTreeMap::len).sum::<usize>(),
        ids.len()
    ));

    // 2. A new worker recovers them from their checkpoints.
    bar.set_message("recovering");
    let mut recovery = spawn_worker(&url, &log, dir, &[], true)?;
    let second_pid = recovery.id().unwrap_or_default();
    say.line(format!(
        "restarted: worker process {second_pid} recovers them"
    ));
    let forward = forward_output(&mut recovery, say.clone());
    let progress_task = track(db.store.clone(), ids.clone(), bar.clone());
    let status = recovery.wait().await?;
    progress_task.abort();
    let _ = forward.await;
    bar.finish_and_clear();
    say.bar = None;
    if !status.success() {
        db.close().await;
        return Err(CliError::new(format!(
            "the recovery worker failed ({status}); see its output above"
        )));
    }

    // 3. What happened, per workflow, from the database and the side-effect log.
    let report = report(db.store.as_ref(), &ids, &log, first_pid, second_pid).await;
    db.close().await;
    let report = report?;
    if json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    if report.ok {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::new(format!(
            "the demo found steps that ran twice or workflows that did not finish: {}",
            report.problems.join("; ")
        )))
    }
}

/// Prints lines, through the progress bar while one is drawn; nothing with `--json`.
#[derive(Clone)]
struct Say {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Say {
    fn new(quiet: bool) -> Self {
        Say { quiet, bar: None }
    }

    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(text),
            _ => println!("{text}"),
        }
    }
}

/// Starts this binary's `demo-worker` in the demo's directory, with the demo's URL and without
/// the caller's DBOS_* environment, so that nothing outside the demo can redirect it.
fn spawn_worker(
    url: &str,
    log: &Path,
    dir: &Path,
    ids: &[String],
    recover: bool,
) -> Result<Child, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find this program's path: {e}")))?;
    let mut command = Command::new(exe);
    command
        .arg("--url")
        .arg(url)
        .arg("demo-worker")
        .arg("--log")
        .arg(log)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if recover {
        command.arg("--recover");
    }
    command.args(ids);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DBOS") {
            command.env_remove(key);
        }
    }
    command
        .spawn()
        .map_err(|e| CliError::new(format!("cannot start the demo worker: {e}")))
}

/// Prints a worker's output lines as they come.
fn forward_output(child: &mut Child, say: Say) -> tokio::task::JoinHandle<()> {
    let stdout = child.stdout.take();
    tokio::spawn(async move {
        let Some(stdout) = stdout else { return };
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            say.line(line);
        }
    })
}

/// Waits until every workflow has [`STEPS_BEFORE_KILL`] checkpoints (or has finished).
/// Waits until every workflow has [`STEPS_BEFORE_KILL`] checkpoints and the last one has
/// started its slow step (its `run` line is in the side-effect log), so the crash always catches
/// that step mid-run: a checkpoint is visible to readers a moment before the worker that wrote
/// it moves on.
async fn wait_for_checkpoints(
    store: &dyn SystemStore,
    ids: &[String],
    log: &Path,
    bar: &ProgressBar,
    worker: &mut Child,
) -> Result<(), CliError> {
    let slow_step = STEPS_BEFORE_KILL as i32 + 1;
    let last = ids.last().cloned().unwrap_or_default();
    loop {
        if let Some(status) = worker.try_wait()? {
            return Err(CliError::new(format!(
                "the worker stopped before the crash ({status}); see its output above"
            )));
        }
        let counts = checkpoints(store, ids).await?;
        bar.set_position(counts.values().map(BTreeMap::len).sum::<usize>() as u64);
        if ids
            .iter()
            .all(|id| counts.get(id).map_or(0, BTreeMap::len) >= STEPS_BEFORE_KILL)
            && read_log(log)?
                .iter()
                .any(|(_, event, id, step)| event == "run" && *id == last && *step == slow_step)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Keeps the progress bar at the number of checkpointed steps.
fn track(
    store: Arc<dyn SystemStore>,
    ids: Vec<String>,
    bar: ProgressBar,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok(counts) = checkpoints(store.as_ref(), &ids).await {
                bar.set_position(counts.values().map(BTreeMap::len).sum::<usize>() as u64);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// The checkpoints of each workflow: step number → the process that ran it.
async fn checkpoints(
    store: &dyn SystemStore,
    ids: &[String],
) -> Result<BTreeMap<String, BTreeMap<i32, u32>>, CliError> {
    let mut out = BTreeMap::new();
    for id in ids {
        let steps = store
            .list_steps(id, ListStepsOptions::default().load_output(true))
            .await?;
        let mut recorded = BTreeMap::new();
        for step in steps {
            let pid = step
                .outcome
                .as_ref()
                .and_then(Outcome::payload)
                .and_then(|p| serde_json::from_str::<StepLog>(&p.text).ok())
                .map_or(0, |l| l.pid);
            recorded.insert(step.function_id, pid);
        }
        out.insert(id.clone(), recorded);
    }
    Ok(out)
}

// ---- the worker process ---------------------------------------------------------------------

/// `demo-worker`: runs (or, with `--recover`, recovers) the demo's workflows.
pub(crate) async fn worker(
    config: &DbosConfig,
    args: DemoWorkerArgs,
) -> Result<ExitCode, CliError> {
    let db = connect::open(config, Mode::Verify).await?;
    let store = db.store.clone();
    let log = Arc::new(SideEffects::open(&args.log)?);
    let pid = std::process::id();
    let (ids, owner) = if args.recover {
        let pending = store
            .pending_workflows(EXECUTOR, Some(VERSION), None)
            .await?;
        store
            .reenqueue_for_recovery(&pending, &[EXECUTOR.to_owned()])
            .await?;
        let claim = ClaimRequest::new(INTERNAL_QUEUE, EXECUTOR, VERSION);
        let token = claim.owner_xid.clone();
        let claimed = store.claim_workflows(claim).await?.claimed;
        say(format!(
            "  [pid {pid}] found {} PENDING workflows of executor {EXECUTOR}, re-enqueued them \
             and claimed {} with a new ownership token",
            pending.len(),
            claimed.len()
        ));
        (claimed, Some(token))
    } else {
        (args.ids.clone(), None)
    };
    let last = ids.len().saturating_sub(1);
    let first_run = !args.recover;
    let mut tasks = Vec::new();
    for id in ids {
        let index = id
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(1)
            .saturating_sub(1);
        let store = store.clone();
        let log = log.clone();
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            let pace = move |step| step_time(index, last, step, first_run);
            run_workflow(store.as_ref(), &log, &id, index, pace, owner).await
        }));
    }
    let mut result = Ok(());
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(e) => result = Err(CliError::new(format!("a workflow task failed: {e}"))),
        }
    }
    db.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

/// Prints one line of the worker's story.
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The side-effect log: one line per event, appended with a single write.
struct SideEffects {
    file: std::sync::Mutex<std::fs::File>,
}

impl SideEffects {
    fn open(path: &Path) -> Result<Self, CliError> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| CliError::new(format!("cannot open {}: {e}", path.display())))?;
        Ok(SideEffects {
            file: std::sync::Mutex::new(file),
        })
    }

    fn record(&self, event: &str, workflow_id: &str, step: i32) -> Result<(), CliError> {
        let line = format!("{} {event} {workflow_id} {step}\n", std::process::id());
        let mut file = self
            .file
            .lock()
            .map_err(|_| CliError::new("the side-effect log is poisoned"))?;
        file.write_all(line.as_bytes())?;
        Ok(())
    }
}

/// Runs one workflow: start it (or take the recovered one), then each step — replayed from its
/// checkpoint when there is one, otherwise run (the side effect) and checkpointed — then its
/// outcome. Every write is fenced by the execution's ownership token.
async fn run_workflow(
    store: &dyn SystemStore,
    log: &SideEffects,
    id: &str,
    index: usize,
    pace: impl Fn(i32) -> Duration,
    recovered_owner: Option<String>,
) -> Result<(), CliError> {
    let pid = std::process::id();
    let owner = match recovered_owner {
        Some(token) => token,
        None => {
            let inputs = Payload::portable_json(format!(r#"[{{"order":{}}}]"#, index + 1));
            let wf = NewWorkflow::new(id, "order_workflow", inputs)
                .with_executor(EXECUTOR)
                .with_application_version(VERSION);
            let token = wf.creator_xid.clone();
            let inserted = store.insert_workflow(wf, InsertOptions::default()).await?;
            if !inserted.should_execute {
                say(format!("  [pid {pid}] {id}: already handled elsewhere"));
                return Ok(());
            }
            token
        }
    };
    for (n, name) in STEPS.iter().enumerate() {
        let step = n as i32 + 1;
        if let Some(recorded) = store.check_step(id, step, name).await? {
            let ran_in = recorded
                .outcome
                .as_ref()
                .and_then(Outcome::payload)
                .and_then(|p| serde_json::from_str::<StepLog>(&p.text).ok())
                .map_or(0, |l| l.pid);
            log.record("replay", id, step)?;
            say(format!(
                "  [pid {pid}] {id} step {step} {name}: replayed from its checkpoint (ran in \
                 pid {ran_in})"
            ));
            continue;
        }
        // The step's side effect, then its work (a moment), then its checkpoint.
        log.record("run", id, step)?;
        tokio::time::sleep(pace(step)).await;
        let output = serde_json::to_string(&StepLog {
            step: (*name).to_owned(),
            pid,
        })
        .map_err(|e| CliError::new(e.to_string()))?;
        store
            .record_step(
                StepRecord::output(id, step, *name, Payload::portable_json(output)),
                Some(&owner),
            )
            .await?;
        log.record("checkpoint", id, step)?;
        say(format!(
            "  [pid {pid}] {id} step {step} {name}: ran and checkpointed"
        ));
    }
    let output = Payload::portable_json(format!(r#""order {} shipped""#, index + 1));
    if store
        .record_outcome(id, Outcome::Output(output), Some(&owner))
        .await?
    {
        say(format!("  [pid {pid}] {id}: SUCCESS"));
    } else {
        say(format!(
            "  [pid {pid}] {id}: no longer ours (cancelled or taken over); adopting the recorded outcome"
        ));
    }
    Ok(())
}

// ---- the report -----------------------------------------------------------------------------

/// One step in the report.
#[derive(Debug, Clone, Serialize)]
struct StepRef {
    step: i32,
    name: &'static str,
}

/// One workflow in the report.
#[derive(Debug, Serialize)]
struct WorkflowReport {
    workflow_id: String,
    status: String,
    /// Checkpointed by the killed worker.
    ran_before_crash: Vec<StepRef>,
    /// Running in the killed worker when it died, without a checkpoint: ran again after.
    interrupted: Vec<StepRef>,
    /// Replayed from their checkpoint by the recovering worker (not run again).
    replayed_from_checkpoint: Vec<StepRef>,
    /// Run (and checkpointed) by the recovering worker.
    ran_after_recovery: Vec<StepRef>,
}

/// What `demo --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    killed_pid: u32,
    recovery_pid: u32,
    workflows: Vec<WorkflowReport>,
    /// Whether every workflow succeeded and no completed step ran twice.
    ok: bool,
    problems: Vec<String>,
}

async fn report(
    store: &dyn SystemStore,
    ids: &[String],
    log: &Path,
    first: u32,
    second: u32,
) -> Result<Report, CliError> {
    let checkpoints = checkpoints(store, ids).await?;
    let statuses: BTreeMap<String, WorkflowStatus> = store
        .list_workflows(ListWorkflowsQuery::new().workflow_ids(ids.iter().cloned()))
        .await?
        .into_iter()
        .map(|w| (w.workflow_id, w.status))
        .collect();
    let events = read_log(log)?;
    let mut problems = Vec::new();
    let mut workflows = Vec::new();
    for id in ids {
        let status = statuses
            .get(id)
            .map_or_else(|| "MISSING".to_owned(), WorkflowStatus::to_string);
        if status != "SUCCESS" {
            problems.push(format!("{id} ended {status}"));
        }
        let mut w = WorkflowReport {
            workflow_id: id.clone(),
            status,
            ran_before_crash: Vec::new(),
            interrupted: Vec::new(),
            replayed_from_checkpoint: Vec::new(),
            ran_after_recovery: Vec::new(),
        };
        let recorded = checkpoints.get(id).cloned().unwrap_or_default();
        for (n, name) in STEPS.iter().enumerate() {
            let step = n as i32 + 1;
            let r = StepRef { step, name };
            let has =
                |pid: u32, event: &str| events.contains(&(pid, event.to_owned(), id.clone(), step));
            let runs = events
                .iter()
                .filter(|(_, e, wid, s)| e == "run" && wid == id && *s == step)
                .count();
            match recorded.get(&step) {
                None => problems.push(format!("{id} step {step} has no checkpoint")),
                Some(&pid) if pid == first => {
                    w.ran_before_crash.push(r.clone());
                    if has(second, "run") {
                        problems.push(format!(
                            "{id} step {step} {name} ran again after it was checkpointed"
                        ));
                    }
                    if has(second, "replay") {
                        w.replayed_from_checkpoint.push(r.clone());
                    }
                }
                Some(&pid) if pid == second => {
                    if has(first, "run") {
                        w.interrupted.push(r.clone());
                    }
                    w.ran_after_recovery.push(r.clone());
                }
                Some(pid) => problems.push(format!(
                    "{id} step {step} was checkpointed by an unknown process {pid}"
                )),
            }
            let allowed =
                1 + usize::from(has(first, "run") && recorded.get(&step) == Some(&second));
            if runs > allowed {
                problems.push(format!("{id} step {step} {name} ran {runs} times"));
            }
        }
        workflows.push(w);
    }
    Ok(Report {
        killed_pid: first,
        recovery_pid: second,
        ok: problems.is_empty(),
        problems,
        workflows,
    })
}

/// The side-effect log's events: `(pid, event, workflow, step)`.
fn read_log(path: &Path) -> Result<BTreeSet<(u32, String, String, i32)>, CliError> {
    let text = std::fs::read_to_string(path)?;
    let mut events = BTreeSet::new();
    let mut runs: BTreeMap<(u32, String, i32), usize> = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [pid, event, id, step] = parts[..] {
            let (Ok(pid), Ok(step)) = (pid.parse(), step.parse()) else {
                continue;
            };
            if event == "run" {
                *runs.entry((pid, id.to_owned(), step)).or_default() += 1;
            }
            events.insert((pid, event.to_owned(), id.to_owned(), step));
        }
    }
    // A process runs a step at most once; a repeat would show as a second `run` line, which the
    // set above would hide.
    if let Some(((pid, id, step), n)) = runs.into_iter().find(|(_, n)| *n > 1) {
        return Err(CliError::new(format!(
            "process {pid} ran {id} step {step} {n} times"
        )));
    }
    Ok(events)
}

fn print_report(report: &Report) {
    let list = |steps: &[StepRef]| {
        if steps.is_empty() {
            "-".to_owned()
        } else {
            steps
                .iter()
                .map(|s| format!("{} {}", s.step, s.name))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!();
    for w in &report.workflows {
        println!("{}: {}", w.workflow_id, w.status);
        let mut rows = vec![(
            format!("ran before the crash (pid {})", report.killed_pid),
            list(&w.ran_before_crash),
        )];
        if !w.interrupted.is_empty() {
            rows.push((
                "interrupted by the crash".to_owned(),
                format!("{} (no checkpoint yet: ran again)", list(&w.interrupted)),
            ));
        }
        rows.push((
            "replayed from the checkpoint".to_owned(),
            list(&w.replayed_from_checkpoint),
        ));
        rows.push((
            format!("ran after the recovery (pid {})", report.recovery_pid),
            list(&w.ran_after_recovery),
        ));
        let rows: Vec<(String, String)> = rows
            .into_iter()
            .map(|(k, v)| (format!("  {k}:"), v))
            .collect();
        print!("{}", pairs(&rows));
    }
    println!();
    if report.ok {
        let replayed: usize = report
            .workflows
            .iter()
            .map(|w| w.replayed_from_checkpoint.len())
            .sum();
        println!(
            "ok: every workflow finished SUCCESS; no completed step ran twice ({replayed} \
             checkpointed steps were replayed instead of run again)"
        );
    }
}
