//! The ownership check of every write a running workflow makes: a write that names the owner
//! token it got when it started applies only while the workflow is still owned by that token.

use super::store_errors;
use dbos_storage_core::{EpochMs, Result};

/// A workflow's owner token, deadline and application, as an ownership check reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowOwner {
    /// The token of the execution that owns the workflow; `None` when nobody does.
    pub owner_xid: Option<String>,
    /// The workflow's deadline (epoch ms), which a child inherits.
    pub deadline_epoch_ms: Option<EpochMs>,
    /// The workflow's application, which its steps copy.
    pub application_name: Option<String>,
}

/// Checks that the execution holding `expected` still owns the workflow whose owner row is
/// `found` (`None` when the workflow is missing), before it does `what` (`"record step 3"`).
/// Returns the owner row.
///
/// # Errors
/// [`NotFound`](dbos_storage_core::ErrorKind::NotFound) when the workflow is missing (it was deleted while
/// running); [`NotOwner`](dbos_storage_core::ErrorKind::NotOwner) when another token, or none, owns it.
pub fn verify(
    workflow_id: &str,
    expected: &str,
    found: Option<WorkflowOwner>,
    what: &str,
) -> Result<WorkflowOwner> {
    match found {
        None => Err(store_errors::deleted_while_running(workflow_id, what)),
        Some(owner) if owner.owner_xid.as_deref() == Some(expected) => Ok(owner),
        Some(owner) => Err(store_errors::not_owner(
            workflow_id,
            what,
            owner.owner_xid.is_some(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::ErrorKind;

    fn owned_by(token: Option<&str>) -> Option<WorkflowOwner> {
        Some(WorkflowOwner {
            owner_xid: token.map(str::to_owned),
            deadline_epoch_ms: Some(5),
            application_name: None,
        })
    }

    #[test]
    fn only_the_owner_passes() {
        let owner = verify("wf", "me", owned_by(Some("me")), "record step 1").unwrap();
        assert_eq!(owner.deadline_epoch_ms, Some(5));

        let e = verify("wf-own", "me", owned_by(Some("you")), "record step 1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotOwner);
        assert!(e.message().contains("wf-own") && e.message().contains("no longer owned"));
        assert!(e.message().contains("another execution owns it now"), "{e}");

        let e = verify("wf", "me", owned_by(None), "record step 1").unwrap_err();
        assert!(e.message().contains("nobody owns it"), "{e}");

        let e = verify("wf", "me", None, "record step 1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("deleted while running"), "{e}");
    }
}
