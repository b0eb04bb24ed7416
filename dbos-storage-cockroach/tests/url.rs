//! Reading `cockroachdb://` URLs, and the server check on connect.

mod common;

use dbos_storage_cockroach::{CockroachConfig, CockroachDriver, SCHEMES};
use dbos_storage_core::{DatabaseUrl, DbosConfig, Driver, ErrorKind};
use dbos_storage_testkit::pg;
use tokio_postgres::config::{Host, SslMode};

fn parse(url: &str) -> CockroachConfig {
    url.parse()
        .unwrap_or_else(|e| panic!("{url} should parse: {e}"))
}

#[test]
fn cockroach_schemes_read_as_postgresql_with_port_26257() {
    for scheme in ["cockroachdb", "cockroach"] {
        let c = parse(&format!("{scheme}://root@db.example.com/defaultdb"));
        let pg = c.postgres().connection_settings();
        assert_eq!(pg.get_hosts(), &[Host::Tcp("db.example.com".into())]);
        assert_eq!(pg.get_ports(), &[26257]);
        assert_eq!(pg.get_user(), Some("root"));
        assert_eq!(pg.get_dbname(), Some("defaultdb"));
        assert!(!c.postgres().use_listen_notify());
    }
    let c = parse("cockroachdb://root@localhost:26000/db");
    assert_eq!(c.postgres().connection_settings().get_ports(), &[26000]);
    assert_eq!(SCHEMES, ["cockroachdb", "cockroach"]);
    assert_eq!(CockroachDriver::new().schemes(), SCHEMES);
}

#[test]
fn listen_notify_is_always_off() {
    let dbos = DbosConfig::new("x").with_use_listen_notify(true);
    let url = DatabaseUrl::parse("cockroachdb://root@localhost/db").unwrap();
    let c = CockroachConfig::system(&dbos, &url).unwrap();
    assert!(!c.postgres().use_listen_notify());
}

#[test]
fn cluster_option_and_tls_keys_are_passed() {
    let c = parse(
        "cockroachdb://u:p@free-tier.gcp-us-central1.cockroachlabs.cloud/defaultdb\
         ?sslmode=verify-full&sslrootcert=/certs/ca.crt&options=--cluster%3Dmy-routing-id-123",
    );
    let pg = c.postgres().connection_settings();
    assert!(
        pg.get_options()
            .unwrap_or_default()
            .contains("--cluster=my-routing-id-123"),
        "{:?}",
        pg.get_options()
    );
    assert_eq!(pg.get_ssl_mode(), SslMode::Require);
    assert_eq!(c.postgres().sslmode(), "verify-full");
    let c = parse(
        "cockroachdb://maxroach@localhost/db?sslmode=verify-full&sslrootcert=certs/ca.crt\
         &sslcert=certs/client.maxroach.crt&sslkey=certs/client.maxroach.key",
    );
    assert_eq!(c.postgres().sslmode(), "verify-full");
}

#[test]
fn other_backends_and_unknown_keys_are_refused() {
    let e = "sqlite:///x.sqlite".parse::<CockroachConfig>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    let e = "cockroachdb://root@localhost/db?bogus=1"
        .parse::<CockroachConfig>()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
}

/// A `cockroachdb://` URL that reaches PostgreSQL is refused unless the database is marked
/// CockroachDB-compatible.
#[tokio::test]
async fn a_postgresql_server_is_refused() {
    let server = pg::server();
    let url = server.create_database("crdb_refused").await;
    let crdb_url = url.replacen("postgresql://", "cockroachdb://", 1).replacen(
        "postgres://",
        "cockroachdb://",
        1,
    );
    assert!(crdb_url.starts_with("cockroachdb://"), "{crdb_url}");
    let parsed = DatabaseUrl::parse(&crdb_url).unwrap();
    let dbos = DbosConfig::new("refused").with_sys_db_pool_size(1);

    let err = dbos_storage_cockroach::open_system(CockroachConfig::system(&dbos, &parsed).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.message()
            .contains("a cockroachdb:// URL reached a PostgreSQL server; use postgresql://"),
        "{err}"
    );
    let err = CockroachDriver::new()
        .open_system(&dbos, &parsed)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");

    common::mark_compatible(&url).await;
    let compatible = CockroachConfig::system(&dbos, &parsed).unwrap();
    let store = dbos_storage_cockroach::open_system(compatible)
        .await
        .unwrap();
    dbos_storage_core::LifecycleStore::close(&store)
        .await
        .unwrap();
    assert_eq!(
        dbos_storage_core::LifecycleStore::backend(&store),
        "cockroach"
    );
    server.drop_database(&url).await;
}
