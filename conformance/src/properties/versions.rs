//! Properties of [`VersionStore`]: registering and claiming versions, owner collisions, order,
//! the latest version and promotion.
//!
//! Timestamps that decide "latest" are always set explicitly: two versions registered in the
//! same millisecond would tie, and the contract leaves ties open.

use dbos_storage_core::VersionStore;
use dbos_storage_core::{ApplicationVersion, ErrorKind};

use crate::checks::*;
use crate::Factory;

/// The names of `versions`, in the order given.
fn names(versions: &[ApplicationVersion]) -> Vec<String> {
    versions.iter().map(|v| v.version_name.clone()).collect()
}

/// Registering a version creates an unclaimed or owned row with a fresh id and timestamps;
/// registering it again returns the same row; an application claims an unclaimed version (same
/// row); another application registering an owned version is `WorkflowConflict`.
pub async fn versions_are_created_and_claimed<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let create = |name: &'static str, app: Option<&'static str>| {
        let store = &store;
        async move { store.create_application_version(name, app).await }
    };
    let v1 = ok(create("v1", None).await, "create v1 unclaimed");
    assert_eq!(v1.version_name, "v1");
    assert_eq!(v1.application_name, None);
    assert!(!v1.version_id.is_empty(), "a version gets an id");
    assert!(v1.version_timestamp > 0 && v1.created_at > 0, "{v1:?}");
    assert_eq!(
        ok(create("v1", None).await, "create v1 again"),
        v1,
        "registering again returns the same row"
    );
    let claimed = ok(create("v1", Some("A")).await, "A claims v1");
    assert_eq!(claimed.version_id, v1.version_id, "claiming keeps the row");
    assert_eq!(claimed.application_name.as_deref(), Some("A"));
    assert_eq!(
        ok(create("v1", Some("A")).await, "A registers v1 again"),
        claimed
    );
    err(
        create("v1", Some("B")).await,
        ErrorKind::WorkflowConflict,
        "B registers A's version",
    );
    let listed = ok(store.list_application_versions(None).await, "list");
    assert_eq!(listed, vec![claimed], "a collision writes nothing");
    let v2 = ok(create("v2", Some("B")).await, "B registers v2");
    assert_eq!(v2.application_name.as_deref(), Some("B"));
    assert_ne!(v2.version_id, v1.version_id);
    factory.destroy(store).await;
}

/// Versions are listed newest timestamp first, own application plus unclaimed; the latest is
/// the first of that list (`NotFound` when there is none); setting a timestamp promotes a
/// version, and is `NotFound` for an unknown one or another application's.
pub async fn versions_latest_and_order<F: Factory>(factory: &F) {
    let store = factory.create().await;
    err(
        store.latest_application_version(None).await,
        ErrorKind::NotFound,
        "latest with no version",
    );
    assert!(ok(store.list_application_versions(None).await, "list").is_empty());
    let set = |name: &'static str, timestamp, app: Option<&'static str>| {
        let store = &store;
        async move {
            store
                .set_application_version_timestamp(name, timestamp, app)
                .await
        }
    };
    for (name, timestamp) in [("v1", 3_000), ("v2", 1_000), ("v3", 2_000)] {
        ok(store.create_application_version(name, None).await, "create");
        ok(set(name, timestamp, None).await, "set timestamp");
    }
    let list = |app: Option<&'static str>| {
        let store = &store;
        async move { ok(store.list_application_versions(app).await, "list") }
    };
    let latest = |app: Option<&'static str>| {
        let store = &store;
        async move { ok(store.latest_application_version(app).await, "latest").version_name }
    };
    assert_eq!(names(&list(None).await), ["v1", "v3", "v2"]);
    assert_eq!(list(None).await[0].version_timestamp, 3_000);
    assert_eq!(latest(None).await, "v1");
    ok(set("v2", 4_000, None).await, "promote v2");
    assert_eq!(latest(None).await, "v2");
    err(
        set("ghost", 5_000, None).await,
        ErrorKind::NotFound,
        "promote an unknown version",
    );

    for (name, app, timestamp) in [("va", "A", 5_000), ("vb", "B", 6_000)] {
        ok(
            store.create_application_version(name, Some(app)).await,
            "create owned",
        );
        ok(set(name, timestamp, Some(app)).await, "set owned timestamp");
    }
    assert_eq!(names(&list(Some("A")).await), ["va", "v2", "v1", "v3"]);
    assert_eq!(latest(Some("A")).await, "va", "B's versions are not A's");
    assert_eq!(latest(Some("B")).await, "vb");
    assert_eq!(latest(None).await, "vb");
    err(
        set("vb", 7_000, Some("A")).await,
        ErrorKind::NotFound,
        "A promotes B's version",
    );
    assert_eq!(latest(Some("A")).await, "va");
    factory.destroy(store).await;
}

/// Looking versions up checks its text the same way everywhere, before the database sees it:
/// promoting a version with an empty name, or a NUL byte in the version or application name,
/// and listing or reading the latest version of an application whose name holds a NUL byte,
/// are `InvalidInput` saying what is wrong; a well-formed name that is not registered is
/// `NotFound`. (Before, the memory store answered `NotFound` or an empty list, SQLite
/// `InvalidInput` for some, and PostgreSQL let a NUL in the application name reach the server.)
pub async fn version_lookups_check_their_text<F: Factory>(factory: &F) {
    let store = factory.create().await;
    ok(
        store.create_application_version("v1", Some("app")).await,
        "register v1",
    );
    for (version, app, what) in [
        ("", Some("app"), "empty"),
        ("v\0", Some("app"), "NUL"),
        ("v1", Some("a\0pp"), "NUL"),
    ] {
        let e = err(
            store
                .set_application_version_timestamp(version, 5, app)
                .await,
            ErrorKind::InvalidInput,
            "promote with bad text",
        );
        assert!(e.message().contains(what), "{version:?} {app:?}: {e}");
    }
    let e = err(
        store.list_application_versions(Some("a\0pp")).await,
        ErrorKind::InvalidInput,
        "list the versions of a name with a NUL byte",
    );
    assert!(e.message().contains("NUL"), "{e}");
    let e = err(
        store.latest_application_version(Some("a\0pp")).await,
        ErrorKind::InvalidInput,
        "the latest version of a name with a NUL byte",
    );
    assert!(e.message().contains("NUL"), "{e}");
    err(
        store
            .set_application_version_timestamp("v9", 5, Some("app"))
            .await,
        ErrorKind::NotFound,
        "promote an unknown version",
    );
    let listed = ok(
        store.list_application_versions(Some("app")).await,
        "list app's versions",
    );
    assert_eq!(names(&listed), ["v1"], "nothing changed");
    factory.destroy(store).await;
}
