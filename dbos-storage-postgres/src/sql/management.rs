//! Statements of the operator actions: cancel, resume, delete and attributes.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. The
//! children of a level come from [`super::workflows::SELECT_CHILDREN`].

use super::workflows::now_ms;

// language=SQL
/// Cancels workflows that are neither finished nor already cancelled (`$1` text[]); returns
/// the ids that changed.
pub(crate) const CANCEL_WORKFLOWS: &str = concat!(
    "UPDATE {schema}.workflow_status
SET status = 'CANCELLED', owner_xid = NULL, queue_name = NULL, deduplication_id = NULL,
    started_at_epoch_ms = NULL, updated_at = ",
    now_ms!(),
    ", completed_at = ",
    now_ms!(),
    "
WHERE workflow_uuid = ANY($1)
  AND status NOT IN ('SUCCESS', 'ERROR', 'CANCELLED')
RETURNING workflow_uuid"
);

// language=SQL
/// The ids of a list (`$1` text[]) that exist.
pub(crate) const SELECT_EXISTING_IDS: &str = "\
SELECT workflow_uuid FROM {schema}.workflow_status WHERE workflow_uuid = ANY($1)";

// language=SQL
/// Re-enqueues workflows that are not finished (`$1` text[], `$2` queue); returns the ids
/// that changed.
pub(crate) const RESUME_WORKFLOWS: &str = concat!(
    "UPDATE {schema}.workflow_status
SET status = 'ENQUEUED', queue_name = $2, owner_xid = NULL,
    workflow_deadline_epoch_ms = NULL, deduplication_id = NULL, started_at_epoch_ms = NULL,
    completed_at = NULL, recovery_attempts = 0, updated_at = ",
    now_ms!(),
    "
WHERE workflow_uuid = ANY($1)
  AND status NOT IN ('SUCCESS', 'ERROR')
RETURNING workflow_uuid"
);

// language=SQL
/// Deletes the inputs of a list of workflows (`$1` text[]; no foreign key, so explicitly).
pub(crate) const DELETE_INPUTS: &str = "\
DELETE FROM {schema}.workflow_input WHERE workflow_uuid = ANY($1)";

// language=SQL
/// Deletes the outcomes of a list of workflows (`$1` text[]).
pub(crate) const DELETE_OUTPUTS: &str = "\
DELETE FROM {schema}.workflow_output WHERE workflow_uuid = ANY($1)";

// language=SQL
/// Deletes the steps of a list of workflows (`$1` text[]), each id looked up in the primary key.
///
/// The bounds (the list's least and greatest id) are implied by the list and change no result:
/// they give a planner without statistics (a table never analyzed) a narrow range, so it looks
/// the ids up in the primary key, where `= ANY($1)` alone, a prefix of a key that is not unique,
/// gets a default selectivity (half the table for a hundred ids) and a scan of the whole table.
pub(crate) const DELETE_STEPS: &str = "\
DELETE FROM {schema}.operation_outputs
WHERE workflow_uuid = ANY($1::text[])
  AND workflow_uuid >= (SELECT min(id) FROM unnest($1::text[]) AS ids(id))
  AND workflow_uuid <= (SELECT max(id) FROM unnest($1::text[]) AS ids(id))";

// language=SQL
/// Deletes the status rows of a list of workflows (`$1` text[]); messages, events, event history
/// and streams go with them (foreign keys with `ON DELETE CASCADE`). Returns the ids deleted.
pub(crate) const DELETE_STATUSES: &str = "\
DELETE FROM {schema}.workflow_status WHERE workflow_uuid = ANY($1) RETURNING workflow_uuid";

// language=SQL
/// Replaces (`$3` false) or merges into (`$3` true, `jsonb ||`, a stored value that is not an
/// object counting as empty) the attributes of workflow `$1` with `$2` (a jsonb object, or JSON
/// `null` to clear them). Returns the stored attributes.
pub(crate) const UPDATE_ATTRIBUTES: &str = "\
UPDATE {schema}.workflow_status
SET attributes = CASE
    WHEN $3::boolean AND jsonb_typeof(attributes) = 'object' THEN attributes || $2::jsonb
    ELSE $2::jsonb
END
WHERE workflow_uuid = $1
RETURNING attributes";
