//! Benchmarks every backend runs the same way: [`dequeue_throughput`] measures how fast
//! concurrent workers drain a queue, and [`table`] prints the reports.
//!
//! They live here, not in the properties, because they measure instead of asserting: a driver
//! calls them from its own bench target (`harness = false`), as this crate's
//! `benches/dequeue.rs` does for [`MemoryStore`](dbos_storage_conformance::MemoryStore).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::{ClaimRequest, NewWorkflow, Outcome, Payload};
use dbos_storage_core::{LifecycleStore, QueueStore, WorkflowStore};
use tokio::time::Instant;

use dbos_storage_conformance::Factory;

/// The most workflows one claim takes in [`dequeue_throughput`], like a DBOS worker's batch.
pub const CLAIM_BATCH: u32 = 8;

/// How long [`dequeue_throughput`] waits for the queue to drain before it gives up.
pub const GIVE_UP: Duration = Duration::from_secs(600);

/// What one run of [`dequeue_throughput`] measured.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DequeueReport {
    /// The backend's name.
    pub backend: &'static str,
    /// Concurrent workers.
    pub workers: usize,
    /// Workflows enqueued before the clock started.
    pub workflows: usize,
    /// Workflows claimed.
    pub claimed: usize,
    /// Workflows whose outcome applied.
    pub completed: usize,
    /// Wall time from the first claim to the last outcome.
    pub elapsed: Duration,
    /// Claim calls that answered (with or without rows).
    pub claims: usize,
    /// Claim calls that found nothing to take.
    pub empty_claims: usize,
    /// Claim calls that failed with a retryable error (another worker was claiming).
    pub conflicts: usize,
    /// Median latency of a claim call that answered.
    pub claim_p50: Duration,
    /// 99th-percentile latency of a claim call that answered.
    pub claim_p99: Duration,
}

impl DequeueReport {
    /// Workflows claimed per second of wall time.
    pub fn claimed_per_sec(&self) -> f64 {
        per_second(self.claimed, self.elapsed)
    }

    /// Workflows completed per second of wall time.
    pub fn completed_per_sec(&self) -> f64 {
        per_second(self.completed, self.elapsed)
    }
}

fn per_second(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Reports as a text table, one row per report, with a header.
pub fn table(reports: &[DequeueReport]) -> String {
    let mut out = format!(
        "{:<10} {:>7} {:>9} {:>9} {:>11} {:>13} {:>10} {:>10} {:>7} {:>7} {:>9}\n",
        "backend",
        "workers",
        "workflows",
        "wall ms",
        "claimed/s",
        "completed/s",
        "claim p50",
        "claim p99",
        "claims",
        "empty",
        "conflicts"
    );
    for r in reports {
        out.push_str(&format!(
            "{:<10} {:>7} {:>9} {:>9} {:>11.0} {:>13.0} {:>10} {:>10} {:>7} {:>7} {:>9}\n",
            r.backend,
            r.workers,
            r.workflows,
            r.elapsed.as_millis(),
            r.claimed_per_sec(),
            r.completed_per_sec(),
            format!("{:.2?}", r.claim_p50),
            format!("{:.2?}", r.claim_p99),
            r.claims,
            r.empty_claims,
            r.conflicts
        ));
    }
    out
}

/// What one worker saw.
#[derive(Default)]
struct WorkerTally {
    latencies: Vec<Duration>,
    claimed: usize,
    completed: usize,
    empty: usize,
    conflicts: usize,
}

/// Enqueues `workflows` workflows on a fresh store, then starts `workers` workers that each
/// loop "claim up to [`CLAIM_BATCH`], record each outcome" until every workflow is claimed, and
/// reports the wall time, throughput and claim latencies.
///
/// Needs a multi-threaded tokio runtime for the workers to run in parallel.
///
/// # Panics
/// If a store call fails with a non-retryable error, or the queue does not drain within
/// [`GIVE_UP`].
pub async fn dequeue_throughput<F: Factory>(
    factory: &F,
    workers: usize,
    workflows: usize,
) -> DequeueReport {
    let store = Arc::new(factory.create().await);
    let batch: Vec<NewWorkflow> = (0..workflows)
        .map(|i| {
            NewWorkflow::new(
                format!("bench-{i:07}"),
                "bench_fn",
                Payload::portable_json("[]"),
            )
            .enqueued("bench")
        })
        .collect();
    store
        .enqueue_workflows(batch)
        .await
        .unwrap_or_else(|e| panic!("enqueueing the benchmark's workflows failed: {e}"));

    let claimed_total = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers.max(1))
        .map(|i| {
            let (store, claimed_total) = (store.clone(), claimed_total.clone());
            tokio::spawn(async move {
                let mut tally = WorkerTally::default();
                let executor = format!("bench-worker-{i}");
                while claimed_total.load(Ordering::SeqCst) < workflows {
                    assert!(
                        start.elapsed() < GIVE_UP,
                        "the benchmark queue did not drain within {GIVE_UP:?}"
                    );
                    let request =
                        ClaimRequest::new("bench", &executor, "bench-v1").max_tasks(CLAIM_BATCH);
                    let token = request.owner_xid.clone();
                    let asked = Instant::now();
                    let outcome = match store.claim_workflows(request).await {
                        Ok(outcome) => outcome,
                        Err(e) if e.is_retryable() => {
                            tally.conflicts += 1;
                            continue;
                        }
                        Err(e) => panic!("claim failed: {e}"),
                    };
                    tally.latencies.push(asked.elapsed());
                    if outcome.claimed.is_empty() {
                        tally.empty += 1;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    claimed_total.fetch_add(outcome.claimed.len(), Ordering::SeqCst);
                    tally.claimed += outcome.claimed.len();
                    for id in &outcome.claimed {
                        let done = Outcome::Output(Payload::portable_json("null"));
                        match store.record_outcome(id, done, Some(&token)).await {
                            Ok(true) => tally.completed += 1,
                            Ok(false) => {}
                            Err(e) => panic!("record_outcome failed: {e}"),
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut tallies = Vec::new();
    for task in tasks {
        match task.await {
            Ok(tally) => tallies.push(tally),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    let elapsed = start.elapsed();

    let mut latencies: Vec<Duration> = tallies
        .iter()
        .flat_map(|t| t.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((latencies.len() - 1) as f64 * p).round() as usize;
        latencies[rank]
    };
    let report = DequeueReport {
        backend: store.backend(),
        workers: workers.max(1),
        workflows,
        claimed: tallies.iter().map(|t| t.claimed).sum(),
        completed: tallies.iter().map(|t| t.completed).sum(),
        elapsed,
        claims: latencies.len(),
        empty_claims: tallies.iter().map(|t| t.empty).sum(),
        conflicts: tallies.iter().map(|t| t.conflicts).sum(),
        claim_p50: percentile(0.50),
        claim_p99: percentile(0.99),
    };
    match Arc::try_unwrap(store) {
        Ok(store) => factory.destroy(store).await,
        Err(_) => panic!("a benchmark worker still holds the store"),
    }
    report
}
