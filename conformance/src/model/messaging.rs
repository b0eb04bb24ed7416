//! What the messages, events and streams of [`MemoryStore`] share (the areas themselves are in
//! `messages`, `events` and `streams`): the checks and the step record of a call, and the
//! context of their waits.
//!
//! Every write runs under the store's one lock, so it is one transaction: a send inserts its
//! rows and records its step together, a stream append takes the next dense offset. The waits
//! are the shared ones of [`dbos_storage_core::wait::messaging`]; the model provides their reads
//! ([`MessageWaits`], [`EventWaits`]) and wakes every waiter of its [`WaitRegistry`] after each
//! write (see [`MemoryStore`]'s `write`).
//!
//! A call by a workflow (`Caller::in_step == false`) goes through the same checks as a step:
//! the workflow must exist (`NotFound`) and not be cancelled (`Cancelled`); a step recorded at
//! the caller's position is a replay when it has the same name (nothing is written) and
//! `UnexpectedStep` otherwise; then the owner token is checked (`NotOwner`). A call inside a
//! step checks only that the workflow exists and the owner token, and records no step.
//!
//! [`WaitRegistry`]: dbos_storage_core::wait::WaitRegistry
//! [`MessageWaits`]: dbos_storage_core::wait::messaging::MessageWaits
//! [`EventWaits`]: dbos_storage_core::wait::messaging::EventWaits

use dbos_storage_core::{Caller, Outcome, RecordedStep, Result, StepRecord};
use dbos_storage_driver_kit::decisions::step_checkpoints;
use dbos_storage_driver_kit::wait::WaitContext;

use super::{missing, ours, MemoryStore, State, BACKEND};

impl MemoryStore {
    /// What the shared waits need: the backend name and the registry; no pool, so no gate.
    pub(super) fn wait_context(&self) -> WaitContext<'_> {
        WaitContext::new(BACKEND, &self.waits, None)
    }
}

impl State {
    /// The checks before a call of `caller` that records step `step_name` (from a workflow) or
    /// writes inside a step, before it does `what`. Returns the recorded step of a replay.
    pub(super) fn check_call(
        &self,
        caller: &Caller,
        step_name: &str,
        what: &str,
    ) -> Result<Option<RecordedStep>> {
        let workflow_id = &caller.workflow_id;
        let row = self
            .workflow(workflow_id)
            .ok_or_else(|| missing(workflow_id))?;
        if caller.records_step() {
            step_checkpoints::ensure_not_cancelled(workflow_id, &row.info.status).map_err(ours)?;
            if let Some(step) = self.step(workflow_id, caller.function_id) {
                step_checkpoints::ensure_same_step(
                    workflow_id,
                    caller.function_id,
                    step_name,
                    &step.function_name,
                )
                .map_err(ours)?;
                return Ok(Some(RecordedStep::new(
                    step.outcome(),
                    step.child_workflow_id.clone(),
                )));
            }
        }
        self.check_owner(workflow_id, caller.owner_xid.as_deref(), what)?;
        Ok(None)
    }

    /// Records step `step_name` of a call made by a workflow; a call inside a step records
    /// nothing.
    pub(super) fn record_call(
        &mut self,
        caller: &Caller,
        step_name: &str,
        outcome: Option<Outcome>,
    ) -> Result<()> {
        if !caller.records_step() {
            return Ok(());
        }
        let now = self.now();
        self.record_step(
            StepRecord::with_outcome(&caller.workflow_id, caller.function_id, step_name, outcome)
                .with_times(Some(now), now),
        )
    }
}
