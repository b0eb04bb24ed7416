//! The steps area: [`StepStore`] and its plain data (step checkpoints, recorded steps, step
//! rows, durable sleeps).

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    now_epoch_ms, Caller, EpochMs, InsertOptions, InsertOutcome, NewWorkflow, Outcome, Payload,
    Result, StepOperation, StepOperationOutcome,
};

/// Step checkpoints: check, record, list, child starts and durable sleeps.
#[async_trait]
pub trait StepStore: Debug + Send + Sync + 'static {
    /// Returns the step recorded at `function_id`, or `None` if the step has not run yet.
    ///
    /// # Errors
    /// - [`Cancelled`](crate::ErrorKind::Cancelled): the workflow is `CANCELLED` (how a running
    ///   workflow notices cancellation at its next step).
    /// - [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep): the recorded step has another
    ///   name.
    /// - [`NotFound`](crate::ErrorKind::NotFound): no such workflow.
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>>;

    /// Records a step's outcome.
    ///
    /// # Behavior
    /// When `owner_xid` is given, first checks in the same transaction that the workflow is still
    /// owned by it. The row copies the workflow's `application_name`. A row already recorded with
    /// the same `completed_at_epoch_ms` is this call's own earlier write, and succeeds; a step
    /// recorded [without times](StepRecord::without_times) writes NULL times, and an untimed row
    /// at its position counts as its own.
    ///
    /// # Errors
    /// - [`NotFound`](crate::ErrorKind::NotFound): no such workflow (with or without a token).
    /// - [`NotOwner`](crate::ErrorKind::NotOwner): the workflow is owned by another execution.
    /// - [`StepConflict`](crate::ErrorKind::StepConflict): a rival execution recorded this step
    ///   first (another `completed_at_epoch_ms`); the recorded row is kept.
    ///
    /// # Idempotency
    /// Idempotent: `completed_at_epoch_ms` identifies the attempt.
    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()>;

    /// Lists a workflow's steps by position.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>>;

    /// Starts a child workflow and records it as the parent's step, in one transaction.
    ///
    /// # Behavior
    /// Checks the parent's ownership (when `parent_owner_xid` is given), inserts the child as
    /// [`WorkflowStore::insert_workflow`](crate::WorkflowStore::insert_workflow) does (its
    /// `parent_workflow_id` is set to the parent),
    /// then records step `function_id` of the parent with `function_name` = the child's name and
    /// `child_workflow_id`. The child inherits the parent's deadline unless it has its own
    /// timeout or deadline. A deduplicated child is recorded as the parent's step *error* (a
    /// `portable_json` error named `DBOSQueueDeduplicatedError`) and the call fails with
    /// `Deduplicated`, whatever the [`DedupPolicy`](crate::DedupPolicy): attaching to the holder
    /// would leave the parent's step naming a child that does not exist.
    ///
    /// # Errors
    /// As `insert_workflow`, plus [`NotOwner`](crate::ErrorKind::NotOwner) and
    /// [`StepConflict`](crate::ErrorKind::StepConflict) when the parent's step names another
    /// child, and [`NotFound`](crate::ErrorKind::NotFound) for a missing parent.
    ///
    /// # Idempotency
    /// Idempotent: the same child at the same step is a retry.
    async fn start_child_workflow(
        &self,
        parent_workflow_id: &str,
        function_id: i32,
        child: NewWorkflow,
        options: InsertOptions,
        parent_owner_xid: Option<&str>,
    ) -> Result<InsertOutcome>;

    /// Records a durable sleep as step `DBOS.sleep` and returns its wake time.
    ///
    /// # Behavior
    /// The first call records `now + duration` as the output (epoch seconds as a float, under
    /// `portable_json`, as DBOS Python writes it; `completed_at_epoch_ms` is the wake time). A
    /// replay returns the recorded wake time, so a recovered sleep keeps its original deadline.
    ///
    /// # Errors
    /// As [`StepStore::record_step`], plus [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep)
    /// if another step is recorded at `function_id`.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn record_sleep(
        &self,
        workflow_id: &str,
        function_id: i32,
        duration: Duration,
        owner_xid: Option<&str>,
    ) -> Result<SleepState>;

    /// Runs an operation as step `caller.function_id` of the calling workflow, in one
    /// transaction with its checkpoint (see [`crate::workflow_steps`]).
    ///
    /// # Behavior
    /// 1. The calling workflow must exist and not be cancelled; a step recorded at the caller's
    ///    position with the operation's name ([`StepOperation::step_name`]) is a replay: its
    ///    recorded result is returned (or its recorded error raised) and nothing runs.
    /// 2. Otherwise, with `caller.owner_xid`, the token must own the workflow.
    /// 3. The operation runs exactly as its own method (the variant names it), and its result is
    ///    recorded as the step's `portable_json` output with DBOS's step name and the workflow's
    ///    `application_name`; the same transaction commits both. The result returned is the one
    ///    the method returns.
    /// 4. An operation error that depends on the database (`NotFound`, `Conflict`, or
    ///    `InvalidInput` found in the transaction) is recorded as the step's error with the
    ///    operation's writes undone, and returned; a replay returns it again, with the same kind
    ///    and message ([`crate::workflow_steps::recorded_error`]).
    /// 5. Waiters this process holds are woken after the commit, as after the method itself.
    ///
    /// # Errors
    /// - [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid caller, a caller inside
    ///   a step ([`crate::workflow_steps::validate_caller`]), or arguments the operation's method
    ///   refuses ([`StepOperation::prepare`]); checked before the database is touched.
    /// - [`NotFound`](crate::ErrorKind::NotFound) for a missing calling workflow;
    ///   [`Cancelled`](crate::ErrorKind::Cancelled), [`NotOwner`](crate::ErrorKind::NotOwner),
    ///   and [`UnexpectedStep`](crate::ErrorKind::UnexpectedStep) when the caller's position
    ///   holds another step. None of these is recorded.
    /// - The operation's own errors, recorded as step 4 says; among them
    ///   [`InvalidInput`](crate::ErrorKind::InvalidInput) for a delete that would delete the
    ///   calling workflow itself ([`crate::workflow_steps::check_caller_kept`]): the delete is
    ///   undone and the refusal recorded.
    ///
    /// # Idempotency
    /// Idempotent: a re-run after a commit whose acknowledgement was lost finds the step recorded
    /// and returns the recorded result, without acting again; a re-run after a commit that did
    /// not apply runs the operation once. (Forks get their ids before the first attempt.)
    async fn run_as_step(
        &self,
        caller: Caller,
        operation: StepOperation,
    ) -> Result<StepOperationOutcome>;
}

/// A step checkpoint to write with [`crate::StepStore::record_step`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepRecord {
    /// The workflow.
    pub workflow_id: String,
    /// The step's position in the workflow, 1-based.
    pub function_id: i32,
    /// The step name (a user step's name or an internal `DBOS.*` name).
    pub function_name: String,
    /// The outcome; `None` for a marker step with neither output nor error. A step that returned
    /// nothing is stored as DBOS stores it, with SQL NULL in `output` and `error`:
    /// `Some(Outcome::Void)` writes the same row as `None`, and reads (check, list, replays)
    /// report such a row as `None`.
    pub outcome: Option<Outcome>,
    /// A child workflow started or awaited at this step.
    pub child_workflow_id: Option<String>,
    /// When the step started (epoch ms).
    pub started_at_epoch_ms: Option<EpochMs>,
    /// When the step completed (epoch ms). Computed once, outside any retry: it is how a retry of
    /// this write is told from a rival's.
    pub completed_at_epoch_ms: EpochMs,
    /// Whether the row records the step's times. `false` stores SQL NULL in both
    /// `started_at_epoch_ms` and `completed_at_epoch_ms`, as DBOS leaves the steps it checkpoints
    /// without timings; [`crate::StepStore::list_steps`] then reports no times. With no
    /// completion time recorded, a retry cannot be told from a rival: an untimed row already at
    /// that position counts as this write's own (DBOS's `ON CONFLICT DO NOTHING`). Defaults to
    /// true; see [`StepRecord::without_times`].
    pub record_times: bool,
}

impl StepRecord {
    /// A step that returned `output`, completed now.
    pub fn output(
        workflow_id: impl Into<String>,
        function_id: i32,
        function_name: impl Into<String>,
        output: Payload,
    ) -> Self {
        Self::with_outcome(
            workflow_id,
            function_id,
            function_name,
            Some(Outcome::Output(output)),
        )
    }

    /// A step that failed with `error`, completed now.
    pub fn error(
        workflow_id: impl Into<String>,
        function_id: i32,
        function_name: impl Into<String>,
        error: Payload,
    ) -> Self {
        Self::with_outcome(
            workflow_id,
            function_id,
            function_name,
            Some(Outcome::Error(error)),
        )
    }

    /// A step with the given outcome, completed now.
    pub fn with_outcome(
        workflow_id: impl Into<String>,
        function_id: i32,
        function_name: impl Into<String>,
        outcome: Option<Outcome>,
    ) -> Self {
        let now = now_epoch_ms();
        StepRecord {
            workflow_id: workflow_id.into(),
            function_id,
            function_name: function_name.into(),
            outcome,
            child_workflow_id: None,
            started_at_epoch_ms: Some(now),
            completed_at_epoch_ms: now,
            record_times: true,
        }
    }

    /// Sets the child workflow id.
    #[must_use]
    pub fn with_child(mut self, child_workflow_id: impl Into<String>) -> Self {
        self.child_workflow_id = Some(child_workflow_id.into());
        self
    }

    /// Sets the start and completion times.
    #[must_use]
    pub fn with_times(mut self, started: Option<EpochMs>, completed: EpochMs) -> Self {
        self.started_at_epoch_ms = started;
        self.completed_at_epoch_ms = completed;
        self.record_times = true;
        self
    }

    /// Records the step without timings: both time columns NULL (see
    /// [`StepRecord::record_times`]).
    #[must_use]
    pub fn without_times(mut self) -> Self {
        self.record_times = false;
        self
    }

    /// The `started_at_epoch_ms` column to write: the start time, or NULL without timings.
    pub fn started_column(&self) -> Option<EpochMs> {
        self.started_at_epoch_ms.filter(|_| self.record_times)
    }

    /// The `completed_at_epoch_ms` column to write: the completion time, or NULL without
    /// timings. A recorded row with this value is this write's own earlier attempt.
    pub fn completed_column(&self) -> Option<EpochMs> {
        self.record_times.then_some(self.completed_at_epoch_ms)
    }

    /// Checks the id, position, name and payload text.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> crate::Result<()> {
        crate::validate::workflow_id(&self.workflow_id)?;
        crate::validate::function_id(self.function_id)?;
        crate::validate::short_name("step name", &self.function_name)?;
        if let Some(o) = &self.outcome {
            o.validate("step output")?;
        }
        Ok(())
    }

    /// The outcome as the row stores it: `None` for a marker step and for a step that returned
    /// nothing ([`Outcome::Void`]), which are the same row.
    pub fn stored_outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref().filter(|o| **o != Outcome::Void)
    }
}

/// A recorded step, as returned by [`crate::StepStore::check_step`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedStep {
    /// The recorded outcome; `None` for a marker step, a child start or a step that returned
    /// nothing (SQL NULL in `output` and `error`).
    pub outcome: Option<Outcome>,
    /// The child workflow recorded at this step.
    pub child_workflow_id: Option<String>,
}

impl RecordedStep {
    /// A recorded step with this outcome and child.
    pub fn new(outcome: Option<Outcome>, child_workflow_id: Option<String>) -> Self {
        RecordedStep {
            outcome,
            child_workflow_id,
        }
    }
}

/// One row of [`crate::StepStore::list_steps`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepInfo {
    /// Position, 1-based.
    pub function_id: i32,
    /// Name.
    pub function_name: String,
    /// Outcome, when loaded.
    pub outcome: Option<Outcome>,
    /// Child workflow.
    pub child_workflow_id: Option<String>,
    /// Start time.
    pub started_at_epoch_ms: Option<EpochMs>,
    /// Completion time.
    pub completed_at_epoch_ms: Option<EpochMs>,
}

impl StepInfo {
    /// A step row at `function_id` named `function_name`, with no outcome, child or times; set
    /// the other public fields afterwards.
    pub fn new(function_id: i32, function_name: impl Into<String>) -> Self {
        StepInfo {
            function_id,
            function_name: function_name.into(),
            outcome: None,
            child_workflow_id: None,
            started_at_epoch_ms: None,
            completed_at_epoch_ms: None,
        }
    }
}

/// Options of [`crate::StepStore::list_steps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ListStepsOptions {
    /// Load outputs and errors (default false: names and times only).
    pub load_output: bool,
    /// At most this many steps.
    pub limit: Option<u64>,
    /// Skip this many steps.
    pub offset: Option<u64>,
}

setters!(ListStepsOptions {
    /// Load outputs and errors.
    load_output: bool => load_output = |v| v;
    /// At most this many steps.
    limit: u64 => limit = Some;
    /// Skip this many steps.
    offset: u64 => offset = Some;
});

/// The state of a durable sleep, from [`crate::StepStore::record_sleep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SleepState {
    /// When the sleep ends (epoch ms). A replay returns the wake time recorded by the first run.
    pub wake_at_epoch_ms: EpochMs,
    /// How long is left from now (zero once the wake time has passed).
    pub remaining: Duration,
}

impl SleepState {
    /// The state of a sleep ending at `wake_at_epoch_ms`, seen at `now_epoch_ms`.
    pub fn new(wake_at_epoch_ms: EpochMs, now_epoch_ms: EpochMs) -> Self {
        let left = wake_at_epoch_ms.saturating_sub(now_epoch_ms).max(0);
        SleepState {
            wake_at_epoch_ms,
            remaining: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
        }
    }
}

/// The step name of a durable sleep.
pub const SLEEP_STEP: &str = "DBOS.sleep";
