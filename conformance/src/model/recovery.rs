//! Direct recovery and hand-back of [`MemoryStore`]: the bodies of
//! [`QueueStore::recover_workflow`] and [`QueueStore::return_to_queue`], which the `queues`
//! module's `QueueStore` implementation calls.
//!
//! [`QueueStore::recover_workflow`]: dbos_storage_core::QueueStore::recover_workflow
//! [`QueueStore::return_to_queue`]: dbos_storage_core::QueueStore::return_to_queue

use dbos_storage_core::recovery::validate_return_to_queue;
use dbos_storage_core::{NotRecoverable, RecoveryOutcome, RecoveryRequest, Result, WorkflowStatus};

use super::{MemoryStore, State};

/// Whether a workflow whose `recovery_attempts` is `attempts` after a take-over is past the
/// request's limit: DBOS dead-letters when `recovery_attempts > max_recovery_attempts + 1`.
fn past_the_limit(request: &RecoveryRequest, attempts: i64) -> bool {
    request
        .max_recovery_attempts
        .is_some_and(|max| attempts > max.saturating_add(1))
}

impl State {
    /// Why `request` may not take its workflow over, if it may not; `Ok(Some(attempts))` when
    /// the row already holds the request's token (its own earlier take-over). The reasons come
    /// in the order of the contract: missing, not `PENDING`, on a queue, an executor not among
    /// the dead ones (when any are named), another owner token (when one is expected).
    fn recovery_refusal(
        &self,
        request: &RecoveryRequest,
    ) -> std::result::Result<Option<i64>, NotRecoverable> {
        let Some(row) = self.workflow(&request.workflow_id) else {
            return Err(NotRecoverable::Missing);
        };
        let info = &row.info;
        if info.status != WorkflowStatus::Pending {
            return Err(NotRecoverable::NotPending(info.status.clone()));
        }
        if row.owner_xid.as_deref() == Some(request.owner_xid.as_str()) {
            return Ok(Some(info.recovery_attempts));
        }
        if let Some(queue_name) = &info.queue_name {
            return Err(NotRecoverable::Queued {
                queue_name: queue_name.clone(),
            });
        }
        let dead = request.dead_executor_ids.is_empty()
            || info
                .executor_id
                .as_ref()
                .is_some_and(|executor| request.dead_executor_ids.contains(executor));
        if !dead {
            return Err(NotRecoverable::Alive {
                executor_id: info.executor_id.clone(),
            });
        }
        let owner_as_expected = request
            .expected_owner_xid
            .as_ref()
            .is_none_or(|expected| row.owner_xid.as_ref() == Some(expected));
        if !owner_as_expected {
            return Err(NotRecoverable::OwnerChanged);
        }
        Ok(None)
    }

    /// Takes over, dead-letters or refuses, under the one lock (one transaction).
    fn recover(&mut self, request: &RecoveryRequest) -> RecoveryOutcome {
        match self.recovery_refusal(request) {
            Err(reason) => RecoveryOutcome::NotEligible(reason),
            Ok(Some(recovery_attempts)) => RecoveryOutcome::TakenOver { recovery_attempts },
            Ok(None) => {
                let now = self.now();
                let row = self
                    .workflows
                    .get_mut(&request.workflow_id)
                    .expect("the eligible row exists");
                let info = &mut row.info;
                info.recovery_attempts = info.recovery_attempts.saturating_add(1);
                info.executor_id = Some(request.executor_id.clone());
                info.updated_at = now;
                row.owner_xid = Some(request.owner_xid.clone());
                let recovery_attempts = row.info.recovery_attempts;
                if !past_the_limit(request, recovery_attempts) {
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
