//! [`EventStore`] of [`MemoryStore`]: events with their history, set from a workflow or inside a
//! step, and the reads of their waits.

use std::collections::BTreeMap;

use async_trait::async_trait;
use dbos_storage_core::events::{GET_EVENT_STEP, SET_EVENT_STEP};
use dbos_storage_core::messages::validate_key;
use dbos_storage_core::EventStore;
use dbos_storage_core::StepStore;
use dbos_storage_core::{
    validate, AwaitOptions, Caller, GetEventRequest, Outcome, Payload, Result, SetEventOutcome,
};

use super::messaging::waited_value;
use super::waiting::timeout_as_none;
use super::{MemoryStore, State};

impl State {
    /// The write of [`EventStore::set_event`]; its arguments have been validated.
    fn set_event(&mut self, caller: &Caller, key: &str, value: Payload) -> Result<SetEventOutcome> {
        let what = format!("set event {key:?} at step {}", caller.function_id);
        if self.check_call(caller, SET_EVENT_STEP, &what)?.is_some() {
            return Ok(SetEventOutcome::new(true));
        }
        let workflow_id = caller.workflow_id.clone();
        self.events
            .insert((workflow_id.clone(), key.to_owned()), value.clone());
        self.event_history
            .insert((workflow_id, caller.function_id, key.to_owned()), value);
        self.record_call(caller, SET_EVENT_STEP, None)?;
        Ok(SetEventOutcome::new(false))
    }

    /// The current value of event `key` of `workflow_id`.
    fn event(&self, workflow_id: &str, key: &str) -> Option<Payload> {
        self.events
            .get(&(workflow_id.to_owned(), key.to_owned()))
            .cloned()
    }

    /// Records what a `get_event` of `caller` found (`None`: it timed out) as its step, as
    /// [`StepStore::record_step`](dbos_storage_core::StepStore::record_step) would: the
    /// workflow must still exist and be owned by the caller. A step a rival recorded there
    /// meanwhile wins: its value is returned.
    fn record_event_read(
        &mut self,
        caller: &Caller,
        found: Option<Payload>,
    ) -> Result<Option<Payload>> {
        if self.step(&caller.workflow_id, caller.function_id).is_some() {
            let recorded = self
                .step_checkpoint(&caller.workflow_id, caller.function_id, GET_EVENT_STEP)?
                .expect("a step is recorded at the position");
            return waited_value(recorded, caller, GET_EVENT_STEP);
        }
        let what = format!("record step {}", caller.function_id);
        self.check_owner(&caller.workflow_id, caller.owner_xid.as_deref(), &what)?;
        self.record_call(caller, GET_EVENT_STEP, found.clone().map(Outcome::Output))?;
        Ok(found)
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn set_event(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<SetEventOutcome> {
        caller.validate()?;
        validate_key("event key", key)?;
        value.validate("event value")?;
        self.write(|state| state.set_event(&caller, key, value))
    }

    async fn get_event(
        &self,
        request: GetEventRequest,
        options: AwaitOptions,
    ) -> Result<Option<Payload>> {
        // From a workflow: a replay returns the recorded value; otherwise the timeout is
        // recorded as a durable sleep when the event is not set yet, and what the wait found
        // (or `None`) is recorded as step `DBOS.getEvent`. From outside, nothing is recorded.
        request.validate()?;
        let (target, key) = (&request.target_workflow_id, &request.key);
        let caller = request.caller.as_ref();
        if let Some(caller) = caller {
            let what = format!("get event {key:?} at step {}", caller.function_id);
            if let Some(recorded) = self.open()?.check_call(caller, GET_EVENT_STEP, &what)? {
                return waited_value(recorded, caller, GET_EVENT_STEP);
            }
        }
        let mut found = self.open()?.event(target, key);
        if found.is_none() {
            let remaining = match caller {
                Some(caller) => {
                    let timeout_step = caller
                        .timeout_function_id
                        .expect("validated: a get_event from a workflow has a timeout step");
                    self.record_sleep(
                        &caller.workflow_id,
                        timeout_step,
                        request.timeout,
                        caller.owner_xid.as_deref(),
                    )
                    .await?
                    .remaining
                }
                None => request.timeout,
            };
            let awaited = format!("event {key} of workflow {target}");
            found = timeout_as_none(
                self.wait_until(&awaited, &options.timeout(remaining), || {
                    Ok(self.open()?.event(target, key))
                })
                .await,
            )?;
        }
        match caller {
            Some(caller) => self.write(|state| state.record_event_read(caller, found)),
            None => Ok(found),
        }
    }

    async fn get_all_events(&self, workflow_id: &str) -> Result<BTreeMap<String, Payload>> {
        validate::workflow_id(workflow_id)?;
        let state = self.open()?;
        Ok(state
            .events
            .iter()
            .filter(|((owner, _), _)| owner == workflow_id)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }
}
