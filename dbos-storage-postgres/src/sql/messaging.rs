//! Statements of messages, events and streams, and of the wake-ups that go with them.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. Both
//! dialects run these statements unchanged.

use super::workflows::now_ms;

// language=SQL
/// The calling workflow of a checkpointed call: its status, owner token and application,
/// locking the row until the transaction ends (so that two calls of one workflow, such as two
/// executions receiving at one step, run one after the other). The step at the caller's
/// position is read by a separate statement once the lock is held: in READ COMMITTED a joined
/// row would come from the snapshot taken before the wait for the lock. `$1` workflow.
pub(crate) const LOCK_CALLER: &str = "\
SELECT status, owner_xid, application_name
FROM {schema}.workflow_status
WHERE workflow_uuid = $1
FOR NO KEY UPDATE";

// language=SQL
/// Sends a batch in one multi-row insert, as parallel arrays in batch order: `$1` destination,
/// `$2` stored topic, `$3` message, `$4` serialization, `$5` idempotency key (NULL for none);
/// `$6` also deliver to forks (boolean).
///
/// * With `$6`, each message also goes to every workflow forked, recursively, from its
///   destination (`forked_from`), resolved in this statement. Every workflow has one
///   `forked_from`, so the forks of a destination form a tree and `UNION ALL` (which CockroachDB
///   also accepts in a recursive CTE) yields each once; the depth bound and `DISTINCT` only contain
///   a cycle written by hand.
/// * `message_uuid` is `"{key}::{destination}"` for a message with an idempotency key, else a
///   fresh uuid; a row whose uuid exists is skipped (`ON CONFLICT (message_uuid) DO NOTHING`).
/// * `created_at_epoch_ms` is the database clock, but strictly increasing per destination and
///   topic in batch order, after the newest unconsumed message there: receives take messages
///   oldest first, so messages sent one after the other (in one batch, or in one millisecond)
///   are received in the order they were sent.
/// * A missing destination fails the statement with a foreign-key violation (23503).
///
/// Returns the destination and topic of every row inserted.
pub(crate) const SEND_MESSAGES: &str = concat!(
    "WITH RECURSIVE batch AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
        WITH ORDINALITY AS b(destination_uuid, topic, message, serialization, idempotency_key, ord)
), targets(root, workflow_uuid, depth) AS (
    SELECT DISTINCT b.destination_uuid, b.destination_uuid, 0 FROM batch b
    UNION ALL
    SELECT t.root, ws.workflow_uuid, t.depth + 1
    FROM targets t
    JOIN {schema}.workflow_status ws ON ws.forked_from = t.workflow_uuid
    WHERE $6::boolean AND t.depth < 10000
), deliveries AS (
    SELECT t.workflow_uuid AS destination_uuid, b.topic, b.message, b.serialization, b.ord,
        CASE WHEN b.idempotency_key IS NULL THEN gen_random_uuid()::text
            ELSE b.idempotency_key || '::' || t.workflow_uuid END AS message_uuid
    FROM batch b
    JOIN (SELECT DISTINCT root, workflow_uuid FROM targets) t ON t.root = b.destination_uuid
), seeds AS (
    SELECT g.destination_uuid, g.topic,
        GREATEST(",
    now_ms!(),
    ", 1 + (
            SELECT max(n.created_at_epoch_ms) FROM {schema}.notifications n
            WHERE n.destination_uuid = g.destination_uuid AND n.topic = g.topic
              AND NOT n.consumed)) AS first_created_at
    FROM (SELECT DISTINCT d.destination_uuid, d.topic FROM deliveries d) g
)
INSERT INTO {schema}.notifications (
    message_uuid, destination_uuid, topic, message, serialization, created_at_epoch_ms)
SELECT d.message_uuid, d.destination_uuid, d.topic, d.message, d.serialization,
    s.first_created_at - 1
        + row_number() OVER (PARTITION BY d.destination_uuid, d.topic ORDER BY d.ord)
FROM deliveries d
JOIN seeds s ON s.destination_uuid = d.destination_uuid AND s.topic = d.topic
ORDER BY d.ord
ON CONFLICT (message_uuid) DO NOTHING
RETURNING destination_uuid, topic"
);

// language=SQL
/// The first destination of a batch (`$1` text[]), in batch order, that does not exist: what a
/// send that failed on the foreign key names.
pub(crate) const SELECT_MISSING_DESTINATIONS: &str = "\
SELECT d.id FROM UNNEST($1::text[]) WITH ORDINALITY AS d(id, ord)
WHERE NOT EXISTS (
    SELECT 1 FROM {schema}.workflow_status ws WHERE ws.workflow_uuid = d.id)
ORDER BY d.ord
LIMIT 1";

// language=SQL
/// Whether a workflow (`$1`) has an unconsumed message on a stored topic (`$2`): the polling
/// read of a receive, served by `idx_workflow_topic`.
pub(crate) const MESSAGE_WAITING: &str = "\
SELECT EXISTS (
    SELECT 1 FROM {schema}.notifications
    WHERE destination_uuid = $1 AND topic = $2 AND NOT consumed)";

// language=SQL
/// Marks the oldest unconsumed message of a workflow (`$1`) on a stored topic (`$2`) consumed
/// by the receiving step (`$3`, int4) and returns it. The oldest is by `created_at_epoch_ms`,
/// then `message_uuid`. A row locked by another transaction (a DBOS peer's receive, a delete)
/// is waited for, never skipped: skipping it could take a newer message first or record a
/// timeout while a message waits. The outer `NOT consumed` re-check keeps a message from being
/// taken twice even if the subquery saw a stale version.
pub(crate) const CONSUME_MESSAGE: &str = "\
UPDATE {schema}.notifications
SET consumed = true, consumed_by_function_id = $3
WHERE message_uuid = (
    SELECT message_uuid FROM {schema}.notifications
    WHERE destination_uuid = $1 AND topic = $2 AND NOT consumed
    ORDER BY created_at_epoch_ms, message_uuid
    LIMIT 1
    FOR UPDATE)
  AND NOT consumed
RETURNING message, serialization";

// language=SQL
/// Publishes an event: upserts the current value and the history row at the step, in one
/// statement. `$1` workflow, `$2` function_id (int4), `$3` key, `$4` value, `$5`
/// serialization.
pub(crate) const UPSERT_EVENT: &str = "\
WITH upserted AS (
    INSERT INTO {schema}.workflow_events (workflow_uuid, key, value, serialization)
    VALUES ($1::text, $3::text, $4::text, $5::text)
    ON CONFLICT (workflow_uuid, key) DO UPDATE
    SET value = EXCLUDED.value, serialization = EXCLUDED.serialization
    RETURNING workflow_uuid
)
INSERT INTO {schema}.workflow_events_history (workflow_uuid, function_id, key, value, serialization)
SELECT workflow_uuid, $2::int4, $3::text, $4::text, $5::text FROM upserted
ON CONFLICT (workflow_uuid, function_id, key) DO UPDATE
SET value = EXCLUDED.value, serialization = EXCLUDED.serialization";

// language=SQL
/// The current value of an event (`$1` workflow, `$2` key).
pub(crate) const SELECT_EVENT: &str = "\
SELECT value, serialization FROM {schema}.workflow_events
WHERE workflow_uuid = $1 AND key = $2";

// language=SQL
/// Every current event of a workflow (`$1`).
pub(crate) const SELECT_ALL_EVENTS: &str = "\
SELECT key, value, serialization FROM {schema}.workflow_events
WHERE workflow_uuid = $1
ORDER BY key";

// language=SQL
/// Appends a value to a stream at the next offset (the last offset + 1, or 0), unless the
/// stream is closed (its last value is the sentinel `$6`, labelled `portable_json`); returns
/// the offset, or no row for a closed stream. Only the last row is read (a backward scan of the
/// primary key). Two concurrent writers compute the same offset, and the second fails on the
/// primary key (23505): the caller re-runs its transaction.
///
/// `$1` workflow, `$2` key, `$3` value, `$4` serialization, `$5` function_id (int4), `$6` the
/// close sentinel.
pub(crate) const APPEND_STREAM: &str = "\
WITH last AS (
    SELECT s.\"offset\" AS last_offset, s.value, s.serialization
    FROM {schema}.streams s
    WHERE s.workflow_uuid = $1 AND s.key = $2
    ORDER BY s.\"offset\" DESC
    LIMIT 1
)
INSERT INTO {schema}.streams (workflow_uuid, key, value, serialization, function_id, \"offset\")
SELECT $1::text, $2::text, $3::text, $4::text, $5::int4,
    COALESCE((SELECT last_offset FROM last), -1) + 1
WHERE NOT EXISTS (
    SELECT 1 FROM last WHERE last.value = $6 AND last.serialization = 'portable_json')
RETURNING \"offset\"";

// language=SQL
/// A stream read in one statement: the writer's status, and the values at offsets
/// `[$3, $4)` (`$3` int4, `$4` bigint) in offset order. `$1` workflow, `$2` key. No row means
/// no such workflow; one row with NULL stream columns means no value in the range.
pub(crate) const READ_STREAM: &str = "\
SELECT ws.status, s.\"offset\", s.value, s.serialization
FROM {schema}.workflow_status ws
LEFT JOIN {schema}.streams s
    ON s.workflow_uuid = ws.workflow_uuid AND s.key = $2
   AND s.\"offset\" >= $3::int4 AND s.\"offset\" < $4::bigint
WHERE ws.workflow_uuid = $1
ORDER BY s.\"offset\"";

// language=SQL
/// Signals a batch of payloads (`$2` text[]) on one channel (`$1`), delivered at commit (the
/// statement runs in autocommit).
pub(crate) const NOTIFY_BATCH: &str = "SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p";

// language=SQL
/// Subscribes the listener connection to DBOS's three channels.
pub(crate) const LISTEN_ALL: &str = "LISTEN dbos_notifications_channel; \
LISTEN dbos_workflow_events_channel; LISTEN dbos_streams_channel";

// language=SQL
/// The listener connection's backend process id.
pub(crate) const SELECT_BACKEND_PID: &str = "SELECT pg_backend_pid()";

// language=SQL
/// Signals one payload (`$2`) on one channel (`$1`): the listener's probe.
pub(crate) const NOTIFY_ONE: &str = "SELECT pg_notify($1, $2)";

// language=SQL
/// Every message sent to a workflow (`$1`), consumed or not, in send order: creation time, then
/// `message_uuid` (the store re-sorts ties in byte order, whatever the database's collation).
pub(crate) const LIST_NOTIFICATIONS: &str = "\
SELECT message_uuid, topic, message, serialization, created_at_epoch_ms, consumed,
       consumed_by_function_id
FROM {schema}.notifications WHERE destination_uuid = $1
ORDER BY created_at_epoch_ms ASC, message_uuid ASC";
