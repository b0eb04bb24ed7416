//! Statements of export and import: every row of a workflow, every column as stored (but
//! `owner_xid`), read by id lists and written back one row at a time.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. Id lists
//! are one `text[]` parameter. `attributes` travels as text (`::text` out, `::text::jsonb` in),
//! so a JSON `null` stays a JSON `null` and SQL NULL stays NULL.

// language=SQL
/// The `workflow_status` rows of a list (`$1` text[]), every column but `owner_xid`, in the
/// order of `export::WorkflowRow`.
pub(crate) const EXPORT_STATUSES: &str = "\
SELECT workflow_uuid, status, name, authenticated_user, assumed_role, authenticated_roles,
    request, output, error, executor_id, created_at, updated_at, application_version,
    application_id, class_name, config_name, recovery_attempts, queue_name, workflow_timeout_ms,
    workflow_deadline_epoch_ms, inputs, started_at_epoch_ms, deduplication_id, priority,
    queue_partition_key, forked_from, parent_workflow_id, serialization, delay_until_epoch_ms,
    was_forked_from, rate_limited, completed_at, attributes::text, schedule_name,
    debounce_deadline_epoch_ms, is_debounced, application_name, creator_xid
FROM {schema}.workflow_status WHERE workflow_uuid = ANY($1)";

// language=SQL
/// The children of a list of workflows (`$1` text[]) with their creation times.
pub(crate) const EXPORT_CHILDREN: &str = "\
SELECT workflow_uuid, created_at FROM {schema}.workflow_status WHERE parent_workflow_id = ANY($1)";

// language=SQL
/// The `workflow_input` rows of a list (`$1` text[]).
pub(crate) const EXPORT_INPUTS: &str = "\
SELECT workflow_uuid, inputs, retention_timestamp
FROM {schema}.workflow_input WHERE workflow_uuid = ANY($1)";

// language=SQL
/// The `workflow_output` rows of a list (`$1` text[]).
pub(crate) const EXPORT_OUTPUTS: &str = "\
SELECT workflow_uuid, output, error, retention_timestamp
FROM {schema}.workflow_output WHERE workflow_uuid = ANY($1)";

// language=SQL
/// The `operation_outputs` rows of a list (`$1` text[]).
pub(crate) const EXPORT_STEPS: &str = "\
SELECT workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp
FROM {schema}.operation_outputs WHERE workflow_uuid = ANY($1)";

// language=SQL
/// The `workflow_events` rows of a list (`$1` text[]).
pub(crate) const EXPORT_EVENTS: &str = "\
SELECT workflow_uuid, key, value, serialization
FROM {schema}.workflow_events WHERE workflow_uuid = ANY($1)";

// language=SQL
/// The `workflow_events_history` rows of a list (`$1` text[]).
pub(crate) const EXPORT_EVENT_HISTORY: &str = "\
SELECT workflow_uuid, function_id, key, value, serialization
FROM {schema}.workflow_events_history WHERE workflow_uuid = ANY($1)";

// language=SQL
/// The `streams` rows of a list (`$1` text[]).
pub(crate) const EXPORT_STREAMS: &str = "\
SELECT workflow_uuid, key, \"offset\", value, function_id, serialization
FROM {schema}.streams WHERE workflow_uuid = ANY($1)";

// language=SQL
/// Writes a `workflow_status` row as exported, `owner_xid` NULL; `$1`…`$38` in the column
/// order of [`EXPORT_STATUSES`] (`$33`, the attributes, is JSON text).
pub(crate) const IMPORT_STATUS: &str = "\
INSERT INTO {schema}.workflow_status (
    workflow_uuid, status, name, authenticated_user, assumed_role, authenticated_roles,
    request, output, error, executor_id, created_at, updated_at, application_version,
    application_id, class_name, config_name, recovery_attempts, queue_name, workflow_timeout_ms,
    workflow_deadline_epoch_ms, inputs, started_at_epoch_ms, deduplication_id, priority,
    queue_partition_key, forked_from, parent_workflow_id, serialization, delay_until_epoch_ms,
    was_forked_from, rate_limited, completed_at, attributes, schedule_name,
    debounce_deadline_epoch_ms, is_debounced, application_name, creator_xid, owner_xid)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33::text::jsonb, $34, $35,
    $36, $37, $38, NULL)";

// language=SQL
/// Writes a `workflow_input` row (`$1` id, `$2` inputs, `$3` retention timestamp).
pub(crate) const IMPORT_INPUT: &str = "\
INSERT INTO {schema}.workflow_input (workflow_uuid, inputs, retention_timestamp)
VALUES ($1, $2, $3)";

// language=SQL
/// Writes a `workflow_output` row (`$1` id, `$2` output, `$3` error, `$4` retention
/// timestamp).
pub(crate) const IMPORT_OUTPUT: &str = "\
INSERT INTO {schema}.workflow_output (workflow_uuid, output, error, retention_timestamp)
VALUES ($1, $2, $3, $4)";

// language=SQL
/// Writes an `operation_outputs` row, `$1`…`$11` in the column order of [`EXPORT_STEPS`].
pub(crate) const IMPORT_STEP: &str = "\
INSERT INTO {schema}.operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

// language=SQL
/// Writes a `workflow_events` row (`$1` id, `$2` key, `$3` value, `$4` serialization).
pub(crate) const IMPORT_EVENT: &str = "\
INSERT INTO {schema}.workflow_events (workflow_uuid, key, value, serialization)
VALUES ($1, $2, $3, $4)";

// language=SQL
/// Writes a `workflow_events_history` row (`$1` id, `$2` function_id, `$3` key, `$4` value,
/// `$5` serialization).
pub(crate) const IMPORT_EVENT_HISTORY: &str = "\
INSERT INTO {schema}.workflow_events_history (workflow_uuid, function_id, key, value, serialization)
VALUES ($1, $2, $3, $4, $5)";

// language=SQL
/// Writes a `streams` row (`$1` id, `$2` key, `$3` offset, `$4` value, `$5` function_id, `$6`
/// serialization).
pub(crate) const IMPORT_STREAM: &str = "\
INSERT INTO {schema}.streams (workflow_uuid, key, \"offset\", value, function_id, serialization)
VALUES ($1, $2, $3, $4, $5, $6)";
