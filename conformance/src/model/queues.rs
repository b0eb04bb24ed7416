//! [`QueueStore`] and [`VersionStore`] of [`MemoryStore`]: batch enqueue, claims with every limit,
//! the partitioned fast path, delays, debounce, deadlines, recovery, dead-letter, the queue
//! registry and application versions.
//!
//! Each claim, sweep and registry write runs under the store's one lock, so it is atomic: the
//! model never double-claims, and its limits hold exactly. A database backend gets the same
//! guarantees from its isolation level and row locks.
//!
//! Application scoping: a set-oriented operation by application `A` sees
//! `A`'s rows and unclaimed rows; a caller without an application sees every row.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use dbos_storage_core::queues::{ENQUEUE_BATCH, PARTITIONED_SWEEP_CAP};
use dbos_storage_core::versions::{validate_new_version, validate_version_lookup};
use dbos_storage_core::{
    new_token, validate, ApplicationVersion, ClaimOutcome, ClaimRequest, DebounceOutcome,
    DebounceRequest, EpochMs, Error, ErrorKind, InitialStatus, NewWorkflow, QueueConflictPolicy,
    QueueDefinition, QueueLimits, QueueUpdate, Result, StopReason, WorkflowInfo, WorkflowStatus,
    INTERNAL_QUEUE,
};
use dbos_storage_core::{QueueStore, VersionStore};
use dbos_storage_core::{RecoveryOutcome, RecoveryRequest};

use super::statuses::StatusMeaning;
use super::BACKEND;
use super::{cancel_row, deduplicated, duration_ms, new_row, MemoryStore, State, WorkflowRow};

/// Whether `limits` sets any per-partition limit: the queue is partitioned (DBOS: "any
/// per-partition limit implies partitioning").
fn partition_limited(limits: &QueueLimits) -> bool {
    limits.partition_concurrency.is_some()
        || limits.partition_worker_concurrency.is_some()
        || limits.partition_rate_limit.is_some()
}

/// Whether `limits` is exactly one workflow at a time per partition, and nothing else: a claim
/// without a partition key then takes the head of every partition.
fn one_per_partition_only(limits: &QueueLimits) -> bool {
    let mut only = QueueLimits::default();
    only.partition_concurrency = Some(1);
    *limits == only
}

/// Whether a rate limiter counts the queue's claims (claimed rows are `rate_limited`).
fn rate_limited(limits: &QueueLimits) -> bool {
    limits.rate_limit.is_some() || limits.partition_rate_limit.is_some()
}

/// The `partition_queue` column a write stores for `queue`: its own mark, or any partition
/// limit.
fn partition_mark(queue: &QueueDefinition) -> bool {
    queue.partition_queue || partition_limited(&queue.limits)
}

/// Whether a row owned by `owner` is visible to a set-oriented operation of `caller`.
fn in_scope(owner: Option<&str>, caller: Option<&str>) -> bool {
    caller.is_none() || owner.is_none() || owner == caller
}

/// Whether a name (queue or version) owned by `owner` belongs to an application other than
/// `caller`. A caller without an application collides with nobody.
fn owned_by_another(owner: Option<&str>, caller: Option<&str>) -> bool {
    matches!((owner, caller), (Some(owner), Some(caller)) if owner != caller)
}

/// The dequeue order: priority, then creation time, then id.
fn dequeue_key(info: &WorkflowInfo) -> (i32, EpochMs, &str) {
    (info.priority, info.created_at, info.workflow_id.as_str())
}

/// The room a limit leaves, or the reason to stop when it leaves none.
fn room(limit: u32, used: u64, reason: StopReason) -> std::result::Result<u64, StopReason> {
    match u64::from(limit).saturating_sub(used) {
        0 => Err(reason),
        left => Ok(left),
    }
}

impl State {
    /// Moves the release time of a `DELAYED` workflow; returns whether it was one.
    pub(super) fn set_workflow_delay(
        &mut self,
        workflow_id: &str,
        until_epoch_ms: EpochMs,
    ) -> bool {
        let now = self.now();
        match self.workflows.get_mut(workflow_id) {
            Some(row) if row.info.status == WorkflowStatus::Delayed => {
                row.info.delay_until_epoch_ms = Some(until_epoch_ms);
                row.info.updated_at = now;
                true
            }
            _ => false,
        }
    }

    /// The claim of [`QueueStore::claim_workflows`]; `request` has been validated. `held` are
    /// rows other sessions hold locked ([`MemoryStore::claim_passing_over`]).
    fn claim(&mut self, request: &ClaimRequest, held: &HashSet<String>) -> Result<ClaimOutcome> {
        let limits = &request.limits;
        if partition_limited(limits) && request.partition_key.is_none() {
            if one_per_partition_only(limits) {
                return Ok(self.claim_partition_heads(request));
            }
            return Err(Error::invalid_input(format!(
                "queue {:?} is partitioned: list its partitions with queue_partitions and claim \
                 each with its partition key",
                request.queue_name
            ))
            .with_backend(BACKEND));
        }
        let now = self.now();
        let budget = match self.budget(request, now) {
            Ok(budget) => budget,
            Err(reason) => return Ok(ClaimOutcome::new(Vec::new(), Some(reason))),
        };
        let partition = request.partition_key.as_deref();
        let null_version_ok = self.runs_unversioned(request);
        let mut candidates: Vec<&WorkflowInfo> = self
            .workflows
            .values()
            .filter(|row| claimable(row, request, partition, null_version_ok))
            .map(|row| &row.info)
            .collect();
        candidates.sort_by(|a, b| dequeue_key(a).cmp(&dequeue_key(b)));
        let budget = usize::try_from(budget).unwrap_or(usize::MAX);
        let free = |info: &&WorkflowInfo| !held.contains(&info.workflow_id);
        // A held row keeps its place in a shared budget's window (it counts against the
        // budget); without a shared budget it is passed over.
        let chosen: Vec<String> = if limits.has_shared_budget() {
            candidates
                .into_iter()
                .take(budget)
                .filter(free)
                .map(|info| info.workflow_id.clone())
                .collect()
        } else {
            candidates
                .into_iter()
                .filter(free)
                .take(budget)
                .map(|info| info.workflow_id.clone())
                .collect()
        };
        for id in &chosen {
            self.start(id, request, now, rate_limited(limits));
        }
        Ok(ClaimOutcome::new(chosen, None))
    }

    /// The claim budget, limit by limit in DBOS's order; the first limit without room stops the
    /// claim. Rate limits count this queue's (or partition's) claims of the last period, own
    /// application plus unclaimed, that are no longer waiting; concurrency counts every
    /// `PENDING` row of the queue (or partition), whatever its application.
    fn budget(&self, request: &ClaimRequest, now: EpochMs) -> std::result::Result<u64, StopReason> {
        let limits = &request.limits;
        let partition = request.partition_key.as_deref();
        let mut budget = u64::from(request.max_tasks.unwrap_or(u32::MAX));
        if let Some(limit) = limits.worker_concurrency {
            let used = u64::from(request.local_running);
            budget = budget.min(room(limit, used, StopReason::WorkerConcurrency)?);
        }
        if let (Some(limit), Some(_)) = (limits.partition_worker_concurrency, partition) {
            let used = u64::from(request.partition_local_running);
            budget = budget.min(room(limit, used, StopReason::PartitionWorkerConcurrency)?);
        }
        if let Some(rate) = limits.rate_limit {
            let used = self.started_within(request, None, duration_ms(rate.period), now);
            budget = budget.min(room(rate.max, used, StopReason::RateLimit)?);
        }
        if let (Some(rate), Some(key)) = (limits.partition_rate_limit, partition) {
            let used = self.started_within(request, Some(key), duration_ms(rate.period), now);
            budget = budget.min(room(rate.max, used, StopReason::PartitionRateLimit)?);
        }
        if let Some(limit) = limits.concurrency {
            let used = self.pending_in(&request.queue_name, None);
            budget = budget.min(room(limit, used, StopReason::Concurrency)?);
        }
        if let (Some(limit), Some(key)) = (limits.partition_concurrency, partition) {
            let used = self.pending_in(&request.queue_name, Some(key));
            budget = budget.min(room(limit, used, StopReason::PartitionConcurrency)?);
        }
        Ok(budget)
    }

    /// Rows of the queue (and partition) a rate limiter counts: claimed under a limiter, no
    /// longer `ENQUEUED` or `DELAYED`, and started less than `period_ms` ago.
    fn started_within(
        &self,
        request: &ClaimRequest,
        partition: Option<&str>,
        period_ms: i64,
        now: EpochMs,
    ) -> u64 {
        let since = now.saturating_sub(period_ms);
        let count = self
            .workflows
            .values()
            .filter(|row| {
                let info = &row.info;
                row.rate_limited
                    && info.queue_name.as_deref() == Some(request.queue_name.as_str())
                    && partition.is_none_or(|key| info.queue_partition_key.as_deref() == Some(key))
                    && !matches!(
                        info.status,
                        WorkflowStatus::Enqueued | WorkflowStatus::Delayed
                    )
                    && info
                        .started_at_epoch_ms
                        .is_some_and(|started| started > since)
                    && in_scope(
                        info.application_name.as_deref(),
                        request.application_name.as_deref(),
                    )
            })
            .count();
        count as u64
    }

    /// `PENDING` rows of the queue (and partition), of every application.
    fn pending_in(&self, queue_name: &str, partition: Option<&str>) -> u64 {
        let count = self
            .workflows
            .values()
            .filter(|row| {
                let info = &row.info;
                info.status == WorkflowStatus::Pending
                    && info.queue_name.as_deref() == Some(queue_name)
                    && partition.is_none_or(|key| info.queue_partition_key.as_deref() == Some(key))
            })
            .count();
        count as u64
    }

    /// Whether the claiming executor may run version-less rows: its version is the latest
    /// registered one of its application (or unclaimed), or no version is registered at all.
    fn runs_unversioned(&self, request: &ClaimRequest) -> bool {
        self.latest_version(request.application_name.as_deref())
            .is_none_or(|latest| latest.version_name == request.application_version)
    }

    /// DBOS's partitioned fast path (only limit: `partition_concurrency = 1`, no partition key):
    /// among the heads of the first 8192 partitions (in key order) that have `ENQUEUED` rows and
    /// no `PENDING` row, the first `max_tasks` in dequeue order, so that the partitions whose
    /// head waited longest go first.
    fn claim_partition_heads(&mut self, request: &ClaimRequest) -> ClaimOutcome {
        let now = self.now();
        let cap = request
            .max_tasks
            .unwrap_or(PARTITIONED_SWEEP_CAP)
            .min(PARTITIONED_SWEEP_CAP);
        // The probe ignores the application, as a mutual-exclusion check must.
        let mut waiting = BTreeSet::new();
        let mut busy = HashSet::new();
        for row in self.workflows.values() {
            let info = &row.info;
            let (Some(queue), Some(key)) = (&info.queue_name, &info.queue_partition_key) else {
                continue;
            };
            if *queue != request.queue_name {
                continue;
            }
            match info.status {
                WorkflowStatus::Enqueued => waiting.insert(key.clone()),
                WorkflowStatus::Pending => busy.insert(key.clone()),
                _ => false,
            };
        }
        let null_version_ok = self.runs_unversioned(request);
        let sweep = usize::try_from(PARTITIONED_SWEEP_CAP).unwrap_or(usize::MAX);
        let mut heads: Vec<&WorkflowInfo> = waiting
            .iter()
            .filter(|key| !busy.contains(*key))
            .take(sweep)
            .filter_map(|key| {
                self.workflows
                    .values()
                    .filter(|row| claimable(row, request, Some(key), null_version_ok))
                    .map(|row| &row.info)
                    .min_by(|a, b| dequeue_key(a).cmp(&dequeue_key(b)))
            })
            .collect();
        heads.sort_by(|a, b| dequeue_key(a).cmp(&dequeue_key(b)));
        heads.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
        let chosen: Vec<String> = heads.iter().map(|i| i.workflow_id.clone()).collect();
        for id in &chosen {
            self.start(id, request, now, false);
        }
        ClaimOutcome::new(chosen, None)
    }

    /// Flips a claimed row to `PENDING`, owned by the claim.
    fn start(&mut self, workflow_id: &str, request: &ClaimRequest, now: EpochMs, limited: bool) {
        let Some(row) = self.workflows.get_mut(workflow_id) else {
            return;
        };
        let info = &mut row.info;
        info.status = WorkflowStatus::Pending;
        info.executor_id = Some(request.executor_id.clone());
        info.application_version = Some(request.application_version.clone());
        if let Some(app) = &request.application_name {
            info.application_name = Some(app.clone());
        }
        info.started_at_epoch_ms = Some(now);
        info.recovery_attempts += 1;
        info.updated_at = now;
        if info.workflow_deadline_epoch_ms.is_none() {
            info.workflow_deadline_epoch_ms = info
                .workflow_timeout_ms
                .map(|timeout| now.saturating_add(timeout));
        }
        row.owner_xid = Some(request.owner_xid.clone());
        row.rate_limited = limited;
    }

    /// Inserts one chunk of a batch enqueue (validated) and returns the ids inserted. Checks
    /// every deduplication id first, so that a held one writes nothing.
    fn enqueue_chunk(&mut self, chunk: &[NewWorkflow]) -> Result<Vec<String>> {
        let mut seen = HashSet::new();
        let fresh: Vec<&NewWorkflow> = chunk
            .iter()
            .filter(|wf| !self.workflows.contains_key(&wf.workflow_id))
            .filter(|wf| seen.insert(wf.workflow_id.as_str()))
            .collect();
        let mut keys = HashSet::new();
        for wf in &fresh {
            if let (Some(queue), Some(dedup)) = (&wf.queue_name, &wf.deduplication_id) {
                // Held by a stored workflow, or by another workflow of the same batch.
                if self.dedup_holder(queue, dedup).is_some() || !keys.insert((queue, dedup)) {
                    return Err(deduplicated(wf));
                }
            }
        }
        let now = self.now();
        // The last `created_at` handed out per queue (across its partitions), seeded from the
        // newest ENQUEUED or PENDING row, so that FIFO order follows the input.
        let mut last: HashMap<Option<String>, EpochMs> = HashMap::new();
        let mut inserted = Vec::new();
        for wf in fresh {
            let queue = wf.queue_name.clone();
            let previous = match last.get(&queue) {
                Some(previous) => *previous,
                None => self.newest_in_flight(&queue),
            };
            let created_at = now.max(previous.saturating_add(1));
            last.insert(queue, created_at);
            let (row, input) = new_row(wf.clone(), now, created_at);
            inserted.push(wf.workflow_id.clone());
            self.put_workflow(row, input);
        }
        Ok(inserted)
    }

    /// The newest `created_at` of an `ENQUEUED` or `PENDING` row of a queue, in any partition.
    fn newest_in_flight(&self, queue: &Option<String>) -> EpochMs {
        self.workflows
            .values()
            .map(|row| &row.info)
            .filter(|info| {
                matches!(
                    info.status,
                    WorkflowStatus::Enqueued | WorkflowStatus::Pending
                ) && info.queue_name == *queue
            })
            .map(|info| info.created_at)
            .max()
            .unwrap_or(EpochMs::MIN)
    }

    /// The debounce of [`QueueStore::debounce_workflow`].
    pub(super) fn debounce(&mut self, request: DebounceRequest) -> DebounceOutcome {
        let now = self.now();
        let caller = request.application_name.as_deref();
        let target = self.workflows.values_mut().find(|row| {
            let info = &row.info;
            row.is_debounced
                && info.status == WorkflowStatus::Delayed
                && info.queue_name.as_deref() == Some(request.queue_name.as_str())
                && info.deduplication_id.as_deref() == Some(request.deduplication_id.as_str())
                && info.name == request.workflow_name
                && request.matches_class(info.class_name.as_deref(), info.config_name.as_deref())
                && in_scope(info.application_name.as_deref(), caller)
        });
        if let Some(row) = target {
            let until = row
                .debounce_deadline_epoch_ms
                .map_or(request.delay_until_epoch_ms, |cap| {
                    cap.min(request.delay_until_epoch_ms)
                });
            let info = &mut row.info;
            info.delay_until_epoch_ms = Some(until);
            let input = dbos_storage_core::export::InputRow::new(Some(request.inputs.text), now);
            self.inputs.insert(info.workflow_id.clone(), input);
            info.serialization = request.inputs.serialization;
            info.updated_at = now;
            // DBOS's `COALESCE(application_name, caller)`: an unclaimed row is claimed, an owned
            // one keeps its owner.
            if info.application_name.is_none() {
                info.application_name = caller.map(str::to_owned);
            }
            return DebounceOutcome::Extended {
                workflow_id: info.workflow_id.clone(),
            };
        }
        match self.dedup_holder(&request.queue_name, &request.deduplication_id) {
            Some(holder) => DebounceOutcome::HeldBy {
                workflow_id: holder.info.workflow_id.clone(),
                is_debounced: holder.is_debounced,
                name: holder.info.name.clone(),
                application_name: holder.info.application_name.clone(),
            },
            None => DebounceOutcome::Vacant,
        }
    }

    /// Versions visible to `application`, newest first: by timestamp, then creation time, then
    /// name (the model's tie-break; the contract leaves ties open).
    fn versions_newest_first(&self, application: Option<&str>) -> Vec<&ApplicationVersion> {
        let mut versions: Vec<&ApplicationVersion> = self
            .versions
            .values()
            .filter(|v| in_scope(v.application_name.as_deref(), application))
            .collect();
        versions.sort_by(|a, b| {
            (b.version_timestamp, b.created_at, &b.version_name).cmp(&(
                a.version_timestamp,
                a.created_at,
                &a.version_name,
            ))
        });
        versions
    }

    /// The latest version visible to `application`.
    fn latest_version(&self, application: Option<&str>) -> Option<&ApplicationVersion> {
        self.versions_newest_first(application).into_iter().next()
    }
}

/// Whether a claim may take `row`: `ENQUEUED` on the queue (and partition), at the executor's
/// version or version-less when `null_version_ok`, of the executor's application or unclaimed.
fn claimable(
    row: &WorkflowRow,
    request: &ClaimRequest,
    partition: Option<&str>,
    null_version_ok: bool,
) -> bool {
    let info = &row.info;
    let version_ok = match &info.application_version {
        Some(version) => *version == request.application_version,
        None => null_version_ok,
    };
    info.status == WorkflowStatus::Enqueued
        && info.queue_name.as_deref() == Some(request.queue_name.as_str())
        && partition.is_none_or(|key| info.queue_partition_key.as_deref() == Some(key))
        && version_ok
        && in_scope(
            info.application_name.as_deref(),
            request.application_name.as_deref(),
        )
}

fn name_taken(what: &str, name: &str, owner: Option<&str>) -> Error {
    Error::new(
        ErrorKind::WorkflowConflict,
        format!(
            "{what} {name:?} belongs to application {:?}; names are global across applications",
            owner.unwrap_or_default()
        ),
    )
    .with_backend(BACKEND)
}

impl MemoryStore {
    /// As [`QueueStore::claim_workflows`], with the rows in `held` treated as locked by other
    /// sessions, as a database's claim finds rows that concurrent claims are taking: without a
    /// shared budget they are passed over (`FOR UPDATE SKIP LOCKED`); with one they keep their
    /// place in the budget's window and count against it. The partitioned fast path ignores
    /// `held`. Used to explain concurrent histories, where a claim may skip the rows an
    /// overlapping claim took.
    ///
    /// # Errors
    /// As [`QueueStore::claim_workflows`].
    ///
    /// # Idempotency
    /// Not idempotent, as a claim: the rows it takes are no longer `ENQUEUED`.
    pub async fn claim_passing_over(
        &self,
        request: ClaimRequest,
        held: &HashSet<String>,
    ) -> Result<ClaimOutcome> {
        request.validate()?;
        self.write(|state| state.claim(&request, held))
    }
}

#[async_trait]
impl QueueStore for MemoryStore {
    async fn enqueue_workflows(&self, workflows: Vec<NewWorkflow>) -> Result<Vec<String>> {
        for wf in &workflows {
            wf.validate()?;
            if wf.status == InitialStatus::Pending {
                return Err(Error::invalid_input(format!(
                    "workflow {:?} is PENDING; batch enqueue takes ENQUEUED or DELAYED workflows",
                    wf.workflow_id
                )));
            }
        }
        let mut inserted = Vec::new();
        for chunk in workflows.chunks(ENQUEUE_BATCH) {
            // Each chunk commits on its own: a failing chunk leaves the earlier ones written.
            inserted.extend(self.write(|state| state.enqueue_chunk(chunk))?);
        }
        Ok(inserted)
    }

    async fn claim_workflows(&self, request: ClaimRequest) -> Result<ClaimOutcome> {
        request.validate()?;
        self.write(|state| state.claim(&request, &HashSet::new()))
    }

    async fn queue_partitions(
        &self,
        queue_name: &str,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        validate::filter("queue name", queue_name)?;
        if let Some(app) = application_name {
            validate::filter("application name", app)?;
        }
        let state = self.open()?;
        let keys: BTreeSet<String> = state
            .workflows
            .values()
            .map(|row| &row.info)
            .filter(|info| {
                info.status == WorkflowStatus::Enqueued
                    && info.queue_name.as_deref() == Some(queue_name)
                    && in_scope(info.application_name.as_deref(), application_name)
            })
            .filter_map(|info| info.queue_partition_key.clone())
            .collect();
        Ok(keys.into_iter().collect())
    }

    async fn release_delayed_workflows(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        if let Some(app) = application_name {
            validate::filter("application name", app)?;
        }
        self.write(|state| {
            let now = state.now();
            let mut released = Vec::new();
            for row in state.workflows.values_mut() {
                let info = &mut row.info;
                let due = info.delay_until_epoch_ms.is_some_and(|until| until <= now);
                let ours = in_scope(info.application_name.as_deref(), application_name);
                if info.status != WorkflowStatus::Delayed || !due || !ours {
                    continue;
                }
                // Not a user-visible update: `updated_at` stays, as in DBOS.
                info.status = WorkflowStatus::Enqueued;
                if row.is_debounced {
                    info.deduplication_id = None;
                }
                released.push(info.workflow_id.clone());
            }
            Ok(released)
        })
    }

    async fn set_workflow_delay(&self, workflow_id: &str, until_epoch_ms: EpochMs) -> Result<bool> {
        validate::workflow_id(workflow_id)?;
        self.write(|state| Ok(state.set_workflow_delay(workflow_id, until_epoch_ms)))
    }

    async fn debounce_workflow(&self, request: DebounceRequest) -> Result<DebounceOutcome> {
        request.validate()?;
        self.write(|state| Ok(state.debounce(request)))
    }

    async fn deduplicated_workflow(
        &self,
        queue_name: &str,
        deduplication_id: &str,
    ) -> Result<Option<String>> {
        validate::filter("queue name", queue_name)?;
        validate::filter("deduplication id", deduplication_id)?;
        let state = self.open()?;
        Ok(state
            .dedup_holder(queue_name, deduplication_id)
            .map(|row| row.info.workflow_id.clone()))
    }

    async fn cancel_timed_out_workflows(
        &self,
        limit: u32,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        self.write(|state| {
            let now = state.now();
            let mut expired: Vec<(EpochMs, String)> = state
                .workflows
                .values()
                .map(|row| &row.info)
                .filter(|info| {
                    info.status.has_work_left()
                        && in_scope(info.application_name.as_deref(), application_name)
                })
                .filter_map(|info| {
                    let deadline = info.workflow_deadline_epoch_ms?;
                    (deadline <= now).then(|| (deadline, info.workflow_id.clone()))
                })
                .collect();
            expired.sort();
            expired.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let mut cancelled = Vec::new();
            for (_, id) in expired {
                if let Some(row) = state.workflows.get_mut(&id) {
                    cancel_row(row, now);
                    cancelled.push(id);
                }
            }
            Ok(cancelled)
        })
    }

    async fn pending_workflows(
        &self,
        executor_id: &str,
        application_version: Option<&str>,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        let state = self.open()?;
        let mut rows: Vec<&WorkflowInfo> = state
            .workflows
            .values()
            .map(|row| &row.info)
            .filter(|info| {
                info.status == WorkflowStatus::Pending
                    && info.executor_id.as_deref() == Some(executor_id)
                    && info.application_version.as_deref() == application_version
                    && in_scope(info.application_name.as_deref(), application_name)
            })
            .collect();
        rows.sort_by(|a, b| (a.created_at, &a.workflow_id).cmp(&(b.created_at, &b.workflow_id)));
        Ok(rows.into_iter().map(|i| i.workflow_id.clone()).collect())
    }

    async fn reenqueue_for_recovery(
        &self,
        workflow_ids: &[String],
        dead_executor_ids: &[String],
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| {
            let now = state.now();
            let mut changed = Vec::new();
            let mut seen = HashSet::new();
            for id in workflow_ids.iter().filter(|id| seen.insert(*id)) {
                let Some(row) = state.workflows.get_mut(id) else {
                    continue;
                };
                let info = &mut row.info;
                let dead = info
                    .executor_id
                    .as_ref()
                    .is_some_and(|e| dead_executor_ids.contains(e));
                if info.status != WorkflowStatus::Pending || !dead {
                    continue;
                }
                info.status = WorkflowStatus::Enqueued;
                info.started_at_epoch_ms = None;
                info.updated_at = now;
                if info.queue_name.is_none() {
                    info.queue_name = Some(INTERNAL_QUEUE.to_owned());
                }
                row.owner_xid = None;
                changed.push(id.clone());
            }
            Ok(changed)
        })
    }

    async fn dead_letter_workflows(
        &self,
        workflow_ids: &[String],
        min_recovery_attempts: i64,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        self.write(|state| {
            let now = state.now();
            let mut changed = Vec::new();
            let mut seen = HashSet::new();
            for id in workflow_ids.iter().filter(|id| seen.insert(*id)) {
                let Some(row) = state.workflows.get_mut(id) else {
                    continue;
                };
                let info = &mut row.info;
                if info.status != WorkflowStatus::Pending
                    || info.recovery_attempts < min_recovery_attempts
                {
                    continue;
                }
                info.status = WorkflowStatus::MaxRecoveryAttemptsExceeded;
                info.deduplication_id = None;
                info.started_at_epoch_ms = None;
                info.queue_name = None;
                info.completed_at = Some(now);
                info.updated_at = now;
                row.owner_xid = None;
                changed.push(id.clone());
            }
            Ok(changed)
        })
    }

    async fn recover_workflow(&self, request: RecoveryRequest) -> Result<RecoveryOutcome> {
        self.recover_workflow_now(&request)
    }

    async fn return_to_queue(&self, workflow_id: &str, owner_xid: &str) -> Result<bool> {
        self.return_to_queue_now(workflow_id, owner_xid)
    }

    async fn upsert_queue(
        &self,
        queue: QueueDefinition,
        policy: QueueConflictPolicy,
    ) -> Result<bool> {
        queue.validate()?;
        self.write(|state| {
            let Some(existing) = state.queues.get_mut(&queue.name) else {
                state.queues.insert(queue.name.clone(), stored_queue(queue));
                return Ok(true);
            };
            let owner = existing.application_name.as_deref();
            if owned_by_another(owner, queue.application_name.as_deref()) {
                return Err(name_taken("queue", &queue.name, owner));
            }
            if policy == QueueConflictPolicy::Update {
                existing.partition_queue = partition_mark(&queue);
                existing.priority_enabled = true;
                existing.limits = queue.limits;
                existing.polling_interval = queue.polling_interval;
                if existing.application_name.is_none() {
                    existing.application_name = queue.application_name;
                }
            }
            Ok(false)
        })
    }

    async fn get_queue(&self, name: &str) -> Result<Option<QueueDefinition>> {
        validate::filter("queue name", name)?;
        Ok(self.open()?.queues.get(name).cloned())
    }

    async fn list_queues(&self, application_name: Option<&str>) -> Result<Vec<QueueDefinition>> {
        if let Some(app) = application_name {
            validate::filter("application name", app)?;
        }
        let state = self.open()?;
        Ok(state
            .queues
            .values()
            .filter(|q| in_scope(q.application_name.as_deref(), application_name))
            .cloned()
            .collect())
    }

    async fn update_queue(&self, name: &str, update: QueueUpdate) -> Result<QueueDefinition> {
        validate::filter("queue name", name)?;
        self.write(|state| {
            let queue = state.queues.get_mut(name).ok_or_else(|| {
                Error::not_found(format!("queue {name:?} is not registered")).with_backend(BACKEND)
            })?;
            // A mark set without partition limits stays; one that only reflected the limits
            // follows the new ones.
            queue.partition_queue &= !partition_limited(&queue.limits);
            let limits = &mut queue.limits;
            if let Some(v) = update.concurrency {
                limits.concurrency = v;
            }
            if let Some(v) = update.worker_concurrency {
                limits.worker_concurrency = v;
            }
            if let Some(v) = update.rate_limit {
                limits.rate_limit = v;
            }
            if let Some(v) = update.partition_concurrency {
                limits.partition_concurrency = v;
            }
            if let Some(v) = update.partition_worker_concurrency {
                limits.partition_worker_concurrency = v;
            }
            if let Some(v) = update.partition_rate_limit {
                limits.partition_rate_limit = v;
            }
            if let Some(v) = update.polling_interval {
                queue.polling_interval = v;
            }
            queue.partition_queue = partition_mark(queue);
            queue.priority_enabled = true;
            Ok(queue.clone())
        })
    }

    async fn delete_queue(&self, name: &str) -> Result<bool> {
        validate::filter("queue name", name)?;
        self.write(|state| Ok(state.queues.remove(name).is_some()))
    }
}

#[async_trait]
impl VersionStore for MemoryStore {
    async fn create_application_version(
        &self,
        version_name: &str,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        validate_new_version(version_name, application_name)?;
        self.write(|state| {
            let now = state.now();
            let row = state
                .versions
                .entry(version_name.to_owned())
                .or_insert_with(|| {
                    ApplicationVersion::new(
                        new_token(),
                        version_name,
                        now,
                        now,
                        application_name.map(str::to_owned),
                    )
                });
            let owner = row.application_name.as_deref();
            if owned_by_another(owner, application_name) {
                return Err(name_taken("application version", version_name, owner));
            }
            if row.application_name.is_none() {
                row.application_name = application_name.map(str::to_owned);
            }
            Ok(row.clone())
        })
    }

    async fn list_application_versions(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<ApplicationVersion>> {
        validate_version_lookup(None, application_name)?;
        let state = self.open()?;
        Ok(state
            .versions_newest_first(application_name)
            .into_iter()
            .cloned()
            .collect())
    }

    async fn latest_application_version(
        &self,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        validate_version_lookup(None, application_name)?;
        let state = self.open()?;
        state
            .latest_version(application_name)
            .cloned()
            .ok_or_else(|| {
                Error::not_found(format!(
                    "no application version is registered (application {application_name:?})"
                ))
                .with_backend(BACKEND)
            })
    }

    async fn set_application_version_timestamp(
        &self,
        version_name: &str,
        timestamp: EpochMs,
        application_name: Option<&str>,
    ) -> Result<()> {
        validate_version_lookup(Some(version_name), application_name)?;
        self.write(|state| match state.versions.get_mut(version_name) {
            Some(row) if in_scope(row.application_name.as_deref(), application_name) => {
                row.version_timestamp = timestamp;
                Ok(())
            }
            _ => Err(Error::not_found(format!(
                "application version {version_name:?} is not registered (application \
                     {application_name:?})"
            ))
            .with_backend(BACKEND)),
        })
    }
}

/// A definition as the `queues` row stores it: `priority_enabled` TRUE, and `partition_queue`
/// the definition's mark or any partition limit, as DBOS writes them.
fn stored_queue(mut queue: QueueDefinition) -> QueueDefinition {
    queue.partition_queue = partition_mark(&queue);
    queue.priority_enabled = true;
    queue
}

#[cfg(test)]
mod tests {
    use dbos_storage_core::{NewWorkflow, Payload};

    use super::*;

    /// Four rows enqueued on `q` in one batch (`r0` first) and claimed with `limits` at most 2,
    /// passing over `r0`.
    async fn claim_past_r0(limits: QueueLimits) -> Vec<String> {
        let store = MemoryStore::migrated();
        let rows = (0..4)
            .map(|i| {
                NewWorkflow::new(format!("r{i}"), "f", Payload::portable_json("[]"))
                    .enqueued("q")
                    .with_application_version("v1")
            })
            .collect();
        store.enqueue_workflows(rows).await.unwrap();
        let request = ClaimRequest::new("q", "x", "v1")
            .limits(limits)
            .max_tasks(2);
        let held = HashSet::from(["r0".to_owned()]);
        store
            .claim_passing_over(request, &held)
            .await
            .unwrap()
            .claimed
    }

    #[tokio::test]
    async fn a_held_row_is_passed_over_without_a_shared_budget_and_counts_with_one() {
        assert_eq!(claim_past_r0(QueueLimits::new()).await, ["r1", "r2"]);
        assert_eq!(
            claim_past_r0(QueueLimits::new().concurrency(10)).await,
            ["r1"],
            "r0 keeps its place in the window of two"
        );
    }
}
