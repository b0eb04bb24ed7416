//! [`StreamStore`] of [`MemoryStore`]: append-only streams with dense offsets, closed by a
//! sentinel value, and their reads and waits.

use async_trait::async_trait;
use dbos_storage_core::messages::validate_key;
use dbos_storage_core::streams::{
    is_close_sentinel, CLOSE_STREAM_STEP, STREAM_CLOSED_SENTINEL, WRITE_STREAM_STEP,
};
use dbos_storage_core::StreamStore;
use dbos_storage_core::{
    validate, AwaitOptions, Caller, Payload, Result, StreamEntry, StreamRead, StreamReadOptions,
    StreamWriteOutcome,
};
use dbos_storage_core::{StreamStepRead, StreamStepRequest};
use dbos_storage_driver_kit::decisions::sends_and_streams;
use dbos_storage_driver_kit::wait::messaging as waits;
use dbos_storage_driver_kit::wait::stream_steps::{self, FoundAtOffset, Settled, StreamStepWaits};

use super::{ours, MemoryStore, State};

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
        let closed = last.is_some_and(|(_, row)| is_close_sentinel(&row.value));
        if closed {
            if step_name == CLOSE_STREAM_STEP {
                self.record_call(caller, step_name, None)?;
                return Ok(StreamWriteOutcome::already_closed());
            }
            return Err(ours(sends_and_streams::closed_stream(workflow_id, key)));
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

impl State {
    /// The recording transaction of a checkpointed read ([`StreamStepWaits`]).
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
            return stream_steps::replayed(request, recorded)
                .map(Some)
                .map_err(ours);
        }
        let found = FoundAtOffset {
            writer_status: self
                .workflow(&request.workflow_id)
                .map(|row| row.info.status.clone()),
            value: self
                .streams
                .get(&(
                    request.workflow_id.clone(),
                    request.key.clone(),
                    request.offset,
                ))
                .map(|row| row.value.clone()),
        };
        match stream_steps::settle(request, found, timed_out).map_err(ours)? {
            Settled::Wait => Ok(None),
            Settled::Record(outcome) => {
                self.record_call(caller, step_name, Some(Settled::step_outcome(&outcome)))?;
                Ok(Some(StreamStepRead::new(outcome, false)))
            }
        }
    }
}

#[async_trait]
impl StreamStepWaits for MemoryStore {
    async fn settle_stream_step(
        &self,
        request: &StreamStepRequest,
        timed_out: Option<std::time::Duration>,
    ) -> Result<Option<StreamStepRead>> {
        self.write(|state| state.settle_stream_step(request, timed_out))
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
        if is_close_sentinel(&value) {
            return Err(sends_and_streams::sentinel_value(key));
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

    async fn read_stream_step(
        &self,
        request: StreamStepRequest,
        wait: AwaitOptions,
    ) -> Result<StreamStepRead> {
        stream_steps::read_stream_step(self, self.wait_context(), request, &wait).await
    }
}
