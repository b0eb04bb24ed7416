//! SQLite-specific behaviour of `SqliteStore` and the exact errors it reports. The conformance
//! suite covers the contract itself.

use std::time::{Duration, Instant};

use dbos_storage_core::payload::portable::PortableError;
use dbos_storage_core::{
    AwaitOptions, CancelOptions, ErrorKind, IdReusePolicy, InsertOptions, LifecycleStore,
    ListWorkflowsQuery, ManagementStore, NewWorkflow, Outcome, Payload, QueueStore, ResumeOptions,
    Serialization, StepRecord, StepStore, WorkflowResult, WorkflowStatus, WorkflowStore,
    INTERNAL_QUEUE, SLEEP_STEP,
};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

mod common;
use common::{fixture, fixture_with, ids, input, raw};

fn start(id: &str, name: &str) -> NewWorkflow {
    NewWorkflow::new(id, name, input())
}

#[tokio::test]
async fn a_reused_id_with_another_name_is_a_workflow_conflict() {
    let f = fixture().await;
    f.store
        .insert_workflow(start("wf-1", "checkout"), InsertOptions::default())
        .await
        .unwrap();
    let e = f
        .store
        .insert_workflow(start("wf-1", "refund"), InsertOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WorkflowConflict, "{e}");
    let m = e.message();
    assert!(
        m.contains("wf-1") && m.contains("\"checkout\"") && m.contains("\"refund\""),
        "{m}"
    );
    // The class is part of the identity too.
    let e = f
        .store
        .insert_workflow(
            start("wf-1", "checkout").with_class(Some("Shop".into()), None),
            InsertOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WorkflowConflict, "{e}");
    assert!(e.message().contains("of class \"Shop\""), "{e}");
}

#[tokio::test]
async fn insert_reconciles_retries_foreign_creators_and_the_reject_policy() {
    let f = fixture().await;
    let first = start("wf-2", "job");
    let token = first.creator_xid.clone();
    let out = f
        .store
        .insert_workflow(first.clone(), InsertOptions::default())
        .await
        .unwrap();
    assert!(out.should_execute && !out.existed);
    assert_eq!(out.status, WorkflowStatus::Pending);
    assert_eq!(out.serialization, Some(Serialization::PortableJson));
    // A retried commit of the same insert recognises its own row.
    let again = f
        .store
        .insert_workflow(first, InsertOptions::default())
        .await
        .unwrap();
    assert!(again.should_execute && !again.existed);
    // Another creator attaches.
    let other = f
        .store
        .insert_workflow(start("wf-2", "job"), InsertOptions::default())
        .await
        .unwrap();
    assert!(!other.should_execute && other.existed);
    // ... or is refused.
    let e = f
        .store
        .insert_workflow(
            start("wf-2", "job"),
            InsertOptions::default().reuse_policy(IdReusePolicy::Reject),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WorkflowIdInUse, "{e}");
    assert!(e.message().contains("wf-2"), "{e}");
    // The row is written as DBOS writes it.
    let c = raw(&f.path);
    let (owner, creator, attempts, attributes): (String, String, i64, String) = c
        .query_row(
            "SELECT owner_xid, creator_xid, recovery_attempts, attributes FROM workflow_status \
             WHERE workflow_uuid = 'wf-2'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (owner.as_str(), creator.as_str()),
        (token.as_str(), token.as_str())
    );
    assert_eq!(attempts, 1);
    assert_eq!(attributes, "null");
    let inputs: String = c
        .query_row(
            "SELECT inputs FROM workflow_input WHERE workflow_uuid = 'wf-2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(inputs, input().text);
}

#[tokio::test]
async fn a_held_deduplication_id_is_reported_and_nothing_is_written() {
    let f = fixture().await;
    let holder = start("wf-a", "job")
        .enqueued("orders")
        .with_deduplication_id("user-7");
    f.store
        .insert_workflow(holder.clone(), InsertOptions::default())
        .await
        .unwrap();
    // A retry of the holder's own insert is not a duplicate.
    let retry = f
        .store
        .insert_workflow(holder, InsertOptions::default())
        .await
        .unwrap();
    assert!(!retry.existed);
    assert_eq!(retry.status, WorkflowStatus::Enqueued);

    let e = f
        .store
        .insert_workflow(
            start("wf-b", "job")
                .enqueued("orders")
                .with_deduplication_id("user-7"),
            InsertOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Deduplicated, "{e}");
    let m = e.message();
    assert!(
        m.contains("wf-b") && m.contains("\"orders\"") && m.contains("\"user-7\""),
        "{m}"
    );
    assert!(f
        .store
        .get_workflows(&ids(&["wf-b"]))
        .await
        .unwrap()
        .is_empty());
    let inputs: i64 = raw(&f.path)
        .query_row(
            "SELECT count(*) FROM workflow_input WHERE workflow_uuid = 'wf-b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(inputs, 0);
    // The same id on another queue is fine.
    f.store
        .insert_workflow(
            start("wf-c", "job")
                .enqueued("billing")
                .with_deduplication_id("user-7"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
}

/// A batch enqueue whose insert fails for another reason than a held deduplication id (here a
/// trigger of the user's aborts one row that carries a deduplication id) reports the database's
/// own error, not `Deduplicated`, and writes nothing of the batch.
#[tokio::test]
async fn an_enqueue_failing_for_another_reason_is_not_reported_as_deduplicated() {
    let f = fixture().await;
    raw(&f.path)
        .execute_batch(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON workflow_status \
             WHEN NEW.workflow_uuid = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'the poisoned row is refused'); END;",
        )
        .unwrap();
    let e = f
        .store
        .enqueue_workflows(vec![
            start("fine", "job").enqueued("orders"),
            start("poison", "job")
                .enqueued("orders")
                .with_deduplication_id("user-7"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(
        e.message()
            .contains("SQLite constraint violation: the poisoned row is refused"),
        "{e}"
    );
    assert!(f
        .store
        .get_workflows(&ids(&["fine", "poison"]))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_lost_workflow_makes_checkpoints_fail() {
    let f = fixture().await;
    let wf = start("wf-own", "job");
    let token = wf.creator_xid.clone();
    f.store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
    let step = StepRecord::output("wf-own", 1, "charge", Payload::rust_serde("1"));
    let e = f
        .store
        .record_step(step.clone(), Some("someone-else"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotOwner, "{e}");
    assert!(
        e.message().contains("wf-own") && e.message().contains("no longer owned"),
        "{e}"
    );
    // The owner records fine.
    f.store.record_step(step, Some(&token)).await.unwrap();
    // After cancellation nobody owns it.
    f.store
        .cancel_workflows(&ids(&["wf-own"]), CancelOptions::default())
        .await
        .unwrap();
    let e = f
        .store
        .record_step(
            StepRecord::output("wf-own", 2, "ship", Payload::rust_serde("2")),
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotOwner, "{e}");
    assert!(e.message().contains("nobody owns it"), "{e}");
    // A deleted workflow is missing, token or not.
    let e = f
        .store
        .record_step(
            StepRecord::output("wf-gone", 1, "x", Payload::rust_serde("1")),
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("deleted while running"), "{e}");
    // Without a token, a missing workflow is just missing.
    let e = f
        .store
        .record_step(
            StepRecord::output("wf-gone", 1, "x", Payload::rust_serde("1")),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn a_rival_step_record_is_a_step_conflict_and_a_retry_is_not() {
    let f = fixture().await;
    let wf = start("wf-step", "job");
    let token = wf.creator_xid.clone();
    f.store
        .insert_workflow(wf.with_application_name("shop"), InsertOptions::default())
        .await
        .unwrap();
    let mine = StepRecord::output("wf-step", 3, "charge", Payload::rust_serde("\"ok\""))
        .with_times(Some(1_000), 1_100);
    f.store
        .record_step(mine.clone(), Some(&token))
        .await
        .unwrap();
    f.store.record_step(mine, Some(&token)).await.unwrap();
    let rival = StepRecord::output("wf-step", 3, "charge", Payload::rust_serde("\"no\""))
        .with_times(Some(1_000), 2_200);
    let e = f.store.record_step(rival, Some(&token)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StepConflict, "{e}");
    let m = e.message();
    assert!(
        m.contains("step 3") && m.contains("wf-step") && m.contains("1100"),
        "{m}"
    );
    let recorded = f
        .store
        .check_step("wf-step", 3, "charge")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        recorded.outcome,
        Some(Outcome::Output(Payload::rust_serde("\"ok\"")))
    );
    let app: Option<String> = raw(&f.path)
        .query_row(
            "SELECT application_name FROM operation_outputs WHERE workflow_uuid = 'wf-step'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(app.as_deref(), Some("shop"));
}

#[tokio::test]
async fn check_step_reports_unexpected_steps_cancellation_and_missing_workflows() {
    let f = fixture().await;
    f.store
        .insert_workflow(start("wf-chk", "job"), InsertOptions::default())
        .await
        .unwrap();
    assert!(f
        .store
        .check_step("wf-chk", 1, "a")
        .await
        .unwrap()
        .is_none());
    f.store
        .record_step(
            StepRecord::error("wf-chk", 1, "a", Payload::portable_json("{}")),
            None,
        )
        .await
        .unwrap();
    let got = f.store.check_step("wf-chk", 1, "a").await.unwrap().unwrap();
    assert!(matches!(got.outcome, Some(Outcome::Error(_))));
    let e = f.store.check_step("wf-chk", 1, "b").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedStep, "{e}");
    let m = e.message();
    assert!(
        m.contains("step 1") && m.contains("\"a\"") && m.contains("\"b\""),
        "{m}"
    );

    f.store
        .cancel_workflows(&ids(&["wf-chk"]), CancelOptions::default())
        .await
        .unwrap();
    let e = f.store.check_step("wf-chk", 2, "c").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert_eq!(e.message(), "workflow wf-chk was cancelled");

    let e = f.store.check_step("wf-none", 1, "a").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("wf-none"), "{e}");
}

#[tokio::test]
async fn resuming_an_unknown_id_changes_nothing() {
    let f = fixture().await;
    f.store
        .insert_workflow(start("wf-r", "job"), InsertOptions::default())
        .await
        .unwrap();
    f.store
        .cancel_workflows(&ids(&["wf-r"]), CancelOptions::default())
        .await
        .unwrap();
    let e = f
        .store
        .resume_workflows(&ids(&["wf-r", "wf-missing"]), ResumeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("wf-missing"), "{e}");
    let w = &f.store.get_workflows(&ids(&["wf-r"])).await.unwrap()[0];
    assert_eq!(w.status, WorkflowStatus::Cancelled);

    let changed = f
        .store
        .resume_workflows(&ids(&["wf-r"]), ResumeOptions::default())
        .await
        .unwrap();
    assert_eq!(changed, ids(&["wf-r"]));
    let w = &f.store.get_workflows(&ids(&["wf-r"])).await.unwrap()[0];
    assert_eq!(w.status, WorkflowStatus::Enqueued);
    assert_eq!(w.queue_name.as_deref(), Some(INTERNAL_QUEUE));
    assert_eq!(w.recovery_attempts, 0);
    assert_eq!(w.completed_at, None);
}

#[tokio::test]
async fn cancel_with_children_walks_every_level() {
    let f = fixture().await;
    let parent = start("p", "job");
    let token = parent.creator_xid.clone();
    f.store
        .insert_workflow(parent, InsertOptions::default())
        .await
        .unwrap();
    f.store
        .start_child_workflow(
            "p",
            1,
            start("p-1", "child"),
            InsertOptions::default(),
            Some(&token),
        )
        .await
        .unwrap();
    f.store
        .insert_workflow(
            start("p-1-1", "grandchild").with_parent("p-1"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        f.store.workflow_children("p").await.unwrap(),
        ids(&["p-1", "p-1-1"])
    );
    let changed = f
        .store
        .cancel_workflows(&ids(&["p"]), CancelOptions::default().cancel_children(true))
        .await
        .unwrap();
    assert_eq!(changed, ids(&["p", "p-1", "p-1-1"]));
    // Idempotent.
    let again = f
        .store
        .cancel_workflows(&ids(&["p"]), CancelOptions::default().cancel_children(true))
        .await
        .unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn a_locked_file_gives_contention_and_loses_nothing() {
    let f = fixture_with(|c| c.busy_timeout(Duration::from_millis(200))).await;
    f.store
        .insert_workflow(start("before", "job"), InsertOptions::default())
        .await
        .unwrap();

    let blocker = raw(&f.path);
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let began = Instant::now();
    let e = f
        .store
        .insert_workflow(start("during", "job"), InsertOptions::default())
        .await
        .unwrap_err();
    assert!(
        began.elapsed() >= Duration::from_millis(150),
        "did not wait for the lock"
    );
    assert_eq!(e.kind(), ErrorKind::Contention, "{e}");
    assert!(e.is_retryable());
    assert!(
        e.message().contains(
            "the SQLite database file is locked by another connection or process (busy for \
             longer than busy_timeout=200ms)"
        ),
        "{e}"
    );
    assert_eq!(e.code(), Some("5"));
    blocker.execute_batch("ROLLBACK").unwrap();

    f.store
        .insert_workflow(start("during", "job"), InsertOptions::default())
        .await
        .unwrap();
    let found = f
        .store
        .get_workflows(&ids(&["before", "during"]))
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
}

#[tokio::test]
async fn a_deduplicated_child_is_recorded_as_the_parent_step_error() {
    let f = fixture().await;
    let parent = start("parent", "job");
    let token = parent.creator_xid.clone();
    f.store
        .insert_workflow(parent, InsertOptions::default())
        .await
        .unwrap();
    f.store
        .insert_workflow(
            start("holder", "child")
                .enqueued("q")
                .with_deduplication_id("k"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let e = f
        .store
        .start_child_workflow(
            "parent",
            4,
            start("parent-4", "child")
                .enqueued("q")
                .with_deduplication_id("k"),
            InsertOptions::default(),
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Deduplicated, "{e}");
    let step = f
        .store
        .check_step("parent", 4, "child")
        .await
        .unwrap()
        .expect("the deduplication is checkpointed");
    let Some(Outcome::Error(payload)) = step.outcome else {
        panic!("expected an error step, got {step:?}");
    };
    assert_eq!(payload.serialization, Some(Serialization::PortableJson));
    let err = PortableError::decode(&payload).unwrap();
    assert_eq!(err.name, "DBOSQueueDeduplicatedError");
    assert!(err.message.contains("deduplication ID k"), "{err}");
    assert_eq!(step.child_workflow_id.as_deref(), Some("parent-4"));
    assert!(f
        .store
        .get_workflows(&ids(&["parent-4"]))
        .await
        .unwrap()
        .is_empty());
    // A replay gives the same answer even once the holder has released the key.
    f.store
        .cancel_workflows(&ids(&["holder"]), CancelOptions::default())
        .await
        .unwrap();
    let e = f
        .store
        .start_child_workflow(
            "parent",
            4,
            start("parent-4", "child")
                .enqueued("q")
                .with_deduplication_id("k"),
            InsertOptions::default(),
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Deduplicated, "{e}");
    assert!(f
        .store
        .get_workflows(&ids(&["parent-4"]))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn children_inherit_the_deadline_and_a_step_names_one_child() {
    let f = fixture().await;
    let parent = start("par", "job").with_timeout(Duration::from_secs(60));
    let token = parent.creator_xid.clone();
    f.store
        .insert_workflow(parent, InsertOptions::default())
        .await
        .unwrap();
    let child = start("par-1", "child");
    let out = f
        .store
        .start_child_workflow(
            "par",
            1,
            child.clone(),
            InsertOptions::default(),
            Some(&token),
        )
        .await
        .unwrap();
    assert!(out.should_execute);
    // Idempotent retry.
    f.store
        .start_child_workflow("par", 1, child, InsertOptions::default(), Some(&token))
        .await
        .unwrap();
    let w = f
        .store
        .get_workflows(&ids(&["par", "par-1"]))
        .await
        .unwrap();
    assert!(w[0].workflow_deadline_epoch_ms.is_some());
    assert_eq!(
        w[1].workflow_deadline_epoch_ms,
        w[0].workflow_deadline_epoch_ms
    );
    assert_eq!(w[1].parent_workflow_id.as_deref(), Some("par"));
    let step = f
        .store
        .check_step("par", 1, "child")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(step.child_workflow_id.as_deref(), Some("par-1"));

    let e = f
        .store
        .start_child_workflow(
            "par",
            1,
            start("par-x", "child"),
            InsertOptions::default(),
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StepConflict, "{e}");
    assert!(
        e.message().contains("par-1") && e.message().contains("par-x"),
        "{e}"
    );
    let e = f
        .store
        .start_child_workflow(
            "nobody",
            1,
            start("n-1", "child"),
            InsertOptions::default(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn a_sleep_records_epoch_seconds_and_replays_its_wake_time() {
    let f = fixture().await;
    let wf = start("sleeper", "job");
    let token = wf.creator_xid.clone();
    f.store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
    let first = f
        .store
        .record_sleep("sleeper", 2, Duration::from_secs(3600), Some(&token))
        .await
        .unwrap();
    assert!(first.remaining > Duration::from_secs(3590));
    let replay = f
        .store
        .record_sleep("sleeper", 2, Duration::from_secs(1), Some(&token))
        .await
        .unwrap();
    assert_eq!(replay.wake_at_epoch_ms, first.wake_at_epoch_ms);
    let (name, output, serialization, completed): (String, String, String, i64) = raw(&f.path)
        .query_row(
            "SELECT function_name, output, serialization, completed_at_epoch_ms \
             FROM operation_outputs WHERE workflow_uuid = 'sleeper' AND function_id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(name, SLEEP_STEP);
    assert_eq!(serialization, "portable_json");
    assert_eq!(completed, first.wake_at_epoch_ms);
    let seconds: f64 = output.parse().unwrap();
    assert_eq!((seconds * 1000.0).round() as i64, first.wake_at_epoch_ms);
    assert!(output.contains('.'), "a float: {output}");
    // Another step at that position is not a sleep.
    let e = f
        .store
        .record_sleep("sleeper", 2, Duration::ZERO, Some(&token))
        .await;
    assert!(e.is_ok());
    f.store
        .record_step(
            StepRecord::output("sleeper", 3, "x", Payload::rust_serde("1")),
            None,
        )
        .await
        .unwrap();
    let e = f
        .store
        .record_sleep("sleeper", 3, Duration::ZERO, Some(&token))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedStep, "{e}");
}

#[tokio::test]
async fn prefix_listing_is_literal_and_case_sensitive() {
    let f = fixture().await;
    for id in ["a_b1", "axb2", "A_b3", "a%c", "a\\d"] {
        f.store
            .insert_workflow(start(id, "job"), InsertOptions::default())
            .await
            .unwrap();
    }
    let list = |prefix: &'static str| {
        let store = f.store.clone();
        async move {
            store
                .list_workflows(ListWorkflowsQuery::new().workflow_id_prefix(prefix))
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.workflow_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("a_").await, ids(&["a_b1"]));
    assert_eq!(list("a%").await, ids(&["a%c"]));
    assert_eq!(list("a\\").await, ids(&["a\\d"]));
    assert_eq!(list("A").await, ids(&["A_b3"]));
}

#[tokio::test]
async fn listing_filters_scope_and_pages() {
    let f = fixture().await;
    f.store
        .insert_workflow(
            start("l1", "a").enqueued("q").with_application_name("app"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    f.store
        .insert_workflow(
            start("l2", "b").with_application_name("other"),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    f.store
        .insert_workflow(start("l3", "a"), InsertOptions::default())
        .await
        .unwrap();
    let names = |ws: Vec<dbos_storage_core::WorkflowInfo>| {
        ws.into_iter().map(|w| w.workflow_id).collect::<Vec<_>>()
    };
    let scoped = f
        .store
        .list_workflows(ListWorkflowsQuery::new().application_name("app"))
        .await
        .unwrap();
    assert_eq!(names(scoped), ids(&["l1", "l3"]));
    let by_id = f
        .store
        .list_workflows(
            ListWorkflowsQuery::new()
                .workflow_ids(["l2"])
                .application_name("app"),
        )
        .await
        .unwrap();
    assert_eq!(names(by_id), ids(&["l2"]));
    let queued = f
        .store
        .list_workflows(ListWorkflowsQuery::new().queues_only(true).load_input(true))
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].inputs.as_deref(), Some(input().text.as_str()));
    let page = f
        .store
        .list_workflows(
            ListWorkflowsQuery::new()
                .sort(dbos_storage_core::SortOrder::Descending)
                .limit(1)
                .offset(1),
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let no_payloads = f
        .store
        .list_workflows(ListWorkflowsQuery::new().name(["a"]))
        .await
        .unwrap();
    assert!(no_payloads.iter().all(|w| w.inputs.is_none()));
    let e = f
        .store
        .list_workflows(ListWorkflowsQuery::new().attributes(serde_json::Map::new()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
}

#[tokio::test]
async fn rows_written_by_other_sdks_are_read_leniently() {
    let f = fixture().await;
    raw(&f.path)
        .execute_batch(
            "INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at, \
                 authenticated_roles, attributes, was_forked_from, output)
             VALUES ('py-1', 'SUCCESS', 'legacy', 1700000000123.4, 1700000000999.6, \
                 '[\"admin\"]', '{\"tier\":\"gold\"}', 1, 'legacy-output');",
        )
        .unwrap();
    let w = &f.store.get_workflows(&ids(&["py-1"])).await.unwrap()[0];
    assert_eq!(w.created_at, 1_700_000_000_123);
    assert_eq!(w.updated_at, 1_700_000_001_000);
    assert_eq!(w.authenticated_roles, Some(vec!["admin".to_owned()]));
    assert_eq!(
        w.attributes.as_ref().and_then(|a| a.get("tier")),
        Some(&serde_json::json!("gold"))
    );
    assert!(w.was_forked_from);
    assert_eq!(w.output.as_deref(), Some("legacy-output"));
    assert_eq!(
        f.store.workflow_result("py-1").await.unwrap(),
        WorkflowResult::Finished(Outcome::Output(Payload::new("legacy-output", None)))
    );
}

/// A task awaiting the result of `workflow_id` that polls only once an hour and gives up after
/// `timeout`, started 50 ms before returning so that it is waiting: it answers sooner only if
/// the store wakes it.
async fn hourly_waiter(
    store: &SqliteStore,
    workflow_id: &str,
    timeout: Duration,
) -> tokio::task::JoinHandle<dbos_storage_core::Result<WorkflowResult>> {
    let (store, id) = (store.clone(), workflow_id.to_owned());
    let waiter = tokio::spawn(async move {
        store
            .await_workflow_result(
                &id,
                AwaitOptions::default()
                    .poll_interval(Duration::from_secs(3600))
                    .timeout(timeout),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    waiter
}

#[tokio::test]
async fn an_outcome_wakes_waiters_in_this_process_at_once() {
    let f = fixture().await;
    let wf = start("waited", "job");
    let token = wf.creator_xid.clone();
    f.store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
    let waiter = hourly_waiter(&f.store, "waited", Duration::from_secs(20)).await;
    let began = Instant::now();
    assert!(f
        .store
        .record_outcome(
            "waited",
            Outcome::Output(Payload::rust_serde("7")),
            Some(&token)
        )
        .await
        .unwrap());
    let result = waiter.await.unwrap().unwrap();
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(matches!(
        result,
        WorkflowResult::Finished(Outcome::Output(_))
    ));
    // A second outcome does not apply.
    assert!(!f
        .store
        .record_outcome("waited", Outcome::Error(Payload::rust_serde("x")), None)
        .await
        .unwrap());
    let e = f
        .store
        .await_workflow_result("ghost", AwaitOptions::default().fail_if_missing(true))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

/// Dead-lettering a workflow wakes a waiter on its result in this process: the waiter polls
/// only once an hour and waits as long, so it answers within the test's 30 s only if the store
/// wakes it.
#[tokio::test]
async fn dead_lettering_wakes_waiters_in_this_process() {
    let f = fixture().await;
    f.store
        .insert_workflow(start("doomed", "job"), InsertOptions::default())
        .await
        .unwrap();
    let waiter = hourly_waiter(&f.store, "doomed", Duration::from_secs(3600)).await;
    let dead = f
        .store
        .dead_letter_workflows(&ids(&["doomed"]), 0)
        .await
        .unwrap();
    assert_eq!(dead, ids(&["doomed"]));
    let result = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("the waiter was not woken by the dead-lettering")
        .unwrap();
    assert!(
        matches!(result, Ok(WorkflowResult::MaxRecoveryAttemptsExceeded)),
        "the waiter was not woken by the dead-lettering: {result:?}"
    );
}

/// The deadline sweep's cancellations wake a waiter on the cancelled workflow in this process,
/// as dead-lettering does (the waiter polls once an hour).
#[tokio::test]
async fn the_deadline_sweep_wakes_waiters_in_this_process() {
    let f = fixture().await;
    let late = start("late", "job").with_deadline(dbos_storage_core::now_epoch_ms() - 1_000);
    f.store
        .insert_workflow(late, InsertOptions::default())
        .await
        .unwrap();
    let waiter = hourly_waiter(&f.store, "late", Duration::from_secs(3600)).await;
    let cancelled = f.store.cancel_timed_out_workflows(10, None).await.unwrap();
    assert_eq!(cancelled, ids(&["late"]));
    let result = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("the waiter was not woken by the deadline sweep")
        .unwrap();
    assert!(
        matches!(result, Ok(WorkflowResult::Cancelled)),
        "the waiter was not woken by the deadline sweep: {result:?}"
    );
}

#[tokio::test]
async fn a_closed_store_refuses_every_call() {
    let f = fixture().await;
    let clone = f.store.clone();
    f.store.close().await.unwrap();
    f.store.close().await.unwrap();
    let e = clone.workflow_result("x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    let e = clone
        .insert_workflow(start("x", "job"), InsertOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    assert_eq!(
        clone.check_connection().await.unwrap_err().kind(),
        ErrorKind::Closed
    );
}

#[tokio::test]
async fn an_in_memory_store_works_and_declares_its_capabilities() {
    let store = SqliteStore::open_url("sqlite:///:memory:").await.unwrap();
    store.migrate().await.unwrap();
    store.check_connection().await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    let caps = store.capabilities();
    assert!(!caps.durable && !caps.multi_process && !caps.listen_notify && !caps.skip_locked);
    assert!(!caps.schemas && !caps.attribute_filter);
    store
        .insert_workflow(start("m", "job"), InsertOptions::default())
        .await
        .unwrap();
    assert_eq!(store.get_workflows(&ids(&["m"])).await.unwrap().len(), 1);
    store.close().await.unwrap();

    let f = fixture().await;
    let caps = f.store.capabilities();
    assert!(caps.durable && caps.multi_process);
    assert!(format!("{:?}", f.store).contains("dbos.sqlite"));
}

#[tokio::test]
async fn opening_a_file_in_a_missing_directory_names_the_file() {
    let e = SqliteStore::open_url("sqlite:////nonexistent-dir-for-dbos/x.sqlite")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(
        e.message().contains("/nonexistent-dir-for-dbos/x.sqlite"),
        "{e}"
    );
    assert!(e.message().contains("does not exist"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_write_concurrently_without_lock_errors() {
    let f = fixture().await;
    let other = SqliteStore::open(SqliteConfig::file(&f.path))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (n, store) in [f.store.clone(), other.clone()].into_iter().enumerate() {
        for t in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let id = format!("s{n}-t{t}-{i}");
                    let wf = start(&id, "job");
                    let token = wf.creator_xid.clone();
                    store
                        .insert_workflow(wf, InsertOptions::default())
                        .await
                        .unwrap();
                    store
                        .record_step(
                            StepRecord::output(&id, 1, "s", Payload::rust_serde("1")),
                            Some(&token),
                        )
                        .await
                        .unwrap();
                    assert!(store
                        .record_outcome(
                            &id,
                            Outcome::Output(Payload::rust_serde("1")),
                            Some(&token)
                        )
                        .await
                        .unwrap());
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Each store reads what the other wrote.
    let all = other
        .list_workflows(ListWorkflowsQuery::new().status(vec![WorkflowStatus::Success]))
        .await
        .unwrap();
    assert_eq!(all.len(), 200);
    other.close().await.unwrap();
}

#[tokio::test]
async fn without_readers_reads_use_the_writer() {
    let f = fixture_with(|c| c.readers(0)).await;
    f.store
        .insert_workflow(start("r0", "job"), InsertOptions::default())
        .await
        .unwrap();
    assert_eq!(f.store.get_workflows(&ids(&["r0"])).await.unwrap().len(), 1);
    f.store.check_connection().await.unwrap();
}

#[tokio::test]
async fn a_native_connection_has_the_store_settings_and_sees_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::file(dir.path().join("native.sqlite"))
        .busy_timeout(Duration::from_millis(1500))
        .synchronous(dbos_storage_sqlite::Synchronous::Normal);
    let store = SqliteStore::open(config.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let conn = config.native_connection().unwrap();
    let pragma = |name: &str| -> String {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| {
            r.get::<_, rusqlite::types::Value>(0)
        })
        .map(|v| match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
    };
    assert_eq!(pragma("journal_mode"), "wal");
    assert_eq!(pragma("synchronous"), "1");
    assert_eq!(pragma("foreign_keys"), "1");
    assert_eq!(pragma("busy_timeout"), "1500");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM workflow_status", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
    store.close().await.unwrap();
    let missing = SqliteConfig::file(dir.path().join("no/such/dir/x.sqlite"));
    let e = missing.native_connection().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
}
