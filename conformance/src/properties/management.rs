//! Properties of [`ManagementStore`]: cancel and resume.

use std::time::Duration;

use dbos_storage_core::validate::MAX_NAME_BYTES;
use dbos_storage_core::{
    CancelOptions, ErrorKind, InsertOptions, NewWorkflow, ResumeOptions, StepRecord,
    WorkflowResult, WorkflowStatus, INTERNAL_QUEUE,
};

use crate::checks::*;
use crate::normalize::normalize_workflow;
use crate::Factory;

/// Cancelling sets `CANCELLED` on any active status, clears the owner, queue, deduplication id
/// and start time, stamps `completed_at`, ignores unknown ids, and is idempotent (a second call
/// changes nothing and returns no ids).
pub async fn cancel_sets_cancelled_and_clears<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    let mut running = pending("w1", "o").with_deduplication_id("k1");
    running.queue_name = Some("q".into());
    ok(store.insert_workflow(running, opts()).await, "w1");
    ok(
        store
            .insert_workflow(enqueued("w2", "q").with_deduplication_id("k2"), opts())
            .await,
        "w2",
    );
    let delayed = NewWorkflow::new("w3", "wf_fn", inputs()).delayed("q", i64::MAX / 2);
    ok(store.insert_workflow(delayed, opts()).await, "w3");

    let changed = ok(
        store
            .cancel_workflows(&ids(&["w1", "w2", "w3", "ghost"]), CancelOptions::default())
            .await,
        "cancel",
    );
    assert_eq!(
        sorted(changed),
        ids(&["w1", "w2", "w3"]),
        "the ids that changed"
    );
    for id in ["w1", "w2", "w3"] {
        let row = get(&store, id).await;
        assert_eq!(row.status, WorkflowStatus::Cancelled, "{id}");
        assert_eq!(row.queue_name, None, "{id}: queue cleared");
        assert_eq!(row.deduplication_id, None, "{id}: deduplication id cleared");
        assert_eq!(row.started_at_epoch_ms, None, "{id}: start time cleared");
        assert!(row.completed_at.is_some(), "{id}: completed_at stamped");
    }
    assert!(!exists(&store, "ghost").await, "cancel creates nothing");
    err(
        store
            .record_step(StepRecord::with_outcome("w1", 1, "s", None), Some("o"))
            .await,
        ErrorKind::NotOwner,
        "the former owner records a step after cancel",
    );
    let before = get(&store, "w1").await;
    let again = ok(
        store
            .cancel_workflows(&ids(&["w1", "w2", "w3"]), CancelOptions::default())
            .await,
        "cancel again",
    );
    assert!(
        again.is_empty(),
        "a second cancel changes nothing: {again:?}"
    );
    assert_eq!(
        get(&store, "w1").await,
        before,
        "a second cancel leaves the row as it was"
    );
    factory.destroy(store).await;
}

/// Cancel never overwrites `SUCCESS` or `ERROR`.
pub async fn cancel_never_overwrites_finished<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    ok(store.insert_workflow(pending("s", "o"), opts()).await, "s");
    ok(store.insert_workflow(pending("e", "o"), opts()).await, "e");
    assert!(ok(
        store.record_outcome("s", output("1"), Some("o")).await,
        "s"
    ));
    assert!(ok(
        store.record_outcome("e", error("2"), Some("o")).await,
        "e"
    ));
    let changed = ok(
        store
            .cancel_workflows(
                &ids(&["s", "e"]),
                CancelOptions::default().cancel_children(true),
            )
            .await,
        "cancel finished workflows",
    );
    assert!(changed.is_empty(), "nothing changed: {changed:?}");
    assert_eq!(
        ok(store.workflow_result("s").await, "s"),
        WorkflowResult::Finished(output("1"))
    );
    assert_eq!(
        ok(store.workflow_result("e").await, "e"),
        WorkflowResult::Finished(error("2"))
    );
    factory.destroy(store).await;
}

/// With `cancel_children`, every active descendant is cancelled too (finished ones are kept);
/// without it, only the named workflows.
pub async fn cancel_children_level_by_level<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    for (id, parent) in [
        ("p1", None),
        ("c1", Some("p1")),
        ("g1", Some("c1")),
        ("p2", None),
        ("c2", Some("p2")),
        ("g2", Some("c2")),
        ("gg2", Some("g2")),
        ("done2", Some("p2")),
    ] {
        let mut wf = pending(id, "o");
        wf.parent_workflow_id = parent.map(str::to_owned);
        ok(store.insert_workflow(wf, opts()).await, id);
    }
    assert!(ok(
        store.record_outcome("done2", output("1"), Some("o")).await,
        "done2"
    ));
    let status = |id: &'static str| {
        let store = &store;
        async move { get(store, id).await.status }
    };

    let changed = ok(
        store
            .cancel_workflows(&ids(&["p1"]), CancelOptions::default())
            .await,
        "cancel p1 alone",
    );
    assert_eq!(changed, ids(&["p1"]));
    assert_eq!(status("c1").await, WorkflowStatus::Pending, "c1 untouched");
    assert_eq!(status("g1").await, WorkflowStatus::Pending, "g1 untouched");

    let changed = ok(
        store
            .cancel_workflows(
                &ids(&["p2"]),
                CancelOptions::default().cancel_children(true),
            )
            .await,
        "cancel p2 with children",
    );
    assert_eq!(sorted(changed), ids(&["c2", "g2", "gg2", "p2"]));
    for id in ["p2", "c2", "g2", "gg2"] {
        assert_eq!(status(id).await, WorkflowStatus::Cancelled, "{id}");
    }
    assert_eq!(status("done2").await, WorkflowStatus::Success, "done2 kept");

    let changed = ok(
        store
            .cancel_workflows(
                &ids(&["p1"]),
                CancelOptions::default().cancel_children(true),
            )
            .await,
        "cancel the already cancelled p1 with children",
    );
    assert_eq!(
        sorted(changed),
        ids(&["c1", "g1"]),
        "the children of a cancelled parent are still reached"
    );
    factory.destroy(store).await;
}

/// Resume puts any unfinished workflow back as `ENQUEUED` on the internal queue (or the given
/// one) with owner, deadline, deduplication id, start and completion times cleared and zero
/// recovery attempts; finished workflows are left alone; resuming twice is harmless.
pub async fn resume_enqueues<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    ok(
        store
            .insert_workflow(
                pending("c", "o").with_timeout(Duration::from_secs(60)),
                opts(),
            )
            .await,
        "c",
    );
    ok(
        store
            .record_step(StepRecord::with_outcome("c", 1, "s", None), Some("o"))
            .await,
        "c step 1",
    );
    ok(
        store
            .cancel_workflows(&ids(&["c"]), CancelOptions::default())
            .await,
        "cancel c",
    );
    let mut live = pending("p", "o").with_deduplication_id("k");
    live.queue_name = Some("q".into());
    ok(store.insert_workflow(live, opts()).await, "p");
    ok(store.insert_workflow(pending("s", "o"), opts()).await, "s");
    assert!(ok(
        store.record_outcome("s", output("1"), Some("o")).await,
        "s"
    ));

    let changed = ok(
        store
            .resume_workflows(&ids(&["c", "p", "s"]), ResumeOptions::default())
            .await,
        "resume",
    );
    assert_eq!(sorted(changed), ids(&["c", "p"]));
    for id in ["c", "p"] {
        let row = get(&store, id).await;
        assert_eq!(row.status, WorkflowStatus::Enqueued, "{id}");
        assert_eq!(row.queue_name.as_deref(), Some(INTERNAL_QUEUE), "{id}");
        assert_eq!(row.recovery_attempts, 0, "{id}");
        assert_eq!(
            row.workflow_deadline_epoch_ms, None,
            "{id}: deadline cleared"
        );
        assert_eq!(row.deduplication_id, None, "{id}: deduplication id cleared");
        assert_eq!(row.started_at_epoch_ms, None, "{id}");
        assert_eq!(row.completed_at, None, "{id}: completion time cleared");
    }
    assert_eq!(
        get(&store, "c").await.workflow_timeout_ms,
        Some(60_000),
        "the timeout is kept for the next claim"
    );
    assert_eq!(get(&store, "s").await.status, WorkflowStatus::Success);

    assert_eq!(
        ok(
            store.check_step("c", 1, "s").await,
            "check step of resumed c"
        )
        .map(|s| s.outcome),
        Some(None),
        "a resumed workflow keeps its steps and is no longer cancelled"
    );
    err(
        store
            .record_step(StepRecord::with_outcome("p", 1, "s", None), Some("o"))
            .await,
        ErrorKind::NotOwner,
        "the former owner records a step after resume",
    );

    let changed = ok(
        store
            .resume_workflows(&ids(&["c"]), ResumeOptions::default().queue_name("custom"))
            .await,
        "resume c on a queue",
    );
    assert_eq!(changed, ids(&["c"]));
    assert_eq!(get(&store, "c").await.queue_name.as_deref(), Some("custom"));
    let before = normalize_workflow(get(&store, "c").await);
    ok(
        store
            .resume_workflows(&ids(&["c"]), ResumeOptions::default().queue_name("custom"))
            .await,
        "resume c again",
    );
    assert_eq!(normalize_workflow(get(&store, "c").await), before);
    factory.destroy(store).await;
}

/// Starts workflow `id` (creator token `o`) and cancels it, as the resume properties start.
async fn start_cancelled<S: dbos_storage_core::SystemStore + ?Sized>(store: &S, id: &str) {
    ok(
        store
            .insert_workflow(pending(id, "o"), InsertOptions::default())
            .await,
        id,
    );
    ok(
        store
            .cancel_workflows(&ids(&[id]), CancelOptions::default())
            .await,
        &format!("cancel {id}"),
    );
}

/// Resuming a list with an unknown id fails with `NotFound` naming it and changes nothing.
pub async fn resume_unknown_id_changes_nothing<F: Factory>(factory: &F) {
    let store = factory.create().await;
    start_cancelled(&store, "c").await;
    let before = get(&store, "c").await;
    let e = err(
        store
            .resume_workflows(&ids(&["c", "ghost"]), ResumeOptions::default())
            .await,
        ErrorKind::NotFound,
        "resume with an unknown id",
    );
    assert!(e.message().contains("ghost"), "the error names the id: {e}");
    assert_eq!(get(&store, "c").await, before, "nothing was resumed");
    assert!(!exists(&store, "ghost").await);
    factory.destroy(store).await;
}

/// The queue a resume enqueues on is a queue name like any other (`validate::name`): empty, a
/// NUL byte, or one byte over [`MAX_NAME_BYTES`] is `InvalidInput` naming the queue name on
/// every backend, before anything changes (also for an empty list of ids), and a name exactly
/// at the limit is kept. (Before, every backend resumed onto such names, an empty one
/// included: only NUL bytes and 256 MiB were checked.)
pub async fn resume_checks_its_queue_name<F: Factory>(factory: &F) {
    let store = factory.create().await;
    start_cancelled(&store, "c").await;
    let before = get(&store, "c").await;
    let letters = |len: usize| -> String {
        (0..len)
            .map(|i| char::from(b'a' + u8::try_from(i % 26).expect("< 26")))
            .collect()
    };
    for (queue, what) in [
        (String::new(), "is empty"),
        ("q\0ueue".to_owned(), "NUL"),
        (letters(MAX_NAME_BYTES + 1), "bytes"),
    ] {
        for workflow_ids in [ids(&["c"]), Vec::new()] {
            let e = err(
                store
                    .resume_workflows(&workflow_ids, ResumeOptions::default().queue_name(&queue))
                    .await,
                ErrorKind::InvalidInput,
                "resume onto an invalid queue name",
            );
            assert!(
                e.message().contains("queue name") && e.message().contains(what),
                "{} bytes, {} ids: {e}",
                queue.len(),
                workflow_ids.len()
            );
        }
        assert_eq!(get(&store, "c").await, before, "nothing was resumed");
    }
    let longest = letters(MAX_NAME_BYTES);
    ok(
        store
            .resume_workflows(&ids(&["c"]), ResumeOptions::default().queue_name(&longest))
            .await,
        "resume onto a queue name at the limit",
    );
    assert_eq!(
        get(&store, "c").await.queue_name.as_deref(),
        Some(longest.as_str())
    );
    factory.destroy(store).await;
}

/// A resumed workflow waits for a queue claim: it has no owner, so no outcome applies and a
/// re-insert by its creator does not execute it.
pub async fn resumed_workflow_waits_for_a_claim<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "w",
    );
    ok(
        store
            .cancel_workflows(&ids(&["w"]), CancelOptions::default())
            .await,
        "cancel w",
    );
    ok(
        store
            .resume_workflows(&ids(&["w"]), ResumeOptions::default())
            .await,
        "resume w",
    );
    for owner in [Some("o"), None] {
        assert!(
            !ok(
                store.record_outcome("w", output("1"), owner).await,
                "record after resume"
            ),
            "an ENQUEUED workflow takes no outcome (owner {owner:?})"
        );
    }
    let again = ok(
        store
            .insert_workflow(pending("w", "o"), InsertOptions::default())
            .await,
        "re-insert w by its creator",
    );
    assert_eq!(again.status, WorkflowStatus::Enqueued);
    assert!(!again.should_execute, "{again:?}");
    assert_eq!(
        ok(store.workflow_result("w").await, "result"),
        WorkflowResult::Active(WorkflowStatus::Enqueued)
    );
    factory.destroy(store).await;
}
