//! Queue statements: batch enqueue, claims with their limits, partitions, delays, debounce,
//! deadlines, recovery, dead-letter and the queue registry.
//!
//! Queries over in-flight rows repeat the partial-index predicate `status IN ('ENQUEUED',
//! 'PENDING')` next to their own status test: SQLite uses a partial index only when the query's
//! `WHERE` literally contains the index's `WHERE` terms.

/// The application scope: the caller's rows plus unclaimed rows; every row when
/// `:application_name` is NULL (the caller has no application).
macro_rules! app_scope {
    ($alias:literal) => {
        concat!(
            "(:application_name IS NULL OR ",
            $alias,
            "application_name = :application_name OR ",
            $alias,
            "application_name IS NULL)"
        )
    };
}

/// The version rule of a claim: the executor's version, or no version when `:null_version` (the
/// executor runs the latest registered version).
macro_rules! version_rule {
    ($alias:literal) => {
        concat!(
            "(",
            $alias,
            "application_version = :application_version OR (",
            $alias,
            "application_version IS NULL AND :null_version))"
        )
    };
}

// ---------------------------------------------------------------------------------------------
// Batch enqueue
// ---------------------------------------------------------------------------------------------

/// The newest `created_at` among the rows of queue `?1` with status `$status`, in any
/// partition. `idx_workflow_status_in_flight_v2` orders a queue's rows by priority before
/// creation time (the repeated `status IN` lets SQLite use that partial index), so a loose index
/// scan walks the distinct priorities and reads the newest row of each: a few index probes,
/// where `max(created_at)` would read the queue's whole backlog.
macro_rules! newest_created {
    ($status:literal) => {
        concat!(
            "SELECT (WITH RECURSIVE prios(p) AS (
        SELECT min(priority) FROM workflow_status WHERE queue_name = ?1 AND status = '",
            $status,
            "'
            AND status IN ('ENQUEUED', 'PENDING')
        UNION ALL
        SELECT (SELECT min(s.priority) FROM workflow_status s
                WHERE s.queue_name = ?1 AND s.status = '",
            $status,
            "'
                  AND s.status IN ('ENQUEUED', 'PENDING') AND s.priority > prios.p)
        FROM prios WHERE prios.p IS NOT NULL)
    SELECT max((SELECT max(s.created_at) FROM workflow_status s
                WHERE s.queue_name = ?1 AND s.status = '",
            $status,
            "'
                  AND s.status IN ('ENQUEUED', 'PENDING') AND s.priority = prios.p))
    FROM prios WHERE prios.p IS NOT NULL) AS newest"
        )
    };
}

// language=SQL
/// The newest `created_at` among the `ENQUEUED`/`PENDING` rows of queue `?1`, in any partition:
/// where a batch's strictly increasing `created_at` starts. NULL when the queue has none.
pub(crate) const MAX_IN_FLIGHT_CREATED_AT: &str = concat!(
    "SELECT max(newest) FROM (",
    newest_created!("ENQUEUED"),
    "
UNION ALL ",
    newest_created!("PENDING"),
    ")"
);

// language=SQL
/// Inserts one workflow of a batch; an existing id is skipped (no row returned), a held
/// deduplication id fails with a uniqueness violation. Named parameters as
/// [`super::INSERT_WORKFLOW`].
pub(crate) const ENQUEUE_WORKFLOW: &str = "\
INSERT INTO workflow_status (
    workflow_uuid, status, name, class_name, config_name, queue_name, deduplication_id,
    priority, queue_partition_key, authenticated_user, assumed_role, authenticated_roles,
    executor_id, application_version, application_id, application_name, created_at,
    updated_at, recovery_attempts, workflow_timeout_ms, workflow_deadline_epoch_ms,
    delay_until_epoch_ms, parent_workflow_id, forked_from, serialization, attributes, owner_xid,
    creator_xid, is_debounced, debounce_deadline_epoch_ms, schedule_name)
VALUES (
    :workflow_uuid, :status, :name, :class_name, :config_name, :queue_name, :deduplication_id,
    :priority, :queue_partition_key, :authenticated_user, :assumed_role, :authenticated_roles,
    :executor_id, :application_version, :application_id, :application_name, :created_at,
    :created_at, :recovery_attempts, :workflow_timeout_ms, :workflow_deadline_epoch_ms,
    :delay_until_epoch_ms, :parent_workflow_id, :forked_from, :serialization, :attributes,
    :owner_xid, :creator_xid, :is_debounced, :debounce_deadline_epoch_ms, :schedule_name)
ON CONFLICT (workflow_uuid) DO NOTHING
RETURNING workflow_uuid";

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Rows of a queue counted by its rate limiter in the current window (`:queue_name`,
/// `:since` = now − period, `:application_name`).
pub(crate) const COUNT_RATE_LIMITED: &str = concat!(
    "SELECT count(*) FROM workflow_status \
     WHERE queue_name = :queue_name AND rate_limited = TRUE \
       AND status NOT IN ('ENQUEUED', 'DELAYED') AND started_at_epoch_ms > :since AND ",
    app_scope!("")
);

// language=SQL
/// [`COUNT_RATE_LIMITED`] within one partition (`:partition_key`).
pub(crate) const COUNT_RATE_LIMITED_IN_PARTITION: &str = concat!(
    "SELECT count(*) FROM workflow_status \
     WHERE queue_name = :queue_name AND rate_limited = TRUE \
       AND status NOT IN ('ENQUEUED', 'DELAYED') AND started_at_epoch_ms > :since \
       AND queue_partition_key = :partition_key AND ",
    app_scope!("")
);

// language=SQL
/// The `PENDING` rows of a queue, of every application: concurrency is a limit on the queue
/// (`?1` queue).
pub(crate) const COUNT_PENDING: &str = "\
SELECT count(*) FROM workflow_status
WHERE queue_name = ?1 AND status = 'PENDING' AND status IN ('ENQUEUED', 'PENDING')";

// language=SQL
/// [`COUNT_PENDING`] within one partition (`?2` partition key).
pub(crate) const COUNT_PENDING_IN_PARTITION: &str = "\
SELECT count(*) FROM workflow_status
WHERE queue_name = ?1 AND status = 'PENDING' AND status IN ('ENQUEUED', 'PENDING')
  AND queue_partition_key = ?2";

/// The head of the claim selection: eligible `ENQUEUED` rows of `:queue_name`.
macro_rules! claim_candidates {
    () => {
        concat!(
            "SELECT workflow_uuid FROM workflow_status \
             WHERE queue_name = :queue_name AND status = 'ENQUEUED' \
               AND status IN ('ENQUEUED', 'PENDING') AND ",
            version_rule!(""),
            " AND ",
            app_scope!("")
        )
    };
}

/// The order and cap of the claim selection (`:limit` −1 = no cap).
macro_rules! claim_order {
    () => {
        " ORDER BY priority ASC, created_at ASC, workflow_uuid ASC LIMIT :limit"
    };
}

// language=SQL
/// The rows a claim takes, in dequeue order: `ENQUEUED` rows of the queue at the executor's
/// version (or version-less, `:null_version`), of its application or unclaimed. Named
/// parameters `:queue_name`, `:application_version`, `:null_version`, `:application_name`,
/// `:limit`.
pub(crate) const CLAIM_CANDIDATES: &str = concat!(claim_candidates!(), claim_order!());

// language=SQL
/// [`CLAIM_CANDIDATES`] within one partition (`:partition_key`).
pub(crate) const CLAIM_CANDIDATES_IN_PARTITION: &str = concat!(
    claim_candidates!(),
    " AND queue_partition_key = :partition_key",
    claim_order!()
);

// language=SQL
/// The partitioned fast path (a queue whose only limit is `partition_concurrency = 1`): a loose
/// index scan walks the partition keys with `ENQUEUED` rows in key order and keeps, up to
/// `:sweep`, the partitions with no `PENDING` row (of any application: it is a mutual-exclusion
/// check); a correlated subquery takes each one's first eligible row by priority, creation time
/// and id. Returns the first `:limit` heads in dequeue order, so that a claim that cannot take
/// every partition takes those whose head waited longest and rotates over the partitions from
/// poll to poll. Named parameters as [`CLAIM_CANDIDATES`].
pub(crate) const CLAIM_PARTITION_HEADS: &str = concat!(
    "WITH RECURSIVE partitions(key) AS ( \
         SELECT min(queue_partition_key) FROM workflow_status \
         WHERE queue_name = :queue_name AND status = 'ENQUEUED' \
           AND status IN ('ENQUEUED', 'PENDING') AND queue_partition_key IS NOT NULL \
         UNION ALL \
         SELECT (SELECT min(queue_partition_key) FROM workflow_status \
                 WHERE queue_name = :queue_name AND status = 'ENQUEUED' \
                   AND status IN ('ENQUEUED', 'PENDING') AND queue_partition_key IS NOT NULL \
                   AND queue_partition_key > partitions.key) \
         FROM partitions WHERE partitions.key IS NOT NULL \
     ), \
     idle(key) AS ( \
         SELECT key FROM partitions \
         WHERE key IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM workflow_status r \
                           WHERE r.queue_name = :queue_name AND r.status = 'PENDING' \
                             AND r.status IN ('ENQUEUED', 'PENDING') \
                             AND r.queue_partition_key IS NOT NULL \
                             AND r.queue_partition_key = partitions.key) \
         LIMIT :sweep \
     ), \
     heads(workflow_uuid) AS ( \
         SELECT (SELECT h.workflow_uuid FROM workflow_status h \
                 WHERE h.queue_name = :queue_name AND h.status = 'ENQUEUED' \
                   AND h.status IN ('ENQUEUED', 'PENDING') AND h.queue_partition_key IS NOT NULL \
                   AND h.queue_partition_key = idle.key AND ",
    version_rule!("h."),
    " AND ",
    app_scope!("h."),
    " ORDER BY h.priority ASC, h.created_at ASC, h.workflow_uuid ASC LIMIT 1) \
         FROM idle \
     ) \
     SELECT w.workflow_uuid FROM heads JOIN workflow_status w ON w.workflow_uuid = heads.workflow_uuid \
     ORDER BY w.priority ASC, w.created_at ASC, w.workflow_uuid ASC \
     LIMIT :limit"
);

// language=SQL
/// Flips selected rows (`:ids`, a JSON array) from `ENQUEUED` to `PENDING` for the claimer. The
/// status guard is what makes a double claim impossible; `RETURNING` reports the rows this claim
/// took. The deadline becomes `now + timeout` (clamped to the largest integer) unless one is set.
pub(crate) const CLAIM_WORKFLOWS: &str = concat!(
    "UPDATE workflow_status \
     SET status = 'PENDING', owner_xid = :owner_xid, executor_id = :executor_id, \
         application_version = :application_version, \
         application_name = COALESCE(:application_name, application_name), \
         started_at_epoch_ms = :now, rate_limited = :rate_limited, \
         recovery_attempts = COALESCE(recovery_attempts, 0) + 1, updated_at = :now, \
         workflow_deadline_epoch_ms = COALESCE(workflow_deadline_epoch_ms, \
             CASE WHEN workflow_timeout_ms IS NOT NULL \
                  THEN :now + min(workflow_timeout_ms, 9223372036854775807 - :now) END) \
     WHERE workflow_uuid IN (SELECT value FROM json_each(:ids)) AND status = 'ENQUEUED' AND ",
    app_scope!(""),
    " RETURNING workflow_uuid"
);

// language=SQL
/// The partition keys with `ENQUEUED` rows of a queue (own application plus unclaimed), in key
/// order, by a loose index scan. Named parameters `:queue_name`, `:application_name`.
pub(crate) const QUEUE_PARTITIONS: &str = concat!(
    "WITH RECURSIVE partitions(key) AS ( \
         SELECT min(queue_partition_key) FROM workflow_status \
         WHERE queue_name = :queue_name AND status = 'ENQUEUED' \
           AND status IN ('ENQUEUED', 'PENDING') AND queue_partition_key IS NOT NULL AND ",
    app_scope!(""),
    " UNION ALL \
         SELECT (SELECT min(queue_partition_key) FROM workflow_status \
                 WHERE queue_name = :queue_name AND status = 'ENQUEUED' \
                   AND status IN ('ENQUEUED', 'PENDING') AND queue_partition_key IS NOT NULL \
                   AND queue_partition_key > partitions.key AND ",
    app_scope!(""),
    ") FROM partitions WHERE partitions.key IS NOT NULL \
     ) \
     SELECT key FROM partitions WHERE key IS NOT NULL"
);

// ---------------------------------------------------------------------------------------------
// Delays and debounce
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Releases every `DELAYED` row whose time has come (`:now`), of application
/// `:application_name` or unclaimed (NULL = every application): it becomes `ENQUEUED`, and a
/// debounced one gives up its deduplication id. `updated_at` is left alone, as DBOS does.
/// Writers are serialized (`BEGIN IMMEDIATE`), so concurrent sweeps release each row once.
pub(crate) const RELEASE_DELAYED: &str = concat!(
    "UPDATE workflow_status \
     SET status = 'ENQUEUED', \
         deduplication_id = CASE WHEN is_debounced THEN NULL ELSE deduplication_id END \
     WHERE status = 'DELAYED' AND delay_until_epoch_ms <= :now AND ",
    app_scope!(""),
    " RETURNING workflow_uuid, delay_until_epoch_ms"
);

// language=SQL
/// Sets the release time of a `DELAYED` row (`?1` id, `?2` release time, `?3` now).
pub(crate) const SET_DELAY: &str = "\
UPDATE workflow_status SET delay_until_epoch_ms = ?2, updated_at = ?3
WHERE workflow_uuid = ?1 AND status = 'DELAYED'";

// language=SQL
/// Pushes back the delayed, debounced row holding a key: its release time becomes the smaller
/// of `:until` and its debounce deadline, its label follows the new inputs, and the caller's
/// application claims it if unclaimed (an owned row keeps its owner, as DBOS's
/// `COALESCE(application_name, caller)`). Named parameters `:name`, `:queue_name`, `:deduplication_id`,
/// `:until`, `:serialization`, `:now`, `:application_name`; `:class_name` and `:config_name`,
/// when not NULL, must match the row's.
pub(crate) const DEBOUNCE_WORKFLOW: &str = concat!(
    "UPDATE workflow_status \
     SET delay_until_epoch_ms = CASE \
             WHEN debounce_deadline_epoch_ms IS NOT NULL AND debounce_deadline_epoch_ms < :until \
             THEN debounce_deadline_epoch_ms ELSE :until END, \
         serialization = :serialization, updated_at = :now, \
         application_name = COALESCE(application_name, :application_name) \
     WHERE name = :name AND queue_name = :queue_name AND deduplication_id = :deduplication_id \
       AND status = 'DELAYED' AND is_debounced \
       AND (:class_name IS NULL OR class_name = :class_name) \
       AND (:config_name IS NULL OR config_name = :config_name) AND ",
    app_scope!(""),
    " RETURNING workflow_uuid"
);

// language=SQL
/// Replaces a workflow's inputs (`?1` id, `?2` inputs, `?3` now).
pub(crate) const UPSERT_WORKFLOW_INPUT: &str = "\
INSERT INTO workflow_input (workflow_uuid, inputs, retention_timestamp) VALUES (?1, ?2, ?3)
ON CONFLICT (workflow_uuid) DO UPDATE
SET inputs = excluded.inputs, retention_timestamp = excluded.retention_timestamp";

// language=SQL
/// The row holding a deduplication id in a queue (`?1` queue, `?2` deduplication id): its id,
/// whether it is debounced, its name and application, status and label.
pub(crate) const SELECT_DEDUPLICATION_HOLDER: &str = "\
SELECT workflow_uuid, is_debounced, name, application_name, status, serialization
FROM workflow_status WHERE queue_name = ?1 AND deduplication_id = ?2";

// ---------------------------------------------------------------------------------------------
// Deadlines, recovery and dead-letter
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Cancels up to `:limit` active rows whose deadline has passed, oldest deadline first (own
/// application plus unclaimed), as `cancel_workflows` does. Named parameters `:now`, `:limit`,
/// `:application_name`.
pub(crate) const CANCEL_TIMED_OUT: &str = concat!(
    "UPDATE workflow_status \
     SET status = 'CANCELLED', owner_xid = NULL, queue_name = NULL, deduplication_id = NULL, \
         started_at_epoch_ms = NULL, updated_at = :now, completed_at = :now \
     WHERE workflow_uuid IN ( \
         SELECT workflow_uuid FROM workflow_status \
         WHERE status IN ('ENQUEUED', 'PENDING', 'DELAYED') \
           AND workflow_deadline_epoch_ms IS NOT NULL AND workflow_deadline_epoch_ms <= :now \
           AND ",
    app_scope!(""),
    " ORDER BY workflow_deadline_epoch_ms ASC, workflow_uuid ASC LIMIT :limit) \
     RETURNING workflow_uuid, workflow_deadline_epoch_ms"
);

// language=SQL
/// The `PENDING` rows of an executor at a version (`:executor_id`, `:application_version`,
/// NULL matching NULL), own application plus unclaimed, oldest first.
pub(crate) const PENDING_WORKFLOWS: &str = concat!(
    "SELECT workflow_uuid FROM workflow_status \
     WHERE status = 'PENDING' AND executor_id = :executor_id \
       AND application_version IS :application_version AND ",
    app_scope!(""),
    " ORDER BY created_at ASC, workflow_uuid ASC"
);

// language=SQL
/// Re-enqueues `PENDING` rows of dead executors (`?1` JSON array of ids, `?2` JSON array of
/// executor ids, `?3` now) on their queue or the internal queue (`?4`); returns the ids changed.
pub(crate) const REENQUEUE_FOR_RECOVERY: &str = "\
UPDATE workflow_status
SET status = 'ENQUEUED', owner_xid = NULL, started_at_epoch_ms = NULL, updated_at = ?3,
    queue_name = COALESCE(queue_name, ?4)
WHERE workflow_uuid IN (SELECT value FROM json_each(?1)) AND status = 'PENDING'
  AND executor_id IN (SELECT value FROM json_each(?2))
RETURNING workflow_uuid";

// language=SQL
/// Dead-letters `PENDING` rows with at least `?2` recovery attempts (`?1` JSON array of ids, `?3`
/// now); returns the ids changed.
pub(crate) const DEAD_LETTER: &str = "\
UPDATE workflow_status
SET status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', owner_xid = NULL, deduplication_id = NULL,
    started_at_epoch_ms = NULL, queue_name = NULL, updated_at = ?3, completed_at = ?3
WHERE workflow_uuid IN (SELECT value FROM json_each(?1)) AND status = 'PENDING'
  AND COALESCE(recovery_attempts, 0) >= ?2
RETURNING workflow_uuid";

// ---------------------------------------------------------------------------------------------
// Queue registry
// ---------------------------------------------------------------------------------------------

/// The `queues` columns read into a `QueueDefinition`, in the order `read_queue` expects.
macro_rules! queue_columns {
    () => {
        "name, concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec, \
         partition_concurrency, partition_worker_concurrency, partition_rate_limit_max, \
         partition_rate_limit_period_sec, polling_interval_sec, application_name, \
         priority_enabled, partition_queue"
    };
}

// language=SQL
/// A queue by name (`?1`); never a maintenance lease row (`?2` = the lease application).
pub(crate) const SELECT_QUEUE: &str = concat!(
    "SELECT ",
    queue_columns!(),
    " FROM queues WHERE name = ?1 AND application_name IS NOT ?2"
);

// language=SQL
/// The queues of an application plus unclaimed ones, by name (`:application_name`), never the
/// maintenance lease rows (`:lease_application`).
pub(crate) const LIST_QUEUES: &str = concat!(
    "SELECT ",
    queue_columns!(),
    " FROM queues WHERE ",
    app_scope!(""),
    " AND application_name IS NOT :lease_application ORDER BY name"
);

/// The columns and values of a queue row to write.
macro_rules! queue_insert {
    () => {
        "INSERT INTO queues ( \
             name, concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec, \
             priority_enabled, partition_queue, polling_interval_sec, created_at, updated_at, \
             application_name, partition_concurrency, partition_worker_concurrency, \
             partition_rate_limit_max, partition_rate_limit_period_sec) \
         VALUES ( \
             :name, :concurrency, :worker_concurrency, :rate_limit_max, :rate_limit_period_sec, \
             TRUE, :partition_queue, :polling_interval_sec, :now, :now, \
             :application_name, :partition_concurrency, :partition_worker_concurrency, \
             :partition_rate_limit_max, :partition_rate_limit_period_sec)"
    };
}

// language=SQL
/// Registers a queue, replacing the definition of an existing one and keeping its owner
/// (`COALESCE(existing, caller's)`). Named parameters.
pub(crate) const UPSERT_QUEUE: &str = concat!(
    queue_insert!(),
    " ON CONFLICT (name) DO UPDATE SET \
         concurrency = excluded.concurrency, \
         worker_concurrency = excluded.worker_concurrency, \
         rate_limit_max = excluded.rate_limit_max, \
         rate_limit_period_sec = excluded.rate_limit_period_sec, \
         priority_enabled = excluded.priority_enabled, \
         partition_queue = excluded.partition_queue, \
         polling_interval_sec = excluded.polling_interval_sec, \
         updated_at = excluded.updated_at, \
         application_name = COALESCE(queues.application_name, excluded.application_name), \
         partition_concurrency = excluded.partition_concurrency, \
         partition_worker_concurrency = excluded.partition_worker_concurrency, \
         partition_rate_limit_max = excluded.partition_rate_limit_max, \
         partition_rate_limit_period_sec = excluded.partition_rate_limit_period_sec"
);

// language=SQL
/// Registers a queue unless one of that name exists. Named parameters as [`UPSERT_QUEUE`].
pub(crate) const INSERT_QUEUE_IF_ABSENT: &str =
    concat!(queue_insert!(), " ON CONFLICT (name) DO NOTHING");

// language=SQL
/// Rewrites a queue's limits and polling interval (`:name` and the limit columns, `:now`).
pub(crate) const UPDATE_QUEUE: &str = "\
UPDATE queues
SET concurrency = :concurrency, worker_concurrency = :worker_concurrency,
    rate_limit_max = :rate_limit_max, rate_limit_period_sec = :rate_limit_period_sec,
    partition_queue = :partition_queue, polling_interval_sec = :polling_interval_sec,
    priority_enabled = TRUE,
    partition_concurrency = :partition_concurrency,
    partition_worker_concurrency = :partition_worker_concurrency,
    partition_rate_limit_max = :partition_rate_limit_max,
    partition_rate_limit_period_sec = :partition_rate_limit_period_sec,
    updated_at = :now
WHERE name = :name";

// language=SQL
/// Deletes a queue definition (`?1` name), never a maintenance lease row (`?2` = the lease
/// application).
pub(crate) const DELETE_QUEUE: &str =
    "DELETE FROM queues WHERE name = ?1 AND application_name IS NOT ?2";
