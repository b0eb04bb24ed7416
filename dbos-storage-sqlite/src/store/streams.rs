//! [`StreamStore`] on SQLite: appends at the next offset inside the write transaction, reads in
//! one statement, waits through the shared wait of [`dbos_storage_driver_kit::wait::messaging`].

use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::{
    messages::validate_key,
    streams::{is_close_sentinel, CLOSE_STREAM_STEP, STREAM_CLOSED_SENTINEL, WRITE_STREAM_STEP},
};
use dbos_storage_core::{
    validate, AwaitOptions, Caller, Error, Payload, RecordedStep, Result, StepRecord, StreamEntry,
    StreamRead, StreamReadOptions, StreamStepRead, StreamStepRequest, StreamStore,
    StreamWriteOutcome,
};
use dbos_storage_driver_kit::decisions::column_values::status_of;
use dbos_storage_driver_kit::decisions::sends_and_streams;
use dbos_storage_driver_kit::wait::messaging::{self as waits, wake_after_commit};
use dbos_storage_driver_kit::wait::stream_steps::{self, FoundAtOffset, Settled, StreamStepWaits};
use dbos_storage_driver_kit::wait::WakeChannel;
use rusqlite::{params, OptionalExtension, Transaction};

use super::steps::{check_caller, insert_call_step, CallerState};
use super::Cached;
use super::{get_i64, now_ms, read_payload, SqliteStore};
use crate::error::{classify, with_backend};
use crate::sql::messaging as q;

/// What a stream write appends.
#[derive(Clone, Copy)]
enum Append<'a> {
    /// A value (`write_stream`).
    Value(&'a Payload),
    /// The close sentinel (`close_stream`).
    Close,
}

impl Append<'_> {
    fn step_name(self) -> &'static str {
        match self {
            Append::Value(_) => WRITE_STREAM_STEP,
            Append::Close => CLOSE_STREAM_STEP,
        }
    }

    fn what(self, key: &str, function_id: i32) -> String {
        match self {
            Append::Value(_) => format!("write stream {key:?} at step {function_id}"),
            Append::Close => format!("close stream {key:?} at step {function_id}"),
        }
    }
}

/// Whether the stream is closed: its last value is the sentinel.
fn is_closed(tx: &Transaction<'_>, workflow_id: &str, key: &str) -> Result<bool> {
    let tail = tx
        .query_row_cached(q::SELECT_STREAM_TAIL, params![workflow_id, key], |r| {
            read_payload(r, 0, 1)
        })
        .optional()
        .map_err(classify)?;
    Ok(tail.as_ref().is_some_and(is_close_sentinel))
}

/// The body of `write_stream` and `close_stream`, in one write transaction.
fn append_tx(
    tx: &Transaction<'_>,
    caller: &Caller,
    key: &str,
    append: Append<'_>,
) -> Result<StreamWriteOutcome> {
    let step_name = append.step_name();
    let application_name =
        match check_caller(tx, caller, step_name, &append.what(key, caller.function_id))? {
            CallerState::Replay(_) => return Ok(StreamWriteOutcome::replayed()),
            CallerState::Fresh { application_name } => application_name,
        };
    let closed = is_closed(tx, &caller.workflow_id, key)?;
    let outcome = match (append, closed) {
        (Append::Value(_), true) => {
            return Err(with_backend(sends_and_streams::closed_stream(
                &caller.workflow_id,
                key,
            )))
        }
        (Append::Close, true) => StreamWriteOutcome::already_closed(),
        (append, false) => {
            let sentinel;
            let value = match append {
                Append::Value(value) => value,
                Append::Close => {
                    sentinel = Payload::portable_json(STREAM_CLOSED_SENTINEL);
                    &sentinel
                }
            };
            let offset: i64 = tx
                .query_row_cached(
                    q::APPEND_STREAM_VALUE,
                    params![
                        caller.workflow_id,
                        key,
                        value.text,
                        caller.function_id,
                        value.label()
                    ],
                    |r| r.get(0),
                )
                .map_err(classify)?;
            let offset = i32::try_from(offset).map_err(|_| {
                with_backend(Error::invalid_input(format!(
                    "stream {key:?} of workflow {} is full: offset {offset} does not fit an i32",
                    caller.workflow_id
                )))
            })?;
            StreamWriteOutcome::written(offset)
        }
    };
    if caller.records_step() {
        let now = now_ms(tx)?;
        let step =
            StepRecord::with_outcome(&caller.workflow_id, caller.function_id, step_name, None)
                .with_times(Some(now), now);
        insert_call_step(tx, &step, application_name.as_deref(), now)?;
    }
    Ok(outcome)
}

/// The one-statement read of `read_stream`: the writer's status and the values from
/// `options.from_offset`.
fn read_stream_tx(
    tx: &Transaction<'_>,
    id: &str,
    key: &str,
    options: StreamReadOptions,
) -> Result<StreamRead> {
    let mut stmt = tx.prepare_cached(q::READ_STREAM).map_err(classify)?;
    let mut rows = stmt
        .query(params![
            id,
            key,
            options.from_offset,
            i64::from(options.limit)
        ])
        .map_err(classify)?;
    let mut status = None;
    let mut entries = Vec::new();
    while let Some(r) = rows.next().map_err(classify)? {
        let text: Option<String> = r.get(0).map_err(classify)?;
        status = Some(status_of(text.as_deref()));
        let Some(offset) = get_i64(r, 1).map_err(classify)? else {
            continue;
        };
        let offset = i32::try_from(offset).map_err(|_| {
            with_backend(Error::corrupt(format!(
                "stream offset {offset} does not fit an i32"
            )))
        })?;
        entries.push(StreamEntry::new(
            offset,
            read_payload(r, 2, 3).map_err(classify)?,
        ));
    }
    Ok(StreamRead::from_rows(status, options.from_offset, entries))
}

/// The recording transaction of a checkpointed read ([`StreamStepWaits`]).
fn settle_stream_step_tx(
    tx: &Transaction<'_>,
    request: &StreamStepRequest,
    timed_out: Option<Duration>,
) -> Result<Option<StreamStepRead>> {
    let caller = &request.caller;
    let step_name = request.kind.step_name();
    let what = format!(
        "read stream {:?} of workflow {} at step {}",
        request.key, request.workflow_id, caller.function_id
    );
    let application_name = match check_caller(tx, caller, step_name, &what)? {
        CallerState::Replay(row) => {
            let recorded = RecordedStep::new(row.outcome(), row.child_workflow_id.clone());
            return stream_steps::replayed(request, recorded)
                .map(Some)
                .map_err(with_backend);
        }
        CallerState::Fresh { application_name } => application_name,
    };
    let options = StreamReadOptions::default()
        .from_offset(request.offset)
        .limit(1);
    let read = read_stream_tx(tx, &request.workflow_id, &request.key, options)?;
    let found = FoundAtOffset {
        value: match read.values.into_iter().next() {
            Some(entry) => Some(entry.value),
            None => read
                .closed
                .then(|| Payload::portable_json(STREAM_CLOSED_SENTINEL)),
        },
        writer_status: read.status,
    };
    match stream_steps::settle(request, found, timed_out).map_err(with_backend)? {
        Settled::Wait => Ok(None),
        Settled::Record(outcome) => {
            let now = now_ms(tx)?;
            let step = StepRecord::with_outcome(
                &caller.workflow_id,
                caller.function_id,
                step_name,
                Some(Settled::step_outcome(&outcome)),
            )
            .with_times(Some(now), now);
            insert_call_step(tx, &step, application_name.as_deref(), now)?;
            Ok(Some(StreamStepRead::new(outcome, false)))
        }
    }
}

#[async_trait]
impl StreamStepWaits for SqliteStore {
    async fn settle_stream_step(
        &self,
        request: &StreamStepRequest,
        timed_out: Option<Duration>,
    ) -> Result<Option<StreamStepRead>> {
        let request = request.clone();
        self.conns()
            .write(move |tx| settle_stream_step_tx(tx, &request, timed_out))
            .await
    }
}

impl SqliteStore {
    /// Appends to the caller's stream and wakes its readers in this process.
    async fn append(
        &self,
        caller: Caller,
        key: &str,
        value: Option<Payload>,
    ) -> Result<StreamWriteOutcome> {
        caller.validate()?;
        validate_key("stream key", key)?;
        if let Some(value) = &value {
            value.validate("stream value")?;
            if is_close_sentinel(value) {
                return Err(sends_and_streams::sentinel_value(key));
            }
        }
        let workflow_id = caller.workflow_id.clone();
        let key = key.to_owned();
        let written_key = key.clone();
        let outcome = self
            .conns()
            .write(move |tx| {
                let append = match &value {
                    Some(value) => Append::Value(value),
                    None => Append::Close,
                };
                append_tx(tx, &caller, &key, append)
            })
            .await?;
        if outcome.offset.is_some() {
            wake_after_commit(
                self.waiters(),
                WakeChannel::Streams,
                &workflow_id,
                &written_key,
            );
        }
        Ok(outcome)
    }
}

#[async_trait]
impl StreamStore for SqliteStore {
    async fn write_stream(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<StreamWriteOutcome> {
        self.append(caller, key, Some(value)).await
    }

    async fn close_stream(&self, caller: Caller, key: &str) -> Result<StreamWriteOutcome> {
        self.append(caller, key, None).await
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
        let id = workflow_id.to_owned();
        let key = key.to_owned();
        self.conns()
            .read(move |tx| read_stream_tx(tx, &id, &key, options))
            .await
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
