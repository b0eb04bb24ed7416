//! The workflow the demo runs, and the few lines of "runtime" that make it durable on top of the
//! `SystemStore` contract: check a step's checkpoint, run it only if it is missing, record it.

use std::time::Duration;

use dbos_storage::{
    payload::rust_serde, ClaimRequest, InsertOptions, NewWorkflow, Outcome, Payload, Result,
    StepRecord, SystemStore, WorkflowResult, INTERNAL_QUEUE,
};
use serde::{Deserialize, Serialize};

/// The steps of the order workflow, in order.
pub(crate) const STEP_NAMES: [&str; 5] = [
    "reserve_stock",
    "charge_card",
    "create_shipment",
    "send_email",
    "close_order",
];

/// What each step records: which process ran it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StepLog {
    /// The step.
    pub(crate) step: String,
    /// The process that ran it.
    pub(crate) pid: u32,
}

/// The executor id of every process of the demo (DBOS's default, `DBOS__VMID` unset).
const EXECUTOR: &str = "local";
/// The application version the demo's processes run.
const VERSION: &str = "demo-1";
/// The owning application.
const APP: &str = "durable-workflow";

/// Runs (or, when `recovering`, resumes) the order workflow `id` and returns its output.
///
/// A fresh start inserts the workflow and owns it through its creator token. Recovery does what
/// DBOS does after a crash: it re-enqueues the dead executor's `PENDING` workflow and claims it
/// from the queue, which hands this process a new ownership token; a late write by the old
/// process would now fail with `NotOwner`. Each recorded step is then replayed from its
/// checkpoint instead of running again.
pub(crate) async fn run_order_workflow(
    store: &dyn SystemStore,
    id: &str,
    recovering: bool,
) -> Result<String> {
    let owner = if recovering {
        match recover(store, id).await? {
            Some(token) => token,
            None => return Ok("nothing to recover".into()),
        }
    } else {
        let inputs = rust_serde::encode(&serde_json::json!({ "order": 42 }))?;
        let workflow = NewWorkflow::new(id, "order_workflow", inputs)
            .with_executor(EXECUTOR)
            .with_application_name(APP);
        let creator = workflow.creator_xid.clone();
        let inserted = store
            .insert_workflow(workflow, InsertOptions::default())
            .await?;
        if !inserted.should_execute {
            return Ok(format!("already handled elsewhere: {:?}", inserted.status));
        }
        creator
    };
    let owner = Some(owner.as_str());

    for (index, name) in STEP_NAMES.iter().enumerate() {
        let function_id = index as i32 + 1;
        if let Some(recorded) = store.check_step(id, function_id, name).await? {
            let log: StepLog = recorded
                .outcome
                .as_ref()
                .map(|o| rust_serde::decode(o.payload()))
                .transpose()?
                .expect("steps record an output");
            println!(
                "  [pid {}] step {function_id} {name}: replayed from checkpoint (ran in pid {})",
                std::process::id(),
                log.pid
            );
            continue;
        }
        // The step's real work would go here; it takes a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let log = StepLog {
            step: name.to_string(),
            pid: std::process::id(),
        };
        let output: Payload = rust_serde::encode(&log)?;
        store
            .record_step(StepRecord::output(id, function_id, *name, output), owner)
            .await?;
        println!(
            "  [pid {}] step {function_id} {name}: done",
            std::process::id()
        );
    }

    let output = rust_serde::encode(&"order 42 shipped")?;
    if !store
        .record_outcome(id, Outcome::Output(output.clone()), owner)
        .await?
    {
        // Someone else finished, cancelled or took over the workflow: adopt what is recorded.
        return Ok(format!("{:?}", store.workflow_result(id).await?));
    }
    match store.workflow_result(id).await? {
        WorkflowResult::Finished(Outcome::Output(p)) => Ok(p.text),
        other => Ok(format!("{other:?}")),
    }
}

/// Re-enqueues the crashed executor's pending workflows and claims `id` from the queue;
/// returns the claim's ownership token, or `None` when there is nothing to recover.
async fn recover(store: &dyn SystemStore, id: &str) -> Result<Option<String>> {
    let pending = store.pending_workflows(EXECUTOR, None, Some(APP)).await?;
    store
        .reenqueue_for_recovery(&pending, &[EXECUTOR.to_owned()])
        .await?;
    let claim = ClaimRequest::new(INTERNAL_QUEUE, EXECUTOR, VERSION).application_name(APP);
    let token = claim.owner_xid.clone();
    let claimed = store.claim_workflows(claim).await?.claimed;
    println!(
        "  [pid {}] recovery: re-enqueued {} pending workflow(s), claimed {:?}",
        std::process::id(),
        pending.len(),
        claimed
    );
    Ok(claimed.iter().any(|c| c == id).then_some(token))
}
