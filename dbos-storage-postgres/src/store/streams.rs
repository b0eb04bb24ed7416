//! [`StreamStore`] on PostgreSQL: appends at dense offsets, one-statement reads, and waits.

use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::{
    messages::validate_key,
    streams::{is_close_sentinel, CLOSE_STREAM_STEP, STREAM_CLOSED_SENTINEL, WRITE_STREAM_STEP},
};
use dbos_storage_core::{
    validate, AwaitOptions, Backoff, Caller, Payload, Result, RetryPolicy, StreamEntry, StreamRead,
    StreamReadOptions, StreamStepRead, StreamStepRequest, StreamStore, StreamWriteOutcome,
};
use dbos_storage_driver_kit::decisions::column_values::status_of;
use dbos_storage_driver_kit::decisions::sends_and_streams;
use dbos_storage_driver_kit::wait::messaging as waits;
use dbos_storage_driver_kit::wait::stream_steps::{self, FoundAtOffset, Settled, StreamStepWaits};
use dbos_storage_driver_kit::wait::WakeChannel;
use tokio_postgres::GenericClient;

use super::calls::{begin_call, record_call, Call};
use super::{col, now_ms, payload, PostgresStore};
use crate::error::{classify, is_conflict, is_unique_violation_error, lost_race, with_backend};

/// How an append is retried when a concurrent writer takes its offset: about 5 ms apart, for at
/// most 50 attempts.
fn append_retries() -> RetryPolicy {
    let pause = Duration::from_millis(5);
    RetryPolicy::none()
        .conflict(Backoff::new(pause, pause, 1.0, 50))
        .max_elapsed(Duration::from_secs(10))
}

impl PostgresStore {
    /// Appends `value` to the caller's stream `key` as step `step_name` ([`WRITE_STREAM_STEP`]
    /// or, for the sentinel, [`CLOSE_STREAM_STEP`]), in one transaction, re-run when a
    /// concurrent writer took the offset (so offsets stay dense).
    async fn append(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
        step_name: &'static str,
    ) -> Result<StreamWriteOutcome> {
        // A lost offset goes to the retry policy; any other error goes back to the caller as it
        // is (the outer `Result` is the policy's, the inner one the append's outcome).
        let outcome = append_retries()
            .run(false, || async {
                let appended = self
                    .append_once(caller.clone(), key.to_owned(), value.clone(), step_name)
                    .await;
                match appended {
                    Err(e) if is_unique_violation_error(&e) => Err(lost_race(
                        e,
                        &format!(
                            "stream {key} of workflow {}: a concurrent writer took the offset",
                            caller.workflow_id
                        ),
                    )),
                    Err(e) if is_conflict(&e) => Err(e),
                    other => Ok(other),
                }
            })
            .await
            .and_then(|appended| appended)?;
        if outcome.offset.is_some() {
            self.signal(WakeChannel::Streams, &caller.workflow_id, key);
        }
        Ok(outcome)
    }

    /// One attempt of [`append`](Self::append): the transaction that takes the next offset.
    async fn append_once(
        &self,
        caller: Caller,
        key: String,
        value: Payload,
        step_name: &'static str,
    ) -> Result<StreamWriteOutcome> {
        self.write(move |tx, q| {
            Box::pin(async move {
                let what = format!("write stream {key:?} at step {}", caller.function_id);
                let application_name = match begin_call(tx, &q, &caller, step_name, &what).await? {
                    Call::Replay(_) => return Ok(StreamWriteOutcome::replayed()),
                    Call::Run { application_name } => application_name,
                };
                let row = tx
                    .query_opt(
                        q.append_stream.as_str(),
                        &[
                            &caller.workflow_id,
                            &key,
                            &value.text,
                            &value.label(),
                            &caller.function_id,
                            &STREAM_CLOSED_SENTINEL,
                        ],
                    )
                    .await
                    .map_err(classify)?;
                let outcome = match row {
                    Some(row) => StreamWriteOutcome::written(col(&row, 0)?),
                    None if step_name == CLOSE_STREAM_STEP => StreamWriteOutcome::already_closed(),
                    None => {
                        let e = sends_and_streams::closed_stream(&caller.workflow_id, &key);
                        return Err(with_backend(e));
                    }
                };
                let now = now_ms(tx, &q).await?;
                record_call(
                    tx,
                    &q,
                    &caller,
                    step_name,
                    None,
                    now,
                    application_name.as_deref(),
                )
                .await?;
                Ok(outcome)
            })
        })
        .await
    }
}

/// The one-statement read of `read_stream` (`statement`, rendered) on `client` (a pooled
/// connection or an open transaction): the writer's status and the values from
/// `options.from_offset`.
async fn read_stream_rows<C: GenericClient + Sync>(
    client: &C,
    statement: &str,
    workflow_id: &str,
    key: &str,
    options: StreamReadOptions,
) -> Result<StreamRead> {
    let end = i64::from(options.from_offset) + i64::from(options.limit);
    let rows = client
        .query(statement, &[&workflow_id, &key, &options.from_offset, &end])
        .await
        .map_err(classify)?;
    let status = match rows.first() {
        Some(row) => Some(status_of(col::<Option<String>>(row, 0)?.as_deref())),
        None => None,
    };
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(offset) = col::<Option<i32>>(row, 1)? {
            let value: String = col(row, 2)?;
            entries.push(StreamEntry::new(offset, payload(value, col(row, 3)?)));
        }
    }
    Ok(StreamRead::from_rows(status, options.from_offset, entries))
}

#[async_trait]
impl StreamStepWaits for PostgresStore {
    /// Locks the reading workflow (through the caller checks) before it reads the stream, so
    /// that two attempts of one read record one step.
    async fn settle_stream_step(
        &self,
        request: &StreamStepRequest,
        timed_out: Option<Duration>,
    ) -> Result<Option<StreamStepRead>> {
        let request = request.clone();
        self.write(move |tx, q| {
            Box::pin(async move {
                let caller = &request.caller;
                let step_name = request.kind.step_name();
                let what = format!(
                    "read stream {:?} of workflow {} at step {}",
                    request.key, request.workflow_id, caller.function_id
                );
                let application_name = match begin_call(tx, &q, caller, step_name, &what).await? {
                    Call::Replay(recorded) => {
                        return stream_steps::replayed(&request, recorded)
                            .map(Some)
                            .map_err(with_backend);
                    }
                    Call::Run { application_name } => application_name,
                };
                let options = StreamReadOptions::default()
                    .from_offset(request.offset)
                    .limit(1);
                let read = read_stream_rows(
                    tx,
                    &q.read_stream,
                    &request.workflow_id,
                    &request.key,
                    options,
                )
                .await?;
                let found = FoundAtOffset {
                    value: match read.values.into_iter().next() {
                        Some(entry) => Some(entry.value),
                        None => read
                            .closed
                            .then(|| Payload::portable_json(STREAM_CLOSED_SENTINEL)),
                    },
                    writer_status: read.status,
                };
                match stream_steps::settle(&request, found, timed_out).map_err(with_backend)? {
                    Settled::Wait => Ok(None),
                    Settled::Record(outcome) => {
                        let now = now_ms(tx, &q).await?;
                        record_call(
                            tx,
                            &q,
                            caller,
                            step_name,
                            Some(Settled::step_outcome(&outcome)),
                            now,
                            application_name.as_deref(),
                        )
                        .await?;
                        Ok(Some(StreamStepRead::new(outcome, false)))
                    }
                }
            })
        })
        .await
    }
}

#[async_trait]
impl StreamStore for PostgresStore {
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
        self.append(caller, key, value, WRITE_STREAM_STEP).await
    }

    async fn close_stream(&self, caller: Caller, key: &str) -> Result<StreamWriteOutcome> {
        caller.validate()?;
        validate_key("stream key", key)?;
        let sentinel = Payload::portable_json(STREAM_CLOSED_SENTINEL);
        self.append(caller, key, sentinel, CLOSE_STREAM_STEP).await
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
        let client = self.client().await?;
        read_stream_rows(
            &**client,
            &self.queries().read_stream,
            workflow_id,
            key,
            options,
        )
        .await
    }

    /// Re-checks at `wait.poll_interval` even with a proven listener: a writer that finishes
    /// without closing its stream ends the wait, and nothing signals that.
    async fn await_stream(
        &self,
        workflow_id: &str,
        key: &str,
        options: StreamReadOptions,
        wait: AwaitOptions,
    ) -> Result<StreamRead> {
        self.ensure_open()?;
        waits::await_stream(self, self.wait_context(), workflow_id, key, options, &wait).await
    }

    /// Re-checks at `wait.poll_interval` even with a proven listener, as `await_stream` does.
    async fn read_stream_step(
        &self,
        request: StreamStepRequest,
        wait: AwaitOptions,
    ) -> Result<StreamStepRead> {
        self.ensure_open()?;
        stream_steps::read_stream_step(self, self.wait_context(), request, &wait).await
    }
}
