#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[macro_use]
mod setters;

pub mod app;
pub mod config;
pub mod cron;
pub mod driver;
pub mod error;
pub mod events;
pub mod export;
pub mod layer;
pub mod lifecycle;
pub mod management;
pub mod messages;
pub mod methods;
pub mod payload;
pub mod queues;
pub mod recovery;
pub mod retry;
pub mod schedules;
pub mod schema;
pub mod server_info;
pub mod steps;
pub mod streams;
pub mod system_store;
pub mod time_and_tokens;
pub mod url;
pub mod validate;
pub mod versions;
pub mod workflow_steps;
pub mod workflows;

pub use app::{
    transaction_body, AppStore, AppTransaction, DynAppStore, Isolation, Params,
    RecordedTransaction, Row, TransactionBody, TransactionCall, TransactionOutcome, Value,
};
pub use config::DbosConfig;
pub use cron::{validate_cron_expression, validate_time_zone};
pub use driver::Driver;
pub use error::{Error, ErrorKind, Result};
pub use events::{EventStore, GetEventRequest, SetEventOutcome};
pub use export::{ExportDocument, ExportedWorkflow, ImportOptions};
pub use layer::{Call, Layered, LayeredStore, StoreLayer};
pub use lifecycle::{Capabilities, LifecycleStore, SchemaVersion, DBOS_SCHEMA_VERSION};
pub use management::{
    AttributeUpdate, CancelOptions, CollectableWindow, CreationPosition, DeleteOptions,
    ForkRequest, ForkStart, ForkedWorkflow, Lease, LeaseState, ManagementStore, Metrics,
    MetricsQuery, OrphanSweep, OrphanSweepWindow, RenameApplication, RenameReport, ResumeOptions,
    RetentionPolicy, RewindRequest, RewoundWorkflow, StepCount, WorkflowCount,
};
pub use messages::{
    Caller, MessageStore, Notification, OutgoingMessage, RecvRequest, SendOptions, SendOutcome,
};
pub use methods::{Idempotency, Method, ALL_METHODS};
pub use payload::{Payload, Serialization};
pub use queues::{
    ClaimOutcome, ClaimRequest, DebounceOutcome, DebounceRequest, QueueConflictPolicy,
    QueueDefinition, QueueLimits, QueueStore, QueueUpdate, RateLimit, StopReason, INTERNAL_QUEUE,
};
pub use recovery::{NotRecoverable, RecoveryOutcome, RecoveryRequest};
pub use retry::{Backoff, RetryPolicy, RetryingStore};
pub use schedules::{Schedule, ScheduleFilter, ScheduleStatus, ScheduleStore};
pub use server_info::ServerInfo;
pub use steps::{
    ListStepsOptions, RecordedStep, SleepState, StepInfo, StepRecord, StepStore, SLEEP_STEP,
};
pub use streams::{
    StreamEntry, StreamRead, StreamReadOptions, StreamStepKind, StreamStepOutcome, StreamStepRead,
    StreamStepRequest, StreamStore, StreamWriteOutcome,
};
pub use system_store::{DynSystemStore, SystemStore};
pub use time_and_tokens::{duration_ms, new_token, now_epoch_ms, EpochMs};
pub use url::{BackendKind, DatabaseUrl, SqliteLocation};
pub use versions::{ApplicationVersion, VersionStore};
pub use workflow_steps::{StepOperation, StepOperationOutcome};
pub use workflows::{
    AwaitOptions, DedupPolicy, IdReusePolicy, InitialStatus, InsertOptions, InsertOutcome,
    ListWorkflowsQuery, NewWorkflow, Outcome, SortOrder, WorkflowInfo, WorkflowResult,
    WorkflowStatus, WorkflowStore,
};
