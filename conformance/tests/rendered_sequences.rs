//! Sequences the model-based machines printed for a failure, pasted as they were printed (then
//! formatted; only the last call is bound, to check its answer, and `now` is marked used): the
//! machines' output compiles as a test, and each sequence stays a regression example on the
//! reference model.
//!
//! The first was printed by the queues machine against a SQLite driver whose claim took the
//! highest priority first; the second by the messaging machine against a store whose receive
//! returned a wrong message.

use std::time::Duration;

use dbos_storage_conformance::MemoryStore;
use dbos_storage_core::{
    AwaitOptions, Caller, ClaimOutcome, ClaimRequest, DedupPolicy, InsertOptions, NewWorkflow,
    OutgoingMessage, Payload, QueueLimits, QueueStore, RecvRequest, SendOptions,
};
use dbos_storage_core::{MessageStore, WorkflowStore};

#[tokio::test]
async fn claims_take_the_lowest_priority_first() {
    let store = MemoryStore::migrated();
    let now = dbos_storage_core::now_epoch_ms();
    let _ = store
        .insert_workflow(
            NewWorkflow::new("w2", "f", Payload::portable_json("[2]"))
                .with_creator_xid("t0")
                .enqueued("q0"),
            InsertOptions::default().dedup_policy(DedupPolicy::Reject),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let _ = store
        .insert_workflow(
            NewWorkflow::new("w0", "f", Payload::portable_json("[0]"))
                .with_creator_xid("t0")
                .enqueued("q0"),
            InsertOptions::default().dedup_policy(DedupPolicy::Reject),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let _ = store
        .enqueue_workflows(vec![NewWorkflow::new(
            "w1",
            "g",
            Payload::portable_json("[1]"),
        )
        .with_creator_xid("t0")
        .enqueued("q0")
        .with_priority(2)
        .with_timeout(Duration::from_secs(3600))])
        .await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let claimed = store
        .claim_workflows({
            let mut r = ClaimRequest::new("q0", "e1", "v2")
                .limits(
                    QueueLimits::new()
                        .concurrency(2)
                        .worker_concurrency(2)
                        .rate_limit(3, Duration::from_secs(3600)),
                )
                .running(0, 0)
                .max_tasks(2);
            r.owner_xid = "c1".to_owned();
            r
        })
        .await;
    let _ = now;
    assert_eq!(
        claimed.unwrap(),
        ClaimOutcome::new(vec!["w2".to_owned(), "w0".to_owned()], None)
    );
}

#[tokio::test]
async fn a_receive_without_waiting_takes_the_message() {
    let store = MemoryStore::migrated();
    let now = dbos_storage_core::now_epoch_ms();
    let _ = store
        .insert_workflow(
            NewWorkflow::new("m0", "f", Payload::portable_json("[]")).with_creator_xid("o"),
            InsertOptions::default(),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let _ = store
        .insert_workflow(
            NewWorkflow::new("m2", "f", Payload::portable_json("[]")).with_creator_xid("o"),
            InsertOptions::default(),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let _ = store
        .send_messages(
            vec![OutgoingMessage::new(
                "m2",
                Some("t"),
                Payload::portable_json("2"),
            )],
            None,
            SendOptions::default().send_to_forks(false),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let received = store
        .recv(
            RecvRequest::new(
                Caller::workflow("m2", 1).with_timeout_step(2),
                Some("t"),
                Duration::ZERO,
            ),
            AwaitOptions::default().poll_interval(Duration::from_millis(20)),
        )
        .await;
    let _ = now;
    assert_eq!(received.unwrap(), Some(Payload::portable_json("2")));
}
