//! Argument checks shared by every store, so that bad input gets the same clear error everywhere.
//!
//! # Length limits
//!
//! The limits are the ones every backend can keep. The tightest is PostgreSQL's: one entry of a
//! B-tree index holds at most 2,704 bytes, and a value that does not compress (a random id, say)
//! is stored in the entry as it is. The widest entries of DBOS's indexes are
//! `idx_workflow_status_partition_dequeue_v3` (queue name, status, partition key, priority,
//! creation time, workflow id, application name) and the keys that pair a workflow id with a
//! topic or key (`idx_workflow_topic`, `workflow_events_pkey`, `streams_pkey`). With
//! [`MAX_WORKFLOW_ID_BYTES`], [`MAX_NAME_BYTES`], [`MAX_PARTITION_KEY_BYTES`] and [`MAX_KEY_BYTES`]
//! each of them fits, whatever the content; a longer value is
//! [`InvalidInput`](crate::ErrorKind::InvalidInput) on every backend, before it reaches one.

use crate::error::{Error, Result};

/// The longest workflow id accepted, in bytes.
pub const MAX_WORKFLOW_ID_BYTES: usize = 1024;

/// The longest topic, event or stream key, deduplication id or idempotency key accepted, in
/// bytes: with a workflow id of [`MAX_WORKFLOW_ID_BYTES`] (or a queue name of [`MAX_NAME_BYTES`])
/// beside it, an index entry stays within PostgreSQL's limit.
pub const MAX_KEY_BYTES: usize = 1024;

/// The longest queue partition key accepted, in bytes (it shares an index entry with the queue
/// name, the workflow id and the application name).
pub const MAX_PARTITION_KEY_BYTES: usize = 512;

/// Checks a workflow id: non-empty, at most [`MAX_WORKFLOW_ID_BYTES`], no NUL byte.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] saying which rule failed.
pub fn workflow_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid_input("workflow id is empty"));
    }
    if id.len() > MAX_WORKFLOW_ID_BYTES {
        return Err(Error::invalid_input(format!(
            "workflow id is {} bytes, over the limit of {MAX_WORKFLOW_ID_BYTES} bytes",
            id.len()
        )));
    }
    crate::payload::validate_text("workflow id", id)
}

/// Checks a step position: zero or positive.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] for a negative position.
pub fn function_id(function_id: i32) -> Result<()> {
    if function_id < 0 {
        return Err(Error::invalid_input(format!(
            "step function_id {function_id} is negative; step positions start at 0 or 1"
        )));
    }
    Ok(())
}

/// Checks every id of a list.
///
/// # Errors
/// As [`workflow_id`].
pub fn workflow_ids(ids: &[String]) -> Result<()> {
    ids.iter().try_for_each(|id| workflow_id(id))
}

/// The longest name (queue, schedule, application, step, workflow, lease) accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 512;

/// The longest class or config (instance) name of a method workflow accepted, in bytes:
/// DBOS's PostgreSQL schema keeps both in `varchar(255)` columns, and 255 bytes are never more
/// than 255 characters, so every backend stores what it accepts.
pub const MAX_CLASS_NAME_BYTES: usize = 255;

/// Checks a name (`what` says which, e.g. `"queue name"`): non-empty, at most
/// [`MAX_NAME_BYTES`], no NUL byte.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] naming `what` and the rule that failed.
pub fn name(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid_input(format!("{what} is empty")));
    }
    short_name(what, value)
}

/// Checks optional text of at most `max_bytes` (`what` says which field): no NUL byte. Empty
/// text is allowed; use [`name`] where it is not.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] naming `what`, its length and the limit.
pub fn bounded(what: &str, value: &str, max_bytes: usize) -> Result<()> {
    if value.len() > max_bytes {
        return Err(Error::invalid_input(format!(
            "{what} is {} bytes, over the limit of {max_bytes} bytes",
            value.len()
        )));
    }
    crate::payload::validate_text(what, value)
}

/// Checks a name that may be empty: at most [`MAX_NAME_BYTES`], no NUL byte.
///
/// # Errors
/// As [`bounded`].
pub fn short_name(what: &str, value: &str) -> Result<()> {
    bounded(what, value, MAX_NAME_BYTES)
}

/// Checks a key (topic, event or stream key, deduplication id, idempotency key): at most
/// [`MAX_KEY_BYTES`], no NUL byte.
///
/// # Errors
/// As [`bounded`].
pub fn key(what: &str, value: &str) -> Result<()> {
    bounded(what, value, MAX_KEY_BYTES)
}

/// Checks a text a read filters on: no NUL byte (no stored value holds one, and PostgreSQL
/// refuses it in a parameter), so that every backend answers the same.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] naming `what`.
pub fn filter(what: &str, value: &str) -> Result<()> {
    crate::payload::validate_text(what, value)
}

/// Checks a workflow attribute map: no NUL character in any key or string (PostgreSQL `jsonb`
/// cannot store one), and at most [`crate::payload::MAX_PAYLOAD_BYTES`] as JSON text.
///
/// # Errors
/// [`crate::ErrorKind::InvalidInput`] naming the offending key.
pub fn attributes(map: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    fn check(path: &str, value: &serde_json::Value) -> Result<()> {
        match value {
            serde_json::Value::String(s) if s.contains('\0') => Err(Error::invalid_input(format!(
                "workflow attribute {path} contains a NUL character"
            ))),
            serde_json::Value::Array(items) => items.iter().try_for_each(|v| check(path, v)),
            serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                if k.contains('\0') {
                    return Err(Error::invalid_input(format!(
                        "workflow attribute key {:?} contains a NUL character",
                        k.replace('\0', "\\0")
                    )));
                }
                check(&format!("{path}.{k}"), v)
            }),
            _ => Ok(()),
        }
    }
    check("$", &serde_json::Value::Object(map.clone()))?;
    let len = serde_json::to_string(map).map(|t| t.len()).unwrap_or(0);
    if len > crate::payload::MAX_PAYLOAD_BYTES {
        return Err(Error::invalid_input(format!(
            "workflow attributes are {len} bytes of JSON, over the limit of {} bytes",
            crate::payload::MAX_PAYLOAD_BYTES
        )));
    }
    Ok(())
}
