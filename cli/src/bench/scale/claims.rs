//! `bench --scale`'s claim figures: claims per second on one queue of the backlog, with or
//! without a concurrency limit, next to the raw database's claims of the same queue.

use std::time::{Duration, Instant};

use dbos_storage::{NewWorkflow, SystemStore};

use super::{Phase, RAW_EXECUTOR, ROUNDS};
use crate::bench::queues::drain;
use crate::bench::raw::{RawClaimer, RawClaims, WalMeter, WalWritten};
use crate::bench::{new_workflow, output, rate, Bench, EXECUTOR, VERSION};
use crate::error::CliError;

/// The claim figure of one queue: the store's claims per second, the raw claims' when measured,
/// and the WAL the server wrote per workflow the store claimed (PostgreSQL).
pub(super) struct ClaimFigure {
    /// The store's claims per second.
    pub(super) per_sec: f64,
    /// The raw claims' per second, when measured.
    pub(super) raw_per_sec: Option<f64>,
    /// The WAL the server wrote per workflow the store claimed (PostgreSQL), e.g. `1.0 KiB`.
    pub(super) wal_per_claim: Option<String>,
}

/// Claims per second on `queue`: `k` workflows enqueued there first (untimed; on the big
/// database they join its backlog), then `k` claimed by `--concurrency` workers. With a
/// `concurrency` limit every claimed workflow is finished at once, so that the limit keeps
/// freeing room (a few more are enqueued than claimed, as workers may claim past their count).
/// With `raw`, `k` more are enqueued and the raw claims take as many, in
/// [`ROUNDS`] rounds that alternate with the store's (the store first in every other round), so
/// that both claim from the same stretch of the backlog and a slow spell of the machine falls on
/// both alike. Also the WAL the server wrote while the store claimed, per claimed workflow
/// (PostgreSQL; the server's whole WAL, so an autovacuum of the filled tables in those seconds
/// adds to it).
pub(super) async fn claims(
    bench: &Bench<'_>,
    phase: Phase,
    queue: &str,
    k: usize,
    concurrency: Option<u32>,
    raw: Option<&RawClaims>,
) -> Result<ClaimFigure, CliError> {
    let store = bench.store();
    let tag = phase.tag();
    let sides = if raw.is_some() { 2 } else { 1 };
    let rounds = if raw.is_some() { ROUNDS } else { 1 };
    // Every worker's last claim of a round may take a whole batch past the round's count: the
    // margin keeps the queue from running dry before the last round.
    let margin = rounds * bench.args.concurrency * bench.args.claim_batch as usize;
    let queued: Vec<NewWorkflow> = (0..k * sides + margin * sides)
        .map(|i| {
            new_workflow(&format!("scale-{tag}-{queue}-{i}"))
                .enqueued(queue)
                .with_application_version(VERSION)
        })
        .collect();
    store.enqueue_workflows(queued).await?;
    let meter = WalMeter::open(&bench.db.native).await?;
    let per_round = k.div_ceil(rounds);
    let claimer = RawClaimer {
        queue: queue.to_owned(),
        executor: RAW_EXECUTOR.to_owned(),
        version: VERSION.to_owned(),
        batch: bench.args.claim_batch,
    };
    let store_round = || async {
        let wal_before = meter.reading().await?;
        let t = Instant::now();
        let drained = drain(
            bench,
            queue,
            EXECUTOR,
            concurrency,
            per_round,
            |id, owner| async move {
                if concurrency.is_some() {
                    finish(store, &id, &owner).await?;
                }
                Ok(())
            },
        )
        .await?;
        let elapsed = t.elapsed();
        let wal = meter.since(wal_before).await?;
        if drained.ids.len() < per_round {
            return Err(CliError::new(format!(
                "claimed {} of {per_round} workflows from {queue}",
                drained.ids.len()
            )));
        }
        Ok::<_, CliError>((elapsed, drained.ids.len(), wal))
    };
    let raw_round = || async {
        match raw {
            Some(raw) => raw.drain(&claimer, per_round).await.map(Some),
            None => Ok(None),
        }
    };
    let (mut store_time, mut store_claimed) = (Duration::ZERO, 0);
    let mut wal = Some(WalWritten::default());
    let mut raw_side: Option<(Duration, usize)> = None;
    for round in 0..rounds {
        let (stored, raws) = if round % 2 == 0 {
            let s = store_round().await?;
            (s, raw_round().await?)
        } else {
            let r = raw_round().await?;
            (store_round().await?, r)
        };
        let (elapsed, claimed, written) = stored;
        store_time += elapsed;
        store_claimed += claimed;
        wal = wal.zip(written).map(|(a, b)| WalWritten {
            bytes: a.bytes + b.bytes,
        });
        if let Some((t, n)) = raws {
            let (sum_t, sum_n) = raw_side.get_or_insert((Duration::ZERO, 0));
            *sum_t += t;
            *sum_n += n;
        }
    }
    let elapsed = |t: Duration| t.max(Duration::from_micros(1));
    Ok(ClaimFigure {
        per_sec: rate(store_claimed, elapsed(store_time)),
        raw_per_sec: raw_side.map(|(t, n)| rate(n, elapsed(t))),
        // Per workflow claimed: the workers may claim a few past `k` in their last round.
        wal_per_claim: wal.map(|w| w.per_operation(store_claimed)),
    })
}

/// Records the outcome of a claimed workflow.
async fn finish(store: &dyn SystemStore, id: &str, owner: &str) -> Result<(), CliError> {
    store
        .record_outcome(id, dbos_storage::Outcome::Output(output()), Some(owner))
        .await?;
    Ok(())
}
