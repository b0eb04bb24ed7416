//! [`MessageStore`] on SQLite: sends in one write transaction, receives through the shared wait
//! of [`dbos_storage_driver_kit::wait::messaging`].

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::messages::{message_uuid, stored_topic, wake_key, RECV_STEP};
use dbos_storage_core::{
    validate, AwaitOptions, Caller, Error, MessageStore, Notification, Outcome, OutgoingMessage,
    Payload, RecordedStep, RecvRequest, Result, SendOptions, SendOutcome, StepRecord,
};
use dbos_storage_driver_kit::decisions::sends_and_streams;
use dbos_storage_driver_kit::wait::messaging::{self as waits, recorded_value};
use dbos_storage_driver_kit::wait::{MessageWaits, WakeChannel};
use rusqlite::{params, OptionalExtension, Transaction};

use super::steps::{check_caller, insert_call_step, CallerState};
use super::Cached;
use super::{get_bool, get_i64, now_ms, read_payload, select_ids, SqliteStore};
use crate::error::{classify, is_foreign_key_violation, with_backend};
use crate::sql;
use crate::sql::messaging as q;

/// What a send transaction did.
enum Sent {
    /// The messages were delivered (or the send was replayed); wake these keys.
    Done(SendOutcome, Vec<String>),
    /// A destination does not exist: nothing was delivered, and a workflow caller recorded the
    /// error as its step (committed), so a replay fails the same way.
    MissingDestination(String),
}

/// The error of a send to `destination_id`, which does not exist.
fn missing_destination(destination_id: &str) -> Error {
    with_backend(sends_and_streams::missing_destination(destination_id))
}

/// The destinations of `destination_id`: itself, and with `send_to_forks` every workflow forked
/// from it, recursively.
fn destinations(tx: &Transaction<'_>, destination_id: &str, to_forks: bool) -> Result<Vec<String>> {
    if !to_forks {
        return Ok(vec![destination_id.to_owned()]);
    }
    let mut stmt = tx
        .prepare_cached(q::SELECT_DESTINATION_AND_FORKS)
        .map_err(classify)?;
    let rows = stmt
        .query_map([destination_id], |r| r.get::<_, String>(0))
        .map_err(classify)?;
    rows.map(|r| r.map_err(classify)).collect()
}

/// The body of `send_messages`, in one write transaction.
fn send_tx(
    tx: &Transaction<'_>,
    messages: &[OutgoingMessage],
    caller: Option<&Caller>,
    options: SendOptions,
) -> Result<Sent> {
    let count = messages.len();
    let (step_name, step_outcome) = sends_and_streams::send_step(count);
    let mut application_name = None;
    if let Some(caller) = caller {
        let what = format!("send messages at step {}", caller.function_id);
        match check_caller(tx, caller, step_name, &what)? {
            CallerState::Replay(row) => {
                let recorded = RecordedStep::new(row.outcome(), None);
                sends_and_streams::replayed_send(caller, count, &recorded).map_err(with_backend)?;
                return Ok(Sent::Done(SendOutcome::new(true, 0), Vec::new()));
            }
            CallerState::Fresh {
                application_name: app,
            } => application_name = app,
        }
    }
    let now = now_ms(tx)?;
    let recording = caller.filter(|c| c.records_step());
    // Every destination must exist; a missing one delivers nothing.
    let named: Vec<String> = messages
        .iter()
        .map(|m| m.destination_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let existing: HashSet<String> = select_ids(tx, sql::SELECT_EXISTING_IDS, &named)?
        .into_iter()
        .collect();
    if let Some(missing) = messages
        .iter()
        .map(|m| &m.destination_id)
        .find(|d| !existing.contains(*d))
    {
        if let Some(caller) = recording {
            let error = sends_and_streams::missing_destination_step_error(missing)?;
            let step = StepRecord::error(&caller.workflow_id, caller.function_id, step_name, error)
                .with_times(Some(now), now);
            insert_call_step(tx, &step, application_name.as_deref(), now)?;
        }
        return Ok(Sent::MissingDestination(missing.clone()));
    }
    let mut insert = tx.prepare_cached(q::INSERT_MESSAGE).map_err(classify)?;
    let mut delivered = 0u64;
    let mut woken = Vec::new();
    for message in messages {
        let topic = stored_topic(message.topic.as_deref());
        for destination in destinations(tx, &message.destination_id, options.send_to_forks)? {
            let uuid = match &message.idempotency_key {
                Some(key) => message_uuid(key, &destination),
                None => uuid::Uuid::new_v4().to_string(),
            };
            let inserted = insert
                .execute(params![
                    uuid,
                    destination,
                    topic,
                    message.message.text,
                    now,
                    message.message.label(),
                ])
                .map_err(|e| {
                    if is_foreign_key_violation(&e) {
                        missing_destination(&destination)
                    } else {
                        classify(e)
                    }
                })?;
            if inserted > 0 {
                delivered += inserted as u64;
                woken.push(wake_key(&destination, topic));
            }
        }
    }
    if let Some(caller) = recording {
        let step = StepRecord::with_outcome(
            &caller.workflow_id,
            caller.function_id,
            step_name,
            step_outcome,
        )
        .with_times(Some(now), now);
        insert_call_step(tx, &step, application_name.as_deref(), now)?;
    }
    woken.sort();
    woken.dedup();
    Ok(Sent::Done(SendOutcome::new(false, delivered), woken))
}

/// The body of `consume_message`, in one write transaction.
fn consume_tx(tx: &Transaction<'_>, caller: &Caller, topic: &str) -> Result<Option<Payload>> {
    let what = format!("receive a message at step {}", caller.function_id);
    let application_name = match check_caller(tx, caller, RECV_STEP, &what)? {
        CallerState::Replay(row) => {
            let recorded = RecordedStep::new(row.outcome(), None);
            return recorded_value(recorded, RECV_STEP, caller).map_err(with_backend);
        }
        CallerState::Fresh { application_name } => application_name,
    };
    let now = now_ms(tx)?;
    let message = tx
        .query_row_cached(
            q::CONSUME_MESSAGE,
            params![caller.workflow_id, topic, caller.function_id],
            |r| read_payload(r, 0, 1),
        )
        .optional()
        .map_err(classify)?;
    let step = StepRecord::with_outcome(
        &caller.workflow_id,
        caller.function_id,
        RECV_STEP,
        message.clone().map(Outcome::Output),
    )
    .with_times(Some(now), now);
    insert_call_step(tx, &step, application_name.as_deref(), now)?;
    Ok(message)
}

#[async_trait]
impl MessageStore for SqliteStore {
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
        let sent = self
            .conns()
            .write(move |tx| send_tx(tx, &messages, caller.as_ref(), options))
            .await?;
        match sent {
            Sent::Done(outcome, woken) => {
                for key in woken {
                    self.waiters().wake(WakeChannel::Notifications, &key);
                }
                Ok(outcome)
            }
            Sent::MissingDestination(destination) => Err(missing_destination(&destination)),
        }
    }

    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>> {
        waits::recv(self, self.wait_context(), request, &options).await
    }

    async fn list_notifications(&self, workflow_id: &str) -> Result<Vec<Notification>> {
        validate::workflow_id(workflow_id)?;
        let id = workflow_id.to_owned();
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(q::LIST_NOTIFICATIONS).map_err(classify)?;
                let rows = stmt
                    .query_map([id], |r| {
                        Ok(Notification::from_row(
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            read_payload(r, 2, 3)?,
                            get_i64(r, 4)?.unwrap_or_default(),
                            get_bool(r, 5)?,
                            r.get::<_, Option<i32>>(6)?,
                        ))
                    })
                    .map_err(classify)?;
                rows.map(|r| r.map_err(classify)).collect()
            })
            .await
    }
}

#[async_trait]
impl MessageWaits for SqliteStore {
    async fn message_waiting(&self, workflow_id: &str, topic: &str) -> Result<bool> {
        let id = workflow_id.to_owned();
        let topic = topic.to_owned();
        self.conns()
            .read(move |tx| {
                tx.query_row_cached(q::MESSAGE_WAITING, params![id, topic], |r| r.get(0))
                    .map_err(classify)
            })
            .await
    }

    async fn consume_message(&self, caller: &Caller, topic: &str) -> Result<Option<Payload>> {
        let caller = caller.clone();
        let topic = topic.to_owned();
        self.conns()
            .write(move |tx| consume_tx(tx, &caller, &topic))
            .await
    }
}
