//! Statements of the workflow operations: insert, read, list, outcome, waits and children.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. Lists of
//! ids are bound as one `text[]` parameter and matched with `= ANY($n)`. "Now" is the database
//! clock at transaction start, in epoch milliseconds (`now_ms!`).

/// The database clock in epoch milliseconds (`now()` is the transaction start time), as DBOS
/// writes its timestamps.
macro_rules! now_ms {
    () => {
        "(EXTRACT(epoch FROM now()) * 1000)::bigint"
    };
}
pub(crate) use now_ms;

/// The `workflow_status` columns read into a `WorkflowInfo`, in the order
/// `store::read_workflow` expects (indexes 0..=33).
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
        " FROM {schema}.workflow_status ws \
         LEFT JOIN {schema}.workflow_input wi ON wi.workflow_uuid = ws.workflow_uuid \
         LEFT JOIN {schema}.workflow_output wo ON wo.workflow_uuid = ws.workflow_uuid"
    };
}

// language=SQL
/// The database clock in epoch milliseconds.
pub(crate) const SELECT_NOW_MS: &str = concat!("SELECT ", now_ms!());

// language=SQL
/// Inserts a workflow, or finds the existing row of the same id without changing it: the no-op
/// update makes `RETURNING` yield the existing row, and the row lock it takes makes concurrent
/// inserts of one id wait for each other. The inputs go to `workflow_input` only when the row
/// is this insert's own (`creator_xid` matches), never over a foreign workflow's inputs.
///
/// `$1` id, `$2` status, `$3` name, `$4` class, `$5` config, `$6` queue, `$7` dedup id,
/// `$8` priority (int4), `$9` partition key, `$10` user, `$11` assumed role, `$12` roles (JSON
/// text), `$13` executor, `$14` app version, `$15` app id, `$16` app name, `$17` recovery
/// attempts, `$18` timeout ms, `$19` deadline (explicit), `$20` deadline offset from now (ms;
/// clamped to the bigint range), `$21` delay until, `$22` parent, `$23` serialization, `$24`
/// attributes (jsonb, JSON `null` when unset), `$25` owner token, `$26` creator token, `$27`
/// inputs, `$28` is debounced, `$29` debounce deadline, `$30` forked from, `$31` schedule name.
pub(crate) const INSERT_WORKFLOW: &str = concat!(
    "WITH inserted AS (
    INSERT INTO {schema}.workflow_status (
        workflow_uuid, status, name, class_name, config_name, queue_name, deduplication_id,
        priority, queue_partition_key, authenticated_user, assumed_role, authenticated_roles,
        executor_id, application_version, application_id, application_name, created_at,
        updated_at, recovery_attempts, workflow_timeout_ms, workflow_deadline_epoch_ms,
        delay_until_epoch_ms, parent_workflow_id, serialization, attributes, owner_xid,
        creator_xid, is_debounced, debounce_deadline_epoch_ms, forked_from, schedule_name)
    VALUES (
        $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, ",
    now_ms!(),
    ", ",
    now_ms!(),
    ", $17, $18,
        COALESCE($19::bigint, CASE WHEN $20::bigint IS NOT NULL THEN LEAST(",
    now_ms!(),
    "::numeric + $20::bigint, 9223372036854775807)::bigint END),
        $21, $22, $23, $24, $25, $26, $28, $29, $30, $31)
    ON CONFLICT (workflow_uuid) DO UPDATE SET creator_xid = workflow_status.creator_xid
    RETURNING status, name, class_name, config_name, queue_name, creator_xid, serialization,
        owner_xid
), input AS (
    INSERT INTO {schema}.workflow_input (workflow_uuid, inputs, retention_timestamp)
    SELECT $1, $27::text, ",
    now_ms!(),
    " FROM inserted WHERE inserted.creator_xid = $26
    ON CONFLICT (workflow_uuid) DO NOTHING
)
SELECT status, name, class_name, config_name, queue_name, creator_xid, serialization, owner_xid
FROM inserted"
);

// language=SQL
/// Workflows by id (`$1` text[]), with inputs and outcomes from the payload tables falling back
/// to the legacy columns.
pub(crate) const SELECT_WORKFLOWS_BY_IDS: &str = concat!(
    "SELECT ",
    workflow_columns!(),
    ", COALESCE(wi.inputs, ws.inputs), COALESCE(wo.output, ws.output), \
     COALESCE(wo.error, ws.error)",
    payload_joins!(),
    " WHERE ws.workflow_uuid = ANY($1)"
);

// language=SQL
/// The head of `list_workflows`: every column, payloads only when `$1` (load inputs) and `$2`
/// (load outputs) are true. Filters from [`list`] follow, each starting with `AND`.
pub(crate) const LIST_WORKFLOWS: &str = concat!(
    "SELECT ",
    workflow_columns!(),
    ", CASE WHEN $1::boolean THEN COALESCE(wi.inputs, ws.inputs) END, \
     CASE WHEN $2::boolean THEN COALESCE(wo.output, ws.output) END, \
     CASE WHEN $2::boolean THEN COALESCE(wo.error, ws.error) END",
    payload_joins!(),
    " WHERE TRUE"
);

/// The filter and ordering fragments of `list_workflows`. `{p}` (and `{q}` for a second
/// value) stand for the fragment's own parameters; the builder replaces them with `$n`
/// placeholders as it numbers them. Values are always bound, never formatted in.
pub(crate) mod list {
    // language=SQL
    /// Only these ids (`text[]`).
    pub(crate) const IDS: &str = " AND ws.workflow_uuid = ANY({p})";
    // language=SQL
    /// Ids starting with a prefix: `{p}` is the LIKE pattern with `\`, `%` and `_` escaped.
    /// PostgreSQL's LIKE is case-sensitive.
    pub(crate) const ID_PREFIX: &str = " AND ws.workflow_uuid LIKE {p} ESCAPE '\\'";
    // language=SQL
    /// Ids at or above `{p}`: with [`ID_BELOW`], the range of the ids starting with one prefix,
    /// added next to [`ID_PREFIX`] where ids sort by code point so that the primary key reads
    /// the range (PostgreSQL plans a `LIKE` on the key as a range only under the C collation,
    /// and never for a generic plan).
    pub(crate) const ID_AT_OR_ABOVE: &str = " AND ws.workflow_uuid >= {p}";
    // language=SQL
    /// Ids below `{p}` (see [`ID_AT_OR_ABOVE`]).
    pub(crate) const ID_BELOW: &str = " AND ws.workflow_uuid < {p}";
    // language=SQL
    /// Ids starting with any of several prefixes: `{p}` is a `text[]` of LIKE patterns, each
    /// with `\`, `%` and `_` escaped (`\` is LIKE's default escape character).
    pub(crate) const ID_PREFIXES: &str = " AND EXISTS (SELECT 1 FROM unnest({p}::text[]) \
         AS wanted(pat) WHERE ws.workflow_uuid LIKE wanted.pat ESCAPE '\\')";
    // language=SQL
    /// Any of these statuses (`text[]`).
    pub(crate) const STATUS: &str = " AND ws.status = ANY({p})";
    // language=SQL
    /// Exactly this status: an equality, which the planner matches to the leading column of
    /// `idx_workflow_status_failed` (`status`, `created_at`) to read failed workflows newest
    /// first, where `= ANY` of one value would make it walk the creation-time index.
    pub(crate) const ONE_STATUS: &str = " AND ws.status = {p}";
    // language=SQL
    /// Any of these names (`text[]`).
    pub(crate) const NAME: &str = " AND ws.name = ANY({p})";
    // language=SQL
    /// Any of these application versions (`text[]`).
    pub(crate) const APPLICATION_VERSION: &str = " AND ws.application_version = ANY({p})";
    // language=SQL
    /// Any of these executors (`text[]`).
    pub(crate) const EXECUTOR_ID: &str = " AND ws.executor_id = ANY({p})";
    // language=SQL
    /// Any of these queues (`text[]`).
    pub(crate) const QUEUE_NAME: &str = " AND ws.queue_name = ANY({p})";
    // language=SQL
    /// Any of these users (`text[]`).
    pub(crate) const AUTHENTICATED_USER: &str = " AND ws.authenticated_user = ANY({p})";
    // language=SQL
    /// Enqueued by this schedule.
    pub(crate) const SCHEDULE_NAME: &str = " AND ws.schedule_name = {p}";
    // language=SQL
    /// Forked from this workflow.
    pub(crate) const FORKED_FROM: &str = " AND ws.forked_from = {p}";
    // language=SQL
    /// Children of this workflow.
    pub(crate) const PARENT_WORKFLOW_ID: &str = " AND ws.parent_workflow_id = {p}";
    // language=SQL
    /// Enqueued by any of several schedules (`text[]`).
    pub(crate) const SCHEDULE_NAMES: &str = " AND ws.schedule_name = ANY({p})";
    // language=SQL
    /// Forked from any of several workflows (`text[]`).
    pub(crate) const FORKED_FROM_ANY: &str = " AND ws.forked_from = ANY({p})";
    // language=SQL
    /// Children of any of several workflows (`text[]`).
    pub(crate) const PARENT_WORKFLOW_IDS: &str = " AND ws.parent_workflow_id = ANY({p})";
    // language=SQL
    /// Created at or after (`bigint`).
    pub(crate) const START_TIME: &str = " AND ws.created_at >= {p}";
    // language=SQL
    /// Created at or before (`bigint`).
    pub(crate) const END_TIME: &str = " AND ws.created_at <= {p}";
    // language=SQL
    /// Completed at or after (`bigint`).
    pub(crate) const COMPLETED_AFTER: &str = " AND ws.completed_at >= {p}";
    // language=SQL
    /// Completed at or before (`bigint`).
    pub(crate) const COMPLETED_BEFORE: &str = " AND ws.completed_at <= {p}";
    // language=SQL
    /// Dequeued at or after (`bigint`).
    pub(crate) const DEQUEUED_AFTER: &str = " AND ws.started_at_epoch_ms >= {p}";
    // language=SQL
    /// Dequeued at or before (`bigint`).
    pub(crate) const DEQUEUED_BEFORE: &str = " AND ws.started_at_epoch_ms <= {p}";
    // language=SQL
    /// Whether a fork was made from it (`boolean`).
    pub(crate) const WAS_FORKED_FROM: &str = " AND ws.was_forked_from = {p}";
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
    /// Attribute containment (`jsonb`), served by the GIN index on `attributes`.
    pub(crate) const ATTRIBUTES: &str = " AND ws.attributes @> {p}";
    // language=SQL
    /// The application's own rows plus unclaimed rows.
    pub(crate) const APPLICATION_SCOPE: &str =
        " AND (ws.application_name = {p} OR ws.application_name IS NULL)";
    // language=SQL
    /// The rows of any of several applications (`text[]`) plus unclaimed rows.
    pub(crate) const APPLICATIONS_SCOPE: &str =
        " AND (ws.application_name = ANY({p}) OR ws.application_name IS NULL)";
    // language=SQL
    /// Only queued workflows.
    pub(crate) const QUEUES_ONLY: &str = " AND ws.queue_name IS NOT NULL";
    // language=SQL
    /// The active statuses of a queue listing without a status filter.
    pub(crate) const QUEUED_STATUSES: &str = " AND ws.status IN ('DELAYED', 'ENQUEUED', 'PENDING')";
    // language=SQL
    /// Oldest first.
    pub(crate) const ORDER_ASC: &str = " ORDER BY ws.created_at ASC, ws.workflow_uuid ASC";
    // language=SQL
    /// Newest first.
    pub(crate) const ORDER_DESC: &str = " ORDER BY ws.created_at DESC, ws.workflow_uuid DESC";
    // language=SQL
    /// Paging: `{p}` limit (`bigint`, NULL = no limit), `{q}` offset (`bigint`).
    pub(crate) const LIMIT_OFFSET: &str = " LIMIT {p} OFFSET {q}";
}

// language=SQL
/// Records an outcome in one statement, as DBOS does: the update applies only while the row is
/// `PENDING` and, with a token, still owned by it; the output row is written only if the update
/// matched. Returns the number of rows updated (0 or 1).
///
/// The status test is written `(status = 'PENDING') IS TRUE` (the same rows) so that the planner
/// cannot answer it from the partial index `idx_workflow_status_pending`: without statistics (a
/// new schema, or many workflows started since the last ANALYZE) it rates that index as cheap as
/// the primary key, picks it, and then filters every pending row by id; measured by the bench,
/// ~425 rows and ~1 ms per outcome instead of one row and ~40 µs.
///
/// `$1` id, `$2` status, `$3` output, `$4` error, `$5` owner token (NULL = no ownership check).
pub(crate) const RECORD_OUTCOME: &str = concat!(
    "WITH updated AS (
    UPDATE {schema}.workflow_status
    SET status = $2, deduplication_id = NULL, owner_xid = NULL,
        updated_at = ",
    now_ms!(),
    ", completed_at = ",
    now_ms!(),
    "
    WHERE workflow_uuid = $1 AND (status = 'PENDING') IS TRUE
      AND ($5::text IS NULL OR owner_xid = $5::text)
    RETURNING workflow_uuid
), written AS (
    INSERT INTO {schema}.workflow_output (workflow_uuid, output, error, retention_timestamp)
    SELECT workflow_uuid, $3::text, $4::text, ",
    now_ms!(),
    " FROM updated
    ON CONFLICT (workflow_uuid) DO UPDATE
    SET output = EXCLUDED.output, error = EXCLUDED.error,
        retention_timestamp = EXCLUDED.retention_timestamp
)
SELECT count(*) FROM updated"
);

// language=SQL
/// A workflow's status, outcome and label (`$1` id).
pub(crate) const SELECT_WORKFLOW_RESULT: &str = "\
SELECT ws.status, COALESCE(wo.output, ws.output), COALESCE(wo.error, ws.error), ws.serialization
FROM {schema}.workflow_status ws
LEFT JOIN {schema}.workflow_output wo ON wo.workflow_uuid = ws.workflow_uuid
WHERE ws.workflow_uuid = $1";

// language=SQL
/// One workflow of a list (`$1` text[]) that is no longer active.
pub(crate) const SELECT_FIRST_FINISHED: &str = "\
SELECT workflow_uuid FROM {schema}.workflow_status
WHERE workflow_uuid = ANY($1)
  AND status NOT IN ('PENDING', 'ENQUEUED', 'DELAYED')
LIMIT 1";

// language=SQL
/// The children of a list of workflows (`$1` text[]), oldest first.
pub(crate) const SELECT_CHILDREN: &str = "\
SELECT workflow_uuid FROM {schema}.workflow_status
WHERE parent_workflow_id = ANY($1)
ORDER BY created_at, workflow_uuid";
