//! Every SQL statement of the driver, as named constants grouped by area. Values are always
//! bound as parameters; lists of ids travel as one JSON array parameter read with `json_each`.
//!
//! "Now" is the database clock in epoch milliseconds: `CAST(unixepoch('subsec') * 1000 AS
//! INTEGER)`, read once per transaction with [`NOW_MS`].
//!
//! The queue, application-version, messaging, fork/rewind/delete, retention, export/import,
//! metrics, rename and schedule statements live in the submodules [`queues`], [`versions`],
//! [`messaging`], [`forks`], [`retention`], [`export`], [`metrics`], [`rename`] and
//! [`schedules`] (`src/sql/`); direct recovery and the hand-back to a queue in [`recovery`]; the
//! savepoint of an operation run as a step in [`workflow_steps`].

pub(crate) mod export;
pub(crate) mod forks;
pub(crate) mod messaging;
pub(crate) mod metrics;
pub(crate) mod queues;
pub(crate) mod recovery;
pub(crate) mod rename;
pub(crate) mod retention;
pub(crate) mod schedules;
pub(crate) mod versions;
pub(crate) mod workflow_steps;

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Switches the database file to write-ahead logging; returns the resulting mode.
pub(crate) const PRAGMA_JOURNAL_MODE_WAL: &str = "PRAGMA journal_mode = WAL";

// language=SQL
/// `synchronous = OFF`: never waits for the disk (see `Synchronous`).
pub(crate) const PRAGMA_SYNCHRONOUS_OFF: &str = "PRAGMA synchronous = OFF";

// language=SQL
/// `synchronous = NORMAL`: with WAL, durable against application crashes; fsyncs only at
/// checkpoints.
pub(crate) const PRAGMA_SYNCHRONOUS_NORMAL: &str = "PRAGMA synchronous = NORMAL";

// language=SQL
/// `synchronous = FULL` (the default): every commit fsyncs the write-ahead log.
pub(crate) const PRAGMA_SYNCHRONOUS_FULL: &str = "PRAGMA synchronous = FULL";

// language=SQL
/// `synchronous = EXTRA`: as FULL, plus a directory sync in rollback-journal mode.
pub(crate) const PRAGMA_SYNCHRONOUS_EXTRA: &str = "PRAGMA synchronous = EXTRA";

// language=SQL
/// The DBOS schema's cascades need foreign keys, which SQLite enables per connection.
pub(crate) const PRAGMA_FOREIGN_KEYS_ON: &str = "PRAGMA foreign_keys = ON";

// language=SQL
/// Reader connections refuse writes.
pub(crate) const PRAGMA_QUERY_ONLY_ON: &str = "PRAGMA query_only = ON";

// language=SQL
/// A trivial query proving the database answers.
pub(crate) const SELECT_ONE: &str = "SELECT 1";

// language=SQL
/// The SQLite library version, e.g. `3.50.4`.
pub(crate) const SELECT_SQLITE_VERSION: &str = "SELECT sqlite_version()";

// language=SQL
/// The connection's journal mode (`wal`, `memory`, …).
pub(crate) const PRAGMA_JOURNAL_MODE: &str = "PRAGMA journal_mode";

// language=SQL
/// The connection's `synchronous` level (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA).
pub(crate) const PRAGMA_SYNCHRONOUS: &str = "PRAGMA synchronous";

// language=SQL
/// The connection's busy timeout in milliseconds.
pub(crate) const PRAGMA_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout";

// language=SQL
/// Whether the connection enforces foreign keys (1 or 0).
pub(crate) const PRAGMA_FOREIGN_KEYS: &str = "PRAGMA foreign_keys";

// language=SQL
/// The database clock in epoch milliseconds.
pub(crate) const NOW_MS: &str = "SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER)";

// ---------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Whether a table exists (`?1` = name).
pub(crate) const TABLE_EXISTS: &str =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1";

// language=SQL
/// Whether a column exists (`?1` = table, `?2` = column).
pub(crate) const COLUMN_EXISTS: &str = "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2";

// language=SQL
/// The single-row version table shared by every DBOS SDK.
pub(crate) const CREATE_MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS dbos_migrations (version INTEGER NOT NULL PRIMARY KEY)";

// language=SQL
/// The recorded version and the number of rows holding versions.
pub(crate) const SELECT_MIGRATION_VERSION: &str =
    "SELECT max(version), count(*) FROM dbos_migrations";

// language=SQL
/// The first version write.
pub(crate) const INSERT_MIGRATION_VERSION: &str =
    "INSERT INTO dbos_migrations (version) VALUES (?1)";

// language=SQL
/// Every later version write.
pub(crate) const UPDATE_MIGRATION_VERSION: &str = "UPDATE dbos_migrations SET version = ?1";

// language=SQL
/// Repairs a version table left with several rows.
pub(crate) const DELETE_MIGRATION_VERSIONS: &str = "DELETE FROM dbos_migrations";

// ---------------------------------------------------------------------------------------------
// Workflows
// ---------------------------------------------------------------------------------------------

/// The `workflow_status` columns read into a `WorkflowInfo`, in the order `store::read_workflow`
/// expects (indexes 0..=33).
macro_rules! workflow_columns {
    () => {
        "ws.workflow_uuid, ws.status, ws.name, ws.class_name, ws.config_name, \
         ws.authenticated_user, ws.assumed_role, ws.authenticated_roles, ws.executor_id, \
         ws.created_at, ws.updated_at, ws.application_version, ws.application_id, \
         ws.application_name, ws.recovery_attempts, ws.queue_name, ws.workflow_timeout_ms, \
         ws.workflow_deadline_epoch_ms, ws.started_at_epoch_ms, ws.deduplication_id, \
         ws.priority, ws.queue_partition_key, ws.forked_from, ws.was_forked_from, \
         ws.parent_workflow_id, ws.delay_until_epoch_ms, ws.completed_at, ws.schedule_name, \
         ws.attributes, ws.serialization, ws.owner_xid, ws.rate_limited, ws.is_debounced, \
         ws.debounce_deadline_epoch_ms"
    };
}

/// The joins that bring in the payload tables.
macro_rules! payload_joins {
    () => {
        " FROM workflow_status ws \
         LEFT JOIN workflow_input wi ON wi.workflow_uuid = ws.workflow_uuid \
         LEFT JOIN workflow_output wo ON wo.workflow_uuid = ws.workflow_uuid"
    };
}

// language=SQL
/// Inserts a workflow, or finds the existing row of the same id without changing it (the no-op
/// update makes `RETURNING` yield the existing row). Named parameters (`:created_at` is also
/// the row's `updated_at`).
pub(crate) const INSERT_WORKFLOW: &str = "\
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
ON CONFLICT (workflow_uuid) DO UPDATE SET creator_xid = creator_xid
RETURNING status, name, class_name, config_name, queue_name, creator_xid, serialization,
    owner_xid";

// language=SQL
/// Stores a workflow's inputs once (`?1` id, `?2` inputs, `?3` now).
pub(crate) const INSERT_WORKFLOW_INPUT: &str = "\
INSERT INTO workflow_input (workflow_uuid, inputs, retention_timestamp) VALUES (?1, ?2, ?3)
ON CONFLICT (workflow_uuid) DO NOTHING";

// language=SQL
/// Workflows by id (`?1` = JSON array of ids), with inputs and outcomes from the payload tables
/// falling back to the legacy columns.
pub(crate) const SELECT_WORKFLOWS_BY_IDS: &str = concat!(
    "SELECT ",
    workflow_columns!(),
    ", COALESCE(wi.inputs, ws.inputs), COALESCE(wo.output, ws.output), \
     COALESCE(wo.error, ws.error)",
    payload_joins!(),
    " WHERE ws.workflow_uuid IN (SELECT value FROM json_each(?1))"
);

// language=SQL
/// The head of `list_workflows`: every column, payloads only when `:load_input` /
/// `:load_output` are true. Filters from [`list`] follow, each starting with `AND`.
pub(crate) const LIST_WORKFLOWS: &str = concat!(
    "SELECT ",
    workflow_columns!(),
    ", CASE WHEN :load_input THEN COALESCE(wi.inputs, ws.inputs) END, \
     CASE WHEN :load_output THEN COALESCE(wo.output, ws.output) END, \
     CASE WHEN :load_output THEN COALESCE(wo.error, ws.error) END",
    payload_joins!(),
    " WHERE 1 = 1"
);

// language=SQL
/// How many ids lie in the key range `?1` (inclusive) to `?2` (exclusive), counting up to `?3`
/// only: a read of at most `?3` entries of the primary key's index.
pub(crate) const COUNT_ID_RANGE: &str = "\
SELECT count(*) FROM (
    SELECT 1 FROM workflow_status WHERE workflow_uuid >= ?1 AND workflow_uuid < ?2 LIMIT ?3)";

/// The filter and ordering fragments of `list_workflows`. Each binds its own named parameter.
pub(crate) mod list {
    // language=SQL
    /// Only these ids (`:workflow_ids`, a JSON array).
    pub(crate) const IDS: &str =
        " AND ws.workflow_uuid IN (SELECT value FROM json_each(:workflow_ids))";
    // language=SQL
    /// Ids starting with `:prefix`: LIKE with `%`, `_` and `\` escaped uses the index; the
    /// `substr` comparison makes the match case-sensitive (SQLite's LIKE is not).
    pub(crate) const ID_PREFIX: &str = " AND ws.workflow_uuid LIKE :prefix_pattern ESCAPE '\\' \
         AND substr(ws.workflow_uuid, 1, length(:prefix)) = :prefix";
    // language=SQL
    /// Ids starting with any of several prefixes (`:prefixes`, a JSON array): each compared
    /// with `substr`, which takes `%`, `_` and `\` literally and is case-sensitive. (One
    /// prefix uses [`ID_PREFIX`], whose LIKE can read the primary key's index.)
    pub(crate) const ID_PREFIXES: &str = " AND EXISTS (SELECT 1 FROM json_each(:prefixes) p \
         WHERE substr(ws.workflow_uuid, 1, length(p.value)) = p.value)";
    // language=SQL
    /// Any of these statuses.
    pub(crate) const STATUS: &str = " AND ws.status IN (SELECT value FROM json_each(:status))";
    // language=SQL
    /// Exactly this status: an equality the planner can match to an index's leading column.
    pub(crate) const ONE_STATUS: &str = " AND ws.status = :status";
    // language=SQL
    /// The predicate of `idx_workflow_status_failed`, word for word, so that a filter on failed
    /// statuses reads that index (SQLite uses a partial index only for a query that repeats
    /// its predicate's terms).
    pub(crate) const FAILED_STATUS_INDEX: &str =
        " AND ws.status IN ('ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')";
    // language=SQL
    /// The predicate of `idx_workflow_status_pending`, word for word (see
    /// [`FAILED_STATUS_INDEX`]).
    pub(crate) const PENDING_STATUS_INDEX: &str = " AND ws.status = 'PENDING'";
    // language=SQL
    /// Any of these names.
    pub(crate) const NAME: &str = " AND ws.name IN (SELECT value FROM json_each(:name))";
    // language=SQL
    /// Any of these application versions.
    pub(crate) const APPLICATION_VERSION: &str =
        " AND ws.application_version IN (SELECT value FROM json_each(:application_version))";
    // language=SQL
    /// Any of these executors.
    pub(crate) const EXECUTOR_ID: &str =
        " AND ws.executor_id IN (SELECT value FROM json_each(:executor_id))";
    // language=SQL
    /// Any of these queues.
    pub(crate) const QUEUE_NAME: &str =
        " AND ws.queue_name IN (SELECT value FROM json_each(:queue_name))";
    // language=SQL
    /// Any of these users.
    pub(crate) const AUTHENTICATED_USER: &str =
        " AND ws.authenticated_user IN (SELECT value FROM json_each(:authenticated_user))";
    // language=SQL
    /// Enqueued by this schedule.
    pub(crate) const SCHEDULE_NAME: &str = " AND ws.schedule_name = :schedule_name";
    // language=SQL
    /// Forked from this workflow.
    pub(crate) const FORKED_FROM: &str = " AND ws.forked_from = :forked_from";
    // language=SQL
    /// Children of this workflow.
    pub(crate) const PARENT_WORKFLOW_ID: &str = " AND ws.parent_workflow_id = :parent_workflow_id";
    // language=SQL
    /// Enqueued by any of several schedules (`:schedule_names`, a JSON array).
    pub(crate) const SCHEDULE_NAMES: &str =
        " AND ws.schedule_name IN (SELECT value FROM json_each(:schedule_names))";
    // language=SQL
    /// Forked from any of several workflows (`:forked_from_ids`, a JSON array).
    pub(crate) const FORKED_FROM_ANY: &str =
        " AND ws.forked_from IN (SELECT value FROM json_each(:forked_from_ids))";
    // language=SQL
    /// Children of any of several workflows (`:parent_workflow_ids`, a JSON array).
    pub(crate) const PARENT_WORKFLOW_IDS: &str =
        " AND ws.parent_workflow_id IN (SELECT value FROM json_each(:parent_workflow_ids))";
    // language=SQL
    /// Created at or after.
    pub(crate) const START_TIME: &str = " AND ws.created_at >= :start_time";
    // language=SQL
    /// Created at or before.
    pub(crate) const END_TIME: &str = " AND ws.created_at <= :end_time";
    // language=SQL
    /// Completed at or after.
    pub(crate) const COMPLETED_AFTER: &str = " AND ws.completed_at >= :completed_after";
    // language=SQL
    /// Completed at or before.
    pub(crate) const COMPLETED_BEFORE: &str = " AND ws.completed_at <= :completed_before";
    // language=SQL
    /// Dequeued at or after.
    pub(crate) const DEQUEUED_AFTER: &str = " AND ws.started_at_epoch_ms >= :dequeued_after";
    // language=SQL
    /// Dequeued at or before.
    pub(crate) const DEQUEUED_BEFORE: &str = " AND ws.started_at_epoch_ms <= :dequeued_before";
    // language=SQL
    /// Whether a fork was made from it (`:was_forked_from` is 0 or 1).
    pub(crate) const WAS_FORKED_FROM: &str =
        " AND COALESCE(ws.was_forked_from, 0) = :was_forked_from";
    // language=SQL
    /// Is a fork.
    pub(crate) const IS_FORK: &str = " AND ws.forked_from IS NOT NULL";
    // language=SQL
    /// Is not a fork.
    pub(crate) const IS_NOT_FORK: &str = " AND ws.forked_from IS NULL";
    // language=SQL
    /// Has a parent.
    pub(crate) const HAS_PARENT: &str = " AND ws.parent_workflow_id IS NOT NULL";
    // language=SQL
    /// Has no parent.
    pub(crate) const HAS_NO_PARENT: &str = " AND ws.parent_workflow_id IS NULL";
    // language=SQL
    /// The application's own rows plus unclaimed rows.
    pub(crate) const APPLICATION_SCOPE: &str =
        " AND (ws.application_name = :application_name OR ws.application_name IS NULL)";
    // language=SQL
    /// The rows of any of several applications (`:application_names`, a JSON array) plus
    /// unclaimed rows.
    pub(crate) const APPLICATIONS_SCOPE: &str = " AND (ws.application_name IN \
         (SELECT value FROM json_each(:application_names)) OR ws.application_name IS NULL)";
    // language=SQL
    /// Only queued workflows.
    pub(crate) const QUEUES_ONLY: &str = " AND ws.queue_name IS NOT NULL";
    // language=SQL
    /// The active statuses of a queue listing without a status filter.
    pub(crate) const QUEUED_STATUSES: &str = " AND ws.status IN ('DELAYED', 'ENQUEUED', 'PENDING')";
    // language=SQL
    /// The ids of one prefix as a key range, `:prefix_low` (the prefix) inclusive to
    /// `:prefix_high` (its code-point successor) exclusive: the primary key's index reads exactly
    /// them (ids compare bytewise, and UTF-8's byte order is code-point order).
    pub(crate) const ID_RANGE: &str =
        " AND ws.workflow_uuid >= :prefix_low AND ws.workflow_uuid < :prefix_high";
    // language=SQL
    /// Oldest first, sorted once read: the `+` keeps the creation-time index from serving the
    /// order, so that the planner reads the rows by the other filters (the key range of
    /// [`ID_RANGE`]) instead of walking that index until the page is full.
    pub(crate) const SORTED_ASC: &str = " ORDER BY +ws.created_at ASC, ws.workflow_uuid ASC";
    // language=SQL
    /// Newest first, sorted once read, as [`SORTED_ASC`].
    pub(crate) const SORTED_DESC: &str = " ORDER BY +ws.created_at DESC, ws.workflow_uuid DESC";
    // language=SQL
    /// Oldest first.
    pub(crate) const ORDER_ASC: &str = " ORDER BY ws.created_at ASC, ws.workflow_uuid ASC";
    // language=SQL
    /// Newest first.
    pub(crate) const ORDER_DESC: &str = " ORDER BY ws.created_at DESC, ws.workflow_uuid DESC";
    // language=SQL
    /// Paging (`:limit` -1 = no limit).
    pub(crate) const LIMIT_OFFSET: &str = " LIMIT :limit OFFSET :offset";
}

// language=SQL
/// Records an outcome while the row is `PENDING` and, with a token, still owned by it. Named
/// parameters: `:workflow_uuid`, `:status`, `:now`, `:owner_xid` (NULL = no ownership check).
pub(crate) const UPDATE_OUTCOME: &str = "\
UPDATE workflow_status
SET status = :status, deduplication_id = NULL, owner_xid = NULL,
    updated_at = :now, completed_at = :now
WHERE workflow_uuid = :workflow_uuid AND status = 'PENDING'
  AND (:owner_xid IS NULL OR owner_xid = :owner_xid)";

// language=SQL
/// Stores a workflow's outcome (`?1` id, `?2` output, `?3` error, `?4` now).
pub(crate) const UPSERT_WORKFLOW_OUTPUT: &str = "\
INSERT INTO workflow_output (workflow_uuid, output, error, retention_timestamp)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (workflow_uuid) DO UPDATE
SET output = excluded.output, error = excluded.error,
    retention_timestamp = excluded.retention_timestamp";

// language=SQL
/// A workflow's status, outcome and label (`?1` id).
pub(crate) const SELECT_WORKFLOW_RESULT: &str = "\
SELECT ws.status, COALESCE(wo.output, ws.output), COALESCE(wo.error, ws.error), ws.serialization
FROM workflow_status ws
LEFT JOIN workflow_output wo ON wo.workflow_uuid = ws.workflow_uuid
WHERE ws.workflow_uuid = ?1";

// language=SQL
/// One workflow of a list (`?1`, JSON array) that is no longer active.
pub(crate) const SELECT_FIRST_FINISHED: &str = "\
SELECT workflow_uuid FROM workflow_status
WHERE workflow_uuid IN (SELECT value FROM json_each(?1))
  AND status NOT IN ('PENDING', 'ENQUEUED', 'DELAYED')
LIMIT 1";

// language=SQL
/// The children of a list of workflows (`?1`, JSON array), oldest first.
pub(crate) const SELECT_CHILDREN: &str = "\
SELECT workflow_uuid FROM workflow_status
WHERE parent_workflow_id IN (SELECT value FROM json_each(?1))
ORDER BY created_at, workflow_uuid";

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

// language=SQL
/// A workflow's status (`?1` id).
pub(crate) const SELECT_WORKFLOW_STATUS: &str =
    "SELECT status FROM workflow_status WHERE workflow_uuid = ?1";

// language=SQL
/// A workflow's owner token, deadline and application (`?1` id).
///
/// Read inside the writer's `BEGIN IMMEDIATE` transaction, it is DBOS's SQLite ownership check:
/// DBOS runs a no-op `UPDATE … RETURNING owner_xid` to take the database's write lock before it
/// reads, and this transaction holds that lock from its `BEGIN`, so no other connection or
/// process can change the owner until it commits. A no-op update would only rewrite the
/// workflow's row and add its page to every checkpoint's commit.
pub(crate) const SELECT_WORKFLOW_OWNER: &str = "\
SELECT owner_xid, workflow_deadline_epoch_ms, application_name
FROM workflow_status WHERE workflow_uuid = ?1";

// language=SQL
/// The step recorded at a position (`?1` workflow, `?2` function_id).
pub(crate) const SELECT_STEP: &str = "\
SELECT function_name, output, error, child_workflow_id, serialization, completed_at_epoch_ms
FROM operation_outputs WHERE workflow_uuid = ?1 AND function_id = ?2";

// language=SQL
/// Records a step, or finds the recorded one without changing it; returns the recorded
/// completion time, which tells a retry of this write from a rival's. Named parameters.
pub(crate) const INSERT_STEP: &str = "\
INSERT INTO operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
VALUES (
    :workflow_uuid, :function_id, :function_name, :output, :error, :child_workflow_id,
    :started_at_epoch_ms, :completed_at_epoch_ms, :serialization, :application_name, :now)
ON CONFLICT (workflow_uuid, function_id) DO UPDATE
SET completed_at_epoch_ms = completed_at_epoch_ms
RETURNING completed_at_epoch_ms";

// language=SQL
/// Records a step unless one is recorded at that position. Named parameters as
/// [`INSERT_STEP`].
pub(crate) const INSERT_STEP_IF_ABSENT: &str = "\
INSERT INTO operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
VALUES (
    :workflow_uuid, :function_id, :function_name, :output, :error, :child_workflow_id,
    :started_at_epoch_ms, :completed_at_epoch_ms, :serialization, :application_name, :now)
ON CONFLICT (workflow_uuid, function_id) DO NOTHING";

// language=SQL
/// A workflow's steps by position (`?1` id, `?2` load outputs, `?3` limit, `?4` offset).
pub(crate) const LIST_STEPS: &str = "\
SELECT function_id, function_name,
    CASE WHEN ?2 THEN output END, CASE WHEN ?2 THEN error END,
    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, serialization
FROM operation_outputs WHERE workflow_uuid = ?1
ORDER BY function_id
LIMIT ?3 OFFSET ?4";

// ---------------------------------------------------------------------------------------------
// Management
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Cancels workflows that are neither finished nor already cancelled (`?1` JSON array of ids,
/// `?2` now); returns the ids that changed.
pub(crate) const CANCEL_WORKFLOWS: &str = "\
UPDATE workflow_status
SET status = 'CANCELLED', owner_xid = NULL, queue_name = NULL, deduplication_id = NULL,
    started_at_epoch_ms = NULL, updated_at = ?2, completed_at = ?2
WHERE workflow_uuid IN (SELECT value FROM json_each(?1))
  AND status NOT IN ('SUCCESS', 'ERROR', 'CANCELLED')
RETURNING workflow_uuid";

// language=SQL
/// The ids of a list (`?1`, JSON array) that exist.
pub(crate) const SELECT_EXISTING_IDS: &str = "\
SELECT workflow_uuid FROM workflow_status
WHERE workflow_uuid IN (SELECT value FROM json_each(?1))";

// language=SQL
/// Re-enqueues workflows that are not finished (`?1` JSON array of ids, `?2` queue, `?3` now);
/// returns the ids that changed.
pub(crate) const RESUME_WORKFLOWS: &str = "\
UPDATE workflow_status
SET status = 'ENQUEUED', queue_name = ?2, owner_xid = NULL,
    workflow_deadline_epoch_ms = NULL, deduplication_id = NULL, started_at_epoch_ms = NULL,
    completed_at = NULL, recovery_attempts = 0, updated_at = ?3
WHERE workflow_uuid IN (SELECT value FROM json_each(?1))
  AND status NOT IN ('SUCCESS', 'ERROR')
RETURNING workflow_uuid";
