//! Operator operations the machines share: application renames (run by the `registry` machine
//! over queues, schedules and versions, and by the `mixed` machine over workflows and steps),
//! metrics and the orphan sweep (run by the `mixed` machine).
//!
//! Metrics count rows by the times the store stamped, which are each side's own, so a query's
//! buckets are laid out to be decided by the contract alone: every bucket boundary lies half an
//! hour or more from the case's start, far beyond the few seconds a case lasts.

use std::fmt;
use std::time::Duration;

use dbos_storage_core::{EpochMs, Lease, MetricsQuery, RenameApplication, SystemStore};
use proptest::prelude::*;

use super::harness::{observe, Observed};
use super::render::{lit, opt, HOUR_MS};

/// Application names: rows are owned by the first two; a rename may also move them to the
/// third, which owns nothing before.
pub(crate) const APPLICATIONS: [&str; 3] = ["a0", "a1", "a2"];

/// The end of a metrics range that holds every row a case writes: the year 2096.
const EVER_MS: EpochMs = 4_000_000_000_000;

/// A generated [`RenameApplication`]: from one of the owning applications (or the unclaimed
/// rows, `None`) to one of [`APPLICATIONS`] (itself included, which the contract refuses), in
/// batches of one to three.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Rename {
    from: Option<usize>,
    to: usize,
    batch_size: u32,
    adopt_unclaimed: bool,
}

impl Rename {
    fn request(self) -> RenameApplication {
        RenameApplication::new(
            self.from.map(|a| APPLICATIONS[a].to_owned()),
            APPLICATIONS[self.to],
        )
        .batch_size(self.batch_size)
        .adopt_unclaimed(self.adopt_unclaimed)
    }

    /// Runs the rename on `store`: its report, or its error's kind.
    pub(crate) async fn run(self, store: &dyn SystemStore) -> Observed {
        observe(store.rename_application(self.request()).await)
    }
}

impl fmt::Debug for Rename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match self.from {
            Some(a) => format!("Some({}.to_owned())", lit(APPLICATIONS[a])),
            None => "None".to_owned(),
        };
        write!(
            f,
            "let _ = store.rename_application(RenameApplication::new({from}, {})\
             .batch_size({}).adopt_unclaimed({})).await",
            lit(APPLICATIONS[self.to]),
            self.batch_size,
            self.adopt_unclaimed
        )
    }
}

/// A rename, mostly of an owning application to another name (to itself one time in seven),
/// mostly in batches of one, so that every row moves in a batch of its own.
pub(crate) fn rename() -> impl Strategy<Value = Rename> {
    (
        prop::option::weighted(0.8, 0..2usize),
        prop_oneof![6 => 1..APPLICATIONS.len(), 1 => Just(0)],
        prop_oneof![2 => Just(1u32), 1 => 2..=3u32],
        any::<bool>(),
    )
        .prop_map(|(from, shift, batch_size, adopt_unclaimed)| Rename {
            from,
            to: (from.unwrap_or(0) + shift) % APPLICATIONS.len(),
            batch_size,
            adopt_unclaimed,
        })
}

/// The ranges a generated metrics query covers, relative to the case's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Range {
    /// `[now - 90 min, now + 90 min)`, one bucket: every row of the case.
    Whole,
    /// The same range in buckets of an hour: every row of the case falls in the second bucket
    /// (`now - 30 min ..`).
    Hourly,
    /// `[now - 2 h, now - 1 h)`: before the case, so nothing.
    Before,
    /// An empty range (`end == start`), which the contract refuses.
    Empty,
}

impl Range {
    /// `(start, end, bucket)` relative to the case's start, in ms.
    fn bounds(self) -> (i64, i64, Option<i64>) {
        let half = HOUR_MS / 2;
        match self {
            Range::Whole => (-3 * half, 3 * half, None),
            Range::Hourly => (-3 * half, 3 * half, Some(HOUR_MS)),
            Range::Before => (-2 * HOUR_MS, -HOUR_MS, None),
            Range::Empty => (-HOUR_MS, -HOUR_MS, None),
        }
    }
}

/// A generated metrics query: a [`Range`], scoped to an application or not. The answer's
/// bucket starts are relative to `now`, so they are compared as offsets.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct MetricsCall {
    range: Range,
    application: Option<usize>,
}

impl MetricsCall {
    fn query(self, now: EpochMs) -> MetricsQuery {
        let (start, end, bucket) = self.range.bounds();
        let mut query = MetricsQuery::new(now + start, now + end);
        if let Some(width) = bucket {
            query = query.bucket(Duration::from_millis(width.unsigned_abs()));
        }
        match self.application {
            Some(a) => query.application_name(APPLICATIONS[a]),
            None => query,
        }
    }

    /// Runs the query on `store`: the counts with each bucket start as an offset from `now`,
    /// or the error's kind.
    pub(crate) async fn run(self, store: &dyn SystemStore, now: EpochMs) -> Observed {
        observe(store.metrics(self.query(now)).await.map(|mut metrics| {
            for count in &mut metrics.workflows {
                count.bucket_start -= now;
            }
            for count in &mut metrics.steps {
                count.bucket_start -= now;
            }
            metrics
        }))
    }
}

impl fmt::Debug for MetricsCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, end, bucket) = self.range.bounds();
        write!(
            f,
            "let _ = store.metrics(MetricsQuery::new(now + ({start}), now + ({end}))"
        )?;
        if let Some(width) = bucket {
            write!(f, ".bucket(Duration::from_millis({width}))")?;
        }
        if let Some(a) = self.application {
            write!(f, ".application_name({})", lit(APPLICATIONS[a]))?;
        }
        write!(f, ").await")
    }
}

/// A metrics query, mostly over the whole case.
pub(crate) fn metrics() -> impl Strategy<Value = MetricsCall> {
    (
        prop_oneof![
            3 => Just(Range::Whole),
            2 => Just(Range::Hourly),
            1 => Just(Range::Before),
            1 => Just(Range::Empty),
        ],
        prop::option::of(0..2usize),
    )
        .prop_map(|(range, application)| MetricsCall { range, application })
}

/// A generated orphan sweep: one window from a workflow id of the machine's world (or the
/// first id), of one to three ids, under one of the garbage collectors' leases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sweep {
    /// Index of the lease holder.
    pub(crate) holder: usize,
    /// Index of the workflow id the window starts at.
    pub(crate) from: Option<usize>,
    limit: u32,
}

impl Sweep {
    /// Sweeps one window on `store` under `lease`, over the world `workflows`: what it deleted
    /// and where the next window starts, or the error's kind.
    pub(crate) async fn run(
        self,
        store: &dyn SystemStore,
        lease: &Lease,
        workflows: &[&str],
    ) -> Observed {
        let from = self.from.map(|i| workflows[i]);
        observe(store.sweep_orphans(lease, from, self.limit).await)
    }

    /// The call as Rust, with `lease` the rendered lease.
    pub(crate) fn render(
        self,
        f: &mut fmt::Formatter<'_>,
        lease: &str,
        workflows: &[&str],
    ) -> fmt::Result {
        write!(
            f,
            "let _ = store.sweep_orphans({lease}, {}, {}).await",
            opt(self.from.map(|i| workflows[i])),
            self.limit
        )
    }
}

/// A sweep over a world of `workflows` ids and `holders` lease holders.
pub(crate) fn sweep(workflows: usize, holders: usize) -> impl Strategy<Value = Sweep> {
    (
        0..holders,
        prop::option::weighted(0.3, 0..workflows),
        1..=3u32,
    )
        .prop_map(|(holder, from, limit)| Sweep {
            holder,
            from,
            limit,
        })
}

/// Who owns the steps of each of `workflows` (the `application_name` of each step row, which
/// only an export reads), in step order, and the metrics of every row ever written (one bucket
/// from the epoch, so that no store's clock decides a count): what renames and forks left
/// behind that the workflows' own rows do not show.
pub(crate) async fn ownership(store: &dyn SystemStore, workflows: &[&str]) -> String {
    let mut text = String::new();
    for id in workflows {
        let owners = store
            .export_workflows(&[(*id).to_owned()], false)
            .await
            .map(|export| {
                export
                    .into_iter()
                    .flat_map(|wf| wf.steps)
                    .map(|step| (step.function_id, step.application_name))
                    .collect::<Vec<_>>()
            });
        text += &format!("\n{id}: step owners {:?}", observe(owners));
    }
    let all = MetricsQuery::new(0, EVER_MS);
    text + &format!("\nmetrics {:?}", observe(store.metrics(all).await))
}
