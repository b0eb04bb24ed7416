//! Statements of the raw-write baseline ([`crate::RawBaseline`]). `{schema}` is the scratch
//! schema, `{source}` the store's schema.

// language=SQL
/// Creates the scratch schema (fails when it exists, so nothing of the user's is reused).
pub(crate) const CREATE_SCHEMA: &str = "CREATE SCHEMA {schema}";

// language=SQL
/// Copies of the workflow and step tables: same columns, defaults, constraints and indexes.
pub(crate) const CREATE_TABLES: &str = "\
CREATE TABLE {schema}.workflow_status (LIKE {source}.workflow_status INCLUDING ALL);
CREATE TABLE {schema}.operation_outputs (LIKE {source}.operation_outputs INCLUDING ALL);";

// language=SQL
/// One workflow row, as a direct start writes it (`$1` id, `$2` now, `$3` token).
pub(crate) const INSERT_WORKFLOW: &str = "\
INSERT INTO {schema}.workflow_status (
    workflow_uuid, status, name, executor_id, application_version, created_at, updated_at,
    recovery_attempts, owner_xid, creator_xid)
VALUES ($1, 'PENDING', 'bench_workflow', 'bench', 'bench', $2, $2, 1, $3, $3)";

// language=SQL
/// One step row (`$1` workflow, `$2` function id, `$3` output, `$4` now).
pub(crate) const INSERT_STEP: &str = "\
INSERT INTO {schema}.operation_outputs (
    workflow_uuid, function_id, function_name, output, started_at_epoch_ms,
    completed_at_epoch_ms)
VALUES ($1, $2, 'bench_step', $3, $4, $4)";

// language=SQL
/// A workflow's outcome (`$1` id, `$2` now).
pub(crate) const FINISH_WORKFLOW: &str = "\
UPDATE {schema}.workflow_status
SET status = 'SUCCESS', owner_xid = NULL, updated_at = $2, completed_at = $2
WHERE workflow_uuid = $1";
