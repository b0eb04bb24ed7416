//! A durable workflow on the embedded SQLite default, killed mid-run and resumed.
//!
//! `cargo run -p durable-workflow` starts a worker process that runs a five-step workflow and
//! checkpoints every step in the system database (`durable_workflow.sqlite` in the current
//! directory). Once two steps are recorded the demo kills the worker with SIGKILL, then recovers
//! the workflow in a new process: recorded steps are replayed from their checkpoints instead of
//! running again, and the rest run to completion. The demo checks that every step ran exactly
//! once and exits non-zero otherwise.
//!
//! Modes: no argument runs the whole demo; `worker <id>` and `recover <id>` are the two child
//! processes.

mod workflow;

use std::process::Stdio;
use std::time::Duration;

use dbos_storage::{
    connect, DbosConfig, ListStepsOptions, ListWorkflowsQuery, Result, SystemStore, WorkflowStatus,
};
use workflow::{run_order_workflow, StepLog};

const APP: &str = "durable-workflow";
const STEPS_BEFORE_KILL: usize = 2;

fn config() -> DbosConfig {
    DbosConfig::new(APP)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        None => demo().await,
        Some("worker") => child(&args, false).await,
        Some("recover") => child(&args, true).await,
        Some(other) => {
            eprintln!("unknown mode {other:?}; run without arguments for the demo");
            std::process::exit(2);
        }
    };
    if let Err(e) = outcome {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn child(args: &[String], recovering: bool) -> Result<()> {
    let id = args.get(1).expect("the workflow id follows the mode");
    let store = connect(&config()).await?.system;
    let output = run_order_workflow(store.as_ref(), id, recovering).await?;
    println!(
        "  [pid {}] workflow {id} finished: {output}",
        std::process::id()
    );
    Ok(())
}

async fn demo() -> Result<()> {
    let store = connect(&config()).await?.system;
    let id = format!("order-{}", dbos_storage::new_token());
    let exe = std::env::current_exe().expect("the demo knows its own path");
    println!("system database: {}", config().system_database_url()?);
    println!("workflow {id}: starting a worker process");

    let mut worker = tokio::process::Command::new(&exe)
        .args(["worker", &id])
        .stdout(Stdio::inherit())
        .spawn()
        .expect("spawn the worker process");
    wait_for_steps(store.as_ref(), &id, STEPS_BEFORE_KILL).await?;
    worker.kill().await.expect("kill the worker");
    println!("killed the worker (SIGKILL) after {STEPS_BEFORE_KILL} checkpointed steps");

    let status = status_of(store.as_ref(), &id).await?;
    println!("workflow status after the crash: {status}");

    println!("recovering in a new process");
    let recovered = tokio::process::Command::new(&exe)
        .args(["recover", &id])
        .status()
        .await
        .expect("run the recovery process");
    if !recovered.success() {
        eprintln!("recovery process failed: {recovered}");
        std::process::exit(1);
    }
    report(store.as_ref(), &id).await
}

async fn wait_for_steps(store: &dyn SystemStore, id: &str, count: usize) -> Result<()> {
    loop {
        let steps = store.list_steps(id, ListStepsOptions::default()).await?;
        if steps.len() >= count {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status_of(store: &dyn SystemStore, id: &str) -> Result<WorkflowStatus> {
    let rows = store
        .list_workflows(ListWorkflowsQuery::new().workflow_ids([id]))
        .await?;
    Ok(rows
        .first()
        .map(|w| w.status.clone())
        .unwrap_or(WorkflowStatus::Other("missing".into())))
}

async fn report(store: &dyn SystemStore, id: &str) -> Result<()> {
    let steps = store
        .list_steps(id, ListStepsOptions::default().load_output(true))
        .await?;
    println!("checkpoints of {id}:");
    let mut ran_by = Vec::new();
    for step in &steps {
        let log: StepLog = step
            .outcome
            .as_ref()
            .and_then(|o| serde_json::from_str(&o.payload().text).ok())
            .expect("every step records a StepLog");
        println!(
            "  step {} {:<16} ran once, in pid {}",
            step.function_id, step.function_name, log.pid
        );
        ran_by.push(log.pid);
    }
    let status = status_of(store, id).await?;
    println!("final status: {status}");
    let mut processes = ran_by.clone();
    processes.dedup();
    let before_kill = ran_by.iter().filter(|pid| **pid == ran_by[0]).count();
    if status != WorkflowStatus::Success
        || steps.len() != workflow::STEP_NAMES.len()
        || processes.len() != 2
    {
        eprintln!("the workflow did not resume exactly where it stopped");
        std::process::exit(1);
    }
    println!(
        "ok: {} steps, the first {before_kill} by the killed worker, the rest after recovery; \
         none ran twice",
        steps.len()
    );
    Ok(())
}
