//! The model-based property: random operation sequences, run on the store under test and on
//! [`MemoryStore`], must give the same results.
//!
//! Sequences come from a [`ReferenceStateMachine`] over a deliberately small world (four
//! workflow ids, two function names, two queues, two deduplication ids, three owner tokens,
//! three applications, step positions 1 to 4), so that collisions — the interesting cases —
//! are frequent. The state machine only steers generation (which workflows exist, which step
//! times were used, so that a record can be its own retry or a rival's); the reference results
//! come from a fresh [`MemoryStore`] per case.
//!
//! Results are compared after normalization: errors by [`ErrorKind`], rows without their
//! timestamps, unordered lists sorted, and paged listings by length (rows created in the same
//! millisecond may be ordered differently by two stores).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use std::time::Duration;

use dbos_storage_core::{
    AttributeUpdate, AwaitOptions, Caller, CancelOptions, DeleteOptions, ErrorKind, IdReusePolicy,
    InsertOptions, InsertOutcome, ListStepsOptions, ListWorkflowsQuery, NewWorkflow, Notification,
    Outcome, OutgoingMessage, Payload, RecordedStep, RecoveryOutcome, RecoveryRequest,
    ResumeOptions, SendOptions, SortOrder, StepInfo, StepOperation, StepOperationOutcome,
    StepRecord, StreamStepRead, StreamStepRequest, SystemStore, WorkflowInfo, WorkflowResult,
    WorkflowStatus,
};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use proptest_state_machine::ReferenceStateMachine;

use crate::checks::{kind_of, LifecycleStore, WorkflowStore};
use crate::model::MemoryStore;
use crate::normalize::{normalize_step, normalize_workflow, Snapshot};
use crate::runner::{block_in_place, proptest_config};
use crate::Factory;

/// Workflow ids; `%` and `_` make the prefix filter's escaping matter.
const WORKFLOWS: [&str; 4] = ["a_0", "a%1", "ab2", "b_3"];
const NAMES: [&str; 2] = ["f", "g"];
const QUEUES: [&str; 2] = ["q0", "q1"];
const DEDUP_IDS: [&str; 2] = ["d0", "d1"];
const TOKENS: [&str; 3] = ["t0", "t1", "t2"];
const APPS: [Option<&str>; 3] = [None, Some("app0"), Some("app1")];
const STEP_NAMES: [&str; 2] = ["s", "t"];
/// Executors that start workflows (by creator token) and recover them.
const EXECUTORS: [&str; 2] = ["e0", "e1"];
/// Message topics.
const TOPICS: [&str; 2] = ["x", "y"];
const PREFIXES: [&str; 4] = ["a_", "a%", "a", "b"];
const STATUSES: [WorkflowStatus; 4] = [
    WorkflowStatus::Pending,
    WorkflowStatus::Enqueued,
    WorkflowStatus::Success,
    WorkflowStatus::Cancelled,
];
/// The longest generated sequence.
const MAX_OPS: usize = 30;

/// One generated operation. Fields are indexes into the small world's constants.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `insert_workflow`.
    Insert {
        /// Workflow.
        wf: usize,
        /// Function name.
        name: usize,
        /// Creator token.
        creator: usize,
        /// Enqueue (on `queue`) instead of a direct start.
        enqueue: bool,
        /// Queue.
        queue: Option<usize>,
        /// Deduplication id (only with a queue).
        dedup: Option<usize>,
        /// Owning application.
        app: usize,
        /// Parent (always an earlier id, so there are no cycles).
        parent: Option<usize>,
        /// Reuse policy `Reject` instead of `Attach`.
        reject: bool,
    },
    /// `record_outcome`.
    RecordOutcome {
        /// Workflow.
        wf: usize,
        /// Owner token, or no ownership check.
        owner: Option<usize>,
        /// An error instead of an output.
        error: bool,
        /// Distinguishes outcomes.
        value: u8,
    },
    /// `record_step`.
    RecordStep {
        /// Workflow.
        wf: usize,
        /// Position.
        function_id: i32,
        /// Step name.
        name: usize,
        /// Completion time: a time used before at this position (a retry) or a new one.
        completed_at: i64,
        /// Owner token, or no ownership check.
        owner: Option<usize>,
        /// An error instead of an output.
        error: bool,
    },
    /// `check_step`.
    CheckStep {
        /// Workflow.
        wf: usize,
        /// Position.
        function_id: i32,
        /// Step name.
        name: usize,
    },
    /// `list_steps`.
    ListSteps {
        /// Workflow.
        wf: usize,
        /// Load outputs.
        load_output: bool,
    },
    /// `cancel_workflows`.
    Cancel {
        /// Workflows (may include ids never inserted).
        wfs: Vec<usize>,
        /// Cancel descendants too.
        children: bool,
    },
    /// `resume_workflows`.
    Resume {
        /// Workflows (may include ids never inserted).
        wfs: Vec<usize>,
        /// Queue, or the internal one.
        queue: Option<usize>,
    },
    /// `get_workflows`.
    Get {
        /// Workflows, in request order.
        wfs: Vec<usize>,
    },
    /// `list_workflows`.
    List(ListOp),
    /// `workflow_result`.
    Result {
        /// Workflow.
        wf: usize,
    },
    /// `workflow_children`.
    Children {
        /// Workflow.
        wf: usize,
    },
    /// `run_as_step`: an operation called from workflow `wf` at step `function_id`.
    RunAsStep {
        /// Calling workflow.
        wf: usize,
        /// The caller's position.
        function_id: i32,
        /// The caller's owner token, or no ownership check.
        owner: Option<usize>,
        /// The operation.
        operation: StepOp,
    },
    /// `recover_workflow`.
    Recover {
        /// Workflow.
        wf: usize,
        /// The dead executor it is taken from, if named.
        dead_executor: Option<usize>,
        /// The owner token it must still hold, if named.
        expected_owner: Option<usize>,
        /// The new owner token.
        new_owner: usize,
        /// The recovery limit (`None`: never dead-letter).
        max_attempts: Option<i64>,
    },
    /// `return_to_queue`.
    ReturnToQueue {
        /// Workflow.
        wf: usize,
        /// The claim's owner token.
        owner: usize,
    },
    /// `send_messages` with an idempotency key, so that message ids are the same everywhere.
    Send {
        /// Destination.
        to: usize,
        /// Topic, or none.
        topic: Option<usize>,
        /// Idempotency key: a repeated key is a no-op re-send.
        key: usize,
    },
    /// `list_notifications`.
    ListNotifications {
        /// Workflow.
        wf: usize,
    },
    /// `read_stream_step`: workflow `wf` reads `writer`'s stream (nothing ever writes one here,
    /// so the read ends, times out or fails the same way everywhere).
    ReadStreamStep {
        /// Reading workflow.
        wf: usize,
        /// The reader's position.
        function_id: i32,
        /// The reader's owner token, or no ownership check.
        owner: Option<usize>,
        /// The stream's workflow.
        writer: usize,
    },
}

/// The operation of a generated `run_as_step`, on one workflow (so that the recorded id lists
/// have one order everywhere).
#[derive(Debug, Clone)]
pub(crate) enum StepOp {
    /// `cancel_workflows`.
    Cancel {
        /// Target.
        target: usize,
        /// Descendants too.
        children: bool,
    },
    /// `resume_workflows`.
    Resume {
        /// Target.
        target: usize,
        /// Queue, or the internal one.
        queue: Option<usize>,
    },
    /// `delete_workflows`.
    Delete {
        /// Target.
        target: usize,
    },
    /// `set_workflow_delay`.
    SetDelay {
        /// Target.
        target: usize,
    },
    /// `update_workflow_attributes`.
    Attributes {
        /// Target.
        target: usize,
        /// The value of the one attribute set.
        value: u8,
        /// Merge instead of replace.
        merge: bool,
    },
}

/// The filters of a generated `list_workflows`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListOp {
    status: Option<usize>,
    name: Option<usize>,
    queue: Option<usize>,
    prefix: Option<usize>,
    app: Option<usize>,
    has_parent: Option<bool>,
    queues_only: bool,
    limit: Option<u64>,
    descending: bool,
    load: bool,
}

/// What generation needs to know: which workflows were inserted, and the completion times used
/// at each step position.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModelState {
    inserted: [bool; WORKFLOWS.len()],
    step_times: BTreeMap<(usize, i32), i64>,
    next_time: i64,
}

impl ModelState {
    fn known(&self) -> Vec<usize> {
        let known: Vec<usize> = (0..WORKFLOWS.len()).filter(|i| self.inserted[*i]).collect();
        if known.is_empty() {
            (0..WORKFLOWS.len()).collect()
        } else {
            known
        }
    }
}

/// The reference state machine that generates [`Op`] sequences.
#[derive(Debug)]
pub(crate) struct Operations;

fn wf_strategy() -> impl Strategy<Value = usize> {
    0..WORKFLOWS.len()
}

fn some_of(n: usize) -> impl Strategy<Value = Option<usize>> {
    proptest::option::of(0..n)
}

fn insert_strategy() -> impl Strategy<Value = Op> {
    (
        wf_strategy(),
        (
            0..NAMES.len(),
            0..TOKENS.len(),
            any::<bool>(),
            some_of(QUEUES.len()),
        ),
        (
            some_of(DEDUP_IDS.len()),
            0..APPS.len(),
            any::<bool>(),
            any::<bool>(),
        ),
        any::<prop::sample::Index>(),
    )
        .prop_map(
            |(wf, (name, creator, enqueue, queue), (dedup, app, reject, has_parent), pick)| {
                let queue = if enqueue {
                    Some(queue.unwrap_or(0))
                } else {
                    queue
                };
                Op::Insert {
                    wf,
                    name,
                    creator,
                    enqueue,
                    queue,
                    dedup: queue.and(dedup),
                    app,
                    parent: (has_parent && wf > 0).then(|| pick.index(wf)),
                    reject,
                }
            },
        )
}

fn list_strategy() -> impl Strategy<Value = Op> {
    (
        (
            some_of(STATUSES.len()),
            some_of(NAMES.len()),
            some_of(QUEUES.len()),
            some_of(PREFIXES.len()),
            some_of(APPS.len()),
        ),
        (
            proptest::option::of(any::<bool>()),
            any::<bool>(),
            proptest::option::of(0..4u64),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (status, name, queue, prefix, app),
                (has_parent, queues_only, limit, descending, load),
            )| {
                Op::List(ListOp {
                    status,
                    name,
                    queue,
                    prefix,
                    app,
                    has_parent,
                    queues_only,
                    limit,
                    descending,
                    load,
                })
            },
        )
}

fn step_op_strategy() -> impl Strategy<Value = StepOp> {
    prop_oneof![
        (wf_strategy(), any::<bool>())
            .prop_map(|(target, children)| StepOp::Cancel { target, children }),
        (wf_strategy(), some_of(QUEUES.len()))
            .prop_map(|(target, queue)| StepOp::Resume { target, queue }),
        wf_strategy().prop_map(|target| StepOp::Delete { target }),
        wf_strategy().prop_map(|target| StepOp::SetDelay { target }),
        (wf_strategy(), 0..3u8, any::<bool>()).prop_map(|(target, value, merge)| {
            StepOp::Attributes {
                target,
                value,
                merge,
            }
        }),
    ]
}

fn recover_strategy(known: impl Strategy<Value = usize>) -> impl Strategy<Value = Op> {
    (
        known,
        some_of(EXECUTORS.len()),
        some_of(TOKENS.len()),
        0..TOKENS.len(),
        proptest::option::of(0..3i64),
    )
        .prop_map(
            |(wf, dead_executor, expected_owner, new_owner, max_attempts)| Op::Recover {
                wf,
                // A request names the dead executors or the previous owner (or both).
                dead_executor: dead_executor.or(expected_owner.is_none().then_some(0)),
                expected_owner,
                new_owner,
                max_attempts,
            },
        )
}

fn ids_strategy() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(wf_strategy(), 1..=2)
}

impl ReferenceStateMachine for Operations {
    type State = ModelState;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<ModelState> {
        Just(ModelState::default()).boxed()
    }

    fn transitions(state: &ModelState) -> BoxedStrategy<Op> {
        let known = prop::sample::select(state.known());
        let step_times = state.step_times.clone();
        let fresh = state.next_time + 1;
        let record_step = (
            known.clone(),
            1..=4i32,
            0..STEP_NAMES.len(),
            any::<bool>(),
            some_of(TOKENS.len()),
            any::<bool>(),
        )
            .prop_map(move |(wf, function_id, name, retry, owner, error)| {
                let earlier = step_times.get(&(wf, function_id)).copied();
                Op::RecordStep {
                    wf,
                    function_id,
                    name,
                    completed_at: if retry {
                        earlier.unwrap_or(fresh)
                    } else {
                        fresh
                    },
                    owner,
                    error,
                }
            });
        prop_oneof![
            4 => insert_strategy(),
            3 => (known.clone(), some_of(TOKENS.len()), any::<bool>(), any::<u8>())
                .prop_map(|(wf, owner, error, value)| Op::RecordOutcome { wf, owner, error, value }),
            4 => record_step,
            2 => (known.clone(), 1..=4i32, 0..STEP_NAMES.len())
                .prop_map(|(wf, function_id, name)| Op::CheckStep { wf, function_id, name }),
            1 => (known.clone(), any::<bool>())
                .prop_map(|(wf, load_output)| Op::ListSteps { wf, load_output }),
            2 => (ids_strategy(), any::<bool>())
                .prop_map(|(wfs, children)| Op::Cancel { wfs, children }),
            2 => (ids_strategy(), some_of(QUEUES.len()))
                .prop_map(|(wfs, queue)| Op::Resume { wfs, queue }),
            1 => proptest::collection::vec(wf_strategy(), 0..=3).prop_map(|wfs| Op::Get { wfs }),
            2 => list_strategy(),
            1 => known.clone().prop_map(|wf| Op::Result { wf }),
            1 => known.clone().prop_map(|wf| Op::Children { wf }),
            3 => (known.clone(), 1..=4i32, some_of(TOKENS.len()), step_op_strategy())
                .prop_map(|(wf, function_id, owner, operation)| Op::RunAsStep {
                    wf,
                    function_id,
                    owner,
                    operation,
                }),
            2 => recover_strategy(known.clone()),
            2 => (known.clone(), 0..TOKENS.len())
                .prop_map(|(wf, owner)| Op::ReturnToQueue { wf, owner }),
            1 => (wf_strategy(), some_of(TOPICS.len()), 0..3usize)
                .prop_map(|(to, topic, key)| Op::Send { to, topic, key }),
            1 => known.clone().prop_map(|wf| Op::ListNotifications { wf }),
            1 => (known.clone(), 1..=4i32, some_of(TOKENS.len()), wf_strategy())
                .prop_map(|(wf, function_id, owner, writer)| Op::ReadStreamStep {
                    wf,
                    function_id,
                    owner,
                    writer,
                }),
        ]
        .boxed()
    }

    fn apply(mut state: ModelState, op: &Op) -> ModelState {
        state.next_time += 1;
        match op {
            Op::Insert { wf, .. } => state.inserted[*wf] = true,
            Op::RecordStep {
                wf,
                function_id,
                completed_at,
                ..
            } => {
                state
                    .step_times
                    .entry((*wf, *function_id))
                    .or_insert(*completed_at);
                state.next_time = state.next_time.max(*completed_at + 1);
            }
            _ => {}
        }
        state
    }

    fn preconditions(state: &ModelState, op: &Op) -> bool {
        match op {
            // Recording a step of a workflow that was never inserted is not specified.
            Op::RecordStep { wf, .. } => state.inserted[*wf],
            _ => true,
        }
    }
}

/// A result reduced to what the contract fixes.
#[derive(Debug, PartialEq)]
enum Observed {
    Insert(Result<InsertOutcome, ErrorKind>),
    Bool(Result<bool, ErrorKind>),
    Unit(Result<(), ErrorKind>),
    Step(Result<Option<RecordedStep>, ErrorKind>),
    Steps(Result<Vec<StepInfo>, ErrorKind>),
    Ids(Result<Vec<String>, ErrorKind>),
    Rows(Result<Vec<WorkflowInfo>, ErrorKind>),
    Count(Result<usize, ErrorKind>),
    Result(Result<WorkflowResult, ErrorKind>),
    StepOperation(Result<StepOperationOutcome, ErrorKind>),
    Recovery(Result<RecoveryOutcome, ErrorKind>),
    Notifications(Result<Vec<Notification>, ErrorKind>),
    StreamRead(Result<StreamStepRead, ErrorKind>),
    /// The operation is not specified in this state and was not run.
    Skipped,
}

fn names(list: &[usize]) -> Vec<String> {
    list.iter().map(|i| WORKFLOWS[*i].to_owned()).collect()
}

fn sorted_ids(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// An error, or an output of `n` (a void return for every fourth `n`).
fn outcome(error: bool, n: i64) -> Outcome {
    let payload = Payload::portable_json(n.to_string());
    if error {
        Outcome::Error(payload)
    } else if n % 4 == 0 {
        Outcome::Void
    } else {
        Outcome::Output(payload)
    }
}

fn query(list: &ListOp) -> ListWorkflowsQuery {
    let mut q = ListWorkflowsQuery::new()
        .queues_only(list.queues_only)
        .load_input(list.load)
        .load_output(list.load);
    if let Some(s) = list.status {
        q = q.status(vec![STATUSES[s].clone()]);
    }
    if let Some(n) = list.name {
        q = q.name([NAMES[n]]);
    }
    if let Some(queue) = list.queue {
        q = q.queue_name([QUEUES[queue]]);
    }
    if let Some(p) = list.prefix {
        q = q.workflow_id_prefix(PREFIXES[p]);
    }
    if let Some(app) = list.app.and_then(|a| APPS[a]) {
        q = q.application_name(app);
    }
    if let Some(p) = list.has_parent {
        q = q.has_parent(p);
    }
    if let Some(l) = list.limit {
        q = q.limit(l);
    }
    if list.descending {
        q = q.sort(SortOrder::Descending);
    }
    q
}

/// Runs `op` on `store`, unless the contract does not specify it in the current state.
async fn run_op<S: SystemStore + ?Sized>(store: &S, op: &Op, specified: bool) -> Observed {
    if !specified {
        return Observed::Skipped;
    }
    match op {
        Op::Insert {
            wf,
            name,
            creator,
            enqueue,
            queue,
            dedup,
            app,
            parent,
            reject,
        } => {
            let mut new = NewWorkflow::new(
                WORKFLOWS[*wf],
                NAMES[*name],
                Payload::portable_json(format!("[{wf}]")),
            )
            .with_creator_xid(TOKENS[*creator])
            .with_executor(EXECUTORS[*creator % EXECUTORS.len()]);
            match (enqueue, queue) {
                (true, Some(q)) => new = new.enqueued(QUEUES[*q]),
                (_, q) => new.queue_name = q.map(|q| QUEUES[q].to_owned()),
            }
            new.deduplication_id = dedup.map(|d| DEDUP_IDS[d].to_owned());
            new.application_name = APPS[*app].map(str::to_owned);
            new.parent_workflow_id = parent.map(|p| WORKFLOWS[p].to_owned());
            let policy = if *reject {
                IdReusePolicy::Reject
            } else {
                IdReusePolicy::Attach
            };
            let options = InsertOptions::default().reuse_policy(policy);
            Observed::Insert(kind_of(store.insert_workflow(new, options).await))
        }
        Op::RecordOutcome {
            wf,
            owner,
            error,
            value,
        } => Observed::Bool(kind_of(
            store
                .record_outcome(
                    WORKFLOWS[*wf],
                    outcome(*error, i64::from(*value)),
                    owner.map(|o| TOKENS[o]),
                )
                .await,
        )),
        Op::RecordStep {
            wf,
            function_id,
            name,
            completed_at,
            owner,
            error,
        } => {
            let step = StepRecord::with_outcome(
                WORKFLOWS[*wf],
                *function_id,
                STEP_NAMES[*name],
                Some(outcome(*error, *completed_at)),
            )
            .with_times(Some(*completed_at), *completed_at);
            Observed::Unit(kind_of(
                store.record_step(step, owner.map(|o| TOKENS[o])).await,
            ))
        }
        Op::CheckStep {
            wf,
            function_id,
            name,
        } => Observed::Step(kind_of(
            store
                .check_step(WORKFLOWS[*wf], *function_id, STEP_NAMES[*name])
                .await,
        )),
        Op::ListSteps { wf, load_output } => Observed::Steps(kind_of(
            store
                .list_steps(
                    WORKFLOWS[*wf],
                    ListStepsOptions::default().load_output(*load_output),
                )
                .await
                .map(|steps| steps.into_iter().map(normalize_step).collect()),
        )),
        Op::Cancel { wfs, children } => Observed::Ids(kind_of(
            store
                .cancel_workflows(
                    &names(wfs),
                    CancelOptions::default().cancel_children(*children),
                )
                .await
                .map(sorted_ids),
        )),
        Op::Resume { wfs, queue } => {
            let mut options = ResumeOptions::default();
            if let Some(q) = queue {
                options = options.queue_name(QUEUES[*q]);
            }
            Observed::Ids(kind_of(
                store
                    .resume_workflows(&names(wfs), options)
                    .await
                    .map(sorted_ids),
            ))
        }
        Op::Get { wfs } => Observed::Rows(kind_of(
            store
                .get_workflows(&names(wfs))
                .await
                .map(|rows| rows.into_iter().map(normalize_workflow).collect()),
        )),
        Op::List(list) => {
            let rows = store.list_workflows(query(list)).await;
            if list.limit.is_some() {
                Observed::Count(kind_of(rows.map(|r| r.len())))
            } else {
                Observed::Rows(kind_of(rows.map(|rows| {
                    let mut rows: Vec<WorkflowInfo> =
                        rows.into_iter().map(normalize_workflow).collect();
                    rows.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
                    rows
                })))
            }
        }
        Op::Result { wf } => Observed::Result(kind_of(store.workflow_result(WORKFLOWS[*wf]).await)),
        Op::Children { wf } => Observed::Ids(kind_of(
            store
                .workflow_children(WORKFLOWS[*wf])
                .await
                .map(sorted_ids),
        )),
        Op::RunAsStep {
            wf,
            function_id,
            owner,
            operation,
        } => {
            let caller = with_owner(Caller::workflow(WORKFLOWS[*wf], *function_id), *owner);
            Observed::StepOperation(kind_of(
                store
                    .run_as_step(caller, step_operation(operation))
                    .await
                    .map(normalize_step_operation),
            ))
        }
        Op::Recover {
            wf,
            dead_executor,
            expected_owner,
            new_owner,
            max_attempts,
        } => {
            let mut request = RecoveryRequest::from_dead_executors(
                WORKFLOWS[*wf],
                dead_executor
                    .map(|e| vec![EXECUTORS[e].to_owned()])
                    .unwrap_or_default(),
                "recoverer",
            );
            request.expected_owner_xid = expected_owner.map(|o| TOKENS[o].to_owned());
            request.owner_xid = TOKENS[*new_owner].to_owned();
            request.max_recovery_attempts = *max_attempts;
            Observed::Recovery(kind_of(store.recover_workflow(request).await))
        }
        Op::ReturnToQueue { wf, owner } => Observed::Bool(kind_of(
            store.return_to_queue(WORKFLOWS[*wf], TOKENS[*owner]).await,
        )),
        Op::Send { to, topic, key } => {
            let message = OutgoingMessage::new(
                WORKFLOWS[*to],
                topic.map(|t| TOPICS[t]),
                Payload::portable_json(format!("{key}")),
            )
            .with_idempotency_key(format!("k{key}"));
            Observed::Unit(kind_of(
                store
                    .send_messages(vec![message], None, SendOptions::default())
                    .await
                    .map(|_| ()),
            ))
        }
        Op::ListNotifications { wf } => Observed::Notifications(kind_of(
            store
                .list_notifications(WORKFLOWS[*wf])
                .await
                .map(normalize_notifications),
        )),
        Op::ReadStreamStep {
            wf,
            function_id,
            owner,
            writer,
        } => {
            let caller = with_owner(Caller::workflow(WORKFLOWS[*wf], *function_id), *owner);
            let request = StreamStepRequest::new(caller, WORKFLOWS[*writer], "stream", 0);
            // Nothing writes a stream here: an active writer times out at once.
            let wait = AwaitOptions::default()
                .poll_interval(Duration::from_millis(1))
                .timeout(Duration::from_millis(1));
            Observed::StreamRead(kind_of(store.read_stream_step(request, wait).await))
        }
    }
}

fn with_owner(caller: Caller, owner: Option<usize>) -> Caller {
    match owner {
        Some(o) => caller.with_owner(TOKENS[o]),
        None => caller,
    }
}

/// The contract's operation for a generated one.
fn step_operation(op: &StepOp) -> StepOperation {
    let one = |target: &usize| vec![WORKFLOWS[*target].to_owned()];
    match op {
        StepOp::Cancel { target, children } => StepOperation::CancelWorkflows {
            workflow_ids: one(target),
            options: CancelOptions::default().cancel_children(*children),
        },
        StepOp::Resume { target, queue } => {
            let mut options = ResumeOptions::default();
            if let Some(q) = queue {
                options = options.queue_name(QUEUES[*q]);
            }
            StepOperation::ResumeWorkflows {
                workflow_ids: one(target),
                options,
            }
        }
        StepOp::Delete { target } => StepOperation::DeleteWorkflows {
            workflow_ids: one(target),
            options: DeleteOptions::default(),
        },
        StepOp::SetDelay { target } => StepOperation::SetWorkflowDelay {
            workflow_id: WORKFLOWS[*target].to_owned(),
            until_epoch_ms: 1_000,
        },
        StepOp::Attributes {
            target,
            value,
            merge,
        } => {
            let mut attributes = serde_json::Map::new();
            attributes.insert(format!("k{value}"), serde_json::Value::from(*value));
            StepOperation::UpdateWorkflowAttributes {
                workflow_id: WORKFLOWS[*target].to_owned(),
                attributes,
                mode: if *merge {
                    AttributeUpdate::Merge
                } else {
                    AttributeUpdate::Replace
                },
            }
        }
    }
}

/// An operation's result with its id lists sorted.
fn normalize_step_operation(outcome: StepOperationOutcome) -> StepOperationOutcome {
    match outcome {
        StepOperationOutcome::Cancelled(ids) => StepOperationOutcome::Cancelled(sorted_ids(ids)),
        StepOperationOutcome::Resumed(ids) => StepOperationOutcome::Resumed(sorted_ids(ids)),
        StepOperationOutcome::Deleted(ids) => StepOperationOutcome::Deleted(sorted_ids(ids)),
        other => other,
    }
}

/// Notifications without their send times, by id (sends in one millisecond have no order).
fn normalize_notifications(mut listed: Vec<Notification>) -> Vec<Notification> {
    for n in &mut listed {
        n.created_at_epoch_ms = 0;
    }
    listed.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    listed
}

/// Whether the contract specifies `op` in the reference's current state.
async fn is_specified(reference: &MemoryStore, op: &Op) -> bool {
    match op {
        // A step of a workflow that does not exist (its insert was deduplicated or refused).
        Op::RecordStep { wf, .. } => !reference
            .get_workflows(&[WORKFLOWS[*wf].to_owned()])
            .await
            .unwrap_or_default()
            .is_empty(),
        _ => true,
    }
}

async fn run_case<F: Factory>(
    factory: &F,
    ops: &[Op],
    seen: Option<&AtomicUsize>,
) -> Result<(), TestCaseError> {
    let store = factory.create().await;
    let reference = MemoryStore::migrated();
    let mut verdict = Ok(());
    for (i, op) in ops.iter().enumerate() {
        let specified = is_specified(&reference, op).await;
        let want = run_op(&reference, op, specified).await;
        let got = run_op(&store, op, specified).await;
        if let Some(seen) = seen {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        if got != want {
            verdict = Err(TestCaseError::fail(format!(
                "operation #{i} {op:?}:\n  the {} store gave {got:?}\n  the reference gave \
                 {want:?}",
                store.backend()
            )));
            break;
        }
    }
    if verdict.is_ok() {
        let all = names(&(0..WORKFLOWS.len()).collect::<Vec<_>>());
        let got = Snapshot::take(&store, &all).await;
        let want = Snapshot::take(&reference, &all).await;
        if got != want {
            verdict = Err(TestCaseError::fail(format!(
                "after every operation, the {} store's state differs from the reference:\n  \
                 store:     {got:?}\n  reference: {want:?}",
                store.backend()
            )));
        }
    }
    factory.destroy(store).await;
    verdict
}

/// Random sequences of inserts, outcomes, step records and checks, cancels, resumes, reads and
/// listings give the same results on the store as on the reference [`MemoryStore`], and leave
/// the same state.
pub async fn matches_reference_model<F: Factory>(factory: &F) {
    let strategy = Operations::sequential_strategy(1..=MAX_OPS);
    let outcome = block_in_place(|rt| {
        let mut runner = TestRunner::new(proptest_config());
        runner.run(
            &strategy,
            |(_, ops, seen): (_, Vec<Op>, Option<Arc<AtomicUsize>>)| {
                rt.block_on(run_case(factory, &ops, seen.as_deref()))
            },
        )
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, (_, ops, _))) => panic!(
            "the store disagrees with the reference model.\n{reason}\nminimal sequence \
             ({} operations): {ops:#?}",
            ops.len()
        ),
        Err(TestError::Abort(reason)) => panic!("the model-based property aborted: {reason}"),
    }
}
