//! `bench --scale`: the store's figures on a big database, next to the same figures on the empty
//! scratch database of the same run.
//!
//! Production system databases hold millions of finished workflows and, at peaks, hundreds of
//! thousands of queued ones. A figure measured on a database that holds only the benchmark's own
//! rows hides every cost that grows with the tables, so this mode measures each store operation
//! twice: on the scratch database as it is, then again after filling it with [`Dataset`] — by
//! default 1,000,000 finished workflows with two steps each (inputs, outputs, one in ten failed),
//! 200,000 `ENQUEUED` workflows across ten queues (one partitioned by six keys, two with mixed
//! priorities), and 1,000 long-running `PENDING` parents. The fill is a handful of bulk
//! `INSERT … SELECT` statements on a connection of its own (seconds, not hours, and the same rows
//! every run), then settled as a production database is (vacuumed and analyzed, see
//! [`super::fill`]).
//!
//! Each row of the report is a ratio of the big database's figure to the empty one's (for times,
//! the empty one's to the big one's: above 1 is faster either way), with a target of 0.8.

use std::time::{Duration, Instant};

use dbos_storage::{ListWorkflowsQuery, SortOrder, StepRecord, SystemStore, WorkflowStatus};
use serde::Serialize;

use super::fairness::FairnessReport;
use super::queues::recover;
use super::raw::{Filter, RawClaims, RawReads};
use super::report::{cells_markdown, cells_text, thousands, Figure, Target, Unit};
use super::retention::RetentionReport;
use super::writes::insert_all_with;
use super::{new_workflow, output, rate, run_workflow, timed_parallel, Bench, STEP, VERSION};
use crate::error::CliError;

mod claims;
mod enqueues;

/// The queue of the claim figures (the first of the backlog).
const CLAIM_QUEUE: &str = "scale-q0";
/// The queue of the claim figure with a shared budget.
const LIMITED_QUEUE: &str = "scale-q3";
/// The executor of the raw claims' rows (apart from the store's, so that no recovery of the
/// bench's executor finds them).
const RAW_EXECUTOR: &str = "bench-raw";
/// The concurrency of [`LIMITED_QUEUE`] in its claim figure.
const LIMITED_CONCURRENCY: u32 = 64;
/// Steps recorded for every finished workflow of the dataset.
pub(super) const STEPS_PER_FINISHED: i64 = 2;
/// The target of every ratio: the big database at least this fast.
const FLAT: f64 = 0.8;
/// A page of a listing.
const PAGE: u64 = 50;
/// How many times each indexed listing is read on each database, by the store and raw.
const PAGES: usize = 200;
/// The name of the one-name listing (the bench's own workflows).
const NAME: &str = "bench_workflow";
/// The user of the authenticated-user listing (one of the big database's hundred).
const USER: &str = "user-7";

/// The rows of the big database.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Dataset {
    /// Finished workflows (`SUCCESS`, one in ten `ERROR`), each with its steps.
    pub(super) finished: usize,
    /// `ENQUEUED` workflows across ten queues (`scale-q0` … `scale-q9`; `scale-q9` partitioned by
    /// six keys, `scale-q1` and `scale-q2` with three priorities).
    pub(super) enqueued: usize,
    /// Long-running `PENDING` parents.
    pub(super) parents: usize,
}

impl Dataset {
    /// The dataset with `finished` finished workflows: a fifth as many enqueued, a thousandth
    /// as many parents.
    pub(super) fn of(finished: usize) -> Self {
        Dataset {
            finished,
            enqueued: finished / 5,
            parents: (finished / 1000).max(1),
        }
    }

    /// The workflows the fill queues in `scale-q{queue}` (the `i`-th of `1..=enqueued` goes to
    /// queue `i % 10`).
    pub(super) fn queued_in(&self, queue: usize) -> u64 {
        let n = self.enqueued as u64;
        let q = queue as u64 % 10;
        if q == 0 {
            n / 10
        } else if n >= q {
            (n - q) / 10 + 1
        } else {
            0
        }
    }

    /// The workflows the recovery figure kills halfway: 10,000 at full size.
    fn recovered(&self) -> usize {
        (self.finished / 100).clamp(100, 10_000)
    }
}

/// What `bench --scale` adds to the report.
#[derive(Debug, Serialize)]
pub(super) struct ScaleReport {
    /// The rows of the big database.
    pub(super) dataset: Dataset,
    /// How long the fill took, in seconds.
    pub(super) fill_seconds: f64,
    /// One figure per operation: `store` on the big database, `raw` on the empty one.
    pub(super) figures: Vec<Figure>,
    /// One worker per queue on the big database: each queue's claims against its fair share.
    pub(super) fairness: FairnessReport,
    /// Garbage collection of the finished workflows while the workers claim.
    pub(super) retention: RetentionReport,
}

impl ScaleReport {
    /// The line above the big-database table.
    pub(super) fn heading(&self) -> String {
        format!(
            "On a big database ({} finished workflows with {} steps each, {} enqueued across ten \
             queues, {} running parents; written in {:.0} s), next to the empty one:",
            thousands(self.dataset.finished as u64),
            STEPS_PER_FINISHED,
            thousands(self.dataset.enqueued as u64),
            thousands(self.dataset.parents as u64),
            self.fill_seconds
        )
    }
}

impl ScaleReport {
    /// Whether each target of the fairness and retention tables is met.
    pub(super) fn checks(&self) -> Vec<bool> {
        let mut checks = vec![
            self.fairness.first_claims_in_time,
            self.fairness.half_shares,
        ];
        checks.extend(self.retention.rows().into_iter().filter_map(|r| r.3));
        checks
    }

    /// The fairness table with its heading and verdict, aligned for a terminal.
    pub(super) fn fairness_text(&self) -> String {
        let f = &self.fairness;
        format!(
            "{}\n{}- {}\n",
            f.heading(),
            cells_text(&FAIRNESS_COLUMNS, &f.rows()),
            f.verdict().replace("**", "")
        )
    }

    /// The fairness table in Markdown.
    pub(super) fn fairness_markdown(&self) -> String {
        let f = &self.fairness;
        format!(
            "{}\n\n{}\n- {}.\n",
            f.heading(),
            cells_markdown(&FAIRNESS_COLUMNS, &f.rows()),
            f.verdict()
        )
    }

    /// The retention table with its heading, aligned for a terminal.
    pub(super) fn retention_text(&self) -> String {
        let r = &self.retention;
        let rows = retention_rows(r, "NO");
        format!("{}\n{}", r.heading(), cells_text(&RETENTION_COLUMNS, &rows))
    }

    /// The retention table in Markdown.
    pub(super) fn retention_markdown(&self) -> String {
        let r = &self.retention;
        let rows = retention_rows(r, "**no**");
        format!(
            "{}\n\n{}",
            r.heading(),
            cells_markdown(&RETENTION_COLUMNS, &rows)
        )
    }
}

/// The columns of the fairness table.
const FAIRNESS_COLUMNS: [&str; 9] = [
    "queue",
    "limits",
    ">backlog",
    ">polls",
    ">claims",
    ">fair share",
    ">share",
    ">first claim",
    "within a poll?",
];

/// The columns of the retention table.
const RETENTION_COLUMNS: [&str; 4] = ["figure", ">value", "target", "met?"];

/// The retention figures as table rows, `no` written as given.
fn retention_rows(r: &RetentionReport, no: &str) -> Vec<Vec<String>> {
    r.rows()
        .into_iter()
        .map(|(what, value, target, met)| {
            let met = match met {
                Some(true) => "yes".to_owned(),
                Some(false) => no.to_owned(),
                None => "—".to_owned(),
            };
            vec![what, value, target, met]
        })
        .collect()
}

/// One operation measured on both databases.
struct Measured {
    id: &'static str,
    figure: String,
    count: usize,
    unit: Unit,
    /// The operation's rate (or, for [`Unit::Seconds`], its time).
    value: f64,
    /// The raw database's rate for the same reads ([`RawReads`]), for the reads.
    raw: Option<f64>,
    /// The WAL the server wrote per claimed workflow while the claims were timed (PostgreSQL),
    /// for the claims, e.g. `1.0 KiB`.
    wal_per_claim: Option<String>,
}

/// The two phases: which database is measured, for ids.
#[derive(Clone, Copy)]
enum Phase {
    Empty,
    Big,
}

impl Phase {
    fn tag(self) -> &'static str {
        match self {
            Phase::Empty => "empty",
            Phase::Big => "big",
        }
    }
}

/// Measures every operation on the scratch database, fills it with `dataset`, measures again,
/// runs one worker per queue for `fair_seconds` ([`super::fairness`]), then collects the
/// finished workflows while they claim ([`super::retention`]), and returns the comparison.
pub(super) async fn compare(
    bench: &Bench<'_>,
    dataset: Dataset,
    fair_seconds: u64,
) -> Result<ScaleReport, CliError> {
    bench.phase("scale: the empty database");
    let empty = measure(bench, Phase::Empty, &dataset).await?;
    bench.phase("scale: filling the big database");
    let t = Instant::now();
    super::fill::fill(bench, &dataset).await?;
    let fill_seconds = t.elapsed().as_secs_f64();
    bench.phase("scale: the big database");
    let big = measure(bench, Phase::Big, &dataset).await?;
    bench.phase("scale: fairness across the queues");
    let (fairness, without) = super::fairness::fairness(bench, &dataset, fair_seconds).await?;
    bench.phase("scale: garbage collection while the queues are claimed");
    let retention = super::retention::collect_under_claims(bench, &without).await?;
    let figures = empty
        .into_iter()
        .zip(big)
        .map(|(empty, big)| comparison(empty, &big))
        .collect();
    Ok(ScaleReport {
        dataset,
        fill_seconds,
        figures,
        fairness,
        retention,
    })
}

/// The figure of one operation measured on the empty database (`m`) and on the big one (`big`):
/// `store` on the big database, `raw` (printed as "empty") on the empty one, the speed ratio
/// big/empty, and for a read the raw database's own ratio big/empty for the same reads.
fn comparison(m: Measured, big: &Measured) -> Figure {
    let empty = m.value;
    let speed = if m.unit == Unit::Seconds || m.unit == Unit::Millis {
        empty / big.value.max(f64::MIN_POSITIVE)
    } else {
        big.value / empty.max(f64::MIN_POSITIVE)
    };
    let mut f = Figure::rates(m.id, m.figure, m.count, m.unit, big.value, empty);
    f.ratio = Some(speed);
    let mut notes = Vec::new();
    if let Some((raw_empty, raw_big)) = m.raw.zip(big.raw) {
        f.raw_ratio = Some(raw_big / raw_empty.max(f64::MIN_POSITIVE));
        notes.push(format!(
            "the big database changes one operation's time by {} through the store and by {} raw",
            added_micros(empty, big.value),
            added_micros(raw_empty, raw_big)
        ));
    }
    if let Some((wal_empty, wal_big)) = m.wal_per_claim.zip(big.wal_per_claim.as_ref()) {
        notes.push(format!(
            "WAL the server wrote per claimed workflow: {wal_empty} on the empty database, \
             {wal_big} on the big one"
        ));
    }
    // Both notes of a figure (the first-queue claims on PostgreSQL have both), in one.
    let f = if notes.is_empty() {
        f
    } else {
        f.note(notes.join("; "))
    };
    f.target(Some(Target::FlatAtLeast(FLAT)))
}

/// The time one operation gained from the rate `empty` to the rate `big`, with both times, e.g.
/// `+157 µs (43 → 200 µs)` (a negative gain is a saving).
fn added_micros(empty: f64, big: f64) -> String {
    let micros = |rate: f64| 1e6 / rate.max(f64::MIN_POSITIVE);
    format!(
        "{:+.0} µs ({:.0} → {:.0} µs)",
        micros(big) - micros(empty),
        micros(empty),
        micros(big)
    )
}

/// Every operation, in report order, on the database as it is now.
async fn measure(
    bench: &Bench<'_>,
    phase: Phase,
    dataset: &Dataset,
) -> Result<Vec<Measured>, CliError> {
    let store = bench.store();
    let mut out = Vec::new();
    let args = bench.args;
    let steps = args.steps as usize;
    let tag = phase.tag();

    let n = (args.checkpoints / 5).max(1);
    let per_sec = checkpoints(bench, &format!("scale-{tag}-ckpt"), n).await?;
    out.push(Measured {
        id: "scale_step_checkpoint",
        figure: "step checkpoint (record_step), 1 writer".into(),
        count: n,
        unit: Unit::StepsPerSec,
        value: per_sec,
        raw: None,
        wal_per_claim: None,
    });

    let m = (args.workflows / 5).max(1);
    let d = timed_parallel(m, 1, |i| {
        let id = format!("scale-{tag}-seq-{i}");
        async move { run_workflow(store, &id, steps).await }
    })
    .await?;
    out.push(Measured {
        id: "scale_workflow_sequential",
        figure: format!("{steps}-step workflow, one at a time"),
        count: m,
        unit: Unit::WorkflowsPerSec,
        value: rate(m, d),
        raw: None,
        wal_per_claim: None,
    });

    let lanes = args.concurrency;
    let d = timed_parallel(m, lanes, |i| {
        let id = format!("scale-{tag}-par-{i}");
        async move { run_workflow(store, &id, steps).await }
    })
    .await?;
    out.push(Measured {
        id: "scale_workflow_concurrent",
        figure: format!("{steps}-step workflows, {lanes} at once"),
        count: m,
        unit: Unit::WorkflowsPerSec,
        value: rate(m, d),
        raw: None,
        wal_per_claim: None,
    });

    // Twice `--claims`: at 20,000 claims/s half of it took a tenth of a second, a spell short
    // enough for one scheduler hiccup to move the figure by a third between runs.
    let k = (args.claims * 2).max(1);
    let raw_claims = RawClaims::open(&bench.db.native, args.concurrency).await?;
    let first = claims::claims(bench, phase, CLAIM_QUEUE, k, None, Some(&raw_claims)).await?;
    out.push(Measured {
        id: "scale_claim",
        figure: format!(
            "claim_workflows on the backlog's first queue, {} workers",
            args.concurrency
        ),
        count: k,
        unit: Unit::ClaimsPerSec,
        value: first.per_sec,
        raw: first.raw_per_sec,
        wal_per_claim: first.wal_per_claim,
    });
    let limited = claims::claims(
        bench,
        phase,
        LIMITED_QUEUE,
        k,
        Some(LIMITED_CONCURRENCY),
        None,
    )
    .await?;
    out.push(Measured {
        id: "scale_claim_limited",
        figure: format!(
            "claim_workflows with a queue concurrency of {LIMITED_CONCURRENCY} (each finished \
             at once), {} workers",
            args.concurrency
        ),
        count: k,
        unit: Unit::ClaimsPerSec,
        value: limited.per_sec,
        raw: None,
        wal_per_claim: limited.wal_per_claim,
    });

    let batches = (args.workflows / 50).max(ROUNDS);
    let (rows, store_rate, raw_rate) = enqueues::enqueue_rates(bench, phase, batches).await?;
    out.push(Measured {
        id: "scale_enqueue",
        figure: format!(
            "enqueue_workflows of {} into an idle queue",
            enqueues::BATCH
        ),
        count: rows,
        unit: Unit::WorkflowsPerSec,
        value: store_rate,
        raw: Some(raw_rate),
        wal_per_claim: None,
    });

    let lookups = (args.workflows * 2).max(1);
    let ids: Vec<String> = (0..lookups)
        .map(|i| match phase {
            Phase::Empty => format!("scale-empty-seq-{}", spread(i, m)),
            Phase::Big => format!("scale-done-{}", spread(i, dataset.finished) + 1),
        })
        .collect();
    let raw = RawReads::open(&bench.db.native).await?;
    let slice = lookups.div_ceil(ROUNDS);
    let (store_time, raw_time) = interleaved(|round, store_first| {
        let ids = ids.chunks(slice).nth(round).unwrap_or_default();
        let raw = &raw;
        async move {
            let raw_side = || async move { raw.get(ids).await };
            let store_side = || async move {
                let t = Instant::now();
                for id in ids {
                    let found = store.get_workflows(std::slice::from_ref(id)).await?;
                    if found.len() != 1 {
                        return Err(CliError::new(format!("get_workflows did not find {id}")));
                    }
                }
                Ok(t.elapsed())
            };
            both(store_first, store_side, raw_side).await
        }
    })
    .await?;
    out.push(Measured {
        id: "scale_get_workflow",
        figure: "get_workflows of one id".into(),
        count: lookups,
        unit: Unit::WorkflowsPerSec,
        value: rate(lookups, store_time),
        raw: Some(rate(lookups, raw_time)),
        wal_per_claim: None,
    });

    fail_workflows(store, tag).await?;
    for (id, what, query, filter) in listings(phase) {
        // A page read by an index takes a fraction of a millisecond: 200 of them make each
        // side's round long enough to outlast a scheduler hiccup. The user's page reads the
        // table (DBOS's schema has no index on the user), so it gets a tenth.
        let reps = if matches!(filter, Filter::User(_)) {
            PAGES / 10
        } else {
            PAGES
        };
        let per_round = reps / ROUNDS;
        let (store_time, raw_time) = interleaved(|_, store_first| {
            let (query, filter, raw) = (&query, &filter, &raw);
            async move {
                let raw_side = || async move { raw.page(filter, per_round).await };
                let store_side = || async move {
                    let t = Instant::now();
                    for _ in 0..per_round {
                        store.list_workflows(query.clone()).await?;
                    }
                    Ok(t.elapsed())
                };
                both(store_first, store_side, raw_side).await
            }
        })
        .await?;
        out.push(Measured {
            id,
            figure: format!("list_workflows, first page of {PAGE}, {what}"),
            count: reps,
            unit: Unit::PagesPerSec,
            value: rate(reps, store_time),
            raw: Some(rate(reps, raw_time)),
            wal_per_claim: None,
        });
    }

    let r = dataset.recovered();
    let seconds = recover(bench, r, &format!("scale-{tag}-recover")).await?;
    out.push(Measured {
        id: "scale_recovery",
        figure: format!(
            "recovery of {} workflows killed halfway (found, re-enqueued, claimed, finished)",
            thousands(r as u64)
        ),
        count: r,
        unit: Unit::Seconds,
        value: seconds,
        raw: None,
        wal_per_claim: None,
    });
    Ok(out)
}

/// The rounds in which the store's reads and the raw reads alternate.
const ROUNDS: usize = 4;

/// Runs `round(r, store_first)` for each of the [`ROUNDS`] rounds, the store's side first in
/// every other round, so that a slow spell of the machine and the caches one side warms for the
/// other fall on both alike; returns the store's time and the raw time, summed over the rounds.
async fn interleaved<F, Fut>(mut round: F) -> Result<(Duration, Duration), CliError>
where
    F: FnMut(usize, bool) -> Fut,
    Fut: std::future::Future<Output = Result<(Duration, Duration), CliError>>,
{
    let (mut store, mut raw) = (Duration::ZERO, Duration::ZERO);
    for r in 0..ROUNDS {
        let (s, w) = round(r, r % 2 == 0).await?;
        store += s;
        raw += w;
    }
    Ok((store, raw))
}

/// Runs the store's side and the raw side of one round in the order given; returns their times
/// (store, raw).
async fn both<S, SF, W, WF>(
    store_first: bool,
    store: S,
    raw: W,
) -> Result<(Duration, Duration), CliError>
where
    S: FnOnce() -> SF,
    SF: std::future::Future<Output = Result<Duration, CliError>>,
    W: FnOnce() -> WF,
    WF: std::future::Future<Output = Result<Duration, CliError>>,
{
    if store_first {
        let s = store().await?;
        Ok((s, raw().await?))
    } else {
        let w = raw().await?;
        Ok((store().await?, w))
    }
}

/// The `i`-th of `n` indices visited in a scattered order (a multiplicative stride coprime with
/// most sizes), so that lookups do not walk the table in key order.
fn spread(i: usize, n: usize) -> usize {
    (i.wrapping_mul(7_919)) % n.max(1)
}

/// Step checkpoints per second with one writer: `n` steps over `n / 10` workflows started first
/// (untimed).
async fn checkpoints(bench: &Bench<'_>, prefix: &str, n: usize) -> Result<f64, CliError> {
    let store = bench.store();
    let per_workflow = 10;
    let ids: Vec<String> = (0..n.div_ceil(per_workflow))
        .map(|i| format!("{prefix}-{i}"))
        .collect();
    let owners = insert_all_with(bench, &ids, new_workflow).await?;
    let t = Instant::now();
    for i in 0..n {
        let w = i / per_workflow;
        let step = (i % per_workflow) as i32 + 1;
        let record = StepRecord::output(ids[w].as_str(), step, STEP, output());
        store.record_step(record, Some(&owners[w])).await?;
    }
    Ok(rate(n, t.elapsed()))
}

/// Starts and fails a page of workflows of the phase's own (`scale-{tag}-failed-{i}`), so that
/// the `ERROR` page reads a full page on either database: the empty database has no failed
/// workflow of its own, and an empty page against a full one would measure nothing.
async fn fail_workflows(store: &dyn SystemStore, tag: &str) -> Result<(), CliError> {
    for i in 0..PAGE {
        let wf = new_workflow(&format!("scale-{tag}-failed-{i}"));
        let (id, owner) = (wf.workflow_id.clone(), wf.creator_xid.clone());
        store
            .insert_workflow(wf, dbos_storage::InsertOptions::default())
            .await?;
        let failure = dbos_storage::Outcome::Error(dbos_storage::Payload::portable_json(
            r#"{"name":"BenchError","message":"failed on purpose"}"#,
        ));
        if !store.record_outcome(&id, failure, Some(&owner)).await? {
            return Err(CliError::new(format!(
                "the failure of bench workflow {id} was not recorded"
            )));
        }
    }
    Ok(())
}

/// The listings measured: the first page, newest first, without a filter and with each filter
/// an operator uses; each with the raw page that reads the same rows. The id prefix is that of
/// the phase's own one-at-a-time workflows, so that it finds rows on either database.
fn listings(phase: Phase) -> Vec<(&'static str, &'static str, ListWorkflowsQuery, Filter)> {
    let prefix = format!("scale-{}-seq-", phase.tag());
    let page = || {
        ListWorkflowsQuery::new()
            .limit(PAGE)
            .sort(SortOrder::Descending)
    };
    let hour_ago = dbos_storage::now_epoch_ms() - 3_600_000;
    vec![
        ("scale_list_all", "no filter", page(), Filter::All),
        (
            "scale_list_status",
            "status ERROR",
            page().status(vec![WorkflowStatus::Error]),
            Filter::FailedStatus(WorkflowStatus::Error.as_str().to_owned()),
        ),
        (
            "scale_list_name",
            "one name",
            page().name([NAME]),
            Filter::Name(NAME.to_owned()),
        ),
        (
            "scale_list_queue",
            "one queue",
            page().queue_name([CLAIM_QUEUE]),
            Filter::Queue(CLAIM_QUEUE.to_owned()),
        ),
        (
            "scale_list_prefix",
            "id prefix",
            page().workflow_id_prefix(prefix.as_str()),
            Filter::IdPrefix(prefix.clone()),
        ),
        (
            "scale_list_version",
            "application version",
            page().application_version([VERSION]),
            Filter::Version(VERSION.to_owned()),
        ),
        (
            "scale_list_recent",
            "created in the last hour",
            page().start_time(hour_ago),
            Filter::CreatedSince(hour_ago),
        ),
        (
            "scale_list_user",
            "authenticated user",
            page().authenticated_user([USER]),
            Filter::User(USER.to_owned()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::added_micros;

    #[test]
    fn added_time_gives_the_change_and_both_times_per_operation() {
        // 2,000/s is 500 µs an operation, 1,000/s is 1,000 µs.
        assert_eq!(added_micros(2_000.0, 1_000.0), "+500 µs (500 → 1000 µs)");
        assert_eq!(added_micros(1_000.0, 2_000.0), "-500 µs (1000 → 500 µs)");
    }
}
