//! The concurrent-executors scenario: several executor processes claim from one queue with a
//! global concurrency limit and a per-worker concurrency limit, thousands of workflows in all.
//!
//! Each executor process logs what it claimed and finished, with wall-clock times (every
//! process of the machine reads the same clock):
//!
//! * `claim {workflow} {ns}` — written right after the claim returned (the workflow has been
//!   `PENDING` since before then);
//! * `done {workflow} {ns}` — the time taken right before its outcome is recorded (it stays
//!   `PENDING` until after then);
//! * `error {kind} {n}` — claims that failed, by kind, at the end.
//!
//! So each logged interval lies inside the time the workflow was `PENDING`: more logged
//! intervals overlapping at one instant than the limit allows proves the limit was exceeded.
//! The parent also samples the queue's `PENDING` count in the database while the executors run.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbos_storage_core::{
    ClaimRequest, ListWorkflowsQuery, NewWorkflow, Outcome, Payload, QueueLimits, WorkflowStatus,
};

use super::worker::{flag, flags, number};
use super::{
    describe, is_transient, open_store, wall_ns, Backend, Campaign, CampaignReport, CampaignStore,
    StoreSettings,
};

/// The queue of the scenario.
const QUEUE: &str = "campaign-executors";
/// How long the executor processes may run before the parent gives up on them.
const CHILD_BOUND: Duration = Duration::from_secs(600);

/// The arguments of an executor process (`dbos-campaign executor …`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExecutorArgs {
    /// The database.
    pub url: String,
    /// This process's executor id.
    pub executor: String,
    /// The claim/finish log.
    pub log: PathBuf,
    /// The queue's global concurrency limit.
    pub concurrency: u32,
    /// The per-executor concurrency limit.
    pub worker_concurrency: u32,
    /// How long each workflow "runs", in milliseconds.
    pub work_ms: u64,
}

impl ExecutorArgs {
    /// The command-line arguments after `executor`.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--url".into(),
            self.url.clone(),
            "--executor".into(),
            self.executor.clone(),
            "--log".into(),
            self.log.display().to_string(),
            "--concurrency".into(),
            self.concurrency.to_string(),
            "--worker-concurrency".into(),
            self.worker_concurrency.to_string(),
            "--work-ms".into(),
            self.work_ms.to_string(),
        ]
    }

    /// Parses what [`ExecutorArgs::to_args`] wrote.
    ///
    /// # Errors
    /// A message naming a missing or malformed argument.
    pub fn parse(args: &[String]) -> Result<ExecutorArgs, String> {
        let flags = flags(args)?;
        Ok(ExecutorArgs {
            url: flag(&flags, "url")?.to_owned(),
            executor: flag(&flags, "executor")?.to_owned(),
            log: PathBuf::from(flag(&flags, "log")?),
            concurrency: number(&flags, "concurrency")?,
            worker_concurrency: number(&flags, "worker-concurrency")?,
            work_ms: number(&flags, "work-ms")?,
        })
    }
}

/// A buffered log, flushed at the end.
type Log = Arc<Mutex<BufWriter<File>>>;

fn write_line(log: &Log, text: String) {
    let mut log = log.lock().unwrap();
    let _ = writeln!(log, "{text}");
}

/// An executor process: claims from the scenario's queue under both limits, "runs" each
/// claimed workflow for `work_ms` and records its outcome, until the queue is empty.
///
/// # Errors
/// A message for any store error that retrying does not fix, or a log that cannot be written.
pub async fn run_executor(args: ExecutorArgs) -> Result<(), String> {
    let store = open_store(&args.url, &StoreSettings::default())
        .await
        .map_err(|e| format!("open the store: {}", describe(&e)))?;
    let file =
        File::create(&args.log).map_err(|e| format!("create {}: {e}", args.log.display()))?;
    let log: Log = Arc::new(Mutex::new(BufWriter::new(file)));
    let args = Arc::new(args);
    let running = Arc::new(AtomicU32::new(0));
    let over_limit = Arc::new(AtomicBool::new(false));
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| format!("a workflow task panicked: {e}"))??;
        }
        let local = running.load(Ordering::SeqCst);
        let mut claimed_any = false;
        if local < args.worker_concurrency {
            let limits = QueueLimits::new()
                .concurrency(args.concurrency)
                .worker_concurrency(args.worker_concurrency);
            let request = ClaimRequest::new(QUEUE, args.executor.as_str(), super::VERSION)
                .limits(limits)
                .running(local, 0);
            let token = request.owner_xid.clone();
            match store.claim_workflows(request).await {
                Ok(outcome) => {
                    let at = wall_ns();
                    for id in outcome.claimed {
                        claimed_any = true;
                        let now_running = running.fetch_add(1, Ordering::SeqCst) + 1;
                        if now_running > args.worker_concurrency {
                            over_limit.store(true, Ordering::SeqCst);
                        }
                        write_line(&log, format!("claim {id} {at}"));
                        let (store, log, args, running, token) = (
                            Arc::clone(&store),
                            Arc::clone(&log),
                            Arc::clone(&args),
                            Arc::clone(&running),
                            token.clone(),
                        );
                        tasks.spawn(async move {
                            let result = finish(store.as_ref(), &log, &args, &id, &token).await;
                            running.fetch_sub(1, Ordering::SeqCst);
                            result
                        });
                    }
                }
                Err(e) if is_transient(e.kind()) => {
                    *errors.entry(e.kind().to_string()).or_default() += 1;
                }
                Err(e) => return Err(format!("claim: {}", describe(&e))),
            }
        }
        if !claimed_any && running.load(Ordering::SeqCst) == 0 && tasks.is_empty() {
            let query = ListWorkflowsQuery::new()
                .status(vec![WorkflowStatus::Enqueued])
                .queue_name([QUEUE])
                .limit(1);
            match store.list_workflows(query).await {
                Ok(rows) if rows.is_empty() => break,
                Ok(_) => {}
                Err(e) if is_transient(e.kind()) => {}
                Err(e) => return Err(format!("list the queue: {}", describe(&e))),
            }
        }
        if !claimed_any {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    for (kind, n) in &errors {
        write_line(&log, format!("error {kind} {n}"));
    }
    if over_limit.load(Ordering::SeqCst) {
        write_line(&log, "over-worker-limit".into());
    }
    log.lock()
        .unwrap()
        .flush()
        .map_err(|e| format!("write {}: {e}", args.log.display()))?;
    store.close().await.ok();
    Ok(())
}

/// "Runs" a claimed workflow, then records its outcome.
async fn finish(
    store: &dyn CampaignStore,
    log: &Log,
    args: &ExecutorArgs,
    id: &str,
    token: &str,
) -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(args.work_ms)).await;
    write_line(log, format!("done {id} {}", wall_ns()));
    let output = Outcome::Output(Payload::portable_json("true"));
    loop {
        match store.record_outcome(id, output.clone(), Some(token)).await {
            Ok(true) => return Ok(()),
            Ok(false) => return Err(format!("the outcome of {id} was not recorded: not owned")),
            Err(e) if is_transient(e.kind()) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => return Err(format!("record the outcome of {id}: {}", describe(&e))),
        }
    }
}

/// Runs the concurrent-executors scenario on `backend`: 2,000 workflows (8,000 at full size)
/// enqueued on one queue with a global concurrency of 8, drained by 4 executor processes with a
/// worker concurrency of 3 each (each workflow "runs" 1 ms).
///
/// # Panics
/// When the database cannot be set up, an executor process cannot be started, fails or does
/// not finish within 600 s, or a log cannot be read.
pub async fn concurrent_executors(campaign: &Campaign, backend: Backend) -> CampaignReport {
    const PROCESSES: usize = 4;
    const CONCURRENCY: u32 = 8;
    const WORKER_CONCURRENCY: u32 = 3;
    let started = Instant::now();
    let mut report = CampaignReport::new("concurrent executor processes on one queue", backend);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = match backend {
        Backend::Sqlite => None,
        _ => Some(
            crate::pg::server()
                .create_database("campaign_executors")
                .await,
        ),
    };
    let url = match &database {
        None => format!("sqlite:///{}", dir.path().join("campaign.sqlite").display()),
        Some(database) => backend.store_url(database),
    };
    let store = open_store(&url, &StoreSettings::default())
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"));
    let workflows = campaign.size.scale(2_000);
    let ids: Vec<String> = (0..workflows).map(|i| format!("exec-{i:05}")).collect();
    for chunk in ids.chunks(500) {
        let batch = chunk
            .iter()
            .map(|id| {
                NewWorkflow::new(
                    id.as_str(),
                    "campaign_executor",
                    Payload::portable_json("[]"),
                )
                .enqueued(QUEUE)
            })
            .collect();
        store
            .enqueue_workflows(batch)
            .await
            .unwrap_or_else(|e| panic!("enqueue: {e}"));
    }

    let mut children = Vec::new();
    let mut logs = Vec::new();
    for p in 0..PROCESSES {
        let args = ExecutorArgs {
            url: url.clone(),
            executor: format!("executor-{p}"),
            log: dir.path().join(format!("executor-{p}.log")),
            concurrency: CONCURRENCY,
            worker_concurrency: WORKER_CONCURRENCY,
            work_ms: 1,
        };
        logs.push(args.log.clone());
        let child = tokio::process::Command::new(&campaign.exe)
            .arg("executor")
            .args(args.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", campaign.exe.display()));
        children.push(child);
    }
    // Sample the queue's PENDING count while the executors run.
    let (mut samples, mut max_pending, mut over) = (0u64, 0usize, 0u64);
    let deadline = Instant::now() + CHILD_BOUND;
    let mut statuses = [None; PROCESSES];
    while statuses.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "the executors did not finish within {CHILD_BOUND:?}"
        );
        let query = ListWorkflowsQuery::new()
            .status(vec![WorkflowStatus::Pending])
            .queue_name([QUEUE]);
        if let Ok(rows) = store.list_workflows(query).await {
            samples += 1;
            max_pending = max_pending.max(rows.len());
            if rows.len() > CONCURRENCY as usize {
                over += 1;
            }
        }
        for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait().expect("poll an executor");
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (p, status) in statuses.iter().enumerate() {
        let status = status.expect("every executor ended");
        assert!(status.success(), "executor {p} failed: {status}");
    }
    report.limit_violations += over;

    verify(
        store.as_ref(),
        &ids,
        &logs,
        CONCURRENCY,
        WORKER_CONCURRENCY,
        &mut report,
    )
    .await;
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
        "{PROCESSES} executor processes, global concurrency {CONCURRENCY}, worker concurrency \
         {WORKER_CONCURRENCY}"
    ));
    report.notes.push(format!(
        "{samples} samples of the queue's PENDING count, the highest {max_pending} (limit \
         {CONCURRENCY})"
    ));
    report.elapsed = started.elapsed();
    report
}

/// Reads the executors' logs and the database back.
async fn verify(
    store: &dyn CampaignStore,
    ids: &[String],
    logs: &[PathBuf],
    concurrency: u32,
    worker_concurrency: u32,
    report: &mut CampaignReport,
) {
    let mut claims: HashMap<String, u64> = HashMap::new();
    let mut done: HashMap<String, u64> = HashMap::new();
    let mut all_intervals: Vec<(u128, u128)> = Vec::new();
    let mut most_per_process = 0;
    for path in logs {
        let (intervals, process_claims, process_done) = read_log(path, report);
        for id in process_claims {
            *claims.entry(id).or_default() += 1;
        }
        for id in process_done {
            *done.entry(id).or_default() += 1;
        }
        let per_process = max_overlap(&intervals);
        most_per_process = most_per_process.max(per_process);
        if per_process > worker_concurrency as usize {
            report.limit_violations += 1;
            report.problem(format!(
                "{} ran {per_process} workflows at once (worker concurrency {worker_concurrency})",
                path.display()
            ));
        }
        all_intervals.extend(intervals);
    }
    let most = max_overlap(&all_intervals);
    if most > concurrency as usize {
        report.limit_violations += 1;
        report.problem(format!(
            "{most} workflows ran at once (global concurrency {concurrency})"
        ));
    }

    let mut rows = Vec::new();
    for chunk in ids.chunks(1000) {
        rows.extend(
            store
                .get_workflows(chunk)
                .await
                .unwrap_or_else(|e| panic!("read the workflows back: {e}")),
        );
    }
    let rows: HashMap<String, (WorkflowStatus, i64)> = rows
        .into_iter()
        .map(|w| (w.workflow_id, (w.status, w.recovery_attempts)))
        .collect();
    let mut acknowledged = 0;
    let mut found = 0;
    for id in ids {
        // The enqueue.
        acknowledged += 1;
        let Some((status, attempts)) = rows.get(id) else {
            report.problem(format!("the enqueued workflow {id} is missing"));
            continue;
        };
        found += 1;
        let claimed = claims.get(id).copied().unwrap_or(0);
        if claimed > 1 || *attempts > 1 {
            report.duplicate_claims += claimed.max(*attempts as u64) - 1;
            report.problem(format!(
                "{id} claimed {claimed} times by the executors, {attempts} in the database"
            ));
        }
        // The claim and the outcome.
        acknowledged += claimed.min(1) + done.get(id).copied().unwrap_or(0).min(1);
        if claimed > 0 && *attempts >= 1 {
            found += 1;
        }
        if done.contains_key(id) && *status == WorkflowStatus::Success {
            found += 1;
        }
        if *status != WorkflowStatus::Success {
            report.unfinished += 1;
            report.problem(format!("{id} ended {status:?}"));
        }
    }
    report.acknowledged = acknowledged;
    report.found = found;
    report.lost = acknowledged - found;
    report.notes.push(format!(
        "{} workflows claimed by {} processes; at most {most} ran at once (global limit \
         {concurrency}) and at most {most_per_process} in one process (worker limit \
         {worker_concurrency}), from the logged claim-to-finish intervals",
        claims.len(),
        logs.len()
    ));
}

/// One executor log: its claim-to-finish intervals, the ids it claimed and those it finished;
/// `error` lines are added to the report's errors.
fn read_log(
    path: &Path,
    report: &mut CampaignReport,
) -> (Vec<(u128, u128)>, Vec<String>, Vec<String>) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut started: HashMap<String, u128> = HashMap::new();
    let mut intervals = Vec::new();
    let mut claimed = Vec::new();
    let mut finished = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["claim", id, at] => {
                started.insert((*id).to_owned(), at.parse().unwrap_or(0));
                claimed.push((*id).to_owned());
            }
            ["done", id, at] => {
                let end: u128 = at.parse().unwrap_or(0);
                if let Some(start) = started.get(*id) {
                    intervals.push((*start, end));
                }
                finished.push((*id).to_owned());
            }
            ["error", kind, n] => report.count_error(kind, n.parse().unwrap_or(0)),
            ["over-worker-limit"] => {
                report.limit_violations += 1;
                report.problem(format!("{} ran more than its worker limit", path.display()));
            }
            _ => report.problem(format!("unreadable line {line:?} in {}", path.display())),
        }
    }
    (intervals, claimed, finished)
}

/// The most intervals that contain one instant (an interval ending when another starts does
/// not overlap it).
fn max_overlap(intervals: &[(u128, u128)]) -> usize {
    let mut events: Vec<(u128, i32)> = Vec::with_capacity(intervals.len() * 2);
    for (start, end) in intervals {
        events.push((*start, 1));
        events.push((*end, -1));
    }
    // Ends before starts at the same instant.
    events.sort_unstable();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    most.max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::max_overlap;

    #[test]
    fn overlaps_are_counted_at_their_peak() {
        assert_eq!(max_overlap(&[]), 0);
        assert_eq!(max_overlap(&[(1, 5), (2, 6), (3, 4)]), 3);
        assert_eq!(max_overlap(&[(1, 2), (2, 3), (3, 4)]), 1);
        assert_eq!(max_overlap(&[(1, 10), (2, 3), (4, 5)]), 2);
    }
}
