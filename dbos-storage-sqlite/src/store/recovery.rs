//! Direct recovery ([`QueueStore::recover_workflow`]) and the hand-back of a claimed workflow to
//! its queue ([`QueueStore::return_to_queue`]) on SQLite, each one write transaction (SQLite
//! has one writer, so two recoverers run one after the other and the second sees the first's
//! take-over).
//!
//! [`QueueStore::recover_workflow`]: dbos_storage_core::QueueStore::recover_workflow
//! [`QueueStore::return_to_queue`]: dbos_storage_core::QueueStore::return_to_queue

use dbos_storage_core::recovery::validate_return_to_queue;
use dbos_storage_core::{RecoveryOutcome, RecoveryRequest, Result};
use dbos_storage_driver_kit::decisions::column_values::status_of;
use dbos_storage_driver_kit::decisions::workflow_recovery::{
    self, RecoveryCandidate, RecoveryStep,
};
use rusqlite::{params, OptionalExtension, Transaction};

use super::management::update_ids;
use super::Cached;
use super::{now_ms, SqliteStore};
use crate::error::classify;
use crate::sql::{queues, recovery as q};

/// The body of `recover_workflow`, in one write transaction.
fn recover_tx(tx: &Transaction<'_>, request: &RecoveryRequest) -> Result<RecoveryOutcome> {
    let candidate = tx
        .query_row_cached(q::SELECT_RECOVERY_CANDIDATE, [&request.workflow_id], |r| {
            Ok(RecoveryCandidate {
                status: status_of(r.get::<_, Option<String>>(0)?.as_deref()),
                queue_name: r.get(1)?,
                executor_id: r.get(2)?,
                owner_xid: r.get(3)?,
                recovery_attempts: r.get(4)?,
            })
        })
        .optional()
        .map_err(classify)?;
    match workflow_recovery::decide(request, candidate) {
        RecoveryStep::Refuse(reason) => Ok(RecoveryOutcome::NotEligible(reason)),
        RecoveryStep::AlreadyTaken { recovery_attempts } => {
            Ok(RecoveryOutcome::TakenOver { recovery_attempts })
        }
        RecoveryStep::TakeOver => {
            let now = now_ms(tx)?;
            let recovery_attempts: i64 = tx
                .query_row_cached(
                    q::TAKE_OVER_WORKFLOW,
                    params![
                        request.workflow_id,
                        request.executor_id,
                        request.owner_xid,
                        now
                    ],
                    |r| r.get(0),
                )
                .map_err(classify)?;
            if !request.exceeds_limit(recovery_attempts) {
                return Ok(RecoveryOutcome::TakenOver { recovery_attempts });
            }
            let ids = [request.workflow_id.clone()];
            update_ids(tx, queues::DEAD_LETTER, &ids, &[&recovery_attempts, &now])?;
            Ok(RecoveryOutcome::DeadLettered { recovery_attempts })
        }
    }
}

impl SqliteStore {
    /// [`QueueStore::recover_workflow`](dbos_storage_core::QueueStore::recover_workflow).
    pub(super) async fn recover(&self, request: RecoveryRequest) -> Result<RecoveryOutcome> {
        request.validate()?;
        let outcome = self
            .conns()
            .write(move |tx| recover_tx(tx, &request))
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
        let id = workflow_id.to_owned();
        let token = owner_xid.to_owned();
        self.conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let changed = tx
                    .execute_cached(q::RETURN_TO_QUEUE, params![id, token, now])
                    .map_err(classify)?;
                Ok(changed > 0)
            })
            .await
    }
}
