//! Properties of [`ManagementStore::rename_application`].

use dbos_storage_core::{
    ErrorKind, InsertOptions, QueueConflictPolicy, QueueDefinition, RenameApplication,
    RenameReport, Schedule, StepRecord, SystemStore,
};
use dbos_storage_core::{QueueStore, ScheduleStore, VersionStore};

use crate::checks::*;
use crate::operator_fixtures::*;
use crate::Factory;

/// A workflow of application `app` with one step, finished unless `active`.
async fn owned<S: SystemStore + ?Sized>(store: &S, id: &str, app: &str, active: bool) {
    let wf = pending(id, "o").with_application_name(app);
    ok(
        store.insert_workflow(wf, InsertOptions::default()).await,
        id,
    );
    let step = StepRecord::output(id, 1, "s", json("1"));
    ok(store.record_step(step, Some("o")).await, "step");
    if !active {
        assert!(ok(
            store.record_outcome(id, output("1"), Some("o")).await,
            id
        ));
    }
}

/// The owner of each step of `id` (read through an export).
async fn step_owners<S: SystemStore + ?Sized>(store: &S, id: &str) -> Vec<Option<String>> {
    export(store, &[id], false).await[0]
        .steps
        .iter()
        .map(|s| s.application_name.clone())
        .collect()
}

/// Renaming an application moves its queues, schedules, versions, active and finished
/// workflows and steps (in batches of any size) to the new name and nothing of other
/// applications; a second run moves nothing; `from = None` with `adopt_unclaimed` moves the
/// unclaimed rows.
pub async fn rename_moves_every_row<F: Factory>(factory: &F) {
    let store = factory.create().await;
    for (name, app) in [
        ("q-old", Some("old")),
        ("q-other", Some("other")),
        ("q-free", None),
    ] {
        let mut q = QueueDefinition::new(name);
        q.application_name = app.map(str::to_owned);
        ok(
            store.upsert_queue(q, QueueConflictPolicy::Update).await,
            name,
        );
    }
    for (name, app) in [("s-old", "old"), ("s-other", "other")] {
        let s = Schedule::new(name, "w", "* * * * *", "{}").with_application_name(app);
        ok(store.create_schedule(s).await, name);
    }
    for (name, app) in [("v-old", "old"), ("v-other", "other")] {
        ok(
            store.create_application_version(name, Some(app)).await,
            name,
        );
    }
    ok(
        store
            .insert_workflow(
                enqueued("e1", "q-old").with_application_name("old"),
                InsertOptions::default(),
            )
            .await,
        "e1",
    );
    owned(&store, "p1", "old", true).await;
    for i in 0..7 {
        owned(&store, &format!("f{i}"), "old", false).await;
    }
    owned(&store, "o1", "other", false).await;

    let request = RenameApplication::new(Some("old".into()), "new").batch_size(3);
    let report = ok(
        store.rename_application(request.clone()).await,
        "rename old to new",
    );
    assert_eq!(report, RenameReport::new(1, 1, 1, 2, 7, 8), "{report:?}");
    let queue = ok(store.get_queue("q-old").await, "get q-old").expect("q-old");
    assert_eq!(queue.application_name.as_deref(), Some("new"));
    let mut listed: Vec<String> = ok(store.list_queues(Some("new")).await, "queues of new")
        .into_iter()
        .map(|q| q.name)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        ["q-free", "q-old"],
        "new's queues and unclaimed ones"
    );
    let s = ok(store.get_schedule("s-old").await, "s-old").expect("s-old");
    assert_eq!(s.application_name.as_deref(), Some("new"));
    let versions = ok(
        store.list_application_versions(Some("new")).await,
        "versions",
    );
    assert!(
        versions
            .iter()
            .any(|v| v.version_name == "v-old" && v.application_name.as_deref() == Some("new")),
        "{versions:?}"
    );
    let mut moved = vec!["e1".to_owned(), "p1".to_owned()];
    moved.extend((0..7).map(|i| format!("f{i}")));
    for id in &moved {
        assert_eq!(
            get(&store, id).await.application_name.as_deref(),
            Some("new"),
            "{id}"
        );
    }
    for id in ["p1", "f0", "f6"] {
        assert_eq!(
            step_owners(&store, id).await,
            [Some("new".to_owned())],
            "steps of {id}"
        );
    }
    assert_eq!(
        get(&store, "o1").await.application_name.as_deref(),
        Some("other")
    );
    assert_eq!(step_owners(&store, "o1").await, [Some("other".to_owned())]);
    assert_eq!(
        ok(store.get_queue("q-other").await, "q-other").and_then(|q| q.application_name),
        Some("other".to_owned())
    );
    assert_eq!(
        ok(store.rename_application(request).await, "rename again"),
        RenameReport::default(),
        "a second run moves nothing"
    );
    let adopt = RenameApplication::new(None, "adopter").adopt_unclaimed(true);
    let report = ok(store.rename_application(adopt).await, "adopt unclaimed");
    assert_eq!(
        report,
        RenameReport::new(1, 0, 0, 0, 0, 0),
        "only q-free: {report:?}"
    );
    assert_eq!(
        ok(store.get_queue("q-free").await, "q-free").and_then(|q| q.application_name),
        Some("adopter".to_owned())
    );
    err(
        store
            .rename_application(RenameApplication::new(Some("a".into()), "a"))
            .await,
        ErrorKind::InvalidInput,
        "a rename to itself",
    );
    factory.destroy(store).await;
}
