//! Direct recovery of a workflow that is not on a queue
//! ([`QueueStore::recover_workflow`](dbos_storage_core::QueueStore::recover_workflow)): whether
//! the row a backend locked may be taken over by the request.

use dbos_storage_core::{NotRecoverable, RecoveryRequest, WorkflowStatus};

/// The columns of the locked `workflow_status` row that decide a take-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCandidate {
    /// `status`.
    pub status: WorkflowStatus,
    /// `queue_name`.
    pub queue_name: Option<String>,
    /// `executor_id`.
    pub executor_id: Option<String>,
    /// `owner_xid`.
    pub owner_xid: Option<String>,
    /// `recovery_attempts` (NULL read as 0).
    pub recovery_attempts: i64,
}

/// What a backend does with the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryStep {
    /// Take it over: `recovery_attempts + 1`, the request's executor and token; then
    /// dead-letter it when [`RecoveryRequest::exceeds_limit`] says so.
    TakeOver,
    /// The row already holds the request's token: this request took it over before (a re-run
    /// after an ambiguous commit). Report `TakenOver` with its current count; change nothing.
    AlreadyTaken {
        /// Its `recovery_attempts`.
        recovery_attempts: i64,
    },
    /// Leave it: report `NotEligible` with this reason.
    Refuse(NotRecoverable),
}

/// Decides what `request` may do with `row` (`None`: no such workflow), in the order of the
/// contract: missing, not `PENDING`, the request's own earlier take-over, on a queue, an
/// executor that is not among the dead, another owner token.
pub fn decide(request: &RecoveryRequest, row: Option<RecoveryCandidate>) -> RecoveryStep {
    let Some(row) = row else {
        return RecoveryStep::Refuse(NotRecoverable::Missing);
    };
    if row.status != WorkflowStatus::Pending {
        return RecoveryStep::Refuse(NotRecoverable::NotPending(row.status));
    }
    if row.owner_xid.as_deref() == Some(request.owner_xid.as_str()) {
        return RecoveryStep::AlreadyTaken {
            recovery_attempts: row.recovery_attempts,
        };
    }
    if let Some(queue_name) = row.queue_name {
        return RecoveryStep::Refuse(NotRecoverable::Queued { queue_name });
    }
    let executor_dead = request.dead_executor_ids.is_empty()
        || row
            .executor_id
            .as_ref()
            .is_some_and(|executor| request.dead_executor_ids.contains(executor));
    if !executor_dead {
        return RecoveryStep::Refuse(NotRecoverable::Alive {
            executor_id: row.executor_id,
        });
    }
    if let Some(expected) = &request.expected_owner_xid {
        if row.owner_xid.as_ref() != Some(expected) {
            return RecoveryStep::Refuse(NotRecoverable::OwnerChanged);
        }
    }
    RecoveryStep::TakeOver
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(executor: &str, owner: &str) -> RecoveryCandidate {
        RecoveryCandidate {
            status: WorkflowStatus::Pending,
            queue_name: None,
            executor_id: Some(executor.to_owned()),
            owner_xid: Some(owner.to_owned()),
            recovery_attempts: 1,
        }
    }

    #[test]
    fn each_reason_in_the_contract_order() {
        let dead = vec!["dead".to_owned()];
        let request = RecoveryRequest::from_dead_executors("w", dead, "new").owner_xid("mine");
        assert_eq!(
            decide(&request, None),
            RecoveryStep::Refuse(NotRecoverable::Missing)
        );
        let mut row = pending("dead", "old");
        assert_eq!(decide(&request, Some(row.clone())), RecoveryStep::TakeOver);
        row.status = WorkflowStatus::Success;
        assert_eq!(
            decide(&request, Some(row.clone())),
            RecoveryStep::Refuse(NotRecoverable::NotPending(WorkflowStatus::Success))
        );
        let mut queued = pending("dead", "old");
        queued.queue_name = Some("q".to_owned());
        assert_eq!(
            decide(&request, Some(queued)),
            RecoveryStep::Refuse(NotRecoverable::Queued {
                queue_name: "q".to_owned()
            })
        );
        assert_eq!(
            decide(&request, Some(pending("alive", "old"))),
            RecoveryStep::Refuse(NotRecoverable::Alive {
                executor_id: Some("alive".to_owned())
            })
        );
        assert_eq!(
            decide(&request, Some(pending("new", "mine"))),
            RecoveryStep::AlreadyTaken {
                recovery_attempts: 1
            }
        );
        let fenced = request.expecting_owner("old");
        assert_eq!(
            decide(&fenced, Some(pending("dead", "other"))),
            RecoveryStep::Refuse(NotRecoverable::OwnerChanged)
        );
        assert_eq!(
            decide(&fenced, Some(pending("dead", "old"))),
            RecoveryStep::TakeOver
        );
    }

    #[test]
    fn the_limit_is_dbos_rule() {
        let request = RecoveryRequest::from_owner("w", "old", "new").max_recovery_attempts(Some(2));
        assert!(!request.exceeds_limit(3));
        assert!(request.exceeds_limit(4));
        let unlimited = request.max_recovery_attempts(None);
        assert!(!unlimited.exceeds_limit(i64::MAX));
        let max =
            RecoveryRequest::from_owner("w", "old", "new").max_recovery_attempts(Some(i64::MAX));
        assert!(!max.exceeds_limit(i64::MAX));
    }
}
