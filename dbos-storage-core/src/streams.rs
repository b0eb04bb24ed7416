//! The streams area: [`StreamStore`] and its plain data (stream entries, reads, writes and the
//! close sentinel).

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{AwaitOptions, Caller, Error, ErrorKind, Payload, Result, WorkflowStatus};

/// The value that closes a stream: the JSON string `"__DBOS_STREAM_CLOSED__"` (quotes included),
/// stored under `portable_json`.
pub const STREAM_CLOSED_SENTINEL: &str = "\"__DBOS_STREAM_CLOSED__\"";

/// Step name of a stream write by a workflow.
pub const WRITE_STREAM_STEP: &str = "DBOS.writeStream";
/// Step name of a stream close by a workflow.
pub const CLOSE_STREAM_STEP: &str = "DBOS.closeStream";
/// Step name of one value read from a stream by a workflow (DBOS `read_stream`).
pub const READ_STREAM_STEP: &str = "DBOS.readStream";
/// Step name of the value at one offset read by a workflow (DBOS `read_stream_offset`).
pub const READ_STREAM_OFFSET_STEP: &str = "DBOS.readStreamOffset";
/// The name of the portable error a timed-out checkpointed read records (DBOS's exception
/// class).
pub const STREAM_TIMEOUT_ERROR_NAME: &str = "DBOSStreamTimeoutError";

/// The name of the PostgreSQL channel stream writers signal on after commit.
pub const STREAMS_CHANNEL: &str = "dbos_streams_channel";

/// Append-only streams of values a workflow writes and anyone reads.
#[async_trait]
pub trait StreamStore: Debug + Send + Sync + 'static {
    /// Appends a value to the caller's stream `key` at the next offset (0-based, dense even
    /// under concurrent writers).
    ///
    /// # Behavior
    /// From a workflow: one transaction appends and records step `DBOS.writeStream`; a replay
    /// writes nothing. Inside a step: the append is checked against the workflow's ownership;
    /// no step row (a retried step may append twice). Waiters are woken after the commit;
    /// PostgreSQL also signals `dbos_streams_channel`.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a closed stream or the close
    /// sentinel as a value; [`NotFound`](crate::ErrorKind::NotFound) for a missing workflow;
    /// [`NotOwner`](crate::ErrorKind::NotOwner), [`Cancelled`](crate::ErrorKind::Cancelled),
    /// [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep).
    ///
    /// # Idempotency
    /// Idempotent from a workflow; not idempotent inside a step.
    async fn write_stream(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<StreamWriteOutcome>;

    /// Closes the caller's stream `key` by appending the sentinel
    /// [`STREAM_CLOSED_SENTINEL`] (`portable_json`),
    /// as step `DBOS.closeStream` from a workflow.
    ///
    /// # Errors
    /// As [`StreamStore::write_stream`]; closing a closed stream is not an error (nothing is
    /// appended, `offset = None`).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn close_stream(&self, caller: Caller, key: &str) -> Result<StreamWriteOutcome>;

    /// Reads consecutive values from `options.from_offset`, with the writer's status, in one
    /// statement. Stops at the first missing offset, at the limit, or at the close sentinel
    /// (`closed = true`). A terminal writer does not mean the stream is complete.
    ///
    /// # Errors
    /// Only the transient kinds and invalid input.
    async fn read_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
    ) -> Result<StreamRead>;

    /// Waits until a read from `options.from_offset` returns a value, finds the stream closed,
    /// or finds the writer inactive (finished or missing), and returns that read.
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout) after `wait.timeout`;
    /// [`Interrupted`](crate::ErrorKind::Interrupted) when `wait.cancel` fires.
    async fn await_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
        wait: AwaitOptions,
    ) -> Result<StreamRead>;

    /// Reads one value of another workflow's stream as a step of the calling workflow (DBOS
    /// `read_stream` / `read_stream_offset` from a workflow: one value per step), waiting for
    /// it up to `wait.timeout`.
    ///
    /// # Behavior
    /// One transaction checks the caller's step: when it is recorded (a replay) its outcome is
    /// returned and nothing is read. Otherwise the same transaction reads the value at
    /// `request.offset` with the writer's status and records step `DBOS.readStream` (or
    /// `DBOS.readStreamOffset`) with:
    /// - the value, in its own serialization ([`StreamStepOutcome::Value`]);
    /// - the close sentinel (`portable_json`, as DBOS records the end) when the stream is closed
    ///   at that offset, or when nothing is written there and the writer is no longer active
    ///   ([`StreamStepOutcome::End`]);
    /// - nothing yet when nothing is written and the writer is active: the call waits (polling at
    ///   `wait.poll_interval`, woken early by a write in this process) and tries again. When
    ///   `wait.timeout` passes first, a last transaction records the step's *error*: a
    ///   `portable_json` error named `DBOSStreamTimeoutError`
    ///   ([`StreamStepOutcome::TimedOut`]), so a replay fails the same way without waiting.
    ///
    /// The timeout is per value and not durable (DBOS's: a recovered read waits again from the
    /// start); `None` waits for ever. The wait also ends when the reading workflow is cancelled.
    ///
    /// # Errors
    /// - [`NotFound`](crate::ErrorKind::NotFound): the writer, or the reading workflow, does not
    ///   exist (nothing is recorded).
    /// - [`Cancelled`](crate::ErrorKind::Cancelled), [`NotOwner`](crate::ErrorKind::NotOwner),
    ///   [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep) for the reading workflow.
    /// - [`Interrupted`](crate::ErrorKind::Interrupted) when `wait.cancel` fires (nothing is
    ///   recorded).
    /// - [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid request (see
    ///   [`StreamStepRequest::validate`]).
    ///
    /// # Idempotency
    /// Idempotent: the recording transaction returns the recorded step if there is one.
    async fn read_stream_step(
        &self,
        request: StreamStepRequest,
        wait: AwaitOptions,
    ) -> Result<StreamStepRead>;
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

/// Which DBOS read a [`StreamStepRequest`] checkpoints: they differ only in the step name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StreamStepKind {
    /// One value of an iteration over the stream (`DBOS.readStream`).
    #[default]
    Iteration,
    /// The value at one offset (`DBOS.readStreamOffset`; DBOS raises its stream-timeout error
    /// when the stream ended before the offset).
    Offset,
}

impl StreamStepKind {
    /// The step name the read records.
    pub fn step_name(self) -> &'static str {
        match self {
            StreamStepKind::Iteration => READ_STREAM_STEP,
            StreamStepKind::Offset => READ_STREAM_OFFSET_STEP,
        }
    }
}

/// A checkpointed read of one stream value by a workflow:
/// [`StreamStore::read_stream_step`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStepRequest {
    /// The reading workflow and the step the read records (`caller.function_id`). It must be
    /// the workflow itself (a read inside a step is covered by that step's checkpoint: use
    /// [`StreamStore::await_stream`]) and has no timeout step (the timeout is not durable).
    pub caller: Caller,
    /// The workflow whose stream is read.
    pub workflow_id: String,
    /// The stream key.
    pub key: String,
    /// The offset to read (0-based).
    pub offset: i32,
    /// The step name to record.
    pub kind: StreamStepKind,
}

impl StreamStepRequest {
    /// A read of the value at `offset` of stream `key` of `workflow_id`, recorded as step
    /// `DBOS.readStream` of `caller`.
    pub fn new(
        caller: Caller,
        workflow_id: impl Into<String>,
        key: impl Into<String>,
        offset: i32,
    ) -> Self {
        StreamStepRequest {
            caller,
            workflow_id: workflow_id.into(),
            key: key.into(),
            offset,
            kind: StreamStepKind::Iteration,
        }
    }

    /// Records the read under `kind`'s step name.
    #[must_use]
    pub fn kind(mut self, kind: StreamStepKind) -> Self {
        self.kind = kind;
        self
    }

    /// Checks the caller, the writer's id, the key and the offset.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        self.caller.validate()?;
        if self.caller.in_step {
            return Err(Error::invalid_input(
                "a checkpointed stream read is a step of the workflow itself, not a call inside \
                 a step (a step's own checkpoint covers what it reads): read with await_stream",
            ));
        }
        if self.caller.timeout_function_id.is_some() {
            return Err(Error::invalid_input(
                "a checkpointed stream read records no durable timeout: its timeout is the \
                 wait's (AwaitOptions::timeout), so give the caller no timeout step",
            ));
        }
        crate::validate::workflow_id(&self.workflow_id)?;
        crate::messages::validate_key("stream key", &self.key)?;
        StreamReadOptions::default()
            .from_offset(self.offset)
            .validate()
    }
}

/// What a checkpointed stream read found (or, replayed, what it recorded): DBOS's three
/// outcomes of one read, a closed set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStepOutcome {
    /// The value at the offset.
    Value(Payload),
    /// The stream ends before the offset: it is closed there, or its writer finished without
    /// writing there. Recorded as the close sentinel.
    End,
    /// No value arrived within the timeout. Recorded as the step's error, which this holds (a
    /// `portable_json` error named [`STREAM_TIMEOUT_ERROR_NAME`]).
    TimedOut(Payload),
}

/// The result of [`StreamStore::read_stream_step`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStepRead {
    /// What was read.
    pub outcome: StreamStepOutcome,
    /// The step was already recorded: this is the first run's outcome, nothing was read.
    pub replayed: bool,
}

impl StreamStepRead {
    /// A read with this outcome.
    pub fn new(outcome: StreamStepOutcome, replayed: bool) -> Self {
        StreamStepRead { outcome, replayed }
    }
}
