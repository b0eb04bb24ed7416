//! `bench --scale`'s enqueue figure: batches of workflows enqueued, each into a queue with
//! nothing in flight, next to the raw database writing the same rows.
//!
//! An idle queue is the costly case of a batch enqueue: its creation times start after the
//! queue's newest in-flight row, and a lookup that does not find one cheaply (a scan of the
//! creation-time index from the newest row of the whole table backwards) reads every row of the
//! table. One queue per batch keeps every batch in that case.

use std::time::{Duration, Instant};

use dbos_storage::NewWorkflow;

use super::{both, interleaved, Phase, NAME, ROUNDS};
use crate::bench::raw::{RawBatches, RawEnqueues};
use crate::bench::{new_workflow, rate, Bench, INPUTS};
use crate::error::CliError;

/// Workflows per batch.
pub(super) const BATCH: usize = 100;

/// The workflows each side enqueued and the store's and the raw database's enqueue rates
/// (workflows per second), for `batches` batches of [`BATCH`] (rounded up to a multiple of
/// [`ROUNDS`]), in [`ROUNDS`] rounds that alternate which side goes first. The store's batch
/// `b` goes to queue `scale-{tag}-enqueue-{b}`, idle until then; the raw side writes the same
/// number of rows, with the same name and input, into one queue of its own. The batches are
/// built before the clock starts.
pub(super) async fn enqueue_rates(
    bench: &Bench<'_>,
    phase: Phase,
    batches: usize,
) -> Result<(usize, f64, f64), CliError> {
    let store = bench.store();
    let tag = phase.tag();
    let raw = RawEnqueues::open(&bench.db.native).await?;
    let raw_what = RawBatches {
        queue: format!("scale-{tag}-raw-enqueue"),
        name: NAME.to_owned(),
        input: INPUTS.to_owned(),
    };
    let per_round = batches.div_ceil(ROUNDS);
    let (store_time, raw_time) = interleaved(|round, store_first| {
        let first = round * per_round;
        let store_batches: Vec<Vec<NewWorkflow>> = (first..first + per_round)
            .map(|b| {
                (0..BATCH)
                    .map(|i| {
                        new_workflow(&format!("scale-{tag}-enqueued-{b}-{i}"))
                            .enqueued(format!("scale-{tag}-enqueue-{b}"))
                    })
                    .collect()
            })
            .collect();
        let raw_batches: Vec<Vec<String>> = (first..first + per_round)
            .map(|b| {
                (0..BATCH)
                    .map(|i| format!("scale-{tag}-raw-enqueued-{b}-{i}"))
                    .collect()
            })
            .collect();
        let (raw, raw_what) = (&raw, &raw_what);
        async move {
            let store_side = || async move {
                let t = Instant::now();
                for batch in store_batches {
                    let inserted = store.enqueue_workflows(batch).await?;
                    if inserted.len() != BATCH {
                        return Err(CliError::new(format!(
                            "enqueue_workflows inserted {} of a batch of {BATCH}",
                            inserted.len()
                        )));
                    }
                }
                Ok::<Duration, CliError>(t.elapsed())
            };
            let raw_side = || async move { raw.enqueue(raw_what, &raw_batches).await };
            both(store_first, store_side, raw_side).await
        }
    })
    .await?;
    let rows = per_round * ROUNDS * BATCH;
    Ok((rows, rate(rows, store_time), rate(rows, raw_time)))
}
