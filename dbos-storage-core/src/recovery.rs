//! Direct recovery and hand-back of workflows, the plain data of
//! [`QueueStore::recover_workflow`](crate::QueueStore::recover_workflow) and
//! [`QueueStore::return_to_queue`](crate::QueueStore::return_to_queue).
//!
//! DBOS Transact 1.x and 2.x recover a workflow that is not on a queue by running it again on
//! the recovering executor: the `PENDING` row is taken over (`recovery_attempts + 1`,
//! `executor_id` and the owner token re-stamped) and dead-lettered once it has been dispatched
//! too often (DBOS 3.4 re-enqueues it on the internal queue instead). A queued workflow is
//! returned to its queue (`clear_queue_assignment`), so that the queue's claim admits exactly one
//! runner.

use crate::{new_token, Error, Result, WorkflowStatus};

/// DBOS's default `max_recovery_attempts`.
pub const DEFAULT_MAX_RECOVERY_ATTEMPTS: i64 = 100;

/// A request to take over a `PENDING` workflow that is not on a queue.
///
/// The previous owner is named by the executors it may be taken from
/// ([`RecoveryRequest::from_dead_executors`]), by its owner token
/// ([`RecoveryRequest::from_owner`]), or by both (both must then match).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryRequest {
    /// The workflow to take over.
    pub workflow_id: String,
    /// Executors known to be dead: the row's `executor_id` must be one of them. Empty: any
    /// executor (then `expected_owner_xid` must be given).
    pub dead_executor_ids: Vec<String>,
    /// The owner token the row must still hold (read with the pending list), so that a second
    /// recoverer, or a recoverer that shares the dead executor's id, takes nothing.
    pub expected_owner_xid: Option<String>,
    /// The recovering executor, written to `executor_id`.
    pub executor_id: String,
    /// The new owner token, written to `owner_xid`. Create it once, outside any retry: a re-run
    /// that finds it already in place is this request's own earlier attempt.
    pub owner_xid: String,
    /// The workflow is dead-lettered when its `recovery_attempts`, after this take-over, exceed
    /// this plus one (DBOS's rule); `None` never dead-letters. Defaults to
    /// [`DEFAULT_MAX_RECOVERY_ATTEMPTS`].
    pub max_recovery_attempts: Option<i64>,
}

impl RecoveryRequest {
    /// A take-over of `workflow_id` by `executor_id` from any of `dead_executor_ids`, with a
    /// fresh owner token and the default limit.
    pub fn from_dead_executors(
        workflow_id: impl Into<String>,
        dead_executor_ids: Vec<String>,
        executor_id: impl Into<String>,
    ) -> Self {
        RecoveryRequest {
            workflow_id: workflow_id.into(),
            dead_executor_ids,
            expected_owner_xid: None,
            executor_id: executor_id.into(),
            owner_xid: new_token(),
            max_recovery_attempts: Some(DEFAULT_MAX_RECOVERY_ATTEMPTS),
        }
    }

    /// A take-over of `workflow_id` by `executor_id` from the execution holding
    /// `previous_owner_xid`, with a fresh owner token and the default limit.
    pub fn from_owner(
        workflow_id: impl Into<String>,
        previous_owner_xid: impl Into<String>,
        executor_id: impl Into<String>,
    ) -> Self {
        RecoveryRequest {
            expected_owner_xid: Some(previous_owner_xid.into()),
            ..Self::from_dead_executors(workflow_id, Vec::new(), executor_id)
        }
    }

    /// Also requires the row to hold `previous_owner_xid`.
    #[must_use]
    pub fn expecting_owner(mut self, previous_owner_xid: impl Into<String>) -> Self {
        self.expected_owner_xid = Some(previous_owner_xid.into());
        self
    }

    /// Sets the new owner token.
    #[must_use]
    pub fn owner_xid(mut self, token: impl Into<String>) -> Self {
        self.owner_xid = token.into();
        self
    }

    /// Sets the limit; `None` never dead-letters.
    #[must_use]
    pub fn max_recovery_attempts(mut self, max: Option<i64>) -> Self {
        self.max_recovery_attempts = max;
        self
    }

    /// Whether `attempts` (the row's `recovery_attempts` after the take-over) is past the limit:
    /// DBOS dead-letters when `recovery_attempts > max_recovery_attempts + 1`.
    pub fn exceeds_limit(&self, attempts: i64) -> bool {
        self.max_recovery_attempts
            .is_some_and(|max| attempts > max.saturating_add(1))
    }

    /// Checks the request: the ids and tokens (non-empty, within their limits, no NUL byte), a
    /// previous owner named by executors or token, and a limit of 0 or more.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        use crate::validate::{bounded, workflow_id};
        const UNBOUNDED: usize = crate::payload::MAX_PAYLOAD_BYTES;
        workflow_id(&self.workflow_id)?;
        if self.dead_executor_ids.is_empty() && self.expected_owner_xid.is_none() {
            return Err(Error::invalid_input(
                "a recovery must name the dead executors it takes the workflow from or the \
                 previous owner token (expected_owner_xid); it names neither",
            ));
        }
        for dead in &self.dead_executor_ids {
            bounded("dead executor id", dead, UNBOUNDED)?;
        }
        for (what, value) in [
            ("recovering executor id", Some(&self.executor_id)),
            ("new owner token", Some(&self.owner_xid)),
            ("expected owner token", self.expected_owner_xid.as_ref()),
        ] {
            if let Some(value) = value {
                if value.is_empty() {
                    return Err(Error::invalid_input(format!(
                        "a recovery's {what} must not be empty"
                    )));
                }
                bounded(what, value, UNBOUNDED)?;
            }
        }
        if let Some(max) = self.max_recovery_attempts.filter(|max| *max < 0) {
            return Err(Error::invalid_input(format!(
                "max recovery attempts must be 0 or more (None disables dead-lettering), not {max}"
            )));
        }
        Ok(())
    }
}

/// What [`QueueStore::recover_workflow`](crate::QueueStore::recover_workflow) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryOutcome {
    /// The workflow is the recovering executor's now: `PENDING`, owned by the request's token,
    /// run it from its checkpoints.
    TakenOver {
        /// Its `recovery_attempts` after the take-over.
        recovery_attempts: i64,
    },
    /// The take-over went past the limit: the workflow is `MAX_RECOVERY_ATTEMPTS_EXCEEDED`;
    /// do not run it.
    DeadLettered {
        /// Its `recovery_attempts` (past the limit).
        recovery_attempts: i64,
    },
    /// Nothing changed: the workflow is not this request's to take.
    NotEligible(NotRecoverable),
}

/// Why a workflow was not taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotRecoverable {
    /// No such workflow.
    Missing,
    /// It is not `PENDING` (finished, cancelled, dead-lettered, queued or delayed).
    NotPending(WorkflowStatus),
    /// It is on a queue: recover it through the queue
    /// ([`QueueStore::reenqueue_for_recovery`](crate::QueueStore::reenqueue_for_recovery) or
    /// [`QueueStore::return_to_queue`](crate::QueueStore::return_to_queue)).
    Queued {
        /// Its queue.
        queue_name: String,
    },
    /// Its executor is not among the dead executors: it is alive, or another recoverer took it.
    Alive {
        /// Its `executor_id`.
        executor_id: Option<String>,
    },
    /// Its owner token is not the expected one: another execution owns it now.
    OwnerChanged,
}

/// Checks the arguments of [`QueueStore::return_to_queue`](crate::QueueStore::return_to_queue):
/// a valid workflow id and a non-empty owner token without NUL bytes.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] naming the offending argument.
pub fn validate_return_to_queue(workflow_id: &str, owner_xid: &str) -> Result<()> {
    crate::validate::workflow_id(workflow_id)?;
    if owner_xid.is_empty() {
        return Err(Error::invalid_input(
            "returning a workflow to its queue needs the owner token of its claim; it is empty",
        ));
    }
    crate::validate::bounded("owner token", owner_xid, crate::payload::MAX_PAYLOAD_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_check_their_fields() {
        let e = RecoveryRequest::from_dead_executors("w", Vec::new(), "new")
            .validate()
            .unwrap_err();
        assert!(e.message().contains("names neither"), "{e}");
        let e = RecoveryRequest::from_owner("w", "", "new")
            .validate()
            .unwrap_err();
        assert!(
            e.message()
                .contains("expected owner token must not be empty"),
            "{e}"
        );
        let e = RecoveryRequest::from_owner("w", "old", "")
            .validate()
            .unwrap_err();
        assert!(
            e.message()
                .contains("recovering executor id must not be empty"),
            "{e}"
        );
        let e = RecoveryRequest::from_owner("w", "old", "new")
            .owner_xid("")
            .validate()
            .unwrap_err();
        assert!(
            e.message().contains("new owner token must not be empty"),
            "{e}"
        );
        let e = RecoveryRequest::from_owner("w", "old", "new")
            .max_recovery_attempts(Some(-1))
            .validate()
            .unwrap_err();
        assert!(e.message().contains("must be 0 or more"), "{e}");
        let e = RecoveryRequest::from_dead_executors("w", vec!["d\0".to_owned()], "new")
            .validate()
            .unwrap_err();
        assert!(
            e.message().contains("dead executor id contains a NUL byte"),
            "{e}"
        );
        let e = RecoveryRequest::from_owner("", "old", "new")
            .validate()
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        RecoveryRequest::from_owner("w", "old", "new")
            .max_recovery_attempts(None)
            .validate()
            .unwrap();
        let e = validate_return_to_queue("w", "").unwrap_err();
        assert!(e.message().contains("owner token of its claim"), "{e}");
        let e = validate_return_to_queue("w", "t\0").unwrap_err();
        assert!(
            e.message().contains("owner token contains a NUL byte"),
            "{e}"
        );
        validate_return_to_queue("w", "t").unwrap();
    }
}
