//! Concurrency properties of [`QueueStore`]: many claimers race over one queue, workers finish
//! what they claimed while others claim, and the guarantees hold at every moment — no workflow
//! is claimed twice, no limit is ever exceeded, and recovery runs each workflow exactly once.
//!
//! Claimers treat retryable errors (`Contention`, `SerializationFailure`, …) as "another worker
//! is claiming" and try again at once, as an executor does at its next poll. Every loop gives up
//! after [`GIVE_UP`] so that a store that stops making progress fails instead of hanging.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dbos_storage_core::QueueStore;
use dbos_storage_core::{
    ClaimOutcome, ClaimRequest, ListWorkflowsQuery, NewWorkflow, QueueLimits, StopReason,
    SystemStore, WorkflowStatus,
};
use tokio::time::Instant;

use super::queues::{assert_windows_hold, claim_request, finish, in_partition, rows_with_status};
use crate::checks::*;
use crate::Factory;

/// How many claimers race in each property.
pub const CLAIMERS: usize = 8;

/// How long a racing loop may run before the property fails for lack of progress.
pub const GIVE_UP: Duration = Duration::from_secs(60);

/// Panics when a loop that started at `start` has run longer than [`GIVE_UP`].
fn still_in_time(start: Instant, what: &str) {
    assert!(
        start.elapsed() < GIVE_UP,
        "{what}: no end after {GIVE_UP:?}; the store stopped making progress"
    );
}

/// One claim: the outcome, or `None` after a retryable error (another worker was claiming).
async fn try_claim<S: QueueStore + ?Sized>(
    store: &S,
    request: ClaimRequest,
) -> Option<(ClaimOutcome, String)> {
    let token = request.owner_xid.clone();
    match store.claim_workflows(request).await {
        Ok(outcome) => Some((outcome, token)),
        Err(e) if e.is_retryable() => {
            tokio::time::sleep(Duration::from_millis(1)).await;
            None
        }
        Err(e) => panic!("a racing claim failed with a {} error: {e}", e.kind()),
    }
}

/// Enqueues `workflows` in one batch.
async fn enqueue_batch<S: QueueStore + ?Sized>(store: &S, workflows: Vec<NewWorkflow>) {
    let n = workflows.len();
    let inserted = ok(
        store.enqueue_workflows(workflows).await,
        "enqueue_workflows",
    );
    assert_eq!(inserted.len(), n, "every workflow of the batch is new");
}

/// `n` workflows on `queue`, ids `w0000`, `w0001`, …
fn numbered(queue: &str, n: usize) -> Vec<NewWorkflow> {
    (0..n)
        .map(|i| enqueued(&format!("w{i:04}"), queue))
        .collect()
}

/// Spawns every task and waits for all of them; a panicking task fails the property at once
/// with its own message.
async fn join_tasks<T: Send + 'static>(
    tasks: Vec<impl Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles = tasks.into_iter().map(tokio::spawn);
    match futures::future::try_join_all(handles).await {
        Ok(results) => results,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a racing task was cancelled: {e}"),
    }
}

/// Claims everything claimable as `executor` — after a race, what racing claimers may have left
/// (rows another claim had locked when each of them last looked) — and finishes it when `run`,
/// until the queue has nothing left to claim.
async fn drain<S: SystemStore + QueueStore + ?Sized>(
    store: &S,
    queue: &str,
    executor: &str,
    limits: QueueLimits,
    run: bool,
) -> Vec<String> {
    let start = Instant::now();
    let mut taken = Vec::new();
    loop {
        still_in_time(start, "drain");
        let Some((outcome, token)) =
            try_claim(store, claim_request(queue, executor).limits(limits)).await
        else {
            continue;
        };
        if outcome.claimed.is_empty() {
            if outcome.stop_reason.is_none() {
                return taken;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        if run {
            for id in &outcome.claimed {
                finish(store, id, &token).await;
            }
        }
        taken.extend(outcome.claimed);
    }
}

/// What a claimer of a queue with `concurrency = limit` does with a claim's `outcome`: samples the
/// queue's `PENDING` rows (recording the most seen in `most`) and asserts they are within the
/// limit, lets other claimers in, then finishes every claimed workflow with `token`. Returns the
/// claimed ids.
async fn run_within_concurrency<S: SystemStore + ?Sized>(
    store: &S,
    outcome: ClaimOutcome,
    token: &str,
    limit: u32,
    most: &AtomicUsize,
) -> Vec<String> {
    let pending = rows_with_status(store, "q", WorkflowStatus::Pending)
        .await
        .len();
    most.fetch_max(pending, Ordering::SeqCst);
    assert!(
        pending <= limit as usize,
        "{pending} workflows of a queue with concurrency {limit} are PENDING"
    );
    tokio::task::yield_now().await;
    for id in &outcome.claimed {
        finish(store, id, token).await;
    }
    outcome.claimed
}

/// Asserts that `claims` (one list per claimer) hold every id of `all` exactly once.
fn assert_each_once(claims: &[Vec<String>], all: &[String], what: &str) {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for id in claims.iter().flatten() {
        *count.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: claimed more than once: {twice:?}"
    );
    let missing: Vec<_> = all
        .iter()
        .filter(|id| !count.contains_key(id.as_str()))
        .collect();
    assert!(missing.is_empty(), "{what}: never claimed: {missing:?}");
    assert_eq!(
        count.len(),
        all.len(),
        "{what}: claimed ids that were not enqueued"
    );
}

/// Eight claimers drain 1200 workflows in claims of up to 16: no workflow is claimed twice,
/// every one is claimed, and each row is `PENDING`, stamped with the executor that reported it
/// and owned by that claim's token.
pub async fn claims_never_overlap<F: Factory>(factory: &F) {
    const N: usize = 1200;
    let store = Arc::new(factory.create().await);
    let workflows = numbered("q", N);
    let all: Vec<String> = workflows.iter().map(|w| w.workflow_id.clone()).collect();
    enqueue_batch(&*store, workflows).await;
    let start = Instant::now();
    let claimers = (0..CLAIMERS).map(|i| {
        let store = store.clone();
        async move {
            let executor = format!("claimer-{i}");
            let mut mine: Vec<(String, String)> = Vec::new();
            loop {
                still_in_time(start, "claims_never_overlap");
                let request = claim_request("q", &executor).max_tasks(16);
                let Some((outcome, token)) = try_claim(&*store, request).await else {
                    continue;
                };
                if outcome.claimed.is_empty() {
                    return (executor, mine);
                }
                mine.extend(outcome.claimed.into_iter().map(|id| (id, token.clone())));
            }
        }
    });
    let results = join_tasks(claimers.collect()).await;
    let leftovers = drain(&*store, "q", "sweeper", QueueLimits::new(), false).await;
    let mut claims: Vec<Vec<String>> = results
        .iter()
        .map(|(_, mine)| mine.iter().map(|(id, _)| id.clone()).collect())
        .collect();
    claims.push(leftovers.clone());
    assert_each_once(&claims, &all, "racing claims");

    let claimed_by: HashMap<&str, &str> = results
        .iter()
        .flat_map(|(executor, mine)| {
            mine.iter()
                .map(move |(id, _)| (id.as_str(), executor.as_str()))
        })
        .chain(leftovers.iter().map(|id| (id.as_str(), "sweeper")))
        .collect();
    let rows = ok(
        store
            .list_workflows(ListWorkflowsQuery::new().queue_name(["q"]))
            .await,
        "list the queue",
    );
    assert_eq!(rows.len(), N);
    for row in &rows {
        assert_eq!(row.status, WorkflowStatus::Pending, "{}", row.workflow_id);
        assert_eq!(
            row.executor_id.as_deref(),
            Some(claimed_by[row.workflow_id.as_str()]),
            "{} is stamped with the executor whose claim returned it",
            row.workflow_id
        );
    }
    // Ownership, on a sample: the claim's token owns the row.
    for (_, mine) in &results {
        for (id, token) in mine.iter().step_by(25) {
            finish(&*store, id, token).await;
        }
    }
    destroy_shared(factory, store).await;
}

/// Eight claimers race over a queue with `concurrency = 4` while each finishes what it
/// claimed: after every claim, the queue has at most 4 `PENDING` workflows, and all 300 run.
pub async fn concurrency_holds_under_racing_claims<F: Factory>(factory: &F) {
    const N: usize = 300;
    const LIMIT: u32 = 4;
    let store = Arc::new(factory.create().await);
    enqueue_batch(&*store, numbered("q", N)).await;
    let limits = QueueLimits::new().concurrency(LIMIT);
    let most = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let claimers = (0..CLAIMERS).map(|i| {
        let (store, most) = (store.clone(), most.clone());
        async move {
            let executor = format!("claimer-{i}");
            let mut ran = Vec::new();
            loop {
                still_in_time(start, "concurrency_holds_under_racing_claims");
                let request = claim_request("q", &executor).limits(limits).max_tasks(2);
                let Some((outcome, token)) = try_claim(&*store, request).await else {
                    continue;
                };
                match (outcome.claimed.is_empty(), outcome.stop_reason) {
                    (true, None) => return ran,
                    (true, Some(StopReason::Concurrency)) => {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    (true, Some(other)) => panic!("unexpected stop reason {other}"),
                    (false, _) => {}
                }
                let claimed = run_within_concurrency(&*store, outcome, &token, LIMIT, &most).await;
                ran.extend(claimed);
            }
        }
    });
    let mut claims = join_tasks(claimers.collect()).await;
    claims.push(drain(&*store, "q", "sweeper", limits, true).await);
    let all: Vec<String> = (0..N).map(|i| format!("w{i:04}")).collect();
    assert_each_once(&claims, &all, "claims under a concurrency limit");
    assert_eq!(
        rows_with_status(&*store, "q", WorkflowStatus::Success)
            .await
            .len(),
        N
    );
    assert!(most.load(Ordering::SeqCst) >= 1);
    destroy_shared(factory, store).await;
}

/// Eight claimers, each claiming in a partition of its own, race over a queue whose rows carry
/// partition keys and whose `concurrency = 4`: the limit is the queue's, across its partitions,
/// so after every claim the queue has at most 4 `PENDING` workflows, although no two claims ever
/// write the same rows. Each claim takes rows of its own partition only; a claim stopped by the
/// limit polls again, and one that had room and got nothing finds its partition without
/// `ENQUEUED` rows (nothing else holds them, so no retry may pass over them); every workflow is
/// claimed exactly once and runs.
pub async fn concurrency_holds_across_partitions<F: Factory>(factory: &F) {
    const PER_PARTITION: usize = 30;
    const LIMIT: u32 = 4;
    let store = Arc::new(factory.create().await);
    let mut workflows = Vec::new();
    for p in 0..CLAIMERS {
        for j in 0..PER_PARTITION {
            workflows.push(in_partition(&format!("p{p}-{j:02}"), "q", &format!("p{p}")));
        }
    }
    enqueue_batch(&*store, workflows).await;
    let limits = QueueLimits::new().concurrency(LIMIT);
    let most = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let claimers = (0..CLAIMERS).map(|i| {
        let (store, most) = (store.clone(), most.clone());
        async move {
            let executor = format!("claimer-{i}");
            let mut ran = Vec::new();
            loop {
                still_in_time(start, "concurrency_holds_across_partitions");
                let request = claim_request("q", &executor)
                    .limits(limits)
                    .partition(format!("p{i}"))
                    .max_tasks(2);
                let Some((outcome, token)) = try_claim(&*store, request).await else {
                    continue;
                };
                match (outcome.claimed.is_empty(), outcome.stop_reason) {
                    (true, None) => {
                        // Done when the partition has nothing left. No other claimer takes
                        // these rows and the queue had room (else the claim would have stopped
                        // on the concurrency limit), so an empty claim while they wait means
                        // the claim passed over rows nobody holds (a retried attempt that
                        // skipped the locks its failed attempt had not released yet, say).
                        let key = format!("p{i}");
                        let left = rows_with_status(&*store, "q", WorkflowStatus::Enqueued).await;
                        let waiting = left
                            .iter()
                            .filter(|r| r.queue_partition_key.as_deref() == Some(key.as_str()))
                            .count();
                        assert_eq!(
                            waiting, 0,
                            "a claim in partition {key}, with room in the queue, came back empty \
                             while {waiting} of its rows were ENQUEUED and no other claimer \
                             takes them"
                        );
                        return ran;
                    }
                    (true, Some(StopReason::Concurrency)) => {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    (true, Some(other)) => panic!("unexpected stop reason {other}"),
                    (false, _) => {}
                }
                let own = format!("p{i}-");
                assert!(
                    outcome.claimed.iter().all(|id| id.starts_with(&own)),
                    "a claim in partition p{i} took rows of another: {:?}",
                    outcome.claimed
                );
                let claimed = run_within_concurrency(&*store, outcome, &token, LIMIT, &most).await;
                ran.extend(claimed);
            }
        }
    });
    let claims = join_tasks(claimers.collect()).await;
    let all: Vec<String> = (0..CLAIMERS)
        .flat_map(|p| (0..PER_PARTITION).map(move |j| format!("p{p}-{j:02}")))
        .collect();
    assert_each_once(
        &claims,
        &all,
        "partitioned claims under a queue concurrency limit",
    );
    assert_eq!(
        rows_with_status(&*store, "q", WorkflowStatus::Success)
            .await
            .len(),
        all.len()
    );
    assert!(most.load(Ordering::SeqCst) >= 1);
    destroy_shared(factory, store).await;
}

/// Six claimers with `worker_concurrency = 3` each keep up to 3 workflows running (counted
/// locally, as an executor does) and finish one per round: a claim never takes more than the
/// claimer's room, the store shows exactly the claimer's running set as its `PENDING` rows, and
/// a full claimer is stopped with `WorkerConcurrency`.
pub async fn worker_concurrency_holds_per_claimer<F: Factory>(factory: &F) {
    const N: usize = 240;
    const LIMIT: u32 = 3;
    let store = Arc::new(factory.create().await);
    enqueue_batch(&*store, numbered("q", N)).await;
    let limits = QueueLimits::new().worker_concurrency(LIMIT);
    let start = Instant::now();
    let claimers = (0..6).map(|i| {
        let store = store.clone();
        async move {
            let executor = format!("claimer-{i}");
            let mut running: Vec<(String, String)> = Vec::new();
            let mut ran = Vec::new();
            loop {
                still_in_time(start, "worker_concurrency_holds_per_claimer");
                let local = u32::try_from(running.len()).unwrap_or(u32::MAX);
                let request = claim_request("q", &executor)
                    .limits(limits)
                    .running(local, 0)
                    .max_tasks(8);
                let Some((outcome, token)) = try_claim(&*store, request).await else {
                    continue;
                };
                if outcome.claimed.is_empty() {
                    match outcome.stop_reason {
                        Some(StopReason::WorkerConcurrency) => {
                            assert!(local >= LIMIT, "stopped with {local} of {LIMIT} running");
                        }
                        None if running.is_empty() => return ran,
                        None => {}
                        Some(other) => panic!("unexpected stop reason {other}"),
                    }
                } else {
                    running.extend(outcome.claimed.into_iter().map(|id| (id, token.clone())));
                }
                assert!(
                    running.len() <= LIMIT as usize,
                    "a claimer with worker_concurrency {LIMIT} runs {} workflows",
                    running.len()
                );
                let in_store = ok(
                    store
                        .list_workflows(
                            ListWorkflowsQuery::new()
                                .queue_name(["q"])
                                .status(vec![WorkflowStatus::Pending])
                                .executor_id([executor.as_str()]),
                        )
                        .await,
                    "list my PENDING rows",
                );
                assert_eq!(
                    sorted(in_store.iter().map(|r| r.workflow_id.clone()).collect()),
                    sorted(running.iter().map(|(id, _)| id.clone()).collect()),
                    "{executor}'s PENDING rows are exactly what it claimed and runs"
                );
                // Finish the oldest; keep the rest running, so local_running varies.
                if !running.is_empty() {
                    let (id, token) = running.remove(0);
                    finish(&*store, &id, &token).await;
                    ran.push(id);
                }
            }
        }
    });
    let mut claims = join_tasks(claimers.collect()).await;
    claims.push(drain(&*store, "q", "sweeper", QueueLimits::new(), true).await);
    let all: Vec<String> = (0..N).map(|i| format!("w{i:04}")).collect();
    assert_each_once(&claims, &all, "claims under a worker limit");
    destroy_shared(factory, store).await;
}

/// Six claimers race over a queue limited to 6 starts per second, finishing at once what they
/// claim: no window of one second ever holds more than 6 starts (by the rows' own
/// `started_at_epoch_ms`), and all 15 workflows run.
pub async fn rate_limit_holds_in_every_window<F: Factory>(factory: &F) {
    const N: usize = 15;
    const MAX: u32 = 6;
    let period = Duration::from_secs(1);
    let store = Arc::new(factory.create().await);
    enqueue_batch(&*store, numbered("q", N)).await;
    let limits = QueueLimits::new().rate_limit(MAX, period);
    let start = Instant::now();
    let claimers = (0..6).map(|i| {
        let store = store.clone();
        async move {
            let executor = format!("claimer-{i}");
            let mut ran = Vec::new();
            loop {
                still_in_time(start, "rate_limit_holds_in_every_window");
                let request = claim_request("q", &executor).limits(limits).max_tasks(4);
                let Some((outcome, token)) = try_claim(&*store, request).await else {
                    continue;
                };
                match (outcome.claimed.is_empty(), outcome.stop_reason) {
                    (true, None) => return ran,
                    (true, Some(StopReason::RateLimit)) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    (true, Some(other)) => panic!("unexpected stop reason {other}"),
                    (false, _) => {}
                }
                for id in &outcome.claimed {
                    finish(&*store, id, &token).await;
                }
                ran.extend(outcome.claimed);
            }
        }
    });
    let mut claims = join_tasks(claimers.collect()).await;
    claims.push(drain(&*store, "q", "sweeper", limits, true).await);
    let all: Vec<String> = (0..N).map(|i| format!("w{i:04}")).collect();
    assert_each_once(&claims, &all, "claims under a rate limit");
    let rows = ok(store.get_workflows(&all).await, "read the starts");
    assert_windows_hold(&rows, MAX as usize, period);
    destroy_shared(factory, store).await;
}

/// Eight claimers take the partitioned fast path over 40 single-flight partitions of 8
/// workflows: after every claim, no partition has more than one `PENDING` workflow, and each
/// partition runs its workflows one after the other in FIFO order.
pub async fn fast_path_keeps_one_per_partition<F: Factory>(factory: &F) {
    const PARTITIONS: usize = 40;
    const PER_PARTITION: usize = 8;
    const N: usize = PARTITIONS * PER_PARTITION;
    let store = Arc::new(factory.create().await);
    let mut workflows = Vec::new();
    for j in 0..PER_PARTITION {
        for p in 0..PARTITIONS {
            workflows.push(in_partition(
                &format!("p{p:02}-{j}"),
                "q",
                &format!("p{p:02}"),
            ));
        }
    }
    enqueue_batch(&*store, workflows).await;
    let single = QueueLimits::new().partition_concurrency(1);
    let done = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let claimers = (0..CLAIMERS).map(|i| {
        let (store, done, order) = (store.clone(), done.clone(), order.clone());
        async move {
            let executor = format!("claimer-{i}");
            while done.load(Ordering::SeqCst) < N {
                still_in_time(start, "fast_path_keeps_one_per_partition");
                let request = claim_request("q", &executor).limits(single).max_tasks(8);
                let Some((outcome, token)) = try_claim(&*store, request).await else {
                    continue;
                };
                if outcome.claimed.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                order
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(outcome.claimed.iter().cloned());
                let pending = rows_with_status(&*store, "q", WorkflowStatus::Pending).await;
                let mut per_partition: HashMap<String, usize> = HashMap::new();
                for row in &pending {
                    let key = row.queue_partition_key.clone().unwrap_or_default();
                    *per_partition.entry(key).or_default() += 1;
                }
                let crowded: Vec<_> = per_partition.iter().filter(|(_, n)| **n > 1).collect();
                assert!(
                    crowded.is_empty(),
                    "single-flight partitions with more than one PENDING workflow: {crowded:?}"
                );
                // "Run" them: let other claimers in before finishing.
                tokio::task::yield_now().await;
                for id in &outcome.claimed {
                    finish(&*store, id, &token).await;
                }
                done.fetch_add(outcome.claimed.len(), Ordering::SeqCst);
            }
        }
    });
    join_tasks(claimers.collect()).await;
    let order = order
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let all: Vec<String> = (0..PARTITIONS)
        .flat_map(|p| (0..PER_PARTITION).map(move |j| format!("p{p:02}-{j}")))
        .collect();
    assert_each_once(std::slice::from_ref(&order), &all, "fast-path claims");
    let mut per_partition: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in &order {
        per_partition.entry(&id[..3]).or_default().push(id);
    }
    for (partition, ran) in per_partition {
        let expected: Vec<String> = (0..PER_PARTITION)
            .map(|j| format!("{partition}-{j}"))
            .collect();
        assert_eq!(ran, expected, "partition {partition} runs in FIFO order");
    }
    destroy_shared(factory, store).await;
}

/// 200 workflows claimed by a dead executor are recovered by three racing recoverers while six
/// claimers take and run what comes back: each workflow is re-enqueued once, claimed once and
/// its outcome applies once; every one ends `SUCCESS` after two attempts.
pub async fn recovery_runs_each_workflow_once<F: Factory>(factory: &F) {
    const N: usize = 200;
    let store = Arc::new(factory.create().await);
    enqueue_batch(&*store, numbered("q", N)).await;
    let dead = drain(&*store, "q", "dead", QueueLimits::new(), false).await;
    assert_eq!(dead.len(), N);
    let all: Vec<String> = (0..N).map(|i| format!("w{i:04}")).collect();
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let recoverers = (0..3).map(|r| {
        let store = store.clone();
        let mut ids = all.clone();
        ids.rotate_left(r * N / 3);
        async move {
            let mut recovered = Vec::new();
            for chunk in ids.chunks(50) {
                loop {
                    still_in_time(start, "recovery");
                    match store
                        .reenqueue_for_recovery(chunk, &["dead".to_owned()])
                        .await
                    {
                        Ok(ids) => {
                            recovered.extend(ids);
                            break;
                        }
                        Err(e) if e.is_retryable() => continue,
                        Err(e) => panic!("reenqueue_for_recovery failed with {}: {e}", e.kind()),
                    }
                }
            }
            recovered
        }
    });
    let claimers = (0..6).map(|i| {
        let (store, done) = (store.clone(), done.clone());
        async move {
            let executor = format!("claimer-{i}");
            let mut ran = Vec::new();
            while done.load(Ordering::SeqCst) < N {
                still_in_time(start, "claims after recovery");
                let request = claim_request("q", &executor).max_tasks(8);
                let Some((outcome, token)) = try_claim(&*store, request).await else {
                    continue;
                };
                if outcome.claimed.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                for id in &outcome.claimed {
                    finish(&*store, id, &token).await;
                }
                done.fetch_add(outcome.claimed.len(), Ordering::SeqCst);
                ran.extend(outcome.claimed);
            }
            ran
        }
    });
    let recovering = tokio::spawn(join_tasks(recoverers.collect()));
    let ran = join_tasks(claimers.collect()).await;
    let recovered = match recovering.await {
        Ok(recovered) => recovered,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    assert_each_once(&recovered, &all, "re-enqueued by recovery");
    assert_each_once(&ran, &all, "claimed after recovery");
    let rows = ok(store.get_workflows(&all).await, "read");
    let wrong: HashSet<_> = rows
        .iter()
        .filter(|r| r.status != WorkflowStatus::Success || r.recovery_attempts != 2)
        .map(|r| (&r.workflow_id, &r.status, r.recovery_attempts))
        .collect();
    assert!(
        wrong.is_empty(),
        "every workflow ends SUCCESS after 2 attempts: {wrong:?}"
    );
    destroy_shared(factory, store).await;
}
