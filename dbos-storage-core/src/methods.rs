//! The table of every [`SystemStore`](crate::SystemStore) method: its name, its area trait,
//! whether it writes, and whether it may be re-run after an ambiguous commit.
//!
//! This is the one place that says which methods are idempotent; each method's `# Idempotency`
//! section explains why. Wrappers read the table through the [`Call`](crate::Call) their
//! [`StoreLayer`](crate::StoreLayer) receives: [`RetryPolicy`](crate::RetryPolicy) re-runs
//! ambiguous commits only of idempotent calls, an audit layer counts the calls that write.
//!
//! The table and the forwarding of every area trait through a layer are written by one macro
//! from one list, so the compiler refuses a method that is forwarded but not listed, or listed
//! but missing from its trait.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{
    ApplicationVersion, AttributeUpdate, AwaitOptions, Caller, CancelOptions, Capabilities,
    ClaimOutcome, ClaimRequest, CollectableWindow, CreationPosition, DebounceOutcome,
    DebounceRequest, DeleteOptions, EpochMs, ExportedWorkflow, ForkRequest, ForkedWorkflow,
    GetEventRequest, ImportOptions, InsertOptions, InsertOutcome, Lease, LeaseState,
    ListStepsOptions, ListWorkflowsQuery, Metrics, MetricsQuery, NewWorkflow, Notification,
    OrphanSweepWindow, Outcome, OutgoingMessage, Payload, QueueConflictPolicy, QueueDefinition,
    QueueUpdate, RecordedStep, RecoveryOutcome, RecoveryRequest, RecvRequest, RenameApplication,
    RenameReport, ResumeOptions, RetentionPolicy, RewindRequest, RewoundWorkflow, Schedule,
    ScheduleFilter, SchemaVersion, SendOptions, SendOutcome, SetEventOutcome, SleepState, StepInfo,
    StepOperation, StepOperationOutcome, StepRecord, StreamRead, StreamReadOptions, StreamStepRead,
    StreamStepRequest, StreamWriteOutcome, WorkflowInfo, WorkflowResult,
};

/// Whether re-running a method after an ambiguous commit (the commit may or may not have
/// applied) leaves the same state as running it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Always safe to re-run: every read, and the writes that recognise their own earlier
    /// attempt.
    Always,
    /// Safe for some arguments only (the method's `# Idempotency` section says which); the
    /// forwarding decides for each call ([`Call::idempotent`](crate::Call::idempotent)).
    Conditional,
    /// Never safe: a re-run after an applied attempt fails or does something else.
    Never,
}

/// One method of the store contract, as the table describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Method {
    /// The method's name, as in its trait (`"insert_workflow"`).
    pub name: &'static str,
    /// The area trait that declares it (`"WorkflowStore"`).
    pub area: &'static str,
    /// Whether it may be re-run after an ambiguous commit.
    pub idempotency: Idempotency,
    /// Whether it may change the database (a read that records a step, such as a workflow's
    /// `get_event`, writes).
    pub writes: bool,
    /// Whether its callers poll it, so that their next poll is its retry and a wrapper should
    /// not re-run it ([`QueueStore::claim_workflows`](crate::QueueStore::claim_workflows)).
    pub polled: bool,
    /// Whether a [`LayeredStore`](crate::LayeredStore) hands its calls to the layer; `false`
    /// for `backend`, `capabilities` and `close`, which go straight to the inner store.
    pub layered: bool,
}

impl Method {
    /// The method called `name`, if the contract has one.
    pub fn named(name: &str) -> Option<&'static Method> {
        ALL_METHODS.iter().find(|method| method.name == name)
    }
}

crate::layer::store_methods! {
    LifecycleStore [
        BACKEND: fn backend() -> &'static str;
        CAPABILITIES: fn capabilities() -> Capabilities;
    ] {
        MIGRATE: layered writes Always fn migrate() -> SchemaVersion;
        SCHEMA_VERSION: layered reads Always fn schema_version() -> SchemaVersion;
        CHECK_CONNECTION: layered reads Always fn check_connection() -> ();
        CLOSE: direct reads Always fn close() -> ();
    }

    WorkflowStore {
        INSERT_WORKFLOW: layered writes Always
        fn insert_workflow(workflow: NewWorkflow => clone, options: InsertOptions => clone)
            -> InsertOutcome;
        GET_WORKFLOWS: layered reads Always
        fn get_workflows(workflow_ids: &[String]) -> Vec<WorkflowInfo>;
        LIST_WORKFLOWS: layered reads Always
        fn list_workflows(query: ListWorkflowsQuery => clone) -> Vec<WorkflowInfo>;
        RECORD_OUTCOME: layered writes Always
        fn record_outcome(workflow_id: &str, outcome: Outcome => clone, owner_xid: Option<&str>)
            -> bool;
        WORKFLOW_RESULT: layered reads Always
        fn workflow_result(workflow_id: &str) -> WorkflowResult;
        AWAIT_WORKFLOW_RESULT: layered reads Always
        fn await_workflow_result(workflow_id: &str, options: AwaitOptions => clone)
            -> WorkflowResult;
        FIRST_FINISHED: layered reads Always
        fn first_finished(workflow_ids: &[String]) -> Option<String>;
        AWAIT_FIRST_FINISHED: layered reads Always
        fn await_first_finished(workflow_ids: &[String], options: AwaitOptions => clone)
            -> String;
        WORKFLOW_CHILDREN: layered reads Always
        fn workflow_children(workflow_id: &str) -> Vec<String>;
    }

    StepStore {
        CHECK_STEP: layered reads Always
        fn check_step(workflow_id: &str, function_id: i32, function_name: &str)
            -> Option<RecordedStep>;
        RECORD_STEP: layered writes Always
        fn record_step(step: StepRecord => clone, owner_xid: Option<&str>) -> ();
        LIST_STEPS: layered reads Always
        fn list_steps(workflow_id: &str, options: ListStepsOptions) -> Vec<StepInfo>;
        START_CHILD_WORKFLOW: layered writes Always
        fn start_child_workflow(
            parent_workflow_id: &str,
            function_id: i32,
            child: NewWorkflow => clone,
            options: InsertOptions => clone,
            parent_owner_xid: Option<&str>
        ) -> InsertOutcome;
        RECORD_SLEEP: layered writes Always
        fn record_sleep(
            workflow_id: &str,
            function_id: i32,
            duration: Duration,
            owner_xid: Option<&str>
        ) -> SleepState;
        // Always: a replay returns the recorded result instead of acting again.
        RUN_AS_STEP: layered writes Always
        fn run_as_step(caller: Caller => clone, operation: StepOperation => clone)
            -> StepOperationOutcome {
            let operation = operation.prepare()?;
        };
    }

    ManagementStore {
        CANCEL_WORKFLOWS: layered writes Always
        fn cancel_workflows(workflow_ids: &[String], options: CancelOptions) -> Vec<String>;
        RESUME_WORKFLOWS: layered writes Always
        fn resume_workflows(workflow_ids: &[String], options: ResumeOptions => clone)
            -> Vec<String>;
        FORK_WORKFLOWS: layered writes Always
        fn fork_workflows(requests: Vec<ForkRequest> => clone) -> Vec<ForkedWorkflow> {
            let requests = crate::management::prepare_forks(requests)?;
        };
        REWIND_WORKFLOW: layered writes Never
        fn rewind_workflow(request: RewindRequest => clone) -> RewoundWorkflow;
        DELETE_WORKFLOWS: layered writes Always
        fn delete_workflows(workflow_ids: &[String], options: DeleteOptions) -> Vec<String>;
        UPDATE_WORKFLOW_ATTRIBUTES: layered writes Always
        fn update_workflow_attributes(
            workflow_id: &str,
            attributes: serde_json::Map<String, serde_json::Value> => clone,
            mode: AttributeUpdate
        ) -> serde_json::Map<String, serde_json::Value>;
        ACQUIRE_LEASE: layered writes Always fn acquire_lease(lease: &Lease) -> LeaseState;
        RELEASE_LEASE: layered writes Always fn release_lease(lease: &Lease) -> bool;
        COLLECTABLE_WORKFLOWS: layered reads Always
        fn collectable_workflows(
            policy: RetentionPolicy,
            from: Option<&CreationPosition>,
            limit: u32
        ) -> CollectableWindow;
        DELETE_COLLECTED: layered writes Always
        fn delete_collected(lease: &Lease, workflow_ids: &[String]) -> Vec<String>;
        SWEEP_ORPHANS: layered writes Always
        fn sweep_orphans(lease: &Lease, from: Option<&str>, limit: u32) -> OrphanSweepWindow;
        EXPORT_WORKFLOWS: layered reads Always
        fn export_workflows(workflow_ids: &[String], include_children: bool)
            -> Vec<ExportedWorkflow>;
        IMPORT_WORKFLOWS: layered writes Conditional(options.replace_existing)
        fn import_workflows(workflows: Vec<ExportedWorkflow> => clone, options: ImportOptions)
            -> Vec<String>;
        METRICS: layered reads Always fn metrics(query: MetricsQuery => clone) -> Metrics;
        RENAME_APPLICATION: layered writes Always
        fn rename_application(request: RenameApplication => clone) -> RenameReport;
    }

    ScheduleStore {
        CREATE_SCHEDULE: layered writes Never
        fn create_schedule(schedule: Schedule => clone) -> ();
        UPSERT_SCHEDULES: layered writes Always
        fn upsert_schedules(schedules: Vec<Schedule> => clone) -> ();
        LIST_SCHEDULES: layered reads Always
        fn list_schedules(filter: ScheduleFilter => clone) -> Vec<Schedule>;
        GET_SCHEDULE: layered reads Always fn get_schedule(name: &str) -> Option<Schedule>;
        PAUSE_SCHEDULE: layered writes Always fn pause_schedule(name: &str) -> bool;
        RESUME_SCHEDULE: layered writes Always fn resume_schedule(name: &str) -> bool;
        RECORD_SCHEDULE_FIRED: layered writes Always
        fn record_schedule_fired(name: &str, fired_at: &str) -> bool;
        DELETE_SCHEDULE: layered writes Always fn delete_schedule(name: &str) -> bool;
    }

    QueueStore {
        ENQUEUE_WORKFLOWS: layered writes Always
        fn enqueue_workflows(workflows: Vec<NewWorkflow> => clone) -> Vec<String>;
        CLAIM_WORKFLOWS: polled writes Never
        fn claim_workflows(request: ClaimRequest => clone) -> ClaimOutcome;
        QUEUE_PARTITIONS: layered reads Always
        fn queue_partitions(queue_name: &str, application_name: Option<&str>) -> Vec<String>;
        RELEASE_DELAYED_WORKFLOWS: layered writes Always
        fn release_delayed_workflows(application_name: Option<&str>) -> Vec<String>;
        SET_WORKFLOW_DELAY: layered writes Always
        fn set_workflow_delay(workflow_id: &str, until_epoch_ms: EpochMs) -> bool;
        DEBOUNCE_WORKFLOW: layered writes Always
        fn debounce_workflow(request: DebounceRequest => clone) -> DebounceOutcome;
        DEDUPLICATED_WORKFLOW: layered reads Always
        fn deduplicated_workflow(queue_name: &str, deduplication_id: &str) -> Option<String>;
        CANCEL_TIMED_OUT_WORKFLOWS: layered writes Always
        fn cancel_timed_out_workflows(limit: u32, application_name: Option<&str>)
            -> Vec<String>;
        PENDING_WORKFLOWS: layered reads Always
        fn pending_workflows(
            executor_id: &str,
            application_version: Option<&str>,
            application_name: Option<&str>
        ) -> Vec<String>;
        REENQUEUE_FOR_RECOVERY: layered writes Always
        fn reenqueue_for_recovery(workflow_ids: &[String], dead_executor_ids: &[String])
            -> Vec<String>;
        DEAD_LETTER_WORKFLOWS: layered writes Always
        fn dead_letter_workflows(workflow_ids: &[String], min_recovery_attempts: i64)
            -> Vec<String>;
        RECOVER_WORKFLOW: layered writes Always
        fn recover_workflow(request: RecoveryRequest => clone) -> RecoveryOutcome;
        RETURN_TO_QUEUE: layered writes Always
        fn return_to_queue(workflow_id: &str, owner_xid: &str) -> bool;
        UPSERT_QUEUE: layered writes Always
        fn upsert_queue(queue: QueueDefinition => clone, policy: QueueConflictPolicy) -> bool;
        GET_QUEUE: layered reads Always fn get_queue(name: &str) -> Option<QueueDefinition>;
        LIST_QUEUES: layered reads Always
        fn list_queues(application_name: Option<&str>) -> Vec<QueueDefinition>;
        UPDATE_QUEUE: layered writes Always
        fn update_queue(name: &str, update: QueueUpdate => clone) -> QueueDefinition;
        DELETE_QUEUE: layered writes Always fn delete_queue(name: &str) -> bool;
    }

    VersionStore {
        CREATE_APPLICATION_VERSION: layered writes Always
        fn create_application_version(version_name: &str, application_name: Option<&str>)
            -> ApplicationVersion;
        LIST_APPLICATION_VERSIONS: layered reads Always
        fn list_application_versions(application_name: Option<&str>) -> Vec<ApplicationVersion>;
        LATEST_APPLICATION_VERSION: layered reads Always
        fn latest_application_version(application_name: Option<&str>) -> ApplicationVersion;
        SET_APPLICATION_VERSION_TIMESTAMP: layered writes Always
        fn set_application_version_timestamp(
            version_name: &str,
            timestamp: EpochMs,
            application_name: Option<&str>
        ) -> ();
    }

    MessageStore {
        SEND_MESSAGES: layered writes Conditional(
            caller.as_ref().is_some_and(Caller::records_step)
                || messages.iter().all(|message| message.idempotency_key.is_some())
        )
        fn send_messages(
            messages: Vec<OutgoingMessage> => clone,
            caller: Option<Caller> => clone,
            options: SendOptions
        ) -> SendOutcome;
        RECV: layered writes Always
        fn recv(request: RecvRequest => clone, options: AwaitOptions => clone) -> Option<Payload>;
        LIST_NOTIFICATIONS: layered reads Always
        fn list_notifications(workflow_id: &str) -> Vec<Notification>;
    }

    EventStore {
        SET_EVENT: layered writes Always
        fn set_event(caller: Caller => clone, key: &str, value: Payload => clone)
            -> SetEventOutcome;
        GET_EVENT: layered writes Always
        fn get_event(request: GetEventRequest => clone, options: AwaitOptions => clone)
            -> Option<Payload>;
        GET_ALL_EVENTS: layered reads Always
        fn get_all_events(workflow_id: &str) -> BTreeMap<String, Payload>;
    }

    StreamStore {
        WRITE_STREAM: layered writes Conditional(caller.records_step())
        fn write_stream(caller: Caller => clone, key: &str, value: Payload => clone)
            -> StreamWriteOutcome;
        CLOSE_STREAM: layered writes Always
        fn close_stream(caller: Caller => clone, key: &str) -> StreamWriteOutcome;
        READ_STREAM: layered reads Always
        fn read_stream(workflow_id: &str, key: &str, options: StreamReadOptions) -> StreamRead;
        AWAIT_STREAM: layered reads Always
        fn await_stream(
            workflow_id: &str,
            key: &str,
            options: StreamReadOptions,
            wait: AwaitOptions => clone
        ) -> StreamRead;
        READ_STREAM_STEP: layered writes Always
        fn read_stream_step(request: StreamStepRequest => clone, wait: AwaitOptions => clone)
            -> StreamStepRead;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn names(select: impl Fn(&Method) -> bool) -> BTreeSet<&'static str> {
        ALL_METHODS
            .iter()
            .filter(|method| select(method))
            .map(|method| method.name)
            .collect()
    }

    #[test]
    fn every_method_is_listed_once_under_its_area() {
        let unique: BTreeSet<_> = ALL_METHODS.iter().map(|m| m.name).collect();
        assert_eq!(unique.len(), ALL_METHODS.len(), "a method listed twice");
        let areas: BTreeSet<_> = ALL_METHODS.iter().map(|m| m.area).collect();
        assert_eq!(areas.len(), 10, "the ten area traits: {areas:?}");
        for method in ALL_METHODS {
            assert_eq!(Method::named(method.name), Some(method));
        }
        assert_eq!(Method::named("no_such_method"), None);
        assert_eq!(CONSTANT_NAMES.len(), ALL_METHODS.len());
        for (constant, name) in CONSTANT_NAMES {
            assert!(
                constant.eq_ignore_ascii_case(name),
                "{constant} names {name}"
            );
        }
        assert_eq!(INSERT_WORKFLOW.area, "WorkflowStore");
        assert_eq!(CLAIM_WORKFLOWS.name, "claim_workflows");
    }

    #[test]
    fn only_the_documented_methods_are_not_always_idempotent() {
        assert_eq!(
            names(|m| m.idempotency == Idempotency::Never),
            BTreeSet::from(["claim_workflows", "create_schedule", "rewind_workflow"])
        );
        assert_eq!(
            names(|m| m.idempotency == Idempotency::Conditional),
            BTreeSet::from(["import_workflows", "send_messages", "write_stream"])
        );
    }

    #[test]
    fn reads_are_idempotent_and_only_claims_are_polled() {
        assert!(ALL_METHODS
            .iter()
            .filter(|m| !m.writes)
            .all(|m| m.idempotency == Idempotency::Always));
        assert_eq!(names(|m| m.polled), BTreeSet::from(["claim_workflows"]));
        assert_eq!(
            names(|m| !m.layered),
            BTreeSet::from(["backend", "capabilities", "close"])
        );
    }
}
