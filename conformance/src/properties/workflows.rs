//! Properties of [`WorkflowStore`]: insert and reconcile, deduplication, reads, listing filters,
//! outcomes, results and waits, children, input checks and payload labels.

use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::payload::Serialization;
use dbos_storage_core::{
    AwaitOptions, CancelOptions, ErrorKind, IdReusePolicy, InsertOptions, ListWorkflowsQuery,
    NewWorkflow, Outcome, Payload, SortOrder, StepRecord, SystemStore, WorkflowInfo,
    WorkflowResult, WorkflowStatus,
};
use serde_json::json;

use crate::checks::*;
use crate::Factory;

/// Insert reconciles by creator token: a new `PENDING` row should execute (owned, one recovery
/// attempt); a retry by the same creator finds its own row and should execute again; another
/// creator attaches (`existed`, not `should_execute`); once finished, even the creator's retry
/// must not execute.
pub async fn insert_reconciles_by_creator<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let first = ok(
        store
            .insert_workflow(pending("w1", "creator-a"), InsertOptions::default())
            .await,
        "insert w1",
    );
    assert_eq!(first.status, WorkflowStatus::Pending, "new direct start");
    assert!(first.should_execute, "a new PENDING row should execute");
    assert!(!first.existed, "a new row did not exist before");
    assert_eq!(first.queue_name, None);
    assert_eq!(first.serialization, Some(Serialization::PortableJson));

    let row = get(&store, "w1").await;
    assert_eq!(row.status, WorkflowStatus::Pending);
    assert_eq!(row.name, "wf_fn");
    assert_eq!(
        row.recovery_attempts, 1,
        "a direct start counts one attempt"
    );
    assert_eq!(row.inputs.as_deref(), Some(inputs().text.as_str()));
    assert_eq!(row.serialization, Some(Serialization::PortableJson));
    assert_eq!(row.completed_at, None);
    assert!(row.created_at > 0, "created_at is stamped");

    let retry = ok(
        store
            .insert_workflow(pending("w1", "creator-a"), InsertOptions::default())
            .await,
        "retry of insert w1 by its creator",
    );
    assert!(
        retry.should_execute && !retry.existed,
        "a retried commit must recognise its own row: {retry:?}"
    );
    let rival = ok(
        store
            .insert_workflow(pending("w1", "creator-b"), InsertOptions::default())
            .await,
        "insert w1 by another creator",
    );
    assert!(
        rival.existed && !rival.should_execute,
        "another creator attaches to the existing row: {rival:?}"
    );
    assert_eq!(rival.status, WorkflowStatus::Pending);
    assert_eq!(
        get(&store, "w1").await.recovery_attempts,
        1,
        "reconciling inserts do not count attempts"
    );

    assert!(ok(
        store
            .record_outcome("w1", output("1"), Some("creator-a"))
            .await,
        "record_outcome w1"
    ));
    let after = ok(
        store
            .insert_workflow(pending("w1", "creator-a"), InsertOptions::default())
            .await,
        "insert w1 after it finished",
    );
    assert_eq!(after.status, WorkflowStatus::Success);
    assert!(
        !after.should_execute,
        "a finished workflow must not execute again"
    );
    factory.destroy(store).await;
}

/// Under [`IdReusePolicy::Reject`], an id created by someone else fails with `WorkflowIdInUse`,
/// while the creator's own retry still succeeds.
pub async fn insert_reject_policy_refuses_foreign_ids<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let reject = InsertOptions::default().reuse_policy(IdReusePolicy::Reject);
    ok(
        store
            .insert_workflow(pending("w1", "a"), reject.clone())
            .await,
        "insert w1",
    );
    err(
        store
            .insert_workflow(pending("w1", "b"), reject.clone())
            .await,
        ErrorKind::WorkflowIdInUse,
        "insert w1 by another creator under Reject",
    );
    let own = ok(
        store.insert_workflow(pending("w1", "a"), reject).await,
        "retry of insert w1 by its creator under Reject",
    );
    assert!(own.should_execute && !own.existed, "{own:?}");
    factory.destroy(store).await;
}

/// Reusing an id for another function, class or config fails with `WorkflowConflict` (even for
/// the same creator); another queue is not a conflict and reports the existing row's queue.
pub async fn insert_conflicting_function_fails<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let base = pending("w1", "a").with_class(Some("Cls".into()), Some("cfg".into()));
    ok(
        store
            .insert_workflow(base.clone(), InsertOptions::default())
            .await,
        "insert w1",
    );
    let mut other_name = base.clone();
    other_name.name = "other_fn".into();
    let other_class = base
        .clone()
        .with_class(Some("Other".into()), Some("cfg".into()));
    let other_config = base
        .clone()
        .with_class(Some("Cls".into()), Some("other".into()));
    let no_class = base.clone().with_class(None, None);
    // Each case with what its message must name, quoted: the existing workflow's and the
    // attempted one's differing name, class or config.
    for (what, wf, named) in [
        ("another name", other_name, ["\"wf_fn\"", "\"other_fn\""]),
        ("another class", other_class, ["\"Cls\"", "\"Other\""]),
        ("another config", other_config, ["\"cfg\"", "\"other\""]),
        ("no class", no_class, ["\"wf_fn\"", "\"Cls\""]),
    ] {
        let e = err(
            store
                .insert_workflow(wf.clone(), InsertOptions::default())
                .await,
            ErrorKind::WorkflowConflict,
            &format!("insert w1 with {what}"),
        );
        for name in std::iter::once("w1").chain(named) {
            assert!(
                e.message().contains(name),
                "the conflict of w1 with {what} names {name}: {e}"
            );
        }
        err(
            store
                .insert_workflow(wf.with_creator_xid("b"), InsertOptions::default())
                .await,
            ErrorKind::WorkflowConflict,
            &format!("insert w1 with {what} by another creator"),
        );
    }
    assert_eq!(get(&store, "w1").await.name, "wf_fn", "w1 is unchanged");

    ok(
        store
            .insert_workflow(enqueued("q1", "queue-a"), InsertOptions::default())
            .await,
        "enqueue q1",
    );
    let moved = ok(
        store
            .insert_workflow(enqueued("q1", "queue-b"), InsertOptions::default())
            .await,
        "enqueue q1 on another queue",
    );
    assert!(moved.existed && !moved.should_execute, "{moved:?}");
    assert_eq!(moved.queue_name.as_deref(), Some("queue-a"));
    assert_eq!(
        get(&store, "q1").await.queue_name.as_deref(),
        Some("queue-a")
    );
    factory.destroy(store).await;
}

/// `ENQUEUED` and `DELAYED` rows start with no owner and zero recovery attempts; a direct start
/// with a timeout gets a deadline, an explicit deadline wins, and an enqueue keeps only the
/// timeout (its deadline is set when a queue claims it).
pub async fn insert_initial_columns<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let e = ok(
        store
            .insert_workflow(
                enqueued("e1", "q").with_creator_xid("c"),
                InsertOptions::default(),
            )
            .await,
        "enqueue e1",
    );
    assert_eq!(e.status, WorkflowStatus::Enqueued);
    assert!(!e.should_execute && !e.existed, "{e:?}");
    assert_eq!(e.queue_name.as_deref(), Some("q"));
    let row = get(&store, "e1").await;
    assert_eq!(
        row.recovery_attempts, 0,
        "an enqueued row has no attempts yet"
    );
    assert_eq!(row.queue_name.as_deref(), Some("q"));
    assert_eq!(row.started_at_epoch_ms, None);
    assert!(
        !ok(
            store.record_outcome("e1", output("1"), Some("c")).await,
            "record_outcome e1"
        ),
        "an ENQUEUED row has no owner, even its creator"
    );
    assert!(
        !ok(
            store.record_outcome("e1", output("1"), None).await,
            "record_outcome e1"
        ),
        "an outcome applies only to a PENDING row"
    );

    let until = dbos_storage_core::now_epoch_ms() + 3_600_000;
    let d = ok(
        store
            .insert_workflow(
                NewWorkflow::new("d1", "wf_fn", inputs()).delayed("q", until),
                InsertOptions::default(),
            )
            .await,
        "insert delayed d1",
    );
    assert_eq!(d.status, WorkflowStatus::Delayed);
    let row = get(&store, "d1").await;
    assert_eq!(row.status, WorkflowStatus::Delayed);
    assert_eq!(row.delay_until_epoch_ms, Some(until));
    assert_eq!(row.recovery_attempts, 0);

    let timeout = Duration::from_secs(90);
    ok(
        store
            .insert_workflow(
                pending("t1", "c").with_timeout(timeout),
                InsertOptions::default(),
            )
            .await,
        "insert t1 with a timeout",
    );
    let row = get(&store, "t1").await;
    assert_eq!(row.workflow_timeout_ms, Some(90_000));
    let deadline = row
        .workflow_deadline_epoch_ms
        .expect("a direct start with a timeout has a deadline");
    let offset = deadline - row.created_at;
    assert!(
        (89_000..=91_000).contains(&offset),
        "the deadline is now + timeout: deadline {deadline}, created_at {}",
        row.created_at
    );

    ok(
        store
            .insert_workflow(
                pending("t2", "c")
                    .with_timeout(timeout)
                    .with_deadline(until),
                InsertOptions::default(),
            )
            .await,
        "insert t2 with a deadline",
    );
    assert_eq!(
        get(&store, "t2").await.workflow_deadline_epoch_ms,
        Some(until),
        "an explicit deadline takes precedence"
    );

    ok(
        store
            .insert_workflow(
                enqueued("t3", "q").with_timeout(timeout),
                InsertOptions::default(),
            )
            .await,
        "enqueue t3 with a timeout",
    );
    let row = get(&store, "t3").await;
    assert_eq!(row.workflow_timeout_ms, Some(90_000));
    assert_eq!(
        row.workflow_deadline_epoch_ms, None,
        "an enqueued workflow gets its deadline when claimed"
    );
    factory.destroy(store).await;
}

/// A deduplication id is unique per queue while set: a collision fails with `Deduplicated` and
/// writes nothing, another queue or id is fine, and the id is released when the holder records
/// its outcome or is cancelled.
pub async fn deduplication_is_per_queue_while_set<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    ok(
        store
            .insert_workflow(enqueued("d1", "q1").with_deduplication_id("k"), opts())
            .await,
        "enqueue d1 with k",
    );
    let e = err(
        store
            .insert_workflow(enqueued("d2", "q1").with_deduplication_id("k"), opts())
            .await,
        ErrorKind::Deduplicated,
        "enqueue d2 with k on the same queue",
    );
    assert!(!e.message().is_empty());
    assert!(
        !exists(&store, "d2").await,
        "a deduplicated insert writes nothing"
    );
    ok(
        store
            .insert_workflow(enqueued("d3", "q2").with_deduplication_id("k"), opts())
            .await,
        "enqueue d3 with k on another queue",
    );
    ok(
        store
            .insert_workflow(enqueued("d4", "q1").with_deduplication_id("k2"), opts())
            .await,
        "enqueue d4 with another id",
    );
    ok(
        store.insert_workflow(enqueued("d5", "q1"), opts()).await,
        "enqueue d5 without an id",
    );
    ok(
        store.insert_workflow(enqueued("d6", "q1"), opts()).await,
        "enqueue d6 without an id",
    );
    assert_eq!(
        get(&store, "d1").await.deduplication_id.as_deref(),
        Some("k")
    );

    // Released by the outcome of a running holder.
    let mut holder = pending("p1", "owner").with_deduplication_id("r");
    holder.queue_name = Some("q1".into());
    ok(
        store.insert_workflow(holder, opts()).await,
        "start p1 with r",
    );
    err(
        store
            .insert_workflow(enqueued("p2", "q1").with_deduplication_id("r"), opts())
            .await,
        ErrorKind::Deduplicated,
        "enqueue p2 with r while p1 holds it",
    );
    assert!(ok(
        store.record_outcome("p1", output("1"), Some("owner")).await,
        "record_outcome p1"
    ));
    assert_eq!(
        get(&store, "p1").await.deduplication_id,
        None,
        "record_outcome clears the deduplication id"
    );
    ok(
        store
            .insert_workflow(enqueued("p2", "q1").with_deduplication_id("r"), opts())
            .await,
        "enqueue p2 with r after p1 finished",
    );

    // Released by cancelling the holder.
    ok(
        store
            .insert_workflow(enqueued("c1", "q1").with_deduplication_id("c"), opts())
            .await,
        "enqueue c1 with c",
    );
    err(
        store
            .insert_workflow(enqueued("c2", "q1").with_deduplication_id("c"), opts())
            .await,
        ErrorKind::Deduplicated,
        "enqueue c2 with c while c1 holds it",
    );
    ok(
        store
            .cancel_workflows(&ids(&["c1"]), CancelOptions::default())
            .await,
        "cancel c1",
    );
    assert_eq!(get(&store, "c1").await.deduplication_id, None);
    ok(
        store
            .insert_workflow(enqueued("c2", "q1").with_deduplication_id("c"), opts())
            .await,
        "enqueue c2 with c after c1 was cancelled",
    );
    factory.destroy(store).await;
}

/// `get_workflows` answers in request order, omits missing ids and loads inputs, outputs and
/// errors.
pub async fn get_workflows_in_request_order<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for (id, text) in [("g1", "[1]"), ("g2", "[2]"), ("g3", "[3]")] {
        let wf = NewWorkflow::new(id, "wf_fn", Payload::portable_json(text)).with_creator_xid("o");
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            "insert",
        );
    }
    assert!(ok(
        store
            .record_outcome("g1", output("\"one\""), Some("o"))
            .await,
        "g1"
    ));
    assert!(ok(
        store
            .record_outcome("g2", error(r#"{"name":"E","message":"m"}"#), Some("o"))
            .await,
        "g2"
    ));
    let rows = ok(
        store
            .get_workflows(&ids(&["g3", "missing", "g1", "g2"]))
            .await,
        "get_workflows",
    );
    let got: Vec<&str> = rows.iter().map(|r| r.workflow_id.as_str()).collect();
    assert_eq!(got, ["g3", "g1", "g2"], "request order, missing omitted");
    assert_eq!(rows[0].inputs.as_deref(), Some("[3]"));
    assert_eq!(rows[0].output, None);
    assert_eq!(rows[1].inputs.as_deref(), Some("[1]"));
    assert_eq!(rows[1].output.as_deref(), Some("\"one\""));
    assert_eq!(rows[1].error, None);
    assert_eq!(rows[2].status, WorkflowStatus::Error);
    assert_eq!(
        rows[2].error.as_deref(),
        Some(r#"{"name":"E","message":"m"}"#)
    );
    assert_eq!(rows[2].output, None);
    assert!(ok(store.get_workflows(&[]).await, "get_workflows([])").is_empty());
    factory.destroy(store).await;
}

/// The fixture of the listing properties, in creation order:
///
/// | id | name | status | queue | executor | version | user | app | parent |
/// |---|---|---|---|---|---|---|---|---|
/// | `job_1` | alpha | PENDING | | exec-a | v1 | alice | app1 | |
/// | `job%2` | beta | ENQUEUED | q1 | exec-b | v2 | bob | app2 | |
/// | `jobx3` | alpha | ENQUEUED | q2 | exec-a | v1 | | | |
/// | `job_x4` | beta | PENDING | | | v2 | alice | app1 | `job_1` |
/// | `other5` | gamma | SUCCESS | | | | | app2 | |
/// | `other6` | gamma | CANCELLED (was on q1) | | | | | app2 | |
///
/// Rows are written a few milliseconds apart so that their `created_at` differ.
const LISTED: [&str; 6] = ["job_1", "job%2", "jobx3", "job_x4", "other5", "other6"];

async fn list_fixture<S: SystemStore>(store: &S) -> Vec<WorkflowInfo> {
    let fixture = [
        NewWorkflow::new("job_1", "alpha", inputs())
            .with_executor("exec-a")
            .with_application_version("v1")
            .with_auth(Some("alice".into()), None, None)
            .with_application_name("app1"),
        NewWorkflow::new("job%2", "beta", inputs())
            .enqueued("q1")
            .with_executor("exec-b")
            .with_application_version("v2")
            .with_auth(Some("bob".into()), None, None)
            .with_application_name("app2"),
        NewWorkflow::new("jobx3", "alpha", inputs())
            .enqueued("q2")
            .with_executor("exec-a")
            .with_application_version("v1"),
        NewWorkflow::new("job_x4", "beta", inputs())
            .with_application_version("v2")
            .with_auth(Some("alice".into()), None, None)
            .with_application_name("app1")
            .with_parent("job_1"),
        NewWorkflow::new("other5", "gamma", inputs()).with_application_name("app2"),
        NewWorkflow::new("other6", "gamma", inputs())
            .enqueued("q1")
            .with_application_name("app2"),
    ];
    for wf in fixture {
        let id = wf.workflow_id.clone();
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            &format!("insert {id}"),
        );
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert!(ok(
        store.record_outcome("other5", output("5"), None).await,
        "finish other5"
    ));
    tokio::time::sleep(Duration::from_millis(3)).await;
    ok(
        store
            .cancel_workflows(&ids(&["other6"]), CancelOptions::default())
            .await,
        "cancel other6",
    );
    ok(store.get_workflows(&ids(&LISTED)).await, "read the fixture")
}

async fn listed<S: SystemStore>(store: &S, query: ListWorkflowsQuery, what: &str) -> Vec<String> {
    id_set(&ok(
        store.list_workflows(query).await,
        &format!("list_workflows {what}"),
    ))
}

fn expect(list: &[&str]) -> Vec<String> {
    sorted(ids(list))
}

/// Each column filter of `list_workflows` (ids, status, name, version, executor, queue, user,
/// parent, `has_parent`, schedule, forks, `queues_only`) matches exactly the rows it names, and
/// list filters match any of their values.
pub async fn list_filters_match_columns<F: Factory>(factory: &F) {
    let store = factory.create().await;
    list_fixture(&store).await;
    let q = ListWorkflowsQuery::new;
    let cases: Vec<(&str, ListWorkflowsQuery, Vec<String>)> = vec![
        ("no filter", q(), expect(&LISTED)),
        (
            "ids",
            q().workflow_ids(["job%2", "other5", "missing"]),
            expect(&["job%2", "other5"]),
        ),
        (
            "ids ignore the application scope",
            q().workflow_ids(["job%2", "job_1"])
                .application_name("app2"),
            expect(&["job%2", "job_1"]),
        ),
        (
            "status PENDING",
            q().status(vec![WorkflowStatus::Pending]),
            expect(&["job_1", "job_x4"]),
        ),
        (
            "status SUCCESS or CANCELLED",
            q().status(vec![WorkflowStatus::Success, WorkflowStatus::Cancelled]),
            expect(&["other5", "other6"]),
        ),
        (
            "name alpha",
            q().name(["alpha"]),
            expect(&["job_1", "jobx3"]),
        ),
        (
            "name beta or gamma",
            q().name(["beta", "gamma"]),
            expect(&["job%2", "job_x4", "other5", "other6"]),
        ),
        (
            "application version v2",
            q().application_version(["v2"]),
            expect(&["job%2", "job_x4"]),
        ),
        (
            "executor exec-a",
            q().executor_id(["exec-a"]),
            expect(&["job_1", "jobx3"]),
        ),
        ("queue q1", q().queue_name(["q1"]), expect(&["job%2"])),
        (
            "queue q1 or q2",
            q().queue_name(["q1", "q2"]),
            expect(&["job%2", "jobx3"]),
        ),
        (
            "user alice",
            q().authenticated_user(["alice"]),
            expect(&["job_1", "job_x4"]),
        ),
        (
            "parent job_1",
            q().parent_workflow_id("job_1"),
            expect(&["job_x4"]),
        ),
        ("has a parent", q().has_parent(true), expect(&["job_x4"])),
        (
            "has no parent",
            q().has_parent(false),
            expect(&["job_1", "job%2", "jobx3", "other5", "other6"]),
        ),
        ("schedule", q().schedule_name("nightly"), vec![]),
        ("forked from", q().forked_from("job_1"), vec![]),
        ("is a fork", q().is_fork(true), vec![]),
        ("is not a fork", q().is_fork(false), expect(&LISTED)),
        ("was forked from", q().was_forked_from(true), vec![]),
        (
            "was not forked from",
            q().was_forked_from(false),
            expect(&LISTED),
        ),
        (
            "queues only",
            q().queues_only(true),
            expect(&["job%2", "jobx3"]),
        ),
        (
            "queues only with a status",
            q().queues_only(true).status(vec![WorkflowStatus::Enqueued]),
            expect(&["job%2", "jobx3"]),
        ),
        (
            "name and status together",
            q().name(["alpha"]).status(vec![WorkflowStatus::Enqueued]),
            expect(&["jobx3"]),
        ),
        (
            "empty id list",
            q().workflow_ids(Vec::<String>::new()),
            vec![],
        ),
    ];
    for (what, query, want) in cases {
        assert_eq!(
            listed(&store, query, what).await,
            want,
            "list_workflows filtered by {what}"
        );
    }
    factory.destroy(store).await;
}

/// The id prefix filter matches `%` and `_` literally (they are not LIKE wildcards).
pub async fn list_prefix_is_literal<F: Factory>(factory: &F) {
    let store = factory.create().await;
    list_fixture(&store).await;
    let prefix = |p: &str| ListWorkflowsQuery::new().workflow_id_prefix(p);
    for (p, want) in [
        ("job", expect(&["job_1", "job%2", "jobx3", "job_x4"])),
        ("job_", expect(&["job_1", "job_x4"])),
        ("job%", expect(&["job%2"])),
        ("job_x", expect(&["job_x4"])),
        ("%", vec![]),
        ("_", vec![]),
        ("other", expect(&["other5", "other6"])),
        ("job_1", expect(&["job_1"])),
        ("job_1x", vec![]),
    ] {
        assert_eq!(
            listed(&store, prefix(p), &format!("prefix {p:?}")).await,
            want,
            "list_workflows with prefix {p:?}"
        );
    }
    factory.destroy(store).await;
}

/// An id prefix finds every id that starts with it, wherever the prefix sorts: past `z`, in
/// non-ASCII text, and ending in U+10FFFF (the last code point, which no character follows);
/// ids that only share its first characters, or sort right after it, are left out.
pub async fn list_prefix_finds_ids_past_ascii<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let all = [
        "zeta-1",
        "zeta-2",
        "zetb",
        "\u{fc}-1",
        "\u{fc}\u{10FFFF}",
        "\u{fc}\u{10FFFF}\u{10FFFF}",
        "\u{fd}",
        "\u{10FFFF}\u{10FFFF}",
    ];
    for id in all {
        ok(
            store
                .insert_workflow(pending(id, "o"), InsertOptions::default())
                .await,
            &format!("insert {id:?}"),
        );
    }
    let prefix = |p: &str| ListWorkflowsQuery::new().workflow_id_prefix(p);
    for (p, want) in [
        ("zeta", expect(&["zeta-1", "zeta-2"])),
        ("zet", expect(&["zeta-1", "zeta-2", "zetb"])),
        (
            "\u{fc}",
            expect(&["\u{fc}-1", "\u{fc}\u{10FFFF}", "\u{fc}\u{10FFFF}\u{10FFFF}"]),
        ),
        (
            "\u{fc}\u{10FFFF}",
            expect(&["\u{fc}\u{10FFFF}", "\u{fc}\u{10FFFF}\u{10FFFF}"]),
        ),
        ("\u{10FFFF}", expect(&["\u{10FFFF}\u{10FFFF}"])),
        ("\u{fd}", expect(&["\u{fd}"])),
    ] {
        assert_eq!(
            listed(&store, prefix(p), &format!("prefix {p:?}")).await,
            want,
            "list_workflows with prefix {p:?}"
        );
    }
    factory.destroy(store).await;
}

/// Time filters bound `created_at`, `completed_at` and `started_at_epoch_ms` (inclusive; a row
/// without the time never matches its bound); rows come in `created_at` order, reversed by a
/// descending sort, and `limit`/`offset` page through that order.
pub async fn list_times_order_and_paging<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let rows = list_fixture(&store).await;
    let created: Vec<i64> = rows.iter().map(|r| r.created_at).collect();
    assert!(
        created.windows(2).all(|w| w[0] < w[1]),
        "rows written 3 ms apart have increasing created_at: {created:?}"
    );
    let ids_where = |pred: &dyn Fn(&WorkflowInfo) -> bool| -> Vec<String> {
        sorted(
            rows.iter()
                .filter(|r| pred(r))
                .map(|r| r.workflow_id.clone())
                .collect(),
        )
    };
    let q = ListWorkflowsQuery::new;
    let (t2, t4) = (created[2], created[4]);
    assert_eq!(
        listed(&store, q().start_time(t2), "start_time").await,
        ids_where(&|r| r.created_at >= t2)
    );
    assert_eq!(
        listed(&store, q().end_time(t2), "end_time").await,
        ids_where(&|r| r.created_at <= t2)
    );
    assert_eq!(
        listed(&store, q().start_time(t2).end_time(t4), "created between").await,
        expect(&["jobx3", "job_x4", "other5"])
    );
    let done5 = rows[4].completed_at.expect("other5 finished");
    let done6 = rows[5].completed_at.expect("other6 was cancelled");
    assert!(done5 < done6, "other6 was cancelled after other5 finished");
    assert_eq!(
        listed(&store, q().completed_after(done5), "completed_after").await,
        expect(&["other5", "other6"])
    );
    assert_eq!(
        listed(&store, q().completed_after(done6), "completed_after").await,
        expect(&["other6"])
    );
    assert_eq!(
        listed(&store, q().completed_before(done5), "completed_before").await,
        expect(&["other5"])
    );
    assert_eq!(
        listed(&store, q().dequeued_after(0), "dequeued_after").await,
        Vec::<String>::new(),
        "no row was claimed from a queue"
    );
    assert_eq!(
        listed(&store, q().dequeued_before(i64::MAX), "dequeued_before").await,
        Vec::<String>::new()
    );

    let order = |query: ListWorkflowsQuery, what: &'static str| {
        let store = &store;
        async move {
            ok(store.list_workflows(query).await, what)
                .into_iter()
                .map(|r| r.workflow_id)
                .collect::<Vec<_>>()
        }
    };
    let ascending = ids(&LISTED);
    let mut descending = ascending.clone();
    descending.reverse();
    assert_eq!(order(q(), "ascending").await, ascending, "created_at order");
    assert_eq!(
        order(q().sort(SortOrder::Descending), "descending").await,
        descending,
        "descending order"
    );
    assert_eq!(order(q().limit(2), "limit").await, ascending[..2]);
    assert_eq!(
        order(q().offset(2).limit(2), "offset+limit").await,
        ascending[2..4]
    );
    assert_eq!(order(q().offset(5), "offset").await, ascending[5..]);
    assert_eq!(
        order(q().offset(6), "offset past the end").await,
        [] as [String; 0]
    );
    assert_eq!(
        order(q().sort(SortOrder::Descending).limit(2), "descending limit").await,
        descending[..2]
    );
    assert_eq!(
        order(
            q().name(["gamma", "alpha"]).offset(1).limit(2),
            "filtered page"
        )
        .await,
        ["jobx3", "other5"]
    );
    assert_eq!(order(q().limit(0), "limit 0").await, [] as [String; 0]);
    factory.destroy(store).await;
}

/// Without ids, `application_name` scopes a listing to that application's rows plus unclaimed
/// rows; inputs and outputs are loaded only when asked for.
pub async fn list_scoping_and_shape<F: Factory>(factory: &F) {
    let store = factory.create().await;
    list_fixture(&store).await;
    let q = ListWorkflowsQuery::new;
    assert_eq!(
        listed(&store, q().application_name("app1"), "app1").await,
        expect(&["job_1", "job_x4", "jobx3"])
    );
    assert_eq!(
        listed(&store, q().application_name("app2"), "app2").await,
        expect(&["job%2", "jobx3", "other5", "other6"])
    );
    assert_eq!(
        listed(&store, q().application_name("app3"), "app3").await,
        expect(&["jobx3"])
    );

    let bare = ok(
        store.list_workflows(q().workflow_ids(["other5"])).await,
        "list other5",
    );
    assert_eq!(bare.len(), 1);
    assert_eq!(bare[0].inputs, None, "inputs are not loaded by default");
    assert_eq!(bare[0].output, None, "outputs are not loaded by default");
    assert_eq!(bare[0].name, "gamma");
    assert_eq!(bare[0].status, WorkflowStatus::Success);
    let full = ok(
        store
            .list_workflows(
                q().workflow_ids(["other5"])
                    .load_input(true)
                    .load_output(true),
            )
            .await,
        "list other5 with inputs and outputs",
    );
    assert_eq!(full[0].inputs.as_deref(), Some(inputs().text.as_str()));
    assert_eq!(full[0].output.as_deref(), Some("5"));
    let inputs_only = ok(
        store
            .list_workflows(q().workflow_ids(["other5"]).load_input(true))
            .await,
        "list other5 with inputs",
    );
    assert!(inputs_only[0].inputs.is_some() && inputs_only[0].output.is_none());
    let outputs_only = ok(
        store
            .list_workflows(q().workflow_ids(["other5"]).load_output(true))
            .await,
        "list other5 with outputs",
    );
    assert!(outputs_only[0].inputs.is_none() && outputs_only[0].output.is_some());
    factory.destroy(store).await;
}

/// Attributes round-trip through `get_workflows`. On a backend that declares
/// `attribute_filter`, listing by attributes matches by containment; on one that does not, the
/// filter fails with `Unsupported` saying so instead of being ignored. This is the property
/// that checks the declared `attribute_filter` against behaviour (the other capabilities are
/// not observable through the contract).
pub async fn attribute_filter_follows_capability<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let attrs = |v: serde_json::Value| match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("attribute maps are JSON objects"),
    };
    let red = attrs(json!({"team": "red", "n": 1, "tags": ["a", "b"]}));
    let blue = attrs(json!({"team": "blue", "n": 2}));
    for (id, a) in [("a1", Some(red.clone())), ("a2", Some(blue)), ("a3", None)] {
        let mut wf = pending(id, "o");
        wf.attributes = a;
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            "insert",
        );
    }
    assert_eq!(get(&store, "a1").await.attributes, Some(red));
    assert_eq!(get(&store, "a3").await.attributes, None);

    let by = |v| ListWorkflowsQuery::new().attributes(attrs(v));
    if factory.capabilities().attribute_filter {
        for (filter, want) in [
            (json!({"team": "red"}), expect(&["a1"])),
            (json!({"team": "red", "n": 1}), expect(&["a1"])),
            (json!({"tags": ["b"]}), expect(&["a1"])),
            (json!({"team": "red", "n": 2}), vec![]),
            (json!({"team": "green"}), vec![]),
        ] {
            assert_eq!(
                listed(&store, by(filter.clone()), "by attributes").await,
                want,
                "list_workflows with attributes {filter}"
            );
        }
    } else {
        let e = err(
            store.list_workflows(by(json!({"team": "red"}))).await,
            ErrorKind::Unsupported,
            "an attribute filter on a backend without attribute_filter",
        );
        assert!(
            e.message().contains("attribute"),
            "the refusal says what is unsupported: {e}"
        );
    }
    factory.destroy(store).await;
}

/// `record_outcome` applies only while the row is `PENDING` and, when a token is given, owned
/// by it; it clears the owner so nobody can record again.
pub async fn record_outcome_requires_pending_and_owner<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    ok(
        store.insert_workflow(pending("w1", "o1"), opts()).await,
        "w1",
    );
    assert!(
        !ok(
            store
                .record_outcome("w1", output("\"x\""), Some("o2"))
                .await,
            "record with a foreign token"
        ),
        "a foreign owner token must not record"
    );
    assert_eq!(get(&store, "w1").await.status, WorkflowStatus::Pending);
    assert!(
        ok(
            store
                .record_outcome("w1", output("\"mine\""), Some("o1"))
                .await,
            "record with the owner token"
        ),
        "the owner records the outcome"
    );
    let row = get(&store, "w1").await;
    assert_eq!(row.status, WorkflowStatus::Success);
    assert_eq!(row.output.as_deref(), Some("\"mine\""));
    assert!(row.completed_at.is_some(), "completed_at is stamped");
    for owner in [Some("o1"), None] {
        assert!(
            !ok(
                store.record_outcome("w1", output("\"again\""), owner).await,
                "record again"
            ),
            "a finished workflow keeps its first outcome (owner {owner:?})"
        );
    }
    assert_eq!(get(&store, "w1").await.output.as_deref(), Some("\"mine\""));

    ok(
        store.insert_workflow(pending("w2", "o1"), opts()).await,
        "w2",
    );
    assert!(
        ok(
            store.record_outcome("w2", error("{}"), None).await,
            "record without a token"
        ),
        "without a token the ownership check is skipped"
    );
    assert_eq!(get(&store, "w2").await.status, WorkflowStatus::Error);

    ok(
        store.insert_workflow(pending("w3", "o1"), opts()).await,
        "w3",
    );
    ok(
        store
            .cancel_workflows(&ids(&["w3"]), CancelOptions::default())
            .await,
        "cancel w3",
    );
    assert!(
        !ok(
            store.record_outcome("w3", output("1"), Some("o1")).await,
            "record after cancel"
        ),
        "a cancelled workflow cannot record an outcome"
    );
    assert!(!ok(
        store.record_outcome("w3", output("1"), None).await,
        "record after cancel without a token"
    ));
    assert_eq!(get(&store, "w3").await.status, WorkflowStatus::Cancelled);
    assert!(
        !ok(
            store.record_outcome("missing", output("1"), None).await,
            "record for a missing workflow"
        ),
        "a missing workflow records nothing"
    );
    factory.destroy(store).await;
}

/// `workflow_result` reports each status: missing, active (`PENDING`, `ENQUEUED`, `DELAYED`),
/// `SUCCESS` with its output, `ERROR` with its error, `CANCELLED`.
pub async fn workflow_result_for_each_status<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    let result = |id: &'static str| {
        let store = &store;
        async move { ok(store.workflow_result(id).await, id) }
    };
    assert_eq!(result("missing").await, WorkflowResult::NotFound);
    ok(store.insert_workflow(pending("p", "o"), opts()).await, "p");
    ok(store.insert_workflow(enqueued("e", "q"), opts()).await, "e");
    let delayed = NewWorkflow::new("d", "wf_fn", inputs()).delayed("q", i64::MAX / 2);
    ok(store.insert_workflow(delayed, opts()).await, "d");
    ok(store.insert_workflow(pending("s", "o"), opts()).await, "s");
    ok(store.insert_workflow(pending("f", "o"), opts()).await, "f");
    ok(store.insert_workflow(pending("c", "o"), opts()).await, "c");
    let out = output(r#"{"answer":42}"#);
    let fail = error(r#"{"name":"ValueError","message":"bad"}"#);
    assert!(ok(
        store.record_outcome("s", out.clone(), Some("o")).await,
        "s"
    ));
    assert!(ok(
        store.record_outcome("f", fail.clone(), Some("o")).await,
        "f"
    ));
    ok(
        store
            .cancel_workflows(&ids(&["c"]), CancelOptions::default())
            .await,
        "cancel c",
    );
    assert_eq!(
        result("p").await,
        WorkflowResult::Active(WorkflowStatus::Pending)
    );
    assert_eq!(
        result("e").await,
        WorkflowResult::Active(WorkflowStatus::Enqueued)
    );
    assert_eq!(
        result("d").await,
        WorkflowResult::Active(WorkflowStatus::Delayed)
    );
    assert_eq!(result("s").await, WorkflowResult::Finished(out));
    assert_eq!(result("f").await, WorkflowResult::Finished(fail));
    assert_eq!(result("c").await, WorkflowResult::Cancelled);
    factory.destroy(store).await;
}

/// `await_workflow_result` returns when another task records the outcome, and waits for a
/// workflow that does not exist yet.
pub async fn await_result_wakes_on_outcome<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    ok(
        store
            .insert_workflow(pending("w1", "o"), InsertOptions::default())
            .await,
        "w1",
    );
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.await_workflow_result("w1", quick_wait()).await })
    };
    let late = {
        let store = store.clone();
        tokio::spawn(async move { store.await_workflow_result("late", quick_wait()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiter.is_finished(),
        "await_workflow_result returned while the workflow was still PENDING"
    );
    assert!(
        !late.is_finished(),
        "await_workflow_result returned for a workflow that does not exist yet"
    );
    assert!(ok(
        store.record_outcome("w1", output("7"), Some("o")).await,
        "record w1"
    ));
    let got = waiter.await.expect("the waiting task panicked");
    assert_eq!(
        ok(got, "await_workflow_result w1"),
        WorkflowResult::Finished(output("7"))
    );

    ok(
        store
            .insert_workflow(pending("late", "o"), InsertOptions::default())
            .await,
        "late",
    );
    assert!(ok(
        store
            .record_outcome("late", error("\"x\""), Some("o"))
            .await,
        "record late"
    ));
    let got = late.await.expect("the waiting task panicked");
    assert_eq!(
        ok(got, "await_workflow_result late"),
        WorkflowResult::Finished(error("\"x\""))
    );
    destroy_shared(factory, store).await;
}

/// `await_workflow_result` gives up with `Timeout` after its timeout, for an active workflow and
/// for a missing one; with `fail_if_missing` a missing workflow is `NotFound` at once; a
/// terminal workflow answers at once.
pub async fn await_result_timeout_and_missing<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store
            .insert_workflow(pending("w1", "o"), InsertOptions::default())
            .await,
        "w1",
    );
    let short = AwaitOptions::default()
        .poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_millis(100));
    err(
        store.await_workflow_result("w1", short.clone()).await,
        ErrorKind::Timeout,
        "await an active workflow past its timeout",
    );
    err(
        store.await_workflow_result("missing", short.clone()).await,
        ErrorKind::Timeout,
        "await a missing workflow past its timeout",
    );
    let missing = err(
        store
            .await_workflow_result("missing", quick_wait().fail_if_missing(true))
            .await,
        ErrorKind::NotFound,
        "await a missing workflow with fail_if_missing",
    );
    assert!(
        missing.message().contains("missing"),
        "the error names the workflow: {missing}"
    );
    ok(
        store
            .cancel_workflows(&ids(&["w1"]), CancelOptions::default())
            .await,
        "cancel w1",
    );
    assert_eq!(
        ok(
            store.await_workflow_result("w1", short).await,
            "await a cancelled workflow"
        ),
        WorkflowResult::Cancelled
    );
    factory.destroy(store).await;
}

/// `first_finished` names a workflow of the list that is no longer active (missing ids never
/// count), and `await_first_finished` wakes when one finishes, times out otherwise, and refuses
/// an empty list.
pub async fn first_finished_and_await<F: Factory>(factory: &F) {
    let store = Arc::new(factory.create().await);
    let opts = InsertOptions::default;
    ok(store.insert_workflow(pending("a", "o"), opts()).await, "a");
    ok(store.insert_workflow(enqueued("b", "q"), opts()).await, "b");
    ok(store.insert_workflow(pending("c", "o"), opts()).await, "c");
    let abm = ids(&["a", "b", "missing"]);
    assert_eq!(ok(store.first_finished(&abm).await, "first_finished"), None);
    assert_eq!(
        ok(store.first_finished(&[]).await, "first_finished([])"),
        None
    );
    assert!(ok(
        store.record_outcome("a", output("1"), Some("o")).await,
        "a"
    ));
    assert_eq!(
        ok(store.first_finished(&abm).await, "first_finished").as_deref(),
        Some("a")
    );

    let short = AwaitOptions::default()
        .poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_millis(100));
    err(
        store.await_first_finished(&ids(&["b", "c"]), short).await,
        ErrorKind::Timeout,
        "await_first_finished with no finished workflow",
    );
    err(
        store.await_first_finished(&[], quick_wait()).await,
        ErrorKind::InvalidInput,
        "await_first_finished([])",
    );
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .await_first_finished(&ids(&["b", "c"]), quick_wait())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiter.is_finished(),
        "await_first_finished returned while every workflow was active"
    );
    ok(
        store
            .cancel_workflows(&ids(&["b"]), CancelOptions::default())
            .await,
        "cancel b",
    );
    let got = waiter.await.expect("the waiting task panicked");
    assert_eq!(
        ok(got, "await_first_finished"),
        "b",
        "a cancelled workflow counts as finished"
    );
    destroy_shared(factory, store).await;
}

/// `workflow_children` returns every descendant breadth first: children before grandchildren.
pub async fn children_include_grandchildren<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    let tree = [
        ("root", None),
        ("c1", Some("root")),
        ("c2", Some("root")),
        ("g1", Some("c1")),
        ("g2", Some("c2")),
        ("gg1", Some("g1")),
        ("other", None),
        ("other-child", Some("other")),
    ];
    for (id, parent) in tree {
        let mut wf = pending(id, "o");
        wf.parent_workflow_id = parent.map(str::to_owned);
        ok(store.insert_workflow(wf, opts()).await, id);
    }
    let kids = ok(store.workflow_children("root").await, "children of root");
    assert_eq!(
        sorted(kids.clone()),
        expect(&["c1", "c2", "g1", "g2", "gg1"]),
        "every descendant of root, nothing else"
    );
    let pos = |id: &str| kids.iter().position(|k| k == id).expect("present");
    assert!(
        pos("c1").max(pos("c2")) < pos("g1").min(pos("g2"))
            && pos("g1").max(pos("g2")) < pos("gg1"),
        "breadth first: {kids:?}"
    );
    assert_eq!(
        ok(store.workflow_children("c1").await, "children of c1"),
        ids(&["g1", "gg1"])
    );
    assert!(ok(store.workflow_children("gg1").await, "leaf").is_empty());
    assert!(ok(store.workflow_children("missing").await, "missing").is_empty());
    factory.destroy(store).await;
}

/// Invalid input is refused with `InvalidInput` and a message naming the problem, and writes
/// nothing: empty ids, NUL bytes in ids and payloads, an enqueue without a queue, negative step
/// positions.
pub async fn invalid_input_is_rejected<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let opts = InsertOptions::default;
    let e = err(
        store.insert_workflow(pending("", "o"), opts()).await,
        ErrorKind::InvalidInput,
        "insert with an empty id",
    );
    assert!(e.message().contains("workflow id"), "{e}");
    let e = err(
        store
            .insert_workflow(
                NewWorkflow::new("w1", "f", Payload::portable_json("[\"a\0b\"]")),
                opts(),
            )
            .await,
        ErrorKind::InvalidInput,
        "insert with a NUL byte in the input",
    );
    assert!(e.message().contains("NUL"), "{e}");
    let e = err(
        store.insert_workflow(pending("w\0x", "o"), opts()).await,
        ErrorKind::InvalidInput,
        "insert with a NUL byte in the id",
    );
    assert!(e.message().contains("NUL"), "{e}");
    let e = err(
        store.insert_workflow(enqueued("w2", ""), opts()).await,
        ErrorKind::InvalidInput,
        "enqueue without a queue name",
    );
    assert!(e.message().contains("queue"), "{e}");
    assert!(
        ok(
            store.list_workflows(ListWorkflowsQuery::new()).await,
            "list"
        )
        .is_empty(),
        "rejected inserts write nothing"
    );

    ok(
        store.insert_workflow(pending("ok", "o"), opts()).await,
        "ok",
    );
    let e = err(
        store
            .record_outcome("ok", Outcome::Output(Payload::rust_serde("\0")), Some("o"))
            .await,
        ErrorKind::InvalidInput,
        "record_outcome with a NUL byte",
    );
    assert!(e.message().contains("NUL"), "{e}");
    assert_eq!(get(&store, "ok").await.status, WorkflowStatus::Pending);
    err(
        store.get_workflows(&ids(&["fine", ""])).await,
        ErrorKind::InvalidInput,
        "get_workflows with an empty id",
    );
    err(
        store.workflow_result("").await,
        ErrorKind::InvalidInput,
        "workflow_result with an empty id",
    );
    err(
        store.check_step("", 1, "s").await,
        ErrorKind::InvalidInput,
        "check_step with an empty id",
    );
    let e = err(
        store
            .record_step(
                StepRecord::output("ok", -1, "s", Payload::portable_json("1")),
                None,
            )
            .await,
        ErrorKind::InvalidInput,
        "record_step at a negative position",
    );
    assert!(e.message().contains("negative"), "{e}");
    let e = err(
        store
            .record_step(
                StepRecord::output("ok", 1, "s", Payload::portable_json("\"\0\"")),
                None,
            )
            .await,
        ErrorKind::InvalidInput,
        "record_step with a NUL byte in the output",
    );
    assert!(e.message().contains("NUL"), "{e}");
    assert_eq!(ok(store.check_step("ok", 1, "s").await, "check_step"), None);
    factory.destroy(store).await;
}

/// Serialization labels round-trip exactly: `portable_json`, `rust_serde`, another SDK's label,
/// an unknown label, and no label; payload text is stored byte for byte.
pub async fn payload_labels_round_trip<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let cases = [
        (
            "p",
            Payload::portable_json(r#"{"positionalArgs":["naïve \"q\" ✓"]}"#),
        ),
        ("r", Payload::rust_serde(r#"[1,{"k":"v"}]"#)),
        (
            "py",
            Payload::new(
                "gASVBQAAAAAAAACMAXiULg==",
                Serialization::parse_label("py_pickle"),
            ),
        ),
        (
            "x",
            Payload::new("opaque text", Serialization::parse_label("custom_x")),
        ),
        ("none", Payload::new("legacy", None)),
    ];
    for (id, payload) in &cases {
        let wf = NewWorkflow::new(*id, "wf_fn", payload.clone()).with_creator_xid("o");
        let inserted = ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            id,
        );
        assert_eq!(inserted.serialization, payload.serialization, "insert {id}");
        let row = get(&store, id).await;
        assert_eq!(row.serialization, payload.serialization, "label of {id}");
        assert_eq!(row.inputs.as_deref(), Some(payload.text.as_str()), "{id}");
        let out = Payload::new(
            format!("out-{}", payload.text),
            payload.serialization.clone(),
        );
        assert!(ok(
            store
                .record_outcome(id, Outcome::Output(out.clone()), Some("o"))
                .await,
            id
        ));
        assert_eq!(
            ok(store.workflow_result(id).await, id),
            WorkflowResult::Finished(Outcome::Output(out)),
            "the output of {id} keeps its label"
        );
        let step = Payload::new(
            format!("step-{}", payload.text),
            payload.serialization.clone(),
        );
        ok(
            store
                .record_step(StepRecord::output(*id, 1, "s", step.clone()), None)
                .await,
            id,
        );
        let recorded = ok(store.check_step(id, 1, "s").await, id).expect("recorded");
        assert_eq!(
            recorded.outcome,
            Some(Outcome::Output(step)),
            "the step output of {id} keeps its label"
        );
    }
    assert_eq!(
        get(&store, "x")
            .await
            .serialization
            .map(|s| s.as_label().to_owned()),
        Some("custom_x".to_owned())
    );
    factory.destroy(store).await;
}

/// The rows of [`list_filters_take_several_values`] beyond [`list_fixture`]'s: forks, children
/// and (imported, as only a scheduler writes the column) rows of three schedules.
async fn several_values_fixture<S: SystemStore>(store: &S) {
    use dbos_storage_core::export::WorkflowRow;
    use dbos_storage_core::{ExportedWorkflow, ImportOptions};
    list_fixture(store).await;
    for wf in [
        NewWorkflow::new("fork-a", "alpha", inputs())
            .with_forked_from("job_1")
            .with_application_name("app3"),
        NewWorkflow::new("fork-b", "alpha", inputs()).with_forked_from("jobx3"),
        NewWorkflow::new("kid-5", "beta", inputs())
            .with_parent("other5")
            .with_application_name("app3"),
    ] {
        let id = wf.workflow_id.clone();
        ok(
            store.insert_workflow(wf, InsertOptions::default()).await,
            &format!("insert {id}"),
        );
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let scheduled = [
        ("sched-n", "nightly"),
        ("sched-h", "hourly"),
        ("sched-w", "weekly"),
    ]
    .into_iter()
    .zip(1_000..)
    .map(|((id, schedule), created_at)| {
        let mut row = WorkflowRow::new(id, "SUCCESS", created_at);
        row.name = Some("scheduled_fn".into());
        row.schedule_name = Some(schedule.into());
        ExportedWorkflow::new(row)
    })
    .collect();
    ok(
        store
            .import_workflows(scheduled, ImportOptions::default())
            .await,
        "import scheduled rows",
    );
}

/// Prefixes, parents, forks, schedules and applications each take several values, matched as
/// "any of them" (prefixes literally, `%` and `_` included; an empty list matches nothing,
/// for applications only unclaimed rows); the single-value setters still work; `limit` and
/// `offset` page exactly through a multi-valued listing (the filters run before the limit);
/// and a NUL byte in any value is refused with a message naming the filter.
pub async fn list_filters_take_several_values<F: Factory>(factory: &F) {
    let store = factory.create().await;
    several_values_fixture(&store).await;
    let q = ListWorkflowsQuery::new;
    let unclaimed = ["jobx3", "fork-b", "sched-n", "sched-h", "sched-w"];
    let with_unclaimed = |owned: &[&str]| {
        let mut all: Vec<&str> = owned.to_vec();
        all.extend(unclaimed);
        expect(&all)
    };
    let cases: Vec<(&str, ListWorkflowsQuery, Vec<String>)> = vec![
        (
            "two prefixes",
            q().workflow_id_prefixes(["job_", "other"]),
            expect(&["job_1", "job_x4", "other5", "other6"]),
        ),
        (
            "a prefix with % and another",
            q().workflow_id_prefixes(["job%", "fork-"]),
            expect(&["job%2", "fork-a", "fork-b"]),
        ),
        (
            "wildcards only",
            q().workflow_id_prefixes(["%", "_"]),
            vec![],
        ),
        (
            "no prefix",
            q().workflow_id_prefixes(Vec::<String>::new()),
            vec![],
        ),
        (
            "one prefix",
            q().workflow_id_prefix("job_"),
            expect(&["job_1", "job_x4"]),
        ),
        (
            "two parents",
            q().parent_workflow_ids(["job_1", "other5"]),
            expect(&["job_x4", "kid-5"]),
        ),
        (
            "one parent",
            q().parent_workflow_id("other5"),
            expect(&["kid-5"]),
        ),
        (
            "two fork sources",
            q().forked_from_any(["job_1", "jobx3", "ghost"]),
            expect(&["fork-a", "fork-b"]),
        ),
        (
            "two schedules",
            q().schedule_names(["nightly", "weekly"]),
            expect(&["sched-n", "sched-w"]),
        ),
        (
            "one schedule",
            q().schedule_name("hourly"),
            expect(&["sched-h"]),
        ),
        (
            "two applications",
            q().application_names(["app1", "app3"]),
            with_unclaimed(&["job_1", "job_x4", "fork-a", "kid-5"]),
        ),
        (
            "one application",
            q().application_name("app2"),
            with_unclaimed(&["job%2", "other5", "other6"]),
        ),
        (
            "no application",
            q().application_names(Vec::<String>::new()),
            with_unclaimed(&[]),
        ),
        (
            "applications and prefixes together",
            q().application_names(["app2", "app3"])
                .workflow_id_prefixes(["job", "kid"]),
            expect(&["job%2", "jobx3", "kid-5"]),
        ),
    ];
    for (what, query, want) in cases {
        assert_eq!(listed(&store, query, what).await, want, "{what}");
    }

    // Pages of a multi-valued listing are exact slices of the whole, in order.
    let paged = || {
        q().workflow_id_prefixes(["job", "other", "kid"])
            .application_names(["app1", "app2"])
    };
    let whole: Vec<String> = ok(store.list_workflows(paged()).await, "the whole listing")
        .into_iter()
        .map(|w| w.workflow_id)
        .collect();
    assert_eq!(
        whole,
        ids(&["job_1", "job%2", "jobx3", "job_x4", "other5", "other6"]),
        "kid-5 (app3) is out of scope; creation order"
    );
    for (limit, offset) in [(2, 0), (2, 2), (2, 4), (4, 1), (3, 5)] {
        let page: Vec<String> = ok(
            store
                .list_workflows(paged().limit(limit).offset(offset))
                .await,
            "a page",
        )
        .into_iter()
        .map(|w| w.workflow_id)
        .collect();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(whole.len());
        let end = (start + usize::try_from(limit).unwrap_or(usize::MAX)).min(whole.len());
        assert_eq!(page, whole[start..end], "limit {limit} offset {offset}");
    }

    for (what, query) in [
        (
            "workflow id prefix",
            q().workflow_id_prefixes(["job", "jo\0b"]),
        ),
        (
            "parent workflow filter",
            q().parent_workflow_ids(["job_1", "\0"]),
        ),
        ("forked-from filter", q().forked_from_any(["a", "b\0"])),
        ("schedule name filter", q().schedule_names(["n", "\0w"])),
        (
            "application name filter",
            q().application_names(["app1", "app\0"]),
        ),
    ] {
        let e = err(
            store.list_workflows(query).await,
            ErrorKind::InvalidInput,
            what,
        );
        assert!(
            e.to_string().contains(what) && e.to_string().contains("NUL"),
            "the error names the {what}: {e}"
        );
    }
    factory.destroy(store).await;
}
