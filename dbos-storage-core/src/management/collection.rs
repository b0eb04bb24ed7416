//! The window of [`ManagementStore::collectable_workflows`](crate::ManagementStore::collectable_workflows):
//! where a walk over the workflows in creation order stands, and what one window found.

use crate::{validate, EpochMs, Error, Result};

/// A place in the creation order of workflows: `(created_at, workflow_id)`, compared by
/// `created_at` first and by id among workflows created in the same millisecond.
///
/// Every workflow has a position of its own (ids are unique), and a position need not name an
/// existing workflow: a walk that starts at the position of a workflow deleted since goes on
/// from the next one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CreationPosition {
    /// The `created_at` of the workflow at this position (epoch ms).
    pub created_at: EpochMs,
    /// Its `workflow_uuid`; the store's order of ids (its collation) orders ties on
    /// `created_at`.
    pub workflow_id: String,
}

impl CreationPosition {
    /// The position of a workflow created at `created_at` with id `workflow_id`.
    pub fn new(created_at: EpochMs, workflow_id: impl Into<String>) -> Self {
        CreationPosition {
            created_at,
            workflow_id: workflow_id.into(),
        }
    }
}

/// One window of [`ManagementStore::collectable_workflows`](crate::ManagementStore::collectable_workflows):
/// the collectable workflows it held and where the next window starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CollectableWindow {
    /// The workflows of the window that the policy lets retention delete, oldest first; empty
    /// when the window held none.
    pub workflow_ids: Vec<String>,
    /// The position of the first workflow after the window, to pass as `from`; `None` when the
    /// window reached the newest workflow.
    pub next_from: Option<CreationPosition>,
}

impl CollectableWindow {
    /// A window that found `workflow_ids` and ends before `next_from` (`None`: at the end).
    pub fn new(workflow_ids: Vec<String>, next_from: Option<CreationPosition>) -> Self {
        CollectableWindow {
            workflow_ids,
            next_from,
        }
    }
}

/// Checks the window of
/// [`ManagementStore::collectable_workflows`](crate::ManagementStore::collectable_workflows):
/// the id of `from` NUL-free and at most [`validate::MAX_WORKFLOW_ID_BYTES`] bytes (it may be
/// empty, which sorts first), `limit` at least 1.
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the problem.
pub fn validate_collection_window(from: Option<&CreationPosition>, limit: u32) -> Result<()> {
    if let Some(from) = from {
        validate::bounded(
            "the workflow id of a collection window start",
            &from.workflow_id,
            validate::MAX_WORKFLOW_ID_BYTES,
        )?;
    }
    if limit == 0 {
        return Err(Error::invalid_input(
            "a collection window must cover at least 1 workflow (limit is 0)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn a_window_needs_a_bounded_nul_free_start_and_a_limit() {
        assert!(validate_collection_window(None, 1).is_ok());
        assert!(validate_collection_window(Some(&CreationPosition::new(-5, "")), 1).is_ok());
        let e = validate_collection_window(None, 0).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("limit is 0"), "{e}");
        let e =
            validate_collection_window(Some(&CreationPosition::new(1, "a\0b")), 10).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(
            e.message()
                .contains("the workflow id of a collection window start"),
            "{e}"
        );
        assert!(e.message().contains("NUL"), "{e}");
        let long = "x".repeat(validate::MAX_WORKFLOW_ID_BYTES + 1);
        let e = validate_collection_window(Some(&CreationPosition::new(1, long)), 10).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("over the limit of 1024 bytes"), "{e}");
    }
}
