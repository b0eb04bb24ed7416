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
