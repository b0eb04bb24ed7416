//! [`MessageStore`] of [`MemoryStore`]: messages with idempotency keys, delivered to every fork
//! of their destination, taken once in send order per topic, and the reads of their waits.

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::messages::{NULL_TOPIC, RECV_STEP, SEND_BULK_STEP, SEND_STEP};
use dbos_storage_core::MessageStore;
use dbos_storage_core::StepStore;
use dbos_storage_core::{
    validate, AwaitOptions, Caller, EpochMs, Error, ErrorKind, Notification, Outcome,
    OutgoingMessage, Payload, RecordedStep, RecvRequest, Result, SendOptions, SendOutcome,
};

use super::errors;
use super::messaging::waited_value;
use super::outcomes::portable_error;
use super::waiting::timeout_as_none;
use super::{breadth_first, MemoryStore, State};

/// DBOS's exception class of a send to a workflow that does not exist, recorded as the step of
/// a send from a workflow so that its replay fails the same way.
const NONEXISTENT_WORKFLOW_ERROR_NAME: &str = "DBOSNonExistentWorkflowError";

/// The topic a message is stored under: its own, or [`NULL_TOPIC`] for none.
fn stored_topic(topic: Option<&str>) -> &str {
    topic.unwrap_or(NULL_TOPIC)
}

/// Checks a batch before anything is sent: at least one message, every field valid (the
/// message's documented check), and no idempotency key twice for one destination.
fn check_batch(messages: &[OutgoingMessage]) -> Result<()> {
    if messages.is_empty() {
        return Err(Error::invalid_input("a send needs at least one message"));
    }
    let mut keyed = HashSet::new();
    for message in messages {
        message.validate()?;
        let Some(key) = &message.idempotency_key else {
            continue;
        };
        if !keyed.insert((key, &message.destination_id)) {
            return Err(Error::invalid_input(format!(
                "the batch sends idempotency key {key:?} twice to destination {}; nothing was \
                 sent",
                message.destination_id
            )));
        }
    }
    Ok(())
}

/// The step a send of `count` messages from a workflow records: `DBOS.send` without an outcome
/// for one, `DBOS.send_bulk` with the count for more.
fn send_step(count: usize) -> (&'static str, Option<Outcome>) {
    match count {
        1 => (SEND_STEP, None),
        n => (
            SEND_BULK_STEP,
            Some(Outcome::Output(Payload::portable_json(n.to_string()))),
        ),
    }
}

/// The replay of a send of `count` messages whose step (of the right name) is `recorded`:
/// nothing is sent again; a bulk send of another size, or a first send that found a
/// destination missing, fails as documented.
fn replay_send(caller: &Caller, count: usize, recorded: RecordedStep) -> Result<()> {
    let at = format!(
        "step {} of workflow {}",
        caller.function_id, caller.workflow_id
    );
    match recorded.outcome {
        None if count == 1 => Ok(()),
        Some(Outcome::Output(sent)) if count > 1 => {
            let sent: u64 = serde_json::from_str(&sent.text).map_err(|_| {
                errors::corrupt(format!("{at} does not hold a message count: {}", sent.text))
            })?;
            if usize::try_from(sent) == Ok(count) {
                return Ok(());
            }
            Err(errors::error(
                ErrorKind::UnexpectedStep,
                format!(
                    "{at} sent {sent} messages, this execution sends {count}: the workflow is not \
                     deterministic"
                ),
            ))
        }
        Some(Outcome::Error(recorded)) => {
            let error: serde_json::Value = serde_json::from_str(&recorded.text)
                .map_err(|_| errors::corrupt(format!("{at} holds an error no send records")))?;
            if error["name"] != NONEXISTENT_WORKFLOW_ERROR_NAME {
                return Err(errors::corrupt(format!(
                    "{at} holds an error no send records"
                )));
            }
            Err(errors::error(
                ErrorKind::NotFound,
                format!(
                    "{} (recorded at {at}); nothing was sent",
                    error["message"].as_str().unwrap_or_default()
                ),
            ))
        }
        other => Err(errors::corrupt(format!(
            "{at} holds {other:?}, which no send of {count} messages records"
        ))),
    }
}

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
        breadth_first(&[workflow_id.to_owned()], |level| {
            self.workflows
                .values()
                .filter(|row| {
                    row.info
                        .forked_from
                        .as_ref()
                        .is_some_and(|source| level.contains(source))
                })
                .map(|row| row.info.workflow_id.clone())
                .collect()
        })
    }

    /// The send of [`MessageStore::send_messages`]; the batch and caller have been validated.
    fn send(
        &mut self,
        messages: &[OutgoingMessage],
        caller: Option<&Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome> {
        let (step_name, step_outcome) = send_step(messages.len());
        if let Some(caller) = caller {
            let what = format!("send messages at step {}", caller.function_id);
            if let Some(recorded) = self.check_call(caller, step_name, &what)? {
                replay_send(caller, messages.len(), recorded)?;
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
                let error = portable_error(
                    NONEXISTENT_WORKFLOW_ERROR_NAME,
                    &format!("Sent to non-existent destination workflow ID: {destination}"),
                );
                self.record_call(caller, step_name, Some(Outcome::Error(error)))?;
            }
            return Err(errors::missing_destination(&destination));
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
                    Some(key) => format!("{key}::{destination}"),
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

    /// Whether `workflow_id` has an unconsumed message on the stored `topic`.
    fn message_waiting(&self, workflow_id: &str, topic: &str) -> bool {
        self.notifications
            .iter()
            .any(|row| row.destination_id == workflow_id && row.topic == topic && !row.consumed)
    }

    /// The consuming transaction of a recv: a recorded step is a replay; otherwise the oldest
    /// unconsumed message on `topic` is taken by the caller's step, which records it (or
    /// records nothing found).
    fn consume(&mut self, caller: &Caller, topic: &str) -> Result<Option<Payload>> {
        let what = format!("receive a message at step {}", caller.function_id);
        if let Some(recorded) = self.check_call(caller, RECV_STEP, &what)? {
            return waited_value(recorded, caller, RECV_STEP);
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
impl MessageStore for MemoryStore {
    async fn send_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        caller: Option<Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome> {
        check_batch(&messages)?;
        if let Some(caller) = &caller {
            caller.validate()?;
        }
        self.write(|state| state.send(&messages, caller.as_ref(), options))
    }

    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>> {
        // A replay returns the recorded value; otherwise the timeout is recorded as a durable
        // sleep (so a recovered recv keeps its deadline), the call waits for a message until
        // then, and one transaction takes it (or records that none came).
        request.validate()?;
        let caller = &request.caller;
        let topic = stored_topic(request.topic.as_deref()).to_owned();
        let what = format!("receive a message at step {}", caller.function_id);
        if let Some(recorded) = self.open()?.check_call(caller, RECV_STEP, &what)? {
            return waited_value(recorded, caller, RECV_STEP);
        }
        let timeout_step = caller
            .timeout_function_id
            .expect("validated: a recv has a timeout step");
        let sleep = self
            .record_sleep(
                &caller.workflow_id,
                timeout_step,
                request.timeout,
                caller.owner_xid.as_deref(),
            )
            .await?;
        let awaited = format!(
            "a message for workflow {} on topic {topic}",
            caller.workflow_id
        );
        timeout_as_none(
            self.wait_until(&awaited, &options.timeout(sleep.remaining), || {
                Ok(self
                    .open()?
                    .message_waiting(&caller.workflow_id, &topic)
                    .then_some(()))
            })
            .await,
        )?;
        self.write(|state| state.consume(caller, &topic))
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
