//! Operations that touch the system database and the application database together: garbage
//! collection, and delete and rewind that also clear recorded transactions.
//!
//! The application database's `transaction_outputs` has no link to the system database, and the
//! two cannot commit together. Application rows are therefore deleted only for workflows the
//! system database has just deleted (never for one a concurrent resume kept alive, whose
//! recorded transactions must not run twice), right after them; rows left behind by an
//! interruption between the two (which a reused workflow id would otherwise replay) are removed
//! by the opt-in sweep of [`GcOptions::sweep_app_orphans`].

use std::collections::BTreeSet;
use std::time::Duration;

use dbos_storage_core::{
    management::lease_lost, new_token, now_epoch_ms, AppStore, CreationPosition, DeleteOptions,
    EpochMs, Error, ForkStart, Lease, ListStepsOptions, OrphanSweep, Outcome, Result,
    RetentionPolicy, RewindRequest, RewoundWorkflow, SystemStore,
};

/// The lease name garbage collection runs under.
pub const GC_LEASE: &str = "gc";

/// The default of [`GcOptions::batch_time`]: half the 100 ms a claim should at most wait
/// behind the collector.
pub const DEFAULT_BATCH_TIME: Duration = Duration::from_millis(50);

/// Options of [`collect_garbage`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcOptions {
    /// What to delete.
    pub policy: RetentionPolicy,
    /// Workflows per window of the walk at most, and so at most per delete transaction; default
    /// 100 (windows are smaller while deletes are slow: [`batch_time`](GcOptions::batch_time)). The
    /// collection walks the workflows in creation order one window at a time
    /// ([`ManagementStore::collectable_workflows`](dbos_storage_core::ManagementStore::collectable_workflows)),
    /// each window resuming where the last one ended, so each selection reads about this many
    /// index entries however many rows earlier batches deleted; each window's collectable
    /// workflows are deleted in one transaction, which deletes each workflow's input, output
    /// and steps too and holds its rows' locks until it commits, so it stays short.
    pub batch_size: u32,
    /// How long one delete transaction should take at most; default 50 ms. After a batch that
    /// took longer the next window is half as big (down to one workflow); after one that took
    /// under half of it, twice as big (never past [`batch_size`](GcOptions::batch_size)). So a
    /// slow disk, long step histories or a busy server shorten each transaction, and with it
    /// how long its row locks are held, instead of lengthening it. When halving a window does
    /// not cut a delete's time by a quarter, the time is the transaction's round trips rather
    /// than its rows (a distant server): the window goes back up and shrinks no further, so
    /// the collection does not turn into many more transactions that hold their locks just as
    /// long. Zero keeps every window at `batch_size`.
    pub batch_time: Duration,
    /// Workflow ids per table in each window of the orphan sweep that precedes the batches
    /// ([`ManagementStore::sweep_orphans`](dbos_storage_core::ManagementStore::sweep_orphans));
    /// default 1,000. Each window is one short transaction that reads about this many index
    /// entries of each payload table, so the sweep's cost per statement stays flat however big
    /// the tables are, and the whole sweep visits every id once.
    pub sweep_window: u32,
    /// How long the lease lasts between renewals; default 60 s. Each batch renews it, and so
    /// does the walk itself once a third of this has passed since the last renewal (a long run
    /// of windows with nothing to delete, or of sweep windows, keeps it). A collector killed
    /// midway blocks others for at most this long.
    pub lease_ttl: Duration,
    /// This collector's lease token; default a fresh one. Pass the token of a killed run to
    /// resume at once instead of waiting for its lease to expire.
    pub holder: String,
    /// Also delete application rows, written before this run started, whose workflow does not
    /// exist in the system database (left by an interrupted run or by deletes without the
    /// application store). Off by default: only switch it on when the application database
    /// serves this system database alone, or another application's rows would look orphaned.
    pub sweep_app_orphans: bool,
}

impl GcOptions {
    /// Collect by `policy` in batches of 100 under a 60 s lease.
    pub fn new(policy: RetentionPolicy) -> Self {
        GcOptions {
            policy,
            batch_size: 100,
            batch_time: DEFAULT_BATCH_TIME,
            sweep_window: 1_000,
            lease_ttl: Duration::from_secs(60),
            holder: new_token(),
            sweep_app_orphans: false,
        }
    }

    /// Also sweeps orphaned application rows (see [`GcOptions::sweep_app_orphans`]).
    #[must_use]
    pub fn sweep_app_orphans(mut self, yes: bool) -> Self {
        self.sweep_app_orphans = yes;
        self
    }

    /// Sets the batch size.
    #[must_use]
    pub fn batch_size(mut self, n: u32) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets how long one delete transaction should take at most (zero: no adaptation).
    #[must_use]
    pub fn batch_time(mut self, time: Duration) -> Self {
        self.batch_time = time;
        self
    }

    /// Sets the number of workflow ids per table in each window of the orphan sweep.
    #[must_use]
    pub fn sweep_window(mut self, n: u32) -> Self {
        self.sweep_window = n;
        self
    }

    /// Sets the lease time to live.
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Sets the lease holder token.
    #[must_use]
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    fn lease(&self) -> Lease {
        Lease::new(GC_LEASE, self.holder.clone(), self.lease_ttl)
    }
}

/// What [`collect_garbage`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GcReport {
    /// Workflows deleted (with their inputs, outputs, steps, messages, events and streams).
    pub workflows: u64,
    /// Batches (system-database transactions) that deleted workflows.
    pub batches: u64,
    /// Payload and step rows whose workflow was already gone.
    pub orphans: OrphanSweep,
    /// Application `transaction_outputs` rows of collected workflows.
    pub app_rows: u64,
    /// Application `transaction_outputs` rows whose workflow was already gone.
    pub app_orphans: u64,
}

/// Sweeps orphaned payload and step rows, then deletes the finished workflows
/// `options.policy` selects, in bounded batches; with an application store, each batch's
/// recorded transactions go too (and, opted in, application rows whose workflow no longer
/// exists).
///
/// # Behavior
/// - Runs under the [`GC_LEASE`] lease: one collector per database at a time, on every backend,
///   without advisory locks. Every batch renews the lease and is fenced by it.
/// - First sweeps the payload tables for rows whose workflow is gone (what DBOS's own
///   retention leaves), window by window ([`GcOptions::sweep_window`]); the batches delete
///   every row of their workflows and leave none.
/// - Walks the workflows once, oldest first, in windows of at most [`GcOptions::batch_size`]
///   (smaller while deletes are slower than [`GcOptions::batch_time`]), and deletes the
///   collectable ones of each window. A workflow that becomes collectable behind
///   the walk's position (it finishes after its window was read) is left for the next run.
/// - Never deletes a `PENDING`, `ENQUEUED` or `DELAYED` workflow, nor one resumed between being
///   selected and being deleted (nor its application rows).
/// - Each batch deletes its workflows, then the application rows of exactly the workflows
///   deleted. A run killed midway and started again (after the lease expires, or at once with
///   the same holder) finishes with the same system database; application rows of a batch
///   interrupted between its two deletes are removed by [`GcOptions::sweep_app_orphans`].
/// - The lease is released at the end, and on error.
///
/// # Errors
/// [`Conflict`](dbos_storage_core::ErrorKind::Conflict) when another collector holds the lease (the message
/// says until when) or takes it over midway; [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput)
/// for a policy without a rule or a zero batch size; any store error.
pub async fn collect_garbage(
    system: &dyn SystemStore,
    app: Option<&dyn AppStore>,
    options: GcOptions,
) -> Result<GcReport> {
    options.policy.validate()?;
    if options.batch_size == 0 {
        return Err(Error::invalid_input("a GC batch size must be at least 1"));
    }
    if options.sweep_window == 0 {
        return Err(Error::invalid_input(
            "a GC sweep window must cover at least 1 workflow id",
        ));
    }
    let lease = options.lease();
    lease.validate()?;
    let state = system.acquire_lease(&lease).await?;
    if !state.acquired {
        return Err(Error::conflict(format!(
            "another garbage collector ({}) holds the GC lease for {} ms more; try again later",
            state.holder,
            (state.expires_at - now_epoch_ms()).max(0)
        )));
    }
    let started_at = now_epoch_ms();
    let outcome = collect_under_lease(system, app, &options, &lease, started_at).await;
    let released = system.release_lease(&lease).await;
    let report = outcome?;
    released?;
    tracing::info!(?report, "garbage collection finished");
    Ok(report)
}

async fn collect_under_lease(
    system: &dyn SystemStore,
    app: Option<&dyn AppStore>,
    options: &GcOptions,
    lease: &Lease,
    started_at: EpochMs,
) -> Result<GcReport> {
    let mut report = GcReport::default();
    let mut renewal = Renewal::new(system, lease, options.lease_ttl);
    // The sweep goes first: its windows find their ends by walking the payload tables' id
    // indexes, which after the batches would hold the dead entries of every row this run
    // deleted (until vacuum), making each window's read grow with the collection. The batches
    // delete every row of their workflows, so they leave no orphan for a later sweep.
    let mut window_start: Option<String> = None;
    loop {
        let window = system
            .sweep_orphans(lease, window_start.as_deref(), options.sweep_window)
            .await?;
        report.orphans.inputs += window.deleted.inputs;
        report.orphans.outputs += window.deleted.outputs;
        report.orphans.steps += window.deleted.steps;
        renewal.keep().await?;
        match window.next_from {
            Some(next) => window_start = Some(next),
            None => break,
        }
    }
    let mut batch_start: Option<CreationPosition> = None;
    let mut size = WindowSize::new(options.batch_size, options.batch_time);
    loop {
        let window = system
            .collectable_workflows(options.policy, batch_start.as_ref(), size.current())
            .await?;
        let ids = window.workflow_ids;
        if !ids.is_empty() {
            let began = std::time::Instant::now();
            let deleted = system.delete_collected(lease, &ids).await?;
            let took = began.elapsed();
            tracing::debug!(
                window = size.current(),
                selected = ids.len(),
                deleted = deleted.len(),
                ?took,
                "GC batch"
            );
            size.after_batch(deleted.len(), took);
            // A workflow resumed since the window was read stays (it is not deleted).
            if !deleted.is_empty() {
                if let Some(app) = app {
                    report.app_rows += app.delete_transaction_outputs(&deleted, 0, None).await?;
                }
                report.workflows += deleted.len() as u64;
                report.batches += 1;
            }
        }
        renewal.keep().await?;
        match window.next_from {
            Some(next) => batch_start = Some(next),
            None => break,
        }
    }
    if let (Some(app), true) = (app, options.sweep_app_orphans) {
        report.app_orphans = sweep_app_orphans(system, app, options, lease, started_at).await?;
    }
    Ok(report)
}

/// The size of the collector's next window: `batch_size` at first, halved after a delete slower
/// than `batch_time` and doubled after one under half of it (see [`GcOptions::batch_time`]).
///
/// A delete's time is its round trips (the lease check, the statements, the commit) plus its
/// workflows' rows. When halving the workflows did not cut the time by a quarter, the round
/// trips dominate (a distant server, say): smaller windows would only multiply them, so the
/// window goes back to the size before and never shrinks below it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WindowSize {
    max: u32,
    current: u32,
    target: Duration,
    /// The smallest window that still pays off.
    floor: u32,
    /// The delete that made the window halve: its window, how many workflows it deleted and
    /// how long it took; the next delete is compared with it.
    halved_after: Option<(u32, usize, Duration)>,
}

impl WindowSize {
    fn new(max: u32, target: Duration) -> WindowSize {
        WindowSize {
            max,
            current: max,
            target,
            floor: 1,
            halved_after: None,
        }
    }

    /// Workflows the next window reads.
    fn current(&self) -> u32 {
        self.current
    }

    /// Sizes the next window after a delete of `deleted` workflows from the current window
    /// that took `took`.
    fn after_batch(&mut self, deleted: usize, took: Duration) {
        if self.target.is_zero() || deleted == 0 {
            return;
        }
        if let Some((window, more, slower)) = self.halved_after.take() {
            // The halving deleted fewer workflows but saved less than a quarter of the time.
            if deleted < more && took.saturating_mul(4) > slower.saturating_mul(3) {
                self.floor = self.floor.max(window);
                self.current = self.floor;
                return;
            }
        }
        if took > self.target {
            let halved = (self.current / 2).max(self.floor).max(1);
            if halved < self.current {
                self.halved_after = Some((self.current, deleted, took));
            }
            self.current = halved;
        } else if took < self.target / 2 {
            self.current = self.current.saturating_mul(2).min(self.max);
        }
    }
}

/// Keeps the collector's lease while it walks: renews it once a third of its time to live has
/// passed since the last renewal, so windows that delete nothing (which renew nothing) cannot
/// outlast it.
struct Renewal<'a> {
    system: &'a dyn SystemStore,
    lease: &'a Lease,
    every: std::time::Duration,
    last: std::time::Instant,
}

impl<'a> Renewal<'a> {
    fn new(system: &'a dyn SystemStore, lease: &'a Lease, ttl: std::time::Duration) -> Self {
        Renewal {
            system,
            lease,
            every: ttl / 3,
            last: std::time::Instant::now(),
        }
    }

    /// Renews the lease if it is due.
    ///
    /// # Errors
    /// [`Conflict`](dbos_storage_core::ErrorKind::Conflict) when another collector took the
    /// lease over; any store error.
    async fn keep(&mut self) -> Result<()> {
        if self.last.elapsed() < self.every {
            return Ok(());
        }
        if !self.system.acquire_lease(self.lease).await?.acquired {
            return Err(lease_lost(self.lease));
        }
        self.last = std::time::Instant::now();
        Ok(())
    }
}

/// Deletes application rows written before the run started whose workflow no longer exists.
async fn sweep_app_orphans(
    system: &dyn SystemStore,
    app: &dyn AppStore,
    options: &GcOptions,
    lease: &Lease,
    started_at: EpochMs,
) -> Result<u64> {
    let mut deleted = 0;
    let mut after: Option<String> = None;
    loop {
        let ids = app
            .transaction_output_workflows(started_at, after.as_deref(), options.batch_size)
            .await?;
        let Some(last) = ids.last().cloned() else {
            break;
        };
        let existing: BTreeSet<String> = system
            .get_workflows(&ids)
            .await?
            .into_iter()
            .map(|w| w.workflow_id)
            .collect();
        let orphans: Vec<String> = ids
            .into_iter()
            .filter(|id| !existing.contains(id))
            .collect();
        if !orphans.is_empty() {
            if !system.acquire_lease(lease).await?.acquired {
                return Err(lease_lost(lease));
            }
            // Only rows older than the run: an id reused meanwhile keeps its new rows.
            deleted += app
                .delete_transaction_outputs(&orphans, 0, Some(started_at))
                .await?;
        }
        after = Some(last);
    }
    Ok(deleted)
}

/// Deletes workflows from the system database and their recorded transactions from the
/// application database (when given). Returns the ids deleted.
///
/// # Behavior
/// As [`dbos_storage_core::ManagementStore::delete_workflows`]. The workflows to clear (with their
/// descendants when asked) are listed first, so the application rows of every one of them go
/// after the system rows even when a retried delete reports fewer ids; if that second step
/// fails, [`collect_garbage`] with [`GcOptions::sweep_app_orphans`] removes them later.
///
/// # Errors
/// Any store error.
pub async fn delete_everywhere(
    system: &dyn SystemStore,
    app: Option<&dyn AppStore>,
    workflow_ids: &[String],
    options: DeleteOptions,
) -> Result<Vec<String>> {
    let Some(app) = app else {
        return system.delete_workflows(workflow_ids, options).await;
    };
    dbos_storage_core::validate::workflow_ids(workflow_ids)?;
    let mut targets: BTreeSet<String> = workflow_ids.iter().cloned().collect();
    if options.delete_children {
        for id in workflow_ids {
            targets.extend(system.workflow_children(id).await?);
        }
    }
    let targets: Vec<String> = targets.into_iter().collect();
    let deleted = system.delete_workflows(workflow_ids, options).await?;
    app.delete_transaction_outputs(&targets, 0, None).await?;
    Ok(deleted)
}

/// Rewinds a finished workflow ([`dbos_storage_core::ManagementStore::rewind_workflow`]) and first deletes
/// its recorded transactions from the start step on (when an application store is given), so
/// that they run again instead of replaying their old result.
///
/// # Errors
/// As [`dbos_storage_core::ManagementStore::rewind_workflow`]; [`Conflict`](dbos_storage_core::ErrorKind::Conflict) for
/// a workflow that is not finished, checked before any application row is touched.
pub async fn rewind_everywhere(
    system: &dyn SystemStore,
    app: Option<&dyn AppStore>,
    request: RewindRequest,
) -> Result<RewoundWorkflow> {
    request.validate()?;
    let Some(app) = app else {
        return system.rewind_workflow(request).await;
    };
    let id = request.workflow_id.clone();
    let Some(info) = system.get_workflows(std::slice::from_ref(&id)).await?.pop() else {
        return Err(Error::not_found(format!("workflow {id} does not exist")));
    };
    if !info.status.is_terminal() {
        return Err(Error::conflict(format!(
            "workflow {id} is {}; only a finished workflow can be rewound",
            info.status.as_str()
        )));
    }
    let steps = system
        .list_steps(&id, ListStepsOptions::default().load_output(true))
        .await?;
    let start = request.start.resolve(
        &id,
        steps.iter().map(|s| {
            let failed = matches!(s.outcome, Some(Outcome::Error(_)));
            (s.function_id, s.function_name.as_str(), failed)
        }),
    )?;
    app.delete_transaction_outputs(std::slice::from_ref(&id), start, None)
        .await?;
    let mut request = request;
    request.start = ForkStart::Step(start);
    system.rewind_workflow(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn slow_deletes_halve_the_window_down_to_one_workflow() {
        // 60 ms per workflow: even one is over the target.
        let per_workflow = ms(60);
        let mut size = WindowSize::new(100, ms(50));
        assert_eq!(size.current(), 100);
        size.after_batch(100, per_workflow * 100);
        assert_eq!(size.current(), 50);
        size.after_batch(50, per_workflow * 50);
        assert_eq!(size.current(), 25);
        for _ in 0..10 {
            let n = size.current();
            size.after_batch(n as usize, per_workflow * n);
        }
        assert_eq!(size.current(), 1);
    }

    #[test]
    fn fast_deletes_double_the_window_up_to_the_batch_size_and_in_between_keep_it() {
        let mut size = WindowSize::new(100, ms(50));
        size.after_batch(100, ms(400));
        size.after_batch(50, ms(200));
        assert_eq!(size.current(), 25);
        size.after_batch(25, ms(30));
        assert_eq!(size.current(), 25, "between half the target and the target");
        size.after_batch(25, ms(20));
        assert_eq!(size.current(), 50);
        size.after_batch(50, ms(20));
        assert_eq!(size.current(), 100);
        size.after_batch(100, ms(1));
        assert_eq!(size.current(), 100);
    }

    #[test]
    fn a_halving_that_saves_under_a_quarter_of_the_time_is_undone_for_good() {
        let mut size = WindowSize::new(100, ms(50));
        // Round trips take most of the time, whatever the rows.
        size.after_batch(100, ms(80));
        assert_eq!(size.current(), 50);
        size.after_batch(50, ms(75));
        assert_eq!(size.current(), 100);
        size.after_batch(100, ms(80));
        assert_eq!(size.current(), 100, "never below the window that paid off");
    }

    #[test]
    fn only_a_halving_is_judged_and_the_floor_never_drops() {
        let mut size = WindowSize::new(100, ms(50));
        // Fewer deleted in the same time without a halving: no floor.
        size.after_batch(100, ms(30));
        size.after_batch(90, ms(30));
        assert_eq!(size.current(), 100);
        size.after_batch(100, ms(500));
        assert_eq!(size.current(), 50);
        // That halving saved less than a quarter: back to 100 for good.
        size.after_batch(50, ms(450));
        assert_eq!(size.current(), 100);
        // A later window that deletes fewer in about the same time lowers nothing.
        size.after_batch(40, ms(440));
        assert_eq!(size.current(), 100);
    }

    #[test]
    fn a_window_with_nothing_to_delete_or_a_zero_batch_time_changes_nothing() {
        let mut size = WindowSize::new(100, ms(50));
        size.after_batch(0, ms(500));
        assert_eq!(size.current(), 100);
        // The same number deleted tells nothing about the round trips: no undo.
        size.after_batch(10, ms(500));
        size.after_batch(10, ms(500));
        assert_eq!(size.current(), 25);
        let mut fixed = WindowSize::new(100, Duration::ZERO);
        fixed.after_batch(100, Duration::from_secs(10));
        assert_eq!(fixed.current(), 100);
    }
}
