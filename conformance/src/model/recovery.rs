//! Direct recovery and hand-back of [`MemoryStore`]: the bodies of
//! [`QueueStore::recover_workflow`] and [`QueueStore::return_to_queue`], which the `queues`
//! module's `QueueStore` implementation calls.
//!
//! [`QueueStore::recover_workflow`]: dbos_storage_core::QueueStore::recover_workflow
//! [`QueueStore::return_to_queue`]: dbos_storage_core::QueueStore::return_to_queue

use dbos_storage_core::recovery::validate_return_to_queue;
use dbos_storage_core::{RecoveryOutcome, RecoveryRequest, Result, WorkflowStatus};
use dbos_storage_driver_kit::decisions::workflow_recovery::{
    self, RecoveryCandidate, RecoveryStep,
};

use super::{MemoryStore, State};

impl State {
    /// Takes over, dead-letters or refuses, under the one lock (one transaction).
    fn recover(&mut self, request: &RecoveryRequest) -> RecoveryOutcome {
        let candidate = self
            .workflow(&request.workflow_id)
            .map(|row| RecoveryCandidate {
                status: row.info.status.clone(),
                queue_name: row.info.queue_name.clone(),
                executor_id: row.info.executor_id.clone(),
                owner_xid: row.owner_xid.clone(),
                recovery_attempts: row.info.recovery_attempts,
            });
        match workflow_recovery::decide(request, candidate) {
            RecoveryStep::Refuse(reason) => RecoveryOutcome::NotEligible(reason),
            RecoveryStep::AlreadyTaken { recovery_attempts } => {
                RecoveryOutcome::TakenOver { recovery_attempts }
            }
            RecoveryStep::TakeOver => {
                let now = self.now();
                let row = self
                    .workflows
                    .get_mut(&request.workflow_id)
                    .expect("decide found the row");
                let info = &mut row.info;
                info.recovery_attempts = info.recovery_attempts.saturating_add(1);
                info.executor_id = Some(request.executor_id.clone());
                info.updated_at = now;
                row.owner_xid = Some(request.owner_xid.clone());
                let recovery_attempts = row.info.recovery_attempts;
                if !request.exceeds_limit(recovery_attempts) {
                    return RecoveryOutcome::TakenOver { recovery_attempts };
                }
                let info = &mut row.info;
                info.status = WorkflowStatus::MaxRecoveryAttemptsExceeded;
                info.deduplication_id = None;
                info.started_at_epoch_ms = None;
                info.queue_name = None;
                info.completed_at = Some(now);
                row.owner_xid = None;
                RecoveryOutcome::DeadLettered { recovery_attempts }
            }
        }
    }

    /// Returns a claimed workflow to its queue when `owner_xid` holds the claim.
    fn return_to_queue(&mut self, workflow_id: &str, owner_xid: &str) -> bool {
        let now = self.now();
        let Some(row) = self.workflows.get_mut(workflow_id) else {
            return false;
        };
        let owned = row.info.status == WorkflowStatus::Pending
            && row.info.queue_name.is_some()
            && row.owner_xid.as_deref() == Some(owner_xid);
        if owned {
            row.info.status = WorkflowStatus::Enqueued;
            row.info.started_at_epoch_ms = None;
            row.info.updated_at = now;
            row.owner_xid = None;
        }
        owned
    }
}

impl MemoryStore {
    /// [`QueueStore::recover_workflow`](dbos_storage_core::QueueStore::recover_workflow).
    pub(super) fn recover_workflow_now(
        &self,
        request: &RecoveryRequest,
    ) -> Result<RecoveryOutcome> {
        request.validate()?;
        self.write(|state| Ok(state.recover(request)))
    }

    /// [`QueueStore::return_to_queue`](dbos_storage_core::QueueStore::return_to_queue).
    pub(super) fn return_to_queue_now(&self, workflow_id: &str, owner_xid: &str) -> Result<bool> {
        validate_return_to_queue(workflow_id, owner_xid)?;
        self.write(|state| Ok(state.return_to_queue(workflow_id, owner_xid)))
    }
}
