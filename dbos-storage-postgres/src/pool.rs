//! [`Pool`]: the bb8 connection pool, its transactions, and creation of a missing database.
//!
//! bb8 reports a connection that cannot be made only as a timeout of `get()`; the real cause
//! goes to its error sink (djc/bb8 #141). So [`Pool::connect`] first opens one connection itself,
//! failing at once with the real cause (bad password, unknown database, refused, TLS), and the
//! pool keeps the last connection error to attach to a [`PoolExhausted`](ErrorKind::PoolExhausted)
//! error.
//!
//! tokio-postgres bounds only the TCP connect by `connect_timeout`; a server (or a network
//! device) that accepts the connection and then says nothing would hang the startup forever,
//! and with it a bb8 slot that never comes back. Every connection this module opens bounds the
//! whole startup (TCP, TLS, authentication, session settings) by `connect_timeout`, as libpq
//! does. A pooled connection whose health check (`pool_pre_ping`) gets no answer is recorded
//! as the pool's last connection error, so the `PoolExhausted` error of a silent server says so.
//!
//! The health check is a round trip, as long as the single-statement calls it guards (a step
//! checkpoint). So, as HikariCP's `aliveBypassWindowMs`, a connection returned healthy to the
//! pool less than `pool_pre_ping_window` ago (500 ms by default) is handed out without one; a
//! connection whose session is known closed is always checked (and so replaced). A statement
//! sent on a connection that went silent within the window is bounded by TCP: the store's
//! connections carry a `tcp_user_timeout` (by default `connect_timeout`, see
//! [`PostgresConfig`]), after which unacknowledged data ends the connection with an error that
//! is classified as for any lost connection.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bb8::{ErrorSink, ManageConnection, RunError};
use bb8_postgres::PostgresConnectionManager;
use dbos_storage_core::{Backoff, DatabaseUrl, Error, ErrorKind, Isolation, Result, RetryPolicy};
use futures::future::BoxFuture;
use tokio_postgres::error::Severity;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, IsolationLevel, Row, Socket, Statement, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{PostgresConfig, IDLE_IN_TRANSACTION_SETTING};
use crate::error::{
    classify, classify_commit, classify_connect, classify_context, ends_session,
    is_created_concurrently, is_insufficient_privilege, is_stale_statement, is_template_in_use,
    is_unknown_database, lost_race, sqlstate, BACKEND,
};
use crate::sql::lifecycle::SELECT_ONE;

/// Why the manager could not open (or check) a connection.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The driver's or the server's error.
    Pg(tokio_postgres::Error),
    /// The startup did not finish within `connect_timeout`.
    TimedOut(Duration),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Pg(e) => fmt::Display::fmt(e, f),
            ConnectError::TimedOut(d) => write!(
                f,
                "the connection did not complete within connect_timeout={} s",
                format_seconds(*d)
            ),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Pg(e) => Some(e),
            ConnectError::TimedOut(_) => None,
        }
    }
}

impl From<tokio_postgres::Error> for ConnectError {
    fn from(e: tokio_postgres::Error) -> Self {
        ConnectError::Pg(e)
    }
}

/// Classifies a connection error of `url` (see [`classify_connect`]); a startup that timed out
/// is [`ConnectionLost`](ErrorKind::ConnectionLost) saying what to check.
pub(crate) fn classify_connect_error(err: ConnectError, url: &DatabaseUrl) -> Error {
    match err {
        ConnectError::Pg(e) => classify_connect(e, url),
        ConnectError::TimedOut(d) => Error::new(
            ErrorKind::ConnectionLost,
            format!(
                "cannot connect to {url}: the connection did not complete within \
                 connect_timeout={} s (TCP, TLS, authentication: the server, or something on \
                 the way, stopped answering); check that the host and port are those of a \
                 PostgreSQL server that is up, and the network between",
                format_seconds(d)
            ),
        )
        .with_backend(BACKEND),
    }
}

/// Runs a connection startup, bounded by `limit` (no bound when zero).
pub(crate) async fn bounded<T, F>(
    limit: Duration,
    startup: F,
) -> std::result::Result<T, ConnectError>
where
    F: Future<Output = std::result::Result<T, tokio_postgres::Error>>,
{
    if limit.is_zero() {
        return Ok(startup.await?);
    }
    match tokio::time::timeout(limit, startup).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ConnectError::TimedOut(limit)),
    }
}

/// What every new connection runs before its first use, as one batch: the driver's
/// `idle_in_transaction_session_timeout` and the dialect's default settings (each unless the
/// user's `options` set it), then the dialect's session settings.
fn session_setup(config: &PostgresConfig) -> String {
    let mut statements = Vec::new();
    if let Some(ms) = config.idle_in_transaction_timeout_ms {
        statements.push(format!("SET {IDLE_IN_TRANSACTION_SETTING} = {ms}"));
    }
    for (name, value) in &config.session_defaults {
        statements.push(format!("SET {name} = {value}"));
    }
    statements.extend(
        config
            .dialect()
            .session_settings()
            .iter()
            .map(|s| (*s).to_owned()),
    );
    statements.join("; ")
}

/// The bb8 connection manager: bb8-postgres's, plus the session setup of every new connection,
/// a bound on the whole startup, and a closed flag that makes returned connections be dropped
/// after [`Pool::close`].
pub(crate) struct Manager {
    inner: PostgresConnectionManager<MakeRustlsConnect>,
    /// The statements every new connection runs, in one round trip (see [`session_setup`]).
    session_setup: String,
    /// The bound of a whole startup (`connect_timeout`; zero: none).
    connect_timeout: Duration,
    closed: Arc<AtomicBool>,
    /// Where a health check that got no answer is recorded.
    last_error: LastError,
    /// A connection returned healthy less than this long ago is not pinged (zero: always).
    pre_ping_window: Duration,
    /// How many health checks went to the server (for tests).
    pings: Arc<AtomicU64>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = ConnectError;

    async fn connect(&self) -> std::result::Result<Conn, ConnectError> {
        let client = bounded(self.connect_timeout, async {
            let client = self.inner.connect().await?;
            if !self.session_setup.is_empty() {
                client.batch_execute(&self.session_setup).await?;
            }
            Ok(client)
        })
        .await?;
        // A connection was made: an earlier failure no longer describes the server.
        self.last_error.clear();
        Ok(Conn::new(client))
    }

    async fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), ConnectError> {
        if !conn.has_ended() && conn.returned_healthy.elapsed() < self.pre_ping_window {
            return Ok(());
        }
        self.pings.fetch_add(1, Ordering::Relaxed);
        let mut ping = UnansweredPing {
            last_error: &self.last_error,
            started: Instant::now(),
            answered: false,
        };
        let result = self.inner.is_valid(&mut conn.client).await;
        ping.answered = true;
        Ok(result?)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        let broken = self.closed.load(Ordering::Relaxed) || conn.has_ended();
        if !broken {
            // Called as the connection goes back to the pool (or into it, for the first one).
            conn.returned_healthy = Instant::now();
        }
        broken
    }
}

/// A pooled connection: the [`Client`] (it derefs to it) and the statements prepared on it.
///
/// The cache is keyed by statement text — the rendered statements of the store's `Queries`,
/// which live as long as the store — so a lookup hashes the text and allocates nothing; a
/// statement is `Parse`d once per connection and every later call is one `Bind`/`Execute`
/// round trip. The cache lives and dies with the connection. The `*_cached` methods run in
/// autocommit; a statement the server no longer knows (see [`is_stale_statement`]) is dropped
/// from the cache, prepared again and run once more — safe because the stale statement failed
/// before it ran.
///
/// The connection also keeps when it last went back to the pool open (or was opened): within
/// `pool_pre_ping_window` of that, the pool hands it out without a health check.
pub(crate) struct Conn {
    client: Client,
    statements: Mutex<HashMap<Box<str>, Statement>>,
    /// How many statements were prepared for the cache (for tests).
    prepares: AtomicU64,
    /// When the connection was opened or last returned to the pool not closed.
    returned_healthy: Instant,
    /// Whether a statement on it failed with an error that ends the session (the server
    /// terminated it, a FATAL error): the client may not know it is closed yet.
    ended: AtomicBool,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("closed", &self.client.is_closed())
            .field("prepares", &self.prepares())
            .finish_non_exhaustive()
    }
}

impl Deref for Conn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Conn {
    fn new(client: Client) -> Conn {
        Conn {
            client,
            statements: Mutex::new(HashMap::new()),
            prepares: AtomicU64::new(0),
            returned_healthy: Instant::now(),
            ended: AtomicBool::new(false),
        }
    }

    /// Whether the session is over: the client closed, or a statement on it failed with an
    /// error that ends the session. An ended connection never goes back into the pool.
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed) || self.client.is_closed()
    }

    /// Passes `result` through, noting an error that ends the session: the server sends the
    /// FATAL error of a terminated backend before it closes the socket, so a connection
    /// returned right after it still looks open to the client.
    fn noting<T>(
        &self,
        result: std::result::Result<T, tokio_postgres::Error>,
    ) -> std::result::Result<T, tokio_postgres::Error> {
        if let Err(e) = &result {
            let fatal = e.as_db_error().is_some_and(|db| {
                matches!(
                    db.parsed_severity(),
                    Some(Severity::Fatal | Severity::Panic)
                )
            });
            if fatal || e.is_closed() {
                self.ended.store(true, Ordering::Relaxed);
            }
        }
        result
    }

    /// The client, without its cache (a dedicated connection).
    pub(crate) fn into_client(self) -> Client {
        self.client
    }

    /// How many statements this connection prepared for its cache.
    pub(crate) fn prepares(&self) -> u64 {
        self.prepares.load(Ordering::Relaxed)
    }

    fn lookup(&self, sql: &str) -> Option<Statement> {
        self.statements.lock().ok()?.get(sql).cloned()
    }

    fn forget(&self, sql: &str) {
        if let Ok(mut statements) = self.statements.lock() {
            statements.remove(sql);
        }
    }

    /// The prepared statement of `sql` (parameter types as `types`, the rest inferred),
    /// preparing it on a miss.
    async fn statement(
        &self,
        sql: &str,
        types: &[Type],
    ) -> std::result::Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.lookup(sql) {
            return Ok(statement);
        }
        let statement = self.client.prepare_typed(sql, types).await?;
        self.prepares.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut statements) = self.statements.lock() {
            statements.insert(sql.into(), statement.clone());
        }
        Ok(statement)
    }

    /// Runs `sql` in autocommit with its cached statement and returns its rows; a stale
    /// statement is prepared again and run once more.
    pub(crate) async fn query_cached(
        &self,
        sql: &str,
        types: &[Type],
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.noting(self.statement(sql, types).await)?;
        self.noting(match self.client.query(&statement, params).await {
            Err(e) if is_stale_statement(&e) => {
                // A pooler's DISCARD ALL drops every statement of the session, not just this
                // one; the others are found stale (and re-prepared) when next used.
                self.forget(sql);
                drop(statement);
                let statement = self.statement(sql, types).await?;
                self.client.query(&statement, params).await
            }
            other => other,
        })
    }

    /// As [`Conn::query_cached`], for a statement that returns no rows: the number of rows it
    /// changed.
    pub(crate) async fn execute_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let statement = self.noting(self.statement(sql, &[]).await)?;
        self.noting(match self.client.execute(&statement, params).await {
            Err(e) if is_stale_statement(&e) => {
                self.forget(sql);
                drop(statement);
                let statement = self.statement(sql, &[]).await?;
                self.client.execute(&statement, params).await
            }
            other => other,
        })
    }

    /// As [`Conn::query_cached`], for a statement that returns at most one row.
    pub(crate) async fn query_opt_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
        Ok(self
            .query_cached(sql, &[], params)
            .await?
            .into_iter()
            .next())
    }

    /// As [`Conn::query_cached`], for a statement that returns exactly one row (no row is the
    /// driver's row-count error, as `query_one`).
    pub(crate) async fn query_one_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Row, tokio_postgres::Error> {
        let statement = self.noting(self.statement(sql, &[]).await)?;
        self.noting(match self.client.query_one(&statement, params).await {
            Err(e) if is_stale_statement(&e) => {
                self.forget(sql);
                drop(statement);
                let statement = self.statement(sql, &[]).await?;
                self.client.query_one(&statement, params).await
            }
            other => other,
        })
    }
}

/// A connection checked out of the pool; it derefs to a [`tokio_postgres::Client`] and returns to
/// the pool when dropped.
pub(crate) type PooledClient<'a> = bb8::PooledConnection<'a, Manager>;

/// The stream of a connection (plain TCP or socket, or TLS).
pub(crate) type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

/// The connection half of a connection opened with [`Pool::connect_raw`]: poll it to drive the
/// connection and read its asynchronous messages.
pub(crate) type RawConnection = tokio_postgres::Connection<Socket, Stream>;

/// Records a health check that was abandoned before the server answered (bb8 drops it when
/// the checkout reaches `pool_timeout`).
struct UnansweredPing<'a> {
    last_error: &'a LastError,
    started: Instant,
    answered: bool,
}

impl Drop for UnansweredPing<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.last_error.set(format!(
                "a pooled connection got no answer to its health check (pool_pre_ping) for {} \
                 s; the server may be unreachable or stalled",
                format_seconds(Duration::from_millis(
                    u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
                ))
            ));
        }
    }
}

/// The error sink: keeps the last error of a connection bb8 tried to open in the background.
#[derive(Clone, Default)]
struct LastError(Arc<Mutex<Option<String>>>);

impl fmt::Debug for LastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LastError")
    }
}

impl LastError {
    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    fn set(&self, text: String) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(text);
        }
    }

    fn clear(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = None;
        }
    }
}

impl ErrorSink<ConnectError> for LastError {
    fn sink(&self, error: ConnectError) {
        let text = match error {
            ConnectError::Pg(e) => classify(e).to_string(),
            timed_out @ ConnectError::TimedOut(_) => timed_out.to_string(),
        };
        tracing::warn!(target: "dbos_storage_postgres::pool", "cannot open a pooled connection: {text}");
        self.set(text);
    }

    fn boxed_clone(&self) -> Box<dyn ErrorSink<ConnectError>> {
        Box::new(self.clone())
    }
}

/// How [`Pool::transaction`] begins its transaction.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TxOptions {
    /// The isolation level; `None` is the server default (READ COMMITTED).
    pub(crate) isolation: Option<Isolation>,
    /// `READ ONLY`.
    pub(crate) read_only: bool,
}

/// A PostgreSQL connection pool. Cheap to clone; `Debug` shows no secret.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    pool: bb8::Pool<Manager>,
    config: PostgresConfig,
    closed: Arc<AtomicBool>,
    last_error: LastError,
    /// The manager's count of health checks sent.
    #[cfg_attr(not(test), allow(dead_code))]
    pings: Arc<AtomicU64>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.pool.state();
        f.debug_struct("Pool")
            .field("url", &self.inner.config.url.to_string())
            .field("max_size", &self.inner.config.max_size())
            .field("connections", &state.connections)
            .field("idle_connections", &state.idle_connections)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Pool {
    /// Opens the pool. One connection is made at once, so a wrong password, an unknown database,
    /// a refused connection or a TLS failure is reported immediately with its real cause.
    ///
    /// # Errors
    /// [`InvalidConfig`](ErrorKind::InvalidConfig) for bad credentials, an unknown database, a
    /// rejected certificate or unreadable certificate files;
    /// [`ConnectionLost`](ErrorKind::ConnectionLost) when the server cannot be reached.
    pub(crate) async fn connect(config: &PostgresConfig) -> Result<Pool> {
        let tls = config.tls.connector()?;
        let closed = Arc::new(AtomicBool::new(false));
        let last_error = LastError::default();
        let pings = Arc::new(AtomicU64::new(0));
        let manager = Manager {
            inner: PostgresConnectionManager::new(config.pg.clone(), tls),
            session_setup: session_setup(config),
            connect_timeout: config.connect_timeout,
            closed: closed.clone(),
            last_error: last_error.clone(),
            pre_ping_window: config.pool_pre_ping_window,
            pings: pings.clone(),
        };
        let pool = bb8::Pool::builder()
            .max_size(config.max_size())
            .connection_timeout(config.pool_timeout.max(Duration::from_millis(1)))
            .test_on_check_out(config.pool_pre_ping)
            .queue_strategy(bb8::QueueStrategy::Lifo)
            .error_sink(Box::new(last_error.clone()))
            .build_unchecked(manager);
        let first = pool
            .dedicated_connection()
            .await
            .map_err(|e| classify_connect_error(e, &config.url))?;
        // The pool has room: it is empty and max_size is at least 1.
        let _ = pool.add(first);
        Ok(Pool {
            inner: Arc::new(Inner {
                pool,
                config: config.clone(),
                closed,
                last_error,
                pings,
            }),
        })
    }

    /// How many health checks (`pool_pre_ping`) went to the server so far.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn pings(&self) -> u64 {
        self.inner.pings.load(Ordering::Relaxed)
    }

    /// Checks a connection out of the pool, waiting at most `pool_timeout`.
    ///
    /// # Errors
    /// [`Closed`](ErrorKind::Closed) after [`Pool::close`];
    /// [`PoolExhausted`](ErrorKind::PoolExhausted) when every connection was busy and none
    /// became free in time (the message names the pool settings to raise, and the last
    /// connection error if any); [`ConnectionLost`](ErrorKind::ConnectionLost) when the pool had
    /// room but could not open a connection in time (the message names the last connection
    /// error); a classified connection error otherwise.
    pub(crate) async fn get(&self) -> Result<PooledClient<'_>> {
        if self.is_closed() {
            return Err(Error::closed().with_backend(BACKEND));
        }
        match self.inner.pool.get().await {
            Ok(conn) => Ok(conn),
            Err(RunError::User(e)) => Err(classify_connect_error(e, &self.inner.config.url)),
            Err(RunError::TimedOut) => Err(self.exhausted()),
        }
    }

    /// As [`Pool::get`], for a connection that does not borrow the pool (the application store's
    /// transaction handle owns one, so that it can be `'static`).
    ///
    /// # Errors
    /// As [`Pool::get`].
    pub(crate) async fn get_owned(&self) -> Result<PooledClient<'static>> {
        if self.is_closed() {
            return Err(Error::closed().with_backend(BACKEND));
        }
        match self.inner.pool.get_owned().await {
            Ok(conn) => Ok(conn),
            Err(RunError::User(e)) => Err(classify_connect_error(e, &self.inner.config.url)),
            Err(RunError::TimedOut) => Err(self.exhausted()),
        }
    }

    /// The error of a checkout that timed out.
    ///
    /// With fewer connections open than the pool may hold, the pool was not exhausted: it had
    /// room and could not open a connection in time (the server is down, restarting or
    /// unreachable). That is [`ConnectionLost`](ErrorKind::ConnectionLost), naming the last
    /// connection error, rather than advice to raise the pool size (found by the
    /// fault-injection campaign's server crash).
    fn exhausted(&self) -> Error {
        let c = &self.inner.config;
        let open = self.inner.pool.state().connections;
        if open < c.max_size() {
            let mut message = format!(
                "cannot reach PostgreSQL: no connection could be opened within pool_timeout={} s \
                 ({open} of {} open)",
                format_seconds(c.pool_timeout),
                c.max_size()
            );
            if let Some(last) = self.inner.last_error.get() {
                message.push_str("; last connection error: ");
                message.push_str(&last);
            }
            return Error::new(ErrorKind::ConnectionLost, message).with_backend(BACKEND);
        }
        let mut message = format!(
            "connection pool limit of size {} overflow {} reached, timed out after {} s; raise \
             pool_size / sys_db_pool_size or reduce concurrency",
            c.pool_size,
            c.max_overflow,
            format_seconds(c.pool_timeout)
        );
        if let Some(last) = self.inner.last_error.get() {
            message.push_str("; last connection error: ");
            message.push_str(&last);
        }
        Error::new(ErrorKind::PoolExhausted, message).with_backend(BACKEND)
    }

    /// Runs `f` in one transaction: `BEGIN` with `options`, `f`, `COMMIT`. When `f` fails, the
    /// transaction is rolled back and its error returned.
    ///
    /// A failed transaction has released its locks when this returns. The server sends an
    /// error before it aborts the transaction, so its row locks outlive the error by a moment,
    /// and a retry on another pooled connection would wait for them or, with `SKIP LOCKED`, pass
    /// over rows nobody is claiming. So the `ROLLBACK` after a failure of `f` is awaited, and
    /// after a failed `COMMIT` a `SELECT 1` on the same connection waits for the abort to
    /// finish, each for at most [`ROLLBACK_TIMEOUT`]. A connection where that fails or takes
    /// longer is discarded, never handed out again (its locks then last until the server ends
    /// the session).
    ///
    /// # Errors
    /// As [`Pool::get`]; the error of `f`; a classified error of `BEGIN` or `COMMIT` (a connection
    /// lost during `COMMIT` is [`AmbiguousCommit`](ErrorKind::AmbiguousCommit)).
    pub(crate) async fn transaction<R, F>(&self, options: TxOptions, f: F) -> Result<R>
    where
        R: Send,
        F: for<'t> FnOnce(&'t Transaction<'t>) -> BoxFuture<'t, Result<R>> + Send,
    {
        let mut conn = self.get().await?;
        let config = &self.inner.config;
        let mut released = true;
        let mut commit_failed = false;
        let result: Result<R> = async {
            let mut builder = conn.build_transaction();
            if let Some(isolation) = options.isolation {
                builder = builder.isolation_level(isolation_level(isolation));
            }
            if options.read_only {
                builder = builder.read_only(true);
            }
            config.log_statement("BEGIN");
            let tx = builder.start().await.map_err(classify)?;
            match f(&tx).await {
                Ok(value) => {
                    config.log_statement("COMMIT");
                    if let Err(e) = tx.commit().await {
                        commit_failed = true;
                        return Err(classify_commit(e));
                    }
                    Ok(value)
                }
                Err(e) => {
                    if !ends_session(&e) {
                        config.log_statement("ROLLBACK");
                        released = roll_back(tx).await;
                    }
                    Err(e)
                }
            }
        }
        .await;
        if commit_failed && !result.as_ref().is_err_and(ends_session) {
            config.log_statement(SELECT_ONE);
            released = settle(&conn).await;
        }
        if !released || result.as_ref().is_err_and(ends_session) {
            // The session is over before the client may have noticed, or it may still hold
            // the failed attempt's locks: never reuse it.
            conn.ended.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Opens one connection outside the pool (for LISTEN, or a session that must not be shared).
    /// It has the same settings as pooled connections.
    ///
    /// # Errors
    /// As [`Pool::connect`].
    pub(crate) async fn dedicated(&self) -> Result<Client> {
        if self.is_closed() {
            return Err(Error::closed().with_backend(BACKEND));
        }
        self.inner
            .pool
            .dedicated_connection()
            .await
            .map(Conn::into_client)
            .map_err(|e| classify_connect_error(e, &self.inner.config.url))
    }

    /// Opens one connection outside the pool and hands back its connection future too, so the
    /// caller can read asynchronous messages (NOTIFY) from it. The caller must poll the
    /// connection (for example with `tokio_postgres::Connection::poll_message`).
    ///
    /// # Errors
    /// As [`Pool::connect`].
    pub(crate) async fn connect_raw(&self) -> Result<(Client, RawConnection)> {
        if self.is_closed() {
            return Err(Error::closed().with_backend(BACKEND));
        }
        let config = &self.inner.config;
        bounded(
            config.connect_timeout,
            config.pg.connect(config.tls.connector()?),
        )
        .await
        .map_err(|e| classify_connect_error(e, &config.url))
    }

    /// The schema of the system tables (unquoted).
    pub(crate) fn schema(&self) -> &str {
        &self.inner.config.schema
    }

    /// How many connections the pool holds now, and how many of them are idle.
    pub(crate) fn state(&self) -> bb8::State {
        self.inner.pool.state()
    }

    /// The settings the pool was opened with.
    pub(crate) fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    /// Whether [`Pool::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Closes the pool: later checkouts fail with [`Closed`](ErrorKind::Closed), idle connections
    /// are closed now and checked-out ones when they are returned.
    pub(crate) async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Take every idle connection once: returned to a closed pool, it is dropped.
        let idle = self.inner.pool.state().idle_connections;
        let mut taken = Vec::new();
        for _ in 0..idle {
            match tokio::time::timeout(Duration::from_millis(50), self.inner.pool.get()).await {
                Ok(Ok(conn)) => taken.push(conn),
                _ => break,
            }
        }
        drop(taken);
    }
}

/// How long [`Pool::transaction`] waits for the `ROLLBACK` of a failed transaction, or for the
/// server's answer after a failed `COMMIT` ([`settle`]), before it discards the connection.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Rolls `tx` back and waits for the server's answer, at most [`ROLLBACK_TIMEOUT`]; whether the
/// server confirmed it (and so released the transaction's locks).
async fn roll_back(tx: Transaction<'_>) -> bool {
    matches!(
        tokio::time::timeout(ROLLBACK_TIMEOUT, tx.rollback()).await,
        Ok(Ok(()))
    )
}

/// Waits, at most [`ROLLBACK_TIMEOUT`], until the server has finished aborting a transaction
/// whose `COMMIT` failed (it answers the next statement only after that); whether it answered.
async fn settle(conn: &Conn) -> bool {
    matches!(
        tokio::time::timeout(ROLLBACK_TIMEOUT, conn.client.simple_query(SELECT_ONE)).await,
        Ok(Ok(_))
    )
}

/// The tokio-postgres isolation level of a DBOS isolation.
fn isolation_level(isolation: Isolation) -> IsolationLevel {
    match isolation {
        Isolation::Serializable => IsolationLevel::Serializable,
        Isolation::RepeatableRead => IsolationLevel::RepeatableRead,
        Isolation::ReadCommitted => IsolationLevel::ReadCommitted,
        _ => IsolationLevel::Serializable,
    }
}

/// `30`, `1`, `0.5`.
fn format_seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}", d.as_secs_f64())
    }
}

/// Creates the database of `config` when it does not exist, connecting to the maintenance
/// database `postgres` of the same server. A database created concurrently by another process
/// (`42P04`) counts as success. Does nothing when the database already exists, even if the user
/// may not connect to `postgres`.
///
/// # Errors
/// A classified connection error when neither the database nor the maintenance database can be
/// reached; [`Backend`](ErrorKind::Backend) when `CREATE DATABASE` is refused (for example for
/// lack of the CREATEDB privilege).
pub(crate) async fn ensure_database(config: &PostgresConfig) -> Result<()> {
    let name = config.database().to_owned();
    // Fast path: the database exists and accepts us.
    let tls = config.tls.connector()?;
    match bounded(config.connect_timeout, config.pg.connect(tls)).await {
        Ok((client, conn)) => {
            drop(client);
            let _ = conn.await;
            return Ok(());
        }
        Err(ConnectError::Pg(e)) if is_unknown_database(&e) => {}
        Err(e) => return Err(classify_connect_error(e, &config.url)),
    }
    let maintenance = config.for_database("postgres");
    let (client, conn) = bounded(
        maintenance.connect_timeout,
        maintenance.pg.connect(maintenance.tls.connector()?),
    )
    .await
    .map_err(|e| classify_connect_error(e, &maintenance.url))?;
    let task = tokio::spawn(conn);
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .map_err(classify)?
        .is_some();
    if !exists {
        let sql = format!(
            "CREATE DATABASE {}",
            dbos_storage_core::url::quote_identifier(&name)
        );
        config.log_statement(&sql);
        // A busy template goes to the retry policy; any other error goes back to the caller as
        // it is (the outer `Result` is the policy's, the inner one the statement's outcome).
        let created = template_wait()
            .run(false, || async {
                match client.batch_execute(&sql).await {
                    Ok(()) => Ok(Ok(true)),
                    Err(e) if is_created_concurrently(&e) => Ok(Ok(false)),
                    Err(e) if is_template_in_use(&e) => Err(lost_race(
                        classify(e),
                        "a concurrent CREATE DATABASE is copying the template database",
                    )),
                    Err(e) => Ok(Err(create_database_error(e, &name))),
                }
            })
            .await
            .and_then(|outcome| outcome)?;
        if created {
            tracing::info!(database = %name, "created the PostgreSQL database");
        }
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

/// How long `CREATE DATABASE` waits for a template database that a concurrent `CREATE
/// DATABASE` is copying: 100 ms between attempts, for about five seconds.
fn template_wait() -> RetryPolicy {
    let pause = Duration::from_millis(100);
    RetryPolicy::none()
        .conflict(Backoff::new(pause, pause, 1.0, 50))
        .max_elapsed(Duration::from_secs(10))
}

/// The error of a refused `CREATE DATABASE` of `name`: for lack of the CREATEDB privilege, a
/// configuration error saying what to do.
fn create_database_error(e: tokio_postgres::Error, name: &str) -> Error {
    if !is_insufficient_privilege(&e) {
        return classify_context(
            e,
            &format!("the database {name:?} does not exist and cannot be created"),
        );
    }
    let server = e
        .as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_default();
    Error::invalid_config(format!(
        "the database {name:?} does not exist and cannot be created ({server}): create it, or \
         let the user of the URL create databases (CREATEDB)"
    ))
    .with_backend(BACKEND)
    .with_code(sqlstate(&e).to_owned())
    .with_source(e)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use dbos_storage_core::{DatabaseUrl, DbosConfig};
    use dbos_storage_testkit::pg;

    use super::*;
    use crate::error::is_unique_violation_error;

    async fn pool(dbos: DbosConfig) -> Pool {
        let url = DatabaseUrl::parse(&pg::server().admin_url()).unwrap();
        Pool::connect(&PostgresConfig::system(&dbos, &url).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_full_pool_times_out_naming_the_settings() {
        let pool = pool(
            DbosConfig::new("pool-test")
                .with_pool_size(1)
                .with_pool_timeout(Duration::from_secs(1)),
        )
        .await;
        let held = pool.get().await.unwrap();
        let start = Instant::now();
        let err = pool.get().await.unwrap_err();
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert_eq!(err.kind(), ErrorKind::PoolExhausted);
        assert!(err.is_retryable());
        assert_eq!(
            err.message(),
            "connection pool limit of size 1 overflow 0 reached, timed out after 1 s; raise \
             pool_size / sys_db_pool_size or reduce concurrency"
        );
        drop(held);
        pool.get().await.expect("the connection is free again");
        pool.close().await;
        assert_eq!(pool.get().await.unwrap_err().kind(), ErrorKind::Closed);
        assert!(pool.is_closed());
    }

    async fn pool_with_window(window: Duration) -> Pool {
        let url = DatabaseUrl::parse(&pg::server().admin_url()).unwrap();
        let dbos = DbosConfig::new("pool-test").with_pool_size(1);
        let config = PostgresConfig::system(&dbos, &url)
            .unwrap()
            .with_pool_pre_ping_window(window);
        Pool::connect(&config).await.unwrap()
    }

    /// Checks a connection out, runs a statement on it and returns it.
    async fn use_once(pool: &Pool) {
        let conn = pool.get().await.unwrap();
        conn.simple_query("SELECT 1").await.unwrap();
    }

    /// The server process behind a pooled connection.
    async fn backend_pid(conn: &PooledClient<'_>) -> i32 {
        conn.query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
    }

    #[tokio::test]
    async fn the_most_recently_returned_connection_is_handed_out_first() {
        let pool = pool(DbosConfig::new("pool-test").with_pool_size(3)).await;
        let (a, b, c) = (
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
        );
        let (pid_a, pid_b, pid_c) = (
            backend_pid(&a).await,
            backend_pid(&b).await,
            backend_pid(&c).await,
        );
        assert!(pid_a != pid_b && pid_b != pid_c && pid_a != pid_c);
        // Returned in the order a, c, b: the last one back (b) comes out first, then c.
        drop(a);
        drop(c);
        drop(b);
        for _ in 0..5 {
            let again = pool.get().await.unwrap();
            assert_eq!(
                backend_pid(&again).await,
                pid_b,
                "one caller reuses one warm connection"
            );
        }
        let first = pool.get().await.unwrap();
        let second = pool.get().await.unwrap();
        assert_eq!(backend_pid(&first).await, pid_b);
        assert_eq!(backend_pid(&second).await, pid_c);
        drop((first, second));
        pool.close().await;
    }

    #[tokio::test]
    async fn the_pre_ping_is_skipped_only_within_the_window() {
        // Used again well within the window: no checkout pings.
        let pool = pool_with_window(Duration::from_secs(3600)).await;
        for _ in 0..5 {
            use_once(&pool).await;
        }
        assert_eq!(pool.pings(), 0);
        pool.close().await;

        // Idle longer than the window: pinged once.
        let window = Duration::from_millis(50);
        let pool = pool_with_window(window).await;
        tokio::time::sleep(window * 2).await;
        use_once(&pool).await;
        assert_eq!(pool.pings(), 1);
        pool.close().await;

        // Window zero: every checkout pings.
        let pool = pool_with_window(Duration::ZERO).await;
        for _ in 0..3 {
            use_once(&pool).await;
        }
        assert_eq!(pool.pings(), 3);
        pool.close().await;

        // Without pool_pre_ping nothing is pinged, whatever the window.
        let url = DatabaseUrl::parse(&pg::server().admin_url()).unwrap();
        let dbos = DbosConfig::new("pool-test")
            .with_pool_size(1)
            .with_pool_pre_ping(false);
        let config = PostgresConfig::system(&dbos, &url)
            .unwrap()
            .with_pool_pre_ping_window(Duration::ZERO);
        let pool = Pool::connect(&config).await.unwrap();
        use_once(&pool).await;
        assert_eq!(pool.pings(), 0);
        pool.close().await;
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fails_within_connect_timeout() {
        // A listener that accepts connections and never says anything.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let url = DatabaseUrl::parse(&format!("postgresql://u@127.0.0.1:{port}/db")).unwrap();
        let dbos = DbosConfig::new("pool-test").with_connect_timeout(Duration::from_secs(1));
        let config = PostgresConfig::system(&dbos, &url).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(30), Pool::connect(&config))
            .await
            .expect("the startup is bounded")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
        assert!(
            err.message()
                .contains("the connection did not complete within connect_timeout=1 s"),
            "{err}"
        );
        let err = tokio::time::timeout(Duration::from_secs(30), ensure_database(&config))
            .await
            .expect("the startup is bounded")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
        silent.abort();
    }

    #[tokio::test]
    async fn the_pool_size_is_the_role_size_plus_overflow() {
        let dbos = DbosConfig::new("pool-test")
            .with_pool_size(1)
            .with_max_overflow(1)
            .with_sys_db_pool_size(2)
            .with_pool_timeout(Duration::from_millis(300));
        let pool = pool(dbos).await;
        let a = pool.get().await.unwrap();
        let b = pool.get().await.unwrap();
        let c = pool.get().await.unwrap();
        let err = pool.get().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PoolExhausted);
        assert!(
            err.message().starts_with(
                "connection pool limit of size 2 overflow 1 reached, timed out after 0.3 s"
            ),
            "{err}"
        );
        drop((a, b, c));
        pool.close().await;
    }

    #[tokio::test]
    async fn transactions_commit_roll_back_and_take_their_options() {
        let pool = pool(DbosConfig::new("pool-test").with_pool_size(2)).await;
        let table = pg::server().unique_name("pool_tx");
        pool.transaction(TxOptions::default(), |tx| {
            let table = table.clone();
            Box::pin(async move {
                tx.batch_execute(&format!("CREATE TABLE public.{table} (a int)"))
                    .await
                    .map_err(classify)?;
                Ok(())
            })
        })
        .await
        .unwrap();
        // An error rolls back.
        let err = pool
            .transaction(TxOptions::default(), |tx| {
                let table = table.clone();
                Box::pin(async move {
                    tx.batch_execute(&format!("INSERT INTO public.{table} VALUES (1)"))
                        .await
                        .map_err(classify)?;
                    Err::<(), _>(Error::invalid_input("stop"))
                })
            })
            .await
            .unwrap_err();
        assert_eq!(err.message(), "stop");
        let (isolation, read_only, rows) = pool
            .transaction(
                TxOptions {
                    isolation: Some(Isolation::Serializable),
                    read_only: true,
                },
                |tx| {
                    let table = table.clone();
                    Box::pin(async move {
                        let iso: String = tx
                            .query_one("SHOW transaction_isolation", &[])
                            .await
                            .map_err(classify)?
                            .get(0);
                        let ro: String = tx
                            .query_one("SHOW transaction_read_only", &[])
                            .await
                            .map_err(classify)?
                            .get(0);
                        let n: i64 = tx
                            .query_one(&format!("SELECT count(*) FROM public.{table}"), &[])
                            .await
                            .map_err(classify)?
                            .get(0);
                        Ok((iso, ro, n))
                    })
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (isolation.as_str(), read_only.as_str(), rows),
            ("serializable", "on", 0)
        );
        // The default is the server's (read committed), and sessions carry the idle timeout.
        let (isolation, idle) = pool
            .transaction(TxOptions::default(), |tx| {
                Box::pin(async move {
                    let iso: String = tx
                        .query_one("SHOW transaction_isolation", &[])
                        .await
                        .map_err(classify)?
                        .get(0);
                    let idle: String = tx
                        .query_one("SHOW idle_in_transaction_session_timeout", &[])
                        .await
                        .map_err(classify)?
                        .get(0);
                    Ok((iso, idle))
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (isolation.as_str(), idle.as_str()),
            ("read committed", "1min")
        );
        pool.get()
            .await
            .unwrap()
            .batch_execute(&format!("DROP TABLE public.{table}"))
            .await
            .unwrap();
        pool.close().await;
    }

    /// A transaction that locks `table`'s row, then fails.
    async fn lock_then_fail(pool: &Pool, table: &str) -> Error {
        let table = table.to_owned();
        pool.transaction(TxOptions::default(), |tx| {
            Box::pin(async move {
                tx.batch_execute(&format!("SELECT a FROM public.{table} FOR UPDATE"))
                    .await
                    .map_err(classify)?;
                Err::<(), _>(Error::invalid_input("stop"))
            })
        })
        .await
        .unwrap_err()
    }

    /// A pool of `size`, a table of one row `a = 1` (column `a` as `column`) and a connection
    /// outside the pool that looks at it.
    struct LockFixture {
        pool: Pool,
        table: String,
        other: Client,
    }

    impl LockFixture {
        async fn new(prefix: &str, size: u32, column: &str) -> LockFixture {
            let pool = pool(DbosConfig::new("pool-test").with_pool_size(size)).await;
            let table = pg::server().unique_name(prefix);
            let other = pool.dedicated().await.unwrap();
            other
                .batch_execute(&format!(
                    "CREATE TABLE public.{table} (a {column}); INSERT INTO public.{table} VALUES (1)"
                ))
                .await
                .unwrap();
            LockFixture { pool, table, other }
        }

        /// Fails unless the row can be locked at once from outside the pool.
        async fn assert_row_free(&self, attempt: usize, what: &str) {
            let free = self
                .other
                .query(
                    &format!(
                        "SELECT a FROM public.{} WHERE a = 1 FOR UPDATE NOWAIT",
                        self.table
                    ),
                    &[],
                )
                .await;
            assert!(
                free.is_ok(),
                "attempt {attempt}: {what} still held the row: {free:?}"
            );
        }

        async fn drop_table(self) {
            self.other
                .batch_execute(&format!("DROP TABLE public.{}", self.table))
                .await
                .unwrap();
            self.pool.close().await;
        }
    }

    #[tokio::test]
    async fn a_failed_transaction_has_released_its_locks_when_it_returns() {
        let f = LockFixture::new("pool_rollback", 2, "int").await;
        // Dropping a tokio-postgres transaction only queues its ROLLBACK: another session
        // that looked right away could still find the row locked.
        for attempt in 0..200 {
            assert_eq!(lock_then_fail(&f.pool, &f.table).await.message(), "stop");
            f.assert_row_free(attempt, "the failed transaction").await;
        }
        // A rolled-back connection is healthy and goes back to the pool.
        assert_eq!(f.pool.inner.pool.state().connections, 1);
        f.drop_table().await;
    }

    #[tokio::test]
    async fn a_failed_commit_has_released_its_locks_when_it_returns() {
        // A deferred unique constraint fails at COMMIT, with the row lock taken before held
        // until the server has aborted the transaction, which it does after sending the error.
        let f =
            LockFixture::new("pool_commit", 2, "int UNIQUE DEFERRABLE INITIALLY DEFERRED").await;
        for attempt in 0..200 {
            let t = f.table.clone();
            let err = f
                .pool
                .transaction(TxOptions::default(), |tx| {
                    Box::pin(async move {
                        tx.batch_execute(&format!(
                            "SELECT a FROM public.{t} WHERE a = 1 FOR UPDATE;
                             INSERT INTO public.{t} VALUES (2), (2)"
                        ))
                        .await
                        .map_err(classify)?;
                        Ok(())
                    })
                })
                .await
                .unwrap_err();
            assert!(is_unique_violation_error(&err), "{err}");
            f.assert_row_free(attempt, "the transaction whose COMMIT failed")
                .await;
        }
        assert_eq!(f.pool.inner.pool.state().connections, 1);
        f.drop_table().await;
    }

    #[tokio::test]
    async fn a_connection_whose_rollback_does_not_finish_is_not_reused() {
        let server = pg::server();
        if server.is_external() {
            eprintln!("skipped: needs a local server process to pause");
            return;
        }
        let f = LockFixture::new("pool_stalled", 1, "int").await;
        let pid_of = |client: PooledClient<'static>| async move {
            let pid: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0);
            pid
        };
        let paused = pid_of(f.pool.get_owned().await.unwrap()).await;
        // The server process of the pool's one connection stops answering once the
        // transaction has locked the row: its ROLLBACK cannot finish.
        let t = f.table.clone();
        // Continued on every path out of here (a continue signal to a running process does
        // nothing).
        let resume = Resume(paused);
        let err = f
            .pool
            .transaction(TxOptions::default(), |tx| {
                Box::pin(async move {
                    tx.batch_execute(&format!("SELECT a FROM public.{t} FOR UPDATE"))
                        .await
                        .map_err(classify)?;
                    signal(paused, "STOP");
                    Err::<(), _>(Error::invalid_input("stop"))
                })
            })
            .await
            .unwrap_err();
        drop(resume);
        assert_eq!(err.message(), "stop");
        // The pool discarded that connection instead of handing it out with the lock held.
        let next = pid_of(f.pool.get_owned().await.unwrap()).await;
        assert_ne!(next, paused, "the stalled connection was reused");
        // Once the process runs again it rolls back and lets the row go.
        f.other
            .query(&format!("SELECT a FROM public.{} FOR UPDATE", f.table), &[])
            .await
            .unwrap();
        f.drop_table().await;
    }

    /// Lets a stopped server process run again when dropped, even when the test fails (a
    /// stopped backend would hold up every other test's `DROP DATABASE`).
    struct Resume(i32);

    impl Drop for Resume {
        fn drop(&mut self) {
            // No assertion: this may run while a failed test unwinds.
            let _ = std::process::Command::new("kill")
                .arg("-CONT")
                .arg(self.0.to_string())
                .status();
        }
    }

    /// Sends `SIG{name}` to process `pid` (a local server process).
    fn signal(pid: i32, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    #[tokio::test]
    async fn user_options_reach_the_server_and_win() {
        let pool = pool(
            DbosConfig::new("pool-test")
                .with_options("-c statement_timeout=4321 -c idle_in_transaction_session_timeout=7s")
                .with_application_name("pool_test_app"),
        )
        .await;
        let conn = pool.get().await.unwrap();
        let show = |name: &'static str| {
            let conn = &conn;
            async move {
                let v: String = conn
                    .query_one(&format!("SHOW {name}"), &[])
                    .await
                    .unwrap()
                    .get(0);
                v
            }
        };
        assert_eq!(show("statement_timeout").await, "4321ms");
        assert_eq!(show("idle_in_transaction_session_timeout").await, "7s");
        assert_eq!(show("application_name").await, "pool_test_app");
        drop(conn);
        pool.close().await;
    }

    #[tokio::test]
    async fn a_missing_database_is_created_and_a_racing_creator_is_fine() {
        let name = pg::server().unique_name("pool_ensure");
        let url = DatabaseUrl::parse(&pg::server().admin_url())
            .unwrap()
            .with_database(&name);
        let config = PostgresConfig::system(&DbosConfig::new("pool-test"), &url).unwrap();
        let results = futures::future::join_all((0..4).map(|_| ensure_database(&config))).await;
        for r in results {
            r.expect("every creator succeeds");
        }
        ensure_database(&config).await.unwrap();
        let pool = Pool::connect(&config).await.unwrap();
        pool.close().await;
        pg::server().drop_database(&name).await;
    }
}
