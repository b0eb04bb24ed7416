//! Argument checks shared by every store, so that bad input gets the same clear error everywhere.

use crate::error::{Error, Result};

/// The longest workflow id accepted, in bytes.
pub const MAX_WORKFLOW_ID_BYTES: usize = 1024;

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
