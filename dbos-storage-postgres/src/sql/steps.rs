//! Statements of the step operations: check, record, list, child starts and durable sleeps.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built.

use super::workflows::now_ms;

// language=SQL
/// A workflow's status and the step recorded at a position, in one round trip: no row means no
/// such workflow; NULL step columns mean nothing is recorded there (`function_name` is NOT
/// NULL in the table). `$1` workflow, `$2` function_id (int4).
pub(crate) const SELECT_STATUS_AND_STEP: &str = "\
SELECT ws.status, oo.function_name, oo.output, oo.error, oo.child_workflow_id, oo.serialization
FROM {schema}.workflow_status ws
LEFT JOIN {schema}.operation_outputs oo
    ON oo.workflow_uuid = ws.workflow_uuid AND oo.function_id = $2
WHERE ws.workflow_uuid = $1";

// language=SQL
/// A workflow's owner token, deadline and application, locking the row against concurrent
/// hand-offs until the transaction ends (DBOS's PostgreSQL ownership check; `$1` id).
pub(crate) const LOCK_WORKFLOW_OWNER: &str = "\
SELECT owner_xid, workflow_deadline_epoch_ms, application_name
FROM {schema}.workflow_status WHERE workflow_uuid = $1
FOR NO KEY UPDATE";

// language=SQL
/// A workflow's owner token, deadline and application, without a lock (`$1` id).
pub(crate) const SELECT_WORKFLOW_OWNER: &str = "\
SELECT owner_xid, workflow_deadline_epoch_ms, application_name
FROM {schema}.workflow_status WHERE workflow_uuid = $1";

// language=SQL
/// The step recorded at a position (`$1` workflow, `$2` function_id).
pub(crate) const SELECT_STEP: &str = "\
SELECT function_name, output, error, child_workflow_id, serialization, completed_at_epoch_ms
FROM {schema}.operation_outputs WHERE workflow_uuid = $1 AND function_id = $2";

/// The column list and values of a step insert; the conflict clause follows.
///
/// `$1` workflow, `$2` function_id (int4), `$3` name, `$4` output, `$5` error, `$6` child,
/// `$7` started at, `$8` completed at, `$9` serialization, `$10` application name.
macro_rules! insert_step_head {
    () => {
        concat!(
            "INSERT INTO {schema}.operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ",
            now_ms!(),
            ")"
        )
    };
}

// language=SQL
/// Records a step, or finds the recorded one without changing it; returns the recorded
/// completion time, which tells a retry of this write from a rival's. Parameters as
/// `insert_step_head!`.
pub(crate) const INSERT_STEP: &str = concat!(
    insert_step_head!(),
    "
ON CONFLICT (workflow_uuid, function_id) DO UPDATE
SET completed_at_epoch_ms = operation_outputs.completed_at_epoch_ms
RETURNING completed_at_epoch_ms"
);

// language=SQL
/// A step checkpoint in one statement (one implicit transaction, one round trip): reads the
/// workflow row, locking it `FOR NO KEY UPDATE` (as DBOS's ownership check does), and inserts
/// the step with the workflow's `application_name` when the owner token matches (or none is
/// given).
///
/// Under READ COMMITTED the lock makes the fence race-free: a concurrent cancel, claim or
/// recovery that changed `owner_xid` first is waited for, and the qualification is then
/// re-checked on the committed row, so the step is written only under the current owner; one
/// that comes later waits for this statement's commit. CockroachDB runs it SERIALIZABLE.
///
/// Writes one row when it recorded the step, none when it did not (no such workflow, or another
/// owner: the caller reads the owner to tell which); it returns no rows either way. A step already
/// recorded at that position fails with `unique_violation` on `operation_outputs_pkey`
/// (deliberately no `ON CONFLICT` clause: speculative insertion costs every checkpoint, while
/// only a retry or a rival meets a recorded step); the caller then reads the recorded step.
///
/// `$1` workflow, `$2` function_id (int4), `$3` name, `$4` output, `$5` error, `$6` child,
/// `$7` started at, `$8` completed at, `$9` serialization, `$10` owner token (NULL: no check).
pub(crate) const RECORD_STEP: &str = concat!(
    "INSERT INTO {schema}.operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
SELECT ws.workflow_uuid, $2::integer, $3::text, $4::text, $5::text, $6::text, $7::bigint,
    $8::bigint, $9::text, ws.application_name, ",
    now_ms!(),
    "
FROM {schema}.workflow_status ws
WHERE ws.workflow_uuid = $1::text AND ($10::text IS NULL OR ws.owner_xid = $10::text)
FOR NO KEY UPDATE"
);

// language=SQL
/// Many step checkpoints in one statement (one implicit transaction, one commit): each as
/// [`RECORD_STEP`] — the owner check and the workflow row locked `FOR NO KEY UPDATE` — except
/// that a workflow row another transaction holds is skipped rather than waited for, and a step
/// already recorded at its position is skipped rather than failing the statement. Each workflow
/// row is found by its primary key in a `LATERAL` subquery (a locking subquery is never
/// flattened into a join, so no plan can scan the whole table per statement). Returns the
/// `(workflow_uuid, function_id, completed_at_epoch_ms)` of every step written; a step left
/// out was not written (its workflow is missing, owned by another token or locked, or a step
/// is recorded at its position) and is retried alone with [`RECORD_STEP`], which tells which.
///
/// `$1` workflows, `$2` function ids (int4), `$3` names, `$4` outputs, `$5` errors, `$6`
/// children, `$7` started at, `$8` completed at, `$9` serializations, `$10` owner tokens (NULL:
/// no check): arrays of one length, one element per step.
pub(crate) const RECORD_STEPS: &str = concat!(
    "INSERT INTO {schema}.operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
SELECT w.workflow_uuid, s.function_id, s.function_name, s.output, s.error,
    s.child_workflow_id, s.started_at, s.completed_at, s.serialization, w.application_name, ",
    now_ms!(),
    "
FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::bigint[], $8::bigint[], $9::text[], $10::text[])
    AS s(workflow_uuid, function_id, function_name, output, error, child_workflow_id,
        started_at, completed_at, serialization, owner_xid)
CROSS JOIN LATERAL (
    SELECT ws.workflow_uuid, ws.application_name
    FROM {schema}.workflow_status ws
    WHERE ws.workflow_uuid = s.workflow_uuid
        AND (s.owner_xid IS NULL OR ws.owner_xid = s.owner_xid)
    FOR NO KEY UPDATE SKIP LOCKED
) w
ON CONFLICT (workflow_uuid, function_id) DO NOTHING
RETURNING workflow_uuid, function_id, completed_at_epoch_ms"
);

// language=SQL
/// Records a step unless one is recorded at that position. Parameters as
/// `insert_step_head!`.
pub(crate) const INSERT_STEP_IF_ABSENT: &str = concat!(
    insert_step_head!(),
    "
ON CONFLICT (workflow_uuid, function_id) DO NOTHING"
);

// language=SQL
/// A workflow's steps by position (`$1` id, `$2` load outputs, `$3` limit (NULL = all), `$4`
/// offset).
pub(crate) const LIST_STEPS: &str = "\
SELECT function_id, function_name,
    CASE WHEN $2::boolean THEN output END, CASE WHEN $2::boolean THEN error END,
    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, serialization
FROM {schema}.operation_outputs WHERE workflow_uuid = $1
ORDER BY function_id
LIMIT $3 OFFSET $4";
