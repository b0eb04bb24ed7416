//! The killed-worker scenario: a worker process runs queued workflows of ten steps, writing
//! every step it *executes* to a side-effect log (with fsync) before checkpointing it; the
//! parent SIGKILLs it mid-workflow, twice, and a new worker process recovers the dead ones'
//! workflows and finishes everything.
//!
//! The log is the ground truth of what ran. Lines (one `write`, then `fsync`):
//!
//! * `exec {workflow} {step} {attempt}` — the step is about to run its side effect; `attempt`
//!   (`{pid}.{n}`) is unique and is the step's recorded output;
//! * `ack {workflow} {step} {attempt}` — `record_step` returned success;
//! * `done {workflow}` — `record_outcome` returned.
//!
//! After the last worker, each step's checkpoint names the attempt that was recorded: an
//! `exec` line of the same step *after* that attempt's is a checkpointed step that ran again.
//! `exec` lines before it are executions whose checkpoint never applied (the process died
//! first), which durable execution allows.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbos_storage_core::{
    ClaimRequest, ListStepsOptions, ListWorkflowsQuery, NewWorkflow, Outcome, Payload, QueueLimits,
    StepRecord, WorkflowStatus,
};

use super::{
    describe, is_transient, open_store, Backend, Campaign, CampaignReport, CampaignStore,
    StoreSettings,
};

/// The queue of the scenario.
const QUEUE: &str = "campaign-worker";
/// Pause before trying a failed call again.
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// How long a worker process may run before the parent gives up on it.
const CHILD_BOUND: Duration = Duration::from_secs(300);

/// The arguments of a worker process (`dbos-campaign worker …`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerArgs {
    /// The database.
    pub url: String,
    /// This worker's executor id.
    pub executor: String,
    /// Executors that died: their `PENDING` workflows are recovered at start.
    pub recover: Vec<String>,
    /// The side-effect log.
    pub log: PathBuf,
    /// Steps per workflow.
    pub steps: i32,
    /// How long each step's side effect takes, in milliseconds.
    pub step_ms: u64,
    /// Workflows run at once (the claim's worker concurrency).
    pub concurrency: u32,
}

impl WorkerArgs {
    /// The command-line arguments after `worker`.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--url".into(),
            self.url.clone(),
            "--executor".into(),
            self.executor.clone(),
            "--recover".into(),
            self.recover.join(","),
            "--log".into(),
            self.log.display().to_string(),
            "--steps".into(),
            self.steps.to_string(),
            "--step-ms".into(),
            self.step_ms.to_string(),
            "--concurrency".into(),
            self.concurrency.to_string(),
        ]
    }

    /// Parses what [`WorkerArgs::to_args`] wrote.
    ///
    /// # Errors
    /// A message naming a missing or malformed argument.
    pub fn parse(args: &[String]) -> Result<WorkerArgs, String> {
        let flags = flags(args)?;
        Ok(WorkerArgs {
            url: flag(&flags, "url")?.to_owned(),
            executor: flag(&flags, "executor")?.to_owned(),
            recover: flag(&flags, "recover")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            log: PathBuf::from(flag(&flags, "log")?),
            steps: number(&flags, "steps")?,
            step_ms: number(&flags, "step-ms")?,
            concurrency: number(&flags, "concurrency")?,
        })
    }
}

/// `--name value` pairs.
pub(super) fn flags(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(name) = it.next() {
        let name = name
            .strip_prefix("--")
            .ok_or_else(|| format!("expected --name, got {name:?}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        out.insert(name.to_owned(), value.clone());
    }
    Ok(out)
}

pub(super) fn flag<'a>(flags: &'a HashMap<String, String>, name: &str) -> Result<&'a str, String> {
    flags
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("missing --{name}"))
}

pub(super) fn number<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
) -> Result<T, String> {
    flag(flags, name)?
        .parse()
        .map_err(|_| format!("--{name} is not a number"))
}

/// An append-only log, each line written at once and synced to disk before the call returns.
#[derive(Debug)]
struct SyncedLog(Mutex<File>);

impl SyncedLog {
    fn open(path: &Path) -> Result<SyncedLog, String> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|f| SyncedLog(Mutex::new(f)))
            .map_err(|e| format!("open {}: {e}", path.display()))
    }

    async fn line(self: &Arc<Self>, text: String) -> Result<(), String> {
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut file = log.0.lock().unwrap();
            file.write_all(format!("{text}\n").as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(|e| format!("the log writer panicked: {e}"))?
        .map_err(|e| format!("write the side-effect log: {e}"))
    }
}

/// A worker process: recovers the dead executors' workflows, then claims from the scenario's
/// queue and runs what it claims (up to `concurrency` at once) until the queue is empty.
///
/// # Errors
/// A message for any store error that retrying does not fix, or a log that cannot be written.
pub async fn run_worker(args: WorkerArgs) -> Result<(), String> {
    let store = open_store(&args.url, &StoreSettings::default())
        .await
        .map_err(|e| format!("open the store: {}", describe(&e)))?;
    for dead in &args.recover {
        let pending = store
            .pending_workflows(dead, Some(super::VERSION), None)
            .await
            .map_err(|e| format!("pending workflows of {dead}: {}", describe(&e)))?;
        store
            .reenqueue_for_recovery(&pending, std::slice::from_ref(dead))
            .await
            .map_err(|e| format!("recover the workflows of {dead}: {}", describe(&e)))?;
    }
    let log = Arc::new(SyncedLog::open(&args.log)?);
    let args = Arc::new(args);
    let running = Arc::new(AtomicU32::new(0));
    let attempts = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| format!("a workflow task panicked: {e}"))??;
        }
        let local = running.load(Ordering::SeqCst);
        let mut claimed_any = false;
        if local < args.concurrency {
            let request = ClaimRequest::new(QUEUE, args.executor.as_str(), super::VERSION)
                .limits(QueueLimits::new().worker_concurrency(args.concurrency))
                .running(local, 0);
            let token = request.owner_xid.clone();
            match store.claim_workflows(request).await {
                Ok(outcome) => {
                    for id in outcome.claimed {
                        claimed_any = true;
                        running.fetch_add(1, Ordering::SeqCst);
                        let (store, log, args, running, attempts, token) = (
                            Arc::clone(&store),
                            Arc::clone(&log),
                            Arc::clone(&args),
                            Arc::clone(&running),
                            Arc::clone(&attempts),
                            token.clone(),
                        );
                        tasks.spawn(async move {
                            let result =
                                run_workflow(store.as_ref(), &log, &args, &attempts, &id, &token)
                                    .await;
                            running.fetch_sub(1, Ordering::SeqCst);
                            result
                        });
                    }
                }
                Err(e) if is_transient(e.kind()) => {}
                Err(e) => return Err(format!("claim: {}", describe(&e))),
            }
        }
        if !claimed_any && running.load(Ordering::SeqCst) == 0 && tasks.is_empty() {
            let query = ListWorkflowsQuery::new()
                .status(vec![WorkflowStatus::Enqueued, WorkflowStatus::Pending])
                .queue_name([QUEUE]);
            match store.list_workflows(query).await {
                Ok(rows) if rows.is_empty() => break,
                Ok(_) => {}
                Err(e) if is_transient(e.kind()) => {}
                Err(e) => return Err(format!("list the queue: {}", describe(&e))),
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store.close().await.ok();
    Ok(())
}

/// Runs one workflow's steps and outcome under the claim's token.
async fn run_workflow(
    store: &dyn CampaignStore,
    log: &Arc<SyncedLog>,
    args: &WorkerArgs,
    attempts: &AtomicU64,
    id: &str,
    token: &str,
) -> Result<(), String> {
    for function_id in 1..=args.steps {
        let name = format!("step{function_id}");
        loop {
            match store.check_step(id, function_id, &name).await {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(e) if is_transient(e.kind()) => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                Err(e) => {
                    return Err(format!(
                        "check step {function_id} of {id}: {}",
                        describe(&e)
                    ))
                }
            }
            let attempt = format!(
                "{}.{}",
                std::process::id(),
                attempts.fetch_add(1, Ordering::SeqCst)
            );
            // The side effect: written down, durably, before the checkpoint.
            log.line(format!("exec {id} {function_id} {attempt}"))
                .await?;
            tokio::time::sleep(Duration::from_millis(args.step_ms)).await;
            let record = StepRecord::output(
                id,
                function_id,
                name.as_str(),
                Payload::portable_json(format!("\"{attempt}\"")),
            );
            match store.record_step(record, Some(token)).await {
                Ok(()) => {
                    log.line(format!("ack {id} {function_id} {attempt}"))
                        .await?;
                    break;
                }
                Err(e) if is_transient(e.kind()) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(e) => {
                    return Err(format!(
                        "record step {function_id} of {id}: {}",
                        describe(&e)
                    ))
                }
            }
        }
    }
    let output = Outcome::Output(Payload::portable_json(format!("\"{id} done\"")));
    loop {
        match store.record_outcome(id, output.clone(), Some(token)).await {
            Ok(_) => break,
            Err(e) if is_transient(e.kind()) => tokio::time::sleep(RETRY_PAUSE).await,
            Err(e) => return Err(format!("record the outcome of {id}: {}", describe(&e))),
        }
    }
    log.line(format!("done {id}")).await
}

/// Runs the killed-worker scenario on `backend`: 24 workflows (96 at full size) of ten steps
/// enqueued, a worker process (four workflows at once, 10 ms per step) SIGKILLed once 30 and
/// again once 60 checkpoints are acknowledged, then a third worker that recovers both dead
/// executors' workflows and finishes everything.
///
/// # Panics
/// When the database cannot be set up, a worker process cannot be started, the last worker
/// fails or does not finish within 300 s, or the log cannot be read.
pub async fn killed_worker(campaign: &Campaign, backend: Backend) -> CampaignReport {
    let started = Instant::now();
    let mut report = CampaignReport::new("worker process killed (SIGKILL) mid-workflow", backend);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = match backend {
        Backend::Sqlite => None,
        _ => Some(crate::pg::server().create_database("campaign_worker").await),
    };
    let url = match &database {
        None => format!("sqlite:///{}", dir.path().join("campaign.sqlite").display()),
        Some(database) => backend.store_url(database),
    };
    let store = open_store(&url, &StoreSettings::default())
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"));
    let workflows = campaign.size.scale(24);
    let ids: Vec<String> = (0..workflows).map(|i| format!("worker-{i:03}")).collect();
    let batch = ids
        .iter()
        .map(|id| {
            NewWorkflow::new(id.as_str(), "campaign_worker", Payload::portable_json("[]"))
                .enqueued(QUEUE)
        })
        .collect();
    store
        .enqueue_workflows(batch)
        .await
        .unwrap_or_else(|e| panic!("enqueue: {e}"));
    let log_path = dir.path().join("effects.log");
    let kill_after = [30 * workflows / 24, 60 * workflows / 24];

    let mut dead: Vec<String> = Vec::new();
    let mut kills = 0;
    for round in 0..=kill_after.len() {
        let args = WorkerArgs {
            url: url.clone(),
            executor: format!("worker-exec-{round}"),
            recover: dead.clone(),
            log: log_path.clone(),
            steps: 10,
            step_ms: 10,
            concurrency: 4,
        };
        let mut child = tokio::process::Command::new(&campaign.exe)
            .arg("worker")
            .args(args.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", campaign.exe.display()));
        if let Some(&target) = kill_after.get(round) {
            // Pacing: wait for enough checkpoints, then kill mid-workflow.
            loop {
                if count_lines(&log_path, "ack ") >= target {
                    break;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("worker {round} ended ({status}) before it was killed");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            child.start_kill().expect("SIGKILL the worker");
            child.wait().await.expect("reap the killed worker");
            kills += 1;
            dead.push(args.executor.clone());
        } else {
            let Ok(status) = tokio::time::timeout(CHILD_BOUND, child.wait()).await else {
                let left = unfinished(store.as_ref()).await;
                panic!("the last worker did not finish within {CHILD_BOUND:?}; left: {left}");
            };
            let status = status.expect("wait for the last worker");
            assert!(status.success(), "the last worker failed: {status}");
        }
    }

    verify(store.as_ref(), &ids, &log_path, &mut report).await;
    store.close().await.ok();
    if let Some(database) = &database {
        let client = crate::pg::server()
            .connect(database)
            .await
            .unwrap_or_else(|e| panic!("connect to read back: {e}"));
        super::check_dialect(&client, backend, &mut report).await;
        drop(client);
        crate::pg::server().drop_database(database).await;
    }
    report.faults.push(format!(
        "{kills} worker processes SIGKILLed mid-workflow, recovered by a third"
    ));
    report.elapsed = started.elapsed();
    report
}

/// The workflows of the queue that are not finished, with their status and executor.
async fn unfinished(store: &dyn CampaignStore) -> String {
    let query = ListWorkflowsQuery::new().queue_name([QUEUE]);
    match store.list_workflows(query).await {
        Ok(rows) => rows
            .iter()
            .filter(|w| w.status != WorkflowStatus::Success)
            .map(|w| format!("{} {:?} {:?}", w.workflow_id, w.status, w.executor_id))
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("(cannot list: {e})"),
    }
}

/// Lines of `path` starting with `prefix` (0 when the file does not exist yet).
fn count_lines(path: &Path, prefix: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.lines().filter(|l| l.starts_with(prefix)).count())
        .unwrap_or(0)
}

/// Compares the side-effect log with the checkpoints.
async fn verify(
    store: &dyn CampaignStore,
    ids: &[String],
    log_path: &Path,
    report: &mut CampaignReport,
) {
    let text = std::fs::read_to_string(log_path).expect("read the side-effect log");
    let mut executions: HashMap<(String, i32), Vec<String>> = HashMap::new();
    let mut acks: Vec<(String, i32, String)> = Vec::new();
    let mut done: Vec<String> = Vec::new();
    // A line cut by the kill has no newline: ignore it.
    let complete = text.rsplit_once('\n').map_or("", |(head, _)| head);
    for line in complete.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["exec", id, step, attempt] => executions
                .entry(((*id).to_owned(), step.parse().unwrap_or(0)))
                .or_default()
                .push((*attempt).to_owned()),
            ["ack", id, step, attempt] => acks.push((
                (*id).to_owned(),
                step.parse().unwrap_or(0),
                (*attempt).to_owned(),
            )),
            ["done", id] => done.push((*id).to_owned()),
            _ => report.problem(format!("unreadable log line {line:?}")),
        }
    }

    let rows = store
        .get_workflows(ids)
        .await
        .unwrap_or_else(|e| panic!("read the workflows back: {e}"));
    let status: HashMap<String, WorkflowStatus> = rows
        .into_iter()
        .map(|w| (w.workflow_id, w.status))
        .collect();
    let mut recorded: BTreeMap<(String, i32), String> = BTreeMap::new();
    for id in ids {
        match status.get(id) {
            Some(WorkflowStatus::Success) => {}
            other => {
                report.unfinished += 1;
                report.problem(format!("{id} ended {other:?}"));
            }
        }
        let steps = store
            .list_steps(id, ListStepsOptions::default().load_output(true))
            .await
            .unwrap_or_else(|e| panic!("read the steps of {id} back: {e}"));
        for step in steps {
            let attempt = step
                .outcome
                .as_ref()
                .and_then(Outcome::payload)
                .map(|p| p.text.trim_matches('"').to_owned())
                .unwrap_or_default();
            recorded.insert((id.clone(), step.function_id), attempt);
        }
    }

    let mut acknowledged = 0;
    let mut found = 0;
    for (id, step, attempt) in &acks {
        acknowledged += 1;
        match recorded.get(&(id.clone(), *step)) {
            Some(a) if a == attempt => found += 1,
            Some(a) => {
                found += 1;
                report.duplicate_step_records += 1;
                report.problem(format!(
                    "step {step} of {id}: acknowledged attempt {attempt}, recorded {a}"
                ));
            }
            None => report.problem(format!("the acknowledged step {step} of {id} is missing")),
        }
    }
    for id in &done {
        acknowledged += 1;
        if status.get(id) == Some(&WorkflowStatus::Success) {
            found += 1;
        } else {
            report.problem(format!("the acknowledged outcome of {id} is missing"));
        }
    }
    let mut uncheckpointed_reruns = 0;
    for ((id, step), attempt) in &recorded {
        let runs = executions
            .get(&(id.clone(), *step))
            .cloned()
            .unwrap_or_default();
        match runs.iter().position(|a| a == attempt) {
            Some(at) => {
                uncheckpointed_reruns += at;
                let after = runs.len() - at - 1;
                if after > 0 {
                    report.duplicate_step_executions += after as u64;
                    report.problem(format!(
                        "step {step} of {id} ran {after} more times after its checkpoint {attempt}"
                    ));
                }
            }
            None => report.problem(format!(
                "step {step} of {id} is checkpointed ({attempt}) but its side effect never ran"
            )),
        }
    }
    let expected_steps = ids.len() * 10;
    if recorded.len() != expected_steps {
        report.problem(format!(
            "{} checkpoints, {expected_steps} expected",
            recorded.len()
        ));
    }
    report.acknowledged = acknowledged;
    report.found = found;
    report.lost = acknowledged - found;
    report.notes.push(format!(
        "{} workflows, {} checkpointed steps, {} step executions; {uncheckpointed_reruns} \
         re-ran because the worker died between the side effect and its checkpoint",
        ids.len(),
        recorded.len(),
        executions.values().map(Vec::len).sum::<usize>()
    ));
}
