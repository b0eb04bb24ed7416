//! Statements of `rename_application`.
//!
//! A row *matches* when its `application_name` is `:from`, or is NULL and either `:from` is
//! NULL (moving unclaimed rows) or `:adopt` is true (claiming them too). Lease rows of `queues`
//! (`application_name = :lease_application`) never match.

/// The rows of the application being renamed, for a table alias; rows `:to` owns already
/// never match (so renaming an application to itself while adopting unclaimed rows moves, and
/// counts, only the unclaimed ones).
macro_rules! renamed {
    ($alias:literal) => {
        concat!(
            "((",
            $alias,
            "application_name = :from OR (",
            $alias,
            "application_name IS NULL AND (:from IS NULL OR :adopt))) AND ",
            $alias,
            "application_name IS NOT :to)"
        )
    };
}

// language=SQL
/// A version name that would move while `:to` already has it (the first by name), if any;
/// rows `:to` owns already do not move. Named parameters `:from`, `:adopt`, `:to`.
pub(crate) const VERSION_CLASH: &str = concat!(
    "SELECT v.version_name FROM application_versions v WHERE ",
    renamed!("v."),
    " AND v.application_name IS NOT :to AND EXISTS (SELECT 1 FROM application_versions o \
                  WHERE o.application_name = :to AND o.version_name = v.version_name) \
     ORDER BY v.version_name LIMIT 1"
);

// language=SQL
/// Moves the queue registry rows, never lease rows. Named parameters `:from`, `:adopt`, `:to`,
/// `:lease_application`.
pub(crate) const MOVE_QUEUES: &str = concat!(
    "UPDATE queues SET application_name = :to WHERE ",
    renamed!(""),
    " AND application_name IS NOT :lease_application"
);

// language=SQL
/// Moves the schedules. Named parameters `:from`, `:adopt`, `:to`.
pub(crate) const MOVE_SCHEDULES: &str = concat!(
    "UPDATE workflow_schedules SET application_name = :to WHERE ",
    renamed!("")
);

// language=SQL
/// Moves the application versions. Named parameters `:from`, `:adopt`, `:to`.
pub(crate) const MOVE_VERSIONS: &str = concat!(
    "UPDATE application_versions SET application_name = :to WHERE ",
    renamed!("")
);

// language=SQL
/// Moves the workflows that are `ENQUEUED`, `PENDING` or `DELAYED`. Named parameters `:from`,
/// `:adopt`, `:to`.
pub(crate) const MOVE_ACTIVE_WORKFLOWS: &str = concat!(
    "UPDATE workflow_status SET application_name = :to WHERE ",
    renamed!(""),
    " AND status IN ('ENQUEUED', 'PENDING', 'DELAYED')"
);

// language=SQL
/// Moves the next batch of workflows after `:after` (NULL = from the start) in id order, up
/// to `:batch` rows; returns their ids. Named parameters `:from`, `:adopt`, `:to`, `:after`,
/// `:batch`.
pub(crate) const MOVE_WORKFLOW_BATCH: &str = concat!(
    "UPDATE workflow_status SET application_name = :to WHERE workflow_uuid IN ( \
         SELECT ws.workflow_uuid FROM workflow_status ws \
         WHERE (:after IS NULL OR ws.workflow_uuid > :after) AND ",
    renamed!("ws."),
    " ORDER BY ws.workflow_uuid LIMIT :batch) \
     RETURNING workflow_uuid"
);

// language=SQL
/// Moves the next batch of step rows after `(:after_id, :after_step)` (NULL = from the start)
/// in key order, up to `:batch` rows; returns their keys. Named parameters `:from`, `:adopt`,
/// `:to`, `:after_id`, `:after_step`, `:batch`.
pub(crate) const MOVE_STEP_BATCH: &str = concat!(
    "UPDATE operation_outputs SET application_name = :to \
     WHERE (workflow_uuid, function_id) IN ( \
         SELECT oo.workflow_uuid, oo.function_id FROM operation_outputs oo \
         WHERE (:after_id IS NULL OR (oo.workflow_uuid, oo.function_id) > (:after_id, :after_step)) \
           AND ",
    renamed!("oo."),
    " ORDER BY oo.workflow_uuid, oo.function_id LIMIT :batch) \
     RETURNING workflow_uuid, function_id"
);
