//! Opening a pool fails fast with the real cause (not a pool timeout), and secrets never appear
//! in messages or `Debug` output. (Pool exhaustion and transactions are tested in `src/pool.rs`,
//! where a connection can be held.)

use std::time::{Duration, Instant};

use dbos_storage_conformance::pg;
use dbos_storage_core::{DatabaseUrl, DbosConfig, Driver, ErrorKind, LifecycleStore};
use dbos_storage_postgres::{PostgresConfig, PostgresDriver, PostgresStore};

const PASSWORD: &str = "s3cret-Pa55";

/// Opens a system store with the default 30 s pool timeout.
async fn open(url: &str) -> dbos_storage_core::Result<PostgresStore> {
    let url = DatabaseUrl::parse(url)?;
    PostgresStore::open(PostgresConfig::system(&DbosConfig::new("pool-test"), &url)?).await
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(PASSWORD), "a password leaked: {text}");
}

/// A TCP port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_wrong_password_fails_at_once_with_the_servers_error() {
    let server = pg::server();
    let role = server.unique_name("pool_user");
    server.create_role(&role, "the-right-one").await;
    let url = server.url_for("postgres", &role, Some(PASSWORD));
    let start = Instant::now();
    let err = open(&url).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert_eq!(err.code(), Some("28P01"), "{err}");
    assert!(err.message().contains("password"), "{err}");
    assert!(!err.is_retryable());
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));

    // The right password works, through the driver too.
    let url = server.url_for("postgres", &role, Some("the-right-one"));
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let store = PostgresDriver::new()
        .open_system(&DbosConfig::new("pool-test"), &parsed)
        .await
        .expect("the right password opens");
    store.check_connection().await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_connection_is_connection_lost_with_the_cause() {
    let url = format!(
        "postgresql://someone:{PASSWORD}@127.0.0.1:{}/db?connect_timeout=5",
        closed_port()
    );
    let start = Instant::now();
    let err = open(&url).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
    assert!(err.is_retryable());
    assert!(err.message().to_lowercase().contains("refused"), "{err}");
    assert!(err.message().contains("127.0.0.1"), "{err}");
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));
}

#[tokio::test]
async fn an_unknown_host_is_connection_lost_with_the_cause() {
    let url =
        format!("postgresql://someone:{PASSWORD}@no-such-host.invalid:5432/db?connect_timeout=5");
    let err = open(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
    assert!(err.message().contains("no-such-host.invalid"), "{err}");
    assert_no_secret(&err.to_string());
}

#[tokio::test]
async fn a_database_that_cannot_be_created_names_the_cause() {
    let server = pg::server();
    let role = server.unique_name("pool_nocreate");
    server.create_role(&role, PASSWORD).await;
    let database = server.unique_name("pool_never");
    let url = server.url_for(&database, &role, Some(PASSWORD));
    let err = open(&url).await.unwrap_err();
    assert_ne!(err.kind(), ErrorKind::PoolExhausted, "{err}");
    assert!(err.message().contains(&database), "{err}");
    assert!(err.message().contains("cannot be created"), "{err}");
    assert_no_secret(&err.to_string());
}

#[tokio::test]
async fn debug_output_never_shows_the_password() {
    let server = pg::server();
    let role = server.unique_name("pool_debug");
    server.create_role(&role, PASSWORD).await;
    let url = server.url_for("postgres", &role, Some(PASSWORD));
    let store = open(&url).await.expect("open");
    assert_no_secret(&format!("{store:?}"));
    assert_no_secret(&format!("{:?}", store.config()));
    assert_no_secret(&store.config().url().to_string());
    store.close().await.unwrap();

    let config: PostgresConfig = format!("postgresql://u:{PASSWORD}@h/db?password={PASSWORD}")
        .parse()
        .unwrap();
    assert_no_secret(&format!("{config:?}"));
}

#[tokio::test]
async fn a_unix_socket_host_works() {
    let server = pg::server();
    let Some(dir) = server.socket_dir() else {
        return; // an external server: no socket directory known
    };
    let dir = dir.to_str().unwrap().replace('/', "%2F");
    let url = format!("postgresql://postgres@{dir}:{}/postgres", server.port());
    let store = open(&url).await.expect("open over the socket");
    store.check_connection().await.unwrap();
    store.close().await.unwrap();
}
