//! SQLite-specific behaviour of the queue and version operations of `SqliteStore`: claims from
//! several stores sharing one file, the writer lock, the stored columns, and the exact errors.
//! The conformance suite covers the contract itself.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dbos_storage_core::{
    now_epoch_ms, AwaitOptions, ClaimRequest, DebounceOutcome, DebounceRequest, DedupPolicy,
    ErrorKind, InsertOptions, LifecycleStore, ListWorkflowsQuery, NewWorkflow, Payload,
    QueueConflictPolicy, QueueDefinition, QueueLimits, QueueStore, QueueUpdate, StopReason,
    VersionStore, WorkflowResult, WorkflowStatus, WorkflowStore, INTERNAL_QUEUE,
};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

mod common;
use common::{fixture, fixture_with, ids, input, raw};

fn queued(id: &str, queue: &str) -> NewWorkflow {
    NewWorkflow::new(id, "job", input()).enqueued(queue)
}

fn claim(queue: &str) -> ClaimRequest {
    ClaimRequest::new(queue, "executor-1", "v1")
}

async fn status_of(store: &SqliteStore, id: &str) -> WorkflowStatus {
    store.get_workflows(&ids(&[id])).await.unwrap()[0]
        .status
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_never_claim_a_workflow_twice() {
    const WORKFLOWS: usize = 1000;
    const TASKS: usize = 8;
    let f = fixture().await;
    let second = SqliteStore::open(SqliteConfig::file(&f.path))
        .await
        .unwrap();
    let batch: Vec<NewWorkflow> = (0..WORKFLOWS)
        .map(|i| queued(&format!("wf-{i:04}"), "shared"))
        .collect();
    let inserted = f.store.enqueue_workflows(batch).await.unwrap();
    assert_eq!(inserted.len(), WORKFLOWS);

    let stores = [f.store.clone(), second.clone()];
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = stores[t % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut mine: Vec<(String, String)> = Vec::new();
            loop {
                let request = ClaimRequest::new("shared", format!("executor-{t}"), "v1")
                    .max_tasks(7 + t as u32);
                let token = request.owner_xid.clone();
                let outcome = store.claim_workflows(request).await.unwrap();
                if outcome.claimed.is_empty() {
                    return mine;
                }
                mine.extend(outcome.claimed.into_iter().map(|id| (id, token.clone())));
            }
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    let distinct: HashSet<&str> = claimed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        claimed.len(),
        WORKFLOWS,
        "every workflow is claimed exactly once"
    );
    assert_eq!(distinct.len(), WORKFLOWS);

    // Each row is owned by the claim that reported it, and was claimed once.
    let conn = raw(&f.path);
    let mut stmt = conn
        .prepare("SELECT owner_xid, recovery_attempts, status FROM workflow_status WHERE workflow_uuid = ?1")
        .unwrap();
    for (id, token) in &claimed {
        let (owner, attempts, status): (String, i64, String) = stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!(&owner, token, "{id}");
        assert_eq!(attempts, 1, "{id}");
        assert_eq!(status, "PENDING", "{id}");
    }
    second.close().await.unwrap();
}

#[tokio::test]
async fn a_claim_while_another_process_holds_the_write_lock_is_contention() {
    let f = fixture_with(|c| c.busy_timeout(Duration::from_millis(200))).await;
    f.store
        .insert_workflow(queued("a", "q"), InsertOptions::default())
        .await
        .unwrap();

    let blocker = raw(&f.path);
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let began = Instant::now();
    let e = f.store.claim_workflows(claim("q")).await.unwrap_err();
    assert!(
        began.elapsed() >= Duration::from_millis(150),
        "did not wait for the lock"
    );
    assert_eq!(e.kind(), ErrorKind::Contention, "{e}");
    assert!(e.is_retryable());
    assert!(
        e.message()
            .contains("busy for longer than busy_timeout=200ms"),
        "{e}"
    );
    blocker.execute_batch("ROLLBACK").unwrap();

    // The next poll is the retry: nothing was claimed by the failed one.
    assert_eq!(status_of(&f.store, "a").await, WorkflowStatus::Enqueued);
    let outcome = f.store.claim_workflows(claim("q")).await.unwrap();
    assert_eq!(outcome.claimed, ids(&["a"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_waits_for_the_lock_within_busy_timeout() {
    let f = fixture_with(|c| c.busy_timeout(Duration::from_secs(10))).await;
    f.store
        .insert_workflow(queued("a", "q"), InsertOptions::default())
        .await
        .unwrap();
    let path = f.path.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let blocker = std::thread::spawn(move || {
        let conn = raw(&path);
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    let began = Instant::now();
    let outcome = f.store.claim_workflows(claim("q")).await.unwrap();
    assert!(
        began.elapsed() >= Duration::from_millis(200),
        "did not wait"
    );
    assert_eq!(outcome.claimed, ids(&["a"]));
    blocker.join().unwrap();
}

#[tokio::test]
async fn a_claim_writes_the_dbos_claim_columns() {
    let f = fixture().await;
    f.store
        .insert_workflow(
            queued("limited", "rl").with_timeout(Duration::from_secs(60)),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let request = claim("rl")
        .limits(QueueLimits::new().rate_limit(10, Duration::from_secs(60)))
        .application_name("billing");
    let token = request.owner_xid.clone();
    let before = now_epoch_ms();
    let outcome = f.store.claim_workflows(request).await.unwrap();
    assert_eq!(outcome.claimed, ids(&["limited"]));

    let conn = raw(&f.path);
    let row: (String, String, String, String, String, i64, i64, i64, i64) = conn
        .query_row(
            "SELECT status, owner_xid, executor_id, application_version, application_name, \
             rate_limited, recovery_attempts, started_at_epoch_ms, workflow_deadline_epoch_ms \
             FROM workflow_status WHERE workflow_uuid = 'limited'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(row.0, "PENDING");
    assert_eq!(row.1, token);
    assert_eq!((row.2.as_str(), row.3.as_str()), ("executor-1", "v1"));
    assert_eq!(row.4, "billing");
    assert_eq!(row.5, 1, "claimed under a limiter");
    assert_eq!(row.6, 1);
    assert!(row.7 >= before - 1000 && row.7 <= now_epoch_ms() + 1000);
    assert_eq!(row.8, row.7 + 60_000, "deadline = start + timeout");

    // The limiter counts it: a rate of one per minute is now used up.
    f.store
        .insert_workflow(queued("next", "rl"), InsertOptions::default())
        .await
        .unwrap();
    let outcome = f
        .store
        .claim_workflows(
            claim("rl").limits(QueueLimits::new().rate_limit(1, Duration::from_secs(60))),
        )
        .await
        .unwrap();
    assert_eq!(outcome.stop_reason, Some(StopReason::RateLimit));
    assert!(outcome.claimed.is_empty());
}

#[tokio::test]
async fn partitioned_claims_need_a_key_unless_single_flight() {
    let f = fixture().await;
    let mut batch = Vec::new();
    for (id, key, priority) in [
        ("a1", "a", 0),
        ("a2", "a", 0),
        ("b1", "b", 5),
        ("c1", "c", 1),
    ] {
        let mut w = queued(id, "pq").with_priority(priority);
        w.queue_partition_key = Some(key.to_owned());
        batch.push(w);
    }
    f.store.enqueue_workflows(batch).await.unwrap();

    let e = f
        .store
        .claim_workflows(claim("pq").limits(QueueLimits::new().partition_concurrency(2)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.message(),
        "queue \"pq\" is partitioned, so a claim needs a partition key; list the partitions \
         with queue_partitions() and claim each one"
    );
    assert_eq!(
        f.store.queue_partitions("pq", None).await.unwrap(),
        ids(&["a", "b", "c"])
    );

    // The fast path: one head per idle partition, in dequeue order.
    let single = QueueLimits::new().partition_concurrency(1);
    let outcome = f
        .store
        .claim_workflows(claim("pq").limits(single))
        .await
        .unwrap();
    assert_eq!(outcome.claimed, ids(&["a1", "c1", "b1"]));
    // Every partition is busy now.
    let outcome = f
        .store
        .claim_workflows(claim("pq").limits(single))
        .await
        .unwrap();
    assert!(outcome.claimed.is_empty());
    // With a key, the partition's concurrency is the limit.
    let outcome = f
        .store
        .claim_workflows(claim("pq").limits(single).partition("a"))
        .await
        .unwrap();
    assert_eq!(outcome.stop_reason, Some(StopReason::PartitionConcurrency));
}

#[tokio::test]
async fn version_less_rows_go_to_the_latest_version_only() {
    let f = fixture().await;
    f.store
        .insert_workflow(queued("any", "q"), InsertOptions::default())
        .await
        .unwrap();
    f.store
        .create_application_version("v1", None)
        .await
        .unwrap();
    f.store
        .create_application_version("v2", None)
        .await
        .unwrap();
    // Registered in the same millisecond or not, the newer registration is the latest.
    let latest = f.store.latest_application_version(None).await.unwrap();
    assert_eq!(latest.version_name, "v2");

    let outcome = f.store.claim_workflows(claim("q")).await.unwrap();
    assert!(outcome.claimed.is_empty(), "v1 is not the latest version");
    let outcome = f
        .store
        .claim_workflows(ClaimRequest::new("q", "executor-2", "v2"))
        .await
        .unwrap();
    assert_eq!(outcome.claimed, ids(&["any"]));
}

#[tokio::test]
async fn delayed_workflows_are_released_when_due() {
    let f = fixture().await;
    let now = now_epoch_ms();
    f.store
        .insert_workflow(
            NewWorkflow::new("due", "job", input()).delayed("q", now - 1_000),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    f.store
        .insert_workflow(
            NewWorkflow::new("later", "job", input()).delayed("q", now + 3_600_000),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    f.store
        .insert_workflow(
            NewWorkflow::new("debounced", "digest", input()).debounced(
                "q",
                "user-7",
                now - 1_000,
                Some(now + 60_000),
            ),
            InsertOptions::default(),
        )
        .await
        .unwrap();

    // A DELAYED row is not claimable.
    let outcome = f.store.claim_workflows(claim("q")).await.unwrap();
    assert!(outcome.claimed.is_empty());

    let released = f.store.release_delayed_workflows(None).await.unwrap();
    assert_eq!(released, ids(&["debounced", "due"]));
    assert!(f
        .store
        .release_delayed_workflows(None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(status_of(&f.store, "later").await, WorkflowStatus::Delayed);
    let conn = raw(&f.path);
    let dedup: Option<String> = conn
        .query_row(
            "SELECT deduplication_id FROM workflow_status WHERE workflow_uuid = 'debounced'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dedup, None, "a released debounce gives up its key");

    assert!(f.store.set_workflow_delay("later", now - 1).await.unwrap());
    assert!(!f.store.set_workflow_delay("due", now).await.unwrap());
    assert_eq!(
        f.store.release_delayed_workflows(None).await.unwrap(),
        ids(&["later"])
    );
}

#[tokio::test]
async fn a_debounce_is_capped_at_its_deadline_and_replaces_the_inputs() {
    let f = fixture().await;
    let now = now_epoch_ms();
    f.store
        .insert_workflow(
            NewWorkflow::new("d", "digest", input()).debounced(
                "q",
                "user-7",
                now + 1_000,
                Some(now + 5_000),
            ),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let request = DebounceRequest::new(
        "digest",
        "q",
        "user-7",
        now + 60_000,
        Payload::portable_json(r#"{"positionalArgs":[2],"namedArgs":{}}"#),
    );
    let outcome = f.store.debounce_workflow(request).await.unwrap();
    assert_eq!(
        outcome,
        DebounceOutcome::Extended {
            workflow_id: "d".into()
        }
    );
    let row = &f.store.get_workflows(&ids(&["d"])).await.unwrap()[0];
    assert_eq!(row.delay_until_epoch_ms, Some(now + 5_000));
    assert_eq!(
        row.inputs.as_deref(),
        Some(r#"{"positionalArgs":[2],"namedArgs":{}}"#)
    );

    let other = DebounceRequest::new("other", "q", "user-7", now, input());
    assert_eq!(
        f.store.debounce_workflow(other).await.unwrap(),
        DebounceOutcome::Vacant
    );
    // A plain deduplication id is no debounce: the caller learns who holds it.
    f.store
        .insert_workflow(
            queued("plain", "q").with_deduplication_id("digest-user-8"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let collide = DebounceRequest::new("digest", "q", "user-8", now, input());
    assert_eq!(
        f.store.debounce_workflow(collide).await.unwrap(),
        DebounceOutcome::HeldBy {
            workflow_id: "plain".into(),
            is_debounced: false,
            name: "job".into(),
            application_name: None,
        }
    );
    assert_eq!(
        f.store
            .deduplicated_workflow("q", "digest-user-7")
            .await
            .unwrap()
            .as_deref(),
        Some("d")
    );
}

#[tokio::test]
async fn recovery_attempts_count_claims_and_dead_letter_at_the_limit() {
    let f = fixture().await;
    f.store
        .insert_workflow(queued("w", "q"), InsertOptions::default())
        .await
        .unwrap();
    for attempt in 1..=3 {
        let outcome = f.store.claim_workflows(claim("q")).await.unwrap();
        assert_eq!(outcome.claimed, ids(&["w"]), "claim {attempt}");
        let pending = f
            .store
            .pending_workflows("executor-1", Some("v1"), None)
            .await
            .unwrap();
        assert_eq!(pending, ids(&["w"]));
        // Not dead yet below the limit.
        assert!(f
            .store
            .dead_letter_workflows(&ids(&["w"]), 4)
            .await
            .unwrap()
            .is_empty());
        let again = f
            .store
            .reenqueue_for_recovery(&ids(&["w"]), &ids(&["executor-1"]))
            .await
            .unwrap();
        assert_eq!(again, ids(&["w"]));
    }
    f.store.claim_workflows(claim("q")).await.unwrap();
    let waiter = {
        let store = f.store.clone();
        tokio::spawn(async move {
            store
                .await_workflow_result(
                    "w",
                    AwaitOptions::default().poll_interval(Duration::from_secs(60)),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dead = f
        .store
        .dead_letter_workflows(&ids(&["w", "w"]), 4)
        .await
        .unwrap();
    assert_eq!(dead, ids(&["w"]));
    let result = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("dead-lettering wakes the waiter")
        .unwrap()
        .unwrap();
    assert_eq!(result, WorkflowResult::MaxRecoveryAttemptsExceeded);

    let row = &f.store.get_workflows(&ids(&["w"])).await.unwrap()[0];
    assert_eq!(row.recovery_attempts, 4);
    assert_eq!(row.queue_name, None);
    assert_eq!(row.started_at_epoch_ms, None);
    assert!(row.completed_at.is_some());
}

#[tokio::test]
async fn recovery_puts_direct_starts_on_the_internal_queue() {
    let f = fixture().await;
    f.store
        .insert_workflow(
            NewWorkflow::new("direct", "job", input()).with_executor("dead"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    assert!(f
        .store
        .reenqueue_for_recovery(&ids(&["direct"]), &ids(&["alive"]))
        .await
        .unwrap()
        .is_empty());
    let changed = f
        .store
        .reenqueue_for_recovery(&ids(&["direct"]), &ids(&["dead"]))
        .await
        .unwrap();
    assert_eq!(changed, ids(&["direct"]));
    let row = &f.store.get_workflows(&ids(&["direct"])).await.unwrap()[0];
    assert_eq!(row.status, WorkflowStatus::Enqueued);
    assert_eq!(row.queue_name.as_deref(), Some(INTERNAL_QUEUE));
}

#[tokio::test]
async fn timed_out_workflows_are_cancelled_oldest_deadline_first() {
    let f = fixture().await;
    let now = now_epoch_ms();
    for (id, deadline) in [
        ("late", now - 10),
        ("early", now - 1_000),
        ("future", now + 60_000),
    ] {
        f.store
            .insert_workflow(
                queued(id, "q").with_deadline(deadline),
                InsertOptions::default(),
            )
            .await
            .unwrap();
    }
    let cancelled = f.store.cancel_timed_out_workflows(1, None).await.unwrap();
    assert_eq!(cancelled, ids(&["early"]));
    let cancelled = f.store.cancel_timed_out_workflows(10, None).await.unwrap();
    assert_eq!(cancelled, ids(&["late"]));
    assert_eq!(status_of(&f.store, "late").await, WorkflowStatus::Cancelled);
    assert_eq!(
        status_of(&f.store, "future").await,
        WorkflowStatus::Enqueued
    );
}

#[tokio::test]
async fn batch_enqueue_orders_each_partition_after_its_newest_row() {
    let f = fixture().await;
    let conn = raw(&f.path);
    f.store
        .insert_workflow(queued("old", "fifo"), InsertOptions::default())
        .await
        .unwrap();
    // Pretend another writer stamped the queue's newest row in the future.
    let future = now_epoch_ms() + 60_000;
    conn.execute(
        "UPDATE workflow_status SET created_at = ?1 WHERE workflow_uuid = 'old'",
        [future],
    )
    .unwrap();
    let batch: Vec<NewWorkflow> = ["n1", "n2", "old", "n3"]
        .iter()
        .map(|id| queued(id, "fifo"))
        .collect();
    let inserted = f.store.enqueue_workflows(batch).await.unwrap();
    assert_eq!(
        inserted,
        ids(&["n1", "n2", "n3"]),
        "an existing id is skipped"
    );
    let mut stmt = conn
        .prepare("SELECT created_at FROM workflow_status WHERE workflow_uuid = ?1")
        .unwrap();
    let created: Vec<i64> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| stmt.query_row([id], |r| r.get(0)).unwrap())
        .collect();
    assert_eq!(created, [future + 1, future + 2, future + 3]);

    // A re-run inserts nothing; a PENDING workflow is refused before anything is written.
    let again: Vec<NewWorkflow> = ["n1", "n2"].iter().map(|id| queued(id, "fifo")).collect();
    assert!(f.store.enqueue_workflows(again).await.unwrap().is_empty());
    let e = f
        .store
        .enqueue_workflows(vec![
            queued("n4", "fifo"),
            NewWorkflow::new("direct", "job", input()),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.message(),
        "workflow direct is a direct start (PENDING); enqueue_workflows takes ENQUEUED or \
         DELAYED workflows only — start it with insert_workflow instead"
    );
    assert!(f
        .store
        .get_workflows(&ids(&["n4"]))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_held_deduplication_id_fails_its_batch_chunk() {
    let f = fixture().await;
    f.store
        .insert_workflow(
            queued("holder", "q").with_deduplication_id("k"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let e = f
        .store
        .enqueue_workflows(vec![
            queued("x", "q"),
            queued("y", "q").with_deduplication_id("k"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Deduplicated);
    assert_eq!(
        e.message(),
        "workflow y was not enqueued: queue \"q\" already has a workflow with deduplication id \"k\""
    );
    assert!(
        f.store
            .get_workflows(&ids(&["x"]))
            .await
            .unwrap()
            .is_empty(),
        "nothing of the chunk is written"
    );
}

#[tokio::test]
async fn return_existing_attaches_to_the_holder() {
    let f = fixture().await;
    f.store
        .insert_workflow(
            queued("holder", "q").with_deduplication_id("k"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let options = InsertOptions::default().dedup_policy(DedupPolicy::ReturnExisting);
    let outcome = f
        .store
        .insert_workflow(
            queued("second", "q").with_deduplication_id("k"),
            options.clone(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.deduplicated_into.as_deref(), Some("holder"));
    assert!(outcome.existed && !outcome.should_execute);
    assert_eq!(outcome.status, WorkflowStatus::Enqueued);
    assert_eq!(outcome.queue_name.as_deref(), Some("q"));
    assert!(f
        .store
        .get_workflows(&ids(&["second"]))
        .await
        .unwrap()
        .is_empty());

    // Once the holder finishes and releases the key, the insert goes through.
    f.store.claim_workflows(claim("q")).await.unwrap();
    f.store
        .record_outcome("holder", dbos_storage_core::Outcome::Output(input()), None)
        .await
        .unwrap();
    let outcome = f
        .store
        .insert_workflow(queued("second", "q").with_deduplication_id("k"), options)
        .await
        .unwrap();
    assert_eq!(outcome.deduplicated_into, None);
    assert!(!outcome.existed);
}

#[tokio::test]
async fn the_queue_registry_writes_dbos_columns() {
    let f = fixture().await;
    let queue = QueueDefinition::new("emails")
        .limits(
            QueueLimits::new()
                .concurrency(4)
                .rate_limit(10, Duration::from_millis(1500))
                .partition_concurrency(1),
        )
        .polling_interval(Duration::from_millis(250))
        .application_name("mailer");
    assert!(f
        .store
        .upsert_queue(queue.clone(), QueueConflictPolicy::Update)
        .await
        .unwrap());
    assert!(!f
        .store
        .upsert_queue(queue.clone(), QueueConflictPolicy::Update)
        .await
        .unwrap());
    assert_eq!(
        f.store.get_queue("emails").await.unwrap(),
        Some(queue.clone().partition_queue(true)),
        "a partition limit is stored, and read back, as partition_queue"
    );

    let conn = raw(&f.path);
    let row: (i64, i64, f64, f64, String) = conn
        .query_row(
            "SELECT priority_enabled, partition_queue, rate_limit_period_sec, \
             polling_interval_sec, queue_id FROM queues WHERE name = 'emails'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!((row.0, row.1), (1, 1));
    assert_eq!((row.2, row.3), (1.5, 0.25));
    assert_eq!(row.4.len(), 32, "SQLite's hex(randomblob(16)) default");

    let e = f
        .store
        .upsert_queue(
            QueueDefinition::new("emails").application_name("intruder"),
            QueueConflictPolicy::Keep,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WorkflowConflict);
    assert_eq!(
        e.message(),
        "queue \"emails\" belongs to application \"mailer\"; application \"intruder\" cannot \
         register it (queue names are global)"
    );
    let e = f
        .store
        .upsert_queue(
            QueueDefinition::new("_dbos_mine"),
            QueueConflictPolicy::Update,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.message(),
        "queue name \"_dbos_mine\" starts with the prefix \"_dbos_\", which is reserved for \
         DBOS's internal queues; choose another name"
    );

    let mut update = QueueUpdate::default();
    update.concurrency = Some(None);
    update.worker_concurrency = Some(Some(2));
    let updated = f.store.update_queue("emails", update).await.unwrap();
    assert_eq!(updated.limits.concurrency, None);
    assert_eq!(updated.limits.worker_concurrency, Some(2));
    assert_eq!(updated.application_name.as_deref(), Some("mailer"));
    assert_eq!(f.store.get_queue("emails").await.unwrap(), Some(updated));

    f.store
        .upsert_queue(QueueDefinition::new("shared"), QueueConflictPolicy::Update)
        .await
        .unwrap();
    let names = |qs: Vec<QueueDefinition>| qs.into_iter().map(|q| q.name).collect::<Vec<_>>();
    assert_eq!(
        names(f.store.list_queues(Some("mailer")).await.unwrap()),
        ["emails", "shared"]
    );
    assert_eq!(
        names(f.store.list_queues(Some("other")).await.unwrap()),
        ["shared"]
    );

    assert!(f.store.delete_queue("emails").await.unwrap());
    assert!(!f.store.delete_queue("emails").await.unwrap());
    let e = f
        .store
        .update_queue("emails", QueueUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.message(),
        "queue \"emails\" does not exist; register it with upsert_queue first"
    );
}

#[tokio::test]
async fn versions_are_claimed_promoted_and_owned() {
    let f = fixture().await;
    // An unclaimed row (a client registered it) is claimed by the first application to launch.
    let unclaimed = f
        .store
        .create_application_version("v1", None)
        .await
        .unwrap();
    assert_eq!(unclaimed.application_name, None);
    let claimed = f
        .store
        .create_application_version("v1", Some("shop"))
        .await
        .unwrap();
    assert_eq!(claimed.version_id, unclaimed.version_id);
    assert_eq!(claimed.application_name.as_deref(), Some("shop"));
    // A re-run returns the same row.
    assert_eq!(
        f.store
            .create_application_version("v1", Some("shop"))
            .await
            .unwrap(),
        claimed
    );

    let e = f
        .store
        .create_application_version("v1", Some("blog"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WorkflowConflict);
    assert_eq!(
        e.message(),
        "application version \"v1\" belongs to application \"shop\"; application \"blog\" \
         cannot register it (version names are global)"
    );

    let v2 = f
        .store
        .create_application_version("v2", Some("shop"))
        .await
        .unwrap();
    assert!(v2.version_timestamp > claimed.version_timestamp);
    assert_eq!(
        f.store
            .latest_application_version(Some("shop"))
            .await
            .unwrap()
            .version_name,
        "v2"
    );
    // Promote v1 back.
    f.store
        .set_application_version_timestamp("v1", v2.version_timestamp + 1, Some("shop"))
        .await
        .unwrap();
    let listed: Vec<String> = f
        .store
        .list_application_versions(Some("shop"))
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version_name)
        .collect();
    assert_eq!(listed, ["v1", "v2"]);
    assert!(f
        .store
        .list_application_versions(Some("blog"))
        .await
        .unwrap()
        .is_empty());

    let e = f
        .store
        .latest_application_version(Some("blog"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.message(),
        "no application version is registered for application \"blog\"; every launch \
         registers its version with create_application_version"
    );
    let e = f
        .store
        .set_application_version_timestamp("v9", 1, Some("shop"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.message(),
        "application version \"v9\" is not registered for application \"shop\"; register it \
         with create_application_version first"
    );
}

#[tokio::test]
async fn concurrent_launches_register_one_version_row() {
    let f = fixture().await;
    let store = Arc::new(f.store.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.create_application_version("v1", Some("shop")).await
        }));
    }
    let mut rows = Vec::new();
    for t in tasks {
        rows.push(t.await.unwrap().unwrap());
    }
    assert!(rows.windows(2).all(|w| w[0] == w[1]));
    let count: i64 = raw(&f.path)
        .query_row("SELECT count(*) FROM application_versions", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn queued_listing_sees_claims() {
    let f = fixture().await;
    f.store
        .enqueue_workflows(vec![queued("a", "q"), queued("b", "q").with_priority(-1)])
        .await
        .unwrap();
    let outcome = f
        .store
        .claim_workflows(claim("q").max_tasks(1))
        .await
        .unwrap();
    assert_eq!(outcome.claimed, ids(&["b"]), "lower priority runs first");
    let listed = f
        .store
        .list_workflows(
            ListWorkflowsQuery::new()
                .queues_only(true)
                .status(vec![WorkflowStatus::Pending]),
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].workflow_id, "b");
    assert!(listed[0].started_at_epoch_ms.is_some());
}
