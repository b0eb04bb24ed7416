//! Types of messages, events and streams: who is calling, what is sent, what a read returns.
//!
//! The operations are in [`crate::MessageStore`], [`crate::EventStore`] and
//! [`crate::StreamStore`].

use crate::error::{Error, ErrorKind, Result};
use crate::payload::Payload;
use crate::types::WorkflowStatus;

/// The topic DBOS stores for a message sent without one (`notifications.topic` is never NULL
/// when DBOS writes it).
pub const NULL_TOPIC: &str = "__null__topic__";

/// The value that closes a stream: the JSON string `"__DBOS_STREAM_CLOSED__"` (quotes included),
/// stored under `portable_json`.
pub const STREAM_CLOSED_SENTINEL: &str = "\"__DBOS_STREAM_CLOSED__\"";

/// Step name of a single send from a workflow.
pub const SEND_STEP: &str = "DBOS.send";
/// Step name of a bulk send from a workflow.
pub const SEND_BULK_STEP: &str = "DBOS.send_bulk";
/// Step name of a receive.
pub const RECV_STEP: &str = "DBOS.recv";
/// Step name of an event published by a workflow.
pub const SET_EVENT_STEP: &str = "DBOS.setEvent";
/// Step name of an event read by a workflow.
pub const GET_EVENT_STEP: &str = "DBOS.getEvent";
/// Step name of a stream write by a workflow.
pub const WRITE_STREAM_STEP: &str = "DBOS.writeStream";
/// Step name of a stream close by a workflow.
pub const CLOSE_STREAM_STEP: &str = "DBOS.closeStream";

/// The name of the PostgreSQL channel the `notifications` trigger signals on.
pub const NOTIFICATIONS_CHANNEL: &str = "dbos_notifications_channel";
/// The name of the PostgreSQL channel event writers signal on after commit.
pub const EVENTS_CHANNEL: &str = "dbos_workflow_events_channel";
/// The name of the PostgreSQL channel stream writers signal on after commit.
pub const STREAMS_CHANNEL: &str = "dbos_streams_channel";

/// The longest topic or event/stream key, in bytes. With the longest workflow id
/// ([`crate::validate::MAX_WORKFLOW_ID_BYTES`]) the wake-up payload `"{workflow_id}::{key}"`
/// stays under PostgreSQL's 8,000-byte limit for a notification, so every backend accepts the
/// same topics and keys.
pub const MAX_TOPIC_BYTES: usize = 4096;

/// Checks a message topic: no NUL byte, at most [`MAX_TOPIC_BYTES`].
///
/// # Errors
/// [`ErrorKind::InvalidInput`] naming the problem.
pub fn validate_topic(topic: &str) -> Result<()> {
    check_length("message topic", topic)?;
    crate::payload::validate_text("message topic", topic)
}

fn check_length(what: &str, text: &str) -> Result<()> {
    if text.len() > MAX_TOPIC_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the {what} is {} bytes, over the limit of {MAX_TOPIC_BYTES} bytes",
                text.len()
            ),
        ));
    }
    Ok(())
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
            crate::payload::validate_text("message idempotency key", key)?;
        }
        crate::payload::validate_text("message", &self.message.text)
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
    check_length(what, key)?;
    crate::payload::validate_text(what, key)
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

/// What [`crate::StreamStore::write_stream`] and [`crate::StreamStore::close_stream`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamWriteOutcome {
    /// The offset the value was written at; `None` for a replay.
    pub offset: Option<i32>,
    /// The write was already recorded as the calling workflow's step: nothing was written.
    pub replayed: bool,
}

impl StreamWriteOutcome {
    /// A fresh write at `offset`.
    pub fn written(offset: i32) -> Self {
        StreamWriteOutcome {
            offset: Some(offset),
            replayed: false,
        }
    }

    /// A replayed write.
    pub fn replayed() -> Self {
        StreamWriteOutcome {
            offset: None,
            replayed: true,
        }
    }

    /// A close of a stream that was already closed: nothing appended, not a replay.
    pub fn already_closed() -> Self {
        StreamWriteOutcome {
            offset: None,
            replayed: false,
        }
    }
}

/// One value of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamEntry {
    /// Its offset (0-based, dense).
    pub offset: i32,
    /// The value.
    pub value: Payload,
}

impl StreamEntry {
    /// An entry.
    pub fn new(offset: i32, value: Payload) -> Self {
        StreamEntry { offset, value }
    }

    /// Whether this entry is the close sentinel.
    pub fn is_close(&self) -> bool {
        is_close_sentinel(&self.value)
    }
}

/// Whether `value` is the stream close sentinel.
pub fn is_close_sentinel(value: &Payload) -> bool {
    value.text == STREAM_CLOSED_SENTINEL
        && value.serialization == Some(crate::payload::Serialization::PortableJson)
}

/// The result of a stream read: the writer's status and the consecutive values from the
/// requested offset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamRead {
    /// The writing workflow's status; `None` if it does not exist.
    pub status: Option<WorkflowStatus>,
    /// Consecutive values from the requested offset, stopping at the first missing offset, at
    /// the limit, or after the close sentinel (which is not included).
    pub values: Vec<StreamEntry>,
    /// The close sentinel follows the last returned value: the stream is complete.
    pub closed: bool,
}

impl StreamRead {
    /// Builds a read from the writer's status and the rows found at consecutive offsets from
    /// `from_offset` (in offset order, the sentinel possibly among them): keeps the values up to
    /// the first gap, and stops at the sentinel.
    pub fn from_rows(
        status: Option<WorkflowStatus>,
        from_offset: i32,
        rows: impl IntoIterator<Item = StreamEntry>,
    ) -> Self {
        let mut values = Vec::new();
        let mut closed = false;
        let mut expected = from_offset;
        for entry in rows {
            if entry.offset != expected {
                break;
            }
            if entry.is_close() {
                closed = true;
                break;
            }
            values.push(entry);
            expected = expected.saturating_add(1);
        }
        StreamRead {
            status,
            values,
            closed,
        }
    }

    /// The offset to read from next.
    pub fn next_offset(&self, from_offset: i32) -> i32 {
        from_offset.saturating_add(i32::try_from(self.values.len()).unwrap_or(i32::MAX))
    }

    /// Whether a reader waiting for more has nothing to wait for: the stream is closed, or the
    /// writer no longer runs (not active) and this read found nothing new.
    pub fn is_settled(&self) -> bool {
        self.closed
            || !self.values.is_empty()
            || !self.status.as_ref().is_some_and(WorkflowStatus::is_active)
    }
}

/// Options of a stream read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamReadOptions {
    /// The first offset to return (0-based).
    pub from_offset: i32,
    /// At most this many values (default 1,000).
    pub limit: u32,
}

impl Default for StreamReadOptions {
    fn default() -> Self {
        StreamReadOptions {
            from_offset: 0,
            limit: 1000,
        }
    }
}

impl StreamReadOptions {
    /// Reads from `offset`.
    #[must_use]
    pub fn from_offset(mut self, offset: i32) -> Self {
        self.from_offset = offset;
        self
    }

    /// Returns at most `limit` values.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Checks the offset and limit.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a negative offset or a zero limit.
    pub fn validate(&self) -> Result<()> {
        if self.from_offset < 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a stream offset must be 0 or more, not {}",
                    self.from_offset
                ),
            ));
        }
        if self.limit == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a stream read limit must be at least 1",
            ));
        }
        Ok(())
    }
}
