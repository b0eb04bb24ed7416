//! What a workflow's status means to the model, from the status table of the contract: a
//! workflow with work left, one that ended, and one that ended with an outcome.

use dbos_storage_core::WorkflowStatus;

/// The meaning of a [`WorkflowStatus`], as the model reads it.
pub(super) trait StatusMeaning {
    /// Work is left: `PENDING`, `ENQUEUED` or `DELAYED`.
    fn has_work_left(&self) -> bool;
    /// It ended: `SUCCESS`, `ERROR`, `CANCELLED` or `MAX_RECOVERY_ATTEMPTS_EXCEEDED` (a status
    /// this build does not know neither has work left nor ended).
    fn ended(&self) -> bool;
    /// It ended with an outcome (`SUCCESS` or `ERROR`), which a cancel never overwrites.
    fn has_outcome(&self) -> bool;
}

impl StatusMeaning for WorkflowStatus {
    fn has_work_left(&self) -> bool {
        matches!(
            self,
            WorkflowStatus::Pending | WorkflowStatus::Enqueued | WorkflowStatus::Delayed
        )
    }

    fn ended(&self) -> bool {
        self.has_outcome()
            || matches!(
                self,
                WorkflowStatus::Cancelled | WorkflowStatus::MaxRecoveryAttemptsExceeded
            )
    }

    fn has_outcome(&self) -> bool {
        matches!(self, WorkflowStatus::Success | WorkflowStatus::Error)
    }
}
