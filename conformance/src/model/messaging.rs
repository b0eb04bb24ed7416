//! What the messages, events and streams of [`MemoryStore`] share (the areas themselves are in
//! `messages`, `events` and `streams`): the checks and the step record of a call, and the
//! context of their waits.
//!
//! Every write runs under the store's one lock, so it is one transaction: a send inserts its
//! rows and records its step together, a stream append takes the next dense offset. The waits
//! are the model's own (`waiting`): each re-reads the maps whenever a write rings the store's
//! bell.
//!
//! A call by a workflow (`Caller::in_step == false`) goes through the same checks as a step:
//! the workflow must exist (`NotFound`) and not be cancelled (`Cancelled`); a step recorded at
//! the caller's position is a replay when it has the same name (nothing is written) and
//! `UnexpectedStep` otherwise; then the owner token is checked (`NotOwner`). A call inside a
//! step checks only that the workflow exists and the owner token, and records no step.

use dbos_storage_core::{
    Caller, ErrorKind, Outcome, Payload, RecordedStep, Result, StepRecord, WorkflowStatus,
};

use super::errors::{self, missing};
use super::State;

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
        if self.workflow(workflow_id).is_none() {
            return Err(missing(workflow_id));
        }
        if caller.records_step() {
            if let Some(recorded) =
                self.step_checkpoint(workflow_id, caller.function_id, step_name)?
            {
                return Ok(Some(recorded));
            }
        }
        self.check_owner(workflow_id, caller.owner_xid.as_deref(), what)?;
        Ok(None)
    }

    /// What [`StepStore::check_step`](dbos_storage_core::StepStore::check_step) answers for
    /// `workflow_id` at `function_id` for a step named `step_name`: a cancelled
    /// workflow stops here (`Cancelled`), a step recorded there under another name means the
    /// workflow is not deterministic (`UnexpectedStep`), one under this name is returned.
    pub(super) fn step_checkpoint(
        &self,
        workflow_id: &str,
        function_id: i32,
        step_name: &str,
    ) -> Result<Option<RecordedStep>> {
        let row = self
            .workflow(workflow_id)
            .ok_or_else(|| missing(workflow_id))?;
        if row.info.status == WorkflowStatus::Cancelled {
            return Err(errors::cancelled(workflow_id));
        }
        let Some(step) = self.step(workflow_id, function_id) else {
            return Ok(None);
        };
        if step.function_name != step_name {
            return Err(errors::unexpected_step(
                workflow_id,
                function_id,
                step_name,
                &step.function_name,
            ));
        }
        Ok(Some(RecordedStep::new(
            step.outcome(),
            step.child_workflow_id.clone(),
        )))
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

/// The value a recorded wait step (`DBOS.recv`, `DBOS.getEvent`) holds: the value it found, or
/// `None` for a wait that timed out.
///
/// # Errors
/// `Corrupt` for an error outcome, which no wait records.
pub(super) fn waited_value(
    recorded: RecordedStep,
    caller: &Caller,
    step_name: &str,
) -> Result<Option<Payload>> {
    match recorded.outcome {
        None | Some(Outcome::Void) => Ok(None),
        Some(Outcome::Output(value)) => Ok(Some(value)),
        Some(Outcome::Error(_)) => Err(errors::error(
            ErrorKind::Corrupt,
            format!(
                "step {} ({step_name}) of workflow {} holds an error; a wait never records one",
                caller.function_id, caller.workflow_id
            ),
        )),
    }
}
