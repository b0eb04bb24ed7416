//! PostgreSQL-specific checks of the queue store beyond the conformance suite: concurrent
//! claimers under `SKIP LOCKED` and under a shared budget (`NOWAIT`), the contention and
//! serialization failures a claim surfaces, the partitioned fast path and its cap, batch
//! enqueue ordering, deadlines at the edge of the bigint range, the return-existing
//! deduplication policy, and application versions registered without a conflict target.
//!
//! Every test gets a fresh schema in one database of the test server.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{
    ClaimRequest, DatabaseUrl, DbosConfig, DedupPolicy, ErrorKind, InsertOptions, LifecycleStore,
    NewWorkflow, Outcome, Payload, QueueLimits, QueueStore, StopReason, VersionStore,
    WorkflowStatus, WorkflowStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;
use tokio::sync::OnceCell;

static DATABASE: OnceCell<String> = OnceCell::const_new();

async fn database_url() -> &'static str {
    DATABASE
        .get_or_init(|| pg::server().create_database("dbos_queues"))
        .await
}

/// A migrated store on a fresh schema.
async fn store() -> PostgresStore {
    let url = database_url().await;
    let schema = pg::server().unique_name("dbos_queues");
    let dbos = DbosConfig::new("queue_tests")
        .with_dbos_system_schema(schema.as_str())
        .with_sys_db_pool_size(20);
    let config = PostgresConfig::system(&dbos, &DatabaseUrl::parse(url).unwrap()).unwrap();
    let store = PostgresStore::open(config).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// An admin connection to the test database.
async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database_url().await, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn drop_store(store: PostgresStore) {
    store.close().await.unwrap();
    admin()
        .await
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_identifier(store.schema())
        ))
        .await
        .unwrap();
}

/// `store.schema()` quoted, for admin SQL.
fn schema(store: &PostgresStore) -> String {
    quote_identifier(store.schema())
}

fn inputs() -> Payload {
    Payload::portable_json(r#"{"positionalArgs":[],"namedArgs":{}}"#)
}

fn enqueued(id: &str, queue: &str) -> NewWorkflow {
    NewWorkflow::new(id, "f", inputs()).enqueued(queue)
}

fn in_partition(id: &str, queue: &str, key: &str) -> NewWorkflow {
    let mut wf = enqueued(id, queue);
    wf.queue_partition_key = Some(key.to_owned());
    wf
}

/// Enqueues `n` workflows `{prefix}{i}` on `queue` with one batch call.
async fn enqueue_many(store: &PostgresStore, queue: &str, prefix: &str, n: usize) {
    let batch = (0..n)
        .map(|i| enqueued(&format!("{prefix}{i:05}"), queue))
        .collect();
    let inserted = store.enqueue_workflows(batch).await.unwrap();
    assert_eq!(inserted.len(), n);
}

/// `SELECT count(*) … WHERE queue_name = queue AND status = status`.
async fn count(
    client: &tokio_postgres::Client,
    store: &PostgresStore,
    queue: &str,
    status: &str,
) -> i64 {
    client
        .query_one(
            &format!(
                "SELECT count(*) FROM {}.workflow_status WHERE queue_name = $1 AND status = $2",
                schema(store)
            ),
            &[&queue, &status],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_skip_locked_claimers_never_double_claim() {
    const TOTAL: usize = 2000;
    let store = Arc::new(store().await);
    enqueue_many(&store, "bulk", "w", TOTAL).await;
    let taken = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = store.clone();
        let taken = taken.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine: Vec<(String, String)> = Vec::new();
            while taken.load(Ordering::SeqCst) < TOTAL {
                let request =
                    ClaimRequest::new("bulk", format!("exec-{worker}"), "v1").max_tasks(37);
                let token = request.owner_xid.clone();
                let outcome = store.claim_workflows(request).await.unwrap();
                assert_eq!(outcome.stop_reason, None);
                if outcome.claimed.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                assert!(outcome.claimed.len() <= 37);
                taken.fetch_add(outcome.claimed.len(), Ordering::SeqCst);
                mine.extend(outcome.claimed.into_iter().map(|id| (id, token.clone())));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_eq!(all.len(), TOTAL, "every workflow is claimed exactly once");
    let distinct: HashSet<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(distinct.len(), TOTAL, "a workflow was claimed twice");

    // Each row is PENDING, owned by the claim that returned it, counted once.
    let client = admin().await;
    let rows = client
        .query(
            &format!(
                "SELECT workflow_uuid, status, owner_xid, recovery_attempts, rate_limited \
                 FROM {}.workflow_status",
                schema(&store)
            ),
            &[],
        )
        .await
        .unwrap();
    let owners: std::collections::HashMap<&str, &str> = all
        .iter()
        .map(|(id, token)| (id.as_str(), token.as_str()))
        .collect();
    for row in &rows {
        let id: String = row.get(0);
        assert_eq!(row.get::<_, String>(1), "PENDING", "{id}");
        assert_eq!(
            row.get::<_, Option<String>>(2).as_deref(),
            Some(owners[id.as_str()])
        );
        assert_eq!(row.get::<_, i64>(3), 1, "{id} was claimed once");
        assert!(
            !row.get::<_, bool>(4),
            "no limiter: rate_limited stays false"
        );
    }
    let store = Arc::try_unwrap(store).unwrap();
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_budget_under_eight_claimers_never_exceeds_concurrency() {
    const TOTAL: usize = 120;
    const CONCURRENCY: u32 = 4;
    let store = Arc::new(store().await);
    enqueue_many(&store, "shared", "s", TOTAL).await;
    let limits = QueueLimits::new().concurrency(CONCURRENCY);
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let conflicts = Arc::new(AtomicUsize::new(0));

    // A monitor samples the PENDING count while the claimers run.
    let monitor = {
        let store = store.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = admin().await;
            let mut max = 0;
            while !stop.load(Ordering::SeqCst) {
                max = max.max(count(&client, &store, "shared", "PENDING").await);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            max
        })
    };
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = store.clone();
        let done = done.clone();
        let conflicts = conflicts.clone();
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < TOTAL {
                let request =
                    ClaimRequest::new("shared", format!("exec-{worker}"), "v1").limits(limits);
                let token = request.owner_xid.clone();
                match store.claim_workflows(request).await {
                    Ok(outcome) => {
                        // Run what was claimed, briefly, then finish it with the claim's token.
                        for id in outcome.claimed {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            let applied = store
                                .record_outcome(
                                    &id,
                                    Outcome::Output(Payload::portable_json("1")),
                                    Some(&token),
                                )
                                .await
                                .unwrap();
                            assert!(applied);
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) => {
                        // Another worker is dequeuing: retry at the next poll.
                        assert!(
                            matches!(
                                e.kind(),
                                ErrorKind::Contention | ErrorKind::SerializationFailure
                            ),
                            "{e}"
                        );
                        conflicts.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let max_pending = monitor.await.unwrap();
    assert!(
        max_pending <= i64::from(CONCURRENCY),
        "{max_pending} workflows were PENDING at once; the queue's concurrency is {CONCURRENCY}"
    );
    let client = admin().await;
    assert_eq!(
        count(&client, &store, "shared", "SUCCESS").await,
        TOTAL as i64
    );
    eprintln!(
        "shared budget: {} claim conflicts (contention or serialization) among 8 claimers",
        conflicts.load(Ordering::SeqCst)
    );
    let store = Arc::try_unwrap(store).unwrap();
    drop_store(store).await;
}

/// A session left idle in a transaction that holds a queued row (a crashed tool, a forgotten
/// `psql`): no claim waits for it or fails on it. Without a shared budget the held row is passed
/// over; with one, it keeps its place at the head of the queue and counts against the budget
/// (two claimers must never take more than the budget between them, and the holder might be one
/// of them), so it costs its queue one slot until it is released, and other queues nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_held_by_an_idle_session_delays_no_other_row_or_queue() {
    let store = store().await;
    for q in ["plain", "limited", "other"] {
        for i in 0..3 {
            store
                .insert_workflow(enqueued(&format!("{q}-{i}"), q), InsertOptions::default())
                .await
                .unwrap();
        }
    }
    let mut client = admin().await;
    let idle = client.transaction().await.unwrap();
    idle.execute(
        &format!(
            "SELECT 1 FROM {}.workflow_status WHERE workflow_uuid IN ('plain-0', 'limited-0') FOR UPDATE",
            schema(&store)
        ),
        &[],
    )
    .await
    .unwrap();
    let limited =
        || ClaimRequest::new("limited", "e", "v1").limits(QueueLimits::new().concurrency(2));

    // No shared budget: the held head is passed over.
    let outcome = store
        .claim_workflows(ClaimRequest::new("plain", "e", "v1"))
        .await
        .unwrap();
    assert_eq!(outcome.claimed, ["plain-1", "plain-2"]);

    // A shared budget of two: the held head takes one slot, the next row the other.
    let outcome = store.claim_workflows(limited()).await.unwrap();
    assert_eq!(outcome.claimed, ["limited-1"]);
    let outcome = store.claim_workflows(limited()).await.unwrap();
    assert!(outcome.claimed.is_empty(), "{outcome:?}");

    // Another queue with a shared budget is not concerned.
    let outcome = store
        .claim_workflows(
            ClaimRequest::new("other", "e", "v1").limits(QueueLimits::new().concurrency(2)),
        )
        .await
        .unwrap();
    assert_eq!(outcome.claimed, ["other-0", "other-1"]);

    // Released, the head is claimed next.
    idle.rollback().await.unwrap();
    let outcome = store.claim_workflows(limited()).await.unwrap();
    assert_eq!(outcome.claimed, ["limited-0"]);
    drop_store(store).await;
}

/// Makes a claim's snapshot stale: an admin transaction locks `application_versions` (which
/// the selection reads, so the claim waits there after its budget query took the snapshot),
/// updates the head row, and commits. Returns the claim's result.
async fn claim_with_stale_snapshot(
    store: &PostgresStore,
    request: ClaimRequest,
    head: &str,
) -> dbos_storage_core::Result<dbos_storage_core::ClaimOutcome> {
    let mut client = admin().await;
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "LOCK TABLE {}.application_versions IN ACCESS EXCLUSIVE MODE",
        schema(store)
    ))
    .await
    .unwrap();
    let claimer = {
        let store = store.clone();
        tokio::spawn(async move { store.claim_workflows(request).await })
    };
    // Wait until the claim is blocked on the lock.
    let waiting = format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT l.granted AND c.relname = 'application_versions' AND n.nspname = '{}'",
        store.schema()
    );
    let watcher = admin().await;
    for _ in 0..500 {
        let n: i64 = watcher.query_one(&waiting, &[]).await.unwrap().get(0);
        if n > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tx.execute(
        &format!(
            "UPDATE {}.workflow_status SET updated_at = updated_at + 1 WHERE workflow_uuid = $1",
            schema(store)
        ),
        &[&head],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    claimer.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_snapshots_surface_as_serialization_failures() {
    let store = store().await;
    store
        .insert_workflow(enqueued("rr-0", "rr"), InsertOptions::default())
        .await
        .unwrap();
    store
        .insert_workflow(in_partition("ser-0", "ser", "p1"), InsertOptions::default())
        .await
        .unwrap();

    // REPEATABLE READ: a shared budget.
    let request = ClaimRequest::new("rr", "e", "v1").limits(QueueLimits::new().concurrency(3));
    let e = claim_with_stale_snapshot(&store, request, "rr-0")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SerializationFailure, "{e}");
    assert_eq!(e.code(), Some("40001"));

    // SERIALIZABLE: a partition key and a queue-wide concurrency.
    let limits = QueueLimits::new().concurrency(3).partition_concurrency(1);
    let request = ClaimRequest::new("ser", "e", "v1")
        .limits(limits)
        .partition("p1");
    let e = claim_with_stale_snapshot(&store, request, "ser-0")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SerializationFailure, "{e}");

    // The next poll succeeds.
    let request = ClaimRequest::new("ser", "e", "v1")
        .limits(limits)
        .partition("p1");
    assert_eq!(
        store.claim_workflows(request).await.unwrap().claimed,
        ["ser-0"]
    );
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_fast_path_takes_the_head_of_each_free_partition() {
    let store = store().await;
    let single = QueueLimits::new().partition_concurrency(1);
    let mut batch = Vec::new();
    for p in ["a", "b", "c", "d"] {
        for i in 0..3 {
            batch.push(
                in_partition(&format!("{p}{i}"), "parts", p).with_priority(if p == "c" {
                    1
                } else {
                    0
                }),
            );
        }
    }
    store.enqueue_workflows(batch).await.unwrap();
    // Partition d is busy: a PENDING row of another application still blocks it.
    let mut busy = in_partition("d-busy", "parts", "d");
    busy.application_name = Some("other".into());
    store.enqueue_workflows(vec![busy]).await.unwrap();
    admin()
        .await
        .execute(
            &format!(
                "UPDATE {}.workflow_status SET status = 'PENDING' WHERE workflow_uuid = 'd-busy'",
                schema(&store)
            ),
            &[],
        )
        .await
        .unwrap();

    let request = ClaimRequest::new("parts", "e", "v1")
        .limits(single)
        .application_name("app");
    let first = store.claim_workflows(request).await.unwrap();
    // In dequeue order: priority 0 heads (a0, b0) by creation, then c0 (priority 1).
    assert_eq!(first.claimed, ["a0", "b0", "c0"]);
    let rows = store.get_workflows(&first.claimed).await.unwrap();
    for row in &rows {
        assert_eq!(row.status, WorkflowStatus::Pending);
        assert_eq!(row.application_name.as_deref(), Some("app"));
    }
    // Every partition now has a PENDING row.
    let again = store
        .claim_workflows(ClaimRequest::new("parts", "e", "v1").limits(single))
        .await
        .unwrap();
    assert!(again.claimed.is_empty());

    // Finishing a0 frees partition a only; max_tasks caps the sweep.
    store
        .record_outcome("a0", Outcome::Output(Payload::portable_json("1")), None)
        .await
        .unwrap();
    let next = store
        .claim_workflows(
            ClaimRequest::new("parts", "e", "v1")
                .limits(single)
                .max_tasks(5),
        )
        .await
        .unwrap();
    assert_eq!(next.claimed, ["a1"]);

    // Any other partitioned shape needs a partition key.
    let e = store
        .claim_workflows(
            ClaimRequest::new("parts", "e", "v1")
                .limits(QueueLimits::new().partition_concurrency(2)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_fast_path_is_capped_at_8192_partitions() {
    const PARTITIONS: usize = 8300;
    let store = store().await;
    let batch = (0..PARTITIONS)
        .map(|i| in_partition(&format!("w{i:05}"), "wide", &format!("p{i:05}")))
        .collect();
    assert_eq!(
        store.enqueue_workflows(batch).await.unwrap().len(),
        PARTITIONS
    );
    let partitions = store.queue_partitions("wide", None).await.unwrap();
    assert_eq!(partitions.len(), PARTITIONS);
    assert!(partitions.windows(2).all(|w| w[0] < w[1]));

    let single = QueueLimits::new().partition_concurrency(1);
    let outcome = store
        .claim_workflows(ClaimRequest::new("wide", "e", "v1").limits(single))
        .await
        .unwrap();
    assert_eq!(
        outcome.claimed.len(),
        8192,
        "one sweep visits at most 8192 partitions"
    );
    let outcome = store
        .claim_workflows(
            ClaimRequest::new("wide", "e", "v1")
                .limits(single)
                .max_tasks(50),
        )
        .await
        .unwrap();
    assert_eq!(outcome.claimed.len(), 50);
    let outcome = store
        .claim_workflows(ClaimRequest::new("wide", "e", "v1").limits(single))
        .await
        .unwrap();
    assert_eq!(outcome.claimed.len(), PARTITIONS - 8192 - 50);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fast_path_claimers_keep_one_pending_per_partition() {
    let store = Arc::new(store().await);
    let batch = (0..600)
        .map(|i| in_partition(&format!("w{i:04}"), "fp", &format!("p{}", i % 40)))
        .collect();
    store.enqueue_workflows(batch).await.unwrap();
    let single = QueueLimits::new().partition_concurrency(1);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            for _ in 0..5 {
                let request = ClaimRequest::new("fp", format!("e{worker}"), "v1").limits(single);
                claimed.extend(store.claim_workflows(request).await.unwrap().claimed);
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_eq!(
        all.len(),
        40,
        "one head per partition, nothing finished in between"
    );
    let rows = store.get_workflows(&all).await.unwrap();
    let partitions: HashSet<_> = rows.iter().map(|r| r.queue_partition_key.clone()).collect();
    assert_eq!(partitions.len(), 40);
    let store = Arc::try_unwrap(store).unwrap();
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_enqueue_orders_created_at_per_queue() {
    let store = store().await;
    // An existing row far in the future, in a partition of its own: the batch, of rows in
    // another partition and in none, starts after it.
    store
        .insert_workflow(enqueued("old", "q"), InsertOptions::default())
        .await
        .unwrap();
    let far = dbos_storage_core::now_epoch_ms() + 3_600_000;
    admin()
        .await
        .execute(
            &format!(
                "UPDATE {}.workflow_status SET created_at = $1, queue_partition_key = 'far' \
                 WHERE workflow_uuid = 'old'",
                schema(&store)
            ),
            &[&far],
        )
        .await
        .unwrap();
    let mut batch = Vec::new();
    for i in 0..1200 {
        let mut wf = enqueued(&format!("b{i:04}"), "q");
        if i % 3 == 0 {
            wf.queue_partition_key = Some("k".into());
        }
        batch.push(wf);
    }
    batch.push(enqueued("old", "q")); // an existing id is skipped
    let inserted = store.enqueue_workflows(batch.clone()).await.unwrap();
    let expected: Vec<String> = (0..1200).map(|i| format!("b{i:04}")).collect();
    assert_eq!(
        inserted, expected,
        "the new ids, in input order; `old` skipped"
    );
    let rows = store.get_workflows(&inserted).await.unwrap();
    assert!(
        rows.windows(2).all(|w| w[0].created_at < w[1].created_at),
        "creation times increase in input order across the queue's partitions and chunks"
    );
    assert!(
        rows[0].created_at > far,
        "the batch starts after the queue's newest row, whatever its partition"
    );
    // Inputs are written; a re-run inserts nothing.
    assert_eq!(rows[7].inputs.as_deref(), Some(inputs().text.as_str()));
    assert!(store.enqueue_workflows(batch).await.unwrap().is_empty());

    // A held deduplication id fails its chunk and writes nothing of it.
    let held = enqueued("holder", "d").with_deduplication_id("k1");
    store
        .insert_workflow(held, InsertOptions::default())
        .await
        .unwrap();
    let e = store
        .enqueue_workflows(vec![
            enqueued("x1", "d"),
            enqueued("x2", "d").with_deduplication_id("k1"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Deduplicated, "{e}");
    assert!(store
        .get_workflows(&["x1".to_owned()])
        .await
        .unwrap()
        .is_empty());
    // A PENDING workflow is refused.
    let e = store
        .enqueue_workflows(vec![NewWorkflow::new("p", "f", inputs())])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_deadlines_clamp_to_the_bigint_range() {
    let store = store().await;
    store
        .insert_workflow(
            enqueued("huge", "q").with_timeout(Duration::MAX),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    store
        .insert_workflow(
            enqueued("kept", "q")
                .with_timeout(Duration::from_secs(1))
                .with_deadline(42),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    store
        .insert_workflow(enqueued("none", "q"), InsertOptions::default())
        .await
        .unwrap();
    let outcome = store
        .claim_workflows(ClaimRequest::new("q", "e", "v1"))
        .await
        .unwrap();
    assert_eq!(outcome.claimed.len(), 3);
    let rows = store
        .get_workflows(&["huge".into(), "kept".into(), "none".into()])
        .await
        .unwrap();
    assert_eq!(rows[0].workflow_deadline_epoch_ms, Some(i64::MAX));
    assert_eq!(rows[1].workflow_deadline_epoch_ms, Some(42));
    assert_eq!(rows[2].workflow_deadline_epoch_ms, None);
    // The expired one is cancelled by the sweep; the others are not due.
    assert_eq!(
        store.cancel_timed_out_workflows(10, None).await.unwrap(),
        ["kept"]
    );
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_existing_attaches_to_the_holder() {
    let store = store().await;
    let holder = enqueued("holder", "q").with_deduplication_id("key");
    store
        .insert_workflow(holder, InsertOptions::default())
        .await
        .unwrap();
    let options = InsertOptions::default().dedup_policy(DedupPolicy::ReturnExisting);
    let outcome = store
        .insert_workflow(
            enqueued("second", "q").with_deduplication_id("key"),
            options.clone(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.deduplicated_into.as_deref(), Some("holder"));
    assert!(outcome.existed && !outcome.should_execute);
    assert_eq!(outcome.status, WorkflowStatus::Enqueued);
    assert_eq!(outcome.queue_name.as_deref(), Some("q"));
    assert!(store
        .get_workflows(&["second".into()])
        .await
        .unwrap()
        .is_empty());

    // Once the holder finishes it releases the key, and the next insert is a new workflow.
    let claim = ClaimRequest::new("q", "e", "v1");
    let token = claim.owner_xid.clone();
    store.claim_workflows(claim).await.unwrap();
    store
        .record_outcome(
            "holder",
            Outcome::Output(Payload::portable_json("1")),
            Some(&token),
        )
        .await
        .unwrap();
    let outcome = store
        .insert_workflow(enqueued("third", "q").with_deduplication_id("key"), options)
        .await
        .unwrap();
    assert_eq!(outcome.deduplicated_into, None);
    assert!(!outcome.existed);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_claims_are_counted_on_the_database_clock() {
    let store = store().await;
    enqueue_many(&store, "rl", "r", 5).await;
    let limits = QueueLimits::new().rate_limit(2, Duration::from_secs(3600));
    let first = store
        .claim_workflows(ClaimRequest::new("rl", "e", "v1").limits(limits))
        .await
        .unwrap();
    assert_eq!(first.claimed.len(), 2);
    let rows = store.get_workflows(&first.claimed).await.unwrap();
    assert!(rows.iter().all(|r| r.started_at_epoch_ms.is_some()));
    let second = store
        .claim_workflows(ClaimRequest::new("rl", "e", "v1").limits(limits))
        .await
        .unwrap();
    assert_eq!(second.stop_reason, Some(StopReason::RateLimit));
    let flags: Vec<bool> = admin()
        .await
        .query(
            &format!(
                "SELECT rate_limited FROM {}.workflow_status WHERE status = 'PENDING'",
                schema(&store)
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(flags, [true, true]);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_register_without_naming_a_constraint() {
    let store = store().await;
    // The global version_name constraint is what DBOS is retiring: registration must work
    // with it and without it.
    let v1 = store
        .create_application_version("v1", Some("app"))
        .await
        .unwrap();
    assert_eq!(
        store
            .create_application_version("v1", Some("app"))
            .await
            .unwrap(),
        v1
    );
    let e = store
        .create_application_version("v1", Some("other"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WorkflowConflict);
    admin()
        .await
        .batch_execute(&format!(
            "ALTER TABLE {}.application_versions DROP CONSTRAINT application_versions_version_name_key",
            schema(&store)
        ))
        .await
        .unwrap();
    let again = store
        .create_application_version("v1", Some("app"))
        .await
        .unwrap();
    assert_eq!(
        again.version_id, v1.version_id,
        "the per-owner index keeps one row"
    );
    store.create_application_version("v2", None).await.unwrap();
    let claimed = store
        .create_application_version("v2", Some("app"))
        .await
        .unwrap();
    assert_eq!(claimed.application_name.as_deref(), Some("app"));

    // Version-less rows go to the latest version only.
    store
        .insert_workflow(enqueued("nv", "q"), InsertOptions::default())
        .await
        .unwrap();
    store
        .set_application_version_timestamp("v1", 1, Some("app"))
        .await
        .unwrap();
    store
        .set_application_version_timestamp("v2", 2, Some("app"))
        .await
        .unwrap();
    let old = store
        .claim_workflows(ClaimRequest::new("q", "e", "v1").application_name("app"))
        .await
        .unwrap();
    assert!(old.claimed.is_empty());
    let latest = store
        .claim_workflows(ClaimRequest::new("q", "e", "v2").application_name("app"))
        .await
        .unwrap();
    assert_eq!(latest.claimed, ["nv"]);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_claim_takes_more_than_one_chunk() {
    let store = store().await;
    let mut batch: Vec<NewWorkflow> = (0..9000)
        .map(|i| enqueued(&format!("w{i:05}"), "big"))
        .collect();
    batch[8999].priority = -1; // dequeued first
    store.enqueue_workflows(batch).await.unwrap();
    // No limit at all: every row, in dequeue order, in one atomic claim.
    let outcome = store
        .claim_workflows(ClaimRequest::new("big", "e", "v1").max_tasks(5000))
        .await
        .unwrap();
    assert_eq!(outcome.claimed.len(), 5000);
    assert_eq!(outcome.claimed[0], "w08999");
    assert_eq!(outcome.claimed[1], "w00000");
    assert!(outcome.claimed[1..].windows(2).all(|w| w[0] < w[1]));
    // A shared budget across chunks.
    let outcome = store
        .claim_workflows(
            ClaimRequest::new("big", "e", "v1").limits(QueueLimits::new().concurrency(9000)),
        )
        .await
        .unwrap();
    assert_eq!(outcome.claimed.len(), 4000);
    assert_eq!(outcome.claimed[0], "w04999");
    let client = admin().await;
    assert_eq!(count(&client, &store, "big", "PENDING").await, 9000);
    drop_store(store).await;
}
