//! `connect`: driver choice by scheme, derivations, verification, and the errors users see.

use std::sync::Arc;

use dbos_storage::{
    connect, connect_url, DbosConfig, ErrorKind, InsertOptions, NewWorkflow, Payload, Registry,
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
    assert!(err.message().contains("behind this build's 125"), "{err}");

    // After migrating once, verify mode accepts it.
    connect_url(&url).await.unwrap();
    connect(&config).await.unwrap();
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
