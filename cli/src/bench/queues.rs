//! Queues: claims per second with `--concurrency` workers, and recovering workflows killed
//! halfway.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dbos_storage::{ClaimRequest, NewWorkflow, Outcome, QueueLimits, StepRecord, INTERNAL_QUEUE};
use futures::future::join_all;

use super::report::{targets, thousands, Figure, Unit};
use super::writes::insert_all_with;
use super::{
    new_workflow, output, rate, timed_parallel, Bench, EXECUTOR, INPUTS, QUEUE, STEP, VERSION,
};
use crate::error::CliError;

/// The executor that "died" with the recovery measurement's workflows.
const DEAD_EXECUTOR: &str = "bench-dead";
/// The executor that recovers them.
const RECOVERY_EXECUTOR: &str = "bench-recovery";
/// How long claimers may find the queue empty, short of their count, before the bench gives up.
const STALL: Duration = Duration::from_secs(20);

/// Claims per second: `--claims` workflows enqueued (untimed), then drained by `--concurrency`
/// workers claiming up to `--claim-batch` each time; every id must come out exactly once.
pub(super) async fn dequeue(bench: &Bench<'_>) -> Result<Vec<Figure>, CliError> {
    let n = bench.args.claims;
    let workers = bench.args.concurrency;
    let store = bench.store();
    let queued: Vec<NewWorkflow> = (0..n)
        .map(|i| {
            new_workflow(&format!("bench-queued-{i}"))
                .enqueued(QUEUE)
                .with_application_version(VERSION)
        })
        .collect();
    let inserted = store.enqueue_workflows(queued).await?.len();
    if inserted != n {
        return Err(CliError::new(format!(
            "the dequeue measurement enqueued {inserted} of {n} workflows"
        )));
    }
    let t = Instant::now();
    let drained = drain(bench, QUEUE, EXECUTOR, None, n, |_, _| async { Ok(()) }).await?;
    let store_time = t.elapsed();
    let distinct: HashSet<&String> = drained.ids.iter().collect();
    if distinct.len() != drained.ids.len() {
        return Err(CliError::new(format!(
            "{} workflows were claimed twice",
            drained.ids.len() - distinct.len()
        )));
    }
    if distinct.len() != n || !distinct.iter().all(|id| id.starts_with("bench-queued-")) {
        return Err(CliError::new(format!(
            "the dequeue measurement claimed {} workflows, not the {n} it enqueued",
            distinct.len()
        )));
    }
    let raw_time = timed_parallel(n, workers, |i| async move {
        bench
            .raw
            .insert_workflow(i % workers, &format!("raw-queued-{i}"))
            .await?;
        Ok(())
    })
    .await?;
    let raw_side = if bench.single_writer() {
        "the single writer connection".to_owned()
    } else {
        format!("{workers} connections")
    };
    Ok(vec![Figure::rates(
        "dequeue",
        format!(
            "dequeue: {workers} workers, claim_workflows up to {} each",
            bench.args.claim_batch
        ),
        n,
        Unit::ClaimsPerSec,
        rate(n, store_time),
        rate(n, raw_time),
    )
    .target(targets::dequeue(bench.backend))
    .note(format!(
        "{} claims took {} workflows, each exactly once (verified); {} claims found the \
         queue momentarily empty or contended and polled again; raw: single-row inserts into \
         the workflow table on {raw_side}",
        thousands(drained.claims as u64),
        thousands(n as u64),
        drained.empty_or_retried
    ))])
}

/// Recovery: `--recovery` workflows started by an executor that then died after half of their
/// `--steps` steps (untimed setup), then, timed: found (`pending_workflows`), re-enqueued
/// (`reenqueue_for_recovery`), claimed by `--concurrency` workers, replayed (every step checked:
/// the recorded half must come back, the rest must not exist) and finished (the remaining
/// steps and the outcome, under the claim's owner token).
pub(super) async fn recovery(bench: &Bench<'_>) -> Result<Vec<Figure>, CliError> {
    let n = bench.args.recovery;
    let steps = bench.args.steps as i32;
    let killed = steps / 2;
    let (total, found_time) = recover_timed(bench, n, "bench-recover").await?;
    Ok(vec![Figure::new(
        "recovery",
        format!(
            "recovery: {} workflows killed after {killed} of {steps} steps",
            thousands(n as u64)
        ),
        n,
        Unit::Seconds,
    )
    .store(total.as_secs_f64())
    .target(targets::recovery(bench.backend))
    .note(format!(
        "total time to find them (pending_workflows), re-enqueue them (reenqueue_for_recovery), \
         claim, replay and finish them: found and re-enqueued in {:.0} ms; then {} workers claimed (up to {} per claim), \
         checked all {steps} steps of each (the first {killed} came back recorded, verified), \
         recorded the other {} and the outcome",
        found_time.as_secs_f64() * 1000.0,
        bench.args.concurrency,
        bench.args.claim_batch,
        steps - killed
    ))])
}

/// The recovery measurement of [`recovery`] for `n` workflows named `{prefix}-{i}`, in
/// seconds.
pub(super) async fn recover(bench: &Bench<'_>, n: usize, prefix: &str) -> Result<f64, CliError> {
    Ok(recover_timed(bench, n, prefix).await?.0.as_secs_f64())
}

/// Kills `n` workflows named `{prefix}-{i}` halfway (untimed), then recovers them; returns the
/// total time and the time to find and re-enqueue them.
async fn recover_timed(
    bench: &Bench<'_>,
    n: usize,
    prefix: &str,
) -> Result<(Duration, Duration), CliError> {
    let steps = bench.args.steps as i32;
    let killed = steps / 2;
    let store = bench.store();
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let owners = insert_all_with(bench, &ids, dead_workflow).await?;
    let per_workflow = killed.max(0) as usize;
    timed_parallel(n * per_workflow, bench.args.concurrency, |i| {
        let w = i / per_workflow;
        let step = (i % per_workflow) as i32 + 1;
        let (id, owner) = (&ids[w], &owners[w]);
        async move {
            let record = StepRecord::output(id.as_str(), step, STEP, output());
            store.record_step(record, Some(owner)).await?;
            Ok(())
        }
    })
    .await?;

    let t = Instant::now();
    let pending = store
        .pending_workflows(DEAD_EXECUTOR, Some(VERSION), None)
        .await?;
    let expected: HashSet<&String> = ids.iter().collect();
    let found = pending.iter().filter(|id| expected.contains(id)).count();
    if found != n {
        return Err(CliError::new(format!(
            "recovery found {found} of the {n} pending workflows of the dead executor"
        )));
    }
    let requeued = store
        .reenqueue_for_recovery(&pending, &[DEAD_EXECUTOR.to_owned()])
        .await?;
    if requeued.len() != n {
        return Err(CliError::new(format!(
            "recovery re-enqueued {} of {n} workflows",
            requeued.len()
        )));
    }
    let found_time = t.elapsed();
    let drained = drain(
        bench,
        INTERNAL_QUEUE,
        RECOVERY_EXECUTOR,
        None,
        n,
        |id, owner| async move {
            for step in 1..=steps {
                let recorded = store.check_step(&id, step, STEP).await?;
                match (step <= killed, recorded.is_some()) {
                    (true, false) => {
                        return Err(CliError::new(format!(
                            "replaying {id}: step {step}, recorded before the kill, is missing"
                        )))
                    }
                    (false, true) => {
                        return Err(CliError::new(format!(
                            "replaying {id}: step {step} is recorded, though it never ran"
                        )))
                    }
                    (true, true) => {}
                    (false, false) => {
                        let record = StepRecord::output(id.as_str(), step, STEP, output());
                        store.record_step(record, Some(&owner)).await?;
                    }
                }
            }
            if !store
                .record_outcome(&id, Outcome::Output(output()), Some(&owner))
                .await?
            {
                return Err(CliError::new(format!(
                    "the outcome of recovered workflow {id} was not recorded"
                )));
            }
            Ok(())
        },
    )
    .await?;
    let total = t.elapsed();
    let distinct: HashSet<&String> = drained.ids.iter().collect();
    if distinct.len() != n || drained.ids.len() != n {
        return Err(CliError::new(format!(
            "recovery claimed {} workflows ({} distinct), not {n}",
            drained.ids.len(),
            distinct.len()
        )));
    }
    Ok((total, found_time))
}

/// A direct start by the executor that is about to die.
fn dead_workflow(id: &str) -> NewWorkflow {
    NewWorkflow::new(
        id,
        "bench_workflow",
        dbos_storage::Payload::portable_json(INPUTS),
    )
    .with_executor(DEAD_EXECUTOR)
    .with_application_version(VERSION)
}

/// What a drain claimed.
pub(super) struct Drained {
    /// Every claimed id, as often as it was claimed.
    pub(super) ids: Vec<String>,
    /// Claims that took at least one workflow.
    claims: usize,
    /// Claims that took nothing (the rest was being claimed by others) or failed with a
    /// retryable error, and were made again.
    empty_or_retried: usize,
}

/// `--concurrency` workers claim from `queue` as `executor`, up to `--claim-batch` at a time
/// (under a queue `concurrency` when given), until `n` workflows are claimed; each worker runs `each(id, owner token)` on what it claimed,
/// one workflow after the other, before claiming again.
pub(super) async fn drain<F, Fut>(
    bench: &Bench<'_>,
    queue: &str,
    executor: &str,
    concurrency: Option<u32>,
    n: usize,
    each: F,
) -> Result<Drained, CliError>
where
    F: Fn(String, String) -> Fut,
    Fut: Future<Output = Result<(), CliError>>,
{
    let store = bench.store();
    let batch = bench.args.claim_batch;
    let claimed = AtomicUsize::new(0);
    let (claimed, each) = (&claimed, &each);
    let workers = (0..bench.args.concurrency).map(|_| async move {
        let mut ids = Vec::new();
        let (mut claims, mut again) = (0, 0);
        let mut idle_since: Option<Instant> = None;
        while claimed.load(Ordering::SeqCst) < n {
            let mut request = ClaimRequest::new(queue, executor, VERSION).max_tasks(batch);
            if let Some(limit) = concurrency {
                request = request.limits(QueueLimits::new().concurrency(limit));
            }
            let owner = request.owner_xid.clone();
            let got = match store.claim_workflows(request).await {
                Ok(outcome) => outcome.claimed,
                Err(e) if e.is_retryable() => Vec::new(),
                Err(e) => return Err(CliError::from(e)),
            };
            if got.is_empty() {
                again += 1;
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() > STALL {
                    return Err(CliError::new(format!(
                        "the queue {queue} ran dry after {} of {n} claims",
                        claimed.load(Ordering::SeqCst)
                    )));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            idle_since = None;
            claims += 1;
            claimed.fetch_add(got.len(), Ordering::SeqCst);
            for id in got {
                each(id.clone(), owner.clone()).await?;
                ids.push(id);
            }
        }
        Ok::<_, CliError>((ids, claims, again))
    });
    let mut drained = Drained {
        ids: Vec::with_capacity(n),
        claims: 0,
        empty_or_retried: 0,
    };
    for r in join_all(workers).await {
        let (ids, claims, again) = r?;
        drained.ids.extend(ids);
        drained.claims += claims;
        drained.empty_or_retried += again;
    }
    Ok(drained)
}
