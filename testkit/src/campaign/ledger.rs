//! The in-process workload of the server-crash and killed-connection scenarios, and the
//! ledger of what it was told succeeded.
//!
//! `tasks` concurrent tasks each run `units` units of work, alternating:
//!
//! * a direct start: insert a workflow (`PENDING`, owned by its creator token), send it one
//!   message with an idempotency key, checkpoint `steps` steps, record its outcome;
//! * a queue unit: enqueue three workflows, claim up to three from the shared queue (any
//!   task's), and run each claimed one (steps and outcome, under the claim's token).
//!
//! A step runs the way a durable runtime runs it: `check_step`; if nothing is recorded,
//! *execute* (counted), then `record_step` with a completion time unique to the attempt. A
//! call that fails is tried again (after the store's own retries): a step whose record may or
//! may not have applied is checked again first, so it is executed again only when its record
//! did not apply. Executing a step whose checkpoint was acknowledged is a duplicate execution.
//!
//! Every call is bounded by the hang bound; every success is written down. [`Ledger::drain`]
//! then finishes what the faults left: workflows orphaned by a claim whose outcome the caller
//! never heard are recovered (re-enqueued and claimed again, as DBOS recovery does) and every
//! workflow still enqueued is claimed and run. [`Ledger::verify`] reads the database back
//! with a connection of its own and fills a [`CampaignReport`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbos_storage_core::messages::message_uuid;
use dbos_storage_core::{
    ClaimRequest, Error, ErrorKind, InsertOptions, NewWorkflow, Outcome, OutgoingMessage, Payload,
    QueueLimits, SendOptions, StepRecord,
};

use super::{describe, is_connection_class, is_transient, CampaignReport, CampaignStore};

/// The queue of the queue units.
const QUEUE: &str = "campaign";
/// Workflows per queue unit.
const BATCH: usize = 3;
/// Claim polls per queue unit before it gives up (the drain claims what is left).
const CLAIM_POLLS: usize = 20;
/// Pause before trying a failed call again.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How much work the ledger workload does.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Concurrent tasks.
    pub(super) tasks: usize,
    /// Units of work per task.
    pub(super) units: usize,
    /// Steps per workflow.
    pub(super) steps: i32,
}

impl Plan {
    /// About how many operations the plan acknowledges when nothing fails.
    pub(super) fn expected_acks(&self) -> u64 {
        let steps = self.steps as u64;
        let direct = 3 + steps;
        let queued = BATCH as u64 * (2 + steps + 1);
        let units = (self.tasks * self.units) as u64;
        units.div_ceil(2) * direct + (units / 2) * queued
    }
}

/// A call that failed while the server was away (or had just gone).
#[derive(Debug, Clone)]
pub(super) struct DownError {
    /// Its kind.
    pub(super) kind: ErrorKind,
    /// Its message with causes.
    pub(super) text: String,
    /// Whether it names its cause (see [`names_cause`]).
    pub(super) names_cause: bool,
    /// How long the call took.
    pub(super) took: Duration,
}

/// Whether an error says why it happened: it carries the driver's error as its source, or (a
/// pool checkout that timed out) its message names the last connection error.
fn names_cause(error: &Error) -> bool {
    use std::error::Error as _;
    error.source().is_some() || error.message().contains("last connection error")
}

/// The workload's state and everything it was told.
#[derive(Debug)]
pub(super) struct Ledger {
    prefix: String,
    plan: Plan,
    hang_bound: Duration,
    down: AtomicBool,
    clock: AtomicI64,
    acked: AtomicU64,
    executors: Vec<String>,
    inserted: Mutex<Vec<String>>,
    enqueued: Mutex<Vec<String>>,
    steps: Mutex<HashMap<(String, i32), i64>>,
    outcomes: Mutex<Vec<String>>,
    claims: Mutex<Vec<(String, Vec<String>)>>,
    unknown_claims: AtomicU64,
    recovered: Mutex<Vec<String>>,
    sent: Mutex<Vec<String>>,
    executions: Mutex<HashMap<(String, i32), u32>>,
    duplicate_executions: AtomicU64,
    reexecuted: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    down_errors: Mutex<Vec<DownError>>,
    unexpected: Mutex<Vec<String>>,
    hung: AtomicU64,
}

impl Ledger {
    /// A ledger for `plan`, naming its workflows `{prefix}-…`.
    pub(super) fn new(prefix: &str, plan: Plan, hang_bound: Duration) -> Arc<Ledger> {
        let base = dbos_storage_core::now_epoch_ms();
        Arc::new(Ledger {
            prefix: prefix.to_owned(),
            plan,
            hang_bound,
            down: AtomicBool::new(false),
            clock: AtomicI64::new(base),
            acked: AtomicU64::new(0),
            executors: (0..plan.tasks)
                .map(|k| format!("{prefix}-exec-{k}"))
                .collect(),
            inserted: Mutex::default(),
            enqueued: Mutex::default(),
            steps: Mutex::default(),
            outcomes: Mutex::default(),
            claims: Mutex::default(),
            unknown_claims: AtomicU64::new(0),
            recovered: Mutex::default(),
            sent: Mutex::default(),
            executions: Mutex::default(),
            duplicate_executions: AtomicU64::new(0),
            reexecuted: AtomicU64::new(0),
            errors: Mutex::default(),
            down_errors: Mutex::default(),
            unexpected: Mutex::default(),
            hung: AtomicU64::new(0),
        })
    }

    /// Marks the server as away (calls failing now are checked as outage errors) or back.
    pub(super) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Operations acknowledged so far.
    pub(super) fn acknowledged(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// The errors of calls that failed while the server was away.
    pub(super) fn down_errors(&self) -> Vec<DownError> {
        self.down_errors.lock().unwrap().clone()
    }

    fn ack(&self, n: usize) {
        self.acked.fetch_add(n as u64, Ordering::SeqCst);
    }

    /// Runs `call` under the hang bound, writing down a failure. A hung call is
    /// [`ErrorKind::Timeout`] to the caller.
    async fn call<T, F>(&self, call: F) -> std::result::Result<T, ErrorKind>
    where
        F: Future<Output = dbos_storage_core::Result<T>>,
    {
        let down_at_start = self.down.load(Ordering::SeqCst);
        let started = Instant::now();
        let result = tokio::time::timeout(self.hang_bound, call).await;
        let took = started.elapsed();
        let error = match result {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            Err(_) => {
                self.hung.fetch_add(1, Ordering::SeqCst);
                *self
                    .errors
                    .lock()
                    .unwrap()
                    .entry("hung".into())
                    .or_default() += 1;
                return Err(ErrorKind::Timeout);
            }
        };
        let kind = error.kind();
        *self
            .errors
            .lock()
            .unwrap()
            .entry(kind.to_string())
            .or_default() += 1;
        if down_at_start || self.down.load(Ordering::SeqCst) {
            self.down_errors.lock().unwrap().push(DownError {
                kind,
                text: describe(&error),
                names_cause: names_cause(&error),
                took,
            });
        } else if !is_transient(kind) {
            let mut unexpected = self.unexpected.lock().unwrap();
            if unexpected.len() < 20 {
                unexpected.push(describe(&error));
            }
        }
        Err(kind)
    }

    /// Runs every task of the plan to its end.
    pub(super) async fn run(self: &Arc<Self>, store: Arc<dyn CampaignStore>) {
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..self.plan.tasks {
            let ledger = Arc::clone(self);
            let store = Arc::clone(&store);
            tasks.spawn(async move { ledger.task(store.as_ref(), k).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a workload task panicked");
        }
    }

    async fn task(&self, store: &dyn CampaignStore, k: usize) {
        for n in 0..self.plan.units {
            if n % 2 == 0 {
                self.direct_unit(store, k, n).await;
            } else {
                self.queue_unit(store, k, n).await;
            }
        }
    }

    async fn direct_unit(&self, store: &dyn CampaignStore, k: usize, n: usize) {
        let id = format!("{}-d{k}-{n}", self.prefix);
        let workflow = NewWorkflow::new(id.as_str(), "campaign_direct", inputs(&id))
            .with_executor(self.executors[k].as_str())
            .with_application_version(super::VERSION);
        let owner = workflow.creator_xid.clone();
        loop {
            let insert = store.insert_workflow(workflow.clone(), InsertOptions::default());
            match self.call(insert).await {
                Ok(outcome) if outcome.should_execute => break,
                Ok(outcome) => {
                    self.note_unexpected(format!("{id}: its own start says {outcome:?}"));
                    return;
                }
                Err(kind) if is_transient(kind) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(_) => return,
            }
        }
        self.inserted.lock().unwrap().push(id.clone());
        self.ack(1);

        let key = format!("{id}-hello");
        let message = OutgoingMessage::new(id.as_str(), Some("campaign"), inputs(&id))
            .with_idempotency_key(key.as_str());
        loop {
            let send = store.send_messages(vec![message.clone()], None, SendOptions::default());
            match self.call(send).await {
                Ok(_) => break,
                Err(kind) if is_transient(kind) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(_) => return,
            }
        }
        self.sent.lock().unwrap().push(message_uuid(&key, &id));
        self.ack(1);

        self.run_workflow(store, &id, &owner).await;
    }

    async fn queue_unit(&self, store: &dyn CampaignStore, k: usize, n: usize) {
        let ids: Vec<String> = (0..BATCH)
            .map(|i| format!("{}-q{k}-{n}-{i}", self.prefix))
            .collect();
        let batch: Vec<NewWorkflow> = ids
            .iter()
            .map(|id| NewWorkflow::new(id.as_str(), "campaign_queued", inputs(id)).enqueued(QUEUE))
            .collect();
        loop {
            match self.call(store.enqueue_workflows(batch.clone())).await {
                Ok(_) => break,
                Err(kind) if is_transient(kind) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(_) => return,
            }
        }
        self.enqueued.lock().unwrap().extend(ids.iter().cloned());
        self.ack(ids.len());

        for poll in 0..CLAIM_POLLS {
            // Alternate a plain claim (READ COMMITTED, SKIP LOCKED) and one under a shared
            // budget (REPEATABLE READ, NOWAIT).
            let limits = if poll % 2 == 0 {
                QueueLimits::new()
            } else {
                QueueLimits::new().concurrency(100_000)
            };
            let request = ClaimRequest::new(QUEUE, self.executors[k].as_str(), super::VERSION)
                .limits(limits)
                .max_tasks(BATCH as u32);
            if let Some((token, claimed)) = self.claim(store, request).await {
                for id in &claimed {
                    self.run_workflow(store, id, &token).await;
                }
                break;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// One claim; `None` when it failed (an unknown outcome is counted).
    async fn claim(
        &self,
        store: &dyn CampaignStore,
        request: ClaimRequest,
    ) -> Option<(String, Vec<String>)> {
        let token = request.owner_xid.clone();
        match self.call(store.claim_workflows(request)).await {
            Ok(outcome) => {
                self.ack(outcome.claimed.len());
                self.claims
                    .lock()
                    .unwrap()
                    .push((token.clone(), outcome.claimed.clone()));
                Some((token, outcome.claimed))
            }
            Err(ErrorKind::ConnectionLost | ErrorKind::AmbiguousCommit | ErrorKind::Timeout) => {
                // It may have claimed rows nobody will hear of: the drain recovers them.
                self.unknown_claims.fetch_add(1, Ordering::SeqCst);
                None
            }
            Err(_) => None,
        }
    }

    /// Checkpoints every step of `id` and records its outcome, as the owner `owner`.
    async fn run_workflow(&self, store: &dyn CampaignStore, id: &str, owner: &str) {
        for function_id in 1..=self.plan.steps {
            if !self.run_step(store, id, function_id, owner).await {
                return;
            }
        }
        let output = Outcome::Output(Payload::portable_json(format!("\"{id} done\"")));
        loop {
            let record = store.record_outcome(id, output.clone(), Some(owner));
            match self.call(record).await {
                Ok(_) => break,
                Err(kind) if is_transient(kind) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(_) => return,
            }
        }
        self.outcomes.lock().unwrap().push(id.to_owned());
        self.ack(1);
    }

    /// Runs one step to its checkpoint; false when the workflow must stop (an error that no
    /// retry fixes).
    async fn run_step(
        &self,
        store: &dyn CampaignStore,
        id: &str,
        function_id: i32,
        owner: &str,
    ) -> bool {
        let name = format!("step{function_id}");
        let key = (id.to_owned(), function_id);
        loop {
            match self.call(store.check_step(id, function_id, &name)).await {
                Ok(Some(_)) => return true,
                Ok(None) => {}
                Err(kind) if is_transient(kind) => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                Err(_) => return false,
            }
            // Execute the step.
            {
                let mut executions = self.executions.lock().unwrap();
                let count = executions.entry(key.clone()).or_default();
                *count += 1;
                if *count > 1 {
                    self.reexecuted.fetch_add(1, Ordering::SeqCst);
                }
            }
            if self.steps.lock().unwrap().contains_key(&key) {
                self.duplicate_executions.fetch_add(1, Ordering::SeqCst);
            }
            let completed_at = self.clock.fetch_add(1, Ordering::SeqCst);
            let record = StepRecord::output(
                id,
                function_id,
                name.as_str(),
                Payload::portable_json(completed_at.to_string()),
            )
            .with_times(Some(completed_at - 1), completed_at);
            match self.call(store.record_step(record, Some(owner))).await {
                Ok(()) => {
                    self.steps.lock().unwrap().insert(key, completed_at);
                    self.ack(1);
                    return true;
                }
                // The record may have applied: check again before executing again.
                Err(kind) if is_transient(kind) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(_) => return false,
            }
        }
    }

    fn note_unexpected(&self, text: String) {
        let mut unexpected = self.unexpected.lock().unwrap();
        if unexpected.len() < 20 {
            unexpected.push(text);
        }
    }

    /// Finishes what the faults left: recovers the workflows of unknown claims and runs every
    /// workflow still enqueued. Returns how many workflows were recovered.
    pub(super) async fn drain(&self, store: &dyn CampaignStore) -> usize {
        let mut recovered = 0;
        for executor in &self.executors {
            let pending = loop {
                let call = store.pending_workflows(executor, Some(super::VERSION), None);
                match self.call(call).await {
                    Ok(ids) => break ids,
                    Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
                }
            };
            if pending.is_empty() {
                continue;
            }
            let dead = [executor.clone()];
            let requeued = loop {
                match self
                    .call(store.reenqueue_for_recovery(&pending, &dead))
                    .await
                {
                    Ok(ids) => break ids,
                    Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
                }
            };
            recovered += requeued.len();
            self.recovered.lock().unwrap().extend(requeued);
        }
        let drainer = format!("{}-drain", self.prefix);
        let mut idle_polls = 0;
        while idle_polls < 3 {
            let request = ClaimRequest::new(QUEUE, drainer.as_str(), super::VERSION);
            match self.claim(store, request).await {
                Some((token, claimed)) if !claimed.is_empty() => {
                    idle_polls = 0;
                    for id in &claimed {
                        self.run_workflow(store, id, &token).await;
                    }
                }
                Some(_) => idle_polls += 1,
                None => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
        recovered
    }

    /// Reads the database back (schema `schema`, through `client`) and fills `report`.
    pub(super) async fn verify(
        &self,
        client: &tokio_postgres::Client,
        schema: &str,
        report: &mut CampaignReport,
    ) {
        let s = dbos_storage_core::url::quote_identifier(schema);
        let like = format!("{}-%", self.prefix);
        let rows = client
            .query(
                &format!(
                    "SELECT workflow_uuid, status, recovery_attempts FROM {s}.workflow_status \
                     WHERE workflow_uuid LIKE $1"
                ),
                &[&like],
            )
            .await
            .expect("read the workflows back");
        let workflows: HashMap<String, (String, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    (r.get(1), r.get::<_, Option<i64>>(2).unwrap_or(0)),
                )
            })
            .collect();
        let rows = client
            .query(
                &format!(
                    "SELECT workflow_uuid, function_id, completed_at_epoch_ms FROM \
                     {s}.operation_outputs WHERE workflow_uuid LIKE $1"
                ),
                &[&like],
            )
            .await
            .expect("read the steps back");
        let mut steps: HashMap<(String, i32), Vec<Option<i64>>> = HashMap::new();
        for r in &rows {
            steps
                .entry((r.get(0), r.get(1)))
                .or_default()
                .push(r.get(2));
        }
        let rows = client
            .query(
                &format!(
                    "SELECT message_uuid, count(*) FROM {s}.notifications \
                     WHERE destination_uuid LIKE $1 GROUP BY message_uuid"
                ),
                &[&like],
            )
            .await
            .expect("read the messages back");
        let messages: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();

        let mut acknowledged = 0u64;
        let mut found = 0u64;
        // Starts and enqueues: the row exists.
        let inserted = self.inserted.lock().unwrap().clone();
        let enqueued = self.enqueued.lock().unwrap().clone();
        for id in inserted.iter().chain(&enqueued) {
            acknowledged += 1;
            if workflows.contains_key(id) {
                found += 1;
            } else {
                report.problem(format!("the acknowledged workflow {id} is missing"));
            }
        }
        // Steps: the row exists, once, with the acknowledged attempt's time.
        for ((id, function_id), completed_at) in self.steps.lock().unwrap().iter() {
            acknowledged += 1;
            match steps.get(&(id.clone(), *function_id)).map(Vec::as_slice) {
                Some([only]) if *only == Some(*completed_at) => found += 1,
                Some([only]) => {
                    found += 1;
                    report.duplicate_step_records += 1;
                    report.problem(format!(
                        "step {function_id} of {id}: acknowledged the attempt completed at \
                         {completed_at}, the database has {only:?}"
                    ));
                }
                Some(several) if !several.is_empty() => {
                    found += 1;
                    report.duplicate_step_records += several.len() as u64 - 1;
                    report.problem(format!("step {function_id} of {id} recorded {several:?}"));
                }
                _ => report.problem(format!(
                    "the acknowledged step {function_id} of {id} is missing"
                )),
            }
        }
        // Outcomes: the workflow succeeded.
        for id in self.outcomes.lock().unwrap().iter() {
            acknowledged += 1;
            match workflows.get(id) {
                Some((status, _)) if status == "SUCCESS" => found += 1,
                other => report.problem(format!(
                    "the acknowledged outcome of {id} is missing: {other:?}"
                )),
            }
        }
        // Claims: the workflow left the queue, and was claimed no more often than the claims
        // that took it (acknowledged ones, plus one unknown claim for a recovered workflow).
        let recovered: HashSet<String> = self.recovered.lock().unwrap().iter().cloned().collect();
        let mut claimed_by: HashMap<String, u64> = HashMap::new();
        for (_, ids) in self.claims.lock().unwrap().iter() {
            for id in ids {
                acknowledged += 1;
                *claimed_by.entry(id.clone()).or_default() += 1;
                match workflows.get(id) {
                    Some((status, attempts)) if status != "ENQUEUED" && *attempts >= 1 => {
                        found += 1
                    }
                    other => report.problem(format!(
                        "the acknowledged claim of {id} is missing: {other:?}"
                    )),
                }
            }
        }
        for (id, n) in &claimed_by {
            if *n > 1 {
                report.duplicate_claims += n - 1;
                report.problem(format!("{id} was returned by {n} claims"));
            }
        }
        for id in &enqueued {
            let claims =
                claimed_by.get(id).copied().unwrap_or(0) + u64::from(recovered.contains(id));
            if let Some((_, attempts)) = workflows.get(id) {
                if *attempts as u64 > claims {
                    report.duplicate_claims += *attempts as u64 - claims;
                    report.problem(format!(
                        "{id} counts {attempts} claims in the database, {claims} were made"
                    ));
                }
            }
        }
        // Messages: there, once.
        for uuid in self.sent.lock().unwrap().iter() {
            acknowledged += 1;
            match messages.get(uuid) {
                Some(1) => found += 1,
                Some(n) => {
                    found += 1;
                    report.problem(format!("message {uuid} is there {n} times"));
                }
                None => report.problem(format!("the acknowledged message {uuid} is missing")),
            }
        }
        // Every workflow finished.
        for (id, (status, _)) in &workflows {
            if status != "SUCCESS" {
                report.unfinished += 1;
                report.problem(format!("{id} ended {status}"));
            }
        }

        report.acknowledged = acknowledged;
        report.found = found;
        report.lost = acknowledged - found;
        report.duplicate_step_executions = self.duplicate_executions.load(Ordering::SeqCst);
        report.hung_calls = self.hung.load(Ordering::SeqCst);
        for (kind, n) in self.errors.lock().unwrap().iter() {
            report.count_error(kind, *n);
        }
        report
            .unexpected_errors
            .extend(self.unexpected.lock().unwrap().iter().cloned());
        let executed: u64 = self
            .executions
            .lock()
            .unwrap()
            .values()
            .map(|n| u64::from(*n))
            .sum();
        report.notes.push(format!(
            "{} workflows ({} started directly, {} enqueued); {} step executions, {} of them \
             re-runs of a step whose record had not applied; {} claims with an unknown outcome, \
             {} workflows recovered from them",
            workflows.len(),
            inserted.len(),
            enqueued.len(),
            executed,
            self.reexecuted.load(Ordering::SeqCst),
            self.unknown_claims.load(Ordering::SeqCst),
            recovered.len()
        ));
    }
}

/// A workflow's input.
fn inputs(id: &str) -> Payload {
    Payload::portable_json(format!("[\"{id}\"]"))
}

/// Whether an outage error is acceptable: a connection-class kind that names its cause.
pub(super) fn acceptable_outage_error(error: &DownError) -> bool {
    is_connection_class(error.kind) && error.names_cause
}

/// Whether an error is a conflict between the workload's own transactions (a claim under a
/// shared budget meeting another's lock, or a SERIALIZABLE transaction of the CockroachDB
/// dialect aborted): not caused by the fault, and retried by polling again.
pub(super) fn is_conflict(error: &DownError) -> bool {
    matches!(
        error.kind,
        ErrorKind::SerializationFailure | ErrorKind::Contention
    )
}
