//! [`EventStore`] of [`MemoryStore`]: events with their history, set from a workflow or inside a
//! step, and the reads of their waits.

use std::collections::BTreeMap;

use async_trait::async_trait;
use dbos_storage_core::events::SET_EVENT_STEP;
use dbos_storage_core::messages::validate_key;
use dbos_storage_core::EventStore;
use dbos_storage_core::{
    validate, AwaitOptions, Caller, GetEventRequest, Payload, Result, SetEventOutcome,
};
use dbos_storage_driver_kit::wait::messaging::{self as waits, EventWaits};

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
}

#[async_trait]
impl EventWaits for MemoryStore {
    async fn read_event(&self, workflow_id: &str, key: &str) -> Result<Option<Payload>> {
        let state = self.open()?;
        Ok(state
            .events
            .get(&(workflow_id.to_owned(), key.to_owned()))
            .cloned())
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
        waits::get_event(self, self.wait_context(), request, &options).await
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
