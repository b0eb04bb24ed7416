//! The messages area: [`MessageStore`] (send and receive) and its plain data, plus what messages,
//! events and streams share: who is calling ([`Caller`]), the limits of topics and keys, and the
//! wake-up key of a wait.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{AwaitOptions, EpochMs, Error, ErrorKind, Payload, Result};

/// The topic DBOS stores for a message sent without one (`notifications.topic` is never NULL
/// when DBOS writes it).
pub const NULL_TOPIC: &str = "__null__topic__";

/// Step name of a single send from a workflow.
pub const SEND_STEP: &str = "DBOS.send";
/// Step name of a bulk send from a workflow.
pub const SEND_BULK_STEP: &str = "DBOS.send_bulk";
/// Step name of a receive.
pub const RECV_STEP: &str = "DBOS.recv";

/// The name of the PostgreSQL channel the `notifications` trigger signals on.
pub const NOTIFICATIONS_CHANNEL: &str = "dbos_notifications_channel";

/// The longest topic or event/stream key, in bytes: [`crate::validate::MAX_KEY_BYTES`], so that
/// with the longest workflow id its index entry fits on every backend (see
/// [`crate::validate`]) and the wake-up payload `"{workflow_id}::{key}"` stays under
/// PostgreSQL's 8,000-byte limit for a notification.
pub const MAX_TOPIC_BYTES: usize = crate::validate::MAX_KEY_BYTES;

/// Checks a message topic: no NUL byte, at most [`MAX_TOPIC_BYTES`].
///
/// # Errors
/// [`ErrorKind::InvalidInput`] naming the problem.
pub fn validate_topic(topic: &str) -> Result<()> {
    crate::validate::key("message topic", topic)
}

/// The topic stored for `topic`: the topic itself, or [`NULL_TOPIC`] for none.
pub fn stored_topic(topic: Option<&str>) -> &str {
    topic.unwrap_or(NULL_TOPIC)
}

/// The wake-up key of a waiter or a notification: `"{workflow_id}::{topic_or_key}"`, the payload
/// DBOS sends on its channels.
pub fn wake_key(workflow_id: &str, topic_or_key: &str) -> String {
    format!("{workflow_id}::{topic_or_key}")
}

/// The `message_uuid` of a message with an idempotency key: `"{key}::{destination}"`, as DBOS
/// writes it, so that a re-send with the same key is dropped by the primary key.
pub fn message_uuid(idempotency_key: &str, destination_id: &str) -> String {
    format!("{idempotency_key}::{destination_id}")
}

/// Who is making a call that may be checkpointed: a workflow directly (the call is one of its
/// steps) or a step of a workflow (no step row; the workflow's ownership is checked).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caller {
    /// The calling workflow.
    pub workflow_id: String,
    /// Called from a workflow: the step this call records. Called from a step: the enclosing
    /// step's position (used as the `function_id` of event history and stream rows).
    pub function_id: i32,
    /// Whether the call is made inside a running step rather than directly by the workflow.
    pub in_step: bool,
    /// The workflow's ownership token, checked in the same transaction when given.
    pub owner_xid: Option<String>,
    /// For waits with a durable timeout (recv, get-event) called from a workflow: the step that
    /// records the timeout as a `DBOS.sleep`, so a recovered wait keeps its deadline.
    pub timeout_function_id: Option<i32>,
}

impl Caller {
    /// A call made directly by workflow `workflow_id` as its step `function_id`.
    pub fn workflow(workflow_id: impl Into<String>, function_id: i32) -> Self {
        Caller {
            workflow_id: workflow_id.into(),
            function_id,
            in_step: false,
            owner_xid: None,
            timeout_function_id: None,
        }
    }

    /// A call made inside step `function_id` of workflow `workflow_id`.
    pub fn step(workflow_id: impl Into<String>, function_id: i32) -> Self {
        Caller {
            in_step: true,
            ..Caller::workflow(workflow_id, function_id)
        }
    }

    /// Checks ownership with this token.
    #[must_use]
    pub fn with_owner(mut self, owner_xid: impl Into<String>) -> Self {
        self.owner_xid = Some(owner_xid.into());
        self
    }

    /// Records a durable timeout at step `function_id` (recv and get-event from a workflow).
    #[must_use]
    pub fn with_timeout_step(mut self, function_id: i32) -> Self {
        self.timeout_function_id = Some(function_id);
        self
    }

    /// Checks the workflow id and positions.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        crate::validate::workflow_id(&self.workflow_id)?;
        crate::validate::function_id(self.function_id)?;
        if let Some(fid) = self.timeout_function_id {
            crate::validate::function_id(fid)?;
            if fid == self.function_id {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "the timeout step and the call's step are both {fid}: a durable wait \
                         records two steps, give them different positions"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether this call records its own step row (made directly by a workflow).
    pub fn records_step(&self) -> bool {
        !self.in_step
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingMessage {
    /// The receiving workflow.
    pub destination_id: String,
    /// The topic; `None` is stored as [`NULL_TOPIC`].
    pub topic: Option<String>,
    /// The message.
    pub message: Payload,
    /// A key that makes re-sends of this message to this destination no-ops (the
    /// `message_uuid` becomes `"{key}::{destination}"`).
    pub idempotency_key: Option<String>,
}

impl OutgoingMessage {
    /// A message to `destination_id` on `topic`.
    pub fn new(
        destination_id: impl Into<String>,
        topic: Option<impl Into<String>>,
        message: Payload,
    ) -> Self {
        OutgoingMessage {
            destination_id: destination_id.into(),
            topic: topic.map(Into::into),
            message,
            idempotency_key: None,
        }
    }

    /// Sets the idempotency key.
    #[must_use]
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Checks the destination, topic, key and payload.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        crate::validate::workflow_id(&self.destination_id)?;
        if let Some(topic) = &self.topic {
            validate_topic(topic)?;
        }
        if let Some(key) = &self.idempotency_key {
            if key.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "a message's idempotency key must not be empty",
                ));
            }
            crate::validate::key("message idempotency key", key)?;
        }
        self.message.validate("message")
    }
}

/// Options of [`crate::MessageStore::send_messages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SendOptions {
    /// Also deliver each message to every workflow forked (recursively) from its destination.
    pub send_to_forks: bool,
}

impl SendOptions {
    /// Also deliver to forks of the destinations.
    #[must_use]
    pub fn send_to_forks(mut self, yes: bool) -> Self {
        self.send_to_forks = yes;
        self
    }
}

/// What [`crate::MessageStore::send_messages`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOutcome {
    /// The send was already recorded as the calling workflow's step: nothing was sent again.
    pub replayed: bool,
    /// Rows inserted by this call (messages times destinations, minus idempotent duplicates);
    /// 0 for a replay.
    pub delivered: u64,
}

impl SendOutcome {
    /// An outcome.
    pub fn new(replayed: bool, delivered: u64) -> Self {
        SendOutcome {
            replayed,
            delivered,
        }
    }
}

/// A receive by a workflow: [`crate::MessageStore::recv`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvRequest {
    /// The receiving workflow, the recv step (`function_id`) and its timeout step
    /// (`timeout_function_id`, required).
    pub caller: Caller,
    /// The topic; `None` receives messages sent without one.
    pub topic: Option<String>,
    /// The durable timeout: recorded at the first call, kept by replays and recoveries.
    pub timeout: std::time::Duration,
}

impl RecvRequest {
    /// A receive on `topic` with a durable `timeout`.
    pub fn new(
        caller: Caller,
        topic: Option<impl Into<String>>,
        timeout: std::time::Duration,
    ) -> Self {
        RecvRequest {
            caller,
            topic: topic.map(Into::into),
            timeout,
        }
    }

    /// Checks the caller, its timeout step and the topic.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        self.caller.validate()?;
        if self.caller.in_step {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "recv must be called by the workflow itself, not inside a step",
            ));
        }
        if self.caller.timeout_function_id.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "recv needs a timeout step (Caller::with_timeout_step) to record its durable timeout",
            ));
        }
        if let Some(topic) = &self.topic {
            validate_topic(topic)?;
        }
        Ok(())
    }
}

/// One message sent to a workflow, as [`crate::MessageStore::list_notifications`] reads it from
/// the `notifications` table: consumed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// The row's `message_uuid`: a uuid, or `"{idempotency_key}::{destination}"` for a message
    /// sent with an idempotency key ([`message_uuid`]).
    pub message_id: String,
    /// The topic; `None` for a message sent without one (stored as [`NULL_TOPIC`], or NULL by
    /// a writer other than DBOS).
    pub topic: Option<String>,
    /// The message, with its serialization label as stored.
    pub message: Payload,
    /// When it was sent (`created_at_epoch_ms`, the database clock).
    pub created_at_epoch_ms: EpochMs,
    /// Whether a recv has taken it (recv marks messages, never deletes them).
    pub consumed: bool,
    /// The recv step that took it (`consumed_by_function_id`); `None` while unconsumed and for
    /// messages consumed by DBOS versions before migration 121.
    pub consumed_by_function_id: Option<i32>,
}

impl Notification {
    /// A notification read from a `notifications` row; `stored_topic` is the column as stored
    /// ([`NULL_TOPIC`] and NULL both become `None`).
    pub fn from_row(
        message_id: impl Into<String>,
        stored_topic: Option<String>,
        message: Payload,
        created_at_epoch_ms: EpochMs,
        consumed: bool,
        consumed_by_function_id: Option<i32>,
    ) -> Self {
        Notification {
            message_id: message_id.into(),
            topic: stored_topic.filter(|topic| topic != NULL_TOPIC),
            message,
            created_at_epoch_ms,
            consumed,
            consumed_by_function_id,
        }
    }
}

/// Checks an event or stream key: non-empty text without NUL bytes, at most
/// [`MAX_TOPIC_BYTES`].
///
/// # Errors
/// [`ErrorKind::InvalidInput`] naming `what`.
pub fn validate_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("the {what} must not be empty"),
        ));
    }
    crate::validate::key(what, key)
}

/// Messages between workflows: send (one step inside a workflow) and receive with a durable
/// timeout.
#[async_trait]
pub trait MessageStore: Debug + Send + Sync + 'static {
    /// Sends messages, in one transaction.
    ///
    /// # Behavior
    /// - `caller = None` (a client): the messages are inserted, nothing is recorded.
    /// - Called from a workflow (`caller.in_step == false`): the whole batch is the caller's step
    ///   `function_id`, named [`SEND_STEP`] for one message and
    ///   [`SEND_BULK_STEP`] (output: the message count) for
    ///   more. A replay sends nothing and returns `replayed = true`; a replay whose batch size
    ///   changed is refused. A missing destination is also recorded as the step's error, so its
    ///   replay fails the same way.
    /// - Called inside a step: no step row; the workflow's ownership is checked.
    /// - A message with an idempotency key gets `message_uuid = "{key}::{destination}"` and a
    ///   re-send is dropped; others get a fresh uuid. A `None` topic is stored as
    ///   [`NULL_TOPIC`].
    /// - With `send_to_forks`, each message also goes to every workflow forked, recursively,
    ///   from its destination, resolved in the same transaction.
    /// - Receivers waiting in this process are woken after the commit (on PostgreSQL the
    ///   `notifications` trigger wakes the others).
    ///
    /// # Errors
    /// - [`NotFound`](crate::ErrorKind::NotFound) naming a destination that does not exist;
    ///   nothing is delivered.
    /// - [`InvalidInput`](crate::ErrorKind::InvalidInput): an empty batch, a duplicate
    ///   idempotency key for one destination in the batch, or an invalid field.
    /// - [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep): the caller's step holds another
    ///   operation, or a replay's batch size differs.
    /// - [`Corrupt`](crate::ErrorKind::Corrupt) naming the step, on a replay whose recorded step
    ///   holds what no send records (a [`SEND_STEP`] with an output, a [`SEND_BULK_STEP`]
    ///   without its count, an error other than a missing destination); nothing is sent.
    /// - [`NotOwner`](crate::ErrorKind::NotOwner), [`Cancelled`](crate::ErrorKind::Cancelled)
    ///   for the calling workflow.
    ///
    /// # Idempotency
    /// Idempotent when called from a workflow (the step records it) or when every message has an
    /// idempotency key; otherwise a re-run after an ambiguous commit may deliver twice.
    async fn send_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        caller: Option<Caller>,
        options: SendOptions,
    ) -> Result<SendOutcome>;

    /// Receives the oldest unconsumed message on a topic, waiting for one up to a durable
    /// timeout.
    ///
    /// # Behavior
    /// 1. A replay returns what the first run received (`None` for a timeout).
    /// 2. Otherwise the timeout is recorded as a `DBOS.sleep` at `timeout_function_id`, so a
    ///    recovered receive keeps its original deadline.
    /// 3. The wait re-checks the database at `options.poll_interval` (or later when a proven
    ///    listener delivers wake-ups) and wakes early on a send; it holds no connection while
    ///    waiting.
    /// 4. One transaction marks the oldest unconsumed message (by `created_at_epoch_ms`)
    ///    `consumed`, with `consumed_by_function_id`, and records step `DBOS.recv` with the
    ///    message in its own serialization, or with no outcome on timeout.
    ///
    /// `options.timeout` is not used: the request's timeout is the wait's bound.
    ///
    /// # Errors
    /// [`Interrupted`](crate::ErrorKind::Interrupted) when `options.cancel` fires (nothing is
    /// consumed); [`Cancelled`](crate::ErrorKind::Cancelled),
    /// [`NotOwner`](crate::ErrorKind::NotOwner),
    /// [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep),
    /// [`NotFound`](crate::ErrorKind::NotFound) for the receiving workflow.
    ///
    /// # Idempotency
    /// Idempotent: the consuming transaction returns the recorded step if there is one.
    async fn recv(&self, request: RecvRequest, options: AwaitOptions) -> Result<Option<Payload>>;

    /// Every message sent to `workflow_id`, consumed or not, in send order: by
    /// `created_at_epoch_ms`, then by `message_uuid` (messages sent in the same millisecond have
    /// no other order). What DBOS Go's `GetAllNotifications` shows operators.
    ///
    /// # Behavior
    /// - Reads the `notifications` table as DBOS writes it, including rows written by other
    ///   SDKs: the null-topic sentinel [`NULL_TOPIC`] (and a NULL topic) reads as `None`, the
    ///   serialization label comes back as stored.
    /// - An unknown workflow, or one without messages, gives an empty list, not
    ///   [`NotFound`](crate::ErrorKind::NotFound), as
    ///   [`EventStore::get_all_events`](crate::EventStore::get_all_events) does: the read is
    ///   one select on `notifications` by `destination_uuid` (no existence check, as an SDK's
    ///   listing of a workflow's messages reads it), and a deleted workflow's messages are
    ///   deleted with it (foreign key `ON DELETE CASCADE`).
    /// - Consumes nothing, records no step, and is not scoped by application.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid workflow id (empty, over
    /// [`crate::validate::MAX_WORKFLOW_ID_BYTES`], or holding a NUL byte); otherwise only the
    /// transient kinds.
    ///
    /// # Idempotency
    /// A read: always safe to re-run.
    async fn list_notifications(&self, workflow_id: &str) -> Result<Vec<Notification>>;
}
