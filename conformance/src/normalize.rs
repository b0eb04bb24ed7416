//! Normalization that makes what two stores answer comparable: rows without the values that
//! depend on when they were written, and a [`Snapshot`] of everything the contract lets a caller
//! read about a set of workflows. The model-based property compares a store with
//! [`MemoryStore`](crate::MemoryStore) through it; a fault-injection test can do the same after
//! running one workload on both.

use dbos_storage_core::{
    ListStepsOptions, Outcome, StepInfo, SystemStore, WorkflowInfo, WorkflowResult,
};

use crate::checks::{ok, sorted};

/// A workflow row without the values that depend on when it was written: times become `0`
/// (or `Some(0)` when set), so that two stores can be compared field by field.
pub fn normalize_workflow(mut info: WorkflowInfo) -> WorkflowInfo {
    let seen = |t: Option<i64>| t.map(|_| 0);
    info.created_at = 0;
    info.updated_at = 0;
    info.started_at_epoch_ms = seen(info.started_at_epoch_ms);
    info.completed_at = seen(info.completed_at);
    info.workflow_deadline_epoch_ms = seen(info.workflow_deadline_epoch_ms);
    info
}

/// A step row without its times (a durable sleep's output is its wake time, so it goes too).
pub fn normalize_step(mut step: StepInfo) -> StepInfo {
    step.started_at_epoch_ms = step.started_at_epoch_ms.map(|_| 0);
    step.completed_at_epoch_ms = step.completed_at_epoch_ms.map(|_| 0);
    if step.function_name == dbos_storage_core::SLEEP_STEP {
        if let Some(Outcome::Output(wake)) = &mut step.outcome {
            wake.text = "(wake time)".to_owned();
        }
    }
    step
}

/// Everything the contract lets a caller read about `workflow_ids`, normalized: the rows, their
/// results and their steps with outputs. Two stores that agree on this agree on every state
/// the contract exposes for those workflows.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    workflows: Vec<WorkflowInfo>,
    results: Vec<(String, WorkflowResult)>,
    steps: Vec<(String, Vec<StepInfo>)>,
    children: Vec<(String, Vec<String>)>,
}

impl Snapshot {
    /// Reads the snapshot of `workflow_ids` from `store`.
    pub async fn take<S: SystemStore + ?Sized>(store: &S, workflow_ids: &[String]) -> Self {
        let workflows = ok(
            store.get_workflows(workflow_ids).await,
            "snapshot: get_workflows",
        )
        .into_iter()
        .map(normalize_workflow)
        .collect();
        let mut results = Vec::new();
        let mut steps = Vec::new();
        let mut children = Vec::new();
        for id in workflow_ids {
            results.push((
                id.clone(),
                ok(store.workflow_result(id).await, "snapshot: workflow_result"),
            ));
            let options = ListStepsOptions::default().load_output(true);
            let list = ok(store.list_steps(id, options).await, "snapshot: list_steps");
            steps.push((id.clone(), list.into_iter().map(normalize_step).collect()));
            let kids = ok(
                store.workflow_children(id).await,
                "snapshot: workflow_children",
            );
            children.push((id.clone(), sorted(kids)));
        }
        Snapshot {
            workflows,
            results,
            steps,
            children,
        }
    }
}
