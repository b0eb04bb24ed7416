//! `connect`: driver choice by scheme, derivations, verification, and the errors users see.

use std::sync::Arc;

use dbos_storage::{
    connect, connect_url, DbosConfig, ErrorKind, InsertOptions, LifecycleStore, NewWorkflow,
    Payload, Registry,
};

fn sqlite_url(dir: &tempfile::TempDir, file: &str) -> String {
    format!("sqlite:///{}", dir.path().join(file).display())
}

#[tokio::test]
async fn default_config_opens_and_migrates_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        DbosConfig::new("facade-test").with_system_database_url(sqlite_url(&dir, "s.sqlite"));
    let stores = connect(&config).await.unwrap();
    assert_eq!(stores.system.backend(), "sqlite");
    assert!(stores.app.is_none());
    let version = stores.system.schema_version().await.unwrap();
    assert_eq!(version.recorded, 125);
    let wf = NewWorkflow::new("w1", "f", Payload::portable_json("[]"));
    let inserted = stores
        .system
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
    assert!(inserted.should_execute);
}

#[tokio::test]
async fn derived_default_url_is_the_app_name_in_the_working_directory() {
    let config = DbosConfig::new("My-app".to_lowercase());
    assert_eq!(
        config.system_database_url().unwrap().to_string(),
        "sqlite:///my_app.sqlite"
    );
}

#[tokio::test]
async fn application_store_shares_the_sqlite_type() {
    let dir = tempfile::tempdir().unwrap();
    let config = DbosConfig::new("facade-test")
        .with_system_database_url(sqlite_url(&dir, "sys.sqlite"))
        .with_application_database_url(sqlite_url(&dir, "app.sqlite"));
    let stores = connect(&config).await.unwrap();
    let app = stores.app.expect("an application store");
    assert_eq!(app.backend(), "sqlite");
}

#[tokio::test]
async fn a_disabled_backend_url_names_the_feature_to_enable() {
    #[cfg(not(feature = "postgres"))]
    {
        let err = connect_url("postgresql://u:hunter2@localhost/db")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(
            err.message().contains("enable the `postgres` feature"),
            "{err}"
        );
    }
    #[cfg(not(feature = "cockroach"))]
    {
        let err = connect_url("cockroachdb://root@localhost/db")
            .await
            .unwrap_err();
        assert!(
            err.message().contains("enable the `cockroach` feature"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn an_unknown_scheme_lists_the_available_ones() {
    let err = connect_url("mysql://u:hunter2@localhost/db")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.message().contains("available schemes: sqlite://"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn mixed_database_types_are_refused() {
    let config = DbosConfig::new("facade-test")
        .with_system_database_url("sqlite:///x.sqlite")
        .with_application_database_url("postgresql://u:hunter2@localhost/app");
    let err = connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.message().contains("must be the same database type"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"));
}

#[tokio::test]
async fn sqlalchemy_driver_suffixes_route_to_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let sys = format!(
        "sqlite+pysqlite:///{}",
        dir.path().join("sys.sqlite").display()
    );
    let app = format!(
        "sqlite+aiosqlite:///{}",
        dir.path().join("app.sqlite").display()
    );
    let config = DbosConfig::new("facade-test")
        .with_system_database_url(&sys)
        .with_application_database_url(&app);
    let stores = connect(&config).await.unwrap();
    assert_eq!(stores.system.backend(), "sqlite");
    assert_eq!(
        stores.app.expect("an application store").backend(),
        "sqlite"
    );
    assert!(dir.path().join("sys.sqlite").exists());
    assert!(dir.path().join("app.sqlite").exists());

    // Mixed types stay refused whatever the suffixes.
    let config = DbosConfig::new("facade-test")
        .with_system_database_url(&sys)
        .with_application_database_url("postgresql+psycopg://u:hunter2@localhost/app");
    let err = connect(&config).await.unwrap_err();
    assert!(
        err.message().contains("must be the same database type"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");

    // A suffix on an unknown scheme is an unknown scheme.
    let err = connect_url("mysql+pymysql://u:hunter2@localhost/db")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.message()
            .contains("unknown database URL scheme mysql+pymysql://"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_missing_database_name_is_refused() {
    let config = DbosConfig::new("facade-test").with_system_database_url("postgresql://localhost");
    let err = connect(&config).await.unwrap_err();
    assert!(
        err.message()
            .contains("Database name must be specified in the connection URL"),
        "{err}"
    );
}

#[tokio::test]
async fn an_invalid_application_name_is_refused() {
    let err = connect(&DbosConfig::new("No Spaces Allowed"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.message().contains("3-30 characters"), "{err}");
}

#[tokio::test]
async fn verify_mode_refuses_an_unmigrated_database_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "fresh.sqlite");
    let config = DbosConfig::new("facade-test")
        .with_system_database_url(url.clone())
        .with_run_migrations(false);
    let err = connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SchemaMismatch);
    assert!(
        err.message().contains(
            "the sqlite system database has no DBOS system schema (schema version 0; this \
             build reads version 109 or later and creates 125): run `dbos-storage migrate`"
        ),
        "{err}"
    );

    // After migrating once, verify mode accepts it.
    connect_url(&url).await.unwrap();
    connect(&config).await.unwrap();
}

/// A SQLite file built by our migrations stopped at `version`; returns its URL.
async fn sqlite_at(dir: &tempfile::TempDir, version: i64) -> String {
    use dbos_storage::sqlite::{SqliteConfig, SqliteStore};
    let path = dir.path().join(format!("v{version}.sqlite"));
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    assert_eq!(store.migrate_to(version).await.unwrap().recorded, version);
    store.close().await.unwrap();
    format!("sqlite:///{}", path.display())
}

/// A database another DBOS SDK left behind this build (DBOS Transact for TypeScript 5.3 stops
/// at 123) is read without migrations, and left at its version.
#[tokio::test]
async fn verify_mode_reads_a_database_at_123_and_leaves_it_there() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_at(&dir, 123).await;
    let config = DbosConfig::new("facade-test")
        .with_system_database_url(url)
        .with_run_migrations(false);
    let stores = connect(&config).await.unwrap();
    let db = stores.system;
    assert_eq!(db.schema_version().await.unwrap().recorded, 123);
    let wf = NewWorkflow::new("w-123", "f", Payload::portable_json("[]"));
    db.insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
    let listed = db
        .list_workflows(dbos_storage::ListWorkflowsQuery::new())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(db.schema_version().await.unwrap().recorded, 123);
    db.close().await.unwrap();
}

/// At 122 reads are served and a start fails naming `creator_xid` (123) and `migrate`; below
/// 109 connecting refuses, naming the payload tables.
#[tokio::test]
async fn verify_mode_names_what_an_older_schema_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let config = DbosConfig::new("facade-test")
        .with_system_database_url(sqlite_at(&dir, 122).await)
        .with_run_migrations(false);
    let db = connect(&config).await.unwrap().system;
    assert!(db
        .list_workflows(dbos_storage::ListWorkflowsQuery::new())
        .await
        .unwrap()
        .is_empty());
    let err = db
        .insert_workflow(
            NewWorkflow::new("w", "f", Payload::portable_json("[]")),
            InsertOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SchemaMismatch, "{err}");
    assert!(
        err.message()
            .contains("lacks column workflow_status.creator_xid, which DBOS migration 123 adds"),
        "{err}"
    );
    assert!(err.message().contains("dbos-storage migrate"), "{err}");
    db.close().await.unwrap();

    let config = DbosConfig::new("facade-test")
        .with_system_database_url(sqlite_at(&dir, 108).await)
        .with_run_migrations(false);
    let err = connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SchemaMismatch, "{err}");
    assert_eq!(
        err.message(),
        "the sqlite system database is at schema version 108, below 109, the lowest this build \
         reads: it lacks table workflow_input (migration 109), table workflow_output (migration \
         109); run `dbos-storage migrate` (or connect with run_migrations = true) to bring it \
         to version 125"
    );
}

#[tokio::test]
async fn a_scheme_cannot_be_registered_twice() {
    let mut registry = Registry::with_default_drivers();
    let sqlite = Arc::new(dbos_storage::sqlite::SqliteDriver::new());
    let err = registry.register(sqlite).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.message()
            .contains("already served by the sqlite driver"),
        "{err}"
    );
    #[cfg(not(feature = "postgres"))]
    assert_eq!(registry.schemes(), vec!["sqlite"]);
    #[cfg(all(feature = "postgres", not(feature = "cockroach")))]
    assert_eq!(registry.schemes(), vec!["sqlite", "postgresql", "postgres"]);
    #[cfg(feature = "cockroach")]
    assert_eq!(
        registry.schemes(),
        vec![
            "sqlite",
            "postgresql",
            "postgres",
            "cockroachdb",
            "cockroach"
        ]
    );
}
