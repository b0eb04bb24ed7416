//! Child workflows started as a step of their parent
//! ([`StepStore::start_child_workflow`](dbos_storage_core::StepStore::start_child_workflow)).

use std::collections::HashSet;

use super::store_errors;
use dbos_storage_core::{
    payload::portable::PortableError, validate, EpochMs, NewWorkflow, Payload, Result,
};

/// The name of the portable error recorded as the parent's step when a child start is
/// deduplicated (DBOS's exception class).
pub const DEDUPLICATED_ERROR_NAME: &str = "DBOSQueueDeduplicatedError";

/// Checks the parent's id and step position, and `child` as the parent's child: its
/// `parent_workflow_id` is set to the parent before it is validated.
///
/// # Errors
/// [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput) saying which rule failed.
pub fn prepare(
    parent_workflow_id: &str,
    function_id: i32,
    mut child: NewWorkflow,
) -> Result<NewWorkflow> {
    validate::workflow_id(parent_workflow_id)?;
    validate::function_id(function_id)?;
    child.parent_workflow_id = Some(parent_workflow_id.to_owned());
    child.validate()?;
    Ok(child)
}

/// Decides whether the step the parent recorded at `function_id` (named `recorded_name`, for
/// child `recorded_child`, and an error when `recorded_error`) lets this execution start `child`
/// there: it does when it records the same child.
///
/// # Errors
/// [`StepConflict`](dbos_storage_core::ErrorKind::StepConflict) when the step records another child or
/// another step; [`Deduplicated`](dbos_storage_core::ErrorKind::Deduplicated) when it records the same
/// child's deduplication (a replay gets the same answer as the first start).
pub fn check_recorded_start(
    parent_workflow_id: &str,
    function_id: i32,
    child: &NewWorkflow,
    recorded_name: &str,
    recorded_child: Option<&str>,
    recorded_error: bool,
) -> Result<()> {
    if recorded_child != Some(child.workflow_id.as_str()) {
        return Err(store_errors::child_step_conflict(
            parent_workflow_id,
            function_id,
            recorded_child,
            recorded_name,
            &child.workflow_id,
        ));
    }
    if recorded_error {
        return Err(store_errors::deduplicated(child));
    }
    Ok(())
}

/// Gives `child` the parent's deadline unless it has a timeout or a deadline of its own.
pub fn inherit_deadline(child: &mut NewWorkflow, parent_deadline_epoch_ms: Option<EpochMs>) {
    if child.timeout.is_none() && child.deadline_epoch_ms.is_none() {
        child.deadline_epoch_ms = parent_deadline_epoch_ms;
    }
}

/// The `portable_json` error recorded as the parent's step when the start of `child` is
/// deduplicated, worded as DBOS words it.
///
/// # Errors
/// As [`PortableError::encode`].
pub fn deduplicated_step_error(child: &NewWorkflow) -> Result<Payload> {
    PortableError::new(
        DEDUPLICATED_ERROR_NAME,
        format!(
            "Workflow {} was deduplicated due to an existing workflow in queue {} with \
             deduplication ID {}.",
            child.workflow_id,
            child.queue_name.as_deref().unwrap_or_default(),
            child.deduplication_id.as_deref().unwrap_or_default()
        ),
    )
    .encode()
}

/// A breadth-first walk down the children of some workflows, level by level, each workflow
/// once: the driver reads the children of [`level`](Self::level) and hands them to
/// [`descend`](Self::descend) until the level is empty.
#[derive(Debug, Clone, Default)]
pub struct Descendants {
    seen: HashSet<String>,
    level: Vec<String>,
    found: Vec<String>,
}

impl Descendants {
    /// A walk that starts at `roots` (the first level).
    pub fn new(roots: Vec<String>) -> Self {
        Descendants {
            seen: roots.iter().cloned().collect(),
            level: roots,
            found: Vec::new(),
        }
    }

    /// The workflows of the current level; empty when the walk is over.
    pub fn level(&self) -> &[String] {
        &self.level
    }

    /// Moves down to the children of the current level: those not met before, in order.
    pub fn descend(&mut self, children: impl IntoIterator<Item = String>) {
        let seen = &mut self.seen;
        self.level = children
            .into_iter()
            .filter(|child| seen.insert(child.clone()))
            .collect();
        self.found.extend(self.level.iter().cloned());
    }

    /// Every descendant met, breadth first (the roots excluded).
    pub fn into_found(self) -> Vec<String> {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::{ErrorKind, Serialization};
    use std::time::Duration;

    fn child() -> NewWorkflow {
        NewWorkflow::new("c", "child", Payload::portable_json("null"))
            .enqueued("orders")
            .with_deduplication_id("k")
    }

    #[test]
    fn children_belong_to_the_parent() {
        let c = prepare("p", 2, child()).unwrap();
        assert_eq!(c.parent_workflow_id.as_deref(), Some("p"));
        let e = prepare("p", -1, child()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn recorded_starts_decide_replays() {
        let c = child();
        check_recorded_start("p", 1, &c, "child", Some("c"), false).unwrap();
        let e = check_recorded_start("p", 1, &c, "child", Some("c"), true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Deduplicated);
        let e = check_recorded_start("p", 1, &c, "child", Some("other"), false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StepConflict);
        let e = check_recorded_start("p", 1, &c, "fetch", None, false).unwrap_err();
        assert!(e.message().contains("step \"fetch\""), "{e}");
    }

    #[test]
    fn deadlines_are_inherited_unless_set() {
        let mut c = child();
        inherit_deadline(&mut c, Some(9));
        assert_eq!(c.deadline_epoch_ms, Some(9));
        let mut c = child().with_timeout(Duration::from_secs(1));
        inherit_deadline(&mut c, Some(9));
        assert_eq!(c.deadline_epoch_ms, None);
    }

    #[test]
    fn descendants_are_walked_level_by_level_once() {
        let children = |id: &str| -> Vec<String> {
            match id {
                "a" => vec!["b".into(), "c".into()],
                "b" => vec!["d".into(), "a".into()],
                "c" => vec!["d".into()],
                _ => vec![],
            }
        };
        let mut walk = Descendants::new(vec!["a".into()]);
        let mut levels = Vec::new();
        while !walk.level().is_empty() {
            levels.push(walk.level().to_vec());
            let next: Vec<String> = walk.level().iter().flat_map(|id| children(id)).collect();
            walk.descend(next);
        }
        assert_eq!(levels, vec![vec!["a"], vec!["b", "c"], vec!["d"]]);
        assert_eq!(walk.into_found(), ["b", "c", "d"]);
    }

    #[test]
    fn the_deduplication_is_recorded_as_dbos_words_it() {
        let payload = deduplicated_step_error(&child()).unwrap();
        assert_eq!(payload.serialization, Some(Serialization::PortableJson));
        let error = PortableError::decode(&payload).unwrap();
        assert_eq!(error.name, DEDUPLICATED_ERROR_NAME);
        assert!(error
            .message
            .contains("queue orders with deduplication ID k"));
    }
}
