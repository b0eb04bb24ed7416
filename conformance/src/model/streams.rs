//! [`StreamStore`] of [`MemoryStore`]: append-only streams with dense offsets, closed by a
//! sentinel value, and their reads and waits.

use async_trait::async_trait;
use dbos_storage_core::messages::validate_key;
use std::time::Duration;

use dbos_storage_core::streams::{
    CLOSE_STREAM_STEP, STREAM_CLOSED_SENTINEL, STREAM_TIMEOUT_ERROR_NAME, WRITE_STREAM_STEP,
};
use dbos_storage_core::StreamStore;
use dbos_storage_core::{
    validate, AwaitOptions, Caller, Error, Outcome, Payload, Result, Serialization, StreamEntry,
    StreamRead, StreamReadOptions, StreamStepOutcome, StreamWriteOutcome,
};
use dbos_storage_core::{StreamStepRead, StreamStepRequest};

use super::errors;
use super::outcomes::portable_error;
use super::statuses::StatusMeaning;
use super::{MemoryStore, State};

/// Whether `value` is the close sentinel: [`STREAM_CLOSED_SENTINEL`] under `portable_json`
/// (the same text under another label is a value like any other).
fn is_close(value: &Payload) -> bool {
    value.text == STREAM_CLOSED_SENTINEL && value.serialization == Some(Serialization::PortableJson)
}

/// The step outcome a checkpointed read records for `outcome`: the value, the close sentinel
/// for the end, the error for a timeout.
fn recorded_read(outcome: &StreamStepOutcome) -> Outcome {
    match outcome {
        StreamStepOutcome::Value(value) => Outcome::Output(value.clone()),
        StreamStepOutcome::End => Outcome::Output(Payload::portable_json(STREAM_CLOSED_SENTINEL)),
        StreamStepOutcome::TimedOut(error) => Outcome::Error(error.clone()),
    }
}

/// The read a recorded step stands for: its output (the sentinel is the end) or its error (a
/// timeout).
fn replayed_read(request: &StreamStepRequest, outcome: Option<Outcome>) -> Result<StreamStepRead> {
    let outcome = match outcome {
        Some(Outcome::Output(value)) if is_close(&value) => StreamStepOutcome::End,
        Some(Outcome::Output(value)) => StreamStepOutcome::Value(value),
        Some(Outcome::Error(error)) => StreamStepOutcome::TimedOut(error),
        None | Some(Outcome::Void) => {
            return Err(errors::corrupt(format!(
                "step {} of workflow {} holds no outcome; a checkpointed stream read always \
                 records one",
                request.caller.function_id, request.caller.workflow_id
            )))
        }
    };
    Ok(StreamStepRead::new(outcome, true))
}

/// The error a read that waited `timeout` in vain records: DBOS's `DBOSStreamTimeoutError`,
/// its seconds written as Python writes a float.
fn timeout_error(request: &StreamStepRequest, timeout: Duration) -> Payload {
    portable_error(
        STREAM_TIMEOUT_ERROR_NAME,
        &format!(
            "No value arrived on stream {} of workflow {} within {:?} seconds",
            request.key,
            request.workflow_id,
            timeout.as_secs_f64()
        ),
    )
}

/// One row of `streams` (its key is `(workflow_uuid, key, offset)`).
#[derive(Debug, Clone)]
pub(super) struct StreamRow {
    pub(super) value: Payload,
    /// The step that wrote the value (fork copies and rewind cuts by it).
    pub(super) function_id: i32,
}

impl State {
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
        let closed = last.is_some_and(|(_, row)| is_close(&row.value));
        if closed {
            if step_name == CLOSE_STREAM_STEP {
                self.record_call(caller, step_name, None)?;
                return Ok(StreamWriteOutcome::already_closed());
            }
            return Err(errors::closed_stream(workflow_id, key));
        }
        let offset = match last {
            None => 0,
            Some((offset, _)) => offset.checked_add(1).ok_or_else(|| {
                errors::error(
                    dbos_storage_core::ErrorKind::InvalidInput,
                    format!("stream {key} of workflow {workflow_id} has no offset left"),
                )
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
        // Consecutive offsets from the first, up to the limit and through the sentinel (which
        // `from_rows`, the read's only constructor, then marks as the close).
        let mut rows = Vec::new();
        let mut expected = Some(options.from_offset);
        for (offset, row) in self.stream_from(workflow_id, key, options.from_offset) {
            if rows.len() == limit || Some(offset) != expected {
                break;
            }
            rows.push(StreamEntry::new(offset, row.value.clone()));
            if is_close(&row.value) {
                break;
            }
            expected = offset.checked_add(1);
        }
        StreamRead::from_rows(status, options.from_offset, rows)
    }
}

impl State {
    /// The recording transaction of a checkpointed read, as
    /// [`StreamStore::read_stream_step`] documents it: a recorded step is a replay; otherwise
    /// the value at the offset (or the end: the close sentinel there, or nothing there and a
    /// writer that no longer runs) is recorded and returned. With nothing there and a writer
    /// still running it records nothing and returns `None`, unless the wait `timed_out`: then
    /// the timeout is recorded as the step's error.
    fn settle_stream_step(
        &mut self,
        request: &StreamStepRequest,
        timed_out: Option<std::time::Duration>,
    ) -> Result<Option<StreamStepRead>> {
        let caller = &request.caller;
        let step_name = request.kind.step_name();
        let what = format!(
            "read stream {:?} of workflow {} at step {}",
            request.key, request.workflow_id, caller.function_id
        );
        if let Some(recorded) = self.check_call(caller, step_name, &what)? {
            return replayed_read(request, recorded.outcome).map(Some);
        }
        let Some(writer) = self.workflow(&request.workflow_id) else {
            return Err(errors::missing(&request.workflow_id));
        };
        let at_offset = self
            .streams
            .get(&(
                request.workflow_id.clone(),
                request.key.clone(),
                request.offset,
            ))
            .map(|row| row.value.clone());
        let outcome = match at_offset {
            Some(value) if is_close(&value) => StreamStepOutcome::End,
            Some(value) => StreamStepOutcome::Value(value),
            None if !writer.info.status.has_work_left() => StreamStepOutcome::End,
            None => match timed_out {
                Some(timeout) => StreamStepOutcome::TimedOut(timeout_error(request, timeout)),
                None => return Ok(None),
            },
        };
        self.record_call(caller, step_name, Some(recorded_read(&outcome)))?;
        Ok(Some(StreamStepRead::new(outcome, false)))
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
        value.validate("stream value")?;
        if is_close(&value) {
            return Err(Error::invalid_input(format!(
                "the value written to stream {key} is the close sentinel; close_stream closes a \
                 stream"
            )));
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
        validate::workflow_id(workflow_id)?;
        validate_key("stream key", key)?;
        options.validate()?;
        let awaited = format!(
            "stream {key} of workflow {workflow_id} past offset {}",
            options.from_offset
        );
        self.wait_until(&awaited, &wait, || {
            // Settled: a value came, the stream is closed, or its writer no longer runs (or
            // does not exist).
            let read = self.open()?.read_stream(workflow_id, key, options);
            let writer_runs = read.status.as_ref().is_some_and(|s| s.has_work_left());
            let settled = read.closed || !read.values.is_empty() || !writer_runs;
            Ok(settled.then_some(read))
        })
        .await
    }

    async fn read_stream_step(
        &self,
        request: StreamStepRequest,
        wait: AwaitOptions,
    ) -> Result<StreamStepRead> {
        // Each look is the recording transaction: it records and returns once the offset holds
        // a value or the end, or the reader's own step turns up (a replay); when the wait times
        // out, a last transaction records the timeout (or what came meanwhile).
        request.validate()?;
        let awaited = format!(
            "stream {} of workflow {} at offset {}",
            request.key, request.workflow_id, request.offset
        );
        let looked = self
            .wait_until(&awaited, &wait, || {
                let read = self.open()?.settle_stream_step(&request, None)?;
                if read.is_some() {
                    self.bell.ring();
                }
                Ok(read)
            })
            .await;
        match looked {
            Err(e) if e.kind() == dbos_storage_core::ErrorKind::Timeout => {
                let timeout = wait.timeout.unwrap_or_default();
                self.write(|state| state.settle_stream_step(&request, Some(timeout)))?
                    .ok_or_else(|| {
                        errors::corrupt(format!("the timed-out read of {awaited} recorded nothing"))
                    })
            }
            looked => looked,
        }
    }
}
