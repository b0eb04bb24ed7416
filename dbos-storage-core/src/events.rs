//! The events area: [`EventStore`] and its plain data (event reads and what a publish did).

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;

use crate::messages::validate_key;
use crate::{AwaitOptions, Caller, Error, ErrorKind, Payload, Result};

/// Step name of an event published by a workflow.
pub const SET_EVENT_STEP: &str = "DBOS.setEvent";
/// Step name of an event read by a workflow.
pub const GET_EVENT_STEP: &str = "DBOS.getEvent";

/// The name of the PostgreSQL channel event writers signal on after commit.
pub const EVENTS_CHANNEL: &str = "dbos_workflow_events_channel";

/// Workflow events: key/value pairs a workflow publishes, with their per-step history.
#[async_trait]
pub trait EventStore: Debug + Send + Sync + 'static {
    /// Publishes an event of the caller's workflow, in one transaction.
    ///
    /// # Behavior
    /// - From a workflow: upserts the current value (`workflow_events`) and the history row at
    ///   the caller's step (`workflow_events_history`), and records step `DBOS.setEvent`. A
    ///   replay writes nothing and returns `replayed = true`.
    /// - Inside a step: the same two upserts under the enclosing step's position; no step row;
    ///   the workflow's ownership is checked.
    /// - Waiters are woken after the commit; PostgreSQL also signals
    ///   `dbos_workflow_events_channel` with `"{workflow_id}::{key}"` so DBOS peers wake.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for a missing workflow,
    /// [`NotOwner`](crate::ErrorKind::NotOwner), [`Cancelled`](crate::ErrorKind::Cancelled),
    /// [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn set_event(&self, caller: Caller, key: &str, value: Payload)
        -> Result<SetEventOutcome>;

    /// Reads another workflow's event, waiting up to the request's timeout for it to exist.
    ///
    /// # Behavior
    /// From a workflow: a replay returns the first run's result (`None` for a timeout); the
    /// timeout is recorded as a `DBOS.sleep` at `timeout_function_id`; the result is recorded
    /// as step `DBOS.getEvent`. Outside a workflow nothing is recorded. The wait holds no
    /// connection, re-checks at `options.poll_interval` and wakes early when the event is set.
    /// `options.timeout` is not used.
    ///
    /// # Errors
    /// [`Interrupted`](crate::ErrorKind::Interrupted) when `options.cancel` fires; for a calling
    /// workflow, as [`StepStore::check_step`] and [`StepStore::record_step`].
    ///
    /// [`StepStore::check_step`]: crate::StepStore::check_step
    /// [`StepStore::record_step`]: crate::StepStore::record_step
    ///
    /// # Idempotency
    /// Idempotent.
    async fn get_event(
        &self,
        request: GetEventRequest,
        options: AwaitOptions,
    ) -> Result<Option<Payload>>;

    /// Every current event of a workflow, by key. Empty for a missing workflow.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    async fn get_all_events(&self, workflow_id: &str) -> Result<BTreeMap<String, Payload>>;
}

/// A read of another workflow's event: [`crate::EventStore::get_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetEventRequest {
    /// The workflow that publishes the event.
    pub target_workflow_id: String,
    /// The event key.
    pub key: String,
    /// How long to wait for the event to exist. From a workflow it is durable.
    pub timeout: std::time::Duration,
    /// The reading workflow, when called from one: the read is then step `function_id`
    /// (`DBOS.getEvent`) and its timeout step `timeout_function_id` (required). `None` outside a
    /// workflow: nothing is recorded.
    pub caller: Option<Caller>,
}

impl GetEventRequest {
    /// A read of `key` published by `target_workflow_id`, waiting up to `timeout`.
    pub fn new(
        target_workflow_id: impl Into<String>,
        key: impl Into<String>,
        timeout: std::time::Duration,
    ) -> Self {
        GetEventRequest {
            target_workflow_id: target_workflow_id.into(),
            key: key.into(),
            timeout,
            caller: None,
        }
    }

    /// Records the read as a step of the calling workflow.
    #[must_use]
    pub fn from_workflow(mut self, caller: Caller) -> Self {
        self.caller = Some(caller);
        self
    }

    /// Checks the ids, key and caller.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        crate::validate::workflow_id(&self.target_workflow_id)?;
        validate_key("event key", &self.key)?;
        if let Some(caller) = &self.caller {
            caller.validate()?;
            if caller.in_step {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "get_event inside a step records nothing: pass no caller",
                ));
            }
            if caller.timeout_function_id.is_none() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "get_event from a workflow needs a timeout step (Caller::with_timeout_step)",
                ));
            }
        }
        Ok(())
    }
}

/// What [`crate::EventStore::set_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetEventOutcome {
    /// The event was already recorded as the calling workflow's step: nothing was written.
    pub replayed: bool,
}

impl SetEventOutcome {
    /// An outcome.
    pub fn new(replayed: bool) -> Self {
        SetEventOutcome { replayed }
    }
}
