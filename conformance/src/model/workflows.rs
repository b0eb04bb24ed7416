//! [`WorkflowStore`] of [`MemoryStore`]: insert and reconcile, outcomes, reads, listings with
//! every filter (attributes by `jsonb @>` containment), results and their waits, children.

use async_trait::async_trait;
use dbos_storage_core::export::OutputRow;
use dbos_storage_core::WorkflowStore;
use dbos_storage_core::{
    validate, AwaitOptions, EpochMs, InsertOptions, InsertOutcome, ListWorkflowsQuery, NewWorkflow,
    Outcome, Result, SortOrder, WorkflowInfo, WorkflowResult, WorkflowStatus,
};

use super::errors::{self, missing};
use super::outcomes::final_columns;
use super::statuses::StatusMeaning;
use super::{MemoryStore, State, BACKEND};

/// PostgreSQL's `jsonb @>`: objects contain every key of the needle with a contained value,
/// arrays contain every element of the needle somewhere, scalars are equal.
fn json_contains(haystack: &serde_json::Value, needle: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (haystack, needle) {
        (Value::Object(h), Value::Object(n)) => n
            .iter()
            .all(|(k, nv)| h.get(k).is_some_and(|hv| json_contains(hv, nv))),
        (Value::Array(h), Value::Array(n)) => {
            n.iter().all(|nv| h.iter().any(|hv| json_contains(hv, nv)))
        }
        (h, n) => h == n,
    }
}

/// Whether a row passes every filter of `query`.
fn matches(info: &WorkflowInfo, q: &ListWorkflowsQuery) -> bool {
    fn any_of(filter: &Option<Vec<String>>, value: &Option<String>) -> bool {
        filter
            .as_ref()
            .is_none_or(|wanted| value.as_ref().is_some_and(|v| wanted.contains(v)))
    }
    fn at_least(bound: Option<EpochMs>, value: Option<EpochMs>) -> bool {
        bound.is_none_or(|b| value.is_some_and(|v| v >= b))
    }
    fn at_most(bound: Option<EpochMs>, value: Option<EpochMs>) -> bool {
        bound.is_none_or(|b| value.is_some_and(|v| v <= b))
    }
    let scoped = match (&q.workflow_ids, &q.application_name) {
        (Some(ids), _) => ids.contains(&info.workflow_id),
        (None, Some(apps)) => info
            .application_name
            .as_ref()
            .is_none_or(|a| apps.contains(a)),
        (None, None) => true,
    };
    let queued = !q.queues_only
        || (info.queue_name.is_some() && (q.status.is_some() || info.status.has_work_left()));
    scoped
        && queued
        && q.workflow_id_prefix.as_ref().is_none_or(|prefixes| {
            prefixes
                .iter()
                .any(|p| info.workflow_id.starts_with(p.as_str()))
        })
        && q.status.as_ref().is_none_or(|s| s.contains(&info.status))
        && q.name.as_ref().is_none_or(|n| n.contains(&info.name))
        && any_of(&q.application_version, &info.application_version)
        && any_of(&q.executor_id, &info.executor_id)
        && any_of(&q.queue_name, &info.queue_name)
        && any_of(&q.authenticated_user, &info.authenticated_user)
        && any_of(&q.schedule_name, &info.schedule_name)
        && any_of(&q.forked_from, &info.forked_from)
        && any_of(&q.parent_workflow_id, &info.parent_workflow_id)
        && at_least(q.start_time, Some(info.created_at))
        && at_most(q.end_time, Some(info.created_at))
        && at_least(q.completed_after, info.completed_at)
        && at_most(q.completed_before, info.completed_at)
        && at_least(q.dequeued_after, info.started_at_epoch_ms)
        && at_most(q.dequeued_before, info.started_at_epoch_ms)
        && q.was_forked_from.is_none_or(|w| info.was_forked_from == w)
        && q.is_fork.is_none_or(|f| info.forked_from.is_some() == f)
        && q.has_parent
            .is_none_or(|p| info.parent_workflow_id.is_some() == p)
        && q.attributes.as_ref().is_none_or(|wanted| {
            info.attributes.as_ref().is_some_and(|attrs| {
                json_contains(
                    &serde_json::Value::Object(attrs.clone()),
                    &serde_json::Value::Object(wanted.clone()),
                )
            })
        })
}

impl State {
    /// The workflows of `workflow_ids` that exist, in the order asked.
    pub(super) fn get_workflows(&self, workflow_ids: &[String]) -> Vec<WorkflowInfo> {
        workflow_ids
            .iter()
            .filter_map(|id| self.workflow(id))
            .map(|row| self.view(row))
            .collect()
    }

    /// The workflows `q` selects, in its order and page.
    pub(super) fn list_workflows(&self, q: &ListWorkflowsQuery) -> Vec<WorkflowInfo> {
        let mut rows: Vec<WorkflowInfo> = self
            .workflows
            .values()
            .filter(|row| matches(&row.info, q))
            .map(|row| self.view(row))
            .collect();
        rows.sort_by(|a, b| (a.created_at, &a.workflow_id).cmp(&(b.created_at, &b.workflow_id)));
        if q.sort == SortOrder::Descending {
            rows.reverse();
        }
        let offset = usize::try_from(q.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let limit = q
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        rows.into_iter()
            .skip(offset)
            .take(limit)
            .map(|mut info| {
                if !q.load_input {
                    info.inputs = None;
                }
                if !q.load_output {
                    info.output = None;
                    info.error = None;
                }
                info
            })
            .collect()
    }
}

impl MemoryStore {
    /// Refuses a listing that needs a capability this store does not declare (an attribute
    /// filter), as a backend without it does, before anything runs or is recorded.
    pub(super) fn check_list_capabilities(&self, query: &ListWorkflowsQuery) -> Result<()> {
        if query.attributes.is_some() && !self.own_capabilities().attribute_filter {
            return Err(dbos_storage_core::Error::unsupported(
                "this memory store declares no attribute_filter capability: listing by \
                 attributes is not supported",
            )
            .with_backend(BACKEND));
        }
        Ok(())
    }
}

#[async_trait]
impl WorkflowStore for MemoryStore {
    async fn insert_workflow(
        &self,
        workflow: NewWorkflow,
        options: InsertOptions,
    ) -> Result<InsertOutcome> {
        workflow.validate()?;
        self.write(|state| state.insert_workflow(workflow, &options))
    }

    async fn get_workflows(&self, workflow_ids: &[String]) -> Result<Vec<WorkflowInfo>> {
        validate::workflow_ids(workflow_ids)?;
        Ok(self.open()?.get_workflows(workflow_ids))
    }

    async fn list_workflows(&self, query: ListWorkflowsQuery) -> Result<Vec<WorkflowInfo>> {
        query.validate()?;
        self.check_list_capabilities(&query)?;
        Ok(self.open()?.list_workflows(&query))
    }

    async fn record_outcome(
        &self,
        workflow_id: &str,
        outcome: Outcome,
        owner_xid: Option<&str>,
    ) -> Result<bool> {
        validate::workflow_id(workflow_id)?;
        let recorded = final_columns(outcome)?;
        self.write(|state| {
            let now = state.now();
            let Some(row) = state.workflows.get_mut(workflow_id) else {
                return Ok(false);
            };
            let owned = owner_xid.is_none_or(|owner| row.owner_xid.as_deref() == Some(owner));
            if row.info.status != WorkflowStatus::Pending || !owned {
                return Ok(false);
            }
            let info = &mut row.info;
            // `workflow_output` has no label of its own: an outcome is read back with the
            // workflow's label (that of its inputs), as in every DBOS SDK.
            info.status = recorded.status;
            info.deduplication_id = None;
            info.completed_at = Some(now);
            info.updated_at = now;
            row.owner_xid = None;
            let output = OutputRow::new(recorded.output, recorded.error, now);
            state.outputs.insert(workflow_id.to_owned(), output);
            Ok(true)
        })
    }

    async fn workflow_result(&self, workflow_id: &str) -> Result<WorkflowResult> {
        validate::workflow_id(workflow_id)?;
        Ok(self.open()?.result(workflow_id))
    }

    async fn await_workflow_result(
        &self,
        workflow_id: &str,
        options: AwaitOptions,
    ) -> Result<WorkflowResult> {
        validate::workflow_id(workflow_id)?;
        let awaited = format!("workflow {workflow_id} to finish");
        self.wait_until(&awaited, &options, || {
            match self.open()?.result(workflow_id) {
                WorkflowResult::NotFound if options.fail_if_missing => Err(missing(workflow_id)),
                // Terminal: waiting longer cannot change it.
                result @ (WorkflowResult::Finished(_)
                | WorkflowResult::Cancelled
                | WorkflowResult::MaxRecoveryAttemptsExceeded) => Ok(Some(result)),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn first_finished(&self, workflow_ids: &[String]) -> Result<Option<String>> {
        validate::workflow_ids(workflow_ids)?;
        Ok(self.open()?.first_finished(workflow_ids))
    }

    async fn await_first_finished(
        &self,
        workflow_ids: &[String],
        options: AwaitOptions,
    ) -> Result<String> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            return Err(errors::error(
                dbos_storage_core::ErrorKind::InvalidInput,
                "await_first_finished waits for one of a list of workflows: the list is empty"
                    .to_owned(),
            ));
        }
        let awaited = format!("one of {} workflows to finish", workflow_ids.len());
        self.wait_until(&awaited, &options, || {
            Ok(self.open()?.first_finished(workflow_ids))
        })
        .await
    }

    async fn workflow_children(&self, workflow_id: &str) -> Result<Vec<String>> {
        validate::workflow_id(workflow_id)?;
        Ok(self.open()?.descendants(&[workflow_id.to_owned()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_follows_jsonb() {
        let have = json!({"a": 1, "b": {"c": [1, 2, 3], "d": "x"}});
        assert!(json_contains(&have, &json!({})));
        assert!(json_contains(&have, &json!({"a": 1})));
        assert!(json_contains(&have, &json!({"b": {"c": [3, 1]}})));
        assert!(!json_contains(&have, &json!({"b": {"c": [4]}})));
        assert!(!json_contains(&have, &json!({"a": 2})));
        assert!(!json_contains(&have, &json!({"z": null})));
    }
}
