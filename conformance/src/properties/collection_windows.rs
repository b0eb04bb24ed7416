//! Properties of the windows of [`ManagementStore::collectable_workflows`]: a walk in creation
//! order, window after window, lists exactly the collectable workflows, once each, with ties
//! on `created_at` ordered by id.
//!
//! [`ManagementStore::collectable_workflows`]: dbos_storage_core::ManagementStore::collectable_workflows

use dbos_storage_core::export::WorkflowRow;
use dbos_storage_core::{
    CollectableWindow, CreationPosition, ErrorKind, ExportedWorkflow, ImportOptions,
    RetentionPolicy, SystemStore,
};

use crate::checks::*;
use crate::Factory;

/// How many workflows [`walk_dataset`] imports.
const WORKFLOWS: usize = 30;

/// The statuses of the dataset, in turn: every finished status and every active one.
const STATUSES: [&str; 7] = [
    "SUCCESS",
    "PENDING",
    "ERROR",
    "ENQUEUED",
    "CANCELLED",
    "DELAYED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
];

/// One imported workflow of the dataset: its position, status and when it finished.
#[derive(Debug, Clone)]
struct Walked {
    position: CreationPosition,
    status: &'static str,
    finished: bool,
    completed_at: i64,
}

/// [`WORKFLOWS`] workflows created in groups of four in the same millisecond, in an order
/// that is not their ids' inside each group (so only the id orders a tie, and a store that
/// returned ties in insertion order would fail), with every status and completion times that
/// the cutoffs below split. Ids are `w` and two digits, whose order is the same in every
/// collation.
fn walk_dataset() -> Vec<Walked> {
    (0..WORKFLOWS)
        .map(|i| {
            let created_at = 1_000 + (i / 4) as i64 * 10;
            let status = STATUSES[i % STATUSES.len()];
            Walked {
                // 11 is prime to 30: every id once, out of order inside each group of four.
                position: CreationPosition::new(
                    created_at,
                    format!("w{:02}", (i * 11) % WORKFLOWS),
                ),
                status,
                finished: !matches!(status, "PENDING" | "ENQUEUED" | "DELAYED"),
                // Late completions for some early workflows, so a cutoff is not a prefix.
                completed_at: created_at + if i % 3 == 0 { 500 } else { 5 },
            }
        })
        .collect()
}

/// `rows` in creation order, `(created_at, id)`.
fn in_creation_order(mut rows: Vec<Walked>) -> Vec<Walked> {
    rows.sort_by(|a, b| {
        (a.position.created_at, &a.position.workflow_id)
            .cmp(&(b.position.created_at, &b.position.workflow_id))
    });
    rows
}

/// The dataset as exported workflows (status rows only).
fn exported(rows: &[Walked]) -> Vec<ExportedWorkflow> {
    rows.iter()
        .map(|row| {
            let id = &row.position.workflow_id;
            let mut status_row = WorkflowRow::new(id.as_str(), row.status, row.position.created_at);
            status_row.name = Some("walked".to_owned());
            if row.finished {
                status_row.completed_at = Some(row.completed_at);
                status_row.updated_at = row.completed_at;
            }
            ExportedWorkflow::new(status_row)
        })
        .collect()
}

/// The collectable workflows of `rows` under `policy`, in creation order: the oracle the walks
/// are checked against, computed from the dataset alone.
fn expected(rows: &[Walked], policy: RetentionPolicy) -> Vec<String> {
    let kept_from = policy.keep_newest.map(|n| {
        rows.len()
            .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX))
    });
    rows.iter()
        .enumerate()
        .filter(|(i, row)| {
            let old = policy
                .completed_before
                .is_some_and(|cut| row.completed_at < cut);
            let surplus = kept_from.is_some_and(|from| *i < from);
            row.finished && (old || surplus)
        })
        .map(|(_, row)| row.position.workflow_id.clone())
        .collect()
}

/// Walks every window of `limit` from the start; returns the windows.
async fn walk<S: SystemStore + ?Sized>(
    store: &S,
    policy: RetentionPolicy,
    limit: u32,
) -> Vec<CollectableWindow> {
    let mut windows = Vec::new();
    let mut from: Option<CreationPosition> = None;
    loop {
        let window = ok(
            store
                .collectable_workflows(policy, from.as_ref(), limit)
                .await,
            &format!("a window of {limit} from {from:?}"),
        );
        from.clone_from(&window.next_from);
        windows.push(window);
        if from.is_none() {
            return windows;
        }
        assert!(
            windows.len() <= WORKFLOWS + 1,
            "a walk of {WORKFLOWS} workflows in windows of {limit} does not end: {windows:?}"
        );
    }
}

/// Walking from the start in windows of any size lists exactly the collectable workflows, in
/// creation order, once each: created_at ties are ordered by id, a window holds `limit`
/// workflows of any status (the last one fewer), and each `next_from` is the position of the
/// first workflow after its window. A start that names no workflow starts at the next one; a
/// start past the newest workflow finds nothing. Bad windows are refused with `InvalidInput`.
pub async fn collectable_windows_cover_the_collectable_set<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let generated = walk_dataset();
    ok(
        store
            .import_workflows(exported(&generated), ImportOptions::default())
            .await,
        "import the walk dataset",
    );
    let rows = in_creation_order(generated);
    let policies = [
        RetentionPolicy::completed_before(1_060),
        RetentionPolicy::default().keep_newest(9),
        RetentionPolicy::completed_before(1_030).keep_newest(20),
        RetentionPolicy::completed_before(100_000),
    ];
    for policy in policies {
        let want = expected(&rows, policy);
        assert!(!want.is_empty() && want.len() < WORKFLOWS, "{policy:?}");
        for limit in [1u32, 2, 3, 4, 7, 29, 30, 31, 100] {
            let windows = walk(&store, policy, limit).await;
            let size = limit as usize;
            assert_eq!(
                windows.len(),
                WORKFLOWS.div_ceil(size),
                "windows of {limit} under {policy:?}: {windows:?}"
            );
            let listed: Vec<String> = windows
                .iter()
                .flat_map(|w| w.workflow_ids.iter().cloned())
                .collect();
            assert_eq!(
                listed, want,
                "a walk in windows of {limit} under {policy:?} lists each collectable workflow \
                 once, in creation order"
            );
            for (k, window) in windows.iter().enumerate() {
                assert!(window.workflow_ids.len() <= size, "{window:?}");
                let next = rows.get((k + 1) * size).map(|row| &row.position);
                assert_eq!(
                    window.next_from.as_ref(),
                    next,
                    "window {k} of {limit} under {policy:?} ends before workflow {}",
                    (k + 1) * size
                );
            }
        }
    }

    // A start between two workflows of a tie, and one past the newest workflow.
    let policy = RetentionPolicy::completed_before(100_000);
    let tie = &rows[5].position;
    let between = CreationPosition::new(tie.created_at, format!("{}a", tie.workflow_id));
    let window = ok(
        store.collectable_workflows(policy, Some(&between), 2).await,
        "a window from between two ties",
    );
    let after: Vec<&Walked> = rows.iter().skip(6).take(2).collect();
    assert_eq!(
        window,
        CollectableWindow::new(
            after
                .iter()
                .filter(|row| row.finished)
                .map(|row| row.position.workflow_id.clone())
                .collect(),
            Some(rows[8].position.clone())
        ),
        "a start that names no workflow starts at the next one"
    );
    let past = CreationPosition::new(rows[WORKFLOWS - 1].position.created_at + 1, "");
    assert_eq!(
        ok(
            store.collectable_workflows(policy, Some(&past), 10).await,
            "a window past the newest workflow"
        ),
        CollectableWindow::default()
    );

    let e = err(
        store.collectable_workflows(policy, None, 0).await,
        ErrorKind::InvalidInput,
        "a window of 0",
    );
    assert!(e.message().contains("limit is 0"), "{e}");
    let bad = CreationPosition::new(1_000, "w\0");
    let e = err(
        store.collectable_workflows(policy, Some(&bad), 10).await,
        ErrorKind::InvalidInput,
        "a window start with a NUL byte",
    );
    assert!(
        e.message()
            .contains("the workflow id of a collection window start"),
        "{e}"
    );
    let long = CreationPosition::new(1_000, "w".repeat(2_000));
    let e = err(
        store.collectable_workflows(policy, Some(&long), 10).await,
        ErrorKind::InvalidInput,
        "a window start with an id over the limit",
    );
    assert!(e.message().contains("over the limit"), "{e}");
    factory.destroy(store).await;
}

/// A count rule that keeps as many workflows as the table holds, or more, collects nothing:
/// the window answers with no workflow rather than failing (there is no newest workflow past
/// the kept ones to compare with); keeping none collects the finished one.
pub async fn keeping_more_than_the_table_holds_collects_nothing<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("x0", "o"), Default::default())
            .await,
        "insert x0",
    );
    assert!(ok(
        store.record_outcome("x0", output("1"), Some("o")).await,
        "finish x0"
    ));
    for keep in [1, 2, 100] {
        for limit in [1, 2] {
            let window = ok(
                store
                    .collectable_workflows(
                        RetentionPolicy::default().keep_newest(keep),
                        None,
                        limit,
                    )
                    .await,
                &format!("the window of {limit} keeping the {keep} newest"),
            );
            assert_eq!(
                window,
                CollectableWindow::new(Vec::new(), None),
                "keeping the {keep} newest of one workflow, a window of {limit} lists none"
            );
        }
    }
    let window = ok(
        store
            .collectable_workflows(RetentionPolicy::default().keep_newest(0), None, 1)
            .await,
        "the window keeping none",
    );
    assert_eq!(
        window,
        CollectableWindow::new(vec!["x0".to_owned()], None),
        "keeping none, the finished workflow is collectable"
    );
    factory.destroy(store).await;
}
