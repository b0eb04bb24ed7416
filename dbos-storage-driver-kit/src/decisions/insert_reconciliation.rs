//! How [`WorkflowStore::insert_workflow`](dbos_storage_core::WorkflowStore::insert_workflow) reconciles with
//! the row it found (or created) under the workflow's id.

use super::store_errors;
use dbos_storage_core::{
    IdReusePolicy, InsertOptions, InsertOutcome, NewWorkflow, Result, Serialization, WorkflowStatus,
};

/// The columns of the row an insert found or created, that it reconciles with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingWorkflow {
    /// The row's status.
    pub status: WorkflowStatus,
    /// The workflow name.
    pub name: Option<String>,
    /// The class name.
    pub class_name: Option<String>,
    /// The config name.
    pub config_name: Option<String>,
    /// The queue.
    pub queue_name: Option<String>,
    /// The token of the insert that created the row.
    pub creator_xid: Option<String>,
    /// The token of the row's live execution (`NULL` when nobody runs it).
    pub owner_xid: Option<String>,
    /// The serialization label of the inputs.
    pub serialization: Option<Serialization>,
}

/// What inserting `workflow` gets, given the row under its id: the row is this insert's own when
/// it has the same creator token (a retried commit), and then the caller executes it if it is
/// `PENDING` and still owned by that token (not once a worker has claimed it); a row created by someone else is attached to (logging a warning when it is on
/// another queue) unless the reuse policy rejects it.
///
/// # Errors
/// [`WorkflowConflict`](dbos_storage_core::ErrorKind::WorkflowConflict) when the row has another name, class
/// or config; [`WorkflowIdInUse`](dbos_storage_core::ErrorKind::WorkflowIdInUse) for a row created by
/// someone else under [`IdReusePolicy::Reject`].
pub fn reconcile(
    workflow: &NewWorkflow,
    options: &InsertOptions,
    existing: ExistingWorkflow,
) -> Result<InsertOutcome> {
    if existing.name.as_deref() != Some(workflow.name.as_str())
        || existing.class_name != workflow.class_name
        || existing.config_name != workflow.config_name
    {
        return Err(store_errors::workflow_conflict(
            workflow,
            existing.name.as_deref(),
            existing.class_name.as_deref(),
            existing.config_name.as_deref(),
        ));
    }
    let ours = existing.creator_xid.as_deref() == Some(workflow.creator_xid.as_str());
    if !ours {
        if existing.queue_name != workflow.queue_name {
            tracing::warn!(
                workflow_id = %workflow.workflow_id,
                existing_queue = ?existing.queue_name,
                requested_queue = ?workflow.queue_name,
                "workflow already exists on another queue; attaching to the existing workflow"
            );
        }
        if options.reuse_policy == IdReusePolicy::Reject {
            return Err(store_errors::workflow_id_in_use(workflow));
        }
    }
    let still_the_owner = existing.owner_xid.as_deref() == Some(workflow.creator_xid.as_str());
    let should_execute = ours && still_the_owner && existing.status == WorkflowStatus::Pending;
    let mut outcome = InsertOutcome::new(existing.status, should_execute, !ours);
    outcome.queue_name = existing.queue_name;
    outcome.serialization = existing.serialization;
    Ok(outcome)
}

/// What an insert under [`DedupPolicy::ReturnExisting`](dbos_storage_core::DedupPolicy::ReturnExisting) gets
/// when workflow `holder` holds its deduplication id: the holder's row (its status, queue and
/// serialization label), `existed = true`, `should_execute = false`.
pub fn deduplicated_into(
    holder: String,
    status: WorkflowStatus,
    queue_name: Option<String>,
    serialization: Option<Serialization>,
) -> InsertOutcome {
    let mut outcome = InsertOutcome::new(status, false, true);
    outcome.queue_name = queue_name;
    outcome.serialization = serialization;
    outcome.deduplicated_into = Some(holder);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::ErrorKind;
    use dbos_storage_core::Payload;

    fn workflow() -> NewWorkflow {
        NewWorkflow::new("wf-1", "checkout", Payload::portable_json("null")).with_creator_xid("me")
    }

    fn row(name: &str, creator: &str, status: WorkflowStatus) -> ExistingWorkflow {
        ExistingWorkflow {
            owner_xid: (status == WorkflowStatus::Pending).then(|| creator.into()),
            status,
            name: Some(name.into()),
            class_name: None,
            config_name: None,
            queue_name: Some("q".into()),
            creator_xid: Some(creator.into()),
            serialization: Some(Serialization::PortableJson),
        }
    }

    #[test]
    fn the_creator_executes_its_own_pending_row() {
        let options = InsertOptions::default();
        let own = reconcile(
            &workflow(),
            &options,
            row("checkout", "me", WorkflowStatus::Pending),
        )
        .unwrap();
        assert!(own.should_execute && !own.existed);
        assert_eq!(own.queue_name.as_deref(), Some("q"));
        assert_eq!(own.serialization, Some(Serialization::PortableJson));

        let theirs = reconcile(
            &workflow(),
            &options,
            row("checkout", "you", WorkflowStatus::Pending),
        )
        .unwrap();
        assert!(!theirs.should_execute && theirs.existed);

        let mut claimed = row("checkout", "me", WorkflowStatus::Pending);
        claimed.owner_xid = Some("worker".into());
        let retry = reconcile(&workflow(), &options, claimed).unwrap();
        assert!(!retry.should_execute && !retry.existed, "{retry:?}");
    }

    #[test]
    fn a_deduplicated_insert_attaches_to_the_holder() {
        let outcome = deduplicated_into(
            "holder".into(),
            WorkflowStatus::Enqueued,
            Some("q".into()),
            None,
        );
        assert!(outcome.existed && !outcome.should_execute);
        assert_eq!(outcome.deduplicated_into.as_deref(), Some("holder"));
        assert_eq!(outcome.queue_name.as_deref(), Some("q"));
    }

    #[test]
    fn conflicts_and_rejections() {
        let e = reconcile(
            &workflow(),
            &InsertOptions::default(),
            row("refund", "me", WorkflowStatus::Pending),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WorkflowConflict);
        let reject = InsertOptions::default().reuse_policy(IdReusePolicy::Reject);
        let e = reconcile(
            &workflow(),
            &reject,
            row("checkout", "you", WorkflowStatus::Success),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WorkflowIdInUse);
        reconcile(
            &workflow(),
            &reject,
            row("checkout", "me", WorkflowStatus::Success),
        )
        .unwrap();
    }
}
