//! Properties of [`QueueStore`]: enqueue and batch enqueue, deduplication policies, claim order,
//! claim columns, version and application rules, every limit with its stop reason, the
//! partitioned fast path, delays, debounce, deadlines, recovery, dead-letter, the queue registry
//! and the idempotency of queue writes.
//!
//! Times the properties compare come from the store (`created_at`, `started_at_epoch_ms`, …),
//! never from the test's clock; where a property needs "the past" or "the future" it uses a
//! minute or an hour away from the test's clock, far beyond any clock skew. The only waits are
//! bounded polls for a rate-limit window or a deadline to pass.
//!
//! Workflows inserted one by one may share a `created_at` (the same millisecond), and ties fall
//! back to the id: properties that check FIFO among single inserts give them ids in insertion
//! order. FIFO independent of the ids is checked with batch enqueue, which makes `created_at`
//! strictly increasing.

use std::future::Future;
use std::time::Duration;

use dbos_storage_core::{
    now_epoch_ms, ClaimOutcome, ClaimRequest, DebounceOutcome, DebounceRequest, DedupPolicy,
    EpochMs, ErrorKind, InsertOptions, ListWorkflowsQuery, NewWorkflow, Payload,
    QueueConflictPolicy, QueueDefinition, QueueLimits, QueueUpdate, RateLimit, StepRecord,
    StopReason, SystemStore, WorkflowInfo, WorkflowResult, WorkflowStatus, INTERNAL_QUEUE,
};
use dbos_storage_core::{QueueStore, VersionStore};

use crate::checks::*;
use crate::faulty::{Fault, FaultyStore};
use crate::normalize::Snapshot;
use crate::Factory;

/// A minute, in milliseconds: "the past" is a minute ago, beyond any clock skew.
const MINUTE_MS: EpochMs = 60_000;
/// An hour, in milliseconds: "the future" is an hour away.
const HOUR_MS: EpochMs = 3_600_000;
/// The longest a property polls for a window or a deadline to pass.
const PATIENCE: Duration = Duration::from_secs(10);

/// A claim on `queue` by `executor` at version `v1` (with no version registered, every
/// executor may run version-less rows).
pub(crate) fn claim_request(queue: &str, executor: &str) -> ClaimRequest {
    ClaimRequest::new(queue, executor, "v1")
}

/// Claims, which must succeed.
pub(crate) fn claim<'a, S: QueueStore + ?Sized>(
    store: &'a S,
    request: ClaimRequest,
) -> impl Future<Output = ClaimOutcome> + 'a {
    let what = format!(
        "claim on {:?} by {:?} (partition {:?}, limits {:?})",
        request.queue_name, request.executor_id, request.partition_key, request.limits
    );
    async move { ok(store.claim_workflows(request).await, &what) }
}

/// Claims and expects nothing claimed with `reason`.
async fn expect_stop<S: QueueStore + ?Sized>(
    store: &S,
    request: ClaimRequest,
    reason: Option<StopReason>,
    what: &str,
) {
    let outcome = claim(store, request).await;
    assert_eq!(
        outcome,
        ClaimOutcome::new(Vec::new(), reason),
        "{what}: expected an empty claim stopped by {reason:?}"
    );
}

/// Inserts every workflow, which must succeed.
pub(crate) async fn insert_all<S: SystemStore + ?Sized>(store: &S, workflows: Vec<NewWorkflow>) {
    for wf in workflows {
        let what = format!("insert {:?}", wf.workflow_id);
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            &what,
        );
    }
}

/// An enqueue on `queue` in partition `key`.
pub(crate) fn in_partition(id: &str, queue: &str, key: &str) -> NewWorkflow {
    let mut wf = enqueued(id, queue);
    wf.queue_partition_key = Some(key.to_owned());
    wf
}

/// The rows of `queue` with `status`.
pub(crate) async fn rows_with_status<S: SystemStore + ?Sized>(
    store: &S,
    queue: &str,
    status: WorkflowStatus,
) -> Vec<WorkflowInfo> {
    ok(
        store
            .list_workflows(
                ListWorkflowsQuery::new()
                    .queue_name([queue])
                    .status(vec![status.clone()]),
            )
            .await,
        &format!("list the {status} rows of {queue:?}"),
    )
}

/// Records a success with the claim's token, which must apply.
pub(crate) async fn finish<S: SystemStore + ?Sized>(store: &S, id: &str, token: &str) {
    assert!(
        ok(
            store
                .record_outcome(id, output("\"done\""), Some(token))
                .await,
            &format!("record the outcome of {id:?}")
        ),
        "the outcome of {id:?} must apply with the token of the claim that took it"
    );
}

/// The status of one workflow.
async fn status_of<S: SystemStore + ?Sized>(store: &S, id: &str) -> WorkflowStatus {
    get(store, id).await.status
}

/// Enqueue writes the queue columns: `ENQUEUED` or `DELAYED`, no owner, no attempt, the
/// priority, partition key and version as given, and a timeout without a deadline until a claim.
/// A creator's retry finds its own row and must not execute it.
pub async fn enqueue_initial_columns<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let mut wf = enqueued("e", "q")
        .with_priority(5)
        .with_application_version("v9")
        .with_timeout(Duration::from_secs(60))
        .with_creator_xid("creator");
    wf.queue_partition_key = Some("p".into());
    let first = ok(
        store
            .insert_workflow(wf.clone(), InsertOptions::default())
            .await,
        "enqueue e",
    );
    assert_eq!(first.status, WorkflowStatus::Enqueued);
    assert!(!first.should_execute && !first.existed, "{first:?}");
    assert_eq!(first.queue_name.as_deref(), Some("q"));
    assert_eq!(first.deduplicated_into, None);
    let row = get(&store, "e").await;
    assert_eq!(row.status, WorkflowStatus::Enqueued);
    assert_eq!(row.recovery_attempts, 0, "an enqueue counts no attempt");
    assert_eq!(row.priority, 5);
    assert_eq!(row.queue_partition_key.as_deref(), Some("p"));
    assert_eq!(row.application_version.as_deref(), Some("v9"));
    assert_eq!(row.workflow_timeout_ms, Some(60_000));
    assert_eq!(
        row.workflow_deadline_epoch_ms, None,
        "the deadline starts at the claim"
    );
    assert_eq!(row.started_at_epoch_ms, None);
    for owner in [Some("creator"), None] {
        assert!(
            !ok(
                store.record_outcome("e", output("1"), owner).await,
                "record"
            ),
            "an ENQUEUED row has no owner and takes no outcome ({owner:?})"
        );
    }
    let retry = ok(
        store.insert_workflow(wf, InsertOptions::default()).await,
        "the creator's retry of enqueue e",
    );
    assert!(
        !retry.should_execute && !retry.existed,
        "a retried enqueue finds its own row and does not execute: {retry:?}"
    );

    let until = now_epoch_ms() + HOUR_MS;
    let delayed = ok(
        store
            .insert_workflow(
                NewWorkflow::new("d", "wf_fn", inputs()).delayed("q", until),
                InsertOptions::default(),
            )
            .await,
        "enqueue d delayed",
    );
    assert_eq!(delayed.status, WorkflowStatus::Delayed);
    assert!(!delayed.should_execute);
    let row = get(&store, "d").await;
    assert_eq!(row.status, WorkflowStatus::Delayed);
    assert_eq!(row.delay_until_epoch_ms, Some(until));
    assert_eq!(row.recovery_attempts, 0);
    factory.destroy(store).await;
}

/// A held deduplication id: [`DedupPolicy::Reject`] fails with `Deduplicated` and writes
/// nothing; [`DedupPolicy::ReturnExisting`] names the holder and writes nothing;
/// `deduplicated_workflow` names the holder until its outcome releases the key.
pub async fn enqueue_deduplication_policies<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(&store, vec![enqueued("a", "q").with_deduplication_id("k")]).await;
    let holder = |queue: &'static str, key: &'static str| {
        let store = &store;
        async move {
            ok(
                store.deduplicated_workflow(queue, key).await,
                "deduplicated_workflow",
            )
        }
    };
    assert_eq!(holder("q", "k").await.as_deref(), Some("a"));
    assert_eq!(holder("q", "other").await, None);
    assert_eq!(holder("q2", "k").await, None, "keys are per queue");

    let reject = InsertOptions::default();
    let attach = InsertOptions::default().dedup_policy(DedupPolicy::ReturnExisting);
    err(
        store
            .insert_workflow(
                enqueued("b", "q").with_deduplication_id("k"),
                reject.clone(),
            )
            .await,
        ErrorKind::Deduplicated,
        "enqueue b with a held key under Reject",
    );
    let delay = now_epoch_ms() + HOUR_MS;
    err(
        store
            .insert_workflow(
                NewWorkflow::new("c", "wf_fn", inputs())
                    .delayed("q", delay)
                    .with_deduplication_id("k"),
                reject.clone(),
            )
            .await,
        ErrorKind::Deduplicated,
        "a DELAYED enqueue with a held key",
    );
    let attached = ok(
        store
            .insert_workflow(
                enqueued("b", "q").with_deduplication_id("k"),
                attach.clone(),
            )
            .await,
        "enqueue b with a held key under ReturnExisting",
    );
    assert_eq!(attached.deduplicated_into.as_deref(), Some("a"));
    assert!(attached.existed && !attached.should_execute, "{attached:?}");
    assert_eq!(
        attached.status,
        WorkflowStatus::Enqueued,
        "the holder's status"
    );
    assert_eq!(attached.queue_name.as_deref(), Some("q"));
    for id in ["b", "c"] {
        assert!(
            !exists(&store, id).await,
            "{id} was deduplicated: nothing written"
        );
    }
    err(
        store
            .enqueue_workflows(vec![enqueued("b", "q").with_deduplication_id("k")])
            .await,
        ErrorKind::Deduplicated,
        "batch enqueue with a held key",
    );
    assert!(!exists(&store, "b").await);

    let request = claim_request("q", "x");
    let token = request.owner_xid.clone();
    assert_eq!(claim(&store, request).await.claimed, ids(&["a"]));
    assert_eq!(
        holder("q", "k").await.as_deref(),
        Some("a"),
        "a running holder keeps its key"
    );
    finish(&store, "a", &token).await;
    assert_eq!(holder("q", "k").await, None, "the outcome releases the key");
    let fresh = ok(
        store
            .insert_workflow(enqueued("b", "q").with_deduplication_id("k"), attach)
            .await,
        "enqueue b once the key is free",
    );
    assert_eq!(fresh.deduplicated_into, None, "{fresh:?}");
    assert!(!fresh.existed);
    assert_eq!(holder("q", "k").await.as_deref(), Some("b"));
    factory.destroy(store).await;
}

/// Batch enqueue inserts the new ids and returns them in input order, skips ids that exist
/// (a re-run inserts nothing), keeps FIFO order by input order whatever the ids, and writes
/// nothing for a `PENDING` workflow or a held deduplication id.
pub async fn batch_enqueue_inserts_new_ids_in_order<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(&store, vec![enqueued("old", "q")]).await;
    let batch = |list: &[&str]| list.iter().map(|id| enqueued(id, "q")).collect::<Vec<_>>();
    let inserted = ok(
        store
            .enqueue_workflows(batch(&["b3", "old", "b1", "b2", "b1"]))
            .await,
        "enqueue_workflows",
    );
    assert_eq!(
        inserted,
        ids(&["b3", "b1", "b2"]),
        "existing and repeated ids are skipped; the rest come back in input order"
    );
    let rerun = ok(
        store.enqueue_workflows(batch(&["b3", "b1", "b2"])).await,
        "re-run",
    );
    assert!(rerun.is_empty(), "a re-run inserts nothing: {rerun:?}");
    // Input order that is not id order.
    let names: Vec<String> = (0..20).rev().map(|i| format!("w{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let inserted = ok(store.enqueue_workflows(batch(&refs)).await, "second batch");
    assert_eq!(inserted, names);
    for id in ["b3", "w07"] {
        let row = get(&store, id).await;
        assert_eq!(row.status, WorkflowStatus::Enqueued);
        assert_eq!(row.recovery_attempts, 0);
    }
    let claimed = claim(&store, claim_request("q", "x")).await.claimed;
    let mut expected = ids(&["old", "b3", "b1", "b2"]);
    expected.extend(names);
    assert_eq!(claimed, expected, "FIFO order follows the input order");

    // One queue, rows of several partitions and of none, ids against the input order: a claim
    // of the whole queue (no partition limits) still takes them in input order, because
    // creation times increase per queue, not only per partition.
    let keyed = |id: &str, key: Option<&str>| {
        let mut wf = enqueued(id, "pq");
        wf.queue_partition_key = key.map(str::to_owned);
        wf
    };
    let across = vec![
        keyed("z3", Some("p1")),
        keyed("z2", None),
        keyed("z1", Some("p2")),
        keyed("z0", Some("p1")),
    ];
    ok(
        store.enqueue_workflows(across).await,
        "enqueue across partitions",
    );
    let later = vec![keyed("y9", Some("p3")), keyed("y8", None)];
    ok(store.enqueue_workflows(later).await, "a second batch");
    assert_eq!(
        claim(&store, claim_request("pq", "x")).await.claimed,
        ids(&["z3", "z2", "z1", "z0", "y9", "y8"]),
        "FIFO order follows the input order across the partitions of a queue and across batches"
    );

    let until = now_epoch_ms() + HOUR_MS;
    let mixed = vec![
        enqueued("m1", "q"),
        NewWorkflow::new("m2", "wf_fn", inputs()).delayed("q", until),
    ];
    assert_eq!(
        ok(store.enqueue_workflows(mixed).await, "enqueue a delay"),
        ids(&["m1", "m2"])
    );
    assert_eq!(status_of(&store, "m2").await, WorkflowStatus::Delayed);

    let with_pending = vec![enqueued("n1", "q"), pending("n2", "o")];
    err(
        store.enqueue_workflows(with_pending).await,
        ErrorKind::InvalidInput,
        "batch enqueue of a PENDING workflow",
    );
    insert_all(&store, vec![enqueued("h", "q").with_deduplication_id("k")]).await;
    let with_held_key = vec![
        enqueued("n3", "q"),
        enqueued("n4", "q").with_deduplication_id("k"),
    ];
    err(
        store.enqueue_workflows(with_held_key).await,
        ErrorKind::Deduplicated,
        "batch enqueue with a held key",
    );
    for id in ["n1", "n2", "n3", "n4"] {
        assert!(
            !exists(&store, id).await,
            "{id}: nothing of a failed batch is written"
        );
    }
    factory.destroy(store).await;
}

/// Claims take rows by priority (lower first), then first in first out, up to `max_tasks`,
/// and report them in that order.
pub async fn claim_order_is_priority_then_fifo<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![
            enqueued("a", "q"),
            enqueued("b", "q").with_priority(5),
            enqueued("c", "q").with_priority(1),
            enqueued("d", "q"),
            enqueued("e", "q").with_priority(1),
            enqueued("other-queue", "q2"),
        ],
    )
    .await;
    let next = |n| claim(&store, claim_request("q", "x").max_tasks(n));
    assert_eq!(next(2).await.claimed, ids(&["a", "d"]));
    assert_eq!(next(2).await.claimed, ids(&["c", "e"]));
    assert_eq!(next(2).await.claimed, ids(&["b"]));
    assert_eq!(next(2).await, ClaimOutcome::new(Vec::new(), None));
    assert_eq!(
        status_of(&store, "other-queue").await,
        WorkflowStatus::Enqueued,
        "a claim takes rows of its queue only"
    );
    factory.destroy(store).await;
}

/// A claim flips rows to `PENDING` owned by its token, stamps the executor, version,
/// application and start time, counts an attempt, and sets the deadline from the timeout
/// (keeping a deadline already set). A row is never claimed twice.
pub async fn claim_stamps_the_claimed_rows<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let fixed_deadline = now_epoch_ms() + HOUR_MS;
    insert_all(
        &store,
        vec![
            enqueued("t", "q").with_timeout(Duration::from_secs(30)),
            enqueued("d", "q")
                .with_timeout(Duration::from_secs(30))
                .with_deadline(fixed_deadline),
            enqueued("plain", "q"),
        ],
    )
    .await;
    let request = ClaimRequest::new("q", "exec-1", "v1").application_name("app");
    let token = request.owner_xid.clone();
    assert_eq!(
        sorted(claim(&store, request).await.claimed),
        ids(&["d", "plain", "t"])
    );
    for id in ["t", "d", "plain"] {
        let row = get(&store, id).await;
        assert_eq!(row.status, WorkflowStatus::Pending, "{id}");
        assert_eq!(row.executor_id.as_deref(), Some("exec-1"), "{id}");
        assert_eq!(row.application_version.as_deref(), Some("v1"), "{id}");
        assert_eq!(row.application_name.as_deref(), Some("app"), "{id}");
        assert_eq!(row.recovery_attempts, 1, "{id}: a claim counts an attempt");
        let started = row.started_at_epoch_ms.expect("a claim stamps started_at");
        assert!(
            started >= row.created_at,
            "{id}: started_at {started} before created_at {}",
            row.created_at
        );
        let expected_deadline = match id {
            "t" => Some(started + 30_000),
            "d" => Some(fixed_deadline),
            _ => None,
        };
        assert_eq!(
            row.workflow_deadline_epoch_ms, expected_deadline,
            "{id}: the deadline is start + timeout unless one was set"
        );
    }
    expect_stop(
        &store,
        ClaimRequest::new("q", "exec-2", "v1"),
        None,
        "a second claim",
    )
    .await;
    assert_eq!(
        get(&store, "t").await.executor_id.as_deref(),
        Some("exec-1")
    );
    assert!(
        !ok(
            store
                .record_outcome("t", output("1"), Some("not-the-token"))
                .await,
            "record with another token"
        ),
        "the claim's token owns the row"
    );
    ok(
        store
            .record_step(
                StepRecord::output("t", 1, "s", Payload::portable_json("1")),
                Some(&token),
            )
            .await,
        "a step under the claim's token",
    );
    finish(&store, "t", &token).await;
    factory.destroy(store).await;
}

/// Version rules: rows of the executor's version are claimable; version-less rows only when the
/// executor's version is the latest registered one (or none is registered); rows of another
/// version never.
pub async fn claim_follows_version_rules<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let at = |version: &str| ClaimRequest::new("q", "x", version);
    insert_all(
        &store,
        vec![
            enqueued("n0", "q"),
            enqueued("x0", "q").with_application_version("vX"),
        ],
    )
    .await;
    assert_eq!(
        claim(&store, at("v1")).await.claimed,
        ids(&["n0"]),
        "with no version registered, version-less rows are claimable; another version never"
    );

    for (version, timestamp) in [("v1", 1_000), ("v2", 2_000)] {
        ok(
            store.create_application_version(version, None).await,
            "create version",
        );
        ok(
            store
                .set_application_version_timestamp(version, timestamp, None)
                .await,
            "set version timestamp",
        );
    }
    insert_all(
        &store,
        vec![
            enqueued("n1", "q"),
            enqueued("a1", "q").with_application_version("v1"),
            enqueued("a2", "q").with_application_version("v2"),
            enqueued("a3", "q").with_application_version("v3"),
        ],
    )
    .await;
    assert_eq!(
        claim(&store, at("v1")).await.claimed,
        ids(&["a1"]),
        "v1 is not the latest: only its own rows"
    );
    assert_eq!(
        claim(&store, at("v3")).await.claimed,
        ids(&["a3"]),
        "an unregistered version is not the latest: only its own rows"
    );
    assert_eq!(
        sorted(claim(&store, at("v2")).await.claimed),
        ids(&["a2", "n1"]),
        "the latest version takes its rows and version-less rows"
    );
    assert_eq!(
        get(&store, "n1").await.application_version.as_deref(),
        Some("v2"),
        "a claim stamps its version"
    );

    ok(
        store
            .set_application_version_timestamp("v1", 3_000, None)
            .await,
        "promote v1",
    );
    insert_all(&store, vec![enqueued("n2", "q")]).await;
    expect_stop(&store, at("v2"), None, "v2 after v1 was promoted").await;
    assert_eq!(claim(&store, at("v1")).await.claimed, ids(&["n2"]));
    assert_eq!(
        status_of(&store, "x0").await,
        WorkflowStatus::Enqueued,
        "a row of a version nobody runs is never claimed"
    );
    factory.destroy(store).await;
}

/// Application scoping: a claim takes its application's rows and unclaimed rows (stamping them
/// with its application), never another application's; "latest version" is decided among the
/// application's own and unclaimed versions; `queue_partitions` is scoped the same way.
pub async fn claim_is_scoped_by_application<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for (version, app, timestamp) in [("va", "A", 5_000), ("vb", "B", 6_000)] {
        ok(
            store.create_application_version(version, Some(app)).await,
            "create version",
        );
        ok(
            store
                .set_application_version_timestamp(version, timestamp, Some(app))
                .await,
            "set version timestamp",
        );
    }
    insert_all(
        &store,
        vec![
            in_partition("a", "q", "pa").with_application_name("A"),
            in_partition("b", "q", "pb").with_application_name("B"),
            in_partition("u", "q", "pu"),
        ],
    )
    .await;
    let partitions = |app: Option<&'static str>| {
        let store = &store;
        async move { ok(store.queue_partitions("q", app).await, "queue_partitions") }
    };
    assert_eq!(partitions(Some("A")).await, ids(&["pa", "pu"]));
    assert_eq!(partitions(None).await, ids(&["pa", "pb", "pu"]));

    let request = ClaimRequest::new("q", "x", "va").application_name("A");
    assert_eq!(
        claim(&store, request).await.claimed,
        ids(&["a", "u"]),
        "A's latest version is va (B's versions are not A's): A takes its rows and unclaimed ones"
    );
    assert_eq!(
        get(&store, "u").await.application_name.as_deref(),
        Some("A"),
        "a claim stamps its application"
    );
    assert_eq!(status_of(&store, "b").await, WorkflowStatus::Enqueued);
    let request = ClaimRequest::new("q", "y", "vb").application_name("B");
    assert_eq!(claim(&store, request).await.claimed, ids(&["b"]));
    factory.destroy(store).await;
}

/// Worker concurrency: `worker_concurrency − local_running` bounds a claim; no room stops it
/// with [`StopReason::WorkerConcurrency`]; `max_tasks` caps it further.
pub async fn worker_concurrency_limits_a_claim<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        (0..5).map(|i| enqueued(&format!("w{i}"), "q")).collect(),
    )
    .await;
    let limits = QueueLimits::new().worker_concurrency(3);
    let request = |local| claim_request("q", "x").limits(limits).running(local, 0);
    for local in [3, 4] {
        expect_stop(
            &store,
            request(local),
            Some(StopReason::WorkerConcurrency),
            &format!("{local} running of 3"),
        )
        .await;
    }
    assert!(rows_with_status(&store, "q", WorkflowStatus::Pending)
        .await
        .is_empty());
    assert_eq!(
        claim(&store, request(1)).await.claimed,
        ids(&["w0", "w1"]),
        "one running of 3 leaves room for 2"
    );
    assert_eq!(
        claim(&store, request(0).max_tasks(1)).await.claimed,
        ids(&["w2"]),
        "max_tasks caps the claim"
    );
    factory.destroy(store).await;
}

/// Queue concurrency: at most `concurrency` rows of the queue are `PENDING`; a full queue
/// stops claims with [`StopReason::Concurrency`] until an outcome frees a slot.
pub async fn concurrency_limits_pending<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        (0..5).map(|i| enqueued(&format!("w{i}"), "q")).collect(),
    )
    .await;
    insert_all(&store, vec![pending("direct", "o")]).await;
    let limits = QueueLimits::new().concurrency(2);
    let request = claim_request("q", "x").limits(limits);
    let token = request.owner_xid.clone();
    assert_eq!(claim(&store, request).await.claimed, ids(&["w0", "w1"]));
    expect_stop(
        &store,
        claim_request("q", "y").limits(limits),
        Some(StopReason::Concurrency),
        "a full queue",
    )
    .await;
    finish(&store, "w0", &token).await;
    assert_eq!(
        claim(&store, claim_request("q", "y").limits(limits))
            .await
            .claimed,
        ids(&["w2"]),
        "an outcome frees one slot"
    );
    expect_stop(
        &store,
        claim_request("q", "z").limits(limits),
        Some(StopReason::Concurrency),
        "full again",
    )
    .await;
    assert_eq!(
        rows_with_status(&store, "q", WorkflowStatus::Pending)
            .await
            .len(),
        2
    );
    factory.destroy(store).await;
}

/// Rate limit: a claim starts at most `max` rows per period, counting this queue's recent
/// starts that are no longer waiting — finished ones too, but not cancelled or re-enqueued ones;
/// no room stops with [`StopReason::RateLimit`]. Once the window has passed, claims start again,
/// and no window of the period ever holds more than `max` starts.
pub async fn rate_limit_counts_recent_starts<F: Factory>(factory: &F) {
    let store = factory.create().await;
    // One batch: strictly increasing creation times, so a re-enqueued row keeps its place
    // ahead of later ones (rows created in the same millisecond have no defined order).
    ok(
        store
            .enqueue_workflows((0..6).map(|i| enqueued(&format!("r{i}"), "q")).collect())
            .await,
        "enqueue r0..r5",
    );
    let long = QueueLimits::new().rate_limit(3, Duration::from_secs(600));
    let request = claim_request("q", "x").limits(long);
    let token = request.owner_xid.clone();
    assert_eq!(
        claim(&store, request).await.claimed,
        ids(&["r0", "r1", "r2"])
    );
    finish(&store, "r0", &token).await;
    expect_stop(
        &store,
        claim_request("q", "x").limits(long),
        Some(StopReason::RateLimit),
        "3 started in the window, one of them finished",
    )
    .await;
    ok(
        store
            .cancel_workflows(&ids(&["r1"]), Default::default())
            .await,
        "cancel r1",
    );
    ok(
        store
            .reenqueue_for_recovery(&ids(&["r2"]), &ids(&["x"]))
            .await,
        "re-enqueue r2",
    );
    assert_eq!(
        claim(&store, claim_request("q", "y").limits(long))
            .await
            .claimed,
        ids(&["r2", "r3"]),
        "cancelled and re-enqueued rows are no longer counted"
    );
    expect_stop(
        &store,
        claim_request("q", "y").limits(long),
        Some(StopReason::RateLimit),
        "3 counted again",
    )
    .await;

    // A short window, waited out on the store's clock.
    insert_all(
        &store,
        (0..5).map(|i| enqueued(&format!("s{i}"), "w")).collect(),
    )
    .await;
    let period = Duration::from_secs(1);
    let short = QueueLimits::new().rate_limit(2, period);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut claimed = Vec::new();
    while claimed.len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a rate limit of 2 per {period:?} has not let 5 workflows start within {PATIENCE:?} \
             (started {claimed:?})"
        );
        let outcome = claim(&store, claim_request("w", "x").limits(short)).await;
        assert!(outcome.claimed.len() <= 2, "{outcome:?}");
        if outcome.claimed.is_empty() {
            assert_eq!(outcome.stop_reason, Some(StopReason::RateLimit));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        claimed.extend(outcome.claimed);
    }
    let rows = ok(store.get_workflows(&claimed).await, "read the starts");
    assert_windows_hold(&rows, 2, period);
    factory.destroy(store).await;
}

/// Asserts that no window of length `period` (open at its start) holds more than `max` of the
/// rows' start times.
pub(crate) fn assert_windows_hold(rows: &[WorkflowInfo], max: usize, period: Duration) {
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    let mut starts: Vec<EpochMs> = rows
        .iter()
        .map(|r| {
            r.started_at_epoch_ms
                .unwrap_or_else(|| panic!("{} was claimed but has no start time", r.workflow_id))
        })
        .collect();
    starts.sort_unstable();
    for (i, end) in starts.iter().enumerate() {
        let in_window = starts[..=i]
            .iter()
            .filter(|s| **s > end - period_ms)
            .count();
        assert!(
            in_window <= max,
            "{in_window} workflows started in the {period:?} ending at {end}, over the rate limit \
             of {max}; all starts: {starts:?}"
        );
    }
}

/// The stop reason is the first limit without room in DBOS's order: worker concurrency, then
/// the rate limit, then concurrency.
pub async fn stop_reason_follows_dbos_order<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        (0..3).map(|i| enqueued(&format!("w{i}"), "q")).collect(),
    )
    .await;
    let all = QueueLimits::new()
        .worker_concurrency(1)
        .rate_limit(1, Duration::from_secs(600))
        .concurrency(1);
    let request = claim_request("q", "x").limits(all);
    let token = request.owner_xid.clone();
    assert_eq!(claim(&store, request).await.claimed, ids(&["w0"]));
    let with = |local| claim_request("q", "x").limits(all).running(local, 0);
    expect_stop(
        &store,
        with(1),
        Some(StopReason::WorkerConcurrency),
        "every limit is full",
    )
    .await;
    expect_stop(
        &store,
        with(0),
        Some(StopReason::RateLimit),
        "rate limit and concurrency are full",
    )
    .await;
    finish(&store, "w0", &token).await;
    expect_stop(
        &store,
        with(0),
        Some(StopReason::RateLimit),
        "the finished start still counts",
    )
    .await;

    insert_all(&store, vec![enqueued("c0", "c"), enqueued("c1", "c")]).await;
    let roomy_rate = QueueLimits::new()
        .rate_limit(5, Duration::from_secs(600))
        .concurrency(1);
    assert_eq!(
        claim(&store, claim_request("c", "x").limits(roomy_rate))
            .await
            .claimed,
        ids(&["c0"])
    );
    expect_stop(
        &store,
        claim_request("c", "x").limits(roomy_rate),
        Some(StopReason::Concurrency),
        "rate limit with room, concurrency full",
    )
    .await;
    factory.destroy(store).await;
}

/// Partition limits apply per partition, after the queue-wide limit of the same kind:
/// partition concurrency, partition worker concurrency and the partition rate limit each stop a
/// claim with their reason while other partitions still have room. A partitioned queue claimed
/// without a key (other than the single-flight fast path) is `InvalidInput`.
pub async fn partition_limits_apply_per_partition<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let rows = |queue: &str| {
        vec![
            in_partition(&format!("{queue}-1a"), queue, "p1"),
            in_partition(&format!("{queue}-1b"), queue, "p1"),
            in_partition(&format!("{queue}-1c"), queue, "p1"),
            in_partition(&format!("{queue}-2a"), queue, "p2"),
        ]
    };
    for queue in ["pc", "pw", "pr", "po"] {
        insert_all(&store, rows(queue)).await;
    }
    let on = |queue: &str, key: &str, limits| {
        ClaimRequest::new(queue, "x", "v1")
            .limits(limits)
            .partition(key)
    };

    let pc = QueueLimits::new().partition_concurrency(2);
    assert_eq!(
        claim(&store, on("pc", "p1", pc)).await.claimed,
        ids(&["pc-1a", "pc-1b"])
    );
    expect_stop(
        &store,
        on("pc", "p1", pc),
        Some(StopReason::PartitionConcurrency),
        "p1 full",
    )
    .await;
    assert_eq!(
        claim(&store, on("pc", "p2", pc)).await.claimed,
        ids(&["pc-2a"])
    );
    err(
        store
            .claim_workflows(claim_request("pc", "x").limits(pc))
            .await,
        ErrorKind::InvalidInput,
        "a partitioned queue claimed without a partition key",
    );
    assert_eq!(
        ok(store.queue_partitions("pc", None).await, "partitions"),
        ids(&["p1"]),
        "only p1 has ENQUEUED rows left"
    );

    let pw = QueueLimits::new().partition_worker_concurrency(1);
    expect_stop(
        &store,
        on("pw", "p1", pw).running(0, 1),
        Some(StopReason::PartitionWorkerConcurrency),
        "one running in p1",
    )
    .await;
    assert_eq!(
        claim(&store, on("pw", "p1", pw).running(5, 0))
            .await
            .claimed,
        ids(&["pw-1a"]),
        "without a queue-wide worker limit, local_running does not count"
    );

    let pr = QueueLimits::new().partition_rate_limit(1, Duration::from_secs(600));
    assert_eq!(
        claim(&store, on("pr", "p1", pr)).await.claimed,
        ids(&["pr-1a"])
    );
    expect_stop(
        &store,
        on("pr", "p1", pr),
        Some(StopReason::PartitionRateLimit),
        "p1's rate used",
    )
    .await;
    assert_eq!(
        claim(&store, on("pr", "p2", pr)).await.claimed,
        ids(&["pr-2a"])
    );

    let po = QueueLimits::new()
        .worker_concurrency(5)
        .partition_worker_concurrency(1)
        .partition_rate_limit(1, Duration::from_secs(600))
        .concurrency(1)
        .partition_concurrency(1);
    assert_eq!(
        claim(&store, on("po", "p1", po)).await.claimed,
        ids(&["po-1a"])
    );
    expect_stop(
        &store,
        on("po", "p1", po).running(5, 1),
        Some(StopReason::WorkerConcurrency),
        "worker limits come first, the queue-wide one before the partition's",
    )
    .await;
    expect_stop(
        &store,
        on("po", "p1", po).running(1, 1),
        Some(StopReason::PartitionWorkerConcurrency),
        "partition worker concurrency",
    )
    .await;
    expect_stop(
        &store,
        on("po", "p1", po).running(1, 0),
        Some(StopReason::PartitionRateLimit),
        "the partition rate limit before concurrency",
    )
    .await;
    expect_stop(
        &store,
        on("po", "p2", po).running(1, 0),
        Some(StopReason::Concurrency),
        "queue-wide concurrency before partition concurrency",
    )
    .await;
    factory.destroy(store).await;
}

/// The partitioned fast path (only limit `partition_concurrency = 1`, no key) claims the head of
/// each partition with `ENQUEUED` rows and none `PENDING` — by priority, then FIFO, among rows
/// the executor may run — and at most `max_tasks` of them.
pub async fn partitioned_fast_path_takes_one_per_partition<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![
            in_partition("a1", "q", "a").with_priority(5),
            in_partition("a2", "q", "a").with_priority(1),
            in_partition("b1", "q", "b"),
            in_partition("b2", "q", "b"),
            in_partition("c0", "q", "c"),
            in_partition("c1", "q", "c"),
            in_partition("d1", "q", "d").with_application_version("other"),
        ],
    )
    .await;
    let single = QueueLimits::new().partition_concurrency(1);
    assert_eq!(
        claim(
            &store,
            claim_request("q", "x").limits(single).partition("c")
        )
        .await
        .claimed,
        ids(&["c0"])
    );
    let request = claim_request("q", "x").limits(single);
    let token = request.owner_xid.clone();
    assert_eq!(
        sorted(claim(&store, request).await.claimed),
        ids(&["a2", "b1"]),
        "each idle partition's head; c is busy; d has nothing this version may run"
    );
    expect_stop(
        &store,
        claim_request("q", "x").limits(single),
        None,
        "every partition busy",
    )
    .await;
    finish(&store, "a2", &token).await;
    assert_eq!(
        claim(&store, claim_request("q", "x").limits(single))
            .await
            .claimed,
        ids(&["a1"])
    );
    assert_eq!(status_of(&store, "d1").await, WorkflowStatus::Enqueued);

    insert_all(
        &store,
        ["e", "f", "g"]
            .iter()
            .flat_map(|key| (0..2).map(move |i| in_partition(&format!("{key}{i}"), "q2", key)))
            .collect(),
    )
    .await;
    let first = claim(&store, claim_request("q2", "x").limits(single).max_tasks(2)).await;
    assert_eq!(
        first.claimed.len(),
        2,
        "max_tasks caps the partitions: {first:?}"
    );
    let second = claim(&store, claim_request("q2", "x").limits(single)).await;
    assert_eq!(
        second.claimed.len(),
        1,
        "one idle partition left: {second:?}"
    );
    let mut heads = first.claimed;
    heads.extend(second.claimed);
    assert_eq!(
        sorted(heads),
        ids(&["e0", "f0", "g0"]),
        "one head per partition"
    );
    factory.destroy(store).await;
}

/// Delays: `DELAYED` rows are never claimed; a release enqueues exactly the due ones (a
/// debounced one gives up its key, a plain deduplication id stays); `set_workflow_delay` moves
/// only `DELAYED` rows.
pub async fn delayed_workflows_release_when_due<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let now = now_epoch_ms();
    let (past, future) = (now - MINUTE_MS, now + HOUR_MS);
    let delayed = |id: &str, until| NewWorkflow::new(id, "wf_fn", inputs()).delayed("q", until);
    insert_all(
        &store,
        vec![
            delayed("due", past),
            delayed("later", future),
            delayed("due-dedup", past).with_deduplication_id("k1"),
            NewWorkflow::new("deb", "wf_fn", inputs()).debounced("q", "key", past, None),
        ],
    )
    .await;
    expect_stop(
        &store,
        claim_request("q", "x"),
        None,
        "DELAYED rows are not claimable",
    )
    .await;
    let released = ok(store.release_delayed_workflows(None).await, "release");
    assert_eq!(sorted(released), ids(&["deb", "due", "due-dedup"]));
    for id in ["deb", "due", "due-dedup"] {
        assert_eq!(
            status_of(&store, id).await,
            WorkflowStatus::Enqueued,
            "{id}"
        );
    }
    assert_eq!(status_of(&store, "later").await, WorkflowStatus::Delayed);
    assert_eq!(
        get(&store, "due-dedup").await.deduplication_id.as_deref(),
        Some("k1"),
        "a plain deduplication id survives the release"
    );
    assert_eq!(
        get(&store, "deb").await.deduplication_id,
        None,
        "a debounced workflow gives up its key when released"
    );
    assert!(
        ok(store.release_delayed_workflows(None).await, "release again").is_empty(),
        "nothing else is due"
    );

    assert!(!ok(
        store.set_workflow_delay("due", future).await,
        "delay an ENQUEUED row"
    ));
    assert_eq!(
        get(&store, "due").await.delay_until_epoch_ms,
        Some(past),
        "an ENQUEUED row keeps its release time"
    );
    assert!(!ok(
        store.set_workflow_delay("ghost", past).await,
        "delay a missing row"
    ));
    assert!(ok(
        store.set_workflow_delay("later", past).await,
        "bring later forward"
    ));
    assert_eq!(get(&store, "later").await.delay_until_epoch_ms, Some(past));
    assert_eq!(
        ok(store.release_delayed_workflows(None).await, "release later"),
        ids(&["later"])
    );
    assert_eq!(
        sorted(claim(&store, claim_request("q", "x")).await.claimed),
        ids(&["deb", "due", "due-dedup", "later"])
    );
    factory.destroy(store).await;
}

/// Debounce: a matching delayed, debounced row is pushed back (capped at its debounce deadline),
/// gets the new inputs and is claimed by the caller's application; otherwise the holder of the
/// key is reported (`HeldBy`), or nobody (`Vacant`).
pub async fn debounce_extends_up_to_deadline<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let now = now_epoch_ms();
    let (base, cap) = (now + HOUR_MS, now + 2 * HOUR_MS);
    let new_inputs = |n: i32| Payload::portable_json(format!("[{n}]"));
    let debounce = |key: &str, until, n, app: Option<&str>| {
        let mut request = DebounceRequest::new("wf_fn", "q", key, until, new_inputs(n));
        request.application_name = app.map(str::to_owned);
        let store = &store;
        async move { ok(store.debounce_workflow(request).await, "debounce_workflow") }
    };
    assert_eq!(
        debounce("k", base, 0, None).await,
        DebounceOutcome::Vacant,
        "nothing holds the key yet"
    );
    insert_all(
        &store,
        vec![NewWorkflow::new("d1", "wf_fn", inputs()).debounced("q", "k", base, Some(cap))],
    )
    .await;
    let extended = DebounceOutcome::Extended {
        workflow_id: "d1".into(),
    };
    assert_eq!(debounce("k", base + 1_000, 1, None).await, extended);
    let row = get(&store, "d1").await;
    assert_eq!(row.status, WorkflowStatus::Delayed);
    assert_eq!(row.delay_until_epoch_ms, Some(base + 1_000));
    assert_eq!(
        row.inputs.as_deref(),
        Some("[1]"),
        "the inputs are replaced"
    );
    assert_eq!(
        debounce("k", cap + HOUR_MS, 2, None).await,
        extended,
        "a push past the deadline"
    );
    assert_eq!(
        get(&store, "d1").await.delay_until_epoch_ms,
        Some(cap),
        "capped at the debounce deadline"
    );

    assert_eq!(debounce("k", base, 3, Some("A")).await, extended);
    assert_eq!(
        get(&store, "d1").await.application_name.as_deref(),
        Some("A"),
        "a debounce claims the row for its application"
    );
    assert_eq!(
        debounce("k", base, 4, Some("B")).await,
        DebounceOutcome::HeldBy {
            workflow_id: "d1".into(),
            is_debounced: true,
            name: "wf_fn".into(),
            application_name: Some("A".into()),
        },
        "another application's debounce is a collision"
    );
    assert_eq!(
        get(&store, "d1").await.inputs.as_deref(),
        Some("[3]"),
        "a collision changes nothing"
    );

    let mut plain = enqueued("plain", "q").with_deduplication_id("wf_fn-k2");
    plain.name = "other_fn".into();
    insert_all(&store, vec![plain]).await;
    assert_eq!(
        debounce("k2", base, 5, None).await,
        DebounceOutcome::HeldBy {
            workflow_id: "plain".into(),
            is_debounced: false,
            name: "other_fn".into(),
            application_name: None,
        }
    );

    assert!(ok(
        store.set_workflow_delay("d1", now - MINUTE_MS).await,
        "make d1 due"
    ));
    ok(store.release_delayed_workflows(None).await, "release d1");
    assert_eq!(
        debounce("k", base, 6, Some("A")).await,
        DebounceOutcome::Vacant,
        "a released debounce gave up its key"
    );
    factory.destroy(store).await;
}

/// Deadline sweep: cancels active rows (`ENQUEUED`, `PENDING`, `DELAYED`) whose deadline has
/// passed, oldest deadline first and at most `limit` per call, in the caller's application and
/// unclaimed rows only; finished rows and future deadlines are left alone. A timeout set at
/// enqueue expires after the claim.
pub async fn timed_out_workflows_are_cancelled<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let now = now_epoch_ms();
    let past = now - MINUTE_MS;
    insert_all(
        &store,
        vec![
            pending("p1", "o1").with_deadline(past - 3_000),
            enqueued("e1", "q").with_deadline(past - 2_000),
            NewWorkflow::new("d1", "wf_fn", inputs())
                .delayed("q", now + HOUR_MS)
                .with_deadline(past - 1_000),
            enqueued("fut", "q").with_deadline(now + HOUR_MS),
            enqueued("none", "q"),
            pending("done", "o2").with_deadline(past - 4_000),
            enqueued("b", "q")
                .with_deadline(past - 5_000)
                .with_application_name("B"),
        ],
    )
    .await;
    assert!(ok(
        store.record_outcome("done", output("1"), Some("o2")).await,
        "finish done"
    ));
    let sweep = |limit, app: Option<&'static str>| {
        let store = &store;
        async move {
            sorted(ok(
                store.cancel_timed_out_workflows(limit, app).await,
                "cancel_timed_out_workflows",
            ))
        }
    };
    assert_eq!(
        sweep(2, Some("A")).await,
        ids(&["e1", "p1"]),
        "the two oldest deadlines of A's and unclaimed rows"
    );
    assert_eq!(sweep(10, Some("A")).await, ids(&["d1"]));
    assert_eq!(sweep(10, Some("A")).await, Vec::<String>::new());
    assert_eq!(sweep(10, None).await, ids(&["b"]));
    for id in ["p1", "e1", "d1", "b"] {
        let row = get(&store, id).await;
        assert_eq!(row.status, WorkflowStatus::Cancelled, "{id}");
        assert_eq!(row.queue_name, None, "{id}");
        assert!(row.completed_at.is_some(), "{id}");
    }
    assert!(!ok(
        store.record_outcome("p1", output("1"), Some("o1")).await,
        "record on a timed-out workflow"
    ));
    assert_eq!(status_of(&store, "fut").await, WorkflowStatus::Enqueued);
    assert_eq!(status_of(&store, "none").await, WorkflowStatus::Enqueued);
    assert_eq!(status_of(&store, "done").await, WorkflowStatus::Success);

    insert_all(
        &store,
        vec![enqueued("t", "q2").with_timeout(Duration::from_millis(1))],
    )
    .await;
    assert_eq!(
        claim(&store, claim_request("q2", "x")).await.claimed,
        ids(&["t"])
    );
    let give_up = tokio::time::Instant::now() + PATIENCE;
    loop {
        let cancelled = sweep(10, None).await;
        if !cancelled.is_empty() {
            assert_eq!(cancelled, ids(&["t"]));
            break;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "a 1 ms timeout set at the claim did not expire within {PATIENCE:?}: {:?}",
            get(&store, "t").await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ok(store.workflow_result("t").await, "result"),
        WorkflowResult::Cancelled
    );
    factory.destroy(store).await;
}

/// `pending_workflows` lists an executor's `PENDING` rows at a version, own application plus
/// unclaimed: what a restarted executor recovers.
pub async fn pending_workflows_of_an_executor<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![
            enqueued("r1", "q"),
            enqueued("r2", "q"),
            enqueued("r3", "q"),
            enqueued("r4", "q").with_application_name("B"),
            pending("ds", "o")
                .with_executor("e1")
                .with_application_version("v1")
                .with_application_name("A"),
        ],
    )
    .await;
    let by =
        |executor: &str, app: &str| ClaimRequest::new("q", executor, "v1").application_name(app);
    let e1 = by("e1", "A").max_tasks(2);
    let e1_token = e1.owner_xid.clone();
    assert_eq!(claim(&store, e1).await.claimed, ids(&["r1", "r2"]));
    assert_eq!(claim(&store, by("e2", "A")).await.claimed, ids(&["r3"]));
    assert_eq!(claim(&store, by("e1", "B")).await.claimed, ids(&["r4"]));
    let list = |executor: &'static str, version: &'static str, app: Option<&'static str>| {
        let store = &store;
        async move {
            sorted(ok(
                store.pending_workflows(executor, Some(version), app).await,
                "pending_workflows",
            ))
        }
    };
    assert_eq!(list("e1", "v1", Some("A")).await, ids(&["ds", "r1", "r2"]));
    assert_eq!(list("e1", "v1", None).await, ids(&["ds", "r1", "r2", "r4"]));
    assert_eq!(list("e1", "v2", None).await, Vec::<String>::new());
    assert_eq!(list("e2", "v1", Some("A")).await, ids(&["r3"]));
    finish(&store, "r1", &e1_token).await;
    assert_eq!(list("e1", "v1", Some("A")).await, ids(&["ds", "r2"]));
    factory.destroy(store).await;
}

/// Recovery re-enqueues the `PENDING` rows of dead executors (on their queue, or the internal
/// queue for direct starts) with owner and start time cleared: the old token records neither
/// outcome nor step; a re-run changes nothing; and one claim then runs each once more.
pub async fn recovery_reenqueues_for_one_claim<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![
            enqueued("q1", "q").with_deduplication_id("k"),
            enqueued("q2", "q"),
            enqueued("q3", "q"),
            pending("ds", "o")
                .with_executor("dead")
                .with_application_version("v1"),
        ],
    )
    .await;
    let dead = claim_request("q", "dead").max_tasks(2);
    let dead_token = dead.owner_xid.clone();
    assert_eq!(claim(&store, dead).await.claimed, ids(&["q1", "q2"]));
    assert_eq!(
        claim(&store, claim_request("q", "alive")).await.claimed,
        ids(&["q3"])
    );
    let recovered = ok(
        store
            .reenqueue_for_recovery(&ids(&["q1", "q2", "q3", "ds", "ghost"]), &ids(&["dead"]))
            .await,
        "reenqueue_for_recovery",
    );
    assert_eq!(sorted(recovered), ids(&["ds", "q1", "q2"]));
    for (id, queue) in [("q1", "q"), ("q2", "q"), ("ds", INTERNAL_QUEUE)] {
        let row = get(&store, id).await;
        assert_eq!(row.status, WorkflowStatus::Enqueued, "{id}");
        assert_eq!(row.queue_name.as_deref(), Some(queue), "{id}");
        assert_eq!(row.started_at_epoch_ms, None, "{id}");
        assert_eq!(row.recovery_attempts, 1, "{id}: recovery counts no attempt");
    }
    assert_eq!(
        get(&store, "q1").await.deduplication_id.as_deref(),
        Some("k"),
        "a recovered workflow keeps its deduplication id"
    );
    assert_eq!(status_of(&store, "q3").await, WorkflowStatus::Pending);
    assert!(!ok(
        store
            .record_outcome("q1", output("1"), Some(&dead_token))
            .await,
        "the dead execution records"
    ));
    err(
        store
            .record_step(
                StepRecord::output("q1", 1, "s", Payload::portable_json("1")),
                Some(&dead_token),
            )
            .await,
        ErrorKind::NotOwner,
        "a step of the dead execution after recovery",
    );
    assert!(!ok(
        store.record_outcome("ds", output("1"), Some("o")).await,
        "the dead direct start records"
    ));
    assert!(
        ok(
            store
                .reenqueue_for_recovery(&ids(&["q1", "q2", "ds"]), &ids(&["dead"]))
                .await,
            "re-run"
        )
        .is_empty(),
        "a re-run finds nothing PENDING"
    );
    let again = claim_request("q", "alive");
    let token = again.owner_xid.clone();
    assert_eq!(claim(&store, again).await.claimed, ids(&["q1", "q2"]));
    assert_eq!(
        claim(&store, claim_request(INTERNAL_QUEUE, "alive"))
            .await
            .claimed,
        ids(&["ds"])
    );
    assert_eq!(get(&store, "q1").await.recovery_attempts, 2);
    assert_eq!(
        get(&store, "q1").await.executor_id.as_deref(),
        Some("alive")
    );
    expect_stop(&store, claim_request("q", "other"), None, "claimed once").await;
    finish(&store, "q1", &token).await;
    factory.destroy(store).await;
}

/// Dead-letter takes exactly the `PENDING` rows whose attempts reached the limit: status
/// `MAX_RECOVERY_ATTEMPTS_EXCEEDED`, owner, deduplication id, start time and queue cleared.
pub async fn dead_letter_at_the_limit<F: Factory>(factory: &F) {
    let store = factory.create().await;
    insert_all(
        &store,
        vec![
            enqueued("w1", "q"),
            enqueued("w2", "q").with_deduplication_id("k"),
            enqueued("w3", "q"),
        ],
    )
    .await;
    let recover = |list: &'static [&'static str]| {
        let store = &store;
        async move {
            ok(
                store.reenqueue_for_recovery(&ids(list), &ids(&["x"])).await,
                "recover",
            )
        }
    };
    claim(&store, claim_request("q", "x")).await;
    recover(&["w2", "w3"]).await;
    claim(&store, claim_request("q", "x")).await;
    recover(&["w3"]).await;
    let last = claim_request("q", "x");
    let token = last.owner_xid.clone();
    claim(&store, last).await;
    for (id, attempts) in [("w1", 1), ("w2", 2), ("w3", 3)] {
        assert_eq!(get(&store, id).await.recovery_attempts, attempts, "{id}");
    }
    insert_all(&store, vec![enqueued("w4", "q2")]).await;
    let all = ids(&["w1", "w2", "w3", "w4"]);
    assert_eq!(
        sorted(ok(
            store.dead_letter_workflows(&all, 2).await,
            "dead-letter"
        )),
        ids(&["w2", "w3"])
    );
    let row = get(&store, "w3").await;
    assert_eq!(row.status, WorkflowStatus::MaxRecoveryAttemptsExceeded);
    assert_eq!(row.queue_name, None);
    assert_eq!(row.started_at_epoch_ms, None);
    assert!(row.completed_at.is_some());
    assert_eq!(
        ok(store.deduplicated_workflow("q", "k").await, "holder"),
        None,
        "dead-letter releases the deduplication id"
    );
    assert!(!ok(
        store.record_outcome("w3", output("1"), Some(&token)).await,
        "record after dead-letter"
    ));
    err(
        store
            .record_step(
                StepRecord::output("w3", 1, "s", Payload::portable_json("1")),
                Some(&token),
            )
            .await,
        ErrorKind::NotOwner,
        "a step after dead-letter",
    );
    assert_eq!(
        ok(store.workflow_result("w3").await, "result"),
        WorkflowResult::MaxRecoveryAttemptsExceeded
    );
    assert_eq!(status_of(&store, "w1").await, WorkflowStatus::Pending);
    assert_eq!(status_of(&store, "w4").await, WorkflowStatus::Enqueued);
    assert!(ok(store.dead_letter_workflows(&all, 2).await, "re-run").is_empty());
    assert_eq!(
        ok(
            store.dead_letter_workflows(&ids(&["w1"]), 1).await,
            "w1 at 1"
        ),
        ids(&["w1"]),
        "exactly at the limit counts"
    );
    factory.destroy(store).await;
}

/// The queue registry: upsert creates or (under `Update`) replaces, keeping the owner;
/// `_dbos_` names and empty names are `InvalidInput`; another application's name is
/// `WorkflowConflict`; get, scoped list by name, partial update (`Some(None)` clears) with
/// `NotFound` for unknown queues, and delete.
pub async fn queue_registry<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let upsert = |queue: QueueDefinition, policy| {
        let store = &store;
        async move { store.upsert_queue(queue, policy).await }
    };
    let get_queue = |name: &'static str| {
        let store = &store;
        async move { ok(store.get_queue(name).await, "get_queue") }
    };
    let update = QueueConflictPolicy::Update;
    let q = QueueDefinition::new("q").limits(QueueLimits::new().concurrency(2));
    assert!(ok(upsert(q.clone(), update).await, "create q"));
    assert_eq!(get_queue("q").await, Some(q.clone()));
    assert_eq!(q.polling_interval, Duration::from_secs(1));
    let q3 = QueueDefinition::new("q")
        .limits(QueueLimits::new().concurrency(3))
        .polling_interval(Duration::from_secs(2));
    assert!(!ok(upsert(q3.clone(), update).await, "update q"));
    assert_eq!(get_queue("q").await, Some(q3.clone()));
    let q9 = QueueDefinition::new("q").limits(QueueLimits::new().concurrency(9));
    assert!(!ok(upsert(q9, QueueConflictPolicy::Keep).await, "keep q"));
    assert_eq!(
        get_queue("q").await,
        Some(q3.clone()),
        "Keep changes nothing"
    );
    assert!(!ok(
        upsert(q3.clone().application_name("A"), update).await,
        "A claims q"
    ));
    assert_eq!(
        get_queue("q").await.and_then(|q| q.application_name),
        Some("A".to_owned()),
        "an unclaimed queue takes its first owner"
    );
    err(
        upsert(q3.clone().application_name("B"), update).await,
        ErrorKind::WorkflowConflict,
        "B upserts A's queue",
    );
    assert_eq!(get_queue("q").await, Some(q3.clone().application_name("A")));
    for bad in ["", "_dbos_internal_queue", "_dbos_mine"] {
        err(
            upsert(QueueDefinition::new(bad), update).await,
            ErrorKind::InvalidInput,
            &format!("queue name {bad:?}"),
        );
    }
    assert_eq!(get_queue("_dbos_mine").await, None);

    let partitioned = QueueDefinition::new("pq")
        .limits(
            QueueLimits::new()
                .worker_concurrency(4)
                .rate_limit(7, Duration::from_millis(2_500))
                .partition_concurrency(1)
                .partition_worker_concurrency(2)
                .partition_rate_limit(3, Duration::from_millis(1_500)),
        )
        .polling_interval(Duration::from_millis(250))
        .application_name("B");
    assert!(ok(upsert(partitioned.clone(), update).await, "create pq"));
    assert_eq!(
        get_queue("pq").await,
        Some(partitioned.clone().partition_queue(true)),
        "partition limits are stored as partition_queue"
    );
    assert!(ok(
        upsert(QueueDefinition::new("u"), update).await,
        "create u"
    ));
    let names = |app: Option<&'static str>| {
        let store = &store;
        async move {
            ok(store.list_queues(app).await, "list_queues")
                .into_iter()
                .map(|q| q.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names(Some("A")).await, ids(&["q", "u"]));
    assert_eq!(names(Some("B")).await, ids(&["pq", "u"]));
    assert_eq!(names(None).await, ids(&["pq", "q", "u"]));

    let mut change = QueueUpdate::default();
    change.concurrency = Some(None);
    change.rate_limit = Some(Some(RateLimit::new(5, Duration::from_secs(2))));
    let updated = ok(store.update_queue("q", change).await, "update_queue");
    assert_eq!(
        updated.limits.concurrency, None,
        "Some(None) clears a limit"
    );
    assert_eq!(
        updated.limits.rate_limit,
        Some(RateLimit::new(5, Duration::from_secs(2)))
    );
    assert_eq!(
        updated.polling_interval,
        Duration::from_secs(2),
        "unnamed fields stay"
    );
    assert_eq!(updated.application_name.as_deref(), Some("A"));
    assert_eq!(get_queue("q").await, Some(updated));
    err(
        store.update_queue("ghost", QueueUpdate::default()).await,
        ErrorKind::NotFound,
        "update an unknown queue",
    );
    assert!(ok(store.delete_queue("q").await, "delete q"));
    assert!(!ok(store.delete_queue("q").await, "delete q again"));
    assert_eq!(get_queue("q").await, None);
    factory.destroy(store).await;
}

/// Runs `op` once under a lost commit acknowledgement (its answer discarded), then again, when
/// `ambiguous`; once otherwise. Returns the last answer.
pub(crate) async fn maybe_twice<S: ?Sized, T, Fut>(
    store: &FaultyStore<S>,
    ambiguous: bool,
    op: impl Fn() -> Fut,
) -> dbos_storage_core::Result<T>
where
    Fut: Future<Output = dbos_storage_core::Result<T>>,
{
    if ambiguous {
        store.inject(Fault::AmbiguousCommit);
        let _lost = op().await;
    }
    op().await
}

/// What the queue scenario leaves, normalized: rows, results and steps of its workflows, the
/// registry, and the versions without their generated ids.
async fn queue_state<S: SystemStore + QueueStore + VersionStore + ?Sized>(
    store: &S,
    workflow_ids: &[String],
) -> String {
    let snapshot = Snapshot::take(store, workflow_ids).await;
    let queues = ok(store.list_queues(None).await, "list_queues");
    let versions: Vec<_> = ok(store.list_application_versions(None).await, "versions")
        .into_iter()
        .map(|v| (v.version_name, v.version_timestamp, v.application_name))
        .collect();
    format!("{snapshot:#?}\n{queues:#?}\n{versions:#?}")
}

/// One scenario of every idempotent queue and version write; with `ambiguous`, each of them runs
/// twice, the first time losing its commit acknowledgement. Claims run once, with fixed tokens.
async fn queue_scenario<S: SystemStore + QueueStore + VersionStore + ?Sized>(
    store: &FaultyStore<S>,
    ambiguous: bool,
    far: EpochMs,
) {
    let queue = QueueDefinition::new("q").limits(QueueLimits::new().concurrency(5));
    ok(
        maybe_twice(store, ambiguous, || {
            store.upsert_queue(queue.clone(), QueueConflictPolicy::Update)
        })
        .await,
        "upsert",
    );
    let mut change = QueueUpdate::default();
    change.worker_concurrency = Some(Some(3));
    ok(
        maybe_twice(store, ambiguous, || store.update_queue("q", change.clone())).await,
        "update_queue",
    );
    ok(
        maybe_twice(store, ambiguous, || {
            store.upsert_queue(QueueDefinition::new("gone"), QueueConflictPolicy::Update)
        })
        .await,
        "upsert gone",
    );
    ok(
        maybe_twice(store, ambiguous, || store.delete_queue("gone")).await,
        "delete",
    );
    ok(
        maybe_twice(store, ambiguous, || {
            store.create_application_version("v1", Some("A"))
        })
        .await,
        "create version",
    );
    ok(
        maybe_twice(store, ambiguous, || {
            store.set_application_version_timestamp("v1", 5_000, Some("A"))
        })
        .await,
        "set version timestamp",
    );
    let batch = vec![
        enqueued("a", "q").with_creator_xid("ca"),
        enqueued("b", "q")
            .with_creator_xid("cb")
            .with_timeout(Duration::from_secs(600)),
        NewWorkflow::new("c", "wf_fn", inputs())
            .delayed("q", 1_000)
            .with_creator_xid("cc"),
        NewWorkflow::new("d", "wf_fn", inputs())
            .debounced("q", "key", far, Some(far + HOUR_MS))
            .with_creator_xid("cd"),
        enqueued("f", "q2")
            .with_deadline(1_000)
            .with_creator_xid("cf"),
    ];
    ok(
        maybe_twice(store, ambiguous, || store.enqueue_workflows(batch.clone())).await,
        "enqueue_workflows",
    );
    let single = enqueued("e", "q")
        .with_deduplication_id("k")
        .with_creator_xid("ce");
    ok(
        maybe_twice(store, ambiguous, || {
            store.insert_workflow(single.clone(), InsertOptions::default())
        })
        .await,
        "insert e",
    );
    ok(
        maybe_twice(store, ambiguous, || store.release_delayed_workflows(None)).await,
        "release",
    );
    ok(
        maybe_twice(store, ambiguous, || store.set_workflow_delay("d", far + 1)).await,
        "set delay",
    );
    let debounce =
        DebounceRequest::new("wf_fn", "q", "key", far + 2, Payload::portable_json("[2]"));
    ok(
        maybe_twice(store, ambiguous, || {
            store.debounce_workflow(debounce.clone())
        })
        .await,
        "debounce",
    );
    let mut first = ClaimRequest::new("q", "x", "v1").application_name("A");
    first.owner_xid = "token-1".into();
    ok(store.claim_workflows(first).await, "claim by x");
    let (recovered, dead) = (ids(&["a", "b"]), ids(&["x"]));
    ok(
        maybe_twice(store, ambiguous, || {
            store.reenqueue_for_recovery(&recovered, &dead)
        })
        .await,
        "recover",
    );
    let mut second = ClaimRequest::new("q", "y", "v1")
        .application_name("A")
        .max_tasks(1);
    second.owner_xid = "token-2".into();
    ok(store.claim_workflows(second).await, "claim by y");
    let candidates = ids(&["a", "b", "e"]);
    ok(
        maybe_twice(store, ambiguous, || {
            store.dead_letter_workflows(&candidates, 2)
        })
        .await,
        "dead-letter",
    );
    ok(
        maybe_twice(store, ambiguous, || {
            store.cancel_timed_out_workflows(10, Some("A"))
        })
        .await,
        "timeouts",
    );
}

/// Every queue and version write documented as idempotent leaves the same state when it is run
/// again after a lost commit acknowledgement (as [`dbos_storage_core::RetryingStore`] would).
pub async fn queue_writes_survive_ambiguous_commits<F: Factory>(factory: &F) {
    let far = now_epoch_ms() + HOUR_MS;
    let all = ids(&["a", "b", "c", "d", "e", "f"]);
    let mut states = Vec::new();
    for ambiguous in [false, true] {
        let store = FaultyStore::new(factory.create().await);
        queue_scenario(&store, ambiguous, far).await;
        assert_eq!(store.pending(), 0, "every injected fault was used");
        states.push(queue_state(&store, &all).await);
        let inner = std::sync::Arc::clone(store.inner());
        drop(store);
        destroy_shared(factory, inner).await;
    }
    assert_eq!(
        states[0], states[1],
        "re-running queue writes after ambiguous commits changed the outcome (left: clean run, \
         right: with re-runs)"
    );
}

/// A claim whose commit acknowledgement is lost keeps its rows (`PENDING`, owned by its token);
/// running it again claims other rows, never those.
pub async fn ambiguous_claim_is_not_replayed<F: Factory>(factory: &F) {
    let store = FaultyStore::new(factory.create().await);
    insert_all(
        &store,
        (0..4).map(|i| enqueued(&format!("w{i}"), "q")).collect(),
    )
    .await;
    let request = claim_request("q", "x").max_tasks(2);
    let token = request.owner_xid.clone();
    store.inject(Fault::AmbiguousCommit);
    err(
        store.claim_workflows(request.clone()).await,
        ErrorKind::AmbiguousCommit,
        "a claim whose acknowledgement is lost",
    );
    let lost = rows_with_status(&store, "q", WorkflowStatus::Pending).await;
    assert_eq!(
        id_set(&lost),
        ids(&["w0", "w1"]),
        "the lost claim committed"
    );
    let rerun = claim(&store, request).await;
    assert_eq!(
        rerun.claimed,
        ids(&["w2", "w3"]),
        "a re-run claims other rows and does not return the lost ones"
    );
    expect_stop(&store, claim_request("q", "x"), None, "all claimed").await;
    for id in ["w0", "w1", "w2", "w3"] {
        finish(&store, id, &token).await;
    }
    let inner = std::sync::Arc::clone(store.inner());
    drop(store);
    destroy_shared(factory, inner).await;
}

/// A retried enqueue never tells its creator to execute a workflow a worker has claimed: the
/// identical insert (same id, same creator token) after the claim finds its own row, now
/// `PENDING` and owned by the claim's token, and gets `should_execute = false`. A direct start's
/// retry, whose row the creator still owns, keeps `should_execute = true`.
pub async fn a_retried_enqueue_does_not_execute_a_claimed_workflow<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let enqueue = || enqueued("w", "q").with_creator_xid("creator");
    let first = ok(
        store
            .insert_workflow(enqueue(), InsertOptions::default())
            .await,
        "enqueue w",
    );
    assert!(
        !first.should_execute,
        "an enqueued workflow waits for a claim"
    );
    let claimed = claim(&store, claim_request("q", "worker")).await;
    assert_eq!(claimed.claimed, vec!["w".to_owned()]);

    let retry = ok(
        store
            .insert_workflow(enqueue(), InsertOptions::default())
            .await,
        "the creator's retried enqueue of w after the claim",
    );
    assert_eq!(retry.status, WorkflowStatus::Pending);
    assert!(
        !retry.should_execute,
        "the worker owns w now; the creator's retry must not execute it: {retry:?}"
    );
    assert!(
        !retry.existed,
        "the creator still recognises its own row: {retry:?}"
    );

    ok(
        store
            .insert_workflow(pending("d", "starter"), InsertOptions::default())
            .await,
        "direct start d",
    );
    let own = ok(
        store
            .insert_workflow(pending("d", "starter"), InsertOptions::default())
            .await,
        "retried direct start d",
    );
    assert!(own.should_execute, "the starter still owns d: {own:?}");
    factory.destroy(store).await;
}

/// Releases `DELAYED` rows for `application`, trying again after a retryable error (a racing
/// sweep on a backend that reports conflicts instead of waiting).
async fn release_for<S: QueueStore + ?Sized>(store: &S, application: Option<&str>) -> Vec<String> {
    for _ in 0..100 {
        match store.release_delayed_workflows(application).await {
            Ok(released) => return released,
            Err(e) if e.is_retryable() => tokio::task::yield_now().await,
            Err(e) => panic!("release for {application:?}: a {} error: {e}", e.kind()),
        }
    }
    panic!("release for {application:?}: still conflicting after 100 attempts")
}

/// A release is scoped like the timeout sweep: a process releases its own application's due
/// rows and the unclaimed ones, never another application's (they stay `DELAYED` until their
/// own sweep); `None` releases every application's. Sweeps racing over the same rows release
/// each row exactly once, and an application name with a NUL byte is refused.
pub async fn delayed_release_is_scoped_by_application<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let now = now_epoch_ms();
    let (past, future) = (now - MINUTE_MS, now + HOUR_MS);
    let delayed = |id: &str, until| NewWorkflow::new(id, "wf_fn", inputs()).delayed("q", until);
    let mut rows = vec![
        delayed("a-due", past).with_application_name("A"),
        delayed("a-later", future).with_application_name("A"),
        delayed("b-due", past).with_application_name("B"),
        delayed("c-due", past).with_application_name("C"),
        delayed("free-due", past),
    ];
    rows.extend((0..12).map(|i| delayed(&format!("race-{i:02}"), past).with_application_name("R")));
    insert_all(&store, rows).await;

    assert_eq!(
        sorted(release_for(&store, Some("A")).await),
        ids(&["a-due", "free-due"]),
        "A releases its own due row and the unclaimed one"
    );
    for (id, status) in [
        ("a-due", WorkflowStatus::Enqueued),
        ("free-due", WorkflowStatus::Enqueued),
        ("a-later", WorkflowStatus::Delayed),
        ("b-due", WorkflowStatus::Delayed),
        ("c-due", WorkflowStatus::Delayed),
    ] {
        assert_eq!(status_of(&store, id).await, status, "{id} after A's sweep");
    }
    assert!(
        release_for(&store, Some("A")).await.is_empty(),
        "a second sweep of A releases nothing"
    );
    assert_eq!(
        release_for(&store, Some("B")).await,
        ids(&["b-due"]),
        "B's own sweep releases its row"
    );
    assert_eq!(status_of(&store, "c-due").await, WorkflowStatus::Delayed);

    let (r1, r2, r3, r4) = tokio::join!(
        release_for(&store, Some("R")),
        release_for(&store, Some("R")),
        release_for(&store, Some("R")),
        release_for(&store, Some("R")),
    );
    let mut raced: Vec<String> = [r1, r2, r3, r4].into_iter().flatten().collect();
    raced.sort();
    let expected: Vec<String> = (0..12).map(|i| format!("race-{i:02}")).collect();
    assert_eq!(
        raced, expected,
        "racing sweeps release every due row of R exactly once"
    );

    assert_eq!(
        release_for(&store, None).await,
        ids(&["c-due"]),
        "an unscoped sweep releases every application's due rows"
    );
    assert_eq!(status_of(&store, "a-later").await, WorkflowStatus::Delayed);

    let e = err(
        store.release_delayed_workflows(Some("A\0")).await,
        ErrorKind::InvalidInput,
        "an application name with a NUL byte",
    );
    assert!(
        e.to_string().contains("application name"),
        "the error names the application name: {e}"
    );
    factory.destroy(store).await;
}

/// Debounce ownership is DBOS's `COALESCE(existing, caller)`: a bounce claims an unclaimed row
/// for the caller's application, leaves an owned row with its owner (a caller without an
/// application extends it and changes no owner), and a bounce without an application leaves an
/// unclaimed row unclaimed.
pub async fn debounce_claims_only_unclaimed_rows<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let until = now_epoch_ms() + HOUR_MS;
    let debounce = |key: &str, n: i32, app: Option<&str>| {
        let inputs = Payload::portable_json(format!("[{n}]"));
        let mut request = DebounceRequest::new("wf_fn", "q", key, until, inputs);
        request.application_name = app.map(str::to_owned);
        let store = &store;
        async move { ok(store.debounce_workflow(request).await, "debounce_workflow") }
    };
    let owned = NewWorkflow::new("owned", "wf_fn", inputs())
        .debounced("q", "a", until, None)
        .with_application_name("A");
    let free = NewWorkflow::new("free", "wf_fn", inputs()).debounced("q", "f", until, None);
    insert_all(&store, vec![owned, free]).await;
    let owner = |id: &'static str| {
        let store = &store;
        async move { get(store, id).await.application_name }
    };
    assert_eq!(owner("owned").await.as_deref(), Some("A"), "inserted owned");

    let extended = |id: &str| DebounceOutcome::Extended {
        workflow_id: id.into(),
    };
    assert_eq!(debounce("a", 1, None).await, extended("owned"));
    assert_eq!(
        owner("owned").await.as_deref(),
        Some("A"),
        "a bounce without an application keeps the owner"
    );
    assert_eq!(debounce("a", 2, Some("A")).await, extended("owned"));
    assert_eq!(owner("owned").await.as_deref(), Some("A"));
    assert_eq!(get(&store, "owned").await.inputs.as_deref(), Some("[2]"));

    assert_eq!(debounce("f", 3, None).await, extended("free"));
    assert_eq!(owner("free").await, None, "no application claims nothing");
    assert_eq!(debounce("f", 4, Some("B")).await, extended("free"));
    assert_eq!(
        owner("free").await.as_deref(),
        Some("B"),
        "an unclaimed row is claimed"
    );
    factory.destroy(store).await;
}
