//! Checkpointed stream reads ([`StreamStore::read_stream_step`]), written once for every
//! backend: the decision of the recording transaction ([`settle`]), how a recorded step reads
//! back ([`replayed`]), and the wait between transactions ([`read_stream_step`]).
//!
//! A backend provides the recording transaction ([`StreamStepWaits::settle_stream_step`]): its
//! caller checks (replay, cancellation, ownership), the read of the value at the offset with
//! the writer's status, and the step it records as [`settle`] decides.

use std::time::Duration;

use async_trait::async_trait;

use super::poll_until;
use super::registry::WakeChannel;
use super::WaitContext;
use dbos_storage_core::messages::wake_key;
use dbos_storage_core::payload::portable::PortableError;
use dbos_storage_core::streams::{
    is_close_sentinel, STREAM_CLOSED_SENTINEL, STREAM_TIMEOUT_ERROR_NAME,
};
use dbos_storage_core::{
    AwaitOptions, Error, ErrorKind, Outcome, Payload, RecordedStep, Result, StepStore,
    StreamReadOptions, StreamStepOutcome, StreamStepRead, StreamStepRequest, StreamStore,
    WorkflowStatus,
};

use super::super::decisions::store_errors;

/// The recording transaction a backend provides for [`read_stream_step`].
#[async_trait]
pub trait StreamStepWaits: StreamStore + StepStore {
    /// In one transaction: checks the caller as a step named `request.kind.step_name()` (a
    /// recorded step is returned through [`replayed`]); otherwise reads the value at
    /// `request.offset` and the writer's status, and records what [`settle`] decides (with
    /// `timed_out`), or records nothing and returns `None` when it says to wait.
    ///
    /// # Errors
    /// As [`StreamStore::read_stream_step`].
    async fn settle_stream_step(
        &self,
        request: &StreamStepRequest,
        timed_out: Option<Duration>,
    ) -> Result<Option<StreamStepRead>>;
}

/// What the recording transaction found at the offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundAtOffset {
    /// The writer's status; `None` when it does not exist.
    pub writer_status: Option<WorkflowStatus>,
    /// The value written at the offset (possibly the close sentinel), if any.
    pub value: Option<Payload>,
}

/// What the recording transaction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Record this outcome as the step and return the read.
    Record(StreamStepOutcome),
    /// Record nothing: the writer is active and nothing is written yet.
    Wait,
}

impl Settled {
    /// The step outcome to record for `outcome`: the value, the close sentinel for the end, the
    /// error for a timeout.
    pub fn step_outcome(outcome: &StreamStepOutcome) -> Outcome {
        match outcome {
            StreamStepOutcome::Value(value) => Outcome::Output(value.clone()),
            StreamStepOutcome::End => {
                Outcome::Output(Payload::portable_json(STREAM_CLOSED_SENTINEL))
            }
            StreamStepOutcome::TimedOut(error) => Outcome::Error(error.clone()),
        }
    }
}

/// Decides the recording transaction of `request` from what it `found`, `timed_out` after the
/// given wait (or not).
///
/// # Errors
/// [`NotFound`](ErrorKind::NotFound) when the writer does not exist (nothing is recorded).
pub fn settle(
    request: &StreamStepRequest,
    found: FoundAtOffset,
    timed_out: Option<Duration>,
) -> Result<Settled> {
    let Some(status) = found.writer_status else {
        return Err(store_errors::missing_workflow(&request.workflow_id));
    };
    Ok(match found.value {
        Some(value) if is_close_sentinel(&value) => Settled::Record(StreamStepOutcome::End),
        Some(value) => Settled::Record(StreamStepOutcome::Value(value)),
        None if !status.is_active() => Settled::Record(StreamStepOutcome::End),
        None => match timed_out {
            Some(timeout) => Settled::Record(StreamStepOutcome::TimedOut(timeout_error(
                request, timeout,
            )?)),
            None => Settled::Wait,
        },
    })
}

/// The error a timed-out read records: a `portable_json` error named `DBOSStreamTimeoutError`
/// with DBOS's message (`"No value arrived on stream {key} of workflow {id} within {s}
/// seconds"`, the seconds written as Python writes a float).
///
/// # Errors
/// Only if the error cannot be encoded.
pub fn timeout_error(request: &StreamStepRequest, timeout: Duration) -> Result<Payload> {
    PortableError::new(
        STREAM_TIMEOUT_ERROR_NAME,
        format!(
            "No value arrived on stream {} of workflow {} within {:?} seconds",
            request.key,
            request.workflow_id,
            timeout.as_secs_f64()
        ),
    )
    .encode()
}

/// The read a recorded step stands for: its output (the close sentinel is the end), or its
/// error (a timeout).
///
/// # Errors
/// [`ErrorKind::Corrupt`] when the step holds no outcome, which no checkpointed read records.
pub fn replayed(request: &StreamStepRequest, recorded: RecordedStep) -> Result<StreamStepRead> {
    let outcome = match recorded.outcome {
        Some(Outcome::Output(value)) if is_close_sentinel(&value) => StreamStepOutcome::End,
        Some(Outcome::Output(value)) => StreamStepOutcome::Value(value),
        Some(Outcome::Error(error)) => StreamStepOutcome::TimedOut(error),
        None | Some(Outcome::Void) => {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "step {} of workflow {} ({}) holds no outcome, which a checkpointed stream \
                     read never records",
                    request.caller.function_id,
                    request.caller.workflow_id,
                    request.kind.step_name()
                ),
            ))
        }
    };
    Ok(StreamStepRead::new(outcome, true))
}

/// [`StreamStore::read_stream_step`] on top of `store`'s recording transaction.
///
/// Registers for the stream's wake-ups, then runs the recording transaction; while it says to
/// wait, polls (the caller's step, which notices a cancelled reader, and the stream from the
/// offset) until the stream settles, and runs it again. When `wait.timeout` passes, a last
/// transaction records the timeout (or what arrived meanwhile).
///
/// # Errors
/// As [`StreamStore::read_stream_step`].
pub async fn read_stream_step<S: StreamStepWaits + ?Sized>(
    store: &S,
    context: WaitContext<'_>,
    request: StreamStepRequest,
    wait: &AwaitOptions,
) -> Result<StreamStepRead> {
    request.validate()?;
    let waiter = context.registry.register(
        WakeChannel::Streams,
        wake_key(&request.workflow_id, &request.key),
    );
    let what = format!(
        "stream {} of workflow {} at offset {}",
        request.key, request.workflow_id, request.offset
    );
    let options = StreamReadOptions::default()
        .from_offset(request.offset)
        .limit(1);
    let caller = &request.caller;
    let step_name = request.kind.step_name();
    loop {
        if let Some(read) = store.settle_stream_step(&request, None).await? {
            return Ok(read);
        }
        let settled = poll_until(&what, wait, Some(waiter.signal()), || async {
            let recorded = context
                .gated(store.check_step(&caller.workflow_id, caller.function_id, step_name))
                .await?;
            if recorded.is_some() {
                return Ok(Some(()));
            }
            let read = context
                .gated(store.read_stream(&request.workflow_id, &request.key, options))
                .await?;
            Ok(read.is_settled().then_some(()))
        })
        .await;
        match settled {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Timeout => {
                let timeout = wait.timeout.unwrap_or_default();
                return match store.settle_stream_step(&request, Some(timeout)).await? {
                    Some(read) => Ok(read),
                    None => Err(Error::new(
                        ErrorKind::Corrupt,
                        format!("the timed-out read of {what} recorded nothing"),
                    )
                    .with_backend(context.backend)),
                };
            }
            Err(e) => return Err(e.with_backend(context.backend)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::Caller;

    fn request() -> StreamStepRequest {
        StreamStepRequest::new(Caller::workflow("reader", 3), "writer", "k", 2)
    }

    fn found(status: Option<WorkflowStatus>, value: Option<Payload>) -> FoundAtOffset {
        FoundAtOffset {
            writer_status: status,
            value,
        }
    }

    #[test]
    fn settles_as_dbos_reads() {
        let r = request();
        let value = Payload::portable_json("1");
        let pending = Some(WorkflowStatus::Pending);
        assert_eq!(
            settle(&r, found(pending.clone(), Some(value.clone())), None).unwrap(),
            Settled::Record(StreamStepOutcome::Value(value))
        );
        let sentinel = Payload::portable_json(STREAM_CLOSED_SENTINEL);
        assert_eq!(
            settle(&r, found(pending.clone(), Some(sentinel)), None).unwrap(),
            Settled::Record(StreamStepOutcome::End)
        );
        assert_eq!(
            settle(&r, found(Some(WorkflowStatus::Success), None), None).unwrap(),
            Settled::Record(StreamStepOutcome::End)
        );
        assert_eq!(
            settle(&r, found(pending.clone(), None), None).unwrap(),
            Settled::Wait
        );
        let Settled::Record(StreamStepOutcome::TimedOut(error)) =
            settle(&r, found(pending, None), Some(Duration::from_millis(300))).unwrap()
        else {
            panic!("a timed-out read records the timeout");
        };
        let error = PortableError::decode(&error).unwrap();
        assert_eq!(error.name, "DBOSStreamTimeoutError");
        assert_eq!(
            error.message,
            "No value arrived on stream k of workflow writer within 0.3 seconds"
        );
        let e = settle(&r, found(None, None), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(
            e.message().contains("workflow writer does not exist"),
            "{e}"
        );
    }

    #[test]
    fn recorded_steps_read_back() {
        let r = request();
        let end = RecordedStep::new(Some(Settled::step_outcome(&StreamStepOutcome::End)), None);
        assert_eq!(replayed(&r, end).unwrap().outcome, StreamStepOutcome::End);
        let e = replayed(&r, RecordedStep::new(None, None)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.message().contains("holds no outcome"), "{e}");
    }
}
