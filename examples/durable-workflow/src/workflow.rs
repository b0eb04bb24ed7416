//! The workflow the demo runs, and the few lines of "runtime" that make it durable on top of the
//! `SystemStore` contract: check a step's checkpoint, run it only if it is missing, record it.

use std::time::Duration;

use dbos_storage::{
    payload::rust_serde, InsertOptions, NewWorkflow, Outcome, Payload, Result, StepRecord,
    SystemStore, WorkflowResult,
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

/// Runs (or, when `recovering`, resumes) the order workflow `id` and returns its output.
///
/// A fresh start inserts the workflow and owns it through its creator token. Recovery finds the
/// row of the killed process and drives it without an owner token (the contract's way for a
/// caller outside the original execution); each recorded step is replayed from its checkpoint.
pub(crate) async fn run_order_workflow(
    store: &dyn SystemStore,
    id: &str,
    recovering: bool,
) -> Result<String> {
    let inputs = rust_serde::encode(&serde_json::json!({ "order": 42 }))?;
    let workflow = NewWorkflow::new(id, "order_workflow", inputs)
        .with_executor("local")
        .with_application_name("durable-workflow");
    let creator = workflow.creator_xid.clone();
    let inserted = store
        .insert_workflow(workflow, InsertOptions::default())
        .await?;
    let owner = match (inserted.should_execute, recovering) {
        (true, _) => Some(creator.as_str()),
        (false, true) => None,
        (false, false) => return Ok(format!("already handled elsewhere: {:?}", inserted.status)),
    };

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
