//! Properties of fork and rewind ([`ManagementStore::fork_workflows`],
//! [`ManagementStore::rewind_workflow`]).

use std::time::Duration;

use dbos_storage_core::MessageStore;
use dbos_storage_core::{
    Caller, ErrorKind, ForkRequest, ForkStart, ForkedWorkflow, InsertOptions, ListStepsOptions,
    ListWorkflowsQuery, OutgoingMessage, RecvRequest, RewindRequest, SendOptions, StepInfo,
    WorkflowResult, WorkflowStatus, INTERNAL_QUEUE,
};

use crate::checks::*;
use crate::operator_fixtures::*;
use crate::Factory;

/// The steps of `id` with outputs, by position.
async fn steps<S: dbos_storage_core::SystemStore + ?Sized>(store: &S, id: &str) -> Vec<StepInfo> {
    ok(
        store
            .list_steps(id, ListStepsOptions::default().load_output(true))
            .await,
        &format!("list_steps({id:?})"),
    )
}

/// The function ids of the event history rows of `id` (read through an export).
async fn history_steps<S: dbos_storage_core::SystemStore + ?Sized>(
    store: &S,
    id: &str,
) -> Vec<i32> {
    export(store, &[id], false).await[0]
        .event_history
        .iter()
        .map(|h| h.function_id)
        .collect()
}

/// A fork from step `k` is a new `ENQUEUED` workflow that replays the source's steps below `k`:
/// its steps are exactly those (every column kept, a child id rewritten through
/// `replacement_children`), its events are rebuilt from the history below `k`, and the event
/// history and stream entries below `k` are copied. It copies the source's name, class,
/// config, auth, attributes, inputs and owner, takes the requested queue, partition and version
/// (default: the internal queue and the source's version), has `forked_from` set, and the
/// source gets `was_forked_from`.
pub async fn fork_replays_steps_below_the_start<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", Some("app")).await;
    let source = get(&store, "w").await;
    let source_steps = steps(&store, "w").await;

    let request = ForkRequest::new("w", ForkStart::Step(5))
        .with_fork_id("f")
        .replace_child(child_of("w"), "f-child")
        .on_queue("fq", Some("p1".into()))
        .with_application_version("v2");
    let forked = ok(store.fork_workflows(vec![request]).await, "fork w at 5");
    assert_eq!(forked, vec![ForkedWorkflow::new("w", "f", 5)]);

    let mut want: Vec<StepInfo> = source_steps
        .iter()
        .filter(|s| s.function_id < 5)
        .cloned()
        .collect();
    for s in &mut want {
        if s.child_workflow_id.as_deref() == Some(child_of("w").as_str()) {
            s.child_workflow_id = Some("f-child".into());
        }
    }
    assert_eq!(
        steps(&store, "f").await,
        want,
        "the fork has exactly the source's steps below 5, the child id rewritten"
    );
    assert_eq!(step_names(&store, "f").await, rich_steps_below("w", 5));
    assert_eq!(
        events_of(&store, "f").await,
        [("k".to_owned(), "\"k1\"".to_owned())].into(),
        "events as of step 5: k from its step-2 history row, j not yet set"
    );
    assert_eq!(
        stream_of(&store, "f", "s").await,
        (vec!["\"v0\"".to_owned()], false),
        "stream entries written below step 5 only"
    );
    assert_eq!(history_steps(&store, "f").await, vec![2], "history below 5");

    let fork = get(&store, "f").await;
    assert_eq!(fork.status, WorkflowStatus::Enqueued);
    assert_eq!(fork.queue_name.as_deref(), Some("fq"));
    assert_eq!(fork.queue_partition_key.as_deref(), Some("p1"));
    assert_eq!(fork.application_version.as_deref(), Some("v2"));
    assert_eq!(fork.forked_from.as_deref(), Some("w"));
    assert_eq!(fork.parent_workflow_id, None);
    assert_eq!(fork.workflow_deadline_epoch_ms, None);
    assert_eq!(fork.deduplication_id, None);
    assert_eq!(fork.recovery_attempts, 0);
    assert_eq!(fork.completed_at, None);
    assert_eq!(fork.workflow_timeout_ms, source.workflow_timeout_ms);
    for (field, got, want) in [
        ("name", Some(fork.name.clone()), Some(source.name.clone())),
        ("class", fork.class_name.clone(), source.class_name.clone()),
        (
            "config",
            fork.config_name.clone(),
            source.config_name.clone(),
        ),
        (
            "app id",
            fork.application_id.clone(),
            source.application_id.clone(),
        ),
        (
            "user",
            fork.authenticated_user.clone(),
            source.authenticated_user.clone(),
        ),
        (
            "role",
            fork.assumed_role.clone(),
            source.assumed_role.clone(),
        ),
        ("inputs", fork.inputs.clone(), source.inputs.clone()),
        ("owner", fork.application_name.clone(), Some("app".into())),
    ] {
        assert_eq!(got, want, "the fork's {field}");
    }
    assert_eq!(fork.authenticated_roles, source.authenticated_roles);
    assert_eq!(fork.attributes, source.attributes);
    assert_eq!(fork.serialization, source.serialization);
    assert!(
        get(&store, "w").await.was_forked_from,
        "the source is marked"
    );
    assert!(!fork.was_forked_from);
    assert_eq!(
        ok(store.workflow_result("f").await, "result of f"),
        WorkflowResult::Active(WorkflowStatus::Enqueued),
        "the fork has no output"
    );
    assert_eq!(
        steps(&store, "w").await,
        source_steps,
        "the source keeps its steps"
    );

    let forked = ok(
        store
            .fork_workflows(vec![
                ForkRequest::new("w", ForkStart::Step(1)).with_fork_id("f1")
            ])
            .await,
        "fork w at 1",
    );
    assert_eq!(forked, vec![ForkedWorkflow::new("w", "f1", 1)]);
    assert!(
        step_names(&store, "f1").await.is_empty(),
        "step 1 keeps nothing"
    );
    assert!(events_of(&store, "f1").await.is_empty());
    assert_eq!(stream_of(&store, "f1", "s").await, (vec![], false));
    let f1 = get(&store, "f1").await;
    assert_eq!(f1.queue_name.as_deref(), Some(INTERNAL_QUEUE));
    assert_eq!(
        f1.application_version.as_deref(),
        Some("v1"),
        "the source's version"
    );
    factory.destroy(store).await;
}

/// A fork of an unclaimed source belongs to the requesting application; generated fork ids
/// are distinct.
pub async fn fork_owner_and_generated_ids<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("u", "o"), InsertOptions::default())
            .await,
        "u",
    );
    let forked = ok(
        store
            .fork_workflows(vec![
                ForkRequest::new("u", ForkStart::Step(1)).with_application_name("mine"),
                ForkRequest::new("u", ForkStart::Step(1)).with_timeout(Duration::from_secs(5)),
            ])
            .await,
        "two forks of u with generated ids",
    );
    assert_eq!(forked.len(), 2);
    assert_ne!(forked[0].workflow_id, forked[1].workflow_id);
    let first = get(&store, &forked[0].workflow_id).await;
    assert_eq!(first.application_name.as_deref(), Some("mine"));
    let second = get(&store, &forked[1].workflow_id).await;
    assert_eq!(second.application_name, None);
    assert_eq!(second.workflow_timeout_ms, Some(5_000));
    factory.destroy(store).await;
}

/// A batch of forks is all or nothing: a missing source fails it with `NotFound` naming the
/// source, a start that does not resolve fails it with `InvalidInput`, and neither writes a
/// fork or marks a source.
pub async fn fork_is_all_or_nothing<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", None).await;
    ok(
        store
            .insert_workflow(pending("plain", "o"), InsertOptions::default())
            .await,
        "plain",
    );
    let e = err(
        store
            .fork_workflows(vec![
                ForkRequest::new("w", ForkStart::Step(3)).with_fork_id("f1"),
                ForkRequest::new("ghost", ForkStart::Step(1)).with_fork_id("f2"),
            ])
            .await,
        ErrorKind::NotFound,
        "a batch with a missing source",
    );
    assert!(e.message().contains("ghost"), "names the source: {e}");
    let e = err(
        store
            .fork_workflows(vec![
                ForkRequest::new("w", ForkStart::Step(3)).with_fork_id("f1"),
                ForkRequest::new("plain", ForkStart::LastFailure).with_fork_id("f3"),
            ])
            .await,
        ErrorKind::InvalidInput,
        "a batch whose second start does not resolve",
    );
    assert!(e.message().contains("plain"), "names the workflow: {e}");
    for id in ["f1", "f2", "f3"] {
        assert!(!exists(&store, id).await, "fork {id} was not written");
        assert!(step_names(&store, id).await.is_empty(), "no steps of {id}");
    }
    assert!(!get(&store, "w").await.was_forked_from, "w is not marked");
    let forks = ok(
        store
            .list_workflows(ListWorkflowsQuery::new().forked_from("w"))
            .await,
        "list forks of w",
    );
    assert!(forks.is_empty(), "{forks:?}");
    factory.destroy(store).await;
}

/// Forking again with the same fork ids returns the same forks and writes nothing more; a fork
/// id already used by a workflow that is not a fork of that source is a `Conflict` that
/// changes nothing.
pub async fn fork_is_idempotent<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", None).await;
    ok(
        store
            .insert_workflow(pending("other", "o"), InsertOptions::default())
            .await,
        "other",
    );
    let request = || ForkRequest::new("w", ForkStart::Step(4)).with_fork_id("f");
    let first = ok(store.fork_workflows(vec![request()]).await, "fork");
    let before = export(&store, &["f"], false).await;
    let again = ok(store.fork_workflows(vec![request()]).await, "fork again");
    assert_eq!(again, first, "the same answer");
    assert_eq!(
        doc_text(&export(&store, &["f"], false).await),
        doc_text(&before),
        "the fork's rows are unchanged (not copied again)"
    );
    let forks = ok(
        store
            .list_workflows(ListWorkflowsQuery::new().forked_from("w"))
            .await,
        "list forks of w",
    );
    assert_eq!(id_set(&forks), ids(&["f"]), "one fork");

    let other_before = export(&store, &["other"], false).await;
    let e = err(
        store
            .fork_workflows(vec![
                ForkRequest::new("w", ForkStart::Step(1)).with_fork_id("other")
            ])
            .await,
        ErrorKind::Conflict,
        "a fork id used by an unrelated workflow",
    );
    assert!(e.message().contains("other"), "names the id: {e}");
    assert_eq!(
        doc_text(&export(&store, &["other"], false).await),
        doc_text(&other_before),
        "the unrelated workflow is unchanged"
    );
    err(
        store
            .fork_workflows(vec![
                ForkRequest::new("other", ForkStart::Step(1)).with_fork_id("f")
            ])
            .await,
        ErrorKind::Conflict,
        "a fork id that is a fork of another source",
    );
    assert!(!get(&store, "other").await.was_forked_from);
    factory.destroy(store).await;
}

/// `LastFailure` resolves to the highest failed step and `NamedStep` to the lowest step of
/// that name; the resolved step is returned and used. Neither resolving is `InvalidInput`.
pub async fn fork_start_resolves_by_failure_and_name<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", None).await;
    let forked = ok(
        store
            .fork_workflows(vec![
                ForkRequest::new("w", ForkStart::LastFailure).with_fork_id("by-failure"),
                ForkRequest::new("w", ForkStart::NamedStep("b".into())).with_fork_id("by-b"),
                ForkRequest::new(
                    "w",
                    ForkStart::NamedStep(dbos_storage_core::events::SET_EVENT_STEP.into()),
                )
                .with_fork_id("by-event"),
            ])
            .await,
        "forks by failure and by name",
    );
    assert_eq!(
        forked,
        vec![
            ForkedWorkflow::new("w", "by-failure", 5),
            ForkedWorkflow::new("w", "by-b", 5),
            ForkedWorkflow::new("w", "by-event", 2),
        ]
    );
    assert_eq!(
        step_names(&store, "by-failure").await,
        rich_steps_below("w", 5)
    );
    assert_eq!(
        step_names(&store, "by-event").await,
        rich_steps_below("w", 2)
    );
    ok(
        store
            .insert_workflow(pending("clean", "o"), InsertOptions::default())
            .await,
        "clean",
    );
    for (start, what) in [
        (ForkStart::LastFailure, "no failed step"),
        (ForkStart::NamedStep("nope".into()), "no step named"),
    ] {
        let e = err(
            store
                .fork_workflows(vec![ForkRequest::new("clean", start).with_fork_id("x")])
                .await,
            ErrorKind::InvalidInput,
            what,
        );
        assert!(e.message().contains("clean"), "{e}");
    }
    assert!(!exists(&store, "x").await);
    err(
        store
            .fork_workflows(vec![ForkRequest::new("w", ForkStart::Step(0))])
            .await,
        ErrorKind::InvalidInput,
        "step 0",
    );
    factory.destroy(store).await;
}

/// Rewinding a finished workflow keeps its id, deletes its steps and event history from the
/// start step on, restores each event's value from before the cut, removes only the stream
/// close markers at or after the cut, deletes unconsumed messages, clears the output and
/// re-enqueues it (owner, deadline, completion time cleared, zero attempts).
pub async fn rewind_restarts_a_finished_workflow<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", None).await;
    let before = get(&store, "w").await;
    let source_steps = steps(&store, "w").await;
    let rewound = ok(
        store
            .rewind_workflow(RewindRequest::new("w", ForkStart::NamedStep("b".into())))
            .await,
        "rewind w to step b",
    );
    assert_eq!(rewound.workflow_id, "w");
    assert_eq!(rewound.start_step, 5);
    assert_eq!(rewound.previous_status, WorkflowStatus::Success);
    let kept: Vec<StepInfo> = source_steps
        .into_iter()
        .filter(|s| s.function_id < 5)
        .collect();
    assert_eq!(
        steps(&store, "w").await,
        kept,
        "steps below 5 stay as they were"
    );
    assert_eq!(
        events_of(&store, "w").await,
        [("k".to_owned(), "\"k1\"".to_owned())].into(),
        "k is back to its value before the cut; j, set after it, is gone"
    );
    assert_eq!(
        stream_of(&store, "w", "s").await,
        (vec!["\"v0\"".to_owned(), "\"v1\"".to_owned()], false),
        "the close marker at step 9 is gone, the value at step 8 stays"
    );
    assert_eq!(history_steps(&store, "w").await, vec![2]);
    let row = get(&store, "w").await;
    assert_eq!(row.status, WorkflowStatus::Enqueued);
    assert_eq!(row.queue_name.as_deref(), Some(INTERNAL_QUEUE));
    assert_eq!(row.completed_at, None);
    assert_eq!(row.recovery_attempts, 0);
    assert_eq!(row.workflow_deadline_epoch_ms, None);
    assert_eq!(row.application_version, before.application_version);
    assert_eq!(row.inputs, before.inputs, "inputs stay");
    assert_eq!(row.output, None);
    assert_eq!(export(&store, &["w"], false).await[0].output, None);
    assert_eq!(
        ok(store.workflow_result("w").await, "result"),
        WorkflowResult::Active(WorkflowStatus::Enqueued)
    );
    assert!(exists(&store, &child_of("w")).await, "the child stays");

    // Messages: the one consumed before the cut stays consumed (its recv replays), an
    // unconsumed one is deleted.
    ok(
        store
            .insert_workflow(pending("m", "o"), InsertOptions::default())
            .await,
        "m",
    );
    let send = |text: &str| OutgoingMessage::new("m", Some("t"), json(text));
    ok(
        store
            .send_messages(vec![send("1")], None, SendOptions::default())
            .await,
        "send 1",
    );
    let recv = |step: i32| {
        let caller = Caller::workflow("m", step).with_timeout_step(step + 1);
        RecvRequest::new(caller, Some("t"), Duration::from_millis(100))
    };
    let got = ok(store.recv(recv(1), poll_fast()).await, "recv at 1");
    assert_eq!(got.map(|p| p.text), Some("1".to_owned()));
    ok(
        store
            .send_messages(vec![send("2")], None, SendOptions::default())
            .await,
        "send 2",
    );
    assert!(ok(
        store.record_outcome("m", output("0"), Some("o")).await,
        "m done"
    ));
    ok(
        store
            .rewind_workflow(RewindRequest::new("m", ForkStart::Step(3)).on_queue("rq", None))
            .await,
        "rewind m to 3",
    );
    assert_eq!(get(&store, "m").await.queue_name.as_deref(), Some("rq"));
    let replayed = ok(store.recv(recv(1), poll_fast()).await, "replayed recv at 1");
    assert_eq!(replayed.map(|p| p.text), Some("1".to_owned()));
    let got = ok(
        store.recv(recv(3), poll_fast()).await,
        "recv at 3 after rewind",
    );
    assert_eq!(
        got, None,
        "the unconsumed message was deleted by the rewind"
    );
    factory.destroy(store).await;
}

/// Only a finished workflow can be rewound: a `PENDING` or `ENQUEUED` one is a `Conflict`, an
/// unknown id `NotFound`, a start that does not resolve `InvalidInput`; none changes anything.
pub async fn rewind_refuses_an_active_workflow<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", None).await;
    let child = child_of("w");
    let before = export(&store, &["w", &child], false).await;
    let e = err(
        store
            .rewind_workflow(RewindRequest::new(&child, ForkStart::Step(1)))
            .await,
        ErrorKind::Conflict,
        "rewind a PENDING workflow",
    );
    assert!(e.message().contains("PENDING"), "says why: {e}");
    err(
        store
            .rewind_workflow(RewindRequest::new("ghost", ForkStart::Step(1)))
            .await,
        ErrorKind::NotFound,
        "rewind an unknown workflow",
    );
    err(
        store
            .rewind_workflow(RewindRequest::new("w", ForkStart::NamedStep("zzz".into())))
            .await,
        ErrorKind::InvalidInput,
        "rewind to a step that does not exist",
    );
    assert_eq!(
        doc_text(&export(&store, &["w", &child], false).await),
        doc_text(&before),
        "nothing changed"
    );
    ok(
        store
            .rewind_workflow(RewindRequest::new("w", ForkStart::Step(2)))
            .await,
        "rewind w",
    );
    err(
        store
            .rewind_workflow(RewindRequest::new("w", ForkStart::Step(2)))
            .await,
        ErrorKind::Conflict,
        "rewind the now ENQUEUED w again",
    );
    factory.destroy(store).await;
}
