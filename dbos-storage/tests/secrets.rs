//! Passwords never print: every log line of this test process (all `tracing` events and spans
//! at TRACE, and every `log` record of the dependencies, such as tokio-postgres and rustls) and
//! the `Display` and `Debug` text of every error, URL, configuration and store it produces are
//! scanned for the test passwords.
//!
//! A test without the libtest harness (`harness = false`): `main` installs the capture
//! ([`dbos_storage_testkit::logs`]) before anything runs, runs every scenario in order (a
//! failing scenario fails the binary), and scans at the end, so the scan covers the whole run,
//! background tasks included. With the `postgres` feature the scenarios include a real server:
//! a wrong password, refused and unknown hosts, TLS failures, pool exhaustion with the retry
//! policy's give-up warnings, and a password changed under a running pool.

use std::process::ExitCode;
use std::time::Duration;

use dbos_storage::{connect, DatabaseUrl, DbosConfig, Error};
use dbos_storage_testkit::logs;

/// The password of every URL and configuration of this file.
const PASSWORD: &str = "Sec-ret_Pa55-9w4";
/// A password with characters that URLs percent-encode; its encoded form is watched too.
const ODD_PASSWORD: &str = "p@ss:w0rd/!?#";
const ODD_PASSWORD_ENCODED: &str = "p%40ss%3Aw0rd%2F%21%3F%23";

/// Scans the `Display` and `Debug` text of `err` and returns it.
fn seen(err: Error) -> Error {
    logs::observe(&err.to_string());
    logs::observe(&format!("{err:?}"));
    logs::observe(err.message());
    err
}

/// Scans the `Debug` text of a value.
fn seen_debug(value: &dyn std::fmt::Debug) {
    logs::observe(&format!("{value:?}"));
    logs::observe(&format!("{value:#?}"));
}

fn url(user_pass: &str, rest: &str) -> String {
    format!("postgresql://app:{user_pass}@127.0.0.1:1/orders{rest}")
}

/// URLs, configurations and their errors, without a server.
async fn without_a_server() {
    for raw in [
        url(PASSWORD, "?sslmode=require"),
        url(ODD_PASSWORD_ENCODED, ""),
        format!("postgresql://app@db/orders?password={PASSWORD}&sslmode=disable"),
        format!("cockroachdb://root:{PASSWORD}@db:26257/defaultdb?sslmode=verify-full"),
    ] {
        let parsed = DatabaseUrl::parse(&raw).expect("parses");
        logs::observe(&parsed.to_string());
        logs::observe(parsed.redacted());
        seen_debug(&parsed);
    }
    // Malformed URLs carrying the password: the errors quote the URL redacted.
    for raw in [
        format!("postgresql://u:{PASSWORD}@h:99999/db"),
        format!("postgresql://u:{PASSWORD}@h/d%zzb"),
        format!("postgresql://u:{PASSWORD}@h1,h2/db"),
        format!("postgresql://u:{PASSWORD}@h"),
        format!("postgresql://u:{PASSWORD}@a b/db"),
        format!("mysql://u:{PASSWORD}@h/db"),
        format!("postgresql:u:{PASSWORD}@h/db"),
    ] {
        if let Err(e) = DatabaseUrl::parse(&raw) {
            seen(e);
        }
        let config = DbosConfig::new("secrets").with_system_database_url(raw.clone());
        seen_debug(&config);
        if let Err(e) = connect(&config).await {
            seen(e);
        }
    }
    let config = DbosConfig::new("secrets")
        .with_system_database_url("sqlite:///x.sqlite")
        .with_application_database_url(url(PASSWORD, ""));
    seen_debug(&config);
    seen(connect(&config).await.unwrap_err());

    // YAML with the password from the environment, and YAML errors around it.
    let lookup = |v: &str| (v == "DB_PASSWORD").then(|| PASSWORD.to_owned());
    let yaml = "name: secrets\nsystem_database_url: postgresql://app:${DB_PASSWORD}@db/orders\n";
    let config = DbosConfig::from_yaml_str_with_env(yaml, lookup).unwrap();
    seen_debug(&config);
    for yaml in [
        "name: secrets\npool_size: ${DB_PASSWORD}\n",
        "name: [${DB_PASSWORD}\n",
        "name: secrets\nsystem_database_url: \"${DB_PASSWORD}\n",
        "name: secrets\nsystem_database_url: postgresql://a:${DB_PASSWORD}@h:x/db\n",
    ] {
        if let Err(e) = DbosConfig::from_yaml_str_with_env(yaml, lookup) {
            seen(e);
        }
    }
    let env = |v: &str| match v {
        "DBOS_SYSTEM_DATABASE_URL" => Some(url(PASSWORD, "")),
        "DBOS_POOL_SIZE" => Some(PASSWORD.to_owned()),
        _ => None,
    };
    seen(DbosConfig::new("secrets").apply_env_with(env).unwrap_err());
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::Arc;

    use dbos_storage::postgres::{PostgresConfig, PostgresStore};
    use dbos_storage::{
        connect, DatabaseUrl, DbosConfig, ErrorKind, InsertOptions, ListWorkflowsQuery,
        NewWorkflow, Outcome, Params, Payload, RetryPolicy, RetryingStore, StepRecord,
        TransactionCall, WorkflowStore,
    };
    use dbos_storage_testkit::{logs, pg};

    use super::*;

    /// A role with `password` on the test server, owning a fresh database; returns its URL.
    /// The role is created before the password is watched: the harness's own `CREATE ROLE`
    /// statement (logged by tokio-postgres) is not the product's output.
    async fn role_and_database(prefix: &str, password: &str) -> (String, String, String) {
        let server = pg::server();
        let role = server.unique_name(prefix);
        server.create_role(&role, password).await;
        let admin = server.create_database(prefix).await;
        server.set_database_owner(&admin, &role).await;
        let database = pg::database_name(&admin);
        (
            server.url_for(&database, &role, Some(password)),
            admin,
            role,
        )
    }

    /// The normal path with echo on: connect, migrate, write, read, an application transaction.
    async fn a_working_store(url: &str) {
        let config = DbosConfig::new("secrets")
            .with_system_database_url(url)
            .with_application_database_url(url)
            .with_echo(true);
        let stores = connect(&config).await.expect("connect with the password");
        seen_debug(&stores);
        let wf = NewWorkflow::new("w1", "f", Payload::portable_json("[]"));
        let owner = wf.creator_xid.clone();
        stores
            .system
            .insert_workflow(wf, InsertOptions::default())
            .await
            .unwrap();
        stores
            .system
            .record_step(
                StepRecord::output("w1", 1, "s", Payload::portable_json("1")),
                Some(&owner),
            )
            .await
            .unwrap();
        stores
            .system
            .list_workflows(ListWorkflowsQuery::default())
            .await
            .unwrap();
        let app = stores.app.clone().unwrap();
        let mut body = dbos_storage::transaction_body(|tx| {
            Box::pin(async move {
                tx.execute("CREATE TABLE IF NOT EXISTS t (x int)", Params::new())
                    .await?;
                tx.execute("INSERT INTO t VALUES (:x)", Params::new().bind("x", 1))
                    .await?;
                Ok(Outcome::Output(Payload::portable_json("1")))
            })
        });
        app.run_transaction(TransactionCall::new("w1", 2, "tx"), &mut body)
            .await
            .unwrap();
        let e = app
            .run_transaction(
                TransactionCall::new("w1", 3, "bad"),
                &mut dbos_storage::transaction_body(|tx| {
                    Box::pin(async move {
                        tx.execute("SELEC 1", Params::new()).await?;
                        Ok(Outcome::Output(Payload::portable_json("1")))
                    })
                }),
            )
            .await
            .unwrap_err();
        seen(e);
        stores.system.close().await.unwrap();
        app.close().await.unwrap();
    }

    async fn connection_failures(url: &str) {
        let wrong = url.replace(PASSWORD, "not-the-password");
        let e = seen(connect_url_err(&wrong).await);
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        // The right password, a wrong user: the message names the user, never the password.
        let e = seen(connect_url_err(&url.replace("://", "://x")).await);
        assert!(!e.is_retryable(), "{e}");

        let server = pg::server();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        for target in [
            format!("postgresql://app:{PASSWORD}@127.0.0.1:{port}/db?connect_timeout=2"),
            format!("postgresql://app:{PASSWORD}@no-such-host.invalid/db?connect_timeout=2"),
            format!("postgresql://app:{ODD_PASSWORD_ENCODED}@127.0.0.1:{port}/db"),
            // TLS required from a server without TLS.
            format!(
                "postgresql://app:{PASSWORD}@{}:{}/postgres?sslmode=require",
                server.host(),
                server.port()
            ),
            format!(
                "{url}{}sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
                if url.contains('?') { '&' } else { '?' }
            ),
        ] {
            seen(connect_url_err(&target).await);
        }
    }

    async fn connect_url_err(url: &str) -> dbos_storage::Error {
        let config = DbosConfig::new("secrets")
            .with_system_database_url(url)
            .with_pool_timeout(Duration::from_secs(2));
        match connect(&config).await {
            Ok(_) => panic!("connected to {}", DatabaseUrl::parse(url).unwrap()),
            Err(e) => e,
        }
    }

    /// TLS failures against the TLS cluster: a CA that did not sign the server's certificate,
    /// and a host name the certificate does not name.
    async fn tls_failures(role: &str) {
        let tls = pg::tls_server();
        let base = tls.url_for("postgres", role, Some(PASSWORD));
        let other_ca = tls.other_ca_cert_path().display().to_string();
        let ca = tls.ca_cert_path().display().to_string();
        let sep = if base.contains('?') { '&' } else { '?' };
        for query in [
            format!("sslmode=verify-full&sslrootcert={other_ca}"),
            format!("sslmode=verify-ca&sslrootcert={other_ca}"),
            format!("sslmode=verify-full&sslrootcert={ca}&sslcert=/nonexistent.crt"),
        ] {
            seen(connect_url_err(&format!("{base}{sep}{query}")).await);
        }
        let by_name = base.replace("127.0.0.1", "127.0.0.2");
        if by_name != base {
            seen(
                connect_url_err(&format!(
                    "{by_name}{sep}sslmode=verify-full&sslrootcert={ca}"
                ))
                .await,
            );
        }
    }

    /// A pool of 1 held by a statement waiting on a row lock: callers behind the retry policy
    /// give up (logging the policy's warnings) with `PoolExhausted`. Then the role's password
    /// changes and its sessions end: new connections fail authentication, which the pool logs
    /// and names in its next `PoolExhausted`.
    async fn pool_exhaustion_and_a_changed_password(url: &str, admin: &str, role: &str) {
        let dbos = DbosConfig::new("secrets")
            .with_sys_db_pool_size(1)
            .with_pool_timeout(Duration::from_millis(300))
            .with_use_listen_notify(false)
            .with_echo(true);
        let parsed = DatabaseUrl::parse(url).unwrap();
        let config = PostgresConfig::system(&dbos, &parsed).unwrap();
        seen_debug(&config);
        let store = Arc::new(PostgresStore::open(config).await.unwrap());
        dbos_storage::LifecycleStore::migrate(store.as_ref())
            .await
            .unwrap();
        seen_debug(&store);
        let wf = NewWorkflow::new("held", "f", Payload::portable_json("[]"));
        let owner = wf.creator_xid.clone();
        store
            .insert_workflow(wf, InsertOptions::default())
            .await
            .unwrap();

        let locker = pg::server().connect(admin).await.unwrap();
        locker
            .batch_execute(
                "BEGIN; SELECT 1 FROM dbos.workflow_status WHERE workflow_uuid = 'held' FOR UPDATE",
            )
            .await
            .unwrap();
        let blocked = {
            let store = store.clone();
            tokio::spawn(async move {
                let done = Outcome::Output(Payload::portable_json("1"));
                store.record_outcome("held", done, Some(&owner)).await
            })
        };
        let retrying = RetryingStore::new(
            store.clone(),
            RetryPolicy::default().max_elapsed(Duration::from_secs(1)),
        );
        seen_debug(&retrying);
        let mut exhausted = None;
        for _ in 0..50 {
            match retrying.get_workflows(&["held".to_owned()]).await {
                Err(e) if e.kind() == ErrorKind::PoolExhausted => {
                    exhausted = Some(e);
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let e = seen(exhausted.expect("the pool of 1 is exhausted"));
        assert!(e.retries_exhausted(), "{e}");
        locker.batch_execute("COMMIT").await.unwrap();
        blocked.await.unwrap().unwrap();

        // The password changes and the role's sessions end.
        let server = pg::server();
        server
            .execute(&format!(
                "ALTER ROLE \"{role}\" PASSWORD 'changed-{}'",
                std::process::id()
            ))
            .await;
        server
            .execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
            ))
            .await;
        let mut last = None;
        for _ in 0..50 {
            match retrying.get_workflows(&["held".to_owned()]).await {
                Err(e) if e.message().contains("last connection error") => {
                    last = Some(e);
                    break;
                }
                Err(e) => {
                    seen(e);
                }
                Ok(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let e = seen(last.expect("the pool names its last connection error"));
        assert!(e.message().contains("password"), "{e}");
        dbos_storage::LifecycleStore::close(store.as_ref())
            .await
            .unwrap();
    }

    pub(super) async fn run() {
        let (url, admin, role) = role_and_database("secrets", PASSWORD).await;
        let tls = pg::tls_server();
        let tls_role = tls.unique_name("secrets_tls");
        tls.create_role(&tls_role, PASSWORD).await;
        logs::watch(PASSWORD);
        a_working_store(&url).await;
        connection_failures(&url).await;
        tls_failures(&tls_role).await;
        pool_exhaustion_and_a_changed_password(&url, &admin, &role).await;
        pg::server().drop_database(&admin).await;
    }
}

/// A watched string logged on purpose, to prove the scan finds what it looks for.
const CANARY: &str = "canary-not-a-password-5150";

/// Log lines each scenario must have produced (so the scan is known to have seen them).
#[cfg(feature = "postgres")]
const EXPECTED_LINES: &[&str] = &[
    "connected",                         // facade: connect()
    "executing statement",               // tokio-postgres `log` records (DEBUG)
    "giving up at the retry time bound", // RetryPolicy's WARN
    "cannot open a pooled connection",   // the pool's error sink, WARN
    "password authentication failed",    // the server's error, in logs and errors
    "certificate",                       // a TLS failure
];
#[cfg(not(feature = "postgres"))]
const EXPECTED_LINES: &[&str] = &["available schemes"];

fn main() -> ExitCode {
    let installed = logs::install(tracing::Level::TRACE);
    assert!(
        installed,
        "the log capture must be the process's subscriber"
    );
    logs::watch(CANARY);
    tracing::info!(value = CANARY, "the canary");
    assert_eq!(logs::leaks().len(), 1, "the scan finds a watched string");
    for line in EXPECTED_LINES {
        logs::count_lines_with(line);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The PostgreSQL scenarios create their roles (whose CREATE ROLE statement the harness
        // logs) before watching the password; everything else is watched from the start.
        #[cfg(feature = "postgres")]
        postgres::run().await;
        logs::watch(PASSWORD);
        logs::watch(ODD_PASSWORD);
        logs::watch(ODD_PASSWORD_ENCODED);
        without_a_server().await;
    });
    // Let background tasks (pool replenishers, connection tasks) log what they still have.
    runtime.shutdown_timeout(Duration::from_secs(5));
    let leaks: Vec<_> = logs::leaks().into_iter().skip(1).collect(); // the canary
    let lines = logs::lines();
    let missing: Vec<_> = EXPECTED_LINES
        .iter()
        .filter(|l| logs::count(l) == 0)
        .collect();
    if !missing.is_empty() {
        eprintln!("secrets: no log line or message contained {missing:?}: a scenario did not run");
        return ExitCode::FAILURE;
    }
    if !leaks.is_empty() {
        eprintln!(
            "secrets: {} of {lines} log lines and messages contain a test password:\n{}",
            leaks.len(),
            leaks.join("\n")
        );
        return ExitCode::FAILURE;
    }
    println!("secrets: {lines} log lines and messages scanned, no password found");
    ExitCode::SUCCESS
}
