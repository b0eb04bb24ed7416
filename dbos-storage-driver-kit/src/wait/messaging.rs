//! The waits of messages, events and streams, written once for every backend: replay check,
//! registration before the first look, durable timeout, polling under the [`PollGate`], wake-ups
//! from the [`WaitRegistry`], and the final recorded step.
//!
//! A backend provides the reads ([`MessageWaits`], [`EventWaits`]) and calls these functions
//! from its [`dbos_storage_core::MessageStore`], [`dbos_storage_core::EventStore`] and [`dbos_storage_core::StreamStore`] methods.

use async_trait::async_trait;

use super::poll_until;
use super::registry::{PollGate, WaitRegistry, WakeChannel};
use dbos_storage_core::{
    events::GET_EVENT_STEP,
    messages::{stored_topic, wake_key, RECV_STEP},
    now_epoch_ms, AwaitOptions, Caller, Error, ErrorKind, GetEventRequest, Outcome, Payload,
    RecordedStep, RecvRequest, Result, StepRecord, StepStore, StreamRead, StreamReadOptions,
    StreamStore,
};

/// What a wait needs from its store besides the store itself: its name for errors, its
/// waiters, and the gate of its polling reads.
#[derive(Debug, Clone, Copy)]
pub struct WaitContext<'a> {
    /// The backend name errors carry.
    pub backend: &'static str,
    /// The store's waiters.
    pub registry: &'a WaitRegistry,
    /// The gate of polling reads; `None` for a store without a pool.
    pub gate: Option<&'a PollGate>,
}

impl<'a> WaitContext<'a> {
    /// A context for `backend` with its registry and gate.
    pub fn new(
        backend: &'static str,
        registry: &'a WaitRegistry,
        gate: Option<&'a PollGate>,
    ) -> Self {
        WaitContext {
            backend,
            registry,
            gate,
        }
    }

    pub(crate) async fn gated<T>(
        &self,
        read: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match self.gate {
            Some(gate) => gate.run(read).await,
            None => read.await,
        }
    }
}

/// The reads a backend provides for [`recv`].
#[async_trait]
pub trait MessageWaits: StepStore {
    /// Whether `workflow_id` has an unconsumed message on `topic` (the stored topic, never
    /// `None`). A cheap polling read.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn message_waiting(&self, workflow_id: &str, topic: &str) -> Result<bool>;

    /// In one transaction: if the caller's recv step is recorded, returns its value; otherwise
    /// marks the oldest unconsumed message on `topic` consumed by the caller's step and records
    /// step `DBOS.recv` with it (or with no outcome when there is none), checking ownership.
    ///
    /// # Errors
    /// As [`StepStore::record_step`].
    async fn consume_message(&self, caller: &Caller, topic: &str) -> Result<Option<Payload>>;
}

/// The read a backend provides for [`get_event`].
#[async_trait]
pub trait EventWaits: StepStore {
    /// The current value of event `key` of `workflow_id`, if set. A cheap polling read.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn read_event(&self, workflow_id: &str, key: &str) -> Result<Option<Payload>>;
}

/// [`dbos_storage_core::MessageStore::recv`] on top of `store`'s reads.
///
/// # Errors
/// As [`dbos_storage_core::MessageStore::recv`].
pub async fn recv<S: MessageWaits + ?Sized>(
    store: &S,
    context: WaitContext<'_>,
    request: RecvRequest,
    options: &AwaitOptions,
) -> Result<Option<Payload>> {
    request.validate()?;
    let caller = &request.caller;
    let topic = stored_topic(request.topic.as_deref()).to_owned();
    if let Some(recorded) = store
        .check_step(&caller.workflow_id, caller.function_id, RECV_STEP)
        .await?
    {
        return recorded_value(recorded, RECV_STEP, caller);
    }
    let waiter = context.registry.register(
        WakeChannel::Notifications,
        wake_key(&caller.workflow_id, &topic),
    );
    let timeout_step = caller
        .timeout_function_id
        .expect("validated: recv has a timeout step");
    let sleep = store
        .record_sleep(
            &caller.workflow_id,
            timeout_step,
            request.timeout,
            caller.owner_xid.as_deref(),
        )
        .await?;
    let what = format!(
        "a message for workflow {} on topic {topic}",
        caller.workflow_id
    );
    let wait = options.clone().timeout(sleep.remaining);
    let arrived = poll_until(&what, &wait, Some(waiter.signal()), || async {
        let waiting = context
            .gated(store.message_waiting(&caller.workflow_id, &topic))
            .await?;
        Ok(waiting.then_some(()))
    })
    .await;
    drop(waiter);
    match arrived {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Timeout => {}
        Err(e) => return Err(e.with_backend(context.backend)),
    }
    store.consume_message(caller, &topic).await
}

/// [`dbos_storage_core::EventStore::get_event`] on top of `store`'s reads.
///
/// # Errors
/// As [`dbos_storage_core::EventStore::get_event`].
pub async fn get_event<S: EventWaits + ?Sized>(
    store: &S,
    context: WaitContext<'_>,
    request: GetEventRequest,
    options: &AwaitOptions,
) -> Result<Option<Payload>> {
    request.validate()?;
    let caller = request.caller.as_ref();
    if let Some(caller) = caller {
        if let Some(recorded) = store
            .check_step(&caller.workflow_id, caller.function_id, GET_EVENT_STEP)
            .await?
        {
            return recorded_value(recorded, GET_EVENT_STEP, caller);
        }
    }
    let waiter = context.registry.register(
        WakeChannel::Events,
        wake_key(&request.target_workflow_id, &request.key),
    );
    let mut value = store
        .read_event(&request.target_workflow_id, &request.key)
        .await?;
    if value.is_none() {
        let remaining = match caller {
            Some(caller) => {
                let timeout_step = caller
                    .timeout_function_id
                    .expect("validated: get_event from a workflow has a timeout step");
                store
                    .record_sleep(
                        &caller.workflow_id,
                        timeout_step,
                        request.timeout,
                        caller.owner_xid.as_deref(),
                    )
                    .await?
                    .remaining
            }
            None => request.timeout,
        };
        let what = format!(
            "event {} of workflow {}",
            request.key, request.target_workflow_id
        );
        let wait = options.clone().timeout(remaining);
        value = match poll_until(&what, &wait, Some(waiter.signal()), || {
            context.gated(store.read_event(&request.target_workflow_id, &request.key))
        })
        .await
        {
            Ok(found) => Some(found),
            Err(e) if e.kind() == ErrorKind::Timeout => None,
            Err(e) => return Err(e.with_backend(context.backend)),
        };
    }
    drop(waiter);
    match caller {
        Some(caller) => record_read(store, caller, GET_EVENT_STEP, value).await,
        None => Ok(value),
    }
}

/// [`dbos_storage_core::StreamStore::await_stream`] on top of `store`'s
/// [`read_stream`](dbos_storage_core::StreamStore::read_stream).
///
/// # Errors
/// As [`dbos_storage_core::StreamStore::await_stream`].
pub async fn await_stream<S: StreamStore + ?Sized>(
    store: &S,
    context: WaitContext<'_>,
    workflow_id: &str,
    key: &str,
    options: StreamReadOptions,
    wait: &AwaitOptions,
) -> Result<StreamRead> {
    dbos_storage_core::validate::workflow_id(workflow_id)?;
    dbos_storage_core::messages::validate_key("stream key", key)?;
    options.validate()?;
    let waiter = context
        .registry
        .register(WakeChannel::Streams, wake_key(workflow_id, key));
    let what = format!(
        "stream {key} of workflow {workflow_id} past offset {}",
        options.from_offset
    );
    poll_until(&what, wait, Some(waiter.signal()), || async {
        let read = context
            .gated(store.read_stream(workflow_id, key, options))
            .await?;
        Ok(read.is_settled().then_some(read))
    })
    .await
    .map_err(|e| e.with_backend(context.backend))
}

/// Records the value a wait found (or `None` for a timeout) as `step_name` of the caller's
/// workflow. A rival that recorded first wins: its value is returned.
async fn record_read<S: StepStore + ?Sized>(
    store: &S,
    caller: &Caller,
    step_name: &str,
    value: Option<Payload>,
) -> Result<Option<Payload>> {
    let now = now_epoch_ms();
    let record = StepRecord::with_outcome(
        caller.workflow_id.clone(),
        caller.function_id,
        step_name,
        value.clone().map(Outcome::Output),
    )
    .with_times(Some(now), now);
    match store.record_step(record, caller.owner_xid.as_deref()).await {
        Ok(()) => Ok(value),
        Err(e) if e.kind() == ErrorKind::StepConflict => {
            match store
                .check_step(&caller.workflow_id, caller.function_id, step_name)
                .await?
            {
                Some(recorded) => recorded_value(recorded, step_name, caller),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The value a recorded wait step holds: its output, or `None` for a recorded timeout.
///
/// # Errors
/// [`ErrorKind::Corrupt`] if the step holds an error, which no wait records.
pub fn recorded_value(
    recorded: RecordedStep,
    step_name: &str,
    caller: &Caller,
) -> Result<Option<Payload>> {
    match recorded.outcome {
        None | Some(Outcome::Void) => Ok(None),
        Some(Outcome::Output(value)) => Ok(Some(value)),
        Some(Outcome::Error(_)) => Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "step {} of workflow {} ({step_name}) holds an error, which a wait never records",
                caller.function_id, caller.workflow_id
            ),
        )),
    }
}

/// Used by backends that wake their own waiters after a commit: wakes `key` of `workflow_id`
/// on `channel`.
pub fn wake_after_commit(
    registry: &WaitRegistry,
    channel: WakeChannel,
    workflow_id: &str,
    topic_or_key: &str,
) {
    registry.wake(channel, &wake_key(workflow_id, topic_or_key));
}
