//! Statements of fork and rewind.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. Copies are
//! one `INSERT … SELECT` per table; the events of a fork or a rewind are rebuilt from the event
//! history with `DISTINCT ON (key) … ORDER BY key, function_id DESC` (each key's latest value),
//! which PostgreSQL and CockroachDB both run.

use super::workflows::now_ms;

// language=SQL
/// A workflow's status and owner (`$1` id), its row locked until the transaction ends.
pub(crate) const LOCK_WORKFLOW_STATUS: &str = "\
SELECT status, application_name FROM {schema}.workflow_status WHERE workflow_uuid = $1
FOR UPDATE";

// language=SQL
/// The ids of a list (`$1` text[]) that exist, each with its `forked_from`.
pub(crate) const SELECT_FORKED_FROM: &str = "\
SELECT workflow_uuid, forked_from FROM {schema}.workflow_status WHERE workflow_uuid = ANY($1)";

// language=SQL
/// The steps a start resolves against (`$1` id): position, name and whether it failed.
pub(crate) const SELECT_STEP_OUTCOMES: &str = "\
SELECT function_id, function_name, error IS NOT NULL
FROM {schema}.operation_outputs WHERE workflow_uuid = $1";

// language=SQL
/// Inserts the fork `$2` of source `$1` as `ENQUEUED`, copying the source's identity columns,
/// unless the id exists. `$3` queue, `$4` partition key, `$5` version (NULL: the source's), `$6`
/// timeout ms (NULL: the source's), `$7` the caller's application (the owner when the source
/// is unclaimed). Returns the fork's owner when it was inserted.
pub(crate) const INSERT_FORK: &str = concat!(
    "INSERT INTO {schema}.workflow_status (
    workflow_uuid, status, name, class_name, config_name, application_id, authenticated_user,
    assumed_role, authenticated_roles, serialization, attributes, queue_name, queue_partition_key,
    application_version, workflow_timeout_ms, workflow_deadline_epoch_ms, forked_from,
    parent_workflow_id, owner_xid, creator_xid, deduplication_id, priority, executor_id,
    recovery_attempts, created_at, updated_at, application_name)
SELECT $2::text, 'ENQUEUED', s.name, s.class_name, s.config_name, s.application_id,
    s.authenticated_user, s.assumed_role, s.authenticated_roles, s.serialization, s.attributes,
    $3::text, $4::text, COALESCE($5::text, s.application_version),
    COALESCE($6::bigint, s.workflow_timeout_ms), NULL, s.workflow_uuid, NULL, NULL, NULL, NULL, 0,
    NULL, 0, ",
    now_ms!(),
    ", ",
    now_ms!(),
    ", COALESCE(s.application_name, $7::text)
FROM {schema}.workflow_status s WHERE s.workflow_uuid = $1
ON CONFLICT (workflow_uuid) DO NOTHING
RETURNING application_name"
);

// language=SQL
/// Writes the fork's (`$2`) inputs from its source (`$1`): the payload table, else the legacy
/// column.
pub(crate) const COPY_FORK_INPUT: &str = concat!(
    "INSERT INTO {schema}.workflow_input (workflow_uuid, inputs, retention_timestamp)
SELECT $2::text, COALESCE(wi.inputs, ws.inputs), ",
    now_ms!(),
    "
FROM {schema}.workflow_status ws
LEFT JOIN {schema}.workflow_input wi ON wi.workflow_uuid = ws.workflow_uuid
WHERE ws.workflow_uuid = $1
ON CONFLICT (workflow_uuid) DO UPDATE
SET inputs = EXCLUDED.inputs, retention_timestamp = EXCLUDED.retention_timestamp"
);

// language=SQL
/// Deletes the step rows a fork id (`$1`) may have left from a workflow deleted without them
/// (they have no foreign key), so that the fork never replays them.
pub(crate) const DELETE_STALE_FORK_STEPS: &str = "\
DELETE FROM {schema}.operation_outputs WHERE workflow_uuid = $1";

// language=SQL
/// Deletes the outcome row a fork id (`$1`) may have left, as [`DELETE_STALE_FORK_STEPS`].
pub(crate) const DELETE_STALE_FORK_OUTPUT: &str = "\
DELETE FROM {schema}.workflow_output WHERE workflow_uuid = $1";

// language=SQL
/// Marks a workflow (`$1`) as the source of a fork.
pub(crate) const MARK_FORKED_FROM: &str = "\
UPDATE {schema}.workflow_status SET was_forked_from = TRUE WHERE workflow_uuid = $1";

// language=SQL
/// Copies the source's (`$1`) steps below step `$3` (int4) to the fork `$2`, owned by `$4`;
/// a child id found in `$5` (text[], old ids) is replaced by the same position of `$6` (text[],
/// new ids).
pub(crate) const COPY_FORK_STEPS: &str = "\
INSERT INTO {schema}.operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
SELECT $2::text, o.function_id, o.function_name, o.output, o.error,
    COALESCE(($6::text[])[array_position($5::text[], o.child_workflow_id)], o.child_workflow_id),
    o.started_at_epoch_ms, o.completed_at_epoch_ms, o.serialization, $4::text,
    o.retention_timestamp
FROM {schema}.operation_outputs o
WHERE o.workflow_uuid = $1 AND o.function_id < $3::int4";

// language=SQL
/// Copies the source's (`$1`) event history below step `$3` to the fork `$2`.
pub(crate) const COPY_FORK_EVENT_HISTORY: &str = "\
INSERT INTO {schema}.workflow_events_history (workflow_uuid, function_id, key, value, serialization)
SELECT $2::text, h.function_id, h.key, h.value, h.serialization
FROM {schema}.workflow_events_history h
WHERE h.workflow_uuid = $1 AND h.function_id < $3::int4";

// language=SQL
/// Rebuilds the fork's (`$1`) events from its copied history: each key's latest value.
pub(crate) const REBUILD_FORK_EVENTS: &str = "\
INSERT INTO {schema}.workflow_events (workflow_uuid, key, value, serialization)
SELECT DISTINCT ON (h.key) h.workflow_uuid, h.key, h.value, h.serialization
FROM {schema}.workflow_events_history h
WHERE h.workflow_uuid = $1
ORDER BY h.key, h.function_id DESC";

// language=SQL
/// Copies the source's (`$1`) stream entries written below step `$3` to the fork `$2`.
pub(crate) const COPY_FORK_STREAMS: &str = "\
INSERT INTO {schema}.streams (workflow_uuid, key, value, \"offset\", function_id, serialization)
SELECT $2::text, s.key, s.value, s.\"offset\", s.function_id, s.serialization
FROM {schema}.streams s
WHERE s.workflow_uuid = $1 AND s.function_id < $3::int4";

// language=SQL
/// Rewind: deletes the events (`$1` workflow) of every key published at or after step `$2`.
pub(crate) const DELETE_REWOUND_EVENTS: &str = "\
DELETE FROM {schema}.workflow_events
WHERE workflow_uuid = $1 AND key IN (
    SELECT h.key FROM {schema}.workflow_events_history h
    WHERE h.workflow_uuid = $1 AND h.function_id >= $2::int4)";

// language=SQL
/// Rewind: restores each key published at or after step `$2` to its latest value from before
/// it (`$1` workflow); run before the history is cut.
pub(crate) const RESTORE_REWOUND_EVENTS: &str = "\
INSERT INTO {schema}.workflow_events (workflow_uuid, key, value, serialization)
SELECT DISTINCT ON (h.key) h.workflow_uuid, h.key, h.value, h.serialization
FROM {schema}.workflow_events_history h
WHERE h.workflow_uuid = $1 AND h.function_id < $2::int4 AND h.key IN (
    SELECT later.key FROM {schema}.workflow_events_history later
    WHERE later.workflow_uuid = $1 AND later.function_id >= $2::int4)
ORDER BY h.key, h.function_id DESC";

// language=SQL
/// Rewind: deletes the stream close markers (`$3`, the sentinel) of workflow `$1` written at or
/// after step `$2`; other entries stay.
pub(crate) const DELETE_REWOUND_STREAM_CLOSES: &str = "\
DELETE FROM {schema}.streams
WHERE workflow_uuid = $1 AND function_id >= $2::int4 AND value = $3::text";

// language=SQL
/// Rewind: deletes the steps of workflow `$1` at or after step `$2`.
pub(crate) const DELETE_REWOUND_STEPS: &str = "\
DELETE FROM {schema}.operation_outputs WHERE workflow_uuid = $1 AND function_id >= $2::int4";

// language=SQL
/// Rewind: deletes the event history of workflow `$1` at or after step `$2`.
pub(crate) const DELETE_REWOUND_EVENT_HISTORY: &str = "\
DELETE FROM {schema}.workflow_events_history
WHERE workflow_uuid = $1 AND function_id >= $2::int4";

// language=SQL
/// Rewind: deletes the messages to workflow `$1` consumed at or after step `$2`, and every
/// unconsumed one.
pub(crate) const DELETE_REWOUND_MESSAGES: &str = "\
DELETE FROM {schema}.notifications
WHERE destination_uuid = $1 AND (consumed_by_function_id >= $2::int4 OR NOT consumed)";

// language=SQL
/// Rewind: deletes the outcome row of workflow `$1`.
pub(crate) const DELETE_REWOUND_OUTPUT: &str = "\
DELETE FROM {schema}.workflow_output WHERE workflow_uuid = $1";

// language=SQL
/// Rewind: re-enqueues workflow `$1` if its status is still `$2` (tested so that no partial
/// status index can serve it, see [`crate::sql`]). `$3` queue, `$4` partition key, `$5` version
/// (NULL: unchanged). Returns a row when it changed.
pub(crate) const REENQUEUE_REWOUND: &str = concat!(
    "UPDATE {schema}.workflow_status
SET status = 'ENQUEUED', output = NULL, error = NULL, queue_name = $3::text,
    queue_partition_key = $4::text, application_version = COALESCE($5::text, application_version),
    owner_xid = NULL, workflow_deadline_epoch_ms = NULL, deduplication_id = NULL,
    started_at_epoch_ms = NULL, completed_at = NULL, recovery_attempts = 0, updated_at = ",
    now_ms!(),
    "
WHERE workflow_uuid = $1 AND (status = $2) IS TRUE
RETURNING workflow_uuid"
);
