//! Statements of retention: maintenance leases kept as rows of `queues`, the selection of
//! collectable workflows, and the sweep of payload rows whose workflow is gone.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. Nothing
//! here uses an advisory lock or `ctid` (CockroachDB has neither): a lease is one conditional
//! upsert, and orphans are addressed by their primary keys.

use super::workflows::now_ms;

/// The statuses retention may delete (`WorkflowStatus::is_terminal`).
macro_rules! terminal_statuses {
    () => {
        "('SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')"
    };
}

// language=SQL
/// Takes or renews a lease: inserts its row (`$1` queue_id naming the holder, `$2` row name,
/// `$3` the lease application, `$4` ttl ms), or takes the existing row over only when it is the
/// same holder's or expired. Returns the row when the caller holds the lease now.
pub(crate) const TAKE_LEASE: &str = concat!(
    "INSERT INTO {schema}.queues (queue_id, name, application_name, created_at, updated_at)
VALUES ($1::text, $2::text, $3::text, ",
    now_ms!(),
    ", LEAST(",
    now_ms!(),
    "::numeric + $4::bigint, 9223372036854775807)::bigint)
ON CONFLICT (name) DO UPDATE
SET queue_id = EXCLUDED.queue_id, updated_at = EXCLUDED.updated_at
WHERE queues.queue_id = EXCLUDED.queue_id OR queues.updated_at < ",
    now_ms!(),
    "
RETURNING queue_id, updated_at"
);

// language=SQL
/// The holder (`queue_id`) and expiry of lease row `$1`.
pub(crate) const SELECT_LEASE: &str = "\
SELECT queue_id, updated_at FROM {schema}.queues WHERE name = $1";

// language=SQL
/// Gives a lease up: deletes row `$1` if holder `$2` has it. Returns a row when it did.
pub(crate) const RELEASE_LEASE: &str = "\
DELETE FROM {schema}.queues WHERE name = $1 AND queue_id = $2 RETURNING name";

// language=SQL
/// One window of the walk over workflows in creation order: the first `$3 + 1` workflows (any
/// status) at or after position (`$4` created_at, `$5` id), in `(created_at, workflow_uuid)`
/// order, each with whether retention may delete it: finished, and finished before `$1` (NULL:
/// no cutoff) or not among the `$2` newest workflows of the table (NULL: no count rule). The
/// first `$3` rows are the window; the last, if there is one, is where the next window starts.
///
/// The walk seeks the creation-time index to `$4` and reads on from there, so the statement
/// reads about `$3` index entries (plus those created in `$4`'s millisecond before `$5`),
/// whatever earlier windows deleted. The `cut` row is the newest workflow outside the kept
/// ones, read once (`MATERIALIZED`) rather than once per row of the window. `collectable` is
/// never NULL (`COALESCE`), even for a row without completion or update time.
pub(crate) const SELECT_COLLECTABLE: &str = concat!(
    "WITH cut AS MATERIALIZED (
    SELECT created_at, workflow_uuid FROM {schema}.workflow_status
    ORDER BY created_at DESC, workflow_uuid DESC
    LIMIT 1 OFFSET COALESCE($2::bigint, 0)
), walk AS (
    SELECT ws.created_at, ws.workflow_uuid, ws.status, ws.completed_at, ws.updated_at
    FROM {schema}.workflow_status ws
    WHERE ws.created_at >= $4::bigint
      AND (ws.created_at > $4::bigint OR ws.workflow_uuid >= $5::text)
    ORDER BY ws.created_at, ws.workflow_uuid
    LIMIT $3::bigint + 1
)
SELECT w.created_at, w.workflow_uuid,
    COALESCE(w.status IN ",
    terminal_statuses!(),
    " AND ((
        $1::bigint IS NOT NULL AND COALESCE(w.completed_at, w.updated_at) < $1::bigint
    ) OR (
        $2::bigint IS NOT NULL AND EXISTS (
            SELECT 1 FROM cut
            WHERE (w.created_at, w.workflow_uuid) <= (cut.created_at, cut.workflow_uuid))
    )), FALSE) AS collectable
FROM walk w
ORDER BY w.created_at, w.workflow_uuid"
);

// language=SQL
/// Lets the collector's transaction commit without waiting for its WAL flush
/// ([`Dialect::collector_skips_commit_flush`](crate::Dialect::collector_skips_commit_flush)).
pub(crate) const SKIP_COMMIT_FLUSH: &str = "SET LOCAL synchronous_commit = off";

// language=SQL
/// The workflows of a list (`$1` text[]) that are still finished, locked until the
/// transaction ends (a workflow resumed meanwhile is left out).
pub(crate) const LOCK_FINISHED: &str = concat!(
    "SELECT workflow_uuid FROM {schema}.workflow_status
WHERE workflow_uuid = ANY($1) AND status IN ",
    terminal_statuses!(),
    "
FOR UPDATE"
);

// language=SQL
/// The end of a sweep window that starts at `$1` (inclusive; `''` for the first window): the
/// smallest, over the three payload tables, of the id `$2` distinct ids past the window's
/// start, so the window `[$1, end)` holds at most `$2` ids of each table. NULL when every table
/// has `$2` ids or fewer from `$1` on (the window runs to the end). Each arm reads at most
/// `$2 + 1` index entries.
pub(crate) const SWEEP_WINDOW_END: &str = "\
SELECT min(window_end) FROM (
    SELECT (SELECT workflow_uuid FROM {schema}.workflow_input WHERE workflow_uuid >= $1
            ORDER BY workflow_uuid LIMIT 1 OFFSET $2) AS window_end
    UNION ALL
    SELECT (SELECT workflow_uuid FROM {schema}.workflow_output WHERE workflow_uuid >= $1
            ORDER BY workflow_uuid LIMIT 1 OFFSET $2)
    UNION ALL
    SELECT (SELECT workflow_uuid FROM {schema}.operation_outputs WHERE workflow_uuid >= $1
            GROUP BY workflow_uuid ORDER BY workflow_uuid LIMIT 1 OFFSET $2)
) ends";

/// The sweep of one payload table: deletes, among the first `$2` workflow ids of `$table` from
/// `$1` on that come before `$3` (NULL: no end), those whose status row is gone. The inner scan
/// stops after `$2` ids, so the statement reads about `$2` index entries.
macro_rules! sweep_orphans_of {
    ($table:literal) => {
        concat!(
            "DELETE FROM {schema}.",
            $table,
            " WHERE workflow_uuid IN (
    SELECT w.workflow_uuid FROM (
        SELECT DISTINCT workflow_uuid FROM {schema}.",
            $table,
            "
        WHERE workflow_uuid >= $1 ORDER BY workflow_uuid LIMIT $2
    ) w
    WHERE ($3::text IS NULL OR w.workflow_uuid < $3)
      AND NOT EXISTS (
        SELECT 1 FROM {schema}.workflow_status ws WHERE ws.workflow_uuid = w.workflow_uuid))"
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
