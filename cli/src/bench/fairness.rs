//! `bench --scale`: fairness across the big database's ten queues, with one worker per queue.
//!
//! Each worker polls its own queue as a DBOS worker does: every [`POLL_INTERVAL`] (DBOS's
//! default `polling_interval_sec`, 1 s; a poll that overruns delays the next one rather than
//! bunching them), one `claim_workflows` with the queue's limits and at most [`PER_POLL`]
//! workflows, then it finishes every workflow it claimed (`record_outcome` under the claim's
//! token, one after the other) so that concurrency limits keep freeing room. The queues keep
//! their backlog's shape (priorities, the partitioned queue) and get mixed limits
//! ([`queue_workers`]).
//!
//! A queue's fair share is the most it could have claimed in the run: its backlog as filled, or
//! what its polls allow (the run's poll ticks × the most one poll may take under its limits),
//! or what its rate limit allows (`max` per `period` of the run), whichever is smallest. A
//! rate-limited queue stays below that bound: the limiter counts the starts of the last
//! `period`, stamped just after each poll's tick, so with a period of one poll interval a poll
//! finds the window clear only when its claim runs later after its tick than the last one did. The report gives each queue's claims against that share, the time to its first
//! claim and whether that came within one poll interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dbos_storage::{ClaimRequest, Outcome, QueueLimits};
use futures::future::join_all;
use serde::Serialize;

use super::report::thousands;
use super::scale::Dataset;
use super::{output, Bench, EXECUTOR, VERSION};
use crate::error::CliError;

/// How often a worker polls its queue: DBOS's default polling interval.
pub(super) const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The most one poll claims (`max_tasks`), on top of the queue's limits.
const PER_POLL: u32 = 50;
/// Partitions of the partitioned queue (`scale-q9`) in the big database.
const PARTITIONS: u32 = 6;
/// The least share of its fair share any queue must get.
const HALF: f64 = 0.5;

/// One queue of the big database and the limits its worker claims with.
pub(super) struct QueueWorker {
    /// The queue.
    pub(super) queue: String,
    /// The limits of every claim.
    limits: QueueLimits,
    /// The limits and shape, for people.
    describe: &'static str,
}

impl QueueWorker {
    /// The most one poll may take under the limits (the partitioned fast path takes one head
    /// per partition).
    fn per_poll(&self) -> u64 {
        let l = &self.limits;
        let mut most = u64::from(PER_POLL);
        for limit in [l.concurrency, l.worker_concurrency].into_iter().flatten() {
            most = most.min(u64::from(limit));
        }
        if l.partition_concurrency.is_some() {
            most = most.min(u64::from(PARTITIONS));
        }
        most
    }

    /// The most the queue could claim in `seconds` with `backlog` queued: see the module docs.
    fn fair_share(&self, backlog: u64, seconds: f64) -> u64 {
        let interval = POLL_INTERVAL.as_secs_f64();
        let polls = (seconds / interval).floor() as u64;
        let mut most = backlog.min(polls * self.per_poll());
        if let Some(rate) = self.limits.rate_limit {
            let windows = (seconds / rate.period.as_secs_f64().max(1e-3)).ceil() as u64;
            most = most.min(u64::from(rate.max) * windows);
        }
        most
    }

    fn request(&self) -> ClaimRequest {
        ClaimRequest::new(self.queue.as_str(), EXECUTOR, VERSION)
            .limits(self.limits)
            .max_tasks(PER_POLL)
    }
}

/// The worker of each of the big database's ten queues, in queue order: three without limits
/// (two of them with priorities: `scale-q1`, `scale-q2`), a worker concurrency, a queue
/// concurrency, three rate limits (one far below the others), a concurrency with a worker
/// concurrency, and the partitioned queue with one workflow per partition at a time (DBOS's
/// partitioned fast path).
pub(super) fn queue_workers() -> Vec<QueueWorker> {
    let per_second = Duration::from_secs(1);
    let limits: [(QueueLimits, &'static str); 10] = [
        (QueueLimits::new(), "no limit"),
        (QueueLimits::new(), "no limit; priorities 0–2"),
        (
            QueueLimits::new().worker_concurrency(20),
            "worker concurrency 20; priorities 0–2",
        ),
        (QueueLimits::new().concurrency(64), "concurrency 64"),
        (
            QueueLimits::new().rate_limit(20, per_second),
            "rate limit 20 per s",
        ),
        (
            QueueLimits::new().rate_limit(100, Duration::from_secs(10)),
            "rate limit 100 per 10 s",
        ),
        (
            QueueLimits::new().concurrency(10).worker_concurrency(5),
            "concurrency 10, worker concurrency 5",
        ),
        (QueueLimits::new(), "no limit"),
        (
            QueueLimits::new().rate_limit(2, per_second),
            "rate limit 2 per s",
        ),
        (
            QueueLimits::new().partition_concurrency(1),
            "6 partitions, partition concurrency 1",
        ),
    ];
    limits
        .into_iter()
        .enumerate()
        .map(|(i, (limits, describe))| QueueWorker {
            queue: format!("scale-q{i}"),
            limits,
            describe,
        })
        .collect()
}

/// What one queue's worker did in a run.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WorkerCounts {
    /// Workflows claimed.
    pub(super) claims: u64,
    /// Polls made.
    pub(super) polls: u64,
    /// When the first claim that took work returned, from the start.
    pub(super) first: Option<Duration>,
    /// The longest store call (a claim or an outcome).
    pub(super) longest_call: Duration,
}

/// What the workers did in a run.
pub(super) struct WorkerRun {
    /// Per queue, in [`queue_workers`] order.
    pub(super) queues: Vec<WorkerCounts>,
    /// From the start until `stop` was raised (measured by whoever raised it).
    pub(super) elapsed: Duration,
}

impl WorkerRun {
    /// Claims of every queue.
    pub(super) fn claims(&self) -> u64 {
        self.queues.iter().map(|q| q.claims).sum()
    }

    /// Claims per second over the run.
    pub(super) fn claim_rate(&self) -> f64 {
        self.claims() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The longest store call of any worker, in milliseconds.
    pub(super) fn longest_call_ms(&self) -> f64 {
        self.queues
            .iter()
            .map(|q| q.longest_call)
            .max()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    }
}

/// When the workers stop polling.
pub(super) enum Until<'a> {
    /// At the first poll tick at or after this long from the start (the fairness run).
    After(Duration),
    /// At the first poll tick after the flag is raised (the collection).
    Raised(&'a AtomicBool),
}

/// Runs one worker per queue until `until` (a poll due then is not made) and returns what each
/// did, in `workers` order.
pub(super) async fn run_workers(
    bench: &Bench<'_>,
    workers: &[QueueWorker],
    until: Until<'_>,
) -> Result<Vec<WorkerCounts>, CliError> {
    let started = Instant::now();
    let until = &until;
    let runs = workers.iter().map(|w| async move {
        let store = bench.store();
        let mut counts = WorkerCounts::default();
        let mut ticker = tokio::time::interval(POLL_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = ticker.tick().await.into_std();
            let over = match until {
                Until::After(d) => due.saturating_duration_since(started) >= *d,
                Until::Raised(flag) => flag.load(Ordering::SeqCst),
            };
            if over {
                break;
            }
            counts.polls += 1;
            let request = w.request();
            let owner = request.owner_xid.clone();
            let t = Instant::now();
            let claimed = match store.claim_workflows(request).await {
                Ok(outcome) => outcome.claimed,
                Err(e) if e.is_retryable() => Vec::new(),
                Err(e) => return Err(CliError::from(e)),
            };
            counts.longest_call = counts.longest_call.max(t.elapsed());
            if claimed.is_empty() {
                continue;
            }
            counts.first.get_or_insert_with(|| started.elapsed());
            counts.claims += claimed.len() as u64;
            for id in claimed {
                let t = Instant::now();
                store
                    .record_outcome(&id, Outcome::Output(output()), Some(&owner))
                    .await?;
                counts.longest_call = counts.longest_call.max(t.elapsed());
            }
        }
        Ok::<_, CliError>(counts)
    });
    join_all(runs).await.into_iter().collect()
}

/// One queue's line of the fairness report.
#[derive(Debug, Serialize)]
pub(super) struct QueueFairness {
    pub(super) queue: String,
    /// Its limits and shape.
    pub(super) limits: &'static str,
    /// Workflows queued in it when the run started.
    pub(super) backlog: u64,
    /// Polls its worker made.
    pub(super) polls: u64,
    /// Workflows claimed.
    pub(super) claims: u64,
    /// The most it could have claimed (see the module docs).
    pub(super) fair_share: u64,
    /// `claims / fair_share`.
    pub(super) share: f64,
    /// Milliseconds from the start to its first claim that took work.
    pub(super) first_claim_ms: Option<f64>,
    /// Whether that came within one poll interval.
    pub(super) first_within_poll: bool,
}

/// Fairness across the ten queues of the big database.
#[derive(Debug, Serialize)]
pub(super) struct FairnessReport {
    /// How long the workers ran, in seconds.
    pub(super) seconds: f64,
    pub(super) poll_interval_ms: u64,
    /// `max_tasks` of every claim.
    pub(super) per_poll: u32,
    pub(super) queues: Vec<QueueFairness>,
    /// Claims per second of all queues together.
    pub(super) claims_per_sec: f64,
    /// The longest store call of any worker, in milliseconds.
    pub(super) longest_call_ms: f64,
    /// Every queue's first claim within one poll interval.
    pub(super) first_claims_in_time: bool,
    /// No queue below half its fair share.
    pub(super) half_shares: bool,
}

impl FairnessReport {
    /// The line above the fairness table.
    pub(super) fn heading(&self) -> String {
        format!(
            "Fairness on the big database: one worker per queue for {:.0} s, each polling every \
             {} ms for up to {} workflows and finishing what it claimed; {} claims \
             ({} claims/s); the longest claim or outcome call took {:.0} ms:",
            self.seconds,
            self.poll_interval_ms,
            self.per_poll,
            thousands(self.queues.iter().map(|q| q.claims).sum()),
            thousands(self.claims_per_sec.round() as u64),
            self.longest_call_ms
        )
    }

    /// The line below the table: the two checks.
    pub(super) fn verdict(&self) -> String {
        format!(
            "fair share: the most a queue could claim in the run (its backlog as filled, the \
             run's poll ticks × what one poll may take under its limits, or its rate limit's \
             max per period of the run, whichever is smallest); every first claim within one \
             poll interval: {}; no queue below half its fair share: {}",
            yes_no(self.first_claims_in_time),
            yes_no(self.half_shares)
        )
    }
}

impl FairnessReport {
    /// One row per queue, in the columns of the scale report's fairness table.
    pub(super) fn rows(&self) -> Vec<Vec<String>> {
        self.queues
            .iter()
            .map(|q| {
                vec![
                    q.queue.clone(),
                    q.limits.to_owned(),
                    thousands(q.backlog),
                    thousands(q.polls),
                    thousands(q.claims),
                    thousands(q.fair_share),
                    format!("{:.2}", q.share),
                    q.first_claim_ms
                        .map_or_else(|| "none".to_owned(), |ms| format!("{ms:.0} ms")),
                    if q.first_within_poll { "yes" } else { "no" }.to_owned(),
                ]
            })
            .collect()
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "**no**"
    }
}

/// Runs the workers on the big database for `seconds` and reports each queue's claims against
/// its fair share; also returns the run, the baseline of [`super::retention`].
pub(super) async fn fairness(
    bench: &Bench<'_>,
    dataset: &Dataset,
    seconds: u64,
) -> Result<(FairnessReport, WorkerRun), CliError> {
    let workers = queue_workers();
    let duration = Duration::from_secs(seconds);
    let run = WorkerRun {
        queues: run_workers(bench, &workers, Until::After(duration)).await?,
        elapsed: duration,
    };
    let elapsed = run.elapsed.as_secs_f64();
    let queues: Vec<QueueFairness> = workers
        .iter()
        .zip(&run.queues)
        .enumerate()
        .map(|(i, (w, c))| {
            let backlog = dataset.queued_in(i);
            let fair_share = w.fair_share(backlog, elapsed);
            QueueFairness {
                queue: w.queue.clone(),
                limits: w.describe,
                backlog,
                polls: c.polls,
                claims: c.claims,
                fair_share,
                share: c.claims as f64 / fair_share.max(1) as f64,
                first_claim_ms: c.first.map(|d| d.as_secs_f64() * 1000.0),
                first_within_poll: c.first.is_some_and(|d| d <= POLL_INTERVAL),
            }
        })
        .collect();
    let report = FairnessReport {
        seconds: elapsed,
        poll_interval_ms: POLL_INTERVAL.as_millis() as u64,
        per_poll: PER_POLL,
        first_claims_in_time: queues.iter().all(|q| q.backlog == 0 || q.first_within_poll),
        half_shares: queues
            .iter()
            .all(|q| q.claims as f64 >= HALF * q.fair_share as f64),
        queues,
        claims_per_sec: run.claim_rate(),
        longest_call_ms: run.longest_call_ms(),
    };
    Ok((report, run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_share_is_the_smallest_bound() {
        let workers = queue_workers();
        // 60 s: 60 poll ticks.
        assert_eq!(workers[0].fair_share(20_000, 60.0), 60 * 50);
        assert_eq!(workers[0].fair_share(100, 60.0), 100, "the backlog");
        assert_eq!(workers[2].fair_share(20_000, 60.0), 60 * 20, "worker limit");
        assert_eq!(workers[4].fair_share(20_000, 60.0), 60 * 20, "rate per s");
        assert_eq!(workers[5].fair_share(20_000, 60.0), 6 * 100, "per 10 s");
        assert_eq!(workers[6].fair_share(20_000, 60.0), 60 * 5);
        assert_eq!(workers[8].fair_share(20_000, 60.0), 60 * 2);
        assert_eq!(
            workers[9].fair_share(20_000, 60.0),
            60 * 6,
            "one per partition"
        );
    }
}
