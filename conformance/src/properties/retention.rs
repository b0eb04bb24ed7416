//! Properties of maintenance leases, retention and garbage collection
//! ([`ManagementStore::acquire_lease`], `collectable_workflows`, `delete_collected`,
//! `sweep_orphans`, and [`collect_garbage`] over them).

use std::time::Duration;

use dbos_storage::{across_databases::GC_LEASE, collect_garbage, GcOptions};
use dbos_storage_core::management::{is_lease_row, LEASE_APPLICATION, LEASE_PREFIX};
use dbos_storage_core::QueueStore;
use dbos_storage_core::{
    CancelOptions, CollectableWindow, CreationPosition, ErrorKind, InsertOptions, Lease,
    ListWorkflowsQuery, NewWorkflow, OrphanSweepWindow, QueueConflictPolicy, QueueDefinition,
    RetentionPolicy, StepRecord, SystemStore, WorkflowStatus,
};

use crate::checks::*;
use crate::operator_fixtures::*;
use crate::Factory;

/// A lease of `holder` on the GC job for `ttl`.
fn gc_lease(holder: &str, ttl: Duration) -> Lease {
    Lease::new(GC_LEASE, holder, ttl)
}

/// A policy that selects every finished workflow (a cutoff an hour ahead).
fn everything_finished() -> RetentionPolicy {
    RetentionPolicy::completed_before(dbos_storage_core::now_epoch_ms() + 3_600_000)
}

/// Every workflow id of the store, sorted.
async fn all_ids<S: SystemStore + ?Sized>(store: &S) -> Vec<String> {
    id_set(&ok(
        store.list_workflows(ListWorkflowsQuery::new()).await,
        "list every workflow",
    ))
}

/// A finished workflow `id` with one step and one event, ending in `status`.
async fn finished<S: SystemStore + ?Sized>(store: &S, id: &str, status: WorkflowStatus) {
    ok(
        store
            .insert_workflow(pending(id, "o"), InsertOptions::default())
            .await,
        id,
    );
    ok(
        store
            .record_step(StepRecord::output(id, 1, "s", json("1")), Some("o"))
            .await,
        "step 1",
    );
    ok(
        store.set_event(at(id, 2), "k", json("\"v\"")).await,
        "event at 2",
    );
    match status {
        WorkflowStatus::Success => {
            assert!(ok(
                store.record_outcome(id, output("1"), Some("o")).await,
                id
            ));
        }
        WorkflowStatus::Error => {
            assert!(ok(
                store.record_outcome(id, error("1"), Some("o")).await,
                id
            ));
        }
        WorkflowStatus::Cancelled => {
            ok(
                store
                    .cancel_workflows(&ids(&[id]), CancelOptions::default())
                    .await,
                id,
            );
        }
        WorkflowStatus::MaxRecoveryAttemptsExceeded => {
            let moved = ok(store.dead_letter_workflows(&ids(&[id]), 1).await, id);
            assert_eq!(moved, ids(&[id]), "dead-lettered");
        }
        other => panic!("not a finished status: {other:?}"),
    }
}

/// Active workflows: `PENDING`, `ENQUEUED` and `DELAYED`, created before anything else of the
/// dataset finishes.
async fn active<S: SystemStore + ?Sized>(store: &S, prefix: &str) -> Vec<String> {
    let names = [
        format!("{prefix}pending"),
        format!("{prefix}enqueued"),
        format!("{prefix}delayed"),
    ];
    let opts = InsertOptions::default;
    ok(
        store.insert_workflow(pending(&names[0], "o"), opts()).await,
        "pending",
    );
    ok(
        store
            .insert_workflow(enqueued(&names[1], "q"), opts())
            .await,
        "enqueued",
    );
    let delayed = NewWorkflow::new(&names[2], "wf_fn", inputs()).delayed("q", i64::MAX / 2);
    ok(store.insert_workflow(delayed, opts()).await, "delayed");
    names.to_vec()
}

/// A lease is exclusive: a second holder gets `acquired = false` with the holder and expiry;
/// the holder renews it; after the ttl another holder takes it over; release works only for
/// the holder. Lease rows never appear in the queue registry, and no queue can take their name.
pub async fn leases_are_exclusive_and_expire<F: Factory>(factory: &F) {
    let store = factory.create().await;
    // Exclusivity is checked under a long lease, so a slow machine cannot let it expire
    // between two calls; expiry is checked with a short renewal further down.
    let ttl = Duration::from_secs(60);
    let short = Duration::from_millis(300);
    let a = gc_lease("holder-a", ttl);
    let b = gc_lease("holder-b", ttl);
    let got = ok(store.acquire_lease(&a).await, "a acquires");
    assert!(got.acquired, "{got:?}");
    assert_eq!(got.holder, "holder-a");
    let refused = ok(store.acquire_lease(&b).await, "b tries");
    assert!(!refused.acquired, "{refused:?}");
    assert_eq!(refused.holder, "holder-a", "names the holder");
    assert_eq!(refused.expires_at, got.expires_at, "and its expiry");
    let renewed = ok(store.acquire_lease(&a).await, "a renews");
    assert!(
        renewed.acquired && renewed.expires_at >= got.expires_at,
        "{renewed:?}"
    );

    let queues = ok(store.list_queues(None).await, "list_queues(None)");
    assert!(queues.iter().all(|q| !is_lease_row(&q.name)), "{queues:?}");
    let scoped = ok(
        store.list_queues(Some(LEASE_APPLICATION)).await,
        "list_queues(lease application)",
    );
    assert!(scoped.iter().all(|q| !is_lease_row(&q.name)), "{scoped:?}");
    assert_eq!(
        ok(store.get_queue(&a.row_name()).await, "get_queue(lease row)"),
        None,
        "get_queue never returns a lease row"
    );
    err(
        store
            .upsert_queue(
                QueueDefinition::new(format!("{LEASE_PREFIX}gc")),
                QueueConflictPolicy::Update,
            )
            .await,
        ErrorKind::InvalidInput,
        "a queue named like a lease row",
    );

    assert!(
        !ok(store.release_lease(&b).await, "b releases"),
        "b does not hold it"
    );
    let renewed_short = ok(
        store.acquire_lease(&gc_lease("holder-a", short)).await,
        "a renews for a short time",
    );
    assert!(renewed_short.acquired, "{renewed_short:?}");
    tokio::time::sleep(short + Duration::from_millis(300)).await;
    let taken = ok(store.acquire_lease(&b).await, "b after expiry");
    assert!(taken.acquired, "an expired lease is taken over: {taken:?}");
    assert_eq!(taken.holder, "holder-b");
    assert!(!ok(store.acquire_lease(&a).await, "a again").acquired);
    assert!(
        !ok(store.release_lease(&a).await, "a releases"),
        "a lost it"
    );
    assert!(ok(store.release_lease(&b).await, "b releases"), "b held it");
    assert!(!ok(store.release_lease(&b).await, "b releases twice"));
    assert!(ok(store.acquire_lease(&a).await, "a after release").acquired);
    err(
        store.acquire_lease(&gc_lease("", ttl)).await,
        ErrorKind::InvalidInput,
        "an empty holder",
    );
    factory.destroy(store).await;
}

/// `delete_collected` and `sweep_orphans` are fenced: a caller that does not hold the lease
/// gets `Conflict` and nothing is deleted. The holder deletes only finished workflows (with
/// every row), and a sweep without orphans deletes nothing and leaves live rows alone.
pub async fn fenced_writes_need_the_lease<F: Factory>(factory: &F) {
    let store = factory.create().await;
    finished(&store, "done", WorkflowStatus::Success).await;
    finished(&store, "keep", WorkflowStatus::Success).await;
    ok(
        store
            .insert_workflow(pending("running", "o"), InsertOptions::default())
            .await,
        "running",
    );
    let holder = gc_lease("holder-a", Duration::from_secs(60));
    let intruder = gc_lease("holder-b", Duration::from_secs(60));
    assert!(ok(store.acquire_lease(&holder).await, "acquire").acquired);
    let e = err(
        store.delete_collected(&intruder, &ids(&["done"])).await,
        ErrorKind::Conflict,
        "delete_collected without the lease",
    );
    assert!(e.message().contains("holder-b"), "{e}");
    assert!(exists(&store, "done").await, "nothing was deleted");
    assert_eq!(step_names(&store, "done").await.len(), 2);
    err(
        store.sweep_orphans(&intruder, None, 100).await,
        ErrorKind::Conflict,
        "sweep_orphans without the lease",
    );
    let deleted = ok(
        store
            .delete_collected(&holder, &ids(&["done", "running", "ghost"]))
            .await,
        "delete_collected by the holder",
    );
    assert_eq!(deleted, ids(&["done"]), "only the finished workflow");
    assert_gone(&store, "done", "delete_collected").await;
    assert!(exists(&store, "running").await, "an active workflow stays");
    let swept = ok(store.sweep_orphans(&holder, None, 100).await, "sweep");
    assert_eq!(
        swept,
        OrphanSweepWindow::default(),
        "no orphans, one window"
    );
    assert_eq!(step_names(&store, "keep").await.len(), 2, "live steps stay");
    assert_eq!(events_of(&store, "keep").await.len(), 1, "live events stay");
    assert!(
        get(&store, "keep").await.inputs.is_some(),
        "live inputs stay"
    );
    factory.destroy(store).await;
}

/// The orphan sweep goes window by window: from the first id until `next_from` is `None`, each
/// window starting where the last one said, never twice at the same place, at most one window
/// per `limit` ids of the biggest payload table plus the last; it deletes nothing that has a
/// status row. A window of 0 ids or a start with a NUL byte is `InvalidInput`.
pub async fn orphan_sweep_windows_cover_the_tables<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let ids: Vec<String> = (0..7).map(|n| format!("w{}", (n * 5) % 7)).collect();
    for id in &ids {
        finished(&store, id, WorkflowStatus::Success).await;
    }
    let holder = gc_lease("sweeper", Duration::from_secs(60));
    assert!(ok(store.acquire_lease(&holder).await, "acquire").acquired);
    for limit in [1u32, 2, 3, 7, 100] {
        let mut from: Option<String> = None;
        let mut starts = std::collections::BTreeSet::new();
        let mut windows = 0;
        loop {
            let window = ok(
                store.sweep_orphans(&holder, from.as_deref(), limit).await,
                "sweep window",
            );
            windows += 1;
            assert_eq!(window.deleted.total(), 0, "limit {limit}: nothing orphaned");
            match window.next_from {
                Some(next) => {
                    assert!(starts.insert(next.clone()), "limit {limit}: {next} twice");
                    from = Some(next);
                }
                None => break,
            }
            assert!(windows <= 8, "limit {limit}: more windows than ids");
        }
        let most = ids.len().div_ceil(limit as usize) + 1;
        assert!(
            windows <= most,
            "limit {limit}: {windows} windows, at most {most}"
        );
    }
    for id in &ids {
        assert_eq!(step_names(&store, id).await.len(), 2, "{id}'s steps stay");
        assert!(get(&store, id).await.inputs.is_some(), "{id}'s input stays");
    }
    let e = err(
        store.sweep_orphans(&holder, None, 0).await,
        ErrorKind::InvalidInput,
        "a window of 0 ids",
    );
    assert!(e.message().contains("at least 1 workflow id"), "{e}");
    let e = err(
        store.sweep_orphans(&holder, Some("w\0"), 5).await,
        ErrorKind::InvalidInput,
        "a window start with a NUL byte",
    );
    assert!(e.message().contains("sweep window start"), "{e}");
    factory.destroy(store).await;
}

/// Garbage collection never deletes a `PENDING`, `ENQUEUED` or `DELAYED` workflow, however old;
/// it deletes every finished one the policy selects, with all its rows, in batches of at most
/// the given size (one per window of the walk that holds a collectable workflow), and releases
/// its lease.
pub async fn gc_deletes_only_finished_workflows<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let kept = active(&store, "a-").await;
    rich_workflow(&store, "s1", None).await;
    finished(&store, "s2", WorkflowStatus::Success).await;
    finished(&store, "e1", WorkflowStatus::Error).await;
    finished(&store, "c1", WorkflowStatus::Cancelled).await;
    finished(&store, "m1", WorkflowStatus::MaxRecoveryAttemptsExceeded).await;
    let options = GcOptions::new(everything_finished()).batch_size(2);
    let report = ok(
        collect_garbage(&store as &dyn SystemStore, None, options).await,
        "collect_garbage",
    );
    assert_eq!(report.workflows, 5, "{report:?}");
    // Ten workflows in windows of at most 2 (fewer while deletes are slow): each batch at most
    // 2 of the 5 finished, so 3 to 5 batches.
    assert!(
        (3..=5).contains(&report.batches),
        "5 workflows in windows of 2: {report:?}"
    );
    assert_eq!(report.orphans.total(), 0, "{report:?}");
    for id in ["s1", "s2", "e1", "c1", "m1"] {
        assert_gone(&store, id, "GC").await;
    }
    let mut want = kept.clone();
    want.push(child_of("s1"));
    assert_eq!(all_ids(&store).await, sorted(want), "active workflows stay");
    let again = gc_lease("another", Duration::from_secs(1));
    assert!(
        ok(store.acquire_lease(&again).await, "lease after GC").acquired,
        "GC released its lease"
    );
    factory.destroy(store).await;
}

/// The policy decides: `completed_before` selects workflows that finished before the cutoff;
/// `keep_newest(n)` selects finished workflows older than the `n` newest of the table (any
/// status counts toward `n`). `collectable_workflows` lists them oldest first, up to its limit.
pub async fn gc_follows_the_policy<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let pause = || tokio::time::sleep(Duration::from_millis(5));
    ok(
        store
            .insert_workflow(pending("old-pending", "o"), InsertOptions::default())
            .await,
        "old-pending",
    );
    pause().await;
    finished(&store, "early-1", WorkflowStatus::Success).await;
    pause().await;
    finished(&store, "early-2", WorkflowStatus::Error).await;
    let cutoff = get(&store, "early-2")
        .await
        .completed_at
        .expect("completed_at")
        + 1;
    tokio::time::sleep(Duration::from_millis(50)).await;
    finished(&store, "late", WorkflowStatus::Success).await;
    let policy = RetentionPolicy::completed_before(cutoff);
    assert_eq!(
        ok(
            store.collectable_workflows(policy, None, 10).await,
            "collectable"
        ),
        CollectableWindow::new(ids(&["early-1", "early-2"]), None),
        "finished before the cutoff, oldest first; the window reached the end"
    );
    let position = |id: &'static str| {
        let store = &store;
        async move { CreationPosition::new(get(store, id).await.created_at, id) }
    };
    assert_eq!(
        ok(
            store.collectable_workflows(policy, None, 1).await,
            "collectable, a window of 1"
        ),
        CollectableWindow::new(Vec::new(), Some(position("early-1").await)),
        "the window holds the old pending workflow alone; the next one starts after it"
    );
    let early_2 = position("early-2").await;
    assert_eq!(
        ok(
            store.collectable_workflows(policy, None, 2).await,
            "collectable, a window of 2"
        ),
        CollectableWindow::new(ids(&["early-1"]), Some(early_2.clone()))
    );
    assert_eq!(
        ok(
            store.collectable_workflows(policy, Some(&early_2), 2).await,
            "collectable, the second window of 2"
        ),
        CollectableWindow::new(ids(&["early-2"]), None)
    );
    let report = ok(
        collect_garbage(&store as &dyn SystemStore, None, GcOptions::new(policy)).await,
        "GC by cutoff",
    );
    assert_eq!(report.workflows, 2, "{report:?}");
    assert_eq!(all_ids(&store).await, ids(&["late", "old-pending"]));

    for id in ["k1", "k2", "k3"] {
        pause().await;
        finished(&store, id, WorkflowStatus::Success).await;
    }
    pause().await;
    ok(
        store
            .insert_workflow(pending("newest", "o"), InsertOptions::default())
            .await,
        "newest",
    );
    let policy = RetentionPolicy::default().keep_newest(3);
    assert_eq!(
        ok(
            store.collectable_workflows(policy, None, 10).await,
            "collectable by count"
        ),
        CollectableWindow::new(ids(&["late", "k1"]), None),
        "keeps newest, k3, k2; the old PENDING one is never collectable"
    );
    let report = ok(
        collect_garbage(&store as &dyn SystemStore, None, GcOptions::new(policy)).await,
        "GC by count",
    );
    assert_eq!(report.workflows, 2, "{report:?}");
    assert_eq!(
        all_ids(&store).await,
        ids(&["k2", "k3", "newest", "old-pending"])
    );
    err(
        store
            .collectable_workflows(RetentionPolicy::default(), None, 10)
            .await,
        ErrorKind::InvalidInput,
        "a policy without a rule",
    );
    factory.destroy(store).await;
}

/// The dataset of [`gc_resumes_after_an_interruption`]: seven finished workflows and three
/// active ones.
async fn gc_dataset<S: SystemStore + ?Sized>(store: &S) {
    active(store, "a-").await;
    for i in 0..7 {
        let status = if i % 2 == 0 {
            WorkflowStatus::Success
        } else {
            WorkflowStatus::Error
        };
        finished(store, &format!("f{i}"), status).await;
    }
}

/// What must match between a clean and an interrupted GC: the workflows left and their steps
/// and events.
async fn gc_end_state<S: SystemStore + ?Sized>(
    store: &S,
) -> Vec<(String, Vec<(i32, String)>, usize)> {
    let mut state = Vec::new();
    for id in all_ids(store).await {
        let steps = step_names(store, &id).await;
        let events = events_of(store, &id).await.len();
        state.push((id, steps, events));
    }
    state
}

/// A collector killed after its first batch (lease held, not released) blocks a second
/// collector (`Conflict`, nothing deleted); restarted with the same holder at once, or by a new
/// holder after the lease expired, it finishes with the same end state as an uninterrupted run
/// on an identical dataset.
pub async fn gc_resumes_after_an_interruption<F: Factory>(factory: &F) {
    let policy = everything_finished();
    let clean = factory.create().await;
    gc_dataset(&clean).await;
    let report = ok(
        collect_garbage(
            &clean as &dyn SystemStore,
            None,
            // Fixed windows: the batch count below is the windows'.
            GcOptions::new(policy)
                .batch_size(2)
                .batch_time(Duration::ZERO),
        )
        .await,
        "uninterrupted GC",
    );
    assert_eq!((report.workflows, report.batches), (7, 4), "{report:?}");
    let want = gc_end_state(&clean).await;
    factory.destroy(clean).await;

    for same_holder in [true, false] {
        let store = factory.create().await;
        gc_dataset(&store).await;
        // A long lease, so a slow machine cannot let it lapse before the rival's attempt; the
        // new-holder restart below shortens it first to watch it expire.
        let ttl = Duration::from_secs(60);
        let killed = gc_lease("killed", ttl);
        // The killed run: its lease, one batch, and no release.
        assert!(ok(store.acquire_lease(&killed).await, "killed run: lease").acquired);
        // A window of 5 holds the three active workflows, f0 and f1.
        let batch = ok(
            store.collectable_workflows(policy, None, 5).await,
            "first batch",
        )
        .workflow_ids;
        assert_eq!(batch, ids(&["f0", "f1"]));
        let deleted = ok(
            store.delete_collected(&killed, &batch).await,
            "first delete",
        );
        assert_eq!(deleted, batch);

        let rival = GcOptions::new(policy)
            .batch_size(2)
            .holder("rival")
            .lease_ttl(ttl);
        let e = err(
            collect_garbage(&store as &dyn SystemStore, None, rival.clone()).await,
            ErrorKind::Conflict,
            "a second collector while the lease is held",
        );
        assert!(e.message().contains("killed"), "names the holder: {e}");
        assert_eq!(
            all_ids(&store).await.len(),
            10 - 2,
            "the rival deleted nothing"
        );

        let restart = if same_holder {
            GcOptions::new(policy)
                .batch_size(2)
                .holder("killed")
                .lease_ttl(ttl)
        } else {
            let short = Duration::from_millis(300);
            assert!(
                ok(
                    store.acquire_lease(&gc_lease("killed", short)).await,
                    "the killed run's last renewal"
                )
                .acquired
            );
            tokio::time::sleep(short + Duration::from_millis(300)).await;
            rival
        };
        let report = ok(
            collect_garbage(&store as &dyn SystemStore, None, restart).await,
            &format!("restarted GC (same holder: {same_holder})"),
        );
        assert_eq!(report.workflows, 5, "{report:?}");
        assert_eq!(
            gc_end_state(&store).await,
            want,
            "the restarted GC (same holder: {same_holder}) ends as an uninterrupted one"
        );
        factory.destroy(store).await;
    }
}
