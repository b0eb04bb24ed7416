//! [`SqliteAppStore`]: the application database on SQLite.
//!
//! A transaction step runs the user's body and records its output in `transaction_outputs` (the
//! DBOS Python 2.x table) in the same SQLite
//! transaction as the body's writes. The public docs of [`SqliteAppStore`] describe the locking
//! and clean-up rules; the SQL is below as named constants.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::app::{column_names, migrations, unbound_parameter};
use dbos_storage_core::payload::validate_text;
use dbos_storage_core::{
    validate, AppStore, AppTransaction, EpochMs, Error, ErrorKind, Outcome, Params, Payload,
    RecordedTransaction, Result, Row, SqliteLocation, TransactionBody, TransactionCall,
    TransactionOutcome, Value,
};
use dbos_storage_driver_kit::app_transaction::attempt::{run_attempts, Attempt, SharedBody};
use dbos_storage_driver_kit::app_transaction::{outputs, refuse_transaction_control};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use tokio::sync::Mutex;

use crate::config::{SqliteConfig, Synchronous};
use crate::connection::open_connection;
use crate::error::{
    classify_app, extended_code, from_call, is_busy_code, is_unique_violation_on, with_backend,
    BACKEND,
};

// language=SQL
/// The DBOS Python 2.x table (SQLite column); `created_at` is now-ms.
const CREATE_TRANSACTION_OUTPUTS: &str = "\
CREATE TABLE IF NOT EXISTS transaction_outputs (
    workflow_uuid TEXT NOT NULL,
    function_id INTEGER NOT NULL,
    output TEXT,
    error TEXT,
    txn_id TEXT,
    txn_snapshot TEXT NOT NULL,
    executor_id TEXT,
    function_name TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS BIGINT)),
    PRIMARY KEY (workflow_uuid, function_id)
)";

// language=SQL
/// Whether an existing table already has `function_name` (tables from before it lack it).
const HAS_FUNCTION_NAME_COLUMN: &str = "\
SELECT count(*) FROM pragma_table_info('transaction_outputs') WHERE name = 'function_name'";

// language=SQL
/// Adds `function_name` to an old table, as DBOS did.
const ADD_FUNCTION_NAME_COLUMN: &str =
    "ALTER TABLE transaction_outputs ADD COLUMN function_name TEXT NOT NULL DEFAULT ''";

// language=SQL
/// The index GC uses to find old rows.
const CREATE_CREATED_AT_INDEX: &str = "\
CREATE INDEX IF NOT EXISTS transaction_outputs_created_at_index
    ON transaction_outputs (created_at)";

// language=SQL
/// The recorded row of one step.
const SELECT_RECORDED: &str = "\
SELECT function_name, output, error
FROM transaction_outputs
WHERE workflow_uuid = ?1 AND function_id = ?2";

// language=SQL
/// Records an output in the body's own transaction; a duplicate key means a rival recorded the
/// step first.
const INSERT_OUTPUT: &str = "\
INSERT INTO transaction_outputs
    (workflow_uuid, function_id, output, error, txn_id, txn_snapshot, executor_id, function_name)
VALUES (?1, ?2, ?3, NULL, '', '', NULL, ?4)";

// language=SQL
/// Records an error outcome in a transaction of its own, keeping a row recorded first.
const INSERT_ERROR: &str = "\
INSERT INTO transaction_outputs
    (workflow_uuid, function_id, output, error, txn_id, txn_snapshot, executor_id, function_name)
VALUES (?1, ?2, NULL, ?3, '', '', NULL, ?4)
ON CONFLICT (workflow_uuid, function_id) DO NOTHING";

// language=SQL
/// Deletes the recorded transactions of some workflows (`?1`, a JSON array of ids) at or after a
/// step (`?2`).
const DELETE_OUTPUTS: &str = "\
DELETE FROM transaction_outputs
WHERE workflow_uuid IN (SELECT value FROM json_each(?1)) AND function_id >= ?2
  AND (?3 IS NULL OR created_at < ?3)";

// language=SQL
/// Distinct workflow ids with rows created before `?1`, after `?2` (NULL = from the start), in id
/// order, at most `?3`.
const OUTPUT_WORKFLOWS: &str = "\
SELECT DISTINCT workflow_uuid FROM transaction_outputs
WHERE created_at < ?1 AND (?2 IS NULL OR workflow_uuid > ?2)
ORDER BY workflow_uuid
LIMIT ?3";

/// The most ids bound in one statement (as one JSON array), as the system store chunks them.
const ID_CHUNK: usize = 4096;

// language=SQL
/// Read-write transactions take the write lock up front.
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";
// language=SQL
/// Read-only transactions take no write lock.
const BEGIN_DEFERRED: &str = "BEGIN";
// language=SQL
/// Ends a transaction, keeping its writes.
const COMMIT: &str = "COMMIT";
// language=SQL
/// Ends a transaction, discarding its writes.
const ROLLBACK: &str = "ROLLBACK";
// language=SQL
/// Makes writes fail for the duration of a read-only transaction.
const QUERY_ONLY_ON: &str = "PRAGMA query_only = ON";
// language=SQL
/// Leaves read-only mode.
const QUERY_ONLY_OFF: &str = "PRAGMA query_only = OFF";

/// The `transaction_outputs` column a rival execution's row collides on.
const OUTPUTS_KEY_COLUMN: &str = "transaction_outputs.workflow_uuid";

/// The application database on SQLite: exactly-once transactions recorded in
/// `transaction_outputs`, and the user's own migrations with refinery.
///
/// A transaction step runs the body and inserts its output **in the same SQLite transaction** as
/// the body's writes, so a replay finds the row and returns it instead of running the body again.
///
/// # Concurrency
///
/// The store owns one writer connection; clones share it. A `tokio` mutex is held for each
/// transaction attempt, so the transactions of one store run one after another, as SQLite runs
/// writers anyway. Read-write transactions start with `BEGIN IMMEDIATE`: the write lock is taken
/// before the body runs, so another process holding the database makes `BEGIN` wait (up to the
/// busy timeout) and retry, without running the body in vain. Read-only transactions use
/// `BEGIN` with `PRAGMA query_only = ON`. A body must not call the same store: it would wait for
/// its own transaction.
///
/// # Interrupted callers
///
/// A body that panics, or a caller that drops the future, can leave the connection inside an open
/// transaction. Every operation first rolls back such a leftover transaction, so its writes are
/// never committed by the next caller.
///
/// # Example
///
/// ```
/// # use std::time::Duration;
/// # use dbos_storage_core::{AppStore, Outcome, Params, Payload, SqliteLocation};
/// # use dbos_storage_core::{TransactionBody, TransactionCall};
/// # use dbos_storage_sqlite::SqliteAppStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dbos_storage_core::Result<()> {
/// let store = SqliteAppStore::open(SqliteLocation::Memory, Duration::from_secs(5)).await?;
/// store.migrate().await?;
/// // The body may run more than once (after contention); only one run commits.
/// let greet: &mut TransactionBody<'_> = &mut |tx| {
///     Box::pin(async move {
///         tx.execute("CREATE TABLE IF NOT EXISTS greetings (text TEXT)", Params::new())
///             .await?;
///         tx.execute(
///             "INSERT INTO greetings (text) VALUES (:text)",
///             Params::new().bind("text", "hello"),
///         )
///         .await?;
///         Ok(Outcome::Output(Payload::new("\"hello\"", None)))
///     })
/// };
/// let call = TransactionCall::new("wf-1", 1, "greet");
/// let first = store.run_transaction(call.clone(), greet).await?;
/// assert!(!first.replayed);
/// // Running the same step again replays the recorded output without running the body.
/// let again = store.run_transaction(call, greet).await?;
/// assert!(again.replayed);
/// assert_eq!(again.outcome, first.outcome);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteAppStore {
    inner: Arc<Inner>,
}

struct Inner {
    location: SqliteLocation,
    busy_timeout: Duration,
    synchronous: Synchronous,
    writer: Mutex<Writer>,
}

/// The writer connection slot, guarded by the store's mutex.
struct Writer {
    conn: Option<tokio_rusqlite::Connection>,
    closed: bool,
}

impl fmt::Debug for SqliteAppStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteAppStore")
            .field("location", &self.inner.location)
            .field("busy_timeout", &self.inner.busy_timeout)
            .field("synchronous", &self.inner.synchronous)
            .finish_non_exhaustive()
    }
}

impl SqliteAppStore {
    /// Opens the application database at `location` with one writer connection (WAL,
    /// `synchronous=FULL`, `foreign_keys=ON`, `busy_timeout`).
    ///
    /// Call [`AppStore::migrate`] once before running transactions.
    ///
    /// # Errors
    /// As [`SqliteStore::open`](crate::SqliteStore::open): [`ErrorKind::InvalidConfig`] for a
    /// path that cannot hold a database, [`ErrorKind::Corrupt`] for a file that is not one,
    /// [`ErrorKind::ConnectionLost`] when the file cannot be opened for another reason; the
    /// classified SQLite error when the connection cannot be set up.
    pub async fn open(location: SqliteLocation, busy_timeout: Duration) -> Result<SqliteAppStore> {
        Self::open_config(&SqliteConfig::new(location).busy_timeout(busy_timeout)).await
    }

    /// Opens the application database of `config` (its location, `busy_timeout` and
    /// `synchronous`; `readers` does not apply: the store has one connection), as
    /// [`SqliteAppStore::open`].
    ///
    /// # Errors
    /// As [`SqliteAppStore::open`], and [`ErrorKind::InvalidConfig`] for invalid settings.
    pub async fn open_config(config: &SqliteConfig) -> Result<SqliteAppStore> {
        config.validate()?;
        let location = config.location.clone();
        let (busy_timeout, synchronous) = (config.busy_timeout, config.synchronous);
        let conn = open_connection(&location, busy_timeout, synchronous).await?;
        Ok(SqliteAppStore {
            inner: Arc::new(Inner {
                location,
                busy_timeout,
                synchronous,
                writer: Mutex::new(Writer {
                    conn: Some(conn),
                    closed: false,
                }),
            }),
        })
    }

    /// Where the database is.
    pub fn location(&self) -> &SqliteLocation {
        &self.inner.location
    }

    /// Runs `op` on the writer connection while holding the store's lock: the unit in which
    /// this store's transactions are serialized. Reopens a connection whose thread has stopped.
    async fn with_writer<R, F, Fut>(&self, op: F) -> Result<R>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        let mut writer = self.inner.writer.lock().await;
        if writer.closed {
            return Err(Error::closed().with_backend(BACKEND));
        }
        let conn = match &writer.conn {
            Some(conn) => Conn(conn.clone()),
            None => {
                let inner = &self.inner;
                let conn =
                    open_connection(&inner.location, inner.busy_timeout, inner.synchronous).await?;
                writer.conn = Some(conn.clone());
                Conn(conn)
            }
        };
        let result = op(conn.clone()).await;
        if let Err(error) = &result {
            if error.kind() == ErrorKind::Closed && conn.is_dead().await {
                tracing::warn!(%error, "the SQLite application connection stopped; reopening it");
                writer.conn = None;
            }
        }
        result
    }

    /// Records an error outcome in its own transaction and returns what is recorded.
    async fn record_error(&self, call: &TransactionCall, error: Payload) -> Result<Outcome> {
        let workflow_id = call.workflow_id.clone();
        let function_id = call.function_id;
        let function_name = call.function_name.clone();
        let text = error.text;
        let recorded = self
            .with_writer(|conn| async move {
                conn.run(move |c| {
                    in_write_transaction(c, |c| {
                        c.prepare_cached(INSERT_ERROR)
                            .and_then(|mut s| {
                                s.execute(params![workflow_id, function_id, text, function_name])
                            })
                            .map_err(classify_app)?;
                        read_recorded(c, &workflow_id, function_id)
                    })
                })
                .await
            })
            .await?;
        let recorded = recorded.ok_or_else(|| with_backend(outputs::vanished(call)))?;
        outputs::replayed_outcome(call, recorded).map_err(with_backend)
    }
}

/// One attempt of a transaction: check for a recorded row, run the body, record and commit.
async fn attempt_on(
    conn: Conn,
    call: &TransactionCall,
    body: &SharedBody<'_, '_>,
) -> Result<Attempt> {
    let read_only = call.read_only;
    let workflow_id = call.workflow_id.clone();
    let function_id = call.function_id;
    let recorded = conn
        .run(move |c| {
            begin(c, read_only)?;
            read_recorded(c, &workflow_id, function_id).inspect_err(|_| abort(c, read_only))
        })
        .await?;
    if let Some(recorded) = recorded {
        conn.run(move |c| {
            abort(c, read_only);
            Ok(())
        })
        .await?;
        return outputs::replayed_outcome(call, recorded)
            .map(Attempt::Replayed)
            .map_err(with_backend);
    }

    let mut tx = SqliteTransaction {
        conn: conn.clone(),
        read_only,
    };
    let ran = body.run(&mut tx).await;

    match ran {
        Err(error) => {
            conn.run(move |c| {
                abort(c, read_only);
                Ok(())
            })
            .await?;
            Err(error)
        }
        Ok(Outcome::Error(payload)) => {
            conn.run(move |c| {
                abort(c, read_only);
                Ok(())
            })
            .await?;
            if read_only {
                Ok(Attempt::Finished(Outcome::Error(payload)))
            } else {
                Ok(Attempt::RecordError(payload))
            }
        }
        Ok(Outcome::Void) => {
            conn.run(move |c| {
                abort(c, read_only);
                Ok(())
            })
            .await?;
            Err(with_backend(outputs::void_output(call)))
        }
        Ok(Outcome::Output(payload)) if read_only => {
            conn.run(move |c| commit(c, true)).await?;
            Ok(Attempt::Finished(Outcome::Output(payload)))
        }
        Ok(Outcome::Output(payload)) => {
            if let Err(e) = validate_text("transaction output", &payload.text) {
                conn.run(move |c| {
                    abort(c, false);
                    Ok(())
                })
                .await?;
                return Err(e);
            }
            let call = call.clone();
            let text = payload.text.clone();
            conn.run(move |c| {
                let inserted = ensure_open(c).and_then(|()| {
                    let mut stmt = c.prepare_cached(INSERT_OUTPUT).map_err(classify_app)?;
                    let row = params![call.workflow_id, function_id, text, call.function_name];
                    match stmt.execute(row) {
                        Ok(_) => Ok(()),
                        Err(e) if is_unique_violation_on(&e, OUTPUTS_KEY_COLUMN) => {
                            Err(with_backend(outputs::recorded_concurrently(&call)).with_source(e))
                        }
                        Err(e) => Err(classify_app(e)),
                    }
                });
                match inserted {
                    Ok(()) => commit(c, false),
                    Err(e) => {
                        abort(c, false);
                        Err(e)
                    }
                }
            })
            .await?;
            Ok(Attempt::Finished(Outcome::Output(payload)))
        }
    }
}

#[async_trait]
impl AppStore for SqliteAppStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    /// Creates `transaction_outputs` and `transaction_outputs_created_at_index` if missing, and
    /// adds `function_name` to a table created before it existed, all in one `BEGIN IMMEDIATE`
    /// transaction.
    async fn migrate(&self) -> Result<()> {
        self.with_writer(|conn| async move {
            conn.run(|c| {
                in_write_transaction(c, |c| {
                    c.execute_batch(CREATE_TRANSACTION_OUTPUTS)
                        .map_err(classify_app)?;
                    let has_function_name: i64 = c
                        .query_row(HAS_FUNCTION_NAME_COLUMN, [], |r| r.get(0))
                        .map_err(classify_app)?;
                    if has_function_name == 0 {
                        tracing::info!("adding function_name to transaction_outputs");
                        c.execute_batch(ADD_FUNCTION_NAME_COLUMN)
                            .map_err(classify_app)?;
                    }
                    c.execute_batch(CREATE_CREATED_AT_INDEX)
                        .map_err(classify_app)
                })
            })
            .await
        })
        .await
    }

    /// Applies the refinery migrations (`V{n}__{name}.sql`) found in `folder` on the writer
    /// connection, each in its own `BEGIN IMMEDIATE` transaction with its history row in
    /// `refinery_schema_history`, and returns the names applied now (`V1__create_accounts`).
    async fn run_migrations(&self, folder: &Path) -> Result<Vec<String>> {
        let folder = folder.to_path_buf();
        self.with_writer(|conn| async move {
            conn.run(move |c| {
                clear_abandoned(c);
                // refinery unwraps in places (a history row it cannot parse, a file name that
                // is not UTF-8); a panic must not kill the connection thread.
                std::panic::catch_unwind(AssertUnwindSafe(|| apply_migrations(c, &folder)))
                    .unwrap_or_else(|panic| {
                        c.set_transaction_behavior(TransactionBehavior::Deferred);
                        clear_abandoned(c);
                        Err(with_backend(migrations::panicked(&folder, panic.as_ref())))
                    })
            })
            .await
        })
        .await
    }

    /// Runs `body` as transaction `call.function_id` of `call.workflow_id`.
    ///
    /// SQLite transactions are always serializable, so `call.isolation` has no effect. A row
    /// recorded without a `function_name` (by a DBOS version before the column existed) matches
    /// any name. Retryable errors (contention) re-run the whole attempt with
    /// [`RetryPolicy::transactions`](dbos_storage_core::RetryPolicy::transactions); `attempts`
    /// counts the runs of `body`.
    async fn run_transaction(
        &self,
        call: TransactionCall,
        body: &mut TransactionBody<'_>,
    ) -> Result<TransactionOutcome> {
        call.validate()?;
        let body = SharedBody::new(body);
        run_attempts(
            &body,
            || self.with_writer(|conn| attempt_on(conn, &call, &body)),
            |error| self.record_error(&call, error),
        )
        .await
    }

    async fn recorded_transaction(
        &self,
        workflow_id: &str,
        function_id: i32,
    ) -> Result<Option<RecordedTransaction>> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        let workflow_id = workflow_id.to_owned();
        self.with_writer(|conn| async move {
            conn.run(move |c| {
                clear_abandoned(c);
                read_recorded(c, &workflow_id, function_id)
            })
            .await
        })
        .await
    }

    /// Deletes in one `BEGIN IMMEDIATE` transaction, the ids bound as JSON arrays of at most
    /// 4096.
    async fn delete_transaction_outputs(
        &self,
        workflow_ids: &[String],
        from_function_id: i32,
        created_before: Option<EpochMs>,
    ) -> Result<u64> {
        validate::workflow_ids(workflow_ids)?;
        if from_function_id < 0 {
            return Err(Error::invalid_input(format!(
                "recorded transactions are deleted from a step number of 0 or more, not \
                 {from_function_id}"
            ))
            .with_backend(BACKEND));
        }
        if workflow_ids.is_empty() {
            return Ok(0);
        }
        let chunks = workflow_ids
            .chunks(ID_CHUNK)
            .map(|chunk| {
                serde_json::to_string(chunk).map_err(|e| {
                    Error::invalid_input(format!("cannot encode workflow ids as JSON: {e}"))
                        .with_backend(BACKEND)
                })
            })
            .collect::<Result<Vec<String>>>()?;
        self.with_writer(|conn| async move {
            conn.run(move |c| {
                in_write_transaction(c, |c| {
                    let mut stmt = c.prepare_cached(DELETE_OUTPUTS).map_err(classify_app)?;
                    let mut deleted = 0u64;
                    for chunk in &chunks {
                        deleted += stmt
                            .execute(params![chunk, from_function_id, created_before])
                            .map_err(classify_app)? as u64;
                    }
                    Ok(deleted)
                })
            })
            .await
        })
        .await
    }

    async fn transaction_output_workflows(
        &self,
        created_before: dbos_storage_core::EpochMs,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        if let Some(after) = after {
            validate::workflow_id(after)?;
        }
        let after = after.map(str::to_owned);
        self.with_writer(|conn| async move {
            conn.run(move |c| {
                clear_abandoned(c);
                let mut stmt = c.prepare_cached(OUTPUT_WORKFLOWS).map_err(classify_app)?;
                let rows = stmt
                    .query_map(params![created_before, after, i64::from(limit)], |r| {
                        r.get::<_, String>(0)
                    })
                    .map_err(classify_app)?;
                rows.map(|r| r.map_err(classify_app)).collect()
            })
            .await
        })
        .await
    }

    /// Closes the writer connection. Later calls fail with [`ErrorKind::Closed`].
    async fn close(&self) -> Result<()> {
        let mut writer = self.inner.writer.lock().await;
        writer.closed = true;
        match writer.conn.take() {
            Some(conn) => conn.close().await.map_err(from_call),
            None => Ok(()),
        }
    }
}

/// The transaction handle [`SqliteAppStore`] passes to a transaction body, and the type
/// [`AppTransaction::as_any_mut`] returns on SQLite.
///
/// # Statements
///
/// - Parameters are named: `:name` (also `@name`, `$name`), bound with
///   [`Params::bind`]`("name", value)` (a leading `:` in the bound name is accepted). Every
///   parameter of a statement must be bound; bindings the statement does not use are ignored;
///   positional `?` parameters are refused with [`ErrorKind::InvalidInput`].
/// - [`Value::Bool`] is stored as 0/1, and SQLite returns it as [`Value::Int`]: read boolean
///   columns into integer fields. Rows come back as `Null`, `Int`, `Float`, `Text` or `Bytes`,
///   whatever the declared column type.
/// - One statement per call. `RETURNING` works with [`AppTransaction::query`] (and with
///   [`AppTransaction::execute`], which then counts the changed rows).
/// - Statements that begin or end a transaction (`BEGIN`, `COMMIT`, `END`, `ROLLBACK` but not
///   `ROLLBACK TO`; see [`refuse_transaction_control`]) are refused with
///   [`ErrorKind::InvalidInput`]: the store commits the body's writes together with the
///   recorded output. Use `SAVEPOINT` for nested work.
///
/// # The native connection
///
/// [`with_connection`](Self::with_connection) runs a closure on the native
/// [`rusqlite::Connection`] inside the open transaction:
///
/// ```
/// # use std::time::Duration;
/// # use dbos_storage_core::{AppStore, Outcome, Payload, SqliteLocation};
/// # use dbos_storage_core::{TransactionBody, TransactionCall};
/// # use dbos_storage_sqlite::{SqliteAppStore, SqliteTransaction};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dbos_storage_core::Result<()> {
/// # let store = SqliteAppStore::open(SqliteLocation::Memory, Duration::from_secs(5)).await?;
/// # store.migrate().await?;
/// let version: &mut TransactionBody<'_> = &mut |tx| {
///     Box::pin(async move {
///         let sqlite = tx
///             .as_any_mut()
///             .downcast_mut::<SqliteTransaction>()
///             .expect("a SQLite transaction");
///         let version: String = sqlite
///             .with_connection(|c| c.query_row("SELECT sqlite_version()", [], |r| r.get(0)))
///             .await?;
///         Ok(Outcome::Output(Payload::new(format!("{version:?}"), None)))
///     })
/// };
/// store
///     .run_transaction(TransactionCall::new("wf-2", 1, "version"), version)
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct SqliteTransaction {
    conn: Conn,
    read_only: bool,
}

impl fmt::Debug for SqliteTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteTransaction")
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl SqliteTransaction {
    /// Whether the transaction is read-only (`PRAGMA query_only` is on while it runs).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Runs `f` on the native connection, inside the open transaction, on the connection's own
    /// thread.
    ///
    /// `f` must not end the transaction (`COMMIT`, `ROLLBACK`): the store commits it together
    /// with the recorded output. A panic in `f` is resumed on the caller's task, and the
    /// connection stays usable.
    ///
    /// # Errors
    /// The classified error `f` returned; [`ErrorKind::Backend`] when the transaction is no
    /// longer open before or after `f` runs.
    pub async fn with_connection<F, R>(&mut self, f: F) -> Result<R>
    where
        F: FnOnce(&rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let ran = self
            .conn
            .run(move |c| {
                ensure_open(c)?;
                let ran = std::panic::catch_unwind(AssertUnwindSafe(|| f(c)));
                if let Ok(Ok(_)) = &ran {
                    ensure_still_open(c)?;
                }
                Ok(ran)
            })
            .await?;
        match ran {
            Ok(result) => result.map_err(classify_app),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[async_trait]
impl AppTransaction for SqliteTransaction {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn execute(&mut self, sql: &str, params: Params) -> Result<u64> {
        refuse_transaction_control(sql).map_err(with_backend)?;
        let sql = sql.to_owned();
        self.conn
            .run(move |c| {
                ensure_open(c)?;
                let changed = execute_statement(c, &sql, &params)?;
                ensure_still_open(c)?;
                Ok(changed)
            })
            .await
    }

    async fn query(&mut self, sql: &str, params: Params) -> Result<Vec<Row>> {
        refuse_transaction_control(sql).map_err(with_backend)?;
        let sql = sql.to_owned();
        self.conn
            .run(move |c| {
                ensure_open(c)?;
                let rows = query_statement(c, &sql, &params)?;
                ensure_still_open(c)?;
                Ok(rows)
            })
            .await
    }

    /// Returns this [`SqliteTransaction`].
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The writer connection handle, with calls that return store errors.
#[derive(Clone)]
struct Conn(tokio_rusqlite::Connection);

impl Conn {
    /// Runs `f` on the connection's thread.
    async fn run<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut rusqlite::Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.0.call(f).await.map_err(from_call)
    }

    /// Whether the connection's thread has stopped (a closure panicked on it).
    async fn is_dead(&self) -> bool {
        self.0.call_raw(|_| ()).await.is_err()
    }
}

// ---- On the connection thread ----------------------------------------------------------------

/// Rolls back a transaction that an interrupted caller (a panicked body, a dropped future) left
/// open, so that its writes are discarded rather than committed by the next caller.
fn clear_abandoned(c: &rusqlite::Connection) {
    if !c.is_autocommit() {
        tracing::warn!(
            "rolling back an application transaction left open by an interrupted caller"
        );
        if let Err(e) = c.execute_batch(ROLLBACK) {
            tracing::warn!(error = %e, "ROLLBACK of an abandoned transaction failed");
        }
    }
}

/// Starts a transaction: `BEGIN IMMEDIATE`, or `BEGIN` with `query_only` for read-only ones.
fn begin(c: &rusqlite::Connection, read_only: bool) -> Result<()> {
    clear_abandoned(c);
    // Set either way: a panicked read-only body may have left it on.
    c.execute_batch(if read_only {
        QUERY_ONLY_ON
    } else {
        QUERY_ONLY_OFF
    })
    .map_err(classify_app)?;
    c.execute_batch(if read_only {
        BEGIN_DEFERRED
    } else {
        BEGIN_IMMEDIATE
    })
    .map_err(|e| {
        let error = classify_app(e);
        reset_query_only(c, read_only);
        error
    })
}

/// Commits (rolling back if the commit fails) and leaves read-only mode.
fn commit(c: &rusqlite::Connection, read_only: bool) -> Result<()> {
    let result = ensure_open(c).and_then(|()| c.execute_batch(COMMIT).map_err(classify_app));
    if result.is_err() {
        abort(c, read_only);
    } else {
        reset_query_only(c, read_only);
    }
    result
}

/// Rolls back (logging, not returning, a failure) and leaves read-only mode.
fn abort(c: &rusqlite::Connection, read_only: bool) {
    if !c.is_autocommit() {
        if let Err(e) = c.execute_batch(ROLLBACK) {
            tracing::warn!(error = %e, "ROLLBACK of an application transaction failed");
        }
    }
    reset_query_only(c, read_only);
}

fn reset_query_only(c: &rusqlite::Connection, read_only: bool) {
    if read_only {
        if let Err(e) = c.execute_batch(QUERY_ONLY_OFF) {
            tracing::warn!(error = %e, "resetting PRAGMA query_only failed");
        }
    }
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction, committing on success.
fn in_write_transaction<T>(
    c: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    begin(c, false)?;
    match f(c) {
        Ok(value) => commit(c, false).map(|()| value),
        Err(e) => {
            abort(c, false);
            Err(e)
        }
    }
}

/// Fails when no transaction is open: SQLite rolled it back after an earlier error the body
/// ignored, or a statement ended it. Running on would write outside the transaction.
fn ensure_open(c: &rusqlite::Connection) -> Result<()> {
    if c.is_autocommit() {
        return Err(Error::new(
            ErrorKind::Backend,
            "the application transaction is no longer open: SQLite rolled it back after an \
             earlier error, or a statement ended it; return that error from the transaction body",
        )
        .with_backend(BACKEND));
    }
    Ok(())
}

/// Fails when a statement of the body ended the transaction itself.
fn ensure_still_open(c: &rusqlite::Connection) -> Result<()> {
    if c.is_autocommit() {
        return Err(Error::invalid_input(
            "a statement ended the application transaction; transaction bodies must not run \
             COMMIT, END or ROLLBACK (the store commits the writes together with the output)",
        )
        .with_backend(BACKEND));
    }
    Ok(())
}

/// Reads the recorded row of a step.
fn read_recorded(
    c: &rusqlite::Connection,
    workflow_id: &str,
    function_id: i32,
) -> Result<Option<RecordedTransaction>> {
    let row = c
        .prepare_cached(SELECT_RECORDED)
        .and_then(|mut stmt| {
            stmt.query_row(params![workflow_id, function_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .optional()
        })
        .map_err(|e| {
            if e.to_string().contains("no such table: transaction_outputs") {
                with_backend(outputs::missing_table("transaction_outputs")).with_source(e)
            } else {
                classify_app(e)
            }
        })?;
    Ok(row.map(|(function_name, output, error)| {
        outputs::recorded_transaction(function_name, output, error)
    }))
}

fn execute_statement(c: &rusqlite::Connection, sql: &str, params: &Params) -> Result<u64> {
    let mut stmt = c.prepare_cached(sql).map_err(classify_app)?;
    bind(&mut stmt, params)?;
    if stmt.column_count() == 0 {
        return stmt.raw_execute().map(|n| n as u64).map_err(classify_app);
    }
    // A statement that returns rows (`… RETURNING`, or a query): step it to the end.
    let writes = !stmt.readonly();
    let mut rows = stmt.raw_query();
    while rows.next().map_err(classify_app)?.is_some() {}
    Ok(if writes { c.changes() } else { 0 })
}

fn query_statement(c: &rusqlite::Connection, sql: &str, params: &Params) -> Result<Vec<Row>> {
    let mut stmt = c.prepare_cached(sql).map_err(classify_app)?;
    bind(&mut stmt, params)?;
    let columns = column_names(stmt.column_names().into_iter().map(str::to_owned));
    let width = columns.len();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(classify_app)? {
        let values = (0..width)
            .map(|i| from_sql(row.get_ref(i).map_err(classify_app)?, &columns[i]))
            .collect::<Result<Vec<_>>>()?;
        out.push(Row::new(columns.clone(), values));
    }
    Ok(out)
}

/// Binds `params` to the statement's `:name` (or `@name`, `$name`) parameters. Every parameter
/// of the statement must be bound; positional `?` parameters are refused. Parameters the
/// statement does not use are ignored.
fn bind(stmt: &mut rusqlite::Statement<'_>, params: &Params) -> Result<()> {
    for index in 1..=stmt.parameter_count() {
        let Some(name) = stmt.parameter_name(index).map(str::to_owned) else {
            return Err(Error::invalid_input(format!(
                "parameter {index} of the statement is positional (`?`); write named parameters \
                 (`:name`) and bind them with Params::bind"
            )));
        };
        if name.starts_with('?') {
            return Err(Error::invalid_input(format!(
                "parameter {name} of the statement is positional; write named parameters \
                 (`:name`) and bind them with Params::bind"
            )));
        }
        let bare = &name[1..];
        let value = params
            .bound(bare)
            .ok_or_else(|| unbound_parameter(&name, bare))?;
        stmt.raw_bind_parameter(index, to_sql(value))
            .map_err(classify_app)?;
    }
    Ok(())
}

fn to_sql(value: &Value) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(match value {
        Value::Null => ValueRef::Null,
        Value::Bool(b) => ValueRef::Integer(i64::from(*b)),
        Value::Int(i) => ValueRef::Integer(*i),
        Value::Float(f) => ValueRef::Real(*f),
        Value::Text(s) => ValueRef::Text(s.as_bytes()),
        Value::Bytes(b) => ValueRef::Blob(b),
    })
}

fn from_sql(value: ValueRef<'_>, column: &str) -> Result<Value> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(bytes) => Value::Text(String::from_utf8(bytes.to_vec()).map_err(|e| {
            Error::corrupt(format!(
                "column {column:?} holds text that is not UTF-8: {e}"
            ))
            .with_backend(BACKEND)
        })?),
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    })
}

// ---- Migrations ------------------------------------------------------------------------------

/// Loads and applies the folder's migrations on `c`.
fn apply_migrations(c: &mut rusqlite::Connection, folder: &Path) -> Result<Vec<String>> {
    migrations::check_folder(folder).map_err(with_backend)?;
    let loaded = refinery::load_sql_migrations(folder)
        .map_err(|e| with_backend(migrations::unloadable(folder, e)))?;
    let runner = refinery::Runner::new(&loaded);
    // refinery's rusqlite driver uses the connection's default behaviour; IMMEDIATE takes the
    // write lock up front instead of failing to upgrade a read lock.
    c.set_transaction_behavior(TransactionBehavior::Immediate);
    let result = runner.run(c);
    c.set_transaction_behavior(TransactionBehavior::Deferred);
    match result {
        Ok(report) => {
            let applied = report.applied_migrations().iter().map(ToString::to_string);
            Ok(migrations::applied(folder, applied.collect()))
        }
        Err(e) => Err(migration_error(c, &runner, &loaded, folder, e)),
    }
}

/// A store error for a failed refinery run, naming the migration that failed when it can.
fn migration_error(
    c: &mut rusqlite::Connection,
    runner: &refinery::Runner,
    loaded: &[refinery::Migration],
    folder: &Path,
    error: refinery::Error,
) -> Error {
    use refinery::error::Kind;
    match error.kind() {
        Kind::Connection(_, cause) => {
            // refinery applies migrations in version order and commits each with its history
            // row, so the failing one is the first that has no history row.
            let failing = if error.report().is_some() {
                runner.get_applied_migrations(c).ok().and_then(|applied| {
                    loaded
                        .iter()
                        .find(|m| !applied.iter().any(|a| a.version() == m.version()))
                        .map(ToString::to_string)
                })
            } else {
                None
            };
            let code = cause
                .downcast_ref::<rusqlite::Error>()
                .and_then(extended_code);
            let kind = if code.is_some_and(is_busy_code) {
                ErrorKind::Contention
            } else {
                ErrorKind::Backend
            };
            let built = with_backend(migrations::failed(kind, folder, failing.as_deref(), &error));
            let built = match code {
                Some(code) => built.with_code(code.to_string()),
                None => built,
            };
            built.with_source(error)
        }
        Kind::DivergentVersion(..) | Kind::MissingVersion(..) => {
            with_backend(migrations::diverged(folder, &error)).with_source(error)
        }
        _ => with_backend(migrations::refused(folder, &error)).with_source(error),
    }
}
