//! Metrics statements: workflows and steps counted per time bucket.
//!
//! A bucket starts at `:start + ((t - :start) / :width) * :width`: integer division, and
//! `t >= :start`, so it rounds down as `MetricsQuery::bucket_start` does. Times stored as REAL
//! by another writer are truncated to whole milliseconds first.

// language=SQL
/// Workflows created in `[:start, :end)` per bucket, name and status, scoped to
/// `:application_name` plus unclaimed rows when it is not NULL. Named parameters `:start`,
/// `:end`, `:width`, `:application_name`.
pub(crate) const WORKFLOW_COUNTS: &str = "\
SELECT :start + ((CAST(created_at AS INTEGER) - :start) / :width) * :width AS bucket,
    COALESCE(name, '') AS workflow_name, COALESCE(status, '') AS workflow_status, count(*)
FROM workflow_status
WHERE created_at >= :start AND created_at < :end
  AND (:application_name IS NULL OR application_name = :application_name
       OR application_name IS NULL)
GROUP BY bucket, workflow_name, workflow_status";

// language=SQL
/// Steps completed in `[:start, :end)` per bucket and function name, with how many recorded an
/// error. Named parameters as [`WORKFLOW_COUNTS`].
pub(crate) const STEP_COUNTS: &str = "\
SELECT :start + ((CAST(completed_at_epoch_ms AS INTEGER) - :start) / :width) * :width AS bucket,
    function_name, count(*), sum(error IS NOT NULL)
FROM operation_outputs
WHERE completed_at_epoch_ms >= :start AND completed_at_epoch_ms < :end
  AND (:application_name IS NULL OR application_name = :application_name
       OR application_name IS NULL)
GROUP BY bucket, function_name";
