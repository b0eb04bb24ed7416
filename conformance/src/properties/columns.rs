//! Columns DBOS Transact writes and reads that the contract carries both ways: the schedule that
//! started a workflow, the fencing token and queue flags of a row, the legacy flags of the queue
//! registry, attributes cleared back to DBOS's "unset", a void output and a step without timings.
//! Each property writes the value through the contract and reads it back on the same store, so
//! the model and every backend are held to one answer.

use std::time::Duration;

use dbos_storage_core::{
    now_epoch_ms, AttributeUpdate, ClaimRequest, DebounceOutcome, DebounceRequest, ErrorKind,
    InsertOptions, ListStepsOptions, ListWorkflowsQuery, NewWorkflow, Payload, QueueConflictPolicy,
    QueueDefinition, QueueLimits, QueueStore, QueueUpdate, StepRecord,
};

use crate::checks::*;
use crate::Factory;

/// An hour, in milliseconds: "the future" is an hour away.
const HOUR_MS: i64 = 3_600_000;

/// A workflow started by a schedule keeps the schedule's name, whether it was started directly
/// or enqueued (alone or in a batch); listing by that name finds exactly those runs, and a
/// workflow started otherwise has none. An empty or NUL-holding schedule name is refused.
pub async fn schedule_name_is_written_and_read_back<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(
                pending("direct", "c").with_schedule_name("nightly"),
                InsertOptions::default(),
            )
            .await,
        "insert a scheduled direct start",
    );
    ok(
        store
            .insert_workflow(
                enqueued("queued", "q").with_schedule_name("nightly"),
                InsertOptions::default(),
            )
            .await,
        "enqueue a scheduled run",
    );
    ok(
        store
            .enqueue_workflows(vec![
                enqueued("batched", "q").with_schedule_name("hourly"),
                enqueued("plain", "q"),
            ])
            .await,
        "batch enqueue a scheduled run and a plain one",
    );
    let expected = [
        ("direct", Some("nightly")),
        ("queued", Some("nightly")),
        ("batched", Some("hourly")),
        ("plain", None),
    ];
    for (id, schedule) in expected {
        assert_eq!(
            get(&store, id).await.schedule_name.as_deref(),
            schedule,
            "{id}"
        );
    }
    let nightly = ok(
        store
            .list_workflows(ListWorkflowsQuery::new().schedule_name("nightly"))
            .await,
        "list by schedule name",
    );
    assert_eq!(sorted(id_set(&nightly)), ids(&["direct", "queued"]));

    for (bad, expected) in [("", "schedule name is empty"), ("a\0b", "NUL")] {
        let e = err(
            store
                .insert_workflow(
                    pending("bad", "c").with_schedule_name(bad),
                    InsertOptions::default(),
                )
                .await,
            ErrorKind::InvalidInput,
            "insert with a bad schedule name",
        );
        assert!(e.message().contains(expected), "{bad:?}: {e}");
    }
    assert!(
        !exists(&store, "bad").await,
        "a refused insert writes nothing"
    );
    factory.destroy(store).await;
}

/// Get and list return the row's ownership token and queue flags: a direct start is owned by its
/// creator, an enqueued row by nobody until a claim (then by the claim's token), a claim under a
/// rate limiter marks the row `rate_limited`, a finished row has no owner again, and a debounced
/// row reports its flag and debounce deadline.
pub async fn row_flags_are_read_back<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("direct", "creator-1"), InsertOptions::default())
            .await,
        "insert direct",
    );
    let row = get(&store, "direct").await;
    assert_eq!(row.owner_xid.as_deref(), Some("creator-1"));
    assert!(!row.rate_limited && !row.is_debounced, "{row:?}");
    assert_eq!(row.debounce_deadline_epoch_ms, None);
    ok(
        store.record_outcome("direct", output("1"), None).await,
        "finish direct",
    );
    assert_eq!(
        get(&store, "direct").await.owner_xid,
        None,
        "a finished workflow has no owner"
    );

    ok(
        store
            .enqueue_workflows(vec![enqueued("limited", "rl"), enqueued("free", "q")])
            .await,
        "enqueue two",
    );
    assert_eq!(get(&store, "limited").await.owner_xid, None);
    let request = ClaimRequest::new("rl", "exec", "v1")
        .limits(QueueLimits::new().rate_limit(5, Duration::from_secs(600)));
    let token = request.owner_xid.clone();
    let claimed = ok(store.claim_workflows(request).await, "claim rl").claimed;
    assert_eq!(claimed, ids(&["limited"]));
    let row = get(&store, "limited").await;
    assert_eq!(row.owner_xid.as_deref(), Some(token.as_str()));
    assert!(row.rate_limited, "claimed under a rate limiter");
    let claimed = ok(
        store
            .claim_workflows(ClaimRequest::new("q", "exec", "v1"))
            .await,
        "claim q",
    )
    .claimed;
    assert_eq!(claimed, ids(&["free"]));
    assert!(
        !get(&store, "free").await.rate_limited,
        "a queue without a limiter does not mark its claims"
    );

    let until = now_epoch_ms() + HOUR_MS;
    let deadline = until + HOUR_MS;
    ok(
        store
            .insert_workflow(
                NewWorkflow::new("bounced", "wf_fn", inputs()).debounced(
                    "dq",
                    "key",
                    until,
                    Some(deadline),
                ),
                InsertOptions::default(),
            )
            .await,
        "insert debounced",
    );
    let row = get(&store, "bounced").await;
    assert!(row.is_debounced, "{row:?}");
    assert_eq!(row.debounce_deadline_epoch_ms, Some(deadline));
    assert_eq!(row.owner_xid, None, "a delayed row has no owner");
    let outcome = ok(
        store
            .debounce_workflow(DebounceRequest::new(
                "wf_fn",
                "dq",
                "key",
                deadline + HOUR_MS,
                inputs(),
            ))
            .await,
        "debounce past the deadline",
    );
    assert_eq!(
        outcome,
        DebounceOutcome::Extended {
            workflow_id: "bounced".into()
        }
    );
    let row = get(&store, "bounced").await;
    assert_eq!(
        row.delay_until_epoch_ms,
        Some(deadline),
        "capped at the deadline"
    );
    assert!(row.is_debounced);
    factory.destroy(store).await;
}

/// The registry's legacy flags are written as DBOS 3.4 writes them and read back as stored:
/// `priority_enabled` is always TRUE, whatever the definition says; `partition_queue` is the
/// definition's mark or any partition limit. An update keeps a mark set without partition limits
/// and lets one that came from partition limits follow them.
pub async fn queue_flags_are_written_and_read_back<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let mut unprioritized = QueueDefinition::new("plain");
    unprioritized.priority_enabled = false;
    let definitions = [
        unprioritized,
        QueueDefinition::new("by-limits").limits(QueueLimits::new().partition_concurrency(2)),
        QueueDefinition::new("marked").partition_queue(true),
    ];
    for queue in definitions {
        ok(
            store.upsert_queue(queue, QueueConflictPolicy::Update).await,
            "upsert",
        );
    }
    let flags = |q: &QueueDefinition| (q.name.clone(), q.priority_enabled, q.partition_queue);
    let listed: Vec<_> = ok(store.list_queues(None).await, "list queues")
        .iter()
        .map(flags)
        .collect();
    assert_eq!(
        listed,
        vec![
            ("by-limits".to_owned(), true, true),
            ("marked".to_owned(), true, true),
            ("plain".to_owned(), true, false),
        ],
        "priority_enabled is always written TRUE; partition_queue is the mark or a partition limit"
    );

    let mut clear = QueueUpdate::default();
    clear.partition_concurrency = Some(None);
    let updated = ok(store.update_queue("by-limits", clear).await, "clear limits");
    assert!(
        !updated.partition_queue,
        "a mark that came from partition limits goes with them"
    );
    let mut change = QueueUpdate::default();
    change.concurrency = Some(Some(3));
    let updated = ok(store.update_queue("marked", change).await, "update marked");
    assert!(updated.partition_queue, "an explicit mark survives updates");
    for (name, partitioned) in [("by-limits", false), ("marked", true)] {
        let queue = ok(store.get_queue(name).await, "get queue").expect("registered");
        assert_eq!(queue.partition_queue, partitioned, "{name}");
        assert!(queue.priority_enabled, "{name}");
    }

    ok(
        store
            .upsert_queue(
                QueueDefinition::new("marked").partition_queue(false),
                QueueConflictPolicy::Update,
            )
            .await,
        "re-register without the mark",
    );
    let queue = ok(store.get_queue("marked").await, "get queue").expect("registered");
    assert!(
        !queue.partition_queue,
        "an upsert rewrites the flag from the new definition"
    );
    factory.destroy(store).await;
}

/// Attributes cleared with [`AttributeUpdate::Clear`] read back as no map, exactly like a
/// workflow inserted without attributes; a merge afterwards starts from an empty map. A clear
/// given keys, or aimed at a missing workflow, fails and changes nothing.
pub async fn attributes_clear_back_to_unset<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let attrs = |v: serde_json::Value| v.as_object().cloned().expect("an object");
    ok(
        store
            .insert_workflow(
                pending("a", "c").with_attributes(attrs(serde_json::json!({"k": 1, "j": "x"}))),
                InsertOptions::default(),
            )
            .await,
        "insert with attributes",
    );
    ok(
        store
            .insert_workflow(pending("never", "c"), InsertOptions::default())
            .await,
        "insert without attributes",
    );
    let e = err(
        store
            .update_workflow_attributes(
                "a",
                attrs(serde_json::json!({"k": 2})),
                AttributeUpdate::Clear,
            )
            .await,
        ErrorKind::InvalidInput,
        "clear given keys",
    );
    assert!(
        e.message()
            .contains("clearing attributes takes an empty map, but 1 key(s) were given"),
        "{e}"
    );
    assert_eq!(
        get(&store, "a").await.attributes,
        Some(attrs(serde_json::json!({"k": 1, "j": "x"}))),
        "a refused clear changes nothing"
    );
    let stored = ok(
        store
            .update_workflow_attributes("a", Default::default(), AttributeUpdate::Clear)
            .await,
        "clear",
    );
    assert!(stored.is_empty(), "{stored:?}");
    assert_eq!(get(&store, "a").await.attributes, None);
    assert_eq!(
        get(&store, "a").await.attributes,
        get(&store, "never").await.attributes,
        "cleared reads like never set"
    );
    let listed = ok(
        store
            .list_workflows(ListWorkflowsQuery::new().workflow_ids(ids(&["a"])))
            .await,
        "list",
    );
    assert_eq!(listed[0].attributes, None);
    let merged = ok(
        store
            .update_workflow_attributes(
                "a",
                attrs(serde_json::json!({"m": true})),
                AttributeUpdate::Merge,
            )
            .await,
        "merge after a clear",
    );
    assert_eq!(merged, attrs(serde_json::json!({"m": true})));
    let e = err(
        store
            .update_workflow_attributes("ghost", Default::default(), AttributeUpdate::Clear)
            .await,
        ErrorKind::NotFound,
        "clear a missing workflow",
    );
    assert!(e.message().contains("ghost"), "{e}");
    factory.destroy(store).await;
}

/// A debounce that names a class and configured instance extends only the debounced workflow of
/// that class and instance; another instance finds the key held. A debounce that names none
/// matches any, as DBOS's does. Names with a NUL byte are refused.
pub async fn debounce_matches_class_and_config<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let until = now_epoch_ms() + HOUR_MS;
    ok(
        store
            .insert_workflow(
                NewWorkflow::new("one", "method", inputs())
                    .with_class(Some("Cls".into()), Some("first".into()))
                    .debounced("dq", "key", until, None),
                InsertOptions::default(),
            )
            .await,
        "insert a debounced method workflow",
    );
    let bounce = |class: Option<&str>, config: Option<&str>, at: i64| {
        DebounceRequest::new("method", "dq", "key", at, inputs())
            .with_class(class.map(str::to_owned), config.map(str::to_owned))
    };
    let other = ok(
        store
            .debounce_workflow(bounce(Some("Cls"), Some("second"), until + 1_000))
            .await,
        "debounce from another instance",
    );
    assert_eq!(
        other,
        DebounceOutcome::HeldBy {
            workflow_id: "one".into(),
            is_debounced: true,
            name: "method".into(),
            application_name: None,
        }
    );
    assert_eq!(
        get(&store, "one").await.delay_until_epoch_ms,
        Some(until),
        "another instance's debounce changes nothing"
    );
    for (class, config, new_until) in [
        (Some("Cls"), Some("first"), until + 1_000),
        (None, None, until + 2_000),
    ] {
        let outcome = ok(
            store
                .debounce_workflow(bounce(class, config, new_until))
                .await,
            "debounce from the same instance or from anyone",
        );
        assert_eq!(
            outcome,
            DebounceOutcome::Extended {
                workflow_id: "one".into()
            },
            "{class:?} {config:?}"
        );
        assert_eq!(
            get(&store, "one").await.delay_until_epoch_ms,
            Some(new_until)
        );
    }
    for (request, what) in [
        (bounce(Some("C\0s"), None, until), "debounced class name"),
        (bounce(None, Some("f\0"), until), "debounced config name"),
    ] {
        let e = err(
            store.debounce_workflow(request).await,
            ErrorKind::InvalidInput,
            what,
        );
        assert!(
            e.message().contains(what) && e.message().contains("NUL"),
            "{e}"
        );
    }
    factory.destroy(store).await;
}

/// A step recorded without timings reads back with no start or completion time, next to a
/// timed one that keeps both. Re-recording the untimed step (a retry) succeeds and changes
/// nothing; a timed write at its position is a rival's and fails with `StepConflict`.
pub async fn steps_without_times_read_back_without_times<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w", "c"), InsertOptions::default())
            .await,
        "insert w",
    );
    let untimed = StepRecord::output("w", 1, "plain", Payload::portable_json("1")).without_times();
    let timed =
        StepRecord::output("w", 2, "timed", Payload::portable_json("2")).with_times(Some(5), 7);
    for step in [untimed.clone(), timed, untimed.clone()] {
        ok(store.record_step(step, Some("c")).await, "record a step");
    }
    let steps = ok(
        store
            .list_steps("w", ListStepsOptions::default().load_output(true))
            .await,
        "list steps",
    );
    let times: Vec<_> = steps
        .iter()
        .map(|s| {
            (
                s.function_id,
                s.started_at_epoch_ms,
                s.completed_at_epoch_ms,
            )
        })
        .collect();
    assert_eq!(times, vec![(1, None, None), (2, Some(5), Some(7))]);
    assert_eq!(
        steps[0].outcome,
        Some(dbos_storage_core::Outcome::Output(Payload::portable_json(
            "1"
        )))
    );
    let rival =
        StepRecord::output("w", 1, "plain", Payload::portable_json("9")).with_times(None, 8);
    let e = err(
        store.record_step(rival, Some("c")).await,
        ErrorKind::StepConflict,
        "a timed write over an untimed row",
    );
    assert!(
        e.message()
            .contains("completed at an unknown time, this attempt at 8"),
        "{e}"
    );
    factory.destroy(store).await;
}

/// A void return and a returned JSON `null` stay apart everywhere DBOS keeps them apart: the
/// workflow that returned nothing has SQL NULL as its output and reads back as
/// [`Outcome::Void`](dbos_storage_core::Outcome::Void) from `workflow_result`, its await, reads
/// and listings, while the one that returned `null` keeps the text. A step that returned
/// nothing reads back with no outcome (the same row as a marker step) from `check_step` and
/// `list_steps`, and re-recording it is a retry. A fork copies the void step as it is, and an
/// export imported into a fresh store gives the same reads.
pub async fn void_outputs_round_trip<F: Factory>(factory: &F) {
    use dbos_storage_core::{
        AwaitOptions, ExportedWorkflow, ForkRequest, ForkStart, ImportOptions, Outcome,
        WorkflowResult, WorkflowStatus,
    };

    let store = factory.create().await;
    for id in ["void", "null"] {
        ok(
            store
                .insert_workflow(pending(id, "c"), InsertOptions::default())
                .await,
            "insert",
        );
    }
    let void_step = StepRecord::with_outcome("void", 1, "nothing", Some(Outcome::Void));
    let null_step = StepRecord::output("void", 2, "null", Payload::portable_json("null"));
    for step in [void_step.clone(), null_step, void_step] {
        ok(store.record_step(step, Some("c")).await, "record a step");
    }
    let recorded = ok(store.check_step("void", 1, "nothing").await, "check step 1");
    assert_eq!(recorded.map(|r| r.outcome), Some(None), "a void step");
    let void = store.record_outcome("void", Outcome::Void, Some("c")).await;
    assert!(ok(void, "record a void outcome"));
    let null = store
        .record_outcome("null", output("null"), Some("c"))
        .await;
    assert!(ok(null, "record a null output"));

    async fn reads<S: dbos_storage_core::SystemStore + ?Sized>(store: &S, what: &str) {
        let void = ok(store.workflow_result("void").await, "result of void");
        assert_eq!(void, WorkflowResult::Finished(Outcome::Void), "{what}");
        let awaited = ok(
            store
                .await_workflow_result("void", AwaitOptions::default())
                .await,
            "await void",
        );
        assert_eq!(awaited, WorkflowResult::Finished(Outcome::Void), "{what}");
        match ok(store.workflow_result("null").await, "result of null") {
            WorkflowResult::Finished(Outcome::Output(p)) => assert_eq!(p.text, "null", "{what}"),
            other => panic!("{what}: a returned null reads as {other:?}"),
        }
        let rows = ok(
            store.get_workflows(&ids(&["void", "null"])).await,
            "get both",
        );
        let outputs: Vec<_> = rows
            .iter()
            .map(|w| (w.status.clone(), w.output.as_deref()))
            .collect();
        assert_eq!(
            outputs,
            vec![
                (WorkflowStatus::Success, None),
                (WorkflowStatus::Success, Some("null"))
            ],
            "{what}"
        );
        let listed = ok(
            store
                .list_workflows(
                    ListWorkflowsQuery::default()
                        .workflow_ids(ids(&["void", "null"]))
                        .load_output(true),
                )
                .await,
            "list both",
        );
        let mut listed: Vec<_> = listed
            .iter()
            .map(|w| (w.workflow_id.clone(), w.output.clone()))
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            vec![("null".into(), Some("null".into())), ("void".into(), None)],
            "{what}"
        );
        let steps = ok(
            store
                .list_steps("void", ListStepsOptions::default().load_output(true))
                .await,
            "list steps",
        );
        let outcomes: Vec<_> = steps.iter().map(|s| s.outcome.clone()).collect();
        assert_eq!(
            outcomes,
            vec![None, Some(Outcome::Output(Payload::portable_json("null")))],
            "{what}"
        );
    }
    reads(&store, "as recorded").await;

    let forked = ok(
        store
            .fork_workflows(vec![
                ForkRequest::new("void", ForkStart::Step(3)).with_fork_id("fork")
            ])
            .await,
        "fork void at 3",
    );
    assert_eq!(forked.len(), 1);
    let fork_steps = ok(
        store
            .list_steps("fork", ListStepsOptions::default().load_output(true))
            .await,
        "list the fork's steps",
    );
    assert_eq!(fork_steps[0].outcome, None, "the fork copies the void step");

    let exported: Vec<ExportedWorkflow> = ok(
        store.export_workflows(&ids(&["void", "null"]), false).await,
        "export",
    );
    let fresh = factory.create().await;
    ok(
        fresh
            .import_workflows(exported, ImportOptions::default())
            .await,
        "import",
    );
    reads(&fresh, "imported").await;
    factory.destroy(fresh).await;
    factory.destroy(store).await;
}

/// Who started a workflow: its `authenticated_user`, `assumed_role` and `authenticated_roles`.
type Identity = (Option<String>, Option<String>, Option<Vec<String>>);

/// An [`Identity`] from string slices.
fn identity(user: Option<&str>, role: Option<&str>, roles: Option<&[&str]>) -> Identity {
    (
        user.map(str::to_owned),
        role.map(str::to_owned),
        roles.map(|roles| roles.iter().map(|r| (*r).to_owned()).collect()),
    )
}

/// Asserts that `read` (workflow id and identity, in any order) is exactly `expected`.
fn assert_identities(read: Vec<(String, Identity)>, expected: &[(String, Identity)], what: &str) {
    let mut read = read;
    read.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(read, expected, "{what}");
}

/// The ids and identities of `rows`.
fn identities_of(rows: &[dbos_storage_core::WorkflowInfo]) -> Vec<(String, Identity)> {
    rows.iter()
        .map(|row| {
            let identity = (
                row.authenticated_user.clone(),
                row.assumed_role.clone(),
                row.authenticated_roles.clone(),
            );
            (row.workflow_id.clone(), identity)
        })
        .collect()
}

/// The caller identity DBOS records with a workflow — `authenticated_user`, `assumed_role` and
/// the `authenticated_roles` list — reads back exactly as written, from a direct start, a batch
/// enqueue (before and after a claim) and a child start: through `get_workflows`,
/// `list_workflows`, `GetWorkflows` run as a workflow's step (and its replay) and an export
/// (roles as the JSON array text), which imports into a fresh store and reads back the same. An
/// empty role list reads back empty, not as no roles; roles keep their order, quotes and
/// non-ASCII text.
pub async fn caller_identity_is_written_and_read_back<F: Factory>(factory: &F) {
    use dbos_storage_core::workflow_steps::{StepOperation, StepOperationOutcome};
    use dbos_storage_core::{ImportOptions, SystemStore};

    let expected: Vec<(String, Identity)> = [
        (
            "full",
            identity(
                Some("alice"),
                Some("admin"),
                Some(&["reader", "admin", "on \"call\" ✓"]),
            ),
        ),
        ("no-roles", identity(Some("bob"), None, Some(&[]))),
        ("anonymous", identity(None, None, None)),
        (
            "queued",
            identity(Some("carol"), Some("worker"), Some(&["worker"])),
        ),
        ("queued-no-roles", identity(None, Some("guest"), Some(&[]))),
        (
            "child",
            identity(Some("dave"), Some("ops"), Some(&["ops", "audit"])),
        ),
    ]
    .into_iter()
    .map(|(id, identity)| (id.to_owned(), identity))
    .collect();
    let all: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
    let started_as = |workflow: NewWorkflow| {
        let (user, role, roles) = expected
            .iter()
            .find(|(id, _)| *id == workflow.workflow_id)
            .map(|(_, identity)| identity.clone())
            .expect("every workflow has an expected identity");
        workflow.with_auth(user, role, roles)
    };

    let store = factory.create().await;
    for id in ["full", "no-roles", "anonymous"] {
        ok(
            store
                .insert_workflow(started_as(pending(id, "o")), InsertOptions::default())
                .await,
            &format!("insert {id}"),
        );
    }
    ok(
        store
            .enqueue_workflows(vec![
                started_as(enqueued("queued", "q")),
                started_as(enqueued("queued-no-roles", "q")),
            ])
            .await,
        "enqueue two",
    );
    ok(
        store
            .start_child_workflow(
                "full",
                1,
                started_as(NewWorkflow::new("child", "child_fn", inputs())),
                InsertOptions::default(),
                Some("o"),
            )
            .await,
        "start the child",
    );

    async fn reads<S: SystemStore + ?Sized>(
        store: &S,
        all: &[String],
        expected: &[(String, Identity)],
        what: &str,
    ) {
        let got = ok(store.get_workflows(all).await, "get_workflows");
        assert_identities(identities_of(&got), expected, &format!("{what}: get"));
        let listed = ok(
            store
                .list_workflows(ListWorkflowsQuery::new().workflow_ids(all.to_vec()))
                .await,
            "list_workflows",
        );
        assert_identities(identities_of(&listed), expected, &format!("{what}: list"));
    }
    reads(&store, &all, &expected, "as started").await;

    let claimed = ok(
        store
            .claim_workflows(ClaimRequest::new("q", "exec", "v1"))
            .await,
        "claim q",
    )
    .claimed;
    assert_eq!(sorted(claimed), ids(&["queued", "queued-no-roles"]));
    reads(&store, &all, &expected, "after the claim").await;

    let as_step = || {
        store.run_as_step(
            crate::operator_fixtures::at("full", 2),
            StepOperation::GetWorkflows(all.clone()),
        )
    };
    for what in ["GetWorkflows as a step", "its replay"] {
        match ok(as_step().await, what) {
            StepOperationOutcome::Workflows(rows) => {
                assert_identities(identities_of(&rows), &expected, what);
            }
            other => panic!("{what} answered {other:?}"),
        }
    }

    let exported = ok(store.export_workflows(&all, false).await, "export");
    let rows: Vec<(String, Identity)> = exported
        .iter()
        .map(|w| {
            let s = &w.status;
            let roles = s.authenticated_roles.as_deref().map(|text| {
                serde_json::from_str::<Vec<String>>(text).unwrap_or_else(|e| {
                    panic!(
                        "exported roles of {} are not a JSON array: {e}: {text}",
                        s.workflow_uuid
                    )
                })
            });
            let identity = (s.authenticated_user.clone(), s.assumed_role.clone(), roles);
            (s.workflow_uuid.clone(), identity)
        })
        .collect();
    assert_identities(rows, &expected, "export");
    let fresh = factory.create().await;
    ok(
        fresh
            .import_workflows(exported, ImportOptions::default())
            .await,
        "import into a fresh store",
    );
    reads(&fresh, &all, &expected, "imported").await;
    factory.destroy(fresh).await;
    factory.destroy(store).await;
}
