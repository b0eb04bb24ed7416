//! Statements of named cron schedules (`workflow_schedules`).
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built.

/// The columns read into a `Schedule`, in the order `store::schedules` reads them.
macro_rules! schedule_columns {
    () => {
        "schedule_id, schedule_name, workflow_name, workflow_class_name, schedule, status, \
         context, last_fired_at, automatic_backfill, cron_timezone, queue_name, application_name"
    };
}

// language=SQL
/// The owner of schedule `$1` (by name), its row locked until the transaction ends.
pub(crate) const LOCK_SCHEDULE_OWNER: &str = "\
SELECT application_name FROM {schema}.workflow_schedules WHERE schedule_name = $1 FOR UPDATE";

// language=SQL
/// Whether a schedule with id `$1` exists.
pub(crate) const SCHEDULE_ID_EXISTS: &str = "\
SELECT 1 FROM {schema}.workflow_schedules WHERE schedule_id = $1";

// language=SQL
/// Creates a schedule unless its name or id exists; `$1`…`$12` in the column order of
/// `schedule_columns!`. Returns a row when it was created.
pub(crate) const INSERT_SCHEDULE: &str = concat!(
    "INSERT INTO {schema}.workflow_schedules (",
    schedule_columns!(),
    ")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT DO NOTHING
RETURNING schedule_id"
);

// language=SQL
/// Creates a schedule, or updates the definition of the one with the same name: it keeps its
/// id, status and `last_fired_at`, and its owner unless it was unclaimed. Parameters as
/// [`INSERT_SCHEDULE`].
pub(crate) const UPSERT_SCHEDULE: &str = concat!(
    "INSERT INTO {schema}.workflow_schedules (",
    schedule_columns!(),
    ")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (schedule_name) DO UPDATE
SET workflow_name = EXCLUDED.workflow_name,
    workflow_class_name = EXCLUDED.workflow_class_name,
    schedule = EXCLUDED.schedule,
    context = EXCLUDED.context,
    automatic_backfill = EXCLUDED.automatic_backfill,
    cron_timezone = EXCLUDED.cron_timezone,
    queue_name = EXCLUDED.queue_name,
    application_name = COALESCE(workflow_schedules.application_name, EXCLUDED.application_name)"
);

// language=SQL
/// Schedules passing every given filter, by name: `$1` status, `$2` workflow name, `$3` name
/// prefix (compared literally), `$4` application (its own plus unclaimed); NULL skips a filter.
pub(crate) const LIST_SCHEDULES: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    "
FROM {schema}.workflow_schedules
WHERE ($1::text IS NULL OR status = $1::text)
  AND ($2::text IS NULL OR workflow_name = $2::text)
  AND ($3::text IS NULL OR left(schedule_name, length($3::text)) = $3::text)
  AND ($4::text IS NULL OR application_name = $4::text OR application_name IS NULL)
ORDER BY schedule_name"
);

// language=SQL
/// One schedule by name (`$1`).
pub(crate) const SELECT_SCHEDULE: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM {schema}.workflow_schedules WHERE schedule_name = $1"
);

// language=SQL
/// Sets the status of schedule `$1` to `$2`; returns a row when it exists.
pub(crate) const SET_SCHEDULE_STATUS: &str = "\
UPDATE {schema}.workflow_schedules SET status = $2 WHERE schedule_name = $1
RETURNING schedule_id";

// language=SQL
/// Records when schedule `$1` last fired (`$2`, ISO-8601 text); returns a row when it exists.
pub(crate) const SET_SCHEDULE_FIRED: &str = "\
UPDATE {schema}.workflow_schedules SET last_fired_at = $2 WHERE schedule_name = $1
RETURNING schedule_id";

// language=SQL
/// Deletes schedule `$1`; returns a row when it existed.
pub(crate) const DELETE_SCHEDULE: &str = "\
DELETE FROM {schema}.workflow_schedules WHERE schedule_name = $1 RETURNING schedule_id";
