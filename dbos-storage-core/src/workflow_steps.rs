//! Operations called from inside a workflow, recorded atomically as its step:
//! [`StepStore::run_as_step`](crate::StepStore::run_as_step), the [`StepOperation`]s it runs and
//! the [`StepOperationOutcome`]s it returns.
//!
//! In DBOS, a workflow that cancels, resumes, forks, deletes or reads workflows, or changes a
//! delay or attributes, does so as one of its steps: a replay returns the recorded result instead
//! of acting again. Checking the step, running the operation and recording it as three calls
//! leaves a gap: a crash between the operation and the record acts twice on replay (a resumed
//! workflow is re-enqueued after it finished its second run, a fork is made twice). A store runs
//! the three in **one transaction**, as the official DBOS Rust SDK commits an operation with its
//! checkpoint.
//!
//! # The recorded step
//!
//! The step's `function_name` is DBOS's name for the operation ([`StepOperation::step_name`]:
//! `DBOS.cancelWorkflow`, `DBOS.resumeWorkflow`, `DBOS.forkWorkflow`, `DBOS.rewindWorkflow`,
//! `DBOS.deleteWorkflow`, `DBOS.getStatus`, `DBOS.listWorkflows`, `DBOS.setWorkflowDelay`,
//! `DBOS.updateWorkflowAttributes`, and DBOS Python's `DBOS.createSchedule`,
//! `DBOS.pauseSchedule`, `DBOS.resumeSchedule`, `DBOS.deleteSchedule` and
//! `DBOS.debounce_delayed_workflow`). Its output is the
//! operation's result as `portable_json` ([`StepOperationOutcome::encode`]): the ids as a JSON
//! array for cancel, resume and delete; an array of
//! `{"source_workflow_id","workflow_id","start_step"}` for forks;
//! `{"workflow_id","start_step","previous_status"}` for a rewind; an array of workflow objects
//! (the fields of [`WorkflowInfo`], statuses as stored) for get and list; `true` or `false` for
//! a delay and for pausing, resuming or deleting a schedule (whether it existed); `null` for a
//! schedule's creation; the attribute object for attributes; for a debounce
//! `{"outcome":"extended","workflow_id"}`, `{"outcome":"vacant"}` or
//! `{"outcome":"held_by","workflow_id","is_debounced","name","application_name"}`.
//!
//! # Errors the step records
//!
//! An operation that fails because of what the database holds — [`NotFound`] (resuming or
//! forking or rewinding an unknown workflow, updating the attributes of one), [`Conflict`] (a
//! fork id used by another workflow, rewinding a workflow that is not finished, a schedule name
//! already taken) or [`InvalidInput`] found in the transaction (a fork or rewind start that does
//! not resolve against the workflow's steps) — records the error as the step's outcome
//! ([`recorded_error`]): a `portable_json` error whose `code` is the kind (`"not_found"`,
//! `"conflict"`, `"invalid_input"`), whose `message` is the error's message and whose `name` is
//! [`NONEXISTENT_WORKFLOW_ERROR`] for `NotFound` and [`OPERATION_ERROR`] otherwise. Its writes are
//! undone; a replay fails with the same kind and message. Every other error records nothing and
//! a replay runs the operation: input rejected before the database is touched, the caller's own
//! errors (`NotOwner`, `Cancelled`, `UnexpectedStep`, `NotFound` for the calling workflow), and
//! the transient kinds.
//!
//! [`NotFound`]: crate::ErrorKind::NotFound
//! [`Conflict`]: crate::ErrorKind::Conflict
//! [`InvalidInput`]: crate::ErrorKind::InvalidInput

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::payload::portable::{decode_value, encode_value, PortableError};
use crate::{
    validate, AttributeUpdate, CancelOptions, DebounceOutcome, DebounceRequest, DeleteOptions,
    EpochMs, Error, ErrorKind, ForkRequest, ForkedWorkflow, ListWorkflowsQuery, Outcome, Payload,
    RecordedStep, Result, ResumeOptions, RewindRequest, RewoundWorkflow, Schedule, WorkflowInfo,
    WorkflowStatus,
};

/// Step name of a cancel from a workflow.
pub const CANCEL_WORKFLOW_STEP: &str = "DBOS.cancelWorkflow";
/// Step name of a resume from a workflow.
pub const RESUME_WORKFLOW_STEP: &str = "DBOS.resumeWorkflow";
/// Step name of a fork from a workflow.
pub const FORK_WORKFLOW_STEP: &str = "DBOS.forkWorkflow";
/// Step name of a delete from a workflow.
pub const DELETE_WORKFLOW_STEP: &str = "DBOS.deleteWorkflow";
/// Step name of a rewind from a workflow.
pub const REWIND_WORKFLOW_STEP: &str = "DBOS.rewindWorkflow";
/// Step name of a schedule's creation from a workflow (DBOS Python's name).
pub const CREATE_SCHEDULE_STEP: &str = "DBOS.createSchedule";
/// Step name of a schedule's pause from a workflow (DBOS Python's name).
pub const PAUSE_SCHEDULE_STEP: &str = "DBOS.pauseSchedule";
/// Step name of a schedule's resume from a workflow (DBOS Python's name).
pub const RESUME_SCHEDULE_STEP: &str = "DBOS.resumeSchedule";
/// Step name of a schedule's deletion from a workflow (DBOS Python's name).
pub const DELETE_SCHEDULE_STEP: &str = "DBOS.deleteSchedule";
/// Step name of a debounce from a workflow (DBOS Python's name).
pub const DEBOUNCE_STEP: &str = "DBOS.debounce_delayed_workflow";
/// Step name of a read of workflows by id from a workflow.
pub const GET_STATUS_STEP: &str = "DBOS.getStatus";
/// Step name of a workflow listing from a workflow.
pub const LIST_WORKFLOWS_STEP: &str = "DBOS.listWorkflows";
/// Step name of a delay change from a workflow.
pub const SET_WORKFLOW_DELAY_STEP: &str = "DBOS.setWorkflowDelay";
/// Step name of an attribute update from a workflow.
pub const UPDATE_WORKFLOW_ATTRIBUTES_STEP: &str = "DBOS.updateWorkflowAttributes";

/// The `name` of a recorded [`NotFound`](crate::ErrorKind::NotFound) (DBOS's exception class).
pub const NONEXISTENT_WORKFLOW_ERROR: &str = "DBOSNonExistentWorkflowError";
/// The `name` of the other recorded errors (DBOS's base exception class).
pub const OPERATION_ERROR: &str = "DBOSException";

/// An operation [`StepStore::run_as_step`](crate::StepStore::run_as_step) runs as a step of the
/// calling workflow. Each variant carries the arguments of the method it runs, which it runs
/// exactly as that method does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StepOperation {
    /// [`ManagementStore::cancel_workflows`](crate::ManagementStore::cancel_workflows).
    CancelWorkflows {
        /// The workflows to cancel.
        workflow_ids: Vec<String>,
        /// Whether descendants are cancelled too.
        options: CancelOptions,
    },
    /// [`ManagementStore::resume_workflows`](crate::ManagementStore::resume_workflows).
    ResumeWorkflows {
        /// The workflows to resume.
        workflow_ids: Vec<String>,
        /// The queue to enqueue them on.
        options: ResumeOptions,
    },
    /// [`ManagementStore::fork_workflows`](crate::ManagementStore::fork_workflows).
    ForkWorkflows(Vec<ForkRequest>),
    /// [`ManagementStore::rewind_workflow`](crate::ManagementStore::rewind_workflow).
    RewindWorkflow(RewindRequest),
    /// [`ManagementStore::delete_workflows`](crate::ManagementStore::delete_workflows).
    DeleteWorkflows {
        /// The workflows to delete.
        workflow_ids: Vec<String>,
        /// Whether descendants are deleted too.
        options: DeleteOptions,
    },
    /// [`WorkflowStore::get_workflows`](crate::WorkflowStore::get_workflows).
    GetWorkflows(Vec<String>),
    /// [`WorkflowStore::list_workflows`](crate::WorkflowStore::list_workflows).
    ListWorkflows(ListWorkflowsQuery),
    /// [`QueueStore::set_workflow_delay`](crate::QueueStore::set_workflow_delay).
    SetWorkflowDelay {
        /// The delayed workflow.
        workflow_id: String,
        /// Its new release time (epoch ms).
        until_epoch_ms: EpochMs,
    },
    /// [`ManagementStore::update_workflow_attributes`](crate::ManagementStore::update_workflow_attributes).
    UpdateWorkflowAttributes {
        /// The workflow.
        workflow_id: String,
        /// The new attributes.
        attributes: Map<String, Value>,
        /// Replace or merge.
        mode: AttributeUpdate,
    },
    /// [`QueueStore::debounce_workflow`](crate::QueueStore::debounce_workflow).
    DebounceWorkflow(DebounceRequest),
    /// [`ScheduleStore::create_schedule`](crate::ScheduleStore::create_schedule).
    CreateSchedule(Schedule),
    /// [`ScheduleStore::pause_schedule`](crate::ScheduleStore::pause_schedule), by name.
    PauseSchedule(String),
    /// [`ScheduleStore::resume_schedule`](crate::ScheduleStore::resume_schedule), by name.
    ResumeSchedule(String),
    /// [`ScheduleStore::delete_schedule`](crate::ScheduleStore::delete_schedule), by name.
    DeleteSchedule(String),
}

impl StepOperation {
    /// DBOS's step name for this operation, recorded as the step's `function_name`.
    pub fn step_name(&self) -> &'static str {
        match self {
            StepOperation::CancelWorkflows { .. } => CANCEL_WORKFLOW_STEP,
            StepOperation::ResumeWorkflows { .. } => RESUME_WORKFLOW_STEP,
            StepOperation::ForkWorkflows(_) => FORK_WORKFLOW_STEP,
            StepOperation::RewindWorkflow(_) => REWIND_WORKFLOW_STEP,
            StepOperation::DeleteWorkflows { .. } => DELETE_WORKFLOW_STEP,
            StepOperation::GetWorkflows(_) => GET_STATUS_STEP,
            StepOperation::ListWorkflows(_) => LIST_WORKFLOWS_STEP,
            StepOperation::SetWorkflowDelay { .. } => SET_WORKFLOW_DELAY_STEP,
            StepOperation::UpdateWorkflowAttributes { .. } => UPDATE_WORKFLOW_ATTRIBUTES_STEP,
            StepOperation::DebounceWorkflow(_) => DEBOUNCE_STEP,
            StepOperation::CreateSchedule(_) => CREATE_SCHEDULE_STEP,
            StepOperation::PauseSchedule(_) => PAUSE_SCHEDULE_STEP,
            StepOperation::ResumeSchedule(_) => RESUME_SCHEDULE_STEP,
            StepOperation::DeleteSchedule(_) => DELETE_SCHEDULE_STEP,
        }
    }

    /// Checks the arguments as the operation's own method does before it touches the database,
    /// and gives every fork without an id a generated one
    /// ([`prepare_forks`](crate::management::prepare_forks)), so that a re-run of the same call
    /// writes the same ids.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the offending argument.
    pub fn prepare(self) -> Result<Self> {
        match self {
            StepOperation::ForkWorkflows(requests) => Ok(StepOperation::ForkWorkflows(
                crate::management::prepare_forks(requests)?,
            )),
            other => {
                other.validate()?;
                Ok(other)
            }
        }
    }

    /// Checks the arguments as the operation's own method does before it touches the database.
    /// Forks must have ids ([`StepOperation::prepare`]).
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the offending argument.
    pub fn validate(&self) -> Result<()> {
        match self {
            StepOperation::CancelWorkflows { workflow_ids, .. }
            | StepOperation::DeleteWorkflows { workflow_ids, .. }
            | StepOperation::GetWorkflows(workflow_ids) => validate::workflow_ids(workflow_ids),
            StepOperation::ResumeWorkflows {
                workflow_ids,
                options,
            } => {
                validate::workflow_ids(workflow_ids)?;
                options.validate()
            }
            StepOperation::ForkWorkflows(requests) => {
                if requests.iter().any(|r| r.fork_workflow_id.is_none()) {
                    return Err(Error::invalid_input(
                        "a fork run as a step needs an id for every fork; prepare the operation \
                         with StepOperation::prepare",
                    ));
                }
                crate::management::prepare_forks(requests.clone()).map(drop)
            }
            StepOperation::ListWorkflows(query) => query.validate(),
            StepOperation::RewindWorkflow(request) => request.validate(),
            StepOperation::DebounceWorkflow(request) => request.validate(),
            StepOperation::CreateSchedule(schedule) => schedule.validate(),
            StepOperation::PauseSchedule(name)
            | StepOperation::ResumeSchedule(name)
            | StepOperation::DeleteSchedule(name) => {
                crate::schedules::validate_schedule_lookup(name)
            }
            StepOperation::SetWorkflowDelay { workflow_id, .. } => {
                validate::workflow_id(workflow_id)
            }
            StepOperation::UpdateWorkflowAttributes {
                workflow_id,
                attributes,
                mode,
            } => {
                validate::workflow_id(workflow_id)?;
                validate::attributes(attributes)?;
                mode.validate(attributes)
            }
        }
    }
}

/// What [`StepStore::run_as_step`](crate::StepStore::run_as_step) returns: the result of the
/// operation's own method, wrapped in the variant of its [`StepOperation`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StepOperationOutcome {
    /// The ids cancelled ([`StepOperation::CancelWorkflows`]).
    Cancelled(Vec<String>),
    /// The ids resumed ([`StepOperation::ResumeWorkflows`]).
    Resumed(Vec<String>),
    /// The forks made ([`StepOperation::ForkWorkflows`]).
    Forked(Vec<ForkedWorkflow>),
    /// The rewind made ([`StepOperation::RewindWorkflow`]).
    Rewound(RewoundWorkflow),
    /// What the debounce did ([`StepOperation::DebounceWorkflow`]).
    Debounced(DebounceOutcome),
    /// The schedule was created ([`StepOperation::CreateSchedule`]).
    ScheduleCreated,
    /// Whether the schedule existed ([`StepOperation::PauseSchedule`],
    /// [`StepOperation::ResumeSchedule`], [`StepOperation::DeleteSchedule`]).
    ScheduleChanged(bool),
    /// The ids deleted ([`StepOperation::DeleteWorkflows`]).
    Deleted(Vec<String>),
    /// The workflows read ([`StepOperation::GetWorkflows`], [`StepOperation::ListWorkflows`]).
    Workflows(Vec<WorkflowInfo>),
    /// Whether the delay changed ([`StepOperation::SetWorkflowDelay`]).
    DelaySet(bool),
    /// The attributes now stored ([`StepOperation::UpdateWorkflowAttributes`]).
    Attributes(Map<String, Value>),
}

/// A rewind as a recorded step holds it.
#[derive(Serialize, Deserialize)]
struct RecordedRewind {
    workflow_id: String,
    start_step: i32,
    previous_status: WorkflowStatus,
}

/// A debounce as a recorded step holds it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum RecordedDebounce {
    Extended {
        workflow_id: String,
    },
    Vacant,
    HeldBy {
        workflow_id: String,
        is_debounced: bool,
        name: String,
        application_name: Option<String>,
    },
}

/// A fork as a recorded step holds it.
#[derive(Serialize, Deserialize)]
struct RecordedFork {
    source_workflow_id: String,
    workflow_id: String,
    start_step: i32,
}

impl StepOperationOutcome {
    /// The step output recorded for this outcome: its value as `portable_json` (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) if the value cannot be encoded.
    pub fn encode(&self) -> Result<Payload> {
        match self {
            StepOperationOutcome::Cancelled(ids)
            | StepOperationOutcome::Resumed(ids)
            | StepOperationOutcome::Deleted(ids) => encode_value(ids),
            StepOperationOutcome::Forked(forks) => encode_value(
                &forks
                    .iter()
                    .map(|f| RecordedFork {
                        source_workflow_id: f.source_workflow_id.clone(),
                        workflow_id: f.workflow_id.clone(),
                        start_step: f.start_step,
                    })
                    .collect::<Vec<_>>(),
            ),
            StepOperationOutcome::Rewound(r) => encode_value(&RecordedRewind {
                workflow_id: r.workflow_id.clone(),
                start_step: r.start_step,
                previous_status: r.previous_status.clone(),
            }),
            StepOperationOutcome::Debounced(outcome) => encode_value(&match outcome.clone() {
                DebounceOutcome::Extended { workflow_id } => {
                    RecordedDebounce::Extended { workflow_id }
                }
                DebounceOutcome::HeldBy {
                    workflow_id,
                    is_debounced,
                    name,
                    application_name,
                } => RecordedDebounce::HeldBy {
                    workflow_id,
                    is_debounced,
                    name,
                    application_name,
                },
                DebounceOutcome::Vacant => RecordedDebounce::Vacant,
            }),
            StepOperationOutcome::ScheduleCreated => encode_value(&Value::Null),
            StepOperationOutcome::ScheduleChanged(existed) => encode_value(existed),
            StepOperationOutcome::Workflows(workflows) => encode_value(workflows),
            StepOperationOutcome::DelaySet(changed) => encode_value(changed),
            StepOperationOutcome::Attributes(map) => encode_value(map),
        }
    }

    /// Decodes the output recorded for `operation` (as [`StepOperationOutcome::encode`] wrote
    /// it).
    ///
    /// # Errors
    /// [`Corrupt`](crate::ErrorKind::Corrupt) for an output that is not of the operation's
    /// shape; [`InvalidInput`](crate::ErrorKind::InvalidInput) for one not labelled
    /// `portable_json`.
    pub fn decode(operation: &StepOperation, output: &Payload) -> Result<Self> {
        Ok(match operation {
            StepOperation::CancelWorkflows { .. } => {
                StepOperationOutcome::Cancelled(decode_value(output)?)
            }
            StepOperation::ResumeWorkflows { .. } => {
                StepOperationOutcome::Resumed(decode_value(output)?)
            }
            StepOperation::DeleteWorkflows { .. } => {
                StepOperationOutcome::Deleted(decode_value(output)?)
            }
            StepOperation::ForkWorkflows(_) => {
                let forks: Vec<RecordedFork> = decode_value(output)?;
                StepOperationOutcome::Forked(
                    forks
                        .into_iter()
                        .map(|f| {
                            ForkedWorkflow::new(f.source_workflow_id, f.workflow_id, f.start_step)
                        })
                        .collect(),
                )
            }
            StepOperation::RewindWorkflow(_) => {
                let r: RecordedRewind = decode_value(output)?;
                StepOperationOutcome::Rewound(RewoundWorkflow::new(
                    r.workflow_id,
                    r.start_step,
                    r.previous_status,
                ))
            }
            StepOperation::DebounceWorkflow(_) => {
                StepOperationOutcome::Debounced(match decode_value(output)? {
                    RecordedDebounce::Extended { workflow_id } => {
                        DebounceOutcome::Extended { workflow_id }
                    }
                    RecordedDebounce::Vacant => DebounceOutcome::Vacant,
                    RecordedDebounce::HeldBy {
                        workflow_id,
                        is_debounced,
                        name,
                        application_name,
                    } => DebounceOutcome::HeldBy {
                        workflow_id,
                        is_debounced,
                        name,
                        application_name,
                    },
                })
            }
            StepOperation::CreateSchedule(_) => {
                let Value::Null = decode_value(output)? else {
                    return Err(Error::corrupt(
                        "a schedule's creation records null, not a value",
                    ));
                };
                StepOperationOutcome::ScheduleCreated
            }
            StepOperation::PauseSchedule(_)
            | StepOperation::ResumeSchedule(_)
            | StepOperation::DeleteSchedule(_) => {
                StepOperationOutcome::ScheduleChanged(decode_value(output)?)
            }
            StepOperation::GetWorkflows(_) | StepOperation::ListWorkflows(_) => {
                StepOperationOutcome::Workflows(decode_value(output)?)
            }
            StepOperation::SetWorkflowDelay { .. } => {
                StepOperationOutcome::DelaySet(decode_value(output)?)
            }
            StepOperation::UpdateWorkflowAttributes { .. } => {
                StepOperationOutcome::Attributes(decode_value(output)?)
            }
        })
    }
}

/// The step error recorded for an operation that failed with `error`, or `None` when the error
/// is not recorded (see the [module docs](self)).
///
/// # Errors
/// As [`PortableError::encode`].
pub fn recorded_error(error: &Error) -> Result<Option<Payload>> {
    let (name, code) = match error.kind() {
        ErrorKind::NotFound => (NONEXISTENT_WORKFLOW_ERROR, "not_found"),
        ErrorKind::Conflict => (OPERATION_ERROR, "conflict"),
        ErrorKind::InvalidInput => (OPERATION_ERROR, "invalid_input"),
        _ => return Ok(None),
    };
    PortableError::new(name, error.message())
        .with_code(code)
        .encode()
        .map(Some)
}

/// The answer of a replay: the outcome recorded at `function_id` of `workflow_id` for
/// `operation` (a step already checked to have the operation's name), decoded.
///
/// # Errors
/// The recorded error, with its kind and message; [`Corrupt`](crate::ErrorKind::Corrupt) for a
/// step an operation never records (no outcome, or an error of another shape).
pub fn replayed(
    operation: &StepOperation,
    workflow_id: &str,
    function_id: i32,
    recorded: &RecordedStep,
) -> Result<StepOperationOutcome> {
    let at = || {
        format!(
            "step {function_id} ({}) of workflow {workflow_id}",
            operation.step_name()
        )
    };
    match &recorded.outcome {
        Some(Outcome::Output(output)) => StepOperationOutcome::decode(operation, output)
            .map_err(|e| Error::corrupt(format!("{} holds an unreadable output: {e}", at()))),
        Some(Outcome::Error(error)) => {
            let decoded = PortableError::decode(error)
                .map_err(|e| Error::corrupt(format!("{} holds an unreadable error: {e}", at())))?;
            let kind = match decoded.code.as_ref().and_then(Value::as_str) {
                Some("not_found") => ErrorKind::NotFound,
                Some("conflict") => ErrorKind::Conflict,
                Some("invalid_input") => ErrorKind::InvalidInput,
                _ => {
                    return Err(Error::corrupt(format!(
                        "{} holds an error an operation never records",
                        at()
                    )))
                }
            };
            Err(Error::new(kind, decoded.message))
        }
        _ => Err(Error::corrupt(format!(
            "{} holds no outcome; an operation always records one",
            at()
        ))),
    }
}

/// Checks that an operation's result leaves the calling workflow in place: a workflow cannot
/// delete itself (alone, or as a descendant of a workflow it deletes with its children) as one
/// of its steps, because the step that records the delete would belong to a workflow that is
/// gone (DBOS's step record requires the workflow's row, and a step row left behind would
/// outlive the delete). A store calls it on the operation's result inside the transaction, and
/// the error is recorded as the step's error with the delete undone, as step 4 of
/// [`StepStore::run_as_step`](crate::StepStore::run_as_step) says.
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) when `outcome` deleted the caller.
pub fn check_caller_kept(caller: &crate::Caller, outcome: &StepOperationOutcome) -> Result<()> {
    match outcome {
        StepOperationOutcome::Deleted(ids) if ids.contains(&caller.workflow_id) => {
            Err(Error::invalid_input(format!(
                "workflow {} cannot delete itself at its step {}: the step would belong to a \
                 deleted workflow; delete it from outside the workflow",
                caller.workflow_id, caller.function_id
            )))
        }
        _ => Ok(()),
    }
}

/// Checks the caller of [`StepStore::run_as_step`](crate::StepStore::run_as_step): valid ids,
/// and called by the workflow itself (a call inside a step is not a step of its own).
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the problem.
pub fn validate_caller(caller: &crate::Caller) -> Result<()> {
    caller.validate()?;
    if !caller.records_step() {
        return Err(Error::invalid_input(format!(
            "an operation runs as a step only when the workflow itself calls it; workflow {} \
             called it inside step {}",
            caller.workflow_id, caller.function_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ForkStart, WorkflowStatus};

    #[test]
    fn outcomes_round_trip_through_their_recorded_form() {
        let mut info = WorkflowInfo::new("w", "f", WorkflowStatus::Delayed);
        info.attributes = Some(Map::from_iter([("k".to_owned(), Value::from(1))]));
        info.serialization = Some(crate::Serialization::PortableJson);
        let cases = [
            (
                StepOperation::CancelWorkflows {
                    workflow_ids: vec!["a".into()],
                    options: CancelOptions::default(),
                },
                StepOperationOutcome::Cancelled(vec!["a".into()]),
                r#"["a"]"#,
            ),
            (
                StepOperation::ForkWorkflows(vec![]),
                StepOperationOutcome::Forked(vec![ForkedWorkflow::new("s", "f", 2)]),
                r#"[{"source_workflow_id":"s","workflow_id":"f","start_step":2}]"#,
            ),
            (
                StepOperation::SetWorkflowDelay {
                    workflow_id: "w".into(),
                    until_epoch_ms: 5,
                },
                StepOperationOutcome::DelaySet(false),
                "false",
            ),
            (
                StepOperation::DebounceWorkflow(crate::DebounceRequest::new(
                    "f",
                    "q",
                    "k",
                    1,
                    Payload::portable_json("[]"),
                )),
                StepOperationOutcome::Debounced(DebounceOutcome::HeldBy {
                    workflow_id: "h".into(),
                    is_debounced: false,
                    name: "g".into(),
                    application_name: None,
                }),
                r#"{"outcome":"held_by","workflow_id":"h","is_debounced":false,"name":"g","application_name":null}"#,
            ),
            (
                StepOperation::CreateSchedule(crate::Schedule::new("s", "f", "* * * * *", "{}")),
                StepOperationOutcome::ScheduleCreated,
                "null",
            ),
        ];
        for (operation, outcome, text) in cases {
            let payload = outcome.encode().unwrap();
            assert_eq!(payload.text, text);
            assert_eq!(payload.label(), Some("portable_json"));
            let step = RecordedStep::new(Some(Outcome::Output(payload)), None);
            assert_eq!(replayed(&operation, "w", 1, &step).unwrap(), outcome);
        }
        let read = StepOperationOutcome::Workflows(vec![info]);
        let payload = read.encode().unwrap();
        assert!(
            payload.text.contains(r#""status":"DELAYED""#),
            "{}",
            payload.text
        );
        let step = RecordedStep::new(Some(Outcome::Output(payload)), None);
        let get = StepOperation::GetWorkflows(vec!["w".into()]);
        assert_eq!(replayed(&get, "w", 1, &step).unwrap(), read);
    }

    #[test]
    fn recorded_errors_replay_with_their_kind_and_message() {
        let get = StepOperation::GetWorkflows(vec![]);
        for error in [
            Error::not_found("workflow x does not exist"),
            Error::conflict("taken"),
            Error::invalid_input("no failed step"),
        ] {
            let payload = recorded_error(&error).unwrap().unwrap();
            let step = RecordedStep::new(Some(Outcome::Error(payload)), None);
            let replay = replayed(&get, "w", 3, &step).unwrap_err();
            assert_eq!(replay.kind(), error.kind());
            assert_eq!(replay.message(), error.message());
        }
        let payload = recorded_error(&Error::not_found("gone")).unwrap().unwrap();
        assert_eq!(
            payload.text,
            r#"{"name":"DBOSNonExistentWorkflowError","message":"gone","code":"not_found"}"#
        );
        assert!(recorded_error(&Error::corrupt("x")).unwrap().is_none());
        let empty = RecordedStep::new(None, None);
        let e = replayed(&get, "w", 3, &empty).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(
            e.message()
                .contains("step 3 (DBOS.getStatus) of workflow w holds no outcome"),
            "{e}"
        );
        let odd = PortableError::new("Other", "m").encode().unwrap();
        let e = replayed(
            &get,
            "w",
            3,
            &RecordedStep::new(Some(Outcome::Error(odd)), None),
        )
        .unwrap_err();
        assert!(
            e.message().contains("an error an operation never records"),
            "{e}"
        );
    }

    #[test]
    fn operations_are_checked_before_they_run() {
        let e = StepOperation::ForkWorkflows(vec![ForkRequest::new("s", ForkStart::Step(1))])
            .validate()
            .unwrap_err();
        assert!(e.message().contains("needs an id for every fork"), "{e}");
        let prepared =
            StepOperation::ForkWorkflows(vec![ForkRequest::new("s", ForkStart::Step(1))])
                .prepare()
                .unwrap();
        prepared.validate().unwrap();
        let e = StepOperation::ForkWorkflows(vec![]).prepare().unwrap_err();
        assert!(e.message().contains("needs at least one fork"), "{e}");
        let e = StepOperation::GetWorkflows(vec![String::new()])
            .prepare()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = StepOperation::ResumeWorkflows {
            workflow_ids: vec!["a".into()],
            options: ResumeOptions::default().queue_name("q\0"),
        }
        .validate()
        .unwrap_err();
        assert!(e.message().contains("queue name"), "{e}");
        let e = validate_caller(&crate::Caller::step("w", 2)).unwrap_err();
        assert!(
            e.message().contains(
                "only when the workflow itself calls it; workflow w called it inside step 2"
            ),
            "{e}"
        );
        validate_caller(&crate::Caller::workflow("w", 2)).unwrap();
        let caller = crate::Caller::workflow("w", 3);
        let gone = StepOperationOutcome::Deleted(vec!["x".into(), "w".into()]);
        let e = check_caller_kept(&caller, &gone).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(
            e.message()
                .contains("workflow w cannot delete itself at its step 3"),
            "{e}"
        );
        check_caller_kept(&caller, &StepOperationOutcome::Deleted(vec!["x".into()])).unwrap();
    }
}
