//! [`MessageStore`], [`EventStore`] and [`StreamStore`] of [`MemoryStore`]: messages with
//! idempotency keys and forks, events with their history, append-only streams, and the waits
//! of all three.
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

use std::collections::BTreeMap;

use async_trait::async_trait;
use dbos_storage_core::messaging::{
    is_close_sentinel, message_uuid, stored_topic, validate_key, CLOSE_STREAM_STEP, RECV_STEP,
    SET_EVENT_STEP, STREAM_CLOSED_SENTINEL, WRITE_STREAM_STEP,
};
use dbos_storage_core::payload::validate_text;
use dbos_storage_core::rules::children::Descendants;
use dbos_storage_core::rules::messaging as rules;
use dbos_storage_core::rules::steps;
use dbos_storage_core::store::{EventStore, MessageStore, StreamStore};
use dbos_storage_core::wait::messaging::{self as waits, recorded_value, EventWaits, MessageWaits};
use dbos_storage_core::wait::WaitContext;
use dbos_storage_core::{
    validate, AwaitOptions, Caller, EpochMs, GetEventRequest, Outcome, OutgoingMessage, Payload,
    RecordedStep, RecvRequest, Result, SendOptions, SendOutcome, SetEventOutcome, StepRecord,
    StreamEntry, StreamRead, StreamReadOptions, StreamWriteOutcome,
};

use super::{missing, ours, MemoryStore, State, BACKEND};

/// One row of `notifications`.
#[derive(Debug, Clone)]
pub(super) struct MessageRow {
    message_uuid: String,
    pub(super) destination_id: String,
    /// The stored topic: never `None` ([`NULL_TOPIC`](dbos_storage_core::messaging::NULL_TOPIC)
    /// for none).
    topic: String,
    message: Payload,
    created_at_epoch_ms: EpochMs,
    pub(super) consumed: bool,
    /// The recv step that consumed the message (rewind deletes those at or after its cut).
    pub(super) consumed_by_function_id: Option<i32>,
}

/// One row of `streams` (its key is `(workflow_uuid, key, offset)`).
#[derive(Debug, Clone)]
pub(super) struct StreamRow {
    pub(super) value: Payload,
    /// The step that wrote the value (fork copies and rewind cuts by it).
    pub(super) function_id: i32,
}

impl MemoryStore {
    /// What the shared waits need: the backend name and the registry; no pool, so no gate.
    fn wait_context(&self) -> WaitContext<'_> {
        WaitContext::new(BACKEND, &self.waits, None)
    }
}

impl State {
    /// The checks before a call of `caller` that records step `step_name` (from a workflow) or
    /// writes inside a step, before it does `what`. Returns the recorded step of a replay.
    fn check_call(
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
            steps::ensure_not_cancelled(workflow_id, &row.info.status).map_err(ours)?;
            if let Some(step) = self.step(workflow_id, caller.function_id) {
                steps::ensure_same_step(
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
    fn record_call(
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

    /// Every workflow forked, recursively, from `workflow_id`, breadth first.
    fn forks_of(&self, workflow_id: &str) -> Vec<String> {
        let mut walk = Descendants::new(vec![workflow_id.to_owned()]);
        while !walk.level().is_empty() {
            let level = walk.level();
            let forks: Vec<String> = self
                .workflows
                .values()
                .filter(|row| {
                    row.info
                        .forked_from
                        .as_ref()
                        .is_some_and(|source| level.contains(source))
                })
                .map(|row| row.info.workflow_id.clone())
                .collect();
            walk.descend(forks);
        }
        walk.into_found()
    }

    /// The send of [`MessageStore::send_messages`]; the batch and caller have been validated.
    fn send(
        &mut self,
        messages: &[OutgoingMessage],
        caller: Option<&Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome> {
        let (step_name, step_outcome) = rules::send_step(messages.len());
        if let Some(caller) = caller {
            let what = format!("send messages at step {}", caller.function_id);
            if let Some(recorded) = self.check_call(caller, step_name, &what)? {
                rules::replayed_send(caller, messages.len(), &recorded).map_err(ours)?;
                return Ok(SendOutcome::new(true, 0));
            }
        }
        let absent = messages
            .iter()
            .find(|m| self.workflow(&m.destination_id).is_none());
        if let Some(absent) = absent {
            let destination = absent.destination_id.clone();
            if let Some(caller) = caller {
                // Checkpointed, so that a replay fails the same way.
                let error = rules::missing_destination_step_error(&destination)?;
                self.record_call(caller, step_name, Some(Outcome::Error(error)))?;
            }
            return Err(ours(rules::missing_destination(&destination)));
        }
        let now = self.now();
        let mut delivered = 0;
        for message in messages {
            let mut destinations = vec![message.destination_id.clone()];
            if options.send_to_forks {
                destinations.extend(self.forks_of(&message.destination_id));
            }
            for destination in destinations {
                let uuid = match &message.idempotency_key {
                    Some(key) => message_uuid(key, &destination),
                    None => uuid::Uuid::new_v4().to_string(),
                };
                // `ON CONFLICT (message_uuid) DO NOTHING`.
                if self
                    .notifications
                    .iter()
                    .any(|row| row.message_uuid == uuid)
                {
                    continue;
                }
                self.notifications.push(MessageRow {
                    message_uuid: uuid,
                    destination_id: destination,
                    topic: stored_topic(message.topic.as_deref()).to_owned(),
                    message: message.message.clone(),
                    created_at_epoch_ms: now,
                    consumed: false,
                    consumed_by_function_id: None,
                });
                delivered += 1;
            }
        }
        if let Some(caller) = caller {
            self.record_call(caller, step_name, step_outcome)?;
        }
        Ok(SendOutcome::new(false, delivered))
    }

    /// The consuming transaction of a recv ([`MessageWaits::consume_message`]).
    fn consume(&mut self, caller: &Caller, topic: &str) -> Result<Option<Payload>> {
        let what = format!("receive a message at step {}", caller.function_id);
        if let Some(recorded) = self.check_call(caller, RECV_STEP, &what)? {
            return recorded_value(recorded, RECV_STEP, caller).map_err(ours);
        }
        // The oldest by `created_at_epoch_ms`; among equals, the first inserted.
        let oldest = self
            .notifications
            .iter_mut()
            .filter(|row| {
                row.destination_id == caller.workflow_id && row.topic == topic && !row.consumed
            })
            .min_by_key(|row| row.created_at_epoch_ms);
        let received = oldest.map(|row| {
            row.consumed = true;
            row.consumed_by_function_id = Some(caller.function_id);
            row.message.clone()
        });
        self.record_call(caller, RECV_STEP, received.clone().map(Outcome::Output))?;
        Ok(received)
    }

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

    /// The rows of stream `key` of `workflow_id` from offset `from`, in offset order.
    fn stream_from(
        &self,
        workflow_id: &str,
        key: &str,
        from: i32,
    ) -> impl Iterator<Item = (i32, &StreamRow)> {
        let start = (workflow_id.to_owned(), key.to_owned(), from);
        let end = (workflow_id.to_owned(), key.to_owned(), i32::MAX);
        self.streams
            .range(start..=end)
            .map(|((_, _, offset), row)| (*offset, row))
    }

    /// Appends `value` (a value, or the close sentinel when `step_name` is
    /// [`CLOSE_STREAM_STEP`]) to the caller's stream `key` at the next offset.
    fn append(
        &mut self,
        caller: &Caller,
        key: &str,
        value: Payload,
        step_name: &str,
    ) -> Result<StreamWriteOutcome> {
        let what = format!("write stream {key:?} at step {}", caller.function_id);
        if self.check_call(caller, step_name, &what)?.is_some() {
            return Ok(StreamWriteOutcome::replayed());
        }
        let workflow_id = &caller.workflow_id;
        let last = self.stream_from(workflow_id, key, 0).last();
        let closed = last.is_some_and(|(_, row)| is_close_sentinel(&row.value));
        if closed {
            if step_name == CLOSE_STREAM_STEP {
                self.record_call(caller, step_name, None)?;
                return Ok(StreamWriteOutcome::already_closed());
            }
            return Err(ours(rules::closed_stream(workflow_id, key)));
        }
        let offset = match last {
            None => 0,
            Some((offset, _)) => offset.checked_add(1).ok_or_else(|| {
                ours(dbos_storage_core::Error::invalid_input(format!(
                    "stream {key} of workflow {workflow_id} has no offset left"
                )))
            })?,
        };
        let row = StreamRow {
            value,
            function_id: caller.function_id,
        };
        self.streams
            .insert((workflow_id.clone(), key.to_owned(), offset), row);
        self.record_call(caller, step_name, None)?;
        Ok(StreamWriteOutcome::written(offset))
    }

    /// The read of [`StreamStore::read_stream`]: the offsets `[from, from + limit)`, cut at the
    /// first gap and at the sentinel.
    fn read_stream(&self, workflow_id: &str, key: &str, options: StreamReadOptions) -> StreamRead {
        let status = self
            .workflow(workflow_id)
            .map(|row| row.info.status.clone());
        let limit = usize::try_from(options.limit).unwrap_or(usize::MAX);
        let rows = self
            .stream_from(workflow_id, key, options.from_offset)
            .take(limit)
            .map(|(offset, row)| StreamEntry::new(offset, row.value.clone()));
        StreamRead::from_rows(status, options.from_offset, rows)
    }
}

#[async_trait]
impl MessageWaits for MemoryStore {
    async fn message_waiting(&self, workflow_id: &str, topic: &str) -> Result<bool> {
        let state = self.open()?;
        Ok(state
            .notifications
            .iter()
            .any(|row| row.destination_id == workflow_id && row.topic == topic && !row.consumed))
    }

    async fn consume_message(&self, caller: &Caller, topic: &str) -> Result<Option<Payload>> {
        self.write(|state| state.consume(caller, topic))
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
impl MessageStore for MemoryStore {
    async fn send_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        caller: Option<Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome> {
        rules::validate_batch(&messages)?;
        if let Some(caller) = &caller {
            caller.validate()?;
        }
        self.write(|state| state.send(&messages, caller.as_ref(), options))
    }

    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>> {
        waits::recv(self, self.wait_context(), request, &options).await
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
        validate_text("event value", &value.text)?;
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

#[async_trait]
impl StreamStore for MemoryStore {
    async fn write_stream(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<StreamWriteOutcome> {
        caller.validate()?;
        validate_key("stream key", key)?;
        validate_text("stream value", &value.text)?;
        if is_close_sentinel(&value) {
            return Err(rules::sentinel_value(key));
        }
        self.write(|state| state.append(&caller, key, value, WRITE_STREAM_STEP))
    }

    async fn close_stream(&self, caller: Caller, key: &str) -> Result<StreamWriteOutcome> {
        caller.validate()?;
        validate_key("stream key", key)?;
        let sentinel = Payload::portable_json(STREAM_CLOSED_SENTINEL);
        self.write(|state| state.append(&caller, key, sentinel, CLOSE_STREAM_STEP))
    }

    async fn read_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
    ) -> Result<StreamRead> {
        validate::workflow_id(workflow_id)?;
        validate_key("stream key", key)?;
        options.validate()?;
        Ok(self.open()?.read_stream(workflow_id, key, options))
    }

    async fn await_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
        wait: AwaitOptions,
    ) -> Result<StreamRead> {
        waits::await_stream(self, self.wait_context(), workflow_id, key, options, &wait).await
    }
}
