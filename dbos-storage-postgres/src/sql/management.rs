//! Statements of the operator actions: cancel and resume.
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
