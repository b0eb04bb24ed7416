//! Properties of [`ScheduleStore`]: create, upsert, filters, pause and resume, firings and
//! delete.

use dbos_storage_core::ScheduleStore;
use dbos_storage_core::{ErrorKind, Schedule, ScheduleFilter, ScheduleStatus};

use crate::checks::*;
use crate::Factory;

/// A schedule named `name` of workflow `workflow`, owned by `app`, with a fixed id.
fn schedule(name: &str, workflow: &str, app: Option<&str>) -> Schedule {
    let mut s = Schedule::new(name, workflow, "0 3 * * *", "{\"ctx\":1}");
    s.schedule_id = format!("id-{name}");
    if let Some(app) = app {
        s = s.with_application_name(app);
    }
    s
}

/// The names of a listing, in the order listed.
async fn listed<S: ScheduleStore + ?Sized>(store: &S, filter: ScheduleFilter) -> Vec<String> {
    ok(
        store.list_schedules(filter.clone()).await,
        &format!("list_schedules({filter:?})"),
    )
    .into_iter()
    .map(|s| s.schedule_name)
    .collect()
}

/// The names of a listing, sorted (punctuation sorts differently under database collations;
/// the order is checked on plain names).
async fn names<S: ScheduleStore + ?Sized>(store: &S, filter: ScheduleFilter) -> Vec<String> {
    sorted(listed(store, filter).await)
}

/// A created schedule reads back with every column; a second create of the name is a
/// `Conflict` (naming the owner when another application has it), as is a second create of the
/// id; listings filter by status, workflow, literal name prefix and application (own plus
/// unclaimed), ordered by name; pause, resume, firings and delete report whether the schedule
/// exists.
pub async fn schedules_are_created_listed_and_managed<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let full = schedule("a_%x", "report", Some("app"))
        .with_class("Reports")
        .with_timezone("Europe/Paris")
        .with_queue("sq")
        .with_backfill(true);
    ok(store.create_schedule(full.clone()).await, "create a_%x");
    assert_eq!(
        ok(store.get_schedule("a_%x").await, "get"),
        Some(full.clone()),
        "every column reads back"
    );
    let e = err(
        store
            .create_schedule(schedule("a_%x", "other", Some("app")))
            .await,
        ErrorKind::Conflict,
        "the same name again",
    );
    assert!(e.message().contains("a_%x"), "{e}");
    let e = err(
        store
            .create_schedule(schedule("a_%x", "other", Some("intruder")))
            .await,
        ErrorKind::Conflict,
        "the name from another application",
    );
    assert!(e.message().contains("app"), "names the owner: {e}");
    let mut same_id = schedule("fresh", "w", None);
    same_id.schedule_id = full.schedule_id.clone();
    err(
        store.create_schedule(same_id).await,
        ErrorKind::Conflict,
        "the same id again",
    );
    assert_eq!(ok(store.get_schedule("fresh").await, "get fresh"), None);
    for s in [
        schedule("abx", "report", None),
        schedule("a_y", "other", Some("b")),
        schedule("b1", "report", Some("app")),
        schedule("b0", "w", Some("b")),
    ] {
        ok(store.create_schedule(s).await, "create");
    }
    err(
        store
            .create_schedule(Schedule::new("bad", "w", "every day", "{}"))
            .await,
        ErrorKind::InvalidInput,
        "a cron expression of 2 fields",
    );
    let e = err(
        store
            .create_schedule(Schedule::new("bad", "w", "99 * * * *", "{}"))
            .await,
        ErrorKind::InvalidInput,
        "a minute out of range",
    );
    assert!(e.message().contains("minute field"), "names the field: {e}");
    let e = err(
        store
            .upsert_schedules(vec![
                Schedule::new("bad", "w", "0 3 * * *", "{}").with_timezone("Mars/Olympus")
            ])
            .await,
        ErrorKind::InvalidInput,
        "a time zone outside the IANA database",
    );
    assert!(e.message().contains("Mars/Olympus"), "names the zone: {e}");

    let all = ScheduleFilter::new;
    assert_eq!(
        names(&store, all()).await,
        ["a_%x", "a_y", "abx", "b0", "b1"]
    );
    assert_eq!(
        listed(&store, all().name_prefix("b")).await,
        ["b0", "b1"],
        "by name"
    );
    assert_eq!(
        names(&store, all().name_prefix("a_")).await,
        ["a_%x", "a_y"]
    );
    assert_eq!(
        names(&store, all().name_prefix("a_%")).await,
        ["a_%x"],
        "% is literal"
    );
    assert_eq!(
        names(&store, all().name_prefix("a%")).await,
        Vec::<String>::new()
    );
    assert_eq!(names(&store, all().workflow_name("other")).await, ["a_y"]);
    assert_eq!(
        names(&store, all().application_name("app")).await,
        ["a_%x", "abx", "b1"],
        "own and unclaimed"
    );
    assert!(ok(store.pause_schedule("abx").await, "pause abx"));
    assert!(!ok(store.pause_schedule("ghost").await, "pause ghost"));
    assert_eq!(
        names(&store, all().status(ScheduleStatus::Paused)).await,
        ["abx"]
    );
    assert_eq!(
        names(
            &store,
            all().status(ScheduleStatus::Active).workflow_name("report")
        )
        .await,
        ["a_%x", "b1"]
    );
    assert!(ok(store.resume_schedule("abx").await, "resume abx"));
    assert!(!ok(store.resume_schedule("ghost").await, "resume ghost"));
    assert_eq!(
        ok(store.get_schedule("abx").await, "get abx").map(|s| s.status),
        Some(ScheduleStatus::Active)
    );
    let when = "2024-05-01T03:00:00.000+00:00";
    assert!(ok(store.record_schedule_fired("abx", when).await, "fired"));
    assert!(!ok(
        store.record_schedule_fired("ghost", when).await,
        "fired ghost"
    ));
    assert_eq!(
        ok(store.get_schedule("abx").await, "get abx")
            .and_then(|s| s.last_fired_at)
            .as_deref(),
        Some(when),
        "stored as given"
    );
    err(
        store.record_schedule_fired("abx", "").await,
        ErrorKind::InvalidInput,
        "an empty firing time",
    );
    assert!(ok(store.delete_schedule("abx").await, "delete abx"));
    assert!(!ok(store.delete_schedule("abx").await, "delete abx again"));
    assert_eq!(ok(store.get_schedule("abx").await, "get deleted"), None);
    factory.destroy(store).await;
}

/// Upserting an existing name keeps its id, status and last firing, takes the new definition,
/// and keeps its owner unless it was unclaimed. A batch is all or nothing: a name owned by
/// another application is a `Conflict` and a name given twice is `InvalidInput`, and neither
/// writes any schedule of the batch.
pub async fn schedule_upserts_keep_identity<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store.create_schedule(schedule("s", "w", Some("app"))).await,
        "create s",
    );
    ok(
        store.create_schedule(schedule("free", "w", None)).await,
        "create free",
    );
    assert!(ok(store.pause_schedule("s").await, "pause s"));
    assert!(ok(
        store
            .record_schedule_fired("s", "2024-01-01T00:00:00Z")
            .await,
        "fired"
    ));
    let mut changed = Schedule::new("s", "w2", "*/5 * * * * *", "{\"ctx\":2}")
        .with_class("K")
        .with_timezone("UTC")
        .with_queue("q2")
        .with_backfill(true)
        .with_application_name("app");
    changed.schedule_id = "another-id".into();
    let claimed = schedule("free", "w3", Some("claimer"));
    let added = schedule("added", "w", Some("app"));
    ok(
        store
            .upsert_schedules(vec![changed.clone(), claimed, added.clone()])
            .await,
        "upsert",
    );
    let s = ok(store.get_schedule("s").await, "get s").expect("s exists");
    assert_eq!(s.schedule_id, "id-s", "the id stays");
    assert_eq!(s.status, ScheduleStatus::Paused, "the status stays");
    assert_eq!(s.last_fired_at.as_deref(), Some("2024-01-01T00:00:00Z"));
    assert_eq!(
        (
            s.workflow_name.as_str(),
            s.workflow_class_name.as_deref(),
            s.schedule.as_str(),
            s.context.as_str(),
            s.automatic_backfill,
            s.cron_timezone.as_deref(),
            s.queue_name.as_deref(),
            s.application_name.as_deref(),
        ),
        (
            "w2",
            Some("K"),
            "*/5 * * * * *",
            "{\"ctx\":2}",
            true,
            Some("UTC"),
            Some("q2"),
            Some("app")
        ),
        "the definition is new"
    );
    assert_eq!(
        ok(store.get_schedule("free").await, "get free").and_then(|s| s.application_name),
        Some("claimer".to_owned()),
        "an unclaimed schedule is claimed"
    );
    assert_eq!(
        ok(store.get_schedule("added").await, "get added"),
        Some(added)
    );
    let again = ok(store.get_schedule("s").await, "s");
    ok(
        store.upsert_schedules(vec![changed.clone()]).await,
        "upsert again",
    );
    assert_eq!(ok(store.get_schedule("s").await, "s"), again, "idempotent");
    let mut unowned = changed;
    unowned.application_name = None;
    ok(
        store.upsert_schedules(vec![unowned]).await,
        "upsert without an owner",
    );
    assert_eq!(
        ok(store.get_schedule("s").await, "s"),
        again,
        "an upsert without an owner keeps the owner"
    );

    let e = err(
        store
            .upsert_schedules(vec![
                schedule("new-one", "w", None),
                schedule("s", "w", Some("intruder")),
            ])
            .await,
        ErrorKind::Conflict,
        "upsert a name owned by another application",
    );
    assert!(e.message().contains("app"), "names the owner: {e}");
    assert_eq!(
        ok(store.get_schedule("new-one").await, "new-one"),
        None,
        "nothing written"
    );
    assert_eq!(ok(store.get_schedule("s").await, "s"), again, "s unchanged");
    err(
        store
            .upsert_schedules(vec![
                schedule("twice", "w", None),
                schedule("twice", "v", None),
            ])
            .await,
        ErrorKind::InvalidInput,
        "a name twice in one batch",
    );
    assert_eq!(ok(store.get_schedule("twice").await, "twice"), None);
    factory.destroy(store).await;
}
