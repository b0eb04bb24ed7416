//! Schedule statements: `workflow_schedules`.

/// The columns read into a `Schedule`, in the order `read_schedule` expects.
macro_rules! schedule_columns {
    () => {
        "schedule_id, schedule_name, workflow_name, workflow_class_name, schedule, status, \
         context, last_fired_at, automatic_backfill, cron_timezone, queue_name, application_name"
    };
}

// language=SQL
/// A schedule by name (`?1`).
pub(crate) const SELECT_SCHEDULE: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM workflow_schedules WHERE schedule_name = ?1"
);

// language=SQL
/// Whether a schedule id is taken (`?1`).
pub(crate) const SCHEDULE_ID_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM workflow_schedules WHERE schedule_id = ?1)";

// language=SQL
/// Inserts a schedule with every column as given (`?1` … `?12` in the order of the columns).
pub(crate) const INSERT_SCHEDULE: &str = concat!(
    "INSERT INTO workflow_schedules (",
    schedule_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
);

// language=SQL
/// Updates the definition of a schedule, keeping its id, status and `last_fired_at`, and its
/// owner unless it was unclaimed (`?1` name, `?2` workflow name, `?3` class, `?4` cron
/// expression, `?5` context, `?6` backfill, `?7` time zone, `?8` queue, `?9` owner).
pub(crate) const UPDATE_SCHEDULE_DEFINITION: &str = "\
UPDATE workflow_schedules
SET workflow_name = ?2, workflow_class_name = ?3, schedule = ?4, context = ?5,
    automatic_backfill = ?6, cron_timezone = ?7, queue_name = ?8,
    application_name = COALESCE(application_name, ?9)
WHERE schedule_name = ?1";

// language=SQL
/// Schedules passing the filters, by name. Named parameters, each NULL for no filter:
/// `:status`, `:workflow_name`, `:name_prefix` (a literal prefix), `:application_name` (own plus
/// unclaimed).
pub(crate) const LIST_SCHEDULES: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM workflow_schedules \
     WHERE (:status IS NULL OR status = :status) \
       AND (:workflow_name IS NULL OR workflow_name = :workflow_name) \
       AND (:name_prefix IS NULL \
            OR substr(schedule_name, 1, length(:name_prefix)) = :name_prefix) \
       AND (:application_name IS NULL OR application_name = :application_name \
            OR application_name IS NULL) \
     ORDER BY schedule_name"
);

// language=SQL
/// Sets a schedule's status (`?1` name, `?2` status).
pub(crate) const SET_SCHEDULE_STATUS: &str =
    "UPDATE workflow_schedules SET status = ?2 WHERE schedule_name = ?1";

// language=SQL
/// Records when a schedule last fired (`?1` name, `?2` ISO-8601 text as given).
pub(crate) const SET_LAST_FIRED_AT: &str =
    "UPDATE workflow_schedules SET last_fired_at = ?2 WHERE schedule_name = ?1";

// language=SQL
/// Deletes a schedule (`?1` name).
pub(crate) const DELETE_SCHEDULE: &str = "DELETE FROM workflow_schedules WHERE schedule_name = ?1";
