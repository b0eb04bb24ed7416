//! Messages, events and streams: which batches a send refuses, what a send from a workflow
//! records and how its replay answers, and the errors of stream writes.

use std::collections::HashSet;

use dbos_storage_core::{
    messages::{SEND_BULK_STEP, SEND_STEP},
    payload::portable::{decode_value, PortableError},
    Caller, Error, ErrorKind, Outcome, OutgoingMessage, Payload, RecordedStep, Result,
};

/// The name of the portable error a send from a workflow records as its step when a destination
/// does not exist (DBOS's exception class).
pub const NONEXISTENT_WORKFLOW_ERROR_NAME: &str = "DBOSNonExistentWorkflowError";

/// Checks a batch before anything is sent: at least one message, every field valid, and no
/// idempotency key twice for one destination.
///
/// # Errors
/// [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput) saying which rule failed.
pub fn validate_batch(messages: &[OutgoingMessage]) -> Result<()> {
    if messages.is_empty() {
        return Err(Error::invalid_input(
            "send_messages needs at least one message",
        ));
    }
    let mut keys = HashSet::new();
    for message in messages {
        message.validate()?;
        if let Some(key) = &message.idempotency_key {
            if !keys.insert((key.as_str(), message.destination_id.as_str())) {
                return Err(Error::invalid_input(format!(
                    "idempotency key {key:?} is used twice for destination {} in one batch; \
                     nothing was sent",
                    message.destination_id
                )));
            }
        }
    }
    Ok(())
}

/// The step a send of `count` messages from a workflow records: [`SEND_STEP`] without an
/// outcome for one message, [`SEND_BULK_STEP`] with the count (`portable_json`) for more.
pub fn send_step(count: usize) -> (&'static str, Option<Outcome>) {
    if count == 1 {
        (SEND_STEP, None)
    } else {
        let output = Payload::portable_json(count.to_string());
        (SEND_BULK_STEP, Some(Outcome::Output(output)))
    }
}

/// Decides the replay of a send of `count` messages by `caller`, whose step (already checked to
/// have the name [`send_step`] gives) is `recorded`: a replay of the same send sends nothing.
///
/// # Errors
/// [`UnexpectedStep`](dbos_storage_core::ErrorKind::UnexpectedStep) when the recorded bulk send had another
/// size; [`NotFound`](dbos_storage_core::ErrorKind::NotFound) when the first send found a destination
/// missing (recorded as [`NONEXISTENT_WORKFLOW_ERROR_NAME`]);
/// [`Corrupt`](dbos_storage_core::ErrorKind::Corrupt) for a step a send never records.
pub fn replayed_send(caller: &Caller, count: usize, recorded: &RecordedStep) -> Result<()> {
    let (step_name, _) = send_step(count);
    let at = format!(
        "step {} ({step_name}) of workflow {}",
        caller.function_id, caller.workflow_id
    );
    match &recorded.outcome {
        Some(Outcome::Error(payload)) => match PortableError::decode(payload) {
            Ok(error) if error.name == NONEXISTENT_WORKFLOW_ERROR_NAME => Err(Error::not_found(
                format!("{} (recorded at {at}); nothing was sent", error.message),
            )),
            _ => Err(Error::corrupt(format!(
                "{at} holds an error a send never records"
            ))),
        },
        None if count == 1 => Ok(()),
        Some(Outcome::Output(payload)) if count > 1 => {
            let sent: u64 = decode_value(payload)
                .map_err(|e| Error::corrupt(format!("{at} does not hold a message count: {e}")))?;
            if usize::try_from(sent).ok() == Some(count) {
                return Ok(());
            }
            Err(Error::new(
                ErrorKind::UnexpectedStep,
                format!(
                    "{at} sent {sent} messages, but this execution sends {count}; the workflow \
                     code is not deterministic"
                ),
            ))
        }
        _ => Err(Error::corrupt(format!(
            "{at} holds an outcome a send of {count} messages never records"
        ))),
    }
}

/// A send named destination `destination_id`, which does not exist; nothing was sent.
pub fn missing_destination(destination_id: &str) -> Error {
    Error::not_found(format!(
        "cannot send to workflow {destination_id}: it does not exist; nothing was sent"
    ))
}

/// The `portable_json` error a send from a workflow records as its step when `destination_id`
/// does not exist, worded as DBOS words it.
///
/// # Errors
/// As [`PortableError::encode`].
pub fn missing_destination_step_error(destination_id: &str) -> Result<Payload> {
    PortableError::new(
        NONEXISTENT_WORKFLOW_ERROR_NAME,
        format!("Sent to non-existent destination workflow ID: {destination_id}"),
    )
    .encode()
}

/// A write to stream `key` of `workflow_id`, which is closed; nothing was written.
pub fn closed_stream(workflow_id: &str, key: &str) -> Error {
    Error::invalid_input(format!(
        "stream {key} of workflow {workflow_id} is closed; nothing can be written after its \
         close"
    ))
}

/// A write of the close sentinel as a value of stream `key`; nothing was written.
pub fn sentinel_value(key: &str) -> Error {
    Error::invalid_input(format!(
        "the value written to stream {key} is the close sentinel; close a stream with \
         close_stream"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(dest: &str, key: Option<&str>) -> OutgoingMessage {
        let m = OutgoingMessage::new(dest, Some("t"), Payload::portable_json("1"));
        match key {
            Some(key) => m.with_idempotency_key(key),
            None => m,
        }
    }

    #[test]
    fn batches_need_messages_and_distinct_keys_per_destination() {
        let e = validate_batch(&[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        validate_batch(&[message("a", Some("k")), message("b", Some("k"))]).unwrap();
        validate_batch(&[message("a", None), message("a", None)]).unwrap();
        let e = validate_batch(&[message("a", Some("k")), message("a", Some("k"))]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("\"k\""), "{e}");
    }

    #[test]
    fn send_steps_and_their_replays() {
        let caller = Caller::workflow("w", 3);
        assert_eq!(send_step(1), (SEND_STEP, None));
        let (name, outcome) = send_step(2);
        assert_eq!(name, SEND_BULK_STEP);
        assert_eq!(outcome, Some(Outcome::Output(Payload::portable_json("2"))));
        replayed_send(&caller, 1, &RecordedStep::new(None, None)).unwrap();
        replayed_send(&caller, 2, &RecordedStep::new(outcome.clone(), None)).unwrap();
        let e = replayed_send(&caller, 3, &RecordedStep::new(outcome, None)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedStep);
        let error = missing_destination_step_error("ghost").unwrap();
        let recorded = RecordedStep::new(Some(Outcome::Error(error)), None);
        let e = replayed_send(&caller, 1, &recorded).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("ghost"), "{e}");
        let other = Payload::portable_json(r#"{"name":"X","message":"y"}"#);
        let e = replayed_send(
            &caller,
            1,
            &RecordedStep::new(Some(Outcome::Error(other)), None),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert_eq!(missing_destination("d").kind(), ErrorKind::NotFound);
        assert_eq!(closed_stream("w", "k").kind(), ErrorKind::InvalidInput);
        assert_eq!(sentinel_value("k").kind(), ErrorKind::InvalidInput);
    }
}
