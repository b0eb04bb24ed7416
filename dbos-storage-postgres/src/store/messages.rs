//! [`MessageStore`] on PostgreSQL: sends in one multi-row insert, receives with a durable
//! timeout.

use std::collections::BTreeSet;

use async_trait::async_trait;
use dbos_storage_core::messages::{stored_topic, RECV_STEP};
use dbos_storage_core::{
    validate, AwaitOptions, Caller, Error, MessageStore, Notification, Outcome, OutgoingMessage,
    Payload, RecvRequest, Result, SendOptions, SendOutcome,
};
use dbos_storage_driver_kit::decisions::sends_and_streams;
use dbos_storage_driver_kit::wait::messaging::{self as waits, recorded_value, MessageWaits};
use dbos_storage_driver_kit::wait::WakeChannel;

use super::calls::{begin_call, record_call, Call};
use super::{col, now_ms, payload, PostgresStore};
use crate::error::{classify, is_foreign_key_violation, with_backend};

/// A batch as the parallel arrays `SEND_MESSAGES` binds.
#[derive(Debug, Clone, Default)]
struct SendColumns {
    destinations: Vec<String>,
    topics: Vec<String>,
    messages: Vec<String>,
    serializations: Vec<Option<String>>,
    keys: Vec<Option<String>>,
}

impl SendColumns {
    fn of(messages: &[OutgoingMessage]) -> SendColumns {
        let mut c = SendColumns::default();
        for m in messages {
            c.destinations.push(m.destination_id.clone());
            c.topics.push(stored_topic(m.topic.as_deref()).to_owned());
            c.messages.push(m.message.text.clone());
            c.serializations.push(m.message.label().map(str::to_owned));
            c.keys.push(m.idempotency_key.clone());
        }
        c
    }
}

/// What the sending transaction did.
enum Sent {
    /// The send is recorded as the caller's step: nothing was sent.
    Replayed,
    /// The `(destination, topic)` of every row inserted.
    Delivered(Vec<(String, String)>),
}

impl PostgresStore {
    /// After a send failed on the foreign key: names the first missing destination in batch
    /// order and, for a send by a workflow, records the error as its step in a new transaction
    /// (the failed one was rolled back), so that a replay fails the same way.
    async fn missing_destination(
        &self,
        destinations: Vec<String>,
        caller: Option<Caller>,
        count: usize,
        failure: Error,
    ) -> Result<SendOutcome> {
        let (step_name, _) = sends_and_streams::send_step(count);
        let missing = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let row = tx
                        .query_opt(q.select_missing_destinations.as_str(), &[&destinations])
                        .await
                        .map_err(classify)?;
                    let Some(row) = row else {
                        // The destination appeared since: report the server's error.
                        return Ok(None);
                    };
                    let missing: String = col(&row, 0)?;
                    let Some(caller) = caller else {
                        return Ok(Some(missing));
                    };
                    let what = format!("send messages at step {}", caller.function_id);
                    if let Call::Run { application_name } =
                        begin_call(tx, &q, &caller, step_name, &what).await?
                    {
                        let error = sends_and_streams::missing_destination_step_error(&missing)
                            .map_err(with_backend)?;
                        let now = now_ms(tx, &q).await?;
                        let outcome = Some(Outcome::Error(error));
                        record_call(
                            tx,
                            &q,
                            &caller,
                            step_name,
                            outcome,
                            now,
                            application_name.as_deref(),
                        )
                        .await?;
                    }
                    Ok(Some(missing))
                })
            })
            .await?;
        match missing {
            Some(destination) => Err(with_backend(sends_and_streams::missing_destination(
                &destination,
            ))),
            None => Err(failure),
        }
    }
}

#[async_trait]
impl MessageStore for PostgresStore {
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
        let count = messages.len();
        let columns = SendColumns::of(&messages);
        let destinations = columns.destinations.clone();
        let for_error = caller.clone();
        let sent = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let (step_name, step_outcome) = sends_and_streams::send_step(count);
                    let mut application_name = None;
                    if let Some(caller) = &caller {
                        let what = format!("send messages at step {}", caller.function_id);
                        match begin_call(tx, &q, caller, step_name, &what).await? {
                            Call::Replay(recorded) => {
                                sends_and_streams::replayed_send(caller, count, &recorded)
                                    .map_err(with_backend)?;
                                return Ok(Sent::Replayed);
                            }
                            Call::Run {
                                application_name: app,
                            } => application_name = app,
                        }
                    }
                    let rows = tx
                        .query(
                            q.send_messages.as_str(),
                            &[
                                &columns.destinations,
                                &columns.topics,
                                &columns.messages,
                                &columns.serializations,
                                &columns.keys,
                                &options.send_to_forks,
                            ],
                        )
                        .await
                        .map_err(classify)?;
                    let delivered = rows
                        .iter()
                        .map(|r| Ok((col::<String>(r, 0)?, col::<String>(r, 1)?)))
                        .collect::<Result<Vec<_>>>()?;
                    if let Some(caller) = &caller {
                        let now = now_ms(tx, &q).await?;
                        record_call(
                            tx,
                            &q,
                            caller,
                            step_name,
                            step_outcome,
                            now,
                            application_name.as_deref(),
                        )
                        .await?;
                    }
                    Ok(Sent::Delivered(delivered))
                })
            })
            .await;
        match sent {
            Ok(Sent::Replayed) => Ok(SendOutcome::new(true, 0)),
            Ok(Sent::Delivered(rows)) => {
                let delivered = u64::try_from(rows.len()).unwrap_or(u64::MAX);
                // The trigger signals other processes (with LISTEN/NOTIFY); wake this one now.
                let keys: BTreeSet<(String, String)> = rows.into_iter().collect();
                for (destination, topic) in keys {
                    self.signal(WakeChannel::Notifications, &destination, &topic);
                }
                Ok(SendOutcome::new(false, delivered))
            }
            Err(e) if is_foreign_key_violation(&e) => {
                self.missing_destination(destinations, for_error, count, e)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>> {
        self.ensure_open()?;
        let options = self.signalled_wait(&options);
        waits::recv(self, self.wait_context(), request, &options).await
    }

    async fn list_notifications(&self, workflow_id: &str) -> Result<Vec<Notification>> {
        validate::workflow_id(workflow_id)?;
        let client = self.client().await?;
        let rows = client
            .query(self.queries().list_notifications.as_str(), &[&workflow_id])
            .await
            .map_err(classify)?;
        let mut notifications = rows
            .iter()
            .map(|r| {
                Ok(Notification::from_row(
                    col::<String>(r, 0)?,
                    col(r, 1)?,
                    payload(col(r, 2)?, col(r, 3)?),
                    col(r, 4)?,
                    col(r, 5)?,
                    col(r, 6)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        // Ties of the creation time in byte order, whatever the database's collation.
        notifications.sort_by(|a, b| {
            (a.created_at_epoch_ms, &a.message_id).cmp(&(b.created_at_epoch_ms, &b.message_id))
        });
        Ok(notifications)
    }
}

#[async_trait]
impl MessageWaits for PostgresStore {
    async fn message_waiting(&self, workflow_id: &str, topic: &str) -> Result<bool> {
        let client = self.client().await?;
        let row = client
            .query_one(
                self.queries().message_waiting.as_str(),
                &[&workflow_id, &topic],
            )
            .await
            .map_err(classify)?;
        col(&row, 0)
    }

    async fn consume_message(&self, caller: &Caller, topic: &str) -> Result<Option<Payload>> {
        let caller = caller.clone();
        let topic = topic.to_owned();
        self.write(move |tx, q| {
            Box::pin(async move {
                let what = format!("receive a message at step {}", caller.function_id);
                let application_name = match begin_call(tx, &q, &caller, RECV_STEP, &what).await? {
                    Call::Replay(recorded) => {
                        return recorded_value(recorded, RECV_STEP, &caller).map_err(with_backend);
                    }
                    Call::Run { application_name } => application_name,
                };
                let row = tx
                    .query_opt(
                        q.consume_message.as_str(),
                        &[&caller.workflow_id, &topic, &caller.function_id],
                    )
                    .await
                    .map_err(classify)?;
                let received = row
                    .map(|r| Ok(payload(col(&r, 0)?, col(&r, 1)?)))
                    .transpose()?;
                let now = now_ms(tx, &q).await?;
                record_call(
                    tx,
                    &q,
                    &caller,
                    RECV_STEP,
                    received.clone().map(Outcome::Output),
                    now,
                    application_name.as_deref(),
                )
                .await?;
                Ok(received)
            })
        })
        .await
    }
}
