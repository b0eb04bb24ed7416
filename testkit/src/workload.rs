//! A deterministic, seeded workload for fault-injection tests: a long sequence of inserts,
//! batch enqueues, step records, outcomes, cancels, resumes, claims and reads, run on the store
//! under test and on the reference [`MemoryStore`], whose final states must be equal.
//!
//! Unlike the model-based property (`state_machine` in the conformance suite), the workload is not shrunk and touches a
//! growing set of workflows (every insert makes a new one, most of the time), so that a run of
//! a few hundred operations exercises many rows. It is a pure function of its seed: the same
//! seed gives the same operations, with the same step times and claim tokens, whichever store
//! runs it.
//!
//! [`run_workload`] drives it the way an executor would: every operation but a claim must
//! succeed on the first call (the store is expected to retry transient errors itself, e.g. a
//! [`RetryingStore`](dbos_storage_core::RetryingStore)), while a claim that fails with a
//! transient error — contention, a serialization failure, a lost connection or an ambiguous
//! commit — is polled again with the same request, as the next poll of a queue runner would.
//! Re-polling with the same token is safe: a claim flips only `ENQUEUED` rows, so rows the
//! failed attempt may have claimed stay claimed once and the rest are taken now.
//!
//! ```no_run
//! # async fn example(store: &dyn dbos_storage_core::SystemStore) {
//! use dbos_storage_testkit::workload::{run_workload, Compare, Workload};
//!
//! let workload = Workload::generate(42, 300);
//! let run = run_workload(store, &workload, Compare::EveryResult).await;
//! println!("{} operations, {} claim re-polls", run.operations, run.claim_repolls);
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt::Debug;

use dbos_storage_core::{
    CancelOptions, ClaimOutcome, ClaimRequest, ErrorKind, IdReusePolicy, InsertOptions,
    NewWorkflow, Outcome, Payload, ResumeOptions, StepRecord, SystemStore,
};

use dbos_storage_conformance::normalize::{normalize_workflow, Snapshot};
use dbos_storage_conformance::MemoryStore;

/// The queues of the workload.
const QUEUES: [&str; 2] = ["wq0", "wq1"];
/// The executors that claim.
const EXECUTORS: [&str; 3] = ["exec-0", "exec-1", "exec-2"];
/// The application version of every claim (no version is registered, so it may run
/// version-less rows).
const VERSION: &str = "v1";
/// Step positions used per workflow.
const MAX_STEP: i32 = 6;
/// The first step time; later ones count up from it.
const FIRST_TIME: i64 = 1_700_000_000_000;
/// How often one claim is polled again before the run gives up.
const MAX_CLAIM_POLLS: usize = 1_000;

/// One operation of a [`Workload`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WorkloadOp {
    /// `insert_workflow` with [`IdReusePolicy::Attach`]: a direct start (`PENDING`) without a
    /// queue, else an enqueue on `queue`. The id may exist already (an attach).
    Insert {
        /// The workflow.
        workflow_id: String,
        /// The workflow function.
        name: String,
        /// The queue to enqueue on, or a direct start.
        queue: Option<String>,
        /// The creator token.
        creator: String,
    },
    /// `enqueue_workflows` of new ids on one queue.
    Enqueue {
        /// The workflows, in order.
        workflow_ids: Vec<String>,
        /// The queue.
        queue: String,
    },
    /// `record_step` without an owner check. `completed_at` is either the time an earlier
    /// record at this position used (a retry of it, which succeeds) or a new one (a rival,
    /// which conflicts when the position is taken).
    RecordStep {
        /// The workflow (always one that exists).
        workflow_id: String,
        /// The position.
        function_id: i32,
        /// The completion time, identifying the attempt.
        completed_at: i64,
        /// An error outcome instead of an output.
        error: bool,
    },
    /// `record_outcome`.
    RecordOutcome {
        /// The workflow.
        workflow_id: String,
        /// The owner token to check, if any (a claim's token, or one nobody holds).
        owner: Option<String>,
        /// An error outcome instead of an output.
        error: bool,
        /// Distinguishes outcomes.
        value: u32,
    },
    /// `cancel_workflows` without children.
    Cancel {
        /// The workflows.
        workflow_ids: Vec<String>,
    },
    /// `resume_workflows` onto a queue.
    Resume {
        /// The workflows (all exist).
        workflow_ids: Vec<String>,
        /// The queue.
        queue: String,
    },
    /// `claim_workflows` of everything claimable in a queue (no limits, no cap), with a token
    /// fixed by the workload.
    Claim {
        /// The queue.
        queue: String,
        /// The executor.
        executor: String,
        /// The owner token written to claimed rows.
        owner: String,
    },
    /// `check_step` (a read).
    CheckStep {
        /// The workflow.
        workflow_id: String,
        /// The position.
        function_id: i32,
    },
    /// `get_workflows` (a read).
    Get {
        /// The workflows.
        workflow_ids: Vec<String>,
    },
}

impl WorkloadOp {
    /// Whether this is a claim, the one operation that is not idempotent.
    pub fn is_claim(&self) -> bool {
        matches!(self, WorkloadOp::Claim { .. })
    }

    /// The claim request of a [`WorkloadOp::Claim`]: every claimable row of the queue, by the
    /// executor at version `v1`, with the workload's token.
    pub fn claim_request(&self) -> Option<ClaimRequest> {
        match self {
            WorkloadOp::Claim {
                queue,
                executor,
                owner,
            } => {
                let mut request = ClaimRequest::new(queue.as_str(), executor.as_str(), VERSION);
                request.owner_xid = owner.clone();
                Some(request)
            }
            _ => None,
        }
    }
}

/// A seeded sequence of [`WorkloadOp`]s and the ids of every workflow it touches.
#[derive(Debug, Clone)]
pub struct Workload {
    seed: u64,
    ops: Vec<WorkloadOp>,
    workflow_ids: Vec<String>,
}

impl Workload {
    /// `len` operations from `seed`, claims included.
    pub fn generate(seed: u64, len: usize) -> Self {
        Generator::new(seed, true).run(len)
    }

    /// `len` operations from `seed` without claims: every operation is idempotent, so a store
    /// that re-runs each one after an ambiguous commit must end in the reference's state.
    pub fn generate_idempotent(seed: u64, len: usize) -> Self {
        Generator::new(seed, false).run(len)
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[WorkloadOp] {
        &self.ops
    }

    /// Every workflow id the operations create, in creation order.
    pub fn workflow_ids(&self) -> &[String] {
        &self.workflow_ids
    }

    /// How many operations are claims.
    pub fn claims(&self) -> usize {
        self.ops.iter().filter(|op| op.is_claim()).count()
    }
}

/// SplitMix64: a small, good-enough generator that needs no dependency and is stable across
/// versions (the workload of a seed never changes).
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    /// One of `items` (not empty).
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Builds a workload, tracking what generation needs: the workflows that exist, the step times
/// used per position, and the claim tokens handed out.
struct Generator {
    seed: u64,
    rng: SplitMix,
    claims: bool,
    ids: Vec<String>,
    step_times: BTreeMap<(usize, i32), i64>,
    next_time: i64,
    tokens: Vec<String>,
    ops: Vec<WorkloadOp>,
}

impl Generator {
    fn new(seed: u64, claims: bool) -> Self {
        Generator {
            seed,
            rng: SplitMix(seed),
            claims,
            ids: Vec::new(),
            step_times: BTreeMap::new(),
            next_time: FIRST_TIME,
            tokens: Vec::new(),
            ops: Vec::new(),
        }
    }

    fn run(mut self, len: usize) -> Workload {
        while self.ops.len() < len {
            let op = self.one();
            self.ops.push(op);
        }
        Workload {
            seed: self.seed,
            ops: self.ops,
            workflow_ids: self.ids,
        }
    }

    fn new_id(&mut self) -> String {
        let id = format!("wl{}-{:04}", self.seed, self.ids.len());
        self.ids.push(id.clone());
        id
    }

    fn queue(&mut self) -> String {
        (*self.rng.pick(&QUEUES)).to_owned()
    }

    /// An existing workflow's index (there is at least one).
    fn existing(&mut self) -> usize {
        self.rng.below(self.ids.len())
    }

    /// One or two existing workflows.
    fn some_existing(&mut self) -> Vec<String> {
        let n = 1 + self.rng.below(2);
        (0..n)
            .map(|_| {
                let i = self.existing();
                self.ids[i].clone()
            })
            .collect()
    }

    fn one(&mut self) -> WorkloadOp {
        if self.ids.is_empty() {
            return self.insert(false);
        }
        // Weights: inserts 25, enqueues 6, steps 22, outcomes 10, cancels 5, resumes 5,
        // claims 10 (when enabled), reads 9.
        let claim_weight = if self.claims { 10 } else { 0 };
        let mut roll = self.rng.below(82 + claim_weight);
        let mut take = |w: usize| {
            if roll < w {
                true
            } else {
                roll -= w;
                false
            }
        };
        if take(22) {
            self.insert(false)
        } else if take(3) {
            self.insert(true)
        } else if take(6) {
            self.enqueue()
        } else if take(22) {
            self.record_step()
        } else if take(10) {
            self.record_outcome()
        } else if take(5) {
            WorkloadOp::Cancel {
                workflow_ids: self.some_existing(),
            }
        } else if take(5) {
            WorkloadOp::Resume {
                workflow_ids: self.some_existing(),
                queue: self.queue(),
            }
        } else if take(5) {
            let i = self.existing();
            WorkloadOp::CheckStep {
                workflow_id: self.ids[i].clone(),
                function_id: 1 + self.rng.below(MAX_STEP as usize) as i32,
            }
        } else if take(4) {
            WorkloadOp::Get {
                workflow_ids: self.some_existing(),
            }
        } else {
            let owner = format!("claim{}-{}", self.seed, self.tokens.len());
            self.tokens.push(owner.clone());
            WorkloadOp::Claim {
                queue: self.queue(),
                executor: (*self.rng.pick(&EXECUTORS)).to_owned(),
                owner,
            }
        }
    }

    fn insert(&mut self, existing: bool) -> WorkloadOp {
        let workflow_id = if existing {
            let i = self.existing();
            self.ids[i].clone()
        } else {
            self.new_id()
        };
        // Half direct starts, half enqueues.
        let queue = self.rng.coin().then(|| self.queue());
        WorkloadOp::Insert {
            workflow_id,
            name: (*self.rng.pick(&["f", "g"])).to_owned(),
            queue,
            creator: format!("creator-{}", self.rng.below(3)),
        }
    }

    fn enqueue(&mut self) -> WorkloadOp {
        let n = 1 + self.rng.below(4);
        let workflow_ids = (0..n).map(|_| self.new_id()).collect();
        WorkloadOp::Enqueue {
            workflow_ids,
            queue: self.queue(),
        }
    }

    fn record_step(&mut self) -> WorkloadOp {
        let wf = self.existing();
        let function_id = 1 + self.rng.below(MAX_STEP as usize) as i32;
        self.next_time += 1;
        let fresh = self.next_time;
        let earlier = self.step_times.get(&(wf, function_id)).copied();
        let completed_at = match earlier {
            Some(t) if self.rng.below(3) > 0 => t,
            _ => fresh,
        };
        self.step_times
            .entry((wf, function_id))
            .or_insert(completed_at);
        WorkloadOp::RecordStep {
            workflow_id: self.ids[wf].clone(),
            function_id,
            completed_at,
            error: self.rng.below(4) == 0,
        }
    }

    fn record_outcome(&mut self) -> WorkloadOp {
        let wf = self.existing();
        let owner = match self.rng.below(4) {
            0 if !self.tokens.is_empty() => Some(self.rng.pick(&self.tokens).clone()),
            1 => Some("nobody".to_owned()),
            _ => None,
        };
        WorkloadOp::RecordOutcome {
            workflow_id: self.ids[wf].clone(),
            owner,
            error: self.rng.below(4) == 0,
            value: (self.rng.next() % 1000) as u32,
        }
    }
}

/// What [`run_workload`] compares besides the final state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compare {
    /// Every operation's result too (errors by kind, rows without times). Right when a failed
    /// attempt never applied (serialization failures, or ambiguous commits that did not commit):
    /// a retry then returns what a single clean call returns.
    EveryResult,
    /// Only the final state. Right when a commit that did apply may be reported as ambiguous: the
    /// retry of an idempotent operation then ends in the same state but may report it
    /// differently (a re-run `record_outcome` returns `false`, a re-run cancel no ids).
    FinalState,
}

/// Figures of a [`run_workload`] run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkloadRun {
    /// Operations run (each on both stores).
    pub operations: usize,
    /// Claim operations.
    pub claims: usize,
    /// Claims that failed with a transient error and were polled again, by error kind.
    pub claim_errors: BTreeMap<String, usize>,
    /// Claim re-polls in all.
    pub claim_repolls: usize,
    /// Workflows claimed by the store (claims' returned ids, over all polls).
    pub claimed: usize,
}

/// The error kinds a claim may fail with and be polled again.
fn repollable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Contention
            | ErrorKind::SerializationFailure
            | ErrorKind::ConnectionLost
            | ErrorKind::PoolExhausted
            | ErrorKind::AmbiguousCommit
    )
}

/// Runs `workload` on `store` and on a fresh reference [`MemoryStore`], operation by operation,
/// then compares the final states of every workflow the workload touched (rows, results, steps
/// with outputs, children), and with [`Compare::EveryResult`] each operation's result.
///
/// Every operation but a claim must succeed on its one call (a transient error reaching the
/// caller fails the run). A claim that fails with a transient error is polled again with the
/// same request, up to 1000 times; the reference claims once.
///
/// # Panics
/// When a result or the final state differs, when a non-claim operation fails with a transient
/// error, or when a claim never gets through. The message names the operation and both results.
pub async fn run_workload<S: SystemStore + ?Sized>(
    store: &S,
    workload: &Workload,
    compare: Compare,
) -> WorkloadRun {
    let reference = MemoryStore::migrated();
    let mut run = WorkloadRun::default();
    for (i, op) in workload.ops().iter().enumerate() {
        let want = run_op(&reference, op).await;
        let got = if let Some(request) = op.claim_request() {
            run.claims += 1;
            let mut polls = 0;
            loop {
                match store.claim_workflows(request.clone()).await {
                    Ok(outcome) => {
                        run.claimed += outcome.claimed.len();
                        break claim_observed(Ok(outcome));
                    }
                    Err(e) if repollable(e.kind()) && polls < MAX_CLAIM_POLLS => {
                        polls += 1;
                        run.claim_repolls += 1;
                        *run.claim_errors.entry(e.kind().to_string()).or_default() += 1;
                    }
                    Err(e) => break claim_observed(Err(e)),
                }
            }
        } else {
            run_op(store, op).await
        };
        run.operations += 1;
        if let Err(kind) = &got.0 {
            if repollable(*kind) || *kind == ErrorKind::Timeout {
                panic!(
                    "workload {} operation #{i} {op:?}: the {} store failed with a transient \
                     {kind} error that its retries should have absorbed (the reference gave {})",
                    workload.seed(),
                    store.backend(),
                    want.1
                );
            }
        }
        let agree = match compare {
            Compare::EveryResult => got.1 == want.1,
            // Errors that are no transient kind are part of the state's story: they must
            // agree even when results are not compared.
            Compare::FinalState => got.0.is_ok() == want.0.is_ok(),
        };
        if !agree {
            panic!(
                "workload {} operation #{i} {op:?}:\n  the {} store gave {}\n  the reference \
                 gave {}",
                workload.seed(),
                store.backend(),
                got.1,
                want.1
            );
        }
    }
    let ids = workload.workflow_ids();
    let got = Snapshot::take(store, ids).await;
    let want = Snapshot::take(&reference, ids).await;
    if got != want {
        panic!(
            "workload {}: after {} operations the {} store's state differs from the reference \
             model:\n  store:     {got:?}\n  reference: {want:?}",
            workload.seed(),
            run.operations,
            store.backend()
        );
    }
    run
}

/// An operation's result: its error kind, if any, and the whole normalized result as text.
type Observed = (Result<(), ErrorKind>, String);

fn observed<T: Debug>(result: dbos_storage_core::Result<T>) -> Observed {
    let result = result.map_err(|e| e.kind());
    let text = format!("{result:?}");
    (result.map(|_| ()), text)
}

fn claim_observed(result: dbos_storage_core::Result<ClaimOutcome>) -> Observed {
    observed(result.map(|mut outcome| {
        outcome.claimed.sort();
        outcome
    }))
}

fn outcome(error: bool, text: String) -> Outcome {
    let payload = Payload::portable_json(text);
    if error {
        Outcome::Error(payload)
    } else {
        Outcome::Output(payload)
    }
}

fn new_workflow(id: &str, name: &str) -> NewWorkflow {
    NewWorkflow::new(id, name, Payload::portable_json(format!("[\"{id}\"]")))
}

/// Runs one operation (a claim once, without re-polling).
async fn run_op<S: SystemStore + ?Sized>(store: &S, op: &WorkloadOp) -> Observed {
    match op {
        WorkloadOp::Insert {
            workflow_id,
            name,
            queue,
            creator,
        } => {
            let mut new = new_workflow(workflow_id, name).with_creator_xid(creator.as_str());
            if let Some(queue) = queue {
                new = new.enqueued(queue.as_str());
            }
            let options = InsertOptions::default().reuse_policy(IdReusePolicy::Attach);
            observed(store.insert_workflow(new, options).await)
        }
        WorkloadOp::Enqueue {
            workflow_ids,
            queue,
        } => {
            let batch = workflow_ids
                .iter()
                .map(|id| new_workflow(id, "f").enqueued(queue.as_str()))
                .collect();
            observed(store.enqueue_workflows(batch).await)
        }
        WorkloadOp::RecordStep {
            workflow_id,
            function_id,
            completed_at,
            error,
        } => {
            let step = StepRecord::with_outcome(
                workflow_id.as_str(),
                *function_id,
                format!("step{function_id}"),
                Some(outcome(*error, completed_at.to_string())),
            )
            .with_times(Some(*completed_at - 1), *completed_at);
            observed(store.record_step(step, None).await)
        }
        WorkloadOp::RecordOutcome {
            workflow_id,
            owner,
            error,
            value,
        } => observed(
            store
                .record_outcome(
                    workflow_id,
                    outcome(*error, value.to_string()),
                    owner.as_deref(),
                )
                .await,
        ),
        WorkloadOp::Cancel { workflow_ids } => observed(
            store
                .cancel_workflows(workflow_ids, CancelOptions::default())
                .await
                .map(sorted),
        ),
        WorkloadOp::Resume {
            workflow_ids,
            queue,
        } => observed(
            store
                .resume_workflows(
                    workflow_ids,
                    ResumeOptions::default().queue_name(queue.as_str()),
                )
                .await
                .map(sorted),
        ),
        WorkloadOp::Claim { .. } => {
            let request = op.claim_request().expect("a claim has a request");
            claim_observed(store.claim_workflows(request).await)
        }
        WorkloadOp::CheckStep {
            workflow_id,
            function_id,
        } => observed(
            store
                .check_step(workflow_id, *function_id, &format!("step{function_id}"))
                .await,
        ),
        WorkloadOp::Get { workflow_ids } => observed(
            store
                .get_workflows(workflow_ids)
                .await
                .map(|rows| rows.into_iter().map(normalize_workflow).collect::<Vec<_>>()),
        ),
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_conformance::runner::runtime;

    #[test]
    fn the_same_seed_gives_the_same_workload() {
        let a = Workload::generate(7, 200);
        let b = Workload::generate(7, 200);
        assert_eq!(a.ops(), b.ops());
        assert_ne!(a.ops(), Workload::generate(8, 200).ops());
        assert!(a.claims() > 0, "claims are generated");
        assert_eq!(Workload::generate_idempotent(7, 200).claims(), 0);
    }

    #[test]
    fn the_reference_agrees_with_itself() {
        runtime().block_on(async {
            let workload = Workload::generate(3, 400);
            let store = MemoryStore::migrated();
            let run = run_workload(&store, &workload, Compare::EveryResult).await;
            assert_eq!(run.operations, 400);
            assert_eq!(run.claim_repolls, 0);
            assert!(run.claimed > 0, "some claims take rows: {run:?}");
        });
    }
}
