//! Retention statements: maintenance leases (rows of `queues`), collectable workflows and the
//! orphan sweep of the payload tables.

// ---------------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Takes, renews or leaves a lease row. Named parameters: `:row_id` (names the holder),
/// `:row_name`, `:lease_application`, `:now`, `:expires_at`. An existing row is taken over only
/// when it is this holder's (a renewal) or expired; otherwise it stays as it is.
pub(crate) const TAKE_LEASE: &str = "\
INSERT INTO queues (queue_id, name, application_name, created_at, updated_at)
VALUES (:row_id, :row_name, :lease_application, :now, :expires_at)
ON CONFLICT (name) DO UPDATE SET queue_id = excluded.queue_id, updated_at = excluded.updated_at
WHERE queues.queue_id = excluded.queue_id OR queues.updated_at < :now";

// language=SQL
/// The holder key and expiry of a lease row (`?1` row name).
pub(crate) const SELECT_LEASE: &str = "SELECT queue_id, updated_at FROM queues WHERE name = ?1";

// language=SQL
/// Gives a lease row up if this holder has it (`?1` row name, `?2` row id).
pub(crate) const RELEASE_LEASE: &str = "DELETE FROM queues WHERE name = ?1 AND queue_id = ?2";

// ---------------------------------------------------------------------------------------------
// Collection
// ---------------------------------------------------------------------------------------------

/// The statuses retention may delete (`WorkflowStatus::is_terminal`).
macro_rules! terminal_statuses {
    () => {
        "('SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')"
    };
}

// language=SQL
/// Finished workflows a policy lets retention delete, oldest first. Named parameters:
/// `:completed_before` (NULL = no cutoff), `:keep_newest` (NULL = no count rule; the newest
/// this-many rows of any status are kept), `:limit`.
pub(crate) const COLLECTABLE_WORKFLOWS: &str = concat!(
    "SELECT ws.workflow_uuid FROM workflow_status ws WHERE ws.status IN ",
    terminal_statuses!(),
    " AND ( \
         (:completed_before IS NOT NULL \
          AND COALESCE(ws.completed_at, ws.updated_at) < :completed_before) \
      OR (:keep_newest IS NOT NULL AND ws.workflow_uuid NOT IN ( \
             SELECT n.workflow_uuid FROM workflow_status n \
             ORDER BY n.created_at DESC, n.workflow_uuid DESC LIMIT :keep_newest))) \
     ORDER BY ws.created_at, ws.workflow_uuid LIMIT :limit"
);

// language=SQL
/// The workflows of a list (`?1`, a JSON array) that are still finished.
pub(crate) const SELECT_TERMINAL_IDS: &str = concat!(
    "SELECT workflow_uuid FROM workflow_status \
     WHERE workflow_uuid IN (SELECT value FROM json_each(?1)) AND status IN ",
    terminal_statuses!()
);

// language=SQL
/// Deletes up to `?1` `workflow_input` rows whose status row is gone, oldest
/// `retention_timestamp` first.
pub(crate) const SWEEP_ORPHAN_INPUTS: &str = "\
DELETE FROM workflow_input WHERE workflow_uuid IN (
    SELECT wi.workflow_uuid FROM workflow_input wi
    WHERE NOT EXISTS (SELECT 1 FROM workflow_status ws WHERE ws.workflow_uuid = wi.workflow_uuid)
    ORDER BY wi.retention_timestamp, wi.workflow_uuid
    LIMIT ?1)";

// language=SQL
/// Deletes up to `?1` `workflow_output` rows whose status row is gone, oldest
/// `retention_timestamp` first.
pub(crate) const SWEEP_ORPHAN_OUTPUTS: &str = "\
DELETE FROM workflow_output WHERE workflow_uuid IN (
    SELECT wo.workflow_uuid FROM workflow_output wo
    WHERE NOT EXISTS (SELECT 1 FROM workflow_status ws WHERE ws.workflow_uuid = wo.workflow_uuid)
    ORDER BY wo.retention_timestamp, wo.workflow_uuid
    LIMIT ?1)";

// language=SQL
/// Deletes up to `?1` `operation_outputs` rows whose status row is gone, oldest
/// `retention_timestamp` first (keyed by `(workflow_uuid, function_id)`).
pub(crate) const SWEEP_ORPHAN_STEPS: &str = "\
DELETE FROM operation_outputs WHERE (workflow_uuid, function_id) IN (
    SELECT oo.workflow_uuid, oo.function_id FROM operation_outputs oo
    WHERE NOT EXISTS (SELECT 1 FROM workflow_status ws WHERE ws.workflow_uuid = oo.workflow_uuid)
    ORDER BY oo.retention_timestamp, oo.workflow_uuid, oo.function_id
    LIMIT ?1)";
