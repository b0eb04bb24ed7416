//! Fork, rewind, delete and attribute statements.
//!
//! A fork copies rows with one `INSERT … SELECT` per table; a rewind deletes the rows from its
//! start step on. The stream column `"offset"` is a reserved word and always quoted.

// ---------------------------------------------------------------------------------------------
// Fork
// ---------------------------------------------------------------------------------------------

// language=SQL
/// A workflow's recorded steps as a start step resolves against them (`?1` id):
/// `function_id`, `function_name`, whether it failed.
pub(crate) const SELECT_STEP_OUTCOMES: &str = "\
SELECT function_id, function_name, error IS NOT NULL
FROM operation_outputs WHERE workflow_uuid = ?1";

// language=SQL
/// The `forked_from` of a workflow, to tell an existing fork of the same source (`?1` id).
pub(crate) const SELECT_FORKED_FROM: &str =
    "SELECT forked_from FROM workflow_status WHERE workflow_uuid = ?1";

// language=SQL
/// Inserts a fork's status row from its source's row. Named parameters: `:fork_id`,
/// `:source_id`, `:queue_name`, `:queue_partition_key`, `:application_version` and
/// `:workflow_timeout_ms` (NULL = the source's), `:application_name` (the owner when the source
/// is unclaimed), `:now`. Returns the fork's owner.
pub(crate) const INSERT_FORK: &str = "\
INSERT INTO workflow_status (
    workflow_uuid, status, name, class_name, config_name, application_id, authenticated_user,
    assumed_role, authenticated_roles, serialization, attributes, queue_name,
    queue_partition_key, application_version, workflow_timeout_ms, workflow_deadline_epoch_ms,
    forked_from, parent_workflow_id, owner_xid, creator_xid, deduplication_id, priority,
    executor_id, recovery_attempts, created_at, updated_at, application_name)
SELECT :fork_id, 'ENQUEUED', name, class_name, config_name, application_id, authenticated_user,
    assumed_role, authenticated_roles, serialization, attributes, :queue_name,
    :queue_partition_key, COALESCE(:application_version, application_version),
    COALESCE(:workflow_timeout_ms, workflow_timeout_ms), NULL,
    workflow_uuid, NULL, NULL, NULL, NULL, 0,
    NULL, 0, :now, :now, COALESCE(application_name, :application_name)
FROM workflow_status WHERE workflow_uuid = :source_id
RETURNING application_name";

// language=SQL
/// Gives a fork its source's inputs, from the payload table or the legacy column (`?1` fork,
/// `?2` source, `?3` now).
pub(crate) const INSERT_FORK_INPUT: &str = "\
INSERT INTO workflow_input (workflow_uuid, inputs, retention_timestamp)
SELECT ?1, COALESCE(wi.inputs, ws.inputs), ?3
FROM workflow_status ws
LEFT JOIN workflow_input wi ON wi.workflow_uuid = ws.workflow_uuid
WHERE ws.workflow_uuid = ?2";

/// Clears rows a deleted workflow left under a new fork's id (`?1`) in the tables without a
/// foreign key, before the fork writes its own.
pub(crate) const DELETE_LEFTOVER_PAYLOADS: [&str; 3] = [
    "DELETE FROM workflow_input WHERE workflow_uuid = ?1",
    "DELETE FROM workflow_output WHERE workflow_uuid = ?1",
    "DELETE FROM operation_outputs WHERE workflow_uuid = ?1",
];

// language=SQL
/// Marks a workflow as the source of a fork (`?1` id).
pub(crate) const MARK_FORKED_FROM: &str =
    "UPDATE workflow_status SET was_forked_from = TRUE WHERE workflow_uuid = ?1";

// language=SQL
/// Copies the steps below the start step to the fork. Named parameters: `:fork_id`,
/// `:source_id`, `:start_step`, `:replacements` (a JSON object `{old child id: new child id}`),
/// `:application_name` (the fork's owner).
pub(crate) const COPY_FORK_STEPS: &str = "\
INSERT INTO operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
SELECT :fork_id, oo.function_id, oo.function_name, oo.output, oo.error,
    COALESCE(
        (SELECT r.value FROM json_each(:replacements) r WHERE r.key = oo.child_workflow_id),
        oo.child_workflow_id),
    oo.started_at_epoch_ms, oo.completed_at_epoch_ms, oo.serialization, :application_name,
    oo.retention_timestamp
FROM operation_outputs oo
WHERE oo.workflow_uuid = :source_id AND oo.function_id < :start_step";

// language=SQL
/// Copies the event history below the start step to the fork (`?1` fork, `?2` source, `?3`
/// start step).
pub(crate) const COPY_FORK_EVENT_HISTORY: &str = "\
INSERT INTO workflow_events_history (workflow_uuid, function_id, key, value, serialization)
SELECT ?1, function_id, key, value, serialization
FROM workflow_events_history
WHERE workflow_uuid = ?2 AND function_id < ?3";

// language=SQL
/// Rebuilds the fork's events: each key's value from the source's latest history row below the
/// start step (`?1` fork, `?2` source, `?3` start step).
pub(crate) const COPY_FORK_EVENTS: &str = "\
INSERT INTO workflow_events (workflow_uuid, key, value, serialization)
SELECT ?1, h.key, h.value, h.serialization
FROM workflow_events_history h
WHERE h.workflow_uuid = ?2
  AND h.function_id = (
      SELECT max(h2.function_id) FROM workflow_events_history h2
      WHERE h2.workflow_uuid = ?2 AND h2.key = h.key AND h2.function_id < ?3)";

// language=SQL
/// Copies the stream entries written below the start step to the fork (`?1` fork, `?2` source,
/// `?3` start step).
pub(crate) const COPY_FORK_STREAMS: &str = "\
INSERT INTO streams (workflow_uuid, key, value, \"offset\", function_id, serialization)
SELECT ?1, key, value, \"offset\", function_id, serialization
FROM streams
WHERE workflow_uuid = ?2 AND function_id < ?3";

// ---------------------------------------------------------------------------------------------
// Rewind
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Deletes the current value of every event key published at or after the start step (`?1`
/// id, `?2` start step). Runs before the history is cut, and before [`RESTORE_EVENTS`].
pub(crate) const DELETE_REWOUND_EVENTS: &str = "\
DELETE FROM workflow_events
WHERE workflow_uuid = ?1
  AND key IN (
      SELECT key FROM workflow_events_history WHERE workflow_uuid = ?1 AND function_id >= ?2)";

// language=SQL
/// Restores each key published at or after the start step from its latest history row before
/// it, if any (`?1` id, `?2` start step).
pub(crate) const RESTORE_EVENTS: &str = "\
INSERT INTO workflow_events (workflow_uuid, key, value, serialization)
SELECT h.workflow_uuid, h.key, h.value, h.serialization
FROM workflow_events_history h
WHERE h.workflow_uuid = ?1
  AND h.key IN (
      SELECT key FROM workflow_events_history WHERE workflow_uuid = ?1 AND function_id >= ?2)
  AND h.function_id = (
      SELECT max(h2.function_id) FROM workflow_events_history h2
      WHERE h2.workflow_uuid = ?1 AND h2.key = h.key AND h2.function_id < ?2)";

// language=SQL
/// Deletes the stream close markers written at or after the start step (`?1` id, `?2` start
/// step, `?3` the sentinel value); other entries stay.
pub(crate) const DELETE_REWOUND_STREAM_CLOSES: &str = "\
DELETE FROM streams WHERE workflow_uuid = ?1 AND function_id >= ?2 AND value = ?3";

// language=SQL
/// Deletes the steps at or after the start step (`?1` id, `?2` start step).
pub(crate) const DELETE_REWOUND_STEPS: &str =
    "DELETE FROM operation_outputs WHERE workflow_uuid = ?1 AND function_id >= ?2";

// language=SQL
/// Deletes the event history at or after the start step (`?1` id, `?2` start step).
pub(crate) const DELETE_REWOUND_EVENT_HISTORY: &str =
    "DELETE FROM workflow_events_history WHERE workflow_uuid = ?1 AND function_id >= ?2";

// language=SQL
/// Deletes the messages consumed at or after the start step and every unconsumed message (`?1`
/// id, `?2` start step).
pub(crate) const DELETE_REWOUND_MESSAGES: &str = "\
DELETE FROM notifications
WHERE destination_uuid = ?1 AND (NOT consumed OR consumed_by_function_id >= ?2)";

// language=SQL
/// Deletes a workflow's output row (`?1` id).
pub(crate) const DELETE_OUTPUT: &str = "DELETE FROM workflow_output WHERE workflow_uuid = ?1";

// language=SQL
/// Re-enqueues a rewound workflow, guarded by the status it had. Named parameters:
/// `:workflow_uuid`, `:old_status`, `:queue_name`, `:queue_partition_key`,
/// `:application_version` (NULL = unchanged), `:now`.
pub(crate) const REENQUEUE_REWOUND: &str = "\
UPDATE workflow_status
SET status = 'ENQUEUED', queue_name = :queue_name, queue_partition_key = :queue_partition_key,
    application_version = COALESCE(:application_version, application_version),
    owner_xid = NULL, workflow_deadline_epoch_ms = NULL, deduplication_id = NULL,
    started_at_epoch_ms = NULL, completed_at = NULL, recovery_attempts = 0,
    output = NULL, error = NULL, updated_at = :now
WHERE workflow_uuid = :workflow_uuid AND status = :old_status";

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Every statement deleting the rows of a list of workflows (`?1`, a JSON array of ids), the
/// status rows last. The tables with a cascading foreign key are cleared explicitly too, so the
/// delete does not depend on `PRAGMA foreign_keys` (a connection of another program may have it
/// off).
pub(crate) const DELETE_WORKFLOW_ROWS: [&str; 8] = [
    "DELETE FROM workflow_input WHERE workflow_uuid IN (SELECT value FROM json_each(?1))",
    "DELETE FROM workflow_output WHERE workflow_uuid IN (SELECT value FROM json_each(?1))",
    "DELETE FROM operation_outputs WHERE workflow_uuid IN (SELECT value FROM json_each(?1))",
    "DELETE FROM notifications WHERE destination_uuid IN (SELECT value FROM json_each(?1))",
    "DELETE FROM workflow_events WHERE workflow_uuid IN (SELECT value FROM json_each(?1))",
    "DELETE FROM workflow_events_history WHERE workflow_uuid IN (SELECT value FROM json_each(?1))",
    "DELETE FROM streams WHERE workflow_uuid IN (SELECT value FROM json_each(?1))",
    "DELETE FROM workflow_status WHERE workflow_uuid IN (SELECT value FROM json_each(?1))",
];

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

// language=SQL
/// A workflow's stored attributes, and whether it exists (`?1` id).
pub(crate) const SELECT_ATTRIBUTES: &str =
    "SELECT attributes FROM workflow_status WHERE workflow_uuid = ?1";

// language=SQL
/// Stores a workflow's attributes (`?1` id, `?2` JSON text).
pub(crate) const UPDATE_ATTRIBUTES: &str =
    "UPDATE workflow_status SET attributes = ?2 WHERE workflow_uuid = ?1";
