#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod driver;
pub mod error;
pub mod export;
pub mod layer;
pub mod maintenance;
pub mod management;
pub mod messaging;
pub mod methods;
pub mod payload;
pub mod queue;
pub mod retry;
pub mod rules;
pub mod schedule;
pub mod server;
pub mod store;
pub mod types;
pub mod url;
pub mod validate;
pub mod wait;

pub use app::{
    transaction_body, AppStore, AppTransaction, DynAppStore, Isolation, Params,
    RecordedTransaction, Row, TransactionBody, TransactionCall, TransactionOutcome, Value,
};
pub use config::DbosConfig;
pub use driver::Driver;
pub use error::{Error, ErrorKind, Result};
pub use export::{ExportDocument, ExportedWorkflow, ImportOptions};
pub use layer::{Call, Layered, LayeredStore, StoreLayer};
pub use maintenance::{collect_garbage, delete_everywhere, rewind_everywhere, GcOptions, GcReport};
pub use management::{
    AttributeUpdate, DeleteOptions, ForkRequest, ForkStart, ForkedWorkflow, Lease, LeaseState,
    Metrics, MetricsQuery, OrphanSweep, RenameApplication, RenameReport, RetentionPolicy,
    RewindRequest, RewoundWorkflow, StepCount, WorkflowCount,
};
pub use messaging::{
    Caller, GetEventRequest, OutgoingMessage, RecvRequest, SendOptions, SendOutcome,
    SetEventOutcome, StreamEntry, StreamRead, StreamReadOptions, StreamWriteOutcome,
};
pub use methods::{Idempotency, Method, ALL_METHODS};
pub use payload::{Payload, Serialization};
pub use queue::{
    ApplicationVersion, ClaimOutcome, ClaimRequest, DebounceOutcome, DebounceRequest,
    QueueConflictPolicy, QueueDefinition, QueueLimits, QueueUpdate, RateLimit, StopReason,
};
pub use retry::{Backoff, RetryPolicy, RetryingStore};
pub use schedule::{Schedule, ScheduleFilter, ScheduleStatus};
pub use server::ServerInfo;
pub use store::{
    DynSystemStore, LifecycleStore, ManagementStore, StepStore, SystemStore, WorkflowStore,
};
pub use store::{EventStore, MessageStore, StreamStore};
pub use store::{QueueStore, ScheduleStore, VersionStore};
pub use types::*;
pub use url::{BackendKind, DatabaseUrl, SqliteLocation};
