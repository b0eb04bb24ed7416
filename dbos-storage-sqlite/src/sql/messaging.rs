//! Message, event and stream statements: `notifications`, `workflow_events`,
//! `workflow_events_history` and `streams`.
//!
//! The stream column `"offset"` is a reserved word and always quoted.

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

// language=SQL
/// A destination and every workflow forked from it, recursively (`?1` destination). `UNION`
/// visits each workflow once, so even a malformed cycle of forks ends.
pub(crate) const SELECT_DESTINATION_AND_FORKS: &str = "\
WITH RECURSIVE forks(workflow_uuid) AS (
    SELECT ?1
    UNION
    SELECT ws.workflow_uuid FROM workflow_status ws
    JOIN forks f ON ws.forked_from = f.workflow_uuid
)
SELECT workflow_uuid FROM forks";

// language=SQL
/// Inserts one message unless its `message_uuid` exists (a re-send with the same idempotency
/// key): `?1` message_uuid, `?2` destination, `?3` topic, `?4` message, `?5` now, `?6`
/// serialization. Returns the number of rows inserted (0 or 1).
pub(crate) const INSERT_MESSAGE: &str = "\
INSERT INTO notifications (
    message_uuid, destination_uuid, topic, message, created_at_epoch_ms, serialization, consumed)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)
ON CONFLICT (message_uuid) DO NOTHING";

// language=SQL
/// Whether a workflow has an unconsumed message on a topic (`?1` destination, `?2` stored
/// topic): the polling read of a receive.
pub(crate) const MESSAGE_WAITING: &str = "\
SELECT EXISTS (
    SELECT 1 FROM notifications
    WHERE destination_uuid = ?1 AND topic = ?2 AND NOT consumed)";

// language=SQL
/// Consumes the oldest unconsumed message of a workflow on a topic (`?1` destination, `?2`
/// stored topic, `?3` the recv step's function_id): marks it, never deletes it. Ties on
/// `created_at_epoch_ms` go to the first inserted row.
pub(crate) const CONSUME_MESSAGE: &str = "\
UPDATE notifications SET consumed = 1, consumed_by_function_id = ?3
WHERE message_uuid = (
    SELECT message_uuid FROM notifications
    WHERE destination_uuid = ?1 AND topic = ?2 AND NOT consumed
    ORDER BY created_at_epoch_ms, rowid
    LIMIT 1)
RETURNING message, serialization";

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Sets the current value of an event (`?1` workflow, `?2` key, `?3` value, `?4`
/// serialization).
pub(crate) const UPSERT_EVENT: &str = "\
INSERT INTO workflow_events (workflow_uuid, key, value, serialization)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (workflow_uuid, key) DO UPDATE
SET value = excluded.value, serialization = excluded.serialization";

// language=SQL
/// Sets the value an event had at a step (`?1` workflow, `?2` function_id, `?3` key, `?4`
/// value, `?5` serialization); fork and rewind rebuild `workflow_events` from these rows.
pub(crate) const UPSERT_EVENT_HISTORY: &str = "\
INSERT INTO workflow_events_history (workflow_uuid, function_id, key, value, serialization)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (workflow_uuid, function_id, key) DO UPDATE
SET value = excluded.value, serialization = excluded.serialization";

// language=SQL
/// The current value of an event (`?1` workflow, `?2` key).
pub(crate) const SELECT_EVENT: &str = "\
SELECT value, serialization FROM workflow_events WHERE workflow_uuid = ?1 AND key = ?2";

// language=SQL
/// Every current event of a workflow (`?1` workflow).
pub(crate) const SELECT_ALL_EVENTS: &str = "\
SELECT key, value, serialization FROM workflow_events WHERE workflow_uuid = ?1";

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

// language=SQL
/// The last value of a stream (`?1` workflow, `?2` key): the close sentinel when the stream is
/// closed, since nothing is appended after it.
pub(crate) const SELECT_STREAM_TAIL: &str = "\
SELECT value, serialization FROM streams
WHERE workflow_uuid = ?1 AND key = ?2
ORDER BY \"offset\" DESC
LIMIT 1";

// language=SQL
/// Appends a value at the next offset, computed in the same statement inside the write
/// transaction (`?1` workflow, `?2` key, `?3` value, `?4` function_id, `?5` serialization);
/// returns the offset.
pub(crate) const APPEND_STREAM_VALUE: &str = "\
INSERT INTO streams (workflow_uuid, key, value, \"offset\", function_id, serialization)
SELECT ?1, ?2, ?3, COALESCE(max(\"offset\"), -1) + 1, ?4, ?5
FROM streams WHERE workflow_uuid = ?1 AND key = ?2
RETURNING \"offset\"";

// language=SQL
/// The writer's status and the stream's values in an offset range, in one statement (`?1`
/// workflow, `?2` key, `?3` first offset, `?4` number of offsets). No row when the workflow does
/// not exist; one row with NULL stream columns when the range holds no value.
pub(crate) const READ_STREAM: &str = "\
SELECT ws.status, s.\"offset\", s.value, s.serialization
FROM workflow_status ws
LEFT JOIN streams s
    ON s.workflow_uuid = ws.workflow_uuid AND s.key = ?2
   AND s.\"offset\" >= ?3 AND s.\"offset\" < ?3 + ?4
WHERE ws.workflow_uuid = ?1
ORDER BY s.\"offset\"";

// ---------------------------------------------------------------------------------------------
// Listing a workflow's messages
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Every message sent to a workflow (`?1`), consumed or not, in send order: creation time,
/// then `message_uuid`.
pub(crate) const LIST_NOTIFICATIONS: &str = "\
SELECT message_uuid, topic, message, serialization, created_at_epoch_ms, consumed,
       consumed_by_function_id
FROM notifications WHERE destination_uuid = ?1
ORDER BY created_at_epoch_ms ASC, message_uuid ASC";
