//! Statements of `rename_application`.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. Every
//! statement takes `$1` the application moved (NULL: unclaimed rows), `$2` the new name and `$3`
//! whether unclaimed rows are adopted too; a row already owned by `$2` does not move. Lease rows
//! of `queues` never match: their owner is the reserved lease application, which no rename may
//! name.

/// Whether row `x` moves.
macro_rules! moving {
    () => {
        "(x.application_name = $1::text
      OR (($1::text IS NULL OR $3::boolean) AND x.application_name IS NULL))
  AND x.application_name IS DISTINCT FROM $2::text"
    };
}

// language=SQL
/// A version that would move while `$2` already has one of the same name.
pub(crate) const SELECT_TAKEN_VERSION: &str = concat!(
    "SELECT x.version_name FROM {schema}.application_versions x
WHERE ",
    moving!(),
    "
  AND EXISTS (
    SELECT 1 FROM {schema}.application_versions t
    WHERE t.application_name = $2::text AND t.version_name = x.version_name)
ORDER BY x.version_name
LIMIT 1"
);

// language=SQL
/// A version name that two moving rows share (the application's and an adopted unclaimed one).
pub(crate) const SELECT_DOUBLE_VERSION: &str = concat!(
    "SELECT x.version_name FROM {schema}.application_versions x
WHERE ",
    moving!(),
    "
GROUP BY x.version_name
HAVING count(*) > 1
ORDER BY x.version_name
LIMIT 1"
);

// language=SQL
/// Moves the queue registry rows.
pub(crate) const MOVE_QUEUES: &str = concat!(
    "UPDATE {schema}.queues AS x SET application_name = $2::text WHERE ",
    moving!()
);

// language=SQL
/// Moves the schedules.
pub(crate) const MOVE_SCHEDULES: &str = concat!(
    "UPDATE {schema}.workflow_schedules AS x SET application_name = $2::text WHERE ",
    moving!()
);

// language=SQL
/// Moves the application versions.
pub(crate) const MOVE_VERSIONS: &str = concat!(
    "UPDATE {schema}.application_versions AS x SET application_name = $2::text WHERE ",
    moving!()
);

// language=SQL
/// Moves the workflows that are in flight (`ENQUEUED`, `PENDING`, `DELAYED`).
pub(crate) const MOVE_ACTIVE_WORKFLOWS: &str = concat!(
    "UPDATE {schema}.workflow_status AS x SET application_name = $2::text WHERE ",
    moving!(),
    "
  AND x.status IN ('ENQUEUED', 'PENDING', 'DELAYED')"
);

// language=SQL
/// Moves the next `$4` other workflows, by id.
pub(crate) const MOVE_WORKFLOW_BATCH: &str = concat!(
    "UPDATE {schema}.workflow_status SET application_name = $2::text
WHERE workflow_uuid IN (
    SELECT x.workflow_uuid FROM {schema}.workflow_status x
    WHERE ",
    moving!(),
    "
      AND (x.status IS NULL OR x.status NOT IN ('ENQUEUED', 'PENDING', 'DELAYED'))
    ORDER BY x.workflow_uuid
    LIMIT $4)"
);

// language=SQL
/// Moves the next `$4` step rows, by primary key.
pub(crate) const MOVE_STEP_BATCH: &str = concat!(
    "UPDATE {schema}.operation_outputs SET application_name = $2::text
WHERE (workflow_uuid, function_id) IN (
    SELECT x.workflow_uuid, x.function_id FROM {schema}.operation_outputs x
    WHERE ",
    moving!(),
    "
    ORDER BY x.workflow_uuid, x.function_id
    LIMIT $4)"
);
