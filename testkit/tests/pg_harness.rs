//! The PostgreSQL harness itself: the server starts, databases are isolated, passwords are
//! checked, the TLS cluster runs with `ssl = on`, and a local cluster goes away with the test
//! process even when that is killed.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dbos_storage_testkit::pg;
use tokio_postgres::error::SqlState;

#[tokio::test]
async fn server_starts_and_answers() {
    let server = pg::server();
    assert!(server.version().starts_with("PostgreSQL"), "{server:?}");
    assert!(server.version_num() >= 100_000, "{}", server.version_num());
    let client = server.connect(&server.admin_url()).await.unwrap();
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    if !server.is_external() {
        assert_eq!(server.host(), "127.0.0.1");
        assert!(server.cluster_dir().unwrap().join("data").is_dir());
        let fsync: String = client.query_one("SHOW fsync", &[]).await.unwrap().get(0);
        assert_eq!(fsync, "off");
    }
}

#[tokio::test]
async fn databases_are_isolated() {
    let server = pg::server();
    let first = server.create_database("harness").await;
    let second = server.create_database("harness").await;
    assert_ne!(first, second);

    let a = server.connect(&first).await.unwrap();
    a.batch_execute("CREATE TABLE only_here (x int); INSERT INTO only_here VALUES (7)")
        .await
        .unwrap();
    let b = server.connect(&second).await.unwrap();
    let seen: i64 = b
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);

    // Dropping ends open sessions (`a` is still connected).
    server.drop_database(&first).await;
    server.drop_database(&second).await;
    assert!(server.connect(&first).await.is_err());
    server.drop_database(&first).await; // a missing database is fine
}

#[tokio::test]
async fn unique_names_are_valid_identifiers() {
    let server = pg::server();
    let name = server.unique_name("My-Prefix.With Spaces");
    assert!(name.starts_with("my_prefix_with_spaces_"), "{name}");
    assert!(name.len() <= 63);
    assert_ne!(name, server.unique_name("My-Prefix.With Spaces"));
    assert!(server.unique_name("9lives").starts_with("db_9lives_"));
}

#[tokio::test]
async fn password_roles_are_checked() {
    let server = pg::server();
    let role = server.unique_name("harness_role");
    server.create_role(&role, "right pass:word").await;
    let database = server.create_database("harness_auth").await;
    server.set_database_owner(&database, &role).await;
    let name = pg::database_name(&database);

    let url = server.url_for(&name, &role, Some("right pass:word"));
    let client = server.connect(&url).await.unwrap();
    let user: String = client
        .query_one("SELECT current_user", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, role);
    // The owner may create tables in `public` (PostgreSQL 15 no longer lets everyone).
    client
        .batch_execute("CREATE TABLE t (x int)")
        .await
        .unwrap();

    if !server.is_external() {
        let wrong = server.url_for(&name, &role, Some("wrong"));
        let error = server.connect(&wrong).await.unwrap_err();
        assert_eq!(error.code(), Some(&SqlState::INVALID_PASSWORD), "{error:?}");
        let none = server.url_for(&name, &role, None);
        assert!(server.connect(&none).await.is_err());
    }

    // Resetting the password of an existing role.
    server.create_role(&role, "second").await;
    assert!(server
        .connect(&server.url_for(&name, &role, Some("second")))
        .await
        .is_ok());

    drop(client);
    server.drop_database(&database).await;
    server.execute(&format!("DROP ROLE \"{role}\"")).await;
}

#[tokio::test]
async fn tls_server_has_ssl_on() {
    let tls = pg::tls_server();
    assert!(!tls.is_external());
    let plain = tls.connect(&tls.admin_url()).await.unwrap();
    let ssl: String = plain.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(ssl, "on");
    let encrypted: bool = plain
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!encrypted, "the harness's own connections are plain");

    for file in [
        tls.ca_cert_path(),
        tls.other_ca_cert_path(),
        tls.server_cert_path(),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{file:?}");
    }
    assert_ne!(tls.ca_cert_pem(), tls.other_ca_cert_pem());
    assert!(tls.server_names().contains(&"localhost"));

    // A client that cannot do TLS is refused by sslmode=require.
    let require = format!("{}?sslmode=require", tls.admin_url());
    assert!(tls.connect(&require).await.is_err());

    let database = tls.create_database("harness_tls").await;
    assert!(tls.connect(&database).await.is_ok());
    tls.drop_database(&database).await;

    // A second cluster: not the same as the plain one (when that is local too).
    if !pg::server().is_external() {
        assert_ne!(tls.port(), pg::server().port());
    }
}

/// Set in the child process of [`killed_process_leaves_nothing_behind`].
const CHILD_ENV: &str = "DBOS_PG_HARNESS_CHILD";

/// Not a test on its own: with [`CHILD_ENV`] set, starts a local cluster, prints its directory
/// and port, and waits to be killed.
#[test]
fn child_starts_a_cluster_and_waits() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let server = pg::server();
    let dir = server.cluster_dir().expect("a local cluster");
    println!("CLUSTER {} {}", server.port(), dir.display());
    std::thread::sleep(Duration::from_secs(120));
}

/// Kills the child process when dropped, so that a failing test does not leave it waiting.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn killed_process_leaves_nothing_behind() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_starts_a_cluster_and_waits",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env_remove(pg::URL_ENV)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map(KillOnDrop)
        .unwrap();
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    // libtest prints "test <name> ... " before the child's own output, on the same line.
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| Some(line.split_once("CLUSTER ")?.1.to_string()))
        .expect("the child reports its cluster");
    let mut parts = line.splitn(2, ' ');
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let dir = PathBuf::from(parts.next().unwrap());
    assert!(dir.join("data").is_dir());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());

    drop(child); // SIGKILL: no destructor, no panic hook runs

    let deadline = Instant::now() + Duration::from_secs(20);
    while dir.exists() || TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{} or the server on port {port} is still there",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
