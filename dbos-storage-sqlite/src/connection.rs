//! Opening SQLite connections and running work on them.
//!
//! Each connection is an actor: one OS thread owns one SQLite connection and runs the work sent
//! to it, in order. A store has one *writer* ([`Writer`]: every write transaction is `BEGIN
//! IMMEDIATE`, so writers queue fairly on SQLite's write lock instead of failing to upgrade a
//! read lock, and concurrent writes are committed together, see [`crate::group_commit`]) and a few
//! *readers* ([`tokio_rusqlite::Connection`]s) used round-robin; in WAL mode readers never block
//! the writer and see the last committed state. A `:memory:` database is private to its
//! connection, so it gets a single connection for everything.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dbos_storage_core::{Error, ErrorKind, Result, SqliteLocation};
use rusqlite::{Transaction, TransactionBehavior};

use crate::config::{SqliteConfig, Synchronous};
use crate::error::{
    classify, from_call, is_busy, is_cantopen_error, set_thread_busy_timeout, BACKEND,
};
use crate::group_commit::Writer;
use crate::sql;

/// Prepared statements each connection keeps (rusqlite's `prepare_cached`): enough for every
/// statement of the hot paths and most others, so they are never re-prepared.
const STATEMENT_CACHE: usize = 256;

/// Opens a connection to `location` and configures it, in this order: `busy_timeout`,
/// `journal_mode=WAL` (skipped for `:memory:`), `synchronous` (FULL unless configured),
/// `foreign_keys=ON`.
///
/// # Errors
/// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) when the path cannot hold a
/// database (a missing directory, a parent that is not a directory, no permission to write) or
/// the file is read-only; [`Corrupt`](dbos_storage_core::ErrorKind::Corrupt) when the file is
/// not a SQLite database; [`ConnectionLost`](dbos_storage_core::ErrorKind::ConnectionLost) when
/// the file cannot be opened for another reason;
/// [`Contention`](dbos_storage_core::ErrorKind::Contention) when another process holds the file
/// locked for longer than `busy_timeout` while it switches to WAL. Every message names the
/// path.
pub(crate) async fn open_connection(
    location: &SqliteLocation,
    busy_timeout: Duration,
    synchronous: Synchronous,
) -> Result<tokio_rusqlite::Connection> {
    let (conn, memory) = match location {
        SqliteLocation::Memory => (tokio_rusqlite::Connection::open_in_memory().await, true),
        SqliteLocation::File(path) => (tokio_rusqlite::Connection::open(path).await, false),
    };
    let conn = conn.map_err(|e| open_error(location, classify(e)))?;
    conn.call(move |c| configure(c, busy_timeout, synchronous, memory))
        .await
        .map_err(|e| open_error(location, from_call(e)))?;
    Ok(conn)
}

/// Opens a connection of `config` on the calling thread (the writer's own, or the caller's of
/// [`SqliteConfig::native_connection`]), configured as [`open_connection`] configures its
/// connections, with the same errors.
pub(crate) fn open_writer(config: &SqliteConfig) -> Result<rusqlite::Connection> {
    let location = &config.location;
    let (conn, memory) = match location {
        SqliteLocation::Memory => (rusqlite::Connection::open_in_memory(), true),
        SqliteLocation::File(path) => (rusqlite::Connection::open(path), false),
    };
    let mut conn = conn.map_err(|e| open_error(location, classify(e)))?;
    configure(&mut conn, config.busy_timeout, config.synchronous, memory)
        .map_err(|e| open_error(location, e))?;
    Ok(conn)
}

/// Applies the pragmas on the connection's own thread.
fn configure(
    conn: &mut rusqlite::Connection,
    busy_timeout: Duration,
    synchronous: Synchronous,
    memory: bool,
) -> Result<()> {
    set_thread_busy_timeout(busy_timeout);
    conn.busy_timeout(busy_timeout).map_err(classify)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if !memory {
        enable_wal(conn, busy_timeout)?;
    }
    conn.execute_batch(synchronous.pragma()).map_err(classify)?;
    conn.execute_batch(sql::PRAGMA_FOREIGN_KEYS_ON)
        .map_err(classify)?;
    Ok(())
}

/// Switches to WAL. The switch needs an exclusive lock for a moment; when several connections
/// open a new file at once SQLite may report `SQLITE_BUSY` without calling the busy handler, so
/// this waits for the lock until `busy_timeout` has passed, as the busy handler waits for every
/// other statement. It runs on the connection's own thread while the connection opens, outside
/// any operation a retry policy could re-run.
fn enable_wal(conn: &rusqlite::Connection, busy_timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        match conn.query_row(sql::PRAGMA_JOURNAL_MODE_WAL, [], |r| r.get::<_, String>(0)) {
            Ok(mode) => {
                if !mode.eq_ignore_ascii_case("wal") {
                    tracing::warn!(
                        mode,
                        "SQLite refused write-ahead logging; readers will wait for the writer"
                    );
                }
                return Ok(());
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(classify(e)),
        }
    }
}

/// The error of opening (or configuring) a connection to `location`: `inner`, classified, with
/// the path in the message. A file that SQLite cannot open (`SQLITE_CANTOPEN`) is diagnosed
/// from the file system: a missing directory, a parent that is not a directory, a directory in
/// the file's place, or a path this process may not create or write are
/// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) saying what to fix; anything
/// else keeps the classified kind.
fn open_error(location: &SqliteLocation, inner: Error) -> Error {
    if inner.kind() == ErrorKind::Closed {
        return inner;
    }
    let (what, hint, kind) = match location {
        SqliteLocation::Memory => (
            "an in-memory SQLite database".to_owned(),
            None,
            inner.kind(),
        ),
        SqliteLocation::File(path) => {
            let what = format!("the SQLite database file {}", show(path));
            match is_cantopen_error(&inner).then(|| diagnose(path)).flatten() {
                Some(hint) => (what, Some(hint), ErrorKind::InvalidConfig),
                None => (what, None, inner.kind()),
            }
        }
    };
    let message = match hint {
        Some(hint) => format!("cannot open {what}: {hint}"),
        None => format!("cannot open {what}: {}", inner.message()),
    };
    let mut e = Error::new(kind, message).with_backend(BACKEND);
    if let Some(code) = inner.code() {
        e = e.with_code(code.to_owned());
    }
    e.with_source(inner)
}

/// Why `path` cannot be opened as a database file, when the file system says so.
fn diagnose(path: &Path) -> Option<String> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!(
                "its directory {} does not exist; create it, or fix the path in the URL",
                show(parent)
            ));
        }
        Ok(m) if !m.is_dir() => {
            return Some(format!(
                "{} is not a directory; fix the path in the URL",
                show(parent)
            ));
        }
        _ => {}
    }
    if path.is_dir() {
        return Some("it is a directory; name a file inside it in the URL".to_owned());
    }
    // Ask the OS for the reason SQLite saw: open (never create) the file, or create and remove
    // a probe beside it when the file does not exist.
    let probe = if path.exists() {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(drop)
    } else {
        let probe = parent.join(format!(".dbos-open-probe-{}", std::process::id()));
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe);
        if created.is_ok() {
            let _ = std::fs::remove_file(&probe);
        }
        created.map(drop)
    };
    match probe {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Some(format!(
                "this process may not write there ({e}); make the file and its directory \
                 writable, or choose another path"
            ))
        }
        _ => None,
    }
}

fn show(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// The connections of one store: a writer and round-robin readers.
pub(crate) struct Connections {
    writer: Writer,
    readers: Vec<tokio_rusqlite::Connection>,
    next_reader: AtomicUsize,
    closed: AtomicBool,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("readers", &self.readers.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connections {
    /// Opens the writer, then the readers (after the writer has switched the file to WAL).
    pub(crate) async fn open(config: &SqliteConfig) -> Result<Connections> {
        config.validate()?;
        let writer = {
            let config = config.clone();
            Writer::start(move || open_writer(&config)).await?
        };
        let mut readers = Vec::new();
        if !config.is_memory() {
            for _ in 0..config.readers {
                let reader =
                    open_connection(&config.location, config.busy_timeout, config.synchronous)
                        .await?;
                reader
                    .call(|c| c.execute_batch(sql::PRAGMA_QUERY_ONLY_ON))
                    .await
                    .map_err(from_call)?;
                readers.push(reader);
            }
        }
        Ok(Connections {
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// The writer, for tests that drive it directly.
    #[cfg(test)]
    pub(crate) fn writer_handle(&self) -> &Writer {
        &self.writer
    }

    /// How many reader connections serve reads (0 for `:memory:`, whose reads use the writer).
    pub(crate) fn readers(&self) -> usize {
        self.readers.len()
    }

    /// Whether [`Connections::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::closed().with_backend(BACKEND))
        } else {
            Ok(())
        }
    }

    fn map_call_error<E: crate::error::IntoStoreError>(
        &self,
        e: tokio_rusqlite::Error<E>,
    ) -> Error {
        if self.is_closed() {
            Error::closed().with_backend(BACKEND)
        } else {
            from_call(e)
        }
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer and returns once its writes
    /// are committed; an error rolls back everything `f` wrote. Concurrent writes share one
    /// transaction and one commit (group commit, see [`crate::group_commit`]), each in its own
    /// savepoint, so one write's failure never touches another's; the result arrives only after
    /// the commit, and when the commit fails every write of the transaction gets its error.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.check_open()?;
        self.writer.write(f).await.map_err(|e| self.closed_or(e))
    }

    /// `e`, or `Closed` when the store was closed meanwhile (as [`Connections::map_call_error`]).
    fn closed_or(&self, e: Error) -> Error {
        if self.is_closed() {
            Error::closed().with_backend(BACKEND)
        } else {
            e
        }
    }

    /// Runs `f` in one read transaction (a consistent snapshot) on the next reader, or on the
    /// writer when there are no readers.
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.check_open()?;
        if self.readers.is_empty() {
            return self
                .writer
                .call(move |conn| {
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Deferred)
                        .map_err(classify)?;
                    let value = f(&tx)?;
                    tx.finish().map_err(classify)?;
                    Ok(value)
                })
                .await
                .map_err(|e| self.closed_or(e));
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i]
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Deferred)
                    .map_err(classify)?;
                let value = f(&tx)?;
                tx.finish().map_err(classify)?;
                Ok::<R, Error>(value)
            })
            .await
            .map_err(|e| self.map_call_error(e))
    }

    /// Marks the connections closed, lets queued work finish, then closes every connection.
    /// Closing twice is not an error.
    pub(crate) async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut first_error = None;
        for conn in &self.readers {
            if let Err(e) = conn.clone().close().await {
                first_error.get_or_insert(from_call(e));
            }
        }
        if let Err(e) = self.writer.close().await {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(()), Err)
    }
}
