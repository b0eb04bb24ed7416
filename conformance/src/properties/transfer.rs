//! Properties of export and import ([`ManagementStore::export_workflows`],
//! [`ManagementStore::import_workflows`]).

use dbos_storage_core::export::{
    EventHistoryRow, EventRow, InputRow, OutputRow, StepRow, StreamRow, WorkflowRow,
};
use dbos_storage_core::{
    DeleteOptions, ErrorKind, ExportDocument, ExportedWorkflow, ImportOptions, InsertOptions,
};

use crate::checks::*;
use crate::operator_fixtures::*;
use crate::Factory;

/// A workflow whose every column is set to a value no write of the contract produces (legacy
/// inputs, output, error and request columns, JSON `null` attributes, odd timestamps), with
/// rows in every table: an import must store it exactly as given.
fn handmade(id: &str, parent: Option<&str>) -> ExportedWorkflow {
    let mut s = WorkflowRow::new(id, "SUCCESS", 1_000);
    s.name = Some("legacy_fn".into());
    s.authenticated_user = Some("bob".into());
    s.assumed_role = Some("r".into());
    s.authenticated_roles = Some(r#"["r","s"]"#.into());
    s.request = Some("{\"url\":\"/x\"}".into());
    s.output = Some("\"legacy out\"".into());
    s.error = Some("\"legacy err\"".into());
    s.executor_id = Some("exec-1".into());
    s.updated_at = 1_234;
    s.application_version = Some("v9".into());
    s.application_id = Some("aid".into());
    s.class_name = Some("C".into());
    s.config_name = Some("cfg".into());
    s.recovery_attempts = Some(3);
    s.queue_name = Some("q".into());
    s.workflow_timeout_ms = Some(5_000);
    s.workflow_deadline_epoch_ms = Some(6_000);
    s.inputs = Some("[\"legacy in\"]".into());
    s.started_at_epoch_ms = Some(1_100);
    s.deduplication_id = Some(format!("dedup-{id}"));
    s.priority = 7;
    s.queue_partition_key = Some("part".into());
    s.forked_from = Some("somewhere".into());
    s.parent_workflow_id = parent.map(str::to_owned);
    s.serialization = Some("DBOS_JSON".into());
    s.delay_until_epoch_ms = Some(1_050);
    s.was_forked_from = true;
    s.rate_limited = true;
    s.completed_at = Some(1_500);
    s.attributes = Some("null".into());
    s.schedule_name = Some("nightly".into());
    s.debounce_deadline_epoch_ms = Some(9_000);
    s.is_debounced = true;
    s.application_name = Some("app".into());
    s.creator_xid = Some("creator".into());
    let mut w = ExportedWorkflow::new(s);
    w.input = Some(InputRow::new(Some("[1]".into()), 1_001));
    w.output = Some(OutputRow::new(Some("2".into()), None, 1_002));
    let mut step = StepRow::new(1, "one", 1_003);
    step.output = Some("\"o\"".into());
    step.error = Some("\"e\"".into());
    step.child_workflow_id = Some("kid".into());
    step.started_at_epoch_ms = Some(1_010);
    step.completed_at_epoch_ms = Some(1_020);
    step.serialization = Some("py_pickle".into());
    step.application_name = Some("other-app".into());
    w.steps.push(step);
    w.steps.push(StepRow::new(3, "bare", 1_004));
    w.events
        .push(EventRow::new("k", "\"v\"", Some("portable_json".into())));
    w.events.push(EventRow::new("n", "x", None));
    w.event_history.push(EventHistoryRow::new(
        2,
        "k",
        "\"v\"",
        Some("portable_json".into()),
    ));
    w.event_history
        .push(EventHistoryRow::new(2, "n", "x", None));
    w.streams.push(StreamRow::new("s", 0, "\"a\"", 2, None));
    w.streams.push(StreamRow::new(
        "s",
        1,
        "\"b\"",
        3,
        Some("rust_serde".into()),
    ));
    w.sort();
    w
}

/// Export → import (into a fresh store, and into the same store after a delete) → export gives
/// the identical document, children, events, history, streams and every status column
/// included; hand-made rows with legacy columns and JSON `null` attributes import exactly as
/// given; children follow their parent, breadth first.
pub async fn export_import_round_trips<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", Some("app")).await;
    let mut grandchild = pending("w-grandchild", "o");
    grandchild.parent_workflow_id = Some(child_of("w"));
    ok(
        store
            .insert_workflow(grandchild, InsertOptions::default())
            .await,
        "grandchild",
    );
    let exported = export(&store, &["w"], true).await;
    let order: Vec<&str> = exported.iter().map(|w| w.workflow_id()).collect();
    assert_eq!(
        order,
        ["w", "w-child", "w-grandchild"],
        "parents before children"
    );
    assert_eq!(
        export(&store, &["w"], false).await.len(),
        1,
        "without children"
    );
    let text = doc_text(&exported);
    assert_eq!(
        ExportDocument::from_json(&text).ok().map(|d| d.workflows),
        Some(exported.clone()),
        "the document parses back"
    );
    let w = &exported[0];
    assert_eq!(w.steps.len(), 9);
    assert_eq!(w.events.len(), 2);
    assert_eq!(w.event_history.len(), 3);
    assert_eq!(w.streams.len(), 3);
    assert!(w.input.is_some() && w.output.is_some());

    let fresh = factory.create().await;
    let imported = ok(
        fresh
            .import_workflows(exported.clone(), ImportOptions::default())
            .await,
        "import into a fresh store",
    );
    assert_eq!(imported, ids(&["w", "w-child", "w-grandchild"]));
    assert_eq!(
        doc_text(&export(&fresh, &["w"], true).await),
        text,
        "fresh store"
    );
    assert_eq!(
        get(&fresh, "w").await.inputs,
        get(&store, "w").await.inputs,
        "reads agree too"
    );
    assert_eq!(events_of(&fresh, "w").await, events_of(&store, "w").await);
    assert_eq!(
        stream_of(&fresh, "w", "s").await,
        stream_of(&store, "w", "s").await
    );
    factory.destroy(fresh).await;

    ok(
        store
            .delete_workflows(&ids(&["w"]), DeleteOptions::default().delete_children(true))
            .await,
        "delete w with children",
    );
    ok(
        store
            .import_workflows(exported, ImportOptions::default())
            .await,
        "import into the same store",
    );
    assert_eq!(
        doc_text(&export(&store, &["w"], true).await),
        text,
        "same store"
    );

    let made = vec![handmade("h", None), handmade("h-kid", Some("h"))];
    ok(
        store
            .import_workflows(made.clone(), ImportOptions::default())
            .await,
        "import hand-made rows",
    );
    assert_eq!(
        doc_text(&export(&store, &["h"], true).await),
        doc_text(&made),
        "hand-made rows are stored exactly"
    );
    factory.destroy(store).await;
}

/// Importing an existing id is a `Conflict` naming it, and nothing of the batch is written;
/// with `replace_existing` the old rows are replaced (none left over); an id twice in a batch
/// or an invalid row is `InvalidInput`; exporting an unknown id is `NotFound`.
pub async fn import_is_all_or_nothing<F: Factory>(factory: &F) {
    let store = factory.create().await;
    rich_workflow(&store, "w", None).await;
    let before = doc_text(&export(&store, &["w"], true).await);
    let new = handmade("new", None);
    let mut old = handmade("w", None);
    old.steps.truncate(1);
    old.events.clear();
    old.event_history.clear();
    old.streams.clear();
    let e = err(
        store
            .import_workflows(vec![new.clone(), old.clone()], ImportOptions::default())
            .await,
        ErrorKind::Conflict,
        "import over an existing id",
    );
    assert!(e.message().contains("w"), "names the id: {e}");
    assert!(
        !exists(&store, "new").await,
        "nothing of the batch was written"
    );
    assert_eq!(doc_text(&export(&store, &["w"], true).await), before);

    let e = err(
        store
            .import_workflows(vec![new.clone(), new.clone()], ImportOptions::default())
            .await,
        ErrorKind::InvalidInput,
        "the same id twice",
    );
    assert!(e.message().contains("new"), "{e}");
    let mut bad = handmade("bad", None);
    bad.steps[0].output = Some("a\u{0}b".into());
    err(
        store
            .import_workflows(vec![new.clone(), bad], ImportOptions::default())
            .await,
        ErrorKind::InvalidInput,
        "a NUL in a step output",
    );
    assert!(!exists(&store, "new").await && !exists(&store, "bad").await);

    let replaced = ok(
        store
            .import_workflows(
                vec![new.clone(), old.clone()],
                ImportOptions::default().replace_existing(true),
            )
            .await,
        "import with replace_existing",
    );
    assert_eq!(replaced, ids(&["new", "w"]));
    assert_eq!(
        doc_text(&export(&store, &["w"], false).await),
        doc_text(std::slice::from_ref(&old)),
        "the old rows are gone, the imported ones are there exactly"
    );
    assert!(events_of(&store, "w").await.is_empty(), "no old events");
    assert_eq!(
        stream_of(&store, "w", "s").await,
        (vec![], false),
        "no old stream"
    );
    assert!(
        exists(&store, &child_of("w")).await,
        "a child is not replaced"
    );
    let e = err(
        store.export_workflows(&ids(&["w", "ghost"]), false).await,
        ErrorKind::NotFound,
        "export an unknown id",
    );
    assert!(e.message().contains("ghost"), "{e}");
    factory.destroy(store).await;
}
