//! The write path next to the raw database: inserting a workflow, a step checkpoint at 1 and at
//! `--concurrency` writers, and a ten-step workflow one at a time and `--concurrency` at once.

use dbos_storage::{InsertOptions, StepRecord};
use futures::future::join_all;

use super::report::{targets, thousands, Figure, Unit};
use super::{
    interleaved, new_workflow, output, rate, run_workflow, timed_parallel, warmup, Bench, STEP,
};
use crate::error::CliError;

/// Inserting a workflow (a direct start), one at a time, next to one raw single-row insert.
pub(super) async fn insert(bench: &Bench<'_>) -> Result<Vec<Figure>, CliError> {
    let n = bench.args.workflows;
    let store = bench.store();
    let (store_time, raw_time) = interleaved(
        n,
        1,
        |i| async move {
            let wf = new_workflow(&format!("bench-insert-{i}"));
            store.insert_workflow(wf, InsertOptions::default()).await?;
            Ok(())
        },
        |i| async move {
            bench
                .raw
                .insert_workflow(0, &format!("raw-insert-{i}"))
                .await?;
            Ok(())
        },
    )
    .await?;
    Ok(vec![Figure::rates(
        "insert_workflow",
        "insert workflow",
        n,
        Unit::WorkflowsPerSec,
        rate(n, store_time),
        rate(n, raw_time),
    )])
}

/// The step checkpoint: `record_step` with the owner token (the ownership fence and the insert
/// in one transaction), at 1 writer and at `--concurrency` writers, each writer on workflows of
/// its own; next to raw single-row inserts into the step table on as many connections (SQLite:
/// the single writer connection).
pub(super) async fn checkpoints(bench: &Bench<'_>) -> Result<Vec<Figure>, CliError> {
    let mut out = Vec::new();
    let c = bench.args.concurrency;
    for writers in if c == 1 { vec![1] } else { vec![1, c] } {
        out.push(checkpoint_rate(bench, writers).await?);
    }
    Ok(out)
}

/// Which workflow and step checkpoint `i` of `writers` lanes writes: lane `i % writers` fills
/// its own workflows, `steps` checkpoints each, in order.
fn checkpoint_slot(i: usize, writers: usize, steps: usize) -> (usize, i32) {
    let lane = i % writers;
    let k = i / writers;
    let workflow = lane + writers * (k / steps);
    let step = (k % steps) as i32 + 1;
    (workflow, step)
}

async fn checkpoint_rate(bench: &Bench<'_>, writers: usize) -> Result<Figure, CliError> {
    let n = bench.args.checkpoints;
    let steps = bench.args.steps as usize;
    let workflows = (0..n + warmup(writers))
        .map(|i| checkpoint_slot(i, writers, steps).0 + 1)
        .max()
        .unwrap_or(0);
    // Untimed: the workflows that receive the checkpoints, on both sides.
    let store_ids: Vec<String> = (0..workflows)
        .map(|w| format!("bench-ckpt{writers}-{w}"))
        .collect();
    let raw_ids: Vec<String> = (0..workflows)
        .map(|w| format!("raw-ckpt{writers}-{w}"))
        .collect();
    let owners = insert_all(bench, &store_ids).await?;
    timed_parallel(workflows, bench.args.concurrency, |w| {
        let id = &raw_ids[w];
        async move {
            bench.raw.insert_workflow(w, id).await?;
            Ok(())
        }
    })
    .await?;

    let store = bench.store();
    let (store_time, raw_time) = interleaved(
        n,
        writers,
        |i| {
            let (w, step) = checkpoint_slot(i, writers, steps);
            let (id, owner) = (&store_ids[w], &owners[w]);
            async move {
                let record = StepRecord::output(id.as_str(), step, STEP, output());
                store.record_step(record, Some(owner)).await?;
                Ok(())
            }
        },
        |i| {
            let (w, step) = checkpoint_slot(i, writers, steps);
            let id = &raw_ids[w];
            async move {
                bench.raw.insert_step(i % writers, id, step).await?;
                Ok(())
            }
        },
    )
    .await?;
    let mut figure = Figure::rates(
        if writers == 1 {
            "step_checkpoint_1"
        } else {
            "step_checkpoint_concurrent"
        },
        format!(
            "step checkpoint (record_step, owner-fenced), {writers} writer{}",
            plural(writers)
        ),
        n,
        Unit::StepsPerSec,
        rate(n, store_time),
        rate(n, raw_time),
    )
    .target(targets::step_checkpoint(bench.backend));
    if writers > 1 && bench.single_writer() {
        figure = figure.note(format!(
            "the raw side is the single writer connection, called by {writers} tasks"
        ));
    }
    Ok(figure)
}

/// Ten-step workflows (insert, a checkpoint per step, the outcome: twelve commits), one at a
/// time and `--concurrency` at once, next to the raw twelve-commit pattern on one connection
/// and on as many connections (SQLite: the single writer either way, so the concurrent figure
/// is the group-commit one).
pub(super) async fn workflows(bench: &Bench<'_>) -> Result<Vec<Figure>, CliError> {
    let n = bench.args.workflows;
    let steps = bench.args.steps as usize;
    let c = bench.args.concurrency;
    let store = bench.store();
    let mut out = Vec::new();
    for tasks in if c == 1 { vec![1] } else { vec![1, c] } {
        let (store_time, raw_time) = interleaved(
            n,
            tasks,
            |i| {
                let id = format!("bench-wf{tasks}-{i}");
                async move { run_workflow(store, &id, steps).await }
            },
            |i| {
                let id = format!("raw-wf{tasks}-{i}");
                let conn = i % tasks;
                async move {
                    bench.raw.insert_workflow(conn, &id).await?;
                    for step in 1..=steps {
                        bench.raw.insert_step(conn, &id, step as i32).await?;
                    }
                    bench.raw.finish_workflow(conn, &id).await?;
                    Ok(())
                }
            },
        )
        .await?;
        let commits = steps + 2;
        let (id, name, target) = if tasks == 1 {
            (
                "workflow_1",
                format!("{steps}-step workflow ({commits} commits), one at a time"),
                targets::workflow_sequential(bench.backend),
            )
        } else if bench.single_writer() {
            (
                "workflow_concurrent",
                format!(
                    "{steps}-step workflows, {tasks} at once, vs the single writer (group commit)"
                ),
                targets::workflow_concurrent(bench.backend),
            )
        } else {
            (
                "workflow_concurrent",
                format!("{steps}-step workflows, {tasks} at once, vs {tasks} raw clients"),
                targets::workflow_concurrent(bench.backend),
            )
        };
        let mut figure = Figure::rates(
            id,
            name,
            n,
            Unit::WorkflowsPerSec,
            rate(n, store_time),
            rate(n, raw_time),
        )
        .target(target);
        if tasks > 1 && bench.single_writer() {
            figure = figure.note(format!(
                "each step is durable before record_step returns; the raw side commits the \
                 same {commits} writes per workflow one at a time on the single writer \
                 connection ({} commits/s)",
                thousands(rate(n * commits, raw_time).round() as u64)
            ));
        }
        out.push(figure);
    }
    Ok(out)
}

/// Inserts direct starts of `ids` on `--concurrency` lanes (untimed setup) and returns their
/// owner tokens, in order.
pub(super) async fn insert_all(bench: &Bench<'_>, ids: &[String]) -> Result<Vec<String>, CliError> {
    insert_all_with(bench, ids, new_workflow).await
}

/// As [`insert_all`], building each workflow with `make`.
pub(super) async fn insert_all_with(
    bench: &Bench<'_>,
    ids: &[String],
    make: fn(&str) -> dbos_storage::NewWorkflow,
) -> Result<Vec<String>, CliError> {
    let store = bench.store();
    let lanes = bench.args.concurrency;
    let results = join_all((0..lanes).map(|lane| async move {
        let mut owners = Vec::new();
        let mut i = lane;
        while i < ids.len() {
            let wf = make(&ids[i]);
            owners.push((i, wf.creator_xid.clone()));
            store.insert_workflow(wf, InsertOptions::default()).await?;
            i += lanes;
        }
        Ok::<_, CliError>(owners)
    }))
    .await;
    let mut owners = vec![String::new(); ids.len()];
    for r in results {
        for (i, owner) in r? {
            owners[i] = owner;
        }
    }
    Ok(owners)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_writer_fills_workflows_of_its_own() {
        let slots: Vec<_> = (0..8).map(|i| checkpoint_slot(i, 2, 2)).collect();
        assert_eq!(
            slots,
            [
                (0, 1),
                (1, 1),
                (0, 2),
                (1, 2),
                (2, 1),
                (3, 1),
                (2, 2),
                (3, 2)
            ]
        );
        let one: Vec<_> = (0..3).map(|i| checkpoint_slot(i, 1, 2)).collect();
        assert_eq!(one, [(0, 1), (0, 2), (1, 1)]);
    }
}
