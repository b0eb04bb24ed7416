//! Statements of direct recovery (`recover_workflow`) and of the hand-back of a claimed
//! workflow to its queue (`return_to_queue`). The dead-letter past the limit reuses
//! [`super::queues::DEAD_LETTER_WORKFLOWS`].

use super::workflows::now_ms;

// language=SQL
/// The columns that decide a take-over of workflow `$1` (status, queue, executor, owner token,
/// `recovery_attempts` with NULL read as 0), its row locked until the transaction ends: a second
/// recoverer waits, then reads the first one's take-over.
pub(crate) const SELECT_RECOVERY_CANDIDATE: &str = "\
SELECT status, queue_name, executor_id, owner_xid, COALESCE(recovery_attempts, 0)
FROM {schema}.workflow_status WHERE workflow_uuid = $1
FOR UPDATE";

// language=SQL
/// Takes `PENDING` workflow `$1` over for executor `$2` with owner token `$3`: one more
/// recovery attempt. Returns the new `recovery_attempts`.
pub(crate) const TAKE_OVER_WORKFLOW: &str = concat!(
    "UPDATE {schema}.workflow_status
SET recovery_attempts = COALESCE(recovery_attempts, 0) + 1, executor_id = $2, owner_xid = $3,
    updated_at = ",
    now_ms!(),
    "
WHERE workflow_uuid = $1 AND (status = 'PENDING') IS TRUE
RETURNING recovery_attempts"
);

// language=SQL
/// Returns workflow `$1` to its queue when it is `PENDING` on a queue and owned by `$2`, as
/// DBOS's `clear_queue_assignment` does, plus the owner token cleared.
pub(crate) const RETURN_TO_QUEUE: &str = concat!(
    "UPDATE {schema}.workflow_status
SET status = 'ENQUEUED', started_at_epoch_ms = NULL, owner_xid = NULL, updated_at = ",
    now_ms!(),
    "
WHERE workflow_uuid = $1 AND queue_name IS NOT NULL AND (status = 'PENDING') IS TRUE
  AND owner_xid = $2"
);
