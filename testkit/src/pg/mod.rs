//! The PostgreSQL test harness: a server for the tests of a process, and a
//! fresh database per test case.
//!
//! [`server()`] returns the server, started on first use:
//!
//! * with [`URL_ENV`] (`DBOS_TEST_POSTGRES_URL`) set, the server at that URL. It is the admin
//!   URL: its user must be allowed to `CREATE DATABASE` from the database it names. Nothing is
//!   started.
//! * without it, a throwaway cluster: `initdb` and `pg_ctl` from the PATH (or the directory
//!   `pg_config --bindir` names, or `/usr/lib/postgresql/<version>/bin`), in a new temporary
//!   directory, listening on 127.0.0.1 at a free port and on a Unix socket in a private
//!   directory, with durability off (`fsync`, `synchronous_commit`, `full_page_writes`). When
//!   the tests run as root, `initdb` and the server run as the `postgres` account (else
//!   `nobody`). A detached watchdog stops the server and removes the directory once the test
//!   process has ended — normally, by a panic, or killed.
//!
//! Without the variable and without binaries, [`server()`] panics with a message saying how to
//! install PostgreSQL or set the variable: a backend that cannot be provided fails the tests,
//! it never skips them.
//!
//! The local cluster authenticates TCP connections from 127.0.0.1 with SCRAM passwords for every
//! role but the superuser `postgres`, which is trusted: [`PgServer::create_role`] makes a role
//! with a password, and a wrong password fails.
//!
//! [`tls_server()`] is a second local cluster, with `ssl = on` and certificates generated at
//! test time (see [`TlsPgServer`]); it always needs the binaries.
//!
//! [`DedicatedPgServer::start`] starts a cluster that one test owns, with PostgreSQL's own
//! durability settings, and can crash it (`pg_ctl stop -m immediate`) and start it again on
//! the same port: the fault-injection campaign's server crashes.
//!
//! Every call works from inside any tokio runtime (the `suite!` tests' own runtimes,
//! `#[tokio::test]`): the async methods open a short-lived connection on the caller's runtime,
//! which must have its time and I/O drivers enabled. The first call of [`server()`] or
//! [`tls_server()`] blocks its thread for the start (about two seconds); concurrent first calls
//! wait for the same start.
//!
//! ```no_run
//! # async fn example() {
//! use dbos_storage_testkit::pg;
//!
//! let url = pg::server().create_database("my_driver").await;
//! // … open the store under test on `url`, run the case …
//! pg::server().drop_database(&url).await;
//! # }
//! ```

mod certs;
mod cluster;
pub mod faults;
mod url;

use std::error::Error as _;
use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use self::cluster::Cluster;
use self::url::{quote_ident, quote_literal, PgUrl};

/// The environment variable naming an existing server to test against (an admin URL such as
/// `postgresql://user:pass@host:5432/postgres`); unset or empty, the harness starts its own.
pub const URL_ENV: &str = "DBOS_TEST_POSTGRES_URL";

/// The superuser of the local clusters; trusted without a password.
pub const SUPERUSER: &str = "postgres";

/// How long the harness's own connections may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
static TLS_SERVER: OnceLock<Result<TlsPgServer, String>> = OnceLock::new();

/// Numbers the names of [`PgServer::unique_name`] within this process.
static NAME_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The PostgreSQL server of this test process, started (or found through [`URL_ENV`]) on the
/// first call; later calls return the same one.
///
/// # Panics
/// When there is no server to use: no [`URL_ENV`] and no PostgreSQL binaries (the message says
/// how to fix that), a failed `initdb` or `pg_ctl start` (with their output and the end of
/// the server log), or a URL the harness cannot connect to. Every later call panics with the
/// same message, without trying again.
pub fn server() -> &'static PgServer {
    match SERVER.get_or_init(PgServer::from_environment) {
        Ok(server) => server,
        Err(message) => panic!("{message}"),
    }
}

/// A second local cluster, with TLS (`ssl = on`), started on the first call. It ignores
/// [`URL_ENV`]: its certificates are made by the harness, so it always needs the PostgreSQL
/// binaries.
///
/// # Panics
/// As [`server()`], and when the certificates cannot be generated.
pub fn tls_server() -> &'static TlsPgServer {
    let started = TLS_SERVER.get_or_init(|| {
        let server = PgServer::local(cluster::Options {
            tls: true,
            durable: false,
        })?;
        Ok(TlsPgServer { server })
    });
    match started {
        Ok(server) => server,
        Err(message) => panic!("{message}"),
    }
}

/// A PostgreSQL server the tests use: a local throwaway cluster, or the server of
/// [`URL_ENV`]. Get it with [`server()`] (or [`tls_server()`]).
///
/// The async methods connect as the admin user with [`NoTls`] for each call, on the caller's
/// runtime.
pub struct PgServer {
    admin: PgUrl,
    cluster: Option<Cluster>,
    version: String,
    version_num: u32,
}

impl PgServer {
    /// The server [`server()`] returns: [`URL_ENV`]'s, else a local cluster.
    fn from_environment() -> Result<PgServer, String> {
        match std::env::var(URL_ENV) {
            Ok(url) if !url.trim().is_empty() => PgServer::external(url.trim()),
            _ => PgServer::local(cluster::Options::default()),
        }
    }

    fn external(url: &str) -> Result<PgServer, String> {
        let admin = PgUrl::parse(url).map_err(|e| format!("{URL_ENV} is not usable: {e}"))?;
        let (version, version_num) = probe(&admin, Duration::ZERO).map_err(|e| {
            format!(
                "cannot connect to {URL_ENV} ({}): {e}\nStart that server or fix the URL, or \
                 unset {URL_ENV} to let the tests start a local cluster.",
                admin.redacted()
            )
        })?;
        Ok(PgServer {
            admin,
            cluster: None,
            version,
            version_num,
        })
    }

    fn local(options: cluster::Options) -> Result<PgServer, String> {
        let cluster = cluster::start(options)?;
        let admin = PgUrl::parse(&format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/postgres",
            cluster.port
        ))?;
        let (version, version_num) = probe(&admin, Duration::from_secs(10)).map_err(|e| {
            format!(
                "the local cluster in {} started but does not answer at {admin}: {e}",
                cluster.dir.display()
            )
        })?;
        Ok(PgServer {
            admin,
            cluster: Some(cluster),
            version,
            version_num,
        })
    }

    /// The admin URL: for a local cluster `postgresql://postgres@127.0.0.1:PORT/postgres`,
    /// else the value of [`URL_ENV`].
    pub fn admin_url(&self) -> String {
        self.admin.to_string()
    }

    /// The user of the admin URL (`postgres` for a local cluster; `None` when the URL names no
    /// user and the driver's default applies).
    pub fn admin_user(&self) -> Option<&str> {
        self.admin.user()
    }

    /// The host of the admin URL (`127.0.0.1` for a local cluster).
    pub fn host(&self) -> String {
        self.admin.host()
    }

    /// The TCP port of the admin URL.
    pub fn port(&self) -> u16 {
        self.admin.port()
    }

    /// Whether this is the server of [`URL_ENV`] rather than a cluster the harness started.
    pub fn is_external(&self) -> bool {
        self.cluster.is_none()
    }

    /// The server's `SELECT version()`, e.g. `PostgreSQL 15.8 on x86_64-pc-linux-gnu, …`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The server's `server_version_num`, e.g. `150008` for 15.8.
    pub fn version_num(&self) -> u32 {
        self.version_num
    }

    /// The temporary directory of a local cluster (`data/`, `sock/`, `tls/`, `server.log`);
    /// `None` for an external server. It is removed after the test process ends.
    pub fn cluster_dir(&self) -> Option<&Path> {
        self.cluster.as_ref().map(|c| c.dir.as_path())
    }

    /// The directory of a local cluster's Unix socket (for `host=/that/dir` connections).
    pub fn socket_dir(&self) -> Option<&Path> {
        self.cluster.as_ref().and_then(|c| c.socket_dir.as_deref())
    }

    /// A local cluster's server log.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.cluster.as_ref().map(|c| c.dir.join("server.log"))
    }

    /// A name unique among the live processes of this machine: `{prefix}_{pid}_{n}`, lower case, with characters other than ASCII letters, digits and `_` replaced by `_`
    /// (a valid unquoted identifier of at most 63 bytes). For databases, schemas and roles.
    pub fn unique_name(&self, prefix: &str) -> String {
        let mut clean: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        if !clean.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
            clean.insert_str(0, "db_");
        }
        clean.truncate(32);
        let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{clean}_{}_{n}", std::process::id())
    }

    /// The admin URL with `user`, `password` (none: no password) and `database` instead. For
    /// a local cluster it connects over TCP to 127.0.0.1, where every role but `postgres` must
    /// give its password.
    pub fn url_for(&self, database: &str, user: &str, password: Option<&str>) -> String {
        self.admin.with_login(database, user, password).to_string()
    }

    /// Creates an empty database named [`PgServer::unique_name`]`(prefix)`, owned by the admin
    /// user, and returns the admin URL naming it. Drop it with [`PgServer::drop_database`].
    ///
    /// # Panics
    /// When the database cannot be created (the message has the server's error).
    pub async fn create_database(&self, prefix: &str) -> String {
        self.create_database_with(prefix, "").await
    }

    /// As [`PgServer::create_database`], with `options` after the name (`TEMPLATE template0
    /// LC_COLLATE 'C.UTF-8' …`).
    ///
    /// # Panics
    /// When the database cannot be created (the message has the server's error).
    pub async fn create_database_with(&self, prefix: &str, options: &str) -> String {
        let client = self.admin_client().await;
        let mut busy_retries = 0;
        for _ in 0..100 {
            let name = self.unique_name(prefix);
            let sql = format!("CREATE DATABASE {} {options}", quote_ident(&name));
            match client.batch_execute(&sql).await {
                Ok(()) => return self.admin.with_database(&name).to_string(),
                // A database left behind by an earlier process with the same pid.
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => continue,
                // "source database template1 is being accessed by other users": transient.
                Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && busy_retries < 50 => {
                    busy_retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!(
                    "cannot create database {name} on {}: {}",
                    self.admin.redacted(),
                    describe(&e)
                ),
            }
        }
        panic!("cannot find a free database name for prefix {prefix:?}");
    }

    /// Drops a database made by [`PgServer::create_database`], given its URL or its name,
    /// ending its open connections first (`DROP DATABASE … WITH (FORCE)`). Best effort: a
    /// failure is printed, not raised, and a missing database is fine. The admin database is
    /// never dropped.
    pub async fn drop_database(&self, url_or_name: &str) {
        let name = database_name(url_or_name);
        if name.is_empty() || Some(name.as_str()) == self.admin.database() {
            return;
        }
        let client = match self.connect(&self.admin_url()).await {
            Ok(client) => client,
            Err(e) => {
                eprintln!(
                    "dbos-storage harness: not dropping {name}: {}",
                    describe(&e)
                );
                return;
            }
        };
        let ident = quote_ident(&name);
        let forced = format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)");
        let result = match client.batch_execute(&forced).await {
            // Before PostgreSQL 13 there is no FORCE: end the sessions, then drop.
            Err(e) if e.code() == Some(&SqlState::SYNTAX_ERROR) => {
                let _ = client
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&name],
                    )
                    .await;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {ident}"))
                    .await
            }
            other => other,
        };
        if let Err(e) = result {
            eprintln!("dbos-storage harness: cannot drop {name}: {}", describe(&e));
        }
    }

    /// Makes `role` the owner of a database (given by URL or name), so that it may create
    /// tables in its `public` schema. An admin user that is not superuser (but has
    /// `CREATEROLE`) first grants itself membership in `role`, as PostgreSQL requires.
    ///
    /// # Panics
    /// When the server refuses.
    pub async fn set_database_owner(&self, url_or_name: &str, role: &str) {
        let client = self.admin_client().await;
        let alter = format!(
            "ALTER DATABASE {} OWNER TO {}",
            quote_ident(&database_name(url_or_name)),
            quote_ident(role)
        );
        let result = match client.batch_execute(&alter).await {
            Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                let grant = format!("GRANT {} TO CURRENT_USER", quote_ident(role));
                match client.batch_execute(&grant).await {
                    Ok(()) => client.batch_execute(&alter).await,
                    Err(_) => Err(e),
                }
            }
            other => other,
        };
        if let Err(e) = result {
            panic!("admin SQL failed: {alter}\n{}", describe(&e));
        }
    }

    /// Creates the login role `name` with `password` (stored as SCRAM-SHA-256), or, when it
    /// exists, resets its password. The role is neither superuser nor allowed to create
    /// databases; roles are not dropped by the harness.
    ///
    /// # Panics
    /// When the server refuses.
    pub async fn create_role(&self, name: &str, password: &str) {
        let client = self.admin_client().await;
        let role = quote_ident(name);
        let password = quote_literal(password);
        client
            .batch_execute("SET password_encryption = 'scram-sha-256'")
            .await
            .unwrap_or_else(|e| panic!("cannot select SCRAM passwords: {}", describe(&e)));
        let created = client
            .batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD {password}"))
            .await;
        let result = match created {
            Err(e)
                if e.code() == Some(&SqlState::DUPLICATE_OBJECT)
                    || e.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
            {
                client
                    .batch_execute(&format!("ALTER ROLE {role} LOGIN PASSWORD {password}"))
                    .await
            }
            other => other,
        };
        if let Err(e) = result {
            panic!("cannot create role {name}: {}", describe(&e));
        }
    }

    /// Runs `sql` (one or more statements, no parameters) as the admin user in the admin
    /// database, e.g. to create roles or change settings.
    ///
    /// # Panics
    /// When a statement fails; the message has the SQL and the server's error.
    pub async fn execute(&self, sql: &str) {
        let client = self.admin_client().await;
        if let Err(e) = client.batch_execute(sql).await {
            panic!("admin SQL failed: {sql}\n{}", describe(&e));
        }
    }

    /// Connects to `url` without TLS (a 10 s connect timeout unless the URL sets one) and
    /// drives the connection on a task of the current runtime; it closes when the client is
    /// dropped.
    ///
    /// # Errors
    /// The connection or authentication error.
    pub async fn connect(&self, url: &str) -> Result<Client, tokio_postgres::Error> {
        connect(url).await
    }

    /// A connection as the admin user, or a panic saying why there is none.
    async fn admin_client(&self) -> Client {
        match connect(&self.admin.to_string()).await {
            Ok(client) => client,
            Err(e) => panic!(
                "cannot connect to the test server at {}: {}",
                self.admin.redacted(),
                describe(&e)
            ),
        }
    }
}

impl fmt::Debug for PgServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgServer")
            .field("admin_url", &self.admin)
            .field("external", &self.is_external())
            .field("cluster_dir", &self.cluster_dir())
            .field("version_num", &self.version_num)
            .finish()
    }
}

/// The TLS cluster of [`tls_server()`]: a local cluster with `ssl = on`, serving a certificate
/// for `localhost`, `127.0.0.1` and `::1` signed by a CA generated at test time. It accepts
/// both TLS and plain connections (so `sslmode=disable` connects too; `pg_stat_ssl` tells them
/// apart), with the same authentication as [`server()`]'s local cluster.
///
/// Every [`PgServer`] method is available through `Deref` (`admin_url`, `port`,
/// `create_database`, …); the harness's own admin connections are plain.
///
/// For a certificate that does not match the host, connect with `host=wrong.example` and
/// `hostaddr=127.0.0.1`.
#[derive(Debug)]
pub struct TlsPgServer {
    server: PgServer,
}

impl TlsPgServer {
    fn tls(&self) -> &cluster::TlsFiles {
        self.server
            .cluster
            .as_ref()
            .and_then(|c| c.tls.as_ref())
            .expect("a TLS cluster has certificates")
    }

    /// The CA certificate (PEM file) that signed the server's certificate: trust it for
    /// `sslmode=verify-ca` / `verify-full`.
    pub fn ca_cert_path(&self) -> &Path {
        &self.tls().ca_cert
    }

    /// The CA certificate as PEM text.
    pub fn ca_cert_pem(&self) -> &str {
        &self.tls().ca_pem
    }

    /// An unrelated CA certificate (PEM file) that signed nothing the server presents:
    /// verifying against it must fail.
    pub fn other_ca_cert_path(&self) -> &Path {
        &self.tls().other_ca_cert
    }

    /// The unrelated CA certificate as PEM text.
    pub fn other_ca_cert_pem(&self) -> &str {
        &self.tls().other_ca_pem
    }

    /// The server's certificate (PEM file).
    pub fn server_cert_path(&self) -> &Path {
        &self.tls().server_cert
    }

    /// The names the server's certificate is valid for: `localhost`, `127.0.0.1`, `::1`.
    pub fn server_names(&self) -> &'static [&'static str] {
        certs::SERVER_NAMES
    }
}

impl Deref for TlsPgServer {
    type Target = PgServer;

    fn deref(&self) -> &PgServer {
        &self.server
    }
}

/// A local cluster owned by its creator rather than shared by the test process: it runs with
/// PostgreSQL's durability settings (`fsync`, `synchronous_commit` and `full_page_writes` on,
/// so a commit the server acknowledged survives a crash of the server) and can be stopped the
/// way a crash stops it and started again on the same port. It ignores [`URL_ENV`]: crashing a
/// server needs `pg_ctl`, so it always needs the PostgreSQL binaries.
///
/// Every [`PgServer`] method is available through `Deref`. Dropping it stops the server and
/// removes its directory (the watchdog of every local cluster does so too if the process
/// dies first).
///
/// The methods that run `pg_ctl` block their thread for as long as it runs (a second or so;
/// crash recovery at a restart may take longer): call them from `spawn_blocking` inside a
/// runtime.
#[derive(Debug)]
pub struct DedicatedPgServer {
    server: PgServer,
}

impl DedicatedPgServer {
    /// Starts a new cluster on a free port.
    ///
    /// # Errors
    /// The message [`server()`] would panic with: no binaries, or `initdb` or `pg_ctl start`
    /// failed (with their output and the end of the server log).
    pub fn start() -> Result<DedicatedPgServer, String> {
        let server = PgServer::local(cluster::Options {
            tls: false,
            durable: true,
        })?;
        Ok(DedicatedPgServer { server })
    }

    fn cluster(&self) -> &Cluster {
        self.server
            .cluster
            .as_ref()
            .expect("a dedicated server is a local cluster")
    }

    /// Crashes the server: `pg_ctl stop -m immediate`, which ends the postmaster and every
    /// backend at once without a checkpoint (clients see their connections drop, and new ones
    /// are refused). Returns once the server is gone.
    ///
    /// # Errors
    /// `pg_ctl`'s output when it fails.
    pub fn stop_immediate(&self) -> Result<(), String> {
        self.cluster().stop_immediate()
    }

    /// Starts the server again on the same port after [`DedicatedPgServer::stop_immediate`];
    /// returns once it accepts connections, after replaying its WAL.
    ///
    /// # Errors
    /// `pg_ctl`'s output and the end of the server log when it fails.
    pub fn start_again(&self) -> Result<(), String> {
        self.cluster().start_again()
    }
}

impl Deref for DedicatedPgServer {
    type Target = PgServer;

    fn deref(&self) -> &PgServer {
        &self.server
    }
}

impl Drop for DedicatedPgServer {
    fn drop(&mut self) {
        let cluster = self.cluster();
        let _ = cluster.stop_immediate();
        let _ = std::fs::remove_dir_all(&cluster.dir);
    }
}

/// The database a connection URL names, or `url_or_name` itself when it is not a URL (as
/// [`PgServer::drop_database`] reads its argument).
pub fn database_name(url_or_name: &str) -> String {
    self::url::database_name(url_or_name)
}

/// Connects without TLS and spawns the connection on the current runtime.
async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Asks the server at `url` for its version, retrying for up to `patience`. Runs on a thread of
/// its own with its own runtime, so that it works whether or not the caller is inside one.
fn probe(url: &PgUrl, patience: Duration) -> Result<(String, u32), String> {
    let url = url.to_string();
    let ask = move || -> Result<(String, u32), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
        runtime.block_on(async {
            let deadline = Instant::now() + patience;
            loop {
                let answer = async {
                    let client = connect(&url).await?;
                    let row = client
                        .query_one(
                            "SELECT version(), current_setting('server_version_num')::int4",
                            &[],
                        )
                        .await?;
                    Ok::<_, tokio_postgres::Error>((row.get(0), row.get::<_, i32>(1)))
                };
                match answer.await {
                    Ok((version, num)) => return Ok((version, u32::try_from(num).unwrap_or(0))),
                    Err(e) if Instant::now() >= deadline => return Err(describe(&e)),
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
    };
    std::thread::spawn(ask)
        .join()
        .unwrap_or_else(|_| Err("the connection attempt panicked".into()))
}

/// An error with its causes (tokio-postgres keeps the server's message in the source).
fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
