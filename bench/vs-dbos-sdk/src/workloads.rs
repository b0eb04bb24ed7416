//! The two workloads, each run on both sides alternately: a fresh connect + create + migrate,
//! and a dequeue of a backlog by concurrent workers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::{self, BackendCpu};
use crate::sides::{Kind, Side};
use crate::{Args, Failure};

/// How long workers may find the queue empty, short of their count, before the run fails.
const STALL: Duration = Duration::from_secs(20);

/// The milliseconds of one connect + migrate of `kind`: with `create`, on a database name that
/// does not exist yet (the side creates it); else on an empty database made beforehand,
/// untimed. The database is closed and dropped afterwards, untimed.
pub(crate) async fn connect_ms(kind: Kind, create: bool) -> Result<f64, Failure> {
    let prefix = format!("vs_connect_{}", kind.tag());
    let url = if create {
        server::fresh_url(&prefix)
    } else {
        server::server().create_database(&prefix).await
    };
    let t = Instant::now();
    let side = Side::connect_fresh(kind, &url).await?;
    let elapsed = t.elapsed();
    side.close().await;
    server::drop_database(&url).await;
    Ok(elapsed.as_secs_f64() * 1000.0)
}

/// The state of the workflow table when the claims run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableState {
    /// Never analyzed: autovacuum off, no `ANALYZE` (verified before the claims).
    Unanalyzed,
    /// `ANALYZE` after the enqueue.
    Analyzed,
}

impl TableState {
    /// Both, in the order they run.
    pub(crate) const BOTH: [TableState; 2] = [TableState::Unanalyzed, TableState::Analyzed];

    /// How the table is described in the report.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            TableState::Unanalyzed => "never-analyzed table",
            TableState::Analyzed => "analyzed table",
        }
    }
}

/// One dequeue run of one side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dequeue {
    /// Workflows claimed per second.
    pub(crate) rate: f64,
    /// Claims that took at least one workflow.
    pub(crate) claims: usize,
    /// Claims that came back empty (the rest was being claimed by others) or retryable.
    pub(crate) empty: usize,
    /// Server CPU per claimed workflow, in microseconds (local cluster only).
    pub(crate) cpu_us_per_workflow: Option<f64>,
}

/// A fresh database of `kind` (connect + create + migrate, autovacuum off), `--workflows`
/// enqueued (untimed), analyzed or not, then `--workers` workers claiming up to `--batch` each
/// time until every workflow is claimed, each exactly once (verified).
pub(crate) async fn dequeue(
    kind: Kind,
    state: TableState,
    args: &Args,
) -> Result<Dequeue, Failure> {
    let url = server::fresh_url(&format!("vs_dequeue_{}", kind.tag()));
    let database = server::database_of(&url);
    let side = Side::connect_fresh(kind, &url).await?;
    let admin = server::admin(&url).await?;
    server::autovacuum_off(&admin).await?;
    side.enqueue("vs-queued", args.workflows).await?;
    if state == TableState::Analyzed {
        server::analyze(&admin).await?;
    }
    let analyzed = server::workflow_table_analyzed(&admin).await?;
    if analyzed != (state == TableState::Analyzed) {
        return Err(Failure::new(format!(
            "{}: the workflow table should be {}, but analyzed = {analyzed}",
            kind.tag(),
            state.describe()
        )));
    }
    let cpu = BackendCpu::start(&admin, &database).await;
    let side = Arc::new(side);
    let t = Instant::now();
    let drained = drain(&side, args).await?;
    let elapsed = t.elapsed();
    let cpu_seconds = match &cpu {
        Some(cpu) => cpu.seconds_since(&admin, &database).await,
        None => None,
    };
    let analyzed_after = server::workflow_table_analyzed(&admin).await?;
    drop(admin);
    match Arc::try_unwrap(side) {
        Ok(side) => side.close().await,
        Err(_) => return Err(Failure::new("a worker still holds the side")),
    }
    if args.keep_databases {
        eprintln!("kept {database} ({}, {})", kind.tag(), state.describe());
    } else {
        server::drop_database(&url).await;
    }
    if analyzed_after != analyzed {
        return Err(Failure::new(format!(
            "{}: the workflow table was analyzed during the claims",
            kind.tag()
        )));
    }
    let distinct: HashSet<&String> = drained.ids.iter().collect();
    if distinct.len() != drained.ids.len() || distinct.len() != args.workflows {
        return Err(Failure::new(format!(
            "{}: claimed {} workflows ({} distinct), not the {} enqueued",
            kind.tag(),
            drained.ids.len(),
            distinct.len(),
            args.workflows
        )));
    }
    let n = args.workflows as f64;
    Ok(Dequeue {
        rate: n / elapsed.as_secs_f64(),
        claims: drained.claims,
        empty: drained.empty,
        cpu_us_per_workflow: cpu_seconds.map(|s| s * 1e6 / n),
    })
}

/// What the workers claimed.
struct Drained {
    ids: Vec<String>,
    claims: usize,
    empty: usize,
}

/// `--workers` tasks claiming until `--workflows` are claimed.
async fn drain(side: &Arc<Side>, args: &Args) -> Result<Drained, Failure> {
    let claimed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..args.workers)
        .map(|_| {
            let (side, claimed) = (Arc::clone(side), Arc::clone(&claimed));
            let (n, batch) = (args.workflows, args.batch);
            tokio::spawn(async move {
                let (mut ids, mut claims, mut empty) = (Vec::new(), 0, 0);
                let mut idle_since: Option<Instant> = None;
                while claimed.load(Ordering::SeqCst) < n {
                    let got = side.claim(batch).await?;
                    if got.is_empty() {
                        empty += 1;
                        if idle_since.get_or_insert_with(Instant::now).elapsed() > STALL {
                            return Err(Failure::new(format!(
                                "the queue ran dry after {} of {n} workflows",
                                claimed.load(Ordering::SeqCst)
                            )));
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    idle_since = None;
                    claims += 1;
                    claimed.fetch_add(got.len(), Ordering::SeqCst);
                    ids.extend(got);
                }
                Ok::<_, Failure>((ids, claims, empty))
            })
        })
        .collect();
    let mut drained = Drained {
        ids: Vec::with_capacity(args.workflows),
        claims: 0,
        empty: 0,
    };
    for worker in workers {
        let (ids, claims, empty) = worker
            .await
            .map_err(|e| Failure::new(format!("a worker panicked: {e}")))??;
        drained.ids.extend(ids);
        drained.claims += claims;
        drained.empty += empty;
    }
    Ok(drained)
}
