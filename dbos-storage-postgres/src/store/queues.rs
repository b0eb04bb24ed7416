//! [`QueueStore`] on PostgreSQL: batch enqueue, claims with every limit, the partitioned fast
//! path, delays, debounce, deadlines, recovery, dead-letter and the queue registry.
//!
//! # Claims
//!
//! A claim is one transaction whose isolation follows the queue's shape:
//!
//! | queue | isolation | selection lock |
//! |---|---|---|
//! | no shared budget (at most a worker concurrency) | READ COMMITTED | `FOR UPDATE SKIP LOCKED` |
//! | shared budget (concurrency, partition concurrency, a rate limit) | REPEATABLE READ | head window, `FOR UPDATE SKIP LOCKED` |
//! | shared budget, a partition key, and a queue-wide concurrency or rate limit | SERIALIZABLE | head window, `FOR UPDATE SKIP LOCKED` |
//! | only `partition_concurrency = 1`, no partition key (the fast path) | READ COMMITTED | `FOR UPDATE SKIP LOCKED` |
//!
//! With a shared budget every worker must count the same rows, so a claim only takes rows from
//! its budget's window at the head of the queue: the first `budget` claimable rows of its
//! snapshot. A row of the window that another session holds (a worker claiming it, or any
//! session left idle in a transaction) is skipped but keeps its place, so it counts against the
//! budget: two workers never take more than the budget between them, and a held row costs one
//! slot instead of stopping the queue (DBOS locks `FOR UPDATE NOWAIT`, which fails every claim of
//! the queue while anyone holds its first row). A snapshot made stale by a concurrent claim
//! fails with 40001 ([`ErrorKind::SerializationFailure`]); the caller's next poll is the retry. The fast path
//! needs no shared count: its mutual exclusion is the row lock and the re-checked guards
//! (`ENQUEUED`, no `PENDING` row in the partition), which READ COMMITTED re-evaluates on the
//! newest row version.
//!
//! Selection and flip are one statement (a `FOR UPDATE` CTE feeding an `UPDATE … RETURNING`)
//! that claims at most [`ID_CHUNK`] rows; a larger budget runs it again in the same transaction
//! until the budget is used or the queue has nothing more. A claim without a shared budget whose
//! budget fits one chunk runs that statement in autocommit: one round trip. The flip keeps the
//! `status = 'ENQUEUED'` guard, so a row is never claimed twice, and the database clock decides
//! every time: the rate-limit window, `started_at_epoch_ms` and the deadline.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::management::{is_lease_row, LEASE_APPLICATION};
use dbos_storage_core::queues::{ENQUEUE_BATCH, PARTITIONED_SWEEP_CAP};
use dbos_storage_core::{
    duration_ms, validate, ClaimOutcome, ClaimRequest, DebounceOutcome, DebounceRequest, EpochMs,
    Error, ErrorKind, InitialStatus, Isolation, NewWorkflow, QueueConflictPolicy, QueueDefinition,
    QueueLimits, QueueStore, QueueUpdate, RateLimit, Result, StopReason, INTERNAL_QUEUE,
};
use dbos_storage_core::{RecoveryOutcome, RecoveryRequest};
use dbos_storage_driver_kit::decisions::column_values::json_array;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Transaction};

use super::workflows::DEDUP_INDEX;
use super::{col, Exec, PostgresStore, Queries, ID_CHUNK};
use crate::error::{classify, constraint, is_unique_violation, with_backend, BACKEND};

/// The isolation level of a claim on a queue with `limits`, claimed in a partition or not.
pub(crate) fn claim_isolation(limits: &QueueLimits, partitioned_claim: bool) -> Isolation {
    if !limits.has_shared_budget() {
        Isolation::ReadCommitted
    } else if partitioned_claim && (limits.concurrency.is_some() || limits.rate_limit.is_some()) {
        Isolation::Serializable
    } else {
        Isolation::RepeatableRead
    }
}

/// The room a limit leaves, or the reason to stop when it leaves none.
fn room(limit: u32, used: i64, reason: StopReason) -> std::result::Result<u64, StopReason> {
    let used = u64::try_from(used).unwrap_or(0);
    match u64::from(limit).saturating_sub(used) {
        0 => Err(reason),
        left => Ok(left),
    }
}

/// The smaller of a budget (`None` = unlimited) and `room`.
fn cap(budget: Option<u64>, room: u64) -> Option<u64> {
    Some(budget.map_or(room, |b| b.min(room)))
}

/// The claim statement for a queue shape: the head window with a shared budget, else the first
/// unlocked rows; with a partition filter when a key is given.
fn claim_statement(q: &Queries, shared: bool, partitioned: bool) -> &str {
    match (shared, partitioned) {
        (false, false) => &q.claim_skip_locked,
        (true, false) => &q.claim_head_window,
        (false, true) => &q.claim_partition_skip_locked,
        (true, true) => &q.claim_partition_head_window,
    }
}

/// Claims up to `budget` rows (`None` = every claimable row) with `statement` on `client`, at
/// most [`ID_CHUNK`] per statement, until the budget is used or a statement finds fewer rows
/// than it asked for. Returns the ids claimed in dequeue order.
///
/// More than one statement only runs when the budget exceeds one chunk; the caller then passes
/// a transaction, so that the claim stays atomic.
async fn claim_rows(
    client: Exec<'_>,
    statement: &str,
    request: &ClaimRequest,
    budget: Option<u64>,
) -> Result<Vec<String>> {
    let app = request.application_name.as_deref();
    let rate_limited = request.limits.has_limiter();
    let chunk = ID_CHUNK as u64;
    let mut claimed: Vec<(i32, i64, String)> = Vec::new();
    let mut left = budget;
    while left != Some(0) {
        let asked = left.map_or(chunk, |l| l.min(chunk));
        let limit = i64::try_from(asked).unwrap_or(i64::MAX);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&request.queue_name, Type::TEXT),
            (&request.application_version, Type::TEXT),
            (&app, Type::TEXT),
            (&limit, Type::INT8),
            (&request.owner_xid, Type::TEXT),
            (&request.executor_id, Type::TEXT),
            (&rate_limited, Type::BOOL),
        ];
        if let Some(key) = &request.partition_key {
            params.push((key, Type::TEXT));
        }
        let rows = client
            .query_typed(statement, &params)
            .await
            .map_err(classify)?;
        let got = rows.len() as u64;
        for row in &rows {
            claimed.push((col(row, 1)?, col(row, 2)?, col(row, 0)?));
        }
        if got < asked {
            break;
        }
        left = left.map(|l| l - got);
    }
    claimed.sort();
    Ok(claimed.into_iter().map(|(_, _, id)| id).collect())
}

/// The database's part of a shared budget, in DBOS's order (rate limit, partition rate limit,
/// concurrency, partition concurrency), counted in the claim's transaction: `Err` with the first
/// limit that has no room, else what is left of `budget`.
async fn shared_budget(
    tx: &Transaction<'_>,
    q: &Queries,
    request: &ClaimRequest,
    mut budget: Option<u64>,
) -> Result<std::result::Result<Option<u64>, StopReason>> {
    let limits = &request.limits;
    let partition = request.partition_key.as_deref();
    let app = request.application_name.as_deref();
    let rate_period = limits.rate_limit.map(|r| duration_ms(r.period));
    let partition_rate_period = limits
        .partition_rate_limit
        .filter(|_| partition.is_some())
        .map(|r| duration_ms(r.period));
    let count_pending = limits.concurrency.is_some();
    let count_partition_pending = limits.partition_concurrency.is_some() && partition.is_some();
    let row = tx
        .query_typed_one(
            &q.select_claim_budget,
            &[
                (&request.queue_name, Type::TEXT),
                (&partition, Type::TEXT),
                (&rate_period, Type::INT8),
                (&partition_rate_period, Type::INT8),
                (&count_pending, Type::BOOL),
                (&count_partition_pending, Type::BOOL),
                (&app, Type::TEXT),
            ],
        )
        .await
        .map_err(classify)?;
    let checks = [
        (
            limits.rate_limit.map(|r| r.max),
            col::<Option<i64>>(&row, 0)?,
            StopReason::RateLimit,
        ),
        (
            limits.partition_rate_limit.map(|r| r.max),
            col(&row, 1)?,
            StopReason::PartitionRateLimit,
        ),
        (limits.concurrency, col(&row, 2)?, StopReason::Concurrency),
        (
            limits.partition_concurrency,
            col(&row, 3)?,
            StopReason::PartitionConcurrency,
        ),
    ];
    for (limit, used, reason) in checks {
        let (Some(limit), Some(used)) = (limit, used) else {
            continue;
        };
        if reason == StopReason::Concurrency && used > i64::from(limit) {
            tracing::warn!(
                queue = %request.queue_name,
                pending = used,
                concurrency = limit,
                "the queue has more PENDING workflows than its concurrency allows"
            );
        }
        match room(limit, used, reason) {
            Ok(left) => budget = cap(budget, left),
            Err(reason) => return Ok(Err(reason)),
        }
    }
    Ok(Ok(budget))
}

/// The partitioned fast path inside its transaction: the `cap` oldest heads of the free
/// partitions (see [`crate::sql::queues::SELECT_PARTITION_HEADS`]), locked `FOR UPDATE SKIP LOCKED` (in chunks of [`ID_CHUNK`]) and flipped with
/// `rate_limited = false`; returned in dequeue order.
async fn claim_heads_in(
    tx: &Transaction<'_>,
    q: &Queries,
    request: &ClaimRequest,
    cap: u32,
) -> Result<ClaimOutcome> {
    let app = request.application_name.as_deref();
    let cap = i64::from(cap);
    let sweep = i64::from(PARTITIONED_SWEEP_CAP);
    let rows = tx
        .query_typed(
            &q.select_partition_heads,
            &[
                (&request.queue_name, Type::TEXT),
                (&request.application_version, Type::TEXT),
                (&app, Type::TEXT),
                (&cap, Type::INT8),
                (&sweep, Type::INT8),
            ],
        )
        .await
        .map_err(classify)?;
    let mut heads = rows
        .iter()
        .map(|r| Ok((col::<i32>(r, 1)?, col::<i64>(r, 2)?, col::<String>(r, 0)?)))
        .collect::<Result<Vec<_>>>()?;
    heads.sort();
    let ids: Vec<String> = heads.into_iter().map(|(_, _, id)| id).collect();
    let mut claimed = HashSet::new();
    for chunk in ids.chunks(ID_CHUNK) {
        let chunk = chunk.to_vec();
        let rows = tx
            .query_typed(
                &q.claim_partition_heads,
                &[
                    (&chunk, Type::TEXT_ARRAY),
                    (&request.owner_xid, Type::TEXT),
                    (&request.executor_id, Type::TEXT),
                    (&request.application_version, Type::TEXT),
                    (&app, Type::TEXT),
                    (&request.queue_name, Type::TEXT),
                ],
            )
            .await
            .map_err(classify)?;
        for row in rows {
            claimed.insert(col::<String>(&row, 0)?);
        }
    }
    let claimed = ids.into_iter().filter(|id| claimed.contains(id)).collect();
    Ok(ClaimOutcome::new(claimed, None))
}

/// The columns of one chunk of a batch enqueue, one array per column (see
/// [`crate::sql::queues::ENQUEUE_WORKFLOWS`]).
#[derive(Default)]
struct EnqueueColumns {
    ids: Vec<String>,
    statuses: Vec<String>,
    names: Vec<String>,
    classes: Vec<Option<String>>,
    configs: Vec<Option<String>>,
    queues: Vec<Option<String>>,
    dedup_ids: Vec<Option<String>>,
    priorities: Vec<i32>,
    partitions: Vec<Option<String>>,
    users: Vec<Option<String>>,
    roles_assumed: Vec<Option<String>>,
    roles: Vec<Option<String>>,
    executors: Vec<Option<String>>,
    versions: Vec<Option<String>>,
    app_ids: Vec<Option<String>>,
    app_names: Vec<Option<String>>,
    timeouts: Vec<Option<i64>>,
    deadlines: Vec<Option<i64>>,
    delays: Vec<Option<i64>>,
    parents: Vec<Option<String>>,
    serializations: Vec<Option<String>>,
    attributes: Vec<String>,
    creators: Vec<String>,
    inputs: Vec<String>,
    debounced: Vec<bool>,
    debounce_deadlines: Vec<Option<i64>>,
    forked_from: Vec<Option<String>>,
    schedules: Vec<Option<String>>,
}

impl EnqueueColumns {
    /// The columns of `workflows`.
    fn of(workflows: &[&NewWorkflow]) -> Result<EnqueueColumns> {
        let mut c = EnqueueColumns::default();
        for wf in workflows {
            c.ids.push(wf.workflow_id.clone());
            c.statuses.push(wf.status.status().as_str().to_owned());
            c.names.push(wf.name.clone());
            c.classes.push(wf.class_name.clone());
            c.configs.push(wf.config_name.clone());
            c.queues.push(wf.queue_name.clone());
            c.dedup_ids.push(wf.deduplication_id.clone());
            c.priorities.push(wf.priority);
            c.partitions.push(wf.queue_partition_key.clone());
            c.users.push(wf.authenticated_user.clone());
            c.roles_assumed.push(wf.assumed_role.clone());
            c.roles.push(
                wf.authenticated_roles
                    .as_deref()
                    .map(json_array)
                    .transpose()
                    .map_err(with_backend)?,
            );
            c.executors.push(wf.executor_id.clone());
            c.versions.push(wf.application_version.clone());
            c.app_ids.push(wf.application_id.clone());
            c.app_names.push(wf.application_name.clone());
            c.timeouts.push(wf.timeout.map(duration_ms));
            c.deadlines.push(wf.deadline_epoch_ms);
            c.delays.push(wf.delay_until_epoch_ms);
            c.parents.push(wf.parent_workflow_id.clone());
            c.serializations.push(wf.inputs.label().map(str::to_owned));
            c.attributes.push(match &wf.attributes {
                Some(map) => serde_json::Value::Object(map.clone()).to_string(),
                None => "null".to_owned(),
            });
            c.creators.push(wf.creator_xid.clone());
            c.inputs.push(wf.inputs.text.clone());
            c.debounced.push(wf.is_debounced);
            c.debounce_deadlines.push(wf.debounce_deadline_epoch_ms);
            c.forked_from.push(wf.forked_from.clone());
            c.schedules.push(wf.schedule_name.clone());
        }
        Ok(c)
    }

    /// The statement's 28 parameters.
    fn params(&self) -> [&(dyn ToSql + Sync); 28] {
        [
            &self.ids,
            &self.statuses,
            &self.names,
            &self.classes,
            &self.configs,
            &self.queues,
            &self.dedup_ids,
            &self.priorities,
            &self.partitions,
            &self.users,
            &self.roles_assumed,
            &self.roles,
            &self.executors,
            &self.versions,
            &self.app_ids,
            &self.app_names,
            &self.timeouts,
            &self.deadlines,
            &self.delays,
            &self.parents,
            &self.serializations,
            &self.attributes,
            &self.creators,
            &self.inputs,
            &self.debounced,
            &self.debounce_deadlines,
            &self.forked_from,
            &self.schedules,
        ]
    }
}

/// The error of a batch chunk rejected by the deduplication index, naming the key the server
/// reported.
fn batch_deduplicated(err: &tokio_postgres::Error, first: &str, count: usize) -> Error {
    let detail = err
        .as_db_error()
        .and_then(|d| d.detail())
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    Error::new(
        ErrorKind::Deduplicated,
        format!(
            "the batch of {count} workflows starting with {first} was not enqueued: a \
             deduplication id of the batch is already held on its queue{detail}; nothing of this \
             batch was written"
        ),
    )
    .with_backend(BACKEND)
}

/// Whether a registry row is a maintenance lease rather than a queue.
fn is_lease(queue: &QueueDefinition) -> bool {
    is_lease_row(&queue.name) || queue.application_name.as_deref() == Some(LEASE_APPLICATION)
}

/// The error of updating a queue that is not registered.
fn not_registered(name: &str) -> Error {
    Error::not_found(format!("queue {name:?} is not registered")).with_backend(BACKEND)
}

/// The error of a queue name owned by another application.
fn queue_taken(name: &str, owner: &str) -> Error {
    Error::new(
        ErrorKind::WorkflowConflict,
        format!(
            "queue {name:?} belongs to application {owner:?}; queue names are global across \
             applications, choose another name"
        ),
    )
    .with_backend(BACKEND)
}

/// A limit as the `integer` column stores it.
fn int4(what: &str, queue: &str, value: Option<u32>) -> Result<Option<i32>> {
    value
        .map(|v| {
            i32::try_from(v).map_err(|_| {
                Error::invalid_input(format!(
                    "queue {queue:?}: {what} {v} is over the largest value PostgreSQL stores \
                     ({})",
                    i32::MAX
                ))
            })
        })
        .transpose()
}

/// A queue definition as the row's column values, in the order of `INSERT_QUEUE` (`$2`–`$12`).
struct QueueColumns {
    concurrency: Option<i32>,
    worker_concurrency: Option<i32>,
    rate_max: Option<i32>,
    rate_period: Option<f64>,
    partition_concurrency: Option<i32>,
    partition_worker_concurrency: Option<i32>,
    partition_rate_max: Option<i32>,
    partition_rate_period: Option<f64>,
    polling_interval: f64,
    partitioned: bool,
    application_name: Option<String>,
}

impl QueueColumns {
    fn of(queue: &QueueDefinition) -> Result<QueueColumns> {
        let name = queue.name.as_str();
        let l = &queue.limits;
        Ok(QueueColumns {
            concurrency: int4("concurrency", name, l.concurrency)?,
            worker_concurrency: int4("worker concurrency", name, l.worker_concurrency)?,
            rate_max: int4("rate limit", name, l.rate_limit.map(|r| r.max))?,
            rate_period: l.rate_limit.map(|r| r.period.as_secs_f64()),
            partition_concurrency: int4("partition concurrency", name, l.partition_concurrency)?,
            partition_worker_concurrency: int4(
                "partition worker concurrency",
                name,
                l.partition_worker_concurrency,
            )?,
            partition_rate_max: int4(
                "partition rate limit",
                name,
                l.partition_rate_limit.map(|r| r.max),
            )?,
            partition_rate_period: l.partition_rate_limit.map(|r| r.period.as_secs_f64()),
            polling_interval: queue.polling_interval.as_secs_f64(),
            partitioned: queue.partition_queue_column(),
            application_name: queue.application_name.clone(),
        })
    }

    /// The parameters of `INSERT_QUEUE` / `UPDATE_QUEUE`, after the name.
    fn params<'a>(&'a self, name: &'a String) -> [&'a (dyn ToSql + Sync); 12] {
        [
            name,
            &self.concurrency,
            &self.worker_concurrency,
            &self.rate_max,
            &self.rate_period,
            &self.partition_concurrency,
            &self.partition_worker_concurrency,
            &self.partition_rate_max,
            &self.partition_rate_period,
            &self.polling_interval,
            &self.partitioned,
            &self.application_name,
        ]
    }
}

/// A stored limit; a negative value (which no DBOS SDK writes) reads as "no limit".
fn limit_of(name: &str, what: &str, value: Option<i32>) -> Option<u32> {
    let value = value?;
    match u32::try_from(value) {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(queue = name, what, value, "ignoring a negative queue limit");
            None
        }
    }
}

/// A stored rate limit: both columns set and a usable period, else none.
fn rate_of(name: &str, max: Option<i32>, period_sec: Option<f64>) -> Option<RateLimit> {
    let max = limit_of(name, "rate limit", max)?;
    let period = Duration::try_from_secs_f64(period_sec?).ok()?;
    Some(RateLimit::new(max, period))
}

/// Reads a `QueueDefinition` from a row of `queue_columns!()`.
fn read_queue(row: &Row) -> Result<QueueDefinition> {
    let name: String = col(row, 0)?;
    let mut limits = QueueLimits::new();
    limits.concurrency = limit_of(&name, "concurrency", col(row, 1)?);
    limits.worker_concurrency = limit_of(&name, "worker concurrency", col(row, 2)?);
    limits.rate_limit = rate_of(&name, col(row, 3)?, col(row, 4)?);
    limits.partition_concurrency = limit_of(&name, "partition concurrency", col(row, 5)?);
    limits.partition_worker_concurrency =
        limit_of(&name, "partition worker concurrency", col(row, 6)?);
    limits.partition_rate_limit = rate_of(&name, col(row, 7)?, col(row, 8)?);
    let polling: f64 = col(row, 9)?;
    let mut queue = QueueDefinition::new(name)
        .limits(limits)
        .polling_interval(Duration::try_from_secs_f64(polling).unwrap_or(Duration::from_secs(1)));
    queue.application_name = col(row, 10)?;
    queue.priority_enabled = col(row, 11)?;
    queue.partition_queue = col(row, 12)?;
    Ok(queue)
}

/// Applies a partial update to a definition.
fn apply_update(queue: &mut QueueDefinition, update: QueueUpdate) {
    let l = &mut queue.limits;
    if let Some(v) = update.concurrency {
        l.concurrency = v;
    }
    if let Some(v) = update.worker_concurrency {
        l.worker_concurrency = v;
    }
    if let Some(v) = update.rate_limit {
        l.rate_limit = v;
    }
    if let Some(v) = update.partition_concurrency {
        l.partition_concurrency = v;
    }
    if let Some(v) = update.partition_worker_concurrency {
        l.partition_worker_concurrency = v;
    }
    if let Some(v) = update.partition_rate_limit {
        l.partition_rate_limit = v;
    }
    if let Some(v) = update.polling_interval {
        queue.polling_interval = v;
    }
}

/// Runs `statement` (whose `$1` is a `text[]` of ids, followed by `extra`, and which returns the
/// ids it changed) over `ids` in chunks; returns the changed ids in the order of `ids`.
async fn update_ids(
    tx: &Transaction<'_>,
    statement: &str,
    ids: &[String],
    extra: &[&(dyn ToSql + Sync)],
) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let ids: Vec<String> = ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    let mut changed = HashSet::new();
    let statement = tx.prepare(statement).await.map_err(classify)?;
    for chunk in ids.chunks(ID_CHUNK) {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&chunk];
        params.extend_from_slice(extra);
        for row in tx.query(&statement, &params).await.map_err(classify)? {
            changed.insert(col::<String>(&row, 0)?);
        }
    }
    Ok(ids.into_iter().filter(|id| changed.contains(id)).collect())
}

impl PostgresStore {
    /// Inserts one chunk of a batch enqueue (validated, ids distinct) in one statement.
    async fn enqueue_chunk(&self, chunk: &[&NewWorkflow]) -> Result<Vec<String>> {
        let columns = EnqueueColumns::of(chunk)?;
        let client = self.client().await?;
        let rows = match client
            .query(self.queries().enqueue_workflows.as_str(), &columns.params())
            .await
        {
            Ok(rows) => rows,
            Err(e) if is_unique_violation(&e) && constraint(&e) == Some(DEDUP_INDEX) => {
                return Err(batch_deduplicated(&e, &columns.ids[0], chunk.len()));
            }
            Err(e) => return Err(classify(e)),
        };
        let inserted: HashSet<String> = rows
            .iter()
            .map(|r| col::<String>(r, 0))
            .collect::<Result<_>>()?;
        Ok(columns
            .ids
            .into_iter()
            .filter(|id| inserted.contains(id))
            .collect())
    }
}

/// Moves the release time of a `DELAYED` workflow on `client` (a connection or a
/// transaction); returns whether it was one.
pub(super) async fn set_workflow_delay_on<C: tokio_postgres::GenericClient + Sync>(
    client: &C,
    q: &Queries,
    workflow_id: &str,
    until_epoch_ms: EpochMs,
) -> Result<bool> {
    let row = client
        .query_opt(
            q.set_workflow_delay.as_str(),
            &[&workflow_id, &until_epoch_ms],
        )
        .await
        .map_err(classify)?;
    Ok(row.is_some())
}

/// Extends the delayed debounced workflow holding `request`'s key in `tx`, or reports the
/// key's holder.
pub(super) async fn debounce_workflow_tx(
    tx: &Transaction<'_>,
    q: &Queries,
    request: &DebounceRequest,
) -> Result<DebounceOutcome> {
    let serialization = request.inputs.label();
    let extended = tx
        .query_opt(
            q.debounce_workflow.as_str(),
            &[
                &request.workflow_name,
                &request.queue_name,
                &request.deduplication_id,
                &request.delay_until_epoch_ms,
                &serialization,
                &request.application_name,
                &request.inputs.text,
                &request.class_name,
                &request.config_name,
            ],
        )
        .await
        .map_err(classify)?;
    if let Some(row) = extended {
        return Ok(DebounceOutcome::Extended {
            workflow_id: col(&row, 0)?,
        });
    }
    let holder = tx
        .query_opt(
            q.select_dedup_holder.as_str(),
            &[&request.queue_name, &request.deduplication_id],
        )
        .await
        .map_err(classify)?;
    match holder {
        None => Ok(DebounceOutcome::Vacant),
        Some(row) => Ok(DebounceOutcome::HeldBy {
            workflow_id: col(&row, 0)?,
            is_debounced: col(&row, 1)?,
            name: col::<Option<String>>(&row, 2)?.unwrap_or_default(),
            application_name: col(&row, 3)?,
        }),
    }
}

#[async_trait]
impl QueueStore for PostgresStore {
    async fn enqueue_workflows(&self, workflows: Vec<NewWorkflow>) -> Result<Vec<String>> {
        for wf in &workflows {
            wf.validate()?;
            if wf.status == InitialStatus::Pending {
                return Err(Error::invalid_input(format!(
                    "workflow {:?} is PENDING; batch enqueue takes ENQUEUED or DELAYED \
                     workflows (start a workflow directly with insert_workflow)",
                    wf.workflow_id
                )));
            }
        }
        self.ensure_open()?;
        // A repeated id is enqueued once, as its first occurrence.
        let mut seen = HashSet::new();
        let distinct: Vec<&NewWorkflow> = workflows
            .iter()
            .filter(|wf| seen.insert(wf.workflow_id.as_str()))
            .collect();
        let mut inserted = Vec::new();
        for chunk in distinct.chunks(ENQUEUE_BATCH) {
            // Each chunk is one statement and commits on its own.
            inserted.extend(self.enqueue_chunk(chunk).await?);
        }
        Ok(inserted)
    }

    async fn claim_workflows(&self, request: ClaimRequest) -> Result<ClaimOutcome> {
        request.validate()?;
        self.ensure_open()?;
        let limits = request.limits;
        if limits.is_partitioned() && request.partition_key.is_none() {
            if limits.is_single_flight_partitioned() {
                let cap = request
                    .max_tasks
                    .unwrap_or(PARTITIONED_SWEEP_CAP)
                    .min(PARTITIONED_SWEEP_CAP);
                if cap == 0 {
                    return Ok(ClaimOutcome::default());
                }
                return self
                    .write_at(Isolation::ReadCommitted, move |tx, q| {
                        Box::pin(async move { claim_heads_in(tx, &q, &request, cap).await })
                    })
                    .await;
            }
            return Err(Error::invalid_input(format!(
                "queue {:?} is partitioned: list its partitions with queue_partitions and claim \
                 each one with its partition key",
                request.queue_name
            )));
        }
        // The limits counted by the caller come first and need no database.
        let mut budget = request.max_tasks.map(u64::from);
        if let Some(limit) = limits.worker_concurrency {
            match room(
                limit,
                i64::from(request.local_running),
                StopReason::WorkerConcurrency,
            ) {
                Ok(left) => budget = cap(budget, left),
                Err(reason) => return Ok(ClaimOutcome::new(Vec::new(), Some(reason))),
            }
        }
        if let (Some(limit), Some(_)) = (
            limits.partition_worker_concurrency,
            request.partition_key.as_ref(),
        ) {
            match room(
                limit,
                i64::from(request.partition_local_running),
                StopReason::PartitionWorkerConcurrency,
            ) {
                Ok(left) => budget = cap(budget, left),
                Err(reason) => return Ok(ClaimOutcome::new(Vec::new(), Some(reason))),
            }
        }
        let shared = limits.has_shared_budget();
        let partitioned = request.partition_key.is_some();
        if !shared && budget.is_some_and(|b| b <= ID_CHUNK as u64) {
            // READ COMMITTED, no count to keep consistent, one statement: autocommit is the
            // claim's transaction, in a single round trip.
            if budget == Some(0) {
                return Ok(ClaimOutcome::default());
            }
            let client = self.client().await?;
            let statement = claim_statement(self.queries(), false, partitioned);
            let claimed = claim_rows(Exec::Cached(&client), statement, &request, budget).await?;
            return Ok(ClaimOutcome::new(claimed, None));
        }
        let isolation = claim_isolation(&limits, partitioned);
        self.write_at(isolation, move |tx, q| {
            Box::pin(async move {
                if shared {
                    match shared_budget(tx, &q, &request, budget).await? {
                        Ok(left) => budget = left,
                        Err(reason) => return Ok(ClaimOutcome::new(Vec::new(), Some(reason))),
                    }
                }
                let statement = claim_statement(&q, shared, partitioned);
                let claimed = claim_rows(Exec::Tx(tx), statement, &request, budget).await?;
                Ok(ClaimOutcome::new(claimed, None))
            })
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
        let client = self.client().await?;
        let rows = client
            .query(
                self.queries().select_queue_partitions.as_str(),
                &[&queue_name, &application_name],
            )
            .await
            .map_err(classify)?;
        let mut keys = rows
            .iter()
            .map(|r| col::<String>(r, 0))
            .collect::<Result<Vec<_>>>()?;
        // Byte order, whatever the database's collation.
        keys.sort();
        Ok(keys)
    }

    async fn release_delayed_workflows(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        if let Some(app) = application_name {
            validate::filter("application name", app)?;
        }
        let client = self.client().await?;
        let rows = client
            .query(
                self.queries().release_delayed.as_str(),
                &[&application_name],
            )
            .await
            .map_err(classify)?;
        rows.iter().map(|r| col(r, 0)).collect()
    }

    async fn set_workflow_delay(&self, workflow_id: &str, until_epoch_ms: EpochMs) -> Result<bool> {
        validate::workflow_id(workflow_id)?;
        let client = self.client().await?;
        set_workflow_delay_on(&**client, self.queries(), workflow_id, until_epoch_ms).await
    }

    async fn debounce_workflow(&self, request: DebounceRequest) -> Result<DebounceOutcome> {
        request.validate()?;
        self.write(move |tx, q| {
            Box::pin(async move { debounce_workflow_tx(tx, &q, &request).await })
        })
        .await
    }

    async fn deduplicated_workflow(
        &self,
        queue_name: &str,
        deduplication_id: &str,
    ) -> Result<Option<String>> {
        validate::filter("queue name", queue_name)?;
        validate::filter("deduplication id", deduplication_id)?;
        let client = self.client().await?;
        let row = client
            .query_opt(
                self.queries().select_dedup_holder.as_str(),
                &[&queue_name, &deduplication_id],
            )
            .await
            .map_err(classify)?;
        row.map(|r| col(&r, 0)).transpose()
    }

    async fn cancel_timed_out_workflows(
        &self,
        limit: u32,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        if limit == 0 {
            self.ensure_open()?;
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                self.queries().cancel_timed_out.as_str(),
                &[&i64::from(limit), &application_name],
            )
            .await
            .map_err(classify)?;
        drop(client);
        let mut cancelled = rows
            .iter()
            .map(|r| Ok((col::<Option<i64>>(r, 1)?, col::<String>(r, 0)?)))
            .collect::<Result<Vec<_>>>()?;
        cancelled.sort();
        if !cancelled.is_empty() {
            self.wake().notify();
        }
        Ok(cancelled.into_iter().map(|(_, id)| id).collect())
    }

    async fn pending_workflows(
        &self,
        executor_id: &str,
        application_version: Option<&str>,
        application_name: Option<&str>,
    ) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query_cached(
                self.queries().select_pending_workflows.as_str(),
                &[],
                &[&executor_id, &application_version, &application_name],
            )
            .await
            .map_err(classify)?;
        rows.iter().map(|r| col(r, 0)).collect()
    }

    async fn reenqueue_for_recovery(
        &self,
        workflow_ids: &[String],
        dead_executor_ids: &[String],
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() || dead_executor_ids.is_empty() {
            self.ensure_open()?;
            return Ok(Vec::new());
        }
        if workflow_ids.len() <= ID_CHUNK {
            // One statement: autocommit is its transaction, with the cached statement.
            let mut seen = HashSet::new();
            let ids: Vec<&str> = workflow_ids
                .iter()
                .map(String::as_str)
                .filter(|id| seen.insert(*id))
                .collect();
            let client = self.client().await?;
            let rows = client
                .query_cached(
                    self.queries().reenqueue_for_recovery.as_str(),
                    &[],
                    &[&ids, &dead_executor_ids, &INTERNAL_QUEUE],
                )
                .await
                .map_err(classify)?;
            let changed: HashSet<String> = rows
                .iter()
                .map(|r| col::<String>(r, 0))
                .collect::<Result<_>>()?;
            return Ok(ids
                .into_iter()
                .filter(|id| changed.contains(*id))
                .map(str::to_owned)
                .collect());
        }
        let ids = workflow_ids.to_vec();
        let dead = dead_executor_ids.to_vec();
        self.write(move |tx, q| {
            Box::pin(async move {
                update_ids(
                    tx,
                    &q.reenqueue_for_recovery,
                    &ids,
                    &[&dead, &INTERNAL_QUEUE],
                )
                .await
            })
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
            self.ensure_open()?;
            return Ok(Vec::new());
        }
        let ids = workflow_ids.to_vec();
        let changed = self
            .write(move |tx, q| {
                Box::pin(async move {
                    update_ids(
                        tx,
                        &q.dead_letter_workflows,
                        &ids,
                        &[&min_recovery_attempts],
                    )
                    .await
                })
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
        let columns = QueueColumns::of(&queue)?;
        self.write(move |tx, q| {
            Box::pin(async move {
                let name = &queue.name;
                let params = columns.params(name);
                // At most twice: a concurrent registration of the name commits between the
                // probe and the insert, and the second probe sees it.
                for _ in 0..2 {
                    let existing = tx
                        .query_opt(q.lock_queue.as_str(), &[name])
                        .await
                        .map_err(classify)?;
                    if let Some(row) = existing {
                        let owner: Option<String> = col(&row, 0)?;
                        if let (Some(owner), Some(caller)) = (&owner, &queue.application_name) {
                            if owner != caller {
                                return Err(queue_taken(name, owner));
                            }
                        }
                        if policy == QueueConflictPolicy::Update {
                            tx.query_one(q.update_queue.as_str(), &params)
                                .await
                                .map_err(classify)?;
                        }
                        return Ok(false);
                    }
                    let created = tx
                        .query_opt(q.insert_queue.as_str(), &params)
                        .await
                        .map_err(classify)?;
                    if created.is_some() {
                        return Ok(true);
                    }
                }
                Err(Error::new(
                    ErrorKind::Contention,
                    format!("queue {name:?} is being registered and removed concurrently; retry"),
                )
                .with_backend(BACKEND))
            })
        })
        .await
    }

    /// Lease rows of the registry ([`dbos_storage_core::management::Lease`]) are not queues:
    /// they are never returned.
    async fn get_queue(&self, name: &str) -> Result<Option<QueueDefinition>> {
        validate::filter("queue name", name)?;
        let client = self.client().await?;
        let row = client
            .query_opt(self.queries().select_queue.as_str(), &[&name])
            .await
            .map_err(classify)?;
        let queue = row.as_ref().map(read_queue).transpose()?;
        Ok(queue.filter(|queue| !is_lease(queue)))
    }

    /// Never lists lease rows, whatever the scope.
    async fn list_queues(&self, application_name: Option<&str>) -> Result<Vec<QueueDefinition>> {
        if let Some(app) = application_name {
            validate::filter("application name", app)?;
        }
        let client = self.client().await?;
        let rows = client
            .query(self.queries().list_queues.as_str(), &[&application_name])
            .await
            .map_err(classify)?;
        let queues = rows.iter().map(read_queue).collect::<Result<Vec<_>>>()?;
        Ok(queues
            .into_iter()
            .filter(|queue| !is_lease(queue))
            .collect())
    }

    /// A lease row is not a queue: updating one fails with `NotFound`.
    async fn update_queue(&self, name: &str, update: QueueUpdate) -> Result<QueueDefinition> {
        validate::filter("queue name", name)?;
        if is_lease_row(name) {
            return Err(not_registered(name));
        }
        let name = name.to_owned();
        self.write(move |tx, q| {
            Box::pin(async move {
                let row = tx
                    .query_opt(q.lock_queue_definition.as_str(), &[&name])
                    .await
                    .map_err(classify)?
                    .ok_or_else(|| not_registered(&name))?;
                let mut queue = read_queue(&row)?;
                queue.keep_explicit_partition_mark();
                apply_update(&mut queue, update);
                let columns = QueueColumns::of(&queue)?;
                let row = tx
                    .query_one(q.update_queue.as_str(), &columns.params(&queue.name))
                    .await
                    .map_err(classify)?;
                read_queue(&row)
            })
        })
        .await
    }

    /// A lease row is not a queue: deleting one deletes nothing.
    async fn delete_queue(&self, name: &str) -> Result<bool> {
        validate::filter("queue name", name)?;
        if is_lease_row(name) {
            self.ensure_open()?;
            return Ok(false);
        }
        let client = self.client().await?;
        let row = client
            .query_opt(self.queries().delete_queue.as_str(), &[&name])
            .await
            .map_err(classify)?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::LifecycleStore as _;

    #[tokio::test]
    async fn claims_and_recovery_find_rows_by_primary_key_without_statistics() {
        use crate::store::plan_check::{assert_found_by_key, fresh_store};
        use dbos_storage_core::LifecycleStore;

        let store = fresh_store("queue_plans").await;
        // A never-analyzed schema with a backlog: 15,000 enqueued and 5,000 running workflows
        // (written in bulk: the plans, not the inserts, are under test).
        store
            .client()
            .await
            .unwrap()
            .batch_execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name,
                     application_version, executor_id)
                 SELECT 'w' || g, CASE WHEN g <= 15000 THEN 'ENQUEUED' ELSE 'PENDING' END, 'f',
                     CASE WHEN g <= 15000 THEN 'q' END, 'v1', 'executor'
                 FROM generate_series(1, 20000) g",
            )
            .await
            .unwrap();
        let q = store.queries();
        let by_id = [
            (
                q.claim_skip_locked.as_str(),
                "'q', 'v1', NULL, 8, 'token', 'executor', false",
            ),
            (
                q.claim_partition_heads.as_str(),
                "ARRAY['w1'], 'token', 'executor', 'v1', NULL, 'q'",
            ),
            (q.cancel_timed_out.as_str(), "8, NULL"),
            (
                q.reenqueue_for_recovery.as_str(),
                "ARRAY['w15001'], ARRAY['executor'], 'q'",
            ),
            (q.dead_letter_workflows.as_str(), "ARRAY['w15001'], 5"),
        ];
        assert_found_by_key(&store, &by_id, "workflow_status_pkey").await;
        store.close().await.unwrap();
    }

    /// A never-analyzed schema (autovacuum off, so it stays that way) holding a backlog:
    /// 20,000 enqueued workflows in queue `big` (two priorities), 12,000 in queue `parts` across
    /// six partitions, 2,000 running workflows of `executor` and 20,000 finished ones. Written in
    /// bulk: the statements that run on it are under test, not the inserts.
    async fn backlog_store(name: &str) -> PostgresStore {
        let store = crate::store::plan_check::fresh_store(name).await;
        store
            .client()
            .await
            .unwrap()
            .batch_execute(
                "ALTER TABLE dbos.workflow_status SET (autovacuum_enabled = false);
                 INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name,
                     priority, application_version, created_at)
                 SELECT 'b' || g, 'ENQUEUED', 'f', 'big', g % 2, 'v1', 1000000 + g
                 FROM generate_series(1, 20000) g;
                 INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name,
                     queue_partition_key, application_version, created_at)
                 SELECT 'p' || g, 'ENQUEUED', 'f', 'parts', 'k' || (g % 6), 'v1', 1000000 + g
                 FROM generate_series(1, 12000) g;
                 INSERT INTO dbos.workflow_status (workflow_uuid, status, name,
                     application_version, executor_id, created_at)
                 SELECT 'r' || g, 'PENDING', 'f', 'v1', 'executor', 1000000 + g
                 FROM generate_series(1, 2000) g;
                 INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name,
                     application_version, created_at, completed_at)
                 SELECT 'd' || g, 'SUCCESS', 'f', 'big', 'v1', g, g
                 FROM generate_series(1, 20000) g;",
            )
            .await
            .unwrap();
        store
    }

    /// Asserts that every `(statement, args)` reads at most a small multiple of the rows it
    /// returns (`per_row` each, plus `slack`), with custom and generic plans, and is not
    /// JIT-compiled (the store's sessions turn JIT off: without statistics, the estimates of a
    /// batch enqueue pass `jit_above_cost`).
    async fn assert_reads_what_it_returns(
        store: &PostgresStore,
        statements: &[(&str, &str, u64)],
        per_row: u64,
        slack: u64,
    ) {
        use crate::store::plan_check::rows_read;
        for (statement, args, expected) in statements {
            for (counted, plan) in rows_read(store, statement, args).await {
                assert_eq!(counted.returned, *expected, "{statement}\n{plan}");
                assert!(!counted.jit_compiled, "JIT-compiled:\n{statement}\n{plan}");
                assert!(
                    counted.read <= per_row * counted.returned + slack,
                    "read {} rows of workflow_status to return {}:\n{statement}\n{plan}",
                    counted.read,
                    counted.returned
                );
            }
        }
    }

    #[tokio::test]
    async fn claims_read_the_rows_they_claim_not_the_backlog() {
        let store = backlog_store("claim_rows_read").await;
        let q = store.queries();
        let claims = [
            (
                q.claim_skip_locked.as_str(),
                "'big', 'v1', NULL, 8, 'token', 'executor', false",
                8,
            ),
            (
                q.claim_head_window.as_str(),
                "'big', 'v1', NULL, 8, 'token', 'executor', true",
                8,
            ),
            (
                q.claim_partition_skip_locked.as_str(),
                "'parts', 'v1', NULL, 8, 'token', 'executor', false, 'k3'",
                8,
            ),
            (
                q.claim_partition_head_window.as_str(),
                "'parts', 'v1', NULL, 8, 'token', 'executor', true, 'k3'",
                8,
            ),
        ];
        // Never analyzed: the planner believes the queue is nearly empty.
        assert_reads_what_it_returns(&store, &claims, 4, 64).await;
        store
            .client()
            .await
            .unwrap()
            .batch_execute("ANALYZE dbos.workflow_status")
            .await
            .unwrap();
        assert_reads_what_it_returns(&store, &claims, 4, 64).await;
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn outcome_recovery_and_enqueue_read_what_they_write() {
        let store = backlog_store("write_rows_read").await;
        let q = store.queries();
        // A batch of 100 enqueued into `big` and `parts` (two partitions), as arrays.
        let n = 100;
        let list = |f: &dyn Fn(usize) -> String| {
            let items: Vec<String> = (0..n).map(f).collect();
            format!("'{{{}}}'", items.join(","))
        };
        let nulls = list(&|_| "NULL".into());
        let enqueue_args = [
            list(&|i| format!("new{i}")),
            list(&|_| "ENQUEUED".into()),
            list(&|_| "f".into()),
            nulls.clone(),
            nulls.clone(),
            list(&|i| {
                if i % 2 == 0 {
                    "big".into()
                } else {
                    "parts".into()
                }
            }),
            nulls.clone(),
            list(&|_| "0".into()),
            list(&|i| {
                if i % 2 == 0 {
                    "NULL".into()
                } else {
                    format!("k{}", i % 4)
                }
            }),
            nulls.clone(),
            nulls.clone(),
            nulls.clone(),
            nulls.clone(),
            list(&|_| "v1".into()),
            nulls.clone(),
            nulls.clone(),
            nulls.clone(),
            nulls.clone(),
            nulls.clone(),
            nulls.clone(),
            nulls.clone(),
            nulls.clone(),
            list(&|_| "creator".into()),
            list(&|_| "x".into()),
            list(&|_| "false".into()),
            nulls.clone(),
            nulls.clone(),
            nulls,
        ]
        .join(", ");
        let statements = [
            (
                q.record_outcome.as_str(),
                "'r7', 'SUCCESS', '1', NULL, NULL",
                1,
            ),
            (
                q.reenqueue_for_recovery.as_str(),
                "ARRAY['r1', 'r2', 'r3'], ARRAY['executor'], 'q'",
                3,
            ),
            (
                q.enqueue_workflows.as_str(),
                enqueue_args.as_str(),
                n as u64,
            ),
        ];
        // Each written row is read a few times (found by key, re-checked, its queue's newest
        // row looked up once per queue).
        assert_reads_what_it_returns(&store, &statements, 4, 64).await;
        store
            .client()
            .await
            .unwrap()
            .batch_execute("ANALYZE dbos.workflow_status")
            .await
            .unwrap();
        assert_reads_what_it_returns(&store, &statements, 4, 64).await;
        store.close().await.unwrap();
    }

    #[test]
    fn isolation_follows_the_queue_shape() {
        let none = QueueLimits::new().worker_concurrency(4);
        assert_eq!(claim_isolation(&none, false), Isolation::ReadCommitted);
        let shared = QueueLimits::new().concurrency(2);
        assert_eq!(claim_isolation(&shared, false), Isolation::RepeatableRead);
        let partitioned = QueueLimits::new().partition_concurrency(2);
        assert_eq!(
            claim_isolation(&partitioned, true),
            Isolation::RepeatableRead
        );
        let both = QueueLimits::new().partition_concurrency(2).concurrency(5);
        assert_eq!(claim_isolation(&both, true), Isolation::Serializable);
        let rated = QueueLimits::new()
            .partition_concurrency(2)
            .rate_limit(3, Duration::from_secs(1));
        assert_eq!(claim_isolation(&rated, true), Isolation::Serializable);
        assert_eq!(claim_isolation(&rated, false), Isolation::RepeatableRead);
    }

    #[test]
    fn room_stops_at_zero() {
        assert_eq!(room(3, 1, StopReason::Concurrency), Ok(2));
        assert_eq!(
            room(3, 3, StopReason::Concurrency),
            Err(StopReason::Concurrency)
        );
        assert_eq!(
            room(3, 7, StopReason::RateLimit),
            Err(StopReason::RateLimit)
        );
        assert_eq!(cap(None, 4), Some(4));
        assert_eq!(cap(Some(2), 4), Some(2));
    }

    #[test]
    fn statements_use_the_partial_indexes_predicates() {
        let q = Queries::new("dbos");
        for text in [&q.claim_head_window, &q.claim_partition_head_window] {
            assert!(text.contains("FOR UPDATE SKIP LOCKED"), "{text}");
            assert!(!text.contains("NOWAIT"), "{text}");
        }
        assert!(q.claim_skip_locked.contains("FOR UPDATE SKIP LOCKED"));
        assert!(q
            .claim_partition_skip_locked
            .contains("ws.queue_partition_key = $8"));
        assert!(q.select_partition_heads.contains("WITH RECURSIVE"));
        assert!(q.select_partition_heads.contains("CROSS JOIN LATERAL"));
        assert!(q.claim_partition_heads.contains("SKIP LOCKED"));
        assert!(q.cancel_timed_out.contains("FOR UPDATE SKIP LOCKED"));
        assert!(q.select_claim_budget.contains("rl.rate_limited = true"));
        for text in [&q.claim_skip_locked, &q.claim_partition_heads] {
            assert!(text.contains("ws.status = 'ENQUEUED'"), "{text}");
            assert!(text.contains("RETURNING ws.workflow_uuid"), "{text}");
        }
    }
}
