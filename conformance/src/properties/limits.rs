//! Input at the limits every backend keeps (see `dbos_storage_core::validate`): text up to
//! each documented limit is stored and read back whatever its content, one byte more is
//! [`ErrorKind::InvalidInput`] naming the field, and a NUL byte in any text argument, read or
//! write, is `InvalidInput` too. The same input gets the same answer on every backend: no
//! backend stores what another refuses, and none lets the database's own error through.
//!
//! The texts are random letters and digits, which do not compress: PostgreSQL stores them in
//! its index entries as they are, the worst case for its 2,704-byte entry limit.

use dbos_storage_core::validate::{
    MAX_CLASS_NAME_BYTES, MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_PARTITION_KEY_BYTES,
    MAX_WORKFLOW_ID_BYTES,
};
use dbos_storage_core::{
    AwaitOptions, Caller, ClaimRequest, DebounceOutcome, DebounceRequest, ErrorKind, InsertOptions,
    ListWorkflowsQuery, NewWorkflow, OutgoingMessage, Payload, RecoveryRequest, ScheduleFilter,
    SendOptions, Serialization, StepRecord, StreamReadOptions, StreamStepOutcome,
    StreamStepRequest, SystemStore,
};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

use crate::checks::*;
use crate::runner::{block_in_place, proptest_config};
use crate::Factory;

/// Random letters and digits, `len` bytes.
fn incompressible(len: usize) -> impl Strategy<Value = String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    proptest::collection::vec(prop::sample::select(ALPHABET), len)
        .prop_map(|bytes| String::from_utf8(bytes).expect("ASCII"))
}

/// One text per limited field, each exactly at its limit.
#[derive(Debug, Clone)]
struct AtTheLimit {
    workflow_id: String,
    queue: String,
    partition_key: String,
    application: String,
    deduplication_id: String,
    step_name: String,
    topic: String,
    idempotency_key: String,
    event_key: String,
    stream_key: String,
    schedule_name: String,
    debounce_class: String,
    debounce_config: String,
}

fn at_the_limit() -> impl Strategy<Value = AtTheLimit> {
    (
        incompressible(MAX_WORKFLOW_ID_BYTES),
        incompressible(MAX_NAME_BYTES),
        incompressible(MAX_PARTITION_KEY_BYTES),
        incompressible(MAX_NAME_BYTES),
        incompressible(MAX_KEY_BYTES),
        incompressible(MAX_NAME_BYTES),
        incompressible(MAX_KEY_BYTES),
        incompressible(MAX_KEY_BYTES),
        incompressible(MAX_KEY_BYTES),
        (
            incompressible(MAX_KEY_BYTES),
            incompressible(MAX_NAME_BYTES),
            incompressible(MAX_CLASS_NAME_BYTES),
            incompressible(MAX_CLASS_NAME_BYTES),
        ),
    )
        .prop_map(
            |(
                workflow_id,
                queue,
                partition_key,
                application,
                deduplication_id,
                step_name,
                topic,
                idempotency_key,
                event_key,
                (stream_key, schedule_name, debounce_class, debounce_config),
            )| AtTheLimit {
                workflow_id,
                queue,
                partition_key,
                application,
                deduplication_id,
                step_name,
                topic,
                idempotency_key,
                event_key,
                stream_key,
                schedule_name,
                debounce_class,
                debounce_config,
            },
        )
}

impl AtTheLimit {
    /// Makes every text unique to case `n` (its first characters spell the case number), so
    /// that cases, and proptest's shrunk versions of them, never meet in one store.
    fn for_case(mut self, n: u64) -> Self {
        let tag = format!("c{n:07}");
        for text in [
            &mut self.workflow_id,
            &mut self.queue,
            &mut self.partition_key,
            &mut self.application,
            &mut self.deduplication_id,
            &mut self.step_name,
            &mut self.topic,
            &mut self.idempotency_key,
            &mut self.event_key,
            &mut self.stream_key,
            &mut self.schedule_name,
            &mut self.debounce_class,
            &mut self.debounce_config,
        ] {
            text.replace_range(..tag.len(), &tag);
        }
        self
    }
}

fn fail(what: &str) -> impl FnOnce(dbos_storage_core::Error) -> TestCaseError + '_ {
    move |e| TestCaseError::fail(format!("{what}: {e}"))
}

/// The queued workflow of `t`: every limited column of `workflow_status` at its limit.
fn queued(t: &AtTheLimit) -> NewWorkflow {
    let mut wf = NewWorkflow::new(&t.workflow_id, "wf_fn", inputs())
        .enqueued(&t.queue)
        .with_deduplication_id(&t.deduplication_id)
        .with_application_name(&t.application)
        .with_schedule_name(&t.schedule_name)
        .with_creator_xid("creator");
    wf.queue_partition_key = Some(t.partition_key.clone());
    wf
}

/// The debounced workflow of `t`, a method of the longest class and config names, and the
/// debounce request that extends it.
fn debounced(t: &AtTheLimit) -> (NewWorkflow, DebounceRequest) {
    let id = format!("{}-debounced", &t.workflow_id[..MAX_WORKFLOW_ID_BYTES - 10]);
    let until = dbos_storage_core::now_epoch_ms() + 3_600_000;
    // The deduplication id is `"wf_fn-{key}"`: one byte short of its limit.
    let key = &t.deduplication_id[..MAX_KEY_BYTES - 7];
    let wf = NewWorkflow::new(id, "wf_fn", inputs())
        .debounced(&t.queue, key, until, None)
        .with_class(
            Some(t.debounce_class.clone()),
            Some(t.debounce_config.clone()),
        );
    let mut request = DebounceRequest::new("wf_fn", &t.queue, key, until, inputs());
    request.class_name = Some(t.debounce_class.clone());
    request.config_name = Some(t.debounce_config.clone());
    (wf, request)
}

/// Writes and reads every limited field at its limit; all of it must succeed and read back.
async fn store_at_the_limit<S: SystemStore + ?Sized>(
    store: &S,
    t: &AtTheLimit,
) -> Result<(), TestCaseError> {
    let id = t.workflow_id.as_str();
    store
        .insert_workflow(queued(t), InsertOptions::default())
        .await
        .map_err(fail("enqueue with every column at its limit"))?;
    let holder = store
        .deduplicated_workflow(&t.queue, &t.deduplication_id)
        .await
        .map_err(fail("deduplicated_workflow"))?;
    prop_assert_eq!(holder.as_deref(), Some(id));
    let partitions = store
        .queue_partitions(&t.queue, Some(&t.application))
        .await
        .map_err(fail("queue_partitions"))?;
    prop_assert_eq!(partitions, vec![t.partition_key.clone()]);
    let claim = ClaimRequest::new(&t.queue, "executor", "v1")
        .partition(&t.partition_key)
        .application_name(&t.application);
    let owner = claim.owner_xid.clone();
    let claimed = store
        .claim_workflows(claim)
        .await
        .map_err(fail("claim in the partition"))?;
    prop_assert_eq!(claimed.claimed, vec![t.workflow_id.clone()]);

    let step = StepRecord::output(id, 1, &t.step_name, Payload::portable_json("1"));
    store
        .record_step(step, Some(&owner))
        .await
        .map_err(fail("record a step with the longest name"))?;
    let caller = |function_id| Caller::workflow(id, function_id).with_owner(&owner);
    let message = OutgoingMessage::new(id, Some(&t.topic), Payload::portable_json("\"m\""))
        .with_idempotency_key(&t.idempotency_key);
    store
        .send_messages(vec![message], Some(caller(2)), SendOptions::default())
        .await
        .map_err(fail("send with the longest topic and idempotency key"))?;
    store
        .set_event(caller(3), &t.event_key, Payload::portable_json("true"))
        .await
        .map_err(fail("set_event with the longest key"))?;
    store
        .write_stream(caller(4), &t.stream_key, Payload::portable_json("1"))
        .await
        .map_err(fail("write_stream with the longest key"))?;

    let events = store
        .get_all_events(id)
        .await
        .map_err(fail("get_all_events"))?;
    prop_assert!(events.contains_key(&t.event_key), "the event is stored");
    let read = store
        .read_stream(id, &t.stream_key, StreamReadOptions::default())
        .await
        .map_err(fail("read_stream"))?;
    prop_assert_eq!(read.values.len(), 1);
    let steps = store
        .list_steps(id, Default::default())
        .await
        .map_err(fail("list_steps"))?;
    prop_assert!(steps.iter().any(|s| s.function_name == t.step_name));

    let scheduled = store
        .list_workflows(ListWorkflowsQuery::new().schedule_names([&t.schedule_name]))
        .await
        .map_err(fail("list by the longest schedule name"))?;
    prop_assert_eq!(scheduled.len(), 1);
    let read = store
        .read_stream_step(
            StreamStepRequest::new(caller(5), id, &t.stream_key, 0),
            AwaitOptions::default(),
        )
        .await
        .map_err(fail("read_stream_step with the longest key"))?;
    prop_assert_eq!(
        read.outcome,
        StreamStepOutcome::Value(Payload::portable_json("1"))
    );
    let (wf, request) = debounced(t);
    let debounced_id = wf.workflow_id.clone();
    store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .map_err(fail(
            "insert a debounced method of the longest class and config",
        ))?;
    let bounced = store
        .debounce_workflow(request)
        .await
        .map_err(fail("debounce with the longest class and config"))?;
    prop_assert_eq!(
        bounced,
        DebounceOutcome::Extended {
            workflow_id: debounced_id
        }
    );
    Ok(())
}

/// One byte past `text`'s limit.
fn longer(text: &str) -> String {
    format!("{text}x")
}

/// Every limited field one byte past its limit is refused with `InvalidInput` naming it, and
/// nothing is written.
async fn refuse_past_the_limit<S: SystemStore + ?Sized>(
    store: &S,
    t: &AtTheLimit,
) -> Result<(), TestCaseError> {
    let id = &t.workflow_id;
    let mut cases: Vec<(&str, NewWorkflow)> = Vec::new();
    let over = |f: &dyn Fn(&mut AtTheLimit)| {
        let mut t = t.clone();
        t.workflow_id = format!("{}-over", &t.workflow_id[..MAX_WORKFLOW_ID_BYTES - 5]);
        f(&mut t);
        queued(&t)
    };
    cases.push((
        "workflow id",
        over(&|t| t.workflow_id = longer(&t.workflow_id)),
    ));
    cases.push(("queue name", over(&|t| t.queue = longer(&t.queue))));
    cases.push((
        "partition key",
        over(&|t| t.partition_key = longer(&t.partition_key)),
    ));
    cases.push((
        "application name",
        over(&|t| t.application = longer(&t.application)),
    ));
    cases.push((
        "deduplication id",
        over(&|t| t.deduplication_id = longer(&t.deduplication_id)),
    ));
    cases.push((
        "schedule name",
        over(&|t| t.schedule_name = longer(&t.schedule_name)),
    ));
    for (field, wf) in cases {
        expect_invalid(
            store.insert_workflow(wf, InsertOptions::default()).await,
            field,
        )?;
    }
    let owner = Some("nobody");
    let step = StepRecord::output(id, 9, longer(&t.step_name), Payload::portable_json("1"));
    expect_invalid(store.record_step(step, owner).await, "step name")?;
    let caller = || Caller::workflow(id, 9);
    let message = OutgoingMessage::new(id, Some(longer(&t.topic)), Payload::portable_json("1"));
    expect_invalid(
        store
            .send_messages(vec![message], None, SendOptions::default())
            .await,
        "message topic",
    )?;
    let message = OutgoingMessage::new(id, None::<String>, Payload::portable_json("1"))
        .with_idempotency_key(longer(&t.idempotency_key));
    expect_invalid(
        store
            .send_messages(vec![message], None, SendOptions::default())
            .await,
        "idempotency key",
    )?;
    expect_invalid(
        store
            .set_event(caller(), &longer(&t.event_key), Payload::portable_json("1"))
            .await,
        "event key",
    )?;
    expect_invalid(
        store
            .write_stream(
                caller(),
                &longer(&t.stream_key),
                Payload::portable_json("1"),
            )
            .await,
        "stream key",
    )?;
    let read = StreamStepRequest::new(caller(), id, longer(&t.stream_key), 0);
    expect_invalid(
        store.read_stream_step(read, AwaitOptions::default()).await,
        "stream key",
    )?;
    for (field, class, config) in [
        (
            "class name",
            longer(&t.debounce_class),
            t.debounce_config.clone(),
        ),
        (
            "config name",
            t.debounce_class.clone(),
            longer(&t.debounce_config),
        ),
    ] {
        let (wf, _) = debounced(t);
        let wf = wf.with_class(Some(class), Some(config));
        expect_invalid(
            store.insert_workflow(wf, InsertOptions::default()).await,
            field,
        )?;
    }
    let (_, mut request) = debounced(t);
    request.class_name = Some(longer(&t.debounce_class));
    expect_invalid(
        store.debounce_workflow(request).await,
        "debounced class name",
    )?;
    let (_, mut request) = debounced(t);
    request.config_name = Some(longer(&t.debounce_config));
    expect_invalid(
        store.debounce_workflow(request).await,
        "debounced config name",
    )?;
    let partitioned =
        ClaimRequest::new(&t.queue, "executor", "v1").partition(longer(&t.partition_key));
    expect_invalid(store.claim_workflows(partitioned).await, "partition key")?;
    let over_ids = store
        .list_workflows(ListWorkflowsQuery::new().workflow_id_prefix(format!(
            "{}-over",
            &t.workflow_id[..MAX_WORKFLOW_ID_BYTES - 5]
        )))
        .await
        .map_err(fail("list the refused ids"))?;
    prop_assert!(over_ids.is_empty(), "a refused insert wrote {over_ids:?}");
    Ok(())
}

fn expect_invalid<T: std::fmt::Debug>(
    result: dbos_storage_core::Result<T>,
    field: &str,
) -> Result<(), TestCaseError> {
    match result {
        Err(e) if e.kind() == ErrorKind::InvalidInput && e.message().contains(field) => Ok(()),
        other => Err(TestCaseError::fail(format!(
            "one byte past the {field} limit: expected InvalidInput naming {field:?}, got {other:?}"
        ))),
    }
}

/// Text at each documented limit — workflow id, queue, application, step and schedule names,
/// partition key, deduplication id, topic, idempotency key, event and stream keys (a
/// checkpointed stream read's too), a debounce's class and config names, all at once and all
/// incompressible — is enqueued, claimed, recorded, sent, debounced and read back on every
/// backend; one byte past any of them is `InvalidInput` naming the field, and writes nothing.
/// (A recovery request's executor ids and tokens have no limit below the payload size; their
/// NUL check is below.)
pub async fn texts_at_their_limit_are_kept_everywhere<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let case = std::sync::atomic::AtomicU64::new(0);
    let outcome = block_in_place(|rt| {
        let mut config = proptest_config();
        // Each case writes about 10 KB of keys through every index; a handful of cases covers
        // the content, and the lengths are fixed.
        config.cases = config.cases.min(8);
        let mut runner = TestRunner::new(config);
        runner.run(&at_the_limit().prop_map(Box::new), |t| {
            let t = (*t).for_case(case.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            rt.block_on(async {
                store_at_the_limit(&store, &t).await?;
                refuse_past_the_limit(&store, &t).await
            })
        })
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, _)) => panic!("texts at their limits: {reason}"),
        Err(TestError::Abort(reason)) => panic!("the limits property aborted: {reason}"),
    }
    factory.destroy(store).await;
}

/// A text argument of a read or write, with a NUL byte put in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NulIn {
    ListPrefix,
    ListName,
    ListQueue,
    ListExecutor,
    ListUser,
    ListApplicationVersion,
    GetQueue,
    QueuePartitions,
    DeduplicatedWorkflow,
    SerializationLabel,
    StepName,
    EventKey,
    AssumedRole,
    AuthenticatedRole,
    ScheduleFilter,
    ScheduleLookup,
    ScheduleName,
    ListScheduleName,
    DebounceClass,
    DebounceConfig,
    RecoveryDeadExecutor,
    RecoveryExecutor,
    RecoveryNewOwner,
    RecoveryExpectedOwner,
    ReturnToQueueOwner,
    StreamStepKey,
    StreamStepWriter,
    NotificationsWorkflow,
}

const NUL_PLACES: [NulIn; 28] = [
    NulIn::ListPrefix,
    NulIn::ListName,
    NulIn::ListQueue,
    NulIn::ListExecutor,
    NulIn::ListUser,
    NulIn::ListApplicationVersion,
    NulIn::GetQueue,
    NulIn::QueuePartitions,
    NulIn::DeduplicatedWorkflow,
    NulIn::SerializationLabel,
    NulIn::StepName,
    NulIn::EventKey,
    NulIn::AssumedRole,
    NulIn::AuthenticatedRole,
    NulIn::ScheduleFilter,
    NulIn::ScheduleLookup,
    NulIn::ScheduleName,
    NulIn::ListScheduleName,
    NulIn::DebounceClass,
    NulIn::DebounceConfig,
    NulIn::RecoveryDeadExecutor,
    NulIn::RecoveryExecutor,
    NulIn::RecoveryNewOwner,
    NulIn::RecoveryExpectedOwner,
    NulIn::ReturnToQueueOwner,
    NulIn::StreamStepKey,
    NulIn::StreamStepWriter,
    NulIn::NotificationsWorkflow,
];

/// Runs the call `place` names with `text` (which holds a NUL byte) as its argument; the result
/// as `Ok(())` or the error.
async fn call_with<S: SystemStore + ?Sized>(
    store: &S,
    place: NulIn,
    text: &str,
) -> dbos_storage_core::Result<()> {
    let list =
        |query: ListWorkflowsQuery| async move { store.list_workflows(query).await.map(drop) };
    match place {
        NulIn::ListPrefix => list(ListWorkflowsQuery::new().workflow_id_prefix(text)).await,
        NulIn::ListName => list(ListWorkflowsQuery::new().name([text])).await,
        NulIn::ListQueue => list(ListWorkflowsQuery::new().queue_name([text])).await,
        NulIn::ListExecutor => list(ListWorkflowsQuery::new().executor_id([text])).await,
        NulIn::ListUser => list(ListWorkflowsQuery::new().authenticated_user([text])).await,
        NulIn::ListApplicationVersion => {
            list(ListWorkflowsQuery::new().application_version([text])).await
        }
        NulIn::GetQueue => store.get_queue(text).await.map(drop),
        NulIn::QueuePartitions => store.queue_partitions(text, None).await.map(drop),
        NulIn::DeduplicatedWorkflow => store.deduplicated_workflow("q", text).await.map(drop),
        NulIn::SerializationLabel => {
            let label = Serialization::parse_label(text);
            let wf = NewWorkflow::new("nul-label", "wf_fn", Payload::new("1", label));
            store
                .insert_workflow(wf, InsertOptions::default())
                .await
                .map(drop)
        }
        NulIn::StepName => {
            let step = StepRecord::output("nul-step", 1, text, Payload::portable_json("1"));
            store.record_step(step, None).await.map(drop)
        }
        NulIn::EventKey => store
            .set_event(
                Caller::workflow("nul-event", 1),
                text,
                Payload::portable_json("1"),
            )
            .await
            .map(drop),
        NulIn::AssumedRole | NulIn::AuthenticatedRole => {
            let (role, roles) = match place {
                NulIn::AssumedRole => (Some(text.to_owned()), None),
                _ => (None, Some(vec!["admin".to_owned(), text.to_owned()])),
            };
            let wf = NewWorkflow::new("nul-role", "wf_fn", inputs()).with_auth(None, role, roles);
            store
                .insert_workflow(wf, InsertOptions::default())
                .await
                .map(drop)
        }
        NulIn::ScheduleFilter => {
            let filter = ScheduleFilter::new().workflow_name(text);
            store.list_schedules(filter).await.map(drop)
        }
        NulIn::ScheduleLookup => store.get_schedule(text).await.map(drop),
        NulIn::ScheduleName => {
            let wf = NewWorkflow::new("nul-schedule", "wf_fn", inputs()).with_schedule_name(text);
            store
                .insert_workflow(wf, InsertOptions::default())
                .await
                .map(drop)
        }
        NulIn::ListScheduleName => list(ListWorkflowsQuery::new().schedule_names([text])).await,
        NulIn::DebounceClass | NulIn::DebounceConfig => {
            let mut request = DebounceRequest::new("wf_fn", "q", "k", 1_000, inputs());
            match place {
                NulIn::DebounceClass => request.class_name = Some(text.to_owned()),
                _ => request.config_name = Some(text.to_owned()),
            }
            store.debounce_workflow(request).await.map(drop)
        }
        NulIn::RecoveryDeadExecutor
        | NulIn::RecoveryExecutor
        | NulIn::RecoveryNewOwner
        | NulIn::RecoveryExpectedOwner => {
            let mut request =
                RecoveryRequest::from_dead_executors("nul-recovery", vec!["dead".into()], "me");
            match place {
                NulIn::RecoveryDeadExecutor => request.dead_executor_ids = vec![text.to_owned()],
                NulIn::RecoveryExecutor => request.executor_id = text.to_owned(),
                NulIn::RecoveryNewOwner => request.owner_xid = text.to_owned(),
                _ => request.expected_owner_xid = Some(text.to_owned()),
            }
            store.recover_workflow(request).await.map(drop)
        }
        NulIn::ReturnToQueueOwner => store.return_to_queue("nul-return", text).await.map(drop),
        NulIn::StreamStepKey | NulIn::StreamStepWriter => {
            let (writer, key) = match place {
                NulIn::StreamStepKey => ("nul-writer", text),
                _ => (text, "k"),
            };
            let request = StreamStepRequest::new(Caller::workflow("nul-reader", 1), writer, key, 0);
            store
                .read_stream_step(request, AwaitOptions::default())
                .await
                .map(drop)
        }
        NulIn::NotificationsWorkflow => store.list_notifications(text).await.map(drop),
    }
}

/// A NUL byte anywhere in a text argument — list filters, queue and schedule lookups,
/// deduplication ids, serialization labels, step names, event keys, roles, schedule names,
/// debounce class and config names, every text of a recovery request, the owner token of a
/// hand-back, a checkpointed stream read's key and writer, a notification listing's workflow —
/// is `InvalidInput` saying so, on every backend, and writes nothing. Random argument, random
/// text, random position.
pub async fn a_nul_byte_in_any_text_is_refused_everywhere<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let cases = (
        prop::sample::select(NUL_PLACES.to_vec()),
        "[a-z]{0,12}",
        "[a-z]{0,12}",
    );
    let outcome = block_in_place(|rt| {
        let mut runner = TestRunner::new(proptest_config());
        runner.run(&cases, |(place, before, after)| {
            let text = format!("{before}\0{after}");
            rt.block_on(async {
                match call_with(&store, place, &text).await {
                    Err(e)
                        if e.kind() == ErrorKind::InvalidInput && e.message().contains("NUL") =>
                    {
                        Ok(())
                    }
                    other => Err(TestCaseError::fail(format!(
                        "{place:?} with {text:?}: expected InvalidInput about the NUL byte, got \
                         {other:?}"
                    ))),
                }
            })
        })
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, _)) => panic!("a NUL byte reached a backend: {reason}"),
        Err(TestError::Abort(reason)) => panic!("the NUL property aborted: {reason}"),
    }
    let written = ok(
        store.list_workflows(ListWorkflowsQuery::new()).await,
        "list after the refused calls",
    );
    assert!(
        written.is_empty(),
        "refused calls wrote {:?}",
        id_set(&written)
    );
    factory.destroy(store).await;
}
