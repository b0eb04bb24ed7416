//! Statements of metrics: workflow and step counts per time bucket.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. A bucket
//! starts at `t - ((t - start) % width)` (`start + floor((t - start) / width) * width` for
//! `t >= start`); `%` keeps integers integral on PostgreSQL and CockroachDB alike (CockroachDB's
//! `/` on integers gives a decimal).

// language=SQL
/// Workflows created in `[$1, $2)` per bucket of `$3` ms, name and status, scoped to
/// application `$4` plus unclaimed rows when `$4` is not NULL.
pub(crate) const WORKFLOW_COUNTS: &str = "\
SELECT ws.created_at - ((ws.created_at - $1::bigint) % $3::bigint) AS bucket_start,
    COALESCE(ws.name, '') AS name, COALESCE(ws.status, '') AS status, count(*)
FROM {schema}.workflow_status ws
WHERE ws.created_at >= $1::bigint AND ws.created_at < $2::bigint
  AND ($4::text IS NULL OR ws.application_name = $4::text OR ws.application_name IS NULL)
GROUP BY 1, 2, 3";

// language=SQL
/// Steps completed in `[$1, $2)` per bucket of `$3` ms and function name, with how many
/// recorded an error, scoped as [`WORKFLOW_COUNTS`].
pub(crate) const STEP_COUNTS: &str = "\
SELECT o.completed_at_epoch_ms - ((o.completed_at_epoch_ms - $1::bigint) % $3::bigint)
        AS bucket_start,
    o.function_name, count(*), count(o.error)
FROM {schema}.operation_outputs o
WHERE o.completed_at_epoch_ms >= $1::bigint AND o.completed_at_epoch_ms < $2::bigint
  AND ($4::text IS NULL OR o.application_name = $4::text OR o.application_name IS NULL)
GROUP BY 1, 2";
