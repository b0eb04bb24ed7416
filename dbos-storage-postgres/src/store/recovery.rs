//! Direct recovery ([`QueueStore::recover_workflow`]) and the hand-back of a claimed workflow to
//! its queue ([`QueueStore::return_to_queue`]) on PostgreSQL.
//!
//! A recovery locks the row (`FOR UPDATE`), decides, and takes over (and dead-letters past the
//! limit) in one transaction; a concurrent recoverer waits for the lock and then finds the row
//! re-stamped. The hand-back is one guarded `UPDATE`.
//!
//! [`QueueStore::recover_workflow`]: dbos_storage_core::QueueStore::recover_workflow
//! [`QueueStore::return_to_queue`]: dbos_storage_core::QueueStore::return_to_queue

use dbos_storage_core::recovery::validate_return_to_queue;
use dbos_storage_core::{RecoveryOutcome, RecoveryRequest, Result};
use dbos_storage_driver_kit::decisions::column_values::status_of;
use dbos_storage_driver_kit::decisions::workflow_recovery::{
    self, RecoveryCandidate, RecoveryStep,
};

use super::{col, PostgresStore};
use crate::error::classify;

impl PostgresStore {
    /// [`QueueStore::recover_workflow`](dbos_storage_core::QueueStore::recover_workflow).
    pub(super) async fn recover(&self, request: RecoveryRequest) -> Result<RecoveryOutcome> {
        request.validate()?;
        let outcome = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let row = tx
                        .query_opt(
                            q.select_recovery_candidate.as_str(),
                            &[&request.workflow_id],
                        )
                        .await
                        .map_err(classify)?;
                    let candidate = match row {
                        Some(row) => Some(RecoveryCandidate {
                            status: status_of(col::<Option<String>>(&row, 0)?.as_deref()),
                            queue_name: col(&row, 1)?,
                            executor_id: col(&row, 2)?,
                            owner_xid: col(&row, 3)?,
                            recovery_attempts: col(&row, 4)?,
                        }),
                        None => None,
                    };
                    match workflow_recovery::decide(&request, candidate) {
                        RecoveryStep::Refuse(reason) => Ok(RecoveryOutcome::NotEligible(reason)),
                        RecoveryStep::AlreadyTaken { recovery_attempts } => {
                            Ok(RecoveryOutcome::TakenOver { recovery_attempts })
                        }
                        RecoveryStep::TakeOver => {
                            let row = tx
                                .query_one(
                                    q.take_over_workflow.as_str(),
                                    &[
                                        &request.workflow_id,
                                        &request.executor_id,
                                        &request.owner_xid,
                                    ],
                                )
                                .await
                                .map_err(classify)?;
                            let recovery_attempts: i64 = col(&row, 0)?;
                            if !request.exceeds_limit(recovery_attempts) {
                                return Ok(RecoveryOutcome::TakenOver { recovery_attempts });
                            }
                            let ids = [request.workflow_id.as_str()];
                            tx.execute(
                                q.dead_letter_workflows.as_str(),
                                &[&ids.as_slice(), &recovery_attempts],
                            )
                            .await
                            .map_err(classify)?;
                            Ok(RecoveryOutcome::DeadLettered { recovery_attempts })
                        }
                    }
                })
            })
            .await?;
        if matches!(outcome, RecoveryOutcome::DeadLettered { .. }) {
            // Awaiting its result ends now.
            self.wake().notify();
        }
        Ok(outcome)
    }

    /// [`QueueStore::return_to_queue`](dbos_storage_core::QueueStore::return_to_queue).
    pub(super) async fn hand_back(&self, workflow_id: &str, owner_xid: &str) -> Result<bool> {
        validate_return_to_queue(workflow_id, owner_xid)?;
        let client = self.client().await?;
        let changed = client
            .execute_cached(
                self.queries().return_to_queue.as_str(),
                &[&workflow_id, &owner_xid],
            )
            .await
            .map_err(classify)?;
        Ok(changed > 0)
    }
}
