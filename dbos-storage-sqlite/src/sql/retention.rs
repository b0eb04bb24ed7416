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
/// One window of the walk over workflows in creation order: the first `:limit + 1` workflows
/// (any status) at or after position (`:from_created_at`, `:from_id`), in
/// `(created_at, workflow_uuid)` order, each with whether retention may delete it: finished, and
/// finished before `:completed_before` (NULL: no cutoff) or not among the `:keep_newest` newest
/// workflows of the table (NULL: no count rule). The first `:limit` rows are the window; the
/// last, if there is one, is where the next window starts.
///
/// The walk seeks the creation-time index to `:from_created_at` and reads on from there, so
/// the statement reads about `:limit` index entries (plus those created in the start's
/// millisecond before `:from_id`), whatever earlier windows deleted. The newest workflow
/// outside the kept ones is an uncorrelated subquery, which SQLite runs once. When the table
/// holds no workflow past the kept ones, the comparison with it is NULL: `collectable` is then
/// 0 (`COALESCE`), never NULL.
pub(crate) const COLLECTABLE_WORKFLOWS: &str = concat!(
    "WITH walk AS (
    SELECT ws.created_at, ws.workflow_uuid, ws.status, ws.completed_at, ws.updated_at
    FROM workflow_status ws
    WHERE ws.created_at >= :from_created_at
      AND (ws.created_at > :from_created_at OR ws.workflow_uuid >= :from_id)
    ORDER BY ws.created_at, ws.workflow_uuid
    LIMIT :limit + 1
)
SELECT w.created_at, w.workflow_uuid,
    COALESCE(w.status IN ",
    terminal_statuses!(),
    " AND (
        (:completed_before IS NOT NULL
         AND COALESCE(w.completed_at, w.updated_at) < :completed_before)
     OR (:keep_newest IS NOT NULL AND (w.created_at, w.workflow_uuid) <= (
            SELECT n.created_at, n.workflow_uuid FROM workflow_status n
            ORDER BY n.created_at DESC, n.workflow_uuid DESC
            LIMIT 1 OFFSET COALESCE(:keep_newest, 0)))
    ), 0) AS collectable
FROM walk w
ORDER BY w.created_at, w.workflow_uuid"
);

// language=SQL
/// The workflows of a list (`?1`, a JSON array) that are still finished.
pub(crate) const SELECT_TERMINAL_IDS: &str = concat!(
    "SELECT workflow_uuid FROM workflow_status \
     WHERE workflow_uuid IN (SELECT value FROM json_each(?1)) AND status IN ",
    terminal_statuses!()
);

// language=SQL
/// The end of a sweep window that starts at `?1` (inclusive; `''` for the first window): the
/// smallest, over the three payload tables, of the id `?2` distinct ids past the window's
/// start, so the window `[?1, end)` holds at most `?2` ids of each table. NULL when every table
/// has `?2` ids or fewer from `?1` on (the window runs to the end). Each arm reads at most
/// `?2 + 1` index entries.
pub(crate) const SWEEP_WINDOW_END: &str = "\
SELECT min(window_end) FROM (
    SELECT (SELECT workflow_uuid FROM workflow_input WHERE workflow_uuid >= ?1
            ORDER BY workflow_uuid LIMIT 1 OFFSET ?2) AS window_end
    UNION ALL
    SELECT (SELECT workflow_uuid FROM workflow_output WHERE workflow_uuid >= ?1
            ORDER BY workflow_uuid LIMIT 1 OFFSET ?2)
    UNION ALL
    SELECT (SELECT DISTINCT workflow_uuid FROM operation_outputs WHERE workflow_uuid >= ?1
            ORDER BY workflow_uuid LIMIT 1 OFFSET ?2)
)";

/// The sweep of one payload table: deletes, among the first `?2` workflow ids of the table from
/// `?1` on that come before `?3` (NULL: no end), those whose status row is gone. The inner scan
/// stops after `?2` ids, so the statement reads about `?2` index entries.
macro_rules! sweep_orphans_of {
    ($table:literal) => {
        concat!(
            "DELETE FROM ",
            $table,
            " WHERE workflow_uuid IN (
    SELECT w.workflow_uuid FROM (
        SELECT DISTINCT workflow_uuid FROM ",
            $table,
            " WHERE workflow_uuid >= ?1 ORDER BY workflow_uuid LIMIT ?2
    ) w
    WHERE (?3 IS NULL OR w.workflow_uuid < ?3)
      AND NOT EXISTS (SELECT 1 FROM workflow_status ws WHERE ws.workflow_uuid = w.workflow_uuid))"
        )
    };
}

// language=SQL
/// Deletes the orphaned `workflow_input` rows of a sweep window (see `sweep_orphans_of`).
pub(crate) const SWEEP_ORPHAN_INPUTS: &str = sweep_orphans_of!("workflow_input");

// language=SQL
/// Deletes the orphaned `workflow_output` rows of a sweep window (see `sweep_orphans_of`).
pub(crate) const SWEEP_ORPHAN_OUTPUTS: &str = sweep_orphans_of!("workflow_output");

// language=SQL
/// Deletes the orphaned `operation_outputs` rows of a sweep window, every step of each
/// orphaned workflow (see `sweep_orphans_of`).
pub(crate) const SWEEP_ORPHAN_STEPS: &str = sweep_orphans_of!("operation_outputs");
