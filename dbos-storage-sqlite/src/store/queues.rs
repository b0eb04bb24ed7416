//! [`QueueStore`] on SQLite: batch enqueue, claims with every limit, partitions, delays,
//! debounce, deadlines, recovery, dead-letter and the queue registry.
//!
//! SQLite has one writer. Every claim runs under `BEGIN IMMEDIATE`, so claims serialize — also
//! those of other processes sharing the file, which wait up to `busy_timeout` and then fail with
//! [`Contention`](dbos_storage_core::ErrorKind::Contention) — and each sees the rows the previous
//! one committed. The `status = 'ENQUEUED'` guard of the claiming `UPDATE … RETURNING` is what
//! makes a double claim impossible even so.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::management::{is_lease_row, LEASE_APPLICATION};
use dbos_storage_core::payload::validate_text;
use dbos_storage_core::queues::{ENQUEUE_BATCH, PARTITIONED_SWEEP_CAP};
use dbos_storage_core::{
    duration_ms, validate, ClaimOutcome, ClaimRequest, DebounceOutcome, DebounceRequest, EpochMs,
    Error, ErrorKind, InitialStatus, NewWorkflow, QueueConflictPolicy, QueueDefinition,
    QueueLimits, QueueStore, QueueUpdate, RateLimit, Result, StopReason, INTERNAL_QUEUE,
};
use dbos_storage_core::{RecoveryOutcome, RecoveryRequest};
use dbos_storage_driver_kit::decisions::cancel_resume::distinct;
use dbos_storage_driver_kit::decisions::store_errors;
use rusqlite::types::Type;
use rusqlite::{named_params, OptionalExtension, Row, ToSql, Transaction};

use super::management::update_ids;
use super::versions::latest_version;
use super::workflows::WorkflowColumns;
use super::Cached;
use super::{get_bool, get_i64, json_array, now_ms, SqliteStore, ID_CHUNK};
use crate::error::{classify, is_unique_violation_on, with_backend, BACKEND};
use crate::sql;
use crate::sql::queues as q;

// ---------------------------------------------------------------------------------------------
// Batch enqueue
// ---------------------------------------------------------------------------------------------

/// The newest `created_at` given so far per queue (across its partitions).
type CreatedAtByQueue = HashMap<String, i64>;

/// Checks a batch before anything is written: valid workflows, none of them a direct start.
fn validate_batch(workflows: &[NewWorkflow]) -> Result<()> {
    for w in workflows {
        w.validate()?;
        if w.status == InitialStatus::Pending {
            return Err(Error::invalid_input(format!(
                "workflow {} is a direct start (PENDING); enqueue_workflows takes ENQUEUED or \
                 DELAYED workflows only — start it with insert_workflow instead",
                w.workflow_id
            ))
            .with_backend(BACKEND));
        }
    }
    Ok(())
}

/// Inserts one chunk of a batch inside `tx`; returns the ids inserted, in input order.
/// `created_at` continues, per queue (whatever the partition key), after the newest value in
/// `last` or, the first time a queue is seen, after its newest `ENQUEUED`/`PENDING` row.
fn enqueue_chunk(
    tx: &Transaction<'_>,
    chunk: &[NewWorkflow],
    last: &mut CreatedAtByQueue,
) -> Result<Vec<String>> {
    let now = now_ms(tx)?;
    let mut newest = tx
        .prepare_cached(q::MAX_IN_FLIGHT_CREATED_AT)
        .map_err(classify)?;
    let mut insert = tx.prepare_cached(q::ENQUEUE_WORKFLOW).map_err(classify)?;
    let mut input = tx
        .prepare_cached(sql::INSERT_WORKFLOW_INPUT)
        .map_err(classify)?;
    let mut inserted = Vec::with_capacity(chunk.len());
    for w in chunk {
        let queue = w.queue_name.clone().unwrap_or_default();
        let previous = match last.get(&queue) {
            Some(t) => Some(*t),
            None => newest
                .query_row([&queue], |r| get_i64(r, 0))
                .map_err(classify)?,
        };
        let created_at = previous.map_or(now, |p| now.max(p.saturating_add(1)));
        let id = WorkflowColumns::new(w, now)?.with_params(created_at, |params| {
            insert
                .query_row(params, |r| r.get::<_, String>(0))
                .optional()
        });
        match id {
            Ok(Some(id)) => {
                input
                    .execute(rusqlite::params![id, w.inputs.text, now])
                    .map_err(classify)?;
                last.insert(queue, created_at);
                inserted.push(id);
            }
            Ok(None) => {}
            Err(e) if is_unique_violation_on(&e, "deduplication_id") => {
                return Err(with_backend(store_errors::deduplicated(w)));
            }
            Err(e) => return Err(classify(e)),
        }
    }
    Ok(inserted)
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

/// The error of a partitioned queue claimed without a partition key (outside the fast path).
fn partition_key_required(queue_name: &str) -> Error {
    Error::invalid_input(format!(
        "queue {queue_name:?} is partitioned, so a claim needs a partition key; list the \
         partitions with queue_partitions() and claim each one"
    ))
    .with_backend(BACKEND)
}

/// Lowers `budget` (`None` = unlimited) to `room`.
fn cap(budget: &mut Option<i64>, room: i64) {
    *budget = Some(budget.map_or(room, |b| b.min(room)));
}

/// The workflows of a rate-limited queue (or partition) started in the current window.
fn count_rate_limited(
    tx: &Transaction<'_>,
    request: &ClaimRequest,
    limit: RateLimit,
    partition_key: Option<&str>,
    now: i64,
) -> Result<i64> {
    let since = now.saturating_sub(duration_ms(limit.period));
    let count = match partition_key {
        None => tx.query_row_cached(
            q::COUNT_RATE_LIMITED,
            named_params! {
                ":queue_name": request.queue_name,
                ":since": since,
                ":application_name": request.application_name,
            },
            |r| r.get(0),
        ),
        Some(key) => tx.query_row_cached(
            q::COUNT_RATE_LIMITED_IN_PARTITION,
            named_params! {
                ":queue_name": request.queue_name,
                ":since": since,
                ":partition_key": key,
                ":application_name": request.application_name,
            },
            |r| r.get(0),
        ),
    };
    count.map_err(classify)
}

/// The `PENDING` workflows of a queue (or partition).
fn count_pending(
    tx: &Transaction<'_>,
    queue_name: &str,
    partition_key: Option<&str>,
) -> Result<i64> {
    let count = match partition_key {
        None => tx.query_row_cached(q::COUNT_PENDING, [queue_name], |r| r.get(0)),
        Some(key) => tx.query_row_cached(q::COUNT_PENDING_IN_PARTITION, [queue_name, key], |r| {
            r.get(0)
        }),
    };
    count.map_err(classify)
}

/// The claim's budget (`None` = unlimited), computed in DBOS's order: worker concurrency,
/// partition worker concurrency, rate limit, partition rate limit, concurrency, partition
/// concurrency. `Err` carries the first limit without room.
fn claim_budget(
    tx: &Transaction<'_>,
    request: &ClaimRequest,
    now: i64,
) -> Result<std::result::Result<Option<i64>, StopReason>> {
    let limits = &request.limits;
    let partition = request.partition_key.as_deref();
    let mut budget = request.max_tasks.map(i64::from);

    if let Some(max) = limits.worker_concurrency {
        let room = i64::from(max) - i64::from(request.local_running);
        if room <= 0 {
            return Ok(Err(StopReason::WorkerConcurrency));
        }
        cap(&mut budget, room);
    }
    if let (Some(max), Some(_)) = (limits.partition_worker_concurrency, partition) {
        let room = i64::from(max) - i64::from(request.partition_local_running);
        if room <= 0 {
            return Ok(Err(StopReason::PartitionWorkerConcurrency));
        }
        cap(&mut budget, room);
    }
    if let Some(limit) = limits.rate_limit {
        let room = i64::from(limit.max) - count_rate_limited(tx, request, limit, None, now)?;
        if room <= 0 {
            return Ok(Err(StopReason::RateLimit));
        }
        cap(&mut budget, room);
    }
    if let (Some(limit), Some(key)) = (limits.partition_rate_limit, partition) {
        let room = i64::from(limit.max) - count_rate_limited(tx, request, limit, Some(key), now)?;
        if room <= 0 {
            return Ok(Err(StopReason::PartitionRateLimit));
        }
        cap(&mut budget, room);
    }
    if let Some(max) = limits.concurrency {
        let pending = count_pending(tx, &request.queue_name, None)?;
        if pending > i64::from(max) {
            tracing::warn!(
                queue = %request.queue_name,
                pending,
                concurrency = max,
                "more workflows are PENDING on the queue than its concurrency allows"
            );
        }
        let room = i64::from(max) - pending;
        if room <= 0 {
            return Ok(Err(StopReason::Concurrency));
        }
        cap(&mut budget, room);
    }
    if let (Some(max), Some(key)) = (limits.partition_concurrency, partition) {
        let room = i64::from(max) - count_pending(tx, &request.queue_name, Some(key))?;
        if room <= 0 {
            return Ok(Err(StopReason::PartitionConcurrency));
        }
        cap(&mut budget, room);
    }
    Ok(Ok(budget))
}

/// Whether version-less rows are claimable by this executor: its version is the latest
/// registered one (own application plus unclaimed), or no version is registered at all.
fn runs_latest_version(tx: &Transaction<'_>, request: &ClaimRequest) -> Result<bool> {
    Ok(
        match latest_version(tx, request.application_name.as_deref())? {
            None => true,
            Some(latest) => latest.version_name == request.application_version,
        },
    )
}

/// The rows a claim takes, in dequeue order.
fn claim_candidates(
    tx: &Transaction<'_>,
    request: &ClaimRequest,
    budget: Option<i64>,
    null_version: bool,
) -> Result<Vec<String>> {
    let limit = budget.unwrap_or(-1);
    let mut params: Vec<(&str, &dyn ToSql)> = vec![
        (":queue_name", &request.queue_name),
        (":application_version", &request.application_version),
        (":null_version", &null_version),
        (":application_name", &request.application_name),
        (":limit", &limit),
    ];
    let statement = match &request.partition_key {
        None => q::CLAIM_CANDIDATES,
        Some(key) => {
            params.push((":partition_key", key));
            q::CLAIM_CANDIDATES_IN_PARTITION
        }
    };
    let mut stmt = tx.prepare_cached(statement).map_err(classify)?;
    let rows = stmt
        .query_map(params.as_slice(), |r| r.get::<_, String>(0))
        .map_err(classify)?;
    rows.map(|r| r.map_err(classify)).collect()
}

/// The partitioned fast path: the first `min(8192, budget)` heads, in dequeue order, of the
/// first 8192 partitions (in key order) without a `PENDING` row.
fn partition_heads(
    tx: &Transaction<'_>,
    request: &ClaimRequest,
    budget: Option<i64>,
    null_version: bool,
) -> Result<Vec<String>> {
    let sweep = i64::from(PARTITIONED_SWEEP_CAP);
    let limit = budget.map_or(sweep, |b| b.min(sweep));
    let mut stmt = tx
        .prepare_cached(q::CLAIM_PARTITION_HEADS)
        .map_err(classify)?;
    let rows = stmt
        .query_map(
            named_params! {
                ":queue_name": request.queue_name,
                ":application_version": request.application_version,
                ":null_version": null_version,
                ":application_name": request.application_name,
                ":limit": limit,
                ":sweep": sweep,
            },
            |r| r.get::<_, String>(0),
        )
        .map_err(classify)?;
    rows.map(|r| r.map_err(classify)).collect()
}

/// Flips `candidates` to `PENDING` for the claimer and returns those this claim took, in the
/// order of `candidates`.
fn claim_rows(
    tx: &Transaction<'_>,
    request: &ClaimRequest,
    candidates: &[String],
    rate_limited: bool,
    now: i64,
) -> Result<Vec<String>> {
    let mut taken = HashSet::with_capacity(candidates.len());
    let mut stmt = tx.prepare_cached(q::CLAIM_WORKFLOWS).map_err(classify)?;
    for chunk in candidates.chunks(ID_CHUNK) {
        let rows = stmt
            .query_map(
                named_params! {
                    ":owner_xid": request.owner_xid,
                    ":executor_id": request.executor_id,
                    ":application_version": request.application_version,
                    ":application_name": request.application_name,
                    ":now": now,
                    ":rate_limited": rate_limited,
                    ":ids": json_array(chunk)?,
                },
                |r| r.get::<_, String>(0),
            )
            .map_err(classify)?;
        for id in rows {
            taken.insert(id.map_err(classify)?);
        }
    }
    Ok(candidates
        .iter()
        .filter(|id| taken.contains(id.as_str()))
        .cloned()
        .collect())
}

/// The ids of `(id, sort key)` rows, ordered by sort key then id.
fn ids_in_order(mut rows: Vec<(String, Option<i64>)>) -> Vec<String> {
    rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    rows.into_iter().map(|(id, _)| id).collect()
}

// ---------------------------------------------------------------------------------------------
// Queue registry
// ---------------------------------------------------------------------------------------------

/// A `u32` limit column; NULL is no limit.
fn limit_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u32>> {
    get_i64(row, idx)?
        .map(|v| u32::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v)))
        .transpose()
}

/// A duration column in seconds (REAL); NULL is `None`.
fn seconds_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Duration>> {
    row.get::<_, Option<f64>>(idx)?
        .map(|s| {
            Duration::try_from_secs_f64(s).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(idx, Type::Real, Box::new(e))
            })
        })
        .transpose()
}

/// A rate limit from its two columns; both must be set.
fn rate_limit_columns(
    row: &Row<'_>,
    max: usize,
    period: usize,
) -> rusqlite::Result<Option<RateLimit>> {
    Ok(
        match (limit_column(row, max)?, seconds_column(row, period)?) {
            (Some(max), Some(period)) => Some(RateLimit::new(max, period)),
            _ => None,
        },
    )
}

/// Reads a `QueueDefinition` from a row of `queue_columns!()`.
fn read_queue(row: &Row<'_>) -> rusqlite::Result<QueueDefinition> {
    let mut limits = QueueLimits::new();
    limits.concurrency = limit_column(row, 1)?;
    limits.worker_concurrency = limit_column(row, 2)?;
    limits.rate_limit = rate_limit_columns(row, 3, 4)?;
    limits.partition_concurrency = limit_column(row, 5)?;
    limits.partition_worker_concurrency = limit_column(row, 6)?;
    limits.partition_rate_limit = rate_limit_columns(row, 7, 8)?;
    let mut queue = QueueDefinition::new(row.get::<_, String>(0)?)
        .limits(limits)
        .polling_interval(seconds_column(row, 9)?.unwrap_or(Duration::from_secs(1)));
    queue.application_name = row.get(10)?;
    queue.priority_enabled = get_bool(row, 11)?;
    queue.partition_queue = get_bool(row, 12)?;
    Ok(queue)
}

/// Reads a queue by name; a maintenance lease row is not a queue.
fn select_queue(tx: &Transaction<'_>, name: &str) -> Result<Option<QueueDefinition>> {
    if is_lease_row(name) {
        return Ok(None);
    }
    tx.query_row_cached(q::SELECT_QUEUE, [name, LEASE_APPLICATION], read_queue)
        .optional()
        .map_err(classify)
}

/// The limit and interval columns of a queue row to write.
struct QueueColumns {
    concurrency: Option<u32>,
    worker_concurrency: Option<u32>,
    rate_limit_max: Option<u32>,
    rate_limit_period_sec: Option<f64>,
    partition_concurrency: Option<u32>,
    partition_worker_concurrency: Option<u32>,
    partition_rate_limit_max: Option<u32>,
    partition_rate_limit_period_sec: Option<f64>,
    partition_queue: bool,
    polling_interval_sec: f64,
}

impl QueueColumns {
    /// The columns of `queue`; `partition_queue` is [`QueueDefinition::partition_queue_column`].
    fn new(queue: &QueueDefinition) -> Self {
        let limits = &queue.limits;
        QueueColumns {
            concurrency: limits.concurrency,
            worker_concurrency: limits.worker_concurrency,
            rate_limit_max: limits.rate_limit.map(|l| l.max),
            rate_limit_period_sec: limits.rate_limit.map(|l| l.period.as_secs_f64()),
            partition_concurrency: limits.partition_concurrency,
            partition_worker_concurrency: limits.partition_worker_concurrency,
            partition_rate_limit_max: limits.partition_rate_limit.map(|l| l.max),
            partition_rate_limit_period_sec: limits
                .partition_rate_limit
                .map(|l| l.period.as_secs_f64()),
            partition_queue: queue.partition_queue_column(),
            polling_interval_sec: queue.polling_interval.as_secs_f64(),
        }
    }

    /// The named parameters of the limit columns.
    fn params(&self) -> Vec<(&'static str, &dyn ToSql)> {
        vec![
            (":concurrency", &self.concurrency),
            (":worker_concurrency", &self.worker_concurrency),
            (":rate_limit_max", &self.rate_limit_max),
            (":rate_limit_period_sec", &self.rate_limit_period_sec),
            (":partition_concurrency", &self.partition_concurrency),
            (
                ":partition_worker_concurrency",
                &self.partition_worker_concurrency,
            ),
            (":partition_rate_limit_max", &self.partition_rate_limit_max),
            (
                ":partition_rate_limit_period_sec",
                &self.partition_rate_limit_period_sec,
            ),
            (":partition_queue", &self.partition_queue),
            (":polling_interval_sec", &self.polling_interval_sec),
        ]
    }
}

/// Applies the set fields of `update` to `queue`.
fn apply_update(queue: &mut QueueDefinition, update: QueueUpdate) {
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
}

/// Moves the release time of a `DELAYED` workflow in `tx`; returns whether it was one.
pub(super) fn set_workflow_delay_tx(
    tx: &Transaction<'_>,
    workflow_id: &str,
    until_epoch_ms: EpochMs,
) -> Result<bool> {
    let now = now_ms(tx)?;
    let changed = tx
        .execute_cached(
            q::SET_DELAY,
            rusqlite::params![workflow_id, until_epoch_ms, now],
        )
        .map_err(classify)?;
    Ok(changed > 0)
}

/// Extends the delayed debounced workflow holding `request`'s key in `tx`, or reports the
/// key's holder.
pub(super) fn debounce_workflow_tx(
    tx: &Transaction<'_>,
    request: &DebounceRequest,
) -> Result<DebounceOutcome> {
    let now = now_ms(tx)?;
    let extended = tx
        .query_row_cached(
            q::DEBOUNCE_WORKFLOW,
            named_params! {
                ":name": request.workflow_name,
                ":queue_name": request.queue_name,
                ":deduplication_id": request.deduplication_id,
                ":until": request.delay_until_epoch_ms,
                ":serialization": request.inputs.label(),
                ":now": now,
                ":application_name": request.application_name,
                ":class_name": request.class_name,
                ":config_name": request.config_name,
            },
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(classify)?;
    if let Some(workflow_id) = extended {
        tx.execute_cached(
            q::UPSERT_WORKFLOW_INPUT,
            rusqlite::params![workflow_id, request.inputs.text, now],
        )
        .map_err(classify)?;
        return Ok(DebounceOutcome::Extended { workflow_id });
    }
    let holder = tx
        .query_row_cached(
            q::SELECT_DEDUPLICATION_HOLDER,
            rusqlite::params![request.queue_name, request.deduplication_id],
            |r| {
                Ok(DebounceOutcome::HeldBy {
                    workflow_id: r.get(0)?,
                    is_debounced: get_bool(r, 1)?,
                    name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    application_name: r.get(3)?,
                })
            },
        )
        .optional()
        .map_err(classify)?;
    Ok(holder.unwrap_or(DebounceOutcome::Vacant))
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn enqueue_workflows(&self, workflows: Vec<NewWorkflow>) -> Result<Vec<String>> {
        validate_batch(&workflows)?;
        // One transaction per chunk, as DBOS commits them: the writer lock is released between
        // chunks, so claims are not held up by a large batch.
        let mut last = CreatedAtByQueue::new();
        let mut inserted = Vec::with_capacity(workflows.len());
        let mut rest = workflows;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(ENQUEUE_BATCH));
            let chunk = std::mem::replace(&mut rest, tail);
            let (ids, seen) = self
                .conns()
                .write(move |tx| {
                    let ids = enqueue_chunk(tx, &chunk, &mut last)?;
                    Ok((ids, last))
                })
                .await?;
            inserted.extend(ids);
            last = seen;
        }
        Ok(inserted)
    }

    async fn claim_workflows(&self, request: ClaimRequest) -> Result<ClaimOutcome> {
        request.validate()?;
        let fast_path =
            request.partition_key.is_none() && request.limits.is_single_flight_partitioned();
        if request.partition_key.is_none() && request.limits.is_partitioned() && !fast_path {
            return Err(partition_key_required(&request.queue_name));
        }
        self.conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let budget = match claim_budget(tx, &request, now)? {
                    Ok(budget) => budget,
                    Err(reason) => return Ok(ClaimOutcome::new(Vec::new(), Some(reason))),
                };
                if budget == Some(0) {
                    return Ok(ClaimOutcome::default());
                }
                let null_version = runs_latest_version(tx, &request)?;
                let candidates = if fast_path {
                    partition_heads(tx, &request, budget, null_version)?
                } else {
                    claim_candidates(tx, &request, budget, null_version)?
                };
                let rate_limited = request.limits.has_limiter();
                let claimed = claim_rows(tx, &request, &candidates, rate_limited, now)?;
                Ok(ClaimOutcome::new(claimed, None))
            })
            .await
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
        let queue = queue_name.to_owned();
        let app = application_name.map(str::to_owned);
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(q::QUEUE_PARTITIONS).map_err(classify)?;
                let rows = stmt
                    .query_map(
                        named_params! { ":queue_name": queue, ":application_name": app },
                        |r| r.get::<_, String>(0),
                    )
                    .map_err(classify)?;
                rows.map(|r| r.map_err(classify)).collect()
            })
            .await
    }

    async fn release_delayed_workflows(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        if let Some(app) = application_name {
            validate::filter("application name", app)?;
        }
        let app = application_name.map(str::to_owned);
        self.conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let mut stmt = tx.prepare_cached(q::RELEASE_DELAYED).map_err(classify)?;
                let rows = stmt
                    .query_map(
                        named_params! { ":now": now, ":application_name": app },
                        |r| Ok((r.get::<_, String>(0)?, get_i64(r, 1)?)),
                    )
                    .map_err(classify)?;
                let released = rows
                    .map(|r| r.map_err(classify))
                    .collect::<Result<Vec<_>>>()?;
                Ok(ids_in_order(released))
            })
            .await
    }

    async fn set_workflow_delay(&self, workflow_id: &str, until_epoch_ms: EpochMs) -> Result<bool> {
        validate::workflow_id(workflow_id)?;
        let id = workflow_id.to_owned();
        self.conns()
            .write(move |tx| set_workflow_delay_tx(tx, &id, until_epoch_ms))
            .await
    }

    async fn debounce_workflow(&self, request: DebounceRequest) -> Result<DebounceOutcome> {
        request.validate()?;
        self.conns()
            .write(move |tx| debounce_workflow_tx(tx, &request))
            .await
    }

    async fn deduplicated_workflow(
        &self,
        queue_name: &str,
        deduplication_id: &str,
    ) -> Result<Option<String>> {
        validate::filter("queue name", queue_name)?;
        validate::filter("deduplication id", deduplication_id)?;
        let queue = queue_name.to_owned();
        let dedup = deduplication_id.to_owned();
        self.conns()
            .read(move |tx| {
                tx.query_row_cached(
                    q::SELECT_DEDUPLICATION_HOLDER,
                    rusqlite::params![queue, dedup],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(classify)
            })
            .await
    }

    async fn cancel_timed_out_workflows(
        &self,
        limit: u32,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let app = application_name.map(str::to_owned);
        let cancelled = self
            .conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let mut stmt = tx.prepare_cached(q::CANCEL_TIMED_OUT).map_err(classify)?;
                let rows = stmt
                    .query_map(
                        named_params! {
                            ":now": now,
                            ":limit": limit,
                            ":application_name": app,
                        },
                        |r| Ok((r.get::<_, String>(0)?, get_i64(r, 1)?)),
                    )
                    .map_err(classify)?;
                let cancelled = rows
                    .map(|r| r.map_err(classify))
                    .collect::<Result<Vec<_>>>()?;
                Ok(ids_in_order(cancelled))
            })
            .await?;
        if !cancelled.is_empty() {
            self.wake().notify();
        }
        Ok(cancelled)
    }

    async fn pending_workflows(
        &self,
        executor_id: &str,
        application_version: Option<&str>,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        let executor = executor_id.to_owned();
        let version = application_version.map(str::to_owned);
        let app = application_name.map(str::to_owned);
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(q::PENDING_WORKFLOWS).map_err(classify)?;
                let rows = stmt
                    .query_map(
                        named_params! {
                            ":executor_id": executor,
                            ":application_version": version,
                            ":application_name": app,
                        },
                        |r| r.get::<_, String>(0),
                    )
                    .map_err(classify)?;
                rows.map(|r| r.map_err(classify)).collect()
            })
            .await
    }

    async fn reenqueue_for_recovery(
        &self,
        workflow_ids: &[String],
        dead_executor_ids: &[String],
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        for executor in dead_executor_ids {
            validate_text("executor id", executor)?;
        }
        if workflow_ids.is_empty() || dead_executor_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let dead = json_array(dead_executor_ids)?;
        self.conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                update_ids(
                    tx,
                    q::REENQUEUE_FOR_RECOVERY,
                    &ids,
                    &[&dead, &now, &INTERNAL_QUEUE],
                )
            })
            .await
    }

    async fn dead_letter_workflows(
        &self,
        workflow_ids: &[String],
        min_recovery_attempts: i64,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let changed = self
            .conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                update_ids(tx, q::DEAD_LETTER, &ids, &[&min_recovery_attempts, &now])
            })
            .await?;
        if !changed.is_empty() {
            self.wake().notify();
        }
        Ok(changed)
    }

    async fn recover_workflow(&self, request: RecoveryRequest) -> Result<RecoveryOutcome> {
        self.recover(request).await
    }

    async fn return_to_queue(&self, workflow_id: &str, owner_xid: &str) -> Result<bool> {
        self.hand_back(workflow_id, owner_xid).await
    }

    async fn upsert_queue(
        &self,
        queue: QueueDefinition,
        policy: QueueConflictPolicy,
    ) -> Result<bool> {
        queue.validate()?;
        self.conns()
            .write(move |tx| {
                let existing = select_queue(tx, &queue.name)?;
                if let Some(existing) = &existing {
                    if let (Some(owner), Some(caller)) =
                        (&existing.application_name, &queue.application_name)
                    {
                        if owner != caller {
                            return Err(Error::new(
                                ErrorKind::WorkflowConflict,
                                format!(
                                    "queue {:?} belongs to application {owner:?}; application \
                                     {caller:?} cannot register it (queue names are global)",
                                    queue.name
                                ),
                            )
                            .with_backend(BACKEND));
                        }
                    }
                }
                let now = now_ms(tx)?;
                let columns = QueueColumns::new(&queue);
                let mut params = columns.params();
                params.push((":name", &queue.name));
                params.push((":application_name", &queue.application_name));
                params.push((":now", &now));
                let statement = match policy {
                    QueueConflictPolicy::Keep => q::INSERT_QUEUE_IF_ABSENT,
                    _ => q::UPSERT_QUEUE,
                };
                tx.execute_cached(statement, params.as_slice())
                    .map_err(classify)?;
                Ok(existing.is_none())
            })
            .await
    }

    async fn get_queue(&self, name: &str) -> Result<Option<QueueDefinition>> {
        validate::filter("queue name", name)?;
        let name = name.to_owned();
        self.conns().read(move |tx| select_queue(tx, &name)).await
    }

    async fn list_queues(&self, application_name: Option<&str>) -> Result<Vec<QueueDefinition>> {
        if let Some(app) = application_name {
            validate::filter("application name", app)?;
        }
        let app = application_name.map(str::to_owned);
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(q::LIST_QUEUES).map_err(classify)?;
                let rows = stmt
                    .query_map(
                        named_params! {
                            ":application_name": app,
                            ":lease_application": LEASE_APPLICATION,
                        },
                        read_queue,
                    )
                    .map_err(classify)?;
                let mut queues = Vec::new();
                for queue in rows {
                    let queue = queue.map_err(classify)?;
                    if !is_lease_row(&queue.name) {
                        queues.push(queue);
                    }
                }
                Ok(queues)
            })
            .await
    }

    async fn update_queue(&self, name: &str, update: QueueUpdate) -> Result<QueueDefinition> {
        validate::filter("queue name", name)?;
        let name = name.to_owned();
        self.conns()
            .write(move |tx| {
                let Some(mut queue) = select_queue(tx, &name)? else {
                    return Err(Error::not_found(format!(
                        "queue {name:?} does not exist; register it with upsert_queue first"
                    ))
                    .with_backend(BACKEND));
                };
                queue.keep_explicit_partition_mark();
                apply_update(&mut queue, update);
                queue.partition_queue = queue.partition_queue_column();
                queue.priority_enabled = true;
                let now = now_ms(tx)?;
                let columns = QueueColumns::new(&queue);
                let mut params = columns.params();
                params.push((":name", &name));
                params.push((":now", &now));
                tx.execute_cached(q::UPDATE_QUEUE, params.as_slice())
                    .map_err(classify)?;
                Ok(queue)
            })
            .await
    }

    async fn delete_queue(&self, name: &str) -> Result<bool> {
        validate::filter("queue name", name)?;
        let name = name.to_owned();
        self.conns()
            .write(move |tx| {
                let deleted = tx
                    .execute_cached(q::DELETE_QUEUE, [name.as_str(), LEASE_APPLICATION])
                    .map_err(classify)?;
                Ok(deleted > 0)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_cap_takes_the_smaller_room() {
        let mut budget = None;
        cap(&mut budget, 5);
        assert_eq!(budget, Some(5));
        cap(&mut budget, 7);
        assert_eq!(budget, Some(5));
        cap(&mut budget, 2);
        assert_eq!(budget, Some(2));
    }

    #[test]
    fn ordered_ids_sort_by_key_then_id() {
        let rows = vec![
            ("b".to_owned(), Some(2)),
            ("a".to_owned(), Some(2)),
            ("c".to_owned(), Some(1)),
        ];
        assert_eq!(ids_in_order(rows), ["c", "a", "b"]);
    }

    /// The query plan of `statement` on a freshly migrated in-memory database.
    fn plan(statement: &str) -> String {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        crate::migrate::migrate(&tx, ":memory:").unwrap();
        tx.commit().unwrap();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
            .unwrap();
        // Unbound parameters are NULL, which is enough for planning.
        let mut rows = stmt.raw_query();
        let mut lines = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            lines.push(row.get::<_, String>(3).unwrap());
        }
        lines.join("\n")
    }

    /// A batch's first creation time comes from a loose index scan: the queue's distinct
    /// priorities (`priority>?`) and the newest row of each (`priority=?`), never a read of the
    /// queue's whole backlog.
    #[test]
    fn the_batch_seed_walks_priorities_instead_of_the_backlog() {
        let plan = plan(q::MAX_IN_FLIGHT_CREATED_AT);
        for probe in [
            "idx_workflow_status_in_flight_v2 (queue_name=? AND status=? AND priority>?)",
            "idx_workflow_status_in_flight_v2 (queue_name=? AND status=? AND priority=?)",
        ] {
            assert!(plan.contains(probe), "{probe} missing:\n{plan}");
        }
        assert!(!plan.contains("SCAN workflow_status"), "{plan}");
    }

    /// On a file shaped like `bench --scale`'s big database (50,000 finished workflows, half on
    /// queues; a backlog of 20,000 on ten queues; statistics from `ANALYZE`, with the bundled
    /// SQLite's STAT4 samples), a claim still reads its queue's `ENQUEUED` rows from the
    /// in-flight index, as on an empty file, and a batch's seed still probes it by priority.
    #[test]
    fn a_claim_keeps_its_plan_on_a_big_file_with_statistics() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        crate::migrate::migrate(&tx, ":memory:").unwrap();
        tx.commit().unwrap();
        conn.execute_batch(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 50000)
             INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, created_at,
                 updated_at, started_at_epoch_ms, completed_at)
             SELECT 'd' || n, 'SUCCESS', 'f', CASE WHEN n % 2 = 0 THEN 'q' || (n % 10) END,
                 n, n, n, n
             FROM g;
             WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
             INSERT INTO workflow_status (workflow_uuid, status, name, queue_name,
                 application_version, created_at, updated_at)
             SELECT 'e' || n, 'ENQUEUED', 'f', 'q' || (n % 10), 'v', 100000 + n, 100000 + n
             FROM g;
             ANALYZE;",
        )
        .unwrap();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", q::CLAIM_CANDIDATES))
            .unwrap();
        let mut rows = stmt
            .query(rusqlite::named_params! {
                ":queue_name": "q0",
                ":application_version": "v",
                ":null_version": false,
                ":application_name": None::<String>,
                ":limit": 8,
            })
            .unwrap();
        let mut lines = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            lines.push(row.get::<_, String>(3).unwrap());
        }
        let plan = lines.join("\n");
        assert!(
            plan.contains("idx_workflow_status_in_flight_v2 (queue_name=? AND status=?)")
                && !plan.contains("TEMP B-TREE FOR ORDER BY"),
            "{plan}"
        );
        drop(rows);
        let mut seed = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                q::MAX_IN_FLIGHT_CREATED_AT
            ))
            .unwrap();
        let seed_plan = seed
            .query_map(["q0"], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("\n");
        assert!(
            seed_plan.contains("(queue_name=? AND status=? AND priority=?)")
                && !seed_plan.contains("SCAN workflow_status"),
            "a batch's seed reads the backlog:\n{seed_plan}"
        );
    }

    #[test]
    fn claims_use_the_in_flight_and_partition_indexes() {
        for (statement, index) in [
            (q::CLAIM_CANDIDATES, "idx_workflow_status_in_flight_v2"),
            (
                q::CLAIM_CANDIDATES_IN_PARTITION,
                "idx_workflow_status_partition_dequeue_v3",
            ),
            (q::COUNT_PENDING, "idx_workflow_status_in_flight_v2"),
            (
                q::MAX_IN_FLIGHT_CREATED_AT,
                "idx_workflow_status_in_flight_v2",
            ),
            (
                q::COUNT_PENDING_IN_PARTITION,
                "idx_workflow_status_partition_dequeue_v3",
            ),
            (q::COUNT_RATE_LIMITED, "idx_workflow_status_rate_limited"),
            (
                q::CLAIM_PARTITION_HEADS,
                "idx_workflow_status_partition_dequeue_v3",
            ),
            (
                q::QUEUE_PARTITIONS,
                "idx_workflow_status_partition_dequeue_v3",
            ),
            (q::RELEASE_DELAYED, "idx_workflow_status_delayed"),
            (q::CANCEL_TIMED_OUT, "idx_workflow_status_deadline"),
        ] {
            let plan = plan(statement);
            assert!(plan.contains(index), "{index} not used:\n{plan}");
            assert!(
                !plan.contains("SCAN workflow_status") && !plan.contains("SCAN h"),
                "full scan:\n{plan}"
            );
        }
    }
}
