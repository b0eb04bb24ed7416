//! Fairness of [`QueueStore::claim_workflows`] across queues and across the partitions of a
//! queue: one worker per queue, each claiming its own queue as a DBOS worker polls it.
//!
//! What a queue's claim returns depends only on that queue (its rows and its limits), never on
//! another queue's backlog or held rows; and over rounds of claims every queue, and every
//! partition of the partitioned fast path, gets its share. Counts, not times: the rounds are
//! sequential and every worker finishes what it claimed before the next round.

use std::collections::BTreeMap;
use std::time::Duration;

use dbos_storage_core::{ClaimRequest, NewWorkflow, QueueLimits, QueueStore};

use super::queues::{claim, claim_request, finish, in_partition};
use crate::checks::*;
use crate::Factory;

/// The most one claim of a worker takes (`max_tasks`).
const PER_CLAIM: u32 = 4;
/// Rounds of claims, the first one included.
const ROUNDS: usize = 4;
/// Partitions of the partitioned queue, and workflows in each.
const PARTITIONS: usize = 6;
const PER_PARTITION: usize = 3;
/// The partitioned worker's `max_tasks`: fewer than its partitions, so that which partitions a
/// claim takes matters.
const PARTITION_CLAIM: u32 = 2;

/// One queue of the property: its name, its rows (in enqueue order), its worker's limits and
/// `max_tasks`, and the workflows its worker must claim over [`ROUNDS`] rounds.
struct Lane {
    queue: &'static str,
    rows: Vec<NewWorkflow>,
    limits: QueueLimits,
    max_tasks: u32,
    expected: usize,
}

impl Lane {
    fn request(&self) -> ClaimRequest {
        claim_request(self.queue, "fair")
            .limits(self.limits)
            .max_tasks(self.max_tasks)
    }
}

/// `n` workflows `{queue}-{i}` on `queue`.
fn backlog(queue: &str, n: usize) -> Vec<NewWorkflow> {
    (0..n)
        .map(|i| enqueued(&format!("{queue}-{i:02}"), queue))
        .collect()
}

/// The ten queues: a big backlog, a single workflow, priorities, a concurrency limit with a row
/// held by another executor, two rate limits, a worker concurrency, a concurrency with a worker
/// concurrency, a head of rows of another version, and a partitioned queue (DBOS's fast path)
/// with its partitions interleaved.
fn lanes() -> Vec<Lane> {
    let long = Duration::from_secs(600);
    let lane = |queue, rows, limits, expected| Lane {
        queue,
        rows,
        limits,
        max_tasks: PER_CLAIM,
        expected,
    };
    let mut other_version: Vec<NewWorkflow> = (0..3)
        .map(|i| enqueued(&format!("f7-old-{i}"), "f7").with_application_version("other"))
        .collect();
    other_version.extend(backlog("f7", 3));
    let priorities = (0..6)
        .map(|i| enqueued(&format!("f2-{i:02}"), "f2").with_priority(i % 3))
        .collect();
    let partitioned = (0..PER_PARTITION)
        .flat_map(|j| {
            (0..PARTITIONS)
                .map(move |p| in_partition(&format!("f9-p{p}-{j}"), "f9", &format!("p{p}")))
        })
        .collect();
    vec![
        // 60 queued: four a round.
        lane("f0", backlog("f0", 60), QueueLimits::new(), 4 * ROUNDS),
        lane("f1", backlog("f1", 1), QueueLimits::new(), 1),
        lane("f2", priorities, QueueLimits::new(), 6),
        // One of its two slots is held by another executor (below): one a round.
        lane(
            "f3",
            backlog("f3", 7),
            QueueLimits::new().concurrency(2),
            ROUNDS,
        ),
        // One start per ten minutes: the first claim uses it, later ones stop at the limit.
        lane(
            "f4",
            backlog("f4", 5),
            QueueLimits::new().rate_limit(1, long),
            1,
        ),
        lane(
            "f5",
            backlog("f5", 6),
            QueueLimits::new().worker_concurrency(3),
            6,
        ),
        lane(
            "f6",
            backlog("f6", 6),
            QueueLimits::new().concurrency(10).worker_concurrency(5),
            6,
        ),
        // The three oldest rows are of a version this executor never runs.
        lane("f7", other_version, QueueLimits::new(), 3),
        lane(
            "f8",
            backlog("f8", 5),
            QueueLimits::new().rate_limit(2, long),
            2,
        ),
        Lane {
            queue: "f9",
            rows: partitioned,
            limits: QueueLimits::new().partition_concurrency(1),
            max_tasks: PARTITION_CLAIM,
            expected: PARTITION_CLAIM as usize * ROUNDS,
        },
    ]
}

/// Ten queues, one worker each. Every worker's first claim takes work, whatever the other
/// queues hold (a big backlog, rows held by another executor, a used-up rate limit, rows of
/// another version at the head); over [`ROUNDS`] rounds in which every worker claims and
/// finishes what it claimed, each queue gets exactly what its rows and limits allow; and the
/// partitioned queue's claims, fewer per round than its partitions, rotate over the partitions
/// (oldest head first) instead of returning to the same ones.
pub async fn claims_are_fair_across_queues<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let lanes = lanes();
    for lane in &lanes {
        let rows = lane.rows.clone();
        let n = rows.len();
        let inserted = ok(store.enqueue_workflows(rows).await, "enqueue a backlog");
        assert_eq!(inserted.len(), n, "{}: every row enqueued", lane.queue);
    }
    let held = claim(&store, claim_request("f3", "another").max_tasks(1)).await;
    assert_eq!(
        held.claimed,
        ids(&["f3-00"]),
        "another executor holds f3's head"
    );

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut partitions: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..ROUNDS {
        for lane in &lanes {
            let request = lane.request();
            let token = request.owner_xid.clone();
            let outcome = claim(&store, request).await;
            if round == 0 {
                assert!(
                    !outcome.claimed.is_empty(),
                    "{}: the first claim of a queue with room takes work, whatever the other \
                     queues hold: {outcome:?}",
                    lane.queue
                );
            }
            for id in &outcome.claimed {
                if lane.queue == "f9" {
                    *partitions.entry(id[..5].to_owned()).or_default() += 1;
                }
                finish(&store, id, &token).await;
            }
            *counts.entry(lane.queue).or_default() += outcome.claimed.len();
        }
    }
    let expected: BTreeMap<&str, usize> = lanes.iter().map(|l| (l.queue, l.expected)).collect();
    assert_eq!(counts, expected, "claims per queue over {ROUNDS} rounds");
    // Eight heads over six partitions, oldest first: two partitions twice, the rest once.
    let mut spread: Vec<usize> = partitions.values().copied().collect();
    spread.sort_unstable();
    assert_eq!(
        spread,
        vec![1, 1, 1, 1, 2, 2],
        "claims per partition of the fast path: {partitions:?}"
    );
    factory.destroy(store).await;
}
