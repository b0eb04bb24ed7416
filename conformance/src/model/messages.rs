//! [`MessageStore`] of [`MemoryStore`]: messages with idempotency keys, delivered to every fork
//! of their destination, taken once in send order per topic, and the reads of their waits.

use async_trait::async_trait;
use dbos_storage_core::messages::{message_uuid, stored_topic, RECV_STEP};
use dbos_storage_core::MessageStore;
use dbos_storage_core::{
    validate, AwaitOptions, Caller, EpochMs, Notification, Outcome, OutgoingMessage, Payload,
    RecvRequest, Result, SendOptions, SendOutcome,
};
use dbos_storage_driver_kit::decisions::child_starts::Descendants;
use dbos_storage_driver_kit::decisions::sends_and_streams;
use dbos_storage_driver_kit::wait::messaging::{self as waits, recorded_value, MessageWaits};

use super::{ours, MemoryStore, State};

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

impl State {
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
        let (step_name, step_outcome) = sends_and_streams::send_step(messages.len());
        if let Some(caller) = caller {
            let what = format!("send messages at step {}", caller.function_id);
            if let Some(recorded) = self.check_call(caller, step_name, &what)? {
                sends_and_streams::replayed_send(caller, messages.len(), &recorded)
                    .map_err(ours)?;
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
                let error = sends_and_streams::missing_destination_step_error(&destination)?;
                self.record_call(caller, step_name, Some(Outcome::Error(error)))?;
            }
            return Err(ours(sends_and_streams::missing_destination(&destination)));
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
impl MessageStore for MemoryStore {
    async fn send_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        caller: Option<Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome> {
        sends_and_streams::validate_batch(&messages)?;
        if let Some(caller) = &caller {
            caller.validate()?;
        }
        self.write(|state| state.send(&messages, caller.as_ref(), options))
    }

    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>> {
        waits::recv(self, self.wait_context(), request, &options).await
    }

    async fn list_notifications(&self, workflow_id: &str) -> Result<Vec<Notification>> {
        validate::workflow_id(workflow_id)?;
        let state = self.open()?;
        let mut rows: Vec<&MessageRow> = state
            .notifications
            .iter()
            .filter(|row| row.destination_id == workflow_id)
            .collect();
        rows.sort_by(|a, b| {
            (a.created_at_epoch_ms, &a.message_uuid).cmp(&(b.created_at_epoch_ms, &b.message_uuid))
        });
        Ok(rows
            .into_iter()
            .map(|row| {
                Notification::from_row(
                    row.message_uuid.clone(),
                    Some(row.topic.clone()),
                    row.message.clone(),
                    row.created_at_epoch_ms,
                    row.consumed,
                    row.consumed_by_function_id,
                )
            })
            .collect())
    }
}
